/*
 * fuzz_hest.c -- fuzz target for the HEST parser (lib/hest.c).
 *
 * The parser takes bytes from a VMM its guest may control, so besides not
 * crashing it must keep its promises: a profile that fits, notification
 * types a guest can be given, unique source ids, a reason on every
 * rejection, and the same answer whether or not the caller wants the
 * profile or a long reason. abort() makes any broken promise a finding.
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

/* Whether a HEST type may appear in a profile. */
static int
fuzz_hest_profile_type(unsigned int type)
{
	switch (type) {
	case HEST_IA32_MCE:
	case HEST_IA32_CMC:
	case HEST_IA32_NMI:
	case HEST_GHES:
	case HEST_GHES_V2:
	case HEST_IA32_DEFERRED:
		return (1);
	}
	return (0);
}

/* Parse one input and check the parser's invariants. */
static void
fuzz_hest_check(const uint8_t *data, size_t size)
{
	struct ras_profile prof;
	char err[256], small[6];
	unsigned int i, j;
	int rc;

	memset(&prof, 0xa5, sizeof(prof));
	memset(err, 'X', sizeof(err));
	rc = hest_parse(data, size, &prof, err, sizeof(err));
	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (rc == 0) {
		if (err[0] != '\0' || prof.count > RAS_PROFILE_MAX)
			abort();
		for (i = 0; i < prof.count; i++) {
			if (prof.src[i].notify > RAS_NOTIFY_SDEI)
				abort();
			if (!fuzz_hest_profile_type(prof.src[i].hest_type))
				abort();
			for (j = 0; j < i; j++)
				if (prof.src[j].source_id ==
				    prof.src[i].source_id)
					abort();
		}
	} else if (rc != -1 || err[0] == '\0' || prof.count != 0)
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
