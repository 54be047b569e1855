/* Tests for linux/process and linux/caps: each runs in a forked child and
 * reads the outcome back from the kernel (/proc/self/status, getrlimit,
 * sched_getscheduler, fcntl). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/ioprio.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "linux/caps.h"
#include "linux/procfs.h"
#include "linux/process.h"

#include "unit_helpers.h"

/* The value of "Name:\t..." in /proc/self/status, without the newline. */
static char *status_field(const char *name)
{
	_cleanup_free_ char *s = NULL;
	CHECK(berth_read_file("/proc/self/status", &s, NULL) == 0);
	char key[64];
	snprintf(key, sizeof(key), "\n%s:\t", name);
	char *p = strstr(s, key);
	CHECK(p != NULL);
	p += strlen(key);
	char *end = strchr(p, '\n');
	return strndup(p, (size_t) (end - p));
}

static uint64_t status_mask(const char *name)
{
	_cleanup_free_ char *v = status_field(name);
	return strtoull(v, NULL, 16);
}

#define BIT(n) ((uint64_t) 1 << (n))

/* ---- rlimits ---- */

/* Make sure CAP_SYS_RESOURCE is not ours, whatever the host (this host's
 * root lacks it; elsewhere it is dropped here).  Returns the permitted set
 * that is left. */
static uint64_t drop_cap_sys_resource(void)
{
	CHECK(prctl(PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0) == 0);
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	CHECK(syscall(SYS_capget, &hdr, d) == 0);
	d[0].effective &= ~(1U << CAP_SYS_RESOURCE);
	d[0].permitted &= ~(1U << CAP_SYS_RESOURCE);
	CHECK(syscall(SYS_capset, &hdr, d) == 0);
	return ((uint64_t) d[1].permitted << 32) | d[0].permitted;
}

static void child_rlimits(void)
{
	struct spec_rlimit rl[] = {
		{ .resource = RLIMIT_NOFILE, .type = "RLIMIT_NOFILE", .soft = 1024, .hard = 4096 },
		{ .resource = RLIMIT_CORE, .type = "RLIMIT_CORE", .soft = 0, .hard = RLIM_INFINITY },
	};
	struct spec_process p = { .rlimits = rl, .n_rlimits = 2 };
	CHECK_OK(linux_process_set_rlimits(&p, &e_), &e_);
	struct rlimit got;
	CHECK(getrlimit(RLIMIT_NOFILE, &got) == 0);
	CHECK(got.rlim_cur == 1024 && got.rlim_max == 4096);
	CHECK(getrlimit(RLIMIT_CORE, &got) == 0);
	CHECK(got.rlim_cur == 0 && got.rlim_max == RLIM_INFINITY);
}

static void test_rlimits_applied(void **state)
{
	run_in_child(child_rlimits);
}

static void child_rlimit_above_host(void)
{
	struct rlimit host;
	CHECK(getrlimit(RLIMIT_NOFILE, &host) == 0);
	drop_cap_sys_resource();

	uint64_t want = (uint64_t) host.rlim_max + 1000;
	struct spec_rlimit rl[] = {
		{ .resource = RLIMIT_NOFILE, .type = "RLIMIT_NOFILE", .soft = 1024, .hard = want },
	};
	struct spec_process p = { .rlimits = rl, .n_rlimits = 1 };
	struct berth_error err = { 0 };
	CHECK(linux_process_set_rlimits(&p, &err) == -EPERM);
	char msg[256];
	snprintf(msg, sizeof(msg),
		 "process.rlimits[0] (RLIMIT_NOFILE): hard limit %llu is above this host's limit %llu and raising it needs CAP_SYS_RESOURCE",
		 (unsigned long long) want, (unsigned long long) host.rlim_max);
	if (strcmp(err.msg, msg) != 0) {
		fprintf(stderr, "got: %s\nwant: %s\n", err.msg, msg);
		_exit(1);
	}
	struct rlimit after;
	CHECK(getrlimit(RLIMIT_NOFILE, &after) == 0);
	CHECK(after.rlim_max == host.rlim_max);

	rl[0].hard = 100;
	rl[0].soft = 200;
	berth_error_clear(&err);
	CHECK(linux_process_set_rlimits(&p, &err) == -EINVAL);
	CHECK(strstr(err.msg, "soft limit 200 is above the hard limit 100") != NULL);
}

static void test_rlimit_above_host_limit(void **state)
{
	run_in_child(child_rlimit_above_host);
}

/* ---- user ---- */

static void child_set_user(void)
{
	gid_t gids[] = { 10, 20 };
	struct spec_process p = {
		.user = { .uid = 1000, .gid = 1000, .additional_gids = gids, .n_additional_gids = 2,
			  .has_umask = true, .umask = 027 },
	};
	CHECK_OK(linux_process_set_user(&p, &e_), &e_);
	_cleanup_free_ char *uid = status_field("Uid"), *gid = status_field("Gid");
	_cleanup_free_ char *groups = status_field("Groups"), *um = status_field("Umask");
	CHECK(strcmp(uid, "1000\t1000\t1000\t1000") == 0);
	CHECK(strcmp(gid, "1000\t1000\t1000\t1000") == 0);
	CHECK(strcmp(groups, "10 20 ") == 0 || strcmp(groups, "10 20") == 0);
	CHECK(strcmp(um, "0027") == 0);
	CHECK(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) == 0);
	/* Permitted survived the uid change for linux_caps_apply; effective did not. */
	CHECK(status_mask("CapPrm") != 0);
	CHECK(status_mask("CapEff") == 0);
}

static void test_set_user(void **state)
{
	run_in_child(child_set_user);
}

static void child_set_user_defaults(void)
{
	CHECK(setgroups(1, (gid_t[]) { 5 }) == 0);
	struct spec_process p = { .user = { .uid = 0, .gid = 0 } };
	CHECK_OK(linux_process_set_user(&p, &e_), &e_);
	_cleanup_free_ char *groups = status_field("Groups"), *um = status_field("Umask");
	/* No additionalGids: the runtime's own groups are gone. */
	CHECK(strspn(groups, " ") == strlen(groups));
	CHECK(strcmp(um, "0022") == 0);
}

static void test_set_user_defaults(void **state)
{
	run_in_child(child_set_user_defaults);
}

/* A user namespace whose setgroups is "deny", as rootless setups make. */
static void child_setgroups_denied(void)
{
	CHECK(unshare(CLONE_NEWUSER) == 0);
	CHECK(berth_write_file("/proc/self/setgroups", "deny", 4) == 0);
	CHECK(berth_write_file("/proc/self/uid_map", "0 0 1", 5) == 0);
	CHECK(berth_write_file("/proc/self/gid_map", "0 0 1", 5) == 0);

	gid_t gids[] = { 0 };
	struct spec_process p = { .user = { .uid = 0, .gid = 0, .additional_gids = gids, .n_additional_gids = 1 } };
	struct berth_error err = { 0 };
	CHECK(linux_process_set_user(&p, &err) == -EPERM);
	CHECK(strstr(err.msg, "process.user.additionalGids: setgroups is denied in this user namespace") != NULL);

	/* Nothing to set: skipped, and the rest still happens. */
	p.user.n_additional_gids = 0;
	p.user.has_umask = true;
	p.user.umask = 077;
	CHECK_OK(linux_process_set_user(&p, &e_), &e_);
	_cleanup_free_ char *um = status_field("Umask");
	CHECK(strcmp(um, "0077") == 0);

	/* A uid with no mapping in this namespace. */
	p.user.uid = 1000;
	berth_error_clear(&err);
	CHECK(linux_process_set_user(&p, &err) == -EINVAL);
	CHECK(strstr(err.msg, "process.user.uid 1000: not mapped") != NULL);
}

static void test_set_user_setgroups_denied(void **state)
{
	run_in_child(child_setgroups_denied);
}

/* ---- capabilities ---- */

static void child_caps(void)
{
	struct spec_capabilities c = {
		.bounding = BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FOWNER) | BIT(CAP_KILL) |
			    BIT(CAP_SETUID) | BIT(CAP_NET_BIND_SERVICE),
		.permitted = BIT(CAP_CHOWN) | BIT(CAP_KILL) | BIT(CAP_NET_BIND_SERVICE),
		.effective = BIT(CAP_CHOWN) | BIT(CAP_KILL),
		.inheritable = BIT(CAP_KILL) | BIT(CAP_NET_BIND_SERVICE),
		.ambient = BIT(CAP_NET_BIND_SERVICE),
	};
	/* The order the container init uses. */
	CHECK_OK(linux_caps_drop_bounding(&c, true, &e_), &e_);
	struct spec_process p = { .user = { .uid = 1000, .gid = 1000 } };
	CHECK_OK(linux_process_set_user(&p, &e_), &e_);
	CHECK_OK(linux_caps_apply(&c, true, &e_), &e_);
	CHECK(status_mask("CapBnd") == c.bounding);
	CHECK(status_mask("CapPrm") == c.permitted);
	CHECK(status_mask("CapEff") == c.effective);
	CHECK(status_mask("CapInh") == c.inheritable);
	CHECK(status_mask("CapAmb") == c.ambient);
}

static void test_caps_exact_sets(void **state)
{
	run_in_child(child_caps);
}

static void child_caps_none(void)
{
	struct spec_capabilities c = { 0 };
	c.bounding = c.permitted = c.effective = BIT(CAP_CHOWN); /* ignored: has == false */
	CHECK_OK(linux_caps_drop_bounding(&c, false, &e_), &e_);
	CHECK_OK(linux_caps_apply(&c, false, &e_), &e_);
	CHECK(status_mask("CapBnd") == 0);
	CHECK(status_mask("CapPrm") == 0);
	CHECK(status_mask("CapEff") == 0);
	CHECK(status_mask("CapInh") == 0);
	CHECK(status_mask("CapAmb") == 0);
}

static void test_caps_none(void **state)
{
	run_in_child(child_caps_none);
}

static void child_caps_errors(void)
{
	uint64_t held = drop_cap_sys_resource();

	struct berth_error err = { 0 };
	/* A capability the runtime does not hold is dropped with a warning
	 * (runtime-spec: SHOULD NOT fail); everything else is still granted. */
	struct spec_capabilities c = { .permitted = held | BIT(CAP_SYS_RESOURCE),
				       .effective = held | BIT(CAP_SYS_RESOURCE) };
	CHECK(linux_caps_apply(&c, true, &err) == 0);
	CHECK(status_mask("CapPrm") == held);
	CHECK(status_mask("CapEff") == held);

	/* Ambient without inheritable cannot be raised: warned and skipped,
	 * the rest is applied (the default `runc spec` config does this). */
	c = (struct spec_capabilities) { .permitted = held, .effective = held, .ambient = BIT(CAP_KILL) };
	berth_error_clear(&err);
	CHECK(linux_caps_apply(&c, true, &err) == 0);
	CHECK(status_mask("CapAmb") == 0);
	CHECK(status_mask("CapEff") == held);

	/* A capability beyond this kernel's last is skipped, not an error. */
	int last = linux_caps_last_cap();
	if (last < 63) {
		c = (struct spec_capabilities) { .bounding = BIT(CAP_KILL) | BIT(last + 1),
						 .permitted = BIT(CAP_KILL) | BIT(last + 1) };
		CHECK_OK(linux_caps_drop_bounding(&c, true, &e_), &e_);
		CHECK_OK(linux_caps_apply(&c, true, &e_), &e_);
		CHECK(status_mask("CapBnd") == BIT(CAP_KILL));
		CHECK(status_mask("CapPrm") == BIT(CAP_KILL));
	}
}

static void test_caps_errors(void **state)
{
	run_in_child(child_caps_errors);
}

static void test_caps_last_cap(void **state)
{
	_cleanup_free_ char *s = NULL;
	assert_int_equal(berth_read_file("/proc/sys/kernel/cap_last_cap", &s, NULL), 0);
	assert_int_equal(linux_caps_last_cap(), atoi(s));
}

/* ---- scheduling, personality, affinity ---- */

static void child_scheduling(void)
{
	struct spec_process p = {
		.has_scheduler = true,
		.scheduler = { .policy = SCHED_BATCH, .nice = 7 },
		.has_io_priority = true, .io_priority_class = IOPRIO_CLASS_BE, .io_priority = 6,
		.exec_cpu_affinity_initial = "0",
	};
	struct spec_linux l = { .has_personality = true, .personality = PER_LINUX32 };
	CHECK_OK(linux_process_set_scheduling(&p, &l, &e_), &e_);
	CHECK(sched_getscheduler(0) == SCHED_BATCH);
	errno = 0;
	CHECK(getpriority(PRIO_PROCESS, 0) == 7 && errno == 0);
	long io = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
	CHECK(io == IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 6));
	CHECK(personality(0xffffffff) == PER_LINUX32);
	cpu_set_t set;
	CHECK(sched_getaffinity(0, sizeof(set), &set) == 0);
	CHECK(CPU_COUNT(&set) == 1 && CPU_ISSET(0, &set));
}

static void test_scheduling(void **state)
{
	run_in_child(child_scheduling);
}

static void child_scheduling_untouched(void)
{
	cpu_set_t before;
	CHECK(sched_getaffinity(0, sizeof(before), &before) == 0);
	struct spec_process p = { 0 };
	CHECK_OK(linux_process_set_scheduling(&p, NULL, &e_), &e_);
	cpu_set_t after;
	CHECK(sched_getaffinity(0, sizeof(after), &after) == 0);
	CHECK(CPU_EQUAL(&before, &after));
	CHECK(sched_getscheduler(0) == SCHED_OTHER);

	struct berth_error err = { 0 };
	p.has_io_priority = true;
	p.io_priority_class = IOPRIO_CLASS_BE;
	p.io_priority = 9;
	CHECK(linux_process_set_scheduling(&p, NULL, &err) == -EINVAL);
	CHECK(strstr(err.msg, "process.ioPriority.priority") != NULL);
}

static void test_scheduling_only_when_given(void **state)
{
	run_in_child(child_scheduling_untouched);
}

static void test_cpu_list_parse(void **state)
{
	struct berth_error err = { 0 };
	cpu_set_t *set = NULL;
	size_t size = 0;
	assert_int_equal(linux_cpu_list_parse("0-3,5,9-9", "x", &set, &size, &err), 0);
	assert_int_equal(CPU_COUNT_S(size, set), 6);
	for (int c = 0; c <= 3; c++)
		assert_true(CPU_ISSET_S(c, size, set));
	assert_true(CPU_ISSET_S(5, size, set));
	assert_true(CPU_ISSET_S(9, size, set));
	assert_false(CPU_ISSET_S(4, size, set));
	CPU_FREE(set);

	assert_int_equal(linux_cpu_list_parse("200", "x", &set, &size, &err), 0);
	assert_true(CPU_ISSET_S(200, size, set));
	CPU_FREE(set);

	const char *bad[] = { "", "3-1", "1-", "-1", "a", "1,,2", "1,", "1 2", "0-99999999" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		berth_error_clear(&err);
		assert_int_equal(linux_cpu_list_parse(bad[i], "process.execCPUAffinity.initial", &set, &size, &err),
				 -EINVAL);
		assert_non_null(strstr(err.msg, "process.execCPUAffinity.initial: \""));
	}
}

static void child_no_new_privs(void)
{
	CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
	CHECK_OK(linux_process_set_no_new_privs(&e_), &e_);
	CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
}

static void test_no_new_privs(void **state)
{
	run_in_child(child_no_new_privs);
}

/* ---- LSM labels (no LSM is active on the test host) ---- */

static bool lsm_active(const char *name)
{
	_cleanup_free_ char *s = NULL;
	return berth_read_file("/sys/kernel/security/lsm", &s, NULL) == 0 && strstr(s, name);
}

static void test_lsm_labels(void **state)
{
	struct berth_error err = { 0 };
	_cleanup_close_ int procfd = linux_procfs_open(&err);
	assert_true(procfd >= 0);
	struct spec_process p = { 0 };
	assert_int_equal(linux_process_set_lsm_labels(procfd, &p, &err), 0);

	if (!lsm_active("apparmor")) {
		p.apparmor_profile = "berth-default";
		assert_int_equal(linux_process_set_lsm_labels(procfd, &p, &err), -EOPNOTSUPP);
		assert_string_equal(err.msg, "process.apparmorProfile: AppArmor is not enabled on this host");
	}
	if (!lsm_active("selinux")) {
		p.apparmor_profile = NULL;
		p.selinux_label = "system_u:system_r:container_t:s0";
		berth_error_clear(&err);
		assert_int_equal(linux_process_set_lsm_labels(procfd, &p, &err), -EOPNOTSUPP);
		assert_string_equal(err.msg, "process.selinuxLabel: SELinux is not enabled on this host");
	}
}

/* ---- fds ---- */

static bool cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	CHECK(fl >= 0);
	return fl & FD_CLOEXEC;
}

static void child_cloexec(void)
{
	int null = open("/dev/null", O_RDWR);
	CHECK(null >= 0);
	for (int fd = 3; fd <= 8; fd++)
		if (fd != null)
			CHECK(dup2(null, fd) == fd);
	CHECK(dup2(null, 100) == 100);
	for (int fd = 3; fd <= 8; fd++)
		CHECK(!cloexec(fd));
	int keep[] = { 7, 5 };
	CHECK(linux_process_cloexec_fds(2, keep, 2) == 0);
	CHECK(!cloexec(3) && !cloexec(4));   /* preserved */
	CHECK(!cloexec(5) && !cloexec(7));   /* kept */
	CHECK(cloexec(6) && cloexec(8) && cloexec(100));
	CHECK(!cloexec(0) && !cloexec(1) && !cloexec(2));

	for (int fd = 3; fd <= 8; fd++)
		CHECK(fcntl(fd, F_SETFD, 0) == 0);
	CHECK(linux_process_cloexec_fds(0, NULL, 0) == 0);
	for (int fd = 3; fd <= 8; fd++)
		CHECK(cloexec(fd));

	/* A kept fd right where the range starts, and two adjacent ones (the
	 * start socket is often fd 3): no empty range may be passed on. */
	for (int fd = 3; fd <= 8; fd++)
		CHECK(fcntl(fd, F_SETFD, 0) == 0);
	int keep2[] = { 3, 4 };
	CHECK(linux_process_cloexec_fds(0, keep2, 2) == 0);
	CHECK(!cloexec(3) && !cloexec(4));
	CHECK(cloexec(5) && cloexec(8));
}

static void test_cloexec_fds(void **state)
{
	run_in_child(child_cloexec);
}

/* ---- cwd ---- */

/* Made by the parent so it is removed even when the child fails. */
static char chdir_root[] = "/tmp/berth-cwd-XXXXXX";

static void child_chdir(void)
{
	int outside = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(outside >= 0);
	CHECK(chroot(chdir_root) == 0);
	CHECK_OK(linux_process_chdir_checked("/work", &e_), &e_);
	char buf[256];
	CHECK(getcwd(buf, sizeof(buf)) && strcmp(buf, "/work") == 0);

	struct berth_error err = { 0 };
	CHECK(linux_process_chdir_checked("/missing", &err) == -ENOENT);
	CHECK(strstr(err.msg, "process.cwd /missing") != NULL);

	/* A directory fd from outside the root (the leaked-fd attack): the
	 * chdir works, the check must refuse it. */
	CHECK(fchdir(outside) == 0);
	berth_error_clear(&err);
	CHECK(linux_process_chdir_checked(".", &err) < 0);
	CHECK(strstr(err.msg, "process.cwd .: the working directory is") != NULL);
}

static void test_chdir_checked(void **state)
{
	assert_non_null(mkdtemp(chdir_root));
	char sub[64];
	snprintf(sub, sizeof(sub), "%s/work", chdir_root);
	assert_int_equal(mkdir(sub, 0755), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_chdir();
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(berth_rm_rf(chdir_root), 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rlimits_applied),
		cmocka_unit_test(test_rlimit_above_host_limit),
		cmocka_unit_test(test_set_user),
		cmocka_unit_test(test_set_user_defaults),
		cmocka_unit_test(test_set_user_setgroups_denied),
		cmocka_unit_test(test_caps_exact_sets),
		cmocka_unit_test(test_caps_none),
		cmocka_unit_test(test_caps_errors),
		cmocka_unit_test(test_caps_last_cap),
		cmocka_unit_test(test_scheduling),
		cmocka_unit_test(test_scheduling_only_when_given),
		cmocka_unit_test(test_cpu_list_parse),
		cmocka_unit_test(test_no_new_privs),
		cmocka_unit_test(test_lsm_labels),
		cmocka_unit_test(test_cloexec_fds),
		cmocka_unit_test(test_chdir_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
