/*
 * shim_mce.c -- enforcing mode on x86: the shim carries out rasd's
 * decision through KVM instead of handing the memory error to QEMU.
 *
 * DESIGN: in observing mode (RASD_SHIM_MODE=observe, set per VM by
 * rasd-cover --mode observe) the SIGBUS wrapper forwards a memory error
 * and then calls QEMU's handler, which injects what QEMU always injects.
 * In enforcing mode (the default on x86) the wrapper asks
 * for rasd's decision (or the library's local fallback, the same bytes)
 * and carries it out here; QEMU's handler never sees the error, so QEMU
 * keeps no list of poisoned pages of its own (QEMU >= 9 refuses to
 * migrate a VM once that list is not empty).
 *
 *  - inject MCE: KVM_X86_SET_MCE with the decision's bank values. An AR
 *    comes on the faulting vCPU's thread, after KVM_RUN returned and
 *    before it runs the guest again, so the machine check is set on that
 *    vCPU from the handler itself. An AO comes to the main thread (the
 *    kernel's early kill), as QEMU takes it: the values are queued for
 *    the first vCPU and set by that vCPU's thread at its next KVM_RUN,
 *    which the shim wraps, after a kick (SIGUSR1, QEMU's own SIG_IPI)
 *    gets it out of the guest. With broadcast, every other vCPU gets
 *    QEMU's companion record (MCi_STATUS VAL|UC, MCG_STATUS MCIP|RIPV)
 *    the same way -- unless the guest enabled local machine checks
 *    (MCG_EXT_CTL.LMCE_EN, read with KVM_GET_MSRS from the vCPU's own
 *    thread): then the error stays local with MCG_STATUS.LMCE, as QEMU
 *    decides it. The guest's vendor (CPUID leaf 0 that QEMU gives KVM)
 *    goes to rasd at registration so the values are Intel's or AMD's.
 *  - stop-vm: the guest must not run on with an error it cannot be told.
 *    The shim takes a hold that is never released (shim_kvm.c): every
 *    vCPU is kicked out and parked before its next KVM_RUN; QEMU keeps
 *    control (its kick lets one KVM_RUN through, which returns at once),
 *    so the operator can still pause, migrate or destroy the domain;
 *    QEMU's log says why.
 *  - ignore (an AO with nothing deliverable): nothing is injected.
 * Anything the shim cannot carry out (no decision: not registered yet;
 * the vCPU set up no machine-check banks; a notification type other than
 * MCE) goes to QEMU's handler as in observing mode, and is counted.
 *
 * Everything here runs in signal handlers or on the KVM_RUN path: atomics
 * and system calls only, no locks, no allocation.
 */
#if defined(__x86_64__)

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <linux/kvm.h>

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mce.h"
#include "ras.h"
#include "shim.h"

#define MSR_IA32_MCG_EXT_CTL	0x4d0
#define MCG_EXT_CTL_LMCE_EN	(1ULL << 0)
#define MCG_LMCE_P		(1ULL << 27)
#define MCG_SER_P		(1ULL << 24)

/* Queue entry states. */
#define SHIM_MCE_FREE		0
#define SHIM_MCE_WRITING	1
#define SHIM_MCE_READY		2

/*
 * One queued machine check per vCPU, indexed as shim_kvm.c's vCPU table
 * (which has the thread and file descriptor).
 */
struct shim_mce_vcpu {
	atomic_int		 state;		/* SHIM_MCE_* */
	int			 full;		/* the error's own record:
						   LMCE is decided at delivery */
	int			 bcast;		/* then broadcast, unless LMCE */
	struct kvm_x86_mce	 mce;
};

static struct shim_mce_vcpu	shim_mce_vcpus[SHIM_KVM_VCPUS];
static atomic_int		shim_mce_queued;	/* any READY entry */
static atomic_int		shim_mce_vendor_v;	/* RASC_CPU_* */
static _Atomic uint64_t		shim_mce_cap;		/* MCG_CAP QEMU set */
static atomic_int		shim_mce_stop_v;	/* hold every vCPU */
static atomic_uint		shim_mce_dropped;	/* a record was
							   still queued */
atomic_int			shim_mce_on_v;

/* Take the mode; the shim's constructor calls this after shim_id_load(). */
void
shim_mce_init(void)
{
	atomic_store(&shim_mce_on_v, shim_mce_enforcing());
}

/* The real ioctl, bypassing the shim's own interposer. */
static int
shim_mce_ioctl(int fd, unsigned long request, void *arg)
{
	return (int)syscall(SYS_ioctl, fd, request, arg);
}

/* Whether the VM's shim carries decisions out (RASD_SHIM_MODE=enforce). */
int
shim_mce_enforcing(void)
{
	const struct shim_id	*id = shim_id_get();

	return id->valid && id->enforce;
}

/* The guest's CPU vendor as QEMU gave it to KVM (RASC_CPU_*). */
int
shim_mce_vendor(void)
{
	return atomic_load(&shim_mce_vendor_v);
}

/*
 * Whether QEMU's own handler injects a memory error into this guest at
 * all: only with MCG_SER_P in the MCG_CAP it gave KVM; without it QEMU
 * exits on an AR and ignores an AO. 1 (yes) while no vCPU set MCG_CAP.
 */
int
shim_mce_qemu_injects(void)
{
	uint64_t	cap = atomic_load(&shim_mce_cap);

	return cap == 0 || (cap & MCG_SER_P) != 0;
}

/* Whether every vCPU is held (a stop-vm decision). Async-signal-safe. */
int
shim_mce_stopped(void)
{
	return atomic_load(&shim_mce_stop_v);
}

/*
 * After a successful ioctl on a vCPU: learn the vendor from CPUID leaf 0
 * (KVM_SET_CPUID2) and the machine-check capabilities (KVM_X86_SETUP_MCE).
 */
void
shim_mce_watch(unsigned long request, const void *arg)
{
	const struct kvm_cpuid2	*cpuid;
	uint32_t		 i;

	if (request == KVM_X86_SETUP_MCE) {
		atomic_store(&shim_mce_cap, *(const uint64_t *)arg);
		return;
	}
	if (request != KVM_SET_CPUID2)
		return;
	cpuid = arg;
	for (i = 0; i < cpuid->nent && i < 256; i++) {
		if (cpuid->entries[i].function != 0)
			continue;
		/* "GenuineIntel" / "AuthenticAMD": EBX says which. */
		if (cpuid->entries[i].ebx == 0x756e6547)
			atomic_store(&shim_mce_vendor_v, RASC_CPU_INTEL);
		else if (cpuid->entries[i].ebx == 0x68747541)
			atomic_store(&shim_mce_vendor_v, RASC_CPU_AMD);
		return;
	}
}

/* This thread's entry (shim_kvm.c enlisted it), or NULL. */
static struct shim_mce_vcpu *
shim_mce_mine(void)
{
	int	i = shim_kvm_index();

	return i >= 0 ? &shim_mce_vcpus[i] : NULL;
}

/*
 * Whether the guest enabled local machine checks on this vCPU; read from
 * the vCPU's own thread, outside KVM_RUN.
 */
static int
shim_mce_lmce(int fd)
{
	struct {
		struct kvm_msrs		h;
		struct kvm_msr_entry	e;
	} m;

	if (!(atomic_load(&shim_mce_cap) & MCG_LMCE_P))
		return 0;
	memset(&m, 0, sizeof m);
	m.h.nmsrs = 1;
	m.e.index = MSR_IA32_MCG_EXT_CTL;
	if (shim_mce_ioctl(fd, KVM_GET_MSRS, &m) != 1)
		return 0;
	return (m.e.data & MCG_EXT_CTL_LMCE_EN) != 0;
}

/* Set one machine check on a vCPU from its own thread. */
static int
shim_mce_set(int fd, struct kvm_x86_mce *mce, int full)
{
	if (full && shim_mce_lmce(fd))
		mce->mcg_status |= MCG_STATUS_LMCE;
	return shim_mce_ioctl(fd, KVM_X86_SET_MCE, mce);
}

/* Queue a machine check for vCPU i and kick it out of the guest. */
static void
shim_mce_queue(unsigned int i, const struct kvm_x86_mce *mce, int full,
    int bcast)
{
	struct shim_mce_vcpu	*v = &shim_mce_vcpus[i];
	int			 expected = SHIM_MCE_FREE;

	if (!atomic_compare_exchange_strong(&v->state, &expected,
	    SHIM_MCE_WRITING)) {
		atomic_fetch_add(&shim_mce_dropped, 1);
		shim_wake();
		return;
	}
	v->mce = *mce;
	v->full = full;
	v->bcast = bcast;
	atomic_store(&v->state, SHIM_MCE_READY);
	atomic_store(&shim_mce_queued, 1);
	shim_kvm_kick(i);
}

/* QEMU's companion record for the vCPUs an error is broadcast to. */
static void
shim_mce_broadcast(int except)
{
	struct kvm_x86_mce	mce;
	unsigned int		i, n = shim_kvm_vcpus();

	memset(&mce, 0, sizeof mce);
	mce.bank = 1;
	mce.status = MCI_STATUS_VAL | MCI_STATUS_UC;
	mce.mcg_status = MCG_STATUS_MCIP | MCG_STATUS_RIPV;
	for (i = 0; i < n; i++)
		if ((int)i != except && shim_kvm_vcpu_fd(i) >= 0)
			shim_mce_queue(i, &mce, 0, 0);
}

/*
 * The KVM_RUN path of a vCPU thread in enforcing mode: set what was
 * queued for this vCPU (stop-vm's hold parks it in shim_kvm.c after
 * this). The fast path is one atomic load.
 */
void
shim_mce_run(int fd)
{
	struct shim_mce_vcpu	*v;
	struct kvm_x86_mce	 mce;
	int			 full, bcast;

	v = shim_mce_mine();
	if (atomic_load(&shim_mce_queued) && v != NULL &&
	    atomic_load(&v->state) == SHIM_MCE_READY) {
		mce = v->mce;
		full = v->full;
		bcast = v->bcast;
		atomic_store(&v->state, SHIM_MCE_FREE);
		if (shim_mce_set(fd, &mce, full) == 0 && bcast &&
		    !(mce.mcg_status & MCG_STATUS_LMCE))
			shim_mce_broadcast(shim_kvm_index());
	}
}

/* The decision's bank values. */
static void
shim_mce_from(const struct rasc_decision *d, struct kvm_x86_mce *mce)
{
	memset(mce, 0, sizeof *mce);
	mce->bank = (uint8_t)d->mce_bank;
	mce->status = d->mce_status;
	mce->mcg_status = d->mcg_status;
	mce->addr = d->addr;
	mce->misc = d->mce_misc;
}

/*
 * Carry out a decision for a memory error of kind (RASC_KIND_*) that came
 * to this thread. Returns 1 when done (QEMU's handler must not see the
 * error), 0 when QEMU's handler must act. Async-signal-safe.
 */
int
shim_mce_carry_out(int kind, const struct rasc_decision *d)
{
	struct kvm_x86_mce	 mce;
	uint64_t		 cap = atomic_load(&shim_mce_cap);
	int			 fd, self = shim_kvm_index();

	if (d->action == RASC_ACTION_INJECT && d->notify == RAS_NOTIFY_MCE &&
	    kind == RASC_KIND_AR && !(cap & MCG_SER_P))
		return 0;	/* QEMU's own answer: it stops, saying why */

	if (d->action == RASC_ACTION_IGNORE)
		return 1;
	if (d->action == RASC_ACTION_STOP_VM) {
		/* For good: the vCPUs park at their next KVM_RUN. */
		if (!atomic_exchange(&shim_mce_stop_v, 1)) {
			shim_kvm_hold();
			(void)shim_kvm_evict(0);
		}
		shim_wake();	/* its thread says so in QEMU's log */
		return 1;
	}
	if (d->action != RASC_ACTION_INJECT || d->notify != RAS_NOTIFY_MCE ||
	    (cap & 0xff) <= (uint64_t)d->mce_bank)
		return 0;
	shim_mce_from(d, &mce);
	if (kind == RASC_KIND_AR && self >= 0) {
		/* On the faulting vCPU, before it runs the guest again. */
		fd = shim_kvm_vcpu_fd((unsigned int)self);
		if (shim_mce_set(fd, &mce, 1) == -1)
			return 0;
		if (d->mce_broadcast && !(mce.mcg_status & MCG_STATUS_LMCE))
			shim_mce_broadcast(self);
		return 1;
	}
	/* As QEMU does: the first vCPU, at its next KVM_RUN. */
	if (shim_kvm_vcpus() == 0)
		return 0;
	shim_mce_queue(0, &mce, 1, d->mce_broadcast);
	return 1;
}

/* Machine checks not delivered because one was still queued (and reset). */
unsigned int
shim_mce_take_dropped(void)
{
	return atomic_exchange(&shim_mce_dropped, 0);
}

#else	/* !__x86_64__: no enforcing mode (yet); the shim observes */

#include <stdatomic.h>

#include "shim.h"

atomic_int	shim_mce_on_v;

void shim_mce_init(void) { }
int shim_mce_enforcing(void) { return 0; }
int shim_mce_vendor(void) { return RASC_CPU_UNKNOWN; }
int shim_mce_qemu_injects(void) { return 1; }
int shim_mce_stopped(void) { return 0; }
void shim_mce_watch(unsigned long request, const void *arg) { }
void shim_mce_run(int fd) { }
int shim_mce_carry_out(int kind, const struct rasc_decision *d) { return 0; }
unsigned int shim_mce_take_dropped(void) { return 0; }

#endif
