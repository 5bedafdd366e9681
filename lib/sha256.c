/*
 * sha256.c -- SHA-256 (FIPS 180-4 section 6.2) and HMAC-SHA-256 (RFC 2104).
 *
 * Written from the two specifications. The message is processed in 64-byte
 * blocks; the final block is padded with 0x80, zeros, and the message
 * length in bits as a big-endian 64-bit number (FIPS 180-4 5.1.1).
 *
 * HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m)), where K0 is the key
 * zero-padded to the block size, or its digest when it is longer than a
 * block; ipad is 0x36 and opad 0x5c repeated.
 *
 * Intermediate values derived from a key are wiped before returning, since
 * the fleet key authenticates every bundle a host will take in.
 */
#include <string.h>

#include "sha256.h"

#define SHA256_IPAD	0x36
#define SHA256_OPAD	0x5c

/* First 32 bits of the fractional parts of the cube roots of the first 64
 * primes (FIPS 180-4 4.2.2). */
static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5,
	0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
	0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
	0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
	0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

/* First 32 bits of the fractional parts of the square roots of the first 8
 * primes (FIPS 180-4 5.3.3). */
static const uint32_t sha256_h0[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
};

/* Clear memory in a way the compiler may not drop as a dead store. */
static void
sha256_wipe(void *p, size_t len)
{
	volatile uint8_t *v = p;

	while (len-- > 0)
		*v++ = 0;
}

/* Rotate right (FIPS 180-4 3.2). */
static uint32_t
sha256_rotr(uint32_t x, unsigned int n)
{
	return (x >> n) | (x << (32 - n));
}

/* Read a big-endian 32-bit word. */
static uint32_t
sha256_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Write a big-endian 32-bit word. */
static void
sha256_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Process one 64-byte block (FIPS 180-4 6.2.2). */
static void
sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, hh, s0, s1, t1, t2;
	unsigned int t;

	for (t = 0; t < 16; t++)
		w[t] = sha256_get32(p + 4 * t);
	for (t = 16; t < 64; t++) {
		s0 = sha256_rotr(w[t - 15], 7) ^ sha256_rotr(w[t - 15], 18) ^
		    (w[t - 15] >> 3);
		s1 = sha256_rotr(w[t - 2], 17) ^ sha256_rotr(w[t - 2], 19) ^
		    (w[t - 2] >> 10);
		w[t] = s1 + w[t - 7] + s0 + w[t - 16];
	}
	a = h[0]; b = h[1]; c = h[2]; d = h[3];
	e = h[4]; f = h[5]; g = h[6]; hh = h[7];
	for (t = 0; t < 64; t++) {
		s1 = sha256_rotr(e, 6) ^ sha256_rotr(e, 11) ^
		    sha256_rotr(e, 25);
		t1 = hh + s1 + ((e & f) ^ (~e & g)) + sha256_k[t] + w[t];
		s0 = sha256_rotr(a, 2) ^ sha256_rotr(a, 13) ^
		    sha256_rotr(a, 22);
		t2 = s0 + ((a & b) ^ (a & c) ^ (b & c));
		hh = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d;
	h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
	sha256_wipe(w, sizeof w);
}

/* Start a new digest. */
void
sha256_init(struct sha256_ctx *ctx)
{
	memcpy(ctx->h, sha256_h0, sizeof ctx->h);
	ctx->bytes = 0;
	ctx->used = 0;
}

/* Add len bytes to the message. */
void
sha256_update(struct sha256_ctx *ctx, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t n;

	if (len == 0)
		return;
	ctx->bytes += len;
	if (ctx->used > 0) {
		n = SHA256_BLOCK - ctx->used;
		if (n > len)
			n = len;
		memcpy(ctx->buf + ctx->used, p, n);
		ctx->used += n;
		p += n;
		len -= n;
		if (ctx->used < SHA256_BLOCK)
			return;
		sha256_block(ctx->h, ctx->buf);
		ctx->used = 0;
	}
	for (; len >= SHA256_BLOCK; p += SHA256_BLOCK, len -= SHA256_BLOCK)
		sha256_block(ctx->h, p);
	if (len > 0) {
		memcpy(ctx->buf, p, len);
		ctx->used = len;
	}
}

/* Pad the message, write the digest and wipe the context. */
void
sha256_final(struct sha256_ctx *ctx, uint8_t out[SHA256_LEN])
{
	uint64_t bits = ctx->bytes * 8;
	unsigned int i;

	ctx->buf[ctx->used++] = 0x80;
	if (ctx->used > SHA256_BLOCK - 8) {
		memset(ctx->buf + ctx->used, 0, SHA256_BLOCK - ctx->used);
		sha256_block(ctx->h, ctx->buf);
		ctx->used = 0;
	}
	memset(ctx->buf + ctx->used, 0, SHA256_BLOCK - 8 - ctx->used);
	sha256_put32(ctx->buf + 56, (uint32_t)(bits >> 32));
	sha256_put32(ctx->buf + 60, (uint32_t)bits);
	sha256_block(ctx->h, ctx->buf);
	for (i = 0; i < 8; i++)
		sha256_put32(out + 4 * i, ctx->h[i]);
	sha256_wipe(ctx, sizeof *ctx);
}

/* One-shot digest. */
void
sha256(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, data, len);
	sha256_final(&ctx, out);
}

/* HMAC-SHA-256 (RFC 2104 section 2, with B = 64 and L = 32). */
void
hmac_sha256(const void *key, size_t keylen, const void *msg, size_t len,
    uint8_t out[SHA256_LEN])
{
	struct sha256_ctx ctx;
	uint8_t k0[SHA256_BLOCK], pad[SHA256_BLOCK], inner[SHA256_LEN];
	unsigned int i;

	memset(k0, 0, sizeof k0);
	if (keylen > SHA256_BLOCK)
		sha256(key, keylen, k0);
	else if (keylen > 0)
		memcpy(k0, key, keylen);

	for (i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k0[i] ^ SHA256_IPAD;
	sha256_init(&ctx);
	sha256_update(&ctx, pad, sizeof pad);
	sha256_update(&ctx, msg, len);
	sha256_final(&ctx, inner);

	for (i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k0[i] ^ SHA256_OPAD;
	sha256_init(&ctx);
	sha256_update(&ctx, pad, sizeof pad);
	sha256_update(&ctx, inner, sizeof inner);
	sha256_final(&ctx, out);

	sha256_wipe(k0, sizeof k0);
	sha256_wipe(pad, sizeof pad);
	sha256_wipe(inner, sizeof inner);
}

/* Compare two digests without an early exit, so timing leaks nothing. */
int
sha256_equal(const uint8_t a[SHA256_LEN], const uint8_t b[SHA256_LEN])
{
	volatile uint8_t diff = 0;
	unsigned int i;

	for (i = 0; i < SHA256_LEN; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}
