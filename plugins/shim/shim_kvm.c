/*
 * shim_kvm.c -- learn the guest memory map from the VMM's KVM ioctls.
 *
 * DESIGN: the only exact source of the guest-physical <-> host-virtual map
 * is what the VMM tells KVM, so the shim interposes ioctl() and watches
 * KVM_SET_USER_MEMORY_REGION(2) on the VM file descriptor. The table mirrors
 * KVM's own rules: a slot id with size 0 deletes that slot, an existing id
 * with a new guest address moves it, a new id adds one. QEMU renumbers
 * slots as it splits and rebuilds the layout (boot, SeaBIOS, reset), so the
 * map handed to rasd is derived from the table and ordered by guest
 * address; slot ids never leave this file. Only address space 0 is guest
 * RAM as the guest sees it (1 is SMM on x86), and read-only slots are ROMs:
 * a memory error there is not in guest RAM, and ROM aliases (isa-bios and
 * pc.bios share host memory) would make the map ambiguous.
 *
 * A change is recorded only when the real ioctl succeeded, under a mutex
 * held across the call so the table changes in the order KVM applied
 * them. Pushing the map to rasd may block, so it is left to the shim's
 * thread, woken through shim_wake().
 *
 * KVM_RUN marks the calling thread as a vCPU thread (a thread-local flag
 * the SIGBUS wrapper reads: a memory error there is the guest's), enlists
 * it in the vCPU table at its first call, and passes the migration gate
 * (shim_gate.c): on a migration destination the guest must not run before
 * its poison is re-armed.
 *
 * The vCPU table is how the shim keeps the guest out: each vCPU thread
 * says, around the real KVM_RUN, that it is inside (and stays inside
 * after an MMIO exit until its next KVM_RUN: the VMM emulates the access
 * on that thread, perhaps reading guest RAM), and before going in looks
 * at the hold count. Whoever must keep the guest from running
 * (stop-vm, shim_mce.c; the migration thread's rescue, shim_poison.c)
 * takes a hold, kicks every vCPU that is inside with SIGUSR1 -- QEMU's
 * own SIG_IPI, so QEMU's handler runs and KVM_RUN returns EINTR -- and
 * waits until none is. The inside flag is stored before the hold is
 * loaded, and the hold before the flags are (sequentially consistent), so
 * either the vCPU sees the hold or the holder sees the vCPU. A held vCPU
 * parks in the wrapper on a futex until the last hold goes; QEMU keeps
 * control of it: its own kick (pause, migrate, quit) sets
 * kvm_run->immediate_exit and interrupts the wait, and the KVM_RUN is
 * then let through, which returns EINTR without entering the guest. All
 * of it is atomics and system calls: the rescue runs in a signal handler.
 *
 * Once the gate is open -- at once for any VMM that is not a migration
 * destination -- a KVM_RUN costs two thread-local loads, two atomic
 * stores and two atomic loads; every other ioctl a few comparisons.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <linux/futex.h>
#include <linux/kvm.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

#define SHIM_KVM_SLOTS_MAX 512	/* address-space-0 slots tracked */
#define SHIM_KVM_PARK_NS (10 * 1000 * 1000)	/* a parked vCPU rechecks */
#define SHIM_KVM_KICK_NS (200 * 1000)		/* the holder rechecks */
#define SHIM_KVM_REKICK 5			/* rechecks between kicks */

#ifndef KVM_MEM_READONLY
#define KVM_MEM_READONLY (1UL << 1)
#endif

/*
 * KVM_SET_USER_MEMORY_REGION2 (Linux 6.8) extends the v1 structure at its
 * end; the fields the shim reads are laid out as in v1.
 */
struct shim_kvm_region2 {
	uint32_t	slot;
	uint32_t	flags;
	uint64_t	guest_phys_addr;
	uint64_t	memory_size;
	uint64_t	userspace_addr;
	uint64_t	guest_memfd_offset;
	uint32_t	guest_memfd;
	uint32_t	pad1;
	uint64_t	pad2[14];
};
_Static_assert(sizeof(struct shim_kvm_region2) == 160,
    "kvm_userspace_memory_region2 is 160 bytes");

#ifdef KVM_SET_USER_MEMORY_REGION2
#define SHIM_KVM_SET_REGION2 KVM_SET_USER_MEMORY_REGION2
#else
#define SHIM_KVM_SET_REGION2 _IOW(KVMIO, 0x49, struct shim_kvm_region2)
#endif

typedef int (*shim_kvm_ioctl_fn)(int, unsigned long, ...);

/* One memory slot of address space 0, as KVM has it. */
struct shim_kvm_slot {
	uint32_t	id;
	uint32_t	flags;
	uint64_t	gpa;
	uint64_t	size;
	uint64_t	hva;
};

static _Atomic(shim_kvm_ioctl_fn)	shim_kvm_next;
static pthread_mutex_t			shim_kvm_lock =
    PTHREAD_MUTEX_INITIALIZER;
static struct shim_kvm_slot		shim_kvm_slots[SHIM_KVM_SLOTS_MAX];
static unsigned int			shim_kvm_count;
static _Atomic uint64_t			shim_kvm_gen_v;
static int				shim_kvm_vmfd = -1;
static int				shim_kvm_warned_full;
static int				shim_kvm_warned_vm;
static int				shim_kvm_warned_many;

/* One vCPU thread, enlisted at its first KVM_RUN. */
struct shim_kvm_cpu {
	atomic_int			 tid;
	atomic_int			 fd;
	atomic_int			 inside;	/* in KVM_RUN, or in an
							   MMIO exit */
	const volatile struct kvm_run	*run;		/* read-only view */
};

static struct shim_kvm_cpu		shim_kvm_cpus[SHIM_KVM_VCPUS];
static atomic_uint			shim_kvm_ncpus;
static atomic_uint			shim_kvm_untracked; /* table was full */
static atomic_int			shim_kvm_hold_v;   /* holds taken */

/* Set once the thread has entered KVM_RUN: it runs a vCPU. */
static _Thread_local volatile sig_atomic_t shim_kvm_vcpu
    __attribute__((tls_model("initial-exec")));
/* Its index in the vCPU table, -1 if none. */
static _Thread_local int shim_kvm_self
    __attribute__((tls_model("initial-exec"))) = -1;

/*
 * The libc ioctl() behind the shim, found on first use (constructors of
 * other libraries may call ioctl before ours runs); the raw system call
 * if there is none.
 */
static int
shim_kvm_real(int fd, unsigned long request, void *arg)
{
	shim_kvm_ioctl_fn	fn;

	if ((fn = atomic_load(&shim_kvm_next)) == NULL) {
		fn = (shim_kvm_ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
		if (fn == NULL)
			return (int)syscall(SYS_ioctl, fd, request, arg);
		atomic_store(&shim_kvm_next, fn);
	}
	return fn(fd, request, arg);
}

/* The table entry for slot id, or NULL. */
static struct shim_kvm_slot *
shim_kvm_find(uint32_t id)
{
	unsigned int	i;

	for (i = 0; i < shim_kvm_count; i++)
		if (shim_kvm_slots[i].id == id)
			return &shim_kvm_slots[i];
	return NULL;
}

/*
 * Apply one successful KVM_SET_USER_MEMORY_REGION(2) to the table, with
 * the lock held. Returns 1 if the table changed.
 */
static int
shim_kvm_apply(int fd, const struct kvm_userspace_memory_region *r)
{
	struct shim_kvm_slot	*s;

	if ((r->slot >> 16) != 0)
		return 0;
	if (shim_kvm_vmfd == -1)
		shim_kvm_vmfd = fd;
	else if (fd != shim_kvm_vmfd) {
		if (!shim_kvm_warned_vm++)
			shim_log("a second KVM VM in this process (fd %d); "
			    "only the first one's memory is tracked", fd);
		return 0;
	}

	s = shim_kvm_find(r->slot);
	if (r->memory_size == 0) {
		if (s == NULL)
			return 0;
		*s = shim_kvm_slots[--shim_kvm_count];
		return 1;
	}
	if (s == NULL) {
		if (shim_kvm_count == SHIM_KVM_SLOTS_MAX) {
			if (!shim_kvm_warned_full++)
				shim_log("more than %d memory slots; guest "
				    "RAM at 0x%llx and later ones is not "
				    "covered", SHIM_KVM_SLOTS_MAX,
				    (unsigned long long)r->guest_phys_addr);
			return 0;
		}
		s = &shim_kvm_slots[shim_kvm_count++];
		s->id = r->slot;
	}
	s->flags = r->flags;
	s->gpa = r->guest_phys_addr;
	s->size = r->memory_size;
	s->hva = r->userspace_addr;
	return 1;
}

/* Run a memory-region ioctl and record it if KVM accepted it. */
static int
shim_kvm_region(int fd, unsigned long request, void *arg)
{
	struct kvm_userspace_memory_region	r;
	int					rc, saved_errno, changed = 0;

	pthread_mutex_lock(&shim_kvm_lock);
	rc = shim_kvm_real(fd, request, arg);
	saved_errno = errno;
	/* Read only after KVM did: a bad pointer is the kernel's EFAULT. */
	if (rc == 0 && arg != NULL) {
		memcpy(&r, arg, sizeof r);
		if ((changed = shim_kvm_apply(fd, &r)) != 0)
			atomic_fetch_add(&shim_kvm_gen_v, 1);
	}
	pthread_mutex_unlock(&shim_kvm_lock);
	/* Before the constructor ran, the constructor starts the thread. */
	if (changed && shim_id_ready()) {
		shim_start();
		shim_wake();
	}
	errno = saved_errno;
	return rc;
}

/* Enforcing mode: what shim_mce.c queued for this vCPU, or a hold. */
static void __attribute__((noinline))
shim_kvm_mce(int fd)
{
	int	saved_errno = errno;

	shim_mce_run(fd);
	errno = saved_errno;
}

/* A vCPU's CPUID and machine-check setup, for shim_mce.c. */
static int __attribute__((unused))
shim_kvm_watch(int fd, unsigned long request, void *arg)
{
	int	rc, saved_errno;

	rc = shim_kvm_real(fd, request, arg);
	if (rc == 0 && arg != NULL) {
		saved_errno = errno;
		shim_mce_watch(request, arg);
		errno = saved_errno;
	}
	return rc;
}

/*
 * Enforcing mode: a vCPU put back at the reset vector (QEMU's reset, and
 * the first boot) is a guest reset; the shim then does for its poisoned
 * ranges what QEMU does for those in its own list (shim_poison_reset()).
 */
static int __attribute__((unused))
shim_kvm_set_regs(int fd, void *arg)
{
	int	rc, saved_errno;

	rc = shim_kvm_real(fd, KVM_SET_REGS, arg);
	if (rc == 0 && arg != NULL &&
	    ((const struct kvm_regs *)arg)->rip == 0xfff0) {
		saved_errno = errno;
		shim_poison_reset();
		errno = saved_errno;
	}
	return rc;
}

/* The first KVM_RUN of a thread: it is a vCPU thread; enlist it. */
static void __attribute__((noinline))
shim_kvm_enlist(int fd)
{
	unsigned int	 n;
	void		*p;
	int		 saved_errno = errno;

	shim_kvm_vcpu = 1;
	n = atomic_fetch_add(&shim_kvm_ncpus, 1);
	if (n >= SHIM_KVM_VCPUS) {
		atomic_store(&shim_kvm_ncpus, SHIM_KVM_VCPUS);
		atomic_fetch_add(&shim_kvm_untracked, 1);
		return;
	}
	atomic_store(&shim_kvm_cpus[n].inside, 0);
	p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ, MAP_SHARED,
	    fd, 0);
	shim_kvm_cpus[n].run = p != MAP_FAILED ? p : NULL;
	atomic_store(&shim_kvm_cpus[n].tid, (int)syscall(SYS_gettid));
	atomic_store(&shim_kvm_cpus[n].fd, fd);
	shim_kvm_self = (int)n;
	errno = saved_errno;
}

/*
 * Park a vCPU while a hold is taken. Returns 1 when QEMU kicked it (its
 * kvm_run->immediate_exit is set: the KVM_RUN may go, it returns EINTR
 * without entering the guest), 0 when the last hold went.
 */
static int __attribute__((noinline))
shim_kvm_park(struct shim_kvm_cpu *c, int fd)
{
	struct timespec	 nap = { 0, SHIM_KVM_PARK_NS };
	int		 v, saved_errno = errno;

	/* QEMU's SIG_IPI interrupts the wait; the hold's end wakes it. */
	while ((v = atomic_load(&shim_kvm_hold_v)) > 0) {
		if (c->run != NULL && c->run->immediate_exit) {
			errno = saved_errno;
			return 1;
		}
		(void)syscall(SYS_futex, &shim_kvm_hold_v, FUTEX_WAIT_PRIVATE,
		    v, &nap, NULL, 0);
	}
	errno = saved_errno;
	return 0;
}

/*
 * The real KVM_RUN of an enlisted vCPU: inside while it runs, parked
 * while a hold is taken.
 */
static int
shim_kvm_run(int fd, void *arg)
{
	struct shim_kvm_cpu	*c;
	int			 rc, saved_errno;

	if (__builtin_expect(shim_kvm_self < 0, 0))
		return shim_kvm_real(fd, KVM_RUN, arg);
	c = &shim_kvm_cpus[shim_kvm_self];
	for (;;) {
		atomic_store(&c->inside, 1);
		if (__builtin_expect(atomic_load(&shim_kvm_hold_v) == 0, 1))
			break;
		atomic_store(&c->inside, 0);
		if (shim_kvm_park(c, fd))
			return shim_kvm_real(fd, KVM_RUN, arg);
	}
	rc = shim_kvm_real(fd, KVM_RUN, arg);
	saved_errno = errno;
	/*
	 * After an MMIO exit the VMM emulates the access on this thread, and
	 * that may read or write guest RAM (KVM's emulator exits with MMIO
	 * when it cannot read a page, poison included): until its next
	 * KVM_RUN the thread counts as inside.
	 */
	if (rc != 0 || c->run == NULL || c->run->exit_reason != KVM_EXIT_MMIO)
		atomic_store(&c->inside, 0);
	errno = saved_errno;
	return rc;
}

/* Take a hold: no vCPU enters the guest until it is released. */
void
shim_kvm_hold(void)
{
	atomic_fetch_add(&shim_kvm_hold_v, 1);
}

/* Release a hold; the last one wakes the parked vCPUs. */
void
shim_kvm_release(void)
{
	int	saved_errno = errno;

	if (atomic_fetch_sub(&shim_kvm_hold_v, 1) == 1)
		(void)syscall(SYS_futex, &shim_kvm_hold_v, FUTEX_WAKE_PRIVATE,
		    SHIM_KVM_VCPUS, NULL, NULL, 0);
	errno = saved_errno;
}

/* Kick vCPU i out of the guest with QEMU's SIG_IPI. Async-signal-safe. */
void
shim_kvm_kick(unsigned int i)
{
	int	tid, saved_errno = errno;

	if (i < SHIM_KVM_VCPUS && (tid = atomic_load(&shim_kvm_cpus[i].tid)) >
	    0)
		(void)syscall(SYS_tgkill, getpid(), tid, SIGUSR1);
	errno = saved_errno;
}

/* Whether SIGUSR1 has a handler: a kick must not end the process. */
static int
shim_kvm_kickable(void)
{
	struct sigaction	cur;

	if (shim_sig_real(SIGUSR1, NULL, &cur) == -1)
		return 0;
	return cur.sa_handler != SIG_DFL && cur.sa_handler != SIG_IGN;
}

/*
 * With a hold taken: kick every vCPU inside KVM_RUN, again now and then
 * (a kick that lands just before the vCPU enters is lost), until none is
 * inside, at most bound_ns. Returns 0, or -1 when a vCPU is still inside
 * (or one is not in the table, or none can be kicked). Async-signal-safe.
 */
int
shim_kvm_evict(uint64_t bound_ns)
{
	struct timespec	 nap = { 0, SHIM_KVM_KICK_NS };
	uint64_t	 waited = 0;
	unsigned int	 i, n, round = 0;
	int		 inside, kickable = -1, saved_errno = errno;

	if (atomic_load(&shim_kvm_untracked) != 0)
		return -1;
	for (;; round++) {
		n = atomic_load(&shim_kvm_ncpus);
		inside = 0;
		for (i = 0; i < n && i < SHIM_KVM_VCPUS; i++) {
			if (!atomic_load(&shim_kvm_cpus[i].inside))
				continue;
			inside++;
			if (round % SHIM_KVM_REKICK != 0)
				continue;
			if (kickable == -1)
				kickable = shim_kvm_kickable();
			if (kickable)
				shim_kvm_kick(i);
		}
		if (inside == 0) {
			errno = saved_errno;
			return 0;
		}
		if (kickable == 0 || waited >= bound_ns)
			break;
		nanosleep(&nap, NULL);
		waited += SHIM_KVM_KICK_NS;
	}
	errno = saved_errno;
	return -1;
}

/* How many vCPUs are in the table. Async-signal-safe. */
unsigned int
shim_kvm_vcpus(void)
{
	unsigned int	n = atomic_load(&shim_kvm_ncpus);

	return n < SHIM_KVM_VCPUS ? n : SHIM_KVM_VCPUS;
}

/* The file descriptor of vCPU i, or -1. Async-signal-safe. */
int
shim_kvm_vcpu_fd(unsigned int i)
{
	return i < shim_kvm_vcpus() ? atomic_load(&shim_kvm_cpus[i].fd) : -1;
}

/* The calling thread's index in the vCPU table, or -1. */
int
shim_kvm_index(void)
{
	return shim_kvm_self;
}

/* A KVM_RUN while the gate is closed: it may hold the thread. */
static void __attribute__((noinline))
shim_kvm_gate(int fd)
{
	int	saved_errno = errno;

	shim_gate_pass(fd);
	errno = saved_errno;
}

/*
 * Interposed ioctl(): KVM_RUN enlists a vCPU thread, waits while the
 * migration gate is closed or a hold is taken, memory-region changes are
 * watched, all else passes.
 */
int
ioctl(int fd, unsigned long request, ...)
{
	va_list	 ap;
	void	*arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (request == KVM_RUN) {
		if (__builtin_expect(!shim_kvm_vcpu, 0))
			shim_kvm_enlist(fd);
		if (__builtin_expect(!atomic_load_explicit(&shim_gate_open_v,
		    memory_order_acquire), 0))
			shim_kvm_gate(fd);
		if (__builtin_expect(atomic_load_explicit(&shim_mce_on_v,
		    memory_order_relaxed), 0))
			shim_kvm_mce(fd);
		return shim_kvm_run(fd, arg);
	}
#if defined(__x86_64__)
	if (request == KVM_SET_CPUID2 || request == KVM_X86_SETUP_MCE)
		return shim_kvm_watch(fd, request, arg);
	if (request == KVM_SET_REGS && atomic_load_explicit(&shim_mce_on_v,
	    memory_order_relaxed))
		return shim_kvm_set_regs(fd, arg);
#endif
	if (request == KVM_SET_USER_MEMORY_REGION ||
	    request == SHIM_KVM_SET_REGION2)
		return shim_kvm_region(fd, request, arg);
	return shim_kvm_real(fd, request, arg);
}

/* Whether the calling thread has entered KVM_RUN. Async-signal-safe. */
int
shim_kvm_on_vcpu(void)
{
	return shim_kvm_vcpu != 0;
}

/* The guest RAM slot (address space 0, not read-only) holding gpa. */
static const struct shim_kvm_slot *
shim_kvm_ram_at(uint64_t gpa)
{
	const struct shim_kvm_slot	*s;
	unsigned int			 i;

	for (i = 0; i < shim_kvm_count; i++) {
		s = &shim_kvm_slots[i];
		if ((s->flags & KVM_MEM_READONLY) == 0 && gpa >= s->gpa &&
		    gpa - s->gpa < s->size)
			return s;
	}
	return NULL;
}

/*
 * Split the guest-physical range [gpa, gpa + len) into pieces of host
 * memory through the guest RAM slots KVM has now. Returns the number of
 * pieces, or -1 if part of it is in no RAM slot (*hole gets the first
 * such guest address) or it takes more than max pieces. Ordinary
 * threads only.
 */
int
shim_kvm_translate(uint64_t gpa, uint64_t len, struct shim_piece *out,
    unsigned int max, uint64_t *hole)
{
	const struct shim_kvm_slot	*s;
	uint64_t			 n;
	unsigned int			 k = 0;

	pthread_mutex_lock(&shim_kvm_lock);
	while (len > 0) {
		if ((s = shim_kvm_ram_at(gpa)) == NULL || k == max) {
			*hole = gpa;
			pthread_mutex_unlock(&shim_kvm_lock);
			return -1;
		}
		n = s->size - (gpa - s->gpa);
		if (n > len)
			n = len;
		out[k].gpa = gpa;
		out[k].hva = (uintptr_t)(s->hva + (gpa - s->gpa));
		out[k].len = n;
		k++;
		gpa += n;
		len -= n;
	}
	pthread_mutex_unlock(&shim_kvm_lock);
	return (int)k;
}

/*
 * The guest address of host address hva (the lowest, if guest RAM slots
 * alias it), for log lines. Returns 0, or -1 if no slot maps it.
 */
int
shim_kvm_gpa(uintptr_t hva, uint64_t *gpa)
{
	const struct shim_kvm_slot	*s;
	unsigned int			 i;
	int				 found = 0;

	pthread_mutex_lock(&shim_kvm_lock);
	for (i = 0; i < shim_kvm_count; i++) {
		s = &shim_kvm_slots[i];
		if ((s->flags & KVM_MEM_READONLY) != 0 || hva < s->hva ||
		    hva - s->hva >= s->size)
			continue;
		if (!found || s->gpa + (hva - s->hva) < *gpa)
			*gpa = s->gpa + (hva - s->hva);
		found = 1;
	}
	pthread_mutex_unlock(&shim_kvm_lock);
	return found ? 0 : -1;
}

/* How many times the table changed. Async-signal-safe. */
uint64_t
shim_kvm_gen(void)
{
	return atomic_load(&shim_kvm_gen_v);
}

/*
 * The guest RAM map for rasd: address space 0 without ROMs, ordered by
 * guest address, at most max slots, and never two slots on the same host
 * memory (the client library refuses an ambiguous map, so of two aliases
 * the one at the higher guest address is left out). *gen gets the
 * table's change count. Ordinary threads only.
 */
unsigned int
shim_kvm_snapshot(struct rasc_slot *out, unsigned int max, uint64_t *gen)
{
	static struct shim_kvm_slot	 ram[SHIM_KVM_SLOTS_MAX];
	struct shim_kvm_slot		 t;
	unsigned int			 i, j, n = 0, k = 0;

	/* Only the shim's thread calls this, so ram[] needs no lock. */
	pthread_mutex_lock(&shim_kvm_lock);
	for (i = 0; i < shim_kvm_count; i++)
		if ((shim_kvm_slots[i].flags & KVM_MEM_READONLY) == 0)
			ram[n++] = shim_kvm_slots[i];
	*gen = atomic_load(&shim_kvm_gen_v);
	pthread_mutex_unlock(&shim_kvm_lock);

	for (i = 1; i < n; i++) {
		t = ram[i];
		for (j = i; j > 0 && ram[j - 1].gpa > t.gpa; j--)
			ram[j] = ram[j - 1];
		ram[j] = t;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < k; j++)
			if (ram[i].hva < out[j].hva + out[j].size &&
			    out[j].hva < ram[i].hva + ram[i].size)
				break;
		/*
		 * An alias of RAM already in the map, such as q35's SMRAM
		 * window at 0xfeda0000 over RAM at 0xa0000: normal, and the
		 * lower guest address is the RAM's own.
		 */
		if (j < k)
			continue;
		if (k == max) {
			if (!shim_kvm_warned_many++)
				shim_log("more than %u RAM slots; guest RAM "
				    "from 0x%llx on is not covered", max,
				    (unsigned long long)ram[i].gpa);
			break;
		}
		out[k].gpa = ram[i].gpa;
		out[k].hva = ram[i].hva;
		out[k].size = ram[i].size;
		k++;
	}
	return k;
}
