/*
 * wire.h -- helpers for end-to-end tests that talk to a real rasd over its
 * real socket: start/stop the daemon on a private socket and state
 * directory, send raw bytes or Requests, read Responses.
 */
#ifndef RAS_TEST_WIRE_H
#define RAS_TEST_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rasd.pb-c.h"

struct wire_rasd {
	pid_t pid;
	char dir[256];
	char sock[300];
	char state[300];
	char log[300];
};

/* Start rasd (binary from $RASD_BIN, default build/bin/rasd) with extra
 * arguments (NULL-terminated); waits until it accepts connections. */
int wire_start(struct wire_rasd *r, const char *const *extra);
int wire_restart(struct wire_rasd *r, const char *const *extra);
/* Stop rasd; returns its exit status (0 for a clean shutdown). */
int wire_stop(struct wire_rasd *r);
int wire_connect(const struct wire_rasd *r);
int wire_send_raw(int fd, const void *buf, size_t len);
int wire_send(int fd, Ras__Request *req);
/* Read one Response within timeout_ms; NULL on EOF/timeout/garbage. */
Ras__Response *wire_recv(int fd, int timeout_ms);
/* Whether the peer closed the connection within timeout_ms. */
int wire_closed(int fd, int timeout_ms);
uint8_t *wire_read_file(const char *path, size_t *len);
/* Fill a Register for this process with one slot. */
void wire_register_init(Ras__Register *reg, Ras__Slot *slot,
    Ras__Slot **slotv, uint8_t uuid[16], const char *name,
    const uint8_t *hest, size_t hest_len, uint64_t hva, uint64_t size);
/* Send a request with the given body and return the response. */
Ras__Response *wire_call(int fd, Ras__Request *req);
/* How many lines of the daemon log contain needle. */
int wire_log_count(const struct wire_rasd *r, const char *needle);

#endif
