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
