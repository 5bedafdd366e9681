/*
 * metrics.h -- rasd's Prometheus endpoint (daemon/metrics.c): the counters
 * the rest of the daemon bumps where things happen, and the HTTP listener.
 * Every call is cheap (an array increment) and safe when metrics are off.
 */
#ifndef RASD_METRICS_H
#define RASD_METRICS_H

#include <stddef.h>

struct event_base;

/* Roles in a final sync (daemon/peer.c). */
#define METRICS_SOURCE 0	/* this rasd answered a peer's request */
#define METRICS_DESTINATION 1	/* this rasd asked the source */

void metrics_init(const char *version, int enabled);
int metrics_start(struct event_base *, const char *listen);
void metrics_stop(void);
double metrics_now(void);

void metrics_forward(int kind, int action, int notify, int repeat);
void metrics_error(int code);
void metrics_commit(size_t records, double seconds, int ok);
void metrics_client(int delta);
void metrics_libvirt(int connected);
void metrics_final_sync(int role, int ok, double started);

#endif
