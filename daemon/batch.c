/*
 * batch.c -- group commit of poison records.
 *
 * DESIGN: a forward is answered only once its record is durable. Rather
 * than one fsync per forward, every record decided while no commit could
 * start joins the open batch, and the whole batch is written in one
 * transaction; only then are its answers sent. Under a burst (a DIMM
 * failing under many VMs) the cost is one fsync per batch, not per error.
 * Nothing reaches memory or a VMM before the commit succeeded; if it
 * fails, every waiting VMM gets ERR_STORE and may retry, and nothing
 * acknowledged is lost.
 *
 * Two policies (commit_policy in rasd.conf):
 *
 *   pipelined (the default): the writer thread (writer.c) commits one
 *   batch at a time while the loop goes on reading, deciding and filling
 *   the next. The open batch is handed over at the end of the loop turn
 *   that opened it if the writer is idle, else the moment the writer's
 *   batch comes back -- which lands it (memory, then answers) after the
 *   next is on its way. A forward thus waits for at most the rest of the
 *   commit in flight and then its own: two commits, however busy.
 *
 *   inline: the loop commits the batch itself at the end of the turn
 *   that opened it and reads nothing meanwhile (one commit per loop
 *   turn; how rasd worked before the writer).
 *
 * A record is looked for (batch_find) in the batch in flight and in the
 * open one: a repeat of a range being recorded is answered with the
 * commit of the record it repeats -- never before it is durable.
 * batch_flush() lands everything, waiting for the writer: callers use it
 * before reading the store, before a write that must follow the records
 * (a reset retires them), and at shutdown, so that every waiting forward
 * is answered or failed before rasd exits.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "metrics.h"
#include "rasd.h"

/* Entries handed to the store together, and their records. */
struct batch_flight {
	struct batch_entry *e;
	size_t n, cap;
	struct store_event *evs;	/* the records (non-repeat entries) */
	size_t nevs;
	struct store_batch *sb;
};

static struct batch_entry *batch;	/* the open batch */
static size_t batch_n, batch_cap;
static struct batch_flight *batch_inflight;	/* with the writer */
static struct event *batch_ev;
static int batch_pipelined;

static int batch_commit_open(void);

/* Append an entry to an array. */
static void
batch_push(struct batch_entry **a, size_t *n, size_t *cap,
    const struct batch_entry *e)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*a = xreallocarray(*a, *cap, sizeof **a);
	}
	(*a)[(*n)++] = *e;
}

/* Commit event, at the end of the turn that opened the batch. */
static void
batch_commit_cb(evutil_socket_t fd, short what, void *arg)
{
	if (batch_inflight == NULL && batch_n > 0)
		batch_commit_open();
}

/* Apply a committed batch to memory and answer everyone in it. */
static int
batch_land(struct batch_flight *f)
{
	struct poison_range r;
	struct batch_entry *e;
	double seconds = 0;
	size_t i, k;
	int rc = 0;

	if (f->nevs > 0) {
		rc = store_batch_result(f->sb, &seconds);
		metrics_commit(f->nevs, seconds, rc == 0);
	}
	for (i = 0, k = 0; i < f->n; i++) {
		e = &f->e[i];
		if (!e->repeat && rc == 0) {
			e->ev.id = f->evs[k++].id;
			memset(&r, 0, sizeof r);
			r.gpa = e->ev.gpa;
			r.len = e->ev.len;
			r.kind = e->ev.kind;
			r.action = e->ev.action;
			r.notify = e->ev.notify;
			r.source_id = e->ev.source_id;
			r.first_seen = e->ev.time;
			r.records = 1;
			poison_add(&e->ev.vm->active, &r);
			e->ev.vm->history_count++;
			e->ev.vm->last_forward_id = e->ev.id;
			e->ev.vm->last_forward_time = e->ev.time;
			virt_vm_changed(e->ev.vm);
			health_forward(e->ev.vm, e->ev.kind, e->ev.time);
			log_info("vm %s: %s poison at gpa 0x%llx+0x%llx -> %s "
			    "%s", e->ev.vm->name, ras_kind_name(e->ev.kind),
			    (unsigned long long)e->ev.gpa,
			    (unsigned long long)e->ev.len,
			    ras_action_name(e->ev.action),
			    e->ev.notify == RAS_NOTIFY_NONE ? "" :
			    ras_notify_name(e->ev.notify));
		}
		if (e->client == NULL)
			continue;
		if (rc == -1)
			server_error(e->client, e->req_id,
			    RAS__ERROR_CODE__ERR_STORE,
			    "poison at gpa 0x%llx not recorded: %s; retry",
			    (unsigned long long)e->ev.gpa, store_error());
		else
			vmm_send_decision(e->client, e->req_id, e);
	}
	store_batch_free(f->sb);
	free(f->evs);
	free(f->e);
	free(f);
	return rc;
}

/*
 * Close the open batch and start its commit: with the writer (it lands
 * when the writer gives it back), or here and now (inline). Returns the
 * commit's result when it landed here, else 0.
 */
static int
batch_commit_open(void)
{
	struct batch_flight *f = xcalloc(1, sizeof *f);
	size_t i;

	f->e = batch;
	f->n = batch_n;
	f->cap = batch_cap;
	batch = NULL;
	batch_n = batch_cap = 0;
	f->evs = xcalloc(f->n, sizeof *f->evs);
	for (i = 0; i < f->n; i++)
		if (!f->e[i].repeat)
			f->evs[f->nevs++] = f->e[i].ev;
	f->sb = store_batch_new(f->evs, f->nevs);
	if (f->nevs > 0 && batch_pipelined) {
		batch_inflight = f;
		writer_submit(f->sb);
		return 0;
	}
	if (f->nevs > 0)
		store_batch_commit(f->sb);
	return batch_land(f);
}

/* The writer gave a batch back: send the next, then land this one. */
static void
batch_written(void)
{
	struct batch_flight *f = batch_inflight;

	if (f == NULL || writer_take(0) == NULL)
		return;
	batch_inflight = NULL;
	if (batch_n > 0)
		batch_commit_open();
	batch_land(f);
}

/* Create the commit event on the daemon's loop; start the writer. */
void
batch_init(struct event_base *base)
{
	batch_ev = event_new(base, -1, 0, batch_commit_cb, NULL);
	if (batch_ev == NULL)
		fatalx("event_new");
	batch_pipelined = rasd_conf == NULL ||
	    rasd_conf->commit_policy == COMMIT_PIPELINED;
	if (batch_pipelined && writer_start(base, batch_written) == -1)
		fatalx("commit_policy pipelined: the writer thread cannot "
		    "run; commit_policy inline does without");
	log_info("store: commit_policy %s", batch_pipelined ?
	    "pipelined (a writer thread commits)" :
	    "inline (the loop commits)");
}

/* Release the batch (at shutdown, after a final flush). */
void
batch_free(void)
{
	batch_flush();
	writer_stop();
	if (batch_ev != NULL)
		event_free(batch_ev);
	batch_ev = NULL;
	free(batch);
	batch = NULL;
	batch_n = batch_cap = 0;
}

/* The entry of a record being committed or waiting to be. */
static struct batch_entry *
batch_lookup(const struct vm *vm, uint64_t gpa, uint64_t len, int kind,
    int *inflight)
{
	struct batch_flight *f = batch_inflight;
	struct batch_entry *a;
	size_t i, n;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		a = pass == 0 ? (f != NULL ? f->e : NULL) : batch;
		n = pass == 0 ? (f != NULL ? f->n : 0) : batch_n;
		for (i = 0; i < n; i++) {
			struct batch_entry *e = &a[i];

			if (e->repeat || e->ev.vm != vm)
				continue;
			if (gpa >= e->ev.gpa && gpa - e->ev.gpa + len <=
			    e->ev.len && e->ev.kind == kind) {
				*inflight = pass == 0;
				return e;
			}
		}
	}
	return NULL;
}

/* Add an entry to the open batch, opening it if needed. */
void
batch_add(const struct batch_entry *e)
{
	const struct batch_entry *p;
	struct batch_flight *f = batch_inflight;
	int inflight = 0;

	/* A repeat of a record in flight is answered with that record,
	 * found the way vmm_forward found it (batch_find). */
	if (e->repeat && f != NULL) {
		p = batch_lookup(e->ev.vm, e->ev.gpa, e->ev.len, e->ev.kind,
		    &inflight);
		if (p == NULL && e->ev.kind == RAS_KIND_AO)
			p = batch_lookup(e->ev.vm, e->ev.gpa, e->ev.len,
			    RAS_KIND_AR, &inflight);
		if (p != NULL && inflight) {
			batch_push(&f->e, &f->n, &f->cap, e);
			return;
		}
	}
	batch_push(&batch, &batch_n, &batch_cap, e);
	if (batch_n == 1 && batch_ev != NULL)
		event_active(batch_ev, EV_TIMEOUT, 0);
}

/* A record in flight or in the open batch covering this range, kind. */
const struct batch_entry *
batch_find(const struct vm *vm, uint64_t gpa, uint64_t len, int kind)
{
	int inflight;

	return batch_lookup(vm, gpa, len, kind, &inflight);
}

/* A client went away: its answers are dropped, its records still land. */
void
batch_forget_client(struct client *c)
{
	size_t i;

	for (i = 0; i < batch_n; i++)
		if (batch[i].client == c)
			batch[i].client = NULL;
	if (batch_inflight != NULL)
		for (i = 0; i < batch_inflight->n; i++)
			if (batch_inflight->e[i].client == c)
				batch_inflight->e[i].client = NULL;
}

/*
 * Land every record decided so far: the batch with the writer, then the
 * open one. Returns -1 if a commit failed (store_error() says why).
 */
int
batch_flush(void)
{
	struct batch_flight *f;
	int rc = 0;

	for (;;) {
		if ((f = batch_inflight) != NULL) {
			writer_take(1);
			batch_inflight = NULL;
			if (batch_land(f) == -1)
				rc = -1;
		} else if (batch_n > 0) {
			if (batch_commit_open() == -1)
				rc = -1;
		} else
			break;
	}
	return rc;
}
