/*
 * bench_inject.c -- what a memory error costs from the SIGBUS in QEMU's
 * vCPU thread to the guest's machine-check handler, on the path that is
 * in force for that guest: the shim enforcing (forward to rasd, inject
 * rasd's values through KVM_X86_SET_MCE) or observing (forward to rasd,
 * then QEMU's own handler injects). bench/inject.sh runs it on both.
 *
 * For each of N fresh guest pages (GPA FIRST + i * 4096, below 0xa0000:
 * the boot-sector guest of tests/tools/mce-guest.S uses none of them) it
 * runs ras-inject --code AR --gpa (ptrace: the vCPU thread gets a genuine
 * SIGBUS with BUS_MCEERR_AR) and waits until the guest's handler has
 * printed that address on COM1 (a file). Two figures per error:
 *   delivered -> handler: from ras-inject's return (the signal is queued
 *     and the thread running again) until the line is in the file;
 *   total: the same from before ras-inject started (adds the ptrace
 *     round trips, the same on both paths).
 * The file is polled every 20 us, which bounds the resolution.
 *
 * Usage: bench_inject INJECT PID SERIAL FIRST_GPA N
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_WAIT_US	(10 * 1000000.0)	/* per error */
#define BENCH_MAX	512

static double
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/*
 * Whether the file holds needle followed by a 16-digit value and the end
 * of the line (re-read from the start: it is small).
 */
static int
file_has(const char *path, const char *needle)
{
	static char	buf[1 << 16];
	const char	*p;
	ssize_t		n;
	int		fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if ((p = strstr(buf, needle)) == NULL)
		return 0;
	p += strlen(needle);
	return strlen(p) >= 18 && p[16] == '\r' && p[17] == '\n';
}

/* Run ras-inject for an AR at gpa; 0 when it exited 0. */
static int
run_inject(const char *inject, const char *pid, uint64_t gpa)
{
	char	arg[32];
	pid_t	child;
	int	status;

	snprintf(arg, sizeof arg, "0x%" PRIx64, gpa);
	if ((child = fork()) == -1)
		return -1;
	if (child == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null != -1) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execl(inject, inject, "--pid", pid, "--code", "AR", "--gpa",
		    arg, (char *)NULL);
		_exit(127);
	}
	if (waitpid(child, &status, 0) == -1)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	printf("  %-22s median %8.0f us  p90 %8.0f us  min %8.0f us  "
	    "max %8.0f us\n", what, v[n / 2], v[(n * 9) / 10], v[0],
	    v[n - 1]);
}

int
main(int argc, char **argv)
{
	static double	 total[BENCH_MAX], after[BENCH_MAX];
	char		 needle[64];
	uint64_t	 first, gpa;
	double		 t0, t1, t2;
	int		 i, n, done = 0;

	if (argc != 6) {
		fprintf(stderr, "usage: bench_inject INJECT PID SERIAL "
		    "FIRST_GPA N\n");
		return 2;
	}
	first = strtoull(argv[4], NULL, 0);
	n = atoi(argv[5]);
	if (n < 1 || n > BENCH_MAX || first % 4096 != 0 ||
	    first + (uint64_t)n * 4096 > 0xa0000) {
		fprintf(stderr, "bench_inject: N in 1..%d, FIRST_GPA a page, "
		    "all below 0xa0000\n", BENCH_MAX);
		return 2;
	}
	for (i = 0; i < n; i++) {
		gpa = first + (uint64_t)i * 4096;
		/* The whole line: the handler ends it once MCIP is clear. */
		snprintf(needle, sizeof needle, "addr=%016" PRIX64 " mcg=", gpa);
		t0 = now_us();
		if (run_inject(argv[1], argv[2], gpa) == -1) {
			fprintf(stderr, "bench_inject: ras-inject failed for "
			    "GPA 0x%" PRIx64 "\n", gpa);
			return 1;
		}
		t1 = now_us();
		while (!file_has(argv[3], needle)) {
			if (now_us() - t1 > BENCH_WAIT_US) {
				fprintf(stderr, "bench_inject: no \"%s\" in %s "
				    "within %.0f s\n", needle, argv[3],
				    BENCH_WAIT_US / 1e6);
				return 1;
			}
			usleep(20);
		}
		t2 = now_us();
		total[done] = t2 - t0;
		after[done] = t2 - t1;
		done++;
	}
	printf("  %d ARs, each to a fresh page\n", done);
	report("delivered -> handler", after, done);
	report("total (with ptrace)", total, done);
	return 0;
}
