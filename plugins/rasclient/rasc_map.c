/*
 * rasc_map.c -- the VMM's memory map and the local decision.
 *
 * DESIGN: a SIGBUS handler translates si_addr through the map while another
 * thread may be replacing it (memslots move during boot and reset). The map
 * is therefore double-buffered: a reader announces itself in the counter of
 * the table it is about to read and re-checks that the table is still the
 * current one; a writer only fills the table that is not current once its
 * reader count is zero, then publishes it by flipping map_cur. Readers never
 * wait, and a reader is only ever inside one table for a few loads.
 *
 * The local decision is what rasd would say for a VM with this boot profile
 * under the default policy, so a guest is told the same way whether rasd
 * answered or not.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cper.h"
#include "hest.h"
#include "mce.h"
#include "rasc_int.h"

/*
 * Check a memory map: at least one slot, no empty or wrapping slot, and no
 * two slots overlapping in host or guest space (a host address must
 * translate one way only).
 */
int
rasc_map_check(const struct rasc_slot *slots, unsigned int count, char *err,
    size_t errlen)
{
	const struct rasc_slot	*a, *b;
	unsigned int		 i, j;

	if (slots == NULL || count == 0) {
		snprintf(err, errlen, "no memory slots");
		return -1;
	}
	if (count > RASC_MAX_SLOTS) {
		snprintf(err, errlen, "%u memory slots (at most %u)", count,
		    RASC_MAX_SLOTS);
		return -1;
	}
	for (i = 0; i < count; i++) {
		a = &slots[i];
		if (a->size == 0 || a->gpa + a->size < a->gpa ||
		    a->hva + a->size < a->hva) {
			snprintf(err, errlen, "slot %u (gpa 0x%llx size 0x%llx) "
			    "is empty or wraps", i, (unsigned long long)a->gpa,
			    (unsigned long long)a->size);
			return -1;
		}
		for (j = 0; j < i; j++) {
			b = &slots[j];
			if (a->hva < b->hva + b->size &&
			    b->hva < a->hva + a->size) {
				snprintf(err, errlen, "slots %u and %u overlap "
				    "in host memory", j, i);
				return -1;
			}
			if (a->gpa < b->gpa + b->size &&
			    b->gpa < a->gpa + a->size) {
				snprintf(err, errlen, "slots %u and %u overlap "
				    "in guest memory", j, i);
				return -1;
			}
		}
	}
	return 0;
}

/*
 * Publish a new table: slots (NULL: keep the current ones) and the policy
 * (NULL: keep the current one). The caller is an ordinary thread.
 */
static void
rasc_map_publish(struct rasc *c, const struct rasc_slot *slots,
    unsigned int count, const struct ras_policy *pol)
{
	struct timespec	 ts = { 0, 50 * 1000 };
	struct rasc_map	*m, *cur;
	unsigned int	 next;

	pthread_mutex_lock(&c->map_lock);
	cur = &c->map[atomic_load(&c->map_cur)];
	next = atomic_load(&c->map_cur) ^ 1;
	while (atomic_load(&c->map_readers[next]) != 0)
		nanosleep(&ts, NULL);
	m = &c->map[next];
	if (slots == NULL) {
		slots = cur->slot;
		count = cur->count;
	}
	memcpy(m->slot, slots, count * sizeof *slots);
	m->count = count;
	m->policy = pol != NULL ? *pol : cur->policy;
	atomic_store(&c->map_cur, next);
	pthread_mutex_unlock(&c->map_lock);
}

/* Install a checked map. */
void
rasc_map_set(struct rasc *c, const struct rasc_slot *slots,
    unsigned int count)
{
	rasc_map_publish(c, slots, count, NULL);
}

/* Take the orders rasd decides this VM by (from its registration answer). */
void
rasc_map_set_policy(struct rasc *c, const struct ras_policy *pol)
{
	rasc_map_publish(c, NULL, 0, pol);
}

/* Enter the current table as a reader; returns its index. */
static unsigned int
rasc_map_enter(struct rasc *c)
{
	unsigned int	i;

	for (;;) {
		i = atomic_load(&c->map_cur);
		atomic_fetch_add(&c->map_readers[i], 1);
		if (atomic_load(&c->map_cur) == i)
			return i;
		atomic_fetch_sub(&c->map_readers[i], 1);
	}
}

/* Leave a table entered with rasc_map_enter(). */
static void
rasc_map_leave(struct rasc *c, unsigned int i)
{
	atomic_fetch_sub(&c->map_readers[i], 1);
}

/* Copy the current map into out (RASC_MAX_SLOTS entries); returns count. */
unsigned int
rasc_map_copy(struct rasc *c, struct rasc_slot *out)
{
	struct rasc_map	*m;
	unsigned int	 i, n;

	i = rasc_map_enter(c);
	m = &c->map[i];
	n = m->count;
	memcpy(out, m->slot, n * sizeof *out);
	rasc_map_leave(c, i);
	return n;
}

/*
 * Translate a host address the way KVM memslots map it: *addr is the exact
 * guest-physical address, *gpa the base of its granule 1 << lsb. An lsb of
 * 0 (not filled in by an older kernel) or above 40 (nonsense) is taken as
 * a 4 KiB page. Returns -1 if hva is in no slot; *len is set either way.
 */
int
rasc_map_translate(struct rasc *c, uint64_t hva, int lsb, uint64_t *addr,
    uint64_t *gpa, uint64_t *len)
{
	const struct rasc_slot	*s;
	struct rasc_map		*m;
	unsigned int		 i, n;
	int			 rc = -1;

	if (lsb <= 0 || lsb > 40)
		lsb = 12;
	*len = 1ULL << lsb;
	*gpa = *addr = 0;

	i = rasc_map_enter(c);
	m = &c->map[i];
	n = m->count;
	if (n > RASC_MAX_SLOTS)
		n = RASC_MAX_SLOTS;
	for (s = m->slot; s < m->slot + n; s++) {
		if (hva >= s->hva && hva - s->hva < s->size) {
			*addr = s->gpa + (hva - s->hva);
			*gpa = *addr & ~(*len - 1);
			rc = 0;
			break;
		}
	}
	rasc_map_leave(c, i);
	return rc;
}

/*
 * The local decision for one error: translate, then the policy rasd decides
 * this VM by (the default until rasd said) over the boot profile and caps, filled exactly as rasd fills its answer (the
 * same lib/ functions). Out of every slot, AR stops the VM (nothing safe
 * can be told) and AO is ignored. Returns 0, or -1 if out of range.
 * Async-signal-safe.
 */
int
rasc_map_decide(struct rasc *c, int kind, uint64_t hva, int lsb,
    unsigned int flags, struct rasc_decision *out)
{
	struct ras_decision	d;
	struct ras_policy	pol;
	struct mce_values	mv;
	uint64_t		addr, gpa, len;
	unsigned int		i;
	int			rkind;

	memset(out, 0, sizeof *out);
	out->notify = RASC_NOTIFY_NONE;
	out->source_id = -1;

	if (rasc_map_translate(c, hva, lsb, &addr, &gpa, &len) == -1) {
		out->action = kind == RASC_KIND_AO ? RASC_ACTION_IGNORE :
		    RASC_ACTION_STOP_VM;
		out->length = len;
		return -1;
	}
	out->gpa = gpa;
	out->length = len;
	out->addr = addr;

	rkind = kind == RASC_KIND_AO ? RAS_KIND_AO : RAS_KIND_AR;
	i = rasc_map_enter(c);
	pol = c->map[i].policy;
	rasc_map_leave(c, i);
	policy_decide(&pol, &c->profile, c->caps, (unsigned int)rkind,
	    flags & RASC_F_IRQ_UNMASKED ? POLICY_IRQ_UNMASKED : 0, &d);
	out->action = d.action;
	if (d.action != RAS_ACTION_INJECT)
		return 0;
	out->notify = d.notify;
	out->source_id = d.source_id;
	if (d.hest_type == HEST_GHES || d.hest_type == HEST_GHES_V2) {
		out->cper_len = cper_memory_error(addr, len, out->cper,
		    sizeof out->cper);
		out->read_ack = d.hest_type == HEST_GHES_V2;
	}
	if (d.notify == RAS_NOTIFY_MCE) {
		mce_values((unsigned int)rkind, c->cpu_vendor, addr, &mv);
		out->mce_status = mv.status;
		out->mcg_status = mv.mcg_status;
		out->mce_misc = mv.misc;
		out->mce_bank = mv.bank;
		out->mce_broadcast = mv.broadcast;
	}
	return 0;
}
