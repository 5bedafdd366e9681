/*
 * rasd.c -- the daemon's entry point: options, start-up, signals, shutdown.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "fleet.h"
#include "evac.h"
#include "metrics.h"
#include "rasd.h"

#define RASD_VERSION "0.1.0"

static struct rasd_config conf;

static const char usage_text[] =
"usage: rasd [-dfhnV] [-c FILE] [--socket PATH] [--state-dir DIR]\n"
"            [--ar-order LIST] [--ao-order LIST] [--no-libvirt]\n"
"       rasd --check-store [--repair] [-c FILE] [--state-dir DIR]\n"
"\n"
"rasd keeps the memory-error (RAS) state of every virtual machine on this\n"
"host. VMMs forward memory-error SIGBUS to it over a Unix socket; rasd\n"
"records the poisoned guest-physical ranges durably and answers how the\n"
"guest must be told, using only notification types the guest's boot HEST\n"
"advertised.\n"
"\n"
"  -c, --config FILE     read FILE (default /etc/rasd/rasd.conf if present)\n"
"  -s, --socket PATH     listen on PATH (default /run/rasd/rasd.sock as\n"
"                        root, $XDG_RUNTIME_DIR/rasd/rasd.sock otherwise)\n"
"  -S, --state-dir DIR   keep the store in DIR (default /var/lib/rasd as\n"
"                        root, $XDG_RUNTIME_DIR/rasd otherwise)\n"
"      --ar-order LIST   preference for action-required errors, e.g.\n"
"                        SEA,MCE,NMI,SDEI,GSIV,GPIO,EXTERNAL,SCI,POLLED\n"
"      --ao-order LIST   preference for action-optional errors, e.g.\n"
"                        GSIV,GPIO,EXTERNAL,SCI,MCE,POLLED\n"
"      --libvirt URI     watch libvirt at URI (default qemu:///system as\n"
"                        root): domain lifecycle, reboots, memory-failure\n"
"                        events; rasd's state goes into domain metadata\n"
"      --no-libvirt      do not connect to libvirt\n"
"  -f, --foreground      stay in the foreground and log to stderr\n"
"  -d, --debug           log debug detail (repeatable)\n"
"  -n, --check           check the configuration, print it and exit\n"
"      --check-store     check the store in the state directory (SQLite's\n"
"                        integrity check and rasd's own invariants), print\n"
"                        each problem and exit: 0 clean, 1 problems found,\n"
"                        2 could not check (rasd runs on it, no store, a\n"
"                        newer schema). Refuses while a rasd holds the store\n"
"      --repair          with --check-store: after a backup, delete what\n"
"                        nothing reads (libvirt events of VMs without a row,\n"
"                        stale meta keys); the rest is left (rasd(8))\n"
"  -V, --version         print the version and exit\n"
"  -h, --help            print this help and exit\n"
"\n"
"A type that the guest's boot profile does not contain is never chosen,\n"
"whatever the orders say. SIGTERM or SIGINT stops rasd cleanly.\n"
"Exit status: 0 on clean shutdown, 1 on a start-up failure, 2 on bad\n"
"arguments (--check-store: see above).\n";

/*
 * Fork into the background early, before the store and the socket are
 * opened (SQLite's POSIX locks do not survive a fork), but let the parent
 * wait until the child is ready so start-up errors still reach the caller.
 * Returns the fd to signal readiness on, or -1 in the foreground.
 */
static int
rasd_background(void)
{
	int fds[2];
	char c;
	pid_t pid;

	if (pipe(fds) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &c, 1) == 1 && c == 0)
			_exit(0);
		_exit(1);	/* the child logged why */
	}
	close(fds[0]);
	if (setsid() == -1)
		fatal("setsid");
	return fds[1];
}

/* Tell the waiting parent we are ready, and detach from the terminal. */
static void
rasd_ready(int fd, int debug)
{
	char c = 0;
	int null;

	if (fd == -1)
		return;
	log_init(0, debug);
	if ((null = open("/dev/null", O_RDWR)) != -1) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	if (write(fd, &c, 1) != 1)
		log_warn("readiness pipe");
	close(fd);
}

/* SIGTERM/SIGINT: leave the loop; the pending batch is flushed on exit. */
static void
rasd_sig_cb(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	log_info("signal %d: shutting down", (int)sig);
	event_base_loopexit(base, NULL);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "ar-order", required_argument, NULL, 'A' },
		{ "ao-order", required_argument, NULL, 'O' },
		{ "no-libvirt", no_argument, NULL, 'L' },
		{ "libvirt", required_argument, NULL, 'l' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "check", no_argument, NULL, 'n' },
		{ "check-store", no_argument, NULL, 'K' },
		{ "repair", no_argument, NULL, 'R' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cfgfile = NULL, *socket_arg = NULL, *state_arg = NULL;
	const char *ar_arg = NULL, *ao_arg = NULL, *virt_arg = NULL;
	struct event_base *base;
	struct event *sigterm, *sigint;
	int readyfd = -1, ch, foreground = 0, debug = 0, check = 0, rc = 1;
	int check_st = 0, repair = 0;
	char err[1024];

	/* The libvirt metadata publisher (daemon/virt.c) is rasd itself. */
	if (argc == 4 && strcmp(argv[1], "--metadata-publisher") == 0) {
		log_init(1, 0);
		return virt_publisher_main(atoi(argv[2]), argv[3]);
	}
	/* An evacuation's migration (fleet/evac_mig.c) is rasd too. */
	if (argc == 6 && strcmp(argv[1], "--fleet-migrate") == 0)
		return evac_migrate_main(argv + 2);
	while ((ch = getopt_long(argc, argv, "c:s:S:fdnVh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c': cfgfile = optarg; break;
		case 's': socket_arg = optarg; break;
		case 'S': state_arg = optarg; break;
		case 'A': ar_arg = optarg; break;
		case 'O': ao_arg = optarg; break;
		case 'L': virt_arg = "off"; break;
		case 'l': virt_arg = optarg; break;
		case 'f': foreground = 1; break;
		case 'd': debug++; break;
		case 'n': check = 1; break;
		case 'K': check_st = 1; break;
		case 'R': repair = 1; break;
		case 'V': printf("rasd %s\n", RASD_VERSION); return 0;
		case 'h': fputs(usage_text, stdout); return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "rasd: unexpected argument \"%s\"\n",
		    argv[optind]);
		fputs(usage_text, stderr);
		return 2;
	}
	if (repair && !check_st) {
		fprintf(stderr, "rasd: --repair goes with --check-store\n");
		return 2;
	}

	config_defaults(&conf);
	if (cfgfile == NULL && access("/etc/rasd/rasd.conf", R_OK) == 0)
		cfgfile = "/etc/rasd/rasd.conf";
	if ((cfgfile != NULL && config_load(&conf, cfgfile, err,
	    sizeof err) == -1) ||
	    (socket_arg != NULL && config_set(&conf, "socket", socket_arg,
	    err, sizeof err) == -1) ||
	    (state_arg != NULL && config_set(&conf, "state_dir", state_arg,
	    err, sizeof err) == -1) ||
	    (ar_arg != NULL && config_set(&conf, "ar_order", ar_arg, err,
	    sizeof err) == -1) ||
	    (ao_arg != NULL && config_set(&conf, "ao_order", ao_arg, err,
	    sizeof err) == -1) ||
	    (virt_arg != NULL && config_set(&conf, "libvirt", virt_arg, err,
	    sizeof err) == -1)) {
		fprintf(stderr, "rasd: %s\n", err);
		return 2;
	}
	if (conf.socket_path[0] == '\0' || conf.state_dir[0] == '\0') {
		fprintf(stderr, "rasd: no default socket or state directory "
		    "for this user; give --socket and --state-dir\n");
		return 2;
	}
	if (check) {
		config_print(&conf, stdout);
		return 0;
	}
	if (check_st) {
		log_init(1, debug);
		return check_store(conf.state_dir, repair);
	}
	rasd_conf = &conf;
	log_init(1, debug);
	signal(SIGPIPE, SIG_IGN);
	if (!foreground)
		readyfd = rasd_background();

	metrics_init(RASD_VERSION, conf.metrics_listen[0] != '\0');
	if (transfer_init(conf.fleet_key) == -1 ||
	    store_open(conf.state_dir) == -1 || store_load() == -1)
		return 1;
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	batch_init(base);
	if (health_start(base, &conf.health) == -1)
		goto out;
	if (peer_init(base) == -1 || server_start(base, &conf) == -1 ||
	    server_start_peer(base, &conf) == -1 ||
	    metrics_start(base, conf.metrics_listen) == -1)
		goto out;
	if (conf.libvirt_uri[0] != '\0')
		virt_start(base, conf.libvirt_uri);
	if (fleet_start(base, &conf) == -1)
		goto out;
	sigterm = evsignal_new(base, SIGTERM, rasd_sig_cb, base);
	sigint = evsignal_new(base, SIGINT, rasd_sig_cb, base);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	rasd_ready(readyfd, debug);
	log_info("rasd %s ready: %zu VMs known, state in %s", RASD_VERSION,
	    vm_count(), conf.state_dir);
	event_base_dispatch(base);
	rc = batch_flush() == 0 ? 0 : 1;
	event_free(sigterm);
	event_free(sigint);
out:
	health_stop();
	fleet_stop();
	if (conf.libvirt_uri[0] != '\0')
		virt_stop();
	metrics_stop();
	peer_stop();
	server_stop();
	batch_free();
	event_base_free(base);
	store_close();
	vm_free_all();
	log_info("rasd stopped");
	return rc;
}
