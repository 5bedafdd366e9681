/*
 * bench_scale.c -- one VM with N poisoned ranges (non-adjacent 4 KiB
 * pages), each figure next to its goal and a baseline measured in the
 * same run:
 *   fill      N AO forwards through the real protocol, many in flight on
 *             one VMM connection (rasd groups them into commits);
 *   memory    rasd's anonymous RSS with the N ranges loaded, less an empty
 *             rasd's, per range (goal <= 64 B; baseline: the 48 B a range
 *             needs as gpa, length and two decisions);
 *   restart   rasd started on the store until it answers (goal < 2 s;
 *             baseline: an empty store);
 *   register  the VMM re-registering after that restart gets every range
 *             from rasd (in pages), and rasd's decisions, not local ones;
 *   repeat    a forward to a poisoned page, answered from memory (goal:
 *             <= 1.25x a bare socket round trip);
 *   list      rasctl list-poison --json and plain, all N ranges (goal
 *             < 1 s; baseline: sqlite3 reading the same rows).
 * All of it twice: the pages forwarded in increasing address order, then
 * in a random order (a fresh rasd and store each time; the set must not
 * cost more when ranges arrive out of order). It starts and restarts rasd
 * itself, on a private socket and state dir.
 * Usage: bench_scale BINDIR DIR [N]   (BINDIR holds rasd and rasctl)
 * Exits 1 if rasd's answers are wrong (a range missing, a local decision):
 * tests/e2e/t_scale.sh runs it with N = 50 000.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "ras.h"
#include "rasclient.h"
#include "rasd.pb-c.h"

#define BASE_GPA 0x40000000ULL
#define STRIDE 8192		/* every other page: no two ranges merge */
#define WINDOW 512		/* forwards in flight on the connection */
#define REPEATS 2000

static const char *bindir, *dir;
static char sock[4096], state[4096], conf[4096], logpath[4096];
static pid_t rasd_pid = -1;
static uint8_t uuid[16] = { 0x5c, 0xa1, 0xe0, 0x00, 0x11, 0x22, 0x43, 0x33,
    0x84, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa };
static uint8_t hest[4096];
static size_t hest_len;
static uint32_t *order;		/* the page each forward goes to */
static int failed;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
fail(const char *fmt, const char *detail)
{
	fprintf(stderr, "bench_scale: ");
	fprintf(stderr, fmt, detail);
	fputc('\n', stderr);
	failed = 1;
}

/* Run a shell command; its exit status. */
static int
run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Start rasd and wait until it answers; seconds it took. */
static double
rasd_start(void)
{
	char cmd[16384];
	double t0 = now_s();
	int i;

	if ((rasd_pid = fork()) == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);

		dup2(fd, 2);
		snprintf(cmd, sizeof cmd, "%s/rasd", bindir);
		execl(cmd, "rasd", "-c", conf, "--foreground", "--no-libvirt",
		    "--socket", sock, "--state-dir", state, (char *)NULL);
		_exit(127);
	}
	snprintf(cmd, sizeof cmd, "%s/rasctl --socket %s list-vms "
	    ">/dev/null 2>&1", bindir, sock);
	for (i = 0; i < 20000; i++) {
		if (run(cmd) == 0)
			return now_s() - t0;
		usleep(2000);
	}
	fail("rasd did not start (see %s)", logpath);
	exit(1);
}

static void
rasd_stop(void)
{
	if (rasd_pid > 0) {
		kill(rasd_pid, SIGTERM);
		waitpid(rasd_pid, NULL, 0);
	}
	rasd_pid = -1;
}

/* rasd's anonymous resident memory, bytes. */
static double
rasd_rss(void)
{
	char path[64], line[256];
	double kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)rasd_pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "RssAnon: %lf", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/* Pack and send one request, framed. */
static void
raw_send(int fd, Ras__Request *req)
{
	static uint8_t buf[FRAME_HDR_LEN + 8192];
	size_t len = ras__request__get_packed_size(req), off = 0;
	ssize_t w;

	req->version = RAS_PROTO_VERSION;
	frame_put_header(buf, (uint32_t)len);
	ras__request__pack(req, buf + FRAME_HDR_LEN);
	len += FRAME_HDR_LEN;
	while (off < len) {
		if ((w = write(fd, buf + off, len - off)) <= 0) {
			perror("bench_scale: write");
			exit(1);
		}
		off += (size_t)w;
	}
}

static int
read_full(int fd, uint8_t *p, size_t len)
{
	ssize_t r;

	while (len > 0) {
		if ((r = read(fd, p, len)) <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Read one response frame. */
static Ras__Response *
raw_recv(int fd)
{
	static uint8_t buf[FRAME_MAX];
	uint8_t hdr[FRAME_HDR_LEN];
	uint32_t len;

	if (read_full(fd, hdr, sizeof hdr) == -1)
		return NULL;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	if (len > FRAME_MAX || read_full(fd, buf, len) == -1)
		return NULL;
	return ras__response__unpack(NULL, len, buf);
}

/*
 * N AO forwards to every other page, in the order order[] says, WINDOW at
 * a time on one registered connection: the real protocol and the real
 * commit path, batched the way many vCPUs' forwards are.
 */
static double
fill(uint64_t hva, int n)
{
	Ras__Request req = RAS__REQUEST__INIT;
	Ras__Register reg = RAS__REGISTER__INIT;
	Ras__Forward fw = RAS__FORWARD__INIT;
	Ras__Unregister un = RAS__UNREGISTER__INIT;
	Ras__Slot slot = RAS__SLOT__INIT, *slotp = &slot;
	Ras__Response *resp;
	struct sockaddr_un sa;
	double t0;
	int fd, sent = 0, got = 0;

	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(sock) >= sizeof sa.sun_path) {
		fail("socket path %s too long", sock);
		exit(1);
	}
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		perror("bench_scale: connect");
		exit(1);
	}
	reg.uuid.data = uuid;
	reg.uuid.len = 16;
	reg.name = "bench-scale";
	reg.arch = 1;
	reg.has_hest = 1;
	reg.hest.data = hest;
	reg.hest.len = hest_len;
	slot.gpa = BASE_GPA;
	slot.hva = hva;
	slot.size = (uint64_t)n * STRIDE + STRIDE;
	reg.n_slots = 1;
	reg.slots = &slotp;
	reg.caps = 0xfff;
	reg.pid = (uint32_t)getpid();
	req.id = 1;
	req.body_case = RAS__REQUEST__BODY_REGISTER;
	req.register_ = &reg;
	raw_send(fd, &req);
	if ((resp = raw_recv(fd)) == NULL ||
	    resp->body_case != RAS__RESPONSE__BODY_REGISTERED) {
		fail("fill: registration refused%s", "");
		exit(1);
	}
	ras__response__free_unpacked(resp, NULL);

	t0 = now_s();
	fw.uuid = reg.uuid;
	fw.kind = 2;
	fw.lsb = 12;
	req.body_case = RAS__REQUEST__BODY_FORWARD;
	req.forward = &fw;
	while (got < n) {
		while (sent < n && sent - got < WINDOW) {
			req.id = 100 + (uint64_t)sent;
			fw.hva = hva + (uint64_t)order[sent] * STRIDE;
			raw_send(fd, &req);
			sent++;
		}
		if ((resp = raw_recv(fd)) == NULL ||
		    resp->body_case != RAS__RESPONSE__BODY_DECISION) {
			fail("fill: forward not decided%s", "");
			exit(1);
		}
		ras__response__free_unpacked(resp, NULL);
		got++;
	}
	t0 = now_s() - t0;
	un.uuid = reg.uuid;
	req.id = 2;
	req.body_case = RAS__REQUEST__BODY_UNREGISTER;
	req.unregister = &un;
	raw_send(fd, &req);
	if ((resp = raw_recv(fd)) != NULL)
		ras__response__free_unpacked(resp, NULL);
	close(fd);
	return t0;
}

static struct rasc *
open_vm(uint8_t *ram, int n)
{
	struct rasc_config cfg;
	struct rasc_slot slot;
	char err[256];
	struct rasc *c;

	memset(&cfg, 0, sizeof cfg);
	cfg.socket_path = sock;
	memcpy(cfg.uuid, uuid, 16);
	cfg.name = "bench-scale";
	cfg.arch = "arm64";
	cfg.hest = hest;
	cfg.hest_len = hest_len;
	slot.gpa = BASE_GPA;
	slot.hva = (uint64_t)(uintptr_t)ram;
	slot.size = (uint64_t)n * STRIDE + STRIDE;
	cfg.slots = &slot;
	cfg.slot_count = 1;
	cfg.caps = 0xfff;
	cfg.timeout_ms = 5000;
	cfg.resume = 1;
	if ((c = rasc_open(&cfg, err, sizeof err)) == NULL) {
		fail("register: %s", err);
		exit(1);
	}
	return c;
}

/* Every range rasd reported, paged through, is one we poisoned. */
static void
check_active(struct rasc *c, int n)
{
	static struct rasc_range rr[RASC_ACTIVE_MAX];
	unsigned int first = 0, i;
	int total = rasc_active(c, NULL, 0), k;
	char buf[64];

	if (total != n) {
		snprintf(buf, sizeof buf, "%d of %d", total, n);
		fail("registration carried %s active ranges", buf);
		return;
	}
	while (first < (unsigned int)total) {
		k = rasc_active_from(c, first, rr, RASC_ACTIVE_MAX);
		for (i = 0; i < RASC_ACTIVE_MAX && first + i <
		    (unsigned int)k; i++)
			if (rr[i].gpa != BASE_GPA + (uint64_t)(first + i) *
			    STRIDE || rr[i].length != 4096) {
				fail("active range %s is wrong", "");
				return;
			}
		first += i;
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *s, int n)
{
	qsort(s, (size_t)n, sizeof *s, cmp_double);
	return s[n / 2];
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

/* Baseline: a bare Unix stream socket round trip, median, us. */
static double
pingpong(int n)
{
	static double s[REPEATS];
	char buf[64] = { 0 };
	pthread_t t;
	double t0;
	int sv[2], i;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return -1;
	pthread_create(&t, NULL, echo_thread, &sv[1]);
	for (i = 0; i < n; i++) {
		t0 = now_s();
		if (write(sv[0], buf, sizeof buf) != sizeof buf ||
		    read(sv[0], buf, sizeof buf) != sizeof buf)
			break;
		s[i] = (now_s() - t0) * 1e6;
	}
	close(sv[0]);
	pthread_join(t, NULL);
	close(sv[1]);
	return median(s, i);
}

/* Forwards to poisoned pages spread over the set: rasd's lookup. */
static double
repeats(struct rasc *c, uint8_t *ram, int n)
{
	static double s[REPEATS];
	struct rasc_decision d;
	double t0;
	int i;

	for (i = 0; i < REPEATS; i++) {
		uint64_t k = ((uint64_t)i * 7919) % (uint64_t)n;

		t0 = now_s();
		if (rasc_forward(c, RASC_KIND_AO, ram + k * STRIDE + 64, 12,
		    &d) != 0 || !d.from_rasd || !d.repeat) {
			fail("repeat forward %s not answered by rasd as a "
			    "repeat", "");
			return -1;
		}
		s[i] = (now_s() - t0) * 1e6;
	}
	return median(s, REPEATS);
}

/*
 * Seconds a shell command takes with its output to /dev/null; then, not
 * timed, how many lines of it match pattern (NULL: all lines).
 */
static double
timed(const char *cmd, const char *pattern, long *lines)
{
	char full[16384];
	double t0 = now_s(), t;
	FILE *p;

	snprintf(full, sizeof full, "%s >/dev/null", cmd);
	if (run(full) != 0)
		fail("%s failed", cmd);
	t = now_s() - t0;
	if (pattern != NULL)
		snprintf(full, sizeof full, "%s | grep -c '%s'", cmd, pattern);
	else
		snprintf(full, sizeof full, "%s | wc -l", cmd);
	if ((p = popen(full, "r")) == NULL || fscanf(p, "%ld", lines) != 1)
		*lines = -1;
	if (p != NULL)
		pclose(p);
	return t;
}

static void
line(const char *what, double v, const char *unit, const char *goal,
    const char *base, double bv)
{
	printf("%-34s %10.3f %-3s goal %-9s baseline %-28s %10.3f %-3s  "
	    "%6.2fx\n", what, v, unit, goal, base, bv, unit, bv > 0 ? v / bv :
	    0);
}

/* Every page in increasing order, or shuffled (fixed seed). */
static void
order_fill(int n, int shuffled)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	uint32_t t;
	int i, j;

	for (i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	for (i = n - 1; shuffled && i > 0; i--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = (int)(x % (uint64_t)(i + 1));
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
}

/* One run: a fresh rasd and store, N ranges in the given order. */
static void
scale_run(const char *name, int shuffled, int n, uint8_t *ram)
{
	double t_empty, t_full, rss0, rss_fill, rss1, t_fill, t_reg, rep, rtt;
	double t_json, t_text, t_sql;
	long l_json, l_text, l_sql;
	char cmd[16384];
	struct rasc *c;
	FILE *f;

	snprintf(sock, sizeof sock, "%s/scale-%s.sock", dir, name);
	snprintf(state, sizeof state, "%s/scale-%s-state", dir, name);
	snprintf(conf, sizeof conf, "%s/scale.conf", dir);
	snprintf(logpath, sizeof logpath, "%s/scale-%s-rasd.log", dir, name);
	if ((f = fopen(conf, "w")) == NULL) {
		perror(conf);
		exit(1);
	}
	fclose(f);
	order_fill(n, shuffled);

	t_empty = rasd_start();
	rss0 = rasd_rss();
	t_fill = fill((uint64_t)(uintptr_t)ram, n);
	rss_fill = rasd_rss();
	printf("%d ranges filled in %s order: %d AO forwards, %d in flight, "
	    "%.1f s (%.0f durable forwards/s)\n", n, name, n, WINDOW, t_fill,
	    n / t_fill);

	/* A running VMM, then rasd restarts under it. */
	c = open_vm(ram, n);
	check_active(c, n);
	rasd_stop();
	t_full = rasd_start();
	rss1 = rasd_rss();
	t_reg = now_s();
	if (rasc_service(c) != 0 || !rasc_connected(c))
		fail("re-registration after the restart failed: %s",
		    rasc_strerror(c));
	t_reg = now_s() - t_reg;
	check_active(c, n);
	rep = repeats(c, ram, n);
	rtt = pingpong(REPEATS);

	snprintf(cmd, sizeof cmd, "%s/rasctl --socket %s --json list-poison "
	    "bench-scale", bindir, sock);
	t_json = timed(cmd, "\"gpa\"", &l_json);
	snprintf(cmd, sizeof cmd, "%s/rasctl --socket %s list-poison "
	    "bench-scale", bindir, sock);
	t_text = timed(cmd, "0x", &l_text);
	snprintf(cmd, sizeof cmd, "sqlite3 -readonly %s/rasd.db 'SELECT gpa, "
	    "length, kind, action, notify, source_id, time FROM event WHERE "
	    "active = 1'", state);
	t_sql = timed(cmd, NULL, &l_sql);
	if (l_json != n || l_text != n) {
		snprintf(cmd, sizeof cmd, "json %ld, text %ld, of %d", l_json,
		    l_text, n);
		fail("list-poison listed %s ranges", cmd);
	}

	printf("\n%d ranges in one VM (non-adjacent 4 KiB pages, %s "
	    "order):\n", n, name);
	line("rasd memory per range", (rss1 - rss0) / n, "B", "<= 64 B",
	    "gpa+len+2 decisions", 48);
	line("  ... before the restart", (rss_fill - rss0) / n, "B", "-",
	    "gpa+len+2 decisions", 48);
	line("restart until rasd answers", t_full, "s", "< 2 s",
	    "empty store", t_empty);
	line("re-registration, all ranges", t_reg, "s", "-",
	    "restart", t_full);
	line("repeat forward (lookup)", rep, "us", "<= 1.25x", "socket RTT",
	    rtt);
	line("list-poison --json", t_json, "s", "< 1 s",
	    "sqlite3 same rows", t_sql);
	line("list-poison (table)", t_text, "s", "< 1 s",
	    "sqlite3 same rows", t_sql);
	rasc_close(c);
	rasd_stop();
}

int
main(int argc, char **argv)
{
	uint8_t *ram;
	FILE *f;
	int n;

	if (argc < 3) {
		fprintf(stderr, "usage: bench_scale BINDIR DIR [N]\n");
		return 2;
	}
	bindir = argv[1];
	dir = argv[2];
	n = argc > 3 ? atoi(argv[3]) : 1000000;
	if ((f = fopen("tests/data/qemu-virt-10.2-sea-gpio.hest", "rb")) ==
	    NULL) {
		perror("hest");
		return 1;
	}
	hest_len = fread(hest, 1, sizeof hest, f);
	fclose(f);
	ram = mmap(NULL, (size_t)n * STRIDE + STRIDE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED || (order = calloc((size_t)n,
	    sizeof *order)) == NULL) {
		perror("bench_scale");
		return 1;
	}
	scale_run("increasing", 0, n, ram);
	printf("\n");
	scale_run("random", 1, n, ram);
	return failed;
}
