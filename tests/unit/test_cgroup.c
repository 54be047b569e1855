/* Unit tests for linux/cgroup: v2 and v1 logic against fake cgroupfs trees,
 * layout probing, and the real (hybrid) hierarchy of the test machine with
 * processes this test forks itself.  Real cgroups live under /berth/ and are
 * removed again, also when an assertion fails (teardown). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/magic.h>
#include <time.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/log.h"
#include "linux/cgroup.h"
#include "linux/cgroup_internal.h"
#include "spec/resources.h"

/* --- fake tree helpers ------------------------------------------------------ */

static void put(const char *root, const char *rel, const char *content)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	char *slash = strrchr(path, '/');
	*slash = '\0';
	assert_int_equal(berth_mkdir_p(path, 0755), 0);
	*slash = '/';
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static char *get(const char *root, const char *rel)
{
	char path[PATH_MAX];
	char *s = NULL;
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	int rc = berth_read_file(path, &s, &len);
	if (rc < 0)
		fail_msg("reading %s: %s", path, strerror(-rc));
	return s;
}

static void expect_file(const char *root, const char *rel, const char *want)
{
	char *s = get(root, rel);
	if (strcmp(s, want))
		fail_msg("%s: got \"%s\", want \"%s\"", rel, s, want);
	free(s);
}

static struct spec_resources *res(const char *json)
{
	struct spec_resources *r = NULL;
	struct berth_error err = { 0 };
	if (spec_resources_parse_json(json, strlen(json), "test", &r, &err) < 0)
		fail_msg("resources: %s", err.msg);
	return r;
}

static void expect_err(int rc, const struct berth_error *err, const char *msg)
{
	assert_true(rc < 0);
	if (!strstr(err->msg, msg))
		fail_msg("error \"%s\" does not contain \"%s\"", err->msg, msg);
}

struct fake {
	char root[64];   /* the fake /sys/fs/cgroup */
	char sysfs[96];  /* the fake /sys */
	char base[64];
};

static int fake_setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	strcpy(f->base, "/tmp/berth-cgtest-XXXXXX");
	if (!mkdtemp(f->base))
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/cg", f->base);
	snprintf(f->sysfs, sizeof(f->sysfs), "%s/sys", f->base);
	put(f->sysfs, "devices/system/cpu/online", "0-3\n");
	put(f->sysfs, "devices/system/node/online", "0\n");
	*state = f;
	return 0;
}

static int fake_teardown(void **state)
{
	struct fake *f = *state;
	berth_rm_rf(f->base);
	free(f);
	return 0;
}

/* --- fake v2 ------------------------------------------------------------------- */

static void make_v2_tree(const char *root)
{
	static const char *const levels[] = { "", "berth/", "berth/c1/" };
	for (size_t i = 0; i < 3; i++) {
		char rel[128];
		snprintf(rel, sizeof(rel), "%scgroup.controllers", levels[i]);
		put(root, rel, "cpuset cpu io memory hugetlb pids\n");
		snprintf(rel, sizeof(rel), "%scgroup.subtree_control", levels[i]);
		put(root, rel, "");
		snprintf(rel, sizeof(rel), "%scgroup.procs", levels[i]);
		put(root, rel, "");
	}
	static const char *const empty[] = {
		"memory.max", "memory.low", "memory.swap.max", "memory.high", "cpu.weight", "cpu.max.burst",
		"cpu.idle", "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight", "io.max",
		"hugetlb.2MB.max", "hugetlb.2MB.rsvd.max", "hugetlb.1GB.max", "cgroup.freeze", "cgroup.kill",
	};
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		char rel[128];
		snprintf(rel, sizeof(rel), "berth/c1/%s", empty[i]);
		put(root, rel, "");
	}
	put(root, "berth/c1/cpu.max", "max 100000\n");
	put(root, "berth/c1/memory.current", "1000\n");
	put(root, "berth/c1/cgroup.events", "populated 1\nfrozen 1\n");
	put(root, "berth/c1/cpu.stat", "usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 5\n"
					"nr_throttled 2\nthrottled_usec 7\n");
	put(root, "berth/c1/memory.stat", "anon 10\nfile 20\n");
	put(root, "berth/c1/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n");
	put(root, "berth/c1/pids.current", "4\n");
	put(root, "berth/c1/io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n");
	put(root, "berth/c1/hugetlb.2MB.current", "2097152\n");
	put(root, "berth/c1/hugetlb.2MB.events", "max 1\n");
}

static struct cgroup_manager *fake_manager(struct fake *f, const char *path)
{
	struct cgroup_manager *m = NULL;
	struct berth_error err = { 0 };
	if (cgroup_manager_new(f->root, path, "c1", false, &m, &err) < 0)
		fail_msg("manager: %s", err.msg);
	assert_int_equal(cg_manager_set_sysfs_root(m, f->sysfs), 0);
	return m;
}

static const char V2_RES[] =
	"{\"memory\": {\"limit\": 536870912, \"reservation\": 268435456, \"swap\": 1073741824},"
	" \"cpu\": {\"shares\": 1024, \"quota\": 50000, \"burst\": 10000, \"idle\": 1,"
	"          \"cpus\": \"0-1\", \"mems\": \"0\"},"
	" \"pids\": {\"limit\": 64},"
	" \"blockIO\": {\"weight\": 500, \"weightDevice\": [{\"major\": 8, \"minor\": 0, \"weight\": 600}],"
	"   \"throttleReadBpsDevice\": [{\"major\": 8, \"minor\": 0, \"rate\": 1048576}],"
	"   \"throttleWriteBpsDevice\": [{\"major\": 8, \"minor\": 0, \"rate\": 0}],"
	"   \"throttleReadIOPSDevice\": [{\"major\": 8, \"minor\": 16, \"rate\": 100}],"
	"   \"throttleWriteIOPSDevice\": [{\"major\": 8, \"minor\": 16, \"rate\": 200}]},"
	" \"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 209715200}],"
	" \"unified\": {\"memory.high\": \"400000000\"}}";

static void test_v2_fake_create(void **state)
{
	struct fake *f = *state;
	make_v2_tree(f->root);
	struct cgroup_manager *m = fake_manager(f, "/berth/c1");
	assert_int_equal(cgroup_manager_mode(m), CGROUP_MODE_V2);
	assert_string_equal(cgroup_manager_path(m), "/berth/c1");

	struct spec_resources *r = res(V2_RES);
	struct berth_error err = { 0 };
	if (cgroup_create(m, r, &err) < 0)
		fail_msg("create: %s", err.msg);

	/* Controllers enabled in both parents, never in the leaf. */
	const char *enabled = "+cpu\n+cpuset\n+memory\n+io\n+pids\n+hugetlb\n";
	expect_file(f->root, "cgroup.subtree_control", enabled);
	expect_file(f->root, "berth/cgroup.subtree_control", enabled);
	expect_file(f->root, "berth/c1/cgroup.subtree_control", "");

	expect_file(f->root, "berth/c1/memory.max", "536870912\n");
	expect_file(f->root, "berth/c1/memory.low", "268435456\n");
	expect_file(f->root, "berth/c1/memory.swap.max", "536870912\n"); /* swap - limit */
	/* 1 + ((1024 - 2) * 9999) / 262142 */
	expect_file(f->root, "berth/c1/cpu.weight", "39\n");
	expect_file(f->root, "berth/c1/cpu.max", "max 100000\n50000 100000\n"); /* period kept */
	expect_file(f->root, "berth/c1/cpu.max.burst", "10000\n");
	expect_file(f->root, "berth/c1/cpu.idle", "1\n");
	expect_file(f->root, "berth/c1/cpuset.cpus", "0-1\n");
	expect_file(f->root, "berth/c1/cpuset.mems", "0\n");
	expect_file(f->root, "berth/c1/pids.max", "64\n");
	/* 1 + (w - 10) * 9999 / 990: 500 → 4950, 600 → 5960 */
	expect_file(f->root, "berth/c1/io.weight", "default 4950\n8:0 5960\n");
	expect_file(f->root, "berth/c1/io.max", "8:0 rbps=1048576\n8:0 wbps=max\n8:16 riops=100\n8:16 wiops=200\n");
	expect_file(f->root, "berth/c1/hugetlb.2MB.max", "209715200\n");
	expect_file(f->root, "berth/c1/hugetlb.2MB.rsvd.max", "209715200\n");
	expect_file(f->root, "berth/c1/memory.high", "400000000\n");

	/* enter, freeze (cgroup.events already says frozen), kill */
	assert_int_equal(cgroup_enter(m, 4242, &err), 0);
	expect_file(f->root, "berth/c1/cgroup.procs", "4242\n");
	assert_int_equal(cgroup_freeze(m, true, &err), 0);
	expect_file(f->root, "berth/c1/cgroup.freeze", "1\n");
	bool frozen = false;
	assert_int_equal(cgroup_is_frozen(m, &frozen), 0);
	assert_true(frozen);
	assert_int_equal(cgroup_kill_all(m, SIGKILL, &err), 0);
	expect_file(f->root, "berth/c1/cgroup.kill", "1\n");

	uint64_t ooms = 0;
	assert_int_equal(cgroup_oom_kills(m, &ooms), 0);
	assert_int_equal(ooms, 2);

	/* stats in runc's shape */
	char *js = NULL;
	if (cgroup_stats_json(m, &js, &err) < 0)
		fail_msg("stats: %s", err.msg);
	json_t *st = json_loads(js, 0, NULL);
	assert_non_null(st);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(st, "cpu"), "usage"), "total")), 100000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(st, "cpu"), "usage"), "user")), 60000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(st, "cpu"), "throttling"), "throttledPeriods")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "memory"), "cache")), 20);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(st, "memory"), "usage"), "failcnt")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(st, "memory"), "usage"), "usage")), 1000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(st, "memory"), "raw"), "anon")), 10);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "pids"), "current")), 4);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "pids"), "limit")), 64);
	json_t *bytes = json_object_get(json_object_get(st, "blkio"), "ioServiceBytesRecursive");
	assert_int_equal(json_array_size(bytes), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(bytes, 1), "op")), "Write");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(bytes, 1), "value")), 8192);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(st, "hugetlb"), "2MB"), "failcnt")), 1);
	assert_int_equal(json_array_size(json_object_get(json_object_get(st, "cpuset"), "cpus")), 0);
	json_decref(st);
	free(js);

	/* state round trip */
	char *ser = cgroup_manager_serialize(m);
	assert_non_null(ser);
	struct cgroup_manager *m2 = NULL;
	if (cgroup_manager_deserialize(ser, &m2, &err) < 0)
		fail_msg("deserialize: %s", err.msg);
	assert_string_equal(cgroup_manager_path(m2), "/berth/c1");
	assert_int_equal(cgroup_manager_mode(m2), CGROUP_MODE_V2);
	assert_string_equal(cgroup_manager_dir(m2, "memory"), cgroup_manager_dir(m, "memory"));
	assert_string_equal(cgroup_manager_dir(m2, NULL), cgroup_manager_dir(m, NULL));
	char *ser2 = cgroup_manager_serialize(m2);
	assert_string_equal(ser, ser2);
	free(ser);
	free(ser2);
	cgroup_manager_free(m2);

	spec_resources_free(r);
	cgroup_manager_free(m);
}

static void test_v2_fake_errors(void **state)
{
	struct fake *f = *state;
	make_v2_tree(f->root);
	struct cgroup_manager *m = fake_manager(f, "/berth/c1");
	struct berth_error err = { 0 };
	struct spec_resources *r;

	r = res("{\"unified\": {\"memory.foo\": \"1\"}}");
	expect_err(cgroup_update(m, r, &err), &err, "linux.resources.unified.memory.foo: no such cgroup file");
	spec_resources_free(r);

	berth_error_clear(&err);
	r = res("{\"memory\": {\"limit\": 500, \"checkBeforeUpdate\": true}}");
	expect_err(cgroup_update(m, r, &err), &err, "linux.resources.memory.limit: 500 is below the current usage 1000");
	spec_resources_free(r);
	expect_file(f->root, "berth/c1/memory.max", ""); /* nothing written */

	berth_error_clear(&err);
	r = res("{\"cpu\": {\"cpus\": \"1,7\"}}");
	expect_err(cgroup_update(m, r, &err), &err, "linux.resources.cpu.cpus: CPU 7 is not online on this host");
	spec_resources_free(r);

	berth_error_clear(&err);
	r = res("{\"cpu\": {\"mems\": \"1\"}}");
	expect_err(cgroup_update(m, r, &err), &err, "linux.resources.cpu.mems: memory node 1 is not online on this host");
	spec_resources_free(r);

	berth_error_clear(&err);
	r = res("{\"rdma\": {\"mlx5_0\": {\"hcaHandles\": 1}}}");
	expect_err(cgroup_create(m, r, &err), &err, "linux.resources.rdma: rdma controller not supported");
	spec_resources_free(r);

	berth_error_clear(&err);
	r = res("{\"network\": {\"classID\": 5}}");
	expect_err(cgroup_update(m, r, &err), &err,
		   "linux.resources.network.classID: the net_cls cgroup controller is not available on this host");
	spec_resources_free(r);

	berth_error_clear(&err);
	r = res("{\"cpu\": {\"realtimeRuntime\": 1000}}");
	expect_err(cgroup_update(m, r, &err), &err, "linux.resources.cpu.realtimeRuntime: real-time CPU limits are not available on cgroup v2");
	spec_resources_free(r);

	berth_error_clear(&err);
	r = res("{\"memory\": {\"swap\": 1000000}}");
	expect_err(cgroup_update(m, r, &err), &err, "linux.resources.memory.swap: on cgroup v2 a swap limit needs memory.limit");
	spec_resources_free(r);

	berth_error_clear(&err);
	r = res("{\"hugepageLimits\": [{\"pageSize\": \"64KB\", \"limit\": 1}]}");
	expect_err(cgroup_update(m, r, &err), &err, "linux.resources.hugepageLimits[0].pageSize: hugepages of 64KB are not supported");
	spec_resources_free(r);

	/* A controller file that is missing names the file and the field. */
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/berth/c1/pids.max", f->root);
	assert_int_equal(unlink(p), 0);
	berth_error_clear(&err);
	r = res("{\"pids\": {\"limit\": 3}}");
	expect_err(cgroup_update(m, r, &err), &err, "linux.resources.pids.limit: no such cgroup file");
	assert_non_null(strstr(err.msg, "/berth/c1/pids.max"));
	spec_resources_free(r);

	/* A controller the host lacks: error only when asked for. */
	put(f->root, "cgroup.controllers", "cpu memory\n");
	struct cgroup_manager *m2 = fake_manager(f, "/berth/c1");
	berth_error_clear(&err);
	r = res("{\"memory\": {\"limit\": 4096000}}");
	assert_int_equal(cgroup_update(m2, r, &err), 0);
	spec_resources_free(r);
	r = res("{\"pids\": {\"limit\": 3}}");
	expect_err(cgroup_update(m2, r, &err), &err, "linux.resources.pids.limit: the pids cgroup controller is not available");
	spec_resources_free(r);
	cgroup_manager_free(m2);
	cgroup_manager_free(m);
}

/* --- fake v1 ------------------------------------------------------------------- */

static void make_v1_tree(const char *root, bool with_pids)
{
	static const char *const hier[] = { "cpu,cpuacct", "cpuset", "memory", "devices", "freezer",
					    "blkio", "pids", "hugetlb", "net_cls,net_prio", "systemd" };
	for (size_t i = 0; i < sizeof(hier) / sizeof(hier[0]); i++) {
		if (!with_pids && !strcmp(hier[i], "pids"))
			continue;
		char rel[128];
		static const char *const lv[] = { "", "/berth", "/berth/c1" };
		for (size_t j = 0; j < 3; j++) {
			snprintf(rel, sizeof(rel), "%s%s/cgroup.procs", hier[i], lv[j]);
			put(root, rel, "");
		}
	}
	put(root, "cpuset/cpuset.cpus", "0-3\n");
	put(root, "cpuset/cpuset.mems", "0\n");
	put(root, "cpuset/berth/cpuset.cpus", "");
	put(root, "cpuset/berth/cpuset.mems", "");
	put(root, "cpuset/berth/c1/cpuset.cpus", "");
	put(root, "cpuset/berth/c1/cpuset.mems", "");
	static const char *const files[] = {
		"cpu,cpuacct/berth/c1/cpu.shares", "cpu,cpuacct/berth/c1/cpu.cfs_period_us",
		"cpu,cpuacct/berth/c1/cpu.cfs_quota_us", "cpu,cpuacct/berth/c1/cpu.cfs_burst_us",
		"cpu,cpuacct/berth/c1/cpu.rt_period_us", "cpu,cpuacct/berth/c1/cpu.rt_runtime_us",
		"cpu,cpuacct/berth/c1/cpu.idle",
		"memory/berth/c1/memory.limit_in_bytes", "memory/berth/c1/memory.soft_limit_in_bytes",
		"memory/berth/c1/memory.kmem.limit_in_bytes", "memory/berth/c1/memory.kmem.tcp.limit_in_bytes",
		"memory/berth/c1/memory.swappiness", "memory/berth/c1/memory.oom_control",
		"memory/berth/c1/memory.use_hierarchy",
		"devices/berth/c1/devices.allow", "devices/berth/c1/devices.deny",
		"blkio/berth/c1/blkio.weight", "blkio/berth/c1/blkio.leaf_weight",
		"blkio/berth/c1/blkio.weight_device", "blkio/berth/c1/blkio.leaf_weight_device",
		"blkio/berth/c1/blkio.throttle.read_bps_device", "blkio/berth/c1/blkio.throttle.write_bps_device",
		"blkio/berth/c1/blkio.throttle.read_iops_device", "blkio/berth/c1/blkio.throttle.write_iops_device",
		"hugetlb/berth/c1/hugetlb.2MB.limit_in_bytes",
		"net_cls,net_prio/berth/c1/net_cls.classid", "net_cls,net_prio/berth/c1/net_prio.ifpriomap",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		put(root, files[i], "");
	if (with_pids)
		put(root, "pids/berth/c1/pids.max", "");
	put(root, "memory/berth/c1/memory.memsw.limit_in_bytes", "9223372036854771712\n");
	put(root, "memory/berth/c1/memory.usage_in_bytes", "5242880\n");
	put(root, "memory/berth/c1/memory.max_usage_in_bytes", "6000000\n");
	put(root, "memory/berth/c1/memory.failcnt", "2\n");
	put(root, "memory/berth/c1/memory.stat", "cache 4096\nrss 8192\n");
	put(root, "memory/berth/c1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n");
	put(root, "cpu,cpuacct/berth/c1/cpuacct.usage", "12345\n");
	put(root, "cpu,cpuacct/berth/c1/cpuacct.usage_percpu", "100 200 \n");
	put(root, "cpu,cpuacct/berth/c1/cpuacct.stat", "user 10\nsystem 5\n");
	put(root, "cpu,cpuacct/berth/c1/cpu.stat", "nr_periods 3\nnr_throttled 1\nthrottled_time 99\n");
	put(root, "blkio/berth/c1/blkio.throttle.io_service_bytes_recursive", "8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n");
}

static const char V1_RES[] =
	"{\"devices\": [{\"allow\": false, \"access\": \"rwm\"},"
	"               {\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 3, \"access\": \"rwm\"},"
	"               {\"allow\": true, \"type\": \"b\", \"major\": 8, \"access\": \"r\"},"
	"               {\"allow\": true, \"major\": 5, \"access\": \"w\"},"
	"               {\"allow\": false, \"type\": \"c\", \"major\": 1, \"minor\": 3, \"access\": \"m\"}],"
	" \"memory\": {\"limit\": 536870912, \"reservation\": 268435456, \"swap\": 1073741824,"
	"   \"kernel\": 1048576, \"kernelTCP\": 2097152, \"swappiness\": 10, \"disableOOMKiller\": true,"
	"   \"useHierarchy\": true},"
	" \"cpu\": {\"shares\": 1024, \"quota\": 50000, \"period\": 100000, \"burst\": 10000,"
	"   \"realtimeRuntime\": 950000, \"realtimePeriod\": 1000000, \"idle\": 0, \"cpus\": \"0-1\", \"mems\": \"0\"},"
	" \"pids\": {\"limit\": 0},"
	" \"blockIO\": {\"weight\": 500, \"leafWeight\": 300,"
	"   \"weightDevice\": [{\"major\": 8, \"minor\": 0, \"weight\": 600, \"leafWeight\": 700}],"
	"   \"throttleReadBpsDevice\": [{\"major\": 8, \"minor\": 0, \"rate\": 1048576}],"
	"   \"throttleWriteBpsDevice\": [{\"major\": 8, \"minor\": 0, \"rate\": 2097152}],"
	"   \"throttleReadIOPSDevice\": [{\"major\": 8, \"minor\": 16, \"rate\": 100}],"
	"   \"throttleWriteIOPSDevice\": [{\"major\": 8, \"minor\": 16, \"rate\": 200}]},"
	" \"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 209715200}],"
	" \"network\": {\"classID\": 1048577, \"priorities\": [{\"name\": \"eth0\", \"priority\": 5},"
	"                                                      {\"name\": \"lo\", \"priority\": 1}]}}";

static void test_v1_fake_create(void **state)
{
	struct fake *f = *state;
	make_v1_tree(f->root, true);
	struct cgroup_manager *m = fake_manager(f, "c1"); /* relative: under /berth */
	assert_int_equal(cgroup_manager_mode(m), CGROUP_MODE_V1);
	assert_string_equal(cgroup_manager_path(m), "/berth/c1");
	struct spec_resources *r = res(V1_RES);
	struct berth_error err = { 0 };
	if (cgroup_create(m, r, &err) < 0)
		fail_msg("create: %s", err.msg);

	/* cpuset seeded down from the root, then set */
	expect_file(f->root, "cpuset/berth/cpuset.cpus", "0-3\n");
	expect_file(f->root, "cpuset/berth/cpuset.mems", "0\n");
	expect_file(f->root, "cpuset/berth/c1/cpuset.cpus", "0-3\n0-1\n");
	expect_file(f->root, "cpuset/berth/c1/cpuset.mems", "0\n0\n");

	expect_file(f->root, "memory/berth/c1/memory.limit_in_bytes", "536870912\n");
	expect_file(f->root, "memory/berth/c1/memory.memsw.limit_in_bytes", "9223372036854771712\n1073741824\n");
	expect_file(f->root, "memory/berth/c1/memory.soft_limit_in_bytes", "268435456\n");
	expect_file(f->root, "memory/berth/c1/memory.kmem.limit_in_bytes", "1048576\n");
	expect_file(f->root, "memory/berth/c1/memory.kmem.tcp.limit_in_bytes", "2097152\n");
	expect_file(f->root, "memory/berth/c1/memory.swappiness", "10\n");
	expect_file(f->root, "memory/berth/c1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n1\n");
	expect_file(f->root, "memory/berth/c1/memory.use_hierarchy", "1\n");

	expect_file(f->root, "cpu,cpuacct/berth/c1/cpu.shares", "1024\n");
	expect_file(f->root, "cpu,cpuacct/berth/c1/cpu.cfs_period_us", "100000\n");
	expect_file(f->root, "cpu,cpuacct/berth/c1/cpu.cfs_quota_us", "50000\n");
	expect_file(f->root, "cpu,cpuacct/berth/c1/cpu.cfs_burst_us", "10000\n");
	expect_file(f->root, "cpu,cpuacct/berth/c1/cpu.rt_period_us", "1000000\n");
	expect_file(f->root, "cpu,cpuacct/berth/c1/cpu.rt_runtime_us", "950000\n");
	expect_file(f->root, "cpu,cpuacct/berth/c1/cpu.idle", "0\n");

	expect_file(f->root, "pids/berth/c1/pids.max", "max\n");

	expect_file(f->root, "blkio/berth/c1/blkio.weight", "500\n");
	expect_file(f->root, "blkio/berth/c1/blkio.leaf_weight", "300\n");
	expect_file(f->root, "blkio/berth/c1/blkio.weight_device", "8:0 600\n");
	expect_file(f->root, "blkio/berth/c1/blkio.leaf_weight_device", "8:0 700\n");
	expect_file(f->root, "blkio/berth/c1/blkio.throttle.read_bps_device", "8:0 1048576\n");
	expect_file(f->root, "blkio/berth/c1/blkio.throttle.write_bps_device", "8:0 2097152\n");
	expect_file(f->root, "blkio/berth/c1/blkio.throttle.read_iops_device", "8:16 100\n");
	expect_file(f->root, "blkio/berth/c1/blkio.throttle.write_iops_device", "8:16 200\n");

	expect_file(f->root, "hugetlb/berth/c1/hugetlb.2MB.limit_in_bytes", "209715200\n");
	expect_file(f->root, "net_cls,net_prio/berth/c1/net_cls.classid", "1048577\n");
	expect_file(f->root, "net_cls,net_prio/berth/c1/net_prio.ifpriomap", "eth0 5\nlo 1\n");

	/* "a" denied first, then every rule in order; an all-types rule with
	 * a number is spelled out for char and block. */
	expect_file(f->root, "devices/berth/c1/devices.deny", "a\na\nc 1:3 m\n");
	expect_file(f->root, "devices/berth/c1/devices.allow", "c 1:3 rwm\nb 8:* r\nc 5:* w\nb 5:* w\n");

	/* every hierarchy, including the named one */
	assert_int_equal(cgroup_enter(m, 777, &err), 0);
	expect_file(f->root, "systemd/berth/c1/cgroup.procs", "777\n");
	expect_file(f->root, "freezer/berth/c1/cgroup.procs", "777\n");
	expect_file(f->root, "memory/berth/c1/cgroup.procs", "777\n");
	pid_t *pids = NULL;
	size_t n = 0;
	assert_int_equal(cgroup_pids(m, &pids, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], 777);
	free(pids);

	uint64_t ooms = 0;
	assert_int_equal(cgroup_oom_kills(m, &ooms), 0);
	assert_int_equal(ooms, 5);

	char *js = NULL;
	if (cgroup_stats_json(m, &js, &err) < 0)
		fail_msg("stats: %s", err.msg);
	json_t *st = json_loads(js, 0, NULL);
	json_t *usage = json_object_get(json_object_get(st, "cpu"), "usage");
	assert_int_equal(json_integer_value(json_object_get(usage, "total")), 12345);
	assert_int_equal(json_array_size(json_object_get(usage, "percpu")), 2);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(usage, "percpu"), 1)), 200);
	assert_int_equal(json_integer_value(json_object_get(usage, "user")), 10 * (1000000000 / sysconf(_SC_CLK_TCK)));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(st, "cpu"), "throttling"), "throttledTime")), 99);
	json_t *mem = json_object_get(st, "memory");
	assert_int_equal(json_integer_value(json_object_get(mem, "cache")), 4096);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(mem, "usage"), "usage")), 5242880);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(mem, "usage"), "max")), 6000000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(mem, "usage"), "failcnt")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(mem, "usage"), "limit")), 536870912);
	json_t *bytes = json_object_get(json_object_get(st, "blkio"), "ioServiceBytesRecursive");
	assert_int_equal(json_array_size(bytes), 2); /* "Total" skipped */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(bytes, 0), "value")), 4096);
	json_t *cpus = json_object_get(json_object_get(st, "cpuset"), "cpus");
	assert_int_equal(json_array_size(cpus), 4); /* first line of the fake file: 0-3 */
	json_decref(st);
	free(js);

	spec_resources_free(r);
	cgroup_manager_free(m);
}

static void test_v1_fake_errors(void **state)
{
	struct fake *f = *state;
	make_v1_tree(f->root, false);
	struct cgroup_manager *m = fake_manager(f, "/berth/c1");
	struct berth_error err = { 0 };
	struct spec_resources *r;

	/* pids not mounted: fine while nobody asks for it */
	r = res("{\"memory\": {\"limit\": 1048576}}");
	assert_int_equal(cgroup_update(m, r, &err), 0);
	spec_resources_free(r);
	r = res("{\"pids\": {\"limit\": 10}}");
	expect_err(cgroup_update(m, r, &err), &err,
		   "linux.resources.pids.limit: the pids cgroup controller is not available on this host");
	spec_resources_free(r);

	berth_error_clear(&err);
	r = res("{\"memory\": {\"limit\": 1048576, \"checkBeforeUpdate\": true}}");
	expect_err(cgroup_update(m, r, &err), &err,
		   "linux.resources.memory.limit: 1048576 is below the current usage 5242880");
	spec_resources_free(r);

	berth_error_clear(&err);
	r = res("{\"unified\": {\"memory.high\": \"1\"}}");
	expect_err(cgroup_update(m, r, &err), &err, "linux.resources.unified: needs cgroup v2");
	spec_resources_free(r);

	berth_error_clear(&err);
	r = res("{\"hugepageLimits\": [{\"pageSize\": \"1GB\", \"limit\": 0}]}");
	expect_err(cgroup_update(m, r, &err), &err, "linux.resources.hugepageLimits[0].pageSize: hugepages of 1GB are not supported");
	spec_resources_free(r);

	/* memsw ordering: the kernel wants limit <= memsw at every step, so a
	 * growing memsw is written before the limit and a shrinking one after.
	 * A limit file that cannot be opened shows which came first. */
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/memory/berth/c1/memory.limit_in_bytes", f->root);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0755), 0); /* opening it for writing fails with EISDIR */
	put(f->root, "memory/berth/c1/memory.memsw.limit_in_bytes", "1048576\n");
	berth_error_clear(&err);
	r = res("{\"memory\": {\"limit\": 2097152, \"swap\": 4194304}}");
	expect_err(cgroup_update(m, r, &err), &err, "linux.resources.memory.limit: opening");
	spec_resources_free(r);
	expect_file(f->root, "memory/berth/c1/memory.memsw.limit_in_bytes", "1048576\n4194304\n");

	put(f->root, "memory/berth/c1/memory.memsw.limit_in_bytes", "9223372036854771712\n");
	berth_error_clear(&err);
	r = res("{\"memory\": {\"limit\": 2097152, \"swap\": 4194304}}");
	expect_err(cgroup_update(m, r, &err), &err, "linux.resources.memory.limit: opening");
	spec_resources_free(r);
	expect_file(f->root, "memory/berth/c1/memory.memsw.limit_in_bytes", "9223372036854771712\n");

	cgroup_manager_free(m);
}

/* --- probing ------------------------------------------------------------------- */

static void test_probe_layouts(void **state)
{
	struct fake *f = *state;
	struct cgroup_manager *m = NULL;
	struct berth_error err = { 0 };
	char mi[PATH_MAX], text[4096];
	assert_int_equal(berth_mkdir_p(f->root, 0755), 0);
	snprintf(mi, sizeof(mi), "%s/mountinfo", f->base);

	/* hybrid, with an escaped mount point and a co-mounted pair */
	snprintf(text, sizeof(text),
		 "30 23 0:26 / %s rw - tmpfs tmpfs rw\n"
		 "31 30 0:27 / %s/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
		 "32 30 0:28 / %s/memory rw - cgroup cgroup rw,memory\n"
		 "33 30 0:29 / %s/sys\\040temd rw - cgroup cgroup rw,xattr,name=systemd\n"
		 "34 30 0:30 / %s/unified rw - cgroup2 cgroup2 rw,nsdelegate\n"
		 "35 23 0:31 / /elsewhere/memory rw - cgroup cgroup rw,memory\n",
		 f->root, f->root, f->root, f->root, f->root);
	put(f->base, "mountinfo", text);
	put(f->root, "unified/cgroup.controllers", "hugetlb\n");
	assert_int_equal(cg_manager_new_probe(f->root, mi, NULL, "ctr", false, &m, &err), 0);
	assert_int_equal(cgroup_manager_mode(m), CGROUP_MODE_HYBRID);
	assert_string_equal(cgroup_manager_path(m), "/berth/ctr");
	char want[PATH_MAX];
	snprintf(want, sizeof(want), "%s/cpu,cpuacct/berth/ctr", f->root);
	assert_string_equal(cgroup_manager_dir(m, "cpuacct"), want);
	assert_string_equal(cgroup_manager_dir(m, "cpu"), want);
	snprintf(want, sizeof(want), "%s/sys temd/berth/ctr", f->root);
	assert_string_equal(cgroup_manager_dir(m, "systemd"), want);
	snprintf(want, sizeof(want), "%s/unified/berth/ctr", f->root);
	assert_string_equal(cgroup_manager_dir(m, NULL), want);
	assert_string_equal(cgroup_manager_dir(m, "hugetlb"), want); /* hugetlb lives in the v2 part */
	assert_null(cgroup_manager_dir(m, "pids"));
	cgroup_manager_free(m);

	/* pure v2 */
	snprintf(text, sizeof(text), "30 23 0:26 / %s rw - cgroup2 cgroup2 rw\n", f->root);
	put(f->base, "mountinfo", text);
	put(f->root, "cgroup.controllers", "cpu io memory pids\n");
	assert_int_equal(cg_manager_new_probe(f->root, mi, "/x/y", "ctr", false, &m, &err), 0);
	assert_int_equal(cgroup_manager_mode(m), CGROUP_MODE_V2);
	snprintf(want, sizeof(want), "%s/x/y", f->root);
	assert_string_equal(cgroup_manager_dir(m, "io"), want);
	assert_string_equal(cgroup_manager_dir(m, "blkio"), want);
	assert_null(cgroup_manager_dir(m, "hugetlb"));
	cgroup_manager_free(m);

	/* v1 only */
	snprintf(text, sizeof(text), "31 30 0:27 / %s/pids rw - cgroup cgroup rw,pids\n", f->root);
	put(f->base, "mountinfo", text);
	assert_int_equal(cg_manager_new_probe(f->root, mi, NULL, "ctr", false, &m, &err), 0);
	assert_int_equal(cgroup_manager_mode(m), CGROUP_MODE_V1);
	assert_null(cgroup_manager_dir(m, NULL));
	cgroup_manager_free(m);
}

static void test_paths_and_systemd(void **state)
{
	struct fake *f = *state;
	struct cgroup_manager *m = NULL;
	struct berth_error err = { 0 };
	put(f->root, "cgroup.controllers", "memory\n");

	assert_int_equal(cgroup_manager_new(f->root, "//a//b/", "id", false, &m, &err), 0);
	assert_string_equal(cgroup_manager_path(m), "/a/b");
	cgroup_manager_free(m);
	assert_int_equal(cgroup_manager_new(f->root, "x/y", "id", false, &m, &err), 0);
	assert_string_equal(cgroup_manager_path(m), "/berth/x/y");
	cgroup_manager_free(m);

	expect_err(cgroup_manager_new(f->root, "/a/../b", "id", false, &m, &err), &err,
		   "linux.cgroupsPath: \"/a/../b\" must not contain");
	berth_error_clear(&err);
	expect_err(cgroup_manager_new(f->root, "/", "id", false, &m, &err), &err, "names the root cgroup");
	berth_error_clear(&err);
	expect_err(cgroup_manager_new(f->root, NULL, "../x", false, &m, &err), &err, "cannot name a cgroup");
	berth_error_clear(&err);
	int rc = cgroup_manager_new(f->root, "system.slice:berth:abc", "abc", true, &m, &err);
	assert_int_equal(rc, -ENOTSUP);
	assert_int_equal(strncmp(err.msg, "--systemd-cgroup: systemd cgroup driver is not supported on this host",
				 strlen("--systemd-cgroup: systemd cgroup driver is not supported on this host")), 0);
	berth_error_clear(&err);
	expect_err(cgroup_manager_new("/nonexistent-berth-root", NULL, "id", false, &m, &err), &err,
		   "/nonexistent-berth-root");
}

static void test_conversions(void **state)
{
	(void) state;
	assert_int_equal(cg_shares_to_weight(2), 1);
	assert_int_equal(cg_shares_to_weight(1024), 39);
	assert_int_equal(cg_shares_to_weight(262144), 10000);
	assert_int_equal(cg_shares_to_weight(0), 1);          /* clamped */
	assert_int_equal(cg_shares_to_weight(1000000), 10000); /* clamped */
	assert_int_equal(cg_blkio_to_io_weight(10), 1);
	assert_int_equal(cg_blkio_to_io_weight(100), 910);
	assert_int_equal(cg_blkio_to_io_weight(1000), 10000);
	char b[16];
	cg_hugetlb_name(2 << 20, b, sizeof(b));
	assert_string_equal(b, "2MB");
	cg_hugetlb_name(1ULL << 30, b, sizeof(b));
	assert_string_equal(b, "1GB");
	cg_hugetlb_name(64 << 10, b, sizeof(b));
	assert_string_equal(b, "64KB");
}

/* The generated device program, run by the kernel's BPF_PROG_TEST_RUN is not
 * available for this program type, so check its shape: a default-deny
 * epilogue and one block per rule, plus the real-kernel test below. */
static void test_bpf_build(void **state)
{
	(void) state;
	struct spec_res_device rules[2] = {
		{ .allow = false, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
		{ .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rw" },
	};
	struct bpf_insn *p = NULL;
	size_t n = 0;
	assert_int_equal(cg_bpf_devices_build(rules, 2, &p, &n), 0);
	/* 6 prologue + (3 match + 3 access + 4 allow) + (3 access + 2 deny) + 2 */
	assert_int_equal(n, 6 + 10 + 5 + 2);
	assert_int_equal(p[n - 1].code, BPF_JMP | BPF_EXIT);
	assert_int_equal(p[n - 2].imm, 0); /* default deny */
	/* first rule block is the last config rule (c 1:3): jumps skip to the
	 * deny-all block that follows it */
	assert_int_equal(p[6].code, BPF_JMP32 | BPF_JNE | BPF_K);
	assert_int_equal(p[6].imm, BPF_DEVCG_DEV_CHAR);
	assert_int_equal(6 + 1 + p[6].off, 16);
	free(p);
}

/* --- the real hierarchy ----------------------------------------------------------- */

struct real {
	struct cgroup_manager *m;
	pid_t kids[4];
	int n_kids;
	volatile uint64_t *counter;
	char path[64];
};

static int real_counter;

static bool real_host_ok(void)
{
	struct statfs sfs;
	if (geteuid() != 0)
		return false;
	if (statfs("/sys/fs/cgroup/unified", &sfs) < 0 || (unsigned long) sfs.f_type != CGROUP2_SUPER_MAGIC)
		return false;
	return access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) == 0 &&
	       access("/sys/fs/cgroup/pids/cgroup.procs", F_OK) == 0 &&
	       access("/sys/fs/cgroup/freezer/cgroup.procs", F_OK) == 0;
}

static int real_setup(void **state)
{
	struct real *r = calloc(1, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "/berth/test-%d-%d", (int) getpid(), ++real_counter);
	r->counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r->counter == MAP_FAILED)
		return -1;
	*state = r;
	return 0;
}

/* Remove the empty /berth parents we may have created (others' stay). */
static void rmdir_berth_parents(void)
{
	static const char *const hs[] = { "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer",
					  "blkio", "pids", "systemd", "unified", "hugetlb", "net_cls", "net_prio" };
	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/berth", hs[i]);
		rmdir(p); /* fails harmlessly while other cgroups are in it */
	}
}

static int real_teardown(void **state)
{
	struct real *r = *state;
	struct berth_error err = { 0 };
	for (int i = 0; i < r->n_kids; i++)
		kill(r->kids[i], SIGKILL);
	if (r->m) {
		cgroup_freeze(r->m, false, &err); /* a killed task only dies once thawed */
		berth_error_clear(&err);
	}
	for (int i = 0; i < r->n_kids; i++)
		waitpid(r->kids[i], NULL, 0);
	if (r->m) {
		berth_error_clear(&err);
		if (cgroup_destroy(r->m, &err) < 0)
			fprintf(stderr, "teardown: %s\n", err.msg);
		cgroup_manager_free(r->m);
	}
	rmdir_berth_parents();
	munmap((void *) r->counter, 4096);
	free(r);
	return 0;
}

static struct cgroup_manager *real_manager(struct real *r, const char *resources_json)
{
	struct berth_error err = { 0 };
	struct cgroup_manager *m = NULL;
	if (cgroup_manager_new(NULL, r->path, "unused", false, &m, &err) < 0)
		fail_msg("manager: %s", err.msg);
	assert_int_equal(cgroup_manager_mode(m), CGROUP_MODE_HYBRID);
	r->m = m;
	struct spec_resources *res_ = resources_json ? res(resources_json) : NULL;
	int rc = cgroup_create(m, res_, &err);
	spec_resources_free(res_);
	if (rc < 0)
		fail_msg("create: %s", err.msg);
	return m;
}

enum child_kind { CHILD_SPIN, CHILD_IGNORE_TERM, CHILD_FORK, CHILD_DEVICES };

/* Fork a child that waits until it has been moved into the cgroup, then
 * does its job.  Returns its pid. */
static pid_t spawn(struct real *r, enum child_kind kind)
{
	int go[2];
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;
		close(go[1]);
		if (kind == CHILD_IGNORE_TERM)
			signal(SIGTERM, SIG_IGN);
		if (read(go[0], &c, 1) != 1)
			_exit(90);
		switch (kind) {
		case CHILD_SPIN:
		case CHILD_IGNORE_TERM:
			for (;;)
				__atomic_add_fetch(r->counter, 1, __ATOMIC_RELAXED);
		case CHILD_FORK: {
			pid_t g = fork();
			if (g == 0)
				_exit(0);
			if (g > 0) {
				waitpid(g, NULL, 0);
				_exit(1);
			}
			_exit(errno == EAGAIN ? 0 : 2);
		}
		case CHILD_DEVICES: {
			/* bit set = unexpected outcome */
			int bad = 0, fd;
			if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
				bad |= 1;
			else
				close(fd);
			if ((fd = open("/dev/zero", O_RDONLY | O_CLOEXEC)) < 0)
				bad |= 2;
			else
				close(fd);
			if ((fd = open("/dev/zero", O_WRONLY | O_CLOEXEC)) >= 0 || errno != EPERM)
				bad |= 4;
			if ((fd = open("/dev/full", O_RDONLY | O_CLOEXEC)) >= 0 || errno != EPERM)
				bad |= 8;
			_exit(bad);
		}
		}
		_exit(99);
	}
	close(go[0]);
	r->kids[r->n_kids++] = pid;
	struct berth_error err = { 0 };
	if (cgroup_enter(r->m, pid, &err) < 0) {
		close(go[1]);
		fail_msg("enter: %s", err.msg);
	}
	assert_int_equal(write(go[1], "x", 1), 1);
	close(go[1]);
	return pid;
}

static void forget_kid(struct real *r, pid_t pid)
{
	for (int i = 0; i < r->n_kids; i++)
		if (r->kids[i] == pid)
			r->kids[i] = r->kids[--r->n_kids];
}

static char *read_real(const char *path)
{
	char *s = NULL;
	size_t len;
	if (berth_read_file(path, &s, &len) < 0)
		fail_msg("reading %s", path);
	s[strcspn(s, "\n")] = '\0';
	return s;
}

static void expect_real(struct cgroup_manager *m, const char *ctrl, const char *file, const char *want)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", cgroup_manager_dir(m, ctrl), file);
	char *s = read_real(p);
	if (strcmp(s, want))
		fail_msg("%s: got \"%s\", want \"%s\"", p, s, want);
	free(s);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static bool counter_moves(struct real *r)
{
	uint64_t a = *r->counter;
	for (int i = 0; i < 50; i++) {
		sleep_ms(2);
		if (*r->counter != a)
			return true;
	}
	return false;
}

static void test_real_limits_and_kill(void **state)
{
	struct real *r = *state;
	if (!real_host_ok())
		skip();
	struct cgroup_manager *m = real_manager(r,
		"{\"memory\": {\"limit\": 67108864}, \"pids\": {\"limit\": 32},"
		" \"cpu\": {\"cpus\": \"0\", \"mems\": \"0\", \"shares\": 512}}");
	struct berth_error err = { 0 };

	expect_real(m, "memory", "memory.limit_in_bytes", "67108864");
	expect_real(m, "pids", "pids.max", "32");
	expect_real(m, "cpuset", "cpuset.cpus", "0");
	expect_real(m, "cpuset", "cpuset.mems", "0");
	expect_real(m, "cpu", "cpu.shares", "512");

	pid_t kid = spawn(r, CHILD_IGNORE_TERM);
	/* the child is in every hierarchy, including the cgroup2 part */
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/cgroup", (int) kid);
	char *cg = NULL;
	size_t len;
	assert_int_equal(berth_read_file(p, &cg, &len), 0);
	char line[160];
	snprintf(line, sizeof(line), "memory:%s\n", r->path);
	assert_non_null(strstr(cg, line));
	snprintf(line, sizeof(line), "pids:%s\n", r->path);
	assert_non_null(strstr(cg, line));
	snprintf(line, sizeof(line), "0::%s\n", r->path);
	assert_non_null(strstr(cg, line));
	free(cg);

	pid_t *pids = NULL;
	size_t n = 0;
	assert_int_equal(cgroup_pids(m, &pids, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], kid);
	free(pids);

	/* update goes to the kernel */
	struct spec_resources *up = res("{\"memory\": {\"limit\": 33554432, \"checkBeforeUpdate\": true}}");
	if (cgroup_update(m, up, &err) < 0)
		fail_msg("update: %s", err.msg);
	spec_resources_free(up);
	expect_real(m, "memory", "memory.limit_in_bytes", "33554432");

	char *js = NULL;
	if (cgroup_stats_json(m, &js, &err) < 0)
		fail_msg("stats: %s", err.msg);
	json_t *st = json_loads(js, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "pids"), "current")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "pids"), "limit")), 32);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(st, "memory"), "usage"), "limit")), 33554432);
	json_decref(st);
	free(js);
	uint64_t ooms = 99;
	assert_int_equal(cgroup_oom_kills(m, &ooms), 0);
	assert_int_equal(ooms, 0);

	/* SIGTERM is ignored; SIGKILL (cgroup.kill of the cgroup2 part) is not */
	assert_int_equal(cgroup_kill_all(m, SIGTERM, &err), 0);
	sleep_ms(20);
	int status;
	assert_int_equal(waitpid(kid, &status, WNOHANG), 0);
	bool frozen = true;
	assert_int_equal(cgroup_is_frozen(m, &frozen), 0);
	assert_false(frozen); /* kill_all thawed what it froze */
	assert_int_equal(cgroup_kill_all(m, SIGKILL, &err), 0);
	assert_int_equal(waitpid(kid, &status, 0), kid);
	forget_kid(r, kid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);

	/* destroy leaves nothing, in any hierarchy */
	char *dirs[16];
	size_t nd = 0;
	for (size_t i = 0; i < m->n_h && nd < 16; i++)
		dirs[nd++] = strdup(m->h[i].dir);
	assert_int_equal(cgroup_destroy(m, &err), 0);
	for (size_t i = 0; i < nd; i++) {
		if (access(dirs[i], F_OK) == 0)
			fail_msg("%s still exists", dirs[i]);
		free(dirs[i]);
	}
	assert_int_equal(cgroup_destroy(m, &err), 0); /* already gone is fine */
}

static void test_real_freeze(void **state)
{
	struct real *r = *state;
	if (!real_host_ok())
		skip();
	struct cgroup_manager *m = real_manager(r, NULL);
	struct berth_error err = { 0 };
	pid_t kid = spawn(r, CHILD_SPIN);
	assert_true(counter_moves(r));

	/* the cgroup2 part's cgroup.freeze */
	if (cgroup_freeze(m, true, &err) < 0)
		fail_msg("freeze: %s", err.msg);
	expect_real(m, NULL, "cgroup.freeze", "1");
	bool frozen = false;
	assert_int_equal(cgroup_is_frozen(m, &frozen), 0);
	assert_true(frozen);
	assert_false(counter_moves(r));
	assert_int_equal(cgroup_freeze(m, false, &err), 0);
	assert_int_equal(cgroup_is_frozen(m, &frozen), 0);
	assert_false(frozen);
	assert_true(counter_moves(r));

	/* the v1 freezer */
	struct cg_hier *fz = cg_ctrl_hier(m, CG_FREEZER);
	assert_non_null(fz);
	assert_false(fz->v2);
	if (cg_v1_freeze(fz, true, &err) < 0)
		fail_msg("v1 freeze: %s", err.msg);
	expect_real(m, "freezer", "freezer.state", "FROZEN");
	assert_false(counter_moves(r));
	assert_int_equal(cgroup_is_frozen(m, &frozen), 0);
	assert_true(frozen);
	assert_int_equal(cgroup_freeze(m, false, &err), 0); /* thaws the v1 freezer too */
	expect_real(m, "freezer", "freezer.state", "THAWED");
	assert_true(counter_moves(r));

	/* a non-SIGKILL signal to a frozen container leaves it frozen */
	assert_int_equal(cgroup_freeze(m, true, &err), 0);
	assert_int_equal(cgroup_kill_all(m, SIGCONT, &err), 0);
	assert_int_equal(cgroup_is_frozen(m, &frozen), 0);
	assert_true(frozen);
	/* and SIGKILL reaches it */
	assert_int_equal(cgroup_kill_all(m, SIGKILL, &err), 0);
	int status;
	assert_int_equal(waitpid(kid, &status, 0), kid);
	forget_kid(r, kid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(cgroup_freeze(m, false, &err), 0);
}

static void test_real_pids_limit(void **state)
{
	struct real *r = *state;
	if (!real_host_ok())
		skip();
	real_manager(r, "{\"pids\": {\"limit\": 1}}");
	pid_t kid = spawn(r, CHILD_FORK);
	int status;
	assert_int_equal(waitpid(kid, &status, 0), kid);
	forget_kid(r, kid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0); /* fork failed with EAGAIN */
}

static void test_real_devices_v1(void **state)
{
	struct real *r = *state;
	if (!real_host_ok())
		skip();
	struct cgroup_manager *m = real_manager(r,
		"{\"devices\": [{\"allow\": false, \"access\": \"rwm\"},"
		"  {\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 3, \"access\": \"rwm\"},"
		"  {\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 5, \"access\": \"r\"}]}");
	assert_false(cg_ctrl_hier(m, CG_DEVICES)->v2); /* hybrid: v1 devices controller */
	pid_t kid = spawn(r, CHILD_DEVICES);
	int status;
	assert_int_equal(waitpid(kid, &status, 0), kid);
	forget_kid(r, kid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static int count_attached(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	uint32_t ids[8];
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.query.target_fd = (uint32_t) fd;
	attr.query.attach_type = BPF_CGROUP_DEVICE;
	attr.query.prog_ids = (uint64_t) (uintptr_t) ids;
	attr.query.prog_cnt = 8;
	long rc = syscall(__NR_bpf, BPF_PROG_QUERY, &attr, sizeof(attr));
	close(fd);
	assert_int_equal(rc, 0);
	return (int) attr.query.prog_cnt;
}

static void test_real_devices_bpf(void **state)
{
	struct real *r = *state;
	if (!real_host_ok())
		skip();
	struct cgroup_manager *m = real_manager(r, NULL);
	struct berth_error err = { 0 };
	const char *dir = cgroup_manager_dir(m, NULL);
	/* allow-all first, to prove that the update below replaces it */
	struct spec_res_device all[1] = { { .allow = true, .type = 'a', .major = -1, .minor = -1, .access = "rwm" } };
	if (cg_bpf_devices_apply(dir, all, 1, "linux.resources.devices", &err) < 0)
		fail_msg("bpf: %s", err.msg);
	assert_int_equal(count_attached(dir), 1);
	struct spec_res_device rules[] = {
		{ .allow = false, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
		{ .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rw" },
		{ .allow = true, .type = 'c', .major = 1, .minor = 5, .access = "rw" },
		{ .allow = false, .type = 'c', .major = 1, .minor = 5, .access = "w" }, /* last one wins for w */
		{ .allow = true, .type = 'c', .major = 1, .minor = 7, .access = "w" },  /* w only: read stays denied */
	};
	if (cg_bpf_devices_apply(dir, rules, sizeof(rules) / sizeof(rules[0]), "linux.resources.devices", &err) < 0)
		fail_msg("bpf: %s", err.msg);
	assert_int_equal(count_attached(dir), 1);
	pid_t kid = spawn(r, CHILD_DEVICES);
	int status;
	assert_int_equal(waitpid(kid, &status, 0), kid);
	forget_kid(r, kid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_real_rollback(void **state)
{
	struct real *r = *state;
	if (!real_host_ok())
		skip();
	struct berth_error err = { 0 };
	struct cgroup_manager *m = NULL;
	assert_int_equal(cgroup_manager_new(NULL, r->path, "x", false, &m, &err), 0);
	struct spec_resources *bad = res("{\"pids\": {\"limit\": 5}, \"cpu\": {\"cpus\": \"0,63\"}}");
	int rc = cgroup_create(m, bad, &err);
	spec_resources_free(bad);
	expect_err(rc, &err, "linux.resources.cpu.cpus: CPU 63 is not online on this host");
	for (size_t i = 0; i < m->n_h; i++)
		if (access(m->h[i].dir, F_OK) == 0)
			fail_msg("%s left behind after a failed create", m->h[i].dir);
	berth_error_clear(&err);
	/* and a failure from the kernel itself (EINVAL from cgroup.max.depth) */
	bad = res("{\"pids\": {\"limit\": 5}, \"unified\": {\"cgroup.max.depth\": \"bogus\"}}");
	rc = cgroup_create(m, bad, &err);
	spec_resources_free(bad);
	expect_err(rc, &err, "linux.resources.unified.cgroup.max.depth: writing \"bogus\"");
	for (size_t i = 0; i < m->n_h; i++)
		if (access(m->h[i].dir, F_OK) == 0)
			fail_msg("%s left behind after a failed create", m->h[i].dir);
	cgroup_manager_free(m);
}

static char log_path[64];

static void test_real_kmem_and_unified(void **state)
{
	struct real *r = *state;
	if (!real_host_ok())
		skip();
	struct cgroup_manager *m = real_manager(r,
		"{\"memory\": {\"limit\": 134217728, \"kernel\": 67108864},"
		" \"unified\": {\"cgroup.max.descendants\": \"10\"}}");
	/* unified keys go to the cgroup2 part of a hybrid host */
	expect_real(m, NULL, "cgroup.max.descendants", "10");
	/* Linux 6.x keeps memory.kmem.limit_in_bytes but ignores writes: the
	 * runtime says so instead of pretending. */
	char *log = NULL;
	size_t len;
	assert_int_equal(berth_read_file(log_path, &log, &len), 0);
	bool warned = strstr(log, "linux.resources.memory.kernel: ignored") != NULL;
	free(log);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/memory.kmem.limit_in_bytes", cgroup_manager_dir(m, "memory"));
	char *kmem = read_real(p);
	bool enforced = strcmp(kmem, "67108864") == 0;
	free(kmem);
	assert_true(warned != enforced);
}

/* A v1-only view of the real host (no cgroup2 part), as the manager of a
 * pure v1 machine would have: kill_all freezes with the v1 freezer, signals
 * pid by pid, and thaws. */
static void test_real_v1_only_kill(void **state)
{
	struct real *r = *state;
	if (!real_host_ok())
		skip();
	char json[1024];
	snprintf(json, sizeof(json),
		 "{\"version\": 1, \"mode\": \"v1\", \"fs_root\": \"/sys/fs/cgroup\", \"path\": \"%s\","
		 " \"sysfs_root\": \"/sys\", \"hierarchies\": ["
		 "  {\"mount\": \"/sys/fs/cgroup/freezer\", \"v2\": false, \"controllers\": [\"freezer\"]},"
		 "  {\"mount\": \"/sys/fs/cgroup/pids\", \"v2\": false, \"controllers\": [\"pids\"]}]}",
		 r->path);
	struct berth_error err = { 0 };
	if (cgroup_manager_deserialize(json, &r->m, &err) < 0)
		fail_msg("deserialize: %s", err.msg);
	struct cgroup_manager *m = r->m;
	assert_int_equal(cgroup_manager_mode(m), CGROUP_MODE_V1);
	struct spec_resources *res_ = res("{\"pids\": {\"limit\": 16}}");
	if (cgroup_create(m, res_, &err) < 0)
		fail_msg("create: %s", err.msg);
	spec_resources_free(res_);
	pid_t kid = spawn(r, CHILD_IGNORE_TERM);
	assert_true(counter_moves(r));
	assert_int_equal(cgroup_freeze(m, true, &err), 0);
	expect_real(m, "freezer", "freezer.state", "FROZEN");
	assert_false(counter_moves(r));
	assert_int_equal(cgroup_freeze(m, false, &err), 0);
	assert_true(counter_moves(r));

	assert_int_equal(cgroup_kill_all(m, SIGTERM, &err), 0); /* ignored */
	expect_real(m, "freezer", "freezer.state", "THAWED");
	int status;
	assert_int_equal(waitpid(kid, &status, WNOHANG), 0);
	assert_true(counter_moves(r));

	/* SIGKILL to a paused container still kills it */
	assert_int_equal(cgroup_freeze(m, true, &err), 0);
	if (cgroup_kill_all(m, SIGKILL, &err) < 0)
		fail_msg("kill: %s", err.msg);
	assert_int_equal(waitpid(kid, &status, 0), kid);
	forget_kid(r, kid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	if (cgroup_destroy(m, &err) < 0)
		fail_msg("destroy: %s", err.msg);
	assert_int_equal(access(cgroup_manager_dir(m, "freezer"), F_OK), -1);
	assert_int_equal(access(cgroup_manager_dir(m, "pids"), F_OK), -1);
}

int main(void)
{
	/* Warnings (kmem) are expected; they go to a log file the tests read. */
	snprintf(log_path, sizeof(log_path), "/tmp/berth-cgtest-%d.log", (int) getpid());
	berth_log_init(log_path, BERTH_LOG_TEXT, false);
	berth_log_set_stderr(false);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_v2_fake_create, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_v2_fake_errors, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_v1_fake_create, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_v1_fake_errors, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_probe_layouts, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_paths_and_systemd, fake_setup, fake_teardown),
		cmocka_unit_test(test_conversions),
		cmocka_unit_test(test_bpf_build),
		cmocka_unit_test_setup_teardown(test_real_limits_and_kill, real_setup, real_teardown),
		cmocka_unit_test_setup_teardown(test_real_freeze, real_setup, real_teardown),
		cmocka_unit_test_setup_teardown(test_real_pids_limit, real_setup, real_teardown),
		cmocka_unit_test_setup_teardown(test_real_devices_v1, real_setup, real_teardown),
		cmocka_unit_test_setup_teardown(test_real_devices_bpf, real_setup, real_teardown),
		cmocka_unit_test_setup_teardown(test_real_rollback, real_setup, real_teardown),
		cmocka_unit_test_setup_teardown(test_real_kmem_and_unified, real_setup, real_teardown),
		cmocka_unit_test_setup_teardown(test_real_v1_only_kill, real_setup, real_teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(log_path);
	return failed;
}
