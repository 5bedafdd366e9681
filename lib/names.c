/*
 * names.c -- printable names for the shared enums, and UUID text.
 *
 * Everything here works on static tables and caller buffers: no allocation,
 * no locale, so the client library may call it from a SIGBUS handler and
 * rasctl gets the same spelling the daemon logs.
 */
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include "ras.h"

/* Indexed by enum ras_notify; ACPI's names, as operators read them in HEST. */
static const char *names_notify[RAS_NOTIFY_COUNT] = {
	"POLLED", "EXTERNAL", "LOCAL", "SCI", "NMI", "CMCI",
	"MCE", "GPIO", "SEA", "SEI", "GSIV", "SDEI"
};

static const char names_hex[] = "0123456789abcdef";

/* Name of a notification type, NULL if out of range. */
const char *
ras_notify_name(unsigned int notify)
{
	if (notify >= RAS_NOTIFY_COUNT)
		return NULL;
	return names_notify[notify];
}

/* Notification type for a name, case-insensitive so configs may say "sea". */
int
ras_notify_from_name(const char *name)
{
	unsigned int	i;

	if (name == NULL)
		return -1;
	for (i = 0; i < RAS_NOTIFY_COUNT; i++) {
		if (strcasecmp(name, names_notify[i]) == 0)
			return (int)i;
	}
	return -1;
}

/* Name of an error kind, spelled as the kernel's BUS_MCEERR_* suffix. */
const char *
ras_kind_name(unsigned int kind)
{
	switch (kind) {
	case RAS_KIND_AR:
		return "AR";
	case RAS_KIND_AO:
		return "AO";
	}
	return NULL;
}

/* Name of an action. */
const char *
ras_action_name(unsigned int action)
{
	switch (action) {
	case RAS_ACTION_INJECT:
		return "inject";
	case RAS_ACTION_IGNORE:
		return "ignore";
	case RAS_ACTION_STOP_VM:
		return "stop-vm";
	}
	return NULL;
}

/*
 * Name of an architecture. RAS_ARCH_UNKNOWN is a legal stored value (a VM
 * registered before its arch was known), so it prints rather than NULL.
 */
const char *
ras_arch_name(unsigned int arch)
{
	switch (arch) {
	case RAS_ARCH_UNKNOWN:
		return "unknown";
	case RAS_ARCH_ARM64:
		return "arm64";
	case RAS_ARCH_X86_64:
		return "x86_64";
	}
	return NULL;
}

/* Architecture for a name; "aarch64" too, since uname and libvirt say so. */
int
ras_arch_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	if (strcasecmp(name, "arm64") == 0 || strcasecmp(name, "aarch64") == 0)
		return RAS_ARCH_ARM64;
	if (strcasecmp(name, "x86_64") == 0)
		return RAS_ARCH_X86_64;
	return -1;
}

/* Format a UUID in the canonical lowercase 8-4-4-4-12 form libvirt prints. */
void
ras_uuid_format(const uint8_t uuid[16], char out[37])
{
	unsigned int	i, o = 0;

	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = names_hex[uuid[i] >> 4];
		out[o++] = names_hex[uuid[i] & 0xf];
	}
	out[o] = '\0';
}

/* Value of one hex digit, -1 if not one; by hand to stay locale-free. */
static int
names_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parse a canonical UUID. Only the exact 36-character form is accepted
 * (either case); braces, "urn:uuid:" and spaces are refused so that one VM
 * never has two spellings. uuid is left untouched on failure.
 */
int
ras_uuid_parse(const char *s, uint8_t uuid[16])
{
	uint8_t		tmp[16];
	unsigned int	i, n = 0;
	int		hi, lo;

	if (s == NULL)
		return -1;
	for (i = 0; i < 36; i += 2) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -1;
			i++;
		}
		if ((hi = names_hexval(s[i])) == -1)
			return -1;
		if ((lo = names_hexval(s[i + 1])) == -1)
			return -1;
		tmp[n++] = (uint8_t)(hi << 4 | lo);
	}
	if (s[36] != '\0')
		return -1;
	for (i = 0; i < 16; i++)
		uuid[i] = tmp[i];
	return 0;
}
