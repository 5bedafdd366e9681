/*
 * store.c -- the durable store: one SQLite database in the state directory.
 *
 * On-disk format (schema version 3), file STATE_DIR/rasd.db, WAL mode,
 * synchronous=FULL so a COMMIT returns only after the WAL is on disk:
 *
 *   meta(key TEXT PRIMARY KEY, value TEXT)
 *       'schema' = '3'
 *   vm(uuid BLOB(16) PRIMARY KEY, name TEXT, arch INTEGER,
 *      hest BLOB,          -- raw boot HEST, NULL when declared
 *      declared BLOB,      -- 4 bytes per source: id u16 LE, notify, 0
 *      pinned INTEGER, caps INTEGER, owner_uid INTEGER,
 *      generation INTEGER, state INTEGER,
 *      slots BLOB,         -- 24 bytes per slot: gpa, hva, size (u64 LE)
 *      pid INTEGER, updated INTEGER,
 *      vmm_start INTEGER,  -- the bound VMM's start time (/proc/PID/stat
 *                             field 22); 0 or NULL: not known
 *      vmm_cgroup TEXT,    -- its cgroup v2 path; '' or NULL: not known
 *      unrecorded INTEGER, -- local decisions the VM's VMMs reported
 *                             they could not keep for replay
 *      ar_order BLOB,      -- the orders pinned with the profile, one
 *      ao_order BLOB)         enum ras_notify a byte; NULL: the config's
 *   event(id INTEGER PRIMARY KEY, vm BLOB(16), gpa INTEGER, length INTEGER,
 *      kind INTEGER, action INTEGER, notify INTEGER (NULL: none),
 *      source_id INTEGER (NULL: none), time INTEGER, host TEXT,
 *      origin TEXT, active INTEGER)
 *   index event_vm(vm, active)
 *   vevent(id INTEGER PRIMARY KEY, vm BLOB(16), time INTEGER,
 *      recipient INTEGER, action INTEGER, flags INTEGER,
 *      forward_id INTEGER)  -- libvirt MEMORY_FAILURE events; forward_id
 *                              is the event row they belong to, or NULL
 *   index vevent_vm(vm)
 *   incoming(vm BLOB(16) PRIMARY KEY, -- a VM imported with a source to
 *      migration_id BLOB(16),            ask for its final state
 *      peer TEXT,          -- the source rasd's address (Bundle.source_peer)
 *      peer_identity TEXT, -- the source host's identity; NULL: not known
 *      generation INTEGER, -- of the imported bundle
 *      state INTEGER,      -- enum handoff_dst_state, the last one reached
 *      reason TEXT,        -- why it failed last (NULL: it did not)
 *      created INTEGER, updated INTEGER)  -- seconds since the epoch
 *      Written in the import's transaction, deleted in the final state's
 *      and when the VM is reset, booted afresh or imported again (not
 *      when its VMM unregisters: a later VMM of it must still ask).
 *
 * Schema history (store_steps[] upgrades one version at a time):
 *   1  the tables above without vm.vmm_start, vm.vmm_cgroup and
 *      vm.unrecorded; the count was meta 'unrecorded:UUID' = N, and after
 *      a restart a VM's VMM was known by its pid only.
 *   2  those three columns; the meta keys are folded into the column.
 *   3  vm.ar_order and vm.ao_order (schema 2 kept the pinned orders in
 *      memory: a restart decided with the config's), and the table
 *      incoming (schema 2 kept the source's address and the migration id
 *      in memory: a restarted destination answered the VMM's final sync
 *      from the imported snapshot).
 *
 * DESIGN (upgrades): store_schema.c. To change the format: bump
 * STORE_VERSION, write the new tables in store_create_sql, add a step
 * from the previous version (both in store_schema.c), describe both here,
 * and keep a database written by the previous rasd under tests/data for
 * t_store.
 *
 * Every poison record is an event row. The active range set of a VM is the
 * coalesced union of its events with active = 1; a guest reset sets
 * active = 0 and the rows stay as history. 64-bit unsigned values are
 * stored as SQLite's signed 64-bit integers, bit for bit.
 *
 * DESIGN: events are written in batches (struct store_batch, batch.c)
 * so that the forwards decided together share one fsync.
 *
 * DESIGN (threads): under commit_policy pipelined a writer thread
 * (writer.c) commits the batches while the loop goes on. SQLite is used
 * in its multi-thread mode: every connection is opened NOMUTEX and used
 * by one thread only (SQLite's own global state -- VFS, page cache
 * memory -- keeps its mutexes; writer_start refuses a build without
 * threads). So there are two connections to the one file:
 *
 *   - the writer's (store_wr), opened, used and closed on its thread, runs
 *     only store_batch_commit: BEGIN IMMEDIATE, the events, the rows of
 *     their VMs, COMMIT (the WAL synced);
 *   - the loop's (store_main) does everything else: the load at start,
 *     reads (history, libvirt events) and the rare other writes
 *     (registration, memory map, reset, import, libvirt events).
 *
 * Which one a function uses is the thread's store_cur (thread-local), so
 * the code is the same for both. A read on the loop's connection is a WAL
 * reader: it sees the last commit and never waits for the writer, nor the
 * writer for it. A write on the loop's connection first waits until the
 * writer is not committing (writer_wait_idle): it then never meets the
 * writer's lock, and lands after every batch handed over before it; a
 * write that must follow records not yet handed over (a reset retires
 * them) is preceded by batch_flush(), as before. The only lock either can
 * meet is a checkpoint (the writer's PASSIVE one after a commit, or a
 * TRUNCATE after a full disk) against the other's reader: busy_timeout
 * bounds that wait. Why not one connection for both: SQLite serializes a
 * FULLMUTEX connection per call, not per transaction, so the loop's
 * statements would run inside the writer's transaction or wait for its
 * fsync; routing reads to the writer would make them wait for it too.
 *
 * The writer never reads struct vm, which the loop goes on changing: a
 * batch carries copies of its VMs' rows (struct store_row) made on the
 * loop when it is handed over, and its records by value; the VM's uuid,
 * which never changes, is the one thing read through the pointer. Errors
 * are per connection (store_error() is the calling thread's); a failed
 * batch carries its message back to the loop (store_batch_result).
 *
 * DESIGN (full disk): a forward must be recordable with only a few
 * records' worth of free space, and rasd must record again by itself as
 * soon as space returns. So the WAL is kept a small ring: a PASSIVE
 * checkpoint folds it into the database once it holds STORE_WAL_PAGES
 * pages, the next commit then rewrites the WAL from its start in space
 * the file already has, and journal_size_limit trims it back after a large
 * import. Steady state, a record needs new space only where the database
 * itself grows (a few dozen bytes a record). Every write runs through
 * store_write(): one transaction, rolled back cleanly on failure; if the
 * disk was full or failing, a checkpoint(TRUNCATE) gives back what the WAL
 * holds and the transaction is tried once more. Nothing is remembered
 * between failures, so the first write after space returns succeeds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "handoff.h"
#include "hest.h"
#include "metrics.h"
#include "rasd.h"
#include "store_int.h"

/* Fold the WAL into the database once it holds this many pages. */
#define STORE_WAL_PAGES 64
/* Trim a WAL that grew past this (a big import) when it restarts. */
#define STORE_WAL_LIMIT "1048576"
/* How long a connection waits for the other's lock (a checkpoint). */
#define STORE_BUSY_MS 5000

static struct store_conn store_main;	/* the event loop's */
static struct store_conn store_wr;	/* the writer thread's (writer.c) */
/* The connection of the thread running: each uses only its own. */
_Thread_local struct store_conn *store_cur = &store_main;
static int store_lockfd = -1;
static char store_boot_id[64] = "unknown";
char store_path[PATH_MAX];

/* Remember SQLite's message for the last failure. */
static void
store_set_error(const char *what)
{
	struct store_conn *sc = store_cur;

	sc->err_rc = sc->db != NULL ? sqlite3_extended_errcode(sc->db) :
	    SQLITE_CANTOPEN;
	if ((sc->err_rc & 0xff) == SQLITE_FULL)
		snprintf(sc->err, sizeof sc->err, "%.200s: disk full, "
		    "no space left for %.250s", what, store_path);
	else
		snprintf(sc->err, sizeof sc->err, "%.200s: %.280s", what,
		    sc->db != NULL ? sqlite3_errmsg(sc->db) : "no database");
}

/* The disk is full or failing: a checkpoint and a retry may help. */
static int
store_disk_error(int rc)
{
	return (rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR;
}

/* The message of the last store failure (of this thread's connection). */
const char *
store_error(void)
{
	return store_cur->err;
}

/* This host's boot id, recorded with every event. */
const char *
store_host(void)
{
	return store_boot_id;
}

/* Read the kernel's boot id once. */
static void
store_read_boot_id(void)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

	if (f == NULL)
		return;
	if (fgets(store_boot_id, sizeof store_boot_id, f) != NULL)
		store_boot_id[strcspn(store_boot_id, "\n")] = '\0';
	fclose(f);
}

/* Run SQL without results; log on failure. */
int
store_exec(const char *sql)
{
	struct store_conn *sc = store_cur;
	char *msg = NULL;

	if (sqlite3_exec(sc->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		sc->err_rc = sqlite3_extended_errcode(sc->db);
		snprintf(sc->err, sizeof sc->err, "%s", msg ? msg : "?");
		log_warnx("store: %s: %s", sql, sc->err);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Prepare one statement kept for the life of the connection. */
static int
store_prepare(sqlite3_stmt **st, const char *sql)
{
	if (sqlite3_prepare_v3(store_cur->db, sql, -1,
	    SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		store_set_error("prepare");
		log_warnx("store: %s", store_cur->err);
		return -1;
	}
	return 0;
}

/*
 * Fold the WAL into the database and truncate it. After a full disk this
 * gives back what the WAL held, so the retry needs room for a few pages
 * only; it fails (harmlessly) while the database itself cannot grow.
 */
static int
store_checkpoint(const char *why)
{
	struct store_conn *sc = store_cur;
	int rc, nlog = -1, nckpt = -1;

	rc = sqlite3_wal_checkpoint_v2(sc->db, NULL,
	    SQLITE_CHECKPOINT_TRUNCATE, &nlog, &nckpt);
	/* One line per streak of failures, then one per hundred. */
	if (rc != SQLITE_OK && sc->failures % 100 == 0)
		log_warnx("store: checkpoint (%s) failed: %s", why,
		    sqlite3_errmsg(sc->db));
	else if (rc == SQLITE_OK && nlog > 0)
		log_info("store: checkpoint (%s): %d WAL pages folded into "
		    "the database, WAL truncated", why, nckpt);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Roll back whatever the failed transaction left, keeping its error. */
static void
store_rollback(void)
{
	sqlite3 *db = store_cur->db;

	if (sqlite3_get_autocommit(db))
		return;		/* SQLite already rolled it back */
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	if (!sqlite3_get_autocommit(db))
		log_warnx("store: rollback failed: %s", sqlite3_errmsg(db));
}


/* Run body in one write transaction; on failure leave none open. */
static int
store_txn(store_body_fn body, void *arg)
{
	sqlite3 *db = store_cur->db;

	/* A transaction an earlier failure left open would make every
	 * later BEGIN fail until a restart. */
	if (!sqlite3_get_autocommit(db)) {
		log_warnx("store: a transaction was left open; rolling back");
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		store_set_error("begin");
		return -1;
	}
	if (body(arg) == -1)
		goto fail;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		store_set_error("commit");
		goto fail;
	}
	return 0;
fail:
	store_rollback();
	return -1;
}

/*
 * Every write goes through here: one transaction; if the disk was full
 * or failing, a checkpoint to free the WAL's space and one more try.
 * The caller logs the failure (store_error() says why). On the loop's
 * connection, a batch the writer is committing finishes first: writes
 * land in the order the loop decided them, and never wait on SQLite's
 * lock.
 */
int
store_write(store_body_fn body, void *arg)
{
	struct store_conn *sc = store_cur;
	int rc;

	if (sc->db == NULL) {
		snprintf(sc->err, sizeof sc->err, "store not open");
		return -1;
	}
	if (sc == &store_main)
		writer_wait_idle();
	rc = store_txn(body, arg);
	if (rc == -1 && store_disk_error(sc->err_rc)) {
		char err[sizeof sc->err];
		int err_rc = sc->err_rc;

		memcpy(err, sc->err, sizeof err);
		if (sc->failures == 0)
			log_warnx("store: write failed (%s): checkpointing "
			    "to free space and retrying; every later write "
			    "retries the same way", err);
		store_checkpoint("write failed");
		rc = store_txn(body, arg);
		if (rc == -1 && !store_disk_error(sc->err_rc)) {
			/* Report the disk, not what the retry tripped on. */
			memcpy(sc->err, err, sizeof sc->err);
			sc->err_rc = err_rc;
		}
	}
	if (rc == 0) {
		if (sc->failures > 0)
			log_info("store: writing again after %lu failed "
			    "writes", sc->failures);
		sc->failures = 0;
		return 0;
	}
	sc->failures++;
	return -1;
}

/*
 * Take the state directory's lock (rasd.lock, flock) so that one rasd or
 * one store checker uses the store at a time. Returns the fd, or -1 with
 * errno (EWOULDBLOCK: another process holds it).
 */
int
store_lock(const char *dir)
{
	char path[PATH_MAX];
	int fd, saved;

	snprintf(path, sizeof path, "%s/rasd.lock", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Open a connection to store_path for this thread; no tables touched. */
static int
store_conn_open(struct store_conn *sc)
{
	store_cur = sc;
	if (sqlite3_open_v2(store_path, &sc->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		store_set_error(store_path);
		log_warnx("store: %s", sc->err);
		return -1;
	}
	sqlite3_extended_result_codes(sc->db, 1);
	/* Only a checkpoint waiting for a reader of the other connection
	 * should ever wait on a lock (DESIGN); never for long. */
	sqlite3_busy_timeout(sc->db, STORE_BUSY_MS);
	return 0;
}

/* The settings of every connection, then its statements. */
static int
store_conn_setup(void)
{
	struct store_conn *sc = store_cur;

	if (store_exec("PRAGMA journal_mode=WAL") == -1 ||
	    store_exec("PRAGMA synchronous=FULL") == -1 ||
	    store_exec("PRAGMA journal_size_limit=" STORE_WAL_LIMIT) == -1 ||
	    sqlite3_wal_autocheckpoint(sc->db, STORE_WAL_PAGES) !=
	    SQLITE_OK ||
	    store_exec("PRAGMA foreign_keys=OFF") == -1)
		return -1;
	return 0;
}

static int
store_conn_prepare(void)
{
	struct store_conn *sc = store_cur;

	if (store_prepare(&sc->insert_event,
	    "INSERT INTO event(vm, gpa, length, kind, action, notify,"
	    " source_id, time, host, origin, active)"
	    " VALUES(?,?,?,?,?,?,?,?,?,?,?)") == -1 ||
	    store_prepare(&sc->save_vm,
	    "INSERT OR REPLACE INTO vm(uuid, name, arch, hest, declared,"
	    " pinned, caps, owner_uid, generation, state, slots, pid, updated,"
	    " vmm_start, vmm_cgroup, unrecorded, ar_order, ao_order)"
	    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)") == -1 ||
	    store_prepare(&sc->retire,
	    "UPDATE event SET active=0 WHERE vm=? AND active=1") == -1 ||
	    store_prepare(&sc->history,
	    "SELECT id, gpa, length, kind, action, notify, source_id, time,"
	    " host, origin, active FROM event WHERE vm=? ORDER BY id") == -1 ||
	    store_prepare(&sc->insert_vevent,
	    "INSERT INTO vevent(vm, time, recipient, action, flags, forward_id)"
	    " VALUES(?,?,?,?,?,?)") == -1 ||
	    store_prepare(&sc->vevents,
	    "SELECT v.id, v.time, v.recipient, v.action, v.flags, v.forward_id,"
	    " e.gpa FROM vevent v LEFT JOIN event e ON e.id = v.forward_id"
	    " WHERE v.vm=? ORDER BY v.id") == -1)
		return -1;
	return 0;
}

/* Finalize a connection's statements and close it. */
static void
store_conn_close(struct store_conn *sc)
{
	sqlite3_finalize(sc->insert_event);
	sqlite3_finalize(sc->save_vm);
	sqlite3_finalize(sc->retire);
	sqlite3_finalize(sc->history);
	sqlite3_finalize(sc->insert_vevent);
	sqlite3_finalize(sc->vevents);
	sc->insert_event = sc->save_vm = sc->retire = sc->history = NULL;
	sc->insert_vevent = sc->vevents = NULL;
	if (sc->db != NULL)
		sqlite3_close(sc->db);
	sc->db = NULL;
}

/* Open (creating if needed) the store in dir and take its lock. */
int
store_open(const char *dir)
{
	char path[PATH_MAX], err[256];
	int version;

	store_read_boot_id();
	if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
		log_warn("store: mkdir %s", dir);
		return -1;
	}
	if ((store_lockfd = store_lock(dir)) == -1) {
		if (errno == EWOULDBLOCK)
			log_warnx("store: %s is in use by another rasd", dir);
		else
			log_warn("store: %s/rasd.lock", dir);
		return -1;
	}
	snprintf(path, sizeof path, "%s/rasd.db", dir);
	snprintf(store_path, sizeof store_path, "%s", path);
	if (store_conn_open(&store_main) == -1)
		goto fail;
	/* Before anything that writes: a newer store stays untouched. */
	if ((version = store_schema_version(store_main.db, err,
	    sizeof err)) == -1) {
		log_warnx("store: %s: %s", path, err);
		goto fail;
	}
	if (version > STORE_VERSION) {
		log_warnx("store: %s has schema version %d, newer than the %d "
		    "this rasd knows: a newer rasd wrote it. Not opened, "
		    "nothing written; run that rasd, or go back to the backup "
		    "it took when it upgraded (rasd.db.v%d.bak), see rasd(8)",
		    path, version, STORE_VERSION, STORE_VERSION);
		goto fail;
	}
	if (store_conn_setup() == -1)
		goto fail;
	if (version == 0) {
		if (store_write(store_schema_create, NULL) == -1) {
			log_warnx("store: %s: not created: %s", path,
			    store_main.err);
			goto fail;
		}
		log_info("store: %s created (schema %d)", path,
		    STORE_VERSION);
	} else if (version < STORE_VERSION && store_upgrade(version) == -1)
		goto fail;
	if (store_conn_prepare() == -1)
		goto fail;
	/* What a crash left in the WAL goes into the database now; on a
	 * full disk this may fail, and the first write retries it. */
	store_checkpoint("open");
	log_info("store: %s (WAL, synchronous=FULL, checkpoint every %d "
	    "pages)", path, STORE_WAL_PAGES);
	return 0;
fail:
	store_close();
	return -1;
}

/*
 * The writer thread's own connection (writer.c), opened and closed on
 * that thread: from here on, store calls made on it use this one.
 */
int
store_writer_attach(void)
{
	if (store_conn_open(&store_wr) == -1 || store_conn_setup() == -1 ||
	    store_conn_prepare() == -1) {
		store_conn_close(&store_wr);
		return -1;
	}
	return 0;
}

void
store_writer_detach(void)
{
	store_conn_close(&store_wr);
	store_cur = &store_main;
}

/* Close the store and release its lock (the writer has stopped). */
void
store_close(void)
{
	store_conn_close(&store_main);
	if (store_lockfd != -1)
		close(store_lockfd);
	store_lockfd = -1;
}

/* Little-endian helpers for the BLOB encodings. */
static void
store_put64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
store_get64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/*
 * A pinned order from its column: NULL or a damaged one leaves it empty
 * (the config's applies), as before schema 3.
 */
static void
store_load_order(sqlite3_stmt *st, int col, uint8_t order[RAS_NOTIFY_COUNT],
    unsigned int *count)
{
	const uint8_t *o = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col), i;

	*count = 0;
	if (o == NULL || n <= 0 || n > RAS_NOTIFY_COUNT)
		return;
	for (i = 0; i < n; i++)
		if (o[i] >= RAS_NOTIFY_COUNT)
			return;
	memcpy(order, o, (size_t)n);
	*count = (unsigned int)n;
}

/* Rebuild one VM from its row; returns NULL if the row is unusable. */
static struct vm *
store_load_vm(sqlite3_stmt *st)
{
	const uint8_t *uuid = sqlite3_column_blob(st, 0);
	const char *name = (const char *)sqlite3_column_text(st, 1);
	const uint8_t *hest = sqlite3_column_blob(st, 3);
	int hest_len = sqlite3_column_bytes(st, 3);
	const uint8_t *decl = sqlite3_column_blob(st, 4);
	int decl_len = sqlite3_column_bytes(st, 4);
	const uint8_t *slots = sqlite3_column_blob(st, 10);
	int slots_len = sqlite3_column_bytes(st, 10);
	struct ras_profile prof;
	char err[256], us[37];
	struct vm *vm;
	int i;

	if (uuid == NULL || sqlite3_column_bytes(st, 0) != 16 || name == NULL)
		return NULL;
	ras_uuid_format(uuid, us);
	memset(&prof, 0, sizeof prof);
	if (hest != NULL && hest_len > 0) {
		if (hest_parse(hest, (size_t)hest_len, &prof, err,
		    sizeof err) == -1) {
			log_warnx("store: VM %s: stored HEST unusable: %s",
			    us, err);
			return NULL;
		}
	} else if (decl != NULL) {
		for (i = 0; i + 4 <= decl_len && prof.count <
		    RAS_PROFILE_MAX; i += 4) {
			prof.src[prof.count].source_id = (uint16_t)(decl[i] |
			    decl[i + 1] << 8);
			prof.src[prof.count].notify = decl[i + 2];
			prof.src[prof.count].hest_type = 0xff;
			prof.count++;
		}
	}
	vm = vm_create(uuid, name);
	vm_set_profile(vm, hest_len > 0 ? hest : NULL, (size_t)hest_len,
	    &prof);
	vm->arch = sqlite3_column_int(st, 2);
	vm->pinned = sqlite3_column_int(st, 5);
	vm->caps = (uint32_t)sqlite3_column_int64(st, 6);
	vm->owner_uid = (uint32_t)sqlite3_column_int64(st, 7);
	vm->generation = (uint64_t)sqlite3_column_int64(st, 8);
	/* No VMM is connected to a freshly started rasd. */
	switch (sqlite3_column_int(st, 9)) {
	case VM_STOPPED:
	case VM_INCOMING:
	case VM_MIGRATED:
		vm->state = sqlite3_column_int(st, 9);
		break;
	default:
		vm->state = VM_DISCONNECTED;
		break;
	}
	if (slots != NULL && slots_len >= 24) {
		vm->nslots = (size_t)slots_len / 24;
		vm->slots = xcalloc(vm->nslots, sizeof *vm->slots);
		for (i = 0; i < (int)vm->nslots; i++) {
			vm->slots[i].gpa = store_get64(slots + 24 * i);
			vm->slots[i].hva = store_get64(slots + 24 * i + 8);
			vm->slots[i].size = store_get64(slots + 24 * i + 16);
		}
	}
	vm->pid = (uint32_t)sqlite3_column_int64(st, 11);
	/* The VM stays bound to the process it was bound to (vm.c). */
	vm->vmm_start = (uint64_t)sqlite3_column_int64(st, 12);
	if (sqlite3_column_text(st, 13) != NULL)
		snprintf(vm->vmm_cgroup, sizeof vm->vmm_cgroup, "%s",
		    (const char *)sqlite3_column_text(st, 13));
	vm->unrecorded = (uint64_t)sqlite3_column_int64(st, 14);
	store_load_order(st, 15, vm->policy.ar_order, &vm->policy.ar_count);
	store_load_order(st, 16, vm->policy.ao_order, &vm->policy.ao_count);
	return vm;
}

static int store_load_incoming(void);

/* Rebuild the registry and every VM's active set from the store. */
int
store_load(void)
{
	sqlite3_stmt *st = NULL;
	struct poison_range r;
	struct vm *vm;
	size_t nvm = 0, nev = 0;
	int rc;

	if (sqlite3_prepare_v2(store_cur->db, "SELECT uuid, name, arch, hest,"
	    " declared, pinned, caps, owner_uid, generation, state, slots, pid,"
	    " vmm_start, vmm_cgroup, unrecorded, ar_order, ao_order FROM vm"
	    " ORDER BY updated, rowid", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (store_load_vm(st) != NULL)
			nvm++;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);

	if (sqlite3_prepare_v2(store_cur->db, "SELECT vm, gpa, length, kind,"
	    " action, notify, source_id, time, active FROM event ORDER BY id",
	    -1, &st, NULL) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != 16 ||
		    (vm = vm_find_uuid(sqlite3_column_blob(st, 0))) == NULL)
			continue;
		vm->history_count++;
		if (!sqlite3_column_int(st, 8))
			continue;
		memset(&r, 0, sizeof r);
		r.gpa = (uint64_t)sqlite3_column_int64(st, 1);
		r.len = (uint64_t)sqlite3_column_int64(st, 2);
		r.kind = (uint8_t)sqlite3_column_int(st, 3);
		r.action = (uint8_t)sqlite3_column_int(st, 4);
		r.notify = sqlite3_column_type(st, 5) == SQLITE_NULL ?
		    RAS_NOTIFY_NONE : (uint8_t)sqlite3_column_int(st, 5);
		r.source_id = (uint16_t)sqlite3_column_int(st, 6);
		r.first_seen = sqlite3_column_int64(st, 7);
		r.records = 1;
		poison_stage(&vm->active, &r);
		nev++;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	/* Sorted, then added: O(n log n) in any record order. */
	for (vm = vm_first(); vm != NULL; vm = vm->next_all)
		poison_stage_end(&vm->active);

	log_info("store: loaded %zu VMs, %zu active poison records", nvm, nev);
	return store_load_incoming();
fail:
	store_set_error("load");
	log_warnx("store: %s", store_cur->err);
	sqlite3_finalize(st);
	return -1;
}

/*
 * A VM's row as it is to be written, copied out of the VM: the writer
 * thread writes it while the loop goes on changing the VM.
 */
struct store_row {
	uint8_t uuid[16];
	char name[RASD_NAME_MAX + 1];
	int arch;
	uint8_t *hest;		/* NULL: declared */
	size_t hest_len;
	uint8_t decl[RAS_PROFILE_MAX * 4];
	size_t decl_len;
	int pinned;
	uint32_t caps, owner_uid, pid;
	uint64_t generation, vmm_start, unrecorded;
	int state;
	uint8_t *slots;		/* 24 bytes a slot; NULL: none */
	size_t slots_len;
	char vmm_cgroup[512];
	struct ras_policy policy;	/* ar/ao counts 0: none pinned */
};

/* Copy what a VM's row holds. */
static void
store_row_fill(struct store_row *row, const struct vm *vm)
{
	unsigned int i;

	memset(row, 0, sizeof *row);
	memcpy(row->uuid, vm->uuid, 16);
	memcpy(row->name, vm->name, sizeof row->name);
	row->arch = vm->arch;
	if (vm->hest != NULL) {
		row->hest = xcalloc(1, vm->hest_len > 0 ? vm->hest_len : 1);
		memcpy(row->hest, vm->hest, vm->hest_len);
		row->hest_len = vm->hest_len;
	} else {
		for (i = 0; i < vm->profile.count; i++) {
			row->decl[4 * i] =
			    (uint8_t)vm->profile.src[i].source_id;
			row->decl[4 * i + 1] =
			    (uint8_t)(vm->profile.src[i].source_id >> 8);
			row->decl[4 * i + 2] = vm->profile.src[i].notify;
			row->decl[4 * i + 3] = 0;
		}
		row->decl_len = 4 * vm->profile.count;
	}
	row->pinned = vm->pinned;
	row->caps = vm->caps;
	row->owner_uid = vm->owner_uid;
	row->generation = vm->generation;
	row->state = vm->state;
	if (vm->nslots > 0) {
		row->slots_len = 24 * vm->nslots;
		row->slots = xcalloc(vm->nslots, 24);
		for (i = 0; i < vm->nslots; i++) {
			store_put64(row->slots + 24 * i, vm->slots[i].gpa);
			store_put64(row->slots + 24 * i + 8, vm->slots[i].hva);
			store_put64(row->slots + 24 * i + 16,
			    vm->slots[i].size);
		}
	}
	row->pid = vm->pid;
	row->vmm_start = vm->vmm_start;
	memcpy(row->vmm_cgroup, vm->vmm_cgroup, sizeof row->vmm_cgroup);
	row->unrecorded = vm->unrecorded;
	row->policy = vm->policy;
}

static void
store_row_free(struct store_row *row)
{
	free(row->hest);
	free(row->slots);
	row->hest = row->slots = NULL;
}

/* Write a VM's row; the caller holds a transaction. */
static int
store_write_row(const struct store_row *row)
{
	sqlite3_stmt *st = store_cur->save_vm;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_blob(st, 1, row->uuid, 16, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, row->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, row->arch);
	if (row->hest != NULL) {
		sqlite3_bind_blob(st, 4, row->hest, (int)row->hest_len,
		    SQLITE_STATIC);
		sqlite3_bind_null(st, 5);
	} else {
		sqlite3_bind_null(st, 4);
		sqlite3_bind_blob(st, 5, row->decl, (int)row->decl_len,
		    SQLITE_STATIC);
	}
	sqlite3_bind_int(st, 6, row->pinned);
	sqlite3_bind_int64(st, 7, row->caps);
	sqlite3_bind_int64(st, 8, row->owner_uid);
	sqlite3_bind_int64(st, 9, (int64_t)row->generation);
	sqlite3_bind_int(st, 10, row->state);
	if (row->slots != NULL)
		sqlite3_bind_blob(st, 11, row->slots, (int)row->slots_len,
		    SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 11);
	sqlite3_bind_int64(st, 12, row->pid);
	sqlite3_bind_int64(st, 13, (int64_t)time(NULL));
	sqlite3_bind_int64(st, 14, (int64_t)row->vmm_start);
	sqlite3_bind_text(st, 15, row->vmm_cgroup, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 16, (int64_t)row->unrecorded);
	if (row->policy.ar_count + row->policy.ao_count > 0) {
		sqlite3_bind_blob(st, 17, row->policy.ar_order,
		    (int)row->policy.ar_count, SQLITE_STATIC);
		sqlite3_bind_blob(st, 18, row->policy.ao_order,
		    (int)row->policy.ao_count, SQLITE_STATIC);
	} else {
		sqlite3_bind_null(st, 17);
		sqlite3_bind_null(st, 18);
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		store_set_error("save VM");
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Write a VM's row as it is now; the caller holds a transaction. */
static int
store_save_vm_row(const struct vm *vm)
{
	struct store_row row;
	int rc;

	store_row_fill(&row, vm);
	rc = store_write_row(&row);
	store_row_free(&row);
	return rc;
}

static int
store_save_vm_body(void *arg)
{
	return store_save_vm_row(arg);
}

/* Write a VM's row (identity, profile, pinning, map, state). */
int
store_save_vm(const struct vm *vm)
{
	if (store_write(store_save_vm_body, (void *)vm) == -1) {
		log_warnx("store: VM %s: %s", vm->uuid_str, store_cur->err);
		return -1;
	}
	return 0;
}

/* Insert one event row; the caller holds a transaction. */
static int
store_insert_row(const uint8_t uuid[16], uint64_t gpa, uint64_t len,
    int kind, int action, int notify, int source_id, int64_t t,
    const char *host, const char *origin, int active, uint64_t *id)
{
	sqlite3_stmt *st = store_cur->insert_event;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_blob(st, 1, uuid, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)gpa);
	sqlite3_bind_int64(st, 3, (int64_t)len);
	sqlite3_bind_int(st, 4, kind);
	sqlite3_bind_int(st, 5, action);
	if (notify < 0) {
		sqlite3_bind_null(st, 6);
		sqlite3_bind_null(st, 7);
	} else {
		sqlite3_bind_int(st, 6, notify);
		sqlite3_bind_int(st, 7, source_id);
	}
	sqlite3_bind_int64(st, 8, t);
	sqlite3_bind_text(st, 9, host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, origin, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 11, active);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -1;
	if (id != NULL)
		*id = (uint64_t)sqlite3_last_insert_rowid(store_cur->db);
	return 0;
}

/* Insert a new record of this host; the caller holds a transaction. */
static int
store_insert_event(struct store_event *ev)
{
	return store_insert_row(ev->vm->uuid, ev->gpa, ev->len, ev->kind,
	    ev->action, ev->notify == RAS_NOTIFY_NONE ? -1 : ev->notify,
	    ev->source_id, ev->time, store_boot_id, ev->origin, 1, &ev->id);
}

/*
 * A batch of events to commit in one transaction, with the rows of the
 * VMs they touch (generation) as they were when the batch was made.
 * Made and taken back on the loop; committed on whichever thread holds
 * it (the writer's, or the loop's under commit_policy inline).
 */
struct store_batch {
	struct store_event *ev;	/* the caller's: ids are filled in */
	size_t n;
	struct store_row *rows;	/* one per VM, deduplicated */
	size_t nrows;
	int rc;			/* of the commit */
	double seconds;		/* the commit's, measured where it ran */
	char err[512];		/* why it failed */
};

/* Make a batch of ev[0..n), copying the rows of their VMs now. */
struct store_batch *
store_batch_new(struct store_event *ev, size_t n)
{
	struct store_batch *b = xcalloc(1, sizeof *b);
	size_t i, j;

	b->ev = ev;
	b->n = n;
	b->rows = xcalloc(n > 0 ? n : 1, sizeof *b->rows);
	for (i = 0; i < n; i++) {
		/* Records of one VM come in runs: newest row first. */
		for (j = b->nrows; j > 0; j--)
			if (memcmp(b->rows[j - 1].uuid, ev[i].vm->uuid, 16) ==
			    0)
				break;
		if (j == 0)
			store_row_fill(&b->rows[b->nrows++], ev[i].vm);
	}
	return b;
}

void
store_batch_free(struct store_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->nrows; i++)
		store_row_free(&b->rows[i]);
	free(b->rows);
	free(b);
}

static int
store_commit_body(void *arg)
{
	struct store_batch *b = arg;
	size_t i;

	for (i = 0; i < b->n; i++)
		if (store_insert_event(&b->ev[i]) == -1) {
			store_set_error("insert event");
			return -1;
		}
	for (i = 0; i < b->nrows; i++)
		if (store_write_row(&b->rows[i]) == -1)
			return -1;
	return 0;
}

/*
 * Make a batch durable in one transaction on this thread's connection,
 * all or nothing; its result and duration stay in it for the loop.
 */
void
store_batch_commit(struct store_batch *b)
{
	double t0 = metrics_now();

	b->rc = store_write(store_commit_body, b);
	b->seconds = metrics_now() - t0;
	if (b->rc == -1) {
		snprintf(b->err, sizeof b->err, "%s", store_cur->err);
		log_warnx("store: batch of %zu events not written: %s", b->n,
		    b->err);
	}
}

/*
 * The loop takes a committed batch back: 0 or -1, and then store_error()
 * says why; *seconds is how long the commit took.
 */
int
store_batch_result(const struct store_batch *b, double *seconds)
{
	*seconds = b->seconds;
	if (b->rc == -1)
		snprintf(store_cur->err, sizeof store_cur->err, "%s", b->err);
	return b->rc;
}

static int
store_retire_body(void *arg)
{
	struct vm *vm = arg;
	int rc;

	sqlite3_reset(store_cur->retire);
	sqlite3_bind_blob(store_cur->retire, 1, vm->uuid, 16, SQLITE_STATIC);
	rc = sqlite3_step(store_cur->retire);
	if (rc != SQLITE_DONE)
		store_set_error("retire");
	sqlite3_reset(store_cur->retire);
	if (rc != SQLITE_DONE)
		return -1;
	return store_save_vm_row(vm);
}

/* Retire a VM's active poison (guest reset) and save its row, atomically. */
int
store_retire(struct vm *vm)
{
	if (store_write(store_retire_body, vm) == -1) {
		log_warnx("store: VM %s: reset not written: %s", vm->uuid_str,
		    store_cur->err);
		return -1;
	}
	return 0;
}

/* Walk a VM's history in order; the index keeps other VMs out of it. */
int
store_history(const struct vm *vm, store_history_cb cb, void *arg)
{
	sqlite3_stmt *st = store_cur->history;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_blob(st, 1, vm->uuid, 16, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb(arg, (uint64_t)sqlite3_column_int64(st, 0),
		    (uint64_t)sqlite3_column_int64(st, 1),
		    (uint64_t)sqlite3_column_int64(st, 2),
		    sqlite3_column_int(st, 3), sqlite3_column_int(st, 4),
		    sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 :
		    sqlite3_column_int(st, 5),
		    sqlite3_column_type(st, 6) == SQLITE_NULL ? -1 :
		    sqlite3_column_int(st, 6),
		    sqlite3_column_int64(st, 7),
		    (const char *)sqlite3_column_text(st, 8),
		    (const char *)sqlite3_column_text(st, 9),
		    sqlite3_column_int(st, 10)) == -1)
			break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		store_set_error("history");
		return -1;
	}
	return 0;
}

struct store_vevent {
	const struct vm *vm;
	int64_t t;
	int recipient, action;
	unsigned int flags;
	uint64_t forward_id;
};

static int
store_vevent_body(void *arg)
{
	const struct store_vevent *e = arg;
	sqlite3_stmt *st = store_cur->insert_vevent;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_blob(st, 1, e->vm->uuid, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, e->t);
	sqlite3_bind_int(st, 3, e->recipient);
	sqlite3_bind_int(st, 4, e->action);
	sqlite3_bind_int64(st, 5, e->flags);
	if (e->forward_id != 0)
		sqlite3_bind_int64(st, 6, (int64_t)e->forward_id);
	else
		sqlite3_bind_null(st, 6);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		store_set_error("libvirt event");
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Record a libvirt memory-failure event (one transaction, durable). */
int
store_save_vevent(const struct vm *vm, int64_t t, int recipient, int action,
    unsigned int flags, uint64_t forward_id)
{
	struct store_vevent e = { vm, t, recipient, action, flags,
	    forward_id };

	if (store_write(store_vevent_body, &e) == -1) {
		log_warnx("store: VM %s: %s", vm->uuid_str, store_cur->err);
		return -1;
	}
	return 0;
}

struct store_note {
	const struct vm *vm;
	const struct poison_range *r;
	size_t n;
	int64_t t;
	const char *origin;
};

static int
store_note_body(void *arg)
{
	const struct store_note *nt = arg;
	const struct poison_range *r;
	size_t i;

	for (i = 0; i < nt->n; i++) {
		r = &nt->r[i];
		if (store_insert_row(nt->vm->uuid, r->gpa, r->len, r->kind,
		    r->action, r->notify == RAS_NOTIFY_NONE ? -1 : r->notify,
		    r->source_id, nt->t, store_boot_id, nt->origin, 0,
		    NULL) == -1) {
			store_set_error("note");
			return -1;
		}
	}
	return 0;
}

/*
 * Record what happened to some of a VM's ranges without changing its
 * active set: history rows with active = 0 whose origin says what
 * ("operator: ...", "pre-flight: ..."), one transaction, durable.
 */
int
store_save_note(struct vm *vm, const struct poison_range *r, size_t n,
    int64_t t, const char *origin)
{
	struct store_note nt = { vm, r, n, t, origin };

	if (n == 0)
		return 0;
	if (store_write(store_note_body, &nt) == -1) {
		log_warnx("store: VM %s: %s", vm->uuid_str, store_cur->err);
		return -1;
	}
	vm->history_count += n;
	return 0;
}

/* Walk a VM's libvirt memory-failure events in order. */
int
store_vevents(const struct vm *vm, store_vevent_cb cb, void *arg)
{
	sqlite3_stmt *st = store_cur->vevents;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_blob(st, 1, vm->uuid, 16, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb(arg, (uint64_t)sqlite3_column_int64(st, 0),
		    sqlite3_column_int64(st, 1), sqlite3_column_int(st, 2),
		    sqlite3_column_int(st, 3),
		    (unsigned int)sqlite3_column_int64(st, 4),
		    sqlite3_column_type(st, 5) == SQLITE_NULL ? 0 :
		    (uint64_t)sqlite3_column_int64(st, 5),
		    sqlite3_column_type(st, 6) == SQLITE_NULL ? 0 :
		    (uint64_t)sqlite3_column_int64(st, 6)) == -1)
			break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		store_set_error("libvirt events");
		return -1;
	}
	return 0;
}

struct store_import {
	const Ras__Bundle *b;
	const struct ras_profile *prof;
	uint32_t owner_uid;
	int final;
};

/*
 * The VM's incoming migration as the import leaves it: none for a final
 * state (the hand-off ends with it) or a bundle naming no source to ask;
 * otherwise the source's address, the migration id and the generation,
 * in state imported. In the import's transaction.
 */
static int
store_import_incoming(const struct store_import *im)
{
	const Ras__Bundle *b = im->b;
	sqlite3_stmt *st = NULL;
	int64_t now = (int64_t)time(NULL);
	int rc = -1;

	if (sqlite3_prepare_v2(store_cur->db, "DELETE FROM incoming WHERE"
	    " vm=?", -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, b->uuid.data, 16, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if (im->final || b->source_peer == NULL || b->source_peer[0] == '\0')
		return 0;
	if (sqlite3_prepare_v2(store_cur->db, "INSERT INTO incoming(vm,"
	    " migration_id, peer, peer_identity, generation, state, reason,"
	    " created, updated) VALUES(?,?,?,NULL,?,?,NULL,?,?)", -1, &st,
	    NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, b->uuid.data, 16, SQLITE_STATIC);
	if (b->has_migration_id && b->migration_id.len == HANDOFF_ID_LEN)
		sqlite3_bind_blob(st, 2, b->migration_id.data, HANDOFF_ID_LEN,
		    SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_text(st, 3, b->source_peer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)b->generation);
	sqlite3_bind_int(st, 5, HD_IMPORTED);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_int64(st, 7, now);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static int
store_import_body(void *arg)
{
	const struct store_import *im = arg;
	const Ras__Bundle *b = im->b;
	sqlite3_stmt *st = NULL;
	uint64_t unrecorded = 0;
	struct vm row;
	size_t i;

	if (sqlite3_prepare_v2(store_cur->db, "DELETE FROM event WHERE vm=?",
	    -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_blob(st, 1, b->uuid.data, 16, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	/* The VMMs' count of what they could not keep stays with the VM
	 * here: a bundle does not carry it. */
	if (sqlite3_prepare_v2(store_cur->db, "SELECT unrecorded FROM vm WHERE"
	    " uuid=?", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_blob(st, 1, b->uuid.data, 16, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		unrecorded = (uint64_t)sqlite3_column_int64(st, 0);
		break;
	case SQLITE_DONE:
		break;
	default:
		goto fail;
	}
	for (i = 0; i < b->n_records; i++) {
		const Ras__BundleRecord *r = b->records[i];

		if (store_insert_row(b->uuid.data, r->gpa, r->length,
		    (int)r->kind, (int)r->action, r->has_notify ?
		    (int)r->notify : -1, (int)r->source_id, r->time, r->host,
		    r->origin, r->active, NULL) == -1)
			goto fail;
	}
	/* The VM row as store_save_vm writes it, from the bundle. */
	memset(&row, 0, sizeof row);
	memcpy(row.uuid, b->uuid.data, 16);
	ras_uuid_format(row.uuid, row.uuid_str);
	snprintf(row.name, sizeof row.name, "%s", b->name);
	row.arch = (int)b->arch;
	row.hest = b->has_hest ? b->hest.data : NULL;
	row.hest_len = b->has_hest ? b->hest.len : 0;
	row.profile = *im->prof;
	row.pinned = b->pinned;
	row.caps = b->caps;
	row.owner_uid = im->owner_uid;
	row.generation = b->generation;
	row.state = VM_INCOMING;
	row.unrecorded = unrecorded;
	sqlite3_finalize(st);
	st = NULL;
	if (store_import_incoming(im) == -1)
		goto fail;
	/* The orders pinned on the host the VM booted on travel with it. */
	if (b->has_ar_order && b->has_ao_order) {
		memcpy(row.policy.ar_order, b->ar_order.data, b->ar_order.len);
		row.policy.ar_count = (unsigned int)b->ar_order.len;
		memcpy(row.policy.ao_order, b->ao_order.data, b->ao_order.len);
		row.policy.ao_count = (unsigned int)b->ao_order.len;
	}
	if (store_save_vm_row(&row) == -1)
		goto fail;
	return 0;
fail:
	store_set_error("import");
	sqlite3_finalize(st);
	return -1;
}

/*
 * Replace a VM's rows with an imported bundle's, in one transaction: the
 * VM row (state incoming, no memory map yet), every record as the source
 * host had it, and its incoming migration (store_import_incoming; final:
 * the final state, which ends it). The bundle was checked by
 * bundle_open(); prof is its boot profile.
 */
int
store_import(const Ras__Bundle *b, const struct ras_profile *prof,
    uint32_t owner_uid, int final)
{
	struct store_import im = { b, prof, owner_uid, final };

	if (store_write(store_import_body, &im) == -1) {
		log_warnx("store: import not written: %s", store_cur->err);
		return -1;
	}
	return 0;
}

struct store_incoming_upd {
	const uint8_t *uuid;
	int state;		/* -1: delete the row */
	const char *reason;
};

static int
store_incoming_body(void *arg)
{
	const struct store_incoming_upd *u = arg;
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(store_cur->db, u->state < 0 ?
	    "DELETE FROM incoming WHERE vm=?1" :
	    "UPDATE incoming SET state=?2, reason=?3, updated=?4 WHERE vm=?1",
	    -1, &st, NULL) != SQLITE_OK) {
		store_set_error("incoming migration");
		return -1;
	}
	sqlite3_bind_blob(st, 1, u->uuid, 16, SQLITE_STATIC);
	if (u->state >= 0) {
		sqlite3_bind_int(st, 2, u->state);
		if (u->reason != NULL)
			sqlite3_bind_text(st, 3, u->reason, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 3);
		sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		store_set_error("incoming migration");
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Record the hand-off state an incoming migration reached (enum
 * handoff_dst_state, reason NULL unless it failed), or with state -1 end
 * it (its row is deleted). A VM without one is left alone.
 */
int
store_incoming(const struct vm *vm, int state, const char *reason)
{
	struct store_incoming_upd u = { vm->uuid, state, reason };

	if (store_write(store_incoming_body, &u) == -1) {
		log_warnx("store: VM %s: incoming migration not written: %s",
		    vm->uuid_str, store_cur->err);
		return -1;
	}
	return 0;
}

/*
 * At start, after the VMs: hand every incoming migration of a known VM
 * to peer.c, which resumes its final sync. A row of an unknown VM is
 * left (rasd --check-store names it).
 */
static int
store_load_incoming(void)
{
	sqlite3_stmt *st = NULL;
	const uint8_t *mid;
	const char *peer;
	struct vm *vm;
	size_t n = 0;
	int rc;

	if (sqlite3_prepare_v2(store_cur->db, "SELECT vm, migration_id, peer,"
	    " generation, state, reason FROM incoming ORDER BY rowid", -1, &st,
	    NULL) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		peer = (const char *)sqlite3_column_text(st, 2);
		if (sqlite3_column_bytes(st, 0) != 16 || peer == NULL ||
		    (vm = vm_find_uuid(sqlite3_column_blob(st, 0))) == NULL) {
			log_warnx("store: an incoming migration of no known VM "
			    "is ignored (rasd --check-store)");
			continue;
		}
		mid = sqlite3_column_bytes(st, 1) == HANDOFF_ID_LEN ?
		    sqlite3_column_blob(st, 1) : NULL;
		peer_restore(vm, peer, mid,
		    (uint64_t)sqlite3_column_int64(st, 3),
		    sqlite3_column_type(st, 4) == SQLITE_INTEGER ?
		    sqlite3_column_int(st, 4) : -1,
		    (const char *)sqlite3_column_text(st, 5));
		n++;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	if (n > 0)
		log_info("store: %zu incoming migrations to resume", n);
	return 0;
fail:
	store_set_error("load incoming migrations");
	log_warnx("store: %s", store_cur->err);
	sqlite3_finalize(st);
	return -1;
}
