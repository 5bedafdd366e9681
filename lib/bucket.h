/*
 * bucket.h -- leaky buckets against thresholds written as mcelog and
 * rasdaemon write them ("10 / 24h": ten errors within a day), and the
 * verdict a set of them gives (healthy, degraded, evacuate) with a score.
 *
 * A bucket holds errors and leaks `count` of them at the end of each
 * window, as mcelog ages its buckets: `count` errors within one window
 * (which starts at the first error into an empty bucket) fill it; fewer
 * per window never do. What overflows the capacity is dropped, as a real
 * leaky bucket spills, and each spilled error starts a new window: a full
 * bucket is empty again one window after the errors stop, however long
 * the storm was. A bucket that filled up stays tripped until it is empty.
 * Allocation-free, no clock of its own: every call takes the time (unix
 * seconds).
 */
#ifndef RAS_BUCKET_H
#define RAS_BUCKET_H

#include <stddef.h>
#include <stdint.h>

#define BUCKET_COUNT_MAX 1000000u		/* errors per window */
#define BUCKET_WINDOW_MAX (366u * 86400u)	/* seconds */

/* A threshold: count errors within window seconds; count 0: none. */
struct bucket_rate {
	unsigned int count;
	unsigned int window;
};

struct bucket {
	double level;		/* errors in the bucket at stamp */
	int64_t stamp;		/* unix seconds */
	int tripped;		/* it filled up, and is not empty since */
};

/*
 * Parse "N / W" (W: a number and a unit s, m, h or d, as mcelog's
 * "10 / 24h"; blanks around '/' optional), or "none". Returns -1 with a
 * reason in err.
 */
int bucket_rate_parse(const char *text, struct bucket_rate *, char *err,
    size_t errlen);

/* Print a rate back: "N / 24h" (hours, minutes or seconds), or "none". */
void bucket_rate_format(const struct bucket_rate *, char *out, size_t outlen);

/* Let the bucket leak until now (a clock going back leaks nothing). */
void bucket_drain(struct bucket *, const struct bucket_rate *, int64_t now);

/*
 * Add n errors seen at time t (the bucket leaks up to t first; a time
 * before its window counts in it, unless a whole window older: leaked
 * already). Returns 1 when this filled it.
 */
int bucket_add(struct bucket *, const struct bucket_rate *, double n,
    int64_t t);

/* When it is empty if no error comes (its stamp when empty already). */
int64_t bucket_empty_at(const struct bucket *, const struct bucket_rate *);

/* How full it is now, 0..1 (0 for a rate of none). */
double bucket_fill(const struct bucket *, const struct bucket_rate *);

/* What a set of buckets says about a host. */
enum bucket_state {
	BUCKET_HEALTHY = 0,
	BUCKET_DEGRADED = 1,
	BUCKET_EVACUATE = 2
};

/* One source of errors checked against its two thresholds. */
struct bucket_check {
	const struct bucket *degraded;		/* NULL: not checked */
	const struct bucket_rate *degraded_rate;
	const struct bucket *evacuate;
	const struct bucket_rate *evacuate_rate;
	int state;				/* out: enum bucket_state */
};

/*
 * Judge checks (their buckets drained to the same time by the caller):
 * each check's state is its worst tripped threshold, the result the worst
 * of them all. *score is 100 minus the fullest bucket's percentage of its
 * evacuate threshold (of its degraded one where it has none), 0..100.
 */
int bucket_judge(struct bucket_check *, size_t n, unsigned int *score);

const char *bucket_state_name(int);
int bucket_state_parse(const char *);	/* -1: unknown */

#endif
