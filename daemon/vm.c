/*
 * vm.c -- the registry of VMs rasd knows, by UUID and by name.
 *
 * Two chained hash tables give O(1) lookup for one VM, so a query about one
 * VM never walks the others; a plain list keeps registration order for
 * listings.
 */
#include <stdlib.h>
#include <string.h>

#include "rasd.h"

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

/* Look a VM up by name; the most recently named one wins. */
struct vm *
vm_find_name(const char *name)
{
	struct vm *vm;

	for (vm = vm_by_name[vm_hash(name, strlen(name))]; vm != NULL;
	    vm = vm->next_name)
		if (strcmp(vm->name, name) == 0)
			return vm;
	return NULL;
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
