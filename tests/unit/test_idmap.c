/* Unit tests for linux/idmap: maps written as root land in the target's
 * uid_map/gid_map; an unprivileged caller maps its own id directly (with
 * setgroups denied) and hands anything else to newuidmap/newgidmap, whose
 * refusal reaches the error with their own words; the rootless config
 * decisions rewrite config.json in place without disturbing anything else
 * in it. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "linux/idmap.h"
#include "linux/procfs.h"
#include "spec/config.h"

#include "unit_helpers.h"

#define TEST_UID 4242
#define TEST_GID 4343

/* ------------------------------------------------------------ helpers */

/* A child that sits in a user namespace of its own, unmapped, until told
 * to go.  ready: the child has unshared. */
struct userns_child {
	pid_t pid;
	int go_w;
};

static int userns_child_start(struct userns_child *c)
{
	int ready[2], go[2];
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0)
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (c->pid == 0) {
		close(ready[0]);
		close(go[1]);
		char b = unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
		if (write(ready[1], &b, 1) != 1)
			_exit(2);
		(void) !read(go[0], &b, 1);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	c->go_w = go[1];
	char b = 0;
	ssize_t n = read(ready[0], &b, 1);
	close(ready[0]);
	return n == 1 && b == 'y' ? 0 : -1;
}

static int userns_child_stop(struct userns_child *c)
{
	close(c->go_w);
	int st = 0;
	while (waitpid(c->pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* /proc/<pid>/<file> with runs of blanks squeezed: "0 4242 1\n". */
static char *read_map(pid_t pid, const char *file)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, file);
	char *s = NULL;
	if (berth_read_file(path, &s, NULL) < 0)
		return NULL;
	char *o = s;
	bool blank = true;
	for (const char *p = s; *p; p++) {
		if (*p == ' ' || *p == '\t') {
			if (!blank)
				*o++ = ' ';
			blank = true;
			continue;
		}
		if (*p == '\n' && o > s && o[-1] == ' ')
			o--;
		*o++ = *p;
		blank = *p == '\n';
	}
	*o = '\0';
	return s;
}

/* Become TEST_UID/TEST_GID with no capabilities, as a rootless runtime is.
 * Changing the euid makes a process non-dumpable; a runtime never was. */
static void become_unprivileged(void)
{
	CHECK(setgroups(0, NULL) == 0);
	CHECK(setresgid(TEST_GID, TEST_GID, TEST_GID) == 0);
	CHECK(setresuid(TEST_UID, TEST_UID, TEST_UID) == 0);
	CHECK(prctl(PR_SET_DUMPABLE, 1) == 0);
	CHECK(geteuid() == TEST_UID);
}

/* ------------------------------------------------------------ as root */

static void test_write_privileged(void **state)
{
	struct userns_child c;
	assert_int_equal(userns_child_start(&c), 0);
	struct spec_id_mapping u[] = { { 0, 100000, 65536 }, { 70000, 300000, 10 } };
	struct spec_id_mapping g[] = { { 0, 200000, 1000 } };
	struct spec_linux l = { .uid_mappings = u, .n_uid_mappings = 2, .gid_mappings = g, .n_gid_mappings = 1 };
	struct berth_error err = { 0 };
	int procfd = linux_procfs_open(&err);
	assert_true(procfd >= 0);
	assert_int_equal(linux_idmap_write(procfd, c.pid, &l, true, &err), 0);

	_cleanup_free_ char *um = read_map(c.pid, "uid_map");
	_cleanup_free_ char *gm = read_map(c.pid, "gid_map");
	_cleanup_free_ char *sg = read_map(c.pid, "setgroups");
	assert_string_equal(um, "0 100000 65536\n70000 300000 10\n");
	assert_string_equal(gm, "0 200000 1000\n");
	/* Root has no reason to deny setgroups. */
	assert_string_equal(sg, "allow\n");

	/* A map is written once: a second write is refused, and said so. */
	struct berth_error err2 = { 0 };
	assert_true(linux_idmap_write(procfd, c.pid, &l, true, &err2) < 0);
	assert_non_null(strstr(err2.msg, "linux.uidMappings"));
	close(procfd);
	assert_int_equal(userns_child_stop(&c), 0);
}

/* ------------------------------------------------------------ unprivileged */

static void child_own_id(void)
{
	become_unprivileged();
	struct userns_child c;
	CHECK(userns_child_start(&c) == 0);
	struct spec_id_mapping u[] = { { 0, TEST_UID, 1 } };
	struct spec_id_mapping g[] = { { 0, TEST_GID, 1 } };
	struct spec_linux l = { .uid_mappings = u, .n_uid_mappings = 1, .gid_mappings = g, .n_gid_mappings = 1 };
	struct berth_error err = { 0 };
	int procfd = linux_procfs_open(&err);
	CHECK(procfd >= 0);

	/* privileged=true is a lie here: the kernel decides, and refuses a
	 * direct gid_map while setgroups is allowed. */
	struct spec_linux gl = { .gid_mappings = g, .n_gid_mappings = 1 };
	struct berth_error lie = { 0 };
	CHECK(linux_idmap_write(procfd, c.pid, &gl, true, &lie) < 0);
	CHECK(strstr(lie.msg, "linux.gidMappings") != NULL);

	int r = linux_idmap_write(procfd, c.pid, &l, false, &err);
	if (r < 0)
		fprintf(stderr, "linux_idmap_write: %s\n", err.msg);
	CHECK(r == 0);
	_cleanup_free_ char *um = read_map(c.pid, "uid_map");
	_cleanup_free_ char *gm = read_map(c.pid, "gid_map");
	_cleanup_free_ char *sg = read_map(c.pid, "setgroups");
	CHECK(um && strcmp(um, "0 4242 1\n") == 0);
	CHECK(gm && strcmp(gm, "0 4343 1\n") == 0);
	CHECK(sg && strcmp(sg, "deny\n") == 0);
	close(procfd);
	CHECK(userns_child_stop(&c) == 0);
}

static void test_write_own_id_unprivileged(void **state)
{
	run_in_child(child_own_id);
}

/* A fake newuidmap/newgidmap first in PATH: it records its argv and
 * succeeds, or speaks like the real one and fails. */
static char helper_dir[64];

static void write_helper(const char *name, bool ok)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", helper_dir, name);
	FILE *f = fopen(path, "w");
	CHECK(f);
	if (ok)
		fprintf(f, "#!/bin/sh\necho \"$@\" > %s/%s.args\n", helper_dir, name);
	else
		fprintf(f, "#!/bin/sh\necho \"%s: uid range [1-11) -> [300000-300010) not allowed\" >&2\n"
			   "echo second line >&2\nexit 1\n", name);
	fclose(f);
	CHECK(chmod(path, 0755) == 0);
}

static void child_helpers(void)
{
	become_unprivileged();
	char path[256];
	snprintf(path, sizeof(path), "%s:/usr/bin:/bin", helper_dir);
	CHECK(setenv("PATH", path, 1) == 0);
	struct berth_error err = { 0 };
	int procfd = linux_procfs_open(&err);
	CHECK(procfd >= 0);

	/* A range, and a single id that is not ours: both go to the helpers,
	 * with the pid and every triple in order. */
	struct userns_child c;
	CHECK(userns_child_start(&c) == 0);
	struct spec_id_mapping u[] = { { 0, TEST_UID, 1 }, { 1, 300000, 10 } };
	struct spec_id_mapping g[] = { { 0, 4999, 1 } };
	struct spec_linux l = { .uid_mappings = u, .n_uid_mappings = 2, .gid_mappings = g, .n_gid_mappings = 1 };
	write_helper("newuidmap", true);
	write_helper("newgidmap", true);
	int r = linux_idmap_write(procfd, c.pid, &l, false, &err);
	if (r < 0)
		fprintf(stderr, "linux_idmap_write: %s\n", err.msg);
	CHECK(r == 0);
	char want[128], file[128];
	_cleanup_free_ char *ua = NULL, *ga = NULL;
	snprintf(file, sizeof(file), "%s/newuidmap.args", helper_dir);
	CHECK(berth_read_file(file, &ua, NULL) == 0);
	snprintf(want, sizeof(want), "%d 0 4242 1 1 300000 10\n", (int) c.pid);
	CHECK(strcmp(ua, want) == 0);
	snprintf(file, sizeof(file), "%s/newgidmap.args", helper_dir);
	CHECK(berth_read_file(file, &ga, NULL) == 0);
	snprintf(want, sizeof(want), "%d 0 4999 1\n", (int) c.pid);
	CHECK(strcmp(ga, want) == 0);
	/* The helper, not us, would have written setgroups. */
	_cleanup_free_ char *sg = read_map(c.pid, "setgroups");
	CHECK(sg && strcmp(sg, "allow\n") == 0);
	CHECK(userns_child_stop(&c) == 0);

	/* A refusal carries the helper's words and says where ranges come
	 * from; nothing is written. */
	CHECK(userns_child_start(&c) == 0);
	write_helper("newuidmap", false);
	struct berth_error e2 = { 0 };
	CHECK(linux_idmap_write(procfd, c.pid, &l, false, &e2) == -EPERM);
	fprintf(stderr, "# %s\n", e2.msg);
	static const char said[] = "linux.uidMappings: newuidmap: uid range [1-11) -> [300000-300010) not allowed; "
				   "second line (exit status 1;";
	CHECK(strncmp(e2.msg, said, strlen(said)) == 0);
	CHECK(strstr(e2.msg, "/etc/subuid") != NULL);
	CHECK(strchr(e2.msg, '\n') == NULL);
	_cleanup_free_ char *um = read_map(c.pid, "uid_map");
	CHECK(um && um[0] == '\0');
	CHECK(userns_child_stop(&c) == 0);

	/* No helper at all: the error says which package brings it. */
	CHECK(setenv("PATH", helper_dir, 1) == 0);
	char gone[128];
	snprintf(gone, sizeof(gone), "%s/newgidmap", helper_dir);
	CHECK(unlink(gone) == 0);
	if (access("/usr/bin/newgidmap", X_OK) != 0) {
		CHECK(userns_child_start(&c) == 0);
		struct spec_linux gl = { .gid_mappings = g, .n_gid_mappings = 1 };
		struct berth_error e3 = { 0 };
		CHECK(linux_idmap_write(procfd, c.pid, &gl, false, &e3) == -ENOENT);
		CHECK(strstr(e3.msg, "linux.gidMappings") && strstr(e3.msg, "uidmap"));
		CHECK(userns_child_stop(&c) == 0);
	}
	close(procfd);
}

static int helper_dir_make(void **state)
{
	snprintf(helper_dir, sizeof(helper_dir), "/tmp/berth-idmap-test.XXXXXX");
	if (!mkdtemp(helper_dir))
		return -1;
	return chown(helper_dir, TEST_UID, TEST_GID);
}

/* Runs whether the test passed or not. */
static int helper_dir_remove(void **state)
{
	return helper_dir[0] ? berth_rm_rf(helper_dir) : 0;
}

static void test_write_through_helpers(void **state)
{
	run_in_child(child_helpers);
}

/* The real newuidmap, for a uid /etc/subuid knows nothing of: refused,
 * and the message is newuidmap's. */
static void child_real_helper(void)
{
	become_unprivileged();
	CHECK(setenv("PATH", "/usr/bin:/bin", 1) == 0);
	struct berth_error err = { 0 };
	int procfd = linux_procfs_open(&err);
	CHECK(procfd >= 0);
	struct userns_child c;
	CHECK(userns_child_start(&c) == 0);
	struct spec_id_mapping u[] = { { 0, TEST_UID, 1 }, { 1, 300000, 65536 } };
	struct spec_linux l = { .uid_mappings = u, .n_uid_mappings = 2 };
	CHECK(linux_idmap_write(procfd, c.pid, &l, false, &err) == -EPERM);
	fprintf(stderr, "# %s\n", err.msg);
	CHECK(strncmp(err.msg, "linux.uidMappings: newuidmap: ", 30) == 0);
	_cleanup_free_ char *um = read_map(c.pid, "uid_map");
	CHECK(um && um[0] == '\0');
	CHECK(userns_child_stop(&c) == 0);
	close(procfd);
}

static void test_write_real_helper_refuses(void **state)
{
	if (access("/usr/bin/newuidmap", X_OK) != 0)
		skip();
	run_in_child(child_real_helper);
}

/* ------------------------------------------------------------ config */

static struct spec_config *parse(const char *text)
{
	struct spec_config *cfg = NULL;
	struct berth_error err = { 0 };
	if (spec_config_parse(text, strlen(text), "config.json", &cfg, &err) < 0) {
		fprintf(stderr, "parse: %s\n", err.msg);
		return NULL;
	}
	return cfg;
}

/* settle cfg-text as (unprivileged, 1000, 1001); returns the result code,
 * *out the (possibly rewritten) text. */
static int settle(const char *in, bool unprivileged, char **out, struct berth_error *err)
{
	struct spec_config *cfg = parse(in);
	assert_non_null(cfg);
	*out = strdup(in);
	size_t len = strlen(in);
	int r = linux_idmap_settle_config(cfg, unprivileged, 1000, 1001, out, &len, err);
	spec_config_free(cfg);
	assert_int_equal(strlen(*out), len);
	return r;
}

#define DEVPTS_MOUNT                                                                    \
	"{\"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\","         \
	" \"options\": [\"nosuid\", \"newinstance\", \"gid=5\", \"mode=0620\", \"uid=7\"]}"

static void test_settle_needs_userns(void **state)
{
	static const char text[] =
		"{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"rootfs\"},"
		" \"linux\": {\"namespaces\": [{\"type\": \"mount\"}, {\"type\": \"pid\"}]}}";
	_cleanup_free_ char *out = NULL;
	struct berth_error err = { 0 };
	assert_int_equal(settle(text, true, &out, &err), -EPERM);
	assert_non_null(strstr(err.msg, "rootless containers need a user namespace (linux.namespaces)"));
	assert_string_equal(out, text);

	/* Root without a user namespace: nothing to decide. */
	_cleanup_free_ char *out2 = NULL;
	struct berth_error err2 = { 0 };
	assert_int_equal(settle(text, false, &out2, &err2), 0);
	assert_string_equal(out2, text);
}

static void test_settle_default_mapping(void **state)
{
	static const char text[] =
		"{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"rootfs\"},\n"
		" \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\",\n"
		"   \"rlimits\": [{\"type\": \"RLIMIT_CORE\", \"soft\": 18446744073709551615, \"hard\": 18446744073709551615}]},\n"
		" \"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"}, " DEVPTS_MOUNT "],\n"
		" \"linux\": {\"uidMappings\": [], \"namespaces\": [{\"type\": \"mount\"}, {\"type\": \"user\"}]}}";
	_cleanup_free_ char *out = NULL;
	struct berth_error err = { 0 };
	assert_int_equal(settle(text, true, &out, &err), 1);

	struct spec_config *cfg = parse(out);
	assert_non_null(cfg);
	/* The empty uidMappings came first; ours, appended, win. */
	assert_int_equal(cfg->linux_->n_uid_mappings, 1);
	assert_int_equal(cfg->linux_->uid_mappings[0].container_id, 0);
	assert_int_equal(cfg->linux_->uid_mappings[0].host_id, 1000);
	assert_int_equal(cfg->linux_->uid_mappings[0].size, 1);
	assert_int_equal(cfg->linux_->n_gid_mappings, 1);
	assert_int_equal(cfg->linux_->gid_mappings[0].host_id, 1001);
	/* Neither the tty group (5) nor uid 7 exist in a one-id namespace. */
	const struct spec_mount *m = &cfg->mounts[1];
	assert_int_equal(m->n_options, 3);
	assert_string_equal(m->options[0], "nosuid");
	assert_string_equal(m->options[1], "newinstance");
	assert_string_equal(m->options[2], "mode=0620");
	/* Nothing else moved: the unlimited rlimit is still exact. */
	assert_int_equal(cfg->process->n_rlimits, 1);
	assert_true(cfg->process->rlimits[0].hard == UINT64_MAX);
	assert_non_null(strstr(out, "\"hard\": 18446744073709551615}"));
	assert_int_equal(cfg->n_mounts, 2);
	spec_config_free(cfg);

	/* Settling what was settled changes nothing. */
	_cleanup_free_ char *again = NULL;
	struct berth_error err2 = { 0 };
	assert_int_equal(settle(out, true, &again, &err2), 0);
	assert_string_equal(again, out);
}

static void test_settle_keeps_given_mappings(void **state)
{
	/* The caller's mappings stand; devpts ids they map stay. */
	static const char text[] =
		"{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"rootfs\"}, \"mounts\": [" DEVPTS_MOUNT "],"
		" \"linux\": {\"namespaces\": [{\"type\": \"user\"}],"
		" \"uidMappings\": [{\"containerID\": 0, \"hostID\": 100000, \"size\": 65536}],"
		" \"gidMappings\": [{\"containerID\": 0, \"hostID\": 100000, \"size\": 65536}]}}";
	_cleanup_free_ char *out = NULL;
	struct berth_error err = { 0 };
	assert_int_equal(settle(text, true, &out, &err), 0);
	assert_string_equal(out, text);

	/* Root with a one-id namespace: devpts loses only what is unmapped. */
	static const char text2[] =
		"{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"rootfs\"}, \"mounts\": [" DEVPTS_MOUNT "],"
		" \"linux\": {\"namespaces\": [{\"type\": \"user\"}],"
		" \"uidMappings\": [{\"containerID\": 0, \"hostID\": 100000, \"size\": 10}],"
		" \"gidMappings\": [{\"containerID\": 0, \"hostID\": 100000, \"size\": 1}]}}";
	_cleanup_free_ char *out2 = NULL;
	struct berth_error err2 = { 0 };
	assert_int_equal(settle(text2, false, &out2, &err2), 1);
	struct spec_config *cfg = parse(out2);
	assert_non_null(cfg);
	assert_int_equal(cfg->mounts[0].n_options, 4);
	assert_string_equal(cfg->mounts[0].options[2], "mode=0620");
	assert_string_equal(cfg->mounts[0].options[3], "uid=7");
	assert_int_equal(cfg->linux_->uid_mappings[0].size, 10);
	spec_config_free(cfg);
}

static void test_settle_escaped_and_joined(void **state)
{
	/* An option spelled with an escape is the same option; a last option
	 * goes with the comma before it. */
	static const char text[] =
		"{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"rootfs\"},"
		" \"mounts\": [{\"destination\": \"/dev/pts\", \"type\": \"devpts\","
		" \"options\": [\"newinstance\" , \"gid\\u003d5\" ]}],"
		" \"linux\": {\"namespaces\": [{\"type\": \"user\"}]}}";
	_cleanup_free_ char *out = NULL;
	struct berth_error err = { 0 };
	assert_int_equal(settle(text, true, &out, &err), 1);
	assert_non_null(strstr(out, "[\"newinstance\" ]"));
	struct spec_config *cfg = parse(out);
	assert_non_null(cfg);
	assert_int_equal(cfg->mounts[0].n_options, 1);
	spec_config_free(cfg);

	/* A joined user namespace brings its own mappings: none are added. */
	static const char joined[] =
		"{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"rootfs\"},"
		" \"linux\": {\"namespaces\": [{\"type\": \"user\", \"path\": \"/proc/1/ns/user\"}]}}";
	_cleanup_free_ char *out2 = NULL;
	struct berth_error err2 = { 0 };
	assert_int_equal(settle(joined, true, &out2, &err2), 0);
	assert_string_equal(out2, joined);

	/* An empty linux object: the first member needs no comma. */
	static const char empty_ns[] =
		"{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"rootfs\"},"
		" \"linux\": {\"namespaces\": [{\"type\": \"user\"}]}, \"linux\": { }}";
	_cleanup_free_ char *out3 = NULL;
	struct berth_error err3 = { 0 };
	/* The last "linux" wins and has no user namespace. */
	assert_int_equal(settle(empty_ns, true, &out3, &err3), -EPERM);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_idmap needs root\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_privileged),
		cmocka_unit_test(test_write_own_id_unprivileged),
		cmocka_unit_test_setup_teardown(test_write_through_helpers, helper_dir_make, helper_dir_remove),
		cmocka_unit_test(test_write_real_helper_refuses),
		cmocka_unit_test(test_settle_needs_userns),
		cmocka_unit_test(test_settle_default_mapping),
		cmocka_unit_test(test_settle_keeps_given_mappings),
		cmocka_unit_test(test_settle_escaped_and_joined),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
