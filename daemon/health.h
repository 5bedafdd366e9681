/*
 * health.h -- host memory health (daemon/health.c): uncorrected errors from
 * the forwards, corrected ones from EDAC and rasdaemon, leaky buckets
 * against the configured thresholds, and the host's state with its
 * reasons; store_health.c keeps what is not in the event table.
 */
#ifndef RASD_HEALTH_H
#define RASD_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "bucket.h"
#include "rasd.pb-c.h"

struct event_base;
struct vm;
struct client;

/* The thresholds and sources (rasd.conf: health_*, edac_root, ...). */
struct health_config {
	struct bucket_rate ue_degraded;		/* host, and per DIMM */
	struct bucket_rate ue_evacuate;
	struct bucket_rate vm_ue_degraded;	/* per VM */
	struct bucket_rate ce_degraded;		/* per DIMM */
	struct bucket_rate ce_evacuate;
	unsigned int poll_interval;		/* s */
	char edac_root[4096];			/* "" : not read */
	char rasdaemon_db[4096];		/* "" : not read */
};

/* One DIMM, as EDAC or rasdaemon name it. */
struct health_dimm {
	char key[320];		/* label, or label@path, or EDAC path */
	char label[256];
	char location[256];
	char path[64];		/* EDAC: "mc0/dimm3", "" from rasdaemon */
	int present;		/* in the last EDAC scan */
	int has_edac;		/* edac_* were read (or loaded) */
	uint64_t edac_ce, edac_ue;
	uint64_t rd_ce, rd_ue;	/* rasdaemon records, err_count sums */
	uint64_t ce_total, ue_total;	/* counted against the thresholds */
	struct bucket ce_deg, ce_evac, ue_deg, ue_evac;
	int64_t first_seen;
	int state;		/* enum bucket_state, its buckets alone */
	int dirty;		/* to be saved */
	struct health_dimm *next;
};

/* health.c */
int health_start(struct event_base *, const struct health_config *);
void health_stop(void);
void health_forward(const struct vm *, int kind, int64_t time);
void health_query(struct client *, uint64_t id);
void health_set(struct client *, uint64_t id, const Ras__HealthSet *);
int health_state(unsigned int *score, int *overridden);
const struct health_dimm *health_dimms(void);
uint64_t health_host_ue(void);
typedef void (*health_vm_cb)(void *arg, const uint8_t uuid[16],
    const char *name, uint64_t ue_total);
void health_vms(health_vm_cb, void *arg);
void health_polls(uint64_t *ok, uint64_t *failed);

/* store_health.c */
typedef int (*store_health_dimm_cb)(void *arg, struct health_dimm *);
typedef int (*store_health_fwd_cb)(void *arg, const uint8_t uuid[16],
    int kind, int64_t time);
int store_health_load(store_health_dimm_cb, void *arg);
#define STORE_HEALTH_CURSOR "health_rasdaemon_id"	/* meta key */
int store_health_save(struct health_dimm *, int64_t rasdaemon_id);
int store_health_forwards(int64_t since, store_health_fwd_cb, void *arg);
int store_health_meta(const char *key, char *out, size_t outlen);
int store_health_set_meta(const char *key, const char *value);

#endif
