/*
 * frame.c -- the wire framing: 4-byte big-endian length, then one message.
 *
 * Both sides of every socket (daemon, rasctl, the client library inside a
 * SIGBUS handler) use these, so they only look at the caller's bytes: no
 * allocation, no I/O. The length is checked before any payload is touched.
 */
#include "frame.h"

/* Look at the buffered bytes and say whether a whole frame is there. */
enum frame_status
frame_check(const void *buf, size_t avail, uint32_t *msglen)
{
	return frame_check_max(buf, avail, msglen, FRAME_MAX);
}

/* The same, with the caller's limit (FRAME_MAX or FRAME_MAX_ADMIN). */
enum frame_status
frame_check_max(const void *buf, size_t avail, uint32_t *msglen,
    uint32_t max)
{
	const uint8_t	*p = buf;
	uint32_t	 len;

	if (msglen != NULL)
		*msglen = 0;
	if (buf == NULL || avail < FRAME_HDR_LEN)
		return FRAME_SHORT;
	len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
	if (msglen != NULL)
		*msglen = len;
	if (len == 0)
		return FRAME_EMPTY;
	if (len > max)
		return FRAME_TOO_BIG;
	if (avail - FRAME_HDR_LEN < len)
		return FRAME_SHORT;
	return FRAME_OK;
}

/* Write the big-endian length header for a payload of len bytes. */
void
frame_put_header(void *hdr, uint32_t len)
{
	uint8_t	*p = hdr;

	p[0] = (uint8_t)(len >> 24);
	p[1] = (uint8_t)(len >> 16);
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
}
