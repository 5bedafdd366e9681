/*
 * test_bucket.c -- leaky buckets, their "N / WINDOW" thresholds and the
 * verdict a set of them gives (lib/bucket.c).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "bucket.h"

static struct bucket_rate
rate(const char *text)
{
	struct bucket_rate r;
	char err[256];

	cr_assert_eq(bucket_rate_parse(text, &r, err, sizeof err), 0,
	    "%s: %s", text, err);
	return r;
}

Test(bucket, rate_syntax_as_mcelog)
{
	struct bucket_rate r;
	char err[256], out[64];

	r = rate("10 / 24h");
	cr_assert_eq(r.count, 10);
	cr_assert_eq(r.window, 86400);
	r = rate("4/1d");
	cr_assert_eq(r.window, 86400);
	bucket_rate_format(&r, out, sizeof out);
	cr_assert_str_eq(out, "4 / 24h");
	r = rate("3 / 90m");
	bucket_rate_format(&r, out, sizeof out);
	cr_assert_str_eq(out, "3 / 90m");
	r = rate("5 / 7s");
	bucket_rate_format(&r, out, sizeof out);
	cr_assert_str_eq(out, "5 / 7s");
	r = rate("none");
	cr_assert_eq(r.count, 0);
	bucket_rate_format(&r, out, sizeof out);
	cr_assert_str_eq(out, "none");
	cr_assert_eq(bucket_rate_parse("10 / 24", &r, err, sizeof err), -1);
	cr_assert(strstr(err, "unit") != NULL, "%s", err);
	cr_assert_eq(bucket_rate_parse("0 / 24h", &r, err, sizeof err), -1);
	cr_assert_eq(bucket_rate_parse("10 24h", &r, err, sizeof err), -1);
	cr_assert_eq(bucket_rate_parse("10 / 24hx", &r, err, sizeof err), -1);
	cr_assert_eq(bucket_rate_parse("10 / 400d", &r, err, sizeof err), -1);
	cr_assert_eq(bucket_rate_parse("-1 / 1h", &r, err, sizeof err), -1);
	cr_assert_eq(bucket_rate_parse("1000001 / 1h", &r, err, sizeof err),
	    -1);
	cr_assert_eq(bucket_rate_parse("99999999999999999999 / 1h", &r, err,
	    sizeof err), -1);
}

/* N errors within one window fill it; fewer per window never do. */
Test(bucket, fills_with_n_in_a_window)
{
	struct bucket_rate r = rate("4 / 24h");
	struct bucket b = { 0, 0, 0 };
	int64_t t = 100000;
	int i;

	cr_assert_eq(bucket_add(&b, &r, 1, t), 0);
	cr_assert_eq(b.stamp, t, "the window starts at the first error");
	cr_assert_eq(bucket_add(&b, &r, 1, t - 10), 0);
	cr_assert_float_eq(b.level, 2, 1e-9);
	b.level = 1;
	cr_assert_eq(bucket_add(&b, &r, 1, t + 3600), 0);
	cr_assert_eq(bucket_add(&b, &r, 1, t + 7200), 0);
	cr_assert_eq(bucket_add(&b, &r, 1, t + 86399), 1, "the 4th trips it");
	cr_assert(b.tripped);
	cr_assert_eq(bucket_add(&b, &r, 1, t + 86400), 0, "only once");

	/* One error every 9 hours: never 4 in a window. */
	memset(&b, 0, sizeof b);
	for (i = 0; i < 100; i++)
		cr_assert_eq(bucket_add(&b, &r, 1, t + (int64_t)i * 9 * 3600),
		    0, "error %d", i);
	cr_assert(!b.tripped);
	/* Four spread over just over a day: the first window leaked. */
	memset(&b, 0, sizeof b);
	for (i = 0; i < 4; i++)
		bucket_add(&b, &r, 1, t + (int64_t)i * 8 * 3600 + i);
	cr_assert(!b.tripped, "level %g", b.level);
}

/* What overflows is dropped: empty one window after the errors stop. */
Test(bucket, empties_one_window_after_the_storm)
{
	struct bucket_rate r = rate("10 / 1h");
	struct bucket b = { 0, 0, 0 };

	bucket_add(&b, &r, 10000, 100);
	cr_assert(b.tripped);
	cr_assert_float_eq(b.level, 10, 1e-9);
	bucket_add(&b, &r, 5, 1000);	/* spills: a new window from here */
	cr_assert_eq(bucket_empty_at(&b, &r), 4600);
	bucket_drain(&b, &r, 4599);
	cr_assert(b.tripped, "still tripped until empty");
	cr_assert_float_eq(b.level, 10, 1e-9);
	bucket_drain(&b, &r, 4600);
	cr_assert_float_eq(b.level, 0, 1e-9);
	cr_assert(!b.tripped);
}

/* Errors dated in the past leak from their own time (rasdaemon rows). */
Test(bucket, past_times_and_clock_jumps)
{
	struct bucket_rate r = rate("3 / 100s");
	struct bucket b = { 0, 0, 0 };

	bucket_add(&b, &r, 1, 10);
	bucket_add(&b, &r, 1, 150);	/* a window later: 1 - 3 -> 0, + 1 */
	cr_assert_float_eq(b.level, 1, 1e-9);
	cr_assert_eq(b.stamp, 150);
	bucket_add(&b, &r, 1, 120);	/* dated before the stamp: counts */
	cr_assert_float_eq(b.level, 2, 1e-9);
	bucket_add(&b, &r, 5, 50);	/* a window older: leaked already */
	cr_assert_float_eq(b.level, 2, 1e-9);
	bucket_drain(&b, &r, 20);	/* the clock went back */
	cr_assert_float_eq(b.level, 2, 1e-9);
	cr_assert_eq(b.stamp, 20);
	bucket_drain(&b, &r, 119);
	cr_assert_float_eq(b.level, 2, 1e-9);
	bucket_drain(&b, &r, 120);
	cr_assert_float_eq(b.level, 0, 1e-9);
}

Test(bucket, judge_state_and_score)
{
	struct bucket_rate deg = rate("1 / 24h"), evac = rate("4 / 24h");
	struct bucket_rate none = rate("none");
	struct bucket d1 = { 0, 0, 0 }, e1 = { 0, 0, 0 };
	struct bucket d2 = { 0, 0, 0 }, e2 = { 0, 0, 0 };
	struct bucket_check c[2] = {
		{ &d1, &deg, &e1, &evac, -1 },
		{ &d2, &deg, &e2, &evac, -1 },
	};
	unsigned int score;

	cr_assert_eq(bucket_judge(c, 2, &score), BUCKET_HEALTHY);
	cr_assert_eq(score, 100);
	bucket_add(&d2, &deg, 1, 0);
	bucket_add(&e2, &evac, 1, 0);
	cr_assert_eq(bucket_judge(c, 2, &score), BUCKET_DEGRADED);
	cr_assert_eq(c[0].state, BUCKET_HEALTHY);
	cr_assert_eq(c[1].state, BUCKET_DEGRADED);
	cr_assert_eq(score, 75, "one of four: %u", score);
	bucket_add(&e1, &evac, 3, 0);
	cr_assert_eq(bucket_judge(c, 2, &score), BUCKET_DEGRADED);
	cr_assert_eq(score, 25);
	bucket_add(&e1, &evac, 1, 0);
	cr_assert_eq(bucket_judge(c, 2, &score), BUCKET_EVACUATE);
	cr_assert_eq(c[0].state, BUCKET_EVACUATE);
	cr_assert_eq(score, 0);
	/* A threshold of none is never checked. */
	c[0].evacuate_rate = &none;
	cr_assert_eq(bucket_judge(c, 2, &score), BUCKET_DEGRADED);
	cr_assert_eq(bucket_state_parse("evacuate"), BUCKET_EVACUATE);
	cr_assert_eq(bucket_state_parse("auto"), -1);
	cr_assert_str_eq(bucket_state_name(BUCKET_DEGRADED), "degraded");
}
