/*
 * test_config.c -- rasd.conf parsing in daemon/config.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../daemon/rasd.h"

static char path[64];

static void
write_conf(const char *text)
{
	FILE *f;
	int fd;

	strcpy(path, "/tmp/rasd-conf-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
}

static void
cleanup(void)
{
	if (path[0] != '\0')
		unlink(path);
}

TestSuite(config, .fini = cleanup);

Test(config, defaults_are_the_design_orders)
{
	struct rasd_config c;
	char out[256];

	config_defaults(&c);
	policy_format_order(c.policy.ar_order, c.policy.ar_count, out,
	    sizeof out);
	cr_assert_str_eq(out, "SEA,MCE,NMI,SDEI,GSIV,GPIO,EXTERNAL,SCI,POLLED");
	policy_format_order(c.policy.ao_order, c.policy.ao_count, out,
	    sizeof out);
	cr_assert_str_eq(out, "GSIV,GPIO,EXTERNAL,SCI,MCE,POLLED");
	cr_assert_eq(c.socket_mode, 0660);
}

Test(config, file_sets_every_key)
{
	struct rasd_config c;
	char err[256] = "", out[256];

	write_conf("# comment\n\n socket = /tmp/x.sock \nstate_dir=/tmp/st\n"
	    "ao_order = SEI, GPIO # trailing comment\nar_order = none\n"
	    "socket_mode = 0600\nmax_clients = 10\nadmin_group = 0\n");
	config_defaults(&c);
	cr_assert_eq(config_load(&c, path, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(c.socket_path, "/tmp/x.sock");
	cr_assert_str_eq(c.state_dir, "/tmp/st");
	policy_format_order(c.policy.ao_order, c.policy.ao_count, out,
	    sizeof out);
	cr_assert_str_eq(out, "SEI,GPIO");
	cr_assert_eq(c.policy.ar_count, 0);
	cr_assert_eq(c.socket_mode, 0600);
	cr_assert_eq(c.max_clients, 10);
	cr_assert(c.has_admin_group);
	cr_assert_eq(c.admin_gid, 0);
}

Test(config, errors_name_file_and_line)
{
	struct rasd_config c;
	char err[256] = "";

	write_conf("socket = /tmp/x\nar_order = SEA,LOCAL\n");
	config_defaults(&c);
	cr_assert_eq(config_load(&c, path, err, sizeof err), -1);
	cr_assert(strstr(err, ":2: ") != NULL, "%s", err);
	cr_assert(strstr(err, "LOCAL") != NULL, "%s", err);
}

Test(config, bad_values_are_refused)
{
	struct rasd_config c;
	char err[256];

	config_defaults(&c);
	cr_assert_eq(config_set(&c, "socket", "relative", err, sizeof err),
	    -1);
	cr_assert_eq(config_set(&c, "socket_mode", "0999", err, sizeof err),
	    -1);
	cr_assert_eq(config_set(&c, "max_clients", "0", err, sizeof err), -1);
	cr_assert_eq(config_set(&c, "nonsense", "1", err, sizeof err), -1);
	cr_assert(strstr(err, "unknown key") != NULL);
	cr_assert_eq(config_set(&c, "admin_group", "no-such-group-xyz", err,
	    sizeof err), -1);
	cr_assert_eq(config_set(&c, "ao_order", "GPIO,GPIO", err, sizeof err),
	    -1);
}

Test(config, missing_line_separator_is_an_error)
{
	struct rasd_config c;
	char err[256] = "";

	write_conf("socket /tmp/x\n");
	config_defaults(&c);
	cr_assert_eq(config_load(&c, path, err, sizeof err), -1);
	cr_assert(strstr(err, "expected key = value") != NULL, "%s", err);
}

/*
 * A comment longer than any line buffer stays a comment: its tail must not
 * become a live setting, and later line numbers stay true.
 */
Test(config, long_comment_stays_a_comment)
{
	struct rasd_config c;
	char err[256] = "", *text;
	size_t n = 20000, off;

	text = malloc(n + 200);
	cr_assert_not_null(text);
	off = (size_t)sprintf(text, "# ");
	memset(text + off, 'x', n - off - 40);
	off = n - 40;
	off += (size_t)sprintf(text + off, "socket = /tmp/evil.sock\n");
	sprintf(text + off, "max_clients = 7\nmax_clients = 0\n");
	write_conf(text);
	free(text);
	config_defaults(&c);
	cr_assert_eq(config_load(&c, path, err, sizeof err), -1);
	cr_assert_str_neq(c.socket_path, "/tmp/evil.sock",
	    "the comment's tail became a setting");
	cr_assert_eq(c.max_clients, 7);
	cr_assert(strstr(err, ":3: ") != NULL, "line numbers drifted: %s", err);
}

/* A NUL byte inside a line is refused with its line number. */
Test(config, nul_byte_is_refused)
{
	struct rasd_config c;
	char err[256] = "";
	static const char text[] = "max_clients = 5\nsocket = /tmp/a\0b\n";
	FILE *f;

	f = fmemopen((void *)text, sizeof text - 1, "r");
	cr_assert_not_null(f);
	config_defaults(&c);
	cr_assert_eq(config_parse(&c, f, "mem", err, sizeof err), -1);
	fclose(f);
	cr_assert(strstr(err, "mem:2: NUL") != NULL, "%s", err);
}

/* Values print back as read: control characters are refused. */
Test(config, control_characters_are_refused)
{
	struct rasd_config c;
	char err[256] = "";

	config_defaults(&c);
	cr_assert_eq(config_set(&c, "socket", "/tmp/a\001b", err, sizeof err),
	    -1);
	cr_assert(strstr(err, "control character 0x01") != NULL, "%s", err);
	cr_assert_eq(config_set(&c, "peer_listen", "127.0.0.1:7465\033", err,
	    sizeof err), -1);
}
