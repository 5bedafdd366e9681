/*
 * hest.c -- parse an ACPI Hardware Error Source Table into a boot profile.
 *
 * The table comes from a VMM, which may be owned by its guest: every byte is
 * hostile until checked. All fields are little-endian (ACPI 6.5 5.2.6 and
 * 18.3.2):
 *
 *   off len  HEST header
 *     0   4  signature             "HEST"
 *     4   4  length                whole table, header included
 *     8   1  revision
 *     9   1  checksum              all `length` bytes sum to 0 mod 256
 *    10  26  OEM id .. compiler revision (not interpreted)
 *    36   4  error source count
 *    40      error sources, back to back, each starting with
 *            u16 type, u16 source id
 *
 *   type  name              length          flags enabled notification at
 *     0   IA-32 MCE         40 + 28 * banks  6     7       -- (always MCE)
 *     1   IA-32 CMC         48 + 28 * banks  6     7       16
 *     2   IA-32 NMI         20               --    --      -- (always NMI)
 *   3-5   not used by ACPI: rejected, their length is unknown
 *     6   AER root port     48               6     7       --
 *     7   AER endpoint      44               6     7       --
 *     8   AER bridge        56               6     7       --
 *     9   GHES              64               --    7       32
 *    10   GHESv2            92               --    7       32
 *    11   IA-32 deferred MC 48 + 28 * banks  6     7       16
 *
 * The bank count of types 0, 1 and 11 is one byte at 32, 44 and 44. A
 * hardware error notification structure is 28 bytes: u8 type, u8 length
 * (28), u16 config write enable, then six u32 (poll interval, vector,
 * polling threshold value and window, error threshold value and window).
 * A GHES has its related source id (u16) at 4, the Generic Address
 * Structure of its error status address at 20 and the error status block
 * length (u32) at 60; a GHESv2 adds the read ack register GAS at 64 and the
 * read ack preserve and write masks (u64) at 76 and 84. A GAS is u8 address
 * space, u8 bit width, u8 bit offset, u8 access size code, u64 address.
 *
 * SHAPE. Anything the walk cannot account for rejects the table: a guest
 * that boots from a table its OS reads differently from rasd would be told
 * about memory errors on sources it never registered. The table must end
 * exactly after the last counted source, a type must be one whose length
 * is known (Linux refuses the whole table otherwise too), and source ids
 * must be unique over all sources, AER and disabled ones included, because
 * rasd answers with a source id and the guest resolves it over the table.
 *
 * MEANING. A well-formed source joins the profile only if it can bring a
 * memory error to the guest the way Linux (drivers/acpi/apei/hest.c and
 * ghes.c) reads it; everything else is skipped, listed in the report with
 * its reason, and never fails the table:
 *  - GHES and GHESv2 join when enabled and when ghes_probe() would take
 *    them: notification POLLED, EXTERNAL, SCI, NMI, GPIO, SEA, SEI, GSIV or
 *    SDEI (LOCAL is refused by Linux, CMCI and MCE are unknown to it, and
 *    so is anything past SDEI); an error status block of at least the
 *    20-byte Generic Error Status header; an error status address, and for
 *    GHESv2 a read ack register, that apei_check_gar() accepts (non-zero
 *    address, access size 1..4, bit width + offset within the access, system
 *    memory or I/O). SEI stays in the profile although Linux refuses it:
 *    the policy gives it only where the operator enabled it. Which types an
 *    architecture takes (SEA and SDEI on arm64, NMI on x86) is left to the
 *    VMM's capabilities. A notification structure whose length is not 28
 *    is skipped too: Linux ignores the byte, but rasd cannot be sure the
 *    rest means what it says.
 *  - A GHES whose related source id names an IA-32 MCE, CMC or deferred MC
 *    source with GHES_ASSIST set only adds detail to that machine check;
 *    Linux skips it (is_ghes_assist_struct), so does rasd. Linux matches
 *    only the one source of each type it last walked past; rasd matches any
 *    such source anywhere in the table, which is the same for every real
 *    table and errs on the side of not using a source.
 *  - IA-32 MCE joins with notification MCE: the guest's #MC handler takes
 *    an injected machine check whatever the flags say (Linux reads neither
 *    FIRMWARE_FIRST nor GHES_ASSIST on it). FIRMWARE_FIRST says firmware
 *    (here the VMM) handles the banks first and reports through GHES, so
 *    when the table gives the guest a GHES that takes synchronous errors
 *    (NMI, SEA or SDEI) a firmware-first MCE source is skipped and the
 *    guest is told through the GHES, as a firmware-first machine does.
 *    Without such a GHES the MCE stays the guest's only way to learn of an
 *    action-required error, and stays.
 *  - IA-32 CMC reports corrected errors only (Linux uses it only to hand
 *    FIRMWARE_FIRST banks to firmware); IA-32 NMI has no error status block
 *    for a record; IA-32 deferred MC is signalled through the CPU's own
 *    deferred-error interrupt, not a HEST notification; AER sources carry
 *    PCIe errors (FIRMWARE_FIRST there only moves AER ownership). None of
 *    them is ever chosen.
 *
 * The parser must stay usable from the VMM client library, including from
 * a SIGBUS handler: no allocation and no libc call outside memcmp/memset.
 * The error reason is therefore formatted by the small hest_msg_* writer
 * below instead of snprintf (which is not async-signal-safe). The price is
 * 8 KiB of stack for a bitmap of source ids: it holds the ids seen, which
 * makes the duplicate check linear even for a 1 MiB table of 20-byte
 * sources, and is then reused for the ids of GHES_ASSIST sources.
 */
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "hest.h"

#define HEST_COUNT_OFF		36
#define HEST_BANK_LEN		28
#define HEST_NOTIFY_LEN		28
#define HEST_SOURCE_HEADER_LEN	4
#define HEST_ID_WORDS		(65536 / 64)

#define HEST_GHES_RELATED_OFF	4
#define HEST_GHES_STATUS_OFF	20
#define HEST_GHES_BLOCK_OFF	60
#define HEST_GHES_READ_ACK_OFF	64
#define HEST_ESTATUS_LEN	20	/* struct acpi_hest_generic_status */

/* Where the fields of one error source type are, from the table above. */
struct hest_layout {
	const char	*name;		/* NULL: not a type rasd accepts */
	uint32_t	 fixed;		/* length without the error banks */
	uint32_t	 banks_at;	/* offset of the bank count, 0: none */
	uint32_t	 notify_at;	/* offset of the notification, 0: none */
	uint32_t	 enabled_at;	/* offset of the enabled byte, 0: none */
	uint32_t	 flags_at;	/* offset of the flags byte, 0: none */
	uint8_t		 notify;	/* fixed notification, NONE: read it */
};

static const struct hest_layout hest_layouts[] = {
	[HEST_IA32_MCE] =	{ "IA-32 MCE", 40, 32, 0, 7, 6, RAS_NOTIFY_MCE },
	[HEST_IA32_CMC] =	{ "IA-32 CMC", 48, 44, 16, 7, 6,
				  RAS_NOTIFY_NONE },
	[HEST_IA32_NMI] =	{ "IA-32 NMI", 20, 0, 0, 0, 0, RAS_NOTIFY_NMI },
	[HEST_AER_ROOT] =	{ "AER root port", 48, 0, 0, 7, 6,
				  RAS_NOTIFY_NONE },
	[HEST_AER_ENDPOINT] =	{ "AER endpoint", 44, 0, 0, 7, 6,
				  RAS_NOTIFY_NONE },
	[HEST_AER_BRIDGE] =	{ "AER bridge", 56, 0, 0, 7, 6,
				  RAS_NOTIFY_NONE },
	[HEST_GHES] =		{ "GHES", 64, 0, 32, 7, 0, RAS_NOTIFY_NONE },
	[HEST_GHES_V2] =	{ "GHESv2", 92, 0, 32, 7, 0, RAS_NOTIFY_NONE },
	[HEST_IA32_DEFERRED] =	{ "IA-32 deferred MC", 48, 44, 16, 7, 6,
				  RAS_NOTIFY_NONE },
};

/* A bounded, always NUL-terminated message being written into err. */
struct hest_msg {
	char	*buf;
	size_t	 size;
	size_t	 pos;
};

/* The state of one walk over a table. */
struct hest_walk {
	const uint8_t	*p;
	uint32_t	 len;		/* table length from the header */
	uint32_t	 count;		/* error sources, once the shape holds */
	struct hest_msg	 msg;
};

static void	hest_msg_fmt(struct hest_msg *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	hest_source_fail(struct hest_walk *, uint32_t, uint32_t,
		    const struct hest_layout *, const char *, ...)
		    __attribute__((format(printf, 5, 6)));

/* Read a 16-bit little-endian value; the table has no alignment. */
static uint16_t
hest_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

/* Read a 32-bit little-endian value. */
static uint32_t
hest_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* Append one character, truncating silently: err is advisory. */
static void
hest_msg_putc(struct hest_msg *m, char c)
{
	if (m->buf == NULL || m->size == 0)
		return;
	if (m->pos + 1 < m->size)
		m->buf[m->pos++] = c;
	m->buf[m->pos] = '\0';
}

/* Append an unsigned number in the given base (10 or 16). */
static void
hest_msg_putu(struct hest_msg *m, unsigned int v, unsigned int base)
{
	char digits[12];
	int n = 0;

	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v != 0);
	while (n > 0)
		hest_msg_putc(m, digits[--n]);
}

/* Append formatted text; knows only %s, %u, %x and %% so it needs no libc. */
static void
hest_msg_vfmt(struct hest_msg *m, const char *fmt, va_list ap)
{
	const char *s;

	for (; *fmt != '\0'; fmt++) {
		if (*fmt != '%' || fmt[1] == '\0') {
			hest_msg_putc(m, *fmt);
			continue;
		}
		switch (*++fmt) {
		case 's':
			for (s = va_arg(ap, const char *); *s != '\0'; s++)
				hest_msg_putc(m, *s);
			break;
		case 'u':
			hest_msg_putu(m, va_arg(ap, unsigned int), 10);
			break;
		case 'x':
			hest_msg_putu(m, va_arg(ap, unsigned int), 16);
			break;
		default:
			hest_msg_putc(m, *fmt);
			break;
		}
	}
}

/* Append formatted text to the message. */
static void
hest_msg_fmt(struct hest_msg *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hest_msg_vfmt(m, fmt, ap);
	va_end(ap);
}

/* Say which error source failed and why, so an operator can find the bytes. */
static void
hest_source_fail(struct hest_walk *w, uint32_t idx, uint32_t off,
    const struct hest_layout *lay, const char *fmt, ...)
{
	va_list ap;

	hest_msg_fmt(&w->msg, "error source %u (type %u %s) at offset %u: ",
	    idx, hest_get16(w->p + off), lay->name, off);
	va_start(ap, fmt);
	hest_msg_vfmt(&w->msg, fmt, ap);
	va_end(ap);
}

/* Read a 64-bit little-endian value. */
static uint64_t
hest_get64(const uint8_t *p)
{
	return ((uint64_t)hest_get32(p) | (uint64_t)hest_get32(p + 4) << 32);
}

/* The layout of a type, or NULL for reserved and unknown types. */
static const struct hest_layout *
hest_layout_of(uint16_t type)
{
	if (type >= sizeof(hest_layouts) / sizeof(hest_layouts[0]))
		return (NULL);
	if (hest_layouts[type].name == NULL)
		return (NULL);
	return (&hest_layouts[type]);
}

/* Length of an already validated source, so it can be walked again. */
static uint32_t
hest_source_len(const uint8_t *src)
{
	const struct hest_layout *lay = hest_layout_of(hest_get16(src));

	if (lay->banks_at == 0)
		return (lay->fixed);
	return (lay->fixed + src[lay->banks_at] * HEST_BANK_LEN);
}

/* Index of the first validated source (of the first n) using an id. */
static uint32_t
hest_find_id(const struct hest_walk *w, uint32_t n, uint16_t id)
{
	uint32_t i, off = HEST_HEADER_LEN;

	for (i = 0; i < n; i++) {
		if (hest_get16(w->p + off + 2) == id)
			break;
		off += hest_source_len(w->p + off);
	}
	return (i);
}

/* Check the ACPI header and the source count, and record the table bounds. */
static int
hest_check_header(struct hest_walk *w, const uint8_t *p, size_t len)
{
	uint32_t tlen, i;
	uint8_t sum = 0;
	char sig[5];

	if (p == NULL || len < HEST_HEADER_LEN) {
		hest_msg_fmt(&w->msg, "table is %u bytes, shorter than the "
		    "%u-byte HEST header", p == NULL ? 0 : (unsigned int)len,
		    HEST_HEADER_LEN);
		return (-1);
	}
	if (memcmp(p, "HEST", 4) != 0) {
		for (i = 0; i < 4; i++)
			sig[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
		sig[4] = '\0';
		hest_msg_fmt(&w->msg, "signature is \"%s\", not \"HEST\"", sig);
		return (-1);
	}
	tlen = hest_get32(p + 4);
	if (tlen < HEST_HEADER_LEN) {
		hest_msg_fmt(&w->msg, "header length %u is shorter than the "
		    "%u-byte HEST header", tlen, HEST_HEADER_LEN);
		return (-1);
	}
	if (tlen > HEST_MAX_LEN) {
		hest_msg_fmt(&w->msg, "header length %u exceeds the %u-byte "
		    "limit", tlen, HEST_MAX_LEN);
		return (-1);
	}
	if (tlen > len) {
		hest_msg_fmt(&w->msg, "header length %u exceeds the %u bytes "
		    "given (truncated table)", tlen, (unsigned int)len);
		return (-1);
	}
	for (i = 0; i < tlen; i++)
		sum += p[i];
	if (sum != 0) {
		hest_msg_fmt(&w->msg, "checksum mismatch: the %u bytes sum to "
		    "0x%x, not 0 (checksum byte 0x%x)", tlen, sum, p[9]);
		return (-1);
	}
	if (hest_get32(p + HEST_COUNT_OFF) == 0) {
		hest_msg_fmt(&w->msg, "no error sources (count 0)");
		return (-1);
	}
	w->p = p;
	w->len = tlen;
	return (0);
}

/*
 * Walk every counted source once and check that the table has the shape it
 * claims: known types, sources inside the table, unique ids, nothing left.
 */
static int
hest_check_shape(struct hest_walk *w, uint64_t *seen)
{
	const struct hest_layout *lay;
	uint32_t count, idx, off, left, size;
	uint16_t type, id;

	count = hest_get32(w->p + HEST_COUNT_OFF);
	memset(seen, 0, HEST_ID_WORDS * sizeof(*seen));
	off = HEST_HEADER_LEN;
	for (idx = 0; idx < count; idx++) {
		left = w->len - off;
		if (left == 0) {
			hest_msg_fmt(&w->msg, "error source %u at offset %u: "
			    "the table ends, but the count is %u", idx, off,
			    count);
			return (-1);
		}
		if (left < HEST_SOURCE_HEADER_LEN) {
			hest_msg_fmt(&w->msg, "error source %u at offset %u: "
			    "needs %u bytes for its header, %u left", idx, off,
			    HEST_SOURCE_HEADER_LEN, left);
			return (-1);
		}
		type = hest_get16(w->p + off);
		id = hest_get16(w->p + off + 2);
		if ((lay = hest_layout_of(type)) == NULL) {
			hest_msg_fmt(&w->msg, "error source %u at offset %u: "
			    "unknown type %u", idx, off, type);
			return (-1);
		}
		if (left < lay->fixed) {
			hest_source_fail(w, idx, off, lay, "needs %u bytes, "
			    "%u left", lay->fixed, left);
			return (-1);
		}
		size = lay->fixed;
		if (lay->banks_at != 0) {
			size += w->p[off + lay->banks_at] * HEST_BANK_LEN;
			if (left < size) {
				hest_source_fail(w, idx, off, lay, "needs %u "
				    "bytes (%u + %u banks of %u), %u left",
				    size, lay->fixed, w->p[off + lay->banks_at],
				    HEST_BANK_LEN, left);
				return (-1);
			}
		}
		if (seen[id / 64] & (UINT64_C(1) << (id % 64))) {
			hest_source_fail(w, idx, off, lay, "source id %u is "
			    "already used by error source %u", id,
			    hest_find_id(w, idx, id));
			return (-1);
		}
		seen[id / 64] |= UINT64_C(1) << (id % 64);
		off += size;
	}
	if (off != w->len) {
		hest_msg_fmt(&w->msg, "%u bytes left over after the last error "
		    "source (offset %u, table length %u)", w->len - off, off,
		    w->len);
		return (-1);
	}
	w->count = count;
	return (0);
}

/* Mark the ids of the machine-check sources that have GHES_ASSIST set. */
static void
hest_find_assisted(const struct hest_walk *w, uint64_t *assisted)
{
	const struct hest_layout *lay;
	uint32_t idx, off = HEST_HEADER_LEN;
	uint16_t type, id;

	memset(assisted, 0, HEST_ID_WORDS * sizeof(*assisted));
	for (idx = 0; idx < w->count; idx++) {
		type = hest_get16(w->p + off);
		id = hest_get16(w->p + off + 2);
		lay = hest_layout_of(type);
		if ((type == HEST_IA32_MCE || type == HEST_IA32_CMC ||
		    type == HEST_IA32_DEFERRED) &&
		    (w->p[off + lay->flags_at] & HEST_FLAG_GHES_ASSIST))
			assisted[id / 64] |= UINT64_C(1) << (id % 64);
		off += hest_source_len(w->p + off);
	}
}

/* What apei_check_gar() would refuse in a Generic Address Structure. */
static uint32_t
hest_gar_fault(const uint8_t *g)
{
	uint64_t addr = hest_get64(g + 4);
	unsigned int space = g[0], width = g[1], offset = g[2], size = g[3];
	unsigned int access;

	if (addr == 0)
		return (HEST_GAR_ZERO_ADDRESS);
	if (size < 1 || size > 4)
		return (HEST_GAR_ACCESS_SIZE);
	access = 1u << (size + 2);
	/* Linux widens the access for this common firmware mistake. */
	if (width == 32 && offset == 0 && (addr & 3) == 0 && access < 32)
		access = 32;
	else if (width == 64 && offset == 0 && (addr & 7) == 0 && access < 64)
		access = 64;
	if (width + offset > access)
		return (HEST_GAR_BIT_RANGE);
	if (space != 0 && space != 1)
		return (HEST_GAR_SPACE);
	return (0);
}

/* Whether Linux's ghes_probe() takes this GHES notification (SEI: policy). */
static int
hest_ghes_notify_ok(unsigned int notify)
{
	switch (notify) {
	case RAS_NOTIFY_POLLED:
	case RAS_NOTIFY_EXTERNAL:
	case RAS_NOTIFY_SCI:
	case RAS_NOTIFY_NMI:
	case RAS_NOTIFY_GPIO:
	case RAS_NOTIFY_SEA:
	case RAS_NOTIFY_SEI:
	case RAS_NOTIFY_GSIV:
	case RAS_NOTIFY_SDEI:
		return (1);
	default:
		return (0);
	}
}

/*
 * Decide whether the validated source at off joins the profile: fills *skip
 * with its id, type and announced notification, and the reason it does not
 * join (HEST_SKIP_NONE: it does). fw_path: the table has a GHES that joins
 * with a synchronous notification.
 */
static void
hest_judge(const struct hest_walk *w, uint32_t off, const uint64_t *assisted,
    int fw_path, struct hest_skipped *skip)
{
	const uint8_t *src = w->p + off;
	const struct hest_layout *lay;
	uint16_t type = hest_get16(src), related;
	const uint8_t *n;

	lay = hest_layout_of(type);
	memset(skip, 0, sizeof(*skip));
	skip->source_id = hest_get16(src + 2);
	skip->hest_type = type;
	skip->notify = lay->notify;
	if (lay->notify_at != 0)
		skip->notify = src[lay->notify_at];

	switch (type) {
	case HEST_IA32_CMC:
		skip->reason = HEST_SKIP_CORRECTED_ONLY;
		return;
	case HEST_IA32_NMI:
		skip->reason = HEST_SKIP_NO_STATUS_BLOCK;
		return;
	case HEST_IA32_DEFERRED:
		skip->reason = HEST_SKIP_DEFERRED;
		return;
	case HEST_AER_ROOT:
	case HEST_AER_ENDPOINT:
	case HEST_AER_BRIDGE:
		skip->reason = HEST_SKIP_NOT_MEMORY;
		return;
	}
	if (src[lay->enabled_at] == 0) {
		skip->reason = HEST_SKIP_DISABLED;
		return;
	}
	if (type == HEST_IA32_MCE) {
		if ((src[lay->flags_at] & HEST_FLAG_FIRMWARE_FIRST) && fw_path)
			skip->reason = HEST_SKIP_FIRMWARE_FIRST;
		return;
	}

	/* GHES or GHESv2, in the order Linux looks at them. */
	related = hest_get16(src + HEST_GHES_RELATED_OFF);
	if (assisted[related / 64] & (UINT64_C(1) << (related % 64))) {
		skip->reason = HEST_SKIP_GHES_ASSIST;
		skip->value = related;
		return;
	}
	n = src + lay->notify_at;
	if (n[1] != HEST_NOTIFY_LEN) {
		skip->reason = HEST_SKIP_NOTIFY_LENGTH;
		skip->value = n[1];
		return;
	}
	if (n[0] > RAS_NOTIFY_SDEI) {
		skip->reason = HEST_SKIP_NOTIFY_UNKNOWN;
		skip->value = n[0];
		return;
	}
	if (!hest_ghes_notify_ok(n[0])) {
		skip->reason = HEST_SKIP_NOTIFY_REJECTED;
		skip->value = n[0];
		return;
	}
	skip->value = hest_get32(src + HEST_GHES_BLOCK_OFF);
	if (skip->value < HEST_ESTATUS_LEN) {
		skip->reason = HEST_SKIP_BLOCK_LENGTH;
		return;
	}
	skip->value = 0;
	if (type == HEST_GHES_V2 &&
	    (skip->value = hest_gar_fault(src + HEST_GHES_READ_ACK_OFF)) != 0) {
		skip->reason = HEST_SKIP_READ_ACK_GAR;
		return;
	}
	if ((skip->value = hest_gar_fault(src + HEST_GHES_STATUS_OFF)) != 0)
		skip->reason = HEST_SKIP_STATUS_GAR;
}

/* Whether a GHES that joins gives the guest a synchronous error path. */
static int
hest_sync_notify(unsigned int notify)
{
	return (notify == RAS_NOTIFY_NMI || notify == RAS_NOTIFY_SEA ||
	    notify == RAS_NOTIFY_SDEI);
}

/* Parse a HEST into the sources that can bring the guest a memory error. */
int
hest_parse_report(const void *buf, size_t len, struct ras_profile *profile,
    struct hest_report *report, char *err, size_t errlen)
{
	struct hest_walk w;
	struct hest_skipped skip;
	uint64_t ids[HEST_ID_WORDS];
	uint32_t idx, off;
	unsigned int n = 0, nskipped = 0;
	int fw_path = 0;
	uint16_t type;

	memset(&w, 0, sizeof(w));
	w.msg.buf = err;
	w.msg.size = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (profile != NULL)
		profile->count = 0;
	if (report != NULL)
		report->nskipped = 0;

	if (hest_check_header(&w, buf, len) != 0 ||
	    hest_check_shape(&w, ids) != 0)
		return (-1);
	hest_find_assisted(&w, ids);

	/* A firmware-first MCE yields to a synchronous GHES: find one. */
	off = HEST_HEADER_LEN;
	for (idx = 0; idx < w.count && !fw_path; idx++) {
		type = hest_get16(w.p + off);
		if (type == HEST_GHES || type == HEST_GHES_V2) {
			hest_judge(&w, off, ids, 0, &skip);
			fw_path = skip.reason == HEST_SKIP_NONE &&
			    hest_sync_notify(skip.notify);
		}
		off += hest_source_len(w.p + off);
	}

	off = HEST_HEADER_LEN;
	for (idx = 0; idx < w.count; idx++) {
		hest_judge(&w, off, ids, fw_path, &skip);
		if (skip.reason != HEST_SKIP_NONE) {
			if (report != NULL && nskipped < HEST_REPORT_MAX)
				report->skipped[nskipped] = skip;
			nskipped++;
		} else if (n == RAS_PROFILE_MAX) {
			hest_source_fail(&w, idx, off,
			    hest_layout_of(skip.hest_type), "more than %u "
			    "enabled memory error sources", RAS_PROFILE_MAX);
			return (-1);
		} else {
			if (profile != NULL) {
				profile->src[n].source_id = skip.source_id;
				profile->src[n].notify = skip.notify;
				profile->src[n].hest_type =
				    (uint8_t)skip.hest_type;
			}
			n++;
		}
		off += hest_source_len(w.p + off);
	}
	if (profile != NULL)
		profile->count = n;
	if (report != NULL)
		report->nskipped = nskipped;
	return (0);
}

/* Parse a HEST without listing what was skipped. */
int
hest_parse(const void *buf, size_t len, struct ras_profile *profile,
    char *err, size_t errlen)
{
	return (hest_parse_report(buf, len, profile, NULL, err, errlen));
}

/* Whether a skip reason marks a firmware bug worth a warning. */
int
hest_skip_warns(unsigned int reason)
{
	return (reason >= HEST_SKIP_NOTIFY_LENGTH && reason < HEST_SKIP_COUNT);
}

/* Name the fault of a Generic Address Structure. */
static const char *
hest_gar_fault_name(uint32_t fault)
{
	switch (fault) {
	case HEST_GAR_ZERO_ADDRESS:
		return ("its address is 0");
	case HEST_GAR_ACCESS_SIZE:
		return ("its access size code is not 1..4");
	case HEST_GAR_BIT_RANGE:
		return ("its bit width and offset exceed the access size");
	case HEST_GAR_SPACE:
		return ("it is neither in system memory nor in I/O space");
	default:
		return ("it is unusable");
	}
}

/* Describe a skipped source in one line. */
void
hest_skip_format(const struct hest_skipped *s, char *out, size_t outlen)
{
	struct hest_msg m = { out, outlen, 0 };
	const struct hest_layout *lay = hest_layout_of(s->hest_type);

	if (out == NULL || outlen == 0)
		return;
	out[0] = '\0';
	hest_msg_fmt(&m, "error source %u (type %u %s): ", s->source_id,
	    s->hest_type, lay != NULL ? lay->name : "unknown");
	switch (s->reason) {
	case HEST_SKIP_DISABLED:
		hest_msg_fmt(&m, "disabled");
		break;
	case HEST_SKIP_NOT_MEMORY:
		hest_msg_fmt(&m, "PCIe AER source, carries no memory errors");
		break;
	case HEST_SKIP_CORRECTED_ONLY:
		hest_msg_fmt(&m, "reports corrected errors only");
		break;
	case HEST_SKIP_NO_STATUS_BLOCK:
		hest_msg_fmt(&m, "has no error status block to carry a record");
		break;
	case HEST_SKIP_DEFERRED:
		hest_msg_fmt(&m, "deferred errors are signalled by the CPU, "
		    "not through the HEST");
		break;
	case HEST_SKIP_GHES_ASSIST:
		hest_msg_fmt(&m, "assists GHES_ASSIST machine-check source %u; "
		    "Linux does not register it", s->value);
		break;
	case HEST_SKIP_FIRMWARE_FIRST:
		hest_msg_fmt(&m, "firmware first: the guest is told through "
		    "the table's GHES sources");
		break;
	case HEST_SKIP_NOTIFY_LENGTH:
		hest_msg_fmt(&m, "notification structure length %u, expected "
		    "%u", s->value, HEST_NOTIFY_LEN);
		break;
	case HEST_SKIP_NOTIFY_UNKNOWN:
		hest_msg_fmt(&m, "unknown notification type %u (the last "
		    "defined is %u, SDEI)", s->value, RAS_NOTIFY_SDEI);
		break;
	case HEST_SKIP_NOTIFY_REJECTED:
		hest_msg_fmt(&m, "notification type %u (%s) is refused by "
		    "Linux for a GHES", s->value,
		    s->value == RAS_NOTIFY_LOCAL ? "LOCAL" :
		    s->value == RAS_NOTIFY_CMCI ? "CMCI" :
		    s->value == RAS_NOTIFY_MCE ? "MCE" : "?");
		break;
	case HEST_SKIP_BLOCK_LENGTH:
		hest_msg_fmt(&m, "error status block length %u is shorter than "
		    "the %u-byte status header", s->value, HEST_ESTATUS_LEN);
		break;
	case HEST_SKIP_STATUS_GAR:
		hest_msg_fmt(&m, "error status address unusable: %s",
		    hest_gar_fault_name(s->value));
		break;
	case HEST_SKIP_READ_ACK_GAR:
		hest_msg_fmt(&m, "read ack register unusable: %s",
		    hest_gar_fault_name(s->value));
		break;
	default:
		hest_msg_fmt(&m, "skipped (reason %u)", s->reason);
		break;
	}
}
