/*
 * test_rasclient.c -- the parts of librasclient that need no rasd: the
 * local decision from QEMU's real arm64 HEST and from a declared x86
 * profile, address translation through the memory map, the replay ring
 * while rasd is away, bounded waits, and rasc_forward() called from a real
 * memory-error SIGBUS raised with rt_tgsigqueueinfo. Talking to rasd is
 * covered by the end-to-end tests, which run the real daemon; the one test
 * here that needs it (the socket's life across rasd restarts while threads
 * forward) starts the real rasd ($RASD_BIN) on a private socket.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cper.h"
#include "ras.h"
#include "rasclient.h"

#define QEMU_SEA_GPIO "tests/data/qemu-virt-10.2-sea-gpio.hest"
#define NO_SOCKET "/nonexistent/rasd-test/rasd.sock"
#define GIB (1ULL << 30)

#ifndef BUS_MCEERR_AR
#define BUS_MCEERR_AR 4
#endif
#ifndef BUS_MCEERR_AO
#define BUS_MCEERR_AO 5
#endif

static uint8_t	 hest[4096];
static size_t	 hest_len;

/* Guest RAM stand-in: host addresses need not be mapped for translation. */
static struct rasc_slot slots[2] = {
	{ 0x40000000, 0x7f0000000000, GIB },
	{ 0x100000000, 0x7f0100000000, GIB }
};

/* Read QEMU's table (tests run from the repository root). */
static void
load_hest(void)
{
	FILE	*f;

	f = fopen(QEMU_SEA_GPIO, "rb");
	cr_assert_not_null(f, "open %s", QEMU_SEA_GPIO);
	hest_len = fread(hest, 1, sizeof hest, f);
	fclose(f);
	cr_assert_eq(hest_len, 224);
}

/* A config for an arm64 VM with QEMU's HEST and rasd out of reach. */
static void
arm64_config(struct rasc_config *cfg)
{
	load_hest();
	memset(cfg, 0, sizeof *cfg);
	cfg->socket_path = NO_SOCKET;
	memcpy(cfg->uuid, "0123456789abcdef", 16);
	cfg->name = "unit-arm64";
	cfg->arch = "arm64";
	cfg->hest = hest;
	cfg->hest_len = hest_len;
	cfg->slots = slots;
	cfg->slot_count = 2;
	cfg->caps = RASC_CAP(RAS_NOTIFY_SEA) | RASC_CAP(RAS_NOTIFY_GPIO);
	cfg->timeout_ms = 200;
}

/* Open the arm64 VM; it must come up disconnected. */
static struct rasc *
arm64_open(void)
{
	struct rasc_config	 cfg;
	struct rasc		*c;
	char			 err[256];

	arm64_config(&cfg);
	c = rasc_open(&cfg, err, sizeof err);
	cr_assert_not_null(c, "rasc_open: %s", err);
	cr_assert_eq(rasc_connected(c), 0);
	return c;
}

/* Host address of a guest address in the test map. */
static const void *
hva(uint64_t gpa)
{
	unsigned int	i;

	for (i = 0; i < 2; i++) {
		if (gpa >= slots[i].gpa && gpa - slots[i].gpa < slots[i].size)
			return (const void *)(uintptr_t)(slots[i].hva +
			    (gpa - slots[i].gpa));
	}
	return (const void *)(uintptr_t)0x1000;
}

/* Open with rasd unreachable: a handle, disconnected, nothing pending. */
Test(rasclient, open_disconnected)
{
	struct rasc	*c = arm64_open();

	cr_expect_eq(rasc_pending(c), 0);
	cr_expect_neq(strstr(rasc_strerror(c), "connect"), NULL, "%s",
	    rasc_strerror(c));
	rasc_close(c);
}

/* AR with QEMU's SEA+GPIO HEST falls back to SEA source 0 with CPER. */
Test(rasclient, fallback_ar_sea)
{
	struct rasc		*c = arm64_open();
	struct rasc_decision	 d;
	uint8_t			 want[CPER_BLOCK_LEN];

	cr_assert_eq(rasc_forward(c, RASC_KIND_AR, hva(0x40001234), 12, &d), 1);
	cr_expect_eq(d.action, RASC_ACTION_INJECT);
	cr_expect_eq(d.notify, RAS_NOTIFY_SEA);
	cr_expect_eq(d.source_id, 0);
	cr_expect_eq(d.gpa, 0x40001000);
	cr_expect_eq(d.length, 4096);
	cr_expect_eq(d.addr, 0x40001234, "the exact address, not the page");
	cr_expect_eq(d.from_rasd, 0);
	cr_expect_eq(d.repeat, 0);
	cr_assert_eq(d.cper_len, CPER_BLOCK_LEN);
	cr_assert_eq(cper_memory_error(0x40001234, 4096, want, sizeof want),
	    CPER_BLOCK_LEN);
	cr_expect_eq(memcmp(d.cper, want, CPER_BLOCK_LEN), 0);
	cr_expect_eq(d.mce_status, 0);
	rasc_close(c);
}

/* AO falls back to the interrupt source: GPIO, source 1. */
Test(rasclient, fallback_ao_gpio)
{
	struct rasc		*c = arm64_open();
	struct rasc_decision	 d;

	cr_assert_eq(rasc_forward(c, RASC_KIND_AO, hva(0x40005000), 12, &d), 1);
	cr_expect_eq(d.action, RASC_ACTION_INJECT);
	cr_expect_eq(d.notify, RAS_NOTIFY_GPIO);
	cr_expect_eq(d.source_id, 1);
	cr_expect_eq(d.gpa, 0x40005000);
	cr_expect_eq(d.cper_len, CPER_BLOCK_LEN);
	rasc_close(c);
}

/* rasc_fallback gives the same answer and records nothing. */
Test(rasclient, fallback_only)
{
	struct rasc		*c = arm64_open();
	struct rasc_decision	 d;

	cr_assert_eq(rasc_fallback(c, RASC_KIND_AR, hva(0x40001000), 12, &d),
	    0);
	cr_expect_eq(d.notify, RAS_NOTIFY_SEA);
	cr_expect_eq(rasc_pending(c), 0);
	rasc_close(c);
}

/* gpa = slot.gpa + (addr - slot.hva), aligned down to 1 << lsb. */
Test(rasclient, translate)
{
	struct rasc		*c = arm64_open();
	struct rasc_decision	 d;

	cr_assert_eq(rasc_fallback(c, RASC_KIND_AO, hva(0x40234567), 21, &d),
	    0);
	cr_expect_eq(d.gpa, 0x40200000);
	cr_expect_eq(d.length, 2ULL << 20);

	/* lsb 0 (older kernels) and nonsense lsb mean a 4 KiB page. */
	cr_assert_eq(rasc_fallback(c, RASC_KIND_AO, hva(0x40234567), 0, &d),
	    0);
	cr_expect_eq(d.gpa, 0x40234000);
	cr_expect_eq(d.length, 4096);
	cr_assert_eq(rasc_fallback(c, RASC_KIND_AO, hva(0x40234567), 41, &d),
	    0);
	cr_expect_eq(d.gpa, 0x40234000);
	cr_expect_eq(d.length, 4096);

	/* A 1 GiB granule. */
	cr_assert_eq(rasc_fallback(c, RASC_KIND_AO, hva(0x40234567), 30, &d),
	    0);
	cr_expect_eq(d.gpa, 0x40000000);
	cr_expect_eq(d.length, GIB);

	/* Second slot, and the last byte of each slot. */
	cr_assert_eq(rasc_fallback(c, RASC_KIND_AR, hva(0x100003000), 12, &d),
	    0);
	cr_expect_eq(d.gpa, 0x100003000);
	cr_assert_eq(rasc_fallback(c, RASC_KIND_AR,
	    (const void *)(uintptr_t)(slots[0].hva + GIB - 1), 12, &d), 0);
	cr_expect_eq(d.gpa, 0x40000000 + GIB - 4096);
	cr_assert_eq(rasc_fallback(c, RASC_KIND_AR,
	    (const void *)(uintptr_t)(slots[1].hva + GIB - 1), 12, &d), 0);
	cr_expect_eq(d.gpa, 0x100000000 + GIB - 4096);
	rasc_close(c);
}

/* Outside every slot: -1, AR stops the VM, AO is ignored, nothing kept. */
Test(rasclient, out_of_range)
{
	struct rasc		*c = arm64_open();
	struct rasc_decision	 d;
	const void		*past = (const void *)(uintptr_t)(slots[0].hva +
				    GIB);

	cr_expect_eq(rasc_forward(c, RASC_KIND_AR, past, 12, &d), -1);
	cr_expect_eq(d.action, RASC_ACTION_STOP_VM);
	cr_expect_eq(d.notify, RASC_NOTIFY_NONE);
	cr_expect_eq(d.source_id, -1);
	cr_expect_eq(d.cper_len, 0);
	cr_expect_eq(rasc_forward(c, RASC_KIND_AO, (const void *)0x1000, 12,
	    &d), -1);
	cr_expect_eq(d.action, RASC_ACTION_IGNORE);
	cr_expect_eq(rasc_fallback(c, RASC_KIND_AR,
	    (const void *)(uintptr_t)(slots[0].hva - 1), 12, &d), -1);
	cr_expect_eq(d.action, RASC_ACTION_STOP_VM);
	cr_expect_eq(rasc_pending(c), 0);
	rasc_close(c);
}

/* Bad kinds and a NULL handle never crash and never inject. */
Test(rasclient, bad_calls)
{
	struct rasc		*c = arm64_open();
	struct rasc_decision	 d;

	cr_expect_eq(rasc_forward(c, 7, hva(0x40001000), 12, &d), -1);
	cr_expect_neq(d.action, RASC_ACTION_INJECT);
	cr_expect_eq(rasc_forward(NULL, RASC_KIND_AR, hva(0x40001000), 12, &d),
	    -1);
	cr_expect_eq(d.action, RASC_ACTION_STOP_VM);
	cr_expect_eq(rasc_fallback(NULL, RASC_KIND_AO, hva(0x40001000), 12,
	    &d), -1);
	cr_expect_eq(d.action, RASC_ACTION_IGNORE);
	cr_expect_eq(rasc_forward(c, RASC_KIND_AR, hva(0x40001000), 12, NULL),
	    -1);
	cr_expect_eq(rasc_pending(c), 0);
	cr_expect_eq(rasc_connected(NULL), 0);
	cr_expect_eq(rasc_pending(NULL), 0);
	cr_expect_eq(rasc_service(NULL), -1);
	cr_expect_not_null(rasc_strerror(NULL));
	rasc_close(NULL);
	rasc_close(c);
}

/* While rasd is away every forward is kept; service cannot reach it. */
Test(rasclient, pending_grows)
{
	struct rasc		*c = arm64_open();
	struct rasc_decision	 d;
	int			 i;

	for (i = 0; i < 5; i++) {
		cr_assert_eq(rasc_forward(c, i % 2 ? RASC_KIND_AO :
		    RASC_KIND_AR, hva(0x40000000 + (uint64_t)i * 4096), 12,
		    &d), 1);
		cr_expect_eq(rasc_pending(c), i + 1);
	}
	cr_expect_eq(rasc_service(c), -1);
	cr_expect_eq(rasc_pending(c), 5);
	cr_expect_eq(rasc_connected(c), 0);
	rasc_close(c);
}

/* A full ring still decides; it just cannot keep more than its size. */
Test(rasclient, ring_full)
{
	struct rasc		*c = arm64_open();
	struct rasc_decision	 d;
	int			 i;

	for (i = 0; i < RASC_REPLAY_MAX + 10; i++) {
		cr_assert_eq(rasc_forward(c, RASC_KIND_AR,
		    hva(0x40000000 + (uint64_t)i * 4096), 12, &d), 1);
		cr_assert_eq(d.notify, RAS_NOTIFY_SEA);
	}
	cr_expect_eq(rasc_pending(c), RASC_REPLAY_MAX);
	rasc_close(c);
}

struct forward_job {
	struct rasc	*c;
	int		 n;
	int		 ok;
	uint64_t	 base;		/* first page of this thread's errors */
};

/* Forward n errors from one thread. */
static void *
forward_thread(void *arg)
{
	struct forward_job	*j = arg;
	struct rasc_decision	 d;
	int			 i;

	for (i = 0; i < j->n; i++) {
		if (rasc_forward(j->c, RASC_KIND_AO, hva(0x40000000 +
		    (j->base + (uint64_t)i) * 4096), 12, &d) == 1 &&
		    d.notify == RAS_NOTIFY_GPIO)
			j->ok++;
	}
	return NULL;
}

/* vCPU threads forwarding distinct errors at once each get an entry. */
Test(rasclient, concurrent_forwards)
{
	struct rasc		*c = arm64_open();
	struct forward_job	 job[4];
	pthread_t		 t[4];
	int			 i;

	for (i = 0; i < 4; i++) {
		job[i].c = c;
		job[i].n = 50;
		job[i].ok = 0;
		job[i].base = (uint64_t)i * 50;
		cr_assert_eq(pthread_create(&t[i], NULL, forward_thread,
		    &job[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(job[i].ok, 50);
	}
	cr_expect_eq(rasc_pending(c), 200);
	rasc_close(c);
}

/* x86 with a declared MCE source: both kinds become MCE with MCi_STATUS. */
Test(rasclient, declared_mce)
{
	struct rasc_declared	 decl = { 0, RAS_NOTIFY_MCE };
	struct rasc_slot	 s = { 0, 0x7f0000000000, GIB };
	struct rasc_config	 cfg;
	struct rasc_decision	 d;
	struct rasc		*c;
	char			 err[256];

	memset(&cfg, 0, sizeof cfg);
	cfg.socket_path = NO_SOCKET;
	cfg.name = "unit-x86";
	cfg.arch = "x86_64";
	cfg.declared = &decl;
	cfg.declared_count = 1;
	cfg.slots = &s;
	cfg.slot_count = 1;
	cfg.caps = RASC_CAP(RAS_NOTIFY_MCE);
	c = rasc_open(&cfg, err, sizeof err);
	cr_assert_not_null(c, "%s", err);

	cr_assert_eq(rasc_forward(c, RASC_KIND_AR,
	    (const void *)(uintptr_t)0x7f0000006000, 12, &d), 1);
	cr_expect_eq(d.action, RASC_ACTION_INJECT);
	cr_expect_eq(d.notify, RAS_NOTIFY_MCE);
	cr_expect_eq(d.source_id, 0);
	cr_expect_eq(d.gpa, 0x6000);
	cr_expect_eq(d.cper_len, 0);
	cr_expect(d.mce_status >> 63, "MCi_STATUS.VAL");
	cr_expect((d.mce_status >> 55) & 1, "MCi_STATUS.AR for AR");
	cr_expect_eq(d.mce_status & 0xffff, 0x134);
	cr_expect_eq(d.mce_misc & 0x3f, 12);

	cr_assert_eq(rasc_forward(c, RASC_KIND_AO,
	    (const void *)(uintptr_t)0x7f0000006000, 12, &d), 1);
	cr_expect_eq(d.notify, RAS_NOTIFY_MCE);
	cr_expect_eq((d.mce_status >> 55) & 1, 0, "no AR bit for AO");
	cr_expect_eq(d.mce_status & 0xffff, 0xc0);
	rasc_close(c);
}

/*
 * Caps filter the HEST: without SEA, an AR takes GPIO only when the vCPU
 * could take the interrupt (else stop); with nothing, stop.
 */
Test(rasclient, caps_filter)
{
	struct rasc_config	 cfg;
	struct rasc_decision	 d;
	struct rasc		*c;
	char			 err[256];

	arm64_config(&cfg);
	cfg.caps = RASC_CAP(RAS_NOTIFY_GPIO);
	c = rasc_open(&cfg, err, sizeof err);
	cr_assert_not_null(c, "%s", err);
	cr_assert_eq(rasc_forward(c, RASC_KIND_AR, hva(0x40001000), 12, &d), 1);
	cr_expect_eq(d.action, RASC_ACTION_STOP_VM, "masked: no interrupt");
	cr_assert_eq(rasc_forward_ex(c, RASC_KIND_AR, hva(0x40002000), 12,
	    RASC_F_IRQ_UNMASKED, &d), 1);
	cr_expect_eq(d.notify, RAS_NOTIFY_GPIO);
	cr_expect_eq(d.source_id, 1);
	rasc_close(c);

	cfg.caps = RASC_CAP(RAS_NOTIFY_SEI);
	c = rasc_open(&cfg, err, sizeof err);
	cr_assert_not_null(c, "%s", err);
	cr_assert_eq(rasc_forward(c, RASC_KIND_AR, hva(0x40001000), 12, &d), 1);
	cr_expect_eq(d.action, RASC_ACTION_STOP_VM);
	cr_expect_eq(d.notify, RASC_NOTIFY_NONE);
	cr_expect_eq(d.cper_len, 0);
	cr_assert_eq(rasc_forward(c, RASC_KIND_AO, hva(0x40001000), 12, &d), 1);
	cr_expect_eq(d.action, RASC_ACTION_IGNORE);
	rasc_close(c);
}

/* Configurations rasc_open must refuse, each with a reason. */
Test(rasclient, bad_config)
{
	struct rasc_declared	 decl[2] = { { 0, RAS_NOTIFY_MCE },
				    { 1, 99 } };
	struct rasc_slot	 overlap[2] = {
		{ 0, 0x7f0000000000, GIB }, { GIB, 0x7f0000001000, GIB } };
	struct rasc_config	 cfg;
	char			 err[256];

	arm64_config(&cfg);
	cfg.hest_len = 100;
	cr_expect_null(rasc_open(&cfg, err, sizeof err));
	cr_expect_neq(strstr(err, "HEST"), NULL, "%s", err);

	arm64_config(&cfg);
	cfg.slot_count = 0;
	cr_expect_null(rasc_open(&cfg, err, sizeof err));
	cr_expect_neq(strstr(err, "slot"), NULL, "%s", err);

	arm64_config(&cfg);
	cfg.slots = overlap;
	cr_expect_null(rasc_open(&cfg, err, sizeof err));
	cr_expect_neq(strstr(err, "overlap"), NULL, "%s", err);

	arm64_config(&cfg);
	cfg.arch = "sparc";
	cr_expect_null(rasc_open(&cfg, err, sizeof err));
	cr_expect_neq(strstr(err, "architecture"), NULL, "%s", err);

	arm64_config(&cfg);
	cfg.name = NULL;
	cr_expect_null(rasc_open(&cfg, err, sizeof err));

	arm64_config(&cfg);
	cfg.declared = decl;
	cfg.declared_count = 1;
	cr_expect_null(rasc_open(&cfg, err, sizeof err), "HEST and declared");

	arm64_config(&cfg);
	cfg.hest = NULL;
	cfg.hest_len = 0;
	cr_expect_null(rasc_open(&cfg, err, sizeof err));
	cr_expect_neq(strstr(err, "profile"), NULL, "%s", err);

	cfg.declared = decl;
	cfg.declared_count = 2;
	cr_expect_null(rasc_open(&cfg, err, sizeof err), "notify 99");

	arm64_config(&cfg);
	cfg.timeout_ms = -5;
	cr_expect_null(rasc_open(&cfg, err, sizeof err));

	cr_expect_null(rasc_open(NULL, err, sizeof err));
	cr_expect_null(rasc_open(NULL, NULL, 0));
}

/* A new map takes effect locally at once, even while disconnected. */
Test(rasclient, set_slots)
{
	struct rasc		*c = arm64_open();
	struct rasc_slot	 moved = { 0x80000000, slots[0].hva, GIB };
	struct rasc_slot	 bad = { 0, 0, 0 };
	struct rasc_decision	 d;
	const void		*a = hva(0x40003000);

	cr_assert_eq(rasc_set_slots(c, &moved, 1), 0);
	cr_assert_eq(rasc_fallback(c, RASC_KIND_AR, a, 12, &d), 0);
	cr_expect_eq(d.gpa, 0x80003000);
	cr_expect_eq(rasc_fallback(c, RASC_KIND_AR, hva(0x100000000), 12, &d),
	    -1, "second slot was deleted");

	cr_expect_eq(rasc_set_slots(c, &bad, 1), -1);
	cr_expect_eq(rasc_set_slots(c, NULL, 0), -1);
	cr_assert_eq(rasc_fallback(c, RASC_KIND_AR, a, 12, &d), 0);
	cr_expect_eq(d.gpa, 0x80003000, "a refused map changes nothing");
	rasc_close(c);
}

struct flip_job {
	struct rasc	*c;
	volatile int	 stop;
};

/* Swap between two maps of the same host range as fast as possible. */
static void *
flip_thread(void *arg)
{
	struct flip_job		*j = arg;
	struct rasc_slot	 a = { 0x40000000, 0x7f0000000000, GIB };
	struct rasc_slot	 b = { 0x200000000, 0x7f0000000000, GIB };
	unsigned long		 n = 0;

	while (!j->stop)
		rasc_set_slots(j->c, n++ % 2 ? &a : &b, 1);
	return NULL;
}

/* A reader racing map updates only ever sees one whole map or the other. */
Test(rasclient, set_slots_race)
{
	struct flip_job		 job;
	struct rasc_decision	 d;
	pthread_t		 t;
	int			 i;

	job.c = arm64_open();
	job.stop = 0;
	cr_assert_eq(pthread_create(&t, NULL, flip_thread, &job), 0);
	for (i = 0; i < 200000; i++) {
		cr_assert_eq(rasc_fallback(job.c, RASC_KIND_AO,
		    (const void *)(uintptr_t)0x7f0000005000, 12, &d), 0);
		if (d.gpa != 0x40005000 && d.gpa != 0x200005000)
			cr_assert_fail("torn map: gpa 0x%llx",
			    (unsigned long long)d.gpa);
	}
	job.stop = 1;
	pthread_join(t, NULL);
	rasc_close(job.c);
}

/* A guest reset while rasd is away is kept for later, not refused. */
Test(rasclient, reset_disconnected)
{
	struct rasc		*c = arm64_open();
	struct rasc_decision	 d;

	cr_assert_eq(rasc_forward(c, RASC_KIND_AR, hva(0x40001000), 12, &d), 1);
	cr_expect_eq(rasc_guest_reset(c), 0);
	cr_expect_eq(rasc_pending(c), 1);
	rasc_close(c);
}

/* The service thread starts once and rasc_close stops it without delay. */
Test(rasclient, service_thread)
{
	struct rasc	*c = arm64_open();
	struct timespec	 t0, t1;
	double		 ms;

	cr_assert_eq(rasc_start_thread(c, 10000), 0);
	cr_expect_eq(rasc_start_thread(c, 100), -1, "already running");
	cr_expect_eq(rasc_start_thread(NULL, 100), -1);
	usleep(50 * 1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rasc_close(c);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	cr_expect_lt(ms, 1000.0, "rasc_close took %.0f ms", ms);
}

/*
 * A peer that accepts the connection but never answers (a hung rasd) costs
 * rasc_open one timeout, not forever; the handle is then disconnected.
 */
Test(rasclient, hung_peer_bounded)
{
	struct rasc_config	 cfg;
	struct sockaddr_un	 sun;
	struct rasc		*c;
	struct timespec		 t0, t1;
	char			 err[256], path[64];
	double			 ms;
	int			 fd;

	snprintf(path, sizeof path, "/tmp/rasc-hung-%ld.sock", (long)getpid());
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_neq(fd, -1);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	cr_assert_eq(listen(fd, 4), 0);

	arm64_config(&cfg);
	cfg.socket_path = path;
	cfg.timeout_ms = 200;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c = rasc_open(&cfg, err, sizeof err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	cr_assert_not_null(c, "%s", err);
	cr_expect_eq(rasc_connected(c), 0);
	cr_expect_geq(ms, 150.0, "gave up after %.0f ms", ms);
	cr_expect_lt(ms, 1500.0, "waited %.0f ms", ms);
	rasc_close(c);
	close(fd);
	unlink(path);
}

static struct rasc		*sig_client;
static volatile sig_atomic_t	 sig_rc, sig_handled, sig_code, sig_lsb;
static struct rasc_decision	 sig_decision;

/* A VMM's SIGBUS handler: forward the memory error, park the decision. */
static void
sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	int	kind;

	kind = si->si_code == BUS_MCEERR_AO ? RASC_KIND_AO : RASC_KIND_AR;
	sig_code = si->si_code;
	sig_lsb = si->si_addr_lsb;
	sig_rc = rasc_forward(sig_client, kind, si->si_addr, si->si_addr_lsb,
	    &sig_decision);
	sig_handled = 1;
}

/* Send this thread a memory-error SIGBUS as the kernel would. */
static int
raise_mce(int code, const void *addr, int lsb)
{
	siginfo_t	si;

	memset(&si, 0, sizeof si);
	si.si_signo = SIGBUS;
	si.si_code = code;
	si.si_addr = (void *)(uintptr_t)addr;
	si.si_addr_lsb = (short)lsb;
	sig_handled = 0;
	return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(),
	    (pid_t)syscall(SYS_gettid), SIGBUS, &si);
}

/* Install the handler and open a disconnected client for it. */
static void
sigbus_setup(void)
{
	struct sigaction	sa;

	sig_client = arm64_open();
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = sigbus_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGBUS, &sa, NULL), 0);
}

/* Real BUS_MCEERR_AR / AO signals reach rasc_forward with their lsb. */
Test(rasclient, real_sigbus)
{
	sigbus_setup();

	cr_assert_eq(raise_mce(BUS_MCEERR_AR, hva(0x40007000), 12), 0);
	cr_assert(sig_handled, "handler ran before the syscall returned");
	cr_expect_eq(sig_code, BUS_MCEERR_AR);
	cr_expect_eq(sig_rc, 1);
	cr_expect_eq(sig_decision.action, RASC_ACTION_INJECT);
	cr_expect_eq(sig_decision.notify, RAS_NOTIFY_SEA);
	cr_expect_eq(sig_decision.gpa, 0x40007000);
	cr_expect_eq(sig_decision.cper_len, CPER_BLOCK_LEN);

	cr_assert_eq(raise_mce(BUS_MCEERR_AO, hva(0x40345678), 21), 0);
	cr_assert(sig_handled);
	cr_expect_eq(sig_lsb, 21);
	cr_expect_eq(sig_rc, 1);
	cr_expect_eq(sig_decision.notify, RAS_NOTIFY_GPIO);
	cr_expect_eq(sig_decision.gpa, 0x40200000);
	cr_expect_eq(sig_decision.length, 2ULL << 20);

	cr_assert_eq(raise_mce(BUS_MCEERR_AR, (const void *)0x1000, 12), 0);
	cr_assert(sig_handled);
	cr_expect_eq(sig_rc, -1);
	cr_expect_eq(sig_decision.action, RASC_ACTION_STOP_VM);

	cr_expect_eq(rasc_pending(sig_client), 2);
	rasc_close(sig_client);
}

/* The handler running on a vCPU-like thread while another holds nothing. */
static void *
vcpu_thread(void *arg)
{
	raise_mce(BUS_MCEERR_AR, hva(0x100009000), 12);
	return NULL;
}

/* A memory error on a second thread is forwarded from that thread. */
Test(rasclient, real_sigbus_other_thread)
{
	pthread_t	t;

	sigbus_setup();
	cr_assert_eq(pthread_create(&t, NULL, vcpu_thread, NULL), 0);
	pthread_join(t, NULL);
	cr_assert(sig_handled);
	cr_expect_eq(sig_rc, 1);
	cr_expect_eq(sig_decision.gpa, 0x100009000);
	cr_expect_eq(sig_decision.notify, RAS_NOTIFY_SEA);
	rasc_close(sig_client);
}

/*
 * With rasd away, repeats of one granule share a replay entry; distinct
 * errors fill the ring, and what it cannot keep is counted, never silent.
 */
Test(rasclient, ring_coalesces_repeats_and_counts_overflow)
{
	struct rasc		*c = arm64_open();
	struct rasc_decision	 d;
	unsigned int		 i;

	for (i = 0; i < 10; i++)
		cr_assert_eq(rasc_forward(c, RASC_KIND_AR, hva(0x40001234),
		    12, &d), 1);
	cr_expect_eq(rasc_pending(c), 1, "ten touches of one page: one entry");
	cr_assert_eq(rasc_forward(c, RASC_KIND_AO, hva(0x40001000), 12, &d),
	    1);
	cr_assert_eq(rasc_forward_ex(c, RASC_KIND_AR, hva(0x40001000), 12,
	    RASC_F_IRQ_UNMASKED, &d), 1);
	cr_expect_eq(rasc_pending(c), 3, "another kind or mask: its own entry");
	/* 2 MiB granules: any address inside is the same error. */
	cr_assert_eq(rasc_forward(c, RASC_KIND_AR, hva(0x40400000), 21, &d),
	    1);
	cr_assert_eq(rasc_forward(c, RASC_KIND_AR, hva(0x405ff000), 21, &d),
	    1);
	cr_expect_eq(rasc_pending(c), 4);
	cr_expect_eq(rasc_lost(c), 0);

	/* Fill the ring with distinct pages (every other page: no merges). */
	for (i = 0; rasc_pending(c) < RASC_REPLAY_MAX; i++)
		cr_assert_eq(rasc_forward(c, RASC_KIND_AR,
		    hva(0x100000000ULL + 0x2000ULL * i), 12, &d), 1);
	cr_expect_eq(rasc_lost(c), 0);
	/* Full: the decision still comes, the loss is counted. */
	cr_assert_eq(rasc_forward(c, RASC_KIND_AR, hva(0x140000000ULL - 0x1000),
	    12, &d), 1);
	cr_expect_eq(d.action, RASC_ACTION_INJECT);
	cr_expect_eq(d.notify, RAS_NOTIFY_SEA);
	cr_expect_eq(rasc_lost(c), 1);
	/* A repeat of a kept one is not a loss. */
	cr_assert_eq(rasc_forward(c, RASC_KIND_AR, hva(0x100000000ULL), 12,
	    &d), 1);
	cr_expect_eq(rasc_lost(c), 1);
	cr_expect_eq(rasc_pending(c), RASC_REPLAY_MAX);
	rasc_close(c);
}

/* The real rasd on a private socket and state directory. */
struct test_rasd {
	char	dir[64];
	char	sock[96];
	char	state[96];
	char	log[96];
	pid_t	pid;
};

/* Start rasd and wait until it accepts connections; 0 or -1. */
static int
rasd_spawn(struct test_rasd *r)
{
	const char		*bin = getenv("RASD_BIN");
	struct sockaddr_un	 sun;
	int			 fd, i, ok;

	if (bin == NULL)
		bin = "build/bin/rasd";
	if ((r->pid = fork()) == -1)
		return -1;
	if (r->pid == 0) {
		if ((fd = open(r->log, O_WRONLY | O_CREAT | O_APPEND, 0600)) !=
		    -1) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execl(bin, "rasd", "--foreground", "--no-libvirt", "--socket",
		    r->sock, "--state-dir", r->state, (char *)NULL);
		_exit(127);
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", r->sock);
	for (i = 0; i < 500; i++) {
		if (waitpid(r->pid, NULL, WNOHANG) == r->pid)
			return -1;
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ok = fd != -1 &&
		    connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
		if (fd != -1)
			close(fd);
		if (ok)
			return 0;
		usleep(10 * 1000);
	}
	return -1;
}

/* Create the directory and start rasd in it. */
static int
rasd_start(struct test_rasd *r)
{
	memset(r, 0, sizeof *r);
	snprintf(r->dir, sizeof r->dir, "/tmp/rasc-unit-XXXXXX");
	if (mkdtemp(r->dir) == NULL)
		return -1;
	snprintf(r->sock, sizeof r->sock, "%s/rasd.sock", r->dir);
	snprintf(r->state, sizeof r->state, "%s/state", r->dir);
	snprintf(r->log, sizeof r->log, "%s/rasd.log", r->dir);
	return rasd_spawn(r);
}

/* Stop rasd with sig and reap it; its exit status, or 128 + signal. */
static int
rasd_stop(struct test_rasd *r, int sig)
{
	int	st = 0;

	if (r->pid <= 0)
		return 0;
	kill(r->pid, sig);
	waitpid(r->pid, &st, 0);
	r->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* What the socket-reuse test's threads share. */
struct reuse_run {
	struct rasc	*c;
	atomic_int	 stop;		/* service and watcher threads */
	atomic_long	 stray;		/* bytes found on sockets not ours */
	atomic_long	 lost;		/* markers they took from them */
	atomic_long	 pairs;		/* socket pairs the watcher made */
};

struct reuse_fwd {
	struct reuse_run *run;
	int		  n;
	uint64_t	  base;
};

/* A vCPU: forward n distinct action-optional errors, one after another. */
static void *
reuse_forward(void *arg)
{
	struct reuse_fwd	*f = arg;
	struct rasc_decision	 d;
	int			 i;

	for (i = 0; i < f->n; i++)
		rasc_forward(f->run->c, RASC_KIND_AO,
		    hva(0x40000000 + (f->base + (uint64_t)i) * 4096), 12, &d);
	return NULL;
}

/* The VMM's service thread, as fast as it can go. */
static void *
reuse_service(void *arg)
{
	struct reuse_run	*run = arg;

	while (!atomic_load(&run->stop))
		rasc_service(run->c);
	return NULL;
}

/*
 * Another part of the VMM talking on its own sockets: each pair takes the
 * lowest free descriptors, which are the ones the library just closed. A
 * frame sent on a descriptor after its close lands here (stray bytes),
 * and a read from one takes what was meant for this end (a lost marker).
 */
static void *
reuse_watch(void *arg)
{
	static const char	 mark[8] = "vmm-own";
	struct reuse_run	*run = arg;
	char			 buf[256];
	ssize_t			 n;
	int			 sv[2];

	while (!atomic_load(&run->stop)) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0, sv) == -1)
			continue;
		atomic_fetch_add(&run->pairs, 1);
		if (send(sv[0], mark, sizeof mark, MSG_NOSIGNAL) !=
		    (ssize_t)sizeof mark)
			atomic_fetch_add(&run->lost, 1);
		usleep(200);
		n = recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);
		if (n != (ssize_t)sizeof mark || memcmp(buf, mark, sizeof mark))
			atomic_fetch_add(&run->lost, 1);
		while ((n = recv(sv[0], buf, sizeof buf, MSG_DONTWAIT)) > 0)
			atomic_fetch_add(&run->stray, n);
		while ((n = recv(sv[1], buf, sizeof buf, MSG_DONTWAIT)) > 0)
			atomic_fetch_add(&run->stray, n);
		close(sv[0]);
		close(sv[1]);
	}
	return NULL;
}

/*
 * rasd goes away (SIGKILL) and comes back, again and again, while vCPU
 * threads forward and the service thread notices the closed socket,
 * closes it and reconnects: no descriptor is closed while another thread
 * still sends or waits on it (nothing reaches the unrelated sockets that
 * take the freed numbers), and every forward reaches rasd exactly once
 * the replay is done.
 */
Test(rasclient, socket_reuse_across_restarts, .timeout = 120)
{
	struct rasc_config	 cfg;
	struct test_rasd	 rasd;
	struct reuse_run	 run;
	struct reuse_fwd	 fwd[4];
	pthread_t		 tf[4], ts, tw;
	char			 err[256], cmd[128];
	int			 i, left, rc;

	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(rasd_start(&rasd), 0, "rasd did not start (RASD_BIN)");
	arm64_config(&cfg);
	cfg.socket_path = rasd.sock;
	cfg.timeout_ms = 100;
	memset(&run, 0, sizeof run);
	run.c = rasc_open(&cfg, err, sizeof err);
	cr_assert_not_null(run.c, "rasc_open: %s", err);
	cr_assert_eq(rasc_connected(run.c), 1);

	cr_assert_eq(pthread_create(&ts, NULL, reuse_service, &run), 0);
	cr_assert_eq(pthread_create(&tw, NULL, reuse_watch, &run), 0);
	for (i = 0; i < 4; i++) {
		fwd[i].run = &run;
		fwd[i].n = 250;
		fwd[i].base = (uint64_t)i * 1000;
		cr_assert_eq(pthread_create(&tf[i], NULL, reuse_forward,
		    &fwd[i]), 0);
	}
	for (i = 0; i < 6; i++) {
		usleep(100 * 1000);
		rasd_stop(&rasd, SIGKILL);
		usleep(20 * 1000);
		cr_assert_eq(rasd_spawn(&rasd), 0, "rasd did not restart");
	}
	for (i = 0; i < 4; i++)
		pthread_join(tf[i], NULL);

	/* The service thread replays what rasd missed. */
	for (left = 0; left < 1000 && rasc_pending(run.c) != 0; left++)
		usleep(10 * 1000);
	atomic_store(&run.stop, 1);
	pthread_join(ts, NULL);
	pthread_join(tw, NULL);

	cr_expect_gt(atomic_load(&run.pairs), 100, "the watcher ran");
	cr_expect_eq(atomic_load(&run.stray), 0,
	    "%ld bytes went to sockets the library had closed",
	    atomic_load(&run.stray));
	cr_expect_eq(atomic_load(&run.lost), 0,
	    "%ld reads took bytes from sockets the library had closed",
	    atomic_load(&run.lost));
	cr_expect_eq(rasc_pending(run.c), 0, "%d forwards never acknowledged",
	    rasc_pending(run.c));
	cr_expect_eq(rasc_lost(run.c), 0);
	cr_expect_eq(rasc_connected(run.c), 1);
	rasc_close(run.c);
	rc = rasd_stop(&rasd, SIGTERM);
	cr_expect_eq(rc, 0, "rasd exited with %d; log in %s", rc, rasd.log);
	if (rc == 0) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", rasd.dir);
		cr_expect_eq(system(cmd), 0);
	}
}
