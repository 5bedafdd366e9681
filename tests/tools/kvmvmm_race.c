/*
 * kvmvmm_race.c -- kvmvmm's --race: a vCPU reads guest memory in a tight
 * loop while the migration thread reads a poisoned page in it.
 *
 * DESIGN: the shim gives QEMU's migration thread zeros where it reads
 * poison, and must never let a vCPU see them. To catch one that does,
 * --race GPA:LEN[:STRIDE] fills the range with a non-zero pattern before
 * anything is poisoned, then (after --poison, --settle, --check) starts
 * vCPU 7 on a thread of its own, "CPU 7/KVM", with SIGBUS unblocked and
 * SIGUSR1 handled as QEMU's vCPU threads have them. Its guest (flat
 * 32-bit protected mode at KVMVMM_RACE_CODE) loads a dword every STRIDE
 * bytes (default 512) of the range, over and over, and halts on a zero;
 * an OUT ends each pass. A load of poison makes KVM send the thread SIGBUS
 * and KVM_RUN return EINTR: the thread then steps the guest over the load
 * with a non-zero result and goes in again after KVMVMM_RACE_PACE_US
 * (every such fault is a forward to rasd). Once the vCPU runs, the
 * migration thread (named as --migrate-read's) reads the --race-read page
 * (default: the range's first) --race-reads times (default 5), each
 * KVMVMM_RACE_GAP_MS apart so that the poison is back in between, and
 * says before each read whether the page is poisoned. Then the vCPU
 * stops.
 *
 * Output: "race gpa=0x.. len=N stride=N: mreads=N completed=N nonzero=N
 * poisoned-before=N passes=N faults=N zeros=N longest-run=X ms after=EIO"
 * -- zeros is what the vCPU read as zero (must be 0), longest-run the
 * longest single KVM_RUN call as this VMM saw it (a held vCPU parks in
 * the shim's KVM_RUN wrapper), after the page as /proc/self/mem reads it
 * at the end; then "race mapping gpa=0x..: shared|private path", the
 * mapping that holds the page then (a shared memfd must stay one).
 */
#include <sys/ioctl.h>
#include <sys/prctl.h>

#include <linux/kvm.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kvmvmm.h"

#define KVMVMM_RACE_CODE 0x9000ULL	/* the guest's code */
#define KVMVMM_RACE_VCPU 7		/* its vCPU id */
#define KVMVMM_RACE_PAGE 4096ULL
#define KVMVMM_RACE_PORT 0x10		/* OUT: one pass done */
#define KVMVMM_RACE_PACE_US 1000	/* after a fault */
#define KVMVMM_RACE_GAP_MS 60		/* between migration reads */
#define KVMVMM_RACE_START_MS 2000	/* the vCPU must run by then */
#define KVMVMM_RACE_FILL 0xa5

/* The range, and what the vCPU saw. */
static uint64_t		 kvmvmm_race_gpa, kvmvmm_race_len;
static uint64_t		 kvmvmm_race_stride = 512;
static uint64_t		 kvmvmm_race_read = UINT64_MAX;
static uint64_t		 kvmvmm_race_reads = 5;
static int		 kvmvmm_race_on;
static atomic_int	 kvmvmm_race_stop;
static atomic_uint	 kvmvmm_race_passes;
static atomic_uint	 kvmvmm_race_faults;
static atomic_uint	 kvmvmm_race_zeros;
static _Atomic uint64_t	 kvmvmm_race_zero_gpa;
static _Atomic uint64_t	 kvmvmm_race_longest;	/* ns */
static atomic_int	 kvmvmm_race_failed;

/* Parse a number (0x... or decimal); -1 on junk. */
static int
kvmvmm_race_number(const char *s, uint64_t *out)
{
	char	*e;

	if (*s == '\0' || *s == '-')
		return -1;
	errno = 0;
	*out = strtoull(s, &e, 0);
	return errno != 0 || *e != '\0' ? -1 : 0;
}

/* --race GPA:LEN[:STRIDE], --race-read GPA, --race-reads N. */
int
kvmvmm_race_parse(const char *opt, const char *arg)
{
	char	buf[96], *p, *q;

	if (strcmp(opt, "--race-read") == 0)
		return kvmvmm_race_number(arg, &kvmvmm_race_read) == -1 ||
		    kvmvmm_race_read % KVMVMM_RACE_PAGE != 0 ? -1 : 0;
	if (strcmp(opt, "--race-reads") == 0)
		return kvmvmm_race_number(arg, &kvmvmm_race_reads) == -1 ||
		    kvmvmm_race_reads == 0 || kvmvmm_race_reads > 1000 ? -1 : 0;
	if (strcmp(opt, "--race") != 0 || strlen(arg) >= sizeof buf)
		return -1;
	strcpy(buf, arg);
	if ((p = strchr(buf, ':')) == NULL)
		return -1;
	*p++ = '\0';
	if ((q = strchr(p, ':')) != NULL) {
		*q++ = '\0';
		if (kvmvmm_race_number(q, &kvmvmm_race_stride) == -1 ||
		    kvmvmm_race_stride == 0 || kvmvmm_race_stride % 4 != 0)
			return -1;
	}
	if (kvmvmm_race_number(buf, &kvmvmm_race_gpa) == -1 ||
	    kvmvmm_race_number(p, &kvmvmm_race_len) == -1 ||
	    kvmvmm_race_len == 0 || kvmvmm_race_gpa % KVMVMM_RACE_PAGE != 0 ||
	    kvmvmm_race_gpa + kvmvmm_race_len > 0xffffffffULL)
		return -1;
	kvmvmm_race_on = 1;
	return 0;
}

/* Whether --race was given. */
int
kvmvmm_race_wanted(void)
{
	return kvmvmm_race_on;
}

/* Before anything is poisoned: a pattern without a zero dword. */
void
kvmvmm_race_fill(void)
{
	uint8_t	*hva;

	if (!kvmvmm_race_on)
		return;
	if ((hva = kvmvmm_hva(kvmvmm_race_gpa)) == NULL ||
	    kvmvmm_hva(kvmvmm_race_gpa + kvmvmm_race_len - 1) !=
	    hva + kvmvmm_race_len - 1) {
		printf("race gpa=0x%" PRIx64 ": not in one slot\n",
		    kvmvmm_race_gpa);
		atomic_store(&kvmvmm_race_failed, 1);
		return;
	}
	memset(hva, KVMVMM_RACE_FILL, kvmvmm_race_len);
}

/* A little-endian dword into code. */
static void
kvmvmm_race_put32(uint8_t *code, uint32_t v)
{
	code[0] = (uint8_t)v;
	code[1] = (uint8_t)(v >> 8);
	code[2] = (uint8_t)(v >> 16);
	code[3] = (uint8_t)(v >> 24);
}

/* Offsets in the guest's code. */
#define KVMVMM_RACE_LOAD 0x0a		/* mov eax, [esi] */
#define KVMVMM_RACE_AFTER 0x0c		/* test eax, eax */
#define KVMVMM_RACE_GOON 0x10		/* after the jz */

/*
 * The guest: every stride bytes of the range, "mov eax, [esi]; test eax,
 * eax; jz zero"; OUT at the end of a pass; "zero: hlt".
 */
static int
kvmvmm_race_code(void)
{
	uint8_t		*c;
	static const uint8_t tail[] = {
		0x8b, 0x06,			/* 0a: mov eax, [esi] */
		0x85, 0xc0,			/* 0c: test eax, eax */
		0x74, 0x0d,			/* 0e: jz 1d */
		0x81, 0xc6, 0, 0, 0, 0,		/* 10: add esi, stride */
		0x49,				/* 16: dec ecx */
		0x75, 0xf1,			/* 17: jnz 0a */
		0xe6, KVMVMM_RACE_PORT,		/* 19: out port, al */
		0xeb, 0xe3,			/* 1b: jmp 00 */
		0xf4,				/* 1d: hlt */
		0xeb, 0xfd,			/* 1e: jmp 1d */
	};

	if ((c = kvmvmm_hva(KVMVMM_RACE_CODE)) == NULL)
		return -1;
	c[0] = 0xbe;				/* 00: mov esi, gpa */
	kvmvmm_race_put32(c + 1, (uint32_t)kvmvmm_race_gpa);
	c[5] = 0xb9;				/* 05: mov ecx, count */
	kvmvmm_race_put32(c + 6, (uint32_t)((kvmvmm_race_len +
	    kvmvmm_race_stride - 1) / kvmvmm_race_stride));
	memcpy(c + KVMVMM_RACE_LOAD, tail, sizeof tail);
	kvmvmm_race_put32(c + 0x12, (uint32_t)kvmvmm_race_stride);
	return 0;
}

/* Move the guest's RIP to off (eax: value, unless 0) after a fault. */
static int
kvmvmm_race_step(int fd, uint64_t off, uint32_t eax)
{
	struct kvm_regs	regs;

	if (ioctl(fd, KVM_GET_REGS, &regs) == -1)
		return -1;
	regs.rip = KVMVMM_RACE_CODE + off;
	if (eax != 0)
		regs.rax = eax;
	return ioctl(fd, KVM_SET_REGS, &regs);
}

/* Nanoseconds of CLOCK_MONOTONIC. */
static uint64_t
kvmvmm_race_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Note one KVM_RUN's length. */
static void
kvmvmm_race_took(uint64_t ns)
{
	uint64_t	cur = atomic_load(&kvmvmm_race_longest);

	while (ns > cur &&
	    !atomic_compare_exchange_weak(&kvmvmm_race_longest, &cur, ns))
		;
}

/*
 * An MMIO exit for a load in the range: KVM's emulator could not read the
 * page (poison), so this thread reads it as QEMU's would, from the host
 * mapping. Poison there raises SIGBUS into this VMM's handler: a fault,
 * the load gets a non-zero value. Returns 1 for a fault, 0 for a value
 * read, -1 if it is not such an exit.
 */
static int
kvmvmm_race_mmio(struct kvm_run *run)
{
	uint64_t	 gpa = run->mmio.phys_addr;
	uint32_t	 v = 0;
	uint8_t		*hva, b;
	unsigned int	 i;

	if (run->mmio.is_write || run->mmio.len != 4 ||
	    gpa < kvmvmm_race_gpa || gpa - kvmvmm_race_gpa >= kvmvmm_race_len ||
	    (hva = kvmvmm_hva(gpa)) == NULL)
		return -1;
	for (i = 0; i < 4; i++) {
		if (kvmvmm_load(hva + i, &b) != 0) {
			atomic_fetch_add(&kvmvmm_race_faults, 1);
			memcpy(run->mmio.data, &(uint32_t){ 0xdeadbeef }, 4);
			return 1;
		}
		v |= (uint32_t)b << (8 * i);
	}
	memcpy(run->mmio.data, &v, sizeof v);
	return 0;
}

/* Body of "CPU 7/KVM": run the guest until told to stop. */
static void *
kvmvmm_race_vcpu(void *arg)
{
	struct timespec	 pace = { 0, KVMVMM_RACE_PACE_US * 1000L };
	struct kvm_regs	 regs;
	struct kvm_run	*run;
	sigset_t	 set;
	uint64_t	 t0;
	int		 fd, size, rc, error, before;

	prctl(PR_SET_NAME, "CPU 7/KVM");
	sigemptyset(&set);
	sigaddset(&set, SIGBUS);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if ((fd = ioctl(kvmvmm_vmfd, KVM_CREATE_VCPU, KVMVMM_RACE_VCPU)) ==
	    -1 || (size = ioctl(kvmvmm_kvmfd, KVM_GET_VCPU_MMAP_SIZE, 0)) <= 0 ||
	    (run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0)) == MAP_FAILED || kvmvmm_flat(fd, KVMVMM_RACE_CODE) == -1) {
		printf("race: vCPU setup: %s\n", strerror(errno));
		atomic_store(&kvmvmm_race_failed, 1);
		atomic_store(&kvmvmm_race_stop, 1);
		return NULL;
	}
	while (!atomic_load(&kvmvmm_race_stop)) {
		before = atomic_load(&kvmvmm_calls);
		t0 = kvmvmm_race_now();
		rc = ioctl(fd, KVM_RUN, 0);
		error = errno;
		kvmvmm_race_took(kvmvmm_race_now() - t0);
		/* QEMU clears what its SIG_IPI handler set. */
		run->immediate_exit = 0;
		if (atomic_load(&kvmvmm_calls) != before) {
			/* A load of poison: step over it, non-zero. */
			atomic_fetch_add(&kvmvmm_race_faults, 1);
			if (kvmvmm_race_step(fd, KVMVMM_RACE_AFTER,
			    0xdeadbeef) == -1)
				break;
			nanosleep(&pace, NULL);
			continue;
		}
		if (rc == -1 && (error == EINTR || error == EAGAIN))
			continue;
		if (rc == -1) {
			printf("race: KVM_RUN: %s\n", strerror(error));
			atomic_store(&kvmvmm_race_failed, 1);
			break;
		}
		if (run->exit_reason == KVM_EXIT_IO &&
		    run->io.port == KVMVMM_RACE_PORT) {
			atomic_fetch_add(&kvmvmm_race_passes, 1);
			continue;
		}
		if (run->exit_reason == KVM_EXIT_HLT &&
		    ioctl(fd, KVM_GET_REGS, &regs) == 0) {
			if (atomic_fetch_add(&kvmvmm_race_zeros, 1) == 0)
				atomic_store(&kvmvmm_race_zero_gpa,
				    (uint64_t)(uint32_t)regs.rsi);
			if (kvmvmm_race_step(fd, KVMVMM_RACE_GOON, 0) == -1)
				break;
			continue;
		}
		if (run->exit_reason == KVM_EXIT_MMIO &&
		    (rc = kvmvmm_race_mmio(run)) >= 0) {
			if (rc == 1)
				nanosleep(&pace, NULL);
			continue;
		}
		printf("race: unexpected exit %u\n", run->exit_reason);
		atomic_store(&kvmvmm_race_failed, 1);
		break;
	}
	munmap(run, (size_t)size);
	close(fd);
	return NULL;
}

/* What the migration thread saw. */
struct kvmvmm_race_mig {
	const volatile uint8_t	*hva;
	unsigned int		 completed;
	unsigned int		 nonzero;
	unsigned int		 poisoned;	/* EIO before the read */
};

/* Body of the "migration" thread: read the page again and again. */
static void *
kvmvmm_race_mig_main(void *arg)
{
	struct kvmvmm_race_mig	*m = arg;
	struct timespec		 gap = { 0, KVMVMM_RACE_GAP_MS * 1000000L };
	uint64_t		 i, r;

	pthread_setname_np(pthread_self(), kvmvmm_mname);
	for (r = 0; r < kvmvmm_race_reads; r++) {
		nanosleep(&gap, NULL);
		if (kvmvmm_memread((const void *)m->hva) != 0)
			m->poisoned++;
		for (i = 0; i < KVMVMM_RACE_PAGE; i++)
			if (m->hva[i] != 0)
				m->nonzero++;
		m->completed++;
	}
	return NULL;
}

/* The mapping that holds hva: "shared PATH" or "private PATH". */
static void
kvmvmm_race_mapping(const void *hva, char *out, size_t len)
{
	unsigned long	 lo, hi;
	char		 line[512], perms[8], path[256];
	FILE		*f;

	snprintf(out, len, "none");
	if ((f = fopen("/proc/self/maps", "re")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		path[0] = '\0';
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255[^\n]", &lo, &hi,
		    perms, path) < 3 || (uintptr_t)hva < lo ||
		    (uintptr_t)hva >= hi)
			continue;
		snprintf(out, len, "%s %s", perms[3] == 's' ? "shared" :
		    "private", path[0] != '\0' ? path : "anonymous");
		break;
	}
	fclose(f);
}

/* --race: see the top of this file. Returns 0, or -1. */
int
kvmvmm_race(void)
{
	struct kvmvmm_race_mig	 m;
	struct sigaction	 act;
	struct timespec		 nap = { 0, 1000000L };
	pthread_t		 vcpu, mig;
	uint64_t		 gpa;
	uint8_t			*hva;
	char			 where[320];
	int			 i, error, after;

	gpa = kvmvmm_race_read != UINT64_MAX ? kvmvmm_race_read :
	    kvmvmm_race_gpa;
	if (atomic_load(&kvmvmm_race_failed) || (hva = kvmvmm_hva(gpa)) ==
	    NULL || kvmvmm_race_code() == -1) {
		printf("race gpa=0x%" PRIx64 ": not set up\n", gpa);
		return -1;
	}
	/* QEMU's SIG_IPI: the shim kicks vCPUs with it. */
	memset(&act, 0, sizeof act);
	act.sa_handler = kvmvmm_ipi;
	sigemptyset(&act.sa_mask);
	sigaction(SIGUSR1, &act, NULL);
	if ((error = pthread_create(&vcpu, NULL, kvmvmm_race_vcpu, NULL)) !=
	    0) {
		printf("race: pthread_create: %s\n", strerror(error));
		return -1;
	}
	for (i = 0; i < KVMVMM_RACE_START_MS && !atomic_load(&kvmvmm_race_stop)
	    && atomic_load(&kvmvmm_race_passes) +
	    atomic_load(&kvmvmm_race_faults) < 10; i++)
		nanosleep(&nap, NULL);

	/* As QEMU 7.2 makes its helper threads: signals blocked. */
	memset(&m, 0, sizeof m);
	m.hva = hva;
	if ((error = kvmvmm_helper_thread(&mig, kvmvmm_race_mig_main, &m)) == 0)
		pthread_join(mig, NULL);
	else
		printf("race: pthread_create: %s\n", strerror(error));
	/* The vCPU goes on past the last move back. */
	for (i = 0; i < 100; i++)
		nanosleep(&nap, NULL);
	atomic_store(&kvmvmm_race_stop, 1);
	pthread_kill(vcpu, SIGUSR1);
	pthread_join(vcpu, NULL);

	after = kvmvmm_memread(hva);
	printf("race gpa=0x%" PRIx64 " len=%" PRIu64 " stride=%" PRIu64
	    ": mreads=%" PRIu64 " completed=%u nonzero=%u poisoned-before=%u "
	    "passes=%u faults=%u zeros=%u longest-run=%.1f ms after=%s\n",
	    kvmvmm_race_gpa, kvmvmm_race_len, kvmvmm_race_stride,
	    kvmvmm_race_reads, m.completed, m.nonzero, m.poisoned,
	    atomic_load(&kvmvmm_race_passes), atomic_load(&kvmvmm_race_faults),
	    atomic_load(&kvmvmm_race_zeros),
	    (double)atomic_load(&kvmvmm_race_longest) / 1e6,
	    kvmvmm_errname(after));
	if (atomic_load(&kvmvmm_race_zeros) > 0)
		printf("race: the vCPU read zero first at gpa=0x%" PRIx64 "\n",
		    atomic_load(&kvmvmm_race_zero_gpa));
	kvmvmm_race_mapping(hva, where, sizeof where);
	printf("race mapping gpa=0x%" PRIx64 ": %s\n", gpa, where);
	fflush(stdout);
	return atomic_load(&kvmvmm_race_failed) || error != 0 ? -1 : 0;
}
