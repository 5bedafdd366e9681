/*
 * bundle.c -- seal, open and check the state bundle of one VM.
 *
 * On the wire (proto/rasd.proto) a bundle is a packed SealedBundle:
 *
 *   field        meaning
 *   bundle       the packed Bundle, as the exporter's protobuf-c wrote it
 *   seal_kind    1: seal = SHA-256(bundle)
 *                2: seal = HMAC-SHA-256(fleet key, bundle)
 *                3: seal = the exporting host's signature (bundle_sig.c)
 *   seal         32 bytes (1, 2), the signature (3)
 *   signer       3: the signer's x509 certificate, DER
 *
 * The seal covers the Bundle's bytes, not a re-encoding of its fields, so
 * the importer checks exactly what the exporter sealed and nothing depends
 * on two protobuf-c versions agreeing on an encoding.
 *
 * Why a checksum, a MAC and a signature: a bundle is a claim by another
 * host of the fleet about which guest pages are poisoned and which
 * notification types the guest was booted with; a guest that owns its
 * VMM must not be able to forge that. The checksum only catches
 * corruption (a truncated file, a mangled XML attribute). The fleet key's
 * MAC authenticates the fleet, but any host's copy of the key forges for
 * all and names no host. A signature names its host (the certificate the
 * CA gave it) and a stolen key forges only as that host until its
 * certificate expires. The caller says which kinds it takes
 * (bundle_trust); a kind it does not take is refused, never opened
 * unverified.
 *
 * Everything else is checked too, since a bundle may still come from a
 * buggy or older peer: version, identity, boot profile (the HEST goes
 * through the same parser as a registration), and every record, so that
 * the daemon can re-arm the ranges without checking them again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "bundle_int.h"
#include "hest.h"
#include "crypto.h"

#define BUNDLE_KEYFILE_MAX	4096	/* longer files are not key files */

static const char bundle_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int	bundle_fail(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* Write a reason into err (which may be NULL) and return -1. */
static int
bundle_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Clear key material in a way the compiler may not drop. */
static void
bundle_wipe(void *p, size_t len)
{
	volatile uint8_t *v = p;

	while (len-- > 0)
		*v++ = 0;
}

/* Whether a fleet key has an acceptable length. */
static int
bundle_keylen_ok(size_t keylen)
{
	return keylen >= BUNDLE_KEY_MIN && keylen <= BUNDLE_KEY_MAX;
}

/* Compute the seal of kind `kind` over the packed Bundle. */
static void
bundle_seal_of(uint32_t kind, const uint8_t *b, size_t len,
    const uint8_t *key, size_t keylen, uint8_t out[SHA256_LEN])
{
	if (kind == BUNDLE_SEAL_HMAC)
		hmac_sha256(key, keylen, b, len, out);
	else
		sha256(b, len, out);
}

/* Wrap a packed Bundle in a packed SealedBundle. */
int
bundle_seal(const uint8_t *packed_bundle, size_t len, const uint8_t *key,
    size_t keylen, uint8_t **out, size_t *outlen)
{
	Ras__SealedBundle sb = RAS__SEALED_BUNDLE__INIT;
	uint8_t seal[SHA256_LEN], *buf;
	size_t n;

	*out = NULL;
	*outlen = 0;
	if (key != NULL && !bundle_keylen_ok(keylen)) {
		errno = EINVAL;
		return -1;
	}
	/* The SealedBundle adds a few dozen bytes; check before packing. */
	if (len > BUNDLE_MAX_BYTES) {
		errno = EFBIG;
		return -1;
	}
	sb.seal_kind = key != NULL ? BUNDLE_SEAL_HMAC : BUNDLE_SEAL_SHA256;
	bundle_seal_of(sb.seal_kind, packed_bundle, len, key, keylen, seal);
	sb.bundle.data = (uint8_t *)packed_bundle;
	sb.bundle.len = len;
	sb.seal.data = seal;
	sb.seal.len = sizeof seal;
	n = ras__sealed_bundle__get_packed_size(&sb);
	if (n > BUNDLE_MAX_BYTES) {
		errno = EFBIG;
		return -1;
	}
	if ((buf = malloc(n)) == NULL)
		return -1;
	if (ras__sealed_bundle__pack(&sb, buf) != n) {
		free(buf);
		errno = EINVAL;
		return -1;
	}
	*out = buf;
	*outlen = n;
	return 0;
}

/* Whether s is at most max bytes of printable ASCII. */
static int
bundle_printable(const char *s, size_t max)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

/*
 * Whether a message kept no unknown field numbered 0. protobuf-c 1.4 takes
 * a field number 0 in a multi-byte tag as an unknown field but refuses it
 * in the one-byte form it writes back, so such a bundle would not survive
 * being exported again; field 0 is invalid protobuf anyway.
 */
static int
bundle_fields_ok(const ProtobufCMessage *m)
{
	unsigned int i;

	for (i = 0; i < m->n_unknown_fields; i++)
		if (m->unknown_fields[i].tag == 0)
			return 0;
	return 1;
}

/* Whether v is a power of two. */
static int
bundle_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* Check one poison record; i is its index, for the reason. */
static int
bundle_check_record(const Ras__BundleRecord *r, size_t i, char *err,
    size_t errlen)
{
	unsigned long long gpa = r->gpa, len = r->length;

	if (!bundle_fields_ok(&r->base))
		return bundle_fail(err, errlen, "record %zu has a field "
		    "numbered 0 (invalid protobuf)", i);
	if (!bundle_pow2(r->length))
		return bundle_fail(err, errlen, "record %zu: length 0x%llx is "
		    "not a power of two", i, len);
	if (r->length < BUNDLE_RANGE_MIN || r->length > BUNDLE_RANGE_MAX)
		return bundle_fail(err, errlen, "record %zu: length 0x%llx is "
		    "outside 0x%llx..0x%llx", i, len, BUNDLE_RANGE_MIN,
		    BUNDLE_RANGE_MAX);
	if (r->gpa > UINT64_MAX - r->length)
		return bundle_fail(err, errlen, "record %zu: range 0x%llx + "
		    "0x%llx overflows the address space", i, gpa, len);
	if ((r->gpa & (r->length - 1)) != 0)
		return bundle_fail(err, errlen, "record %zu: gpa 0x%llx is not "
		    "aligned to its length 0x%llx", i, gpa, len);
	if (r->kind != RAS_KIND_AR && r->kind != RAS_KIND_AO)
		return bundle_fail(err, errlen, "record %zu: kind %u is not AR "
		    "(1) or AO (2)", i, r->kind);
	if (r->action < RAS_ACTION_INJECT || r->action > RAS_ACTION_STOP_VM)
		return bundle_fail(err, errlen, "record %zu: action %u is not "
		    "1..3", i, r->action);
	if (r->has_notify && r->notify > RAS_NOTIFY_SDEI)
		return bundle_fail(err, errlen, "record %zu: notification type "
		    "%u is not 0..%d", i, r->notify, RAS_NOTIFY_SDEI);
	if (r->has_source_id && !r->has_notify)
		return bundle_fail(err, errlen, "record %zu: source id %u "
		    "without a notification type", i, r->source_id);
	if (r->has_notify && !r->has_source_id)
		return bundle_fail(err, errlen, "record %zu: notification type "
		    "%u without a source id", i, r->notify);
	if (r->has_source_id && r->source_id > 0xffff)
		return bundle_fail(err, errlen, "record %zu: source id %u is "
		    "over 65535", i, r->source_id);
	if (r->time < 0)
		return bundle_fail(err, errlen, "record %zu: time %lld is "
		    "negative", i, (long long)r->time);
	if (!bundle_printable(r->host, BUNDLE_HOST_MAX))
		return bundle_fail(err, errlen, "record %zu: host must be at "
		    "most %d printable ASCII bytes", i, BUNDLE_HOST_MAX);
	if (!bundle_printable(r->origin, BUNDLE_HOST_MAX))
		return bundle_fail(err, errlen, "record %zu: origin must be at "
		    "most %d printable ASCII bytes", i, BUNDLE_HOST_MAX);
	return 0;
}

/* Build (or only check, when prof is NULL) the boot profile. */
static int
bundle_profile_of(const Ras__Bundle *b, struct ras_profile *prof, char *err,
    size_t errlen)
{
	struct ras_profile tmp;
	char why[200];
	size_t i, j;

	if (prof == NULL)
		prof = &tmp;
	memset(prof, 0, sizeof *prof);
	if (b->has_hest) {
		if (b->n_declared > 0)
			return bundle_fail(err, errlen, "bundle has both a "
			    "boot HEST and a declared profile");
		if (b->hest.len == 0)
			return bundle_fail(err, errlen, "bundle boot HEST is "
			    "empty");
		if (b->hest.len > HEST_MAX_LEN)
			return bundle_fail(err, errlen, "bundle boot HEST of "
			    "%zu bytes is over the %u-byte limit", b->hest.len,
			    HEST_MAX_LEN);
		if (hest_parse(b->hest.data, b->hest.len, prof, why,
		    sizeof why) != 0) {
			memset(prof, 0, sizeof *prof);
			return bundle_fail(err, errlen, "bundle boot HEST: %s",
			    why);
		}
		return 0;
	}
	if (b->n_declared > RAS_PROFILE_MAX)
		return bundle_fail(err, errlen, "bundle has %zu declared "
		    "sources, at most %d", b->n_declared, RAS_PROFILE_MAX);
	for (i = 0; i < b->n_declared; i++) {
		const Ras__Source *s = b->declared[i];

		if (s->notify > RAS_NOTIFY_SDEI)
			return bundle_fail(err, errlen, "declared source %zu: "
			    "notification type %u is not 0..%d", i, s->notify,
			    RAS_NOTIFY_SDEI);
		if (s->source_id > 0xffff)
			return bundle_fail(err, errlen, "declared source %zu: "
			    "source id %u is over 65535", i, s->source_id);
		for (j = 0; j < i; j++)
			if (b->declared[j]->source_id == s->source_id)
				return bundle_fail(err, errlen, "declared "
				    "source id %u appears twice",
				    s->source_id);
	}
	for (i = 0; i < b->n_declared; i++) {
		prof->src[i].source_id = (uint16_t)b->declared[i]->source_id;
		prof->src[i].notify = (uint8_t)b->declared[i]->notify;
		prof->src[i].hest_type = 0xff;
	}
	prof->count = (unsigned int)b->n_declared;
	return 0;
}

/* Check every field of an unpacked Bundle. */
/* A pinned preference order: distinct types 0..11. */
static int
bundle_order_ok(int has, const ProtobufCBinaryData *o)
{
	unsigned int seen = 0;
	size_t i;

	if (!has)
		return 0;
	if (o->len > RAS_NOTIFY_COUNT)
		return -1;
	for (i = 0; i < o->len; i++) {
		if (o->data[i] >= RAS_NOTIFY_COUNT ||
		    (seen & (1u << o->data[i])) != 0)
			return -1;
		seen |= 1u << o->data[i];
	}
	return 0;
}

int
bundle_check(const Ras__Bundle *b, char *err, size_t errlen)
{
	size_t i, namelen;

	if (!bundle_fields_ok(&b->base))
		return bundle_fail(err, errlen, "bundle has a field numbered 0 "
		    "(invalid protobuf)");
	for (i = 0; i < b->n_declared; i++)
		if (!bundle_fields_ok(&b->declared[i]->base))
			return bundle_fail(err, errlen, "declared source %zu "
			    "has a field numbered 0 (invalid protobuf)", i);
	if (b->version > RAS_BUNDLE_VERSION)
		return bundle_fail(err, errlen, "bundle version %u is newer "
		    "than this rasd (%d)", b->version, RAS_BUNDLE_VERSION);
	if (b->version < 1)
		return bundle_fail(err, errlen, "bundle version %u is not "
		    "valid", b->version);
	if (b->uuid.len != 16)
		return bundle_fail(err, errlen, "bundle uuid is %zu bytes, "
		    "expected 16", b->uuid.len);
	namelen = b->name != NULL ? strlen(b->name) : 0;
	if (namelen == 0 || namelen > BUNDLE_NAME_MAX)
		return bundle_fail(err, errlen, "bundle VM name must be 1..%d "
		    "bytes, not %zu", BUNDLE_NAME_MAX, namelen);
	for (i = 0; i < namelen; i++)
		if ((unsigned char)b->name[i] < 0x20 || b->name[i] == 0x7f)
			return bundle_fail(err, errlen, "bundle VM name "
			    "contains control characters");
	if (b->arch != RAS_ARCH_ARM64 && b->arch != RAS_ARCH_X86_64)
		return bundle_fail(err, errlen, "bundle arch %u is not arm64 "
		    "(1) or x86_64 (2)", b->arch);
	if (bundle_profile_of(b, NULL, err, errlen) != 0)
		return -1;
	if (!bundle_printable(b->source_host, BUNDLE_HOST_MAX))
		return bundle_fail(err, errlen, "bundle source host must be at "
		    "most %d printable ASCII bytes", BUNDLE_HOST_MAX);
	if (b->created < 0)
		return bundle_fail(err, errlen, "bundle creation time %lld is "
		    "negative", (long long)b->created);
	if (bundle_order_ok(b->has_ar_order, &b->ar_order) == -1 ||
	    bundle_order_ok(b->has_ao_order, &b->ao_order) == -1)
		return bundle_fail(err, errlen, "bundle preference orders must "
		    "list distinct notification types (0..11), at most 12");
	if (b->n_records > BUNDLE_MAX_RECORDS)
		return bundle_fail(err, errlen, "bundle has %zu records, at "
		    "most %d", b->n_records, BUNDLE_MAX_RECORDS);
	for (i = 0; i < b->n_records; i++)
		if (bundle_check_record(b->records[i], i, err, errlen) != 0)
			return -1;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	return 0;
}

/* Why a seal of this kind is not taken here. */
static int
bundle_refuse_kind(uint32_t kind, const struct bundle_trust *t, char *err,
    size_t errlen)
{
	switch (kind) {
	case BUNDLE_SEAL_SHA256:
		return bundle_fail(err, errlen, "bundle is not signed (SHA-256 "
		    "checksum only)%s: refusing an unauthenticated bundle",
		    t->key != NULL ? " but a fleet key is configured" : "");
	case BUNDLE_SEAL_HMAC:
		return bundle_fail(err, errlen, "bundle is sealed with a fleet "
		    "key (HMAC) but %s: cannot verify it", t->key == NULL ?
		    "no fleet key is configured" : "fleet-key bundles are not "
		    "taken here");
	case BUNDLE_SEAL_SIGNED:
		return bundle_fail(err, errlen, "bundle is signed by a host "
		    "certificate but no CA is configured to verify it");
	default:
		return bundle_fail(err, errlen, "unknown bundle seal kind %u",
		    kind);
	}
}

/* Verify a checksum or HMAC seal. */
static int
bundle_check_digest(const Ras__SealedBundle *sb, const struct bundle_trust *t,
    char *err, size_t errlen)
{
	uint8_t seal[SHA256_LEN];

	if (sb->has_signer)
		return bundle_fail(err, errlen, "bundle sealed with kind %u "
		    "carries a signer certificate", sb->seal_kind);
	if (sb->seal.len != SHA256_LEN)
		return bundle_fail(err, errlen, "bundle seal is %zu bytes, "
		    "expected %d", sb->seal.len, SHA256_LEN);
	bundle_seal_of(sb->seal_kind, sb->bundle.data, sb->bundle.len, t->key,
	    t->keylen, seal);
	if (!sha256_equal(seal, sb->seal.data))
		return bundle_fail(err, errlen, "bundle seal does not match: "
		    "corrupted or forged");
	return 0;
}

/* Whether trust takes seals of this kind (with what they need). */
static int
bundle_accepts(const struct bundle_trust *t, uint32_t kind)
{
	if (kind < BUNDLE_SEAL_SHA256 || kind > BUNDLE_SEAL_SIGNED ||
	    (t->accept & (1u << kind)) == 0)
		return 0;
	if (kind == BUNDLE_SEAL_HMAC)
		return t->key != NULL;
	if (kind == BUNDLE_SEAL_SIGNED)
		return t->ca != NULL;
	return 1;
}

/*
 * Unpack a SealedBundle, verify its seal (and signer), then unpack and
 * check the Bundle: nothing of it is looked at before the seal holds.
 */
Ras__Bundle *
bundle_open_trusted(const uint8_t *sealed, size_t len,
    const struct bundle_trust *t, struct bundle_sealer *who, char *err,
    size_t errlen)
{
	struct bundle_sig_ctx cx;
	Ras__SealedBundle *sb = NULL;
	Ras__Bundle *b = NULL;

	memset(&cx, 0, sizeof cx);
	if (who != NULL)
		memset(who, 0, sizeof *who);
	if (len > BUNDLE_MAX_BYTES) {
		bundle_fail(err, errlen, "bundle of %zu bytes is over the "
		    "%u-byte limit", len, BUNDLE_MAX_BYTES);
		goto out;
	}
	if (t->key != NULL && !bundle_keylen_ok(t->keylen)) {
		bundle_fail(err, errlen, "fleet key is %zu bytes, must be "
		    "%d..%d", t->keylen, BUNDLE_KEY_MIN, BUNDLE_KEY_MAX);
		goto out;
	}
	if (len == 0 || (sb = ras__sealed_bundle__unpack(NULL, len,
	    sealed)) == NULL || !bundle_fields_ok(&sb->base)) {
		bundle_fail(err, errlen, "not a sealed bundle: %zu bytes that "
		    "are truncated or malformed", len);
		goto out;
	}
	if (!bundle_accepts(t, sb->seal_kind)) {
		bundle_refuse_kind(sb->seal_kind, t, err, errlen);
		goto out;
	}
	if (sb->seal_kind == BUNDLE_SEAL_SIGNED ?
	    bundle_sig_verify(sb, t->ca, &cx, err, errlen) != 0 :
	    bundle_check_digest(sb, t, err, errlen) != 0)
		goto out;
	if ((b = ras__bundle__unpack(NULL, sb->bundle.len,
	    sb->bundle.data)) == NULL) {
		bundle_fail(err, errlen, "bundle contents are malformed (seal "
		    "matches, protobuf does not parse)");
		goto out;
	}
	if (bundle_check(b, err, errlen) != 0 ||
	    (sb->seal_kind == BUNDLE_SEAL_SIGNED &&
	    bundle_sig_names(&cx, b->source_peer, err, errlen) != 0)) {
		ras__bundle__free_unpacked(b, NULL);
		b = NULL;
		goto out;
	}
	if (who != NULL) {
		who->kind = sb->seal_kind;
		memcpy(who->dn, cx.dn, sizeof who->dn);
	}
	if (err != NULL && errlen > 0)
		err[0] = '\0';
out:
	bundle_sig_done(&cx);
	if (sb != NULL)
		ras__sealed_bundle__free_unpacked(sb, NULL);
	return b;
}

/* Open with a fleet key (HMAC only) or without (checksum only). */
Ras__Bundle *
bundle_open(const uint8_t *sealed, size_t len, const uint8_t *key,
    size_t keylen, char *err, size_t errlen)
{
	struct bundle_trust t;

	memset(&t, 0, sizeof t);
	t.accept = key != NULL ? BUNDLE_ACCEPT_HMAC : BUNDLE_ACCEPT_SHA256;
	t.key = key;
	t.keylen = keylen;
	return bundle_open_trusted(sealed, len, &t, NULL, err, errlen);
}

/* The boot profile a checked or unchecked Bundle carries. */
int
bundle_profile(const Ras__Bundle *b, struct ras_profile *prof, char *err,
    size_t errlen)
{
	if (bundle_profile_of(b, prof, err, errlen) != 0)
		return -1;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	return 0;
}

/* Value of a hex digit, or -1. */
static int
bundle_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Whether c is whitespace around a hex key or inside base64. */
static int
bundle_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\v' || c == '\f';
}

/*
 * Turn key file contents into a key: hex when everything but surrounding
 * whitespace is hex digits, raw bytes otherwise.
 */
static int
bundle_parse_key(const char *path, const uint8_t *buf, size_t n,
    uint8_t *key, size_t *keylen, char *err, size_t errlen)
{
	size_t start = 0, end = n, i;
	int hex = 1;

	while (start < end && bundle_space(buf[start]))
		start++;
	while (end > start && bundle_space(buf[end - 1]))
		end--;
	if (start == end)
		return bundle_fail(err, errlen, "fleet key %s is empty", path);
	for (i = start; i < end && hex; i++)
		if (bundle_hexval(buf[i]) < 0)
			hex = 0;
	if (hex) {
		if ((end - start) % 2 != 0 ||
		    (end - start) / 2 < BUNDLE_KEY_MIN ||
		    (end - start) / 2 > BUNDLE_KEY_MAX)
			return bundle_fail(err, errlen, "fleet key %s has %zu "
			    "hex digits; a hex key is an even number of %d..%d "
			    "digits", path, end - start, 2 * BUNDLE_KEY_MIN,
			    2 * BUNDLE_KEY_MAX);
		for (i = 0; i < (end - start) / 2; i++)
			key[i] = (uint8_t)(bundle_hexval(buf[start + 2 * i]) <<
			    4 | bundle_hexval(buf[start + 2 * i + 1]));
		*keylen = (end - start) / 2;
		return 0;
	}
	if (n < BUNDLE_KEY_MIN || n > BUNDLE_KEY_MAX)
		return bundle_fail(err, errlen, "fleet key %s is %zu raw "
		    "bytes; a key is %d..%d raw bytes or %d..%d hex digits",
		    path, n, BUNDLE_KEY_MIN, BUNDLE_KEY_MAX,
		    2 * BUNDLE_KEY_MIN, 2 * BUNDLE_KEY_MAX);
	memcpy(key, buf, n);
	*keylen = n;
	return 0;
}

/* Read and check a fleet key file. */
int
bundle_load_key(const char *path, uint8_t *key, size_t *keylen, char *err,
    size_t errlen)
{
	uint8_t buf[BUNDLE_KEYFILE_MAX + 1];
	struct stat st;
	size_t n = 0;
	ssize_t r;
	int fd, rc = -1;

	*keylen = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return bundle_fail(err, errlen, "fleet key %s: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) != 0) {
		bundle_fail(err, errlen, "fleet key %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		bundle_fail(err, errlen, "fleet key %s is not a regular file",
		    path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		bundle_fail(err, errlen, "fleet key %s has mode %04o: a fleet "
		    "key must be mode 0600 or 0400 (no access for group or "
		    "other)", path, (unsigned int)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		bundle_fail(err, errlen, "fleet key %s is owned by uid %u: it "
		    "must belong to root or to uid %u", path,
		    (unsigned int)st.st_uid, (unsigned int)geteuid());
		goto out;
	}
	while (n < sizeof buf) {
		r = read(fd, buf + n, sizeof buf - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			bundle_fail(err, errlen, "fleet key %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > BUNDLE_KEYFILE_MAX) {
		bundle_fail(err, errlen, "fleet key %s is over %d bytes: not a "
		    "key file", path, BUNDLE_KEYFILE_MAX);
		goto out;
	}
	rc = bundle_parse_key(path, buf, n, key, keylen, err, errlen);
	if (rc == 0 && err != NULL && errlen > 0)
		err[0] = '\0';
out:
	bundle_wipe(buf, sizeof buf);
	close(fd);
	return rc;
}

/* Encode bytes as padded standard base64. */
char *
bundle_base64(const uint8_t *p, size_t len)
{
	char *out, *o;
	uint32_t v;
	size_t i;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	if ((out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	o = out;
	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = bundle_b64[v >> 18];
		*o++ = bundle_b64[(v >> 12) & 63];
		*o++ = bundle_b64[(v >> 6) & 63];
		*o++ = bundle_b64[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)p[i] << 16;
		*o++ = bundle_b64[v >> 18];
		*o++ = bundle_b64[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*o++ = bundle_b64[v >> 18];
		*o++ = bundle_b64[(v >> 12) & 63];
		*o++ = bundle_b64[(v >> 6) & 63];
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* Value of a base64 character, or -1. */
static int
bundle_b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode padded standard base64, skipping whitespace. */
int
bundle_unbase64(const char *s, uint8_t **out, size_t *outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	uint8_t *buf, *o;
	uint32_t v = 0;
	size_t chars = 0, i;
	unsigned int q = 0, pad = 0;
	int d;

	*out = NULL;
	*outlen = 0;
	for (i = 0; p[i] != '\0'; i++)
		if (!bundle_space(p[i]))
			chars++;
	if (chars % 4 != 0) {
		errno = EINVAL;
		return -1;
	}
	if ((buf = malloc(chars / 4 * 3 + 1)) == NULL)
		return -1;
	o = buf;
	for (i = 0; p[i] != '\0'; i++) {
		if (bundle_space(p[i]))
			continue;
		if (p[i] == '=') {
			/* Only the last one or two characters may be '='. */
			if (q < 2)
				goto bad;
			pad++;
			q++;
			v <<= 6;
		} else {
			if (pad > 0 || (d = bundle_b64val(p[i])) < 0)
				goto bad;
			v = v << 6 | (uint32_t)d;
			q++;
		}
		if (q < 4)
			continue;
		if (pad > 0 && (size_t)(o - buf) + 3 != chars / 4 * 3)
			goto bad;
		*o++ = (uint8_t)(v >> 16);
		if (pad < 2)
			*o++ = (uint8_t)(v >> 8);
		if (pad < 1)
			*o++ = (uint8_t)v;
		/* The bits the padding leaves over must be zero. */
		if ((pad == 1 && (v & 0xff) != 0) ||
		    (pad == 2 && (v & 0xffff) != 0))
			goto bad;
		q = 0;
		v = 0;
	}
	*out = buf;
	*outlen = (size_t)(o - buf);
	return 0;
bad:
	free(buf);
	errno = EINVAL;
	return -1;
}
