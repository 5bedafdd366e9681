/*
 * etcd.c -- an etcd v3 client for rasd's loop: etcd's JSON gateway
 * (POST /v3/kv/..., /v3/lease/...; etcd 3.4 serves it at /v3/, as the
 * later releases do) over libevent's HTTP client.
 *
 * DESIGN: rasd's loop serves VMMs; a slow or dead etcd must never hold it
 * up. So every call is a non-blocking HTTP request with a timeout, whose
 * answer comes back through a callback on the loop; names are resolved
 * with evdns, never getaddrinfo. There is one HTTP connection per
 * endpoint and one current endpoint: a call that gets no answer moves the
 * next call to the next endpoint (any member serves any request through
 * its gateway). Retrying is the caller's business (fleet/fleet.c backs
 * off), so this file keeps no timers. Callbacks always run from the loop,
 * never from inside etcd_call, even when the request could not be sent.
 *
 * The gateway speaks protobuf's JSON mapping: bytes fields (keys, values)
 * are base64, int64 fields (lease ids, TTLs, revisions) are strings, and
 * a streaming RPC (lease keep-alive) wraps its one answer in "result".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <nettle/base64.h>

#include "../daemon/rasd.h"
#include "etcd.h"

#define ETCD_BODY_MAX (32u << 20)	/* bytes, one answer */

struct etcd_endpoint {
	char url[256];		/* as configured, for the log */
	char host[256];		/* for connecting: no brackets */
	char hosthdr[264];	/* for the Host header */
	unsigned short port;
	struct evhttp_connection *conn;
};

struct etcd_req {
	struct etcd *e;
	etcd_cb cb;
	void *arg;
	size_t ep;
	struct evhttp_request *req;	/* NULL once handed back */
	TAILQ_ENTRY(etcd_req) entry;
};

struct etcd {
	struct event_base *base;
	struct evdns_base *dns;
	struct etcd_endpoint ep[FLEET_ENDPOINTS_MAX];
	size_t nep;
	size_t cur;
	unsigned int timeout;
	TAILQ_HEAD(, etcd_req) reqs;
};

/* Split "http://HOST:PORT" into its parts; -1 when it is not one. */
static int
etcd_parse_endpoint(const char *url, size_t len, struct etcd_endpoint *ep)
{
	const char *h, *colon, *end = url + len;
	char *e;
	unsigned long port;

	if (len >= sizeof ep->url || len < 8 || strncmp(url, "http://", 7))
		return -1;
	memcpy(ep->url, url, len);
	ep->url[len] = '\0';
	h = ep->url + 7;
	end = ep->url + len;
	if ((colon = strrchr(h, ':')) == NULL || colon == h)
		return -1;
	if (*h == '[') {
		if (colon[-1] != ']' || colon - h < 3)
			return -1;
		memcpy(ep->host, h + 1, (size_t)(colon - h - 2));
		ep->host[colon - h - 2] = '\0';
	} else {
		memcpy(ep->host, h, (size_t)(colon - h));
		ep->host[colon - h] = '\0';
	}
	memcpy(ep->hosthdr, h, (size_t)(end - h));
	ep->hosthdr[end - h] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &e, 10);
	if (e != end || errno != 0 || port == 0 || port > 65535)
		return -1;
	ep->port = (unsigned short)port;
	return 0;
}

/* Whether a host is an address literal (no name to resolve). */
static int
etcd_numeric(const char *host)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	char buf[300];

	snprintf(buf, sizeof buf, strchr(host, ':') ? "[%s]:1" : "%s:1",
	    host);
	return evutil_parse_sockaddr_port(buf, (struct sockaddr *)&ss,
	    &len) == 0;
}

/*
 * A client for the comma-separated endpoints; timeout (s) bounds each
 * call. NULL (logged) when an endpoint is not http://HOST:PORT.
 */
struct etcd *
etcd_new(struct event_base *base, const char *endpoints,
    unsigned int timeout)
{
	struct etcd *e = xcalloc(1, sizeof *e);
	const char *p = endpoints, *comma;
	size_t i, len;
	int names = 0;

	e->base = base;
	e->timeout = timeout ? timeout : 1;
	TAILQ_INIT(&e->reqs);
	while (*p != '\0' && e->nep < FLEET_ENDPOINTS_MAX) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (etcd_parse_endpoint(p, len, &e->ep[e->nep]) == -1) {
			log_warnx("etcd: bad endpoint \"%.*s\"", (int)len, p);
			goto fail;
		}
		names |= !etcd_numeric(e->ep[e->nep].host);
		e->nep++;
		p += len + (comma != NULL);
	}
	if (e->nep == 0)
		goto fail;
	if (names && (e->dns = evdns_base_new(base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL) {
		log_warnx("etcd: cannot set up the resolver for the endpoint "
		    "names (/etc/resolv.conf)");
		goto fail;
	}
	for (i = 0; i < e->nep; i++) {
		e->ep[i].conn = evhttp_connection_base_new(base, e->dns,
		    e->ep[i].host, e->ep[i].port);
		if (e->ep[i].conn == NULL) {
			log_warnx("etcd: cannot set up a connection to %s",
			    e->ep[i].url);
			goto fail;
		}
		evhttp_connection_set_timeout(e->ep[i].conn, (int)e->timeout);
		evhttp_connection_set_max_body_size(e->ep[i].conn,
		    ETCD_BODY_MAX);
	}
	return e;
fail:
	etcd_free(e);
	return NULL;
}

/* Drop every pending call (their callbacks are not called) and the client. */
void
etcd_free(struct etcd *e)
{
	struct etcd_req *r;
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->nep; i++)
		if (e->ep[i].conn != NULL)
			evhttp_connection_free(e->ep[i].conn);
	while ((r = TAILQ_FIRST(&e->reqs)) != NULL) {
		TAILQ_REMOVE(&e->reqs, r, entry);
		free(r);
	}
	if (e->dns != NULL)
		evdns_base_free(e->dns, 0);
	free(e);
}

/* The endpoint the next call goes to, for the log. */
const char *
etcd_endpoint(const struct etcd *e)
{
	return e->ep[e->cur].url;
}

/* Hand a call's outcome back and forget it. */
static void
etcd_finish(struct etcd_req *r, int status, json_t *res, const char *why)
{
	struct etcd *e = r->e;

	TAILQ_REMOVE(&e->reqs, r, entry);
	if (status == ETCD_DOWN && r->ep == e->cur)
		e->cur = (e->cur + 1) % e->nep;
	r->cb(r->arg, status, res, why);
	free(r);
}

/* A call that could not even be sent: answered from the loop. */
static void
etcd_unsent_cb(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_req *r = arg;
	char why[320];

	snprintf(why, sizeof why, "could not send a request to %s",
	    r->e->ep[r->ep].url);
	etcd_finish(r, ETCD_DOWN, NULL, why);
}

/*
 * The answer to one call: 200 with a JSON object is success (a stream's
 * "result" unwrapped); gRPC's Unavailable (14) or HTTP 503 mean this
 * member cannot serve now; anything else is etcd saying no.
 */
static void
etcd_done(struct evhttp_request *req, void *arg)
{
	struct etcd_req *r = arg;
	struct evbuffer *in;
	json_t *j = NULL, *inner, *msg;
	json_error_t jerr;
	char why[512];
	const char *m;
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	size_t len;

	r->req = NULL;
	if (code == 0) {
		snprintf(why, sizeof why, "no answer from %s",
		    r->e->ep[r->ep].url);
		etcd_finish(r, ETCD_DOWN, NULL, why);
		return;
	}
	in = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(in);
	j = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &jerr);
	if (j == NULL || !json_is_object(j)) {
		snprintf(why, sizeof why, "%s answered HTTP %d without a "
		    "JSON object", r->e->ep[r->ep].url, code);
		etcd_finish(r, code == 503 ? ETCD_DOWN : ETCD_ERROR, NULL, why);
		json_decref(j);
		return;
	}
	/* A stream reports its error inside a 200 answer. */
	inner = json_object_get(j, "error");
	if (code == 200 && inner == NULL) {
		if ((inner = json_object_get(j, "result")) != NULL &&
		    json_is_object(inner))
			etcd_finish(r, ETCD_OK, inner, NULL);
		else
			etcd_finish(r, ETCD_OK, j, NULL);
		json_decref(j);
		return;
	}
	/* {"error": "...", "code": N} or, from a stream, {"error": {...}}. */
	if (!json_is_object(inner))
		inner = j;
	msg = json_object_get(inner, "message");
	if (!json_is_string(msg))
		msg = json_object_get(inner, "error");
	m = json_is_string(msg) ? json_string_value(msg) : "no message";
	snprintf(why, sizeof why, "%s: HTTP %d: %.300s", r->e->ep[r->ep].url,
	    code, m);
	etcd_finish(r, code == 503 || etcd_int(inner, "code") == 14 ?
	    ETCD_DOWN : ETCD_ERROR, NULL, why);
	json_decref(j);
}

/*
 * POST body (consumed) to path on the current endpoint; cb gets the
 * outcome later, on the loop. Returns 0, or -1 (logged) when the body
 * cannot even be encoded.
 */
int
etcd_call(struct etcd *e, const char *path, json_t *body, etcd_cb cb,
    void *arg)
{
	struct etcd_endpoint *ep = &e->ep[e->cur];
	struct etcd_req *r;
	struct evkeyvalq *hdr;
	struct timeval now = { 0, 0 };
	char *text;

	text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL) {
		log_warnx("etcd: cannot encode a request to %s", path);
		return -1;
	}
	r = xcalloc(1, sizeof *r);
	r->e = e;
	r->cb = cb;
	r->arg = arg;
	r->ep = e->cur;
	TAILQ_INSERT_TAIL(&e->reqs, r, entry);
	if ((r->req = evhttp_request_new(etcd_done, r)) == NULL)
		goto unsent;
	hdr = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(hdr, "Host", ep->hosthdr);
	evhttp_add_header(hdr, "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(r->req), text,
	    strlen(text));
	if (evhttp_make_request(ep->conn, r->req, EVHTTP_REQ_POST,
	    path) == -1) {
		r->req = NULL;	/* freed by libevent */
		goto unsent;
	}
	free(text);
	return 0;
unsent:
	if (r->req != NULL)
		evhttp_request_free(r->req);
	r->req = NULL;
	free(text);
	if (event_base_once(e->base, -1, EV_TIMEOUT, etcd_unsent_cb, r,
	    &now) == -1)
		fatalx("event_base_once");
	return 0;
}

/* Base64 of len bytes, NUL-terminated (free it). */
char *
etcd_b64(const void *p, size_t len)
{
	char *out = xcalloc(1, BASE64_ENCODE_RAW_LENGTH(len) + 1);

	base64_encode_raw(out, len, p);
	return out;
}

/* Add a base64 bytes field to obj. */
static void
etcd_set_bytes(json_t *obj, const char *field, const void *p, size_t len)
{
	char *b = etcd_b64(p, len);

	json_object_set_new(obj, field, json_string(b));
	free(b);
}

/* One put: key = val, attached to lease (0: none). */
json_t *
etcd_put_op(const char *key, const void *val, size_t len, int64_t lease)
{
	json_t *o = json_object();
	char id[32];

	etcd_set_bytes(o, "key", key, strlen(key));
	etcd_set_bytes(o, "value", val, len);
	if (lease != 0) {
		snprintf(id, sizeof id, "%lld", (long long)lease);
		json_object_set_new(o, "lease", json_string(id));
	}
	return o;
}

/*
 * A range over every key that begins with prefix: range_end is the prefix
 * with its last byte incremented (etcd's convention; a prefix of 0xff
 * bytes is not one rasd makes).
 */
json_t *
etcd_range_op(const char *prefix)
{
	json_t *o = json_object();
	size_t len = strlen(prefix);
	char *end = xstrdup(prefix);

	etcd_set_bytes(o, "key", prefix, len);
	if (len > 0) {
		end[len - 1]++;
		etcd_set_bytes(o, "range_end", end, len);
	}
	free(end);
	return o;
}

/* A transaction without compares doing every put in puts (consumed). */
json_t *
etcd_txn_op(json_t *puts)
{
	json_t *o = json_object(), *ops = json_array(), *v;
	size_t i;

	json_array_foreach(puts, i, v)
		json_array_append_new(ops, json_pack("{s:O}", "request_put",
		    v));
	json_decref(puts);
	json_object_set_new(o, "success", ops);
	return o;
}

/* Do the puts in puts (an array of etcd_put_op, consumed) at once. */
int
etcd_txn(struct etcd *e, json_t *puts, etcd_cb cb, void *arg)
{
	return etcd_call(e, "/v3/kv/txn", etcd_txn_op(puts), cb, arg);
}

/* Every key under prefix, with its value. */
int
etcd_range_prefix(struct etcd *e, const char *prefix, etcd_cb cb, void *arg)
{
	return etcd_call(e, "/v3/kv/range", etcd_range_op(prefix), cb, arg);
}

/* Delete one key. */
int
etcd_delete(struct etcd *e, const char *key, etcd_cb cb, void *arg)
{
	json_t *o = json_object();

	etcd_set_bytes(o, "key", key, strlen(key));
	return etcd_call(e, "/v3/kv/deleterange", o, cb, arg);
}

/* A new lease of ttl seconds; the answer has its "ID" and "TTL". */
int
etcd_lease_grant(struct etcd *e, unsigned int ttl, etcd_cb cb, void *arg)
{
	return etcd_call(e, "/v3/lease/grant", json_pack("{s:I}", "TTL",
	    (json_int_t)ttl), cb, arg);
}

/* Renew a lease once; the answer's "TTL" is 0 (absent) when it is gone. */
int
etcd_lease_keepalive(struct etcd *e, int64_t id, etcd_cb cb, void *arg)
{
	char s[32];

	snprintf(s, sizeof s, "%lld", (long long)id);
	return etcd_call(e, "/v3/lease/keepalive", json_pack("{s:s}", "ID", s),
	    cb, arg);
}

/* Give a lease up: its keys go at once. */
int
etcd_lease_revoke(struct etcd *e, int64_t id, etcd_cb cb, void *arg)
{
	char s[32];

	snprintf(s, sizeof s, "%lld", (long long)id);
	return etcd_call(e, "/v3/lease/revoke", json_pack("{s:s}", "ID", s),
	    cb, arg);
}

/* An int64 field, sent as a string or a number; 0 when absent or bad. */
int64_t
etcd_int(const json_t *obj, const char *field)
{
	const json_t *v = json_object_get(obj, field);
	char *end;
	long long n;

	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (!json_is_string(v))
		return 0;
	errno = 0;
	n = strtoll(json_string_value(v), &end, 10);
	if (errno != 0 || *end != '\0' || end == json_string_value(v))
		return 0;
	return (int64_t)n;
}

/*
 * A base64 bytes field, decoded and NUL-terminated (free it); len gets
 * its length. NULL when absent or not base64; an absent field is empty in
 * protobuf's JSON, so callers treat NULL as "" where that fits.
 */
char *
etcd_bytes(const json_t *obj, const char *field, size_t *len)
{
	const json_t *v = json_object_get(obj, field);
	struct base64_decode_ctx ctx;
	const char *s;
	size_t slen, out;
	char *buf;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	slen = json_string_length(v);
	buf = xcalloc(1, BASE64_DECODE_LENGTH(slen) + 1);
	base64_decode_init(&ctx);
	out = BASE64_DECODE_LENGTH(slen);
	if (!base64_decode_update(&ctx, &out, (uint8_t *)buf, slen, s) ||
	    !base64_decode_final(&ctx)) {
		free(buf);
		return NULL;
	}
	buf[out] = '\0';
	if (len != NULL)
		*len = out;
	return buf;
}
