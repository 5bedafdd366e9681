/*
 * ras-flood -- open many connections to rasd and misbehave on them, as a
 * hostile or careless local client would: hold them idle, park a half-sent
 * frame on each, register a VM and then park a half-sent frame, or
 * register a VM and send forwards without ever reading the answers, or
 * send malformed requests (each one answered with an error). Then
 * watch which of them rasd closes, and when.
 *
 * Prints one line when the connections are set up:
 *	setup connected=N failed=F registered=R sent=BYTES ms=T
 * and one when it stops watching (all closed, --hold elapsed or SIGTERM):
 *	done open=N closed=C first_close_ms=A last_close_ms=B
 * (close times are counted from the end of the setup).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "frame.h"
#include "ras.h"
#include "rasd.pb-c.h"

static const char usage_text[] =
"usage: ras-flood --socket PATH [-n CONNS]\n"
"                 [--mode idle|partial|register|noread|junk]\n"
"                 [--declare BYTES] [--send BYTES] [--forwards N]\n"
"                 [--uid UID] [--connect-sec S] [--hold S]\n"
"\n"
"  -n CONNS          connections to open (default 1100)\n"
"  --mode idle       connect and send nothing (default)\n"
"  --mode partial    send a frame header declaring --declare bytes and\n"
"                    only --send bytes of it\n"
"  --mode register   register a VM (x86_64, declared MCE) on each, then\n"
"                    do as partial\n"
"  --mode noread     register a VM on each, then send --forwards N\n"
"                    forwards (AO, one page) and never read an answer\n"
"  --mode junk       send --forwards N one-byte frames that are no\n"
"                    Request, reading the error answers\n"
"  --forwards N      (default 20000)\n"
"  --declare BYTES   declared frame length (default 1048576)\n"
"  --send BYTES      bytes of it actually sent (default 1048000)\n"
"  --uid UID         drop to this uid (and gid) before connecting\n"
"  --connect-sec S   keep retrying connects refused for a full backlog for\n"
"                    at most S seconds in all (default 10)\n"
"  --hold S          watch the connections for at most S seconds (default\n"
"                    30); stop early when rasd closed every one\n";

static volatile sig_atomic_t flood_stop;

/* Milliseconds on the monotonic clock. */
static int64_t
flood_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
flood_sig(int sig)
{
	flood_stop = 1;
}

/* Connect one non-blocking socket; -1 when the backlog stays full. */
static int
flood_connect(const struct sockaddr_un *sun, int64_t deadline)
{
	int fd;

	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
		if (fd == -1)
			return -1;
		if (connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0)
			return fd;
		close(fd);
		if (errno != EAGAIN || flood_now() >= deadline || flood_stop)
			return -1;
		usleep(1000);
	}
}

/* Write all of buf before deadline; -1 if the peer closed or time ran out. */
static int
flood_write(int fd, const void *buf, size_t len, int64_t deadline,
    size_t *sent)
{
	const uint8_t *p = buf;
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			*sent += (size_t)n;
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
		int64_t left = deadline - flood_now();
		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR)
			return -1;
	}
	return 0;
}

/* Read one whole frame before deadline into buf; its length, or -1. */
static ssize_t
flood_read_frame(int fd, uint8_t *buf, size_t cap, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t have = 0, want = FRAME_HDR_LEN;
	uint32_t len;
	ssize_t n;

	while (have < want) {
		n = recv(fd, buf + have, want - have, 0);
		if (n == 0)
			return -1;
		if (n > 0) {
			have += (size_t)n;
			if (have == FRAME_HDR_LEN && want == FRAME_HDR_LEN) {
				len = (uint32_t)buf[0] << 24 |
				    (uint32_t)buf[1] << 16 |
				    (uint32_t)buf[2] << 8 | buf[3];
				if (len == 0 || len > cap - FRAME_HDR_LEN)
					return -1;
				want = FRAME_HDR_LEN + len;
			}
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		int64_t left = deadline - flood_now();
		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR)
			return -1;
	}
	return (ssize_t)(want - FRAME_HDR_LEN);
}

#define FLOOD_HVA 0x7f0000000000ull	/* where the one slot "is" */

/* Send n AO forwards for VM uuid on fd, reading nothing back. */
static void
flood_forwards(int fd, const uint8_t uuid[16], unsigned long n,
    int64_t deadline, size_t *sent)
{
	Ras__Request req = RAS__REQUEST__INIT;
	Ras__Forward fwd = RAS__FORWARD__INIT;
	uint8_t buf[256];
	unsigned long i;
	size_t len;

	fwd.uuid.data = (uint8_t *)uuid;
	fwd.uuid.len = 16;
	fwd.kind = 2;
	fwd.hva = FLOOD_HVA + 0x1000;
	fwd.lsb = 12;
	req.version = RAS_PROTO_VERSION;
	req.body_case = RAS__REQUEST__BODY_FORWARD;
	req.forward = &fwd;
	for (i = 0; i < n && !flood_stop; i++) {
		req.id = 2 + i;
		len = ras__request__get_packed_size(&req);
		if (len + FRAME_HDR_LEN > sizeof buf)
			return;
		frame_put_header(buf, (uint32_t)len);
		ras__request__pack(&req, buf + FRAME_HDR_LEN);
		if (flood_write(fd, buf, FRAME_HDR_LEN + len, deadline,
		    sent) == -1)
			return;
	}
}

/* The UUID of VM number i of this process. */
static void
flood_uuid(uint8_t uuid[16], unsigned int i)
{
	memset(uuid, 0, 16);
	uuid[0] = 0xf1;
	uuid[2] = (uint8_t)(getpid() >> 8);
	uuid[3] = (uint8_t)getpid();
	uuid[6] = 0x40;
	uuid[8] = 0x80;
	uuid[12] = (uint8_t)(i >> 24);
	uuid[13] = (uint8_t)(i >> 16);
	uuid[14] = (uint8_t)(i >> 8);
	uuid[15] = (uint8_t)i;
}

/* Register VM number i on fd; 0 when rasd answered Registered. */
static int
flood_register(int fd, unsigned int i, int64_t deadline)
{
	Ras__Request req = RAS__REQUEST__INIT;
	Ras__Register reg = RAS__REGISTER__INIT;
	Ras__Source src = RAS__SOURCE__INIT, *srcp = &src;
	Ras__Slot slot = RAS__SLOT__INIT, *slotp = &slot;
	Ras__Response *resp;
	uint8_t uuid[16], buf[65536];
	char name[64];
	size_t len, sent = 0;
	ssize_t n;
	int rc;

	flood_uuid(uuid, i);
	snprintf(name, sizeof name, "flood-%d-%u", (int)getpid(), i);
	src.source_id = 0;
	src.notify = 6;		/* MCE */
	slot.gpa = 0;
	slot.hva = FLOOD_HVA;
	slot.size = 1ull << 30;
	reg.uuid.data = uuid;
	reg.uuid.len = sizeof uuid;
	reg.name = name;
	reg.arch = RAS_ARCH_X86_64;
	reg.n_declared = 1;
	reg.declared = &srcp;
	reg.n_slots = 1;
	reg.slots = &slotp;
	reg.caps = 1u << 6;
	reg.pid = (uint32_t)getpid();
	req.version = RAS_PROTO_VERSION;
	req.id = 1;
	req.body_case = RAS__REQUEST__BODY_REGISTER;
	req.register_ = &reg;
	len = ras__request__get_packed_size(&req);
	if (len + FRAME_HDR_LEN > sizeof buf)
		return -1;
	frame_put_header(buf, (uint32_t)len);
	ras__request__pack(&req, buf + FRAME_HDR_LEN);
	if (flood_write(fd, buf, FRAME_HDR_LEN + len, deadline, &sent) == -1)
		return -1;
	if ((n = flood_read_frame(fd, buf, sizeof buf, deadline)) == -1)
		return -1;
	if ((resp = ras__response__unpack(NULL, (size_t)n,
	    buf + FRAME_HDR_LEN)) == NULL)
		return -1;
	rc = resp->body_case == RAS__RESPONSE__BODY_REGISTERED ? 0 : -1;
	if (rc == -1 && resp->body_case == RAS__RESPONSE__BODY_ERROR &&
	    resp->error != NULL && resp->error->message != NULL)
		fprintf(stderr, "ras-flood: register %s: %s\n", name,
		    resp->error->message);
	ras__response__free_unpacked(resp, NULL);
	return rc;
}

/* Drop to uid (and the same gid), without supplementary groups. */
static void
flood_drop(long uid)
{
	if (setgroups(0, NULL) == -1 || setgid((gid_t)uid) == -1 ||
	    setuid((uid_t)uid) == -1) {
		perror("ras-flood: dropping privileges");
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' },
		{ "declare", required_argument, NULL, 'D' },
		{ "send", required_argument, NULL, 'S' },
		{ "uid", required_argument, NULL, 'u' },
		{ "connect-sec", required_argument, NULL, 'c' },
		{ "hold", required_argument, NULL, 'H' },
		{ "forwards", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL, *mode = "idle";
	unsigned long n = 1100, declare = 1u << 20, tosend = 1048000;
	unsigned long forwards = 20000;
	uint8_t uuid[16];
	long uid = -1;
	double connect_sec = 10, hold = 30;
	struct sockaddr_un sun;
	struct rlimit rl;
	struct pollfd *pfd;
	int64_t *closed_at, start, setup_end, deadline, first = -1, last = -1;
	unsigned long i, connected = 0, failed = 0, registered = 0, open;
	size_t sent = 0;
	uint8_t *body;
	int ch;

	while ((ch = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': path = optarg; break;
		case 'm': mode = optarg; break;
		case 'n': n = strtoul(optarg, NULL, 0); break;
		case 'D': declare = strtoul(optarg, NULL, 0); break;
		case 'S': tosend = strtoul(optarg, NULL, 0); break;
		case 'u': uid = strtol(optarg, NULL, 0); break;
		case 'c': connect_sec = strtod(optarg, NULL); break;
		case 'H': hold = strtod(optarg, NULL); break;
		case 'F': forwards = strtoul(optarg, NULL, 0); break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (path == NULL || strlen(path) >= sizeof sun.sun_path || n == 0 ||
	    (strcmp(mode, "idle") != 0 && strcmp(mode, "partial") != 0 &&
	    strcmp(mode, "register") != 0 && strcmp(mode, "noread") != 0 &&
	    strcmp(mode, "junk") != 0)) {
		fputs(usage_text, stderr);
		return 2;
	}
	/* Room for every connection, whatever the caller's soft limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 64) {
		rl.rlim_cur = rl.rlim_max < n + 64 ? rl.rlim_max : n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (uid >= 0)
		flood_drop(uid);
	signal(SIGTERM, flood_sig);
	signal(SIGINT, flood_sig);
	signal(SIGPIPE, SIG_IGN);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if ((pfd = calloc(n, sizeof *pfd)) == NULL ||
	    (closed_at = calloc(n, sizeof *closed_at)) == NULL ||
	    (body = calloc(1, FRAME_HDR_LEN + tosend)) == NULL) {
		perror("ras-flood");
		return 1;
	}
	frame_put_header(body, (uint32_t)declare);
	memset(body + FRAME_HDR_LEN, 0x0a, tosend);

	start = flood_now();
	deadline = start + (int64_t)(connect_sec * 1000);
	for (i = 0; i < n && !flood_stop; i++) {
		int fd = flood_connect(&sun, deadline);

		pfd[i].fd = fd;
		/* A non-reader only watches for the close. */
		pfd[i].events = strcmp(mode, "noread") == 0 ? POLLRDHUP :
		    POLLIN;
		if (fd == -1) {
			failed++;
			continue;
		}
		connected++;
		if (strcmp(mode, "register") == 0 ||
		    strcmp(mode, "noread") == 0) {
			if (flood_register(fd, (unsigned int)i,
			    flood_now() + 2000) == 0)
				registered++;
		}
		if (strcmp(mode, "noread") == 0) {
			flood_uuid(uuid, (unsigned int)i);
			flood_forwards(fd, uuid, forwards, flood_now() + 5000,
			    &sent);
			continue;
		}
		if (strcmp(mode, "junk") == 0) {
			static const uint8_t junk[] = { 0, 0, 0, 1, 0xff };
			unsigned long k;

			for (k = 0; k < forwards && !flood_stop; k++) {
				char drain[4096];

				if (flood_write(fd, junk, sizeof junk,
				    flood_now() + 2000, &sent) == -1)
					break;
				while (recv(fd, drain, sizeof drain,
				    MSG_DONTWAIT) > 0)
					;
			}
			continue;
		}
		/* A short bound each: rasd may stop reading, and must. */
		if (strcmp(mode, "idle") != 0)
			flood_write(fd, body, FRAME_HDR_LEN + tosend,
			    flood_now() + 200, &sent);
	}
	setup_end = flood_now();
	printf("setup connected=%lu failed=%lu registered=%lu sent=%zu "
	    "ms=%lld\n", connected, failed, registered, sent,
	    (long long)(setup_end - start));
	fflush(stdout);

	/* Watch: rasd's close shows as EOF or an error on read. */
	deadline = setup_end + (int64_t)(hold * 1000);
	for (;;) {
		int64_t now = flood_now();
		char buf[4096];
		int r;

		for (i = 0, open = 0; i < n; i++)
			if (pfd[i].fd != -1)
				open++;
		if (open == 0 || now >= deadline || flood_stop)
			break;
		r = poll(pfd, n, (int)(deadline - now < 200 ?
		    deadline - now : 200));
		if (r == -1 && errno != EINTR)
			break;
		for (i = 0; r > 0 && i < n; i++) {
			ssize_t got;

			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			if (pfd[i].events == POLLIN) {
				got = recv(pfd[i].fd, buf, sizeof buf,
				    MSG_DONTWAIT);
				if (got > 0 || (got == -1 && errno == EAGAIN))
					continue;
			}
			close(pfd[i].fd);
			pfd[i].fd = -1;
			closed_at[i] = flood_now() - setup_end;
			if (first == -1 || closed_at[i] < first)
				first = closed_at[i];
			if (closed_at[i] > last)
				last = closed_at[i];
		}
	}
	for (i = 0, open = 0; i < n; i++)
		if (pfd[i].fd != -1)
			open++;
	printf("done open=%lu closed=%lu first_close_ms=%lld "
	    "last_close_ms=%lld\n", open, connected - open, (long long)first,
	    (long long)last);
	fflush(stdout);
	return 0;
}
