/*
 * test_paths.c -- which socket a client talks to when not told: root's is
 * the system one; a user's own rasd first, then the system rasd's, each only
 * when a socket is really there.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "ras.h"

static char	dir[64], user_sock[160], sys_sock[160];

/* Bind a Unix socket at path (a real socket file, as rasd leaves one). */
static int
make_socket(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0, "%s",
	    path);
	return fd;
}

/* A runtime dir of our own: XDG_RUNTIME_DIR=dir, the user's rasd in dir/rasd. */
static void
setup(void)
{
	char	sub[128];

	snprintf(dir, sizeof dir, "/tmp/rasd-paths-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sub, sizeof sub, "%s/rasd", dir);
	cr_assert_eq(mkdir(sub, 0700), 0);
	snprintf(user_sock, sizeof user_sock, "%s/rasd.sock", sub);
	snprintf(sys_sock, sizeof sys_sock, "%s/system.sock", dir);
	setenv("XDG_RUNTIME_DIR", dir, 1);
}

static void
teardown(void)
{
	char	sub[128];

	unlink(user_sock);
	unlink(sys_sock);
	snprintf(sub, sizeof sub, "%s/rasd", dir);
	rmdir(sub);
	rmdir(dir);
}

TestSuite(paths, .init = setup, .fini = teardown);

Test(paths, root_gets_the_system_socket)
{
	char	out[256];

	cr_assert_eq(make_socket(user_sock) >= 0, 1);
	cr_assert_eq(ras_client_socket_for(0, sys_sock, out, sizeof out), 0);
	cr_expect_str_eq(out, sys_sock);
}

Test(paths, user_without_sockets_gets_own_path)
{
	char	out[256];

	cr_assert_eq(ras_client_socket_for(1000, sys_sock, out, sizeof out),
	    0);
	cr_expect_str_eq(out, user_sock);
}

Test(paths, user_finds_the_system_socket)
{
	char	out[256];

	make_socket(sys_sock);
	cr_assert_eq(ras_client_socket_for(1000, sys_sock, out, sizeof out),
	    0);
	cr_expect_str_eq(out, sys_sock);
}

Test(paths, own_socket_comes_first)
{
	char	out[256];

	make_socket(sys_sock);
	make_socket(user_sock);
	cr_assert_eq(ras_client_socket_for(1000, sys_sock, out, sizeof out),
	    0);
	cr_expect_str_eq(out, user_sock);
}

Test(paths, a_plain_file_is_not_a_socket)
{
	char	 out[256];
	FILE	*f;

	/* A leftover regular file where the system socket would be. */
	f = fopen(sys_sock, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_assert_eq(ras_client_socket_for(1000, sys_sock, out, sizeof out),
	    0);
	cr_expect_str_eq(out, user_sock);
}

Test(paths, home_without_runtime_dir)
{
	char	out[256], want[256];

	unsetenv("XDG_RUNTIME_DIR");
	setenv("HOME", dir, 1);
	snprintf(want, sizeof want, "%s/.rasd/rasd.sock", dir);
	cr_assert_eq(ras_client_socket_for(1000, sys_sock, out, sizeof out),
	    0);
	cr_expect_str_eq(out, want);
	make_socket(sys_sock);
	cr_assert_eq(ras_client_socket_for(1000, sys_sock, out, sizeof out),
	    0);
	cr_expect_str_eq(out, sys_sock);
}

Test(paths, too_long)
{
	char	out[16];

	cr_expect_eq(ras_client_socket_for(1000, sys_sock, out, sizeof out),
	    -1);
	cr_expect_eq(ras_client_socket_for(0, sys_sock, out, sizeof out), -1);
}

Test(paths, the_system_socket_path)
{
	cr_expect_str_eq(RAS_SYSTEM_SOCKET, "/run/rasd/rasd.sock");
}
