/*
 * rasd.h -- internal interfaces of the rasd daemon, grouped by file.
 */
#ifndef RASD_H
#define RASD_H

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ras.h"
#include "policy.h"
#include "rasd.pb-c.h"
#include "health.h"

struct event_base;
struct client;

#define RASD_NAME_MAX 255
#define RASD_SLOTS_MAX 256

/* log.c */
void log_init(int foreground, int verbose);
void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);

/* config.c */
struct rasd_config {
	char socket_path[4096];
	char state_dir[4096];
	struct ras_policy policy;
	gid_t admin_gid;	/* (gid_t)-1: none */
	int has_admin_group;
	gid_t socket_gid;
	int has_socket_group;
	char libvirt_uri[256];	/* "" when libvirt is off */
	char fleet_key[4096];	/* "" when bundles are only checksummed */
	char peer_listen[256];	/* "" | "/path" | "host:port" */
	char peer_advertise[264]; /* "unix:/path" | "tcp:host:port" */
	int peer_tls;		/* PEER_TLS_ON | PEER_TLS_OFF_INSECURE */
	char peer_ca[4096];	/* the fleet CA's certificate(s), PEM */
	char peer_cert[4096];	/* this host's server certificate ... */
	char peer_key[4096];	/* ... and its private key */
	char peer_client_cert[4096];	/* as a destination (client) */
	char peer_client_key[4096];
	unsigned int peer_max_conns;	/* on the peer listener */
	unsigned int peer_max_waiting;	/* per address, without a request */
	unsigned int peer_handshake_timeout;	/* s, accept to request */
	unsigned int peer_idle_timeout;	/* s, after the last request */
	unsigned int peer_sync_timeout;	/* s, a destination's final sync */
	char metrics_listen[64];	/* "" | "a.b.c.d:port" | "[v6]:port" */
	unsigned int socket_mode;
	unsigned int max_clients;
	unsigned int max_vms_per_uid;	/* 0: no cap; root is never capped */
	struct health_config health;	/* health_*, edac_root, rasdaemon_db */
	unsigned int idle_timeout;	/* s, a connection without a VM; 0: none */
	unsigned int frame_timeout;	/* s, to finish a started frame; 0: none */
	unsigned int max_unregistered;	/* not admin, no VM yet: in all */
	unsigned int max_unregistered_per_uid;	/* ... and per uid */
	unsigned int reserved_clients;	/* of max_clients, for root and admins */
	unsigned int unregistered_frame_max;	/* bytes, before registering */
	int commit_policy;	/* COMMIT_PIPELINED | COMMIT_INLINE */
	char etcd_endpoints[1024];	/* "" | "http://h:p[,http://h:p...]" */
	char fleet_prefix[200];	/* etcd key prefix, "/.../" */
	char fleet_host_id[64];	/* "auto": the host name */
	unsigned int fleet_ttl;	/* s, the host record's lease */
	int fleet_controller;	/* campaign to be the evacuation controller */
	unsigned int fleet_evacuate_per_host;	/* migrations off one host */
	unsigned int fleet_evacuate_max;	/* ... in the whole fleet */
	int fleet_migrate_unsafe;	/* VIR_MIGRATE_UNSAFE: disks copied */
};
#define FLEET_ENDPOINTS_MAX 8
#define COMMIT_PIPELINED 0	/* a writer thread commits, the loop goes on */
#define COMMIT_INLINE 1		/* the loop commits and waits */
#define PEER_TLS_ON 0		/* mutual TLS on the peer channel */
#define PEER_TLS_OFF_INSECURE 1	/* plain: the fleet key, or root over Unix */
void config_defaults(struct rasd_config *);
int config_parse(struct rasd_config *, FILE *, const char *name, char *err,
    size_t errlen);
int config_load(struct rasd_config *, const char *path, char *err,
    size_t errlen);
int config_set(struct rasd_config *, const char *key, const char *value,
    char *err, size_t errlen);
void config_print(const struct rasd_config *, FILE *);

/* poison.c */
struct poison_decision {
	uint8_t action;		/* enum ras_action; 0: none of this kind */
	uint8_t notify;
	uint16_t source_id;
	int64_t first_seen;
};
/* A record going in (poison_add), or a range as read out of a set. */
struct poison_range {
	uint64_t gpa;
	uint64_t len;
	uint8_t kind;		/* AR if any merged record was AR */
	uint8_t action;		/* in: the record's decision; out: */
	uint8_t notify;		/* the AR decision if any, else the AO one */
	uint16_t source_id;
	int64_t first_seen;
	uint32_t records;
	struct poison_decision ar;	/* out: each kind's earliest */
	struct poison_decision ao;	/* decision (action 0: none) */
};
struct poison_leaf;
struct poison_stage;
struct poison_set {
	void *root;		/* B+tree of disjoint, non-adjacent ranges */
	struct poison_leaf *head;	/* its leaves, in address order */
	unsigned int height;	/* inner levels above the leaves */
	size_t n;		/* ranges */
	uint64_t bytes;		/* their total length */
	struct poison_stage *stage;	/* records queued by poison_stage */
	size_t nstage, capstage;
};
/* A position in a set; any change to the set invalidates it. */
struct poison_iter {
	const struct poison_leaf *leaf;	/* NULL: past the last range */
	unsigned int i;
};
void poison_init(struct poison_set *);
void poison_free(struct poison_set *);
void poison_clear(struct poison_set *);
int poison_covering(const struct poison_set *, uint64_t gpa, uint64_t len,
    struct poison_range *);
void poison_add(struct poison_set *, const struct poison_range *);
void poison_stage(struct poison_set *, const struct poison_range *);
void poison_stage_end(struct poison_set *);
uint64_t poison_bytes(const struct poison_set *);
void poison_seek(const struct poison_set *, uint64_t gpa,
    struct poison_iter *);
int poison_next(struct poison_iter *, struct poison_range *);

/* vm.c */
enum vm_state {
	VM_STOPPED = 0,		/* no VMM, unregistered cleanly */
	VM_RUNNING = 1,		/* a VMM is connected for it */
	VM_DISCONNECTED = 2,	/* the VMM went away without unregistering */
	VM_INCOMING = 3,	/* imported (migration): its VMM is to come */
	VM_MIGRATED = 4		/* handed off to another host (final sync) */
};
struct vm_slot {
	uint64_t gpa, hva, size;
};
struct vm {
	uint8_t uuid[16];
	char uuid_str[37];
	char name[RASD_NAME_MAX + 1];
	int arch;
	uint8_t *hest;		/* raw boot HEST, NULL when declared */
	size_t hest_len;
	struct ras_profile profile;
	int pinned;
	struct ras_policy policy;	/* orders pinned at boot (0: config) */
	uint32_t caps;
	uint8_t cpu_vendor;	/* enum ras_cpu_vendor, from registration */
	uint8_t observing;	/* its VMM only observes (registration) */
	int64_t held_since;	/* answered stop-vm then (0: not held) */
	uint64_t held_addr;	/* for the AR at that address */
	uint64_t unrecorded;	/* local decisions its VMMs reported lost */
	uint64_t lost_total;	/* the bound process's last total (below) */
	pid_t lost_pid;		/* that process, and its start time; */
	uint64_t lost_start;	/* lost_pid 0: none known (a restart) */
	/* What its VMM still holds, for a final sync (vmm_sync_check). */
	int vmm_said;		/* its VMM reports it (Register.pending) */
	uint32_t vmm_pending;	/* its last word: not yet acknowledged */
	uint64_t vmm_lost;	/* lost + dropped, that VMM process's total */
	uint64_t vmm_lost_base;	/* ... at the guest's last reset */
	pid_t vmm_sync_pid;	/* that process */
	uint64_t vmm_sync_start;
	int64_t released;	/* the operator let its gate go (unix time) */
	uint32_t rearm_failed;	/* ranges its VMM cannot re-arm here */
	struct vm_slot *slots;
	size_t nslots;
	uint32_t pid;
	uint32_t owner_uid;
	uint64_t vmm_start;	/* its VMM's start time (/proc/PID/stat field
				 * 22); 0: not known (a schema-1 store) */
	char vmm_cgroup[512];	/* its VMM's cgroup v2 path, "" not known */
	uint64_t generation;
	int state;
	struct client *client;	/* the bound VMM connection, if any */
	struct poison_set active;
	uint64_t history_count;
	uint64_t last_forward_id;	/* newest forward record, for linking */
	int64_t last_forward_time;
	int64_t last_forward_linked;	/* it already has a libvirt event */
	int meta_dirty;			/* domain metadata needs publishing */
	int handed_off;			/* a peer took its final state */
	uint64_t imported_generation;	/* of the bundle taken in */
	char *source_peer;		/* imported: where to ask for the
					 * final state, NULL otherwise */
	struct vm *next_uuid;	/* hash chains */
	struct vm *next_name;
	struct vm *next_all;
};
struct vm_ident {		/* who a VMM connection's process is */
	pid_t pid;
	uint64_t start;		/* /proc/PID/stat field 22; 0: gone */
	char cgroup[512];	/* cgroup v2 path, "" unknown */
	char label[256];	/* LSM label (SO_PEERSEC), "" none */
};
struct vm *vm_find_uuid(const uint8_t uuid[16]);
struct vm *vm_find_name(const char *);
struct vm *vm_find(const char *name_or_uuid);
struct vm *vm_create(const uint8_t uuid[16], const char *name);
void vm_rename(struct vm *, const char *);
struct vm *vm_first(void);
size_t vm_count(void);
int vm_set_profile(struct vm *, const void *hest, size_t hest_len,
    const struct ras_profile *);
int vm_translate(const struct vm *, uint64_t hva, uint64_t *gpa,
    const struct vm_slot **slot);
const char *vm_state_name(int);
int vm_profile_equal(const struct ras_profile *, const struct ras_profile *);
void vm_free_all(void);
void vm_ident_read(pid_t, int fd, struct vm_ident *);
void vm_bind(struct vm *, const struct vm_ident *);
int vm_may_register(const struct vm *, const uint8_t uuid[16], uid_t,
    const struct vm_ident *, char *why, size_t);
int vm_may_name(const struct vm *, const char *name, uid_t, char *why,
    size_t);
size_t vm_count_owned(uint32_t uid);

/* store.c */
#define STORE_VERSION 4		/* the schema this build writes */
#define STORE_VERSION_TEXT "4"
struct sqlite3;
struct store_event {
	uint64_t id;		/* filled in by store_commit */
	struct vm *vm;
	uint64_t gpa, len;
	uint8_t kind, action, notify;
	uint16_t source_id;
	int64_t time;
	const char *origin;
};
int store_open(const char *dir);
void store_close(void);
int store_lock(const char *dir);
int store_schema_version(struct sqlite3 *, char *err, size_t);
int store_backup(struct sqlite3 *, const char *path, char *err, size_t);
const char *store_host(void);
int store_load(void);
int store_save_vm(const struct vm *);
struct store_batch;
struct store_batch *store_batch_new(struct store_event *, size_t n);
void store_batch_commit(struct store_batch *);
int store_batch_result(const struct store_batch *, double *seconds);
void store_batch_free(struct store_batch *);
int store_writer_attach(void);
void store_writer_detach(void);
int store_retire(struct vm *);
typedef int (*store_history_cb)(void *arg, uint64_t id, uint64_t gpa,
    uint64_t len, int kind, int action, int notify, int source_id,
    int64_t time, const char *host, const char *origin, int active);
int store_history(const struct vm *, store_history_cb, void *arg);
typedef int (*store_vevent_cb)(void *arg, uint64_t id, int64_t time,
    int recipient, int action, unsigned int flags, uint64_t forward_id,
    uint64_t gpa);
int store_save_vevent(const struct vm *, int64_t, int recipient, int action,
    unsigned int flags, uint64_t forward_id);
int store_vevents(const struct vm *, store_vevent_cb, void *arg);
int store_save_note(struct vm *, const struct poison_range *, size_t,
    int64_t, const char *origin);
int store_import(const Ras__Bundle *, const struct ras_profile *,
    uint32_t owner_uid, int final);
int store_incoming(const struct vm *, int state, const char *reason);
const char *store_error(void);

/* writer.c */
int writer_start(struct event_base *, void (*done)(void));
void writer_submit(struct store_batch *);
struct store_batch *writer_take(int wait);
void writer_wait_idle(void);
void writer_stop(void);

/* check.c */
int check_store(const char *dir, int repair);

/* listen.c */
int listen_activation_fd(const char *, int *);
int listen_clear_stale(const char *);
int listen_mkdir_parent(const char *);

/* server.c */
struct client {
	struct bufferevent *bev;
	uint64_t id;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int admin;		/* may use operator commands */
	int peer;		/* came in on the peer listener */
	int unix_peer;		/* over a Unix socket (credentials known) */
	int closing;
	struct vm *vm;		/* the VM this VMM connection registered */
	struct event *timer;	/* idle, frame and linger deadlines */
	int64_t since;		/* ms (monotonic): accepted */
	int64_t active;		/* ms: last whole frame in or answers out */
	int64_t frame_start;	/* ms: first byte of an unfinished frame, 0 */
	int64_t closing_since;	/* ms: when it began closing */
	struct client *next, *prev;
};
extern struct rasd_config *rasd_conf;
int server_start(struct event_base *, const struct rasd_config *);
int server_start_peer(struct event_base *, const struct rasd_config *);
void server_stop(void);
void server_client_free(struct client *);
int server_send(struct client *, Ras__Response *);
void server_error(struct client *, uint64_t id, int code, const char *, ...)
    __attribute__((format(printf, 4, 5)));
void server_ack(struct client *, uint64_t id);
int server_check_backlog(struct client *);

/* batch.c */
struct batch_entry {
	struct client *client;	/* NULL once the client went away */
	uint64_t req_id;
	int has_seq;
	uint64_t seq;
	int repeat;		/* answer only: the range is being recorded */
	struct store_event ev;	/* the record (or the one it repeats) */
	uint8_t hest_type;	/* of the chosen source */
	uint64_t addr;		/* the exact faulting guest-physical address */
};
void batch_init(struct event_base *);
void batch_free(void);
void batch_add(const struct batch_entry *);
const struct batch_entry *batch_find(const struct vm *, uint64_t gpa,
    uint64_t len, int kind);
void batch_forget_client(struct client *);
int batch_flush(void);

/* vmm.c */
void vmm_register(struct client *, uint64_t, Ras__Register *);
void vmm_active_query(struct client *, uint64_t, Ras__ActiveQuery *);
void vmm_active_page(const struct vm *, uint64_t from_gpa, Ras__Registered *,
    Ras__PoisonRange ***prs, Ras__PoisonRange **storage);
void vmm_forward(struct client *, uint64_t, Ras__Forward *);
void vmm_reset(struct client *, uint64_t, ProtobufCBinaryData);
void vmm_unregister(struct client *, uint64_t, ProtobufCBinaryData);
void vmm_set_slots(struct client *, uint64_t, Ras__SetSlots *);
void vmm_detach(struct vm *, struct client *);
#define RASD_REARM_REPORT_MAX 64	/* failures in one RearmCheck */
void vmm_status(struct client *, uint64_t, Ras__VmmStatus *);
int vmm_sync_check(const struct vm *, char *, size_t);
void vmm_rearm_check(struct client *, uint64_t, Ras__RearmCheck *);
void vmm_release(struct client *, uint64_t, Ras__ReleaseGate *);
int vmm_released(struct client *, uint64_t, Ras__AwaitFinal *);
int vmm_retire(struct vm *, const char *why);
void vmm_send_decision(struct client *, uint64_t id,
    const struct batch_entry *);

/* virt.c */
struct virt_domain {
	uint8_t uuid[16];
	char name[RASD_NAME_MAX + 1];
	char state[32];
};
int virt_start(struct event_base *, const char *uri);
int virt_publisher_main(int fd, const char *uri);
void virt_stop(void);
void virt_vm_changed(struct vm *);
size_t virt_domains(const struct virt_domain **);
const struct virt_domain *virt_find_domain(const uint8_t uuid[16]);

/* transfer.c */
#define TRANSFER_REPLACE 0x1	/* take over a known, stopped VM */
#define TRANSFER_FINAL 0x2	/* the final sync: the VMM may be live */
int transfer_init(const char *keyfile);
void transfer_key(const uint8_t **key, size_t *keylen);
int transfer_export(struct vm *, uint8_t **out, size_t *outlen, char *err,
    size_t errlen);
struct vm *transfer_import(const uint8_t *sealed, size_t len, int flags,
    int *code, char *err, size_t errlen);
Ras__Bundle *transfer_open(const uint8_t *sealed, size_t len, char *err,
    size_t errlen);
struct vm *transfer_take(const Ras__Bundle *, int flags, struct client *vmm,
    int *code, char *err, size_t errlen);

/* peer.c */
struct sockaddr;
int peer_init(struct event_base *);
int peer_admit(const struct sockaddr *, char *why, size_t whylen);
void peer_conn_add(struct client *, const struct sockaddr *);
void peer_final_sync(struct client *, uint64_t, Ras__FinalSync *);
void peer_await_final(struct client *, uint64_t, Ras__AwaitFinal *);
void peer_forget_client(struct client *);
void peer_export_id(struct vm *, uint8_t mid[16]);
void peer_incoming(struct vm *, const uint8_t *mid);
void peer_restore(struct vm *, const char *peer, const uint8_t *mid,
    uint64_t generation, int state, const char *reason);
void peer_incoming_end(struct vm *, const char *why);
void peer_stop(void);

/* control.c */
void control_dispatch(struct client *, Ras__Request *);
size_t control_ranges(struct poison_iter *, size_t max, size_t budget,
    Ras__PoisonRange ***prs, Ras__PoisonRange **storage);

#endif
