/*
 * test_rasctl_parser.c -- rasctl's command-line parser (ctl/parser.c) and
 * JSON writer (ctl/output_json.c): good and bad command lines, string
 * escaping, and the exact JSON shape scripts rely on.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ras.h"
#include "../../ctl/rasctl.h"

/* Parse a NULL-terminated argv; err gets the message. */
static int
parse(char **argv, struct parse_result *res, char *err, size_t errlen)
{
	int	argc = 0;

	while (argv[argc] != NULL)
		argc++;
	return parser_parse(argc, argv, res, err, errlen);
}

/* Expect argv to be a usage error whose message contains want. */
static void
expect_error(char **argv, const char *want)
{
	struct parse_result	res;
	char			err[256];

	cr_assert_eq(parse(argv, &res, err, sizeof err), -1,
	    "accepted: %s ...", argv[1] ? argv[1] : "(none)");
	cr_assert(strstr(err, want) != NULL, "message \"%s\" lacks \"%s\"",
	    err, want);
}

/* Text written to a memory stream by fn. */
struct capture {
	char	*buf;
	size_t	 len;
	FILE	*fp;
};

static FILE *
capture_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->fp = open_memstream(&c->buf, &c->len);
	cr_assert_not_null(c->fp);
	return c->fp;
}

static char *
capture_close(struct capture *c)
{
	fclose(c->fp);
	return c->buf;
}

/* output_json_escape of len bytes of s, as a new string. */
static char *
escape(const char *s, size_t len)
{
	struct capture	c;

	output_json_escape(capture_open(&c), s, len);
	return capture_close(&c);
}

Test(parser, list_vms_defaults)
{
	char			*argv[] = { "rasctl", "list-vms", NULL };
	struct parse_result	 res;
	char			 err[256];

	cr_assert_eq(parse(argv, &res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.command, CMD_LIST_VMS);
	cr_assert_null(res.vm);
	cr_assert_null(res.socket);
	cr_assert_eq(res.json, 0);
	cr_assert_eq(res.timeout_ms, RASCTL_TIMEOUT_DEFAULT_MS);
}

Test(parser, global_options_before_command)
{
	char			*argv[] = { "rasctl", "--socket", "/tmp/r.sock",
	    "--json", "--timeout", "2.5", "list-poison", "vm1", NULL };
	struct parse_result	 res;
	char			 err[256];

	cr_assert_eq(parse(argv, &res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.command, CMD_LIST_POISON);
	cr_assert_str_eq(res.vm, "vm1");
	cr_assert_str_eq(res.socket, "/tmp/r.sock");
	cr_assert_eq(res.json, 1);
	cr_assert_eq(res.timeout_ms, 2500);
}

Test(parser, equals_forms)
{
	char			*argv[] = { "rasctl", "--socket=/a b",
	    "--timeout=0.25", "history", "vm1", NULL };
	struct parse_result	 res;
	char			 err[256];

	cr_assert_eq(parse(argv, &res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.command, CMD_HISTORY);
	cr_assert_str_eq(res.socket, "/a b");
	cr_assert_eq(res.timeout_ms, 250);
}

Test(parser, options_after_command)
{
	char			*argv[] = { "rasctl", "show", "vm1", "--json",
	    NULL };
	struct parse_result	 res;
	char			 err[256];

	cr_assert_eq(parse(argv, &res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.command, CMD_SHOW);
	cr_assert_str_eq(res.vm, "vm1");
	cr_assert_eq(res.json, 1);
}

Test(parser, double_dash_allows_dash_vm)
{
	char			*argv[] = { "rasctl", "list-poison", "--",
	    "-odd-name", NULL };
	struct parse_result	 res;
	char			 err[256];

	cr_assert_eq(parse(argv, &res, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(res.vm, "-odd-name");
}

Test(parser, uuid_passed_through)
{
	char			*argv[] = { "rasctl", "show",
	    "6F2E1122-3344-4566-8788-99aabbccddee", NULL };
	struct parse_result	 res;
	char			 err[256];

	cr_assert_eq(parse(argv, &res, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(res.vm, "6F2E1122-3344-4566-8788-99aabbccddee");
}

Test(parser, vm_name_with_utf8_and_spaces)
{
	char			*argv[] = { "rasctl", "history",
	    "web server \xc3\xa9t\xc3\xa9", NULL };
	struct parse_result	 res;
	char			 err[256];

	cr_assert_eq(parse(argv, &res, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(res.vm, "web server \xc3\xa9t\xc3\xa9");
}

Test(parser, events_command)
{
	char			*argv[] = { "rasctl", "events", "vm1", NULL };
	char			*argv2[] = { "rasctl", "--socket", "/r.sock",
	    "events", "6f2e1122-3344-4566-8788-99aabbccddee", "--json",
	    NULL };
	struct parse_result	 res;
	char			 err[256];

	cr_assert_eq(parse(argv, &res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.command, CMD_EVENTS);
	cr_assert_str_eq(res.vm, "vm1");
	cr_assert_eq(res.json, 0);
	cr_assert_eq(parse(argv2, &res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.command, CMD_EVENTS);
	cr_assert_str_eq(res.vm, "6f2e1122-3344-4566-8788-99aabbccddee");
	cr_assert_str_eq(res.socket, "/r.sock");
	cr_assert_eq(res.json, 1);
}

Test(parser, mark_stopped_command)
{
	char			*argv[] = { "rasctl", "mark-stopped", "vm1",
	    NULL };
	char			*argv2[] = { "rasctl", "--timeout", "1",
	    "mark-stopped", "--", "-vm", NULL };
	struct parse_result	 res;
	char			 err[256];

	cr_assert_eq(parse(argv, &res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.command, CMD_MARK_STOPPED);
	cr_assert_str_eq(res.vm, "vm1");
	cr_assert_eq(parse(argv2, &res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.command, CMD_MARK_STOPPED);
	cr_assert_str_eq(res.vm, "-vm");
	cr_assert_eq(res.timeout_ms, 1000);
}

Test(parser, events_and_mark_stopped_errors)
{
	char	*ev_none[] = { "rasctl", "events", NULL };
	char	*ev_opts[] = { "rasctl", "events", "--json", NULL };
	char	*ev_empty[] = { "rasctl", "events", "", NULL };
	char	*ev_two[] = { "rasctl", "events", "vm1", "vm2", NULL };
	char	*ms_none[] = { "rasctl", "mark-stopped", NULL };
	char	*ms_opts[] = { "rasctl", "--json", "mark-stopped", NULL };
	char	*ms_empty[] = { "rasctl", "mark-stopped", "", NULL };
	char	*ms_two[] = { "rasctl", "mark-stopped", "vm1", "vm2", NULL };
	char	*ms_typo[] = { "rasctl", "mark_stopped", "vm1", NULL };

	expect_error(ev_none, "events: missing VM name or UUID");
	expect_error(ev_opts, "events: missing VM name or UUID");
	expect_error(ev_empty, "events: the VM name or UUID is empty");
	expect_error(ev_two, "events: unexpected argument \"vm2\"");
	expect_error(ms_none, "mark-stopped: missing VM name or UUID");
	expect_error(ms_opts, "mark-stopped: missing VM name or UUID");
	expect_error(ms_empty, "mark-stopped: the VM name or UUID is empty");
	expect_error(ms_two, "mark-stopped: unexpected argument \"vm2\"");
	expect_error(ms_typo, "unknown command \"mark_stopped\"");
}

Test(parser, export_command)
{
	char			*a1[] = { "rasctl", "export", "vm1", NULL };
	char			*a2[] = { "rasctl", "export", "vm1", "-o",
	    "/tmp/vm1.bundle", NULL };
	char			*a3[] = { "rasctl", "--json", "-o", "f b",
	    "export", "vm1", NULL };
	char			*a4[] = { "rasctl", "export", "-of", "vm1",
	    NULL };
	char			*a5[] = { "rasctl", "export", "vm1",
	    "--output=x", "--json", NULL };
	char			*a6[] = { "rasctl", "export", "--output", "-",
	    "--", "-vm", NULL };
	char			*a7[] = { "rasctl", "export", "vm1", "-o",
	    "-dash", NULL };
	struct parse_result	 res;
	char			 err[256];

	cr_assert_eq(parse(a1, &res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.command, CMD_EXPORT);
	cr_assert_str_eq(res.vm, "vm1");
	cr_assert_null(res.output);
	cr_assert_null(res.file);
	cr_assert_eq(res.json, 0);
	cr_assert_eq(res.replace, 0);
	cr_assert_eq(parse(a2, &res, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(res.output, "/tmp/vm1.bundle");
	cr_assert_str_eq(res.vm, "vm1");
	cr_assert_eq(parse(a3, &res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.command, CMD_EXPORT);
	cr_assert_str_eq(res.output, "f b");
	cr_assert_eq(res.json, 1);
	cr_assert_eq(parse(a4, &res, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(res.output, "f");
	cr_assert_str_eq(res.vm, "vm1");
	cr_assert_eq(parse(a5, &res, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(res.output, "x");
	cr_assert_eq(res.json, 1);
	/* "-o -" is standard output, as without -o. */
	cr_assert_eq(parse(a6, &res, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(res.output, "-");
	cr_assert_str_eq(res.vm, "-vm");
	/* -o takes the next word whatever it looks like. */
	cr_assert_eq(parse(a7, &res, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(res.output, "-dash");
}

Test(parser, export_errors)
{
	char	*none[] = { "rasctl", "export", NULL };
	char	*only_o[] = { "rasctl", "export", "-o", "f", NULL };
	char	*empty[] = { "rasctl", "export", "", NULL };
	char	*two[] = { "rasctl", "export", "vm1", "vm2", NULL };
	char	*o_noval[] = { "rasctl", "export", "vm1", "-o", NULL };
	char	*out_noval[] = { "rasctl", "export", "vm1", "--output",
	    NULL };
	char	*o_empty[] = { "rasctl", "export", "vm1", "--output=", NULL };
	char	*json_stdout[] = { "rasctl", "--json", "export", "vm1", NULL };
	char	*json_dash[] = { "rasctl", "export", "vm1", "-o", "-",
	    "--json", NULL };
	char	*replace[] = { "rasctl", "export", "vm1", "--replace", NULL };

	expect_error(none, "export: missing VM name or UUID");
	expect_error(only_o, "export: missing VM name or UUID");
	expect_error(empty, "export: the VM name or UUID is empty");
	expect_error(two, "export: unexpected argument \"vm2\"");
	expect_error(o_noval, "option -o needs a file name");
	expect_error(out_noval, "option --output needs a file name");
	expect_error(o_empty, "option -o needs a non-empty file name");
	expect_error(json_stdout, "export: --json needs -o FILE");
	expect_error(json_dash, "export: --json needs -o FILE");
	expect_error(replace, "option --replace is for import only");
}

Test(parser, import_command)
{
	char			*a1[] = { "rasctl", "import", "vm1.bundle",
	    NULL };
	char			*a2[] = { "rasctl", "import", "--replace", "-",
	    NULL };
	char			*a3[] = { "rasctl", "--socket", "/b.sock",
	    "--timeout", "5", "--replace", "--json", "import", "f", NULL };
	char			*a4[] = { "rasctl", "import", "--", "-f",
	    NULL };
	char			*a5[] = { "rasctl", "import", "f", "--replace",
	    NULL };
	struct parse_result	 res;
	char			 err[256];

	cr_assert_eq(parse(a1, &res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.command, CMD_IMPORT);
	cr_assert_str_eq(res.file, "vm1.bundle");
	cr_assert_null(res.vm);
	cr_assert_null(res.output);
	cr_assert_eq(res.replace, 0);
	/* A lone "-" is standard input, not an option. */
	cr_assert_eq(parse(a2, &res, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(res.file, "-");
	cr_assert_eq(res.replace, 1);
	cr_assert_eq(parse(a3, &res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.command, CMD_IMPORT);
	cr_assert_str_eq(res.file, "f");
	cr_assert_str_eq(res.socket, "/b.sock");
	cr_assert_eq(res.timeout_ms, 5000);
	cr_assert_eq(res.replace, 1);
	cr_assert_eq(res.json, 1);
	cr_assert_eq(parse(a4, &res, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(res.file, "-f");
	cr_assert_eq(parse(a5, &res, err, sizeof err), 0, "%s", err);
	cr_assert_eq(res.replace, 1);
}

Test(parser, import_errors)
{
	char	*none[] = { "rasctl", "import", NULL };
	char	*only_r[] = { "rasctl", "import", "--replace", NULL };
	char	*empty[] = { "rasctl", "import", "", NULL };
	char	*two[] = { "rasctl", "import", "a", "b", NULL };
	char	*with_o[] = { "rasctl", "import", "a", "-o", "b", NULL };
	char	*r_val[] = { "rasctl", "import", "--replace=yes", "a", NULL };
	char	*r_other[] = { "rasctl", "--replace", "list-poison", "vm1",
	    NULL };
	char	*o_other[] = { "rasctl", "show", "vm1", "-o", "f", NULL };

	expect_error(none, "import: missing bundle file");
	expect_error(only_r, "import: missing bundle file");
	expect_error(empty, "import: the file name is empty");
	expect_error(two, "import: unexpected argument \"b\" (one bundle");
	expect_error(with_o, "option -o is for export only");
	expect_error(r_val, "option --replace takes no value");
	expect_error(r_other, "option --replace is for import only");
	expect_error(o_other, "option -o is for export only");
}

Test(parser, last_option_wins)
{
	char			*argv[] = { "rasctl", "--socket", "/a",
	    "--socket", "/b", "--timeout", "1", "--timeout", "3", "list-vms",
	    NULL };
	struct parse_result	 res;
	char			 err[256];

	cr_assert_eq(parse(argv, &res, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(res.socket, "/b");
	cr_assert_eq(res.timeout_ms, 3000);
}

Test(parser, help_and_version)
{
	char			*a1[] = { "rasctl", "-h", NULL };
	char			*a2[] = { "rasctl", "--help", NULL };
	char			*a3[] = { "rasctl", "help", NULL };
	char			*a4[] = { "rasctl", "show", "--help", NULL };
	char			*a5[] = { "rasctl", "--version", NULL };
	char			*a6[] = { "rasctl", "--help", "bogus", NULL };
	struct parse_result	 res;
	char			 err[256];

	cr_assert_eq(parse(a1, &res, err, sizeof err), 0);
	cr_assert_eq(res.command, CMD_HELP);
	cr_assert_eq(parse(a2, &res, err, sizeof err), 0);
	cr_assert_eq(res.command, CMD_HELP);
	cr_assert_eq(parse(a3, &res, err, sizeof err), 0);
	cr_assert_eq(res.command, CMD_HELP);
	cr_assert_eq(parse(a4, &res, err, sizeof err), 0);
	cr_assert_eq(res.command, CMD_HELP);
	cr_assert_eq(parse(a5, &res, err, sizeof err), 0);
	cr_assert_eq(res.command, CMD_VERSION);
	/* Help stops parsing: what follows it is not looked at. */
	cr_assert_eq(parse(a6, &res, err, sizeof err), 0);
	cr_assert_eq(res.command, CMD_HELP);
}

Test(parser, usage_errors)
{
	char	*none[] = { "rasctl", NULL };
	char	*only_opts[] = { "rasctl", "--json", NULL };
	char	*unknown_cmd[] = { "rasctl", "list-vm", NULL };
	char	*unknown_opt[] = { "rasctl", "--jsn", "list-vms", NULL };
	char	*short_opt[] = { "rasctl", "-j", "list-vms", NULL };
	char	*missing_vm[] = { "rasctl", "list-poison", NULL };
	char	*missing_vm2[] = { "rasctl", "show", "--json", NULL };
	char	*empty_vm[] = { "rasctl", "history", "", NULL };
	char	*two_vms[] = { "rasctl", "show", "vm1", "vm2", NULL };
	char	*extra[] = { "rasctl", "list-vms", "vm1", NULL };
	char	*no_sock[] = { "rasctl", "list-vms", "--socket", NULL };
	char	*empty_sock[] = { "rasctl", "--socket=", "list-vms", NULL };
	char	*no_tmo[] = { "rasctl", "list-vms", "--timeout", NULL };
	char	*json_val[] = { "rasctl", "--json=yes", "list-vms", NULL };
	char	*cmd_case[] = { "rasctl", "LIST-VMS", NULL };

	expect_error(none, "no command given");
	expect_error(only_opts, "no command given");
	expect_error(unknown_cmd, "unknown command \"list-vm\"");
	expect_error(unknown_opt, "unknown option \"--jsn\"");
	expect_error(short_opt, "unknown option \"-j\"");
	expect_error(missing_vm, "list-poison: missing VM name or UUID");
	expect_error(missing_vm2, "show: missing VM name or UUID");
	expect_error(empty_vm, "history: the VM name or UUID is empty");
	expect_error(two_vms, "unexpected argument \"vm2\"");
	expect_error(extra, "list-vms: unexpected argument \"vm1\"");
	expect_error(no_sock, "option --socket needs a value");
	expect_error(empty_sock, "--socket needs a non-empty path");
	expect_error(no_tmo, "option --timeout needs a value");
	expect_error(json_val, "--json takes no value");
	expect_error(cmd_case, "unknown command");
}

Test(parser, bad_timeouts)
{
	static const char *const bad[] = { "0", "0.0", "-1", "+1", "abc",
	    "1s", "", " 1", "inf", "nan", "1e3", "0x10", "1.2.3", ".",
	    "86401", "99999999999999999999", "0.0001" };
	size_t	i;
	int	ms;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(parser_parse_timeout(bad[i], &ms), -1,
		    "accepted \"%s\"", bad[i]);
	cr_expect_eq(parser_parse_timeout(NULL, &ms), -1);
}

Test(parser, good_timeouts)
{
	int	ms = 0;

	cr_assert_eq(parser_parse_timeout("5", &ms), 0);
	cr_assert_eq(ms, 5000);
	cr_assert_eq(parser_parse_timeout("0.5", &ms), 0);
	cr_assert_eq(ms, 500);
	cr_assert_eq(parser_parse_timeout(".25", &ms), 0);
	cr_assert_eq(ms, 250);
	cr_assert_eq(parser_parse_timeout("0.001", &ms), 0);
	cr_assert_eq(ms, 1);
	cr_assert_eq(parser_parse_timeout("86400", &ms), 0);
	cr_assert_eq(ms, 86400000);
}

Test(parser, timeout_error_message)
{
	char	*argv[] = { "rasctl", "--timeout", "soon", "list-vms", NULL };

	expect_error(argv, "option --timeout: \"soon\" is not a number");
}

Test(parser, command_names)
{
	cr_assert_str_eq(parser_command_name(CMD_LIST_VMS), "list-vms");
	cr_assert_str_eq(parser_command_name(CMD_SHOW), "show");
	cr_assert_str_eq(parser_command_name(CMD_LIST_POISON), "list-poison");
	cr_assert_str_eq(parser_command_name(CMD_HISTORY), "history");
	cr_assert_str_eq(parser_command_name(CMD_EVENTS), "events");
	cr_assert_str_eq(parser_command_name(CMD_MARK_STOPPED),
	    "mark-stopped");
	cr_assert_str_eq(parser_command_name(CMD_EXPORT), "export");
	cr_assert_str_eq(parser_command_name(CMD_IMPORT), "import");
	cr_assert_null(parser_command_name(CMD_VERSION));
}

Test(parser, null_error_buffer)
{
	char			*argv[] = { "rasctl", "bogus", NULL };
	struct parse_result	 res;

	cr_assert_eq(parser_parse(2, argv, &res, NULL, 0), -1);
}

Test(json_escape, plain_and_specials)
{
	char	*s;

	s = escape("vm1", 3);
	cr_assert_str_eq(s, "\"vm1\"");
	free(s);
	s = escape("a\"b\\c/d", 7);
	cr_assert_str_eq(s, "\"a\\\"b\\\\c/d\"");
	free(s);
	s = escape("", 0);
	cr_assert_str_eq(s, "\"\"");
	free(s);
}

Test(json_escape, control_characters)
{
	char	*s;

	s = escape("\b\f\n\r\t", 5);
	cr_assert_str_eq(s, "\"\\b\\f\\n\\r\\t\"");
	free(s);
	s = escape("\x01\x1f\x1b[31m\x7f", 8);
	cr_assert_str_eq(s, "\"\\u0001\\u001f\\u001b[31m\\u007f\"");
	free(s);
	/* An embedded NUL is data when the length says so. */
	s = escape("a\0b", 3);
	cr_assert_eq(strlen(s), 10);
	cr_assert_str_eq(s, "\"a\\u0000b\"");
	free(s);
}

Test(json_escape, utf8_passed_through)
{
	/* é (2 bytes), € (3 bytes), U+1F600 (4 bytes), U+10FFFF (max). */
	const char	*in = "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 "
	    "\xf4\x8f\xbf\xbf";
	char		*s, *want;

	s = escape(in, strlen(in));
	if (asprintf(&want, "\"%s\"", in) == -1)
		cr_assert_fail("asprintf");
	cr_assert_str_eq(s, want);
	free(s);
	free(want);
}

Test(json_escape, invalid_utf8_replaced)
{
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "\xff", "\"\\ufffd\"" },			/* never valid */
		{ "a\xc3", "\"a\\ufffd\"" },			/* truncated */
		{ "\xc3(", "\"\\ufffd(\"" },			/* bad trail */
		{ "\xc0\xaf", "\"\\ufffd\\ufffd\"" },		/* overlong / */
		{ "\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"" },/* overlong */
		{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },/* surrogate */
		{ "\xf4\x90\x80\x80",				/* > U+10FFFF */
		    "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
		{ "\x80ok", "\"\\ufffdok\"" },			/* lone trail */
	};
	size_t	 i;
	char	*s;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		s = escape(cases[i].in, strlen(cases[i].in));
		cr_expect_str_eq(s, cases[i].out, "case %zu", i);
		free(s);
	}
}

Test(json_writer, compact_document)
{
	struct output_json	j;
	struct capture		c;
	char			*s;

	output_json_begin(&j, capture_open(&c), 0);
	output_json_object(&j, NULL);
	output_json_string(&j, "name", "vm\"1");
	output_json_string(&j, "missing", NULL);
	output_json_uint(&j, "big", UINT64_MAX);
	output_json_int(&j, "neg", -5);
	output_json_bool(&j, "yes", 1);
	output_json_bool(&j, "no", 0);
	output_json_null(&j, "nil");
	output_json_hex(&j, "gpa", 0xABCDEF000ULL);
	output_json_array(&j, "empty");
	output_json_close(&j);
	output_json_array(&j, "list");
	output_json_uint(&j, NULL, 1);
	output_json_string(&j, NULL, "two");
	output_json_close(&j);
	output_json_close(&j);
	cr_assert_eq(output_json_end(&j), 0);
	s = capture_close(&c);
	cr_assert_str_eq(s, "{\"name\":\"vm\\\"1\",\"missing\":null,"
	    "\"big\":18446744073709551615,\"neg\":-5,\"yes\":true,"
	    "\"no\":false,\"nil\":null,\"gpa\":\"0xabcdef000\","
	    "\"empty\":[],\"list\":[1,\"two\"]}\n");
	free(s);
}

Test(json_writer, pretty_document)
{
	struct output_json	j;
	struct capture		c;
	char			*s;

	output_json_begin(&j, capture_open(&c), 1);
	output_json_array(&j, NULL);
	output_json_object(&j, NULL);
	output_json_uint(&j, "a", 1);
	output_json_array(&j, "b");
	output_json_close(&j);
	output_json_close(&j);
	output_json_close(&j);
	cr_assert_eq(output_json_end(&j), 0);
	s = capture_close(&c);
	cr_assert_str_eq(s, "[\n  {\n    \"a\": 1,\n    \"b\": []\n  }\n]\n");
	free(s);
}

Test(json_writer, unbalanced_is_an_error)
{
	struct output_json	j;
	struct capture		c;

	output_json_begin(&j, capture_open(&c), 0);
	output_json_array(&j, NULL);
	cr_assert_eq(output_json_end(&j), -1);
	free(capture_close(&c));
	output_json_begin(&j, capture_open(&c), 0);
	output_json_close(&j);
	cr_assert_eq(output_json_end(&j), -1);
	free(capture_close(&c));
}

Test(json_format, time_and_enum)
{
	char	buf[48];

	output_json_time(0, buf, sizeof buf);
	cr_assert_str_eq(buf, "1970-01-01T00:00:00Z");
	output_json_time(1764073496, buf, sizeof buf);
	cr_assert_str_eq(buf, "2025-11-25T12:24:56Z");
	output_json_time(INT64_MAX, buf, sizeof buf);
	cr_assert_str_eq(buf, "@9223372036854775807");
	cr_assert_str_eq(output_json_enum("SEA", 8, buf, sizeof buf), "SEA");
	cr_assert_str_eq(output_json_enum(NULL, 42, buf, sizeof buf),
	    "unknown(42)");
}

Test(json_format, poison_list_shape)
{
	Ras__PoisonRange	 r0 = RAS__POISON_RANGE__INIT;
	Ras__PoisonRange	 r1 = RAS__POISON_RANGE__INIT;
	Ras__PoisonRange	*ranges[] = { &r0, &r1 };
	Ras__PoisonList		 list = RAS__POISON_LIST__INIT;
	struct capture		 c;
	char			*s;

	r0.gpa = 0x40001000;
	r0.length = 4096;
	r0.kind = RAS_KIND_AR;
	r0.action = RAS_ACTION_INJECT;
	r0.has_notify = 1;
	r0.notify = RAS_NOTIFY_SEA;
	r0.has_source_id = 1;
	r0.source_id = 0;
	r0.first_seen = 1764073496;
	r0.records = 2;
	r0.has_ar_action = r0.has_ar_notify = r0.has_ar_source_id = 1;
	r0.ar_action = RAS_ACTION_INJECT;
	r0.ar_notify = RAS_NOTIFY_SEA;
	r0.ar_source_id = 0;
	r0.has_ao_action = r0.has_ao_notify = r0.has_ao_source_id = 1;
	r0.ao_action = RAS_ACTION_INJECT;
	r0.ao_notify = RAS_NOTIFY_GPIO;
	r0.ao_source_id = 1;
	r1.gpa = 0x80000000;
	r1.length = 2 << 20;
	r1.kind = RAS_KIND_AO;
	r1.action = RAS_ACTION_IGNORE;
	r1.first_seen = 1764073500;
	r1.records = 3;
	list.name = "vm1";
	list.n_ranges = 2;
	list.ranges = ranges;

	output_json_poison_list(capture_open(&c), &list);
	s = capture_close(&c);
	cr_assert_str_eq(s,
	    "[\n"
	    "  {\n"
	    "    \"gpa\": \"0x40001000\",\n"
	    "    \"length\": 4096,\n"
	    "    \"kind\": \"AR\",\n"
	    "    \"action\": \"inject\",\n"
	    "    \"notification\": \"SEA\",\n"
	    "    \"source_id\": 0,\n"
	    "    \"ar\": {\n"
	    "      \"action\": \"inject\",\n"
	    "      \"notification\": \"SEA\",\n"
	    "      \"source_id\": 0\n"
	    "    },\n"
	    "    \"ao\": {\n"
	    "      \"action\": \"inject\",\n"
	    "      \"notification\": \"GPIO\",\n"
	    "      \"source_id\": 1\n"
	    "    },\n"
	    "    \"first_seen\": \"2025-11-25T12:24:56Z\",\n"
	    "    \"records\": 2\n"
	    "  },\n"
	    "  {\n"
	    "    \"gpa\": \"0x80000000\",\n"
	    "    \"length\": 2097152,\n"
	    "    \"kind\": \"AO\",\n"
	    "    \"action\": \"ignore\",\n"
	    "    \"notification\": null,\n"
	    "    \"source_id\": null,\n"
	    "    \"ar\": null,\n"
	    "    \"ao\": {\n"
	    "      \"action\": \"ignore\",\n"
	    "      \"notification\": null,\n"
	    "      \"source_id\": null\n"
	    "    },\n"
	    "    \"first_seen\": \"2025-11-25T12:25:00Z\",\n"
	    "    \"records\": 3\n"
	    "  }\n"
	    "]\n");
	free(s);

	list.n_ranges = 0;
	output_json_poison_list(capture_open(&c), &list);
	s = capture_close(&c);
	cr_assert_str_eq(s, "[]\n");
	free(s);
}

Test(json_format, history_shape)
{
	Ras__PoisonEvent	 e = RAS__POISON_EVENT__INIT;
	Ras__PoisonEvent	*events[] = { &e };
	Ras__HistoryList	 list = RAS__HISTORY_LIST__INIT;
	struct capture		 c;
	char			*s;

	e.id = 7;
	e.gpa = 0x1000;
	e.length = 4096;
	e.kind = RAS_KIND_AO;
	e.action = RAS_ACTION_STOP_VM;
	e.time = 0;
	e.host = "boot\n";
	e.origin = "operator";
	e.active = 0;
	list.n_events = 1;
	list.events = events;
	output_json_history(capture_open(&c), &list);
	s = capture_close(&c);
	cr_assert_str_eq(s,
	    "[\n"
	    "  {\n"
	    "    \"id\": 7,\n"
	    "    \"time\": \"1970-01-01T00:00:00Z\",\n"
	    "    \"kind\": \"AO\",\n"
	    "    \"gpa\": \"0x1000\",\n"
	    "    \"length\": 4096,\n"
	    "    \"action\": \"stop-vm\",\n"
	    "    \"notification\": null,\n"
	    "    \"source_id\": null,\n"
	    "    \"origin\": \"operator\",\n"
	    "    \"host\": \"boot\\n\",\n"
	    "    \"active\": false\n"
	    "  }\n"
	    "]\n");
	free(s);
}

Test(json_format, vm_info_shape)
{
	static uint8_t	 uuid[16] = { 0x6f, 0x2e, 0x11, 0x22, 0x33, 0x44,
	    0x45, 0x66, 0x87, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };
	Ras__Source	 src = RAS__SOURCE__INIT, *srcs[] = { &src };
	Ras__Slot	 slot = RAS__SLOT__INIT, *slots[] = { &slot };
	Ras__VmInfo	 vm = RAS__VM_INFO__INIT;
	struct capture	 c;
	char		*s;

	src.source_id = 1;
	src.notify = RAS_NOTIFY_MCE;
	slot.gpa = 0;
	slot.hva = 0x7f0000000000;
	slot.size = 1ULL << 30;
	vm.uuid.len = 16;
	vm.uuid.data = uuid;
	vm.name = "vm1";
	vm.arch = RAS_ARCH_X86_64;
	vm.state = "running";
	vm.pid = 10;
	vm.generation = 2;
	vm.n_profile = 1;
	vm.profile = srcs;
	vm.caps = RAS_NOTIFY_BIT(RAS_NOTIFY_MCE) | (1u << 20);
	vm.n_slots = 1;
	vm.slots = slots;
	output_json_vm_info(capture_open(&c), &vm);
	s = capture_close(&c);
	cr_assert_str_eq(s,
	    "{\n"
	    "  \"name\": \"vm1\",\n"
	    "  \"uuid\": \"6f2e1122-3344-4566-8788-99aabbccddee\",\n"
	    "  \"arch\": \"x86_64\",\n"
	    "  \"state\": \"running\",\n"
	    "  \"libvirt_state\": null,\n"
	    "  \"registered\": true,\n"
	    "  \"pid\": 10,\n"
	    "  \"generation\": 2,\n"
	    "  \"profile_pinned\": false,\n"
	    "  \"observing\": false,\n"
	    "  \"profile\": [\n"
	    "    {\n"
	    "      \"source_id\": 1,\n"
	    "      \"notification\": \"MCE\",\n"
	    "      \"hest_type\": null\n"
	    "    }\n"
	    "  ],\n"
	    "  \"caps\": [\n"
	    "    \"MCE\",\n"
	    "    \"unknown(20)\"\n"
	    "  ],\n"
	    "  \"active_ranges\": 0,\n"
	    "  \"active_bytes\": 0,\n"
	    "  \"history_count\": 0,\n"
	    "  \"unrecorded\": 0,\n"
	    "  \"slots\": [\n"
	    "    {\n"
	    "      \"gpa\": \"0x0\",\n"
	    "      \"hva\": \"0x7f0000000000\",\n"
	    "      \"size\": 1073741824\n"
	    "    }\n"
	    "  ]\n"
	    "}\n");
	free(s);

	/* A UUID of the wrong size is null, not garbage. */
	vm.uuid.len = 3;
	output_json_vm_info(capture_open(&c), &vm);
	s = capture_close(&c);
	cr_assert(strstr(s, "\"uuid\": null,") != NULL);
	free(s);
}

Test(json_format, vm_list_not_covered)
{
	static uint8_t	 uuid[16] = { 0x6f, 0x2e, 0x11, 0x22, 0x33, 0x44,
	    0x45, 0x66, 0x87, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };
	Ras__VmInfo	 a = RAS__VM_INFO__INIT, b = RAS__VM_INFO__INIT;
	Ras__VmInfo	*vms[] = { &a, &b };
	Ras__VmList	 list = RAS__VM_LIST__INIT;
	struct capture	 c;
	char		*s;

	a.uuid.len = 16;
	a.uuid.data = uuid;
	a.name = "vm1";
	a.arch = RAS_ARCH_ARM64;
	a.state = "running";
	a.libvirt_state = "paused";
	a.pid = 4242;
	b.name = "web";
	b.state = "not-covered";
	b.libvirt_state = "shut-off";
	b.has_registered = 1;
	b.registered = 0;
	list.n_vms = 2;
	list.vms = vms;
	cr_assert(output_json_registered(&a));
	cr_assert(!output_json_registered(&b));
	output_json_vm_list(capture_open(&c), &list);
	s = capture_close(&c);
	cr_assert_str_eq(s,
	    "[\n"
	    "  {\n"
	    "    \"name\": \"vm1\",\n"
	    "    \"uuid\": \"6f2e1122-3344-4566-8788-99aabbccddee\",\n"
	    "    \"arch\": \"arm64\",\n"
	    "    \"state\": \"running\",\n"
	    "    \"libvirt_state\": \"paused\",\n"
	    "    \"registered\": true,\n"
	    "    \"pid\": 4242,\n"
	    "    \"generation\": 0,\n"
	    "    \"profile_pinned\": false,\n"
	    "    \"observing\": false,\n"
	    "    \"profile\": [],\n"
	    "    \"caps\": [],\n"
	    "    \"active_ranges\": 0,\n"
	    "    \"active_bytes\": 0,\n"
	    "    \"history_count\": 0,\n"
	    "    \"unrecorded\": 0\n"
	    "  },\n"
	    "  {\n"
	    "    \"name\": \"web\",\n"
	    "    \"uuid\": null,\n"
	    "    \"arch\": \"unknown\",\n"
	    "    \"state\": \"not-covered\",\n"
	    "    \"libvirt_state\": \"shut-off\",\n"
	    "    \"registered\": false,\n"
	    "    \"pid\": 0,\n"
	    "    \"generation\": 0,\n"
	    "    \"profile_pinned\": false,\n"
	    "    \"observing\": false,\n"
	    "    \"profile\": [],\n"
	    "    \"caps\": [],\n"
	    "    \"active_ranges\": 0,\n"
	    "    \"active_bytes\": 0,\n"
	    "    \"history_count\": 0,\n"
	    "    \"unrecorded\": 0\n"
	    "  }\n"
	    "]\n");
	free(s);
}

Test(json_format, events_shape)
{
	Ras__LibvirtEvent	 e0 = RAS__LIBVIRT_EVENT__INIT;
	Ras__LibvirtEvent	 e1 = RAS__LIBVIRT_EVENT__INIT;
	Ras__LibvirtEvent	*events[] = { &e0, &e1 };
	Ras__EventList		 list = RAS__EVENT_LIST__INIT;
	struct capture		 c;
	char			*s;

	e0.id = 3;
	e0.time = 1764073496;
	e0.recipient = 1;
	e0.action = 1;
	e0.flags = 3;
	e0.has_forward_id = 1;
	e0.forward_id = 7;
	e0.has_gpa = 1;
	e0.gpa = 0x40001000;
	e1.id = 4;
	e1.time = 0;
	e1.recipient = 0;
	e1.action = 9;
	e1.flags = 4;
	list.name = "vm1";
	list.n_events = 2;
	list.events = events;
	output_json_events(capture_open(&c), &list);
	s = capture_close(&c);
	cr_assert_str_eq(s,
	    "[\n"
	    "  {\n"
	    "    \"id\": 3,\n"
	    "    \"time\": \"2025-11-25T12:24:56Z\",\n"
	    "    \"recipient\": \"guest\",\n"
	    "    \"action\": \"inject\",\n"
	    "    \"flags\": [\n"
	    "      \"action-required\",\n"
	    "      \"recursive\"\n"
	    "    ],\n"
	    "    \"action_required\": true,\n"
	    "    \"forward_id\": 7,\n"
	    "    \"gpa\": \"0x40001000\"\n"
	    "  },\n"
	    "  {\n"
	    "    \"id\": 4,\n"
	    "    \"time\": \"1970-01-01T00:00:00Z\",\n"
	    "    \"recipient\": \"hypervisor\",\n"
	    "    \"action\": \"unknown(9)\",\n"
	    "    \"flags\": [\n"
	    "      \"unknown(4)\"\n"
	    "    ],\n"
	    "    \"action_required\": false,\n"
	    "    \"forward_id\": null,\n"
	    "    \"gpa\": null\n"
	    "  }\n"
	    "]\n");
	free(s);

	list.n_events = 0;
	output_json_events(capture_open(&c), &list);
	s = capture_close(&c);
	cr_assert_str_eq(s, "[]\n");
	free(s);
}

Test(json_format, libvirt_event_names)
{
	char	buf[32];

	cr_assert_str_eq(output_json_recipient(0, buf, sizeof buf),
	    "hypervisor");
	cr_assert_str_eq(output_json_recipient(1, buf, sizeof buf), "guest");
	cr_assert_str_eq(output_json_recipient(2, buf, sizeof buf),
	    "unknown(2)");
	cr_assert_str_eq(output_json_lv_action(0, buf, sizeof buf), "ignore");
	cr_assert_str_eq(output_json_lv_action(1, buf, sizeof buf), "inject");
	cr_assert_str_eq(output_json_lv_action(2, buf, sizeof buf), "fatal");
	cr_assert_str_eq(output_json_lv_action(3, buf, sizeof buf), "reset");
	cr_assert_str_eq(output_json_lv_action(4, buf, sizeof buf),
	    "unknown(4)");
	cr_assert_str_eq(output_json_lv_flag(0, buf, sizeof buf),
	    "action-required");
	cr_assert_str_eq(output_json_lv_flag(1, buf, sizeof buf),
	    "recursive");
	cr_assert_str_eq(output_json_lv_flag(31, buf, sizeof buf),
	    "unknown(2147483648)");
}

Test(json_format, ok_shape)
{
	struct capture	 c;
	char		*s;

	output_json_ok(capture_open(&c));
	s = capture_close(&c);
	cr_assert_str_eq(s, "{\n  \"ok\": true\n}\n");
	free(s);
}

Test(json_format, exported_shape)
{
	struct capture	 c;
	char		*s;

	output_json_exported(capture_open(&c), "vm\"1",
	    "6f2e1122-3344-4566-8788-99aabbccddee", 3, 494, "/tmp/vm1.b");
	s = capture_close(&c);
	cr_assert_str_eq(s, "{\n"
	    "  \"vm\": \"vm\\\"1\",\n"
	    "  \"uuid\": \"6f2e1122-3344-4566-8788-99aabbccddee\",\n"
	    "  \"generation\": 3,\n"
	    "  \"bytes\": 494,\n"
	    "  \"file\": \"/tmp/vm1.b\"\n"
	    "}\n");
	free(s);

	output_json_exported(capture_open(&c), "vm1", NULL, 0, 1, NULL);
	s = capture_close(&c);
	cr_assert_str_eq(s, "{\n  \"vm\": \"vm1\",\n  \"uuid\": null,\n"
	    "  \"generation\": 0,\n  \"bytes\": 1,\n  \"file\": null\n}\n");
	free(s);
}
