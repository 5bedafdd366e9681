/*
 * bundle.h -- the state bundle of one VM that travels with it between hosts.
 *
 * A Bundle (proto/rasd.proto) is packed, then wrapped in a SealedBundle:
 * signed with the exporting host's x509 key (its certificate travels
 * along and is verified against the fleet CA), or sealed with an
 * HMAC-SHA-256 under the fleet key, or only checksummed (SHA-256).
 * Everything here is a pure function of its arguments; the only I/O is
 * the loaders reading the files they are given (bundle_load_key,
 * bundle_signer_load, bundle_ca_load).
 */
#ifndef RAS_BUNDLE_H
#define RAS_BUNDLE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ras.h"
#include "rasd.pb-c.h"

/* Bundle.version written by this rasd; a newer one is refused. */
#define RAS_BUNDLE_VERSION	1

#define BUNDLE_MAX_BYTES	(16u << 20)	/* a packed SealedBundle */
#define BUNDLE_MAX_RECORDS	100000
#define BUNDLE_NAME_MAX		255		/* VM name bytes */
#define BUNDLE_HOST_MAX		64		/* host and origin bytes */
#define BUNDLE_RANGE_MIN	4096ULL		/* record length bounds */
#define BUNDLE_RANGE_MAX	(1ULL << 40)
#define BUNDLE_KEY_MIN		16		/* fleet key bytes */
#define BUNDLE_KEY_MAX		64

/* SealedBundle.seal_kind */
#define BUNDLE_SEAL_SHA256	1	/* checksum only: no authenticity */
#define BUNDLE_SEAL_HMAC	2	/* HMAC-SHA-256 under the fleet key */
#define BUNDLE_SEAL_SIGNED	3	/* signed with the exporter's host key */

#define BUNDLE_SIG_MAX		1024	/* signature bytes (RSA 8192) */
#define BUNDLE_CERT_MAX		16384	/* the signer's certificate, DER */
#define BUNDLE_DN_MAX		512	/* a signer's subject DN, as text */

/* Which seals an importer takes: bundle_trust.accept. */
#define BUNDLE_ACCEPT_SHA256	(1u << BUNDLE_SEAL_SHA256)
#define BUNDLE_ACCEPT_HMAC	(1u << BUNDLE_SEAL_HMAC)
#define BUNDLE_ACCEPT_SIGNED	(1u << BUNDLE_SEAL_SIGNED)

struct bundle_signer;	/* a host's certificate and private key */
struct bundle_ca;	/* the CA(s) a signer's certificate must chain to */

/* What an importer trusts. */
struct bundle_trust {
	unsigned int		 accept;	/* BUNDLE_ACCEPT_* */
	const uint8_t		*key;		/* HMAC: the fleet key */
	size_t			 keylen;
	const struct bundle_ca	*ca;		/* SIGNED: verify against it */
};

/* How an opened bundle was sealed, and by whom. */
struct bundle_sealer {
	uint32_t	kind;			/* BUNDLE_SEAL_* */
	char		dn[BUNDLE_DN_MAX];	/* SIGNED: the signer's DN */
};

/*
 * Wrap a packed Bundle in a SealedBundle: HMAC-SHA-256 under key when key
 * is not NULL (keylen BUNDLE_KEY_MIN..BUNDLE_KEY_MAX), else a plain SHA-256
 * checksum. The bundle bytes are not inspected. On success *out is the
 * packed SealedBundle (free() it) and 0 is returned; -1 with errno EINVAL
 * (bad key length), EFBIG (the result would exceed BUNDLE_MAX_BYTES) or
 * ENOMEM.
 */
int	bundle_seal(const uint8_t *packed_bundle, size_t len,
	    const uint8_t *key, size_t keylen, uint8_t **out, size_t *outlen);

/*
 * Unpack a packed SealedBundle, verify its seal and check the Bundle inside
 * (bundle_check). With a key, only an HMAC seal under that key is accepted;
 * without one, only a SHA-256 seal. Returns the Bundle (free it with
 * ras__bundle__free_unpacked(b, NULL)) or NULL with a reason in err, which
 * may be NULL; err is "" on success.
 */
Ras__Bundle *bundle_open(const uint8_t *sealed, size_t len,
	    const uint8_t *key, size_t keylen, char *err, size_t errlen);

/*
 * Unpack a packed SealedBundle and verify its seal against what trust
 * accepts, before the Bundle inside is even unpacked; then check the
 * Bundle (bundle_check). A signed bundle (BUNDLE_SEAL_SIGNED) is taken
 * only when its signer's certificate chains to trust->ca, is within its
 * validity dates, may be used by a TLS server and for digital
 * signatures, its signature verifies, and -- when the Bundle names its
 * source as tcp:HOST:PORT -- the certificate names HOST (the host a
 * final sync will go to, whose TLS certificate must name it too). On
 * success who (may be NULL) says how it was sealed and by whom. Returns
 * the Bundle or NULL with a reason in err, as bundle_open().
 */
Ras__Bundle *bundle_open_trusted(const uint8_t *sealed, size_t len,
	    const struct bundle_trust *trust, struct bundle_sealer *who,
	    char *err, size_t errlen);

/*
 * A host's signing identity: its x509 certificate (PEM; the first one
 * of the file is the host's) and the matching private key (PEM, PKCS#1
 * or PKCS#8, unencrypted; ECDSA, RSA, RSA-PSS or EdDSA). The key is
 * checked against the certificate by signing and verifying once. NULL
 * with a reason when a file cannot be read or they do not fit.
 */
struct bundle_signer *bundle_signer_load(const char *cert, const char *key,
	    char *err, size_t errlen);
struct bundle_signer *bundle_signer_mem(const char *cert_pem, size_t certlen,
	    const char *key_pem, size_t keylen, char *err, size_t errlen);
void	bundle_signer_free(struct bundle_signer *);

/* The signer's subject DN. */
const char *bundle_signer_dn(const struct bundle_signer *);

/*
 * Whether the signer's certificate is valid at time now (its activation
 * and expiration dates only). 0, or -1 with a sentence.
 */
int	bundle_signer_valid(const struct bundle_signer *, time_t now,
	    char *err, size_t errlen);

/*
 * The CA certificate(s) of the fleet (PEM; every certificate in the file
 * is a trust anchor). NULL with a reason when none can be read.
 */
struct bundle_ca *bundle_ca_load(const char *path, char *err, size_t errlen);
struct bundle_ca *bundle_ca_mem(const char *pem, size_t len, char *err,
	    size_t errlen);
void	bundle_ca_free(struct bundle_ca *);

/*
 * Wrap a packed Bundle in a SealedBundle signed by s (seal_kind 3): the
 * signature over "rasd-bundle-sig-1" || SHA-256(bundle), with SHA-256
 * (ECDSA, RSA-PSS) or EdDSA, and s's certificate. As bundle_seal(); -1
 * with errno EIO when the key cannot sign.
 */
int	bundle_sign(const uint8_t *packed_bundle, size_t len,
	    const struct bundle_signer *s, uint8_t **out, size_t *outlen);

/*
 * Check every field of a Bundle against what an importing rasd may take in
 * (version, identity, profile, every record). 0, or -1 with a reason.
 * bundle_open() calls it; an exporter may call it before sealing.
 */
int	bundle_check(const Ras__Bundle *, char *err, size_t errlen);

/*
 * The boot profile a Bundle carries: parsed from its HEST (hest_type from
 * the table) or taken from its declared sources (hest_type 0xff). A bundle
 * with neither has the empty profile (a machine with no RAS features).
 * 0, or -1 with a reason and prof->count == 0.
 */
int	bundle_profile(const Ras__Bundle *, struct ras_profile *prof,
	    char *err, size_t errlen);

/*
 * Read a fleet key file: BUNDLE_KEY_MIN..BUNDLE_KEY_MAX bytes, written
 * either as hex digits (2 per byte; surrounding whitespace ignored) or as
 * raw bytes (the file as is, a trailing newline included; any file that is
 * not entirely hex digits and whitespace is raw). The file must be a
 * regular file owned by root or the effective user, with no permission
 * bits for group or other (mode 0600 or 0400). key must have room for
 * BUNDLE_KEY_MAX bytes. 0 with *keylen set, or -1 with a reason.
 */
int	bundle_load_key(const char *path, uint8_t *key, size_t *keylen,
	    char *err, size_t errlen);

/*
 * Standard base64 (RFC 4648 section 4) with padding, for a sealed bundle
 * in XML metadata. Returns a NUL-terminated malloc'd string, or NULL when
 * out of memory.
 */
char	*bundle_base64(const uint8_t *, size_t);

/*
 * Decode base64, ignoring whitespace. Refuses characters outside the
 * alphabet, a length that is not a multiple of 4, misplaced or excess
 * padding, and non-zero bits in the last character before the padding.
 * 0 with *out malloc'd (never NULL, free() it) and *outlen set; -1 with
 * errno EINVAL or ENOMEM.
 */
int	bundle_unbase64(const char *, uint8_t **out, size_t *outlen);

#endif
