/*
 * test_handoff.c -- unit tests for the final sync's state machines
 * (migrate/handoff.c): every transition of both sides, every refusal by
 * its reason, and the seals against a second computation through
 * lib/crypto.c.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "crypto.h"
#include "handoff.h"

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t UUID_A[16] = { 0xa1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
	12, 13, 14, 15, 16 };
static const uint8_t UUID_B[16] = { 0xb1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
	12, 13, 14, 15, 16 };
static const uint8_t MID1[16] = "migration-id-001";
static const uint8_t MID2[16] = "migration-id-002";
static const uint8_t NONCE[16] = "nonce-0123456789";
static const uint8_t NONCE2[16] = "nonce-9876543210";

/* A source that exported once (MID1 open). */
static void
src_offered(struct handoff_src *s)
{
	struct handoff_src_input in = { .fresh = MID1 };

	handoff_src_init(s);
	cr_assert_eq(s->state, HS_IDLE);
	cr_assert_eq(handoff_src_step(s, HSE_EXPORT, &in), HO_OK);
	cr_assert_eq(s->state, HS_OFFERED);
}

/* A signed request for uuid/mid with NONCE. */
static void
request(struct handoff_request *rq, uint8_t mac[32], const uint8_t *uuid,
    const uint8_t *mid, uint64_t have)
{
	memset(rq, 0, sizeof *rq);
	rq->uuid = uuid;
	rq->uuid_len = 16;
	rq->have = have;
	rq->nonce = NONCE;
	rq->nonce_len = 16;
	rq->mid = mid;
	rq->mid_len = 16;
	handoff_request_mac(KEY, sizeof KEY, uuid, have, NONCE, mid, mac);
	rq->mac = mac;
	rq->mac_len = 32;
}

/* Ask a source; its reason. */
static enum handoff_reason
ask(struct handoff_src *s, const struct handoff_request *rq, int paused)
{
	struct handoff_src_input in = { .key = KEY, .keylen = sizeof KEY,
		.req = rq, .paused = paused };

	return handoff_src_step(s, HSE_FINAL_SYNC, &in);
}

Test(handoff_src, export_issues_one_id_and_keeps_it)
{
	struct handoff_src s;
	struct handoff_src_input in = { .fresh = MID2 };

	src_offered(&s);
	cr_assert_eq(handoff_src_step(&s, HSE_EXPORT, &in), HO_OK);
	cr_assert(memcmp(handoff_src_mid(&s), MID1, 16) == 0,
	    "a second export keeps the open id");
	handoff_src_init(&s);
	cr_assert_eq(handoff_src_step(&s, HSE_EXPORT, NULL), HO_BAD_EVENT,
	    "no fresh bytes, no id");
	cr_assert_eq(s.state, HS_IDLE);
}

Test(handoff_src, answers_once_then_replay)
{
	struct handoff_src s;
	struct handoff_request rq;
	struct handoff_src_input in = { .fresh = MID2 };
	uint8_t mac[32];

	src_offered(&s);
	request(&rq, mac, UUID_A, MID1, 3);
	cr_assert_eq(ask(&s, &rq, 1), HO_OK);
	cr_assert_eq(s.state, HS_ANSWERED);
	cr_assert_eq(ask(&s, &rq, 1), HO_REPLAY);
	/* An export after the answer still carries the answered id. */
	cr_assert_eq(handoff_src_step(&s, HSE_EXPORT, &in), HO_OK);
	cr_assert(memcmp(handoff_src_mid(&s), MID1, 16) == 0);
	/* Resumed here: a new id; the old one is still a replay. */
	cr_assert_eq(handoff_src_step(&s, HSE_RESUMED, NULL), HO_OK);
	cr_assert_eq(s.state, HS_IDLE);
	cr_assert_eq(ask(&s, &rq, 1), HO_REPLAY);
	cr_assert_eq(handoff_src_step(&s, HSE_EXPORT, &in), HO_OK);
	cr_assert(memcmp(handoff_src_mid(&s), MID2, 16) == 0);
	cr_assert_eq(ask(&s, &rq, 1), HO_REPLAY);
	request(&rq, mac, UUID_A, MID2, 3);
	cr_assert_eq(ask(&s, &rq, -1), HO_OK, "libvirt state unknown: "
	    "bound to the id alone");
}

/*
 * A source answers only when its VMM holds nothing unrecorded (vmm.c,
 * vmm_sync_check): refused meanwhile, state unchanged, and answered once
 * the VMM has caught up; the check comes after the signature.
 */
Test(handoff_src, waits_for_its_vmm)
{
	struct handoff_src s;
	struct handoff_request rq;
	struct handoff_src_input in;
	uint8_t mac[HANDOFF_MAC_LEN];

	src_offered(&s);
	request(&rq, mac, UUID_A, MID1, 3);
	memset(&in, 0, sizeof in);
	in.key = KEY;
	in.keylen = sizeof KEY;
	in.req = &rq;
	in.paused = 1;
	in.vmm_unsynced = 1;
	cr_assert_eq(handoff_src_step(&s, HSE_FINAL_SYNC, &in),
	    HO_VMM_UNSYNCED);
	cr_assert_eq(s.state, HS_OFFERED, "a refusal changes nothing");
	mac[0] ^= 1;
	cr_assert_eq(handoff_src_step(&s, HSE_FINAL_SYNC, &in), HO_NOT_SIGNED,
	    "an unsigned asker learns nothing of the VMM");
	mac[0] ^= 1;
	in.vmm_unsynced = 0;
	cr_assert_eq(handoff_src_step(&s, HSE_FINAL_SYNC, &in), HO_OK,
	    "answered once the VMM caught up");
	cr_assert_eq(s.state, HS_ANSWERED);
}

Test(handoff_src, replay_record_is_a_bounded_ring)
{
	struct handoff_src s;
	struct handoff_request rq;
	struct handoff_src_input in;
	uint8_t mid[16], first[16], mac[32];
	int i;

	handoff_src_init(&s);
	for (i = 0; i < HANDOFF_REPLAY_MAX + 1; i++) {
		memset(mid, 'a' + i, sizeof mid);
		if (i == 0)
			memcpy(first, mid, sizeof first);
		memset(&in, 0, sizeof in);
		in.fresh = mid;
		handoff_src_step(&s, HSE_EXPORT, &in);
		request(&rq, mac, UUID_A, mid, 1);
		cr_assert_eq(ask(&s, &rq, 1), HO_OK);
		handoff_src_step(&s, HSE_RESUMED, NULL);
	}
	cr_assert_eq(s.nanswered, HANDOFF_REPLAY_MAX);
	/* The oldest fell out of the record: still refused, as unknown. */
	request(&rq, mac, UUID_A, first, 1);
	cr_assert_eq(ask(&s, &rq, 1), HO_NOT_OFFERED);
}

Test(handoff_src, refusals_by_reason)
{
	struct handoff_src s, idle;
	struct handoff_request rq;
	struct handoff_src_input in;
	uint8_t mac[32];

	src_offered(&s);
	handoff_src_init(&idle);
	request(&rq, mac, UUID_A, MID1, 3);
	cr_assert_eq(ask(&idle, &rq, 1), HO_NOT_OFFERED);
	cr_assert_eq(ask(&s, &rq, 0), HO_NOT_PAUSED);
	cr_assert_eq(s.state, HS_OFFERED, "a refusal changes nothing");

	request(&rq, mac, UUID_A, MID2, 3);
	cr_assert_eq(ask(&s, &rq, 1), HO_WRONG_MIGRATION);

	request(&rq, mac, UUID_A, MID1, 3);
	mac[5] ^= 1;
	cr_assert_eq(ask(&s, &rq, 1), HO_NOT_SIGNED);
	mac[5] ^= 1;
	rq.have = 4;		/* signed over another generation */
	cr_assert_eq(ask(&s, &rq, 1), HO_NOT_SIGNED);
	rq.have = 3;
	rq.mac = NULL;
	cr_assert_eq(ask(&s, &rq, 1), HO_NOT_SIGNED);

	request(&rq, mac, UUID_A, MID1, 3);
	rq.nonce_len = 8;
	cr_assert_eq(ask(&s, &rq, 1), HO_BAD_REQUEST);
	request(&rq, mac, UUID_A, MID1, 3);
	rq.uuid_len = 15;
	cr_assert_eq(ask(&s, &rq, 1), HO_BAD_REQUEST);
	request(&rq, mac, UUID_A, MID1, 3);
	rq.mid = NULL;
	cr_assert_eq(ask(&s, &rq, 1), HO_NO_MIGRATION_ID);

	/* Without a fleet key: only root over a Unix socket. */
	request(&rq, mac, UUID_A, MID1, 3);
	memset(&in, 0, sizeof in);
	in.req = &rq;
	in.paused = 1;
	cr_assert_eq(handoff_src_step(&s, HSE_FINAL_SYNC, &in), HO_NOT_ROOT);
	in.root_unix = 1;
	cr_assert_eq(handoff_src_step(&s, HSE_FINAL_SYNC, &in), HO_OK);
	cr_assert_eq(s.state, HS_ANSWERED);
}

/* A destination that asked with NONCE for UUID_A / MID1, having gen 3. */
static void
dst_asking(struct handoff_dst *d)
{
	struct handoff_dst_input in = { .fresh = NONCE };

	handoff_dst_init(d, UUID_A, MID1, 3);
	cr_assert_eq(d->state, HD_IMPORTED);
	cr_assert_eq(handoff_dst_step(d, HDE_ASK, &in), HO_OK);
	cr_assert_eq(d->state, HD_ASKING);
	cr_assert(memcmp(d->nonce, NONCE, 16) == 0);
}

/* Feed an answer; its reason. */
static enum handoff_reason
answer(struct handoff_dst *d, const uint8_t *seal_uuid,
    const uint8_t *seal_mid, const uint8_t *seal_nonce, uint64_t gen,
    const uint8_t *bundle_uuid, uint64_t bundle_gen)
{
	static const uint8_t sealed[] = "a sealed bundle's bytes";
	struct handoff_answer a;
	struct handoff_dst_input in;
	uint8_t seal[32];

	handoff_answer_seal(KEY, sizeof KEY, seal_uuid, seal_mid, seal_nonce,
	    gen, sealed, sizeof sealed, seal);
	memset(&a, 0, sizeof a);
	a.generation = gen;
	a.seal = seal;
	a.seal_len = sizeof seal;
	a.sealed = sealed;
	a.sealed_len = sizeof sealed;
	a.bundle_uuid = bundle_uuid;
	a.bundle_generation = bundle_gen;
	memset(&in, 0, sizeof in);
	in.key = KEY;
	in.keylen = sizeof KEY;
	in.answer = &a;
	return handoff_dst_step(d, HDE_ANSWER, &in);
}

Test(handoff_dst, the_right_answer_is_taken)
{
	struct handoff_dst d;

	dst_asking(&d);
	cr_assert_eq(answer(&d, UUID_A, MID1, NONCE, 5, UUID_A, 5), HO_OK);
	cr_assert_eq(d.state, HD_VERIFIED);
	cr_assert_eq(d.generation, 5);
	cr_assert_eq(handoff_dst_step(&d, HDE_IMPORTED, NULL), HO_OK);
	cr_assert_eq(d.state, HD_DONE);
	cr_assert_eq(handoff_dst_step(&d, HDE_IMPORTED, NULL), HO_BAD_EVENT);
	/* The same generation as imported is fine when it is current. */
	dst_asking(&d);
	cr_assert_eq(answer(&d, UUID_A, MID1, NONCE, 3, UUID_A, 3), HO_OK);
}

Test(handoff_dst, refusals_by_reason)
{
	static const struct {
		const uint8_t *su, *sm, *sn;
		uint64_t gen;
		const uint8_t *bu;
		uint64_t bgen;
		enum handoff_reason want;
	} c[] = {
		/* another VM's answer, sealed for it */
		{ UUID_B, MID1, NONCE, 5, UUID_B, 5, HO_WRONG_VM },
		/* our VM, but sealed over another VM */
		{ UUID_B, MID1, NONCE, 5, UUID_A, 5, HO_BAD_SEAL },
		/* an answer to an earlier request (another nonce) */
		{ UUID_A, MID1, NONCE2, 5, UUID_A, 5, HO_BAD_SEAL },
		/* for another migration */
		{ UUID_A, MID2, NONCE, 5, UUID_A, 5, HO_BAD_SEAL },
		/* the bundle is older than the generation sealed */
		{ UUID_A, MID1, NONCE, 5, UUID_A, 3, HO_STALE_GENERATION },
		/* older than what was imported */
		{ UUID_A, MID1, NONCE, 2, UUID_A, 2, HO_OLDER },
	};
	struct handoff_dst d;
	size_t i;

	for (i = 0; i < sizeof c / sizeof c[0]; i++) {
		dst_asking(&d);
		cr_assert_eq(answer(&d, c[i].su, c[i].sm, c[i].sn, c[i].gen,
		    c[i].bu, c[i].bgen), c[i].want, "case %zu", i);
		cr_assert_eq(d.state, HD_FAILED);
		cr_assert_eq(d.why, c[i].want);
		/* Failed is final. */
		cr_assert_eq(handoff_dst_step(&d, HDE_IMPORTED, NULL),
		    c[i].want);
	}
}

Test(handoff_dst, no_seal_and_unasked_answers)
{
	struct handoff_dst d;
	struct handoff_answer a;
	struct handoff_dst_input in;
	static const uint8_t sealed[] = "x";

	dst_asking(&d);
	memset(&a, 0, sizeof a);
	a.generation = 5;
	a.sealed = sealed;
	a.sealed_len = 1;
	a.bundle_uuid = UUID_A;
	a.bundle_generation = 5;
	memset(&in, 0, sizeof in);
	in.key = KEY;
	in.keylen = sizeof KEY;
	in.answer = &a;
	cr_assert_eq(handoff_dst_step(&d, HDE_ANSWER, &in), HO_BAD_SEAL,
	    "an answer of an older source (no seal) is refused");

	handoff_dst_init(&d, UUID_A, MID1, 3);
	cr_assert_eq(handoff_dst_step(&d, HDE_ANSWER, &in), HO_NOT_ASKING);

	handoff_dst_init(&d, UUID_A, NULL, 3);
	in.fresh = NONCE;
	cr_assert_eq(handoff_dst_step(&d, HDE_ASK, &in), HO_NO_MIGRATION_ID);
	cr_assert_eq(d.state, HD_FAILED);
}

Test(handoff_dst, failures_keep_their_reason)
{
	struct handoff_dst d;
	struct handoff_dst_input in;

	dst_asking(&d);
	memset(&in, 0, sizeof in);
	in.why = HO_REFUSED;
	cr_assert_eq(handoff_dst_step(&d, HDE_FAIL, &in), HO_REFUSED);
	cr_assert_eq(d.state, HD_FAILED);
	dst_asking(&d);
	cr_assert_eq(handoff_dst_step(&d, HDE_FAIL, NULL), HO_UNREACHABLE);
}

/*
 * A restarted destination: whatever the store kept short of done resumes
 * in IMPORTED with the stored id and generation and a fresh nonce to
 * come, so an answer to the request made before the restart no longer
 * fits; done stays done; a damaged value fails safe.
 */
Test(handoff_dst, restore_after_a_restart)
{
	static const int resumable[] = { HD_IMPORTED, HD_ASKING, HD_VERIFIED,
		HD_FAILED };
	static const int damaged[] = { -1, 5, 99 };
	struct handoff_dst_input in = { .fresh = NONCE2 };
	static const uint8_t zero[16];
	struct handoff_dst d;
	size_t i;

	for (i = 0; i < sizeof resumable / sizeof resumable[0]; i++) {
		cr_assert_eq(handoff_dst_restore(&d, UUID_A, MID1, 3,
		    resumable[i]), HD_IMPORTED, "saved %d", resumable[i]);
		cr_assert_eq(d.state, HD_IMPORTED);
		cr_assert(d.has_mid && memcmp(d.mid, MID1, 16) == 0);
		cr_assert(memcmp(d.uuid, UUID_A, 16) == 0);
		cr_assert_eq(d.have, 3);
		cr_assert(memcmp(d.nonce, zero, 16) == 0, "no nonce kept");
		cr_assert_eq(d.why, HO_OK);
		cr_assert_eq(handoff_dst_step(&d, HDE_ASK, &in), HO_OK);
		cr_assert(memcmp(d.nonce, NONCE2, 16) == 0);
		/* The source's answer to the request before the restart. */
		cr_assert_eq(answer(&d, UUID_A, MID1, NONCE, 5, UUID_A, 5),
		    HO_BAD_SEAL);
		/* The answer to this request is taken. */
		handoff_dst_restore(&d, UUID_A, MID1, 3, resumable[i]);
		cr_assert_eq(handoff_dst_step(&d, HDE_ASK, &in), HO_OK);
		cr_assert_eq(answer(&d, UUID_A, MID1, NONCE2, 5, UUID_A, 5),
		    HO_OK);
		cr_assert_eq(d.state, HD_VERIFIED);
		/* Still older than the stored import: refused. */
		handoff_dst_restore(&d, UUID_A, MID1, 7, resumable[i]);
		handoff_dst_step(&d, HDE_ASK, &in);
		cr_assert_eq(answer(&d, UUID_A, MID1, NONCE2, 5, UUID_A, 5),
		    HO_OLDER);
	}

	cr_assert_eq(handoff_dst_restore(&d, UUID_A, MID1, 3, HD_DONE),
	    HD_DONE);
	cr_assert_eq(handoff_dst_step(&d, HDE_ASK, &in), HO_BAD_EVENT,
	    "nothing is asked once done");
	cr_assert_eq(d.state, HD_DONE);

	for (i = 0; i < sizeof damaged / sizeof damaged[0]; i++) {
		cr_assert_eq(handoff_dst_restore(&d, UUID_A, MID1, 3,
		    damaged[i]), HD_FAILED, "saved %d", damaged[i]);
		cr_assert_eq(d.why, HO_BAD_STATE);
		cr_assert_eq(handoff_dst_step(&d, HDE_ASK, &in), HO_BAD_STATE,
		    "a damaged state never asks, never answers final");
		cr_assert_eq(handoff_dst_step(&d, HDE_IMPORTED, NULL),
		    HO_BAD_STATE);
	}

	/* Stored without a migration id: asking fails as before a restart. */
	cr_assert_eq(handoff_dst_restore(&d, UUID_A, NULL, 3, HD_IMPORTED),
	    HD_IMPORTED);
	cr_assert_eq(handoff_dst_step(&d, HDE_ASK, &in), HO_NO_MIGRATION_ID);
	cr_assert_eq(d.state, HD_FAILED);
}

Test(handoff_dst, state_names)
{
	cr_assert_str_eq(handoff_dst_state_str(HD_IMPORTED), "imported");
	cr_assert_str_eq(handoff_dst_state_str(HD_ASKING), "asking");
	cr_assert_str_eq(handoff_dst_state_str(HD_VERIFIED), "verified");
	cr_assert_str_eq(handoff_dst_state_str(HD_DONE), "done");
	cr_assert_str_eq(handoff_dst_state_str(HD_FAILED), "failed");
	cr_assert_str_eq(handoff_dst_state_str(-1), "unknown");
	cr_assert_str_eq(handoff_dst_state_str(5), "unknown");
}

/* The seals are HMACs over the documented layout. */
Test(handoff_seal, layout)
{
	uint8_t msg[128], *p = msg, want[32], got[32], digest[32];
	static const uint8_t sealed[] = "bundle";
	int i;

	memcpy(p, "rasd-final-sync-2", 17);
	p += 17;
	memcpy(p, UUID_A, 16);
	p += 16;
	for (i = 0; i < 8; i++)
		*p++ = (uint8_t)(0x0102030405060708ULL >> (56 - 8 * i));
	memcpy(p, NONCE, 16);
	memcpy(p + 16, MID1, 16);
	p += 32;
	hmac_sha256(KEY, sizeof KEY, msg, (size_t)(p - msg), want);
	handoff_request_mac(KEY, sizeof KEY, UUID_A, 0x0102030405060708ULL,
	    NONCE, MID1, got);
	cr_assert(memcmp(want, got, 32) == 0);

	p = msg;
	memcpy(p, "rasd-final-answer-1", 19);
	p += 19;
	memcpy(p, UUID_A, 16);
	memcpy(p + 16, MID1, 16);
	memcpy(p + 32, NONCE, 16);
	p += 48;
	for (i = 0; i < 8; i++)
		*p++ = (uint8_t)(7ULL >> (56 - 8 * i));
	sha256(sealed, sizeof sealed, digest);
	memcpy(p, digest, 32);
	p += 32;
	hmac_sha256(KEY, sizeof KEY, msg, (size_t)(p - msg), want);
	handoff_answer_seal(KEY, sizeof KEY, UUID_A, MID1, NONCE, 7, sealed,
	    sizeof sealed, got);
	cr_assert(memcmp(want, got, 32) == 0);
	sha256(msg, (size_t)(p - msg), want);
	handoff_answer_seal(NULL, 0, UUID_A, MID1, NONCE, 7, sealed,
	    sizeof sealed, got);
	cr_assert(memcmp(want, got, 32) == 0, "without a key: SHA-256");
}

Test(handoff, every_reason_has_words)
{
	int r;

	for (r = HO_OK; r <= HO_BAD_STATE; r++)
		cr_assert_str_neq(handoff_reason_str((enum handoff_reason)r),
		    "unknown reason", "reason %d", r);
	cr_assert_str_eq(handoff_reason_str((enum handoff_reason)999),
	    "unknown reason");
}
