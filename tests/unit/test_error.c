#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "core/error.h"

static void first_error_wins(void **state)
{
	struct berth_error e = { 0 };
	assert_int_equal(berth_err(&e, EINVAL, "process.args: must be a non-empty array"), -EINVAL);
	assert_int_equal(berth_err(&e, ENOENT, "later"), -ENOENT);
	assert_int_equal(e.code, EINVAL);
	assert_string_equal(e.msg, "process.args: must be a non-empty array");
}

static void errno_text_and_sign(void **state)
{
	struct berth_error e = { 0 };
	assert_int_equal(berth_errno(&e, -ENOENT, "root.path %s", "/x"), -ENOENT);
	assert_int_equal(e.code, ENOENT);
	assert_string_equal(e.msg, "root.path /x: No such file or directory");
}

static void prefix_adds_context(void **state)
{
	struct berth_error e = { 0 };
	berth_error_prefix(&e, "ignored when unset");
	assert_int_equal(e.code, 0);
	berth_err(&e, EIO, "inner");
	berth_error_prefix(&e, "mounts[%d]", 3);
	assert_string_equal(e.msg, "mounts[3]: inner");
}

static void prefix_truncates_safely(void **state)
{
	struct berth_error e = { 0 };
	char big[2000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	berth_err(&e, EIO, "%s", big);
	berth_error_prefix(&e, "%s", big);
	assert_true(strlen(e.msg) < sizeof(e.msg));
	assert_int_equal(e.code, EIO);
}

static void null_error_is_fine(void **state)
{
	assert_int_equal(berth_err(NULL, EPERM, "x"), -EPERM);
	assert_int_equal(berth_err(NULL, 0, "x"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(first_error_wins),
		cmocka_unit_test(errno_text_and_sign),
		cmocka_unit_test(prefix_adds_context),
		cmocka_unit_test(prefix_truncates_safely),
		cmocka_unit_test(null_error_is_fine),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
