#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "image/unpack.h"

#define MTIME 1600000000

/* Every test extracts into <parent>/layer; <parent> must end up holding
 * nothing but the layer, whatever the tar tried. */
struct ctx {
	char parent[PATH_MAX];
	char layer[PATH_MAX];
	int layer_fd;
	char outside[64];       /* a host directory hostile links point at, if any */
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	strcpy(c->parent, "/tmp/berth-unpack.XXXXXX");
	assert_non_null(mkdtemp(c->parent));
	snprintf(c->layer, sizeof(c->layer), "%s/layer", c->parent);
	assert_int_equal(mkdir(c->layer, 0755), 0);
	c->layer_fd = open(c->layer, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(c->layer_fd >= 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	close(c->layer_fd);
	berth_rm_rf(c->parent);
	if (c->outside[0])
		berth_rm_rf(c->outside);
	free(c);
	return 0;
}

/* ---- tar builder (libarchive's writer into a memfd) ---- */

struct tarb {
	struct archive *a;
	int fd;
};

static struct tarb *tar_new(void)
{
	struct tarb *t = calloc(1, sizeof(*t));
	t->fd = memfd_create("tar", MFD_CLOEXEC);
	assert_true(t->fd >= 0);
	t->a = archive_write_new();
	assert_int_equal(archive_write_set_format_pax(t->a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_fd(t->a, t->fd), ARCHIVE_OK);
	return t;
}

/* Finish the archive; returns a readable fd at offset 0. */
static int tar_done(struct tarb *t)
{
	assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
	archive_write_free(t->a);
	int fd = t->fd;
	free(t);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static struct archive_entry *ent(const char *path, mode_t type, mode_t perm)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, MTIME, 0);
	archive_entry_set_size(e, 0);
	return e;
}

static void put(struct tarb *t, struct archive_entry *e, const void *data, size_t len)
{
	if (data)
		archive_entry_set_size(e, (la_int64_t) len);
	assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
	if (data && len)
		assert_int_equal(archive_write_data(t->a, data, len), (la_ssize_t) len);
	archive_entry_free(e);
}

static void add_file(struct tarb *t, const char *path, mode_t perm, const char *data)
{
	put(t, ent(path, AE_IFREG, perm), data, strlen(data));
}

static void add_dir(struct tarb *t, const char *path, mode_t perm)
{
	put(t, ent(path, AE_IFDIR, perm), NULL, 0);
}

static void add_symlink(struct tarb *t, const char *path, const char *target)
{
	struct archive_entry *e = ent(path, AE_IFLNK, 0777);
	archive_entry_set_symlink(e, target);
	put(t, e, NULL, 0);
}

static void add_hardlink(struct tarb *t, const char *path, const char *target)
{
	struct archive_entry *e = ent(path, AE_IFREG, 0644);
	archive_entry_set_hardlink(e, target);
	put(t, e, NULL, 0);
}

static int unpack(struct ctx *c, int tarfd, const struct unpack_opts *opts, struct unpack_stats *st,
		  struct berth_error *err)
{
	int r = image_unpack(tarfd, c->layer_fd, opts, "sha256:test", st, err);
	close(tarfd);
	return r;
}

/* ---- assertions ---- */

static void stat_in(struct ctx *c, const char *path, struct stat *st)
{
	if (fstatat(c->layer_fd, path, st, AT_SYMLINK_NOFOLLOW) < 0)
		fail_msg("%s: %s", path, strerror(errno));
}

static bool exists_in(struct ctx *c, const char *path)
{
	struct stat st;
	return fstatat(c->layer_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void assert_content(struct ctx *c, const char *path, const char *want)
{
	int fd = openat(c->layer_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	assert_true(fd >= 0);
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static size_t count_entries(const char *dir, const char *only)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (only && strcmp(de->d_name, only) != 0)
			fail_msg("unexpected \"%s\" in %s", de->d_name, dir);
		n++;
	}
	closedir(d);
	return n;
}

/* Nothing was created next to the layer. */
static void assert_contained(struct ctx *c)
{
	assert_int_equal(count_entries(c->parent, "layer"), 1);
	assert_int_equal(access("/etc/pwned", F_OK), -1);
	assert_int_equal(access("/etc/x", F_OK), -1);
}

static ssize_t xattr_in(struct ctx *c, const char *path, const char *name, char *buf, size_t len)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", c->layer, path);
	return lgetxattr(p, name, buf, len);
}

/* ---- tests ---- */

static void full_tree(void **state)
{
	struct ctx *c = *state;
	struct tarb *t = tar_new();
	add_dir(t, "./", 0711);
	add_dir(t, "./etc/", 0755);
	add_file(t, "./etc/passwd", 0644, "root:x:0:0::/root:/bin/sh\n");
	/* implicit parents bin/ and usr/bin/ */
	put(t, ent("bin/su", AE_IFREG, 04755), "su-binary", 9);
	struct archive_entry *e = ent("usr/bin/wall", AE_IFREG, 02755);
	archive_entry_set_uid(e, 1234);
	archive_entry_set_gid(e, 5678);
	archive_entry_set_mtime(e, 1500000000, 123456789);
	put(t, e, "wall", 4);
	add_dir(t, "tmp", 01777);
	e = ent("home/user", AE_IFDIR, 0700);
	archive_entry_set_uid(e, 1234);
	archive_entry_set_gid(e, 5678);
	put(t, e, NULL, 0);
	e = ent("lib", AE_IFLNK, 0777);
	archive_entry_set_symlink(e, "usr/lib");
	archive_entry_set_uid(e, 1234);
	archive_entry_set_gid(e, 5678);
	archive_entry_set_mtime(e, 1400000000, 0);
	put(t, e, NULL, 0);
	add_symlink(t, "abs", "/usr/lib/../../etc/passwd");
	add_hardlink(t, "bin/su2", "bin/su");
	add_hardlink(t, "./bin/su3", "./bin/su");
	put(t, ent("run/fifo", AE_IFIFO, 0620), NULL, 0);
	e = ent("dev/null", AE_IFCHR, 0666);
	archive_entry_set_rdevmajor(e, 1);
	archive_entry_set_rdevminor(e, 3);
	put(t, e, NULL, 0);
	e = ent("dev/loop9", AE_IFBLK, 0660);
	archive_entry_set_rdevmajor(e, 7);
	archive_entry_set_rdevminor(e, 9);
	archive_entry_set_gid(e, 6);
	put(t, e, NULL, 0);
	/* v2 file capability: effective, permitted = CAP_NET_RAW */
	uint32_t cap[5] = { 0x02000001, 1u << 13, 0, 0, 0 };
	e = ent("bin/ping", AE_IFREG, 0755);
	archive_entry_xattr_add_entry(e, "security.capability", cap, sizeof(cap));
	archive_entry_xattr_add_entry(e, "user.x", "hello", 5);
	archive_entry_xattr_add_entry(e, "security.selinux", "system_u:object_r:bin_t:s0", 26);
	archive_entry_xattr_add_entry(e, "trusted.overlay.redirect", "/elsewhere", 10);
	put(t, e, "ping", 4);
	e = ent("data", AE_IFDIR, 0755);
	archive_entry_xattr_add_entry(e, "user.dir", "d", 1);
	put(t, e, NULL, 0);
	/* In the C locale the pax writer warns that it cannot convert the
	 * name to UTF-8, and stores the bytes as they are. */
	e = ent("caf\xc3\xa9/na\xc3\xafve", AE_IFREG, 0644);
	archive_entry_set_size(e, 4);
	int wr = archive_write_header(t->a, e);
	assert_true(wr == ARCHIVE_OK || wr == ARCHIVE_WARN);
	assert_int_equal(archive_write_data(t->a, "utf8", 4), 4);
	archive_entry_free(e);
	struct unpack_stats st = { 0 };
	struct berth_error err = { 0 };
	assert_int_equal(unpack(c, tar_done(t), NULL, &st, &err), 0);
	assert_string_equal(err.msg, "");
	assert_int_equal(st.entries, 17);
	assert_int_equal(st.bytes, strlen("root:x:0:0::/root:/bin/sh\n") + 9 + 4 + 4 + 4);

	struct stat s;
	stat_in(c, ".", &s);
	assert_int_equal(s.st_mode & 07777, 0711);
	assert_int_equal(s.st_mtime, MTIME);
	assert_content(c, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
	stat_in(c, "etc/passwd", &s);
	assert_int_equal(s.st_mode, S_IFREG | 0644);
	assert_int_equal(s.st_mtime, MTIME);
	stat_in(c, "etc", &s);
	assert_int_equal(s.st_mode, S_IFDIR | 0755);
	assert_int_equal(s.st_mtime, MTIME);   /* not the time etc/passwd was made */

	stat_in(c, "bin/su", &s);
	assert_int_equal(s.st_mode, S_IFREG | 04755);
	assert_int_equal(s.st_uid, 0);
	assert_int_equal(s.st_nlink, 3);
	struct stat s2, s3;
	stat_in(c, "bin/su2", &s2);
	stat_in(c, "bin/su3", &s3);
	assert_int_equal(s.st_ino, s2.st_ino);
	assert_int_equal(s.st_ino, s3.st_ino);
	stat_in(c, "bin", &s);
	assert_int_equal(s.st_mode, S_IFDIR | 0755);

	/* setgid survives the chown */
	stat_in(c, "usr/bin/wall", &s);
	assert_int_equal(s.st_mode, S_IFREG | 02755);
	assert_int_equal(s.st_uid, 1234);
	assert_int_equal(s.st_gid, 5678);
	assert_int_equal(s.st_mtim.tv_sec, 1500000000);
	assert_int_equal(s.st_mtim.tv_nsec, 123456789);
	assert_content(c, "usr/bin/wall", "wall");

	stat_in(c, "tmp", &s);
	assert_int_equal(s.st_mode, S_IFDIR | 01777);
	stat_in(c, "home/user", &s);
	assert_int_equal(s.st_mode, S_IFDIR | 0700);
	assert_int_equal(s.st_uid, 1234);
	assert_int_equal(s.st_gid, 5678);

	char buf[PATH_MAX];
	ssize_t n = readlinkat(c->layer_fd, "lib", buf, sizeof(buf));
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "usr/lib", 7);
	stat_in(c, "lib", &s);
	assert_true(S_ISLNK(s.st_mode));
	assert_int_equal(s.st_uid, 1234);
	assert_int_equal(s.st_gid, 5678);
	assert_int_equal(s.st_mtime, 1400000000);
	n = readlinkat(c->layer_fd, "abs", buf, sizeof(buf));
	assert_int_equal(n, (ssize_t) strlen("/usr/lib/../../etc/passwd"));   /* verbatim */

	stat_in(c, "run/fifo", &s);
	assert_int_equal(s.st_mode, S_IFIFO | 0620);
	stat_in(c, "dev/null", &s);
	assert_int_equal(s.st_mode, S_IFCHR | 0666);
	assert_int_equal(major(s.st_rdev), 1);
	assert_int_equal(minor(s.st_rdev), 3);
	stat_in(c, "dev/loop9", &s);
	assert_int_equal(s.st_mode, S_IFBLK | 0660);
	assert_int_equal(s.st_rdev, makedev(7, 9));
	assert_int_equal(s.st_gid, 6);

	uint32_t got[5] = { 0 };
	assert_int_equal(xattr_in(c, "bin/ping", "security.capability", (char *) got, sizeof(got)), sizeof(cap));
	assert_memory_equal(got, cap, sizeof(cap));
	assert_int_equal(xattr_in(c, "bin/ping", "user.x", buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(xattr_in(c, "bin/ping", "security.selinux", buf, sizeof(buf)), -1);
	assert_int_equal(xattr_in(c, "bin/ping", "trusted.overlay.redirect", buf, sizeof(buf)), -1);
	assert_int_equal(xattr_in(c, "data", "user.dir", buf, sizeof(buf)), 1);

	assert_content(c, "caf\xc3\xa9/na\xc3\xafve", "utf8");
	assert_contained(c);
}

static void no_chown_keeps_caller_ids(void **state)
{
	struct ctx *c = *state;
	struct tarb *t = tar_new();
	struct archive_entry *e = ent("f", AE_IFREG, 0640);
	archive_entry_set_uid(e, 1234);
	archive_entry_set_gid(e, 5678);
	put(t, e, "x", 1);
	e = ent("d", AE_IFDIR, 0750);
	archive_entry_set_uid(e, 1234);
	put(t, e, NULL, 0);
	struct unpack_opts o = { .no_chown = true };
	struct berth_error err = { 0 };
	assert_int_equal(unpack(c, tar_done(t), &o, NULL, &err), 0);
	struct stat s;
	stat_in(c, "f", &s);
	assert_int_equal(s.st_uid, getuid());
	assert_int_equal(s.st_mode & 07777, 0640);
	stat_in(c, "d", &s);
	assert_int_equal(s.st_uid, getuid());
	assert_int_equal(s.st_mode & 07777, 0750);
}

static void whiteouts(void **state)
{
	struct ctx *c = *state;
	struct tarb *t = tar_new();
	add_file(t, "x/.wh.gone", 0644, "");
	add_file(t, "f", 0644, "replaced by a whiteout");
	add_file(t, ".wh.f", 0644, "");
	add_dir(t, "tree", 0755);
	add_file(t, "tree/leaf", 0644, "leaf");
	add_file(t, ".wh.tree", 0644, "");
	add_file(t, "deep/er/.wh.name", 0644, "");
	/* aufs metadata: ignored with everything below it */
	add_dir(t, ".wh..wh.plnk", 0700);
	add_file(t, ".wh..wh.plnk/123.456", 0644, "aufs");
	add_file(t, "a/.wh..wh.aufs", 0644, "");
	struct berth_error err = { 0 };
	assert_int_equal(unpack(c, tar_done(t), NULL, NULL, &err), 0);
	const char *wh[] = { "x/gone", "f", "tree", "deep/er/name" };
	for (size_t i = 0; i < sizeof(wh) / sizeof(wh[0]); i++) {
		struct stat s;
		stat_in(c, wh[i], &s);
		assert_true(S_ISCHR(s.st_mode));
		assert_int_equal(s.st_rdev, makedev(0, 0));
	}
	assert_false(exists_in(c, "x/.wh.gone"));
	assert_false(exists_in(c, ".wh.f"));
	assert_false(exists_in(c, ".wh..wh.plnk"));
	assert_false(exists_in(c, "a/.wh..wh.aufs"));
	assert_contained(c);
}

static void opaque_any_order(void **state)
{
	struct ctx *c = *state;
	struct tarb *t = tar_new();
	/* marker first, then content */
	add_dir(t, "first", 0755);
	add_file(t, "first/.wh..wh..opq", 0644, "");
	add_file(t, "first/kept", 0644, "1");
	/* content first, then marker: the content must survive */
	add_dir(t, "after", 0755);
	add_file(t, "after/kept", 0644, "2");
	add_dir(t, "after/sub", 0755);
	add_file(t, "after/sub/kept", 0644, "3");
	add_file(t, "after/.wh..wh..opq", 0644, "");
	/* marker in a directory the tar never lists */
	add_file(t, "implicit/dir/.wh..wh..opq", 0644, "");
	/* and for the layer root */
	add_file(t, ".wh..wh..opq", 0644, "");
	struct berth_error err = { 0 };
	assert_int_equal(unpack(c, tar_done(t), NULL, NULL, &err), 0);
	char v[8];
	const char *dirs[] = { "first", "after", "implicit/dir", "." };
	for (size_t i = 0; i < 4; i++) {
		memset(v, 0, sizeof(v));
		assert_int_equal(xattr_in(c, dirs[i], "trusted.overlay.opaque", v, sizeof(v)), 1);
		assert_int_equal(v[0], 'y');
	}
	assert_content(c, "first/kept", "1");
	assert_content(c, "after/kept", "2");
	assert_content(c, "after/sub/kept", "3");
	assert_false(exists_in(c, "after/.wh..wh..opq"));
	assert_int_equal(xattr_in(c, "after/sub", "trusted.overlay.opaque", v, sizeof(v)), -1);
}

/* One hostile entry, alone in its tar after a harmless one: unpack fails
 * naming it, with EPERM, and nothing lands outside the layer. */
static void expect_rejected(struct ctx *c, const char *name, int code, const char *msg_part)
{
	struct tarb *t = tar_new();
	add_file(t, name, 0644, "evil");
	struct berth_error err = { 0 };
	int r = unpack(c, tar_done(t), NULL, NULL, &err);
	if (r != -code)
		fail_msg("%s: got %d (%s)", name, r, err.msg);
	if (!strstr(err.msg, msg_part) || !strstr(err.msg, "layer sha256:test"))
		fail_msg("unexpected message for %s: %s", name, err.msg);
	assert_int_equal(count_entries(c->layer, NULL), 0);
	assert_contained(c);
}

static void hostile_names(void **state)
{
	struct ctx *c = *state;
	expect_rejected(c, "../../x", EPERM, "entry \"../../x\": path escapes the layer");
	expect_rejected(c, "/etc/x", EPERM, "entry \"/etc/x\": path is absolute: path escapes the layer");
	expect_rejected(c, "a/../../x", EPERM, "entry \"a/../../x\": path escapes the layer");
	expect_rejected(c, "./../x", EPERM, "path escapes the layer");
	expect_rejected(c, "a/b/..", EPERM, "path escapes the layer");
	expect_rejected(c, "../.wh.x", EPERM, "path escapes the layer");
	expect_rejected(c, "x/.wh...", EPERM, "path escapes the layer");
}

static void long_names(void **state)
{
	struct ctx *c = *state;
	char comp[301];
	memset(comp, 'c', 300);
	comp[300] = '\0';
	char name[400];
	snprintf(name, sizeof(name), "dir/%s", comp);
	struct tarb *t = tar_new();
	add_file(t, name, 0644, "x");
	struct berth_error err = { 0 };
	assert_int_equal(unpack(c, tar_done(t), NULL, NULL, &err), -ENAMETOOLONG);
	assert_non_null(strstr(err.msg, "entry \"dir/ccccccccccccc"));
	assert_non_null(strstr(err.msg, "...\""));
	assert_non_null(strstr(err.msg, "longer than 255"));
	assert_int_equal(count_entries(c->layer, NULL), 0);

	char *path = malloc(5001);
	for (size_t i = 0; i < 5000; i++)
		path[i] = (i % 100 == 99) ? '/' : 'p';
	path[4999] = 'z';
	path[5000] = '\0';
	t = tar_new();
	add_file(t, path, 0644, "x");
	berth_error_clear(&err);
	assert_int_equal(unpack(c, tar_done(t), NULL, NULL, &err), -ENAMETOOLONG);
	assert_non_null(strstr(err.msg, "entry \"pppppppppp"));
	assert_non_null(strstr(err.msg, "longer than"));
	assert_true(strlen(err.msg) < 400);
	assert_int_equal(count_entries(c->layer, NULL), 0);
	free(path);
	assert_contained(c);
}

/* A symlink is stored as written; later entries reach through it only as
 * the container would, so they stay inside the layer. */
static void symlink_then_write(void **state)
{
	struct ctx *c = *state;
	strcpy(c->outside, "/tmp/berth-unpack-out.XXXXXX");
	assert_non_null(mkdtemp(c->outside));
	const char *outside = c->outside;
	struct stat passwd_before;
	assert_int_equal(stat("/etc/passwd", &passwd_before), 0);

	struct tarb *t = tar_new();
	add_symlink(t, "evil", "/");
	add_file(t, "evil/etc/pwned", 0644, "pwned");
	add_symlink(t, "up", "../../");
	add_file(t, "up/x2", 0644, "x2");
	add_symlink(t, "up2", "../../../../..");
	add_file(t, "up2/etc/pwned2", 0644, "p2");
	add_symlink(t, "pw", "/etc/passwd");
	add_file(t, "pw", 0644, "overwrites the link, not /etc/passwd");
	struct berth_error err = { 0 };
	int r = unpack(c, tar_done(t), NULL, NULL, &err);
	if (r != 0)
		fail_msg("unpack: %s", err.msg);

	char buf[16];
	ssize_t n = readlinkat(c->layer_fd, "evil", buf, sizeof(buf));
	assert_int_equal(n, 1);
	assert_content(c, "etc/pwned", "pwned");
	assert_content(c, "x2", "x2");
	assert_content(c, "etc/pwned2", "p2");
	struct stat s;
	stat_in(c, "pw", &s);
	assert_true(S_ISREG(s.st_mode));
	struct stat passwd_after;
	assert_int_equal(stat("/etc/passwd", &passwd_after), 0);
	assert_int_equal(passwd_after.st_size, passwd_before.st_size);
	assert_int_equal(passwd_after.st_mtim.tv_sec, passwd_before.st_mtim.tv_sec);
	assert_int_equal(passwd_after.st_mtim.tv_nsec, passwd_before.st_mtim.tv_nsec);
	assert_int_equal(access("/etc/pwned2", F_OK), -1);
	assert_contained(c);

	/* A link to a host directory: "/tmp/berth-unpack-out.X" does not exist
	 * inside the layer, so writing through it fails (as tar fails on a
	 * dangling link) and the host directory stays empty. */
	t = tar_new();
	add_symlink(t, "out", outside);
	add_dir(t, "out/sub", 0755);
	add_file(t, "out/sub/f", 0644, "o");
	berth_error_clear(&err);
	assert_int_equal(unpack(c, tar_done(t), NULL, NULL, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "entry \"out/sub/\""));
	assert_non_null(strstr(err.msg, "does not resolve to a directory inside the layer"));
	assert_int_equal(count_entries(outside, NULL), 0);
	assert_contained(c);
}

static void expect_bad_hardlink(struct ctx *c, const char *link_target, const char *msg_part, bool with_symlink)
{
	struct tarb *t = tar_new();
	if (with_symlink)
		add_symlink(t, "evil", "/");
	add_dir(t, "d", 0755);
	add_hardlink(t, "h", link_target);
	struct berth_error err = { 0 };
	assert_int_equal(unpack(c, tar_done(t), NULL, NULL, &err), -EPERM);
	if (!strstr(err.msg, "entry \"h\"") || !strstr(err.msg, msg_part))
		fail_msg("unexpected message for hard link to %s: %s", link_target, err.msg);
	assert_false(exists_in(c, "h"));
	assert_contained(c);
	berth_rm_rf_at(c->layer_fd, "evil");
	berth_rm_rf_at(c->layer_fd, "d");
}

static void hostile_hardlinks(void **state)
{
	struct ctx *c = *state;
	struct stat shadow_before, shadow_after;
	int have_shadow = stat("/etc/shadow", &shadow_before) == 0;
	expect_bad_hardlink(c, "/etc/shadow", "hard link target \"/etc/shadow\" is absolute", false);
	expect_bad_hardlink(c, "../../etc/shadow", "hard link target \"../../etc/shadow\": path escapes", false);
	expect_bad_hardlink(c, "d/../../etc/shadow", "path escapes the layer", false);
	expect_bad_hardlink(c, "evil/etc/shadow", "does not exist in the layer", true);
	expect_bad_hardlink(c, "missing", "hard link target \"missing\" does not exist", false);
	expect_bad_hardlink(c, "d", "hard link target is a directory", false);
	expect_bad_hardlink(c, "./", "hard link to the layer root", false);

	/* A hard link to a symlink links the symlink, never what it names. */
	struct tarb *t = tar_new();
	add_symlink(t, "s", "/etc/shadow");
	add_hardlink(t, "h2", "s");
	struct berth_error err = { 0 };
	assert_int_equal(unpack(c, tar_done(t), NULL, NULL, &err), 0);
	struct stat a, b;
	stat_in(c, "s", &a);
	stat_in(c, "h2", &b);
	assert_true(S_ISLNK(b.st_mode));
	assert_int_equal(a.st_ino, b.st_ino);
	if (have_shadow) {
		assert_int_equal(stat("/etc/shadow", &shadow_after), 0);
		assert_int_equal(shadow_after.st_nlink, shadow_before.st_nlink);
	}
	assert_contained(c);
}

static void devices_refused(void **state)
{
	struct ctx *c = *state;
	struct tarb *t = tar_new();
	put(t, ent("fifo", AE_IFIFO, 0644), NULL, 0);
	add_file(t, ".wh.gone", 0644, "");
	struct archive_entry *e = ent("dev/mem", AE_IFCHR, 0600);
	archive_entry_set_rdevmajor(e, 1);
	archive_entry_set_rdevminor(e, 1);
	put(t, e, NULL, 0);
	struct unpack_opts o = { .refuse_devices = true };
	struct berth_error err = { 0 };
	assert_int_equal(unpack(c, tar_done(t), &o, NULL, &err), -EPERM);
	assert_non_null(strstr(err.msg, "entry \"dev/mem\""));
	assert_non_null(strstr(err.msg, "device nodes are not allowed"));
	assert_false(exists_in(c, "dev/mem"));
	struct stat s;
	stat_in(c, "fifo", &s);         /* fifos and whiteouts are not devices */
	assert_true(S_ISFIFO(s.st_mode));
	stat_in(c, "gone", &s);
	assert_true(S_ISCHR(s.st_mode));
}

/* Later entries replace earlier ones as tar does. */
static void replacement(void **state)
{
	struct ctx *c = *state;
	struct tarb *t = tar_new();
	add_file(t, "f", 0644, "first");
	add_file(t, "f", 0600, "second");
	add_file(t, "becomes_dir", 0644, "x");
	add_dir(t, "becomes_dir", 0755);
	add_dir(t, "becomes_file", 0755);
	add_file(t, "becomes_file/child", 0644, "c");
	add_file(t, "becomes_file", 0644, "file now");
	add_dir(t, "kept", 0700);
	add_file(t, "kept/child", 0644, "c");
	add_dir(t, "kept", 0755);
	add_symlink(t, "link_to_dir", "kept");
	add_dir(t, "link_to_dir", 0750);
	struct berth_error err = { 0 };
	assert_int_equal(unpack(c, tar_done(t), NULL, NULL, &err), 0);
	assert_content(c, "f", "second");
	struct stat s;
	stat_in(c, "f", &s);
	assert_int_equal(s.st_mode & 07777, 0600);
	stat_in(c, "becomes_dir", &s);
	assert_true(S_ISDIR(s.st_mode));
	assert_content(c, "becomes_file", "file now");
	assert_content(c, "kept/child", "c");
	stat_in(c, "kept", &s);
	assert_int_equal(s.st_mode & 07777, 0755);  /* last entry wins */
	stat_in(c, "link_to_dir", &s);
	assert_true(S_ISDIR(s.st_mode));
	assert_int_equal(s.st_mode & 07777, 0750);
}

/* Directory modes apply at the end: a read-only directory can still be
 * filled, and its mtime is the tar's. */
static void directory_fixups(void **state)
{
	struct ctx *c = *state;
	struct tarb *t = tar_new();
	struct archive_entry *e = ent("ro", AE_IFDIR, 0555);
	archive_entry_set_mtime(e, 1000000000, 0);
	put(t, e, NULL, 0);
	add_dir(t, "ro/sub", 0500);
	add_file(t, "ro/sub/f", 0444, "ro");
	add_file(t, "ro/g", 0444, "g");
	struct berth_error err = { 0 };
	assert_int_equal(unpack(c, tar_done(t), &(struct unpack_opts) { .no_chown = true }, NULL, &err), 0);
	struct stat s;
	stat_in(c, "ro", &s);
	assert_int_equal(s.st_mode & 07777, 0555);
	assert_int_equal(s.st_mtime, 1000000000);
	stat_in(c, "ro/sub", &s);
	assert_int_equal(s.st_mode & 07777, 0500);
	assert_int_equal(s.st_mtime, MTIME);
	assert_content(c, "ro/sub/f", "ro");
}

static void sparse_file(void **state)
{
	struct ctx *c = *state;
	size_t size = 8 * 1024 * 1024;
	struct tarb *t = tar_new();
	struct archive_entry *e = ent("sparse", AE_IFREG, 0644);
	archive_entry_set_size(e, (la_int64_t) size);
	archive_entry_sparse_add_entry(e, 0, 4096);
	archive_entry_sparse_add_entry(e, 4 * 1024 * 1024, 4096);
	assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
	/* the writer takes the whole logical content and skips the holes */
	char *content = calloc(1, size);
	memset(content, 'A', 4096);
	memset(content + 4 * 1024 * 1024, 'B', 4096);
	assert_int_equal(archive_write_data(t->a, content, size), (la_ssize_t) size);
	free(content);
	archive_entry_free(e);
	struct unpack_stats st = { 0 };
	struct berth_error err = { 0 };
	assert_int_equal(unpack(c, tar_done(t), NULL, &st, &err), 0);
	struct stat s;
	stat_in(c, "sparse", &s);
	assert_int_equal(s.st_size, size);
	assert_true((size_t) s.st_blocks * 512 < size / 2);
	int fd = openat(c->layer_fd, "sparse", O_RDONLY | O_CLOEXEC);
	char b;
	assert_int_equal(pread(fd, &b, 1, 0), 1);
	assert_int_equal(b, 'A');
	assert_int_equal(pread(fd, &b, 1, 4096), 1);
	assert_int_equal(b, 0);
	assert_int_equal(pread(fd, &b, 1, 4 * 1024 * 1024 + 10), 1);
	assert_int_equal(b, 'B');
	assert_int_equal(pread(fd, &b, 1, size - 1), 1);
	assert_int_equal(b, 0);
	close(fd);
	assert_int_equal(st.bytes, 8192);
}

/* A writer on a pipe must see its whole output read, even the padding after
 * the end-of-archive marker. */
static void pipe_drained(void **state)
{
	struct ctx *c = *state;
	struct tarb *t = tar_new();
	add_file(t, "f", 0644, "via pipe");
	int tarfd = tar_done(t);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		close(p[0]);
		char buf[65536];
		ssize_t n;
		while ((n = read(tarfd, buf, sizeof(buf))) > 0)
			if (berth_write_all(p[1], buf, (size_t) n) < 0)
				_exit(2);
		memset(buf, 0, sizeof(buf));
		for (int i = 0; i < 64; i++)    /* 4 MiB of trailing zeros */
			if (berth_write_all(p[1], buf, sizeof(buf)) < 0)
				_exit(3);
		_exit(0);
	}
	close(p[1]);
	close(tarfd);
	struct berth_error err = { 0 };
	assert_int_equal(unpack(c, p[0], NULL, NULL, &err), 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_content(c, "f", "via pipe");
}

static void broken_streams(void **state)
{
	struct ctx *c = *state;
	/* empty stream = empty layer */
	int fd = memfd_create("empty", MFD_CLOEXEC);
	struct unpack_stats st = { 1, 1 };
	struct berth_error err = { 0 };
	assert_int_equal(unpack(c, fd, NULL, &st, &err), 0);
	assert_int_equal(st.entries, 0);

	/* just the end-of-archive marker */
	fd = memfd_create("eoa", MFD_CLOEXEC);
	char zeros[1024] = { 0 };
	assert_int_equal(write(fd, zeros, sizeof(zeros)), sizeof(zeros));
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(unpack(c, fd, NULL, &st, &err), 0);
	assert_int_equal(st.entries, 0);

	/* cut inside a file's data */
	char big[20000];
	memset(big, 'q', sizeof(big));
	struct tarb *t = tar_new();
	put(t, ent("big", AE_IFREG, 0644), big, sizeof(big));
	fd = tar_done(t);
	assert_int_equal(ftruncate(fd, 512 * 3 + 8000), 0);   /* pax header + header + part */
	assert_int_equal(unpack(c, fd, NULL, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "layer sha256:test"));
	assert_non_null(strstr(err.msg, "big"));

	/* not a tar at all */
	fd = memfd_create("junk", MFD_CLOEXEC);
	char junk[4096];
	memset(junk, 'J', sizeof(junk));
	assert_int_equal(write(fd, junk, sizeof(junk)), sizeof(junk));
	lseek(fd, 0, SEEK_SET);
	berth_error_clear(&err);
	assert_true(unpack(c, fd, NULL, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "layer sha256:test"));
	assert_contained(c);
}

/* A gzip layer fed without decompression is rejected, not unpacked through
 * a filter (the caller decompresses, and hashes what it decompressed). */
static void compressed_input_refused(void **state)
{
	struct ctx *c = *state;
	int fd = memfd_create("tgz", MFD_CLOEXEC);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax(a);
	archive_write_add_filter_gzip(a);
	archive_write_open_fd(a, fd);
	struct archive_entry *e = ent("f", AE_IFREG, 0644);
	archive_entry_set_size(e, 1);
	archive_write_header(a, e);
	archive_write_data(a, "x", 1);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	lseek(fd, 0, SEEK_SET);
	struct berth_error err = { 0 };
	assert_true(unpack(c, fd, NULL, NULL, &err) < 0);
	assert_false(exists_in(c, "f"));
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_unpack needs root (chown, mknod, trusted xattrs)\n");
		return 77;
	}
	umask(022);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(full_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(no_chown_keeps_caller_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(whiteouts, setup, teardown),
		cmocka_unit_test_setup_teardown(opaque_any_order, setup, teardown),
		cmocka_unit_test_setup_teardown(hostile_names, setup, teardown),
		cmocka_unit_test_setup_teardown(long_names, setup, teardown),
		cmocka_unit_test_setup_teardown(symlink_then_write, setup, teardown),
		cmocka_unit_test_setup_teardown(hostile_hardlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(devices_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(replacement, setup, teardown),
		cmocka_unit_test_setup_teardown(directory_fixups, setup, teardown),
		cmocka_unit_test_setup_teardown(sparse_file, setup, teardown),
		cmocka_unit_test_setup_teardown(pipe_drained, setup, teardown),
		cmocka_unit_test_setup_teardown(broken_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(compressed_input_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
