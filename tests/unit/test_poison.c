/*
 * test_poison.c -- range coalescing in daemon/poison.c.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "../../daemon/rasd.h"

static struct poison_set ps;

static void
setup(void)
{
	poison_init(&ps);
}

static void
teardown(void)
{
	poison_free(&ps);
}

TestSuite(poison, .init = setup, .fini = teardown);

static void
add(uint64_t gpa, uint64_t len, int kind, int notify, int64_t t)
{
	struct poison_range r = { 0 };

	r.gpa = gpa;
	r.len = len;
	r.kind = (uint8_t)kind;
	r.action = RAS_ACTION_INJECT;
	r.notify = (uint8_t)notify;
	r.source_id = (uint16_t)notify;
	r.first_seen = t;
	r.records = 1;
	poison_add(&ps, &r);
}

static void
expect(size_t i, uint64_t gpa, uint64_t len)
{
	cr_assert_lt(i, ps.n, "range %zu missing (have %zu)", i, ps.n);
	cr_assert_eq(ps.r[i].gpa, gpa, "range %zu gpa 0x%llx", i,
	    (unsigned long long)ps.r[i].gpa);
	cr_assert_eq(ps.r[i].len, len, "range %zu len 0x%llx", i,
	    (unsigned long long)ps.r[i].len);
}

Test(poison, disjoint_ranges_stay_sorted)
{
	add(0x5000, 0x1000, RAS_KIND_AR, RAS_NOTIFY_SEA, 1);
	add(0x1000, 0x1000, RAS_KIND_AR, RAS_NOTIFY_SEA, 2);
	add(0x3000, 0x1000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 3);
	cr_assert_eq(ps.n, 3);
	expect(0, 0x1000, 0x1000);
	expect(1, 0x3000, 0x1000);
	expect(2, 0x5000, 0x1000);
	cr_assert_eq(poison_bytes(&ps), 0x3000);
}

Test(poison, adjacent_ranges_merge)
{
	add(0x1000, 0x1000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 5);
	add(0x2000, 0x1000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 6);
	cr_assert_eq(ps.n, 1);
	expect(0, 0x1000, 0x2000);
	cr_assert_eq(ps.r[0].records, 2);
	/* and on the left side */
	add(0x0, 0x1000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 7);
	cr_assert_eq(ps.n, 1);
	expect(0, 0x0, 0x3000);
	cr_assert_eq(ps.r[0].records, 3);
}

Test(poison, bridging_range_merges_three)
{
	add(0x1000, 0x1000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 1);
	add(0x4000, 0x1000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 2);
	add(0x8000, 0x1000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 3);
	add(0x20000, 0x1000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 4);
	add(0x1800, 0x7000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 9);
	cr_assert_eq(ps.n, 2);
	expect(0, 0x1000, 0x8000);
	expect(1, 0x20000, 0x1000);
	cr_assert_eq(ps.r[0].records, 4);
}

Test(poison, contained_range_changes_nothing_but_count)
{
	add(0x200000, 0x200000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 1);
	add(0x300000, 0x1000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 2);
	cr_assert_eq(ps.n, 1);
	expect(0, 0x200000, 0x200000);
}

Test(poison, merged_range_keeps_each_kinds_earliest_decision)
{
	add(0x2000, 0x1000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 10);
	add(0x3000, 0x1000, RAS_KIND_AR, RAS_NOTIFY_SEA, 20);
	cr_assert_eq(ps.n, 1);
	cr_assert_eq(ps.r[0].kind, RAS_KIND_AR);
	/* An AR range shows the AR decision, never the AO's interrupt. */
	cr_assert_eq(ps.r[0].notify, RAS_NOTIFY_SEA);
	cr_assert_eq(ps.r[0].ar.notify, RAS_NOTIFY_SEA);
	cr_assert_eq(ps.r[0].ar.first_seen, 20);
	cr_assert_eq(ps.r[0].ao.notify, RAS_NOTIFY_GPIO);
	cr_assert_eq(ps.r[0].ao.first_seen, 10);
	cr_assert_eq(ps.r[0].first_seen, 10);
	cr_assert_eq(ps.r[0].records, 2);
	/* An earlier record arriving later (import) takes over its kind. */
	add(0x1000, 0x1000, RAS_KIND_AO, RAS_NOTIFY_GSIV, 5);
	cr_assert_eq(ps.r[0].ao.notify, RAS_NOTIFY_GSIV);
	cr_assert_eq(ps.r[0].ar.notify, RAS_NOTIFY_SEA);
	cr_assert_eq(ps.r[0].notify, RAS_NOTIFY_SEA);
	cr_assert_eq(ps.r[0].first_seen, 5);
	/* A later record of a kind keeps the earlier decision. */
	add(0x4000, 0x1000, RAS_KIND_AR, RAS_NOTIFY_NMI, 30);
	cr_assert_eq(ps.r[0].ar.notify, RAS_NOTIFY_SEA);
	cr_assert_eq(ps.r[0].len, 0x4000);
}

Test(poison, ao_only_range_has_no_ar_decision)
{
	add(0x200000, 0x200000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 1);
	cr_assert_eq(ps.r[0].kind, RAS_KIND_AO);
	cr_assert_eq(ps.r[0].ar.action, 0);
	cr_assert_eq(ps.r[0].ao.action, RAS_ACTION_INJECT);
	cr_assert_eq(ps.r[0].notify, RAS_NOTIFY_GPIO);
	/* An AR inside the 2 MiB AO range: one range, both decisions. */
	add(0x201000, 0x1000, RAS_KIND_AR, RAS_NOTIFY_SEA, 2);
	cr_assert_eq(ps.n, 1);
	cr_assert_eq(ps.r[0].len, 0x200000);
	cr_assert_eq(ps.r[0].kind, RAS_KIND_AR);
	cr_assert_eq(ps.r[0].ar.notify, RAS_NOTIFY_SEA);
	cr_assert_eq(ps.r[0].ao.notify, RAS_NOTIFY_GPIO);
}

Test(poison, covering_finds_only_whole_containment)
{
	add(0x10000, 0x2000, RAS_KIND_AR, RAS_NOTIFY_SEA, 1);
	add(0x40000, 0x1000, RAS_KIND_AR, RAS_NOTIFY_SEA, 1);
	cr_assert_not_null(poison_covering(&ps, 0x10000, 0x1000));
	cr_assert_not_null(poison_covering(&ps, 0x11000, 0x1000));
	cr_assert_not_null(poison_covering(&ps, 0x10000, 0x2000));
	cr_assert_null(poison_covering(&ps, 0x11000, 0x2000));
	cr_assert_null(poison_covering(&ps, 0xf000, 0x1000));
	cr_assert_null(poison_covering(&ps, 0x12000, 0x1000));
	cr_assert_null(poison_covering(&ps, 0x20000, 0x1000));
	cr_assert_not_null(poison_covering(&ps, 0x40000, 0x1000));
}

Test(poison, many_ranges_against_a_bitmap_model)
{
	/* Random pages in a 1024-page window, checked against a bitmap. */
	unsigned char page[1024] = { 0 };
	size_t i, r;
	unsigned int seed = 12345;

	for (i = 0; i < 600; i++) {
		size_t p = (size_t)(rand_r(&seed) % 1020), n = 1 +
		    (size_t)(rand_r(&seed) % 4);

		add((uint64_t)p << 12, (uint64_t)n << 12, RAS_KIND_AO,
		    RAS_NOTIFY_GPIO, (int64_t)i);
		for (r = p; r < p + n; r++)
			page[r] = 1;
		/* invariant: sorted, disjoint, not adjacent */
		for (r = 1; r < ps.n; r++)
			cr_assert_gt(ps.r[r].gpa, ps.r[r - 1].gpa +
			    ps.r[r - 1].len);
	}
	for (i = 0; i < 1024; i++)
		cr_assert_eq(poison_covering(&ps, (uint64_t)i << 12, 4096) !=
		    NULL, page[i] != 0, "page %zu", i);
}

Test(poison, clear_keeps_nothing)
{
	add(0x1000, 0x1000, RAS_KIND_AR, RAS_NOTIFY_SEA, 1);
	poison_clear(&ps);
	cr_assert_eq(ps.n, 0);
	cr_assert_null(poison_covering(&ps, 0x1000, 0x1000));
	cr_assert_eq(poison_bytes(&ps), 0);
}

/*
 * A range ending exactly at 2^64: its end wraps to 0, so every comparison
 * must go through its last byte. A repeat is covered and merges; a
 * neighbour below merges; nothing wraps into a range at 0.
 */
Test(poison, range_ending_at_two_to_the_64)
{
	const uint64_t top = UINT64_MAX - 0xfff;	/* last page */

	add(0x0, 0x1000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 1);
	add(top, 0x1000, RAS_KIND_AR, RAS_NOTIFY_SEA, 2);
	cr_assert_eq(ps.n, 2, "the top page merged with page 0 (wrap)");
	expect(1, top, 0x1000);
	cr_assert_not_null(poison_covering(&ps, top, 0x1000));
	cr_assert_not_null(poison_covering(&ps, UINT64_MAX, 1));
	cr_assert_null(poison_covering(&ps, top - 0x1000, 0x1000));
	add(top, 0x1000, RAS_KIND_AR, RAS_NOTIFY_SEA, 3);
	cr_assert_eq(ps.n, 2, "a repeat at the top became a new range");
	cr_assert_eq(ps.r[1].records, 2);
	add(top - 0x1000, 0x1000, RAS_KIND_AR, RAS_NOTIFY_SEA, 4);
	cr_assert_eq(ps.n, 2);
	expect(1, top - 0x1000, 0x2000);
	expect(0, 0x0, 0x1000);
	/* A range past 2^64 is cut at it. */
	add(UINT64_MAX - 0x7ff, 0x1000, RAS_KIND_AR, RAS_NOTIFY_SEA, 5);
	cr_assert_eq(ps.n, 2);
	expect(1, top - 0x1000, 0x2000);
}

/* Covering never overflows on huge lengths. */
Test(poison, covering_with_huge_length)
{
	add(0x10000, 0x2000, RAS_KIND_AR, RAS_NOTIFY_SEA, 1);
	cr_assert_null(poison_covering(&ps, 0x11000, UINT64_MAX));
	cr_assert_null(poison_covering(&ps, 0x10000, 0));
}
