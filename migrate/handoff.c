/*
 * handoff.c -- the final sync's two state machines (see handoff.h and
 * migrate/README.md).
 *
 * DESIGN: the decisions of a hand-off used to be spread over the peer
 * and transfer code; here each side is one transition function over an
 * explicit state, so a reader can check the protocol in one place and a
 * test can drive every transition without sockets. Freshness comes from
 * two values: the migration id, issued by the source with the export that
 * travels in the domain XML and answered at most once, and the nonce the
 * destination draws for its request, which the source's answer seal must
 * cover. A captured request is refused as a replay, a captured answer
 * fails the seal, an answer for another VM or from an older state is
 * named as such.
 */
#include <string.h>

#include "crypto.h"
#include "handoff.h"

static const char *const handoff_reasons[] = {
	[HO_OK] = "ok",
	[HO_BAD_REQUEST] = "malformed final sync (uuid, nonce or migration "
	    "id length)",
	[HO_NOT_SIGNED] = "final sync not signed with the fleet key",
	[HO_NOT_ROOT] = "without a fleet key only root over a Unix socket "
	    "may ask for a final sync",
	[HO_NO_MIGRATION_ID] = "final sync names no migration id (a rasd "
	    "too old to speak this protocol?)",
	[HO_NOT_OFFERED] = "no hand-off of this VM is open here (it was "
	    "never exported for a migration)",
	[HO_WRONG_MIGRATION] = "not the migration id of this VM's open "
	    "hand-off",
	[HO_REPLAY] = "replayed final sync: this migration was answered "
	    "already",
	[HO_NOT_PAUSED] = "the VM is running here, not paused for a "
	    "migration (libvirt)",
	[HO_VMM_UNSYNCED] = "the VM's VMM may hold memory errors not "
	    "recorded here yet",
	[HO_NOT_ASKING] = "an answer that was not asked for",
	[HO_WRONG_VM] = "the answer is for another VM",
	[HO_BAD_SEAL] = "the answer is not sealed for this request (nonce, "
	    "migration id or VM differ, or a forged seal)",
	[HO_STALE_GENERATION] = "stale answer: its bundle is not the "
	    "source's current generation",
	[HO_OLDER] = "the answer is older than the imported state",
	[HO_BUSY] = "another VMM runs this VM here",
	[HO_REFUSED] = "the source refused",
	[HO_UNREACHABLE] = "no answer from the source",
	[HO_IMPORT] = "the answer could not be taken in",
	[HO_BAD_EVENT] = "event not valid in this state",
	[HO_BAD_STATE] = "the stored hand-off state is unusable (damaged "
	    "store)",
};

/* A short phrase for a reason. */
const char *
handoff_reason_str(enum handoff_reason r)
{
	if ((unsigned int)r >= sizeof handoff_reasons /
	    sizeof handoff_reasons[0] || handoff_reasons[r] == NULL)
		return "unknown reason";
	return handoff_reasons[r];
}

/* Append v as 8 bytes big-endian. */
static uint8_t *
handoff_put64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		*p++ = (uint8_t)(v >> (56 - 8 * i));
	return p;
}

/* The FinalSync MAC. */
void
handoff_request_mac(const uint8_t *key, size_t keylen, const uint8_t uuid[16],
    uint64_t have, const uint8_t nonce[HANDOFF_NONCE_LEN],
    const uint8_t mid[HANDOFF_ID_LEN], uint8_t out[HANDOFF_MAC_LEN])
{
	static const char tag[] = "rasd-final-sync-2";
	uint8_t msg[sizeof tag - 1 + 16 + 8 + HANDOFF_NONCE_LEN +
	    HANDOFF_ID_LEN], *p = msg;

	memcpy(p, tag, sizeof tag - 1);
	p += sizeof tag - 1;
	memcpy(p, uuid, 16);
	p = handoff_put64(p + 16, have);
	memcpy(p, nonce, HANDOFF_NONCE_LEN);
	memcpy(p + HANDOFF_NONCE_LEN, mid, HANDOFF_ID_LEN);
	hmac_sha256(key, keylen, msg, sizeof msg, out);
}

/* The answer seal. */
void
handoff_answer_seal(const uint8_t *key, size_t keylen, const uint8_t uuid[16],
    const uint8_t mid[HANDOFF_ID_LEN], const uint8_t nonce[HANDOFF_NONCE_LEN],
    uint64_t generation, const uint8_t *sealed, size_t sealed_len,
    uint8_t out[HANDOFF_MAC_LEN])
{
	static const char tag[] = "rasd-final-answer-1";
	uint8_t msg[sizeof tag - 1 + 16 + HANDOFF_ID_LEN + HANDOFF_NONCE_LEN +
	    8 + SHA256_LEN], *p = msg;

	memcpy(p, tag, sizeof tag - 1);
	p += sizeof tag - 1;
	memcpy(p, uuid, 16);
	memcpy(p + 16, mid, HANDOFF_ID_LEN);
	memcpy(p + 16 + HANDOFF_ID_LEN, nonce, HANDOFF_NONCE_LEN);
	p = handoff_put64(p + 16 + HANDOFF_ID_LEN + HANDOFF_NONCE_LEN,
	    generation);
	sha256(sealed, sealed_len, p);
	if (keylen > 0)
		hmac_sha256(key, keylen, msg, sizeof msg, out);
	else
		sha256(msg, sizeof msg, out);
}

/* Start a source's machine. */
void
handoff_src_init(struct handoff_src *s)
{
	memset(s, 0, sizeof *s);
	s->state = HS_IDLE;
}

/* The id an export carries. */
const uint8_t *
handoff_src_mid(const struct handoff_src *s)
{
	return s->mid;
}

/* Whether mid was answered before. */
static int
handoff_src_answered(const struct handoff_src *s, const uint8_t *mid)
{
	size_t i;

	for (i = 0; i < s->nanswered; i++)
		if (memcmp(s->answered[i], mid, HANDOFF_ID_LEN) == 0)
			return 1;
	return 0;
}

/* Check a FinalSync; HO_OK if it may be answered. */
static enum handoff_reason
handoff_src_check(const struct handoff_src *s,
    const struct handoff_src_input *in)
{
	const struct handoff_request *rq = in->req;
	uint8_t mac[HANDOFF_MAC_LEN];

	if (rq == NULL || rq->uuid_len != 16 ||
	    rq->nonce_len != HANDOFF_NONCE_LEN ||
	    (rq->mid != NULL && rq->mid_len != HANDOFF_ID_LEN))
		return HO_BAD_REQUEST;
	if (rq->mid == NULL)
		return HO_NO_MIGRATION_ID;
	if (in->keylen > 0) {
		if (rq->mac == NULL || rq->mac_len != HANDOFF_MAC_LEN)
			return HO_NOT_SIGNED;
		handoff_request_mac(in->key, in->keylen, rq->uuid, rq->have,
		    rq->nonce, rq->mid, mac);
		if (!sha256_equal(mac, rq->mac))
			return HO_NOT_SIGNED;
	} else if (!in->root_unix && !in->tls_peer)
		return HO_NOT_ROOT;
	if (handoff_src_answered(s, rq->mid))
		return HO_REPLAY;
	if (s->state == HS_IDLE)
		return HO_NOT_OFFERED;
	if (s->state == HS_ANSWERED ||
	    memcmp(s->mid, rq->mid, HANDOFF_ID_LEN) != 0)
		return HO_WRONG_MIGRATION;
	/* The source pauses the guest before the switchover. */
	if (in->paused == 0)
		return HO_NOT_PAUSED;
	/*
	 * Everything the source VMM has seen must be durable here before
	 * the answer: refused (the destination asks again) while it is not.
	 */
	if (in->vmm_unsynced)
		return HO_VMM_UNSYNCED;
	return HO_OK;
}

/* Remember an answered id (a ring: the oldest goes first). */
static void
handoff_src_record(struct handoff_src *s)
{
	memcpy(s->answered[s->next], s->mid, HANDOFF_ID_LEN);
	s->next = (s->next + 1) % HANDOFF_REPLAY_MAX;
	if (s->nanswered < HANDOFF_REPLAY_MAX)
		s->nanswered++;
}

/* The source's transition function. */
enum handoff_reason
handoff_src_step(struct handoff_src *s, enum handoff_src_event ev,
    const struct handoff_src_input *in)
{
	enum handoff_reason r;

	switch (ev) {
	case HSE_EXPORT:
		if (s->state == HS_IDLE) {
			if (in == NULL || in->fresh == NULL)
				return HO_BAD_EVENT;
			memcpy(s->mid, in->fresh, HANDOFF_ID_LEN);
			s->state = HS_OFFERED;
		}
		return HO_OK;
	case HSE_FINAL_SYNC:
		if (in == NULL)
			return HO_BAD_EVENT;
		if ((r = handoff_src_check(s, in)) != HO_OK)
			return r;
		handoff_src_record(s);
		s->state = HS_ANSWERED;
		return HO_OK;
	case HSE_RESUMED:
		if (s->state == HS_ANSWERED)
			s->state = HS_IDLE;
		return HO_OK;
	}
	return HO_BAD_EVENT;
}

/* Start a destination's machine. */
void
handoff_dst_init(struct handoff_dst *d, const uint8_t uuid[16],
    const uint8_t *mid, uint64_t have)
{
	memset(d, 0, sizeof *d);
	d->state = HD_IMPORTED;
	memcpy(d->uuid, uuid, 16);
	if (mid != NULL) {
		memcpy(d->mid, mid, HANDOFF_ID_LEN);
		d->has_mid = 1;
	}
	d->have = have;
}

/* Check an answer against the question; HO_OK if it is the one. */
static enum handoff_reason
handoff_dst_check(const struct handoff_dst *d,
    const struct handoff_dst_input *in)
{
	const struct handoff_answer *a = in->answer;
	uint8_t seal[HANDOFF_MAC_LEN];

	if (a == NULL || a->bundle_uuid == NULL)
		return HO_BAD_EVENT;
	if (memcmp(a->bundle_uuid, d->uuid, 16) != 0)
		return HO_WRONG_VM;
	if (a->seal == NULL || a->seal_len != HANDOFF_MAC_LEN)
		return HO_BAD_SEAL;
	handoff_answer_seal(in->key, in->keylen, d->uuid, d->mid, d->nonce,
	    a->generation, a->sealed, a->sealed_len, seal);
	if (!sha256_equal(seal, a->seal))
		return HO_BAD_SEAL;
	if (a->bundle_generation != a->generation)
		return HO_STALE_GENERATION;
	if (a->generation < d->have)
		return HO_OLDER;
	return HO_OK;
}

/* Fail with a reason. */
static enum handoff_reason
handoff_dst_fail(struct handoff_dst *d, enum handoff_reason why)
{
	d->state = HD_FAILED;
	d->why = why;
	return why;
}

/* The destination's transition function. */
enum handoff_reason
handoff_dst_step(struct handoff_dst *d, enum handoff_dst_event ev,
    const struct handoff_dst_input *in)
{
	enum handoff_reason r;

	if (d->state == HD_FAILED || d->state == HD_DONE)
		return d->state == HD_FAILED ? d->why : HO_BAD_EVENT;
	switch (ev) {
	case HDE_ASK:
		if (d->state != HD_IMPORTED || in == NULL || in->fresh == NULL)
			return handoff_dst_fail(d, HO_BAD_EVENT);
		if (!d->has_mid)
			return handoff_dst_fail(d, HO_NO_MIGRATION_ID);
		memcpy(d->nonce, in->fresh, HANDOFF_NONCE_LEN);
		d->state = HD_ASKING;
		return HO_OK;
	case HDE_ANSWER:
		if (d->state != HD_ASKING)
			return handoff_dst_fail(d, HO_NOT_ASKING);
		if (in == NULL)
			return handoff_dst_fail(d, HO_BAD_EVENT);
		if ((r = handoff_dst_check(d, in)) != HO_OK)
			return handoff_dst_fail(d, r);
		d->generation = in->answer->generation;
		d->state = HD_VERIFIED;
		return HO_OK;
	case HDE_IMPORTED:
		if (d->state != HD_VERIFIED)
			return handoff_dst_fail(d, HO_BAD_EVENT);
		d->state = HD_DONE;
		return HO_OK;
	case HDE_FAIL:
		return handoff_dst_fail(d, in != NULL && in->why != HO_OK ?
		    in->why : HO_UNREACHABLE);
	}
	return handoff_dst_fail(d, HO_BAD_EVENT);
}

static const char *const handoff_dst_states[] = {
	[HD_IMPORTED] = "imported",
	[HD_ASKING] = "asking",
	[HD_VERIFIED] = "verified",
	[HD_DONE] = "done",
	[HD_FAILED] = "failed",
};

/* The name of a destination state. */
const char *
handoff_dst_state_str(int st)
{
	if (st < HD_IMPORTED || st > HD_FAILED)
		return "unknown";
	return handoff_dst_states[st];
}

/* Rebuild a destination's machine after a restart. */
enum handoff_dst_state
handoff_dst_restore(struct handoff_dst *d, const uint8_t uuid[16],
    const uint8_t *mid, uint64_t have, int saved)
{
	handoff_dst_init(d, uuid, mid, have);
	switch (saved) {
	case HD_IMPORTED:
	case HD_ASKING:
	case HD_VERIFIED:
	case HD_FAILED:
		break;		/* ask again, with a fresh nonce */
	case HD_DONE:
		d->state = HD_DONE;
		break;
	default:
		handoff_dst_fail(d, HO_BAD_STATE);
		break;
	}
	return d->state;
}
