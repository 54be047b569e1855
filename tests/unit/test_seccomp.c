/* Unit tests for spec/seccomp (parser) and linux/seccomp (build, load,
 * notify).  Every filter is loaded in a forked child, which reports what it
 * observed through its exit status; the test process itself stays unfiltered. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <seccomp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/cleanup.h"
#include "core/error.h"
#include <dirent.h>
#include <fcntl.h>
#include "core/sock.h"
#include "linux/seccomp.h"
#include "spec/seccomp.h"

static int parse(const char *text, struct spec_seccomp **out, struct berth_error *err)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	if (!root) {
		fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
		return -EINVAL;
	}
	int r = spec_seccomp_parse(root, "linux.seccomp", out, err);
	json_decref(root);
	return r;
}

static struct spec_seccomp *parse_ok(const char *text)
{
	struct berth_error err = { 0 };
	struct spec_seccomp *s = NULL;
	int r = parse(text, &s, &err);
	if (r < 0)
		fail_msg("parse failed: %s", err.msg);
	return s;
}

static struct linux_seccomp *build_ok(const char *text)
{
	struct spec_seccomp *s = parse_ok(text);
	struct berth_error err = { 0 };
	struct linux_seccomp *f = NULL;
	int r = linux_seccomp_build(s, &f, &err);
	spec_seccomp_free(s);
	if (r < 0)
		fail_msg("build failed: %s", err.msg);
	return f;
}

/* cmocka turns SIGSYS into a test failure and longjmps back into its
 * runner; a child must die of it (or handle it) instead. */
static void child_setup(void)
{
	signal(SIGSYS, SIG_DFL);
	alarm(10);
}

/* Fork, load f in the child (with no_new_privs, as a container would) and
 * run fn there; returns the child's wait status. */
static int run_filtered(struct linux_seccomp *f, int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_setup();
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(101);
		struct berth_error err = { 0 };
		int nfd;
		if (linux_seccomp_load(f, &nfd, &err) < 0) {
			fprintf(stderr, "load: %s\n", err.msg);
			_exit(100);
		}
		/* Straight to the kernel: a sanitizer's _exit hooks make syscalls a
		 * default-deny profile refuses. */
		syscall(SYS_exit_group, fn(arg));
		_exit(102);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void assert_exit(int st, int code)
{
	if (!WIFEXITED(st))
		fail_msg("child did not exit (status 0x%x, signal %d)", st,
			 WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	assert_int_equal(WEXITSTATUS(st), code);
}

static void assert_sigsys(int st)
{
	if (!WIFSIGNALED(st))
		fail_msg("child was not killed (exit %d)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

/* errno of a failed call, 0 for success. */
static int errno_of(long r)
{
	return r < 0 ? errno : 0;
}

/* ---- parser ---- */

static void test_parse_full(void **state)
{
	struct spec_seccomp *s = parse_ok(
		"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,"
		"\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"],"
		"\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\",\"SECCOMP_FILTER_FLAG_TSYNC\"],"
		"\"listenerPath\":\"/run/agent.sock\",\"listenerMetadata\":\"m\","
		"\"syscalls\":[{\"names\":[\"read\",\"write\"],\"action\":\"SCMP_ACT_ALLOW\"},"
		"{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1,"
		" \"args\":[{\"index\":0,\"value\":255,\"valueTwo\":8,\"op\":\"SCMP_CMP_MASKED_EQ\"},"
		"          {\"index\":5,\"value\":4294967295,\"op\":\"SCMP_CMP_NE\"}]},"
		"{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}");
	assert_non_null(s);
	assert_int_equal(s->default_action, SPEC_SECCOMP_ACT_ERRNO);
	assert_true(s->has_default_errno_ret);
	assert_int_equal(s->default_errno_ret, 38);
	assert_int_equal(s->n_architectures, 2);
	assert_string_equal(s->architectures[1], "SCMP_ARCH_X86");
	assert_null(s->architectures[2]);
	assert_int_equal(s->flags, SPEC_SECCOMP_FLAG_LOG | SPEC_SECCOMP_FLAG_TSYNC);
	assert_string_equal(s->listener_path, "/run/agent.sock");
	assert_string_equal(s->listener_metadata, "m");
	assert_int_equal(s->n_syscalls, 3);
	assert_int_equal(s->syscalls[0].n_names, 2);
	assert_string_equal(s->syscalls[0].names[1], "write");
	assert_false(s->syscalls[0].has_errno_ret);
	const struct spec_seccomp_syscall *p = &s->syscalls[1];
	assert_true(p->has_errno_ret);
	assert_int_equal(p->errno_ret, 1);
	assert_int_equal(p->n_args, 2);
	assert_int_equal(p->args[0].op, SPEC_SECCOMP_OP_MASKED_EQ);
	assert_int_equal(p->args[0].value, 255);
	assert_int_equal(p->args[0].value_two, 8);
	assert_int_equal(p->args[1].index, 5);
	assert_int_equal(p->args[1].value, 4294967295ULL);
	assert_int_equal(p->args[1].op, SPEC_SECCOMP_OP_NE);
	assert_int_equal(s->syscalls[2].action, SPEC_SECCOMP_ACT_NOTIFY);
	assert_true(linux_seccomp_uses_notify(s));
	assert_string_equal(linux_seccomp_listener_path(s), "/run/agent.sock");
	spec_seccomp_free(s);

	s = parse_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":null}");
	assert_int_equal(s->n_syscalls, 0);
	assert_false(linux_seccomp_uses_notify(s));
	assert_null(linux_seccomp_listener_path(s));
	spec_seccomp_free(s);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *json;
		const char *msg;
	} cases[] = {
		{ "{\"syscalls\":[]}", "linux.seccomp.defaultAction: required" },
		{ "{\"defaultAction\":\"SCMP_ACT_FOO\"}",
		  "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_FOO\"" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		  "{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ALLOW\"},"
		  "{\"names\":[\"b\"],\"action\":\"SCMP_ACT_ALLOW\"},"
		  "{\"names\":[\"c\"],\"action\":\"SCMP_ACT_ALLOW\"},"
		  "{\"names\":[\"d\"],\"action\":\"SCMP_ACT_FOO\"}]}",
		  "linux.seccomp.syscalls[3].action: unknown action \"SCMP_ACT_FOO\"" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_Z80\"]}",
		  "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_Z80\"" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_BOGUS\"]}",
		  "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_BOGUS\"" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ERRNO\","
		  "\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_ALMOST\"}]}]}",
		  "linux.seccomp.syscalls[0].args[0].op: unknown operator \"SCMP_CMP_ALMOST\"" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ERRNO\","
		  "\"args\":[{\"index\":6,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
		  "linux.seccomp.syscalls[0].args[0].index: 6 is out of range 0..5" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ERRNO\","
		  "\"args\":[{\"index\":0,\"value\":-1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
		  "linux.seccomp.syscalls[0].args[0].value: -1 is out of range" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ERRNO\","
		  "\"args\":[{\"index\":0,\"op\":\"SCMP_CMP_EQ\"}]}]}",
		  "linux.seccomp.syscalls[0].args[0].value: required" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[],\"action\":\"SCMP_ACT_ERRNO\"}]}",
		  "linux.seccomp.syscalls[0].names: must be a non-empty array" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"action\":\"SCMP_ACT_ERRNO\"}]}",
		  "linux.seccomp.syscalls[0].names: required" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\",\"\"],\"action\":\"SCMP_ACT_ERRNO\"}]}",
		  "linux.seccomp.syscalls[0].names[1]: must be a non-empty string" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"]}]}",
		  "linux.seccomp.syscalls[0].action: required" },
		{ "{\"defaultAction\":\"SCMP_ACT_NOTIFY\",\"listenerPath\":\"/x\"}",
		  "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}",
		  "linux.seccomp.listenerPath: required because linux.seccomp.syscalls[0].action is SCMP_ACT_NOTIFY" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/x\",\"syscalls\":"
		  "[{\"names\":[\"read\",\"write\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}",
		  "linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for the write syscall" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"defaultErrnoRet\":1}",
		  "linux.seccomp.defaultErrnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_ALLOW" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],\"action\":\"SCMP_ACT_KILL\",\"errnoRet\":1}]}",
		  "linux.seccomp.syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE" },
		{ "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":65536}",
		  "linux.seccomp.defaultErrnoRet: 65536 is out of range 0..65535" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":\"SCMP_ARCH_X86\"}",
		  "linux.seccomp.architectures: must be an array" },
		{ "[]", "linux.seccomp: must be an object" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct berth_error err = { 0 };
		struct spec_seccomp *s = NULL;
		int r = parse(cases[i].json, &s, &err);
		if (r >= 0)
			fail_msg("case %zu parsed but should not: %s", i, cases[i].json);
		assert_int_equal(r, -err.code);
		assert_null(s);
		if (strncmp(err.msg, cases[i].msg, strlen(cases[i].msg)) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err.msg, cases[i].msg);
	}
}

static void test_known_lists(void **state)
{
	bool has_notify = false, has_masked = false, has_wait = false, has_arm = false;
	for (const char *const *p = linux_seccomp_known_actions(); *p; p++)
		has_notify |= strcmp(*p, "SCMP_ACT_NOTIFY") == 0;
	for (const char *const *p = linux_seccomp_known_operators(); *p; p++)
		has_masked |= strcmp(*p, "SCMP_CMP_MASKED_EQ") == 0;
	for (const char *const *p = linux_seccomp_known_flags(); *p; p++)
		has_wait |= strcmp(*p, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") == 0;
	for (const char *const *p = linux_seccomp_known_architectures(); *p; p++)
		has_arm |= strcmp(*p, "SCMP_ARCH_AARCH64") == 0;
	assert_true(has_notify && has_masked && has_wait && has_arm);
	assert_true(linux_seccomp_kernel_supported());
	assert_true(linux_seccomp_flag_supported(SPEC_SECCOMP_FLAG_TSYNC));
	assert_true(linux_seccomp_flag_supported(SPEC_SECCOMP_FLAG_LOG));
}

/* ---- actions ---- */

static int do_mkdir_rmdir(void *arg)
{
	int a = errno_of(mkdir("/proc/berth-seccomp-test", 0700));
	int b = errno_of(syscall(SYS_getppid));
	/* Two answers packed in one exit code: mkdir's errno, getppid's errno. */
	if (a > 63 || b > 3)
		return 250;
	return a * 4 + b;
}

static void test_errno(void **state)
{
	struct linux_seccomp *f = build_ok(
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		"{\"names\":[\"mkdir\",\"mkdirat\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":38},"
		"{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\"}]}");
	int st = run_filtered(f, do_mkdir_rmdir, NULL);
	assert_exit(st, 38 * 4 + EPERM);
	linux_seccomp_free(f);
}

static int do_getpid_errno(void *arg)
{
	return errno_of(syscall(SYS_getpid));
}

static void test_default_errno(void **state)
{
	/* Everything but exiting is refused: the default action's errno shows
	 * up on getpid, which cannot fail otherwise. */
	struct linux_seccomp *f = build_ok(
		"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":7,\"syscalls\":["
		"{\"names\":[\"exit_group\",\"exit\"],\"action\":\"SCMP_ACT_ALLOW\"}]}");
	assert_exit(run_filtered(f, do_getpid_errno, NULL), 7);
	linux_seccomp_free(f);

	f = build_ok("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
		     "{\"names\":[\"exit_group\",\"exit\"],\"action\":\"SCMP_ACT_ALLOW\"}]}");
	assert_exit(run_filtered(f, do_getpid_errno, NULL), EPERM);
	linux_seccomp_free(f);
}

static int do_getppid(void *arg)
{
	syscall(SYS_getppid);
	return 0;
}

static void *thread_getppid(void *arg)
{
	syscall(SYS_getppid);
	return NULL;
}

/* The filtered syscall runs in a second thread; the main thread reports
 * whether it outlived it. */
static int do_getppid_in_thread(void *arg)
{
	pthread_t t;
	if (pthread_create(&t, NULL, thread_getppid, NULL) != 0)
		return 120;
	pthread_join(t, NULL);
	return 42;
}

static void test_kill(void **state)
{
	struct linux_seccomp *f = build_ok(
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		"{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_KILL\"}]}");
	assert_sigsys(run_filtered(f, do_getppid, NULL));
	/* SCMP_ACT_KILL is KILL_THREAD: the rest of the process lives on. */
	assert_exit(run_filtered(f, do_getppid_in_thread, NULL), 42);
	linux_seccomp_free(f);

	f = build_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		     "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_KILL_THREAD\"}]}");
	assert_exit(run_filtered(f, do_getppid_in_thread, NULL), 42);
	linux_seccomp_free(f);

	f = build_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		     "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_KILL_PROCESS\"}]}");
	assert_sigsys(run_filtered(f, do_getppid_in_thread, NULL));
	linux_seccomp_free(f);
}

static volatile sig_atomic_t trapped_nr = -1;

static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	trapped_nr = si->si_syscall;
}

static int do_trap(void *arg)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	sigaction(SIGSYS, &sa, NULL);
	syscall(SYS_getppid);
	return trapped_nr == SYS_getppid ? 0 : 1;
}

static void test_trap_trace_log(void **state)
{
	struct linux_seccomp *f = build_ok(
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		"{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_TRAP\"}]}");
	assert_exit(run_filtered(f, do_trap, NULL), 0);
	/* Without a handler SIGSYS ends the process. */
	assert_sigsys(run_filtered(f, do_getppid, NULL));
	linux_seccomp_free(f);

	/* With no tracer attached the kernel fails a TRACE'd syscall with ENOSYS. */
	f = build_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		     "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_TRACE\",\"errnoRet\":3}]}");
	assert_exit(run_filtered(f, do_getpid_errno, NULL), ENOSYS);
	linux_seccomp_free(f);

	f = build_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		     "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_LOG\"}]}");
	assert_exit(run_filtered(f, do_getpid_errno, NULL), 0);
	linux_seccomp_free(f);
}

/* ---- argument conditions ---- */

static int do_personality(void *arg)
{
	int q = errno_of(syscall(SYS_personality, 0xffffffffUL));
	int z = errno_of(syscall(SYS_personality, 0UL));
	return q * 4 + (z ? 1 : 0);
}

/* lseek(-1, off, whence) is harmless: allowed it fails with EBADF, denied
 * with the profile's errno (77).  Bit i of the result: call i was denied. */
struct lseek_calls {
	size_t n;
	long off[6];
	int whence[6];
};

static int do_lseeks(void *arg)
{
	const struct lseek_calls *c = arg;
	int mask = 0;
	for (size_t i = 0; i < c->n; i++) {
		int e = errno_of(syscall(SYS_lseek, -1, c->off[i], c->whence[i]));
		if (e == 77)
			mask |= 1 << i;
		else if (e != EBADF)
			return 200;
	}
	return mask;
}

static void test_args(void **state)
{
	struct linux_seccomp *f = build_ok(
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		"{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ERRNO\","
		" \"args\":[{\"index\":0,\"value\":4294967295,\"op\":\"SCMP_CMP_EQ\"}]}]}");
	assert_exit(run_filtered(f, do_personality, NULL), EPERM * 4 + 0);
	linux_seccomp_free(f);

	/* MASKED_EQ: (off & 0xf0) == 0x30. */
	f = build_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		     "{\"names\":[\"lseek\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":77,"
		     " \"args\":[{\"index\":1,\"value\":240,\"valueTwo\":48,\"op\":\"SCMP_CMP_MASKED_EQ\"}]}]}");
	struct lseek_calls masked = { 3, { 0x35, 0x45, 0x130 }, { 0, 0, 0 } };
	assert_exit(run_filtered(f, do_lseeks, &masked), 0x1 | 0x4);
	linux_seccomp_free(f);

	/* Different indexes: ANDed in one rule. */
	f = build_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		     "{\"names\":[\"lseek\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":77,"
		     " \"args\":[{\"index\":1,\"value\":100,\"op\":\"SCMP_CMP_EQ\"},"
		     "          {\"index\":2,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}");
	struct lseek_calls and = { 3, { 100, 100, 5 }, { 1, 0, 1 } };
	assert_exit(run_filtered(f, do_lseeks, &and), 0x1);
	linux_seccomp_free(f);

	/* Same index twice: one rule per condition, so either matches (runc). */
	f = build_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		     "{\"names\":[\"lseek\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":77,"
		     " \"args\":[{\"index\":1,\"value\":7,\"op\":\"SCMP_CMP_EQ\"},"
		     "          {\"index\":1,\"value\":9,\"op\":\"SCMP_CMP_EQ\"}]}]}");
	struct lseek_calls same = { 3, { 7, 8, 9 }, { 0, 0, 0 } };
	assert_exit(run_filtered(f, do_lseeks, &same), 0x1 | 0x4);
	linux_seccomp_free(f);

	/* Ordering operators. */
	f = build_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		     "{\"names\":[\"lseek\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":77,"
		     " \"args\":[{\"index\":1,\"value\":10,\"op\":\"SCMP_CMP_GE\"},"
		     "          {\"index\":2,\"value\":2,\"op\":\"SCMP_CMP_LT\"}]}]}");
	struct lseek_calls ord = { 4, { 9, 10, 11, 11 }, { 0, 1, 0, 2 } };
	assert_exit(run_filtered(f, do_lseeks, &ord), 0x2 | 0x4);
	linux_seccomp_free(f);
}

static void test_unknown_names_and_arches(void **state)
{
	/* A name no kernel has is skipped; the rest of the entry still works.
	 * socketcall only exists on 32-bit x86 here; a rule equal to the
	 * default action is dropped rather than refused. */
	struct linux_seccomp *f = build_ok(
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		"\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"],"
		"\"syscalls\":["
		"{\"names\":[\"no_such_syscall_berth\",\"mkdir\",\"mkdirat\",\"socketcall\"],"
		" \"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":38},"
		"{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ALLOW\"},"
		"{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]}");
	assert_exit(run_filtered(f, do_mkdir_rmdir, NULL), 38 * 4 + 1);
	linux_seccomp_free(f);
}

static void test_build_errors(void **state)
{
	/* An architecture the spec knows but this libseccomp does not. */
	if (seccomp_arch_resolve_name("loongarch64") == 0) {
		struct spec_seccomp *s = parse_ok(
			"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_LOONGARCH64\"]}");
		struct linux_seccomp *f = NULL;
		struct berth_error err = { 0 };
		assert_true(linux_seccomp_build(s, &f, &err) < 0);
		assert_null(f);
		assert_string_equal(err.msg,
				    "linux.seccomp.architectures[1]: SCMP_ARCH_LOONGARCH64 is not supported by this libseccomp");
		spec_seccomp_free(s);
	}
}

/* Without no_new_privs and without CAP_SYS_ADMIN the kernel refuses the
 * filter; the error says what is missing. */

static int call_getppid(void *arg)
{
	(void) arg;
	return errno_of(syscall(SYS_getppid)) == EPERM ? 0 : 1;
}

/* A cached program is the compiled one, is reused, and a damaged entry is rebuilt. */
static void test_build_cache(void **state)
{
	(void) state;
	const char *profile = "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getppid\"],"
			      "\"action\":\"SCMP_ACT_ERRNO\"}]}";
	char dir[] = "/tmp/berth-seccomp-cache.XXXXXX";
	assert_non_null(mkdtemp(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	struct spec_seccomp *s = parse_ok(profile);
	struct berth_error err = { 0 };
	struct linux_seccomp *a = NULL, *b = NULL, *c = NULL;
	assert_int_equal(linux_seccomp_build_cached(s, dfd, &a, &err), 0);
	DIR *d = fdopendir(dup(dfd));
	struct dirent *de;
	char name[300] = "";
	int n = 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(name, sizeof(name), "%s", de->d_name);
			n++;
		}
	closedir(d);
	assert_int_equal(n, 1);
	struct stat st1, st2;
	assert_int_equal(fstatat(dfd, name, &st1, 0), 0);
	assert_int_equal(linux_seccomp_build_cached(s, dfd, &b, &err), 0);
	assert_int_equal(fstatat(dfd, name, &st2, 0), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);      /* read, not rewritten */
	assert_exit(run_filtered(b, call_getppid, NULL), 0);
	/* Truncate the entry: it is ignored and rebuilt, and still works. */
	int fd = openat(dfd, name, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "junk", 4), 4);
	close(fd);
	assert_int_equal(linux_seccomp_build_cached(s, dfd, &c, &err), 0);
	assert_exit(run_filtered(c, call_getppid, NULL), 0);
	assert_int_equal(fstatat(dfd, name, &st2, 0), 0);
	assert_true(st2.st_size > 4);
	linux_seccomp_free(a);
	linux_seccomp_free(b);
	linux_seccomp_free(c);
	spec_seccomp_free(s);
	unlinkat(dfd, name, 0);
	close(dfd);
	rmdir(dir);
}

static void test_load_needs_nnp_or_cap(void **state)
{
	struct linux_seccomp *f = build_ok(
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ERRNO\"}]}");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_setup();
		struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
		struct __user_cap_data_struct data[2] = { 0 };
		if (syscall(SYS_capset, &hdr, data) < 0)
			_exit(120);
		struct berth_error err = { 0 };
		int nfd;
		int r = linux_seccomp_load(f, &nfd, &err);
		if (r != -EACCES || !strstr(err.msg, "no_new_privs"))
			_exit(1);
		/* Still unfiltered. */
		_exit(syscall(SYS_getpid) > 0 ? 0 : 2);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_exit(st, 0);
	linux_seccomp_free(f);
}

/* ---- flags ---- */

static pthread_barrier_t tsync_barrier;

static void *tsync_thread(void *arg)
{
	pthread_barrier_wait(&tsync_barrier);   /* filter not loaded yet */
	pthread_barrier_wait(&tsync_barrier);   /* main loaded it */
	return (void *) (intptr_t) errno_of(syscall(SYS_getppid));
}

static void test_flags(void **state)
{
	struct linux_seccomp *f = build_ok(
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\"],"
		"\"syscalls\":[{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":9}]}");
	assert_exit(run_filtered(f, do_getpid_errno, NULL), 9);
	linux_seccomp_free(f);

	if (linux_seccomp_flag_supported(SPEC_SECCOMP_FLAG_SPEC_ALLOW)) {
		f = build_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\"],"
			     "\"syscalls\":[{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":9}]}");
		assert_exit(run_filtered(f, do_getpid_errno, NULL), 9);
		linux_seccomp_free(f);
	}
	/* Meaningless without a listener, but accepted. */
	if (linux_seccomp_flag_supported(SPEC_SECCOMP_FLAG_WAIT_KILLABLE_RECV)) {
		f = build_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV\"],"
			     "\"syscalls\":[{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":9}]}");
		assert_exit(run_filtered(f, do_getpid_errno, NULL), 9);
		linux_seccomp_free(f);
	}

	/* TSYNC: a thread that existed before the load is filtered too. */
	f = build_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_TSYNC\"],"
		     "\"syscalls\":[{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":11}]}");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_setup();
		pthread_t t;
		pthread_barrier_init(&tsync_barrier, NULL, 2);
		if (pthread_create(&t, NULL, tsync_thread, NULL) != 0)
			_exit(120);
		pthread_barrier_wait(&tsync_barrier);
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		struct berth_error err = { 0 };
		int nfd;
		if (linux_seccomp_load(f, &nfd, &err) < 0)
			_exit(100);
		pthread_barrier_wait(&tsync_barrier);
		void *ret;
		pthread_join(t, &ret);
		_exit((int) (intptr_t) ret);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_exit(st, 11);
	linux_seccomp_free(f);
}

/* ---- notify ---- */

static const char notify_profile[] =
	"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/run/berth-agent.sock\","
	"\"listenerMetadata\":\"meta-42\",%s"
	"\"syscalls\":[{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_NOTIFY\"},"
	"{\"names\":[\"mkdir\",\"mkdirat\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}";

static void notify_roundtrip(const char *flags)
{
	char text[1024];
	snprintf(text, sizeof(text), notify_profile, flags);
	struct spec_seccomp *s = parse_ok(text);
	struct linux_seccomp *f = NULL;
	struct berth_error err = { 0 };
	if (linux_seccomp_build(s, &f, &err) < 0)
		fail_msg("build: %s", err.msg);

	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_setup();
		close(sv[0]);
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		int nfd = -1;
		if (linux_seccomp_load(f, &nfd, &err) < 0 || nfd < 0)
			_exit(100);
		char state_json[256];
		snprintf(state_json, sizeof(state_json),
			 "{\"ociVersion\":\"1.2.0\",\"id\":\"c1\",\"status\":\"creating\",\"pid\":%d,\"bundle\":\"/b\"}",
			 (int) getpid());
		if (linux_seccomp_send_notify_fd(sv[1], nfd, s, getpid(), state_json, &err) < 0)
			_exit(101);
		close(nfd);
		close(sv[1]);
		long v = syscall(SYS_getppid);
		if (v != 4242)
			_exit(102);
		int e = errno_of(mkdir("/proc/berth-notify-test", 0700));
		_exit(e == EXDEV ? 0 : 103);
	}
	close(sv[1]);

	/* The agent's side: the state text (until EOF) with the fd attached. */
	char buf[4096];
	size_t len = 0;
	int nfd = -1;
	for (;;) {
		int fd = -1;
		size_t got = 0;
		assert_true(len < sizeof(buf) - 1);
		struct pollfd pfd = { .fd = sv[0], .events = POLLIN };
		assert_int_equal(poll(&pfd, 1, 5000), 1);
		int r = berth_recv_fd(sv[0], &fd, buf + len, sizeof(buf) - 1 - len, &got);
		if (r == -ECONNRESET)
			break;
		assert_int_equal(r, 0);
		if (fd >= 0) {
			assert_int_equal(nfd, -1);
			nfd = fd;
		}
		if (got == 0)
			break;
		len += got;
	}
	close(sv[0]);
	buf[len] = '\0';
	assert_true(nfd >= 0);

	json_error_t jerr;
	json_t *root = json_loads(buf, 0, &jerr);
	if (!root)
		fail_msg("agent got invalid JSON: %s", buf);
	assert_string_equal(json_string_value(json_object_get(root, "ociVersion")), "1.2.0");
	json_t *fds = json_object_get(root, "fds");
	assert_int_equal(json_array_size(fds), 1);
	assert_string_equal(json_string_value(json_array_get(fds, 0)), "seccompFd");
	assert_int_equal(json_integer_value(json_object_get(root, "pid")), pid);
	assert_string_equal(json_string_value(json_object_get(root, "metadata")), "meta-42");
	json_t *st = json_object_get(root, "state");
	assert_string_equal(json_string_value(json_object_get(st, "id")), "c1");
	assert_int_equal(json_integer_value(json_object_get(st, "pid")), pid);
	json_decref(root);

	struct seccomp_notif *req = NULL;
	struct seccomp_notif_resp *resp = NULL;
	assert_int_equal(seccomp_notify_alloc(&req, &resp), 0);
	for (int i = 0; i < 2; i++) {
		struct pollfd pfd = { .fd = nfd, .events = POLLIN };
		assert_int_equal(poll(&pfd, 1, 5000), 1);
		memset(req, 0, sizeof(*req));
		assert_int_equal(seccomp_notify_receive(nfd, req), 0);
		assert_int_equal(req->pid, pid);
		memset(resp, 0, sizeof(*resp));
		resp->id = req->id;
		if (i == 0) {
			assert_int_equal(req->data.nr, SYS_getppid);
			resp->val = 4242;
		} else {
			assert_true(req->data.nr == SYS_mkdir || req->data.nr == SYS_mkdirat);
			resp->error = -EXDEV;
		}
		assert_int_equal(seccomp_notify_respond(nfd, resp), 0);
	}
	seccomp_notify_free(req, resp);
	close(nfd);

	int wst;
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_exit(wst, 0);
	linux_seccomp_free(f);
	spec_seccomp_free(s);
}

static void test_notify(void **state)
{
	notify_roundtrip("");
}

static void test_notify_flags(void **state)
{
	/* TSYNC next to a listener needs TSYNC_ESRCH; WAIT_KILLABLE_RECV only
	 * means something here. */
	if (!linux_seccomp_flag_supported(SPEC_SECCOMP_FLAG_WAIT_KILLABLE_RECV))
		skip();
	notify_roundtrip("\"flags\":[\"SECCOMP_FILTER_FLAG_TSYNC\",\"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV\"],");
}

static void test_send_notify_fd_errors(void **state)
{
	struct spec_seccomp *s = parse_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\"}");
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct berth_error err = { 0 };
	assert_int_equal(linux_seccomp_send_notify_fd(sv[0], sv[1], s, 1, "{not json", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "container state is not JSON"));
	close(sv[0]);
	close(sv[1]);
	spec_seccomp_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_full),
		cmocka_unit_test(test_build_cache),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_known_lists),
		cmocka_unit_test(test_errno),
		cmocka_unit_test(test_default_errno),
		cmocka_unit_test(test_kill),
		cmocka_unit_test(test_trap_trace_log),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_unknown_names_and_arches),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_load_needs_nnp_or_cap),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_notify),
		cmocka_unit_test(test_notify_flags),
		cmocka_unit_test(test_send_notify_fd_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
