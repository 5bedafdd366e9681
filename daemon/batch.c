/*
 * batch.c -- group commit of poison records.
 *
 * DESIGN: a forward is answered only once its record is durable. Rather
 * than one fsync per forward, every record decided during one turn of the
 * event loop joins the open batch, and a commit event -- activated when the
 * batch opens, so libevent runs it after the read callbacks already queued
 * in this turn -- writes the whole batch in one transaction and then sends
 * every answer. Under a burst (a DIMM failing under many VMs) the cost is
 * one fsync per loop turn, not per error. Nothing reaches memory or a VMM
 * before the commit succeeded; if it fails, every waiting VMM gets
 * ERR_STORE and may retry, and nothing acknowledged is lost.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "rasd.h"

static struct batch_entry *batch;
static size_t batch_n, batch_cap;
static struct event *batch_ev;

/* Commit event: flush the batch. */
static void
batch_commit_cb(evutil_socket_t fd, short what, void *arg)
{
	batch_flush();
}

/* Create the commit event on the daemon's loop. */
void
batch_init(struct event_base *base)
{
	batch_ev = event_new(base, -1, 0, batch_commit_cb, NULL);
	if (batch_ev == NULL)
		fatalx("event_new");
}

/* Release the batch (at shutdown, after a final flush). */
void
batch_free(void)
{
	if (batch_ev != NULL)
		event_free(batch_ev);
	batch_ev = NULL;
	free(batch);
	batch = NULL;
	batch_n = batch_cap = 0;
}

/* Add an entry to the open batch, opening it if needed. */
void
batch_add(const struct batch_entry *e)
{
	if (batch_n == batch_cap) {
		batch_cap = batch_cap ? batch_cap * 2 : 64;
		batch = xreallocarray(batch, batch_cap, sizeof *batch);
	}
	batch[batch_n++] = *e;
	if (batch_n == 1 && batch_ev != NULL)
		event_active(batch_ev, EV_TIMEOUT, 0);
}

/* A record in the open batch that covers this range with this kind. */
const struct batch_entry *
batch_find(const struct vm *vm, uint64_t gpa, uint64_t len, int kind)
{
	size_t i;

	for (i = 0; i < batch_n; i++) {
		const struct batch_entry *e = &batch[i];

		if (e->repeat || e->ev.vm != vm)
			continue;
		if (gpa >= e->ev.gpa && gpa - e->ev.gpa + len <= e->ev.len &&
		    e->ev.kind == kind)
			return e;
	}
	return NULL;
}

/* A client went away: its answers are dropped, its records still land. */
void
batch_forget_client(struct client *c)
{
	size_t i;

	for (i = 0; i < batch_n; i++)
		if (batch[i].client == c)
			batch[i].client = NULL;
}

/* Write the batch in one transaction, then answer everyone in it. */
int
batch_flush(void)
{
	struct store_event *evs;
	struct poison_range r;
	struct batch_entry *b;
	size_t i, n = 0, count = batch_n;
	int rc = 0;

	if (count == 0)
		return 0;
	/* Answers below may free clients; work on a private copy. */
	b = batch;
	batch = NULL;
	batch_n = batch_cap = 0;

	evs = xcalloc(count, sizeof *evs);
	for (i = 0; i < count; i++)
		if (!b[i].repeat)
			evs[n++] = b[i].ev;
	if (n > 0 && store_commit_events(evs, n) == -1)
		rc = -1;
	for (i = 0, n = 0; i < count; i++) {
		struct batch_entry *e = &b[i];

		if (!e->repeat && rc == 0) {
			e->ev.id = evs[n++].id;
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
	free(evs);
	free(b);
	return rc;
}
