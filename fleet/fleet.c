/*
 * fleet.c -- this host in the fleet's shared state, kept in etcd.
 *
 * DESIGN: with etcd_endpoints set, rasd publishes a record of its host
 * (fleet/record.c) under FLEET_PREFIX/hosts/HOST-ID, attached to a lease
 * of fleet_ttl seconds that it renews every third of that. A rasd that
 * dies stops renewing, and etcd drops the record when the lease runs out:
 * the fleet sees the host go without anyone having to notice. So that
 * its VMs are not forgotten with it, the same record is also written,
 * without a lease, under FLEET_PREFIX/held/HOST-ID whenever the set of
 * VMs changes: a held record without a hosts record is a host that is
 * gone, and its VMs are listed as unknown until it returns.
 *
 * Everything runs on rasd's loop and nothing waits for etcd: one timer
 * ticks twice a second, and each tick starts at most one request when
 * none is in flight -- grant a lease when there is none, renew it when
 * due, else publish the record if it changed (the tick is the debounce:
 * changes within it go out as one write). Free memory counts as a change
 * only when it moved by 64 MiB and 5%, so a steady host writes nothing
 * but its renewals. A request without an answer (etcd down, no leader)
 * backs off, doubling up to the lease's TTL (at most 30 s), and is
 * logged once when it starts failing and then once a minute; VMMs are
 * served as usual meanwhile. When etcd answers again the record is put
 * again whatever the cache says; a lease etcd no longer knows (it
 * expired while we could not reach it) is granted anew and the record
 * republished under it.
 *
 * `rasctl fleet hosts` is answered from one range read of the whole
 * prefix; the operator's connection may close before etcd answers, so
 * pending queries forget their client (fleet_forget_client).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "../daemon/rasd.h"
#include "etcd.h"
#include "evac.h"
#include "fleet.h"
#include "record.h"

#define FLEET_TICK_MS 500
#define FLEET_LOG_EVERY 60.0		/* s, between "still down" lines */
#define FLEET_BACKOFF_MAX 30.0		/* s */
#define FLEET_MEM_STEP (64ull << 20)	/* bytes: smaller moves are noise */

struct fleet_query {
	struct client *c;	/* NULL once it went away */
	uint64_t id;
	struct fleet_query *next;
};

static struct {
	struct event_base *base;
	const struct rasd_config *conf;
	struct etcd *etcd;
	struct event *tick;
	char host_id[64];
	char hostname[256];
	char key_host[320];	/* PREFIX hosts/ID */
	char key_held[320];	/* PREFIX held/ID */
	int64_t lease;		/* 0: none */
	double ttl;		/* s, as granted */
	int inflight;		/* a request of ours is out */
	int down;		/* the last request got no answer */
	unsigned int fails;	/* in a row */
	double backoff;		/* s */
	double next_try;	/* monotonic s: no request before */
	double next_renew;
	double last_log;
	char *published;	/* hosts record as put (no time), NULL: put */
	char *held;		/* VMs as put under held/, NULL: put */
	uint64_t mem;		/* MemAvailable as published */
	char **sent;		/* what the put in flight carries */
	char health[16];
	char *reasons[RECORD_REASONS_MAX];
	size_t nreasons;
	struct fleet_query *queries;
	int stopped;		/* after fleet_stop: keep nothing */
} fl;

/* Seconds on the monotonic clock. */
static double
fleet_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* /proc/meminfo's MemAvailable in bytes, 0 when it cannot be read. */
static uint64_t
fleet_mem_available(void)
{
	char line[256];
	unsigned long long kb = 0;
	FILE *f;

	if ((f = fopen("/proc/meminfo", "r")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

/* Copy text that came from VMMs or the host, bytes JSON cannot hold as '?'. */
static void
fleet_clean(char *dst, size_t cap, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < cap && src[i] != '\0'; i++)
		dst[i] = (unsigned char)src[i] < 0x20 ||
		    (unsigned char)src[i] >= 0x7f ? '?' : src[i];
	dst[i] = '\0';
}

/* This host's record as it is now. */
static void
fleet_build(struct record *r)
{
	const struct vm *vm;
	struct record_vm *rv;
	uint64_t mem, step;
	uint32_t mask;
	size_t i;

	record_init(r);
	snprintf(r->host_id, sizeof r->host_id, "%s", fl.host_id);
	fleet_clean(r->hostname, sizeof r->hostname, fl.hostname);
	fleet_clean(r->boot_id, sizeof r->boot_id, store_host());
	fleet_clean(r->libvirt_uri, sizeof r->libvirt_uri,
	    fl.conf->libvirt_uri);
	fleet_clean(r->peer, sizeof r->peer, fl.conf->peer_advertise);
	snprintf(r->health, sizeof r->health, "%s", fl.health[0] ?
	    fl.health : "unknown");
	for (i = 0; i < fl.nreasons; i++)
		record_add_reason(r, fl.reasons[i]);
	mem = fleet_mem_available();
	step = fl.mem / 20 > FLEET_MEM_STEP ? fl.mem / 20 : FLEET_MEM_STEP;
	r->mem_available = (mem > fl.mem ? mem - fl.mem : fl.mem - mem) >=
	    step ? mem : fl.mem;
	for (vm = vm_first(); vm != NULL; vm = vm->next_all) {
		if (vm->state == VM_MIGRATED)
			continue;
		if (vm->client != NULL)
			record_add_inject(r, ras_arch_name(vm->arch) ?
			    ras_arch_name(vm->arch) : "unknown", vm->caps);
		rv = record_add_vm(r);
		snprintf(rv->uuid, sizeof rv->uuid, "%s", vm->uuid_str);
		fleet_clean(rv->name, sizeof rv->name, vm->name);
		snprintf(rv->arch, sizeof rv->arch, "%s",
		    ras_arch_name(vm->arch) ? ras_arch_name(vm->arch) :
		    "unknown");
		snprintf(rv->state, sizeof rv->state, "%s",
		    vm_state_name(vm->state));
		rv->pinned = vm->pinned;
		for (i = 0, mask = 0; i < vm->profile.count; i++)
			if (vm->profile.src[i].notify < RAS_NOTIFY_COUNT)
				mask |= RAS_NOTIFY_BIT(
				    vm->profile.src[i].notify);
		rv->profile = mask;
		for (i = 0; i < vm->nslots; i++)
			rv->memory += vm->slots[i].size;
	}
}

/* The part of a record that goes under held/: who and which VMs. */
static char *
fleet_held_part(const struct record *r)
{
	struct record h;
	char *s;

	record_init(&h);
	memcpy(h.host_id, r->host_id, sizeof h.host_id);
	h.vms = r->vms;
	h.nvms = r->nvms;
	s = record_encode(&h, 0);
	return s;
}

/* Forget what was published: the next tick puts the record again. */
static void
fleet_forget_published(void)
{
	free(fl.published);
	free(fl.held);
	fl.published = fl.held = NULL;
}

/* A request got no answer or was refused: back off and log, rate-limited. */
static void
fleet_failed(int status, const char *what, const char *why)
{
	double now = fleet_now();

	fl.fails++;
	fl.backoff = fl.backoff == 0 ? 1 : fl.backoff * 2;
	if (fl.backoff > fl.ttl && fl.backoff > 2)
		fl.backoff = fl.ttl > 2 ? fl.ttl : 2;
	if (fl.backoff > FLEET_BACKOFF_MAX)
		fl.backoff = FLEET_BACKOFF_MAX;
	fl.next_try = now + fl.backoff;
	if (status == ETCD_DOWN && !fl.down) {
		fl.down = 1;
		fl.last_log = now;
		log_warnx("fleet: etcd does not answer (%s: %s); retrying "
		    "with backoff, VMMs are served as usual", what, why);
	} else if (fl.fails == 1 || now - fl.last_log >= FLEET_LOG_EVERY) {
		fl.last_log = now;
		log_warnx("fleet: %s failed %u time%s in a row (%s); next "
		    "try in %.0f s", what, fl.fails, fl.fails == 1 ? "" : "s",
		    why, fl.backoff);
	}
}

/* A request was answered: clear the backoff; after an outage, republish. */
static void
fleet_answered(void)
{
	if (fl.down) {
		log_info("fleet: etcd answers again at %s after %u failed "
		    "tr%s; republishing %s", etcd_endpoint(fl.etcd), fl.fails,
		    fl.fails == 1 ? "y" : "ies", fl.key_host);
		fleet_forget_published();
	}
	fl.down = 0;
	fl.fails = 0;
	fl.backoff = 0;
	fl.next_try = 0;
}

/* The record is in etcd (or not). */
static void
fleet_put_cb(void *arg, int status, json_t *res, const char *why)
{
	char **sent = arg;

	fl.inflight = 0;
	fl.sent = NULL;
	if (status != ETCD_OK) {
		/* etcd forgot the lease (it expired, or etcd lost its data). */
		if (status == ETCD_ERROR && strstr(why, "lease not found")) {
			log_warnx("fleet: lease %lld is gone (%s); granting a "
			    "new one", (long long)fl.lease, why);
			fl.lease = 0;
			fleet_answered();
		} else
			fleet_failed(status, "publishing the host record",
			    why);
		free(sent[0]);
		free(sent[1]);
		free(sent);
		return;
	}
	fleet_answered();
	if (fl.published == NULL)
		log_info("fleet: published %s (lease %lld)", fl.key_host,
		    (long long)fl.lease);
	else
		log_debug("fleet: republished %s", fl.key_host);
	free(fl.published);
	fl.published = sent[0];
	if (sent[1] != NULL) {
		free(fl.held);
		fl.held = sent[1];
	}
	free(sent);
}

/* Put the record if it changed since it was last put. */
static void
fleet_publish(void)
{
	struct record r;
	json_t *puts;
	char **sent, *cur, *held, *full;

	fleet_build(&r);
	cur = record_encode(&r, 0);
	held = fleet_held_part(&r);
	if (cur == NULL || held == NULL) {
		log_warnx("fleet: cannot encode the host record");
		goto out;
	}
	if (fl.published != NULL && strcmp(cur, fl.published) == 0 &&
	    fl.held != NULL && strcmp(held, fl.held) == 0)
		goto out;
	r.updated = (int64_t)time(NULL);
	if ((full = record_encode(&r, 1)) == NULL)
		goto out;
	puts = json_array();
	json_array_append_new(puts, etcd_put_op(fl.key_host, full,
	    strlen(full), fl.lease));
	sent = xcalloc(2, sizeof *sent);
	if (fl.held == NULL || strcmp(held, fl.held) != 0) {
		json_array_append_new(puts, etcd_put_op(fl.key_held, full,
		    strlen(full), 0));
		sent[1] = held;
		held = NULL;
	}
	free(full);
	sent[0] = cur;
	cur = NULL;
	fl.mem = r.mem_available;
	fl.inflight = 1;
	fl.sent = sent;
	etcd_txn(fl.etcd, puts, fleet_put_cb, sent);
out:
	free(cur);
	free(held);
	record_clear(&r);
}

/* A lease was granted (or not). */
static void
fleet_grant_cb(void *arg, int status, json_t *res, const char *why)
{
	int64_t id, ttl;

	fl.inflight = 0;
	if (status != ETCD_OK) {
		fleet_failed(status, "granting a lease", why);
		return;
	}
	id = etcd_int(res, "ID");
	ttl = etcd_int(res, "TTL");
	if (id == 0 || ttl <= 0) {
		fleet_failed(ETCD_ERROR, "granting a lease", "the answer has "
		    "no ID or TTL");
		return;
	}
	fleet_answered();
	fl.lease = id;
	fl.ttl = (double)ttl;
	fl.next_renew = fleet_now() + fl.ttl / 3;
	log_info("fleet: lease %lld granted by %s (TTL %lld s)",
	    (long long)id, etcd_endpoint(fl.etcd), (long long)ttl);
	fleet_forget_published();
	fleet_publish();
}

/* A renewal was answered: a TTL of 0 means etcd no longer has the lease. */
static void
fleet_renew_cb(void *arg, int status, json_t *res, const char *why)
{
	int64_t ttl;

	fl.inflight = 0;
	if (status != ETCD_OK) {
		fleet_failed(status, "renewing the lease", why);
		return;
	}
	fleet_answered();
	if ((ttl = etcd_int(res, "TTL")) <= 0) {
		log_warnx("fleet: lease %lld expired (etcd did not hear from "
		    "us in time); granting a new one and republishing",
		    (long long)fl.lease);
		fl.lease = 0;
		fleet_forget_published();
		return;
	}
	fl.next_renew = fleet_now() + (double)ttl / 3;
}

/* Twice a second: at most one request -- grant, renew, or publish. */
static void
fleet_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	double now = fleet_now();

	if (fl.inflight || now < fl.next_try)
		return;
	if (fl.lease == 0) {
		fl.inflight = 1;
		fl.ttl = fl.conf->fleet_ttl;
		etcd_lease_grant(fl.etcd, fl.conf->fleet_ttl, fleet_grant_cb,
		    NULL);
	} else if (now >= fl.next_renew) {
		fl.inflight = 1;
		etcd_lease_keepalive(fl.etcd, fl.lease, fleet_renew_cb, NULL);
	} else
		fleet_publish();
}

/*
 * Start publishing this host when etcd_endpoints is set. Returns -1 only
 * for a configuration that cannot work; etcd being down is not an error.
 */
int
fleet_start(struct event_base *base, const struct rasd_config *conf)
{
	struct timeval tv = { 0, FLEET_TICK_MS * 1000 };
	unsigned int timeout;

	/* fl.health may be set already: health starts first. */
	if (conf->etcd_endpoints[0] == '\0')
		return 0;
	fl.base = base;
	fl.conf = conf;
	if (gethostname(fl.hostname, sizeof fl.hostname - 1) == -1)
		strcpy(fl.hostname, "unknown");
	if (strcmp(conf->fleet_host_id, "auto") == 0) {
		/* The short host name: letters, digits, '.', '_', '-'. */
		fleet_clean(fl.host_id, sizeof fl.host_id, fl.hostname);
		fl.host_id[strcspn(fl.host_id, ".")] = '\0';
		if (fl.host_id[0] == '\0' || strspn(fl.host_id,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_-") != strlen(fl.host_id)) {
			log_warnx("fleet: the host name \"%s\" is no host id; "
			    "set fleet_host_id", fl.hostname);
			return -1;
		}
	} else
		snprintf(fl.host_id, sizeof fl.host_id, "%s",
		    conf->fleet_host_id);
	snprintf(fl.key_host, sizeof fl.key_host, "%shosts/%s",
	    conf->fleet_prefix, fl.host_id);
	snprintf(fl.key_held, sizeof fl.key_held, "%sheld/%s",
	    conf->fleet_prefix, fl.host_id);
	/* A request must end well before the lease needs renewing again. */
	timeout = conf->fleet_ttl / 3;
	timeout = timeout < 1 ? 1 : timeout > 5 ? 5 : timeout;
	if ((fl.etcd = etcd_new(base, conf->etcd_endpoints, timeout)) == NULL)
		return -1;
	fl.ttl = conf->fleet_ttl;
	fl.mem = fleet_mem_available();
	if ((fl.tick = event_new(base, -1, EV_PERSIST, fleet_tick_cb,
	    NULL)) == NULL || event_add(fl.tick, &tv) == -1)
		fatalx("fleet: cannot add the timer");
	log_info("fleet: publishing %s to etcd at %s (lease TTL %u s)",
	    fl.key_host, conf->etcd_endpoints, conf->fleet_ttl);
	return evac_start(base, conf, fl.host_id);
}

/*
 * Stop: pending requests are dropped. The lease is left to run out (no
 * waiting for etcd on the way down): the host leaves the fleet's view
 * fleet_ttl seconds later, its VMs stay listed under held/.
 */
void
fleet_stop(void)
{
	struct fleet_query *q;
	size_t i;

	evac_stop();
	if (fl.tick != NULL)
		event_free(fl.tick);
	etcd_free(fl.etcd);
	while ((q = fl.queries) != NULL) {
		fl.queries = q->next;
		free(q);
	}
	fleet_forget_published();
	if (fl.sent != NULL) {
		free(fl.sent[0]);
		free(fl.sent[1]);
		free(fl.sent);
	}
	for (i = 0; i < fl.nreasons; i++)
		free(fl.reasons[i]);
	memset(&fl, 0, sizeof fl);
	fl.stopped = 1;
}

/* Something in the record changed: publish at the next tick (debounced). */
void
fleet_changed(void)
{
	/* The tick compares what it would publish; nothing to do now. */
}

/*
 * The health hook: daemon/health.c calls it each time it judges the host
 * ("healthy", "degraded", "evacuate", with the reasons); until it first
 * does, the record says "unknown". The next tick publishes a change.
 */
void
fleet_health_set(const char *state, const char *const *reasons,
    size_t nreasons)
{
	size_t i;

	if (fl.stopped)
		return;
	for (i = 0; i < fl.nreasons; i++)
		free(fl.reasons[i]);
	fl.nreasons = 0;
	fleet_clean(fl.health, sizeof fl.health, state);
	for (i = 0; i < nreasons && i < RECORD_REASONS_MAX; i++) {
		char buf[1024];

		fleet_clean(buf, sizeof buf, reasons[i]);
		fl.reasons[fl.nreasons++] = xstrdup(buf);
	}
	fleet_changed();
}

/* --- rasctl fleet hosts ------------------------------------------------ */

/* A notification mask as a repeated enum (storage: RAS_NOTIFY_COUNT). */
static size_t
fleet_notify_vec(uint32_t mask, uint32_t *out)
{
	unsigned int t;
	size_t n = 0;

	for (t = 0; t < RAS_NOTIFY_COUNT; t++)
		if (mask & RAS_NOTIFY_BIT(t))
			out[n++] = t;
	return n;
}

/* One host's answer from its record; up: from hosts/, else from held/. */
static void
fleet_host_msg(Ras__FleetHost *h, const struct record *r, int up)
{
	Ras__FleetVm *vms;
	Ras__FleetInject *inj;
	size_t i;

	ras__fleet_host__init(h);
	h->host_id = xstrdup(r->host_id);
	h->up = up;
	h->hostname = xstrdup(r->hostname);
	h->boot_id = xstrdup(r->boot_id);
	h->libvirt_uri = xstrdup(r->libvirt_uri);
	h->peer = xstrdup(r->peer);
	h->health = xstrdup(up ? r->health : "unknown");
	h->has_self = 1;
	h->self = strcmp(r->host_id, fl.host_id) == 0;
	h->has_mem_available = h->has_updated = 1;
	h->mem_available = r->mem_available;
	h->updated = r->updated;
	if (up && r->nreasons > 0) {
		h->reasons = xcalloc(r->nreasons, sizeof *h->reasons);
		for (i = 0; i < r->nreasons; i++)
			h->reasons[i] = xstrdup(r->reasons[i]);
		h->n_reasons = r->nreasons;
	}
	if (up && r->ninject > 0) {
		h->inject = xcalloc(r->ninject, sizeof *h->inject);
		inj = xcalloc(r->ninject, sizeof *inj);
		for (i = 0; i < r->ninject; i++) {
			ras__fleet_inject__init(&inj[i]);
			inj[i].arch = xstrdup(r->inject[i].arch);
			inj[i].notify = xcalloc(RAS_NOTIFY_COUNT,
			    sizeof *inj[i].notify);
			inj[i].n_notify = fleet_notify_vec(
			    r->inject[i].notify, inj[i].notify);
			h->inject[i] = &inj[i];
		}
		h->n_inject = r->ninject;
	}
	if (r->nvms == 0)
		return;
	h->vms = xcalloc(r->nvms, sizeof *h->vms);
	vms = xcalloc(r->nvms, sizeof *vms);
	for (i = 0; i < r->nvms; i++) {
		ras__fleet_vm__init(&vms[i]);
		vms[i].uuid = xstrdup(r->vms[i].uuid);
		vms[i].name = xstrdup(r->vms[i].name);
		vms[i].arch = xstrdup(r->vms[i].arch);
		vms[i].state = xstrdup(up ? r->vms[i].state : "unknown");
		vms[i].profile_pinned = r->vms[i].pinned;
		vms[i].profile = xcalloc(RAS_NOTIFY_COUNT,
		    sizeof *vms[i].profile);
		vms[i].n_profile = fleet_notify_vec(r->vms[i].profile,
		    vms[i].profile);
		h->vms[i] = &vms[i];
	}
	h->n_vms = r->nvms;
}

/* Free what fleet_host_msg allocated. */
static void
fleet_host_msg_free(Ras__FleetHost *h)
{
	size_t i;

	free(h->host_id);
	free(h->hostname);
	free(h->boot_id);
	free(h->libvirt_uri);
	free(h->peer);
	free(h->health);
	for (i = 0; i < h->n_reasons; i++)
		free(h->reasons[i]);
	free(h->reasons);
	for (i = 0; i < h->n_inject; i++) {
		free(h->inject[i]->arch);
		free(h->inject[i]->notify);
	}
	if (h->n_inject > 0)
		free(h->inject[0]);
	free(h->inject);
	for (i = 0; i < h->n_vms; i++) {
		free(h->vms[i]->uuid);
		free(h->vms[i]->name);
		free(h->vms[i]->arch);
		free(h->vms[i]->state);
		free(h->vms[i]->profile);
	}
	if (h->n_vms > 0)
		free(h->vms[0]);
	free(h->vms);
}

/* Order hosts by id. */
static int
fleet_host_cmp(const void *a, const void *b)
{
	const Ras__FleetHost *x = *(Ras__FleetHost *const *)a;
	const Ras__FleetHost *y = *(Ras__FleetHost *const *)b;

	return strcmp(x->host_id, y->host_id);
}

/* Whether a live record exists for host_id among the first n hosts. */
static Ras__FleetHost *
fleet_find_host(Ras__FleetHost **hosts, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(hosts[i]->host_id, id) == 0)
			return hosts[i];
	return NULL;
}

/*
 * Turn a range answer over the prefix into the fleet's hosts: every
 * hosts/ record is a host that is up; a held/ record without one is a
 * host that is gone. Records that do not parse are logged and skipped.
 */
static size_t
fleet_collect(json_t *res, Ras__FleetHost ***out)
{
	Ras__FleetHost **hosts = NULL, *h;
	const json_t *kv;
	json_t *kvs = json_object_get(res, "kvs");
	size_t plen = strlen(fl.conf->fleet_prefix), n = 0, i, vlen, pass;
	struct record r;
	char *key, *val, err[256];
	const char *rest;
	int up;

	/* Live records first, so that a held/ record can see its host. */
	for (pass = 0; pass < 2; pass++) {
		json_array_foreach(kvs, i, kv) {
			key = etcd_bytes(kv, "key", NULL);
			val = etcd_bytes(kv, "value", &vlen);
			if (key == NULL || val == NULL ||
			    strncmp(key, fl.conf->fleet_prefix, plen) != 0)
				goto next;
			rest = key + plen;
			up = strncmp(rest, "hosts/", 6) == 0;
			if (up != (pass == 0) || (!up && strncmp(rest,
			    "held/", 5) != 0))
				goto next;
			record_init(&r);
			if (record_decode(&r, val, vlen, err, sizeof err) ==
			    -1) {
				log_warnx("fleet: %s: bad record: %s", key,
				    err);
			} else if (strcmp(r.host_id, rest + (up ? 6 : 5))) {
				log_warnx("fleet: %s holds the record of "
				    "\"%s\"; skipped", key, r.host_id);
			} else if (up || fleet_find_host(hosts, n,
			    r.host_id) == NULL) {
				hosts = xreallocarray(hosts, n + 1,
				    sizeof *hosts);
				h = xcalloc(1, sizeof *h);
				fleet_host_msg(h, &r, up);
				hosts[n++] = h;
			}
			record_clear(&r);
next:
			free(key);
			free(val);
		}
	}
	if (n > 1)
		qsort(hosts, n, sizeof *hosts, fleet_host_cmp);
	*out = hosts;
	return n;
}

/* Unlink a query. */
static void
fleet_query_remove(struct fleet_query *q)
{
	struct fleet_query **pp;

	for (pp = &fl.queries; *pp != NULL; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			return;
		}
}

/* etcd answered a query: send the hosts, or say why not. */
static void
fleet_range_cb(void *arg, int status, json_t *res, const char *why)
{
	struct fleet_query *q = arg;
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__FleetHosts fh = RAS__FLEET_HOSTS__INIT;
	Ras__FleetHost **hosts = NULL;
	size_t n = 0, i;

	fleet_query_remove(q);
	if (q->c == NULL)
		goto out;
	if (status != ETCD_OK) {
		server_error(q->c, q->id, RAS__ERROR_CODE__ERR_PEER,
		    "etcd: %s", why);
		goto out;
	}
	n = fleet_collect(res, &hosts);
	fh.hosts = hosts;
	fh.n_hosts = n;
	fh.etcd = (char *)etcd_endpoint(fl.etcd);
	fh.prefix = (char *)fl.conf->fleet_prefix;
	resp.id = q->id;
	resp.body_case = RAS__RESPONSE__BODY_FLEET_HOSTS;
	resp.fleet_hosts = &fh;
	server_send(q->c, &resp);
	for (i = 0; i < n; i++) {
		fleet_host_msg_free(hosts[i]);
		free(hosts[i]);
	}
	free(hosts);
out:
	free(q);
}

/* rasctl fleet hosts: read the prefix from etcd and answer later. */
void
fleet_query_hosts(struct client *c, uint64_t id)
{
	struct fleet_query *q;

	if (fl.etcd == NULL) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID, "this rasd "
		    "has no fleet: etcd_endpoints is not set (rasd.conf(5))");
		return;
	}
	q = xcalloc(1, sizeof *q);
	q->c = c;
	q->id = id;
	q->next = fl.queries;
	fl.queries = q;
	etcd_range_prefix(fl.etcd, fl.conf->fleet_prefix, fleet_range_cb, q);
}

/* A connection is going away: its pending queries answer no one. */
void
fleet_forget_client(struct client *c)
{
	struct fleet_query *q;

	for (q = fl.queries; q != NULL; q = q->next)
		if (q->c == c)
			q->c = NULL;
	evac_forget_client(c);
}
