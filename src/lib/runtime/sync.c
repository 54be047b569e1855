#include "runtime/sync.h"
#include "core/sock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct wire_hdr {
	uint32_t type;
	int32_t value;
};

int sync_send(int fd, uint32_t type, int32_t value, const char *text)
{
	size_t tl = text ? strnlen(text, SYNC_TEXT_MAX - 1) : 0;
	char buf[sizeof(struct wire_hdr) + SYNC_TEXT_MAX];
	struct wire_hdr h = { type, value };
	memcpy(buf, &h, sizeof(h));
	if (tl)
		memcpy(buf + sizeof(h), text, tl);
	ssize_t n;
	do
		n = send(fd, buf, sizeof(h) + tl, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

int sync_send_fd(int fd, uint32_t type, int passfd)
{
	struct wire_hdr h = { type, 0 };
	return berth_send_fd(fd, passfd, &h, sizeof(h));
}

int sync_recv(int fd, struct sync_msg *m, int *passfd)
{
	char buf[sizeof(struct wire_hdr) + SYNC_TEXT_MAX];
	size_t got = 0;
	int pfd = -1;
	int r = berth_recv_fd(fd, &pfd, buf, sizeof(buf), &got);
	if (r < 0)
		return r;
	if (passfd)
		*passfd = pfd;
	else if (pfd >= 0)
		close(pfd);
	if (got < sizeof(struct wire_hdr))
		return -ECONNRESET;
	struct wire_hdr h;
	memcpy(&h, buf, sizeof(h));
	m->type = h.type;
	m->value = h.value;
	m->len = (uint32_t) (got - sizeof(h));
	if (m->len >= SYNC_TEXT_MAX)
		m->len = SYNC_TEXT_MAX - 1;
	memcpy(m->text, buf + sizeof(h), m->len);
	m->text[m->len] = '\0';
	return 0;
}

int sync_expect(int fd, uint32_t type, struct sync_msg *m, struct berth_error *err)
{
	int r = sync_recv(fd, m, NULL);
	if (r < 0)
		return r;
	if (m->type == SYNC_ERROR)
		return berth_err(err, m->value ? m->value : EIO, "%s", m->text);
	if (m->type != type)
		return berth_err(err, EPROTO, "internal: expected sync message %u, got %u", type, m->type);
	return 0;
}

void sync_send_error(int fd, const struct berth_error *err)
{
	sync_send(fd, SYNC_ERROR, err && err->code ? err->code : EIO,
		  err && err->msg[0] ? err->msg : "unknown error");
}
