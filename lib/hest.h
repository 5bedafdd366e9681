/*
 * hest.h -- ACPI Hardware Error Source Table parser.
 *
 * Parses the raw bytes a VMM built for its guest (ACPI 6.5, section 18.3.2)
 * into a boot profile. Allocation-free and async-signal-safe.
 */
#ifndef RAS_HEST_H
#define RAS_HEST_H

#include <stddef.h>
#include "ras.h"

#define HEST_HEADER_LEN 40	/* 36-byte ACPI header + error source count */
#define HEST_MAX_LEN (1u << 20)

enum hest_type {
	HEST_IA32_MCE = 0,
	HEST_IA32_CMC = 1,
	HEST_IA32_NMI = 2,
	HEST_AER_ROOT = 6,
	HEST_AER_ENDPOINT = 7,
	HEST_AER_BRIDGE = 8,
	HEST_GHES = 9,
	HEST_GHES_V2 = 10,
	HEST_IA32_DEFERRED = 11
};

/*
 * Parse a HEST. On success returns 0 and fills *profile with one entry per
 * enabled error source that can report memory errors (IA-32 MCE/CMC/NMI/
 * deferred, GHES, GHESv2; AER sources are validated and skipped).
 * On failure returns -1 and writes a precise reason into err (may be NULL).
 */
int hest_parse(const void *buf, size_t len, struct ras_profile *profile,
    char *err, size_t errlen);

#endif
