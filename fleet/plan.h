/*
 * plan.h -- evacuation plans and their intents (fleet/plan.c): which
 * host takes each VM of a host being evacuated, and the intent records
 * the controller keeps in etcd. Pure code (jansson and record.c only), so
 * unit tests and `rasctl evacuate --dry-run` use the same planner as the
 * acting controller.
 */
#ifndef FLEET_PLAN_H
#define FLEET_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

/* An intent's states, in its life's order. */
#define INTENT_PLANNED		"planned"	/* a destination, not started */
#define INTENT_MIGRATING	"migrating"	/* handed to libvirt */
#define INTENT_DONE		"done"		/* the VM runs on dest */
#define INTENT_FAILED		"failed"	/* gave up (attempts) */
#define INTENT_CANCELLED	"cancelled"	/* evacuation called off */
#define INTENT_REFUSED		"refused"	/* no valid destination */

#define INTENT_ATTEMPTS_MAX	3

/* FLEET_PREFIX/evac/SOURCE/UUID: one VM's move. */
struct intent {
	char source[64];
	char uuid[37];
	char name[256];
	char arch[16];
	char dest[64];		/* "" none */
	char state[16];
	char reason[512];
	uint32_t profile;	/* RAS_NOTIFY_BIT()s */
	uint64_t memory;	/* bytes */
	unsigned int attempt;	/* migrations started */
	int64_t updated;	/* unix time */
	int64_t retry_at;	/* unix time: not started again before */
};

/* A destination candidate: a live host record and what is promised to it. */
struct plan_host {
	const struct record *r;
	uint64_t reserved;	/* bytes of VMs planned or moving there */
};

char *intent_encode(const struct intent *);
int intent_decode(struct intent *, const char *, size_t, char *, size_t);
int intent_active(const struct intent *);

int plan_fits(const struct plan_host *, const struct record_vm *,
    const char *source, char *why, size_t whylen);
int plan_place(struct plan_host *, size_t, const char *source,
    const struct record_vm *, struct intent *);
void plan_sort_vms(const struct record_vm **, size_t);

#endif
