/*
 * listen.c -- the control socket's file and socket activation: clear a
 * stale socket (never one a live rasd answers on), make its directory, or
 * take the listening socket systemd passed (rasd.socket), so that VMMs
 * started before rasd queue in its backlog instead of failing (the
 * sd_listen_fds(3) protocol by hand, a few lines, no libsystemd).
 * server.c listens on what this gives it.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rasd.h"

/*
 * The listening socket systemd passed (socket activation, the
 * sd_listen_fds(3) protocol: LISTEN_PID is ours, LISTEN_FDS=1, the socket
 * is fd 3). VMMs that connect while rasd is down or starting wait in its
 * backlog instead of failing. Returns 0 with *fdp = -1 when none was
 * passed, -1 when what was passed is unusable.
 */
int
listen_activation_fd(const char *want, int *fdp)
{
	const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
	struct sockaddr_un sun;
	socklen_t len = sizeof sun, olen;
	int type = 0, listening = 0, n;

	*fdp = -1;
	if (pid == NULL || nfds == NULL || atol(pid) != (long)getpid())
		return 0;
	/* Not for our children (the metadata publisher). */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (strcmp(nfds, "1") != 0) {
		log_warnx("socket activation: LISTEN_FDS=%s, want 1 (the "
		    "control socket)", nfds);
		return -1;
	}
	olen = sizeof type;
	if (getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &olen) == -1 ||
	    type != SOCK_STREAM || (olen = sizeof listening,
	    getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen)) ==
	    -1 || !listening || getsockname(3, (struct sockaddr *)&sun,
	    &len) == -1 || sun.sun_family != AF_UNIX) {
		log_warnx("socket activation: fd 3 is not a listening Unix "
		    "stream socket");
		return -1;
	}
	if (fcntl(3, F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(3, F_SETFL, fcntl(3, F_GETFL) | O_NONBLOCK) == -1) {
		log_warn("socket activation: fcntl");
		return -1;
	}
	n = len > offsetof(struct sockaddr_un, sun_path) ? (int)(len -
	    offsetof(struct sockaddr_un, sun_path)) : 0;
	if (strncmp(sun.sun_path, want, n) != 0 || (size_t)n < strlen(want))
		log_warnx("socket activation: the passed socket is %.*s, not "
		    "%s (socket): serving the passed one", n, sun.sun_path,
		    want);
	log_info("listening on %.*s, passed by systemd (socket activation: "
	    "its owner and mode are the socket unit's)", n, sun.sun_path);
	*fdp = 3;
	return 0;
}

/* Remove a stale socket file, but never one a live rasd answers on. */
int
listen_clear_stale(const char *path)
{
	struct sockaddr_un sun;
	int fd, rc;

	if (access(path, F_OK) == -1)
		return 0;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		return -1;
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rc = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	close(fd);
	if (rc == 0) {
		log_warnx("%s: another rasd is listening there", path);
		return -1;
	}
	if (unlink(path) == -1) {
		log_warn("unlink %s", path);
		return -1;
	}
	return 0;
}

/* Make the directory that holds the socket. */
int
listen_mkdir_parent(const char *path)
{
	char dir[sizeof rasd_conf->socket_path], *slash;

	snprintf(dir, sizeof dir, "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", dir);
		return -1;
	}
	return 0;
}
