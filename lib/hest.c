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
 *   type  name              length          enabled  notification at
 *     0   IA-32 MCE         40 + 28 * banks  byte 7   -- (always MCE)
 *     1   IA-32 CMC         48 + 28 * banks  byte 7   16
 *     2   IA-32 NMI         20               --       -- (always NMI)
 *   3-5   not used by ACPI: rejected, their length is unknown
 *     6   AER root port     48               byte 7   --
 *     7   AER endpoint      44               byte 7   --
 *     8   AER bridge        56               byte 7   --
 *     9   GHES              64               byte 7   32
 *    10   GHESv2            92               byte 7   32
 *    11   IA-32 deferred MC 48 + 28 * banks  byte 7   16
 *
 * The bank count of types 0, 1 and 11 is one byte at 32, 44 and 44. A
 * hardware error notification structure is 28 bytes: u8 type, u8 length
 * (28), u16 config write enable, then six u32 (poll interval, vector,
 * polling threshold value and window, error threshold value and window).
 *
 * Anything the walk cannot account for is an error: a guest that boots
 * from a table its OS reads differently from rasd would be told about
 * memory errors on sources it never registered. In particular the table
 * must end exactly after the last counted source, and source ids must be
 * unique over all sources, AER and disabled ones included, because rasd
 * answers with a source id and the guest resolves it over the whole table.
 *
 * The parser must stay usable from the VMM client library, including from
 * a SIGBUS handler: no allocation and no libc call outside memcmp/memset.
 * The error reason is therefore formatted by the small hest_msg_* writer
 * below instead of snprintf (which is not async-signal-safe). The price is
 * 8 KiB of stack for the bitmap of seen source ids, which makes the
 * duplicate check linear even for a 1 MiB table of 20-byte sources.
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

/* Where the fields of one error source type are, from the table above. */
struct hest_layout {
	const char	*name;		/* NULL: not a type rasd accepts */
	uint32_t	 fixed;		/* length without the error banks */
	uint32_t	 banks_at;	/* offset of the bank count, 0: none */
	uint32_t	 notify_at;	/* offset of the notification, 0: none */
	uint32_t	 enabled_at;	/* offset of the enabled byte, 0: none */
	int		 memory;	/* can report memory errors */
	uint8_t		 notify;	/* fixed notification, NONE: read it */
};

static const struct hest_layout hest_layouts[] = {
	[HEST_IA32_MCE] =	{ "IA-32 MCE", 40, 32, 0, 7, 1, RAS_NOTIFY_MCE },
	[HEST_IA32_CMC] =	{ "IA-32 CMC", 48, 44, 16, 7, 1,
				  RAS_NOTIFY_NONE },
	[HEST_IA32_NMI] =	{ "IA-32 NMI", 20, 0, 0, 0, 1, RAS_NOTIFY_NMI },
	[HEST_AER_ROOT] =	{ "AER root port", 48, 0, 0, 7, 0,
				  RAS_NOTIFY_NONE },
	[HEST_AER_ENDPOINT] =	{ "AER endpoint", 44, 0, 0, 7, 0,
				  RAS_NOTIFY_NONE },
	[HEST_AER_BRIDGE] =	{ "AER bridge", 56, 0, 0, 7, 0,
				  RAS_NOTIFY_NONE },
	[HEST_GHES] =		{ "GHES", 64, 0, 32, 7, 1, RAS_NOTIFY_NONE },
	[HEST_GHES_V2] =	{ "GHESv2", 92, 0, 32, 7, 1, RAS_NOTIFY_NONE },
	[HEST_IA32_DEFERRED] =	{ "IA-32 deferred MC", 48, 44, 16, 7, 1,
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

/* Check one notification structure; the type it announces is in *notify. */
static int
hest_check_notify(struct hest_walk *w, uint32_t idx, uint32_t off,
    const struct hest_layout *lay, uint8_t *notify)
{
	const uint8_t *n = w->p + off + lay->notify_at;

	if (n[1] != HEST_NOTIFY_LEN) {
		hest_source_fail(w, idx, off, lay, "notification structure "
		    "length %u, expected %u", n[1], HEST_NOTIFY_LEN);
		return (-1);
	}
	if (n[0] > RAS_NOTIFY_SDEI) {
		hest_source_fail(w, idx, off, lay, "unknown notification "
		    "type %u (the last defined is %u, SDEI)", n[0],
		    RAS_NOTIFY_SDEI);
		return (-1);
	}
	*notify = n[0];
	return (0);
}

/* Parse a HEST into the memory-capable, enabled sources a guest was given. */
int
hest_parse(const void *buf, size_t len, struct ras_profile *profile,
    char *err, size_t errlen)
{
	struct hest_walk w;
	const struct hest_layout *lay;
	uint64_t seen[HEST_ID_WORDS];
	uint32_t count, idx, off, left, size;
	unsigned int n = 0;
	uint16_t type, id;
	uint8_t notify;

	memset(&w, 0, sizeof(w));
	w.msg.buf = err;
	w.msg.size = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (profile != NULL)
		profile->count = 0;

	if (hest_check_header(&w, buf, len) != 0)
		return (-1);
	count = hest_get32(w.p + HEST_COUNT_OFF);

	memset(seen, 0, sizeof(seen));
	off = HEST_HEADER_LEN;
	for (idx = 0; idx < count; idx++) {
		left = w.len - off;
		if (left == 0) {
			hest_msg_fmt(&w.msg, "error source %u at offset %u: "
			    "the table ends, but the count is %u", idx, off,
			    count);
			return (-1);
		}
		if (left < HEST_SOURCE_HEADER_LEN) {
			hest_msg_fmt(&w.msg, "error source %u at offset %u: "
			    "needs %u bytes for its header, %u left", idx, off,
			    HEST_SOURCE_HEADER_LEN, left);
			return (-1);
		}
		type = hest_get16(w.p + off);
		id = hest_get16(w.p + off + 2);
		if ((lay = hest_layout_of(type)) == NULL) {
			hest_msg_fmt(&w.msg, "error source %u at offset %u: "
			    "unknown type %u", idx, off, type);
			return (-1);
		}
		if (left < lay->fixed) {
			hest_source_fail(&w, idx, off, lay, "needs %u bytes, "
			    "%u left", lay->fixed, left);
			return (-1);
		}
		size = lay->fixed;
		if (lay->banks_at != 0) {
			size += w.p[off + lay->banks_at] * HEST_BANK_LEN;
			if (left < size) {
				hest_source_fail(&w, idx, off, lay, "needs %u "
				    "bytes (%u + %u banks of %u), %u left",
				    size, lay->fixed, w.p[off + lay->banks_at],
				    HEST_BANK_LEN, left);
				return (-1);
			}
		}
		notify = lay->notify;
		if (lay->notify_at != 0 &&
		    hest_check_notify(&w, idx, off, lay, &notify) != 0)
			return (-1);
		if (seen[id / 64] & (UINT64_C(1) << (id % 64))) {
			hest_source_fail(&w, idx, off, lay, "source id %u is "
			    "already used by error source %u", id,
			    hest_find_id(&w, idx, id));
			return (-1);
		}
		seen[id / 64] |= UINT64_C(1) << (id % 64);

		/* IA-32 NMI has no enabled byte: it is always in use. */
		if (lay->memory &&
		    (lay->enabled_at == 0 || w.p[off + lay->enabled_at] != 0)) {
			if (n == RAS_PROFILE_MAX) {
				hest_source_fail(&w, idx, off, lay, "more than "
				    "%u enabled memory error sources",
				    RAS_PROFILE_MAX);
				return (-1);
			}
			if (profile != NULL) {
				profile->src[n].source_id = id;
				profile->src[n].notify = notify;
				profile->src[n].hest_type = (uint8_t)type;
			}
			n++;
		}
		off += size;
	}
	if (off != w.len) {
		hest_msg_fmt(&w.msg, "%u bytes left over after the last error "
		    "source (offset %u, table length %u)", w.len - off, off,
		    w.len);
		return (-1);
	}
	if (profile != NULL)
		profile->count = n;
	return (0);
}
