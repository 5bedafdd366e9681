/*
 * test_bundle.c -- unit tests for the VM state bundle codec (migrate/).
 *
 * Each refusal test starts from a valid bundle (an arm64 VM booted with
 * QEMU's virt HEST, or an x86 VM with a declared MCE profile), breaks one
 * thing, seals it properly and checks that bundle_open() refuses it for
 * that reason, so every test reaches exactly the check it is about.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "hest.h"
#include "crypto.h"
#include "pki.h"

#define QEMU_SEA	"tests/data/qemu-virt-10.0-sea.hest"
#define CORPUS		"tests/fuzz/corpus/bundle/"
#define NREC		3

static const uint8_t fleet_key[] = "fleet-key-0123456789abcdef";
static const uint8_t other_key[] = "fleet-key-0123456789abcdeF";
static const uint8_t fuzz_key[] = "rasd-fuzz-key-0123456789abcdef";
#define KEYLEN		(sizeof fleet_key - 1)
#define FUZZ_KEYLEN	(sizeof fuzz_key - 1)

/* A bundle under test with all the storage its fields point at. */
struct fixture {
	Ras__Bundle		b;
	Ras__Source		src[RAS_PROFILE_MAX + 1];
	Ras__Source		*srcp[RAS_PROFILE_MAX + 1];
	Ras__BundleRecord	rec[NREC];
	Ras__BundleRecord	*recp[NREC];
	uint8_t			uuid[17];
	uint8_t			hest[8192];
	size_t			hestlen;
	char			name[300];
	char			host[100];
	char			err[256];
};

static struct fixture f;

/* Read the QEMU arm64 virt HEST (tests run from the repository root). */
static void
load_hest(void)
{
	FILE *fp = fopen(QEMU_SEA, "rb");

	cr_assert_not_null(fp, "cannot open %s (run from the repo root)",
	    QEMU_SEA);
	f.hestlen = fread(f.hest, 1, sizeof f.hest, fp);
	fclose(fp);
	cr_assert_eq(f.hestlen, 132);
}

/* The parts both kinds of bundle share: identity and three records. */
static void
base(void)
{
	size_t i;

	memset(&f, 0, sizeof f);
	ras__bundle__init(&f.b);
	for (i = 0; i < sizeof f.uuid; i++)
		f.uuid[i] = (uint8_t)(0x10 + i);
	strcpy(f.name, "web-01");
	strcpy(f.host, "5b1c3d2e-8f4a-4b6c-9d0e-1f2a3b4c5d6e");
	f.b.version = RAS_BUNDLE_VERSION;
	f.b.uuid.data = f.uuid;
	f.b.uuid.len = 16;
	f.b.name = f.name;
	f.b.pinned = 1;
	f.b.generation = 42;
	f.b.source_host = f.host;
	f.b.created = 1760000000;
	for (i = 0; i < NREC; i++) {
		ras__bundle_record__init(&f.rec[i]);
		f.recp[i] = &f.rec[i];
		f.rec[i].length = 4096;
		f.rec[i].gpa = 0x40000000ULL + 0x10000 * i;
		f.rec[i].kind = RAS_KIND_AR;
		f.rec[i].action = RAS_ACTION_INJECT;
		f.rec[i].has_notify = 1;
		f.rec[i].notify = RAS_NOTIFY_SEA;
		f.rec[i].has_source_id = 1;
		f.rec[i].source_id = 0;
		f.rec[i].time = 1760000000 - 60 * (int64_t)i;
		f.rec[i].host = f.host;
		f.rec[i].origin = "forward";
		f.rec[i].active = i != 2;
	}
	/* A 2 MiB huge page found asynchronously and not notified. */
	f.rec[1].length = 2u << 20;
	f.rec[1].gpa = 0x80000000ULL;
	f.rec[1].kind = RAS_KIND_AO;
	f.rec[1].action = RAS_ACTION_IGNORE;
	f.rec[1].has_notify = 0;
	f.rec[1].has_source_id = 0;
	f.b.records = f.recp;
	f.b.n_records = NREC;
}

/* A valid arm64 bundle whose boot profile is QEMU's virt HEST (SEA). */
static void
arm64(void)
{
	base();
	load_hest();
	f.b.arch = RAS_ARCH_ARM64;
	f.b.has_hest = 1;
	f.b.hest.data = f.hest;
	f.b.hest.len = f.hestlen;
	f.b.caps = RAS_NOTIFY_BIT(RAS_NOTIFY_SEA) |
	    RAS_NOTIFY_BIT(RAS_NOTIFY_GPIO);
}

/* A valid x86 bundle with a declared profile (MCE and NMI). */
static void
x86(void)
{
	size_t i;

	base();
	f.b.arch = RAS_ARCH_X86_64;
	for (i = 0; i < RAS_PROFILE_MAX + 1; i++) {
		ras__source__init(&f.src[i]);
		f.srcp[i] = &f.src[i];
		f.src[i].source_id = (uint32_t)i;
		f.src[i].notify = RAS_NOTIFY_MCE;
	}
	f.src[1].source_id = 7;
	f.src[1].notify = RAS_NOTIFY_NMI;
	f.b.declared = f.srcp;
	f.b.n_declared = 2;
	f.b.caps = RAS_NOTIFY_BIT(RAS_NOTIFY_MCE);
	for (i = 0; i < NREC; i++)
		f.rec[i].notify = RAS_NOTIFY_MCE;
}

/* Pack a Bundle into a malloc'd buffer. */
static uint8_t *
pack(const Ras__Bundle *b, size_t *len)
{
	uint8_t *buf;

	*len = ras__bundle__get_packed_size(b);
	buf = malloc(*len > 0 ? *len : 1);
	cr_assert_not_null(buf);
	cr_assert_eq(ras__bundle__pack(b, buf), *len);
	return buf;
}

/* Pack and seal the fixture bundle. */
static uint8_t *
seal(const uint8_t *key, size_t keylen, size_t *len)
{
	uint8_t *packed, *sealed;
	size_t plen;

	packed = pack(&f.b, &plen);
	cr_assert_eq(bundle_seal(packed, plen, key, keylen, &sealed, len), 0,
	    "bundle_seal: %s", strerror(errno));
	free(packed);
	return sealed;
}

/* Open sealed bytes, filling f.err. */
static Ras__Bundle *
open_bytes(const uint8_t *sealed, size_t len, const uint8_t *key,
    size_t keylen)
{
	memset(f.err, 'X', sizeof f.err);
	return bundle_open(sealed, len, key, keylen, f.err, sizeof f.err);
}

/* Assert bytes are refused with a reason containing `why`. */
static void
expect_refused_bytes(const uint8_t *sealed, size_t len, const uint8_t *key,
    size_t keylen, const char *why)
{
	Ras__Bundle *b = open_bytes(sealed, len, key, keylen);

	cr_assert_null(b, "accepted a bundle that should fail with \"%s\"",
	    why);
	cr_assert(memchr(f.err, '\0', sizeof f.err) != NULL);
	cr_assert(strstr(f.err, why) != NULL, "reason \"%s\", expected \"%s\"",
	    f.err, why);
}

/* Seal the fixture (unkeyed and keyed) and assert both are refused. */
static void
expect_refused(const char *why)
{
	uint8_t *sealed;
	size_t len;

	sealed = seal(NULL, 0, &len);
	expect_refused_bytes(sealed, len, NULL, 0, why);
	free(sealed);
	sealed = seal(fleet_key, KEYLEN, &len);
	expect_refused_bytes(sealed, len, fleet_key, KEYLEN, why);
	free(sealed);
}

/* Seal the fixture, open it and assert it comes back intact. */
static void
expect_round_trip(const uint8_t *key, size_t keylen)
{
	Ras__Bundle *b;
	uint8_t *sealed;
	size_t len, i;

	sealed = seal(key, keylen, &len);
	b = open_bytes(sealed, len, key, keylen);
	cr_assert_not_null(b, "refused: %s", f.err);
	cr_assert_str_empty(f.err);
	cr_assert_eq(b->version, RAS_BUNDLE_VERSION);
	cr_assert_eq(b->uuid.len, 16);
	cr_assert(memcmp(b->uuid.data, f.uuid, 16) == 0);
	cr_assert_str_eq(b->name, f.name);
	cr_assert_eq(b->arch, f.b.arch);
	cr_assert_eq(b->has_hest, f.b.has_hest);
	cr_assert_eq(b->hest.len, f.b.hest.len);
	if (b->hest.len > 0)
		cr_assert(memcmp(b->hest.data, f.hest, f.hestlen) == 0);
	cr_assert_eq(b->n_declared, f.b.n_declared);
	cr_assert_eq(b->pinned, f.b.pinned);
	cr_assert_eq(b->caps, f.b.caps);
	cr_assert_eq(b->generation, f.b.generation);
	cr_assert_str_eq(b->source_host, f.host);
	cr_assert_eq(b->created, f.b.created);
	cr_assert_eq(b->n_records, f.b.n_records);
	for (i = 0; i < b->n_records; i++) {
		const Ras__BundleRecord *g = b->records[i], *w = f.b.records[i];

		cr_assert_eq(g->gpa, w->gpa);
		cr_assert_eq(g->length, w->length);
		cr_assert_eq(g->kind, w->kind);
		cr_assert_eq(g->action, w->action);
		cr_assert_eq(g->has_notify, w->has_notify);
		if (w->has_notify)
			cr_assert_eq(g->notify, w->notify);
		cr_assert_eq(g->has_source_id, w->has_source_id);
		if (w->has_source_id)
			cr_assert_eq(g->source_id, w->source_id);
		cr_assert_eq(g->time, w->time);
		cr_assert_eq(g->active, w->active);
		cr_assert_str_eq(g->host, w->host);
		cr_assert_str_eq(g->origin, w->origin);
	}
	ras__bundle__free_unpacked(b, NULL);
	free(sealed);
}

/* Where the packed Bundle starts inside a sealed one. */
static size_t
payload_offset(const uint8_t *sealed, size_t len, size_t *plen)
{
	uint8_t *packed;
	const uint8_t *at;

	packed = pack(&f.b, plen);
	at = memmem(sealed, len, packed, *plen);
	cr_assert_not_null(at);
	free(packed);
	return (size_t)(at - sealed);
}

/* --- round trips ---------------------------------------------------- */

Test(bundle_round_trip, arm64_hest_unkeyed)
{
	arm64();
	expect_round_trip(NULL, 0);
}

Test(bundle_round_trip, arm64_hest_keyed)
{
	arm64();
	expect_round_trip(fleet_key, KEYLEN);
}

Test(bundle_round_trip, x86_declared_unkeyed_and_keyed)
{
	x86();
	expect_round_trip(NULL, 0);
	expect_round_trip(fleet_key, KEYLEN);
}

Test(bundle_round_trip, no_records_and_longest_fields)
{
	arm64();
	f.b.n_records = 0;
	memset(f.name, 'n', BUNDLE_NAME_MAX);
	f.name[BUNDLE_NAME_MAX] = '\0';
	memset(f.host, '~', BUNDLE_HOST_MAX);
	f.host[BUNDLE_HOST_MAX] = '\0';
	expect_round_trip(NULL, 0);
	f.b.n_records = NREC;
	f.rec[0].length = BUNDLE_RANGE_MAX;
	f.rec[0].gpa = 3 * BUNDLE_RANGE_MAX;
	f.rec[2].gpa = 0 - 8192ULL;	/* the last page but one */
	expect_round_trip(fleet_key, KEYLEN);
}

Test(bundle_round_trip, seal_kinds_and_sizes)
{
	Ras__SealedBundle *sb;
	uint8_t *sealed, *packed, want[SHA256_LEN];
	size_t len, plen;

	arm64();
	packed = pack(&f.b, &plen);

	sealed = seal(NULL, 0, &len);
	sb = ras__sealed_bundle__unpack(NULL, len, sealed);
	cr_assert_not_null(sb);
	cr_assert_eq(sb->seal_kind, BUNDLE_SEAL_SHA256);
	sha256(packed, plen, want);
	cr_assert_eq(sb->seal.len, SHA256_LEN);
	cr_assert(memcmp(sb->seal.data, want, SHA256_LEN) == 0);
	cr_assert_eq(sb->bundle.len, plen);
	cr_assert(memcmp(sb->bundle.data, packed, plen) == 0);
	ras__sealed_bundle__free_unpacked(sb, NULL);
	free(sealed);

	sealed = seal(fleet_key, KEYLEN, &len);
	sb = ras__sealed_bundle__unpack(NULL, len, sealed);
	cr_assert_not_null(sb);
	cr_assert_eq(sb->seal_kind, BUNDLE_SEAL_HMAC);
	hmac_sha256(fleet_key, KEYLEN, packed, plen, want);
	cr_assert(memcmp(sb->seal.data, want, SHA256_LEN) == 0);
	ras__sealed_bundle__free_unpacked(sb, NULL);
	free(sealed);
	free(packed);
}

Test(bundle_round_trip, through_base64)
{
	Ras__Bundle *b;
	uint8_t *sealed, *back;
	size_t len, blen;
	char *text;

	x86();
	sealed = seal(fleet_key, KEYLEN, &len);
	text = bundle_base64(sealed, len);
	cr_assert_not_null(text);
	cr_assert_eq(bundle_unbase64(text, &back, &blen), 0);
	cr_assert_eq(blen, len);
	b = open_bytes(back, blen, fleet_key, KEYLEN);
	cr_assert_not_null(b, "%s", f.err);
	ras__bundle__free_unpacked(b, NULL);
	free(back);
	free(text);
	free(sealed);
}

/* --- seal refusals -------------------------------------------------- */

Test(bundle_seal, truncated_anywhere)
{
	uint8_t *sealed;
	size_t len, cut;
	int keyed;

	arm64();
	for (keyed = 0; keyed < 2; keyed++) {
		sealed = seal(keyed ? fleet_key : NULL, keyed ? KEYLEN : 0,
		    &len);
		for (cut = 0; cut < len; cut++)
			expect_refused_bytes(sealed, cut,
			    keyed ? fleet_key : NULL, keyed ? KEYLEN : 0,
			    "truncated or malformed");
		free(sealed);
	}
	expect_refused_bytes(NULL, 0, NULL, 0, "truncated or malformed");
}

Test(bundle_seal, flipped_bit_anywhere)
{
	uint8_t *sealed;
	size_t len, off, plen, i, bit, sealoff;
	int keyed;

	arm64();
	for (keyed = 0; keyed < 2; keyed++) {
		const uint8_t *key = keyed ? fleet_key : NULL;
		size_t keylen = keyed ? KEYLEN : 0;

		sealed = seal(key, keylen, &len);
		off = payload_offset(sealed, len, &plen);
		sealoff = len - SHA256_LEN;	/* the seal is the last field */
		for (i = 0; i < len; i++)
			for (bit = 0; bit < 8; bit++) {
				sealed[i] ^= (uint8_t)(1u << bit);
				if ((i >= off && i < off + plen) ||
				    i >= sealoff)
					expect_refused_bytes(sealed, len, key,
					    keylen, "bundle seal does not "
					    "match: corrupted or forged");
				else
					cr_assert_null(open_bytes(sealed, len,
					    key, keylen), "byte %zu bit %zu",
					    i, bit);
				sealed[i] ^= (uint8_t)(1u << bit);
			}
		/* And unflipped it still opens. */
		ras__bundle__free_unpacked(open_bytes(sealed, len, key,
		    keylen), NULL);
		free(sealed);
	}
}

Test(bundle_seal, forged_with_another_key)
{
	uint8_t *sealed;
	size_t len;

	arm64();
	/* The forger drops the active records and signs with its own key. */
	f.b.n_records = 0;
	sealed = seal(other_key, KEYLEN, &len);
	expect_refused_bytes(sealed, len, fleet_key, KEYLEN,
	    "bundle seal does not match: corrupted or forged");
	free(sealed);
}

Test(bundle_seal, unkeyed_bundle_when_a_key_is_configured)
{
	uint8_t *sealed;
	size_t len;

	arm64();
	sealed = seal(NULL, 0, &len);
	expect_refused_bytes(sealed, len, fleet_key, KEYLEN,
	    "unauthenticated");
	free(sealed);
}

Test(bundle_seal, signed_bundle_without_a_key)
{
	uint8_t *sealed;
	size_t len;

	arm64();
	sealed = seal(fleet_key, KEYLEN, &len);
	expect_refused_bytes(sealed, len, NULL, 0,
	    "sealed with a fleet key (HMAC) but no fleet key is configured");
	free(sealed);
}

Test(bundle_seal, unknown_kind_and_short_seal)
{
	Ras__SealedBundle sb = RAS__SEALED_BUNDLE__INIT;
	uint8_t *packed, digest[SHA256_LEN], out[4096];
	size_t plen, n;

	arm64();
	packed = pack(&f.b, &plen);
	sha256(packed, plen, digest);
	sb.bundle.data = packed;
	sb.bundle.len = plen;
	sb.seal.data = digest;
	sb.seal.len = SHA256_LEN;
	sb.seal_kind = 4;
	n = ras__sealed_bundle__pack(&sb, out);
	expect_refused_bytes(out, n, NULL, 0, "unknown bundle seal kind 4");
	sb.seal_kind = BUNDLE_SEAL_SIGNED;
	n = ras__sealed_bundle__pack(&sb, out);
	expect_refused_bytes(out, n, NULL, 0, "bundle is signed by a host "
	    "certificate but no CA is configured to verify it");
	sb.seal_kind = 0;
	n = ras__sealed_bundle__pack(&sb, out);
	expect_refused_bytes(out, n, NULL, 0, "unknown bundle seal kind 0");
	sb.seal_kind = BUNDLE_SEAL_SHA256;
	sb.seal.len = SHA256_LEN - 1;
	n = ras__sealed_bundle__pack(&sb, out);
	expect_refused_bytes(out, n, NULL, 0, "seal is 31 bytes, expected 32");
	free(packed);
}

Test(bundle_seal, bad_key_lengths)
{
	uint8_t *sealed, key[BUNDLE_KEY_MAX + 1];
	size_t len;

	memset(key, 'k', sizeof key);
	arm64();
	errno = 0;
	cr_assert_eq(bundle_seal((const uint8_t *)"x", 1, key,
	    BUNDLE_KEY_MIN - 1, &sealed, &len), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(sealed);
	cr_assert_eq(bundle_seal((const uint8_t *)"x", 1, key,
	    BUNDLE_KEY_MAX + 1, &sealed, &len), -1);
	cr_assert_eq(errno, EINVAL);
	sealed = seal(key, BUNDLE_KEY_MAX, &len);
	ras__bundle__free_unpacked(open_bytes(sealed, len, key,
	    BUNDLE_KEY_MAX), NULL);
	cr_assert_str_empty(f.err);
	expect_refused_bytes(sealed, len, key, BUNDLE_KEY_MAX + 1,
	    "fleet key is 65 bytes, must be 16..64");
	free(sealed);
}

Test(bundle_seal, oversize)
{
	Ras__SealedBundle sb = RAS__SEALED_BUNDLE__INIT;
	uint8_t *big, *out, *sealed, digest[SHA256_LEN];
	size_t n, len;

	big = calloc(1, BUNDLE_MAX_BYTES + 1);
	cr_assert_not_null(big);
	/* The sealer refuses to make what no importer would take. */
	errno = 0;
	cr_assert_eq(bundle_seal(big, BUNDLE_MAX_BYTES, NULL, 0, &sealed,
	    &len), -1);
	cr_assert_eq(errno, EFBIG);
	cr_assert_eq(bundle_seal(big, BUNDLE_MAX_BYTES + 1, fleet_key, KEYLEN,
	    &sealed, &len), -1);
	cr_assert_eq(errno, EFBIG);

	sha256(big, BUNDLE_MAX_BYTES, digest);
	sb.seal_kind = BUNDLE_SEAL_SHA256;
	sb.bundle.data = big;
	sb.bundle.len = BUNDLE_MAX_BYTES;
	sb.seal.data = digest;
	sb.seal.len = SHA256_LEN;
	n = ras__sealed_bundle__get_packed_size(&sb);
	out = malloc(n);
	cr_assert_not_null(out);
	ras__sealed_bundle__pack(&sb, out);
	expect_refused_bytes(out, n, NULL, 0, "is over the 16777216-byte "
	    "limit");
	free(out);
	free(big);
}

Test(bundle_seal, sealed_garbage_is_malformed_contents)
{
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0x07 };
	uint8_t *sealed;
	size_t len;

	cr_assert_eq(bundle_seal(junk, sizeof junk, NULL, 0, &sealed, &len),
	    0);
	expect_refused_bytes(sealed, len, NULL, 0, "bundle contents are "
	    "malformed");
	free(sealed);
	/* An empty Bundle lacks every required field. */
	cr_assert_eq(bundle_seal(NULL, 0, fleet_key, KEYLEN, &sealed, &len),
	    0);
	expect_refused_bytes(sealed, len, fleet_key, KEYLEN, "bundle contents "
	    "are malformed");
	free(sealed);
}

/*
 * protobuf-c keeps a field numbered 0 written as a two-byte tag, but would
 * refuse it once re-exported in its one-byte form: refused up front.
 */
Test(bundle_seal, field_number_zero)
{
	static const uint8_t zero[] = { 0x80, 0x00, 0x01 };
	uint8_t *packed, *bytes, *sealed;
	size_t plen, len;

	arm64();
	packed = pack(&f.b, &plen);
	bytes = malloc(plen + sizeof zero);
	cr_assert_not_null(bytes);
	memcpy(bytes, packed, plen);
	memcpy(bytes + plen, zero, sizeof zero);
	cr_assert_eq(bundle_seal(bytes, plen + sizeof zero, NULL, 0, &sealed,
	    &len), 0);
	expect_refused_bytes(sealed, len, NULL, 0, "bundle has a field "
	    "numbered 0");
	free(sealed);
	/* Other unknown fields are a newer exporter's additions: kept. */
	bytes[plen] = 0xa0;	/* field 100, varint */
	bytes[plen + 1] = 0x06;
	bytes[plen + 2] = 0x00;
	cr_assert_eq(bundle_seal(bytes, plen + 3, NULL, 0, &sealed, &len), 0);
	ras__bundle__free_unpacked(open_bytes(sealed, len, NULL, 0), NULL);
	cr_assert_str_empty(f.err);
	free(sealed);
	free(bytes);
	free(packed);
}

Test(bundle_seal, null_err_is_fine)
{
	cr_assert_null(bundle_open((const uint8_t *)"\x0a", 1, NULL, 0, NULL,
	    0));
	cr_assert_null(bundle_open((const uint8_t *)"\x0a", 1, NULL, 0, f.err,
	    0));
}

/* --- identity and version refusals ---------------------------------- */

Test(bundle_refused, newer_version)
{
	arm64();
	f.b.version = 2;
	expect_refused("bundle version 2 is newer than this rasd (1)");
	f.b.version = 0xffffffffu;
	expect_refused("bundle version 4294967295 is newer than this rasd");
}

Test(bundle_refused, version_zero)
{
	arm64();
	f.b.version = 0;
	expect_refused("bundle version 0 is not valid");
}

Test(bundle_refused, bad_uuid_length)
{
	arm64();
	f.b.uuid.len = 15;
	expect_refused("bundle uuid is 15 bytes, expected 16");
	f.b.uuid.len = 17;
	expect_refused("bundle uuid is 17 bytes, expected 16");
	f.b.uuid.len = 0;
	expect_refused("bundle uuid is 0 bytes, expected 16");
}

Test(bundle_refused, bad_names)
{
	arm64();
	f.name[0] = '\0';
	expect_refused("name must be 1..255 bytes");
	memset(f.name, 'n', 256);
	f.name[256] = '\0';
	expect_refused("name must be 1..255 bytes, not 256");
	strcpy(f.name, "web\n01");
	expect_refused("name contains control characters");
	strcpy(f.name, "web\x7f");
	expect_refused("name contains control characters");
}

Test(bundle_refused, bad_arch)
{
	arm64();
	f.b.arch = RAS_ARCH_UNKNOWN;
	expect_refused("bundle arch 0 is not arm64 (1) or x86_64 (2)");
	f.b.arch = 3;
	expect_refused("bundle arch 3 is not");
}

Test(bundle_refused, bad_source_host_and_created)
{
	arm64();
	strcpy(f.host, "host\twith tab");
	f.b.n_records = 0;
	expect_refused("source host must be at most 64 printable");
	memset(f.host, 'h', 65);
	f.host[65] = '\0';
	expect_refused("source host must be at most 64 printable");
	strcpy(f.host, "ok");
	f.b.created = -1;
	expect_refused("bundle creation time -1 is negative");
}

/* --- boot profile refusals ------------------------------------------ */

Test(bundle_refused, bad_hest)
{
	arm64();
	f.hest[60] ^= 0x01;	/* breaks the checksum */
	expect_refused("bundle boot HEST: checksum mismatch");
}

Test(bundle_refused, hest_with_a_bad_source)
{
	uint8_t sum = 0;
	size_t i;

	arm64();
	f.hest[40] = 3;		/* type of the only source: reserved */
	f.hest[9] = 0;
	for (i = 0; i < f.hestlen; i++)
		sum += f.hest[i];
	f.hest[9] = (uint8_t)(0x100 - sum);
	expect_refused("bundle boot HEST: ");
}

Test(bundle_refused, empty_and_oversized_hest)
{
	arm64();
	f.b.hest.len = 0;
	expect_refused("bundle boot HEST is empty");
	f.b.hest.data = calloc(1, HEST_MAX_LEN + 1);
	f.b.hest.len = HEST_MAX_LEN + 1;
	expect_refused("over the 1048576-byte limit");
	free(f.b.hest.data);
}

Test(bundle_refused, both_hest_and_declared)
{
	x86();
	f.b.has_hest = 1;
	load_hest();
	f.b.hest.data = f.hest;
	f.b.hest.len = f.hestlen;
	expect_refused("bundle has both a boot HEST and a declared profile");
}

Test(bundle_refused, declared_notify_12)
{
	x86();
	f.src[1].notify = 12;
	expect_refused("declared source 1: notification type 12 is not 0..11");
}

Test(bundle_refused, declared_duplicate_and_wide_ids)
{
	x86();
	f.src[1].source_id = 0;
	expect_refused("declared source id 0 appears twice");
	f.src[1].source_id = 0x10000;
	expect_refused("declared source 1: source id 65536 is over 65535");
}

Test(bundle_refused, too_many_declared_sources)
{
	x86();
	f.src[1].source_id = 1;
	f.b.n_declared = RAS_PROFILE_MAX;
	expect_round_trip(NULL, 0);
	f.b.n_declared = RAS_PROFILE_MAX + 1;
	expect_refused("bundle has 65 declared sources, at most 64");
}

/* --- record refusals ------------------------------------------------- */

Test(bundle_refused, misaligned_gpa)
{
	arm64();
	f.rec[1].gpa += 4096;	/* inside a 2 MiB page */
	expect_refused("record 1: gpa 0x80001000 is not aligned to its length "
	    "0x200000");
}

Test(bundle_refused, non_power_of_two_length)
{
	arm64();
	f.rec[0].length = 3 * 4096;
	expect_refused("record 0: length 0x3000 is not a power of two");
	f.rec[0].length = 0;
	expect_refused("record 0: length 0x0 is not a power of two");
}

Test(bundle_refused, length_out_of_bounds)
{
	arm64();
	f.rec[2].length = 2048;
	f.rec[2].gpa = 0;
	expect_refused("record 2: length 0x800 is outside 0x1000..");
	f.rec[2].length = BUNDLE_RANGE_MAX << 1;
	expect_refused("record 2: length 0x20000000000 is outside");
}

Test(bundle_refused, range_overflows)
{
	arm64();
	f.rec[0].gpa = 0 - 4096ULL;	/* would end at 2^64 */
	expect_refused("record 0: range 0xfffffffffffff000 + 0x1000 overflows");
}

Test(bundle_refused, bad_kind_and_action)
{
	arm64();
	f.rec[0].kind = 3;
	expect_refused("record 0: kind 3 is not AR (1) or AO (2)");
	f.rec[0].kind = 0;
	expect_refused("record 0: kind 0 is not");
	f.rec[0].kind = RAS_KIND_AR;
	f.rec[0].action = 0;
	expect_refused("record 0: action 0 is not 1..3");
	f.rec[0].action = 4;
	expect_refused("record 0: action 4 is not 1..3");
}

Test(bundle_refused, notify_12)
{
	arm64();
	f.rec[2].notify = 12;
	expect_refused("record 2: notification type 12 is not 0..11");
}

Test(bundle_refused, source_id_without_notify)
{
	arm64();
	f.rec[0].has_notify = 0;
	expect_refused("record 0: source id 0 without a notification type");
}

Test(bundle_refused, notify_without_source_id)
{
	arm64();
	f.rec[0].has_source_id = 0;
	expect_refused("record 0: notification type 8 without a source id");
	f.rec[0].has_source_id = 1;
	f.rec[0].source_id = 70000;
	expect_refused("record 0: source id 70000 is over 65535");
}

Test(bundle_refused, bad_time_host_origin)
{
	arm64();
	f.rec[1].time = -5;
	expect_refused("record 1: time -5 is negative");
	f.rec[1].time = 0;
	f.rec[1].origin = "for\x1bward";
	expect_refused("record 1: origin must be at most 64 printable");
	f.rec[1].origin = "forward";
	f.rec[1].host = "h\xc3\xa9";
	expect_refused("record 1: host must be at most 64 printable");
	f.rec[1].host = "0123456789012345678901234567890123456789012345678901"
	    "2345678901234";
	expect_refused("record 1: host must be at most 64 printable");
}

/* Allocate n small valid records into the fixture. */
static void
many_records(size_t n)
{
	Ras__BundleRecord *r, **rp;
	size_t i;

	r = calloc(n, sizeof *r);
	rp = calloc(n, sizeof *rp);
	cr_assert(r != NULL && rp != NULL);
	for (i = 0; i < n; i++) {
		ras__bundle_record__init(&r[i]);
		r[i].gpa = 4096 * (uint64_t)i;
		r[i].length = 4096;
		r[i].kind = RAS_KIND_AO;
		r[i].action = RAS_ACTION_IGNORE;
		r[i].host = "h";
		r[i].origin = "f";
		rp[i] = &r[i];
	}
	f.b.records = rp;
	f.b.n_records = n;
}

Test(bundle_refused, too_many_records, .timeout = 60)
{
	Ras__BundleRecord **rp;

	arm64();
	many_records(BUNDLE_MAX_RECORDS + 1);
	rp = f.b.records;
	expect_refused("bundle has 100001 records, at most 100000");
	f.b.n_records = BUNDLE_MAX_RECORDS;
	expect_round_trip(NULL, 0);
	free(rp[0]);
	free(rp);
}

/* --- profiles -------------------------------------------------------- */

Test(bundle_profile, from_hest)
{
	struct ras_profile prof;
	Ras__Bundle *b;
	uint8_t *sealed;
	size_t len;

	arm64();
	sealed = seal(fleet_key, KEYLEN, &len);
	b = open_bytes(sealed, len, fleet_key, KEYLEN);
	cr_assert_not_null(b, "%s", f.err);
	memset(&prof, 0xa5, sizeof prof);
	cr_assert_eq(bundle_profile(b, &prof, f.err, sizeof f.err), 0);
	cr_assert_str_empty(f.err);
	cr_assert_eq(prof.count, 1);
	cr_assert_eq(prof.src[0].source_id, 0);
	cr_assert_eq(prof.src[0].notify, RAS_NOTIFY_SEA);
	cr_assert_eq(prof.src[0].hest_type, HEST_GHES_V2);
	ras__bundle__free_unpacked(b, NULL);
	free(sealed);
}

Test(bundle_profile, from_declared)
{
	struct ras_profile prof;

	x86();
	memset(&prof, 0xa5, sizeof prof);
	cr_assert_eq(bundle_profile(&f.b, &prof, f.err, sizeof f.err), 0);
	cr_assert_eq(prof.count, 2);
	cr_assert_eq(prof.src[0].source_id, 0);
	cr_assert_eq(prof.src[0].notify, RAS_NOTIFY_MCE);
	cr_assert_eq(prof.src[0].hest_type, 0xff);
	cr_assert_eq(prof.src[1].source_id, 7);
	cr_assert_eq(prof.src[1].notify, RAS_NOTIFY_NMI);
	cr_assert_eq(prof.src[1].hest_type, 0xff);
}

Test(bundle_profile, neither_is_the_empty_profile)
{
	struct ras_profile prof;

	x86();
	f.b.n_declared = 0;
	for (size_t i = 0; i < NREC; i++) {
		f.rec[i].has_notify = 0;
		f.rec[i].has_source_id = 0;
		f.rec[i].action = RAS_ACTION_STOP_VM;
	}
	expect_round_trip(NULL, 0);
	memset(&prof, 0xa5, sizeof prof);
	cr_assert_eq(bundle_profile(&f.b, &prof, f.err, sizeof f.err), 0);
	cr_assert_eq(prof.count, 0);
}

Test(bundle_profile, refused_profile_is_empty)
{
	struct ras_profile prof;

	arm64();
	f.hest[100] ^= 0x40;
	memset(&prof, 0xa5, sizeof prof);
	cr_assert_eq(bundle_profile(&f.b, &prof, f.err, sizeof f.err), -1);
	cr_assert(strstr(f.err, "bundle boot HEST: checksum") != NULL, "%s",
	    f.err);
	cr_assert_eq(prof.count, 0);
	cr_assert_eq(bundle_check(&f.b, NULL, 0), -1);
}

/* The seeds of the fuzz target must stay valid sealed bundles. */
Test(bundle_profile, fuzz_corpus_seeds_open)
{
	static const char *seeds[] = {
		"sealed-arm64-hest", "sealed-x86-declared",
		"keyed-arm64-hest", "keyed-x86-declared",
	};
	struct ras_profile prof;
	uint8_t buf[8192];
	Ras__Bundle *b;
	char path[256];
	size_t i, n;
	FILE *fp;
	int keyed;

	for (i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
		snprintf(path, sizeof path, CORPUS "%s", seeds[i]);
		fp = fopen(path, "rb");
		cr_assert_not_null(fp, "%s", path);
		n = fread(buf, 1, sizeof buf, fp);
		fclose(fp);
		keyed = strncmp(seeds[i], "keyed", 5) == 0;
		b = open_bytes(buf, n, keyed ? fuzz_key : NULL,
		    keyed ? FUZZ_KEYLEN : 0);
		cr_assert_not_null(b, "%s: %s", path, f.err);
		cr_assert_eq(bundle_profile(b, &prof, NULL, 0), 0);
		cr_assert_gt(prof.count, 0);
		ras__bundle__free_unpacked(b, NULL);
	}
}

/* --- base64 ---------------------------------------------------------- */

/* Assert s decodes to exactly want (len bytes). */
static void
expect_unbase64(const char *s, const char *want, size_t len)
{
	uint8_t *out;
	size_t n;

	cr_assert_eq(bundle_unbase64(s, &out, &n), 0, "\"%s\" refused", s);
	cr_assert_not_null(out);
	cr_assert_eq(n, len, "\"%s\": %zu bytes, expected %zu", s, n, len);
	cr_assert(memcmp(out, want, len) == 0, "\"%s\"", s);
	free(out);
}

/* Assert s is refused as base64. */
static void
expect_bad_base64(const char *s)
{
	uint8_t *out = (uint8_t *)"x";
	size_t n = 99;

	errno = 0;
	cr_assert_eq(bundle_unbase64(s, &out, &n), -1, "\"%s\" accepted", s);
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(out);
	cr_assert_eq(n, 0);
}

Test(bundle_base64, rfc4648_vectors)
{
	static const char *v[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	size_t i;
	char *s;

	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		s = bundle_base64((const uint8_t *)v[i][0], strlen(v[i][0]));
		cr_assert_not_null(s);
		cr_assert_str_eq(s, v[i][1]);
		free(s);
		expect_unbase64(v[i][1], v[i][0], strlen(v[i][0]));
	}
}

Test(bundle_base64, round_trip_lengths_0_to_5_and_all_bytes)
{
	uint8_t data[256], *out;
	size_t len, start, n;
	char *s;

	for (len = 0; len < sizeof data; len++)
		data[len] = (uint8_t)(255 - len);
	for (len = 0; len <= 5; len++)
		for (start = 0; start + len <= sizeof data; start += 3) {
			s = bundle_base64(data + start, len);
			cr_assert_not_null(s);
			cr_assert_eq(strlen(s), (len + 2) / 3 * 4);
			cr_assert_eq(bundle_unbase64(s, &out, &n), 0, "%s", s);
			cr_assert_eq(n, len);
			cr_assert(memcmp(out, data + start, len) == 0);
			free(out);
			free(s);
		}
	s = bundle_base64(data, sizeof data);
	cr_assert_eq(bundle_unbase64(s, &out, &n), 0);
	cr_assert_eq(n, sizeof data);
	cr_assert(memcmp(out, data, n) == 0);
	free(out);
	free(s);
	/* "+" and "/" both appear for these bytes. */
	s = bundle_base64((const uint8_t *)"\xfb\xff\xbf", 3);
	cr_assert_str_eq(s, "+/+/");
	free(s);
}

Test(bundle_base64, whitespace_is_ignored)
{
	expect_unbase64("Zm9v\nYmFy\n", "foobar", 6);
	expect_unbase64("  Z m 9 v Y g = =  ", "foob", 4);
	expect_unbase64("\tZm9vYmE=\r\n", "fooba", 5);
	expect_unbase64(" \n\t", "", 0);
}

Test(bundle_base64, bad_input)
{
	expect_bad_base64("Zg=");		/* not a multiple of 4 */
	expect_bad_base64("Zm9vY");
	expect_bad_base64("Z===");		/* too much padding */
	expect_bad_base64("====");
	expect_bad_base64("Zg=a");		/* data after padding */
	expect_bad_base64("Zg==Zm9v");		/* padding in the middle */
	expect_bad_base64("Zm9v!mFy");		/* not in the alphabet */
	expect_bad_base64("Zm9v-_Fy");		/* URL-safe alphabet */
	expect_bad_base64("Zm9\x80");
	expect_bad_base64("Zh==");		/* non-zero bits under '=' */
	expect_bad_base64("Zm9=");
}

/* --- fleet key files ------------------------------------------------- */

static char keydir[64];

/* Write a key file with the given mode; returns its path. */
static const char *
keyfile(const char *name, const void *data, size_t len, mode_t mode)
{
	static char path[128];
	int fd;

	if (keydir[0] == '\0') {
		strcpy(keydir, "/tmp/rasd-test-key-XXXXXX");
		cr_assert_not_null(mkdtemp(keydir));
	}
	snprintf(path, sizeof path, "%s/%s", keydir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

/* Remove the key files and their directory. */
static void
keyfiles_cleanup(void)
{
	char cmd[128];

	if (keydir[0] != '\0') {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", keydir);
		cr_assert_eq(system(cmd), 0);
	}
}

/* Assert a key file is refused with a reason containing why. */
static void
expect_bad_key(const char *path, const char *why)
{
	uint8_t key[BUNDLE_KEY_MAX];
	size_t keylen = 99;

	cr_assert_eq(bundle_load_key(path, key, &keylen, f.err,
	    sizeof f.err), -1, "%s accepted", path);
	cr_assert_eq(keylen, 0);
	cr_assert(strstr(f.err, why) != NULL, "reason \"%s\", expected \"%s\"",
	    f.err, why);
}

Test(bundle_key, group_readable_refused, .fini = keyfiles_cleanup)
{
	const char *p;

	p = keyfile("k", "00112233445566778899aabbccddeeff\n", 33, 0644);
	expect_bad_key(p, "has mode 0644: a fleet key must be mode 0600 or "
	    "0400");
	p = keyfile("k", "00112233445566778899aabbccddeeff\n", 33, 0640);
	expect_bad_key(p, "must be mode 0600 or 0400");
	p = keyfile("k", "00112233445566778899aabbccddeeff\n", 33, 0602);
	expect_bad_key(p, "has mode 0602");
}

Test(bundle_key, hex_accepted, .fini = keyfiles_cleanup)
{
	uint8_t key[BUNDLE_KEY_MAX];
	size_t keylen, i;
	const char *p;

	p = keyfile("hex", "  00112233445566778899AABBccddeeff"
	    "0123456789abcdef0123456789ABCDEF\n", 67, 0600);
	cr_assert_eq(bundle_load_key(p, key, &keylen, f.err, sizeof f.err), 0,
	    "%s", f.err);
	cr_assert_str_empty(f.err);
	cr_assert_eq(keylen, 32);
	for (i = 0; i < 16; i++)
		cr_assert_eq(key[i], (uint8_t)(0x11 * i));
	cr_assert_eq(key[16], 0x01);
	cr_assert_eq(key[31], 0xef);

	p = keyfile("hex", "ffffffffffffffffffffffffffffffff", 32, 0400);
	cr_assert_eq(bundle_load_key(p, key, &keylen, f.err, sizeof f.err), 0,
	    "%s", f.err);
	cr_assert_eq(keylen, 16);
	cr_assert_eq(key[15], 0xff);
}

Test(bundle_key, raw_accepted_and_usable, .fini = keyfiles_cleanup)
{
	uint8_t key[BUNDLE_KEY_MAX], *sealed;
	Ras__Bundle *b;
	size_t keylen, len;
	const char *p;

	p = keyfile("raw", fleet_key, KEYLEN, 0600);
	cr_assert_eq(bundle_load_key(p, key, &keylen, f.err, sizeof f.err), 0,
	    "%s", f.err);
	cr_assert_eq(keylen, KEYLEN);
	cr_assert(memcmp(key, fleet_key, KEYLEN) == 0);

	/* A bundle sealed with the literal key opens with the loaded one. */
	arm64();
	sealed = seal(fleet_key, KEYLEN, &len);
	b = open_bytes(sealed, len, key, keylen);
	cr_assert_not_null(b, "%s", f.err);
	ras__bundle__free_unpacked(b, NULL);
	free(sealed);

	/* Binary bytes and a trailing newline are part of a raw key. */
	p = keyfile("bin", "\x00\x01\x02\xff\xfe\xfd\x80\x7f"
	    "\x00\x01\x02\xff\xfe\xfd\x80\x7f\n", 17, 0400);
	cr_assert_eq(bundle_load_key(p, key, &keylen, f.err, sizeof f.err), 0,
	    "%s", f.err);
	cr_assert_eq(keylen, 17);
	cr_assert_eq(key[0], 0x00);
	cr_assert_eq(key[16], '\n');
}

Test(bundle_key, bad_files, .fini = keyfiles_cleanup)
{
	char big[5000];

	expect_bad_key(keyfile("empty", "", 0, 0600), "is empty");
	expect_bad_key(keyfile("blank", " \n\n", 3, 0600), "is empty");
	expect_bad_key(keyfile("short", "too short!", 10, 0600),
	    "is 10 raw bytes; a key is 16..64 raw bytes");
	memset(big, 'x', 65);
	expect_bad_key(keyfile("long", big, 65, 0600), "is 65 raw bytes");
	expect_bad_key(keyfile("oddhex", "0123456789abcdef0123456789abcdef0",
	    33, 0600), "has 33 hex digits");
	expect_bad_key(keyfile("shorthex", "abcd\n", 5, 0600),
	    "has 4 hex digits");
	memset(big, 'a', 130);
	expect_bad_key(keyfile("longhex", big, 130, 0600),
	    "has 130 hex digits");
	memset(big, 'x', sizeof big);
	expect_bad_key(keyfile("huge", big, sizeof big, 0600),
	    "is over 4096 bytes");
	expect_bad_key("/nonexistent/rasd/fleet.key", "No such file");
	expect_bad_key(keydir, "is not a regular file");
}

/* --- signed bundles (seal kind 3) ---------------------------------------- */

/* A CA, and host certificates it signed, made with GnuTLS at test time. */
static struct pki_cert ca, rogue;
static struct bundle_ca *trust_ca;
static Ras__SealedBundle *opened;

static void
pki_setup(void)
{
	char err[256];

	pki_ca(&ca, "fleet CA");
	pki_ca(&rogue, "rogue CA");
	trust_ca = bundle_ca_mem(ca.crt_pem, ca.crt_len, err, sizeof err);
	cr_assert_not_null(trust_ca, "%s", err);
	arm64();
}

static void
pki_teardown(void)
{
	bundle_ca_free(trust_ca);
	pki_free(&ca);
	pki_free(&rogue);
	if (opened != NULL)
		ras__sealed_bundle__free_unpacked(opened, NULL);
	opened = NULL;
}

/* A signer for a host of issuer. */
static struct bundle_signer *
signer_for(const struct pki_cert *issuer, const struct pki_host *h)
{
	struct bundle_signer *s;
	struct pki_cert c;
	char err[256];

	pki_host(&c, issuer, h);
	s = bundle_signer_mem(c.crt_pem, c.crt_len, c.key_pem, c.key_len, err,
	    sizeof err);
	cr_assert_not_null(s, "bundle_signer_mem: %s", err);
	pki_free(&c);
	return s;
}

/* Pack the fixture and sign it with s. */
static uint8_t *
sign_fixture(const struct bundle_signer *s, size_t *len)
{
	uint8_t *packed, *sealed;
	size_t plen;

	packed = pack(&f.b, &plen);
	cr_assert_eq(bundle_sign(packed, plen, s, &sealed, len), 0,
	    "bundle_sign: %s", strerror(errno));
	free(packed);
	return sealed;
}

/* Open with the fleet CA (and nothing else), filling f.err. */
static Ras__Bundle *
open_signed(const uint8_t *sealed, size_t len, struct bundle_sealer *who)
{
	struct bundle_trust t = { BUNDLE_ACCEPT_SIGNED, NULL, 0, trust_ca };

	memset(f.err, 'X', sizeof f.err);
	return bundle_open_trusted(sealed, len, &t, who, f.err, sizeof f.err);
}

static void
expect_signed_refused(const uint8_t *sealed, size_t len, const char *why)
{
	Ras__Bundle *b = open_signed(sealed, len, NULL);

	cr_assert_null(b, "accepted a bundle that should fail with \"%s\"",
	    why);
	cr_assert(memchr(f.err, '\0', sizeof f.err) != NULL);
	cr_assert(strstr(f.err, why) != NULL, "reason \"%s\", expected \"%s\"",
	    f.err, why);
}

/* Sign the fixture as host h of issuer; open it; 1 if taken. */
static void
round_trip(const struct pki_cert *issuer, const struct pki_host *h,
    const char *why)
{
	struct bundle_signer *s = signer_for(issuer, h);
	struct bundle_sealer who;
	Ras__Bundle *b;
	uint8_t *sealed;
	size_t len;
	char dn[300];

	sealed = sign_fixture(s, &len);
	if (why != NULL) {
		expect_signed_refused(sealed, len, why);
	} else {
		b = open_signed(sealed, len, &who);
		cr_assert_not_null(b, "refused: %s", f.err);
		cr_assert_str_empty(f.err);
		cr_assert_eq(who.kind, BUNDLE_SEAL_SIGNED);
		snprintf(dn, sizeof dn, "CN=%s,O=rasd tests", h->cn);
		cr_assert_str_eq(who.dn, dn);
		cr_assert_str_eq(bundle_signer_dn(s), dn);
		cr_assert_eq(b->generation, 42);
		cr_assert_eq(b->n_records, NREC);
		ras__bundle__free_unpacked(b, NULL);
	}
	free(sealed);
	bundle_signer_free(s);
}

Test(bundle_signed, ecdsa_rsa_pss_ed25519_round_trip, .init = pki_setup,
    .fini = pki_teardown)
{
	struct pki_host h = { .cn = "host-a.test", .ip = "192.0.2.10" };

	round_trip(&ca, &h, NULL);
	h.pk = GNUTLS_PK_RSA;
	round_trip(&ca, &h, NULL);
	h.pk = GNUTLS_PK_RSA_PSS;
	round_trip(&ca, &h, NULL);
	h.pk = GNUTLS_PK_EDDSA_ED25519;
	round_trip(&ca, &h, NULL);
}

Test(bundle_signed, another_ca_expired_not_yet_valid, .init = pki_setup,
    .fini = pki_teardown)
{
	struct pki_host h = { .cn = "host-a.test" };

	round_trip(&rogue, &h, "is not trusted here: ");
	round_trip(&rogue, &h, "issuer is unknown");
	h.from = -7200;
	h.until = -3600;
	round_trip(&ca, &h, "expired");
	h.from = 3600;
	h.until = 7200;
	round_trip(&ca, &h, "not yet valid");
}

Test(bundle_signed, purpose_and_key_usage, .init = pki_setup,
    .fini = pki_teardown)
{
	struct pki_host h = { .cn = "host-a.test", .client_only = 1 };

	round_trip(&ca, &h, "is not trusted here");
	h.client_only = 0;
	h.no_signing = 1;
	round_trip(&ca, &h, "does not allow digital signatures");
}

Test(bundle_signed, the_source_host_it_names, .init = pki_setup,
    .fini = pki_teardown)
{
	struct pki_host h = { .cn = "host-a.test", .ip = "192.0.2.10" };

	f.b.source_peer = "tcp:host-a.test:7465";
	round_trip(&ca, &h, NULL);
	f.b.source_peer = "tcp:192.0.2.10:7465";
	round_trip(&ca, &h, NULL);
	f.b.source_peer = "unix:/run/rasd/peer.sock";	/* no host named */
	round_trip(&ca, &h, NULL);
	f.b.source_peer = "tcp:host-b.test:7465";
	round_trip(&ca, &h, "bundle names its source tcp:host-b.test:7465, "
	    "but its signer CN=host-a.test,O=rasd tests is not that host "
	    "(its certificate does not name host-b.test)");
	f.b.source_peer = "tcp:192.0.2.11:7465";
	round_trip(&ca, &h, "does not name 192.0.2.11");
	f.b.source_peer = "tcp:[2001:db8::1]:7465";
	round_trip(&ca, &h, "does not name 2001:db8::1");
}

Test(bundle_signed, flipped_byte_or_truncated_anywhere, .init = pki_setup,
    .fini = pki_teardown)
{
	struct pki_host h = { .cn = "host-a.test" };
	struct bundle_signer *s = signer_for(&ca, &h);
	uint8_t *sealed;
	size_t len, i;

	sealed = sign_fixture(s, &len);
	for (i = 0; i < len; i++) {
		sealed[i] ^= 0x01;
		cr_assert_null(open_signed(sealed, len, NULL),
		    "byte %zu flipped: accepted", i);
		cr_assert(f.err[0] != '\0' && memchr(f.err, '\0',
		    sizeof f.err) != NULL);
		sealed[i] ^= 0x01;
	}
	for (i = 0; i < len; i++)
		cr_assert_null(open_signed(sealed, i, NULL), "cut at %zu", i);
	free(sealed);
	bundle_signer_free(s);
}

/* Unpack a signed bundle to edit it (freed by the teardown). */
static Ras__SealedBundle *
unpack_sealed(const uint8_t *sealed, size_t len)
{
	opened = ras__sealed_bundle__unpack(NULL, len, sealed);
	cr_assert_not_null(opened);
	return opened;
}

/* Pack an edited SealedBundle and expect it refused for why. */
static void
expect_edit_refused(const Ras__SealedBundle *sb, const char *why)
{
	uint8_t out[16384];
	size_t n;

	cr_assert_leq(ras__sealed_bundle__get_packed_size(sb), sizeof out);
	n = ras__sealed_bundle__pack(sb, out);
	expect_signed_refused(out, n, why);
}

Test(bundle_signed, another_hosts_certificate_or_none, .init = pki_setup,
    .fini = pki_teardown)
{
	struct pki_host ha = { .cn = "host-a.test" }, hb = { .cn = "host-b.test" };
	struct bundle_signer *a = signer_for(&ca, &ha), *b = signer_for(&ca, &hb);
	Ras__SealedBundle e, *sb = &e, *sbb;
	uint8_t *sa, *sbytes;
	size_t la, lb;

	sa = sign_fixture(a, &la);
	sbytes = sign_fixture(b, &lb);
	sbb = ras__sealed_bundle__unpack(NULL, lb, sbytes);
	cr_assert_not_null(sbb);
	e = *unpack_sealed(sa, la);	/* edited as a copy */
	/* A's signature presented with B's (valid) certificate. */
	sb->signer = sbb->signer;
	expect_edit_refused(sb, "bundle signature by CN=host-b.test,O=rasd "
	    "tests does not verify: corrupted or forged");
	sb->has_signer = 0;
	expect_edit_refused(sb, "signed bundle without the signer's "
	    "certificate");
	sb->has_signer = 1;
	sb->signer.len = 20;
	expect_edit_refused(sb, "signer certificate is not a DER x509 "
	    "certificate");
	sb->signer = sbb->signer;
	sb->seal.len = 0;
	expect_edit_refused(sb, "bundle signature is 0 bytes, expected "
	    "1..1024");
	ras__sealed_bundle__free_unpacked(sbb, NULL);
	free(sa);
	free(sbytes);
	bundle_signer_free(a);
	bundle_signer_free(b);
}

Test(bundle_signed, what_a_trust_takes, .init = pki_setup,
    .fini = pki_teardown)
{
	struct pki_host h = { .cn = "host-a.test" };
	struct bundle_signer *s = signer_for(&ca, &h);
	struct bundle_trust t;
	uint8_t *sealed, *hm, *sum;
	size_t len, hl, sl;
	Ras__Bundle *b;

	sealed = sign_fixture(s, &len);
	hm = seal(fleet_key, KEYLEN, &hl);
	sum = seal(NULL, 0, &sl);
	memset(&t, 0, sizeof t);
	/* Nothing accepted: every kind refused with its reason. */
	cr_assert_null(bundle_open_trusted(sealed, len, &t, NULL, f.err,
	    sizeof f.err));
	cr_assert(strstr(f.err, "no CA is configured") != NULL, "%s", f.err);
	/* The signed kind accepted, but no CA given. */
	t.accept = BUNDLE_ACCEPT_SIGNED;
	cr_assert_null(bundle_open_trusted(sealed, len, &t, NULL, f.err,
	    sizeof f.err));
	/* Signed and HMAC with a key: both taken, the checksum not. */
	t.accept = BUNDLE_ACCEPT_SIGNED | BUNDLE_ACCEPT_HMAC;
	t.ca = trust_ca;
	t.key = fleet_key;
	t.keylen = KEYLEN;
	b = bundle_open_trusted(hm, hl, &t, NULL, f.err, sizeof f.err);
	cr_assert_not_null(b, "%s", f.err);
	ras__bundle__free_unpacked(b, NULL);
	b = bundle_open_trusted(sealed, len, &t, NULL, f.err, sizeof f.err);
	cr_assert_not_null(b, "%s", f.err);
	ras__bundle__free_unpacked(b, NULL);
	cr_assert_null(bundle_open_trusted(sum, sl, &t, NULL, f.err,
	    sizeof f.err));
	cr_assert(strstr(f.err, "but a fleet key is configured: refusing an "
	    "unauthenticated bundle") != NULL, "%s", f.err);
	/* HMAC accepted but no key: refused as such. */
	t.key = NULL;
	t.keylen = 0;
	cr_assert_null(bundle_open_trusted(hm, hl, &t, NULL, f.err,
	    sizeof f.err));
	cr_assert(strstr(f.err, "no fleet key is configured") != NULL, "%s",
	    f.err);
	/* The old entry point takes no signed bundle. */
	expect_refused_bytes(sealed, len, NULL, 0, "no CA is configured");
	expect_refused_bytes(sealed, len, fleet_key, KEYLEN,
	    "no CA is configured");
	free(sealed);
	free(hm);
	free(sum);
	bundle_signer_free(s);
}

Test(bundle_signed, a_digest_seal_with_a_signer_is_refused,
    .init = pki_setup, .fini = pki_teardown)
{
	struct pki_host h = { .cn = "host-a.test" };
	struct bundle_signer *s = signer_for(&ca, &h);
	Ras__SealedBundle e, *sb = &e;
	uint8_t *sealed, digest[SHA256_LEN], out[16384];
	size_t len, n;

	sealed = sign_fixture(s, &len);
	e = *unpack_sealed(sealed, len);	/* edited as a copy */
	sha256(sb->bundle.data, sb->bundle.len, digest);
	sb->seal_kind = BUNDLE_SEAL_SHA256;
	sb->seal.data = digest;
	sb->seal.len = sizeof digest;
	n = ras__sealed_bundle__pack(sb, out);
	expect_refused_bytes(out, n, NULL, 0, "bundle sealed with kind 1 "
	    "carries a signer certificate");
	free(sealed);
	bundle_signer_free(s);
}

Test(bundle_signed, signer_loading, .init = pki_setup, .fini = pki_teardown)
{
	struct pki_host h = { .cn = "host-a.test" };
	struct pki_cert a, b;
	struct bundle_signer *s;
	char err[256];

	pki_host(&a, &ca, &h);
	pki_host(&b, &ca, &h);
	s = bundle_signer_mem(a.crt_pem, a.crt_len, b.key_pem, b.key_len, err,
	    sizeof err);
	cr_assert_null(s);
	cr_assert(strstr(err, "the private key does not belong to the "
	    "certificate") != NULL, "%s", err);
	s = bundle_signer_mem("junk", 4, a.key_pem, a.key_len, err, sizeof err);
	cr_assert_null(s);
	cr_assert(strstr(err, "certificate: ") == err, "%s", err);
	s = bundle_signer_mem(a.crt_pem, a.crt_len, "junk", 4, err, sizeof err);
	cr_assert_null(s);
	cr_assert(strstr(err, "private key: ") == err, "%s", err);
	s = bundle_signer_mem(a.crt_pem, a.crt_len, a.key_pem, a.key_len, err,
	    sizeof err);
	cr_assert_not_null(s, "%s", err);
	cr_assert_eq(bundle_signer_valid(s, time(NULL), err, sizeof err), 0);
	cr_assert_eq(bundle_signer_valid(s, time(NULL) + 2 * 86400, err,
	    sizeof err), -1);
	cr_assert(strstr(err, "certificate of CN=host-a.test,O=rasd tests "
	    "expired at ") != NULL, "%s", err);
	cr_assert_eq(bundle_signer_valid(s, time(NULL) - 2 * 86400, err,
	    sizeof err), -1);
	cr_assert(strstr(err, "is not valid before") != NULL, "%s", err);
	bundle_signer_free(s);
	s = bundle_signer_load("/nonexistent/cert.pem", "/nonexistent/key.pem",
	    err, sizeof err);
	cr_assert_null(s);
	cr_assert(strstr(err, "certificate /nonexistent/cert.pem: No such "
	    "file") != NULL, "%s", err);
	cr_assert_null(bundle_ca_mem("junk", 4, err, sizeof err));
	cr_assert_null(bundle_ca_load("/nonexistent/ca.pem", err, sizeof err));
	cr_assert(strstr(err, "CA certificate /nonexistent/ca.pem") != NULL,
	    "%s", err);
	pki_free(&a);
	pki_free(&b);
}
