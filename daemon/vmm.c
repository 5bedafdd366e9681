/*
 * vmm.c -- requests from VMM connections: register, forward, guest reset,
 * memory map changes, unregister.
 *
 * DESIGN: a VMM is untrusted (a guest may own it). A connection acts for
 * exactly one VM, the one it registered, and only a process running as the
 * VM's owner (or root) may register it -- and, while the VM is not
 * stopped, only its own VMM process or one authorized to succeed it (the
 * rules are in vm.c, DESIGN); every field is checked before it is used,
 * and a refusal is answered and logged without affecting anyone else.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>

#include "cper.h"
#include "hest.h"
#include "mce.h"
#include "metrics.h"
#include "rasd.h"

#define VMM_LSB_MAX 40		/* 1 TiB granule: far above any page size */
/* The active ranges in one answer to a VMM, packed: its frames are 1 MiB. */
#define VMM_PAGE_BUDGET (512u << 10)

/* Whether a client may act for this VM UUID. */
static int
vmm_check_vm(struct client *c, uint64_t id, ProtobufCBinaryData uuid)
{
	char us[37] = "?";

	if (uuid.len == 16)
		ras_uuid_format(uuid.data, us);
	if (c->vm == NULL) {
		server_error(c, id, RAS__ERROR_CODE__ERR_NOT_REGISTERED,
		    "this connection has not registered a VM (request for "
		    "%s)", us);
		return -1;
	}
	if (uuid.len != 16 || memcmp(uuid.data, c->vm->uuid, 16) != 0) {
		server_error(c, id, RAS__ERROR_CODE__ERR_WRONG_VM,
		    "denied: connection registered VM %s, request is for %s",
		    c->vm->uuid_str, us);
		return -1;
	}
	return 0;
}

/*
 * Say which sources of a VM's boot HEST are left out of its profile, as
 * Linux leaves them out: a warning for what is a firmware (VMM) bug.
 */
static void
vmm_log_skipped(const Ras__Register *reg, const struct hest_report *rep)
{
	char line[256];
	unsigned int i, n;

	n = rep->nskipped < HEST_REPORT_MAX ? rep->nskipped : HEST_REPORT_MAX;
	for (i = 0; i < n; i++) {
		hest_skip_format(&rep->skipped[i], line, sizeof line);
		if (hest_skip_warns(rep->skipped[i].reason))
			log_warnx("vm %s: boot HEST: %s", reg->name, line);
		else
			log_info("vm %s: boot HEST: %s", reg->name, line);
	}
	if (rep->nskipped > n)
		log_warnx("vm %s: boot HEST: and %u more sources skipped",
		    reg->name, rep->nskipped - n);
}

/* Build the boot profile from a registration; -1 with a reason. */
static int
vmm_profile(const Ras__Register *reg, struct ras_profile *prof, char *err,
    size_t errlen)
{
	struct hest_report rep;
	size_t i, j;

	memset(prof, 0, sizeof *prof);
	if (reg->has_hest && reg->hest.len > 0) {
		if (reg->n_declared > 0) {
			snprintf(err, errlen, "give a HEST or a declared "
			    "profile, not both");
			return -1;
		}
		if (reg->hest.len > HEST_MAX_LEN) {
			snprintf(err, errlen, "HEST of %zu bytes is over the "
			    "%u-byte limit", reg->hest.len, HEST_MAX_LEN);
			return -1;
		}
		if (hest_parse_report(reg->hest.data, reg->hest.len, prof,
		    &rep, err, errlen) == -1)
			return -1;
		vmm_log_skipped(reg, &rep);
		return 0;
	}
	if (reg->n_declared > RAS_PROFILE_MAX) {
		snprintf(err, errlen, "%zu declared sources, at most %d",
		    reg->n_declared, RAS_PROFILE_MAX);
		return -1;
	}
	for (i = 0; i < reg->n_declared; i++) {
		const Ras__Source *s = reg->declared[i];

		if (s->notify >= RAS_NOTIFY_COUNT || s->source_id > 0xffff) {
			snprintf(err, errlen, "declared source %zu: bad "
			    "notification type %u or source id %u", i,
			    s->notify, s->source_id);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (reg->declared[j]->source_id == s->source_id) {
				snprintf(err, errlen, "declared source id %u "
				    "appears twice", s->source_id);
				return -1;
			}
		prof->src[i].source_id = (uint16_t)s->source_id;
		prof->src[i].notify = (uint8_t)s->notify;
		prof->src[i].hest_type = 0xff;
	}
	prof->count = (unsigned int)reg->n_declared;
	return 0;
}

/* Check a memory map: sizes, wrap-around, overlap in guest space. */
static int
vmm_check_slots(Ras__Slot **slots, size_t n, char *err, size_t errlen)
{
	size_t i, j;

	if (n > RASD_SLOTS_MAX) {
		snprintf(err, errlen, "%zu memory slots, at most %d", n,
		    RASD_SLOTS_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		const Ras__Slot *s = slots[i];

		if (s->size == 0 || s->gpa + s->size < s->gpa ||
		    s->hva + s->size < s->hva) {
			snprintf(err, errlen, "memory slot %zu (gpa 0x%llx "
			    "size 0x%llx) is empty or wraps around", i,
			    (unsigned long long)s->gpa,
			    (unsigned long long)s->size);
			return -1;
		}
		for (j = 0; j < i; j++) {
			const Ras__Slot *t = slots[j];

			if (s->gpa < t->gpa + t->size &&
			    t->gpa < s->gpa + s->size) {
				snprintf(err, errlen, "memory slots %zu and "
				    "%zu overlap in guest-physical space", j,
				    i);
				return -1;
			}
		}
	}
	return 0;
}

/* Replace a VM's memory map. */
static void
vmm_copy_slots(struct vm *vm, Ras__Slot **slots, size_t n)
{
	size_t i;

	free(vm->slots);
	vm->slots = xcalloc(n, sizeof *vm->slots);
	for (i = 0; i < n; i++) {
		vm->slots[i].gpa = slots[i]->gpa;
		vm->slots[i].hva = slots[i]->hva;
		vm->slots[i].size = slots[i]->size;
	}
	vm->nslots = n;
}

/*
 * What a VMM's library could not keep for replay. It reports what rasd
 * has not acknowledged (lost_decisions) and its running total since the
 * process opened it (lost_total): when rasd knows the total this same
 * process reported last, the difference counts, so a report whose answer
 * was lost (the library registers again) is not counted twice; else (a
 * new process, or rasd restarted) the unacknowledged part counts.
 */
static void
vmm_take_lost(const struct client *c, struct vm *vm, const Ras__Register *reg,
    const struct vm_ident *who)
{
	uint64_t add = 0;

	if (!reg->has_lost_decisions && !reg->has_lost_total)
		return;
	if (reg->has_lost_total && vm->lost_pid == who->pid &&
	    vm->lost_pid != 0 && vm->lost_start == who->start)
		add = reg->lost_total > vm->lost_total ?
		    reg->lost_total - vm->lost_total : 0;
	else if (reg->has_lost_decisions)
		add = reg->lost_decisions;
	if (reg->has_lost_total) {
		vm->lost_total = reg->lost_total;
		vm->lost_pid = who->pid;
		vm->lost_start = who->start;
	}
	if (add == 0)
		return;
	vm->unrecorded += add;
	log_warnx("vm %s (%s): its VMM pid %d reports %llu local decisions "
	    "not recorded (its replay ring was full while rasd was away); "
	    "%llu in all", vm->name, vm->uuid_str, (int)c->pid,
	    (unsigned long long)add, (unsigned long long)vm->unrecorded);
}

/*
 * What a registering VMM still holds: errors not yet acknowledged, and
 * how many its process lost in all (the library's full ring, its own full
 * queue). Those totals count against the VM from the guest's last reset
 * on (vmm_sync_check); a new process starts from zero.
 */
static void
vmm_take_pending(struct vm *vm, const Ras__Register *reg,
    const struct vm_ident *who)
{
	uint64_t lost;

	lost = (reg->has_lost_total ? reg->lost_total : 0) +
	    (reg->has_dropped_total ? reg->dropped_total : 0);
	if (vm->vmm_sync_pid != who->pid || vm->vmm_sync_start != who->start) {
		vm->vmm_sync_pid = who->pid;
		vm->vmm_sync_start = who->start;
		vm->vmm_lost = vm->vmm_lost_base = 0;
	}
	vm->vmm_said = reg->has_pending;
	vm->vmm_pending = reg->has_pending ? reg->pending : 0;
	if (reg->has_dropped_total && reg->dropped_total > 0 &&
	    lost > vm->vmm_lost)
		log_warnx("vm %s: its VMM pid %d could neither forward nor keep "
		    "%llu memory errors in all (its queue was full): never "
		    "recorded; the VM cannot be handed off to another host "
		    "until the guest is reset", vm->name, (int)who->pid,
		    (unsigned long long)reg->dropped_total);
	vm->vmm_lost = lost;
	if (vm->vmm_pending > 0)
		log_info("vm %s: its VMM holds %u memory errors not yet "
		    "recorded; they are replayed now", vm->name,
		    vm->vmm_pending);
}

/* The VMM has replayed what its registration said was pending. */
void
vmm_status(struct client *c, uint64_t id, Ras__VmmStatus *st)
{
	struct vm *vm;
	uint64_t lost;

	if (vmm_check_vm(c, id, st->uuid) == -1)
		return;
	vm = c->vm;
	lost = (st->has_lost_total ? st->lost_total : 0) +
	    (st->has_dropped_total ? st->dropped_total : 0);
	if (lost > vm->vmm_lost)
		log_warnx("vm %s: its VMM lost %llu more memory errors", vm->name,
		    (unsigned long long)(lost - vm->vmm_lost));
	if (lost > vm->vmm_lost)
		vm->vmm_lost = lost;
	if (vm->vmm_pending > 0 && st->pending == 0)
		log_info("vm %s: its VMM holds nothing unrecorded any more",
		    vm->name);
	vm->vmm_said = 1;
	vm->vmm_pending = st->pending;
	server_ack(c, id);
}

/*
 * Whether everything the VM's VMM has seen is durable here, so that a
 * final sync may hand the VM off: its VMM is connected, its last word was
 * that nothing is pending, and it lost nothing since the guest's last
 * reset. A VMM that holds something it cannot tell rasd cuts its
 * connection (plugins/rasclient/rasc_ring.c), so a connected VMM's last
 * word is current. Returns 0, or -1 with the reason.
 */
int
vmm_sync_check(const struct vm *vm, char *why, size_t len)
{
	if (vm->client == NULL) {
		if (vm->state != VM_DISCONNECTED)
			return 0;
		snprintf(why, len, "its VMM is not connected to rasd: memory "
		    "errors it may hold are not known here");
		return -1;
	}
	if (!vm->vmm_said) {
		snprintf(why, len, "its VMM (pid %d) does not say whether it "
		    "holds unrecorded memory errors (a librasclient older than "
		    "this rasd)", (int)vm->client->pid);
		return -1;
	}
	if (vm->vmm_pending > 0) {
		snprintf(why, len, "its VMM holds %u memory errors not yet "
		    "recorded (replayed within a second)", vm->vmm_pending);
		return -1;
	}
	if (vm->vmm_lost > vm->vmm_lost_base) {
		snprintf(why, len, "its VMM lost %llu memory errors since the "
		    "guest's last reset (a full queue or replay ring): the "
		    "state cannot be complete; reset the guest",
		    (unsigned long long)(vm->vmm_lost - vm->vmm_lost_base));
		return -1;
	}
	return 0;
}

/*
 * Keep the ranges a destination VMM cannot re-arm in the VM's history
 * (active = 0): origin "pre-flight: ..." before the guest ran, "operator:
 * ..." after a release, each with its reason.
 */
static void
vmm_rearm_note(struct vm *vm, const Ras__RearmCheck *rc)
{
	struct poison_range r;
	char origin[600];
	size_t i;

	for (i = 0; i < rc->n_failures; i++) {
		memset(&r, 0, sizeof r);
		if (!poison_covering(&vm->active, rc->failures[i]->gpa,
		    rc->failures[i]->length, &r)) {
			r.kind = RAS_KIND_AR;
			r.action = RAS_ACTION_INJECT;
			r.notify = RAS_NOTIFY_NONE;
		}
		r.gpa = rc->failures[i]->gpa;
		r.len = rc->failures[i]->length;
		snprintf(origin, sizeof origin, "%s: not re-armed: %s",
		    rc->has_released && rc->released ? "operator" :
		    "pre-flight", rc->failures[i]->reason);
		(void)store_save_note(vm, &r, 1, (int64_t)time(NULL), origin);
	}
}

/*
 * The ranges a migration's destination VMM cannot re-arm here, found
 * before the guest runs (or after the operator let its gate go): logged
 * one line each and kept with the VM.
 */
void
vmm_rearm_check(struct client *c, uint64_t id, Ras__RearmCheck *rc)
{
	struct vm *vm;
	size_t i;

	if (vmm_check_vm(c, id, rc->uuid) == -1)
		return;
	vm = c->vm;
	if (rc->n_failures > RASD_REARM_REPORT_MAX) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID,
		    "%zu re-arm failures in one report, at most %d",
		    rc->n_failures, RASD_REARM_REPORT_MAX);
		return;
	}
	for (i = 0; i < rc->n_failures; i++) {
		if (strlen(rc->failures[i]->reason) > 512) {
			server_error(c, id, RAS__ERROR_CODE__ERR_INVALID,
			    "re-arm failure %zu: reason over 512 bytes", i);
			return;
		}
	}
	vm->rearm_failed = (uint32_t)rc->n_failures;
	if (rc->n_failures == 0) {
		log_info("vm %s: its VMM can re-arm all %u poisoned ranges "
		    "here", vm->name, rc->checked);
		server_ack(c, id);
		return;
	}
	vmm_rearm_note(vm, rc);
	for (i = 0; i < rc->n_failures; i++)
		log_warnx("vm %s: poisoned range 0x%llx+%llu cannot be "
		    "re-armed here: %s%s", vm->name,
		    (unsigned long long)rc->failures[i]->gpa,
		    (unsigned long long)rc->failures[i]->length,
		    rc->failures[i]->reason, rc->has_released &&
		    rc->released ? "; the guest runs without it (its gate "
		    "was released by the operator)" : "");
	log_warnx("vm %s: %zu of %u poisoned ranges cannot be re-armed by "
	    "its VMM pid %d%s", vm->name, rc->n_failures, rc->checked,
	    (int)c->pid, rc->has_released && rc->released ? "" : ": the "
	    "migration fails safe (RASD_SHIM_REQUIRED=1) or the guest runs "
	    "without them");
	server_ack(c, id);
}

/*
 * Keep an operator's release in the VM's history: one row (active = 0)
 * per range the guest now runs with, origin "operator: ...".
 */
static void
vmm_release_note(struct vm *vm, uid_t uid)
{
	struct poison_range *rs;
	struct poison_iter it;
	char origin[256];
	size_t n = 0;

	rs = xcalloc(vm->active.n > 0 ? vm->active.n : 1, sizeof *rs);
	poison_seek(&vm->active, 0, &it);
	while (n < vm->active.n && poison_next(&it, &rs[n]))
		n++;
	snprintf(origin, sizeof origin, "operator: gate released (uid %d), "
	    "no final sync from %s", (int)uid, vm->source_peer != NULL ?
	    vm->source_peer : "the source");
	if (n == 0) {
		/* Nothing imported: still record the release itself. */
		rs[0].gpa = 0;
		rs[0].len = 4096;
		rs[0].kind = RAS_KIND_AR;
		rs[0].action = RAS_ACTION_INJECT;
		rs[0].notify = RAS_NOTIFY_NONE;
		n = 1;
	}
	(void)store_save_note(vm, rs, n, (int64_t)time(NULL), origin);
	free(rs);
}

/*
 * rasctl release VM --force: let a migrated guest's held gate go when its
 * source host is gone. The next AwaitFinal of its VMM is answered
 * ERR_RELEASED: the VMM re-arms what it has and runs the guest.
 */
void
vmm_release(struct client *c, uint64_t id, Ras__ReleaseGate *rg)
{
	struct vm *vm;

	if ((vm = vm_find(rg->vm)) == NULL) {
		server_error(c, id, RAS__ERROR_CODE__ERR_NO_SUCH_VM,
		    "no such VM: %s", rg->vm);
		return;
	}
	if (!rg->force) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID,
		    "VM %s: releasing a gate needs --force: the guest may run "
		    "without poisons its source recorded after the snapshot",
		    vm->name);
		return;
	}
	if (vm->source_peer == NULL && vm->imported_generation == 0) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID,
		    "VM %s was not migrated here: it has no gate to release",
		    vm->name);
		return;
	}
	vm->released = (int64_t)time(NULL);
	vmm_release_note(vm, c->uid);
	log_warnx("vm %s: OPERATOR RELEASED ITS GATE (uid %d, pid %d): the "
	    "guest runs with the imported state (generation %llu, %zu active "
	    "ranges), without a final sync from %s; poisons its source "
	    "recorded after the snapshot are not re-armed", vm->name,
	    (int)c->uid, (int)c->pid,
	    (unsigned long long)vm->imported_generation, vm->active.n,
	    vm->source_peer != NULL ? vm->source_peer : "the source");
	server_ack(c, id);
}

/*
 * An AwaitFinal of a VM whose gate the operator released: answered
 * ERR_RELEASED (returns 1); 0 when the final sync goes on as usual.
 */
int
vmm_released(struct client *c, uint64_t id, Ras__AwaitFinal *af)
{
	if (c->vm == NULL || c->vm->released == 0 || af->uuid.len != 16 ||
	    memcmp(af->uuid.data, c->vm->uuid, 16) != 0)
		return 0;
	log_warnx("vm %s: its VMM pid %d runs the guest without a final sync: "
	    "the operator released its gate", c->vm->name, (int)c->pid);
	server_error(c, id, RAS__ERROR_CODE__ERR_RELEASED, "VM %s: the "
	    "operator released the gate (rasctl release --force): run with "
	    "the imported state", c->vm->name);
	return 1;
}

/*
 * The orders this VM is decided by: those pinned with its boot profile (a
 * migrated VM keeps the policy of the host it booted on), else the host's.
 */
static const struct ras_policy *
vm_policy(const struct vm *vm)
{
	return vm->policy.ar_count + vm->policy.ao_count > 0 ? &vm->policy :
	    &rasd_conf->policy;
}

/* Register a VMM for one VM and bind the connection to it. */
void
vmm_register(struct client *c, uint64_t id, Ras__Register *reg)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__Registered ok = RAS__REGISTERED__INIT;
	Ras__PoisonRange *pr, **prs;
	const struct ras_policy *pol;
	struct ras_profile prof;
	struct vm_ident who;
	char err[512], us[37];
	struct vm *vm, *named;
	int code, fresh, isnew = 0, repin = 0, sent;
	size_t i;

	if (c->vm != NULL) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID,
		    "this connection already registered VM %s",
		    c->vm->uuid_str);
		return;
	}
	if (reg->uuid.len != 16) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID,
		    "VM UUID must be 16 bytes, got %zu", reg->uuid.len);
		return;
	}
	ras_uuid_format(reg->uuid.data, us);
	if (reg->name[0] == '\0' || strlen(reg->name) > RASD_NAME_MAX) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID,
		    "VM %s: name must be 1..%d bytes", us, RASD_NAME_MAX);
		return;
	}
	for (i = 0; reg->name[i] != '\0'; i++)
		if ((unsigned char)reg->name[i] < 0x20 ||
		    reg->name[i] == 0x7f) {
			server_error(c, id, RAS__ERROR_CODE__ERR_INVALID,
			    "VM %s: name contains control characters", us);
			return;
		}
	if (reg->arch != RAS_ARCH_ARM64 && reg->arch != RAS_ARCH_X86_64) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID,
		    "VM %s: unknown architecture %u", us, reg->arch);
		return;
	}
	if ((pid_t)reg->pid != c->pid) {
		server_error(c, id, RAS__ERROR_CODE__ERR_DENIED,
		    "denied: VM %s: registration names pid %u but comes "
		    "from pid %d", us, reg->pid, (int)c->pid);
		return;
	}
	if (vmm_profile(reg, &prof, err, sizeof err) == -1) {
		server_error(c, id, RAS__ERROR_CODE__ERR_BAD_HEST,
		    "VM %s: boot profile refused: %s", us, err);
		return;
	}
	if (vmm_check_slots(reg->slots, reg->n_slots, err, sizeof err) ==
	    -1) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID, "VM %s: %s",
		    us, err);
		return;
	}

	vm = vm_find_uuid(reg->uuid.data);
	if (vm != NULL && c->uid != 0 && vm->owner_uid != UINT32_MAX &&
	    vm->owner_uid != c->uid) {
		server_error(c, id, RAS__ERROR_CODE__ERR_DENIED,
		    "denied: VM %s belongs to uid %u", us, vm->owner_uid);
		return;
	}
	/* The uid is not enough: the VM is bound to its VMM's process, its
	 * name is its own, and a uid has only so many (vm.c, DESIGN). */
	vm_ident_read(c->pid, bufferevent_getfd(c->bev), &who);
	if ((code = vm_may_register(vm, reg->uuid.data, c->uid, &who, err,
	    sizeof err)) != 0 || (code = vm_may_name(vm, reg->name, c->uid,
	    err, sizeof err)) != 0) {
		server_error(c, id, code, "%s", err);
		return;
	}
	if (vm == NULL && c->uid != 0 && rasd_conf->max_vms_per_uid != 0 &&
	    vm_count_owned(c->uid) >= rasd_conf->max_vms_per_uid) {
		server_error(c, id, RAS__ERROR_CODE__ERR_DENIED,
		    "denied: VM %s not registered: uid %u has %u VMs already, "
		    "the max_vms_per_uid of this rasd", us,
		    (unsigned int)c->uid, rasd_conf->max_vms_per_uid);
		return;
	}
	if (vm != NULL && vm->client != NULL) {
		if (vm->client->pid != c->pid) {
			server_error(c, id, RAS__ERROR_CODE__ERR_BUSY,
			    "VM %s is held by the live VMM pid %d", us,
			    (int)vm->client->pid);
			return;
		}
		/* The same VMM reconnected before we saw its old socket
		 * close: the new connection replaces the old one. */
		log_info("vm %s: pid %d reconnected; dropping its old "
		    "connection", vm->name, (int)c->pid);
		server_client_free(vm->client);
	}
	named = vm_find_name(reg->name);
	if (named != NULL && named != vm && named->client != NULL) {
		server_error(c, id, RAS__ERROR_CODE__ERR_BUSY,
		    "name %s is in use by the running VM %s", reg->name,
		    named->uuid_str);
		return;
	}

	fresh = !reg->has_boot || reg->boot == RAS__BOOT_MODE__BOOT_FRESH;
	if (fresh && vm != NULL && vm->state == VM_INCOMING) {
		/* An imported VM continues a guest that ran elsewhere: its
		 * poison must not be retired by a VMM that did not say it
		 * was the migration's destination. */
		log_warnx("vm %s: fresh registration of an incoming VM taken "
		    "as resume", vm->name);
		fresh = 0;
	}
	if (vm != NULL && !fresh && vm->pinned &&
	    !vm_profile_equal(&vm->profile, &prof)) {
		server_error(c, id, RAS__ERROR_CODE__ERR_PROFILE_MISMATCH,
		    "VM %s: the boot profile differs from the one pinned at "
		    "boot; a resumed guest keeps its boot HEST", us);
		return;
	}
	if (vm == NULL) {
		vm = vm_create(reg->uuid.data, reg->name);
		vm->owner_uid = c->uid;
		isnew = 1;
	} else if (vm->owner_uid == UINT32_MAX)
		vm->owner_uid = c->uid;
	if (!isnew && strcmp(vm->name, reg->name) != 0)
		vm_rename(vm, reg->name);
	vm->arch = (int)reg->arch;
	vm->caps = reg->caps;
	vm->cpu_vendor = reg->has_cpu_vendor && reg->cpu_vendor <= RAS_CPU_AMD ?
	    (uint8_t)reg->cpu_vendor : RAS_CPU_UNKNOWN;
	vm->observing = reg->has_observing && reg->observing;
	vmm_take_lost(c, vm, reg, &who);
	vmm_take_pending(vm, reg, &who);
	vm->pid = reg->pid;
	vmm_copy_slots(vm, reg->slots, reg->n_slots);
	if (fresh || !vm->pinned) {
		vm_set_profile(vm, reg->has_hest ? reg->hest.data : NULL,
		    reg->has_hest ? reg->hest.len : 0, &prof);
		vm->pinned = 1;
		vm->policy = rasd_conf->policy;
		repin = 1;
	}
	vm->state = VM_RUNNING;
	vm_bind(vm, &who);
	/* The generation counts changes of the poison state and of the
	 * pinned profile; a VMM resuming the same guest changes neither. */
	if (fresh || isnew || repin)
		vm->generation++;
	if (fresh)
		peer_incoming_end(vm, "a fresh boot");
	if (fresh && vm->active.n > 0) {
		/* A new boot gets fresh memory: old poison is history. */
		if (batch_flush() == -1 || store_retire(vm) == -1)
			goto store_fail;
		log_info("vm %s: fresh boot retires %zu poisoned ranges",
		    vm->name, vm->active.n);
		poison_clear(&vm->active);
	} else if (store_save_vm(vm) == -1)
		goto store_fail;
	vm->client = c;
	c->vm = vm;
	virt_vm_changed(vm);
	ok.profile_pinned = vm->pinned;
	pol = vm_policy(vm);
	ok.has_ar_order = ok.has_ao_order = 1;
	ok.ar_order.data = (uint8_t *)pol->ar_order;
	ok.ar_order.len = pol->ar_count;
	ok.ao_order.data = (uint8_t *)pol->ao_order;
	ok.ao_order.len = pol->ao_count;
	/* A resumed or migrated guest re-arms these (UFFDIO_POISON); past
	 * one frame the VMM asks for the rest (ActiveQuery). */
	vmm_active_page(vm, 0, &ok, &prs, &pr);
	resp.id = id;
	resp.body_case = RAS__RESPONSE__BODY_REGISTERED;
	resp.registered = &ok;
	sent = server_send(c, &resp);
	free(prs);
	free(pr);
	if (sent == -1) {
		/* Not answered: the VMM registers again, and must not be
		 * counted as running meanwhile. */
		log_warnx("vm %s (%s): registration by pid %d not answered "
		    "(%zu active ranges)", vm->name, vm->uuid_str, (int)c->pid,
		    vm->active.n);
		vmm_detach(vm, c);
		return;
	}
	log_info("vm %s (%s): %s by pid %d uid %d, %u error sources, %zu "
	    "slots, %zu active ranges%s", vm->name, vm->uuid_str, fresh ?
	    "registered" : "resumed", (int)c->pid, (int)c->uid, prof.count,
	    vm->nslots, vm->active.n, isnew ? ", new VM" : "");
	return;
store_fail:
	vm->state = VM_DISCONNECTED;
	server_error(c, id, RAS__ERROR_CODE__ERR_STORE,
	    "VM %s: registration not recorded: %s", us, store_error());
}

/*
 * Fill a Registered (or ActivePage) answer's ranges: the VM's active ones
 * from from_gpa on, as many as fit in one frame to a VMM, with where to
 * continue when more remain. Free *prs and *storage with free().
 */
void
vmm_active_page(const struct vm *vm, uint64_t from_gpa, Ras__Registered *ok,
    Ras__PoisonRange ***prs, Ras__PoisonRange **storage)
{
	const Ras__PoisonRange *last;
	struct poison_iter it;
	size_t n;

	ok->generation = vm->generation;
	ok->active_ranges = (uint32_t)vm->active.n;
	poison_seek(&vm->active, from_gpa, &it);
	n = control_ranges(&it, SIZE_MAX, VMM_PAGE_BUDGET, prs, storage);
	ok->n_active = n;
	ok->active = *prs;
	if (it.leaf != NULL && n > 0) {
		last = (*prs)[n - 1];
		ok->has_active_more = ok->active_more = 1;
		ok->has_active_next = 1;
		ok->active_next = last->gpa + last->length;
	}
}

/* The rest of the VM's active ranges, for a VMM that registered. */
void
vmm_active_query(struct client *c, uint64_t id, Ras__ActiveQuery *q)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__Registered ok = RAS__REGISTERED__INIT;
	Ras__PoisonRange *pr, **prs;

	if (vmm_check_vm(c, id, q->uuid) == -1)
		return;
	ok.profile_pinned = c->vm->pinned;
	vmm_active_page(c->vm, q->from_gpa, &ok, &prs, &pr);
	resp.id = id;
	resp.body_case = RAS__RESPONSE__BODY_ACTIVE_PAGE;
	resp.active_page = &ok;
	server_send(c, &resp);
	free(prs);
	free(pr);
}

/* Fill the decision answer for one batch entry and send it. */
void
vmm_send_decision(struct client *c, uint64_t id, const struct batch_entry *e)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__Decision d = RAS__DECISION__INIT;
	uint8_t cper[CPER_BLOCK_LEN];
	struct mce_values mv;

	d.action = e->ev.action;
	d.gpa = e->ev.gpa;
	d.length = e->ev.len;
	d.has_addr = 1;
	d.addr = e->addr;
	d.repeat = e->repeat;
	d.has_seq = e->has_seq;
	d.seq = e->seq;
	if (e->ev.action == RAS_ACTION_INJECT) {
		d.has_notify = d.has_source_id = 1;
		d.notify = e->ev.notify;
		d.source_id = e->ev.source_id;
		if (e->hest_type == HEST_GHES || e->hest_type == HEST_GHES_V2) {
			d.has_cper = 1;
			d.cper.data = cper;
			d.cper.len = cper_memory_error(e->addr, e->ev.len,
			    cper, sizeof cper);
			/* GHESv2: one record at a time, acked by the guest. */
			d.has_read_ack = 1;
			d.read_ack = e->hest_type == HEST_GHES_V2;
		}
		if (e->ev.notify == RAS_NOTIFY_MCE) {
			mce_values(e->ev.kind, e->ev.vm->cpu_vendor, e->addr,
			    &mv);
			d.has_mce_status = d.has_mcg_status = 1;
			d.has_mce_misc = d.has_mce_broadcast = 1;
			d.has_mce_bank = 1;
			d.mce_status = mv.status;
			d.mcg_status = mv.mcg_status;
			d.mce_misc = mv.misc;
			d.mce_broadcast = mv.broadcast;
			d.mce_bank = mv.bank;
		}
	}
	/*
	 * stop-vm: the VMM holds the guest (the shim keeps every vCPU out
	 * of KVM_RUN) until a reset or until it goes; rasctl show says so.
	 */
	if (e->ev.action == RAS_ACTION_STOP_VM && e->ev.vm->held_since == 0) {
		e->ev.vm->held_since = e->ev.time != 0 ? e->ev.time :
		    (int64_t)time(NULL);
		e->ev.vm->held_addr = e->addr;
		log_warnx("vm %s: guest held (stop-vm): nothing it can be told "
		    "reports the AR at gpa 0x%llx; it runs again after a reset "
		    "(its VMM may still pause, migrate or destroy it)",
		    e->ev.vm->name, (unsigned long long)e->addr);
	}
	resp.id = id;
	resp.body_case = RAS__RESPONSE__BODY_DECISION;
	resp.decision = &d;
	server_send(c, &resp);
	metrics_forward(e->ev.kind, e->ev.action, e->ev.notify, e->repeat);
}

/* The HEST type of the VM's source with this id, 0xff if declared/none. */
static uint8_t
vmm_hest_type(const struct vm *vm, uint16_t source_id)
{
	unsigned int i;

	for (i = 0; i < vm->profile.count; i++)
		if (vm->profile.src[i].source_id == source_id)
			return vm->profile.src[i].hest_type;
	return 0xff;
}

/*
 * Decide with the orders pinned with the boot profile: a migrated VM keeps
 * the policy of the host it booted on.
 */
static void
vmm_decide(const struct vm *vm, unsigned int kind, unsigned int flags,
    struct ras_decision *dec)
{
	policy_decide(vm_policy(vm), &vm->profile, vm->caps, kind, flags,
	    dec);
}

/*
 * Whether a recorded decision answers a repeat of this kind now: an AR
 * recorded with an interrupt-only type (its vCPU was unmasked) does not
 * answer an AR whose vCPU is masked or unknown.
 */
static int
vmm_still_good(uint8_t action, uint8_t notify, unsigned int kind,
    unsigned int flags)
{
	if (action == 0)
		return 0;
	if (kind == RAS_KIND_AO || action != RAS_ACTION_INJECT)
		return 1;
	return !policy_needs_unmasked(notify) ||
	    (flags & POLICY_IRQ_UNMASKED);
}

/* Answer a forward without a new record, with decision (a, n, s). */
static void
vmm_answer_repeat(struct client *c, struct batch_entry *e, unsigned int kind,
    uint8_t action, uint8_t notify, uint16_t source_id)
{
	e->repeat = 1;
	e->ev.kind = (uint8_t)kind;
	e->ev.action = action;
	e->ev.notify = action == RAS_ACTION_INJECT ? notify : RAS_NOTIFY_NONE;
	e->ev.source_id = source_id;
	e->hest_type = action == RAS_ACTION_INJECT ?
	    vmm_hest_type(e->ev.vm, source_id) : 0xff;
	log_debug("vm %s: repeat %s at gpa 0x%llx", e->ev.vm->name,
	    ras_kind_name(kind), (unsigned long long)e->addr);
	vmm_send_decision(c, e->req_id, e);
}

/* Forward of one memory error: translate, record durably, decide. */
void
vmm_forward(struct client *c, uint64_t id, Ras__Forward *fw)
{
	const struct poison_decision *pd;
	struct poison_range have;
	const struct batch_entry *pend;
	struct ras_decision dec;
	struct batch_entry e;
	struct vm *vm;
	uint64_t addr, gpa, len;
	unsigned int lsb, flags;

	if (vmm_check_vm(c, id, fw->uuid) == -1)
		return;
	vm = c->vm;
	if (fw->kind != RAS_KIND_AR && fw->kind != RAS_KIND_AO) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID,
		    "kind %u is neither AR (1) nor AO (2)", fw->kind);
		return;
	}
	lsb = fw->lsb == 0 ? 12 : fw->lsb;
	if (lsb < 12 || lsb > VMM_LSB_MAX) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID,
		    "si_addr_lsb %u out of range 12..%d", fw->lsb,
		    VMM_LSB_MAX);
		return;
	}
	if (vm_translate(vm, fw->hva, &addr, NULL) == -1) {
		server_error(c, id, RAS__ERROR_CODE__ERR_OUT_OF_RANGE,
		    "%s at host address 0x%llx: outside every memory slot "
		    "of VM %s", ras_kind_name(fw->kind),
		    (unsigned long long)fw->hva, vm->name);
		return;
	}
	/* The granule is recorded; the exact address is what the guest is
	 * told, so that it offlines the page it touched. */
	len = 1ULL << lsb;
	gpa = addr & ~(len - 1);
	flags = fw->has_irq_masked && !fw->irq_masked ?
	    POLICY_IRQ_UNMASKED : 0;

	memset(&e, 0, sizeof e);
	e.client = c;
	e.req_id = id;
	e.has_seq = fw->has_seq;
	e.seq = fw->seq;
	e.addr = addr;
	e.ev.vm = vm;
	e.ev.gpa = gpa;
	e.ev.len = len;
	if (poison_covering(&vm->active, gpa, len, &have)) {
		/* Already durable: answer at once with the decision recorded
		 * for this kind, and record nothing new. */
		pd = fw->kind == RAS_KIND_AR ? &have.ar : &have.ao;
		if (vmm_still_good(pd->action, pd->notify, fw->kind, flags)) {
			vmm_answer_repeat(c, &e, fw->kind, pd->action,
			    pd->notify, pd->source_id);
			return;
		}
		if (fw->kind == RAS_KIND_AO && have.ar.action != 0) {
			/* The guest was told synchronously already; an AO
			 * adds nothing to record, but its answer is an
			 * AO's. */
			vmm_decide(vm, RAS_KIND_AO, flags, &dec);
			vmm_answer_repeat(c, &e, RAS_KIND_AO, dec.action,
			    dec.notify, dec.source_id);
			return;
		}
	}
	pend = batch_find(vm, gpa, len, (int)fw->kind);
	if (pend == NULL && fw->kind == RAS_KIND_AO)
		pend = batch_find(vm, gpa, len, RAS_KIND_AR);
	if (pend != NULL && (pend->ev.kind != fw->kind || vmm_still_good(
	    pend->ev.action, pend->ev.notify, fw->kind, flags))) {
		/* Being recorded in this turn: answer after the commit. */
		e.repeat = 1;
		e.ev = pend->ev;
		e.ev.gpa = gpa;
		e.ev.len = len;
		e.hest_type = pend->hest_type;
		if (pend->ev.kind != fw->kind) {
			vmm_decide(vm, RAS_KIND_AO, flags, &dec);
			e.ev.kind = RAS_KIND_AO;
			e.ev.action = dec.action;
			e.ev.notify = dec.action == RAS_ACTION_INJECT ?
			    dec.notify : RAS_NOTIFY_NONE;
			e.ev.source_id = dec.source_id;
			e.hest_type = dec.hest_type;
		}
		batch_add(&e);
		return;
	}
	if (vm->handed_off)
		log_warnx("vm %s: %s at gpa 0x%llx after the VM was handed off "
		    "to another host: recorded here only", vm->name,
		    ras_kind_name(fw->kind), (unsigned long long)addr);
	vmm_decide(vm, fw->kind, flags, &dec);
	e.ev.kind = (uint8_t)fw->kind;
	e.ev.action = dec.action;
	e.ev.notify = dec.action == RAS_ACTION_INJECT ? dec.notify :
	    RAS_NOTIFY_NONE;
	e.ev.source_id = dec.source_id;
	e.ev.time = (int64_t)time(NULL);
	e.ev.origin = "forward";
	e.hest_type = dec.hest_type;
	vm->generation++;
	batch_add(&e);
}

/*
 * Retire a VM's active poison and unpin its boot profile: the guest was
 * reset and its memory is fresh. The history stays. Returns -1 if the
 * store could not record it (memory is then left unchanged).
 */
int
vmm_retire(struct vm *vm, const char *why)
{
	size_t n = vm->active.n;

	if (batch_flush() == -1)
		return -1;
	vm->pinned = 0;
	vm->generation++;
	if (store_retire(vm) == -1) {
		vm->pinned = 1;
		return -1;
	}
	poison_clear(&vm->active);
	vm->held_since = 0;
	vm->vmm_lost_base = vm->vmm_lost;	/* fresh memory: nothing lost */
	vm->released = 0;
	log_info("vm %s: %s retires %zu poisoned ranges and unpins the boot "
	    "profile", vm->name, why, n);
	peer_incoming_end(vm, why);
	virt_vm_changed(vm);
	return 0;
}

/* Guest reset told by the VMM. */
void
vmm_reset(struct client *c, uint64_t id, ProtobufCBinaryData uuid)
{
	if (vmm_check_vm(c, id, uuid) == -1)
		return;
	if (vmm_retire(c->vm, "guest reset") == -1) {
		server_error(c, id, RAS__ERROR_CODE__ERR_STORE,
		    "reset of VM %s not recorded: %s", c->vm->name,
		    store_error());
		return;
	}
	server_ack(c, id);
}

/* Replace the memory map after memslot changes. */
void
vmm_set_slots(struct client *c, uint64_t id, Ras__SetSlots *ss)
{
	char err[256];

	if (vmm_check_vm(c, id, ss->uuid) == -1)
		return;
	if (vmm_check_slots(ss->slots, ss->n_slots, err, sizeof err) == -1) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID, "%s", err);
		return;
	}
	vmm_copy_slots(c->vm, ss->slots, ss->n_slots);
	if (store_save_vm(c->vm) == -1) {
		server_error(c, id, RAS__ERROR_CODE__ERR_STORE,
		    "memory map of VM %s not recorded: %s", c->vm->name,
		    store_error());
		return;
	}
	log_debug("vm %s: memory map now has %zu slots", c->vm->name,
	    c->vm->nslots);
	server_ack(c, id);
}

/* Clean unregistration: the VM is stopped, its poison stays. */
void
vmm_unregister(struct client *c, uint64_t id, ProtobufCBinaryData uuid)
{
	struct vm *vm;

	if (vmm_check_vm(c, id, uuid) == -1)
		return;
	vm = c->vm;
	vm->client = NULL;
	if (vm->state != VM_MIGRATED)	/* a handed-off VM stays so */
		vm->state = VM_STOPPED;
	c->vm = NULL;
	if (store_save_vm(vm) == -1)
		log_warnx("vm %s: stop not recorded: %s", vm->name,
		    store_error());
	log_info("vm %s: unregistered by pid %d", vm->name, (int)c->pid);
	virt_vm_changed(vm);
	server_ack(c, id);
}

/* The VMM connection went away without unregistering. */
void
vmm_detach(struct vm *vm, struct client *c)
{
	vm->client = NULL;
	c->vm = NULL;
	vm->held_since = 0;		/* whatever held it is gone */
	if (vm->state == VM_RUNNING) {	/* migrated-away stays so */
		vm->state = VM_DISCONNECTED;
		log_info("vm %s: VMM pid %d disconnected", vm->name,
		    (int)c->pid);
		if (store_save_vm(vm) == -1)
			log_warnx("vm %s: state not recorded: %s", vm->name,
			    store_error());
		virt_vm_changed(vm);
	}
}
