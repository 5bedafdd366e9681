/*
 * rasc_ring.c -- forwards kept until rasd acknowledges them.
 *
 * DESIGN: a forward is recorded here before it is sent, so a rasd that dies
 * mid-answer loses nothing: rasc_service() replays what is left in seq
 * order. Handlers on several vCPU threads may record at once, so entries
 * are claimed with a compare-and-swap on their state and never with a lock.
 * Entries leave the ring only while the socket lock is held (an answer was
 * read) or by their own forward, so the service thread can read a PENDING
 * entry's fields under the lock without them changing.
 *
 * The ring is fixed at RASC_REPLAY_MAX entries (4096: a VM would need
 * that many distinct poisoned granules unacknowledged while rasd is away).
 * A forward made while rasd is away whose kind, granule and flags match an
 * entry still waiting takes no entry of its own: rasd records that granule once when the
 * entry is sent, and the second forward would only be its repeat. A guest
 * touching a poisoned page again and again therefore uses one entry. Only
 * when the ring is full of distinct errors is a forward not kept: it still
 * gets its decision, is counted in lost (rasc_lost()), and rasd is told the
 * count at the next registration, so the loss is never silent.
 *
 * An entry is usually at index seq % RASC_REPLAY_MAX, so an ack looks
 * there first.
 *
 * A migration's source rasd must know, when it answers a final sync,
 * that nothing the VMM has seen is missing from its store (migrate/
 * README.md, "Nothing the source VMM knows is lost"). So rasd is never
 * left believing that: the registration says how many errors are pending
 * (this ring, plus those the VMM keeps itself: rasc_note_held()) and how
 * many were lost, and once the replay has emptied both the library says
 * so (VmmStatus). Whatever becomes pending while rasd cannot be told --
 * a forward left for replay, one the full ring dropped, an error the VMM
 * keeps or drops -- cuts the connection (rasc_ring_unsynced()): rasd sees
 * its VMM go, refuses a final sync until it has registered again, and
 * the registration brings the new counts. The cut is made by whoever
 * holds the socket lock, at its unlock, or by the caller itself when the
 * lock is free, so it never races a thread using the socket.
 */
#include "rasc_int.h"

/* Whether a live entry already stands for this forward (see above). */
static int
rasc_ring_covered(struct rasc *c, int kind, uint64_t hva, int lsb,
    unsigned int flags)
{
	const struct rasc_entry	*e;
	uint64_t		 boundary = atomic_load(&c->reset_seq);
	unsigned int		 i;
	int			 state, g = lsb > 0 && lsb <= 40 ? lsb : 12;

	for (i = 0; i < RASC_REPLAY_MAX; i++) {
		e = &c->ring[i];
		state = atomic_load(&e->state);
		if (state != RASC_ENTRY_INFLIGHT && state != RASC_ENTRY_PENDING)
			continue;
		if (e->kind != (uint32_t)kind || e->flags != flags ||
		    e->lsb != (uint32_t)lsb || (e->hva >> g) != (hva >> g))
			continue;
		/* Not one from before an undelivered guest reset. */
		if (boundary != 0 && atomic_load(&e->seq) < boundary)
			continue;
		/* Still the same entry after reading its fields. */
		if (atomic_load(&e->state) == state)
			return 1;
	}
	return 0;
}

/*
 * Record a forward and return its entry in the given state (INFLIGHT or
 * PENDING), or NULL if a live entry already stands for it or the ring is
 * full (then counted in lost). *seq always gets a fresh number.
 */
struct rasc_entry *
rasc_ring_claim(struct rasc *c, int kind, uint64_t hva, int lsb,
    unsigned int flags, int state, uint64_t *seq)
{
	struct rasc_entry	*e;
	uint64_t		 s;
	unsigned int		 i;
	int			 expected;

	s = atomic_fetch_add(&c->next_seq, 1);
	*seq = s;
	/*
	 * Only while rasd is away: an online forward is answered and freed
	 * at once, and the scan would cost every forward 4096 loads.
	 */
	if (state == RASC_ENTRY_PENDING &&
	    rasc_ring_covered(c, kind, hva, lsb, flags))
		return NULL;
	for (i = 0; i < RASC_REPLAY_MAX; i++) {
		e = &c->ring[(s + i) % RASC_REPLAY_MAX];
		expected = RASC_ENTRY_FREE;
		if (!atomic_compare_exchange_strong(&e->state, &expected,
		    RASC_ENTRY_WRITING))
			continue;
		e->kind = (uint32_t)kind;
		e->hva = hva;
		e->lsb = (uint32_t)lsb;
		e->flags = flags;
		atomic_store(&e->seq, s);
		atomic_store(&e->state, state);
		if (state == RASC_ENTRY_PENDING)
			rasc_ring_unsynced(c);
		return e;
	}
	atomic_fetch_add(&c->lost, 1);
	rasc_ring_unsynced(c);
	return NULL;
}

/* rasd answered the forward with this seq: forget it. */
void
rasc_ring_ack(struct rasc *c, uint64_t seq)
{
	struct rasc_entry	*e;
	unsigned int		 i;
	int			 state;

	for (i = 0; i < RASC_REPLAY_MAX; i++) {
		e = &c->ring[(seq + i) % RASC_REPLAY_MAX];
		state = atomic_load(&e->state);
		if (state != RASC_ENTRY_INFLIGHT && state != RASC_ENTRY_PENDING)
			continue;
		if (atomic_load(&e->seq) != seq)
			continue;
		atomic_compare_exchange_strong(&e->state, &state,
		    RASC_ENTRY_FREE);
		return;
	}
}

/*
 * The forward of an INFLIGHT entry got no answer: leave it for replay,
 * and let rasd know that something is pending.
 */
void
rasc_ring_defer(struct rasc *c, struct rasc_entry *e)
{
	int	expected = RASC_ENTRY_INFLIGHT;

	if (e != NULL)
		atomic_compare_exchange_strong(&e->state, &expected,
		    RASC_ENTRY_PENDING);
	rasc_ring_unsynced(c);
}

/*
 * rasd's view is out of date: cut the connection, now if the socket lock
 * is free, else at its holder's unlock. Async-signal-safe.
 */
void
rasc_ring_unsynced(struct rasc *c)
{
	atomic_store(&c->unsynced, 1);
	rasc_ring_resync(c);
}

/*
 * Cut the connection if rasc_ring_unsynced() asked for it and the socket
 * lock is free; every unlock calls this, so a request made while another
 * thread held the lock is carried out when it lets go.
 * Async-signal-safe.
 */
void
rasc_ring_resync(struct rasc *c)
{
	int	expected;

	while (atomic_load(&c->unsynced)) {
		expected = 0;
		if (!atomic_compare_exchange_strong(&c->sock_lock, &expected,
		    1))
			return;		/* its holder does it at unlock */
		if (atomic_exchange(&c->unsynced, 0) &&
		    atomic_load(&c->fd) != -1) {
			rasc_seterr_safe(c, "connection to rasd cut: an error "
			    "is pending that rasd must be told of", NULL);
			rasc_wire_disconnect(c);
		}
		atomic_store(&c->sock_lock, 0);
	}
}

/* Number of forwards not yet acknowledged. */
int
rasc_ring_count(struct rasc *c)
{
	unsigned int	i;
	int		n = 0;

	for (i = 0; i < RASC_REPLAY_MAX; i++) {
		if (atomic_load(&c->ring[i].state) != RASC_ENTRY_FREE)
			n++;
	}
	return n;
}

/*
 * What rasd must still hear of: unacknowledged forwards and the errors
 * the VMM keeps itself.
 */
unsigned int
rasc_ring_pending(struct rasc *c)
{
	int	held = atomic_load(&c->held);

	return (unsigned int)rasc_ring_count(c) +
	    (held > 0 ? (unsigned int)held : 0);
}

/*
 * The PENDING entry with the lowest seq below limit (0: no limit), or NULL.
 * Called with the socket lock held.
 */
struct rasc_entry *
rasc_ring_oldest(struct rasc *c, uint64_t limit)
{
	struct rasc_entry	*e, *best = NULL;
	uint64_t		 s, bs = 0;
	unsigned int		 i;

	for (i = 0; i < RASC_REPLAY_MAX; i++) {
		e = &c->ring[i];
		if (atomic_load(&e->state) != RASC_ENTRY_PENDING)
			continue;
		s = atomic_load(&e->seq);
		if (limit != 0 && s >= limit)
			continue;
		if (best == NULL || s < bs) {
			best = e;
			bs = s;
		}
	}
	return best;
}
