#include "engine/overlay.h"
#include "core/cleanup.h"
#include "core/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define EMPTY_LOWER "_empty"
#define SHORT_LEN 6

/* Overlay in a user namespace (rootless) must keep its metadata in user.*
 * xattrs: trusted.* needs CAP_SYS_ADMIN in the initial namespace. */
static bool need_userxattr(void)
{
	if (geteuid() != 0)
		return true;
	_cleanup_free_ char *map = NULL;
	if (berth_read_file("/proc/self/uid_map", &map, NULL) < 0)
		return false;
	unsigned long a, b, c;
	if (sscanf(map, "%lu %lu %lu", &a, &b, &c) != 3)
		return true;
	return !(a == 0 && b == 0 && c == 4294967295UL);
}

static int check_path(const char *what, const char *p, struct berth_error *err)
{
	if (!p || p[0] != '/')
		return berth_err(err, EINVAL, "overlay: %s \"%s\" is not an absolute path", what, p ? p : "(null)");
	return 0;
}

/* The kernel explains fsconfig/fsmount failures in the fs context's log,
 * read line by line from the fs fd ("e msg", "w msg", "i msg"). */
static void read_fs_log(int fsfd, char *out, size_t len)
{
	size_t used = 0;
	out[0] = '\0';
	char line[512];
	for (;;) {
		ssize_t n = read(fsfd, line, sizeof(line) - 1);
		if (n <= 0)
			break;
		line[n] = '\0';
		while (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		const char *msg = line;
		if (n > 2 && line[1] == ' ')
			msg = line + 2;
		int w = snprintf(out + used, len - used, "%s%s", used ? "; " : "", msg);
		if (w < 0 || (size_t) w >= len - used)
			break;
		used += (size_t) w;
	}
}

static int fs_fail(struct berth_error *err, int fsfd, int code, const char *target, const char *step)
{
	char log[512];
	read_fs_log(fsfd, log, sizeof(log));
	if (log[0])
		return berth_err(err, code, "mount overlay at %s: %s: %s (%s)", target, step, strerror(code), log);
	return berth_err(err, code, "mount overlay at %s: %s: %s", target, step, strerror(code));
}

/* Returns 1 when the kernel lacks what this path needs (no fsopen, or no
 * "lowerdir+"), so the caller falls back to mount(2). */
static int mount_new_api(const char *const *lowers, size_t n, const char *upper, const char *work,
			 const char *target, bool userxattr, struct berth_error *err)
{
	_cleanup_close_ int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fsfd < 0) {
		if (errno == ENOSYS || errno == EPERM)
			return 1;
		if (errno == ENODEV)
			return berth_err(err, ENODEV, "mount overlay at %s: the kernel has no overlay filesystem", target);
		return berth_errno(err, errno, "mount overlay at %s: fsopen", target);
	}
	for (size_t k = 0; k < n; k++) {
		const char *l = lowers[n - 1 - k];     /* overlay stacks lowerdir+ top first */
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", l, 0) < 0) {
			int e = errno;
			if (k == 0 && e == EINVAL)
				return 1;
			char step[PATH_MAX + 32];
			snprintf(step, sizeof(step), "lower layer %s", l);
			return fs_fail(err, fsfd, e, target, step);
		}
	}
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0) {
		char step[PATH_MAX + 32];
		snprintf(step, sizeof(step), "upperdir %s", upper);
		return fs_fail(err, fsfd, errno, target, step);
	}
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", work, 0) < 0) {
		char step[PATH_MAX + 32];
		snprintf(step, sizeof(step), "workdir %s", work);
		return fs_fail(err, fsfd, errno, target, step);
	}
	if (userxattr && fsconfig(fsfd, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0)
		return fs_fail(err, fsfd, errno, target, "userxattr");
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return fs_fail(err, fsfd, errno, target, "create");
	_cleanup_close_ int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
	if (mfd < 0)
		return fs_fail(err, fsfd, errno, target, "fsmount");
	if (move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return berth_errno(err, errno, "mount overlay at %s: move_mount", target);
	return 0;
}

static uint64_t fnv1a(const char *s, uint64_t seed)
{
	uint64_t h = 1469598103934665603ULL ^ seed;
	for (; *s; s++) {
		h ^= (unsigned char) *s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* The short name of layer dir `target` in dirfd: derived from a hash of the
 * target path, so every container using a layer shares one link and
 * concurrent creators agree; a name already taken by another target moves
 * on to the next seed. */
static int short_link(int dirfd, const char *target, char name[SHORT_LEN + 1], struct berth_error *err,
		      const char *dir)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	for (uint64_t seed = 0; seed < 64; seed++) {
		uint64_t h = fnv1a(target, seed * 0x9e3779b97f4a7c15ULL);
		for (int i = 0; i < SHORT_LEN; i++) {
			name[i] = alphabet[h % 36];
			h /= 36;
		}
		name[SHORT_LEN] = '\0';
		if (symlinkat(target, dirfd, name) == 0)
			return 0;
		if (errno != EEXIST)
			return berth_errno(err, errno, "overlay: create short link %s/%s -> %s", dir, name, target);
		char cur[PATH_MAX];
		ssize_t len = readlinkat(dirfd, name, cur, sizeof(cur) - 1);
		if (len < 0) {
			if (errno == EINVAL)     /* not a link: someone else's file, try another name */
				continue;
			return berth_errno(err, errno, "overlay: read short link %s/%s", dir, name);
		}
		cur[len] = '\0';
		if (strcmp(cur, target) == 0)
			return 0;
	}
	return berth_err(err, EEXIST, "overlay: no free short link name in %s for %s", dir, target);
}

/* mount(2) copies one page of options: the lowers are short links named
 * relative to shortlink_dir, and the mount runs in a child that chdir()s
 * there, so the caller's working directory never changes (it is shared by
 * all its threads). */
static int mount_legacy(const char *const *lowers, size_t n, const char *upper, const char *work,
			const char *target, const char *shortlink_dir, int linkfd, bool userxattr,
			struct berth_error *err)
{
	if (strpbrk(upper, ",:") || strpbrk(work, ",:"))
		return berth_err(err, EINVAL, "mount overlay at %s: upper/work paths may not contain ',' or ':' (%s, %s)",
				 target, upper, work);
	size_t cap = n * (SHORT_LEN + 1) + strlen(upper) + strlen(work) + 64;
	_cleanup_free_ char *data = malloc(cap);
	if (!data)
		return berth_err(err, ENOMEM, "mount overlay at %s: out of memory", target);
	size_t used = (size_t) snprintf(data, cap, "lowerdir=");
	for (size_t k = 0; k < n; k++) {
		char name[SHORT_LEN + 1];
		int r = short_link(linkfd, lowers[n - 1 - k], name, err, shortlink_dir);
		if (r < 0)
			return r;
		used += (size_t) snprintf(data + used, cap - used, "%s%s", k ? ":" : "", name);
	}
	used += (size_t) snprintf(data + used, cap - used, ",upperdir=%s,workdir=%s%s", upper, work,
				  userxattr ? ",userxattr" : "");
	long page = sysconf(_SC_PAGESIZE);
	if (page <= 0)
		page = 4096;
	if (used >= (size_t) page)
		return berth_err(err, E2BIG, "mount overlay at %s: %zu layers need %zu bytes of mount options, more than one page (%ld)",
				 target, n, used + 1, page);

	pid_t pid = fork();
	if (pid < 0)
		return berth_errno(err, errno, "mount overlay at %s: fork", target);
	if (pid == 0) {
		if (fchdir(linkfd) < 0)
			_exit(errno & 0xff);
		if (mount("overlay", target, "overlay", 0, data) < 0)
			_exit(errno & 0xff);
		_exit(0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return berth_errno(err, errno, "mount overlay at %s: waitpid", target);
	if (!WIFEXITED(st))
		return berth_err(err, EIO, "mount overlay at %s: mount helper died", target);
	int code = WEXITSTATUS(st);
	if (code)
		return berth_errno(err, code, "mount overlay at %s (%zu layers, mount(2); see dmesg)", target, n);
	return 0;
}

int overlay_mount_ex(const char *const *lowers_bottom_first, size_t n, const char *upper, const char *work,
		     const char *target, const char *shortlink_dir, unsigned flags, struct berth_error *err)
{
	int r;
	if ((r = check_path("upperdir", upper, err)) < 0 || (r = check_path("workdir", work, err)) < 0 ||
	    (r = check_path("target", target, err)) < 0)
		return r;
	if (n > OVERLAY_MAX_LAYERS)
		return berth_err(err, E2BIG, "mount overlay at %s: %zu layers, overlay supports at most %d",
				 target, n, OVERLAY_MAX_LAYERS);
	for (size_t i = 0; i < n; i++)
		if ((r = check_path("lower layer", lowers_bottom_first[i], err)) < 0)
			return r;

	bool legacy = flags & OVERLAY_FORCE_LEGACY;
	_cleanup_close_ int linkfd = -1;
	char empty[PATH_MAX];
	const char *empty_lower[1];
	if (n == 0 || legacy) {
		if ((r = check_path("short link directory", shortlink_dir, err)) < 0)
			return r;
		if ((r = berth_mkdir_p(shortlink_dir, 0700)) < 0)
			return berth_errno(err, -r, "overlay: create %s", shortlink_dir);
		linkfd = open(shortlink_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (linkfd < 0)
			return berth_errno(err, errno, "overlay: open %s", shortlink_dir);
	}
	if (n == 0) {
		if (mkdirat(linkfd, EMPTY_LOWER, 0755) < 0 && errno != EEXIST)
			return berth_errno(err, errno, "overlay: create %s/%s", shortlink_dir, EMPTY_LOWER);
		if ((size_t) snprintf(empty, sizeof(empty), "%s/%s", shortlink_dir, EMPTY_LOWER) >= sizeof(empty))
			return berth_err(err, ENAMETOOLONG, "overlay: %s: path too long", shortlink_dir);
		empty_lower[0] = empty;
		lowers_bottom_first = empty_lower;
		n = 1;
	}

	bool userxattr = need_userxattr();
	if (!legacy) {
		r = mount_new_api(lowers_bottom_first, n, upper, work, target, userxattr, err);
		if (r <= 0)
			return r;
		/* no fsopen or no "lowerdir+": the short-link scheme */
		if (linkfd < 0) {
			if ((r = check_path("short link directory", shortlink_dir, err)) < 0)
				return r;
			if ((r = berth_mkdir_p(shortlink_dir, 0700)) < 0)
				return berth_errno(err, -r, "overlay: create %s", shortlink_dir);
			linkfd = open(shortlink_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (linkfd < 0)
				return berth_errno(err, errno, "overlay: open %s", shortlink_dir);
		}
	}
	return mount_legacy(lowers_bottom_first, n, upper, work, target, shortlink_dir, linkfd, userxattr, err);
}

int overlay_mount(const char *const *lowers_bottom_first, size_t n, const char *upper, const char *work,
		  const char *target, const char *shortlink_dir, struct berth_error *err)
{
	return overlay_mount_ex(lowers_bottom_first, n, upper, work, target, shortlink_dir, 0, err);
}

int overlay_unmount(const char *target, struct berth_error *err)
{
	/* Loop for overlays stacked on the target by an earlier failed cleanup,
	 * but only while what sits there is an overlay: never take down a
	 * mount this module did not make. */
	for (int i = 0; i < 16; i++) {
		struct statfs sfs;
		if (statfs(target, &sfs) < 0)
			return errno == ENOENT || errno == ENOTDIR ? 0 : berth_errno(err, errno, "unmount %s", target);
		if (sfs.f_type != OVERLAYFS_SUPER_MAGIC)
			return 0;
		if (umount2(target, UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno == EINVAL || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return berth_errno(err, errno, "unmount %s", target);
		if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) {
			if (errno == EINVAL)
				return 0;
			return berth_errno(err, errno, "unmount %s (lazily)", target);
		}
	}
	return berth_err(err, EBUSY, "unmount %s: still mounted after 16 unmounts", target);
}
