/*
 * kvmvmm.c -- a minimal real KVM "VMM" for testing rasd-shim.so.
 *
 * DESIGN: the shim learns everything from what an unmodified VMM does, so
 * this program does those things for real and nothing more: it creates a
 * KVM VM, programs memory slots the way QEMU does (one slot for all RAM,
 * then deleted and split around the legacy hole with a read-only ROM, a
 * slot that is moved, one that is deleted, one in the SMM address space),
 * installs its own SIGBUS handler with sigaction() and raises real SIGBUS
 * signals with rt_tgsigqueueinfo(2) on its own "CPU 0/KVM" thread (the
 * kernel accepts a positive si_code only from the process itself). A kind
 * written KIND@fd is raised instead on the main thread with SIGBUS blocked
 * and read back through a signalfd, then handed to whatever handler
 * sigaction(SIGBUS, NULL, &old) returns, as QEMU 7.2's main loop does.
 * --use-signal installs the handler with signal() instead, --altstack runs
 * it on a small alternate stack (SA_ONSTACK) on the vCPU thread.
 * It never talks to rasd: whatever reaches rasd went through the shim.
 *
 * For the migration re-arm: "-incoming X" is only there for the shim to
 * see (QEMU's migration destination flag). --run creates a vCPU on the
 * "CPU 0/KVM" thread and enters KVM_RUN once (the guest has no code; what
 * KVM answers does not matter, the shim's gate acts before the call).
 * --check GPA[:LEN] then looks at guest memory the shim should have
 * re-armed: each page through /proc/self/mem (a poison marker reads EIO),
 * the pages either side, and a direct load on the vCPU thread, which must
 * raise SIGBUS into this VMM's own handler (caught with siglongjmp) and
 * leave the marker in place. --mark GPA[:LEN] puts a poison marker there
 * itself (UFFDIO_POISON), standing in for hardware poison. --settle MS
 * waits after the --poison signals (the shim's thread acts on them).
 * --kick-after MS does to every vCPU in KVM_RUN, MS after --run began,
 * what QEMU does to get them back (kvm_run->immediate_exit, a signal).
 * The actions run in this order: --run, --poison, --settle, --mark,
 * --check, --race, --migrate-read. --memfd backs guest RAM with a shared
 * memfd (QEMU's memory-backend-memfd, share=on) instead of anonymous
 * memory. --race (kvmvmm_race.c) has a vCPU read guest memory in a tight
 * loop while the migration thread reads a poisoned page in it. --migrate-read GPA reads a page the way QEMU 7.2's migration
 * thread does: from a thread created with every signal blocked that
 * names itself "live_migration" (--migrate-name) with pthread_setname_np,
 * then reports what it read and whether the page is poisoned again 200 ms
 * later. --uffd-probe only says whether UFFDIO_POISON works here.
 *
 * For memory errors made by the kernel itself (memory_failure(), KVM):
 * --mce-early asks for early kill as QEMU does at start-up (prctl
 * PR_MCE_KILL_EARLY on the main thread, inherited by every thread made
 * after it), so that poison found asynchronously (hwpoison-inject, a
 * patrol scrub) reaches this VMM as BUS_MCEERR_AO. --fill GPA[:LEN] writes
 * a pattern there (each page starts with its own GPA) so that real pages
 * back it, and prints the first page's PFN from /proc/self/pagemap (root
 * only). --madv-hwpoison GPA has the vCPU thread call madvise(MADV_HWPOISON)
 * on that page: memory_failure() with MF_ACTION_REQUIRED, which signals
 * the calling thread. --guest-load GPA runs guest code on the vCPU (flat
 * 32-bit protected mode at KVMVMM_CODE_GPA: "mov eax, [GPA]; hlt"), so
 * that KVM itself faults on whatever backs GPA; on hardware poison or a
 * poison marker KVM sends the vCPU thread SIGBUS and KVM_RUN returns
 * EINTR. Each reports what arrived: code, address, GPA, si_addr_lsb and
 * the receiving thread. These run after the layout is made (--fill) and
 * after --mark (--madv-hwpoison, then --guest-load), before --check.
 * With --hold, "fill GPA[:LEN]", "mark GPA[:LEN]", "madv-hwpoison GPA",
 * "guest-load GPA" do the same, and "wait MS" reports an asynchronous
 * SIGBUS: one pending for the main thread (which blocks SIGBUS as QEMU's
 * does) is read from the signalfd and handed to the installed handler,
 * the line saying whether the kernel sent it to that thread (SigPnd) or
 * to the process (ShdPnd); one that ran a handler on another thread is
 * reported as it came.
 *
 * Output (stdout, one line each): "layout ..." lines for the final memory
 * map, "sigbus handler as queried: own|other", and per signal
 * "handler ran: code=N addr=0xHVA gpa=0xGPA" or "handler did not run: ...";
 * "kvm_run: ...", "check gpa=...", "migration read gpa=..." for the above;
 * "filled ...", "madv-hwpoison gpa=...", "guest load gpa=...",
 * "async sigbus: ..." for the memory-error actions.
 * Exit status: 0 done, 1 a handler did not run or a KVM call failed,
 * 2 bad arguments, 77 KVM (or, for --uffd-probe, UFFDIO_POISON) is not
 * usable here.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <linux/kvm.h>
#include <linux/userfaultfd.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "kvmvmm.h"

#ifndef BUS_MCEERR_AR
#define BUS_MCEERR_AR 4
#endif
#ifndef BUS_MCEERR_AO
#define BUS_MCEERR_AO 5
#endif
#ifndef MADV_HWPOISON
#define MADV_HWPOISON 100
#endif
#ifndef PR_MCE_KILL
#define PR_MCE_KILL 33
#define PR_MCE_KILL_SET 1
#define PR_MCE_KILL_EARLY 1
#define PR_MCE_KILL_GET 34
#endif
#ifndef KVM_MEM_READONLY
#define KVM_MEM_READONLY (1UL << 1)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1ULL << 14)
#endif

/* UFFDIO_POISON (Linux 6.6); Debian 12's headers predate it. */
struct kvmvmm_uffdio_poison {
	struct uffdio_range	range;
	uint64_t		mode;
	int64_t			updated;
};
#define KVMVMM_UFFDIO_POISON _IOWR(UFFDIO, 0x08, struct kvmvmm_uffdio_poison)

#define KVMVMM_EXIT_OK 0
#define KVMVMM_EXIT_FAIL 1
#define KVMVMM_EXIT_USAGE 2
#define KVMVMM_EXIT_NOKVM 77
#define KVMVMM_MAX_POISON 64
#define KVMVMM_MAX_LAYOUT 8

#define KVMVMM_ROM_GPA 0xc0000ULL
#define KVMVMM_ROM_SIZE 0x20000ULL
#define KVMVMM_LOW_SIZE 0xa0000ULL
#define KVMVMM_HIGH_GPA 0x100000ULL
#define KVMVMM_MOVE_FROM 0x20000000ULL
#define KVMVMM_MOVE_TO 0x10000000ULL
#define KVMVMM_MOVE_SIZE (16ULL << 20)
#define KVMVMM_GONE_GPA 0x30000000ULL
#define KVMVMM_GONE_SIZE (2ULL << 20)
#define KVMVMM_SMM_SIZE 0x10000ULL
#define KVMVMM_ALTSTACK_SIZE (32 * 1024)
#define KVMVMM_MAX_CHECK 16
#define KVMVMM_MAX_VCPUS 8
#define KVMVMM_PAGE 4096ULL
#define KVMVMM_REPOISON_WAIT_MS 200
#define KVMVMM_CODE_GPA 0x8000ULL	/* --guest-load's guest code */
#define KVMVMM_GUEST_TRIES 16		/* KVM_RUN calls per guest load */
#define KVMVMM_SIGBUS_BIT (1ULL << (SIGBUS - 1))

/* Jobs for the vCPU thread. */
#define KVMVMM_JOB_RAISE 1	/* raise a SIGBUS on itself */
#define KVMVMM_JOB_RUN 2	/* create the vCPU, enter KVM_RUN once */
#define KVMVMM_JOB_LOAD 3	/* load one byte from addr */
#define KVMVMM_JOB_GUEST 4	/* run guest code loading from a GPA */
#define KVMVMM_JOB_MADV 5	/* madvise(MADV_HWPOISON) on addr */

/* A guest range to check or to mark. */
struct kvmvmm_gpa_range {
	uint64_t	gpa;
	uint64_t	len;
};

/* One raised signal: kind is a si_code; fd says through the signalfd. */
struct kvmvmm_poison {
	int		 code;
	int		 fd;
	uint64_t	 gpa;
	int		 lsb;
};

/* One guest-physical range and the host memory behind it. */
struct kvmvmm_range {
	uint32_t	 slot;
	uint64_t	 gpa;
	uint64_t	 size;
	uint8_t		*hva;
	int		 live;
};

/* The vCPU thread and its one-job mailbox. */
struct kvmvmm_vcpu {
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	int			 job;
	int			 done;
	int			 quit;
	siginfo_t		 si;
	const volatile uint8_t	*addr;
	int			 rc;
	int			 error;
	int			 fd;		/* the vCPU, once created */
};

static struct kvmvmm_range	 kvmvmm_layout[KVMVMM_MAX_LAYOUT];
static unsigned int		 kvmvmm_nlayout;
static struct kvmvmm_poison	 kvmvmm_poisons[KVMVMM_MAX_POISON];
static unsigned int		 kvmvmm_npoison;
static struct kvmvmm_vcpu	 kvmvmm_cpu;
int				 kvmvmm_vmfd = -1;
static int			 kvmvmm_sigfd = -1;
static int			 kvmvmm_plain;	/* install with signal() */
static int			 kvmvmm_altstack; /* SA_ONSTACK, small stack */
static int			 kvmvmm_run;	/* --run */
static unsigned int		 kvmvmm_vcpus = 1; /* --vcpus */
static struct kvmvmm_gpa_range	 kvmvmm_checks[KVMVMM_MAX_CHECK];
static unsigned int		 kvmvmm_nchecks;
static struct kvmvmm_gpa_range	 kvmvmm_marks[KVMVMM_MAX_CHECK];
static unsigned int		 kvmvmm_nmarks;
static uint64_t			 kvmvmm_mreads[KVMVMM_MAX_CHECK];
static unsigned int		 kvmvmm_nmreads;
const char			*kvmvmm_mname = "live_migration";
static uint64_t			 kvmvmm_settle_ms; /* --settle */
static uint64_t			 kvmvmm_kick_ms;	/* --kick-after */
/* Each vCPU's kvm_run and thread while in KVM_RUN, for --kick-after. */
static _Atomic(struct kvm_run *)	 kvmvmm_runs[KVMVMM_MAX_VCPUS];
static pthread_t		 kvmvmm_threads[KVMVMM_MAX_VCPUS];
int				 kvmvmm_kvmfd = -1;
static int			 kvmvmm_mce_early;	/* --mce-early */
static int			 kvmvmm_memfd;		/* --memfd */
static struct kvmvmm_gpa_range	 kvmvmm_fills[KVMVMM_MAX_CHECK];
static unsigned int		 kvmvmm_nfills;
static uint64_t			 kvmvmm_madvs[KVMVMM_MAX_CHECK];
static unsigned int		 kvmvmm_nmadvs;
static uint64_t			 kvmvmm_gloads[KVMVMM_MAX_CHECK];
static unsigned int		 kvmvmm_ngloads;
static uint64_t			 kvmvmm_job_gpa; /* for KVMVMM_JOB_GUEST */
static int			 kvmvmm_seen;	/* handler calls reported */

/* What the SIGBUS handler saw; it touches nothing else. */
atomic_int			 kvmvmm_calls;
static atomic_int		 kvmvmm_last_code;
static _Atomic(uintptr_t)	 kvmvmm_last_addr;
static atomic_int		 kvmvmm_last_lsb;
static atomic_int		 kvmvmm_last_tid;
static atomic_int		 kvmvmm_term;
/* Set around a load that may fault: the handler jumps back there. */
static _Thread_local sigjmp_buf *volatile kvmvmm_jmp;

/* Print usage and exit 2. */
static void __attribute__((noreturn))
kvmvmm_usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "kvmvmm: %s\n", why);
	fprintf(stderr, "usage: kvmvmm [-uuid UUID] [-name OPTS] [-incoming X] "
	    "[--ram SIZE]\n"
	    "              [--poison KIND[@fd]:GPA[:LSB] ...] [--use-signal] "
	    "[--altstack]\n"
	    "              [--run] [--vcpus N] [--kick-after MS] "
	    "[--check GPA[:LEN] ...]\n"
	    "              [--settle MS] [--mark GPA[:LEN] ...]\n"
	    "              [--migrate-read GPA ...] [--migrate-name NAME] "
	    "[--hold]\n"
	    "              [--mce-early] [--fill GPA[:LEN] ...] "
	    "[--madv-hwpoison GPA ...]\n"
	    "              [--guest-load GPA ...] [--memfd]\n"
	    "              [--race GPA:LEN[:STRIDE] [--race-read GPA] "
	    "[--race-reads N]]\n"
	    "       kvmvmm --uffd-probe\n"
	    "KIND: AR, AO or ADRERR. With --hold, stdin takes \"KIND[@fd] GPA "
	    "[LSB]\",\n\"move GPA\", \"check GPA[:LEN]\", \"fill GPA[:LEN]\", "
	    "\"mark GPA[:LEN]\",\n\"madv-hwpoison GPA\", \"guest-load GPA\", "
	    "\"wait MS\" and \"quit\" until end of\ninput or SIGTERM.\n");
	exit(KVMVMM_EXIT_USAGE);
}

/* Parse a number or size with an optional K/M/G suffix; -1 on junk. */
static int
kvmvmm_number(const char *s, uint64_t *out)
{
	unsigned long long	 v;
	char			*e;

	if (*s == '\0' || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &e, 0);
	if (errno != 0 || e == s)
		return -1;
	switch (*e) {
	case 'K': case 'k':
		v <<= 10;
		e++;
		break;
	case 'M': case 'm':
		v <<= 20;
		e++;
		break;
	case 'G': case 'g':
		v <<= 30;
		e++;
		break;
	}
	if (*e != '\0')
		return -1;
	*out = v;
	return 0;
}

/* Parse "KIND[@fd]" followed by sep, GPA and an optional sep LSB. */
static int
kvmvmm_parse_poison(char *arg, const char *sep, struct kvmvmm_poison *p)
{
	char		*kind, *gpa, *lsb, *at, *save = NULL;
	uint64_t	 v;

	if ((kind = strtok_r(arg, sep, &save)) == NULL ||
	    (gpa = strtok_r(NULL, sep, &save)) == NULL)
		return -1;
	lsb = strtok_r(NULL, sep, &save);
	if (strtok_r(NULL, sep, &save) != NULL)
		return -1;
	p->fd = 0;
	if ((at = strchr(kind, '@')) != NULL) {
		if (strcasecmp(at, "@fd") != 0)
			return -1;
		*at = '\0';
		p->fd = 1;
	}
	if (strcasecmp(kind, "AR") == 0)
		p->code = BUS_MCEERR_AR;
	else if (strcasecmp(kind, "AO") == 0)
		p->code = BUS_MCEERR_AO;
	else if (strcasecmp(kind, "ADRERR") == 0)
		p->code = BUS_ADRERR;
	else
		return -1;
	if (kvmvmm_number(gpa, &p->gpa) == -1)
		return -1;
	p->lsb = 12;
	if (lsb != NULL) {
		if (kvmvmm_number(lsb, &v) == -1 || v > 40)
			return -1;
		p->lsb = (int)v;
	}
	return 0;
}

/* Parse "GPA[:LEN]" (LEN default one page). */
static int
kvmvmm_parse_range(const char *arg, struct kvmvmm_gpa_range *r)
{
	char	buf[64], *colon;

	if (strlen(arg) >= sizeof buf)
		return -1;
	strcpy(buf, arg);
	r->len = KVMVMM_PAGE;
	if ((colon = strchr(buf, ':')) != NULL) {
		*colon = '\0';
		if (kvmvmm_number(colon + 1, &r->len) == -1 || r->len == 0 ||
		    r->len % KVMVMM_PAGE != 0)
			return -1;
	}
	if (kvmvmm_number(buf, &r->gpa) == -1 || r->gpa % KVMVMM_PAGE != 0)
		return -1;
	return 0;
}

/*
 * The SIGBUS handler: record what arrived, nothing else -- but a load
 * that was expected to fault jumps back to where it was armed.
 */
static void
kvmvmm_sigbus(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf	*jb;

	atomic_store(&kvmvmm_last_code, si != NULL ? si->si_code : -1);
	atomic_store(&kvmvmm_last_addr, si != NULL ?
	    (uintptr_t)si->si_addr : 0);
	atomic_store(&kvmvmm_last_lsb, si != NULL ? si->si_addr_lsb : -1);
	atomic_store(&kvmvmm_last_tid, (int)syscall(SYS_gettid));
	atomic_fetch_add(&kvmvmm_calls, 1);
	if ((jb = kvmvmm_jmp) != NULL) {
		kvmvmm_jmp = NULL;
		siglongjmp(*jb, 1);
	}
}

/* The same for a VMM that installs with signal(): no siginfo. */
static void
kvmvmm_sigbus_plain(int sig)
{
	atomic_store(&kvmvmm_last_code, 0);
	atomic_store(&kvmvmm_last_addr, 0);
	atomic_fetch_add(&kvmvmm_calls, 1);
}

/* SIGTERM ends --hold cleanly. */
static void
kvmvmm_sigterm(int sig)
{
	atomic_store(&kvmvmm_term, 1);
}

/* Program one memory slot; returns the ioctl's result. */
static int
kvmvmm_set_slot(uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
    void *hva)
{
	struct kvm_userspace_memory_region	r;

	memset(&r, 0, sizeof r);
	r.slot = slot;
	r.flags = flags;
	r.guest_phys_addr = gpa;
	r.memory_size = size;
	r.userspace_addr = (uint64_t)(uintptr_t)hva;
	return ioctl(kvmvmm_vmfd, KVM_SET_USER_MEMORY_REGION, &r);
}

/* Map anonymous memory; exits on failure. */
static uint8_t *
kvmvmm_map(uint64_t size)
{
	void	*p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "kvmvmm: mmap %" PRIu64 " bytes: %s\n", size,
		    strerror(errno));
		exit(KVMVMM_EXIT_FAIL);
	}
	return p;
}

/*
 * --memfd: guest RAM shared from a memfd, as QEMU's memory-backend-memfd
 * (share=on) gives it to vhost-user backends; exits on failure.
 */
static uint8_t *
kvmvmm_map_shared(uint64_t size)
{
	void	*p;
	int	 fd;

	if ((fd = memfd_create("kvmvmm-ram", MFD_CLOEXEC)) == -1 ||
	    ftruncate(fd, (off_t)size) == -1) {
		fprintf(stderr, "kvmvmm: memfd of %" PRIu64 " bytes: %s\n", size,
		    strerror(errno));
		exit(KVMVMM_EXIT_FAIL);
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "kvmvmm: mmap of the memfd: %s\n",
		    strerror(errno));
		exit(KVMVMM_EXIT_FAIL);
	}
	/* QEMU keeps its backend's descriptor: so does this. */
	return p;
}

/* Program a slot that must work; exits on failure. */
static void
kvmvmm_must(uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
    void *hva, const char *what)
{
	if (kvmvmm_set_slot(slot, flags, gpa, size, hva) == -1) {
		fprintf(stderr, "kvmvmm: %s (slot %u gpa 0x%" PRIx64 "): %s\n",
		    what, slot, gpa, strerror(errno));
		exit(KVMVMM_EXIT_FAIL);
	}
}

/* Remember a range of the final layout. */
static struct kvmvmm_range *
kvmvmm_remember(uint32_t slot, uint64_t gpa, uint64_t size, uint8_t *hva)
{
	struct kvmvmm_range	*r = &kvmvmm_layout[kvmvmm_nlayout++];

	r->slot = slot;
	r->gpa = gpa;
	r->size = size;
	r->hva = hva;
	r->live = 1;
	return r;
}

/*
 * Create the VM and program its memory the way QEMU's boot does: all RAM
 * as slot 0, then split (slot ids change), a ROM, a slot moved, a slot
 * deleted, and a slot in address space 1 (SMM) when KVM has one.
 */
static int
kvmvmm_create(uint64_t ram_size)
{
	struct kvmvmm_range	*r;
	uint8_t			*ram, *rom, *extra, *gone, *smram;
	int			 kvm, n;

	if ((kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) == -1) {
		fprintf(stderr, "kvmvmm: /dev/kvm: %s\n", strerror(errno));
		return -1;
	}
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		fprintf(stderr, "kvmvmm: unexpected KVM API version\n");
		return -1;
	}
	if ((kvmvmm_vmfd = ioctl(kvm, KVM_CREATE_VM, 0)) == -1) {
		fprintf(stderr, "kvmvmm: KVM_CREATE_VM: %s\n", strerror(errno));
		return -1;
	}

	ram = kvmvmm_memfd ? kvmvmm_map_shared(ram_size) :
	    kvmvmm_map(ram_size);
	rom = kvmvmm_map(KVMVMM_ROM_SIZE);
	extra = kvmvmm_map(KVMVMM_MOVE_SIZE);
	gone = kvmvmm_map(KVMVMM_GONE_SIZE);
	smram = kvmvmm_map(KVMVMM_SMM_SIZE);

	kvmvmm_must(0, 0, 0, ram_size, ram, "all RAM");
	kvmvmm_must(0, 0, 0, 0, ram, "delete slot 0");
	kvmvmm_must(1, 0, 0, KVMVMM_LOW_SIZE, ram, "low RAM");
	kvmvmm_remember(1, 0, KVMVMM_LOW_SIZE, ram);
	if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0) {
		kvmvmm_must(2, KVM_MEM_READONLY, KVMVMM_ROM_GPA,
		    KVMVMM_ROM_SIZE, rom, "ROM");
		printf("layout rom gpa=0x%llx size=%llu hva=%p\n",
		    KVMVMM_ROM_GPA, KVMVMM_ROM_SIZE, (void *)rom);
	} else
		printf("layout rom none (no KVM_CAP_READONLY_MEM)\n");
	kvmvmm_must(3, 0, KVMVMM_HIGH_GPA, ram_size - KVMVMM_HIGH_GPA,
	    ram + KVMVMM_HIGH_GPA, "high RAM");
	kvmvmm_remember(3, KVMVMM_HIGH_GPA, ram_size - KVMVMM_HIGH_GPA,
	    ram + KVMVMM_HIGH_GPA);
	kvmvmm_must(4, 0, KVMVMM_MOVE_FROM, KVMVMM_MOVE_SIZE, extra,
	    "movable RAM");
	kvmvmm_must(4, 0, KVMVMM_MOVE_TO, KVMVMM_MOVE_SIZE, extra, "move");
	kvmvmm_remember(4, KVMVMM_MOVE_TO, KVMVMM_MOVE_SIZE, extra);
	kvmvmm_must(5, 0, KVMVMM_GONE_GPA, KVMVMM_GONE_SIZE, gone,
	    "doomed RAM");
	kvmvmm_must(5, 0, KVMVMM_GONE_GPA, 0, gone, "delete");
	r = kvmvmm_remember(5, KVMVMM_GONE_GPA, KVMVMM_GONE_SIZE, gone);
	r->live = 0;

	n = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MULTI_ADDRESS_SPACE);
	if (n > 1 && kvmvmm_set_slot(1U << 16, 0, 0, KVMVMM_SMM_SIZE,
	    smram) == 0)
		printf("layout smm gpa=0x0 size=%llu hva=%p\n",
		    KVMVMM_SMM_SIZE, (void *)smram);
	else
		printf("layout smm none\n");
	/* Kept for the vCPU's kvm_run size. */
	kvmvmm_kvmfd = kvm;
	return 0;
}

/* Print the live guest RAM layout, one line per slot. */
static void
kvmvmm_print_layout(void)
{
	const struct kvmvmm_range	*r;
	unsigned int			 i;

	for (i = 0; i < kvmvmm_nlayout; i++) {
		r = &kvmvmm_layout[i];
		printf("layout %s gpa=0x%" PRIx64 " size=%" PRIu64 " hva=%p\n",
		    r->live ? "ram" : "deleted", r->gpa, r->size,
		    (void *)r->hva);
	}
	fflush(stdout);
}

/* The host address behind gpa, live slots first; NULL if none. */
uint8_t *
kvmvmm_hva(uint64_t gpa)
{
	const struct kvmvmm_range	*r;
	unsigned int			 i, pass;

	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < kvmvmm_nlayout; i++) {
			r = &kvmvmm_layout[i];
			if (r->live == (pass == 0) && gpa >= r->gpa &&
			    gpa - r->gpa < r->size)
				return r->hva + (gpa - r->gpa);
		}
	return NULL;
}

/* Move the movable slot to gpa. */
static int
kvmvmm_move(uint64_t gpa)
{
	struct kvmvmm_range	*r;
	unsigned int		 i;

	for (i = 0; i < kvmvmm_nlayout; i++) {
		r = &kvmvmm_layout[i];
		if (r->slot != 4)
			continue;
		if (kvmvmm_set_slot(4, 0, gpa, r->size, r->hva) == -1) {
			printf("move failed: %s\n", strerror(errno));
			return -1;
		}
		r->gpa = gpa;
		printf("moved gpa=0x%" PRIx64 "\n", gpa);
		return 0;
	}
	return -1;
}

/* Send SIGBUS with si to the calling thread. */
static int
kvmvmm_raise(const siginfo_t *si)
{
	return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(),
	    (pid_t)syscall(SYS_gettid), SIGBUS, si);
}

/* Milliseconds since *t0 (CLOCK_MONOTONIC). */
static double
kvmvmm_ms_since(const struct timespec *t0)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}


/*
 * Create vCPU id on fd *fdp and enter KVM_RUN once, as QEMU's vCPU thread
 * does once the VM may run (on a migration destination: once the
 * migration has completed). The guest has no code here, so KVM exits at
 * once; the shim acts before the call. Returns KVM_RUN's result.
 */
static int
kvmvmm_enter(unsigned int id, int *fdp, int *error)
{
	struct kvm_run	*run = NULL;
	struct timespec	 t0;
	unsigned int	 exit_reason;
	int		 size, rc;

	if ((*fdp = ioctl(kvmvmm_vmfd, KVM_CREATE_VCPU, id)) == -1) {
		*error = errno;
		printf("kvm_run: cpu=%u KVM_CREATE_VCPU: %s\n", id,
		    strerror(errno));
		return -1;
	}
	size = ioctl(kvmvmm_kvmfd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size > 0) {
		run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
		    MAP_SHARED, *fdp, 0);
		if (run == MAP_FAILED)
			run = NULL;
	}
	kvmvmm_threads[id] = pthread_self();
	atomic_store(&kvmvmm_runs[id], run);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = ioctl(*fdp, KVM_RUN, 0);
	atomic_store(&kvmvmm_runs[id], NULL);
	*error = errno;
	exit_reason = run != NULL ? run->exit_reason : 0;
	printf("kvm_run: cpu=%u rc=%d%s%s exit=%u took=%.3f ms\n", id, rc,
	    rc == -1 ? " error=" : "", rc == -1 ? strerror(*error) : "",
	    exit_reason, kvmvmm_ms_since(&t0));
	fflush(stdout);
	if (run != NULL)
		munmap(run, (size_t)size);
	return rc;
}

/* SIGUSR1 only interrupts (QEMU's SIG_IPI does no more). */
void
kvmvmm_ipi(int sig)
{
}

/*
 * --kick-after: what QEMU does to get its vCPU threads out of KVM_RUN (to
 * pause, migrate, quit): set kvm_run->immediate_exit and signal each.
 */
static void *
kvmvmm_kick_main(void *arg)
{
	struct timespec	 nap;
	struct kvm_run	*run;
	unsigned int	 i;

	nap.tv_sec = (time_t)(kvmvmm_kick_ms / 1000);
	nap.tv_nsec = (long)(kvmvmm_kick_ms % 1000) * 1000000L;
	nanosleep(&nap, NULL);
	for (i = 0; i < kvmvmm_vcpus; i++)
		if ((run = atomic_load(&kvmvmm_runs[i])) != NULL) {
			run->immediate_exit = 1;
			pthread_kill(kvmvmm_threads[i], SIGUSR1);
		}
	return NULL;
}

/* One more vCPU thread, "CPU n/KVM": enter KVM_RUN once, then end. */
static void *
kvmvmm_extra_main(void *arg)
{
	char	name[16];
	int	fd = -1, error;
	unsigned int id = (unsigned int)(uintptr_t)arg;

	snprintf(name, sizeof name, "CPU %u/KVM", id);
	prctl(PR_SET_NAME, name);
	(void)kvmvmm_enter(id, &fd, &error);
	if (fd != -1)
		close(fd);
	return NULL;
}

/*
 * --run, on the "CPU 0/KVM" thread: look at the pages to check (the
 * gate has not run yet), then enter KVM_RUN there and, with --vcpus,
 * from as many more vCPU threads at the same time.
 */
static void
kvmvmm_vcpu_run(struct kvmvmm_vcpu *v)
{
	pthread_t	 extra[KVMVMM_MAX_VCPUS], kick;
	struct sigaction act;
	unsigned int	 i, n = 0;
	uint8_t		*hva;

	for (i = 0; i < kvmvmm_nchecks; i++)
		if ((hva = kvmvmm_hva(kvmvmm_checks[i].gpa)) != NULL)
			printf("before kvm_run: gpa=0x%" PRIx64 " memread=%s\n",
			    kvmvmm_checks[i].gpa,
			    kvmvmm_errname(kvmvmm_memread(hva)));
	for (i = 1; i < kvmvmm_vcpus; i++)
		if (pthread_create(&extra[n], NULL, kvmvmm_extra_main,
		    (void *)(uintptr_t)i) == 0)
			n++;
	if (kvmvmm_kick_ms > 0) {
		memset(&act, 0, sizeof act);
		act.sa_handler = kvmvmm_ipi;
		sigemptyset(&act.sa_mask);
		sigaction(SIGUSR1, &act, NULL);
		if (pthread_create(&kick, NULL, kvmvmm_kick_main, NULL) == 0)
			pthread_detach(kick);
	}
	v->rc = kvmvmm_enter(0, &v->fd, &v->error);
	for (i = 0; i < n; i++)
		pthread_join(extra[i], NULL);
}

/*
 * Load one byte from addr; returns 1 if that raised SIGBUS at addr in
 * this VMM's handler, 0 if the load completed (*value), -1 if a SIGBUS
 * came for another address.
 */
int
kvmvmm_load(const volatile uint8_t *addr, uint8_t *value)
{
	sigjmp_buf	jb;

	if (sigsetjmp(jb, 1) != 0)
		return atomic_load(&kvmvmm_last_addr) == (uintptr_t)addr ?
		    1 : -1;
	kvmvmm_jmp = &jb;
	*value = *addr;
	kvmvmm_jmp = NULL;
	return 0;
}

/* The guest address of host address hva in a live slot; -1 if none. */
static int
kvmvmm_gpa(uintptr_t hva, uint64_t *gpa)
{
	const struct kvmvmm_range	*r;
	unsigned int			 i;

	for (i = 0; i < kvmvmm_nlayout; i++) {
		r = &kvmvmm_layout[i];
		if (r->live && hva >= (uintptr_t)r->hva &&
		    hva - (uintptr_t)r->hva < r->size) {
			*gpa = r->gpa + (hva - (uintptr_t)r->hva);
			return 0;
		}
	}
	return -1;
}

/* "main", or the quoted name of thread tid, for output lines. */
static const char *
kvmvmm_thread_name(int tid, char *buf, size_t len)
{
	char	path[64], name[32];
	ssize_t	n;
	int	fd;

	if (tid == (int)getpid())
		return "main";
	snprintf(path, sizeof path, "/proc/self/task/%d/comm", tid);
	n = -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, name, sizeof name - 1);
		close(fd);
	}
	if (n <= 0)
		snprintf(buf, len, "tid-%d", tid);
	else {
		name[n] = '\0';
		name[strcspn(name, "\n")] = '\0';
		snprintf(buf, len, "\"%s\"", name);
	}
	return buf;
}

/* Describe the last SIGBUS the handler saw: code, address, GPA, lsb, thread. */
static const char *
kvmvmm_describe(char *buf, size_t len)
{
	char		 tbuf[48], gbuf[32];
	uintptr_t	 addr;
	uint64_t	 gpa;

	addr = atomic_load(&kvmvmm_last_addr);
	if (kvmvmm_gpa(addr, &gpa) == 0)
		snprintf(gbuf, sizeof gbuf, "0x%" PRIx64, gpa);
	else
		snprintf(gbuf, sizeof gbuf, "none");
	snprintf(buf, len, "code=%d addr=0x%" PRIxPTR " gpa=%s lsb=%d "
	    "thread=%s", atomic_load(&kvmvmm_last_code), addr, gbuf,
	    atomic_load(&kvmvmm_last_lsb), kvmvmm_thread_name(
	    atomic_load(&kvmvmm_last_tid), tbuf, sizeof tbuf));
	return buf;
}

/*
 * Start a thread as QEMU 7.2 makes its helper threads (the migration
 * thread among them): every signal blocked but the synchronous ones.
 * Shared with kvmvmm_race.c. Returns pthread_create()'s answer.
 */
int
kvmvmm_helper_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t	set, old;
	int		error;

	sigfillset(&set);
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGFPE);
	sigdelset(&set, SIGILL);
	pthread_sigmask(SIG_SETMASK, &set, &old);
	error = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return error;
}

/*
 * Put the vCPU in flat 32-bit protected mode (no paging, so linear is
 * guest-physical) at rip. Shared with kvmvmm_race.c.
 */
int
kvmvmm_flat(int fd, uint64_t rip)
{
	struct kvm_sregs	sregs;
	struct kvm_regs		regs;
	struct kvm_segment	seg;

	if (ioctl(fd, KVM_GET_SREGS, &sregs) == -1)
		return -1;
	memset(&seg, 0, sizeof seg);
	seg.limit = 0xffffffff;
	seg.present = 1;
	seg.db = 1;
	seg.s = 1;
	seg.g = 1;
	seg.selector = 0x10;
	seg.type = 3;			/* data, read/write, accessed */
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = seg;
	seg.selector = 0x8;
	seg.type = 11;			/* code, execute/read, accessed */
	sregs.cs = seg;
	sregs.cr0 |= 1;			/* PE */
	if (ioctl(fd, KVM_SET_SREGS, &sregs) == -1)
		return -1;
	memset(&regs, 0, sizeof regs);
	regs.rip = rip;
	regs.rflags = 2;
	return ioctl(fd, KVM_SET_REGS, &regs);
}

/* Have the vCPU run "mov eax, [gpa]; hlt" at KVMVMM_CODE_GPA. */
static int
kvmvmm_guest_setup(int fd, uint64_t gpa)
{
	uint8_t	*code;

	if ((code = kvmvmm_hva(KVMVMM_CODE_GPA)) == NULL) {
		errno = EFAULT;
		return -1;
	}
	code[0] = 0xa1;			/* mov eax, [moffs32] */
	code[1] = (uint8_t)gpa;
	code[2] = (uint8_t)(gpa >> 8);
	code[3] = (uint8_t)(gpa >> 16);
	code[4] = (uint8_t)(gpa >> 24);
	code[5] = 0xf4;			/* hlt */
	code[6] = 0xeb;			/* jmp . */
	code[7] = 0xfe;
	return kvmvmm_flat(fd, KVMVMM_CODE_GPA);
}

/*
 * --guest-load, on the vCPU thread: have the guest load the word at gpa,
 * so that KVM itself maps whatever backs it, and report how KVM_RUN
 * ended: HLT with the value read, a SIGBUS (KVM_RUN then fails with
 * EINTR), or something else. Returns 1 for a SIGBUS, 0 for HLT, else -1.
 */
static int
kvmvmm_guest_load(struct kvmvmm_vcpu *v, uint64_t gpa)
{
	struct kvm_regs	 regs;
	struct kvm_run	*run;
	char		 desc[192];
	int		 size, rc = -1, error = 0, before, i, ret = -1;

	if (gpa > 0xfffffffcULL || kvmvmm_hva(gpa) == NULL) {
		printf("guest load gpa=0x%" PRIx64 ": not in guest RAM below "
		    "4 GiB\n", gpa);
		return -1;
	}
	if (v->fd == -1 &&
	    (v->fd = ioctl(kvmvmm_vmfd, KVM_CREATE_VCPU, 0)) == -1) {
		printf("guest load gpa=0x%" PRIx64 ": KVM_CREATE_VCPU: %s\n",
		    gpa, strerror(errno));
		return -1;
	}
	size = ioctl(kvmvmm_kvmfd, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = size > 0 ? mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
	    MAP_SHARED, v->fd, 0) : MAP_FAILED;
	if (run == MAP_FAILED) {
		printf("guest load gpa=0x%" PRIx64 ": kvm_run: %s\n", gpa,
		    strerror(errno));
		return -1;
	}
	if (kvmvmm_guest_setup(v->fd, gpa) == -1) {
		printf("guest load gpa=0x%" PRIx64 ": vCPU setup: %s\n", gpa,
		    strerror(errno));
		goto out;
	}
	before = atomic_load(&kvmvmm_calls);
	/* Another signal may interrupt KVM_RUN: go in again, a few times. */
	for (i = 0; i < KVMVMM_GUEST_TRIES; i++) {
		rc = ioctl(v->fd, KVM_RUN, 0);
		error = errno;
		if (atomic_load(&kvmvmm_calls) != before ||
		    rc != -1 || error != EINTR)
			break;
	}
	if (atomic_load(&kvmvmm_calls) != before) {
		printf("guest load gpa=0x%" PRIx64 ": sigbus %s kvm_run=%s "
		    "exit=%u\n", gpa, kvmvmm_describe(desc, sizeof desc),
		    rc == -1 ? (error == EINTR ? "EINTR" :
		    kvmvmm_errname(error)) : "0", run->exit_reason);
		ret = 1;
	} else if (rc == 0 && run->exit_reason == KVM_EXIT_HLT &&
	    ioctl(v->fd, KVM_GET_REGS, &regs) == 0) {
		printf("guest load gpa=0x%" PRIx64 ": hlt value=0x%08" PRIx32
		    "\n", gpa, (uint32_t)regs.rax);
		ret = 0;
	} else
		printf("guest load gpa=0x%" PRIx64 ": no sigbus: kvm_run rc=%d "
		    "error=%s exit=%u\n", gpa, rc, rc == -1 ?
		    kvmvmm_errname(error) : "none", run->exit_reason);
out:
	fflush(stdout);
	munmap(run, (size_t)size);
	return ret;
}

/*
 * --madv-hwpoison, on the vCPU thread: madvise(MADV_HWPOISON) the page at
 * hva (memory_failure() with MF_ACTION_REQUIRED), and report what signal
 * that gave. Returns 1 for a SIGBUS, 0 for none, -1 if madvise failed.
 */
static int
kvmvmm_madv_hwpoison(uint8_t *hva)
{
	uint64_t	gpa = 0;
	char		desc[192];
	int		before, rc, error;

	(void)kvmvmm_gpa((uintptr_t)hva, &gpa);
	before = atomic_load(&kvmvmm_calls);
	rc = madvise(hva, KVMVMM_PAGE, MADV_HWPOISON);
	error = errno;
	if (atomic_load(&kvmvmm_calls) != before)
		printf("madv-hwpoison gpa=0x%" PRIx64 ": rc=%d sigbus %s\n",
		    gpa, rc, kvmvmm_describe(desc, sizeof desc));
	else
		printf("madv-hwpoison gpa=0x%" PRIx64 ": rc=%d error=%s no "
		    "sigbus\n", gpa, rc, rc == -1 ? strerror(error) : "none");
	fflush(stdout);
	if (rc == -1)
		return -1;
	return atomic_load(&kvmvmm_calls) != before;
}

/* Body of the vCPU thread: raise the signals it is given, on itself. */
static void *
kvmvmm_vcpu_main(void *arg)
{
	struct kvmvmm_vcpu	*v = arg;
	sigset_t		 set;
	stack_t			 ss, oss;

	prctl(PR_SET_NAME, "CPU 0/KVM");
	/* A VMM may run its SIGBUS handler on a small alternate stack. */
	if (kvmvmm_altstack) {
		memset(&ss, 0, sizeof ss);
		ss.ss_size = KVMVMM_ALTSTACK_SIZE;
		if ((ss.ss_sp = malloc(ss.ss_size)) == NULL ||
		    sigaltstack(&ss, &oss) == -1) {
			perror("kvmvmm: sigaltstack");
			exit(KVMVMM_EXIT_FAIL);
		}
	}
	/* QEMU's vCPU threads take SIGBUS directly. */
	sigemptyset(&set);
	sigaddset(&set, SIGBUS);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	pthread_mutex_lock(&v->lock);
	for (;;) {
		uint8_t	value = 0;

		while (!v->job && !v->quit)
			pthread_cond_wait(&v->cond, &v->lock);
		if (v->quit)
			break;
		switch (v->job) {
		case KVMVMM_JOB_RAISE:
			v->rc = kvmvmm_raise(&v->si);
			v->error = errno;
			break;
		case KVMVMM_JOB_RUN:
			kvmvmm_vcpu_run(v);
			break;
		case KVMVMM_JOB_LOAD:
			v->rc = kvmvmm_load(v->addr, &value);
			v->error = value;
			break;
		case KVMVMM_JOB_GUEST:
			v->rc = kvmvmm_guest_load(v, kvmvmm_job_gpa);
			break;
		case KVMVMM_JOB_MADV:
			v->rc = kvmvmm_madv_hwpoison((uint8_t *)(uintptr_t)
			    v->addr);
			break;
		}
		v->job = 0;
		v->done = 1;
		pthread_cond_broadcast(&v->cond);
	}
	pthread_mutex_unlock(&v->lock);
	/* Whoever set the old one (a sanitizer runtime) frees it at exit. */
	if (kvmvmm_altstack) {
		sigaltstack(&oss, NULL);
		free(ss.ss_sp);
	}
	return NULL;
}

/* Give the vCPU thread a job and wait for it; returns its rc. */
static int
kvmvmm_vcpu_job(int job, const siginfo_t *si, const volatile uint8_t *addr)
{
	struct kvmvmm_vcpu	*v = &kvmvmm_cpu;
	int			 rc;

	pthread_mutex_lock(&v->lock);
	if (si != NULL)
		v->si = *si;
	v->addr = addr;
	v->done = 0;
	v->job = job;
	pthread_cond_broadcast(&v->cond);
	while (!v->done)
		pthread_cond_wait(&v->cond, &v->lock);
	rc = v->rc;
	errno = v->error;
	pthread_mutex_unlock(&v->lock);
	return rc;
}

/* Have the vCPU thread raise si; returns its rt_tgsigqueueinfo result. */
static int
kvmvmm_vcpu_raise(const siginfo_t *si)
{
	return kvmvmm_vcpu_job(KVMVMM_JOB_RAISE, si, NULL);
}

/*
 * Hand a signal read from the signalfd to the handler that sigaction()
 * reports as installed, with a siginfo built as QEMU builds it (the code
 * and the address, not the address granule).
 */
static int
kvmvmm_fd_deliver(const struct signalfd_siginfo *info)
{
	struct sigaction	act;
	siginfo_t		got;

	memset(&got, 0, sizeof got);
	got.si_signo = (int)info->ssi_signo;
	got.si_errno = info->ssi_errno;
	got.si_code = info->ssi_code;
	got.si_addr = (void *)(uintptr_t)info->ssi_addr;
	if (sigaction((int)info->ssi_signo, NULL, &act) == -1)
		return -1;
	if ((act.sa_flags & SA_SIGINFO) && act.sa_sigaction != NULL)
		act.sa_sigaction((int)info->ssi_signo, &got, NULL);
	else if (act.sa_handler != SIG_DFL && act.sa_handler != SIG_IGN)
		act.sa_handler((int)info->ssi_signo);
	return 0;
}

/*
 * QEMU's main-loop path: SIGBUS is blocked here, so it waits in the
 * signalfd; read it there and hand it on as QEMU does.
 */
static int
kvmvmm_fd_raise(const siginfo_t *si)
{
	struct signalfd_siginfo	 info;
	ssize_t			 n;

	if (kvmvmm_raise(si) == -1)
		return -1;
	n = read(kvmvmm_sigfd, &info, sizeof info);
	if (n != (ssize_t)sizeof info) {
		errno = n == -1 ? errno : EIO;
		return -1;
	}
	return kvmvmm_fd_deliver(&info);
}

/* Raise one poison and check that the VMM's handler saw it. */
static int
kvmvmm_poison(const struct kvmvmm_poison *p)
{
	siginfo_t	 si;
	uint8_t		*hva;
	uintptr_t	 addr;
	int		 before, rc, code;

	if ((hva = kvmvmm_hva(p->gpa)) == NULL) {
		printf("handler did not run: gpa 0x%" PRIx64 " is in no "
		    "slot\n", p->gpa);
		return -1;
	}
	memset(&si, 0, sizeof si);
	si.si_signo = SIGBUS;
	si.si_code = p->code;
	si.si_addr = hva;
	si.si_addr_lsb = (short)p->lsb;
	before = atomic_load(&kvmvmm_calls);
	rc = p->fd ? kvmvmm_fd_raise(&si) : kvmvmm_vcpu_raise(&si);
	if (rc == -1) {
		printf("handler did not run: raising SIGBUS: %s\n",
		    strerror(errno));
		return -1;
	}
	if (atomic_load(&kvmvmm_calls) != before + 1) {
		printf("handler did not run: %d calls for one signal\n",
		    atomic_load(&kvmvmm_calls) - before);
		return -1;
	}
	code = atomic_load(&kvmvmm_last_code);
	addr = atomic_load(&kvmvmm_last_addr);
	if (kvmvmm_plain)
		printf("handler ran: plain gpa=0x%" PRIx64 "\n", p->gpa);
	else if (code != p->code || addr != (uintptr_t)hva) {
		printf("handler ran with the wrong siginfo: code=%d addr=0x%"
		    PRIxPTR "\n", code, addr);
		return -1;
	} else
		printf("handler ran: code=%d addr=0x%" PRIxPTR " gpa=0x%"
		    PRIx64 "%s\n", code, addr, p->gpa, p->fd ?
		    " via=signalfd" : "");
	fflush(stdout);
	return 0;
}

/* Install the SIGBUS handler like a VMM, and put back what a query says. */
static void
kvmvmm_install(void)
{
	struct sigaction	act, q;

	if (kvmvmm_plain) {
		if (signal(SIGBUS, kvmvmm_sigbus_plain) == SIG_ERR) {
			perror("kvmvmm: signal");
			exit(KVMVMM_EXIT_FAIL);
		}
	} else {
		memset(&act, 0, sizeof act);
		act.sa_sigaction = kvmvmm_sigbus;
		act.sa_flags = SA_SIGINFO | (kvmvmm_altstack ? SA_ONSTACK : 0);
		sigemptyset(&act.sa_mask);
		if (sigaction(SIGBUS, &act, NULL) == -1) {
			perror("kvmvmm: sigaction");
			exit(KVMVMM_EXIT_FAIL);
		}
	}
	if (sigaction(SIGBUS, NULL, &q) == -1) {
		perror("kvmvmm: sigaction query");
		exit(KVMVMM_EXIT_FAIL);
	}
	printf("sigbus handler as queried: %s\n",
	    (uintptr_t)q.sa_handler == (uintptr_t)kvmvmm_sigbus ||
	    (uintptr_t)q.sa_handler == (uintptr_t)kvmvmm_sigbus_plain ?
	    "own" : "other");
	/* A VMM that saves and restores its handler must keep one chain. */
	if (sigaction(SIGBUS, &q, NULL) == -1) {
		perror("kvmvmm: sigaction restore");
		exit(KVMVMM_EXIT_FAIL);
	}

	memset(&act, 0, sizeof act);
	act.sa_handler = kvmvmm_sigterm;
	sigemptyset(&act.sa_mask);
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
}

static int	kvmvmm_check(const struct kvmvmm_gpa_range *);
static int	kvmvmm_mark(const struct kvmvmm_gpa_range *);
static int	kvmvmm_fill(const struct kvmvmm_gpa_range *);
static int	kvmvmm_madv(uint64_t);
static int	kvmvmm_guest(uint64_t);
static int	kvmvmm_async(uint64_t);

/* Read and run stdin commands until end of input, quit or SIGTERM. */
static int
kvmvmm_commands(void)
{
	struct kvmvmm_poison	 p;
	struct kvmvmm_gpa_range	 r;
	struct pollfd		 pfd;
	char			 line[256], *nl, *arg;
	uint64_t		 gpa;
	int			 failed = 0;

	kvmvmm_seen = atomic_load(&kvmvmm_calls);
	while (!atomic_load(&kvmvmm_term)) {
		pfd.fd = STDIN_FILENO;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if (fgets(line, sizeof line, stdin) == NULL)
			break;
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (strcmp(line, "quit") == 0)
			break;
		if (strncmp(line, "move ", 5) == 0) {
			if (kvmvmm_number(line + 5, &gpa) == -1 ||
			    kvmvmm_move(gpa) == -1)
				failed = 1;
		} else if (strncmp(line, "check ", 6) == 0) {
			if (kvmvmm_parse_range(line + 6, &r) == -1) {
				printf("bad command: %s\n", line);
				failed = 1;
			} else if (kvmvmm_check(&r) == -1)
				failed = 1;
		} else if (strncmp(line, "fill ", 5) == 0 ||
		    strncmp(line, "mark ", 5) == 0) {
			if (kvmvmm_parse_range(line + 5, &r) == -1) {
				printf("bad command: %s\n", line);
				failed = 1;
			} else if ((line[0] == 'f' ? kvmvmm_fill(&r) :
			    kvmvmm_mark(&r)) == -1)
				failed = 1;
		} else if (strncmp(line, "madv-hwpoison ", 14) == 0 ||
		    strncmp(line, "guest-load ", 11) == 0 ||
		    strncmp(line, "wait ", 5) == 0) {
			arg = strchr(line, ' ') + 1;
			if (kvmvmm_number(arg, &gpa) == -1) {
				printf("bad command: %s\n", line);
				failed = 1;
			} else if (line[0] == 'm')
				(void)kvmvmm_madv(gpa);
			else if (line[0] == 'g')
				(void)kvmvmm_guest(gpa);
			else
				(void)kvmvmm_async(gpa);
		} else if (kvmvmm_parse_poison(line, " ", &p) == -1) {
			printf("bad command: %s\n", line);
			failed = 1;
		} else if (kvmvmm_poison(&p) == -1)
			failed = 1;
		fflush(stdout);
		/* What came so far is reported; "wait" looks past it. */
		kvmvmm_seen = atomic_load(&kvmvmm_calls);
	}
	/* SIGTERM waits for input no longer than the poll interval. */
	return failed ? -1 : 0;
}

/*
 * Put a poison marker on [hva, hva + len): userfaultfd (user mode only, as
 * an unprivileged QEMU must), register exactly the range, drop the pages,
 * UFFDIO_POISON. Returns 0, or -1 with a message in err.
 */
static int
kvmvmm_poison_marker(void *hva, uint64_t len, char *err, size_t errlen)
{
	struct uffdio_api		api;
	struct uffdio_register		reg;
	struct kvmvmm_uffdio_poison	p;
	const char			*what;
	int				fd, rc = -1;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK |
	    UFFD_USER_MODE_ONLY);
	if (fd == -1) {
		snprintf(err, errlen, "userfaultfd: %s", strerror(errno));
		return -1;
	}
	memset(&api, 0, sizeof api);
	api.api = UFFD_API;
	api.features = UFFD_FEATURE_POISON;
	memset(&reg, 0, sizeof reg);
	reg.range.start = (uintptr_t)hva;
	reg.range.len = len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	memset(&p, 0, sizeof p);
	p.range = reg.range;
	what = "UFFDIO_API with UFFD_FEATURE_POISON";
	if (ioctl(fd, UFFDIO_API, &api) == -1)
		goto out;
	what = "UFFDIO_REGISTER";
	if (ioctl(fd, UFFDIO_REGISTER, &reg) == -1)
		goto out;
	what = "MADV_DONTNEED";
	if (madvise(hva, len, MADV_DONTNEED) == -1)
		goto out;
	what = "UFFDIO_POISON";
	if (ioctl(fd, KVMVMM_UFFDIO_POISON, &p) == -1)
		goto out;
	if (p.updated != (int64_t)len) {
		errno = EIO;
		goto out;
	}
	rc = 0;
out:
	if (rc == -1)
		snprintf(err, errlen, "%s: %s", what, strerror(errno));
	close(fd);
	return rc;
}

/* Read one byte at addr through /proc/self/mem: 0, or the errno. */
int
kvmvmm_memread(const void *addr)
{
	uint8_t	b;
	ssize_t	n;
	int	fd, error;

	if ((fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC)) == -1)
		return errno;
	n = pread(fd, &b, 1, (off_t)(uintptr_t)addr);
	error = n == 1 ? 0 : n == -1 ? errno : EIO;
	close(fd);
	return error;
}

/* "ok", "EIO" or another errno's name, for output lines. */
const char *
kvmvmm_errname(int error)
{
	static char	buf[32];

	if (error == 0)
		return "ok";
	if (error == EIO)
		return "EIO";
	snprintf(buf, sizeof buf, "errno%d", error);
	return buf;
}

/* Whether UFFDIO_POISON works here: exit 0, or 77 with the reason. */
static int
kvmvmm_uffd_probe(void)
{
	uint8_t	*page;
	char	 err[128];

	page = mmap(NULL, 2 * KVMVMM_PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED) {
		printf("uffd poison: mmap: %s\n", strerror(errno));
		return KVMVMM_EXIT_NOKVM;
	}
	memset(page, 1, 2 * KVMVMM_PAGE);
	if (kvmvmm_poison_marker(page + KVMVMM_PAGE, KVMVMM_PAGE, err,
	    sizeof err) == -1) {
		printf("uffd poison: %s\n", err);
		return KVMVMM_EXIT_NOKVM;
	}
	if (kvmvmm_memread(page + KVMVMM_PAGE) != EIO ||
	    kvmvmm_memread(page) != 0) {
		printf("uffd poison: the marker does not read as EIO\n");
		return KVMVMM_EXIT_NOKVM;
	}
	printf("uffd poison: ok\n");
	return KVMVMM_EXIT_OK;
}

/* --mark: a poison marker standing in for hardware poison. */
static int
kvmvmm_mark(const struct kvmvmm_gpa_range *r)
{
	uint8_t	*hva, *last;
	char	 err[128];

	hva = kvmvmm_hva(r->gpa);
	last = kvmvmm_hva(r->gpa + r->len - 1);
	if (hva == NULL || last != hva + r->len - 1) {
		printf("mark gpa=0x%" PRIx64 ": not in one slot\n", r->gpa);
		return -1;
	}
	if (kvmvmm_poison_marker(hva, r->len, err, sizeof err) == -1) {
		printf("mark gpa=0x%" PRIx64 ": %s\n", r->gpa, err);
		return -1;
	}
	printf("marked gpa=0x%" PRIx64 " len=%" PRIu64 "\n", r->gpa, r->len);
	return 0;
}

/* The page frame behind hva from /proc/self/pagemap; 0 if unknown. */
static uint64_t
kvmvmm_pfn(const void *hva)
{
	uint64_t	e = 0;
	ssize_t		n;
	int		fd;

	if ((fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = pread(fd, &e, sizeof e, (off_t)((uintptr_t)hva / KVMVMM_PAGE *
	    sizeof e));
	close(fd);
	if (n != (ssize_t)sizeof e || (e >> 63) == 0)
		return 0;
	return e & ((1ULL << 55) - 1);
}

/*
 * --fill: write a pattern over the range, each page starting with its
 * own GPA, so that pages of their own back it; print the first one's PFN.
 */
static int
kvmvmm_fill(const struct kvmvmm_gpa_range *r)
{
	uint8_t		*hva, *last;
	uint64_t	 off, gpa, pfn;

	hva = kvmvmm_hva(r->gpa);
	last = kvmvmm_hva(r->gpa + r->len - 1);
	if (hva == NULL || last != hva + r->len - 1) {
		printf("fill gpa=0x%" PRIx64 ": not in one slot\n", r->gpa);
		return -1;
	}
	for (off = 0; off < r->len; off += KVMVMM_PAGE) {
		gpa = r->gpa + off;
		memset(hva + off, 0xa5, KVMVMM_PAGE);
		memcpy(hva + off, &gpa, sizeof gpa);
	}
	if ((pfn = kvmvmm_pfn(hva)) != 0)
		printf("filled gpa=0x%" PRIx64 " len=%" PRIu64 " hva=%p "
		    "pfn=0x%" PRIx64 "\n", r->gpa, r->len, (void *)hva, pfn);
	else
		printf("filled gpa=0x%" PRIx64 " len=%" PRIu64 " hva=%p "
		    "pfn=unknown\n", r->gpa, r->len, (void *)hva);
	fflush(stdout);
	return 0;
}

/* --madv-hwpoison: on the vCPU thread, as a VMM's own access would be. */
static int
kvmvmm_madv(uint64_t gpa)
{
	uint8_t	*hva;

	if (gpa % KVMVMM_PAGE != 0 || (hva = kvmvmm_hva(gpa)) == NULL) {
		printf("madv-hwpoison gpa=0x%" PRIx64 ": not a page of guest "
		    "RAM\n", gpa);
		return -1;
	}
	return kvmvmm_vcpu_job(KVMVMM_JOB_MADV, NULL, hva);
}

/* --guest-load: the guest loads from gpa on the vCPU thread. */
static int
kvmvmm_guest(uint64_t gpa)
{
	kvmvmm_job_gpa = gpa;
	return kvmvmm_vcpu_job(KVMVMM_JOB_GUEST, NULL, NULL);
}

/*
 * Where SIGBUS is pending for thread tid: "thread" (SigPnd, sent to that
 * thread), "process" (ShdPnd), "both" or "none".
 */
static const char *
kvmvmm_pending(int tid)
{
	char			 path[64], line[128];
	unsigned long long	 v, own = 0, shared = 0;
	FILE			*f;

	snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
	if ((f = fopen(path, "re")) == NULL)
		return "unknown";
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "SigPnd: %llx", &v) == 1)
			own = v;
		else if (sscanf(line, "ShdPnd: %llx", &v) == 1)
			shared = v;
	}
	fclose(f);
	own &= KVMVMM_SIGBUS_BIT;
	shared &= KVMVMM_SIGBUS_BIT;
	return own && shared ? "both" : own ? "thread" : shared ?
	    "process" : "none";
}

/*
 * "wait MS": report one asynchronous SIGBUS, waiting up to ms for it.
 * One for the main thread (SIGBUS blocked) is read from the signalfd and
 * handed to the installed handler, as QEMU's main loop does; one that
 * ran a handler on another thread since the last command is reported as
 * it came. Returns 1 when one came, 0 when none did.
 */
static int
kvmvmm_async(uint64_t ms)
{
	struct signalfd_siginfo	 info;
	struct pollfd		 pfd;
	struct timespec		 t0;
	const char		*where;
	char			 desc[192];
	uint64_t		 gpa;
	int			 before;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (atomic_load(&kvmvmm_calls) != kvmvmm_seen) {
			printf("async sigbus: via=handler %s\n",
			    kvmvmm_describe(desc, sizeof desc));
			break;
		}
		pfd.fd = kvmvmm_sigfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 10) == 1) {
			where = kvmvmm_pending((int)getpid());
			if (read(kvmvmm_sigfd, &info, sizeof info) !=
			    (ssize_t)sizeof info)
				continue;
			before = atomic_load(&kvmvmm_calls);
			(void)kvmvmm_fd_deliver(&info);
			if (kvmvmm_gpa((uintptr_t)info.ssi_addr, &gpa) == -1)
				gpa = UINT64_MAX;
			printf("async sigbus: via=signalfd pending=%s code=%d "
			    "addr=0x%" PRIx64 " gpa=0x%" PRIx64 " lsb=%u "
			    "handler=%s\n", where, info.ssi_code,
			    (uint64_t)info.ssi_addr, gpa, info.ssi_addr_lsb,
			    atomic_load(&kvmvmm_calls) == before + 1 &&
			    atomic_load(&kvmvmm_last_code) == info.ssi_code ?
			    "ran" : "not-run");
			break;
		}
		if (kvmvmm_ms_since(&t0) >= (double)ms) {
			printf("async sigbus: none within %" PRIu64 " ms\n",
			    ms);
			fflush(stdout);
			return 0;
		}
	}
	fflush(stdout);
	kvmvmm_seen = atomic_load(&kvmvmm_calls);
	return 1;
}

/*
 * --check: every page of the range must read EIO through /proc/self/mem,
 * the pages either side must read; a load on the vCPU thread must raise
 * SIGBUS into this VMM's handler and leave the page poisoned.
 */
static int
kvmvmm_check(const struct kvmvmm_gpa_range *r)
{
	uint8_t		*hva, *last;
	uint64_t	 off;
	const char	*mem = "EIO", *load;
	char		 lbuf[32];
	int		 e, below, above, rc, after;

	hva = kvmvmm_hva(r->gpa);
	last = kvmvmm_hva(r->gpa + r->len - 1);
	if (hva == NULL || last != hva + r->len - 1) {
		printf("check gpa=0x%" PRIx64 ": not in one slot\n", r->gpa);
		return -1;
	}
	for (off = 0; off < r->len; off += KVMVMM_PAGE)
		if ((e = kvmvmm_memread(hva + off)) != EIO) {
			mem = e == 0 ? "readable" : kvmvmm_errname(e);
			break;
		}
	below = kvmvmm_memread(hva - KVMVMM_PAGE);
	above = kvmvmm_memread(hva + r->len);
	rc = kvmvmm_vcpu_job(KVMVMM_JOB_LOAD, NULL, hva);
	if (rc == 1)
		load = "SIGBUS";
	else if (rc == 0) {
		snprintf(lbuf, sizeof lbuf, "value=%d", errno);
		load = lbuf;
	} else
		load = "SIGBUS-elsewhere";
	after = kvmvmm_memread(hva);
	printf("check gpa=0x%" PRIx64 " len=%" PRIu64 " memread=%s below=%s "
	    "above=%s load=%s after=%s\n", r->gpa, r->len, mem,
	    kvmvmm_errname(below), kvmvmm_errname(above), load,
	    kvmvmm_errname(after));
	fflush(stdout);
	return 0;
}

/* What the "migration" thread saw. */
struct kvmvmm_mread {
	const volatile uint8_t	*hva;
	int			 faulted;	/* the VMM's handler got it */
	unsigned int		 nonzero;
};

/* Body of the "migration" thread: name itself, read one page. */
static void *
kvmvmm_mread_main(void *arg)
{
	struct kvmvmm_mread	*m = arg;
	sigjmp_buf		 jb;
	uint64_t		 i;

	pthread_setname_np(pthread_self(), kvmvmm_mname);
	if (sigsetjmp(jb, 1) != 0) {
		m->faulted = 1;
		return NULL;
	}
	kvmvmm_jmp = &jb;
	for (i = 0; i < KVMVMM_PAGE; i++)
		if (m->hva[i] != 0)
			m->nonzero++;
	kvmvmm_jmp = NULL;
	return NULL;
}

/*
 * --migrate-read: read the page at gpa from a thread made the way QEMU
 * 7.2 makes its helper threads (every signal blocked but SIGSEGV, SIGFPE
 * and SIGILL), then see whether it is poisoned again a while later.
 */
static int
kvmvmm_migrate_read(uint64_t gpa)
{
	struct kvmvmm_mread	m;
	struct timespec		nap = { 0, KVMVMM_REPOISON_WAIT_MS * 1000000L };
	pthread_t		t;
	uint8_t			*hva;
	int			now, later, error;

	if ((hva = kvmvmm_hva(gpa)) == NULL) {
		printf("migration read gpa=0x%" PRIx64 ": in no slot\n", gpa);
		return -1;
	}
	memset(&m, 0, sizeof m);
	m.hva = hva;
	if ((error = kvmvmm_helper_thread(&t, kvmvmm_mread_main, &m)) != 0) {
		printf("migration read gpa=0x%" PRIx64 ": pthread_create: %s\n",
		    gpa, strerror(error));
		return -1;
	}
	pthread_join(t, NULL);
	now = kvmvmm_memread(hva);
	if (m.faulted) {
		printf("migration read gpa=0x%" PRIx64 " by %s: SIGBUS reached "
		    "the VMM's handler (QEMU 7.2 aborts here)\n", gpa,
		    kvmvmm_mname);
		return -1;
	}
	printf("migration read gpa=0x%" PRIx64 " by %s: completed nonzero=%u "
	    "memread=%s\n", gpa, kvmvmm_mname, m.nonzero,
	    kvmvmm_errname(now));
	fflush(stdout);
	nanosleep(&nap, NULL);
	later = kvmvmm_memread(hva);
	printf("migration read gpa=0x%" PRIx64 ": %d ms later memread=%s\n",
	    gpa, KVMVMM_REPOISON_WAIT_MS, kvmvmm_errname(later));
	fflush(stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	sigset_t	 set;
	uint64_t	 ram = 128ULL << 20;
	unsigned int	 i;
	int		 hold = 0, failed = 0;

	for (i = 1; i < (unsigned int)argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-uuid") == 0 || strcmp(a, "-name") == 0 ||
		    strcmp(a, "-incoming") == 0) {
			if (++i == (unsigned int)argc)
				kvmvmm_usage("option needs a value");
		} else if (strcmp(a, "--ram") == 0) {
			if (++i == (unsigned int)argc ||
			    kvmvmm_number(argv[i], &ram) == -1 ||
			    ram < (64ULL << 20) || ram % 4096 != 0)
				kvmvmm_usage("bad --ram (at least 64M, whole "
				    "pages)");
		} else if (strcmp(a, "--poison") == 0) {
			if (++i == (unsigned int)argc ||
			    kvmvmm_npoison == KVMVMM_MAX_POISON ||
			    kvmvmm_parse_poison(argv[i], ":",
			    &kvmvmm_poisons[kvmvmm_npoison]) == -1)
				kvmvmm_usage("bad --poison");
			kvmvmm_npoison++;
		} else if (strcmp(a, "--check") == 0 ||
		    strcmp(a, "--mark") == 0 || strcmp(a, "--fill") == 0) {
			struct kvmvmm_gpa_range	*r;
			unsigned int		*n;

			r = a[2] == 'c' ? kvmvmm_checks : a[2] == 'm' ?
			    kvmvmm_marks : kvmvmm_fills;
			n = a[2] == 'c' ? &kvmvmm_nchecks : a[2] == 'm' ?
			    &kvmvmm_nmarks : &kvmvmm_nfills;
			if (++i == (unsigned int)argc ||
			    *n == KVMVMM_MAX_CHECK ||
			    kvmvmm_parse_range(argv[i], &r[*n]) == -1)
				kvmvmm_usage("bad --check, --mark or --fill "
				    "(GPA[:LEN], whole pages)");
			(*n)++;
		} else if (strcmp(a, "--migrate-read") == 0) {
			if (++i == (unsigned int)argc ||
			    kvmvmm_nmreads == KVMVMM_MAX_CHECK ||
			    kvmvmm_number(argv[i],
			    &kvmvmm_mreads[kvmvmm_nmreads]) == -1)
				kvmvmm_usage("bad --migrate-read");
			kvmvmm_nmreads++;
		} else if (strcmp(a, "--madv-hwpoison") == 0 ||
		    strcmp(a, "--guest-load") == 0) {
			uint64_t	*g;
			unsigned int	*n;

			g = a[2] == 'm' ? kvmvmm_madvs : kvmvmm_gloads;
			n = a[2] == 'm' ? &kvmvmm_nmadvs : &kvmvmm_ngloads;
			if (++i == (unsigned int)argc ||
			    *n == KVMVMM_MAX_CHECK ||
			    kvmvmm_number(argv[i], &g[*n]) == -1)
				kvmvmm_usage("bad --madv-hwpoison or "
				    "--guest-load");
			(*n)++;
		} else if (strcmp(a, "--mce-early") == 0)
			kvmvmm_mce_early = 1;
		else if (strcmp(a, "--memfd") == 0)
			kvmvmm_memfd = 1;
		else if (strncmp(a, "--race", 6) == 0) {
			if (++i == (unsigned int)argc ||
			    kvmvmm_race_parse(a, argv[i]) == -1)
				kvmvmm_usage("bad --race GPA:LEN[:STRIDE], "
				    "--race-read GPA or --race-reads N");
		}
		else if (strcmp(a, "--migrate-name") == 0) {
			if (++i == (unsigned int)argc)
				kvmvmm_usage("option needs a value");
			kvmvmm_mname = argv[i];
		} else if (strcmp(a, "--vcpus") == 0) {
			uint64_t	v;

			if (++i == (unsigned int)argc ||
			    kvmvmm_number(argv[i], &v) == -1 || v < 1 ||
			    v > KVMVMM_MAX_VCPUS)
				kvmvmm_usage("bad --vcpus (1 to 8)");
			kvmvmm_vcpus = (unsigned int)v;
		} else if (strcmp(a, "--settle") == 0) {
			if (++i == (unsigned int)argc ||
			    kvmvmm_number(argv[i], &kvmvmm_settle_ms) == -1 ||
			    kvmvmm_settle_ms > 60000)
				kvmvmm_usage("bad --settle (milliseconds)");
		} else if (strcmp(a, "--kick-after") == 0) {
			if (++i == (unsigned int)argc ||
			    kvmvmm_number(argv[i], &kvmvmm_kick_ms) == -1 ||
			    kvmvmm_kick_ms == 0 || kvmvmm_kick_ms > 60000)
				kvmvmm_usage("bad --kick-after (milliseconds)");
		} else if (strcmp(a, "--run") == 0)
			kvmvmm_run = 1;
		else if (strcmp(a, "--uffd-probe") == 0)
			return kvmvmm_uffd_probe();
		else if (strcmp(a, "--hold") == 0)
			hold = 1;
		else if (strcmp(a, "--use-signal") == 0)
			kvmvmm_plain = 1;
		else if (strcmp(a, "--altstack") == 0)
			kvmvmm_altstack = 1;
		else
			kvmvmm_usage("unknown argument");
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (hold)
		prctl(PR_SET_PDEATHSIG, SIGTERM);
	/* As QEMU at start-up: every thread made later inherits it. */
	if (kvmvmm_mce_early) {
		if (prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY, 0,
		    0) == -1) {
			perror("kvmvmm: prctl PR_MCE_KILL");
			return KVMVMM_EXIT_FAIL;
		}
		printf("mce kill: early (PR_MCE_KILL_GET=%d)\n",
		    prctl(PR_MCE_KILL_GET, 0, 0, 0, 0));
	}

	/* The main thread reads SIGBUS from a signalfd, as QEMU's does. */
	sigemptyset(&set);
	sigaddset(&set, SIGBUS);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((kvmvmm_sigfd = signalfd(-1, &set, SFD_CLOEXEC)) == -1) {
		perror("kvmvmm: signalfd");
		return KVMVMM_EXIT_FAIL;
	}
	kvmvmm_install();
	if (kvmvmm_create(ram) == -1)
		return KVMVMM_EXIT_NOKVM;
	kvmvmm_print_layout();
	for (i = 0; i < kvmvmm_nfills; i++)
		if (kvmvmm_fill(&kvmvmm_fills[i]) == -1)
			failed = 1;
	kvmvmm_race_fill();

	kvmvmm_cpu.fd = -1;
	pthread_mutex_init(&kvmvmm_cpu.lock, NULL);
	pthread_cond_init(&kvmvmm_cpu.cond, NULL);
	if (pthread_create(&kvmvmm_cpu.thread, NULL, kvmvmm_vcpu_main,
	    &kvmvmm_cpu) != 0) {
		fprintf(stderr, "kvmvmm: cannot start the vCPU thread\n");
		return KVMVMM_EXIT_FAIL;
	}
	/* KVM_RUN's own answer does not matter; a vCPU must exist. */
	if (kvmvmm_run) {
		(void)kvmvmm_vcpu_job(KVMVMM_JOB_RUN, NULL, NULL);
		if (kvmvmm_cpu.fd == -1)
			failed = 1;
	}
	for (i = 0; i < kvmvmm_npoison; i++)
		if (kvmvmm_poison(&kvmvmm_poisons[i]) == -1)
			failed = 1;
	if (kvmvmm_settle_ms > 0) {
		struct timespec	nap;

		nap.tv_sec = (time_t)(kvmvmm_settle_ms / 1000);
		nap.tv_nsec = (long)(kvmvmm_settle_ms % 1000) * 1000000L;
		nanosleep(&nap, NULL);
	}
	for (i = 0; i < kvmvmm_nmarks; i++)
		if (kvmvmm_mark(&kvmvmm_marks[i]) == -1)
			failed = 1;
	for (i = 0; i < kvmvmm_nmadvs; i++)
		if (kvmvmm_madv(kvmvmm_madvs[i]) == -1)
			failed = 1;
	for (i = 0; i < kvmvmm_ngloads; i++)
		if (kvmvmm_guest(kvmvmm_gloads[i]) == -1)
			failed = 1;
	for (i = 0; i < kvmvmm_nchecks; i++)
		if (kvmvmm_check(&kvmvmm_checks[i]) == -1)
			failed = 1;
	if (kvmvmm_race_wanted() && kvmvmm_race() == -1)
		failed = 1;
	for (i = 0; i < kvmvmm_nmreads; i++)
		if (kvmvmm_migrate_read(kvmvmm_mreads[i]) == -1)
			failed = 1;
	if (hold && kvmvmm_commands() == -1)
		failed = 1;

	pthread_mutex_lock(&kvmvmm_cpu.lock);
	kvmvmm_cpu.quit = 1;
	pthread_cond_broadcast(&kvmvmm_cpu.cond);
	pthread_mutex_unlock(&kvmvmm_cpu.lock);
	pthread_join(kvmvmm_cpu.thread, NULL);
	if (kvmvmm_cpu.fd != -1)
		close(kvmvmm_cpu.fd);
	close(kvmvmm_vmfd);
	close(kvmvmm_kvmfd);
	return failed ? KVMVMM_EXIT_FAIL : KVMVMM_EXIT_OK;
}
