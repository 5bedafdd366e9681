/*
 * handoff.h -- the final sync of a migration as two state machines, one
 * per side, in the manner of a BGP session FSM: explicit states, explicit
 * events, one transition function per side, and every refusal a named
 * reason (enum handoff_reason). Pure logic: no sockets, no clock, no
 * randomness of its own (fresh bytes come in with the events), so every
 * path is unit-testable (tests/unit/test_handoff.c). daemon/peer.c does
 * the I/O and asks these machines for every decision; migrate/README.md
 * describes the protocol.
 */
#ifndef RAS_HANDOFF_H
#define RAS_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#define HANDOFF_ID_LEN		16	/* migration id bytes */
#define HANDOFF_NONCE_LEN	16	/* request nonce bytes */
#define HANDOFF_MAC_LEN		32	/* request MAC, answer seal */
#define HANDOFF_REPLAY_MAX	8	/* answered ids a source remembers */

/* Why a step was refused; HO_OK when it was not. */
enum handoff_reason {
	HO_OK = 0,
	HO_BAD_REQUEST,		/* a field of the request has a bad length */
	HO_NOT_SIGNED,		/* request MAC missing or not the fleet key's */
	HO_NOT_ROOT,		/* no fleet key: only root over a Unix socket */
	HO_NO_MIGRATION_ID,	/* the request names no migration */
	HO_NOT_OFFERED,		/* source: no hand-off of this VM is open */
	HO_WRONG_MIGRATION,	/* source: not the VM's open migration id */
	HO_REPLAY,		/* source: that migration was answered already */
	HO_NOT_PAUSED,		/* source: libvirt says the VM runs here */
	HO_VMM_UNSYNCED,	/* source: its VMM may hold memory errors not
				 * recorded here (pending, lost, away) */
	HO_NOT_ASKING,		/* destination: an answer nobody asked for */
	HO_WRONG_VM,		/* destination: answer for another VM */
	HO_BAD_SEAL,		/* destination: answer not sealed for this
				 * request (nonce, migration id, VM) */
	HO_STALE_GENERATION,	/* destination: the bundle is not the source's
				 * current state */
	HO_OLDER,		/* destination: older than the imported one */
	HO_BUSY,		/* destination: another VMM runs the VM */
	HO_REFUSED,		/* destination: the source said no */
	HO_UNREACHABLE,		/* destination: no answer from the source */
	HO_IMPORT,		/* destination: the answer could not be taken in */
	HO_BAD_EVENT,		/* the event is not valid in this state */
	HO_BAD_STATE		/* destination: the stored hand-off state is
				 * unusable (a damaged store) */
};

/* A short phrase for logs and error replies ("replayed final sync"). */
const char *handoff_reason_str(enum handoff_reason);

/* --- the source's side, one per VM ------------------------------------ */

enum handoff_src_state {
	HS_IDLE = 0,		/* no hand-off offered */
	HS_OFFERED,		/* a migration id went out in an export */
	HS_ANSWERED		/* the final sync of that id was answered */
};

enum handoff_src_event {
	HSE_EXPORT,		/* the VM's state is exported (XML, rasctl) */
	HSE_FINAL_SYNC,		/* a destination asks for the final state */
	HSE_RESUMED		/* the VM runs here again (migration failed) */
};

struct handoff_src {
	enum handoff_src_state state;
	uint8_t mid[HANDOFF_ID_LEN];	/* the open (or answered) id */
	uint8_t answered[HANDOFF_REPLAY_MAX][HANDOFF_ID_LEN];
	size_t nanswered;		/* valid entries of answered[] */
	size_t next;			/* ring position */
};

/* A FinalSync as received (pointers into the unpacked message). */
struct handoff_request {
	const uint8_t *uuid;
	size_t uuid_len;
	uint64_t have;			/* the generation the destination has */
	const uint8_t *nonce;
	size_t nonce_len;
	const uint8_t *mid;		/* NULL: none (an older destination) */
	size_t mid_len;
	const uint8_t *mac;		/* NULL: none */
	size_t mac_len;
};

/* What an event brings in. */
struct handoff_src_input {
	const uint8_t *key;		/* fleet key; keylen 0 when none */
	size_t keylen;
	int root_unix;			/* the asker is root over a Unix socket */
	int tls_peer;			/* the asker is a fleet host, verified
					 * by mutual TLS (key then unused) */
	int paused;			/* libvirt: 1 the domain is paused here,
					 * 0 it runs, -1 not known */
	int vmm_unsynced;		/* 1: its VMM may hold memory errors
					 * not durable here (daemon/vmm.c,
					 * vmm_sync_check) */
	const struct handoff_request *req;	/* HSE_FINAL_SYNC */
	const uint8_t *fresh;		/* HSE_EXPORT: HANDOFF_ID_LEN random
					 * bytes, the id if one is issued */
};

/* Start in HS_IDLE. */
void	handoff_src_init(struct handoff_src *);

/*
 * The source's transition function. HSE_EXPORT issues a migration id
 * (from in->fresh) when none is open and keeps the open or answered one
 * otherwise; HSE_FINAL_SYNC accepts (HO_OK, now HS_ANSWERED: the caller
 * answers and hands the VM off) or refuses with the reason, state
 * unchanged; HSE_RESUMED forgets the answered id (it stays in the replay
 * record) so that the next export issues a new one.
 */
enum handoff_reason handoff_src_step(struct handoff_src *,
	    enum handoff_src_event, const struct handoff_src_input *);

/* The id an export carries (valid unless HS_IDLE). */
const uint8_t *handoff_src_mid(const struct handoff_src *);

/* --- the destination's side, one per final sync ----------------------- */

enum handoff_dst_state {
	HD_IMPORTED = 0,	/* the snapshot is in; nothing asked yet */
	HD_ASKING,		/* FinalSync sent with a fresh nonce */
	HD_VERIFIED,		/* the answer is the one asked for */
	HD_DONE,		/* imported: the VMM may re-arm and run */
	HD_FAILED		/* fail safe: the VMM must not run the guest */
};

enum handoff_dst_event {
	HDE_ASK,		/* the VMM awaits the final state */
	HDE_ANSWER,		/* the source answered with a bundle */
	HDE_IMPORTED,		/* the verified bundle was taken in */
	HDE_FAIL		/* refused, unreachable, import failed */
};

struct handoff_dst {
	enum handoff_dst_state state;
	uint8_t uuid[16];		/* the VM asked for */
	uint8_t mid[HANDOFF_ID_LEN];	/* from the imported bundle */
	int has_mid;
	uint64_t have;			/* the imported generation */
	uint8_t nonce[HANDOFF_NONCE_LEN];
	uint64_t generation;		/* the answer's, once verified */
	enum handoff_reason why;	/* HD_FAILED: the reason */
};

/* The source's answer, with what opening its bundle showed. */
struct handoff_answer {
	uint64_t generation;		/* Exported.generation */
	const uint8_t *seal;		/* Exported.answer_seal; NULL: none */
	size_t seal_len;
	const uint8_t *sealed;		/* the SealedBundle bytes */
	size_t sealed_len;
	const uint8_t *bundle_uuid;	/* from the opened bundle */
	uint64_t bundle_generation;
};

struct handoff_dst_input {
	const uint8_t *key;
	size_t keylen;
	const uint8_t *fresh;		/* HDE_ASK: HANDOFF_NONCE_LEN random */
	const struct handoff_answer *answer;	/* HDE_ANSWER */
	enum handoff_reason why;	/* HDE_FAIL */
};

/* Start in HD_IMPORTED for VM uuid, migration id mid (NULL: none). */
void	handoff_dst_init(struct handoff_dst *, const uint8_t uuid[16],
	    const uint8_t *mid, uint64_t have);

/* The destination's transition function; HO_OK or why it failed. */
enum handoff_reason handoff_dst_step(struct handoff_dst *,
	    enum handoff_dst_event, const struct handoff_dst_input *);

/*
 * A destination rasd restarted: rebuild the machine of VM uuid from what
 * the store kept since the import (migration id, imported generation, the
 * last state written). A final sync not taken in -- IMPORTED, ASKING,
 * VERIFIED (never written: the verified answer is imported in the same
 * transaction that ends the hand-off) or FAILED -- resumes in HD_IMPORTED:
 * the question is asked again with a fresh nonce, since a nonce dies with
 * the connection it was sent on and the source answers a migration once
 * (so a lost answer fails safe as a replay, it is never guessed). HD_DONE
 * stays done. Any other value (a damaged store) is HD_FAILED with
 * HO_BAD_STATE: the guest must not run on it. Returns the resumed state.
 */
enum handoff_dst_state handoff_dst_restore(struct handoff_dst *,
	    const uint8_t uuid[16], const uint8_t *mid, uint64_t have,
	    int saved);

/* The name of a destination state ("imported", "asking", ...). */
const char *handoff_dst_state_str(int);

/* --- the seals ---------------------------------------------------------- */

/*
 * The FinalSync MAC: HMAC-SHA-256(key, "rasd-final-sync-2" || uuid ||
 * have (8 bytes big-endian) || nonce || migration id).
 */
void	handoff_request_mac(const uint8_t *key, size_t keylen,
	    const uint8_t uuid[16], uint64_t have,
	    const uint8_t nonce[HANDOFF_NONCE_LEN],
	    const uint8_t mid[HANDOFF_ID_LEN], uint8_t out[HANDOFF_MAC_LEN]);

/*
 * The answer seal: HMAC-SHA-256(key, "rasd-final-answer-1" || uuid ||
 * migration id || nonce || generation (8 bytes big-endian) ||
 * SHA-256(sealed bundle)); without a key (root over a Unix socket) the
 * plain SHA-256 of the same message.
 */
void	handoff_answer_seal(const uint8_t *key, size_t keylen,
	    const uint8_t uuid[16], const uint8_t mid[HANDOFF_ID_LEN],
	    const uint8_t nonce[HANDOFF_NONCE_LEN], uint64_t generation,
	    const uint8_t *sealed, size_t sealed_len,
	    uint8_t out[HANDOFF_MAC_LEN]);

#endif
