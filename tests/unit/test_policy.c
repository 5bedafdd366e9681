/*
 * test_policy.c -- the notification policy: every kind against every boot
 * profile shape we know of, with full and restricted VMM capabilities and
 * custom orders; order parsing and formatting.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "policy.h"

#define ALL	0xfffu		/* every type the VMM could inject */
#define B(t)	RAS_NOTIFY_BIT(RAS_NOTIFY_##t)
#define SRC(id, t, ht)	{ (id), RAS_NOTIFY_##t, (ht) }
#define GHES	10		/* HEST_GHES_V2 */
#define DECL	0xff		/* declared source, no HEST */

/*
 * One row: a boot profile, caps, an optional order for the row's kind, and
 * the expected decision. Inline arrays only, because criterion hands the
 * row to a separate test process.
 */
struct row {
	char		name[64];
	unsigned int	kind;
	unsigned int	nsrc;
	struct ras_source src[4];
	uint32_t	caps;
	char		order[48];	/* "" = the default order */
	uint8_t		action;
	uint8_t		notify;
	uint16_t	source_id;
	uint8_t		hest_type;
	unsigned int	flags;		/* 0: the vCPU's interrupts unknown */
};
/* Most rows leave flags out: the vCPU's interrupts are unknown. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define AR	RAS_KIND_AR
#define AO	RAS_KIND_AO
#define INJ	RAS_ACTION_INJECT
#define IGN	RAS_ACTION_IGNORE
#define STOP	RAS_ACTION_STOP_VM
#define NONE	RAS_NOTIFY_NONE
#define N(t)	RAS_NOTIFY_##t
#define UNM	POLICY_IRQ_UNMASKED

/* Profiles, as source lists. */
#define P_SEA		1, { SRC(0, SEA, GHES) }
#define P_VIRT		2, { SRC(0, SEA, GHES), SRC(1, GPIO, GHES) }
#define P_GPIO		1, { SRC(2, GPIO, GHES) }
#define P_GSIV_SEI	2, { SRC(3, GSIV, GHES), SRC(4, SEI, GHES) }
#define P_SEI		1, { SRC(5, SEI, GHES) }
#define P_MCE		1, { SRC(0, MCE, DECL) }
#define P_FWFIRST	2, { SRC(1, NMI, 9), SRC(2, SCI, GHES) }
#define P_POLLED	1, { SRC(7, POLLED, 9) }
#define P_EMPTY		0, { SRC(0, POLLED, 0) }
#define P_SDEI		1, { SRC(9, SDEI, GHES) }
#define P_TWOSEA	2, { SRC(5, SEA, GHES), SRC(2, SEA, 9) }
#define P_GPIO_SEA	2, { SRC(3, GPIO, GHES), SRC(8, SEA, 9) }
#define P_CMCI_LOCAL	2, { SRC(1, CMCI, 1), SRC(2, LOCAL, 9) }

static struct row rows[] = {
	/* default order, the VMM can inject everything */
	{ "AR {SEA}", AR, P_SEA, ALL, "", INJ, N(SEA), 0, GHES },
	{ "AO {SEA}", AO, P_SEA, ALL, "", IGN, NONE, 0, 0xff },
	{ "AR virt {SEA,GPIO}", AR, P_VIRT, ALL, "", INJ, N(SEA), 0, GHES },
	{ "AO virt {SEA,GPIO}", AO, P_VIRT, ALL, "", INJ, N(GPIO), 1, GHES },
	{ "AR {GPIO}, masked", AR, P_GPIO, ALL, "", STOP, NONE, 0, 0xff },
	{ "AR {GPIO}, unmasked", AR, P_GPIO, ALL, "", INJ, N(GPIO), 2, GHES,
	    UNM },
	{ "AO {GPIO}", AO, P_GPIO, ALL, "", INJ, N(GPIO), 2, GHES },
	{ "AR {GSIV,SEI}, masked", AR, P_GSIV_SEI, ALL, "", STOP, NONE, 0,
	    0xff },
	{ "AR {GSIV,SEI}, unmasked", AR, P_GSIV_SEI, ALL, "", INJ, N(GSIV), 3,
	    GHES, UNM },
	{ "AO {GSIV,SEI}", AO, P_GSIV_SEI, ALL, "", INJ, N(GSIV), 3, GHES },
	{ "AR {SEI} not by default", AR, P_SEI, ALL, "", STOP, NONE, 0, 0xff },
	{ "AO {SEI} not by default", AO, P_SEI, ALL, "", IGN, NONE, 0, 0xff },
	{ "AR x86 {MCE}", AR, P_MCE, ALL, "", INJ, N(MCE), 0, DECL },
	{ "AO x86 {MCE}", AO, P_MCE, ALL, "", INJ, N(MCE), 0, DECL },
	{ "AR fw-first {NMI,SCI}", AR, P_FWFIRST, ALL, "",
	    INJ, N(NMI), 1, 9 },
	{ "AO fw-first {NMI,SCI}", AO, P_FWFIRST, ALL, "",
	    INJ, N(SCI), 2, GHES },
	{ "AR {POLLED} never", AR, P_POLLED, ALL, "", STOP, NONE, 0, 0xff },
	{ "AR {POLLED} never, unmasked", AR, P_POLLED, ALL, "", STOP, NONE, 0,
	    0xff, UNM },
	{ "AO {POLLED}", AO, P_POLLED, ALL, "", INJ, N(POLLED), 7, 9 },
	{ "AR {}", AR, P_EMPTY, ALL, "", STOP, NONE, 0, 0xff },
	{ "AO {}", AO, P_EMPTY, ALL, "", IGN, NONE, 0, 0xff },
	{ "AR {SDEI}", AR, P_SDEI, ALL, "", INJ, N(SDEI), 9, GHES },
	{ "AO {SDEI}", AO, P_SDEI, ALL, "", IGN, NONE, 0, 0xff },
	{ "AR {CMCI,LOCAL} never", AR, P_CMCI_LOCAL, ALL, "",
	    STOP, NONE, 0, 0xff },
	{ "AO {CMCI,LOCAL} never", AO, P_CMCI_LOCAL, ALL, "",
	    IGN, NONE, 0, 0xff },
	/* lowest profile index wins among sources of one type */
	{ "AR two SEA sources", AR, P_TWOSEA, ALL, "", INJ, N(SEA), 5, GHES },
	/* the order decides, not the profile's index */
	{ "AR {GPIO,SEA}", AR, P_GPIO_SEA, ALL, "", INJ, N(SEA), 8, 9 },
	{ "AO {GPIO,SEA}", AO, P_GPIO_SEA, ALL, "", INJ, N(GPIO), 3, GHES },

	/* restricted caps */
	{ "AO virt, VMM cannot inject GPIO", AO, P_VIRT, B(SEA), "",
	    IGN, NONE, 0, 0xff },
	{ "AR virt, VMM cannot inject SEA", AR, P_VIRT, B(GPIO), "",
	    STOP, NONE, 0, 0xff },
	{ "AR virt, VMM cannot inject SEA, unmasked", AR, P_VIRT, B(GPIO), "",
	    INJ, N(GPIO), 1, GHES, UNM },
	{ "AR virt, VMM injects nothing", AR, P_VIRT, 0, "",
	    STOP, NONE, 0, 0xff },
	{ "AR {GSIV,SEI}, no GSIV", AR, P_GSIV_SEI, ALL & ~B(GSIV), "",
	    STOP, NONE, 0, 0xff },
	{ "AO fw-first, no SCI", AO, P_FWFIRST, ALL & ~B(SCI), "",
	    IGN, NONE, 0, 0xff },
	{ "AR x86, no MCE", AR, P_MCE, ALL & ~B(MCE), "",
	    STOP, NONE, 0, 0xff },
	{ "AR caps beyond the profile", AR, P_GPIO, B(SEA) | B(GPIO), "",
	    INJ, N(GPIO), 2, GHES, UNM },

	/* custom orders: names outside the profile are never chosen */
	{ "AR order outside profile", AR, P_VIRT, ALL, "SDEI,GSIV,POLLED",
	    STOP, NONE, 0, 0xff },
	{ "AO order outside profile", AO, P_GPIO, ALL, "SEA,SEI,MCE",
	    IGN, NONE, 0, 0xff },
	{ "AR order skips absent", AR, P_VIRT, ALL, "SDEI,GPIO,SEA",
	    INJ, N(GPIO), 1, GHES, UNM },
	{ "AR order, GPIO skipped when masked", AR, P_VIRT, ALL,
	    "SDEI,GPIO,SEA", INJ, N(SEA), 0, GHES },
	{ "AO ignores the vCPU's mask", AO, P_GPIO, ALL, "", INJ, N(GPIO), 2,
	    GHES },
	{ "AR fw-first {NMI,SCI}, unmasked", AR, P_FWFIRST, ALL, "",
	    INJ, N(NMI), 1, 9, UNM },
	{ "AO order with SEA", AO, P_SEA, ALL, "POLLED,SEA",
	    INJ, N(SEA), 0, GHES },
	{ "AO explicit SEI", AO, P_GSIV_SEI, ALL, "SEI,GSIV",
	    INJ, N(SEI), 4, GHES },
	{ "AO explicit SEI, VMM cannot", AO, P_GSIV_SEI, ALL & ~B(SEI),
	    "SEI,GSIV", INJ, N(GSIV), 3, GHES },
	{ "AO explicit SEI only", AO, P_SEI, ALL, "SEI", INJ, N(SEI), 5, GHES },
	{ "AR explicit SEA,SEI", AR, P_SEI, ALL, "SEA,SEI",
	    INJ, N(SEI), 5, GHES },
	{ "AR explicit none", AR, P_VIRT, ALL, "none", STOP, NONE, 0, 0xff },
	{ "AO explicit none", AO, P_VIRT, ALL, "none", IGN, NONE, 0, 0xff },

	/* an unknown kind takes the AR side */
	{ "kind 0 as AR", 0, P_VIRT, ALL, "", INJ, N(SEA), 0, GHES },
	{ "kind 7 as AR, nothing", 7, P_EMPTY, ALL, "", STOP, NONE, 0, 0xff },
};

ParameterizedTestParameters(policy, decide)
{
	return cr_make_param_array(struct row, rows,
	    sizeof rows / sizeof rows[0]);
}

ParameterizedTest(struct row *r, policy, decide)
{
	struct ras_policy	pol;
	struct ras_profile	prof;
	struct ras_decision	d;
	char			err[128];
	unsigned int		i;
	uint8_t			*order;
	unsigned int		*count;

	policy_default(&pol);
	if (r->order[0] != '\0') {
		order = r->kind == AO ? pol.ao_order : pol.ar_order;
		count = r->kind == AO ? &pol.ao_count : &pol.ar_count;
		cr_assert_eq(policy_parse_order(r->order, order, count, err,
		    sizeof err), 0, "%s: order \"%s\": %s", r->name, r->order,
		    err);
	}
	memset(&prof, 0xa5, sizeof prof);
	prof.count = r->nsrc;
	for (i = 0; i < r->nsrc; i++)
		prof.src[i] = r->src[i];

	memset(&d, 0xee, sizeof d);
	policy_decide(&pol, &prof, r->caps, r->kind, r->flags, &d);
	cr_expect_eq(d.action, r->action, "%s: action %u, want %u", r->name,
	    d.action, r->action);
	cr_expect_eq(d.notify, r->notify, "%s: notify %u, want %u", r->name,
	    d.notify, r->notify);
	cr_expect_eq(d.source_id, r->source_id, "%s: source %u, want %u",
	    r->name, d.source_id, r->source_id);
	cr_expect_eq(d.hest_type, r->hest_type, "%s: hest type %u, want %u",
	    r->name, d.hest_type, r->hest_type);
}

Test(policy, default_orders)
{
	static const uint8_t ar[] = { N(SEA), N(MCE), N(NMI), N(SDEI),
	    N(GSIV), N(GPIO), N(EXTERNAL), N(SCI), N(POLLED) };
	static const uint8_t ao[] = { N(GSIV), N(GPIO), N(EXTERNAL), N(SCI),
	    N(MCE), N(POLLED) };
	struct ras_policy	pol;
	unsigned int		i;

	memset(&pol, 0xee, sizeof pol);
	policy_default(&pol);
	cr_assert_eq(pol.ar_count, sizeof ar);
	cr_assert_eq(pol.ao_count, sizeof ao);
	for (i = 0; i < sizeof ar; i++)
		cr_expect_eq(pol.ar_order[i], ar[i], "ar[%u]", i);
	for (i = 0; i < sizeof ao; i++)
		cr_expect_eq(pol.ao_order[i], ao[i], "ao[%u]", i);
}

Test(policy, null_policy_is_default)
{
	struct ras_profile	prof = { 2, { SRC(0, SEA, GHES),
	    SRC(1, GPIO, GHES) } };
	struct ras_decision	d;

	policy_decide(NULL, &prof, ALL, AO, 0, &d);
	cr_expect_eq(d.action, INJ);
	cr_expect_eq(d.notify, N(GPIO));
	cr_expect_eq(d.source_id, 1);
	policy_decide(NULL, NULL, ALL, AR, 0, &d);
	cr_expect_eq(d.action, STOP);
	cr_expect_eq(d.notify, NONE);
}

Test(policy, bad_order_entries_skipped)
{
	struct ras_policy	pol;
	struct ras_profile	prof = { 1, { SRC(6, GPIO, GHES) } };
	struct ras_decision	d;

	policy_default(&pol);
	pol.ar_count = 3;
	pol.ar_order[0] = 200;
	pol.ar_order[1] = RAS_NOTIFY_COUNT;
	pol.ar_order[2] = N(GPIO);
	policy_decide(&pol, &prof, 0xffffffffu, AR, UNM, &d);
	cr_expect_eq(d.action, INJ);
	cr_expect_eq(d.notify, N(GPIO));
	cr_expect_eq(d.source_id, 6);

	/* a count past the array is clamped, not followed */
	pol.ao_count = 1000;
	prof.count = 1000;
	policy_decide(&pol, &prof, ALL, AO, 0, &d);
	cr_expect_eq(d.action, INJ);
	cr_expect_eq(d.notify, N(GPIO));
}

/* parse_order must reject text and leave order/count untouched. */
static void
expect_reject(const char *text, const char *needle)
{
	uint8_t		order[RAS_NOTIFY_COUNT];
	unsigned int	count = 99, i;
	char		err[128] = "";

	memset(order, 0xee, sizeof order);
	cr_expect_eq(policy_parse_order(text, order, &count, err, sizeof err),
	    -1, "\"%s\" accepted", text);
	cr_expect_eq(count, 99, "\"%s\": count changed", text);
	for (i = 0; i < RAS_NOTIFY_COUNT; i++)
		cr_expect_eq(order[i], 0xee, "\"%s\": order changed", text);
	cr_expect_neq(strstr(err, needle), NULL, "\"%s\": error \"%s\" lacks "
	    "\"%s\"", text, err, needle);
}

Test(policy, parse_errors)
{
	expect_reject("SEA,FOO", "FOO");
	expect_reject("bogus", "bogus");
	expect_reject("LOCAL", "LOCAL");
	expect_reject("SEA,local", "LOCAL");
	expect_reject("CMCI", "CMCI");
	expect_reject("GSIV,cmci,SEA", "CMCI");
	expect_reject("SEA,GSIV,sea", "SEA listed twice");
	expect_reject("POLLED,POLLED", "POLLED listed twice");
	expect_reject("", "empty");
	expect_reject("SEA,,GSIV", "empty");
	expect_reject("SEA,", "empty");
	expect_reject(",SEA", "empty");
	expect_reject("  ", "empty");
	expect_reject("SEA;GSIV", "SEA;GSIV");
	expect_reject("SEAGSIVGPIOPOLLED1234", "unknown");
	expect_reject("none,SEA", "none");
	expect_reject("SEA,none", "none");
	expect_reject(NULL, "no order");
}

Test(policy, parse_accepts)
{
	uint8_t		order[RAS_NOTIFY_COUNT];
	unsigned int	count = 99;
	char		err[64];

	cr_assert_eq(policy_parse_order(" sea, gsiv ,Gpio\t,POLLED", order,
	    &count, err, sizeof err), 0, "%s", err);
	cr_assert_eq(count, 4);
	cr_expect_eq(order[0], N(SEA));
	cr_expect_eq(order[1], N(GSIV));
	cr_expect_eq(order[2], N(GPIO));
	cr_expect_eq(order[3], N(POLLED));

	cr_assert_eq(policy_parse_order("SEI", order, &count, err,
	    sizeof err), 0, "%s", err);
	cr_expect_eq(count, 1);
	cr_expect_eq(order[0], N(SEI));

	cr_assert_eq(policy_parse_order("None", order, &count, err,
	    sizeof err), 0, "%s", err);
	cr_expect_eq(count, 0);

	cr_assert_eq(policy_parse_order("POLLED,EXTERNAL,SCI,NMI,MCE,GPIO,"
	    "SEA,SEI,GSIV,SDEI", order, &count, NULL, 0), 0);
	cr_expect_eq(count, 10);
	cr_expect_eq(order[9], N(SDEI));
}

Test(policy, format_round_trip)
{
	struct ras_policy	pol, back;
	char			buf[128], err[64];

	policy_default(&pol);
	policy_format_order(pol.ar_order, pol.ar_count, buf, sizeof buf);
	cr_expect_str_eq(buf, "SEA,MCE,NMI,SDEI,GSIV,GPIO,EXTERNAL,SCI,POLLED");
	cr_assert_eq(policy_parse_order(buf, back.ar_order, &back.ar_count,
	    err, sizeof err), 0, "%s", err);
	cr_expect_eq(back.ar_count, pol.ar_count);
	cr_expect_arr_eq(back.ar_order, pol.ar_order, pol.ar_count);

	policy_format_order(pol.ao_order, pol.ao_count, buf, sizeof buf);
	cr_expect_str_eq(buf, "GSIV,GPIO,EXTERNAL,SCI,MCE,POLLED");
	cr_assert_eq(policy_parse_order(buf, back.ao_order, &back.ao_count,
	    err, sizeof err), 0, "%s", err);
	cr_expect_eq(back.ao_count, pol.ao_count);
	cr_expect_arr_eq(back.ao_order, pol.ao_order, pol.ao_count);

	policy_format_order(pol.ar_order, 0, buf, sizeof buf);
	cr_expect_str_eq(buf, "none");
	cr_assert_eq(policy_parse_order(buf, back.ar_order, &back.ar_count,
	    err, sizeof err), 0, "%s", err);
	cr_expect_eq(back.ar_count, 0);
}

Test(policy, format_truncates)
{
	static const uint8_t	odd[] = { N(SEA), 200 };
	struct ras_policy	pol;
	char			buf[8];

	policy_default(&pol);
	memset(buf, 'x', sizeof buf);
	policy_format_order(pol.ar_order, pol.ar_count, buf, 6);
	cr_expect_str_eq(buf, "SEA,M");
	cr_expect_eq(buf[6], 'x');

	policy_format_order(odd, 2, buf, sizeof buf);
	cr_expect_str_eq(buf, "SEA,200");
}
