/*
 * test_shim_id.c -- the arm64 boot profile the shim declares for QEMU's
 * "virt" machine, as QEMU builds its HEST (hw/arm/virt-acpi-build.c).
 */
#include <criterion/criterion.h>

#include "ras.h"
#include "../../plugins/shim/shim.h"

static unsigned int
profile(const char *machine, int ras, struct rasc_declared *d)
{
	memset(d, 0xee, 2 * sizeof *d);
	return shim_id_arm_profile(machine, ras, d);
}

Test(shim_id, virt_without_ras_has_no_sources)
{
	struct rasc_declared	d[2];

	cr_expect_eq(profile("virt-10.2", 0, d), 0);
	cr_expect_eq(profile("virt", 0, d), 0);
}

Test(shim_id, virt_up_to_10_0_is_sea)
{
	struct rasc_declared	d[2];
	static const char *const m[] = { "virt-10.0", "virt-9.2", "virt-7.2",
	    "virt-2.12" };
	size_t			 i;

	for (i = 0; i < sizeof m / sizeof m[0]; i++) {
		cr_expect_eq(profile(m[i], 1, d), 1, "%s", m[i]);
		cr_expect_eq(d[0].source_id, 0);
		cr_expect_eq(d[0].notify, RAS_NOTIFY_SEA);
	}
}

Test(shim_id, virt_from_10_1_is_sea_and_gpio)
{
	struct rasc_declared	d[2];
	static const char *const m[] = { "virt-10.1", "virt-10.2", "virt-11.0" };
	size_t			 i;

	for (i = 0; i < sizeof m / sizeof m[0]; i++) {
		cr_expect_eq(profile(m[i], 1, d), 2, "%s", m[i]);
		cr_expect_eq(d[0].notify, RAS_NOTIFY_SEA);
		cr_expect_eq(d[1].source_id, 1);
		cr_expect_eq(d[1].notify, RAS_NOTIFY_GPIO);
	}
}

Test(shim_id, unversioned_or_odd_virt_is_the_common_sea)
{
	struct rasc_declared	d[2];

	cr_expect_eq(profile("virt", 1, d), 1);
	cr_expect_eq(profile("virt-10.1x", 1, d), 1);
	cr_expect_eq(d[0].notify, RAS_NOTIFY_SEA);
	cr_expect_eq(profile("sbsa-ref", 1, d), 0, "not a virt machine");
}
