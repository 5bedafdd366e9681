/*
 * test_crypto.c -- known-answer tests of lib/crypto.c, the wrapper around
 * nettle's SHA-256 and HMAC-SHA-256: they check the wrapper passes the
 * right lengths and buffers, the library is trusted for the rest.
 *
 * The expected digests are the published ones: the FIPS 180-2 examples
 * (NIST CSRC "SHA256.pdf", plus the one-million-'a' message of the NIST
 * test set) and RFC 4231 test cases 1 to 7 for HMAC-SHA-256. The padding
 * boundary lengths were computed with an independent implementation.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "crypto.h"

/* Decode a hex string into out; returns the byte count. */
static size_t
unhex(const char *s, uint8_t *out)
{
	size_t n = 0;
	unsigned int v;

	while (s[0] != '\0' && s[1] != '\0') {
		cr_assert_eq(sscanf(s, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

/* Assert a digest equals the expected hex (whole or a prefix of it). */
static void
expect_hex(const uint8_t *got, const char *hex)
{
	uint8_t want[SHA256_LEN];
	size_t n = unhex(hex, want);
	char gothex[2 * SHA256_LEN + 1];
	size_t i;

	for (i = 0; i < SHA256_LEN; i++)
		snprintf(gothex + 2 * i, 3, "%02x", got[i]);
	cr_assert(memcmp(got, want, n) == 0, "digest %s, expected %s",
	    gothex, hex);
}

/* One-shot digest of a string, compared to the expected hex. */
static void
expect_sha(const char *msg, const char *hex)
{
	uint8_t d[SHA256_LEN];

	sha256(msg, strlen(msg), d);
	expect_hex(d, hex);
}

Test(sha256, fips_empty)
{
	expect_sha("",
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(sha256, fips_abc)
{
	expect_sha("abc",
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(sha256, fips_448_bits)
{
	expect_sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, fips_896_bits)
{
	expect_sha("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
	    "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
	    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

Test(sha256, million_a)
{
	static uint8_t a[1000000];
	uint8_t d[SHA256_LEN];

	memset(a, 'a', sizeof a);
	sha256(a, sizeof a, d);
	expect_hex(d,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* The lengths around the padding boundaries (55/56 and 119/120 bytes). */
Test(sha256, padding_boundaries)
{
	static const struct {
		size_t len;
		const char *hex;
	} v[] = {
		{ 55, "e7313d333c272e639f790978283f9eb3"
		    "92e843d0f29b7016828bb1daa4aac70b" },
		{ 56, "4324d65f3c103567f5589c710bc08f85"
		    "23f929a9272e3af36fc968e52abc6c27" },
		{ 57, "35df609437dcfea3279283ab79fd554e"
		    "2bf78f8f7ae2de532d8ee300b09e8f73" },
		{ 63, "81c80242132f230c3bd41b3e63bbcff1"
		    "6107339549214a99614ff26664625055" },
		{ 64, "39e3d7b6b5d075d37d053ad89b24b41b"
		    "ef4f3c29760c84447cab3f3be1882241" },
		{ 65, "aacca6ff74fdbb296d165a45cecfa04e"
		    "5127bc008770fbbdd48006f2d2fae95e" },
		{ 119, "9ce7368e4daf32341631b492e80359dc"
		    "9f594b48453cd0dd5bf0b19279cc177e" },
		{ 120, "7836b787757e95e58b3ca5aec90b1b00"
		    "4e8deba1e50e9675af9cabf1a13a04b5" },
		{ 128, "d2742f1f4ac6bb7ca2b239ee18402ba8"
		    "b3f9f8e652d2a72973c2b9ba11c08cf6" },
	};
	uint8_t m[128], d[SHA256_LEN];
	size_t i;

	for (i = 0; i < sizeof m; i++)
		m[i] = (uint8_t)(i * 7 + 3);
	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		sha256(m, v[i].len, d);
		expect_hex(d, v[i].hex);
	}
}

/* One RFC 4231 test case: key and data in hex, expected MAC in hex. */
static void
expect_hmac(const char *keyhex, const char *datahex, const char *machex)
{
	uint8_t key[200], data[200], mac[SHA256_LEN];
	size_t klen = unhex(keyhex, key), dlen = unhex(datahex, data);

	hmac_sha256(key, klen, data, dlen, mac);
	expect_hex(mac, machex);
}

/* Fill a hex string with n copies of one byte. */
static const char *
rep(char *buf, const char *byte, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		memcpy(buf + 2 * i, byte, 2);
	buf[2 * n] = '\0';
	return buf;
}

/* Hex of a string. */
static const char *
hexof(char *buf, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		snprintf(buf + 2 * i, 3, "%02x", (unsigned char)s[i]);
	buf[2 * i] = '\0';
	return buf;
}

Test(hmac_sha256, rfc4231_case1)
{
	char k[400], d[400];

	expect_hmac(rep(k, "0b", 20), hexof(d, "Hi There"),
	    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

Test(hmac_sha256, rfc4231_case2_short_key)
{
	char k[400], d[400];

	expect_hmac(hexof(k, "Jefe"), hexof(d, "what do ya want for nothing?"),
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

Test(hmac_sha256, rfc4231_case3)
{
	char k[400], d[400];

	expect_hmac(rep(k, "aa", 20), rep(d, "dd", 50),
	    "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}

Test(hmac_sha256, rfc4231_case4)
{
	char d[400];

	expect_hmac("0102030405060708090a0b0c0d0e0f10111213141516171819",
	    rep(d, "cd", 50),
	    "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
}

Test(hmac_sha256, rfc4231_case5_truncated_128)
{
	char k[400], d[400];

	/* The RFC gives only the first 128 bits of this one. */
	expect_hmac(rep(k, "0c", 20), hexof(d, "Test With Truncation"),
	    "a3b6167473100ee06e0c796c2955552b");
}

Test(hmac_sha256, rfc4231_case6_131_byte_key)
{
	char k[400], d[400];

	expect_hmac(rep(k, "aa", 131),
	    hexof(d, "Test Using Larger Than Block-Size Key - Hash Key First"),
	    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

Test(hmac_sha256, rfc4231_case7_131_byte_key_long_data)
{
	char k[400], d[400];

	expect_hmac(rep(k, "aa", 131),
	    hexof(d, "This is a test using a larger than block-size key and a "
	    "larger than block-size data. The key needs to be hashed before "
	    "being used by the HMAC algorithm."),
	    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

/* A key of exactly one block is used as is; one byte more is hashed. */
Test(hmac_sha256, block_sized_keys)
{
	uint8_t key[65], hashed[SHA256_LEN], a[SHA256_LEN], b[SHA256_LEN];

	memset(key, 0x5a, sizeof key);
	sha256(key, 65, hashed);
	hmac_sha256(key, 65, "m", 1, a);
	hmac_sha256(hashed, sizeof hashed, "m", 1, b);
	cr_assert(memcmp(a, b, SHA256_LEN) == 0);
	hmac_sha256(key, 64, "m", 1, b);
	cr_assert(memcmp(a, b, SHA256_LEN) != 0);
	hmac_sha256(key, 64, NULL, 0, b);
	hmac_sha256(key, 64, "", 0, a);
	cr_assert(memcmp(a, b, SHA256_LEN) == 0);
}

Test(sha256_equal, equal_and_every_single_difference)
{
	uint8_t a[SHA256_LEN], b[SHA256_LEN];
	unsigned int i, bit;

	sha256("abc", 3, a);
	memcpy(b, a, sizeof b);
	cr_assert_eq(sha256_equal(a, b), 1);
	cr_assert_eq(sha256_equal(a, a), 1);
	for (i = 0; i < SHA256_LEN; i++)
		for (bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1u << bit);
			cr_assert_eq(sha256_equal(a, b), 0, "byte %u bit %u",
			    i, bit);
			b[i] ^= (uint8_t)(1u << bit);
		}
	memset(b, 0, sizeof b);
	memset(a, 0xff, sizeof a);
	cr_assert_eq(sha256_equal(a, b), 0);
}

Test(crypto_random, fills_and_differs)
{
	uint8_t a[32], b[32], zero[32];

	memset(a, 0, sizeof a);
	memset(b, 0, sizeof b);
	memset(zero, 0, sizeof zero);
	cr_assert_eq(crypto_random(a, sizeof a), 0);
	cr_assert_eq(crypto_random(b, sizeof b), 0);
	cr_assert(memcmp(a, zero, sizeof a) != 0);
	cr_assert(memcmp(a, b, sizeof a) != 0);
	cr_assert_eq(crypto_random(a, 0), 0);
}
