/*
 * ras-vmmsim.c -- a VMM simulator: registers a VM with rasd through
 * librasclient and raises real memory-error SIGBUS signals on its own
 * "vCPU" thread.
 *
 * DESIGN: the point is to exercise the same path a real VMM takes, so
 * nothing is called directly that a VMM would reach through a signal. Guest
 * RAM is a real anonymous mapping, the signal is a real SIGBUS with
 * si_code BUS_MCEERR_AR/AO sent by the vCPU thread to itself with
 * rt_tgsigqueueinfo (the kernel lets a process use a positive si_code only
 * on itself), and the handler calls rasc_forward() exactly as a VMM's would
 * and does nothing else async-signal-unsafe: it parks the decision in a
 * static slot that the vCPU thread hands to the main thread for printing.
 * Decisions go to stdout, one line each; everything else goes to stderr,
 * so tests can compare stdout directly.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "hest.h"
#include "ras.h"
#include "rasclient.h"

#ifndef BUS_MCEERR_AR
#define BUS_MCEERR_AR 4
#endif
#ifndef BUS_MCEERR_AO
#define BUS_MCEERR_AO 5
#endif

#define VMMSIM_MAX_POISON 256
#define VMMSIM_LINE_MAX 512
#define VMMSIM_ARM64_RAM_BASE 0x40000000ULL	/* QEMU virt machine */
#define VMMSIM_EXIT_OK 0
#define VMMSIM_EXIT_FAIL 1
#define VMMSIM_EXIT_USAGE 2

struct vmmsim_poison {
	int		 kind;		/* RASC_KIND_* */
	unsigned int	 flags;		/* RASC_F_*: AR-unmasked */
	uint64_t	 gpa;
	int		 lsb;
};

/* What the SIGBUS handler left behind for the vCPU thread. */
struct vmmsim_result {
	int			 handled;
	int			 rc;
	struct rasc_decision	 d;
	int			 fb_rc;		/* --compare: the library's */
	struct rasc_decision	 fb;		/* own decision for it */
};

/* The vCPU thread and its one-job mailbox. */
struct vmmsim_vcpu {
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	int			 job;		/* a job is waiting */
	int			 done;		/* its result is ready */
	int			 quit;
	int			 kind;
	void			*addr;
	int			 lsb;
	unsigned int		 flags;
	struct vmmsim_result	 result;
};

struct vmmsim_opts {
	const char		*socket;
	const char		*name;
	const char		*uuid;
	const char		*arch;
	const char		*hest;
	struct rasc_declared	 declared[RASC_MAX_DECLARED];
	unsigned int		 ndeclared;
	uint32_t		 caps;
	uint64_t		 ram;
	struct rasc_slot	 slots[RASC_MAX_SLOTS];
	unsigned int		 nslots;
	struct vmmsim_poison	 poison[VMMSIM_MAX_POISON];
	unsigned int		 npoison;
	int			 hold;
	int			 resume;
	int			 await_final;
	int			 timeout_ms;
	int			 json;
	int			 stdin_cmds;
	int			 verbose;
	int			 compare;
	int			 cpu_vendor;	/* RASC_CPU_* */
};

static struct rasc		*vmmsim_client;
static struct vmmsim_result	 vmmsim_slot;	/* written by the handler */
static volatile unsigned int	 vmmsim_flags;	/* the raising vCPU's state */
static struct vmmsim_opts	 opts;

static const char vmmsim_help[] =
"NAME\n"
"     ras-vmmsim -- simulate a VMM that forwards memory errors to rasd\n"
"\n"
"SYNOPSIS\n"
"     ras-vmmsim --name NAME --arch arm64|x86_64 [--socket PATH] [--uuid UUID]\n"
"                [--hest FILE | --declare SID:TYPE ...] [--caps LIST|all]\n"
"                [--ram SIZE] [--slot GPA:SIZE ...] [--poison KIND:GPA[:LSB] ...]\n"
"                [--hold] [--stdin] [--resume] [--await-final] [--timeout-ms N] [--json] [-v]\n"
"                [--cpu-vendor intel|amd] [--compare]\n"
"\n"
"DESCRIPTION\n"
"     ras-vmmsim behaves like a KVM VMM linked with librasclient. It maps\n"
"     guest RAM (anonymous, MAP_NORESERVE), registers the VM with rasd,\n"
"     installs a SIGBUS handler that calls rasc_forward(), and starts a\n"
"     \"vCPU\" thread. For each --poison the vCPU thread sends itself a real\n"
"     SIGBUS with rt_tgsigqueueinfo(2): si_code BUS_MCEERR_AR or\n"
"     BUS_MCEERR_AO, si_addr the host address backing GPA, si_addr_lsb LSB.\n"
"     The decision the handler got (from rasd, or the library's local\n"
"     fallback when rasd is unreachable) is printed on stdout, one line per\n"
"     error. Errors and warnings go to stderr; nothing else is printed\n"
"     unless -v is given.\n"
"\n"
"     Without --hold or --stdin it unregisters and exits after the poisons.\n"
"     With either, it also stops (and unregisters) when its parent process\n"
"     exits, so a test harness that dies leaves no stray VMM behind.\n"
"\n"
"OPTIONS\n"
"     --socket PATH     rasd's socket (default: the library's default,\n"
"                       /run/rasd/rasd.sock as root).\n"
"     --name NAME       VM name (required).\n"
"     --uuid UUID       VM UUID. Default: derived from NAME, so a re-run\n"
"                       with the same name is the same VM.\n"
"     --arch ARCH       arm64 (aarch64) or x86_64 (required).\n"
"     --hest FILE       raw ACPI HEST the guest booted with.\n"
"     --declare SID:TYPE\n"
"                       declare error source SID with notification TYPE\n"
"                       (a name such as MCE, SEA, GPIO, or its ACPI\n"
"                       number); repeatable. x86_64 without --hest or\n"
"                       --declare declares 0:MCE.\n"
"     --caps LIST       notification types the VMM can inject, comma\n"
"                       separated, or \"all\" (default: all).\n"
"     --ram SIZE        guest RAM when no --slot is given (default 1G).\n"
"                       SIZE is bytes, decimal or 0x hex, with an optional\n"
"                       K, M, G or T suffix.\n"
"     --slot GPA:SIZE   a memory slot; repeatable. Slots are laid out one\n"
"                       after another in one mapping. Default: one slot of\n"
"                       --ram bytes at GPA 0x40000000 (arm64) or 0 (x86_64).\n"
"     --poison KIND:GPA[:LSB]\n"
"                       raise a memory error of KIND (AR or AO) at GPA with\n"
"                       granule 1<<LSB (default 12); repeatable, in order.\n"
"                       KIND AR-unmasked is an AR on a vCPU that had\n"
"                       interrupts unmasked (rasc_forward_ex with\n"
"                       RASC_F_IRQ_UNMASKED); a plain AR says nothing, which\n"
"                       rasd takes as masked.\n"
"                       A GPA outside every slot uses a host address just\n"
"                       past guest RAM.\n"
"     --hold            after the poisons, run the library's service thread\n"
"                       (reconnect and replay every 200 ms) and stay\n"
"                       registered until SIGTERM or SIGINT.\n"
"     --stdin           after the poisons, read commands from stdin (see\n"
"                       below) with the service thread running; exit at end\n"
"                       of input unless --hold.\n"
"     --resume          register with BOOT_RESUME: the guest is not booting\n"
"                       afresh, its active poison stays.\n"
"     --await-final     as a migration's destination does before the guest\n"
"                       runs: have rasd fetch the VM's final state from the\n"
"                       source's rasd, then print every active range as\n"
"                       \"REARM gpa=0x... len=N\"; exit 1 if that fails.\n"
"                       A gate the operator released (rasctl release\n"
"                       --force) prints \"RELEASED by the operator\" first.\n"
"                       Implies --resume.\n"
"     --timeout-ms N    bound on each forward's wait for rasd (default\n"
"                       1000).\n"
"     --json            print each result as one JSON object per line.\n"
"     --cpu-vendor V    x86 guest CPU vendor, intel, amd or unknown\n"
"                       (default): picks the MCE encoding.\n"
"     --compare         also ask the library for its own local decision\n"
"                       (rasc_fallback_ex) for every error, and say whether\n"
"                       it is byte for byte rasd's: \"fallback=same\" or\n"
"                       \"fallback=DIFFERS:FIELD\" on each line rasd\n"
"                       answered (a non-repeat; fallback_same in JSON).\n"
"     -v, --verbose     report registration and shutdown on stderr.\n"
"     -h, --help        print this text.\n"
"\n"
"STDIN COMMANDS\n"
"     AR GPA [LSB]      raise an action-required memory error at GPA.\n"
"     AR-unmasked GPA [LSB]\n"
"                       the same, on a vCPU with interrupts unmasked.\n"
"     AO GPA [LSB]      raise an action-optional memory error at GPA.\n"
"     reset             tell rasd the guest was reset (rasc_guest_reset).\n"
"     service           reconnect and replay now (rasc_service).\n"
"     hold N            the VMM keeps N memory errors of its own, or\n"
"                       forwarded N of them (negative N) (rasc_note_held):\n"
"                       rasd refuses a final sync of the VM meanwhile.\n"
"     drop N            the VMM could neither forward nor keep N memory\n"
"                       errors (rasc_note_dropped): the VM's final sync\n"
"                       fails until a guest reset.\n"
"     status            print connection state, pending forwards and\n"
"                       lost ones (rasc_lost: the ring was full).\n"
"     quit              stop reading commands.\n"
"     Empty lines and lines starting with # are ignored.\n"
"\n"
"OUTPUT\n"
"     One line per memory error, for example\n"
"       AR gpa=0x40001000 len=4096 -> inject SEA source=0 (rasd)\n"
"       AO gpa=0x40002000 len=4096 -> inject GPIO source=1 (local fallback, rasd unreachable)\n"
"       AR gpa=0x80000000 len=4096 -> stop-vm (out of range)\n"
"     gpa/len is the poisoned granule; \"addr=0x...\" follows when the\n"
"     exact faulting address differs from the granule's base.\n"
"     \"repeat\" is appended when rasd had the range already. With --json\n"
"     each line is an object with kind, gpa (\"0x...\" string), length,\n"
"     addr, action, notify, source_id (null when none), from (\"rasd\",\n"
"     \"local\" or \"out-of-range\"), reason, repeat, cper_len, cper (hex),\n"
"     mce_status, mcg_status, mce_misc, mce_addr (\"0x...\" strings),\n"
"     mce_bank, mce_broadcast, read_ack, pending, lost and connected.\n"
"     Commands print \"service pending=N lost=N connected=B\", \"status\n"
"     ...\" and\n"
"     \"reset ok\" lines (objects with \"event\" under --json).\n"
"\n"
"EXIT STATUS\n"
"     0 done; 1 rasd refused the registration (its message is printed), a\n"
"     signal could not be raised, or another run-time failure; 2 bad\n"
"     arguments.\n"
"\n"
"EXAMPLES\n"
"     ras-vmmsim --socket /tmp/r.sock --name vm1 --arch arm64 \\\n"
"         --hest tests/data/qemu-virt-10.2-sea-gpio.hest \\\n"
"         --poison AR:0x40001000 --poison AO:0x40200000:21\n"
"     ras-vmmsim --name vm2 --arch x86_64 --caps MCE --stdin --json\n";

/* Print the short usage and exit 2. */
static void __attribute__((noreturn))
vmmsim_usage(const char *fmt, ...)
{
	va_list	ap;

	if (fmt != NULL) {
		fprintf(stderr, "ras-vmmsim: ");
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fprintf(stderr, "usage: ras-vmmsim --name NAME --arch arm64|x86_64 "
	    "[--socket PATH] [--uuid UUID]\n"
	    "                  [--hest FILE | --declare SID:TYPE ...] "
	    "[--caps LIST|all] [--ram SIZE]\n"
	    "                  [--slot GPA:SIZE ...] "
	    "[--poison AR|AO:GPA[:LSB] ...] [--hold] [--stdin]\n"
	    "                  [--resume] [--timeout-ms N] [--json] [-v]\n"
	    "try 'ras-vmmsim --help' for more\n");
	exit(VMMSIM_EXIT_USAGE);
}

/* Parse a number in C syntax (decimal or 0x hex); -1 if it is not one. */
static int
vmmsim_number(const char *s, uint64_t *out, char **end)
{
	unsigned long long	v;
	char			*e;

	if (*s == '\0' || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &e, 0);
	if (errno != 0 || e == s)
		return -1;
	*out = v;
	*end = e;
	return 0;
}

/* Parse a size such as 1G, 512M or 0x1000; -1 on junk or overflow. */
static int
vmmsim_size(const char *s, uint64_t *out)
{
	uint64_t	v, mul = 1;
	char		*e;

	if (vmmsim_number(s, &v, &e) == -1)
		return -1;
	switch (*e) {
	case '\0':
		break;
	case 'k': case 'K':
		mul = 1ULL << 10;
		e++;
		break;
	case 'm': case 'M':
		mul = 1ULL << 20;
		e++;
		break;
	case 'g': case 'G':
		mul = 1ULL << 30;
		e++;
		break;
	case 't': case 'T':
		mul = 1ULL << 40;
		e++;
		break;
	default:
		return -1;
	}
	if (*e != '\0' || (v != 0 && v > UINT64_MAX / mul))
		return -1;
	*out = v * mul;
	return 0;
}

/* Parse a kind name AR/AO. */
static int
vmmsim_kind(const char *s)
{
	if (strcasecmp(s, "AR") == 0)
		return RASC_KIND_AR;
	if (strcasecmp(s, "AO") == 0)
		return RASC_KIND_AO;
	if (strcasecmp(s, "AR-unmasked") == 0)
		return RASC_KIND_AR | 0x100;
	return -1;
}

/* Parse a notification type by name or ACPI number. */
static int
vmmsim_notify(const char *s)
{
	uint64_t	v;
	char		*e;

	if (vmmsim_number(s, &v, &e) == 0 && *e == '\0')
		return v < RAS_NOTIFY_COUNT ? (int)v : -1;
	return ras_notify_from_name(s);
}

/* Parse --declare SID:TYPE. */
static void
vmmsim_opt_declare(const char *arg)
{
	struct rasc_declared	*d;
	uint64_t		 sid;
	char			*e;
	int			 t;

	if (opts.ndeclared == RASC_MAX_DECLARED)
		vmmsim_usage("too many --declare (at most %d)",
		    RASC_MAX_DECLARED);
	if (vmmsim_number(arg, &sid, &e) == -1 || *e != ':' || sid > 0xffff)
		vmmsim_usage("bad --declare \"%s\" (want SID:TYPE)", arg);
	if ((t = vmmsim_notify(e + 1)) == -1)
		vmmsim_usage("bad --declare \"%s\": unknown type \"%s\"", arg,
		    e + 1);
	d = &opts.declared[opts.ndeclared++];
	d->source_id = (uint16_t)sid;
	d->notify = (uint8_t)t;
}

/* Parse --caps LIST|all. */
static void
vmmsim_opt_caps(const char *arg)
{
	char	 buf[256], *p, *tok, *save = NULL;
	int	 t;

	if (strcasecmp(arg, "all") == 0) {
		opts.caps = (1u << RAS_NOTIFY_COUNT) - 1;
		return;
	}
	if (strlen(arg) >= sizeof buf)
		vmmsim_usage("--caps too long");
	strcpy(buf, arg);
	opts.caps = 0;
	for (p = buf; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		if ((t = vmmsim_notify(tok)) == -1)
			vmmsim_usage("bad --caps: unknown type \"%s\"", tok);
		opts.caps |= RASC_CAP(t);
	}
	if (opts.caps == 0)
		vmmsim_usage("empty --caps");
}

/* Parse --slot GPA:SIZE. */
static void
vmmsim_opt_slot(const char *arg)
{
	struct rasc_slot	*s;
	uint64_t		 gpa, size;
	char			*e;

	if (opts.nslots == RASC_MAX_SLOTS)
		vmmsim_usage("too many --slot (at most %d)", RASC_MAX_SLOTS);
	if (vmmsim_number(arg, &gpa, &e) == -1 || *e != ':' ||
	    vmmsim_size(e + 1, &size) == -1 || size == 0)
		vmmsim_usage("bad --slot \"%s\" (want GPA:SIZE)", arg);
	s = &opts.slots[opts.nslots++];
	s->gpa = gpa;
	s->size = size;
}

/* Parse a poison KIND:GPA[:LSB] (or the stdin form, with blanks). */
static int
vmmsim_parse_poison(const char *arg, char sep, struct vmmsim_poison *p)
{
	char		 kind[16], *e;
	const char	*colon;
	uint64_t	 v;
	size_t		 n;

	for (colon = arg; *colon != '\0' && *colon != sep; colon++)
		;
	n = (size_t)(colon - arg);
	if (*colon != sep || n == 0 || n >= sizeof kind)
		return -1;
	memcpy(kind, arg, n);
	kind[n] = '\0';
	if ((p->kind = vmmsim_kind(kind)) == -1)
		return -1;
	p->flags = p->kind & 0x100 ? RASC_F_IRQ_UNMASKED : 0;
	p->kind &= 0xff;
	arg = colon + 1;
	while (sep == ' ' && *arg == ' ')
		arg++;
	if (vmmsim_number(arg, &p->gpa, &e) == -1)
		return -1;
	p->lsb = 12;
	while (sep == ' ' && *e == ' ')
		e++;
	if (*e == '\0')
		return 0;
	if (*e == sep)
		e++;
	else if (sep != ' ')
		return -1;
	if (vmmsim_number(e, &v, &e) == -1 || v > 63)
		return -1;
	while (*e == ' ')
		e++;
	if (*e != '\0')
		return -1;
	p->lsb = (int)v;
	return 0;
}

/* Derive a stable v4-looking UUID from the VM name (two FNV-1a halves). */
static void
vmmsim_uuid_from_name(const char *name, uint8_t uuid[16])
{
	uint64_t	h[2] = { 0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL };
	const char	*p;
	int		 i, k;

	for (k = 0; k < 2; k++) {
		for (p = name; *p != '\0'; p++) {
			h[k] ^= (uint8_t)*p;
			h[k] *= 0x100000001b3ULL;
		}
		h[k] ^= (uint64_t)k;
		h[k] *= 0x100000001b3ULL;
	}
	for (i = 0; i < 8; i++) {
		uuid[i] = (uint8_t)(h[0] >> (56 - 8 * i));
		uuid[8 + i] = (uint8_t)(h[1] >> (56 - 8 * i));
	}
	uuid[6] = (uuid[6] & 0x0f) | 0x40;
	uuid[8] = (uuid[8] & 0x3f) | 0x80;
}

/* Parse the command line into opts; exits 2 on any mistake. */
static void
vmmsim_parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "uuid", required_argument, NULL, 'u' },
		{ "arch", required_argument, NULL, 'a' },
		{ "hest", required_argument, NULL, 'H' },
		{ "declare", required_argument, NULL, 'd' },
		{ "caps", required_argument, NULL, 'c' },
		{ "ram", required_argument, NULL, 'r' },
		{ "slot", required_argument, NULL, 'S' },
		{ "poison", required_argument, NULL, 'p' },
		{ "hold", no_argument, NULL, 'o' },
		{ "stdin", no_argument, NULL, 'i' },
		{ "resume", no_argument, NULL, 'R' },
		{ "await-final", no_argument, NULL, 'F' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "compare", no_argument, NULL, 'C' },
		{ "cpu-vendor", required_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct rasc_slot	*a, *b;
	uint64_t		 v;
	char			*e;
	unsigned int		 i, j;
	int			 ch;

	opts.caps = (1u << RAS_NOTIFY_COUNT) - 1;
	opts.ram = 1ULL << 30;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "hv", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			opts.socket = optarg;
			break;
		case 'n':
			opts.name = optarg;
			break;
		case 'u':
			opts.uuid = optarg;
			break;
		case 'a':
			opts.arch = optarg;
			break;
		case 'H':
			opts.hest = optarg;
			break;
		case 'd':
			vmmsim_opt_declare(optarg);
			break;
		case 'c':
			vmmsim_opt_caps(optarg);
			break;
		case 'r':
			if (vmmsim_size(optarg, &opts.ram) == -1 ||
			    opts.ram == 0)
				vmmsim_usage("bad --ram \"%s\"", optarg);
			break;
		case 'S':
			vmmsim_opt_slot(optarg);
			break;
		case 'p':
			if (opts.npoison == VMMSIM_MAX_POISON)
				vmmsim_usage("too many --poison");
			if (vmmsim_parse_poison(optarg, ':',
			    &opts.poison[opts.npoison]) == -1)
				vmmsim_usage("bad --poison \"%s\" (want "
				    "AR|AR-unmasked|AO:GPA[:LSB])", optarg);
			opts.npoison++;
			break;
		case 'o':
			opts.hold = 1;
			break;
		case 'i':
			opts.stdin_cmds = 1;
			break;
		case 'R':
			opts.resume = 1;
			break;
		case 'F':
			opts.await_final = opts.resume = 1;
			break;
		case 't':
			if (vmmsim_number(optarg, &v, &e) == -1 || *e != '\0' ||
			    v == 0 || v > INT_MAX)
				vmmsim_usage("bad --timeout-ms \"%s\"", optarg);
			opts.timeout_ms = (int)v;
			break;
		case 'j':
			opts.json = 1;
			break;
		case 'C':
			opts.compare = 1;
			break;
		case 'V':
			if (strcasecmp(optarg, "intel") == 0)
				opts.cpu_vendor = RASC_CPU_INTEL;
			else if (strcasecmp(optarg, "amd") == 0)
				opts.cpu_vendor = RASC_CPU_AMD;
			else if (strcasecmp(optarg, "unknown") == 0)
				opts.cpu_vendor = RASC_CPU_UNKNOWN;
			else
				vmmsim_usage("bad --cpu-vendor \"%s\" (intel, "
				    "amd or unknown)", optarg);
			break;
		case 'v':
			opts.verbose = 1;
			break;
		case 'h':
			fputs(vmmsim_help, stdout);
			exit(VMMSIM_EXIT_OK);
		default:
			if (optopt != 0)
				vmmsim_usage("bad or incomplete option -%c",
				    optopt);
			vmmsim_usage("bad or incomplete option %s",
			    argv[optind - 1]);
		}
	}
	if (optind != argc)
		vmmsim_usage("unexpected argument \"%s\"", argv[optind]);
	if (opts.name == NULL || *opts.name == '\0')
		vmmsim_usage("--name is required");
	if (opts.arch == NULL)
		vmmsim_usage("--arch is required");
	if (ras_arch_from_name(opts.arch) <= 0)
		vmmsim_usage("bad --arch \"%s\" (arm64 or x86_64)", opts.arch);
	for (i = 0; i < opts.nslots; i++) {
		a = &opts.slots[i];
		if (a->gpa + a->size < a->gpa)
			vmmsim_usage("--slot 0x%" PRIx64 " wraps", a->gpa);
		for (j = 0; j < i; j++) {
			b = &opts.slots[j];
			if (a->gpa < b->gpa + b->size &&
			    b->gpa < a->gpa + a->size)
				vmmsim_usage("--slot 0x%" PRIx64 " overlaps "
				    "--slot 0x%" PRIx64, a->gpa, b->gpa);
		}
	}
	if (opts.hest != NULL && opts.ndeclared != 0)
		vmmsim_usage("--hest and --declare exclude each other");
	if (opts.hest == NULL && opts.ndeclared == 0) {
		if (ras_arch_from_name(opts.arch) != RAS_ARCH_X86_64)
			vmmsim_usage("arm64 needs --hest or --declare");
		opts.declared[0].source_id = 0;
		opts.declared[0].notify = RAS_NOTIFY_MCE;
		opts.ndeclared = 1;
	}
}

/* Read the whole HEST file; exits 2 if it is unreadable or invalid. */
static void *
vmmsim_read_hest(const char *path, size_t *len)
{
	struct ras_profile	 prof;
	FILE			*f;
	char			 why[256];
	uint8_t			*buf;
	size_t			 n;

	if ((f = fopen(path, "rb")) == NULL)
		vmmsim_usage("%s: %s", path, strerror(errno));
	if ((buf = malloc(HEST_MAX_LEN + 1)) == NULL) {
		fprintf(stderr, "ras-vmmsim: out of memory\n");
		exit(VMMSIM_EXIT_FAIL);
	}
	n = fread(buf, 1, HEST_MAX_LEN + 1, f);
	if (ferror(f))
		vmmsim_usage("%s: read error", path);
	fclose(f);
	if (n > HEST_MAX_LEN)
		vmmsim_usage("%s: larger than %u bytes", path, HEST_MAX_LEN);
	if (hest_parse(buf, n, &prof, why, sizeof why) == -1)
		vmmsim_usage("%s: bad HEST: %s", path, why);
	*len = n;
	return buf;
}

/*
 * The SIGBUS handler, as a VMM's would be: forward memory errors and park
 * the decision. Any other SIGBUS is a real bug, so die of it.
 */
static void
vmmsim_sigbus(int sig, siginfo_t *si, void *uc)
{
	int	kind;

	if (si->si_code == BUS_MCEERR_AR)
		kind = RASC_KIND_AR;
	else if (si->si_code == BUS_MCEERR_AO)
		kind = RASC_KIND_AO;
	else {
		signal(SIGBUS, SIG_DFL);
		raise(SIGBUS);
		return;
	}
	vmmsim_slot.rc = rasc_forward_ex(vmmsim_client, kind, si->si_addr,
	    si->si_addr_lsb, vmmsim_flags, &vmmsim_slot.d);
	if (opts.compare)
		vmmsim_slot.fb_rc = rasc_fallback_ex(vmmsim_client, kind,
		    si->si_addr, si->si_addr_lsb, vmmsim_flags,
		    &vmmsim_slot.fb);
	vmmsim_slot.handled = 1;
}

/* Send this thread a memory-error SIGBUS, as the kernel would. */
static int
vmmsim_raise(int kind, void *addr, int lsb)
{
	siginfo_t	si;

	memset(&si, 0, sizeof si);
	si.si_signo = SIGBUS;
	si.si_errno = 0;
	si.si_code = kind == RASC_KIND_AR ? BUS_MCEERR_AR : BUS_MCEERR_AO;
	si.si_addr = addr;
	si.si_addr_lsb = (short)lsb;
	return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(),
	    (pid_t)syscall(SYS_gettid), SIGBUS, &si);
}

/* The vCPU thread: raise each requested error on itself. */
static void *
vmmsim_vcpu_main(void *arg)
{
	struct vmmsim_vcpu	*v = arg;
	int			 kind, lsb;
	void			*addr;

	pthread_mutex_lock(&v->lock);
	for (;;) {
		while (!v->job && !v->quit)
			pthread_cond_wait(&v->cond, &v->lock);
		if (v->quit)
			break;
		kind = v->kind;
		addr = v->addr;
		lsb = v->lsb;
		vmmsim_flags = v->flags;
		pthread_mutex_unlock(&v->lock);

		memset(&vmmsim_slot, 0, sizeof vmmsim_slot);
		if (vmmsim_raise(kind, addr, lsb) == -1)
			fprintf(stderr, "ras-vmmsim: rt_tgsigqueueinfo: %s\n",
			    strerror(errno));

		pthread_mutex_lock(&v->lock);
		v->result = vmmsim_slot;
		v->job = 0;
		v->done = 1;
		pthread_cond_broadcast(&v->cond);
	}
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

/* Have the vCPU thread raise one error and wait for the handler's result. */
static void
vmmsim_vcpu_run(struct vmmsim_vcpu *v, int kind, unsigned int flags,
    void *addr, int lsb, struct vmmsim_result *out)
{
	pthread_mutex_lock(&v->lock);
	v->kind = kind;
	v->flags = flags;
	v->addr = addr;
	v->lsb = lsb;
	v->done = 0;
	v->job = 1;
	pthread_cond_broadcast(&v->cond);
	while (!v->done)
		pthread_cond_wait(&v->cond, &v->lock);
	*out = v->result;
	pthread_mutex_unlock(&v->lock);
}

/* Host address backing gpa, or one just past guest RAM if none does. */
static void *
vmmsim_hva(uint64_t gpa, uint8_t *ram, uint64_t ramlen)
{
	const struct rasc_slot	*s;
	unsigned int		 i;

	for (i = 0; i < opts.nslots; i++) {
		s = &opts.slots[i];
		if (gpa >= s->gpa && gpa - s->gpa < s->size)
			return (void *)(uintptr_t)(s->hva + (gpa - s->gpa));
	}
	return ram + ramlen + (gpa & 0xfff);
}

/* Where the decision came from, for people. */
static const char *
vmmsim_reason(const struct vmmsim_result *r)
{
	if (r->rc == 0)
		return "rasd";
	if (r->rc == -1)
		return "out of range";
	if (!rasc_connected(vmmsim_client))
		return "local fallback, rasd unreachable";
	return "local fallback, rasd did not decide";
}

/*
 * The first field in which the library's local decision differs from
 * rasd's, or NULL if they are the same byte for byte.
 */
static const char *
vmmsim_differs(const struct rasc_decision *d, const struct rasc_decision *f)
{
	if (d->action != f->action)
		return "action";
	if (d->notify != f->notify)
		return "notify";
	if (d->source_id != f->source_id)
		return "source_id";
	if (d->gpa != f->gpa || d->length != f->length)
		return "granule";
	if (d->addr != f->addr)
		return "addr";
	if (d->cper_len != f->cper_len ||
	    memcmp(d->cper, f->cper, d->cper_len) != 0)
		return "cper";
	if (d->mce_status != f->mce_status)
		return "mce_status";
	if (d->mcg_status != f->mcg_status)
		return "mcg_status";
	if (d->mce_misc != f->mce_misc)
		return "mce_misc";
	if (d->mce_bank != f->mce_bank || d->mce_broadcast != f->mce_broadcast)
		return "mce_delivery";
	if (d->read_ack != f->read_ack)
		return "read_ack";
	return NULL;
}

/* Print one decision as text or JSON. */
static void
vmmsim_print(const struct vmmsim_poison *p, const struct vmmsim_result *r)
{
	const struct rasc_decision	*d = &r->d;
	const char			*kind, *action, *notify, *diff = NULL;
	uint64_t			 gpa, len, addr;
	size_t				 i;
	int				 compared;

	kind = p->kind == RASC_KIND_AO ? "AO" : p->flags & RASC_F_IRQ_UNMASKED ?
	    "AR-unmasked" : "AR";
	action = ras_action_name((unsigned int)d->action);
	if (action == NULL)
		action = "?";
	notify = d->notify == RASC_NOTIFY_NONE ? NULL :
	    ras_notify_name((unsigned int)d->notify);
	gpa = d->gpa;
	len = d->length;
	addr = d->addr;
	if (r->rc == -1) {
		len = 1ULL << (p->lsb <= 0 || p->lsb > 40 ? 12 : p->lsb);
		gpa = p->gpa & ~(len - 1);
		addr = p->gpa;
	}
	/* A repeat is answered with what was recorded, maybe under another
	 * kind's or vCPU's circumstances: only fresh answers compare. */
	compared = opts.compare && r->rc == 0 && !d->repeat;
	if (compared)
		diff = vmmsim_differs(d, &r->fb);

	if (!opts.json) {
		printf("%s gpa=0x%" PRIx64 " len=%" PRIu64, kind, gpa, len);
		if (addr != gpa)
			printf(" addr=0x%" PRIx64, addr);
		printf(" -> %s", action);
		if (d->action == RASC_ACTION_INJECT) {
			printf(" %s", notify != NULL ? notify : "?");
			if (d->source_id >= 0)
				printf(" source=%d", d->source_id);
		}
		printf(" (%s)%s", vmmsim_reason(r), d->repeat ?
		    " repeat" : "");
		if (compared)
			printf(" fallback=%s%s", diff == NULL ? "same" :
			    "DIFFERS:", diff == NULL ? "" : diff);
		printf("\n");
		fflush(stdout);
		return;
	}
	printf("{\"kind\":\"%s\",\"gpa\":\"0x%" PRIx64 "\",\"length\":%" PRIu64
	    ",\"addr\":\"0x%" PRIx64 "\",\"action\":\"%s\",", kind, gpa, len,
	    addr, action);
	if (notify != NULL)
		printf("\"notify\":\"%s\",", notify);
	else
		printf("\"notify\":null,");
	if (d->source_id >= 0)
		printf("\"source_id\":%d,", d->source_id);
	else
		printf("\"source_id\":null,");
	printf("\"cper\":\"");
	for (i = 0; i < d->cper_len && i < sizeof d->cper; i++)
		printf("%02x", d->cper[i]);
	printf("\",");
	if (compared)
		printf("\"fallback_same\":%s,", diff == NULL ? "true" :
		    "false");
	printf("\"from\":\"%s\",\"reason\":\"%s\",\"repeat\":%s,"
	    "\"cper_len\":%zu,\"mce_status\":\"0x%" PRIx64 "\","
	    "\"mcg_status\":\"0x%" PRIx64 "\",\"mce_misc\":\"0x%" PRIx64 "\","
	    "\"mce_addr\":\"0x%" PRIx64 "\",\"mce_bank\":%d,"
	    "\"mce_broadcast\":%s,\"read_ack\":%s,"
	    "\"result\":%d,\"pending\":%d,\"lost\":%lu,\"connected\":%s}\n",
	    r->rc == 0 ? "rasd" : r->rc == -1 ? "out-of-range" : "local",
	    vmmsim_reason(r), d->repeat ? "true" : "false", d->cper_len,
	    d->mce_status, d->mcg_status, d->mce_misc,
	    d->mce_status != 0 ? addr : 0, d->mce_bank,
	    d->mce_broadcast ? "true" : "false",
	    d->read_ack ? "true" : "false", r->rc,
	    rasc_pending(vmmsim_client), rasc_lost(vmmsim_client),
	    rasc_connected(vmmsim_client) ? "true" : "false");
	fflush(stdout);
}

/* Print the state line for "service" and "status". */
static void
vmmsim_print_state(const char *event, int pending)
{
	int	connected = rasc_connected(vmmsim_client);

	if (opts.json)
		printf("{\"event\":\"%s\",\"pending\":%d,\"lost\":%lu,"
		    "\"connected\":%s}\n", event, pending,
		    rasc_lost(vmmsim_client), connected ? "true" : "false");
	else
		printf("%s pending=%d lost=%lu connected=%d\n", event, pending,
		    rasc_lost(vmmsim_client), connected);
	fflush(stdout);
}

/* Raise one poison on the vCPU and print the decision; -1 if not raised. */
static int
vmmsim_poison_one(struct vmmsim_vcpu *v, const struct vmmsim_poison *p,
    uint8_t *ram, uint64_t ramlen)
{
	struct vmmsim_result	r;

	vmmsim_vcpu_run(v, p->kind, p->flags, vmmsim_hva(p->gpa, ram, ramlen),
	    p->lsb, &r);
	if (!r.handled) {
		fprintf(stderr, "ras-vmmsim: the SIGBUS for gpa 0x%" PRIx64
		    " was not delivered\n", p->gpa);
		return -1;
	}
	vmmsim_print(p, &r);
	return 0;
}

/* Run one stdin command; returns 1 on "quit", -1 on a failure. */
static int
vmmsim_command(struct vmmsim_vcpu *v, char *line, uint8_t *ram,
    uint64_t ramlen)
{
	struct vmmsim_poison	 p;
	size_t			 n;
	int			 pending;

	while (*line == ' ' || *line == '\t')
		line++;
	n = strlen(line);
	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' ||
	    line[n - 1] == '\r'))
		line[--n] = '\0';
	if (*line == '\0' || *line == '#')
		return 0;
	if (strcmp(line, "quit") == 0)
		return 1;
	if (strcmp(line, "status") == 0) {
		vmmsim_print_state("status", rasc_pending(vmmsim_client));
		return 0;
	}
	if (strcmp(line, "service") == 0) {
		pending = rasc_service(vmmsim_client);
		vmmsim_print_state("service", pending == -1 ?
		    rasc_pending(vmmsim_client) : pending);
		return 0;
	}
	if (strncmp(line, "hold ", 5) == 0) {
		rasc_note_held(vmmsim_client, atoi(line + 5));
		vmmsim_print_state("hold", rasc_pending(vmmsim_client));
		return 0;
	}
	if (strncmp(line, "drop ", 5) == 0) {
		rasc_note_dropped(vmmsim_client, (unsigned int)atoi(line + 5));
		vmmsim_print_state("drop", rasc_pending(vmmsim_client));
		return 0;
	}
	if (strcmp(line, "reset") == 0) {
		if (rasc_guest_reset(vmmsim_client) == -1) {
			fprintf(stderr, "ras-vmmsim: reset: %s\n",
			    rasc_strerror(vmmsim_client));
			return -1;
		}
		vmmsim_print_state("reset", rasc_pending(vmmsim_client));
		return 0;
	}
	for (n = 0; line[n] != '\0'; n++) {
		if (line[n] == '\t')
			line[n] = ' ';
	}
	if (vmmsim_parse_poison(line, ' ', &p) == -1) {
		fprintf(stderr, "ras-vmmsim: bad command \"%s\" (want \"AR|"
		    "AR-unmasked|AO GPA [LSB]\", reset, service, status or "
		    "quit)\n", line);
		return -1;
	}
	return vmmsim_poison_one(v, &p, ram, ramlen);
}

/*
 * Read commands from stdin until end of input, "quit" or a termination
 * signal. Returns 1 if a signal ended it.
 */
static int
vmmsim_stdin(struct vmmsim_vcpu *v, int sigfd, uint8_t *ram, uint64_t ramlen,
    int *failed)
{
	struct pollfd	pfd[2];
	char		buf[VMMSIM_LINE_MAX], *nl;
	size_t		used = 0;
	ssize_t		n;
	int		rc;

	pfd[0].fd = STDIN_FILENO;
	pfd[0].events = POLLIN;
	pfd[1].fd = sigfd;
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		if (pfd[1].revents & POLLIN)
			return 1;
		if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
			continue;
		n = read(STDIN_FILENO, buf + used, sizeof buf - 1 - used);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (used > 0) {
				buf[used] = '\0';
				if (vmmsim_command(v, buf, ram, ramlen) == -1)
					*failed = 1;
			}
			return 0;
		}
		used += (size_t)n;
		buf[used] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			rc = vmmsim_command(v, buf, ram, ramlen);
			if (rc == -1)
				*failed = 1;
			used -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, used + 1);
			if (rc == 1)
				return 0;
		}
		if (used == sizeof buf - 1) {
			fprintf(stderr, "ras-vmmsim: command line too long\n");
			*failed = 1;
			used = 0;
		}
	}
}

/* Wait for SIGTERM or SIGINT. */
static void
vmmsim_wait_signal(int sigfd)
{
	struct signalfd_siginfo	ssi;

	while (read(sigfd, &ssi, sizeof ssi) == -1 && errno == EINTR)
		;
}

/* Map guest RAM, register, raise the requested errors and print decisions. */
int
main(int argc, char **argv)
{
	struct rasc_config	 cfg;
	struct vmmsim_vcpu	 vcpu;
	struct sigaction	 sa;
	sigset_t		 term;
	uint8_t			*ram, *hest = NULL;
	uint64_t		 ramlen = 0, base;
	size_t			 hestlen = 0;
	char			 err[512], uuidtext[37];
	unsigned int		 i;
	pid_t			 parent = getppid();
	int			 sigfd, failed = 0, signalled = 0;

	vmmsim_parse_args(argc, argv);

	memset(&cfg, 0, sizeof cfg);
	if (opts.uuid != NULL) {
		if (ras_uuid_parse(opts.uuid, cfg.uuid) == -1)
			vmmsim_usage("bad --uuid \"%s\"", opts.uuid);
	} else
		vmmsim_uuid_from_name(opts.name, cfg.uuid);
	if (opts.hest != NULL)
		hest = vmmsim_read_hest(opts.hest, &hestlen);

	if (opts.nslots == 0) {
		base = ras_arch_from_name(opts.arch) == RAS_ARCH_ARM64 ?
		    VMMSIM_ARM64_RAM_BASE : 0;
		opts.slots[0].gpa = base;
		opts.slots[0].size = opts.ram;
		opts.nslots = 1;
	}
	for (i = 0; i < opts.nslots; i++) {
		if (ramlen + opts.slots[i].size < ramlen)
			vmmsim_usage("slots too large");
		ramlen += opts.slots[i].size;
	}
	ram = mmap(NULL, ramlen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED) {
		fprintf(stderr, "ras-vmmsim: mmap %" PRIu64 " bytes: %s\n",
		    ramlen, strerror(errno));
		return VMMSIM_EXIT_FAIL;
	}
	for (base = 0, i = 0; i < opts.nslots; i++) {
		opts.slots[i].hva = (uint64_t)(uintptr_t)(ram + base);
		base += opts.slots[i].size;
	}

	/* Termination signals are read from a signalfd by the main thread. */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	if ((sigfd = signalfd(-1, &term, SFD_CLOEXEC)) == -1) {
		fprintf(stderr, "ras-vmmsim: signalfd: %s\n", strerror(errno));
		return VMMSIM_EXIT_FAIL;
	}
	/* A long-running simulator must not outlive the harness driving it. */
	if ((opts.hold || opts.stdin_cmds) &&
	    (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent))
		kill(getpid(), SIGTERM);

	cfg.socket_path = opts.socket;
	cfg.name = opts.name;
	cfg.arch = opts.arch;
	cfg.hest = hest;
	cfg.hest_len = hestlen;
	if (hest == NULL) {
		cfg.declared = opts.declared;
		cfg.declared_count = opts.ndeclared;
	}
	cfg.slots = opts.slots;
	cfg.slot_count = opts.nslots;
	cfg.caps = opts.caps;
	cfg.timeout_ms = opts.timeout_ms;
	cfg.resume = opts.resume;
	cfg.cpu_vendor = opts.cpu_vendor;
	/* rasc_open keeps its own copy of the HEST. */
	vmmsim_client = rasc_open(&cfg, err, sizeof err);
	free(hest);
	if (vmmsim_client == NULL) {
		fprintf(stderr, "ras-vmmsim: %s\n", err);
		munmap(ram, ramlen);
		return VMMSIM_EXIT_FAIL;
	}
	ras_uuid_format(cfg.uuid, uuidtext);
	if (opts.verbose && rasc_connected(vmmsim_client))
		fprintf(stderr, "ras-vmmsim: %s %s registered with rasd\n",
		    opts.name, uuidtext);
	else if (opts.verbose)
		fprintf(stderr, "ras-vmmsim: %s %s: rasd unreachable (%s); "
		    "deciding locally\n", opts.name, uuidtext,
		    rasc_strerror(vmmsim_client));

	if (opts.await_final) {
		struct rasc_range rr[RASC_ACTIVE_MAX];
		int n, k, af = -1;

		if (!rasc_connected(vmmsim_client) ||
		    (af = rasc_await_final(vmmsim_client,
		    opts.timeout_ms * 5)) == -1) {
			fprintf(stderr, "ras-vmmsim: %s: the guest must not run: "
			    "%s\n", opts.name, rasc_connected(vmmsim_client) ?
			    rasc_strerror(vmmsim_client) : "rasd unreachable");
			rasc_close(vmmsim_client);
			munmap(ram, ramlen);
			return VMMSIM_EXIT_FAIL;
		}
		if (af == 1)
			printf("RELEASED by the operator: %s\n",
			    rasc_strerror(vmmsim_client));
		n = rasc_active(vmmsim_client, rr, RASC_ACTIVE_MAX);
		for (k = 0; k < n && k < RASC_ACTIVE_MAX; k++)
			printf("REARM gpa=0x%llx len=%llu\n",
			    (unsigned long long)rr[k].gpa,
			    (unsigned long long)rr[k].length);
		fflush(stdout);
	}

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = vmmsim_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) == -1) {
		fprintf(stderr, "ras-vmmsim: sigaction: %s\n", strerror(errno));
		return VMMSIM_EXIT_FAIL;
	}
	memset(&vcpu, 0, sizeof vcpu);
	pthread_mutex_init(&vcpu.lock, NULL);
	pthread_cond_init(&vcpu.cond, NULL);
	if (pthread_create(&vcpu.thread, NULL, vmmsim_vcpu_main, &vcpu) != 0) {
		fprintf(stderr, "ras-vmmsim: cannot start the vCPU thread\n");
		return VMMSIM_EXIT_FAIL;
	}

	for (i = 0; i < opts.npoison; i++) {
		if (vmmsim_poison_one(&vcpu, &opts.poison[i], ram, ramlen) == -1)
			failed = 1;
	}

	if ((opts.hold || opts.stdin_cmds) &&
	    rasc_start_thread(vmmsim_client, 200) == -1) {
		fprintf(stderr, "ras-vmmsim: %s\n",
		    rasc_strerror(vmmsim_client));
		failed = 1;
	}
	if (opts.stdin_cmds)
		signalled = vmmsim_stdin(&vcpu, sigfd, ram, ramlen, &failed);
	if (opts.hold && !signalled)
		vmmsim_wait_signal(sigfd);

	pthread_mutex_lock(&vcpu.lock);
	vcpu.quit = 1;
	pthread_cond_broadcast(&vcpu.cond);
	pthread_mutex_unlock(&vcpu.lock);
	pthread_join(vcpu.thread, NULL);

	if (rasc_pending(vmmsim_client) != 0)
		fprintf(stderr, "ras-vmmsim: warning: exiting with %d forwards "
		    "not acknowledged by rasd\n", rasc_pending(vmmsim_client));
	if (rasc_lost(vmmsim_client) != 0)
		fprintf(stderr, "ras-vmmsim: warning: %lu local decisions could "
		    "not be kept for replay (the library's ring was full) and "
		    "were never recorded by rasd\n", rasc_lost(vmmsim_client));
	rasc_close(vmmsim_client);
	if (opts.verbose)
		fprintf(stderr, "ras-vmmsim: %s unregistered\n", opts.name);
	close(sigfd);
	munmap(ram, ramlen);
	return failed ? VMMSIM_EXIT_FAIL : VMMSIM_EXIT_OK;
}
