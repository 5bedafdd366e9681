/*
 * control.c -- operator queries: VM list, VM detail, poison list, history.
 * The server has already checked the peer may use them.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rasd.h"

/* A list-poison page, packed: rasctl takes frames up to 16 MiB. */
#define CONTROL_PAGE_BUDGET (4u << 20)

/* Fill a VmInfo; arrays point into vec, which the caller frees. */
static void
control_vm_info(const struct vm *vm, Ras__VmInfo *vi, int with_slots)
{
	const struct virt_domain *dom;
	Ras__Source **srcs, *src;
	Ras__Slot **slots, *slot;
	unsigned int i;

	ras__vm_info__init(vi);
	vi->uuid.data = (uint8_t *)vm->uuid;
	vi->uuid.len = 16;
	vi->name = (char *)vm->name;
	vi->arch = (uint32_t)vm->arch;
	vi->state = (char *)vm_state_name(vm->state);
	vi->pid = vm->client != NULL ? vm->pid : 0;	/* 0: no VMM now */
	vi->generation = vm->generation;
	vi->profile_pinned = vm->pinned;
	vi->caps = vm->caps;
	vi->active_ranges = (uint32_t)vm->active.n;
	vi->active_bytes = poison_bytes(&vm->active);
	vi->history_count = vm->history_count;
	vi->has_unrecorded = vm->unrecorded != 0;
	vi->unrecorded = vm->unrecorded;
	if (vm->arch == RAS_ARCH_X86_64) {
		vi->has_cpu_vendor = 1;
		vi->cpu_vendor = vm->cpu_vendor;
	}
	vi->has_observing = 1;
	vi->observing = vm->observing;
	if (vm->held_since != 0) {
		vi->has_held_since = vi->has_held_addr = 1;
		vi->held_since = vm->held_since;
		vi->held_addr = vm->held_addr;
	}
	if (vm->released != 0) {
		vi->has_released = 1;
		vi->released = vm->released;
	}
	if (vm->rearm_failed != 0) {
		vi->has_rearm_failed = 1;
		vi->rearm_failed = vm->rearm_failed;
	}
	if ((dom = virt_find_domain(vm->uuid)) != NULL)
		vi->libvirt_state = (char *)dom->state;
	if (vm->profile.count == 0)
		goto slots;
	srcs = xcalloc(vm->profile.count, sizeof *srcs);
	src = xcalloc(vm->profile.count, sizeof *src);
	for (i = 0; i < vm->profile.count; i++) {
		ras__source__init(&src[i]);
		src[i].source_id = vm->profile.src[i].source_id;
		src[i].notify = vm->profile.src[i].notify;
		if (vm->profile.src[i].hest_type != 0xff) {
			src[i].has_hest_type = 1;
			src[i].hest_type = vm->profile.src[i].hest_type;
		}
		srcs[i] = &src[i];
	}
	vi->n_profile = vm->profile.count;
	vi->profile = srcs;
slots:
	if (!with_slots || vm->nslots == 0)
		return;
	slots = xcalloc(vm->nslots, sizeof *slots);
	slot = xcalloc(vm->nslots, sizeof *slot);
	for (i = 0; i < vm->nslots; i++) {
		ras__slot__init(&slot[i]);
		slot[i].gpa = vm->slots[i].gpa;
		slot[i].hva = vm->slots[i].hva;
		slot[i].size = vm->slots[i].size;
		slots[i] = &slot[i];
	}
	vi->n_slots = vm->nslots;
	vi->slots = slots;
}

/* Free what control_vm_info allocated. */
static void
control_vm_info_free(Ras__VmInfo *vi)
{
	if (vi->n_profile > 0)
		free(vi->profile[0]);
	free(vi->profile);
	if (vi->n_slots > 0)
		free(vi->slots[0]);
	free(vi->slots);
}

/* Answer ListVms: rasd's VMs joined with libvirt's domains. */
static void
control_list_vms(struct client *c, uint64_t id)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__VmList list = RAS__VM_LIST__INIT;
	Ras__VmInfo *vi, **vis;
	const struct virt_domain *doms;
	struct vm *vm;
	size_t i, j, nrasd, ndoms = virt_domains(&doms), n;

	n = vm_count() + ndoms;
	vi = xcalloc(n, sizeof *vi);
	vis = xcalloc(n, sizeof *vis);
	for (vm = vm_first(), i = 0; vm != NULL && i < n;
	    vm = vm->next_all, i++) {
		control_vm_info(vm, &vi[i], 0);
		vis[i] = &vi[i];
	}
	nrasd = i;
	/* Domains no VMM ever registered: not covered by rasd. */
	for (j = 0; j < ndoms && i < n; j++) {
		if (vm_find_uuid(doms[j].uuid) != NULL)
			continue;
		ras__vm_info__init(&vi[i]);
		vi[i].uuid.data = (uint8_t *)doms[j].uuid;
		vi[i].uuid.len = 16;
		vi[i].name = (char *)doms[j].name;
		vi[i].state = "not-covered";
		vi[i].libvirt_state = (char *)doms[j].state;
		vi[i].has_registered = 1;
		vi[i].registered = 0;
		vis[i] = &vi[i];
		i++;
	}
	list.n_vms = i;
	list.vms = vis;
	resp.id = id;
	resp.body_case = RAS__RESPONSE__BODY_VM_LIST;
	resp.vm_list = &list;
	server_send(c, &resp);
	while (nrasd-- > 0)
		control_vm_info_free(&vi[nrasd]);
	free(vis);
	free(vi);
}

/* Answer a show-vm query. */
static void
control_show_vm(struct client *c, uint64_t id, struct vm *vm)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__VmInfo vi;

	control_vm_info(vm, &vi, 1);
	resp.id = id;
	resp.body_case = RAS__RESPONSE__BODY_VM_INFO;
	resp.vm_info = &vi;
	server_send(c, &resp);
	control_vm_info_free(&vi);
}

/* One kind's decision of a range into its PoisonRange fields. */
static void
control_decision(const struct poison_decision *d, protobuf_c_boolean *has_a,
    uint32_t *action, protobuf_c_boolean *has_n, uint32_t *notify,
    protobuf_c_boolean *has_s, uint32_t *source_id)
{
	if (d->action == 0)
		return;
	*has_a = 1;
	*action = d->action;
	if (d->notify != RAS_NOTIFY_NONE) {
		*has_n = *has_s = 1;
		*notify = d->notify;
		*source_id = d->source_id;
	}
}

/* The wire form of one active range. */
static void
control_range(const struct poison_range *r, Ras__PoisonRange *pr)
{
	ras__poison_range__init(pr);
	pr->gpa = r->gpa;
	pr->length = r->len;
	pr->kind = r->kind;
	pr->action = r->action;
	if (r->notify != RAS_NOTIFY_NONE) {
		pr->has_notify = pr->has_source_id = 1;
		pr->notify = r->notify;
		pr->source_id = r->source_id;
	}
	pr->first_seen = r->first_seen;
	pr->records = r->records;
	control_decision(&r->ar, &pr->has_ar_action, &pr->ar_action,
	    &pr->has_ar_notify, &pr->ar_notify, &pr->has_ar_source_id,
	    &pr->ar_source_id);
	control_decision(&r->ao, &pr->has_ao_action, &pr->ao_action,
	    &pr->has_ao_notify, &pr->ao_notify, &pr->has_ao_source_id,
	    &pr->ao_source_id);
}

/*
 * The wire form of a VM's active ranges from it on: at most max of them,
 * and no more than fit in budget bytes once packed as a repeated field
 * (every answer is one frame); it is left at the first range not taken.
 * Returns how many; free *prs and *storage with free().
 */
size_t
control_ranges(struct poison_iter *it, size_t max, size_t budget,
    Ras__PoisonRange ***prs, Ras__PoisonRange **storage)
{
	Ras__PoisonRange *pr = NULL, **pp;
	struct poison_range r;
	struct poison_iter at;
	size_t i, n = 0, cap = 0, used = 0, sz;

	while (n < max) {
		at = *it;
		if (!poison_next(it, &r))
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			pr = xreallocarray(pr, cap, sizeof *pr);
		}
		control_range(&r, &pr[n]);
		/* tag, length prefix (< 128 bytes: one byte), message */
		sz = 2 + ras__poison_range__get_packed_size(&pr[n]);
		if (used + sz > budget && n > 0) {
			*it = at;
			break;
		}
		used += sz;
		n++;
	}
	if (pr == NULL)
		pr = xcalloc(1, sizeof *pr);
	pp = xcalloc(n ? n : 1, sizeof *pp);
	for (i = 0; i < n; i++)
		pp[i] = &pr[i];
	*storage = pr;
	*prs = pp;
	return n;
}

/*
 * Answer list-poison from the VM's in-memory range set: all of it, or
 * with a page limit the ranges from from_gpa on, as many as one page
 * holds (rasctl asks again from the end of the last one).
 */
static void
control_list_poison(struct client *c, uint64_t id, struct vm *vm,
    const Ras__VmQuery *q)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__PoisonList pl = RAS__POISON_LIST__INIT;
	Ras__PoisonRange *pr, **prs;
	struct poison_iter it;
	size_t max = SIZE_MAX, budget = SIZE_MAX;

	poison_seek(&vm->active, q->has_page_limit && q->has_from_gpa ?
	    q->from_gpa : 0, &it);
	if (q->has_page_limit) {
		max = q->page_limit > 0 ? q->page_limit : 1;
		budget = CONTROL_PAGE_BUDGET;
	}
	pl.n_ranges = control_ranges(&it, max, budget, &prs, &pr);
	pl.uuid.data = vm->uuid;
	pl.uuid.len = 16;
	pl.name = vm->name;
	pl.ranges = prs;
	resp.id = id;
	resp.body_case = RAS__RESPONSE__BODY_POISON_LIST;
	resp.poison_list = &pl;
	server_send(c, &resp);
	free(prs);
	free(pr);
}

struct control_hist {
	Ras__PoisonEvent *ev;
	size_t n, cap;
};

/* Collect one history row. */
static int
control_history_row(void *arg, uint64_t rid, uint64_t gpa, uint64_t len,
    int kind, int action, int notify, int source_id, int64_t t,
    const char *host, const char *origin, int active)
{
	struct control_hist *h = arg;
	Ras__PoisonEvent *e;

	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->ev = xreallocarray(h->ev, h->cap, sizeof *h->ev);
	}
	e = &h->ev[h->n++];
	ras__poison_event__init(e);
	e->id = rid;
	e->gpa = gpa;
	e->length = len;
	e->kind = (uint32_t)kind;
	e->action = (uint32_t)action;
	if (notify >= 0) {
		e->has_notify = 1;
		e->notify = (uint32_t)notify;
	}
	if (source_id >= 0) {
		e->has_source_id = 1;
		e->source_id = (uint32_t)source_id;
	}
	e->time = t;
	e->host = xstrdup(host != NULL ? host : "");
	e->origin = xstrdup(origin != NULL ? origin : "");
	e->active = active != 0;
	return 0;
}

/* Answer history from the store (the VM's own index range only). */
static void
control_history(struct client *c, uint64_t id, struct vm *vm)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__HistoryList hl = RAS__HISTORY_LIST__INIT;
	struct control_hist h = { NULL, 0, 0 };
	Ras__PoisonEvent **evs;
	size_t i;

	if (batch_flush() == -1 ||
	    store_history(vm, control_history_row, &h) == -1) {
		server_error(c, id, RAS__ERROR_CODE__ERR_STORE,
		    "history of VM %s unreadable: %s", vm->name,
		    store_error());
		goto out;
	}
	evs = xcalloc(h.n, sizeof *evs);
	for (i = 0; i < h.n; i++)
		evs[i] = &h.ev[i];
	hl.uuid.data = vm->uuid;
	hl.uuid.len = 16;
	hl.name = vm->name;
	hl.n_events = h.n;
	hl.events = evs;
	resp.id = id;
	resp.body_case = RAS__RESPONSE__BODY_HISTORY;
	resp.history = &hl;
	server_send(c, &resp);
	free(evs);
out:
	for (i = 0; i < h.n; i++) {
		free(h.ev[i].host);
		free(h.ev[i].origin);
	}
	free(h.ev);
}

/* Collect one libvirt memory-failure event. */
static int
control_vevent_row(void *arg, uint64_t rid, int64_t t, int recipient,
    int action, unsigned int flags, uint64_t forward_id, uint64_t gpa)
{
	Ras__EventList *el = arg;
	Ras__LibvirtEvent *e;

	el->events = xreallocarray(el->events, el->n_events + 1,
	    sizeof *el->events);
	e = xcalloc(1, sizeof *e);
	ras__libvirt_event__init(e);
	e->id = rid;
	e->time = t;
	e->recipient = (uint32_t)recipient;
	e->action = (uint32_t)action;
	e->flags = flags;
	if (forward_id != 0) {
		e->has_forward_id = e->has_gpa = 1;
		e->forward_id = forward_id;
		e->gpa = gpa;
	}
	el->events[el->n_events++] = e;
	return 0;
}

/* Answer the libvirt memory-failure events of a VM. */
static void
control_events(struct client *c, uint64_t id, struct vm *vm)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__EventList el = RAS__EVENT_LIST__INIT;
	size_t i;

	el.uuid.data = vm->uuid;
	el.uuid.len = 16;
	el.name = vm->name;
	if (store_vevents(vm, control_vevent_row, &el) == -1)
		server_error(c, id, RAS__ERROR_CODE__ERR_STORE,
		    "events of VM %s unreadable: %s", vm->name, store_error());
	else {
		resp.id = id;
		resp.body_case = RAS__RESPONSE__BODY_EVENTS;
		resp.events = &el;
		server_send(c, &resp);
	}
	for (i = 0; i < el.n_events; i++)
		free(el.events[i]);
	free(el.events);
}

/* Whether process pid still runs (a zombie has stopped running). */
static int
control_pid_running(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int running = 1;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return errno == ENOENT ? 0 : 1;
	if (fgets(buf, sizeof buf, f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL && p[1] == ' ' && p[2] == 'Z')
		running = 0;
	fclose(f);
	return running;
}

/*
 * The libvirt hook says the VM stopped. A VMM still connected and running
 * for it says otherwise: refused, so that a VM never shows stopped while it
 * forwards. One whose process is gone (its connection not yet seen closed)
 * is detached first.
 */
static void
control_mark_stopped(struct client *c, uint64_t id, struct vm *vm)
{
	/* The source of a migration stops too: it stays migrated-away. */
	if (vm->state != VM_STOPPED && vm->state != VM_MIGRATED &&
	    vm->client != NULL) {
		if (control_pid_running((pid_t)vm->client->pid)) {
			server_error(c, id, RAS__ERROR_CODE__ERR_BUSY,
			    "VM %s is not stopped: its VMM (pid %d) is still "
			    "connected and running", vm->name,
			    (int)vm->client->pid);
			return;
		}
		vmm_detach(vm, vm->client);
	}
	if (vm->state != VM_STOPPED && vm->state != VM_MIGRATED) {
		vm->state = VM_STOPPED;
		if (store_save_vm(vm) == -1) {
			server_error(c, id, RAS__ERROR_CODE__ERR_STORE,
			    "stop of VM %s not recorded: %s", vm->name,
			    store_error());
			return;
		}
		log_info("vm %s: stopped (told by pid %d)", vm->name,
		    (int)c->pid);
		virt_vm_changed(vm);
	}
	server_ack(c, id);
}

/* Answer an export with the VM's sealed bundle. */
static void
control_export(struct client *c, uint64_t id, struct vm *vm)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__Exported ex = RAS__EXPORTED__INIT;
	uint8_t *sealed = NULL;
	size_t len;
	char err[512];

	if (transfer_export(vm, &sealed, &len, err, sizeof err) == -1) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID,
		    "export of VM %s failed: %s", vm->name, err);
		return;
	}
	ex.sealed.data = sealed;
	ex.sealed.len = len;
	ex.generation = vm->generation;
	resp.id = id;
	resp.body_case = RAS__RESPONSE__BODY_EXPORTED;
	resp.exported = &ex;
	if (server_send(c, &resp) == 0)
		log_info("vm %s: exported (generation %llu, %zu bytes) to pid %d",
	    vm->name, (unsigned long long)vm->generation, len, (int)c->pid);
	free(sealed);
}

/* Take an imported bundle in. */
static void
control_import(struct client *c, uint64_t id, Ras__Import *im)
{
	char err[512];
	int code;

	if (transfer_import(im->sealed.data, im->sealed.len,
	    im->has_replace && im->replace ? TRANSFER_REPLACE : 0, &code, err,
	    sizeof err) == NULL) {
		server_error(c, id, code, "import refused: %s", err);
		return;
	}
	server_ack(c, id);
}

/* Route an operator request. */
void
control_dispatch(struct client *c, Ras__Request *req)
{
	Ras__VmQuery *q = NULL;
	struct vm *vm;

	if (req->body_case == RAS__REQUEST__BODY_LIST_VMS) {
		control_list_vms(c, req->id);
		return;
	}
	if (req->body_case == RAS__REQUEST__BODY_IMPORT_BUNDLE) {
		control_import(c, req->id, req->import_bundle);
		return;
	}
	if (req->body_case == RAS__REQUEST__BODY_HEALTH) {
		health_query(c, req->id);
		return;
	}
	if (req->body_case == RAS__REQUEST__BODY_SET_HEALTH) {
		health_set(c, req->id, req->set_health);
		return;
	}
	switch (req->body_case) {
	case RAS__REQUEST__BODY_SHOW_VM:
		q = req->show_vm;
		break;
	case RAS__REQUEST__BODY_LIST_POISON:
		q = req->list_poison;
		break;
	case RAS__REQUEST__BODY_EVENTS:
		q = req->events;
		break;
	case RAS__REQUEST__BODY_MARK_STOPPED:
		q = req->mark_stopped;
		break;
	case RAS__REQUEST__BODY_EXPORT_VM:
		q = req->export_vm;
		break;
	default:
		q = req->history;
		break;
	}
	if ((vm = vm_find(q->vm)) == NULL) {
		server_error(c, req->id, RAS__ERROR_CODE__ERR_NO_SUCH_VM,
		    "no VM named or with UUID \"%.64s\"", q->vm);
		return;
	}
	switch (req->body_case) {
	case RAS__REQUEST__BODY_SHOW_VM:
		control_show_vm(c, req->id, vm);
		break;
	case RAS__REQUEST__BODY_LIST_POISON:
		control_list_poison(c, req->id, vm, q);
		break;
	case RAS__REQUEST__BODY_EVENTS:
		control_events(c, req->id, vm);
		break;
	case RAS__REQUEST__BODY_MARK_STOPPED:
		control_mark_stopped(c, req->id, vm);
		break;
	case RAS__REQUEST__BODY_EXPORT_VM:
		control_export(c, req->id, vm);
		break;
	default:
		control_history(c, req->id, vm);
		break;
	}
}
