/*
 * health.c -- host memory health: is this host's memory still fit to run
 * guests (healthy), worth watching (degraded), or to be emptied
 * (evacuate)?
 *
 * DESIGN: every error source goes into leaky buckets (lib/bucket.h), one
 * per threshold, as mcelog and rasdaemon count errors ("10 / 24h"):
 *
 *   - uncorrected errors: every forward rasd records (AR and AO, a repeat
 *     of a recorded range is not a new error), per host and per VM. They
 *     are already durable in the event table, so the buckets are rebuilt
 *     from it at start and a forward costs no write here;
 *   - corrected (and uncorrected) errors per DIMM, polled on a libevent
 *     timer: from rasdaemon's database when it has one (rasdaemon records
 *     each EDAC event with its time: history from before rasd started and
 *     across reboots), else from the EDAC counters in sysfs (deltas since
 *     the last poll, the counts a DIMM had when rasd first saw it shown
 *     but not rated: nobody can tell when they happened). Never both: the
 *     same error is counted by each. The DIMMs, their counters and
 *     buckets live in the store (store_health.c), so a restart goes on
 *     where it stopped -- rasdaemon keeps its own counters in memory only.
 *
 * The state is the worst tripped threshold; an operator's override
 * replaces it until set back to auto. A poll reads a few sysfs files and
 * at most HEALTH_RD_BATCH rows of rasdaemon's database (read-only, never
 * waiting on its lock): the loop is never held long.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "rasd.h"
#include "fleet.h"
#include "health.h"

#define HEALTH_REASONS 32
#define HEALTH_REASON_LEN 320
#define HEALTH_RD_BATCH 10000	/* rasdaemon rows per poll */
#define HEALTH_OVERRIDE_KEY "health_override"

/* A VM's uncorrected errors. */
struct health_vm {
	uint8_t uuid[16];
	char name[RASD_NAME_MAX + 1];
	struct bucket ue_deg;
	uint64_t ue_total;
	struct health_vm *next;
};

enum health_source { HEALTH_SRC_NONE, HEALTH_SRC_EDAC, HEALTH_SRC_RD };
static const char *health_source_names[] = { "none", "edac", "rasdaemon" };

static struct {
	struct health_config conf;
	struct event *timer;
	struct bucket ue_deg, ue_evac;	/* the host's forwards */
	uint64_t ue_total;
	struct health_vm *vms;
	struct health_dimm *dimms;
	int source;			/* enum health_source, last poll */
	int64_t last_poll;
	char poll_error[512];
	uint64_t polls_ok, polls_failed;
	int64_t rd_cursor;		/* last rasdaemon mc_event id taken */
	int override;			/* -1: auto, else enum bucket_state */
	int64_t override_since;
	uint32_t override_uid;
	char override_reason[256];
	int auto_state, state;
	unsigned int score;
	char reasons[HEALTH_REASONS][HEALTH_REASON_LEN];
	size_t nreasons, more;
} hs = { .override = -1 };

/*
 * snprintf that truncates quietly: paths and messages longer than their
 * buffers are cut, never overrun.
 */
static void __attribute__((format(printf, 3, 4)))
health_fmt(char *dst, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, len, fmt, ap);
	va_end(ap);
}

/* --- judging ---------------------------------------------------------- */

/* Render a unix time as 2026-12-02T13:38:53Z. */
static void
health_time(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		health_fmt(out, outlen, "%lld", (long long)t);
	else
		strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Add one reason (counted beyond the last slot). */
static void __attribute__((format(printf, 1, 2)))
health_reason(const char *fmt, ...)
{
	va_list ap;

	if (hs.nreasons == HEALTH_REASONS) {
		hs.more++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(hs.reasons[hs.nreasons++], HEALTH_REASON_LEN, fmt, ap);
	va_end(ap);
}

/* The reason of one check that tripped. */
static void
health_reason_check(const struct bucket_check *c, const char *who,
    const char *errors)
{
	const struct bucket_rate *r;
	const struct bucket *b;
	char rate[64], when[32];

	if (c->state == BUCKET_HEALTHY)
		return;
	r = c->state == BUCKET_EVACUATE ? c->evacuate_rate : c->degraded_rate;
	b = c->state == BUCKET_EVACUATE ? c->evacuate : c->degraded;
	bucket_rate_format(r, rate, sizeof rate);
	health_time(bucket_empty_at(b, r), when, sizeof when);
	health_reason("%s: %s errors reached %s (%s; %.0f in the bucket, "
	    "empty at %s unless more come)", who, errors, rate,
	    bucket_state_name(c->state), b->level, when);
}

/* Number of checks: the host, its VMs, two per DIMM. */
static size_t
health_nchecks(void)
{
	const struct health_dimm *d;
	const struct health_vm *v;
	size_t n = 1;

	for (v = hs.vms; v != NULL; v = v->next)
		n++;
	for (d = hs.dimms; d != NULL; d = d->next)
		n += 2;
	return n;
}

/* Let every bucket leak until now. */
static void
health_drain(int64_t now)
{
	const struct health_config *c = &hs.conf;
	struct health_dimm *d;
	struct health_vm *v;

	bucket_drain(&hs.ue_deg, &c->ue_degraded, now);
	bucket_drain(&hs.ue_evac, &c->ue_evacuate, now);
	for (v = hs.vms; v != NULL; v = v->next)
		bucket_drain(&v->ue_deg, &c->vm_ue_degraded, now);
	for (d = hs.dimms; d != NULL; d = d->next) {
		bucket_drain(&d->ce_deg, &c->ce_degraded, now);
		bucket_drain(&d->ce_evac, &c->ce_evacuate, now);
		bucket_drain(&d->ue_deg, &c->ue_degraded, now);
		bucket_drain(&d->ue_evac, &c->ue_evacuate, now);
	}
}

/*
 * Judge the host now: the state, the score and the reasons; log a change
 * of state.
 */
static void
health_judge(void)
{
	const struct health_config *c = &hs.conf;
	struct bucket_check *ck;
	struct health_dimm *d;
	struct health_vm *v;
	size_t n = health_nchecks(), i = 0, j;
	int old = hs.state;
	char who[400], since[32];
	const char *reasons[HEALTH_REASONS];

	health_drain((int64_t)time(NULL));
	ck = xcalloc(n, sizeof *ck);
	ck[i++] = (struct bucket_check){ &hs.ue_deg, &c->ue_degraded,
	    &hs.ue_evac, &c->ue_evacuate, 0 };
	for (v = hs.vms; v != NULL; v = v->next)
		ck[i++] = (struct bucket_check){ &v->ue_deg,
		    &c->vm_ue_degraded, NULL, NULL, 0 };
	for (d = hs.dimms; d != NULL; d = d->next) {
		ck[i++] = (struct bucket_check){ &d->ce_deg, &c->ce_degraded,
		    &d->ce_evac, &c->ce_evacuate, 0 };
		ck[i++] = (struct bucket_check){ &d->ue_deg, &c->ue_degraded,
		    &d->ue_evac, &c->ue_evacuate, 0 };
	}
	hs.auto_state = bucket_judge(ck, n, &hs.score);
	hs.nreasons = hs.more = 0;
	if (hs.override >= 0) {
		health_time(hs.override_since, since, sizeof since);
		health_reason("operator (uid %u) set %s at %s%s%s",
		    hs.override_uid, bucket_state_name(hs.override), since,
		    hs.override_reason[0] ? ": " : "", hs.override_reason);
	}
	i = 0;
	health_reason_check(&ck[i++], "host", "uncorrected");
	for (v = hs.vms; v != NULL; v = v->next) {
		health_fmt(who, sizeof who, "VM %s", v->name);
		health_reason_check(&ck[i++], who, "uncorrected");
	}
	for (d = hs.dimms; d != NULL; d = d->next) {
		health_fmt(who, sizeof who, "DIMM %s", d->key);
		d->state = ck[i].state > ck[i + 1].state ? ck[i].state :
		    ck[i + 1].state;
		health_reason_check(&ck[i++], who, "corrected");
		health_reason_check(&ck[i++], who, "uncorrected");
	}
	free(ck);
	hs.state = hs.override >= 0 ? hs.override : hs.auto_state;
	for (j = 0; j < hs.nreasons; j++)
		reasons[j] = hs.reasons[j];
	fleet_health_set(bucket_state_name(hs.state), reasons, hs.nreasons);
	if (hs.state == old)
		return;
	if (hs.nreasons == 0) {
		log_info("health: host %s (was %s), score %u",
		    bucket_state_name(hs.state), bucket_state_name(old),
		    hs.score);
		return;
	}
	for (j = 0; j < hs.nreasons; j++)
		log_warnx("health: host %s (was %s), score %u: %s",
		    bucket_state_name(hs.state), bucket_state_name(old),
		    hs.score, hs.reasons[j]);
}

/* --- uncorrected errors: forwards ------------------------------------- */

/* The VM's entry, created when first needed. */
static struct health_vm *
health_vm_get(const uint8_t uuid[16], const char *name)
{
	struct health_vm *v, **pp;

	for (pp = &hs.vms; (v = *pp) != NULL; pp = &v->next)
		if (memcmp(v->uuid, uuid, 16) == 0)
			break;
	if (v == NULL) {
		v = xcalloc(1, sizeof *v);
		memcpy(v->uuid, uuid, 16);
		*pp = v;
	}
	if (name != NULL && *name != '\0')
		health_fmt(v->name, sizeof v->name, "%s", name);
	else if (v->name[0] == '\0')
		ras_uuid_format(uuid, v->name);
	return v;
}

/* Count one uncorrected error of a VM at t. */
static void
health_count_ue(const uint8_t uuid[16], const char *name, int64_t t)
{
	struct health_vm *v = health_vm_get(uuid, name);

	bucket_add(&hs.ue_deg, &hs.conf.ue_degraded, 1, t);
	bucket_add(&hs.ue_evac, &hs.conf.ue_evacuate, 1, t);
	bucket_add(&v->ue_deg, &hs.conf.vm_ue_degraded, 1, t);
	hs.ue_total++;
	v->ue_total++;
}

/* A forward rasd recorded (a new range, not a repeat). */
void
health_forward(const struct vm *vm, int kind, int64_t t)
{
	if (kind != RAS_KIND_AR && kind != RAS_KIND_AO)
		return;
	health_count_ue(vm->uuid, vm->name, t != 0 ? t : (int64_t)time(NULL));
	health_judge();
}

/* One forward from the event table, at start. */
static int
health_replay_row(void *arg, const uint8_t uuid[16], int kind, int64_t t)
{
	const struct vm *vm;

	if (kind != RAS_KIND_AR && kind != RAS_KIND_AO)
		return 0;
	vm = vm_find_uuid(uuid);
	health_count_ue(uuid, vm != NULL ? vm->name : NULL, t);
	return 0;
}

/* --- corrected errors: EDAC and rasdaemon ------------------------------ */

/* The DIMM with this key or EDAC path, or a new one. */
static struct health_dimm *
health_dimm_get(const char *key, const char *path)
{
	struct health_dimm *d, **pp;

	for (d = hs.dimms; d != NULL; d = d->next)
		if (path != NULL && *path != '\0' && strcmp(d->path, path) == 0)
			return d;
	for (pp = &hs.dimms; (d = *pp) != NULL; pp = &d->next)
		if (strcmp(d->key, key) == 0)
			return d;
	d = xcalloc(1, sizeof *d);
	health_fmt(d->key, sizeof d->key, "%s", key);
	if (path != NULL)
		health_fmt(d->path, sizeof d->path, "%s", path);
	d->first_seen = (int64_t)time(NULL);
	d->ce_deg.stamp = d->ce_evac.stamp = d->ue_deg.stamp =
	    d->ue_evac.stamp = d->first_seen;
	d->dirty = 1;
	*pp = d;
	log_info("health: DIMM %s%s%s first seen", key, path && *path ?
	    " at " : "", path != NULL ? path : "");
	return d;
}

/* Rate n corrected or uncorrected errors of a DIMM at t. */
static void
health_dimm_count(struct health_dimm *d, int ue, uint64_t n, int64_t t)
{
	if (n == 0)
		return;
	if (ue) {
		bucket_add(&d->ue_deg, &hs.conf.ue_degraded, (double)n, t);
		bucket_add(&d->ue_evac, &hs.conf.ue_evacuate, (double)n, t);
		d->ue_total += n;
	} else {
		bucket_add(&d->ce_deg, &hs.conf.ce_degraded, (double)n, t);
		bucket_add(&d->ce_evac, &hs.conf.ce_evacuate, (double)n, t);
		d->ce_total += n;
	}
	d->dirty = 1;
}

/* Read a small sysfs file into buf, newline stripped; -1 if absent. */
static int
health_read_file(const char *dir, const char *name, char *buf, size_t len)
{
	char path[4600];
	ssize_t n;
	int fd;

	health_fmt(path, sizeof path, "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* A counter file: -1 if absent or not a number. */
static int
health_read_count(const char *dir, const char *name, uint64_t *v)
{
	char buf[64], *end;

	if (health_read_file(dir, name, buf, sizeof buf) == -1 ||
	    buf[0] < '0' || buf[0] > '9')
		return -1;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

/* Whether name is prefix followed by digits only. */
static int
health_numbered(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(name, prefix, n) != 0 || name[n] == '\0')
		return 0;
	for (name += n; *name != '\0'; name++)
		if (!isdigit((unsigned char)*name))
			return 0;
	return 1;
}

/* Whether some DIMM other than d has key. */
static int
health_key_taken(const struct health_dimm *d, const char *key)
{
	const struct health_dimm *o;

	for (o = hs.dimms; o != NULL; o = o->next)
		if (o != d && strcmp(o->key, key) == 0)
			return 1;
	return 0;
}

/*
 * One DIMM's EDAC counters were read: record them, and rate the increase
 * when EDAC is the rate source. A counter lower than before was reset (a
 * reboot, a driver reload, reset_counters): all of it is new.
 */
static void
health_edac_dimm(const char *path, const char *label, const char *location,
    uint64_t ce, uint64_t ue, int64_t now)
{
	struct health_dimm *d;
	char key[sizeof d->key];

	health_fmt(key, sizeof key, "%s", *label != '\0' ? label : path);
	d = health_dimm_get(key, path);
	if (d->path[0] == '\0') {
		/* Known from rasdaemon by its label: now EDAC has it too. */
		health_fmt(d->path, sizeof d->path, "%s", path);
		d->dirty = 1;
	}
	if (health_key_taken(d, d->key) && strchr(d->key, '@') == NULL) {
		health_fmt(key, sizeof key, "%s@%s", d->key, path);
		health_fmt(d->key, sizeof d->key, "%s", key);
	}
	if (strcmp(d->label, label) != 0 || strcmp(d->location, location)) {
		health_fmt(d->label, sizeof d->label, "%s", label);
		health_fmt(d->location, sizeof d->location, "%s", location);
		d->dirty = 1;
	}
	if (hs.source == HEALTH_SRC_EDAC && d->has_edac) {
		health_dimm_count(d, 0, ce >= d->edac_ce ? ce - d->edac_ce : ce,
		    now);
		health_dimm_count(d, 1, ue >= d->edac_ue ? ue - d->edac_ue : ue,
		    now);
	} else if (!d->has_edac && (ce != 0 || ue != 0))
		log_info("health: DIMM %s had %llu corrected and %llu "
		    "uncorrected errors when first read; counted from now on",
		    d->key, (unsigned long long)ce, (unsigned long long)ue);
	if (!d->has_edac || d->edac_ce != ce || d->edac_ue != ue)
		d->dirty = 1;
	d->has_edac = 1;
	d->present = 1;
	d->edac_ce = ce;
	d->edac_ue = ue;
}

/* The DIMMs (or ranks) of one memory controller; 0 if it has none. */
static int
health_edac_mc_dimms(const char *mcdir, const char *mc, int64_t now)
{
	char dir[4400], path[64], label[256], loc[256];
	struct dirent *de;
	uint64_t ce, ue;
	DIR *dp;
	int found = 0;

	if ((dp = opendir(mcdir)) == NULL)
		return 0;
	while ((de = readdir(dp)) != NULL) {
		if (!health_numbered(de->d_name, "dimm") &&
		    !health_numbered(de->d_name, "rank"))
			continue;
		health_fmt(dir, sizeof dir, "%s/%s", mcdir, de->d_name);
		if (health_read_count(dir, "dimm_ce_count", &ce) == -1 ||
		    health_read_count(dir, "dimm_ue_count", &ue) == -1)
			continue;
		if (health_read_file(dir, "dimm_label", label,
		    sizeof label) == -1)
			label[0] = '\0';
		if (health_read_file(dir, "dimm_location", loc,
		    sizeof loc) == -1)
			loc[0] = '\0';
		health_fmt(path, sizeof path, "%s/%s", mc, de->d_name);
		health_edac_dimm(path, label, loc, ce, ue, now);
		found++;
	}
	closedir(dp);
	return found;
}

/* Older kernels: per chip-select row counters (csrowN/ce_count). */
static void
health_edac_mc_csrows(const char *mcdir, const char *mc, int64_t now)
{
	char dir[4400], path[64], label[256], loc[64];
	struct dirent *de;
	uint64_t ce, ue;
	DIR *dp;

	if ((dp = opendir(mcdir)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		if (!health_numbered(de->d_name, "csrow"))
			continue;
		health_fmt(dir, sizeof dir, "%s/%s", mcdir, de->d_name);
		if (health_read_count(dir, "ce_count", &ce) == -1 ||
		    health_read_count(dir, "ue_count", &ue) == -1)
			continue;
		if (health_read_file(dir, "ch0_dimm_label", label,
		    sizeof label) == -1)
			label[0] = '\0';
		health_fmt(loc, sizeof loc, "%s", de->d_name);
		health_fmt(path, sizeof path, "%s/%s", mc, de->d_name);
		health_edac_dimm(path, label, loc, ce, ue, now);
	}
	closedir(dp);
}

/* Scan edac_root/mc/mc*; -1 with the reason when there is no EDAC. */
static int
health_edac_scan(int64_t now, char *err, size_t errlen)
{
	char mcroot[4200], mcdir[4400];
	struct health_dimm *d;
	struct dirent *de;
	DIR *dp;
	int mcs = 0;

	for (d = hs.dimms; d != NULL; d = d->next)
		d->present = 0;		/* until seen again */
	if (hs.conf.edac_root[0] == '\0') {
		health_fmt(err, errlen, "edac_root is none");
		return -1;
	}
	health_fmt(mcroot, sizeof mcroot, "%s/mc", hs.conf.edac_root);
	if ((dp = opendir(mcroot)) == NULL) {
		health_fmt(err, errlen, "no EDAC memory controllers: %s: %s",
		    mcroot, strerror(errno));
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		if (!health_numbered(de->d_name, "mc"))
			continue;
		health_fmt(mcdir, sizeof mcdir, "%s/%s", mcroot, de->d_name);
		if (health_edac_mc_dimms(mcdir, de->d_name, now) == 0)
			health_edac_mc_csrows(mcdir, de->d_name, now);
		mcs++;
	}
	closedir(dp);
	if (mcs == 0) {
		health_fmt(err, errlen, "no EDAC memory controllers in %s",
		    mcroot);
		return -1;
	}
	return 0;
}

/*
 * rasdaemon's timestamp ("2024-03-01 12:00:00 +0100", or with
 * microseconds, ".000123 +0100") as unix time; now when unreadable.
 */
static int64_t
health_rd_time(const char *ts, int64_t now)
{
	struct tm tm;
	const char *p;
	int off, sign;
	time_t t;

	if (ts == NULL)
		return now;
	memset(&tm, 0, sizeof tm);
	if ((p = strptime(ts, "%Y-%m-%d %H:%M:%S", &tm)) == NULL)
		return now;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	while (*p == ' ')
		p++;
	off = 0;
	if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
	    isdigit((unsigned char)p[2]) && isdigit((unsigned char)p[3]) &&
	    isdigit((unsigned char)p[4])) {
		sign = *p == '-' ? -1 : 1;
		off = sign * (((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
		    ((p[3] - '0') * 10 + (p[4] - '0')) * 60);
	}
	if ((t = timegm(&tm)) == (time_t)-1)
		return now;
	return (int64_t)t - off;
}

/* Whether rasdaemon's err_type is an uncorrected error, corrected, none. */
static int
health_rd_kind(const char *type)
{
	if (type == NULL)
		return -1;
	if (strcasecmp(type, "Corrected") == 0)
		return 0;
	if (strcasecmp(type, "Uncorrected") == 0 ||
	    strcasecmp(type, "Fatal") == 0 || strcasecmp(type, "Deferred") == 0)
		return 1;
	return -1;		/* Info, or unknown */
}

/* One mc_event row. */
static void
health_rd_row(sqlite3_stmt *st, int64_t now)
{
	const char *label = (const char *)sqlite3_column_text(st, 4);
	int kind = health_rd_kind((const char *)sqlite3_column_text(st, 3));
	int count = sqlite3_column_int(st, 2), l[3], i;
	char key[320], loc[128];
	struct health_dimm *d;
	size_t o;

	if (kind == -1)
		return;
	o = (size_t)snprintf(loc, sizeof loc, "mc %d",
	    sqlite3_column_int(st, 5));
	for (i = 0; i < 3; i++) {
		l[i] = sqlite3_column_int(st, 6 + i);
		if (l[i] >= 0 && o < sizeof loc)
			o += (size_t)snprintf(loc + o, sizeof loc - o, "%s%d",
			    i == 0 ? " layers " : ":", l[i]);
	}
	/* The kernel names a DIMM it could not pin down "any memory". */
	if (label != NULL && *label != '\0' && strcmp(label, "any memory") &&
	    strcmp(label, "unknown memory"))
		health_fmt(key, sizeof key, "%s", label);
	else
		health_fmt(key, sizeof key, "%s", loc);
	d = health_dimm_get(key, NULL);
	if (d->label[0] == '\0' && label != NULL)
		health_fmt(d->label, sizeof d->label, "%s", label);
	if (d->location[0] == '\0')
		health_fmt(d->location, sizeof d->location, "%s", loc);
	if (count <= 0)
		count = 1;
	if (kind == 1)
		d->rd_ue += (uint64_t)count;
	else
		d->rd_ce += (uint64_t)count;
	health_dimm_count(d, kind, (uint64_t)count,
	    health_rd_time((const char *)sqlite3_column_text(st, 1), now));
}

/*
 * Read rasdaemon's new mc_event rows. Returns 1 when its database is the
 * rate source, 0 when there is none (err says why), -1 when it is there
 * but could not be read this time.
 */
static int
health_rd_read(int64_t now, char *err, size_t errlen)
{
	const char *path = hs.conf.rasdaemon_db;
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	struct stat sb;
	int64_t last = hs.rd_cursor;
	int rc = -1, r, n = 0;

	if (*path == '\0' || stat(path, &sb) == -1) {
		health_fmt(err, errlen, "no rasdaemon database%s%s%s", *path ?
		    " at " : "", path, *path ? "" : " (rasdaemon_db none)");
		return 0;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		health_fmt(err, errlen, "%s: %s", path, db != NULL ?
		    sqlite3_errmsg(db) : "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(db, 0);
	/* A database rasdaemon started afresh numbers its rows from 1. */
	if (sqlite3_prepare_v2(db, "SELECT max(id) FROM mc_event", -1, &st,
	    NULL) != SQLITE_OK) {
		health_fmt(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		if (strstr(err, "no such table") != NULL)
			rc = 0;		/* rasdaemon without --record */
		goto out;
	}
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_int64(st, 0) < hs.rd_cursor) {
		log_warnx("health: %s holds fewer records than already read "
		    "(%lld < %lld): a new database, read from its start", path,
		    (long long)sqlite3_column_int64(st, 0),
		    (long long)hs.rd_cursor);
		hs.rd_cursor = 0;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, "SELECT id, timestamp, err_count, err_type,"
	    " label, mc, top_layer, middle_layer, lower_layer FROM mc_event"
	    " WHERE id > ? ORDER BY id LIMIT ?", -1,
	    &st, NULL) != SQLITE_OK) {
		health_fmt(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_int64(st, 1, hs.rd_cursor);
	sqlite3_bind_int(st, 2, HEALTH_RD_BATCH);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		health_rd_row(st, now);
		hs.rd_cursor = sqlite3_column_int64(st, 0);
		n++;
	}
	if (r != SQLITE_DONE) {
		health_fmt(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	rc = 1;
out:
	sqlite3_finalize(st);
	if (db != NULL)
		sqlite3_close(db);
	if (hs.rd_cursor != last)
		log_debug("health: %d rasdaemon records read (to id %lld)", n,
		    (long long)hs.rd_cursor);
	return rc;
}

/* One poll: the DIMMs' counters, rated from one source; then judge. */
static void
health_poll(void)
{
	char err[1024], rderr[1024];
	int64_t now = (int64_t)time(NULL);
	int rd, ed, was = hs.source;

	hs.poll_error[0] = '\0';
	rd = health_rd_read(now, rderr, sizeof rderr);
	hs.source = rd == 1 ? HEALTH_SRC_RD : HEALTH_SRC_EDAC;
	if (rd == -1) {
		/* Busy or damaged: no rates this round, rather than both. */
		hs.source = HEALTH_SRC_RD;
		health_fmt(hs.poll_error, sizeof hs.poll_error, "%s", rderr);
	}
	ed = health_edac_scan(now, err, sizeof err);
	if (ed == -1 && hs.source == HEALTH_SRC_EDAC) {
		hs.source = HEALTH_SRC_NONE;
		health_fmt(hs.poll_error, sizeof hs.poll_error, "%s; %s", err,
		    rderr);
	}
	if (hs.source != was)
		log_info("health: corrected errors rated from %s%s%s",
		    health_source_names[hs.source], hs.poll_error[0] ? ": " :
		    "", hs.poll_error);
	if (hs.poll_error[0] != '\0')
		hs.polls_failed++;
	else
		hs.polls_ok++;
	hs.last_poll = now;
	health_judge();
	if (store_health_save(hs.dimms, hs.rd_cursor) == -1)
		log_warnx("health: DIMM figures not saved: %s", store_error());
}

/* The poll timer. */
static void
health_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { (time_t)hs.conf.poll_interval, 0 };

	health_poll();
	evtimer_add(hs.timer, &tv);
}

/* --- start, stop -------------------------------------------------------- */

/* A stored DIMM comes back. */
static int
health_load_dimm(void *arg, struct health_dimm *in)
{
	struct health_dimm *d, **pp;

	for (pp = &hs.dimms; *pp != NULL; pp = &(*pp)->next)
		;
	d = xcalloc(1, sizeof *d);
	*d = *in;
	d->present = 0;
	d->next = NULL;
	*pp = d;
	return 0;
}

/* The operator's override, from its meta value. */
static void
health_load_override(void)
{
	char v[512], *f[4], *p = v;
	int i, s;

	if (store_health_meta(HEALTH_OVERRIDE_KEY, v, sizeof v) != 1)
		return;
	for (i = 0; i < 4; i++) {
		f[i] = p;
		if (p != NULL && (p = strchr(p, '\t')) != NULL)
			*p++ = '\0';
	}
	if (f[0] == NULL || (s = bucket_state_parse(f[0])) < 0) {
		log_warnx("health: stored override \"%.40s\" unreadable; "
		    "ignored", v);
		return;
	}
	hs.override = s;
	hs.override_since = f[1] != NULL ? strtoll(f[1], NULL, 10) : 0;
	hs.override_uid = f[2] != NULL ? (uint32_t)strtoul(f[2], NULL, 10) : 0;
	health_fmt(hs.override_reason, sizeof hs.override_reason, "%s",
	    f[3] != NULL ? f[3] : "");
}

/* Load what the store keeps, replay the forwards, poll, arm the timer. */
int
health_start(struct event_base *base, const struct health_config *c)
{
	struct timeval tv = { (time_t)c->poll_interval, 0 };
	char v[64];

	hs.conf = *c;
	hs.ue_deg.stamp = hs.ue_evac.stamp = 0;
	if (store_health_load(health_load_dimm, NULL) == -1 ||
	    store_health_forwards(0, health_replay_row, NULL) == -1) {
		log_warnx("health: store unreadable: %s", store_error());
		return -1;
	}
	if (store_health_meta(STORE_HEALTH_CURSOR, v, sizeof v) == 1)
		hs.rd_cursor = strtoll(v, NULL, 10);
	health_load_override();
	hs.state = BUCKET_HEALTHY;
	health_poll();
	log_info("health: host %s, score %u (%llu uncorrected errors "
	    "forwarded here, corrected errors from %s, polled every %u s)",
	    bucket_state_name(hs.state), hs.score,
	    (unsigned long long)hs.ue_total, health_source_names[hs.source],
	    c->poll_interval);
	if ((hs.timer = evtimer_new(base, health_timer_cb, NULL)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(hs.timer, &tv);
	return 0;
}

/* Free everything. */
void
health_stop(void)
{
	struct health_dimm *d;
	struct health_vm *v;

	if (hs.timer != NULL)
		event_free(hs.timer);
	hs.timer = NULL;
	while ((d = hs.dimms) != NULL) {
		hs.dimms = d->next;
		free(d);
	}
	while ((v = hs.vms) != NULL) {
		hs.vms = v->next;
		free(v);
	}
}

/* --- operators ----------------------------------------------------------- */

/* One window of the report. */
static Ras__HealthWindow *
health_window(Ras__HealthWindow *w, const char *scope, const char *name,
    const char *errors, int level_for, const struct bucket *b,
    const struct bucket_rate *r, uint64_t total, char *rate, size_t ratelen)
{
	ras__health_window__init(w);
	bucket_rate_format(r, rate, ratelen);
	w->scope = (char *)scope;
	w->name = (char *)name;
	w->errors = (char *)errors;
	w->level_for = (char *)bucket_state_name(level_for);
	w->threshold = rate;
	w->level = b->level;
	w->capacity = r->count;
	w->window = r->window;
	w->tripped = b->tripped != 0;
	w->total = total;
	return w;
}

/* Answer a health query: the state and every figure behind it. */
void
health_query(struct client *c, uint64_t id)
{
	Ras__Response resp = RAS__RESPONSE__INIT;
	Ras__HealthReport hr = RAS__HEALTH_REPORT__INIT;
	const struct health_config *cf = &hs.conf;
	Ras__HealthWindow *w, **wp;
	Ras__HealthDimm *dm, **dp;
	struct health_dimm *d;
	struct health_vm *v;
	char (*rates)[32], *reasons[HEALTH_REASONS + 1], more[64];
	size_t nw = 2, nd = 0, i = 0, k = 0;

	health_judge();
	for (v = hs.vms; v != NULL; v = v->next)
		nw++;
	for (d = hs.dimms; d != NULL; d = d->next) {
		nw += 4;
		nd++;
	}
	w = xcalloc(nw, sizeof *w);
	wp = xcalloc(nw, sizeof *wp);
	rates = xcalloc(nw, sizeof *rates);
	dm = xcalloc(nd + 1, sizeof *dm);
	dp = xcalloc(nd + 1, sizeof *dp);
	wp[i] = health_window(&w[i], "host", "", "uncorrected",
	    BUCKET_DEGRADED, &hs.ue_deg, &cf->ue_degraded, hs.ue_total,
	    rates[i], sizeof rates[i]);
	i++;
	wp[i] = health_window(&w[i], "host", "", "uncorrected",
	    BUCKET_EVACUATE, &hs.ue_evac, &cf->ue_evacuate, hs.ue_total,
	    rates[i], sizeof rates[i]);
	i++;
	for (v = hs.vms; v != NULL; v = v->next, i++)
		wp[i] = health_window(&w[i], "vm", v->name, "uncorrected",
		    BUCKET_DEGRADED, &v->ue_deg, &cf->vm_ue_degraded,
		    v->ue_total, rates[i], sizeof rates[i]);
	for (d = hs.dimms; d != NULL; d = d->next, k++) {
		wp[i] = health_window(&w[i], "dimm", d->key, "corrected",
		    BUCKET_DEGRADED, &d->ce_deg, &cf->ce_degraded, d->ce_total,
		    rates[i], sizeof rates[i]);
		i++;
		wp[i] = health_window(&w[i], "dimm", d->key, "corrected",
		    BUCKET_EVACUATE, &d->ce_evac, &cf->ce_evacuate,
		    d->ce_total, rates[i], sizeof rates[i]);
		i++;
		wp[i] = health_window(&w[i], "dimm", d->key, "uncorrected",
		    BUCKET_DEGRADED, &d->ue_deg, &cf->ue_degraded, d->ue_total,
		    rates[i], sizeof rates[i]);
		i++;
		wp[i] = health_window(&w[i], "dimm", d->key, "uncorrected",
		    BUCKET_EVACUATE, &d->ue_evac, &cf->ue_evacuate,
		    d->ue_total, rates[i], sizeof rates[i]);
		i++;
		ras__health_dimm__init(&dm[k]);
		dm[k].key = d->key;
		dm[k].label = d->label;
		dm[k].location = d->location;
		if (d->has_edac) {
			dm[k].has_edac_ce = dm[k].has_edac_ue = 1;
			dm[k].edac_ce = d->edac_ce;
			dm[k].edac_ue = d->edac_ue;
		}
		if (d->rd_ce != 0 || d->rd_ue != 0 ||
		    hs.source == HEALTH_SRC_RD) {
			dm[k].has_rasdaemon_ce = dm[k].has_rasdaemon_ue = 1;
			dm[k].rasdaemon_ce = d->rd_ce;
			dm[k].rasdaemon_ue = d->rd_ue;
		}
		dm[k].ce_total = d->ce_total;
		dm[k].ue_total = d->ue_total;
		dm[k].state = (char *)bucket_state_name(d->state);
		dm[k].present = d->present != 0;
		dp[k] = &dm[k];
	}
	for (k = 0; k < hs.nreasons; k++)
		reasons[k] = hs.reasons[k];
	if (hs.more > 0) {
		health_fmt(more, sizeof more, "... and %zu more", hs.more);
		reasons[k++] = more;
	}
	hr.state = (char *)bucket_state_name(hs.state);
	hr.auto_state = (char *)bucket_state_name(hs.auto_state);
	hr.score = hs.score;
	hr.n_reasons = k;
	hr.reasons = reasons;
	hr.override = hs.override >= 0 ?
	    (char *)bucket_state_name(hs.override) : "auto";
	if (hs.override >= 0) {
		hr.has_override_since = hr.has_override_uid = 1;
		hr.override_since = hs.override_since;
		hr.override_uid = hs.override_uid;
		hr.override_reason = hs.override_reason;
	}
	hr.n_windows = nw;
	hr.windows = wp;
	hr.n_dimms = nd;
	hr.dimms = dp;
	hr.rate_source = (char *)health_source_names[hs.source];
	hr.edac_root = (char *)cf->edac_root;
	hr.rasdaemon_db = (char *)cf->rasdaemon_db;
	if (hs.last_poll != 0) {
		hr.has_last_poll = 1;
		hr.last_poll = hs.last_poll;
	}
	if (hs.poll_error[0] != '\0')
		hr.poll_error = hs.poll_error;
	hr.ue_total = hs.ue_total;
	resp.id = id;
	resp.body_case = RAS__RESPONSE__BODY_HEALTH;
	resp.health = &hr;
	server_send(c, &resp);
	free(w);
	free(wp);
	free(rates);
	free(dm);
	free(dp);
}

/* An operator sets the host's state, or gives it back to the buckets. */
void
health_set(struct client *c, uint64_t id, const Ras__HealthSet *hset)
{
	const char *why = hset->reason != NULL ? hset->reason : "";
	char v[512];
	const char *p;
	int s;

	if (strcmp(hset->state, "auto") == 0)
		s = -1;
	else if ((s = bucket_state_parse(hset->state)) < 0 ||
	    s == BUCKET_HEALTHY) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID, "health "
		    "state \"%.32s\" cannot be set: evacuate, degraded or auto",
		    hset->state);
		return;
	}
	for (p = why; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			break;
	if (*p != '\0' || strlen(why) >= sizeof hs.override_reason) {
		server_error(c, id, RAS__ERROR_CODE__ERR_INVALID, "the reason "
		    "must be one line of at most %zu bytes",
		    sizeof hs.override_reason - 1);
		return;
	}
	if (s >= 0)
		health_fmt(v, sizeof v, "%s\t%lld\t%u\t%s", bucket_state_name(s),
		    (long long)time(NULL), (unsigned int)c->uid, why);
	if (store_health_set_meta(HEALTH_OVERRIDE_KEY, s >= 0 ? v : NULL) ==
	    -1) {
		server_error(c, id, RAS__ERROR_CODE__ERR_STORE, "health "
		    "override not recorded: %s", store_error());
		return;
	}
	if (s >= 0)
		log_warnx("health: operator (uid %u, pid %d) set the host %s%s%s",
		    (unsigned int)c->uid, (int)c->pid, bucket_state_name(s),
		    *why ? ": " : "", why);
	else if (hs.override >= 0)
		log_warnx("health: operator (uid %u, pid %d) dropped the "
		    "override (%s): the buckets decide again",
		    (unsigned int)c->uid, (int)c->pid,
		    bucket_state_name(hs.override));
	hs.override = s;
	hs.override_since = (int64_t)time(NULL);
	hs.override_uid = (uint32_t)c->uid;
	health_fmt(hs.override_reason, sizeof hs.override_reason, "%s", why);
	health_query(c, id);
}

/* --- figures for the metrics page ------------------------------------- */

/* The state (enum bucket_state), its score, whether an operator set it. */
int
health_state(unsigned int *score, int *overridden)
{
	health_judge();
	*score = hs.score;
	*overridden = hs.override >= 0;
	return hs.state;
}

/* The DIMMs. */
const struct health_dimm *
health_dimms(void)
{
	return hs.dimms;
}

/* Uncorrected errors forwarded on this host. */
uint64_t
health_host_ue(void)
{
	return hs.ue_total;
}

/* Every VM with uncorrected errors. */
void
health_vms(health_vm_cb cb, void *arg)
{
	const struct health_vm *v;

	for (v = hs.vms; v != NULL; v = v->next)
		cb(arg, v->uuid, v->name, v->ue_total);
}

/* Polls that read their sources, and those that did not. */
void
health_polls(uint64_t *ok, uint64_t *failed)
{
	*ok = hs.polls_ok;
	*failed = hs.polls_failed;
}
