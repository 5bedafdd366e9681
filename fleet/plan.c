/*
 * plan.c -- where the VMs of a host being evacuated go, and the intents
 * that record each move in etcd.
 *
 * A destination must be (in this order, and a refusal names the first
 * test no host passed):
 *   - another host whose rasd is up (its leased record exists),
 *   - healthy (not degraded, not itself to be evacuated, not unknown),
 *   - running VMMs of the VM's architecture (its record's "inject"),
 *   - able to inject every notification type of the VM's boot profile
 *     (so the pinned profile the guest booted with still works there),
 *   - with the VM's memory free: MemAvailable less what earlier moves
 *     already promised to it.
 * Of the hosts that pass, the one with the most memory left after the
 * move takes the VM (ties: the smaller host id), so a plan spreads VMs.
 * VMs are placed largest first; the order (memory, name, UUID) and the
 * sorted hosts make the plan a function of its inputs: the dry run the
 * operator saw is what the controller does when nothing changed between.
 *
 * An intent (FLEET_PREFIX/evac/SOURCE/UUID) is JSON:
 *   { "source": "host-a", "uuid": "...", "name": "vm1", "arch": "x86_64",
 *     "profile": [ "MCE" ], "memory": 1073741824, "dest": "host-b",
 *     "state": "planned", "reason": "", "attempt": 0, "updated": T,
 *     "retry_at": T }
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ras.h"
#include "plan.h"

/* A mask of notification types as a JSON array of names. */
static json_t *
plan_notify_array(uint32_t mask)
{
	json_t *a = json_array();
	unsigned int t;

	for (t = 0; t < RAS_NOTIFY_COUNT; t++)
		if (mask & RAS_NOTIFY_BIT(t))
			json_array_append_new(a, json_string(
			    ras_notify_name(t)));
	return a;
}

/* An intent as compact JSON (free it); NULL if it cannot be encoded. */
char *
intent_encode(const struct intent *in)
{
	json_t *o;
	char *s;

	o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:s, s:s, s:s, s:I, "
	    "s:I, s:I}", "source", in->source, "uuid", in->uuid, "name",
	    in->name, "arch", in->arch, "profile",
	    plan_notify_array(in->profile), "memory", (json_int_t)in->memory,
	    "dest", in->dest, "state", in->state, "reason", in->reason,
	    "attempt", (json_int_t)in->attempt, "updated",
	    (json_int_t)in->updated, "retry_at", (json_int_t)in->retry_at);
	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* Copy a string member (absent: ""); -1 if it is no string or too long. */
static int
plan_str(const json_t *o, const char *field, char *dst, size_t cap)
{
	const json_t *v = json_object_get(o, field);

	dst[0] = '\0';
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= cap ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	strcpy(dst, json_string_value(v));
	return 0;
}

/* A non-negative integer member (absent: 0); -1 if it is not one. */
static int
plan_int(const json_t *o, const char *field, int64_t *dst)
{
	const json_t *v = json_object_get(o, field);

	*dst = 0;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*dst = (int64_t)json_integer_value(v);
	return 0;
}

/* Parse an intent (outside input: etcd's); -1 with err when it is bad. */
int
intent_decode(struct intent *in, const char *text, size_t len, char *err,
    size_t errlen)
{
	json_error_t jerr;
	const json_t *a, *v;
	json_t *o;
	int64_t mem, att, upd, retry;
	size_t i;
	int t, rc = -1;

	memset(in, 0, sizeof *in);
	if ((o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, errlen, "not JSON: %s", jerr.text);
		return -1;
	}
	if (!json_is_object(o) || plan_str(o, "source", in->source,
	    sizeof in->source) == -1 || plan_str(o, "uuid", in->uuid,
	    sizeof in->uuid) == -1 || plan_str(o, "name", in->name,
	    sizeof in->name) == -1 || plan_str(o, "arch", in->arch,
	    sizeof in->arch) == -1 || plan_str(o, "dest", in->dest,
	    sizeof in->dest) == -1 || plan_str(o, "state", in->state,
	    sizeof in->state) == -1 || plan_str(o, "reason", in->reason,
	    sizeof in->reason) == -1 || plan_int(o, "memory", &mem) == -1 ||
	    plan_int(o, "attempt", &att) == -1 || plan_int(o, "updated",
	    &upd) == -1 || plan_int(o, "retry_at", &retry) == -1) {
		snprintf(err, errlen, "a member has the wrong type or size");
		goto out;
	}
	if (in->source[0] == '\0' || in->uuid[0] == '\0' ||
	    in->state[0] == '\0') {
		snprintf(err, errlen, "no source, uuid or state");
		goto out;
	}
	if ((a = json_object_get(o, "profile")) != NULL) {
		if (!json_is_array(a)) {
			snprintf(err, errlen, "\"profile\" is not a list");
			goto out;
		}
		json_array_foreach(a, i, v)
			if (json_is_string(v) && (t = ras_notify_from_name(
			    json_string_value(v))) >= 0 &&
			    t < RAS_NOTIFY_COUNT)
				in->profile |= RAS_NOTIFY_BIT(t);
	}
	in->memory = (uint64_t)mem;
	in->attempt = att > 1000 ? 1000 : (unsigned int)att;
	in->updated = upd;
	in->retry_at = retry;
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/* Whether an intent still holds its destination's memory (planned, moving). */
int
intent_active(const struct intent *in)
{
	return strcmp(in->state, INTENT_PLANNED) == 0 ||
	    strcmp(in->state, INTENT_MIGRATING) == 0;
}

/* Bytes for people: 512M, 1.5G. */
static const char *
plan_bytes(uint64_t n, char *buf, size_t len)
{
	static const char unit[] = "KMGTPE";
	double v = (double)n;
	int u = -1;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%lluB", (unsigned long long)n);
	else
		snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, unit[u]);
	return buf;
}

/* The arch's injectable types on a host, or -1 when it runs none. */
static int64_t
plan_inject(const struct record *r, const char *arch)
{
	size_t i;

	for (i = 0; i < r->ninject; i++)
		if (strcmp(r->inject[i].arch, arch) == 0)
			return r->inject[i].notify;
	return -1;
}

/*
 * Whether h can take vm from source: 0 when it can, else how far it got
 * (1 the source, 2 unhealthy, 3 architecture, 4 boot profile, 5 memory),
 * with why.
 */
int
plan_fits(const struct plan_host *h, const struct record_vm *vm,
    const char *source, char *why, size_t whylen)
{
	const struct record *r = h->r;
	char list[128], b1[32], b2[32];
	uint64_t left;
	int64_t inj;

	if (strcmp(r->host_id, source) == 0) {
		snprintf(why, whylen, "%s is the host being evacuated",
		    r->host_id);
		return 1;
	}
	if (strcmp(r->health, "healthy") != 0) {
		snprintf(why, whylen, "%s is %s", r->host_id, r->health);
		return 2;
	}
	if ((inj = plan_inject(r, vm->arch)) < 0) {
		snprintf(why, whylen, "%s runs no %s VMM", r->host_id,
		    vm->arch);
		return 3;
	}
	if ((vm->profile & ~(uint32_t)inj) != 0) {
		snprintf(why, whylen, "%s cannot inject %s (boot profile %s)",
		    r->host_id, record_notify_list(vm->profile &
		    ~(uint32_t)inj, list, sizeof list), record_notify_list(
		    vm->profile, b2, sizeof b2));
		return 4;
	}
	left = r->mem_available > h->reserved ? r->mem_available -
	    h->reserved : 0;
	if (vm->memory == 0 || left < vm->memory) {
		if (vm->memory == 0)
			snprintf(why, whylen, "its memory size is unknown");
		else
			snprintf(why, whylen, "%s has %s free, it needs %s",
			    r->host_id, plan_bytes(left, b1, sizeof b1),
			    plan_bytes(vm->memory, b2, sizeof b2));
		return 5;
	}
	return 0;
}

/*
 * Place vm (of host source) on one of the n hosts (sorted by id): fills
 * in's dest and state (planned, or refused with the reason) and reserves
 * the memory on the chosen host. Returns 0 placed, -1 refused.
 */
int
plan_place(struct plan_host *hosts, size_t n, const char *source,
    const struct record_vm *vm, struct intent *in)
{
	struct plan_host *best = NULL;
	char why[256], bestwhy[256] = "";
	uint64_t left, bestleft = 0;
	int stage, far = 0;
	size_t i, nfar = 0;

	for (i = 0; i < n; i++) {
		stage = plan_fits(&hosts[i], vm, source, why, sizeof why);
		if (stage == 0) {
			left = hosts[i].r->mem_available - hosts[i].reserved -
			    vm->memory;
			if (best == NULL || left > bestleft) {
				best = &hosts[i];
				bestleft = left;
			}
		} else if (stage > far) {
			far = stage;
			nfar = 1;
			snprintf(bestwhy, sizeof bestwhy, "%s", why);
		} else if (stage == far)
			nfar++;
	}
	if (best != NULL) {
		best->reserved += vm->memory;
		snprintf(in->dest, sizeof in->dest, "%s", best->r->host_id);
		snprintf(in->state, sizeof in->state, INTENT_PLANNED);
		in->reason[0] = '\0';
		return 0;
	}
	in->dest[0] = '\0';
	snprintf(in->state, sizeof in->state, INTENT_REFUSED);
	if (far <= 1)
		snprintf(in->reason, sizeof in->reason, "no other host is up");
	else if (nfar > 1)
		snprintf(in->reason, sizeof in->reason, "no valid "
		    "destination: %s (and %zu more host%s alike)", bestwhy,
		    nfar - 1, nfar == 2 ? "" : "s");
	else
		snprintf(in->reason, sizeof in->reason, "no valid "
		    "destination: %s", bestwhy);
	return -1;
}

/* Largest first, then by name and UUID: the planner's order. */
static int
plan_vm_cmp(const void *a, const void *b)
{
	const struct record_vm *x = *(const struct record_vm *const *)a;
	const struct record_vm *y = *(const struct record_vm *const *)b;
	int c;

	if (x->memory != y->memory)
		return x->memory > y->memory ? -1 : 1;
	if ((c = strcmp(x->name, y->name)) != 0)
		return c;
	return strcmp(x->uuid, y->uuid);
}

void
plan_sort_vms(const struct record_vm **vms, size_t n)
{
	if (n > 1)
		qsort(vms, n, sizeof *vms, plan_vm_cmp);
}
