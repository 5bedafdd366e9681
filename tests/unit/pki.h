/*
 * pki.h -- a throwaway x509 PKI made with GnuTLS's API at test time, for
 * the bundle signature tests (test_bundle.c) and fuzz target
 * (fuzz_bundle.c): a CA, and host certificates it signs with chosen
 * names, dates, purposes and key types. Header-only (static functions);
 * any failure aborts, since a test cannot go on without its PKI.
 */
#ifndef RAS_TEST_PKI_H
#define RAS_TEST_PKI_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* A certificate and its key, as PEM text (NUL-terminated). */
struct pki_cert {
	gnutls_x509_crt_t	crt;
	gnutls_x509_privkey_t	key;
	char			*crt_pem;
	size_t			crt_len;
	char			*key_pem;
	size_t			key_len;
};

/* What a host certificate says. */
struct pki_host {
	const char		*cn;		/* also a DNS name */
	const char		*ip;		/* IPv4 name, or NULL */
	gnutls_pk_algorithm_t	pk;		/* 0: ECDSA P-256 */
	long			from, until;	/* relative to now, s */
	int			client_only;	/* TLS client purpose only */
	int			no_signing;	/* key usage without signing */
};

static void
pki_check(int rc, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, "pki: %s: %s\n", what, gnutls_strerror(rc));
		abort();
	}
}

/* Copy a datum out as a NUL-terminated string. */
static char *
pki_text(gnutls_datum_t *d, size_t *len)
{
	char *s = malloc(d->size + 1);

	if (s == NULL)
		abort();
	memcpy(s, d->data, d->size);
	s[d->size] = '\0';
	*len = d->size;
	gnutls_free(d->data);
	return s;
}

/* A fresh key of type pk (0: ECDSA P-256). */
static void
pki_key(struct pki_cert *c, gnutls_pk_algorithm_t pk)
{
	unsigned int bits;

	if (pk == 0)
		pk = GNUTLS_PK_ECDSA;
	bits = pk == GNUTLS_PK_ECDSA ?
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1) :
	    pk == GNUTLS_PK_RSA || pk == GNUTLS_PK_RSA_PSS ? 2048 : 0;
	if (pk == GNUTLS_PK_EDDSA_ED25519)
		bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519);
	pki_check(gnutls_x509_privkey_init(&c->key), "privkey_init");
	pki_check(gnutls_x509_privkey_generate(c->key, pk, bits, 0),
	    "privkey_generate");
}

/* The common part of a certificate: version, serial, dates, subject. */
static void
pki_crt(struct pki_cert *c, const char *cn, long from, long until)
{
	static unsigned char serial = 1;
	unsigned char sn[2] = { 0x01, serial++ };
	time_t now = time(NULL);

	pki_check(gnutls_x509_crt_init(&c->crt), "crt_init");
	pki_check(gnutls_x509_crt_set_version(c->crt, 3), "set_version");
	pki_check(gnutls_x509_crt_set_serial(c->crt, sn, sizeof sn),
	    "set_serial");
	pki_check(gnutls_x509_crt_set_activation_time(c->crt, now + from),
	    "set_activation_time");
	pki_check(gnutls_x509_crt_set_expiration_time(c->crt, now + until),
	    "set_expiration_time");
	pki_check(gnutls_x509_crt_set_dn_by_oid(c->crt,
	    GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "rasd tests", 10), "set_dn");
	pki_check(gnutls_x509_crt_set_dn_by_oid(c->crt,
	    GNUTLS_OID_X520_COMMON_NAME, 0, cn, (unsigned int)strlen(cn)),
	    "set_dn");
	pki_check(gnutls_x509_crt_set_key(c->crt, c->key), "set_key");
}

/* Export both as PEM (the key as PKCS#8, the only form for EdDSA). */
static void
pki_export(struct pki_cert *c)
{
	gnutls_datum_t d;

	pki_check(gnutls_x509_crt_export2(c->crt, GNUTLS_X509_FMT_PEM, &d),
	    "crt_export");
	c->crt_pem = pki_text(&d, &c->crt_len);
	pki_check(gnutls_x509_privkey_export2_pkcs8(c->key, GNUTLS_X509_FMT_PEM,
	    NULL, GNUTLS_PKCS_PLAIN, &d), "privkey_export");
	c->key_pem = pki_text(&d, &c->key_len);
}

/* A self-signed CA valid for a day. */
static void
pki_ca(struct pki_cert *ca, const char *cn)
{
	memset(ca, 0, sizeof *ca);
	pki_key(ca, 0);
	pki_crt(ca, cn, -3600, 86400);
	pki_check(gnutls_x509_crt_set_basic_constraints(ca->crt, 1, -1),
	    "basic_constraints");
	pki_check(gnutls_x509_crt_set_key_usage(ca->crt,
	    GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN), "key_usage");
	pki_check(gnutls_x509_crt_sign2(ca->crt, ca->crt, ca->key,
	    GNUTLS_DIG_SHA256, 0), "sign");
	pki_export(ca);
}

/* A host certificate signed by ca. */
static void
pki_host(struct pki_cert *c, const struct pki_cert *ca,
    const struct pki_host *h)
{
	unsigned char ip[4];

	memset(c, 0, sizeof *c);
	pki_key(c, h->pk);
	pki_crt(c, h->cn, h->from != 0 ? h->from : -3600,
	    h->until != 0 ? h->until : 86400);
	pki_check(gnutls_x509_crt_set_basic_constraints(c->crt, 0, -1),
	    "basic_constraints");
	pki_check(gnutls_x509_crt_set_key_usage(c->crt, h->no_signing ?
	    GNUTLS_KEY_KEY_ENCIPHERMENT : GNUTLS_KEY_DIGITAL_SIGNATURE |
	    GNUTLS_KEY_KEY_ENCIPHERMENT), "key_usage");
	pki_check(gnutls_x509_crt_set_key_purpose_oid(c->crt, h->client_only ?
	    GNUTLS_KP_TLS_WWW_CLIENT : GNUTLS_KP_TLS_WWW_SERVER, 0),
	    "key_purpose");
	pki_check(gnutls_x509_crt_set_subject_alt_name(c->crt,
	    GNUTLS_SAN_DNSNAME, h->cn, (unsigned int)strlen(h->cn),
	    GNUTLS_FSAN_APPEND), "san_dns");
	if (h->ip != NULL) {
		if (inet_pton(AF_INET, h->ip, ip) != 1)
			abort();
		pki_check(gnutls_x509_crt_set_subject_alt_name(c->crt,
		    GNUTLS_SAN_IPADDRESS, ip, sizeof ip, GNUTLS_FSAN_APPEND),
		    "san_ip");
	}
	pki_check(gnutls_x509_crt_sign2(c->crt, ca->crt, ca->key,
	    GNUTLS_DIG_SHA256, 0), "sign");
	pki_export(c);
}

static void
pki_free(struct pki_cert *c)
{
	if (c->crt != NULL)
		gnutls_x509_crt_deinit(c->crt);
	if (c->key != NULL)
		gnutls_x509_privkey_deinit(c->key);
	free(c->crt_pem);
	free(c->key_pem);
	memset(c, 0, sizeof *c);
}

#endif
