/*
 * fleet.h -- this host in the fleet's shared state (fleet/fleet.c): its
 * record in etcd, kept alive with a lease, and the fleet's view for
 * `rasctl fleet hosts`.
 */
#ifndef FLEET_H
#define FLEET_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct rasd_config;
struct client;

int fleet_start(struct event_base *, const struct rasd_config *);
void fleet_stop(void);
void fleet_changed(void);
void fleet_health_set(const char *state, const char *const *reasons,
    size_t nreasons);
void fleet_query_hosts(struct client *, uint64_t id);
void fleet_forget_client(struct client *);

#endif
