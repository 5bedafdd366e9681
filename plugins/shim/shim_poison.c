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
 * KVM_RUN, at an address in the table, gets that range replaced by fresh
 * zero pages (mmap MAP_FIXED, a plain system call, so async-signal-safe);
 * the read completes with zeros and QEMU sends a zero page. That is
 * harmless: the destination re-arms the range from rasd's state before
 * its guest runs. Nothing new is forwarded -- rasd already has the range.
 * The shim's thread then puts a marker on the range again after
 * SHIM_POISON_REARM_MS, so that if the migration fails or is cancelled the
 * guest, still on this host, faults there as before.
 *
 * The window: between the zero pages and the new marker (~50 ms) a vCPU
 * of the source guest that touches that range reads zeros (and a write
 * there is lost when the marker comes back) instead of getting a memory
 * error; and during the few microseconds of the re-poison itself, between
 * MADV_DONTNEED and UFFDIO_POISON, a guest access makes KVM's fault fail
 * (the range is registered user-mode-only), which stops QEMU. A guest
 * that was told about the poison has normally taken the page offline, so
 * both need a guest that touches memory it was told is bad.
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
#define SHIM_POISON_REARM_MS 50		/* zero pages live this long */
#define SHIM_POISON_RETRY_MS 5		/* after a re-poison that raced */
#define SHIM_PAGE 4096ULL

/* One poisoned host range of this process. */
struct shim_poison {
	atomic_int		ready;		/* 1: the fields below are set;
						   2: retired by a guest reset */
	uintptr_t		start;
	uint64_t		len;
	atomic_uint		zeroed;		/* rescues so far */
	atomic_uint		armed;		/* rescues re-poisoned */
	_Atomic uint64_t	due;		/* CLOCK_MONOTONIC ns */
	char			comm[16];	/* who read it last */
	atomic_int		error;		/* errno of a failed rescue */
	atomic_int		check;		/* forwarded: make it fault */
	int			logged;		/* the thread's: said so once */
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
 * it faults. Async-signal-safe: the table only grows.
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

/*
 * From the SIGBUS wrapper, before anything else: if this is a thread other
 * than a vCPU faulting on memory the shim knows is poisoned, give it zero
 * pages there and have the shim's thread poison them again later.
 * Returns 1 when the fault was handled (the wrapper then returns, and the
 * faulting access is retried), 0 to go on as usual. Async-signal-safe.
 */
int
shim_poison_rescue(const siginfo_t *si)
{
	struct shim_poison	*e;
	long			 rc;

	if (si->si_code != BUS_MCEERR_AR && si->si_code != BUS_ADRERR)
		return 0;
	/* A vCPU's memory error is the guest's: QEMU injects it. */
	if (shim_kvm_on_vcpu())
		return 0;
	/* Nobody would put the marker back. */
	if (shim_stopped(NULL, 0))
		return 0;
	if ((e = shim_poison_find((uintptr_t)si->si_addr)) == NULL)
		return 0;
	rc = syscall(SYS_mmap, (void *)e->start, (size_t)e->len,
	    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
	    MAP_NORESERVE, -1, 0L);
	if (rc == -1) {
		atomic_store(&e->error, errno);
		shim_wake();
		return 0;
	}
	/* The thread may be gone when the shim's thread logs. */
	if (prctl(PR_GET_NAME, e->comm, 0, 0, 0) == -1)
		e->comm[0] = '\0';
	e->comm[sizeof e->comm - 1] = '\0';
	atomic_store(&e->due, shim_poison_now() +
	    SHIM_POISON_REARM_MS * 1000000ULL);
	atomic_fetch_add(&e->zeroed, 1);
	shim_wake();
	return 1;
}

/*
 * From the shim's thread: put the marker back on every range the wrapper
 * gave zero pages to, once its time has come, and say so once per range.
 * Returns the milliseconds until the next one is due, or -1 if none is.
 */
int
shim_poison_service(void)
{
	const struct shim_id	*id = shim_id_get();
	struct shim_poison	*e;
	uint64_t		 now, due, gpa, wait = UINT64_MAX;
	unsigned int		 i, n = shim_poison_count(), z, lost;
	char			 err[256], comm[16], where[64];
	int			 error;

	for (i = 0; i < n; i++) {
		e = &shim_poison_tab[i];
		if (atomic_load(&e->ready) != 1)
			continue;
		if (atomic_exchange(&e->check, 0))
			shim_poison_check(e);
		if ((error = atomic_exchange(&e->error, 0)) != 0)
			shim_log("VM %s: a thread read poisoned memory at "
			    "0x%llx and it could not get zero pages there "
			    "(%s); QEMU's handler takes it", id->name,
			    (unsigned long long)e->start, strerror(error));
		z = atomic_load(&e->zeroed);
		if (z == atomic_load(&e->armed))
			continue;
		now = shim_poison_now();
		due = atomic_load(&e->due);
		if (now < due) {
			if (due - now < wait)
				wait = due - now;
			continue;
		}
		if (shim_kvm_gpa(e->start, &gpa) == 0)
			snprintf(where, sizeof where, "guest address 0x%llx",
			    (unsigned long long)gpa);
		else
			snprintf(where, sizeof where, "host address 0x%llx",
			    (unsigned long long)e->start);
		memcpy(comm, e->comm, sizeof comm);
		comm[sizeof comm - 1] = '\0';
		if (shim_poison_arm(e->start, e->len, err, sizeof err) == -1) {
			/* The wrapper replaced the range meanwhile: again. */
			if (atomic_load(&e->zeroed) != z) {
				if (SHIM_POISON_RETRY_MS * 1000000ULL < wait)
					wait = SHIM_POISON_RETRY_MS *
					    1000000ULL;
				continue;
			}
			atomic_store(&e->armed, z);
			shim_log("VM %s: thread \"%s\" read poisoned memory at "
			    "%s (%llu bytes) and got zeros, but the poison "
			    "could not be put back: %s; if the guest stays on "
			    "this host it reads zeros there", id->name, comm,
			    where, (unsigned long long)e->len, err);
			continue;
		}
		atomic_store(&e->armed, z);
		if (!e->logged) {
			e->logged = 1;
			shim_log("VM %s: thread \"%s\" read poisoned memory at "
			    "%s (%llu bytes): gave it zeros so QEMU survives "
			    "(the destination re-arms it) and poisoned it "
			    "again %d ms later", id->name, comm, where,
			    (unsigned long long)e->len, SHIM_POISON_REARM_MS);
		}
	}
	if ((lost = atomic_exchange(&shim_poison_lost, 0)) != 0)
		shim_log("VM %s: %u poisoned ranges did not fit the shim's "
		    "table of %d; a migration reading them stops QEMU",
		    id->name, lost, SHIM_POISON_MAX);
	if (wait == UINT64_MAX)
		return -1;
	return (int)((wait + 999999) / 1000000);
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
	unsigned int		 i, n, done = 0, failed = 0;
	int			 saved_errno = errno, error = 0;

	pthread_mutex_lock(&lock);
	n = shim_poison_count();
	for (i = 0; i < n; i++) {
		e = &shim_poison_tab[i];
		if (atomic_load(&e->ready) != 1)
			continue;
		atomic_store(&e->ready, 2);
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
