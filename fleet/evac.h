/*
 * evac.h -- evacuating hosts (fleet/evac.c): the controller one rasd of
 * the fleet runs at a time (fleet_controller = on), the operator's
 * requests every rasd passes on to etcd, and the migration worker
 * (fleet/evac_mig.c, a child process per migration).
 */
#ifndef FLEET_EVAC_H
#define FLEET_EVAC_H

#include <stdint.h>

#include "rasd.pb-c.h"

struct event_base;
struct rasd_config;
struct client;

int evac_start(struct event_base *, const struct rasd_config *,
    const char *host_id);
void evac_stop(void);
void evac_request(struct client *, uint64_t, const Ras__FleetEvacuate *);
void evac_status(struct client *, uint64_t, const Ras__FleetStatusQuery *);
void evac_forget_client(struct client *);

/* rasd --fleet-migrate SRC-URI DEST-URI UUID FLAGS: one migration. */
int evac_migrate_main(char *const *);

#define EVAC_EXIT_OK		0	/* migrated */
#define EVAC_EXIT_FAIL		1	/* libvirt failed: stdout says why */
#define EVAC_EXIT_GONE		3	/* not (or no longer) on the source */

#endif
