/*
 * poison.c -- per-VM sets of poisoned guest-physical ranges.
 *
 * DESIGN: a VM rarely has more than a handful of poisoned ranges, and they
 * are read far more often than written (every forward checks coverage), so
 * a sorted array of disjoint, non-adjacent ranges with binary search beats
 * a tree: lookups are O(log n) with no pointer chasing, inserts shift a
 * few entries. Overlapping and adjacent ranges merge on insert; the merged
 * range is AR if any part was AR and keeps, for each kind, the decision of
 * its earliest record of that kind: a repeat is answered with the decision
 * for its own kind, never an AO's interrupt for an AR (the exact
 * per-record decisions live in the store's history).
 */
#include <stdlib.h>
#include <string.h>

#include "rasd.h"

/* Start an empty set. */
void
poison_init(struct poison_set *ps)
{
	memset(ps, 0, sizeof *ps);
}

/* Release a set's memory. */
void
poison_free(struct poison_set *ps)
{
	free(ps->r);
	poison_init(ps);
}

/* Drop every range, keeping the memory. */
void
poison_clear(struct poison_set *ps)
{
	ps->n = 0;
}

/*
 * Ranges are compared through their last byte (gpa + len - 1), never their
 * end: a range may end exactly at 2^64, where the end wraps to 0.
 */
static uint64_t
poison_last(const struct poison_range *r)
{
	return r->gpa + (r->len - 1);
}

/* Whether a range starting at gpa touches or overlaps one ending at last. */
static int
poison_touches(uint64_t gpa, uint64_t last)
{
	return gpa == 0 || gpa - 1 <= last;
}

/* Fill a kind's decision from an incoming record. */
static void
poison_take(struct poison_decision *d, const struct poison_range *in)
{
	d->action = in->action;
	d->notify = in->notify;
	d->source_id = in->source_id;
	d->first_seen = in->first_seen;
}

/* Merge an existing range's decision for one kind into d. */
static void
poison_merge(struct poison_decision *d, const struct poison_decision *o)
{
	/* Existing ranges win ties: they were recorded first. */
	if (o->action != 0 && (d->action == 0 ||
	    o->first_seen <= d->first_seen))
		*d = *o;
}

/* Set the range's shown decision: AR's if it has one, else AO's. */
static void
poison_show(struct poison_range *r)
{
	const struct poison_decision *d = r->ar.action != 0 ? &r->ar : &r->ao;

	r->action = d->action;
	r->notify = d->notify;
	r->source_id = d->source_id;
}

/* Index of the first range that touches or follows gpa (may be n). */
static size_t
poison_lower(const struct poison_set *ps, uint64_t gpa)
{
	size_t lo = 0, hi = ps->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (!poison_touches(gpa, poison_last(&ps->r[mid])))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of the first range starting at gpa or above (may be n). */
size_t
poison_from(const struct poison_set *ps, uint64_t gpa)
{
	size_t lo = 0, hi = ps->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ps->r[mid].gpa < gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The range that wholly contains [gpa, gpa+len), or NULL. */
const struct poison_range *
poison_covering(const struct poison_set *ps, uint64_t gpa, uint64_t len)
{
	size_t i = poison_lower(ps, gpa);

	if (len == 0)
		return NULL;
	for (; i < ps->n && ps->r[i].gpa <= gpa; i++) {
		if (len <= ps->r[i].len && gpa - ps->r[i].gpa <= ps->r[i].len - len)
			return &ps->r[i];
	}
	return NULL;
}

/*
 * Add a range, merging it with every range it overlaps or touches. A range
 * running past 2^64 is cut there; a merge that would span all of 2^64
 * bytes keeps its last byte out (len is 64 bits).
 */
void
poison_add(struct poison_set *ps, const struct poison_range *in)
{
	struct poison_range m = *in;
	uint64_t lastb, e;
	size_t first, last;

	if (in->len == 0)
		return;
	if (in->len - 1 > UINT64_MAX - in->gpa)
		m.len = UINT64_MAX - in->gpa + 1;
	memset(&m.ar, 0, sizeof m.ar);
	memset(&m.ao, 0, sizeof m.ao);
	poison_take(in->kind == RAS_KIND_AR ? &m.ar : &m.ao, in);
	lastb = poison_last(&m);
	first = poison_lower(ps, in->gpa);
	last = first;
	while (last < ps->n && poison_touches(ps->r[last].gpa, lastb)) {
		const struct poison_range *o = &ps->r[last];

		e = poison_last(o);
		if (o->gpa < m.gpa)
			m.gpa = o->gpa;
		if (e > lastb)
			lastb = e;
		poison_merge(&m.ar, &o->ar);
		poison_merge(&m.ao, &o->ao);
		if (o->first_seen < m.first_seen)
			m.first_seen = o->first_seen;
		if (o->kind == RAS_KIND_AR)
			m.kind = RAS_KIND_AR;
		m.records += o->records;
		last++;
	}
	m.len = lastb - m.gpa + (lastb - m.gpa < UINT64_MAX);
	poison_show(&m);

	if (last == first) {
		if (ps->n == ps->cap) {
			ps->cap = ps->cap ? ps->cap * 2 : 8;
			ps->r = xreallocarray(ps->r, ps->cap, sizeof *ps->r);
		}
		memmove(&ps->r[first + 1], &ps->r[first],
		    (ps->n - first) * sizeof *ps->r);
		ps->n++;
	} else if (last - first > 1) {
		memmove(&ps->r[first + 1], &ps->r[last],
		    (ps->n - last) * sizeof *ps->r);
		ps->n -= last - first - 1;
	}
	ps->r[first] = m;
}

/* Total poisoned bytes in the set. */
uint64_t
poison_bytes(const struct poison_set *ps)
{
	uint64_t total = 0;
	size_t i;

	for (i = 0; i < ps->n; i++)
		total += ps->r[i].len;
	return total;
}
