/*
 * shim.c -- rasd-shim.so: registration with rasd and the shim's thread.
 *
 * DESIGN: rasd-shim.so is LD_PRELOADed into an unmodified VMM (QEMU under
 * libvirt, through <qemu:env name='LD_PRELOAD'>). It interposes four libc
 * entry points and nothing else: ioctl() to learn the guest memory map from
 * KVM_SET_USER_MEMORY_REGION and to see vCPU threads enter KVM_RUN
 * (shim_kvm.c; a migration destination's first KVM_RUN waits until its
 * poison is re-armed, shim_gate.c), sigaction() and signal() to put a
 * forwarding wrapper in front of the VMM's SIGBUS handler, and
 * pthread_setname_np() to let that wrapper see the faults of QEMU's
 * migration thread (shim_sig.c, shim_poison.c). The VM is named by the
 * VMM's command line (shim_id.c).
 *
 * Whatever blocks or allocates runs on one thread of the shim's own,
 * started at the first memory slot the VMM gives KVM (late enough that a
 * daemonizing VMM has already forked, early enough to be before the guest
 * runs): it registers with rasd through the client library once guest RAM
 * is known, starts the library's reconnect/replay thread, and pushes every
 * later map change with rasc_set_slots(), which also keeps the table the
 * library's local fallback translates with current. The ioctl path only
 * records the change and wakes the thread through an eventfd.
 *
 * The shim must never break the VMM: each failure is one line on stderr
 * (libvirt puts it in /var/log/libvirt/qemu/NAME.log), then the shim steps
 * aside. Enforcing (the default on x86), the shim carries out rasd's
 * decision for a memory error itself (shim_mce.c) and QEMU's handler sees
 * only what the shim cannot carry out; observing, QEMU's handler sees
 * every SIGBUS but one, a migration thread's read of memory the shim knows
 * is poisoned, which would make QEMU die. A process that is not a KVM
 * VMM, or has no VM UUID, sees no change and no output. The one time the
 * shim stops the VMM is on purpose: a migration destination whose poison
 * cannot be re-armed, when RASD_SHIM_REQUIRED=1 asks for that
 * (shim_gate.c).
 *
 * The thread also moves a poisoned range back where the SIGBUS wrapper
 * gave QEMU's migration thread zero pages, then lets the held vCPUs run
 * again (shim_poison.c), and re-arms a migrated guest late if rasd
 * answered only after the gate let it run.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ras.h"
#include "shim.h"

#define SHIM_LOG_MAX 1024
#define SHIM_SERVICE_MS 500	/* reconnect/replay interval */
#define SHIM_ANNOUNCE_MS 1000	/* recheck for rasd until it answered */
#define SHIM_FINI_MS 2000	/* exit waits this long for queued errors */

static pthread_once_t		 shim_once = PTHREAD_ONCE_INIT;
static atomic_int		 shim_efd = -1;
static atomic_int		 shim_running;	/* the shim's thread works */
static _Atomic(struct rasc *)	 shim_rasc;
static _Atomic uint64_t		 shim_pushed;	/* table gen rasd has */
static atomic_int		 shim_registered_v; /* rasd answered once */
static atomic_int		 shim_stopped_v;	/* the shim gave up */
static char			 shim_why[512];	/* why, set before that */

/* Log one line to stderr, prefixed "rasd-shim: "; never from a handler. */
void
shim_log(const char *fmt, ...)
{
	char	buf[SHIM_LOG_MAX];
	va_list	ap;
	int	n, saved_errno = errno;

	n = snprintf(buf, sizeof buf, "rasd-shim: ");
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(buf);
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, (size_t)n);
	errno = saved_errno;
}

/*
 * Record why the shim stepped aside for good (no thread, or the thread
 * ended), for the migration gate.
 */
static void __attribute__((format(printf, 1, 2)))
shim_stop(const char *fmt, ...)
{
	va_list	ap;

	if (atomic_load(&shim_stopped_v))
		return;
	va_start(ap, fmt);
	vsnprintf(shim_why, sizeof shim_why, fmt, ap);
	va_end(ap);
	atomic_store(&shim_stopped_v, 1);
}

/*
 * Whether the shim has stepped aside for good; why gets the reason when
 * not NULL. Async-signal-safe with why NULL.
 */
int
shim_stopped(char *why, size_t len)
{
	if (!atomic_load(&shim_stopped_v))
		return 0;
	if (why != NULL)
		snprintf(why, len, "%s", shim_why);
	return 1;
}

/* Whether rasd has answered a registration of this VM at least once. */
int
shim_registered(void)
{
	return atomic_load(&shim_registered_v);
}

/* The registered client, or NULL; read by the SIGBUS wrapper. */
struct rasc *
shim_client(void)
{
	return atomic_load(&shim_rasc);
}

/*
 * Whether rasd (and the library's fallback) translate with the memory map
 * KVM has now, so a forward made now gets the right guest address.
 * Async-signal-safe.
 */
int
shim_current(void)
{
	return atomic_load(&shim_pushed) == shim_kvm_gen();
}

/*
 * Register the VM with rasd. x86 QEMU 7.2 gives the guest no HEST and
 * injects memory errors as machine checks only, so it declares one MCE
 * source. arm64 QEMU describes its error sources in the HEST it builds for
 * the "virt" machine with ras=on; the shim declares what QEMU builds for
 * the machine type on its command line (shim_id_arm_profile()). QEMU
 * itself injects only SEA, and only for an AR (an AO it leaves alone), so
 * SEA is all it can deliver: the caps say so, and rasd records what QEMU
 * really does (an AO: ignore). arm64 has no enforcing mode yet.
 */
static int shim_qemu;	/* QEMU's version (shim_id_qemu_version()) */

static struct rasc *
shim_open(const struct shim_id *id, const struct rasc_slot *slots,
    unsigned int n)
{
	struct rasc_config	 cfg;
	struct rasc		*c;
	char			 err[256];
#if defined(__x86_64__)
	static const struct rasc_declared mce[] = { { 0, RAS_NOTIFY_MCE } };
#elif defined(__aarch64__)
	struct rasc_declared	 arm[2];
#endif

	memset(&cfg, 0, sizeof cfg);
	cfg.socket_path = id->socket;
	memcpy(cfg.uuid, id->uuid, sizeof cfg.uuid);
	cfg.name = id->name;
#if defined(__x86_64__)
	cfg.arch = "x86_64";
	cfg.declared = mce;
	cfg.declared_count = 1;
	cfg.caps = RASC_CAP(RAS_NOTIFY_MCE);
#elif defined(__aarch64__)
	cfg.arch = "arm64";
	cfg.declared = arm;
	cfg.declared_count = shim_id_arm_profile(id->machine, id->ras, arm);
	cfg.caps = RASC_CAP(RAS_NOTIFY_SEA);
#else
	shim_log("VM %s (%s): this architecture has no memory-error "
	    "forwarding; not forwarding memory errors", id->name,
	    id->uuid_str);
	shim_stop("this architecture has no memory-error forwarding");
	return NULL;
#endif
	cfg.slots = slots;
	cfg.slot_count = n;
	cfg.resume = id->resume;
	/*
	 * The MCE encoding rasd names must be the one the guest gets. The
	 * shim's (enforcing) follows the guest's vendor; so does QEMU's own
	 * from 9.1 on (AMD values for an AMD-vendor guest), while QEMU up to
	 * 9.0 gives Intel values to every vendor.
	 */
	shim_qemu = shim_id_qemu_version();
	if (shim_mce_enforcing() || shim_qemu >= 901)
		cfg.cpu_vendor = shim_mce_vendor();
	/*
	 * Observing, rasd records what QEMU's handler does: nothing it can
	 * inject when the guest's CPU lacks MCG_SER_P (QEMU then exits on an
	 * AR -- recorded as stop-vm -- and ignores an AO).
	 */
	cfg.observing = !shim_mce_enforcing();
	if (cfg.observing && !shim_mce_qemu_injects()) {
		cfg.caps = 0;
		shim_log("VM %s (%s): the guest's CPU lacks MCG_SER_P: QEMU "
		    "exits on an action-required memory error and ignores "
		    "an optional one; rasd records stop-vm and ignore",
		    id->name, id->uuid_str);
	}

	if ((c = rasc_open(&cfg, err, sizeof err)) == NULL) {
		shim_log("VM %s (%s): registration with rasd at %s failed: "
		    "%s; not forwarding memory errors", id->name, id->uuid_str,
		    id->socket, err);
		shim_stop("registration with rasd at %s failed: %s", id->socket,
		    err);
		shim_gate_refused(shim_why);
		return NULL;
	}
	if (rasc_start_thread(c, SHIM_SERVICE_MS) == -1)
		shim_log("VM %s (%s): %s; errors forwarded while rasd is away "
		    "will not be replayed", id->name, id->uuid_str,
		    rasc_strerror(c));
	if (!rasc_connected(c))
		shim_log("VM %s (%s): rasd at %s is unreachable (%s); deciding "
		    "locally and replaying when it is back", id->name,
		    id->uuid_str, id->socket, rasc_strerror(c));
	return c;
}

/* Whether two maps differ. */
static int
shim_changed(const struct rasc_slot *a, unsigned int na,
    const struct rasc_slot *b, unsigned int nb)
{
	return na != nb || memcmp(a, b, na * sizeof *a) != 0;
}

/* Body of the shim's thread: register, then follow the memory map. */
static void *
shim_main(void *arg)
{
	const struct shim_id	*id = shim_id_get();
	static struct rasc_slot	 slots[RASC_MAX_SLOTS], sent[RASC_MAX_SLOTS];
	struct rasc		*c = NULL;
	struct pollfd		 pfd;
	uint64_t		 gen, v;
	unsigned int		 n, nsent = 0;
	int			 efd = atomic_load(&shim_efd), announced = 0, newly;
	int			 warned = 0, timeout, due;
	uint64_t		 lost = 0;
	int			 stop_said = 0;

	pthread_setname_np(pthread_self(), "rasd-shim");
	for (;;) {
		/* Until rasd answered (and while a late re-arm waits for
		 * it), look again now and then; markers have their time. */
		timeout = c != NULL && (!announced || shim_gate_late()) ?
		    SHIM_ANNOUNCE_MS : -1;
		if ((due = shim_poison_service()) >= 0 &&
		    (timeout < 0 || due < timeout))
			timeout = due;
		/* A migration destination that rasd must answer in time. */
		if ((due = shim_gate_deadline()) >= 0 &&
		    (timeout < 0 || due < timeout))
			timeout = due;
		pfd.fd = efd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, timeout) == -1 && errno != EINTR) {
			shim_log("VM %s: poll: %s; the memory map is no longer "
			    "followed", id->name, strerror(errno));
			shim_stop("the shim's thread failed: poll: %s",
			    strerror(errno));
			break;
		}
		(void)!read(efd, &v, sizeof v);

		n = shim_kvm_snapshot(slots, RASC_MAX_SLOTS, &gen);
		if (c == NULL) {
			/* rasd and the library both want guest RAM first. */
			if (n == 0)
				continue;
			if ((c = shim_open(id, slots, n)) == NULL)
				break;
			memcpy(sent, slots, n * sizeof *slots);
			nsent = n;
			atomic_store(&shim_pushed, gen);
			atomic_store(&shim_rasc, c);
		} else if (gen != atomic_load(&shim_pushed) && n > 0) {
			if (!shim_changed(slots, n, sent, nsent))
				;
			else if (rasc_set_slots(c, slots, n) == -1) {
				if (!warned++)
					shim_log("VM %s: memory map of %u "
					    "slots not taken: %s", id->name, n,
					    rasc_strerror(c));
			} else {
				memcpy(sent, slots, n * sizeof *slots);
				nsent = n;
			}
			/*
			 * Only now: until rasd has this map, the wrapper
			 * queues what comes, and the flush below sends it.
			 */
			atomic_store(&shim_pushed, gen);
		}
		/*
		 * Say so before the queue drains: a VMM that exits right after
		 * its first errors waits at exit only for the queue, and must
		 * still leave the line.
		 */
		newly = 0;
		if (!announced && rasc_connected(c)) {
			shim_log("VM %s (%s) covered, forwarding memory errors "
			    "to %s (%s)", id->name, id->uuid_str, id->socket,
			    id->enforce ? "enforcing: the shim carries out "
			    "rasd's decisions" : shim_qemu >= 900 ?
			    "observing: QEMU acts on its own, and refuses to "
			    "migrate the VM once it has a memory error" :
			    "observing: QEMU acts on its own");
			if (id->mode_bad != NULL)
				shim_log("VM %s: %s", id->name, id->mode_bad);
			announced = newly = 1;
		}
		/* Errors kept for a newer map wait until rasd has it. */
		if (shim_current())
			shim_sig_flush(c);
		if ((n = shim_mce_take_dropped()) != 0)
			shim_log("VM %s: %u machine checks were not set: one "
			    "was still waiting for the same vCPU", id->name, n);
		if (shim_mce_stopped() && !stop_said) {
			shim_log("VM %s: rasd decided stop-vm for a memory "
			    "error the guest cannot be told of; its vCPUs are "
			    "held (rasctl history %s says which)", id->name,
			    id->name);
			stop_said = 1;
		}
		/* Never silent: what the library's full ring dropped. */
		if ((v = rasc_lost(c)) != lost) {
			shim_log("VM %s: %llu local decisions could not be kept "
			    "for replay (the library's ring was full while rasd "
			    "was away): rasd is told at its next registration",
			    id->name, (unsigned long long)v);
			lost = v;
		}
		if (newly) {
			atomic_store(&shim_registered_v, 1);
			shim_gate_registered(c);
		} else if (shim_gate_late() && rasc_connected(c))
			shim_gate_registered(c);
	}
	shim_stop("the shim's thread ended");
	atomic_store(&shim_running, 0);
	return NULL;
}

/*
 * At exit, give the shim's thread a bounded moment to register and
 * forward memory errors that came before the registration: a VMM that
 * stops right after one should still leave it recorded.
 */
static void __attribute__((destructor))
shim_fini(void)
{
	struct timespec	ts = { 0, 10 * 1000 * 1000 };
	int		i;

	for (i = 0; i < SHIM_FINI_MS / 10; i++) {
		if (!atomic_load(&shim_running) || !shim_sig_pending())
			return;
		nanosleep(&ts, NULL);
	}
}

/* Start the shim's thread, unless the process names no VM. */
static void
shim_start_once(void)
{
	const struct shim_id	*id = shim_id_get();
	pthread_attr_t		 attr;
	pthread_t		 t;
	sigset_t		 all, old;
	int			 efd, error;

	if (!id->valid) {
		shim_log("KVM VM without an identity (%s); not forwarding "
		    "memory errors", id->why);
		shim_stop("the VM has no identity (%s)", id->why);
		return;
	}
	if ((efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		shim_log("VM %s: eventfd: %s; not forwarding memory errors",
		    id->name, strerror(errno));
		shim_stop("eventfd: %s", strerror(errno));
		return;
	}
	atomic_store(&shim_efd, efd);

	/* No signal of the VMM's may land on the shim's thread. */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	atomic_store(&shim_running, 1);
	error = pthread_create(&t, &attr, shim_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (error != 0) {
		shim_log("VM %s: cannot start the shim's thread: %s; not "
		    "forwarding memory errors", id->name, strerror(error));
		shim_stop("cannot start the shim's thread: %s",
		    strerror(error));
		atomic_store(&shim_running, 0);
		atomic_store(&shim_efd, -1);
		close(efd);
		return;
	}
}

/*
 * In a child of fork(), step aside: the child shares the parent's socket
 * to rasd and its eventfd, and a forward from it would cut into the
 * parent's conversation. Its own children, if VMMs, start afresh on exec.
 */
static void
shim_atfork_child(void)
{
	atomic_store(&shim_rasc, NULL);
	atomic_store(&shim_efd, -1);
	atomic_store(&shim_running, 0);
	atomic_store(&shim_stopped_v, 1);
}

/*
 * Name the VM, then catch up with what the process did before: a SIGBUS
 * handler installed earlier gets the wrapper, memory slots set earlier
 * start the shim's thread.
 */
static void __attribute__((constructor))
shim_init(void)
{
	shim_id_load();
	shim_mce_init();
	shim_gate_init();
	pthread_atfork(NULL, NULL, shim_atfork_child);
	shim_sig_adopt();
	if (shim_kvm_gen() != 0) {
		shim_start();
		shim_wake();
	}
}

/* Start the shim's thread on first use. */
void
shim_start(void)
{
	pthread_once(&shim_once, shim_start_once);
}

/* Wake the shim's thread: the memory map changed. */
void
shim_wake(void)
{
	uint64_t	one = 1;
	int		efd, saved_errno = errno;

	if ((efd = atomic_load(&shim_efd)) != -1)
		(void)!write(efd, &one, sizeof one);
	errno = saved_errno;
}
