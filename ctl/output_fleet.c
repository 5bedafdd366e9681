/*
 * output_fleet.c -- rasctl fleet hosts: the fleet's hosts as etcd has
 * them, as two tables (hosts, then their VMs) or as JSON; rasctl evacuate
 * and fleet status: a plan or the evacuations' intents.
 *
 * Every string here was written into etcd by some host's rasd, so it is
 * cleaned for the terminal (anything but printable ASCII becomes '?') and
 * escaped for JSON like every other string rasctl prints.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ras.h"
#include "rasctl.h"

#define FLEET_COLS 7
#define FLEET_COLS_MAX 9

/* A cell: printable ASCII only (rasd and etcd are not trusted here). */
static char *
output_fleet_cell(const char *s)
{
	size_t i, n = strlen(s != NULL ? s : "");
	char *c = malloc(n + 2);

	if (c == NULL) {
		fprintf(stderr, "rasctl: out of memory\n");
		exit(RASCTL_EXIT_FAIL);
	}
	for (i = 0; i < n; i++)
		c[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	c[n] = '\0';
	if (n == 0)
		strcpy(c, "-");
	return c;
}

/* Notification types as "SEA,GSIV" ("-" for none). */
static void
output_fleet_types(const uint32_t *t, size_t n, char *buf, size_t len)
{
	const char *name;
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < n && off < len; i++) {
		name = ras_notify_name(t[i]);
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    off ? "," : "", name != NULL ? name : "?");
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "-");
}

/* Print rows of ncols cells, each column as wide as its widest cell. */
static void
output_fleet_table(FILE *fp, char **cells, size_t nrows, size_t ncols)
{
	size_t w[FLEET_COLS_MAX] = { 0 }, r, c, l;

	for (r = 0; r < nrows; r++)
		for (c = 0; c < ncols; c++)
			if ((l = strlen(cells[r * ncols + c])) > w[c])
				w[c] = l;
	for (r = 0; r < nrows; r++) {
		for (c = 0; c < ncols; c++) {
			if (c + 1 == ncols)
				fprintf(fp, "%s\n", cells[r * ncols + c]);
			else
				fprintf(fp, "%-*s  ", (int)w[c],
				    cells[r * ncols + c]);
		}
	}
	for (r = 0; r < nrows * ncols; r++)
		free(cells[r]);
	free(cells);
}

/* Grow a cell array to hold rows rows of ncols. */
static char **
output_fleet_grow(char **cells, size_t rows, size_t ncols)
{
	char **p = realloc(cells, rows * ncols * sizeof *cells);

	if (p == NULL) {
		fprintf(stderr, "rasctl: out of memory\n");
		exit(RASCTL_EXIT_FAIL);
	}
	return p;
}

/* The hosts table, then the VMs table (the VMs of gone hosts: unknown). */
void
output_fleet_hosts(FILE *fp, const Ras__FleetHosts *fh)
{
	static const char *hh[FLEET_COLS] = { "HOST", "STATUS", "HEALTH",
	    "MEMAVAIL", "VMS", "INJECT", "UPDATED" };
	static const char *vh[FLEET_COLS] = { "VM", "UUID", "HOST", "STATE",
	    "ARCH", "PROFILE", "PINNED" };
	const Ras__FleetHost *h;
	const Ras__FleetVm *v;
	char **cells, buf[512], tbuf[64], *p;
	size_t i, k, r, nvms = 0, off;

	cells = output_fleet_grow(NULL, fh->n_hosts + 1, FLEET_COLS);
	for (k = 0; k < FLEET_COLS; k++)
		cells[k] = output_fleet_cell(hh[k]);
	for (i = 0, r = 1; i < fh->n_hosts; i++, r++) {
		h = fh->hosts[i];
		p = buf;
		cells[r * FLEET_COLS] = output_fleet_cell(h->host_id);
		snprintf(buf, sizeof buf, "%s%s", h->up ? "up" : "gone",
		    h->has_self && h->self ? " (this)" : "");
		cells[r * FLEET_COLS + 1] = output_fleet_cell(buf);
		cells[r * FLEET_COLS + 2] = output_fleet_cell(h->health);
		if (h->has_mem_available)
			output_bytes(h->mem_available, buf, sizeof buf);
		else
			strcpy(buf, "-");
		cells[r * FLEET_COLS + 3] = output_fleet_cell(buf);
		snprintf(buf, sizeof buf, "%zu", h->n_vms);
		cells[r * FLEET_COLS + 4] = output_fleet_cell(buf);
		buf[0] = '\0';
		for (k = 0, off = 0; k < h->n_inject && off < sizeof buf; k++) {
			char t[128];

			output_fleet_types(h->inject[k]->notify,
			    h->inject[k]->n_notify, t, sizeof t);
			off += (size_t)snprintf(buf + off, sizeof buf - off,
			    "%s%s:%s", off ? " " : "", h->inject[k]->arch, t);
		}
		cells[r * FLEET_COLS + 5] = output_fleet_cell(p);
		if (h->has_updated && h->updated > 0)
			output_json_time(h->updated, tbuf, sizeof tbuf);
		else
			strcpy(tbuf, "-");
		cells[r * FLEET_COLS + 6] = output_fleet_cell(tbuf);
		nvms += h->n_vms;
	}
	output_fleet_table(fp, cells, fh->n_hosts + 1, FLEET_COLS);
	if (nvms == 0)
		return;
	fputc('\n', fp);
	cells = output_fleet_grow(NULL, nvms + 1, FLEET_COLS);
	for (k = 0; k < FLEET_COLS; k++)
		cells[k] = output_fleet_cell(vh[k]);
	for (i = 0, r = 1; i < fh->n_hosts; i++) {
		h = fh->hosts[i];
		for (k = 0; k < h->n_vms; k++, r++) {
			v = h->vms[k];
			cells[r * FLEET_COLS] = output_fleet_cell(v->name);
			cells[r * FLEET_COLS + 1] = output_fleet_cell(v->uuid);
			cells[r * FLEET_COLS + 2] =
			    output_fleet_cell(h->host_id);
			cells[r * FLEET_COLS + 3] = output_fleet_cell(
			    h->up ? v->state : "unknown");
			cells[r * FLEET_COLS + 4] = output_fleet_cell(v->arch);
			output_fleet_types(v->profile, v->n_profile, buf,
			    sizeof buf);
			cells[r * FLEET_COLS + 5] = output_fleet_cell(buf);
			cells[r * FLEET_COLS + 6] = output_fleet_cell(
			    v->profile_pinned ? "yes" : "no");
		}
	}
	output_fleet_table(fp, cells, nvms + 1, FLEET_COLS);
}

/* A repeated notification type as an array of names. */
static void
output_json_fleet_types(struct output_json *j, const char *key,
    const uint32_t *t, size_t n)
{
	char buf[32];
	size_t i;

	output_json_array(j, key);
	for (i = 0; i < n; i++)
		output_json_string(j, NULL, output_json_enum(
		    ras_notify_name(t[i]), t[i], buf, sizeof buf));
	output_json_close(j);
}

/* One host as a JSON object. */
static void
output_json_fleet_host(struct output_json *j, const Ras__FleetHost *h)
{
	const Ras__FleetVm *v;
	char tbuf[64];
	size_t k;

	output_json_object(j, NULL);
	output_json_string(j, "host", h->host_id);
	output_json_string(j, "status", h->up ? "up" : "gone");
	output_json_bool(j, "self", h->has_self && h->self);
	output_json_string(j, "hostname", h->hostname);
	output_json_string(j, "boot_id", h->boot_id);
	output_json_string(j, "libvirt_uri", h->libvirt_uri);
	output_json_string(j, "peer", h->peer);
	output_json_string(j, "health", h->health);
	output_json_array(j, "reasons");
	for (k = 0; k < h->n_reasons; k++)
		output_json_string(j, NULL, h->reasons[k]);
	output_json_close(j);
	output_json_object(j, "inject");
	for (k = 0; k < h->n_inject; k++)
		output_json_fleet_types(j, h->inject[k]->arch,
		    h->inject[k]->notify, h->inject[k]->n_notify);
	output_json_close(j);
	if (h->has_mem_available)
		output_json_uint(j, "mem_available", h->mem_available);
	else
		output_json_null(j, "mem_available");
	if (h->has_updated && h->updated > 0) {
		output_json_time(h->updated, tbuf, sizeof tbuf);
		output_json_string(j, "updated", tbuf);
	} else
		output_json_null(j, "updated");
	output_json_array(j, "vms");
	for (k = 0; k < h->n_vms; k++) {
		v = h->vms[k];
		output_json_object(j, NULL);
		output_json_string(j, "name", v->name);
		output_json_string(j, "uuid", v->uuid);
		output_json_string(j, "state", h->up ? v->state : "unknown");
		output_json_string(j, "arch", v->arch);
		output_json_bool(j, "profile_pinned", v->profile_pinned);
		output_json_fleet_types(j, "profile", v->profile,
		    v->n_profile);
		output_json_close(j);
	}
	output_json_close(j);
	output_json_close(j);
}

/* The hosts as a JSON array ([] when etcd has none). */
void
output_json_fleet_hosts(FILE *fp, const Ras__FleetHosts *fh)
{
	struct output_json j;
	size_t i;

	output_json_begin(&j, fp, 1);
	output_json_array(&j, NULL);
	for (i = 0; i < fh->n_hosts; i++)
		output_json_fleet_host(&j, fh->hosts[i]);
	output_json_close(&j);
	output_json_end(&j);
}

#define PLAN_COLS 8

/* evacuate and fleet status: who acts, which hosts, then each move. */
void
output_fleet_plan(FILE *fp, const Ras__FleetPlan *p)
{
	static const char *hd[PLAN_COLS] = { "SOURCE", "VM", "DEST", "STATE",
	    "ATTEMPT", "MEMORY", "PROFILE", "REASON" };
	const Ras__FleetMove *m;
	char **cells, buf[512];
	size_t i, k, r;

	if (p->note != NULL && p->note[0] != '\0') {
		output_text(fp, p->note);
		fputc('\n', fp);
	}
	fprintf(fp, "controller: ");
	output_text(fp, p->controller != NULL && p->controller[0] ?
	    p->controller : "none acting");
	fputc('\n', fp);
	for (i = 0; i < p->n_hosts; i++) {
		fprintf(fp, "evacuating: ");
		output_text(fp, p->hosts[i]->host);
		fprintf(fp, " (");
		output_text(fp, p->hosts[i]->why);
		fprintf(fp, ")\n");
	}
	if (p->n_moves == 0) {
		fprintf(fp, "no moves\n");
		return;
	}
	fputc('\n', fp);
	cells = output_fleet_grow(NULL, p->n_moves + 1, PLAN_COLS);
	for (k = 0; k < PLAN_COLS; k++)
		cells[k] = output_fleet_cell(hd[k]);
	for (i = 0, r = 1; i < p->n_moves; i++, r++) {
		m = p->moves[i];
		cells[r * PLAN_COLS] = output_fleet_cell(m->source);
		cells[r * PLAN_COLS + 1] = output_fleet_cell(m->name);
		cells[r * PLAN_COLS + 2] = output_fleet_cell(m->dest);
		cells[r * PLAN_COLS + 3] = output_fleet_cell(m->state);
		snprintf(buf, sizeof buf, "%u", m->has_attempt ? m->attempt :
		    0);
		cells[r * PLAN_COLS + 4] = output_fleet_cell(buf);
		if (m->has_memory && m->memory > 0)
			output_bytes(m->memory, buf, sizeof buf);
		else
			strcpy(buf, "-");
		cells[r * PLAN_COLS + 5] = output_fleet_cell(buf);
		output_fleet_types(m->profile, m->n_profile, buf, sizeof buf);
		cells[r * PLAN_COLS + 6] = output_fleet_cell(buf);
		cells[r * PLAN_COLS + 7] = output_fleet_cell(m->reason);
	}
	output_fleet_table(fp, cells, p->n_moves + 1, PLAN_COLS);
}

/* The same as one JSON object. */
void
output_json_fleet_plan(FILE *fp, const Ras__FleetPlan *p)
{
	const Ras__FleetMove *m;
	struct output_json j;
	char tbuf[64];
	size_t i;

	output_json_begin(&j, fp, 1);
	output_json_object(&j, NULL);
	if (p->controller != NULL && p->controller[0])
		output_json_string(&j, "controller", p->controller);
	else
		output_json_null(&j, "controller");
	output_json_bool(&j, "dry_run", p->has_dry_run && p->dry_run);
	output_json_string(&j, "note", p->note != NULL ? p->note : "");
	output_json_array(&j, "hosts");
	for (i = 0; i < p->n_hosts; i++) {
		output_json_object(&j, NULL);
		output_json_string(&j, "host", p->hosts[i]->host);
		output_json_string(&j, "why", p->hosts[i]->why);
		if (p->hosts[i]->health != NULL)
			output_json_string(&j, "health", p->hosts[i]->health);
		output_json_close(&j);
	}
	output_json_close(&j);
	output_json_array(&j, "moves");
	for (i = 0; i < p->n_moves; i++) {
		m = p->moves[i];
		output_json_object(&j, NULL);
		output_json_string(&j, "source", m->source);
		output_json_string(&j, "vm", m->name);
		output_json_string(&j, "uuid", m->uuid);
		output_json_string(&j, "arch", m->arch != NULL ? m->arch : "");
		if (m->dest != NULL && m->dest[0])
			output_json_string(&j, "dest", m->dest);
		else
			output_json_null(&j, "dest");
		output_json_string(&j, "state", m->state);
		output_json_string(&j, "reason", m->reason != NULL ?
		    m->reason : "");
		output_json_uint(&j, "attempt", m->attempt);
		output_json_uint(&j, "memory", m->memory);
		output_json_fleet_types(&j, "profile", m->profile,
		    m->n_profile);
		if (m->has_updated && m->updated > 0) {
			output_json_time(m->updated, tbuf, sizeof tbuf);
			output_json_string(&j, "updated", tbuf);
		} else
			output_json_null(&j, "updated");
		output_json_close(&j);
	}
	output_json_close(&j);
	output_json_close(&j);
	output_json_end(&j);
}
