/* Tests of linux/rootfs.c.  Every test forks a child that unshares its mount
 * namespace (and makes "/" rprivate) before touching a mount, and builds a
 * throw-away rootfs from busybox under /tmp; the parent asserts on the
 * child's exit status and that its own /proc/self/mountinfo is unchanged. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "linux/rootfs.h"

#include "unit_helpers.h"

static void copy_file(const char *from, const char *to, mode_t mode)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	CHECK(in >= 0);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	CHECK(out >= 0);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		CHECK(berth_write_all(out, buf, (size_t) n) == 0);
	CHECK(n == 0);
	close(in);
	close(out);
}

/* The line of /proc/self/mountinfo whose mount point is `mnt` (the last
 * one: the top of a stack), copied into buf; false when there is none. */
static bool mountinfo_line(const char *mnt, char *buf, size_t len)
{
	_cleanup_free_ char *text = read_text("/proc/self/mountinfo");
	if (!text)
		return false;
	bool found = false;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char copy[4096];
		snprintf(copy, sizeof(copy), "%s", line);
		char *p = copy;
		char *f[5];
		for (int i = 0; i < 5; i++)
			f[i] = strsep(&p, " ");
		if (f[4] && strcmp(f[4], mnt) == 0) {
			snprintf(buf, len, "%s", line);
			found = true;
		}
	}
	return found;
}

/* Field i (0-based, space separated) of a mountinfo line. */
static void mi_field(const char *line, int i, char *out, size_t len)
{
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", line);
	char *p = copy, *f = NULL;
	for (int k = 0; k <= i; k++)
		f = strsep(&p, " ");
	snprintf(out, len, "%s", f ? f : "");
}

static bool per_mount_opt(const char *mnt, const char *opt)
{
	char line[4096], opts[1024];
	if (!mountinfo_line(mnt, line, sizeof(line)))
		return false;
	mi_field(line, 5, opts, sizeof(opts));
	size_t n = strlen(opt);
	for (char *p = opts; p && *p;) {
		char *e = strchr(p, ',');
		size_t l = e ? (size_t) (e - p) : strlen(p);
		if (l == n && strncmp(p, opt, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

static int count_lines(const char *text)
{
	int n = 0;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	return n;
}

static int fixture_setup(void **state)
{
	static const char *const dirs[] = { "bin", "etc", "proc", "dev", "tmp", "sys" };
	struct tmproot *f = tmproot_new("rootfs", dirs, ARRAY_SIZE(dirs), "root:x:0:0:root:/root:/bin/sh\n");
	char p[PATH_MAX];
	pathf(p, "%s/bin/busybox", f->root);
	copy_file("/bin/busybox", p, 0755);
	pathf(p, "%s/bin/sh", f->root);
	assert_int_equal(symlink("busybox", p), 0);
	*state = f;
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

static struct spec_mount mnt(const char *dest, const char *type, const char *src, unsigned long flags,
			     const char *data)
{
	struct spec_mount m = { 0 };
	m.destination = (char *) dest;
	m.type = (char *) type;
	m.source = (char *) src;
	m.flags = flags;
	m.data = (char *) data;
	if (flags & MS_BIND) {
		m.bind = true;
		m.recursive_bind = flags & MS_REC;
	}
	return m;
}

static void check_errno_open(const char *path, int flags, int want)
{
	int fd = open(path, flags | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	CHECK(fd < 0 && errno == want);
}

/* ------------------------------------------------------------------ tests */

static void child_missing_rootfs(struct tmproot *f)
{
	struct spec_config cfg = { 0 };
	struct berth_error err = { 0 };
	char p[PATH_MAX];
	pathf(p, "%s/does-not-exist", f->base);
	CHECK(linux_rootfs_prepare(&cfg, p, &err) == -ENOENT);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want), "root.path %s: No such file or directory", p);
	CHECK(strcmp(err.msg, want) == 0);
}

static void test_missing_rootfs(void **state)
{
	run_child(*state, child_missing_rootfs);
}

static void test_refuses_host_namespace(void **state)
{
	/* Called in the test process itself, in the host's mount namespace:
	 * only when the guard can see that (pid 1's namespace is readable and
	 * is ours), else prepare would really change this namespace. */
	struct tmproot *f = *state;
	struct stat self_ns, init_ns;
	if (stat("/proc/self/ns/mnt", &self_ns) < 0 || stat("/proc/1/ns/mnt", &init_ns) < 0 ||
	    self_ns.st_dev != init_ns.st_dev || self_ns.st_ino != init_ns.st_ino) {
		print_message("skipped: cannot tell this mount namespace is pid 1's\n");
		return;
	}
	struct spec_config cfg = { 0 };
	struct berth_error err = { 0 };
	assert_int_equal(linux_rootfs_prepare(&cfg, f->root, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "refusing to set up mounts in the host's mount namespace"));
}

static void child_bind_ro(struct tmproot *f)
{
	char src[PATH_MAX], p[PATH_MAX];
	pathf(src, "%s/src", f->base);
	CHECK(mkdir(src, 0755) == 0);
	pathf(p, "%s/a", src);
	write_text(p, "hello");
	struct spec_mount mounts[] = { mnt("/mnt/ro", NULL, src, MS_BIND | MS_RDONLY, NULL) };
	struct spec_config cfg = { .mounts = mounts, .n_mounts = 1 };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	pathf(p, "%s/mnt/ro/a", f->root);
	_cleanup_free_ char *s = read_text(p);
	CHECK(s && strcmp(s, "hello") == 0);
	pathf(p, "%s/mnt/ro/new", f->root);
	check_errno_open(p, O_WRONLY | O_CREAT, EROFS);
	pathf(p, "%s/mnt/ro", f->root);
	struct statvfs sv;
	CHECK(statvfs(p, &sv) == 0 && (sv.f_flag & ST_RDONLY));
	/* Read-only is the bind's, not the source's. */
	pathf(p, "%s/b", src);
	write_text(p, "still writable");
}

static void test_bind_ro(void **state)
{
	run_child(*state, child_bind_ro);
}

static void child_flags_visible(struct tmproot *f)
{
	char src[PATH_MAX], p[PATH_MAX];
	pathf(src, "%s/src", f->base);
	CHECK(mkdir(src, 0755) == 0);
	struct spec_mount mounts[] = {
		mnt("/mnt/b", NULL, src, MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME, NULL),
		mnt("/mnt/t", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOSYMFOLLOW, NULL),
	};
	struct spec_config cfg = { .mounts = mounts, .n_mounts = ARRAY_SIZE(mounts) };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	pathf(p, "%s/mnt/b", f->root);
	CHECK(per_mount_opt(p, "nosuid"));
	CHECK(per_mount_opt(p, "nodev"));
	CHECK(per_mount_opt(p, "noexec"));
	CHECK(per_mount_opt(p, "noatime"));
	CHECK(per_mount_opt(p, "rw"));
	pathf(p, "%s/mnt/t", f->root);
	CHECK(per_mount_opt(p, "nosuid"));
	CHECK(per_mount_opt(p, "nodev"));
	CHECK(per_mount_opt(p, "noexec"));
	CHECK(per_mount_opt(p, "nosymfollow"));
	/* noexec is real: busybox copied there does not run. */
	char bb[PATH_MAX];
	pathf(bb, "%s/mnt/t/busybox", f->root);
	copy_file("/bin/busybox", bb, 0755);
	CHECK(access(bb, X_OK) < 0 && errno == EACCES);
}

static void test_flags_visible(void **state)
{
	run_child(*state, child_flags_visible);
}

static void child_tmpfs_data(struct tmproot *f)
{
	char p[PATH_MAX];
	struct spec_mount mounts[] = { mnt("/data", "tmpfs", "tmpfs", 0, "size=1m,mode=0710") };
	struct spec_config cfg = { .mounts = mounts, .n_mounts = 1 };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	pathf(p, "%s/data", f->root);
	struct statfs sfs;
	CHECK(statfs(p, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC);
	CHECK((uint64_t) sfs.f_blocks * (uint64_t) sfs.f_bsize == 1024 * 1024);
	struct stat st;
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0710);
	char line[4096];
	CHECK(mountinfo_line(p, line, sizeof(line)) && strstr(line, "size=1024k"));
}

static void test_tmpfs_data(void **state)
{
	run_child(*state, child_tmpfs_data);
}

static void child_proc(struct tmproot *f)
{
	char p[PATH_MAX];
	struct spec_mount mounts[] = { mnt("/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) };
	struct spec_config cfg = { .mounts = mounts, .n_mounts = 1 };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	pathf(p, "%s/proc", f->root);
	struct statfs sfs;
	CHECK(statfs(p, &sfs) == 0 && sfs.f_type == PROC_SUPER_MAGIC);
	pathf(p, "%s/proc/self/status", f->root);
	_cleanup_free_ char *s = read_text(p);
	CHECK(s && strstr(s, "Pid:"));
}

static void test_proc(void **state)
{
	run_child(*state, child_proc);
}

static void child_rbind_vs_bind(struct tmproot *f)
{
	char src[PATH_MAX], p[PATH_MAX];
	pathf(src, "%s/src", f->base);
	CHECK(mkdir(src, 0755) == 0);
	pathf(p, "%s/sub", src);
	CHECK(mkdir(p, 0755) == 0);
	CHECK(mount("tmpfs", p, "tmpfs", 0, NULL) == 0);
	pathf(p, "%s/sub/marker", src);
	write_text(p, "sub");
	struct spec_mount mounts[] = {
		mnt("/b", NULL, src, MS_BIND, NULL),
		mnt("/rb", NULL, src, MS_BIND | MS_REC, NULL),
	};
	struct spec_config cfg = { .mounts = mounts, .n_mounts = ARRAY_SIZE(mounts) };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	pathf(p, "%s/b/sub/marker", f->root);
	CHECK(access(p, F_OK) < 0 && errno == ENOENT);
	pathf(p, "%s/rb/sub/marker", f->root);
	CHECK(access(p, F_OK) == 0);
}

static void test_rbind_vs_bind(void **state)
{
	run_child(*state, child_rbind_vs_bind);
}

/* The escape targets are outside the test's directory, so name them per
 * process; the parent checks again once the child is gone. */
static void escape_paths(const struct tmproot *f, char *abs_target, char *dotdot_name)
{
	const char *tag = strrchr(f->base, '.') + 1;
	pathf(abs_target, "/tmp/berth-escape-%s", tag);
	pathf(dotdot_name, "berth-escaped-%s", tag);
}

static void child_symlink_escape(struct tmproot *f)
{
	char target[PATH_MAX], dd[PATH_MAX], p[PATH_MAX], src[PATH_MAX], dest2[PATH_MAX];
	escape_paths(f, target, dd);
	pathf(p, "%s/etc", f->root);
	CHECK(berth_rm_rf(p) == 0);
	CHECK(symlink(target, p) == 0);
	pathf(p, "%s/x", f->root);
	CHECK(symlink("../../..", p) == 0);
	/* While "etc -> /tmp/..." dangles inside the rootfs, a mount through
	 * it creates the link's target inside the rootfs (as runc does), and
	 * nothing on the host. */
	pathf(src, "%s/hostfile", f->base);
	write_text(src, "confined");
	struct spec_mount dangling[] = { mnt("/etc/foo", NULL, src, MS_BIND, NULL) };
	struct spec_config dcfg = { .mounts = dangling, .n_mounts = 1 };
	struct berth_error derr = { 0 };
	CHECK(linux_rootfs_prepare(&dcfg, f->root, &derr) == 0);
	CHECK(access(target, F_OK) < 0 && errno == ENOENT);
	pathf(p, "%s%s/foo", f->root, target);
	CHECK(access(p, F_OK) == 0);
	pathf(p, "%s%s", f->root, target);
	pathf(dest2, "/x/%s/file", dd);
	struct spec_mount mounts[] = {
		mnt("/etc/foo", NULL, src, MS_BIND, NULL),
		mnt(dest2, NULL, src, MS_BIND, NULL),
		mnt("/etc/tmpdir", "tmpfs", "tmpfs", 0, NULL),
	};
	struct spec_config cfg = { .mounts = mounts, .n_mounts = ARRAY_SIZE(mounts) };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);

	CHECK(access(target, F_OK) < 0 && errno == ENOENT);
	pathf(p, "/%s", dd);
	CHECK(access(p, F_OK) < 0 && errno == ENOENT);
	/* "etc -> /tmp/..." resolved inside the rootfs. */
	pathf(p, "%s%s/foo", f->root, target);
	_cleanup_free_ char *s = read_text(p);
	CHECK(s && strcmp(s, "confined") == 0);
	pathf(p, "%s%s/tmpdir", f->root, target);
	struct statfs sfs;
	CHECK(statfs(p, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC);
	/* "x -> ../../.." is clamped to the rootfs' own root. */
	pathf(p, "%s/%s/file", f->root, dd);
	_cleanup_free_ char *s2 = read_text(p);
	CHECK(s2 && strcmp(s2, "confined") == 0);
	CHECK(mountinfo_line(p, (char[4096]) { 0 }, 4096));
}

static void test_symlink_escape(void **state)
{
	struct tmproot *f = *state;
	run_child(f, child_symlink_escape);
	char target[PATH_MAX], dd[PATH_MAX], p[PATH_MAX];
	escape_paths(f, target, dd);
	assert_int_equal(access(target, F_OK), -1);
	pathf(p, "/%s", dd);
	assert_int_equal(access(p, F_OK), -1);
}

static void child_file_bind(struct tmproot *f)
{
	char src[PATH_MAX], p[PATH_MAX];
	pathf(src, "%s/hostname", f->base);
	write_text(src, "box\n");
	struct spec_mount mounts[] = {
		mnt("/etc/hostname", NULL, src, MS_BIND, NULL),      /* missing: created as a file */
		mnt("/etc/passwd", NULL, src, MS_BIND | MS_RDONLY, NULL), /* existing file */
		mnt("/deep/er/file", NULL, src, MS_BIND, NULL),
	};
	struct spec_config cfg = { .mounts = mounts, .n_mounts = ARRAY_SIZE(mounts) };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	const char *dests[] = { "etc/hostname", "etc/passwd", "deep/er/file" };
	for (size_t i = 0; i < ARRAY_SIZE(dests); i++) {
		pathf(p, "%s/%s", f->root, dests[i]);
		struct stat st;
		CHECK(stat(p, &st) == 0 && S_ISREG(st.st_mode));
		_cleanup_free_ char *s = read_text(p);
		CHECK(s && strcmp(s, "box\n") == 0);
	}
	pathf(p, "%s/etc/passwd", f->root);
	check_errno_open(p, O_WRONLY, EROFS);
	/* A file source onto a directory destination is refused. */
	struct spec_mount bad[] = { mnt("/etc", NULL, src, MS_BIND, NULL) };
	struct spec_config cfg2 = { .mounts = bad, .n_mounts = 1 };
	struct berth_error err2 = { 0 };
	CHECK(linux_rootfs_prepare(&cfg2, f->root, &err2) == -EISDIR);
	CHECK(strncmp(err2.msg, "mounts[0] (/etc): create mount point", 36) == 0);
}

static void test_file_bind(void **state)
{
	run_child(*state, child_file_bind);
}

static void child_errors(struct tmproot *f)
{
	char p[PATH_MAX];
	pathf(p, "%s/nonexistent-source", f->base);
	struct spec_mount m1[] = {
		mnt("/a", "tmpfs", "tmpfs", 0, NULL),
		mnt("/b", NULL, p, MS_BIND, NULL),
	};
	struct spec_config cfg = { .mounts = m1, .n_mounts = ARRAY_SIZE(m1) };
	struct berth_error err = { 0 };
	CHECK(linux_rootfs_prepare(&cfg, f->root, &err) == -ENOENT);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want), "mounts[1].source %s: No such file or directory", p);
	CHECK(strcmp(err.msg, want) == 0);

	struct spec_mount m2[] = {
		mnt("/a", "tmpfs", "tmpfs", 0, NULL),
		mnt("/b", "tmpfs", "tmpfs", 0, NULL),
		mnt("/c", "tmpfs", "tmpfs", 0, NULL),
		mnt("/data", "tmpfs", "tmpfs", 0, "size=bogus"),
	};
	struct spec_config cfg2 = { .mounts = m2, .n_mounts = ARRAY_SIZE(m2) };
	struct berth_error err2 = { 0 };
	CHECK(linux_rootfs_prepare(&cfg2, f->root, &err2) == -EINVAL);
	const char *want2 = "mounts[3] (/data): mount tmpfs: Invalid argument";
	if (strncmp(err2.msg, want2, strlen(want2)) != 0)
		fprintf(stderr, "got: %s\n", err2.msg);
	CHECK(strncmp(err2.msg, want2, strlen(want2)) == 0);
	CHECK(strstr(err2.msg, "size=bogus"));

	struct spec_mount m3[] = { mnt("/x", "nosuchfs", NULL, 0, NULL) };
	struct spec_config cfg3 = { .mounts = m3, .n_mounts = 1 };
	struct berth_error err3 = { 0 };
	CHECK(linux_rootfs_prepare(&cfg3, f->root, &err3) == -ENODEV);
	CHECK(strcmp(err3.msg, "mounts[0] (/x): mount nosuchfs: unknown filesystem type") == 0);

	struct spec_mount m4[] = { mnt("/x", "tmpfs", NULL, MS_REMOUNT, NULL) };
	struct spec_config cfg4 = { .mounts = m4, .n_mounts = 1 };
	struct berth_error err4 = { 0 };
	CHECK(linux_rootfs_prepare(&cfg4, f->root, &err4) == -EINVAL);
	CHECK(strstr(err4.msg, "mounts[0] (/x): unsupported mount flags") && strstr(err4.msg, "remount"));

	/* Filesystem data on a bind mount is ignored by the kernel: a
	 * warning, and the bind is made (runc accepts such configs). */
	struct spec_mount m5[] = { mnt("/x", NULL, f->base, MS_BIND, "size=1m") };
	struct spec_config cfg5 = { .mounts = m5, .n_mounts = 1 };
	struct berth_error err5 = { 0 };
	CHECK(linux_rootfs_prepare(&cfg5, f->root, &err5) == 0);

	struct spec_mount m6[] = { mnt("/x", "proc", "proc", 0, NULL) };
	m6[0].tmpcopyup = true;
	struct spec_config cfg6 = { .mounts = m6, .n_mounts = 1 };
	struct berth_error err6 = { 0 };
	CHECK(linux_rootfs_prepare(&cfg6, f->root, &err6) == -EINVAL);
	CHECK(strstr(err6.msg, "tmpcopyup is only valid for tmpfs"));
}

static void test_errors(void **state)
{
	run_child(*state, child_errors);
}

/* Run busybox inside the new root: the rootfs is usable after pivot. */
static void check_busybox_runs(void)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execl("/bin/busybox", "busybox", "test", "-c", "/dev/null", (char *) NULL);
		_exit(127);
	}
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void check_only_container_mounts(void)
{
	_cleanup_free_ char *mi = read_text("/proc/self/mountinfo");
	CHECK(mi);
	if (count_lines(mi) != 3)
		fprintf(stderr, "mountinfo:\n%s", mi);
	CHECK(count_lines(mi) == 3);
	char line[4096];
	CHECK(mountinfo_line("/", line, sizeof(line)));
	CHECK(mountinfo_line("/proc", line, sizeof(line)));
	CHECK(mountinfo_line("/dev", line, sizeof(line)));
}

static void prepare_and_pivot(struct tmproot *f, bool no_pivot)
{
	struct spec_mount mounts[] = {
		mnt("/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
		mnt("/dev", "tmpfs", "tmpfs", MS_NOSUID, "mode=755"),
	};
	struct spec_config cfg = { .mounts = mounts, .n_mounts = ARRAY_SIZE(mounts) };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	CHECK_OK(linux_rootfs_pivot(f->root, no_pivot, &err), &err);
}

static void child_pivot(struct tmproot *f)
{
	prepare_and_pivot(f, false);
	char cwd[PATH_MAX];
	CHECK(getcwd(cwd, sizeof(cwd)) && strcmp(cwd, "/") == 0);
	CHECK(access("/bin/busybox", X_OK) == 0);
	CHECK(access(f->base, F_OK) < 0 && errno == ENOENT);
	CHECK(access("/sys/fs/cgroup/cpu", F_OK) < 0);
	struct stat st;
	CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	check_only_container_mounts();
	check_busybox_runs();
}

static void test_pivot(void **state)
{
	run_child(*state, child_pivot);
}

static void child_no_pivot(struct tmproot *f)
{
	prepare_and_pivot(f, true);
	char cwd[PATH_MAX];
	CHECK(getcwd(cwd, sizeof(cwd)) && strcmp(cwd, "/") == 0);
	CHECK(access("/bin/busybox", X_OK) == 0);
	CHECK(access(f->base, F_OK) < 0 && errno == ENOENT);
	check_only_container_mounts();
	check_busybox_runs();
}

static void test_no_pivot(void **state)
{
	run_child(*state, child_no_pivot);
}

static void child_masked(struct tmproot *f)
{
	char p[PATH_MAX];
	pathf(p, "%s/etc/secret", f->root);
	write_text(p, "top secret");
	pathf(p, "%s/secretdir", f->root);
	CHECK(mkdir(p, 0755) == 0);
	pathf(p, "%s/secretdir/key", f->root);
	write_text(p, "key");
	prepare_and_pivot(f, false);

	char *masked[] = { "/etc/secret", "/secretdir", "/nonexistent", "/proc/kcore", "/proc/version" };
	struct spec_linux lx = { .masked_paths = masked, .n_masked_paths = ARRAY_SIZE(masked) };
	struct spec_config cfg = { .linux_ = &lx };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_finalize(&cfg, &err), &err);
	_cleanup_free_ char *s = read_text("/etc/secret");
	CHECK(s && s[0] == '\0');
	struct stat st;
	CHECK(stat("/etc/secret", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	CHECK(access("/secretdir/key", F_OK) < 0 && errno == ENOENT);
	struct statfs sfs;
	CHECK(statfs("/secretdir", &sfs) == 0 && sfs.f_type == TMPFS_MAGIC);
	check_errno_open("/secretdir/new", O_WRONLY | O_CREAT, EROFS);
	_cleanup_free_ char *v = read_text("/proc/version");
	CHECK(v && v[0] == '\0');
}

static void test_masked(void **state)
{
	run_child(*state, child_masked);
}

static void child_masked_bad_devnull(struct tmproot *f)
{
	char p[PATH_MAX];
	pathf(p, "%s/etc/secret", f->root);
	write_text(p, "top secret");
	prepare_and_pivot(f, false);
	char *masked[] = { "/etc/secret" };
	struct spec_linux lx = { .masked_paths = masked, .n_masked_paths = 1 };
	struct spec_config cfg = { .linux_ = &lx };

	/* A regular file in place of /dev/null. */
	CHECK(unlink("/dev/null") == 0);
	write_text("/dev/null", "");
	struct berth_error err = { 0 };
	CHECK(linux_rootfs_finalize(&cfg, &err) == -EPERM);
	CHECK(strstr(err.msg, "linux.maskedPaths[0] (/etc/secret)") && strstr(err.msg, "not the null device"));

	/* A symlink in place of /dev/null. */
	CHECK(unlink("/dev/null") == 0);
	CHECK(symlink("/etc/passwd", "/dev/null") == 0);
	struct berth_error err2 = { 0 };
	CHECK(linux_rootfs_finalize(&cfg, &err2) == -ELOOP);
	CHECK(strstr(err2.msg, "symlink"));

	_cleanup_free_ char *s = read_text("/etc/secret");
	CHECK(s && strcmp(s, "top secret") == 0);
	_cleanup_free_ char *pw = read_text("/etc/passwd");
	CHECK(pw && strncmp(pw, "root:", 5) == 0);
}

static void test_masked_bad_devnull(void **state)
{
	run_child(*state, child_masked_bad_devnull);
}

static void child_readonly_paths(struct tmproot *f)
{
	char p[PATH_MAX];
	pathf(p, "%s/data", f->root);
	CHECK(mkdir(p, 0755) == 0);
	struct spec_mount mounts[] = {
		mnt("/proc", "proc", "proc", 0, NULL),
		mnt("/dev", "tmpfs", "tmpfs", 0, NULL),
		mnt("/data/sub", "tmpfs", "tmpfs", 0, NULL),
	};
	struct spec_config cfg = { .mounts = mounts, .n_mounts = ARRAY_SIZE(mounts) };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	CHECK_OK(linux_rootfs_pivot(f->root, false, &err), &err);

	char *ro[] = { "/data", "/etc/passwd", "/missing" };
	struct spec_linux lx = { .readonly_paths = ro, .n_readonly_paths = ARRAY_SIZE(ro) };
	struct spec_config cfg2 = { .linux_ = &lx };
	CHECK_OK(linux_rootfs_finalize(&cfg2, &err), &err);
	check_errno_open("/data/x", O_WRONLY | O_CREAT, EROFS);
	check_errno_open("/data/sub/x", O_WRONLY | O_CREAT, EROFS);
	check_errno_open("/etc/passwd", O_WRONLY, EROFS);
	_cleanup_free_ char *pw = read_text("/etc/passwd");
	CHECK(pw && strncmp(pw, "root:", 5) == 0);
	write_text("/etc/other", "writable");
	write_text("/tmp/x", "writable");
}

static void test_readonly_paths(void **state)
{
	run_child(*state, child_readonly_paths);
}

static void child_root_readonly(struct tmproot *f)
{
	prepare_and_pivot(f, false);
	/* A flag "/" already has must survive the read-only remount. */
	struct mount_attr a = { .attr_set = MOUNT_ATTR_NOSUID };
	CHECK(mount_setattr(AT_FDCWD, "/", 0, &a, sizeof(a)) == 0);
	struct spec_config cfg = { .root_readonly = true };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_finalize(&cfg, &err), &err);
	check_errno_open("/newfile", O_WRONLY | O_CREAT, EROFS);
	struct statvfs sv;
	CHECK(statvfs("/", &sv) == 0 && (sv.f_flag & ST_RDONLY) && (sv.f_flag & ST_NOSUID));
	/* Mounts below / keep their own mode. */
	write_text("/dev/writable", "yes");
}

static void test_root_readonly(void **state)
{
	run_child(*state, child_root_readonly);
}

static void child_no_devices_when_dev_bound(struct tmproot *f)
{
	char fake[PATH_MAX], p[PATH_MAX];
	pathf(fake, "%s/fakedev", f->base);
	CHECK(mkdir(fake, 0755) == 0);
	struct spec_mount mounts[] = { mnt("/dev/", NULL, fake, MS_BIND | MS_REC, NULL) };
	struct spec_config cfg = { .mounts = mounts, .n_mounts = 1 };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	pathf(p, "%s/null", fake);
	CHECK(access(p, F_OK) < 0 && errno == ENOENT);
	pathf(p, "%s/fd", fake);
	CHECK(access(p, F_OK) < 0);
}

static void test_no_devices_when_dev_bound(void **state)
{
	run_child(*state, child_no_devices_when_dev_bound);
}

static void child_default_devices(struct tmproot *f)
{
	struct spec_mount mounts[] = { mnt("/dev", "tmpfs", "tmpfs", 0, "mode=755") };
	struct spec_config cfg = { .mounts = mounts, .n_mounts = 1 };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	char p[PATH_MAX], l[PATH_MAX];
	pathf(p, "%s/dev/urandom", f->root);
	struct stat st;
	CHECK(stat(p, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 9));
	pathf(p, "%s/dev/stdout", f->root);
	ssize_t n = readlink(p, l, sizeof(l) - 1);
	CHECK(n > 0);
	l[n] = '\0';
	CHECK(strcmp(l, "/proc/self/fd/1") == 0);
}

static void test_default_devices(void **state)
{
	run_child(*state, child_default_devices);
}

static void child_legacy_api(struct tmproot *f)
{
	char src[PATH_MAX], p[PATH_MAX], file[PATH_MAX], target[PATH_MAX], dd[PATH_MAX];
	pathf(src, "%s/src", f->base);
	CHECK(mkdir(src, 0755) == 0);
	pathf(p, "%s/sub", src);
	CHECK(mkdir(p, 0755) == 0);
	CHECK(mount("tmpfs", p, "tmpfs", 0, NULL) == 0);
	pathf(p, "%s/sub/marker", src);
	write_text(p, "sub");
	pathf(file, "%s/file", f->base);
	write_text(file, "legacy");
	escape_paths(f, target, dd);
	pathf(p, "%s/lnk", f->root);
	CHECK(symlink(target, p) == 0);
	pathf(p, "%s%s", f->root, target);
	CHECK(mkdir(p, 0755) == 0);

	struct spec_mount mounts[] = {
		mnt("/ro", NULL, src, MS_BIND | MS_RDONLY, NULL),
		mnt("/t", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0700"),
		mnt("/rb", NULL, src, MS_BIND | MS_REC, NULL),
		mnt("/rro", NULL, src, MS_BIND | MS_REC, NULL),
		mnt("/etc/file", NULL, file, MS_BIND, NULL),
		mnt("/lnk/in", "tmpfs", "tmpfs", 0, NULL),
		mnt("/shared", "tmpfs", "tmpfs", 0, NULL),
	};
	mounts[3].attr_set = MOUNT_ATTR_RDONLY;
	mounts[6].propagation = MS_SHARED;
	struct spec_config cfg = { .mounts = mounts, .n_mounts = ARRAY_SIZE(mounts) };
	struct linux_rootfs_options opts = { .legacy_mount_api = true };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare_with(&cfg, f->root, &opts, &err), &err);

	pathf(p, "%s/ro/new", f->root);
	check_errno_open(p, O_WRONLY | O_CREAT, EROFS);
	pathf(p, "%s/ro/sub/marker", f->root);
	CHECK(access(p, F_OK) < 0 && errno == ENOENT);
	pathf(p, "%s/t", f->root);
	struct statvfs sv;
	CHECK(statvfs(p, &sv) == 0 && (sv.f_flag & ST_NOSUID) && (sv.f_flag & ST_NODEV));
	CHECK((uint64_t) sv.f_blocks * sv.f_frsize == 1024 * 1024);
	struct stat st;
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0700);
	pathf(p, "%s/rb/sub/marker", f->root);
	CHECK(access(p, F_OK) == 0);
	pathf(p, "%s/rb/sub/new", f->root);
	write_text(p, "rw");
	pathf(p, "%s/rro/sub/new2", f->root);
	check_errno_open(p, O_WRONLY | O_CREAT, EROFS);
	pathf(p, "%s/etc/file", f->root);
	_cleanup_free_ char *s = read_text(p);
	CHECK(s && strcmp(s, "legacy") == 0);
	CHECK(access(target, F_OK) < 0 && errno == ENOENT);
	pathf(p, "%s%s/in", f->root, target);
	struct statfs sfs;
	CHECK(statfs(p, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC);
	char line[4096];
	pathf(p, "%s/shared", f->root);
	CHECK(mountinfo_line(p, line, sizeof(line)) && strstr(line, " shared:"));
}

static void test_legacy_api(void **state)
{
	run_child(*state, child_legacy_api);
}

static void child_propagation(struct tmproot *f)
{
	char p[PATH_MAX], line[4096];
	struct spec_mount mounts[] = {
		mnt("/proc", "proc", "proc", 0, NULL),
		mnt("/dev", "tmpfs", "tmpfs", 0, NULL),
		mnt("/s", "tmpfs", "tmpfs", 0, NULL),
		mnt("/u", "tmpfs", "tmpfs", 0, NULL),
	};
	mounts[2].propagation = MS_SHARED;
	mounts[3].propagation = MS_UNBINDABLE;
	struct spec_linux lx = { .has_rootfs_propagation = true, .rootfs_propagation = MS_SHARED | MS_REC };
	struct spec_config cfg = { .mounts = mounts, .n_mounts = ARRAY_SIZE(mounts), .linux_ = &lx };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	pathf(p, "%s/s", f->root);
	CHECK(mountinfo_line(p, line, sizeof(line)) && strstr(line, " shared:"));
	pathf(p, "%s/u", f->root);
	CHECK(mountinfo_line(p, line, sizeof(line)) && strstr(line, " unbindable"));
	/* "/" rshared is refused as pivot_root's current root: pivot copes. */
	CHECK_OK(linux_rootfs_pivot(f->root, false, &err), &err);
	CHECK_OK(linux_rootfs_finalize(&cfg, &err), &err);
	CHECK(mountinfo_line("/", line, sizeof(line)) && strstr(line, " shared:"));
}

static void test_propagation(void **state)
{
	run_child(*state, child_propagation);
}

static void child_mount_label_ignored(struct tmproot *f)
{
	char p[PATH_MAX], line[4096];
	struct spec_mount mounts[] = { mnt("/t", "tmpfs", "tmpfs", 0, NULL) };
	struct spec_linux lx = { .mount_label = "system_u:object_r:container_file_t:s0:c1,c2" };
	struct spec_config cfg = { .mounts = mounts, .n_mounts = 1, .linux_ = &lx };
	struct berth_error err = { 0 };
	CHECK(access("/sys/fs/selinux", F_OK) < 0);
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	pathf(p, "%s/t", f->root);
	CHECK(mountinfo_line(p, line, sizeof(line)) && !strstr(line, "context="));
}

static void test_mount_label_ignored(void **state)
{
	run_child(*state, child_mount_label_ignored);
}

static void child_sysfs(struct tmproot *f)
{
	char p[PATH_MAX];
	struct spec_mount mounts[] = { mnt("/sys", "sysfs", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) };
	struct spec_config cfg = { .mounts = mounts, .n_mounts = 1 };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	pathf(p, "%s/sys/kernel", f->root);
	CHECK(access(p, F_OK) == 0);
	pathf(p, "%s/sys", f->root);
	struct statvfs sv;
	CHECK(statvfs(p, &sv) == 0 && (sv.f_flag & ST_RDONLY) && (sv.f_flag & ST_NOEXEC));
	/* A new instance: nothing of the host's /sys submounts comes along. */
	pathf(p, "%s/sys/fs/cgroup/cpu", f->root);
	CHECK(access(p, F_OK) < 0);
}

static void test_sysfs(void **state)
{
	run_child(*state, child_sysfs);
}

static void child_sysfs_userns(struct tmproot *f)
{
	enter_userns();
	char p[PATH_MAX];
	struct spec_mount mounts[] = { mnt("/sys", "sysfs", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) };
	struct spec_config cfg = { .mounts = mounts, .n_mounts = 1 };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	pathf(p, "%s/sys/kernel", f->root);
	CHECK(access(p, F_OK) == 0);
	pathf(p, "%s/sys", f->root);
	struct statvfs sv;
	CHECK(statvfs(p, &sv) == 0 && (sv.f_flag & ST_RDONLY) && (sv.f_flag & ST_NOSUID));
	/* The rbind brings the host's submounts, read-only as well. */
	pathf(p, "%s/sys/fs/cgroup", f->root);
	struct statfs sfs;
	CHECK(statfs(p, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC);
	CHECK(statvfs(p, &sv) == 0 && (sv.f_flag & ST_RDONLY));
}

static void test_sysfs_userns(void **state)
{
	run_child(*state, child_sysfs_userns);
}

/* ----------------------------------------------------------------- cgroups */

static bool host_is_hybrid(void)
{
	struct statfs sfs;
	return statfs("/sys/fs/cgroup/unified", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC &&
	       statfs("/sys/fs/cgroup/pids", &sfs) == 0 && sfs.f_type == CGROUP_SUPER_MAGIC;
}

/* A cgroup of our own in the pids (v1) and unified (v2) hierarchies, under
 * a "berth" parent, so the child's cgroup paths are known and not "/". */
static void cg_paths(const struct tmproot *f, char *pids, char *unified)
{
	const char *tag = strrchr(f->base, '.') + 1;
	pathf(pids, "/sys/fs/cgroup/pids/berth/rootfs-test-%s", tag);
	pathf(unified, "/sys/fs/cgroup/unified/berth/rootfs-test-%s", tag);
}

static void cg_enter(const struct tmproot *f)
{
	char pids[PATH_MAX], uni[PATH_MAX], p[PATH_MAX];
	cg_paths(f, pids, uni);
	CHECK(berth_mkdir_p(pids, 0755) == 0);
	CHECK(berth_mkdir_p(uni, 0755) == 0);
	pathf(p, "%s/cgroup.procs", pids);
	CHECK(berth_write_file(p, "0", 1) == 0);
	pathf(p, "%s/cgroup.procs", uni);
	CHECK(berth_write_file(p, "0", 1) == 0);
}

static void cg_cleanup(const struct tmproot *f)
{
	char pids[PATH_MAX], uni[PATH_MAX];
	cg_paths(f, pids, uni);
	rmdir(pids);
	rmdir(uni);
	rmdir("/sys/fs/cgroup/pids/berth");     /* fails while others use it */
	rmdir("/sys/fs/cgroup/unified/berth");
}

static void same_inode(const char *a, const char *b)
{
	struct stat sa, sb;
	CHECK(stat(a, &sa) == 0 && stat(b, &sb) == 0);
	if (sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev)
		fprintf(stderr, "%s and %s differ\n", a, b);
	CHECK(sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev);
}

static void child_cgroup_v1(struct tmproot *f)
{
	cg_enter(f);
	char p[PATH_MAX], pids[PATH_MAX], uni[PATH_MAX], line[4096], root[1024];
	cg_paths(f, pids, uni);
	struct spec_mount mounts[] = {
		mnt("/sys/fs/cgroup", "cgroup", "cgroup", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
	};
	struct spec_config cfg = { .mounts = mounts, .n_mounts = 1 };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);

	pathf(p, "%s/sys/fs/cgroup", f->root);
	struct statfs sfs;
	struct statvfs sv;
	CHECK(statfs(p, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC);
	CHECK(statvfs(p, &sv) == 0 && (sv.f_flag & ST_RDONLY) && (sv.f_flag & ST_NOEXEC));
	pathf(p, "%s/sys/fs/cgroup/new", f->root);
	CHECK(mkdir(p, 0755) < 0 && errno == EROFS);
	/* Each hierarchy shows this process's own cgroup, read-only. */
	pathf(p, "%s/sys/fs/cgroup/pids", f->root);
	CHECK(statfs(p, &sfs) == 0 && sfs.f_type == CGROUP_SUPER_MAGIC);
	CHECK(statvfs(p, &sv) == 0 && (sv.f_flag & ST_RDONLY) && (sv.f_flag & ST_NOSUID));
	same_inode(p, pids);
	CHECK(mountinfo_line(p, line, sizeof(line)));
	mi_field(line, 3, root, sizeof(root));
	CHECK(strcmp(root, pids + strlen("/sys/fs/cgroup/pids")) == 0);
	pathf(p, "%s/sys/fs/cgroup/unified", f->root);
	CHECK(statfs(p, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC);
	same_inode(p, uni);
	pathf(p, "%s/sys/fs/cgroup/cpu/cgroup.procs", f->root);
	CHECK(access(p, F_OK) == 0);
	pathf(p, "%s/sys/fs/cgroup/systemd", f->root);
	CHECK(access(p, F_OK) == 0);
}

static void test_cgroup_v1(void **state)
{
	struct tmproot *f = *state;
	if (!host_is_hybrid()) {
		print_message("skipped: the host has no hybrid cgroup layout\n");
		return;
	}
	run_child(f, child_cgroup_v1);
	cg_cleanup(f);
}

static void child_cgroup_ns(struct tmproot *f)
{
	cg_enter(f);
	CHECK(unshare(CLONE_NEWCGROUP) == 0);
	char p[PATH_MAX], line[4096], root[1024];
	struct spec_mount mounts[] = { mnt("/sys/fs/cgroup", "cgroup", "cgroup", MS_RDONLY | MS_NOSUID, NULL) };
	struct spec_namespace ns[] = { { .type = CLONE_NEWCGROUP } };
	struct spec_linux lx = { .namespaces = ns, .n_namespaces = 1 };
	struct spec_config cfg = { .mounts = mounts, .n_mounts = 1, .linux_ = &lx };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	/* New instances, showing the namespace's root. */
	pathf(p, "%s/sys/fs/cgroup/pids", f->root);
	CHECK(mountinfo_line(p, line, sizeof(line)));
	mi_field(line, 3, root, sizeof(root));
	CHECK(strcmp(root, "/") == 0);
	struct statvfs sv;
	CHECK(statvfs(p, &sv) == 0 && (sv.f_flag & ST_RDONLY));
	pathf(p, "%s/sys/fs/cgroup/pids/cgroup.procs", f->root);
	_cleanup_free_ char *procs = read_text(p);
	char me[32];
	snprintf(me, sizeof(me), "%d\n", (int) getpid());
	CHECK(procs && strstr(procs, me));
	pathf(p, "%s/sys/fs/cgroup/unified", f->root);
	CHECK(mountinfo_line(p, line, sizeof(line)) && strstr(line, " - cgroup2 "));
	mi_field(line, 3, root, sizeof(root));
	CHECK(strcmp(root, "/") == 0);
}

static void test_cgroup_ns(void **state)
{
	struct tmproot *f = *state;
	if (!host_is_hybrid()) {
		print_message("skipped: the host has no hybrid cgroup layout\n");
		return;
	}
	run_child(f, child_cgroup_ns);
	cg_cleanup(f);
}

static void child_cgroup2_type(struct tmproot *f)
{
	cg_enter(f);
	char p[PATH_MAX], pids[PATH_MAX], uni[PATH_MAX];
	cg_paths(f, pids, uni);
	struct spec_mount mounts[] = { mnt("/sys/fs/cgroup", "cgroup2", "cgroup2", MS_NOSUID | MS_NOEXEC, NULL) };
	struct spec_config cfg = { .mounts = mounts, .n_mounts = 1 };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	pathf(p, "%s/sys/fs/cgroup", f->root);
	struct statfs sfs;
	CHECK(statfs(p, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC);
	same_inode(p, uni);
	CHECK(per_mount_opt(p, "nosuid") && per_mount_opt(p, "noexec"));
}

static void test_cgroup2_type(void **state)
{
	struct tmproot *f = *state;
	if (!host_is_hybrid()) {
		print_message("skipped: the host has no hybrid cgroup layout\n");
		return;
	}
	run_child(f, child_cgroup2_type);
	cg_cleanup(f);
}

/* ------------------------------------------------------ idmap, copy-up, tty */

static void child_idmap(struct tmproot *f)
{
	char src[PATH_MAX], p[PATH_MAX];
	pathf(src, "%s/idsrc", f->base);
	CHECK(mkdir(src, 0755) == 0);
	pathf(p, "%s/file", src);
	write_text(p, "x");
	CHECK(chown(p, 0, 0) == 0);
	struct spec_id_mapping u[] = { { .container_id = 0, .host_id = 1000, .size = 1 } };
	struct spec_id_mapping g[] = { { .container_id = 0, .host_id = 1001, .size = 1 } };
	struct spec_id_mapping lu[] = { { .container_id = 0, .host_id = 2000, .size = 10 } };
	struct spec_mount mounts[] = {
		mnt("/idm", NULL, src, MS_BIND, NULL),
		mnt("/idm2", NULL, src, MS_BIND, NULL),
	};
	mounts[0].idmap = true;
	mounts[0].uid_mappings = u;
	mounts[0].n_uid_mappings = 1;
	mounts[0].gid_mappings = g;
	mounts[0].n_gid_mappings = 1;
	mounts[1].idmap = true; /* no mappings: the container's */
	struct spec_linux lx = { .uid_mappings = lu, .n_uid_mappings = 1, .gid_mappings = lu, .n_gid_mappings = 1 };
	struct spec_config cfg = { .mounts = mounts, .n_mounts = ARRAY_SIZE(mounts), .linux_ = &lx };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	struct stat st;
	pathf(p, "%s/idm/file", f->root);
	CHECK(stat(p, &st) == 0 && st.st_uid == 1000 && st.st_gid == 1001);
	pathf(p, "%s/idm2/file", f->root);
	CHECK(stat(p, &st) == 0 && st.st_uid == 2000 && st.st_gid == 2000);
	pathf(p, "%s/file", src);
	CHECK(stat(p, &st) == 0 && st.st_uid == 0);

	struct spec_mount bad[] = { mnt("/idm3", NULL, src, MS_BIND, NULL) };
	bad[0].idmap = true;
	struct spec_config cfg2 = { .mounts = bad, .n_mounts = 1 };
	struct berth_error err2 = { 0 };
	CHECK(linux_rootfs_prepare(&cfg2, f->root, &err2) == -EINVAL);
	CHECK(strstr(err2.msg, "mounts[0] (/idm3): idmap needs uidMappings and gidMappings"));
}

static void test_idmap(void **state)
{
	run_child(*state, child_idmap);
}

static void child_tmpcopyup(struct tmproot *f)
{
	char p[PATH_MAX], l[PATH_MAX];
	pathf(p, "%s/etc/sub", f->root);
	CHECK(mkdir(p, 0750) == 0);
	pathf(p, "%s/etc/sub/file", f->root);
	write_text(p, "deep");
	CHECK(chmod(p, 0600) == 0 && chown(p, 123, 456) == 0);
	pathf(p, "%s/etc/link", f->root);
	CHECK(symlink("passwd", p) == 0);
	pathf(p, "%s/etc/fifo", f->root);
	CHECK(mkfifo(p, 0640) == 0);
	pathf(p, "%s/ro", f->root);
	CHECK(mkdir(p, 0700) == 0);
	pathf(p, "%s/ro/keep", f->root);
	write_text(p, "kept");

	struct spec_mount mounts[] = {
		mnt("/etc", "tmpfs", "tmpfs", 0, NULL),
		mnt("/ro", "tmpfs", "tmpfs", MS_RDONLY, NULL),
	};
	mounts[0].tmpcopyup = true;
	mounts[1].tmpcopyup = true;
	struct spec_config cfg = { .mounts = mounts, .n_mounts = ARRAY_SIZE(mounts) };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);

	struct statfs sfs;
	pathf(p, "%s/etc", f->root);
	CHECK(statfs(p, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC);
	pathf(p, "%s/etc/passwd", f->root);
	_cleanup_free_ char *pw = read_text(p);
	CHECK(pw && strncmp(pw, "root:", 5) == 0);
	struct stat st;
	pathf(p, "%s/etc/sub", f->root);
	CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750);
	pathf(p, "%s/etc/sub/file", f->root);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600 && st.st_uid == 123 && st.st_gid == 456);
	_cleanup_free_ char *deep = read_text(p);
	CHECK(deep && strcmp(deep, "deep") == 0);
	pathf(p, "%s/etc/link", f->root);
	ssize_t n = readlink(p, l, sizeof(l) - 1);
	CHECK(n == 6 && strncmp(l, "passwd", 6) == 0);
	pathf(p, "%s/etc/fifo", f->root);
	CHECK(lstat(p, &st) == 0 && S_ISFIFO(st.st_mode));
	pathf(p, "%s/etc/newfile", f->root);
	write_text(p, "only in the tmpfs");
	pathf(p, "%s/ro/keep", f->root);
	_cleanup_free_ char *kept = read_text(p);
	CHECK(kept && strcmp(kept, "kept") == 0);
	pathf(p, "%s/ro/new", f->root);
	check_errno_open(p, O_WRONLY | O_CREAT, EROFS);
	pathf(p, "%s/ro", f->root);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0700);
}

static void test_tmpcopyup(void **state)
{
	struct tmproot *f = *state;
	run_child(f, child_tmpcopyup);
	char p[PATH_MAX];
	pathf(p, "%s/etc/newfile", f->root);
	assert_int_equal(access(p, F_OK), -1);
}

static int open_pty(int *slave)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	CHECK(master >= 0);
	CHECK(grantpt(master) == 0 && unlockpt(master) == 0);
	char *name = ptsname(master);
	CHECK(name);
	*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	CHECK(*slave >= 0);
	return master;
}

static void child_console(struct tmproot *f)
{
	/* A terminal of the host's devpts is not in the container's mount
	 * namespace after pivot: it cannot be bound, and the error says so. */
	int host_slave;
	int host_master = open_pty(&host_slave);
	struct spec_mount mounts[] = {
		mnt("/proc", "proc", "proc", 0, NULL),
		mnt("/dev", "tmpfs", "tmpfs", 0, "mode=755"),
		mnt("/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"),
	};
	struct spec_config cfg = { .mounts = mounts, .n_mounts = ARRAY_SIZE(mounts) };
	struct berth_error err = { 0 };
	CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
	CHECK_OK(linux_rootfs_pivot(f->root, false, &err), &err);
	struct berth_error herr = { 0 };
	CHECK(linux_rootfs_bind_console(host_slave, &herr) == -EINVAL);
	CHECK(strstr(herr.msg, "devpts"));
	close(host_master);
	close(host_slave);

	/* As the runtime does: allocate the pty inside the container. */
	int slave;
	int master = open_pty(&slave);
	CHECK_OK(linux_rootfs_bind_console(slave, &err), &err);
	struct stat a, b;
	CHECK(stat("/dev/console", &a) == 0 && fstat(slave, &b) == 0);
	CHECK(S_ISCHR(a.st_mode) && a.st_rdev == b.st_rdev);
	int c = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	CHECK(c >= 0);
	CHECK(write(c, "hi\n", 3) == 3);
	close(c);
	struct pollfd pfd = { .fd = master, .events = POLLIN };
	CHECK(poll(&pfd, 1, 5000) == 1);
	char buf[16] = { 0 };
	CHECK(read(master, buf, sizeof(buf) - 1) >= 2 && strncmp(buf, "hi", 2) == 0);
	struct berth_error err2 = { 0 };
	int pipefd[2];
	CHECK(pipe(pipefd) == 0);
	CHECK(linux_rootfs_bind_console(pipefd[0], &err2) == -EINVAL);
}

static void test_console(void **state)
{
	run_child(*state, child_console);
}

static void child_userns_devices(struct tmproot *f)
{
	enter_userns();
	struct spec_mount mounts[] = {
		mnt("/proc", "proc", "proc", 0, NULL),
		mnt("/dev", "tmpfs", "tmpfs", 0, "mode=755"),
	};
	struct spec_config cfg = { .mounts = mounts, .n_mounts = ARRAY_SIZE(mounts) };
	struct berth_error err = { 0 };
	/* The proc mount needs a pid namespace of our own in a userns. */
	CHECK(unshare(CLONE_NEWPID) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK_OK(linux_rootfs_prepare(&cfg, f->root, &err), &err);
		char p[PATH_MAX];
		pathf(p, "%s/dev/null", f->root);
		struct stat st;
		CHECK(stat(p, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
		struct statx stx;
		CHECK(statx(AT_FDCWD, p, 0, STATX_BASIC_STATS, &stx) == 0);
		CHECK(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
		write_text(p, "discarded");
		CHECK_OK(linux_rootfs_pivot(f->root, false, &err), &err);
		char *masked[] = { "/etc/passwd" };
		struct spec_linux lx = { .masked_paths = masked, .n_masked_paths = 1 };
		struct spec_config cfg2 = { .linux_ = &lx, .root_readonly = true };
		CHECK_OK(linux_rootfs_finalize(&cfg2, &err), &err);
		_cleanup_free_ char *s = read_text("/etc/passwd");
		CHECK(s && s[0] == '\0');
		check_errno_open("/newfile", O_WRONLY | O_CREAT, EROFS);
		_exit(0);
	}
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_userns_devices(void **state)
{
	run_child(*state, child_userns_devices);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_rootfs needs root\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_missing_rootfs, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_refuses_host_namespace, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_bind_ro, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_flags_visible, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_tmpfs_data, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_proc, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rbind_vs_bind, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_symlink_escape, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_file_bind, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_errors, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_pivot, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_no_pivot, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_masked, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_masked_bad_devnull, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_readonly_paths, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_root_readonly, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_no_devices_when_dev_bound, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_default_devices, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_legacy_api, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_propagation, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_mount_label_ignored, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sysfs, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sysfs_userns, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_cgroup_v1, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_cgroup_ns, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_cgroup2_type, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_idmap, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_tmpcopyup, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_console, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_userns_devices, fixture_setup, fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
