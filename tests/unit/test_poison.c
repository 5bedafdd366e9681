/*
 * test_poison.c -- range coalescing in daemon/poison.c.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

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

/* The set's range number i, read through an iterator. */
static struct poison_range
at(size_t i)
{
	struct poison_range r;
	struct poison_iter it;
	size_t k;

	cr_assert_lt(i, ps.n, "range %zu missing (have %zu)", i, ps.n);
	poison_seek(&ps, 0, &it);
	for (k = 0; k <= i; k++)
		cr_assert(poison_next(&it, &r), "range %zu missing", k);
	return r;
}

static void
expect(size_t i, uint64_t gpa, uint64_t len)
{
	struct poison_range r = at(i);

	cr_assert_eq(r.gpa, gpa, "range %zu gpa 0x%llx", i,
	    (unsigned long long)r.gpa);
	cr_assert_eq(r.len, len, "range %zu len 0x%llx", i,
	    (unsigned long long)r.len);
}

/* Sorted, disjoint, not adjacent; n and the byte total agree. */
static void
check_invariant(void)
{
	struct poison_range r, prev;
	struct poison_iter it;
	uint64_t bytes = 0;
	size_t n = 0;

	poison_seek(&ps, 0, &it);
	while (poison_next(&it, &r)) {
		if (n > 0)
			cr_assert_gt(r.gpa, prev.gpa + prev.len,
			    "range %zu at 0x%llx touches the one before", n,
			    (unsigned long long)r.gpa);
		bytes += r.len;
		prev = r;
		n++;
	}
	cr_assert_eq(n, ps.n, "iterated %zu ranges, count %zu", n, ps.n);
	cr_assert_eq(bytes, poison_bytes(&ps));
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
	cr_assert_eq(at(0).records, 2);
	/* and on the left side */
	add(0x0, 0x1000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 7);
	cr_assert_eq(ps.n, 1);
	expect(0, 0x0, 0x3000);
	cr_assert_eq(at(0).records, 3);
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
	cr_assert_eq(at(0).records, 4);
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
	cr_assert_eq(at(0).kind, RAS_KIND_AR);
	/* An AR range shows the AR decision, never the AO's interrupt. */
	cr_assert_eq(at(0).notify, RAS_NOTIFY_SEA);
	cr_assert_eq(at(0).ar.notify, RAS_NOTIFY_SEA);
	cr_assert_eq(at(0).ar.first_seen, 20);
	cr_assert_eq(at(0).ao.notify, RAS_NOTIFY_GPIO);
	cr_assert_eq(at(0).ao.first_seen, 10);
	cr_assert_eq(at(0).first_seen, 10);
	cr_assert_eq(at(0).records, 2);
	/* An earlier record arriving later (import) takes over its kind. */
	add(0x1000, 0x1000, RAS_KIND_AO, RAS_NOTIFY_GSIV, 5);
	cr_assert_eq(at(0).ao.notify, RAS_NOTIFY_GSIV);
	cr_assert_eq(at(0).ar.notify, RAS_NOTIFY_SEA);
	cr_assert_eq(at(0).notify, RAS_NOTIFY_SEA);
	cr_assert_eq(at(0).first_seen, 5);
	/* A later record of a kind keeps the earlier decision. */
	add(0x4000, 0x1000, RAS_KIND_AR, RAS_NOTIFY_NMI, 30);
	cr_assert_eq(at(0).ar.notify, RAS_NOTIFY_SEA);
	cr_assert_eq(at(0).len, 0x4000);
}

Test(poison, ao_only_range_has_no_ar_decision)
{
	add(0x200000, 0x200000, RAS_KIND_AO, RAS_NOTIFY_GPIO, 1);
	cr_assert_eq(at(0).kind, RAS_KIND_AO);
	cr_assert_eq(at(0).ar.action, 0);
	cr_assert_eq(at(0).ao.action, RAS_ACTION_INJECT);
	cr_assert_eq(at(0).notify, RAS_NOTIFY_GPIO);
	/* An AR inside the 2 MiB AO range: one range, both decisions. */
	add(0x201000, 0x1000, RAS_KIND_AR, RAS_NOTIFY_SEA, 2);
	cr_assert_eq(ps.n, 1);
	cr_assert_eq(at(0).len, 0x200000);
	cr_assert_eq(at(0).kind, RAS_KIND_AR);
	cr_assert_eq(at(0).ar.notify, RAS_NOTIFY_SEA);
	cr_assert_eq(at(0).ao.notify, RAS_NOTIFY_GPIO);
}

Test(poison, covering_finds_only_whole_containment)
{
	add(0x10000, 0x2000, RAS_KIND_AR, RAS_NOTIFY_SEA, 1);
	add(0x40000, 0x1000, RAS_KIND_AR, RAS_NOTIFY_SEA, 1);
	cr_assert(poison_covering(&ps, 0x10000, 0x1000, NULL));
	cr_assert(poison_covering(&ps, 0x11000, 0x1000, NULL));
	cr_assert(poison_covering(&ps, 0x10000, 0x2000, NULL));
	cr_assert_not(poison_covering(&ps, 0x11000, 0x2000, NULL));
	cr_assert_not(poison_covering(&ps, 0xf000, 0x1000, NULL));
	cr_assert_not(poison_covering(&ps, 0x12000, 0x1000, NULL));
	cr_assert_not(poison_covering(&ps, 0x20000, 0x1000, NULL));
	cr_assert(poison_covering(&ps, 0x40000, 0x1000, NULL));
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
		check_invariant();
	}
	for (i = 0; i < 1024; i++)
		cr_assert_eq(poison_covering(&ps, (uint64_t)i << 12, 4096,
		    NULL) != 0, page[i] != 0, "page %zu", i);
}

Test(poison, clear_keeps_nothing)
{
	add(0x1000, 0x1000, RAS_KIND_AR, RAS_NOTIFY_SEA, 1);
	poison_clear(&ps);
	cr_assert_eq(ps.n, 0);
	cr_assert_not(poison_covering(&ps, 0x1000, 0x1000, NULL));
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
	cr_assert(poison_covering(&ps, top, 0x1000, NULL));
	cr_assert(poison_covering(&ps, UINT64_MAX, 1, NULL));
	cr_assert_not(poison_covering(&ps, top - 0x1000, 0x1000, NULL));
	add(top, 0x1000, RAS_KIND_AR, RAS_NOTIFY_SEA, 3);
	cr_assert_eq(ps.n, 2, "a repeat at the top became a new range");
	cr_assert_eq(at(1).records, 2);
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
	cr_assert_not(poison_covering(&ps, 0x11000, UINT64_MAX, NULL));
	cr_assert_not(poison_covering(&ps, 0x10000, 0, NULL));
}

/*
 * Many ranges in random order against a bitmap model: enough of them for
 * leaves to split, inner nodes to split and the tree to grow three levels,
 * then bridging ranges that merge many ranges across leaves away (leaves
 * and inner nodes empty out and go). After every step the iteration is
 * sorted, disjoint and not adjacent, and coverage matches the model.
 */
Test(poison, random_order_against_a_bitmap_model)
{
	enum { PAGES = 1 << 18 };
	unsigned char *page = calloc(PAGES, 1);
	unsigned int seed = 4242;
	size_t i, p, n, r, step;

	cr_assert_not_null(page);
	/* every fourth page, shuffled: no two merge */
	for (i = 0; i < PAGES / 4; i++) {
		p = (size_t)(rand_r(&seed) % (PAGES / 4)) * 4;
		add((uint64_t)p << 12, 0x1000, RAS_KIND_AO, RAS_NOTIFY_GPIO,
		    (int64_t)i);
		page[p] = 1;
	}
	check_invariant();
	cr_assert_gt(ps.height, 1, "the tree stayed %u high", ps.height);
	for (step = 0; step < 3000; step++) {
		p = (size_t)(rand_r(&seed) % (PAGES - 600));
		n = step % 100 == 0 ? 1 + (size_t)(rand_r(&seed) % 512) :
		    1 + (size_t)(rand_r(&seed) % 3);
		add((uint64_t)p << 12, (uint64_t)n << 12, RAS_KIND_AR,
		    RAS_NOTIFY_SEA, 100000 + (int64_t)step);
		for (r = p; r < p + n; r++)
			page[r] = 1;
		if (step % 500 == 0)
			check_invariant();
	}
	check_invariant();
	for (i = 0; i < PAGES; i++)
		cr_assert_eq(poison_covering(&ps, (uint64_t)i << 12, 4096,
		    NULL) != 0, page[i] != 0, "page %zu", i);
	/* One range over everything merges the whole tree into one. */
	add(0, (uint64_t)PAGES << 12, RAS_KIND_AO, RAS_NOTIFY_GPIO, 1);
	cr_assert_eq(ps.n, 1);
	cr_assert_eq(ps.height, 0);
	expect(0, 0, (uint64_t)PAGES << 12);
	free(page);
}

/* Records in reverse order: each goes in at the set's left end. */
Test(poison, descending_order)
{
	size_t i, n = 20000;

	for (i = n; i > 0; i--)
		add((uint64_t)i << 13, 0x1000, RAS_KIND_AR, RAS_NOTIFY_SEA,
		    (int64_t)i);
	cr_assert_eq(ps.n, n);
	check_invariant();
	expect(0, 1 << 13, 0x1000);
	expect(n - 1, (uint64_t)n << 13, 0x1000);
	cr_assert_eq(at(0).first_seen, 1);
}

/*
 * A load queued in random order (poison_stage) gives the same set, range
 * for range and decision for decision, as the same records added one by
 * one in that order; the first queued wins a tie of equal times.
 */
Test(poison, staged_load_equals_adding)
{
	struct poison_set one;
	struct poison_range a, b, in;
	struct poison_iter ia, ib;
	unsigned int seed = 99;
	size_t i, n = 0;

	poison_init(&one);
	for (i = 0; i < 50000; i++) {
		memset(&in, 0, sizeof in);
		in.gpa = (uint64_t)(rand_r(&seed) % 100000) << 12;
		in.len = (uint64_t)(1 + rand_r(&seed) % 2) << 12;
		in.kind = rand_r(&seed) % 2 ? RAS_KIND_AR : RAS_KIND_AO;
		in.action = RAS_ACTION_INJECT;
		in.notify = (uint8_t)(rand_r(&seed) % 4);
		in.source_id = in.notify;
		in.first_seen = (int64_t)i;
		in.records = 1;
		poison_stage(&ps, &in);
		poison_add(&one, &in);
	}
	cr_assert_eq(ps.n, 0, "staged records were added before the end");
	poison_stage_end(&ps);
	check_invariant();
	cr_assert_eq(ps.n, one.n);
	cr_assert_eq(poison_bytes(&ps), poison_bytes(&one));
	poison_seek(&ps, 0, &ia);
	poison_seek(&one, 0, &ib);
	while (poison_next(&ia, &a)) {
		cr_assert(poison_next(&ib, &b));
		cr_assert_eq(a.gpa, b.gpa);
		cr_assert_eq(a.len, b.len);
		cr_assert_eq(a.kind, b.kind, "range %zu at 0x%llx", n,
		    (unsigned long long)a.gpa);
		cr_assert_eq(a.records, b.records);
		cr_assert_eq(a.first_seen, b.first_seen);
		cr_assert_eq(a.notify, b.notify);
		cr_assert_eq(a.ar.notify, b.ar.notify);
		cr_assert_eq(a.ar.first_seen, b.ar.first_seen);
		cr_assert_eq(a.ao.notify, b.ao.notify);
		cr_assert_eq(a.ao.first_seen, b.ao.first_seen);
		n++;
	}
	cr_assert_not(poison_next(&ib, &b));
	cr_assert_gt(n, 1000);
	poison_free(&one);
}

/* Equal times: the first record queued keeps its kind's decision. */
Test(poison, staged_tie_goes_to_the_first_record)
{
	struct poison_range in = { 0 };

	in.gpa = 0x3000;
	in.len = 0x1000;
	in.kind = RAS_KIND_AO;
	in.action = RAS_ACTION_INJECT;
	in.notify = RAS_NOTIFY_GPIO;
	in.first_seen = 7;
	in.records = 1;
	poison_stage(&ps, &in);
	in.gpa = 0x2000;
	in.notify = RAS_NOTIFY_GSIV;
	poison_stage(&ps, &in);
	poison_stage_end(&ps);
	cr_assert_eq(ps.n, 1);
	cr_assert_eq(at(0).ao.notify, RAS_NOTIFY_GPIO);
	cr_assert_eq(at(0).records, 2);
}

/* Iteration from an address, and page by page as list-poison does. */
Test(poison, seek_and_iterate)
{
	struct poison_range r;
	struct poison_iter it;
	size_t i;

	for (i = 0; i < 1000; i++)
		add(0x100000 + (uint64_t)i * 0x2000, 0x1000, RAS_KIND_AO,
		    RAS_NOTIFY_GPIO, 1);
	poison_seek(&ps, 0x100000 + 500 * 0x2000, &it);
	cr_assert(poison_next(&it, &r));
	cr_assert_eq(r.gpa, 0x100000 + 500 * 0x2000);
	poison_seek(&ps, 0x100000 + 500 * 0x2000 + 1, &it);
	cr_assert(poison_next(&it, &r));
	cr_assert_eq(r.gpa, 0x100000 + 501 * 0x2000);
	poison_seek(&ps, 0x100000 + 999 * 0x2000 + 1, &it);
	cr_assert_not(poison_next(&it, &r));
	poison_seek(&ps, 0, &it);
	for (i = 0; poison_next(&it, &r); i++)
		cr_assert_eq(r.gpa, 0x100000 + i * 0x2000);
	cr_assert_eq(i, 1000);
}
