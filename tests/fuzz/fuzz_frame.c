/*
 * fuzz_frame.c -- the socket input path: framing, then Request decoding.
 *
 * The input is treated as the bytes of one connection: frames are consumed
 * the way the daemon's reader does, each payload goes through protobuf-c,
 * and the first bad header ends the stream as it ends a connection. The
 * framing invariants are checked here because a wrong length would make
 * the reader run past its buffer, which ASan alone only sees sometimes.
 */
#include <stdint.h>
#include <stdlib.h>

#include "frame.h"
#include "rasd.pb-c.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Stop the run loudly: an invariant of frame_check does not hold. */
static void
fuzz_frame_fail(void)
{
	abort();
}

/* Check what frame_check said about the rest of the stream. */
static void
fuzz_frame_verify(const uint8_t *p, size_t avail, enum frame_status st,
    uint32_t len)
{
	uint32_t	hdr;
	uint8_t		back[FRAME_HDR_LEN];

	if (avail < FRAME_HDR_LEN) {
		if (st != FRAME_SHORT || len != 0)
			fuzz_frame_fail();
		return;
	}
	hdr = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	if (len != hdr)
		fuzz_frame_fail();
	frame_put_header(back, len);
	if (back[0] != p[0] || back[1] != p[1] || back[2] != p[2] ||
	    back[3] != p[3])
		fuzz_frame_fail();
	switch (st) {
	case FRAME_OK:
		if (len == 0 || len > FRAME_MAX ||
		    (size_t)len > avail - FRAME_HDR_LEN)
			fuzz_frame_fail();
		break;
	case FRAME_SHORT:
		if (len == 0 || len > FRAME_MAX ||
		    (size_t)len <= avail - FRAME_HDR_LEN)
			fuzz_frame_fail();
		break;
	case FRAME_TOO_BIG:
		if (len <= FRAME_MAX)
			fuzz_frame_fail();
		break;
	case FRAME_EMPTY:
		if (len != 0)
			fuzz_frame_fail();
		break;
	default:
		fuzz_frame_fail();
	}
}

/*
 * Consume the input as a stream of frames and decode every payload. The
 * cursor only moves after a whole frame, so an empty input (data may be
 * NULL) never sees pointer arithmetic.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Ras__Request		*req;
	enum frame_status	 st;
	const uint8_t		*p = data;
	size_t			 left = size;
	uint32_t		 len;

	for (;;) {
		st = frame_check(p, left, &len);
		fuzz_frame_verify(p, left, st, len);
		if (st != FRAME_OK)
			break;
		req = ras__request__unpack(NULL, len, p + FRAME_HDR_LEN);
		if (req != NULL)
			ras__request__free_unpacked(req, NULL);
		p += FRAME_HDR_LEN + (size_t)len;
		left -= FRAME_HDR_LEN + (size_t)len;
	}
	return 0;
}
