/*
 * server.c -- the Unix listener, client connections and framing.
 *
 * DESIGN: every client is a bufferevent; a read callback cuts the input
 * into frames (4-byte big-endian length + one protobuf Request), answers
 * malformed ones with an error and only drops a connection whose framing
 * can no longer be trusted (oversized or empty length). Peer credentials
 * come from SO_PEERCRED / SO_PEERGROUPS at accept time and decide what a
 * client may do. A client that stops reading its answers is dropped at the
 * high-water mark, so it cannot make rasd buffer without bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "frame.h"
#include "rasd.h"

#define SERVER_HIGH_WATER (32u << 20)	/* unread answers before a drop */

struct rasd_config *rasd_conf;

static struct event_base *server_base;
static struct evconnlistener *server_listener, *server_peer_listener;
static struct client *server_clients;
static unsigned int server_nclients;
static uint64_t server_next_id = 1;

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

/* Free a client; the VM it was bound to becomes disconnected. */
void
server_client_free(struct client *c)
{
	if (c->vm != NULL && c->vm->client == c) {
		vmm_detach(c->vm, c);
	}
	batch_forget_client(c);
	peer_forget_client(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		server_clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	server_nclients--;
	bufferevent_free(c->bev);
	free(c);
}

/* The frame limit of a client: operators may move bundles. */
static uint32_t
server_frame_max(const struct client *c)
{
	return c->admin ? FRAME_MAX_ADMIN : FRAME_MAX;
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

/* Answer with an error, and log why. */
void
server_error(struct client *c, uint64_t id, int code, const char *fmt, ...)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__Error err = RAS__ERROR__INIT;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_warnx("client %llu (pid %d, uid %d%s%s): %s",
	    (unsigned long long)c->id, (int)c->pid, (int)c->uid,
	    c->vm != NULL ? ", vm " : "", c->vm != NULL ? c->vm->name : "",
	    msg);
	err.code = code;
	err.message = msg;
	resp.id = id;
	resp.body_case = RAS__RESPONSE__BODY_ERROR;
	resp.error = &err;
	server_send(c, &resp);
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

/* Drop a client once its last answer has been written. */
static void
server_close_after_flush(struct client *c)
{
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		server_client_free(c);
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
		peer_await_final(c, req->id, req->await_final);
		break;
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
	default:
		server_error(c, req->id, RAS__ERROR_CODE__ERR_PROTOCOL,
		    "request without a known body (case %d)",
		    (int)req->body_case);
		break;
	}
}

/* Cut the input into frames and handle each. */
static void
server_read_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[FRAME_HDR_LEN];
	Ras__Request *req;
	uint32_t len;
	uint8_t *p;

	while (!c->closing) {
		size_t avail = evbuffer_get_length(in);
		enum frame_status fs;

		if (avail < FRAME_HDR_LEN)
			return;
		evbuffer_copyout(in, hdr, sizeof hdr);
		fs = frame_check_max(hdr, sizeof hdr, &len,
		    server_frame_max(c));
		if (fs == FRAME_TOO_BIG || fs == FRAME_EMPTY) {
			server_error(c, 0, RAS__ERROR_CODE__ERR_PROTOCOL,
			    "bad frame: declared length %u (must be 1..%u); "
			    "closing connection", len, server_frame_max(c));
			server_close_after_flush(c);
			return;
		}
		if (avail < FRAME_HDR_LEN + (size_t)len)
			return;
		p = evbuffer_pullup(in, FRAME_HDR_LEN + (ssize_t)len);
		req = ras__request__unpack(NULL, len, p + FRAME_HDR_LEN);
		evbuffer_drain(in, FRAME_HDR_LEN + (size_t)len);
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
}

/* Output drained: finish a pending close. */
static void
server_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (c->closing)
		server_client_free(c);
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

/* Accept a client and note its credentials. */
static void
server_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	struct client *c;
	int peer = arg != NULL, unix_peer = sa->sa_family == AF_UNIX;

	if (!unix_peer) {
		/* A TCP peer: no credentials, the fleet key speaks. */
		cred.pid = 0;
		cred.uid = (uid_t)-1;
		cred.gid = (gid_t)-1;
	} else if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ==
	    -1) {
		log_warn("accept: SO_PEERCRED");
		close(fd);
		return;
	}
	if (server_nclients >= rasd_conf->max_clients) {
		log_warnx("accept: refusing pid %d: %u clients already",
		    (int)cred.pid, server_nclients);
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
	c->admin = !peer && server_peer_admin(fd, cred.uid, cred.gid);
	c->bev = bufferevent_socket_new(server_base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatalx("bufferevent_socket_new");
	bufferevent_setcb(c->bev, server_read_cb, server_write_cb,
	    server_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0,
	    server_frame_max(c) + 64);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->next = server_clients;
	if (server_clients != NULL)
		server_clients->prev = c;
	server_clients = c;
	server_nclients++;
	log_debug("client %llu: pid %d uid %d%s", (unsigned long long)c->id,
	    (int)c->pid, (int)c->uid, c->admin ? " (admin)" : "");
}

/* Drop a client that does not read what it asked for; 1 if dropped. */
int
server_check_backlog(struct client *c)
{
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) <=
	    SERVER_HIGH_WATER)
		return 0;
	log_warnx("client %llu (pid %d): over %u bytes of unread answers; "
	    "dropping it", (unsigned long long)c->id, (int)c->pid,
	    SERVER_HIGH_WATER);
	server_client_free(c);
	return 1;
}

/* Remove a stale socket file, but never one a live rasd answers on. */
static int
server_clear_stale(const char *path)
{
	struct sockaddr_un sun;
	int fd, rc;

	if (access(path, F_OK) == -1)
		return 0;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		return -1;
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rc = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	close(fd);
	if (rc == 0) {
		log_warnx("%s: another rasd is listening there", path);
		return -1;
	}
	if (unlink(path) == -1) {
		log_warn("unlink %s", path);
		return -1;
	}
	return 0;
}

/* Make the directory that holds the socket. */
static int
server_mkdir_parent(const char *path)
{
	char dir[sizeof rasd_conf->socket_path], *slash;

	snprintf(dir, sizeof dir, "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", dir);
		return -1;
	}
	return 0;
}

/* Create the listening socket and start accepting. */
int
server_start(struct event_base *base, const struct rasd_config *conf)
{
	struct sockaddr_un sun;
	int fd = -1;
	mode_t old;

	server_base = base;
	if (strlen(conf->socket_path) >= sizeof sun.sun_path) {
		log_warnx("socket path %s is too long (max %zu)",
		    conf->socket_path, sizeof sun.sun_path - 1);
		return -1;
	}
	if (server_mkdir_parent(conf->socket_path) == -1 ||
	    server_clear_stale(conf->socket_path) == -1)
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
	server_listener = evconnlistener_new(base, server_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE, 128, fd);
	if (server_listener == NULL) {
		log_warnx("evconnlistener_new failed");
		goto fail;
	}
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
		    server_clear_stale(l) == -1)
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
		server_peer_listener = evconnlistener_new(base,
		    server_accept_cb, (void *)1, LEV_OPT_CLOSE_ON_FREE, 16, fd);
	} else {
		if (evutil_parse_sockaddr_port(l, (struct sockaddr *)&ss,
		    &sslen) == -1) {
			log_warnx("peer_listen: bad address %s", l);
			return -1;
		}
		server_peer_listener = evconnlistener_new_bind(base,
		    server_accept_cb, (void *)1, LEV_OPT_CLOSE_ON_FREE |
		    LEV_OPT_REUSEABLE, 16, (struct sockaddr *)&ss, sslen);
	}
	if (server_peer_listener == NULL) {
		log_warn("peer listener %s", l);
		return -1;
	}
	log_info("peer listener on %s (final syncs; %s)", l,
	    conf->fleet_key[0] ? "fleet key required" :
	    "no fleet key: root over the Unix socket only");
	return 0;
}

/* Stop listening, drop every client, remove the socket. */
void
server_stop(void)
{
	if (server_peer_listener != NULL) {
		evconnlistener_free(server_peer_listener);
		server_peer_listener = NULL;
		if (rasd_conf->peer_listen[0] == '/')
			unlink(rasd_conf->peer_listen);
	}
	if (server_listener != NULL) {
		evconnlistener_free(server_listener);
		server_listener = NULL;
		unlink(rasd_conf->socket_path);
	}
	while (server_clients != NULL)
		server_client_free(server_clients);
}
