/*
 * writer.c -- the store's writer thread (commit_policy pipelined).
 *
 * DESIGN: the event loop must go on reading, deciding and batching while
 * a batch is being made durable, so one thread does nothing but commit:
 * the loop hands it one batch at a time (writer_submit), the thread
 * commits it on its own SQLite connection (store_writer_attach: opened,
 * used and closed on this thread only), and when COMMIT has returned --
 * the WAL synced -- it marks the batch done and wakes the loop through an
 * eventfd the loop watches: no polling, and libevent itself is never
 * touched from here. The loop takes the batch back (writer_take) and only
 * then answers the forwards in it (batch.c).
 *
 * At most one batch is in the writer's hands. What the loop decides
 * meanwhile forms the next batch, handed over as soon as the previous one
 * is taken back; so a forward waits at most for the rest of the commit in
 * flight and then its own.
 *
 * One mutex guards the hand-over (job, done, quit) and two condition
 * variables wait on it: the writer for a job, the loop for a job's end
 * (writer_take(1) when draining, writer_wait_idle before a write on the
 * loop's own connection, which then never waits on SQLite's lock and
 * lands after what the loop decided before it). The mutex gives the
 * ordering both ways: the batch's copies made on the loop are seen whole
 * by the writer, and its ids and result whole by the loop.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "rasd.h"

static pthread_mutex_t writer_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t writer_cv_job = PTHREAD_COND_INITIALIZER;
static pthread_cond_t writer_cv_done = PTHREAD_COND_INITIALIZER;
static struct store_batch *writer_job;	/* handed over, not taken back */
static int writer_done;		/* writer_job is committed */
static int writer_quit;		/* stop once no job is left */
static int writer_ready;	/* 1: connection open, -1: it failed */
static int writer_running;	/* the thread exists (loop's view) */
static pthread_t writer_tid;
static int writer_efd = -1;
static struct event *writer_ev;
static void (*writer_done_cb)(void);

/* The thread: commit each batch handed over, then wake the loop. */
static void *
writer_main(void *arg)
{
	static const uint64_t one = 1;
	struct store_batch *b;
	int rc;

	rc = store_writer_attach();
	pthread_mutex_lock(&writer_mtx);
	writer_ready = rc == 0 ? 1 : -1;
	pthread_cond_broadcast(&writer_cv_done);
	if (rc == -1) {
		pthread_mutex_unlock(&writer_mtx);
		return NULL;
	}
	for (;;) {
		while ((writer_job == NULL || writer_done) && !writer_quit)
			pthread_cond_wait(&writer_cv_job, &writer_mtx);
		if (writer_job == NULL || writer_done)
			break;		/* quit, and nothing left */
		b = writer_job;
		pthread_mutex_unlock(&writer_mtx);
		store_batch_commit(b);
		pthread_mutex_lock(&writer_mtx);
		writer_done = 1;
		pthread_cond_broadcast(&writer_cv_done);
		pthread_mutex_unlock(&writer_mtx);
		/* Only fails if the counter is full: it is woken anyway. */
		while (write(writer_efd, &one, sizeof one) == -1 &&
		    errno == EINTR)
			;
		pthread_mutex_lock(&writer_mtx);
	}
	pthread_mutex_unlock(&writer_mtx);
	store_writer_detach();
	return NULL;
}

/* The eventfd fired: a batch is done (or was already taken back). */
static void
writer_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	while (read(fd, &n, sizeof n) == -1 && errno == EINTR)
		;
	writer_done_cb();
}

/*
 * Start the writer on its own connection; done runs on the loop each time
 * a batch is committed. Returns -1 (logged) when it cannot run.
 */
int
writer_start(struct event_base *base, void (*done)(void))
{
	sigset_t all, old;
	int rc;

	if (!sqlite3_threadsafe()) {
		log_warnx("writer: this SQLite is built without threads");
		return -1;
	}
	writer_done_cb = done;
	if ((writer_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		log_warn("writer: eventfd");
		return -1;
	}
	writer_ev = event_new(base, writer_efd, EV_READ | EV_PERSIST,
	    writer_wake_cb, NULL);
	if (writer_ev == NULL || event_add(writer_ev, NULL) == -1) {
		log_warnx("writer: cannot watch its eventfd");
		goto fail;
	}
	/* Signals are the loop's (libevent's evsignal): none here. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	writer_ready = 0;
	writer_quit = 0;
	rc = pthread_create(&writer_tid, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_warnx("writer: pthread_create: %s", strerror(rc));
		goto fail;
	}
	pthread_mutex_lock(&writer_mtx);
	while (writer_ready == 0)
		pthread_cond_wait(&writer_cv_done, &writer_mtx);
	rc = writer_ready;
	pthread_mutex_unlock(&writer_mtx);
	if (rc == -1) {
		pthread_join(writer_tid, NULL);
		log_warnx("writer: no connection to the store of its own");
		goto fail;
	}
	writer_running = 1;
	return 0;
fail:
	if (writer_ev != NULL)
		event_free(writer_ev);
	writer_ev = NULL;
	close(writer_efd);
	writer_efd = -1;
	return -1;
}

/* Hand a batch over; the previous one must have been taken back. */
void
writer_submit(struct store_batch *b)
{
	pthread_mutex_lock(&writer_mtx);
	if (writer_job != NULL)
		fatalx("writer: a batch handed over before the last came "
		    "back");
	writer_job = b;
	writer_done = 0;
	pthread_cond_signal(&writer_cv_job);
	pthread_mutex_unlock(&writer_mtx);
}

/*
 * Take the committed batch back: NULL when none was handed over, or (wait
 * 0) while it is still being committed; wait 1 blocks until it is done.
 */
struct store_batch *
writer_take(int wait)
{
	struct store_batch *b = NULL;

	pthread_mutex_lock(&writer_mtx);
	while (wait && writer_job != NULL && !writer_done)
		pthread_cond_wait(&writer_cv_done, &writer_mtx);
	if (writer_job != NULL && writer_done) {
		b = writer_job;
		writer_job = NULL;
		writer_done = 0;
	}
	pthread_mutex_unlock(&writer_mtx);
	return b;
}

/* Wait until the writer is not committing (a loop write goes next). */
void
writer_wait_idle(void)
{
	if (!writer_running)
		return;
	pthread_mutex_lock(&writer_mtx);
	while (writer_job != NULL && !writer_done)
		pthread_cond_wait(&writer_cv_done, &writer_mtx);
	pthread_mutex_unlock(&writer_mtx);
}

/* Stop the thread once its batch is done (batch_flush took it back). */
void
writer_stop(void)
{
	if (!writer_running)
		return;
	pthread_mutex_lock(&writer_mtx);
	writer_quit = 1;
	pthread_cond_signal(&writer_cv_job);
	pthread_mutex_unlock(&writer_mtx);
	pthread_join(writer_tid, NULL);
	writer_running = 0;
	event_free(writer_ev);
	writer_ev = NULL;
	close(writer_efd);
	writer_efd = -1;
}
