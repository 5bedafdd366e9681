/*
 * test_cper.c -- the error status block, checked byte by byte at the
 * offsets of ACPI 6.5 18.3.2.7 and UEFI 2.10 N.2.5 with the values QEMU's
 * hw/acpi/ghes.c writes.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "cper.h"

/* Read little-endian fields back without trusting the host order. */
static uint64_t
le(const uint8_t *p, unsigned int n)
{
	uint64_t	v = 0;

	while (n-- > 0)
		v = v << 8 | p[n];
	return v;
}

/* Every check for one address; fill is what the buffer held before. */
static void
check_block(uint64_t gpa, uint64_t length)
{
	static const uint8_t guid[16] = {
		0x14, 0x11, 0xbc, 0xa5, 0x64, 0x6f, 0xde, 0x4e,
		0xb8, 0x63, 0x3e, 0x83, 0xed, 0x7c, 0x83, 0xb1
	};
	uint8_t		b[CPER_BLOCK_LEN + 8];
	const uint8_t	*g = b + 20, *m = b + 92;
	unsigned int	i;

	cr_assert_eq(CPER_BLOCK_LEN, 172);
	memset(b, 0x5a, sizeof b);
	cr_assert_eq(cper_memory_error(gpa, length, b, sizeof b), 172);

	/* Generic Error Status Block */
	cr_expect_eq(le(b + 0, 4), 1, "block status");
	cr_expect_eq(le(b + 4, 4), 0, "raw data offset");
	cr_expect_eq(le(b + 8, 4), 0, "raw data length");
	cr_expect_eq(le(b + 12, 4), 152, "data length");
	cr_expect_eq(le(b + 16, 4), 0, "block error severity");

	/* Generic Error Data Entry */
	for (i = 0; i < 16; i++)
		cr_expect_eq(g[i], guid[i], "section type byte %u", i);
	cr_expect_eq(le(g + 16, 4), 0, "entry error severity");
	cr_expect_eq(g[20], 0x00, "revision low byte");
	cr_expect_eq(g[21], 0x03, "revision high byte");
	cr_expect_eq(g[22], 0, "entry validation bits");
	cr_expect_eq(g[23], 0, "entry flags");
	cr_expect_eq(le(g + 24, 4), 80, "error data length");
	for (i = 28; i < 72; i++)
		cr_expect_eq(g[i], 0, "FRU id/text/timestamp byte %u", i);

	/* Memory Error Section */
	if (length != 0 && (length & (length - 1)) == 0) {
		cr_expect_eq(le(m + 0, 8), 0x4006, "memory validation bits");
		cr_expect_eq(le(m + 24, 8), ~(length - 1),
		    "physical address mask");
	} else {
		cr_expect_eq(le(m + 0, 8), 0x4002, "memory validation bits");
		cr_expect_eq(le(m + 24, 8), 0, "physical address mask");
	}
	cr_expect_eq(le(m + 8, 8), 0, "error status");
	cr_expect_eq(le(m + 16, 8), gpa, "physical address");
	for (i = 32; i < 80; i++)
		cr_expect_eq(m[i], 0, "memory section byte %u", i);

	/* nothing past the block is touched */
	for (i = CPER_BLOCK_LEN; i < sizeof b; i++)
		cr_expect_eq(b[i], 0x5a, "byte %u past the block", i);
}

Test(cper, low_address)
{
	check_block(0x40001000ull, 4096);
}

Test(cper, high_address_huge_page)
{
	check_block(0x0000123480200000ull, 2u << 20);
}

/* The exact address inside a 2 MiB / 1 GiB granule, the granule as mask. */
Test(cper, exact_address_in_granule)
{
	uint8_t	b[CPER_BLOCK_LEN];

	check_block(0x0000123480234567ull, 2u << 20);
	check_block(0x00000000c1234000ull, 1u << 30);
	cr_assert_eq(cper_memory_error(0x40201234ull, 2u << 20, b, sizeof b),
	    CPER_BLOCK_LEN);
	cr_expect_eq(le(b + 108, 8), 0x40201234ull, "exact address");
	cr_expect_eq(le(b + 116, 8), 0xffffffffffe00000ull, "2 MiB mask");
	check_block(0x1000, 3 * 4096);	/* not a power of two: no mask */
}

Test(cper, all_bytes_of_address)
{
	uint8_t	b[CPER_BLOCK_LEN];

	cr_assert_eq(cper_memory_error(0x0102030405060708ull, 4096, b,
	    sizeof b), CPER_BLOCK_LEN);
	cr_expect_eq(b[108], 0x08);
	cr_expect_eq(b[109], 0x07);
	cr_expect_eq(b[114], 0x02);
	cr_expect_eq(b[115], 0x01);
	check_block(0xfedcba9876543210ull, 4096);
}

Test(cper, exact_buffer)
{
	uint8_t	b[CPER_BLOCK_LEN];

	memset(b, 0xff, sizeof b);
	cr_expect_eq(cper_memory_error(0x1000, 4096, b, sizeof b),
	    CPER_BLOCK_LEN);
	cr_expect_eq(b[CPER_BLOCK_LEN - 1], 0);
	cr_expect_eq(b[0], 1);
}

Test(cper, too_small)
{
	uint8_t	b[CPER_BLOCK_LEN];

	memset(b, 0xab, sizeof b);
	cr_expect_eq(cper_memory_error(0x1000, 4096, b, CPER_BLOCK_LEN - 1),
	    0);
	cr_expect_eq(cper_memory_error(0x1000, 4096, b, 0), 0);
	cr_expect_eq(cper_memory_error(0x1000, 4096, NULL, 4096), 0);
	cr_expect_eq(b[0], 0xab, "a refused call wrote");
	cr_expect_eq(b[CPER_BLOCK_LEN - 2], 0xab, "a refused call wrote");
}
