/* Unit tests for spec/mountopts: each option class decodes to the kernel
 * constants it stands for, later options override earlier ones, and
 * everything unknown reaches the filesystem as comma-joined data. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include <cmocka.h>

#include "core/error.h"
#include "spec/config.h"
#include "spec/mountopts.h"

static void decode(struct spec_mount *m, char **opts, size_t n)
{
	struct berth_error err = { 0 };
	memset(m, 0, sizeof(*m));
	int r = spec_mount_options_decode(opts, n, m, "mounts[0]", &err);
	if (r < 0)
		fail_msg("decode: %s", err.msg);
}
#define DECODE(m, ...) do { \
	char *_o[] = { __VA_ARGS__ }; \
	decode(m, _o, sizeof(_o) / sizeof(_o[0])); \
} while (0)

static void test_plain_flags(void **state)
{
	struct spec_mount m;
	DECODE(&m, "ro", "nosuid", "nodev", "noexec", "sync", "dirsync", "remount", "mand",
	       "noatime", "nodiratime", "relatime", "strictatime", "lazytime", "nosymfollow",
	       "silent", "iversion");
	assert_int_equal(m.flags, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS |
			 MS_DIRSYNC | MS_REMOUNT | MS_MANDLOCK | MS_NOATIME | MS_NODIRATIME |
			 MS_RELATIME | MS_STRICTATIME | MS_LAZYTIME | MS_NOSYMFOLLOW | MS_SILENT |
			 MS_I_VERSION);
	assert_int_equal(m.clear_flags, 0);
	assert_null(m.data);
	assert_false(m.bind);

	DECODE(&m, "rw", "suid", "dev", "exec", "async", "nomand", "atime", "diratime",
	       "norelatime", "nostrictatime", "nolazytime", "symfollow", "loud", "noiversion");
	assert_int_equal(m.flags, 0);
	assert_int_equal(m.clear_flags, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC |
			 MS_SYNCHRONOUS | MS_MANDLOCK | MS_NOATIME | MS_NODIRATIME | MS_RELATIME |
			 MS_STRICTATIME | MS_LAZYTIME | MS_NOSYMFOLLOW | MS_SILENT | MS_I_VERSION);
	free(m.data);
}

static void test_later_wins(void **state)
{
	struct spec_mount m;
	DECODE(&m, "ro", "rw");
	assert_int_equal(m.flags & MS_RDONLY, 0);
	assert_int_equal(m.clear_flags, MS_RDONLY);
	DECODE(&m, "rw", "ro");
	assert_int_equal(m.flags, MS_RDONLY);
	assert_int_equal(m.clear_flags, 0);
	DECODE(&m, "shared", "rslave");
	assert_int_equal(m.propagation, MS_SLAVE | MS_REC);
	DECODE(&m, "rro", "rrw");
	assert_int_equal(m.attr_set, 0);
	assert_int_equal(m.attr_clr, MOUNT_ATTR_RDONLY);
}

static void test_bind_and_propagation(void **state)
{
	struct spec_mount m;
	DECODE(&m, "bind", "private");
	assert_true(m.bind);
	assert_false(m.recursive_bind);
	assert_int_equal(m.flags, MS_BIND);
	assert_int_equal(m.propagation, MS_PRIVATE);

	DECODE(&m, "rbind", "runbindable");
	assert_true(m.bind && m.recursive_bind);
	assert_int_equal(m.flags, MS_BIND | MS_REC);
	assert_int_equal(m.propagation, MS_UNBINDABLE | MS_REC);

	static const struct { const char *name; unsigned long want; } props[] = {
		{ "private", MS_PRIVATE }, { "rprivate", MS_PRIVATE | MS_REC },
		{ "shared", MS_SHARED }, { "rshared", MS_SHARED | MS_REC },
		{ "slave", MS_SLAVE }, { "rslave", MS_SLAVE | MS_REC },
		{ "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
	};
	for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
		unsigned long f = 0;
		assert_int_equal(spec_propagation_parse(props[i].name, &f), 0);
		assert_int_equal(f, props[i].want);
	}
	unsigned long f = 42;
	assert_int_equal(spec_propagation_parse("ro", &f), -EINVAL);
	assert_int_equal(spec_propagation_parse("", &f), -EINVAL);
	assert_int_equal(spec_propagation_parse("PRIVATE", &f), -EINVAL);
	assert_int_equal(f, 42);
}

static void test_recursive_attrs(void **state)
{
	struct spec_mount m;
	DECODE(&m, "rro", "rnosuid", "rnodev", "rnoexec", "rnodiratime", "rnosymfollow");
	assert_int_equal(m.attr_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			 MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODIRATIME | MOUNT_ATTR_NOSYMFOLLOW);
	assert_int_equal(m.attr_clr, 0);
	assert_int_equal(m.flags, 0);

	DECODE(&m, "rrw", "rsuid", "rdev", "rexec", "rdiratime", "rsymfollow");
	assert_int_equal(m.attr_set, 0);
	assert_int_equal(m.attr_clr, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			 MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODIRATIME | MOUNT_ATTR_NOSYMFOLLOW);
}

/* The atime modes are an enum inside MOUNT_ATTR__ATIME: each option must
 * clear the whole field and set exactly one mode. */
static void test_recursive_atime(void **state)
{
	static const struct { const char *name; uint64_t mode; } cases[] = {
		{ "rnoatime", MOUNT_ATTR_NOATIME },
		{ "rstrictatime", MOUNT_ATTR_STRICTATIME },
		{ "rrelatime", MOUNT_ATTR_RELATIME },
		{ "ratime", MOUNT_ATTR_RELATIME },
		{ "rnostrictatime", MOUNT_ATTR_RELATIME },
		{ "rnorelatime", MOUNT_ATTR_STRICTATIME },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spec_mount m;
		char *o[] = { "rnoatime", (char *) cases[i].name };
		decode(&m, o, 2);
		assert_int_equal(m.attr_clr, MOUNT_ATTR__ATIME);
		assert_int_equal(m.attr_set & MOUNT_ATTR__ATIME, cases[i].mode);
	}
	struct spec_mount m;
	DECODE(&m, "rstrictatime", "rro");
	assert_int_equal(m.attr_set, MOUNT_ATTR_STRICTATIME | MOUNT_ATTR_RDONLY);
	assert_int_equal(m.attr_clr, MOUNT_ATTR__ATIME);
}

static void test_special_switches(void **state)
{
	struct spec_mount m;
	DECODE(&m, "idmap");
	assert_true(m.idmap);
	assert_false(m.ridmap);
	DECODE(&m, "ridmap", "rbind");
	assert_true(m.ridmap);
	assert_false(m.idmap);
	DECODE(&m, "tmpcopyup", "mode=755");
	assert_true(m.tmpcopyup);
	assert_string_equal(m.data, "mode=755");
	free(m.data);
	DECODE(&m, "defaults");
	assert_int_equal(m.flags, 0);
	assert_int_equal(m.clear_flags, 0);
	assert_null(m.data);
}

static void test_data(void **state)
{
	struct spec_mount m;
	DECODE(&m, "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "", "gid=5");
	assert_int_equal(m.flags, MS_NOSUID | MS_NOEXEC);
	assert_string_equal(m.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");

	/* Re-decoding replaces the previous result rather than appending. */
	char *o[] = { "size=65536k" };
	struct berth_error err = { 0 };
	assert_int_equal(spec_mount_options_decode(o, 1, &m, "mounts[1]", &err), 0);
	assert_string_equal(m.data, "size=65536k");
	assert_int_equal(m.flags, 0);
	free(m.data);

	DECODE(&m, "lowerdir=/a:/b", "upperdir=/u", "workdir=/w", "ro");
	assert_string_equal(m.data, "lowerdir=/a:/b,upperdir=/u,workdir=/w");
	assert_int_equal(m.flags, MS_RDONLY);

	assert_int_equal(spec_mount_options_decode(NULL, 0, &m, "mounts[2]", &err), 0);
	assert_null(m.data);
	assert_int_equal(m.flags, 0);
}

/* Every name the features command advertises is one the decoder knows
 * (none of them leak into data), and the list is sorted and unique. */
static void test_option_names(void **state)
{
	size_t n = 0;
	const char *const *names = spec_mount_option_names(&n);
	assert_true(n >= 60);
	for (size_t i = 0; i < n; i++) {
		struct spec_mount m;
		char *o[] = { (char *) names[i] };
		decode(&m, o, 1);
		if (m.data)
			fail_msg("option \"%s\" was not recognized", names[i]);
		if (i > 0 && strcmp(names[i - 1], names[i]) >= 0)
			fail_msg("names not sorted at \"%s\"", names[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_flags),
		cmocka_unit_test(test_later_wins),
		cmocka_unit_test(test_bind_and_propagation),
		cmocka_unit_test(test_recursive_attrs),
		cmocka_unit_test(test_recursive_atime),
		cmocka_unit_test(test_special_switches),
		cmocka_unit_test(test_data),
		cmocka_unit_test(test_option_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
