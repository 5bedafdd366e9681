/*
 * frame.h -- the wire framing: 4-byte big-endian length, then one protobuf
 * message of that many bytes. Allocation-free.
 */
#ifndef RAS_FRAME_H
#define RAS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HDR_LEN 4
#define FRAME_MAX (1u << 20)	/* hard limit on one message, bytes */
/* Operators (root, admin group) may exchange state bundles of up to
 * 16 MiB: their connections get this larger limit, VMMs never do. */
#define FRAME_MAX_ADMIN ((16u << 20) + (64u << 10))

enum frame_status {
	FRAME_OK = 0,		/* a whole frame is available */
	FRAME_SHORT = 1,	/* need more bytes */
	FRAME_TOO_BIG = -1,	/* declared length over FRAME_MAX */
	FRAME_EMPTY = -2	/* declared length 0 */
};

/*
 * Look at avail bytes of buf. On FRAME_OK, *msglen is the payload length
 * and the frame occupies FRAME_HDR_LEN + *msglen bytes. On FRAME_TOO_BIG
 * or FRAME_EMPTY *msglen still holds the declared length.
 */
enum frame_status frame_check(const void *buf, size_t avail, uint32_t *msglen);

enum frame_status frame_check_max(const void *buf, size_t avail,
    uint32_t *msglen, uint32_t max);

/* Write the 4-byte header for a payload of len bytes. */
void frame_put_header(void *hdr, uint32_t len);

#endif
