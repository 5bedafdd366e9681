/*
 * poison.c -- per-VM sets of poisoned guest-physical ranges.
 *
 * DESIGN: a VM usually has a handful of poisoned ranges, but a failing
 * DIMM under a large guest can leave a million, arriving in any order, and
 * every forward checks coverage first. The set is a B+tree of disjoint,
 * non-adjacent ranges: leaves of up to POISON_LEAF_MAX packed entries
 * (48 bytes each) linked in address order, inner nodes of separator keys.
 * Lookup, insert and each merged-away range cost O(log n) whatever the
 * arrival order. A leaf that overflows at the right end of the set stays
 * full (the new leaf takes the one range), so ranges arriving in address
 * order, and a load (poison_stage, sorted first), pack leaves completely.
 *
 * Overlapping and adjacent ranges merge on insert; the merged range is AR
 * if any part was AR and keeps, for each kind, the decision of its
 * earliest record of that kind: a repeat is answered with the decision
 * for its own kind, never an AO's interrupt for an AR (the exact
 * per-record decisions live in the store's history). An entry stores the
 * two kinds' decisions only; the shown decision (AR's, else AO's) and the
 * range's first_seen (the earlier kind's) are derived when read.
 */
#include <stdlib.h>
#include <string.h>

#include "rasd.h"

#define POISON_LEAF_MAX 80	/* 80 * 48 + 24: one leaf in a 4 KiB page */
#define POISON_INNER_MAX 64
#define POISON_AR 0		/* index of a kind's decision in an entry */
#define POISON_AO 1

struct poison_dec {
	uint8_t action;		/* enum ras_action; 0: none of this kind */
	uint8_t notify;
	uint16_t source_id;
};

struct poison_ent {
	uint64_t gpa;
	uint64_t len;
	int64_t seen[2];	/* each kind's decision's record time */
	uint32_t records;
	struct poison_dec d[2];	/* [POISON_AR], [POISON_AO] */
	uint8_t kinds;		/* bit POISON_AR, bit POISON_AO: merged in */
};

struct poison_leaf {
	struct poison_leaf *prev, *next;
	unsigned int n;
	struct poison_ent e[POISON_LEAF_MAX];
};

/*
 * Child i (i > 0) holds ranges starting at key[i] or above, child i - 1
 * ranges below it; key[0] is not used. A key may lie below its child's
 * first range once that range was removed: the bounds still hold.
 */
struct poison_inner {
	unsigned int n;
	uint64_t key[POISON_INNER_MAX];
	void *child[POISON_INNER_MAX];
};

struct poison_stage {
	struct poison_ent e;
	size_t seq;		/* load order: ties go to the first record */
};

/* Start an empty set. */
void
poison_init(struct poison_set *ps)
{
	memset(ps, 0, sizeof *ps);
}

/* Free a subtree of the given height. */
static void
poison_free_node(void *node, unsigned int h)
{
	struct poison_inner *in = node;
	unsigned int i;

	if (h > 0)
		for (i = 0; i < in->n; i++)
			poison_free_node(in->child[i], h - 1);
	free(node);
}

/* Drop every range. */
void
poison_clear(struct poison_set *ps)
{
	if (ps->root != NULL)
		poison_free_node(ps->root, ps->height);
	free(ps->stage);
	poison_init(ps);
}

/* Release a set's memory. */
void
poison_free(struct poison_set *ps)
{
	poison_clear(ps);
}

/*
 * Ranges are compared through their last byte (gpa + len - 1), never their
 * end: a range may end exactly at 2^64, where the end wraps to 0.
 */
static uint64_t
poison_last(const struct poison_ent *e)
{
	return e->gpa + (e->len - 1);
}

/* Whether a range starting at gpa touches or overlaps one ending at last. */
static int
poison_touches(uint64_t gpa, uint64_t last)
{
	return gpa == 0 || gpa - 1 <= last;
}

/* An incoming record as an entry; a range past 2^64 is cut there. */
static void
poison_entry(struct poison_ent *e, const struct poison_range *in)
{
	int k = in->kind == RAS_KIND_AR ? POISON_AR : POISON_AO;

	memset(e, 0, sizeof *e);
	e->gpa = in->gpa;
	e->len = in->len;
	if (in->len - 1 > UINT64_MAX - in->gpa)
		e->len = UINT64_MAX - in->gpa + 1;
	e->records = in->records;
	e->kinds = (uint8_t)(1u << k);
	e->d[k].action = in->action;
	e->d[k].notify = in->notify;
	e->d[k].source_id = in->source_id;
	e->seen[k] = in->first_seen;
}

/* A stored entry as callers see it. */
static void
poison_view(const struct poison_ent *e, struct poison_range *r)
{
	struct poison_decision *d[2];
	const struct poison_decision *shown;
	int k;

	memset(r, 0, sizeof *r);
	r->gpa = e->gpa;
	r->len = e->len;
	r->records = e->records;
	r->kind = e->kinds & (1u << POISON_AR) ? RAS_KIND_AR : RAS_KIND_AO;
	d[POISON_AR] = &r->ar;
	d[POISON_AO] = &r->ao;
	r->first_seen = INT64_MAX;
	for (k = 0; k < 2; k++) {
		d[k]->action = e->d[k].action;
		d[k]->notify = e->d[k].notify;
		d[k]->source_id = e->d[k].source_id;
		d[k]->first_seen = e->seen[k];
		if (e->kinds & (1u << k) && e->seen[k] < r->first_seen)
			r->first_seen = e->seen[k];
	}
	shown = r->ar.action != 0 ? &r->ar : &r->ao;
	r->action = shown->action;
	r->notify = shown->notify;
	r->source_id = shown->source_id;
}

/* The index of the last child whose range may hold gpa. */
static unsigned int
poison_slot(const struct poison_inner *in, uint64_t gpa)
{
	unsigned int lo = 1, hi = in->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (in->key[mid] <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

/* Index of a leaf's first range starting above gpa (strict) or at it. */
static unsigned int
poison_leaf_pos(const struct poison_leaf *l, uint64_t gpa, int strict)
{
	unsigned int lo = 0, hi = l->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (l->e[mid].gpa < gpa || (strict && l->e[mid].gpa == gpa))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The leaf whose bounds hold gpa (the set is not empty). */
static struct poison_leaf *
poison_leaf_of(const struct poison_set *ps, uint64_t gpa)
{
	void *node = ps->root;
	unsigned int h;

	for (h = ps->height; h > 0; h--)
		node = ((struct poison_inner *)node)->child[poison_slot(node,
		    gpa)];
	return node;
}

/* Step off a leaf's end onto the next leaf. */
static void
poison_norm(struct poison_iter *it)
{
	if (it->leaf != NULL && it->i >= it->leaf->n) {
		it->leaf = it->leaf->next;
		it->i = 0;
	}
}

/* The first range that touches or follows gpa (it->leaf NULL: none). */
static void
poison_lower(const struct poison_set *ps, uint64_t gpa,
    struct poison_iter *it)
{
	const struct poison_leaf *l, *pl = NULL;
	unsigned int p, pi = 0;

	it->leaf = NULL;
	it->i = 0;
	if (ps->root == NULL)
		return;
	l = poison_leaf_of(ps, gpa);
	p = poison_leaf_pos(l, gpa, 1);
	/* The range starting last at or below gpa is here or ends the
	 * leaf before; only it can touch gpa. */
	if (p > 0) {
		pl = l;
		pi = p - 1;
	} else if (l->prev != NULL) {
		pl = l->prev;
		pi = pl->n - 1;
	}
	if (pl != NULL && poison_touches(gpa, poison_last(&pl->e[pi]))) {
		it->leaf = pl;
		it->i = pi;
		return;
	}
	it->leaf = l;
	it->i = p;
	poison_norm(it);
}

/* Position it at the first range starting at gpa or above. */
void
poison_seek(const struct poison_set *ps, uint64_t gpa,
    struct poison_iter *it)
{
	it->leaf = NULL;
	it->i = 0;
	if (ps->root == NULL)
		return;
	it->leaf = poison_leaf_of(ps, gpa);
	it->i = poison_leaf_pos(it->leaf, gpa, 0);
	poison_norm(it);
}

/* The range at it into *r (if r is not NULL), and step; 0 at the end. */
int
poison_next(struct poison_iter *it, struct poison_range *r)
{
	if (it->leaf == NULL)
		return 0;
	if (r != NULL)
		poison_view(&it->leaf->e[it->i], r);
	it->i++;
	poison_norm(it);
	return 1;
}

/* The range that wholly contains [gpa, gpa+len) into *r: 1, or 0. */
int
poison_covering(const struct poison_set *ps, uint64_t gpa, uint64_t len,
    struct poison_range *r)
{
	const struct poison_ent *e;
	struct poison_iter it;

	if (len == 0)
		return 0;
	for (poison_lower(ps, gpa, &it); it.leaf != NULL; poison_next(&it,
	    NULL)) {
		e = &it.leaf->e[it.i];
		if (e->gpa > gpa)
			break;
		if (len <= e->len && gpa - e->gpa <= e->len - len) {
			if (r != NULL)
				poison_view(e, r);
			return 1;
		}
	}
	return 0;
}

/* Put e in a leaf; a new right sibling if it split, its first gpa in key. */
static void *
poison_leaf_put(struct poison_leaf *l, const struct poison_ent *e,
    uint64_t *key)
{
	struct poison_leaf *r, *at;
	unsigned int p = poison_leaf_pos(l, e->gpa, 1), mid;

	if (l->n < POISON_LEAF_MAX) {
		memmove(&l->e[p + 1], &l->e[p], (l->n - p) * sizeof *l->e);
		l->e[p] = *e;
		l->n++;
		return NULL;
	}
	/* Full: split in half, but at the set's right end keep it full. */
	mid = p == l->n && l->next == NULL ? l->n : POISON_LEAF_MAX / 2;
	r = xcalloc(1, sizeof *r);
	r->n = l->n - mid;
	memcpy(r->e, &l->e[mid], r->n * sizeof *r->e);
	l->n = mid;
	r->prev = l;
	r->next = l->next;
	if (l->next != NULL)
		l->next->prev = r;
	l->next = r;
	at = p < mid || (p == mid && r->n > 0) ? l : r;
	if (at == r)
		p -= mid;
	memmove(&at->e[p + 1], &at->e[p], (at->n - p) * sizeof *at->e);
	at->e[p] = *e;
	at->n++;
	*key = r->e[0].gpa;
	return r;
}

/* Put a child with its key at index i of an inner node; as above. */
static void *
poison_inner_put(struct poison_inner *in, unsigned int i, uint64_t k,
    void *child, uint64_t *key)
{
	struct poison_inner *r = NULL, *at = in;
	unsigned int mid;

	if (in->n == POISON_INNER_MAX) {
		mid = i == in->n ? in->n : POISON_INNER_MAX / 2;
		r = xcalloc(1, sizeof *r);
		r->n = in->n - mid;
		memcpy(r->key, &in->key[mid], r->n * sizeof *r->key);
		memcpy(r->child, &in->child[mid], r->n * sizeof *r->child);
		in->n = mid;
		if (r->n == 0 || i > mid) {
			at = r;
			i -= mid;
		}
	}
	memmove(&at->key[i + 1], &at->key[i], (at->n - i) * sizeof *at->key);
	memmove(&at->child[i + 1], &at->child[i], (at->n - i) *
	    sizeof *at->child);
	at->key[i] = k;
	at->child[i] = child;
	at->n++;
	if (r != NULL)
		*key = r->key[0];
	return r;
}

/* Put e in a subtree of height h; a new right sibling if it split. */
static void *
poison_put_node(void *node, unsigned int h, const struct poison_ent *e,
    uint64_t *key)
{
	struct poison_inner *in = node;
	unsigned int i;
	uint64_t k;
	void *sib;

	if (h == 0)
		return poison_leaf_put(node, e, key);
	i = poison_slot(in, e->gpa);
	if ((sib = poison_put_node(in->child[i], h - 1, e, &k)) == NULL)
		return NULL;
	return poison_inner_put(in, i + 1, k, sib, key);
}

/* Put a range that touches none in the set. */
static void
poison_insert(struct poison_set *ps, const struct poison_ent *e)
{
	struct poison_inner *top;
	struct poison_leaf *l;
	uint64_t k;
	void *sib;

	ps->n++;
	ps->bytes += e->len;
	if (ps->root == NULL) {
		l = xcalloc(1, sizeof *l);
		l->e[0] = *e;
		l->n = 1;
		ps->root = ps->head = l;
		ps->height = 0;
		return;
	}
	if ((sib = poison_put_node(ps->root, ps->height, e, &k)) == NULL)
		return;
	top = xcalloc(1, sizeof *top);
	top->n = 2;
	top->child[0] = ps->root;
	top->child[1] = sib;
	top->key[1] = k;
	ps->root = top;
	ps->height++;
}

/* Unlink a leaf from the leaf list and free it. */
static void
poison_leaf_drop(struct poison_set *ps, struct poison_leaf *l)
{
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		ps->head = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	free(l);
}

/* Remove the range starting at gpa from a subtree; 1 if it is now empty. */
static int
poison_remove_node(struct poison_set *ps, void *node, unsigned int h,
    uint64_t gpa)
{
	struct poison_inner *in = node;
	struct poison_leaf *l = node;
	unsigned int i;

	if (h == 0) {
		i = poison_leaf_pos(l, gpa, 0);
		memmove(&l->e[i], &l->e[i + 1], (l->n - i - 1) * sizeof *l->e);
		l->n--;
		return l->n == 0;
	}
	i = poison_slot(in, gpa);
	if (!poison_remove_node(ps, in->child[i], h - 1, gpa))
		return 0;
	if (h == 1)
		poison_leaf_drop(ps, in->child[i]);
	else
		free(in->child[i]);
	memmove(&in->key[i], &in->key[i + 1], (in->n - i - 1) *
	    sizeof *in->key);
	memmove(&in->child[i], &in->child[i + 1], (in->n - i - 1) *
	    sizeof *in->child);
	in->n--;
	return in->n == 0;
}

/* Remove a range from the set (e: the stored entry's copy). */
static void
poison_remove(struct poison_set *ps, const struct poison_ent *e)
{
	struct poison_inner *top;

	ps->n--;
	ps->bytes -= e->len;
	if (poison_remove_node(ps, ps->root, ps->height, e->gpa)) {
		if (ps->height == 0)
			poison_leaf_drop(ps, ps->root);
		else
			free(ps->root);
		ps->root = NULL;
		ps->height = 0;
		return;
	}
	while (ps->height > 0 && (top = ps->root)->n == 1) {
		ps->root = top->child[0];
		ps->height--;
		free(top);
	}
}

/* Merge one kind's decision of o into m; m wins ties when m_first. */
static void
poison_merge_kind(struct poison_ent *m, const struct poison_ent *o, int k,
    int m_first)
{
	if (o->d[k].action == 0)
		return;
	if (m->d[k].action == 0 || o->seen[k] < m->seen[k] ||
	    (o->seen[k] == m->seen[k] && !m_first)) {
		m->d[k] = o->d[k];
		m->seen[k] = o->seen[k];
	}
}

/* Merge range o into m. */
static void
poison_merge(struct poison_ent *m, const struct poison_ent *o, int m_first)
{
	poison_merge_kind(m, o, POISON_AR, m_first);
	poison_merge_kind(m, o, POISON_AO, m_first);
	m->kinds |= o->kinds;
	m->records += o->records;
}

/*
 * Add an entry, merging it with every range it overlaps or touches. A
 * merge that would span all of 2^64 bytes keeps its last byte out (len is
 * 64 bits). Existing ranges win ties: they were recorded first.
 */
static void
poison_put(struct poison_set *ps, struct poison_ent *m)
{
	struct poison_iter it;
	struct poison_ent o;
	uint64_t lastb = poison_last(m), e;

	for (;;) {
		poison_lower(ps, m->gpa, &it);
		if (it.leaf == NULL || !poison_touches(it.leaf->e[it.i].gpa,
		    lastb))
			break;
		o = it.leaf->e[it.i];
		e = poison_last(&o);
		if (o.gpa < m->gpa)
			m->gpa = o.gpa;
		if (e > lastb)
			lastb = e;
		poison_merge(m, &o, 0);
		poison_remove(ps, &o);
	}
	m->len = lastb - m->gpa + (lastb - m->gpa < UINT64_MAX);
	poison_insert(ps, m);
}

/* Add a record's range (see poison_put). */
void
poison_add(struct poison_set *ps, const struct poison_range *in)
{
	struct poison_ent m;

	if (in->len == 0)
		return;
	poison_entry(&m, in);
	poison_put(ps, &m);
}

/*
 * Queue a record for a load: poison_stage_end sorts the queue and adds
 * it, in O(n log n) whatever the records' order, with full leaves.
 */
void
poison_stage(struct poison_set *ps, const struct poison_range *in)
{
	struct poison_stage *s;

	if (in->len == 0)
		return;
	if (ps->nstage == ps->capstage) {
		ps->capstage = ps->capstage ? ps->capstage * 2 : 64;
		ps->stage = xreallocarray(ps->stage, ps->capstage,
		    sizeof *ps->stage);
	}
	s = &ps->stage[ps->nstage];
	poison_entry(&s->e, in);
	s->seq = ps->nstage++;
}

static int
poison_stage_cmp(const void *a, const void *b)
{
	const struct poison_stage *x = a, *y = b;

	if (x->e.gpa != y->e.gpa)
		return x->e.gpa < y->e.gpa ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Add the queued records: in address order, each run of touching records
 * merged first (each kind keeps its earliest record's decision, the first
 * queued among equal times), then put like poison_add.
 */
void
poison_stage_end(struct poison_set *ps)
{
	struct poison_stage *s = ps->stage;
	struct poison_ent m;
	size_t i, j, n = ps->nstage, best[2];
	uint64_t lastb, e;
	int k;

	if (n > 1)	/* qsort(NULL, 0) is undefined */
		qsort(s, n, sizeof *s, poison_stage_cmp);
	for (i = 0; i < n; i = j) {
		m = s[i].e;
		lastb = poison_last(&m);
		best[0] = best[1] = s[i].seq;
		for (j = i + 1; j < n && poison_touches(s[j].e.gpa, lastb);
		    j++) {
			for (k = 0; k < 2; k++) {
				const struct poison_ent *o = &s[j].e;

				if (o->d[k].action == 0 || (m.d[k].action !=
				    0 && (o->seen[k] > m.seen[k] ||
				    (o->seen[k] == m.seen[k] &&
				    s[j].seq > best[k]))))
					continue;
				m.d[k] = o->d[k];
				m.seen[k] = o->seen[k];
				best[k] = s[j].seq;
			}
			m.kinds |= s[j].e.kinds;
			m.records += s[j].e.records;
			e = poison_last(&s[j].e);
			if (e > lastb)
				lastb = e;
		}
		m.len = lastb - m.gpa + (lastb - m.gpa < UINT64_MAX);
		poison_put(ps, &m);
	}
	free(ps->stage);
	ps->stage = NULL;
	ps->nstage = ps->capstage = 0;
}

/* Total poisoned bytes in the set. */
uint64_t
poison_bytes(const struct poison_set *ps)
{
	return ps->bytes;
}
