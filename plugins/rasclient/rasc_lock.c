/*
 * rasc_lock.c -- the socket lock shared by handlers and ordinary threads.
 *
 * DESIGN: a pthread mutex may not be taken in a signal handler, so the lock
 * is one atomic int. A handler only tries it until its deadline and falls
 * back when it cannot get it. An ordinary thread blocks SIGBUS before it
 * takes the lock and until it releases it: a memory error on that thread
 * then waits for the unlock instead of spinning on a lock its own thread
 * holds. Every holder keeps it for a bounded time (each socket operation has
 * a deadline), so waiters always make progress.
 */
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "rasc_int.h"

/* Pause between attempts; nanosleep is async-signal-safe. */
static void
rasc_lock_pause(void)
{
	struct timespec	ts = { 0, 100 * 1000 };

	nanosleep(&ts, NULL);
}

/* Take the lock once without waiting. */
static int
rasc_lock_once(struct rasc *c)
{
	int	expected = 0;

	return atomic_compare_exchange_strong(&c->sock_lock, &expected, 1);
}

/* Try to take the lock until deadline; for handlers. Returns 0 if taken. */
int
rasc_lock_try(struct rasc *c, int64_t deadline)
{
	for (;;) {
		if (rasc_lock_once(c))
			return 0;
		if (rasc_wire_now() >= deadline)
			return -1;
		rasc_lock_pause();
	}
}

/* Block SIGBUS, saving the old mask in *old, and take the lock. */
void
rasc_lock(struct rasc *c, sigset_t *old)
{
	sigset_t	set;

	sigemptyset(&set);
	sigaddset(&set, SIGBUS);
	pthread_sigmask(SIG_BLOCK, &set, old);
	while (!rasc_lock_once(c))
		rasc_lock_pause();
}

/* Release the lock taken by rasc_lock() and restore the signal mask. */
void
rasc_unlock(struct rasc *c, const sigset_t *old)
{
	atomic_store(&c->sock_lock, 0);
	rasc_ring_resync(c);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* Release the lock taken by rasc_lock_try(). */
void
rasc_lock_release(struct rasc *c)
{
	atomic_store(&c->sock_lock, 0);
	rasc_ring_resync(c);
}
