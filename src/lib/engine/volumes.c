#include "engine/volumes.h"
#include "core/cleanup.h"
#include "core/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define META "meta.json"
#define REFS "refs"
#define DATA "_data"
#define NAME_MAX_LEN 255
#define COPY_MAX_DEPTH 200

struct volume_store {
	char *dir;              /* <root>/volumes */
	int dirfd;
	struct berth_db *db;
};

/* jansson provides json_decrefp */
#define _cleanup_json_ _cleanup_(json_decrefp)

static bool name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n < 2 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

static int bad_name(struct berth_error *err, const char *name)
{
	return berth_err(err, EINVAL,
			 "\"%s\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. "
			 "If you intended to pass a host directory, use absolute path", name ? name : "");
}

int volume_store_open(const char *root, struct berth_db *db, struct volume_store **out, struct berth_error *err)
{
	_cleanup_free_ char *dir = NULL;
	if (asprintf(&dir, "%s/volumes", root) < 0)
		return berth_err(err, ENOMEM, "volumes: out of memory");
	int r = berth_mkdir_p(dir, 0700);
	if (r < 0)
		return berth_errno(err, -r, "volumes: create %s", dir);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return berth_errno(err, errno, "volumes: open %s", dir);
	struct volume_store *vs = calloc(1, sizeof(*vs));
	if (!vs) {
		close(fd);
		return berth_err(err, ENOMEM, "volumes: out of memory");
	}
	vs->dir = steal_ptr(dir);
	vs->dirfd = fd;
	vs->db = db;
	*out = vs;
	return 0;
}

void volume_store_close(struct volume_store *vs)
{
	if (!vs)
		return;
	if (vs->dirfd >= 0)
		close(vs->dirfd);
	free(vs->dir);
	free(vs);
}

/* Open and flock the volume's directory.  A remover renames the directory
 * away while holding the lock, so after we get the lock we check that the
 * name still leads to the inode we locked; if not, look again.  -ENOENT
 * when there is no such directory (or, with need_meta, no finished volume). */
static int lock_volume(struct volume_store *vs, const char *name, bool need_meta)
{
	for (;;) {
		_cleanup_close_ int fd = openat(vs->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		while (flock(fd, LOCK_EX) < 0)
			if (errno != EINTR)
				return -errno;
		struct stat a, b;
		if (fstat(fd, &a) < 0)
			return -errno;
		if (fstatat(vs->dirfd, name, &b, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
			continue;
		if (need_meta && faccessat(fd, META, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			return -ENOENT;
		return steal_fd(fd);
	}
}

static int read_meta(int vfd, json_t **out)
{
	_cleanup_free_ char *buf = NULL;
	int r = berth_read_file_at(vfd, META, &buf, NULL);
	if (r < 0)
		return r;
	json_t *j = json_loads(buf, 0, NULL);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		return -EBADMSG;
	}
	*out = j;
	return 0;
}

static int write_meta(int vfd, json_t *meta)
{
	_cleanup_free_ char *s = json_dumps(meta, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	return berth_write_file_atomic(vfd, META, s, strlen(s), 0600);
}

/* refs: container IDs, one a line.  Missing file = no references. */
static int read_refs(int vfd, char ***out, size_t *n_out)
{
	_cleanup_free_ char *buf = NULL;
	int r = berth_read_file_at(vfd, REFS, &buf, NULL);
	if (r == -ENOENT)
		buf = strdup("");
	else if (r < 0)
		return r;
	if (!buf)
		return -ENOMEM;
	size_t n = 0, cap = 4;
	_cleanup_strv_ char **v = calloc(cap + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!*line)
			continue;
		if (n == cap) {
			char **nv = realloc(v, (cap * 2 + 1) * sizeof(char *));
			if (!nv)
				return -ENOMEM;
			v = nv;
			cap *= 2;
		}
		if (!(v[n] = strdup(line)))
			return -ENOMEM;
		v[++n] = NULL;
	}
	*out = steal_ptr(v);
	*n_out = n;
	return 0;
}

static int write_refs(int vfd, char **refs)
{
	size_t len = 0;
	for (char **p = refs; *p; p++)
		len += strlen(*p) + 1;
	_cleanup_free_ char *buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	size_t off = 0;
	for (char **p = refs; *p; p++)
		off += (size_t) sprintf(buf + off, "%s\n", *p);
	buf[off] = '\0';
	return berth_write_file_atomic(vfd, REFS, buf, off, 0600);
}

static int random_hex(char *out, size_t nbytes)
{
	unsigned char rnd[64];
	if (nbytes > sizeof(rnd))
		return -EINVAL;
	size_t got = 0;
	while (got < nbytes) {
		ssize_t r = getrandom(rnd + got, nbytes - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t) r;
	}
	for (size_t i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", rnd[i]);
	return 0;
}

static void rfc3339_now(char buf[32])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* First creation of a volume, under its lock: _data, then meta.json last,
 * so meta.json's presence means "finished". */
static int init_volume(struct volume_store *vs, int vfd, const char *name, bool anonymous, json_t *labels,
		       struct berth_error *err)
{
	if (mkdirat(vfd, DATA, 0755) < 0 && errno != EEXIST)
		return berth_errno(err, errno, "volume create %s: mkdir %s", name, DATA);

	char created[32], mountpoint[PATH_MAX];
	rfc3339_now(created);
	snprintf(mountpoint, sizeof(mountpoint), "%s/%s/%s", vs->dir, name, DATA);
	_cleanup_json_ json_t *lab = labels ? json_deep_copy(labels) : json_object();
	if (!lab)
		return berth_err(err, ENOMEM, "volume create %s: out of memory", name);
	if (anonymous)
		json_object_set_new(lab, VOLUME_ANON_LABEL, json_string(""));
	_cleanup_json_ json_t *meta = json_pack("{s:s, s:O, s:s, s:s, s:b}", "CreatedAt", created, "Labels", lab,
						"Driver", "local", "Mountpoint", mountpoint, "CopiedUp", 0);
	if (!meta)
		return berth_err(err, ENOMEM, "volume create %s: out of memory", name);
	int r = write_meta(vfd, meta);
	if (r < 0)
		return berth_errno(err, -r, "volume create %s: write %s/%s/%s", name, vs->dir, name, META);
	return 0;
}

int volume_create(struct volume_store *vs, const char *name, json_t *labels, char **name_out,
		  struct berth_error *err)
{
	char anon[65];
	if (!name) {
		int r = random_hex(anon, 32);
		if (r < 0)
			return berth_errno(err, -r, "volume create: random name");
		name = anon;
	} else if (!name_valid(name)) {
		return bad_name(err, name);
	}
	if (labels && !json_is_object(labels))
		return berth_err(err, EINVAL, "volume create %s: labels must be a JSON object", name);
	if (labels) {
		const char *k;
		json_t *v;
		json_object_foreach(labels, k, v)
			if (!json_is_string(v))
				return berth_err(err, EINVAL, "volume create %s: label \"%s\" is not a string", name, k);
	}

	_cleanup_close_ int vfd = -1;
	for (int tries = 0; vfd < 0; tries++) {
		if (mkdirat(vs->dirfd, name, 0755) < 0 && errno != EEXIST)
			return berth_errno(err, errno, "volume create %s: mkdir %s/%s", name, vs->dir, name);
		int r = lock_volume(vs, name, false);
		if (r >= 0)
			vfd = r;
		else if (r != -ENOENT || tries > 8)   /* ENOENT: removed between mkdir and lock */
			return berth_errno(err, -r, "volume create %s: lock", name);
	}
	if (faccessat(vfd, META, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		int r = init_volume(vs, vfd, name, name == anon, labels, err);
		if (r < 0)
			return r;
	}
	if (name_out && !(*name_out = strdup(name)))
		return berth_err(err, ENOMEM, "volume create %s: out of memory", name);
	return 0;
}

int volume_path(struct volume_store *vs, const char *name, char *buf, size_t len)
{
	if (!name_valid(name))
		return -EINVAL;
	char meta[NAME_MAX_LEN + sizeof(META) + 2];
	snprintf(meta, sizeof(meta), "%s/%s", name, META);
	if (faccessat(vs->dirfd, meta, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	int n = snprintf(buf, len, "%s/%s/%s", vs->dir, name, DATA);
	if (n < 0 || (size_t) n >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- copy-up ---- */

struct hardlink { dev_t dev; ino_t ino; char *rel; };

struct copier {
	int data_fd;                 /* the volume's _data */
	const char *vol;
	struct hardlink *links;
	size_t n_links, cap_links;
	struct berth_error *err;
};

static void copy_xattrs(int src, int dst)
{
	char list[4096];
	ssize_t n = flistxattr(src, list, sizeof(list));
	if (n <= 0)
		return;
	for (char *k = list; k < list + n; k += strlen(k) + 1) {
		char val[4096];
		ssize_t vl = fgetxattr(src, k, val, sizeof(val));
		if (vl >= 0)
			(void) fsetxattr(dst, k, val, (size_t) vl, 0);   /* best effort: the fs may not take it */
	}
}

/* Owner, then mode (chown clears set-id bits), xattrs, times. */
static int copy_meta_fd(struct copier *c, int src, int dst, const struct stat *st, const char *rel)
{
	if (fchown(dst, st->st_uid, st->st_gid) < 0 && errno != EPERM && errno != EINVAL)
		return berth_errno(c->err, errno, "volume %s: copy-up: chown %s", c->vol, rel);
	if (fchmod(dst, st->st_mode & 07777) < 0)
		return berth_errno(c->err, errno, "volume %s: copy-up: chmod %s", c->vol, rel);
	if (src >= 0)
		copy_xattrs(src, dst);
	struct timespec t[2] = { st->st_atim, st->st_mtim };
	if (futimens(dst, t) < 0)
		return berth_errno(c->err, errno, "volume %s: copy-up: set times of %s", c->vol, rel);
	return 0;
}

static int copy_data(int src, int dst)
{
	for (;;) {
		ssize_t n = copy_file_range(src, NULL, dst, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return -errno;
		break;
	}
	char buf[65536];
	for (;;) {
		ssize_t n = read(src, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return 0;
		int r = berth_write_all(dst, buf, (size_t) n);
		if (r < 0)
			return r;
	}
}

static int copy_tree(struct copier *c, int src, int dst, char *rel, size_t rel_len, int depth);

static int copy_entry(struct copier *c, int src, int dst, const char *name, char *rel, size_t rel_len, int depth)
{
	struct stat st;
	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : berth_errno(c->err, errno, "volume %s: copy-up: stat %s", c->vol, rel);

	if (S_ISDIR(st.st_mode)) {
		/* a single component, no symlinks: cannot leave the directory we are in */
		_cleanup_close_ int s = berth_openat2(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0,
						      RESOLVE_NO_SYMLINKS);
		if (s < 0)
			return berth_errno(c->err, -s, "volume %s: copy-up: open %s", c->vol, rel);
		if (mkdirat(dst, name, 0700) < 0)
			return berth_errno(c->err, errno, "volume %s: copy-up: mkdir %s", c->vol, rel);
		_cleanup_close_ int d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (d < 0)
			return berth_errno(c->err, errno, "volume %s: copy-up: open %s", c->vol, rel);
		int r = copy_tree(c, s, d, rel, rel_len, depth + 1);
		if (r < 0)
			return r;
		return copy_meta_fd(c, s, d, &st, rel);
	}
	if (S_ISREG(st.st_mode)) {
		if (st.st_nlink > 1) {
			for (size_t i = 0; i < c->n_links; i++)
				if (c->links[i].dev == st.st_dev && c->links[i].ino == st.st_ino) {
					if (linkat(c->data_fd, c->links[i].rel, dst, name, 0) < 0)
						return berth_errno(c->err, errno, "volume %s: copy-up: link %s", c->vol, rel);
					return 0;
				}
		}
		_cleanup_close_ int s = berth_openat2(src, name, O_RDONLY | O_NOFOLLOW, 0, RESOLVE_NO_SYMLINKS);
		if (s < 0)
			return berth_errno(c->err, -s, "volume %s: copy-up: open %s", c->vol, rel);
		_cleanup_close_ int d = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (d < 0)
			return berth_errno(c->err, errno, "volume %s: copy-up: create %s", c->vol, rel);
		int r = copy_data(s, d);
		if (r < 0)
			return berth_errno(c->err, -r, "volume %s: copy-up: copy %s", c->vol, rel);
		if ((r = copy_meta_fd(c, s, d, &st, rel)) < 0)
			return r;
		if (st.st_nlink > 1) {
			if (c->n_links == c->cap_links) {
				size_t cap = c->cap_links ? c->cap_links * 2 : 16;
				struct hardlink *nl = realloc(c->links, cap * sizeof(*nl));
				if (!nl)
					return berth_err(c->err, ENOMEM, "volume %s: copy-up: out of memory", c->vol);
				c->links = nl;
				c->cap_links = cap;
			}
			char *dup = strdup(rel + 1);     /* relative to _data, without the leading '/' */
			if (!dup)
				return berth_err(c->err, ENOMEM, "volume %s: copy-up: out of memory", c->vol);
			c->links[c->n_links++] = (struct hardlink) { st.st_dev, st.st_ino, dup };
		}
		return 0;
	}
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(src, name, target, sizeof(target) - 1);
		if (n < 0)
			return berth_errno(c->err, errno, "volume %s: copy-up: readlink %s", c->vol, rel);
		target[n] = '\0';
		if (symlinkat(target, dst, name) < 0)
			return berth_errno(c->err, errno, "volume %s: copy-up: symlink %s", c->vol, rel);
		if (fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM &&
		    errno != EINVAL)
			return berth_errno(c->err, errno, "volume %s: copy-up: chown %s", c->vol, rel);
		struct timespec t[2] = { st.st_atim, st.st_mtim };
		(void) utimensat(dst, name, t, AT_SYMLINK_NOFOLLOW);
		return 0;
	}
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
		if (mknodat(dst, name, (st.st_mode & S_IFMT) | 0600, st.st_rdev) < 0)
			return berth_errno(c->err, errno, "volume %s: copy-up: mknod %s", c->vol, rel);
		_cleanup_close_ int d = openat(dst, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (d < 0)
			return berth_errno(c->err, errno, "volume %s: copy-up: open %s", c->vol, rel);
		char p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", d);
		if (chown(p, st.st_uid, st.st_gid) < 0 && errno != EPERM && errno != EINVAL)
			return berth_errno(c->err, errno, "volume %s: copy-up: chown %s", c->vol, rel);
		if (chmod(p, st.st_mode & 07777) < 0)
			return berth_errno(c->err, errno, "volume %s: copy-up: chmod %s", c->vol, rel);
		struct timespec t[2] = { st.st_atim, st.st_mtim };
		(void) utimensat(AT_FDCWD, p, t, 0);
		return 0;
	}
	return 0;   /* sockets mean nothing without their process */
}

static int copy_tree(struct copier *c, int src, int dst, char *rel, size_t rel_len, int depth)
{
	if (depth > COPY_MAX_DEPTH)
		return berth_err(c->err, ELOOP, "volume %s: copy-up: %s is nested more than %d levels deep",
				 c->vol, rel, COPY_MAX_DEPTH);
	int dfd = dup(src);
	if (dfd < 0)
		return berth_errno(c->err, errno, "volume %s: copy-up: dup", c->vol);
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return berth_errno(c->err, errno, "volume %s: copy-up: read %s", c->vol, rel_len ? rel : "/");
	}
	rewinddir(d);
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		size_t nl = strlen(de->d_name);
		if (rel_len + 1 + nl >= PATH_MAX)
			return berth_err(c->err, ENAMETOOLONG, "volume %s: copy-up: path too long: %s/%s", c->vol, rel,
					 de->d_name);
		rel[rel_len] = '/';
		memcpy(rel + rel_len + 1, de->d_name, nl + 1);
		int r = copy_entry(c, src, dst, de->d_name, rel, rel_len + 1 + nl, depth);
		rel[rel_len] = '\0';
		if (r < 0)
			return r;
	}
	if (errno)
		return berth_errno(c->err, errno, "volume %s: copy-up: read %s", c->vol, rel_len ? rel : "/");
	return 0;
}

static int dir_is_empty(int fd)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			return 0;
	return 1;
}

static void empty_dir(int fd)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			(void) berth_rm_rf_at(fd, de->d_name);
}

int volume_copy_up(struct volume_store *vs, const char *name, int rootfs_dirfd, const char *dst,
		   struct berth_error *err)
{
	if (!name_valid(name))
		return bad_name(err, name);
	int r = lock_volume(vs, name, true);
	if (r < 0)
		return r == -ENOENT ? berth_err(err, ENOENT, "no such volume: %s", name)
				    : berth_errno(err, -r, "volume %s: lock", name);
	_cleanup_close_ int vfd = r;
	_cleanup_json_ json_t *meta = NULL;
	if ((r = read_meta(vfd, &meta)) < 0)
		return berth_errno(err, -r, "volume %s: read %s/%s/%s", name, vs->dir, name, META);
	if (json_is_true(json_object_get(meta, "CopiedUp")))
		return 0;
	_cleanup_close_ int data = openat(vfd, DATA, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (data < 0)
		return berth_errno(err, errno, "volume %s: open %s", name, DATA);

	r = dir_is_empty(data);
	if (r < 0)
		return berth_errno(err, -r, "volume %s: read %s", name, DATA);
	if (r == 1) {
		_cleanup_close_ int src = berth_open_in_root(rootfs_dirfd, dst, O_RDONLY | O_DIRECTORY, 0);
		if (src < 0 && src != -ENOENT && src != -ENOTDIR)
			return berth_errno(err, -src, "volume %s: copy-up: open %s in the container root", name, dst);
		if (src >= 0) {
			struct copier c = { .data_fd = data, .vol = name, .err = err };
			char rel[PATH_MAX] = "";
			struct stat st;
			r = fstat(src, &st) < 0 ? berth_errno(err, errno, "volume %s: copy-up: stat %s", name, dst)
						: copy_tree(&c, src, data, rel, 0, 0);
			if (r == 0)
				r = copy_meta_fd(&c, src, data, &st, "/");
			for (size_t i = 0; i < c.n_links; i++)
				free(c.links[i].rel);
			free(c.links);
			if (r < 0) {
				empty_dir(data);   /* a later use tries again from scratch */
				berth_error_prefix(err, "copy %s into volume", dst);
				return r;
			}
		}
	}
	json_object_set_new(meta, "CopiedUp", json_true());
	if ((r = write_meta(vfd, meta)) < 0)
		return berth_errno(err, -r, "volume %s: write %s", name, META);
	return 0;
}

/* ---- references ---- */

static bool ctr_id_valid(const char *id)
{
	if (!id || !*id || strlen(id) > 128)
		return false;
	for (const char *p = id; *p; p++)
		if (*p == '\n' || *p == '/')
			return false;
	return true;
}

int volume_ref(struct volume_store *vs, const char *name, const char *ctr_id, struct berth_error *err)
{
	if (!name_valid(name))
		return bad_name(err, name);
	if (!ctr_id_valid(ctr_id))
		return berth_err(err, EINVAL, "volume %s: invalid container id \"%s\"", name, ctr_id ? ctr_id : "");
	int r = lock_volume(vs, name, true);
	if (r < 0)
		return r == -ENOENT ? berth_err(err, ENOENT, "no such volume: %s", name)
				    : berth_errno(err, -r, "volume %s: lock", name);
	_cleanup_close_ int vfd = r;
	_cleanup_strv_ char **refs = NULL;
	size_t n;
	if ((r = read_refs(vfd, &refs, &n)) < 0)
		return berth_errno(err, -r, "volume %s: read %s", name, REFS);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(refs[i], ctr_id))
			return 0;
	char **nv = realloc(refs, (n + 2) * sizeof(char *));
	if (!nv)
		return berth_err(err, ENOMEM, "volume %s: out of memory", name);
	refs = nv;
	if (!(refs[n] = strdup(ctr_id)))
		return berth_err(err, ENOMEM, "volume %s: out of memory", name);
	refs[n + 1] = NULL;
	if ((r = write_refs(vfd, refs)) < 0)
		return berth_errno(err, -r, "volume %s: write %s/%s/%s", name, vs->dir, name, REFS);
	return 0;
}

static int unref_one(struct volume_store *vs, const char *name, const char *ctr_id, struct berth_error *err)
{
	int r = lock_volume(vs, name, false);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return berth_errno(err, -r, "volume %s: lock", name);
	_cleanup_close_ int vfd = r;
	_cleanup_strv_ char **refs = NULL;
	size_t n;
	if ((r = read_refs(vfd, &refs, &n)) < 0)
		return berth_errno(err, -r, "volume %s: read %s", name, REFS);
	size_t k = 0;
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(refs[i], ctr_id)) {
			free(refs[i]);
			found = true;
		} else {
			refs[k++] = refs[i];
		}
	}
	refs[k] = NULL;
	if (found && (r = write_refs(vfd, refs)) < 0)
		return berth_errno(err, -r, "volume %s: write %s", name, REFS);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Names of the (finished or not) volumes, sorted; hidden entries are
 * removals in progress. */
static int list_names(struct volume_store *vs, char ***out, size_t *n_out)
{
	int dfd = openat(vs->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	size_t n = 0, cap = 16;
	_cleanup_strv_ char **v = calloc(cap + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (!name_valid(de->d_name))
			continue;
		if (n == cap) {
			char **nv = realloc(v, (cap * 2 + 1) * sizeof(char *));
			if (!nv)
				return -ENOMEM;
			v = nv;
			cap *= 2;
		}
		if (!(v[n] = strdup(de->d_name)))
			return -ENOMEM;
		v[++n] = NULL;
	}
	if (errno)
		return -errno;
	qsort(v, n, sizeof(char *), cmp_str);
	*out = steal_ptr(v);
	*n_out = n;
	return 0;
}

int volume_unref(struct volume_store *vs, const char *ctr_id, struct berth_error *err)
{
	if (!ctr_id_valid(ctr_id))
		return berth_err(err, EINVAL, "volumes: invalid container id \"%s\"", ctr_id ? ctr_id : "");
	_cleanup_strv_ char **names = NULL;
	size_t n;
	int r = list_names(vs, &names, &n);
	if (r < 0)
		return berth_errno(err, -r, "volumes: list %s", vs->dir);
	for (size_t i = 0; i < n; i++)
		if ((r = unref_one(vs, names[i], ctr_id, err)) < 0)
			return r;
	return 0;
}

int volume_in_use(struct volume_store *vs, const char *name)
{
	if (!name_valid(name))
		return -EINVAL;
	int r = lock_volume(vs, name, true);
	if (r < 0)
		return r;
	_cleanup_close_ int vfd = r;
	_cleanup_strv_ char **refs = NULL;
	size_t n;
	if ((r = read_refs(vfd, &refs, &n)) < 0)
		return r;
	return n > 0;
}

/* ---- removal ---- */

static int64_t tree_size(int dirfd, int depth)
{
	if (depth > 512)
		return 0;
	int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	int64_t sum = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				sum += tree_size(sub, depth + 1);
		} else {
			sum += st.st_size;
		}
	}
	return sum;
}

/* Called with the volume locked (vfd).  The directory is first renamed to a
 * hidden name, so nobody can find a half-deleted volume. */
static int remove_locked(struct volume_store *vs, const char *name, int vfd, int64_t *size,
			 struct berth_error *err)
{
	_cleanup_strv_ char **refs = NULL;
	size_t n;
	int r = read_refs(vfd, &refs, &n);
	if (r < 0)
		return berth_errno(err, -r, "remove %s: read %s", name, REFS);
	if (n > 0) {
		char list[512] = "";
		size_t used = 0;
		for (size_t i = 0; i < n && used < sizeof(list) - 1; i++) {
			int w = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", refs[i]);
			if (w < 0)
				break;
			used += (size_t) w;
		}
		return berth_err(err, EBUSY, "remove %s: volume is in use - [%s]", name, list);
	}
	if (size) {
		/* what docker reports: the data, not our bookkeeping files */
		_cleanup_close_ int data = openat(vfd, DATA, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		*size = data >= 0 ? tree_size(data, 0) : 0;
	}
	char trash[80];
	char hex[17];
	if ((r = random_hex(hex, 8)) < 0)
		return berth_errno(err, -r, "remove %s: random name", name);
	snprintf(trash, sizeof(trash), ".trash-%s", hex);
	if (renameat(vs->dirfd, name, vs->dirfd, trash) < 0)
		return berth_errno(err, errno, "remove %s: rename %s/%s", name, vs->dir, name);
	if ((r = berth_rm_rf_at(vs->dirfd, trash)) < 0)
		return berth_errno(err, -r, "remove %s: delete %s/%s", name, vs->dir, trash);
	return 0;
}

int volume_remove(struct volume_store *vs, const char *name, bool force, struct berth_error *err)
{
	if (!name_valid(name)) {
		if (force)
			return 0;
		return berth_err(err, ENOENT, "no such volume: %s", name ? name : "");
	}
	int r = lock_volume(vs, name, false);
	if (r == -ENOENT)
		return force ? 0 : berth_err(err, ENOENT, "no such volume: %s", name);
	if (r < 0)
		return berth_errno(err, -r, "remove %s: lock", name);
	_cleanup_close_ int vfd = r;
	return remove_locked(vs, name, vfd, NULL, err);
}

/* ---- listing ---- */

static json_t *inspect_fd(struct volume_store *vs, const char *name, int vfd, int *rc)
{
	_cleanup_json_ json_t *meta = NULL;
	*rc = read_meta(vfd, &meta);
	if (*rc < 0)
		return NULL;
	char mountpoint[PATH_MAX];
	snprintf(mountpoint, sizeof(mountpoint), "%s/%s/%s", vs->dir, name, DATA);
	json_t *labels = json_object_get(meta, "Labels");
	json_t *created = json_object_get(meta, "CreatedAt");
	json_t *j = json_pack("{s:s, s:s, s:O, s:s, s:s, s:n, s:s}",
			      "CreatedAt", json_is_string(created) ? json_string_value(created) : "",
			      "Driver", "local",
			      "Labels", json_is_object(labels) ? labels : json_null(),
			      "Mountpoint", mountpoint, "Name", name, "Options", "Scope", "local");
	if (!j)
		*rc = -ENOMEM;
	return j;
}

json_t *volume_inspect(struct volume_store *vs, const char *name, struct berth_error *err)
{
	if (!name_valid(name)) {
		berth_err(err, ENOENT, "no such volume: %s", name ? name : "");
		return NULL;
	}
	/* meta.json is replaced atomically: readers need no lock */
	_cleanup_close_ int vfd = openat(vs->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (vfd < 0) {
		if (errno == ENOENT)
			berth_err(err, ENOENT, "no such volume: %s", name);
		else
			berth_errno(err, errno, "volume %s: open %s/%s", name, vs->dir, name);
		return NULL;
	}
	int rc;
	json_t *j = inspect_fd(vs, name, vfd, &rc);
	if (!j) {
		if (rc == -ENOENT)
			berth_err(err, ENOENT, "no such volume: %s", name);
		else
			berth_errno(err, -rc, "volume %s: read %s/%s/%s", name, vs->dir, name, META);
	}
	return j;
}

int volume_list(struct volume_store *vs, json_t **out, struct berth_error *err)
{
	_cleanup_strv_ char **names = NULL;
	size_t n;
	int r = list_names(vs, &names, &n);
	if (r < 0)
		return berth_errno(err, -r, "volumes: list %s", vs->dir);
	_cleanup_json_ json_t *arr = json_array();
	if (!arr)
		return berth_err(err, ENOMEM, "volumes: out of memory");
	for (size_t i = 0; i < n; i++) {
		_cleanup_close_ int vfd = openat(vs->dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (vfd < 0)
			continue;   /* removed meanwhile */
		int rc;
		json_t *j = inspect_fd(vs, names[i], vfd, &rc);
		if (!j) {
			if (rc == -ENOENT)
				continue;   /* being created or removed */
			return berth_errno(err, -rc, "volume %s: read %s/%s/%s", names[i], vs->dir, names[i], META);
		}
		json_array_append_new(arr, j);
	}
	*out = steal_ptr(arr);
	return 0;
}

int volume_prune(struct volume_store *vs, char ***removed, int64_t *reclaimed, struct berth_error *err)
{
	_cleanup_strv_ char **names = NULL;
	size_t n;
	int r = list_names(vs, &names, &n);
	if (r < 0)
		return berth_errno(err, -r, "volumes: list %s", vs->dir);
	_cleanup_strv_ char **gone = calloc(n + 1, sizeof(char *));
	if (!gone)
		return berth_err(err, ENOMEM, "volumes: out of memory");
	size_t k = 0;
	int64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		r = lock_volume(vs, names[i], false);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return berth_errno(err, -r, "prune: lock volume %s", names[i]);
		_cleanup_close_ int vfd = r;
		_cleanup_strv_ char **refs = NULL;
		size_t nrefs;
		if ((r = read_refs(vfd, &refs, &nrefs)) < 0)
			return berth_errno(err, -r, "prune: volume %s: read %s", names[i], REFS);
		if (nrefs > 0)
			continue;
		int64_t size = 0;
		if ((r = remove_locked(vs, names[i], vfd, &size, err)) < 0)
			return r;
		total += size;
		if (!(gone[k] = strdup(names[i])))
			return berth_err(err, ENOMEM, "volumes: out of memory");
		k++;
	}
	/* leftovers of removals that crashed half way */
	int dfd = openat(vs->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		DIR *d = fdopendir(dfd);
		if (d) {
			struct dirent *de;
			while ((de = readdir(d)))
				if (!strncmp(de->d_name, ".trash-", 7))
					(void) berth_rm_rf_at(vs->dirfd, de->d_name);
			closedir(d);
		} else {
			close(dfd);
		}
	}
	if (reclaimed)
		*reclaimed = total;
	if (removed)
		*removed = steal_ptr(gone);
	return (int) k;
}
