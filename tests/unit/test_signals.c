#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <string.h>

#include "core/signals.h"

static void names_and_numbers(void **state)
{
	assert_int_equal(berth_signal_parse("KILL"), SIGKILL);
	assert_int_equal(berth_signal_parse("SIGKILL"), SIGKILL);
	assert_int_equal(berth_signal_parse("kill"), SIGKILL);
	assert_int_equal(berth_signal_parse("sigterm"), SIGTERM);
	assert_int_equal(berth_signal_parse("9"), 9);
	assert_int_equal(berth_signal_parse("15"), SIGTERM);
	assert_int_equal(berth_signal_parse("USR1"), SIGUSR1);
	assert_int_equal(berth_signal_parse("SIGWINCH"), SIGWINCH);
}

static void realtime(void **state)
{
	assert_int_equal(berth_signal_parse("RTMIN"), SIGRTMIN);
	assert_int_equal(berth_signal_parse("SIGRTMIN+3"), SIGRTMIN + 3);
	assert_int_equal(berth_signal_parse("RTMAX-1"), SIGRTMAX - 1);
	assert_int_equal(berth_signal_parse("RTMAX"), SIGRTMAX);
	assert_true(berth_signal_parse("RTMIN+999") < 0);
	assert_true(berth_signal_parse("RTMIN-1") < 0);
}

static void refused(void **state)
{
	assert_true(berth_signal_parse("") < 0);
	assert_true(berth_signal_parse(NULL) < 0);
	assert_true(berth_signal_parse("SIGFOO") < 0);
	assert_true(berth_signal_parse("0") < 0);
	assert_true(berth_signal_parse("65") < 0);
	assert_true(berth_signal_parse("-9") < 0);
	assert_true(berth_signal_parse("9x") < 0);
	assert_true(berth_signal_parse("SIG") < 0);
}

static void name_of(void **state)
{
	assert_string_equal(berth_signal_name(SIGTERM), "SIGTERM");
	assert_string_equal(berth_signal_name(SIGKILL), "SIGKILL");
	assert_null(berth_signal_name(0));
	assert_null(berth_signal_name(SIGRTMIN + 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_and_numbers),
		cmocka_unit_test(realtime),
		cmocka_unit_test(refused),
		cmocka_unit_test(name_of),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
