/*
 * ras-inject -- raise a realistic memory-error SIGBUS in an unmodified VMM.
 *
 * The kernel lets only a process signal itself with a positive si_code, so
 * the BUS_MCEERR_AR/AO that a real hardware error produces cannot be sent
 * from outside with kill/sigqueue. A tracer can do it: PTRACE_SEIZE the
 * target thread (QEMU's "CPU 0/KVM"), send it a plain SIGBUS, and at the
 * signal-delivery stop rewrite the pending siginfo (si_code, si_addr,
 * si_addr_lsb) with PTRACE_SETSIGINFO before detaching with SIGBUS, which
 * delivers the rewritten signal. QEMU then handles it exactly as a real
 * memory error (TESTBED.md, "Raising realistic memory-error signals").
 *
 * The address is a host virtual address inside guest RAM. Give it directly
 * (--addr) or as an offset into the guest RAM block (--ram-offset), which is
 * found in /proc/PID/maps as the anonymous read-write mapping of exactly
 * --ram-size bytes (QEMU maps guest RAM as one memory-backend-ram block).
 * --gpa is a shortcut for the q35/pc layout with at most 2 GiB of RAM: guest
 * RAM below 4 GiB is one block mapped at GPA 0, so the offset IS the GPA for
 * GPA < 0xa0000 and for 0x100000 <= GPA < RAM size (the hole in between is
 * VGA and ROM). Larger guests split RAM around the PCI hole: use --addr.
 *
 * Prints the host VA it used, e.g.
 *	ras-inject: BUS_MCEERR_AO at host VA 0x7f3e46000000 (RAM base
 *	0x7f3e40000000 + 0x6000000, lsb 12) to pid 1234 thread 1240 "CPU 0/KVM"
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#ifndef BUS_MCEERR_AR
#define BUS_MCEERR_AR	4
#endif
#ifndef BUS_MCEERR_AO
#define BUS_MCEERR_AO	5
#endif

/* Give up on the signal-delivery stop after this long (ms). */
#define INJECT_STOP_TIMEOUT_MS	5000

static const char *usage_text =
"usage: ras-inject --pid PID [--thread NAME] --code AR|AO|ADRERR\n"
"                  (--addr HOSTVA | --ram-offset OFF | --gpa GPA)\n"
"                  [--ram-size BYTES] [--lsb N] [--dry-run]\n"
"\n"
"Raise a memory-error SIGBUS in thread NAME (default \"CPU 0/KVM\") of PID,\n"
"as the kernel does for poisoned RAM: si_code AR (4), AO (5) or ADRERR (2),\n"
"si_addr = the host address, si_addr_lsb = N (default 12).\n"
"  --addr HOSTVA      host virtual address in the target\n"
"  --ram-offset OFF   offset into the guest RAM block: the anonymous rw\n"
"                     (or shared memfd) mapping of --ram-size bytes\n"
"                     (default 128M) in /proc/PID/maps\n"
"  --gpa GPA          q35/pc guests of at most 2 GiB: GPA < 0xa0000 or\n"
"                     0x100000 <= GPA < RAM size, used as the RAM offset\n"
"  --dry-run          resolve and print the address, send nothing\n"
"Numbers take 0x prefixes and K/M/G suffixes.\n";

/* Parse a number with an optional 0x prefix and K/M/G suffix. */
static int
inject_parse_num(const char *s, uint64_t *out)
{
	char		*end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || s[0] == '-')
		return (-1);
	switch (toupper((unsigned char)*end)) {
	case 'K': v <<= 10; end++; break;
	case 'M': v <<= 20; end++; break;
	case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end != '\0')
		return (-1);
	*out = v;
	return (0);
}

/* Find the thread of pid whose comm is name; its tid, or -1. */
static pid_t
inject_find_thread(pid_t pid, const char *name)
{
	char		 path[300], comm[64];
	DIR		*d;
	struct dirent	*de;
	FILE		*f;
	pid_t		 tid = -1;
	size_t		 n;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "ras-inject: %s: %s\n", path, strerror(errno));
		return (-1);
	}
	while (tid == -1 && (de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%s/comm", (int)pid,
		    de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(comm, sizeof comm, f) != NULL) {
			n = strcspn(comm, "\n");
			comm[n] = '\0';
			/* comm holds at most 15 characters. */
			if (strncmp(comm, name, 15) == 0)
				tid = (pid_t)atoi(de->d_name);
		}
		fclose(f);
	}
	closedir(d);
	if (tid == -1)
		fprintf(stderr, "ras-inject: no thread named \"%s\" in pid %d\n",
		    name, (int)pid);
	return (tid);
}

/*
 * Find the guest RAM block: the anonymous private read-write mapping of
 * exactly size bytes, or a shared memfd one (guest RAM on
 * memory-backend-memfd). Two of them make the choice ambiguous: refuse.
 */
static int
inject_find_ram(pid_t pid, uint64_t size, uint64_t *base)
{
	char		 path[64], line[512], perms[8], dev[16];
	FILE		*f;
	unsigned long long lo, hi, off, ino;
	int		 n, found = 0;

	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "ras-inject: %s: %s\n", path, strerror(errno));
		return (-1);
	}
	while (fgets(line, sizeof line, f) != NULL) {
		n = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %15s %llu %n", &lo, &hi,
		    perms, &off, dev, &ino, &n) < 6)
			continue;
		if (hi - lo != size)
			continue;
		/* Anonymous (no inode, no backing path) and private, or a
		 * shared memfd (memory-backend-memfd, share=on). */
		if (ino == 0 && (n == 0 || line[n] == '\n' || line[n] == '\0')) {
			if (strncmp(perms, "rw-p", 4) != 0)
				continue;
		} else if (n == 0 || strncmp(line + n, "/memfd:", 7) != 0 ||
		    strncmp(perms, "rw-s", 4) != 0)
			continue;
		if (found++ == 0)
			*base = lo;
	}
	fclose(f);
	if (found == 0) {
		fprintf(stderr, "ras-inject: no anonymous rw mapping (nor shared "
		    "memfd) of 0x%" PRIx64 " bytes in %s (wrong --ram-size?)\n",
		    size, path);
		return (-1);
	}
	if (found > 1) {
		fprintf(stderr, "ras-inject: %d anonymous rw mappings of 0x%"
		    PRIx64 " bytes in %s: use --addr\n", found, size, path);
		return (-1);
	}
	return (0);
}

/* Milliseconds on the monotonic clock. */
static long long
inject_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * Wait for tid's signal-delivery stop for SIGBUS. Other signals that stop
 * it on the way (QEMU kicks vCPUs with SIG_IPI) are passed on unchanged.
 */
static int
inject_wait_sigbus(pid_t tid)
{
	long long	deadline = inject_now_ms() + INJECT_STOP_TIMEOUT_MS;
	int		st, sig;
	pid_t		r;

	for (;;) {
		r = waitpid(tid, &st, __WALL | WNOHANG);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "ras-inject: waitpid %d: %s\n", (int)tid,
			    strerror(errno));
			return (-1);
		}
		if (r == 0) {
			if (inject_now_ms() > deadline) {
				fprintf(stderr, "ras-inject: thread %d did not "
				    "take SIGBUS within %d ms (blocked?)\n",
				    (int)tid, INJECT_STOP_TIMEOUT_MS);
				return (-1);
			}
			usleep(1000);
			continue;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			fprintf(stderr, "ras-inject: thread %d exited\n",
			    (int)tid);
			return (-1);
		}
		if (!WIFSTOPPED(st))
			continue;
		sig = WSTOPSIG(st);
		if (sig == SIGBUS && (st >> 16) == 0)
			return (0);
		/* A group-stop (event PTRACE_EVENT_STOP) or another signal. */
		if ((st >> 16) == PTRACE_EVENT_STOP)
			sig = 0;
		if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig) == -1) {
			fprintf(stderr, "ras-inject: PTRACE_CONT %d: %s\n",
			    (int)tid, strerror(errno));
			return (-1);
		}
	}
}

/* Seize tid, make it take SIGBUS with the given code/address, detach. */
static int
inject_sigbus(pid_t pid, pid_t tid, int code, uint64_t addr, int lsb)
{
	siginfo_t	si;
	int		rc = -1, seized = 0;

	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) == -1) {
		fprintf(stderr, "ras-inject: PTRACE_SEIZE %d: %s\n", (int)tid,
		    strerror(errno));
		goto out;
	}
	seized = 1;
	if (syscall(SYS_tgkill, pid, tid, SIGBUS) == -1) {
		fprintf(stderr, "ras-inject: tgkill %d/%d: %s\n", (int)pid,
		    (int)tid, strerror(errno));
		goto out;
	}
	if (inject_wait_sigbus(tid) == -1)
		goto out;
	/* The kernel's own SIGBUS from an MCE carries only these fields. */
	memset(&si, 0, sizeof si);
	si.si_signo = SIGBUS;
	si.si_errno = 0;
	si.si_code = code;
	si.si_addr = (void *)(uintptr_t)addr;
	si.si_addr_lsb = (short)lsb;
	if (ptrace(PTRACE_SETSIGINFO, tid, NULL, &si) == -1) {
		fprintf(stderr, "ras-inject: PTRACE_SETSIGINFO: %s\n",
		    strerror(errno));
		goto out;
	}
	/* Detaching with the same signal delivers the rewritten siginfo. */
	if (ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)SIGBUS) == -1) {
		fprintf(stderr, "ras-inject: PTRACE_DETACH: %s\n",
		    strerror(errno));
		goto out;
	}
	seized = 0;
	rc = 0;
out:
	/* On failure, leave the thread running with nothing delivered. */
	if (seized && ptrace(PTRACE_DETACH, tid, NULL, NULL) == -1 &&
	    errno == ESRCH) {
		/* Not stopped: interrupt it so that the detach can happen. */
		if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) == 0) {
			waitpid(tid, NULL, __WALL);
			ptrace(PTRACE_DETACH, tid, NULL, NULL);
		}
	}
	return (rc);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid",	required_argument, NULL, 'p' },
		{ "thread",	required_argument, NULL, 't' },
		{ "code",	required_argument, NULL, 'c' },
		{ "addr",	required_argument, NULL, 'a' },
		{ "ram-offset",	required_argument, NULL, 'o' },
		{ "gpa",	required_argument, NULL, 'g' },
		{ "ram-size",	required_argument, NULL, 's' },
		{ "lsb",	required_argument, NULL, 'l' },
		{ "dry-run",	no_argument,	   NULL, 'n' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*thread = "CPU 0/KVM";
	uint64_t	 pid = 0, addr = 0, off = 0, ramsize = 128 << 20, base = 0;
	uint64_t	 lsb = 12;
	int		 ch, code = 0, have_addr = 0, have_off = 0, have_gpa = 0;
	int		 dry = 0;
	pid_t		 tid;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if (inject_parse_num(optarg, &pid) == -1 || pid == 0 ||
			    pid > INT32_MAX)
				goto bad;
			break;
		case 't':
			thread = optarg;
			break;
		case 'c':
			if (strcasecmp(optarg, "AR") == 0)
				code = BUS_MCEERR_AR;
			else if (strcasecmp(optarg, "AO") == 0)
				code = BUS_MCEERR_AO;
			else if (strcasecmp(optarg, "ADRERR") == 0)
				code = BUS_ADRERR;
			else
				goto bad;
			break;
		case 'a':
			if (inject_parse_num(optarg, &addr) == -1)
				goto bad;
			have_addr = 1;
			break;
		case 'o':
		case 'g':
			if (inject_parse_num(optarg, &off) == -1)
				goto bad;
			if (ch == 'o')
				have_off = 1;
			else
				have_gpa = 1;
			break;
		case 's':
			if (inject_parse_num(optarg, &ramsize) == -1 ||
			    ramsize == 0)
				goto bad;
			break;
		case 'l':
			if (inject_parse_num(optarg, &lsb) == -1 || lsb > 63)
				goto bad;
			break;
		case 'n':
			dry = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return (0);
		default:
			goto bad;
		}
	}
	if (optind != argc || pid == 0 || code == 0 ||
	    have_addr + have_off + have_gpa != 1)
		goto bad;

	if (have_gpa) {
		if (ramsize > (2ULL << 30) || (off >= 0xa0000 &&
		    off < 0x100000) || off >= ramsize) {
			fprintf(stderr, "ras-inject: GPA 0x%" PRIx64 " is not "
			    "plain RAM of a q35/pc guest of 0x%" PRIx64
			    " bytes\n", off, ramsize);
			return (2);
		}
		have_off = 1;
	}
	if (have_off) {
		if (off >= ramsize) {
			fprintf(stderr, "ras-inject: offset 0x%" PRIx64
			    " beyond RAM size 0x%" PRIx64 "\n", off, ramsize);
			return (2);
		}
		if (inject_find_ram((pid_t)pid, ramsize, &base) == -1)
			return (1);
		addr = base + off;
	}
	if ((tid = inject_find_thread((pid_t)pid, thread)) == -1)
		return (1);

	printf("ras-inject: %s%s at host VA 0x%" PRIx64, dry ? "would send " :
	    "", code == BUS_MCEERR_AR ? "BUS_MCEERR_AR" : code ==
	    BUS_MCEERR_AO ? "BUS_MCEERR_AO" : "BUS_ADRERR", addr);
	if (have_off)
		printf(" (RAM base 0x%" PRIx64 " + 0x%" PRIx64 ", lsb %d)",
		    base, off, (int)lsb);
	else
		printf(" (lsb %d)", (int)lsb);
	printf(" to pid %d thread %d \"%s\"\n", (int)pid, (int)tid, thread);
	fflush(stdout);
	if (dry)
		return (0);
	if (inject_sigbus((pid_t)pid, tid, code, addr, (int)lsb) == -1)
		return (1);
	return (0);

bad:
	fputs(usage_text, stderr);
	return (2);
}
