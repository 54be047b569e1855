#include "linux/devices.h"
#include "linux/rootfs.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct devnode {
	char type;              /* 'c', 'b', 'p' ('u' is mapped to 'c') */
	const char *path;
	int64_t major, minor;
	mode_t mode;
	bool has_uid, has_gid;
	uid_t uid;
	gid_t gid;
};

static const struct {
	const char *path;
	unsigned major, minor;
} default_devices[] = {
	{ "/dev/null", 1, 3 },
	{ "/dev/zero", 1, 5 },
	{ "/dev/full", 1, 7 },
	{ "/dev/random", 1, 8 },
	{ "/dev/urandom", 1, 9 },
	{ "/dev/tty", 5, 0 },
};

static const char *type_name(mode_t fmt)
{
	return fmt == S_IFCHR ? "char" : fmt == S_IFBLK ? "block" : "fifo";
}

/* In a user namespace mknod is refused: bind the host's node of the same
 * path onto an empty file, after checking it is the device asked for (the
 * same check again on the fd we bind, so the path is resolved once). */
static int bind_host_device(int pfd, const char *base, const struct devnode *d, mode_t fmt, dev_t rdev,
			    const char *what, struct berth_error *err)
{
	_cleanup_close_ int src = open(d->path, O_PATH | O_CLOEXEC);
	if (src < 0)
		return berth_errno(err, errno, "%s (%s): mknod is not permitted (user namespace) and the host has no %s to bind",
				   what, d->path, d->path);
	struct stat hs;
	if (fstat(src, &hs) < 0)
		return berth_errno(err, errno, "%s (%s): stat the host's node", what, d->path);
	if ((hs.st_mode & S_IFMT) != fmt || hs.st_rdev != rdev)
		return berth_err(err, EINVAL, "%s (%s): mknod is not permitted (user namespace) and the host's %s is not %s %u:%u",
				 what, d->path, d->path, type_name(fmt), major(rdev), minor(rdev));

	struct stat st;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode))
			return berth_err(err, EISDIR, "%s (%s): a directory is in the way", what, d->path);
		if (!S_ISREG(st.st_mode) && unlinkat(pfd, base, 0) < 0)
			return berth_errno(err, errno, "%s (%s): remove the existing entry", what, d->path);
	} else if (errno != ENOENT) {
		return berth_errno(err, errno, "%s (%s)", what, d->path);
	}
	int cfd = openat(pfd, base, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (cfd < 0)
		return berth_errno(err, errno, "%s (%s): create the mount point", what, d->path);
	close(cfd);
	_cleanup_close_ int dfd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return berth_errno(err, errno, "%s (%s): open the mount point", what, d->path);
	int r = linux_mount_bind_onto(src, NULL, dfd, false);
	if (r < 0)
		return berth_errno(err, -r, "%s (%s): bind the host's device", what, d->path);
	return 0;
}

static int create_device(int rootfd, const struct devnode *d, const char *what, struct berth_error *err)
{
	if (!d->path || d->path[0] != '/')
		return berth_err(err, EINVAL, "%s.path: must be an absolute path", what);
	mode_t fmt;
	switch (d->type) {
	case 'c':
	case 'u':
		fmt = S_IFCHR;
		break;
	case 'b':
		fmt = S_IFBLK;
		break;
	case 'p':
		fmt = S_IFIFO;
		break;
	default:
		return berth_err(err, EINVAL, "%s (%s): unknown device type '%c'", what, d->path, d->type);
	}
	if (fmt != S_IFIFO && (d->major < 0 || d->minor < 0 || d->major > 0xfff || d->minor > 0xfffff))
		return berth_err(err, EINVAL, "%s (%s): device number %lld:%lld out of range", what, d->path,
				 (long long) d->major, (long long) d->minor);
	dev_t rdev = fmt == S_IFIFO ? 0 : makedev((unsigned) d->major, (unsigned) d->minor);

	_cleanup_free_ char *parent = strdup(d->path);
	if (!parent)
		return berth_err(err, ENOMEM, "%s: out of memory", what);
	char *slash = strrchr(parent, '/');
	const char *base = d->path + (slash - parent) + 1;
	*slash = '\0';
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return berth_err(err, EINVAL, "%s (%s): not a file name", what, d->path);
	_cleanup_close_ int pfd = berth_mkdir_p_in_root(rootfd, *parent ? parent : "/", 0755);
	if (pfd < 0)
		return berth_errno(err, -pfd, "%s (%s): create the parent directory", what, d->path);

	for (int attempt = 0;; attempt++) {
		if (mknodat(pfd, base, fmt | (d->mode & 07777), rdev) == 0)
			break;
		int e = errno;
		if (e == EEXIST && attempt == 0) {
			struct statx stx;
			if (statx(pfd, base, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MODE, &stx) < 0)
				return berth_errno(err, errno, "%s (%s)", what, d->path);
			bool same = (stx.stx_mode & S_IFMT) == fmt &&
				    (fmt == S_IFIFO || makedev(stx.stx_rdev_major, stx.stx_rdev_minor) == rdev);
			/* Something bound here earlier (a host device): keep it
			 * and never chmod what may be the host's node. */
			if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT &&
			    stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) {
				if (same)
					return 0;
				return berth_err(err, EBUSY, "%s (%s): a mount point of another kind is in the way", what,
						 d->path);
			}
			if (same)
				break;
			/* runtime-spec: a file at the path that does not match the
			 * device is an error.  Replacing it would also rewrite the
			 * bundle's rootfs, and a fake /dev/null left in place would
			 * later be bound over masked paths. */
			return berth_err(err, EEXIST, "%s (%s): exists and is not %s %u:%u (a %s is in the way)",
					 what, d->path, type_name(fmt), major(rdev), minor(rdev),
					 S_ISDIR(stx.stx_mode) ? "directory" : S_ISLNK(stx.stx_mode) ? "symlink" :
					 S_ISREG(stx.stx_mode) ? "regular file" : "different node");
		}
		if (e == EPERM && fmt != S_IFIFO)
			return bind_host_device(pfd, base, d, fmt, rdev, what, err);
		return berth_errno(err, e, "%s (%s): mknod %s %u:%u", what, d->path, type_name(fmt), major(rdev),
				   minor(rdev));
	}
	/* mknod's mode went through the umask. */
	if (fchmodat(pfd, base, d->mode & 07777, 0) < 0)
		return berth_errno(err, errno, "%s (%s): chmod", what, d->path);
	if ((d->has_uid || d->has_gid) &&
	    fchownat(pfd, base, d->has_uid ? d->uid : (uid_t) -1, d->has_gid ? d->gid : (gid_t) -1,
		     AT_SYMLINK_NOFOLLOW) < 0)
		return berth_errno(err, errno, "%s (%s): chown", what, d->path);
	return 0;
}

static int make_symlink(int devfd, const char *target, const char *name, struct berth_error *err)
{
	if (symlinkat(target, devfd, name) < 0 && errno != EEXIST)
		return berth_errno(err, errno, "symlink /dev/%s -> %s", name, target);
	return 0;
}

static int create_symlinks(int rootfd, struct berth_error *err)
{
	_cleanup_close_ int devfd = berth_mkdir_p_in_root(rootfd, "/dev", 0755);
	if (devfd < 0)
		return berth_errno(err, -devfd, "create /dev");
	static const struct {
		const char *target, *name;
	} links[] = {
		{ "/proc/self/fd", "fd" },
		{ "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" },
		{ "/proc/self/fd/2", "stderr" },
	};
	int r;
	for (size_t i = 0; i < ARRAY_SIZE(links); i++)
		if ((r = make_symlink(devfd, links[i].target, links[i].name, err)) < 0)
			return r;
	if (access("/proc/kcore", F_OK) == 0 && (r = make_symlink(devfd, "/proc/kcore", "core", err)) < 0)
		return r;

	/* /dev/ptmx must lead to the container's own devpts instance. */
	_cleanup_close_ int pts = berth_openat2(devfd, "pts", O_PATH | O_DIRECTORY, 0, RESOLVE_NO_SYMLINKS);
	struct statfs sfs;
	if (pts < 0 || fstatfs(pts, &sfs) < 0 || sfs.f_type != DEVPTS_SUPER_MAGIC)
		return 0;
	struct stat st;
	if (fstatat(devfd, "ptmx", &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode))
			return berth_err(err, EISDIR, "/dev/ptmx: a directory is in the way");
		if (unlinkat(devfd, "ptmx", 0) < 0)
			return berth_errno(err, errno, "/dev/ptmx: remove the existing entry");
	}
	if (symlinkat("pts/ptmx", devfd, "ptmx") < 0)
		return berth_errno(err, errno, "symlink /dev/ptmx -> pts/ptmx");
	return 0;
}

int linux_devices_create(int rootfd, const struct spec_config *cfg, bool default_set, struct berth_error *err)
{
	int r;
	if (default_set) {
		for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++) {
			struct devnode d = {
				.type = 'c',
				.path = default_devices[i].path,
				.major = default_devices[i].major,
				.minor = default_devices[i].minor,
				.mode = 0666,
			};
			if ((r = create_device(rootfd, &d, "default device", err)) < 0)
				return r;
		}
	}
	const struct spec_linux *lx = cfg ? cfg->linux_ : NULL;
	for (size_t i = 0; lx && i < lx->n_devices; i++) {
		const struct spec_device *s = &lx->devices[i];
		struct devnode d = {
			.type = s->type,
			.path = s->path,
			.major = s->major,
			.minor = s->minor,
			.mode = s->has_file_mode ? (s->file_mode & 07777) : 0666,
			.has_uid = s->has_uid,
			.has_gid = s->has_gid,
			.uid = s->uid,
			.gid = s->gid,
		};
		char what[48];
		snprintf(what, sizeof(what), "linux.devices[%zu]", i);
		if ((r = create_device(rootfd, &d, what, err)) < 0)
			return r;
	}
	return create_symlinks(rootfd, err);
}
