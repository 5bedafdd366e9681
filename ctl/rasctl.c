/*
 * rasctl.c -- rasctl's main program: parse the command line, send one
 * Request to rasd over its Unix socket, read one Response and print it.
 *
 * DESIGN: one request per connection, one deadline for the whole exchange
 * (connect, send, receive) so that --timeout bounds what an operator or a
 * monitoring script waits for, whatever state rasd is in. Everything read
 * from the socket is checked before use: the frame length against
 * FRAME_MAX, the message by the protobuf decoder, the id against the one
 * sent, the body against the one asked for.
 *
 * export and import move a VM's sealed state bundle (migrate/README.md)
 * as opaque bytes: rasctl neither seals nor verifies it, rasd does both.
 * An exported file appears whole or not at all (written next to its final
 * name, then renamed), and is mode 0600: it holds the VM's memory-error
 * history. A bundle to import is read completely, and checked against the
 * wire limit, before rasd is contacted.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "ras.h"
#include "rasctl.h"

/* The release; lib/ras.h may define it for every program at once. */
#ifndef RAS_VERSION
#define RAS_VERSION "0.1.0"
#endif

#define RASCTL_USAGE \
	"usage: rasctl [--socket PATH] [--json] [--timeout SECONDS] " \
	"command [VM]\n" \
	"       rasctl [options] export VM [-o FILE]\n" \
	"       rasctl [options] import [--replace] FILE|-\n" \
	"       rasctl [options] health [--set evacuate|degraded|auto " \
	"[--reason TEXT]]\n" \
	"       rasctl [options] fleet hosts|status\n" \
	"       rasctl [options] evacuate [--dry-run|--cancel] HOST\n" \
	"       rasctl [options] release --force VM\n"

/* One exchange with rasd: where, until when, and how it went. */
/* Ranges asked per list-poison page (rasd also bounds a page's bytes). */
#define RASCTL_PAGE_LIMIT 131072

struct rasctl_conn {
	const char	*path;
	int		 fd;
	int64_t		 deadline;	/* CLOCK_MONOTONIC, ms */
	int		 timeout_ms;
};

/* Milliseconds on the monotonic clock. */
static int64_t
rasctl_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before the deadline, 0 once it has passed. */
static int
rasctl_left(const struct rasctl_conn *c)
{
	int64_t	left = c->deadline - rasctl_now();

	return left > 0 ? (int)left : 0;
}

/* Print the long help to fp. */
static void
rasctl_help(FILE *fp)
{
	const char	*env = getenv("RASD_SOCKET");
	char		 path[4096];

	if (env != NULL && *env != '\0')
		snprintf(path, sizeof path, "%s", env);
	else if (ras_client_socket(path, sizeof path) == -1)
		snprintf(path, sizeof path, "(none: path too long)");
	fprintf(fp, RASCTL_USAGE
"\n"
"rasctl asks rasd, the daemon that keeps the memory-error (RAS) state of\n"
"the KVM guests on this host, about its VMs and their poisoned memory,\n"
"tells it when a VM has stopped, and moves a VM's state between hosts.\n"
"\n"
"Commands:\n"
"  list-vms          List every VM rasd knows, one per line: NAME, UUID,\n"
"                    ARCH, STATE (running, disconnected, stopped),\n"
"                    LIBVIRT (libvirt's state of the domain: running,\n"
"                    paused, shut-off, crashed...; \"-\" when rasd has no\n"
"                    libvirt connection or libvirt does not know the VM),\n"
"                    PID of the VMM, POISON (active poisoned ranges),\n"
"                    BYTES (their size), PROFILE (the boot profile as\n"
"                    notification:source-id pairs) and PINNED (whether\n"
"                    that profile is fixed until a guest reset).\n"
"                    libvirt domains whose VMM never registered with rasd\n"
"                    are listed too, with STATE not-covered and \"-\" in\n"
"                    the columns rasd cannot fill.\n"
"  show VM           Show one VM in detail as \"key: value\" lines, with\n"
"                    libvirt's state of it, its memory slots (guest-\n"
"                    physical base, host address, size) and the\n"
"                    notification types its VMM can inject.\n"
"  list-poison VM    List the VM's active poisoned guest-physical ranges:\n"
"                    GPA, LENGTH, KIND (AR or AO), ACTION (inject, ignore,\n"
"                    stop-vm), NOTIFY, SOURCE, FIRST SEEN (UTC) and\n"
"                    RECORDS (memory errors merged into the range).\n"
"  history VM        List every poison event recorded for the VM,\n"
"                    including those a guest reset has retired: ID, TIME,\n"
"                    KIND, GPA, LENGTH, ACTION, NOTIFY, SOURCE, ORIGIN\n"
"                    (forward, import, libvirt, operator), HOST (boot id)\n"
"                    and ACTIVE.\n"
"  events VM         List the memory-failure events libvirt reported for\n"
"                    the VM: ID, TIME, RECIPIENT (hypervisor or guest),\n"
"                    ACTION (ignore, inject, fatal, reset), FLAGS\n"
"                    (action-required, recursive), FORWARD (the history\n"
"                    ID of the VMM forward rasd linked it to) and GPA\n"
"                    (that forward's guest-physical address).\n"
"  mark-stopped VM   Tell rasd the VM has stopped (what the libvirt hook\n"
"                    does). Prints nothing on success.\n"
"  export VM [-o FILE]\n"
"                    Write the VM's sealed state bundle (identity, pinned\n"
"                    boot profile, poison history, generation) to FILE,\n"
"                    created mode 0600 and replaced whole, or to standard\n"
"                    output, which must not be a terminal. This is what\n"
"                    travels with a live migration; a fleet key in\n"
"                    rasd.conf makes it authenticated.\n"
"  import [--replace] FILE|-\n"
"                    Give rasd a bundle from FILE or standard input (-),\n"
"                    at most 16 MiB. rasd checks its seal and contents and\n"
"                    takes the VM's state in whole, or refuses it and\n"
"                    changes nothing. A VM rasd already knows is replaced\n"
"                    only with --replace, and never while its VMM is\n"
"                    connected. Prints \"imported FILE\".\n"
"  health [--set STATE [--reason TEXT]]\n"
"                    Show this host's memory health: STATE (healthy,\n"
"                    degraded, evacuate), SCORE (100: no errors in any\n"
"                    bucket), the REASONS that led to it, and the\n"
"                    figures behind it: each leaky bucket (host, VM,\n"
"                    DIMM; uncorrected or corrected errors) against its\n"
"                    threshold, and each DIMM's EDAC and rasdaemon\n"
"                    counts. --set evacuate or degraded marks the host\n"
"                    so whatever its buckets say (kept across restarts),\n"
"                    --set auto gives it back to them; --reason says why\n"
"                    (logged and shown).\n"
"  fleet hosts       List the fleet's hosts as etcd has them (rasd reads\n"
"                    them; etcd_endpoints in rasd.conf): HOST, STATUS (up,\n"
"                    or gone once its rasd's lease ran out), HEALTH,\n"
"                    MEMAVAIL, VMS, INJECT (arch:types its VMMs can\n"
"                    inject), UPDATED; then every VM with its HOST, STATE\n"
"                    (unknown on a gone host) and pinned boot PROFILE.\n"
"  fleet status      The evacuations under way, from the intents in etcd:\n"
"                    the hosts being evacuated and why (operator, health,\n"
"                    cancelled), the acting controller, then each VM's\n"
"                    move: SOURCE, VM, DEST, STATE (planned, migrating,\n"
"                    done, failed, cancelled, refused), ATTEMPT, MEMORY,\n"
"                    PROFILE and REASON.\n"
"  evacuate [--dry-run|--cancel] HOST\n"
"                    Move every VM off fleet host HOST: rasd writes the\n"
"                    request to etcd, the acting controller plans a\n"
"                    destination for each VM (same architecture, healthy,\n"
"                    memory free, a VMM that can inject its boot profile)\n"
"                    and live-migrates them through libvirt. Prints the\n"
"                    plan, a VM without a valid destination with the\n"
"                    reason. --dry-run prints the plan and writes\n"
"                    nothing; --cancel calls planned moves off\n"
"                    (migrations under way finish).\n"
"  release --force VM\n"
"                    A migrated guest whose VMM holds it before its first\n"
"                    instruction (RASD_SHIM_REQUIRED=1: no final sync\n"
"                    with the source, or ranges it cannot re-arm) runs:\n"
"                    with the imported state, re-arming what it can. For\n"
"                    when the source host is gone; the guest may read\n"
"                    memory its source had found bad. rasd logs it and\n"
"                    the VMM reports the ranges it could not re-arm.\n"
"                    Prints nothing on success.\n"
"  help              Show this text.\n"
"\n"
"  VM is a libvirt domain name or UUID; rasd resolves it.\n"
"\n"
"Options:\n"
"  --socket PATH       Talk to rasd at PATH. The default is $RASD_SOCKET\n"
"                      if set, else /run/rasd/rasd.sock for root; for\n"
"                      other users their own rasd's\n"
"                      $XDG_RUNTIME_DIR/rasd/rasd.sock if it exists, else\n"
"                      the system rasd's /run/rasd/rasd.sock if that\n"
"                      exists (here: %s).\n"
"  --json              Print JSON instead of a table: an array for the\n"
"                      list commands ([] when empty), an object for show,\n"
"                      {\"ok\": true} for mark-stopped and import; for\n"
"                      export (with -o only) {\"vm\", \"uuid\",\n"
"                      \"generation\", \"bytes\", \"file\"}.\n"
"                      The fields are described in rasctl(8).\n"
"  --timeout SECONDS   Give up when rasd has not answered within SECONDS\n"
"                      (fractions allowed; default 5).\n"
"  -o FILE, --output FILE\n"
"                      export: write the bundle to FILE (\"-\": standard\n"
"                      output).\n"
"  --replace           import: replace the state of a VM rasd already\n"
"                      knows (the libvirt hook does, on a migration's\n"
"                      destination).\n"
"  --force             release: required, to say the risk is taken.\n"
"  --dry-run           evacuate: print the plan, write nothing.\n"
"  --cancel            evacuate: call the host's evacuation off.\n"
"  -h, --help          Show this text and exit.\n"
"  --version           Show the version and exit.\n"
"\n"
"  Options go before the command and are accepted after it too; \"--\"\n"
"  ends them, for a VM name that begins with a dash.\n"
"\n"
"Exit status:\n"
"  0  Success, including an empty result.\n"
"  1  rasd answered with an error (its message and error code are printed\n"
"     on stderr), or could not be reached, or did not answer in time, or\n"
"     sent an answer rasctl cannot read.\n"
"  2  Usage error: unknown command or option, or missing VM argument;\n"
"     also export to a terminal.\n"
"\n"
"Examples:\n"
"  rasctl list-vms\n"
"  rasctl list-poison vm1\n"
"  rasctl events vm1\n"
"  rasctl --json history vm1 | jq '.[] | select(.active)'\n"
"  rasctl export vm1 -o vm1.bundle\n"
"  rasctl --socket /run/rasd-b.sock import vm1.bundle\n"
"  rasctl --json fleet hosts | jq '.[] | select(.status == \"gone\")'\n",
	    path);
}

/* Report a usage error on stderr and return the usage exit status. */
static int
rasctl_usage(const char *msg)
{
	fprintf(stderr, "rasctl: %s\n" RASCTL_USAGE
	    "Commands: list-vms, show VM, list-poison VM, history VM, "
	    "events VM,\nmark-stopped VM, export VM [-o FILE], "
	    "import [--replace] FILE|-, health,\nfleet hosts, release --force VM. "
	    "See \"rasctl --help\".\n", msg);
	return RASCTL_EXIT_USAGE;
}

/* Wait until fd is ready for events or the deadline passes (ETIMEDOUT). */
static int
rasctl_wait(struct rasctl_conn *c, short events)
{
	struct pollfd	pfd;
	int		n;

	for (;;) {
		pfd.fd = c->fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, rasctl_left(c));
		if (n > 0)
			return 0;
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

/*
 * Connect to rasd without blocking past the deadline. A Unix socket whose
 * listen queue is full answers EAGAIN rather than "in progress", so that
 * case is retried until the deadline.
 */
static int
rasctl_connect(struct rasctl_conn *c)
{
	struct sockaddr_un	sun;
	struct timespec		pause = { 0, 10 * 1000000 };
	socklen_t		len = sizeof(int);
	int			soerr = 0;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(c->path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, c->path, strlen(c->path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd == -1)
		return -1;
	for (;;) {
		if (connect(c->fd, (struct sockaddr *)&sun, sizeof sun) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			if (rasctl_left(c) == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			nanosleep(&pause, NULL);
			continue;
		}
		if (errno != EINPROGRESS)
			return -1;
		if (rasctl_wait(c, POLLOUT) == -1)
			return -1;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
			return -1;
		if (soerr != 0) {
			errno = soerr;
			return -1;
		}
		return 0;
	}
}

/* Write all len bytes of buf before the deadline. */
static int
rasctl_write(struct rasctl_conn *c, const uint8_t *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN)
			return -1;
		if (rasctl_wait(c, POLLOUT) == -1)
			return -1;
	}
	return 0;
}

/*
 * Read exactly len bytes into buf before the deadline. Returns 0, -1 with
 * errno, or the number of bytes read (< len) when rasd closed the socket
 * first, plus one so that 0 bytes before the close is distinguishable.
 */
static ssize_t
rasctl_read(struct rasctl_conn *c, uint8_t *buf, size_t len)
{
	size_t	got = 0;
	ssize_t	n;

	while (got < len) {
		n = read(c->fd, buf + got, len - got);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			return (ssize_t)got + 1;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -1;
		if (rasctl_wait(c, POLLIN) == -1)
			return -1;
	}
	return 0;
}

/* Frame and send one request. Prints why on failure. */
static int
rasctl_send(struct rasctl_conn *c, const Ras__Request *req)
{
	uint8_t	*buf;
	size_t	 len;
	int	 rv = -1;

	len = ras__request__get_packed_size(req);
	if (len == 0 || len > FRAME_MAX_ADMIN) {
		fprintf(stderr, "rasctl: request of %zu bytes is over the "
		    "limit of %u bytes\n", len, FRAME_MAX_ADMIN);
		return -1;
	}
	if ((buf = malloc(FRAME_HDR_LEN + len)) == NULL) {
		fprintf(stderr, "rasctl: out of memory\n");
		return -1;
	}
	frame_put_header(buf, (uint32_t)len);
	ras__request__pack(req, buf + FRAME_HDR_LEN);
	if (rasctl_write(c, buf, FRAME_HDR_LEN + len) == -1) {
		if (errno == ETIMEDOUT)
			fprintf(stderr, "rasctl: rasd at %s did not take the "
			    "request within %gs\n", c->path,
			    c->timeout_ms / 1000.0);
		else
			fprintf(stderr, "rasctl: cannot send to rasd at %s: "
			    "%s\n", c->path, strerror(errno));
		goto out;
	}
	rv = 0;
out:
	free(buf);
	return rv;
}

/* Say why a read from rasd failed; r is what rasctl_read returned. */
static void
rasctl_read_error(const struct rasctl_conn *c, ssize_t r, int midframe)
{
	if (r == -1 && errno == ETIMEDOUT)
		fprintf(stderr, "rasctl: no answer from rasd at %s within "
		    "%gs\n", c->path, c->timeout_ms / 1000.0);
	else if (r == -1)
		fprintf(stderr, "rasctl: cannot read from rasd at %s: %s\n",
		    c->path, strerror(errno));
	else if (r == 1 && !midframe)
		fprintf(stderr, "rasctl: rasd at %s closed the connection "
		    "without answering\n", c->path);
	else
		fprintf(stderr, "rasctl: rasd at %s closed the connection in "
		    "the middle of its answer\n", c->path);
}

/* Read and decode one response. Prints why and returns NULL on failure. */
static Ras__Response *
rasctl_recv(struct rasctl_conn *c)
{
	Ras__Response	*resp = NULL;
	uint8_t		 hdr[FRAME_HDR_LEN], *buf = NULL;
	uint32_t	 len = 0;
	ssize_t		 r;

	if ((r = rasctl_read(c, hdr, sizeof hdr)) != 0) {
		rasctl_read_error(c, r, r > 1);
		return NULL;
	}
	switch (frame_check_max(hdr, sizeof hdr, &len, FRAME_MAX_ADMIN)) {
	case FRAME_TOO_BIG:
		fprintf(stderr, "rasctl: rasd sent a frame of %" PRIu32
		    " bytes, over the limit of %u bytes\n", len,
		    FRAME_MAX_ADMIN);
		return NULL;
	case FRAME_EMPTY:
		fprintf(stderr, "rasctl: rasd sent an empty frame\n");
		return NULL;
	case FRAME_SHORT:
	case FRAME_OK:
		break;
	}
	/* frame_check promises the length only for a whole frame. */
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	if ((buf = malloc(len)) == NULL) {
		fprintf(stderr, "rasctl: out of memory\n");
		return NULL;
	}
	if ((r = rasctl_read(c, buf, len)) != 0) {
		rasctl_read_error(c, r, 1);
		goto out;
	}
	resp = ras__response__unpack(NULL, len, buf);
	if (resp == NULL)
		fprintf(stderr, "rasctl: cannot decode the answer from rasd "
		    "(%" PRIu32 " bytes, not a valid Response)\n", len);
out:
	free(buf);
	return resp;
}

/* Name of an ErrorCode as in the schema ("ERR_NO_SUCH_VM"). */
static const char *
rasctl_error_name(int code, char *buf, size_t len)
{
	const ProtobufCEnumValue	*v;

	v = protobuf_c_enum_descriptor_get_value(&ras__error_code__descriptor,
	    code);
	if (v != NULL)
		return v->name;
	snprintf(buf, len, "error %d", code);
	return buf;
}

/* How a bundle file is named in messages. */
static const char *
rasctl_file_name(const char *file)
{
	return strcmp(file, "-") == 0 ? "standard input" : file;
}

/*
 * Read the bundle to import from file ("-": standard input), whole: at
 * most RASCTL_BUNDLE_FILE_MAX bytes are read, and a bundle must also fit
 * one request frame. Prints why and returns -1 on failure.
 */
static int
rasctl_read_bundle(const char *file, uint8_t **out, size_t *outlen)
{
	const char	*name = rasctl_file_name(file);
	struct stat	 st;
	uint8_t		*buf = NULL, *nb;
	size_t		 len = 0, cap = 0;
	ssize_t		 n;
	int		 fd, rv = -1;

	if (strcmp(file, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "rasctl: cannot open %s: %s\n", file,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size > (off_t)RASCTL_BUNDLE_FILE_MAX) {
		fprintf(stderr, "rasctl: %s is %jd bytes, over the 16 MiB a "
		    "bundle may have: not a rasd bundle\n", name,
		    (intmax_t)st.st_size);
		goto out;
	}
	for (;;) {
		if (len == cap) {
			/* One byte past the limit tells "too big" apart. */
			if (cap > RASCTL_BUNDLE_FILE_MAX) {
				fprintf(stderr, "rasctl: %s has more than the "
				    "16 MiB a bundle may have: not a rasd "
				    "bundle\n", name);
				goto out;
			}
			cap = cap == 0 ? 65536 : cap * 2;
			if (cap > RASCTL_BUNDLE_FILE_MAX + 1)
				cap = RASCTL_BUNDLE_FILE_MAX + 1;
			if ((nb = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "rasctl: out of memory\n");
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "rasctl: cannot read %s: %s\n", name,
			    strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	if (len > RASCTL_BUNDLE_FILE_MAX) {
		fprintf(stderr, "rasctl: %s has more than the 16 MiB a bundle "
		    "may have: not a rasd bundle\n", name);
		goto out;
	}
	if (len == 0) {
		fprintf(stderr, "rasctl: %s is empty: not a rasd bundle\n",
		    name);
		goto out;
	}
	if (len > FRAME_MAX_ADMIN - RASCTL_BUNDLE_OVERHEAD) {
		fprintf(stderr, "rasctl: %s: bundle of %zu bytes is over the "
		    "wire limit (rasd takes at most %u bytes)\n", name,
		    len, FRAME_MAX_ADMIN - RASCTL_BUNDLE_OVERHEAD);
		goto out;
	}
	*out = buf;
	*outlen = len;
	buf = NULL;
	rv = 0;
out:
	free(buf);
	if (fd != STDIN_FILENO)
		close(fd);
	return rv;
}

/* Write all of buf to fd. */
static int
rasctl_write_fd(int fd, const uint8_t *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Write an exported bundle to path (NULL or "-": standard output). A file
 * is written as path.XXXXXX (mode 0600) in the same directory, synced and
 * renamed over path, so that a reader sees the old file or the whole new
 * one. Prints why and returns -1 on failure.
 */
static int
rasctl_write_bundle(const char *path, const uint8_t *buf, size_t len)
{
	char	*tmp;
	int	 fd, saved;

	if (path == NULL || strcmp(path, "-") == 0) {
		if (rasctl_write_fd(STDOUT_FILENO, buf, len) == -1) {
			fprintf(stderr, "rasctl: cannot write the bundle to "
			    "standard output: %s\n", strerror(errno));
			return -1;
		}
		return 0;
	}
	if ((tmp = malloc(strlen(path) + sizeof ".XXXXXX")) == NULL) {
		fprintf(stderr, "rasctl: out of memory\n");
		return -1;
	}
	strcpy(tmp, path);
	strcat(tmp, ".XXXXXX");
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		fprintf(stderr, "rasctl: cannot create a file next to %s: "
		    "%s\n", path, strerror(errno));
		free(tmp);
		return -1;
	}
	if (fchmod(fd, 0600) == -1 || rasctl_write_fd(fd, buf, len) == -1 ||
	    fsync(fd) == -1) {
		saved = errno;
		close(fd);
		unlink(tmp);
		fprintf(stderr, "rasctl: cannot write %s: %s\n", tmp,
		    strerror(saved));
		free(tmp);
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		saved = errno;
		unlink(tmp);
		fprintf(stderr, "rasctl: cannot write %s: %s\n", path,
		    strerror(saved));
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

/*
 * The name and UUID inside an exported bundle, for the report; not a
 * check (rasd sealed it, the importing rasd verifies it). Falls back to
 * the VM as asked and no UUID.
 */
static void
rasctl_bundle_id(const ProtobufCBinaryData *sealed, const char *asked,
    char *name, size_t namelen, char *uuid, size_t uuidlen)
{
	Ras__SealedBundle	*sb;
	Ras__Bundle		*b = NULL;

	snprintf(name, namelen, "%s", asked);
	uuid[0] = '\0';
	sb = ras__sealed_bundle__unpack(NULL, sealed->len, sealed->data);
	if (sb == NULL)
		return;
	b = ras__bundle__unpack(NULL, sb->bundle.len, sb->bundle.data);
	if (b != NULL) {
		snprintf(name, namelen, "%s", b->name);
		output_json_uuid(&b->uuid, uuid, uuidlen);
		ras__bundle__free_unpacked(b, NULL);
	}
	ras__sealed_bundle__free_unpacked(sb, NULL);
}

/* Write an exported bundle where asked and report it. */
static int
rasctl_exported(const struct parse_result *res, const Ras__Exported *ex)
{
	char	name[256], uuid[40];

	if (ex->sealed.len == 0 || ex->sealed.data == NULL) {
		fprintf(stderr, "rasctl: rasd sent an empty bundle\n");
		return RASCTL_EXIT_FAIL;
	}
	if (rasctl_write_bundle(res->output, ex->sealed.data,
	    ex->sealed.len) == -1)
		return RASCTL_EXIT_FAIL;
	if (res->output == NULL || strcmp(res->output, "-") == 0)
		return RASCTL_EXIT_OK;
	rasctl_bundle_id(&ex->sealed, res->vm, name, sizeof name, uuid,
	    sizeof uuid);
	if (res->json)
		output_json_exported(stdout, name, uuid[0] ? uuid : NULL,
		    ex->generation, ex->sealed.len, res->output);
	else
		output_exported(stdout, name, ex->generation, ex->sealed.len,
		    res->output);
	return RASCTL_EXIT_OK;
}

static Ras__FleetQuery rasctl_fleet_query = RAS__FLEET_QUERY__INIT;

/* Fill in the request for a parsed command line. */
static Ras__ReleaseGate rel = RAS__RELEASE_GATE__INIT;

static void
rasctl_request(const struct parse_result *res, Ras__Request *req,
    Ras__ListVms *list, Ras__VmQuery *query, Ras__Import *im)
{
	query->vm = (char *)res->vm;
	req->version = RAS_PROTO_VERSION;
	/* Any value works; pid and time make a stray answer unlikely to fit. */
	req->id = ((uint64_t)getpid() << 32) | (uint32_t)time(NULL);
	if (req->id == 0)
		req->id = 1;
	switch (res->command) {
	case CMD_LIST_VMS:
		req->body_case = RAS__REQUEST__BODY_LIST_VMS;
		req->list_vms = list;
		break;
	case CMD_SHOW:
		req->body_case = RAS__REQUEST__BODY_SHOW_VM;
		req->show_vm = query;
		break;
	case CMD_LIST_POISON:
		req->body_case = RAS__REQUEST__BODY_LIST_POISON;
		req->list_poison = query;
		break;
	case CMD_HISTORY:
		req->body_case = RAS__REQUEST__BODY_HISTORY;
		req->history = query;
		break;
	case CMD_EVENTS:
		req->body_case = RAS__REQUEST__BODY_EVENTS;
		req->events = query;
		break;
	case CMD_MARK_STOPPED:
		req->body_case = RAS__REQUEST__BODY_MARK_STOPPED;
		req->mark_stopped = query;
		break;
	case CMD_RELEASE:
		rel.vm = (char *)res->vm;
		rel.force = res->force != 0;
		req->body_case = RAS__REQUEST__BODY_RELEASE_GATE;
		req->release_gate = &rel;
		break;
	case CMD_EXPORT:
		req->body_case = RAS__REQUEST__BODY_EXPORT_VM;
		req->export_vm = query;
		break;
	case CMD_HEALTH:
		if (res->set_health != NULL) {
			static Ras__HealthSet	hset = RAS__HEALTH_SET__INIT;

			hset.state = (char *)res->set_health;
			hset.reason = (char *)res->reason;
			req->body_case = RAS__REQUEST__BODY_SET_HEALTH;
			req->set_health = &hset;
		} else {
			static Ras__HealthQuery	hq = RAS__HEALTH_QUERY__INIT;

			req->body_case = RAS__REQUEST__BODY_HEALTH;
			req->health = &hq;
		}
		break;
	case CMD_IMPORT:
		im->has_replace = 1;
		im->replace = res->replace != 0;
		req->body_case = RAS__REQUEST__BODY_IMPORT_BUNDLE;
		req->import_bundle = im;
		break;
	case CMD_FLEET_HOSTS:
		req->body_case = RAS__REQUEST__BODY_FLEET_HOSTS;
		req->fleet_hosts = &rasctl_fleet_query;
		break;
	case CMD_FLEET_STATUS: {
		static Ras__FleetStatusQuery fsq = RAS__FLEET_STATUS_QUERY__INIT;

		req->body_case = RAS__REQUEST__BODY_FLEET_STATUS;
		req->fleet_status = &fsq;
		break;
	}
	case CMD_EVACUATE: {
		static Ras__FleetEvacuate fe = RAS__FLEET_EVACUATE__INIT;

		fe.host = (char *)res->host;
		fe.has_dry_run = fe.has_cancel = 1;
		fe.dry_run = res->dry_run != 0;
		fe.cancel = res->cancel != 0;
		req->body_case = RAS__REQUEST__BODY_EVACUATE;
		req->evacuate = &fe;
		break;
	}
	default:
		break;
	}
}

/* The response body that answers a command. */
static Ras__Response__BodyCase
rasctl_expected(enum parser_command command)
{
	switch (command) {
	case CMD_LIST_VMS:
		return RAS__RESPONSE__BODY_VM_LIST;
	case CMD_SHOW:
		return RAS__RESPONSE__BODY_VM_INFO;
	case CMD_LIST_POISON:
		return RAS__RESPONSE__BODY_POISON_LIST;
	case CMD_HISTORY:
		return RAS__RESPONSE__BODY_HISTORY;
	case CMD_EVENTS:
		return RAS__RESPONSE__BODY_EVENTS;
	case CMD_MARK_STOPPED:
	case CMD_IMPORT:
	case CMD_RELEASE:
		return RAS__RESPONSE__BODY_ACK;
	case CMD_EXPORT:
		return RAS__RESPONSE__BODY_EXPORTED;
	case CMD_HEALTH:
		return RAS__RESPONSE__BODY_HEALTH;
	case CMD_FLEET_HOSTS:
		return RAS__RESPONSE__BODY_FLEET_HOSTS;
	case CMD_FLEET_STATUS:
	case CMD_EVACUATE:
		return RAS__RESPONSE__BODY_FLEET_PLAN;
	default:
		return RAS__RESPONSE__BODY__NOT_SET;
	}
}

/* Check that a response answers the request; returns the exit status. */
static int
rasctl_check(const struct parse_result *res, const Ras__Request *req,
    const Ras__Response *resp)
{
	const ProtobufCFieldDescriptor	*f;
	char				 buf[32];

	if (resp->id != req->id) {
		fprintf(stderr, "rasctl: rasd answered request %" PRIu64
		    " instead of %" PRIu64 "\n", resp->id, req->id);
		return RASCTL_EXIT_FAIL;
	}
	if (resp->body_case == RAS__RESPONSE__BODY_ERROR) {
		fprintf(stderr, "rasctl: ");
		if (resp->error->message != NULL &&
		    resp->error->message[0] != '\0')
			output_text(stderr, resp->error->message);
		else
			fprintf(stderr, "rasd refused the request");
		fprintf(stderr, " (%s)\n", rasctl_error_name(resp->error->code,
		    buf, sizeof buf));
		return RASCTL_EXIT_FAIL;
	}
	if (resp->body_case != rasctl_expected(res->command)) {
		f = protobuf_c_message_descriptor_get_field(
		    &ras__response__descriptor, (unsigned)resp->body_case);
		if (f != NULL)
			fprintf(stderr, "rasctl: unexpected answer from rasd "
			    "(%s to a %s request)\n", f->name,
			    parser_command_name(res->command));
		else
			fprintf(stderr, "rasctl: unexpected answer from rasd "
			    "(body %d to a %s request)\n",
			    (int)resp->body_case,
			    parser_command_name(res->command));
		return RASCTL_EXIT_FAIL;
	}
	return RASCTL_EXIT_OK;
}

/* Check the response and print it; returns the exit status. */
static int
rasctl_print(const struct parse_result *res, const Ras__Request *req,
    const Ras__Response *resp)
{
	int	status;

	if ((status = rasctl_check(res, req, resp)) != RASCTL_EXIT_OK)
		return status;
	switch (resp->body_case) {
	case RAS__RESPONSE__BODY_VM_LIST:
		if (res->json)
			output_json_vm_list(stdout, resp->vm_list);
		else
			output_vm_list(stdout, resp->vm_list);
		break;
	case RAS__RESPONSE__BODY_VM_INFO:
		if (res->json)
			output_json_vm_info(stdout, resp->vm_info);
		else
			output_vm_info(stdout, resp->vm_info);
		break;
	case RAS__RESPONSE__BODY_POISON_LIST:
		if (res->json)
			output_json_poison_list(stdout, resp->poison_list);
		else
			output_poison_list(stdout, resp->poison_list);
		break;
	case RAS__RESPONSE__BODY_HISTORY:
		if (res->json)
			output_json_history(stdout, resp->history);
		else
			output_history(stdout, resp->history);
		break;
	case RAS__RESPONSE__BODY_EVENTS:
		if (res->json)
			output_json_events(stdout, resp->events);
		else
			output_events(stdout, resp->events);
		break;
	case RAS__RESPONSE__BODY_ACK:
		/* Silence is success, as for any Unix command that acts;
		 * an import names what it took in. */
		if (res->json)
			output_json_ok(stdout);
		else if (res->command == CMD_IMPORT)
			output_imported(stdout, rasctl_file_name(res->file));
		break;
	case RAS__RESPONSE__BODY_HEALTH:
		if (res->json)
			output_json_health(stdout, resp->health);
		else
			output_health(stdout, resp->health);
		break;
	case RAS__RESPONSE__BODY_EXPORTED:
		return rasctl_exported(res, resp->exported);
	case RAS__RESPONSE__BODY_FLEET_HOSTS:
		if (res->json)
			output_json_fleet_hosts(stdout, resp->fleet_hosts);
		else
			output_fleet_hosts(stdout, resp->fleet_hosts);
		break;
	case RAS__RESPONSE__BODY_FLEET_PLAN:
		if (res->json)
			output_json_fleet_plan(stdout, resp->fleet_plan);
		else
			output_fleet_plan(stdout, resp->fleet_plan);
		break;
	default:
		break;
	}
	return RASCTL_EXIT_OK;
}

/* Ask for one list-poison page; NULL (and *status set) on failure. */
static Ras__Response *
rasctl_page(const struct parse_result *res, struct rasctl_conn *c,
    const Ras__Request *req, int *status)
{
	Ras__Response	*resp;

	*status = RASCTL_EXIT_FAIL;
	c->deadline = rasctl_now() + c->timeout_ms;
	if (rasctl_send(c, req) == -1 || (resp = rasctl_recv(c)) == NULL)
		return NULL;
	if ((*status = rasctl_check(res, req, resp)) != RASCTL_EXIT_OK) {
		ras__response__free_unpacked(resp, NULL);
		return NULL;
	}
	return resp;
}

/*
 * Where the page after pl starts; 0 when pl is the last (empty, ends at
 * 2^64, or an older rasd answered the whole list at once).
 */
static int
rasctl_page_next(const Ras__PoisonList *pl, uint64_t from, uint64_t *next)
{
	const Ras__PoisonRange	*last;

	if (pl->n_ranges == 0 || pl->ranges[0]->gpa < from)
		return 0;
	last = pl->ranges[pl->n_ranges - 1];
	if (last->length == 0 || last->gpa + last->length <= last->gpa)
		return 0;
	*next = last->gpa + last->length;
	return 1;
}

/*
 * list-poison page by page, each asked from the end of the last one and
 * printed as it comes: a million ranges never sit in one frame or in
 * memory at once. The next page is asked before one is printed, so the
 * table knows whether more follow. Returns the exit status.
 */
static int
rasctl_list_poison(const struct parse_result *res, struct rasctl_conn *c,
    Ras__Request *req, Ras__VmQuery *q)
{
	Ras__Response		*cur, *next;
	struct output_pages	 pg;
	struct output_json	 j;
	uint64_t		 from;
	int			 status;

	memset(&pg, 0, sizeof pg);
	q->has_page_limit = q->has_from_gpa = 1;
	q->page_limit = RASCTL_PAGE_LIMIT;
	q->from_gpa = 0;
	if ((cur = rasctl_page(res, c, req, &status)) == NULL)
		return status;
	if (res->json) {
		output_json_begin(&j, stdout, 1);
		output_json_array(&j, NULL);
	}
	while (cur != NULL) {
		next = NULL;
		if (rasctl_page_next(cur->poison_list, q->from_gpa, &from)) {
			q->from_gpa = from;
			if ((next = rasctl_page(res, c, req, &status)) ==
			    NULL) {
				ras__response__free_unpacked(cur, NULL);
				return status;
			}
			if (next->poison_list->n_ranges == 0) {
				ras__response__free_unpacked(next, NULL);
				next = NULL;
			}
		}
		if (res->json)
			output_json_poison_rows(&j, cur->poison_list);
		else
			output_poison_page(stdout, cur->poison_list, &pg,
			    next != NULL);
		ras__response__free_unpacked(cur, NULL);
		cur = next;
	}
	if (res->json) {
		output_json_close(&j);
		output_json_end(&j);
	}
	return RASCTL_EXIT_OK;
}

/* Run rasctl: parse, ask rasd, print. */
int
main(int argc, char *argv[])
{
	struct parse_result	 res;
	struct rasctl_conn	 c = { .fd = -1 };
	Ras__Request		 req = RAS__REQUEST__INIT;
	Ras__ListVms		 list = RAS__LIST_VMS__INIT;
	Ras__VmQuery		 query = RAS__VM_QUERY__INIT;
	Ras__Import		 im = RAS__IMPORT__INIT;
	Ras__Response		*resp = NULL;
	uint8_t			*bundle = NULL;
	size_t			 bundlelen = 0;
	const char		*env;
	char			 err[256], path[4096];
	int			 status = RASCTL_EXIT_FAIL;

	if (parser_parse(argc, argv, &res, err, sizeof err) == -1)
		return rasctl_usage(err);
	if (res.command == CMD_HELP) {
		rasctl_help(stdout);
		return fflush(stdout) == EOF ? RASCTL_EXIT_FAIL : RASCTL_EXIT_OK;
	}
	if (res.command == CMD_VERSION) {
		printf("rasctl %s (wire protocol %d)\n", RAS_VERSION,
		    RAS_PROTO_VERSION);
		return fflush(stdout) == EOF ? RASCTL_EXIT_FAIL : RASCTL_EXIT_OK;
	}

	if (res.socket != NULL)
		c.path = res.socket;
	else if ((env = getenv("RASD_SOCKET")) != NULL && *env != '\0')
		c.path = env;
	else if (ras_client_socket(path, sizeof path) == 0)
		c.path = path;
	else {
		fprintf(stderr, "rasctl: the default socket path is too long; "
		    "use --socket or RASD_SOCKET\n");
		return RASCTL_EXIT_FAIL;
	}
	/* Before rasd is asked: where the bundle goes, what it is. */
	if (res.command == CMD_EXPORT && (res.output == NULL ||
	    strcmp(res.output, "-") == 0) && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "rasctl: refusing to write a binary bundle to "
		    "a terminal; use -o FILE or a pipe\n");
		return RASCTL_EXIT_USAGE;
	}
	if (res.command == CMD_IMPORT) {
		if (rasctl_read_bundle(res.file, &bundle, &bundlelen) == -1)
			return RASCTL_EXIT_FAIL;
		im.sealed.data = bundle;
		im.sealed.len = bundlelen;
	}
	c.timeout_ms = res.timeout_ms;
	c.deadline = rasctl_now() + res.timeout_ms;

	rasctl_request(&res, &req, &list, &query, &im);
	if (rasctl_connect(&c) == -1) {
		fprintf(stderr, "rasctl: cannot connect to rasd at %s: %s\n",
		    c.path, strerror(errno));
		goto out;
	}
	if (res.command == CMD_LIST_POISON)
		status = rasctl_list_poison(&res, &c, &req, &query);
	else {
		if (rasctl_send(&c, &req) == -1)
			goto out;
		if ((resp = rasctl_recv(&c)) == NULL)
			goto out;
		status = rasctl_print(&res, &req, resp);
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "rasctl: cannot write the output: %s\n",
		    strerror(errno));
		status = RASCTL_EXIT_FAIL;
	}
out:
	if (resp != NULL)
		ras__response__free_unpacked(resp, NULL);
	if (c.fd != -1)
		close(c.fd);
	free(bundle);
	return status;
}
