#include "engine/attach.h"
#include "core/sock.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

int attach_connect(const char *bundle_dir, struct berth_error *err)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", bundle_dir, ATTACH_SOCKET_NAME) >= (int) sizeof(path))
		return berth_err(err, ENAMETOOLONG, "attach socket of %s: path too long", bundle_dir);
	int fd = berth_unix_connect(path, SOCK_SEQPACKET);
	if (fd < 0)
		return berth_errno(err, -fd, "connect to the container monitor at %s", path);
	return fd;
}

static int send_frame(int fd, int type, const void *payload, size_t len)
{
	uint8_t t = (uint8_t) type;
	struct iovec iov[2] = { { &t, 1 }, { (void *) payload, len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	for (;;) {
		ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (n >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int attach_send_stdin(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		size_t n = len < ATTACH_DATA_MAX ? len : ATTACH_DATA_MAX;
		int r = send_frame(fd, ATTACH_STDIN, p, n);
		if (r < 0)
			return r;
		p += n;
		len -= n;
	}
	return 0;
}

int attach_send_close_stdin(int fd)
{
	return send_frame(fd, ATTACH_CLOSE_STDIN, NULL, 0);
}

int attach_send_resize(int fd, unsigned short rows, unsigned short cols)
{
	uint16_t v[2] = { rows, cols };
	return send_frame(fd, ATTACH_RESIZE, v, sizeof(v));
}

int attach_recv(int fd, int *type, void *buf, size_t cap, size_t *len)
{
	uint8_t t;
	struct iovec iov[2] = { { &t, 1 }, { buf, cap } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n;
	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	if (msg.msg_flags & MSG_TRUNC)
		return -EBADMSG;
	*type = t;
	*len = (size_t) n - 1;
	return 0;
}

int attach_exit_code(const void *payload, size_t len)
{
	int32_t code;
	if (len != sizeof(code))
		return -1;
	memcpy(&code, payload, sizeof(code));
	return code;
}

size_t attach_encode(uint8_t *frame, int type, const void *payload, size_t len)
{
	frame[0] = (uint8_t) type;
	if (len)
		memcpy(frame + 1, payload, len);
	return len + 1;
}

size_t attach_encode_exit(uint8_t frame[5], int exit_code)
{
	int32_t code = exit_code;
	return attach_encode(frame, ATTACH_EXIT, &code, sizeof(code));
}

int attach_decode_resize(const void *payload, size_t len, unsigned short *rows, unsigned short *cols)
{
	uint16_t v[2];
	if (len != sizeof(v))
		return -EBADMSG;
	memcpy(v, payload, sizeof(v));
	*rows = v[0];
	*cols = v[1];
	return 0;
}
