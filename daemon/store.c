/*
 * store.c -- the durable store: one SQLite database in the state directory.
 *
 * On-disk format (schema version 1), file STATE_DIR/rasd.db, WAL mode,
 * synchronous=FULL so a COMMIT returns only after the WAL is on disk:
 *
 *   meta(key TEXT PRIMARY KEY, value TEXT)
 *       'schema' = '1'
 *       'unrecorded:UUID' = N  -- local decisions the VM's VMMs reported
 *                                 they could not keep for replay
 *   vm(uuid BLOB(16) PRIMARY KEY, name TEXT, arch INTEGER,
 *      hest BLOB,          -- raw boot HEST, NULL when declared
 *      declared BLOB,      -- 4 bytes per source: id u16 LE, notify, 0
 *      pinned INTEGER, caps INTEGER, owner_uid INTEGER,
 *      generation INTEGER, state INTEGER,
 *      slots BLOB,         -- 24 bytes per slot: gpa, hva, size (u64 LE)
 *      pid INTEGER, updated INTEGER)
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
 *
 * Every poison record is an event row. The active range set of a VM is the
 * coalesced union of its events with active = 1; a guest reset sets
 * active = 0 and the rows stay as history. 64-bit unsigned values are
 * stored as SQLite's signed 64-bit integers, bit for bit.
 *
 * DESIGN: events are written in batches (store_commit_events) so that all
 * forwards that arrive in one event-loop turn share one fsync.
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

#include "hest.h"
#include "rasd.h"

#define STORE_SCHEMA "1"
/* Fold the WAL into the database once it holds this many pages. */
#define STORE_WAL_PAGES 64
/* Trim a WAL that grew past this (a big import) when it restarts. */
#define STORE_WAL_LIMIT "1048576"

static sqlite3 *store_db;
static int store_lockfd = -1;
static char store_boot_id[64] = "unknown";
static char store_err[512];
static int store_err_rc;		/* SQLite's extended code for store_err */
static unsigned long store_failures;	/* writes failed since the last success */
static char store_path[PATH_MAX];
static sqlite3_stmt *st_insert_event, *st_save_vm, *st_retire, *st_history;
static sqlite3_stmt *st_insert_vevent, *st_vevents;

static const char *store_schema_sql =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS vm(uuid BLOB PRIMARY KEY, name TEXT NOT NULL,"
    " arch INTEGER, hest BLOB, declared BLOB, pinned INTEGER, caps INTEGER,"
    " owner_uid INTEGER, generation INTEGER, state INTEGER, slots BLOB,"
    " pid INTEGER, updated INTEGER);"
    "CREATE TABLE IF NOT EXISTS event(id INTEGER PRIMARY KEY, vm BLOB NOT NULL,"
    " gpa INTEGER, length INTEGER, kind INTEGER, action INTEGER,"
    " notify INTEGER, source_id INTEGER, time INTEGER, host TEXT,"
    " origin TEXT, active INTEGER);"
    "CREATE INDEX IF NOT EXISTS event_vm ON event(vm, active);"
    "CREATE TABLE IF NOT EXISTS vevent(id INTEGER PRIMARY KEY,"
    " vm BLOB NOT NULL, time INTEGER, recipient INTEGER, action INTEGER,"
    " flags INTEGER, forward_id INTEGER);"
    "CREATE INDEX IF NOT EXISTS vevent_vm ON vevent(vm);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '" STORE_SCHEMA
    "');";

/* Remember SQLite's message for the last failure. */
static void
store_set_error(const char *what)
{
	store_err_rc = store_db != NULL ? sqlite3_extended_errcode(store_db) :
	    SQLITE_CANTOPEN;
	if ((store_err_rc & 0xff) == SQLITE_FULL)
		snprintf(store_err, sizeof store_err, "%.200s: disk full, "
		    "no space left for %.250s", what, store_path);
	else
		snprintf(store_err, sizeof store_err, "%.200s: %.280s", what,
		    store_db != NULL ? sqlite3_errmsg(store_db) :
		    "no database");
}

/* The disk is full or failing: a checkpoint and a retry may help. */
static int
store_disk_error(int rc)
{
	return (rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR;
}

/* The message of the last store failure. */
const char *
store_error(void)
{
	return store_err;
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
static int
store_exec(const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(store_db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		store_err_rc = sqlite3_extended_errcode(store_db);
		snprintf(store_err, sizeof store_err, "%s", msg ? msg : "?");
		log_warnx("store: %s: %s", sql, store_err);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Prepare one statement kept for the life of the store. */
static int
store_prepare(sqlite3_stmt **st, const char *sql)
{
	if (sqlite3_prepare_v3(store_db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    st, NULL) != SQLITE_OK) {
		store_set_error("prepare");
		log_warnx("store: %s", store_err);
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
	int rc, nlog = -1, nckpt = -1;

	rc = sqlite3_wal_checkpoint_v2(store_db, NULL,
	    SQLITE_CHECKPOINT_TRUNCATE, &nlog, &nckpt);
	/* One line per streak of failures, then one per hundred. */
	if (rc != SQLITE_OK && store_failures % 100 == 0)
		log_warnx("store: checkpoint (%s) failed: %s", why,
		    sqlite3_errmsg(store_db));
	else if (rc == SQLITE_OK && nlog > 0)
		log_info("store: checkpoint (%s): %d WAL pages folded into "
		    "the database, WAL truncated", why, nckpt);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Roll back whatever the failed transaction left, keeping its error. */
static void
store_rollback(void)
{
	if (sqlite3_get_autocommit(store_db))
		return;		/* SQLite already rolled it back */
	sqlite3_exec(store_db, "ROLLBACK", NULL, NULL, NULL);
	if (!sqlite3_get_autocommit(store_db))
		log_warnx("store: rollback failed: %s",
		    sqlite3_errmsg(store_db));
}

typedef int (*store_body_fn)(void *arg);

/* Run body in one write transaction; on failure leave none open. */
static int
store_txn(store_body_fn body, void *arg)
{
	/* A transaction an earlier failure left open would make every
	 * later BEGIN fail until a restart. */
	if (!sqlite3_get_autocommit(store_db)) {
		log_warnx("store: a transaction was left open; rolling back");
		sqlite3_exec(store_db, "ROLLBACK", NULL, NULL, NULL);
	}
	if (sqlite3_exec(store_db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		store_set_error("begin");
		return -1;
	}
	if (body(arg) == -1)
		goto fail;
	if (sqlite3_exec(store_db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
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
 * The caller logs the failure (store_error() says why).
 */
static int
store_write(store_body_fn body, void *arg)
{
	int rc;

	if (store_db == NULL) {
		snprintf(store_err, sizeof store_err, "store not open");
		return -1;
	}
	rc = store_txn(body, arg);
	if (rc == -1 && store_disk_error(store_err_rc)) {
		char err[sizeof store_err];
		int err_rc = store_err_rc;

		memcpy(err, store_err, sizeof err);
		if (store_failures == 0)
			log_warnx("store: write failed (%s): checkpointing "
			    "to free space and retrying; every later write "
			    "retries the same way", err);
		store_checkpoint("write failed");
		rc = store_txn(body, arg);
		if (rc == -1 && !store_disk_error(store_err_rc)) {
			/* Report the disk, not what the retry tripped on. */
			memcpy(store_err, err, sizeof store_err);
			store_err_rc = err_rc;
		}
	}
	if (rc == 0) {
		if (store_failures > 0)
			log_info("store: writing again after %lu failed "
			    "writes", store_failures);
		store_failures = 0;
		return 0;
	}
	store_failures++;
	return -1;
}

/* Open (creating if needed) the store in dir and take its lock. */
int
store_open(const char *dir)
{
	char path[PATH_MAX];
	sqlite3_stmt *st = NULL;

	store_read_boot_id();
	if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
		log_warn("store: mkdir %s", dir);
		return -1;
	}
	snprintf(path, sizeof path, "%s/rasd.lock", dir);
	store_lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (store_lockfd == -1) {
		log_warn("store: open %s", path);
		return -1;
	}
	if (flock(store_lockfd, LOCK_EX | LOCK_NB) == -1) {
		log_warnx("store: %s is in use by another rasd", dir);
		goto fail;
	}
	snprintf(path, sizeof path, "%s/rasd.db", dir);
	snprintf(store_path, sizeof store_path, "%s", path);
	if (sqlite3_open_v2(path, &store_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		store_set_error(path);
		log_warnx("store: %s", store_err);
		goto fail;
	}
	sqlite3_extended_result_codes(store_db, 1);
	if (store_exec("PRAGMA journal_mode=WAL") == -1 ||
	    store_exec("PRAGMA synchronous=FULL") == -1 ||
	    store_exec("PRAGMA journal_size_limit=" STORE_WAL_LIMIT) == -1 ||
	    sqlite3_wal_autocheckpoint(store_db, STORE_WAL_PAGES) !=
	    SQLITE_OK ||
	    store_exec("PRAGMA foreign_keys=OFF") == -1 ||
	    store_exec(store_schema_sql) == -1)
		goto fail;
	if (sqlite3_prepare_v2(store_db,
	    "SELECT value FROM meta WHERE key='schema'", -1, &st, NULL) !=
	    SQLITE_OK || sqlite3_step(st) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), STORE_SCHEMA)
	    != 0) {
		log_warnx("store: %s has an unknown schema version", path);
		sqlite3_finalize(st);
		goto fail;
	}
	sqlite3_finalize(st);
	if (store_prepare(&st_insert_event,
	    "INSERT INTO event(vm, gpa, length, kind, action, notify,"
	    " source_id, time, host, origin, active)"
	    " VALUES(?,?,?,?,?,?,?,?,?,?,?)") == -1 ||
	    store_prepare(&st_save_vm,
	    "INSERT OR REPLACE INTO vm(uuid, name, arch, hest, declared,"
	    " pinned, caps, owner_uid, generation, state, slots, pid, updated)"
	    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)") == -1 ||
	    store_prepare(&st_retire,
	    "UPDATE event SET active=0 WHERE vm=? AND active=1") == -1 ||
	    store_prepare(&st_history,
	    "SELECT id, gpa, length, kind, action, notify, source_id, time,"
	    " host, origin, active FROM event WHERE vm=? ORDER BY id") == -1 ||
	    store_prepare(&st_insert_vevent,
	    "INSERT INTO vevent(vm, time, recipient, action, flags, forward_id)"
	    " VALUES(?,?,?,?,?,?)") == -1 ||
	    store_prepare(&st_vevents,
	    "SELECT v.id, v.time, v.recipient, v.action, v.flags, v.forward_id,"
	    " e.gpa FROM vevent v LEFT JOIN event e ON e.id = v.forward_id"
	    " WHERE v.vm=? ORDER BY v.id") == -1)
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

/* Close the store and release its lock. */
void
store_close(void)
{
	sqlite3_finalize(st_insert_event);
	sqlite3_finalize(st_save_vm);
	sqlite3_finalize(st_retire);
	sqlite3_finalize(st_history);
	sqlite3_finalize(st_insert_vevent);
	sqlite3_finalize(st_vevents);
	st_insert_event = st_save_vm = st_retire = st_history = NULL;
	st_insert_vevent = st_vevents = NULL;
	if (store_db != NULL)
		sqlite3_close(store_db);
	store_db = NULL;
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
	return vm;
}

/* Rebuild the registry and every VM's active set from the store. */
int
store_load(void)
{
	sqlite3_stmt *st = NULL;
	struct poison_range r;
	struct vm *vm;
	size_t nvm = 0, nev = 0;
	int rc;

	if (sqlite3_prepare_v2(store_db, "SELECT uuid, name, arch, hest,"
	    " declared, pinned, caps, owner_uid, generation, state, slots, pid"
	    " FROM vm ORDER BY updated, rowid", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (store_load_vm(st) != NULL)
			nvm++;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);

	if (sqlite3_prepare_v2(store_db, "SELECT vm, gpa, length, kind,"
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
		poison_add(&vm->active, &r);
		nev++;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);

	if (sqlite3_prepare_v2(store_db, "SELECT key, value FROM meta"
	    " WHERE key LIKE 'unrecorded:%'", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		uint8_t u[16];

		if (k != NULL && ras_uuid_parse(k + strlen("unrecorded:"),
		    u) == 0 && (vm = vm_find_uuid(u)) != NULL)
			vm->unrecorded = (uint64_t)sqlite3_column_int64(st, 1);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	log_info("store: loaded %zu VMs, %zu active poison records", nvm, nev);
	return 0;
fail:
	store_set_error("load");
	log_warnx("store: %s", store_err);
	sqlite3_finalize(st);
	return -1;
}

/* Remember what a VM's VMMs could not keep; in the caller's transaction. */
static int
store_save_unrecorded(const struct vm *vm)
{
	sqlite3_stmt *st;
	char key[64];
	int rc;

	if (sqlite3_prepare_v2(store_db, "INSERT OR REPLACE INTO meta(key,"
	    " value) VALUES(?1, ?2)", -1, &st, NULL) != SQLITE_OK) {
		store_set_error("save VM");
		return -1;
	}
	snprintf(key, sizeof key, "unrecorded:%s", vm->uuid_str);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)vm->unrecorded);
	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		store_set_error("save VM");
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Write a VM's row; the caller holds a transaction. */
static int
store_save_vm_row(const struct vm *vm)
{
	uint8_t decl[RAS_PROFILE_MAX * 4], *slots = NULL;
	unsigned int i;
	int rc;

	sqlite3_reset(st_save_vm);
	sqlite3_bind_blob(st_save_vm, 1, vm->uuid, 16, SQLITE_STATIC);
	sqlite3_bind_text(st_save_vm, 2, vm->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st_save_vm, 3, vm->arch);
	if (vm->hest != NULL) {
		sqlite3_bind_blob(st_save_vm, 4, vm->hest, (int)vm->hest_len,
		    SQLITE_STATIC);
		sqlite3_bind_null(st_save_vm, 5);
	} else {
		for (i = 0; i < vm->profile.count; i++) {
			decl[4 * i] = (uint8_t)vm->profile.src[i].source_id;
			decl[4 * i + 1] =
			    (uint8_t)(vm->profile.src[i].source_id >> 8);
			decl[4 * i + 2] = vm->profile.src[i].notify;
			decl[4 * i + 3] = 0;
		}
		sqlite3_bind_null(st_save_vm, 4);
		sqlite3_bind_blob(st_save_vm, 5, decl,
		    (int)(4 * vm->profile.count), SQLITE_TRANSIENT);
	}
	sqlite3_bind_int(st_save_vm, 6, vm->pinned);
	sqlite3_bind_int64(st_save_vm, 7, vm->caps);
	sqlite3_bind_int64(st_save_vm, 8, vm->owner_uid);
	sqlite3_bind_int64(st_save_vm, 9, (int64_t)vm->generation);
	sqlite3_bind_int(st_save_vm, 10, vm->state);
	if (vm->nslots > 0) {
		slots = xcalloc(vm->nslots, 24);
		for (i = 0; i < vm->nslots; i++) {
			store_put64(slots + 24 * i, vm->slots[i].gpa);
			store_put64(slots + 24 * i + 8, vm->slots[i].hva);
			store_put64(slots + 24 * i + 16, vm->slots[i].size);
		}
		sqlite3_bind_blob(st_save_vm, 11, slots, (int)(24 * vm->nslots),
		    SQLITE_TRANSIENT);
	} else
		sqlite3_bind_null(st_save_vm, 11);
	sqlite3_bind_int64(st_save_vm, 12, vm->pid);
	sqlite3_bind_int64(st_save_vm, 13, (int64_t)time(NULL));
	rc = sqlite3_step(st_save_vm);
	free(slots);
	if (rc != SQLITE_DONE)
		store_set_error("save VM");
	sqlite3_reset(st_save_vm);
	if (rc == SQLITE_DONE && vm->unrecorded != 0)
		return store_save_unrecorded(vm);
	return rc == SQLITE_DONE ? 0 : -1;
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
		log_warnx("store: VM %s: %s", vm->uuid_str, store_err);
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
	sqlite3_stmt *st = st_insert_event;
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
		*id = (uint64_t)sqlite3_last_insert_rowid(store_db);
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

struct store_batch {
	struct store_event *ev;
	size_t n;
};

static int
store_commit_body(void *arg)
{
	struct store_batch *b = arg;
	size_t i;

	for (i = 0; i < b->n; i++) {
		if (store_insert_event(&b->ev[i]) == -1) {
			store_set_error("insert event");
			return -1;
		}
		if ((i + 1 == b->n || b->ev[i + 1].vm != b->ev[i].vm) &&
		    store_save_vm_row(b->ev[i].vm) == -1)
			return -1;
	}
	return 0;
}

/*
 * Make a batch of events durable in one transaction, with the rows of the
 * VMs they touch (generation). All or nothing.
 */
int
store_commit_events(struct store_event *ev, size_t n)
{
	struct store_batch b = { ev, n };

	if (store_write(store_commit_body, &b) == -1) {
		log_warnx("store: batch of %zu events not written: %s", n,
		    store_err);
		return -1;
	}
	return 0;
}

static int
store_retire_body(void *arg)
{
	struct vm *vm = arg;
	int rc;

	sqlite3_reset(st_retire);
	sqlite3_bind_blob(st_retire, 1, vm->uuid, 16, SQLITE_STATIC);
	rc = sqlite3_step(st_retire);
	if (rc != SQLITE_DONE)
		store_set_error("retire");
	sqlite3_reset(st_retire);
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
		    store_err);
		return -1;
	}
	return 0;
}

/* Walk a VM's history in order; the index keeps other VMs out of it. */
int
store_history(const struct vm *vm, store_history_cb cb, void *arg)
{
	sqlite3_stmt *st = st_history;
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
	sqlite3_stmt *st = st_insert_vevent;
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
		log_warnx("store: VM %s: %s", vm->uuid_str, store_err);
		return -1;
	}
	return 0;
}

/* Walk a VM's libvirt memory-failure events in order. */
int
store_vevents(const struct vm *vm, store_vevent_cb cb, void *arg)
{
	sqlite3_stmt *st = st_vevents;
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
};

static int
store_import_body(void *arg)
{
	const struct store_import *im = arg;
	const Ras__Bundle *b = im->b;
	sqlite3_stmt *st = NULL;
	struct vm row;
	size_t i;

	if (sqlite3_prepare_v2(store_db, "DELETE FROM event WHERE vm=?", -1,
	    &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_blob(st, 1, b->uuid.data, 16, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
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
	if (store_save_vm_row(&row) == -1)
		goto fail;
	sqlite3_finalize(st);
	return 0;
fail:
	store_set_error("import");
	sqlite3_finalize(st);
	return -1;
}

/*
 * Replace a VM's rows with an imported bundle's, in one transaction: the
 * VM row (state incoming, no memory map yet) and every record as the
 * source host had it. The bundle was checked by bundle_open(); prof is
 * its boot profile.
 */
int
store_import(const Ras__Bundle *b, const struct ras_profile *prof,
    uint32_t owner_uid)
{
	struct store_import im = { b, prof, owner_uid };

	if (store_write(store_import_body, &im) == -1) {
		log_warnx("store: import not written: %s", store_err);
		return -1;
	}
	return 0;
}
