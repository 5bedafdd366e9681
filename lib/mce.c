/*
 * mce.c -- machine-check register values for an x86 guest memory error.
 *
 * DESIGN: a guest cannot tell who injected a machine check, so the values
 * are those QEMU's kvm_mce_inject() writes (QEMU >= 9.1), which Linux
 * guests are tested against:
 *  - MCG_STATUS.RIPV is set for AR as well (QEMU >= 7.0): without it an
 *    older Linux guest kills the task without running memory_failure();
 *  - MCi_MISC says "physical address, least significant valid bit 12",
 *    whatever the host granule: Linux's mce_usable_address() wants exactly
 *    that, and the exact faulting address is in MCi_ADDR;
 *  - Intel guests (and an unknown vendor, as QEMU before 9.1 encoded every
 *    guest) get the SRAR data-load / SRAO patrol-scrub status and a
 *    broadcast to every vCPU, since every Intel CPU QEMU models since
 *    family 6 model 14 broadcasts; AMD guests get UC|POISON for AR and
 *    DEFERRED|POISON for AO, delivered to one vCPU.
 * Whether the guest enabled local machine checks (MCG_EXT_CTL.LMCE_EN) is
 * guest register state only the VMM can read: it then clears broadcast and
 * sets MCG_STATUS_LMCE itself, as QEMU does.
 */
#include "mce.h"
#include "ras.h"

#define MCACOD_DATA_LOAD	0x134	/* SRAR: data load */
#define MCACOD_PATROL_SCRUB	0x0c0	/* SRAO: memory scrubbing */

/* Fill the registers for one error. */
void
mce_values(unsigned int kind, unsigned int vendor, uint64_t addr,
    struct mce_values *mv)
{
	int	ar = kind != RAS_KIND_AO;

	mv->status = MCI_STATUS_VAL | MCI_STATUS_EN | MCI_STATUS_MISCV |
	    MCI_STATUS_ADDRV;
	mv->mcg_status = MCG_STATUS_MCIP | MCG_STATUS_RIPV;
	if (vendor == RAS_CPU_AMD) {
		if (ar) {
			mv->status |= MCI_STATUS_UC | MCI_STATUS_POISON;
			mv->mcg_status |= MCG_STATUS_EIPV;
		} else
			mv->status |= MCI_STATUS_DEFERRED | MCI_STATUS_POISON;
		mv->broadcast = 0;
	} else {
		mv->status |= MCI_STATUS_S | MCI_STATUS_UC;
		if (ar) {
			mv->status |= MCI_STATUS_AR | MCACOD_DATA_LOAD;
			mv->mcg_status |= MCG_STATUS_EIPV;
		} else
			mv->status |= MCACOD_PATROL_SCRUB;
		mv->broadcast = 1;
	}
	mv->addr = addr;
	mv->misc = (MCM_ADDR_PHYS << 6) | MCE_ADDR_LSB;
	mv->bank = MCE_BANK;
}
