/* Tests for linux/hooks: what a hook receives (stdin, argv, env) and how
 * every kind of failure is reported. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "linux/hooks.h"

struct dir {
	char path[64];
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));
	strcpy(d->path, "/tmp/berth-hooks-XXXXXX");
	if (!mkdtemp(d->path))
		return -1;
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dir *d = *state;
	berth_rm_rf(d->path);
	free(d);
	return 0;
}

/* Write an executable script into the test dir; returns its path. */
static char *script(struct dir *d, const char *name, const char *body)
{
	char *path;
	assert_true(asprintf(&path, "%s/%s", d->path, name) > 0);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
	return path;
}

static char *slurp(const char *dir, const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	char *s = NULL;
	if (berth_read_file(path, &s, NULL) < 0)
		return NULL;
	return s;
}

static void test_state_args_env(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *path = script(d, "hook",
		"cat > \"$1/stdin\"\n"
		"echo \"$0|$2|$FOO|$#\" > \"$1/args\"\n"
		"/usr/bin/env > \"$1/env\"");
	char *args[] = { path, d->path, "second", NULL };
	char *env[] = { "FOO=bar baz", "OTHER=1", NULL };
	struct spec_hook h = { .path = path, .args = args, .n_args = 3, .env = env, .n_env = 2 };
	const char *json = "{\"ociVersion\":\"1.2.0\",\"id\":\"c1\",\"status\":\"creating\",\"pid\":42}";
	struct berth_error err = { 0 };
	assert_int_equal(linux_hooks_run(&h, 1, "createRuntime", json, &err), 0);

	_cleanup_free_ char *in = slurp(d->path, "stdin"), *a = slurp(d->path, "args"), *e = slurp(d->path, "env");
	assert_non_null(in);
	assert_string_equal(in, json);
	char want[256];
	snprintf(want, sizeof(want), "%s|second|bar baz|2\n", path);
	assert_string_equal(a, want);
	assert_non_null(strstr(e, "FOO=bar baz\n"));
	assert_non_null(strstr(e, "OTHER=1\n"));
	assert_null(strstr(e, "HOME="));
}

static void test_defaults_argv_and_empty_env(void **state)
{
	struct dir *d = *state;
	char out[128];
	snprintf(out, sizeof(out), "%s/out", d->path);
	char body[512];
	snprintf(body, sizeof(body), "echo \"$0 $#\" > %s; /usr/bin/env >> %s", out, out);
	_cleanup_free_ char *path = script(d, "hook", body);
	struct spec_hook h = { .path = path };
	struct berth_error err = { 0 };
	/* The runtime's own environment must not leak into the hook. */
	setenv("BERTH_TEST_LEAK", "1", 1);
	assert_int_equal(linux_hooks_run(&h, 1, "prestart", "{}", &err), 0);
	unsetenv("BERTH_TEST_LEAK");
	_cleanup_free_ char *s = slurp(d->path, "out");
	char want[256];
	snprintf(want, sizeof(want), "%s 0\n", path);
	assert_int_equal(strncmp(s, want, strlen(want)), 0);
	assert_null(strstr(s, "BERTH_TEST_LEAK"));
	assert_null(strstr(s, "\nPATH=/usr"));
}

static void test_nonzero_exit(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *path = script(d, "fail", "echo starting\necho 'no such network' >&2\nexit 3");
	_cleanup_free_ char *second = script(d, "second", "touch \"$(dirname \"$0\")/second-ran\"");
	struct spec_hook h[] = { { .path = path }, { .path = second } };
	struct berth_error err = { 0 };
	assert_int_equal(linux_hooks_run(h, 2, "prestart", "{}", &err), -ECANCELED);
	char want[256];
	snprintf(want, sizeof(want), "prestart[0] (%s): exited with status 3: no such network", path);
	assert_string_equal(err.msg, want);
	/* Stops at the first failure. */
	_cleanup_free_ char *ran = slurp(d->path, "second-ran");
	assert_null(ran);

	/* The index names the failing hook. */
	struct spec_hook h2[] = { { .path = second }, { .path = path } };
	berth_error_clear(&err);
	assert_int_equal(linux_hooks_run(h2, 2, "poststart", "{}", &err), -ECANCELED);
	snprintf(want, sizeof(want), "poststart[1] (%s): exited with status 3: no such network", path);
	assert_string_equal(err.msg, want);
}

static void test_run_all_continues_after_failures(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *bad = script(d, "bad", "exit 4");
	_cleanup_free_ char *good = script(d, "good", "echo ok >>\"$(dirname \"$0\")/good-ran\"");
	/* poststart/poststop semantics: every hook runs, failures are counted. */
	struct spec_hook h[] = { { .path = bad }, { .path = good }, { .path = bad }, { .path = good } };
	assert_int_equal(linux_hooks_run_all(h, 4, "poststop", "{}"), 2);
	_cleanup_free_ char *ran = slurp(d->path, "good-ran");
	assert_non_null(ran);
	assert_string_equal(ran, "ok\nok\n");
	assert_int_equal(linux_hooks_run_all(h + 1, 1, "poststop", "{}"), 0);
}

static void test_killed_by_signal(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *path = script(d, "sig", "kill -TERM $$");
	struct spec_hook h = { .path = path };
	struct berth_error err = { 0 };
	assert_int_equal(linux_hooks_run(&h, 1, "poststop", "{}", &err), -ECANCELED);
	char want[256];
	snprintf(want, sizeof(want), "poststop[0] (%s): killed by signal 15 (SIGTERM)", path);
	assert_string_equal(err.msg, want);
}

static void test_timeout(void **state)
{
	char *args[] = { "sleep", "10", NULL };
	struct spec_hook h = { .path = "/bin/sleep", .args = args, .n_args = 2, .has_timeout = true, .timeout = 1 };
	struct berth_error err = { 0 };
	assert_int_equal(linux_hooks_run(&h, 1, "createContainer", "{}", &err), -ETIMEDOUT);
	assert_string_equal(err.msg, "createContainer[0] (/bin/sleep): timed out after 1s");
}

static bool process_gone(pid_t pid)
{
	for (int i = 0; i < 100; i++) {
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return true;
		usleep(20000);
	}
	return false;
}

/* The hook's own children go with it on timeout. */
static void test_timeout_kills_group(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *path = script(d, "spawner", "sleep 10 &\necho $! > \"$(dirname \"$0\")/child\"\nwait");
	struct spec_hook h = { .path = path, .has_timeout = true, .timeout = 1 };
	struct berth_error err = { 0 };
	assert_int_equal(linux_hooks_run(&h, 1, "startContainer", "{}", &err), -ETIMEDOUT);
	_cleanup_free_ char *s = slurp(d->path, "child");
	assert_non_null(s);
	pid_t child = atoi(s);
	assert_true(child > 0);
	assert_true(process_gone(child));
}

static void test_no_path_search(void **state)
{
	struct berth_error err = { 0 };
	struct spec_hook rel = { .path = "true" };
	assert_int_equal(linux_hooks_run(&rel, 1, "prestart", "{}", &err), -EINVAL);
	assert_string_equal(err.msg, "prestart[0].path: must be an absolute path");

	struct spec_hook missing = { .path = "/nonexistent/true" };
	berth_error_clear(&err);
	assert_int_equal(linux_hooks_run(&missing, 1, "prestart", "{}", &err), -ENOENT);
	assert_string_equal(err.msg, "prestart[0] (/nonexistent/true): cannot execute: No such file or directory");
}

/* A hook that never reads a large state and exits 0 neither blocks nor
 * kills us with SIGPIPE. */
static void test_hook_ignores_stdin(void **state)
{
	size_t n = 1 << 20;
	char *big = malloc(n + 1);
	memset(big, 'x', n);
	big[n] = '\0';
	struct spec_hook h = { .path = "/bin/true" };
	struct berth_error err = { 0 };
	assert_int_equal(linux_hooks_run(&h, 1, "prestart", big, &err), 0);
	free(big);
	sigset_t pending;
	sigpending(&pending);
	assert_false(sigismember(&pending, SIGPIPE));
}

/* Output is kept to the last 4 KiB and the last line is what we report. */
static void test_long_output_last_line(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *path = script(d, "noisy",
		"i=0; while [ $i -lt 2000 ]; do echo \"line $i\"; i=$((i+1)); done\necho final words\nexit 1");
	struct spec_hook h = { .path = path };
	struct berth_error err = { 0 };
	assert_int_equal(linux_hooks_run(&h, 1, "prestart", "{}", &err), -ECANCELED);
	assert_non_null(strstr(err.msg, "exited with status 1: final words"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_state_args_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults_argv_and_empty_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonzero_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_all_continues_after_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_by_signal, setup, teardown),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test_setup_teardown(test_timeout_kills_group, setup, teardown),
		cmocka_unit_test(test_no_path_search),
		cmocka_unit_test(test_hook_ignores_stdin),
		cmocka_unit_test_setup_teardown(test_long_output_last_line, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
