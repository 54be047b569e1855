/* Tests for linux/sysctl: which keys a container may set, and that applying
 * them changes the container's namespaces only. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "linux/procfs.h"
#include "linux/sysctl.h"

#include "unit_helpers.h"

struct fixture {
	struct spec_config cfg;
	struct spec_linux linux_;
	struct spec_namespace ns[4];
	struct spec_kv kv[4];
};

static void setup(struct fixture *f, const int *ns_types, size_t n_ns, const char *key, const char *value)
{
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < n_ns; i++)
		f->ns[i].type = ns_types[i];
	f->linux_.namespaces = f->ns;
	f->linux_.n_namespaces = n_ns;
	f->kv[0].key = (char *) key;
	f->kv[0].value = (char *) value;
	f->linux_.sysctl = f->kv;
	f->linux_.n_sysctl = 1;
	f->cfg.linux_ = &f->linux_;
}

static int validate(const int *ns, size_t n, const char *key, struct berth_error *err)
{
	struct fixture f;
	setup(&f, ns, n, key, "1");
	berth_error_clear(err);
	return linux_sysctl_validate(&f.cfg, err);
}

static void test_validate_matrix(void **state)
{
	struct berth_error err = { 0 };
	const int none[] = { CLONE_NEWNS };
	const int ipc[] = { CLONE_NEWNS, CLONE_NEWIPC };
	const int net[] = { CLONE_NEWNET };
	const int uts[] = { CLONE_NEWUTS };

	assert_int_equal(validate(ipc, 2, "kernel.shmmax", &err), 0);
	assert_int_equal(validate(ipc, 2, "kernel.sem", &err), 0);
	assert_int_equal(validate(ipc, 2, "fs.mqueue.msg_max", &err), 0);
	assert_int_equal(validate(none, 1, "kernel.shmmax", &err), -EPERM);
	assert_string_equal(err.msg,
			    "linux.sysctl.kernel.shmmax: needs its own ipc namespace, and the container shares the host's");
	assert_int_equal(validate(net, 1, "fs.mqueue.msg_max", &err), -EPERM);

	assert_int_equal(validate(net, 1, "net.ipv4.ip_forward", &err), 0);
	assert_int_equal(validate(net, 1, "net/ipv4/conf/eth0.100/forwarding", &err), 0);
	assert_int_equal(validate(ipc, 2, "net.ipv4.ip_forward", &err), -EPERM);
	assert_non_null(strstr(err.msg, "linux.sysctl.net.ipv4.ip_forward: needs its own network namespace"));

	assert_int_equal(validate(uts, 1, "kernel.domainname", &err), 0);
	assert_int_equal(validate(uts, 1, "kernel.hostname", &err), 0);
	assert_int_equal(validate(ipc, 2, "kernel.hostname", &err), -EPERM);

	/* Not namespaced at all: refused whatever namespaces there are. */
	const int all[] = { CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWUTS, CLONE_NEWPID };
	assert_int_equal(validate(all, 4, "kernel.pid_max", &err), -EPERM);
	assert_string_equal(err.msg, "linux.sysctl.kernel.pid_max: sysctl is not in a separate kernel namespace");
	assert_int_equal(validate(all, 4, "vm.swappiness", &err), -EPERM);
	assert_int_equal(validate(all, 4, "kernel.shmmaxx", &err), -EPERM);

	/* Keys that are not sysctl names. */
	assert_int_equal(validate(all, 4, "net..ipv4", &err), -EINVAL);
	assert_int_equal(validate(all, 4, "net/../kernel/pid_max", &err), -EINVAL);
	assert_int_equal(validate(all, 4, "", &err), -EINVAL);
}

static void test_validate_joined_netns(void **state)
{
	struct berth_error err = { 0 };
	struct fixture f;
	const int net[] = { CLONE_NEWNET };

	/* Joining the host's own netns by path is the host's netns. */
	setup(&f, net, 1, "net.ipv4.ip_forward", "1");
	f.ns[0].path = "/proc/self/ns/net";
	assert_int_equal(linux_sysctl_validate(&f.cfg, &err), -EPERM);
	assert_non_null(strstr(err.msg, "not allowed in the host's network namespace"));

	/* A netns of its own, joined by path: fine. */
	int ready[2];
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		CHECK(unshare(CLONE_NEWNET) == 0);
		CHECK(write(ready[1], "x", 1) == 1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	f.ns[0].path = path;
	berth_error_clear(&err);
	int r = linux_sysctl_validate(&f.cfg, &err);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_int_equal(r, 0);

	/* A path that is no namespace at all. */
	f.ns[0].path = "/nonexistent/ns";
	berth_error_clear(&err);
	assert_int_equal(linux_sysctl_validate(&f.cfg, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/ns"));
}

static void child_apply(void)
{
	CHECK(unshare(CLONE_NEWIPC | CLONE_NEWNET) == 0);
	struct berth_error err = { 0 };
	_cleanup_close_ int procfd = linux_procfs_open(&err);
	CHECK(procfd >= 0);
	struct spec_namespace ns[] = { { .type = CLONE_NEWIPC }, { .type = CLONE_NEWNET } };
	struct spec_kv kv[] = {
		{ .key = "kernel.shmmax", .value = "123456789" },
		{ .key = "net/ipv4/ip_forward", .value = "1" },
	};
	struct spec_linux l = { .namespaces = ns, .n_namespaces = 2, .sysctl = kv, .n_sysctl = 2 };
	struct spec_config cfg = { .linux_ = &l };
	CHECK(linux_sysctl_validate(&cfg, &err) == 0);
	CHECK(linux_sysctl_apply(procfd, &cfg, &err) == 0);
	_cleanup_free_ char *a = NULL, *b = NULL;
	CHECK(linux_procfs_read(procfd, "sys/kernel/shmmax", &a, &err) == 0);
	CHECK(strcmp(a, "123456789\n") == 0);
	CHECK(linux_procfs_read(procfd, "sys/net/ipv4/ip_forward", &b, &err) == 0);
	CHECK(strcmp(b, "1\n") == 0);

	/* A value the kernel refuses names the key. */
	struct spec_kv bad[] = { { .key = "kernel.shmmni", .value = "not-a-number" } };
	l.sysctl = bad;
	l.n_sysctl = 1;
	CHECK(linux_sysctl_apply(procfd, &cfg, &err) == -EINVAL);
	CHECK(strncmp(err.msg, "linux.sysctl.kernel.shmmni: /proc/sys/kernel/shmmni", 51) == 0);
}

static void test_apply_in_child_namespaces(void **state)
{
	_cleanup_free_ char *shm_before = NULL, *fwd_before = NULL;
	assert_int_equal(berth_read_file("/proc/sys/kernel/shmmax", &shm_before, NULL), 0);
	assert_int_equal(berth_read_file("/proc/sys/net/ipv4/ip_forward", &fwd_before, NULL), 0);
	assert_string_not_equal(shm_before, "123456789\n");

	run_in_child(child_apply);

	_cleanup_free_ char *shm_after = NULL, *fwd_after = NULL;
	assert_int_equal(berth_read_file("/proc/sys/kernel/shmmax", &shm_after, NULL), 0);
	assert_int_equal(berth_read_file("/proc/sys/net/ipv4/ip_forward", &fwd_after, NULL), 0);
	assert_string_equal(shm_before, shm_after);
	assert_string_equal(fwd_before, fwd_after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_matrix),
		cmocka_unit_test(test_validate_joined_netns),
		cmocka_unit_test(test_apply_in_child_namespaces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
