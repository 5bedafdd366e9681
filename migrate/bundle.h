/*
 * bundle.h -- the state bundle of one VM that travels with it between hosts.
 *
 * A Bundle (proto/rasd.proto) is packed, then wrapped in a SealedBundle with
 * a SHA-256 checksum, or an HMAC-SHA-256 under the fleet key when one is
 * configured. Everything here is a pure function of its arguments; the
 * only I/O is bundle_load_key() reading the key file it is given.
 */
#ifndef RAS_BUNDLE_H
#define RAS_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

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
