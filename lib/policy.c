/*
 * policy.c -- choose how a guest is told about a memory error.
 *
 * DESIGN: the notification a guest receives is a property of the machine
 * the VMM emulates, fixed by the boot profile (the HEST the guest saw, or
 * the VMM's declared sources). The operator's order only ranks types; it
 * can never add one: a type outside the boot profile would reach a guest
 * with no handler for it. policy_decide runs in the client library's SIGBUS
 * handler when rasd is unreachable, so it only reads its arguments and
 * writes *d: no allocation, no locks, no libc calls. Parsing and
 * formatting orders happen at config time and may use stdio.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy.h"

/*
 * AR: SEA is delivered even with interrupts masked, so it comes first; MCE
 * is the x86 path without HEST, NMI the x86 firmware-first one; then the
 * interrupt types; polled last since the guest may touch the page first.
 */
static const uint8_t policy_ar_default[] = {
	RAS_NOTIFY_SEA, RAS_NOTIFY_MCE, RAS_NOTIFY_NMI, RAS_NOTIFY_SDEI,
	RAS_NOTIFY_GSIV, RAS_NOTIFY_GPIO, RAS_NOTIFY_EXTERNAL, RAS_NOTIFY_SCI,
	RAS_NOTIFY_POLLED
};

/*
 * AO: "always use IRQ". SEI is deliberately absent: it kills a guest that
 * does not support it, so only an operator may name it.
 */
static const uint8_t policy_ao_default[] = {
	RAS_NOTIFY_GSIV, RAS_NOTIFY_GPIO, RAS_NOTIFY_EXTERNAL, RAS_NOTIFY_SCI,
	RAS_NOTIFY_MCE, RAS_NOTIFY_POLLED
};

/* Fill *pol with the safe default orders. */
void
policy_default(struct ras_policy *pol)
{
	unsigned int	i;

	pol->ar_count = sizeof policy_ar_default;
	for (i = 0; i < pol->ar_count; i++)
		pol->ar_order[i] = policy_ar_default[i];
	pol->ao_count = sizeof policy_ao_default;
	for (i = 0; i < pol->ao_count; i++)
		pol->ao_order[i] = policy_ao_default[i];
}

/* Format a parse error into err, which may be NULL. */
static void __attribute__((format(printf, 3, 4)))
policy_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Parse a comma-separated order. Blanks around names are allowed; empty
 * items are not, since ",," is more likely a typo than intent. The single
 * word "none" is an explicit empty order (AO recorded only, AR stops the
 * VM). order and count are only written on success.
 */
int
policy_parse_order(const char *text, uint8_t order[RAS_NOTIFY_COUNT],
    unsigned int *count, char *err, size_t errlen)
{
	uint8_t		 tmp[RAS_NOTIFY_COUNT];
	uint32_t	 seen = 0;
	unsigned int	 n = 0, i;
	char		 name[16];
	const char	*p, *start, *end;
	size_t		 len;
	int		 t;

	if (text == NULL) {
		policy_error(err, errlen, "no order given");
		return -1;
	}
	p = text;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p != '\0' && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		len = (size_t)(end - start);
		if (len == 0) {
			policy_error(err, errlen, "empty name in order");
			return -1;
		}
		if (len >= sizeof name) {
			policy_error(err, errlen,
			    "unknown notification type \"%.*s...\"",
			    (int)(sizeof name - 1), start);
			return -1;
		}
		memcpy(name, start, len);
		name[len] = '\0';

		if (strcasecmp(name, "none") == 0 && n == 0 && *p == '\0')
			break;
		if ((t = ras_notify_from_name(name)) == -1) {
			policy_error(err, errlen,
			    "unknown notification type \"%s\"", name);
			return -1;
		}
		if (t == RAS_NOTIFY_LOCAL || t == RAS_NOTIFY_CMCI) {
			policy_error(err, errlen,
			    "%s cannot carry memory errors (Linux guests "
			    "reject it)", ras_notify_name(t));
			return -1;
		}
		if (seen & RAS_NOTIFY_BIT(t)) {
			policy_error(err, errlen, "%s listed twice",
			    ras_notify_name(t));
			return -1;
		}
		seen |= RAS_NOTIFY_BIT(t);
		tmp[n++] = (uint8_t)t;

		if (*p == '\0')
			break;
		p++;
	}
	for (i = 0; i < n; i++)
		order[i] = tmp[i];
	*count = n;
	return 0;
}

/*
 * Format an order as "SEA,GSIV,...", or "none" when empty so that the
 * output parses back to the same order. Truncates, always terminated.
 */
void
policy_format_order(const uint8_t *order, unsigned int count, char *out,
    size_t outlen)
{
	const char	*name;
	size_t		 used = 0;
	unsigned int	 i;
	int		 n;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (count == 0) {
		snprintf(out, outlen, "none");
		return;
	}
	for (i = 0; i < count && used < outlen; i++) {
		name = ras_notify_name(order[i]);
		if (name != NULL)
			n = snprintf(out + used, outlen - used, "%s%s",
			    i == 0 ? "" : ",", name);
		else
			n = snprintf(out + used, outlen - used, "%s%u",
			    i == 0 ? "" : ",", (unsigned int)order[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/*
 * First source of the profile with notification type t, or -1. The lowest
 * index wins so that the choice is stable across restarts and hosts.
 */
static int
policy_find_source(const struct ras_profile *prof, unsigned int t)
{
	unsigned int	i, n;

	if (prof == NULL)
		return -1;
	n = prof->count;
	if (n > RAS_PROFILE_MAX)
		n = RAS_PROFILE_MAX;
	for (i = 0; i < n; i++) {
		if (prof->src[i].notify == t)
			return (int)i;
	}
	return -1;
}

/* Whether an AR may be told with this type only to an unmasked vCPU. */
int
policy_needs_unmasked(unsigned int notify)
{
	switch (notify) {
	case RAS_NOTIFY_SEA:
	case RAS_NOTIFY_MCE:
	case RAS_NOTIFY_NMI:
	case RAS_NOTIFY_SDEI:
	case RAS_NOTIFY_SEI:
		return 0;
	default:
		return 1;
	}
}

/*
 * Decide for one error. Any kind other than AO is handled as AR: failing
 * to tell the guest of a synchronous error lets it consume bad data, so the
 * unknown case takes the safe side. An AR on a vCPU with interrupts masked
 * (or not known to be unmasked) is told only by an exception or NMI-like
 * type: an interrupt would stay pending while the vCPU re-executes the
 * load and faults again, forever. POLLED is never an AR answer for the
 * same reason. Out-of-range order entries and counts are skipped rather
 * than trusted, since the policy may come from a config.
 */
void
policy_decide(const struct ras_policy *pol, const struct ras_profile *prof,
    uint32_t caps, unsigned int kind, unsigned int flags,
    struct ras_decision *d)
{
	struct ras_policy	 def;
	const uint8_t		*order;
	unsigned int		 count, i, t;
	int			 s;

	if (pol == NULL) {
		policy_default(&def);
		pol = &def;
	}
	if (kind == RAS_KIND_AO) {
		order = pol->ao_order;
		count = pol->ao_count;
	} else {
		order = pol->ar_order;
		count = pol->ar_count;
	}
	if (count > RAS_NOTIFY_COUNT)
		count = RAS_NOTIFY_COUNT;

	for (i = 0; i < count; i++) {
		t = order[i];
		if (t >= RAS_NOTIFY_COUNT || (caps & RAS_NOTIFY_BIT(t)) == 0)
			continue;
		if (kind != RAS_KIND_AO && policy_needs_unmasked(t) &&
		    ((flags & POLICY_IRQ_UNMASKED) == 0 ||
		    t == RAS_NOTIFY_POLLED))
			continue;
		if ((s = policy_find_source(prof, t)) == -1)
			continue;
		d->action = RAS_ACTION_INJECT;
		d->notify = (uint8_t)t;
		d->source_id = prof->src[s].source_id;
		d->hest_type = prof->src[s].hest_type;
		return;
	}

	d->action = kind == RAS_KIND_AO ? RAS_ACTION_IGNORE : RAS_ACTION_STOP_VM;
	d->notify = RAS_NOTIFY_NONE;
	d->source_id = 0;
	d->hest_type = 0xff;
}
