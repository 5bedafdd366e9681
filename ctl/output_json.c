/*
 * output_json.c -- rasctl's JSON output: a small streaming writer and the
 * JSON form of each rasd answer.
 *
 * DESIGN: JSON is the interface for programs, so its shape is part of the
 * stable surface documented in rasctl.8: lists are top-level arrays (an
 * empty result is []), addresses are "0x..." strings (a 64-bit address
 * does not survive a double), sizes and counters are numbers, absent
 * optional values are null, and enum values are names. Strings from rasd
 * are escaped here and never trusted to be valid UTF-8: bad bytes become
 * U+FFFD so that the output always parses.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ras.h"
#include "rasctl.h"

/* Start an output buffer writing to fp. */
void
output_buf_init(struct output_buf *ob, FILE *fp)
{
	ob->fp = fp;
	ob->n = 0;
	ob->err = 0;
}

/* Write out what the buffer holds; -1 if a write ever failed. */
int
output_buf_flush(struct output_buf *ob)
{
	if (ob->n > 0 && fwrite(ob->b, 1, ob->n, ob->fp) != ob->n)
		ob->err = 1;
	ob->n = 0;
	return ob->err ? -1 : 0;
}

/* Append len bytes. */
void
output_buf_write(struct output_buf *ob, const void *p, size_t len)
{
	const char	*s = p;
	size_t		 k;

	while (len > 0) {
		if (ob->n == sizeof ob->b)
			output_buf_flush(ob);
		k = sizeof ob->b - ob->n;
		if (k > len)
			k = len;
		memcpy(ob->b + ob->n, s, k);
		ob->n += k;
		s += k;
		len -= k;
	}
}

/* Append a string. */
void
output_buf_puts(struct output_buf *ob, const char *s)
{
	output_buf_write(ob, s, strlen(s));
}

/* Append n spaces. */
void
output_buf_pad(struct output_buf *ob, size_t n)
{
	static const char	spaces[64] = "                                "
	    "                               ";
	size_t			k;

	while (n > 0) {
		k = n < sizeof spaces ? n : sizeof spaces;
		output_buf_write(ob, spaces, k);
		n -= k;
	}
}

/* Format v in decimal at p (room for 20 digits); its length. */
size_t
output_fmt_uint(char *p, uint64_t v)
{
	char	tmp[20];
	size_t	n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* Format v as "0x" and lowercase hex digits at p (room for 18); length. */
size_t
output_fmt_hex(char *p, uint64_t v)
{
	static const char	digits[] = "0123456789abcdef";
	char			tmp[16];
	size_t			n = 0, i;

	do {
		tmp[n++] = digits[v & 0xf];
		v >>= 4;
	} while (v > 0);
	p[0] = '0';
	p[1] = 'x';
	for (i = 0; i < n; i++)
		p[2 + i] = tmp[n - 1 - i];
	return n + 2;
}

/* Write the ",", newline and indent that come before a new value. */
static void
output_json_sep(struct output_json *j, const char *key)
{
	if (j->depth > 0) {
		if (j->count[j->depth - 1]++ > 0)
			output_buf_putc(j->ob, ',');
		if (j->pretty) {
			output_buf_putc(j->ob, '\n');
			output_buf_pad(j->ob, 2 * (size_t)j->depth);
		}
	}
	if (key != NULL) {
		output_buf_escape(j->ob, key, strlen(key));
		output_buf_puts(j->ob, j->pretty ? ": " : ":");
	}
}

/* Start a JSON document on fp, indented when pretty is set. */
void
output_json_begin(struct output_json *j, FILE *fp, int pretty)
{
	memset(j, 0, sizeof *j);
	j->fp = fp;
	j->pretty = pretty;
	if ((j->ob = malloc(sizeof *j->ob)) == NULL) {
		fprintf(stderr, "rasctl: out of memory\n");
		exit(RASCTL_EXIT_FAIL);
	}
	output_buf_init(j->ob, fp);
}

/* Finish the document; -1 if it is unbalanced or could not be written. */
int
output_json_end(struct output_json *j)
{
	int	rc;

	output_buf_putc(j->ob, '\n');
	rc = output_buf_flush(j->ob);
	free(j->ob);
	j->ob = NULL;
	if (rc == -1 || fflush(j->fp) == EOF || ferror(j->fp))
		return -1;
	return (j->depth != 0 || j->overflow) ? -1 : 0;
}

/* Open a container; its closing bracket is written by output_json_close. */
static void
output_json_open(struct output_json *j, const char *key, char open)
{
	output_json_sep(j, key);
	output_buf_putc(j->ob, open);
	if (j->depth >= OUTPUT_JSON_DEPTH) {
		j->overflow = 1;
		return;
	}
	j->closer[j->depth] = open == '{' ? '}' : ']';
	j->count[j->depth++] = 0;
}

/* Open an object, as member key of the enclosing object or (NULL) not. */
void
output_json_object(struct output_json *j, const char *key)
{
	output_json_open(j, key, '{');
}

/* Open an array, as member key of the enclosing object or (NULL) not. */
void
output_json_array(struct output_json *j, const char *key)
{
	output_json_open(j, key, '[');
}

/* Close the innermost object or array. */
void
output_json_close(struct output_json *j)
{
	if (j->depth == 0) {
		j->overflow = 1;
		return;
	}
	j->depth--;
	if (j->pretty && j->count[j->depth] > 0) {
		output_buf_putc(j->ob, '\n');
		output_buf_pad(j->ob, 2 * (size_t)j->depth);
	}
	output_buf_putc(j->ob, j->closer[j->depth]);
}

/* A string member; NULL writes null. */
void
output_json_string(struct output_json *j, const char *key, const char *s)
{
	output_json_sep(j, key);
	if (s == NULL)
		output_buf_puts(j->ob, "null");
	else
		output_buf_escape(j->ob, s, strlen(s));
}

/* An unsigned number member. */
void
output_json_uint(struct output_json *j, const char *key, uint64_t v)
{
	char	*p;

	output_json_sep(j, key);
	p = output_buf_room(j->ob, 20);
	j->ob->n += output_fmt_uint(p, v);
}

/* A signed number member. */
void
output_json_int(struct output_json *j, const char *key, int64_t v)
{
	char	*p;

	output_json_sep(j, key);
	p = output_buf_room(j->ob, 21);
	if (v < 0) {
		*p++ = '-';
		j->ob->n++;
	}
	j->ob->n += output_fmt_uint(p, v < 0 ? -(uint64_t)v : (uint64_t)v);
}

/* A true/false member. */
void
output_json_bool(struct output_json *j, const char *key, int v)
{
	output_json_sep(j, key);
	output_buf_puts(j->ob, v ? "true" : "false");
}

/* A null member. */
void
output_json_null(struct output_json *j, const char *key)
{
	output_json_sep(j, key);
	output_buf_puts(j->ob, "null");
}

/* An address member, as a lowercase "0x..." string. */
void
output_json_hex(struct output_json *j, const char *key, uint64_t v)
{
	char	*p;

	output_json_sep(j, key);
	p = output_buf_room(j->ob, 20);
	*p = '"';
	j->ob->n += 1 + output_fmt_hex(p + 1, v);
	j->ob->b[j->ob->n++] = '"';
}

/*
 * Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0 if
 * the bytes there are not one (overlong forms, surrogates and code points
 * above U+10FFFF included).
 */
size_t
output_json_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return len;
}

/* Whether s needs no escaping in JSON: printable ASCII, no quote or \\. */
static int
output_json_plain(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i;

	for (i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] >= 0x7f || p[i] == '"' ||
		    p[i] == '\\')
			return 0;
	return 1;
}

/*
 * Write len bytes of s as a quoted JSON string: quote, backslash and
 * control characters escaped, valid UTF-8 passed through, every byte that
 * is not part of valid UTF-8 replaced by U+FFFD. Plain ASCII (every name
 * and number rasctl prints) is copied as it is.
 */
void
output_buf_escape(struct output_buf *ob, const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			 u[8];
	size_t			 i = 0, n;

	output_buf_putc(ob, '"');
	if (output_json_plain(s, len)) {
		output_buf_write(ob, s, len);
		output_buf_putc(ob, '"');
		return;
	}
	while (i < len) {
		switch (p[i]) {
		case '"':
			output_buf_puts(ob, "\\\"");
			break;
		case '\\':
			output_buf_puts(ob, "\\\\");
			break;
		case '\b':
			output_buf_puts(ob, "\\b");
			break;
		case '\f':
			output_buf_puts(ob, "\\f");
			break;
		case '\n':
			output_buf_puts(ob, "\\n");
			break;
		case '\r':
			output_buf_puts(ob, "\\r");
			break;
		case '\t':
			output_buf_puts(ob, "\\t");
			break;
		default:
			if (p[i] < 0x20 || p[i] == 0x7f) {
				snprintf(u, sizeof u, "\\u%04x", p[i]);
				output_buf_puts(ob, u);
			} else if (p[i] < 0x80)
				output_buf_putc(ob, (char)p[i]);
			else if ((n = output_json_utf8_len(p + i,
			    len - i)) > 0) {
				output_buf_write(ob, p + i, n);
				i += n;
				continue;
			} else
				output_buf_puts(ob, "\\ufffd");
			break;
		}
		i++;
	}
	output_buf_putc(ob, '"');
}

/* output_buf_escape straight to fp. */
void
output_json_escape(FILE *fp, const char *s, size_t len)
{
	struct output_buf	*ob;

	if ((ob = malloc(sizeof *ob)) == NULL) {
		fprintf(stderr, "rasctl: out of memory\n");
		exit(RASCTL_EXIT_FAIL);
	}
	output_buf_init(ob, fp);
	output_buf_escape(ob, s, len);
	output_buf_flush(ob);
	free(ob);
}

/*
 * Format a unix time as ISO 8601 UTC ("2025-11-25T12:34:56Z"); a time the
 * C library cannot break down prints as "@<seconds>". The tables use this
 * too, so both outputs spell a time the same way.
 */
void
output_json_time(int64_t t, char *buf, size_t len)
{
	time_t		tt = (time_t)t;
	struct tm	tm;

	int		v[6], i, k;
	char		*p = buf;

	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL) {
		snprintf(buf, len, "@%" PRId64, t);
		return;
	}
	if (len < 21 || tm.tm_year < 1000 - 1900 || tm.tm_year > 9999 - 1900) {
		if (strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			snprintf(buf, len, "@%" PRId64, t);
		return;
	}
	/* What strftime would write, without its cost per call. */
	v[0] = tm.tm_year + 1900;
	v[1] = tm.tm_mon + 1;
	v[2] = tm.tm_mday;
	v[3] = tm.tm_hour;
	v[4] = tm.tm_min;
	v[5] = tm.tm_sec;
	for (k = 1000; k > 0; k /= 10)
		*p++ = (char)('0' + v[0] / k % 10);
	for (i = 1; i < 6; i++) {
		*p++ = "--T::"[i - 1];
		*p++ = (char)('0' + v[i] / 10 % 10);
		*p++ = (char)('0' + v[i] % 10);
	}
	*p++ = 'Z';
	*p = '\0';
}

/*
 * Return name, or "unknown(N)" formatted into buf when the lookup found no
 * name (a newer rasd may send values this rasctl does not know).
 */
const char *
output_json_enum(const char *name, unsigned int value, char *buf, size_t len)
{
	if (name != NULL)
		return name;
	snprintf(buf, len, "unknown(%u)", value);
	return buf;
}

/* Format a 16-byte UUID; NULL if rasd sent something of another size. */
const char *
output_json_uuid(const ProtobufCBinaryData *uuid, char *buf, size_t len)
{
	char	tmp[37];

	if (uuid->len != 16 || uuid->data == NULL || len < sizeof tmp)
		return NULL;
	ras_uuid_format(uuid->data, tmp);
	memcpy(buf, tmp, sizeof tmp);
	return buf;
}

/*
 * Whether rasd covers the VM: false for a libvirt domain that no VMM ever
 * registered. Absent means true (the field's default), so that a rasd
 * that predates the field reads as covering all it lists.
 */
int
output_json_registered(const Ras__VmInfo *vm)
{
	return !vm->has_registered || vm->registered;
}

/* Who a libvirt memory-failure event was for; "unknown(N)" otherwise. */
const char *
output_json_recipient(uint32_t recipient, char *buf, size_t len)
{
	static const char *const names[] = { "hypervisor", "guest" };

	return output_json_enum(recipient < 2 ? names[recipient] : NULL,
	    recipient, buf, len);
}

/* What libvirt did about a memory failure; "unknown(N)" otherwise. */
const char *
output_json_lv_action(uint32_t action, char *buf, size_t len)
{
	static const char *const names[] = { "ignore", "inject", "fatal",
	    "reset" };

	return output_json_enum(action < 4 ? names[action] : NULL, action,
	    buf, len);
}

/*
 * Name of bit number bit of a libvirt memory-failure event's flags;
 * "unknown(N)", N being the flag's value, for a bit this rasctl does not
 * know.
 */
const char *
output_json_lv_flag(unsigned int bit, char *buf, size_t len)
{
	static const char *const names[] = { "action-required",
	    "recursive" };

	if (bit < 2)
		return names[bit];
	snprintf(buf, len, "unknown(%u)", bit < 32 ? 1u << bit : 0);
	return buf;
}

/* A notification member: its name, or null when there is none. */
static void
output_json_notify(struct output_json *j, const char *key, int has,
    uint32_t notify)
{
	char	buf[32];

	if (!has || notify == RAS_NOTIFY_NONE)
		output_json_null(j, key);
	else
		output_json_string(j, key, output_json_enum(
		    ras_notify_name(notify), notify, buf, sizeof buf));
}

/* One VM as an object; slots only for "show", which has the detail. */
static void
output_json_vm(struct output_json *j, const Ras__VmInfo *vm, int slots)
{
	char		 buf[48];
	const Ras__Source *src;
	const Ras__Slot	*slot;
	size_t		 i;
	unsigned int	 bit;

	output_json_object(j, NULL);
	output_json_string(j, "name", vm->name);
	output_json_string(j, "uuid",
	    output_json_uuid(&vm->uuid, buf, sizeof buf));
	output_json_string(j, "arch",
	    output_json_enum(ras_arch_name(vm->arch), vm->arch, buf,
	    sizeof buf));
	output_json_string(j, "state", vm->state);
	output_json_string(j, "libvirt_state", vm->libvirt_state);
	output_json_bool(j, "registered", output_json_registered(vm));
	output_json_uint(j, "pid", vm->pid);
	output_json_uint(j, "generation", vm->generation);
	output_json_bool(j, "profile_pinned", vm->profile_pinned);
	output_json_bool(j, "observing", vm->observing);
	if (vm->has_held_since) {
		output_json_time(vm->held_since, buf, sizeof buf);
		output_json_string(j, "held_since", buf);
		output_json_hex(j, "held_addr", vm->held_addr);
	}
	if (vm->has_released) {
		output_json_time(vm->released, buf, sizeof buf);
		output_json_string(j, "gate_released", buf);
	}
	if (vm->has_rearm_failed)
		output_json_uint(j, "rearm_failed", vm->rearm_failed);
	if (vm->has_cpu_vendor)
		output_json_string(j, "mce_encoding",
		    vm->cpu_vendor == RAS_CPU_AMD ? "amd" : "intel");
	output_json_array(j, "profile");
	for (i = 0; i < vm->n_profile; i++) {
		src = vm->profile[i];
		output_json_object(j, NULL);
		output_json_uint(j, "source_id", src->source_id);
		output_json_notify(j, "notification", 1, src->notify);
		if (src->has_hest_type)
			output_json_uint(j, "hest_type", src->hest_type);
		else
			output_json_null(j, "hest_type");
		output_json_close(j);
	}
	output_json_close(j);
	output_json_array(j, "caps");
	for (bit = 0; bit < 32; bit++) {
		if (vm->caps & (1u << bit))
			output_json_string(j, NULL, output_json_enum(
			    ras_notify_name(bit), bit, buf, sizeof buf));
	}
	output_json_close(j);
	output_json_uint(j, "active_ranges", vm->active_ranges);
	output_json_uint(j, "active_bytes", vm->active_bytes);
	output_json_uint(j, "history_count", vm->history_count);
	output_json_uint(j, "unrecorded", vm->unrecorded);
	if (slots) {
		output_json_array(j, "slots");
		for (i = 0; i < vm->n_slots; i++) {
			slot = vm->slots[i];
			output_json_object(j, NULL);
			output_json_hex(j, "gpa", slot->gpa);
			output_json_hex(j, "hva", slot->hva);
			output_json_uint(j, "size", slot->size);
			output_json_close(j);
		}
		output_json_close(j);
	}
	output_json_close(j);
}

/* list-vms: an array of VM objects. */
void
output_json_vm_list(FILE *fp, const Ras__VmList *list)
{
	struct output_json	j;
	size_t			i;

	output_json_begin(&j, fp, 1);
	output_json_array(&j, NULL);
	for (i = 0; i < list->n_vms; i++)
		output_json_vm(&j, list->vms[i], 0);
	output_json_close(&j);
	output_json_end(&j);
}

/* show: one VM object, with its memory slots. */
void
output_json_vm_info(FILE *fp, const Ras__VmInfo *vm)
{
	struct output_json	j;

	output_json_begin(&j, fp, 1);
	output_json_vm(&j, vm, 1);
	output_json_end(&j);
}

/*
 * What the range's errors of one kind were decided. A rasd older than the
 * per-kind fields sends only the range's decision: it belongs to the
 * range's kind.
 */
void
output_range_decision(const Ras__PoisonRange *r, uint32_t kind,
    struct output_decision *d)
{
	memset(d, 0, sizeof *d);
	if (!r->has_ar_action && !r->has_ao_action) {
		if (r->kind != kind)
			return;
		d->action = r->action;
		d->has_notify = r->has_notify;
		d->notify = r->notify;
		d->source_id = r->source_id;
	} else if (kind == RAS_KIND_AR && r->has_ar_action) {
		d->action = r->ar_action;
		d->has_notify = r->has_ar_notify;
		d->notify = r->ar_notify;
		d->source_id = r->ar_source_id;
	} else if (kind == RAS_KIND_AO && r->has_ao_action) {
		d->action = r->ao_action;
		d->has_notify = r->has_ao_notify;
		d->notify = r->ao_notify;
		d->source_id = r->ao_source_id;
	}
	if (d->has_notify && d->notify == RAS_NOTIFY_NONE)
		d->has_notify = 0;
}

/* A kind's decision as an object, or null when none of that kind. */
static void
output_json_decision(struct output_json *j, const char *key,
    const Ras__PoisonRange *r, uint32_t kind)
{
	struct output_decision	 d;
	char			 buf[32];

	output_range_decision(r, kind, &d);
	if (d.action == 0) {
		output_json_null(j, key);
		return;
	}
	output_json_object(j, key);
	output_json_string(j, "action", output_json_enum(
	    ras_action_name(d.action), d.action, buf, sizeof buf));
	output_json_notify(j, "notification", d.has_notify, d.notify);
	if (d.has_notify)
		output_json_uint(j, "source_id", d.source_id);
	else
		output_json_null(j, "source_id");
	output_json_close(j);
}

/*
 * list-poison: an array of active poisoned ranges. action/notification/
 * source_id are the AR decision if the range has one, else the AO one;
 * "ar" and "ao" say what each kind was decided.
 */
void
output_json_poison_list(FILE *fp, const Ras__PoisonList *list)
{
	struct output_json	 j;

	output_json_begin(&j, fp, 1);
	output_json_array(&j, NULL);
	output_json_poison_rows(&j, list);
	output_json_close(&j);
	output_json_end(&j);
}

/*
 * The ranges of one list-poison page, added to an open array: rasctl
 * streams a long list page by page into one document.
 */
void
output_json_poison_rows(struct output_json *jp, const Ras__PoisonList *list)
{
	struct output_json	 j = *jp;
	const Ras__PoisonRange	*r;
	char			 buf[48];
	size_t			 i;

	for (i = 0; i < list->n_ranges; i++) {
		r = list->ranges[i];
		output_json_object(&j, NULL);
		output_json_hex(&j, "gpa", r->gpa);
		output_json_uint(&j, "length", r->length);
		output_json_string(&j, "kind", output_json_enum(
		    ras_kind_name(r->kind), r->kind, buf, sizeof buf));
		output_json_string(&j, "action", output_json_enum(
		    ras_action_name(r->action), r->action, buf, sizeof buf));
		output_json_notify(&j, "notification", r->has_notify,
		    r->notify);
		if (r->has_source_id)
			output_json_uint(&j, "source_id", r->source_id);
		else
			output_json_null(&j, "source_id");
		output_json_decision(&j, "ar", r, RAS_KIND_AR);
		output_json_decision(&j, "ao", r, RAS_KIND_AO);
		output_json_time(r->first_seen, buf, sizeof buf);
		output_json_string(&j, "first_seen", buf);
		output_json_uint(&j, "records", r->records);
		output_json_close(&j);
	}
	*jp = j;
}

/* history: an array of poison events, oldest first as rasd sends them. */
void
output_json_history(FILE *fp, const Ras__HistoryList *list)
{
	struct output_json	 j;
	const Ras__PoisonEvent	*e;
	char			 buf[48];
	size_t			 i;

	output_json_begin(&j, fp, 1);
	output_json_array(&j, NULL);
	for (i = 0; i < list->n_events; i++) {
		e = list->events[i];
		output_json_object(&j, NULL);
		output_json_uint(&j, "id", e->id);
		output_json_time(e->time, buf, sizeof buf);
		output_json_string(&j, "time", buf);
		output_json_string(&j, "kind", output_json_enum(
		    ras_kind_name(e->kind), e->kind, buf, sizeof buf));
		output_json_hex(&j, "gpa", e->gpa);
		output_json_uint(&j, "length", e->length);
		output_json_string(&j, "action", output_json_enum(
		    ras_action_name(e->action), e->action, buf, sizeof buf));
		output_json_notify(&j, "notification", e->has_notify,
		    e->notify);
		if (e->has_source_id)
			output_json_uint(&j, "source_id", e->source_id);
		else
			output_json_null(&j, "source_id");
		output_json_string(&j, "origin", e->origin);
		output_json_string(&j, "host", e->host);
		output_json_bool(&j, "active", e->active);
		output_json_close(&j);
	}
	output_json_close(&j);
	output_json_end(&j);
}

/*
 * events: an array of the libvirt memory-failure events of a VM, oldest
 * first as rasd sends them.
 */
void
output_json_events(FILE *fp, const Ras__EventList *list)
{
	struct output_json	 j;
	const Ras__LibvirtEvent	*e;
	char			 buf[48];
	size_t			 i;
	unsigned int		 bit;

	output_json_begin(&j, fp, 1);
	output_json_array(&j, NULL);
	for (i = 0; i < list->n_events; i++) {
		e = list->events[i];
		output_json_object(&j, NULL);
		output_json_uint(&j, "id", e->id);
		output_json_time(e->time, buf, sizeof buf);
		output_json_string(&j, "time", buf);
		output_json_string(&j, "recipient",
		    output_json_recipient(e->recipient, buf, sizeof buf));
		output_json_string(&j, "action",
		    output_json_lv_action(e->action, buf, sizeof buf));
		output_json_array(&j, "flags");
		for (bit = 0; bit < 32; bit++) {
			if (e->flags & (1u << bit))
				output_json_string(&j, NULL,
				    output_json_lv_flag(bit, buf, sizeof buf));
		}
		output_json_close(&j);
		output_json_bool(&j, "action_required", (e->flags & 1u) != 0);
		if (e->has_forward_id)
			output_json_uint(&j, "forward_id", e->forward_id);
		else
			output_json_null(&j, "forward_id");
		if (e->has_gpa)
			output_json_hex(&j, "gpa", e->gpa);
		else
			output_json_null(&j, "gpa");
		output_json_close(&j);
	}
	output_json_close(&j);
	output_json_end(&j);
}

/* A command that answers nothing but success: {"ok": true}. */
void
output_json_ok(FILE *fp)
{
	struct output_json	j;

	output_json_begin(&j, fp, 1);
	output_json_object(&j, NULL);
	output_json_bool(&j, "ok", 1);
	output_json_close(&j);
	output_json_end(&j);
}

/*
 * export -o FILE --json: {"vm", "uuid", "generation", "bytes", "file"}.
 * vm and uuid are those inside the bundle (uuid null if it cannot be
 * read); file is null when no file was written.
 */
void
output_json_exported(FILE *fp, const char *vm, const char *uuid,
    uint64_t generation, size_t bytes, const char *file)
{
	struct output_json	j;

	output_json_begin(&j, fp, 1);
	output_json_object(&j, NULL);
	output_json_string(&j, "vm", vm);
	output_json_string(&j, "uuid", uuid);
	output_json_uint(&j, "generation", generation);
	output_json_uint(&j, "bytes", bytes);
	output_json_string(&j, "file", file);
	output_json_close(&j);
	output_json_end(&j);
}

/* A number member with a fraction (printed with up to 6 digits after). */
void
output_json_double(struct output_json *j, const char *key, double v)
{
	char	buf[32];

	output_json_sep(j, key);
	if (v != v || v > 1e300 || v < -1e300)
		output_buf_puts(j->ob, "null");
	else {
		snprintf(buf, sizeof buf, "%.6g", v);
		output_buf_puts(j->ob, buf);
	}
}
