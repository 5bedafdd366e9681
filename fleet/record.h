/*
 * record.h -- a host's record in etcd (fleet/record.c): what it holds and
 * its JSON form. Pure code (jansson only), so unit tests build it alone.
 */
#ifndef FLEET_RECORD_H
#define FLEET_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define RECORD_VERSION 1	/* "version" in the JSON; bump on a change
				 * old readers would misread */
#define RECORD_VALUE_MAX (1u << 20)	/* bytes of JSON, etcd's request
					 * limit is 1.5 MiB by default */
#define RECORD_REASONS_MAX 32
#define RECORD_ARCHES_MAX 4

struct record_vm {
	char uuid[37];
	char name[256];
	char arch[16];		/* ras_arch_name */
	char state[16];		/* vm_state_name; "unknown" when the host is
				 * gone */
	int pinned;		/* the boot profile is pinned */
	uint32_t profile;	/* RAS_NOTIFY_BIT()s of its boot profile */
	uint64_t memory;	/* bytes: its memslots' total, 0 unknown */
};

struct record_inject {		/* what the VMMs of one architecture can
				 * inject: the union of their caps */
	char arch[16];
	uint32_t notify;	/* RAS_NOTIFY_BIT()s */
};

struct record {
	char host_id[64];
	char hostname[256];
	char boot_id[64];
	char libvirt_uri[256];
	char peer[264];		/* peer_advertise, "" none */
	char health[16];	/* healthy, degraded, evacuate, unknown */
	char *reasons[RECORD_REASONS_MAX];
	size_t nreasons;
	struct record_inject inject[RECORD_ARCHES_MAX];
	size_t ninject;
	uint64_t mem_available;	/* bytes, /proc/meminfo MemAvailable */
	int64_t updated;	/* unix time it was published */
	struct record_vm *vms;
	size_t nvms;
};

void record_init(struct record *);
void record_clear(struct record *);
void record_add_reason(struct record *, const char *);
struct record_vm *record_add_vm(struct record *);
void record_add_inject(struct record *, const char *arch, uint32_t notify);
char *record_encode(const struct record *, int with_time);
int record_decode(struct record *, const char *json, size_t len, char *err,
    size_t errlen);
char *record_notify_list(uint32_t, char *buf, size_t len);

#endif
