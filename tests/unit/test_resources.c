/* Unit tests for spec/resources: linux.resources parsing and validation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "spec/resources.h"

static const char FULL[] =
	"{"
	" \"devices\": ["
	"   {\"allow\": false, \"access\": \"rwm\"},"
	"   {\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 3, \"access\": \"mwr\"},"
	"   {\"allow\": true, \"type\": \"b\", \"major\": 8, \"access\": \"r\"}"
	" ],"
	" \"memory\": {\"limit\": 536870912, \"reservation\": 268435456, \"swap\": 1073741824,"
	"   \"kernel\": -1, \"kernelTCP\": 1048576, \"swappiness\": 0, \"disableOOMKiller\": true,"
	"   \"useHierarchy\": true, \"checkBeforeUpdate\": true},"
	" \"cpu\": {\"shares\": 1024, \"quota\": 50000, \"burst\": 10000, \"period\": 100000,"
	"   \"realtimeRuntime\": 950000, \"realtimePeriod\": 1000000, \"cpus\": \"0-1\", \"mems\": \"0\","
	"   \"idle\": 1},"
	" \"pids\": {\"limit\": 64},"
	" \"blockIO\": {\"weight\": 500, \"leafWeight\": 300,"
	"   \"weightDevice\": [{\"major\": 8, \"minor\": 0, \"weight\": 600}],"
	"   \"throttleReadBpsDevice\": [{\"major\": 8, \"minor\": 0, \"rate\": 1048576}],"
	"   \"throttleWriteBpsDevice\": [{\"major\": 8, \"minor\": 0, \"rate\": 2097152}],"
	"   \"throttleReadIOPSDevice\": [{\"major\": 8, \"minor\": 16, \"rate\": 100}],"
	"   \"throttleWriteIOPSDevice\": [{\"major\": 8, \"minor\": 16, \"rate\": 200}]},"
	" \"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 209715200},"
	"                      {\"pageSize\": \"1GB\", \"limit\": 0}],"
	" \"network\": {\"classID\": 1048577, \"priorities\": [{\"name\": \"eth0\", \"priority\": 500}]},"
	" \"rdma\": {\"mlx5_1\": {\"hcaHandles\": 3, \"hcaObjects\": 10000}},"
	" \"unified\": {\"memory.high\": \"400000000\", \"io.max\": \"8:0 rbps=max\"}"
	"}";

static struct spec_resources *parse_ok(const char *json)
{
	struct spec_resources *r = NULL;
	struct berth_error err = { 0 };
	int rc = spec_resources_parse_json(json, strlen(json), "test.json", &r, &err);
	if (rc < 0)
		fail_msg("unexpected error: %s", err.msg);
	assert_non_null(r);
	return r;
}

static void test_full(void **state)
{
	(void) state;
	struct spec_resources *r = parse_ok(FULL);

	assert_int_equal(r->n_devices, 3);
	assert_false(r->devices[0].allow);
	assert_int_equal(r->devices[0].type, 'a');
	assert_int_equal(r->devices[0].major, -1);
	assert_int_equal(r->devices[0].minor, -1);
	assert_string_equal(r->devices[1].access, "rwm"); /* normalised from "mwr" */
	assert_int_equal(r->devices[1].type, 'c');
	assert_int_equal(r->devices[1].major, 1);
	assert_int_equal(r->devices[1].minor, 3);
	assert_int_equal(r->devices[2].minor, -1);
	assert_string_equal(r->devices[2].access, "r");

	assert_true(r->has_memory);
	assert_true(r->memory.has_limit);
	assert_int_equal(r->memory.limit, 536870912);
	assert_int_equal(r->memory.reservation, 268435456);
	assert_int_equal(r->memory.swap, 1073741824);
	assert_int_equal(r->memory.kernel, -1);
	assert_int_equal(r->memory.kernel_tcp, 1048576);
	assert_true(r->memory.has_swappiness);
	assert_int_equal(r->memory.swappiness, 0);
	assert_true(r->memory.disable_oom_killer);
	assert_true(r->memory.use_hierarchy);
	assert_true(r->memory.check_before_update);

	assert_true(r->has_cpu);
	assert_int_equal(r->cpu.shares, 1024);
	assert_int_equal(r->cpu.quota, 50000);
	assert_int_equal(r->cpu.burst, 10000);
	assert_int_equal(r->cpu.period, 100000);
	assert_int_equal(r->cpu.realtime_runtime, 950000);
	assert_int_equal(r->cpu.realtime_period, 1000000);
	assert_string_equal(r->cpu.cpus, "0-1");
	assert_string_equal(r->cpu.mems, "0");
	assert_int_equal(r->cpu.idle, 1);

	assert_true(r->has_pids_limit);
	assert_int_equal(r->pids_limit, 64);

	assert_int_equal(r->block_io.weight, 500);
	assert_int_equal(r->block_io.leaf_weight, 300);
	assert_int_equal(r->block_io.n_weight_device, 1);
	assert_int_equal(r->block_io.weight_device[0].weight, 600);
	assert_false(r->block_io.weight_device[0].has_leaf_weight);
	assert_int_equal(r->block_io.n_throttle_read_bps, 1);
	assert_int_equal(r->block_io.throttle_read_bps[0].rate, 1048576);
	assert_int_equal(r->block_io.throttle_write_bps[0].rate, 2097152);
	assert_int_equal(r->block_io.throttle_read_iops[0].minor, 16);
	assert_int_equal(r->block_io.throttle_write_iops[0].rate, 200);

	assert_int_equal(r->n_hugepage_limits, 2);
	assert_string_equal(r->hugepage_limits[0].page_size, "2MB");
	assert_int_equal(r->hugepage_limits[0].page_bytes, 2 << 20);
	assert_int_equal(r->hugepage_limits[1].page_bytes, 1ULL << 30);

	assert_true(r->has_class_id);
	assert_int_equal(r->class_id, 1048577);
	assert_int_equal(r->n_net_priorities, 1);
	assert_string_equal(r->net_priorities[0].name, "eth0");
	assert_int_equal(r->net_priorities[0].priority, 500);

	assert_int_equal(r->n_rdma, 1);
	assert_string_equal(r->rdma[0].device, "mlx5_1");
	assert_int_equal(r->rdma[0].hca_handles, 3);
	assert_int_equal(r->rdma[0].hca_objects, 10000);

	assert_int_equal(r->n_unified, 2);
	spec_resources_free(r);
}

static void test_empty_and_null(void **state)
{
	(void) state;
	struct spec_resources *r = parse_ok("{\"memory\": null, \"cpu\": {\"cpus\": \"\"}, \"pids\": {}}");
	assert_false(r->has_memory);
	assert_true(r->has_cpu);
	assert_null(r->cpu.cpus); /* "" means not set */
	assert_true(r->has_pids);
	assert_false(r->has_pids_limit);
	assert_int_equal(r->n_devices, 0);
	spec_resources_free(r);
}

/* Parse with path "linux.resources" (as config.c does) and expect msg. */
static void expect_error(const char *json, const char *msg)
{
	json_error_t jerr;
	json_t *o = json_loads(json, 0, &jerr);
	if (!o)
		fail_msg("bad test JSON %s: %s", json, jerr.text);
	struct spec_resources *r = NULL;
	struct berth_error err = { 0 };
	int rc = spec_resources_parse(o, "linux.resources", &r, &err);
	json_decref(o);
	if (rc == 0) {
		spec_resources_free(r);
		fail_msg("accepted %s", json);
	}
	assert_null(r);
	assert_true(rc < 0);
	assert_int_equal(err.code, -rc);
	if (!strstr(err.msg, msg))
		fail_msg("error \"%s\" does not contain \"%s\"", err.msg, msg);
}

static void test_errors(void **state)
{
	(void) state;
	expect_error("{\"memory\": {\"swappiness\": 101}}",
		     "linux.resources.memory.swappiness: must be between 0 and 100");
	expect_error("{\"memory\": {\"swappiness\": -1}}",
		     "linux.resources.memory.swappiness: must be between 0 and 100");
	expect_error("{\"memory\": {\"limit\": \"1G\"}}", "linux.resources.memory.limit: must be an integer");
	expect_error("{\"memory\": {\"limit\": 1.5}}", "linux.resources.memory.limit: must be an integer");
	expect_error("{\"memory\": {\"reservation\": -2}}", "linux.resources.memory.reservation: must be -1");
	expect_error("{\"memory\": {\"limit\": 2000, \"swap\": 1000}}",
		     "linux.resources.memory.swap: 1000 is below memory.limit 2000");
	expect_error("{\"memory\": {\"disableOOMKiller\": 1}}",
		     "linux.resources.memory.disableOOMKiller: must be a boolean");
	expect_error("{\"memory\": []}", "linux.resources.memory: must be an object");
	expect_error("{\"devices\": {}}", "linux.resources.devices: must be an array");
	expect_error("{\"devices\": [{\"allow\": true}, {\"allow\": true, \"type\": \"x\"}]}",
		     "linux.resources.devices[1].type: must be \"a\", \"c\" or \"b\"");
	expect_error("{\"devices\": [{\"type\": \"c\"}]}", "linux.resources.devices[0].allow: is required");
	expect_error("{\"devices\": [{\"allow\": true, \"access\": \"rwx\"}]}",
		     "linux.resources.devices[0].access: \"rwx\" is not a subset of \"rwm\"");
	expect_error("{\"devices\": [{\"allow\": true, \"access\": \"\"}]}",
		     "linux.resources.devices[0].access: must be a non-empty subset");
	expect_error("{\"devices\": [{\"allow\": true, \"major\": -5}]}", "linux.resources.devices[0].major");
	expect_error("{\"cpu\": {\"cpus\": \"0-\"}}", "linux.resources.cpu.cpus: \"0-\" is not a list");
	expect_error("{\"cpu\": {\"mems\": \"3-1\"}}", "linux.resources.cpu.mems");
	expect_error("{\"cpu\": {\"shares\": -1}}", "linux.resources.cpu.shares: must be a non-negative integer");
	expect_error("{\"cpu\": {\"quota\": 10}}", "linux.resources.cpu.quota: must be -1 (unlimited) or at least 1000");
	expect_error("{\"cpu\": {\"period\": 5000000}}", "linux.resources.cpu.period: must be between 1000 and 1000000");
	expect_error("{\"cpu\": {\"idle\": 2}}", "linux.resources.cpu.idle: must be 0 or 1");
	expect_error("{\"pids\": {\"limit\": \"10\"}}", "linux.resources.pids.limit: must be an integer");
	expect_error("{\"blockIO\": {\"weight\": 5}}", "linux.resources.blockIO.weight: must be between 10 and 1000");
	expect_error("{\"blockIO\": {\"weightDevice\": [{\"major\": 8, \"minor\": 0, \"leafWeight\": 2000}]}}",
		     "linux.resources.blockIO.weightDevice[0].leafWeight: must be between 10 and 1000");
	expect_error("{\"blockIO\": {\"throttleReadBpsDevice\": [{\"major\": 8, \"minor\": 0}]}}",
		     "linux.resources.blockIO.throttleReadBpsDevice[0].rate: is required");
	expect_error("{\"blockIO\": {\"throttleWriteIOPSDevice\": [{\"minor\": 0, \"rate\": 1}]}}",
		     "linux.resources.blockIO.throttleWriteIOPSDevice[0].major: is required");
	expect_error("{\"hugepageLimits\": [{\"pageSize\": \"3MB\", \"limit\": 1}]}",
		     "linux.resources.hugepageLimits[0].pageSize: \"3MB\" is not a page size");
	expect_error("{\"hugepageLimits\": [{\"pageSize\": \"2XB\", \"limit\": 1}]}",
		     "linux.resources.hugepageLimits[0].pageSize");
	expect_error("{\"hugepageLimits\": [{\"pageSize\": \"2MB\"}]}",
		     "linux.resources.hugepageLimits[0].limit: is required");
	expect_error("{\"network\": {\"classID\": 4294967296}}", "linux.resources.network.classID: must be at most");
	expect_error("{\"network\": {\"priorities\": [{\"name\": \"eth0 9\\neth1\", \"priority\": 1}]}}",
		     "linux.resources.network.priorities[0].name");
	expect_error("{\"rdma\": {\"mlx\": {\"hcaHandles\": -1}}}",
		     "linux.resources.rdma.mlx.hcaHandles: must be a non-negative integer");
	expect_error("{\"unified\": {\"memory.high\": 5}}", "linux.resources.unified.memory.high: must be a string");
	expect_error("{\"unified\": {\"nodot\": \"1\"}}", "linux.resources.unified.nodot: key must look like");
	expect_error("{\"unified\": {\"../memory.max\": \"1\"}}", "key must look like");
	expect_error("{\"unified\": {\"memory.max/x\": \"1\"}}", "key must look like");
	expect_error("{\"unified\": {\"memory..max\": \"1\"}}", "key must look like");
	expect_error("{\"unified\": {\"cgroup.procs\": \"1\"}}", "linux.resources.unified.cgroup.procs: is not a resource");
	expect_error("[]", "linux.resources: must be an object");
}

static void test_parse_json_origin(void **state)
{
	(void) state;
	struct spec_resources *r = NULL;
	struct berth_error err = { 0 };
	const char *bad = "{\"memory\": {\"swappiness\": 200}}";
	assert_int_equal(spec_resources_parse_json(bad, strlen(bad), "resources.json", &r, &err), -ERANGE);
	assert_string_equal(err.msg, "resources.json: memory.swappiness: must be between 0 and 100");
	assert_null(r);

	berth_error_clear(&err);
	const char *broken = "{\"memory\": ";
	assert_int_equal(spec_resources_parse_json(broken, strlen(broken), "resources.json", &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "resources.json: line 1"));
}

static void test_roundtrip(void **state)
{
	(void) state;
	struct spec_resources *a = parse_ok(FULL);
	json_t *ja = spec_resources_to_json(a);
	assert_non_null(ja);
	char *sa = json_dumps(ja, JSON_SORT_KEYS | JSON_COMPACT);
	struct spec_resources *b = parse_ok(sa);
	json_t *jb = spec_resources_to_json(b);
	char *sb = json_dumps(jb, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(sa, sb);
	/* and the content survived, not just the shape */
	assert_non_null(strstr(sa, "\"swappiness\":0"));
	assert_non_null(strstr(sa, "\"memory.high\":\"400000000\""));
	assert_non_null(strstr(sa, "\"throttleWriteIOPSDevice\":[{\"major\":8,\"minor\":16,\"rate\":200}]"));
	free(sa);
	free(sb);
	json_decref(ja);
	json_decref(jb);
	spec_resources_free(a);
	spec_resources_free(b);
}

static void test_merge(void **state)
{
	(void) state;
	struct spec_resources *dst = parse_ok("{\"memory\": {\"limit\": 1000000, \"swappiness\": 10},"
					      " \"cpu\": {\"cpus\": \"0\"}, \"unified\": {\"memory.high\": \"1\", \"pids.max\": \"5\"}}");
	struct spec_resources *src = parse_ok("{\"memory\": {\"swap\": 3000000}, \"cpu\": {\"cpus\": \"1\", \"shares\": 512},"
					      " \"pids\": {\"limit\": 9}, \"unified\": {\"memory.high\": \"2\", \"cpu.weight\": \"7\"},"
					      " \"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 4194304}]}");
	assert_int_equal(spec_resources_merge(dst, src), 0);
	assert_int_equal(dst->memory.limit, 1000000);   /* kept */
	assert_int_equal(dst->memory.swappiness, 10);   /* kept */
	assert_true(dst->memory.has_swap);
	assert_int_equal(dst->memory.swap, 3000000);    /* added */
	assert_string_equal(dst->cpu.cpus, "1");        /* replaced */
	assert_int_equal(dst->cpu.shares, 512);
	assert_true(dst->has_pids_limit);
	assert_int_equal(dst->pids_limit, 9);
	assert_int_equal(dst->n_hugepage_limits, 1);
	assert_string_equal(dst->hugepage_limits[0].page_size, "2MB");
	assert_int_equal(dst->n_unified, 3);
	for (size_t i = 0; i < dst->n_unified; i++) {
		if (!strcmp(dst->unified[i].key, "memory.high"))
			assert_string_equal(dst->unified[i].value, "2");
		else if (!strcmp(dst->unified[i].key, "pids.max"))
			assert_string_equal(dst->unified[i].value, "5");
		else
			assert_string_equal(dst->unified[i].key, "cpu.weight");
	}
	spec_resources_free(src);
	spec_resources_free(dst);
}

static void test_cpuset_syntax(void **state)
{
	(void) state;
	unsigned max = 0;
	assert_true(spec_resources_cpuset_valid("0-3,5,7-8", &max));
	assert_int_equal(max, 8);
	assert_true(spec_resources_cpuset_valid("12", &max));
	assert_int_equal(max, 12);
	assert_false(spec_resources_cpuset_valid("", NULL));
	assert_false(spec_resources_cpuset_valid("1,", NULL));
	assert_false(spec_resources_cpuset_valid("a", NULL));
	assert_false(spec_resources_cpuset_valid("4-2", NULL));
	assert_false(spec_resources_cpuset_valid("1 2", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_empty_and_null),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_parse_json_origin),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_cpuset_syntax),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
