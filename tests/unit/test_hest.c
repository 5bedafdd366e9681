/*
 * test_hest.c -- unit tests for the HEST parser (lib/hest.c).
 *
 * The good tables are real: two that QEMU's ACPI test suite expects for the
 * arm64 virt machine, and tables compiled by iasl from tests/data/iasl/.
 * Every bad table is a good one with one thing broken, with the checksum
 * fixed up afterwards unless the checksum is what is being broken, so each
 * test reaches exactly the check it is about. The hest_linux suite checks
 * which well-formed sources join the profile the way Linux's apei/hest.c
 * and ghes.c would register them, and what the report says of the rest.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "hest.h"

#define TABLE_MAX	8192
#define QEMU_SEA_GPIO	"tests/data/qemu-virt-10.2-sea-gpio.hest"
#define QEMU_SEA	"tests/data/qemu-virt-10.0-sea.hest"
#define IASL_X86	"tests/data/iasl-x86-ffm.hest"
#define IASL_ARM64	"tests/data/iasl-arm64-ghesv2.hest"
#define IASL_AER	"tests/data/iasl-aer.hest"
#define IASL_TEMPLATE	"tests/data/iasl-template.hest"
#define IASL_ASSIST	"tests/data/iasl-x86-ghes-assist.hest"
#define IASL_CMC_ONLY	"tests/data/iasl-x86-cmc-only.hest"
#define IASL_NMI_ONLY	"tests/data/iasl-x86-nmi-only.hest"
#define IASL_UNKNOWN	"tests/data/iasl-arm64-unknown-notify.hest"

/* Offsets of the sources in IASL_X86 and QEMU_SEA_GPIO (see iasl -d). */
#define X86_MCE		40
#define X86_CMC		164
#define X86_GHES_NMI	288
#define X86_GHES_SCI	352
#define X86_DEFERRED	508
#define VIRT_GPIO	132

/* One table under test plus the parser's answer. */
struct table {
	uint8_t			b[TABLE_MAX];
	size_t			len;
	struct ras_profile	prof;
	struct hest_report	rep;
	char			err[256];
};

static struct table t;

/* Read a table from tests/data (tests run from the repository root). */
static void
load(const char *path)
{
	FILE *f = fopen(path, "rb");

	cr_assert_not_null(f, "cannot open %s (run from the repo root)", path);
	memset(&t, 0, sizeof(t));
	t.len = fread(t.b, 1, sizeof(t.b), f);
	cr_assert(feof(f), "%s is larger than %d bytes", path, TABLE_MAX);
	fclose(f);
	cr_assert_geq(t.len, HEST_HEADER_LEN);
}

/* Store a little-endian 16-bit value into the table. */
static void
put16(size_t off, uint16_t v)
{
	t.b[off] = (uint8_t)v;
	t.b[off + 1] = (uint8_t)(v >> 8);
}

/* Store a little-endian 32-bit value into the table. */
static void
put32(size_t off, uint32_t v)
{
	put16(off, (uint16_t)v);
	put16(off + 2, (uint16_t)(v >> 16));
}

/* Make the header describe t.len bytes with a valid checksum. */
static void
fixup(void)
{
	uint8_t sum = 0;
	size_t i;

	put32(4, (uint32_t)t.len);
	t.b[9] = 0;
	for (i = 0; i < t.len; i++)
		sum += t.b[i];
	t.b[9] = (uint8_t)(0x100 - sum);
}

/* Parse the table under test. */
static int
parse(void)
{
	t.err[0] = 'X';
	t.prof.count = 99;
	t.rep.nskipped = 99;
	return (hest_parse_report(t.b, t.len, &t.prof, &t.rep, t.err,
	    sizeof(t.err)));
}

/* Assert that the table is rejected with a reason containing want. */
static void
expect_reject(const char *want)
{
	cr_assert_eq(parse(), -1, "accepted; wanted \"%s\"", want);
	cr_assert_eq(t.prof.count, 0, "a failed parse left %u sources",
	    t.prof.count);
	cr_assert_eq(t.rep.nskipped, 0, "a failed parse reported %u skips",
	    t.rep.nskipped);
	cr_assert_not_null(strstr(t.err, want), "reason \"%s\" lacks \"%s\"",
	    t.err, want);
}

/* Assert that profile entry i is (id, notify, hest type). */
static void
expect_src(unsigned int i, uint16_t id, uint8_t notify, uint8_t type)
{
	cr_assert_lt(i, t.prof.count);
	cr_assert_eq(t.prof.src[i].source_id, id, "src[%u] id %u, want %u", i,
	    t.prof.src[i].source_id, id);
	cr_assert_eq(t.prof.src[i].notify, notify, "src[%u] notify %u, "
	    "want %u", i, t.prof.src[i].notify, notify);
	cr_assert_eq(t.prof.src[i].hest_type, type, "src[%u] type %u, want %u",
	    i, t.prof.src[i].hest_type, type);
}

/* Assert that report entry i skipped (id, reason, value). */
static void
expect_skip(unsigned int i, uint16_t id, uint8_t reason, uint32_t value)
{
	cr_assert_lt(i, t.rep.nskipped);
	cr_assert_eq(t.rep.skipped[i].source_id, id, "skip[%u] id %u, want %u",
	    i, t.rep.skipped[i].source_id, id);
	cr_assert_eq(t.rep.skipped[i].reason, reason, "skip[%u] (id %u) "
	    "reason %u, want %u", i, id, t.rep.skipped[i].reason, reason);
	cr_assert_eq(t.rep.skipped[i].value, value, "skip[%u] (id %u) value "
	    "%u, want %u", i, id, t.rep.skipped[i].value, value);
}

/* Assert that report entry i reads as want when formatted. */
static void
expect_skip_text(unsigned int i, const char *want)
{
	char line[256];

	cr_assert_lt(i, t.rep.nskipped);
	hest_skip_format(&t.rep.skipped[i], line, sizeof(line));
	cr_assert_str_eq(line, want);
}

/* Assert that the table parses into exactly n sources. */
static void
expect_ok(unsigned int n)
{
	cr_assert_eq(parse(), 0, "rejected: %s", t.err);
	cr_assert_str_empty(t.err);
	cr_assert_eq(t.prof.count, n, "%u sources, want %u", t.prof.count, n);
}

Test(hest_good, qemu_10_2_sea_gpio)
{
	load(QEMU_SEA_GPIO);
	cr_assert_eq(t.len, 224);
	expect_ok(2);
	expect_src(0, 0, RAS_NOTIFY_SEA, HEST_GHES_V2);
	expect_src(1, 1, RAS_NOTIFY_GPIO, HEST_GHES_V2);
}

Test(hest_good, qemu_10_0_sea)
{
	load(QEMU_SEA);
	cr_assert_eq(t.len, 132);
	expect_ok(1);
	expect_src(0, 0, RAS_NOTIFY_SEA, HEST_GHES_V2);
}

Test(hest_good, iasl_x86_firmware_first)
{
	load(IASL_X86);
	cr_assert_eq(t.len, 648);
	/*
	 * The firmware-first MCE yields to the GHES NMI; CMC, NMI and
	 * deferred MC never carry a memory error to the guest.
	 */
	expect_ok(3);
	expect_src(0, 3, RAS_NOTIFY_NMI, HEST_GHES);
	expect_src(1, 4, RAS_NOTIFY_SCI, HEST_GHES);
	expect_src(2, 5, RAS_NOTIFY_POLLED, HEST_GHES_V2);
	cr_assert_eq(t.rep.nskipped, 5);
	expect_skip(0, 0, HEST_SKIP_FIRMWARE_FIRST, 0);
	expect_skip(1, 1, HEST_SKIP_CORRECTED_ONLY, 0);
	expect_skip(2, 2, HEST_SKIP_NO_STATUS_BLOCK, 0);
	expect_skip(3, 6, HEST_SKIP_DEFERRED, 0);
	expect_skip(4, 7, HEST_SKIP_DISABLED, 0);
	cr_assert_eq(t.rep.skipped[1].notify, RAS_NOTIFY_CMCI);
	cr_assert_eq(t.rep.skipped[2].notify, RAS_NOTIFY_NMI);
	cr_assert_eq(t.rep.skipped[4].notify, RAS_NOTIFY_EXTERNAL);
}

Test(hest_good, iasl_arm64_all_notify_types)
{
	load(IASL_ARM64);
	cr_assert_eq(t.len, 656);
	expect_ok(6);
	expect_src(0, 0, RAS_NOTIFY_SEA, HEST_GHES_V2);
	expect_src(1, 1, RAS_NOTIFY_GSIV, HEST_GHES_V2);
	expect_src(2, 2, RAS_NOTIFY_SEI, HEST_GHES_V2);
	expect_src(3, 3, RAS_NOTIFY_SDEI, HEST_GHES_V2);
	expect_src(4, 4, RAS_NOTIFY_GPIO, HEST_GHES_V2);
	expect_src(5, 5, RAS_NOTIFY_SEA, HEST_GHES);
	cr_assert_eq(t.rep.nskipped, 1);
	expect_skip(0, 6, HEST_SKIP_DISABLED, 0);
}

Test(hest_good, iasl_aer_sources_are_skipped)
{
	load(IASL_AER);
	cr_assert_eq(t.len, 252);
	expect_ok(1);
	expect_src(0, 3, RAS_NOTIFY_POLLED, HEST_GHES);
	cr_assert_eq(t.rep.nskipped, 3);
	expect_skip(0, 0, HEST_SKIP_NOT_MEMORY, 0);
	expect_skip(2, 2, HEST_SKIP_NOT_MEMORY, 0);
	cr_assert(!hest_skip_warns(HEST_SKIP_NOT_MEMORY));
}

Test(hest_good, aer_only_gives_empty_profile)
{
	load(IASL_AER);
	/* Drop the trailing 64-byte GHES: three AER sources remain. */
	t.len -= 64;
	put32(36, 3);
	fixup();
	expect_ok(0);
}

Test(hest_good, disabled_source_excluded)
{
	load(QEMU_SEA_GPIO);
	t.b[47] = 0;		/* source 0 (SEA): enabled = 0 */
	fixup();
	expect_ok(1);
	expect_src(0, 1, RAS_NOTIFY_GPIO, HEST_GHES_V2);

	load(IASL_X86);
	t.b[X86_MCE + 7] = 0;
	t.b[X86_GHES_SCI + 7] = 0;
	fixup();
	expect_ok(2);
	expect_src(0, 3, RAS_NOTIFY_NMI, HEST_GHES);
	expect_src(1, 5, RAS_NOTIFY_POLLED, HEST_GHES_V2);
	expect_skip(0, 0, HEST_SKIP_DISABLED, 0);
	expect_skip(4, 6, HEST_SKIP_DEFERRED, 0);
	expect_skip(5, 7, HEST_SKIP_DISABLED, 0);
}

Test(hest_good, any_nonzero_enabled_byte_counts)
{
	load(QEMU_SEA);
	t.b[47] = 0x80;
	fixup();
	expect_ok(1);
	expect_src(0, 0, RAS_NOTIFY_SEA, HEST_GHES_V2);
}

Test(hest_good, bytes_past_the_table_length_are_ignored)
{
	load(QEMU_SEA);
	memset(t.b + 132, 0xee, 68);
	t.len = 200;		/* the header still says 132 */
	expect_ok(1);
	expect_src(0, 0, RAS_NOTIFY_SEA, HEST_GHES_V2);
}

Test(hest_good, optional_profile_and_err)
{
	char small[8];

	load(QEMU_SEA_GPIO);
	cr_assert_eq(hest_parse(t.b, t.len, NULL, NULL, 0), 0);
	t.b[9] ^= 1;
	cr_assert_eq(hest_parse(t.b, t.len, NULL, NULL, 0), -1);
	memset(small, 'X', sizeof(small));
	cr_assert_eq(hest_parse(t.b, t.len, NULL, small, sizeof(small)), -1);
	cr_assert_str_eq(small, "checksu");
}

Test(hest_good, sixty_four_sources_fit)
{
	unsigned int i;

	load(QEMU_SEA);
	for (i = 1; i < RAS_PROFILE_MAX; i++) {
		memcpy(t.b + 40 + i * 92, t.b + 40, 92);
		put16(40 + i * 92 + 2, (uint16_t)(1000 + i));
	}
	t.len = 40 + RAS_PROFILE_MAX * 92;
	put32(36, RAS_PROFILE_MAX);
	fixup();
	expect_ok(RAS_PROFILE_MAX);
	expect_src(0, 0, RAS_NOTIFY_SEA, HEST_GHES_V2);
	expect_src(63, 1063, RAS_NOTIFY_SEA, HEST_GHES_V2);
}

Test(hest_bad, sixty_five_sources_do_not_fit)
{
	unsigned int i;

	load(QEMU_SEA);
	for (i = 1; i <= RAS_PROFILE_MAX; i++) {
		memcpy(t.b + 40 + i * 92, t.b + 40, 92);
		put16(40 + i * 92 + 2, (uint16_t)i);
	}
	t.len = 40 + (RAS_PROFILE_MAX + 1) * 92;
	put32(36, RAS_PROFILE_MAX + 1);
	fixup();
	expect_reject("error source 64 (type 10 GHESv2) at offset 5928: "
	    "more than 64 enabled memory error sources");

	/* Disabled sources do not count against the limit. */
	t.b[40 + 64 * 92 + 7] = 0;
	fixup();
	expect_ok(RAS_PROFILE_MAX);
}

Test(hest_bad, truncated_buffer)
{
	size_t full, cut;

	load(QEMU_SEA_GPIO);
	full = t.len;
	for (cut = 0; cut < full; cut++) {
		t.len = cut;
		cr_assert_eq(parse(), -1, "accepted %zu of %zu bytes", cut,
		    full);
		cr_assert_eq(t.prof.count, 0);
	}
	t.len = 0;
	expect_reject("table is 0 bytes, shorter than the 40-byte HEST header");
	t.len = 36;
	expect_reject("table is 36 bytes, shorter than the 40-byte");
	t.len = 40;
	expect_reject("header length 224 exceeds the 40 bytes given");
	t.len = 223;
	expect_reject("header length 224 exceeds the 223 bytes given");
	cr_assert_eq(hest_parse(NULL, 100, &t.prof, t.err, sizeof(t.err)), -1);
	cr_assert_not_null(strstr(t.err, "table is 0 bytes"), "%s", t.err);
}

Test(hest_bad, truncated_table_with_consistent_header)
{
	load(QEMU_SEA_GPIO);
	t.len = 132;		/* ends exactly after source 0 */
	fixup();
	expect_reject("error source 1 at offset 132: the table ends, but the "
	    "count is 2");

	load(QEMU_SEA_GPIO);
	t.len = 134;
	fixup();
	expect_reject("error source 1 at offset 132: needs 4 bytes for its "
	    "header, 2 left");

	load(QEMU_SEA_GPIO);
	t.len = 172;
	fixup();
	expect_reject("error source 1 (type 10 GHESv2) at offset 132: needs 92 "
	    "bytes, 40 left");

	load(IASL_X86);
	t.len = 100;		/* inside the banks of the IA-32 MCE */
	fixup();
	expect_reject("error source 0 (type 0 IA-32 MCE) at offset 40: needs "
	    "124 bytes (40 + 3 banks of 28), 60 left");

	load(IASL_X86);
	t.len = 280;		/* inside the 20-byte IA-32 NMI at 268 */
	fixup();
	expect_reject("error source 2 (type 2 IA-32 NMI) at offset 268: needs "
	    "20 bytes, 12 left");
}

Test(hest_bad, header_fields)
{
	load(QEMU_SEA);
	memcpy(t.b, "APIC", 4);
	expect_reject("signature is \"APIC\", not \"HEST\"");
	t.b[0] = 0;
	expect_reject("signature is \"?PIC\"");

	load(QEMU_SEA);
	put32(4, 39);
	expect_reject("header length 39 is shorter than the 40-byte HEST "
	    "header");

	load(QEMU_SEA);
	put32(4, HEST_MAX_LEN + 1);
	expect_reject("header length 1048577 exceeds the 1048576-byte limit");
}

Test(hest_bad, bad_checksum)
{
	load(QEMU_SEA_GPIO);
	t.b[9] ^= 0x01;
	expect_reject("checksum mismatch: the 224 bytes sum to 0x1, not 0 "
	    "(checksum byte 0x6d)");

	load(QEMU_SEA_GPIO);
	t.b[223] = 0x10;	/* last byte of the table */
	expect_reject("the 224 bytes sum to 0x10");

	load(IASL_ARM64);
	t.b[72] = RAS_NOTIFY_GSIV;	/* SEA -> GSIV without fixing up */
	expect_reject("checksum mismatch");
}

Test(hest_linux, wrong_notification_length_skips_the_source)
{
	load(QEMU_SEA_GPIO);
	t.b[73] = 27;		/* source 0 notification length */
	fixup();
	expect_ok(1);
	expect_src(0, 1, RAS_NOTIFY_GPIO, HEST_GHES_V2);
	cr_assert_eq(t.rep.nskipped, 1);
	expect_skip(0, 0, HEST_SKIP_NOTIFY_LENGTH, 27);
	cr_assert(hest_skip_warns(t.rep.skipped[0].reason));
	expect_skip_text(0, "error source 0 (type 10 GHESv2): notification "
	    "structure length 27, expected 28");

	/* A CMC never joins, whatever its notification says. */
	load(IASL_X86);
	t.b[X86_CMC + 16 + 1] = 0;
	fixup();
	expect_ok(3);
	expect_skip(1, 1, HEST_SKIP_CORRECTED_ONLY, 0);
}

Test(hest_linux, unknown_notification_type_skips_the_source)
{
	load(QEMU_SEA_GPIO);
	t.b[VIRT_GPIO + 32] = 12;	/* source 1: GPIO -> 12 */
	fixup();
	expect_ok(1);
	expect_src(0, 0, RAS_NOTIFY_SEA, HEST_GHES_V2);
	cr_assert_eq(t.rep.nskipped, 1);
	expect_skip(0, 1, HEST_SKIP_NOTIFY_UNKNOWN, 12);
	expect_skip_text(0, "error source 1 (type 10 GHESv2): unknown "
	    "notification type 12 (the last defined is 11, SDEI)");

	t.b[VIRT_GPIO + 32] = 0xff;
	fixup();
	expect_ok(1);
	expect_skip(0, 1, HEST_SKIP_NOTIFY_UNKNOWN, 255);

	load(QEMU_SEA_GPIO);
	t.b[VIRT_GPIO + 32] = RAS_NOTIFY_SDEI;
	fixup();
	expect_ok(2);
	expect_src(1, 1, RAS_NOTIFY_SDEI, HEST_GHES_V2);
}

Test(hest_bad, subtable_runs_off_the_end)
{
	load(IASL_X86);
	t.b[72] = 0xff;		/* IA-32 MCE: 255 banks */
	fixup();
	expect_reject("error source 0 (type 0 IA-32 MCE) at offset 40: needs "
	    "7180 bytes (40 + 255 banks of 28), 608 left");

	load(IASL_X86);
	t.b[552] = 5;		/* IA-32 deferred MC at 508: 1 -> 5 banks */
	fixup();
	expect_reject("error source 6 (type 11 IA-32 deferred MC) at offset "
	    "508: needs 188 bytes (48 + 5 banks of 28), 140 left");

	load(IASL_X86);
	t.b[208] = 1;		/* IA-32 CMC: 2 -> 1 bank, so the walk drifts */
	fixup();
	/* The CMC's second bank (number 1, id 0) now reads as a CMC. */
	expect_reject("error source 2 (type 1 IA-32 CMC) at offset 240: "
	    "source id 0 is already used by error source 0");
}

Test(hest_bad, unknown_type)
{
	load(QEMU_SEA_GPIO);
	put16(40, 3);
	fixup();
	expect_reject("error source 0 at offset 40: unknown type 3");

	load(QEMU_SEA_GPIO);
	put16(40, 5);
	fixup();
	expect_reject("error source 0 at offset 40: unknown type 5");

	load(QEMU_SEA_GPIO);
	put16(132, 12);
	fixup();
	expect_reject("error source 1 at offset 132: unknown type 12");

	load(QEMU_SEA_GPIO);
	put16(132, 0xffff);
	fixup();
	expect_reject("error source 1 at offset 132: unknown type 65535");
}

Test(hest_bad, zero_sources)
{
	load(QEMU_SEA);
	put32(36, 0);
	fixup();
	expect_reject("no error sources (count 0)");

	/* Even with nothing after the header. */
	t.len = 40;
	fixup();
	expect_reject("no error sources");
}

Test(hest_bad, leftover_bytes)
{
	load(QEMU_SEA_GPIO);
	put32(36, 1);		/* count 1, but two sources are there */
	fixup();
	expect_reject("92 bytes left over after the last error source (offset "
	    "132, table length 224)");

	load(QEMU_SEA);
	t.len += 4;		/* four zero bytes inside the table */
	fixup();
	expect_reject("4 bytes left over after the last error source (offset "
	    "132, table length 136)");
}

Test(hest_bad, huge_count)
{
	load(QEMU_SEA);
	put32(36, 0xffffffff);
	fixup();
	expect_reject("error source 1 at offset 132: the table ends, but the "
	    "count is 4294967295");
}

Test(hest_bad, duplicate_source_id)
{
	load(QEMU_SEA_GPIO);
	put16(134, 0);		/* source 1 id: 1 -> 0 */
	fixup();
	expect_reject("error source 1 (type 10 GHESv2) at offset 132: source "
	    "id 0 is already used by error source 0");

	/* A disabled source still owns its id. */
	load(QEMU_SEA_GPIO);
	t.b[47] = 0;
	put16(134, 0);
	fixup();
	expect_reject("source id 0 is already used by error source 0");

	load(IASL_X86);
	put16(586, 2);		/* disabled GHES takes the IA-32 NMI's id */
	fixup();
	expect_reject("error source 7 (type 9 GHES) at offset 584: source id "
	    "2 is already used by error source 2");
}

Test(hest_bad, iasl_template_as_shipped)
{
	/*
	 * iasl's own template counts 4 of its 8 sources, and its AER
	 * endpoint reuses the IA-32 MCE's source id 0.
	 */
	load(IASL_TEMPLATE);
	cr_assert_eq(t.len, 636);
	expect_reject("error source 2 (type 7 AER endpoint) at offset 240: "
	    "source id 0 is already used by error source 0");
}

Test(hest_bad, every_single_byte_flip_is_safe)
{
	struct ras_profile p;
	char err[128];
	size_t i;
	int bit, rc;

	/* Flip each bit of a good table: never crash, never accept junk. */
	load(IASL_X86);
	for (i = 0; i < t.len; i++) {
		for (bit = 0; bit < 8; bit++) {
			t.b[i] ^= (uint8_t)(1 << bit);
			rc = hest_parse(t.b, t.len, &p, err, sizeof(err));
			cr_assert_eq(rc, -1, "flip at %zu bit %d accepted", i,
			    bit);
			/* Past signature and length, the checksum sees it. */
			if (i >= 8)
				cr_assert_not_null(strstr(err, "checksum"),
				    "flip at %zu bit %d: %s", i, bit, err);
			t.b[i] ^= (uint8_t)(1 << bit);
		}
	}
	cr_assert_eq(hest_parse(t.b, t.len, &p, err, sizeof(err)), 0);
	cr_assert_eq(p.count, 3);
}

Test(hest_linux, ghes_assist_sources_are_skipped)
{
	load(IASL_ASSIST);
	cr_assert_eq(t.len, 524);
	expect_ok(3);
	expect_src(0, 0, RAS_NOTIFY_MCE, HEST_IA32_MCE);
	expect_src(1, 4, RAS_NOTIFY_SCI, HEST_GHES_V2);
	expect_src(2, 5, RAS_NOTIFY_NMI, HEST_GHES);
	cr_assert_eq(t.rep.nskipped, 3);
	expect_skip(0, 1, HEST_SKIP_GHES_ASSIST, 0);
	expect_skip(1, 2, HEST_SKIP_CORRECTED_ONLY, 0);
	expect_skip(2, 3, HEST_SKIP_GHES_ASSIST, 2);
	cr_assert(!hest_skip_warns(HEST_SKIP_GHES_ASSIST));
	expect_skip_text(0, "error source 1 (type 9 GHES): assists "
	    "GHES_ASSIST machine-check source 0; Linux does not register it");

	/* Without GHES_ASSIST on the MCE, its related GHES is a source. */
	t.b[X86_MCE + 6] = 0;
	fixup();
	expect_ok(4);
	expect_src(1, 1, RAS_NOTIFY_NMI, HEST_GHES);
	expect_skip(0, 2, HEST_SKIP_CORRECTED_ONLY, 0);

	/* Linux reads the flag whether or not the MCE is enabled. */
	load(IASL_ASSIST);
	t.b[X86_MCE + 7] = 0;
	fixup();
	expect_ok(2);
	expect_src(0, 4, RAS_NOTIFY_SCI, HEST_GHES_V2);
	expect_skip(0, 0, HEST_SKIP_DISABLED, 0);
	expect_skip(1, 1, HEST_SKIP_GHES_ASSIST, 0);
}

Test(hest_linux, ghes_assist_of_a_deferred_mc_is_skipped)
{
	/* The deferred MC (id 6) asks for assistance; GHES 4 gives it. */
	load(IASL_X86);
	t.b[X86_DEFERRED + 6] |= HEST_FLAG_GHES_ASSIST;
	put16(X86_GHES_SCI + 4, 6);
	fixup();
	expect_ok(2);
	expect_src(0, 3, RAS_NOTIFY_NMI, HEST_GHES);
	expect_src(1, 5, RAS_NOTIFY_POLLED, HEST_GHES_V2);
	expect_skip(3, 4, HEST_SKIP_GHES_ASSIST, 6);

	/* A related id naming a source without the flag changes nothing. */
	load(IASL_X86);
	put16(X86_GHES_SCI + 4, 6);
	fixup();
	expect_ok(3);
	expect_src(1, 4, RAS_NOTIFY_SCI, HEST_GHES);

	/* Nor does GHES_ASSIST on a source type Linux does not look at. */
	load(IASL_AER);
	t.b[40 + 6] |= HEST_FLAG_GHES_ASSIST;	/* AER root port, id 0 */
	put16(188 + 4, 0);			/* GHES 3 related to it */
	fixup();
	expect_ok(1);
	expect_src(0, 3, RAS_NOTIFY_POLLED, HEST_GHES);
}

Test(hest_linux, cmc_only_table_gives_empty_profile)
{
	load(IASL_CMC_ONLY);
	cr_assert_eq(t.len, 144);
	expect_ok(0);
	cr_assert_eq(t.rep.nskipped, 1);
	expect_skip(0, 0, HEST_SKIP_CORRECTED_ONLY, 0);
	cr_assert_eq(t.rep.skipped[0].hest_type, HEST_IA32_CMC);
	cr_assert_eq(t.rep.skipped[0].notify, RAS_NOTIFY_CMCI);
	cr_assert(!hest_skip_warns(HEST_SKIP_CORRECTED_ONLY));
	expect_skip_text(0, "error source 0 (type 1 IA-32 CMC): reports "
	    "corrected errors only");

	/* Not even a CMC with a GHES-capable notification. */
	t.b[40 + 16] = RAS_NOTIFY_SCI;
	fixup();
	expect_ok(0);
}

Test(hest_linux, nmi_only_table_gives_empty_profile)
{
	load(IASL_NMI_ONLY);
	cr_assert_eq(t.len, 60);
	expect_ok(0);
	cr_assert_eq(t.rep.nskipped, 1);
	expect_skip(0, 0, HEST_SKIP_NO_STATUS_BLOCK, 0);
	cr_assert_eq(t.rep.skipped[0].notify, RAS_NOTIFY_NMI);
	expect_skip_text(0, "error source 0 (type 2 IA-32 NMI): has no error "
	    "status block to carry a record");
}

Test(hest_linux, notifications_linux_refuses_are_skipped)
{
	load(IASL_UNKNOWN);
	cr_assert_eq(t.len, 536);
	expect_ok(2);
	expect_src(0, 0, RAS_NOTIFY_SEA, HEST_GHES_V2);
	expect_src(1, 2, RAS_NOTIFY_GPIO, HEST_GHES_V2);
	cr_assert_eq(t.rep.nskipped, 4);
	expect_skip(0, 1, HEST_SKIP_NOTIFY_UNKNOWN, 12);
	expect_skip(1, 3, HEST_SKIP_NOTIFY_REJECTED, RAS_NOTIFY_LOCAL);
	expect_skip(2, 4, HEST_SKIP_NOTIFY_REJECTED, RAS_NOTIFY_CMCI);
	expect_skip(3, 5, HEST_SKIP_NOTIFY_REJECTED, RAS_NOTIFY_MCE);
	cr_assert(hest_skip_warns(HEST_SKIP_NOTIFY_UNKNOWN));
	cr_assert(hest_skip_warns(HEST_SKIP_NOTIFY_REJECTED));
	expect_skip_text(1, "error source 3 (type 9 GHES): notification type 2 "
	    "(LOCAL) is refused by Linux for a GHES");
	expect_skip_text(3, "error source 5 (type 9 GHES): notification type 6 "
	    "(MCE) is refused by Linux for a GHES");
}

Test(hest_linux, sei_stays_for_the_policy_to_gate)
{
	/* Linux refuses SEI, but an operator may enable it: it stays. */
	load(QEMU_SEA_GPIO);
	t.b[VIRT_GPIO + 32] = RAS_NOTIFY_SEI;
	fixup();
	expect_ok(2);
	expect_src(1, 1, RAS_NOTIFY_SEI, HEST_GHES_V2);
}

Test(hest_linux, ghesv2_read_ack)
{
	struct ras_source declared = { 7, RAS_NOTIFY_SEA, 0xff };

	load(QEMU_SEA_GPIO);
	expect_ok(2);
	cr_assert(hest_source_read_ack(&t.prof.src[0]));
	cr_assert(hest_source_read_ack(&t.prof.src[1]));
	cr_assert(!hest_source_read_ack(&declared));

	load(IASL_ARM64);
	expect_ok(6);
	cr_assert(hest_source_read_ack(&t.prof.src[4]));	/* GHESv2 */
	cr_assert(!hest_source_read_ack(&t.prof.src[5]));	/* GHES */

	/* Linux does not register a GHESv2 it cannot acknowledge. */
	load(QEMU_SEA_GPIO);
	memset(t.b + VIRT_GPIO + 64 + 4, 0, 8);	/* read ack address 0 */
	fixup();
	expect_ok(1);
	expect_src(0, 0, RAS_NOTIFY_SEA, HEST_GHES_V2);
	expect_skip(0, 1, HEST_SKIP_READ_ACK_GAR, HEST_GAR_ZERO_ADDRESS);
	cr_assert(hest_skip_warns(HEST_SKIP_READ_ACK_GAR));
	expect_skip_text(0, "error source 1 (type 10 GHESv2): read ack "
	    "register unusable: its address is 0");
}

Test(hest_linux, registers_linux_cannot_map_are_skipped)
{
	const size_t ack = VIRT_GPIO + 64, status = VIRT_GPIO + 20;

	load(QEMU_SEA_GPIO);
	cr_assert_eq(t.b[ack + 3], 4);		/* QWord access */
	t.b[ack + 3] = 0;
	fixup();
	expect_ok(1);
	expect_skip(0, 1, HEST_SKIP_READ_ACK_GAR, HEST_GAR_ACCESS_SIZE);
	t.b[ack + 3] = 5;
	fixup();
	expect_ok(1);
	expect_skip(0, 1, HEST_SKIP_READ_ACK_GAR, HEST_GAR_ACCESS_SIZE);

	/* Byte access to an aligned 64-bit register: Linux widens it. */
	load(QEMU_SEA_GPIO);
	cr_assert_eq(t.b[ack + 1], 64);
	t.b[ack + 3] = 1;
	fixup();
	expect_ok(2);
	t.b[ack + 2] = 8;			/* ... not with a bit offset */
	fixup();
	expect_ok(1);
	expect_skip(0, 1, HEST_SKIP_READ_ACK_GAR, HEST_GAR_BIT_RANGE);

	load(QEMU_SEA_GPIO);
	t.b[ack] = 2;				/* PCI configuration space */
	fixup();
	expect_ok(1);
	expect_skip(0, 1, HEST_SKIP_READ_ACK_GAR, HEST_GAR_SPACE);
	t.b[ack] = 1;				/* system I/O is fine */
	fixup();
	expect_ok(2);

	load(QEMU_SEA_GPIO);
	memset(t.b + status + 4, 0, 8);
	fixup();
	expect_ok(1);
	expect_skip(0, 1, HEST_SKIP_STATUS_GAR, HEST_GAR_ZERO_ADDRESS);
	expect_skip_text(0, "error source 1 (type 10 GHESv2): error status "
	    "address unusable: its address is 0");
}

Test(hest_linux, error_status_block_too_short)
{
	load(QEMU_SEA_GPIO);
	put32(VIRT_GPIO + 60, 19);
	fixup();
	expect_ok(1);
	expect_skip(0, 1, HEST_SKIP_BLOCK_LENGTH, 19);
	expect_skip_text(0, "error source 1 (type 10 GHESv2): error status "
	    "block length 19 is shorter than the 20-byte status header");
	put32(VIRT_GPIO + 60, 20);
	fixup();
	expect_ok(2);
}

Test(hest_linux, firmware_first_mce_yields_to_a_synchronous_ghes)
{
	/* iasl_x86_firmware_first: GHES 3 (NMI) takes the MCE's place. */
	load(IASL_X86);
	t.b[X86_GHES_NMI + 7] = 0;
	fixup();
	/* Left with SCI and polled GHES only, the MCE stays. */
	expect_ok(3);
	expect_src(0, 0, RAS_NOTIFY_MCE, HEST_IA32_MCE);
	expect_src(1, 4, RAS_NOTIFY_SCI, HEST_GHES);
	expect_src(2, 5, RAS_NOTIFY_POLLED, HEST_GHES_V2);

	/* An NMI GHES that Linux would not register does not count. */
	load(IASL_X86);
	t.b[X86_GHES_NMI + 32 + 1] = 0;
	fixup();
	expect_ok(3);
	expect_src(0, 0, RAS_NOTIFY_MCE, HEST_IA32_MCE);

	/* SEA (or SDEI) would be a synchronous path too. */
	load(IASL_X86);
	t.b[X86_GHES_NMI + 32] = RAS_NOTIFY_SEA;
	fixup();
	expect_ok(3);
	expect_src(0, 3, RAS_NOTIFY_SEA, HEST_GHES);

	/* Kernel first (the flag clear): the MCE joins beside the GHES. */
	load(IASL_X86);
	t.b[X86_MCE + 6] &= (uint8_t)~HEST_FLAG_FIRMWARE_FIRST;
	fixup();
	expect_ok(4);
	expect_src(0, 0, RAS_NOTIFY_MCE, HEST_IA32_MCE);
	expect_src(1, 3, RAS_NOTIFY_NMI, HEST_GHES);

	/* The flag on a disabled MCE is moot: disabled is the reason. */
	load(IASL_X86);
	t.b[X86_MCE + 7] = 0;
	fixup();
	expect_ok(3);
	expect_skip(0, 0, HEST_SKIP_DISABLED, 0);
}

Test(hest_linux, report_is_bounded_and_optional)
{
	struct ras_profile p;
	unsigned int i, n = 80;

	/* One SEA source, then 80 disabled copies of it. */
	load(QEMU_SEA);
	for (i = 1; i <= n; i++) {
		memcpy(t.b + 40 + i * 92, t.b + 40, 92);
		put16(40 + i * 92 + 2, (uint16_t)i);
		t.b[40 + i * 92 + 7] = 0;
	}
	t.len = 40 + (n + 1) * 92;
	put32(36, n + 1);
	fixup();
	expect_ok(1);
	cr_assert_eq(t.rep.nskipped, n);
	expect_skip(HEST_REPORT_MAX - 1, HEST_REPORT_MAX,
	    HEST_SKIP_DISABLED, 0);
	cr_assert_eq(hest_parse_report(t.b, t.len, NULL, NULL, NULL, 0), 0);
	cr_assert_eq(hest_parse(t.b, t.len, &p, NULL, 0), 0);
	cr_assert_eq(p.count, 1);

	/* Skipped sources do not count against the profile limit. */
	load(QEMU_SEA);
	for (i = 1; i < RAS_PROFILE_MAX + 10; i++) {
		memcpy(t.b + 40 + i * 92, t.b + 40, 92);
		put16(40 + i * 92 + 2, (uint16_t)i);
		if (i % 7 == 0)
			t.b[40 + i * 92 + 32] = RAS_NOTIFY_CMCI;
	}
	t.len = 40 + (RAS_PROFILE_MAX + 10) * 92;
	put32(36, RAS_PROFILE_MAX + 10);
	fixup();
	expect_ok(RAS_PROFILE_MAX);
	cr_assert_eq(t.rep.nskipped, 10);
}

Test(hest_linux, skip_format_is_bounded)
{
	struct hest_skipped s;
	char out[16];
	unsigned int r;

	memset(&s, 0, sizeof(s));
	s.source_id = 65535;
	s.hest_type = HEST_GHES_V2;
	for (r = 0; r <= HEST_SKIP_COUNT; r++) {
		s.reason = (uint8_t)r;
		memset(out, 'X', sizeof(out));
		hest_skip_format(&s, out, sizeof(out));
		cr_assert_str_eq(out, "error source 65");
	}
	s.hest_type = 3;
	s.reason = 200;
	{
		char line[128];

		hest_skip_format(&s, line, sizeof(line));
		cr_assert_str_eq(line, "error source 65535 (type 3 unknown): "
		    "skipped (reason 200)");
	}
	hest_skip_format(&s, NULL, 0);
	out[0] = 'X';
	hest_skip_format(&s, out, 0);
	cr_assert_eq(out[0], 'X');
}
