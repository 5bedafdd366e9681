/*
 * shim_sig.c -- chain the VMM's SIGBUS handler through the shim.
 *
 * DESIGN: the shim never owns SIGBUS; it stands in front of the handler the
 * VMM installs. When the VMM installs a SIGBUS handler, the shim records it
 * and installs its own SA_SIGINFO wrapper with the VMM's mask and flags, so
 * the kernel delivers exactly as it would have (same mask, same
 * SA_RESETHAND/SA_NODEFER/SA_ONSTACK behaviour). The wrapper forwards
 * BUS_MCEERR_AR/AO to rasd (rasc_forward() is async-signal-safe and bounded)
 * and then calls the VMM's handler with the same arguments; every other
 * SIGBUS goes straight to the VMM's handler.
 *
 * A query answers with what is really installed, i.e. the wrapper: QEMU
 * 7.2's main loop blocks SIGBUS, reads it from a signalfd and calls the
 * handler sigaction(SIGBUS, NULL, &old) returns, and that path must go
 * through the wrapper too. When the VMM re-installs what it was given, the
 * wrapper is installed again as it is, never wrapped around itself.
 * SIG_DFL and SIG_IGN go to the kernel unchanged: the VMM then behaves as
 * if the shim were not there.
 *
 * rasd translates a forward's host address with the memory map it was
 * last sent. A memory error that arrives before the shim's thread has
 * registered the VM, or while that thread has not yet pushed the map KVM
 * now has (QEMU reprograms slots from its vCPU threads), is therefore kept
 * in a small queue of the shim's own, filled with atomics only, and the
 * thread forwards it once rasd has the current map. So is one that comes
 * on a small alternate signal stack: a forward needs some 16 KiB of stack
 * for its buffers.
 *
 * Every error in that queue is one rasd does not have yet, so the library
 * is told (rasc_note_held()): rasd then refuses to hand the VM off to a
 * migration's destination until the thread has forwarded it. An error
 * that finds the queue full is counted, logged and told to rasd
 * (rasc_note_dropped()): it can never be recorded, and the VM's final
 * sync fails until the guest is reset (migrate/README.md). An error kept
 * before the shim registered is told as soon as there is a client: the
 * handler and the thread both try, and a flag taken with a
 * compare-and-swap makes sure exactly one of them does.
 *
 * Before all that, the wrapper lets shim_poison.c rescue QEMU's migration
 * thread from a read of poisoned guest memory. QEMU 7.2 creates its helper
 * threads with every signal blocked, SIGBUS included (the SigBlk of its
 * threads says so), and a fault on a blocked SIGBUS makes the kernel
 * reset it to the default action: QEMU dies before any handler runs. So
 * when a thread names itself as one of QEMU's migration senders
 * (pthread_setname_np, which QEMU calls on itself with debug-threads=on,
 * as libvirt always starts it) the shim unblocks SIGBUS in that thread,
 * and only there: such a fault kills QEMU either way, and the kernel
 * sends asynchronous memory errors to the main thread, which keeps
 * reading them through its signalfd.
 *
 * The handler reads the recorded disposition through one atomic pointer
 * into a small ring of records, so it never sees half of an update and
 * never takes a lock. sigaction() may itself be called from a signal
 * handler (QEMU re-raises SIGBUS from its handler), so the writers' lock is
 * a spin on an atomic with every signal blocked.
 */
#include <sys/syscall.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

#ifndef BUS_MCEERR_AR
#define BUS_MCEERR_AR 4
#endif
#ifndef BUS_MCEERR_AO
#define BUS_MCEERR_AO 5
#endif

/* Records older than this many installs may be reused. */
#define SHIM_SIG_RING 16
#define SHIM_SIG_QUEUE 32	/* memory errors kept for the shim's thread */
#define SHIM_SIG_STACK_MIN (64 * 1024)	/* for a forward in the handler */

/* Queue entry states. */
#define SHIM_SIG_FREE 0
#define SHIM_SIG_WRITING 1
#define SHIM_SIG_READY 2

typedef int (*shim_sig_action_fn)(int, const struct sigaction *,
    struct sigaction *);
typedef sighandler_t (*shim_sig_signal_fn)(int, sighandler_t);
typedef int (*shim_sig_setname_fn)(pthread_t, const char *);

/* One SIGBUS disposition the VMM asked for. */
struct shim_sig_app {
	struct sigaction	act;
};

/* One memory error waiting for the registration or a newer map. */
struct shim_sig_kept {
	atomic_int		state;
	uint64_t		seq;		/* arrival order */
	int			kind;
	const void		*addr;
	int			lsb;
	atomic_int		counted;	/* told to the library */
};

extern int __sigaction(int, const struct sigaction *, struct sigaction *);

static _Atomic(shim_sig_action_fn)	 shim_sig_next_action;
static _Atomic(shim_sig_signal_fn)	 shim_sig_next_signal;
static _Atomic(shim_sig_setname_fn)	 shim_sig_next_setname;
static struct shim_sig_app		 shim_sig_ring[SHIM_SIG_RING];
static unsigned int			 shim_sig_ring_next;
static _Atomic(struct shim_sig_app *)	 shim_sig_app;
static atomic_int			 shim_sig_lockv;
static struct shim_sig_kept		 shim_sig_queue[SHIM_SIG_QUEUE];
static atomic_uint			 shim_sig_lost;
static atomic_uint			 shim_sig_untold; /* lost, no client */
static _Atomic uint64_t			 shim_sig_seq;

static void	shim_sig_wrapper(int, siginfo_t *, void *);

/* The handler field of a sigaction as a plain address (it is a union). */
static uintptr_t
shim_sig_addr(const struct sigaction *act)
{
	return (uintptr_t)act->sa_handler;
}

/* Whether act installs the shim's own wrapper. */
static int
shim_sig_is_wrapper(const struct sigaction *act)
{
	return shim_sig_addr(act) == (uintptr_t)shim_sig_wrapper;
}

/*
 * The libc sigaction() behind the shim, found on first use: it may be
 * needed before the constructor runs. libc's own alias is the fallback.
 */
int
shim_sig_real(int sig, const struct sigaction *act, struct sigaction *old)
{
	shim_sig_action_fn	fn;

	if ((fn = atomic_load(&shim_sig_next_action)) == NULL) {
		fn = (shim_sig_action_fn)dlsym(RTLD_NEXT, "sigaction");
		if (fn == NULL)
			fn = __sigaction;
		atomic_store(&shim_sig_next_action, fn);
	}
	return fn(sig, act, old);
}

/* The libc signal() behind the shim, for every signal but SIGBUS. */
static sighandler_t
shim_sig_real_signal(int sig, sighandler_t handler)
{
	struct sigaction	act, old;
	shim_sig_signal_fn	fn;

	if ((fn = atomic_load(&shim_sig_next_signal)) == NULL) {
		fn = (shim_sig_signal_fn)dlsym(RTLD_NEXT, "signal");
		atomic_store(&shim_sig_next_signal, fn);
	}
	if (fn != NULL)
		return fn(sig, handler);
	/* BSD semantics, as glibc's signal() has them. */
	memset(&act, 0, sizeof act);
	act.sa_handler = handler;
	sigemptyset(&act.sa_mask);
	sigaddset(&act.sa_mask, sig);
	act.sa_flags = SA_RESTART;
	if (shim_sig_real(sig, &act, &old) == -1)
		return SIG_ERR;
	return old.sa_handler;
}

/* Take the writers' lock with every signal blocked; old gets the mask. */
static void
shim_sig_lock(sigset_t *old)
{
	struct timespec	ts = { 0, 10 * 1000 };
	sigset_t	all;
	int		expected;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, old);
	for (;;) {
		expected = 0;
		if (atomic_compare_exchange_strong(&shim_sig_lockv, &expected,
		    1))
			return;
		nanosleep(&ts, NULL);
	}
}

/* Release the writers' lock and restore the signal mask. */
static void
shim_sig_unlock(const sigset_t *old)
{
	atomic_store(&shim_sig_lockv, 0);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/*
 * Tell the library that this kept error waits, once. Async-signal-safe.
 */
static void
shim_sig_count(struct shim_sig_kept *e, struct rasc *c)
{
	int	expected = 0;

	if (c != NULL && atomic_compare_exchange_strong(&e->counted,
	    &expected, 1))
		rasc_note_held(c, 1);
}

/*
 * Keep a memory error for the shim's thread and wake it. Returns -1 when
 * the queue is full. Async-signal-safe.
 */
static int
shim_sig_keep(int kind, const void *addr, int lsb)
{
	struct shim_sig_kept	*e;
	int			 expected;

	for (e = shim_sig_queue; e < shim_sig_queue + SHIM_SIG_QUEUE; e++) {
		expected = SHIM_SIG_FREE;
		if (!atomic_compare_exchange_strong(&e->state, &expected,
		    SHIM_SIG_WRITING))
			continue;
		e->seq = atomic_fetch_add(&shim_sig_seq, 1);
		e->kind = kind;
		e->addr = addr;
		e->lsb = lsb;
		atomic_store(&e->counted, 0);
		atomic_store(&e->state, SHIM_SIG_READY);
		/* After READY: if the client came meanwhile, the thread's
		 * scan or this sees it (shim_sig_flush). */
		shim_sig_count(e, shim_client());
		shim_wake();
		return 0;
	}
	return -1;
}

/*
 * Forward the memory errors kept for the shim's thread; it calls this
 * whenever rasd has the current map.
 */
void
shim_sig_flush(struct rasc *c)
{
	struct rasc_decision	 d;
	struct shim_sig_kept	*e, *first;
	unsigned int		 lost, n;

	/* Kept before there was a client: rasd must hear of them. */
	for (e = shim_sig_queue, n = 0; e < shim_sig_queue + SHIM_SIG_QUEUE;
	    e++)
		if (atomic_load(&e->state) == SHIM_SIG_READY) {
			shim_sig_count(e, c);
			n++;
		}
	rasc_note_dropped(c, atomic_exchange(&shim_sig_untold, 0));
	/* Telling it cut the connection: register again now, so that the
	 * forwards below go out at once, not in the next replay (a VMM may
	 * be about to exit). */
	if (n > 0 && !rasc_connected(c))
		(void)rasc_service(c);
	/* Oldest first, so rasd sees them in the order they came. */
	for (;;) {
		first = NULL;
		for (e = shim_sig_queue; e < shim_sig_queue + SHIM_SIG_QUEUE;
		    e++)
			if (atomic_load(&e->state) == SHIM_SIG_READY &&
			    (first == NULL || e->seq < first->seq))
				first = e;
		if (first == NULL)
			break;
		(void)rasc_forward(c, first->kind, first->addr, first->lsb,
		    &d);
		/* rasd has it now, or the library's ring keeps it. */
		if (atomic_exchange(&first->counted, 0))
			rasc_note_held(c, -1);
		atomic_store(&first->state, SHIM_SIG_FREE);
	}
	if ((lost = atomic_exchange(&shim_sig_lost, 0)) != 0)
		shim_log("%u memory errors did not fit the shim's queue and "
		    "were not forwarded; rasd is told, and refuses to hand "
		    "this VM off to a migration's destination until the guest "
		    "is reset", lost);
}

/* Whether memory errors are waiting for the shim's thread. */
int
shim_sig_pending(void)
{
	struct shim_sig_kept	*e;

	for (e = shim_sig_queue; e < shim_sig_queue + SHIM_SIG_QUEUE; e++)
		if (atomic_load(&e->state) != SHIM_SIG_FREE)
			return 1;
	return 0;
}

/*
 * Act on SIG_DFL from inside the wrapper: put the default back and send
 * the same signal again, so the process ends as the kernel would have
 * ended it, with the memory error's own siginfo where there is one.
 */
static void
shim_sig_default(int sig, siginfo_t *si)
{
	struct sigaction	dfl;

	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	shim_sig_real(sig, &dfl, NULL);
	if (si == NULL || syscall(SYS_rt_tgsigqueueinfo, getpid(),
	    (pid_t)syscall(SYS_gettid), sig, si) == -1)
		raise(sig);
}

/* Whether the handler runs on an alternate stack too small to forward. */
static int
shim_sig_small_stack(void)
{
	stack_t	ss;

	if (sigaltstack(NULL, &ss) == -1)
		return 0;
	return (ss.ss_flags & SS_ONSTACK) && ss.ss_size < SHIM_SIG_STACK_MIN;
}

/*
 * Forward a memory error to rasd, now or through the shim's thread.
 * Returns 1 when the shim carried the decision out itself (enforcing
 * mode, shim_mce.c): QEMU's handler must not see the error.
 */
static int
shim_sig_forward(const siginfo_t *si)
{
	struct rasc_decision	 d;
	struct rasc		*c;
	uint64_t		 granule;
	int			 kind, small, rc;

	if (si->si_code == BUS_MCEERR_AR)
		kind = RASC_KIND_AR;
	else if (si->si_code == BUS_MCEERR_AO)
		kind = RASC_KIND_AO;
	else
		return 0;
	/*
	 * The granule is poisoned in this process from now on: the whole
	 * (huge) page holding the address, which is the faulting byte's.
	 */
	granule = 1ULL << (si->si_addr_lsb >= 12 && si->si_addr_lsb < 40 ?
	    si->si_addr_lsb : 12);
	shim_poison_add((uintptr_t)si->si_addr & ~(uintptr_t)(granule - 1),
	    granule, 1);
	c = shim_client();
	small = shim_sig_small_stack();
	if (c == NULL || small || !shim_current()) {
		/* No decision to carry out now: QEMU's handler acts. */
		if (shim_sig_keep(kind, si->si_addr, si->si_addr_lsb) == 0)
			return 0;
		/* Queue full: better an older map than nothing. */
		if (c == NULL || small) {
			atomic_fetch_add(&shim_sig_lost, 1);
			if (c != NULL)
				rasc_note_dropped(c, 1);
			else
				atomic_fetch_add(&shim_sig_untold, 1);
			shim_wake();
			return 0;
		}
	}
	/*
	 * Observing: QEMU acts on its own; rasd records and the replay ring
	 * keeps it. Enforcing: the decision is carried out here.
	 */
	rc = rasc_forward(c, kind, si->si_addr, si->si_addr_lsb, &d);
	if (rc >= 0 && atomic_load(&shim_mce_on_v))
		return shim_mce_carry_out(kind, &d);
	return 0;
}

/*
 * The SIGBUS handler the kernel (and QEMU's signalfd path) really calls:
 * forward a memory error, then run the VMM's handler as the kernel would.
 */
static void
shim_sig_wrapper(int sig, siginfo_t *si, void *uc)
{
	struct shim_sig_app	*a;
	int			 saved_errno = errno;

	/*
	 * A real fault (the kernel's delivery has a context; QEMU's
	 * signalfd path passes NULL) of a non-vCPU thread on poison the
	 * shim knows: the read gets zeros, QEMU lives (shim_poison.c).
	 */
	if (si != NULL && uc != NULL && shim_poison_rescue(si)) {
		errno = saved_errno;
		return;
	}
	if (si != NULL && shim_sig_forward(si)) {
		errno = saved_errno;
		return;
	}
	errno = saved_errno;

	a = atomic_load(&shim_sig_app);
	if (a == NULL || a->act.sa_handler == SIG_DFL) {
		shim_sig_default(sig, si);
		errno = saved_errno;
		return;
	}
	if (a->act.sa_handler == SIG_IGN)
		return;
	if (a->act.sa_flags & SA_SIGINFO)
		a->act.sa_sigaction(sig, si, uc);
	else
		a->act.sa_handler(sig);
}

/*
 * Install the VMM's SIGBUS disposition act, with the wrapper in front of a
 * real handler. old gets what was installed before (the wrapper, if it
 * was); prev, if not NULL, gets the VMM's previous disposition.
 */
static int
shim_sig_install(const struct sigaction *act, struct sigaction *old,
    struct sigaction *prev)
{
	struct shim_sig_app	*rec, *was;
	struct sigaction	 wrap;
	sigset_t		 mask;
	int			 rc, saved_errno;

	if (!shim_id_get()->valid)
		return shim_sig_real(SIGBUS, act, old);

	shim_sig_lock(&mask);
	was = atomic_load(&shim_sig_app);
	if (prev != NULL) {
		if (was != NULL)
			*prev = was->act;
		else if (shim_sig_real(SIGBUS, NULL, prev) == -1)
			memset(prev, 0, sizeof *prev);
	}
	if (shim_sig_is_wrapper(act)) {
		/* The VMM puts back what a query gave it: keep the chain. */
		wrap = *act;
		wrap.sa_flags |= SA_SIGINFO;
		rc = shim_sig_real(SIGBUS, &wrap, old);
		goto out;
	}

	rec = &shim_sig_ring[shim_sig_ring_next++ % SHIM_SIG_RING];
	rec->act = *act;
	/* Published first, so a signal right after the install finds it. */
	atomic_store(&shim_sig_app, rec);
	if (act->sa_handler == SIG_DFL || act->sa_handler == SIG_IGN)
		rc = shim_sig_real(SIGBUS, act, old);
	else {
		wrap = *act;
		wrap.sa_sigaction = shim_sig_wrapper;
		wrap.sa_flags |= SA_SIGINFO;
		rc = shim_sig_real(SIGBUS, &wrap, old);
	}
	if (rc == -1)
		atomic_store(&shim_sig_app, was);

out:
	saved_errno = errno;
	shim_sig_unlock(&mask);
	errno = saved_errno;
	return rc;
}

/*
 * Put the wrapper in front of a SIGBUS handler installed before the shim's
 * constructor ran (a sanitizer runtime installs one from the executable's
 * preinit stage); the constructor calls this once the VM is named.
 */
void
shim_sig_adopt(void)
{
	struct sigaction	cur;

	if (!shim_id_get()->valid || shim_sig_real(SIGBUS, NULL, &cur) == -1)
		return;
	if (cur.sa_handler == SIG_DFL || cur.sa_handler == SIG_IGN ||
	    shim_sig_is_wrapper(&cur))
		return;
	(void)shim_sig_install(&cur, NULL, NULL);
}

/* Interposed sigaction(): SIGBUS handlers get the wrapper in front. */
int
sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (sig != SIGBUS || act == NULL)
		return shim_sig_real(sig, act, old);
	return shim_sig_install(act, old, NULL);
}

/*
 * Interposed signal(): the same for SIGBUS, with glibc's BSD semantics.
 * It returns the VMM's previous handler rather than the wrapper, since a
 * plain handler pointer cannot carry the siginfo the wrapper needs.
 */
sighandler_t
signal(int sig, sighandler_t handler)
{
	struct sigaction	act, old, prev;

	if (sig != SIGBUS || !shim_id_get()->valid)
		return shim_sig_real_signal(sig, handler);
	memset(&prev, 0, sizeof prev);
	memset(&act, 0, sizeof act);
	act.sa_handler = handler;
	sigemptyset(&act.sa_mask);
	sigaddset(&act.sa_mask, sig);
	act.sa_flags = SA_RESTART;
	if (shim_sig_install(&act, &old, &prev) == -1)
		return SIG_ERR;
	return shim_sig_is_wrapper(&old) ? prev.sa_handler : old.sa_handler;
}

/*
 * Whether QEMU names a thread that reads guest RAM to migrate it: 7.2's
 * "live_migration" (and "compress" with compression), newer versions'
 * "mig/src/...".
 */
static int
shim_sig_migration_thread(const char *name)
{
	return strcmp(name, "live_migration") == 0 ||
	    strcmp(name, "compress") == 0 ||
	    strncmp(name, "mig/src/", 8) == 0;
}

/*
 * Interposed pthread_setname_np(): a QEMU migration thread naming itself
 * gets SIGBUS unblocked, so that the wrapper sees its faults on poisoned
 * memory instead of the kernel killing QEMU.
 */
int
pthread_setname_np(pthread_t thread, const char *name)
{
	shim_sig_setname_fn	fn;
	sigset_t		set;
	int			rc, saved_errno;

	if ((fn = atomic_load(&shim_sig_next_setname)) == NULL) {
		fn = (shim_sig_setname_fn)dlsym(RTLD_NEXT,
		    "pthread_setname_np");
		if (fn == NULL)
			return ENOSYS;
		atomic_store(&shim_sig_next_setname, fn);
	}
	rc = fn(thread, name);
	if (pthread_equal(thread, pthread_self()) &&
	    shim_id_get()->valid && shim_sig_migration_thread(name)) {
		saved_errno = errno;
		sigemptyset(&set);
		sigaddset(&set, SIGBUS);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		errno = saved_errno;
	}
	return rc;
}
