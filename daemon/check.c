/*
 * check.c -- `rasd --check-store`: SQLite's integrity check and rasd's own
 * invariants of the store (store.c documents the format), each problem
 * said in words on a line of its own.
 *
 * DESIGN: the checker takes the state directory's lock as rasd does, so
 * it refuses while a rasd runs on the store (and no rasd starts while it
 * checks): what it reports is then a state no one is changing, and a
 * repair cannot race a write. A running rasd's store can be checked on a
 * copy (sqlite3 rasd.db ".backup COPY"). Without --repair the database is
 * opened read-only: checking never writes, not even an upgrade.
 *
 * The active ranges of a VM are not stored: rasd rebuilds them at start
 * from the events with active = 1, so they are their union by
 * construction; what is checked is that every event is one rasd can
 * load and would have written.
 *
 * --repair does only what cannot lose anything rasd uses: it deletes
 * libvirt events (vevent) of VMs that have no row and 'unrecorded:' meta
 * keys that no VM reads, after a backup of the file. Everything else is
 * left for the operator (rasd(8), RECOVERY).
 */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "handoff.h"
#include "hest.h"
#include "rasd.h"

#define CHECK_RANGE_MIN 4096ULL		/* as forwards and bundles allow */
#define CHECK_RANGE_MAX (1ULL << 40)

struct check {
	sqlite3 *db;
	int version;
	unsigned long problems;
	unsigned long repairable_vevents;
	unsigned long repairable_meta;
	unsigned long vms, events, vevents;
	int quiet;		/* the re-check after a repair counts only */
};

/* Report one problem. */
static void __attribute__((format(printf, 2, 3)))
check_problem(struct check *c, const char *fmt, ...)
{
	va_list ap;

	c->problems++;
	if (c->quiet)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* A query of the check itself failed: the store is damaged. */
static void
check_query_failed(struct check *c, const char *what)
{
	check_problem(c, "%s: query failed: %s", what, sqlite3_errmsg(c->db));
}

/* Whether the VM row with this UUID exists. */
static int
check_vm_exists(struct check *c, const void *uuid, int len)
{
	sqlite3_stmt *st;
	int found = 0;

	if (uuid == NULL || len != 16)
		return 0;
	if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM vm WHERE uuid=?", -1,
	    &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_blob(st, 1, uuid, 16, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/* A VM id as text: its UUID, or what is wrong with it. */
static const char *
check_uuid_text(const void *uuid, int len, char *buf, size_t buflen)
{
	if (uuid != NULL && len == 16)
		ras_uuid_format(uuid, buf);
	else
		snprintf(buf, buflen, "id of %d bytes", len);
	return buf;
}

/* SQLite's own check of the file: pages, indexes, free lists. */
static void
check_integrity(struct check *c)
{
	sqlite3_stmt *st;
	const char *msg;
	int rc, first = 1;

	if (sqlite3_prepare_v2(c->db, "PRAGMA integrity_check", -1, &st,
	    NULL) != SQLITE_OK) {
		check_query_failed(c, "integrity_check");
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		msg = (const char *)sqlite3_column_text(st, 0);
		if (first && msg != NULL && strcmp(msg, "ok") == 0) {
			if (!c->quiet)
				printf("integrity_check: ok\n");
		} else
			check_problem(c, "integrity_check: %s",
			    msg != NULL ? msg : "?");
		first = 0;
	}
	if (rc != SQLITE_DONE)
		check_query_failed(c, "integrity_check");
	sqlite3_finalize(st);
}

/* The boot profile of a VM row: a HEST that parses or a declared list. */
static void
check_vm_profile(struct check *c, const char *who, sqlite3_stmt *st)
{
	const uint8_t *hest = sqlite3_column_blob(st, 3);
	int hest_len = sqlite3_column_bytes(st, 3);
	const uint8_t *decl = sqlite3_column_blob(st, 4);
	int decl_len = sqlite3_column_bytes(st, 4), i;
	struct ras_profile prof;
	char err[256];

	if (hest != NULL && hest_len > 0) {
		if (hest_parse(hest, (size_t)hest_len, &prof, err,
		    sizeof err) == -1)
			check_problem(c, "%s: stored HEST (%d bytes) does not "
			    "parse: %s (rasd skips this VM at start)", who,
			    hest_len, err);
		if (decl != NULL)
			check_problem(c, "%s: both a HEST and a declared "
			    "profile", who);
		return;
	}
	if (decl == NULL)
		return;		/* declared empty: nothing deliverable */
	if (decl_len % 4 != 0 || decl_len / 4 > RAS_PROFILE_MAX) {
		check_problem(c, "%s: declared profile is %d bytes, not a "
		    "multiple of 4 of at most %d sources", who, decl_len,
		    RAS_PROFILE_MAX);
		return;
	}
	for (i = 0; i < decl_len; i += 4)
		if (decl[i + 2] >= RAS_NOTIFY_COUNT)
			check_problem(c, "%s: declared source %u has unknown "
			    "notification %u", who,
			    (unsigned int)(decl[i] | decl[i + 1] << 8),
			    decl[i + 2]);
}

/* A pinned order (schema 3): NULL, or notification types, each once. */
static void
check_vm_order(struct check *c, const char *who, const char *col,
    sqlite3_stmt *st, int i)
{
	const uint8_t *o = sqlite3_column_blob(st, i);
	int n = sqlite3_column_bytes(st, i), j, k;

	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return;
	if (n > RAS_NOTIFY_COUNT) {
		check_problem(c, "%s: %s is %d bytes, more than the %d "
		    "notification types", who, col, n, RAS_NOTIFY_COUNT);
		return;
	}
	for (j = 0; j < n; j++) {
		if (o[j] >= RAS_NOTIFY_COUNT)
			check_problem(c, "%s: %s names unknown notification %d",
			    who, col, o[j]);
		for (k = 0; k < j; k++)
			if (o[k] == o[j])
				check_problem(c, "%s: %s names notification "
				    "%d twice", who, col, o[j]);
	}
}

/* Every VM row: what store_load() needs to rebuild the VM. */
static void
check_vms(struct check *c)
{
	sqlite3_stmt *st;
	char us[64], who[RASD_NAME_MAX + 80];
	const char *name;
	int rc, n, state;
	int64_t v;

	if (sqlite3_prepare_v2(c->db, c->version >= 3 ?
	    "SELECT uuid, name, arch, hest, declared, state, slots, rowid,"
	    " vmm_start, unrecorded, ar_order, ao_order FROM vm"
	    " ORDER BY rowid" : c->version >= 2 ?
	    "SELECT uuid, name, arch, hest, declared, state, slots, rowid,"
	    " vmm_start, unrecorded, NULL, NULL FROM vm ORDER BY rowid" :
	    "SELECT uuid, name, arch, hest, declared, state, slots, rowid,"
	    " 0, 0, NULL, NULL FROM vm ORDER BY rowid", -1, &st, NULL) !=
	    SQLITE_OK) {
		check_query_failed(c, "vm");
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		c->vms++;
		name = (const char *)sqlite3_column_text(st, 1);
		if (sqlite3_column_bytes(st, 0) != 16) {
			check_problem(c, "VM row %lld: its UUID is %d bytes, "
			    "not 16 (rasd skips it at start)",
			    (long long)sqlite3_column_int64(st, 7),
			    sqlite3_column_bytes(st, 0));
			continue;
		}
		ras_uuid_format(sqlite3_column_blob(st, 0), us);
		if (name != NULL && name[0] != '\0')
			snprintf(who, sizeof who, "VM %s (%.*s)", us,
			    RASD_NAME_MAX, name);
		else {
			snprintf(who, sizeof who, "VM %s", us);
			check_problem(c, "%s: empty name", who);
		}
		if (name != NULL && strlen(name) > RASD_NAME_MAX)
			check_problem(c, "%s: name longer than %d bytes", who,
			    RASD_NAME_MAX);
		v = sqlite3_column_int64(st, 2);
		if (v != RAS_ARCH_ARM64 && v != RAS_ARCH_X86_64)
			check_problem(c, "%s: unknown arch %lld", who,
			    (long long)v);
		check_vm_profile(c, who, st);
		state = sqlite3_column_int(st, 5);
		if (sqlite3_column_type(st, 5) != SQLITE_INTEGER ||
		    state < VM_STOPPED || state > VM_MIGRATED)
			check_problem(c, "%s: unknown state %s", who,
			    sqlite3_column_text(st, 5) != NULL ?
			    (const char *)sqlite3_column_text(st, 5) : "NULL");
		n = sqlite3_column_bytes(st, 6);
		if (sqlite3_column_type(st, 6) != SQLITE_NULL &&
		    (n % 24 != 0 || n / 24 > RASD_SLOTS_MAX))
			check_problem(c, "%s: slots blob is %d bytes, not a "
			    "multiple of 24 for at most %d slots", who, n,
			    RASD_SLOTS_MAX);
		if (sqlite3_column_int64(st, 8) < 0)
			check_problem(c, "%s: negative VMM start time", who);
		if (sqlite3_column_int64(st, 9) < 0)
			check_problem(c, "%s: negative unrecorded count", who);
		check_vm_order(c, who, "ar_order", st, 10);
		check_vm_order(c, who, "ao_order", st, 11);
	}
	if (rc != SQLITE_DONE)
		check_query_failed(c, "vm");
	sqlite3_finalize(st);
}

/* Whether v is a power of two. */
static int
check_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* Every event: a VM row to belong to, a range and values rasd writes. */
static void
check_events(struct check *c)
{
	sqlite3_stmt *st;
	char us[64], who[RASD_NAME_MAX + 120];
	const char *name;
	uint64_t gpa, len;
	int64_t id, v;
	int rc;

	if (sqlite3_prepare_v2(c->db, "SELECT e.id, e.vm, e.gpa, e.length,"
	    " e.kind, e.action, e.notify, e.source_id, e.active, v.name,"
	    " v.uuid IS NOT NULL FROM event e LEFT JOIN vm v ON v.uuid = e.vm"
	    " ORDER BY e.id", -1, &st, NULL) != SQLITE_OK) {
		check_query_failed(c, "event");
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		c->events++;
		id = sqlite3_column_int64(st, 0);
		check_uuid_text(sqlite3_column_blob(st, 1),
		    sqlite3_column_bytes(st, 1), us, sizeof us);
		if (!sqlite3_column_int(st, 10)) {
			check_problem(c, "event %lld: VM %s has no row "
			    "(orphan)", (long long)id, us);
			snprintf(who, sizeof who, "event %lld", (long long)id);
		} else {
			name = (const char *)sqlite3_column_text(st, 9);
			snprintf(who, sizeof who, "event %lld (VM %.*s)",
			    (long long)id, RASD_NAME_MAX,
			    name != NULL && name[0] != '\0' ? name : us);
		}
		gpa = (uint64_t)sqlite3_column_int64(st, 2);
		len = (uint64_t)sqlite3_column_int64(st, 3);
		if (!check_pow2(len))
			check_problem(c, "%s: length %llu is not a power of "
			    "two", who, (unsigned long long)len);
		else if (len < CHECK_RANGE_MIN || len > CHECK_RANGE_MAX)
			check_problem(c, "%s: length 0x%llx is outside "
			    "0x%llx..0x%llx", who, (unsigned long long)len,
			    CHECK_RANGE_MIN, CHECK_RANGE_MAX);
		else if ((gpa & (len - 1)) != 0)
			check_problem(c, "%s: gpa 0x%llx is not aligned to "
			    "its length 0x%llx", who, (unsigned long long)gpa,
			    (unsigned long long)len);
		else if (gpa + (len - 1) < gpa)
			check_problem(c, "%s: range 0x%llx+0x%llx wraps past "
			    "2^64", who, (unsigned long long)gpa,
			    (unsigned long long)len);
		v = sqlite3_column_int64(st, 4);
		if (v != RAS_KIND_AR && v != RAS_KIND_AO)
			check_problem(c, "%s: unknown kind %lld", who,
			    (long long)v);
		v = sqlite3_column_int64(st, 5);
		if (v < RAS_ACTION_INJECT || v > RAS_ACTION_STOP_VM)
			check_problem(c, "%s: unknown action %lld", who,
			    (long long)v);
		if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
			v = sqlite3_column_int64(st, 6);
			if (v < 0 || v >= RAS_NOTIFY_COUNT)
				check_problem(c, "%s: unknown notification "
				    "%lld", who, (long long)v);
			v = sqlite3_column_int64(st, 7);
			if (sqlite3_column_type(st, 7) == SQLITE_NULL ||
			    v < 0 || v > UINT16_MAX)
				check_problem(c, "%s: notification without a "
				    "valid source id", who);
		}
		v = sqlite3_column_int64(st, 8);
		if (v != 0 && v != 1)
			check_problem(c, "%s: active is %lld, not 0 or 1", who,
			    (long long)v);
	}
	if (rc != SQLITE_DONE)
		check_query_failed(c, "event");
	sqlite3_finalize(st);
}

/* libvirt events: each belongs to a VM row. */
static void
check_vevents(struct check *c)
{
	sqlite3_stmt *st;
	char us[64];
	int rc;

	if (sqlite3_prepare_v2(c->db, "SELECT id, vm FROM vevent ORDER BY id",
	    -1, &st, NULL) != SQLITE_OK) {
		check_query_failed(c, "vevent");
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		c->vevents++;
		if (check_vm_exists(c, sqlite3_column_blob(st, 1),
		    sqlite3_column_bytes(st, 1)))
			continue;
		check_problem(c, "vevent %lld: VM %s has no row (orphan)",
		    (long long)sqlite3_column_int64(st, 0),
		    check_uuid_text(sqlite3_column_blob(st, 1),
		    sqlite3_column_bytes(st, 1), us, sizeof us));
		c->repairable_vevents++;
	}
	if (rc != SQLITE_DONE)
		check_query_failed(c, "vevent");
	sqlite3_finalize(st);
}

/*
 * Incoming migrations (schema 3): each belongs to a VM row and holds what
 * a restarted rasd needs to resume the final sync.
 */
static void
check_incoming(struct check *c)
{
	sqlite3_stmt *st;
	const char *peer;
	char us[64];
	int rc, state;

	if (c->version < 3)
		return;
	if (sqlite3_prepare_v2(c->db, "SELECT vm, migration_id, peer,"
	    " generation, state FROM incoming ORDER BY rowid", -1, &st,
	    NULL) != SQLITE_OK) {
		check_query_failed(c, "incoming");
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		check_uuid_text(sqlite3_column_blob(st, 0),
		    sqlite3_column_bytes(st, 0), us, sizeof us);
		if (!check_vm_exists(c, sqlite3_column_blob(st, 0),
		    sqlite3_column_bytes(st, 0)))
			check_problem(c, "incoming migration of VM %s: the VM "
			    "has no row (orphan; rasd ignores it)", us);
		if (sqlite3_column_type(st, 1) != SQLITE_NULL &&
		    sqlite3_column_bytes(st, 1) != HANDOFF_ID_LEN)
			check_problem(c, "incoming migration of VM %s: "
			    "migration id of %d bytes, not %d", us,
			    sqlite3_column_bytes(st, 1), HANDOFF_ID_LEN);
		peer = (const char *)sqlite3_column_text(st, 2);
		if (peer == NULL || (strncmp(peer, "unix:", 5) != 0 &&
		    strncmp(peer, "tcp:", 4) != 0))
			check_problem(c, "incoming migration of VM %s: source "
			    "address '%s' is neither unix:PATH nor "
			    "tcp:HOST:PORT", us, peer != NULL ? peer : "NULL");
		if (sqlite3_column_int64(st, 3) < 0)
			check_problem(c, "incoming migration of VM %s: "
			    "negative generation", us);
		state = sqlite3_column_int(st, 4);
		if (sqlite3_column_type(st, 4) != SQLITE_INTEGER ||
		    state < HD_IMPORTED || state > HD_FAILED)
			check_problem(c, "incoming migration of VM %s: unknown "
			    "hand-off state %s", us,
			    sqlite3_column_text(st, 4) != NULL ?
			    (const char *)sqlite3_column_text(st, 4) : "NULL");
	}
	if (rc != SQLITE_DONE)
		check_query_failed(c, "incoming");
	sqlite3_finalize(st);
}

/* meta: 'unrecorded:UUID' keys (schema 1) name known VMs. */
static void
check_meta(struct check *c)
{
	sqlite3_stmt *st;
	const char *k, *val;
	uint8_t u[16];
	char *end;
	int rc;

	if (sqlite3_prepare_v2(c->db, "SELECT key, value FROM meta WHERE key"
	    " LIKE 'unrecorded:%' ORDER BY key", -1, &st, NULL) != SQLITE_OK) {
		check_query_failed(c, "meta");
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		k = (const char *)sqlite3_column_text(st, 0);
		val = (const char *)sqlite3_column_text(st, 1);
		if (c->version >= 2) {
			check_problem(c, "meta '%s': left over from schema 1 "
			    "(the count is a VM column now; nothing reads it)",
			    k);
			c->repairable_meta++;
			continue;
		}
		if (ras_uuid_parse(k + strlen("unrecorded:"), u) == -1 ||
		    !check_vm_exists(c, u, 16)) {
			check_problem(c, "meta '%s': names no known VM", k);
			c->repairable_meta++;
			continue;
		}
		if (val == NULL || strtoll(val, &end, 10) < 0 || *end != '\0')
			check_problem(c, "meta '%s': value '%s' is not a "
			    "count", k, val != NULL ? val : "NULL");
	}
	if (rc != SQLITE_DONE)
		check_query_failed(c, "meta");
	sqlite3_finalize(st);
}

/* Run every check on an open store. */
static void
check_run(struct check *c)
{
	c->problems = c->repairable_vevents = c->repairable_meta = 0;
	c->vms = c->events = c->vevents = 0;
	check_integrity(c);
	check_vms(c);
	check_events(c);
	check_vevents(c);
	check_incoming(c);
	check_meta(c);
}

/* Delete what check_run() found safe to delete, after a backup. */
static int
check_repair(struct check *c, const char *dbpath)
{
	char bak[PATH_MAX], stamp[32], err[PATH_MAX + 256];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	if (c->repairable_vevents == 0 && c->repairable_meta == 0) {
		printf("repair: nothing that can be repaired safely\n");
		return 0;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	if ((size_t)snprintf(bak, sizeof bak, "%s.repair-%s.bak", dbpath,
	    stamp) >= sizeof bak || store_backup(c->db, bak, err,
	    sizeof err) == -1) {
		fprintf(stderr, "rasd: no repair: the backup failed: %s\n",
		    err);
		return -1;
	}
	printf("repair: backup of the store before repairing: %s\n", bak);
	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		goto fail;
	if (sqlite3_exec(c->db, "DELETE FROM vevent WHERE vm NOT IN"
	    " (SELECT uuid FROM vm)", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	n = sqlite3_changes(c->db);
	if (n > 0)
		printf("repaired: deleted %d orphan libvirt event%s\n", n,
		    n == 1 ? "" : "s");
	if (c->version >= 2) {
		if (sqlite3_exec(c->db, "DELETE FROM meta WHERE key LIKE"
		    " 'unrecorded:%'", NULL, NULL, NULL) != SQLITE_OK)
			goto fail;
	} else if (sqlite3_exec(c->db, "DELETE FROM meta WHERE key LIKE"
	    " 'unrecorded:%' AND substr(key, 12) NOT IN (SELECT"
	    " lower(substr(hex(uuid),1,8)||'-'||substr(hex(uuid),9,4)||'-'||"
	    "substr(hex(uuid),13,4)||'-'||substr(hex(uuid),17,4)||'-'||"
	    "substr(hex(uuid),21,12)) FROM vm)", NULL, NULL, NULL) !=
	    SQLITE_OK)
		goto fail;
	n = sqlite3_changes(c->db);
	if (n > 0)
		printf("repaired: deleted %d stale 'unrecorded:' meta key%s\n",
		    n, n == 1 ? "" : "s");
	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "rasd: repair failed, nothing changed: %s\n",
	    sqlite3_errmsg(c->db));
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/*
 * `rasd --check-store [--repair]`: 0 when the store is clean (after the
 * repair, with --repair), 1 when problems were found (and are left), 2
 * when it could not be checked.
 */
int
check_store(const char *dir, int repair)
{
	struct check c;
	char path[PATH_MAX], wal[PATH_MAX + 8], shm[PATH_MAX + 8], err[256];
	struct stat sb;
	int lockfd = -1, rc = 2, had_wal;

	memset(&c, 0, sizeof c);
	if ((size_t)snprintf(path, sizeof path, "%s/rasd.db", dir) >=
	    sizeof path) {
		fprintf(stderr, "rasd: %s: path too long\n", dir);
		return 2;
	}
	if (stat(path, &sb) == -1) {
		fprintf(stderr, "rasd: no store to check: %s: %s\n", path,
		    strerror(errno));
		return 2;
	}
	if ((lockfd = store_lock(dir)) == -1) {
		if (errno == EWOULDBLOCK)
			fprintf(stderr, "rasd: %s is in use by a running rasd; "
			    "stop it first, or check a copy (sqlite3 %s "
			    "\".backup COPYDIR/rasd.db\", then --check-store "
			    "--state-dir COPYDIR)\n", dir, path);
		else
			fprintf(stderr, "rasd: %s/rasd.lock: %s\n", dir,
			    strerror(errno));
		return 2;
	}
	/* A read-only connection leaves the WAL files it had to create. */
	snprintf(wal, sizeof wal, "%s-wal", path);
	snprintf(shm, sizeof shm, "%s-shm", path);
	had_wal = stat(wal, &sb) == 0;
	if (sqlite3_open_v2(path, &c.db, repair ? SQLITE_OPEN_READWRITE :
	    SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "rasd: cannot check %s: %s\n", path,
		    c.db != NULL ? sqlite3_errmsg(c.db) : "cannot open");
		goto out;
	}
	if ((c.version = store_schema_version(c.db, err, sizeof err)) <= 0) {
		fprintf(stderr, "rasd: cannot check %s: %s\n", path,
		    c.version == 0 ? "the database is empty" : err);
		goto out;
	}
	if (c.version > STORE_VERSION) {
		fprintf(stderr, "rasd: cannot check %s: it has schema version "
		    "%d, newer than the %d this rasd knows; check it with the "
		    "rasd that wrote it\n", path, c.version, STORE_VERSION);
		goto out;
	}
	printf("checking %s (schema %d)\n", path, c.version);
	if (c.version < STORE_VERSION)
		printf("note: schema %d is older than this rasd's %d: rasd "
		    "will upgrade it at its next start, keeping rasd.db.v%d.bak"
		    "\n", c.version, STORE_VERSION, c.version);
	check_run(&c);
	if (repair && c.problems > 0) {
		if (check_repair(&c, path) == -1)
			goto out;
		c.quiet = 1;
		check_run(&c);
		printf("after the repair: ");
	}
	if (c.problems == 0)
		printf("%s: no problems (%lu VMs, %lu events, %lu libvirt "
		    "events)\n", path, c.vms, c.events, c.vevents);
	else
		printf("%lu problem%s found in %s (%lu VMs, %lu events, %lu "
		    "libvirt events)%s\n", c.problems, c.problems == 1 ? "" :
		    "s", path, c.vms, c.events, c.vevents,
		    repair ? "; left for the operator, see rasd(8), RECOVERY" :
		    c.repairable_vevents + c.repairable_meta > 0 ?
		    "; --repair deletes the orphan libvirt events and stale "
		    "meta keys, see rasd(8) for the rest" : "; see rasd(8), "
		    "RECOVERY");
	rc = c.problems == 0 ? 0 : 1;
out:
	if (c.db != NULL)
		sqlite3_close(c.db);
	if (!repair && !had_wal && stat(wal, &sb) == 0 && sb.st_size == 0) {
		unlink(wal);
		unlink(shm);
	}
	close(lockfd);
	return rc;
}
