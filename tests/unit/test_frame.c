/*
 * test_frame.c -- frame_check against the ways bytes arrive on a stream
 * socket, and the header writer.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "frame.h"

/* A frame with a len-byte payload of 'p', in a buffer big enough for it. */
static uint8_t	frame_buf[FRAME_HDR_LEN + FRAME_MAX + 16];

/* Build a frame of len payload bytes in frame_buf; returns its size. */
static size_t
make_frame(uint32_t len)
{
	frame_put_header(frame_buf, len);
	memset(frame_buf + FRAME_HDR_LEN, 'p', len);
	return FRAME_HDR_LEN + (size_t)len;
}

Test(frame, complete)
{
	uint32_t	len = 7;
	size_t		n = make_frame(5);

	cr_expect_eq(frame_check(frame_buf, n, &len), FRAME_OK);
	cr_expect_eq(len, 5);
	/* trailing bytes of the next frame do not matter */
	len = 7;
	cr_expect_eq(frame_check(frame_buf, n + 3, &len), FRAME_OK);
	cr_expect_eq(len, 5);
}

Test(frame, header_split)
{
	uint32_t	len;
	size_t		i;

	make_frame(5);
	for (i = 0; i < FRAME_HDR_LEN; i++) {
		len = 77;
		cr_expect_eq(frame_check(frame_buf, i, &len), FRAME_SHORT,
		    "%zu header bytes", i);
		cr_expect_eq(len, 0, "%zu header bytes", i);
	}
}

Test(frame, payload_partial)
{
	uint32_t	len;
	size_t		n = make_frame(300), i;

	for (i = FRAME_HDR_LEN; i < n; i++) {
		len = 0;
		cr_expect_eq(frame_check(frame_buf, i, &len), FRAME_SHORT,
		    "%zu of %zu bytes", i, n);
		cr_expect_eq(len, 300);
	}
	cr_expect_eq(frame_check(frame_buf, n, &len), FRAME_OK);
}

Test(frame, too_big)
{
	uint8_t		hdr[FRAME_HDR_LEN] = { 0xff, 0xff, 0xff, 0xff };
	uint32_t	len;

	cr_expect_eq(frame_check(hdr, sizeof hdr, &len), FRAME_TOO_BIG);
	cr_expect_eq(len, 0xffffffffu);

	frame_put_header(hdr, FRAME_MAX + 1);
	cr_expect_eq(hdr[0], 0x00);
	cr_expect_eq(hdr[1], 0x10);
	cr_expect_eq(hdr[2], 0x00);
	cr_expect_eq(hdr[3], 0x01);
	cr_expect_eq(frame_check(hdr, sizeof hdr, &len), FRAME_TOO_BIG);
	cr_expect_eq(len, FRAME_MAX + 1);

	/* refused from the header alone, whatever follows */
	make_frame(16);
	frame_put_header(frame_buf, FRAME_MAX + 1);
	cr_expect_eq(frame_check(frame_buf, 20, &len), FRAME_TOO_BIG);
}

Test(frame, empty)
{
	uint8_t		buf[8] = { 0, 0, 0, 0, 1, 2, 3, 4 };
	uint32_t	len = 5;

	cr_expect_eq(frame_check(buf, 4, &len), FRAME_EMPTY);
	cr_expect_eq(len, 0);
	cr_expect_eq(frame_check(buf, sizeof buf, &len), FRAME_EMPTY);
}

Test(frame, exact_max)
{
	uint32_t	len;
	size_t		n = make_frame(FRAME_MAX);

	cr_expect_eq(frame_check(frame_buf, n, &len), FRAME_OK);
	cr_expect_eq(len, FRAME_MAX);
	cr_expect_eq(frame_check(frame_buf, n - 1, &len), FRAME_SHORT);
	cr_expect_eq(len, FRAME_MAX);
}

Test(frame, one_byte_payload)
{
	uint8_t		buf[5] = { 0, 0, 0, 1, 'x' };
	uint32_t	len;

	cr_expect_eq(frame_check(buf, 4, &len), FRAME_SHORT);
	cr_expect_eq(frame_check(buf, 5, &len), FRAME_OK);
	cr_expect_eq(len, 1);
}

Test(frame, stream_of_frames)
{
	uint8_t		buf[64];
	uint32_t	len, lens[3] = { 3, 1, 9 }, got[3];
	size_t		off = 0, i, n = 0;
	enum frame_status st;

	for (i = 0; i < 3; i++) {
		frame_put_header(buf + off, lens[i]);
		memset(buf + off + FRAME_HDR_LEN, 'a' + (int)i, lens[i]);
		off += FRAME_HDR_LEN + lens[i];
	}
	i = 0;
	while ((st = frame_check(buf + i, off - i, &len)) == FRAME_OK) {
		cr_assert_lt(n, 3);
		cr_expect_eq(buf[i + FRAME_HDR_LEN], 'a' + n);
		got[n++] = len;
		i += FRAME_HDR_LEN + len;
	}
	cr_expect_eq(st, FRAME_SHORT);
	cr_expect_eq(i, off);
	cr_assert_eq(n, 3);
	cr_expect_arr_eq(got, lens, sizeof lens);
}

Test(frame, put_header_round_trip)
{
	static const uint32_t	vals[] = { 1, 0xff, 0x100, 0x12345678,
	    FRAME_MAX, FRAME_MAX + 1, 0x80000000u, 0xffffffffu };
	uint8_t			hdr[FRAME_HDR_LEN];
	uint32_t		len;
	unsigned int		i;

	frame_put_header(hdr, 0x12345678);
	cr_expect_eq(hdr[0], 0x12);
	cr_expect_eq(hdr[1], 0x34);
	cr_expect_eq(hdr[2], 0x56);
	cr_expect_eq(hdr[3], 0x78);
	for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		frame_put_header(hdr, vals[i]);
		len = 0;
		(void)frame_check(hdr, sizeof hdr, &len);
		cr_expect_eq(len, vals[i], "0x%x", vals[i]);
	}
}

Test(frame, null_msglen)
{
	uint8_t	buf[6] = { 0, 0, 0, 2, 'h', 'i' };

	cr_expect_eq(frame_check(buf, sizeof buf, NULL), FRAME_OK);
	cr_expect_eq(frame_check(buf, 2, NULL), FRAME_SHORT);
	cr_expect_eq(frame_check(NULL, 0, NULL), FRAME_SHORT);
}
