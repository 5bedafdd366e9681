/*
 * wire.c -- see wire.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "ras.h"
#include "wire.h"

/* Path of the rasd binary under test. */
static const char *
wire_bin(void)
{
	const char *b = getenv("RASD_BIN");

	return b != NULL ? b : "build/bin/rasd";
}

/* Spawn rasd on r's socket and state directory. */
static int
wire_spawn(struct wire_rasd *r, const char *const *extra)
{
	const char *argv[32];
	int n = 0, fd, i;

	argv[n++] = wire_bin();
	argv[n++] = "--foreground";
	argv[n++] = "--no-libvirt";
	argv[n++] = "--socket";
	argv[n++] = r->sock;
	argv[n++] = "--state-dir";
	argv[n++] = r->state;
	for (i = 0; extra != NULL && extra[i] != NULL && n < 30; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	if ((r->pid = fork()) == -1)
		return -1;
	if (r->pid == 0) {
		fd = open(r->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd != -1) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (i = 0; i < 500; i++) {
		if ((fd = wire_connect(r)) != -1) {
			close(fd);
			return 0;
		}
		if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
			r->pid = 0;
			return -1;
		}
		usleep(10000);
	}
	return -1;
}

/* Start rasd in a fresh private directory. */
int
wire_start(struct wire_rasd *r, const char *const *extra)
{
	memset(r, 0, sizeof *r);
	snprintf(r->dir, sizeof r->dir, "/tmp/rasd-wire-XXXXXX");
	if (mkdtemp(r->dir) == NULL)
		return -1;
	snprintf(r->sock, sizeof r->sock, "%s/rasd.sock", r->dir);
	snprintf(r->state, sizeof r->state, "%s/state", r->dir);
	snprintf(r->log, sizeof r->log, "%s/rasd.log", r->dir);
	signal(SIGPIPE, SIG_IGN);
	return wire_spawn(r, extra);
}

/* Stop rasd and start it again on the same state. */
int
wire_restart(struct wire_rasd *r, const char *const *extra)
{
	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		waitpid(r->pid, NULL, 0);
	}
	return wire_spawn(r, extra);
}

/* Stop rasd (SIGTERM) and remove its directory. */
int
wire_stop(struct wire_rasd *r)
{
	char cmd[512];
	int st = 0, rc = 0;

	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		waitpid(r->pid, &st, 0);
		r->pid = 0;
		rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	if (rc != 0 || wire_log_count(r, "Sanitizer") > 0 ||
	    wire_log_count(r, "runtime error:") > 0) {
		fprintf(stderr, "rasd exited with %d; log %s kept\n", rc,
		    r->log);
		if (rc == 0)
			rc = 1;
		return rc;
	}
	if (getenv("RAS_KEEP_TMP") == NULL && r->dir[0] != '\0') {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", r->dir);
	}
	return 0;
}

/* Connect to rasd's socket. */
int
wire_connect(const struct wire_rasd *r)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(r->sock) >= sizeof sun.sun_path)
		return -1;
	memcpy(sun.sun_path, r->sock, strlen(r->sock));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Write all of buf. */
int
wire_send_raw(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Frame and send one Request. */
int
wire_send(int fd, Ras__Request *req)
{
	size_t len = ras__request__get_packed_size(req);
	uint8_t *buf = malloc(FRAME_HDR_LEN + len);
	int rc;

	if (buf == NULL)
		return -1;
	frame_put_header(buf, (uint32_t)len);
	ras__request__pack(req, buf + FRAME_HDR_LEN);
	rc = wire_send_raw(fd, buf, FRAME_HDR_LEN + len);
	free(buf);
	return rc;
}

/* Read exactly len bytes within the deadline. */
static int
wire_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	while (len > 0) {
		if (poll(&pfd, 1, timeout_ms) != 1)
			return -1;
		n = read(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one framed Response. */
Ras__Response *
wire_recv(int fd, int timeout_ms)
{
	uint8_t hdr[FRAME_HDR_LEN], *buf;
	Ras__Response *resp;
	uint32_t len;

	if (wire_read_full(fd, hdr, sizeof hdr, timeout_ms) == -1)
		return NULL;
	if (frame_check(hdr, sizeof hdr, &len) != FRAME_OK &&
	    frame_check(hdr, sizeof hdr, &len) != FRAME_SHORT)
		return NULL;
	if ((buf = malloc(len)) == NULL)
		return NULL;
	if (wire_read_full(fd, buf, len, timeout_ms) == -1) {
		free(buf);
		return NULL;
	}
	resp = ras__response__unpack(NULL, len, buf);
	free(buf);
	return resp;
}

/* Whether the peer closed within timeout_ms (reads and drops data). */
int
wire_closed(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[4096];
	ssize_t n;

	for (;;) {
		if (poll(&pfd, 1, timeout_ms) != 1)
			return 0;
		n = read(fd, buf, sizeof buf);
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return 1;
		if (n == -1)
			return 0;
	}
}

/* Read a whole file into memory. */
uint8_t *
wire_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Fill a Register for this process with one memory slot. */
void
wire_register_init(Ras__Register *reg, Ras__Slot *slot, Ras__Slot **slotv,
    uint8_t uuid[16], const char *name, const uint8_t *hest,
    size_t hest_len, uint64_t hva, uint64_t size)
{
	ras__register__init(reg);
	ras__slot__init(slot);
	slot->gpa = 0x40000000;
	slot->hva = hva;
	slot->size = size;
	slotv[0] = slot;
	reg->uuid.data = uuid;
	reg->uuid.len = 16;
	reg->name = (char *)name;
	reg->arch = RAS_ARCH_ARM64;
	if (hest != NULL) {
		reg->has_hest = 1;
		reg->hest.data = (uint8_t *)hest;
		reg->hest.len = hest_len;
	}
	reg->n_slots = 1;
	reg->slots = slotv;
	reg->caps = 0xfff;
	reg->pid = (uint32_t)getpid();
}

/* Send and wait for the answer. */
Ras__Response *
wire_call(int fd, Ras__Request *req)
{
	static uint64_t next_id = 1;

	req->version = RAS_PROTO_VERSION;
	if (req->id == 0)
		req->id = next_id++;
	if (wire_send(fd, req) == -1)
		return NULL;
	return wire_recv(fd, 5000);
}

/* Count log lines containing needle. */
int
wire_log_count(const struct wire_rasd *r, const char *needle)
{
	char line[4096];
	FILE *f = fopen(r->log, "r");
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}
