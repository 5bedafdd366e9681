/*
 * evac.c -- evacuating hosts: the fleet's controller, and the operator's
 * requests.
 *
 * DESIGN: any number of rasd may run with fleet_controller = on; one
 * acts. They are elected as etcd's concurrency package elects (its
 * Election): each campaigns by putting FLEET_PREFIX/election/LEASE-HEX on
 * a lease of its own in a transaction that succeeds only if the key does
 * not exist yet (create_revision 0); the key with the lowest
 * create_revision under the prefix is the leader. The leader's every
 * write is a transaction guarded by its key's create_revision, as
 * etcd's leader-only Txn is: a controller whose lease has gone (expired,
 * revoked, etcd restored) can no longer write a thing. It stops acting as
 * soon as a renewal says the lease is gone, a guarded write fails, or a
 * whole TTL went by without a renewal answered -- whichever comes first.
 *
 * The fleet's state is read whole (one range over the prefix) every
 * second: the host records (fleet.c), the operators' requests
 * (FLEET_PREFIX/evacuate/HOST: {"mode": "evacuate"|"cancel", ...}) and
 * the intents (FLEET_PREFIX/evac/HOST/UUID, plan.c). A host is to be
 * evacuated when an operator asked, or when its record says "evacuate"
 * and no operator cancelled. The acting controller then, in one guarded
 * transaction per round:
 *   - plans each VM of such a host that has no live intent (plan.c) and
 *     writes the intent: planned with its destination, or refused with
 *     the reason (a refused VM is planned again each round: a host may
 *     have come up);
 *   - cancels the planned and refused moves of a host no longer to be
 *     evacuated (it became healthy, or the operator cancelled);
 *   - marks planned moves migrating, attempt + 1, as the per-host and
 *     per-fleet limits (fleet_evacuate_per_host, fleet_evacuate_max)
 *     allow, and only once that is written starts each migration;
 *   - records how migrations ended: done, or planned again after a
 *     backoff, or failed after INTENT_ATTEMPTS_MAX attempts.
 * A migration runs in a child process (rasd --fleet-migrate, evac_mig.c)
 * so the loop never waits for libvirt: libvirt's peer-to-peer live
 * migration, asked of the source host's libvirt (the URI in its record).
 * The poison hand-off rides along as for any migration (libvirt hook,
 * final sync).
 *
 * Taking over: a move left migrating by a controller that died is
 * checked against the host records before anything else happens: the
 * VM running on its destination is done; still on its source, a child
 * is started that first waits out any migration job libvirt still runs
 * for the domain (the old controller's) and migrates only if the domain
 * is still active on the source afterwards. So nothing moves twice.
 *
 * Cancelling: planned moves are cancelled; a migration already handed
 * to libvirt is left to finish (aborting it mid-way with
 * virDomainAbortJob would race the final poison sync on the destination,
 * and a moved VM is no harm: it is on a healthy host). Its intent ends
 * done or failed as it turns out.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "../daemon/rasd.h"
#include "etcd.h"
#include "evac.h"
#include "plan.h"
#include "record.h"

#define EVAC_TICK_MS 1000
#define EVAC_OPS_MAX 100	/* per transaction (etcd: 128 by default) */
#define EVAC_RETRY_S 5		/* s, times the attempt, before a retry */

/* An operator's request for one host. */
struct evac_req {
	char host[64];
	char mode[16];		/* evacuate, cancel */
	char by[64];		/* the rasd that passed it on */
	int64_t at;
};

/* The fleet as one range read shows it. */
struct evac_view {
	struct record *hosts;	/* up, sorted by host id */
	size_t nhosts;
	struct evac_req *reqs;
	size_t nreqs;
	struct intent *ints;
	size_t nints;
	int ours;		/* our election key is there */
	char leader[64];	/* the acting controller's host id */
	char leader_key[320];
	int64_t leader_rev;
};

/* A migration this controller started. */
struct evac_child {
	pid_t pid;
	int fd;
	struct event *ev;
	char source[64];
	char uuid[37];
	char out[512];		/* what it said */
	size_t outlen;
	int done;
	int status;		/* EVAC_EXIT_* */
	struct evac_child *next;
};

/* An operator's request waiting for etcd. */
struct evac_query {
	struct client *c;	/* NULL once it went away */
	uint64_t id;
	int kind;		/* EVAC_Q_* */
	char host[64];
	int dry_run, cancel;
	char note[512];
	struct evac_view v;	/* read before the put */
	struct evac_query *next;
};
#define EVAC_Q_STATUS	0
#define EVAC_Q_REQUEST	1

static struct {
	struct event_base *base;
	const struct rasd_config *conf;
	struct etcd *etcd;
	struct event *tick;
	char id[64];		/* this host's id */
	char pfx_elect[256];	/* PREFIX election/ */
	char key[320];		/* ours: PREFIX election/LEASE-HEX */
	int64_t lease;
	int64_t rev;		/* our key's create_revision, 0: none */
	double ttl;
	double lease_until;	/* monotonic: lease sure to live until */
	double next_renew;
	double next_try;
	int inflight;
	int acting;
	unsigned int fails;
	struct evac_child *children;
	struct evac_query *queries;
} ev;

static double
evac_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- the view ----------------------------------------------------------- */

static void
evac_view_free(struct evac_view *v)
{
	size_t i;

	for (i = 0; i < v->nhosts; i++)
		record_clear(&v->hosts[i]);
	free(v->hosts);
	free(v->reqs);
	free(v->ints);
	memset(v, 0, sizeof *v);
}

static int
evac_host_cmp(const void *a, const void *b)
{
	return strcmp(((const struct record *)a)->host_id,
	    ((const struct record *)b)->host_id);
}

static int
evac_intent_cmp(const void *a, const void *b)
{
	const struct intent *x = a, *y = b;
	int c;

	if ((c = strcmp(x->source, y->source)) != 0)
		return c;
	if ((c = strcmp(x->name, y->name)) != 0)
		return c;
	return strcmp(x->uuid, y->uuid);
}

/* One request's JSON. */
static void
evac_parse_req(struct evac_view *v, const char *host, const char *val,
    size_t len)
{
	json_t *o = json_loadb(val, len, 0, NULL);
	struct evac_req *r;
	const char *mode = json_string_value(json_object_get(o, "mode"));
	const char *by = json_string_value(json_object_get(o, "by"));

	if (mode == NULL || (strcmp(mode, "evacuate") != 0 &&
	    strcmp(mode, "cancel") != 0) || strlen(host) >= sizeof r->host) {
		log_warnx("fleet: evacuate/%s: not a request; ignored", host);
		json_decref(o);
		return;
	}
	v->reqs = xreallocarray(v->reqs, v->nreqs + 1, sizeof *v->reqs);
	r = &v->reqs[v->nreqs++];
	memset(r, 0, sizeof *r);
	snprintf(r->host, sizeof r->host, "%s", host);
	snprintf(r->mode, sizeof r->mode, "%s", mode);
	snprintf(r->by, sizeof r->by, "%s", by ? by : "");
	r->at = (int64_t)json_integer_value(json_object_get(o, "at"));
	json_decref(o);
}

/* Read a range answer over the whole prefix into v. */
static void
evac_view_load(struct evac_view *v, json_t *res)
{
	const char *pfx = ev.conf->fleet_prefix, *rest;
	size_t plen = strlen(pfx), i, vlen;
	const json_t *kv;
	struct record r;
	struct intent in;
	char *key, *val, err[256];
	int64_t crev;

	memset(v, 0, sizeof *v);
	log_debug("fleet: the fleet's state: %zu keys", json_array_size(
	    json_object_get(res, "kvs")));
	json_array_foreach(json_object_get(res, "kvs"), i, kv) {
		key = etcd_bytes(kv, "key", NULL);
		val = etcd_bytes(kv, "value", &vlen);
		if (key == NULL || val == NULL || strncmp(key, pfx, plen) != 0)
			goto next;
		rest = key + plen;
		if (strncmp(rest, "hosts/", 6) == 0) {
			record_init(&r);
			if (record_decode(&r, val, vlen, err, sizeof err) == 0 &&
			    strcmp(r.host_id, rest + 6) == 0) {
				v->hosts = xreallocarray(v->hosts,
				    v->nhosts + 1, sizeof *v->hosts);
				v->hosts[v->nhosts++] = r;
			} else {
				log_debug("fleet: %s: not a host record: %s",
				    key, err);
				record_clear(&r);
			}
		} else if (strncmp(rest, "evacuate/", 9) == 0) {
			evac_parse_req(v, rest + 9, val, vlen);
		} else if (strncmp(rest, "evac/", 5) == 0) {
			if (intent_decode(&in, val, vlen, err, sizeof err) ==
			    -1) {
				log_warnx("fleet: %s: bad intent: %s", key,
				    err);
				goto next;
			}
			v->ints = xreallocarray(v->ints, v->nints + 1,
			    sizeof *v->ints);
			v->ints[v->nints++] = in;
		} else if (strncmp(rest, "election/", 9) == 0) {
			crev = etcd_int(kv, "create_revision");
			if (ev.key[0] != '\0' && strcmp(key, ev.key) == 0)
				v->ours = 1;
			if (crev > 0 && (v->leader_rev == 0 ||
			    crev < v->leader_rev)) {
				v->leader_rev = crev;
				snprintf(v->leader, sizeof v->leader, "%s",
				    val);
				snprintf(v->leader_key, sizeof v->leader_key,
				    "%s", key);
			}
		}
next:
		free(key);
		free(val);
	}
	if (v->nhosts > 1)
		qsort(v->hosts, v->nhosts, sizeof *v->hosts, evac_host_cmp);
	if (v->nints > 1)
		qsort(v->ints, v->nints, sizeof *v->ints, evac_intent_cmp);
}

static const struct record *
evac_host(const struct evac_view *v, const char *id)
{
	size_t i;

	for (i = 0; i < v->nhosts; i++)
		if (strcmp(v->hosts[i].host_id, id) == 0)
			return &v->hosts[i];
	return NULL;
}

static const struct evac_req *
evac_req(const struct evac_view *v, const char *host)
{
	size_t i;

	for (i = 0; i < v->nreqs; i++)
		if (strcmp(v->reqs[i].host, host) == 0)
			return &v->reqs[i];
	return NULL;
}

static struct intent *
evac_intent(const struct evac_view *v, const char *source, const char *uuid)
{
	size_t i;

	for (i = 0; i < v->nints; i++)
		if (strcmp(v->ints[i].source, source) == 0 &&
		    strcmp(v->ints[i].uuid, uuid) == 0)
			return &v->ints[i];
	return NULL;
}

/* Whether host's record lists the VM, running. */
static int
evac_runs_on(const struct evac_view *v, const char *host, const char *uuid)
{
	const struct record *r = evac_host(v, host);
	size_t i;

	for (i = 0; r != NULL && i < r->nvms; i++)
		if (strcmp(r->vms[i].uuid, uuid) == 0)
			return strcmp(r->vms[i].state, "running") == 0 ? 1 : 2;
	return 0;
}

/*
 * Whether host is to be evacuated, and why: "operator" (asked), "health"
 * (its record says evacuate and no operator cancelled). NULL: not.
 */
static const char *
evac_marked(const struct evac_view *v, const char *host)
{
	const struct evac_req *q = evac_req(v, host);
	const struct record *r = evac_host(v, host);

	if (q != NULL && strcmp(q->mode, "evacuate") == 0)
		return "operator";
	if (q != NULL && strcmp(q->mode, "cancel") == 0)
		return NULL;
	if (r != NULL && strcmp(r->health, "evacuate") == 0)
		return "health";
	return NULL;
}

/* Whether a VM in this state is one to move. */
static int
evac_movable(const struct record_vm *vm)
{
	return strcmp(vm->state, "running") == 0 ||
	    strcmp(vm->state, "disconnected") == 0;
}

/*
 * The plan for source as it stands: an intent for each of its VMs, the
 * live ones (planned, migrating, done; failed unless asked again since)
 * as they are, the others planned now. hosts/reserved: the candidates
 * with the memory the live intents of every source promise them.
 */
static size_t
evac_plan_host(const struct evac_view *v, const char *source,
    struct intent **out)
{
	const struct record *src = evac_host(v, source);
	const struct evac_req *q = evac_req(v, source);
	const struct record_vm **vms;
	struct plan_host *hosts;
	struct intent *res = NULL, *old, in;
	size_t i, j, n = 0, nvms = 0;

	*out = NULL;
	if (src == NULL || src->nvms == 0)
		return 0;
	hosts = xcalloc(v->nhosts ? v->nhosts : 1, sizeof *hosts);
	for (i = 0; i < v->nhosts; i++) {
		hosts[i].r = &v->hosts[i];
		for (j = 0; j < v->nints; j++)
			if (intent_active(&v->ints[j]) && strcmp(
			    v->ints[j].dest, v->hosts[i].host_id) == 0)
				hosts[i].reserved += v->ints[j].memory;
	}
	vms = xcalloc(src->nvms, sizeof *vms);
	for (i = 0; i < src->nvms; i++)
		if (evac_movable(&src->vms[i]))
			vms[nvms++] = &src->vms[i];
	plan_sort_vms(vms, nvms);
	res = xcalloc(nvms ? nvms : 1, sizeof *res);
	for (i = 0; i < nvms; i++) {
		old = evac_intent(v, source, vms[i]->uuid);
		if (old != NULL && (intent_active(old) || strcmp(old->state,
		    INTENT_DONE) == 0 || (strcmp(old->state, INTENT_FAILED) ==
		    0 && (q == NULL || q->at <= old->updated)))) {
			res[n++] = *old;
			continue;
		}
		memset(&in, 0, sizeof in);
		snprintf(in.source, sizeof in.source, "%s", source);
		snprintf(in.uuid, sizeof in.uuid, "%s", vms[i]->uuid);
		snprintf(in.name, sizeof in.name, "%s", vms[i]->name);
		snprintf(in.arch, sizeof in.arch, "%s", vms[i]->arch);
		in.profile = vms[i]->profile;
		in.memory = vms[i]->memory;
		if (old != NULL)
			in.attempt = old->attempt;
		plan_place(hosts, v->nhosts, source, vms[i], &in);
		res[n++] = in;
	}
	free(vms);
	free(hosts);
	*out = res;
	return n;
}

/* --- the controller's writes ------------------------------------------- */

/* A round's writes: puts and deletes, and the children to start after. */
struct evac_round {
	struct evac_view v;	/* as read, for starting the moves */
	json_t *ops;
	struct intent *start;	/* moves to hand to libvirt once written */
	size_t nstart;
};

static void
evac_put_intent(struct evac_round *rd, struct intent *in)
{
	json_t *op, *old;
	const json_t *k;
	char key[512], *val;
	size_t i;

	in->updated = (int64_t)time(NULL);
	if ((val = intent_encode(in)) == NULL) {
		log_warnx("fleet: cannot encode the intent of %s", in->uuid);
		return;
	}
	snprintf(key, sizeof key, "%sevac/%s/%s", ev.conf->fleet_prefix,
	    in->source, in->uuid);
	op = json_pack("{s:o}", "request_put", etcd_put_op(key, val,
	    strlen(val), 0));
	free(val);
	/* etcd refuses a key twice in one transaction: the last word wins. */
	k = json_object_get(json_object_get(op, "request_put"), "key");
	json_array_foreach(rd->ops, i, old) {
		if (json_equal(json_object_get(json_object_get(old,
		    "request_put"), "key"), k)) {
			json_array_set_new(rd->ops, i, op);
			return;
		}
	}
	json_array_append_new(rd->ops, op);
}

/* Whether two intents say the same (what is worth a write). */
static int
evac_same(const struct intent *a, const struct intent *b)
{
	return strcmp(a->state, b->state) == 0 && strcmp(a->dest,
	    b->dest) == 0 && strcmp(a->reason, b->reason) == 0 &&
	    a->attempt == b->attempt;
}

static struct evac_child *
evac_child(const char *source, const char *uuid)
{
	struct evac_child *c;

	for (c = ev.children; c != NULL; c = c->next)
		if (strcmp(c->source, source) == 0 &&
		    strcmp(c->uuid, uuid) == 0)
			return c;
	return NULL;
}

static void
evac_child_free(struct evac_child *c)
{
	struct evac_child **pp;

	for (pp = &ev.children; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->fd != -1)
		close(c->fd);
	free(c);
}

/* A finished migration: done, or planned again, or failed for good. */
static void
evac_finish(struct evac_round *rd, const struct evac_view *v,
    struct intent *in, struct evac_child *c)
{
	struct intent was = *in;

	c->out[strcspn(c->out, "\n")] = '\0';
	if (c->status == EVAC_EXIT_OK || evac_runs_on(v, in->dest,
	    in->uuid) == 1) {
		snprintf(in->state, sizeof in->state, INTENT_DONE);
		in->reason[0] = '\0';
		log_info("fleet: %s (%s) moved from %s to %s", in->name,
		    in->uuid, in->source, in->dest);
	} else {
		snprintf(in->reason, sizeof in->reason, "attempt %u: %.400s",
		    in->attempt, c->out[0] ? c->out : "the migration failed");
		if (in->attempt >= INTENT_ATTEMPTS_MAX)
			snprintf(in->state, sizeof in->state, INTENT_FAILED);
		else {
			snprintf(in->state, sizeof in->state, INTENT_PLANNED);
			in->retry_at = (int64_t)time(NULL) +
			    EVAC_RETRY_S * (int64_t)in->attempt;
		}
		log_warnx("fleet: moving %s (%s) from %s to %s: %s%s",
		    in->name, in->uuid, in->source, in->dest, in->reason,
		    strcmp(in->state, INTENT_FAILED) == 0 ? "; giving up" :
		    "; will retry");
	}
	if (!evac_same(in, &was))
		evac_put_intent(rd, in);
	evac_child_free(c);
}

/* Whether a planned move's destination still takes it. */
static int
evac_dest_ok(const struct evac_view *v, const struct intent *in, char *why,
    size_t whylen)
{
	struct plan_host h;
	struct record_vm vm;

	memset(&h, 0, sizeof h);
	if ((h.r = evac_host(v, in->dest)) == NULL) {
		snprintf(why, whylen, "%s is gone", in->dest);
		return 0;
	}
	memset(&vm, 0, sizeof vm);
	snprintf(vm.arch, sizeof vm.arch, "%s", in->arch);
	vm.profile = in->profile;
	vm.memory = 1;		/* its memory is reserved there already */
	return plan_fits(&h, &vm, in->source, why, whylen) == 0;
}

/* Per-host and fleet counts of moves in libvirt's hands. */
static unsigned int
evac_moving(const struct evac_view *v, const char *source)
{
	unsigned int n = 0;
	size_t i;

	for (i = 0; i < v->nints; i++)
		if (strcmp(v->ints[i].state, INTENT_MIGRATING) == 0 &&
		    (source == NULL || strcmp(v->ints[i].source,
		    source) == 0))
			n++;
	return n;
}

/* Hand planned moves of one source to libvirt, as the limits allow. */
static void
evac_start_moves(struct evac_round *rd, struct evac_view *v, size_t *fleet)
{
	struct intent *in;
	unsigned int here;
	int64_t now = (int64_t)time(NULL);
	char why[256];
	size_t i;

	for (i = 0; i < v->nints && *fleet < ev.conf->fleet_evacuate_max;
	    i++) {
		in = &v->ints[i];
		if (strcmp(in->state, INTENT_PLANNED) != 0 ||
		    in->retry_at > now || !evac_marked(v, in->source))
			continue;
		here = evac_moving(v, in->source);
		if (here >= ev.conf->fleet_evacuate_per_host)
			continue;
		if (evac_runs_on(v, in->source, in->uuid) == 0)
			continue;	/* settled by the next round */
		if (!evac_dest_ok(v, in, why, sizeof why)) {
			snprintf(in->state, sizeof in->state, INTENT_REFUSED);
			snprintf(in->reason, sizeof in->reason, "planned "
			    "destination no longer valid: %s", why);
			evac_put_intent(rd, in);
			continue;
		}
		snprintf(in->state, sizeof in->state, INTENT_MIGRATING);
		in->attempt++;
		in->reason[0] = '\0';
		evac_put_intent(rd, in);
		rd->start = xreallocarray(rd->start, rd->nstart + 1,
		    sizeof *rd->start);
		rd->start[rd->nstart++] = *in;
		(*fleet)++;
	}
}

/*
 * Moves left migrating without a child of ours: a controller before us
 * started them, or our child ended. Settle them from the host records.
 */
static void
evac_settle(struct evac_round *rd, struct evac_view *v)
{
	struct evac_child *c;
	struct intent *in;
	size_t i;

	for (i = 0; i < v->nints; i++) {
		in = &v->ints[i];
		if (strcmp(in->state, INTENT_MIGRATING) != 0)
			continue;
		if ((c = evac_child(in->source, in->uuid)) != NULL) {
			if (c->done)
				evac_finish(rd, v, in, c);
			continue;
		}
		if (evac_runs_on(v, in->dest, in->uuid) == 1) {
			snprintf(in->state, sizeof in->state, INTENT_DONE);
			in->reason[0] = '\0';
			log_info("fleet: %s (%s) found running on %s: its "
			    "move is done", in->name, in->uuid, in->dest);
			evac_put_intent(rd, in);
		} else if (evac_runs_on(v, in->source, in->uuid) != 0 &&
		    evac_host(v, in->dest) != NULL) {
			/* Taken over: migrate it if libvirt did not. */
			if (in->attempt >= INTENT_ATTEMPTS_MAX) {
				snprintf(in->state, sizeof in->state,
				    INTENT_FAILED);
				snprintf(in->reason, sizeof in->reason, "still "
				    "on %s after %u attempts", in->source,
				    in->attempt);
				evac_put_intent(rd, in);
				continue;
			}
			in->attempt++;
			log_info("fleet: %s (%s) was migrating to %s under "
			    "an earlier controller and is still on %s: "
			    "attempt %u", in->name, in->uuid, in->dest,
			    in->source, in->attempt);
			evac_put_intent(rd, in);
			rd->start = xreallocarray(rd->start, rd->nstart + 1,
			    sizeof *rd->start);
			rd->start[rd->nstart++] = *in;
		}
	}
}

/* Plan, cancel and record, for every host with a reason to. */
static void
evac_plan_round(struct evac_round *rd, struct evac_view *v)
{
	struct intent *plan, *old;
	const char *why;
	size_t i, j, n;

	/* Cancel what no longer has a reason to move. */
	for (i = 0; i < v->nints; i++) {
		old = &v->ints[i];
		if (strcmp(old->state, INTENT_PLANNED) != 0 &&
		    strcmp(old->state, INTENT_REFUSED) != 0)
			continue;
		/* A source whose record is away (its lease lapsed): hold. */
		if (evac_host(v, old->source) == NULL)
			continue;
		if (evac_marked(v, old->source) != NULL &&
		    evac_runs_on(v, old->source, old->uuid) != 0)
			continue;
		if (evac_marked(v, old->source) == NULL)
			snprintf(old->reason, sizeof old->reason, "%s",
			    evac_req(v, old->source) != NULL ? "the operator "
			    "cancelled" : "the host is no longer to be "
			    "evacuated (healthy again)");
		else
			snprintf(old->reason, sizeof old->reason, "no longer "
			    "on %s", old->source);
		snprintf(old->state, sizeof old->state, INTENT_CANCELLED);
		log_info("fleet: move of %s (%s) off %s cancelled: %s",
		    old->name, old->uuid, old->source, old->reason);
		evac_put_intent(rd, old);
	}
	for (i = 0; i < v->nhosts; i++) {
		if ((why = evac_marked(v, v->hosts[i].host_id)) == NULL)
			continue;
		n = evac_plan_host(v, v->hosts[i].host_id, &plan);
		for (j = 0; j < n; j++) {
			old = evac_intent(v, plan[j].source, plan[j].uuid);
			if (old != NULL && evac_same(old, &plan[j]))
				continue;
			if (json_array_size(rd->ops) >= EVAC_OPS_MAX)
				break;
			if (strcmp(plan[j].state, INTENT_PLANNED) == 0)
				log_info("fleet: evacuating %s (%s): %s (%s) "
				    "goes to %s", plan[j].source, why,
				    plan[j].name, plan[j].uuid, plan[j].dest);
			else if (old == NULL || strcmp(old->reason,
			    plan[j].reason) != 0)
				log_warnx("fleet: evacuating %s (%s): %s (%s) "
				    "stays: %s", plan[j].source, why,
				    plan[j].name, plan[j].uuid,
				    plan[j].reason);
			evac_put_intent(rd, &plan[j]);
			/* The new intent counts in this round's view. */
			if (old != NULL)
				*old = plan[j];
			else {
				v->ints = xreallocarray(v->ints, v->nints + 1,
				    sizeof *v->ints);
				v->ints[v->nints++] = plan[j];
			}
		}
		free(plan);
	}
	/* An operator's cancel holds until the host is no longer marked. */
	for (i = 0; i < v->nreqs; i++) {
		const struct record *r = evac_host(v, v->reqs[i].host);
		char key[320], *k;

		if (strcmp(v->reqs[i].mode, "cancel") != 0 || (r != NULL &&
		    strcmp(r->health, "evacuate") == 0))
			continue;
		snprintf(key, sizeof key, "%sevacuate/%s",
		    ev.conf->fleet_prefix, v->reqs[i].host);
		k = etcd_b64(key, strlen(key));
		json_array_append_new(rd->ops, json_pack("{s:{s:s}}",
		    "request_delete_range", "key", k));
		free(k);
	}
}

/* --- migrations: a child process each ---------------------------------- */

static void
evac_child_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evac_child *c = arg;
	ssize_t n;
	int st;

	n = read(fd, c->out + c->outlen, sizeof c->out - 1 - c->outlen);
	if (n > 0) {
		c->outlen += (size_t)n;
		c->out[c->outlen] = '\0';
		if (c->outlen < sizeof c->out - 1)
			return;
	} else if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	event_del(c->ev);
	while (waitpid(c->pid, &st, 0) == -1 && errno == EINTR)
		;
	c->status = WIFEXITED(st) ? WEXITSTATUS(st) : EVAC_EXIT_FAIL;
	if (WIFSIGNALED(st))
		snprintf(c->out, sizeof c->out, "the migration worker died of "
		    "signal %d", WTERMSIG(st));
	c->done = 1;
}

/* Start one migration: rasd --fleet-migrate SRC DEST UUID FLAGS. */
static void
evac_spawn(const struct evac_view *v, const struct intent *in)
{
	const struct record *src = evac_host(v, in->source);
	const struct record *dst = evac_host(v, in->dest);
	struct evac_child *c = xcalloc(1, sizeof *c);
	int p[2];

	snprintf(c->source, sizeof c->source, "%s", in->source);
	snprintf(c->uuid, sizeof c->uuid, "%s", in->uuid);
	c->fd = -1;
	c->next = ev.children;
	ev.children = c;
	c->done = 1;
	c->status = EVAC_EXIT_FAIL;
	if (src == NULL || dst == NULL || src->libvirt_uri[0] == '\0' ||
	    dst->libvirt_uri[0] == '\0') {
		snprintf(c->out, sizeof c->out, "%s publishes no libvirt URI",
		    src == NULL || src->libvirt_uri[0] == '\0' ? in->source :
		    in->dest);
		return;
	}
	if (pipe2(p, O_CLOEXEC) == -1 || (c->pid = fork()) == -1) {
		snprintf(c->out, sizeof c->out, "cannot start the migration "
		    "worker: %s", strerror(errno));
		return;
	}
	if (c->pid == 0) {
		if (dup2(p[1], 1) == -1)
			_exit(127);
		execl("/proc/self/exe", "rasd", "--fleet-migrate",
		    src->libvirt_uri, dst->libvirt_uri, in->uuid,
		    ev.conf->fleet_migrate_unsafe ? "unsafe" : "safe",
		    (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	c->fd = p[0];
	c->done = 0;
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	if ((c->ev = event_new(ev.base, c->fd, EV_READ | EV_PERSIST,
	    evac_child_cb, c)) == NULL || event_add(c->ev, NULL) == -1)
		fatalx("fleet: cannot watch a migration worker");
	log_info("fleet: migrating %s (%s) from %s (%s) to %s (%s), attempt "
	    "%u, worker pid %d", in->name, in->uuid, in->source,
	    src->libvirt_uri, in->dest, dst->libvirt_uri, in->attempt,
	    (int)c->pid);
}

/* --- election and rounds ----------------------------------------------- */

static void
evac_stop_acting(const char *why)
{
	if (ev.acting)
		log_warnx("fleet: controller %s stops acting: %s", ev.id, why);
	ev.acting = 0;
}

static void
evac_failed(const char *what, const char *why)
{
	ev.fails++;
	ev.next_try = evac_now() + (ev.fails < 5 ? ev.fails : 5);
	if (ev.fails == 1 || ev.fails % 30 == 0)
		log_warnx("fleet: controller: %s failed (%s)", what, why);
}

/* The guarded transaction of a round went through, or not. */
static void
evac_round_cb(void *arg, int status, json_t *res, const char *why)
{
	struct evac_round *rd = arg;
	size_t i;

	ev.inflight = 0;
	if (status != ETCD_OK) {
		evac_failed("writing intents", why);
		goto out;
	}
	if (!json_is_true(json_object_get(res, "succeeded"))) {
		evac_stop_acting("our election key is gone (a guarded write "
		    "failed)");
		ev.rev = 0;	/* campaign again */
		goto out;
	}
	ev.fails = 0;
	/* Written: now, and only now, hand the moves to libvirt. */
	for (i = 0; i < rd->nstart; i++)
		evac_spawn(&rd->v, &rd->start[i]);
out:
	evac_view_free(&rd->v);
	json_decref(rd->ops);
	free(rd->start);
	free(rd);
}

/* The leader's round over the fleet it read (v is taken over). */
static void
evac_round(struct evac_view *v)
{
	struct evac_round *rd;
	json_t *txn, *cmp;
	size_t fleet;
	char rev[32], *k;

	rd = xcalloc(1, sizeof *rd);
	rd->ops = json_array();
	evac_settle(rd, v);
	evac_plan_round(rd, v);
	fleet = evac_moving(v, NULL);
	evac_start_moves(rd, v, &fleet);
	rd->v = *v;
	memset(v, 0, sizeof *v);
	if (json_array_size(rd->ops) == 0 && rd->nstart == 0) {
		evac_view_free(&rd->v);
		json_decref(rd->ops);
		free(rd);
		return;
	}
	snprintf(rev, sizeof rev, "%lld", (long long)ev.rev);
	k = etcd_b64(ev.key, strlen(ev.key));
	cmp = json_pack("{s:s, s:s, s:s, s:s}", "key", k, "target", "CREATE",
	    "result", "EQUAL", "create_revision", rev);
	free(k);
	txn = json_pack("{s:[o], s:O}", "compare", cmp, "success", rd->ops);
	ev.inflight = 1;
	etcd_call(ev.etcd, "/v3/kv/txn", txn, evac_round_cb, rd);
}

/* The fleet as read for a round: who leads, and if it is us, act. */
static void
evac_read_cb(void *arg, int status, json_t *res, const char *why)
{
	struct evac_view v;
	int lead;

	ev.inflight = 0;
	if (status != ETCD_OK) {
		evac_failed("reading the fleet", why);
		return;
	}
	ev.fails = 0;
	evac_view_load(&v, res);
	lead = ev.rev != 0 && v.leader_rev == ev.rev &&
	    strcmp(v.leader_key, ev.key) == 0 && evac_now() < ev.lease_until;
	if (lead && !ev.acting)
		log_info("fleet: controller %s acts (election key %s, "
		    "revision %lld)", ev.id, ev.key, (long long)ev.rev);
	else if (!lead && ev.acting)
		evac_stop_acting(v.leader[0] ? "another controller leads" :
		    "our election key is gone");
	else if (!lead && ev.rev != 0 && v.leader_rev != ev.rev &&
	    ev.fails == 0)
		log_debug("fleet: controller %s waits: %s acts", ev.id,
		    v.leader);
	ev.acting = lead;
	if (ev.rev != 0 && !v.ours)
		ev.rev = 0;	/* our key is gone: campaign again */
	if (ev.acting)
		evac_round(&v);
	evac_view_free(&v);
}

/* Campaign: our key on our lease, if it is not there already. */
static void
evac_campaign_cb(void *arg, int status, json_t *res, const char *why)
{
	const json_t *r;

	ev.inflight = 0;
	if (status != ETCD_OK) {
		evac_failed("campaigning", why);
		return;
	}
	if (json_is_true(json_object_get(res, "succeeded")))
		ev.rev = etcd_int(json_object_get(res, "header"), "revision");
	else {
		r = json_object_get(json_array_get(json_object_get(res,
		    "responses"), 0), "response_range");
		ev.rev = etcd_int(json_array_get(json_object_get(r, "kvs"),
		    0), "create_revision");
	}
	log_info("fleet: controller %s campaigns with %s (revision %lld)",
	    ev.id, ev.key, (long long)ev.rev);
}

static void
evac_campaign(void)
{
	json_t *txn, *cmp, *fail;
	char *k = etcd_b64(ev.key, strlen(ev.key));

	cmp = json_pack("{s:s, s:s, s:s, s:s}", "key", k, "target", "CREATE",
	    "result", "EQUAL", "create_revision", "0");
	fail = json_pack("{s:{s:s}}", "request_range", "key", k);
	txn = json_pack("{s:[o], s:[{s:o}], s:[o]}", "compare", cmp,
	    "success", "request_put", etcd_put_op(ev.key, ev.id,
	    strlen(ev.id), ev.lease), "failure", fail);
	free(k);
	ev.inflight = 1;
	etcd_call(ev.etcd, "/v3/kv/txn", txn, evac_campaign_cb, NULL);
}

static void
evac_grant_cb(void *arg, int status, json_t *res, const char *why)
{
	ev.inflight = 0;
	if (status != ETCD_OK || etcd_int(res, "ID") == 0) {
		evac_failed("granting the controller's lease", why ? why :
		    "no ID");
		return;
	}
	ev.fails = 0;
	ev.lease = etcd_int(res, "ID");
	ev.ttl = (double)etcd_int(res, "TTL");
	ev.lease_until = evac_now() + ev.ttl;
	ev.next_renew = evac_now() + ev.ttl / 3;
	ev.rev = 0;
	snprintf(ev.key, sizeof ev.key, "%s%llx", ev.pfx_elect,
	    (unsigned long long)ev.lease);
	evac_campaign();
}

static void
evac_renew_cb(void *arg, int status, json_t *res, const char *why)
{
	double sent = *(double *)arg;
	int64_t ttl;

	free(arg);
	ev.inflight = 0;
	if (status != ETCD_OK) {
		evac_failed("renewing the controller's lease", why);
		return;
	}
	if ((ttl = etcd_int(res, "TTL")) <= 0) {
		evac_stop_acting("our lease expired");
		ev.lease = 0;
		ev.rev = 0;
		return;
	}
	ev.fails = 0;
	ev.lease_until = sent + (double)ttl;
	ev.next_renew = evac_now() + (double)ttl / 3;
}

/* A lease we gave up: nothing to do either way. */
static void
evac_revoke_cb(void *arg, int status, json_t *res, const char *why)
{
}

/* Once a second: at most one request -- grant, campaign, renew or read. */
static void
evac_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	double now = evac_now(), *sent;

	if (ev.lease != 0 && now >= ev.lease_until) {
		evac_stop_acting("no lease renewal answered within its TTL");
		/* Give it up, should etcd still have it: our key goes. */
		etcd_lease_revoke(ev.etcd, ev.lease, evac_revoke_cb, NULL);
		ev.rev = 0;
		ev.lease = 0;
	}
	if (ev.inflight || now < ev.next_try)
		return;
	if (ev.lease == 0) {
		ev.inflight = 1;
		etcd_lease_grant(ev.etcd, ev.conf->fleet_ttl, evac_grant_cb,
		    NULL);
	} else if (now >= ev.next_renew) {
		ev.inflight = 1;
		sent = xcalloc(1, sizeof *sent);
		*sent = now;
		etcd_lease_keepalive(ev.etcd, ev.lease, evac_renew_cb, sent);
	} else if (ev.rev == 0)
		evac_campaign();
	else {
		ev.inflight = 1;
		etcd_range_prefix(ev.etcd, ev.conf->fleet_prefix,
		    evac_read_cb, NULL);
	}
}

/* --- operators' requests (any rasd with etcd) -------------------------- */

static void
evac_query_remove(struct evac_query *q)
{
	struct evac_query **pp;

	for (pp = &ev.queries; *pp != NULL; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	evac_view_free(&q->v);
	free(q);
}

static size_t
evac_notify_vec(uint32_t mask, uint32_t *out)
{
	unsigned int t;
	size_t n = 0;

	for (t = 0; t < RAS_NOTIFY_COUNT; t++)
		if (mask & RAS_NOTIFY_BIT(t))
			out[n++] = t;
	return n;
}

/* Answer with moves (their strings borrowed from ins). */
static void
evac_answer(struct evac_query *q, struct intent *ins, size_t n)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__FleetPlan fp = RAS__FLEET_PLAN__INIT;
	Ras__FleetMove *mv = xcalloc(n ? n : 1, sizeof *mv), **pm;
	Ras__FleetEvacHost *eh, **peh;
	const struct evac_view *v = &q->v;
	const char *why;
	size_t i, nh = 0;

	pm = xcalloc(n ? n : 1, sizeof *pm);
	for (i = 0; i < n; i++) {
		ras__fleet_move__init(&mv[i]);
		mv[i].source = ins[i].source;
		mv[i].uuid = ins[i].uuid;
		mv[i].name = ins[i].name;
		mv[i].dest = ins[i].dest;
		mv[i].state = ins[i].state;
		mv[i].reason = ins[i].reason;
		mv[i].arch = ins[i].arch;
		mv[i].has_attempt = mv[i].has_memory = mv[i].has_updated = 1;
		mv[i].attempt = ins[i].attempt;
		mv[i].memory = ins[i].memory;
		mv[i].updated = ins[i].updated;
		mv[i].profile = xcalloc(RAS_NOTIFY_COUNT, sizeof *mv[i].profile);
		mv[i].n_profile = evac_notify_vec(ins[i].profile,
		    mv[i].profile);
		pm[i] = &mv[i];
	}
	eh = xcalloc(v->nhosts + v->nreqs + 1, sizeof *eh);
	peh = xcalloc(v->nhosts + v->nreqs + 1, sizeof *peh);
	for (i = 0; i < v->nhosts; i++) {
		if ((why = evac_marked(v, v->hosts[i].host_id)) == NULL)
			continue;
		ras__fleet_evac_host__init(&eh[nh]);
		eh[nh].host = v->hosts[i].host_id;
		eh[nh].why = (char *)why;
		eh[nh].health = v->hosts[i].health;
		peh[nh] = &eh[nh];
		nh++;
	}
	for (i = 0; i < v->nreqs; i++) {
		if (evac_host(v, v->reqs[i].host) != NULL &&
		    evac_marked(v, v->reqs[i].host) != NULL)
			continue;
		ras__fleet_evac_host__init(&eh[nh]);
		eh[nh].host = v->reqs[i].host;
		eh[nh].why = strcmp(v->reqs[i].mode, "cancel") == 0 ?
		    "cancelled" : "operator (host down)";
		peh[nh] = &eh[nh];
		nh++;
	}
	fp.moves = pm;
	fp.n_moves = n;
	fp.hosts = peh;
	fp.n_hosts = nh;
	fp.controller = (char *)v->leader;
	fp.has_dry_run = 1;
	fp.dry_run = q->dry_run;
	fp.note = q->note;
	resp.id = q->id;
	resp.body_case = RAS__RESPONSE__BODY_FLEET_PLAN;
	resp.fleet_plan = &fp;
	server_send(q->c, &resp);
	for (i = 0; i < n; i++)
		free(mv[i].profile);
	free(mv);
	free(pm);
	free(eh);
	free(peh);
}

/* The intents of one host (all hosts: host ""), as etcd has them. */
static void
evac_answer_status(struct evac_query *q)
{
	struct intent *ins = xcalloc(q->v.nints + 1, sizeof *ins);
	size_t i, n = 0;

	for (i = 0; i < q->v.nints; i++)
		if (q->host[0] == '\0' || strcmp(q->v.ints[i].source,
		    q->host) == 0)
			ins[n++] = q->v.ints[i];
	evac_answer(q, ins, n);
	free(ins);
}

/* The request is in etcd (or not). */
static void
evac_put_cb(void *arg, int status, json_t *res, const char *why)
{
	struct evac_query *q = arg;
	struct intent *plan;
	size_t n;

	if (q->c == NULL)
		goto out;
	if (status != ETCD_OK) {
		server_error(q->c, q->id, RAS__ERROR_CODE__ERR_PEER,
		    "etcd: %s", why);
		goto out;
	}
	if (q->cancel) {
		snprintf(q->note, sizeof q->note, "evacuation of %s cancelled:"
		    " planned moves are called off, migrations under way "
		    "finish", q->host);
		q->dry_run = 0;
		evac_answer_status(q);
		goto out;
	}
	n = evac_plan_host(&q->v, q->host, &plan);
	evac_answer(q, plan, n);
	free(plan);
out:
	evac_query_remove(q);
}

/* The fleet is read: answer, or write the request first. */
static void
evac_query_cb(void *arg, int status, json_t *res, const char *why)
{
	struct evac_query *q = arg;
	struct evac_req fake, *saved, *r;
	struct intent *plan;
	char key[320], val[512];
	size_t n, nreqs;

	if (q->c == NULL)
		goto out;
	if (status != ETCD_OK) {
		server_error(q->c, q->id, RAS__ERROR_CODE__ERR_PEER,
		    "etcd: %s", why);
		goto out;
	}
	evac_view_load(&q->v, res);
	if (q->kind == EVAC_Q_STATUS) {
		evac_answer_status(q);
		goto out;
	}
	if (evac_host(&q->v, q->host) == NULL && !q->cancel) {
		server_error(q->c, q->id, RAS__ERROR_CODE__ERR_INVALID,
		    "no host \"%s\" is up in the fleet (rasctl fleet hosts)",
		    q->host);
		goto out;
	}
	if (q->dry_run) {
		/* As the controller would plan it, were the host marked. */
		memset(&fake, 0, sizeof fake);
		snprintf(fake.host, sizeof fake.host, "%s", q->host);
		strcpy(fake.mode, "evacuate");
		fake.at = (int64_t)time(NULL);
		saved = q->v.reqs;
		nreqs = q->v.nreqs;
		q->v.reqs = &fake;
		q->v.nreqs = 1;
		n = evac_plan_host(&q->v, q->host, &plan);
		snprintf(q->note, sizeof q->note, "dry run: nothing was "
		    "written");
		evac_answer(q, plan, n);
		q->v.reqs = saved;
		q->v.nreqs = nreqs;
		free(plan);
		goto out;
	}
	snprintf(key, sizeof key, "%sevacuate/%s", ev.conf->fleet_prefix,
	    q->host);
	snprintf(val, sizeof val, "{\"mode\":\"%s\",\"by\":\"%s\",\"at\":%lld}",
	    q->cancel ? "cancel" : "evacuate", ev.id,
	    (long long)time(NULL));
	if (!q->cancel)
		snprintf(q->note, sizeof q->note, "evacuation of %s requested;"
		    " the acting controller (%s) carries it out", q->host,
		    q->v.leader[0] ? q->v.leader : "none yet");
	log_info("fleet: the operator asks to %s %s", q->cancel ? "stop "
	    "evacuating" : "evacuate", q->host);
	/* The plan shown is the one made with the request in. */
	if ((r = (struct evac_req *)evac_req(&q->v, q->host)) == NULL) {
		q->v.reqs = xreallocarray(q->v.reqs, q->v.nreqs + 1,
		    sizeof *q->v.reqs);
		r = &q->v.reqs[q->v.nreqs++];
	}
	memset(r, 0, sizeof *r);
	snprintf(r->host, sizeof r->host, "%s", q->host);
	snprintf(r->mode, sizeof r->mode, "%s", q->cancel ? "cancel" :
	    "evacuate");
	r->at = (int64_t)time(NULL);
	etcd_txn(ev.etcd, json_pack("[o]", etcd_put_op(key, val, strlen(val),
	    0)), evac_put_cb, q);
	return;
out:
	evac_query_remove(q);
}

static struct evac_query *
evac_query_new(struct client *c, uint64_t id, int kind, const char *host)
{
	struct evac_query *q;

	if (ev.etcd == NULL) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID, "this rasd "
		    "has no fleet: etcd_endpoints is not set (rasd.conf(5))");
		return NULL;
	}
	if (host != NULL && (strlen(host) == 0 || strlen(host) >= 64 ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.-") != strlen(host))) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID, "bad host "
		    "id \"%.64s\"", host);
		return NULL;
	}
	q = xcalloc(1, sizeof *q);
	q->c = c;
	q->id = id;
	q->kind = kind;
	snprintf(q->host, sizeof q->host, "%s", host ? host : "");
	q->next = ev.queries;
	ev.queries = q;
	return q;
}

/* rasctl evacuate HOST [--dry-run | --cancel]. */
void
evac_request(struct client *c, uint64_t id, const Ras__FleetEvacuate *m)
{
	struct evac_query *q;

	if ((q = evac_query_new(c, id, EVAC_Q_REQUEST, m->host)) == NULL)
		return;
	q->dry_run = m->has_dry_run && m->dry_run;
	q->cancel = m->has_cancel && m->cancel;
	etcd_range_prefix(ev.etcd, ev.conf->fleet_prefix, evac_query_cb, q);
}

/* rasctl fleet status [HOST]. */
void
evac_status(struct client *c, uint64_t id, const Ras__FleetStatusQuery *m)
{
	struct evac_query *q;

	if ((q = evac_query_new(c, id, EVAC_Q_STATUS, m->host && m->host[0] ?
	    m->host : NULL)) == NULL)
		return;
	etcd_range_prefix(ev.etcd, ev.conf->fleet_prefix, evac_query_cb, q);
}

void
evac_forget_client(struct client *c)
{
	struct evac_query *q;

	for (q = ev.queries; q != NULL; q = q->next)
		if (q->c == c)
			q->c = NULL;
}

/* --- start and stop ---------------------------------------------------- */

int
evac_start(struct event_base *base, const struct rasd_config *conf,
    const char *host_id)
{
	struct timeval tv = { 0, EVAC_TICK_MS * 1000 };
	unsigned int timeout = conf->fleet_ttl / 3;

	ev.base = base;
	ev.conf = conf;
	snprintf(ev.id, sizeof ev.id, "%s", host_id);
	snprintf(ev.pfx_elect, sizeof ev.pfx_elect, "%selection/",
	    conf->fleet_prefix);
	timeout = timeout < 1 ? 1 : timeout > 5 ? 5 : timeout;
	if ((ev.etcd = etcd_new(base, conf->etcd_endpoints, timeout)) == NULL)
		return -1;
	if (!conf->fleet_controller)
		return 0;
	if ((ev.tick = event_new(base, -1, EV_PERSIST, evac_tick_cb,
	    NULL)) == NULL || event_add(ev.tick, &tv) == -1)
		fatalx("fleet: cannot add the controller's timer");
	log_info("fleet: controller %s campaigns under %s (at most %u "
	    "migrations per host, %u in the fleet)", ev.id, ev.pfx_elect,
	    conf->fleet_evacuate_per_host, conf->fleet_evacuate_max);
	return 0;
}

/*
 * Stop: migrations under way go on in libvirt (their workers are left to
 * finish); the election key goes with the lease, which is revoked if
 * etcd answers within the call's timeout, else runs out.
 */
void
evac_stop(void)
{
	struct evac_query *q;

	if (ev.tick != NULL)
		event_free(ev.tick);
	while (ev.children != NULL)
		evac_child_free(ev.children);
	while ((q = ev.queries) != NULL) {
		ev.queries = q->next;
		evac_view_free(&q->v);
		free(q);
	}
	etcd_free(ev.etcd);
	memset(&ev, 0, sizeof ev);
}
