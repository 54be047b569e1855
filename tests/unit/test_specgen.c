#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/capability.h>
#include <jansson.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "engine/seccomp_default.h"
#include "engine/specgen.h"
#include "linux/seccomp.h"
#include "spec/caps.h"
#include "spec/config.h"
#include "spec/seccomp.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct specgen_env test_env(void)
{
	return (struct specgen_env) {
		.id = ID, .bundle = "/var/lib/berth/containers/" ID,
		.netns_path = "/var/lib/berth/netns/" ID, .cgroup_parent = "/berth",
		.nofile_hard = 1048576,
	};
}

/* Build, and require that our own runtime-spec parser accepts the result. */
static json_t *build_ok(const struct ctr_opts *o, const struct image_config *cfg, int rootfd,
			const struct specgen_env *env)
{
	struct berth_error err = { 0 };
	json_t *j = specgen_build(o, cfg, rootfd, env, &err);
	if (!j)
		fail_msg("specgen_build: %s", err.msg);
	char *text = json_dumps(j, 0);
	assert_non_null(text);
	struct spec_config *sc = NULL;
	if (spec_config_parse(text, strlen(text), "generated", &sc, &err) < 0)
		fail_msg("spec_config_parse: %s\n%s", err.msg, text);
	spec_config_free(sc);
	free(text);
	return j;
}

static int build_err(const struct ctr_opts *o, const struct image_config *cfg, int rootfd,
		     const struct specgen_env *env, struct berth_error *err)
{
	berth_error_clear(err);
	json_t *j = specgen_build(o, cfg, rootfd, env, err);
	if (j) {
		json_decref(j);
		return 0;
	}
	assert_true(berth_error_isset(err));
	return -err->code;
}

static bool strarr_has(json_t *a, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

static ssize_t strarr_index(json_t *a, const char *prefix)
{
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
		if (strncmp(json_string_value(v), prefix, strlen(prefix)) == 0)
			return (ssize_t) i;
	return -1;
}

static json_t *find_mount(json_t *cfg, const char *dest)
{
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(cfg, "mounts"), i, m)
		if (strcmp(json_string_value(json_object_get(m, "destination")), dest) == 0)
			return m;
	return NULL;
}

static void check_argv(const struct ctr_opts *o, const struct image_config *cfg, const char *want)
{
	struct berth_error err = { 0 };
	_cleanup_strv_ char **argv = NULL;
	if (!want) {
		assert_int_equal(specgen_argv(o, cfg, &argv, &err), -ENOEXEC);
		assert_string_equal(err.msg, "no command specified");
		return;
	}
	assert_int_equal(specgen_argv(o, cfg, &argv, &err), 0);
	char got[512] = "";
	for (char **p = argv; *p; p++) {
		strcat(got, p == argv ? "" : "|");
		strcat(got, *p);
	}
	assert_string_equal(got, want);
}

static void test_argv(void **state)
{
	(void) state;
	struct image_config img = {
		.entrypoint = (char *[]) { "/ep", "-x", NULL }, .n_entrypoint = 2, .has_entrypoint = true,
		.cmd = (char *[]) { "cmd1", "cmd2", NULL }, .n_cmd = 2, .has_cmd = true,
	};
	struct image_config cmd_only = { .cmd = (char *[]) { "sh", NULL }, .n_cmd = 1, .has_cmd = true };
	struct ctr_opts o = { 0 };
	check_argv(&o, &img, "/ep|-x|cmd1|cmd2");
	o.args = (char *[]) { "a", "b", NULL };
	check_argv(&o, &img, "/ep|-x|a|b");
	check_argv(&o, &cmd_only, "a|b");
	o.args = NULL;
	check_argv(&o, &cmd_only, "sh");
	/* --entrypoint drops the image's Cmd unless args are given */
	o.entrypoint_set = true;
	o.entrypoint = (char *[]) { "/bin/echo", NULL };
	check_argv(&o, &img, "/bin/echo");
	o.args = (char *[]) { "hi", NULL };
	check_argv(&o, &img, "/bin/echo|hi");
	/* --entrypoint "" clears it */
	o.entrypoint = (char *[]) { "", NULL };
	check_argv(&o, &img, "hi");
	o.args = NULL;
	check_argv(&o, &img, NULL);
	o.entrypoint_set = false;
	o.entrypoint = NULL;
	check_argv(&o, NULL, NULL);
	o.args = (char *[]) { NULL };
	check_argv(&o, &cmd_only, "sh");
}

static void test_env_merge(void **state)
{
	(void) state;
	setenv("SPECGEN_FROM_CALLER", "caller-value", 1);
	unsetenv("SPECGEN_UNSET");
	struct image_config img = {
		.env = (char *[]) { "PATH=/img/bin", "A=image", "B=image", NULL }, .n_env = 3,
		.cmd = (char *[]) { "sh", NULL }, .n_cmd = 1,
	};
	struct ctr_opts o = {
		.tty = true,
		.env = (char *[]) { "B=user1", "C=x", "B=user2", "SPECGEN_FROM_CALLER", "SPECGEN_UNSET",
				    "TERM=vt100", NULL },
	};
	struct specgen_env env = test_env();
	json_t *j = build_ok(&o, &img, -1, &env);
	json_t *e = json_object_get(json_object_get(j, "process"), "env");
	assert_true(strarr_has(e, "PATH=/img/bin"));
	assert_int_equal(strarr_index(e, "PATH="), 0);
	assert_true(strarr_has(e, "HOSTNAME=0123456789ab"));
	assert_true(strarr_has(e, "A=image"));
	assert_true(strarr_has(e, "B=user2"));
	assert_false(strarr_has(e, "B=image"));
	assert_true(strarr_has(e, "C=x"));
	assert_true(strarr_has(e, "SPECGEN_FROM_CALLER=caller-value"));
	assert_int_equal(strarr_index(e, "SPECGEN_UNSET"), -1);
	assert_true(strarr_has(e, "TERM=vt100"));
	assert_true(strarr_has(e, "HOME=/"));
	assert_true(strarr_index(e, "A=") < strarr_index(e, "C="));
	assert_true(json_is_true(json_object_get(json_object_get(j, "process"), "terminal")));
	json_decref(j);

	/* no PATH in the image: docker's default; TERM only with -t */
	struct image_config bare = { .cmd = (char *[]) { "sh", NULL }, .n_cmd = 1 };
	struct ctr_opts o2 = { .hostname = "box" };
	j = build_ok(&o2, &bare, -1, &env);
	e = json_object_get(json_object_get(j, "process"), "env");
	assert_true(strarr_has(e, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
	assert_true(strarr_has(e, "HOSTNAME=box"));
	assert_int_equal(strarr_index(e, "TERM="), -1);
	assert_string_equal(json_string_value(json_object_get(j, "hostname")), "box");
	json_decref(j);

	struct berth_error err;
	struct ctr_opts bad = { .env = (char *[]) { "=x", NULL }, .args = (char *[]) { "sh", NULL } };
	assert_int_equal(build_err(&bad, NULL, -1, &env, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "invalid environment variable: =x"));
}

/* A throwaway rootfs with /etc/passwd and /etc/group (etc is a symlink
 * pointing at an absolute path, which must resolve inside the root). */
static int make_rootfs(char *dir)
{
	strcpy(dir, "/tmp/specgen-root-XXXXXX");
	assert_non_null(mkdtemp(dir));
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/realetc", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/etc", dir);
	assert_int_equal(symlink("/realetc", p), 0);
	snprintf(p, sizeof(p), "%s/realetc/passwd", dir);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("root:x:0:0:root:/root:/bin/sh\n"
	      "# comment\n"
	      "broken line\n"
	      "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
	      "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
	      "1001:x:2000:2000::/home/numeric:/bin/sh\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/realetc/group", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("root:x:0:\n"
	      "wheel:x:10:root,alice\n"
	      "audio:x:29:alice\n"
	      "alice:x:1000:\n"
	      "staff:x:50:bob\n", f);
	fclose(f);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static json_t *user_of(const char *user, int rootfd, struct berth_error *err, json_t **cfg_out)
{
	struct ctr_opts o = { .user = (char *) user, .args = (char *[]) { "id", NULL } };
	struct specgen_env env = test_env();
	berth_error_clear(err);
	json_t *j = specgen_build(&o, NULL, rootfd, &env, err);
	*cfg_out = j;
	return j ? json_object_get(json_object_get(j, "process"), "user") : NULL;
}

static void assert_user(int rootfd, const char *spec, int uid, int gid, const char *gids)
{
	struct berth_error err;
	json_t *cfg;
	json_t *u = user_of(spec, rootfd, &err, &cfg);
	if (!u)
		fail_msg("user %s: %s", spec, err.msg);
	assert_int_equal(json_integer_value(json_object_get(u, "uid")), uid);
	assert_int_equal(json_integer_value(json_object_get(u, "gid")), gid);
	char got[128] = "";
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(u, "additionalGids"), i, v)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%lld", i ? "," : "",
			 (long long) json_integer_value(v));
	assert_string_equal(got, gids);
	json_decref(cfg);
}

static void test_user(void **state)
{
	(void) state;
	char dir[64];
	int rootfd = make_rootfs(dir);
	assert_user(rootfd, NULL, 0, 0, "10");
	assert_user(rootfd, "alice", 1000, 1000, "10,29");
	assert_user(rootfd, "1000", 1000, 1000, "10,29");
	assert_user(rootfd, "alice:audio", 1000, 29, "");
	assert_user(rootfd, "alice:50", 1000, 50, "");
	assert_user(rootfd, "4242", 4242, 0, "");
	assert_user(rootfd, "4242:4343", 4242, 4343, "");
	assert_user(rootfd, "1001", 2000, 2000, "");   /* a user named "1001" wins over uid 1001 */

	struct berth_error err;
	json_t *cfg;
	assert_null(user_of("bob", rootfd, &err, &cfg));
	assert_string_equal(err.msg, "unable to find user bob: no matching entries in passwd file");
	assert_int_equal(err.code, EINVAL);
	assert_null(user_of("alice:nogroup", rootfd, &err, &cfg));
	assert_string_equal(err.msg, "unable to find group nogroup: no matching entries in group file");
	assert_null(user_of("99999999999", rootfd, &err, &cfg));

	/* HOME from passwd */
	json_t *u = user_of("alice", rootfd, &err, &cfg);
	assert_non_null(u);
	assert_true(strarr_has(json_object_get(json_object_get(cfg, "process"), "env"), "HOME=/home/alice"));
	json_decref(cfg);

	/* no passwd at all: numbers are fine, names are not */
	int emptyfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char empty[] = "/tmp/specgen-empty-XXXXXX";
	assert_non_null(mkdtemp(empty));
	close(emptyfd);
	emptyfd = open(empty, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_user(emptyfd, "123:456", 123, 456, "");
	assert_null(user_of("alice", emptyfd, &err, &cfg));
	assert_string_equal(err.msg, "unable to find user alice: no matching entries in passwd file");
	close(emptyfd);
	rmdir(empty);

	/* the image's User applies without -u */
	struct image_config img = { .user = "alice", .cmd = (char *[]) { "id", NULL }, .n_cmd = 1 };
	struct ctr_opts o = { 0 };
	struct specgen_env env = test_env();
	json_t *j = build_ok(&o, &img, rootfd, &env);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(j, "process"),
									    "user"), "uid")), 1000);
	json_decref(j);

	close(rootfd);
	assert_int_equal(berth_rm_rf(dir), 0);
}

static uint64_t caps_of(json_t *cfg, const char *set)
{
	uint64_t m = 0;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(json_object_get(json_object_get(cfg, "process"), "capabilities"), set), i, v)
		m |= 1ULL << spec_cap_from_name(json_string_value(v));
	return m;
}

#define BIT(c) (1ULL << (c))

static void test_caps(void **state)
{
	(void) state;
	struct specgen_env env = test_env();
	struct ctr_opts o = { .args = (char *[]) { "sh", NULL } };
	json_t *j = build_ok(&o, NULL, -1, &env);
	uint64_t def = caps_of(j, "bounding");
	assert_int_equal(__builtin_popcountll(def), 14);
	assert_true(def & BIT(CAP_CHOWN));
	assert_true(def & BIT(CAP_AUDIT_WRITE));
	assert_false(def & BIT(CAP_SYS_ADMIN));
	assert_false(def & BIT(CAP_NET_ADMIN));
	assert_int_equal(caps_of(j, "effective"), def);
	assert_int_equal(caps_of(j, "permitted"), def);
	assert_null(json_object_get(json_object_get(json_object_get(j, "process"), "capabilities"), "ambient"));
	json_decref(j);

	o.cap_add = (char *[]) { "net_admin", "CAP_SYS_PTRACE", NULL };
	o.cap_drop = (char *[]) { "chown", "NET_ADMIN", NULL };
	j = build_ok(&o, NULL, -1, &env);
	uint64_t c = caps_of(j, "bounding");
	assert_true(c & BIT(CAP_NET_ADMIN));     /* add wins over drop */
	assert_true(c & BIT(CAP_SYS_PTRACE));
	assert_false(c & BIT(CAP_CHOWN));
	json_decref(j);

	o.cap_add = (char *[]) { "KILL", NULL };
	o.cap_drop = (char *[]) { "ALL", NULL };
	j = build_ok(&o, NULL, -1, &env);
	assert_int_equal(caps_of(j, "bounding"), BIT(CAP_KILL));
	json_decref(j);

	o.cap_add = (char *[]) { "ALL", NULL };
	o.cap_drop = (char *[]) { "SYS_ADMIN", NULL };
	j = build_ok(&o, NULL, -1, &env);
	c = caps_of(j, "bounding");
	assert_false(c & BIT(CAP_SYS_ADMIN));
	assert_true(c & BIT(CAP_SYS_MODULE));
	assert_int_equal(__builtin_popcountll(c), spec_cap_last_cap());
	json_decref(j);

	struct berth_error err;
	o.cap_add = (char *[]) { "SYS_FOO", NULL };
	o.cap_drop = NULL;
	assert_int_equal(build_err(&o, NULL, -1, &env, &err), -EINVAL);
	assert_string_equal(err.msg, "--cap-add: unknown capability: \"CAP_SYS_FOO\"");

	o.cap_add = NULL;
	o.privileged = true;
	j = build_ok(&o, NULL, -1, &env);
	assert_int_equal(__builtin_popcountll(caps_of(j, "bounding")), spec_cap_last_cap() + 1);
	json_decref(j);
}

static void test_privileged_paths(void **state)
{
	(void) state;
	struct specgen_env env = test_env();
	struct ctr_opts o = { .args = (char *[]) { "sh", NULL } };
	json_t *j = build_ok(&o, NULL, -1, &env);
	json_t *lx = json_object_get(j, "linux");
	assert_true(strarr_has(json_object_get(lx, "maskedPaths"), "/proc/kcore"));
	assert_true(strarr_has(json_object_get(lx, "maskedPaths"), "/sys/firmware"));
	assert_true(strarr_has(json_object_get(lx, "readonlyPaths"), "/proc/sys"));
	assert_non_null(json_object_get(lx, "seccomp"));
	assert_true(strarr_has(json_object_get(find_mount(j, "/sys"), "options"), "ro"));
	assert_null(json_object_get(lx, "devices"));
	assert_false(json_is_true(json_object_get(json_object_get(j, "root"), "readonly")));
	/* namespaces: pid ipc mount cgroup uts + network at the given path */
	json_t *ns = json_object_get(lx, "namespaces");
	assert_int_equal(json_array_size(ns), 6);
	assert_string_equal(json_string_value(json_object_get(lx, "cgroupsPath")), "/berth/" ID);
	const char *std[] = { "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup",
			      "/etc/hosts", "/etc/hostname", "/etc/resolv.conf" };
	for (size_t i = 0; i < ARRAY_SIZE(std); i++)
		assert_non_null(find_mount(j, std[i]));
	assert_string_equal(json_string_value(json_object_get(find_mount(j, "/etc/hosts"), "source")),
			    "/var/lib/berth/containers/" ID "/hosts");
	assert_true(strarr_has(json_object_get(find_mount(j, "/dev/shm"), "options"), "size=65536k"));
	json_decref(j);

	o.privileged = true;
	j = build_ok(&o, NULL, -1, &env);
	lx = json_object_get(j, "linux");
	assert_null(json_object_get(lx, "maskedPaths"));
	assert_null(json_object_get(lx, "readonlyPaths"));
	assert_null(json_object_get(lx, "seccomp"));
	assert_true(strarr_has(json_object_get(find_mount(j, "/sys"), "options"), "rw"));
	/* host devices are all there, and the cgroup allows everything */
	json_t *devs = json_object_get(lx, "devices");
	assert_true(json_array_size(devs) > 0);
	json_t *rules = json_object_get(json_object_get(lx, "resources"), "devices");
	assert_int_equal(json_array_size(rules), 1);
	assert_true(json_is_true(json_object_get(json_array_get(rules, 0), "allow")));
	json_decref(j);

	/* systempaths=unconfined keeps seccomp but drops the masks */
	o.privileged = false;
	o.security_opts = (char *[]) { "systempaths=unconfined", NULL };
	j = build_ok(&o, NULL, -1, &env);
	assert_null(json_object_get(json_object_get(j, "linux"), "maskedPaths"));
	assert_non_null(json_object_get(json_object_get(j, "linux"), "seccomp"));
	json_decref(j);
}

static void test_readonly_mounts(void **state)
{
	(void) state;
	char tmp[] = "/tmp/specgen-bind-XXXXXX";
	assert_non_null(mkdtemp(tmp));
	struct ctr_mount ms[] = {
		{ .type = CTR_MOUNT_BIND, .source = tmp, .destination = "/data/sub", .readonly = true,
		  .propagation = "rshared" },
		{ .type = CTR_MOUNT_VOLUME, .source = "vol", .destination = "/data",
		  .host_path = "/var/lib/berth/volumes/vol/_data" },
		{ .type = CTR_MOUNT_TMPFS, .destination = "/dev/shm", .tmpfs_size = 1 << 20, .tmpfs_mode = 0700 },
	};
	struct ctr_opts o = { .args = (char *[]) { "sh", NULL }, .read_only = true,
			      .mounts = ms, .n_mounts = ARRAY_SIZE(ms), .shm_size = 128 << 20 };
	struct specgen_env env = test_env();
	json_t *j = build_ok(&o, NULL, -1, &env);
	assert_true(json_is_true(json_object_get(json_object_get(j, "root"), "readonly")));
	assert_true(strarr_has(json_object_get(find_mount(j, "/etc/hosts"), "options"), "ro"));
	json_t *b = find_mount(j, "/data/sub");
	assert_non_null(b);
	assert_string_equal(json_string_value(json_object_get(b, "source")), tmp);
	assert_true(strarr_has(json_object_get(b, "options"), "ro"));
	assert_true(strarr_has(json_object_get(b, "options"), "rshared"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "linux"), "rootfsPropagation")),
			    "rshared");
	json_t *v = find_mount(j, "/data");
	assert_string_equal(json_string_value(json_object_get(v, "source")), "/var/lib/berth/volumes/vol/_data");
	/* /data (depth 1) comes before /data/sub (depth 2) */
	size_t iv = 0, ib = 0, i;
	json_t *m;
	json_array_foreach(json_object_get(j, "mounts"), i, m) {
		if (m == v) iv = i;
		if (m == b) ib = i;
	}
	assert_true(iv < ib);
	/* the user's tmpfs replaced the default /dev/shm */
	json_t *shm = find_mount(j, "/dev/shm");
	assert_string_equal(json_string_value(json_object_get(shm, "source")), "tmpfs");
	assert_true(strarr_has(json_object_get(shm, "options"), "size=1048576"));
	assert_true(strarr_has(json_object_get(shm, "options"), "mode=700"));
	int count = 0;
	json_array_foreach(json_object_get(j, "mounts"), i, m)
		count += strcmp(json_string_value(json_object_get(m, "destination")), "/dev/shm") == 0;
	assert_int_equal(count, 1);
	json_decref(j);

	/* --shm-size without a user mount */
	o.mounts = NULL;
	o.n_mounts = 0;
	j = build_ok(&o, NULL, -1, &env);
	assert_true(strarr_has(json_object_get(find_mount(j, "/dev/shm"), "options"), "size=131072k"));
	json_decref(j);

	struct berth_error err;
	struct ctr_mount missing = { .type = CTR_MOUNT_BIND, .source = "/nonexistent/specgen", .destination = "/x" };
	o.mounts = &missing;
	o.n_mounts = 1;
	assert_int_equal(build_err(&o, NULL, -1, &env, &err), -ENOENT);
	assert_string_equal(err.msg, "invalid mount config for type \"bind\": bind source path does not exist: "
			    "/nonexistent/specgen");
	struct ctr_mount rel = { .type = CTR_MOUNT_TMPFS, .destination = "x" };
	o.mounts = &rel;
	assert_int_equal(build_err(&o, NULL, -1, &env, &err), -EINVAL);
	struct ctr_mount dup[] = { { .type = CTR_MOUNT_TMPFS, .destination = "/x" },
				   { .type = CTR_MOUNT_TMPFS, .destination = "/x" } };
	o.mounts = dup;
	o.n_mounts = 2;
	assert_int_equal(build_err(&o, NULL, -1, &env, &err), -EINVAL);
	assert_string_equal(err.msg, "Duplicate mount point: /x");

	/* env->mounts, when given, is what is used */
	struct ctr_mount tm = { .type = CTR_MOUNT_TMPFS, .destination = "/scratch" };
	env.mounts = &tm;
	env.n_mounts = 1;
	j = build_ok(&o, NULL, -1, &env);
	assert_non_null(find_mount(j, "/scratch"));
	assert_null(find_mount(j, "/x"));
	json_decref(j);
	rmdir(tmp);
}

static void test_ulimits(void **state)
{
	(void) state;
	struct berth_error err = { 0 };
	int res;
	const char *type;
	uint64_t s, h;
	assert_int_equal(specgen_parse_ulimit("nofile=1024:2048", &res, &type, &s, &h, &err), 0);
	assert_int_equal(res, RLIMIT_NOFILE);
	assert_string_equal(type, "RLIMIT_NOFILE");
	assert_int_equal(s, 1024);
	assert_int_equal(h, 2048);
	assert_int_equal(specgen_parse_ulimit("core=0", &res, &type, &s, &h, &err), 0);
	assert_int_equal(res, RLIMIT_CORE);
	assert_int_equal(s, 0);
	assert_int_equal(h, 0);
	assert_int_equal(specgen_parse_ulimit("memlock=-1:-1", &res, &type, &s, &h, &err), 0);
	assert_true(s == UINT64_MAX && h == UINT64_MAX);
	assert_int_equal(specgen_parse_ulimit("nproc=unlimited", &res, &type, &s, &h, &err), 0);
	assert_int_equal(res, RLIMIT_NPROC);
	const char *bad[] = { "nofile", "nofile=", "nofile=abc", "bogus=1", "nofile=10:5", "nofile=1:2:3",
			      "stack=-5", "nofile=1x" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		berth_error_clear(&err);
		assert_int_equal(specgen_parse_ulimit(bad[i], &res, &type, &s, &h, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "\"--ulimit\" flag"));
	}

	/* default nofile, capped to the caller's hard limit */
	struct specgen_env env = test_env();
	env.nofile_hard = 4096;
	struct ctr_opts o = { .args = (char *[]) { "sh", NULL } };
	json_t *j = build_ok(&o, NULL, -1, &env);
	json_t *rl = json_array_get(json_object_get(json_object_get(j, "process"), "rlimits"), 0);
	assert_string_equal(json_string_value(json_object_get(rl, "type")), "RLIMIT_NOFILE");
	assert_int_equal(json_integer_value(json_object_get(rl, "soft")), 4096);
	assert_int_equal(json_integer_value(json_object_get(rl, "hard")), 4096);
	json_decref(j);
	env.nofile_hard = 1ul << 30;
	j = build_ok(&o, NULL, -1, &env);
	rl = json_array_get(json_object_get(json_object_get(j, "process"), "rlimits"), 0);
	assert_int_equal(json_integer_value(json_object_get(rl, "hard")), 1048576);
	json_decref(j);

	o.ulimits = (char *[]) { "nofile=10:20", "nproc=5", "nofile=30:40", NULL };
	j = build_ok(&o, NULL, -1, &env);
	json_t *rls = json_object_get(json_object_get(j, "process"), "rlimits");
	assert_int_equal(json_array_size(rls), 2);
	rl = json_array_get(rls, 0);
	assert_string_equal(json_string_value(json_object_get(rl, "type")), "RLIMIT_NOFILE");
	assert_int_equal(json_integer_value(json_object_get(rl, "soft")), 30);
	json_decref(j);
	o.ulimits = (char *[]) { "nofile=garbage", NULL };
	assert_int_equal(build_err(&o, NULL, -1, &env, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "invalid argument \"nofile=garbage\" for \"--ulimit\" flag"));
}

static void test_resources(void **state)
{
	(void) state;
	struct specgen_env env = test_env();
	struct ctr_opts o = { .args = (char *[]) { "sh", NULL }, .memory = 64 << 20, .cpu_quota = 150000,
			      .cpu_period = 100000, .cpu_shares = 512, .cpuset_cpus = "0", .pids_limit = 42 };
	json_t *j = build_ok(&o, NULL, -1, &env);
	json_t *r = json_object_get(json_object_get(j, "linux"), "resources");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "memory"), "limit")), 64 << 20);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "memory"), "swap")), 128 << 20);
	json_t *cpu = json_object_get(r, "cpu");
	assert_int_equal(json_integer_value(json_object_get(cpu, "quota")), 150000);
	assert_int_equal(json_integer_value(json_object_get(cpu, "period")), 100000);
	assert_int_equal(json_integer_value(json_object_get(cpu, "shares")), 512);
	assert_string_equal(json_string_value(json_object_get(cpu, "cpus")), "0");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "pids"), "limit")), 42);
	json_decref(j);

	o.memory_swap = -1;
	j = build_ok(&o, NULL, -1, &env);
	r = json_object_get(json_object_get(j, "linux"), "resources");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "memory"), "swap")), -1);
	json_decref(j);

	struct berth_error err;
	struct ctr_opts bad = { .args = (char *[]) { "sh", NULL }, .memory = 1 << 20 };
	assert_int_equal(build_err(&bad, NULL, -1, &env, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "6MB"));
	bad = (struct ctr_opts) { .args = (char *[]) { "sh", NULL }, .memory = 64 << 20, .memory_swap = 32 << 20 };
	assert_int_equal(build_err(&bad, NULL, -1, &env, &err), -EINVAL);
	bad = (struct ctr_opts) { .args = (char *[]) { "sh", NULL }, .memory_swap = 32 << 20 };
	assert_int_equal(build_err(&bad, NULL, -1, &env, &err), -EINVAL);
	bad = (struct ctr_opts) { .args = (char *[]) { "sh", NULL }, .cpuset_cpus = "0-x" };
	assert_int_equal(build_err(&bad, NULL, -1, &env, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "--cpuset-cpus"));
}

static void test_devices(void **state)
{
	(void) state;
	struct stat st;
	assert_int_equal(stat("/dev/null", &st), 0);
	struct specgen_env env = test_env();
	struct ctr_opts o = { .args = (char *[]) { "sh", NULL },
			      .devices = (char *[]) { "/dev/null:/dev/xnull:rw", "/dev/null", "/dev/null:r", NULL } };
	json_t *j = build_ok(&o, NULL, -1, &env);
	json_t *lx = json_object_get(j, "linux");
	json_t *devs = json_object_get(lx, "devices");
	assert_int_equal(json_array_size(devs), 3);
	json_t *d = json_array_get(devs, 0);
	assert_string_equal(json_string_value(json_object_get(d, "path")), "/dev/xnull");
	assert_string_equal(json_string_value(json_object_get(d, "type")), "c");
	assert_int_equal(json_integer_value(json_object_get(d, "major")), major(st.st_rdev));
	assert_int_equal(json_integer_value(json_object_get(d, "minor")), minor(st.st_rdev));
	assert_string_equal(json_string_value(json_object_get(json_array_get(devs, 2), "path")), "/dev/null");
	json_t *rules = json_object_get(json_object_get(lx, "resources"), "devices");
	json_t *last = json_array_get(rules, json_array_size(rules) - 1);
	assert_string_equal(json_string_value(json_object_get(last, "access")), "r");
	json_t *first_added = json_array_get(rules, json_array_size(rules) - 3);
	assert_string_equal(json_string_value(json_object_get(first_added, "access")), "rw");
	/* default rules start with deny-all */
	assert_false(json_is_true(json_object_get(json_array_get(rules, 0), "allow")));
	json_decref(j);

	struct berth_error err;
	const char *bad[] = { "/dev/null:/x:rwz", "/nonexistent-dev", "/etc/hostname", "dev/null", "/a:/b:rw:x" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		o.devices = (char *[]) { (char *) bad[i], NULL };
		if (build_err(&o, NULL, -1, &env, &err) == 0)
			fail_msg("--device %s accepted", bad[i]);
	}
}

static void test_sysctl(void **state)
{
	(void) state;
	struct specgen_env env = test_env();
	struct ctr_opts o = { .args = (char *[]) { "sh", NULL },
			      .sysctls = (char *[]) { "net.ipv4.ip_forward=1", "kernel.shmmax=65536",
						      "fs.mqueue.msg_max=20", NULL } };
	json_t *j = build_ok(&o, NULL, -1, &env);
	json_t *s = json_object_get(json_object_get(j, "linux"), "sysctl");
	assert_string_equal(json_string_value(json_object_get(s, "net.ipv4.ip_forward")), "1");
	assert_string_equal(json_string_value(json_object_get(s, "kernel.shmmax")), "65536");
	json_decref(j);

	struct berth_error err;
	env.netns_path = NULL;   /* --network host */
	assert_int_equal(build_err(&o, NULL, -1, &env, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "sysctl 'net.ipv4.ip_forward' not allowed in host network namespace"));
	o.sysctls = (char *[]) { "vm.swappiness=1", NULL };
	env = test_env();
	assert_int_equal(build_err(&o, NULL, -1, &env, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "vm.swappiness"));
	o.sysctls = (char *[]) { "kernel.shmmax", NULL };
	assert_int_equal(build_err(&o, NULL, -1, &env, &err), -EINVAL);

	/* host network: no network namespace, no uts namespace unless --hostname */
	o.sysctls = NULL;
	env.netns_path = NULL;
	j = build_ok(&o, NULL, -1, &env);
	json_t *ns = json_object_get(json_object_get(j, "linux"), "namespaces");
	size_t i;
	json_t *v;
	json_array_foreach(ns, i, v) {
		assert_string_not_equal(json_string_value(json_object_get(v, "type")), "network");
		assert_string_not_equal(json_string_value(json_object_get(v, "type")), "uts");
	}
	assert_null(json_object_get(j, "hostname"));
	char host[256];
	gethostname(host, sizeof(host));
	char want[300];
	snprintf(want, sizeof(want), "HOSTNAME=%s", host);
	assert_true(strarr_has(json_object_get(json_object_get(j, "process"), "env"), want));
	json_decref(j);
	o.hostname = "mine";
	j = build_ok(&o, NULL, -1, &env);
	assert_string_equal(json_string_value(json_object_get(j, "hostname")), "mine");
	json_decref(j);
}

static void test_security_opts(void **state)
{
	(void) state;
	struct specgen_env env = test_env();
	struct berth_error err;
	struct ctr_opts o = { .args = (char *[]) { "sh", NULL } };
	bool apparmor = access("/sys/module/apparmor/parameters/enabled", F_OK) == 0;
	if (!apparmor) {
		o.security_opts = (char *[]) { "apparmor=docker-default", NULL };
		assert_int_equal(build_err(&o, NULL, -1, &env, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "no LSM is active on this host"));
		assert_non_null(strstr(err.msg, "apparmor=docker-default"));
	}
	if (access("/sys/fs/selinux/enforce", F_OK) != 0) {
		o.security_opts = (char *[]) { "label=type:svirt_t", NULL };
		assert_int_equal(build_err(&o, NULL, -1, &env, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "no LSM is active on this host"));
	}
	o.security_opts = (char *[]) { "bogus=1", NULL };
	assert_int_equal(build_err(&o, NULL, -1, &env, &err), -EINVAL);
	assert_string_equal(err.msg, "invalid --security-opt: \"bogus=1\"");

	o.security_opts = (char *[]) { "apparmor=unconfined", "label=disable", "no-new-privileges", NULL };
	json_t *j = build_ok(&o, NULL, -1, &env);
	assert_true(json_is_true(json_object_get(json_object_get(j, "process"), "noNewPrivileges")));
	json_decref(j);
	o.security_opts = NULL;
	j = build_ok(&o, NULL, -1, &env);
	assert_false(json_is_true(json_object_get(json_object_get(j, "process"), "noNewPrivileges")));
	json_decref(j);
	o.no_new_privileges = true;
	j = build_ok(&o, NULL, -1, &env);
	assert_true(json_is_true(json_object_get(json_object_get(j, "process"), "noNewPrivileges")));
	json_decref(j);

	/* seccomp=unconfined, and a docker-format profile file */
	o.seccomp = "unconfined";
	j = build_ok(&o, NULL, -1, &env);
	assert_null(json_object_get(json_object_get(j, "linux"), "seccomp"));
	json_decref(j);
	char path[] = "/tmp/specgen-seccomp-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *prof =
		"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"archMap\":[{\"architecture\":\"SCMP_ARCH_X86_64\","
		"\"subArchitectures\":[\"SCMP_ARCH_X86\"]},{\"architecture\":\"SCMP_ARCH_AARCH64\","
		"\"subArchitectures\":[\"SCMP_ARCH_ARM\"]}],"
		"\"syscalls\":[{\"names\":[\"read\",\"write\"],\"action\":\"SCMP_ACT_ALLOW\",\"comment\":\"x\"},"
		"{\"name\":\"mount\",\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"caps\":[\"CAP_SYS_ADMIN\"]}},"
		"{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ALLOW\",\"excludes\":{\"caps\":[\"CAP_SYS_ADMIN\"]}}]}";
	assert_int_equal(write(fd, prof, strlen(prof)), (ssize_t) strlen(prof));
	close(fd);
	o.seccomp = path;
	j = build_ok(&o, NULL, -1, &env);
	json_t *sc = json_object_get(json_object_get(j, "linux"), "seccomp");
	assert_non_null(sc);
	assert_null(json_object_get(sc, "archMap"));
	assert_int_equal(json_array_size(json_object_get(sc, "architectures")), 2);
	assert_int_equal(json_array_size(json_object_get(sc, "syscalls")), 2);   /* mount dropped */
	json_decref(j);
	o.cap_add = (char *[]) { "SYS_ADMIN", NULL };
	j = build_ok(&o, NULL, -1, &env);
	sc = json_object_get(json_object_get(j, "linux"), "seccomp");
	json_t *second = json_array_get(json_object_get(sc, "syscalls"), 1);
	assert_true(strarr_has(json_object_get(second, "names"), "mount"));
	assert_int_equal(json_array_size(json_object_get(sc, "syscalls")), 2);   /* getpid excluded */
	json_decref(j);
	/* a broken profile is an error naming the file */
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_int_equal(write(fd, "{\"defaultAction\":\"NOPE\"}", 24), 24);
	close(fd);
	assert_int_equal(build_err(&o, NULL, -1, &env, &err), -EINVAL);
	assert_non_null(strstr(err.msg, path));
	unlink(path);
}

static void test_labels_and_workdir(void **state)
{
	(void) state;
	json_t *labels = json_pack("{s:s, s:s}", "from.image", "1", "both", "image");
	struct image_config img = { .labels = labels, .working_dir = "/srv", .cmd = (char *[]) { "sh", NULL },
				    .n_cmd = 1 };
	struct ctr_opts o = { .labels = (char *[]) { "both=user", "flag", NULL } };
	struct specgen_env env = test_env();
	json_t *j = build_ok(&o, &img, -1, &env);
	json_t *a = json_object_get(j, "annotations");
	assert_string_equal(json_string_value(json_object_get(a, "from.image")), "1");
	assert_string_equal(json_string_value(json_object_get(a, "both")), "user");
	assert_string_equal(json_string_value(json_object_get(a, "flag")), "");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "process"), "cwd")), "/srv");
	json_decref(j);
	o.workdir = "/tmp";
	j = build_ok(&o, &img, -1, &env);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "process"), "cwd")), "/tmp");
	json_decref(j);
	struct berth_error err;
	o.workdir = "relative";
	assert_int_equal(build_err(&o, &img, -1, &env, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "absolute"));
	json_decref(labels);
}

/* ---------- the default seccomp profile, enforced for real ---------- */

/* Load the profile in a child and return a bitmask of failed expectations. */
static int run_profile_checks(json_t *profile, bool sys_admin)
{
	struct berth_error err = { 0 };
	struct spec_seccomp *s = NULL;
	if (spec_seccomp_parse(profile, "linux.seccomp", &s, &err) < 0)
		fail_msg("parse: %s", err.msg);
	struct linux_seccomp *f = NULL;
	if (linux_seccomp_build(s, &f, &err) < 0)
		fail_msg("build: %s", err.msg);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		if (linux_seccomp_load(f, NULL, NULL) < 0)
			_exit(100);
		int bad = 0;
#define EXPECT_ERRNO(bit, call, e) do { errno = 0; long _r = (call); if (_r != -1 || errno != (e)) bad |= 1 << (bit); } while (0)
#define EXPECT_NOT_ERRNO(bit, call, e) do { errno = 0; long _r = (call); if (_r == -1 && errno == (e)) bad |= 1 << (bit); } while (0)
		EXPECT_ERRNO(0, syscall(SYS_keyctl, 0, 0, 0, 0, 0), EPERM);
		EXPECT_ERRNO(1, syscall(SYS_add_key, "user", "x", "y", 1, 0), EPERM);
		EXPECT_ERRNO(2, syscall(SYS_kexec_load, 0, 0, 0, 0), EPERM);
		EXPECT_ERRNO(3, syscall(SYS_open_by_handle_at, -1, 0, 0), EPERM);
		if (sys_admin) {
			/* bpf is in docker's CAP_SYS_ADMIN group: the kernel, not the filter, answers */
			EXPECT_NOT_ERRNO(4, syscall(SYS_bpf, -1, NULL, 0), EPERM);
			EXPECT_NOT_ERRNO(5, unshare(CLONE_NEWUTS), EPERM);
			EXPECT_NOT_ERRNO(6, syscall(SYS_clone3, NULL, 0), ENOSYS);
		} else {
			EXPECT_ERRNO(4, syscall(SYS_bpf, -1, NULL, 0), EPERM);
			EXPECT_ERRNO(5, unshare(CLONE_NEWUTS), EPERM);
			EXPECT_ERRNO(6, syscall(SYS_clone3, NULL, 0), ENOSYS);
			EXPECT_ERRNO(7, syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0), EPERM);
		}
		char c;
		int fd = openat(AT_FDCWD, "/dev/zero", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || read(fd, &c, 1) != 1)
			bad |= 1 << 8;
		pid_t child = fork();   /* plain clone without namespace flags */
		if (child == 0)
			_exit(0);
		int st;
		if (child < 0 || waitpid(child, &st, 0) != child)
			bad |= 1 << 9;
		EXPECT_ERRNO(10, socket(40 /* AF_VSOCK */, SOCK_STREAM, 0), EPERM);
		int sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (sk < 0)
			bad |= 1 << 11;
		if (personality(0xffffffff) == -1)
			bad |= 1 << 12;
		EXPECT_ERRNO(13, personality(0x0400000 /* READ_IMPLIES_EXEC */), EPERM);
		EXPECT_ERRNO(14, syscall(SYS_init_module, NULL, 0, ""), EPERM);
		_exit(bad);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	linux_seccomp_free(f);
	spec_seccomp_free(s);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void test_default_seccomp(void **state)
{
	(void) state;
	struct ctr_opts o = { 0 };
	json_t *p = specgen_default_seccomp(&o);
	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(p, "defaultAction")), "SCMP_ACT_ERRNO");
	assert_int_equal(json_integer_value(json_object_get(p, "defaultErrnoRet")), 1);
#if defined(__x86_64__)
	assert_true(strarr_has(json_object_get(p, "architectures"), "SCMP_ARCH_X86_64"));
	assert_true(strarr_has(json_object_get(p, "architectures"), "SCMP_ARCH_X32"));
#endif
	json_t *allow = json_object_get(json_array_get(json_object_get(p, "syscalls"), 0), "names");
	assert_true(strarr_has(allow, "read"));
	assert_true(strarr_has(allow, "openat"));
	assert_true(strarr_has(allow, "chroot"));      /* SYS_CHROOT is a default capability */
	assert_false(strarr_has(allow, "keyctl"));
	assert_false(strarr_has(allow, "unshare"));
	assert_false(strarr_has(allow, "clone3"));
	assert_false(strarr_has(allow, "ptrace") && strarr_has(allow, "process_vm_readv"));
	int bad = run_profile_checks(p, false);
	if (bad)
		fail_msg("default profile: failed checks mask 0x%x", bad);
	json_decref(p);

	/* --cap-add SYS_ADMIN opens the namespace calls; --cap-drop SYS_CHROOT closes chroot */
	o.cap_add = (char *[]) { "SYS_ADMIN", "SYS_PTRACE", NULL };
	o.cap_drop = (char *[]) { "SYS_CHROOT", NULL };
	p = specgen_default_seccomp(&o);
	allow = json_object_get(json_array_get(json_object_get(p, "syscalls"), 0), "names");
	assert_true(strarr_has(allow, "unshare"));
	assert_true(strarr_has(allow, "mount"));
	assert_true(strarr_has(allow, "clone3"));
	assert_true(strarr_has(allow, "process_vm_readv"));
	assert_false(strarr_has(allow, "chroot"));
	assert_false(strarr_has(allow, "init_module"));
	bad = run_profile_checks(p, true);
	if (bad)
		fail_msg("SYS_ADMIN profile: failed checks mask 0x%x", bad);
	json_decref(p);

	p = seccomp_default_profile(BIT(CAP_SYS_MODULE) | BIT(CAP_SYS_TIME) | BIT(CAP_SYS_BOOT) |
				    BIT(CAP_SYSLOG) | BIT(CAP_SYS_NICE));
	allow = json_object_get(json_array_get(json_object_get(p, "syscalls"), 0), "names");
	const char *want[] = { "init_module", "finit_module", "delete_module", "settimeofday", "clock_settime",
			       "reboot", "syslog", "mbind", "set_mempolicy" };
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		if (!strarr_has(allow, want[i]))
			fail_msg("%s not allowed", want[i]);
	assert_false(strarr_has(allow, "mount"));
	json_decref(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_env_merge),
		cmocka_unit_test(test_user),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_privileged_paths),
		cmocka_unit_test(test_readonly_mounts),
		cmocka_unit_test(test_ulimits),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_sysctl),
		cmocka_unit_test(test_security_opts),
		cmocka_unit_test(test_labels_and_workdir),
		cmocka_unit_test(test_default_seccomp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
