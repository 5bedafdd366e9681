/*
 * test_fleet_plan.c -- the evacuation planner and its intents
 * (fleet/plan.c): which host takes a VM, why none does, the memory a plan
 * promises, the planner's order, and an intent's JSON both ways.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ras.h"
#include "../../fleet/plan.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static struct record hosts[4];
static struct plan_host ph[4];

/* host-a (the source), host-b (x86 MCE), host-c (x86 MCE,NMI; arm64 SEA). */
static void
fleet(uint64_t mem_b, uint64_t mem_c)
{
	size_t i;

	for (i = 0; i < 3; i++) {
		record_init(&hosts[i]);
		snprintf(hosts[i].host_id, sizeof hosts[i].host_id, "host-%c",
		    (int)('a' + i));
		strcpy(hosts[i].health, "healthy");
		ph[i].r = &hosts[i];
		ph[i].reserved = 0;
	}
	strcpy(hosts[0].health, "evacuate");
	record_add_inject(&hosts[0], "x86_64", RAS_NOTIFY_BIT(RAS_NOTIFY_MCE));
	hosts[0].mem_available = 64 * GiB;
	record_add_inject(&hosts[1], "x86_64", RAS_NOTIFY_BIT(RAS_NOTIFY_MCE));
	hosts[1].mem_available = mem_b;
	record_add_inject(&hosts[2], "x86_64", RAS_NOTIFY_BIT(RAS_NOTIFY_MCE) |
	    RAS_NOTIFY_BIT(RAS_NOTIFY_NMI));
	record_add_inject(&hosts[2], "arm64", RAS_NOTIFY_BIT(RAS_NOTIFY_SEA));
	hosts[2].mem_available = mem_c;
}

static void
vm(struct record_vm *v, const char *name, const char *arch, uint32_t prof,
    uint64_t mem)
{
	memset(v, 0, sizeof *v);
	snprintf(v->uuid, sizeof v->uuid, "00000000-0000-0000-0000-%012u",
	    (unsigned int)strlen(name) % 1000);
	snprintf(v->name, sizeof v->name, "%s", name);
	snprintf(v->arch, sizeof v->arch, "%s", arch);
	strcpy(v->state, "running");
	v->profile = prof;
	v->memory = mem;
}

Test(plan, most_memory_left_wins_and_is_reserved)
{
	struct record_vm v;
	struct intent in;

	fleet(8 * GiB, 6 * GiB);
	vm(&v, "vm1", "x86_64", RAS_NOTIFY_BIT(RAS_NOTIFY_MCE), 4 * GiB);
	cr_assert_eq(plan_place(ph, 3, "host-a", &v, &in), 0);
	cr_expect_str_eq(in.dest, "host-b");
	cr_expect_str_eq(in.state, INTENT_PLANNED);
	cr_expect_eq(ph[1].reserved, 4 * GiB);
	/* host-b has 4G left now, host-c 6G: the next goes to host-c. */
	cr_assert_eq(plan_place(ph, 3, "host-a", &v, &in), 0);
	cr_expect_str_eq(in.dest, "host-c");
	/* Then 4G and 2G: host-b again; then nobody has 4G. */
	cr_assert_eq(plan_place(ph, 3, "host-a", &v, &in), 0);
	cr_expect_str_eq(in.dest, "host-b");
	cr_assert_eq(plan_place(ph, 3, "host-a", &v, &in), -1);
	cr_expect_str_eq(in.state, INTENT_REFUSED);
	cr_expect_str_eq(in.dest, "");
	cr_expect(strstr(in.reason, "it needs 4.0G") != NULL, "%s",
	    in.reason);
}

Test(plan, boot_profile_decides)
{
	struct record_vm v;
	struct intent in;

	fleet(8 * GiB, 8 * GiB);
	/* MCE,NMI: only host-c injects both, though host-b has the arch. */
	vm(&v, "vm2", "x86_64", RAS_NOTIFY_BIT(RAS_NOTIFY_MCE) |
	    RAS_NOTIFY_BIT(RAS_NOTIFY_NMI), 1 * GiB);
	cr_assert_eq(plan_place(ph, 3, "host-a", &v, &in), 0);
	cr_expect_str_eq(in.dest, "host-c");
	/* SEA,GSIV: host-c runs arm64 VMMs but cannot inject GSIV. */
	vm(&v, "vm3", "arm64", RAS_NOTIFY_BIT(RAS_NOTIFY_SEA) |
	    RAS_NOTIFY_BIT(RAS_NOTIFY_GSIV), 1 * GiB);
	cr_assert_eq(plan_place(ph, 3, "host-a", &v, &in), -1);
	cr_expect(strstr(in.reason, "host-c cannot inject GSIV (boot profile "
	    "SEA,GSIV)") != NULL, "%s", in.reason);
	/* An architecture nobody runs. */
	vm(&v, "vm4", "riscv64", 0, 1 * GiB);
	cr_assert_eq(plan_place(ph, 3, "host-a", &v, &in), -1);
	cr_expect(strstr(in.reason, "runs no riscv64 VMM") != NULL, "%s",
	    in.reason);
}

Test(plan, unhealthy_and_source_never_chosen)
{
	struct record_vm v;
	struct intent in;

	fleet(8 * GiB, 8 * GiB);
	strcpy(hosts[1].health, "degraded");
	strcpy(hosts[2].health, "unknown");
	vm(&v, "vm1", "x86_64", RAS_NOTIFY_BIT(RAS_NOTIFY_MCE), 1 * GiB);
	cr_assert_eq(plan_place(ph, 3, "host-a", &v, &in), -1);
	cr_expect(strstr(in.reason, "is degraded") != NULL ||
	    strstr(in.reason, "is unknown") != NULL, "%s", in.reason);
	cr_expect(strstr(in.reason, "1 more host") != NULL, "%s", in.reason);
	/* Only the source itself up. */
	cr_assert_eq(plan_place(ph, 1, "host-a", &v, &in), -1);
	cr_expect_str_eq(in.reason, "no other host is up");
	/* A VM of unknown size is never placed. */
	fleet(8 * GiB, 8 * GiB);
	vm(&v, "vm1", "x86_64", RAS_NOTIFY_BIT(RAS_NOTIFY_MCE), 0);
	cr_assert_eq(plan_place(ph, 3, "host-a", &v, &in), -1);
	cr_expect(strstr(in.reason, "memory size is unknown") != NULL, "%s",
	    in.reason);
}

Test(plan, order_largest_first_then_name)
{
	struct record_vm a, b, c;
	const struct record_vm *vms[3] = { &a, &b, &c };

	vm(&a, "small", "x86_64", 0, 1 * GiB);
	vm(&b, "big", "x86_64", 0, 8 * GiB);
	vm(&c, "also-small", "x86_64", 0, 1 * GiB);
	plan_sort_vms(vms, 3);
	cr_expect_str_eq(vms[0]->name, "big");
	cr_expect_str_eq(vms[1]->name, "also-small");
	cr_expect_str_eq(vms[2]->name, "small");
}

Test(intent, round_trip_and_refusals)
{
	struct intent in, out;
	char *s, err[256];

	memset(&in, 0, sizeof in);
	strcpy(in.source, "host-a");
	strcpy(in.uuid, "203c1f00-d9c2-4d65-8354-a29415af1663");
	strcpy(in.name, "vm1");
	strcpy(in.arch, "arm64");
	strcpy(in.dest, "host-b");
	strcpy(in.state, INTENT_MIGRATING);
	strcpy(in.reason, "attempt 1: libvirt: \"quoted\"");
	in.profile = RAS_NOTIFY_BIT(RAS_NOTIFY_SEA) |
	    RAS_NOTIFY_BIT(RAS_NOTIFY_GSIV);
	in.memory = 3 * GiB + 5 * MiB;
	in.attempt = 2;
	in.updated = 1700000000;
	in.retry_at = 1700000010;
	s = intent_encode(&in);
	cr_assert_not_null(s);
	cr_assert_eq(intent_decode(&out, s, strlen(s), err, sizeof err), 0,
	    "%s", err);
	cr_expect_eq(memcmp(&in, &out, sizeof in), 0, "%s", s);
	cr_expect(intent_active(&out));
	free(s);
	cr_expect_eq(intent_decode(&out, "[1]", 3, err, sizeof err), -1);
	cr_expect_eq(intent_decode(&out, "{\"source\":\"a\",\"uuid\":\"u\"}",
	    26, err, sizeof err), -1, "no state accepted");
	cr_expect_eq(intent_decode(&out, "{\"source\":\"a\",\"uuid\":\"u\","
	    "\"state\":\"done\",\"attempt\":-1}", 50, err, sizeof err), -1);
	s = "{\"source\":\"a\",\"uuid\":\"u\",\"state\":\"done\",\"memory\":\"x\"}";
	cr_expect_eq(intent_decode(&out, s, strlen(s), err, sizeof err), -1);
}
