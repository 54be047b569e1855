#include "image/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/log.h"

/* libarchive reads this much per read(2); large reads keep the syscall count
 * low when the producer is a decompressor on the other end of a pipe. */
#define READ_BLOCK (1024 * 1024)

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

/* Mode and times of a directory entry, applied once every entry is in place
 * (creating children changes a directory's mtime; a read-only mode would
 * stop an unprivileged extractor from filling it). */
struct dir_fixup {
	char *path;                 /* cleaned, "." for the layer root */
	size_t seq;                 /* entry order: the last entry for a path wins */
	mode_t mode;
	struct timespec ts[2];
};

struct unpacker {
	int root;                   /* the layer directory */
	struct unpack_opts opts;
	const char *what;
	struct berth_error *err;
	struct unpack_stats st;
	struct archive *a;
	/* The parent directory of the previous entry: tars list siblings
	 * together, so most entries reuse it.  Only removals can change what an
	 * already resolved path names; they drop cache_path. */
	char *cache_path;
	int cache_fd;
	struct dir_fixup *fix;
	size_t n_fix, cap_fix;
	char shown[160];            /* printable entry name for messages */
};

/* Entry names come from the image: escape control bytes and cut very long
 * names so an error message stays one readable line. */
static void printable(const char *name, char *out, size_t len)
{
	size_t o = 0, max = len - 8;
	const unsigned char *p = (const unsigned char *) name;
	for (; *p && o < max; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			o += (size_t) snprintf(out + o, len - o, "\\x%02x", *p);
		else
			out[o++] = (char) *p;
	}
	if (*p && o + 4 <= len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o < len ? o : len - 1] = '\0';
}

static void set_shown(struct unpacker *u, const char *name)
{
	printable(name, u->shown, sizeof(u->shown));
}

static int entry_err(struct unpacker *u, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int entry_err(struct unpacker *u, int code, const char *fmt, ...)
{
	char msg[BERTH_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return berth_err(u->err, code, "layer %s: entry \"%s\": %s", u->what, u->shown, msg);
}

static int entry_errno(struct unpacker *u, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int entry_errno(struct unpacker *u, int code, const char *fmt, ...)
{
	char msg[BERTH_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	code = code < 0 ? -code : code;
	return berth_err(u->err, code, "layer %s: entry \"%s\": %s: %s", u->what, u->shown, msg, strerror(code));
}

/* Normalise a name from the tar into `out` (PATH_MAX bytes): no leading "/"
 * allowed, "." and empty components dropped, ".." refused outright (a layer
 * has no business naming its parent).  "" is the layer root.  link_target:
 * `in` is a hard link's target, named in the message. */
static int clean_path(struct unpacker *u, const char *in, char *out, bool link_target)
{
	char what[sizeof(u->shown) + 32] = "path";
	if (link_target) {
		char shown[sizeof(u->shown)];
		printable(in, shown, sizeof(shown));
		snprintf(what, sizeof(what), "hard link target \"%s\"", shown);
	}
	if (strlen(in) >= PATH_MAX)
		return entry_err(u, ENAMETOOLONG, "%s is longer than %d bytes", what, PATH_MAX - 1);
	/* "/" alone names the layer root (umoci writes such an entry); any other
	 * absolute name is refused rather than silently re-rooted. */
	if (!link_target && in[0] == '/' && in[strspn(in, "/.")] == '\0' && !strstr(in, "..")) {
		out[0] = '\0';
		return 0;
	}
	if (in[0] == '/')
		return entry_err(u, EPERM, "%s is absolute: path escapes the layer", what);
	size_t o = 0;
	const char *p = in;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t) (slash - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return entry_err(u, EPERM, "%s%spath escapes the layer", link_target ? what : "",
					 link_target ? ": " : "");
		if (n > NAME_MAX)
			return entry_err(u, ENAMETOOLONG, "%s has a component longer than %d bytes", what, NAME_MAX);
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	out[o] = '\0';
	return 0;
}

/* Split a cleaned path into its parent ("" for the layer root) and last component. */
static const char *split_parent(const char *path, char parent[PATH_MAX])
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		parent[0] = '\0';
		return path;
	}
	memcpy(parent, path, (size_t) (slash - path));
	parent[slash - path] = '\0';
	return slash + 1;
}

static void cache_drop(struct unpacker *u)
{
	free(u->cache_path);
	u->cache_path = NULL;
}

/* Walk `path` from the layer root creating missing directories (0755).  Each
 * lookup is an openat2(RESOLVE_IN_ROOT) of the whole prefix, so a symlink in
 * the layer resolves as it will inside the container and never outside. */
static int make_parents(struct unpacker *u, const char *path)
{
	char prefix[PATH_MAX];
	_cleanup_close_ int cur = berth_openat2(u->root, ".", O_PATH | O_DIRECTORY, 0, 0);
	if (cur < 0)
		return entry_errno(u, cur, "cannot open the layer directory");
	size_t o = 0;
	const char *p = path;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t) (slash - p) : strlen(p);
		char comp[NAME_MAX + 1];
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (o)
			prefix[o++] = '/';
		memcpy(prefix + o, p, n);
		o += n;
		prefix[o] = '\0';
		int fd = berth_openat2(u->root, prefix, O_PATH | O_DIRECTORY, 0, 0);
		if (fd == -ENOENT) {
			if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
				return entry_errno(u, errno, "cannot create parent directory \"%s\"", prefix);
			fd = berth_openat2(u->root, prefix, O_PATH | O_DIRECTORY, 0, 0);
		}
		if (fd < 0)
			return entry_errno(u, fd, "parent \"%s\" does not resolve to a directory inside the layer", prefix);
		close(cur);
		cur = fd;
		p += n;
		if (*p == '/')
			p++;
	}
	return steal_fd(cur);
}

/* fd of the directory `parent` (cleaned, "" = root), created if missing.
 * Borrowed: valid until the next call. */
static int get_parent(struct unpacker *u, const char *parent)
{
	if (u->cache_path && strcmp(u->cache_path, parent) == 0)
		return u->cache_fd;
	int fd = berth_openat2(u->root, parent[0] ? parent : ".", O_PATH | O_DIRECTORY, 0, 0);
	if (fd == -ENOENT)
		fd = make_parents(u, parent);
	else if (fd < 0)
		return entry_errno(u, fd, "parent \"%s\" does not resolve to a directory inside the layer", parent);
	if (fd < 0)
		return fd;
	free(u->cache_path);
	u->cache_path = strdup(parent);
	if (u->cache_fd >= 0)
		close(u->cache_fd);
	u->cache_fd = fd;
	if (!u->cache_path)
		return entry_err(u, ENOMEM, "out of memory");
	return fd;
}

/* Make room for a new entry `name` in dirfd, as tar does: a non-directory is
 * replaced; so is a directory unless the new entry is one too (keep_dir).
 * Returns 1 when an existing directory was kept. */
static int clear_slot(struct unpacker *u, int dirfd, const char *name, bool keep_dir)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : entry_errno(u, errno, "cannot inspect the existing entry");
	if (S_ISDIR(st.st_mode) && keep_dir)
		return 1;
	cache_drop(u);
	int r = S_ISDIR(st.st_mode) ? berth_rm_rf_at(dirfd, name) : (unlinkat(dirfd, name, 0) < 0 ? -errno : 0);
	if (r < 0)
		return entry_errno(u, r, "cannot replace the existing entry");
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	if (archive_entry_mtime_is_set(e)) {
		ts[1].tv_sec = archive_entry_mtime(e);
		ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	} else {
		ts[1].tv_sec = 0;
		ts[1].tv_nsec = UTIME_OMIT;
	}
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		ts[0] = ts[1];
	}
}

static bool xattr_allowed(const char *name, bool is_dir)
{
	if (strcmp(name, "security.capability") == 0 || strncmp(name, "user.", 5) == 0)
		return true;
	/* The overlay's own attributes steer how layers combine (redirects,
	 * metacopy, origin): an image may only mark a directory opaque. */
	if (strncmp(name, "trusted.overlay.", 16) == 0)
		return is_dir && strcmp(name, "trusted.overlay.opaque") == 0;
	return strncmp(name, "trusted.", 8) == 0;
}

/* Apply the entry's xattrs to fd.  path_fd: fd is O_PATH (symlink, device,
 * fifo), reached through its /proc/self/fd link, which names the inode
 * itself and is never resolved further. */
static int apply_xattrs(struct unpacker *u, struct archive_entry *e, int fd, bool path_fd, bool is_dir)
{
	if (archive_entry_xattr_reset(e) == 0)
		return 0;
	const char *name;
	const void *value;
	size_t size;
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		if (!name || !xattr_allowed(name, is_dir)) {
			log_debug("layer %s: entry \"%s\": skipping xattr %s", u->what, u->shown, name ? name : "(null)");
			continue;
		}
		int r;
		if (path_fd) {
			char proc[64];
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
			r = setxattr(proc, name, value, size, 0);
		} else {
			r = fsetxattr(fd, name, value, size, 0);
		}
		if (r == 0)
			continue;
		int e2 = errno;
		if (e2 == ENOTSUP || (e2 == EPERM && u->opts.no_chown)) {
			log_warn("layer %s: entry \"%s\": xattr %s not kept: %s", u->what, u->shown, name, strerror(e2));
			continue;
		}
		return entry_errno(u, e2, "cannot set xattr %s", name);
	}
	return 0;
}

static int do_chown_fd(struct unpacker *u, struct archive_entry *e, int fd)
{
	if (u->opts.no_chown)
		return 0;
	if (fchown(fd, (uid_t) archive_entry_uid(e), (gid_t) archive_entry_gid(e)) < 0)
		return entry_errno(u, errno, "cannot chown to %lld:%lld", (long long) archive_entry_uid(e),
				   (long long) archive_entry_gid(e));
	return 0;
}

static int do_chown_at(struct unpacker *u, struct archive_entry *e, int dirfd, const char *name)
{
	if (u->opts.no_chown)
		return 0;
	if (fchownat(dirfd, name, (uid_t) archive_entry_uid(e), (gid_t) archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return entry_errno(u, errno, "cannot chown to %lld:%lld", (long long) archive_entry_uid(e),
				   (long long) archive_entry_gid(e));
	return 0;
}

static int archive_fail(struct unpacker *u, const char *doing)
{
	int code = archive_errno(u->a);
	if (code <= 0 || code == EILSEQ)  /* libarchive: "misc" / "bad format" */
		code = EBADMSG;
	const char *why = archive_error_string(u->a);
	if (u->shown[0])
		return entry_err(u, code, "%s: %s", doing, why ? why : "unknown tar error");
	return berth_err(u->err, code, "layer %s: %s: %s", u->what, doing, why ? why : "unknown tar error");
}

/* Write one data block of the entry at `off`, retrying short writes. */
static int write_block(struct unpacker *u, int fd, const void *buf, size_t size, int64_t off)
{
	const char *p = buf;
	while (size > 0) {
		ssize_t n = pwrite(fd, p, size, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return entry_errno(u, errno, "cannot write file data");
		}
		p += n;
		size -= (size_t) n;
		off += n;
		u->st.bytes += (uint64_t) n;
	}
	return 0;
}

/* Copy the entry's data into fd; holes of sparse entries stay holes. */
static int write_data(struct unpacker *u, struct archive_entry *e, int fd)
{
	int64_t end = 0;
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t off;
		int r = archive_read_data_block(u->a, &buf, &size, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK)
			return archive_fail(u, "reading file data");
		if ((r = write_block(u, fd, buf, size, off)) < 0)
			return r;
		if (off + (int64_t) size > end)
			end = off + (int64_t) size;
	}
	if (archive_entry_size_is_set(e) && archive_entry_size(e) > end &&
	    ftruncate(fd, archive_entry_size(e)) < 0)
		return entry_errno(u, errno, "cannot extend sparse file");
	return 0;
}

static int make_regular(struct unpacker *u, struct archive_entry *e, int dirfd, const char *name)
{
	_cleanup_close_ int fd = -1;
	for (int attempt = 0; fd < 0; attempt++) {
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		if (errno != EEXIST || attempt > 0)
			return entry_errno(u, errno, "cannot create file");
		int r = clear_slot(u, dirfd, name, false);
		if (r < 0)
			return r;
	}
	int r = write_data(u, e, fd);
	if (r < 0)
		return r;
	r = do_chown_fd(u, e, fd);
	if (r < 0)
		return r;
	/* After chown, which clears setuid/setgid. */
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return entry_errno(u, errno, "cannot chmod");
	/* security.capability after chown too: a chown drops it. */
	r = apply_xattrs(u, e, fd, false, false);
	if (r < 0)
		return r;
	struct timespec ts[2];
	entry_times(e, ts);
	if (futimens(fd, ts) < 0)
		return entry_errno(u, errno, "cannot set times");
	return 0;
}

static int add_fixup(struct unpacker *u, const char *path, struct archive_entry *e)
{
	if (u->n_fix == u->cap_fix) {
		size_t cap = u->cap_fix ? u->cap_fix * 2 : 64;
		struct dir_fixup *n = realloc(u->fix, cap * sizeof(*n));
		if (!n)
			return entry_err(u, ENOMEM, "out of memory");
		u->fix = n;
		u->cap_fix = cap;
	}
	struct dir_fixup *f = &u->fix[u->n_fix];
	f->path = strdup(path[0] ? path : ".");
	if (!f->path)
		return entry_err(u, ENOMEM, "out of memory");
	f->seq = u->n_fix;
	f->mode = archive_entry_perm(e) & 07777;
	entry_times(e, f->ts);
	u->n_fix++;
	return 0;
}

static int make_dir(struct unpacker *u, struct archive_entry *e, int dirfd, const char *name, const char *path)
{
	_cleanup_close_ int fd = -1;
	if (!name) {
		/* the layer root itself */
		fd = openat(u->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		if (mkdirat(dirfd, name, 0700) < 0) {
			if (errno != EEXIST)
				return entry_errno(u, errno, "cannot create directory");
			int r = clear_slot(u, dirfd, name, true);
			if (r < 0)
				return r;
			if (r == 0 && mkdirat(dirfd, name, 0700) < 0)
				return entry_errno(u, errno, "cannot create directory");
		}
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return entry_errno(u, errno, "cannot open directory");
	int r = do_chown_fd(u, e, fd);
	if (r < 0)
		return r;
	r = apply_xattrs(u, e, fd, false, true);
	if (r < 0)
		return r;
	return add_fixup(u, path, e);
}

static int finish_node(struct unpacker *u, struct archive_entry *e, int dirfd, const char *name, bool set_mode)
{
	int r = do_chown_at(u, e, dirfd, name);
	if (r < 0)
		return r;
	/* The node was created by us a moment ago and is not a symlink, so
	 * fchmodat may follow "name". */
	if (set_mode && fchmodat(dirfd, name, archive_entry_perm(e) & 07777, 0) < 0)
		return entry_errno(u, errno, "cannot chmod");
	if (archive_entry_xattr_count(e) > 0) {
		_cleanup_close_ int pfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (pfd < 0)
			return entry_errno(u, errno, "cannot open for xattrs");
		r = apply_xattrs(u, e, pfd, true, false);
		if (r < 0)
			return r;
	}
	struct timespec ts[2];
	entry_times(e, ts);
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_errno(u, errno, "cannot set times");
	return 0;
}

static int make_symlink(struct unpacker *u, struct archive_entry *e, int dirfd, const char *name)
{
	const char *target = archive_entry_symlink(e);
	if (!target)
		target = archive_entry_symlink_utf8(e);
	if (!target || !target[0])
		return entry_err(u, EINVAL, "symbolic link without a target");
	/* The target is stored verbatim: it is data, resolved later only by
	 * the container (and by us only through RESOLVE_IN_ROOT). */
	for (int attempt = 0;; attempt++) {
		if (symlinkat(target, dirfd, name) == 0)
			break;
		if (errno != EEXIST || attempt > 0)
			return entry_errno(u, errno, "cannot create symbolic link");
		int r = clear_slot(u, dirfd, name, false);
		if (r < 0)
			return r;
	}
	return finish_node(u, e, dirfd, name, false);
}

static int make_node(struct unpacker *u, struct archive_entry *e, int dirfd, const char *name, mode_t type)
{
	if (type != S_IFIFO && u->opts.refuse_devices)
		return entry_err(u, EPERM, "device nodes are not allowed in this unpack (%s %u:%u)",
				 type == S_IFCHR ? "char" : "block", (unsigned) archive_entry_rdevmajor(e),
				 (unsigned) archive_entry_rdevminor(e));
	dev_t dev = type == S_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
	for (int attempt = 0;; attempt++) {
		if (mknodat(dirfd, name, type | 0600, dev) == 0)
			break;
		if (errno != EEXIST || attempt > 0)
			return entry_errno(u, errno, "cannot create %s", type == S_IFIFO ? "fifo" : "device node");
		int r = clear_slot(u, dirfd, name, false);
		if (r < 0)
			return r;
	}
	return finish_node(u, e, dirfd, name, true);
}

static int make_hardlink(struct unpacker *u, struct archive_entry *e, int dirfd, const char *name)
{
	const char *raw = archive_entry_hardlink(e);
	if (!raw)
		raw = archive_entry_hardlink_utf8(e);
	if (!raw)
		return entry_err(u, EINVAL, "hard link without a target");
	char target[PATH_MAX];
	int r = clean_path(u, raw, target, true);
	if (r < 0)
		return r;
	if (!target[0])
		return entry_err(u, EPERM, "hard link to the layer root");
	/* Resolved inside the layer only: whatever the name says, the inode
	 * we link is one this unpack created. */
	_cleanup_close_ int tfd = berth_openat2(u->root, target, O_PATH | O_NOFOLLOW, 0, 0);
	if (tfd < 0) {
		char tshown[sizeof(u->shown)];
		printable(raw, tshown, sizeof(tshown));
		if (tfd == -ENOENT)
			return entry_err(u, EPERM, "hard link target \"%s\" does not exist in the layer", tshown);
		return entry_errno(u, tfd, "hard link target \"%s\" cannot be opened in the layer", tshown);
	}
	struct stat tst, cur;
	if (fstat(tfd, &tst) < 0)
		return entry_errno(u, errno, "cannot inspect hard link target");
	if (S_ISDIR(tst.st_mode))
		return entry_err(u, EPERM, "hard link target is a directory");
	bool same = fstatat(dirfd, name, &cur, AT_SYMLINK_NOFOLLOW) == 0 && cur.st_dev == tst.st_dev &&
		    cur.st_ino == tst.st_ino;
	if (!same) {
		r = clear_slot(u, dirfd, name, false);
		if (r < 0)
			return r;
		if (linkat(tfd, "", dirfd, name, AT_EMPTY_PATH) < 0) {
			/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; without it, link by
			 * name from the target's resolved parent, not following a
			 * final symlink. */
			if (errno != ENOENT && errno != EPERM)
				return entry_errno(u, errno, "cannot create hard link");
			char parent[PATH_MAX];
			const char *base = split_parent(target, parent);
			_cleanup_close_ int pfd = berth_openat2(u->root, parent[0] ? parent : ".", O_PATH | O_DIRECTORY, 0, 0);
			if (pfd < 0)
				return entry_errno(u, pfd, "cannot open hard link target directory");
			struct stat again;
			if (fstatat(pfd, base, &again, AT_SYMLINK_NOFOLLOW) < 0 || again.st_ino != tst.st_ino ||
			    again.st_dev != tst.st_dev)
				return entry_err(u, EPERM, "hard link target changed during unpack");
			if (linkat(pfd, base, dirfd, name, 0) < 0)
				return entry_errno(u, errno, "cannot create hard link");
		}
	}
	/* Some writers (pax) give a hard link entry a body: it is the data of
	 * the shared inode. */
	_cleanup_close_ int wfd = -1;
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t off;
		int a = archive_read_data_block(u->a, &buf, &size, &off);
		if (a == ARCHIVE_EOF)
			break;
		if (a != ARCHIVE_OK)
			return archive_fail(u, "reading hard link data");
		if (size == 0)
			continue;
		if (wfd < 0) {
			if (!S_ISREG(tst.st_mode))
				return entry_err(u, EINVAL, "hard link entry carries data but its target is not a file");
			wfd = openat(dirfd, name, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
			if (wfd < 0)
				return entry_errno(u, errno, "cannot open hard link to write its data");
		}
		if ((r = write_block(u, wfd, buf, size, off)) < 0)
			return r;
	}
	return 0;
}

static int make_whiteout(struct unpacker *u, struct archive_entry *e, int dirfd, const char *hidden)
{
	/* Whatever this layer put under that name before is hidden as well. */
	int r = clear_slot(u, dirfd, hidden, false);
	if (r < 0)
		return r;
	if (mknodat(dirfd, hidden, S_IFCHR | 0, makedev(0, 0)) < 0)
		return entry_errno(u, errno, "cannot create whiteout for \"%s\"", hidden);
	return do_chown_at(u, e, dirfd, hidden);
}

/* The marker only hides lower layers, so setting it on the directory is the
 * same whenever it comes: this layer's own entries there are kept. */
static int make_opaque(struct unpacker *u, int dirfd)
{
	_cleanup_close_ int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return entry_errno(u, errno, "cannot open directory to mark it opaque");
	if (fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) == 0)
		return 0;
	/* Unprivileged overlay (mounted with "userxattr") reads user.overlay.*. */
	if (errno == EPERM && u->opts.no_chown && fsetxattr(fd, "user.overlay.opaque", "y", 1, 0) == 0)
		return 0;
	return entry_errno(u, errno, "cannot mark directory opaque");
}

static bool has_meta_component(const char *path)
{
	for (const char *p = path; p; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if (strncmp(p, WHITEOUT_META, strlen(WHITEOUT_META)) == 0)
			return true;
	}
	return false;
}

static int unpack_entry(struct unpacker *u, struct archive_entry *e)
{
	const char *raw = archive_entry_pathname(e);
	if (!raw)
		raw = archive_entry_pathname_utf8(e);
	if (!raw) {
		set_shown(u, "?");
		return entry_err(u, EINVAL, "entry without a name");
	}
	set_shown(u, raw);
	char path[PATH_MAX];
	int r = clean_path(u, raw, path, false);
	if (r < 0)
		return r;

	char parent[PATH_MAX];
	const char *base = split_parent(path, parent);

	mode_t type = archive_entry_filetype(e);
	const char *hardlink = archive_entry_hardlink(e);
	if (!hardlink)
		hardlink = archive_entry_hardlink_utf8(e);

	if (!path[0]) {
		if (hardlink || type != AE_IFDIR)
			return entry_err(u, EINVAL, "the layer root must be a directory");
		return make_dir(u, e, -1, NULL, path);
	}

	if (strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0 || has_meta_component(parent)) {
		if (strcmp(base, WHITEOUT_OPAQUE) == 0 && !has_meta_component(parent)) {
			int dirfd = get_parent(u, parent);
			return dirfd < 0 ? dirfd : make_opaque(u, dirfd);
		}
		if (strncmp(base, WHITEOUT_META, strlen(WHITEOUT_META)) == 0 || has_meta_component(parent)) {
			/* aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): meaningless here */
			log_debug("layer %s: skipping whiteout metadata entry \"%s\"", u->what, u->shown);
			return 0;
		}
		const char *hidden = base + strlen(WHITEOUT_PREFIX);
		if (strcmp(hidden, "..") == 0)
			return entry_err(u, EPERM, "whiteout of \"..\": path escapes the layer");
		if (!hidden[0] || strcmp(hidden, ".") == 0)
			return entry_err(u, EINVAL, "invalid whiteout name");
		int dirfd = get_parent(u, parent);
		return dirfd < 0 ? dirfd : make_whiteout(u, e, dirfd, hidden);
	}

	int dirfd = get_parent(u, parent);
	if (dirfd < 0)
		return dirfd;
	if (hardlink)
		return make_hardlink(u, e, dirfd, base);
	switch (type) {
	case AE_IFREG:
		return make_regular(u, e, dirfd, base);
	case AE_IFDIR:
		return make_dir(u, e, dirfd, base, path);
	case AE_IFLNK:
		return make_symlink(u, e, dirfd, base);
	case AE_IFCHR:
		return make_node(u, e, dirfd, base, S_IFCHR);
	case AE_IFBLK:
		return make_node(u, e, dirfd, base, S_IFBLK);
	case AE_IFIFO:
		return make_node(u, e, dirfd, base, S_IFIFO);
	default:
		return entry_err(u, EINVAL, "unsupported entry type 0%o", (unsigned) type);
	}
}

static int fixup_cmp(const void *a, const void *b)
{
	const struct dir_fixup *x = a, *y = b;
	int c = strcmp(x->path, y->path);
	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Children sort after their parent, so walking backwards sets a directory's
 * mode and times only after everything below it. */
static int apply_fixups(struct unpacker *u)
{
	if (u->n_fix > 1)   /* qsort's array must not be NULL, even when empty */
		qsort(u->fix, u->n_fix, sizeof(*u->fix), fixup_cmp);
	const char *done = NULL;
	for (size_t i = u->n_fix; i-- > 0;) {
		struct dir_fixup *f = &u->fix[i];
		if (done && strcmp(done, f->path) == 0)
			continue;
		done = f->path;
		set_shown(u, f->path);
		_cleanup_close_ int fd = berth_openat2(u->root, f->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, 0);
		if (fd == -ENOENT || fd == -ELOOP || fd == -ENOTDIR)
			continue;           /* replaced or whited out by a later entry */
		if (fd < 0)
			return entry_errno(u, fd, "cannot reopen directory");
		if (fchmod(fd, f->mode) < 0)
			return entry_errno(u, errno, "cannot chmod");
		if (futimens(fd, f->ts) < 0)
			return entry_errno(u, errno, "cannot set times");
	}
	return 0;
}

/* The stream, read in big blocks, optionally hashed as it passes: the
 * caller's diff_id check then costs this thread, not the one feeding us. */
struct stream {
	int fd;
	struct berth_hasher *hash;
	uint64_t bytes;
	char *buf;
};

/* One read into st->buf, counted and hashed: bytes read (0 at EOF) or -errno. */
static ssize_t stream_fill(struct stream *st)
{
	ssize_t n;
	do
		n = read(st->fd, st->buf, READ_BLOCK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n > 0 && st->hash)
		berth_hasher_update(st->hash, st->buf, (size_t) n);
	st->bytes += (uint64_t) n;
	return n;
}

static la_ssize_t stream_read(struct archive *a, void *ctx, const void **out)
{
	struct stream *st = ctx;
	ssize_t n = stream_fill(st);
	if (n < 0) {
		archive_set_error(a, (int) -n, "read: %s", strerror((int) -n));
		return -1;
	}
	*out = st->buf;
	return n;
}

/* So that a writer on a pipe never dies of SIGPIPE after a good unpack, and
 * so that the hash covers the whole stream (tar's zero padding included). */
static int drain(struct stream *st)
{
	struct stat sb;
	if (!st->hash && fstat(st->fd, &sb) == 0 && S_ISREG(sb.st_mode))
		return 0;
	for (;;) {
		ssize_t n = stream_fill(st);
		if (n <= 0)
			return (int) n;
	}
}

static int run(struct unpacker *u, struct stream *in)
{
	u->a = archive_read_new();
	if (!u->a)
		return berth_err(u->err, ENOMEM, "layer %s: out of memory", u->what);
	/* Layers are tar (ustar, pax, GNU); an empty stream is an empty layer.
	 * No filter: decompression happened before the bytes reach us. */
	if (archive_read_support_format_tar(u->a) != ARCHIVE_OK ||
	    archive_read_support_format_empty(u->a) != ARCHIVE_OK)
		return archive_fail(u, "cannot set up the tar reader");
	if (archive_read_open(u->a, in, NULL, stream_read, NULL) != ARCHIVE_OK)
		return archive_fail(u, "cannot read tar stream");
	for (;;) {
		struct archive_entry *e;
		u->shown[0] = '\0';
		int r = archive_read_next_header(u->a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r == ARCHIVE_WARN) {
			log_debug("layer %s: tar: %s", u->what, archive_error_string(u->a));
		} else if (r != ARCHIVE_OK) {
			return archive_fail(u, "reading tar header");
		}
		u->st.entries++;
		r = unpack_entry(u, e);
		if (r < 0)
			return r;
	}
	int r = apply_fixups(u);
	if (r < 0)
		return r;
	r = drain(in);
	if (r < 0)
		return berth_errno(u->err, r, "layer %s: reading the rest of the tar stream", u->what);
	return 0;
}

int image_unpack(int in_fd, int layer_dirfd, const struct unpack_opts *opts, const char *what,
		 struct unpack_stats *stats, struct berth_error *err)
{
	struct unpacker u = {
		.root = layer_dirfd,
		.what = what ? what : "(stream)",
		.err = err,
		.cache_fd = -1,
	};
	if (opts)
		u.opts = *opts;
	struct stream in = { .fd = in_fd, .hash = opts ? opts->hash : NULL, .buf = malloc(READ_BLOCK) };
	if (!in.buf)
		return berth_err(err, ENOMEM, "layer %s: out of memory", u.what);
	int r = run(&u, &in);
	free(in.buf);
	u.st.stream_bytes = in.bytes;
	if (u.a)
		archive_read_free(u.a);
	free(u.cache_path);
	if (u.cache_fd >= 0)
		close(u.cache_fd);
	for (size_t i = 0; i < u.n_fix; i++)
		free(u.fix[i].path);
	free(u.fix);
	if (stats)
		*stats = u.st;
	return r;
}
