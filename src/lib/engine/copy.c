/* copy.c — cp and export through the container's mounted rootfs (see copy.h).
 *
 * Everything is one pipeline: a walker turns a tree (container or host) into
 * tar entries and hands them to a sink, which either writes them to a tar
 * stream (cp ... -, export, commit) or extracts them into a directory
 * (cp to a host path or into a container).  A tar stream read from stdin is
 * fed to the same extracting sink, so hostile names from a container's tree
 * and from a user's tarball meet the same checks.
 */
#include "engine/copy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive_entry.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "engine/container.h"

#ifndef OVERLAYFS_SUPER_MAGIC
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#endif

#define COPY_BUF (256u << 10)
#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

static void archive_entryp(struct archive_entry **e) { if (*e) archive_entry_free(*e); }
static void archive_writep(struct archive **a) { if (*a) archive_write_free(*a); }
static void archive_readp(struct archive **a) { if (*a) archive_read_free(*a); }
#define _cleanup_entry_ _cleanup_(archive_entryp)

/* ------------------------------------------------------------------ sinks */

struct sink {
	/* data: for a regular file, exactly one of data_fd >= 0 (read to the
	 * entry's size) or data_ar (the tar being read) supplies the bytes. */
	int (*put)(struct sink *s, struct archive_entry *ae, int data_fd, struct archive *data_ar,
		   struct berth_error *err);
};

struct tar_sink {
	struct sink base;
	struct archive *a;
	char *buf;
	const char *what;
};

static int tar_put(struct sink *base, struct archive_entry *ae, int data_fd, struct archive *data_ar,
		   struct berth_error *err)
{
	struct tar_sink *t = (struct tar_sink *) base;
	(void) data_ar;
	if (archive_write_header(t->a, ae) != ARCHIVE_OK)
		return berth_err(err, EIO, "%s: writing tar entry %s: %s", t->what, archive_entry_pathname(ae),
				 archive_error_string(t->a));
	if (data_fd >= 0 && archive_entry_filetype(ae) == AE_IFREG && !archive_entry_hardlink(ae)) {
		int64_t left = archive_entry_size(ae);
		while (left > 0) {
			ssize_t n = read(data_fd, t->buf, left < (int64_t) COPY_BUF ? (size_t) left : COPY_BUF);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return berth_errno(err, errno, "%s: reading %s", t->what, archive_entry_pathname(ae));
			if (n == 0)
				break;      /* the file shrank: libarchive pads the entry to its size */
			if (archive_write_data(t->a, t->buf, (size_t) n) < 0)
				return berth_err(err, EIO, "%s: writing tar data of %s: %s", t->what,
						 archive_entry_pathname(ae), archive_error_string(t->a));
			left -= n;
		}
	}
	if (archive_write_finish_entry(t->a) != ARCHIVE_OK)
		return berth_err(err, EIO, "%s: finishing tar entry %s: %s", t->what, archive_entry_pathname(ae),
				 archive_error_string(t->a));
	return 0;
}

struct dir_time { char *name; struct timespec ts[2]; };

struct extract_sink {
	struct sink base;
	int basefd;            /* O_PATH|O_DIRECTORY: every entry resolves inside it */
	const char *what;      /* "container 0123456789ab" / "host" for messages */
	const char *dest;      /* the destination as the user named it */
	bool keep_owner;
	uid_t uid; gid_t gid;  /* owner when !keep_owner */
	struct dir_time *dirs;
	size_t n_dirs;
	char *buf;
};

/* Normalise an entry name: no "./" or empty components; absolute names and
 * ".." are refused (a tar that needs them is hostile).  "" = the base. */
static int name_norm(const char *raw, const char *what, char **out, struct berth_error *err)
{
	if (!raw)
		return berth_err(err, EINVAL, "%s: tar entry without a name", what);
	if (raw[0] == '/')
		return berth_err(err, EPERM, "%s: tar entry \"%s\": absolute path", what, raw);
	_cleanup_free_ char *res = malloc(strlen(raw) + 1);
	if (!res)
		return berth_errno(err, ENOMEM, "%s", what);
	size_t len = 0;
	for (const char *p = raw; *p;) {
		const char *end = strchrnul(p, '/');
		size_t cl = (size_t) (end - p);
		if (cl == 2 && p[0] == '.' && p[1] == '.')
			return berth_err(err, EPERM, "%s: tar entry \"%s\": \"..\" in path", what, raw);
		if (cl > 0 && !(cl == 1 && p[0] == '.')) {
			if (len)
				res[len++] = '/';
			memcpy(res + len, p, cl);
			len += cl;
		}
		p = *end ? end + 1 : end;
	}
	res[len] = '\0';
	*out = steal_ptr(res);
	return 0;
}

/* The directory holding `name` (created when a tar lists no entry for it),
 * resolved inside basefd; *last points into name. */
static int open_parent(struct extract_sink *x, char *name, const char **last, struct berth_error *err)
{
	char *slash = strrchr(name, '/');
	if (!slash) {
		*last = name;
		int fd = fcntl(x->basefd, F_DUPFD_CLOEXEC, 3);
		return fd < 0 ? berth_errno(err, errno, "%s", x->what) : fd;
	}
	*slash = '\0';
	int fd = berth_mkdir_p_in_root(x->basefd, name, 0755);
	if (fd < 0)
		berth_errno(err, fd, "%s: %s/%s", x->what, x->dest, name);
	*slash = '/';
	*last = slash + 1;
	return fd;
}

static int copy_from_ar(struct archive *ar, int fd, const char *name, struct extract_sink *x, struct berth_error *err)
{
	for (;;) {
		la_ssize_t n = archive_read_data(ar, x->buf, COPY_BUF);
		if (n < 0)
			return berth_err(err, EIO, "%s: reading tar data of %s: %s", x->what, name, archive_error_string(ar));
		if (n == 0)
			return 0;
		int r = berth_write_all(fd, x->buf, (size_t) n);
		if (r < 0)
			return berth_errno(err, r, "%s: writing %s/%s", x->what, x->dest, name);
	}
}

static int copy_from_fd(int in, int64_t size, int fd, const char *name, struct extract_sink *x, struct berth_error *err)
{
	while (size > 0) {
		ssize_t n = read(in, x->buf, size < (int64_t) COPY_BUF ? (size_t) size : COPY_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berth_errno(err, errno, "%s: reading source of %s", x->what, name);
		if (n == 0)
			break;
		int r = berth_write_all(fd, x->buf, (size_t) n);
		if (r < 0)
			return berth_errno(err, r, "%s: writing %s/%s", x->what, x->dest, name);
		size -= n;
	}
	return 0;
}

static void apply_xattrs(int fd, struct archive_entry *ae)
{
	const char *name;
	const void *val;
	size_t len;
	archive_entry_xattr_reset(ae);
	while (archive_entry_xattr_next(ae, &name, &val, &len) == ARCHIVE_OK)
		if (!strcmp(name, "security.capability") || !strncmp(name, "user.", 5))
			(void) fsetxattr(fd, name, val, len, 0);
}

static int extract_put(struct sink *base, struct archive_entry *ae, int data_fd, struct archive *data_ar,
		       struct berth_error *err)
{
	struct extract_sink *x = (struct extract_sink *) base;
	_cleanup_free_ char *name = NULL;
	int r = name_norm(archive_entry_pathname(ae), x->what, &name, err);
	if (r < 0)
		return r;
	if (!*name)
		return 0;   /* the destination directory itself keeps its metadata */
	const char *last;
	_cleanup_close_ int pfd = open_parent(x, name, &last, err);
	if (pfd < 0)
		return pfd;
	mode_t type = archive_entry_filetype(ae), perm = archive_entry_perm(ae);
	const char *hardlink = archive_entry_hardlink(ae);
	uid_t uid = x->keep_owner ? (uid_t) archive_entry_uid(ae) : x->uid;
	gid_t gid = x->keep_owner ? (gid_t) archive_entry_gid(ae) : x->gid;
	struct timespec ts[2] = {
		{ .tv_sec = archive_entry_atime_is_set(ae) ? archive_entry_atime(ae) : archive_entry_mtime(ae),
		  .tv_nsec = archive_entry_atime_is_set(ae) ? archive_entry_atime_nsec(ae) : archive_entry_mtime_nsec(ae) },
		{ .tv_sec = archive_entry_mtime(ae), .tv_nsec = archive_entry_mtime_nsec(ae) },
	};
	if (!archive_entry_mtime_is_set(ae))
		ts[0].tv_nsec = ts[1].tv_nsec = UTIME_NOW;

	struct stat st;
	bool exists = fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!exists && errno != ENOENT)
		return berth_errno(err, errno, "%s: %s/%s", x->what, x->dest, name);
	if (type == AE_IFDIR && !hardlink) {
		if (exists && !S_ISDIR(st.st_mode))
			return berth_err(err, EEXIST, "%s: cannot overwrite non-directory %s/%s with a directory", x->what,
					 x->dest, name);
		if (!exists && mkdirat(pfd, last, 0700) < 0)
			return berth_errno(err, errno, "%s: mkdir %s/%s", x->what, x->dest, name);
		_cleanup_close_ int dfd = openat(pfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			return berth_errno(err, errno, "%s: %s/%s", x->what, x->dest, name);
		if (fchown(dfd, uid, gid) < 0 || fchmod(dfd, perm) < 0)
			return berth_errno(err, errno, "%s: setting owner and mode of %s/%s", x->what, x->dest, name);
		apply_xattrs(dfd, ae);
		/* Entries written below change the mtime: directories get theirs last. */
		struct dir_time *d = realloc(x->dirs, (x->n_dirs + 1) * sizeof(*d));
		if (!d)
			return berth_errno(err, ENOMEM, "%s", x->what);
		x->dirs = d;
		d[x->n_dirs].name = steal_ptr(name);
		memcpy(d[x->n_dirs].ts, ts, sizeof(ts));
		x->n_dirs++;
		return 0;
	}
	if (exists && S_ISDIR(st.st_mode))
		return berth_err(err, EISDIR, "%s: cannot overwrite directory %s/%s with a non-directory", x->what,
				 x->dest, name);
	/* Replace, never write through: the old entry may be a symlink or a hard link. */
	if (exists && unlinkat(pfd, last, 0) < 0)
		return berth_errno(err, errno, "%s: replacing %s/%s", x->what, x->dest, name);

	if (hardlink) {
		_cleanup_free_ char *target = NULL;
		r = name_norm(hardlink, x->what, &target, err);
		if (r < 0)
			return r;
		char *slash = strrchr(target, '/');
		const char *tlast = slash ? slash + 1 : target;
		if (slash)
			*slash = '\0';
		_cleanup_close_ int tfd = berth_openat2(x->basefd, slash ? target : ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, 0);
		if (tfd < 0)
			return berth_errno(err, tfd, "%s: hard link %s: target %s", x->what, name, hardlink);
		if (linkat(tfd, tlast, pfd, last, 0) < 0)
			return berth_errno(err, errno, "%s: hard link %s/%s to %s", x->what, x->dest, name, hardlink);
		return 0;
	}
	switch (type) {
	case AE_IFREG: {
		_cleanup_close_ int fd = openat(pfd, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return berth_errno(err, errno, "%s: creating %s/%s", x->what, x->dest, name);
		r = data_ar ? copy_from_ar(data_ar, fd, name, x, err)
			    : copy_from_fd(data_fd, archive_entry_size(ae), fd, name, x, err);
		if (r < 0)
			return r;
		/* chown before chmod: chown clears setuid/setgid bits */
		if (fchown(fd, uid, gid) < 0 || fchmod(fd, perm) < 0)
			return berth_errno(err, errno, "%s: setting owner and mode of %s/%s", x->what, x->dest, name);
		apply_xattrs(fd, ae);
		if (futimens(fd, ts) < 0)
			return berth_errno(err, errno, "%s: setting times of %s/%s", x->what, x->dest, name);
		return 0;
	}
	case AE_IFLNK:
		if (symlinkat(archive_entry_symlink(ae), pfd, last) < 0)
			return berth_errno(err, errno, "%s: symlink %s/%s", x->what, x->dest, name);
		break;
	case AE_IFCHR:
	case AE_IFBLK:
		if (mknodat(pfd, last, (type == AE_IFCHR ? S_IFCHR : S_IFBLK) | perm, archive_entry_rdev(ae)) < 0)
			return berth_errno(err, errno, "%s: device %s/%s", x->what, x->dest, name);
		break;
	case AE_IFIFO:
		if (mkfifoat(pfd, last, perm) < 0)
			return berth_errno(err, errno, "%s: fifo %s/%s", x->what, x->dest, name);
		break;
	default:
		return 0;     /* sockets and unknown types have no file to make */
	}
	if (fchownat(pfd, last, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return berth_errno(err, errno, "%s: setting owner of %s/%s", x->what, x->dest, name);
	if (type != AE_IFLNK && fchmodat(pfd, last, perm, AT_SYMLINK_NOFOLLOW) < 0 && errno != EOPNOTSUPP)
		return berth_errno(err, errno, "%s: setting mode of %s/%s", x->what, x->dest, name);
	if (utimensat(pfd, last, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return berth_errno(err, errno, "%s: setting times of %s/%s", x->what, x->dest, name);
	return 0;
}

/* Directory mtimes, once nothing more is written below them (deepest first). */
static void extract_finish(struct extract_sink *x)
{
	for (size_t i = x->n_dirs; i-- > 0;) {
		char *name = x->dirs[i].name, *slash = strrchr(name, '/');
		const char *last = slash ? slash + 1 : name;
		if (slash)
			*slash = '\0';
		int pfd = berth_openat2(x->basefd, slash ? name : ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, 0);
		if (pfd >= 0) {
			(void) utimensat(pfd, last, x->dirs[i].ts, AT_SYMLINK_NOFOLLOW);
			close(pfd);
		}
	}
}

static void extract_clear(struct extract_sink *x)
{
	for (size_t i = 0; i < x->n_dirs; i++)
		free(x->dirs[i].name);
	free(x->dirs);
	free(x->buf);
	if (x->basefd >= 0)
		close(x->basefd);
}

/* ------------------------------------------------------------------ walker */

struct hard_link { dev_t dev; ino_t ino; char *name; };

struct walker {
	struct sink *sink;
	bool upper;            /* overlay upper dir: convert whiteouts */
	const char *what;
	struct hard_link *links;
	size_t n_links;
};

static void walker_clear(struct walker *w)
{
	for (size_t i = 0; i < w->n_links; i++)
		free(w->links[i].name);
	free(w->links);
}

static char *arc_join(const char *dir, const char *name)
{
	char *s = NULL;
	if (asprintf(&s, "%s%s%s", dir, *dir ? "/" : "", name) < 0)
		return NULL;
	return s;
}

/* The xattrs a copy keeps: file capabilities and user.* (never overlay's own). */
static int add_xattrs(struct walker *w, int fd, struct archive_entry *ae, const char *arcname, struct berth_error *err)
{
	char list[4096];
	ssize_t n = flistxattr(fd, list, sizeof(list));
	if (n < 0)
		return errno == ENOTSUP || errno == ERANGE ? 0 : berth_errno(err, errno, "%s: xattrs of %s", w->what, arcname);
	for (char *k = list; k < list + n; k += strlen(k) + 1) {
		if (w->upper && (!strcmp(k, "trusted.overlay.redirect") || !strcmp(k, "trusted.overlay.metacopy")))
			return berth_err(err, ENOTSUP, "%s: %s is an overlay %s entry, which a layer cannot express", w->what,
					 arcname, strrchr(k, '.') + 1);
		if (strcmp(k, "security.capability") && strncmp(k, "user.", 5))
			continue;
		char val[4096];
		ssize_t vl = fgetxattr(fd, k, val, sizeof(val));
		if (vl >= 0)
			archive_entry_xattr_add_entry(ae, k, val, (size_t) vl);
	}
	return 0;
}

static int put_empty(struct walker *w, const char *arcname, mode_t mode, const struct stat *like, struct berth_error *err)
{
	_cleanup_entry_ struct archive_entry *ae = archive_entry_new();
	if (!ae)
		return berth_errno(err, ENOMEM, "%s", w->what);
	archive_entry_set_pathname(ae, arcname);
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, mode);
	archive_entry_set_size(ae, 0);
	archive_entry_set_mtime(ae, like->st_mtim.tv_sec, like->st_mtim.tv_nsec);
	return w->sink->put(w->sink, ae, -1, NULL, err);
}

static int walk_node(struct walker *w, int node, const struct stat *st, const char *arcname, struct berth_error *err);

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *) a, *(char *const *) b); }

/* Children in name order: a commit of the same changes gives the same diff_id. */
static int walk_children(struct walker *w, int dfd, const char *arcname, struct berth_error *err)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return berth_errno(err, errno, "%s: %s", w->what, *arcname ? arcname : "/");
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return berth_errno(err, errno, "%s: %s", w->what, arcname);
	}
	_cleanup_strv_ char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 32;
			char **nv = realloc(names, cap * sizeof(char *));
			if (!nv)
				return berth_errno(err, ENOMEM, "%s", w->what);
			names = nv;
		}
		names[n] = strdup(de->d_name);
		names[++n] = NULL;
		if (!names[n - 1])
			return berth_errno(err, ENOMEM, "%s", w->what);
	}
	if (errno)
		return berth_errno(err, errno, "%s: reading directory %s", w->what, arcname);
	if (n)
		qsort(names, n, sizeof(char *), cmp_names);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *child = arc_join(arcname, names[i]);
		if (!child)
			return berth_errno(err, ENOMEM, "%s", w->what);
		/* The name is one component, opened without following: the walk
		 * never leaves the tree it started in. */
		_cleanup_close_ int cfd = openat(fd, names[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0) {
			if (errno == ENOENT)
				continue;    /* removed by a running container meanwhile */
			return berth_errno(err, errno, "%s: %s", w->what, child);
		}
		struct stat cst;
		if (fstat(cfd, &cst) < 0)
			return berth_errno(err, errno, "%s: %s", w->what, child);
		if (w->upper && S_ISCHR(cst.st_mode) && cst.st_rdev == makedev(0, 0)) {
			_cleanup_free_ char *wh_name = NULL;
			if (asprintf(&wh_name, WH_PREFIX "%s", names[i]) < 0)
				return berth_errno(err, ENOMEM, "%s", w->what);
			_cleanup_free_ char *wh = arc_join(arcname, wh_name);
			int r = wh ? put_empty(w, wh, 0644, &cst, err) : berth_errno(err, ENOMEM, "%s", w->what);
			if (r < 0)
				return r;
			continue;
		}
		/* Mount points of the files the engine bind-mounts over: the
		 * runtime made them empty in the upper dir; they are no change. */
		if (w->upper && S_ISREG(cst.st_mode) && cst.st_size == 0 &&
		    (!strcmp(child, "etc/hosts") || !strcmp(child, "etc/hostname") || !strcmp(child, "etc/resolv.conf")))
			continue;
		int r = walk_node(w, cfd, &cst, child, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Reopen an O_PATH fd for reading.  The fd is ours: /proc/self/fd/N names
 * exactly that inode, whatever the tree looks like now. */
static int reopen(int opath, int flags)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", opath);
	int fd = open(p, flags | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

/* One node (an O_PATH fd) as `arcname`; "" = the root, whose children are emitted without it. */
static int walk_node(struct walker *w, int node, const struct stat *st, const char *arcname, struct berth_error *err)
{
	if (S_ISSOCK(st->st_mode))
		return 0;
	if (!*arcname) {
		if (!S_ISDIR(st->st_mode))
			return berth_err(err, ENOTDIR, "%s: not a directory", w->what);
		return walk_children(w, node, arcname, err);
	}
	_cleanup_entry_ struct archive_entry *ae = archive_entry_new();
	if (!ae)
		return berth_errno(err, ENOMEM, "%s", w->what);
	archive_entry_copy_stat(ae, st);
	archive_entry_set_pathname(ae, arcname);
	archive_entry_set_uname(ae, NULL);
	archive_entry_set_gname(ae, NULL);
	_cleanup_close_ int fd = -1;
	int r;
	if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(node, "", target, sizeof(target) - 1);
		if (n < 0)
			return berth_errno(err, errno, "%s: readlink %s", w->what, arcname);
		target[n] = '\0';
		archive_entry_set_symlink(ae, target);
		archive_entry_set_size(ae, 0);
	} else if (S_ISREG(st->st_mode)) {
		if (st->st_nlink > 1) {
			for (size_t i = 0; i < w->n_links; i++) {
				if (w->links[i].dev == st->st_dev && w->links[i].ino == st->st_ino) {
					archive_entry_set_hardlink(ae, w->links[i].name);
					archive_entry_set_size(ae, 0);
					return w->sink->put(w->sink, ae, -1, NULL, err);
				}
			}
			struct hard_link *l = realloc(w->links, (w->n_links + 1) * sizeof(*l));
			if (!l)
				return berth_errno(err, ENOMEM, "%s", w->what);
			w->links = l;
			l[w->n_links] = (struct hard_link) { st->st_dev, st->st_ino, strdup(arcname) };
			if (!l[w->n_links].name)
				return berth_errno(err, ENOMEM, "%s", w->what);
			w->n_links++;
		}
		fd = reopen(node, O_RDONLY);
		if (fd < 0)
			return berth_errno(err, fd, "%s: %s", w->what, arcname);
		r = add_xattrs(w, fd, ae, arcname, err);
		if (r < 0)
			return r;
	} else if (S_ISDIR(st->st_mode)) {
		fd = openat(node, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return berth_errno(err, errno, "%s: %s", w->what, arcname);
		r = add_xattrs(w, fd, ae, arcname, err);
		if (r < 0)
			return r;
	}
	r = w->sink->put(w->sink, ae, fd, NULL, err);
	if (r < 0 || !S_ISDIR(st->st_mode))
		return r;
	if (w->upper) {
		char v[4];
		ssize_t n = fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v));
		if (n == 1 && v[0] == 'y') {
			_cleanup_free_ char *opq = arc_join(arcname, WH_OPAQUE);
			r = opq ? put_empty(w, opq, 0644, st, err) : berth_errno(err, ENOMEM, "%s", w->what);
			if (r < 0)
				return r;
		}
	}
	return walk_children(w, node, arcname, err);
}

int copy_tree_to_tar(struct archive *a, int dirfd, bool overlay_upper, const char *what, struct berth_error *err)
{
	struct tar_sink t = { .base.put = tar_put, .a = a, .buf = malloc(COPY_BUF), .what = what };
	struct walker w = { .sink = &t.base, .upper = overlay_upper, .what = what };
	if (!t.buf)
		return berth_errno(err, ENOMEM, "%s", what);
	struct stat st;
	int r = fstat(dirfd, &st) < 0 ? berth_errno(err, errno, "%s", what) : walk_node(&w, dirfd, &st, "", err);
	walker_clear(&w);
	free(t.buf);
	return r;
}

/* ------------------------------------------------------------------ paths */

/* A cp path split docker's way: "a/b/" -> parent "a", base "b", slash;
 * "a/b/." -> contents of a/b; "/" and "." -> the root's contents. */
struct cp_path {
	char *parent, *base;
	bool slash, contents;
};

static void cp_path_clear(struct cp_path *p)
{
	free(p->parent);
	free(p->base);
}

static int cp_path_split(const char *path, struct cp_path *p, struct berth_error *err)
{
	size_t n = strlen(path);
	if (!n)
		return berth_err(err, EINVAL, "empty path");
	_cleanup_free_ char *s = strdup(path);
	if (!s)
		return berth_errno(err, ENOMEM, "%s", path);
	if (n >= 2 && !strcmp(s + n - 2, "/.")) {
		p->contents = true;
		s[n -= 2] = '\0';
	} else if (!strcmp(s, ".")) {
		p->contents = true;
		s[n = 0] = '\0';
	}
	while (n > 0 && s[n - 1] == '/') {
		p->slash = true;
		s[--n] = '\0';
	}
	if (!n) {   /* the root ("/" or "/.") */
		p->contents = true;
		p->parent = strdup(path[0] == '/' ? "/" : ".");
		p->base = strdup("");
	} else {
		char *slash = strrchr(s, '/');
		p->base = strdup(slash ? slash + 1 : s);
		if (slash)
			*slash = '\0';
		p->parent = strdup(!slash ? "." : slash == s ? "/" : s);
	}
	if (!p->parent || !p->base)
		return berth_errno(err, ENOMEM, "%s", path);
	if (!strcmp(p->base, ".."))
		p->contents = false;
	return 0;
}

/* One side of a copy: a container root (RESOLVE_IN_ROOT) or the host (plain paths). */
struct side {
	int rootfd;            /* -1: the host */
	const char *what;
};

static int side_open(const struct side *s, const char *path, int flags)
{
	if (s->rootfd >= 0)
		return berth_openat2(s->rootfd, path, flags | O_CLOEXEC, 0, 0);
	int fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int not_found(const struct side *s, const char *path, int r, struct berth_error *err)
{
	if (r == -ENOENT && s->rootfd >= 0)
		return berth_err(err, ENOENT, "Could not find the file %s in %s", path, s->what);
	return berth_errno(err, r, "%s: %s", s->what, path);
}

/* The source node (O_PATH fd + stat) and the name its tree gets. */
static int open_source(const struct side *s, const char *path, const struct cp_path *p, bool follow, int *node,
		       struct stat *st, struct berth_error *err)
{
	int fd;
	if (follow || !*p->base || !strcmp(p->base, "..") || p->contents) {
		fd = side_open(s, path, O_PATH);
	} else {
		_cleanup_close_ int pfd = side_open(s, p->parent, O_PATH | O_DIRECTORY);
		if (pfd < 0)
			return not_found(s, path, pfd, err);
		fd = openat(pfd, p->base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
	}
	if (fd < 0)
		return not_found(s, path, fd, err);
	if (fstat(fd, st) < 0) {
		int r = berth_errno(err, errno, "%s: %s", s->what, path);
		close(fd);
		return r;
	}
	if ((p->slash || p->contents) && !S_ISDIR(st->st_mode)) {
		close(fd);
		return berth_err(err, ENOTDIR, "%s: %s: not a directory", s->what, path);
	}
	*node = fd;
	return 0;
}

/* Where a source lands: the directory the entries are extracted into and
 * the name of the source's root entry ("" = its contents), by docker's rules. */
static int plan_dest(const struct side *d, const char *dest, bool src_dir, const struct cp_path *sp, int *basefd,
		     char **rootname, struct berth_error *err)
{
	struct cp_path dp = { 0 };
	int r = cp_path_split(dest, &dp, err);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = side_open(d, dest, O_PATH);
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* An existing directory receives the source under its own name. */
		*basefd = steal_fd(fd);
		*rootname = strdup(sp->contents ? "" : sp->base);
	} else if (fd >= 0 || fd == -ENOENT) {
		bool exists = fd >= 0;
		if (exists && src_dir)
			r = berth_err(err, ENOTDIR, "cannot copy a directory to a file: %s is not a directory", dest);
		else if (exists && dp.slash)
			r = berth_err(err, ENOTDIR, "%s: %s: not a directory", d->what, dest);
		else if (!exists && dp.slash && !src_dir)
			r = berth_err(err, ENOENT, "%s: the destination directory %s must exist", d->what, dest);
		else if (dp.contents || !*dp.base || !strcmp(dp.base, ".."))
			r = berth_err(err, EINVAL, "%s: %s: not a name to create", d->what, dest);
		if (r < 0)
			goto out;
		int pfd = side_open(d, dp.parent, O_PATH | O_DIRECTORY);
		if (pfd < 0) {
			r = pfd == -ENOENT || pfd == -ENOTDIR
				    ? berth_err(err, ENOENT, "%s: no such directory: %s", d->what, dp.parent)
				    : berth_errno(err, pfd, "%s: %s", d->what, dp.parent);
			goto out;
		}
		*basefd = pfd;
		*rootname = strdup(dp.base);
	} else {
		r = berth_errno(err, fd, "%s: %s", d->what, dest);
		goto out;
	}
	if (!*rootname) {
		close(*basefd);
		r = berth_errno(err, ENOMEM, "%s", dest);
	}
out:
	cp_path_clear(&dp);
	return r;
}

static int copy_tree(const struct side *src, const char *srcpath, const struct side *dst, const char *dest,
		     int out_fd, const struct copy_opts *o, struct berth_error *err)
{
	struct cp_path sp = { 0 };
	_cleanup_close_ int node = -1;
	_cleanup_free_ char *rootname = NULL;
	struct stat st;
	int r = cp_path_split(srcpath, &sp, err);
	if (r < 0)
		goto out;
	r = open_source(src, srcpath, &sp, o->follow_link, &node, &st, err);
	if (r < 0)
		goto out;
	if (!strcmp(dest, "-")) {
		_cleanup_(archive_writep) struct archive *a = archive_write_new();
		if (!a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
		    archive_write_open_fd(a, out_fd) != ARCHIVE_OK) {
			r = berth_err(err, EIO, "tar output: %s", a ? archive_error_string(a) : "out of memory");
			goto out;
		}
		struct tar_sink t = { .base.put = tar_put, .a = a, .buf = malloc(COPY_BUF), .what = src->what };
		struct walker w = { .sink = &t.base, .what = src->what };
		const char *name = sp.contents ? "" : sp.base;
		r = t.buf ? walk_node(&w, node, &st, name, err) : berth_errno(err, ENOMEM, "cp");
		walker_clear(&w);
		free(t.buf);
		if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
			r = berth_err(err, EIO, "tar output: %s", archive_error_string(a));
		goto out;
	}
	struct extract_sink x = {
		.base.put = extract_put, .basefd = -1, .what = dst->what, .dest = dest, .keep_owner = o->archive,
		.uid = dst->rootfd >= 0 ? 0 : geteuid(), .gid = dst->rootfd >= 0 ? 0 : getegid(),
		.buf = malloc(COPY_BUF),
	};
	if (!x.buf) {
		r = berth_errno(err, ENOMEM, "cp");
		goto out;
	}
	r = plan_dest(dst, dest, S_ISDIR(st.st_mode), &sp, &x.basefd, &rootname, err);
	if (r == 0) {
		struct walker w = { .sink = &x.base, .what = src->what };
		r = walk_node(&w, node, &st, rootname, err);
		walker_clear(&w);
		if (r == 0)
			extract_finish(&x);
	}
	extract_clear(&x);
out:
	cp_path_clear(&sp);
	return r;
}

/* ------------------------------------------------------------------ container side */

int copy_rootfs_open(struct engine *e, const char *id, struct berth_error *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/containers/%s/rootfs", e->root, id);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? berth_err(err, ENOENT, "No such container: %s", id)
				       : berth_errno(err, errno, "%s", path);
	struct statfs sf;
	if (fstatfs(fd, &sf) < 0 || sf.f_type != OVERLAYFS_SUPER_MAGIC) {
		close(fd);
		return berth_err(err, ENXIO,
				 "container %.12s: its root file system is not mounted (the host rebooted since it "
				 "ran?): start the container once to mount it again", id);
	}
	return fd;
}

int copy_from_container(struct engine *e, const char *id, const char *src, const char *dest, int out_fd,
			const struct copy_opts *o, struct berth_error *err)
{
	char what[64];
	snprintf(what, sizeof(what), "container %.12s", id);
	_cleanup_close_ int root = copy_rootfs_open(e, id, err);
	if (root < 0)
		return root;
	struct side s = { .rootfd = root, .what = what }, h = { .rootfd = -1, .what = "host" };
	return copy_tree(&s, src, &h, dest, out_fd, o, err);
}

static int check_writable(struct engine *e, const char *id, struct berth_error *err)
{
	struct ctr_record rec = { 0 };
	int r = ctr_record_get(e->images->db, id, &rec, err);
	if (r < 0)
		return r;
	json_t *ro = json_object_get(json_object_get(rec.record, "HostConfig"), "ReadonlyRootfs");
	if (json_is_true(ro))
		r = berth_err(err, EROFS, "container %.12s: its root file system is read-only (--read-only)", id);
	ctr_record_clear(&rec);
	return r;
}

/* A tar stream (plain or gzip) extracted into an existing directory. */
static int extract_stream(const struct side *d, const char *dest, int in_fd, const struct copy_opts *o,
			  struct berth_error *err)
{
	struct extract_sink x = {
		.base.put = extract_put, .basefd = -1, .what = d->what, .dest = dest, .keep_owner = o->archive,
		.uid = 0, .gid = 0, .buf = malloc(COPY_BUF),
	};
	_cleanup_(archive_readp) struct archive *a = archive_read_new();
	int r;
	if (!x.buf || !a) {
		r = berth_errno(err, ENOMEM, "cp");
		goto out;
	}
	x.basefd = side_open(d, dest, O_PATH | O_DIRECTORY);
	if (x.basefd < 0) {
		r = x.basefd == -ENOTDIR ? berth_err(err, ENOTDIR, "%s: %s: the destination of a tar stream must be a directory",
						     d->what, dest)
					 : not_found(d, dest, x.basefd, err);
		goto out;
	}
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	archive_read_support_filter_gzip(a);
	if (archive_read_open_fd(a, in_fd, COPY_BUF) != ARCHIVE_OK) {
		r = berth_err(err, EINVAL, "reading the tar stream: %s", archive_error_string(a));
		goto out;
	}
	for (;;) {
		struct archive_entry *ae;
		int ar = archive_read_next_header(a, &ae);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			r = berth_err(err, EINVAL, "reading the tar stream: %s", archive_error_string(a));
			goto out;
		}
		r = extract_put(&x.base, ae, -1, a, err);
		if (r < 0)
			goto out;
	}
	extract_finish(&x);
	r = 0;
out:
	extract_clear(&x);
	return r;
}

int copy_to_container(struct engine *e, const char *id, const char *src, const char *dest, int in_fd,
		      const struct copy_opts *o, struct berth_error *err)
{
	char what[64];
	snprintf(what, sizeof(what), "container %.12s", id);
	int r = check_writable(e, id, err);
	if (r < 0)
		return r;
	_cleanup_close_ int root = copy_rootfs_open(e, id, err);
	if (root < 0)
		return root;
	struct side s = { .rootfd = root, .what = what }, h = { .rootfd = -1, .what = "host" };
	if (!strcmp(src, "-"))
		return extract_stream(&s, dest, in_fd, o, err);
	return copy_tree(&h, src, &s, dest, -1, o, err);
}

int copy_export(struct engine *e, const char *id, int out_fd, struct berth_error *err)
{
	char what[64];
	snprintf(what, sizeof(what), "container %.12s", id);
	_cleanup_close_ int root = copy_rootfs_open(e, id, err);
	if (root < 0)
		return root;
	_cleanup_(archive_writep) struct archive *a = archive_write_new();
	if (!a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open_fd(a, out_fd) != ARCHIVE_OK)
		return berth_err(err, EIO, "export: %s", a ? archive_error_string(a) : "out of memory");
	int r = copy_tree_to_tar(a, root, false, what, err);
	if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
		r = berth_err(err, EIO, "export: %s", archive_error_string(a));
	return r;
}
