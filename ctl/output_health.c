/*
 * output_health.c -- `rasctl health`: the host's memory health for people
 * (a summary, the reasons, the buckets and the DIMMs) and as JSON.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rasctl.h"

/* Print s cleaned, padded with blanks to width. */
static void
output_health_cell(FILE *fp, const char *s, int width)
{
	int	n = (int)strlen(s != NULL ? s : "");

	output_text(fp, s != NULL && *s != '\0' ? s : "-");
	if (s == NULL || *s == '\0')
		n = 1;
	for (; n < width; n++)
		fputc(' ', fp);
}

/* The widest of a column's cells, header included. */
static int
output_health_width(const Ras__HealthReport *h, int dimms, size_t col,
    const char *head)
{
	size_t	i, w = strlen(head), n;

	for (i = 0; i < (dimms ? h->n_dimms : h->n_windows); i++) {
		const char	*s;

		if (dimms)
			s = col == 0 ? h->dimms[i]->key :
			    h->dimms[i]->location;
		else
			s = col == 0 ? h->windows[i]->name :
			    h->windows[i]->threshold;
		n = s != NULL && *s != '\0' ? strlen(s) : 1;
		if (n > w)
			w = n;
	}
	return (int)w;
}

/* An optional counter: the number, or "-". */
static void
output_health_count(FILE *fp, int has, uint64_t v, int width)
{
	char	buf[32];

	if (has)
		snprintf(buf, sizeof buf, "%" PRIu64, v);
	else
		snprintf(buf, sizeof buf, "-");
	fprintf(fp, "%*s", width, buf);
}

/* The report for people. */
void
output_health(FILE *fp, const Ras__HealthReport *h)
{
	char	 t[32];
	size_t	 i;
	int	 wn, wt, wk, wl;

	fprintf(fp, "state: ");
	output_text(fp, h->state);
	fprintf(fp, "\nscore: %u\n", h->score);
	fprintf(fp, "buckets say: ");
	output_text(fp, h->auto_state);
	fprintf(fp, "\noverride: ");
	output_text(fp, h->override);
	if (h->has_override_since) {
		output_json_time(h->override_since, t, sizeof t);
		fprintf(fp, " (uid %u, since %s", h->override_uid, t);
		if (h->override_reason != NULL && *h->override_reason) {
			fprintf(fp, ": ");
			output_text(fp, h->override_reason);
		}
		fputc(')', fp);
	}
	fprintf(fp, "\nuncorrected errors forwarded: %" PRIu64 "\n",
	    h->ue_total);
	fprintf(fp, "corrected errors from: ");
	output_text(fp, h->rate_source);
	if (h->has_last_poll) {
		output_json_time(h->last_poll, t, sizeof t);
		fprintf(fp, " (last poll %s)", t);
	}
	fputc('\n', fp);
	if (h->poll_error != NULL && *h->poll_error) {
		fprintf(fp, "poll: ");
		output_text(fp, h->poll_error);
		fputc('\n', fp);
	}
	fprintf(fp, "reasons:%s\n", h->n_reasons == 0 ? " none" : "");
	for (i = 0; i < h->n_reasons; i++) {
		fprintf(fp, "  ");
		output_text(fp, h->reasons[i]);
		fputc('\n', fp);
	}

	wn = output_health_width(h, 0, 0, "NAME");
	wt = output_health_width(h, 0, 1, "THRESHOLD");
	fprintf(fp, "\n%-5s  %-*s  %-11s  %-8s  %-*s  %8s  %-7s  %s\n",
	    "SCOPE", wn, "NAME", "ERRORS", "FOR", wt, "THRESHOLD", "LEVEL",
	    "TRIPPED", "TOTAL");
	for (i = 0; i < h->n_windows; i++) {
		const Ras__HealthWindow	*w = h->windows[i];

		output_health_cell(fp, w->scope, 5);
		fprintf(fp, "  ");
		output_health_cell(fp, w->name, wn);
		fprintf(fp, "  ");
		output_health_cell(fp, w->errors, 11);
		fprintf(fp, "  ");
		output_health_cell(fp, w->level_for, 8);
		fprintf(fp, "  ");
		output_health_cell(fp, w->threshold, wt);
		fprintf(fp, "  %8.2f  %-7s  %" PRIu64 "\n", w->level,
		    w->tripped ? "yes" : "no", w->total);
	}
	if (h->n_dimms == 0)
		return;
	wk = output_health_width(h, 1, 0, "DIMM");
	wl = output_health_width(h, 1, 1, "LOCATION");
	fprintf(fp, "\n%-*s  %-*s  %8s  %8s  %8s  %8s  %8s  %8s  %-8s  %s\n",
	    wk, "DIMM", wl, "LOCATION", "EDAC CE", "EDAC UE", "RD CE",
	    "RD UE", "CE", "UE", "STATE", "PRESENT");
	for (i = 0; i < h->n_dimms; i++) {
		const Ras__HealthDimm	*d = h->dimms[i];

		output_health_cell(fp, d->key, wk);
		fprintf(fp, "  ");
		output_health_cell(fp, d->location, wl);
		fprintf(fp, "  ");
		output_health_count(fp, d->has_edac_ce, d->edac_ce, 8);
		fprintf(fp, "  ");
		output_health_count(fp, d->has_edac_ue, d->edac_ue, 8);
		fprintf(fp, "  ");
		output_health_count(fp, d->has_rasdaemon_ce, d->rasdaemon_ce,
		    8);
		fprintf(fp, "  ");
		output_health_count(fp, d->has_rasdaemon_ue, d->rasdaemon_ue,
		    8);
		fprintf(fp, "  %8" PRIu64 "  %8" PRIu64 "  ", d->ce_total,
		    d->ue_total);
		output_health_cell(fp, d->state, 8);
		fprintf(fp, "  %s\n", d->present ? "yes" : "no");
	}
}

/* The report as one JSON object (rasctl(1) describes the members). */
void
output_json_health(FILE *fp, const Ras__HealthReport *h)
{
	struct output_json	 j;
	char			 t[32];
	size_t			 i;

	output_json_begin(&j, fp, 1);
	output_json_object(&j, NULL);
	output_json_string(&j, "state", h->state);
	output_json_uint(&j, "score", h->score);
	output_json_string(&j, "auto_state", h->auto_state);
	output_json_array(&j, "reasons");
	for (i = 0; i < h->n_reasons; i++)
		output_json_string(&j, NULL, h->reasons[i]);
	output_json_close(&j);
	output_json_object(&j, "override");
	output_json_string(&j, "state", h->override);
	if (h->has_override_since) {
		output_json_time(h->override_since, t, sizeof t);
		output_json_string(&j, "since", t);
		output_json_uint(&j, "uid", h->override_uid);
		output_json_string(&j, "reason", h->override_reason);
	}
	output_json_close(&j);
	output_json_uint(&j, "uncorrected_forwarded", h->ue_total);
	output_json_string(&j, "rate_source", h->rate_source);
	output_json_string(&j, "edac_root", h->edac_root);
	output_json_string(&j, "rasdaemon_db", h->rasdaemon_db);
	if (h->has_last_poll) {
		output_json_time(h->last_poll, t, sizeof t);
		output_json_string(&j, "last_poll", t);
	} else
		output_json_null(&j, "last_poll");
	output_json_string(&j, "poll_error", h->poll_error);
	output_json_array(&j, "windows");
	for (i = 0; i < h->n_windows; i++) {
		const Ras__HealthWindow	*w = h->windows[i];

		output_json_object(&j, NULL);
		output_json_string(&j, "scope", w->scope);
		output_json_string(&j, "name", w->name);
		output_json_string(&j, "errors", w->errors);
		output_json_string(&j, "for", w->level_for);
		output_json_string(&j, "threshold", w->threshold);
		output_json_uint(&j, "count", w->capacity);
		output_json_uint(&j, "window_seconds", w->window);
		output_json_double(&j, "level", w->level);
		output_json_bool(&j, "tripped", w->tripped);
		output_json_uint(&j, "total", w->total);
		output_json_close(&j);
	}
	output_json_close(&j);
	output_json_array(&j, "dimms");
	for (i = 0; i < h->n_dimms; i++) {
		const Ras__HealthDimm	*d = h->dimms[i];

		output_json_object(&j, NULL);
		output_json_string(&j, "dimm", d->key);
		output_json_string(&j, "label", d->label);
		output_json_string(&j, "location", d->location);
		if (d->has_edac_ce) {
			output_json_uint(&j, "edac_ce", d->edac_ce);
			output_json_uint(&j, "edac_ue", d->edac_ue);
		} else {
			output_json_null(&j, "edac_ce");
			output_json_null(&j, "edac_ue");
		}
		if (d->has_rasdaemon_ce) {
			output_json_uint(&j, "rasdaemon_ce", d->rasdaemon_ce);
			output_json_uint(&j, "rasdaemon_ue", d->rasdaemon_ue);
		} else {
			output_json_null(&j, "rasdaemon_ce");
			output_json_null(&j, "rasdaemon_ue");
		}
		output_json_uint(&j, "ce_total", d->ce_total);
		output_json_uint(&j, "ue_total", d->ue_total);
		output_json_string(&j, "state", d->state);
		output_json_bool(&j, "present", d->present);
		output_json_close(&j);
	}
	output_json_close(&j);
	output_json_close(&j);
	output_json_end(&j);
}
