/*
 * bench_forward.c -- what an AR forward costs end to end, next to the
 * baselines it is made of:
 *   1. a bare Unix-socket round trip (64-byte ping-pong between threads),
 *   2. a bare write + fdatasync of 4 KiB in the state directory,
 *   3. one SQLite transaction per event (WAL, synchronous=FULL),
 *   4. an AR forward through librasclient to the real rasd (record made
 *      durable, decision answered), each to a new page,
 *   5. the same from a real SIGBUS (rt_tgsigqueueinfo on our own thread)
 *      through the handler,
 *   6. group commit: K VMM threads forwarding at once, events per second.
 * Usage: bench_forward SOCKET DIR [N]   (rasd must listen on SOCKET;
 * DIR is a scratch directory on the same file system as rasd's store)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rasclient.h"

#define RAM (1ULL << 30)

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Print median and p99 of n samples (microseconds). */
static double
report(const char *what, double *s, int n)
{
	double med, p99;

	qsort(s, (size_t)n, sizeof *s, cmp_double);
	med = s[n / 2];
	p99 = s[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
	printf("%-44s n=%-5d median %9.1f us   p99 %9.1f us\n", what, n, med,
	    p99);
	return med;
}

static void *
echo_thread(void *arg)
{
	int fd = *(int *)arg;
	char buf[64];

	while (read(fd, buf, sizeof buf) == (ssize_t)sizeof buf)
		if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
			break;
	return NULL;
}

/* Baseline 1: a bare Unix stream socket round trip. */
static double
bench_pingpong(int n)
{
	int sv[2], i;
	pthread_t t;
	char buf[64] = { 0 };
	double *s = calloc((size_t)n, sizeof *s), t0, med;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return -1;
	pthread_create(&t, NULL, echo_thread, &sv[1]);
	for (i = 0; i < n; i++) {
		t0 = now_us();
		if (write(sv[0], buf, sizeof buf) != sizeof buf ||
		    read(sv[0], buf, sizeof buf) != sizeof buf)
			break;
		s[i] = now_us() - t0;
	}
	close(sv[0]);
	pthread_join(t, NULL);
	close(sv[1]);
	med = report("bare unix-socket round trip (64 B)", s, i);
	free(s);
	return med;
}

/* Baseline 2: write 4 KiB and fdatasync. */
static double
bench_fdatasync(const char *dir, int n)
{
	char path[4096], buf[4096];
	double *s = calloc((size_t)n, sizeof *s), t0, med;
	int fd, i;

	snprintf(path, sizeof path, "%s/bench-fsync", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	memset(buf, 0xa5, sizeof buf);
	for (i = 0; i < n; i++) {
		t0 = now_us();
		if (pwrite(fd, buf, sizeof buf, (off_t)i * 4096) != 4096 ||
		    fdatasync(fd) == -1)
			break;
		s[i] = now_us() - t0;
	}
	close(fd);
	unlink(path);
	med = report("bare 4 KiB write + fdatasync", s, i);
	free(s);
	return med;
}

/* Baseline 3: one SQLite transaction per event, like a naive store. */
static double
bench_sqlite(const char *dir, int n)
{
	char path[4096];
	sqlite3 *db;
	sqlite3_stmt *st;
	double *s = calloc((size_t)n, sizeof *s), t0, med;
	int i;

	snprintf(path, sizeof path, "%s/bench.db", dir);
	unlink(path);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	    "CREATE TABLE e(id INTEGER PRIMARY KEY, vm BLOB, gpa INTEGER,"
	    " length INTEGER, kind INTEGER, t INTEGER)", NULL, NULL, NULL);
	sqlite3_prepare_v2(db, "INSERT INTO e(vm, gpa, length, kind, t)"
	    " VALUES(x'00112233445566778899aabbccddeeff', ?, 4096, 1, 0)", -1,
	    &st, NULL);
	for (i = 0; i < n; i++) {
		t0 = now_us();
		sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		sqlite3_bind_int64(st, 1, (sqlite3_int64)i * 4096);
		sqlite3_step(st);
		sqlite3_reset(st);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		s[i] = now_us() - t0;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	unlink(path);
	snprintf(path, sizeof path, "%s/bench.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/bench.db-shm", dir);
	unlink(path);
	med = report("one SQLite transaction per event", s, i);
	free(s);
	return med;
}

static struct rasc *open_vm(const char *sock, const char *name,
    uint8_t *ram, uint8_t tag);

/* A 16-byte UUID from a tag and the pid, so runs do not collide. */
static void
make_uuid(uint8_t uuid[16], uint8_t tag)
{
	pid_t pid = getpid();

	memset(uuid, 0xbe, 16);
	uuid[0] = tag;
	memcpy(uuid + 1, &pid, sizeof pid);
	uuid[6] = 0x40 | (uuid[6] & 0x0f);
	uuid[8] = 0x80 | (uuid[8] & 0x3f);
}

static struct rasc *
open_vm(const char *sock, const char *name, uint8_t *ram, uint8_t tag)
{
	static const uint8_t hest_path[] =
	    "tests/data/qemu-virt-10.2-sea-gpio.hest";
	static uint8_t hest[4096];
	struct rasc_config cfg;
	struct rasc_slot slot;
	char err[256];
	FILE *f = fopen((const char *)hest_path, "rb");
	size_t hl;
	struct rasc *c;

	if (f == NULL) {
		perror("hest");
		exit(1);
	}
	hl = fread(hest, 1, sizeof hest, f);
	fclose(f);
	memset(&cfg, 0, sizeof cfg);
	cfg.socket_path = sock;
	make_uuid(cfg.uuid, tag);
	cfg.name = name;
	cfg.arch = "arm64";
	cfg.hest = hest;
	cfg.hest_len = hl;
	slot.gpa = 0x40000000;
	slot.hva = (uint64_t)(uintptr_t)ram;
	slot.size = RAM;
	cfg.slots = &slot;
	cfg.slot_count = 1;
	cfg.caps = 0xfff;
	cfg.timeout_ms = 5000;
	if ((c = rasc_open(&cfg, err, sizeof err)) == NULL ||
	    !rasc_connected(c)) {
		fprintf(stderr, "bench: cannot register with rasd: %s\n",
		    c == NULL ? err : rasc_strerror(c));
		exit(1);
	}
	return c;
}

/* 4: AR forwards through the library, each to a fresh page. */
static double
bench_forward(struct rasc *c, uint8_t *ram, uint64_t base, int n)
{
	struct rasc_decision d;
	double *s = calloc((size_t)n, sizeof *s), t0, med;
	int i;

	for (i = 0; i < n; i++) {
		t0 = now_us();
		if (rasc_forward(c, RASC_KIND_AR, ram + base + (uint64_t)i *
		    8192, 12, &d) != 0 || d.repeat) {
			fprintf(stderr, "bench: forward %d not answered by "
			    "rasd\n", i);
			break;
		}
		s[i] = now_us() - t0;
	}
	med = report("AR forward via librasclient -> rasd (durable)", s, i);
	free(s);
	return med;
}

static struct rasc *sig_client;
static volatile sig_atomic_t sig_done;

static void
sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	struct rasc_decision d;

	(void)sig;
	(void)uc;
	rasc_forward(sig_client, si->si_code == BUS_MCEERR_AR ? RASC_KIND_AR :
	    RASC_KIND_AO, si->si_addr, si->si_addr_lsb, &d);
	sig_done = 1;
}

/* 5: a real SIGBUS raised on this thread, forwarded from the handler. */
static double
bench_sigbus(struct rasc *c, uint8_t *ram, uint64_t base, int n)
{
	struct sigaction sa;
	siginfo_t si;
	double *s = calloc((size_t)n, sizeof *s), t0, med;
	int i;

	sig_client = c;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = sigbus_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, NULL);
	for (i = 0; i < n; i++) {
		memset(&si, 0, sizeof si);
		si.si_signo = SIGBUS;
		si.si_code = BUS_MCEERR_AR;
		si.si_addr = ram + base + (uint64_t)i * 8192;
		si.si_addr_lsb = 12;
		sig_done = 0;
		t0 = now_us();
		if (syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGBUS,
		    &si) == -1) {
			perror("rt_tgsigqueueinfo");
			break;
		}
		while (!sig_done)
			;
		s[i] = now_us() - t0;
	}
	signal(SIGBUS, SIG_DFL);
	med = report("real SIGBUS -> handler -> rasd -> decision", s, i);
	free(s);
	return med;
}

struct burst {
	struct rasc *c;
	uint8_t *ram;
	int n;
};

static void *
burst_thread(void *arg)
{
	struct burst *b = arg;
	struct rasc_decision d;
	int i;

	for (i = 0; i < b->n; i++)
		rasc_forward(b->c, RASC_KIND_AO, b->ram + (uint64_t)i * 8192,
		    12, &d);
	return NULL;
}

/* 6: K VMMs forwarding at once share commits. */
static void
bench_group(const char *sock, int k, int n)
{
	struct burst b[16];
	pthread_t t[16];
	char name[32];
	double t0, el;
	int i;

	for (i = 0; i < k; i++) {
		b[i].ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		    MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		snprintf(name, sizeof name, "bench-group-%d", i);
		b[i].c = open_vm(sock, name, b[i].ram, (uint8_t)(0x10 + i));
		b[i].n = n;
	}
	t0 = now_us();
	for (i = 0; i < k; i++)
		pthread_create(&t[i], NULL, burst_thread, &b[i]);
	for (i = 0; i < k; i++)
		pthread_join(t[i], NULL);
	el = now_us() - t0;
	printf("%-44s %d VMMs x %d: %.0f durable forwards/s (%.1f us each)\n",
	    "group commit, concurrent AO forwards", k, n, k * n / (el / 1e6),
	    el / (k * n));
	for (i = 0; i < k; i++) {
		rasc_close(b[i].c);
		munmap(b[i].ram, RAM);
	}
}

int
main(int argc, char **argv)
{
	int n = argc > 3 ? atoi(argv[3]) : 1000;
	double ping, sync, sql, fwd, sig;
	uint8_t *ram;
	struct rasc *c;

	if (argc < 3) {
		fprintf(stderr, "usage: bench_forward SOCKET DIR [N]\n");
		return 2;
	}
	ping = bench_pingpong(n * 10);
	sync = bench_fdatasync(argv[2], n);
	sql = bench_sqlite(argv[2], n);
	ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	c = open_vm(argv[1], "bench-vm", ram, 0x01);
	fwd = bench_forward(c, ram, 0, n);
	sig = bench_sigbus(c, ram, (uint64_t)n * 8192 + 4096, n);
	rasc_close(c);
	munmap(ram, RAM);
	bench_group(argv[1], 8, n / 4 > 0 ? n / 4 : 1);
	printf("\nAR forward median = %.1fx socket round trip, %.2fx "
	    "fdatasync, %.2fx one SQLite txn/event\n", fwd / ping, fwd / sync,
	    fwd / sql);
	printf("SIGBUS path median = %.1f us\n", sig);
	return 0;
}
