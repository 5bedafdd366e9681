/*
 * tls.h -- mutual TLS (GnuTLS) for the rasd-to-rasd peer channel, on the
 * libevent loop.
 *
 * A connection is a libevent filter bufferevent over the socket's own:
 * the filter feeds the ciphertext that arrives to GnuTLS and hands the
 * plaintext up, and encrypts what the caller writes. GnuTLS never touches
 * the socket: its push and pull functions work on the socket
 * bufferevent's buffers, so the handshake advances only as bytes arrive
 * and never blocks the loop. The caller uses the returned bufferevent as
 * it would a plain one; what it writes before the handshake is done waits
 * and goes out once the peer is verified. A failed handshake or record
 * ends in a BEV_EVENT_ERROR on that bufferevent, and tls_conn_error()
 * says why in a sentence.
 *
 * Both sides present an x509 certificate and verify the other's chain
 * against the CA; the connecting side also checks that the certificate
 * names the host it connected to (gnutls_session_set_verify_cert: the
 * subject alternative names, DNS or IP, else the CN). Key purposes are
 * GnuTLS's: a server certificate must allow TLS server use, a client
 * certificate TLS client use.
 */
#ifndef RAS_TLS_H
#define RAS_TLS_H

#include <stddef.h>

struct bufferevent;
struct tls_creds;
struct tls_conn;

#define TLS_DN_MAX	512	/* a peer's subject DN, as text */

/*
 * Load one side's credentials: the CA certificate(s) to verify the other
 * side against, this host's certificate and its private key (PEM files).
 * NULL with err set when a file cannot be read or does not fit.
 */
struct tls_creds *tls_creds_load(const char *ca, const char *cert,
	    const char *key, char *err, size_t errlen);
void	tls_creds_free(struct tls_creds *);

/*
 * Put TLS over under (a socket bufferevent, connected or about to be):
 * server is 1 on the listening side (a client certificate is required),
 * 0 on the connecting side, where name (NULL: none, e.g. over a Unix
 * socket) is the host the server's certificate must name. Returns the
 * connection; tls_conn_bev() is the bufferevent to use from then on (it
 * owns under and frees it with itself, and frees the connection).
 */
struct tls_conn *tls_conn_new(struct bufferevent *under, struct tls_creds *,
	    int server, const char *name, char *err, size_t errlen);
struct bufferevent *tls_conn_bev(struct tls_conn *);

/* 1 once the handshake is done and the peer verified. */
int	tls_conn_ready(const struct tls_conn *);

/* Why the connection failed ("" if it has not). */
const char *tls_conn_error(const struct tls_conn *);

/* The verified peer's subject DN ("" before the handshake). */
const char *tls_conn_peer(const struct tls_conn *);

/* Microseconds the handshake took (0 until done). */
long	tls_conn_handshake_us(const struct tls_conn *);

#endif
