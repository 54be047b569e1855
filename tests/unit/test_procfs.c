/* Tests for linux/procfs: the handle is a real procfs that mounts over
 * /proc cannot replace, and writes never land outside procfs. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "linux/procfs.h"

#include "unit_helpers.h"

static void test_open_is_procfs_root(void **state)
{
	struct berth_error err = { 0 };
	_cleanup_close_ int fd = linux_procfs_open(&err);
	assert_true(fd >= 0);
	struct statfs sfs;
	assert_int_equal(fstatfs(fd, &sfs), 0);
	assert_true(sfs.f_type == PROC_SUPER_MAGIC);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_ino, 1);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

	_cleanup_free_ char *status = NULL;
	assert_int_equal(linux_procfs_read(fd, "self/status", &status, &err), 0);
	char want[64];
	snprintf(want, sizeof(want), "\nPid:\t%d\n", getpid());
	assert_non_null(strstr(status, want));
}

static void child_overmounted_proc(void)
{
	private_mounts(0);
	CHECK(mount("tmpfs", "/proc", "tmpfs", 0, NULL) == 0);
	/* The plain /proc is now a tmpfs and must be refused as a handle ... */
	_cleanup_close_ int plain = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(plain >= 0);
	struct berth_error err = { 0 };
	CHECK(linux_procfs_verify_root(plain, &err) == -EXDEV);
	CHECK(strstr(err.msg, "not on a procfs") != NULL);
	/* ... while linux_procfs_open still reaches a real instance. */
	berth_error_clear(&err);
	_cleanup_close_ int fd = linux_procfs_open(&err);
	CHECK(fd >= 0);
	_cleanup_free_ char *s = NULL;
	CHECK(linux_procfs_read(fd, "sys/kernel/ostype", &s, &err) == 0);
	CHECK(strcmp(s, "Linux\n") == 0);
}

static void test_open_survives_overmounted_proc(void **state)
{
	run_in_child(child_overmounted_proc);
}

/* In a user namespace that does not own our pid namespace the kernel will
 * not make a private instance: the fallback must take /proc and check it. */
static void child_fallback(void)
{
	private_mounts(0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK(unshare(CLONE_NEWUSER) == 0);
		struct berth_error err = { 0 };
		int fd = linux_procfs_open(&err);
		CHECK(fd >= 0);
		CHECK(!(fcntl(fd, F_GETFL) & O_PATH)); /* not the fsmount instance */
		CHECK(linux_procfs_verify_root(fd, &err) == 0);
		_cleanup_free_ char *s = NULL;
		CHECK(linux_procfs_read(fd, "self/status", &s, &err) == 0);
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* Same, with /proc replaced: the fallback refuses it. */
	CHECK(mount("tmpfs", "/proc", "tmpfs", 0, NULL) == 0);
	CHECK(unshare(CLONE_NEWUSER) == 0);
	struct berth_error err = { 0 };
	CHECK(linux_procfs_open(&err) == -EXDEV);
	CHECK(strstr(err.msg, "/proc: procfs: the handle is not on a procfs") != NULL);
}

static void test_open_fallback_is_checked(void **state)
{
	run_in_child(child_fallback);
}

static void child_refuses_non_proc(void)
{
	private_mounts(0);
	struct berth_error err = { 0 };

	/* A tmpfs mounted beneath a real /proc (as maskedPaths do): openat2
	 * must not cross into it. */
	_cleanup_close_ int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(procfd >= 0);
	CHECK(linux_procfs_verify_root(procfd, NULL) == 0);
	CHECK(mount("tmpfs", "/proc/sys/fs", "tmpfs", 0, NULL) == 0);
	int f = open("/proc/sys/fs/planted", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	CHECK(f >= 0);
	close(f);
	CHECK(linux_procfs_write(procfd, "sys/fs/planted", "1", 1, &err) == -EXDEV);
	CHECK(strstr(err.msg, "/proc/sys/fs/planted") != NULL);
	_cleanup_free_ char *s = NULL;
	berth_error_clear(&err);
	CHECK(linux_procfs_read(procfd, "sys/fs/planted", &s, &err) == -EXDEV);

	/* A handle that is a tmpfs directory: the file opens, but is not on
	 * procfs, so nothing is written. */
	CHECK(mount("tmpfs", "/tmp", "tmpfs", 0, NULL) == 0); /* private to this mount ns */
	_cleanup_close_ int tfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(tfd >= 0);
	f = openat(tfd, "oom_score_adj", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	CHECK(f >= 0);
	close(f);
	berth_error_clear(&err);
	CHECK(linux_procfs_write(tfd, "oom_score_adj", "1000", 4, &err) == -EXDEV);
	CHECK(strstr(err.msg, "not on procfs") != NULL);
	struct stat st;
	CHECK(fstatat(tfd, "oom_score_adj", &st, 0) == 0 && st.st_size == 0);
}

static void test_refuses_non_proc(void **state)
{
	run_in_child(child_refuses_non_proc);
}

static void test_refuses_escapes(void **state)
{
	struct berth_error err = { 0 };
	_cleanup_close_ int fd = linux_procfs_open(&err);
	assert_true(fd >= 0);
	_cleanup_free_ char *s = NULL;
	assert_int_equal(linux_procfs_read(fd, "../etc/hostname", &s, &err), -EXDEV);
	berth_error_clear(&err);
	assert_int_equal(linux_procfs_read(fd, "/etc/hostname", &s, &err), -EXDEV);
	berth_error_clear(&err);
	/* Magic links (root, cwd, fd/N) lead anywhere: refused. */
	assert_int_equal(linux_procfs_read(fd, "self/root/etc/hostname", &s, &err), -ELOOP);
	berth_error_clear(&err);
	assert_int_equal(linux_procfs_read(fd, "thread-self/cwd", &s, &err), -ELOOP);
	assert_null(s);
	berth_error_clear(&err);
	assert_int_equal(linux_procfs_read(fd, "thread-self/comm", &s, &err), 0);
	assert_true(strlen(s) > 0);
}

static void test_oom_score_adj(void **state)
{
	int ready[2], go[2];
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		struct berth_error err = { 0 };
		int fd = linux_procfs_open(&err);
		CHECK(fd >= 0);
		CHECK(linux_set_oom_score_adj(fd, 500, &err) == 0);
		CHECK(write(ready[1], "x", 1) == 1);
		char c;
		CHECK(read(go[0], &c, 1) == 0);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", pid);
	_cleanup_free_ char *s = NULL;
	assert_int_equal(berth_read_file(path, &s, NULL), 0);
	close(go[1]);
	close(ready[0]);
	assert_child_ok(pid);
	assert_string_equal(s, "500\n");

	struct berth_error err = { 0 };
	_cleanup_close_ int fd = linux_procfs_open(&err);
	assert_int_equal(linux_set_oom_score_adj(fd, 1001, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "process.oomScoreAdj"));
}

/* The handle was opened in the host pid namespace; the writer now lives in a
 * child pid namespace where getpid() is 1.  "self" must still mean us. */
static void child_self_in_new_pidns(void)
{
	struct berth_error err = { 0 };
	int fd = linux_procfs_open(&err);
	CHECK(fd >= 0);
	CHECK(unshare(CLONE_NEWPID) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK(getpid() == 1);
		CHECK(linux_set_oom_score_adj(fd, 321, &err) == 0);
		_cleanup_free_ char *s = NULL;
		CHECK(berth_read_file("/proc/self/oom_score_adj", &s, NULL) == 0);
		CHECK(strcmp(s, "321\n") == 0);
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_self_follows_instance(void **state)
{
	run_in_child(child_self_in_new_pidns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_is_procfs_root),
		cmocka_unit_test(test_open_survives_overmounted_proc),
		cmocka_unit_test(test_open_fallback_is_checked),
		cmocka_unit_test(test_refuses_non_proc),
		cmocka_unit_test(test_refuses_escapes),
		cmocka_unit_test(test_oom_score_adj),
		cmocka_unit_test(test_self_follows_instance),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
