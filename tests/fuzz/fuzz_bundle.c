/*
 * fuzz_bundle.c -- fuzz target for the state bundle codec (migrate/bundle.c).
 *
 * A bundle comes from another host, a file or a domain's XML metadata, so
 * besides not crashing bundle_open() must keep its promises: a reason on
 * every refusal and none on success, a Bundle that bundle_check() and
 * bundle_profile() accept, and a verdict that does not depend on whether
 * the caller wants the reason. A Bundle it accepted, packed and sealed
 * again, must be accepted again. abort() makes any broken promise a
 * finding.
 *
 * Almost every mutation breaks the seal, which would keep the fuzzer at
 * the door; so each input is also taken as a packed Bundle and sealed
 * properly, without and with the key, before it is opened (the way
 * fuzz_hest repairs the checksum). Each input is finally read as base64
 * text, which must decode only from its one canonical form.
 *
 * The keyed runs use the 30 bytes "rasd-fuzz-key-0123456789abcdef"; the
 * keyed-* seeds in tests/fuzz/corpus/bundle are sealed with them.
 *
 * Signed bundles (seal kind 3): each input is also opened against a CA
 * made at start (tests/unit/pki.h), and signed by a host of that CA
 * before it is opened, with the same promises; what is accepted names
 * its signer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "../unit/pki.h"

#define FUZZ_KEY	"rasd-fuzz-key-0123456789abcdef"
#define FUZZ_KEYLEN	(sizeof FUZZ_KEY - 1)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_bundle_open(const uint8_t *, size_t, const uint8_t *,
		    size_t, int);
static void	fuzz_bundle_open_signed(const uint8_t *, size_t, int);

static struct bundle_ca *fuzz_ca;
static struct bundle_signer *fuzz_signer;

/* The CA and the host that signs, made once. */
static void
fuzz_pki(void)
{
	struct pki_host h = { .cn = "fuzz-host.test", .ip = "127.0.0.1" };
	struct pki_cert ca, host;
	char err[256];

	if (fuzz_ca != NULL)
		return;
	pki_ca(&ca, "rasd fuzz CA");
	pki_host(&host, &ca, &h);
	fuzz_ca = bundle_ca_mem(ca.crt_pem, ca.crt_len, err, sizeof err);
	fuzz_signer = bundle_signer_mem(host.crt_pem, host.crt_len,
	    host.key_pem, host.key_len, err, sizeof err);
	if (fuzz_ca == NULL || fuzz_signer == NULL)
		abort();
	pki_free(&ca);
	pki_free(&host);
}

/* Check what an accepted Bundle promises. */
static void
fuzz_bundle_accepted(Ras__Bundle *b, const uint8_t *key, size_t keylen,
    int again)
{
	struct ras_profile prof;
	uint8_t *packed, *sealed;
	size_t i, j, len, slen;
	char err[256];

	if (bundle_check(b, err, sizeof err) != 0 || err[0] != '\0')
		abort();
	memset(&prof, 0xa5, sizeof prof);
	if (bundle_profile(b, &prof, err, sizeof err) != 0 || err[0] != '\0')
		abort();
	if (prof.count > RAS_PROFILE_MAX)
		abort();
	for (i = 0; i < prof.count; i++) {
		if (prof.src[i].notify > RAS_NOTIFY_SDEI)
			abort();
		for (j = 0; j < i; j++)
			if (prof.src[j].source_id == prof.src[i].source_id)
				abort();
	}
	if (b->version != RAS_BUNDLE_VERSION || b->uuid.len != 16 ||
	    b->n_records > BUNDLE_MAX_RECORDS)
		abort();
	for (i = 0; i < b->n_records; i++) {
		const Ras__BundleRecord *r = b->records[i];

		if (r->length < BUNDLE_RANGE_MIN ||
		    r->length > BUNDLE_RANGE_MAX ||
		    (r->length & (r->length - 1)) != 0 ||
		    (r->gpa & (r->length - 1)) != 0 ||
		    r->gpa + r->length < r->gpa || r->gpa + r->length == 0)
			abort();
	}
	if (!again)
		return;

	/* What rasd exports from an imported bundle must import again. */
	len = ras__bundle__get_packed_size(b);
	if ((packed = malloc(len > 0 ? len : 1)) == NULL)
		abort();
	if (ras__bundle__pack(b, packed) != len)
		abort();
	if (bundle_seal(packed, len, key, keylen, &sealed, &slen) == 0) {
		fuzz_bundle_open(sealed, slen, key, keylen, 1);
		free(sealed);
	}
	free(packed);
}

/*
 * Open one sealed input and check the verdict; when it is an accepted
 * bundle sealed again (reopened), a refusal is a finding.
 */
static void
fuzz_bundle_open(const uint8_t *data, size_t size, const uint8_t *key,
    size_t keylen, int reopened)
{
	Ras__Bundle *b, *quiet;
	char err[256];

	memset(err, 'X', sizeof err);
	b = bundle_open(data, size, key, keylen, err, sizeof err);
	if (memchr(err, '\0', sizeof err) == NULL)
		abort();
	/* The same verdict without a place for the reason. */
	quiet = bundle_open(data, size, key, keylen, NULL, 0);
	if ((quiet == NULL) != (b == NULL))
		abort();
	if (quiet != NULL)
		ras__bundle__free_unpacked(quiet, NULL);
	if (b == NULL) {
		if (err[0] == '\0' || reopened)
			abort();
		return;
	}
	if (err[0] != '\0')
		abort();
	fuzz_bundle_accepted(b, key, keylen, !reopened);
	ras__bundle__free_unpacked(b, NULL);
}

/*
 * Open one input as a signed bundle against the fuzz CA, with the same
 * promises as fuzz_bundle_open; an accepted one, signed again, must be
 * accepted again.
 */
static void
fuzz_bundle_open_signed(const uint8_t *data, size_t size, int reopened)
{
	struct bundle_trust t = { BUNDLE_ACCEPT_SIGNED, NULL, 0, fuzz_ca };
	struct bundle_sealer who;
	Ras__Bundle *b, *quiet;
	uint8_t *packed, *sealed;
	size_t len, slen;
	char err[256];

	memset(err, 'X', sizeof err);
	b = bundle_open_trusted(data, size, &t, &who, err, sizeof err);
	if (memchr(err, '\0', sizeof err) == NULL)
		abort();
	quiet = bundle_open_trusted(data, size, &t, NULL, NULL, 0);
	if ((quiet == NULL) != (b == NULL))
		abort();
	if (quiet != NULL)
		ras__bundle__free_unpacked(quiet, NULL);
	if (b == NULL) {
		if (err[0] == '\0' || reopened)
			abort();
		return;
	}
	if (err[0] != '\0' || who.kind != BUNDLE_SEAL_SIGNED ||
	    strcmp(who.dn, bundle_signer_dn(fuzz_signer)) != 0)
		abort();
	fuzz_bundle_accepted(b, NULL, 0, 0);
	if (!reopened) {
		len = ras__bundle__get_packed_size(b);
		if ((packed = malloc(len > 0 ? len : 1)) == NULL ||
		    ras__bundle__pack(b, packed) != len)
			abort();
		if (bundle_sign(packed, len, fuzz_signer, &sealed, &slen) == 0) {
			fuzz_bundle_open_signed(sealed, slen, 1);
			free(sealed);
		}
		free(packed);
	}
	ras__bundle__free_unpacked(b, NULL);
}

/* Decode the input as base64; only the canonical text may decode. */
static void
fuzz_bundle_base64(const uint8_t *data, size_t size)
{
	uint8_t *out, *again;
	size_t n, m, i, k = 0;
	char *text, *enc;

	if ((text = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	if (bundle_unbase64(text, &out, &n) == 0) {
		if (out == NULL || (enc = bundle_base64(out, n)) == NULL)
			abort();
		/* The text without its whitespace is the encoding. */
		for (i = 0; text[i] != '\0'; i++)
			if (strchr(" \t\n\r\v\f", text[i]) == NULL)
				text[k++] = text[i];
		text[k] = '\0';
		if (strcmp(text, enc) != 0)
			abort();
		if (bundle_unbase64(enc, &again, &m) != 0 || m != n ||
		    memcmp(again, out, n) != 0)
			abort();
		fuzz_bundle_open(out, n, NULL, 0, 0);
		free(again);
		free(enc);
		free(out);
	} else if (out != NULL || n != 0)
		abort();
	free(text);
}

/* Open the input as given, then as a Bundle sealed properly. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[] = FUZZ_KEY;
	uint8_t *sealed;
	size_t len;

	fuzz_bundle_open(data, size, NULL, 0, 0);
	fuzz_bundle_open(data, size, key, FUZZ_KEYLEN, 0);
	if (bundle_seal(data, size, NULL, 0, &sealed, &len) == 0) {
		fuzz_bundle_open(sealed, len, NULL, 0, 0);
		free(sealed);
	}
	if (bundle_seal(data, size, key, FUZZ_KEYLEN, &sealed, &len) == 0) {
		fuzz_bundle_open(sealed, len, key, FUZZ_KEYLEN, 0);
		free(sealed);
	}
	fuzz_pki();
	fuzz_bundle_open_signed(data, size, 0);
	if (bundle_sign(data, size, fuzz_signer, &sealed, &len) == 0) {
		fuzz_bundle_open_signed(sealed, len, 0);
		free(sealed);
	}
	fuzz_bundle_base64(data, size);
	return 0;
}
