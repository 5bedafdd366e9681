/*
 * peer.c -- rasd to rasd: the final sync of a migrating VM.
 *
 * DESIGN: the bundle a destination imports is a snapshot taken when libvirt
 * read the domain XML; poisons the source records after that must still
 * reach the destination before the guest's first instruction there. So the
 * destination's VMM holds its first KVM_RUN and asks its rasd (AwaitFinal);
 * that rasd asks the source rasd, at the peer address the bundle names, for
 * the VM's state as it is now (FinalSync), merges it, and only then answers
 * the VMM with the full set of ranges to re-arm. By then the source is
 * paused for the switchover, so nothing new can happen there. If the
 * source cannot be asked within PEER_TIMEOUT, the VMM gets ERR_PEER and
 * fails safe (libvirt then resumes the guest on the source).
 *
 * The request is authenticated with the fleet key (HMAC over a fresh
 * nonce); the answer is a bundle sealed with that key. Without a fleet
 * key, only root may ask, over a Unix socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bundle.h"
#include "frame.h"
#include "metrics.h"
#include "rasd.h"
#include "crypto.h"

#define PEER_TIMEOUT 3		/* seconds for a whole final sync */

struct peer_call {
	struct bufferevent *bev;
	uint8_t uuid[16];
	uint64_t have;
	struct client *client;	/* the waiting VMM; NULL once gone */
	uint64_t req_id;
	double started;		/* metrics_now() when asked */
	struct peer_call *next;
};

static struct event_base *peer_base;
static struct peer_call *peer_calls;

/* The MAC a FinalSync carries. */
static void
peer_mac(const uint8_t *key, size_t keylen, const uint8_t uuid[16],
    uint64_t have, const uint8_t nonce[16], uint8_t out[32])
{
	uint8_t msg[15 + 16 + 8 + 16];
	int i;

	memcpy(msg, "rasd-final-syn", 14);
	msg[14] = 'c';
	memcpy(msg + 15, uuid, 16);
	for (i = 0; i < 8; i++)
		msg[31 + i] = (uint8_t)(have >> (56 - 8 * i));
	memcpy(msg + 39, nonce, 16);
	hmac_sha256(key, keylen, msg, sizeof msg, out);
}

/* Start the outgoing side (the destination's). */
void
peer_init(struct event_base *base)
{
	peer_base = base;
}

/* Answer a FinalSync from another rasd (the source's side); 0 if sent. */
static int
peer_final_answer(struct client *c, uint64_t id, Ras__FinalSync *fs)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__Exported ex = RAS__EXPORTED__INIT;
	const uint8_t *key;
	uint8_t mac[32], *sealed = NULL;
	size_t keylen, len;
	char err[512];
	struct vm *vm;
	int rc = -1;

	if (fs->uuid.len != 16 || fs->nonce.len != 16) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID,
		    "final sync: bad uuid or nonce length");
		return -1;
	}
	transfer_key(&key, &keylen);
	if (keylen > 0) {
		peer_mac(key, keylen, fs->uuid.data, fs->have_generation,
		    fs->nonce.data, mac);
		if (!fs->has_mac || fs->mac.len != 32 ||
		    !sha256_equal(mac, fs->mac.data)) {
			server_error(c, id, RAS__ERROR_CODE__ERR_DENIED,
			    "denied: final sync not signed with the fleet "
			    "key");
			return -1;
		}
	} else if (!c->unix_peer || c->uid != 0) {
		server_error(c, id, RAS__ERROR_CODE__ERR_DENIED,
		    "denied: without a fleet key only root over a Unix "
		    "socket may ask for a final sync");
		return -1;
	}
	if ((vm = vm_find_uuid(fs->uuid.data)) == NULL) {
		server_error(c, id, RAS__ERROR_CODE__ERR_NO_SUCH_VM,
		    "final sync: no such VM here");
		return -1;
	}
	if (transfer_export(vm, &sealed, &len, err, sizeof err) == -1) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID,
		    "final sync of VM %s: %s", vm->name, err);
		return -1;
	}
	ex.sealed.data = sealed;
	ex.sealed.len = len;
	ex.generation = vm->generation;
	resp.id = id;
	resp.body_case = RAS__RESPONSE__BODY_EXPORTED;
	resp.exported = &ex;
	if ((rc = server_send(c, &resp)) == 0) {
		log_info("vm %s: final sync to a peer: generation %llu (it had "
		    "%llu), %zu active ranges; the VM is handed off",
		    vm->name, (unsigned long long)vm->generation,
		    (unsigned long long)fs->have_generation, vm->active.n);
		vm->handed_off = 1;
		if (vm->state != VM_MIGRATED) {
			vm->state = VM_MIGRATED;
			store_save_vm(vm);
		}
	}
	free(sealed);
	return rc;
}

/* A FinalSync from another rasd: answer it and count it. */
void
peer_final_sync(struct client *c, uint64_t id, Ras__FinalSync *fs)
{
	double started = metrics_now();
	int rc = peer_final_answer(c, id, fs);

	metrics_final_sync(METRICS_SOURCE, rc == 0, started);
}

/* Answer the waiting VMM with the VM's active ranges. */
static void
peer_answer(struct client *c, uint64_t id, struct vm *vm)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__Registered ok = RAS__REGISTERED__INIT;
	Ras__PoisonRange *pr, **prs;

	ok.generation = vm->generation;
	ok.active_ranges = (uint32_t)vm->active.n;
	ok.profile_pinned = vm->pinned;
	prs = control_ranges(&vm->active, &pr);
	ok.n_active = vm->active.n;
	ok.active = prs;
	resp.id = id;
	resp.body_case = RAS__RESPONSE__BODY_REGISTERED;
	resp.registered = &ok;
	server_send(c, &resp);
	free(prs);
	free(pr);
}

/* Unlink and free an outgoing call. */
static void
peer_call_free(struct peer_call *pc)
{
	struct peer_call **pp;

	for (pp = &peer_calls; *pp != NULL; pp = &(*pp)->next)
		if (*pp == pc) {
			*pp = pc->next;
			break;
		}
	if (pc->bev != NULL)
		bufferevent_free(pc->bev);
	free(pc);
}

/* The final sync failed: the VMM must not let the guest run. */
static void
peer_fail(struct peer_call *pc, const char *why)
{
	struct vm *vm = vm_find_uuid(pc->uuid);
	char us[37];

	ras_uuid_format(pc->uuid, us);
	log_warnx("vm %s: final sync with the source failed: %s",
	    vm != NULL ? vm->name : us, why);
	metrics_final_sync(METRICS_DESTINATION, 0, pc->started);
	if (pc->client != NULL)
		server_error(pc->client, pc->req_id, RAS__ERROR_CODE__ERR_PEER,
		    "final sync with the source rasd failed: %s", why);
	peer_call_free(pc);
}

/* The source answered: merge its state, then release the VMM. */
static void
peer_read_cb(struct bufferevent *bev, void *arg)
{
	struct peer_call *pc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[FRAME_HDR_LEN], *p;
	Ras__Response *resp;
	struct vm *vm;
	char err[512];
	uint32_t len;
	int code;

	if (evbuffer_get_length(in) < FRAME_HDR_LEN)
		return;
	evbuffer_copyout(in, hdr, sizeof hdr);
	switch (frame_check_max(hdr, sizeof hdr, &len, FRAME_MAX_ADMIN)) {
	case FRAME_OK:
	case FRAME_SHORT:
		break;
	default:
		peer_fail(pc, "bad frame from the source");
		return;
	}
	if (evbuffer_get_length(in) < FRAME_HDR_LEN + (size_t)len)
		return;
	p = evbuffer_pullup(in, FRAME_HDR_LEN + (ssize_t)len);
	resp = ras__response__unpack(NULL, len, p + FRAME_HDR_LEN);
	if (resp == NULL) {
		peer_fail(pc, "malformed answer from the source");
		return;
	}
	if (resp->body_case == RAS__RESPONSE__BODY_ERROR) {
		snprintf(err, sizeof err, "source refused: %s",
		    resp->error->message);
		ras__response__free_unpacked(resp, NULL);
		peer_fail(pc, err);
		return;
	}
	if (resp->body_case != RAS__RESPONSE__BODY_EXPORTED) {
		ras__response__free_unpacked(resp, NULL);
		peer_fail(pc, "unexpected answer from the source");
		return;
	}
	vm = transfer_import(resp->exported->sealed.data,
	    resp->exported->sealed.len, TRANSFER_REPLACE | TRANSFER_FINAL,
	    &code, err, sizeof err);
	ras__response__free_unpacked(resp, NULL);
	if (vm == NULL) {
		peer_fail(pc, err);
		return;
	}
	log_info("vm %s: final sync from the source: generation %llu (had "
	    "%llu), %zu active ranges to re-arm", vm->name,
	    (unsigned long long)vm->generation, (unsigned long long)pc->have,
	    vm->active.n);
	metrics_final_sync(METRICS_DESTINATION, 1, pc->started);
	if (pc->client != NULL)
		peer_answer(pc->client, pc->req_id, vm);
	peer_call_free(pc);
}

/* Connection trouble or timeout. */
static void
peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct peer_call *pc = arg;
	char why[256];

	if (what & BEV_EVENT_CONNECTED)
		return;
	snprintf(why, sizeof why, "%s", (what & BEV_EVENT_TIMEOUT) ?
	    "no answer in time" : (what & BEV_EVENT_EOF) ?
	    "the source closed the connection" :
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	peer_fail(pc, why);
}

/* Open a connection to "unix:PATH" or "tcp:HOST:PORT". */
static int
peer_connect(struct bufferevent *bev, const char *addr, char *err,
    size_t errlen)
{
	struct sockaddr_un sun;

	if (strncmp(addr, "unix:", 5) == 0) {
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		if (strlen(addr + 5) >= sizeof sun.sun_path) {
			snprintf(err, errlen, "peer path too long");
			return -1;
		}
		memcpy(sun.sun_path, addr + 5, strlen(addr + 5));
		return bufferevent_socket_connect(bev, (struct sockaddr *)&sun,
		    sizeof sun);
	}
	if (strncmp(addr, "tcp:", 4) == 0) {
		struct sockaddr_storage ss;
		int sslen = sizeof ss;

		if (evutil_parse_sockaddr_port(addr + 4, (struct sockaddr *)&ss,
		    &sslen) == -1) {
			snprintf(err, errlen, "bad peer address %s", addr);
			return -1;
		}
		return bufferevent_socket_connect(bev, (struct sockaddr *)&ss,
		    sslen);
	}
	snprintf(err, errlen, "unknown peer address form %s", addr);
	return -1;
}

/* AwaitFinal from the destination's VMM. */
void
peer_await_final(struct client *c, uint64_t id, Ras__AwaitFinal *af)
{
	Ras__Request req = RAS__REQUEST__INIT;
	Ras__FinalSync fs = RAS__FINAL_SYNC__INIT;
	struct timeval tv = { PEER_TIMEOUT, 0 };
	uint8_t nonce[16], mac[32], hdr[FRAME_HDR_LEN], *buf;
	const uint8_t *key;
	struct peer_call *pc;
	struct vm *vm;
	size_t keylen, len;
	char err[256] = "";

	if (c->vm == NULL || af->uuid.len != 16 ||
	    memcmp(af->uuid.data, c->vm->uuid, 16) != 0) {
		server_error(c, id, RAS__ERROR_CODE__ERR_WRONG_VM,
		    "denied: await-final is for the VM this connection "
		    "registered");
		return;
	}
	vm = c->vm;
	if (vm->source_peer == NULL) {
		/* Nothing to ask: this rasd's state is the final one. */
		peer_answer(c, id, vm);
		return;
	}
	pc = xcalloc(1, sizeof *pc);
	memcpy(pc->uuid, vm->uuid, 16);
	pc->have = vm->imported_generation;
	pc->client = c;
	pc->req_id = id;
	pc->started = metrics_now();
	pc->next = peer_calls;
	peer_calls = pc;
	pc->bev = bufferevent_socket_new(peer_base, -1,
	    BEV_OPT_CLOSE_ON_FREE);
	if (pc->bev == NULL)
		fatalx("bufferevent_socket_new");
	bufferevent_setcb(pc->bev, peer_read_cb, NULL, peer_event_cb, pc);
	bufferevent_set_timeouts(pc->bev, &tv, &tv);
	bufferevent_enable(pc->bev, EV_READ | EV_WRITE);

	if (getrandom(nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce)
		fatal("getrandom");
	fs.uuid.data = vm->uuid;
	fs.uuid.len = 16;
	fs.have_generation = vm->imported_generation;
	fs.nonce.data = nonce;
	fs.nonce.len = sizeof nonce;
	transfer_key(&key, &keylen);
	if (keylen > 0) {
		peer_mac(key, keylen, vm->uuid, vm->imported_generation, nonce,
		    mac);
		fs.has_mac = 1;
		fs.mac.data = mac;
		fs.mac.len = sizeof mac;
	}
	req.version = RAS_PROTO_VERSION;
	req.id = 1;
	req.body_case = RAS__REQUEST__BODY_FINAL_SYNC;
	req.final_sync = &fs;
	len = ras__request__get_packed_size(&req);
	buf = xcalloc(1, len);
	ras__request__pack(&req, buf);
	frame_put_header(hdr, (uint32_t)len);
	bufferevent_write(pc->bev, hdr, sizeof hdr);
	bufferevent_write(pc->bev, buf, len);
	free(buf);
	log_info("vm %s: asking the source rasd (%s) for the final state, "
	    "have generation %llu", vm->name, vm->source_peer,
	    (unsigned long long)vm->imported_generation);
	if (peer_connect(pc->bev, vm->source_peer, err, sizeof err) == -1) {
		if (err[0] == '\0')
			snprintf(err, sizeof err, "cannot connect to %s",
			    vm->source_peer);
		peer_fail(pc, err);
	}
}

/* A VMM went away: drop its pending answers. */
void
peer_forget_client(struct client *c)
{
	struct peer_call *pc;

	for (pc = peer_calls; pc != NULL; pc = pc->next)
		if (pc->client == c)
			pc->client = NULL;
}

/* Drop every pending call (shutdown). */
void
peer_stop(void)
{
	while (peer_calls != NULL)
		peer_call_free(peer_calls);
}
