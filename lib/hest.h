/*
 * hest.h -- ACPI Hardware Error Source Table parser.
 *
 * Parses the raw bytes a VMM built for its guest (ACPI 6.5, section 18.3.2)
 * into a boot profile. Allocation-free and async-signal-safe.
 */
#ifndef RAS_HEST_H
#define RAS_HEST_H

#include <stddef.h>
#include <stdint.h>
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

/* Flags byte of the IA-32 sources (and AER), ACPI 6.5 table 18.4. */
#define HEST_FLAG_FIRMWARE_FIRST	0x01
#define HEST_FLAG_GLOBAL		0x02
#define HEST_FLAG_GHES_ASSIST		0x04

/*
 * Why a well-formed error source is left out of the boot profile. The
 * first group is how the table is meant to be read; the second (from
 * HEST_SKIP_NOTIFY_LENGTH on) marks a source Linux would refuse at probe
 * time, which is a firmware (VMM) bug worth a warning: see hest_skip_warns.
 */
enum hest_skip {
	HEST_SKIP_NONE = 0,
	HEST_SKIP_DISABLED,		/* enabled byte is 0 */
	HEST_SKIP_NOT_MEMORY,		/* PCIe AER: not a memory error path */
	HEST_SKIP_CORRECTED_ONLY,	/* IA-32 CMC: corrected errors only */
	HEST_SKIP_NO_STATUS_BLOCK,	/* IA-32 NMI: no error status block */
	HEST_SKIP_DEFERRED,		/* IA-32 deferred MC: not via HEST */
	HEST_SKIP_GHES_ASSIST,		/* GHES assisting a GHES_ASSIST MCE */
	HEST_SKIP_FIRMWARE_FIRST,	/* firmware-first MCE, GHES takes it */
	HEST_SKIP_NOTIFY_LENGTH,	/* notification length is not 28 */
	HEST_SKIP_NOTIFY_UNKNOWN,	/* notification type past SDEI */
	HEST_SKIP_NOTIFY_REJECTED,	/* LOCAL, CMCI or MCE on a GHES */
	HEST_SKIP_BLOCK_LENGTH,		/* error status block < 20 bytes */
	HEST_SKIP_STATUS_GAR,		/* error status address unusable */
	HEST_SKIP_READ_ACK_GAR,		/* GHESv2 read ack register unusable */
	HEST_SKIP_COUNT
};

/* What is wrong with a Generic Address Structure (hest_skipped.value). */
enum hest_gar_fault {
	HEST_GAR_ZERO_ADDRESS = 1,
	HEST_GAR_ACCESS_SIZE = 2,	/* access size code not 1..4 */
	HEST_GAR_BIT_RANGE = 3,		/* bit width + offset past access */
	HEST_GAR_SPACE = 4		/* neither system memory nor I/O */
};

/* One error source that did not join the profile, and why. */
struct hest_skipped {
	uint16_t source_id;
	uint16_t hest_type;	/* enum hest_type */
	uint8_t reason;		/* enum hest_skip */
	uint8_t notify;		/* announced type, RAS_NOTIFY_NONE if none */
	uint32_t value;		/* offending value: the notification type or
				   length, block length, enum hest_gar_fault */
};

#define HEST_REPORT_MAX 64

/* The sources a successful parse left out (filled on success only). */
struct hest_report {
	unsigned int nskipped;	/* all of them; only the first
				   HEST_REPORT_MAX are in skipped[] */
	struct hest_skipped skipped[HEST_REPORT_MAX];
};

/*
 * Parse a HEST. On success returns 0 and fills *profile with one entry per
 * error source that can bring a memory error to the guest as Linux reads
 * the table: enabled GHES and GHESv2 sources whose notification, error
 * status block and registers Linux accepts (and that do not merely assist
 * a GHES_ASSIST machine-check source), and enabled IA-32 MCE sources (the
 * x86 machine-check path) unless they are firmware first and the table
 * gives the guest a GHES that takes synchronous errors. Every other source
 * is checked for shape and skipped; the lead comment of hest.c gives the
 * rules. Well-formed sources the profile leaves out are listed in *report
 * (may be NULL) so the caller can log them.
 * On failure (a malformed table) returns -1 and writes a precise reason
 * into err (may be NULL); profile->count and report->nskipped are 0.
 */
int hest_parse_report(const void *buf, size_t len, struct ras_profile *profile,
    struct hest_report *report, char *err, size_t errlen);

/* hest_parse_report without a report. */
int hest_parse(const void *buf, size_t len, struct ras_profile *profile,
    char *err, size_t errlen);

/* Whether a skip reason marks a firmware bug worth a warning. */
int hest_skip_warns(unsigned int reason);

/*
 * Describe a skipped source in one line, e.g. "error source 3 (type 9
 * GHES): unknown notification type 12 (the last defined is 11, SDEI)".
 * Always NUL-terminates a non-empty out; async-signal-safe.
 */
void hest_skip_format(const struct hest_skipped *s, char *out, size_t outlen);

/*
 * Whether the guest must acknowledge each record of this source before
 * the next may be written (GHESv2 Read Ack Register). Every GHESv2 in a
 * parsed profile has a usable read ack register: Linux does not register
 * a GHESv2 without one, and neither does hest_parse.
 */
static inline int
hest_source_read_ack(const struct ras_source *src)
{
	return (src->hest_type == HEST_GHES_V2);
}

#endif
