/*
 * policy.h -- choose how a guest is told about a memory error.
 *
 * The choice is a preference order per error kind, filtered by the boot
 * profile and by what the VMM can inject. A type that is not in the boot
 * profile is never chosen, whatever the order says. Allocation-free.
 */
#ifndef RAS_POLICY_H
#define RAS_POLICY_H

#include "ras.h"

struct ras_policy {
	unsigned int ar_count;
	uint8_t ar_order[RAS_NOTIFY_COUNT];	/* enum ras_notify */
	unsigned int ao_count;
	uint8_t ao_order[RAS_NOTIFY_COUNT];
};

/* The safe default from DESIGN.md ("The rule"). */
void policy_default(struct ras_policy *pol);

/*
 * Parse an order such as "SEA,GSIV,GPIO,POLLED" into order[]/count.
 * Returns -1 with a reason in err on unknown or repeated names, and on
 * types that never carry memory errors (LOCAL, CMCI).
 */
int policy_parse_order(const char *text, uint8_t order[RAS_NOTIFY_COUNT],
    unsigned int *count, char *err, size_t errlen);

/* Format an order as "SEA,GSIV,...". */
void policy_format_order(const uint8_t *order, unsigned int count,
    char *out, size_t outlen);

/* policy_decide flags: the faulting vCPU could take an interrupt now. */
#define POLICY_IRQ_UNMASKED 0x1

/*
 * Whether a notification reaches a vCPU that touched poison only if it can
 * take an interrupt (GSIV, GPIO, EXTERNAL, SCI; LOCAL and CMCI too) or not
 * at all before it touches the page again (POLLED).
 */
int policy_needs_unmasked(unsigned int notify);

/*
 * Decide for one error of the given kind. caps is a mask of RAS_NOTIFY_BIT()
 * the VMM can inject; flags holds POLICY_IRQ_UNMASKED when the VMM said
 * the faulting vCPU had interrupts unmasked (AR only: without it an
 * interrupt-only type is never chosen for AR). Fills *d; never fails.
 */
void policy_decide(const struct ras_policy *pol, const struct ras_profile *prof,
    uint32_t caps, unsigned int kind, unsigned int flags,
    struct ras_decision *d);

#endif
