/* Unit tests for spec/defaults and spec/features: the `spec` output (plain
 * and rootless) parses cleanly with our own parser and has runc's shape; the
 * `features` document carries every section engines probe for. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/error.h"
#include "spec/caps.h"
#include "spec/config.h"
#include "spec/defaults.h"
#include "spec/features.h"
#include "spec/mountopts.h"

static struct spec_config *parse(const char *json)
{
	struct berth_error err = { 0 };
	struct spec_config *cfg = NULL;
	if (spec_config_parse(json, strlen(json), "config.json", &cfg, &err) < 0)
		fail_msg("default config does not parse: %s", err.msg);
	return cfg;
}

static const struct spec_mount *find_mount(const struct spec_config *cfg, const char *dest)
{
	for (size_t i = 0; i < cfg->n_mounts; i++)
		if (strcmp(cfg->mounts[i].destination, dest) == 0)
			return &cfg->mounts[i];
	return NULL;
}

static void check_common(const struct spec_config *cfg)
{
	assert_string_equal(cfg->oci_version, "1.2.0");
	assert_string_equal(cfg->root_path, "rootfs");
	assert_true(cfg->root_readonly);
	assert_string_equal(cfg->hostname, "berth");

	const struct spec_process *p = cfg->process;
	assert_non_null(p);
	assert_true(p->terminal);
	assert_int_equal(p->user.uid, 0);
	assert_int_equal(p->user.gid, 0);
	assert_int_equal(p->n_args, 1);
	assert_string_equal(p->args[0], "sh");
	assert_int_equal(p->n_env, 2);
	assert_string_equal(p->env[0], "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	assert_string_equal(p->env[1], "TERM=xterm");
	assert_string_equal(p->cwd, "/");
	uint64_t caps = (UINT64_C(1) << spec_cap_from_name("CAP_AUDIT_WRITE")) |
			(UINT64_C(1) << spec_cap_from_name("CAP_KILL")) |
			(UINT64_C(1) << spec_cap_from_name("CAP_NET_BIND_SERVICE"));
	assert_true(p->has_capabilities);
	assert_int_equal(p->caps.bounding, caps);
	assert_int_equal(p->caps.effective, caps);
	assert_int_equal(p->caps.permitted, caps);
	assert_int_equal(p->caps.inheritable, 0);
	assert_int_equal(p->caps.ambient, 0);
	assert_int_equal(p->n_rlimits, 1);
	assert_int_equal(p->rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(p->rlimits[0].soft, 1024);
	assert_int_equal(p->rlimits[0].hard, 1024);
	assert_true(p->no_new_privileges);

	const struct spec_mount *m = find_mount(cfg, "/proc");
	assert_non_null(m);
	assert_string_equal(m->type, "proc");
	m = find_mount(cfg, "/dev");
	assert_non_null(m);
	assert_int_equal(m->flags, MS_NOSUID | MS_STRICTATIME);
	assert_string_equal(m->data, "mode=755,size=65536k");
	m = find_mount(cfg, "/dev/shm");
	assert_non_null(m);
	assert_string_equal(m->source, "shm");
	assert_non_null(find_mount(cfg, "/dev/mqueue"));

	const struct spec_linux *l = cfg->linux_;
	assert_non_null(l);
	assert_non_null(spec_config_namespace(cfg, CLONE_NEWPID));
	assert_non_null(spec_config_namespace(cfg, CLONE_NEWIPC));
	assert_non_null(spec_config_namespace(cfg, CLONE_NEWUTS));
	assert_non_null(spec_config_namespace(cfg, CLONE_NEWNS));
	assert_non_null(spec_config_namespace(cfg, CLONE_NEWCGROUP));
	assert_int_equal(l->n_masked_paths, 11);
	assert_string_equal(l->masked_paths[0], "/proc/acpi");
	assert_int_equal(l->n_readonly_paths, 5);
	assert_string_equal(l->readonly_paths[3], "/proc/sys");
}

static void test_default(void **state)
{
	char *json = spec_default_config_json(false);
	assert_non_null(json);
	struct spec_config *cfg = parse(json);
	check_common(cfg);

	assert_int_equal(cfg->n_mounts, 7);
	const struct spec_mount *m = find_mount(cfg, "/dev/pts");
	assert_non_null(m);
	assert_string_equal(m->data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
	m = find_mount(cfg, "/sys");
	assert_string_equal(m->type, "sysfs");
	assert_int_equal(m->flags, MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY);
	m = find_mount(cfg, "/sys/fs/cgroup");
	assert_non_null(m);
	assert_string_equal(m->type, "cgroup");
	assert_int_equal(m->flags, MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME | MS_RDONLY);

	assert_int_equal(cfg->linux_->n_namespaces, 6);
	assert_non_null(spec_config_namespace(cfg, CLONE_NEWNET));
	assert_null(spec_config_namespace(cfg, CLONE_NEWUSER));
	assert_int_equal(cfg->linux_->n_uid_mappings, 0);
	assert_non_null(cfg->linux_->resources);

	/* Also check the raw text: deny-all device rule and key order. */
	json_t *root = json_loads(json, 0, NULL);
	assert_non_null(root);
	json_t *dev = json_array_get(json_object_get(json_object_get(json_object_get(root, "linux"),
					"resources"), "devices"), 0);
	assert_true(json_is_false(json_object_get(dev, "allow")));
	assert_string_equal(json_string_value(json_object_get(dev, "access")), "rwm");
	assert_null(json_object_get(json_object_get(json_object_get(root, "process"), "capabilities"),
				    "ambient"));
	assert_string_equal(json_object_iter_key(json_object_iter(root)), "ociVersion");
	json_decref(root);

	spec_config_free(cfg);
	free(json);
}

static void test_rootless(void **state)
{
	char *json = spec_default_config_json(true);
	assert_non_null(json);
	struct spec_config *cfg = parse(json);
	check_common(cfg);

	const struct spec_linux *l = cfg->linux_;
	assert_non_null(spec_config_namespace(cfg, CLONE_NEWUSER));
	assert_null(spec_config_namespace(cfg, CLONE_NEWNET));
	assert_int_equal(l->n_namespaces, 6);
	assert_int_equal(l->n_uid_mappings, 1);
	assert_int_equal(l->uid_mappings[0].container_id, 0);
	assert_int_equal(l->uid_mappings[0].host_id, geteuid());
	assert_int_equal(l->uid_mappings[0].size, 1);
	assert_int_equal(l->n_gid_mappings, 1);
	assert_int_equal(l->gid_mappings[0].host_id, getegid());
	assert_int_equal(l->gid_mappings[0].size, 1);
	assert_null(l->resources);

	assert_int_equal(cfg->n_mounts, 6);
	assert_null(find_mount(cfg, "/sys/fs/cgroup"));
	const struct spec_mount *m = find_mount(cfg, "/sys");
	assert_non_null(m);
	assert_string_equal(m->type, "none");
	assert_string_equal(m->source, "/sys");
	assert_true(m->bind && m->recursive_bind);
	assert_int_equal(m->flags, MS_BIND | MS_REC | MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY);
	m = find_mount(cfg, "/dev/pts");
	assert_string_equal(m->data, "newinstance,ptmxmode=0666,mode=0620");

	spec_config_free(cfg);
	free(json);
}

static json_t *jpath(json_t *root, const char *a, const char *b)
{
	json_t *v = json_object_get(root, a);
	return b ? json_object_get(v, b) : v;
}

static bool array_has(json_t *a, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

static void test_features(void **state)
{
	char *text = spec_features_json();
	assert_non_null(text);
	assert_non_null(strstr(text, "\n    \"ociVersionMin\": \"1.0.0\""));
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	if (!root)
		fail_msg("features output is not JSON: %s", jerr.text);

	assert_string_equal(json_string_value(jpath(root, "ociVersionMax", NULL)), "1.2.0");
	json_t *hooks = jpath(root, "hooks", NULL);
	assert_int_equal(json_array_size(hooks), 6);
	assert_true(array_has(hooks, "createRuntime") && array_has(hooks, "poststop"));

	size_t n_opts;
	const char *const *opts = spec_mount_option_names(&n_opts);
	json_t *mo = jpath(root, "mountOptions", NULL);
	assert_int_equal(json_array_size(mo), n_opts);
	for (size_t i = 0; i < n_opts; i++)
		assert_true(array_has(mo, opts[i]));
	assert_true(array_has(mo, "rro") && array_has(mo, "idmap") && array_has(mo, "tmpcopyup"));

	json_t *lin = jpath(root, "linux", NULL);
	assert_int_equal(json_array_size(json_object_get(lin, "namespaces")), 8);
	assert_true(array_has(json_object_get(lin, "namespaces"), "time"));
	json_t *caps = json_object_get(lin, "capabilities");
	assert_int_equal(json_array_size(caps), (size_t) spec_cap_last_cap() + 1 > spec_cap_count()
			 ? spec_cap_count() : (size_t) spec_cap_last_cap() + 1);
	assert_string_equal(json_string_value(json_array_get(caps, 0)), "CAP_CHOWN");

	json_t *cg = json_object_get(lin, "cgroup");
	assert_true(json_is_true(json_object_get(cg, "v1")));
	assert_true(json_is_true(json_object_get(cg, "v2")));
	assert_true(json_is_false(json_object_get(cg, "systemd")));
	assert_true(json_is_false(json_object_get(cg, "rdma")));

	json_t *sc = json_object_get(lin, "seccomp");
	assert_true(json_is_true(json_object_get(sc, "enabled")));
	assert_int_equal(json_array_size(json_object_get(sc, "actions")), 9);
	assert_int_equal(json_array_size(json_object_get(sc, "operators")), 7);
	assert_true(array_has(json_object_get(sc, "archs"), "SCMP_ARCH_X86_64"));
	assert_true(array_has(json_object_get(sc, "archs"), "SCMP_ARCH_AARCH64"));
	json_t *known = json_object_get(sc, "knownFlags");
	assert_int_equal(json_array_size(known), 4);
	json_t *supported = json_object_get(sc, "supportedFlags");
	assert_true(json_is_array(supported));
	size_t i;
	json_t *v;
	json_array_foreach(supported, i, v)
		assert_true(array_has(known, json_string_value(v)));

	assert_int_equal(json_is_true(json_object_get(json_object_get(lin, "apparmor"), "enabled")),
			 access("/sys/kernel/security/apparmor", F_OK) == 0);
	assert_int_equal(json_is_true(json_object_get(json_object_get(lin, "selinux"), "enabled")),
			 access("/sys/fs/selinux/enforce", F_OK) == 0);
	assert_true(json_is_boolean(json_object_get(json_object_get(lin, "intelRdt"), "enabled")));
	assert_true(json_is_true(json_object_get(json_object_get(json_object_get(lin, "mountExtensions"),
								 "idmap"), "enabled")));

	json_t *ann = jpath(root, "annotations", NULL);
	assert_string_equal(json_string_value(json_object_get(ann, "io.github.berth.version")), BERTH_VERSION);
	assert_string_equal(json_string_value(json_object_get(ann, "org.opencontainers.runc.checkpoint.enabled")),
			    "false");
	json_decref(root);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_rootless),
		cmocka_unit_test(test_features),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
