/*
 * bundle_sig.c -- bundles signed with the exporting host's x509 key and
 * verified against the fleet CA (seal kind 3), through GnuTLS.
 *
 * DESIGN: a signed SealedBundle carries the packed Bundle, the signature
 * and the signer's certificate (DER). The signature covers
 *
 *	"rasd-bundle-sig-1" || SHA-256(bundle)
 *
 * hashed again with SHA-256 by the signature scheme (ECDSA, RSA-PSS) or
 * taken as is by EdDSA. The context string keeps a bundle signature from
 * ever being mistaken for another use of the same key: the host key also
 * signs the peer channel's TLS handshakes, whose signed content starts
 * with 64 spaces (TLS 1.3) or with the two hellos' randoms (TLS 1.2), and
 * is never 49 bytes long. The scheme follows from the key -- never from
 * the bundle, so that a forger cannot choose a weaker one: ECDSA with
 * SHA-256, RSA-PSS with SHA-256 (for an rsaEncryption key too), Ed25519,
 * Ed448.
 *
 * The importer trusts a signer whose certificate chains to one of the CA
 * certificates (peer_ca), is within its dates now, allows TLS server use
 * (the host certificate of the peer channel signs: peer_cert) and, when
 * it says what the key may do, digital signatures. Revocation lists are
 * not read. The certificate's names are checked against the source the
 * Bundle names (bundle_sig_names) once the Bundle is unpacked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "bundle.h"
#include "bundle_int.h"
#include "crypto.h"

#define BUNDLE_SIG_CONTEXT	"rasd-bundle-sig-1"
#define BUNDLE_SIG_MSGLEN	(sizeof BUNDLE_SIG_CONTEXT - 1 + SHA256_LEN)
#define BUNDLE_PEM_MAX		(1u << 20)	/* a PEM file we read */

struct bundle_signer {
	gnutls_x509_crt_t	crt;
	gnutls_privkey_t	key;
	gnutls_sign_algorithm_t	algo;
	gnutls_datum_t		der;		/* the certificate carried */
	char			dn[BUNDLE_DN_MAX];
};

struct bundle_ca {
	gnutls_x509_trust_list_t tl;
};

static int	sig_fail(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* Write a reason into err (which may be NULL) and return -1. */
static int
sig_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* The signature scheme a key signs bundles with; UNKNOWN: none. */
static gnutls_sign_algorithm_t
sig_algo(gnutls_pk_algorithm_t pk)
{
	switch (pk) {
	case GNUTLS_PK_ECDSA:
		return GNUTLS_SIGN_ECDSA_SHA256;
	case GNUTLS_PK_RSA:
		return GNUTLS_SIGN_RSA_PSS_RSAE_SHA256;
	case GNUTLS_PK_RSA_PSS:
		return GNUTLS_SIGN_RSA_PSS_SHA256;
	case GNUTLS_PK_EDDSA_ED25519:
		return GNUTLS_SIGN_EDDSA_ED25519;
	case GNUTLS_PK_EDDSA_ED448:
		return GNUTLS_SIGN_EDDSA_ED448;
	default:
		return GNUTLS_SIGN_UNKNOWN;
	}
}

/* The signed message of a bundle: context and the bundle's digest. */
static void
sig_message(const uint8_t *b, size_t len, uint8_t msg[BUNDLE_SIG_MSGLEN])
{
	memcpy(msg, BUNDLE_SIG_CONTEXT, sizeof BUNDLE_SIG_CONTEXT - 1);
	sha256(b, len, msg + sizeof BUNDLE_SIG_CONTEXT - 1);
}

/* A certificate's subject DN as text, into dn. */
static void
sig_dn(gnutls_x509_crt_t crt, char dn[BUNDLE_DN_MAX])
{
	gnutls_datum_t d;

	if (gnutls_x509_crt_get_dn3(crt, &d, 0) < 0) {
		snprintf(dn, BUNDLE_DN_MAX, "(no subject)");
		return;
	}
	snprintf(dn, BUNDLE_DN_MAX, "%.*s", (int)d.size, (const char *)d.data);
	gnutls_free(d.data);
}

/* Read a whole (PEM) file of at most BUNDLE_PEM_MAX bytes. */
static char *
sig_read(const char *what, const char *path, size_t *lenp, char *err,
    size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		sig_fail(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)BUNDLE_PEM_MAX) {
		sig_fail(err, errlen, "%s %s: not a regular file of at most %u "
		    "bytes", what, path, BUNDLE_PEM_MAX);
		goto fail;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		sig_fail(err, errlen, "%s %s: out of memory", what, path);
		goto fail;
	}
	while (n < (size_t)st.st_size) {
		r = read(fd, buf + n, (size_t)st.st_size - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			sig_fail(err, errlen, "%s %s: %s", what, path, r == 0 ?
			    "shorter than it said" : strerror(errno));
			goto fail;
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	close(fd);
	*lenp = n;
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

/* Sign a message; 0 with *sig (gnutls_free it), or a GnuTLS error. */
static int
sig_sign(const struct bundle_signer *s, const uint8_t *msg, size_t len,
    gnutls_datum_t *sig)
{
	gnutls_datum_t m = { (unsigned char *)msg, (unsigned int)len };

	return gnutls_privkey_sign_data2(s->key, s->algo, 0, &m, sig);
}

/* Verify a message's signature with a certificate's key. */
static int
sig_check(gnutls_x509_crt_t crt, const uint8_t *msg, size_t len,
    const uint8_t *sig, size_t siglen)
{
	gnutls_datum_t m = { (unsigned char *)msg, (unsigned int)len };
	gnutls_datum_t s = { (unsigned char *)sig, (unsigned int)siglen };
	gnutls_sign_algorithm_t algo;
	gnutls_pubkey_t pub;
	int rc;

	if ((rc = gnutls_pubkey_init(&pub)) < 0)
		return rc;
	if ((rc = gnutls_pubkey_import_x509(pub, crt, 0)) >= 0) {
		algo = sig_algo(gnutls_pubkey_get_pk_algorithm(pub, NULL));
		rc = algo == GNUTLS_SIGN_UNKNOWN ?
		    GNUTLS_E_UNKNOWN_PK_ALGORITHM :
		    gnutls_pubkey_verify_data2(pub, algo, 0, &m, &s);
	}
	gnutls_pubkey_deinit(pub);
	return rc;
}

/* A signer from PEM text. */
struct bundle_signer *
bundle_signer_mem(const char *cert_pem, size_t certlen, const char *key_pem,
    size_t keylen, char *err, size_t errlen)
{
	gnutls_datum_t cd = { (unsigned char *)cert_pem, (unsigned int)certlen };
	gnutls_datum_t kd = { (unsigned char *)key_pem, (unsigned int)keylen };
	gnutls_datum_t sig = { NULL, 0 };
	struct bundle_signer *s;
	uint8_t msg[BUNDLE_SIG_MSGLEN];
	int rc;

	if ((s = calloc(1, sizeof *s)) == NULL) {
		sig_fail(err, errlen, "out of memory");
		return NULL;
	}
	if ((rc = gnutls_x509_crt_init(&s->crt)) < 0 ||
	    (rc = gnutls_x509_crt_import(s->crt, &cd,
	    GNUTLS_X509_FMT_PEM)) < 0) {
		sig_fail(err, errlen, "certificate: %s", gnutls_strerror(rc));
		goto fail;
	}
	if ((rc = gnutls_privkey_init(&s->key)) < 0 ||
	    (rc = gnutls_privkey_import_x509_raw(s->key, &kd,
	    GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		sig_fail(err, errlen, "private key: %s", gnutls_strerror(rc));
		goto fail;
	}
	s->algo = sig_algo(gnutls_privkey_get_pk_algorithm(s->key, NULL));
	if (s->algo == GNUTLS_SIGN_UNKNOWN) {
		sig_fail(err, errlen, "private key: a %s key cannot sign "
		    "bundles (ECDSA, RSA, RSA-PSS, Ed25519 or Ed448)",
		    gnutls_pk_get_name(gnutls_privkey_get_pk_algorithm(s->key,
		    NULL)));
		goto fail;
	}
	/* The key must be the certificate's: sign once, verify. */
	sig_message((const uint8_t *)"", 0, msg);
	if ((rc = sig_sign(s, msg, sizeof msg, &sig)) < 0) {
		sig_fail(err, errlen, "private key cannot sign: %s",
		    gnutls_strerror(rc));
		goto fail;
	}
	rc = sig_check(s->crt, msg, sizeof msg, sig.data, sig.size);
	gnutls_free(sig.data);
	if (rc < 0) {
		sig_fail(err, errlen, "the private key does not belong to the "
		    "certificate (%s)", gnutls_strerror(rc));
		goto fail;
	}
	if ((rc = gnutls_x509_crt_export2(s->crt, GNUTLS_X509_FMT_DER,
	    &s->der)) < 0 || s->der.size > BUNDLE_CERT_MAX) {
		sig_fail(err, errlen, "certificate: %s", rc < 0 ?
		    gnutls_strerror(rc) : "over 16 KiB in DER");
		goto fail;
	}
	sig_dn(s->crt, s->dn);
	return s;
fail:
	bundle_signer_free(s);
	return NULL;
}

/* A signer from a certificate file and a key file. */
struct bundle_signer *
bundle_signer_load(const char *cert, const char *key, char *err,
    size_t errlen)
{
	struct bundle_signer *s = NULL;
	char *cp, *kp, why[400];
	size_t cl, kl;

	if ((cp = sig_read("certificate", cert, &cl, err, errlen)) == NULL)
		return NULL;
	if ((kp = sig_read("private key", key, &kl, err, errlen)) != NULL) {
		if ((s = bundle_signer_mem(cp, cl, kp, kl, why,
		    sizeof why)) == NULL)
			sig_fail(err, errlen, "%s with %s: %s", cert, key, why);
		explicit_bzero(kp, kl);
		free(kp);
	}
	free(cp);
	return s;
}

/* Free a signer (NULL is fine). */
void
bundle_signer_free(struct bundle_signer *s)
{
	if (s == NULL)
		return;
	if (s->crt != NULL)
		gnutls_x509_crt_deinit(s->crt);
	if (s->key != NULL)
		gnutls_privkey_deinit(s->key);
	gnutls_free(s->der.data);
	free(s);
}

/* The signer's subject DN. */
const char *
bundle_signer_dn(const struct bundle_signer *s)
{
	return s->dn;
}

/* Whether the signer's certificate is within its dates at now. */
int
bundle_signer_valid(const struct bundle_signer *s, time_t now, char *err,
    size_t errlen)
{
	time_t from = gnutls_x509_crt_get_activation_time(s->crt);
	time_t until = gnutls_x509_crt_get_expiration_time(s->crt);
	struct tm tm;
	char when[32];

	if (from != (time_t)-1 && now < from) {
		gmtime_r(&from, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		return sig_fail(err, errlen, "certificate of %s is not valid "
		    "before %s", s->dn, when);
	}
	if (until != (time_t)-1 && now > until) {
		gmtime_r(&until, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		return sig_fail(err, errlen, "certificate of %s expired at %s",
		    s->dn, when);
	}
	return 0;
}

/* The CA certificates from PEM text. */
struct bundle_ca *
bundle_ca_mem(const char *pem, size_t len, char *err, size_t errlen)
{
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned int)len };
	struct bundle_ca *ca;
	int rc;

	if ((ca = calloc(1, sizeof *ca)) == NULL) {
		sig_fail(err, errlen, "out of memory");
		return NULL;
	}
	if ((rc = gnutls_x509_trust_list_init(&ca->tl, 0)) < 0) {
		sig_fail(err, errlen, "%s", gnutls_strerror(rc));
		free(ca);
		return NULL;
	}
	rc = gnutls_x509_trust_list_add_trust_mem(ca->tl, &d, NULL,
	    GNUTLS_X509_FMT_PEM, 0, 0);
	if (rc <= 0) {
		sig_fail(err, errlen, "%s", rc == 0 ? "no certificate in it" :
		    gnutls_strerror(rc));
		bundle_ca_free(ca);
		return NULL;
	}
	return ca;
}

/* The CA certificates from a PEM file. */
struct bundle_ca *
bundle_ca_load(const char *path, char *err, size_t errlen)
{
	struct bundle_ca *ca;
	char *pem, why[300];
	size_t len;

	if ((pem = sig_read("CA certificate", path, &len, err, errlen)) ==
	    NULL)
		return NULL;
	if ((ca = bundle_ca_mem(pem, len, why, sizeof why)) == NULL)
		sig_fail(err, errlen, "CA certificate %s: %s", path, why);
	free(pem);
	return ca;
}

/* Free the CA certificates (NULL is fine). */
void
bundle_ca_free(struct bundle_ca *ca)
{
	if (ca == NULL)
		return;
	gnutls_x509_trust_list_deinit(ca->tl, 1);
	free(ca);
}

/* Wrap a packed Bundle in a SealedBundle signed by s. */
int
bundle_sign(const uint8_t *packed_bundle, size_t len,
    const struct bundle_signer *s, uint8_t **out, size_t *outlen)
{
	Ras__SealedBundle sb = RAS__SEALED_BUNDLE__INIT;
	uint8_t msg[BUNDLE_SIG_MSGLEN], *buf;
	gnutls_datum_t sig = { NULL, 0 };
	size_t n;
	int rc = -1;

	*out = NULL;
	*outlen = 0;
	if (len > BUNDLE_MAX_BYTES) {
		errno = EFBIG;
		return -1;
	}
	sig_message(packed_bundle, len, msg);
	if (sig_sign(s, msg, sizeof msg, &sig) < 0 || sig.size == 0 ||
	    sig.size > BUNDLE_SIG_MAX) {
		errno = EIO;
		goto out;
	}
	sb.seal_kind = BUNDLE_SEAL_SIGNED;
	sb.bundle.data = (uint8_t *)packed_bundle;
	sb.bundle.len = len;
	sb.seal.data = sig.data;
	sb.seal.len = sig.size;
	sb.has_signer = 1;
	sb.signer.data = s->der.data;
	sb.signer.len = s->der.size;
	n = ras__sealed_bundle__get_packed_size(&sb);
	if (n > BUNDLE_MAX_BYTES) {
		errno = EFBIG;
		goto out;
	}
	if ((buf = malloc(n)) == NULL)
		goto out;
	if (ras__sealed_bundle__pack(&sb, buf) != n) {
		free(buf);
		errno = EINVAL;
		goto out;
	}
	*out = buf;
	*outlen = n;
	rc = 0;
out:
	gnutls_free(sig.data);
	return rc;
}

/* Why a certificate does not chain to the CA, as GnuTLS says it. */
static void
sig_status(unsigned int status, char *why, size_t len)
{
	gnutls_datum_t out;

	if (gnutls_certificate_verification_status_print(status,
	    GNUTLS_CRT_X509, &out, 0) < 0) {
		snprintf(why, len, "status 0x%x", status);
		return;
	}
	while (out.size > 0 && (out.data[out.size - 1] == ' ' ||
	    out.data[out.size - 1] == '\0'))
		out.size--;
	snprintf(why, len, "%.*s", (int)out.size, (const char *)out.data);
	gnutls_free(out.data);
}

/* Verify a signed SealedBundle's signer and signature. */
int
bundle_sig_verify(const Ras__SealedBundle *sb, const struct bundle_ca *ca,
    struct bundle_sig_ctx *cx, char *err, size_t errlen)
{
	gnutls_typed_vdata_st purpose;
	gnutls_x509_crt_t crt;
	gnutls_datum_t d;
	uint8_t msg[BUNDLE_SIG_MSGLEN];
	unsigned int status = 0, usage = 0, critical = 0;
	char why[300];
	int rc;

	memset(cx, 0, sizeof *cx);
	if (!sb->has_signer || sb->signer.len == 0)
		return sig_fail(err, errlen, "signed bundle without the "
		    "signer's certificate");
	if (sb->signer.len > BUNDLE_CERT_MAX)
		return sig_fail(err, errlen, "signer certificate of %zu bytes "
		    "is over the %d-byte limit", sb->signer.len,
		    BUNDLE_CERT_MAX);
	if (sb->seal.len == 0 || sb->seal.len > BUNDLE_SIG_MAX)
		return sig_fail(err, errlen, "bundle signature is %zu bytes, "
		    "expected 1..%d", sb->seal.len, BUNDLE_SIG_MAX);
	if (gnutls_x509_crt_init(&crt) < 0)
		return sig_fail(err, errlen, "out of memory");
	cx->crt = crt;
	d.data = sb->signer.data;
	d.size = (unsigned int)sb->signer.len;
	if ((rc = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER)) < 0)
		return sig_fail(err, errlen, "signer certificate is not a DER "
		    "x509 certificate: %s", gnutls_strerror(rc));
	sig_dn(crt, cx->dn);
	memset(&purpose, 0, sizeof purpose);
	purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
	purpose.data = (void *)GNUTLS_KP_TLS_WWW_SERVER;
	rc = gnutls_x509_trust_list_verify_crt2(ca->tl, &crt, 1, &purpose, 1,
	    0, &status, NULL);
	if (rc < 0 || status != 0) {
		if (rc < 0)
			snprintf(why, sizeof why, "%s", gnutls_strerror(rc));
		else
			sig_status(status, why, sizeof why);
		return sig_fail(err, errlen, "bundle signer %s is not trusted "
		    "here: %s", cx->dn, why);
	}
	if (gnutls_x509_crt_get_key_usage(crt, &usage, &critical) >= 0 &&
	    (usage & GNUTLS_KEY_DIGITAL_SIGNATURE) == 0)
		return sig_fail(err, errlen, "bundle signer %s: its certificate "
		    "does not allow digital signatures", cx->dn);
	sig_message(sb->bundle.data, sb->bundle.len, msg);
	if ((rc = sig_check(crt, msg, sizeof msg, sb->seal.data,
	    sb->seal.len)) < 0)
		return sig_fail(err, errlen, "bundle signature by %s does not "
		    "verify: corrupted or forged (%s)", cx->dn,
		    gnutls_strerror(rc));
	return 0;
}

/* The host of "tcp:HOST:PORT" ("[v6]" without its brackets), or -1. */
static int
sig_peer_host(const char *peer, char *host, size_t len)
{
	const char *h, *end;

	if (peer == NULL || strncmp(peer, "tcp:", 4) != 0)
		return -1;
	h = peer + 4;
	if (*h == '[') {
		if ((end = strchr(++h, ']')) == NULL)
			return -1;
	} else if ((end = strrchr(h, ':')) == NULL)
		end = h + strlen(h);
	if (end == h || (size_t)(end - h) >= len)
		return -1;
	memcpy(host, h, (size_t)(end - h));
	host[end - h] = '\0';
	return 0;
}

/* Whether the signer names the host the Bundle says it comes from. */
int
bundle_sig_names(const struct bundle_sig_ctx *cx, const char *source_peer,
    char *err, size_t errlen)
{
	char host[256];

	if (sig_peer_host(source_peer, host, sizeof host) == -1)
		return 0;
	if (!gnutls_x509_crt_check_hostname2((gnutls_x509_crt_t)cx->crt,
	    host, 0))
		return sig_fail(err, errlen, "bundle names its source %s, but "
		    "its signer %s is not that host (its certificate does not "
		    "name %s)", source_peer, cx->dn, host);
	return 0;
}

/* Release what verifying a signed bundle kept. */
void
bundle_sig_done(struct bundle_sig_ctx *cx)
{
	if (cx->crt != NULL)
		gnutls_x509_crt_deinit((gnutls_x509_crt_t)cx->crt);
	cx->crt = NULL;
}
