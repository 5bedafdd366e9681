/*
 * crypto.h -- the few cryptographic primitives rasd uses, from nettle.
 *
 * SHA-256 (FIPS 180-4) seals bundles without a fleet key, HMAC-SHA-256
 * (RFC 2104) seals them and the peer channel's messages with one. The
 * primitives are nettle's; this is only the thin interface the call
 * sites use, so that no caller includes a crypto library's headers.
 */
#ifndef RAS_CRYPTO_H
#define RAS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN	32	/* digest bytes */

/* One-shot SHA-256 digest of len bytes. */
void	sha256(const void *, size_t, uint8_t out[SHA256_LEN]);

/* HMAC-SHA-256 of msg under key; any key length (long keys are hashed). */
void	hmac_sha256(const void *key, size_t keylen, const void *msg,
	    size_t len, uint8_t out[SHA256_LEN]);

/* 1 if the digests are equal, 0 if not; time does not depend on content. */
int	sha256_equal(const uint8_t a[SHA256_LEN], const uint8_t b[SHA256_LEN]);

/* Fill buf with len bytes from the kernel's random source; 0 or -1. */
int	crypto_random(void *buf, size_t len);

#endif
