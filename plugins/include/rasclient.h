/*
 * rasclient.h -- the VMM side of rasd.
 *
 * A VMM links librasclient (pkg-config rasclient), opens one handle per VM
 * at start-up and calls rasc_forward() from its SIGBUS handler for every
 * BUS_MCEERR_AR / BUS_MCEERR_AO it receives. rasc_forward() is
 * async-signal-safe: it never allocates, uses the socket connected by
 * rasc_open(), waits a bounded time for rasd's answer, and when rasd cannot
 * answer it decides locally from the boot profile and keeps the forward for
 * replay. rasc_service() (from a normal thread, or the library's own thread
 * started with rasc_start_thread()) reconnects and replays, so nothing is
 * lost across a rasd restart.
 *
 * Thread safety: every function may be called from any thread; only
 * rasc_forward() and rasc_fallback() may be called from a signal handler.
 */
#ifndef RASCLIENT_H
#define RASCLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RASC_MAX_SLOTS 64
#define RASC_MAX_DECLARED 64
#define RASC_REPLAY_MAX 4096	/* unacknowledged forwards kept for replay;
				 * repeats of one granule share an entry */
#define RASC_CPER_MAX 256

/* Memory error kinds (match BUS_MCEERR_AR / BUS_MCEERR_AO handling). */
#define RASC_KIND_AR 1
#define RASC_KIND_AO 2

/* Actions (enum ras_action). */
#define RASC_ACTION_INJECT 1
#define RASC_ACTION_IGNORE 2
#define RASC_ACTION_STOP_VM 3

/* Notification types: ACPI enum acpi_hest_notify_types. */
#define RASC_NOTIFY_NONE 255
#define RASC_CAP(notify) (1u << (notify))

struct rasc_slot {
	uint64_t gpa;		/* guest-physical base */
	uint64_t hva;		/* host virtual address */
	uint64_t size;		/* bytes */
};

/* A convenient buffer size for rasc_active(); not a limit (see
 * rasc_active_from()). */
#define RASC_ACTIVE_MAX 4096

/* A poisoned guest-physical range rasd knows for this VM. */
struct rasc_range {
	uint64_t gpa;
	uint64_t length;
	int kind;			/* RASC_KIND_AR / RASC_KIND_AO */
};

struct rasc_declared {
	uint16_t source_id;
	uint8_t notify;
};

struct rasc_config {
	const char *socket_path;	/* NULL: the default rasd socket */
	uint8_t uuid[16];
	const char *name;
	const char *arch;		/* "arm64" or "x86_64" */
	const void *hest;		/* raw boot HEST, or NULL ... */
	size_t hest_len;
	const struct rasc_declared *declared; /* ... a declared profile */
	unsigned int declared_count;
	const struct rasc_slot *slots;
	unsigned int slot_count;
	uint32_t caps;			/* RASC_CAP() of injectable types */
	int timeout_ms;			/* bound on a forward's wait; 0: 1000 */
	int resume;			/* 1: the guest is not booting afresh */
	int cpu_vendor;			/* x86: RASC_CPU_*; picks the MCE
					 * encoding (0: unknown, as Intel) */
	int observing;			/* 1: the VMM carries out nothing
					 * rasd decides (its own handler
					 * acts; caps and profile say what
					 * that does): rasd marks the VM */
};

/* Guest CPU vendors (x86), for rasc_config.cpu_vendor. */
#define RASC_CPU_UNKNOWN 0
#define RASC_CPU_INTEL 1
#define RASC_CPU_AMD 2

/* rasc_forward_ex() flags. */
#define RASC_F_IRQ_UNMASKED 0x1	/* the faulting vCPU could take an
				 * interrupt; without it an AR is never
				 * told by an interrupt-only type */

struct rasc_decision {
	int action;			/* RASC_ACTION_* */
	int notify;			/* RASC_NOTIFY_NONE if none */
	int source_id;			/* -1 if none */
	uint64_t gpa;			/* the granule: gpa, length */
	uint64_t length;
	int from_rasd;			/* 0: local fallback decision */
	int repeat;			/* rasd had this range already */
	size_t cper_len;		/* 0 unless a GHES source was chosen */
	uint8_t cper[RASC_CPER_MAX];
	uint64_t mce_status, mcg_status, mce_misc; /* for MCE, else 0 */
	uint64_t addr;			/* the exact faulting guest-physical
					 * address: CPER's and MCi_ADDR */
	int mce_bank;			/* for MCE: the bank (9), else 0 */
	int mce_broadcast;		/* for MCE: inject on every vCPU
					 * unless the guest enabled LMCE */
	int read_ack;			/* GHESv2: wait for the guest's ack */
};

struct rasc;

/*
 * Parse the profile, connect and register. Returns a handle even when rasd
 * is unreachable (forwards then fall back and are replayed later); NULL only
 * on bad configuration (bad HEST, no slots ...) or when rasd refuses the
 * registration for good (bad HEST, invalid, busy, profile mismatch,
 * denied), with the reason in err.
 */
struct rasc *rasc_open(const struct rasc_config *cfg, char *err,
    size_t errlen);

/*
 * Forward one memory error. Async-signal-safe. Returns 0 with rasd's
 * decision, 1 with a local fallback decision (rasd unreachable or slow; the
 * forward is kept for replay), -1 if addr is in no memory slot (decision
 * then says STOP_VM for AR, IGNORE for AO).
 */
int rasc_forward(struct rasc *c, int kind, const void *addr, int lsb,
    struct rasc_decision *out);

/*
 * rasc_forward() with flags (RASC_F_*): say RASC_F_IRQ_UNMASKED when the
 * faulting vCPU had interrupts unmasked, which lets an AR be told by an
 * interrupt type. Async-signal-safe.
 */
int rasc_forward_ex(struct rasc *c, int kind, const void *addr, int lsb,
    unsigned int flags, struct rasc_decision *out);

/* The local decision alone, without talking to rasd. Async-signal-safe. */
int rasc_fallback(struct rasc *c, int kind, const void *addr, int lsb,
    struct rasc_decision *out);
int rasc_fallback_ex(struct rasc *c, int kind, const void *addr, int lsb,
    unsigned int flags, struct rasc_decision *out);

/* Reconnect if needed, re-register and replay unacknowledged forwards.
 * Returns the number still unacknowledged, or -1 if rasd is unreachable. */
int rasc_service(struct rasc *c);

/* Start a thread that calls rasc_service() every interval_ms. */
int rasc_start_thread(struct rasc *c, int interval_ms);

/* Tell rasd the guest was reset: its active poison is retired. While rasd
 * is unreachable the reset is kept and delivered, in order, on reconnect
 * (returns 0); -1 only if rasd refused it. */
int rasc_guest_reset(struct rasc *c);

/* Replace the memory map (memslot add/move/delete). */
int rasc_set_slots(struct rasc *c, const struct rasc_slot *slots,
    unsigned int count);

/*
 * The VM's active poison as rasd reported it at the last registration
 * (for a migrated or resumed guest: the ranges to re-arm). Copies up to
 * max entries and returns how many there are.
 */
int rasc_active(struct rasc *c, struct rasc_range *out, unsigned int max);

/*
 * The same from the first-th range on (0-based): the library keeps every
 * range rasd reported, however many; a caller with a fixed buffer pages
 * through them. Returns how many there are in all.
 */
int rasc_active_from(struct rasc *c, unsigned int first,
    struct rasc_range *out, unsigned int max);

/*
 * On a migration's destination, before the guest's first instruction: wait
 * (at most timeout_ms) until rasd confirms it holds the VM's final state,
 * which it fetches from the source's rasd, then rasc_active() reports the
 * complete set to re-arm. 0, or -1 (see rasc_strerror): the guest must
 * not run unless the operator accepts the risk; 1: the operator did
 * (rasctl release --force, the source is gone): run with the ranges
 * rasc_active() has, and report those that cannot be re-armed.
 */
int rasc_await_final(struct rasc *c, int timeout_ms);

/*
 * A migration's source rasd hands the VM off only when nothing its VMM
 * has seen is missing from its store. A VMM that keeps memory errors of
 * its own before forwarding them (e.g. until rasd has its newest memory
 * map) says so: rasc_note_held(c, 1) when it keeps one, -1 once it has
 * forwarded (or given up) it; rasc_note_dropped(c, n) for errors it could
 * neither forward nor keep (its queue was full): rasd is told, and the
 * VM's final sync then fails (the migration fails safe) until a guest
 * reset. Both are async-signal-safe.
 */
void rasc_note_held(struct rasc *c, int delta);
void rasc_note_dropped(struct rasc *c, unsigned int n);

/* A poisoned range a migration's destination cannot re-arm, and why. */
struct rasc_rearm_failure {
	uint64_t gpa;
	uint64_t length;
	const char *reason;	/* at most ~200 bytes are useful */
};

#define RASC_REARM_REPORT_MAX 32	/* failures one report carries */

/*
 * Tell rasd which of the checked active ranges cannot be re-armed here
 * (released: after the operator let the gate go; the guest runs without
 * them). rasd logs them and keeps them with the VM. 0, or -1.
 */
int rasc_report_rearm(struct rasc *c, unsigned int checked,
    const struct rasc_rearm_failure *f, unsigned int n, int released);

/* 1 while connected and registered. */
int rasc_connected(struct rasc *c);

/* Number of forwards not yet acknowledged by rasd. */
int rasc_pending(struct rasc *c);

/*
 * Local decisions that could not be kept for replay since rasc_open (the
 * replay ring was full): rasd never recorded them. The library tells rasd
 * the count at its next registration (the VM's record then says so), and
 * a VMM should log it when it grows. Async-signal-safe.
 */
unsigned long rasc_lost(struct rasc *c);

/* Unregister, stop the thread, close and free. */
void rasc_close(struct rasc *c);

/* The last error message (not thread-safe; for logs). */
const char *rasc_strerror(struct rasc *c);

#ifdef __cplusplus
}
#endif
#endif
