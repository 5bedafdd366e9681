/*
 * etcd.h -- a small etcd v3 client on rasd's libevent loop (fleet/etcd.c):
 * etcd's JSON gateway (/v3/...) over libevent's HTTP client, never blocking.
 */
#ifndef FLEET_ETCD_H
#define FLEET_ETCD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct event_base;
struct etcd;

/* How a call ended. */
#define ETCD_OK		0	/* etcd answered; res is its JSON */
#define ETCD_DOWN	1	/* no answer: connection, timeout, no leader */
#define ETCD_ERROR	2	/* etcd refused the call; why says why */

/*
 * Called once per call, on the loop. res (ETCD_OK) is borrowed: it is
 * freed when the callback returns. why is a short text for the log.
 */
typedef void (*etcd_cb)(void *arg, int status, json_t *res, const char *why);

struct etcd *etcd_new(struct event_base *, const char *endpoints,
    unsigned int timeout);
void etcd_free(struct etcd *);
const char *etcd_endpoint(const struct etcd *);
int etcd_call(struct etcd *, const char *path, json_t *body, etcd_cb,
    void *arg);

/* Request bodies (a new reference; keys and values go in base64). */
json_t *etcd_put_op(const char *key, const void *val, size_t len,
    int64_t lease);
json_t *etcd_range_op(const char *prefix);
json_t *etcd_txn_op(json_t *puts);

/* The calls rasd makes. */
int etcd_txn(struct etcd *, json_t *puts, etcd_cb, void *arg);
int etcd_range_prefix(struct etcd *, const char *prefix, etcd_cb, void *);
int etcd_delete(struct etcd *, const char *key, etcd_cb, void *arg);
int etcd_lease_grant(struct etcd *, unsigned int ttl, etcd_cb, void *arg);
int etcd_lease_keepalive(struct etcd *, int64_t id, etcd_cb, void *arg);
int etcd_lease_revoke(struct etcd *, int64_t id, etcd_cb, void *arg);

/* Reading answers: int64 fields come as strings, bytes as base64. */
int64_t etcd_int(const json_t *obj, const char *field);
char *etcd_bytes(const json_t *obj, const char *field, size_t *len);
char *etcd_b64(const void *, size_t);

#endif
