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
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"

struct dirs {
	char root[PATH_MAX];     /* the "container root" */
	char outside[PATH_MAX];  /* a host dir a hostile link points at */
};

static int setup(void **state)
{
	struct dirs *d = calloc(1, sizeof(*d));
	strcpy(d->root, "/tmp/berth-fs-root.XXXXXX");
	strcpy(d->outside, "/tmp/berth-fs-out.XXXXXX");
	assert_non_null(mkdtemp(d->root));
	assert_non_null(mkdtemp(d->outside));
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dirs *d = *state;
	berth_rm_rf(d->root);
	berth_rm_rf(d->outside);
	free(d);
	return 0;
}

static int exists(const char *fmt, const char *a, const char *b)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), fmt, a, b);
	struct stat st;
	return lstat(p, &st) == 0;
}

static void mkdir_follows_absolute_link_inside_root(void **state)
{
	struct dirs *d = *state;
	char link[PATH_MAX + 8];
	snprintf(link, sizeof(link), "%s/etc", d->root);
	assert_int_equal(symlink(d->outside, link), 0); /* etc -> /tmp/berth-fs-out.X (absolute) */
	_cleanup_close_ int rootfd = open(d->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd = berth_mkdir_p_in_root(rootfd, "/etc/foo/bar", 0755);
	assert_true(fd >= 0);
	close(fd);
	/* the host directory the link names is untouched ... */
	assert_false(exists("%s/foo%s", d->outside, ""));
	/* ... and the directories were made under the root instead */
	assert_true(exists("%s%s/foo/bar", d->root, d->outside));
}

static void dotdot_link_is_clamped(void **state)
{
	struct dirs *d = *state;
	char link[PATH_MAX + 8];
	snprintf(link, sizeof(link), "%s/up", d->root);
	assert_int_equal(symlink("../../../../../../..", link), 0);
	_cleanup_close_ int rootfd = open(d->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd = berth_mkfile_p_in_root(rootfd, "up/tmp/berth-escape-probe", 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_false(exists("/tmp/berth-escape-probe%s%s", "", ""));
	assert_true(exists("%s/tmp/berth-escape-probe%s", d->root, ""));
}

static void dangling_relative_link_target_created_inside(void **state)
{
	struct dirs *d = *state;
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/etc", d->root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/etc/resolv.conf", d->root);
	assert_int_equal(symlink("../../../run/resolv.conf", p), 0);
	_cleanup_close_ int rootfd = open(d->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd = berth_mkfile_p_in_root(rootfd, "/etc/resolv.conf", 0644);
	assert_true(fd >= 0);
	close(fd);
	struct stat st;
	snprintf(p, sizeof(p), "%s/run/resolv.conf", d->root);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(lstat("/run/resolv.conf.berth-probe", &st), -1);
}

static void open_in_root_cannot_leave(void **state)
{
	struct dirs *d = *state;
	_cleanup_close_ int rootfd = open(d->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	/* /etc/hostname exists on the host but not in the root */
	assert_int_equal(berth_open_in_root(rootfd, "/etc/hostname", O_RDONLY, 0), -ENOENT);
	assert_int_equal(berth_open_in_root(rootfd, "../../etc/hostname", O_RDONLY, 0), -ENOENT);
}

static void file_where_dir_expected(void **state)
{
	struct dirs *d = *state;
	char p[PATH_MAX + 8];
	snprintf(p, sizeof(p), "%s/file", d->root);
	int fd = open(p, O_CREAT | O_WRONLY, 0644);
	close(fd);
	_cleanup_close_ int rootfd = open(d->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(berth_mkdir_p_in_root(rootfd, "file/sub", 0755), -ENOTDIR);
}

static void atomic_write_and_read(void **state)
{
	struct dirs *d = *state;
	_cleanup_close_ int dfd = open(d->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(berth_write_file_atomic(dfd, "state.json", "{\"a\":1}", 7, 0600), 0);
	assert_int_equal(berth_write_file_atomic(dfd, "state.json", "{\"a\":22}", 8, 0600), 0);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	assert_int_equal(berth_read_file_at(dfd, "state.json", &buf, &len), 0);
	assert_int_equal(len, 8);
	assert_string_equal(buf, "{\"a\":22}");
	struct stat st;
	assert_int_equal(fstatat(dfd, "state.json", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* no temp file left behind */
	_cleanup_closedir_ DIR *dir = opendir(d->root);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.' || strlen(de->d_name) > 2)
			n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	assert_int_equal(n, 1);
}

static void rm_rf_does_not_follow_links(void **state)
{
	struct dirs *d = *state;
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/keep", d->outside);
	close(open(p, O_CREAT | O_WRONLY, 0644));
	snprintf(p, sizeof(p), "%s/tree", d->root);
	assert_int_equal(berth_mkdir_p(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/tree/link", d->root);
	assert_int_equal(symlink(d->outside, p), 0);
	snprintf(p, sizeof(p), "%s/tree", d->root);
	assert_int_equal(berth_rm_rf(p), 0);
	assert_false(exists("%s/tree%s", d->root, ""));
	assert_true(exists("%s/keep%s", d->outside, ""));
	assert_int_equal(berth_rm_rf("/tmp/berth-does-not-exist-xyz"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(mkdir_follows_absolute_link_inside_root, setup, teardown),
		cmocka_unit_test_setup_teardown(dotdot_link_is_clamped, setup, teardown),
		cmocka_unit_test_setup_teardown(dangling_relative_link_target_created_inside, setup, teardown),
		cmocka_unit_test_setup_teardown(open_in_root_cannot_leave, setup, teardown),
		cmocka_unit_test_setup_teardown(file_where_dir_expected, setup, teardown),
		cmocka_unit_test_setup_teardown(atomic_write_and_read, setup, teardown),
		cmocka_unit_test_setup_teardown(rm_rf_does_not_follow_links, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
