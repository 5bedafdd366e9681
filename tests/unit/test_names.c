/*
 * test_names.c -- enum names both ways, and UUID text.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "ras.h"

Test(names, notify)
{
	static const char *want[RAS_NOTIFY_COUNT] = { "POLLED", "EXTERNAL",
	    "LOCAL", "SCI", "NMI", "CMCI", "MCE", "GPIO", "SEA", "SEI", "GSIV",
	    "SDEI" };
	unsigned int	i;

	for (i = 0; i < RAS_NOTIFY_COUNT; i++) {
		cr_expect_str_eq(ras_notify_name(i), want[i]);
		cr_expect_eq(ras_notify_from_name(want[i]), (int)i, "%s",
		    want[i]);
	}
	cr_expect_eq(RAS_NOTIFY_SEA, 8);
	cr_expect_eq(RAS_NOTIFY_SDEI, 11);
	cr_expect_null(ras_notify_name(RAS_NOTIFY_COUNT));
	cr_expect_null(ras_notify_name(RAS_NOTIFY_NONE));
	cr_expect_null(ras_notify_name(~0u));
}

Test(names, notify_from_name)
{
	cr_expect_eq(ras_notify_from_name("sea"), RAS_NOTIFY_SEA);
	cr_expect_eq(ras_notify_from_name("Gsiv"), RAS_NOTIFY_GSIV);
	cr_expect_eq(ras_notify_from_name("polled"), RAS_NOTIFY_POLLED);
	cr_expect_eq(ras_notify_from_name("sDeI"), RAS_NOTIFY_SDEI);
	cr_expect_eq(ras_notify_from_name(""), -1);
	cr_expect_eq(ras_notify_from_name("SE"), -1);
	cr_expect_eq(ras_notify_from_name("SEA "), -1);
	cr_expect_eq(ras_notify_from_name("SEAX"), -1);
	cr_expect_eq(ras_notify_from_name("8"), -1);
	cr_expect_eq(ras_notify_from_name("NONE"), -1);
	cr_expect_eq(ras_notify_from_name(NULL), -1);
}

Test(names, kind_action)
{
	cr_expect_str_eq(ras_kind_name(RAS_KIND_AR), "AR");
	cr_expect_str_eq(ras_kind_name(RAS_KIND_AO), "AO");
	cr_expect_null(ras_kind_name(0));
	cr_expect_null(ras_kind_name(3));

	cr_expect_str_eq(ras_action_name(RAS_ACTION_INJECT), "inject");
	cr_expect_str_eq(ras_action_name(RAS_ACTION_IGNORE), "ignore");
	cr_expect_str_eq(ras_action_name(RAS_ACTION_STOP_VM), "stop-vm");
	cr_expect_null(ras_action_name(0));
	cr_expect_null(ras_action_name(4));
}

Test(names, arch)
{
	cr_expect_str_eq(ras_arch_name(RAS_ARCH_ARM64), "arm64");
	cr_expect_str_eq(ras_arch_name(RAS_ARCH_X86_64), "x86_64");
	cr_expect_str_eq(ras_arch_name(RAS_ARCH_UNKNOWN), "unknown");
	cr_expect_null(ras_arch_name(3));

	cr_expect_eq(ras_arch_from_name("arm64"), RAS_ARCH_ARM64);
	cr_expect_eq(ras_arch_from_name("aarch64"), RAS_ARCH_ARM64);
	cr_expect_eq(ras_arch_from_name("AArch64"), RAS_ARCH_ARM64);
	cr_expect_eq(ras_arch_from_name("x86_64"), RAS_ARCH_X86_64);
	cr_expect_eq(ras_arch_from_name("x86"), -1);
	cr_expect_eq(ras_arch_from_name("unknown"), -1);
	cr_expect_eq(ras_arch_from_name("arm"), -1);
	cr_expect_eq(ras_arch_from_name(""), -1);
	cr_expect_eq(ras_arch_from_name(NULL), -1);
}

Test(names, uuid_format)
{
	static const uint8_t u[16] = { 0x6f, 0x1e, 0x3a, 0x42, 0x9b, 0x0c,
	    0x4d, 0x7e, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18 };
	static const uint8_t z[16];
	char	s[40];

	memset(s, 'x', sizeof s);
	ras_uuid_format(u, s);
	cr_expect_str_eq(s, "6f1e3a42-9b0c-4d7e-a1b2-c3d4e5f60718");
	cr_expect_eq(s[37], 'x', "wrote past 37 bytes");
	ras_uuid_format(z, s);
	cr_expect_str_eq(s, "00000000-0000-0000-0000-000000000000");
}

Test(names, uuid_parse)
{
	static const uint8_t want[16] = { 0x6f, 0x1e, 0x3a, 0x42, 0x9b, 0x0c,
	    0x4d, 0x7e, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18 };
	uint8_t	u[16];
	char	s[37];

	memset(u, 0, sizeof u);
	cr_assert_eq(ras_uuid_parse("6f1e3a42-9b0c-4d7e-a1b2-c3d4e5f60718",
	    u), 0);
	cr_expect_arr_eq(u, want, 16);

	memset(u, 0, sizeof u);
	cr_assert_eq(ras_uuid_parse("6F1E3A42-9B0C-4D7E-A1B2-C3D4E5F60718",
	    u), 0);
	cr_expect_arr_eq(u, want, 16);

	ras_uuid_format(u, s);
	cr_expect_str_eq(s, "6f1e3a42-9b0c-4d7e-a1b2-c3d4e5f60718");

	cr_assert_eq(ras_uuid_parse("ffffffff-ffff-ffff-ffff-ffffffffffff",
	    u), 0);
	cr_expect_eq(u[0], 0xff);
	cr_expect_eq(u[15], 0xff);
}

Test(names, uuid_parse_rejects)
{
	static const char *bad[] = {
		"",
		"6f1e3a42",
		"6f1e3a42-9b0c-4d7e-a1b2-c3d4e5f6071",		/* short */
		"6f1e3a42-9b0c-4d7e-a1b2-c3d4e5f607189",	/* long */
		"6f1e3a42-9b0c-4d7e-a1b2-c3d4e5f60718 ",	/* trailing */
		" 6f1e3a42-9b0c-4d7e-a1b2-c3d4e5f60718",	/* leading */
		"{6f1e3a42-9b0c-4d7e-a1b2-c3d4e5f60718}",	/* braces */
		"urn:uuid:6f1e3a42-9b0c-4d7e-a1b2-c3d4e5f60718",
		"6f1e3a429b0c4d7ea1b2c3d4e5f60718",		/* no dashes */
		"6f1e3a42-9b0c-4d7e-a1b2c3d4-e5f60718",		/* dash moved */
		"6f1e3a4-29b0c-4d7e-a1b2-c3d4e5f60718",
		"6f1e3a42_9b0c_4d7e_a1b2_c3d4e5f60718",
		"6g1e3a42-9b0c-4d7e-a1b2-c3d4e5f60718",		/* g */
		"6f1e3a42-9b0c-4d7e-a1b2-c3d4e5f6071z",
		"6f1e3a42-9b0c-4d7e-a1b2-c3d4e5f6071-",
		"+f1e3a42-9b0c-4d7e-a1b2-c3d4e5f60718",
		"6f1e3a42-9b0c-4d7e-a1b2-c3d4e5f6\x30\x00z",
		"------------------------------------",
	};
	uint8_t		u[16];
	unsigned int	i, j;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(u, 0xcc, sizeof u);
		cr_expect_eq(ras_uuid_parse(bad[i], u), -1, "accepted \"%s\"",
		    bad[i]);
		for (j = 0; j < 16; j++)
			cr_expect_eq(u[j], 0xcc, "\"%s\" wrote byte %u",
			    bad[i], j);
	}
	cr_expect_eq(ras_uuid_parse(NULL, u), -1);
}
