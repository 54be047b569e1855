/* Unit tests for spec/state: the state document round-trips, keeps runc's
 * key order, omits what runc omits, and rejects malformed input by field. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "spec/state.h"

static void test_round_trip(void **state)
{
	struct spec_kv ann[] = { { "a.b", "1" }, { "z", "last" } };
	struct spec_state s = {
		.oci_version = "1.2.0", .id = "c1", .status = "running", .pid = 4242,
		.bundle = "/var/lib/b/c1", .annotations = ann, .n_annotations = 2,
	};
	char *json = spec_state_to_json(&s, false);
	assert_non_null(json);
	assert_string_equal(json,
		"{\"ociVersion\":\"1.2.0\",\"id\":\"c1\",\"status\":\"running\",\"pid\":4242,"
		"\"bundle\":\"/var/lib/b/c1\",\"annotations\":{\"a.b\":\"1\",\"z\":\"last\"}}");

	struct spec_state back;
	struct berth_error err = { 0 };
	assert_int_equal(spec_state_from_json(json, &back, &err), 0);
	assert_string_equal(back.oci_version, "1.2.0");
	assert_string_equal(back.id, "c1");
	assert_string_equal(back.status, "running");
	assert_int_equal(back.pid, 4242);
	assert_string_equal(back.bundle, "/var/lib/b/c1");
	assert_int_equal(back.n_annotations, 2);
	assert_string_equal(back.annotations[1].key, "z");
	assert_string_equal(back.annotations[1].value, "last");

	char *again = spec_state_to_json(&back, false);
	assert_string_equal(again, json);
	free(again);
	free(json);
	spec_state_clear(&back);
	assert_null(back.id);
	assert_int_equal(back.n_annotations, 0);
}

static void test_omissions_and_pretty(void **state)
{
	struct spec_state s = {
		.oci_version = "1.2.0", .id = "c2", .status = "stopped", .pid = 0, .bundle = "/b",
	};
	char *json = spec_state_to_json(&s, false);
	assert_string_equal(json, "{\"ociVersion\":\"1.2.0\",\"id\":\"c2\",\"status\":\"stopped\",\"bundle\":\"/b\"}");
	free(json);

	s.pid = -1;
	json = spec_state_to_json(&s, true);
	assert_string_equal(json,
		"{\n  \"ociVersion\": \"1.2.0\",\n  \"id\": \"c2\",\n  \"status\": \"stopped\",\n"
		"  \"bundle\": \"/b\"\n}");
	free(json);

	struct spec_state back;
	struct berth_error err = { 0 };
	assert_int_equal(spec_state_from_json("{\"ociVersion\":\"1.0.2\",\"id\":\"x\",\"status\":\"created\","
					      "\"pid\":7,\"bundle\":\"/b\",\"annotations\":{},\"extra\":1}",
					      &back, &err), 0);
	assert_int_equal(back.n_annotations, 0);
	assert_null(back.annotations);
	assert_int_equal(back.pid, 7);
	spec_state_clear(&back);

	s.id = NULL;
	assert_null(spec_state_to_json(&s, false));
}

static void expect_bad(const char *json, const char *want)
{
	struct spec_state out = { 0 };
	struct berth_error err = { 0 };
	assert_int_equal(spec_state_from_json(json, &out, &err), -EINVAL);
	assert_null(out.id);
	if (!strstr(err.msg, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err.msg, want);
}

static void test_bad(void **state)
{
	expect_bad("{\"id\":\"x\",\"status\":\"created\",\"bundle\":\"/b\"}", "state: ociVersion: is required");
	expect_bad("{\"ociVersion\":\"1\",\"id\":5,\"status\":\"created\",\"bundle\":\"/b\"}", "state: id: must be a string");
	expect_bad("{\"ociVersion\":\"1\",\"id\":\"x\",\"status\":\"sleeping\",\"bundle\":\"/b\"}",
		   "state: status: unknown status \"sleeping\"");
	expect_bad("{\"ociVersion\":\"1\",\"id\":\"x\",\"status\":\"created\",\"bundle\":\"/b\",\"pid\":\"1\"}",
		   "state: pid: must be an integer");
	expect_bad("{\"ociVersion\":\"1\",\"id\":\"x\",\"status\":\"created\",\"bundle\":\"/b\",\"pid\":-4}",
		   "state: pid: -4 is not a valid process ID");
	expect_bad("{\"ociVersion\":\"1\",\"id\":\"x\",\"status\":\"created\",\"bundle\":\"/b\","
		   "\"annotations\":{\"k\":\"v\",\"n\":1}}", "state: annotations.n: must be a string");
	expect_bad("{\"ociVersion\":\"1\",\"id\":\"x\",\"status\":\"created\"}", "state: bundle: is required");
	expect_bad("[]", "state: must be a JSON object");
	expect_bad("{\"ociVersion\":", "state: line 1 column");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_omissions_and_pretty),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
