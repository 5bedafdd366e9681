/*
 * shim_poison.c -- poison markers, and keeping QEMU alive when its
 * migration thread reads one.
 *
 * DESIGN: a poison marker is what UFFDIO_POISON (Linux 6.6+) leaves in a
 * page table: any later access to that host page raises SIGBUS, as real
 * hardware poison does. shim_poison_arm() installs one on a host range the
 * only way the kernel allows: a userfaultfd of the shim's own
 * (UFFD_USER_MODE_ONLY: QEMU under libvirt has no CAP_SYS_PTRACE and
 * vm.unprivileged_userfaultfd is 0), UFFDIO_REGISTER of exactly that range
 * in missing mode, MADV_DONTNEED so the page is absent, then
 * UFFDIO_POISON. The userfaultfd is closed right away: the marker is a
 * page-table entry and outlives the registration (measured: the page still
 * reads EIO through /proc/PID/mem after close and after UFFDIO_UNREGISTER).
 * Keeping it registered would be harmful: if QEMU ever discarded the page
 * again (balloon, reset remap) a missing-page fault there would be a
 * userfault nobody reads -- a thread faulting in user mode would hang,
 * and KVM faulting in kernel mode gets EFAULT under UFFD_USER_MODE_ONLY,
 * which stops QEMU.
 *
 * The table. The shim remembers which host memory of this process is
 * poisoned: every granule it forwarded (shim_sig.c adds it from the
 * SIGBUS wrapper), every range rasd reported active at the registration
 * and every range re-armed on a migration destination (shim_gate.c). It is
 * append-only and read by the SIGBUS wrapper, so it uses atomics only.
 *
 * A forwarded granule must fault from then on, as rasd now holds it
 * poisoned and a migration will re-arm it on the destination. Real
 * hardware poison does, the kernel has unmapped the page; a memory error
 * that was only signalled (a test injects SIGBUS with ptrace, TESTBED.md)
 * leaves a readable page. So the shim's thread looks at each forwarded
 * granule in guest RAM through /proc/self/mem, and where it still reads,
 * puts a poison marker on it. On real poison that costs one pread.
 *
 * The rescue. QEMU 7.2 reads every guest page from its migration thread
 * ("live_migration"), and one read of poisoned memory there kills it: the
 * thread blocks SIGBUS like all of QEMU's helper threads, so the kernel
 * resets SIGBUS to its default and ends the process (with SIGBUS
 * unblocked, QEMU's own handler asserts the code is not AR off a vCPU
 * thread and aborts). shim_sig.c therefore unblocks SIGBUS in the
 * migration thread, and the wrapper calls shim_poison_rescue() first: a
 * memory-error fault (BUS_MCEERR_AR, or BUS_ADRERR, what a marker gives on
 * kernels without CONFIG_MEMORY_FAILURE) on a thread that never entered
 * KVM_RUN, at an address in the table, gets zeros there for a moment; the
 * read completes and QEMU sends a zero page. That is harmless for the
 * migration: the destination re-arms the range from rasd's state before
 * its guest runs. Nothing new is forwarded -- rasd already has the range.
 *
 * No vCPU may see those zeros: the guest was told about one 4 KiB page of
 * a 2 MiB granule and may read the rest, and a guest that reads zeros
 * where memory failed is silently corrupted. So the rescue, in the
 * handler, with atomics and system calls only:
 *  1. takes a hold and evicts every vCPU (shim_kvm.c: kick with QEMU's
 *     SIG_IPI, wait until none is inside KVM_RUN, at most
 *     SHIM_POISON_EVICT_MS); the vCPUs park in the KVM_RUN wrapper;
 *  2. moves the whole range -- the granule, 2 MiB or 1 GiB for a huge
 *     page -- out of the way with mremap(MREMAP_FIXED) onto address space
 *     the shim reserved for it beforehand (aligned to the backing's page
 *     size, as hugetlbfs needs), and maps anonymous zero pages in its
 *     place for the reader.
 * SHIM_POISON_REARM_MS later the shim's thread moves the range back over
 * the zeros (one mremap: nobody sees a hole), reserves the space again,
 * and only then releases the hold. The range that comes back is the
 * original mapping itself: the same file and offset of a shared memfd or
 * hugetlbfs backing (so vhost-user backends, which map that file too,
 * never diverge: their view never changed), with its pages and page-table
 * entries, poison markers and hardware-poison entries included -- so
 * nothing is re-poisoned and there is no window between MADV_DONTNEED and
 * UFFDIO_POISON. If the migration fails or is cancelled, the guest, still
 * on this host, faults there as before.
 *
 * What must exist before the handler runs is prepared by the shim's
 * thread when a range enters the table: the backing's page size (from
 * /proc/self/smaps) and the reserved, aligned address space. A rescue that
 * finds its range not prepared yet waits for that, briefly.
 *
 * When the rescue cannot keep the vCPUs out (a vCPU stays inside KVM_RUN
 * past the bound, more vCPU threads than the table holds, or SIGUSR1 has
 * no handler, so a kick would end the process) it does not hand out
 * zeros: it releases the hold, waits SHIM_POISON_BACKOFF_MS with the
 * guest running, and lets the read fault again; the migration stalls
 * rather than the guest reading zeros, and the shim's thread says so.
 * When the range cannot be moved (it spans two mappings, it is not
 * aligned to its backing's pages, mremap fails), QEMU's handler gets the
 * fault, as without the shim.
 *
 * Not covered: only vCPUs are held. Other users of the range in this
 * process during the window -- a vhost-kernel worker or a device model
 * doing DMA there, KVM completing an interrupted MMIO string instruction
 * when QEMU lets a kicked vCPU's KVM_RUN through -- read zeros, and what
 * they write there is lost when the range moves back; none of them should
 * touch memory the guest was told is bad.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include <linux/falloc.h>

#include <linux/userfaultfd.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

#ifndef BUS_MCEERR_AR
#define BUS_MCEERR_AR 4
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1ULL << 14)
#endif

/* UFFDIO_POISON (Linux 6.6); Debian 12's headers predate it. */
struct shim_uffdio_poison {
	struct uffdio_range	range;
	uint64_t		mode;
	int64_t			updated;
};
_Static_assert(sizeof(struct shim_uffdio_poison) == 32,
    "struct uffdio_poison is 32 bytes");
#define SHIM_UFFDIO_POISON _IOWR(UFFDIO, 0x08, struct shim_uffdio_poison)

#define SHIM_POISON_MAX 1024		/* host ranges remembered */
#define SHIM_POISON_REARM_MS 20		/* zero pages live this long */
#define SHIM_POISON_RETRY_MS 5		/* after a move back that failed */
#define SHIM_POISON_EVICT_MS 100	/* vCPUs must leave within this */
#define SHIM_POISON_BACKOFF_MS 100	/* then the guest runs this long */
#define SHIM_POISON_PREP_MS 1000	/* a rescue waits this for prep */
#define SHIM_PAGE 4096ULL
#define SHIM_MS 1000000ULL

/* Where a range is (state). */
#define SHIM_POISON_IN	0		/* in place */
#define SHIM_POISON_BUSY 1		/* a rescue is moving it */
#define SHIM_POISON_AWAY 2		/* moved away, zeros stand in, held */
#define SHIM_POISON_BACK 3		/* being moved back */

/* What a range is ready for (prep). */
#define SHIM_POISON_TODO 0		/* the shim's thread prepares it */
#define SHIM_POISON_READY 1		/* a rescue can move it */
#define SHIM_POISON_CANNOT (-1)		/* never: QEMU's handler acts */

/* One poisoned host range of this process. */
struct shim_poison {
	atomic_int		ready;		/* 1: the fields below are set;
						   2: retired by a guest reset */
	uintptr_t		start;
	uint64_t		len;
	atomic_int		state;		/* SHIM_POISON_IN ... */
	atomic_int		prep;		/* SHIM_POISON_TODO ... */
	_Atomic(uintptr_t)	spare;		/* reserved room to move to */
	uintptr_t		away;		/* where it is while AWAY */
	uint64_t		align;		/* the backing's page size */
	int			shared;		/* a shared mapping (memfd...) */
	atomic_uint		zeroed;		/* rescues so far */
	_Atomic uint64_t	due;		/* CLOCK_MONOTONIC ns */
	_Atomic uint64_t	held_at;	/* the hold was taken */
	uint64_t		held_ns;	/* the thread's: last hold */
	char			comm[16];	/* who read it last */
	atomic_int		error;		/* errno of a failed rescue */
	atomic_uint		stuck;		/* evictions past the bound */
	atomic_int		check;		/* forwarded: make it fault */
	int			logged;		/* the thread's: said so once */
	int			said_back;	/* ... that it cannot go back */
	int			said_stuck;	/* ... that vCPUs stayed in */
};

static struct shim_poison	shim_poison_tab[SHIM_POISON_MAX];
static atomic_uint		shim_poison_n;
static atomic_uint		shim_poison_lost;

/* Write an error message. */
static int
shim_poison_err(char *err, size_t errlen, const char *what, int error)
{
	snprintf(err, errlen, "%s: %s", what, strerror(error));
	return -1;
}

/*
 * Put a poison marker on [hva, hva + len) (whole pages). Ordinary threads
 * only. Returns 0, or -1 with the reason in err.
 */
int
shim_poison_arm(uintptr_t hva, uint64_t len, char *err, size_t errlen)
{
	struct uffdio_api		api;
	struct uffdio_register		reg;
	struct shim_uffdio_poison	p;
	char				what[96];
	int				fd, error, rc = -1;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK |
	    UFFD_USER_MODE_ONLY);
	if (fd == -1 && errno == EINVAL)	/* before Linux 5.11 */
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd == -1)
		return shim_poison_err(err, errlen, "userfaultfd", errno);

	memset(&api, 0, sizeof api);
	api.api = UFFD_API;
	api.features = UFFD_FEATURE_POISON;
	if (ioctl(fd, UFFDIO_API, &api) == -1) {
		error = errno;
		if (error == EINVAL)
			snprintf(err, errlen, "this kernel has no UFFDIO_POISON "
			    "(Linux 6.6+)");
		else
			shim_poison_err(err, errlen, "UFFDIO_API", error);
		goto out;
	}
	memset(&reg, 0, sizeof reg);
	reg.range.start = hva;
	reg.range.len = len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(fd, UFFDIO_REGISTER, &reg) == -1) {
		snprintf(what, sizeof what, "UFFDIO_REGISTER of 0x%llx+%llu",
		    (unsigned long long)hva, (unsigned long long)len);
		shim_poison_err(err, errlen, what, errno);
		goto out;
	}
	if (madvise((void *)hva, len, MADV_DONTNEED) == -1) {
		shim_poison_err(err, errlen, "MADV_DONTNEED", errno);
		goto out;
	}
	memset(&p, 0, sizeof p);
	p.range.start = hva;
	p.range.len = len;
	if (ioctl(fd, SHIM_UFFDIO_POISON, &p) == -1) {
		snprintf(what, sizeof what, "UFFDIO_POISON of 0x%llx+%llu",
		    (unsigned long long)hva, (unsigned long long)len);
		shim_poison_err(err, errlen, what, errno);
		goto out;
	}
	if (p.updated != (int64_t)len) {
		snprintf(err, errlen, "UFFDIO_POISON of 0x%llx+%llu poisoned "
		    "%lld bytes", (unsigned long long)hva,
		    (unsigned long long)len, (long long)p.updated);
		goto out;
	}
	rc = 0;
out:
	/* The marker stays; the registration goes (see above). */
	close(fd);
	return rc;
}

/* How many table entries are in use. Async-signal-safe. */
static unsigned int
shim_poison_count(void)
{
	unsigned int	n = atomic_load(&shim_poison_n);

	return n < SHIM_POISON_MAX ? n : SHIM_POISON_MAX;
}

/* The entry whose range holds addr, or NULL. Async-signal-safe. */
static struct shim_poison *
shim_poison_find(uintptr_t addr)
{
	struct shim_poison	*e;
	unsigned int		 i, n = shim_poison_count();

	for (i = 0; i < n; i++) {
		e = &shim_poison_tab[i];
		if (atomic_load(&e->ready) == 1 && addr - e->start < e->len)
			return e;
	}
	return NULL;
}

/*
 * Remember that [start, start + len) of this process is poisoned (widened
 * to whole pages); check: it was forwarded, the shim's thread makes sure
 * it faults. Async-signal-safe: the table only grows, and the shim's
 * thread does the rest (shim_poison_prepare()).
 */
void
shim_poison_add(uintptr_t start, uint64_t len, int check)
{
	struct shim_poison	*e;
	uintptr_t		 end;
	unsigned int		 i, n = shim_poison_count();

	if (len == 0)
		return;
	end = (start + len + SHIM_PAGE - 1) & ~(uintptr_t)(SHIM_PAGE - 1);
	start &= ~(uintptr_t)(SHIM_PAGE - 1);
	for (i = 0; i < n; i++) {
		e = &shim_poison_tab[i];
		if (atomic_load(&e->ready) == 1 &&
		    start - e->start < e->len && end - e->start <= e->len)
			goto found;
	}
	if ((i = atomic_fetch_add(&shim_poison_n, 1)) >= SHIM_POISON_MAX) {
		atomic_fetch_add(&shim_poison_lost, 1);
		return;
	}
	e = &shim_poison_tab[i];
	e->start = start;
	e->len = end - start;
	atomic_store(&e->ready, 1);
	/* The shim's thread prepares it for a rescue. */
	shim_wake();
found:
	if (check) {
		atomic_store(&e->check, 1);
		shim_wake();
	}
}

/* Whether the page at addr of this process reads (is not poisoned). */
static int
shim_poison_readable(uintptr_t addr)
{
	uint8_t	b;
	ssize_t	n;
	int	fd;

	if ((fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = pread(fd, &b, 1, (off_t)addr);
	close(fd);
	return n == 1;
}

/*
 * A forwarded granule: if it is guest RAM and still reads, put a marker
 * on it so that it faults like the hardware poison rasd now records.
 */
static void
shim_poison_check(struct shim_poison *e)
{
	const struct shim_id	*id = shim_id_get();
	uint64_t		 gpa;
	char			 err[256];

	if (shim_kvm_gpa(e->start, &gpa) == -1 ||
	    !shim_poison_readable(e->start))
		return;
	if (shim_poison_arm(e->start, e->len, err, sizeof err) == -1 &&
	    !e->logged) {
		e->logged = 1;
		shim_log("VM %s: the memory error at guest address 0x%llx was "
		    "forwarded, but its page still reads and no poison marker "
		    "could be put on it: %s", id->name,
		    (unsigned long long)gpa, err);
	}
}

/* CLOCK_MONOTONIC in ns. Async-signal-safe. */
static uint64_t
shim_poison_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Sleep ms milliseconds. Async-signal-safe. */
static void
shim_poison_nap(unsigned int ms)
{
	struct timespec	ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Reserve len bytes of address space aligned to align, for a range to be
 * moved to. Returns the address, or 0. Ordinary threads only.
 */
static uintptr_t
shim_poison_reserve(uint64_t len, uint64_t align)
{
	uintptr_t	p, a;
	uint64_t	size = len + align - SHIM_PAGE;
	void		*m;

	m = mmap(NULL, (size_t)size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
	    MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return 0;
	p = (uintptr_t)m;
	a = (p + align - 1) & ~(uintptr_t)(align - 1);
	/* Head and tail are still ours alone: give them back. */
	if (a > p)
		munmap(m, a - p);
	if (p + size > a + len)
		munmap((void *)(a + len), (size_t)(p + size - (a + len)));
	return a;
}

/*
 * The page size and sharing of the mapping that holds addr, from
 * /proc/self/smaps. Returns 0, or -1 if no mapping holds it.
 */
static int
shim_poison_backing(uintptr_t addr, uint64_t *pagesize, int *shared,
    uintptr_t *end)
{
	unsigned long	 lo, hi, kb;
	char		 line[512], perms[8];
	FILE		*f;
	int		 found = 0;

	if ((f = fopen("/proc/self/smaps", "re")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (!found) {
			if (sscanf(line, "%lx-%lx %7s ", &lo, &hi, perms) == 3 &&
			    addr >= lo && addr < hi) {
				found = 1;
				*shared = perms[3] == 's';
				*end = hi;
				*pagesize = SHIM_PAGE;
			}
			continue;
		}
		if (sscanf(line, "KernelPageSize: %lu kB", &kb) == 1) {
			*pagesize = (uint64_t)kb * 1024;
			break;
		}
		/* The next mapping's header: no page size line. */
		if (sscanf(line, "%lx-%lx %7s ", &lo, &hi, perms) == 3)
			break;
	}
	fclose(f);
	return found ? 0 : -1;
}

/*
 * From the shim's thread, when a range enters the table: what a rescue
 * needs and may not make in a signal handler -- the backing's page size
 * and room to move the range to, aligned to it.
 */
static void
shim_poison_prepare(struct shim_poison *e)
{
	const struct shim_id	*id = shim_id_get();
	uint64_t		 pagesize = SHIM_PAGE;
	uintptr_t		 end = 0, spare;
	int			 shared = 0;

	if (shim_poison_backing(e->start, &pagesize, &shared, &end) == -1) {
		/* Not mapped (yet): a later wake tries again. */
		return;
	}
	e->align = pagesize < SHIM_PAGE ? SHIM_PAGE : pagesize;
	e->shared = shared;
	if ((e->start & (e->align - 1)) != 0 || (e->len & (e->align - 1)) !=
	    0) {
		shim_log("VM %s: poisoned range at 0x%llx (%llu bytes) is not "
		    "made of whole %llu-byte pages of its backing; QEMU's "
		    "migration thread cannot be rescued there", id->name,
		    (unsigned long long)e->start, (unsigned long long)e->len,
		    (unsigned long long)e->align);
		atomic_store(&e->prep, SHIM_POISON_CANNOT);
		return;
	}
	if ((spare = shim_poison_reserve(e->len, e->align)) == 0) {
		shim_log("VM %s: no address space to prepare the poisoned range "
		    "at 0x%llx (%llu bytes) for a rescue: %s", id->name,
		    (unsigned long long)e->start, (unsigned long long)e->len,
		    strerror(errno));
		return;
	}
	atomic_store(&e->spare, spare);
	atomic_store(&e->prep, SHIM_POISON_READY);
}

/* The rescue could not keep the vCPUs out: the guest runs, the read
 * faults again later. Async-signal-safe. */
static int
shim_poison_backoff(struct shim_poison *e, uintptr_t spare)
{
	atomic_store(&e->spare, spare);
	atomic_store(&e->state, SHIM_POISON_IN);
	shim_kvm_release();
	atomic_fetch_add(&e->stuck, 1);
	shim_wake();
	shim_poison_nap(SHIM_POISON_BACKOFF_MS);
	return 1;
}

/* A rescue step failed with errno: QEMU's handler acts. */
static int
shim_poison_fail(struct shim_poison *e, int error)
{
	atomic_store(&e->error, error);
	atomic_store(&e->state, SHIM_POISON_IN);
	shim_wake();
	return 0;
}

/*
 * From the SIGBUS wrapper, before anything else: if this is a thread other
 * than a vCPU faulting on memory the shim knows is poisoned, hold the
 * vCPUs out of the guest, move the range away and give the reader zero
 * pages there; the shim's thread moves it back and releases the vCPUs.
 * Returns 1 when the fault was handled (the wrapper then returns, and the
 * faulting access is retried), 0 to go on as usual. Async-signal-safe.
 */
int
shim_poison_rescue(const siginfo_t *si)
{
	struct shim_poison	*e;
	uintptr_t		 spare;
	unsigned int		 waited;
	long			 rc;
	int			 expected, error;

	if (si->si_code != BUS_MCEERR_AR && si->si_code != BUS_ADRERR)
		return 0;
	/* A vCPU's memory error is the guest's: QEMU injects it. */
	if (shim_kvm_on_vcpu())
		return 0;
	/* Nobody would move it back. */
	if (shim_stopped(NULL, 0))
		return 0;
	if ((e = shim_poison_find((uintptr_t)si->si_addr)) == NULL)
		return 0;
	expected = SHIM_POISON_IN;
	if (!atomic_compare_exchange_strong(&e->state, &expected,
	    SHIM_POISON_BUSY)) {
		/* Another reader's rescue, or the move back: try again. */
		shim_poison_nap(1);
		return 1;
	}
	for (waited = 0; atomic_load(&e->prep) == SHIM_POISON_TODO &&
	    waited < SHIM_POISON_PREP_MS; waited++) {
		shim_wake();
		shim_poison_nap(1);
	}
	if (atomic_load(&e->prep) != SHIM_POISON_READY)
		return shim_poison_fail(e, atomic_load(&e->prep) ==
		    SHIM_POISON_TODO ? ETIMEDOUT : ENOTSUP);
	if ((spare = atomic_exchange(&e->spare, 0)) == 0) {
		/* The shim's thread reserves room again; the guest runs. */
		atomic_store(&e->state, SHIM_POISON_IN);
		shim_wake();
		shim_poison_nap(SHIM_POISON_RETRY_MS);
		return 1;
	}

	shim_kvm_hold();
	atomic_store(&e->held_at, shim_poison_now());
	if (shim_kvm_evict(SHIM_POISON_EVICT_MS * SHIM_MS) == -1)
		return shim_poison_backoff(e, spare);
	/* No vCPU is in the guest, and none goes in until the release. */
	rc = syscall(SYS_mremap, (void *)e->start, (size_t)e->len,
	    (size_t)e->len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)spare);
	if (rc == -1) {
		error = errno;
		atomic_store(&e->spare, spare);
		shim_kvm_release();
		return shim_poison_fail(e, error);
	}
	e->away = spare;
	rc = syscall(SYS_mmap, (void *)e->start, (size_t)e->len,
	    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
	    MAP_NORESERVE, -1, 0L);
	if (rc == -1) {
		error = errno;
		/* Put it back as it was; the room is lost, the thread
		 * reserves more. */
		(void)syscall(SYS_mremap, (void *)spare, (size_t)e->len,
		    (size_t)e->len, MREMAP_MAYMOVE | MREMAP_FIXED,
		    (void *)e->start);
		shim_kvm_release();
		return shim_poison_fail(e, error);
	}
	/* The thread may be gone when the shim's thread logs. */
	if (prctl(PR_GET_NAME, e->comm, 0, 0, 0) == -1)
		e->comm[0] = '\0';
	e->comm[sizeof e->comm - 1] = '\0';
	atomic_store(&e->due, shim_poison_now() + SHIM_POISON_REARM_MS *
	    SHIM_MS);
	atomic_fetch_add(&e->zeroed, 1);
	atomic_store(&e->state, SHIM_POISON_AWAY);
	shim_wake();
	return 1;
}

/*
 * Move a range that is AWAY back over the zero pages, reserve its room
 * again, and release the hold. Returns 1 when moved back, 0 when it was
 * not away, -1 (errno) when the move failed: it stays away, the vCPUs
 * stay held. Ordinary threads only.
 */
static int
shim_poison_back(struct shim_poison *e)
{
	uintptr_t	 away = e->away;
	void		*p;
	int		 expected = SHIM_POISON_AWAY, error;

	if (!atomic_compare_exchange_strong(&e->state, &expected,
	    SHIM_POISON_BACK))
		return 0;
	if (mremap((void *)away, (size_t)e->len, (size_t)e->len,
	    MREMAP_MAYMOVE | MREMAP_FIXED, (void *)e->start) == MAP_FAILED) {
		error = errno;
		atomic_store(&e->state, SHIM_POISON_AWAY);
		errno = error;
		return -1;
	}
	e->held_ns = shim_poison_now() - atomic_load(&e->held_at);
	/* The same room again, unless someone took it meanwhile. */
	p = mmap((void *)away, (size_t)e->len, PROT_NONE, MAP_PRIVATE |
	    MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == (void *)away)
		atomic_store(&e->spare, away);
	else if (p != MAP_FAILED)
		munmap(p, (size_t)e->len);
	atomic_store(&e->state, SHIM_POISON_IN);
	shim_kvm_release();
	return 1;
}

/* "guest address 0x..." or "host address 0x..." of a range, for logs. */
static void
shim_poison_where(const struct shim_poison *e, char *out, size_t len)
{
	uint64_t	gpa;

	if (shim_kvm_gpa(e->start, &gpa) == 0)
		snprintf(out, len, "guest address 0x%llx",
		    (unsigned long long)gpa);
	else
		snprintf(out, len, "host address 0x%llx",
		    (unsigned long long)e->start);
}

/*
 * From the shim's thread, for one range: move it back once its time has
 * come, and say so once. Returns the ns until it is due, or UINT64_MAX.
 */
static uint64_t
shim_poison_return(struct shim_poison *e)
{
	const struct shim_id	*id = shim_id_get();
	uint64_t		 now, due;
	char			 comm[16], where[64];

	if (atomic_load(&e->state) != SHIM_POISON_AWAY)
		return UINT64_MAX;
	now = shim_poison_now();
	due = atomic_load(&e->due);
	if (now < due)
		return due - now;
	shim_poison_where(e, where, sizeof where);
	memcpy(comm, e->comm, sizeof comm);
	comm[sizeof comm - 1] = '\0';
	if (shim_poison_back(e) == -1) {
		if (!e->said_back++)
			shim_log("VM %s: thread \"%s\" read poisoned memory at "
			    "%s (%llu bytes) and got zeros, but the memory "
			    "cannot be put back: %s; the guest's vCPUs stay "
			    "held, trying again every %d ms", id->name, comm,
			    where, (unsigned long long)e->len,
			    strerror(errno), SHIM_POISON_RETRY_MS);
		return SHIM_POISON_RETRY_MS * SHIM_MS;
	}
	if (e->said_back) {
		e->said_back = 0;
		shim_log("VM %s: the poisoned memory at %s is back in place; "
		    "the guest runs again", id->name, where);
	}
	if (!e->logged) {
		e->logged = 1;
		shim_log("VM %s: thread \"%s\" read poisoned memory at %s "
		    "(%llu bytes): gave it zeros so QEMU survives (the "
		    "destination re-arms it), with the guest's vCPUs held out "
		    "of the guest until the %s memory was back in place, "
		    "poisoned, %.1f ms later", id->name, comm, where,
		    (unsigned long long)e->len, e->shared ? "shared" :
		    "private", (double)e->held_ns / 1e6);
	}
	return UINT64_MAX;
}

/*
 * From the shim's thread: prepare new ranges for a rescue, make forwarded
 * ones fault, move rescued ones back once their time has come, and say
 * what went wrong. Returns the milliseconds until the next one is due, or
 * -1 if none is.
 */
int
shim_poison_service(void)
{
	const struct shim_id	*id = shim_id_get();
	struct shim_poison	*e;
	uint64_t		 wait = UINT64_MAX, w;
	unsigned int		 i, n = shim_poison_count(), lost, stuck;
	uintptr_t		 spare;
	char			 where[64];
	int			 error;

	for (i = 0; i < n; i++) {
		e = &shim_poison_tab[i];
		if (atomic_load(&e->ready) != 1)
			continue;
		if (atomic_load(&e->prep) == SHIM_POISON_TODO)
			shim_poison_prepare(e);
		/* Only in place: a range moved away is the rescue's. */
		if (atomic_load(&e->state) == SHIM_POISON_IN &&
		    atomic_exchange(&e->check, 0))
			shim_poison_check(e);
		if ((w = shim_poison_return(e)) < wait)
			wait = w;
		if (atomic_load(&e->prep) == SHIM_POISON_READY &&
		    atomic_load(&e->spare) == 0 &&
		    atomic_load(&e->state) == SHIM_POISON_IN &&
		    (spare = shim_poison_reserve(e->len, e->align)) != 0)
			atomic_store(&e->spare, spare);
		if ((error = atomic_exchange(&e->error, 0)) != 0) {
			shim_poison_where(e, where, sizeof where);
			shim_log("VM %s: a thread read poisoned memory at %s "
			    "and it could not get zero pages there (%s); "
			    "QEMU's handler takes it", id->name, where,
			    strerror(error));
		}
		if ((stuck = atomic_exchange(&e->stuck, 0)) != 0 &&
		    !e->said_stuck++) {
			shim_poison_where(e, where, sizeof where);
			shim_log("VM %s: a thread read poisoned memory at %s, "
			    "but a vCPU did not leave the guest within %d ms "
			    "(or cannot be kicked); no zeros while the guest "
			    "may run: the reader waits and tries again",
			    id->name, where, SHIM_POISON_EVICT_MS);
		}
	}
	if ((lost = atomic_exchange(&shim_poison_lost, 0)) != 0)
		shim_log("VM %s: %u poisoned ranges did not fit the shim's "
		    "table of %d; a migration reading them stops QEMU",
		    id->name, lost, SHIM_POISON_MAX);
	if (wait == UINT64_MAX)
		return -1;
	return (int)((wait + SHIM_MS - 1) / SHIM_MS);
}

/*
 * The descriptor this process holds open on the file dev:inode (QEMU
 * keeps the memfd or hugetlbfs file of a RAM block open), or -1 with
 * errno. /proc/self/map_files would name the mapping directly, but opening
 * it takes CAP_SYS_ADMIN, which QEMU under libvirt does not have. The
 * descriptor is QEMU's: use it, never close it.
 */
static int
shim_poison_file_fd(unsigned int major, unsigned int minor,
    unsigned long inode)
{
	struct stat	 st;
	struct dirent	*d;
	DIR		*dir;
	char		*end;
	long		 n;
	int		 fd = -1;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		n = strtol(d->d_name, &end, 10);
		if (*end != '\0' || n < 0 || n == dirfd(dir) ||
		    fstat((int)n, &st) == -1)
			continue;
		if (st.st_ino == inode && major(st.st_dev) == major &&
		    minor(st.st_dev) == minor && S_ISREG(st.st_mode)) {
			fd = (int)n;
			break;
		}
	}
	closedir(dir);
	if (fd == -1)
		errno = EBADF;
	return fd;
}

/*
 * Give [start, start + len) fresh memory of the kind that backs it, as
 * QEMU's qemu_ram_remap() does: anonymous private memory gets new zero
 * pages; a shared file (memfd, hugetlbfs) has the range punched out and
 * mapped again from QEMU's own descriptor, so it stays shared (a
 * vhost-user backend mapping the same file sees the same fresh pages); a
 * private file mapping is mapped again. Returns 0, or -1 with errno.
 */
static int
shim_poison_remap(uintptr_t start, uint64_t len)
{
	unsigned long	 lo, hi, off, inode;
	unsigned int	 major, minor;
	char		 line[512], perms[8];
	FILE		*f;
	void		*p;
	int		 fd, prot, found = 0;
	off_t		 foff;

	if ((f = fopen("/proc/self/maps", "re")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &lo, &hi, perms,
		    &off, &major, &minor, &inode) != 7)
			continue;
		if (start >= lo && start < hi) {
			found = 1;
			break;
		}
	}
	fclose(f);
	if (!found) {
		errno = ENOENT;
		return -1;
	}
	prot = (perms[0] == 'r' ? PROT_READ : 0) |
	    (perms[1] == 'w' ? PROT_WRITE : 0);
	if (inode == 0) {
		p = mmap((void *)start, (size_t)len, prot, MAP_PRIVATE |
		    MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
		return p == MAP_FAILED ? -1 : 0;
	}
	if ((fd = shim_poison_file_fd(major, minor, inode)) == -1)
		return -1;
	foff = (off_t)(off + (start - lo));
	if (perms[3] == 's' && fallocate(fd, FALLOC_FL_PUNCH_HOLE |
	    FALLOC_FL_KEEP_SIZE, foff, (off_t)len) == -1 &&
	    errno != EOPNOTSUPP)
		return -1;
	p = mmap((void *)start, (size_t)len, prot, (perms[3] == 's' ?
	    MAP_SHARED : MAP_PRIVATE) | MAP_FIXED, fd, foff);
	return p == MAP_FAILED ? -1 : 0;
}

/*
 * The guest was reset in enforcing mode (shim_kvm.c saw a vCPU put back
 * at the reset vector). QEMU never saw these memory errors, so its own
 * reset (qemu_ram_remap() of the pages in its list) leaves them: the shim
 * does it instead -- every live range gets fresh memory and is retired, as
 * rasd retires the VM's active poison on the reset. A vCPU thread, not a
 * signal handler; the first vCPU does the work, the others find nothing.
 */
void
shim_poison_reset(void)
{
	static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
	const struct shim_id	*id = shim_id_get();
	struct shim_poison	*e;
	uintptr_t		 spare;
	unsigned int		 i, n, w, done = 0, failed = 0;
	int			 saved_errno = errno, error = 0;

	pthread_mutex_lock(&lock);
	n = shim_poison_count();
	for (i = 0; i < n; i++) {
		e = &shim_poison_tab[i];
		if (atomic_load(&e->ready) != 1)
			continue;
		/* A rescue under way finishes; a range away comes back. */
		for (w = 0; atomic_load(&e->state) == SHIM_POISON_BUSY &&
		    w < SHIM_POISON_EVICT_MS * 2; w++)
			shim_poison_nap(1);
		(void)shim_poison_back(e);
		atomic_store(&e->ready, 2);
		if ((spare = atomic_exchange(&e->spare, 0)) != 0)
			munmap((void *)spare, (size_t)e->len);
		if (shim_poison_remap(e->start, e->len) == 0)
			done++;
		else {
			failed++;
			error = errno;
		}
	}
	pthread_mutex_unlock(&lock);
	if (done > 0)
		shim_log("VM %s: guest reset: %u poisoned ranges given fresh "
		    "memory", id->name, done);
	if (failed > 0)
		shim_log("VM %s: guest reset: %u poisoned ranges could not be "
		    "given fresh memory (%s); the guest faults there again",
		    id->name, failed, strerror(error));
	errno = saved_errno;
}
