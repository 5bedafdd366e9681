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
 * Every decision of the hand-off is migrate/handoff.c's: the source keeps
 * one machine per VM (the migration id its exports carry, the ids it has
 * answered), the destination one per final sync (the id it imported, the
 * nonce it drew). This file only moves bytes and tells those machines
 * what happened. The channel is mutual TLS (migrate/tls.c, peer_tls =
 * on): both rasd's show an x509 host certificate from the fleet's CA, the
 * destination checks that the source's names the host it connected to,
 * the source logs the destination's with the migration id; the answer
 * seal still binds the bundle to the request (VM, migration id, nonce,
 * generation), as a digest inside the TLS channel. With peer_tls =
 * off-insecure (tests only, warned about at start and at every final
 * sync) the request is authenticated with the fleet key (HMAC over VM,
 * generation, nonce and migration id) and the answer sealed with it;
 * without a fleet key only root may ask, over a Unix socket.
 *
 * Connections on the peer listener are their own class, apart from the
 * local VMMs' and operators' (server.c never counts or evicts them): at
 * most peer_max_conns at once, peer_max_waiting of them per source
 * address still waiting for their first request, which (TLS handshake
 * included) must come within peer_handshake_timeout; a connection is
 * closed peer_idle_timeout after its last request. When the class is
 * full, the oldest waiting connection of the
 * address holding the most is closed to make room, so a flood from one
 * address cannot keep another host's final sync out, and no number of
 * peer connections can keep a local VMM from registering.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bundle.h"
#include "crypto.h"
#include "frame.h"
#include "handoff.h"
#include "metrics.h"
#include "rasd.h"
#include "tls.h"

struct peer_call {
	struct bufferevent *bev;
	struct tls_conn *tls;	/* over bev's socket; NULL: plain */
	struct event *timer;	/* peer_sync_timeout for the whole call */
	struct handoff_dst ho;	/* this final sync's machine */
	struct client *client;	/* the waiting VMM; NULL once gone */
	uint64_t req_id;
	double started;		/* metrics_now() when asked */
	struct peer_call *next;
};

/* What this rasd knows of a VM's hand-offs, either side. */
struct peer_vm {
	uint8_t uuid[16];
	struct handoff_src src;		/* as a source */
	uint8_t in_mid[HANDOFF_ID_LEN];	/* as a destination: the id the */
	int has_in_mid;			/* imported bundle carried */
	enum handoff_reason in_why;	/* HO_OK, or why the stored hand-off
					 * cannot be resumed (fail safe) */
	struct peer_vm *next;
};

#define PEER_SWEEP_MS 500	/* how often deadlines are checked */
#define PEER_TLS_LOGS 5		/* TLS failures logged one by one per sweep */

/* A connection on the peer listener. */
struct peer_conn {
	struct client *c;
	char addr[INET6_ADDRSTRLEN];	/* source address, "unix" */
	struct tls_conn *tls;		/* NULL: plain (off-insecure) */
	int64_t since;			/* ms, monotonic: accepted */
	int64_t last;			/* ms: last request, 0 none yet */
	struct peer_conn *next;
};

static struct event_base *peer_base;
static struct peer_call *peer_calls;
static struct peer_vm *peer_vms;
static struct peer_conn *peer_conns;
static unsigned int peer_nconns;
static struct event *peer_sweep_ev;
static unsigned long peer_refused, peer_evicted, peer_timedout;
static unsigned long peer_tls_failed, peer_tls_logged;
static struct tls_creds *peer_server_creds;	/* answering final syncs */
static struct tls_creds *peer_client_creds;	/* asking for them */

/* A VM's hand-off record, created if asked. */
static struct peer_vm *
peer_vm_get(const uint8_t uuid[16], int create)
{
	struct peer_vm *pv;

	for (pv = peer_vms; pv != NULL; pv = pv->next)
		if (memcmp(pv->uuid, uuid, 16) == 0)
			return pv;
	if (!create)
		return NULL;
	pv = xcalloc(1, sizeof *pv);
	memcpy(pv->uuid, uuid, 16);
	handoff_src_init(&pv->src);
	pv->next = peer_vms;
	peer_vms = pv;
	return pv;
}

/* Fresh random bytes, or rasd cannot go on safely. */
static void
peer_random(uint8_t *buf, size_t len)
{
	if (crypto_random(buf, len) == -1)
		fatal("getrandom");
}

/*
 * The migration id an export of vm carries: the open one, or a new one
 * when none is open. A VM handed off and running here again (the
 * migration failed after the final sync) gets a new one.
 */
void
peer_export_id(struct vm *vm, uint8_t mid[HANDOFF_ID_LEN])
{
	struct peer_vm *pv = peer_vm_get(vm->uuid, 1);
	struct handoff_src_input in;
	uint8_t fresh[HANDOFF_ID_LEN];

	if (pv->src.state == HS_ANSWERED && vm->state != VM_MIGRATED)
		handoff_src_step(&pv->src, HSE_RESUMED, NULL);
	memset(&in, 0, sizeof in);
	if (pv->src.state == HS_IDLE) {
		peer_random(fresh, sizeof fresh);
		in.fresh = fresh;
	}
	handoff_src_step(&pv->src, HSE_EXPORT, &in);
	memcpy(mid, handoff_src_mid(&pv->src), HANDOFF_ID_LEN);
}

/* An imported bundle's migration id (NULL: none): the final sync's. */
void
peer_incoming(struct vm *vm, const uint8_t *mid)
{
	struct peer_vm *pv = peer_vm_get(vm->uuid, 1);

	pv->has_in_mid = mid != NULL;
	pv->in_why = HO_OK;
	if (mid != NULL)
		memcpy(pv->in_mid, mid, HANDOFF_ID_LEN);
}

/*
 * At start (store.c): an incoming migration the store kept since its
 * import. migrate/handoff.c decides what resumes; the final sync is then
 * asked when the VMM awaits it, as before the restart, and never taken
 * from the imported snapshot.
 */
void
peer_restore(struct vm *vm, const char *peer, const uint8_t *mid,
    uint64_t generation, int state, const char *reason)
{
	struct peer_vm *pv = peer_vm_get(vm->uuid, 1);
	struct handoff_dst ho;

	vm->imported_generation = generation;
	free(vm->source_peer);
	vm->source_peer = NULL;
	if (handoff_dst_restore(&ho, vm->uuid, mid, generation, state) ==
	    HD_DONE) {
		log_info("vm %s: its final state was taken in before the "
		    "restart", vm->name);
		return;
	}
	vm->source_peer = xstrdup(peer);
	pv->has_in_mid = ho.has_mid;
	memcpy(pv->in_mid, ho.mid, HANDOFF_ID_LEN);
	pv->in_why = ho.state == HD_FAILED ? ho.why : HO_OK;
	log_info("vm %s: resuming its incoming migration from %s (imported "
	    "generation %llu, %s%s%s): the final sync is asked when its VMM "
	    "awaits it", vm->name, peer, (unsigned long long)generation,
	    handoff_dst_state_str(state), reason != NULL ? ": " : "",
	    reason != NULL ? reason : "");
}

/*
 * The VM was reset, or booted afresh, before its final sync: the
 * incoming migration ends without one (its store row goes too).
 */
void
peer_incoming_end(struct vm *vm, const char *why)
{
	struct peer_vm *pv = peer_vm_get(vm->uuid, 0);

	if (vm->source_peer == NULL)
		return;
	free(vm->source_peer);
	vm->source_peer = NULL;
	if (pv != NULL) {
		pv->has_in_mid = 0;
		pv->in_why = HO_OK;
	}
	store_incoming(vm, -1, NULL);
	log_info("vm %s: incoming migration ended without a final sync (%s)",
	    vm->name, why);
}

/* Milliseconds on the monotonic clock. */
static int64_t
peer_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A source address as text, "unix" for a Unix socket. */
static void
peer_addr(const struct sockaddr *sa, char *out, size_t outlen)
{
	const void *a = NULL;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (a == NULL || inet_ntop(sa->sa_family, a, out, outlen) == NULL)
		snprintf(out, outlen, "unix");
}

/* Waiting (no request yet) connections from addr. */
static unsigned int
peer_waiting(const char *addr)
{
	struct peer_conn *pc;
	unsigned int n = 0;

	for (pc = peer_conns; pc != NULL; pc = pc->next)
		if (pc->last == 0 && strcmp(pc->addr, addr) == 0)
			n++;
	return n;
}

/*
 * The connection to close to make room: the oldest waiting one of the
 * address with the most waiting connections.
 */
static struct peer_conn *
peer_victim(void)
{
	struct peer_conn *pc, *best = NULL;
	unsigned int n, most = 0;

	for (pc = peer_conns; pc != NULL; pc = pc->next) {
		if (pc->last != 0)
			continue;
		n = peer_waiting(pc->addr);
		if (n > most || (n == most && best != NULL &&
		    pc->since < best->since)) {
			best = pc;
			most = n;
		}
	}
	return best;
}

/*
 * May a new connection from sa come in? 0 (room made if needed), or -1
 * with why. Called by server.c before it sets up the client.
 */
int
peer_admit(const struct sockaddr *sa, char *why, size_t whylen)
{
	struct peer_conn *v;
	char addr[INET6_ADDRSTRLEN];

	peer_addr(sa, addr, sizeof addr);
	if (peer_waiting(addr) >= rasd_conf->peer_max_waiting) {
		snprintf(why, whylen, "peer %s has %u connections without a "
		    "request (peer_max_waiting %u)", addr,
		    peer_waiting(addr), rasd_conf->peer_max_waiting);
		peer_refused++;
		return -1;
	}
	if (peer_nconns < rasd_conf->peer_max_conns)
		return 0;
	if ((v = peer_victim()) == NULL) {
		snprintf(why, whylen, "%u peer connections, all busy "
		    "(peer_max_conns)", peer_nconns);
		peer_refused++;
		return -1;
	}
	peer_evicted++;
	log_debug("peer %s: closing a connection without a request to make "
	    "room for %s", v->addr, addr);
	server_client_free(v->c);	/* unlinks v (peer_forget_client) */
	return 0;
}

/*
 * Put TLS over a peer connection's socket: the client's bufferevent
 * becomes the TLS filter, with server.c's callbacks and read limit.
 */
static void
peer_conn_tls(struct peer_conn *pc)
{
	struct client *c = pc->c;
	bufferevent_data_cb rcb, wcb;
	bufferevent_event_cb ecb;
	size_t lo, hi;
	void *arg;
	char err[256];

	bufferevent_getcb(c->bev, &rcb, &wcb, &ecb, &arg);
	bufferevent_getwatermark(c->bev, EV_READ, &lo, &hi);
	if ((pc->tls = tls_conn_new(c->bev, peer_server_creds, 1, NULL, err,
	    sizeof err)) == NULL)
		fatalx("peer %s: %s", pc->addr, err);
	c->bev = tls_conn_bev(pc->tls);
	bufferevent_setcb(c->bev, rcb, wcb, ecb, arg);
	bufferevent_setwatermark(c->bev, EV_READ, lo, hi);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* A connection came in on the peer listener. */
void
peer_conn_add(struct client *c, const struct sockaddr *sa)
{
	struct peer_conn *pc = xcalloc(1, sizeof *pc);

	pc->c = c;
	peer_addr(sa, pc->addr, sizeof pc->addr);
	if (peer_server_creds != NULL)
		peer_conn_tls(pc);
	pc->since = peer_now();
	pc->next = peer_conns;
	peer_conns = pc;
	peer_nconns++;
}

/* The peer record of a connection, NULL if it is not one. */
static struct peer_conn *
peer_conn_of(const struct client *c)
{
	struct peer_conn *pc;

	for (pc = peer_conns; pc != NULL; pc = pc->next)
		if (pc->c == c)
			return pc;
	return NULL;
}

/* A request's migration id as hex for logs, "none" without one. */
static void
peer_mid_hex(const struct handoff_request *rq, char *out)
{
	size_t i;

	if (rq->mid == NULL || rq->mid_len != HANDOFF_ID_LEN) {
		strcpy(out, "none");
		return;
	}
	for (i = 0; i < HANDOFF_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", rq->mid[i]);
}

/* A request arrived on a peer connection: its idle clock restarts. */
static void
peer_conn_used(struct client *c)
{
	struct peer_conn *pc;

	for (pc = peer_conns; pc != NULL; pc = pc->next)
		if (pc->c == c)
			pc->last = peer_now();
}

/* Close peer connections past their handshake or idle deadline. */
static void
peer_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer_conn *pc, *next;
	int64_t now = peer_now();
	unsigned long before = peer_timedout;
	static unsigned long said_refused, said_evicted;

	for (pc = peer_conns; pc != NULL; pc = next) {
		next = pc->next;
		if (pc->last == 0 ? now - pc->since <
		    rasd_conf->peer_handshake_timeout * 1000LL :
		    now - pc->last < rasd_conf->peer_idle_timeout * 1000LL)
			continue;
		log_debug("peer %s: %s; closing", pc->addr, pc->last != 0 ?
		    "idle" : pc->tls != NULL && !tls_conn_ready(pc->tls) ?
		    "TLS handshake not done in time" : "no request in time");
		peer_timedout++;
		server_client_free(pc->c);	/* unlinks pc */
	}
	/* A flood is summed up, not logged connection by connection. */
	if (peer_timedout != before || peer_refused != said_refused ||
	    peer_evicted != said_evicted || peer_tls_logged > PEER_TLS_LOGS) {
		log_info("peer connections: %u open, %lu refused, %lu closed "
		    "to make room, %lu timed out, %lu failed TLS so far",
		    peer_nconns, peer_refused, peer_evicted, peer_timedout,
		    peer_tls_failed);
		said_refused = peer_refused;
		said_evicted = peer_evicted;
	}
	peer_tls_logged = 0;
}

/* The destination's certificate, loaded when first needed; NULL: none. */
static struct tls_creds *
peer_client_tls(char *err, size_t errlen)
{
	const struct rasd_config *c = rasd_conf;

	if (peer_client_creds == NULL)
		peer_client_creds = tls_creds_load(c->peer_ca,
		    c->peer_client_cert, c->peer_client_key, err, errlen);
	return peer_client_creds;
}

/*
 * Load the peer channel's certificates: the server side's when rasd
 * listens for peers (it will not start without them), the client side's
 * for the final syncs it asks as a destination (retried at each one when
 * missing). With peer_tls = off-insecure, say loudly what that means.
 */
static int
peer_tls_init(void)
{
	const struct rasd_config *c = rasd_conf;
	char err[512];

	if (c->peer_tls == PEER_TLS_OFF_INSECURE) {
		log_warnx("peer_tls = off-insecure: the peer channel is plain "
		    "TCP or Unix, without host identities (%s); for tests "
		    "only", c->fleet_key[0] ? "the fleet key signs final "
		    "syncs" : "no fleet key: only root over a Unix socket "
		    "may ask");
		return 0;
	}
	if (c->peer_listen[0] != '\0') {
		peer_server_creds = tls_creds_load(c->peer_ca, c->peer_cert,
		    c->peer_key, err, sizeof err);
		if (peer_server_creds == NULL) {
			log_warnx("peer_listen needs this host's TLS "
			    "certificate (peer_ca, peer_cert, peer_key; or "
			    "peer_tls = off-insecure): %s", err);
			return -1;
		}
	}
	if (peer_client_tls(err, sizeof err) == NULL)
		log_warnx("no TLS client certificate (peer_ca, "
		    "peer_client_cert, peer_client_key): final syncs as a "
		    "migration's destination will fail until there is one: "
		    "%s", err);
	return 0;
}

/* Start the outgoing side (the destination's) and the peer class. */
int
peer_init(struct event_base *base)
{
	struct timeval tv = { 0, PEER_SWEEP_MS * 1000 };

	peer_base = base;
	if (peer_tls_init() == -1)
		return -1;
	peer_sweep_ev = event_new(base, -1, EV_PERSIST, peer_sweep_cb, NULL);
	if (peer_sweep_ev == NULL)
		fatalx("event_new");
	evtimer_add(peer_sweep_ev, &tv);
	return 0;
}

/* The error code a refusal is answered with. */
static int
peer_refusal_code(enum handoff_reason r)
{
	switch (r) {
	case HO_BAD_REQUEST:
	case HO_NO_MIGRATION_ID:
		return RAS__ERROR_CODE__ERR_INVALID;
	case HO_NOT_PAUSED:
	case HO_VMM_UNSYNCED:
		return RAS__ERROR_CODE__ERR_BUSY;
	default:
		return RAS__ERROR_CODE__ERR_DENIED;
	}
}

/* Answer a FinalSync from another rasd (the source's side); 0 if sent. */
static int
peer_final_answer(struct client *c, uint64_t id, Ras__FinalSync *fs)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__Exported ex = RAS__EXPORTED__INIT;
	struct handoff_request rq;
	struct handoff_src_input in;
	struct handoff_src scratch;
	const struct virt_domain *d;
	enum handoff_reason r;
	uint8_t seal[HANDOFF_MAC_LEN], *sealed = NULL;
	const struct peer_conn *cn = peer_conn_of(c);
	const char *who = cn != NULL && cn->tls != NULL ?
	    tls_conn_peer(cn->tls) : "an unauthenticated peer";
	struct peer_vm *pv;
	size_t len;
	char err[512], us[37] = "?", mids[2 * HANDOFF_ID_LEN + 1];
	struct vm *vm;
	int rc = -1;

	memset(&rq, 0, sizeof rq);
	rq.uuid = fs->uuid.data;
	rq.uuid_len = fs->uuid.len;
	rq.have = fs->have_generation;
	rq.nonce = fs->nonce.data;
	rq.nonce_len = fs->nonce.len;
	if (fs->has_migration_id) {
		rq.mid = fs->migration_id.data;
		rq.mid_len = fs->migration_id.len;
	}
	if (fs->has_mac) {
		rq.mac = fs->mac.data;
		rq.mac_len = fs->mac.len;
	}
	memset(&in, 0, sizeof in);
	if (cn != NULL && cn->tls != NULL)
		in.tls_peer = tls_conn_ready(cn->tls);	/* no key: TLS */
	else
		transfer_key(&in.key, &in.keylen);
	in.root_unix = c->unix_peer && c->uid == 0;
	in.req = &rq;
	in.paused = -1;
	peer_mid_hex(&rq, mids);
	vm = fs->uuid.len == 16 ? vm_find_uuid(fs->uuid.data) : NULL;
	pv = vm != NULL ? peer_vm_get(vm->uuid, 0) : NULL;
	if (vm != NULL && (d = virt_find_domain(vm->uuid)) != NULL &&
	    d->state[0] != '\0')
		in.paused = strcmp(d->state, "paused") == 0 ? 1 :
		    strcmp(d->state, "running") == 0 ? 0 : -1;
	if (fs->uuid.len == 16)
		ras_uuid_format(fs->uuid.data, us);
	if (vm != NULL) {
		/* Is all its VMM has seen durable here? (vmm.c) */
		char vmmwhy[256];

		if ((in.vmm_unsynced = vmm_sync_check(vm, vmmwhy,
		    sizeof vmmwhy) == -1))
			log_warnx("vm %s: no final sync yet: %s", vm->name,
			    vmmwhy);
	}
	if (pv == NULL) {
		/* Nothing offered: the request's signature is judged all
		 * the same, so that an unsigned asker learns nothing. */
		handoff_src_init(&scratch);
		r = handoff_src_step(&scratch, HSE_FINAL_SYNC, &in);
		if (r == HO_OK || (r == HO_NOT_OFFERED && vm == NULL)) {
			log_warnx("final sync for VM %s refused: no such VM "
			    "here (asked by %s, migration %s)", us, who, mids);
			server_error(c, id, RAS__ERROR_CODE__ERR_NO_SUCH_VM,
			    "final sync: no such VM here");
			return -1;
		}
	} else
		r = handoff_src_step(&pv->src, HSE_FINAL_SYNC, &in);
	if (r != HO_OK) {
		log_warnx("vm %s: final sync refused: %s (asked by %s, "
		    "migration %s)", vm != NULL ? vm->name : us,
		    handoff_reason_str(r), who, mids);
		server_error(c, id, peer_refusal_code(r), "denied: final sync "
		    "of VM %s refused by the source: %s", us,
		    handoff_reason_str(r));
		return -1;
	}
	if (transfer_export(vm, &sealed, &len, err, sizeof err) == -1) {
		log_warnx("vm %s: final sync: %s", vm->name, err);
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID,
		    "final sync of VM %s: %s", vm->name, err);
		return -1;
	}
	handoff_answer_seal(in.key, in.keylen, vm->uuid, rq.mid, rq.nonce,
	    vm->generation, sealed, len, seal);
	ex.sealed.data = sealed;
	ex.sealed.len = len;
	ex.generation = vm->generation;
	ex.has_answer_seal = 1;
	ex.answer_seal.data = seal;
	ex.answer_seal.len = sizeof seal;
	resp.id = id;
	resp.body_case = RAS__RESPONSE__BODY_EXPORTED;
	resp.exported = &ex;
	if ((rc = server_send(c, &resp)) == 0) {
		log_info("vm %s: final sync to a peer: generation %llu (it had "
		    "%llu), %zu active ranges; the VM is handed off to %s "
		    "(migration %s)", vm->name,
		    (unsigned long long)vm->generation,
		    (unsigned long long)fs->have_generation, vm->active.n,
		    who, mids);
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
	int rc;

	peer_conn_used(c);
	if (rasd_conf->peer_tls == PEER_TLS_OFF_INSECURE)
		log_warnx("final sync asked over an INSECURE peer channel "
		    "(peer_tls = off-insecure): no host identities");
	rc = peer_final_answer(c, id, fs);

	metrics_final_sync(METRICS_SOURCE, rc == 0, started);
}

/* Answer the waiting VMM with the VM's active ranges. */
static void
peer_answer(struct client *c, uint64_t id, struct vm *vm)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__Registered ok = RAS__REGISTERED__INIT;
	Ras__PoisonRange *pr, **prs;

	ok.profile_pinned = vm->pinned;
	vmm_active_page(vm, 0, &ok, &prs, &pr);
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
		bufferevent_free(pc->bev);	/* the socket's, and TLS */
	if (pc->timer != NULL)
		event_free(pc->timer);
	free(pc);
}

/*
 * The final sync failed: the VMM must not let the guest run. why names
 * the reason, detail (may be NULL) says more.
 */
static void
peer_fail(struct peer_call *pc, enum handoff_reason why, const char *detail)
{
	struct handoff_dst_input in;
	struct vm *vm = vm_find_uuid(pc->ho.uuid);
	char us[37], msg[768];

	memset(&in, 0, sizeof in);
	in.why = why;
	handoff_dst_step(&pc->ho, HDE_FAIL, &in);
	if (detail != NULL)
		snprintf(msg, sizeof msg, "%s: %s", handoff_reason_str(why),
		    detail);
	else
		snprintf(msg, sizeof msg, "%s", handoff_reason_str(why));
	ras_uuid_format(pc->ho.uuid, us);
	log_warnx("vm %s: final sync with the source failed: %s",
	    vm != NULL ? vm->name : us, msg);
	if (vm != NULL && vm->source_peer != NULL)
		store_incoming(vm, HD_FAILED, msg);	/* asked again later */
	metrics_final_sync(METRICS_DESTINATION, 0, pc->started);
	if (pc->client != NULL)
		server_error(pc->client, pc->req_id, RAS__ERROR_CODE__ERR_PEER,
		    "final sync with the source rasd failed: %s", msg);
	peer_call_free(pc);
}

/* Who answered, for the log: the source's certificate, or "plain". */
static const char *
peer_call_who(const struct peer_call *pc, char *buf, size_t len)
{
	if (pc->tls == NULL)
		return "plain (peer_tls = off-insecure)";
	snprintf(buf, len, "TLS handshake %.2f ms, source %s",
	    tls_conn_handshake_us(pc->tls) / 1000.0, tls_conn_peer(pc->tls));
	return buf;
}

/* Verify the source's answer, then take it in; 0, or -1 (failed). */
static int
peer_take(struct peer_call *pc, const Ras__Exported *ex)
{
	struct handoff_answer ans;
	struct handoff_dst_input in;
	enum handoff_reason r;
	struct peer_vm *pv;
	Ras__Bundle *b;
	struct vm *vm;
	char err[512], who[TLS_DN_MAX + 64];
	int code;

	if ((b = transfer_open(ex->sealed.data, ex->sealed.len, err,
	    sizeof err)) == NULL) {
		peer_fail(pc, HO_IMPORT, err);
		return -1;
	}
	memset(&ans, 0, sizeof ans);
	ans.generation = ex->generation;
	if (ex->has_answer_seal) {
		ans.seal = ex->answer_seal.data;
		ans.seal_len = ex->answer_seal.len;
	}
	ans.sealed = ex->sealed.data;
	ans.sealed_len = ex->sealed.len;
	ans.bundle_uuid = b->uuid.data;
	ans.bundle_generation = b->generation;
	memset(&in, 0, sizeof in);
	if (pc->tls == NULL)		/* under TLS: a digest, no key */
		transfer_key(&in.key, &in.keylen);
	in.answer = &ans;
	if ((r = handoff_dst_step(&pc->ho, HDE_ANSWER, &in)) != HO_OK) {
		snprintf(err, sizeof err, "generation %llu, bundle generation "
		    "%llu, imported %llu", (unsigned long long)ex->generation,
		    (unsigned long long)b->generation,
		    (unsigned long long)pc->ho.have);
		ras__bundle__free_unpacked(b, NULL);
		peer_fail(pc, r, err);
		return -1;
	}
	vm = transfer_take(b, TRANSFER_REPLACE | TRANSFER_FINAL, pc->client,
	    &code, err, sizeof err);
	ras__bundle__free_unpacked(b, NULL);
	if (vm == NULL) {
		peer_fail(pc, code == RAS__ERROR_CODE__ERR_BUSY ? HO_BUSY :
		    HO_IMPORT, err);
		return -1;
	}
	handoff_dst_step(&pc->ho, HDE_IMPORTED, NULL);
	if ((pv = peer_vm_get(vm->uuid, 0)) != NULL)
		pv->has_in_mid = 0;	/* answered once, never asked again */
	log_info("vm %s: final sync from the source: generation %llu (had "
	    "%llu), %zu active ranges to re-arm; %.2f ms, %s", vm->name,
	    (unsigned long long)vm->generation,
	    (unsigned long long)pc->ho.have, vm->active.n,
	    (metrics_now() - pc->started) * 1000, peer_call_who(pc, who,
	    sizeof who));
	metrics_final_sync(METRICS_DESTINATION, 1, pc->started);
	if (pc->client != NULL)
		peer_answer(pc->client, pc->req_id, vm);
	peer_call_free(pc);
	return 0;
}

/* The source answered: check and merge its state, then release the VMM. */
static void
peer_read_cb(struct bufferevent *bev, void *arg)
{
	struct peer_call *pc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[FRAME_HDR_LEN], *p;
	Ras__Response *resp;
	char err[512];
	uint32_t len;

	if (evbuffer_get_length(in) < FRAME_HDR_LEN)
		return;
	evbuffer_copyout(in, hdr, sizeof hdr);
	switch (frame_check_max(hdr, sizeof hdr, &len, FRAME_MAX_ADMIN)) {
	case FRAME_OK:
	case FRAME_SHORT:
		break;
	default:
		peer_fail(pc, HO_IMPORT, "bad frame from the source");
		return;
	}
	if (evbuffer_get_length(in) < FRAME_HDR_LEN + (size_t)len)
		return;
	p = evbuffer_pullup(in, FRAME_HDR_LEN + (ssize_t)len);
	resp = ras__response__unpack(NULL, len, p + FRAME_HDR_LEN);
	if (resp == NULL) {
		peer_fail(pc, HO_IMPORT, "malformed answer from the source");
		return;
	}
	if (resp->body_case == RAS__RESPONSE__BODY_ERROR) {
		snprintf(err, sizeof err, "%s", resp->error->message);
		ras__response__free_unpacked(resp, NULL);
		peer_fail(pc, HO_REFUSED, err);
		return;
	}
	if (resp->body_case != RAS__RESPONSE__BODY_EXPORTED) {
		ras__response__free_unpacked(resp, NULL);
		peer_fail(pc, HO_IMPORT, "unexpected answer from the source");
		return;
	}
	peer_take(pc, resp->exported);
	ras__response__free_unpacked(resp, NULL);
}

/* Connection trouble or timeout. */
static void
peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct peer_call *pc = arg;
	char why[256];

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (pc->tls != NULL && tls_conn_error(pc->tls)[0] != '\0') {
		peer_fail(pc, HO_UNREACHABLE, tls_conn_error(pc->tls));
		return;
	}
	snprintf(why, sizeof why, "%s", (what & BEV_EVENT_TIMEOUT) ?
	    "no answer in time" : (what & BEV_EVENT_EOF) ?
	    "the source closed the connection" :
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	peer_fail(pc, HO_UNREACHABLE, why);
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

/*
 * The host name a source's certificate must show: HOST of "tcp:HOST:PORT"
 * (brackets of an IPv6 address dropped); none over a Unix socket (the
 * source is on this machine: its chain is checked, not a name).
 */
static int
peer_tls_name(const char *addr, char *name, size_t namelen)
{
	const char *h, *colon;
	size_t l;

	if (strncmp(addr, "tcp:", 4) != 0)
		return 0;
	h = addr + 4;
	if ((colon = strrchr(h, ':')) == NULL)
		return 0;
	l = (size_t)(colon - h);
	if (*h == '[' && l >= 2 && h[l - 1] == ']') {
		h++;
		l -= 2;
	}
	if (l == 0 || l >= namelen)
		return 0;
	memcpy(name, h, l);
	name[l] = '\0';
	return 1;
}

/* The whole final sync took too long (handshake included). */
static void
peer_call_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer_call *pc = arg;
	char why[128];

	snprintf(why, sizeof why, "no answer in %u s (peer_sync_timeout)%s",
	    rasd_conf->peer_sync_timeout, pc->tls != NULL &&
	    !tls_conn_ready(pc->tls) ? ", TLS handshake not done" : "");
	peer_fail(pc, HO_UNREACHABLE, why);
}

/*
 * The connection of a final sync: a socket bufferevent, with TLS over it
 * unless peer_tls = off-insecure. Returns the socket's bufferevent to
 * connect (pc->bev is the one to use), NULL with err set.
 */
static struct bufferevent *
peer_call_open(struct peer_call *pc, const struct vm *vm, char *err,
    size_t errlen)
{
	struct timeval tv = { rasd_conf->peer_sync_timeout, 0 };
	struct bufferevent *under;
	struct tls_creds *cr;
	char name[256], why[512];

	under = bufferevent_socket_new(peer_base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (under == NULL)
		fatalx("bufferevent_socket_new");
	pc->bev = under;
	if (rasd_conf->peer_tls == PEER_TLS_ON) {
		if ((cr = peer_client_tls(why, sizeof why)) == NULL) {
			snprintf(err, errlen, "no TLS client certificate: %s",
			    why);
			return NULL;
		}
		pc->tls = tls_conn_new(under, cr, 0,
		    peer_tls_name(vm->source_peer, name, sizeof name) ? name :
		    NULL, why, sizeof why);
		if (pc->tls == NULL) {
			snprintf(err, errlen, "TLS: %s", why);
			return NULL;
		}
		pc->bev = tls_conn_bev(pc->tls);
	}
	bufferevent_setcb(pc->bev, peer_read_cb, NULL, peer_event_cb, pc);
	bufferevent_set_timeouts(pc->bev, &tv, &tv);
	bufferevent_enable(pc->bev, EV_READ | EV_WRITE);
	if ((pc->timer = evtimer_new(peer_base, peer_call_timeout_cb, pc)) ==
	    NULL)
		fatalx("evtimer_new");
	evtimer_add(pc->timer, &tv);
	return under;
}

/* AwaitFinal from the destination's VMM. */
void
peer_await_final(struct client *c, uint64_t id, Ras__AwaitFinal *af)
{
	Ras__Request req = RAS__REQUEST__INIT;
	Ras__FinalSync fs = RAS__FINAL_SYNC__INIT;
	uint8_t nonce[HANDOFF_NONCE_LEN], mac[HANDOFF_MAC_LEN];
	struct bufferevent *under;
	uint8_t hdr[FRAME_HDR_LEN], *buf;
	struct handoff_dst_input in;
	enum handoff_reason r;
	struct peer_call *pc;
	struct peer_vm *pv;
	struct vm *vm;
	size_t len;
	char err[768] = "";

	if (c->vm == NULL || af->uuid.len != 16 ||
	    memcmp(af->uuid.data, c->vm->uuid, 16) != 0) {
		server_error(c, id, RAS__ERROR_CODE__ERR_WRONG_VM,
		    "denied: await-final is for the VM this connection "
		    "registered");
		return;
	}
	vm = c->vm;
	if (vm->source_peer == NULL) {
		/* Nothing to ask: this rasd's state is the final one (an
		 * incoming migration's source survives a restart: store.c's
		 * incoming table, peer_restore). */
		peer_answer(c, id, vm);
		return;
	}
	pv = peer_vm_get(vm->uuid, 0);
	pc = xcalloc(1, sizeof *pc);
	handoff_dst_init(&pc->ho, vm->uuid, pv != NULL && pv->has_in_mid ?
	    pv->in_mid : NULL, vm->imported_generation);
	pc->client = c;
	pc->req_id = id;
	pc->started = metrics_now();
	pc->next = peer_calls;
	peer_calls = pc;
	peer_random(nonce, sizeof nonce);
	memset(&in, 0, sizeof in);
	in.fresh = nonce;
	if (pv != NULL && pv->in_why != HO_OK) {
		peer_fail(pc, pv->in_why, "as the store kept it");
		return;
	}
	if ((r = handoff_dst_step(&pc->ho, HDE_ASK, &in)) != HO_OK) {
		peer_fail(pc, r, "the imported bundle carries no migration id");
		return;
	}
	if ((under = peer_call_open(pc, vm, err, sizeof err)) == NULL) {
		peer_fail(pc, HO_UNREACHABLE, err);
		return;
	}

	fs.uuid.data = vm->uuid;
	fs.uuid.len = 16;
	fs.have_generation = pc->ho.have;
	fs.nonce.data = pc->ho.nonce;
	fs.nonce.len = sizeof pc->ho.nonce;
	fs.has_migration_id = 1;
	fs.migration_id.data = pc->ho.mid;
	fs.migration_id.len = sizeof pc->ho.mid;
	if (pc->tls == NULL)		/* under TLS the channel speaks */
		transfer_key(&in.key, &in.keylen);
	if (in.keylen > 0) {
		handoff_request_mac(in.key, in.keylen, vm->uuid, pc->ho.have,
		    pc->ho.nonce, pc->ho.mid, mac);
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
	    "have generation %llu%s", vm->name, vm->source_peer,
	    (unsigned long long)pc->ho.have, pc->tls != NULL ? ", over TLS" :
	    "");
	if (pc->tls == NULL)
		log_warnx("vm %s: final sync over an INSECURE peer channel "
		    "(peer_tls = off-insecure): the source is not "
		    "authenticated", vm->name);
	if (peer_connect(under, vm->source_peer, err, sizeof err) == -1) {
		if (err[0] == '\0')
			snprintf(err, sizeof err, "cannot connect to %s",
			    vm->source_peer);
		peer_fail(pc, HO_UNREACHABLE, err);
	}
}

/*
 * A peer connection closes: if its TLS failed, say why (one line per
 * connection, the first PEER_TLS_LOGS each half second; the sweep sums up
 * the rest).
 */
static void
peer_conn_tls_failed(const struct peer_conn *cn)
{
	if (cn->tls == NULL || tls_conn_error(cn->tls)[0] == '\0')
		return;
	peer_tls_failed++;
	if (++peer_tls_logged <= PEER_TLS_LOGS)
		log_warnx("peer %s: %s; connection closed", cn->addr,
		    tls_conn_error(cn->tls));
}

/* A client went away: drop its pending answers, or its peer record. */
void
peer_forget_client(struct client *c)
{
	struct peer_call *pc;
	struct peer_conn **pp, *cn;

	for (pc = peer_calls; pc != NULL; pc = pc->next)
		if (pc->client == c)
			pc->client = NULL;
	for (pp = &peer_conns; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->c == c) {
			cn = *pp;
			*pp = cn->next;
			peer_conn_tls_failed(cn);
			free(cn);
			peer_nconns--;
			break;
		}
}

/* Drop every pending call and record (shutdown). */
void
peer_stop(void)
{
	struct peer_vm *pv;

	while (peer_calls != NULL)
		peer_call_free(peer_calls);
	if (peer_sweep_ev != NULL) {
		event_free(peer_sweep_ev);
		peer_sweep_ev = NULL;
	}
	while ((pv = peer_vms) != NULL) {
		peer_vms = pv->next;
		free(pv);
	}
	tls_creds_free(peer_server_creds);
	tls_creds_free(peer_client_creds);
	peer_server_creds = peer_client_creds = NULL;
}
