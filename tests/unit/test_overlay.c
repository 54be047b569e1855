#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "engine/overlay.h"

/* The mounts happen in a forked child inside its own private mount
 * namespace, so nothing can leak to the host; the child reports the first
 * failed check through its exit status and stderr. */
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "check failed at line %d: %s (errno %d)\n", __LINE__, #c, errno); return __LINE__ % 250 + 1; } } while (0)

struct t { char dir[PATH_MAX]; };

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	strcpy(t->dir, "/tmp/berth-ovl.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	berth_rm_rf(t->dir);
	free(t);
	return 0;
}

static void run_in_private_ns(struct t *t, int (*fn)(struct t *, unsigned), unsigned flags)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(255);
		_exit(fn(t, flags));
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static int put(const char *dir, const char *name, const char *content)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int r = berth_write_all(fd, content, strlen(content));
	close(fd);
	return r;
}

static int content_is(const char *dir, const char *name, const char *want)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	_cleanup_free_ char *buf = NULL;
	if (berth_read_file(p, &buf, NULL) < 0)
		return 0;
	return strcmp(buf, want) == 0;
}

static int exists(const char *dir, const char *name)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	struct stat st;
	return lstat(p, &st) == 0;
}

static int is_overlay(const char *p)
{
	struct statfs s;
	return statfs(p, &s) == 0 && s.f_type == OVERLAYFS_SUPER_MAGIC;
}

static void mk(char *out, const char *base, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", base, name);
	mkdir(out, 0755);
}

static int three_layers(struct t *t, unsigned flags)
{
	char l0[PATH_MAX], l1[PATH_MAX], l2[PATH_MAX], up[PATH_MAX], wk[PATH_MAX], mnt[PATH_MAX], sl[PATH_MAX], p[PATH_MAX * 2];
	mk(l0, t->dir, "l0"); mk(l1, t->dir, "l1"); mk(l2, t->dir, "l2");
	mk(up, t->dir, "upper"); mk(wk, t->dir, "work"); mk(mnt, t->dir, "merged");
	snprintf(sl, sizeof(sl), "%s/l", t->dir);
	CHECK(put(l0, "a.txt", "bottom") == 0);
	CHECK(put(l0, "b.txt", "b0") == 0);
	CHECK(put(l0, "gone.txt", "gone") == 0);
	snprintf(p, sizeof(p), "%s/opq", l0); CHECK(mkdir(p, 0755) == 0);
	CHECK(put(l0, "opq/old", "old") == 0);
	snprintf(p, sizeof(p), "%s/d", l0); CHECK(mkdir(p, 0755) == 0);
	CHECK(put(l0, "d/x", "x0") == 0);
	CHECK(put(l1, "b.txt", "b1") == 0);
	snprintf(p, sizeof(p), "%s/gone.txt", l1); CHECK(mknod(p, S_IFCHR | 0000, makedev(0, 0)) == 0);
	CHECK(put(l2, "c.txt", "c2") == 0);
	snprintf(p, sizeof(p), "%s/opq", l2); CHECK(mkdir(p, 0755) == 0);
	CHECK(setxattr(p, "trusted.overlay.opaque", "y", 1, 0) == 0);
	CHECK(put(l2, "opq/new", "new") == 0);

	const char *lowers[] = { l0, l1, l2 };
	struct berth_error err = { 0 };
	int r = overlay_mount_ex(lowers, 3, up, wk, mnt, sl, flags, &err);
	if (r < 0)
		fprintf(stderr, "overlay_mount: %s\n", err.msg);
	CHECK(r == 0);
	CHECK(is_overlay(mnt));
	CHECK(content_is(mnt, "a.txt", "bottom"));
	CHECK(content_is(mnt, "b.txt", "b1"));          /* upper layer wins */
	CHECK(content_is(mnt, "c.txt", "c2"));
	CHECK(content_is(mnt, "d/x", "x0"));
	CHECK(!exists(mnt, "gone.txt"));                 /* whiteout */
	CHECK(content_is(mnt, "opq/new", "new"));
	CHECK(!exists(mnt, "opq/old"));                  /* opaque dir */
	/* writes go to upper, layers stay untouched */
	CHECK(put(mnt, "w.txt", "written") == 0);
	CHECK(put(mnt, "a.txt", "changed") == 0);
	CHECK(content_is(up, "w.txt", "written"));
	CHECK(content_is(up, "a.txt", "changed"));
	CHECK(content_is(l0, "a.txt", "bottom"));
	CHECK(!exists(l2, "w.txt"));
	if (flags & OVERLAY_FORCE_LEGACY) {
		/* the short links exist and point at the layers */
		DIR *d = opendir(sl);
		CHECK(d != NULL);
		int links = 0;
		struct dirent *de;
		while ((de = readdir(d)))
			if (strlen(de->d_name) == 6)
				links++;
		closedir(d);
		CHECK(links == 3);
	}

	CHECK(overlay_unmount(mnt, &err) == 0);
	CHECK(!is_overlay(mnt));
	CHECK(!exists(mnt, "a.txt"));
	CHECK(overlay_unmount(mnt, &err) == 0);     /* not mounted: fine */

	/* mounting again (legacy) reuses the same short links */
	CHECK(overlay_mount_ex(lowers, 3, up, wk, mnt, sl, flags, &err) == 0);
	CHECK(content_is(mnt, "a.txt", "changed"));
	CHECK(overlay_unmount(mnt, &err) == 0);
	if (flags & OVERLAY_FORCE_LEGACY) {
		DIR *d = opendir(sl);
		int links = 0;
		struct dirent *de;
		while ((de = readdir(d)))
			if (strlen(de->d_name) == 6)
				links++;
		closedir(d);
		CHECK(links == 3);
	}
	return 0;
}

static int many_layers(struct t *t, unsigned flags)
{
	enum { N = 150 };
	char up[PATH_MAX], wk[PATH_MAX], mnt[PATH_MAX], sl[PATH_MAX], base[PATH_MAX];
	mk(up, t->dir, "upper"); mk(wk, t->dir, "work"); mk(mnt, t->dir, "merged");
	mk(base, t->dir, "layers");
	snprintf(sl, sizeof(sl), "%s/l", t->dir);
	static char paths[N][PATH_MAX];
	const char *lowers[N];
	for (int i = 0; i < N; i++) {
		/* long names: 150 of them are far beyond one page of mount options */
		snprintf(paths[i], PATH_MAX, "%s/%03d-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", base, i);
		CHECK(mkdir(paths[i], 0755) == 0);
		char name[32], val[16];
		snprintf(name, sizeof(name), "f%03d", i);
		snprintf(val, sizeof(val), "%d", i);
		CHECK(put(paths[i], name, val) == 0);
		CHECK(put(paths[i], "top", val) == 0);
		lowers[i] = paths[i];
	}
	struct berth_error err = { 0 };
	int r = overlay_mount_ex(lowers, N, up, wk, mnt, sl, flags, &err);
	if (r < 0)
		fprintf(stderr, "overlay_mount: %s\n", err.msg);
	CHECK(r == 0);
	CHECK(content_is(mnt, "f000", "0"));
	CHECK(content_is(mnt, "f075", "75"));
	CHECK(content_is(mnt, "f149", "149"));
	CHECK(content_is(mnt, "top", "149"));     /* the last array entry is the top layer */
	CHECK(overlay_unmount(mnt, &err) == 0);
	CHECK(!is_overlay(mnt));
	return 0;
}

static int scratch(struct t *t, unsigned flags)
{
	char up[PATH_MAX], wk[PATH_MAX], mnt[PATH_MAX], sl[PATH_MAX];
	mk(up, t->dir, "upper"); mk(wk, t->dir, "work"); mk(mnt, t->dir, "merged");
	snprintf(sl, sizeof(sl), "%s/l", t->dir);
	struct berth_error err = { 0 };
	int r = overlay_mount_ex(NULL, 0, up, wk, mnt, sl, flags, &err);
	if (r < 0)
		fprintf(stderr, "overlay_mount: %s\n", err.msg);
	CHECK(r == 0);
	CHECK(is_overlay(mnt));
	DIR *d = opendir(mnt);
	CHECK(d != NULL);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n++;
	closedir(d);
	CHECK(n == 2);
	CHECK(put(mnt, "x", "y") == 0);
	CHECK(content_is(up, "x", "y"));
	CHECK(overlay_unmount(mnt, &err) == 0);
	return 0;
}

static int bad_layer(struct t *t, unsigned flags)
{
	char up[PATH_MAX], wk[PATH_MAX], mnt[PATH_MAX], sl[PATH_MAX], missing[PATH_MAX];
	mk(up, t->dir, "upper"); mk(wk, t->dir, "work"); mk(mnt, t->dir, "merged");
	snprintf(sl, sizeof(sl), "%s/l", t->dir);
	snprintf(missing, sizeof(missing), "%s/no-such-layer", t->dir);
	const char *lowers[] = { missing };
	struct berth_error err = { 0 };
	CHECK(overlay_mount_ex(lowers, 1, up, wk, mnt, sl, flags, &err) < 0);
	CHECK(strstr(err.msg, mnt) != NULL);
	if (!(flags & OVERLAY_FORCE_LEGACY))
		CHECK(strstr(err.msg, "no-such-layer") != NULL);
	CHECK(!is_overlay(mnt));
	berth_error_clear(&err);
	const char *rel[] = { "relative/layer" };
	CHECK(overlay_mount_ex(rel, 1, up, wk, mnt, sl, flags, &err) == -EINVAL);
	CHECK(strstr(err.msg, "relative/layer") != NULL);
	return 0;
}

static void test_three_layers_new_api(void **s) { run_in_private_ns(*s, three_layers, 0); }
static void test_three_layers_legacy(void **s) { run_in_private_ns(*s, three_layers, OVERLAY_FORCE_LEGACY); }
static void test_150_layers_new_api(void **s) { run_in_private_ns(*s, many_layers, 0); }
static void test_150_layers_legacy(void **s) { run_in_private_ns(*s, many_layers, OVERLAY_FORCE_LEGACY); }
static void test_scratch_new_api(void **s) { run_in_private_ns(*s, scratch, 0); }
static void test_scratch_legacy(void **s) { run_in_private_ns(*s, scratch, OVERLAY_FORCE_LEGACY); }
static void test_bad_layer_new_api(void **s) { run_in_private_ns(*s, bad_layer, 0); }
static void test_bad_layer_legacy(void **s) { run_in_private_ns(*s, bad_layer, OVERLAY_FORCE_LEGACY); }

static void test_unmount_absent(void **state)
{
	struct berth_error err = { 0 };
	assert_int_equal(overlay_unmount("/nonexistent/berth/target", &err), 0);
	struct t *t = *state;
	assert_int_equal(overlay_unmount(t->dir, &err), 0);    /* a plain directory */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_three_layers_new_api, setup, teardown),
		cmocka_unit_test_setup_teardown(test_three_layers_legacy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_150_layers_new_api, setup, teardown),
		cmocka_unit_test_setup_teardown(test_150_layers_legacy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scratch_new_api, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scratch_legacy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_layer_new_api, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_layer_legacy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmount_absent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
