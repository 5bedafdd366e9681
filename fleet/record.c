/*
 * record.c -- a host's record in etcd and its JSON form.
 *
 * The value under FLEET_PREFIX/hosts/HOST-ID (leased: it goes when the
 * host's rasd does) and under FLEET_PREFIX/held/HOST-ID (not leased: what
 * the host last held) is one JSON object:
 *
 *   { "version": 1, "host_id": "host-a", "hostname": "host-a.example",
 *     "boot_id": "...", "libvirt_uri": "qemu:///system",
 *     "peer": "tcp:host-a.example:7465",
 *     "health": { "state": "healthy", "reasons": [ "..." ] },
 *     "inject": { "x86_64": [ "MCE" ], "arm64": [ "SEA", "GSIV" ] },
 *     "mem_available": 8589934592, "updated": 1700000000,
 *     "vms": [ { "uuid": "...", "name": "vm1", "arch": "x86_64",
 *                "state": "running", "profile_pinned": true,
 *                "profile": [ "MCE" ], "memory": 1073741824 } ] }
 *
 * Notification types go by their names (ras_notify_name), so the record
 * reads the same whatever a reader's enum numbering; a name a reader does
 * not know is skipped, as are members it does not know. A reader refuses
 * a newer "version", a value that is not an object, and members of the
 * wrong type or too long: a record is outside input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ras.h"
#include "../daemon/rasd.h"
#include "record.h"

/* An empty record. */
void
record_init(struct record *r)
{
	memset(r, 0, sizeof *r);
	strcpy(r->health, "unknown");
}

/* Free what a record holds and empty it. */
void
record_clear(struct record *r)
{
	size_t i;

	for (i = 0; i < r->nreasons; i++)
		free(r->reasons[i]);
	free(r->vms);
	record_init(r);
}

/* Add a health reason (beyond RECORD_REASONS_MAX they are dropped). */
void
record_add_reason(struct record *r, const char *why)
{
	if (r->nreasons < RECORD_REASONS_MAX)
		r->reasons[r->nreasons++] = xstrdup(why);
}

/* Add a zeroed VM and return it. */
struct record_vm *
record_add_vm(struct record *r)
{
	r->vms = xreallocarray(r->vms, r->nvms + 1, sizeof *r->vms);
	memset(&r->vms[r->nvms], 0, sizeof *r->vms);
	return &r->vms[r->nvms++];
}

/* Merge notify into what arch's VMMs can inject. */
void
record_add_inject(struct record *r, const char *arch, uint32_t notify)
{
	size_t i;

	for (i = 0; i < r->ninject; i++)
		if (strcmp(r->inject[i].arch, arch) == 0)
			break;
	if (i == r->ninject) {
		if (r->ninject == RECORD_ARCHES_MAX)
			return;
		snprintf(r->inject[i].arch, sizeof r->inject[i].arch, "%s",
		    arch);
		r->ninject++;
	}
	r->inject[i].notify |= notify;
}

/* A mask of notification types as a JSON array of names. */
static json_t *
record_notify_array(uint32_t mask)
{
	json_t *a = json_array();
	unsigned int t;

	for (t = 0; t < RAS_NOTIFY_COUNT; t++)
		if (mask & RAS_NOTIFY_BIT(t))
			json_array_append_new(a, json_string(
			    ras_notify_name(t)));
	return a;
}

/* "SEA,GSIV" (or "-" for none) into buf. */
char *
record_notify_list(uint32_t mask, char *buf, size_t len)
{
	unsigned int t;
	size_t off = 0;

	buf[0] = '\0';
	for (t = 0; t < RAS_NOTIFY_COUNT && off < len; t++)
		if (mask & RAS_NOTIFY_BIT(t))
			off += (size_t)snprintf(buf + off, len - off, "%s%s",
			    off ? "," : "", ras_notify_name(t));
	if (buf[0] == '\0')
		snprintf(buf, len, "-");
	return buf;
}

/*
 * The record as compact JSON (free it); with_time 0 leaves "updated" out,
 * so that two encodings compare equal when nothing else changed.
 */
char *
record_encode(const struct record *r, int with_time)
{
	json_t *o, *h, *a, *inj, *vms, *v;
	char *s;
	size_t i;

	o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "version",
	    RECORD_VERSION, "host_id", r->host_id, "hostname", r->hostname,
	    "boot_id", r->boot_id, "libvirt_uri", r->libvirt_uri, "peer",
	    r->peer);
	a = json_array();
	for (i = 0; i < r->nreasons; i++)
		json_array_append_new(a, json_string(r->reasons[i]));
	h = json_pack("{s:s, s:o}", "state", r->health, "reasons", a);
	json_object_set_new(o, "health", h);
	inj = json_object();
	for (i = 0; i < r->ninject; i++)
		json_object_set_new(inj, r->inject[i].arch,
		    record_notify_array(r->inject[i].notify));
	json_object_set_new(o, "inject", inj);
	json_object_set_new(o, "mem_available",
	    json_integer((json_int_t)r->mem_available));
	if (with_time)
		json_object_set_new(o, "updated",
		    json_integer((json_int_t)r->updated));
	vms = json_array();
	for (i = 0; i < r->nvms; i++) {
		v = json_pack("{s:s, s:s, s:s, s:s, s:b, s:o}", "uuid",
		    r->vms[i].uuid, "name", r->vms[i].name, "arch",
		    r->vms[i].arch, "state", r->vms[i].state,
		    "profile_pinned", r->vms[i].pinned, "profile",
		    record_notify_array(r->vms[i].profile));
		json_object_set_new(v, "memory",
		    json_integer((json_int_t)r->vms[i].memory));
		json_array_append_new(vms, v);
	}
	json_object_set_new(o, "vms", vms);
	/* Invalid UTF-8 (a VM's name is the VMM's bytes) fails the packs. */
	s = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	return s;
}

/* Copy an optional string member; -1 when it has the wrong type or size. */
static int
record_str(const json_t *o, const char *field, char *dst, size_t cap,
    char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, field);

	if (v == NULL) {
		dst[0] = '\0';
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) >= cap ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "\"%s\" is not a string of at most "
		    "%zu bytes", field, cap - 1);
		return -1;
	}
	strcpy(dst, json_string_value(v));
	return 0;
}

/* A JSON array of notification names as a mask; -1 when not an array. */
static int
record_notify_mask(const json_t *a, uint32_t *mask)
{
	const json_t *v;
	size_t i;
	int t;

	*mask = 0;
	if (a == NULL)
		return 0;
	if (!json_is_array(a))
		return -1;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v))
			return -1;
		if ((t = ras_notify_from_name(json_string_value(v))) >= 0 &&
		    t < RAS_NOTIFY_COUNT)
			*mask |= RAS_NOTIFY_BIT(t);
	}
	return 0;
}

/* The "health" member. */
static int
record_decode_health(struct record *r, const json_t *h, char *err,
    size_t errlen)
{
	const json_t *a, *v;
	size_t i;

	if (h == NULL)
		return 0;
	if (!json_is_object(h) || record_str(h, "state", r->health,
	    sizeof r->health, err, errlen) == -1) {
		snprintf(err, errlen, "\"health\" is not an object with a "
		    "short \"state\"");
		return -1;
	}
	if (r->health[0] == '\0')
		strcpy(r->health, "unknown");
	if ((a = json_object_get(h, "reasons")) == NULL)
		return 0;
	if (!json_is_array(a)) {
		snprintf(err, errlen, "\"health.reasons\" is not an array");
		return -1;
	}
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || json_string_length(v) > 1024) {
			snprintf(err, errlen, "a health reason is not a "
			    "string of at most 1024 bytes");
			return -1;
		}
		record_add_reason(r, json_string_value(v));
	}
	return 0;
}

/* The "inject" member. */
static int
record_decode_inject(struct record *r, const json_t *o, char *err,
    size_t errlen)
{
	const char *arch;
	const json_t *v;
	uint32_t mask;

	if (o == NULL)
		return 0;
	if (!json_is_object(o)) {
		snprintf(err, errlen, "\"inject\" is not an object");
		return -1;
	}
	json_object_foreach((json_t *)o, arch, v) {
		if (record_notify_mask(v, &mask) == -1 || strlen(arch) >=
		    sizeof r->inject[0].arch) {
			snprintf(err, errlen, "\"inject\": \"%.16s\" is not a "
			    "list of notification types", arch);
			return -1;
		}
		record_add_inject(r, arch, mask);
	}
	return 0;
}

static int record_uint(const json_t *, const char *, uint64_t *, char *,
    size_t);

/* The "vms" member. */
static int
record_decode_vms(struct record *r, const json_t *a, char *err,
    size_t errlen)
{
	struct record_vm *vm;
	const json_t *v, *p;
	size_t i;

	if (a == NULL)
		return 0;
	if (!json_is_array(a)) {
		snprintf(err, errlen, "\"vms\" is not an array");
		return -1;
	}
	json_array_foreach(a, i, v) {
		if (!json_is_object(v)) {
			snprintf(err, errlen, "vms[%zu] is not an object", i);
			return -1;
		}
		vm = record_add_vm(r);
		p = json_object_get(v, "profile_pinned");
		if (record_str(v, "uuid", vm->uuid, sizeof vm->uuid, err,
		    errlen) == -1 || record_str(v, "name", vm->name,
		    sizeof vm->name, err, errlen) == -1 || record_str(v,
		    "arch", vm->arch, sizeof vm->arch, err, errlen) == -1 ||
		    record_str(v, "state", vm->state, sizeof vm->state, err,
		    errlen) == -1)
			return -1;
		if (p != NULL && !json_is_boolean(p)) {
			snprintf(err, errlen, "vms[%zu].profile_pinned is not "
			    "a boolean", i);
			return -1;
		}
		vm->pinned = json_is_true(p);
		if (record_notify_mask(json_object_get(v, "profile"),
		    &vm->profile) == -1) {
			snprintf(err, errlen, "vms[%zu].profile is not a list "
			    "of notification types", i);
			return -1;
		}
		if (record_uint(v, "memory", &vm->memory, err, errlen) == -1)
			return -1;
	}
	return 0;
}

/* An optional non-negative integer member. */
static int
record_uint(const json_t *o, const char *field, uint64_t *dst, char *err,
    size_t errlen)
{
	const json_t *v = json_object_get(o, field);

	*dst = 0;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(err, errlen, "\"%s\" is not a non-negative integer",
		    field);
		return -1;
	}
	*dst = (uint64_t)json_integer_value(v);
	return 0;
}

/*
 * Parse a record from len bytes of JSON into r (record_init'ed by the
 * caller, record_clear it after either way). -1 with err on bad input.
 */
int
record_decode(struct record *r, const char *text, size_t len, char *err,
    size_t errlen)
{
	json_error_t jerr;
	json_t *o;
	uint64_t n;
	int rc = -1;

	if (len > RECORD_VALUE_MAX) {
		snprintf(err, errlen, "%zu bytes: larger than %u", len,
		    RECORD_VALUE_MAX);
		return -1;
	}
	if ((o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, errlen, "not JSON: %s (at %d)", jerr.text,
		    jerr.position);
		return -1;
	}
	if (!json_is_object(o)) {
		snprintf(err, errlen, "not a JSON object");
		goto out;
	}
	if (record_uint(o, "version", &n, err, errlen) == -1)
		goto out;
	if (n == 0 || n > RECORD_VERSION) {
		snprintf(err, errlen, "version %llu (this rasd reads 1..%d)",
		    (unsigned long long)n, RECORD_VERSION);
		goto out;
	}
	if (record_str(o, "host_id", r->host_id, sizeof r->host_id, err,
	    errlen) == -1 || record_str(o, "hostname", r->hostname,
	    sizeof r->hostname, err, errlen) == -1 || record_str(o,
	    "boot_id", r->boot_id, sizeof r->boot_id, err, errlen) == -1 ||
	    record_str(o, "libvirt_uri", r->libvirt_uri,
	    sizeof r->libvirt_uri, err, errlen) == -1 || record_str(o, "peer",
	    r->peer, sizeof r->peer, err, errlen) == -1)
		goto out;
	if (r->host_id[0] == '\0') {
		snprintf(err, errlen, "no \"host_id\"");
		goto out;
	}
	if (record_decode_health(r, json_object_get(o, "health"), err,
	    errlen) == -1 || record_decode_inject(r, json_object_get(o,
	    "inject"), err, errlen) == -1 || record_decode_vms(r,
	    json_object_get(o, "vms"), err, errlen) == -1 ||
	    record_uint(o, "mem_available", &r->mem_available, err,
	    errlen) == -1 || record_uint(o, "updated", &n, err, errlen) == -1)
		goto out;
	r->updated = (int64_t)n;
	rc = 0;
out:
	json_decref(o);
	return rc;
}
