#include "linux/procfs.h"
#include "core/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The inode number procfs gives its root directory (PROC_ROOT_INO). */
#define PROCFS_ROOT_INO 1

static bool fd_on_procfs(int fd)
{
	struct statfs sfs;
	return fstatfs(fd, &sfs) == 0 && sfs.f_type == PROC_SUPER_MAGIC;
}

int linux_procfs_verify_root(int fd, struct berth_error *err)
{
	struct statfs sfs;
	struct stat st;
	if (fstatfs(fd, &sfs) < 0)
		return berth_errno(err, errno, "procfs: fstatfs");
	if (sfs.f_type != PROC_SUPER_MAGIC)
		return berth_err(err, EXDEV, "procfs: the handle is not on a procfs (f_type 0x%lx)",
				 (unsigned long) sfs.f_type);
	if (fstat(fd, &st) < 0)
		return berth_errno(err, errno, "procfs: fstat");
	if (!S_ISDIR(st.st_mode) || st.st_ino != PROCFS_ROOT_INO)
		return berth_err(err, EXDEV, "procfs: the handle is not the root of a procfs (inode %llu)",
				 (unsigned long long) st.st_ino);
	return 0;
}

/* A detached instance: nothing in any mount namespace can cover or replace
 * it.  The kernel refuses it (EPERM) inside a user namespace whose /proc is
 * partly masked, and older kernels lack fsopen; both fall back. */
static int open_private_instance(void)
{
	_cleanup_close_ int fsfd = fsopen("proc", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return -errno;
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (mfd < 0)
		return -errno;
	return mfd;
}

int linux_procfs_open(struct berth_error *err)
{
	_cleanup_close_ int fd = open_private_instance();
	if (fd >= 0 && linux_procfs_verify_root(fd, NULL) == 0)
		return steal_fd(fd);
	if (fd >= 0)
		close(steal_fd(fd));

	fd = open("/proc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return berth_errno(err, errno, "procfs: open /proc");
	int r = linux_procfs_verify_root(fd, err);
	if (r < 0) {
		berth_error_prefix(err, "/proc");
		return r;
	}
	return steal_fd(fd);
}

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Replace a leading "self" / "thread-self" with what that link says in this
 * instance ("1234", "1234/task/1235"): the link text is in the instance's
 * pid namespace, which getpid() is not once the caller has moved. */
static int rewrite_self(int procfd, const char *rel, char **out, struct berth_error *err)
{
	const char *links[] = { "self", "thread-self" };
	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		size_t n = strlen(links[i]);
		if (strncmp(rel, links[i], n) != 0 || (rel[n] != '/' && rel[n] != '\0'))
			continue;
		char target[64];
		ssize_t len = readlinkat(procfd, links[i], target, sizeof(target) - 1);
		if (len < 0)
			return berth_errno(err, errno, "/proc/%s: this process is not visible in the procfs instance",
					   links[i]);
		target[len] = '\0';
		/* "1234" or "1234/task/1235" and nothing else. */
		char *slash = strchr(target, '/');
		bool ok = slash ? (all_digits(target, (size_t) (slash - target)) &&
				   strncmp(slash, "/task/", 6) == 0 &&
				   all_digits(slash + 6, strlen(slash + 6)))
				: all_digits(target, (size_t) len);
		if (!ok)
			return berth_err(err, EXDEV, "/proc/%s: unexpected link target \"%s\"", links[i], target);
		if (asprintf(out, "%s%s", target, rel + n) < 0)
			return berth_err(err, ENOMEM, "/proc/%s: out of memory", rel);
		return 0;
	}
	*out = strdup(rel);
	return *out ? 0 : berth_err(err, ENOMEM, "/proc/%s: out of memory", rel);
}

int linux_procfs_openat(int procfd, const char *rel, int flags, struct berth_error *err)
{
	_cleanup_free_ char *path = NULL;
	int r = rewrite_self(procfd, rel, &path, err);
	if (r < 0)
		return r;
	struct open_how how = {
		.flags = (unsigned long long) (flags | O_CLOEXEC | O_NOCTTY),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	_cleanup_close_ int fd = -1;
	do
		fd = (int) syscall(SYS_openat2, procfd, path, &how, sizeof(how));
	while (fd < 0 && (errno == EAGAIN || errno == EINTR));
	if (fd < 0) {
		if (errno == EXDEV)
			return berth_err(err, EXDEV, "/proc/%s: path leaves the procfs handle or crosses a mount", rel);
		if (errno == ELOOP)
			return berth_err(err, ELOOP, "/proc/%s: path goes through a magic link", rel);
		return berth_errno(err, errno, "/proc/%s", rel);
	}
	if (!fd_on_procfs(fd))
		return berth_err(err, EXDEV, "/proc/%s: the opened file is not on procfs", rel);
	return steal_fd(fd);
}

int linux_procfs_write(int procfd, const char *rel, const char *data, size_t len,
		       struct berth_error *err)
{
	_cleanup_close_ int fd = linux_procfs_openat(procfd, rel, O_WRONLY, err);
	if (fd < 0)
		return fd;
	ssize_t n;
	do
		n = write(fd, data, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return berth_errno(err, errno, "/proc/%s: write", rel);
	if ((size_t) n != len)
		return berth_err(err, EIO, "/proc/%s: short write (%zd of %zu bytes)", rel, n, len);
	return 0;
}

int linux_procfs_read(int procfd, const char *rel, char **out, struct berth_error *err)
{
	_cleanup_close_ int fd = linux_procfs_openat(procfd, rel, O_RDONLY, err);
	if (fd < 0)
		return fd;
	size_t cap = 4096, len = 0;
	_cleanup_free_ char *buf = malloc(cap);
	if (!buf)
		return berth_err(err, ENOMEM, "/proc/%s: out of memory", rel);
	for (;;) {
		if (cap - len < 2) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				return berth_err(err, ENOMEM, "/proc/%s: out of memory", rel);
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berth_errno(err, errno, "/proc/%s: read", rel);
		}
		if (n == 0)
			break;
		len += (size_t) n;
	}
	buf[len] = '\0';
	*out = steal_ptr(buf);
	return 0;
}

int linux_set_oom_score_adj(int procfd, int score, struct berth_error *err)
{
	if (score < -1000 || score > 1000)
		return berth_err(err, EINVAL, "process.oomScoreAdj: %d is outside [-1000, 1000]", score);
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%d", score);
	struct berth_error e = { 0 };
	int r = linux_procfs_write(procfd, "self/oom_score_adj", buf, (size_t) n, &e);
	if (r == -EACCES || r == -EPERM)
		return berth_err(err, r, "process.oomScoreAdj: setting %d: %s (lowering the score needs CAP_SYS_RESOURCE)",
				 score, e.msg);
	if (r < 0)
		return berth_err(err, r, "process.oomScoreAdj: %s", e.msg);
	return 0;
}
