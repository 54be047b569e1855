/* Unit tests for spec/config: a full runtime-spec 1.2 config decodes field by
 * field, and each kind of invalid input is refused with the JSON path of the
 * offending value in the message. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/ioprio.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/cleanup.h"
#include "core/error.h"
#include "spec/caps.h"
#include "spec/config.h"

static const char good_config[] =
"{\n"
"  \"ociVersion\": \"1.2.0\",\n"
"  \"root\": { \"path\": \"rootfs\", \"readonly\": true },\n"
"  \"process\": {\n"
"    \"terminal\": true,\n"
"    \"consoleSize\": { \"height\": 24, \"width\": 80 },\n"
"    \"user\": { \"uid\": 1000, \"gid\": 1001, \"umask\": 18, \"additionalGids\": [5, 6, 7],\n"
"                \"username\": \"someone\" },\n"
"    \"args\": [\"sh\", \"-c\", \"echo hi\"],\n"
"    \"env\": [\"PATH=/usr/bin:/bin\", \"TERM=xterm\", \"EMPTY=\"],\n"
"    \"cwd\": \"/work\",\n"
"    \"capabilities\": {\n"
"      \"bounding\": [\"CAP_CHOWN\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
"      \"effective\": [\"CAP_KILL\"],\n"
"      \"inheritable\": [],\n"
"      \"permitted\": [\"CAP_KILL\", \"CAP_SYS_ADMIN\"],\n"
"      \"ambient\": [\"CAP_KILL\"]\n"
"    },\n"
"    \"rlimits\": [\n"
"      { \"type\": \"RLIMIT_NOFILE\", \"soft\": 1024, \"hard\": 4096 },\n"
"      { \"type\": \"RLIMIT_MEMLOCK\", \"soft\": 65536, \"hard\": 65536 },\n"
"      { \"type\": \"RLIMIT_CORE\", \"soft\": 0, \"hard\": 9223372036854775807 }\n"
"    ],\n"
"    \"noNewPrivileges\": true,\n"
"    \"apparmorProfile\": \"berth-default\",\n"
"    \"selinuxLabel\": \"system_u:system_r:container_t:s0\",\n"
"    \"oomScoreAdj\": -500,\n"
"    \"scheduler\": { \"policy\": \"SCHED_FIFO\", \"priority\": 10, \"nice\": 0,\n"
"                     \"flags\": [\"SCHED_FLAG_RESET_ON_FORK\"] },\n"
"    \"ioPriority\": { \"class\": \"IOPRIO_CLASS_BE\", \"priority\": 4 },\n"
"    \"execCPUAffinity\": { \"initial\": \"0-3,7\", \"final\": \"1\" }\n"
"  },\n"
"  \"hostname\": \"box\",\n"
"  \"domainname\": \"example.org\",\n"
"  \"mounts\": [\n"
"    { \"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\" },\n"
"    { \"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\",\n"
"      \"options\": [\"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\"] },\n"
"    { \"destination\": \"/data\", \"source\": \"/srv/data\",\n"
"      \"options\": [\"rbind\", \"rro\", \"rprivate\", \"idmap\"],\n"
"      \"uidMappings\": [{ \"containerID\": 0, \"hostID\": 100000, \"size\": 65536 }],\n"
"      \"gidMappings\": [{ \"containerID\": 0, \"hostID\": 100000, \"size\": 65536 }] },\n"
"    { \"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\",\n"
"      \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"ro\"] }\n"
"  ],\n"
"  \"hooks\": {\n"
"    \"prestart\": [{ \"path\": \"/usr/bin/hook\", \"args\": [\"hook\", \"pre\"], \"env\": [\"A=1\"],\n"
"                   \"timeout\": 5 }],\n"
"    \"createRuntime\": [{ \"path\": \"/bin/true\" }, { \"path\": \"/bin/false\" }],\n"
"    \"poststop\": [{ \"path\": \"/bin/cleanup\", \"timeout\": 30 }]\n"
"  },\n"
"  \"annotations\": { \"org.example.key\": \"value\", \"second\": \"2\" },\n"
"  \"linux\": {\n"
"    \"namespaces\": [\n"
"      { \"type\": \"pid\" }, { \"type\": \"network\", \"path\": \"/var/run/netns/x\" },\n"
"      { \"type\": \"mount\" }, { \"type\": \"ipc\" }, { \"type\": \"uts\" },\n"
"      { \"type\": \"user\" }, { \"type\": \"cgroup\" }, { \"type\": \"time\", \"path\": \"\" }\n"
"    ],\n"
"    \"uidMappings\": [{ \"containerID\": 0, \"hostID\": 1000, \"size\": 1 },\n"
"                      { \"containerID\": 1, \"hostID\": 200000, \"size\": 65535 }],\n"
"    \"gidMappings\": [{ \"containerID\": 0, \"hostID\": 1000, \"size\": 1 }],\n"
"    \"timeOffsets\": { \"monotonic\": { \"secs\": -86400, \"nanosecs\": 5 },\n"
"                       \"boottime\": { \"secs\": 3600 } },\n"
"    \"devices\": [\n"
"      { \"type\": \"c\", \"path\": \"/dev/fuse\", \"major\": 10, \"minor\": 229,\n"
"        \"fileMode\": 8630, \"uid\": 0, \"gid\": 0 },\n"
"      { \"type\": \"u\", \"path\": \"/dev/raw\", \"major\": 1, \"minor\": 3 },\n"
"      { \"type\": \"p\", \"path\": \"/dev/fifo\" }\n"
"    ],\n"
"    \"cgroupsPath\": \"/berth/test\",\n"
"    \"resources\": { \"devices\": [{ \"allow\": false, \"access\": \"rwm\" }] },\n"
"    \"seccomp\": { \"defaultAction\": \"SCMP_ACT_ERRNO\",\n"
"                   \"architectures\": [\"SCMP_ARCH_X86_64\"],\n"
"                   \"syscalls\": [{ \"names\": [\"read\", \"write\"], \"action\": \"SCMP_ACT_ALLOW\" }] },\n"
"    \"rootfsPropagation\": \"rslave\",\n"
"    \"maskedPaths\": [\"/proc/kcore\", \"/sys/firmware\"],\n"
"    \"readonlyPaths\": [\"/proc/sys\"],\n"
"    \"mountLabel\": \"system_u:object_r:container_file_t:s0\",\n"
"    \"sysctl\": { \"net.ipv4.ip_forward\": \"1\", \"kernel.msgmax\": \"65536\" },\n"
"    \"personality\": { \"domain\": \"LINUX32\" },\n"
"    \"intelRdt\": { \"closID\": \"guaranteed\", \"l3CacheSchema\": \"L3:0=7f0\",\n"
"                    \"memBwSchema\": \"MB:0=20\", \"enableCMT\": true }\n"
"  }\n"
"}\n";

static struct spec_config *parse_ok(const char *json)
{
	struct berth_error err = { 0 };
	struct spec_config *cfg = NULL;
	int r = spec_config_parse(json, strlen(json), "config.json", &cfg, &err);
	if (r < 0)
		fail_msg("parse failed (%d): %s", r, err.msg);
	assert_non_null(cfg);
	return cfg;
}

static void test_good_config(void **state)
{
	struct spec_config *cfg = parse_ok(good_config);

	assert_string_equal(cfg->oci_version, "1.2.0");
	assert_string_equal(cfg->root_path, "rootfs");
	assert_true(cfg->root_readonly);
	assert_string_equal(cfg->hostname, "box");
	assert_string_equal(cfg->domainname, "example.org");

	struct spec_process *p = cfg->process;
	assert_non_null(p);
	assert_true(p->terminal);
	assert_true(p->has_console_size);
	assert_int_equal(p->console_height, 24);
	assert_int_equal(p->console_width, 80);
	assert_int_equal(p->user.uid, 1000);
	assert_int_equal(p->user.gid, 1001);
	assert_true(p->user.has_umask);
	assert_int_equal(p->user.umask, 022);
	assert_int_equal(p->user.n_additional_gids, 3);
	assert_int_equal(p->user.additional_gids[2], 7);
	assert_string_equal(p->user.username, "someone");
	assert_int_equal(p->n_args, 3);
	assert_string_equal(p->args[2], "echo hi");
	assert_null(p->args[3]);
	assert_int_equal(p->n_env, 3);
	assert_string_equal(p->env[2], "EMPTY=");
	assert_null(p->env[3]);
	assert_string_equal(p->cwd, "/work");

	assert_true(p->has_capabilities);
	uint64_t kill = UINT64_C(1) << 5;
	assert_int_equal(p->caps.bounding, (UINT64_C(1) << 0) | kill | (UINT64_C(1) << 10));
	assert_int_equal(p->caps.effective, kill);
	assert_int_equal(p->caps.inheritable, 0);
	assert_int_equal(p->caps.permitted, kill | (UINT64_C(1) << 21));
	assert_int_equal(p->caps.ambient, kill);

	assert_int_equal(p->n_rlimits, 3);
	assert_int_equal(p->rlimits[0].resource, RLIMIT_NOFILE);
	assert_string_equal(p->rlimits[0].type, "RLIMIT_NOFILE");
	assert_int_equal(p->rlimits[0].soft, 1024);
	assert_int_equal(p->rlimits[0].hard, 4096);
	assert_int_equal(p->rlimits[1].resource, RLIMIT_MEMLOCK);
	assert_int_equal(p->rlimits[1].soft, 65536);
	assert_true(p->rlimits[2].hard == INT64_MAX);

	assert_true(p->no_new_privileges);
	assert_string_equal(p->apparmor_profile, "berth-default");
	assert_string_equal(p->selinux_label, "system_u:system_r:container_t:s0");
	assert_true(p->has_oom_score_adj);
	assert_int_equal(p->oom_score_adj, -500);
	assert_true(p->has_scheduler);
	assert_int_equal(p->scheduler.policy, SCHED_FIFO);
	assert_int_equal(p->scheduler.priority, 10);
	assert_int_equal(p->scheduler.flags, 0x01);
	assert_true(p->has_io_priority);
	assert_int_equal(p->io_priority_class, IOPRIO_CLASS_BE);
	assert_int_equal(p->io_priority, 4);
	assert_string_equal(p->exec_cpu_affinity_initial, "0-3,7");
	assert_string_equal(p->exec_cpu_affinity_final, "1");

	assert_int_equal(cfg->n_mounts, 4);
	struct spec_mount *m = &cfg->mounts[0];
	assert_string_equal(m->destination, "/proc");
	assert_string_equal(m->type, "proc");
	assert_null(m->data);
	assert_int_equal(m->n_options, 0);
	m = &cfg->mounts[1];
	assert_int_equal(m->flags, MS_NOSUID | MS_STRICTATIME);
	assert_string_equal(m->data, "mode=755,size=65536k");
	assert_int_equal(m->n_options, 4);
	m = &cfg->mounts[2];
	assert_null(m->type);
	assert_string_equal(m->source, "/srv/data");
	assert_true(m->bind && m->recursive_bind && m->idmap);
	assert_int_equal(m->flags, MS_BIND | MS_REC);
	assert_int_equal(m->propagation, MS_PRIVATE | MS_REC);
	assert_int_equal(m->attr_set, MOUNT_ATTR_RDONLY);
	assert_int_equal(m->n_uid_mappings, 1);
	assert_int_equal(m->uid_mappings[0].host_id, 100000);
	assert_int_equal(m->gid_mappings[0].size, 65536);
	m = &cfg->mounts[3];
	assert_int_equal(m->flags, MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY);

	assert_int_equal(cfg->n_hooks[SPEC_HOOK_PRESTART], 1);
	struct spec_hook *h = &cfg->hooks[SPEC_HOOK_PRESTART][0];
	assert_string_equal(h->path, "/usr/bin/hook");
	assert_int_equal(h->n_args, 2);
	assert_string_equal(h->args[1], "pre");
	assert_string_equal(h->env[0], "A=1");
	assert_true(h->has_timeout);
	assert_int_equal(h->timeout, 5);
	assert_int_equal(cfg->n_hooks[SPEC_HOOK_CREATE_RUNTIME], 2);
	assert_false(cfg->hooks[SPEC_HOOK_CREATE_RUNTIME][1].has_timeout);
	assert_null(cfg->hooks[SPEC_HOOK_CREATE_RUNTIME][1].args);
	assert_int_equal(cfg->n_hooks[SPEC_HOOK_CREATE_CONTAINER], 0);
	assert_int_equal(cfg->hooks[SPEC_HOOK_POSTSTOP][0].timeout, 30);

	assert_int_equal(cfg->n_annotations, 2);
	assert_string_equal(cfg->annotations[0].key, "org.example.key");
	assert_string_equal(cfg->annotations[0].value, "value");

	struct spec_linux *l = cfg->linux_;
	assert_non_null(l);
	assert_int_equal(l->n_namespaces, 8);
	const struct spec_namespace *ns = spec_config_namespace(cfg, CLONE_NEWNET);
	assert_non_null(ns);
	assert_string_equal(ns->path, "/var/run/netns/x");
	ns = spec_config_namespace(cfg, CLONE_NEWTIME);
	assert_non_null(ns);
	assert_null(ns->path);
	assert_non_null(spec_config_namespace(cfg, CLONE_NEWUSER));
	assert_int_equal(l->n_uid_mappings, 2);
	assert_int_equal(l->uid_mappings[1].host_id, 200000);
	assert_int_equal(l->n_gid_mappings, 1);
	assert_int_equal(l->n_time_offsets, 2);
	assert_int_equal(l->time_offsets[0].clock, CLOCK_MONOTONIC);
	assert_int_equal(l->time_offsets[0].secs, -86400);
	assert_int_equal(l->time_offsets[0].nanosecs, 5);
	assert_int_equal(l->time_offsets[1].clock, CLOCK_BOOTTIME);
	assert_int_equal(l->n_devices, 3);
	assert_int_equal(l->devices[0].type, 'c');
	assert_int_equal(l->devices[0].major, 10);
	assert_int_equal(l->devices[0].minor, 229);
	assert_true(l->devices[0].has_file_mode);
	assert_int_equal(l->devices[0].file_mode, 0666); /* 8630 = S_IFCHR | 0666 */
	assert_true(l->devices[0].has_uid && l->devices[0].has_gid);
	assert_int_equal(l->devices[1].type, 'c');
	assert_false(l->devices[1].has_uid);
	assert_int_equal(l->devices[2].type, 'p');
	assert_string_equal(l->cgroups_path, "/berth/test");
	assert_non_null(l->resources);
	assert_non_null(l->seccomp);
	assert_true(l->has_rootfs_propagation);
	assert_int_equal(l->rootfs_propagation, MS_SLAVE | MS_REC);
	assert_int_equal(l->n_masked_paths, 2);
	assert_string_equal(l->masked_paths[1], "/sys/firmware");
	assert_null(l->masked_paths[2]);
	assert_int_equal(l->n_readonly_paths, 1);
	assert_string_equal(l->mount_label, "system_u:object_r:container_file_t:s0");
	assert_int_equal(l->n_sysctl, 2);
	assert_string_equal(l->sysctl[0].key, "net.ipv4.ip_forward");
	assert_string_equal(l->sysctl[0].value, "1");
	assert_true(l->has_personality);
	assert_int_equal(l->personality, PER_LINUX32);
	assert_true(l->has_intel_rdt);
	assert_string_equal(l->intel_rdt_clos_id, "guaranteed");
	assert_string_equal(l->intel_rdt_mem_bw_schema, "MB:0=20");
	assert_true(l->intel_rdt_enable_cmt);
	assert_false(l->intel_rdt_enable_mbm);

	spec_config_free(cfg);
}

static void test_minimal_config(void **state)
{
	static const char json[] = "{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"/r\"}}";
	struct spec_config *cfg = parse_ok(json);
	assert_null(cfg->process);
	assert_null(cfg->linux_);
	assert_int_equal(cfg->n_mounts, 0);
	assert_false(cfg->root_readonly);
	assert_null(spec_config_namespace(cfg, CLONE_NEWPID));
	spec_config_free(cfg);
}

/* Unknown keys at every level are ignored (configs from newer specs). */
static void test_unknown_keys_ignored(void **state)
{
	static const char json[] =
		"{\"ociVersion\": \"1.3.0\", \"futureTopLevel\": {\"x\": [1, 2]},"
		" \"root\": {\"path\": \"rootfs\", \"newRootThing\": true},"
		" \"process\": {\"args\": [\"true\"], \"cwd\": \"/\", \"fancy\": 1,"
		"   \"user\": {\"uid\": 0, \"gid\": 0, \"sid\": \"S-1\"}},"
		" \"mounts\": [{\"destination\": \"/tmp\", \"type\": \"tmpfs\", \"later\": null}],"
		" \"linux\": {\"netDevices\": {\"eth0\": {}}, \"memoryPolicy\": {\"mode\": \"MPOL_BIND\"},"
		"   \"namespaces\": [{\"type\": \"pid\", \"extra\": 1}]},"
		" \"windows\": {\"layerFolders\": []}, \"vm\": {}}";
	struct spec_config *cfg = parse_ok(json);
	assert_string_equal(cfg->process->args[0], "true");
	assert_int_equal(cfg->n_mounts, 1);
	assert_int_equal(cfg->linux_->n_namespaces, 1);
	spec_config_free(cfg);
}

/* Duplicate keys: accepted, last one wins, as runc. */
static void test_duplicate_keys_accepted(void **state)
{
	static const char json[] =
		"{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"a\"}, \"root\": {\"path\": \"b\"}}";
	struct spec_config *cfg = parse_ok(json);
	assert_string_equal(cfg->root_path, "b");
	spec_config_free(cfg);
}

/* JSON null for optional members reads as absent (Go encoders emit it). */
static void test_null_is_absent(void **state)
{
	static const char json[] =
		"{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"r\"}, \"hostname\": null,"
		" \"mounts\": null, \"linux\": {\"namespaces\": null, \"resources\": null}}";
	struct spec_config *cfg = parse_ok(json);
	assert_null(cfg->hostname);
	assert_int_equal(cfg->linux_->n_namespaces, 0);
	assert_null(cfg->linux_->resources);
	spec_config_free(cfg);
}

static void test_unknown_capabilities_warned_and_ignored(void **state)
{
	static const char json[] =
		"{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"r\"},"
		" \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"capabilities\": {"
		"   \"bounding\": [\"CAP_FOO\", \"CAP_KILL\", \"cap_chown\", \"CAP_CHECKPOINT_RESTORE\"]}}}";
	struct spec_config *cfg = parse_ok(json);
	uint64_t want = UINT64_C(1) << 5;
	if (spec_cap_last_cap() >= 40)
		want |= UINT64_C(1) << 40;
	assert_int_equal(cfg->process->caps.bounding, want);
	assert_int_equal(cfg->process->caps.effective, 0);
	spec_config_free(cfg);
}

/* uint64 values above INT64_MAX (RLIM_INFINITY above all) are accepted
 * although jansson itself cannot hold them as integers. */
static void test_big_u64(void **state)
{
	static const char json[] =
		"{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"r\"}, \"hostname\": \"18446744073709551615\","
		" \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"rlimits\": ["
		"  {\"type\": \"RLIMIT_MEMLOCK\", \"soft\": 18446744073709551615, \"hard\": 18446744073709551615},"
		"  {\"type\": \"RLIMIT_CORE\", \"soft\": 9223372036854775808, \"hard\":18446744073709551615},"
		"  {\"type\": \"RLIMIT_NPROC\", \"soft\": 1.5e1, \"hard\": 20}]}}";
	/* The last entry is a real written for an integer: still an error. */
	struct berth_error err = { 0 };
	struct spec_config *cfg = NULL;
	assert_int_equal(spec_config_parse(json, strlen(json), "config.json", &cfg, &err), -EINVAL);
	assert_string_equal(err.msg, "config.json: process.rlimits[2].soft: must be an integer");

	char *ok = strdup(json);
	char *cut = strstr(ok, ",  {\"type\": \"RLIMIT_NPROC\"");
	assert_non_null(cut);
	strcpy(cut, "]}}");
	cfg = parse_ok(ok);
	free(ok);
	struct spec_process *p = cfg->process;
	assert_string_equal(cfg->hostname, "18446744073709551615");
	assert_true(p->rlimits[0].soft == UINT64_MAX);
	assert_true(p->rlimits[0].hard == UINT64_MAX);
	assert_true(p->rlimits[1].soft == UINT64_C(9223372036854775808));
	assert_true(p->rlimits[1].hard == UINT64_MAX);
	spec_config_free(cfg);
}

/* ---- error cases ---- */

/* Set (or, with value NULL, delete) a member of the good config addressed by
 * a dotted path whose numeric parts index arrays: "mounts.3.destination". */
static char *mutate(const char *path, const char *value)
{
	json_error_t jerr;
	json_t *root = json_loads(good_config, 0, &jerr);
	assert_non_null(root);
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	json_t *cur = root;
	char *save = NULL, *part = strtok_r(buf, ".", &save);
	for (;;) {
		char *next = strtok_r(NULL, ".", &save);
		bool idx = part[0] >= '0' && part[0] <= '9';
		if (!next) {
			if (!value) {
				if (idx)
					json_array_remove(cur, strtoul(part, NULL, 10));
				else
					json_object_del(cur, part);
			} else {
				json_t *v = json_loads(value, JSON_DECODE_ANY, &jerr);
				if (!v)
					fail_msg("bad test value %s: %s", value, jerr.text);
				if (idx)
					json_array_set_new(cur, strtoul(part, NULL, 10), v);
				else
					json_object_set_new(cur, part, v);
			}
			break;
		}
		cur = idx ? json_array_get(cur, strtoul(part, NULL, 10)) : json_object_get(cur, part);
		if (!cur)
			fail_msg("test path %s does not exist", path);
		part = next;
	}
	char *out = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	return out;
}

static void expect_error_text(const char *json, const char *want)
{
	struct berth_error err = { 0 };
	struct spec_config *cfg = NULL;
	int r = spec_config_parse(json, strlen(json), "config.json", &cfg, &err);
	if (r != -EINVAL)
		fail_msg("expected -EINVAL for \"%s\", got %d (%s)", want, r, err.msg);
	assert_null(cfg);
	assert_int_equal(err.code, EINVAL);
	if (!strstr(err.msg, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err.msg, want);
	if (strncmp(err.msg, "config.json: ", 13) != 0)
		fail_msg("error \"%s\" does not name the file", err.msg);
}

static void expect_error(const char *path, const char *value, const char *want)
{
	_cleanup_free_ char *json = mutate(path, value);
	expect_error_text(json, want);
}

static void test_bad_process(void **state)
{
	expect_error("process.args", "[]", "process.args: must be a non-empty array");
	expect_error("process.args", NULL, "process.args: must be a non-empty array");
	expect_error("process.args", "\"sh\"", "process.args: must be a non-empty array");
	expect_error("process.args.1", "7", "process.args[1]: must be a string");
	expect_error("process.cwd", "\"work\"", "process.cwd: must be an absolute path");
	expect_error("process.cwd", NULL, "process.cwd: is required");
	expect_error("process.env.1", "\"NOEQUALS\"", "process.env[1]: \"NOEQUALS\" is not of the form KEY=VALUE");
	expect_error("process.env.0", "\"=value\"", "process.env[0]:");
	expect_error("process.env", "{}", "process.env: must be an array");
	expect_error("process.terminal", "\"yes\"", "process.terminal: must be a boolean");
	expect_error("process.user.uid", "\"0\"", "process.user.uid: must be a number");
	expect_error("process.user.gid", "-1", "process.user.gid: must be between 0 and 4294967295");
	expect_error("process.user.uid", "1.5", "process.user.uid: must be an integer");
	expect_error("process.user.additionalGids.1", "null", "process.user.additionalGids[1]: must be a number");
	expect_error("process.user.umask", "512", "process.user.umask: must be between 0 and 511");
	expect_error("process.consoleSize.width", NULL, "process.consoleSize.width: is required");
	expect_error("process.oomScoreAdj", "1001", "process.oomScoreAdj: must be between -1000 and 1000");
	expect_error("process.oomScoreAdj", "-1001", "process.oomScoreAdj: must be between -1000 and 1000");
	expect_error("process.capabilities.bounding", "\"CAP_KILL\"", "process.capabilities.bounding: must be an array");
	expect_error("process.capabilities.effective.0", "5", "process.capabilities.effective[0]: must be a string");
}

static void test_bad_rlimits(void **state)
{
	expect_error("process.rlimits.0.type", "\"RLIMIT_FOO\"", "process.rlimits[0].type: unknown rlimit \"RLIMIT_FOO\"");
	expect_error("process.rlimits.0.soft", "8192",
		     "process.rlimits[0]: soft limit 8192 exceeds hard limit 4096");
	expect_error("process.rlimits.1.type", "\"RLIMIT_NOFILE\"",
		     "process.rlimits[1].type: duplicate rlimit \"RLIMIT_NOFILE\"");
	expect_error("process.rlimits.0.hard", NULL, "process.rlimits[0].hard: is required");
	expect_error("process.rlimits.0.soft", "-1", "process.rlimits[0].soft: must not be negative");
	expect_error("process.rlimits.0.soft", "1.5", "process.rlimits[0].soft: must be an integer");
	expect_error("process.rlimits.0", "\"RLIMIT_NOFILE\"", "process.rlimits[0]: must be an object");
}

static void test_bad_scheduling(void **state)
{
	expect_error("process.scheduler.policy", "\"SCHED_FAST\"",
		     "process.scheduler.policy: unknown scheduling policy \"SCHED_FAST\"");
	expect_error("process.scheduler.priority", "0", "process.scheduler.priority: must be between 1 and 99");
	expect_error("process.scheduler.nice", "20", "process.scheduler.nice: must be between -20 and 19");
	expect_error("process.scheduler.flags.0", "\"SCHED_FLAG_X\"",
		     "process.scheduler.flags[0]: unknown scheduler flag \"SCHED_FLAG_X\"");
	expect_error("process.scheduler", "{\"policy\": \"SCHED_OTHER\", \"priority\": 3}",
		     "process.scheduler.priority: only SCHED_FIFO and SCHED_RR take a priority");
	expect_error("process.scheduler", "{\"policy\": \"SCHED_OTHER\", \"runtime\": 3}",
		     "process.scheduler: runtime, deadline and period apply to SCHED_DEADLINE only");
	expect_error("process.ioPriority.priority", "8", "process.ioPriority.priority: must be between 0 and 7");
	expect_error("process.ioPriority.class", "\"IOPRIO_CLASS_NONE\"",
		     "process.ioPriority.class: unknown I/O priority class");
	expect_error("process.execCPUAffinity.initial", "\"3-1\"",
		     "process.execCPUAffinity.initial: invalid CPU list \"3-1\"");
	expect_error("process.execCPUAffinity.final", "\"0,,1\"", "process.execCPUAffinity.final: invalid CPU list");
}

static void test_bad_top_level(void **state)
{
	expect_error("ociVersion", NULL, "ociVersion: is required");
	expect_error("ociVersion", "1", "ociVersion: must be a string");
	expect_error("root", NULL, "root: is required");
	expect_error("root.path", NULL, "root.path: is required");
	expect_error("root.readonly", "\"true\"", "root.readonly: must be a boolean");
	expect_error("hostname", "[]", "hostname: must be a string");
	expect_error("annotations.second", "2", "annotations.second: must be a string");
	expect_error("annotations", "[]", "annotations: must be an object");
	expect_error("process", "[]", "process: must be an object");
	expect_error("linux", "\"x\"", "linux: must be an object");
}

static void test_bad_mounts(void **state)
{
	expect_error("mounts.3.destination", "\"sys\"", "mounts[3].destination: must be absolute");
	expect_error("mounts.0.destination", NULL, "mounts[0].destination: is required");
	expect_error("mounts", "{}", "mounts: must be an array");
	expect_error("mounts.1.options.2", "true", "mounts[1].options[2]: must be a string");
	expect_error("mounts.2.gidMappings", NULL,
		     "mounts[2]: uidMappings and gidMappings must be given together");
	expect_error("mounts.2.uidMappings.0.size", "0", "mounts[2].uidMappings[0].size: must be greater than 0");
	expect_error("mounts.2.uidMappings.0.hostID", NULL, "mounts[2].uidMappings[0].hostID: is required");
}

static void test_bad_hooks(void **state)
{
	expect_error("hooks.prestart.0.path", "\"hook\"", "hooks.prestart[0].path: must be an absolute path");
	expect_error("hooks.createRuntime.1.path", NULL, "hooks.createRuntime[1].path: is required");
	expect_error("hooks.poststop.0.timeout", "0", "hooks.poststop[0].timeout: must be greater than 0");
	expect_error("hooks.poststop.0.timeout", "-3", "hooks.poststop[0].timeout: must be greater than 0");
	expect_error("hooks.prestart.0.args", "\"x\"", "hooks.prestart[0].args: must be an array");
	expect_error("hooks.poststart", "{}", "hooks.poststart: must be an array");
}

static void test_bad_linux(void **state)
{
	expect_error("linux.namespaces.2.type", "\"foo\"", "linux.namespaces[2].type: unknown namespace \"foo\"");
	expect_error("linux.namespaces.3.type", "\"pid\"", "linux.namespaces[3].type: duplicate namespace \"pid\"");
	expect_error("linux.namespaces.1.path", "\"netns\"", "linux.namespaces[1].path: must be an absolute path");
	expect_error("linux.namespaces.0.type", NULL, "linux.namespaces[0].type: is required");
	expect_error("linux.uidMappings.0.containerID", "4294967296",
		     "linux.uidMappings[0].containerID: must be between 0 and 4294967295");
	expect_error("linux.timeOffsets.realtime", "{\"secs\": 1}", "linux.timeOffsets.realtime: unknown clock");
	expect_error("linux.timeOffsets.boottime.nanosecs", "1000000000",
		     "linux.timeOffsets.boottime.nanosecs: must be between 0 and 999999999");
	expect_error("linux.devices.0.type", "\"x\"", "linux.devices[0].type: unknown device type \"x\"");
	expect_error("linux.devices.0.major", NULL, "linux.devices[0].major: is required");
	expect_error("linux.devices.1.path", "\"dev/raw\"", "linux.devices[1].path: must be an absolute path");
	expect_error("linux.devices.0.minor", "\"229\"", "linux.devices[0].minor: must be a number");
	expect_error("linux.rootfsPropagation", "\"sideways\"",
		     "linux.rootfsPropagation: unknown propagation \"sideways\"");
	expect_error("linux.maskedPaths.0", "\"proc/kcore\"", "linux.maskedPaths[0]: must be an absolute path");
	expect_error("linux.readonlyPaths", "\"/proc/sys\"", "linux.readonlyPaths: must be an array");
	expect_error("linux.sysctl", "{\"kernel.shmmax\": 1}", "linux.sysctl.kernel.shmmax: must be a string");
	expect_error("linux.personality.domain", "\"LINUX64\"", "linux.personality.domain: unknown personality domain");
	expect_error("linux.personality.flags", "[\"ADDR_NO_RANDOMIZE\"]",
		     "linux.personality.flags[0]: unsupported personality flag");
	expect_error("linux.intelRdt.closID", "\"../escape\"", "linux.intelRdt.closID: must be a single path component");
	expect_error("linux.intelRdt.memBwSchema", "\"L3:0=1\"", "linux.intelRdt.memBwSchema: must start with");
	expect_error("linux.resources", "[]", "linux.resources: must be an object");
	expect_error("linux.seccomp", "1", "linux.seccomp: must be an object");
}

static void test_bad_json(void **state)
{
	expect_error_text("{\n  \"ociVersion\": \"1.0.0\",\n  \"root\": {\"path\": \"r\"\n}\n",
			  "config.json: line 5 column");
	expect_error_text("", "config.json: line 1 column");
	expect_error_text("[1, 2]", "config.json: must be a JSON object");
	expect_error_text("{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"r\"},"
			  " \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"rlimits\": [{\"type\":"
			  " \"RLIMIT_NOFILE\", \"soft\": 1, \"hard\": 18446744073709551616}]}}",
			  "config.json: line 1 column");
}

static void test_load(void **state)
{
	char dir[] = "/tmp/berth-test-config-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct berth_error err = { 0 };
	struct spec_config *cfg = NULL;

	int r = spec_config_load(dir, &cfg, &err);
	assert_int_equal(r, -ENOENT);
	assert_null(cfg);
	char want[512];
	snprintf(want, sizeof(want), "%s/config.json: No such file or directory", dir);
	assert_string_equal(err.msg, want);

	char path[512];
	snprintf(path, sizeof(path), "%s/config.json", dir);
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	fputs(good_config, f);
	fclose(f);
	berth_error_clear(&err);
	r = spec_config_load(dir, &cfg, &err);
	if (r < 0)
		fail_msg("load: %s", err.msg);
	assert_string_equal(cfg->process->args[0], "sh");
	spec_config_free(cfg);

	f = fopen(path, "we");
	assert_non_null(f);
	fputs("{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"r\"}, \"mounts\": [{\"destination\": \"x\"}]}", f);
	fclose(f);
	berth_error_clear(&err);
	cfg = NULL;
	r = spec_config_load(dir, &cfg, &err);
	assert_int_equal(r, -EINVAL);
	snprintf(want, sizeof(want), "%s/config.json: mounts[0].destination: must be absolute", dir);
	assert_string_equal(err.msg, want);

	unlink(path);
	rmdir(dir);
}

static void test_process_json(void **state)
{
	static const char good[] =
		"{\"args\": [\"ls\", \"-l\"], \"cwd\": \"/tmp\", \"env\": [\"A=b\"], \"terminal\": false,"
		" \"user\": {\"uid\": 5, \"gid\": 6}, \"capabilities\": {\"bounding\": [\"CAP_KILL\"]},"
		" \"rlimits\": [{\"type\": \"RLIMIT_NPROC\", \"soft\": 10, \"hard\": 20}]}";
	struct berth_error err = { 0 };
	struct spec_process *p = NULL;
	int r = spec_process_parse_json(good, strlen(good), "process.json", &p, &err);
	if (r < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(p->n_args, 2);
	assert_string_equal(p->cwd, "/tmp");
	assert_int_equal(p->user.uid, 5);
	assert_int_equal(p->caps.bounding, UINT64_C(1) << 5);
	assert_int_equal(p->rlimits[0].resource, RLIMIT_NPROC);
	assert_false(p->has_oom_score_adj);
	spec_process_free(p);

	static const char bad[] = "{\"args\": [], \"cwd\": \"/\"}";
	p = NULL;
	r = spec_process_parse_json(bad, strlen(bad), "process.json", &p, &err);
	assert_int_equal(r, -EINVAL);
	assert_null(p);
	assert_string_equal(err.msg, "process.json: args: must be a non-empty array");

	static const char bad2[] = "{\"args\": [\"x\"], \"cwd\": \"/\", \"rlimits\": [{\"type\": \"RLIMIT_X\", \"soft\": 1, \"hard\": 1}]}";
	berth_error_clear(&err);
	r = spec_process_parse_json(bad2, strlen(bad2), "process.json", &p, &err);
	assert_int_equal(r, -EINVAL);
	assert_string_equal(err.msg, "process.json: rlimits[0].type: unknown rlimit \"RLIMIT_X\"");

	berth_error_clear(&err);
	r = spec_process_parse_json("{\"args\": ", 9, "process.json", &p, &err);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(err.msg, "process.json: line 1 column"));
}

static void test_hook_names(void **state)
{
	assert_string_equal(spec_hook_kind_name(SPEC_HOOK_PRESTART), "prestart");
	assert_string_equal(spec_hook_kind_name(SPEC_HOOK_CREATE_RUNTIME), "createRuntime");
	assert_string_equal(spec_hook_kind_name(SPEC_HOOK_CREATE_CONTAINER), "createContainer");
	assert_string_equal(spec_hook_kind_name(SPEC_HOOK_START_CONTAINER), "startContainer");
	assert_string_equal(spec_hook_kind_name(SPEC_HOOK_POSTSTART), "poststart");
	assert_string_equal(spec_hook_kind_name(SPEC_HOOK_POSTSTOP), "poststop");
	assert_null(spec_hook_kind_name(SPEC_HOOK__MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_config),
		cmocka_unit_test(test_minimal_config),
		cmocka_unit_test(test_unknown_keys_ignored),
		cmocka_unit_test(test_duplicate_keys_accepted),
		cmocka_unit_test(test_null_is_absent),
		cmocka_unit_test(test_unknown_capabilities_warned_and_ignored),
		cmocka_unit_test(test_big_u64),
		cmocka_unit_test(test_bad_process),
		cmocka_unit_test(test_bad_rlimits),
		cmocka_unit_test(test_bad_scheduling),
		cmocka_unit_test(test_bad_top_level),
		cmocka_unit_test(test_bad_mounts),
		cmocka_unit_test(test_bad_hooks),
		cmocka_unit_test(test_bad_linux),
		cmocka_unit_test(test_bad_json),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_process_json),
		cmocka_unit_test(test_hook_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
