#include "core/sock.h"
#include "core/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

int berth_send_fd(int sock, int fd, const void *data, size_t len)
{
	char dummy = 0;
	struct iovec iov = {
		.iov_base = len ? (void *) data : &dummy,
		.iov_len = len ? len : 1,
	};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int berth_recv_fd(int sock, int *fd, void *data, size_t cap, size_t *got)
{
	char dummy;
	struct iovec iov = { .iov_base = cap ? data : &dummy, .iov_len = cap ? cap : 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	*fd = -1;
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int fds[4];
		memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
		for (size_t i = 0; i < nfds; i++) {
			if (*fd < 0)
				*fd = fds[i];
			else
				close(fds[i]);
		}
	}
	if (got)
		*got = cap ? (size_t) n : 0;
	if (n == 0 && *fd < 0)
		return -ECONNRESET;
	return 0;
}

/* sun_path holds 108 bytes; longer paths are reached through an O_PATH fd of
 * their directory ("/proc/self/fd/N/name"), which the kernel resolves as a
 * normal path walk. */
static int fill_addr(const char *path, struct sockaddr_un *sa, int *dirfd_out)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	*dirfd_out = -1;
	if (strlen(path) < sizeof(sa->sun_path)) {
		strcpy(sa->sun_path, path);
		return 0;
	}
	char dir[PATH_MAX], base[PATH_MAX];
	if (strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	strcpy(base, path);
	int dfd = open(dirname(dir), O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dfd, basename(base));
	if (n < 0 || (size_t) n >= sizeof(sa->sun_path)) {
		close(dfd);
		return -ENAMETOOLONG;
	}
	*dirfd_out = dfd;
	return 0;
}

int berth_unix_connect(const char *path, int type)
{
	struct sockaddr_un sa;
	_cleanup_close_ int dfd = -1;
	int r = fill_addr(path, &sa, &dfd);
	if (r < 0)
		return r;
	_cleanup_close_ int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *) &sa, sizeof(sa)) < 0)
		return -errno;
	return steal_fd(s);
}

int berth_unix_listen(const char *path, int type, int backlog)
{
	struct sockaddr_un sa;
	_cleanup_close_ int dfd = -1;
	int r = fill_addr(path, &sa, &dfd);
	if (r < 0)
		return r;
	_cleanup_close_ int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	unlink(path);
	if (bind(s, (struct sockaddr *) &sa, sizeof(sa)) < 0)
		return -errno;
	if (listen(s, backlog) < 0)
		return -errno;
	return steal_fd(s);
}
