/*
 * server.c -- the Unix listener, client connections and framing.
 *
 * DESIGN: every client is a bufferevent; a read callback cuts the input
 * into frames (4-byte big-endian length + one protobuf Request), answers
 * malformed ones with an error and only drops a connection whose framing
 * can no longer be trusted (oversized or empty length). Peer credentials
 * come from SO_PEERCRED / SO_PEERGROUPS at accept time and decide what a
 * client may do.
 *
 * Hostile or careless clients must not starve the VMMs, so every
 * connection is in one of three classes, each with its own bounds:
 *   - admin (root, rasd's own uid, the admin group): frames up to a state
 *     bundle; they may take the reserved_clients slots no one else may;
 *   - registered (bound to the VM it registered): frames up to FRAME_MAX,
 *     never timed out for being quiet (a VMM may wait months for an error);
 *   - unregistered (anyone else, and a VMM before it registers): small
 *     frames (unregistered_frame_max), max_unregistered of them in all and
 *     max_unregistered_per_uid per uid.
 * A connection without a VM is closed after idle_timeout without a request,
 * and any frame must be finished within frame_timeout of its first byte.
 * When a limit is reached, the oldest unregistered connection that has had
 * a grace second to register is closed to make room: idle connections,
 * however many, cannot keep a VMM that registers at once (or root) out.
 * A client that stops reading its answers is dropped at a high-water mark
 * that fits the largest answer it can be sent.
 *
 * File descriptors: at start-up the soft RLIMIT_NOFILE is raised as far as
 * max_clients needs (up to the hard limit), and max_clients is lowered,
 * with a warning, to what the limit allows, keeping a margin for the store,
 * libvirt and peer calls. If accept() still fails for want of descriptors,
 * unregistered connections are closed to free some; if there are none, a
 * spare descriptor is given up for a moment to accept and close the next
 * caller, and accepting pauses with a growing back-off. Such warnings are
 * rate-limited: a flood costs a few log lines, not millions.
 *
 * Memory: buffers are freed with their connection; glibc keeps freed heap
 * memory unless asked, so after large buffers go, the heap is trimmed (at
 * most once a second).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "fleet.h"
#include "evac.h"
#include "frame.h"
#include "metrics.h"
#include "rasd.h"

/* Unread answers before a drop: the largest answer the client can get. */
#define SERVER_HIGH_WATER_ADMIN (32u << 20)
#define SERVER_HIGH_WATER (FRAME_MAX + (64u << 10))
#define SERVER_FD_MARGIN 64	/* descriptors kept for all but clients */
#define SERVER_GRACE_MS 1000	/* to register before being evictable */
#define SERVER_LINGER_MS 2000	/* for a closing client to read its last */
#define SERVER_BACKOFF_MIN_MS 50	/* accept paused after a failure */
#define SERVER_BACKOFF_MAX_MS 1000
#define SERVER_EVICT_BATCH 8	/* connections freed per accept failure */
#define SERVER_TRIM_BYTES (4u << 20)	/* freed before the heap is trimmed */
#define SERVER_LOG_WINDOW_MS 10000	/* rate-limited warnings: at most */
#define SERVER_LOG_BURST 5		/* this many per window, per kind */

/* A warning that a flood could repeat: logged a few times per window. */
struct server_ratelimit {
	const char *what;	/* for the summary of what was left out */
	unsigned int burst;	/* per window; 0: SERVER_LOG_BURST */
	int64_t window;		/* ms: start of the current window */
	unsigned int logged;
	unsigned long dropped;
};

/* A listening socket, with its pause after accept failures. */
struct server_listener {
	struct evconnlistener *l;
	struct event *backoff;
	int delay_ms;
	int peer;		/* the peer listener (final syncs only) */
};

struct rasd_config *rasd_conf;

static struct event_base *server_base;
static struct server_listener server_main, server_peer;
static struct client *server_clients;
static unsigned int server_nclients;
static uint64_t server_next_id = 1;
static unsigned int server_max_clients;	/* max_clients, as the fds allow */
static unsigned int server_max_others;	/* of them, for non-admins */
static int server_spare_fd = -1;
static int server_activated;	/* the socket is systemd's: never unlink it */
static struct event *server_trim_ev;
static size_t server_trim_owed;
static int64_t server_trim_last;

static struct event *server_rl_ev;	/* says what was left out */
static struct server_ratelimit server_rl_refuse =
    { .what = "refused connections" };
static struct server_ratelimit server_rl_evict =
    { .what = "connections closed to make room" };
static struct server_ratelimit server_rl_accept =
    { .what = "accept failures" };
static struct server_ratelimit server_rl_timeout =
    { .what = "timed-out connections" };
static struct server_ratelimit server_rl_frame = { .what = "bad frames" };
/* Errors answered to unregistered clients: they say why a VMM could not
 * register, so more get through, but a client repeating them cannot flood
 * the log. */
static struct server_ratelimit server_rl_unreg =
    { .what = "errors answered to unregistered clients", .burst = 50 };
static struct server_ratelimit *const server_rls[] = {
	&server_rl_refuse, &server_rl_evict, &server_rl_accept,
	&server_rl_timeout, &server_rl_frame, &server_rl_unreg
};

static void server_client_arm(struct client *);
static void server_close_after_flush(struct client *);

/* Milliseconds on the monotonic clock. */
static int64_t
server_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Say how many warnings of a kind a closed window (or force) left out. */
static void
server_ratelimit_flush(struct server_ratelimit *rl, int64_t now, int force)
{
	if (rl->dropped == 0 ||
	    (!force && now - rl->window < SERVER_LOG_WINDOW_MS))
		return;
	log_warnx("%lu more %s not logged one by one", rl->dropped, rl->what);
	rl->dropped = 0;
}

/* A window closed: say what each kind left out. */
static void
server_ratelimit_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = server_now();
	size_t i;

	for (i = 0; i < sizeof server_rls / sizeof server_rls[0]; i++)
		server_ratelimit_flush(server_rls[i], now, 0);
}

/* Log a warning unless too many of its kind were logged lately. */
static void __attribute__((format(printf, 2, 3)))
server_ratelimit_warn(struct server_ratelimit *rl, const char *fmt, ...)
{
	int64_t now = server_now();
	unsigned int burst = rl->burst != 0 ? rl->burst : SERVER_LOG_BURST;
	char msg[1024];
	va_list ap;

	if (now - rl->window >= SERVER_LOG_WINDOW_MS) {
		server_ratelimit_flush(rl, now, 0);
		rl->window = now;
		rl->logged = 0;
	}
	if (rl->logged >= burst) {
		if (rl->dropped++ == 0 && server_rl_ev != NULL) {
			int64_t wait = rl->window + SERVER_LOG_WINDOW_MS - now;
			struct timeval tv = { wait / 1000,
			    (wait % 1000) * 1000 };

			evtimer_add(server_rl_ev, &tv);
		}
		return;
	}
	rl->logged++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_warnx("%s%s", msg, rl->logged == burst ?
	    " (more like this are counted, not logged)" : "");
}

/* Whether the peer may use the operator commands. */
static int
server_peer_admin(int fd, uid_t uid, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof groups;
	size_t i;

	if (uid == 0 || uid == geteuid())
		return 1;
	if (!rasd_conf->has_admin_group)
		return 0;
	if (gid == rasd_conf->admin_gid)
		return 1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1)
		return 0;
	for (i = 0; i < len / sizeof groups[0]; i++)
		if (groups[i] == rasd_conf->admin_gid)
			return 1;
	return 0;
}

/* Whether a client is in the unregistered class (see DESIGN). */
static int
server_unregistered(const struct client *c)
{
	return !c->admin && c->vm == NULL && !c->closing;
}

/* Give freed heap memory back to the system. */
static void
server_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	server_trim_owed = 0;
	server_trim_last = server_now();
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* Note bytes of buffers freed; trim the heap soon when they add up. */
static void
server_trim_note(size_t bytes)
{
	struct timeval tv = { 0, 0 };
	int64_t wait;

	server_trim_owed += bytes;
	if (server_trim_owed < SERVER_TRIM_BYTES || server_trim_ev == NULL ||
	    evtimer_pending(server_trim_ev, NULL))
		return;
	/* At most once a second: a flood of closes trims once. */
	wait = server_trim_last + 1000 - server_now();
	if (wait < 100)
		wait = 100;
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	evtimer_add(server_trim_ev, &tv);
}

/* Free a client; the VM it was bound to becomes disconnected. */
void
server_client_free(struct client *c)
{
	size_t buffered;

	if (c->vm != NULL && c->vm->client == c) {
		vmm_detach(c->vm, c);
	}
	batch_forget_client(c);
	peer_forget_client(c);
	fleet_forget_client(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		server_clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	server_nclients--;
	metrics_client(-1);
	buffered = evbuffer_get_length(bufferevent_get_input(c->bev)) +
	    evbuffer_get_length(bufferevent_get_output(c->bev));
	event_free(c->timer);
	bufferevent_free(c->bev);
	free(c);
	if (buffered > 0)
		server_trim_note(buffered);
}

/* The frame limit of a client's answers: operators may move bundles. */
static uint32_t
server_frame_max(const struct client *c)
{
	return c->admin ? FRAME_MAX_ADMIN : FRAME_MAX;
}

/* The frame limit of what a client may send, by its class. */
static uint32_t
server_frame_max_in(const struct client *c)
{
	if (c->admin)
		return FRAME_MAX_ADMIN;
	if (c->vm != NULL)
		return FRAME_MAX;
	return rasd_conf->unregistered_frame_max < FRAME_MAX ?
	    rasd_conf->unregistered_frame_max : FRAME_MAX;
}

/* Queue a response frame to a client; -1 if it could not be sent. */
int
server_send(struct client *c, Ras__Response *resp)
{
	size_t len = ras__response__get_packed_size(resp);
	struct evbuffer *out;
	uint8_t hdr[FRAME_HDR_LEN];
	struct evbuffer_iovec v;

	if (c->closing)
		return -1;
	if (len > server_frame_max(c)) {
		server_error(c, resp->id, RAS__ERROR_CODE__ERR_INVALID,
		    "answer too large (%zu bytes, limit %u)", len,
		    server_frame_max(c));
		return -1;
	}
	out = bufferevent_get_output(c->bev);
	frame_put_header(hdr, (uint32_t)len);
	evbuffer_add(out, hdr, sizeof hdr);
	if (evbuffer_reserve_space(out, len, &v, 1) != 1)
		fatalx("evbuffer_reserve_space");
	ras__response__pack(resp, v.iov_base);
	v.iov_len = len;
	evbuffer_commit_space(out, &v, 1);
	return 0;
}

/* Answer with an error; log why, through rl when a flood could repeat it. */
static void
server_verror(struct client *c, uint64_t id, int code,
    struct server_ratelimit *rl, const char *fmt, va_list ap)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__Error err = RAS__ERROR__INIT;
	char msg[1024];

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (rl == NULL && server_unregistered(c))
		rl = &server_rl_unreg;
	if (rl != NULL)
		server_ratelimit_warn(rl, "client %llu (pid %d, uid %d%s%s): "
		    "%s", (unsigned long long)c->id, (int)c->pid, (int)c->uid,
		    c->vm != NULL ? ", vm " : "",
		    c->vm != NULL ? c->vm->name : "", msg);
	else
		log_warnx("client %llu (pid %d, uid %d%s%s): %s",
		    (unsigned long long)c->id, (int)c->pid, (int)c->uid,
		    c->vm != NULL ? ", vm " : "",
		    c->vm != NULL ? c->vm->name : "", msg);
	metrics_error(code);
	err.code = code;
	err.message = msg;
	resp.id = id;
	resp.body_case = RAS__RESPONSE__BODY_ERROR;
	resp.error = &err;
	server_send(c, &resp);
}

/* Answer with an error, and log why. */
void
server_error(struct client *c, uint64_t id, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	server_verror(c, id, code, NULL, fmt, ap);
	va_end(ap);
}

/* Answer with an error and close; the warning is rate-limited by rl. */
static void __attribute__((format(printf, 3, 4)))
server_error_close(struct client *c, struct server_ratelimit *rl,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	server_verror(c, 0, RAS__ERROR_CODE__ERR_PROTOCOL, rl, fmt, ap);
	va_end(ap);
	server_close_after_flush(c);
}

/* Answer with a plain acknowledgement. */
void
server_ack(struct client *c, uint64_t id)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__Ack ack = RAS__ACK__INIT;

	resp.id = id;
	resp.body_case = RAS__RESPONSE__BODY_ACK;
	resp.ack = &ack;
	server_send(c, &resp);
}

/*
 * Drop a client once its last answer has been written, or after a short
 * linger if it does not read it.
 */
static void
server_close_after_flush(struct client *c)
{
	c->closing = 1;
	c->closing_since = server_now();
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		server_client_free(c);
	else
		server_client_arm(c);
}

/* Route one decoded request to its handler. */
static void
server_dispatch(struct client *c, Ras__Request *req)
{
	if (req->version != RAS_PROTO_VERSION) {
		server_error(c, req->id, RAS__ERROR_CODE__ERR_VERSION,
		    "protocol version %u not spoken (this rasd speaks %u)",
		    req->version, RAS_PROTO_VERSION);
		return;
	}
	/* The peer listener serves other rasd's final syncs, nothing else. */
	if (c->peer != (req->body_case == RAS__REQUEST__BODY_FINAL_SYNC)) {
		server_error(c, req->id, RAS__ERROR_CODE__ERR_DENIED,
		    "denied: %s", c->peer ? "the peer socket only answers "
		    "final syncs" : "final syncs go to the peer socket");
		return;
	}
	if (c->peer) {
		peer_final_sync(c, req->id, req->final_sync);
		return;
	}
	switch (req->body_case) {
	case RAS__REQUEST__BODY_REGISTER:
		vmm_register(c, req->id, req->register_);
		break;
	case RAS__REQUEST__BODY_FORWARD:
		vmm_forward(c, req->id, req->forward);
		break;
	case RAS__REQUEST__BODY_RESET:
		vmm_reset(c, req->id, req->reset->uuid);
		break;
	case RAS__REQUEST__BODY_UNREGISTER:
		vmm_unregister(c, req->id, req->unregister->uuid);
		break;
	case RAS__REQUEST__BODY_SET_SLOTS:
		vmm_set_slots(c, req->id, req->set_slots);
		break;
	case RAS__REQUEST__BODY_AWAIT_FINAL:
		if (!vmm_released(c, req->id, req->await_final))
			peer_await_final(c, req->id, req->await_final);
		break;
	case RAS__REQUEST__BODY_VMM_STATUS:
		vmm_status(c, req->id, req->vmm_status);
		break;
	case RAS__REQUEST__BODY_REARM_CHECK:
		vmm_rearm_check(c, req->id, req->rearm_check);
		break;
	case RAS__REQUEST__BODY_RELEASE_GATE:
		if (!c->admin) {
			server_error(c, req->id, RAS__ERROR_CODE__ERR_DENIED,
			    "denied: operator commands need root or the "
			    "admin group");
			return;
		}
		vmm_release(c, req->id, req->release_gate);
		break;
	case RAS__REQUEST__BODY_ACTIVE_QUERY:
		vmm_active_query(c, req->id, req->active_query);
		break;
	case RAS__REQUEST__BODY_HEALTH:
	case RAS__REQUEST__BODY_SET_HEALTH:
	case RAS__REQUEST__BODY_LIST_VMS:
	case RAS__REQUEST__BODY_SHOW_VM:
	case RAS__REQUEST__BODY_LIST_POISON:
	case RAS__REQUEST__BODY_HISTORY:
	case RAS__REQUEST__BODY_EVENTS:
	case RAS__REQUEST__BODY_MARK_STOPPED:
	case RAS__REQUEST__BODY_EXPORT_VM:
	case RAS__REQUEST__BODY_IMPORT_BUNDLE:
		if (!c->admin) {
			server_error(c, req->id, RAS__ERROR_CODE__ERR_DENIED,
			    "denied: operator commands need root or the "
			    "admin group");
			return;
		}
		control_dispatch(c, req);
		break;
	case RAS__REQUEST__BODY_FLEET_HOSTS:
		if (!c->admin) {
			server_error(c, req->id, RAS__ERROR_CODE__ERR_DENIED,
			    "denied: operator commands need root or the "
			    "admin group");
			return;
		}
		fleet_query_hosts(c, req->id);
		break;
	case RAS__REQUEST__BODY_EVACUATE:
	case RAS__REQUEST__BODY_FLEET_STATUS:
		if (!c->admin) {
			server_error(c, req->id, RAS__ERROR_CODE__ERR_DENIED,
			    "denied: operator commands need root or the "
			    "admin group");
			return;
		}
		if (req->body_case == RAS__REQUEST__BODY_EVACUATE)
			evac_request(c, req->id, req->evacuate);
		else
			evac_status(c, req->id, req->fleet_status);
		break;
	default:
		server_error(c, req->id, RAS__ERROR_CODE__ERR_PROTOCOL,
		    "request without a known body (case %d)",
		    (int)req->body_case);
		break;
	}
}

/*
 * Cut the input into frames and handle each. Afterwards the client's input
 * bound follows its class (it may just have registered), and an unfinished
 * frame starts its clock.
 */
static void
server_read_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[FRAME_HDR_LEN];
	Ras__Request *req;
	uint32_t len, max;
	uint8_t *p;
	int done = 0;

	while (!c->closing) {
		size_t avail = evbuffer_get_length(in);
		enum frame_status fs;

		if (avail < FRAME_HDR_LEN)
			break;
		evbuffer_copyout(in, hdr, sizeof hdr);
		max = server_frame_max_in(c);
		fs = frame_check_max(hdr, sizeof hdr, &len, max);
		if (fs == FRAME_TOO_BIG || fs == FRAME_EMPTY) {
			server_error_close(c, server_unregistered(c) ?
			    &server_rl_frame : NULL, "bad frame: declared "
			    "length %u (must be 1..%u%s); closing connection",
			    len, max, server_unregistered(c) ?
			    " before registering" : "");
			return;
		}
		if (avail < FRAME_HDR_LEN + (size_t)len)
			break;
		p = evbuffer_pullup(in, FRAME_HDR_LEN + (ssize_t)len);
		req = ras__request__unpack(NULL, len, p + FRAME_HDR_LEN);
		evbuffer_drain(in, FRAME_HDR_LEN + (size_t)len);
		if (len >= (64u << 10))
			server_trim_note(len);
		done = 1;
		c->active = server_now();
		if (req == NULL) {
			server_error(c, 0, RAS__ERROR_CODE__ERR_PROTOCOL,
			    "malformed message (%u bytes) is not a Request",
			    len);
			continue;
		}
		server_dispatch(c, req);
		ras__request__free_unpacked(req, NULL);
		if (server_check_backlog(c))
			return;
	}
	if (c->closing)
		return;
	if (evbuffer_get_length(in) == 0)
		c->frame_start = 0;
	else if (done || c->frame_start == 0)
		c->frame_start = server_now();
	bufferevent_setwatermark(bev, EV_READ, 0,
	    server_frame_max_in(c) + FRAME_HDR_LEN);
	server_client_arm(c);
}

/* Output drained: the client reads its answers; finish a pending close. */
static void
server_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (c->closing) {
		server_client_free(c);
		return;
	}
	c->active = server_now();
	server_client_arm(c);
}

/* EOF or error on a client. */
static void
server_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	if (what & BEV_EVENT_ERROR)
		log_debug("client %llu (pid %d): %s", (unsigned long long)c->id,
		    (int)c->pid, strerror(EVUTIL_SOCKET_ERROR()));
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		server_client_free(c);
}

/* The next deadline of a client (ms), or 0 if it has none. */
static int64_t
server_client_deadline(const struct client *c)
{
	int64_t d = 0, t;

	if (c->closing)
		return c->closing_since + SERVER_LINGER_MS;
	if (c->frame_start != 0 && rasd_conf->frame_timeout > 0)
		d = c->frame_start + rasd_conf->frame_timeout * 1000LL;
	if (rasd_conf->idle_timeout > 0) {
		/*
		 * A registered VMM is never idle, but may stop being
		 * registered (another module detaches it): look again later.
		 */
		t = c->active + rasd_conf->idle_timeout * 1000LL;
		if (d == 0 || t < d)
			d = t;
	}
	return d;
}

/* Arm the client's timer for its next deadline. */
static void
server_client_arm(struct client *c)
{
	int64_t d = server_client_deadline(c), wait;
	struct timeval tv;

	if (d == 0) {
		evtimer_del(c->timer);
		return;
	}
	wait = d - server_now();
	if (wait < 0)
		wait = 0;
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

/* A client's deadline passed: close it if it is really due. */
static void
server_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	int64_t now = server_now();
	size_t have;
	uint8_t hdr[FRAME_HDR_LEN];
	uint32_t len = 0;

	if (c->closing) {
		if (now >= c->closing_since + SERVER_LINGER_MS) {
			server_ratelimit_warn(&server_rl_timeout, "client %llu "
			    "(pid %d, uid %d): does not read its last answer; "
			    "dropping it", (unsigned long long)c->id,
			    (int)c->pid, (int)c->uid);
			server_client_free(c);
		} else
			server_client_arm(c);
		return;
	}
	if (c->frame_start != 0 && rasd_conf->frame_timeout > 0 &&
	    now >= c->frame_start + rasd_conf->frame_timeout * 1000LL) {
		struct evbuffer *in = bufferevent_get_input(c->bev);

		have = evbuffer_get_length(in);
		if (have >= FRAME_HDR_LEN) {
			evbuffer_copyout(in, hdr, sizeof hdr);
			frame_check_max(hdr, sizeof hdr, &len, FRAME_MAX_ADMIN);
		}
		server_error_close(c, &server_rl_timeout, "incomplete frame "
		    "after %u s (%zu of %u bytes); closing connection",
		    rasd_conf->frame_timeout, have > FRAME_HDR_LEN ?
		    have - FRAME_HDR_LEN : 0, len);
		return;
	}
	if (c->vm == NULL && rasd_conf->idle_timeout > 0 &&
	    now >= c->active + rasd_conf->idle_timeout * 1000LL) {
		server_error_close(c, &server_rl_timeout, "idle for %u s "
		    "without %s; closing connection", rasd_conf->idle_timeout,
		    c->admin ? "a request" : "registering a VM");
		return;
	}
	if (c->vm != NULL)
		c->active = now;	/* registered: the idle clock waits */
	server_client_arm(c);
}

/*
 * The oldest connection that may be closed to make room: unregistered,
 * past its grace second; for an admin newcomer, also another connection
 * without a VM. With uid_only, only that uid's.
 */
static struct client *
server_victim(int for_admin, int uid_only, uid_t uid, int64_t now)
{
	struct client *c, *best = NULL;
	int best_admin = 0;

	for (c = server_clients; c != NULL; c = c->next) {
		if (c->closing || c->vm != NULL || c->peer ||
		    now - c->since < SERVER_GRACE_MS)
			continue;
		if (c->admin && !for_admin)
			continue;
		if (uid_only && (c->admin || c->uid != uid))
			continue;
		/* Unregistered first, then the oldest. */
		if (best == NULL || (best_admin && !c->admin) ||
		    (best_admin == c->admin && c->since < best->since)) {
			best = c;
			best_admin = c->admin;
		}
	}
	return best;
}

/* Close a connection to make room for another. */
static void
server_evict(struct client *c, const char *why)
{
	server_ratelimit_warn(&server_rl_evict, "client %llu (pid %d, uid %d): "
	    "%s for %lld ms; closing it: %s", (unsigned long long)c->id,
	    (int)c->pid, (int)c->uid, c->admin ? "without a request" :
	    "unregistered", (long long)(server_now() - c->active), why);
	server_client_free(c);
}

/*
 * Make room for a newcomer of uid; 0 if it may stay, -1 (why says) if not.
 * Limits are counted now rather than kept, because a connection's class
 * changes in other modules (registering, being detached).
 */
static int
server_admit(uid_t uid, int admin, char *why, size_t whylen)
{
	unsigned int total, others, unreg, unreg_uid;
	struct client *c, *v;
	int64_t now = server_now();
	int uid_full, full, tries;

	for (tries = 0; tries < SERVER_EVICT_BATCH; tries++) {
		total = others = unreg = unreg_uid = 0;
		for (c = server_clients; c != NULL; c = c->next) {
			if (c->closing || c->peer)	/* peer.c's class */
				continue;
			total++;
			if (c->admin)
				continue;
			others++;
			if (c->vm != NULL)
				continue;
			unreg++;
			if (c->uid == uid)
				unreg_uid++;
		}
		if (admin) {
			uid_full = 0;
			full = total >= server_max_clients;
		} else {
			uid_full = unreg_uid >=
			    rasd_conf->max_unregistered_per_uid;
			full = uid_full || total >= server_max_clients ||
			    others >= server_max_others ||
			    unreg >= rasd_conf->max_unregistered;
		}
		if (!full)
			return 0;
		if (uid_full)
			snprintf(why, whylen, "uid %d has %u unregistered "
			    "connections (max_unregistered_per_uid)", (int)uid,
			    unreg_uid);
		else if (!admin && unreg >= rasd_conf->max_unregistered)
			snprintf(why, whylen, "%u unregistered connections "
			    "(max_unregistered)", unreg);
		else
			snprintf(why, whylen, "%u clients (max_clients %u, "
			    "%u of them reserved for root and admins)",
			    total, server_max_clients,
			    server_max_clients - server_max_others);
		v = server_victim(admin, uid_full, uid, now);
		if (v == NULL)
			return -1;
		server_evict(v, why);
	}
	return 0;
}

/* Accept a client, note its credentials and admit it if there is room. */
static void
server_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server_listener *sl = arg;
	struct ucred cred;
	socklen_t len = sizeof cred;
	struct client *c;
	int peer = sl->peer, unix_peer = sa->sa_family == AF_UNIX, admin;
	char why[256];

	sl->delay_ms = 0;
	if (!unix_peer) {
		/* A TCP peer: no credentials, the fleet key speaks. */
		cred.pid = 0;
		cred.uid = (uid_t)-1;
		cred.gid = (gid_t)-1;
	} else if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ==
	    -1) {
		server_ratelimit_warn(&server_rl_accept, "accept: SO_PEERCRED: "
		    "%s", strerror(errno));
		close(fd);
		return;
	}
	admin = !peer && server_peer_admin(fd, cred.uid, cred.gid);
	if (peer ? peer_admit(sa, why, sizeof why) == -1 :
	    server_admit(cred.uid, admin, why, sizeof why) == -1) {
		server_ratelimit_warn(&server_rl_refuse, "accept: refusing pid "
		    "%d uid %d: %s", (int)cred.pid, (int)cred.uid, why);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->id = server_next_id++;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->peer = peer;
	c->unix_peer = unix_peer;
	c->admin = admin;
	c->since = c->active = server_now();
	c->bev = bufferevent_socket_new(server_base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatalx("bufferevent_socket_new");
	if ((c->timer = evtimer_new(server_base, server_timer_cb, c)) == NULL)
		fatalx("evtimer_new");
	bufferevent_setcb(c->bev, server_read_cb, server_write_cb,
	    server_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0,
	    server_frame_max_in(c) + FRAME_HDR_LEN);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->next = server_clients;
	if (server_clients != NULL)
		server_clients->prev = c;
	server_clients = c;
	server_nclients++;
	if (peer)
		peer_conn_add(c, sa);
	metrics_client(1);
	server_client_arm(c);
	log_debug("client %llu: pid %d uid %d%s", (unsigned long long)c->id,
	    (int)c->pid, (int)c->uid, c->admin ? " (admin)" : "");
}

/* The pause after an accept failure is over: accept again. */
static void
server_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server_listener *sl = arg;

	evconnlistener_enable(sl->l);
}

/*
 * Turn away the next caller when no descriptor is left for it: give up the
 * spare one for a moment, so the caller hears "closed" instead of waiting.
 */
static void
server_refuse_spare(struct evconnlistener *l)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	int fd;

	if (server_spare_fd == -1)
		return;
	close(server_spare_fd);
	server_spare_fd = -1;
	fd = accept4(evconnlistener_get_fd(l), NULL, NULL, SOCK_CLOEXEC);
	if (fd != -1) {
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
			cred.pid = 0, cred.uid = (uid_t)-1;
		server_ratelimit_warn(&server_rl_refuse, "accept: refusing pid "
		    "%d uid %d: out of file descriptors", (int)cred.pid,
		    (int)cred.uid);
		close(fd);
	}
	server_spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/*
 * accept() failed. Out of descriptors, close unregistered connections to
 * free some and go on; with none to close, turn one caller away and pause.
 * Other errors pause too: a listener that keeps failing must not spin.
 */
static void
server_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct server_listener *sl = arg;
	int err = EVUTIL_SOCKET_ERROR(), i, freed = 0;
	int64_t now = server_now();
	struct client *v;
	struct timeval tv;

	if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM) {
		for (i = 0; i < SERVER_EVICT_BATCH; i++) {
			if ((v = server_victim(0, 0, 0, now)) == NULL)
				break;
			server_evict(v, "out of file descriptors");
			freed++;
		}
	}
	server_ratelimit_warn(&server_rl_accept, "accept: %s (%u clients)%s",
	    strerror(err), server_nclients, freed > 0 ? "; closed "
	    "unregistered connections to make room" : "; pausing");
	if (freed > 0)
		return;
	if (err == EMFILE || err == ENFILE)
		server_refuse_spare(l);
	sl->delay_ms = sl->delay_ms == 0 ? SERVER_BACKOFF_MIN_MS :
	    sl->delay_ms * 2;
	if (sl->delay_ms > SERVER_BACKOFF_MAX_MS)
		sl->delay_ms = SERVER_BACKOFF_MAX_MS;
	evconnlistener_disable(l);
	tv.tv_sec = sl->delay_ms / 1000;
	tv.tv_usec = (sl->delay_ms % 1000) * 1000;
	evtimer_add(sl->backoff, &tv);
}

/* Set up a listener's callbacks and back-off timer. */
static void
server_listener_init(struct server_listener *sl, int peer)
{
	sl->peer = peer;
	sl->delay_ms = 0;
	evconnlistener_set_error_cb(sl->l, server_accept_error_cb);
	if ((sl->backoff = evtimer_new(server_base, server_backoff_cb,
	    sl)) == NULL)
		fatalx("evtimer_new");
}

/* Free a listener. */
static void
server_listener_free(struct server_listener *sl)
{
	if (sl->backoff != NULL)
		event_free(sl->backoff);
	if (sl->l != NULL)
		evconnlistener_free(sl->l);
	sl->backoff = NULL;
	sl->l = NULL;
}

/*
 * Fit max_clients to RLIMIT_NOFILE: raise the soft limit as far as needed
 * (up to the hard one), else serve fewer clients and say so. Then set
 * aside the reserved slots and the spare descriptor.
 */
static void
server_limits(void)
{
	unsigned long long want, have;
	unsigned int reserve, peers;
	struct rlimit rl;

	server_max_clients = rasd_conf->max_clients;
	/* Peer connections have their own budget (peer.c), if listened for. */
	peers = rasd_conf->peer_listen[0] != '\0' ?
	    rasd_conf->peer_max_conns : 0;
	want = (unsigned long long)server_max_clients + SERVER_FD_MARGIN +
	    peers;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur !=
	    RLIM_INFINITY && rl.rlim_cur < want) {
		struct rlimit nrl = rl;

		nrl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > want ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &nrl) == 0)
			rl = nrl;
		else
			log_warn("setrlimit RLIMIT_NOFILE %llu",
			    (unsigned long long)nrl.rlim_cur);
		have = rl.rlim_cur;
		if (have < want) {
			server_max_clients = have > 2 * SERVER_FD_MARGIN +
			    peers ? (unsigned int)(have - SERVER_FD_MARGIN -
			    peers) : (unsigned int)(have / 2);
			if (server_max_clients == 0)
				server_max_clients = 1;
			log_warnx("max_clients %u needs %llu file descriptors "
			    "but RLIMIT_NOFILE allows %llu: serving at most %u "
			    "clients (raise LimitNOFILE or lower max_clients)",
			    rasd_conf->max_clients, want, have,
			    server_max_clients);
		}
	}
	/* Reserved slots never take more than half. */
	reserve = rasd_conf->reserved_clients;
	if (reserve > server_max_clients / 2)
		reserve = server_max_clients / 2;
	server_max_others = server_max_clients - reserve;
	if (server_spare_fd == -1)
		server_spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (server_trim_ev == NULL &&
	    (server_trim_ev = evtimer_new(server_base, server_trim_cb,
	    NULL)) == NULL)
		fatalx("evtimer_new");
	if (server_rl_ev == NULL &&
	    (server_rl_ev = evtimer_new(server_base, server_ratelimit_cb,
	    NULL)) == NULL)
		fatalx("evtimer_new");
#ifdef __GLIBC__
	/*
	 * Large buffers (a whole frame pulled up) come from mmap and go
	 * back on free, instead of raising glibc's threshold for good.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 << 10);
#endif
	log_info("limits: %u clients (%u reserved for root and admins), %u "
	    "unregistered (%u per uid, frames up to %u bytes), idle_timeout "
	    "%u s, frame_timeout %u s", server_max_clients,
	    server_max_clients - server_max_others,
	    rasd_conf->max_unregistered, rasd_conf->max_unregistered_per_uid,
	    rasd_conf->unregistered_frame_max < FRAME_MAX ?
	    rasd_conf->unregistered_frame_max : FRAME_MAX,
	    rasd_conf->idle_timeout, rasd_conf->frame_timeout);
}

/* Drop a client that does not read what it asked for; 1 if dropped. */
int
server_check_backlog(struct client *c)
{
	uint32_t high = c->admin ? SERVER_HIGH_WATER_ADMIN :
	    SERVER_HIGH_WATER;

	if (evbuffer_get_length(bufferevent_get_output(c->bev)) <= high)
		return 0;
	log_warnx("client %llu (pid %d): over %u bytes of unread answers; "
	    "dropping it", (unsigned long long)c->id, (int)c->pid, high);
	server_client_free(c);
	return 1;
}

/* Create the listening socket (or take systemd's) and start accepting. */
int
server_start(struct event_base *base, const struct rasd_config *conf)
{
	struct sockaddr_un sun;
	int fd = -1;
	mode_t old;

	server_base = base;
	server_limits();
	if (listen_activation_fd(conf->socket_path, &fd) == -1)
		return -1;
	if (fd != -1) {
		server_main.l = evconnlistener_new(base, server_accept_cb,
		    &server_main, LEV_OPT_CLOSE_ON_FREE, 0, fd);
		if (server_main.l == NULL) {
			log_warnx("evconnlistener_new failed");
			return -1;
		}
		server_activated = 1;
		server_listener_init(&server_main, 0);
		return 0;
	}
	if (strlen(conf->socket_path) >= sizeof sun.sun_path) {
		log_warnx("socket path %s is too long (max %zu)",
		    conf->socket_path, sizeof sun.sun_path - 1);
		return -1;
	}
	if (listen_mkdir_parent(conf->socket_path) == -1 ||
	    listen_clear_stale(conf->socket_path) == -1)
		return -1;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, conf->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		log_warn("socket");
		return -1;
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		umask(old);
		log_warn("bind %s", conf->socket_path);
		goto fail;
	}
	umask(old);
	if (conf->has_socket_group && chown(conf->socket_path, (uid_t)-1,
	    conf->socket_gid) == -1) {
		log_warn("chown %s", conf->socket_path);
		goto fail;
	}
	if (chmod(conf->socket_path, conf->socket_mode) == -1) {
		log_warn("chmod %s", conf->socket_path);
		goto fail;
	}
	server_main.l = evconnlistener_new(base, server_accept_cb,
	    &server_main, LEV_OPT_CLOSE_ON_FREE, 128, fd);
	if (server_main.l == NULL) {
		log_warnx("evconnlistener_new failed");
		goto fail;
	}
	server_listener_init(&server_main, 0);
	log_info("listening on %s (mode %04o)", conf->socket_path,
	    conf->socket_mode);
	return 0;
fail:
	close(fd);
	unlink(conf->socket_path);
	return -1;
}

/*
 * Listen for other rasd's final syncs on a Unix path or a TCP host:port.
 * The peer socket answers nothing else.
 */
int
server_start_peer(struct event_base *base, const struct rasd_config *conf)
{
	const char *l = conf->peer_listen;
	struct sockaddr_storage ss;
	struct sockaddr_un sun;
	int sslen = sizeof ss, fd;
	mode_t old;

	if (*l == '\0')
		return 0;
	if (*l == '/') {
		if (strlen(l) >= sizeof sun.sun_path ||
		    listen_clear_stale(l) == -1)
			return -1;
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, l, strlen(l));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
		if (fd == -1)
			return -1;
		old = umask(0177);
		if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
			umask(old);
			log_warn("bind %s", l);
			close(fd);
			return -1;
		}
		umask(old);
		server_peer.l = evconnlistener_new(base, server_accept_cb,
		    &server_peer, LEV_OPT_CLOSE_ON_FREE, 16, fd);
	} else {
		if (evutil_parse_sockaddr_port(l, (struct sockaddr *)&ss,
		    &sslen) == -1) {
			log_warnx("peer_listen: bad address %s", l);
			return -1;
		}
		server_peer.l = evconnlistener_new_bind(base, server_accept_cb,
		    &server_peer, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
		    (struct sockaddr *)&ss, sslen);
	}
	if (server_peer.l == NULL) {
		log_warn("peer listener %s", l);
		return -1;
	}
	server_listener_init(&server_peer, 1);
	log_info("peer listener on %s (final syncs; %s)", l,
	    conf->peer_tls == PEER_TLS_ON ? "mutual TLS, client certificate "
	    "required" : conf->fleet_key[0] ? "INSECURE, fleet key required" :
	    "INSECURE, no fleet key: root over the Unix socket only");
	return 0;
}

/* Stop listening, drop every client, remove the socket. */
void
server_stop(void)
{
	size_t i;

	if (server_peer.l != NULL) {
		server_listener_free(&server_peer);
		if (rasd_conf->peer_listen[0] == '/')
			unlink(rasd_conf->peer_listen);
	}
	if (server_main.l != NULL) {
		server_listener_free(&server_main);
		if (!server_activated)
			unlink(rasd_conf->socket_path);
	}
	while (server_clients != NULL)
		server_client_free(server_clients);
	if (server_trim_ev != NULL) {
		event_free(server_trim_ev);
		server_trim_ev = NULL;
	}
	if (server_rl_ev != NULL) {
		event_free(server_rl_ev);
		server_rl_ev = NULL;
	}
	for (i = 0; i < sizeof server_rls / sizeof server_rls[0]; i++)
		server_ratelimit_flush(server_rls[i], server_now(), 1);
	if (server_spare_fd != -1) {
		close(server_spare_fd);
		server_spare_fd = -1;
	}
}
