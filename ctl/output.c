/*
 * output.c -- rasctl's output for people: aligned tables and "key: value"
 * listings.
 *
 * DESIGN: a table is collected whole and then printed, so every column is
 * as wide as its widest cell and nothing is truncated; numbers and
 * addresses are right-aligned so magnitudes line up. Every string that
 * came from rasd goes through output_clean first: a VM name is chosen by
 * whoever defined the VM, and must not be able to send escape sequences
 * to the operator's terminal. Programs should read --json, not this.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ras.h"
#include "rasctl.h"

#define OUTPUT_COLS_MAX	12
#define OUTPUT_GAP	"  "

/* A table being filled: headers, then rows of owned cell strings. */
struct output_table {
	size_t		 ncols;
	const char	*head[OUTPUT_COLS_MAX];
	int		 right[OUTPUT_COLS_MAX];
	size_t		 width[OUTPUT_COLS_MAX];
	char		**cells;	/* nrows * ncols */
	size_t		 nrows;
	size_t		 cap;		/* rows allocated */
};

/* Allocate or die: the one place where rasctl gives up on memory. */
static void *
output_alloc(void *old, size_t n, size_t size)
{
	void	*p;

	if (size != 0 && n > SIZE_MAX / size)
		p = NULL;
	else
		p = realloc(old, n * size == 0 ? 1 : n * size);
	if (p == NULL) {
		fprintf(stderr, "rasctl: out of memory\n");
		exit(RASCTL_EXIT_FAIL);
	}
	return p;
}

/*
 * Copy s with everything a terminal could act on replaced by '?': C0 and
 * C1 control characters, DEL and bytes that are not valid UTF-8.
 */
static char *
output_clean(const char *s)
{
	const unsigned char	*p = (const unsigned char *)(s ? s : "");
	size_t			 len = strlen((const char *)p), i = 0, o = 0, n;
	char			*out;

	out = output_alloc(NULL, len + 1, 1);
	while (i < len) {
		if (p[i] >= 0x20 && p[i] < 0x7f) {
			out[o++] = (char)p[i++];
			continue;
		}
		n = p[i] >= 0x80 ? output_json_utf8_len(p + i, len - i) : 0;
		/* U+0080..U+009F are the C1 controls, CSI among them. */
		if (n == 0 || (n == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0)) {
			out[o++] = '?';
			i += n == 0 ? 1 : n;
			continue;
		}
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return out;
}

/* Write a string from rasd, made safe for a terminal. */
void
output_text(FILE *fp, const char *s)
{
	char	*c = output_clean(s);

	fputs(c, fp);
	free(c);
}

/* Columns a cleaned string occupies: one per code point. */
static size_t
output_width(const char *s)
{
	size_t	w = 0;

	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	}
	return w;
}

/*
 * Format a byte count for people: "512B", "4.0K", "2.0M", "1.5G", with
 * binary units; exact values are in --json.
 */
void
output_bytes(uint64_t v, char *buf, size_t len)
{
	static const char	 units[] = "KMGTPE";
	double			 d = (double)v;
	size_t			 u = 0;

	if (v < 1024) {
		snprintf(buf, len, "%" PRIu64 "B", v);
		return;
	}
	d /= 1024.0;
	/* Move up before "1024.0K" would be printed. */
	while (d >= 1023.95 && u + 1 < sizeof units - 1) {
		d /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%.1f%c", d, units[u]);
}

/* Start a table with ncols columns; right lists right-aligned ones. */
static void
output_table_init(struct output_table *t, size_t ncols,
    const char *const head[], const int right[])
{
	size_t	c;

	memset(t, 0, sizeof *t);
	t->ncols = ncols;
	for (c = 0; c < ncols; c++) {
		t->head[c] = head[c];
		t->right[c] = right[c];
		t->width[c] = output_width(head[c]);
	}
}

/* Add one row; cells are copied and cleaned. */
static void
output_table_add(struct output_table *t, const char *const cells[])
{
	char	**row;
	size_t	  c, w;

	if (t->nrows == t->cap) {
		t->cap = t->cap == 0 ? 16 : t->cap * 2;
		t->cells = output_alloc(t->cells, t->cap * t->ncols,
		    sizeof *t->cells);
	}
	row = t->cells + t->nrows * t->ncols;
	for (c = 0; c < t->ncols; c++) {
		row[c] = output_clean(cells[c]);
		if ((w = output_width(row[c])) > t->width[c])
			t->width[c] = w;
	}
	t->nrows++;
}

/* Print one line of the table; no trailing blanks. */
static void
output_table_line(FILE *fp, const struct output_table *t,
    const char *const cells[])
{
	size_t	c, pad, i;

	for (c = 0; c < t->ncols; c++) {
		pad = t->width[c] - output_width(cells[c]);
		if (c > 0)
			fputs(OUTPUT_GAP, fp);
		if (t->right[c]) {
			for (i = 0; i < pad; i++)
				fputc(' ', fp);
		}
		fputs(cells[c], fp);
		if (!t->right[c] && c + 1 < t->ncols) {
			for (i = 0; i < pad; i++)
				fputc(' ', fp);
		}
	}
	fputc('\n', fp);
}

/* Free a table's rows. */
static void
output_table_free(struct output_table *t)
{
	size_t	r;

	for (r = 0; r < t->nrows * t->ncols; r++)
		free(t->cells[r]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* Print the header and all rows, then free the table. */
static void
output_table_print(FILE *fp, struct output_table *t)
{
	size_t	r;

	output_table_line(fp, t, t->head);
	for (r = 0; r < t->nrows; r++)
		output_table_line(fp, t,
		    (const char *const *)t->cells + r * t->ncols);
	output_table_free(t);
}

/* Name of a notification type for a cell; "-" when there is none. */
static const char *
output_notify(int has, uint32_t notify, char *buf, size_t len)
{
	if (!has || notify == RAS_NOTIFY_NONE)
		return "-";
	return output_json_enum(ras_notify_name(notify), notify, buf, len);
}

/* What to call a VM in a sentence: its name, else its UUID. */
static const char *
output_vm_label(const char *name, const ProtobufCBinaryData *uuid,
    char *buf, size_t len)
{
	const char	*u;

	if (name != NULL && *name != '\0')
		return name;
	u = output_json_uuid(uuid, buf, len);
	return u != NULL ? u : "the VM";
}

/*
 * The boot profile in one cell, "SEA:0,GPIO:1" (notification:source id),
 * or "-" when the VM has none.
 */
static void
output_profile(const Ras__VmInfo *vm, char *buf, size_t len)
{
	char	 name[32];
	size_t	 i, o = 0;
	int	 n;

	snprintf(buf, len, "-");
	for (i = 0; i < vm->n_profile && o < len; i++) {
		n = snprintf(buf + o, len - o, "%s%s:%" PRIu32,
		    i > 0 ? "," : "",
		    output_notify(1, vm->profile[i]->notify, name, sizeof name),
		    vm->profile[i]->source_id);
		if (n < 0)
			break;
		o += (size_t)n;
	}
}

/*
 * list-vms: one row per VM, or a sentence when rasd knows none. A libvirt
 * domain that no VMM registered with rasd ("not-covered") has only a
 * name, a UUID and libvirt's state; its other cells are "-".
 */
void
output_vm_list(FILE *fp, const Ras__VmList *list)
{
	static const char *const head[] = { "NAME", "UUID", "ARCH", "STATE",
	    "LIBVIRT", "PID", "POISON", "BYTES", "PROFILE", "PINNED" };
	static const int right[] = { 0, 0, 0, 0, 0, 1, 1, 1, 0, 0 };
	struct output_table	 t;
	const Ras__VmInfo	*vm;
	const char		*cells[10];
	char			 uuid[37], arch[32], pid[16], ranges[16];
	char			 bytes[16], profile[1024];
	size_t			 i, c;

	if (list->n_vms == 0) {
		fprintf(fp, "no VMs known to rasd\n");
		return;
	}
	output_table_init(&t, 10, head, right);
	for (i = 0; i < list->n_vms; i++) {
		vm = list->vms[i];
		cells[0] = vm->name;
		cells[1] = output_json_uuid(&vm->uuid, uuid, sizeof uuid);
		if (cells[1] == NULL)
			cells[1] = "-";
		cells[3] = vm->state;
		cells[4] = vm->libvirt_state != NULL ? vm->libvirt_state : "-";
		if (!output_json_registered(vm)) {
			if (vm->state == NULL || *vm->state == '\0')
				cells[3] = "not-covered";
			cells[2] = "-";
			for (c = 5; c < 10; c++)
				cells[c] = "-";
			output_table_add(&t, cells);
			continue;
		}
		snprintf(pid, sizeof pid, "%" PRIu32, vm->pid);
		snprintf(ranges, sizeof ranges, "%" PRIu32, vm->active_ranges);
		output_bytes(vm->active_bytes, bytes, sizeof bytes);
		output_profile(vm, profile, sizeof profile);
		cells[2] = output_json_enum(ras_arch_name(vm->arch), vm->arch,
		    arch, sizeof arch);
		cells[5] = vm->pid != 0 ? pid : "-";
		cells[6] = ranges;
		cells[7] = bytes;
		cells[8] = profile;
		cells[9] = vm->profile_pinned ? "yes" : "no";
		output_table_add(&t, cells);
	}
	output_table_print(fp, &t);
}

/* Start a "key: value" line with the key padded to one column. */
static void
output_key(FILE *fp, const char *key)
{
	fprintf(fp, "%s:%*s", key, (int)(16 - strlen(key)), "");
}

/* show: the whole record of one VM as "key: value" lines. */
void
output_vm_info(FILE *fp, const Ras__VmInfo *vm)
{
	const Ras__Source	*src;
	const Ras__Slot		*slot;
	char			 buf[48], size[16];
	size_t			 i;
	unsigned int		 bit;
	int			 any = 0;

	output_key(fp, "name");
	output_text(fp, vm->name);
	fputc('\n', fp);
	output_key(fp, "uuid");
	fprintf(fp, "%s\n", output_json_uuid(&vm->uuid, buf, sizeof buf) ?
	    buf : "-");
	output_key(fp, "arch");
	fprintf(fp, "%s\n", output_json_enum(ras_arch_name(vm->arch),
	    vm->arch, buf, sizeof buf));
	output_key(fp, "state");
	output_text(fp, vm->state);
	fputc('\n', fp);
	output_key(fp, "libvirt");
	output_text(fp, vm->libvirt_state != NULL ? vm->libvirt_state : "-");
	fputc('\n', fp);
	output_key(fp, "pid");
	if (vm->pid != 0)
		fprintf(fp, "%" PRIu32 "\n", vm->pid);
	else
		fprintf(fp, "-\n");
	output_key(fp, "generation");
	fprintf(fp, "%" PRIu64 "\n", vm->generation);
	output_key(fp, "profile pinned");
	fprintf(fp, "%s\n", vm->profile_pinned ? "yes" : "no");
	if (vm->has_held_since) {
		output_json_time(vm->held_since, buf, sizeof buf);
		output_key(fp, "held");
		fprintf(fp, "since %s: stop-vm, nothing the guest can be told "
		    "reports the AR at gpa 0x%" PRIx64 "; it runs again after "
		    "a reset\n", buf, vm->held_addr);
	}
	if (vm->has_released) {
		output_json_time(vm->released, buf, sizeof buf);
		output_key(fp, "gate");
		fprintf(fp, "released by the operator at %s: the guest runs "
		    "without a final sync (see history)\n", buf);
	}
	if (vm->has_rearm_failed) {
		output_key(fp, "re-arm");
		fprintf(fp, "%" PRIu32 " ranges cannot be re-armed here "
		    "(see history, origin pre-flight or operator)\n",
		    vm->rearm_failed);
	}
	if (vm->observing) {
		output_key(fp, "mode");
		fprintf(fp, "observing: the VMM's own handler acts; "
		    "decisions record what it does\n");
	}
	if (vm->has_cpu_vendor) {
		output_key(fp, "mce encoding");
		fprintf(fp, "%s\n", vm->cpu_vendor == RAS_CPU_AMD ?
		    "AMD (the guest's CPU is AuthenticAMD)" :
		    vm->cpu_vendor == RAS_CPU_INTEL ?
		    "Intel (the guest's CPU is GenuineIntel)" :
		    "Intel (the guest's vendor not given; QEMU before 9.1 "
		    "encodes every vendor so)");
	}
	for (i = 0; i < vm->n_profile; i++) {
		src = vm->profile[i];
		output_key(fp, "profile");
		fprintf(fp, "source %" PRIu32 ": %s", src->source_id,
		    output_notify(1, src->notify, buf, sizeof buf));
		if (!src->has_hest_type)
			fprintf(fp, " (declared)\n");
		else if (src->hest_type == 9)
			fprintf(fp, " (GHES)\n");
		else if (src->hest_type == 10)
			fprintf(fp, " (GHESv2)\n");
		else
			fprintf(fp, " (HEST type %" PRIu32 ")\n",
			    src->hest_type);
	}
	if (vm->n_profile == 0) {
		output_key(fp, "profile");
		fprintf(fp, "none\n");
	}
	output_key(fp, "caps");
	for (bit = 0; bit < 32; bit++) {
		if (vm->caps & (1u << bit)) {
			fprintf(fp, "%s%s", any ? " " : "",
			    output_json_enum(ras_notify_name(bit), bit, buf,
			    sizeof buf));
			any = 1;
		}
	}
	fprintf(fp, "%s\n", any ? "" : "none");
	output_key(fp, "active ranges");
	fprintf(fp, "%" PRIu32 "\n", vm->active_ranges);
	output_key(fp, "active bytes");
	output_bytes(vm->active_bytes, size, sizeof size);
	fprintf(fp, "%s (%" PRIu64 ")\n", size, vm->active_bytes);
	output_key(fp, "history events");
	fprintf(fp, "%" PRIu64 "\n", vm->history_count);
	if (vm->unrecorded != 0) {
		output_key(fp, "unrecorded");
		fprintf(fp, "%" PRIu64 " local decisions its VMM could not "
		    "keep for replay\n", vm->unrecorded);
	}
	for (i = 0; i < vm->n_slots; i++) {
		slot = vm->slots[i];
		output_bytes(slot->size, size, sizeof size);
		output_key(fp, "slot");
		fprintf(fp, "gpa 0x%" PRIx64 " hva 0x%" PRIx64 " size %s\n",
		    slot->gpa, slot->hva, size);
	}
	if (vm->n_slots == 0) {
		output_key(fp, "slot");
		fprintf(fp, "none\n");
	}
}

/* A kind's decision in one cell: "SEA/0", "stop-vm", "-" for none. */
static const char *
output_decision_cell(const Ras__PoisonRange *r, uint32_t kind, char *buf,
    size_t len)
{
	struct output_decision	 d;
	char			 name[32];

	output_range_decision(r, kind, &d);
	if (d.action == 0)
		return "-";
	if (d.action == RAS_ACTION_INJECT && d.has_notify) {
		snprintf(buf, len, "%s/%" PRIu32, output_json_enum(
		    ras_notify_name(d.notify), d.notify, name, sizeof name),
		    d.source_id);
		return buf;
	}
	return output_json_enum(ras_action_name(d.action), d.action, buf,
	    len);
}

/*
 * One list-poison row's cells. Every cell is made here from numbers and
 * rasctl's own names (ASCII, nothing to clean); a cell the row before had
 * too (same length, time or decision: most rows of a long list) is kept
 * as it is rather than formatted again.
 */
struct output_poison_row {
	char			 cell[7][48];
	size_t			 w[7];
	int			 have;		/* a row before */
	uint64_t		 len;
	int64_t			 seen;
	struct output_decision	 ar, ao;
};

static void
output_poison_cells(const Ras__PoisonRange *r, struct output_poison_row *x)
{
	struct output_decision	 ar, ao;
	const char		*k;

	x->w[0] = output_fmt_hex(x->cell[0], r->gpa);
	if (!x->have || r->length != x->len) {
		output_bytes(r->length, x->cell[1], sizeof x->cell[1]);
		x->w[1] = strlen(x->cell[1]);
		x->len = r->length;
	}
	k = output_json_enum(ras_kind_name(r->kind), r->kind, x->cell[2],
	    sizeof x->cell[2]);
	if (k != x->cell[2])
		snprintf(x->cell[2], sizeof x->cell[2], "%s", k);
	x->w[2] = strlen(x->cell[2]);
	output_range_decision(r, RAS_KIND_AR, &ar);
	output_range_decision(r, RAS_KIND_AO, &ao);
	if (!x->have || memcmp(&ar, &x->ar, sizeof ar) != 0) {
		k = output_decision_cell(r, RAS_KIND_AR, x->cell[3],
		    sizeof x->cell[3]);
		if (k != x->cell[3])
			snprintf(x->cell[3], sizeof x->cell[3], "%s", k);
		x->w[3] = strlen(x->cell[3]);
		x->ar = ar;
	}
	if (!x->have || memcmp(&ao, &x->ao, sizeof ao) != 0) {
		k = output_decision_cell(r, RAS_KIND_AO, x->cell[4],
		    sizeof x->cell[4]);
		if (k != x->cell[4])
			snprintf(x->cell[4], sizeof x->cell[4], "%s", k);
		x->w[4] = strlen(x->cell[4]);
		x->ao = ao;
	}
	if (!x->have || r->first_seen != x->seen) {
		output_json_time(r->first_seen, x->cell[5], sizeof x->cell[5]);
		x->w[5] = strlen(x->cell[5]);
		x->seen = r->first_seen;
	}
	x->w[6] = output_fmt_uint(x->cell[6], r->records);
	x->cell[6][x->w[6]] = '\0';
	x->cell[0][x->w[0]] = '\0';
	x->have = 1;
}

/* One table line: cells padded to the widths (right-aligned or left). */
static void
output_poison_line(struct output_buf *ob, const char *const cells[],
    const size_t w[], const size_t width[], const int right[], size_t n)
{
	size_t	c, pad;

	for (c = 0; c < n; c++) {
		pad = w[c] < width[c] ? width[c] - w[c] : 0;
		if (c > 0)
			output_buf_puts(ob, OUTPUT_GAP);
		if (right[c])
			output_buf_pad(ob, pad);
		output_buf_write(ob, cells[c], w[c]);
		if (!right[c] && c + 1 < n)
			output_buf_pad(ob, pad);
	}
	output_buf_putc(ob, '\n');
}

/*
 * list-poison: the VM's active poisoned ranges, with what the range's AR
 * and AO errors were each decided (notification/source, or the action).
 * They come in pages (rasctl asks page by page); each page is printed as
 * it comes, with the column widths of the first one, and with room for
 * any 64-bit address when more pages follow (more). A list that fits in
 * one page prints as one table. Rows are formatted into rasctl's own
 * buffer: a million of them print in a fraction of a second.
 */
void
output_poison_page(FILE *fp, const Ras__PoisonList *list,
    struct output_pages *pg, int more)
{
	static const char *const head[] = { "GPA", "LENGTH", "KIND",
	    "AR DECISION", "AO DECISION", "FIRST SEEN", "RECORDS" };
	static const int right[] = { 1, 1, 0, 0, 0, 0, 1 };
	struct output_poison_row *x;
	struct output_buf	*ob;
	const char		*cells[7];
	char			 label[48];
	size_t			 i, c, hw[7];

	if (pg->rows == 0 && list->n_ranges == 0) {
		fprintf(fp, "no poisoned ranges for ");
		output_text(fp, output_vm_label(list->name, &list->uuid, label,
		    sizeof label));
		fputc('\n', fp);
		return;
	}
	ob = output_alloc(NULL, 1, sizeof *ob);
	x = output_alloc(NULL, 1, sizeof *x);
	output_buf_init(ob, fp);
	for (c = 0; c < 7; c++)
		cells[c] = x->cell[c];
	if (pg->rows == 0) {
		for (c = 0; c < 7; c++)
			pg->width[c] = hw[c] = strlen(head[c]);
		x->have = 0;
		for (i = 0; i < list->n_ranges; i++) {
			output_poison_cells(list->ranges[i], x);
			for (c = 0; c < 7; c++)
				if (x->w[c] > pg->width[c])
					pg->width[c] = x->w[c];
		}
		if (more && pg->width[0] < 18)
			pg->width[0] = 18;	/* "0x" and 16 digits */
		if (more && pg->width[6] < 10)
			pg->width[6] = 10;	/* any uint32 */
		output_poison_line(ob, head, hw, pg->width, right, 7);
	}
	x->have = 0;
	for (i = 0; i < list->n_ranges; i++) {
		output_poison_cells(list->ranges[i], x);
		output_poison_line(ob, cells, x->w, pg->width, right, 7);
	}
	pg->rows += list->n_ranges;
	output_buf_flush(ob);
	free(x);
	free(ob);
}

/* list-poison in one answer. */
void
output_poison_list(FILE *fp, const Ras__PoisonList *list)
{
	struct output_pages	 pg;

	memset(&pg, 0, sizeof pg);
	output_poison_page(fp, list, &pg, 0);
}

/* history: every recorded poison event of the VM, active or retired. */
void
output_history(FILE *fp, const Ras__HistoryList *list)
{
	static const char *const head[] = { "ID", "TIME", "KIND", "GPA",
	    "LENGTH", "ACTION", "NOTIFY", "SOURCE", "ORIGIN", "HOST",
	    "ACTIVE" };
	static const int right[] = { 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0 };
	struct output_table	 t;
	const Ras__PoisonEvent	*e;
	const char		*cells[11];
	char			 id[24], when[48], kind[32], gpa[24], len[16];
	char			 action[32], notify[32], source[16];
	size_t			 i;

	if (list->n_events == 0) {
		fprintf(fp, "no poison history for ");
		output_text(fp, output_vm_label(list->name, &list->uuid, when,
		    sizeof when));
		fputc('\n', fp);
		return;
	}
	output_table_init(&t, 11, head, right);
	for (i = 0; i < list->n_events; i++) {
		e = list->events[i];
		snprintf(id, sizeof id, "%" PRIu64, e->id);
		output_json_time(e->time, when, sizeof when);
		snprintf(gpa, sizeof gpa, "0x%" PRIx64, e->gpa);
		output_bytes(e->length, len, sizeof len);
		if (e->has_source_id)
			snprintf(source, sizeof source, "%" PRIu32,
			    e->source_id);
		cells[0] = id;
		cells[1] = when;
		cells[2] = output_json_enum(ras_kind_name(e->kind), e->kind,
		    kind, sizeof kind);
		cells[3] = gpa;
		cells[4] = len;
		cells[5] = output_json_enum(ras_action_name(e->action),
		    e->action, action, sizeof action);
		cells[6] = output_notify(e->has_notify, e->notify, notify,
		    sizeof notify);
		cells[7] = e->has_source_id ? source : "-";
		cells[8] = e->origin;
		cells[9] = e->host;
		cells[10] = e->active ? "yes" : "no";
		output_table_add(&t, cells);
	}
	output_table_print(fp, &t);
}

/* The flags of a libvirt memory-failure event, comma-joined, or "-". */
static void
output_lv_flags(uint32_t flags, char *buf, size_t len)
{
	char		 name[32];
	size_t		 o = 0;
	unsigned int	 bit;
	int		 n;

	snprintf(buf, len, "-");
	for (bit = 0; bit < 32 && o < len; bit++) {
		if (!(flags & (1u << bit)))
			continue;
		n = snprintf(buf + o, len - o, "%s%s", o > 0 ? "," : "",
		    output_json_lv_flag(bit, name, sizeof name));
		if (n < 0)
			break;
		o += (size_t)n;
	}
}

/* events: the libvirt memory-failure events of the VM. */
void
output_events(FILE *fp, const Ras__EventList *list)
{
	static const char *const head[] = { "ID", "TIME", "RECIPIENT",
	    "ACTION", "FLAGS", "FORWARD", "GPA" };
	static const int right[] = { 1, 0, 0, 0, 0, 1, 1 };
	struct output_table	 t;
	const Ras__LibvirtEvent	*e;
	const char		*cells[7];
	char			 id[24], when[48], recipient[32], action[32];
	char			 flags[1024], fwd[24], gpa[24];
	size_t			 i;

	if (list->n_events == 0) {
		fprintf(fp, "no libvirt memory-failure events for ");
		output_text(fp, output_vm_label(list->name, &list->uuid, when,
		    sizeof when));
		fputc('\n', fp);
		return;
	}
	output_table_init(&t, 7, head, right);
	for (i = 0; i < list->n_events; i++) {
		e = list->events[i];
		snprintf(id, sizeof id, "%" PRIu64, e->id);
		output_json_time(e->time, when, sizeof when);
		output_lv_flags(e->flags, flags, sizeof flags);
		snprintf(fwd, sizeof fwd, "%" PRIu64, e->forward_id);
		snprintf(gpa, sizeof gpa, "0x%" PRIx64, e->gpa);
		cells[0] = id;
		cells[1] = when;
		cells[2] = output_json_recipient(e->recipient, recipient,
		    sizeof recipient);
		cells[3] = output_json_lv_action(e->action, action,
		    sizeof action);
		cells[4] = flags;
		cells[5] = e->has_forward_id ? fwd : "-";
		cells[6] = e->has_gpa ? gpa : "-";
		output_table_add(&t, cells);
	}
	output_table_print(fp, &t);
}

/*
 * export -o FILE: "exported vm1 generation 3 (1234 bytes) to FILE". The
 * VM name comes from rasd and is cleaned; the path is the operator's.
 */
void
output_exported(FILE *fp, const char *vm, uint64_t generation, size_t bytes,
    const char *file)
{
	fputs("exported ", fp);
	output_text(fp, vm);
	fprintf(fp, " generation %" PRIu64 " (%zu bytes) to ", generation,
	    bytes);
	output_text(fp, file);
	fputc('\n', fp);
}

/* import: "imported FILE" once rasd has taken the bundle in. */
void
output_imported(FILE *fp, const char *file)
{
	fputs("imported ", fp);
	output_text(fp, file);
	fputc('\n', fp);
}
