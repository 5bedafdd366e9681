/*
 * rasctl.h -- internal interfaces of rasctl, the operator CLI, grouped by
 * file.
 *
 * parser.c turns argv into a struct parse_result and knows nothing of the
 * wire; rasctl.c talks to rasd; output.c prints tables for people and
 * output_json.c prints JSON for programs. parser.o and output_json.o link
 * into the unit tests, so neither may call into rasctl.c or output.c.
 */
#ifndef RASCTL_H
#define RASCTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rasd.pb-c.h"

/* Exit status, stable: scripts depend on it (documented in rasctl.8). */
#define RASCTL_EXIT_OK		0	/* success */
#define RASCTL_EXIT_FAIL	1	/* rasd refused, or could not be reached */
#define RASCTL_EXIT_USAGE	2	/* bad command line */

#define RASCTL_TIMEOUT_DEFAULT_MS	5000
#define RASCTL_TIMEOUT_MAX_MS		(24 * 3600 * 1000)

/* What the command line asks for. */
enum parser_command {
	CMD_NONE = 0,
	CMD_HELP,
	CMD_VERSION,
	CMD_LIST_VMS,
	CMD_SHOW,
	CMD_LIST_POISON,
	CMD_HISTORY,
	CMD_EVENTS,
	CMD_MARK_STOPPED,
	CMD_EXPORT,
	CMD_IMPORT,
	CMD_HEALTH,
	CMD_FLEET_HOSTS,
	CMD_RELEASE,
	CMD_FLEET_STATUS,
	CMD_EVACUATE
};

/*
 * The largest bundle file rasctl reads (BUNDLE_MAX_BYTES, migrate/bundle.h),
 * and the largest it can send: a request carries the bundle plus a few
 * bytes of framing and must fit rasd's wire frame (FRAME_MAX).
 */
#define RASCTL_BUNDLE_FILE_MAX	(16u << 20)
#define RASCTL_BUNDLE_OVERHEAD	64

/* One parsed command line; strings point into argv. */
struct parse_result {
	enum parser_command	 command;
	const char		*vm;		/* name or UUID, NULL if none */
	const char		*socket;	/* NULL: $RASD_SOCKET or default */
	const char		*output;	/* export -o FILE ("-": stdout),
						 * NULL if none */
	const char		*file;		/* import FILE, "-" for stdin */
	const char		*sub;		/* fleet's subcommand */
	const char		*host;		/* evacuate HOST */
	int			 dry_run;	/* evacuate --dry-run */
	int			 cancel;	/* evacuate --cancel */
	int			 json;
	int			 replace;	/* import --replace */
	int			 force;		/* release --force */
	int			 timeout_ms;
	const char		*set_health;	/* health --set STATE */
	const char		*reason;	/* health --reason TEXT */
};

/* parser.c */
int		 parser_parse(int, char *[], struct parse_result *, char *,
		    size_t);
const char	*parser_command_name(enum parser_command);
int		 parser_parse_timeout(const char *, int *);

/* output.c */
void	output_vm_list(FILE *, const Ras__VmList *);
void	output_vm_info(FILE *, const Ras__VmInfo *);
struct output_pages {		/* a table printed page by page */
	size_t	 rows;		/* printed so far */
	size_t	 width[8];	/* the first page's column widths */
};
void	output_poison_list(FILE *, const Ras__PoisonList *);
void	output_poison_page(FILE *, const Ras__PoisonList *,
	    struct output_pages *, int);
void	output_history(FILE *, const Ras__HistoryList *);
void	output_events(FILE *, const Ras__EventList *);
void	output_bytes(uint64_t, char *, size_t);
void	output_text(FILE *, const char *);
void	output_exported(FILE *, const char *, uint64_t, size_t,
	    const char *);
void	output_imported(FILE *, const char *);

/* output_health.c */
void	output_health(FILE *, const Ras__HealthReport *);
void	output_json_health(FILE *, const Ras__HealthReport *);
/* output_fleet.c */
void	output_fleet_hosts(FILE *, const Ras__FleetHosts *);
void	output_json_fleet_hosts(FILE *, const Ras__FleetHosts *);
void	output_fleet_plan(FILE *, const Ras__FleetPlan *);
void	output_json_fleet_plan(FILE *, const Ras__FleetPlan *);

/* output_json.c */
#define OUTPUT_JSON_DEPTH	16

/*
 * rasctl's own output buffer: a long listing is formatted in place and
 * written in large blocks, never a character at a time through stdio.
 */
#define OUTPUT_BUF_LEN		65536
struct output_buf {
	FILE	*fp;
	size_t	 n;
	int	 err;		/* a write failed */
	char	 b[OUTPUT_BUF_LEN];
};

void	output_buf_init(struct output_buf *, FILE *);
int	output_buf_flush(struct output_buf *);
void	output_buf_write(struct output_buf *, const void *, size_t);
void	output_buf_puts(struct output_buf *, const char *);
void	output_buf_pad(struct output_buf *, size_t);
void	output_buf_escape(struct output_buf *, const char *, size_t);
size_t	output_fmt_uint(char *, uint64_t);
size_t	output_fmt_hex(char *, uint64_t);

/* Room in the buffer for len more bytes, flushing it first if needed. */
static inline char *
output_buf_room(struct output_buf *ob, size_t len)
{
	if (ob->n + len > sizeof ob->b)
		output_buf_flush(ob);
	return ob->b + ob->n;
}

static inline void
output_buf_putc(struct output_buf *ob, char c)
{
	if (ob->n == sizeof ob->b)
		output_buf_flush(ob);
	ob->b[ob->n++] = c;
}

/* A streaming JSON writer: values are emitted as they are added. */
struct output_json {
	FILE	*fp;
	struct output_buf *ob;	/* from output_json_begin to _end */
	int	 depth;
	int	 pretty;
	int	 count[OUTPUT_JSON_DEPTH];	/* members so far, per level */
	char	 closer[OUTPUT_JSON_DEPTH];	/* '}' or ']', per level */
	int	 overflow;
};

void	output_json_begin(struct output_json *, FILE *, int);
int	output_json_end(struct output_json *);
void	output_json_object(struct output_json *, const char *);
void	output_json_array(struct output_json *, const char *);
void	output_json_close(struct output_json *);
void	output_json_string(struct output_json *, const char *, const char *);
void	output_json_uint(struct output_json *, const char *, uint64_t);
void	output_json_int(struct output_json *, const char *, int64_t);
void	output_json_double(struct output_json *, const char *, double);
void	output_json_bool(struct output_json *, const char *, int);
void	output_json_null(struct output_json *, const char *);
void	output_json_hex(struct output_json *, const char *, uint64_t);
void	output_json_escape(FILE *, const char *, size_t);
size_t	output_json_utf8_len(const unsigned char *, size_t);
void	output_json_vm_list(FILE *, const Ras__VmList *);
void	output_json_vm_info(FILE *, const Ras__VmInfo *);
void	output_json_poison_list(FILE *, const Ras__PoisonList *);
void	output_json_poison_rows(struct output_json *,
	    const Ras__PoisonList *);
void	output_json_history(FILE *, const Ras__HistoryList *);
void	output_json_events(FILE *, const Ras__EventList *);
void	output_json_ok(FILE *);
void	output_json_exported(FILE *, const char *, const char *, uint64_t,
	    size_t, const char *);
void	output_json_time(int64_t, char *, size_t);
const char *output_json_enum(const char *, unsigned int, char *, size_t);
const char *output_json_uuid(const ProtobufCBinaryData *, char *, size_t);
int	output_json_registered(const Ras__VmInfo *);
const char *output_json_recipient(uint32_t, char *, size_t);
const char *output_json_lv_action(uint32_t, char *, size_t);
const char *output_json_lv_flag(unsigned int, char *, size_t);

/* One kind's decision in a poisoned range (list-poison). */
struct output_decision {
	uint32_t	action;		/* 0: no error of that kind here */
	int		has_notify;
	uint32_t	notify;
	uint32_t	source_id;
};
void	output_range_decision(const Ras__PoisonRange *, uint32_t,
	    struct output_decision *);

#endif
