/*
 * bucket.c -- leaky buckets and their thresholds (bucket.h says how they
 * behave).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bucket.h"

/* Write a reason and return -1. */
static int
bucket_error(char *err, size_t errlen, const char *text, const char *why)
{
	snprintf(err, errlen, "bad threshold \"%s\": %s", text, why);
	return -1;
}

/* Parse "N / W", W a number and a unit, or "none". */
int
bucket_rate_parse(const char *text, struct bucket_rate *r, char *err,
    size_t errlen)
{
	const char *p = text;
	unsigned long count, window, unit;
	char *end;

	if (strcmp(text, "none") == 0) {
		r->count = r->window = 0;
		return 0;
	}
	if (*p < '0' || *p > '9')
		return bucket_error(err, errlen, text, "give N / WINDOW, as "
		    "10 / 24h (units s, m, h, d), or none");
	errno = 0;
	count = strtoul(p, &end, 10);
	if (errno != 0 || count == 0 || count > BUCKET_COUNT_MAX)
		return bucket_error(err, errlen, text, "the count must be "
		    "1..1000000");
	for (p = end; *p == ' ' || *p == '\t'; p++)
		;
	if (*p++ != '/')
		return bucket_error(err, errlen, text, "expected '/' after the "
		    "count, as 10 / 24h");
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p < '0' || *p > '9')
		return bucket_error(err, errlen, text, "expected a window "
		    "after '/', as 24h");
	errno = 0;
	window = strtoul(p, &end, 10);
	switch (*end) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return bucket_error(err, errlen, text, "the window needs a "
		    "unit: s, m, h or d");
	}
	if (end[1] != '\0')
		return bucket_error(err, errlen, text, "trailing characters "
		    "after the window");
	if (errno != 0 || window == 0 || window > BUCKET_WINDOW_MAX / unit)
		return bucket_error(err, errlen, text, "the window must be "
		    "1s..366d");
	r->count = (unsigned int)count;
	r->window = (unsigned int)(window * unit);
	return 0;
}

/* "N / 24h", in the largest unit that divides the window: h, m or s. */
void
bucket_rate_format(const struct bucket_rate *r, char *out, size_t outlen)
{
	if (r->count == 0)
		snprintf(out, outlen, "none");
	else if (r->window % 3600 == 0)
		snprintf(out, outlen, "%u / %uh", r->count, r->window / 3600);
	else if (r->window % 60 == 0)
		snprintf(out, outlen, "%u / %um", r->count, r->window / 60);
	else
		snprintf(out, outlen, "%u / %us", r->count, r->window);
}

/*
 * Leak count errors per whole window since the stamp, as mcelog ages its
 * buckets: the errors of one window add up, and a window's worth leaks at
 * its end.
 */
void
bucket_drain(struct bucket *b, const struct bucket_rate *r, int64_t now)
{
	int64_t windows;

	if (r->count == 0 || r->window == 0) {
		b->level = 0;
		b->tripped = 0;
		b->stamp = now;
		return;
	}
	if (now < b->stamp) {
		/* A clock that went back leaks nothing; time resumes here. */
		b->stamp = now;
		return;
	}
	windows = (now - b->stamp) / r->window;
	if (windows == 0)
		return;
	b->stamp += windows * r->window;
	if (b->level <= (double)windows * r->count) {
		b->level = 0;
		b->tripped = 0;
	} else
		b->level -= (double)windows * r->count;
}

/*
 * Add n errors at time t; 1 when that filled the bucket. The window of
 * an empty bucket starts at its first error; a full one starts a new
 * window at every error that spills, so it stays full one window after
 * the last. An error dated before the bucket's window counts in it unless
 * a whole window older (it would have leaked); the caller drains to now.
 */
int
bucket_add(struct bucket *b, const struct bucket_rate *r, double n,
    int64_t t)
{
	int was = b->tripped;

	if (r->count == 0 || n <= 0)
		return 0;
	if (t > b->stamp)
		bucket_drain(b, r, t);
	if (b->level <= 0)
		b->stamp = t;
	else if (b->stamp - t >= (int64_t)r->window)
		return 0;	/* it would have leaked already */
	b->level += n;
	/* What a full bucket cannot hold spills over. */
	if (b->level >= (double)r->count) {
		b->level = r->count;
		b->tripped = 1;
		if (t > b->stamp)
			b->stamp = t;
	}
	return b->tripped && !was;
}

/* When the bucket will be empty if no error comes (its stamp if empty). */
int64_t
bucket_empty_at(const struct bucket *b, const struct bucket_rate *r)
{
	int64_t windows;

	if (r->count == 0 || b->level <= 0)
		return b->stamp;
	windows = (int64_t)((b->level + r->count - 1e-9) / r->count);
	return b->stamp + windows * r->window;
}

/* Fill, 0..1. */
double
bucket_fill(const struct bucket *b, const struct bucket_rate *r)
{
	double f;

	if (r == NULL || r->count == 0)
		return 0;
	f = b->level / r->count;
	return f < 0 ? 0 : f > 1 ? 1 : f;
}

/* The verdict of a set of checks, and the score. */
int
bucket_judge(struct bucket_check *c, size_t n, unsigned int *score)
{
	double fill, worst = 0;
	int state = BUCKET_HEALTHY;
	size_t i;

	for (i = 0; i < n; i++) {
		c[i].state = BUCKET_HEALTHY;
		if (c[i].degraded != NULL && c[i].degraded_rate->count != 0 &&
		    c[i].degraded->tripped)
			c[i].state = BUCKET_DEGRADED;
		if (c[i].evacuate != NULL && c[i].evacuate_rate->count != 0 &&
		    c[i].evacuate->tripped)
			c[i].state = BUCKET_EVACUATE;
		if (c[i].state > state)
			state = c[i].state;
		if (c[i].evacuate != NULL && c[i].evacuate_rate->count != 0)
			fill = bucket_fill(c[i].evacuate, c[i].evacuate_rate);
		else if (c[i].degraded != NULL)
			fill = bucket_fill(c[i].degraded, c[i].degraded_rate);
		else
			fill = 0;
		if (c[i].state == BUCKET_EVACUATE)
			fill = 1;
		if (fill > worst)
			worst = fill;
	}
	*score = (unsigned int)(100.0 * (1.0 - worst) + 0.5);
	return state;
}

static const char *bucket_states[] = { "healthy", "degraded", "evacuate" };

/* The name of a state. */
const char *
bucket_state_name(int s)
{
	return s >= 0 && s <= BUCKET_EVACUATE ? bucket_states[s] : "unknown";
}

/* A state by name, -1 when unknown. */
int
bucket_state_parse(const char *name)
{
	int s;

	for (s = 0; s <= BUCKET_EVACUATE; s++)
		if (strcmp(name, bucket_states[s]) == 0)
			return s;
	return -1;
}
