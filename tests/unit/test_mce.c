/*
 * test_mce.c -- the machine-check values rasd and the library's fallback
 * both inject, against the values QEMU (>= 9.1) writes in kvm_mce_inject().
 */
#include <criterion/criterion.h>

#include "mce.h"
#include "ras.h"

Test(mce, intel_ar_srar_data_load_broadcast)
{
	struct mce_values	mv;

	mce_values(RAS_KIND_AR, RAS_CPU_INTEL, 0x40001234, &mv);
	cr_expect_eq(mv.status, 0xbd80000000000134ULL);
	cr_expect_eq(mv.mcg_status, MCG_STATUS_MCIP | MCG_STATUS_RIPV |
	    MCG_STATUS_EIPV, "RIPV for AR too (QEMU >= 7.0)");
	cr_expect_eq(mv.addr, 0x40001234, "the exact address");
	cr_expect_eq(mv.misc, 0x8c, "physical address mode, LSB 12");
	cr_expect_eq(mv.bank, 9);
	cr_expect_eq(mv.broadcast, 1);
}

Test(mce, intel_ao_srao_patrol_scrub)
{
	struct mce_values	mv;

	mce_values(RAS_KIND_AO, RAS_CPU_INTEL, 0x80000000, &mv);
	cr_expect_eq(mv.status, 0xbd000000000000c0ULL);
	cr_expect_eq(mv.mcg_status, MCG_STATUS_MCIP | MCG_STATUS_RIPV);
	cr_expect_eq(mv.misc & 0x3f, MCE_ADDR_LSB);
	cr_expect_eq(mv.broadcast, 1);
}

Test(mce, unknown_vendor_is_encoded_as_intel)
{
	struct mce_values	a, b;

	mce_values(RAS_KIND_AR, RAS_CPU_UNKNOWN, 0x1000, &a);
	mce_values(RAS_KIND_AR, RAS_CPU_INTEL, 0x1000, &b);
	cr_expect_eq(a.status, b.status);
	cr_expect_eq(a.mcg_status, b.mcg_status);
	cr_expect_eq(a.misc, b.misc);
	cr_expect_eq(a.broadcast, b.broadcast);
}

Test(mce, amd_ar_uc_poison_local)
{
	struct mce_values	mv;

	mce_values(RAS_KIND_AR, RAS_CPU_AMD, 0x7ff000, &mv);
	cr_expect_eq(mv.status, MCI_STATUS_VAL | MCI_STATUS_EN |
	    MCI_STATUS_MISCV | MCI_STATUS_ADDRV | MCI_STATUS_UC |
	    MCI_STATUS_POISON);
	cr_expect_eq(mv.status & (MCI_STATUS_S | MCI_STATUS_AR), 0,
	    "no Intel SRAR bits on AMD");
	cr_expect_eq(mv.mcg_status, MCG_STATUS_MCIP | MCG_STATUS_RIPV |
	    MCG_STATUS_EIPV);
	cr_expect_eq(mv.broadcast, 0);
	cr_expect_eq(mv.misc, 0x8c);
}

Test(mce, amd_ao_deferred_poison)
{
	struct mce_values	mv;

	mce_values(RAS_KIND_AO, RAS_CPU_AMD, 0x7ff000, &mv);
	cr_expect_eq(mv.status, MCI_STATUS_VAL | MCI_STATUS_EN |
	    MCI_STATUS_MISCV | MCI_STATUS_ADDRV | MCI_STATUS_DEFERRED |
	    MCI_STATUS_POISON);
	cr_expect_eq(mv.status & MCI_STATUS_UC, 0, "deferred, not UC");
	cr_expect_eq(mv.mcg_status, MCG_STATUS_MCIP | MCG_STATUS_RIPV);
	cr_expect_eq(mv.broadcast, 0);
}
