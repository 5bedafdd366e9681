/*
 * paths.c -- default socket and state locations.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ras.h"

/* Base directory for a non-root user's rasd. */
static int
paths_user_base(char *out, size_t outlen)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR"), *home = getenv("HOME");
	int n;

	if (xdg != NULL && *xdg == '/')
		n = snprintf(out, outlen, "%s/rasd", xdg);
	else if (home != NULL && *home == '/')
		n = snprintf(out, outlen, "%s/.rasd", home);
	else
		n = snprintf(out, outlen, "/tmp/rasd-%u", (unsigned)getuid());
	return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

/* Default rasd socket path. */
int
ras_default_socket(char *out, size_t outlen)
{
	char base[4096];
	int n;

	if (getuid() == 0)
		n = snprintf(out, outlen, "%s", RAS_SYSTEM_SOCKET);
	else {
		if (paths_user_base(base, sizeof base) == -1)
			return -1;
		n = snprintf(out, outlen, "%s/rasd.sock", base);
	}
	return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

/* Is there a Unix socket at path? */
static int
paths_is_socket(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/*
 * The socket a client of uid talks to when not told: root's is the system
 * one. A user's own rasd comes first when its socket exists; else the
 * system daemon's when it exists, so that an operator's rasctl finds the
 * host's rasd; else the user's own path, which the error then names.
 */
int
ras_client_socket_for(uid_t uid, const char *system, char *out,
    size_t outlen)
{
	char base[4096];
	int n;

	if (uid == 0)
		n = snprintf(out, outlen, "%s", system);
	else {
		if (paths_user_base(base, sizeof base) == -1)
			return -1;
		n = snprintf(out, outlen, "%s/rasd.sock", base);
		if (n >= 0 && (size_t)n < outlen && !paths_is_socket(out) &&
		    paths_is_socket(system))
			n = snprintf(out, outlen, "%s", system);
	}
	return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

/* Default socket of a client (rasctl): see ras_client_socket_for(). */
int
ras_client_socket(char *out, size_t outlen)
{
	return ras_client_socket_for(getuid(), RAS_SYSTEM_SOCKET, out, outlen);
}

/* Default rasd state directory. */
int
ras_default_state_dir(char *out, size_t outlen)
{
	int n;

	if (getuid() == 0) {
		n = snprintf(out, outlen, "/var/lib/rasd");
		return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
	}
	return paths_user_base(out, outlen);
}
