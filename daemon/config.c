/*
 * config.c -- rasd.conf: "key = value" lines, '#' starts a comment.
 *
 * Keys: socket, state_dir, libvirt, fleet_key, peer_listen, peer_advertise,
 * the peer channel's TLS files and limits (peer_*, config_peer below),
 * metrics_listen, ar_order, ao_order, admin_group, socket_group, socket_mode, max_clients,
 * max_vms_per_uid, and the connection limits idle_timeout, frame_timeout,
 * max_unregistered, max_unregistered_per_uid, reserved_clients,
 * unregistered_frame_max, and commit_policy; the fleet's etcd_endpoints,
 * fleet_prefix, fleet_host_id, fleet_ttl, and the evacuation controller's
 * fleet_controller, fleet_evacuate_per_host, fleet_evacuate_max and
 * fleet_migrate_unsafe. Command-line options override
 * the file.
 *
 * config_print writes every key, one "key = value" line each, in the order
 * rasd.conf(5) lists them; what it prints parses back to the same settings
 * and prints the same (tests/e2e/t_config.sh diffs it against golden
 * files). An optional setting that is off prints as "none".
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "rasd.h"

/*
 * The connection limits (daemon/server.c): what stops hostile or careless
 * clients from starving the VMMs. Seconds, counts or bytes, with bounds.
 */
static const struct config_uint {
	const char *key;
	size_t off;
	unsigned long min, max;
} config_uints[] = {
	{ "idle_timeout", offsetof(struct rasd_config, idle_timeout),
	    0, 86400 },
	{ "frame_timeout", offsetof(struct rasd_config, frame_timeout),
	    0, 3600 },
	{ "max_unregistered", offsetof(struct rasd_config, max_unregistered),
	    1, 65536 },
	{ "max_unregistered_per_uid", offsetof(struct rasd_config,
	    max_unregistered_per_uid), 1, 65536 },
	{ "reserved_clients", offsetof(struct rasd_config, reserved_clients),
	    0, 65536 },
	{ "unregistered_frame_max", offsetof(struct rasd_config,
	    unregistered_frame_max), 4096, FRAME_MAX },
};

/*
 * The peer listener's limits (daemon/peer.c): connections from other
 * hosts are their own class; these keep a flood from one address from
 * keeping another host's final sync out.
 */
static const struct config_uint config_peer_uints[] = {
	{ "peer_max_conns", offsetof(struct rasd_config, peer_max_conns),
	    1, 65536 },
	{ "peer_max_waiting", offsetof(struct rasd_config, peer_max_waiting),
	    1, 65536 },
	{ "peer_handshake_timeout", offsetof(struct rasd_config,
	    peer_handshake_timeout), 1, 600 },
	{ "peer_idle_timeout", offsetof(struct rasd_config, peer_idle_timeout),
	    1, 3600 },
	{ "peer_sync_timeout", offsetof(struct rasd_config, peer_sync_timeout),
	    1, 600 },
};

/* The peer channel's TLS files: libvirt's PKI layout by default. */
static const struct config_path {
	const char *key;
	size_t off;
	const char *def;
} config_peer_paths[] = {
	{ "peer_ca", offsetof(struct rasd_config, peer_ca),
	    "/etc/pki/CA/cacert.pem" },
	{ "peer_cert", offsetof(struct rasd_config, peer_cert),
	    "/etc/pki/libvirt/servercert.pem" },
	{ "peer_key", offsetof(struct rasd_config, peer_key),
	    "/etc/pki/libvirt/private/serverkey.pem" },
	{ "peer_client_cert", offsetof(struct rasd_config, peer_client_cert),
	    "/etc/pki/libvirt/clientcert.pem" },
	{ "peer_client_key", offsetof(struct rasd_config, peer_client_key),
	    "/etc/pki/libvirt/private/clientkey.pem" },
};

/* The peer channel's defaults: mutual TLS with libvirt's certificates. */
static void
config_peer_defaults(struct rasd_config *c)
{
	size_t i;

	c->peer_tls = PEER_TLS_ON;
	for (i = 0; i < sizeof config_peer_paths / sizeof config_peer_paths[0];
	    i++)
		snprintf((char *)c + config_peer_paths[i].off,
		    sizeof c->peer_ca, "%s", config_peer_paths[i].def);
	c->peer_max_conns = 64;
	c->peer_max_waiting = 4;
	c->peer_handshake_timeout = 5;
	c->peer_idle_timeout = 10;
	c->peer_sync_timeout = 3;
}

/* peer_tls and the peer_* paths and limits; 1 if key is not one. */
/* Set the unsigned key u from v, within its range. */
static int
config_uint_set(struct rasd_config *c, const struct config_uint *u,
    const char *v, char *err, size_t errlen)
{
	unsigned long	 n;
	char		*end;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 ||
	    n < u->min || n > u->max) {
		snprintf(err, errlen, "bad %s \"%s\" (must be %lu..%lu)",
		    u->key, v, u->min, u->max);
		return -1;
	}
	*(unsigned int *)(void *)((char *)c + u->off) = (unsigned int)n;
	return 0;
}

static int
config_peer(struct rasd_config *c, const char *key, const char *v,
    char *err, size_t errlen)
{
	size_t i;

	if (strcmp(key, "peer_tls") == 0) {
		if (strcmp(v, "on") == 0)
			c->peer_tls = PEER_TLS_ON;
		else if (strcmp(v, "off-insecure") == 0)
			c->peer_tls = PEER_TLS_OFF_INSECURE;
		else {
			snprintf(err, errlen, "bad peer_tls \"%s\": on or "
			    "off-insecure", v);
			return -1;
		}
		return 0;
	}
	for (i = 0; i < sizeof config_peer_paths / sizeof config_peer_paths[0];
	    i++) {
		if (strcmp(key, config_peer_paths[i].key) != 0)
			continue;
		if (*v != '/' || strlen(v) >= sizeof c->peer_ca) {
			snprintf(err, errlen, "%s must be an absolute path "
			    "shorter than %zu bytes", key, sizeof c->peer_ca);
			return -1;
		}
		strcpy((char *)c + config_peer_paths[i].off, v);
		return 0;
	}
	for (i = 0; i < sizeof config_peer_uints / sizeof config_peer_uints[0];
	    i++)
		if (strcmp(key, config_peer_uints[i].key) == 0)
			return config_uint_set(c, &config_peer_uints[i], v,
			    err, errlen);
	return 1;
}

static void config_health_defaults(struct health_config *);

/* Fill in the built-in defaults. */
void
config_defaults(struct rasd_config *c)
{
	memset(c, 0, sizeof *c);
	if (ras_default_socket(c->socket_path, sizeof c->socket_path) == -1)
		c->socket_path[0] = '\0';
	if (ras_default_state_dir(c->state_dir, sizeof c->state_dir) == -1)
		c->state_dir[0] = '\0';
	policy_default(&c->policy);
	config_health_defaults(&c->health);
	c->admin_gid = (gid_t)-1;
	c->socket_gid = (gid_t)-1;
	c->socket_mode = 0660;
	/* As root, watch the system libvirt; elsewhere only when asked. */
	if (getuid() == 0)
		snprintf(c->libvirt_uri, sizeof c->libvirt_uri,
		    "qemu:///system");
	c->max_clients = 1024;
	c->max_vms_per_uid = 4096;
	c->idle_timeout = 10;
	c->frame_timeout = 5;
	c->max_unregistered = 64;
	c->max_unregistered_per_uid = 16;
	c->reserved_clients = 32;
	c->unregistered_frame_max = 256u << 10;
	config_peer_defaults(c);
	strcpy(c->fleet_prefix, "/rasd/");
	strcpy(c->fleet_host_id, "auto");
	c->fleet_ttl = 10;
	c->fleet_evacuate_per_host = 2;
	c->fleet_evacuate_max = 8;
}

/* Resolve a group name or number. */
static int
config_group(const char *v, gid_t *gid, char *err, size_t errlen)
{
	struct group *gr;
	char *end;
	unsigned long n;

	if (strcmp(v, "none") == 0) {
		*gid = (gid_t)-1;
		return 0;
	}
	if ((gr = getgrnam(v)) != NULL) {
		*gid = gr->gr_gid;
		return 0;
	}
	errno = 0;
	n = strtoul(v, &end, 10);
	if (*v != '\0' && *end == '\0' && errno == 0 && n < (gid_t)-1) {
		*gid = (gid_t)n;
		return 0;
	}
	snprintf(err, errlen, "unknown group \"%s\"", v);
	return -1;
}

/* The address other rasd reach a peer_listen at: "" for "". */
static void
config_peer_derive(const char *listen, char *out, size_t outlen)
{
	if (*listen == '\0')
		*out = '\0';
	else
		snprintf(out, outlen, "%s%s", *listen == '/' ? "unix:" : "tcp:",
		    listen);
}

/*
 * Host memory health (daemon/health.c): thresholds as mcelog writes them,
 * "N / WINDOW" (lib/bucket.h), and where the error counts come from.
 */
static const struct config_rate {
	const char *key;
	size_t off;
} config_rates[] = {
	{ "health_ue_degraded", offsetof(struct health_config, ue_degraded) },
	{ "health_ue_evacuate", offsetof(struct health_config, ue_evacuate) },
	{ "health_vm_ue_degraded", offsetof(struct health_config,
	    vm_ue_degraded) },
	{ "health_ce_degraded", offsetof(struct health_config, ce_degraded) },
	{ "health_ce_evacuate", offsetof(struct health_config, ce_evacuate) },
};

/* Defaults: mcelog's per-DIMM thresholds (1 / 24h, 10 / 24h) and more. */
static void
config_health_defaults(struct health_config *h)
{
	h->ue_degraded = (struct bucket_rate){ 1, 86400 };
	h->ue_evacuate = (struct bucket_rate){ 4, 86400 };
	h->vm_ue_degraded = (struct bucket_rate){ 2, 86400 };
	h->ce_degraded = (struct bucket_rate){ 10, 86400 };
	h->ce_evacuate = (struct bucket_rate){ 1000, 86400 };
	h->poll_interval = 60;
	strcpy(h->edac_root, "/sys/devices/system/edac");
	strcpy(h->rasdaemon_db, "/var/lib/rasdaemon/ras-mc_event.db");
}

/* A health_* key, edac_root or rasdaemon_db; 1 if key is none of them. */
static int
config_health(struct health_config *h, const char *key, const char *v,
    char *err, size_t errlen)
{
	unsigned long n;
	char *end, *dst;
	size_t i;

	for (i = 0; i < sizeof config_rates / sizeof config_rates[0]; i++)
		if (strcmp(key, config_rates[i].key) == 0)
			return bucket_rate_parse(v, (struct bucket_rate *)(void *)
			    ((char *)h + config_rates[i].off), err, errlen);
	if (strcmp(key, "health_poll_interval") == 0) {
		errno = 0;
		n = strtoul(v, &end, 10);
		if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 ||
		    n < 1 || n > 86400) {
			snprintf(err, errlen, "bad health_poll_interval \"%s\" "
			    "(must be 1..86400 seconds)", v);
			return -1;
		}
		h->poll_interval = (unsigned int)n;
		return 0;
	}
	if (strcmp(key, "edac_root") != 0 && strcmp(key, "rasdaemon_db") != 0)
		return 1;
	dst = key[0] == 'e' ? h->edac_root : h->rasdaemon_db;
	if (strcmp(v, "none") == 0) {
		*dst = '\0';
		return 0;
	}
	if (*v != '/' || strlen(v) >= sizeof h->edac_root - 64) {
		snprintf(err, errlen, "%s must be an absolute path, or none",
		    key);
		return -1;
	}
	strcpy(dst, v);
	return 0;
}

/* Print the health keys, in rasd.conf(5)'s order. */
static void
config_print_health(const struct health_config *h, FILE *f)
{
	char rate[64];
	size_t i;

	for (i = 0; i < sizeof config_rates / sizeof config_rates[0]; i++) {
		bucket_rate_format((const struct bucket_rate *)(const void *)
		    ((const char *)h + config_rates[i].off), rate, sizeof rate);
		fprintf(f, "%s = %s\n", config_rates[i].key, rate);
	}
	fprintf(f, "health_poll_interval = %u\n", h->poll_interval);
	fprintf(f, "edac_root = %s\n", h->edac_root[0] ? h->edac_root :
	    "none");
	fprintf(f, "rasdaemon_db = %s\n", h->rasdaemon_db[0] ?
	    h->rasdaemon_db : "none");
}

/*
 * metrics_listen: a numeric address and a port, "a.b.c.d:port" or
 * "[v6]:port" -- no names, so that what rasd binds never depends on DNS.
 */
static int
config_metrics(struct rasd_config *c, const char *v, char *err,
    size_t errlen)
{
	char host[64], in6[16];
	const char *colon, *p;
	unsigned long port;
	size_t hl;
	int v6 = *v == '[';

	if (strcmp(v, "none") == 0) {
		c->metrics_listen[0] = '\0';
		return 0;
	}
	if (v6) {
		colon = strstr(v, "]:");
		hl = colon != NULL ? (size_t)(colon - v - 1) : 0;
		if (colon != NULL)
			colon++;
	} else {
		colon = strrchr(v, ':');
		hl = colon != NULL ? (size_t)(colon - v) : 0;
	}
	if (colon == NULL || hl == 0 || hl >= sizeof host ||
	    strlen(v) >= sizeof c->metrics_listen)
		goto bad;
	memcpy(host, v + v6, hl);
	host[hl] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, in6) != 1)
		goto bad;
	for (p = colon + 1, port = 0; *p >= '0' && *p <= '9' &&
	    port <= 65535; p++)
		port = port * 10 + (unsigned long)(*p - '0');
	if (p == colon + 1 || *p != '\0' || port == 0 || port > 65535)
		goto bad;
	strcpy(c->metrics_listen, v);
	return 0;
bad:
	snprintf(err, errlen, "bad metrics_listen \"%s\": give a numeric "
	    "IPv4 address and a port (127.0.0.1:9468), an IPv6 address in "
	    "brackets and a port ([::1]:9468), or none", v);
	return -1;
}

/*
 * etcd_endpoints: "none", or up to FLEET_ENDPOINTS_MAX comma-separated
 * http://HOST:PORT URLs (a name, an IPv4 address or [IPv6]); rasd speaks
 * etcd's JSON gateway over plain HTTP.
 */
static int
config_etcd(struct rasd_config *c, const char *v, char *err, size_t errlen)
{
	const char *p, *e, *h, *colon;
	unsigned long port;
	size_t n = 0;

	if (strcmp(v, "none") == 0) {
		c->etcd_endpoints[0] = '\0';
		return 0;
	}
	if (strlen(v) >= sizeof c->etcd_endpoints)
		goto bad;
	for (p = v; ; p = e + 1) {
		if ((e = strchr(p, ',')) == NULL)
			e = p + strlen(p);
		if (++n > FLEET_ENDPOINTS_MAX || strncmp(p, "http://", 7) != 0)
			goto bad;
		h = p + 7;
		if (*h == '[') {
			if ((colon = memchr(h, ']', (size_t)(e - h))) == NULL ||
			    colon == h + 1 || colon[1] != ':')
				goto bad;
			colon++;
		} else if ((colon = memchr(h, ':', (size_t)(e - h))) == NULL ||
		    colon == h)
			goto bad;
		for (; h < colon; h++)
			if (!isalnum((unsigned char)*h) &&
			    strchr(".-[]:", *h) == NULL)
				goto bad;
		for (h = colon + 1, port = 0; h < e && *h >= '0' &&
		    *h <= '9' && port <= 65535; h++)
			port = port * 10 + (unsigned long)(*h - '0');
		if (h == colon + 1 || h != e || port == 0 || port > 65535)
			goto bad;
		if (*e == '\0')
			break;
	}
	strcpy(c->etcd_endpoints, v);
	return 0;
bad:
	snprintf(err, errlen, "bad etcd_endpoints \"%s\": give up to %d "
	    "comma-separated http://HOST:PORT URLs, or none", v,
	    FLEET_ENDPOINTS_MAX);
	return -1;
}

/* fleet_prefix, fleet_host_id and fleet_ttl. */
static int
config_fleet(struct rasd_config *c, const char *key, const char *v,
    char *err, size_t errlen)
{
	const char *p;
	char *end;
	unsigned long n;

	if (strcmp(key, "fleet_controller") == 0 ||
	    strcmp(key, "fleet_migrate_unsafe") == 0) {
		int *dst = key[6] == 'c' ? &c->fleet_controller :
		    &c->fleet_migrate_unsafe;

		if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
			snprintf(err, errlen, "bad %s \"%s\": on or off", key,
			    v);
			return -1;
		}
		*dst = strcmp(v, "on") == 0;
		return 0;
	}
	if (strncmp(key, "fleet_evacuate_", 15) == 0) {
		errno = 0;
		n = strtoul(v, &end, 10);
		if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 ||
		    n < 1 || n > 1000) {
			snprintf(err, errlen, "bad %s \"%s\" (must be "
			    "1..1000)", key, v);
			return -1;
		}
		if (key[15] == 'p')
			c->fleet_evacuate_per_host = (unsigned int)n;
		else
			c->fleet_evacuate_max = (unsigned int)n;
		return 0;
	}
	if (strcmp(key, "fleet_ttl") == 0) {
		errno = 0;
		n = strtoul(v, &end, 10);
		if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 ||
		    n < 2 || n > 600) {
			snprintf(err, errlen, "bad fleet_ttl \"%s\" (must be "
			    "2..600)", v);
			return -1;
		}
		c->fleet_ttl = (unsigned int)n;
		return 0;
	}
	if (strcmp(key, "fleet_prefix") == 0) {
		size_t len = strlen(v);

		for (p = v; *p != '\0'; p++)
			if ((unsigned char)*p <= ' ' || *p == 0x7f)
				break;
		if (len < 1 || len >= sizeof c->fleet_prefix || *p != '\0' ||
		    v[0] != '/' || v[len - 1] != '/') {
			snprintf(err, errlen, "bad fleet_prefix \"%s\": a key "
			    "prefix that begins and ends with '/', no blanks, "
			    "at most %zu bytes", v, sizeof c->fleet_prefix - 1);
			return -1;
		}
		strcpy(c->fleet_prefix, v);
		return 0;
	}
	for (p = v; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("._-", *p) == NULL)
			break;
	if (*v == '\0' || *p != '\0' || strlen(v) >= sizeof c->fleet_host_id ||
	    *v == '.') {
		snprintf(err, errlen, "bad fleet_host_id \"%s\": letters, "
		    "digits, '.', '_' and '-', at most %zu bytes, or auto",
		    v, sizeof c->fleet_host_id - 1);
		return -1;
	}
	strcpy(c->fleet_host_id, v);
	return 0;
}

/* Set one key; used by the file parser and by command-line options. */
int
config_set(struct rasd_config *c, const char *key, const char *v,
    char *err, size_t errlen)
{
	char *end;
	unsigned long n;
	const char *p;
	size_t i;
	int r;

	/* A value is one line of text: it must print back as it was read. */
	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(err, errlen, "%s: control character 0x%02x in "
			    "the value", key, (unsigned char)*p);
			return -1;
		}
	/* Nor can it hold what the file syntax strips: '#' and edge blanks. */
	if (strchr(v, '#') != NULL) {
		snprintf(err, errlen, "%s: '#' starts a comment in rasd.conf; "
		    "a value cannot hold it", key);
		return -1;
	}
	if (*v == ' ' || (*v != '\0' && v[strlen(v) - 1] == ' ')) {
		snprintf(err, errlen, "%s: a value cannot begin or end with a "
		    "blank", key);
		return -1;
	}
	if ((r = config_health(&c->health, key, v, err, errlen)) != 1)
		return r;
	if (strcmp(key, "socket") == 0 || strcmp(key, "state_dir") == 0) {
		char *dst = key[1] == 'o' ? c->socket_path : c->state_dir;

		if (*v != '/') {
			snprintf(err, errlen, "%s must be an absolute path",
			    key);
			return -1;
		}
		if (strlen(v) >= sizeof c->socket_path - 16) {
			snprintf(err, errlen, "%s is too long", key);
			return -1;
		}
		strcpy(dst, v);
		return 0;
	}
	if (strcmp(key, "libvirt") == 0) {
		if (strlen(v) >= sizeof c->libvirt_uri) {
			snprintf(err, errlen, "libvirt URI is too long");
			return -1;
		}
		if (strcmp(v, "none") == 0 || strcmp(v, "off") == 0)
			v = "";
		strcpy(c->libvirt_uri, v);
		return 0;
	}
	if (strcmp(key, "peer_listen") == 0 ||
	    strcmp(key, "peer_advertise") == 0) {
		char *dst = key[5] == 'l' ? c->peer_listen : c->peer_advertise;
		size_t cap = key[5] == 'l' ? sizeof c->peer_listen :
		    sizeof c->peer_advertise;
		char derived[sizeof c->peer_advertise];

		if (strcmp(v, "none") == 0)
			v = "";
		if (strlen(v) >= cap) {
			snprintf(err, errlen, "%s is too long", key);
			return -1;
		}
		/*
		 * Other rasd reach us where we listen, unless told: an
		 * advertised address derived from an earlier peer_listen
		 * follows a later one.
		 */
		if (key[5] == 'l') {
			config_peer_derive(c->peer_listen, derived,
			    sizeof derived);
			if (strcmp(c->peer_advertise, derived) == 0)
				config_peer_derive(v, c->peer_advertise,
				    sizeof c->peer_advertise);
		}
		strcpy(dst, v);
		return 0;
	}
	if (strncmp(key, "peer_", 5) == 0 &&
	    (n = (unsigned long)config_peer(c, key, v, err, errlen)) != 1)
		return n == 0 ? 0 : -1;
	if (strcmp(key, "metrics_listen") == 0)
		return config_metrics(c, v, err, errlen);
	if (strcmp(key, "etcd_endpoints") == 0)
		return config_etcd(c, v, err, errlen);
	if (strcmp(key, "fleet_prefix") == 0 ||
	    strcmp(key, "fleet_host_id") == 0 || strcmp(key, "fleet_ttl") == 0 ||
	    strcmp(key, "fleet_controller") == 0 ||
	    strcmp(key, "fleet_evacuate_per_host") == 0 ||
	    strcmp(key, "fleet_evacuate_max") == 0 ||
	    strcmp(key, "fleet_migrate_unsafe") == 0)
		return config_fleet(c, key, v, err, errlen);
	if (strcmp(key, "commit_policy") == 0) {
		if (strcmp(v, "pipelined") == 0)
			c->commit_policy = COMMIT_PIPELINED;
		else if (strcmp(v, "inline") == 0)
			c->commit_policy = COMMIT_INLINE;
		else {
			snprintf(err, errlen, "bad commit_policy \"%s\": "
			    "pipelined or inline", v);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "fleet_key") == 0) {
		if (strcmp(v, "none") == 0) {
			c->fleet_key[0] = '\0';
			return 0;
		}
		if (*v != '/' || strlen(v) >= sizeof c->fleet_key) {
			snprintf(err, errlen, "fleet_key must be an absolute "
			    "path");
			return -1;
		}
		strcpy(c->fleet_key, v);
		return 0;
	}
	if (strcmp(key, "ar_order") == 0)
		return policy_parse_order(v, c->policy.ar_order,
		    &c->policy.ar_count, err, errlen);
	if (strcmp(key, "ao_order") == 0)
		return policy_parse_order(v, c->policy.ao_order,
		    &c->policy.ao_count, err, errlen);
	if (strcmp(key, "admin_group") == 0) {
		c->has_admin_group = strcmp(v, "none") != 0;
		return config_group(v, &c->admin_gid, err, errlen);
	}
	if (strcmp(key, "socket_group") == 0) {
		c->has_socket_group = strcmp(v, "none") != 0;
		return config_group(v, &c->socket_gid, err, errlen);
	}
	if (strcmp(key, "socket_mode") == 0 || strcmp(key,
	    "max_clients") == 0) {
		errno = 0;
		n = strtoul(v, &end, key[1] == 'o' ? 8 : 10);
		if (*v == '\0' || *end != '\0' || errno != 0 ||
		    (key[1] == 'o' && n > 0777) || (key[1] == 'a' &&
		    (n == 0 || n > 65536))) {
			snprintf(err, errlen, "bad %s \"%s\"", key, v);
			return -1;
		}
		if (key[1] == 'o')
			c->socket_mode = (unsigned int)n;
		else
			c->max_clients = (unsigned int)n;
		return 0;
	}
	if (strcmp(key, "max_vms_per_uid") == 0) {
		/* VMs one non-root uid may have rasd know (0: no cap). */
		errno = 0;
		n = strtoul(v, &end, 10);
		if (*v == '\0' || *v == '-' || *end != '\0' || errno != 0 ||
		    n > UINT32_MAX) {
			snprintf(err, errlen, "bad %s \"%s\"", key, v);
			return -1;
		}
		c->max_vms_per_uid = (unsigned int)n;
		return 0;
	}
	for (i = 0; i < sizeof config_uints / sizeof config_uints[0]; i++)
		if (strcmp(key, config_uints[i].key) == 0)
			return config_uint_set(c, &config_uints[i], v, err,
			    errlen);
	snprintf(err, errlen, "unknown key \"%s\"", key);
	return -1;
}

/* Strip leading and trailing blanks in place. */
static char *
config_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * Parse configuration text from f, named name in errors; err says
 * name:line: what. Lines of any length are read whole (getline), so a long
 * comment never spills into a setting and line numbers stay true; a NUL
 * byte inside a line is refused rather than silently cutting it.
 */
int
config_parse(struct rasd_config *c, FILE *f, const char *name, char *err,
    size_t errlen)
{
	char why[512], *line = NULL, *key, *val, *eq;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, rc = -1;

	errno = 0;
	while ((len = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (strlen(line) != (size_t)len) {
			snprintf(err, errlen, "%s:%d: NUL byte in the line",
			    name, lineno);
			goto out;
		}
		line[strcspn(line, "#\n")] = '\0';
		key = config_trim(line);
		if (*key == '\0')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			snprintf(err, errlen, "%s:%d: expected key = value",
			    name, lineno);
			goto out;
		}
		*eq = '\0';
		key = config_trim(key);
		val = config_trim(eq + 1);
		if (config_set(c, key, val, why, sizeof why) == -1) {
			snprintf(err, errlen, "%s:%d: %s", name, lineno, why);
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s:%d: %s", name, lineno + 1,
		    strerror(errno ? errno : EIO));
		goto out;
	}
	rc = 0;
out:
	free(line);
	return rc;
}

/* Read a configuration file; err says file:line: what. */
int
config_load(struct rasd_config *c, const char *path, char *err,
    size_t errlen)
{
	FILE *f;
	int rc;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = config_parse(c, f, path, err, errlen);
	fclose(f);
	return rc;
}

/* Print a group by name when the name leads back to it, else by number. */
static void
config_print_group(FILE *f, const char *key, int has, gid_t gid)
{
	struct group *gr;

	if (!has)
		fprintf(f, "%s = none\n", key);
	else if ((gr = getgrgid(gid)) != NULL && strcmp(gr->gr_name,
	    "none") != 0 && strpbrk(gr->gr_name, "# ") == NULL &&
	    (gr = getgrnam(gr->gr_name)) != NULL && gr->gr_gid == gid)
		fprintf(f, "%s = %s\n", key, gr->gr_name);
	else
		fprintf(f, "%s = %u\n", key, (unsigned int)gid);
}

/* The peer channel's keys, in rasd.conf(5)'s order. */
static void
config_print_peer(const struct rasd_config *c, FILE *f)
{
	size_t i;

	fprintf(f, "peer_tls = %s\n", c->peer_tls == PEER_TLS_ON ? "on" :
	    "off-insecure");
	for (i = 0; i < sizeof config_peer_paths / sizeof config_peer_paths[0];
	    i++)
		fprintf(f, "%s = %s\n", config_peer_paths[i].key,
		    (const char *)c + config_peer_paths[i].off);
	for (i = 0; i < sizeof config_peer_uints / sizeof config_peer_uints[0];
	    i++)
		fprintf(f, "%s = %u\n", config_peer_uints[i].key,
		    *(const unsigned int *)(const void *)((const char *)c +
		    config_peer_uints[i].off));
}

/*
 * Print the effective configuration in the file's own syntax: every key,
 * in rasd.conf(5)'s order, "none" for an optional setting that is off.
 */
void
config_print(const struct rasd_config *c, FILE *f)
{
	char order[256];
	size_t i;

	fprintf(f, "socket = %s\n", c->socket_path);
	fprintf(f, "state_dir = %s\n", c->state_dir);
	config_print_group(f, "socket_group", c->has_socket_group,
	    c->socket_gid);
	fprintf(f, "socket_mode = %04o\n", c->socket_mode);
	config_print_group(f, "admin_group", c->has_admin_group, c->admin_gid);
	policy_format_order(c->policy.ar_order, c->policy.ar_count, order,
	    sizeof order);
	fprintf(f, "ar_order = %s\n", order);
	policy_format_order(c->policy.ao_order, c->policy.ao_count, order,
	    sizeof order);
	fprintf(f, "ao_order = %s\n", order);
	fprintf(f, "max_clients = %u\n", c->max_clients);
	for (i = 0; i < sizeof config_uints / sizeof config_uints[0]; i++)
		fprintf(f, "%s = %u\n", config_uints[i].key,
		    *(const unsigned int *)(const void *)((const char *)c +
		    config_uints[i].off));
	fprintf(f, "max_vms_per_uid = %u\n", c->max_vms_per_uid);
	fprintf(f, "commit_policy = %s\n", c->commit_policy == COMMIT_INLINE ?
	    "inline" : "pipelined");
	config_print_health(&c->health, f);
	fprintf(f, "libvirt = %s\n", c->libvirt_uri[0] ? c->libvirt_uri :
	    "off");
	fprintf(f, "fleet_key = %s\n", c->fleet_key[0] ? c->fleet_key :
	    "none");
	fprintf(f, "peer_listen = %s\n", c->peer_listen[0] ? c->peer_listen :
	    "none");
	fprintf(f, "peer_advertise = %s\n", c->peer_advertise[0] ?
	    c->peer_advertise : "none");
	config_print_peer(c, f);
	fprintf(f, "metrics_listen = %s\n", c->metrics_listen[0] ?
	    c->metrics_listen : "none");
	fprintf(f, "etcd_endpoints = %s\n", c->etcd_endpoints[0] ?
	    c->etcd_endpoints : "none");
	fprintf(f, "fleet_prefix = %s\n", c->fleet_prefix);
	fprintf(f, "fleet_host_id = %s\n", c->fleet_host_id);
	fprintf(f, "fleet_ttl = %u\n", c->fleet_ttl);
	fprintf(f, "fleet_controller = %s\n", c->fleet_controller ? "on" :
	    "off");
	fprintf(f, "fleet_evacuate_per_host = %u\n",
	    c->fleet_evacuate_per_host);
	fprintf(f, "fleet_evacuate_max = %u\n", c->fleet_evacuate_max);
	fprintf(f, "fleet_migrate_unsafe = %s\n", c->fleet_migrate_unsafe ?
	    "on" : "off");
}
