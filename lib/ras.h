/*
 * ras.h -- types shared by rasd, rasctl, the VMM client library and tests.
 *
 * Everything here is plain data: no allocation, no I/O, so the client
 * library can use it from a SIGBUS handler.
 */
#ifndef RAS_H
#define RAS_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

/* ACPI hardware error notification types (enum acpi_hest_notify_types). */
enum ras_notify {
	RAS_NOTIFY_POLLED = 0,
	RAS_NOTIFY_EXTERNAL = 1,
	RAS_NOTIFY_LOCAL = 2,
	RAS_NOTIFY_SCI = 3,
	RAS_NOTIFY_NMI = 4,
	RAS_NOTIFY_CMCI = 5,
	RAS_NOTIFY_MCE = 6,
	RAS_NOTIFY_GPIO = 7,
	RAS_NOTIFY_SEA = 8,
	RAS_NOTIFY_SEI = 9,
	RAS_NOTIFY_GSIV = 10,
	RAS_NOTIFY_SDEI = 11,
	RAS_NOTIFY_COUNT = 12,
	RAS_NOTIFY_NONE = 255
};

/* Bit for a notification type in a capability / profile mask. */
#define RAS_NOTIFY_BIT(t) (1u << (t))

/* Memory-error kind, as the kernel reports it in si_code. */
enum ras_kind {
	RAS_KIND_AR = 1, /* BUS_MCEERR_AR: the guest touched it */
	RAS_KIND_AO = 2  /* BUS_MCEERR_AO: found asynchronously */
};

/* What the VMM must do with a memory error. */
enum ras_action {
	RAS_ACTION_INJECT = 1,
	RAS_ACTION_IGNORE = 2,	/* recorded, not notified */
	RAS_ACTION_STOP_VM = 3	/* AR with nothing deliverable */
};

enum ras_arch {
	RAS_ARCH_UNKNOWN = 0,
	RAS_ARCH_ARM64 = 1,
	RAS_ARCH_X86_64 = 2
};

/* The vendor of an x86 guest's CPU: QEMU >= 9.1 encodes MCEs by it. */
enum ras_cpu_vendor {
	RAS_CPU_UNKNOWN = 0,	/* encoded as Intel, as QEMU before 9.1 did */
	RAS_CPU_INTEL = 1,
	RAS_CPU_AMD = 2
};

/* One error source the guest was given at boot. */
struct ras_source {
	uint16_t source_id;
	uint8_t notify;		/* enum ras_notify */
	uint8_t hest_type;	/* HEST subtable type, 0xff when declared */
};

#define RAS_PROFILE_MAX 64

/* The boot profile: the error sources the guest saw at boot. */
struct ras_profile {
	unsigned int count;
	struct ras_source src[RAS_PROFILE_MAX];
};

/* The outcome of the policy for one memory error. */
struct ras_decision {
	uint8_t action;		/* enum ras_action */
	uint8_t notify;		/* enum ras_notify, RAS_NOTIFY_NONE if none */
	uint16_t source_id;	/* valid when action == INJECT */
	uint8_t hest_type;	/* of the chosen source, 0xff if declared */
};

/* Wire protocol version spoken (proto/rasd.proto). */
#define RAS_PROTO_VERSION 1

/* Names as rasctl prints them; NULL for out-of-range values. */
const char *ras_notify_name(unsigned int notify);
int ras_notify_from_name(const char *name);	/* -1 if unknown */
const char *ras_kind_name(unsigned int kind);
const char *ras_action_name(unsigned int action);
const char *ras_arch_name(unsigned int arch);
int ras_arch_from_name(const char *name);	/* -1 if unknown */

/* Format/parse a 16-byte UUID as the canonical 36-char string. */
void ras_uuid_format(const uint8_t uuid[16], char out[37]);
int ras_uuid_parse(const char *s, uint8_t uuid[16]);

/*
 * Default locations: /run/rasd/rasd.sock and /var/lib/rasd as root;
 * otherwise under $XDG_RUNTIME_DIR/rasd (or $HOME/.rasd). Return -1 if the
 * path does not fit.
 */
int ras_default_socket(char *out, size_t outlen);
int ras_default_state_dir(char *out, size_t outlen);

/* The system daemon's socket (rasd.socket listens there). */
#define RAS_SYSTEM_SOCKET "/run/rasd/rasd.sock"

/*
 * A client's (rasctl's) default socket: the system socket as root; else
 * the user's own rasd's socket if it exists, else the system socket if it
 * exists, else the user's path. _for takes the uid and system socket
 * (tests). Return -1 if the path does not fit.
 */
int ras_client_socket(char *out, size_t outlen);
int ras_client_socket_for(uid_t uid, const char *system, char *out,
    size_t outlen);

#endif
