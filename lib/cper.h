/*
 * cper.h -- build the error status block a GHES source points at.
 *
 * Generic Error Status Block (ACPI 6.5 18.3.2.7.1) + Generic Error Data
 * Entry revision 0x300 (18.3.2.7.2) + UEFI Memory Error Section (UEFI 2.10
 * N.2.5, GUID A5BC1114-6F64-4EDE-B863-3E83ED7C83B1), laid out the way QEMU's
 * hw/acpi/ghes.c writes it. Allocation-free.
 */
#ifndef RAS_CPER_H
#define RAS_CPER_H

#include <stddef.h>
#include <stdint.h>

#define CPER_GEBS_LEN 20	/* generic error status block header */
#define CPER_GEDE_LEN 72	/* generic error data entry, revision 0x300 */
#define CPER_MEM_LEN 80		/* UEFI memory error section */
#define CPER_BLOCK_LEN (CPER_GEBS_LEN + CPER_GEDE_LEN + CPER_MEM_LEN)

/*
 * Write the block for a memory error at the exact guest-physical address
 * addr, in a poisoned granule of length bytes (a power of two: it becomes
 * the physical address mask), into out (at least CPER_BLOCK_LEN bytes).
 * Returns the number of bytes written, or 0 if outlen is too small.
 */
size_t cper_memory_error(uint64_t addr, uint64_t length, void *out,
    size_t outlen);

#endif
