/*
 * metrics.c -- counters for Prometheus, served over HTTP from the loop.
 *
 * DESIGN: a scrape must never delay a forward. So the page is built only
 * from what rasd keeps in memory -- counters bumped where things happen
 * (one call each: metrics_forward in vmm.c, metrics_error in server.c,
 * metrics_commit in batch.c, ...) and the VM registry -- and never from the
 * store: a scrape runs no SQLite statement. Building it is a walk over the
 * VMs and their range sets in one callback; libevent's evhttp then writes
 * it out in the background like any other buffered answer. The listener
 * is off unless metrics_listen is set; it answers GET /metrics only (404
 * for another path, 405 for another method), in the text exposition
 * format 0.0.4, and has no authentication: bind it to loopback or to a
 * management network (it names every VM).
 *
 * The store's fsyncs are SQLite's, not ours: when metrics are on, a VFS
 * that passes every call through to the default one (unix) and counts
 * xSync is registered as the default before the store is opened.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <sqlite3.h>

#include "metrics.h"
#include "rasd.h"

#define METRICS_NOTIFY_SLOTS (RAS_NOTIFY_COUNT + 1)	/* + none */
#define METRICS_ACTIONS 4				/* 1..3 used */
#define METRICS_CODES 14				/* ERR_NONE..ERR_PEER */
#define METRICS_HTTP_TIMEOUT 10				/* s, per request */

struct metrics_hist {
	const double *le;	/* upper bounds, ascending */
	size_t n;
	uint64_t bucket[16];	/* per bound, not cumulative; [n]: above */
	uint64_t count;
	double sum;
};

static const double metrics_commit_le[] = { 0.0005, 0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };
static const double metrics_records_le[] = { 1, 2, 4, 8, 16, 32, 64, 128,
    256, 512, 1024 };
static const double metrics_sync_le[] = { 0.001, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1, 2.5, 5 };

static struct {
	const char *version;
	uint64_t forwards[3][METRICS_ACTIONS][METRICS_NOTIFY_SLOTS];
	uint64_t repeats[3];
	uint64_t errors[METRICS_CODES];
	uint64_t commit_failures;
	uint64_t fsyncs;
	int64_t clients;
	int libvirt;		/* -1: not watched, 0: down, 1: connected */
	uint64_t syncs[2][2];	/* [role][ok] */
	struct metrics_hist commit_seconds;
	struct metrics_hist commit_records;
	struct metrics_hist sync_seconds[2];
} mc = {
	.version = "unknown",
	.libvirt = -1,
	.commit_seconds = { metrics_commit_le, 12, { 0 }, 0, 0 },
	.commit_records = { metrics_records_le, 11, { 0 }, 0, 0 },
	.sync_seconds = {
		{ metrics_sync_le, 11, { 0 }, 0, 0 },
		{ metrics_sync_le, 11, { 0 }, 0, 0 },
	},
};

static struct evhttp *metrics_http;

/* --- counters -------------------------------------------------------- */

/* Seconds on the monotonic clock, for durations. */
double
metrics_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Put one observation into a histogram. */
static void
metrics_observe(struct metrics_hist *h, double v)
{
	size_t i;

	for (i = 0; i < h->n && v > h->le[i]; i++)
		;
	h->bucket[i]++;
	h->count++;
	h->sum += v;
}

/* A forward answered with a decision (repeat: nothing new recorded). */
void
metrics_forward(int kind, int action, int notify, int repeat)
{
	if (kind != RAS_KIND_AR && kind != RAS_KIND_AO)
		return;
	if (action <= 0 || action >= METRICS_ACTIONS)
		return;
	if (notify < 0 || notify >= RAS_NOTIFY_COUNT)
		notify = RAS_NOTIFY_COUNT;	/* none */
	mc.forwards[kind][action][notify]++;
	if (repeat)
		mc.repeats[kind]++;
}

/* An error answer went out with this protocol error code. */
void
metrics_error(int code)
{
	if (code > 0 && code < METRICS_CODES)
		mc.errors[code]++;
}

/* A batch of poison records was committed (or not) in this time. */
void
metrics_commit(size_t records, double seconds, int ok)
{
	metrics_observe(&mc.commit_seconds, seconds);
	metrics_observe(&mc.commit_records, (double)records);
	if (!ok)
		mc.commit_failures++;
}

/* A connection was accepted (+1) or closed (-1). */
void
metrics_client(int delta)
{
	mc.clients += delta;
}

/* The libvirt connection came up (1) or went down (0). */
void
metrics_libvirt(int connected)
{
	mc.libvirt = connected ? 1 : 0;
}

/* A final sync ended; started is its metrics_now() at the start. */
void
metrics_final_sync(int role, int ok, double started)
{
	if (role != METRICS_SOURCE && role != METRICS_DESTINATION)
		return;
	mc.syncs[role][ok ? 1 : 0]++;
	metrics_observe(&mc.sync_seconds[role], metrics_now() - started);
}

/* --- the store's syncs: a counting pass-through VFS ------------------ */

struct metrics_file {
	sqlite3_file base;
	sqlite3_file *real;	/* the default VFS's file, right after us */
};

static sqlite3_vfs *metrics_vfs_real;
static sqlite3_vfs metrics_vfs;

#define REAL(f) (((struct metrics_file *)(void *)(f))->real)

static int
metrics_f_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int
metrics_f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int
metrics_f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int
metrics_f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

/* The one method that does more than pass through: count the sync
 * (on the loop's thread or the store's writer thread: atomically). */
static int
metrics_f_sync(sqlite3_file *f, int flags)
{
	__atomic_fetch_add(&mc.fsyncs, 1, __ATOMIC_RELAXED);
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int
metrics_f_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int
metrics_f_lock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xLock(REAL(f), lock);
}

static int
metrics_f_unlock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}

static int
metrics_f_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int
metrics_f_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
metrics_f_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
metrics_f_device(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int
metrics_f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend,
    void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int
metrics_f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void
metrics_f_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
metrics_f_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int
metrics_f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	if (REAL(f)->pMethods->iVersion < 3) {
		*pp = NULL;
		return SQLITE_OK;
	}
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int
metrics_f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	if (REAL(f)->pMethods->iVersion < 3)
		return SQLITE_OK;
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods metrics_io = {
	3, metrics_f_close, metrics_f_read, metrics_f_write,
	metrics_f_truncate, metrics_f_sync, metrics_f_size, metrics_f_lock,
	metrics_f_unlock, metrics_f_reserved, metrics_f_control,
	metrics_f_sector, metrics_f_device, metrics_f_shm_map,
	metrics_f_shm_lock, metrics_f_shm_barrier, metrics_f_shm_unmap,
	metrics_f_fetch, metrics_f_unfetch
};

/* Open through the default VFS into the space after our own header. */
static int
metrics_vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
    int flags, int *outflags)
{
	struct metrics_file *mf = (struct metrics_file *)(void *)f;
	int rc;

	mf->real = (sqlite3_file *)(void *)(mf + 1);
	rc = metrics_vfs_real->xOpen(metrics_vfs_real, name, mf->real, flags,
	    outflags);
	/* SQLite closes a file whose pMethods is set, even after an error. */
	mf->base.pMethods = mf->real->pMethods != NULL ? &metrics_io : NULL;
	return rc;
}

/* Make the counting VFS the default, wrapping the current default. */
static void
metrics_vfs_init(void)
{
	if ((metrics_vfs_real = sqlite3_vfs_find(NULL)) == NULL) {
		log_warnx("metrics: no default SQLite VFS; fsyncs not counted");
		return;
	}
	metrics_vfs = *metrics_vfs_real;
	metrics_vfs.zName = "rasd-metrics";
	metrics_vfs.pNext = NULL;
	metrics_vfs.szOsFile = (int)sizeof(struct metrics_file) +
	    metrics_vfs_real->szOsFile;
	metrics_vfs.xOpen = metrics_vfs_open;
	if (sqlite3_vfs_register(&metrics_vfs, 1) != SQLITE_OK)
		log_warnx("metrics: SQLite VFS not registered; fsyncs not "
		    "counted");
}

/* Set the version for rasd_build_info; count syncs if metrics are on. */
void
metrics_init(const char *version, int enabled)
{
	mc.version = version;
	if (enabled)
		metrics_vfs_init();
}

/* --- the page -------------------------------------------------------- */

/* Append s as a label value: backslash, double quote and newline escaped. */
static void
metrics_label(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			evbuffer_add(b, "\\\\", 2);
		else if (*s == '"')
			evbuffer_add(b, "\\\"", 2);
		else if (*s == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, s, 1);
	}
}

/* The HELP and TYPE lines of a family. */
static void
metrics_family(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A histogram's series; labels is "" or 'key="value",'. */
static void
metrics_hist_print(struct evbuffer *b, const char *name, const char *labels,
    const struct metrics_hist *h)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < h->n; i++) {
		cum += h->bucket[i];
		evbuffer_add_printf(b, "%s_bucket{%sle=\"%g\"} %llu\n", name,
		    labels, h->le[i], (unsigned long long)cum);
	}
	evbuffer_add_printf(b, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
	    (unsigned long long)h->count);
	if (labels[0] != '\0')
		evbuffer_add_printf(b, "%s_sum{%.*s} %.9g\n%s_count{%.*s} "
		    "%llu\n", name, (int)strlen(labels) - 1, labels, h->sum,
		    name, (int)strlen(labels) - 1, labels,
		    (unsigned long long)h->count);
	else
		evbuffer_add_printf(b, "%s_sum %.9g\n%s_count %llu\n", name,
		    h->sum, name, (unsigned long long)h->count);
}

/* Forwards, repeats and errors. */
static void
metrics_page_requests(struct evbuffer *b)
{
	const ProtobufCEnumValue *ev;
	int k, a, n;

	metrics_family(b, "rasd_forwards_total", "counter", "Memory-error "
	    "forwards answered with a decision, by kind, action and "
	    "notification type (none: not injected).");
	for (k = RAS_KIND_AR; k <= RAS_KIND_AO; k++)
		for (a = 1; a < METRICS_ACTIONS; a++)
			for (n = 0; n < METRICS_NOTIFY_SLOTS; n++) {
				if (mc.forwards[k][a][n] == 0)
					continue;
				evbuffer_add_printf(b, "rasd_forwards_total{"
				    "kind=\"%s\",action=\"%s\",notify=\"%s\"} "
				    "%llu\n", ras_kind_name(k),
				    ras_action_name(a), n < RAS_NOTIFY_COUNT ?
				    ras_notify_name(n) : "none",
				    (unsigned long long)mc.forwards[k][a][n]);
			}
	metrics_family(b, "rasd_forward_repeats_total", "counter", "Forwards "
	    "of a range already recorded or being recorded: answered, "
	    "nothing new recorded (included in rasd_forwards_total).");
	for (k = RAS_KIND_AR; k <= RAS_KIND_AO; k++)
		evbuffer_add_printf(b, "rasd_forward_repeats_total{kind=\"%s\"} "
		    "%llu\n", ras_kind_name(k), (unsigned long long)mc.repeats[k]);
	metrics_family(b, "rasd_errors_total", "counter", "Error answers to "
	    "any client, by protocol error code.");
	for (k = 1; k < METRICS_CODES; k++) {
		ev = protobuf_c_enum_descriptor_get_value(
		    &ras__error_code__descriptor, k);
		if (ev == NULL)
			continue;
		evbuffer_add_printf(b, "rasd_errors_total{code=\"%s\"} %llu\n",
		    ev->name, (unsigned long long)mc.errors[k]);
	}
}

/* Commits, their latency and size, fsyncs. */
static void
metrics_page_store(struct evbuffer *b)
{
	metrics_family(b, "rasd_store_commit_duration_seconds", "histogram",
	    "Time to make one batch of poison records durable (one "
	    "transaction, one WAL fsync).");
	metrics_hist_print(b, "rasd_store_commit_duration_seconds", "",
	    &mc.commit_seconds);
	metrics_family(b, "rasd_store_commit_records", "histogram",
	    "Poison records per committed batch (group commit: one per "
	    "event-loop turn).");
	metrics_hist_print(b, "rasd_store_commit_records", "",
	    &mc.commit_records);
	metrics_family(b, "rasd_store_commit_failures_total", "counter",
	    "Batches of poison records the store could not write (their "
	    "VMMs got ERR_STORE).");
	evbuffer_add_printf(b, "rasd_store_commit_failures_total %llu\n",
	    (unsigned long long)mc.commit_failures);
	metrics_family(b, "rasd_store_fsyncs_total", "counter", "Syncs of "
	    "the store's files (SQLite's xSync: fsync or fdatasync).");
	evbuffer_add_printf(b, "rasd_store_fsyncs_total %llu\n",
	    (unsigned long long)__atomic_load_n(&mc.fsyncs,
	    __ATOMIC_RELAXED));
}

/* Connections, VMs by state, and each VM's active poison. */
static void
metrics_page_vms(struct evbuffer *b)
{
	uint64_t states[VM_MIGRATED + 1] = { 0 }, vmms = 0;
	const struct vm *vm;
	int s;

	for (vm = vm_first(); vm != NULL; vm = vm->next_all) {
		if (vm->state >= 0 && vm->state <= VM_MIGRATED)
			states[vm->state]++;
		if (vm->client != NULL)
			vmms++;
	}
	metrics_family(b, "rasd_clients", "gauge", "Open connections on "
	    "rasd's sockets (VMMs, rasctl, peers).");
	evbuffer_add_printf(b, "rasd_clients %lld\n", (long long)mc.clients);
	metrics_family(b, "rasd_vmms_connected", "gauge", "VMM connections "
	    "bound to a registered VM.");
	evbuffer_add_printf(b, "rasd_vmms_connected %llu\n",
	    (unsigned long long)vmms);
	metrics_family(b, "rasd_vms", "gauge", "VMs rasd knows, by state.");
	for (s = 0; s <= VM_MIGRATED; s++)
		evbuffer_add_printf(b, "rasd_vms{state=\"%s\"} %llu\n",
		    vm_state_name(s), (unsigned long long)states[s]);
	metrics_family(b, "rasd_vm_poisoned_ranges", "gauge", "Active "
	    "poisoned guest-physical ranges of a VM (coalesced).");
	for (vm = vm_first(); vm != NULL; vm = vm->next_all) {
		evbuffer_add_printf(b, "rasd_vm_poisoned_ranges{vm=\"");
		metrics_label(b, vm->name);
		evbuffer_add_printf(b, "\",uuid=\"%s\"} %zu\n", vm->uuid_str,
		    vm->active.n);
	}
	metrics_family(b, "rasd_vm_poisoned_bytes", "gauge", "Bytes of a "
	    "VM's guest-physical memory that are actively poisoned.");
	for (vm = vm_first(); vm != NULL; vm = vm->next_all) {
		evbuffer_add_printf(b, "rasd_vm_poisoned_bytes{vm=\"");
		metrics_label(b, vm->name);
		evbuffer_add_printf(b, "\",uuid=\"%s\"} %llu\n", vm->uuid_str,
		    (unsigned long long)poison_bytes(&vm->active));
	}
}

/* A VM's uncorrected errors (health_vms). */
static void
metrics_health_vm(void *arg, const uint8_t uuid[16], const char *name,
    uint64_t ue)
{
	struct evbuffer *b = arg;
	char u[37];

	ras_uuid_format(uuid, u);
	evbuffer_add_printf(b, "rasd_vm_uncorrected_errors_total{vm=\"");
	metrics_label(b, name);
	evbuffer_add_printf(b, "\",uuid=\"%s\"} %llu\n", u,
	    (unsigned long long)ue);
}

/* Host memory health (daemon/health.c): state, score, the DIMMs. */
static void
metrics_page_health(struct evbuffer *b)
{
	const struct health_dimm *d;
	unsigned int score;
	uint64_t ok, failed;
	int state, overridden, s;

	state = health_state(&score, &overridden);
	metrics_family(b, "rasd_host_health_state", "gauge", "This host's "
	    "memory health: 1 for the state it is in (healthy, degraded, "
	    "evacuate), 0 for the others.");
	for (s = BUCKET_HEALTHY; s <= BUCKET_EVACUATE; s++)
		evbuffer_add_printf(b, "rasd_host_health_state{state=\"%s\"} "
		    "%d\n", bucket_state_name(s), s == state);
	metrics_family(b, "rasd_host_health_score", "gauge", "100 minus the "
	    "fullest error bucket's percentage of its evacuate threshold.");
	evbuffer_add_printf(b, "rasd_host_health_score %u\n", score);
	metrics_family(b, "rasd_host_health_overridden", "gauge", "Whether "
	    "an operator set the state (1) or the buckets decide (0).");
	evbuffer_add_printf(b, "rasd_host_health_overridden %d\n", overridden);
	metrics_family(b, "rasd_host_uncorrected_errors_total", "counter",
	    "Uncorrected memory errors forwarded and recorded on this host "
	    "(new ranges, AR and AO).");
	evbuffer_add_printf(b, "rasd_host_uncorrected_errors_total %llu\n",
	    (unsigned long long)health_host_ue());
	metrics_family(b, "rasd_vm_uncorrected_errors_total", "counter",
	    "Uncorrected memory errors a VM's VMM forwarded here.");
	health_vms(metrics_health_vm, b);
	metrics_family(b, "rasd_dimm_ce_total", "counter", "Corrected errors "
	    "of a DIMM counted against the thresholds (EDAC or rasdaemon).");
	for (d = health_dimms(); d != NULL; d = d->next) {
		evbuffer_add_printf(b, "rasd_dimm_ce_total{dimm=\"");
		metrics_label(b, d->key);
		evbuffer_add_printf(b, "\"} %llu\n",
		    (unsigned long long)d->ce_total);
	}
	metrics_family(b, "rasd_dimm_ue_total", "counter", "Uncorrected "
	    "errors of a DIMM counted against the thresholds.");
	for (d = health_dimms(); d != NULL; d = d->next) {
		evbuffer_add_printf(b, "rasd_dimm_ue_total{dimm=\"");
		metrics_label(b, d->key);
		evbuffer_add_printf(b, "\"} %llu\n",
		    (unsigned long long)d->ue_total);
	}
	health_polls(&ok, &failed);
	metrics_family(b, "rasd_health_polls_total", "counter", "Polls of "
	    "the DIMM counters, by whether a source could be read.");
	evbuffer_add_printf(b, "rasd_health_polls_total{result=\"ok\"} %llu\n"
	    "rasd_health_polls_total{result=\"failed\"} %llu\n",
	    (unsigned long long)ok, (unsigned long long)failed);
}

/* Final syncs, libvirt, build. */
static void
metrics_page_misc(struct evbuffer *b)
{
	static const char *role[2] = { "source", "destination" };
	char labels[64];
	int r;

	metrics_family(b, "rasd_final_syncs_total", "counter", "Final syncs "
	    "of a migrating VM's state between rasd's, by this rasd's role "
	    "and result.");
	for (r = 0; r < 2; r++) {
		evbuffer_add_printf(b, "rasd_final_syncs_total{role=\"%s\","
		    "result=\"ok\"} %llu\n", role[r],
		    (unsigned long long)mc.syncs[r][1]);
		evbuffer_add_printf(b, "rasd_final_syncs_total{role=\"%s\","
		    "result=\"failed\"} %llu\n", role[r],
		    (unsigned long long)mc.syncs[r][0]);
	}
	metrics_family(b, "rasd_final_sync_duration_seconds", "histogram",
	    "Duration of a final sync: for the destination from asking the "
	    "source to the merged state, for the source the export.");
	for (r = 0; r < 2; r++) {
		snprintf(labels, sizeof labels, "role=\"%s\",", role[r]);
		metrics_hist_print(b, "rasd_final_sync_duration_seconds",
		    labels, &mc.sync_seconds[r]);
	}
	if (mc.libvirt >= 0) {
		metrics_family(b, "rasd_libvirt_connected", "gauge", "Whether "
		    "rasd is connected to the libvirt it watches (1) or not "
		    "(0).");
		evbuffer_add_printf(b, "rasd_libvirt_connected %d\n",
		    mc.libvirt);
	}
	metrics_family(b, "rasd_build_info", "gauge", "The rasd build: "
	    "always 1, the version in a label.");
	evbuffer_add_printf(b, "rasd_build_info{version=\"");
	metrics_label(b, mc.version);
	evbuffer_add_printf(b, "\"} 1\n");
}

/* --- HTTP -------------------------------------------------------------- */

/*
 * A short plain-text answer (evhttp_send_error would drop our headers,
 * and 405 must say Allow).
 */
static void
metrics_http_plain(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	struct evbuffer *b;

	if ((b = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	evbuffer_add_printf(b, "%s\n", text);
	evhttp_add_header(hdr, "Content-Type", "text/plain; charset=utf-8");
	if (code == 405)
		evhttp_add_header(hdr, "Allow", "GET");
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

/* Answer one request: GET /metrics, else 404 or 405. */
static void
metrics_http_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer *b;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		metrics_http_plain(req, HTTP_NOTFOUND, "Not Found",
		    "rasd serves GET /metrics only");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		metrics_http_plain(req, 405, "Method Not Allowed",
		    "rasd serves GET /metrics only");
		return;
	}
	if ((b = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	metrics_page_requests(b);
	metrics_page_store(b);
	metrics_page_vms(b);
	metrics_page_health(b);
	metrics_page_misc(b);
	evhttp_add_header(hdr, "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/* Listen on listen ("ADDR:PORT", "[V6]:PORT") and serve the page. */
int
metrics_start(struct event_base *base, const char *listen_addr)
{
	struct sockaddr_storage ss;
	struct evconnlistener *l;
	int sslen = sizeof ss, fd, on = 1;

	if (listen_addr == NULL || *listen_addr == '\0')
		return 0;
	if (evutil_parse_sockaddr_port(listen_addr, (struct sockaddr *)&ss,
	    &sslen) == -1) {
		log_warnx("metrics: bad metrics_listen address %s",
		    listen_addr);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		log_warn("metrics: socket for %s", listen_addr);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1 ||
	    bind(fd, (struct sockaddr *)&ss, (socklen_t)sslen) == -1 ||
	    listen(fd, 16) == -1) {
		log_warn("metrics: cannot listen on %s (metrics_listen)",
		    listen_addr);
		close(fd);
		return -1;
	}
	l = evconnlistener_new(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (l == NULL || (metrics_http = evhttp_new(base)) == NULL)
		fatalx("metrics: evconnlistener_new/evhttp_new");
	/* Every method reaches the callback, which says 405 itself. */
	evhttp_set_allowed_methods(metrics_http, 0xffff);
	evhttp_set_timeout(metrics_http, METRICS_HTTP_TIMEOUT);
	evhttp_set_max_headers_size(metrics_http, 8192);
	evhttp_set_max_body_size(metrics_http, 4096);
	evhttp_set_gencb(metrics_http, metrics_http_cb, NULL);
	if (evhttp_bind_listener(metrics_http, l) == NULL)
		fatalx("metrics: evhttp_bind_listener");
	log_info("metrics: serving http://%s/metrics", listen_addr);
	return 0;
}

/* Close the listener and any scrape in progress. */
void
metrics_stop(void)
{
	if (metrics_http != NULL)
		evhttp_free(metrics_http);
	metrics_http = NULL;
}
