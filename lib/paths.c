/*
 * paths.c -- default socket and state locations.
 */
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
		n = snprintf(out, outlen, "/run/rasd/rasd.sock");
	else {
		if (paths_user_base(base, sizeof base) == -1)
			return -1;
		n = snprintf(out, outlen, "%s/rasd.sock", base);
	}
	return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
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
