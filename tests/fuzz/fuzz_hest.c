/*
 * fuzz_hest.c -- fuzz target for the HEST parser (lib/hest.c).
 *
 * The parser takes bytes from a VMM its guest may control, so besides not
 * crashing it must keep its promises: a profile that fits, holding only
 * IA-32 MCE, GHES and GHESv2 sources with notification types a guest can
 * be given, unique source ids, a report whose reasons are known and whose
 * lines format, a reason on every rejection, and the same answer whether
 * or not the caller wants the profile, the report or a long reason.
 * abort() makes any broken promise a finding.
 *
 * Almost every mutation breaks the checksum, which would keep the fuzzer
 * at the header; so each input is also parsed with its checksum repaired.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hest.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Whether a source of this type and notification may be in a profile. */
static int
fuzz_hest_profile_source(unsigned int type, unsigned int notify)
{
	switch (type) {
	case HEST_IA32_MCE:
		return (notify == RAS_NOTIFY_MCE);
	case HEST_GHES:
	case HEST_GHES_V2:
		return (notify <= RAS_NOTIFY_SDEI &&
		    notify != RAS_NOTIFY_LOCAL && notify != RAS_NOTIFY_CMCI &&
		    notify != RAS_NOTIFY_MCE);
	}
	return (0);
}

/* Parse one input and check the parser's invariants. */
static void
fuzz_hest_check(const uint8_t *data, size_t size)
{
	static struct hest_report rep;
	struct ras_profile prof;
	char err[256], small[6], line[160];
	unsigned int i, j;
	int rc;

	memset(&prof, 0xa5, sizeof(prof));
	memset(&rep, 0xa5, sizeof(rep));
	memset(err, 'X', sizeof(err));
	rc = hest_parse_report(data, size, &prof, &rep, err, sizeof(err));
	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (rc == 0) {
		if (err[0] != '\0' || prof.count > RAS_PROFILE_MAX)
			abort();
		for (i = 0; i < prof.count; i++) {
			if (!fuzz_hest_profile_source(prof.src[i].hest_type,
			    prof.src[i].notify))
				abort();
			for (j = 0; j < i; j++)
				if (prof.src[j].source_id ==
				    prof.src[i].source_id)
					abort();
		}
		for (i = 0; i < rep.nskipped && i < HEST_REPORT_MAX; i++) {
			if (rep.skipped[i].reason == HEST_SKIP_NONE ||
			    rep.skipped[i].reason >= HEST_SKIP_COUNT)
				abort();
			for (j = 0; j < prof.count; j++)
				if (prof.src[j].source_id ==
				    rep.skipped[i].source_id)
					abort();
			memset(line, 'X', sizeof(line));
			hest_skip_format(&rep.skipped[i], line, sizeof(line));
			if (memchr(line, '\0', sizeof(line)) == NULL)
				abort();
		}
	} else if (rc != -1 || err[0] == '\0' || prof.count != 0 ||
	    rep.nskipped != 0)
		abort();

	/* Without a profile and with a tiny err the verdict must not change. */
	memset(small, 'X', sizeof(small));
	if (hest_parse(data, size, NULL, small, sizeof(small)) != rc)
		abort();
	if (memchr(small, '\0', sizeof(small)) == NULL ||
	    strncmp(small, err, sizeof(small) - 1) != 0)
		abort();
}

/* Check the input as given, then with the checksum byte made right. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;
	uint32_t tlen;
	uint8_t sum = 0;
	size_t i;

	fuzz_hest_check(data, size);
	if (size < HEST_HEADER_LEN || size > HEST_MAX_LEN)
		return (0);
	if ((copy = malloc(size)) == NULL)
		abort();
	memcpy(copy, data, size);
	tlen = (uint32_t)copy[4] | (uint32_t)copy[5] << 8 |
	    (uint32_t)copy[6] << 16 | (uint32_t)copy[7] << 24;
	if (tlen > size)
		tlen = (uint32_t)size;
	copy[9] = 0;
	for (i = 0; i < tlen; i++)
		sum += copy[i];
	copy[9] = (uint8_t)(0x100 - sum);
	fuzz_hest_check(copy, size);
	free(copy);
	return (0);
}
