/*
 * driver.c -- run a fuzz target over files, for `make check` with gcc.
 *
 * libFuzzer brings its own main(); this one replays the corpus and the
 * test tables through the same LLVMFuzzerTestOneInput so that every input
 * that once found a bug keeps being checked without clang. Directories
 * among the arguments are skipped, so a shell glob over tests/data is fine.
 */
#include <stddef.h>
#include <stdint.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#ifndef RAS_LIBFUZZER

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Read a whole file into a buffer of exactly its size (ASan sees overreads). */
static uint8_t *
driver_read(const char *path, size_t *len)
{
	FILE *f;
	uint8_t *buf = NULL;
	long size;

	if ((f = fopen(path, "rb")) == NULL)
		return (NULL);
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		goto out;
	/* malloc(0) may return NULL, which would read as a failure. */
	if ((buf = malloc(size > 0 ? (size_t)size : 1)) == NULL)
		goto out;
	if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
		free(buf);
		buf = NULL;
		goto out;
	}
	*len = (size_t)size;
out:
	fclose(f);
	return (buf);
}

/* Feed each regular file named on the command line to the target. */
int
main(int argc, char **argv)
{
	struct stat st;
	uint8_t *buf;
	size_t len;
	int i, ran = 0, skipped = 0;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return (1);
		}
		if (!S_ISREG(st.st_mode)) {
			skipped++;
			continue;
		}
		if ((buf = driver_read(argv[i], &len)) == NULL) {
			fprintf(stderr, "%s: cannot read\n", argv[i]);
			return (1);
		}
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
		ran++;
	}
	printf("ran %d inputs (%d non-files skipped)\n", ran, skipped);
	return (0);
}

#endif /* !RAS_LIBFUZZER */
