/*
 * tls.c -- mutual TLS for the peer channel: GnuTLS sessions driven by a
 * libevent filter bufferevent (see tls.h).
 *
 * DESIGN: libevent's filter bufferevents call an input filter when
 * ciphertext arrives on the socket and an output filter when the caller
 * writes. GnuTLS reads and writes through our push/pull functions, which
 * only move bytes between GnuTLS and the socket bufferevent's buffers, so
 * gnutls_handshake() and gnutls_record_recv() return GNUTLS_E_AGAIN
 * instead of blocking and are simply called again when more arrives. The
 * verification (chain, hostname, key purpose) is GnuTLS's own, run inside
 * the handshake; a failure is turned into a sentence and a deferred
 * BEV_EVENT_ERROR, deferred so that the caller may free the connection in
 * its event callback while libevent is still inside the filter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "tls.h"

struct tls_creds {
	gnutls_certificate_credentials_t cred;
};

struct tls_conn {
	gnutls_session_t s;
	struct bufferevent *under;	/* the socket's bufferevent */
	struct bufferevent *bev;	/* the filter the caller uses */
	int server;
	int ready;			/* handshake done, peer verified */
	int failed;
	struct timespec started;
	long handshake_us;
	char err[1100];
	char peer[TLS_DN_MAX];
	char name[256];			/* GnuTLS keeps a pointer to it */
};

/* Load a side's CA, certificate and key. */
struct tls_creds *
tls_creds_load(const char *ca, const char *cert, const char *key, char *err,
    size_t errlen)
{
	struct tls_creds *tc;
	int rc;

	if ((tc = calloc(1, sizeof *tc)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((rc = gnutls_certificate_allocate_credentials(&tc->cred)) < 0) {
		snprintf(err, errlen, "%s", gnutls_strerror(rc));
		free(tc);
		return NULL;
	}
	rc = gnutls_certificate_set_x509_trust_file(tc->cred, ca,
	    GNUTLS_X509_FMT_PEM);
	if (rc <= 0) {
		snprintf(err, errlen, "CA certificate %s: %s", ca, rc == 0 ?
		    "no certificate in it" : gnutls_strerror(rc));
		goto fail;
	}
	rc = gnutls_certificate_set_x509_key_file2(tc->cred, cert, key,
	    GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		snprintf(err, errlen, "certificate %s with key %s: %s", cert,
		    key, gnutls_strerror(rc));
		goto fail;
	}
	return tc;
fail:
	gnutls_certificate_free_credentials(tc->cred);
	free(tc);
	return NULL;
}

/* Free credentials (no session may still use them). */
void
tls_creds_free(struct tls_creds *tc)
{
	if (tc == NULL)
		return;
	gnutls_certificate_free_credentials(tc->cred);
	free(tc);
}

/* GnuTLS writes: into the socket bufferevent's output. */
static ssize_t
tls_push(gnutls_transport_ptr_t p, const void *data, size_t len)
{
	struct tls_conn *tc = p;

	if (evbuffer_add(bufferevent_get_output(tc->under), data, len) == -1) {
		gnutls_transport_set_errno(tc->s, ENOMEM);
		return -1;
	}
	return (ssize_t)len;
}

/* GnuTLS reads: from the socket bufferevent's input, or "try again". */
static ssize_t
tls_pull(gnutls_transport_ptr_t p, void *data, size_t len)
{
	struct tls_conn *tc = p;
	int n;

	n = evbuffer_remove(bufferevent_get_input(tc->under), data, len);
	if (n <= 0) {
		gnutls_transport_set_errno(tc->s, EAGAIN);
		return -1;
	}
	return n;
}

/* Whether input is waiting; GnuTLS never waits here (no blocking). */
static int
tls_pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
	struct tls_conn *tc = p;

	return evbuffer_get_length(bufferevent_get_input(tc->under)) > 0;
}

/* The connection failed: say why and tell the caller, later. */
static void
tls_fail(struct tls_conn *tc, const char *fmt, const char *what)
{
	if (!tc->failed)
		snprintf(tc->err, sizeof tc->err, fmt, what);
	tc->failed = 1;
	bufferevent_trigger_event(tc->bev, BEV_EVENT_ERROR, BEV_TRIG_DEFER_CALLBACKS);
}

/* The peer's certificate subject, for logs. */
static void
tls_note_peer(struct tls_conn *tc)
{
	const gnutls_datum_t *certs;
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn;
	unsigned int n = 0;

	snprintf(tc->peer, sizeof tc->peer, "(no certificate)");
	if ((certs = gnutls_certificate_get_peers(tc->s, &n)) == NULL ||
	    n == 0 || gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) >= 0 &&
	    gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
		snprintf(tc->peer, sizeof tc->peer, "%.*s", (int)dn.size,
		    (const char *)dn.data);
		gnutls_free(dn.data);
	}
	gnutls_x509_crt_deinit(crt);
}

/* A failed handshake, as a sentence. */
static void
tls_handshake_error(struct tls_conn *tc, int rc)
{
	gnutls_datum_t out;
	unsigned int status;
	char why[1024];

	if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		status = gnutls_session_get_verify_cert_status(tc->s);
		if (gnutls_certificate_verification_status_print(status,
		    GNUTLS_CRT_X509, &out, 0) >= 0) {
			while (out.size > 0 && (out.data[out.size - 1] == ' ' ||
			    out.data[out.size - 1] == '\0'))
				out.size--;
			snprintf(why, sizeof why, "the %s's certificate is "
			    "refused: %.*s", tc->server ? "client" : "server",
			    (int)out.size, (const char *)out.data);
			gnutls_free(out.data);
		} else
			snprintf(why, sizeof why, "the %s's certificate is "
			    "refused", tc->server ? "client" : "server");
		tls_note_peer(tc);
		if (strcmp(tc->peer, "(no certificate)") != 0) {
			size_t l = strlen(why);

			snprintf(why + l, sizeof why - l, " (%s)", tc->peer);
		}
	} else if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED)
		snprintf(why, sizeof why, "the %s refused us: TLS alert \"%s\"",
		    tc->server ? "client" : "server",
		    gnutls_alert_get_name(gnutls_alert_get(tc->s)));
	else if (rc == GNUTLS_E_NO_CERTIFICATE_FOUND ||
	    rc == GNUTLS_E_CERTIFICATE_REQUIRED)
		snprintf(why, sizeof why, "the %s sent no certificate",
		    tc->server ? "client" : "server");
	else
		snprintf(why, sizeof why, "%s", gnutls_strerror(rc));
	gnutls_alert_send_appropriate(tc->s, rc);
	tls_fail(tc, "TLS handshake failed: %s", why);
}

/* Advance the handshake; 0 (done or waiting for bytes) or -1 (failed). */
static int
tls_handshake_step(struct tls_conn *tc)
{
	struct timespec now;
	int rc;

	rc = gnutls_handshake(tc->s);
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
		return 0;
	if (rc < 0) {
		if (!gnutls_error_is_fatal(rc))
			return 0;
		tls_handshake_error(tc, rc);
		return -1;
	}
	tls_note_peer(tc);
	clock_gettime(CLOCK_MONOTONIC, &now);
	tc->handshake_us = (now.tv_sec - tc->started.tv_sec) * 1000000L +
	    (now.tv_nsec - tc->started.tv_nsec) / 1000;
	if (tc->handshake_us <= 0)
		tc->handshake_us = 1;
	tc->ready = 1;
	return 0;
}

/* Ciphertext arrived: handshake, then decrypt what there is. */
static enum bufferevent_filter_result
tls_filter_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct tls_conn *tc = arg;
	uint8_t buf[16384];
	ssize_t n;
	int produced = 0, spins = 0;

	if (tc->failed) {
		evbuffer_drain(src, evbuffer_get_length(src));
		return BEV_ERROR;
	}
	if (!tc->ready) {
		if (tls_handshake_step(tc) == -1)
			return BEV_ERROR;
		if (!tc->ready)
			return BEV_NEED_MORE;
		/* What the caller wrote meanwhile goes out now. */
		bufferevent_flush(tc->bev, EV_WRITE, BEV_NORMAL);
	}
	for (;;) {
		n = gnutls_record_recv(tc->s, buf, sizeof buf);
		if (n > 0) {
			evbuffer_add(dst, buf, (size_t)n);
			produced = 1;
			continue;
		}
		if (n == 0) {		/* close_notify: the peer is done */
			bufferevent_trigger_event(tc->bev, BEV_EVENT_EOF,
			    BEV_TRIG_DEFER_CALLBACKS);
			break;
		}
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			break;
		if (gnutls_error_is_fatal((int)n) || ++spins > 16) {
			tls_fail(tc, "TLS record: %s",
			    gnutls_strerror((int)n));
			return BEV_ERROR;
		}
	}
	return produced ? BEV_OK : BEV_NEED_MORE;
}

/* The caller wrote plaintext: encrypt it once the peer is verified. */
static enum bufferevent_filter_result
tls_filter_out(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct tls_conn *tc = arg;
	size_t len;
	ssize_t n;
	uint8_t *p;

	if (tc->failed)
		return BEV_ERROR;
	if (!tc->ready)
		return BEV_NEED_MORE;
	if (evbuffer_get_length(src) == 0)
		return BEV_NEED_MORE;
	while ((len = evbuffer_get_length(src)) > 0) {
		if (len > 16384)
			len = 16384;
		p = evbuffer_pullup(src, (ev_ssize_t)len);
		n = gnutls_record_send(tc->s, p, len);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;	/* push never blocks; not reached */
		if (n < 0) {
			tls_fail(tc, "TLS record: %s", gnutls_strerror((int)n));
			return BEV_ERROR;
		}
		evbuffer_drain(src, (size_t)n);
	}
	return BEV_OK;
}

/* The filter is freed: so is the session. */
static void
tls_conn_free(void *arg)
{
	struct tls_conn *tc = arg;

	gnutls_deinit(tc->s);
	free(tc);
}

/* A host name, or an IP address (no SNI for those). */
static int
tls_is_address(const char *name)
{
	uint8_t a[16];

	return inet_pton(AF_INET, name, a) == 1 ||
	    inet_pton(AF_INET6, name, a) == 1;
}

/* Put TLS over a socket bufferevent. */
struct tls_conn *
tls_conn_new(struct bufferevent *under, struct tls_creds *cr, int server,
    const char *name, char *err, size_t errlen)
{
	struct tls_conn *tc;
	int rc;

	if ((tc = calloc(1, sizeof *tc)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	tc->under = under;
	tc->server = server;
	if (name != NULL && strlen(name) >= sizeof tc->name) {
		snprintf(err, errlen, "host name too long: %s", name);
		free(tc);
		return NULL;
	}
	if (name != NULL)
		name = strcpy(tc->name, name);
	clock_gettime(CLOCK_MONOTONIC, &tc->started);
	rc = gnutls_init(&tc->s, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
	    GNUTLS_NONBLOCK | GNUTLS_NO_TICKETS);
	if (rc < 0) {
		snprintf(err, errlen, "gnutls_init: %s", gnutls_strerror(rc));
		free(tc);
		return NULL;
	}
	if ((rc = gnutls_set_default_priority(tc->s)) < 0 ||
	    (rc = gnutls_credentials_set(tc->s, GNUTLS_CRD_CERTIFICATE,
	    cr->cred)) < 0)
		goto fail;
	if (server)
		gnutls_certificate_server_set_request(tc->s,
		    GNUTLS_CERT_REQUIRE);
	else if (name != NULL && !tls_is_address(name) &&
	    (rc = gnutls_server_name_set(tc->s, GNUTLS_NAME_DNS, name,
	    strlen(name))) < 0)
		goto fail;
	/* Chain, validity, key purpose, and for a client the host name. */
	gnutls_session_set_verify_cert(tc->s, server ? NULL : name, 0);
	gnutls_handshake_set_timeout(tc->s, 0);	/* the caller's timers */
	gnutls_transport_set_ptr(tc->s, tc);
	gnutls_transport_set_push_function(tc->s, tls_push);
	gnutls_transport_set_pull_function(tc->s, tls_pull);
	gnutls_transport_set_pull_timeout_function(tc->s, tls_pull_timeout);
	tc->bev = bufferevent_filter_new(under, tls_filter_in, tls_filter_out,
	    BEV_OPT_CLOSE_ON_FREE, tls_conn_free, tc);
	if (tc->bev == NULL) {
		snprintf(err, errlen, "bufferevent_filter_new failed");
		gnutls_deinit(tc->s);
		free(tc);
		return NULL;
	}
	/* The client speaks first: its hello waits in the output. */
	if (!server)
		tls_handshake_step(tc);
	return tc;
fail:
	snprintf(err, errlen, "TLS session: %s", gnutls_strerror(rc));
	gnutls_deinit(tc->s);
	free(tc);
	return NULL;
}

/* The bufferevent to read and write plaintext on. */
struct bufferevent *
tls_conn_bev(struct tls_conn *tc)
{
	return tc->bev;
}

/* Whether the handshake is done and the peer verified. */
int
tls_conn_ready(const struct tls_conn *tc)
{
	return tc->ready;
}

/* Why the connection failed, or "". */
const char *
tls_conn_error(const struct tls_conn *tc)
{
	return tc->err;
}

/* The verified peer's subject DN, or "". */
const char *
tls_conn_peer(const struct tls_conn *tc)
{
	return tc->ready ? tc->peer : "";
}

/* How long the handshake took, in microseconds (0: not done). */
long
tls_conn_handshake_us(const struct tls_conn *tc)
{
	return tc->handshake_us;
}
