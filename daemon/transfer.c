/*
 * transfer.c -- a VM's state leaving and entering this rasd: export to a
 * sealed bundle (migrate/bundle.c), import of one.
 *
 * How bundles are sealed and which ones an import takes follows the host's
 * TLS material (transfer_trust, transfer_seal; migrate/README.md, "How
 * bundles are trusted"): with peer_tls = on the host signs with peer_key
 * and its peer_cert, and takes bundles signed by hosts of peer_ca, and
 * fleet-key bundles only while fleet_key is still configured.
 *
 * DESIGN: the bundle is the whole truth about a VM that moves: identity,
 * the pinned boot profile with its raw HEST, every poison record (active
 * and retired, with the host that saw it), and the generation. An import
 * is all-or-nothing: the bundle is checked completely (seal, version,
 * sizes, HEST, every record) before anything is touched, then the VM's
 * rows are replaced in one transaction, and only after that commit does
 * the in-memory state change. A VM with a live VMM here is never
 * replaced, except by the final sync its own VMM waits for (after
 * migrate/handoff.c verified the answer); a known VM is replaced only when
 * the importer asks for it (the migration hook does: the source's state
 * is authoritative). Every export carries the VM's open migration id
 * (peer.c issues it), every import hands it to peer.c for the final sync.
 *
 * The destination's side of a hand-off is durable from the import on:
 * the source's address, the migration id and the imported generation go
 * into the store's incoming table in the import's own transaction, and
 * the final state deletes that row in its transaction, so a restarted
 * rasd either resumes the final sync (peer_restore) or has the final
 * state -- never the snapshot taken for final.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "bundle.h"
#include "handoff.h"
#include "rasd.h"

static uint8_t transfer_key_bytes[BUNDLE_KEY_MAX];
static size_t transfer_keylen;

/*
 * The host's TLS material for bundles: its certificate and key sign
 * (peer_tls = on), the CA verifies. Each file is read again when it
 * changes (looked at before every export and import), so a renewed
 * certificate or a new CA is used without a restart.
 */
struct transfer_file {
	dev_t	dev;
	ino_t	ino;
	off_t	size;
	struct timespec mtime;
	int	seen;		/* stat worked */
};

static struct bundle_signer *transfer_signer;
static struct bundle_ca *transfer_ca;
static struct transfer_file transfer_cert_f, transfer_key_f, transfer_ca_f;

/* Whether a file changed since *f was taken; *f becomes its state now. */
static int
transfer_changed(const char *path, struct transfer_file *f)
{
	struct transfer_file now;
	struct stat st;

	memset(&now, 0, sizeof now);
	if (stat(path, &st) == 0) {
		now.dev = st.st_dev;
		now.ino = st.st_ino;
		now.size = st.st_size;
		now.mtime = st.st_mtim;
		now.seen = 1;
	}
	if (memcmp(&now, f, sizeof now) == 0)
		return 0;
	*f = now;
	return 1;
}

/* Whether this host signs the bundles it exports (peer_tls = on). */
static int
transfer_signs(void)
{
	return rasd_conf != NULL && rasd_conf->peer_tls == PEER_TLS_ON;
}

/* Read the signing certificate and key again if they changed. */
static void
transfer_load_signer(int start)
{
	const struct rasd_config *c = rasd_conf;
	struct bundle_signer *s;
	struct vm *vm;
	char err[1024];

	if (!transfer_signs())
		return;
	if (!(transfer_changed(c->peer_cert, &transfer_cert_f) |
	    transfer_changed(c->peer_key, &transfer_key_f)) && !start)
		return;
	if ((s = bundle_signer_load(c->peer_cert, c->peer_key, err,
	    sizeof err)) == NULL) {
		if (transfer_signer != NULL)
			log_warnx("bundles: %s; still signing with the "
			    "certificate of %s read before", err,
			    bundle_signer_dn(transfer_signer));
		else
			log_warnx("bundles: no signing key (%s): bundles are "
			    "%s", err, transfer_keylen > 0 ? "sealed with the "
			    "fleet key (deprecated)" : "only checksummed, and "
			    "hosts with peer_tls = on refuse them");
		return;
	}
	bundle_signer_free(transfer_signer);
	transfer_signer = s;
	log_info("bundles: signed with %s's key (%s)", bundle_signer_dn(s),
	    c->peer_cert);
	if (bundle_signer_valid(s, time(NULL), err, sizeof err) == -1)
		log_warnx("bundles: %s: hosts refuse the bundles it signs",
		    err);
	if (start)
		return;
	/* The domains' metadata holds bundles signed with the old one. */
	for (vm = vm_first(); vm != NULL; vm = vm->next_all)
		virt_vm_changed(vm);
}

/* Read the CA certificates again if they changed. */
static void
transfer_load_ca(int start)
{
	const struct rasd_config *c = rasd_conf;
	struct bundle_ca *ca;
	char err[1024];

	if (c == NULL || (!transfer_changed(c->peer_ca, &transfer_ca_f) &&
	    !start))
		return;
	if ((ca = bundle_ca_load(c->peer_ca, err, sizeof err)) == NULL) {
		if (transfer_ca != NULL)
			log_warnx("bundles: %s; still verifying against the CA "
			    "read before", err);
		else if (c->peer_tls == PEER_TLS_ON)
			log_warnx("bundles: no CA (%s): signed bundles are "
			    "refused", err);
		return;
	}
	bundle_ca_free(transfer_ca);
	transfer_ca = ca;
	log_info("bundles: signed bundles are verified against %s",
	    c->peer_ca);
}

/* Load the fleet key, if one is configured, and the TLS material. */
int
transfer_init(const char *keyfile)
{
	char err[512];

	transfer_keylen = 0;
	if (keyfile != NULL && *keyfile != '\0') {
		if (bundle_load_key(keyfile, transfer_key_bytes,
		    &transfer_keylen, err, sizeof err) == -1) {
			log_warnx("fleet key: %s", err);
			return -1;
		}
		log_info("fleet key %s: %s", keyfile, transfer_signs() ?
		    "bundles sealed with it (HMAC-SHA-256) are still taken, "
		    "deprecated" : "bundles are sealed with HMAC-SHA-256");
	}
	if (rasd_conf == NULL)
		return 0;
	transfer_load_ca(1);
	transfer_load_signer(1);
	if (!transfer_signs())
		log_warnx("bundles: peer_tls = off-insecure: bundles are not "
		    "signed; %s", transfer_keylen > 0 ? "the fleet key seals "
		    "them" : "they are only checksummed, and checksummed "
		    "bundles are taken (INSECURE, for tests only)");
	else if (transfer_ca == NULL && transfer_keylen == 0)
		log_warnx("bundles: no CA and no fleet key: this host refuses "
		    "every bundle it is given");
	return 0;
}

/* The fleet key (keylen 0 when none). */
void
transfer_key(const uint8_t **key, size_t *keylen)
{
	*key = transfer_key_bytes;
	*keylen = transfer_keylen;
}

/*
 * What an import takes (migrate/README.md, "How bundles are trusted"):
 * bundles signed by a host of the CA always (when the CA is readable);
 * fleet-key bundles while a fleet key is configured; checksummed ones
 * only with peer_tls = off-insecure and no fleet key.
 */
static void
transfer_trust(struct bundle_trust *t)
{
	memset(t, 0, sizeof *t);
	transfer_load_ca(0);
	if (transfer_ca != NULL) {
		t->accept |= BUNDLE_ACCEPT_SIGNED;
		t->ca = transfer_ca;
	}
	if (transfer_keylen > 0) {
		t->accept |= BUNDLE_ACCEPT_HMAC;
		t->key = transfer_key_bytes;
		t->keylen = transfer_keylen;
	} else if (!transfer_signs())
		t->accept |= BUNDLE_ACCEPT_SHA256;
}

/* Seal a packed Bundle as this host does: signed, HMAC or checksum. */
static int
transfer_seal(const uint8_t *packed, size_t len, uint8_t **out,
    size_t *outlen)
{
	transfer_load_signer(0);
	if (transfer_signer != NULL && transfer_signs())
		return bundle_sign(packed, len, transfer_signer, out, outlen);
	return bundle_seal(packed, len, transfer_keylen ? transfer_key_bytes :
	    NULL, transfer_keylen, out, outlen);
}

struct transfer_hist {
	Ras__BundleRecord *r;
	size_t n, cap;
};

/* Collect one history row into the bundle. */
static int
transfer_row(void *arg, uint64_t id, uint64_t gpa, uint64_t len, int kind,
    int action, int notify, int source_id, int64_t t, const char *host,
    const char *origin, int active)
{
	struct transfer_hist *h = arg;
	Ras__BundleRecord *r;

	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->r = xreallocarray(h->r, h->cap, sizeof *h->r);
	}
	r = &h->r[h->n++];
	ras__bundle_record__init(r);
	r->gpa = gpa;
	r->length = len;
	r->kind = (uint32_t)kind;
	r->action = (uint32_t)action;
	if (notify >= 0) {
		r->has_notify = r->has_source_id = 1;
		r->notify = (uint32_t)notify;
		r->source_id = source_id >= 0 ? (uint32_t)source_id : 0;
	}
	r->time = t;
	r->host = xstrdup(host != NULL ? host : "");
	r->origin = xstrdup(origin != NULL ? origin : "");
	r->active = active != 0;
	return 0;
}

/*
 * Seal a VM's state. Returns 0 with *out (free() it) or -1 with a reason.
 */
int
transfer_export(struct vm *vm, uint8_t **out, size_t *outlen, char *err,
    size_t errlen)
{
	Ras__Bundle b = RAS__BUNDLE__INIT;
	Ras__Source *src = NULL, **srcs = NULL;
	Ras__BundleRecord **recs = NULL;
	const struct ras_policy *pol;
	struct transfer_hist h = { NULL, 0, 0 };
	uint8_t *packed = NULL, mid[HANDOFF_ID_LEN];
	size_t i, len;
	int rc = -1;

	if (batch_flush() == -1 || store_history(vm, transfer_row, &h) ==
	    -1) {
		snprintf(err, errlen, "history unreadable: %s", store_error());
		goto out;
	}
	b.version = RAS_BUNDLE_VERSION;
	b.uuid.data = vm->uuid;
	b.uuid.len = 16;
	b.name = vm->name;
	b.arch = (uint32_t)vm->arch;
	if (vm->hest != NULL) {
		b.has_hest = 1;
		b.hest.data = vm->hest;
		b.hest.len = vm->hest_len;
	} else if (vm->profile.count > 0) {
		src = xcalloc(vm->profile.count, sizeof *src);
		srcs = xcalloc(vm->profile.count, sizeof *srcs);
		for (i = 0; i < vm->profile.count; i++) {
			ras__source__init(&src[i]);
			src[i].source_id = vm->profile.src[i].source_id;
			src[i].notify = vm->profile.src[i].notify;
			srcs[i] = &src[i];
		}
		b.n_declared = vm->profile.count;
		b.declared = srcs;
	}
	b.pinned = vm->pinned;
	b.caps = vm->caps;
	pol = vm->policy.ar_count + vm->policy.ao_count > 0 ? &vm->policy :
	    &rasd_conf->policy;
	b.has_ar_order = b.has_ao_order = 1;
	b.ar_order.data = (uint8_t *)pol->ar_order;
	b.ar_order.len = pol->ar_count;
	b.ao_order.data = (uint8_t *)pol->ao_order;
	b.ao_order.len = pol->ao_count;
	b.generation = vm->generation;
	b.source_host = (char *)store_host();
	if (rasd_conf->peer_advertise[0] != '\0')
		b.source_peer = rasd_conf->peer_advertise;
	b.created = (int64_t)time(NULL);
	peer_export_id(vm, mid);
	b.has_migration_id = 1;
	b.migration_id.data = mid;
	b.migration_id.len = sizeof mid;
	recs = xcalloc(h.n, sizeof *recs);
	for (i = 0; i < h.n; i++)
		recs[i] = &h.r[i];
	b.n_records = h.n;
	b.records = recs;
	if (bundle_check(&b, err, errlen) == -1)
		goto out;
	len = ras__bundle__get_packed_size(&b);
	packed = xcalloc(1, len);
	ras__bundle__pack(&b, packed);
	if (transfer_seal(packed, len, out, outlen) == -1) {
		snprintf(err, errlen, "bundle of %zu bytes cannot be sealed: "
		    "%s", len, errno == EFBIG ? "over the size limit" :
		    errno == EIO ? "the host key cannot sign" :
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	for (i = 0; i < h.n; i++) {
		free(h.r[i].host);
		free(h.r[i].origin);
	}
	free(h.r);
	free(recs);
	free(srcs);
	free(src);
	free(packed);
	return rc;
}

/*
 * Open and check a sealed bundle as this host's trust rules say; NULL
 * with a reason. Logs who signed it, and a fleet-key bundle's
 * deprecation.
 */
Ras__Bundle *
transfer_open(const uint8_t *sealed, size_t len, char *err, size_t errlen)
{
	struct bundle_trust t;
	struct bundle_sealer who;
	Ras__Bundle *b;
	char us[37];

	transfer_trust(&t);
	if ((b = bundle_open_trusted(sealed, len, &t, &who, err, errlen)) ==
	    NULL)
		return NULL;
	ras_uuid_format(b->uuid.data, us);
	if (who.kind == BUNDLE_SEAL_SIGNED)
		log_info("vm %s (%s): bundle signed by %s (generation %llu)",
		    b->name, us, who.dn, (unsigned long long)b->generation);
	else if (who.kind == BUNDLE_SEAL_HMAC && transfer_signs())
		log_warnx("vm %s (%s): bundle sealed with the fleet key, not "
		    "signed by its host: deprecated, taken while fleet_key is "
		    "configured", b->name, us);
	else if (who.kind == BUNDLE_SEAL_SHA256)
		log_warnx("vm %s (%s): bundle only checksummed, taken "
		    "unauthenticated (peer_tls = off-insecure)", b->name, us);
	return b;
}

/*
 * Take a sealed bundle in. Returns the VM, or NULL with a reason and the
 * protocol error code in *code; nothing is changed on failure.
 */
struct vm *
transfer_import(const uint8_t *sealed, size_t len, int flags, int *code,
    char *err, size_t errlen)
{
	struct vm *vm;
	Ras__Bundle *b;

	*code = RAS__ERROR_CODE__ERR_INVALID;
	if ((b = transfer_open(sealed, len, err, errlen)) == NULL)
		return NULL;
	vm = transfer_take(b, flags, NULL, code, err, errlen);
	ras__bundle__free_unpacked(b, NULL);
	return vm;
}

/*
 * Take an opened bundle in (b stays the caller's). With TRANSFER_FINAL the
 * VM must be known here and may be live only under vmm, the VMM that waits
 * for this final sync. Returns the VM, or NULL with a reason and *code.
 */
struct vm *
transfer_take(const Ras__Bundle *b, int flags, struct client *vmm,
    int *code, char *err, size_t errlen)
{
	int replace = (flags & TRANSFER_REPLACE) != 0;
	int final = (flags & TRANSFER_FINAL) != 0;
	struct ras_profile prof;
	struct poison_range r;
	struct vm *vm, *named;
	char us[37];
	size_t i;

	*code = RAS__ERROR_CODE__ERR_INVALID;
	if (bundle_profile(b, &prof, err, errlen) == -1) {
		*code = RAS__ERROR_CODE__ERR_BAD_HEST;
		goto fail;
	}
	ras_uuid_format(b->uuid.data, us);
	vm = vm_find_uuid(b->uuid.data);
	if (final && vm == NULL) {
		*code = RAS__ERROR_CODE__ERR_NO_SUCH_VM;
		snprintf(err, errlen, "final state of VM %s, which is not "
		    "known here", us);
		goto fail;
	}
	if (final && b->generation < vm->imported_generation) {
		snprintf(err, errlen, "final state (generation %llu) is older "
		    "than the imported one", (unsigned long long)b->generation);
		goto fail;
	}
	if (vm != NULL && vm->client != NULL && (!final ||
	    vm->client != vmm)) {
		*code = RAS__ERROR_CODE__ERR_BUSY;
		snprintf(err, errlen, "VM %s (%s) is running here under VMM "
		    "pid %d; its state is not replaced", vm->name, us,
		    (int)vm->client->pid);
		goto fail;
	}
	if (vm != NULL && !replace) {
		*code = RAS__ERROR_CODE__ERR_BUSY;
		snprintf(err, errlen, "VM %s (%s) is already known here; "
		    "import with replace to take the bundle's state",
		    vm->name, us);
		goto fail;
	}
	named = vm_find_name(b->name);
	if (named != NULL && named != vm && named->client != NULL) {
		*code = RAS__ERROR_CODE__ERR_BUSY;
		snprintf(err, errlen, "name %s is in use by the running VM %s",
		    b->name, named->uuid_str);
		goto fail;
	}
	if (batch_flush() == -1) {
		*code = RAS__ERROR_CODE__ERR_STORE;
		snprintf(err, errlen, "%s", store_error());
		goto fail;
	}
	/* The first VMM to register an imported VM owns it. */
	if (store_import(b, &prof, vm != NULL ? vm->owner_uid :
	    UINT32_MAX, final) == -1) {
		*code = RAS__ERROR_CODE__ERR_STORE;
		snprintf(err, errlen, "not recorded: %s", store_error());
		goto fail;
	}
	if (vm == NULL) {
		vm = vm_create(b->uuid.data, b->name);
		vm->owner_uid = UINT32_MAX;
	}
	if (strcmp(vm->name, b->name) != 0)
		vm_rename(vm, b->name);
	vm->arch = (int)b->arch;
	vm_set_profile(vm, b->has_hest ? b->hest.data : NULL,
	    b->has_hest ? b->hest.len : 0, &prof);
	vm->pinned = b->pinned;
	vm->caps = b->caps;
	memset(&vm->policy, 0, sizeof vm->policy);
	if (b->has_ar_order && b->has_ao_order) {
		memcpy(vm->policy.ar_order, b->ar_order.data, b->ar_order.len);
		vm->policy.ar_count = (unsigned int)b->ar_order.len;
		memcpy(vm->policy.ao_order, b->ao_order.data, b->ao_order.len);
		vm->policy.ao_count = (unsigned int)b->ao_order.len;
	}
	vm->generation = b->generation;
	vm->imported_generation = b->generation;
	free(vm->source_peer);
	/* As the store's incoming row: a final state ends the hand-off. */
	vm->source_peer = b->source_peer != NULL && b->source_peer[0] != '\0'
	    && !final ? xstrdup(b->source_peer) : NULL;
	if (final && vm->client != NULL) {
		/* The live VMM keeps the VM; the row says so again. */
		vm->state = VM_RUNNING;
		store_save_vm(vm);
	} else {
		vm->state = VM_INCOMING;
		vm->pid = 0;
		free(vm->slots);	/* the incoming VMM brings its map */
		vm->slots = NULL;
		vm->nslots = 0;
	}
	poison_clear(&vm->active);
	vm->history_count = b->n_records;
	for (i = 0; i < b->n_records; i++) {
		const Ras__BundleRecord *br = b->records[i];

		if (!br->active)
			continue;
		memset(&r, 0, sizeof r);
		r.gpa = br->gpa;
		r.len = br->length;
		r.kind = (uint8_t)br->kind;
		r.action = (uint8_t)br->action;
		r.notify = br->has_notify ? (uint8_t)br->notify :
		    RAS_NOTIFY_NONE;
		r.source_id = (uint16_t)br->source_id;
		r.first_seen = br->time;
		r.records = 1;
		poison_stage(&vm->active, &r);
	}
	poison_stage_end(&vm->active);
	if (!final)
		peer_incoming(vm, b->has_migration_id &&
		    b->migration_id.len == HANDOFF_ID_LEN ?
		    b->migration_id.data : NULL);
	log_info("vm %s (%s): imported from host %s: generation %llu, %zu "
	    "records, %zu active ranges, profile %s", vm->name, us,
	    b->source_host, (unsigned long long)b->generation, b->n_records,
	    vm->active.n, vm->pinned ? "pinned" : "unpinned");
	virt_vm_changed(vm);
	return vm;
fail:
	return NULL;
}
