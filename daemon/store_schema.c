/*
 * store_schema.c -- the store's schema: the tables of a new store, its
 * version, and the upgrades from older ones (the format and its history
 * are at the top of store.c).
 *
 * DESIGN (upgrades): a store older than this build is upgraded at open,
 * one step per version, each step and its new 'schema' value in one
 * transaction, after a backup of the whole file (rasd.db.vN.bak, SQLite's
 * online backup, so the WAL's content is in it) -- an operator can go back
 * to the older rasd with that file. A store newer than this build is
 * refused before anything is written to it (store_open): guessing at a
 * newer format could lose what a newer rasd recorded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rasd.h"
#include "store_int.h"

/*
 * Incoming migrations (schema 3): one row per VM imported with a source
 * to ask for its final state, written in the import's transaction and
 * deleted in the final state's (or when the VM is reset, booted afresh
 * or imported again; an unregistration keeps it: a later VMM still asks).
 */
#define STORE_INCOMING_SQL						\
    "CREATE TABLE incoming(vm BLOB PRIMARY KEY, migration_id BLOB,"	\
    " peer TEXT NOT NULL, peer_identity TEXT, generation INTEGER NOT NULL,"\
    " state INTEGER NOT NULL, reason TEXT, created INTEGER,"		\
    " updated INTEGER);"

/*
 * Host memory health (schema 4, store_health.c): one row per DIMM, its
 * counters as last read, what was counted against the thresholds, and
 * its buckets' levels at `stamp`; tripped is a mask (1 corrected-degraded,
 * 2 corrected-evacuate, 4 uncorrected-degraded, 8 uncorrected-evacuate).
 */
#define STORE_HEALTH_SQL						\
    "CREATE TABLE health_dimm(key TEXT PRIMARY KEY, label TEXT,"	\
    " location TEXT, path TEXT, edac_ce INTEGER, edac_ue INTEGER,"	\
    " rasdaemon_ce INTEGER, rasdaemon_ue INTEGER, ce_total INTEGER,"	\
    " ue_total INTEGER, ce_degraded REAL, ce_evacuate REAL,"		\
    " ue_degraded REAL, ue_evacuate REAL, tripped INTEGER, stamp INTEGER,"\
    " first_seen INTEGER);"

/* The tables of a new store, at STORE_VERSION. */
static const char *store_create_sql =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE vm(uuid BLOB PRIMARY KEY, name TEXT NOT NULL,"
    " arch INTEGER, hest BLOB, declared BLOB, pinned INTEGER, caps INTEGER,"
    " owner_uid INTEGER, generation INTEGER, state INTEGER, slots BLOB,"
    " pid INTEGER, updated INTEGER, vmm_start INTEGER, vmm_cgroup TEXT,"
    " unrecorded INTEGER NOT NULL DEFAULT 0, ar_order BLOB, ao_order BLOB);"
    "CREATE TABLE event(id INTEGER PRIMARY KEY, vm BLOB NOT NULL,"
    " gpa INTEGER, length INTEGER, kind INTEGER, action INTEGER,"
    " notify INTEGER, source_id INTEGER, time INTEGER, host TEXT,"
    " origin TEXT, active INTEGER);"
    "CREATE INDEX event_vm ON event(vm, active);"
    "CREATE TABLE vevent(id INTEGER PRIMARY KEY,"
    " vm BLOB NOT NULL, time INTEGER, recipient INTEGER, action INTEGER,"
    " flags INTEGER, forward_id INTEGER);"
    "CREATE INDEX vevent_vm ON vevent(vm);"
    STORE_INCOMING_SQL
    STORE_HEALTH_SQL;

/*
 * The schema version of an open database: 0 for an empty one (a new
 * store), -1 with the reason in err when it is not a rasd store. Reads
 * only.
 */
int
store_schema_version(struct sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	const char *v;
	char *end;
	long n;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1,
	    &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		goto out;
	}
	if (sqlite3_column_int(st, 0) == 0) {
		rc = 0;
		goto out;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE"
	    " key='schema'", -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "not a rasd store (%s)",
		    sqlite3_errmsg(db));
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_ROW ||
	    (v = (const char *)sqlite3_column_text(st, 0)) == NULL) {
		snprintf(err, errlen, "no schema version recorded (meta "
		    "'schema'): not a rasd store, or damaged");
		goto out;
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < 1 || n > INT_MAX) {
		snprintf(err, errlen, "schema version '%.40s' is not a "
		    "version number", v);
		goto out;
	}
	rc = (int)n;
out:
	sqlite3_finalize(st);
	return rc;
}

/*
 * Copy a whole database into a new file with SQLite's online backup (the
 * WAL's content included), written beside it and renamed into place, so
 * path is either the old file or a complete copy.
 */
int
store_backup(struct sqlite3 *db, const char *path, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	sqlite3 *dst = NULL;
	sqlite3_backup *bk;
	int rc = -1, fd;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	unlink(tmp);
	if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", tmp, dst != NULL ?
		    sqlite3_errmsg(dst) : "cannot open");
		goto out;
	}
	if ((bk = sqlite3_backup_init(dst, "main", db, "main")) == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, sqlite3_errmsg(dst));
		goto out;
	}
	sqlite3_backup_step(bk, -1);
	if (sqlite3_backup_finish(bk) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", tmp, sqlite3_errmsg(dst));
		goto out;
	}
	if (sqlite3_close(dst) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", tmp, sqlite3_errmsg(dst));
		goto out;
	}
	dst = NULL;
	/* SQLite synced the copy; make the new name durable too. */
	if ((fd = open(tmp, O_RDONLY | O_CLOEXEC)) == -1 || fsync(fd) == -1 ||
	    close(fd) == -1 || rename(tmp, path) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (dst != NULL)
		sqlite3_close(dst);
	if (rc == -1)
		unlink(tmp);
	return rc;
}

/* Create the tables of a new store; in store_write's transaction. */
int
store_schema_create(void *arg)
{
	if (store_exec(store_create_sql) == -1 ||
	    store_exec("INSERT INTO meta(key, value) VALUES('schema', '"
	    STORE_VERSION_TEXT "')") == -1)
		return -1;
	return 0;
}

/*
 * Schema 1 to 2: the bound VMM's start time and cgroup, kept in memory
 * only by schema 1, and the unrecorded count, a meta key in schema 1,
 * become vm columns.
 */
static int
store_v1_to_v2(void)
{
	sqlite3_stmt *st = NULL;
	int stale = 0;

	if (store_exec("ALTER TABLE vm ADD COLUMN vmm_start INTEGER") == -1 ||
	    store_exec("ALTER TABLE vm ADD COLUMN vmm_cgroup TEXT") == -1 ||
	    store_exec("ALTER TABLE vm ADD COLUMN unrecorded INTEGER NOT NULL"
	    " DEFAULT 0") == -1 ||
	    store_exec("UPDATE vm SET unrecorded = COALESCE((SELECT"
	    " CAST(value AS INTEGER) FROM meta WHERE key = 'unrecorded:' || "
	    STORE_SQL_UUID("vm.uuid") "), 0)") == -1)
		return -1;
	if (sqlite3_prepare_v2(store_cur->db, "SELECT count(*) FROM meta WHERE"
	    " key LIKE 'unrecorded:%' AND substr(key, 12) NOT IN (SELECT "
	    STORE_SQL_UUID("uuid") " FROM vm)", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		stale = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (stale > 0)
		log_warnx("store: %d unrecorded counts of VMs the store does "
		    "not know dropped", stale);
	return store_exec("DELETE FROM meta WHERE key LIKE 'unrecorded:%'");
}

/*
 * Schema 2 to 3: the orders pinned with a VM's profile, kept in memory
 * only by schema 2, become vm columns, and the destination's side of a
 * migration (source address, migration id, imported generation, the
 * hand-off state) gets the table incoming, so that a restarted rasd
 * resumes the final sync instead of answering from the snapshot.
 */
static int
store_v2_to_v3(void)
{
	if (store_exec("ALTER TABLE vm ADD COLUMN ar_order BLOB") == -1 ||
	    store_exec("ALTER TABLE vm ADD COLUMN ao_order BLOB") == -1 ||
	    store_exec(STORE_INCOMING_SQL) == -1)
		return -1;
	return 0;
}

/*
 * Schema 3 to 4: host memory health's DIMMs (the operator's override and
 * the rasdaemon position are meta keys, written when first needed).
 */
static int
store_v3_to_v4(void)
{
	return store_exec(STORE_HEALTH_SQL);
}

/* One upgrade step: from version `from` to from + 1. */
struct store_step {
	int from;
	const char *what;
	int (*run)(void);
};
static const struct store_step store_steps[] = {
	{ 1, "VMM identity and unrecorded count as VM columns",
	    store_v1_to_v2 },
	{ 2, "pinned orders as VM columns, incoming migrations",
	    store_v2_to_v3 },
	{ 3, "host memory health: DIMM counters and buckets",
	    store_v3_to_v4 },
};

static int
store_step_body(void *arg)
{
	const struct store_step *s = arg;
	char sql[128];

	if (s->run() == -1)
		return -1;
	snprintf(sql, sizeof sql, "UPDATE meta SET value='%d' WHERE"
	    " key='schema'", s->from + 1);
	return store_exec(sql);
}

/*
 * Bring a store of an older schema to STORE_VERSION: a backup of the file
 * first, then each step in its own transaction.
 */
int
store_upgrade(int version)
{
	char bak[PATH_MAX], err[PATH_MAX + 256];
	size_t i;
	int v = version;

	if ((size_t)snprintf(bak, sizeof bak, "%s.v%d.bak", store_path,
	    version) >= sizeof bak) {
		log_warnx("store: %s: path too long for its backup", store_path);
		return -1;
	}
	if (store_backup(store_cur->db, bak, err, sizeof err) == -1) {
		log_warnx("store: %s has schema %d; not upgraded to %d, the "
		    "backup failed: %s", store_path, version, STORE_VERSION,
		    err);
		return -1;
	}
	log_info("store: schema %d backed up to %s before the upgrade", version,
	    bak);
	for (i = 0; i < sizeof store_steps / sizeof store_steps[0]; i++) {
		const struct store_step *s = &store_steps[i];

		if (s->from != v)
			continue;
		if (store_write(store_step_body, (void *)s) == -1) {
			log_warnx("store: upgrade from schema %d to %d (%s) "
			    "failed, rolled back: %s; the file is as it was "
			    "(schema %d), and %s holds schema %d", v, v + 1,
			    s->what, store_cur->err, v, bak, version);
			return -1;
		}
		log_info("store: step %d to %d: %s", v, v + 1, s->what);
		v++;
	}
	if (v != STORE_VERSION) {
		log_warnx("store: no upgrade from schema %d", v);
		return -1;
	}
	log_info("store: %s upgraded from schema %d to %d", store_path,
	    version, STORE_VERSION);
	return 0;
}
