/*
 * store_health.c -- what host memory health (health.c) keeps in the store:
 * the DIMMs with their counters and buckets (table health_dimm, schema 4),
 * the operator's override and the rasdaemon cursor (meta keys), and the
 * forwards it rebuilds the uncorrected-error buckets from at start (the
 * event table already holds each of them durably, so a forward costs
 * health no write of its own).
 *
 * All of it on the loop's connection: the writes wait for the writer's
 * batch first (store_write), and come once per poll at most.
 */
#include <stdio.h>
#include <string.h>

#include "rasd.h"
#include "health.h"
#include "store_int.h"

#define STORE_HEALTH_TRIP_CE_DEG 0x1
#define STORE_HEALTH_TRIP_CE_EVAC 0x2
#define STORE_HEALTH_TRIP_UE_DEG 0x4
#define STORE_HEALTH_TRIP_UE_EVAC 0x8

/* Copy a text column into a buffer ("" for NULL). */
static void
store_health_text(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
	const char *t = (const char *)sqlite3_column_text(st, col);

	snprintf(out, outlen, "%s", t != NULL ? t : "");
}

/* Load every DIMM row; cb takes each (a stack copy: it copies it). */
int
store_health_load(store_health_dimm_cb cb, void *arg)
{
	sqlite3_stmt *st = NULL;
	struct health_dimm d;
	int rc, trip;

	if (sqlite3_prepare_v2(store_cur->db, "SELECT key, label, location,"
	    " path, edac_ce, edac_ue, rasdaemon_ce, rasdaemon_ue, ce_total,"
	    " ue_total, ce_degraded, ce_evacuate, ue_degraded, ue_evacuate,"
	    " tripped, stamp, first_seen FROM health_dimm ORDER BY key", -1,
	    &st, NULL) != SQLITE_OK) {
		snprintf(store_cur->err, sizeof store_cur->err, "%s",
		    sqlite3_errmsg(store_cur->db));
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&d, 0, sizeof d);
		store_health_text(st, 0, d.key, sizeof d.key);
		store_health_text(st, 1, d.label, sizeof d.label);
		store_health_text(st, 2, d.location, sizeof d.location);
		store_health_text(st, 3, d.path, sizeof d.path);
		d.has_edac = sqlite3_column_type(st, 4) != SQLITE_NULL;
		d.edac_ce = (uint64_t)sqlite3_column_int64(st, 4);
		d.edac_ue = (uint64_t)sqlite3_column_int64(st, 5);
		d.rd_ce = (uint64_t)sqlite3_column_int64(st, 6);
		d.rd_ue = (uint64_t)sqlite3_column_int64(st, 7);
		d.ce_total = (uint64_t)sqlite3_column_int64(st, 8);
		d.ue_total = (uint64_t)sqlite3_column_int64(st, 9);
		d.ce_deg.level = sqlite3_column_double(st, 10);
		d.ce_evac.level = sqlite3_column_double(st, 11);
		d.ue_deg.level = sqlite3_column_double(st, 12);
		d.ue_evac.level = sqlite3_column_double(st, 13);
		trip = sqlite3_column_int(st, 14);
		d.ce_deg.tripped = (trip & STORE_HEALTH_TRIP_CE_DEG) != 0;
		d.ce_evac.tripped = (trip & STORE_HEALTH_TRIP_CE_EVAC) != 0;
		d.ue_deg.tripped = (trip & STORE_HEALTH_TRIP_UE_DEG) != 0;
		d.ue_evac.tripped = (trip & STORE_HEALTH_TRIP_UE_EVAC) != 0;
		d.ce_deg.stamp = d.ce_evac.stamp = d.ue_deg.stamp =
		    d.ue_evac.stamp = sqlite3_column_int64(st, 15);
		d.first_seen = sqlite3_column_int64(st, 16);
		if (cb(arg, &d) == -1)
			break;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		snprintf(store_cur->err, sizeof store_cur->err, "%s",
		    sqlite3_errmsg(store_cur->db));
		return -1;
	}
	return 0;
}

/* Write one DIMM row. */
static int
store_health_save_one(sqlite3_stmt *st, const struct health_dimm *d)
{
	int trip = 0;

	if (d->ce_deg.tripped)
		trip |= STORE_HEALTH_TRIP_CE_DEG;
	if (d->ce_evac.tripped)
		trip |= STORE_HEALTH_TRIP_CE_EVAC;
	if (d->ue_deg.tripped)
		trip |= STORE_HEALTH_TRIP_UE_DEG;
	if (d->ue_evac.tripped)
		trip |= STORE_HEALTH_TRIP_UE_EVAC;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, d->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->label, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d->location, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, d->path, -1, SQLITE_STATIC);
	if (d->has_edac) {
		sqlite3_bind_int64(st, 5, (sqlite3_int64)d->edac_ce);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)d->edac_ue);
	} else {
		sqlite3_bind_null(st, 5);
		sqlite3_bind_null(st, 6);
	}
	sqlite3_bind_int64(st, 7, (sqlite3_int64)d->rd_ce);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)d->rd_ue);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)d->ce_total);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)d->ue_total);
	sqlite3_bind_double(st, 11, d->ce_deg.level);
	sqlite3_bind_double(st, 12, d->ce_evac.level);
	sqlite3_bind_double(st, 13, d->ue_deg.level);
	sqlite3_bind_double(st, 14, d->ue_evac.level);
	sqlite3_bind_int(st, 15, trip);
	sqlite3_bind_int64(st, 16, d->ce_deg.stamp);
	sqlite3_bind_int64(st, 17, d->first_seen);
	if (sqlite3_step(st) != SQLITE_DONE) {
		snprintf(store_cur->err, sizeof store_cur->err, "health_dimm "
		    "%s: %s", d->key, sqlite3_errmsg(store_cur->db));
		store_cur->err_rc = sqlite3_extended_errcode(store_cur->db);
		return -1;
	}
	return 0;
}

struct store_health_save {
	struct health_dimm *list;
	int64_t cursor;
};

/* The transaction of store_health_save: dirty DIMMs and the cursor. */
static int
store_health_save_body(void *arg)
{
	struct store_health_save *sv = arg;
	struct health_dimm *d;
	sqlite3_stmt *st = NULL;
	char sql[128];
	int rc = 0;

	if (sqlite3_prepare_v2(store_cur->db, "INSERT OR REPLACE INTO"
	    " health_dimm(key, label, location, path, edac_ce, edac_ue,"
	    " rasdaemon_ce, rasdaemon_ue, ce_total, ue_total, ce_degraded,"
	    " ce_evacuate, ue_degraded, ue_evacuate, tripped, stamp,"
	    " first_seen) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
	    " ?, ?)", -1, &st, NULL) != SQLITE_OK) {
		snprintf(store_cur->err, sizeof store_cur->err, "%s",
		    sqlite3_errmsg(store_cur->db));
		return -1;
	}
	for (d = sv->list; d != NULL && rc == 0; d = d->next)
		if (d->dirty)
			rc = store_health_save_one(st, d);
	sqlite3_finalize(st);
	if (rc == 0 && sv->cursor > 0) {
		snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta(key,"
		    " value) VALUES('" STORE_HEALTH_CURSOR "', '%lld')",
		    (long long)sv->cursor);
		rc = store_exec(sql);
	}
	return rc;
}

/*
 * Save the dirty DIMMs of a list and how far rasdaemon's records were
 * read, in one transaction (a crash never counts a record twice or not
 * at all); clears dirty. Nothing to write, nothing written.
 */
int
store_health_save(struct health_dimm *list, int64_t rasdaemon_id)
{
	struct store_health_save sv = { list, rasdaemon_id };
	static int64_t saved = -1;
	struct health_dimm *d;

	for (d = list; d != NULL; d = d->next)
		if (d->dirty)
			break;
	if (d == NULL && rasdaemon_id == saved)
		return 0;
	if (store_write(store_health_save_body, &sv) == -1)
		return -1;
	for (d = list; d != NULL; d = d->next)
		d->dirty = 0;
	saved = rasdaemon_id;
	return 0;
}

/*
 * This host's forwards since a time, oldest first: kind and VM of every
 * event row recorded from a VMM's forward here (not imported ones).
 */
int
store_health_forwards(int64_t since, store_health_fwd_cb cb, void *arg)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(store_cur->db, "SELECT vm, kind, time FROM"
	    " event WHERE origin = 'forward' AND host = ? AND time >= ?"
	    " ORDER BY id", -1, &st, NULL) != SQLITE_OK) {
		snprintf(store_cur->err, sizeof store_cur->err, "%s",
		    sqlite3_errmsg(store_cur->db));
		return -1;
	}
	sqlite3_bind_text(st, 1, store_host(), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *uuid = sqlite3_column_blob(st, 0);

		if (uuid == NULL || sqlite3_column_bytes(st, 0) != 16)
			continue;
		if (cb(arg, uuid, sqlite3_column_int(st, 1),
		    sqlite3_column_int64(st, 2)) == -1)
			break;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		snprintf(store_cur->err, sizeof store_cur->err, "%s",
		    sqlite3_errmsg(store_cur->db));
		return -1;
	}
	return 0;
}

/* A meta value: 1 found, 0 not there, -1 unreadable. */
int
store_health_meta(const char *key, char *out, size_t outlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(store_cur->db, "SELECT value FROM meta WHERE"
	    " key = ?", -1, &st, NULL) != SQLITE_OK) {
		snprintf(store_cur->err, sizeof store_cur->err, "%s",
		    sqlite3_errmsg(store_cur->db));
		return -1;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		store_health_text(st, 0, out, outlen);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		snprintf(store_cur->err, sizeof store_cur->err, "%s",
		    sqlite3_errmsg(store_cur->db));
		return -1;
	}
	return rc == SQLITE_ROW;
}

struct store_health_kv {
	const char *key, *value;
};

/* The transaction of store_health_set_meta. */
static int
store_health_set_body(void *arg)
{
	const struct store_health_kv *kv = arg;
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(store_cur->db, kv->value != NULL ?
	    "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)" :
	    "DELETE FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK) {
		snprintf(store_cur->err, sizeof store_cur->err, "%s",
		    sqlite3_errmsg(store_cur->db));
		return -1;
	}
	sqlite3_bind_text(st, 1, kv->key, -1, SQLITE_STATIC);
	if (kv->value != NULL)
		sqlite3_bind_text(st, 2, kv->value, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		snprintf(store_cur->err, sizeof store_cur->err, "meta %s: %s",
		    kv->key, sqlite3_errmsg(store_cur->db));
		store_cur->err_rc = sqlite3_extended_errcode(store_cur->db);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Set a meta value durably (NULL: delete it). */
int
store_health_set_meta(const char *key, const char *value)
{
	struct store_health_kv kv = { key, value };

	return store_write(store_health_set_body, &kv);
}
