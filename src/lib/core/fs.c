#include "core/fs.h"
#include "core/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int berth_openat2(int dirfd, const char *path, int flags, mode_t mode, unsigned long long resolve)
{
	struct open_how how = {
		.flags = (unsigned long long) flags | O_CLOEXEC,
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve,
	};
	for (;;) {
		long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd >= 0)
			return (int) fd;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

int berth_open_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
	return berth_openat2(rootfd, path, flags, mode, 0);
}

/* Walk `path` one component at a time, creating what is missing.  Every
 * lookup is an openat2 of the whole in-root prefix from rootfd with
 * RESOLVE_IN_ROOT, so absolute links and ".." resolve against the container
 * root, exactly as they will inside the container, and can never leave it.
 * New entries are made with *at() calls on the fd of the already-resolved
 * parent and a single component name.  A dangling symlink gets its target
 * created (inside the root), as runc does for e.g. etc/resolv.conf ->
 * ../run/resolv.conf.  If `file_mode` is non-zero the last component is a
 * regular file instead of a directory. */
static int make_path_depth(int rootfd, const char *path, mode_t dir_mode, mode_t file_mode, int depth);

static int create_link_target(int rootfd, int parent, const char *parent_path, const char *comp,
			      mode_t dir_mode, mode_t file_mode, int depth)
{
	struct stat st;
	if (fstatat(parent, comp, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode))
		return -ENOENT;
	if (depth >= 40)
		return -ELOOP;
	char target[PATH_MAX];
	ssize_t n = readlinkat(parent, comp, target, sizeof(target) - 1);
	if (n <= 0)
		return -ENOENT;
	target[n] = '\0';
	_cleanup_free_ char *full = NULL;
	if (target[0] == '/')
		full = strdup(target);
	else if (asprintf(&full, "%s/%s", parent_path, target) < 0)
		full = NULL;
	if (!full)
		return -ENOMEM;
	int fd = make_path_depth(rootfd, full, dir_mode, file_mode, depth + 1);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int make_path_depth(int rootfd, const char *path, mode_t dir_mode, mode_t file_mode, int depth)
{
	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	_cleanup_free_ char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	char prefix[PATH_MAX] = "/";
	_cleanup_close_ int cur = berth_openat2(rootfd, "/", O_PATH | O_DIRECTORY, 0, 0);
	if (cur < 0)
		return cur;
	char *save = NULL;
	char *comp = strtok_r(copy, "/", &save);
	while (comp) {
		char *next = strtok_r(NULL, "/", &save);
		bool last = next == NULL;
		if (strcmp(comp, ".") == 0) {
			comp = next;
			continue;
		}
		char here[PATH_MAX];
		if (snprintf(here, sizeof(here), "%s%s%s", prefix, strcmp(prefix, "/") ? "/" : "", comp) >=
		    (int) sizeof(here))
			return -ENAMETOOLONG;
		bool want_file = last && file_mode;
		int oflags = want_file ? O_PATH : O_PATH | O_DIRECTORY;
		int fd = berth_openat2(rootfd, here, oflags, 0, 0);
		if (fd == -ENOENT &&
		    create_link_target(rootfd, cur, prefix, comp, dir_mode, want_file ? file_mode : 0, depth) == 0)
			fd = berth_openat2(rootfd, here, oflags, 0, 0);
		if (fd == -ENOENT) {
			/* Single component relative to the resolved parent: the new
			 * entry lands inside the root.  A symlink of that name (one
			 * we could not follow) makes these fail with EEXIST. */
			if (want_file) {
				int cfd = openat(cur, comp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, file_mode);
				if (cfd < 0 && errno != EEXIST)
					return -errno;
				if (cfd >= 0)
					close(cfd);
			} else if (mkdirat(cur, comp, dir_mode) < 0 && errno != EEXIST) {
				return -errno;
			}
			fd = berth_openat2(rootfd, here, oflags, 0, 0);
		}
		if (fd < 0)
			return fd;
		if (want_file) {
			struct stat st;
			if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
				close(fd);
				return -EISDIR;
			}
		}
		close(cur);
		cur = fd;
		snprintf(prefix, sizeof(prefix), "%s", here);
		comp = next;
	}
	return steal_fd(cur);
}

static int make_path(int rootfd, const char *path, mode_t dir_mode, mode_t file_mode)
{
	return make_path_depth(rootfd, path, dir_mode, file_mode, 0);
}

int berth_mkdir_p_in_root(int rootfd, const char *path, mode_t mode)
{
	return make_path(rootfd, path, mode, 0);
}

int berth_mkfile_p_in_root(int rootfd, const char *path, mode_t mode)
{
	return make_path(rootfd, path, 0755, mode ? mode : 0644);
}

int berth_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	struct stat st;
	if (stat(buf, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int rm_rf_children(int dfd, dev_t dev)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	int ret = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (st.st_dev != dev) {
				ret = -EBUSY;
				continue;
			}
			int cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd >= 0) {
				int r = rm_rf_children(cfd, dev);
				if (r < 0 && ret == 0)
					ret = r;
			}
			if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && ret == 0)
				ret = -errno;
		} else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && ret == 0) {
			ret = -errno;
		}
	}
	closedir(d);
	return ret;
}

int berth_rm_rf_at(int dirfd, const char *name)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = rm_rf_children(fd, st.st_dev);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && r == 0)
		r = -errno;
	return r;
}

int berth_rm_rf(const char *path)
{
	return berth_rm_rf_at(AT_FDCWD, path);
}

int berth_read_file_at(int dirfd, const char *path, char **out, size_t *len)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t cap = 4096, n = 0;
	_cleanup_free_ char *buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			cap *= 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		n += (size_t) r;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	*out = steal_ptr(buf);
	return 0;
}

int berth_read_file(const char *path, char **out, size_t *len)
{
	return berth_read_file_at(AT_FDCWD, path, out, len);
}

int berth_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t) w;
	}
	return 0;
}

ssize_t berth_read_all(int fd, void *buf, size_t len)
{
	size_t n = 0;
	while (n < len) {
		ssize_t r = read(fd, (char *) buf + n, len - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		n += (size_t) r;
	}
	return (ssize_t) n;
}

int berth_write_file_at(int dirfd, const char *path, const char *data, size_t len)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t w;
	do
		w = write(fd, data, len);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	return (size_t) w == len ? 0 : -EIO;
}

int berth_write_file(const char *path, const char *data, size_t len)
{
	return berth_write_file_at(AT_FDCWD, path, data, len);
}

static int write_replace(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			 bool durable)
{
	char tmp[NAME_MAX + 1];
	if (snprintf(tmp, sizeof(tmp), ".%s.tmp.%d", name, (int) getpid()) >= (int) sizeof(tmp))
		return -ENAMETOOLONG;
	_cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	int r = berth_write_all(fd, data, len);
	if (r == 0 && durable && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (!durable)
		return 0;
	/* Make the rename itself durable. */
	if (dirfd == AT_FDCWD) {
		_cleanup_close_ int d = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d >= 0)
			fsync(d);
	} else {
		fsync(dirfd);
	}
	return 0;
}

int berth_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	return write_replace(dirfd, name, data, len, mode, true);
}

int berth_write_file_replace(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	return write_replace(dirfd, name, data, len, mode, false);
}

int berth_fd_path(int fd, char *buf, size_t len)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}
