/*
 * fuzz_config.c -- fuzz target for the configuration parser
 * (daemon/config.c: config_parse).
 *
 * rasd.conf is written by an operator, but a parser of outside bytes gets a
 * fuzz target all the same. Besides not crashing, it must keep its
 * promises: every rejection says where (name:line:), and whatever it
 * accepts prints back (config_print) into text that parses again to the
 * same settings.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/rasd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Print a configuration into a malloc'd string. */
static char *
fuzz_config_print(const struct rasd_config *c, size_t *len)
{
	char *buf = NULL;
	FILE *f;

	if ((f = open_memstream(&buf, len)) == NULL)
		abort();
	config_print(c, f);
	fclose(f);
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rasd_config c, again;
	char err[512] = "", *p1, *p2;
	size_t l1, l2;
	FILE *f;

	if (size == 0)
		return 0;
	if ((f = fmemopen((void *)data, size, "r")) == NULL)
		abort();
	config_defaults(&c);
	if (config_parse(&c, f, "fuzz", err, sizeof err) == -1) {
		fclose(f);
		if (strncmp(err, "fuzz:", 5) != 0)
			abort();
		return 0;
	}
	fclose(f);
	p1 = fuzz_config_print(&c, &l1);
	if ((f = fmemopen(p1, l1, "r")) == NULL)
		abort();
	config_defaults(&again);
	if (config_parse(&again, f, "printed", err, sizeof err) == -1)
		abort();
	fclose(f);
	p2 = fuzz_config_print(&again, &l2);
	if (l1 != l2 || memcmp(p1, p2, l1) != 0)
		abort();
	free(p1);
	free(p2);
	return 0;
}
