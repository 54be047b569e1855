#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "runtime/state.h"

static void ids(void **state)
{
	struct berth_error e = { 0 };
	assert_int_equal(rt_id_validate("abc-1.2_x+y", &e), 0);
	const char *bad[] = { "", "..", ".", "../x", "a/b", "a b", "x\n", "\xc3\xa9" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		berth_error_clear(&e);
		assert_int_equal(rt_id_validate(bad[i], &e), -EINVAL);
		assert_true(strlen(e.msg) > 0);
	}
}

static void exclusive_create_and_round_trip(void **state)
{
	char root[] = "/tmp/berth-state.XXXXXX";
	assert_non_null(mkdtemp(root));
	struct berth_error e = { 0 };
	_cleanup_close_ int rootfd = rt_root_open(root, true, &e);
	assert_true(rootfd >= 0);
	_cleanup_close_ int d1 = rt_state_dir_create(rootfd, "c1", &e);
	assert_true(d1 >= 0);
	int d2 = rt_state_dir_create(rootfd, "c1", &e);
	assert_int_equal(d2, -EEXIST);
	assert_non_null(strstr(e.msg, "already exists"));

	struct rt_state s = {
		.id = "c1", .status = "created", .pid = getpid(),
		.pid_start = rt_pid_start_time(getpid(), NULL),
		.bundle = "/b", .rootfs = "/b/rootfs", .created = "2026-01-01T00:00:00.000000000Z",
		.cgroup = "{\"x\":1}", .annotations = json_pack("{s:s}", "k", "v"),
	};
	assert_int_equal(rt_state_write(d1, &s, &e), 0);
	struct rt_state r = { 0 };
	assert_int_equal(rt_state_read(d1, "c1", &r, &e), 0);
	assert_string_equal(r.status, "created");
	assert_int_equal(r.pid, getpid());
	assert_string_equal(r.rootfs, "/b/rootfs");
	assert_string_equal(r.cgroup, "{\"x\":1}");
	assert_string_equal(json_string_value(json_object_get(r.annotations, "k")), "v");
	assert_true(rt_state_process_alive(&r));
	r.pid_start += 1; /* a different process that got the same pid */
	assert_false(rt_state_process_alive(&r));
	rt_state_clear(&r);
	json_decref(s.annotations);

	berth_error_clear(&e);
	assert_int_equal(rt_state_dir_open(rootfd, "nope", &e), -ENOENT);
	assert_non_null(strstr(e.msg, "does not exist"));
	assert_int_equal(rt_state_dir_remove(rootfd, "c1"), 0);
	assert_int_equal(rt_state_dir_open(rootfd, "c1", NULL), -ENOENT);
	berth_rm_rf(root);
}

static void dead_and_zombie_processes_are_not_alive(void **state)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	/* wait until it is a zombie, without reaping it */
	siginfo_t si;
	assert_int_equal(waitid(P_PID, (id_t) pid, &si, WEXITED | WNOWAIT), 0);
	bool zombie = false;
	unsigned long long st = rt_pid_start_time(pid, &zombie);
	assert_true(st > 0);
	assert_true(zombie);
	struct rt_state s = { .pid = pid, .pid_start = st };
	assert_false(rt_state_process_alive(&s));
	waitpid(pid, NULL, 0);
	assert_int_equal(rt_pid_start_time(pid, NULL), 0);
}

static void corrupt_state_is_reported(void **state)
{
	char root[] = "/tmp/berth-state.XXXXXX";
	assert_non_null(mkdtemp(root));
	struct berth_error e = { 0 };
	_cleanup_close_ int rootfd = rt_root_open(root, false, &e);
	_cleanup_close_ int d = rt_state_dir_create(rootfd, "c2", &e);
	assert_int_equal(berth_write_file_atomic(d, RT_STATE_FILE, "{not json", 9, 0600), 0);
	struct rt_state r = { 0 };
	assert_int_equal(rt_state_read(d, "c2", &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "corrupt"));
	berth_rm_rf(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ids),
		cmocka_unit_test(exclusive_create_and_round_trip),
		cmocka_unit_test(dead_and_zombie_processes_are_not_alive),
		cmocka_unit_test(corrupt_state_is_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
