/*
 * mce.h -- the machine-check register values a VMM injects for an x86
 * memory error, computed once for rasd and for the client library's local
 * fallback so that both answer with the same bytes. Allocation-free and
 * async-signal-safe.
 */
#ifndef RAS_MCE_H
#define RAS_MCE_H

#include <stdint.h>

#define MCI_STATUS_VAL		(1ULL << 63)
#define MCI_STATUS_OVER		(1ULL << 62)
#define MCI_STATUS_UC		(1ULL << 61)
#define MCI_STATUS_EN		(1ULL << 60)
#define MCI_STATUS_MISCV	(1ULL << 59)
#define MCI_STATUS_ADDRV	(1ULL << 58)
#define MCI_STATUS_PCC		(1ULL << 57)
#define MCI_STATUS_S		(1ULL << 56)
#define MCI_STATUS_AR		(1ULL << 55)
#define MCI_STATUS_DEFERRED	(1ULL << 44)	/* AMD */
#define MCI_STATUS_POISON	(1ULL << 43)	/* AMD */

#define MCG_STATUS_RIPV		(1ULL << 0)
#define MCG_STATUS_EIPV		(1ULL << 1)
#define MCG_STATUS_MCIP		(1ULL << 2)
#define MCG_STATUS_LMCE		(1ULL << 3)

#define MCM_ADDR_PHYS		2	/* MCi_MISC address mode */
#define MCE_ADDR_LSB		12	/* MCi_MISC recoverable address LSB */
#define MCE_BANK		9	/* the bank QEMU fills */

/* The registers for one error (struct kvm_x86_mce, less its padding). */
struct mce_values {
	uint64_t status;	/* MCi_STATUS */
	uint64_t mcg_status;	/* MCG_STATUS */
	uint64_t addr;		/* MCi_ADDR: the exact guest-physical address */
	uint64_t misc;		/* MCi_MISC */
	uint8_t bank;
	uint8_t broadcast;	/* every vCPU, unless the guest enabled LMCE */
};

/*
 * Fill *mv for an error of kind (enum ras_kind; anything but AO is taken as
 * AR) at guest-physical address addr, for a guest CPU of the given vendor
 * (enum ras_cpu_vendor).
 */
void mce_values(unsigned int kind, unsigned int vendor, uint64_t addr,
    struct mce_values *mv);

#endif
