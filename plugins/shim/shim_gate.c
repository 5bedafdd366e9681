/*
 * shim_gate.c -- a migrated guest does not run before its poison is
 * re-armed.
 *
 * DESIGN: on a live-migration destination (QEMU started with -incoming)
 * the guest's RAM arrives over the migration stream, and what the source
 * had as poisoned memory arrives as ordinary pages (zeros). rasd has the
 * VM's poisoned ranges (imported with its state bundle), and answers the
 * shim's registration (BOOT_RESUME, since the guest continues) with them
 * in Registered.active. The gate turns those back into memory errors
 * before the guest's first instruction here: it holds the first KVM_RUN
 * of the vCPU threads until (1) rasd has answered the registration and
 * confirmed it holds the VM's final state (rasc_await_final(): it asks the
 * source's rasd for what came after the bundle's snapshot; the source is
 * paused for the switchover by now) -- all within RASD_SHIM_GATE_MS,
 * default 5000 -- and (2) every active range, translated to host memory
 * through the memory slots KVM has at that moment, carries a poison
 * marker (shim_poison_arm()). QEMU enters KVM_RUN only once the incoming
 * migration has completed, so the markers go onto RAM the migration has
 * finished writing, and the marker is on host memory: later slot changes
 * (SeaBIOS, a reset) keep it. The first vCPU thread to arrive does the
 * work, the others wait on a condition variable; once it is done the gate
 * is open for good, and a KVM_RUN costs one atomic load (shim_kvm.c).
 *
 * When the gate cannot do that (rasd did not answer, refused the
 * registration, could not confirm the final state, a range is in no RAM
 * slot, UFFDIO_POISON failed), what is safe depends on the moment:
 *
 * - While the migration still runs, stopping the destination QEMU makes
 *   the migration fail, and the guest keeps running on the source. With
 *   RASD_SHIM_REQUIRED=1 the shim's thread therefore decides early what
 *   it can: rasd must take the registration within RASD_SHIM_GATE_MS of
 *   the VMM's start, must not refuse it, and if it reports poisoned
 *   ranges the kernel must be able to re-arm them (UFFDIO_POISON on a
 *   scratch page). Otherwise the shim logs one line and ends the process
 *   with _exit(1).
 * - At the first KVM_RUN it is too late for that. libvirt resumes the
 *   destination with "cont", which QEMU acknowledges before its vCPU
 *   threads reach KVM_RUN, and the source QEMU is stopped right after
 *   (measured with two libvirtd: a destination that exits in the gate
 *   loses the guest on both hosts). So with RASD_SHIM_REQUIRED=1 the gate
 *   holds the vCPUs instead: the guest does not run, the gate retries
 *   every SHIM_GATE_RETRY_MS until rasd confirms and the ranges are
 *   re-armed, and says so in one line when it starts holding and one when
 *   the guest runs. QEMU keeps control of a held vCPU: its kick (pause,
 *   migrate, quit) sets kvm_run->immediate_exit, which the gate watches
 *   through a read-only mapping of the vCPU's kvm_run; it then lets the
 *   real KVM_RUN go, which returns EINTR without entering the guest, and
 *   holds the thread again at its next KVM_RUN. So the operator can still
 *   pause, migrate back or destroy the VM.
 * - Without RASD_SHIM_REQUIRED=1 the gate logs one line and lets the
 *   guest run: a rasd outage must not stall every migrated guest. That is
 *   the trade-off an operator makes by not setting it: a guest that runs
 *   without its poison reads zeros (or stale data) where the hardware had
 *   failed -- silent corruption -- instead of getting a memory error. The
 *   gate re-arms what it can (without the final state: the ranges rasd had
 *   at the registration); when rasd answers only later, the shim's thread
 *   re-arms then ("late"), so the guest faults on those ranges from then
 *   on.
 *
 * A VMM that is not a migration destination has nothing to re-arm: the
 * poison rasd reports at its registration (rasd restarted, or the VMM
 * reconnected) is still in its own memory. The shim only remembers where
 * it is, for the migration thread (shim_poison.c).
 */
#include <sys/mman.h>
#include <sys/vfs.h>

#include <linux/kvm.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

#define SHIM_GATE_MS_DEFAULT 5000
#define SHIM_GATE_MS_MAX (10 * 60 * 1000)
#define SHIM_GATE_POLL_NS (1000 * 1000)	/* registration recheck */
#define SHIM_GATE_RETRY_MS 1000		/* a held guest's retries */
#define SHIM_GATE_HOLD_NS (20 * 1000 * 1000) /* kick recheck */
#define SHIM_GATE_PIECES 64		/* slots one range may span */
#define SHIM_PAGE 4096ULL

/* What a try of the gate's work says. */
#define SHIM_GATE_RUN 0			/* the guest may run */
#define SHIM_GATE_HOLD 1		/* it must not, yet */

atomic_int			 shim_gate_open_v = 1;	/* KVM_RUN passes */
static pthread_mutex_t		 shim_gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 shim_gate_cond = PTHREAD_COND_INITIALIZER;
static int			 shim_gate_busy;	/* a thread works */
static int			 shim_gate_held;	/* REQUIRED and it failed */
static struct timespec		 shim_gate_next;	/* the next retry */
static struct timespec		 shim_gate_held_at;
static int			 shim_gate_ms = SHIM_GATE_MS_DEFAULT;
static int			 shim_gate_required;
static atomic_int		 shim_gate_reached;	/* a vCPU is at the gate */
static atomic_int		 shim_gate_late_v;	/* re-arm when rasd is back */
static int			 shim_gate_seen;	/* shim_gate_registered ran */
static struct timespec		 shim_gate_t0;		/* the VMM's start */
static atomic_int		 shim_gate_broken;	/* cannot re-arm here */
static char			 shim_gate_why[512];	/* why, set before */

/* The thread's read-only view of its vCPU's kvm_run, while held. */
static _Thread_local const volatile struct kvm_run *shim_gate_run;
static _Thread_local int	 shim_gate_run_fd = -1;

/* What the pre-flight or a released gate could not re-arm, for rasd. */
static struct rasc_rearm_failure shim_gate_fail[RASC_REARM_REPORT_MAX];
static char			 shim_gate_fail_why[RASC_REARM_REPORT_MAX][200];
static unsigned int		 shim_gate_nfail;

#define SHIM_TMPFS_MAGIC 0x01021994
#define SHIM_HUGETLBFS_MAGIC 0x958458f6

/* rasc_active() output: one user at a time. */
static pthread_mutex_t		 shim_gate_buf_lock =
    PTHREAD_MUTEX_INITIALIZER;
static struct rasc_range	 shim_gate_buf[RASC_ACTIVE_MAX];

/* Milliseconds between two CLOCK_MONOTONIC readings. */
static double
shim_gate_ms_since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/*
 * Close the gate when the VMM is a migration destination; the
 * constructor calls this once the VM is named.
 */
void
shim_gate_init(void)
{
	const struct shim_id	*id = shim_id_get();
	const char		*env;
	char			*end;
	long			 v;

	if (!id->valid || !id->resume)
		return;
	if ((env = getenv("RASD_SHIM_GATE_MS")) != NULL && *env != '\0') {
		errno = 0;
		v = strtol(env, &end, 10);
		if (errno != 0 || *end != '\0' || v < 0 ||
		    v > SHIM_GATE_MS_MAX)
			shim_log("VM %s: RASD_SHIM_GATE_MS=%s is not a number "
			    "of milliseconds up to %d; waiting %d ms", id->name,
			    env, SHIM_GATE_MS_MAX, shim_gate_ms);
		else
			shim_gate_ms = (int)v;
	}
	env = getenv("RASD_SHIM_REQUIRED");
	shim_gate_required = env != NULL && strcmp(env, "1") == 0;
	clock_gettime(CLOCK_MONOTONIC, &shim_gate_t0);
	atomic_store(&shim_gate_open_v, 0);
}

/* "its poisoned ranges" or "N poisoned ranges", for a log line. */
static void
shim_gate_what(int n, char *out, size_t outlen)
{
	if (n < 0)
		snprintf(out, outlen, "its poisoned ranges");
	else
		snprintf(out, outlen, "%d poisoned range%s", n,
		    n == 1 ? "" : "s");
}

/*
 * From the shim's thread, while the migration still runs (no vCPU has
 * reached the gate): with RASD_SHIM_REQUIRED=1, stop the VMM so that the
 * migration fails and the guest stays on the source. n < 0: how many
 * ranges is not known.
 */
static void
shim_gate_exit(int n, const char *why)
{
	const struct shim_id	*id = shim_id_get();
	char			 what[64];

	if (!shim_gate_required || atomic_load(&shim_gate_reached))
		return;
	shim_gate_what(n, what, sizeof what);
	shim_log("VM %s: cannot re-arm %s before the guest runs: %s; stopping "
	    "this QEMU so the migration fails and the guest keeps running on "
	    "the source", id->name, what, why);
	_exit(1);
}

/*
 * From the shim's thread of a migration destination that has not got an
 * answer from rasd yet: with RASD_SHIM_REQUIRED=1, stop the VMM once
 * RASD_SHIM_GATE_MS have passed since it started while the migration
 * still runs. Returns the milliseconds left, or -1 when there is no such
 * deadline.
 */
int
shim_gate_deadline(void)
{
	const struct shim_id	*id = shim_id_get();
	struct timespec		 now;
	struct rasc		*c;
	char			 why[512];
	double			 left;

	if (!id->resume || !shim_gate_required || shim_registered() ||
	    atomic_load(&shim_gate_reached))
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	left = shim_gate_ms - shim_gate_ms_since(&shim_gate_t0, &now);
	if (left > 0)
		return (int)left + 1;
	if ((c = shim_client()) != NULL)
		snprintf(why, sizeof why, "rasd at %s did not take the "
		    "registration within %d ms of the start (%s)", id->socket,
		    shim_gate_ms, rasc_strerror(c));
	else
		snprintf(why, sizeof why, "the shim did not register with rasd "
		    "at %s within %d ms of the start", id->socket,
		    shim_gate_ms);
	shim_gate_exit(-1, why);
	return -1;
}

/*
 * From the shim's thread of a migration destination whose registration
 * failed for good: with RASD_SHIM_REQUIRED=1, stop the VMM now.
 */
void
shim_gate_refused(const char *why)
{
	if (shim_id_get()->resume)
		shim_gate_exit(-1, why);
}

/*
 * Whether UFFDIO_POISON works in this process: try it on a scratch page.
 * Returns 0, or -1 with the reason in err.
 */
static int
shim_gate_probe(char *err, size_t errlen)
{
	void	*p;
	int	 rc;

	p = mmap(NULL, SHIM_PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "mmap: %s", strerror(errno));
		return -1;
	}
	rc = shim_poison_arm((uintptr_t)p, SHIM_PAGE, err, errlen);
	munmap(p, SHIM_PAGE);
	return rc;
}

/*
 * Re-arm one active range: whole pages, through the current slots, each
 * piece poisoned and remembered. Returns 0, or -1 with the reason in err.
 */
static int
shim_gate_rearm_one(const struct rasc_range *r, char *err, size_t errlen)
{
	struct shim_piece	p[SHIM_GATE_PIECES];
	uint64_t		start, end, hole;
	char			why[256];
	int			i, n;

	start = r->gpa & ~(SHIM_PAGE - 1);
	end = (r->gpa + r->length + SHIM_PAGE - 1) & ~(SHIM_PAGE - 1);
	if (r->length == 0 || end <= start) {
		snprintf(err, errlen, "range 0x%llx+%llu is empty or wraps",
		    (unsigned long long)r->gpa,
		    (unsigned long long)r->length);
		return -1;
	}
	if ((n = shim_kvm_translate(start, end - start, p, SHIM_GATE_PIECES,
	    &hole)) == -1) {
		snprintf(err, errlen, "guest address 0x%llx (range 0x%llx+%llu) "
		    "is in no RAM slot", (unsigned long long)hole,
		    (unsigned long long)r->gpa,
		    (unsigned long long)r->length);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (shim_poison_arm(p[i].hva, p[i].len, why, sizeof why) ==
		    -1) {
			snprintf(err, errlen, "guest address 0x%llx: %s",
			    (unsigned long long)p[i].gpa, why);
			return -1;
		}
		shim_poison_add(p[i].hva, p[i].len, 0);
	}
	return 0;
}

/* Remember a range that cannot be re-armed, for the report to rasd. */
static void
shim_gate_note(const struct rasc_range *r, const char *why)
{
	unsigned int	i = shim_gate_nfail;

	if (i >= RASC_REARM_REPORT_MAX)
		return;
	shim_gate_fail[i].gpa = r->gpa;
	shim_gate_fail[i].length = r->length;
	snprintf(shim_gate_fail_why[i], sizeof shim_gate_fail_why[i], "%s",
	    why);
	shim_gate_fail[i].reason = shim_gate_fail_why[i];
	shim_gate_nfail++;
}

/*
 * Whether the kernel can put a poison marker on the host memory at hva:
 * userfaultfd poisons anonymous, shmem (memfd, tmpfs) and hugetlbfs
 * memory, not pages of a file on a disk filesystem. Read from
 * /proc/self/maps, without touching the memory. Returns 0, or -1 with
 * the reason in err.
 */
static int
shim_gate_backing(uintptr_t hva, char *err, size_t errlen)
{
	struct statfs	 fs;
	unsigned long	 lo, hi, ino;
	char		 line[512], path[400], *del;
	FILE		*f;
	int		 rc = 0;

	if ((f = fopen("/proc/self/maps", "re")) == NULL)
		return 0;	/* nothing known: the gate will tell */
	while (fgets(line, sizeof line, f) != NULL) {
		path[0] = '\0';
		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu %399[^\n]", &lo, &hi,
		    &ino, path) < 3 || hva < lo || hva >= hi)
			continue;
		if (ino == 0 || strncmp(path, "/memfd:", 7) == 0 ||
		    strncmp(path, "/dev/shm/", 9) == 0 ||
		    strncmp(path, "/SYSV", 5) == 0)
			break;
		if ((del = strstr(path, " (deleted)")) != NULL)
			*del = '\0';
		if (statfs(path, &fs) == 0 &&
		    ((unsigned long)fs.f_type == SHIM_TMPFS_MAGIC ||
		    (unsigned long)fs.f_type == SHIM_HUGETLBFS_MAGIC))
			break;
		/* The path last: a long one is cut, the reason is not. */
		if (snprintf(err, errlen, "userfaultfd cannot poison the pages "
		    "of a file, and guest RAM there is backed by the file %s",
		    path) >= (int)errlen && errlen > 4)
			memcpy(err + errlen - 4, "...", 4);
		rc = -1;
		break;
	}
	fclose(f);
	return rc;
}

/*
 * The pre-flight of a migration's destination, while the migration still
 * runs: whether each active range can be re-armed here, without touching
 * guest memory. A range that starts in RAM but runs into a memslot hole
 * (e.g. a 2 MiB or 1 GiB range at guest address 0 crosses the 640 KiB
 * hole) and RAM backed by a file are found now; a range wholly outside
 * the slots known so far is left for the gate (QEMU may still be adding
 * slots). Returns the number of failures, recorded for the report.
 */
static int
shim_gate_preflight(struct rasc *c, int *checked)
{
	struct shim_piece	p[SHIM_GATE_PIECES];
	uint64_t		hole;
	char			why[256];
	int			i, j, k, n;

	pthread_mutex_lock(&shim_gate_buf_lock);
	shim_gate_nfail = 0;
	n = rasc_active(c, shim_gate_buf, RASC_ACTIVE_MAX);
	if (n > RASC_ACTIVE_MAX)
		n = RASC_ACTIVE_MAX;
	*checked = n;
	for (i = 0; i < n; i++) {
		const struct rasc_range *r = &shim_gate_buf[i];

		if ((k = shim_kvm_translate(r->gpa, r->length, p,
		    SHIM_GATE_PIECES, &hole)) == -1) {
			if (hole == r->gpa)
				continue;
			snprintf(why, sizeof why, "it crosses a memory slot hole "
			    "at guest address 0x%llx (the granule is larger "
			    "than the RAM around it)",
			    (unsigned long long)hole);
			shim_gate_note(r, why);
			continue;
		}
		for (j = 0; j < k; j++)
			if (shim_gate_backing(p[j].hva, why, sizeof why) == -1) {
				shim_gate_note(r, why);
				break;
			}
	}
	n = (int)shim_gate_nfail;
	pthread_mutex_unlock(&shim_gate_buf_lock);
	return n;
}

/* Tell rasd what could not be re-armed (the last pre-flight or gate). */
static void
shim_gate_report(struct rasc *c, int checked, int released)
{
	pthread_mutex_lock(&shim_gate_buf_lock);
	if (rasc_report_rearm(c, (unsigned int)checked, shim_gate_fail,
	    shim_gate_nfail, released) == -1)
		shim_log("VM %s: could not tell rasd which ranges cannot be "
		    "re-armed: %s", shim_id_get()->name, rasc_strerror(c));
	pthread_mutex_unlock(&shim_gate_buf_lock);
}

/*
 * Re-arm every range rasd reported last. Returns how many there are;
 * *failed gets how many could not be re-armed, err the first reason,
 * *bytes the size re-armed.
 */
static int
shim_gate_rearm_all(struct rasc *c, int *failed, uint64_t *bytes,
    char *err, size_t errlen)
{
	char	why[512];
	int	i, n;

	*failed = 0;
	*bytes = 0;
	pthread_mutex_lock(&shim_gate_buf_lock);
	shim_gate_nfail = 0;
	n = rasc_active(c, shim_gate_buf, RASC_ACTIVE_MAX);
	if (n > RASC_ACTIVE_MAX)
		n = RASC_ACTIVE_MAX;
	for (i = 0; i < n; i++) {
		if (shim_gate_rearm_one(&shim_gate_buf[i], why, sizeof why) ==
		    -1) {
			if ((*failed)++ == 0)
				snprintf(err, errlen, "%s", why);
			shim_gate_note(&shim_gate_buf[i], why);
		} else
			*bytes += shim_gate_buf[i].length;
	}
	pthread_mutex_unlock(&shim_gate_buf_lock);
	return n;
}

/*
 * Wait until rasd has answered the registration, at most wait_ms.
 * Returns the client, or NULL with the reason in err.
 */
static struct rasc *
shim_gate_wait(int wait_ms, char *err, size_t errlen)
{
	const struct shim_id	*id = shim_id_get();
	struct timespec		 t0, now, nap = { 0, SHIM_GATE_POLL_NS };
	struct rasc		*c;
	char			 why[256];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		c = shim_client();
		if (c != NULL && (shim_registered() || rasc_connected(c)))
			return c;
		if (shim_stopped(why, sizeof why)) {
			snprintf(err, errlen, "%s", why);
			return NULL;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (shim_gate_ms_since(&t0, &now) >= wait_ms) {
			if (c != NULL)
				snprintf(err, errlen, "rasd at %s did not take "
				    "the registration within %d ms (%s)",
				    id->socket, shim_gate_ms,
				    rasc_strerror(c));
			else
				snprintf(err, errlen, "the shim did not "
				    "register with rasd at %s within %d ms",
				    id->socket, shim_gate_ms);
			return NULL;
		}
		nanosleep(&nap, NULL);
	}
}

/*
 * Ask rasd for the VM's final state, within what is left of wait_ms since
 * t0. Returns 0, or -1 with the reason in err.
 */
static int
shim_gate_final(struct rasc *c, const struct timespec *t0, int wait_ms,
    char *err, size_t errlen)
{
	struct timespec	now;
	double		left;
	int		rc;

	clock_gettime(CLOCK_MONOTONIC, &now);
	left = wait_ms - shim_gate_ms_since(t0, &now);
	if ((rc = rasc_await_final(c, left >= 1 ? (int)left : 1)) >= 0)
		return rc;		/* 1: the operator released the gate */
	snprintf(err, errlen, "rasd did not confirm the VM's final poison "
	    "set: %s", rasc_strerror(c));
	return -1;
}

/*
 * The gate could not do its job: hold the guest (RASD_SHIM_REQUIRED=1;
 * said once) or let it run (said once). n < 0: how many ranges is not
 * known.
 */
static int
shim_gate_failed(int retry, int n, const char *why)
{
	const struct shim_id	*id = shim_id_get();
	char			 what[64];

	shim_gate_what(n, what, sizeof what);
	if (shim_gate_required) {
		if (!retry)
			shim_log("VM %s: cannot re-arm %s before the guest "
			    "runs: %s; holding its vCPUs and trying again "
			    "every %d ms (the migration has completed: "
			    "stopping this QEMU now would lose the guest)",
			    id->name, what, why, SHIM_GATE_RETRY_MS);
		return SHIM_GATE_HOLD;
	}
	shim_log("VM %s: cannot re-arm %s before the guest runs: %s; the "
	    "guest runs without them (RASD_SHIM_REQUIRED=1 would hold it "
	    "instead)", id->name, what, why);
	return SHIM_GATE_RUN;
}

/*
 * The gate's work, by one vCPU thread at a time: the first try, or a
 * retry of a held guest. Returns SHIM_GATE_RUN or SHIM_GATE_HOLD.
 */
static int
shim_gate_work(int retry)
{
	const struct shim_id	*id = shim_id_get();
	struct timespec		 t0, t1, t2, t3;
	struct rasc		*c;
	uint64_t		 bytes;
	char			 err[512], unsure[512];
	int			 n, failed, final, wait_ms;

	/* A retry does not wait: it comes back in a second anyway. */
	wait_ms = retry ? 0 : shim_gate_ms;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((c = shim_gate_wait(wait_ms, err, sizeof err)) == NULL) {
		/* If rasd answers later, re-arm then. */
		if (!shim_gate_required && !shim_stopped(NULL, 0)) {
			atomic_store(&shim_gate_late_v, 1);
			shim_wake();
		}
		return shim_gate_failed(retry, -1, err);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Poison the source saw after the bundle's snapshot: ask now. */
	final = shim_gate_final(c, &t0, retry ? SHIM_GATE_RETRY_MS :
	    shim_gate_ms, unsure, sizeof unsure);
	if (atomic_load(&shim_gate_broken) && final != 1)
		return shim_gate_failed(retry, rasc_active(c, NULL, 0),
		    shim_gate_why);
	if (final == -1 && shim_gate_required)
		return shim_gate_failed(retry, -1, unsure);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	n = shim_gate_rearm_all(c, &failed, &bytes, err, sizeof err);
	clock_gettime(CLOCK_MONOTONIC, &t3);
	if (final == 1) {
		/* The operator's way out when the source host is gone. */
		shim_log("VM %s: the operator released the gate (rasctl "
		    "release --force): the guest runs with the imported state; "
		    "re-armed %d of %d poisoned ranges%s%s", id->name,
		    n - failed, n, failed > 0 ? ", not: " : "",
		    failed > 0 ? err : "");
		shim_gate_report(c, n, 1);
		return SHIM_GATE_RUN;
	}
	if (failed > 0)
		return shim_gate_failed(retry, failed, err);
	if (final == -1)
		shim_log("VM %s: cannot re-arm its poisoned ranges before the "
		    "guest runs: %s; re-armed the %d it had at the "
		    "registration, the guest runs without any later ones "
		    "(RASD_SHIM_REQUIRED=1 would hold it instead)", id->name,
		    unsure, n);
	else if (retry)
		shim_log("VM %s: re-armed %d poisoned range%s (%llu bytes) "
		    "after holding the guest %.1f s; it runs now", id->name, n,
		    n == 1 ? "" : "s", (unsigned long long)bytes,
		    shim_gate_ms_since(&shim_gate_held_at, &t3) / 1e3);
	else if (n > 0)
		shim_log("VM %s: re-armed %d poisoned range%s (%llu bytes) "
		    "before the guest runs: %.3f ms, after %.3f ms waiting "
		    "for rasd (final state %.3f ms)", id->name, n,
		    n == 1 ? "" : "s", (unsigned long long)bytes,
		    shim_gate_ms_since(&t2, &t3), shim_gate_ms_since(&t0, &t2),
		    shim_gate_ms_since(&t1, &t2));
	return SHIM_GATE_RUN;
}

/*
 * Whether QEMU has kicked this held vCPU thread (it wants it back: to
 * pause, migrate, quit): QEMU then sets kvm_run->immediate_exit, and a
 * KVM_RUN returns EINTR without entering the guest.
 */
static int
shim_gate_kicked(int fd)
{
	void	*p;

	if (shim_gate_run_fd != fd) {
		if (shim_gate_run != NULL)
			munmap((void *)(uintptr_t)shim_gate_run, SHIM_PAGE);
		shim_gate_run = NULL;
		shim_gate_run_fd = fd;
		p = mmap(NULL, SHIM_PAGE, PROT_READ, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED)
			shim_gate_run = p;
	}
	return shim_gate_run != NULL && shim_gate_run->immediate_exit != 0;
}

/* Whether *t has come. */
static int
shim_gate_due(const struct timespec *t)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return shim_gate_ms_since(t, &now) >= 0;
}

/*
 * A KVM_RUN on vCPU fd while the gate is closed (shim_kvm.c). Returns when
 * the guest may run, or when QEMU kicked a held vCPU (the KVM_RUN then
 * comes back with EINTR, and the next one lands here again). The first
 * thread to arrive does the work while the others wait for it.
 */
void
shim_gate_pass(int fd)
{
	struct timespec	nap = { 0, SHIM_GATE_HOLD_NS };
	int		rc, retry;

	atomic_store(&shim_gate_reached, 1);
	pthread_mutex_lock(&shim_gate_lock);
	for (;;) {
		if (atomic_load(&shim_gate_open_v))
			break;
		if (!shim_gate_busy && (!shim_gate_held ||
		    shim_gate_due(&shim_gate_next))) {
			shim_gate_busy = 1;
			retry = shim_gate_held;
			pthread_mutex_unlock(&shim_gate_lock);
			rc = shim_gate_work(retry);
			pthread_mutex_lock(&shim_gate_lock);
			shim_gate_busy = 0;
			if (rc == SHIM_GATE_RUN)
				atomic_store(&shim_gate_open_v, 1);
			else {
				if (!shim_gate_held)
					clock_gettime(CLOCK_MONOTONIC,
					    &shim_gate_held_at);
				shim_gate_held = 1;
				clock_gettime(CLOCK_MONOTONIC, &shim_gate_next);
				shim_gate_next.tv_sec += SHIM_GATE_RETRY_MS / 1000;
			}
			pthread_cond_broadcast(&shim_gate_cond);
			continue;
		}
		if (!shim_gate_held) {
			/* The first try is under way on another vCPU. */
			pthread_cond_wait(&shim_gate_cond, &shim_gate_lock);
			continue;
		}
		/* Held: QEMU may want this vCPU back meanwhile. */
		pthread_mutex_unlock(&shim_gate_lock);
		if (shim_gate_kicked(fd))
			return;
		nanosleep(&nap, NULL);
		pthread_mutex_lock(&shim_gate_lock);
	}
	pthread_mutex_unlock(&shim_gate_lock);
	if (shim_gate_run != NULL) {
		munmap((void *)(uintptr_t)shim_gate_run, SHIM_PAGE);
		shim_gate_run = NULL;
		shim_gate_run_fd = -1;
	}
}

/* Whether a late re-arm waits for rasd. */
int
shim_gate_late(void)
{
	return atomic_load(&shim_gate_late_v);
}

/*
 * The shim's thread, once rasd has answered the registration, and again
 * while a late re-arm is pending. A migration destination checks early
 * that the kernel can re-arm (and stops, with RASD_SHIM_REQUIRED=1, if
 * not), and re-arms late if the gate had to let the guest run without
 * rasd; any other VMM remembers where its poisoned memory is.
 */
void
shim_gate_registered(struct rasc *c)
{
	const struct shim_id	*id = shim_id_get();
	struct shim_piece	 p[SHIM_GATE_PIECES];
	struct timespec		 t0;
	uint64_t		 bytes, hole;
	char			 err[512];
	int			 i, j, k, n, failed;

	if (id->resume && !shim_gate_seen++ &&
	    !atomic_load(&shim_gate_open_v) && rasc_active(c, NULL, 0) > 0) {
		/* Known before the migration ends: say it while it fails. */
		if (shim_gate_probe(err, sizeof err) == -1) {
			snprintf(shim_gate_why, sizeof shim_gate_why, "%s", err);
			atomic_store(&shim_gate_broken, 1);
			shim_gate_exit(rasc_active(c, NULL, 0), err);
		} else if ((failed = shim_gate_preflight(c, &n)) > 0) {
			snprintf(shim_gate_why, sizeof shim_gate_why,
			    "%d of %d poisoned ranges cannot be re-armed here: "
			    "0x%llx+%llu: %s", failed, n,
			    (unsigned long long)shim_gate_fail[0].gpa,
			    (unsigned long long)shim_gate_fail[0].length,
			    shim_gate_fail[0].reason);
			shim_log("VM %s: pre-flight: %s", id->name,
			    shim_gate_why);
			shim_gate_report(c, n, 0);
			atomic_store(&shim_gate_broken, 1);
			shim_gate_exit(failed, shim_gate_why);
		}
	}
	if (id->resume) {
		if (!atomic_exchange(&shim_gate_late_v, 0))
			return;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (shim_gate_final(c, &t0, shim_gate_ms, err, sizeof err) ==
		    -1)
			shim_log("VM %s: rasd is back, but %s; re-arming the "
			    "ranges it had at the registration", id->name, err);
		n = shim_gate_rearm_all(c, &failed, &bytes, err, sizeof err);
		if (failed > 0)
			shim_log("VM %s: rasd is back, but %d of %d poisoned "
			    "ranges cannot be re-armed: %s", id->name, failed,
			    n, err);
		else if (n > 0)
			shim_log("VM %s: rasd is back; re-armed %d poisoned "
			    "range%s (%llu bytes) late, the guest ran without "
			    "them until now", id->name, n, n == 1 ? "" : "s",
			    (unsigned long long)bytes);
		return;
	}
	if (shim_gate_seen++)
		return;
	pthread_mutex_lock(&shim_gate_buf_lock);
	n = rasc_active(c, shim_gate_buf, RASC_ACTIVE_MAX);
	if (n > RASC_ACTIVE_MAX)
		n = RASC_ACTIVE_MAX;
	for (i = 0; i < n; i++) {
		if ((k = shim_kvm_translate(shim_gate_buf[i].gpa,
		    shim_gate_buf[i].length, p, SHIM_GATE_PIECES, &hole)) == -1)
			continue;
		for (j = 0; j < k; j++)
			shim_poison_add(p[j].hva, p[j].len, 0);
	}
	pthread_mutex_unlock(&shim_gate_buf_lock);
}
