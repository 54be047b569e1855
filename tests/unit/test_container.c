#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/digest.h"
#include "core/fs.h"
#include "db/db.h"
#include "engine/container.h"
#include "engine/options.h"

struct ctx {
	char dir[PATH_MAX];
	char path[PATH_MAX + 16];
	struct berth_db *db;
	char image[BERTH_DIGEST_MAX];
};

static void dig(char out[BERTH_DIGEST_MAX], const char *s)
{
	assert_int_equal(berth_digest_buf(s, strlen(s), out), 0);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	strcpy(c->dir, "/tmp/berth-ctr.XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->path, sizeof(c->path), "%s/berth.db", c->dir);
	struct berth_error err = { 0 };
	assert_int_equal(db_open(c->path, &c->db, &err), 0);
	dig(c->image, "image-config");
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	db_close(c->db);
	berth_rm_rf(c->dir);
	free(c);
	return 0;
}

/* Insert a container named `name` (NULL = generated) holding `chains`. */
static int add(struct ctx *c, const char *name, int64_t created, char **chains, size_t n, char id[65],
               struct berth_error *err)
{
	struct ctr_record r = { 0 };
	r.name = name ? strdup(name) : NULL;
	snprintf(r.image_id, sizeof(r.image_id), "%s", c->image);
	r.image_ref = strdup("busybox");
	r.runtime = strdup("berth-runtime");
	r.created = created;
	r.record = json_pack("{s:{s:s}, s:{}}", "Config", "Image", "busybox", "HostConfig");
	int rc = ctr_record_insert(c->db, &r, chains, n, err);
	if (rc == 0) {
		assert_int_equal(strlen(r.id), 64);
		assert_int_equal(strspn(r.id, "0123456789abcdef"), 64);
		assert_non_null(r.name);
		if (id)
			memcpy(id, r.id, 65);
	}
	ctr_record_clear(&r);
	return rc;
}

static void insert_get_resolve(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	char id[65], got[65];
	assert_int_equal(add(c, "/web", 0, NULL, 0, id, &err), 0);

	struct ctr_record r;
	assert_int_equal(ctr_record_get(c->db, id, &r, &err), 0);
	assert_string_equal(r.id, id);
	assert_string_equal(r.name, "web");                /* the "/" is not part of the name */
	assert_string_equal(r.image_id, c->image);
	assert_string_equal(r.image_ref, "busybox");
	assert_string_equal(r.runtime, "berth-runtime");
	assert_true(r.created > (int64_t) (time(NULL) - 60) * 1000000000);
	assert_string_equal(json_string_value(json_object_get(r.record, "Name")), "/web");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r.record, "Config"), "Image")),
	                    "busybox");
	ctr_record_clear(&r);

	const char *ways[] = { "web", "/web", id, "0" /* replaced below */ };
	char prefix[8];
	snprintf(prefix, sizeof(prefix), "%.5s", id);
	ways[3] = prefix;
	for (size_t i = 0; i < ARRAY_SIZE(ways); i++) {
		memset(got, 0, sizeof(got));
		assert_int_equal(ctr_resolve(c->db, ways[i], got, &err), 0);
		assert_string_equal(got, id);
	}
	/* a one-character prefix is enough while it is unique */
	char one[2] = { id[0], 0 };
	assert_int_equal(ctr_resolve(c->db, one, got, &err), 0);
	assert_string_equal(got, id);

	const char *missing[] = { "nope", "/nope", "", "zz", "web*", "%" };
	for (size_t i = 0; i < ARRAY_SIZE(missing); i++) {
		berth_error_clear(&err);
		assert_int_equal(ctr_resolve(c->db, missing[i], got, &err), -ENOENT);
		char want[64];
		snprintf(want, sizeof(want), "No such container: %s", missing[i]);
		assert_string_equal(err.msg, want);
	}
	berth_error_clear(&err);
	assert_int_equal(ctr_record_get(c->db, "0123", &r, &err), -ENOENT);
}

/* A name is looked up before an id prefix, as docker does. */
static void ambiguous_prefix(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	char ids[17][65];
	for (int i = 0; i < 17; i++)
		assert_int_equal(add(c, NULL, 0, NULL, 0, ids[i], &err), 0);
	/* 17 ids, 16 hex digits: two share a first digit */
	char shared = 0;
	for (int i = 0; i < 17 && !shared; i++)
		for (int k = i + 1; k < 17; k++)
			if (ids[i][0] == ids[k][0])
				shared = ids[i][0];
	assert_true(shared != 0);
	char pfx[2] = { shared, 0 }, got[65];
	assert_int_equal(ctr_resolve(c->db, pfx, got, &err), -EEXIST);
	char want[80];
	snprintf(want, sizeof(want), "multiple IDs found with provided prefix: %s", pfx);
	assert_string_equal(err.msg, want);

	/* a container named like another's id prefix: the name wins */
	char name[8];
	snprintf(name, sizeof(name), "%.6s", ids[3]);
	char named[65];
	assert_int_equal(add(c, name, 0, NULL, 0, named, &err), 0);
	assert_int_equal(ctr_resolve(c->db, name, got, &err), 0);
	assert_string_equal(got, named);
}

static void name_rules(void **state)
{
	struct ctx *c = *state;
	const char *bad[] = { "a", "-web", "_web", ".web", "we b", "web/x", "wéb", "//web", "" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct berth_error err = { 0 };
		assert_int_equal(add(c, bad[i], 0, NULL, 0, NULL, &err), -EINVAL);
		char want[128];
		snprintf(want, sizeof(want), "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
		         bad[i]);
		assert_string_equal(err.msg, want);
	}
	const char *good[] = { "ab", "9x", "A.b-c_d", "/lead" };
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct berth_error err = { 0 };
		assert_int_equal(add(c, good[i], 0, NULL, 0, NULL, &err), 0);
	}
	char got[65];
	assert_int_equal(ctr_resolve(c->db, "lead", got, NULL), 0);
}

static int count_names(struct ctx *c, const char *name)
{
	struct berth_error err = { 0 };
	char id[65];
	return ctr_resolve(c->db, name, id, &err) == 0 ? 1 : 0;
}

static void duplicate_name(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	char id[65], layer[BERTH_DIGEST_MAX];
	dig(layer, "dup-layer");
	char *chains[] = { layer };
	assert_int_equal(add(c, "db", 0, NULL, 0, id, &err), 0);
	assert_int_equal(add(c, "/db", 0, chains, 1, NULL, &err), -EEXIST);
	char want[400];
	snprintf(want, sizeof(want),
	         "Conflict. The container name \"/db\" is already in use by container \"%s\". You have to remove "
	         "(or rename) that container to be able to reuse that name.",
	         id);
	assert_string_equal(err.msg, want);
	/* the loser left nothing: no second row, no hold */
	assert_int_equal(db_layer_held(c->db, layer), 0);
	assert_int_equal(db_containers_using_image(c->db, c->image), 1);
}

/* Two processes race for one name: the database gives it to exactly one. */
static void duplicate_name_race(void **state)
{
	struct ctx *c = *state;
	for (int round = 0; round < 4; round++) {
		char name[32];
		snprintf(name, sizeof(name), "racer%d", round);
		int go[2], ready[2];
		assert_int_equal(pipe(go), 0);
		assert_int_equal(pipe(ready), 0);
		pid_t pids[2];
		for (int p = 0; p < 2; p++) {
			pids[p] = fork();
			assert_true(pids[p] >= 0);
			if (pids[p] == 0) {
				close(go[1]);
				close(ready[0]);
				struct berth_error err = { 0 };
				struct berth_db *db;
				if (db_open(c->path, &db, &err) < 0)
					_exit(2);
				if (write(ready[1], "r", 1) != 1)
					_exit(5);
				close(ready[1]);
				char b;
				if (read(go[0], &b, 1) != 0)   /* EOF = start */
					_exit(3);
				struct ctr_record r = { 0 };
				r.name = strdup(name);
				snprintf(r.image_id, sizeof(r.image_id), "%s", c->image);
				r.record = json_pack("{s:{}, s:{}}", "Config", "HostConfig");
				int rc = ctr_record_insert(db, &r, NULL, 0, &err);
				ctr_record_clear(&r);
				db_close(db);
				if (rc == 0)
					_exit(0);
				if (rc == -EEXIST && strstr(err.msg, "Conflict. The container name \"/") &&
				    strstr(err.msg, "is already in use by container"))
					_exit(17);
				fprintf(stderr, "child: %d %s\n", rc, err.msg);
				_exit(4);
			}
		}
		close(go[0]);
		close(ready[1]);
		/* both have the database open (or one failed: EOF): let them go at once */
		char rb[2];
		for (size_t got = 0; got < 2;) {
			ssize_t k = read(ready[0], rb + got, 2 - got);
			if (k <= 0)
				break;
			got += (size_t) k;
		}
		close(ready[0]);
		close(go[1]);
		int codes[2];
		for (int p = 0; p < 2; p++) {
			int status;
			assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
			assert_true(WIFEXITED(status));
			codes[p] = WEXITSTATUS(status);
		}
		assert_true((codes[0] == 0 && codes[1] == 17) || (codes[0] == 17 && codes[1] == 0));
		assert_int_equal(count_names(c, name), 1);
	}
	assert_int_equal(db_containers_using_image(c->db, c->image), 4);
}

static int collect_names(void *ctx, const struct ctr_record *r)
{
	json_t *set = ctx;
	if (json_object_get(set, r->name))
		return -EEXIST;
	json_object_set_new(set, r->name, json_true());
	return 0;
}

static void generated_names(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	const int n = 150;
	for (int i = 0; i < n; i++) {
		if (add(c, NULL, 0, NULL, 0, NULL, &err) < 0)
			fail_msg("%s", err.msg);
	}
	json_t *set = json_object();
	assert_int_equal(ctr_records_walk(c->db, collect_names, set), 0);
	assert_int_equal(json_object_size(set), n);
	const char *k;
	json_t *v;
	json_object_foreach(set, k, v) {
		assert_int_equal(ctr_name_check(k, NULL), 0);
		const char *us = strchr(k, '_');
		assert_non_null(us);
		assert_true(us > k && us[1] != '\0');
	}
	json_decref(set);
}

static void delete_releases_layers(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	char l1[BERTH_DIGEST_MAX], l2[BERTH_DIGEST_MAX];
	dig(l1, "layer-1");
	dig(l2, "layer-2");
	char *both[] = { l1, l2 }, *only1[] = { l1 };
	char a[65], b[65];
	assert_int_equal(add(c, "holder-a", 0, both, 2, a, &err), 0);
	assert_int_equal(add(c, "holder-b", 0, only1, 1, b, &err), 0);
	assert_int_equal(db_layer_held(c->db, l1), 1);
	assert_int_equal(db_layer_held(c->db, l2), 1);

	/* held layers are not garbage even though no image uses them */
	struct db_layer lay = { .blob_size = 1, .size = 1 };
	snprintf(lay.chain_id, sizeof(lay.chain_id), "%s", l2);
	snprintf(lay.diff_id, sizeof(lay.diff_id), "%s", l2);
	assert_int_equal(db_layer_put(c->db, &lay, &err), 0);
	_cleanup_strv_ char **garbage = NULL;
	assert_int_equal(db_unreferenced_layers(c->db, &garbage), 0);

	assert_int_equal(ctr_record_delete(c->db, a, &err), 0);
	assert_int_equal(db_layer_held(c->db, l2), 0);
	assert_int_equal(db_layer_held(c->db, l1), 1);    /* b still holds it */
	struct ctr_record r;
	berth_error_clear(&err);
	assert_int_equal(ctr_record_get(c->db, a, &r, &err), -ENOENT);
	char want[100];
	snprintf(want, sizeof(want), "No such container: %s", a);
	assert_string_equal(err.msg, want);
	assert_int_equal(ctr_record_delete(c->db, a, NULL), -ENOENT);

	assert_int_equal(ctr_record_delete(c->db, b, &err), 0);
	assert_int_equal(db_layer_held(c->db, l1), 0);
	assert_int_equal(db_containers_using_image(c->db, c->image), 0);
	/* the name is free again */
	assert_int_equal(add(c, "holder-a", 0, NULL, 0, NULL, &err), 0);
}

static void rename_container(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	char a[65], b[65], got[65];
	assert_int_equal(add(c, "old", 0, NULL, 0, a, &err), 0);
	assert_int_equal(add(c, "other", 0, NULL, 0, b, &err), 0);

	assert_int_equal(ctr_record_rename(c->db, a, "/new", &err), 0);
	assert_int_equal(ctr_resolve(c->db, "new", got, &err), 0);
	assert_string_equal(got, a);
	assert_int_equal(ctr_resolve(c->db, "old", got, NULL), -ENOENT);
	struct ctr_record r;
	assert_int_equal(ctr_record_get(c->db, a, &r, &err), 0);
	assert_string_equal(r.name, "new");
	assert_string_equal(json_string_value(json_object_get(r.record, "Name")), "/new");
	ctr_record_clear(&r);

	berth_error_clear(&err);
	assert_int_equal(ctr_record_rename(c->db, a, "other", &err), -EEXIST);
	char want[400];
	snprintf(want, sizeof(want),
	         "Conflict. The container name \"/other\" is already in use by container \"%s\". You have to "
	         "remove (or rename) that container to be able to reuse that name.",
	         b);
	assert_string_equal(err.msg, want);

	berth_error_clear(&err);
	assert_int_equal(ctr_record_rename(c->db, a, "new", &err), -EINVAL);
	assert_string_equal(err.msg, "Renaming a container with the same name as its current name");
	berth_error_clear(&err);
	assert_int_equal(ctr_record_rename(c->db, a, "n w", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "Invalid container name (n w)"));
	char ghost[65];
	memset(ghost, 'f', 64);
	ghost[64] = 0;
	assert_int_equal(ctr_record_rename(c->db, ghost, "ghost", NULL), -ENOENT);
	/* the old name can be taken by someone else now */
	assert_int_equal(add(c, "old", 0, NULL, 0, NULL, &err), 0);
}

struct order { char names[8][32]; int n; int stop_after; };

static int collect_order(void *ctx, const struct ctr_record *r)
{
	struct order *o = ctx;
	snprintf(o->names[o->n++], sizeof(o->names[0]), "%s", r->name);
	assert_non_null(r->record);
	return o->n == o->stop_after ? 42 : 0;
}

static void walk_newest_first(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	assert_int_equal(add(c, "t1000", 1000, NULL, 0, NULL, &err), 0);
	assert_int_equal(add(c, "t3000", 3000, NULL, 0, NULL, &err), 0);
	assert_int_equal(add(c, "t2000a", 2000, NULL, 0, NULL, &err), 0);
	assert_int_equal(add(c, "t2000b", 2000, NULL, 0, NULL, &err), 0);   /* same time: later insert first */
	struct order o = { .stop_after = -1 };
	assert_int_equal(ctr_records_walk(c->db, collect_order, &o), 0);
	assert_int_equal(o.n, 4);
	assert_string_equal(o.names[0], "t3000");
	assert_string_equal(o.names[1], "t2000b");
	assert_string_equal(o.names[2], "t2000a");
	assert_string_equal(o.names[3], "t1000");
	struct order o2 = { .stop_after = 2 };
	assert_int_equal(ctr_records_walk(c->db, collect_order, &o2), 42);
	assert_int_equal(o2.n, 2);
}

/* ---- options ---- */

static char **sv(const char *first, ...)
{
	char **v = calloc(16, sizeof(char *));
	va_list ap;
	va_start(ap, first);
	int n = 0;
	for (const char *s = first; s; s = va_arg(ap, const char *))
		v[n++] = strdup(s);
	va_end(ap);
	return v;
}

static void assert_strv_equal(char **a, char **b)
{
	if (!a || !b) {
		assert_true(a == b);
		return;
	}
	size_t i = 0;
	for (; a[i] && b[i]; i++)
		assert_string_equal(a[i], b[i]);
	assert_null(a[i]);
	assert_null(b[i]);
}

static void assert_str_equal_or_null(const char *a, const char *b)
{
	if (!a || !b)
		assert_true(a == b);
	else
		assert_string_equal(a, b);
}

static void fill_all(struct ctr_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->image = strdup("busybox:latest");
	o->args = sv("sh", "-c", "echo hi", NULL);
	o->name = strdup("web");
	o->detach = true;
	o->interactive = true;
	o->tty = true;
	o->rm = true;
	o->init = true;
	o->privileged = true;
	o->read_only = true;
	o->no_new_privileges = true;
	o->entrypoint_set = true;
	o->entrypoint = sv("/bin/tini", NULL);
	o->env = sv("A=1", "B", "C=x=y", NULL);
	o->workdir = strdup("/srv");
	o->user = strdup("1000:1000");
	o->hostname = strdup("box");
	o->labels = sv("a=1", "b=two words", NULL);
	o->n_mounts = 3;
	o->mounts = calloc(3, sizeof(struct ctr_mount));
	o->mounts[0] = (struct ctr_mount) { .type = CTR_MOUNT_BIND, .source = strdup("/host"),
	                                    .destination = strdup("/data"), .readonly = true,
	                                    .propagation = strdup("rshared"), .host_path = strdup("/host") };
	o->mounts[1] = (struct ctr_mount) { .type = CTR_MOUNT_VOLUME, .source = NULL, .destination = strdup("/vol"),
	                                    .no_copy = true, .host_path = strdup("/var/lib/berth/volumes/x/_data") };
	o->mounts[2] = (struct ctr_mount) { .type = CTR_MOUNT_TMPFS, .destination = strdup("/tmp"),
	                                    .tmpfs_size = 65536, .tmpfs_mode = 0700 };
	o->memory = 64 << 20;
	o->memory_swap = -1;
	o->shm_size = 128 << 20;
	o->cpu_quota = 150000;
	o->cpu_period = 100000;
	o->cpu_shares = 512;
	o->cpuset_cpus = strdup("0-1");
	o->pids_limit = 64;
	o->ulimits = sv("nofile=1024:2048", "nproc=10:20", NULL);
	o->cap_add = sv("NET_ADMIN", NULL);
	o->cap_drop = sv("ALL", NULL);
	o->seccomp = strdup("/etc/profile.json");
	o->security_opts = sv("apparmor=unconfined", "label=disable", NULL);
	o->devices = sv("/dev/fuse:/dev/fuse:rwm", "/dev/null:/dev/n2:r", NULL);
	o->sysctls = sv("net.ipv4.ip_forward=1", "kernel.msgmax=65536", NULL);
	o->stop_signal = strdup("SIGQUIT");
	o->stop_timeout = 30;
	o->restart = strdup("on-failure:5");
	o->network = strdup("host");
	o->pull = strdup("always");
	o->runtime = strdup("runc");
	o->log_max_size = strdup("10m");
	o->log_max_file = 3;
	o->platform = strdup("linux/amd64");
}

static void assert_opts_equal(const struct ctr_opts *a, const struct ctr_opts *b)
{
	assert_str_equal_or_null(a->image, b->image);
	assert_strv_equal(a->args, b->args);
	assert_str_equal_or_null(a->name, b->name);
	assert_int_equal(a->detach, b->detach);
	assert_int_equal(a->interactive, b->interactive);
	assert_int_equal(a->tty, b->tty);
	assert_int_equal(a->rm, b->rm);
	assert_int_equal(a->init, b->init);
	assert_int_equal(a->privileged, b->privileged);
	assert_int_equal(a->read_only, b->read_only);
	assert_int_equal(a->no_new_privileges, b->no_new_privileges);
	assert_int_equal(a->entrypoint_set, b->entrypoint_set);
	assert_strv_equal(a->entrypoint, b->entrypoint);
	assert_strv_equal(a->env, b->env);
	assert_str_equal_or_null(a->workdir, b->workdir);
	assert_str_equal_or_null(a->user, b->user);
	assert_str_equal_or_null(a->hostname, b->hostname);
	assert_strv_equal(a->labels, b->labels);
	assert_int_equal(a->n_mounts, b->n_mounts);
	for (size_t i = 0; i < a->n_mounts; i++) {
		const struct ctr_mount *x = &a->mounts[i], *y = &b->mounts[i];
		assert_int_equal(x->type, y->type);
		assert_str_equal_or_null(x->source, y->source);
		assert_str_equal_or_null(x->destination, y->destination);
		assert_int_equal(x->readonly, y->readonly);
		assert_str_equal_or_null(x->propagation, y->propagation);
		assert_int_equal(x->tmpfs_size, y->tmpfs_size);
		assert_int_equal(x->tmpfs_mode, y->tmpfs_mode);
		assert_int_equal(x->no_copy, y->no_copy);
		assert_str_equal_or_null(x->host_path, y->host_path);
	}
	assert_int_equal(a->memory, b->memory);
	assert_int_equal(a->memory_swap, b->memory_swap);
	assert_int_equal(a->shm_size, b->shm_size);
	assert_int_equal(a->cpu_quota, b->cpu_quota);
	assert_int_equal(a->cpu_period, b->cpu_period);
	assert_int_equal(a->cpu_shares, b->cpu_shares);
	assert_str_equal_or_null(a->cpuset_cpus, b->cpuset_cpus);
	assert_int_equal(a->pids_limit, b->pids_limit);
	assert_strv_equal(a->ulimits, b->ulimits);
	assert_strv_equal(a->cap_add, b->cap_add);
	assert_strv_equal(a->cap_drop, b->cap_drop);
	assert_str_equal_or_null(a->seccomp, b->seccomp);
	assert_strv_equal(a->security_opts, b->security_opts);
	assert_strv_equal(a->devices, b->devices);
	assert_strv_equal(a->sysctls, b->sysctls);
	assert_str_equal_or_null(a->stop_signal, b->stop_signal);
	assert_int_equal(a->stop_timeout, b->stop_timeout);
	assert_str_equal_or_null(a->restart, b->restart);
	assert_str_equal_or_null(a->network, b->network);
	assert_str_equal_or_null(a->pull, b->pull);
	assert_str_equal_or_null(a->runtime, b->runtime);
	assert_str_equal_or_null(a->log_max_size, b->log_max_size);
	assert_int_equal(a->log_max_file, b->log_max_file);
	assert_str_equal_or_null(a->platform, b->platform);
}

static void options_round_trip(void **state)
{
	(void) state;
	struct ctr_opts o, back;
	fill_all(&o);
	json_t *j = ctr_opts_to_json(&o);
	assert_non_null(j);

	/* docker's shape */
	json_t *cfg = json_object_get(j, "Config"), *hc = json_object_get(j, "HostConfig");
	assert_string_equal(json_string_value(json_object_get(j, "Name")), "/web");
	assert_string_equal(json_string_value(json_object_get(cfg, "Image")), "busybox:latest");
	assert_true(json_is_true(json_object_get(cfg, "Tty")));
	assert_true(json_is_true(json_object_get(cfg, "OpenStdin")));
	assert_true(json_is_false(json_object_get(cfg, "AttachStdout")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(cfg, "Labels"), "b")), "two words");
	assert_int_equal(json_integer_value(json_object_get(cfg, "StopTimeout")), 30);
	assert_int_equal(json_integer_value(json_object_get(hc, "NanoCpus")), 1500000000);
	assert_int_equal(json_integer_value(json_object_get(hc, "PidsLimit")), 64);
	json_t *rp = json_object_get(hc, "RestartPolicy");
	assert_string_equal(json_string_value(json_object_get(rp, "Name")), "on-failure");
	assert_int_equal(json_integer_value(json_object_get(rp, "MaximumRetryCount")), 5);
	json_t *lc = json_object_get(hc, "LogConfig");
	assert_string_equal(json_string_value(json_object_get(lc, "Type")), "json-file");
	assert_string_equal(json_string_value(json_object_get(json_object_get(lc, "Config"), "max-size")), "10m");
	assert_string_equal(json_string_value(json_object_get(json_object_get(lc, "Config"), "max-file")), "3");
	json_t *ul = json_array_get(json_object_get(hc, "Ulimits"), 0);
	assert_string_equal(json_string_value(json_object_get(ul, "Name")), "nofile");
	assert_int_equal(json_integer_value(json_object_get(ul, "Soft")), 1024);
	assert_int_equal(json_integer_value(json_object_get(ul, "Hard")), 2048);
	json_t *dev = json_array_get(json_object_get(hc, "Devices"), 1);
	assert_string_equal(json_string_value(json_object_get(dev, "PathInContainer")), "/dev/n2");
	assert_string_equal(json_string_value(json_object_get(dev, "CgroupPermissions")), "r");
	json_t *m0 = json_array_get(json_object_get(hc, "Mounts"), 0);
	assert_string_equal(json_string_value(json_object_get(m0, "Type")), "bind");
	assert_string_equal(json_string_value(json_object_get(m0, "Target")), "/data");
	assert_string_equal(json_string_value(json_object_get(json_object_get(m0, "BindOptions"), "Propagation")),
	                    "rshared");
	assert_string_equal(json_string_value(json_object_get(json_object_get(hc, "Sysctls"), "kernel.msgmax")),
	                    "65536");
	assert_true(json_is_true(json_object_get(hc, "Init")));
	assert_true(json_is_true(json_object_get(hc, "AutoRemove")));
	assert_string_equal(json_string_value(json_object_get(hc, "NetworkMode")), "host");
	json_t *sec = json_object_get(hc, "SecurityOpt");
	assert_int_equal(json_array_size(sec), 4);

	/* through text, as the record is stored */
	char *text = json_dumps(j, JSON_COMPACT);
	json_t *j2 = json_loads(text, 0, NULL);
	free(text);
	assert_int_equal(ctr_opts_from_json(j2, &back), 0);
	assert_opts_equal(&o, &back);
	json_t *j3 = ctr_opts_to_json(&back);
	assert_true(json_equal(j, j3));
	json_decref(j);
	json_decref(j2);
	json_decref(j3);
	ctr_opts_clear(&back);

	/* --entrypoint "" (set, empty) differs from no --entrypoint; Cmd [] from none */
	for (char **p = o.entrypoint; *p; p++)
		free(*p);
	o.entrypoint[0] = NULL;
	for (char **p = o.args; *p; p++)
		free(*p);
	o.args[0] = NULL;
	j = ctr_opts_to_json(&o);
	assert_int_equal(json_array_size(json_object_get(json_object_get(j, "Config"), "Entrypoint")), 0);
	assert_true(json_is_array(json_object_get(json_object_get(j, "Config"), "Entrypoint")));
	assert_int_equal(ctr_opts_from_json(j, &back), 0);
	assert_true(back.entrypoint_set);
	assert_non_null(back.entrypoint);
	assert_null(back.entrypoint[0]);
	assert_non_null(back.args);
	assert_null(back.args[0]);
	json_decref(j);
	ctr_opts_clear(&back);
	ctr_opts_clear(&o);
	assert_null(o.image);   /* cleared */
}

static void options_defaults_and_errors(void **state)
{
	(void) state;
	struct ctr_opts o = { .image = strdup("alpine"), .stop_timeout = -1, .log_max_file = 1,
	                      .network = strdup("none") };
	json_t *j = ctr_opts_to_json(&o);
	assert_non_null(j);
	json_t *cfg = json_object_get(j, "Config"), *hc = json_object_get(j, "HostConfig");
	assert_true(json_is_null(json_object_get(cfg, "Cmd")));
	assert_true(json_is_null(json_object_get(cfg, "Entrypoint")));
	assert_null(json_object_get(cfg, "StopTimeout"));
	assert_true(json_is_null(json_object_get(hc, "PidsLimit")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(hc, "RestartPolicy"), "Name")), "no");
	struct ctr_opts back;
	assert_int_equal(ctr_opts_from_json(j, &back), 0);
	assert_false(back.entrypoint_set);
	assert_null(back.entrypoint);
	assert_null(back.args);
	assert_null(back.workdir);
	assert_null(back.name);
	assert_int_equal(back.stop_timeout, -1);
	assert_int_equal(back.log_max_file, 1);
	assert_string_equal(back.restart, "no");
	json_t *j2 = ctr_opts_to_json(&back);
	assert_true(json_equal(j, j2));
	json_decref(j2);
	ctr_opts_clear(&back);

	/* JSON from docker carries only NanoCpus */
	json_object_set_new(hc, "NanoCpus", json_integer(500000000));
	assert_int_equal(ctr_opts_from_json(j, &back), 0);
	assert_int_equal(back.cpu_quota, 50000);
	assert_int_equal(back.cpu_period, 100000);
	ctr_opts_clear(&back);

	/* wrong types are refused and leave nothing allocated */
	json_object_set_new(cfg, "Env", json_string("A=1"));
	assert_int_equal(ctr_opts_from_json(j, &back), -EINVAL);
	assert_null(back.image);
	json_object_set_new(cfg, "Env", json_null());
	json_object_set_new(hc, "Mounts", json_pack("[{s:s, s:s}]", "Type", "nfs", "Target", "/x"));
	assert_int_equal(ctr_opts_from_json(j, &back), -EINVAL);
	json_t *notobj = json_string("x");
	assert_int_equal(ctr_opts_from_json(notobj, &back), -EINVAL);
	json_decref(notobj);
	json_decref(j);
	ctr_opts_clear(&o);
}

/* ---- state ---- */

static void write_status(const char *dir, const char *json)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/status.json", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(json, f);
	fclose(f);
}

static unsigned long long my_start_time(void)
{
	_cleanup_free_ char *buf = NULL;
	assert_int_equal(berth_read_file("/proc/self/stat", &buf, NULL), 0);
	char *p = strrchr(buf, ')') + 2;   /* field 3 */
	for (int f = 3; f < 22; f++)
		p = strchr(p, ' ') + 1;
	return strtoull(p, NULL, 10);
}

static void state_read(void **state)
{
	struct ctx *c = *state;
	char bundle[PATH_MAX + 16], buf[1024];
	snprintf(bundle, sizeof(bundle), "%s/bundle", c->dir);
	struct ctr_state s;
	assert_int_equal(ctr_state_read(bundle, &s), -ENOENT);
	assert_int_equal(mkdir(bundle, 0700), 0);

	assert_int_equal(ctr_state_read(bundle, &s), 0);
	assert_string_equal(s.state, "created");
	ctr_state_clear(&s);

	/* running, with our own (live) pid and its real start time */
	snprintf(buf, sizeof(buf),
	         "{\"state\":\"running\",\"pid\":%d,\"pid_start\":%llu,\"started_at\":\"2024-05-01T10:00:00.5Z\","
	         "\"exit_code\":0,\"oom_killed\":false}",
	         getpid(), my_start_time());
	write_status(bundle, buf);
	assert_int_equal(ctr_state_read(bundle, &s), 0);
	assert_string_equal(s.state, "running");
	assert_int_equal(s.pid, getpid());
	assert_string_equal(s.started_at, "2024-05-01T10:00:00.5Z");
	assert_null(s.error);
	ctr_state_clear(&s);

	/* same pid, another process's start time: pid reuse, the container is gone */
	snprintf(buf, sizeof(buf), "{\"state\":\"running\",\"pid\":%d,\"pid_start\":%llu}", getpid(),
	         my_start_time() + 1);
	write_status(bundle, buf);
	assert_int_equal(ctr_state_read(bundle, &s), 0);
	assert_string_equal(s.state, "exited");
	assert_int_equal(s.exit_code, 255);
	ctr_state_clear(&s);

	/* running, but the process was reaped: the monitor is lost */
	pid_t dead = fork();
	assert_true(dead >= 0);
	if (dead == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	snprintf(buf, sizeof(buf),
	         "{\"state\":\"running\",\"pid\":%d,\"started_at\":\"2024-05-01T10:00:00Z\",\"exit_code\":0}",
	         (int) dead);
	write_status(bundle, buf);
	assert_int_equal(ctr_state_read(bundle, &s), 0);
	assert_string_equal(s.state, "exited");
	assert_int_equal(s.exit_code, 255);
	assert_string_equal(s.error, "monitor lost");
	char *st = ctr_state_status(&s, 1714557600 + 5);
	assert_string_equal(st, "Exited (255)");
	free(st);
	ctr_state_clear(&s);

	/* paused with a dead pid is lost too */
	snprintf(buf, sizeof(buf), "{\"state\":\"paused\",\"pid\":%d}", (int) dead);
	write_status(bundle, buf);
	assert_int_equal(ctr_state_read(bundle, &s), 0);
	assert_string_equal(s.state, "exited");
	ctr_state_clear(&s);

	/* exited as recorded by the monitor (the pid is irrelevant then) */
	write_status(bundle, "{\"state\":\"exited\",\"pid\":1,\"exit_code\":137,\"oom_killed\":true,"
	                     "\"started_at\":\"2024-05-01T10:00:00Z\",\"finished_at\":\"2024-05-01T10:03:00.25Z\"}");
	assert_int_equal(ctr_state_read(bundle, &s), 0);
	assert_string_equal(s.state, "exited");
	assert_int_equal(s.exit_code, 137);
	assert_true(s.oom_killed);
	assert_string_equal(s.finished_at, "2024-05-01T10:03:00.25Z");
	ctr_state_clear(&s);

	/* a runtime failure: exited, never started, with the runtime's error */
	write_status(bundle, "{\"state\":\"exited\",\"exit_code\":127,\"error\":\"exec: \\\"foo\\\": "
	                     "executable file not found in $PATH\"}");
	assert_int_equal(ctr_state_read(bundle, &s), 0);
	assert_int_equal(s.exit_code, 127);
	assert_non_null(strstr(s.error, "executable file not found"));
	st = ctr_state_status(&s, time(NULL));
	assert_string_equal(st, "Created");
	free(st);
	ctr_state_clear(&s);

	const char *bad[] = { "{", "[]", "{\"state\":\"dancing\"}", "{\"state\":\"running\",\"pid\":\"12\"}",
	                      "{\"state\":\"exited\",\"error\":5}" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		write_status(bundle, bad[i]);
		assert_int_equal(ctr_state_read(bundle, &s), -EBADMSG);
		assert_null(s.error);
	}
}

static void status_strings(void **state)
{
	(void) state;
	int64_t ns;
	assert_int_equal(ctr_time_parse("2024-05-01T10:00:00Z", &ns), 0);
	assert_int_equal(ns, (int64_t) 1714557600 * 1000000000);
	assert_int_equal(ctr_time_parse("2024-05-01T12:00:00.123456789+02:00", &ns), 0);
	assert_int_equal(ns, (int64_t) 1714557600 * 1000000000 + 123456789);
	assert_int_equal(ctr_time_parse("0001-01-01T00:00:00Z", &ns), 0);
	assert_int_equal(ns, 0);
	assert_int_equal(ctr_time_parse("2024-05-01 10:00", &ns), -EINVAL);
	assert_int_equal(ctr_time_parse("2024-05-01T10:00:00", &ns), -EINVAL);

	const int64_t t0 = 1714557600;
	struct ctr_state s = { .state = "running", .started_at = (char *) "2024-05-01T10:00:00Z" };
	struct { int64_t after; const char *want; } up[] = {
		{ 0, "Up Less than a second" }, { 1, "Up 1 second" }, { 59, "Up 59 seconds" },
		{ 60, "Up About a minute" }, { 180, "Up 3 minutes" }, { 3599, "Up 59 minutes" },
		{ 3600, "Up About an hour" }, { 3 * 3600, "Up 3 hours" }, { 3 * 86400, "Up 3 days" },
		{ 15 * 86400, "Up 2 weeks" }, { 90 * 86400, "Up 3 months" }, { 800 * 86400, "Up 2 years" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(up); i++) {
		char *got = ctr_state_status(&s, t0 + up[i].after);
		assert_string_equal(got, up[i].want);
		free(got);
	}
	memcpy(s.state, "paused", 7);
	char *got = ctr_state_status(&s, t0 + 3600);
	assert_string_equal(got, "Up About an hour (Paused)");
	free(got);

	struct ctr_state e = { .state = "exited", .exit_code = 0, .started_at = (char *) "2024-05-01T10:00:00Z",
	                       .finished_at = (char *) "2024-05-01T10:00:10Z" };
	got = ctr_state_status(&e, t0 + 12);
	assert_string_equal(got, "Exited (0) 2 seconds ago");
	free(got);
	e.exit_code = 3;
	got = ctr_state_status(&e, t0 + 10 + 7200);
	assert_string_equal(got, "Exited (3) 2 hours ago");
	free(got);

	struct ctr_state cr = { .state = "created" };
	got = ctr_state_status(&cr, t0);
	assert_string_equal(got, "Created");
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(insert_get_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(ambiguous_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(name_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(duplicate_name, setup, teardown),
		cmocka_unit_test_setup_teardown(duplicate_name_race, setup, teardown),
		cmocka_unit_test_setup_teardown(generated_names, setup, teardown),
		cmocka_unit_test_setup_teardown(delete_releases_layers, setup, teardown),
		cmocka_unit_test_setup_teardown(rename_container, setup, teardown),
		cmocka_unit_test_setup_teardown(walk_newest_first, setup, teardown),
		cmocka_unit_test(options_round_trip),
		cmocka_unit_test(options_defaults_and_errors),
		cmocka_unit_test_setup_teardown(state_read, setup, teardown),
		cmocka_unit_test(status_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
