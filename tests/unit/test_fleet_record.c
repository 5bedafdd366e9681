/*
 * test_fleet_record.c -- a host's record in etcd (fleet/record.c): its
 * JSON encoding, decoding it back, and what a reader refuses.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ras.h"
#include "../../fleet/record.h"

/* A record with every field set. */
static void
sample(struct record *r)
{
	struct record_vm *vm;

	record_init(r);
	strcpy(r->host_id, "host-a");
	strcpy(r->hostname, "host-a.example");
	strcpy(r->boot_id, "3d8b9be6-21b6-44ff-8999-d84da8634736");
	strcpy(r->libvirt_uri, "qemu:///system");
	strcpy(r->peer, "tcp:host-a.example:7465");
	strcpy(r->health, "degraded");
	record_add_reason(r, "2 uncorrected errors in 24h");
	record_add_inject(r, "x86_64", RAS_NOTIFY_BIT(RAS_NOTIFY_MCE));
	record_add_inject(r, "arm64", RAS_NOTIFY_BIT(RAS_NOTIFY_SEA));
	record_add_inject(r, "arm64", RAS_NOTIFY_BIT(RAS_NOTIFY_GSIV));
	r->mem_available = 8589934592ull;
	r->updated = 1700000000;
	vm = record_add_vm(r);
	strcpy(vm->uuid, "203c1f00-d9c2-4d65-8354-a29415af1663");
	strcpy(vm->name, "vm1");
	strcpy(vm->arch, "arm64");
	strcpy(vm->state, "running");
	vm->pinned = 1;
	vm->profile = RAS_NOTIFY_BIT(RAS_NOTIFY_SEA) |
	    RAS_NOTIFY_BIT(RAS_NOTIFY_GSIV);
	vm = record_add_vm(r);
	strcpy(vm->uuid, "00000000-0000-0000-0000-000000000002");
	strcpy(vm->name, "vm2");
	strcpy(vm->arch, "x86_64");
	strcpy(vm->state, "stopped");
}

/* Decode text, expecting failure with err containing want. */
static void
refuses(const char *text, const char *want)
{
	struct record r;
	char err[256] = "";

	record_init(&r);
	cr_expect_eq(record_decode(&r, text, strlen(text), err, sizeof err),
	    -1, "accepted: %s", text);
	cr_expect(strstr(err, want) != NULL, "for %s: error \"%s\" lacks "
	    "\"%s\"", text, err, want);
	record_clear(&r);
}

Test(fleet_record, encodes_the_documented_shape)
{
	struct record r;
	json_t *j;
	json_error_t jerr;
	char *s, *t;

	sample(&r);
	s = record_encode(&r, 1);
	cr_assert_not_null(s);
	j = json_loads(s, 0, &jerr);
	cr_assert_not_null(j, "%s", jerr.text);
	cr_expect_eq(json_integer_value(json_object_get(j, "version")), 1);
	cr_expect_str_eq(json_string_value(json_object_get(j, "host_id")),
	    "host-a");
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j,
	    "health"), "state")), "degraded");
	cr_expect_eq(json_integer_value(json_object_get(j, "mem_available")),
	    8589934592ll);
	cr_expect_eq(json_integer_value(json_object_get(j, "updated")),
	    1700000000);
	/* Types go by name, in enum order. */
	t = json_dumps(json_object_get(json_object_get(j, "inject"),
	    "arm64"), JSON_COMPACT);
	cr_expect_str_eq(t, "[\"SEA\",\"GSIV\"]");
	free(t);
	cr_expect_eq(json_array_size(json_object_get(json_array_get(
	    json_object_get(j, "vms"), 1), "profile")), 0);
	cr_expect(json_is_true(json_object_get(json_array_get(
	    json_object_get(j, "vms"), 0), "profile_pinned")));
	json_decref(j);
	free(s);
	record_clear(&r);
}

Test(fleet_record, round_trip)
{
	struct record r, back;
	char *s, *again, err[256];

	sample(&r);
	s = record_encode(&r, 1);
	record_init(&back);
	cr_assert_eq(record_decode(&back, s, strlen(s), err, sizeof err), 0,
	    "%s", err);
	cr_expect_str_eq(back.host_id, "host-a");
	cr_expect_str_eq(back.peer, "tcp:host-a.example:7465");
	cr_expect_eq(back.nreasons, 1);
	cr_expect_eq(back.ninject, 2);
	cr_expect_eq(back.nvms, 2);
	cr_expect_eq(back.vms[0].profile, r.vms[0].profile);
	cr_expect_eq(back.vms[0].pinned, 1);
	cr_expect_eq(back.vms[1].pinned, 0);
	cr_expect_eq(back.mem_available, r.mem_available);
	cr_expect_eq(back.updated, r.updated);
	again = record_encode(&back, 1);
	cr_expect_str_eq(again, s, "re-encoding differs");
	free(s);
	free(again);
	record_clear(&r);
	record_clear(&back);
}

Test(fleet_record, without_time_compares_equal)
{
	struct record r;
	char *a, *b;

	sample(&r);
	a = record_encode(&r, 0);
	r.updated += 60;
	b = record_encode(&r, 0);
	cr_expect_str_eq(a, b);
	cr_expect_null(strstr(a, "updated"));
	free(a);
	free(b);
	r.vms[0].pinned = 0;
	b = record_encode(&r, 0);
	a = record_encode(&r, 1);
	cr_expect_str_neq(a, b);
	free(a);
	free(b);
	record_clear(&r);
}

Test(fleet_record, unknown_members_and_types_are_skipped)
{
	struct record r;
	const char *text = "{\"version\":1,\"host_id\":\"h\",\"future\":[1],"
	    "\"inject\":{\"riscv64\":[\"SEA\",\"NEWTYPE\"]},"
	    "\"vms\":[{\"uuid\":\"u\",\"name\":\"n\",\"profile\":[\"XYZ\","
	    "\"GPIO\"],\"extra\":{}}]}";
	char err[256];

	record_init(&r);
	cr_assert_eq(record_decode(&r, text, strlen(text), err, sizeof err),
	    0, "%s", err);
	cr_expect_eq(r.ninject, 1);
	cr_expect_eq(r.inject[0].notify, RAS_NOTIFY_BIT(RAS_NOTIFY_SEA));
	cr_expect_eq(r.vms[0].profile, RAS_NOTIFY_BIT(RAS_NOTIFY_GPIO));
	cr_expect_str_eq(r.health, "unknown");
	record_clear(&r);
}

Test(fleet_record, refuses_bad_input)
{
	char big[300];

	refuses("", "not JSON");
	refuses("[1,2]", "not a JSON object");
	refuses("{\"host_id\":\"h\"}", "version 0");
	refuses("{\"version\":2,\"host_id\":\"h\"}", "version 2");
	refuses("{\"version\":1}", "no \"host_id\"");
	refuses("{\"version\":1,\"host_id\":7}", "\"host_id\" is not a string");
	refuses("{\"version\":1,\"host_id\":\"h\",\"host_id\":\"g\"}",
	    "duplicate");
	refuses("{\"version\":1,\"host_id\":\"h\",\"vms\":{}}",
	    "\"vms\" is not an array");
	refuses("{\"version\":1,\"host_id\":\"h\",\"vms\":[3]}",
	    "vms[0] is not an object");
	refuses("{\"version\":1,\"host_id\":\"h\",\"vms\":[{\"profile\":"
	    "\"SEA\"}]}", "vms[0].profile");
	refuses("{\"version\":1,\"host_id\":\"h\",\"vms\":[{\"profile_pinned\""
	    ":1}]}", "profile_pinned");
	refuses("{\"version\":1,\"host_id\":\"h\",\"mem_available\":-1}",
	    "mem_available");
	refuses("{\"version\":1,\"host_id\":\"h\",\"health\":[]}", "health");
	refuses("{\"version\":1,\"host_id\":\"h\",\"inject\":{\"x\":3}}",
	    "inject");
	refuses("{\"version\":1,\"host_id\":\"h\\u0000x\"}", "not JSON");
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	{
		char *t = malloc(strlen(big) + 64);

		sprintf(t, "{\"version\":1,\"host_id\":\"%s\"}", big);
		refuses(t, "at most 63 bytes");
		free(t);
	}
}

Test(fleet_record, refuses_oversize_values)
{
	size_t n = RECORD_VALUE_MAX + 1;
	char *t = malloc(n);
	struct record r;
	char err[256];

	memset(t, ' ', n);
	record_init(&r);
	cr_expect_eq(record_decode(&r, t, n, err, sizeof err), -1);
	cr_expect(strstr(err, "larger than") != NULL, "%s", err);
	free(t);
	record_clear(&r);
}

Test(fleet_record, notify_list)
{
	char buf[64];

	cr_expect_str_eq(record_notify_list(0, buf, sizeof buf), "-");
	cr_expect_str_eq(record_notify_list(RAS_NOTIFY_BIT(RAS_NOTIFY_SEA) |
	    RAS_NOTIFY_BIT(RAS_NOTIFY_POLLED), buf, sizeof buf), "POLLED,SEA");
}
