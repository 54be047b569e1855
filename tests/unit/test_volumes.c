#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <jansson.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "engine/volumes.h"

struct t {
	char root[PATH_MAX];
	char rootfs[PATH_MAX];
	struct volume_store *vs;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	strcpy(t->root, "/tmp/berth-vol.XXXXXX");
	strcpy(t->rootfs, "/tmp/berth-vol-rootfs.XXXXXX");
	assert_non_null(mkdtemp(t->root));
	assert_non_null(mkdtemp(t->rootfs));
	struct berth_error err = { 0 };
	assert_int_equal(volume_store_open(t->root, NULL, &t->vs, &err), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	volume_store_close(t->vs);
	berth_rm_rf(t->root);
	berth_rm_rf(t->rootfs);
	free(t);
	return 0;
}

static void put(const char *dir, const char *name, const char *content, mode_t mode)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(berth_write_all(fd, content, strlen(content)), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static char *slurp(const char *dir, const char *name)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	char *buf = NULL;
	if (berth_read_file(p, &buf, NULL) < 0)
		return NULL;
	return buf;
}

static bool exists(const char *dir, const char *name)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	struct stat st;
	return lstat(p, &st) == 0;
}

static int count_entries(const char *dir)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	return n;
}

static void test_create_inspect_list(void **state)
{
	struct t *t = *state;
	struct berth_error err = { 0 };
	json_t *labels = json_pack("{s:s}", "tier", "db");
	_cleanup_free_ char *name = NULL;
	assert_int_equal(volume_create(t->vs, "my-vol_1.x", labels, &name, &err), 0);
	json_decref(labels);
	assert_string_equal(name, "my-vol_1.x");

	char path[PATH_MAX], want[PATH_MAX * 2];
	assert_int_equal(volume_path(t->vs, "my-vol_1.x", path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "%s/volumes/my-vol_1.x/_data", t->root);
	assert_string_equal(path, want);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(volume_path(t->vs, "nope", path, sizeof(path)), -ENOENT);
	assert_int_equal(volume_path(t->vs, "my-vol_1.x", path, 10), -ENAMETOOLONG);

	json_t *j = volume_inspect(t->vs, "my-vol_1.x", &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "Name")), "my-vol_1.x");
	assert_string_equal(json_string_value(json_object_get(j, "Driver")), "local");
	assert_string_equal(json_string_value(json_object_get(j, "Scope")), "local");
	assert_string_equal(json_string_value(json_object_get(j, "Mountpoint")), want);
	assert_true(json_is_null(json_object_get(j, "Options")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "Labels"), "tier")), "db");
	const char *created = json_string_value(json_object_get(j, "CreatedAt"));
	assert_non_null(created);
	assert_int_equal(strlen(created), 20);      /* 2024-01-02T03:04:05Z */
	assert_int_equal(created[10], 'T');
	_cleanup_free_ char *created_copy = strdup(created);
	json_decref(j);

	/* creating it again returns the existing volume unchanged */
	_cleanup_free_ char *again = NULL;
	assert_int_equal(volume_create(t->vs, "my-vol_1.x", NULL, &again, &err), 0);
	j = volume_inspect(t->vs, "my-vol_1.x", &err);
	assert_string_equal(json_string_value(json_object_get(j, "CreatedAt")), created_copy);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "Labels"), "tier")), "db");
	json_decref(j);

	/* anonymous */
	_cleanup_free_ char *anon = NULL;
	assert_int_equal(volume_create(t->vs, NULL, NULL, &anon, &err), 0);
	assert_int_equal(strlen(anon), 64);
	for (const char *p = anon; *p; p++)
		assert_non_null(strchr("0123456789abcdef", *p));
	j = volume_inspect(t->vs, anon, &err);
	assert_non_null(json_object_get(json_object_get(j, "Labels"), VOLUME_ANON_LABEL));
	json_decref(j);

	json_t *list = NULL;
	assert_int_equal(volume_list(t->vs, &list, &err), 0);
	assert_int_equal(json_array_size(list), 2);
	const char *n0 = json_string_value(json_object_get(json_array_get(list, 0), "Name"));
	const char *n1 = json_string_value(json_object_get(json_array_get(list, 1), "Name"));
	assert_true(strcmp(n0, n1) < 0);
	json_decref(list);

	berth_error_clear(&err);
	assert_null(volume_inspect(t->vs, "missing", &err));
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, "missing"));
}

static void test_bad_names(void **state)
{
	struct t *t = *state;
	const char *bad[] = { "a", "-x", "_x", ".x", "a/b", "..", "", "a b", "a:b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct berth_error err = { 0 };
		assert_int_equal(volume_create(t->vs, bad[i], NULL, NULL, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "invalid characters"));
	}
	struct berth_error err = { 0 };
	json_t *labels = json_pack("{s:i}", "n", 1);
	assert_int_equal(volume_create(t->vs, "ok", labels, NULL, &err), -EINVAL);
	json_decref(labels);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/volumes", t->root);
	assert_int_equal(count_entries(p), 0);
}

static void test_refs_remove_prune(void **state)
{
	struct t *t = *state;
	struct berth_error err = { 0 };
	assert_int_equal(volume_create(t->vs, "used", NULL, NULL, &err), 0);
	assert_int_equal(volume_create(t->vs, "unused", NULL, NULL, &err), 0);
	_cleanup_free_ char *anon = NULL;
	assert_int_equal(volume_create(t->vs, NULL, NULL, &anon, &err), 0);
	char path[PATH_MAX];
	assert_int_equal(volume_path(t->vs, anon, path, sizeof(path)), 0);
	put(path, "blob", "0123456789", 0644);
	assert_int_equal(volume_path(t->vs, "unused", path, sizeof(path)), 0);
	put(path, "more", "abcde", 0644);

	const char *c1 = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";
	const char *c2 = "c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2";
	assert_int_equal(volume_ref(t->vs, "used", c1, &err), 0);
	assert_int_equal(volume_ref(t->vs, "used", c1, &err), 0);    /* idempotent */
	assert_int_equal(volume_ref(t->vs, "used", c2, &err), 0);
	assert_int_equal(volume_ref(t->vs, "ghost", c1, &err), -ENOENT);
	assert_int_equal(volume_in_use(t->vs, "used"), 1);
	assert_int_equal(volume_in_use(t->vs, "unused"), 0);

	berth_error_clear(&err);
	assert_int_equal(volume_remove(t->vs, "used", false, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "volume is in use"));
	assert_non_null(strstr(err.msg, c1));
	berth_error_clear(&err);
	assert_int_equal(volume_remove(t->vs, "used", true, &err), -EBUSY);   /* -f never removes one in use */

	char **removed = NULL;
	int64_t reclaimed = -1;
	berth_error_clear(&err);
	assert_int_equal(volume_prune(t->vs, &removed, &reclaimed, &err), 2);
	assert_int_equal(reclaimed, 15);
	bool saw_anon = false, saw_unused = false;
	for (char **p = removed; *p; p++) {
		saw_anon |= !strcmp(*p, anon);
		saw_unused |= !strcmp(*p, "unused");
		free(*p);
	}
	free(removed);
	assert_true(saw_anon && saw_unused);
	assert_int_equal(volume_path(t->vs, "used", path, sizeof(path)), 0);
	assert_int_equal(volume_path(t->vs, "unused", path, sizeof(path)), -ENOENT);

	assert_int_equal(volume_unref(t->vs, c1, &err), 0);
	assert_int_equal(volume_in_use(t->vs, "used"), 1);
	assert_int_equal(volume_unref(t->vs, c2, &err), 0);
	assert_int_equal(volume_unref(t->vs, c2, &err), 0);    /* idempotent */
	assert_int_equal(volume_in_use(t->vs, "used"), 0);
	assert_int_equal(volume_remove(t->vs, "used", false, &err), 0);
	berth_error_clear(&err);
	assert_int_equal(volume_remove(t->vs, "used", false, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no such volume: used"));
	assert_int_equal(volume_remove(t->vs, "used", true, &err), 0);

	char vdir[PATH_MAX];
	snprintf(vdir, sizeof(vdir), "%s/volumes", t->root);
	assert_int_equal(count_entries(vdir), 0);     /* no trash left behind */
}

/* Concurrent processes referencing and removing never lose a reference:
 * either the remove wins (and the ref fails with ENOENT) or the ref wins
 * (and the remove fails with EBUSY). */
static void test_ref_remove_race(void **state)
{
	struct t *t = *state;
	for (int round = 0; round < 20; round++) {
		struct berth_error err = { 0 };
		assert_int_equal(volume_create(t->vs, "racy", NULL, NULL, &err), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct berth_error e = { 0 };
			int r = volume_ref(t->vs, "racy", "ctr", &e);
			_exit(r == 0 ? 0 : r == -ENOENT ? 1 : 2);
		}
		int rr = volume_remove(t->vs, "racy", false, &err);
		int st;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		int child = WEXITSTATUS(st);
		assert_true(child == 0 || child == 1);
		if (child == 0) {          /* the ref got in */
			if (rr == 0)
				fail_msg("round %d: volume removed although referenced", round);
			assert_int_equal(rr, -EBUSY);
			assert_int_equal(volume_unref(t->vs, "ctr", &err), 0);
			assert_int_equal(volume_remove(t->vs, "racy", false, &err), 0);
		} else {
			assert_int_equal(rr, 0);
		}
	}
}

static void mkrootfs(struct t *t)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/data", t->rootfs);
	assert_int_equal(mkdir(p, 0750), 0);
	assert_int_equal(chown(p, 1000, 1001), 0);
	put(p, "f", "file content", 0640);
	char f[PATH_MAX * 3];
	snprintf(f, sizeof(f), "%s/f", p);
	assert_int_equal(chown(f, 1, 2), 0);
	assert_int_equal(chmod(f, 04750), 0);        /* setuid survives the chown order */
	assert_int_equal(setxattr(f, "user.test", "v", 1, 0), 0);
	snprintf(f, sizeof(f), "%s/sub", p);
	assert_int_equal(mkdir(f, 0700), 0);
	put(f, "g", "deep", 0600);
	snprintf(f, sizeof(f), "%s/esc", p);
	assert_int_equal(symlink("/", f), 0);          /* must be copied as a link, not followed */
	snprintf(f, sizeof(f), "%s/pw", p);
	assert_int_equal(symlink("/etc/passwd", f), 0);
	char h1[PATH_MAX * 3], h2[PATH_MAX * 3];
	snprintf(h1, sizeof(h1), "%s/h1", p);
	snprintf(h2, sizeof(h2), "%s/h2", p);
	put(p, "h1", "hard", 0644);
	assert_int_equal(link(h1, h2), 0);
	snprintf(f, sizeof(f), "%s/fifo", p);
	assert_int_equal(mkfifo(f, 0620), 0);
	assert_int_equal(chmod(f, 0620), 0);           /* umask may have cut bits */
	/* links at the rootfs top level that point at host paths */
	snprintf(f, sizeof(f), "%s/hostroot", t->rootfs);
	assert_int_equal(symlink("/", f), 0);
	snprintf(f, sizeof(f), "%s/etclink", t->rootfs);
	assert_int_equal(symlink("/etc", f), 0);
	snprintf(f, sizeof(f), "%s/etc", t->rootfs);
	assert_int_equal(mkdir(f, 0755), 0);
	put(f, "only-in-image", "img", 0644);
}

static void test_copy_up(void **state)
{
	struct t *t = *state;
	struct berth_error err = { 0 };
	mkrootfs(t);
	_cleanup_close_ int rootfd = open(t->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);

	assert_int_equal(volume_create(t->vs, "data", NULL, NULL, &err), 0);
	int r = volume_copy_up(t->vs, "data", rootfd, "/data", &err);
	if (r < 0)
		fail_msg("copy_up: %s", err.msg);
	char d[PATH_MAX];
	assert_int_equal(volume_path(t->vs, "data", d, sizeof(d)), 0);
	struct stat st;
	assert_int_equal(stat(d, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 1001);

	_cleanup_free_ char *fc = slurp(d, "f");
	assert_non_null(fc);
	assert_string_equal(fc, "file content");
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/f", d);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 04750);
	assert_int_equal(st.st_uid, 1);
	assert_int_equal(st.st_gid, 2);
	char xv[8] = "";
	assert_int_equal(getxattr(p, "user.test", xv, sizeof(xv)), 1);
	assert_int_equal(xv[0], 'v');

	_cleanup_free_ char *gc = slurp(d, "sub/g");
	assert_non_null(gc);
	assert_string_equal(gc, "deep");
	snprintf(p, sizeof(p), "%s/sub", d);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);

	char target[PATH_MAX];
	snprintf(p, sizeof(p), "%s/esc", d);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	ssize_t n = readlink(p, target, sizeof(target) - 1);
	assert_int_equal(n, 1);
	snprintf(p, sizeof(p), "%s/pw", d);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));

	struct stat a, b;
	snprintf(p, sizeof(p), "%s/h1", d);
	assert_int_equal(lstat(p, &a), 0);
	snprintf(p, sizeof(p), "%s/h2", d);
	assert_int_equal(lstat(p, &b), 0);
	assert_true(a.st_ino == b.st_ino);
	snprintf(p, sizeof(p), "%s/fifo", d);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0620);
	assert_int_equal(count_entries(d), 7);     /* f sub esc pw h1 h2 fifo */

	/* done once: emptying the volume and calling again copies nothing */
	assert_int_equal(berth_rm_rf(p), 0);
	snprintf(p, sizeof(p), "%s/f", d);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(volume_copy_up(t->vs, "data", rootfd, "/data", &err), 0);
	assert_false(exists(d, "f"));
	assert_false(exists(d, "fifo"));
}

static void test_copy_up_stays_in_root(void **state)
{
	struct t *t = *state;
	struct berth_error err = { 0 };
	mkrootfs(t);
	_cleanup_close_ int rootfd = open(t->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	char d[PATH_MAX];

	/* /hostroot/etc resolves to <rootfs>/etc, never the host's /etc */
	assert_int_equal(volume_create(t->vs, "v1", NULL, NULL, &err), 0);
	assert_int_equal(volume_copy_up(t->vs, "v1", rootfd, "/hostroot/etc", &err), 0);
	assert_int_equal(volume_path(t->vs, "v1", d, sizeof(d)), 0);
	assert_true(exists(d, "only-in-image"));
	assert_false(exists(d, "passwd"));
	assert_int_equal(count_entries(d), 1);

	/* same through an absolute link to a directory */
	assert_int_equal(volume_create(t->vs, "v2", NULL, NULL, &err), 0);
	assert_int_equal(volume_copy_up(t->vs, "v2", rootfd, "/etclink/../etclink", &err), 0);
	assert_int_equal(volume_path(t->vs, "v2", d, sizeof(d)), 0);
	assert_true(exists(d, "only-in-image"));
	assert_int_equal(count_entries(d), 1);

	/* a destination the image does not have copies nothing */
	assert_int_equal(volume_create(t->vs, "v3", NULL, NULL, &err), 0);
	assert_int_equal(volume_copy_up(t->vs, "v3", rootfd, "/no/such/dir", &err), 0);
	assert_int_equal(volume_path(t->vs, "v3", d, sizeof(d)), 0);
	assert_int_equal(count_entries(d), 0);

	/* a volume that already has data is not touched */
	assert_int_equal(volume_create(t->vs, "v4", NULL, NULL, &err), 0);
	assert_int_equal(volume_path(t->vs, "v4", d, sizeof(d)), 0);
	put(d, "mine", "keep", 0644);
	assert_int_equal(volume_copy_up(t->vs, "v4", rootfd, "/data", &err), 0);
	assert_int_equal(count_entries(d), 1);
	assert_true(exists(d, "mine"));

	berth_error_clear(&err);
	assert_int_equal(volume_copy_up(t->vs, "ghost", rootfd, "/data", &err), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_inspect_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refs_remove_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ref_remove_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_up_stays_in_root, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
