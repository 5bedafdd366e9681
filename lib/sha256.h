/*
 * sha256.h -- SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104).
 *
 * Used to seal state bundles that travel between hosts (migrate/bundle.c).
 * Allocation-free, no I/O, no global state.
 */
#ifndef RAS_SHA256_H
#define RAS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN	32	/* digest bytes */
#define SHA256_BLOCK	64	/* message block bytes */

/* An incremental SHA-256 computation. */
struct sha256_ctx {
	uint32_t	h[8];		/* intermediate hash value */
	uint64_t	bytes;		/* message bytes so far */
	uint8_t		buf[SHA256_BLOCK];
	size_t		used;		/* bytes waiting in buf */
};

void	sha256_init(struct sha256_ctx *);
void	sha256_update(struct sha256_ctx *, const void *, size_t);
/* Write the digest and wipe the context. */
void	sha256_final(struct sha256_ctx *, uint8_t out[SHA256_LEN]);

/* One-shot digest of len bytes. */
void	sha256(const void *, size_t, uint8_t out[SHA256_LEN]);

/* HMAC-SHA-256 of msg under key; any key length (long keys are hashed). */
void	hmac_sha256(const void *key, size_t keylen, const void *msg,
	    size_t len, uint8_t out[SHA256_LEN]);

/* 1 if the digests are equal, 0 if not; time does not depend on content. */
int	sha256_equal(const uint8_t a[SHA256_LEN], const uint8_t b[SHA256_LEN]);

#endif
