/*
 * crypto.c -- SHA-256, HMAC-SHA-256 and a constant-time compare through
 * nettle (Debian's nettle-dev; GnuTLS is built on it, and libvirt pulls
 * both in, so every host that runs rasd already has it).
 */
#include <errno.h>
#include <sys/random.h>

#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "crypto.h"

/* One-shot SHA-256 digest. */
void
sha256(const void *msg, size_t len, uint8_t out[SHA256_LEN])
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	if (len > 0)
		sha256_update(&ctx, len, msg);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

/* HMAC-SHA-256 of msg under key. */
void
hmac_sha256(const void *key, size_t keylen, const void *msg, size_t len,
    uint8_t out[SHA256_LEN])
{
	struct hmac_sha256_ctx ctx;

	hmac_sha256_set_key(&ctx, keylen, key);
	if (len > 0)
		hmac_sha256_update(&ctx, len, msg);
	hmac_sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

/* Compare two digests in time independent of where they differ. */
int
sha256_equal(const uint8_t a[SHA256_LEN], const uint8_t b[SHA256_LEN])
{
	return memeql_sec(a, b, SHA256_LEN) != 0;
}

/* Random bytes from getrandom(2); blocks only before the pool is ready. */
int
crypto_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
