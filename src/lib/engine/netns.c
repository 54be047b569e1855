#include "engine/netns.h"
#include "core/cleanup.h"
#include "core/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Child side: new netns, lo up, report 0 or errno, then wait until the
 * parent has bind-mounted our namespace (it closes the go pipe). */
static void __attribute__((noreturn)) child(int report, int go)
{
	int code = 0;
	if (unshare(CLONE_NEWNET) < 0) {
		code = errno;
	} else {
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, "lo", 3);
		if (s < 0)
			code = errno;
		else if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
			code = errno;
		else {
			ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
			if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
				code = errno;
		}
		if (s >= 0)
			close(s);
	}
	ssize_t w;
	do
		w = write(report, &code, sizeof(code));
	while (w < 0 && errno == EINTR);
	char c;
	ssize_t r;
	do
		r = read(go, &c, 1);
	while (r < 0 && errno == EINTR);
	_exit(code ? 1 : 0);
}

int netns_create(const char *path, struct berth_error *err)
{
	if (!path || !*path)
		return berth_err(err, EINVAL, "netns: empty path");
	_cleanup_free_ char *parent = strdup(path);
	if (!parent)
		return berth_err(err, ENOMEM, "netns %s: out of memory", path);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		int r = berth_mkdir_p(parent, 0755);
		if (r < 0)
			return berth_errno(err, -r, "netns %s: create %s", path, parent);
	}
	int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
	if (fd < 0)
		return berth_errno(err, errno, "netns %s: create mount point", path);
	close(fd);

	int report[2] = { -1, -1 }, go[2] = { -1, -1 };
	if (pipe2(report, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0) {
		int e = errno;
		if (report[0] >= 0) {
			close(report[0]);
			close(report[1]);
		}
		unlink(path);
		return berth_errno(err, e, "netns %s: pipe", path);
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(report[0]); close(report[1]); close(go[0]); close(go[1]);
		unlink(path);
		return berth_errno(err, e, "netns %s: fork", path);
	}
	if (pid == 0) {
		close(report[0]);
		close(go[1]);
		child(report[1], go[0]);
	}
	close(report[1]);
	close(go[0]);

	int code = 0, r = 0;
	ssize_t n;
	do
		n = read(report[0], &code, sizeof(code));
	while (n < 0 && errno == EINTR);
	close(report[0]);
	if (n != (ssize_t) sizeof(code)) {
		r = berth_err(err, EIO, "netns %s: namespace helper died", path);
	} else if (code) {
		r = code == EPERM ? berth_errno(err, code, "netns %s: unshare(CLONE_NEWNET) or bring up lo", path)
				  : berth_errno(err, code, "netns %s: new network namespace", path);
	} else {
		char src[64];
		snprintf(src, sizeof(src), "/proc/%d/ns/net", (int) pid);
		if (mount(src, path, NULL, MS_BIND, NULL) < 0)
			r = berth_errno(err, errno, "netns %s: bind mount %s", path, src);
	}
	close(go[1]);      /* the child may go now */
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		unlink(path);
	return r;
}

int netns_remove(const char *path, struct berth_error *err)
{
	if (!path || !*path)
		return berth_err(err, EINVAL, "netns: empty path");
	/* Several stacked binds (a retried create) all go: loop until the
	 * path is no longer a mount point. */
	for (int i = 0; i < 16; i++) {
		if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno == ENOENT)
			return 0;
		if (errno == EINVAL)
			break;
		return berth_errno(err, errno, "netns %s: unmount", path);
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return berth_errno(err, errno, "netns %s: remove", path);
	return 0;
}
