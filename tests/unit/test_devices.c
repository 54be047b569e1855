/* Tests of linux/devices.c.  Each test forks a child in a private mount
 * namespace ("/" rprivate) that works on a temp rootfs under /tmp; the
 * parent asserts on its exit status and that its own mount table did not
 * change. */
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
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "linux/devices.h"

#include "unit_helpers.h"

static int fixture_setup(void **state)
{
	static const char *const dirs[] = { "etc", "tmp", "dev" };
	*state = tmproot_new("devices", dirs, ARRAY_SIZE(dirs), "root:x:0:0::/:/bin/sh\n");
	return 0;
}

static int fixture_teardown(void **state)
{
	tmproot_free(*state);
	return 0;
}

static void run_child(struct tmproot *f, tmproot_child_fn fn)
{
	tmproot_run_child(f, fn, 0);
}

static int open_root(const struct tmproot *f)
{
	int fd = open(f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	return fd;
}

static void check_node(const char *root, const char *rel, mode_t fmt, unsigned maj, unsigned min, mode_t mode)
{
	char p[PATH_MAX];
	pathf(p, "%s%s", root, rel);
	struct stat st;
	CHECK(lstat(p, &st) == 0);
	if ((st.st_mode & S_IFMT) != fmt || (fmt != S_IFIFO && st.st_rdev != makedev(maj, min)) ||
	    (st.st_mode & 07777) != mode)
		fprintf(stderr, "%s: mode 0%o rdev %u:%u\n", p, st.st_mode, major(st.st_rdev), minor(st.st_rdev));
	CHECK((st.st_mode & S_IFMT) == fmt);
	CHECK(fmt == S_IFIFO || st.st_rdev == makedev(maj, min));
	CHECK((st.st_mode & 07777) == mode);
}

static void check_link(const char *root, const char *rel, const char *want)
{
	char p[PATH_MAX], l[PATH_MAX];
	pathf(p, "%s%s", root, rel);
	ssize_t n = readlink(p, l, sizeof(l) - 1);
	CHECK(n > 0);
	l[n] = '\0';
	if (strcmp(l, want) != 0)
		fprintf(stderr, "%s -> %s, want %s\n", p, l, want);
	CHECK(strcmp(l, want) == 0);
}

/* ------------------------------------------------------------------ tests */

static void child_default_set(struct tmproot *f)
{
	umask(077); /* the modes must not depend on it */
	_cleanup_close_ int rootfd = open_root(f);
	struct spec_config cfg = { 0 };
	struct berth_error err = { 0 };
	CHECK_OK(linux_devices_create(rootfd, &cfg, true, &err), &err);
	check_node(f->root, "/dev/null", S_IFCHR, 1, 3, 0666);
	check_node(f->root, "/dev/zero", S_IFCHR, 1, 5, 0666);
	check_node(f->root, "/dev/full", S_IFCHR, 1, 7, 0666);
	check_node(f->root, "/dev/random", S_IFCHR, 1, 8, 0666);
	check_node(f->root, "/dev/urandom", S_IFCHR, 1, 9, 0666);
	check_node(f->root, "/dev/tty", S_IFCHR, 5, 0, 0666);
	/* Real devices: /dev/zero reads zeros. */
	char p[PATH_MAX];
	pathf(p, "%s/dev/zero", f->root);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	char buf[4] = { 1, 1, 1, 1 };
	CHECK(read(fd, buf, 4) == 4 && buf[0] == 0 && buf[3] == 0);
	close(fd);
	/* Called again (a restart of the setup), everything is kept. */
	CHECK_OK(linux_devices_create(rootfd, &cfg, true, &err), &err);
	check_node(f->root, "/dev/null", S_IFCHR, 1, 3, 0666);
}

static void test_default_set(void **state)
{
	run_child(*state, child_default_set);
}

static void child_config_devices(struct tmproot *f)
{
	_cleanup_close_ int rootfd = open_root(f);
	struct spec_device devs[] = {
		{ .type = 'c', .path = "/dev/custom", .major = 1, .minor = 3, .has_file_mode = true,
		  .file_mode = 0600, .has_uid = true, .uid = 1000, .has_gid = true, .gid = 1001 },
		{ .type = 'b', .path = "/dev/loop200", .major = 7, .minor = 200 },
		{ .type = 'p', .path = "/dev/myfifo", .has_file_mode = true, .file_mode = 0640 },
		{ .type = 'u', .path = "/dev/sub/dir/zero2", .major = 1, .minor = 5, .has_gid = true, .gid = 5 },
	};
	struct spec_linux lx = { .devices = devs, .n_devices = ARRAY_SIZE(devs) };
	struct spec_config cfg = { .linux_ = &lx };
	struct berth_error err = { 0 };
	CHECK_OK(linux_devices_create(rootfd, &cfg, false, &err), &err);
	check_node(f->root, "/dev/custom", S_IFCHR, 1, 3, 0600);
	check_node(f->root, "/dev/loop200", S_IFBLK, 7, 200, 0666);
	check_node(f->root, "/dev/myfifo", S_IFIFO, 0, 0, 0640);
	check_node(f->root, "/dev/sub/dir/zero2", S_IFCHR, 1, 5, 0666);
	char p[PATH_MAX];
	struct stat st;
	pathf(p, "%s/dev/custom", f->root);
	CHECK(stat(p, &st) == 0 && st.st_uid == 1000 && st.st_gid == 1001);
	pathf(p, "%s/dev/sub/dir/zero2", f->root);
	CHECK(stat(p, &st) == 0 && st.st_uid == 0 && st.st_gid == 5);
	/* default_set false: no default nodes. */
	pathf(p, "%s/dev/null", f->root);
	CHECK(access(p, F_OK) < 0 && errno == ENOENT);
}

static void test_config_devices(void **state)
{
	run_child(*state, child_config_devices);
}

static void child_replace_existing(struct tmproot *f)
{
	char p[PATH_MAX];
	/* A matching node is kept (and given the standard mode). */
	pathf(p, "%s/dev/null", f->root);
	CHECK(mknod(p, S_IFCHR | 0600, makedev(1, 3)) == 0);
	_cleanup_close_ int rootfd = open_root(f);
	struct spec_config cfg = { 0 };
	struct berth_error err = { 0 };
	CHECK_OK(linux_devices_create(rootfd, &cfg, true, &err), &err);
	check_node(f->root, "/dev/null", S_IFCHR, 1, 3, 0666);

	/* Anything else in the way is refused, named, and left as it was:
	 * a regular file, a symlink, a node with other numbers, a directory. */
	struct { const char *dev; const char *kind; } cases[] = {
		{ "/dev/zero", "regular file" }, { "/dev/full", "symlink" },
		{ "/dev/random", "different node" }, { "/dev/tty", "directory" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char q[PATH_MAX];
		pathf(q, "%s%s", f->root, cases[i].dev);
		unlink(q);
		switch (i) {
		case 0: write_text(q, "not a device"); break;
		case 1: CHECK(symlink("/etc/passwd", q) == 0); break;
		case 2: CHECK(mknod(q, S_IFCHR | 0666, makedev(1, 9)) == 0); break;
		case 3: CHECK(mkdir(q, 0755) == 0); break;
		}
		struct berth_error e = { 0 };
		CHECK(linux_devices_create(rootfd, &cfg, true, &e) == -EEXIST);
		CHECK(strstr(e.msg, cases[i].dev) && strstr(e.msg, cases[i].kind));
		struct stat st;
		CHECK(lstat(q, &st) == 0);
		if (i == 0)
			CHECK(S_ISREG(st.st_mode));
		if (i == 1)
			CHECK(S_ISLNK(st.st_mode));
		if (i == 2)
			CHECK(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 9));
		if (i == 3)
			CHECK(S_ISDIR(st.st_mode));
		if (i == 3)
			rmdir(q);
		else
			unlink(q);
	}
	pathf(p, "%s/etc/passwd", f->root);
	_cleanup_free_ char *pw = read_text(p);
	CHECK(pw && strncmp(pw, "root:", 5) == 0);
}

static void test_replace_existing(void **state)
{
	run_child(*state, child_replace_existing);
}

static void child_symlink_confined(struct tmproot *f)
{
	const char *tag = strrchr(f->base, '.') + 1;
	char target[PATH_MAX], p[PATH_MAX], evil[PATH_MAX], host_evil[PATH_MAX];
	pathf(target, "/tmp/berth-devescape-%s", tag);
	pathf(p, "%s/dev", f->root);
	CHECK(rmdir(p) == 0);
	CHECK(symlink(target, p) == 0);
	pathf(p, "%s%s", f->root, target);
	CHECK(mkdir(p, 0755) == 0);
	pathf(evil, "/../../../berth-devescape-%s", tag);
	pathf(host_evil, "/berth-devescape-%s", tag);
	struct spec_device devs[] = { { .type = 'c', .path = evil, .major = 1, .minor = 3 } };
	struct spec_linux lx = { .devices = devs, .n_devices = 1 };
	struct spec_config cfg = { .linux_ = &lx };
	_cleanup_close_ int rootfd = open_root(f);
	struct berth_error err = { 0 };
	CHECK_OK(linux_devices_create(rootfd, &cfg, true, &err), &err);
	CHECK(access(target, F_OK) < 0 && errno == ENOENT);
	CHECK(access(host_evil, F_OK) < 0 && errno == ENOENT);
	pathf(p, "%s/null", target);
	check_node(f->root, p, S_IFCHR, 1, 3, 0666);
	check_node(f->root, host_evil, S_IFCHR, 1, 3, 0666);
	pathf(p, "%s/fd", target);
	check_link(f->root, p, "/proc/self/fd");
}

static void test_symlink_confined(void **state)
{
	struct tmproot *f = *state;
	run_child(f, child_symlink_confined);
	const char *tag = strrchr(f->base, '.') + 1;
	char p[PATH_MAX];
	pathf(p, "/tmp/berth-devescape-%s", tag);
	assert_int_equal(access(p, F_OK), -1);
	pathf(p, "/berth-devescape-%s", tag);
	assert_int_equal(access(p, F_OK), -1);
}

static void child_symlinks(struct tmproot *f)
{
	char p[PATH_MAX];
	_cleanup_close_ int rootfd = open_root(f);
	struct spec_config cfg = { 0 };
	struct berth_error err = { 0 };
	/* An image's own entry of one of those names is left alone. */
	pathf(p, "%s/dev/stderr", f->root);
	CHECK(symlink("/somewhere/else", p) == 0);
	CHECK_OK(linux_devices_create(rootfd, &cfg, true, &err), &err);
	check_link(f->root, "/dev/fd", "/proc/self/fd");
	check_link(f->root, "/dev/stdin", "/proc/self/fd/0");
	check_link(f->root, "/dev/stdout", "/proc/self/fd/1");
	check_link(f->root, "/dev/stderr", "/somewhere/else");
	/* No devpts at /dev/pts: no /dev/ptmx link. */
	pathf(p, "%s/dev/ptmx", f->root);
	CHECK(access(p, F_OK) < 0 && errno == ENOENT);
	pathf(p, "%s/dev/core", f->root);
	struct stat st;
	if (access("/proc/kcore", F_OK) == 0)
		check_link(f->root, "/dev/core", "/proc/kcore");
	else
		CHECK(lstat(p, &st) < 0 && errno == ENOENT);
	/* A plain directory at /dev/pts is not a devpts either. */
	pathf(p, "%s/dev/pts", f->root);
	CHECK(mkdir(p, 0755) == 0);
	CHECK_OK(linux_devices_create(rootfd, &cfg, false, &err), &err);
	pathf(p, "%s/dev/ptmx", f->root);
	CHECK(lstat(p, &st) < 0 && errno == ENOENT);

	/* With a devpts mounted there, /dev/ptmx leads to it, replacing an
	 * existing node. */
	pathf(p, "%s/dev/ptmx", f->root);
	CHECK(mknod(p, S_IFCHR | 0666, makedev(5, 2)) == 0);
	pathf(p, "%s/dev/pts", f->root);
	CHECK(mount("devpts", p, "devpts", 0, "newinstance,ptmxmode=0666") == 0);
	CHECK_OK(linux_devices_create(rootfd, &cfg, false, &err), &err);
	check_link(f->root, "/dev/ptmx", "pts/ptmx");
	pathf(p, "%s/dev/ptmx", f->root);
	int fd = open(p, O_RDWR | O_NOCTTY | O_CLOEXEC);
	CHECK(fd >= 0);
	close(fd);
}

static void test_symlinks(void **state)
{
	run_child(*state, child_symlinks);
}

static void child_bound_node_untouched(struct tmproot *f)
{
	/* A node bound over the container's /dev/null (as a userns container
	 * gets the host's) must not be chmod'ed through the bind. */
	char hostnode[PATH_MAX], p[PATH_MAX];
	pathf(hostnode, "%s/hostnull", f->base);
	CHECK(mknod(hostnode, S_IFCHR | 0644, makedev(1, 3)) == 0);
	CHECK(chmod(hostnode, 0644) == 0);
	pathf(p, "%s/dev/null", f->root);
	write_text(p, "");
	CHECK(mount(hostnode, p, NULL, MS_BIND, NULL) == 0);
	struct spec_device devs[] = { { .type = 'c', .path = "/dev/null", .major = 1, .minor = 3,
					.has_file_mode = true, .file_mode = 0600, .has_uid = true, .uid = 99 } };
	struct spec_linux lx = { .devices = devs, .n_devices = 1 };
	struct spec_config cfg = { .linux_ = &lx };
	_cleanup_close_ int rootfd = open_root(f);
	struct berth_error err = { 0 };
	CHECK_OK(linux_devices_create(rootfd, &cfg, true, &err), &err);
	struct stat st;
	CHECK(stat(hostnode, &st) == 0 && (st.st_mode & 07777) == 0644 && st.st_uid == 0);

	/* A bound node of another device is an error, not replaced. */
	devs[0].minor = 5;
	struct berth_error err2 = { 0 };
	CHECK(linux_devices_create(rootfd, &cfg, false, &err2) == -EBUSY);
	CHECK(strstr(err2.msg, "linux.devices[0] (/dev/null)"));
}

static void test_bound_node_untouched(void **state)
{
	run_child(*state, child_bound_node_untouched);
}

static void child_userns_bind(struct tmproot *f)
{
	enter_userns();
	char p[PATH_MAX];
	pathf(p, "%s/dev", f->root);
	CHECK(mount("tmpfs", p, "tmpfs", 0, "mode=755") == 0);
	struct spec_device devs[] = {
		{ .type = 'p', .path = "/dev/fifo", .has_file_mode = true, .file_mode = 0600 },
	};
	struct spec_linux lx = { .devices = devs, .n_devices = 1 };
	struct spec_config cfg = { .linux_ = &lx };
	_cleanup_close_ int rootfd = open_root(f);
	struct berth_error err = { 0 };
	CHECK_OK(linux_devices_create(rootfd, &cfg, true, &err), &err);
	const char *names[] = { "null", "zero", "full", "random", "urandom", "tty" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		pathf(p, "%s/dev/%s", f->root, names[i]);
		struct statx stx;
		CHECK(statx(AT_FDCWD, p, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0);
		CHECK(S_ISCHR(stx.stx_mode));
		CHECK(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
	}
	check_node(f->root, "/dev/fifo", S_IFIFO, 0, 0, 0600);
	pathf(p, "%s/dev/urandom", f->root);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	char buf[8];
	CHECK(read(fd, buf, sizeof(buf)) == (ssize_t) sizeof(buf));
	close(fd);
	/* Idempotent: a second run keeps the binds. */
	CHECK_OK(linux_devices_create(rootfd, &cfg, true, &err), &err);

	/* The host's node must be the device asked for. */
	struct spec_device bad[] = { { .type = 'c', .path = "/dev/zero", .major = 1, .minor = 7 } };
	struct spec_linux lx2 = { .devices = bad, .n_devices = 1 };
	struct spec_config cfg2 = { .linux_ = &lx2 };
	pathf(p, "%s/dev", f->root);
	CHECK(umount2(p, MNT_DETACH) == 0);
	CHECK(mount("tmpfs", p, "tmpfs", 0, "mode=755") == 0);
	struct berth_error err2 = { 0 };
	CHECK(linux_devices_create(rootfd, &cfg2, false, &err2) == -EINVAL);
	CHECK(strstr(err2.msg, "linux.devices[0] (/dev/zero)") && strstr(err2.msg, "is not char 1:7"));
	struct spec_device missing[] = { { .type = 'c', .path = "/dev/berth-no-such-device", .major = 1, .minor = 3 } };
	struct spec_linux lx3 = { .devices = missing, .n_devices = 1 };
	struct spec_config cfg3 = { .linux_ = &lx3 };
	struct berth_error err3 = { 0 };
	CHECK(linux_devices_create(rootfd, &cfg3, false, &err3) == -ENOENT);
	CHECK(strstr(err3.msg, "linux.devices[0] (/dev/berth-no-such-device)"));
}

static void test_userns_bind(void **state)
{
	run_child(*state, child_userns_bind);
}

static void child_invalid(struct tmproot *f)
{
	_cleanup_close_ int rootfd = open_root(f);
	struct spec_device d1[] = { { .type = 'x', .path = "/dev/x", .major = 1, .minor = 3 } };
	struct spec_linux lx = { .devices = d1, .n_devices = 1 };
	struct spec_config cfg = { .linux_ = &lx };
	struct berth_error err = { 0 };
	CHECK(linux_devices_create(rootfd, &cfg, false, &err) == -EINVAL);
	CHECK(strcmp(err.msg, "linux.devices[0] (/dev/x): unknown device type 'x'") == 0);
	struct spec_device d2[] = { { .type = 'c', .path = "dev/x", .major = 1, .minor = 3 } };
	lx.devices = d2;
	struct berth_error err2 = { 0 };
	CHECK(linux_devices_create(rootfd, &cfg, false, &err2) == -EINVAL);
	CHECK(strstr(err2.msg, "linux.devices[0].path"));
	struct spec_device d3[] = { { .type = 'c', .path = "/dev/x", .major = -1, .minor = 3 } };
	lx.devices = d3;
	struct berth_error err3 = { 0 };
	CHECK(linux_devices_create(rootfd, &cfg, false, &err3) == -EINVAL);
	CHECK(strstr(err3.msg, "out of range"));
}

static void test_invalid(void **state)
{
	run_child(*state, child_invalid);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_devices needs root\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_set, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_config_devices, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_replace_existing, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_symlink_confined, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_symlinks, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_bound_node_untouched, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_userns_bind, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_invalid, fixture_setup, fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
