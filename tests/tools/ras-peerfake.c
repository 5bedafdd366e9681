/*
 * ras-peerfake -- a man in the middle of the final sync, for
 * tests/e2e/t_finalsync.sh: it records, replays and tampers with the
 * frames two real rasd's exchange on the peer socket.
 *
 *   ras-peerfake --listen PATH --upstream PATH [--record DIR]
 *       [--swap-bundle FILE]
 *	a proxy: every connection's request goes to the upstream (the real
 *	source), its answer comes back; with --record both frames are kept
 *	as DIR/req.N and DIR/resp.N; with --swap-bundle the answer's sealed
 *	bundle is replaced by FILE (a bundle the source sealed earlier).
 *   ras-peerfake --listen PATH --answer FILE
 *	a fake source: every request is answered with the frame in FILE.
 *   ras-peerfake --send FILE --to PATH
 *	send a recorded request frame, print "exported generation N" or
 *	"error CODE: MESSAGE"; exit 0 when exported.
 *
 * Blocking and one connection at a time: a test tool, not a server.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "frame.h"
#include "rasd.pb-c.h"

/* Read exactly len bytes; 0, or -1 at EOF or error. */
static int
readn(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = read(fd, p, len)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write all of buf; 0 or -1. */
static int
writen(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one whole frame (header included) into *out; its length or -1. */
static ssize_t
read_frame(int fd, uint8_t **out)
{
	uint8_t hdr[FRAME_HDR_LEN];
	uint32_t len;

	if (readn(fd, hdr, sizeof hdr) == -1)
		return -1;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	if (len == 0 || len > FRAME_MAX_ADMIN)
		return -1;
	if ((*out = malloc(FRAME_HDR_LEN + len)) == NULL)
		err(1, "malloc");
	memcpy(*out, hdr, sizeof hdr);
	if (readn(fd, *out + FRAME_HDR_LEN, len) == -1) {
		free(*out);
		return -1;
	}
	return FRAME_HDR_LEN + (ssize_t)len;
}

/* A whole file. */
static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) == -1 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) == -1)
		err(1, "%s", path);
	if ((buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n)
		err(1, "%s", path);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Write a file. */
static void
spill(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		err(1, "%s", path);
}

/* A connected or listening Unix socket. */
static int
unix_socket(const char *path, int listening)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		errx(1, "%s: path too long", path);
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	if (listening) {
		unlink(path);
		if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
		    listen(fd, 16) == -1)
			err(1, "%s", path);
	} else if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		err(1, "%s", path);
	return fd;
}

/* Replace the answer's sealed bundle with bundle (an Exported only). */
static uint8_t *
swap_bundle(const uint8_t *frame, size_t len, const uint8_t *bundle,
    size_t blen, size_t *outlen)
{
	Ras__Response *resp;
	uint8_t *out;
	size_t n;

	resp = ras__response__unpack(NULL, len - FRAME_HDR_LEN,
	    frame + FRAME_HDR_LEN);
	if (resp == NULL)
		errx(1, "answer does not unpack");
	if (resp->body_case != RAS__RESPONSE__BODY_EXPORTED) {
		ras__response__free_unpacked(resp, NULL);
		*outlen = len;
		if ((out = malloc(len)) == NULL)
			err(1, "malloc");
		memcpy(out, frame, len);
		return out;
	}
	resp->exported->sealed.data = (uint8_t *)bundle;
	resp->exported->sealed.len = blen;
	n = ras__response__get_packed_size(resp);
	if ((out = malloc(FRAME_HDR_LEN + n)) == NULL)
		err(1, "malloc");
	frame_put_header(out, (uint32_t)n);
	ras__response__pack(resp, out + FRAME_HDR_LEN);
	/* The unpacked message must not free the swapped-in bytes. */
	resp->exported->sealed.data = NULL;
	resp->exported->sealed.len = 0;
	ras__response__free_unpacked(resp, NULL);
	*outlen = FRAME_HDR_LEN + n;
	return out;
}

/* Send a recorded request, say what came back. */
static int
send_one(const char *file, const char *to)
{
	Ras__Response *resp;
	uint8_t *req, *ans;
	size_t len;
	ssize_t n;
	int fd, rc = 1;

	req = slurp(file, &len);
	fd = unix_socket(to, 0);
	if (writen(fd, req, len) == -1)
		err(1, "write");
	if ((n = read_frame(fd, &ans)) == -1) {
		printf("closed without an answer\n");
		return 1;
	}
	resp = ras__response__unpack(NULL, (size_t)n - FRAME_HDR_LEN,
	    ans + FRAME_HDR_LEN);
	if (resp == NULL)
		printf("malformed answer\n");
	else if (resp->body_case == RAS__RESPONSE__BODY_EXPORTED) {
		printf("exported generation %llu\n",
		    (unsigned long long)resp->exported->generation);
		rc = 0;
	} else if (resp->body_case == RAS__RESPONSE__BODY_ERROR)
		printf("error %d: %s\n", resp->error->code,
		    resp->error->message);
	else
		printf("answer of kind %d\n", resp->body_case);
	if (resp != NULL)
		ras__response__free_unpacked(resp, NULL);
	free(ans);
	free(req);
	close(fd);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "upstream", required_argument, NULL, 'u' },
		{ "record", required_argument, NULL, 'r' },
		{ "swap-bundle", required_argument, NULL, 'b' },
		{ "answer", required_argument, NULL, 'a' },
		{ "send", required_argument, NULL, 's' },
		{ "to", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	const char *listen_path = NULL, *upstream = NULL, *record = NULL;
	const char *swap = NULL, *answer = NULL, *sendf = NULL, *to = NULL;
	uint8_t *req, *resp, *canned = NULL, *bundle = NULL, *out;
	size_t canned_len = 0, blen = 0, olen;
	ssize_t rn, an;
	char path[4096];
	int ch, lfd, cfd, ufd, count = 0;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'l': listen_path = optarg; break;
		case 'u': upstream = optarg; break;
		case 'r': record = optarg; break;
		case 'b': swap = optarg; break;
		case 'a': answer = optarg; break;
		case 's': sendf = optarg; break;
		case 't': to = optarg; break;
		default: return 2;
		}
	}
	if (sendf != NULL && to != NULL)
		return send_one(sendf, to);
	if (listen_path == NULL || (upstream == NULL) == (answer == NULL))
		errx(2, "usage: see the comment at the top of ras-peerfake.c");
	if (answer != NULL)
		canned = slurp(answer, &canned_len);
	if (swap != NULL)
		bundle = slurp(swap, &blen);
	lfd = unix_socket(listen_path, 1);
	for (;;) {
		if ((cfd = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "accept");
		}
		if ((rn = read_frame(cfd, &req)) == -1) {
			close(cfd);
			continue;
		}
		count++;
		if (record != NULL) {
			snprintf(path, sizeof path, "%s/req.%d", record, count);
			spill(path, req, (size_t)rn);
		}
		if (canned != NULL) {
			writen(cfd, canned, canned_len);
		} else {
			ufd = unix_socket(upstream, 0);
			if (writen(ufd, req, (size_t)rn) == -1 ||
			    (an = read_frame(ufd, &resp)) == -1) {
				close(ufd);
				close(cfd);
				free(req);
				continue;
			}
			close(ufd);
			if (record != NULL) {
				snprintf(path, sizeof path, "%s/resp.%d",
				    record, count);
				spill(path, resp, (size_t)an);
			}
			if (bundle != NULL) {
				out = swap_bundle(resp, (size_t)an, bundle,
				    blen, &olen);
				writen(cfd, out, olen);
				free(out);
			} else
				writen(cfd, resp, (size_t)an);
			free(resp);
		}
		free(req);
		close(cfd);
	}
}
