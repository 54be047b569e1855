/* Unit tests for spec/caps: the name table matches the kernel's numbering
 * both ways and cap_last_cap reflects the running kernel. */
#include <errno.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spec/caps.h"

static void test_known_numbers(void **state)
{
	/* Anchor the table to the kernel headers' numbering. */
	assert_int_equal(spec_cap_from_name("CAP_CHOWN"), CAP_CHOWN);
	assert_int_equal(spec_cap_from_name("CAP_KILL"), CAP_KILL);
	assert_int_equal(spec_cap_from_name("CAP_NET_BIND_SERVICE"), CAP_NET_BIND_SERVICE);
	assert_int_equal(spec_cap_from_name("CAP_SYS_ADMIN"), CAP_SYS_ADMIN);
	assert_int_equal(spec_cap_from_name("CAP_AUDIT_WRITE"), CAP_AUDIT_WRITE);
	assert_int_equal(spec_cap_from_name("CAP_SETFCAP"), CAP_SETFCAP);
	assert_int_equal(spec_cap_from_name("CAP_AUDIT_READ"), CAP_AUDIT_READ);
	assert_int_equal(spec_cap_from_name("CAP_PERFMON"), 38);
	assert_int_equal(spec_cap_from_name("CAP_BPF"), 39);
	assert_int_equal(spec_cap_from_name("CAP_CHECKPOINT_RESTORE"), 40);
	assert_int_equal(spec_cap_count(), 41);
}

static void test_round_trip(void **state)
{
	for (size_t i = 0; i < spec_cap_count(); i++) {
		const char *name = spec_cap_name((int) i);
		assert_non_null(name);
		assert_int_equal(strncmp(name, "CAP_", 4), 0);
		assert_int_equal(spec_cap_from_name(name), (int) i);
	}
	assert_null(spec_cap_name(-1));
	assert_null(spec_cap_name((int) spec_cap_count()));
}

static void test_rejects(void **state)
{
	assert_int_equal(spec_cap_from_name("CAP_FOO"), -EINVAL);
	assert_int_equal(spec_cap_from_name("cap_chown"), -EINVAL);
	assert_int_equal(spec_cap_from_name("CHOWN"), -EINVAL);
	assert_int_equal(spec_cap_from_name("CAP_CHOWN "), -EINVAL);
	assert_int_equal(spec_cap_from_name(""), -EINVAL);
	assert_int_equal(spec_cap_from_name(NULL), -EINVAL);
}

static void test_last_cap(void **state)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int want = (int) spec_cap_count() - 1;
	if (f) {
		assert_int_equal(fscanf(f, "%d", &want), 1);
		fclose(f);
	}
	assert_int_equal(spec_cap_last_cap(), want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_numbers),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_last_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
