/*
 * virt.c -- the libvirt watcher.
 *
 * DESIGN: rasd talks to libvirt from its own libevent loop: libvirt's event
 * implementation hooks (virEventRegisterImpl) are served by libevent
 * events, so domain events arrive as ordinary callbacks in the one thread
 * that owns all state, with no locking. The connection is kept across
 * libvirtd restarts: a close callback or a failed open schedules a
 * reconnect with exponential backoff (1 s to 30 s), and every (re)connect
 * resynchronises the domain list. Synchronous libvirt calls (metadata
 * updates) are made from the loop too; they are short RPCs, batched per
 * loop turn through a dirty flag, never made from inside a libvirt event
 * callback.
 *
 * What it does with events:
 *  - lifecycle: keeps libvirt's view of each domain; STOPPED/CRASHED mark
 *    the VM stopped in rasd (its poison stays until the next boot);
 *  - REBOOT: a guest reset, so the VM's active poison is retired;
 *  - MEMORY_FAILURE: recorded against the VM, linked to the newest forward
 *    of that VM when one came within the last few seconds;
 *  - every change of a VM's poison state is published into the domain's
 *    <metadata> under rasd's namespace (live, and persistent when the
 *    domain is persistent), so `virsh dumpxml` shows it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "bundle.h"
#include "frame.h"
#include "metrics.h"
#include "rasd.h"

#define VIRT_NS "https://rasd.dev/xmlns/state/1"
#define VIRT_NS_KEY "rasd"
#define VIRT_LINK_WINDOW 10	/* seconds between a forward and its event */
#define VIRT_BACKOFF_MAX 30

struct virt_handle {
	int id;
	int fd;
	int timer;		/* 1: a timeout, 0: an fd watch */
	int interval;		/* timeouts: ms, -1 disabled */
	struct event *ev;
	virEventHandleCallback hcb;
	virEventTimeoutCallback tcb;
	void *opaque;
	virFreeCallback ff;
	struct virt_handle *next;
};

static struct event_base *virt_base;
static struct virt_handle *virt_handles;
static struct virt_handle *virt_dead;	/* removed, freed by virt_reap() */
static struct event *virt_reap_ev;
static int virt_next_id = 1;
static virConnectPtr virt_conn;
static char virt_uri[256];
static struct event *virt_retry_ev, *virt_publish_ev;
static int virt_backoff = 1;
static int virt_cb_ids[4] = { -1, -1, -1, -1 };
static int virt_closed;		/* libvirt told us the connection died */
static int virt_warned;
static struct virt_domain *virt_doms;
static size_t virt_ndoms;

static void virt_connect(void);
static void virt_error_cb(void *, virErrorPtr);

/* --- libvirt event implementation on libevent ------------------------ */

/* Find a handle or timeout by id. */
static struct virt_handle *
virt_find(int id, int timer)
{
	struct virt_handle *h;

	for (h = virt_handles; h != NULL; h = h->next)
		if (h->id == id && h->timer == timer)
			return h;
	return NULL;
}

/* libevent fired on a watched fd: tell libvirt. */
static void
virt_fd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct virt_handle *h = arg;
	int events = 0;

	if (what & EV_READ)
		events |= VIR_EVENT_HANDLE_READABLE;
	if (what & EV_WRITE)
		events |= VIR_EVENT_HANDLE_WRITABLE;
	h->hcb(h->id, (int)fd, events, h->opaque);
}

/* (Re)arm a watch for libvirt's event mask. */
static void
virt_fd_arm(struct virt_handle *h, int events)
{
	short what = EV_PERSIST;

	if (h->ev != NULL)
		event_free(h->ev);
	h->ev = NULL;
	if (events & VIR_EVENT_HANDLE_READABLE)
		what |= EV_READ;
	if (events & VIR_EVENT_HANDLE_WRITABLE)
		what |= EV_WRITE;
	if ((what & (EV_READ | EV_WRITE)) == 0)
		return;
	h->ev = event_new(virt_base, h->fd, what, virt_fd_cb, h);
	if (h->ev == NULL)
		fatalx("event_new");
	event_add(h->ev, NULL);
}

static int
virt_add_handle(int fd, int events, virEventHandleCallback cb, void *opaque,
    virFreeCallback ff)
{
	struct virt_handle *h = xcalloc(1, sizeof *h);

	h->id = virt_next_id++;
	h->fd = fd;
	h->hcb = cb;
	h->opaque = opaque;
	h->ff = ff;
	h->next = virt_handles;
	virt_handles = h;
	virt_fd_arm(h, events);
	return h->id;
}

static void
virt_update_handle(int id, int events)
{
	struct virt_handle *h = virt_find(id, 0);

	if (h != NULL)
		virt_fd_arm(h, events);
}

/*
 * Free callbacks run later, from the loop, as libvirt requires: removed
 * handles wait on virt_dead until the loop's next turn, or until
 * virt_stop() (the loop does not turn again after the last close).
 */
static void
virt_reap(void)
{
	struct virt_handle *h;

	while ((h = virt_dead) != NULL) {
		virt_dead = h->next;
		if (h->ff != NULL)
			h->ff(h->opaque);
		free(h);
	}
}

static void
virt_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	virt_reap();
}

/* Unlink a handle or timeout and free it from the loop. */
static int
virt_remove(int id, int timer)
{
	struct virt_handle **pp, *h;

	for (pp = &virt_handles; (h = *pp) != NULL; pp = &h->next) {
		if (h->id == id && h->timer == timer) {
			*pp = h->next;
			if (h->ev != NULL)
				event_free(h->ev);
			h->ev = NULL;
			h->next = virt_dead;
			virt_dead = h;
			if (virt_reap_ev == NULL &&
			    (virt_reap_ev = event_new(virt_base, -1, 0,
			    virt_reap_cb, NULL)) == NULL)
				fatalx("event_new");
			event_active(virt_reap_ev, EV_TIMEOUT, 0);
			return 0;
		}
	}
	return -1;
}

static int
virt_remove_handle(int id)
{
	return virt_remove(id, 0);
}

/* A libvirt timeout fired; periodic until libvirt changes it. */
static void
virt_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct virt_handle *h = arg;

	h->tcb(h->id, h->opaque);
}

/* (Re)arm a timeout: -1 disabled, 0 every loop turn, else ms. */
static void
virt_timer_arm(struct virt_handle *h, int ms)
{
	struct timeval tv;

	h->interval = ms;
	if (h->ev == NULL) {
		h->ev = event_new(virt_base, -1, EV_PERSIST, virt_timer_cb, h);
		if (h->ev == NULL)
			fatalx("event_new");
	}
	event_del(h->ev);
	if (ms < 0)
		return;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_add(h->ev, &tv);
}

static int
virt_add_timeout(int ms, virEventTimeoutCallback cb, void *opaque,
    virFreeCallback ff)
{
	struct virt_handle *h = xcalloc(1, sizeof *h);

	h->id = virt_next_id++;
	h->timer = 1;
	h->tcb = cb;
	h->opaque = opaque;
	h->ff = ff;
	h->next = virt_handles;
	virt_handles = h;
	virt_timer_arm(h, ms);
	return h->id;
}

static void
virt_update_timeout(int id, int ms)
{
	struct virt_handle *h = virt_find(id, 1);

	if (h != NULL)
		virt_timer_arm(h, ms);
}

static int
virt_remove_timeout(int id)
{
	return virt_remove(id, 1);
}

/* --- libvirt's view of domains --------------------------------------- */

/* libvirt's domain state as a word. */
static const char *
virt_state_name(int state)
{
	switch (state) {
	case VIR_DOMAIN_RUNNING: return "running";
	case VIR_DOMAIN_BLOCKED: return "blocked";
	case VIR_DOMAIN_PAUSED: return "paused";
	case VIR_DOMAIN_SHUTDOWN: return "shutting-down";
	case VIR_DOMAIN_SHUTOFF: return "shut-off";
	case VIR_DOMAIN_CRASHED: return "crashed";
	case VIR_DOMAIN_PMSUSPENDED: return "suspended";
	default: return "unknown";
	}
}

/* The domain entry for a UUID, created if asked. */
static struct virt_domain *
virt_dom(const uint8_t uuid[16], int create)
{
	size_t i;

	for (i = 0; i < virt_ndoms; i++)
		if (memcmp(virt_doms[i].uuid, uuid, 16) == 0)
			return &virt_doms[i];
	if (!create)
		return NULL;
	virt_doms = xreallocarray(virt_doms, virt_ndoms + 1,
	    sizeof *virt_doms);
	memset(&virt_doms[virt_ndoms], 0, sizeof *virt_doms);
	memcpy(virt_doms[virt_ndoms].uuid, uuid, 16);
	return &virt_doms[virt_ndoms++];
}

/* The state a lifecycle event leaves a domain in, or NULL: no change. */
static const char *
virt_event_state(int event)
{
	switch (event) {
	case VIR_DOMAIN_EVENT_STARTED:
	case VIR_DOMAIN_EVENT_RESUMED:
		return "running";
	case VIR_DOMAIN_EVENT_SUSPENDED:
		return "paused";
	case VIR_DOMAIN_EVENT_STOPPED:
		return "shut-off";
	case VIR_DOMAIN_EVENT_SHUTDOWN:
		return "shutting-down";
	case VIR_DOMAIN_EVENT_CRASHED:
		return "crashed";
	case VIR_DOMAIN_EVENT_PMSUSPENDED:
		return "suspended";
	default:
		return NULL;
	}
}

/* Refresh one domain's entry from libvirt (at connect time). */
static void
virt_note_domain(virDomainPtr dom)
{
	unsigned char uuid[VIR_UUID_BUFLEN];
	struct virt_domain *d;
	const char *name;
	int state, reason;

	if (virDomainGetUUID(dom, uuid) != 0)
		return;
	d = virt_dom(uuid, 1);
	if ((name = virDomainGetName(dom)) != NULL)
		snprintf(d->name, sizeof d->name, "%s", name);
	if (virDomainGetState(dom, &state, &reason, 0) == 0)
		snprintf(d->state, sizeof d->state, "%s",
		    virt_state_name(state));
}

/* libvirt's view of one domain, or NULL if libvirt does not know it. */
const struct virt_domain *
virt_find_domain(const uint8_t uuid[16])
{
	return virt_dom(uuid, 0);
}

/* Domains libvirt knows, for rasctl list-vms. */
size_t
virt_domains(const struct virt_domain **out)
{
	*out = virt_doms;
	return virt_ndoms;
}

/* --- metadata -------------------------------------------------------- */

/* Render a VM's state as rasd's metadata element. */
static char *
virt_metadata_xml(const struct vm *vm, size_t max)
{
	size_t cap = 512 + vm->profile.count * 64 + vm->active.n * 200, len;
	size_t slen = 0;
	char *x = xcalloc(1, cap), *b64 = NULL, err[512] = "";
	uint8_t *sealed = NULL;
	struct poison_range r;
	struct poison_iter it;
	const char *n;
	unsigned int i;

	len = (size_t)snprintf(x, cap, "<state generation='%llu' "
	    "pinned='%s' host='%s' state='%s'><profile>",
	    (unsigned long long)vm->generation, vm->pinned ? "yes" : "no",
	    store_host(), vm_state_name(vm->state));
	for (i = 0; i < vm->profile.count && len < cap; i++) {
		n = ras_notify_name(vm->profile.src[i].notify);
		len += (size_t)snprintf(x + len, cap - len,
		    "<source id='%u' notify='%s'/>",
		    vm->profile.src[i].source_id, n != NULL ? n : "?");
	}
	if (len < cap)
		len += (size_t)snprintf(x + len, cap - len, "</profile>");
	poison_seek(&vm->active, 0, &it);
	while (len < cap && poison_next(&it, &r)) {
		n = r.notify == RAS_NOTIFY_NONE ? NULL :
		    ras_notify_name(r.notify);
		len += (size_t)snprintf(x + len, cap - len,
		    "<poison gpa='0x%llx' length='%llu' kind='%s' "
		    "action='%s' notify='%s' source='%d' first-seen='%lld' "
		    "records='%u'/>", (unsigned long long)r.gpa,
		    (unsigned long long)r.len, ras_kind_name(r.kind),
		    ras_action_name(r.action), n != NULL ? n : "none",
		    n != NULL ? (int)r.source_id : -1,
		    (long long)r.first_seen, r.records);
	}
	/* The sealed bundle rides along: the destination's hook imports
	 * it before QEMU starts there (migrate/README.md). */
	if (len < cap && transfer_export((struct vm *)vm, &sealed, &slen,
	    err, sizeof err) == 0 && (b64 = bundle_base64(sealed, slen)) !=
	    NULL && len + strlen(b64) + 128 < max) {
		cap += strlen(b64) + 64;
		x = xreallocarray(x, cap, 1);
		len += (size_t)snprintf(x + len, cap - len, "<bundle "
		    "generation='%llu'>%s</bundle>",
		    (unsigned long long)vm->generation, b64);
	} else if (len < cap)
		log_warnx("libvirt: vm %s: no bundle in metadata: %s",
		    vm->name, err[0] ? err : "too large for the metadata");
	free(b64);
	free(sealed);
	if (len < cap)
		snprintf(x + len, cap - len, "</state>");
	return x;
}

/*
 * Metadata is written by a child process with its own libvirt connection.
 * Writing it takes the domain's job lock in libvirtd, which a migration or
 * a running hook holds for seconds; rasd's loop must never wait for that
 * (the hook itself waits for rasd). The child is a fresh exec of rasd
 * ("--metadata-publisher"), so it inherits none of the loop's state or
 * libvirt's event implementation. Jobs travel over a SOCK_SEQPACKET pair,
 * one message each (16 bytes of UUID, then the XML), so a job is sent
 * whole or not at all: while the child is busy the VM stays dirty and is
 * published again a second later, with its state as it is then.
 */
#define VIRT_PUB_MAX (192u << 10)	/* one job, bytes */

static int virt_pub_fd = -1;
static pid_t virt_pub_pid = -1;
static struct event *virt_pub_retry;

/* Set one domain's metadata, live and persistent as the domain allows. */
static int
virt_pub_set(virConnectPtr conn, const uint8_t uuid[16], const char *xml)
{
	virDomainPtr dom;
	int rc;

	if ((dom = virDomainLookupByUUID(conn, uuid)) == NULL)
		return 0;	/* not a libvirt domain: nothing to publish */
	rc = virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml,
	    VIRT_NS_KEY, VIRT_NS, VIR_DOMAIN_AFFECT_LIVE |
	    VIR_DOMAIN_AFFECT_CONFIG);
	if (rc != 0 && virDomainIsPersistent(dom) != 1)
		rc = virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
		    xml, VIRT_NS_KEY, VIRT_NS, VIR_DOMAIN_AFFECT_LIVE);
	if (rc != 0 && virDomainIsActive(dom) != 1)
		rc = virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
		    xml, VIRT_NS_KEY, VIRT_NS, VIR_DOMAIN_AFFECT_CONFIG);
	if (rc != 0) {
		/* Copy the message first: the next libvirt call resets it. */
		char msg[512];

		snprintf(msg, sizeof msg, "%s", virGetLastErrorMessage());
		log_warnx("libvirt: %s: metadata not published: %s",
		    virDomainGetName(dom), msg);
	}
	virDomainFree(dom);
	return rc;
}

/* The publisher process: one job at a time, reconnecting as needed. */
int
virt_publisher_main(int fd, const char *uri)
{
	virConnectPtr conn = NULL;
	char *buf = xcalloc(1, VIRT_PUB_MAX + 1);
	ssize_t n;

	signal(SIGINT, SIG_IGN);
	virSetErrorFunc(NULL, virt_error_cb);
	for (;;) {
		n = recv(fd, buf, VIRT_PUB_MAX, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 16)
			break;		/* rasd went away */
		buf[n] = '\0';
		if (conn == NULL || virConnectIsAlive(conn) != 1) {
			if (conn != NULL)
				virConnectClose(conn);
			conn = virConnectOpen(uri);
		}
		if (conn != NULL)
			virt_pub_set(conn, (uint8_t *)buf, buf + 16);
	}
	if (conn != NULL)
		virConnectClose(conn);
	free(buf);
	return 0;
}

/* Start the publisher: fork and exec rasd itself in publisher mode. */
static int
virt_pub_start(void)
{
	char fdarg[16];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("libvirt: socketpair");
		return -1;
	}
	if ((virt_pub_pid = fork()) == -1) {
		log_warn("libvirt: fork");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (virt_pub_pid == 0) {
		if (dup2(sv[1], 3) == -1)
			_exit(127);
		snprintf(fdarg, sizeof fdarg, "%d", 3);
		execl("/proc/self/exe", "rasd", "--metadata-publisher", fdarg,
		    virt_uri, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	virt_pub_fd = sv[0];
	fcntl(virt_pub_fd, F_SETFL, fcntl(virt_pub_fd, F_GETFL) | O_NONBLOCK);
	return 0;
}

/* Hand one VM's metadata to the publisher; -1 to try again later. */
static int
virt_publish_vm(struct vm *vm)
{
	char *xml, *job;
	size_t len;
	ssize_t n;

	if (virt_pub_fd == -1 || virt_conn == NULL ||
	    virt_find_domain(vm->uuid) == NULL) {
		vm->meta_dirty = 0;
		return 0;
	}
	xml = virt_metadata_xml(vm, VIRT_PUB_MAX - 16);
	len = strlen(xml);
	job = xcalloc(1, 16 + len);
	memcpy(job, vm->uuid, 16);
	memcpy(job + 16, xml, len);
	n = send(virt_pub_fd, job, 16 + len, MSG_DONTWAIT | MSG_NOSIGNAL);
	free(job);
	free(xml);
	if (n == (ssize_t)(16 + len)) {
		vm->meta_dirty = 0;
		log_debug("libvirt: vm %s: metadata queued (generation %llu, "
		    "%zu ranges)", vm->name,
		    (unsigned long long)vm->generation, vm->active.n);
		return 0;
	}
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -1;	/* busy: libvirtd holds it; later */
	log_warnx("libvirt: metadata publisher gone (%s); restarting it",
	    n == -1 ? strerror(errno) : "short send");
	close(virt_pub_fd);
	virt_pub_fd = -1;
	if (virt_pub_pid > 0)
		waitpid(virt_pub_pid, NULL, 0);
	virt_pub_start();
	return -1;
}

/* Publish every VM marked dirty; retry in a second if the child is busy. */
static void
virt_publish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { 1, 0 };
	struct vm *vm;
	int later = 0;

	for (vm = vm_first(); vm != NULL; vm = vm->next_all)
		if (vm->meta_dirty && virt_publish_vm(vm) == -1)
			later = 1;
	if (later)
		evtimer_add(virt_pub_retry, &tv);
}

/* A VM's poison state changed: publish it at the end of this turn. */
void
virt_vm_changed(struct vm *vm)
{
	if (virt_publish_ev == NULL)
		return;
	vm->meta_dirty = 1;
	event_active(virt_publish_ev, EV_TIMEOUT, 0);
}

/* --- domain events --------------------------------------------------- */

/* Lifecycle: keep libvirt's view; stopped domains stop their VM. */
static int
virt_lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event,
    int detail, void *opaque)
{
	unsigned char uuid[VIR_UUID_BUFLEN];
	struct virt_domain *d;
	const char *st, *name;
	struct vm *vm;

	/* No RPC here: libvirtd may be running a hook for this very domain,
	 * and the hook waits for rasd. The event says enough. */
	if (virDomainGetUUID(dom, uuid) != 0)
		return 0;
	d = virt_dom(uuid, 1);
	if ((name = virDomainGetName(dom)) != NULL)
		snprintf(d->name, sizeof d->name, "%s", name);
	if ((st = virt_event_state(event)) != NULL)
		snprintf(d->state, sizeof d->state, "%s", st);
	else if (d->state[0] == '\0')
		snprintf(d->state, sizeof d->state, "shut-off");
	if ((vm = vm_find_uuid(uuid)) == NULL)
		return 0;
	log_info("libvirt: vm %s: lifecycle event %d/%d (now %s)", vm->name,
	    event, detail, d != NULL ? d->state : "?");
	/* The VMM's socket may still be open for a moment; the VM is
	 * stopped all the same, and its closing will not say otherwise. */
	if (event == VIR_DOMAIN_EVENT_RESUMED && vm->state == VM_MIGRATED &&
	    vm->client != NULL) {
		/* The migration failed after the final sync: the guest runs
		 * here again. */
		vm->state = VM_RUNNING;
		vm->handed_off = 0;
		store_save_vm(vm);
		log_info("vm %s: resumed here: the migration did not complete",
		    vm->name);
	}
	if ((event == VIR_DOMAIN_EVENT_STOPPED ||
	    event == VIR_DOMAIN_EVENT_CRASHED) && vm->state != VM_STOPPED &&
	    vm->state != VM_MIGRATED) {
		vm->state = VM_STOPPED;
		if (store_save_vm(vm) == -1)
			log_warnx("vm %s: stop not recorded: %s", vm->name,
			    store_error());
		log_info("vm %s: stopped (libvirt)", vm->name);
	}
	if (event == VIR_DOMAIN_EVENT_STOPPED ||
	    event == VIR_DOMAIN_EVENT_STARTED ||
	    event == VIR_DOMAIN_EVENT_DEFINED)
		virt_vm_changed(vm);
	return 0;
}

/* Reboot: the guest was reset and its memory is fresh. */
static int
virt_reboot_cb(virConnectPtr conn, virDomainPtr dom, void *opaque)
{
	unsigned char uuid[VIR_UUID_BUFLEN];
	struct vm *vm;

	if (virDomainGetUUID(dom, uuid) != 0 ||
	    (vm = vm_find_uuid(uuid)) == NULL)
		return 0;
	vmm_retire(vm, "guest reset (libvirt reboot event)");
	return 0;
}

/* Memory failure: record it, linked to its forward if there is one. */
static int
virt_memfail_cb(virConnectPtr conn, virDomainPtr dom, int recipient,
    int action, unsigned int flags, void *opaque)
{
	unsigned char uuid[VIR_UUID_BUFLEN];
	int64_t now = (int64_t)time(NULL);
	uint64_t link = 0;
	struct vm *vm;

	if (virDomainGetUUID(dom, uuid) != 0)
		return 0;
	if ((vm = vm_find_uuid(uuid)) == NULL) {
		log_warnx("libvirt: memory failure in domain %s, which no "
		    "VMM registered with rasd (recipient %d action %d flags "
		    "%u)", virDomainGetName(dom), recipient, action, flags);
		return 0;
	}
	batch_flush();
	if (vm->last_forward_id != 0 && now - vm->last_forward_time <=
	    VIRT_LINK_WINDOW && vm->last_forward_linked !=
	    (int64_t)vm->last_forward_id) {
		link = vm->last_forward_id;
		vm->last_forward_linked = (int64_t)link;
	}
	if (store_save_vevent(vm, now, recipient, action, flags, link) == 0)
		log_info("libvirt: vm %s: memory failure recipient=%s "
		    "action=%s flags=%u%s", vm->name,
		    recipient == 1 ? "guest" : "hypervisor",
		    action == 0 ? "ignore" : action == 1 ? "inject" :
		    action == 2 ? "fatal" : action == 3 ? "reset" : "?",
		    flags, link ? " (linked to its forward)" : "");
	return 0;
}

/* --- connection ------------------------------------------------------ */

/* libvirt says the connection is gone: reconnect from the loop. */
static void
virt_close_cb(virConnectPtr conn, int reason, void *opaque)
{
	struct timeval tv = { 0, 0 };

	log_warnx("libvirt: connection to %s lost (reason %d); reconnecting",
	    virt_uri, reason);
	virt_closed = 1;
	metrics_libvirt(0);
	event_add(virt_retry_ev, &tv);
}

/* Drop the connection and its callbacks. */
static void
virt_disconnect(void)
{
	size_t i;

	if (virt_conn == NULL)
		return;
	for (i = 0; i < 4; i++) {
		if (virt_cb_ids[i] >= 0)
			virConnectDomainEventDeregisterAny(virt_conn,
			    virt_cb_ids[i]);
		virt_cb_ids[i] = -1;
	}
	virConnectUnregisterCloseCallback(virt_conn, virt_close_cb);
	virConnectClose(virt_conn);
	virt_conn = NULL;
}

/* Reconnect timer. */
static void
virt_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	if (virt_closed) {
		virt_closed = 0;
		virt_disconnect();
	}
	virt_connect();
}

/* Open the connection, subscribe, and resynchronise. */
static void
virt_connect(void)
{
	struct timeval tv;
	virDomainPtr *doms = NULL;
	struct vm *vm;
	int n, i;

	virt_conn = virConnectOpen(virt_uri);
	if (virt_conn == NULL) {
		if (!virt_warned)
			log_warnx("libvirt: cannot connect to %s: %s; retrying "
			    "with backoff", virt_uri, virGetLastErrorMessage());
		virt_warned = 1;
		metrics_libvirt(0);
		tv.tv_sec = virt_backoff;
		tv.tv_usec = 0;
		event_add(virt_retry_ev, &tv);
		if (virt_backoff < VIRT_BACKOFF_MAX)
			virt_backoff *= 2;
		return;
	}
	virt_backoff = 1;
	virt_warned = 0;
	metrics_libvirt(1);
	virConnectSetKeepAlive(virt_conn, 5, 3);
	virConnectRegisterCloseCallback(virt_conn, virt_close_cb, NULL, NULL);
	virt_cb_ids[0] = virConnectDomainEventRegisterAny(virt_conn, NULL,
	    VIR_DOMAIN_EVENT_ID_LIFECYCLE,
	    VIR_DOMAIN_EVENT_CALLBACK(virt_lifecycle_cb), NULL, NULL);
	virt_cb_ids[1] = virConnectDomainEventRegisterAny(virt_conn, NULL,
	    VIR_DOMAIN_EVENT_ID_REBOOT,
	    VIR_DOMAIN_EVENT_CALLBACK(virt_reboot_cb), NULL, NULL);
	virt_cb_ids[2] = virConnectDomainEventRegisterAny(virt_conn, NULL,
	    VIR_DOMAIN_EVENT_ID_MEMORY_FAILURE,
	    VIR_DOMAIN_EVENT_CALLBACK(virt_memfail_cb), NULL, NULL);
	if (virt_cb_ids[2] < 0)
		log_warnx("libvirt: no memory-failure events from %s: %s",
		    virt_uri, virGetLastErrorMessage());

	virt_ndoms = 0;
	n = virConnectListAllDomains(virt_conn, &doms, 0);
	for (i = 0; i < n; i++) {
		virt_note_domain(doms[i]);
		virDomainFree(doms[i]);
	}
	free(doms);
	/* What happened while we were away: stopped domains, metadata. */
	for (vm = vm_first(); vm != NULL; vm = vm->next_all) {
		const struct virt_domain *d = virt_dom(vm->uuid, 0);

		if (d == NULL)
			continue;
		if (strcmp(d->state, "shut-off") == 0 &&
		    vm->state != VM_STOPPED) {
			vm->state = VM_STOPPED;
			store_save_vm(vm);
		}
		virt_vm_changed(vm);
	}
	log_info("libvirt: connected to %s, %d domains", virt_uri, n < 0 ?
	    0 : n);
}

/* Silence libvirt's default error printing; we log what matters. */
static void
virt_error_cb(void *opaque, virErrorPtr err)
{
	if (err != NULL)
		log_debug("libvirt: %s", err->message);
}

/* Start watching libvirt at uri. */
int
virt_start(struct event_base *base, const char *uri)
{
	virt_base = base;
	snprintf(virt_uri, sizeof virt_uri, "%s", uri);
	virSetErrorFunc(NULL, virt_error_cb);
	if (virt_pub_start() == -1)
		log_warnx("libvirt: no metadata publisher; domain metadata "
		    "will not show rasd's state");
	virEventRegisterImpl(virt_add_handle, virt_update_handle,
	    virt_remove_handle, virt_add_timeout, virt_update_timeout,
	    virt_remove_timeout);
	virt_retry_ev = evtimer_new(base, virt_retry_cb, NULL);
	virt_publish_ev = event_new(base, -1, 0, virt_publish_cb, NULL);
	virt_pub_retry = evtimer_new(base, virt_publish_cb, NULL);
	if (virt_retry_ev == NULL || virt_publish_ev == NULL)
		fatalx("event_new");
	virt_connect();
	return 0;
}

/* Stop watching libvirt. */
void
virt_stop(void)
{
	struct virt_handle *h, *next;

	virt_disconnect();
	if (virt_pub_fd != -1)
		close(virt_pub_fd);	/* the child sees EOF and exits */
	virt_pub_fd = -1;
	if (virt_pub_pid > 0)
		waitpid(virt_pub_pid, NULL, 0);
	virt_pub_pid = -1;
	if (virt_retry_ev != NULL)
		event_free(virt_retry_ev);
	if (virt_publish_ev != NULL)
		event_free(virt_publish_ev);
	if (virt_pub_retry != NULL)
		event_free(virt_pub_retry);
	virt_pub_retry = NULL;
	virt_retry_ev = virt_publish_ev = NULL;
	for (h = virt_handles; h != NULL; h = next) {
		next = h->next;
		if (h->ev != NULL)
			event_free(h->ev);
		if (h->ff != NULL)
			h->ff(h->opaque);
		free(h);
	}
	virt_handles = NULL;
	virt_reap();
	if (virt_reap_ev != NULL)
		event_free(virt_reap_ev);
	virt_reap_ev = NULL;
	free(virt_doms);
	virt_doms = NULL;
	virt_ndoms = 0;
}
