/*
 * parser.c -- rasctl's command line: global options, a command, and the
 * command's VM argument, turned into a struct parse_result.
 *
 * DESIGN: the parser only reads argv (no environment, no I/O) so that unit
 * tests can drive it with any command line and compare the struct it
 * fills in or the message it writes. Options are taken before the command
 * as documented, and also after it, because "rasctl list-poison vm1 --json"
 * is what people type; "--" ends the options for a VM whose name begins
 * with a dash.
 *
 * export, import and health have options of their own (-o FILE,
 * --replace, --set STATE, --reason TEXT); they too may stand anywhere, and are refused for the other commands so that
 * a misplaced one is not silently ignored.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rasctl.h"

/* What a command takes after its name. */
enum parser_arg {
	ARG_NONE = 0,
	ARG_VM,		/* one VM name or UUID */
	ARG_FILE,	/* one file name, or "-" for standard input */
	ARG_SUB,	/* a subcommand: fleet hosts, fleet status */
	ARG_HOST	/* a fleet host id: evacuate HOST */
};

/* One command: its name on the command line and what it takes. */
struct parser_cmd {
	const char		*name;
	enum parser_command	 command;
	enum parser_arg		 arg;
};

static const struct parser_cmd parser_cmds[] = {
	{ "list-vms",		CMD_LIST_VMS,		ARG_NONE },
	{ "show",		CMD_SHOW,		ARG_VM },
	{ "list-poison",	CMD_LIST_POISON,	ARG_VM },
	{ "history",		CMD_HISTORY,		ARG_VM },
	{ "events",		CMD_EVENTS,		ARG_VM },
	{ "mark-stopped",	CMD_MARK_STOPPED,	ARG_VM },
	{ "export",		CMD_EXPORT,		ARG_VM },
	{ "import",		CMD_IMPORT,		ARG_FILE },
	{ "health",		CMD_HEALTH,		ARG_NONE },
	{ "fleet",		CMD_FLEET_HOSTS,	ARG_SUB },
	{ "evacuate",		CMD_EVACUATE,		ARG_HOST },
	{ "release",		CMD_RELEASE,		ARG_VM },
	{ "help",		CMD_HELP,		ARG_NONE },
};

#define PARSER_NCMDS (sizeof parser_cmds / sizeof parser_cmds[0])

/* Write a message into the caller's error buffer and return -1. */
static int __attribute__((format(printf, 3, 4)))
parser_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Name of a command as typed, or NULL for the option-only commands. */
const char *
parser_command_name(enum parser_command command)
{
	size_t	i;

	for (i = 0; i < PARSER_NCMDS; i++) {
		if (parser_cmds[i].command == command)
			return parser_cmds[i].name;
	}
	return NULL;
}

/*
 * Parse a timeout in seconds: a decimal, fractions allowed ("0.5"), from
 * one millisecond to a day. Stores milliseconds, rounded.
 */
int
parser_parse_timeout(const char *s, int *ms)
{
	char	*end;
	double	 secs;

	if (s == NULL || *s == '\0' || *s == ' ' || *s == '\t' ||
	    *s == '-' || *s == '+')
		return -1;
	/* strtod would accept "inf", "nan" and hex floats; digits only. */
	if (strspn(s, "0123456789.") != strlen(s))
		return -1;
	errno = 0;
	secs = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(secs))
		return -1;
	if (secs * 1000.0 + 0.5 < 1.0 || secs * 1000.0 > RASCTL_TIMEOUT_MAX_MS)
		return -1;
	*ms = (int)(secs * 1000.0 + 0.5);
	return 0;
}

/*
 * Handle the option at argv[*i], consuming its value if it has one.
 * Returns 1 for an option that ends parsing (help, version), 0 to go on,
 * -1 with a message on error.
 */
static int
parser_option(int argc, char *argv[], int *i, struct parse_result *res,
    char *err, size_t errlen)
{
	const char	*arg = argv[*i], *val = NULL, *eq;
	size_t		 namelen;

	if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
		res->command = CMD_HELP;
		return 1;
	}
	if (strcmp(arg, "--version") == 0) {
		res->command = CMD_VERSION;
		return 1;
	}
	if (strcmp(arg, "--json") == 0) {
		res->json = 1;
		return 0;
	}
	if (strcmp(arg, "--replace") == 0) {
		res->replace = 1;
		return 0;
	}
	if (strcmp(arg, "--dry-run") == 0) {
		res->dry_run = 1;
		return 0;
	}
	if (strcmp(arg, "--cancel") == 0) {
		res->cancel = 1;
		return 0;
	}
	if (strcmp(arg, "--force") == 0) {
		res->force = 1;
		return 0;
	}
	/* export's output file: "-o FILE", "-oFILE", "--output[=]FILE". */
	if (strncmp(arg, "-o", 2) == 0 || strcmp(arg, "--output") == 0 ||
	    strncmp(arg, "--output=", 9) == 0) {
		if (arg[1] == 'o' && arg[2] != '\0')
			val = arg + 2;
		else if (strncmp(arg, "--output=", 9) == 0)
			val = arg + 9;
		else if (*i + 1 < argc)
			val = argv[++*i];
		else
			return parser_error(err, errlen,
			    "option %s needs a file name", arg);
		if (*val == '\0')
			return parser_error(err, errlen,
			    "option -o needs a non-empty file name");
		res->output = val;
		return 0;
	}

	/* The options with a value: "--opt VALUE" or "--opt=VALUE". */
	eq = strchr(arg, '=');
	namelen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
	/* health's: "--set STATE", "--reason TEXT" (or with '='). */
	if ((namelen == 5 && strncmp(arg, "--set", 5) == 0) ||
	    (namelen == 8 && strncmp(arg, "--reason", 8) == 0)) {
		if (eq != NULL)
			val = eq + 1;
		else if (*i + 1 < argc)
			val = argv[++*i];
		else
			return parser_error(err, errlen,
			    "option %.*s needs a value", (int)namelen, arg);
		if (arg[2] == 's') {
			if (strcmp(val, "evacuate") != 0 &&
			    strcmp(val, "degraded") != 0 &&
			    strcmp(val, "auto") != 0)
				return parser_error(err, errlen,
				    "option --set: \"%s\" is not evacuate, "
				    "degraded or auto", val);
			res->set_health = val;
		} else
			res->reason = val;
		return 0;
	}
	if ((namelen == 8 && strncmp(arg, "--socket", 8) == 0) ||
	    (namelen == 9 && strncmp(arg, "--timeout", 9) == 0)) {
		if (eq != NULL)
			val = eq + 1;
		else if (*i + 1 < argc)
			val = argv[++*i];
		else
			return parser_error(err, errlen,
			    "option %.*s needs a value", (int)namelen, arg);
		if (arg[2] == 's') {
			if (*val == '\0')
				return parser_error(err, errlen,
				    "option --socket needs a non-empty path");
			res->socket = val;
		} else if (parser_parse_timeout(val, &res->timeout_ms) == -1)
			return parser_error(err, errlen,
			    "option --timeout: \"%s\" is not a number of "
			    "seconds between 0.001 and %d", val,
			    RASCTL_TIMEOUT_MAX_MS / 1000);
		return 0;
	}
	if (eq != NULL && (strncmp(arg, "--json=", 7) == 0 ||
	    strncmp(arg, "--replace=", 10) == 0 ||
	    strncmp(arg, "--force=", 8) == 0))
		return parser_error(err, errlen,
		    "option %.*s takes no value", (int)namelen, arg);
	return parser_error(err, errlen, "unknown option \"%s\"", arg);
}

/*
 * Parse the whole command line into res. Returns 0, or -1 with a one-line
 * message in err (without the program name) for a usage error.
 */
int
parser_parse(int argc, char *argv[], struct parse_result *res, char *err,
    size_t errlen)
{
	const struct parser_cmd	*cmd = NULL;
	const char		*word;
	int			 i, r, opts_done = 0;
	size_t			 c;

	memset(res, 0, sizeof *res);
	res->command = CMD_NONE;
	res->timeout_ms = RASCTL_TIMEOUT_DEFAULT_MS;
	if (err != NULL && errlen > 0)
		err[0] = '\0';

	for (i = 1; i < argc; i++) {
		word = argv[i];
		if (!opts_done && strcmp(word, "--") == 0) {
			opts_done = 1;
			continue;
		}
		if (!opts_done && word[0] == '-' && word[1] != '\0') {
			if ((r = parser_option(argc, argv, &i, res, err,
			    errlen)) != 0) {
				if (r == 1) {
					res->vm = NULL;
					return 0;
				}
				return -1;
			}
			continue;
		}
		if (cmd == NULL) {
			for (c = 0; c < PARSER_NCMDS; c++) {
				if (strcmp(word, parser_cmds[c].name) == 0)
					cmd = &parser_cmds[c];
			}
			if (cmd == NULL)
				return parser_error(err, errlen,
				    "unknown command \"%s\"", word);
			res->command = cmd->command;
			if (cmd->command == CMD_HELP)
				return 0;
			continue;
		}
		if (cmd->arg == ARG_VM && res->vm == NULL) {
			if (*word == '\0')
				return parser_error(err, errlen,
				    "%s: the VM name or UUID is empty",
				    cmd->name);
			res->vm = word;
			continue;
		}
		if (cmd->arg == ARG_FILE && res->file == NULL) {
			if (*word == '\0')
				return parser_error(err, errlen,
				    "%s: the file name is empty", cmd->name);
			res->file = word;
			continue;
		}
		if (cmd->arg == ARG_SUB && res->sub == NULL) {
			if (strcmp(word, "hosts") != 0 &&
			    strcmp(word, "status") != 0)
				return parser_error(err, errlen,
				    "%s: unknown subcommand \"%s\" (hosts, "
				    "status)", cmd->name, word);
			res->sub = word;
			if (strcmp(word, "status") == 0)
				res->command = CMD_FLEET_STATUS;
			continue;
		}
		if (cmd->arg == ARG_HOST && res->host == NULL) {
			if (*word == '\0')
				return parser_error(err, errlen,
				    "%s: the host id is empty", cmd->name);
			res->host = word;
			continue;
		}
		if (cmd->arg == ARG_VM)
			return parser_error(err, errlen,
			    "%s: unexpected argument \"%s\" (one VM at a time)",
			    cmd->name, word);
		if (cmd->arg == ARG_FILE)
			return parser_error(err, errlen,
			    "%s: unexpected argument \"%s\" (one bundle at a "
			    "time)", cmd->name, word);
		return parser_error(err, errlen,
		    "%s: unexpected argument \"%s\" (it takes none)",
		    cmd->name, word);
	}

	if (cmd == NULL)
		return parser_error(err, errlen, "no command given");
	if (cmd->arg == ARG_VM && res->vm == NULL)
		return parser_error(err, errlen,
		    "%s: missing VM name or UUID", cmd->name);
	if (cmd->arg == ARG_SUB && res->sub == NULL)
		return parser_error(err, errlen,
		    "%s: missing subcommand (hosts, status)", cmd->name);
	if (cmd->arg == ARG_HOST && res->host == NULL)
		return parser_error(err, errlen,
		    "%s: missing host id (rasctl fleet hosts lists them)",
		    cmd->name);
	if ((res->dry_run || res->cancel) && cmd->command != CMD_EVACUATE)
		return parser_error(err, errlen,
		    "options --dry-run and --cancel are for evacuate only");
	if (res->dry_run && res->cancel)
		return parser_error(err, errlen,
		    "evacuate: --dry-run and --cancel exclude each other");
	if (cmd->arg == ARG_FILE && res->file == NULL)
		return parser_error(err, errlen,
		    "%s: missing bundle file (a path, or - for standard "
		    "input)", cmd->name);
	/* The per-command options, wherever they stood. */
	if (res->output != NULL && cmd->command != CMD_EXPORT)
		return parser_error(err, errlen,
		    "option -o is for export only");
	if (res->replace && cmd->command != CMD_IMPORT)
		return parser_error(err, errlen,
		    "option --replace is for import only");
	if ((res->set_health != NULL || res->reason != NULL) &&
	    cmd->command != CMD_HEALTH)
		return parser_error(err, errlen,
		    "options --set and --reason are for health only");
	if (res->reason != NULL && res->set_health == NULL)
		return parser_error(err, errlen,
		    "health: --reason goes with --set");
	if (res->force && cmd->command != CMD_RELEASE)
		return parser_error(err, errlen,
		    "option --force is for release only");
	if (cmd->command == CMD_RELEASE && !res->force)
		return parser_error(err, errlen,
		    "release: --force is required (the guest may then run "
		    "without poisons its source recorded last)");
	if (cmd->command == CMD_EXPORT && res->json &&
	    (res->output == NULL || strcmp(res->output, "-") == 0))
		return parser_error(err, errlen,
		    "export: --json needs -o FILE (without it the bundle "
		    "itself goes to standard output)");
	return 0;
}
