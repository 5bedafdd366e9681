/*
 * rasc_wire.c -- frames on the rasd socket, for the client library.
 *
 * DESIGN: every function here may run in a SIGBUS handler. The socket is
 * non-blocking and each wait is a poll() bounded by an absolute deadline on
 * CLOCK_MONOTONIC, so no path can hang the VMM. Requests are packed into a
 * buffer the caller owns (protobuf_c_message_pack does not allocate) and
 * responses are unpacked into an arena on the caller's stack whose free()
 * does nothing: the arena is simply dropped. A frame is read with exactly
 * its own length so nothing is ever buffered between calls, and a response
 * that does not fit RASC_RX_MAX is a protocol error that closes the socket
 * rather than a reason to allocate.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "rasc_int.h"

/* Milliseconds on the monotonic clock (clock_gettime is signal-safe). */
int64_t
rasc_wire_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Time left before deadline, as a poll() timeout. */
static int
rasc_wire_left(int64_t deadline)
{
	int64_t	left = deadline - rasc_wire_now();

	if (left <= 0)
		return 0;
	if (left > 60000)
		return 60000;
	return (int)left;
}

/* Hand out 16-byte aligned pieces of the arena; NULL when it is used up. */
static void *
rasc_wire_arena_alloc(void *data, size_t size)
{
	struct rasc_arena	*a = data;
	size_t			 start;

	start = (a->used + 15) & ~(size_t)15;
	if (start > a->size || size > a->size - start)
		return NULL;
	a->used = start + size;
	return a->base + start;
}

/* Arena memory is released all at once by the caller dropping its buffer. */
static void
rasc_wire_arena_free(void *data, void *ptr)
{
}

/* Set up an arena over buf. */
void
rasc_wire_arena(struct rasc_arena *a, void *buf, size_t size)
{
	a->alloc.alloc = rasc_wire_arena_alloc;
	a->alloc.free = rasc_wire_arena_free;
	a->alloc.allocator_data = a;
	a->base = buf;
	a->size = size;
	a->used = 0;
}

/* Wait until fd is ready for events or the deadline passes. */
static int
rasc_wire_wait(int fd, short events, int64_t deadline)
{
	struct pollfd	pfd;
	int		n;

	for (;;) {
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, rasc_wire_left(deadline));
		if (n == 1)
			return 0;
		if (n == 0)
			return -1;
		if (errno != EINTR)
			return -1;
		if (rasc_wire_left(deadline) == 0)
			return -1;
	}
}

/*
 * Connect to rasd. Not called from handlers, but bounded all the same: a
 * listener whose backlog is full must not stall the VMM's start-up.
 */
int
rasc_wire_connect(const char *path, int64_t deadline)
{
	struct sockaddr_un	sun;
	socklen_t		len;
	int			fd, error;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR)
		goto fail;
	if (rasc_wire_wait(fd, POLLOUT, deadline) == -1) {
		errno = ETIMEDOUT;
		goto fail;
	}
	len = sizeof error;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == -1)
		goto fail;
	if (error != 0) {
		errno = error;
		goto fail;
	}
	return fd;

fail:
	error = errno;
	close(fd);
	errno = error;
	return -1;
}

/* Close the socket; the caller holds the socket lock. */
void
rasc_wire_disconnect(struct rasc *c)
{
	int	fd;

	fd = atomic_exchange(&c->fd, -1);
	atomic_store(&c->registered, 0);
	if (fd != -1)
		close(fd);
}

/* Write all of buf before the deadline. */
static int
rasc_wire_write(int fd, const uint8_t *buf, size_t len, int64_t deadline)
{
	ssize_t	n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (rasc_wire_wait(fd, POLLOUT, deadline) == -1)
				return -1;
			continue;
		}
		return -1;
	}
	return 0;
}

/* Read exactly len bytes before the deadline; end of file is a failure. */
static int
rasc_wire_read(int fd, uint8_t *buf, size_t len, int64_t deadline)
{
	ssize_t	n;

	while (len > 0) {
		n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return -1;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (rasc_wire_wait(fd, POLLIN, deadline) == -1)
				return -1;
			continue;
		}
		return -1;
	}
	return 0;
}

/* Read one frame into rx; its payload length goes to *len. */
static int
rasc_wire_recv(int fd, uint8_t *rx, size_t rxsize, size_t *len,
    int64_t deadline)
{
	uint32_t	msglen;

	if (rxsize < FRAME_HDR_LEN)
		return -1;
	if (rasc_wire_read(fd, rx, FRAME_HDR_LEN, deadline) == -1)
		return -1;
	/* With only the header read, a sane frame is still "short". */
	if (frame_check(rx, FRAME_HDR_LEN, &msglen) != FRAME_SHORT)
		return -1;
	if (msglen > rxsize)
		return -1;
	if (rasc_wire_read(fd, rx, msglen, deadline) == -1)
		return -1;
	*len = msglen;
	return 0;
}

/*
 * Unpack one Response into a fresh arena. Anything that arrives while a
 * call waits is for that call or a late Decision, so earlier unpacked
 * messages are no longer needed when the arena is reset.
 */
static Ras__Response *
rasc_wire_unpack(const uint8_t *rx, size_t len, struct rasc_arena *a)
{
	a->used = 0;
	return (Ras__Response *)protobuf_c_message_unpack(
	    &ras__response__descriptor, &a->alloc, len, rx);
}

/* Acknowledge the replay entry a Decision answers. */
static void
rasc_wire_note(struct rasc *c, const Ras__Response *resp)
{
	if (resp->body_case == RAS__RESPONSE__BODY_DECISION &&
	    resp->decision != NULL && resp->decision->has_seq)
		rasc_ring_ack(c, resp->decision->seq);
}

/*
 * Send req and wait for the Response carrying its id. A Decision for some
 * other forward read on the way still acknowledges that forward. Returns
 * the response, which lives in arena, or NULL on any failure or timeout;
 * the caller holds the socket lock and decides whether to disconnect.
 */
Ras__Response *
rasc_wire_call(struct rasc *c, Ras__Request *req, uint8_t *tx, size_t txsize,
    uint8_t *rx, size_t rxsize, struct rasc_arena *arena, int64_t deadline)
{
	Ras__Response	*resp;
	size_t		 len;
	int		 fd;

	if ((fd = atomic_load(&c->fd)) == -1)
		return NULL;
	req->version = RAS_PROTO_VERSION;
	req->id = atomic_fetch_add(&c->next_id, 1);

	len = protobuf_c_message_get_packed_size(&req->base);
	if (len > txsize - FRAME_HDR_LEN || len > FRAME_MAX)
		return NULL;
	frame_put_header(tx, (uint32_t)len);
	protobuf_c_message_pack(&req->base, tx + FRAME_HDR_LEN);
	if (rasc_wire_write(fd, tx, FRAME_HDR_LEN + len, deadline) == -1)
		return NULL;

	for (;;) {
		if (rasc_wire_recv(fd, rx, rxsize, &len, deadline) == -1)
			return NULL;
		if ((resp = rasc_wire_unpack(rx, len, arena)) == NULL)
			return NULL;
		rasc_wire_note(c, resp);
		if (resp->id == req->id)
			return resp;
	}
}

/*
 * Without waiting, read whatever rasd sent unasked (late Decisions) and
 * notice a closed socket. Returns -1 if the connection is gone.
 */
int
rasc_wire_drain(struct rasc *c)
{
	uint8_t			 rx[RASC_RX_MAX], mem[RASC_ARENA_SIZE];
	struct rasc_arena	 arena;
	struct pollfd		 pfd;
	Ras__Response		*resp;
	size_t			 len;
	int			 fd;

	if ((fd = atomic_load(&c->fd)) == -1)
		return -1;
	rasc_wire_arena(&arena, mem, sizeof mem);
	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == -1)
			return errno == EINTR ? 0 : -1;
		if ((pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0 &&
		    (pfd.revents & POLLIN) == 0)
			return -1;
		if ((pfd.revents & POLLIN) == 0)
			return 0;
		/* A frame that started arriving finishes within a moment. */
		if (rasc_wire_recv(fd, rx, sizeof rx, &len,
		    rasc_wire_now() + c->timeout_ms) == -1)
			return -1;
		if ((resp = rasc_wire_unpack(rx, len, &arena)) == NULL)
			return -1;
		rasc_wire_note(c, resp);
	}
}
