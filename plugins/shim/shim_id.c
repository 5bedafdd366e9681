/*
 * shim_id.c -- which VM this process runs, and where rasd listens.
 *
 * DESIGN: libvirt starts QEMU with "-name guest=NAME,debug-threads=on" and
 * "-uuid UUID", so the command line names the VM without any help from the
 * VMM. It is read once, from the shim's constructor: late enough that libc
 * has its environment (a sanitizer runtime calls sigaction() from the
 * executable's preinit stage, when getenv() still finds nothing), early
 * enough that the program has not rewritten its argv. Until then the shim
 * has no identity and stays out of the way.
 * RASD_SHIM_NAME / RASD_SHIM_UUID override what the command line says, for
 * VMMs that are not started by libvirt. Without a UUID the shim stays inert.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ras.h"
#include "shim.h"

#define SHIM_ID_CMDLINE_MAX (1024 * 1024)
#define SHIM_ID_SYSTEM_SOCKET "/run/rasd/rasd.sock"

static struct shim_id	shim_id;
static struct shim_id	shim_id_early = {
	.why = "the shim was not initialized yet"
};
static pthread_once_t	shim_id_once = PTHREAD_ONCE_INIT;
static atomic_int	shim_id_done;

/* Read /proc/self/cmdline into a malloc'ed buffer; NULL if unreadable. */
static char *
shim_id_cmdline(size_t *lenp)
{
	char	*buf = NULL, *nbuf;
	size_t	 len = 0, size = 0;
	ssize_t	 n;
	int	 fd;

	if ((fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	for (;;) {
		if (len == size) {
			if (size >= SHIM_ID_CMDLINE_MAX)
				break;
			size = size == 0 ? 4096 : size * 2;
			if ((nbuf = realloc(buf, size + 1)) == NULL)
				break;
			buf = nbuf;
		}
		n = read(fd, buf + len, size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf == NULL)
		return NULL;
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

/*
 * Copy one element of a QEMU option string ("a=b,,c,d=e": a doubled
 * comma is a literal one) into out; returns the start of the next element
 * or NULL at the end. Sets *overflow when the element does not fit.
 */
static const char *
shim_id_opt_next(const char *s, char *out, size_t outlen, int *overflow)
{
	size_t	n = 0;

	*overflow = 0;
	for (; *s != '\0'; s++) {
		if (*s == ',') {
			if (s[1] != ',')
				break;
			s++;
		}
		if (n + 1 < outlen)
			out[n++] = *s;
		else
			*overflow = 1;
	}
	out[n] = '\0';
	return *s == ',' ? s + 1 : NULL;
}

/* The guest name in a -name argument: "guest=NAME" or a bare first NAME. */
static void
shim_id_name_opt(const char *arg, char *out, size_t outlen)
{
	char		 elem[SHIM_NAME_MAX + 8];
	const char	*p = arg;
	int		 first = 1, overflow;

	while (p != NULL) {
		p = shim_id_opt_next(p, elem, sizeof elem, &overflow);
		if (!overflow && strncmp(elem, "guest=", 6) == 0 &&
		    strlen(elem + 6) < outlen) {
			strcpy(out, elem + 6);
			return;
		}
		if (first && !overflow && strchr(elem, '=') == NULL &&
		    strlen(elem) < outlen)
			strcpy(out, elem);
		first = 0;
	}
}

/*
 * The machine type and ras= of a -machine argument ("virt-10.1,ras=on",
 * "type=virt,ras=on"); later -machine options add to earlier ones, as in
 * QEMU.
 */
static void
shim_id_machine_opt(const char *arg, struct shim_id *id)
{
	char		 elem[96];
	const char	*p = arg, *v;
	int		 first = 1, overflow;

	while (p != NULL) {
		p = shim_id_opt_next(p, elem, sizeof elem, &overflow);
		if (overflow)
			continue;
		if ((v = strchr(elem, '=')) == NULL) {
			if (first && strlen(elem) < sizeof id->machine)
				strcpy(id->machine, elem);
		} else if (strncmp(elem, "type=", 5) == 0) {
			if (strlen(elem + 5) < sizeof id->machine)
				strcpy(id->machine, elem + 5);
		} else if (strncmp(elem, "ras=", 4) == 0) {
			v++;
			id->ras = strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 ||
			    strcmp(v, "true") == 0 || strcmp(v, "y") == 0;
		}
		first = 0;
	}
}

/*
 * The error sources QEMU's arm64 "virt" machine puts in the HEST it builds
 * (hw/arm/virt-acpi-build.c), for a machine type and ras=: none without
 * ras=on; {0: SEA} up to virt-10.0 (the x-has-hest-addr compat property
 * off selects hest_ghes_notify_10_0); {0: SEA, 1: GPIO} from virt-10.1.
 * An unversioned "virt" is the newest machine of a QEMU the shim cannot
 * date: it is taken as {0: SEA}, the sources every version has. Fills
 * out (2 entries) and returns the count.
 */
unsigned int
shim_id_arm_profile(const char *machine, int ras, struct rasc_declared *out)
{
	unsigned int	major = 0, minor = 0;
	char		tail;

	if (!ras || strncmp(machine, "virt", 4) != 0)
		return 0;
	out[0].source_id = 0;
	out[0].notify = RAS_NOTIFY_SEA;
	if (sscanf(machine, "virt-%u.%u%c", &major, &minor, &tail) == 2 &&
	    (major > 10 || (major == 10 && minor >= 1))) {
		out[1].source_id = 1;
		out[1].notify = RAS_NOTIFY_GPIO;
		return 2;
	}
	return 1;
}

/* Whether arg is the QEMU option opt, written with one dash or two. */
static int
shim_id_is_opt(const char *arg, const char *opt)
{
	if (arg[0] != '-')
		return 0;
	if (arg[1] == '-')
		arg++;
	return strcmp(arg + 1, opt) == 0;
}

/* Pick -name, -uuid and -incoming out of the command line. */
static void
shim_id_scan(struct shim_id *id, char *uuid, size_t uuidlen)
{
	const char	*arg, *next, *end;
	char		*cmd;
	size_t		 len = 0;

	if ((cmd = shim_id_cmdline(&len)) == NULL)
		return;
	end = cmd + len;
	for (arg = cmd; arg < end; arg = next) {
		next = arg + strlen(arg) + 1;
		if (shim_id_is_opt(arg, "incoming"))
			id->resume = 1;
		if (next >= end)
			continue;
		if (shim_id_is_opt(arg, "uuid") && strlen(next) < uuidlen)
			strcpy(uuid, next);
		else if (shim_id_is_opt(arg, "name"))
			shim_id_name_opt(next, id->name, sizeof id->name);
		else if (shim_id_is_opt(arg, "machine") ||
		    shim_id_is_opt(arg, "M"))
			shim_id_machine_opt(next, id);
	}
	free(cmd);
}

/* rasd's socket: RASD_SOCKET, else the system daemon's, else our own. */
static void
shim_id_socket(struct shim_id *id)
{
	const char	*env = getenv("RASD_SOCKET");

	if (env != NULL && *env != '\0') {
		if (strlen(env) < sizeof id->socket)
			strcpy(id->socket, env);
		return;
	}
	/*
	 * QEMU under libvirt is not root, and ras_default_socket() would
	 * send a non-root user to a per-user rasd; a VMM wants the host's.
	 */
	if (getuid() != 0 && access(SHIM_ID_SYSTEM_SOCKET, F_OK) == 0) {
		strcpy(id->socket, SHIM_ID_SYSTEM_SOCKET);
		return;
	}
	if (ras_default_socket(id->socket, sizeof id->socket) == -1)
		id->socket[0] = '\0';
}

/* Work out the identity once. */
static void
shim_id_init(void)
{
	struct shim_id	*id = &shim_id;
	const char	*env;
	char		 uuid[64] = "";

	shim_id_scan(id, uuid, sizeof uuid);
	if ((env = getenv("RASD_SHIM_UUID")) != NULL && *env != '\0')
		snprintf(uuid, sizeof uuid, "%s", env);
	if ((env = getenv("RASD_SHIM_NAME")) != NULL && *env != '\0')
		snprintf(id->name, sizeof id->name, "%s", env);
	shim_id_socket(id);
	/*
	 * Enforcing where the shim can carry decisions out (x86: shim_mce.c),
	 * unless told to observe; observing elsewhere.
	 */
#if defined(__x86_64__)
	id->enforce = 1;
#endif
	if ((env = getenv("RASD_SHIM_MODE")) != NULL && *env != '\0') {
		if (strcmp(env, "observe") == 0)
			id->enforce = 0;
		else if (strcmp(env, "enforce") != 0)
			id->mode_bad = id->enforce ?
			    "RASD_SHIM_MODE is neither enforce nor observe; "
			    "enforcing" : "RASD_SHIM_MODE is neither enforce "
			    "nor observe; observing";
	}

	if (uuid[0] == '\0') {
		id->why = "no -uuid argument and RASD_SHIM_UUID unset";
		return;
	}
	if (ras_uuid_parse(uuid, id->uuid) == -1) {
		id->why = "the VM UUID is not a UUID";
		return;
	}
	if (id->socket[0] == '\0') {
		id->why = "rasd's socket path is too long";
		return;
	}
	ras_uuid_format(id->uuid, id->uuid_str);
	/* rasd needs a name; the UUID is the one every VM has. */
	if (id->name[0] == '\0')
		memcpy(id->name, id->uuid_str, sizeof id->uuid_str);
	id->valid = 1;
}

/* Work out the identity; the shim's constructor calls this. */
void
shim_id_load(void)
{
	pthread_once(&shim_id_once, shim_id_init);
	atomic_store(&shim_id_done, 1);
}

/* Whether shim_id_load() has run. */
int
shim_id_ready(void)
{
	return atomic_load(&shim_id_done);
}

/* The identity, or an invalid one before shim_id_load(). */
const struct shim_id *
shim_id_get(void)
{
	return atomic_load(&shim_id_done) ? &shim_id : &shim_id_early;
}

/*
 * The QEMU this shim is loaded into, as major * 100 + minor (1000 for
 * 10.0), or 0 when it is not QEMU or does not say. QEMU exports its QMP
 * handlers for its modules; qmp_query_version() returns constants in a
 * freshly allocated VersionInfo, which qapi_free_VersionInfo() frees.
 * Called from the shim's thread, never from a signal handler.
 */
struct shim_qemu_triple {
	int64_t	major, minor, micro;
};
struct shim_qemu_version {
	struct shim_qemu_triple	*qemu;
	char			*package;
};

int
shim_id_qemu_version(void)
{
	struct shim_qemu_version	*(*query)(void **);
	void				 (*release)(struct shim_qemu_version *);
	struct shim_qemu_version	*v;
	int				 n = 0;

	*(void **)&query = dlsym(RTLD_DEFAULT, "qmp_query_version");
	*(void **)&release = dlsym(RTLD_DEFAULT, "qapi_free_VersionInfo");
	if (query == NULL || release == NULL)
		return 0;
	if ((v = query(NULL)) == NULL)
		return 0;
	if (v->qemu != NULL && v->qemu->major > 0 && v->qemu->major < 1000 &&
	    v->qemu->minor >= 0 && v->qemu->minor < 100)
		n = (int)(v->qemu->major * 100 + v->qemu->minor);
	release(v);
	return n;
}
