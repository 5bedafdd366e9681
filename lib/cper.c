/*
 * cper.c -- build the error status block a GHES source points at.
 *
 * The bytes are what QEMU's hw/acpi/ghes.c (acpi_ghes_memory_errors) writes
 * into a guest's error status block, so a guest cannot tell whether rasd or
 * QEMU produced them. All fields are little-endian:
 *
 *   off len  Generic Error Status Block (ACPI 6.5 18.3.2.7.1)
 *     0   4  block status          1 (uncorrectable error valid)
 *     4   4  raw data offset       0
 *     8   4  raw data length       0
 *    12   4  data length           152 (one entry: 72 + 80)
 *    16   4  error severity        0 (recoverable)
 *            Generic Error Data Entry, revision 0x300 (18.3.2.7.2)
 *    20  16  section type          GUID A5BC1114-6F64-4EDE-B863-3E83ED7C83B1
 *    36   4  error severity        0 (recoverable)
 *    40   2  revision              0x0300
 *    42   1  validation bits       0 (no FRU id, FRU text, timestamp)
 *    43   1  flags                 0
 *    44   4  error data length     80
 *    48  16  FRU id                0
 *    64  20  FRU text              0
 *    84   8  timestamp             0
 *            UEFI Memory Error Section (UEFI 2.10 N.2.5)
 *    92   8  validation bits       0x4006 (physical address, its mask,
 *                                  memory error type)
 *   100   8  error status          0
 *   108   8  physical address      the exact faulting address
 *   116   8  physical address mask ~(granule - 1): which address bits
 *                                  are significant (a 2 MiB huge page:
 *                                  bits 21 and up)
 *   124  48  node .. target id     0
 *   164   1  memory error type     0 (unknown)
 *   165   7  extended .. handles   0
 *   172      end
 *
 * Severity is recoverable, not fatal: a Linux guest panics on a fatal GHES
 * record, while a recoverable one lets it offline the page and kill only
 * the task that used it.
 */
#include <string.h>

#include "cper.h"

#define CPER_GEBS_UNCORRECTABLE	0x1u	/* block status bit 0 */
#define CPER_SEV_RECOVERABLE	0u
#define CPER_GEDE_REVISION	0x0300u
#define CPER_MEM_VALID_PA	(1ull << 1)
#define CPER_MEM_VALID_PA_MASK	(1ull << 2)
#define CPER_MEM_VALID_TYPE	(1ull << 14)
#define CPER_MEM_TYPE_UNKNOWN	0u

/* Byte offsets of the three parts. */
#define CPER_GEDE_OFF	CPER_GEBS_LEN
#define CPER_MEM_OFF	(CPER_GEBS_LEN + CPER_GEDE_LEN)

/*
 * Memory error section type, in the mixed-endian byte order of EFI_GUID:
 * the first three groups little-endian, the last two as written.
 */
static const uint8_t cper_mem_guid[16] = {
	0x14, 0x11, 0xbc, 0xa5, 0x64, 0x6f, 0xde, 0x4e,
	0xb8, 0x63, 0x3e, 0x83, 0xed, 0x7c, 0x83, 0xb1
};

/* Store a 16-bit value little-endian, whatever the host byte order. */
static void
cper_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Store a 32-bit value little-endian. */
static void
cper_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Store a 64-bit value little-endian. */
static void
cper_put64(uint8_t *p, uint64_t v)
{
	cper_put32(p, (uint32_t)v);
	cper_put32(p + 4, (uint32_t)(v >> 32));
}

/*
 * Write the block for a memory error at the exact guest-physical address
 * addr, in a poisoned granule of length bytes. QEMU leaves the address
 * mask invalid; we fill it (UEFI N.2.5 has it for exactly this) so that a
 * guest, or its EDAC driver, sees the granule while offlining the page the
 * address names. A length that is not a power of two leaves it invalid.
 */
size_t
cper_memory_error(uint64_t addr, uint64_t length, void *out, size_t outlen)
{
	uint8_t		*b = out;
	uint64_t	 valid = CPER_MEM_VALID_PA | CPER_MEM_VALID_TYPE;

	if (out == NULL || outlen < CPER_BLOCK_LEN)
		return 0;
	memset(b, 0, CPER_BLOCK_LEN);

	cper_put32(b + 0, CPER_GEBS_UNCORRECTABLE);
	cper_put32(b + 12, CPER_GEDE_LEN + CPER_MEM_LEN);
	cper_put32(b + 16, CPER_SEV_RECOVERABLE);

	memcpy(b + CPER_GEDE_OFF, cper_mem_guid, sizeof cper_mem_guid);
	cper_put32(b + CPER_GEDE_OFF + 16, CPER_SEV_RECOVERABLE);
	cper_put16(b + CPER_GEDE_OFF + 20, CPER_GEDE_REVISION);
	cper_put32(b + CPER_GEDE_OFF + 24, CPER_MEM_LEN);

	if (length != 0 && (length & (length - 1)) == 0) {
		valid |= CPER_MEM_VALID_PA_MASK;
		cper_put64(b + CPER_MEM_OFF + 24, ~(length - 1));
	}
	cper_put64(b + CPER_MEM_OFF, valid);
	cper_put64(b + CPER_MEM_OFF + 16, addr);
	b[CPER_MEM_OFF + 72] = CPER_MEM_TYPE_UNKNOWN;

	return CPER_BLOCK_LEN;
}
