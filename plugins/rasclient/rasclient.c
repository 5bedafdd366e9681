/*
 * rasclient.c -- the VMM side of rasd: the public API of librasclient.
 *
 * DESIGN: a VMM calls rasc_forward() from its SIGBUS handler, at a moment
 * when the guest must be told something right away and the process may be
 * holding any lock, including malloc's. So everything the handler needs is
 * prepared by rasc_open(): the parsed boot profile, the memory map, the
 * replay ring and the connected socket. The handler records the forward,
 * sends it on the pre-connected socket and waits at most cfg->timeout_ms
 * for the Decision; whenever that fails it closes the socket and answers
 * from the boot profile itself, so the VMM always gets a decision in
 * bounded time. Reconnecting and re-registering need allocation, so they
 * happen only in rasc_service(), from an ordinary thread, which then
 * replays every forward rasd has not acknowledged.
 *
 * A registration after the first successful one says BOOT_RESUME: the
 * guest kept running while rasd was away, and its poison is still active.
 * A guest reset that rasd could not be told about is remembered as a seq
 * boundary, so the replay sends the forwards from before the reset, then
 * the reset, then the rest, and rasd ends with the same state it would
 * have had if it had never gone away.
 */
#include <sys/types.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "hest.h"
#include "rasc_int.h"

#define RASC_REGISTER_OK 0
#define RASC_REGISTER_UNREACHABLE -1
#define RASC_REGISTER_REFUSED -2

/* Log to stderr when RASC_DEBUG=1; never from the handler path. */
void
rasc_debug(struct rasc *c, const char *fmt, ...)
{
	va_list	ap;

	if (c == NULL || !c->debug)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "rasclient[%ld]: ", (long)getpid());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Remember the last error for rasc_strerror(); ordinary threads only. */
void
rasc_seterr(struct rasc *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	rasc_debug(c, "%s", c->err);
}

/*
 * Remember an error from the handler path: a plain byte copy, since
 * snprintf is not async-signal-safe. detail may be NULL.
 */
void
rasc_seterr_safe(struct rasc *c, const char *what, const char *detail)
{
	size_t	n = 0;

	while (*what != '\0' && n < sizeof c->err - 1)
		c->err[n++] = *what++;
	if (detail != NULL && n < sizeof c->err - 3) {
		c->err[n++] = ':';
		c->err[n++] = ' ';
		while (*detail != '\0' && n < sizeof c->err - 1)
			c->err[n++] = *detail++;
	}
	c->err[n] = '\0';
	if (c->debug) {
		(void)!write(STDERR_FILENO, "rasclient: ", 11);
		(void)!write(STDERR_FILENO, c->err, n);
		(void)!write(STDERR_FILENO, "\n", 1);
	}
}

/* Whether an Error answering Register means this VMM must not run. */
static int
rasc_register_fatal(Ras__ErrorCode code)
{
	switch (code) {
	case RAS__ERROR_CODE__ERR_BAD_HEST:
	case RAS__ERROR_CODE__ERR_INVALID:
	case RAS__ERROR_CODE__ERR_BUSY:
	case RAS__ERROR_CODE__ERR_PROFILE_MISMATCH:
	case RAS__ERROR_CODE__ERR_DENIED:
		return 1;
	default:
		return 0;
	}
}


/*
 * The orders rasd decides this VM by, from its registration answer, so
 * that a local fallback answers as rasd would (an older rasd sends none:
 * keep the default). Orders with an unknown type are ignored whole.
 */
static void
rasc_take_policy(struct rasc *c, const Ras__Registered *r)
{
	struct ras_policy	pol;
	size_t			i;

	if (!r->has_ar_order || !r->has_ao_order ||
	    r->ar_order.len > RAS_NOTIFY_COUNT ||
	    r->ao_order.len > RAS_NOTIFY_COUNT)
		return;
	for (i = 0; i < r->ar_order.len; i++)
		if (r->ar_order.data[i] >= RAS_NOTIFY_COUNT)
			return;
	for (i = 0; i < r->ao_order.len; i++)
		if (r->ao_order.data[i] >= RAS_NOTIFY_COUNT)
			return;
	memset(&pol, 0, sizeof pol);
	memcpy(pol.ar_order, r->ar_order.data, r->ar_order.len);
	pol.ar_count = (unsigned int)r->ar_order.len;
	memcpy(pol.ao_order, r->ao_order.data, r->ao_order.len);
	pol.ao_count = (unsigned int)r->ao_order.len;
	rasc_map_set_policy(c, &pol);
}
/* Append a page of ranges to a growing list; -1 when out of memory. */
static int
rasc_active_append(struct rasc_range **list, size_t *n, size_t *cap,
    const Ras__Registered *r)
{
	struct rasc_range	*nl;
	size_t			 i, want;

	if (r->n_active > SIZE_MAX / sizeof **list - *n)
		return -1;
	want = *n + r->n_active;
	if (want > *cap) {
		if (want < r->active_ranges)
			want = r->active_ranges;
		if ((nl = realloc(*list, (want ? want : 1) * sizeof *nl)) ==
		    NULL)
			return -1;
		*list = nl;
		*cap = want;
	}
	for (i = 0; i < r->n_active; i++) {
		(*list)[*n].gpa = r->active[i]->gpa;
		(*list)[*n].length = r->active[i]->length;
		(*list)[*n].kind = (int)r->active[i]->kind;
		(*n)++;
	}
	return 0;
}

/*
 * Keep every active range rasd reported: the first ones came with first
 * (Registered), the rest are asked for page by page (ActiveQuery), each
 * answer within the timeout. If the set changes meanwhile (its generation
 * moves), start again. With the socket lock held, from an ordinary thread
 * (it allocates). 0, or -1 with the error set.
 */
static int
rasc_take_active(struct rasc *c, const Ras__Registered *first, uint8_t *rx,
    uint8_t *mem)
{
	Ras__Request		 req = RAS__REQUEST__INIT;
	Ras__ActiveQuery	 q = RAS__ACTIVE_QUERY__INIT;
	Ras__Response		*resp;
	const Ras__Registered	*page = first;
	struct rasc_arena	 arena;
	struct rasc_range	*list = NULL, *old;
	uint8_t			 tx[RASC_TX_SMALL];
	uint64_t		 gen = first->generation;
	size_t			 n = 0, cap = 0;
	int			 tries = 0;

	q.uuid.data = c->uuid;
	q.uuid.len = sizeof c->uuid;
	req.body_case = RAS__REQUEST__BODY_ACTIVE_QUERY;
	req.active_query = &q;
	for (;;) {
		if (rasc_active_append(&list, &n, &cap, page) == -1) {
			rasc_seterr(c, "out of memory for %u active ranges",
			    page->active_ranges);
			goto fail;
		}
		if (!page->has_active_more || !page->active_more)
			break;
		q.from_gpa = page->active_next;
		/* the first page lives in the caller's arena: keep it */
		rasc_wire_arena(&arena, mem + RASC_REGISTER_ARENA / 2,
		    RASC_REGISTER_ARENA / 2);
		resp = rasc_wire_call(c, &req, tx, sizeof tx, rx, FRAME_MAX,
		    &arena, rasc_wire_now() + c->timeout_ms);
		if (resp == NULL || resp->body_case !=
		    RAS__RESPONSE__BODY_ACTIVE_PAGE || resp->active_page ==
		    NULL) {
			rasc_seterr(c, "active ranges from gpa 0x%llx: %s",
			    (unsigned long long)q.from_gpa, resp == NULL ?
			    "no answer from rasd" : resp->body_case ==
			    RAS__RESPONSE__BODY_ERROR && resp->error != NULL ?
			    resp->error->message : "unexpected answer");
			goto fail;
		}
		page = resp->active_page;
		if (page->generation != gen) {
			if (++tries >= RASC_PAGE_TRIES) {
				rasc_seterr(c, "active ranges keep changing "
				    "while being listed");
				goto fail;
			}
			gen = page->generation;
			n = 0;
			if (q.from_gpa != 0) {
				/* start again from the first range */
				q.from_gpa = 0;
				resp = rasc_wire_call(c, &req, tx, sizeof tx,
				    rx, FRAME_MAX, &arena, rasc_wire_now() +
				    c->timeout_ms);
				if (resp == NULL || resp->body_case !=
				    RAS__RESPONSE__BODY_ACTIVE_PAGE ||
				    resp->active_page == NULL) {
					rasc_seterr(c, "active ranges: no "
					    "answer from rasd");
					goto fail;
				}
				page = resp->active_page;
				gen = page->generation;
			}
		}
	}
	pthread_mutex_lock(&c->map_lock);
	old = c->active;
	c->active = list;
	c->nactive = (unsigned int)n;
	c->generation = gen;
	pthread_mutex_unlock(&c->map_lock);
	free(old);
	return 0;
fail:
	free(list);
	return -1;
}

/*
 * Connect if needed and register, with the socket lock held. Returns
 * RASC_REGISTER_OK, _UNREACHABLE (socket closed, try again later) or
 * _REFUSED (rasd said no for a reason retrying will not fix).
 */
static int
rasc_register(struct rasc *c)
{
	Ras__Request		 req = RAS__REQUEST__INIT;
	Ras__Register		 reg = RAS__REGISTER__INIT;
	Ras__Slot		 slotmsg[RASC_MAX_SLOTS], *slotp[RASC_MAX_SLOTS];
	Ras__Source		 srcmsg[RAS_PROFILE_MAX], *srcp[RAS_PROFILE_MAX];
	Ras__Response		*resp;
	struct rasc_slot	 slots[RASC_MAX_SLOTS];
	struct rasc_arena	 arena;
	uint8_t			*tx = NULL, *rx = NULL, *mem = NULL;
	size_t			 txsize;
	unsigned long		 lost, dropped;
	unsigned int		 pending;
	unsigned int		 i, n;
	int64_t			 deadline;
	int			 fd, rc = RASC_REGISTER_UNREACHABLE, boot;

	deadline = rasc_wire_now() + c->timeout_ms;
	if (atomic_load(&c->fd) == -1) {
		if ((fd = rasc_wire_connect(c->path, deadline)) == -1) {
			rasc_seterr(c, "connect %s: %s", c->path,
			    strerror(errno));
			goto out;
		}
		atomic_store(&c->fd, fd);
	}

	reg.uuid.data = c->uuid;
	reg.uuid.len = sizeof c->uuid;
	reg.name = c->name;
	reg.arch = c->arch;
	if (c->hest != NULL) {
		reg.has_hest = 1;
		reg.hest.data = c->hest;
		reg.hest.len = c->hest_len;
	} else {
		for (i = 0; i < c->profile.count; i++) {
			ras__source__init(&srcmsg[i]);
			srcmsg[i].source_id = c->profile.src[i].source_id;
			srcmsg[i].notify = c->profile.src[i].notify;
			srcp[i] = &srcmsg[i];
		}
		reg.n_declared = c->profile.count;
		reg.declared = srcp;
	}
	n = rasc_map_copy(c, slots);
	for (i = 0; i < n; i++) {
		ras__slot__init(&slotmsg[i]);
		slotmsg[i].gpa = slots[i].gpa;
		slotmsg[i].hva = slots[i].hva;
		slotmsg[i].size = slots[i].size;
		slotp[i] = &slotmsg[i];
	}
	reg.n_slots = n;
	reg.slots = slotp;
	reg.caps = c->caps;
	if (c->observing) {
		reg.has_observing = 1;
		reg.observing = 1;
	}
	if (c->cpu_vendor != RASC_CPU_UNKNOWN) {
		reg.has_cpu_vendor = 1;
		reg.cpu_vendor = c->cpu_vendor;
	}
	reg.pid = (uint32_t)getpid();
	/* What the full ring dropped since rasd last heard: it says so. */
	lost = atomic_load(&c->lost);
	if (lost != 0) {
		reg.has_lost_decisions = reg.has_lost_total = 1;
		reg.lost_decisions = lost - c->lost_reported;
		reg.lost_total = lost;
	}
	/* What rasd must still hear of before it may hand the VM off. */
	reg.has_pending = 1;
	reg.pending = pending = rasc_ring_pending(c);
	if ((dropped = atomic_load(&c->dropped)) != 0) {
		reg.has_dropped_total = 1;
		reg.dropped_total = dropped;
	}
	boot = c->ever_registered || c->resume;
	reg.has_boot = 1;
	reg.boot = boot ? RAS__BOOT_MODE__BOOT_RESUME :
	    RAS__BOOT_MODE__BOOT_FRESH;
	req.body_case = RAS__REQUEST__BODY_REGISTER;
	req.register_ = &reg;

	/* The HEST makes Register the one message without a small bound. */
	txsize = FRAME_HDR_LEN + 64 +
	    protobuf_c_message_get_packed_size(&req.base);
	/* Registered lists the VM's active ranges: it may be large, and
	 * this is an ordinary thread, so use the heap. */
	if ((tx = malloc(txsize)) == NULL || (rx = malloc(FRAME_MAX)) ==
	    NULL || (mem = malloc(RASC_REGISTER_ARENA)) == NULL) {
		rasc_seterr(c, "out of memory");
		goto out;
	}
	rasc_wire_arena(&arena, mem, RASC_REGISTER_ARENA);
	resp = rasc_wire_call(c, &req, tx, txsize, rx, FRAME_MAX, &arena,
	    deadline);
	if (resp == NULL) {
		rasc_seterr(c, "register with rasd at %s: no answer within "
		    "%d ms", c->path, c->timeout_ms);
		goto out;
	}
	if (resp->body_case == RAS__RESPONSE__BODY_ERROR &&
	    resp->error != NULL) {
		rasc_seterr(c, "rasd refused registration: %s",
		    resp->error->message != NULL ? resp->error->message : "?");
		if (rasc_register_fatal(resp->error->code))
			rc = RASC_REGISTER_REFUSED;
		goto out;
	}
	if (resp->body_case != RAS__RESPONSE__BODY_REGISTERED ||
	    resp->registered == NULL) {
		rasc_seterr(c, "register: unexpected answer from rasd");
		goto out;
	}
	c->generation = resp->registered->generation;
	rasc_take_policy(c, resp->registered);
	if (rasc_take_active(c, resp->registered, rx, mem) == -1)
		goto out;
	c->lost_reported = lost;
	c->told_pending = pending > 0;
	c->ever_registered = 1;
	atomic_store(&c->registered, 1);
	rasc_debug(c, "registered %s (%s), generation %llu, %u active ranges",
	    c->name, boot ? "resume" : "fresh",
	    (unsigned long long)c->generation,
	    resp->registered->active_ranges);
	rc = RASC_REGISTER_OK;

out:
	if (rc != RASC_REGISTER_OK)
		rasc_wire_disconnect(c);
	free(tx);
	free(rx);
	free(mem);
	return rc;
}

/*
 * Send a body-only request (GuestReset, Unregister, SetSlots) and wait for
 * its Ack, with the socket lock held. Returns 0 on Ack, -1 if rasd answered
 * with an Error, -2 if the connection failed (it is then closed).
 */
static int
rasc_simple_call(struct rasc *c, Ras__Request *req, const char *what)
{
	Ras__Response		*resp;
	struct rasc_arena	 arena;
	uint8_t			 tx[RASC_TX_SMALL + RASC_MAX_SLOTS * 40];
	uint8_t			 rx[RASC_RX_MAX], mem[RASC_ARENA_SIZE];

	rasc_wire_arena(&arena, mem, sizeof mem);
	resp = rasc_wire_call(c, req, tx, sizeof tx, rx, sizeof rx, &arena,
	    rasc_wire_now() + c->timeout_ms);
	if (resp == NULL) {
		rasc_seterr(c, "%s: no answer from rasd", what);
		rasc_wire_disconnect(c);
		return -2;
	}
	if (resp->body_case == RAS__RESPONSE__BODY_ACK)
		return 0;
	if (resp->body_case == RAS__RESPONSE__BODY_ERROR &&
	    resp->error != NULL) {
		rasc_seterr(c, "%s: %s", what, resp->error->message != NULL ?
		    resp->error->message : "?");
		if (resp->error->code == RAS__ERROR_CODE__ERR_NOT_REGISTERED)
			rasc_wire_disconnect(c);
		return -1;
	}
	rasc_seterr(c, "%s: unexpected answer from rasd", what);
	rasc_wire_disconnect(c);
	return -2;
}

/* Check cfg and fill the fixed part of c; returns -1 with a reason. */
static int
rasc_configure(struct rasc *c, const struct rasc_config *cfg, char *err,
    size_t errlen)
{
	const struct rasc_declared	*d;
	char				 path[4096], why[256];
	unsigned int			 i;
	int				 arch;

	if (cfg->name == NULL || *cfg->name == '\0') {
		snprintf(err, errlen, "no VM name");
		return -1;
	}
	if (cfg->arch == NULL || (arch = ras_arch_from_name(cfg->arch)) <= 0) {
		snprintf(err, errlen, "unknown architecture \"%s\" (arm64 or "
		    "x86_64)", cfg->arch != NULL ? cfg->arch : "");
		return -1;
	}
	c->arch = (uint32_t)arch;
	if (cfg->timeout_ms < 0) {
		snprintf(err, errlen, "negative timeout");
		return -1;
	}
	c->timeout_ms = cfg->timeout_ms == 0 ? RASC_TIMEOUT_DEFAULT :
	    cfg->timeout_ms;
	if (rasc_map_check(cfg->slots, cfg->slot_count, err, errlen) == -1)
		return -1;

	if (cfg->hest != NULL && cfg->hest_len != 0) {
		if (cfg->declared_count != 0) {
			snprintf(err, errlen, "both a HEST and a declared "
			    "profile");
			return -1;
		}
		if (hest_parse(cfg->hest, cfg->hest_len, &c->profile, why,
		    sizeof why) == -1) {
			snprintf(err, errlen, "bad HEST: %s", why);
			return -1;
		}
		if ((c->hest = malloc(cfg->hest_len)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		memcpy(c->hest, cfg->hest, cfg->hest_len);
		c->hest_len = cfg->hest_len;
	} else if (cfg->declared != NULL && cfg->declared_count != 0) {
		if (cfg->declared_count > RASC_MAX_DECLARED ||
		    cfg->declared_count > RAS_PROFILE_MAX) {
			snprintf(err, errlen, "%u declared sources (at most %u)",
			    cfg->declared_count, RASC_MAX_DECLARED);
			return -1;
		}
		for (i = 0; i < cfg->declared_count; i++) {
			d = &cfg->declared[i];
			if (d->notify >= RAS_NOTIFY_COUNT) {
				snprintf(err, errlen, "declared source %u: "
				    "unknown notification type %u",
				    d->source_id, d->notify);
				return -1;
			}
			c->profile.src[i].source_id = d->source_id;
			c->profile.src[i].notify = d->notify;
			c->profile.src[i].hest_type = 0xff;
		}
		c->profile.count = cfg->declared_count;
		c->declared = 1;
	} else {
		snprintf(err, errlen, "no boot profile (neither HEST nor "
		    "declared sources)");
		return -1;
	}

	if (cfg->socket_path != NULL) {
		if (strlen(cfg->socket_path) >= 108) {
			snprintf(err, errlen, "socket path too long");
			return -1;
		}
		c->path = strdup(cfg->socket_path);
	} else {
		if (ras_default_socket(path, sizeof path) == -1) {
			snprintf(err, errlen, "default socket path too long");
			return -1;
		}
		c->path = strdup(path);
	}
	if (c->path == NULL || (c->name = strdup(cfg->name)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(c->uuid, cfg->uuid, sizeof c->uuid);
	c->caps = cfg->caps;
	if (cfg->cpu_vendor < RASC_CPU_UNKNOWN ||
	    cfg->cpu_vendor > RASC_CPU_AMD) {
		snprintf(err, errlen, "unknown CPU vendor %d (0 unknown, 1 "
		    "Intel, 2 AMD)", cfg->cpu_vendor);
		return -1;
	}
	c->cpu_vendor = (uint32_t)cfg->cpu_vendor;
	c->observing = cfg->observing != 0;
	c->resume = cfg->resume != 0;
	/* rasd's default until its registration answer says otherwise. */
	policy_default(&c->map[0].policy);
	c->map[1].policy = c->map[0].policy;
	return 0;
}

/* Free a handle; the service thread must already be stopped. */
static void
rasc_free(struct rasc *c)
{
	if (c == NULL)
		return;
	if (atomic_load(&c->fd) != -1)
		close(atomic_load(&c->fd));
	pthread_mutex_destroy(&c->map_lock);
	pthread_mutex_destroy(&c->thread_lock);
	pthread_cond_destroy(&c->thread_cond);
	free(c->hest);
	free(c->path);
	free(c->name);
	free(c->active);
	free(c);
}

/* Parse the profile, connect and register; see rasclient.h. */
struct rasc *
rasc_open(const struct rasc_config *cfg, char *err, size_t errlen)
{
	struct rasc		*c;
	pthread_condattr_t	 ca;
	sigset_t		 old;
	const char		*dbg;
	char			 dummy[1];
	int			 rc;

	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = '\0';
	if (cfg == NULL) {
		snprintf(err, errlen, "no configuration");
		return NULL;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&c->fd, -1);
	atomic_init(&c->next_id, 1);
	atomic_init(&c->next_seq, 1);
	pthread_mutex_init(&c->map_lock, NULL);
	pthread_mutex_init(&c->thread_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->thread_cond, &ca);
	pthread_condattr_destroy(&ca);
	dbg = getenv("RASC_DEBUG");
	c->debug = dbg != NULL && strcmp(dbg, "1") == 0;

	if (rasc_configure(c, cfg, err, errlen) == -1)
		goto fail;
	rasc_map_set(c, cfg->slots, cfg->slot_count);

	rasc_lock(c, &old);
	rc = rasc_register(c);
	rasc_unlock(c, &old);
	if (rc == RASC_REGISTER_REFUSED) {
		snprintf(err, errlen, "%s", c->err);
		goto fail;
	}
	if (rc == RASC_REGISTER_UNREACHABLE)
		rasc_debug(c, "rasd unreachable, starting disconnected");
	return c;

fail:
	rasc_free(c);
	return NULL;
}

/* Copy rasd's Decision into the public structure. */
static void
rasc_decision_copy(const Ras__Decision *d, struct rasc_decision *out)
{
	memset(out, 0, sizeof *out);
	out->action = (int)d->action;
	out->notify = d->has_notify ? (int)d->notify : RASC_NOTIFY_NONE;
	out->source_id = d->has_source_id ? (int)d->source_id : -1;
	out->gpa = d->gpa;
	out->length = d->length;
	out->from_rasd = 1;
	out->repeat = d->repeat != 0;
	if (d->has_cper && d->cper.len <= sizeof out->cper) {
		memcpy(out->cper, d->cper.data, d->cper.len);
		out->cper_len = d->cper.len;
	}
	out->mce_status = d->has_mce_status ? d->mce_status : 0;
	out->mcg_status = d->has_mcg_status ? d->mcg_status : 0;
	out->mce_misc = d->has_mce_misc ? d->mce_misc : 0;
	out->addr = d->has_addr ? d->addr : d->gpa;
	out->mce_bank = d->has_mce_bank ? (int)d->mce_bank : 0;
	out->mce_broadcast = d->has_mce_broadcast && d->mce_broadcast;
	out->read_ack = d->has_read_ack && d->read_ack;
}

/*
 * What an Error answering a forward means for the forward. Returns 1 if
 * the entry is done (rasd answered for good), 0 if it must be replayed;
 * *drop says the connection is no longer usable for this VM.
 */
static int
rasc_forward_error(Ras__ErrorCode code, int *drop)
{
	*drop = 0;
	switch (code) {
	case RAS__ERROR_CODE__ERR_NOT_REGISTERED:
	case RAS__ERROR_CODE__ERR_WRONG_VM:
		*drop = 1;
		return 0;
	case RAS__ERROR_CODE__ERR_STORE:
	case RAS__ERROR_CODE__ERR_BUSY:
		return 0;
	default:
		return 1;
	}
}

/*
 * Send one forward and wait for its answer, with the socket lock held.
 * Returns 0 with rasd's decision in *out, 1 if the entry must stay for
 * replay (socket closed if it failed), 2 if rasd answered with an Error
 * that settles the forward (*code says which).
 */
static int
rasc_forward_send(struct rasc *c, uint32_t kind, uint64_t hva, uint32_t lsb,
    uint32_t flags, uint64_t seq, int64_t deadline, struct rasc_decision *out,
    Ras__ErrorCode *code)
{
	Ras__Request		 req = RAS__REQUEST__INIT;
	Ras__Forward		 fwd = RAS__FORWARD__INIT;
	Ras__Response		*resp;
	struct rasc_arena	 arena;
	uint8_t			 tx[RASC_TX_SMALL], rx[RASC_RX_MAX];
	uint8_t			 mem[RASC_ARENA_SIZE];
	int			 drop;

	fwd.uuid.data = c->uuid;
	fwd.uuid.len = sizeof c->uuid;
	fwd.kind = kind;
	fwd.hva = hva;
	fwd.lsb = lsb;
	fwd.has_seq = 1;
	fwd.seq = seq;
	fwd.has_irq_masked = 1;
	fwd.irq_masked = (flags & RASC_F_IRQ_UNMASKED) == 0;
	req.body_case = RAS__REQUEST__BODY_FORWARD;
	req.forward = &fwd;

	rasc_wire_arena(&arena, mem, sizeof mem);
	resp = rasc_wire_call(c, &req, tx, sizeof tx, rx, sizeof rx, &arena,
	    deadline);
	if (resp == NULL) {
		rasc_seterr_safe(c, "forward: rasd did not answer in time",
		    NULL);
		rasc_wire_disconnect(c);
		return 1;
	}
	if (resp->body_case == RAS__RESPONSE__BODY_DECISION &&
	    resp->decision != NULL) {
		rasc_decision_copy(resp->decision, out);
		return 0;
	}
	if (resp->body_case == RAS__RESPONSE__BODY_ERROR &&
	    resp->error != NULL) {
		*code = resp->error->code;
		rasc_seterr_safe(c, "forward refused by rasd",
		    resp->error->message);
		if (rasc_forward_error(resp->error->code, &drop)) {
			rasc_ring_ack(c, seq);
			return 2;
		}
		if (drop)
			rasc_wire_disconnect(c);
		return 1;
	}
	rasc_seterr_safe(c, "forward: unexpected answer from rasd", NULL);
	rasc_wire_disconnect(c);
	return 1;
}

/* Forward one memory error; see rasclient.h. Async-signal-safe. */
int
rasc_forward(struct rasc *c, int kind, const void *addr, int lsb,
    struct rasc_decision *out)
{
	return rasc_forward_ex(c, kind, addr, lsb, 0, out);
}

/* Forward one memory error with flags; see rasclient.h. */
int
rasc_forward_ex(struct rasc *c, int kind, const void *addr, int lsb,
    unsigned int flags, struct rasc_decision *out)
{
	struct rasc_decision	 local;
	struct rasc_entry	*e;
	Ras__ErrorCode		 code = RAS__ERROR_CODE__ERR_NONE;
	uint64_t		 hva = (uint64_t)(uintptr_t)addr, seq;
	int64_t			 deadline;
	int			 saved_errno = errno, lrc, rc, online;

	if (out == NULL)
		return -1;
	if (c == NULL || (kind != RASC_KIND_AR && kind != RASC_KIND_AO)) {
		memset(out, 0, sizeof *out);
		out->action = kind == RASC_KIND_AO ? RASC_ACTION_IGNORE :
		    RASC_ACTION_STOP_VM;
		out->notify = RASC_NOTIFY_NONE;
		out->source_id = -1;
		return -1;
	}
	if (lsb < 0 || lsb > 63)
		lsb = 0;
	deadline = rasc_wire_now() + c->timeout_ms;
	lrc = rasc_map_decide(c, kind, hva, lsb, flags, &local);
	/* After an undelivered reset, new forwards must wait behind it. */
	online = atomic_load(&c->registered) &&
	    atomic_load(&c->reset_seq) == 0;

	/* An address in no slot is kept only if rasd can judge it now. */
	if (lrc == -1 && !online) {
		*out = local;
		errno = saved_errno;
		return -1;
	}
	e = rasc_ring_claim(c, kind, hva, lsb, flags,
	    online ? RASC_ENTRY_INFLIGHT : RASC_ENTRY_PENDING, &seq);
	if (!online)
		goto fallback;

	if (rasc_lock_try(c, deadline) == -1) {
		rasc_seterr_safe(c, "forward: socket busy", NULL);
		rasc_ring_defer(c, e);
		goto fallback;
	}
	if (!atomic_load(&c->registered) || atomic_load(&c->reset_seq) != 0) {
		rasc_lock_release(c);
		rasc_ring_defer(c, e);
		goto fallback;
	}
	rc = rasc_forward_send(c, (uint32_t)kind, hva, (uint32_t)lsb, flags,
	    seq, deadline, out, &code);
	if (rc == 1)
		rasc_ring_defer(c, e);
	rasc_lock_release(c);
	if (rc == 0) {
		errno = saved_errno;
		return 0;
	}
	if (rc == 2 && code == RAS__ERROR_CODE__ERR_OUT_OF_RANGE &&
	    lrc == -1) {
		*out = local;
		errno = saved_errno;
		return -1;
	}

fallback:
	*out = local;
	errno = saved_errno;
	return lrc == -1 ? -1 : 1;
}

/* The local decision alone; see rasclient.h. Async-signal-safe. */
int
rasc_fallback(struct rasc *c, int kind, const void *addr, int lsb,
    struct rasc_decision *out)
{
	return rasc_fallback_ex(c, kind, addr, lsb, 0, out);
}

/* The local decision alone, with flags; see rasclient.h. */
int
rasc_fallback_ex(struct rasc *c, int kind, const void *addr, int lsb,
    unsigned int flags, struct rasc_decision *out)
{
	if (out == NULL)
		return -1;
	if (c == NULL || (kind != RASC_KIND_AR && kind != RASC_KIND_AO)) {
		memset(out, 0, sizeof *out);
		out->action = kind == RASC_KIND_AO ? RASC_ACTION_IGNORE :
		    RASC_ACTION_STOP_VM;
		out->notify = RASC_NOTIFY_NONE;
		out->source_id = -1;
		return -1;
	}
	return rasc_map_decide(c, kind, (uint64_t)(uintptr_t)addr, lsb, flags,
	    out);
}

/*
 * Replay the oldest unacknowledged forward below limit (0: any). Returns 1
 * if one was replayed and acknowledged, 0 if there is none left, -1 if the
 * connection failed or rasd cannot take it now.
 */
static int
rasc_replay_one(struct rasc *c, uint64_t limit)
{
	struct rasc_decision	 d;
	struct rasc_entry	*e;
	Ras__ErrorCode		 code = RAS__ERROR_CODE__ERR_NONE;
	sigset_t		 old;
	int			 rc;

	rasc_lock(c, &old);
	if (!atomic_load(&c->registered)) {
		rasc_unlock(c, &old);
		return -1;
	}
	if ((e = rasc_ring_oldest(c, limit)) == NULL) {
		rasc_unlock(c, &old);
		return 0;
	}
	rc = rasc_forward_send(c, e->kind, e->hva, e->lsb, e->flags,
	    atomic_load(&e->seq), rasc_wire_now() + c->timeout_ms, &d, &code);
	if (rc == 0)
		rasc_ring_ack(c, atomic_load(&e->seq));
	rasc_unlock(c, &old);
	if (rc == 1)
		return -1;
	if (rc == 2)
		rasc_debug(c, "replayed forward refused: %s", c->err);
	return 1;
}

/* Deliver a guest reset rasd missed; returns 0 once rasd acknowledged it. */
static int
rasc_replay_reset(struct rasc *c, uint64_t boundary)
{
	Ras__Request	req = RAS__REQUEST__INIT;
	Ras__GuestReset	rst = RAS__GUEST_RESET__INIT;
	sigset_t	old;
	uint64_t	expected = boundary;
	int		rc;

	rst.uuid.data = c->uuid;
	rst.uuid.len = sizeof c->uuid;
	req.body_case = RAS__REQUEST__BODY_RESET;
	req.reset = &rst;

	rasc_lock(c, &old);
	rc = atomic_load(&c->registered) ?
	    rasc_simple_call(c, &req, "guest reset") : -2;
	if (rc == 0)
		atomic_compare_exchange_strong(&c->reset_seq, &expected, 0);
	rasc_unlock(c, &old);
	return rc == 0 ? 0 : -1;
}

/*
 * Tell rasd that nothing is pending any more, once a registration said
 * something was and the replay has emptied the ring and the VMM's own
 * queue (rasc_ring.c, DESIGN). Checked under the socket lock, so no
 * forward of ours is on the wire meanwhile.
 */
static void
rasc_send_status(struct rasc *c)
{
	Ras__Request	req = RAS__REQUEST__INIT;
	Ras__VmmStatus	st = RAS__VMM_STATUS__INIT;
	sigset_t	old;
	unsigned long	lost, dropped;

	rasc_lock(c, &old);
	if (!c->told_pending || !atomic_load(&c->registered) ||
	    rasc_ring_pending(c) != 0) {
		rasc_unlock(c, &old);
		return;
	}
	st.uuid.data = c->uuid;
	st.uuid.len = sizeof c->uuid;
	st.pending = 0;
	if ((lost = atomic_load(&c->lost)) != 0) {
		st.has_lost_total = 1;
		st.lost_total = lost;
	}
	if ((dropped = atomic_load(&c->dropped)) != 0) {
		st.has_dropped_total = 1;
		st.dropped_total = dropped;
	}
	req.body_case = RAS__REQUEST__BODY_VMM_STATUS;
	req.vmm_status = &st;
	if (rasc_simple_call(c, &req, "status") == 0) {
		c->told_pending = 0;
		rasc_debug(c, "told rasd: nothing pending");
	}
	rasc_unlock(c, &old);
}

/* Reconnect, re-register and replay; see rasclient.h. */
int
rasc_service(struct rasc *c)
{
	sigset_t	old;
	uint64_t	boundary;
	int		rc;

	if (c == NULL)
		return -1;
	rasc_lock(c, &old);
	if (atomic_load(&c->registered) && rasc_wire_drain(c) == -1) {
		rasc_debug(c, "rasd closed the connection");
		rasc_wire_disconnect(c);
	}
	rc = RASC_REGISTER_OK;
	if (!atomic_load(&c->registered))
		rc = rasc_register(c);
	rasc_unlock(c, &old);
	if (rc != RASC_REGISTER_OK)
		return -1;

	if ((boundary = atomic_load(&c->reset_seq)) != 0) {
		while ((rc = rasc_replay_one(c, boundary)) == 1)
			;
		if (rc == -1 || rasc_replay_reset(c, boundary) == -1)
			return atomic_load(&c->registered) ?
			    rasc_ring_count(c) : -1;
	}
	while ((rc = rasc_replay_one(c, 0)) == 1)
		;
	if (rc == -1 && !atomic_load(&c->registered))
		return -1;
	rasc_send_status(c);
	return rasc_ring_count(c);
}

/* Body of the service thread: service, then sleep until stopped. */
static void *
rasc_thread_main(void *arg)
{
	struct rasc	*c = arg;
	struct timespec	 ts;
	int		 stop;

	for (;;) {
		rasc_service(c);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += c->interval_ms / 1000;
		ts.tv_nsec += (long)(c->interval_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&c->thread_lock);
		while (!c->thread_stop &&
		    pthread_cond_timedwait(&c->thread_cond, &c->thread_lock,
		    &ts) == 0)
			;
		stop = c->thread_stop;
		pthread_mutex_unlock(&c->thread_lock);
		if (stop)
			break;
	}
	return NULL;
}

/*
 * Start the service thread. It runs with every signal blocked, so the
 * VMM's signals (and memory errors meant for vCPU threads) go elsewhere.
 */
int
rasc_start_thread(struct rasc *c, int interval_ms)
{
	sigset_t	all, old;
	int		error;

	if (c == NULL || interval_ms <= 0)
		return -1;
	if (c->thread_started) {
		rasc_seterr(c, "service thread already running");
		return -1;
	}
	c->interval_ms = interval_ms;
	c->thread_stop = 0;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	error = pthread_create(&c->thread, NULL, rasc_thread_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (error != 0) {
		rasc_seterr(c, "pthread_create: %s", strerror(error));
		return -1;
	}
	c->thread_started = 1;
	return 0;
}

/*
 * Tell rasd the guest was reset; see rasclient.h. The reset is queued as a
 * seq boundary and delivered by rasc_service(), so forwards rasd has not
 * seen yet reach it first. Returns 0 once delivered or while rasd is
 * unreachable (delivered on reconnect), -1 if rasd refused it.
 */
int
rasc_guest_reset(struct rasc *c)
{
	if (c == NULL)
		return -1;
	atomic_store(&c->reset_seq, atomic_load(&c->next_seq));
	if (rasc_service(c) == -1) {
		rasc_debug(c, "guest reset kept until rasd is back");
		return 0;
	}
	return atomic_load(&c->reset_seq) == 0 ? 0 : -1;
}

/* Replace the memory map; see rasclient.h. */
int
rasc_set_slots(struct rasc *c, const struct rasc_slot *slots,
    unsigned int count)
{
	Ras__Request	 req = RAS__REQUEST__INIT;
	Ras__SetSlots	 ss = RAS__SET_SLOTS__INIT;
	Ras__Slot	 slotmsg[RASC_MAX_SLOTS], *slotp[RASC_MAX_SLOTS];
	sigset_t	 old;
	unsigned int	 i;
	int		 rc = 0;

	if (c == NULL)
		return -1;
	if (rasc_map_check(slots, count, c->err, sizeof c->err) == -1)
		return -1;
	for (i = 0; i < count; i++) {
		ras__slot__init(&slotmsg[i]);
		slotmsg[i].gpa = slots[i].gpa;
		slotmsg[i].hva = slots[i].hva;
		slotmsg[i].size = slots[i].size;
		slotp[i] = &slotmsg[i];
	}
	ss.uuid.data = c->uuid;
	ss.uuid.len = sizeof c->uuid;
	ss.n_slots = count;
	ss.slots = slotp;
	req.body_case = RAS__REQUEST__BODY_SET_SLOTS;
	req.set_slots = &ss;

	/*
	 * Under the socket lock, so no forward is in flight between the local
	 * table and rasd's changing; a re-registration sends the new map.
	 */
	rasc_lock(c, &old);
	rasc_map_set(c, slots, count);
	if (atomic_load(&c->registered))
		rc = rasc_simple_call(c, &req, "set slots");
	rasc_unlock(c, &old);
	return rc == -1 ? -1 : 0;
}

/* 1 while connected and registered. */
int
rasc_connected(struct rasc *c)
{
	return c != NULL && atomic_load(&c->registered) &&
	    atomic_load(&c->fd) != -1;
}

/* Number of forwards not yet acknowledged. */
int
rasc_pending(struct rasc *c)
{
	return c == NULL ? 0 : rasc_ring_count(c);
}

/*
 * The VMM keeps a memory error it has not forwarded yet (delta 1), or
 * forwarded or gave up one it kept (-1); see rasclient.h.
 * Async-signal-safe.
 */
void
rasc_note_held(struct rasc *c, int delta)
{
	if (c == NULL || delta == 0)
		return;
	atomic_fetch_add(&c->held, delta);
	if (delta > 0)
		rasc_ring_unsynced(c);
}

/*
 * The VMM could neither forward nor keep n memory errors; see
 * rasclient.h. Async-signal-safe.
 */
void
rasc_note_dropped(struct rasc *c, unsigned int n)
{
	if (c == NULL || n == 0)
		return;
	atomic_fetch_add(&c->dropped, n);
	rasc_ring_unsynced(c);
}

/* Poisoned ranges the VMM cannot re-arm; see rasclient.h. */
int
rasc_report_rearm(struct rasc *c, unsigned int checked,
    const struct rasc_rearm_failure *f, unsigned int n, int released)
{
	Ras__Request		 req = RAS__REQUEST__INIT;
	Ras__RearmCheck		 rc = RAS__REARM_CHECK__INIT;
	Ras__RearmFailure	 fm[RASC_REARM_REPORT_MAX];
	Ras__RearmFailure	*fp[RASC_REARM_REPORT_MAX];
	sigset_t		 old;
	unsigned int		 i;
	int			 r = -1;

	if (c == NULL)
		return -1;
	if (n > RASC_REARM_REPORT_MAX)
		n = RASC_REARM_REPORT_MAX;
	for (i = 0; i < n; i++) {
		ras__rearm_failure__init(&fm[i]);
		fm[i].gpa = f[i].gpa;
		fm[i].length = f[i].length;
		fm[i].reason = (char *)(uintptr_t)f[i].reason;
		fp[i] = &fm[i];
	}
	rc.uuid.data = c->uuid;
	rc.uuid.len = sizeof c->uuid;
	rc.checked = checked;
	rc.n_failures = n;
	rc.failures = fp;
	if (released) {
		rc.has_released = 1;
		rc.released = 1;
	}
	req.body_case = RAS__REQUEST__BODY_REARM_CHECK;
	req.rearm_check = &rc;
	rasc_lock(c, &old);
	if (atomic_load(&c->registered))
		r = rasc_simple_call(c, &req, "re-arm report") == 0 ? 0 : -1;
	else
		rasc_seterr(c, "re-arm report: not registered with rasd");
	rasc_unlock(c, &old);
	return r;
}

/* Local decisions not kept for replay; see rasclient.h. */
unsigned long
rasc_lost(struct rasc *c)
{
	return c == NULL ? 0 : atomic_load(&c->lost);
}

/* Unregister, stop the thread, close and free; see rasclient.h. */
void
rasc_close(struct rasc *c)
{
	Ras__Request	req = RAS__REQUEST__INIT;
	Ras__Unregister	unr = RAS__UNREGISTER__INIT;
	sigset_t	old;

	if (c == NULL)
		return;
	if (c->thread_started) {
		pthread_mutex_lock(&c->thread_lock);
		c->thread_stop = 1;
		pthread_cond_signal(&c->thread_cond);
		pthread_mutex_unlock(&c->thread_lock);
		pthread_join(c->thread, NULL);
		c->thread_started = 0;
	}

	unr.uuid.data = c->uuid;
	unr.uuid.len = sizeof c->uuid;
	req.body_case = RAS__REQUEST__BODY_UNREGISTER;
	req.unregister = &unr;
	rasc_lock(c, &old);
	if (atomic_load(&c->registered)) {
		if (rasc_ring_count(c) != 0)
			rasc_debug(c, "closing with %d forwards unacknowledged",
			    rasc_ring_count(c));
		rasc_simple_call(c, &req, "unregister");
	}
	rasc_wire_disconnect(c);
	rasc_unlock(c, &old);
	rasc_free(c);
}

/* The last error message. */
const char *
rasc_strerror(struct rasc *c)
{
	if (c == NULL)
		return "no handle";
	return c->err[0] != '\0' ? c->err : "no error";
}

/* The active poison rasd reported at the last registration. */
int
rasc_active(struct rasc *c, struct rasc_range *out, unsigned int max)
{
	return rasc_active_from(c, 0, out, max);
}

/* The same from the first-th range on, for a caller that pages. */
int
rasc_active_from(struct rasc *c, unsigned int first, struct rasc_range *out,
    unsigned int max)
{
	unsigned int i, n;

	pthread_mutex_lock(&c->map_lock);
	n = c->nactive;
	for (i = 0; first + i < n && i < max; i++)
		out[i] = c->active[first + i];
	pthread_mutex_unlock(&c->map_lock);
	return (int)n;
}

/*
 * Before the guest's first instruction on a migration's destination: have
 * rasd confirm it holds the VM's final state (it asks the source rasd) and
 * refresh the ranges rasc_active() reports. Ordinary threads only.
 */
int
rasc_await_final(struct rasc *c, int timeout_ms)
{
	Ras__Request		 req = RAS__REQUEST__INIT;
	Ras__AwaitFinal		 af = RAS__AWAIT_FINAL__INIT;
	Ras__Response		*resp;
	struct rasc_arena	 arena;
	uint8_t			 tx[RASC_TX_SMALL], *rx = NULL, *mem = NULL;
	sigset_t		 old;
	int			 rc = -1;

	if (c == NULL)
		return -1;
	if (!atomic_load(&c->registered)) {
		rasc_seterr(c, "await final: not registered with rasd");
		return -1;
	}
	if ((rx = malloc(FRAME_MAX)) == NULL ||
	    (mem = malloc(RASC_REGISTER_ARENA)) == NULL) {
		rasc_seterr(c, "out of memory");
		goto out;
	}
	af.uuid.data = c->uuid;
	af.uuid.len = sizeof c->uuid;
	req.body_case = RAS__REQUEST__BODY_AWAIT_FINAL;
	req.await_final = &af;
	rasc_wire_arena(&arena, mem, RASC_REGISTER_ARENA);
	rasc_lock(c, &old);
	resp = rasc_wire_call(c, &req, tx, sizeof tx, rx, FRAME_MAX, &arena,
	    rasc_wire_now() + (timeout_ms > 0 ? timeout_ms : c->timeout_ms));
	if (resp == NULL) {
		rasc_seterr(c, "await final: no answer from rasd");
		rasc_wire_disconnect(c);
	} else if (resp->body_case == RAS__RESPONSE__BODY_ERROR &&
	    resp->error != NULL) {
		rasc_seterr(c, "await final: %s", resp->error->message != NULL ?
		    resp->error->message : "?");
		/* The operator let the gate go: run with what it has. */
		if (resp->error->code == RAS__ERROR_CODE__ERR_RELEASED)
			rc = 1;
	} else if (resp->body_case == RAS__RESPONSE__BODY_REGISTERED &&
	    resp->registered != NULL) {
		if (rasc_take_active(c, resp->registered, rx, mem) == 0)
			rc = 0;
		else
			rasc_wire_disconnect(c);
	} else
		rasc_seterr(c, "await final: unexpected answer from rasd");
	rasc_unlock(c, &old);
out:
	free(rx);
	free(mem);
	return rc;
}
