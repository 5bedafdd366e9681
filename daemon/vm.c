/*
 * vm.c -- the registry of VMs rasd knows, by UUID and by name, and who may
 * register them.
 *
 * Two chained hash tables give O(1) lookup for one VM, so a query about one
 * VM never walks the others; a plain list keeps registration order for
 * listings.
 *
 * DESIGN (identity of a VM's VMM): a uid says little about a VMM -- under
 * libvirt every QEMU runs as the same uid. So a VM is bound to the process
 * that registered it: its pid, its start time (/proc/PID/stat field 22, so
 * a reused pid is not the same process) and its cgroup. While the VM is
 * not stopped, another process may take it (resume it and read its
 * ranges, or boot it fresh and retire them) only when the bound process is
 * gone and the newcomer is authorized:
 *  - root (it could do anything anyway);
 *  - a process in the same cgroup, if that cgroup is one the newcomer could
 *    not have joined by itself (not the root cgroup, its cgroup.procs owned
 *    by root and writable by nobody else): a restarted systemd service, a
 *    VMM in a scope of its own. A cgroup shared by several VMMs does not
 *    tell them apart;
 *  - a process confined as that very libvirt domain (AppArmor's sVirt
 *    label "libvirt-UUID", read with SO_PEERSEC); a process confined as
 *    another domain is refused whatever the VM's state.
 * A stopped VM (its VMM unregistered; libvirt's stop event or its hook
 * said so, `rasctl mark-stopped`) has no VMM left to impersonate: any
 * process of its owner may start it; so may a VM handed off to another
 * host once its VMM here is gone (it comes back by migration). A libvirt
 * domain restarts through that stop, so a new QEMU of the domain is
 * accepted. An imported VM
 * (incoming) is claimed by the first VMM of a permitted uid, and bound to
 * it from then on. The store keeps the binding (pid, start time, cgroup),
 * so a rasd restart changes none of this. Only a VM last saved by a
 * schema-1 store (which kept the pid only) has no start time: the same
 * pid is taken as the same process, and a different one is refused while
 * that pid lives, until its VMM registers again.
 *
 * Names: a name belongs to one VM. A name held by a running VM is busy for
 * everyone; a name held by a known VM that is not stopped (disconnected,
 * incoming) is refused to everyone but root; a stopped VM's name may be
 * taken by its owner (or root) -- libvirt redefining a domain -- never by
 * another uid. A lookup by name prefers the VM that is not stopped, then
 * the most recently named.
 *
 * Every uid but root has at most max_vms_per_uid VMs known to rasd.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "rasd.h"

#define VM_CGROUP2_MAGIC 0x63677270	/* CGROUP2_SUPER_MAGIC */

#define VM_HASH 256

static struct vm *vm_by_uuid[VM_HASH];
static struct vm *vm_by_name[VM_HASH];
static struct vm *vm_all;
static struct vm **vm_all_tail = &vm_all;
static size_t vm_n;

/* FNV-1a over n bytes, folded to the table size. */
static unsigned int
vm_hash(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t h = 2166136261u;

	while (n-- > 0)
		h = (h ^ *b++) * 16777619u;
	return h % VM_HASH;
}

/* Look a VM up by UUID. */
struct vm *
vm_find_uuid(const uint8_t uuid[16])
{
	struct vm *vm;

	for (vm = vm_by_uuid[vm_hash(uuid, 16)]; vm != NULL;
	    vm = vm->next_uuid)
		if (memcmp(vm->uuid, uuid, 16) == 0)
			return vm;
	return NULL;
}

/* Whether a VM has no VMM, here or to come: stopped or handed off. */
static int
vm_is_idle(const struct vm *vm)
{
	return vm->client == NULL && (vm->state == VM_STOPPED ||
	    vm->state == VM_MIGRATED);
}

/*
 * Look a VM up by name: the one that is not stopped if there is one (at
 * most one is: vm_may_name), else the most recently named.
 */
struct vm *
vm_find_name(const char *name)
{
	struct vm *vm, *first = NULL;

	for (vm = vm_by_name[vm_hash(name, strlen(name))]; vm != NULL;
	    vm = vm->next_name) {
		if (strcmp(vm->name, name) != 0)
			continue;
		if (!vm_is_idle(vm))
			return vm;
		if (first == NULL)
			first = vm;
	}
	return first;
}

/* Look a VM up by UUID string or name. */
struct vm *
vm_find(const char *s)
{
	uint8_t uuid[16];
	struct vm *vm;

	if (ras_uuid_parse(s, uuid) == 0 && (vm = vm_find_uuid(uuid)) != NULL)
		return vm;
	return vm_find_name(s);
}

/* Unlink a VM from the name table. */
static void
vm_unlink_name(struct vm *vm)
{
	struct vm **pp = &vm_by_name[vm_hash(vm->name, strlen(vm->name))];

	for (; *pp != NULL; pp = &(*pp)->next_name) {
		if (*pp == vm) {
			*pp = vm->next_name;
			return;
		}
	}
}

/* Link a VM at the head of its name chain. */
static void
vm_link_name(struct vm *vm)
{
	unsigned int h = vm_hash(vm->name, strlen(vm->name));

	vm->next_name = vm_by_name[h];
	vm_by_name[h] = vm;
}

/* Create and register a VM; the caller checked it does not exist. */
struct vm *
vm_create(const uint8_t uuid[16], const char *name)
{
	struct vm *vm = xcalloc(1, sizeof *vm);
	unsigned int h = vm_hash(uuid, 16);

	memcpy(vm->uuid, uuid, 16);
	ras_uuid_format(uuid, vm->uuid_str);
	strncpy(vm->name, name, RASD_NAME_MAX);
	vm->state = VM_STOPPED;
	poison_init(&vm->active);
	vm->next_uuid = vm_by_uuid[h];
	vm_by_uuid[h] = vm;
	vm_link_name(vm);
	*vm_all_tail = vm;
	vm_all_tail = &vm->next_all;
	vm_n++;
	return vm;
}

/* Give a VM a new name (libvirt allows renaming a domain). */
void
vm_rename(struct vm *vm, const char *name)
{
	vm_unlink_name(vm);
	strncpy(vm->name, name, RASD_NAME_MAX);
	vm->name[RASD_NAME_MAX] = '\0';
	vm_link_name(vm);
}

/* First VM in registration order; follow next_all. */
struct vm *
vm_first(void)
{
	return vm_all;
}

/* Number of VMs known. */
size_t
vm_count(void)
{
	return vm_n;
}

/* Replace the VM's profile and the HEST bytes it came from. */
int
vm_set_profile(struct vm *vm, const void *hest, size_t hest_len,
    const struct ras_profile *prof)
{
	free(vm->hest);
	vm->hest = NULL;
	vm->hest_len = 0;
	if (hest != NULL && hest_len > 0) {
		vm->hest = xcalloc(1, hest_len);
		memcpy(vm->hest, hest, hest_len);
		vm->hest_len = hest_len;
	}
	vm->profile = *prof;
	return 0;
}

/* Translate a VMM host address to guest-physical through the slots. */
int
vm_translate(const struct vm *vm, uint64_t hva, uint64_t *gpa,
    const struct vm_slot **slot)
{
	size_t i;

	for (i = 0; i < vm->nslots; i++) {
		const struct vm_slot *s = &vm->slots[i];

		if (hva >= s->hva && hva - s->hva < s->size) {
			*gpa = s->gpa + (hva - s->hva);
			if (slot != NULL)
				*slot = s;
			return 0;
		}
	}
	return -1;
}

/* Name of a VM state as rasctl shows it. */
const char *
vm_state_name(int state)
{
	switch (state) {
	case VM_RUNNING:
		return "running";
	case VM_DISCONNECTED:
		return "disconnected";
	case VM_INCOMING:
		return "incoming";
	case VM_MIGRATED:
		return "migrated-away";
	default:
		return "stopped";
	}
}

/* Whether two boot profiles name the same sources with the same types. */
int
vm_profile_equal(const struct ras_profile *a, const struct ras_profile *b)
{
	unsigned int i;

	if (a->count != b->count)
		return 0;
	for (i = 0; i < a->count; i++)
		if (a->src[i].source_id != b->src[i].source_id ||
		    a->src[i].notify != b->src[i].notify)
			return 0;
	return 1;
}

/* Free every VM (at shutdown, so leak checkers stay quiet). */
void
vm_free_all(void)
{
	struct vm *vm, *next;

	for (vm = vm_all; vm != NULL; vm = next) {
		next = vm->next_all;
		poison_free(&vm->active);
		free(vm->hest);
		free(vm->slots);
		free(vm->source_peer);
		free(vm);
	}
	memset(vm_by_uuid, 0, sizeof vm_by_uuid);
	memset(vm_by_name, 0, sizeof vm_by_name);
	vm_all = NULL;
	vm_all_tail = &vm_all;
	vm_n = 0;
}

/* Read a process's start time; 0 if it is gone or a zombie. */
static uint64_t
vm_proc_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start;
	FILE *f;
	size_t n;
	int field;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name is in parentheses and may hold anything. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return 0;
	p += 2;
	if (*p == 'Z' || *p == 'X')
		return 0;
	for (field = 3; field < 22; field++) {
		if ((p = strchr(p, ' ')) == NULL)
			return 0;
		p++;
	}
	if (sscanf(p, "%llu", &start) != 1)
		return 0;
	return start == 0 ? 1 : (uint64_t)start;
}

/* Read a process's cgroup v2 path ("0::/path"); "" if none. */
static void
vm_proc_cgroup(pid_t pid, char *out, size_t outlen)
{
	char path[64], line[4096];
	size_t n;
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "0::/", 4) != 0)
			continue;
		n = strcspn(line + 3, "\n");
		if (n < outlen && line[3 + n] == '\n') {
			memcpy(out, line + 3, n);
			out[n] = '\0';
		}
		break;
	}
	fclose(f);
}

/* Who the process behind a VMM connection is (fd: the connection). */
void
vm_ident_read(pid_t pid, int fd, struct vm_ident *id)
{
	socklen_t len;

	memset(id, 0, sizeof *id);
	id->pid = pid;
	if ((id->start = vm_proc_start(pid)) == 0)
		return;
	vm_proc_cgroup(pid, id->cgroup, sizeof id->cgroup);
	len = sizeof id->label - 1;
	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERSEC, id->label,
	    &len) == -1)
		len = 0;
	id->label[len < sizeof id->label ? len : sizeof id->label - 1] =
	    '\0';
	/* The start time is read last: the process was alive throughout. */
	if (vm_proc_start(pid) != id->start)
		memset(id, 0, sizeof *id);
}

/* Bind a VM to the VMM process that registered it. */
void
vm_bind(struct vm *vm, const struct vm_ident *id)
{
	vm->vmm_start = id->start;
	snprintf(vm->vmm_cgroup, sizeof vm->vmm_cgroup, "%s", id->cgroup);
}

/* Whether the process a VM is bound to still runs. */
static int
vm_vmm_alive(const struct vm *vm)
{
	uint64_t start;

	if (vm->pid == 0 || (start = vm_proc_start((pid_t)vm->pid)) == 0)
		return 0;
	return vm->vmm_start == 0 || start == vm->vmm_start;
}

/*
 * Whether a cgroup is one its members could not have joined by themselves:
 * not the root, and its cgroup.procs owned by root and writable by no one
 * else (a non-root process cannot move itself in).
 */
static int
vm_cgroup_private(const char *cg)
{
	static const char *const mounts[] = { "/sys/fs/cgroup/unified",
	    "/sys/fs/cgroup" };
	char path[1024];
	struct statfs sfs;
	struct stat st;
	size_t i;

	if (cg[0] != '/' || cg[1] == '\0' || strstr(cg, "/..") != NULL)
		return 0;
	for (i = 0; i < sizeof mounts / sizeof mounts[0]; i++) {
		if ((size_t)snprintf(path, sizeof path, "%s%s/cgroup.procs",
		    mounts[i], cg) >= sizeof path)
			return 0;
		if (statfs(path, &sfs) == -1 ||
		    (unsigned long)sfs.f_type != VM_CGROUP2_MAGIC)
			continue;
		if (stat(path, &st) == -1)
			return 0;
		return st.st_uid == 0 &&
		    (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
	}
	return 0;
}

/* The domain UUID of an AppArmor sVirt label "libvirt-UUID ..."; -1: none. */
static int
vm_label_domain(const char *label, uint8_t uuid[16])
{
	char s[37];

	if (strncmp(label, "libvirt-", 8) != 0 || strlen(label + 8) < 36 ||
	    (label[44] != '\0' && label[44] != ' '))
		return -1;
	memcpy(s, label + 8, 36);
	s[36] = '\0';
	return ras_uuid_parse(s, uuid);
}

/*
 * Whether the process id (of uid) may register the VM with this UUID (vm:
 * NULL if new). 0, or an error code with the reason in why. The owner's
 * uid was checked already.
 */
int
vm_may_register(const struct vm *vm, const uint8_t uuid[16], uid_t uid,
    const struct vm_ident *id, char *why, size_t whylen)
{
	uint8_t dom[16];
	char us[37], ds[37];
	int alive, own;

	ras_uuid_format(uuid, us);
	if (vm_label_domain(id->label, dom) == 0) {
		if (memcmp(dom, uuid, 16) == 0)
			return 0;
		ras_uuid_format(dom, ds);
		snprintf(why, whylen, "denied: pid %d is confined as libvirt "
		    "domain %s and cannot register VM %s", (int)id->pid, ds,
		    us);
		return RAS__ERROR_CODE__ERR_DENIED;
	}
	if (vm == NULL || uid == 0 || vm->state == VM_STOPPED ||
	    vm->state == VM_INCOMING || vm->pid == 0)
		return 0;
	if ((pid_t)vm->pid == id->pid &&
	    (vm->vmm_start == 0 || vm->vmm_start == id->start))
		return 0;	/* its own VMM, reconnecting */
	alive = vm_vmm_alive(vm);
	if (vm->state == VM_MIGRATED && !alive)
		return 0;	/* handed off, and its VMM here is gone */
	if (alive) {
		snprintf(why, whylen, "VM %s (%s) is bound to its VMM pid %u, "
		    "which still runs", vm->name, us, vm->pid);
		return RAS__ERROR_CODE__ERR_BUSY;
	}
	if (id->start != 0 && vm->vmm_cgroup[0] != '\0' &&
	    strcmp(id->cgroup, vm->vmm_cgroup) == 0 &&
	    vm_cgroup_private(id->cgroup))
		return 0;	/* a restarted VMM in the VM's own cgroup */
	own = vm->vmm_cgroup[0] != '\0' && vm_cgroup_private(vm->vmm_cgroup);
	snprintf(why, whylen, "denied: pid %d (uid %u, cgroup %s) is not the "
	    "VMM of VM %s (%s), which was pid %u (cgroup %s) and is %s; until "
	    "it is stopped (libvirt's stop, rasctl mark-stopped) only root%s "
	    "may take it over", (int)id->pid, (unsigned int)uid,
	    id->cgroup[0] ? id->cgroup : "?", vm->name, us, vm->pid,
	    vm->vmm_cgroup[0] ? vm->vmm_cgroup : "?",
	    vm_state_name(vm->state), own ? " or a VMM in that cgroup" : "");
	return RAS__ERROR_CODE__ERR_DENIED;
}

/*
 * Whether uid may give this name to vm (NULL: a VM not known yet). 0, or
 * an error code with the reason in why.
 */
int
vm_may_name(const struct vm *vm, const char *name, uid_t uid, char *why,
    size_t whylen)
{
	struct vm *o;

	for (o = vm_by_name[vm_hash(name, strlen(name))]; o != NULL;
	    o = o->next_name) {
		if (o == vm || strcmp(o->name, name) != 0)
			continue;
		if (o->client != NULL) {
			snprintf(why, whylen, "name %s is in use by the running "
			    "VM %s", name, o->uuid_str);
			return RAS__ERROR_CODE__ERR_BUSY;
		}
		if (uid == 0)
			continue;
		if (!vm_is_idle(o) || (o->owner_uid != UINT32_MAX &&
		    o->owner_uid != (uint32_t)uid)) {
			snprintf(why, whylen, "denied: name %s is in use by "
			    "the known VM %s (%s)", name, o->uuid_str,
			    vm_state_name(o->state));
			return RAS__ERROR_CODE__ERR_DENIED;
		}
	}
	return 0;
}

/* Number of VMs a uid owns. */
size_t
vm_count_owned(uint32_t uid)
{
	const struct vm *vm;
	size_t n = 0;

	for (vm = vm_all; vm != NULL; vm = vm->next_all)
		if (vm->owner_uid == uid)
			n++;
	return n;
}
