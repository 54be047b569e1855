#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/digest.h"
#include "core/fs.h"
#include "storage/layers.h"

struct ctx {
	char root[PATH_MAX];
	int root_fd;
	struct layer_store ls;
	char chain[BERTH_DIGEST_MAX];
	char chain2[BERTH_DIGEST_MAX];
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	strcpy(c->root, "/tmp/berth-layers.XXXXXX");
	assert_non_null(mkdtemp(c->root));
	c->root_fd = open(c->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(c->root_fd >= 0);
	struct berth_error err = { 0 };
	assert_int_equal(layer_store_open(c->root_fd, c->root, &c->ls, &err), 0);
	char diff[BERTH_DIGEST_MAX];
	assert_int_equal(berth_digest_buf("layer0", 6, diff), 0);
	assert_int_equal(berth_chain_id(NULL, diff, c->chain), 0);
	assert_int_equal(berth_digest_buf("layer1", 6, diff), 0);
	assert_int_equal(berth_chain_id(c->chain, diff, c->chain2), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	layer_store_close(&c->ls);
	close(c->root_fd);
	berth_rm_rf(c->root);
	free(c);
	return 0;
}

static int count_prefix(const char *root, const char *prefix)
{
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/layers", root);
	DIR *d = opendir(p);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && !strncmp(de->d_name, prefix, strlen(prefix)))
			n++;
	closedir(d);
	return n;
}

static void put_file(int dirfd, const char *name, const char *data)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(berth_write_all(fd, data, strlen(data)), 0);
	close(fd);
}

static int walk_collect(void *ctx, const char *chain_id)
{
	char (*seen)[BERTH_DIGEST_MAX] = ctx;
	for (int i = 0; i < 4; i++)
		if (!seen[i][0]) {
			snprintf(seen[i], BERTH_DIGEST_MAX, "%s", chain_id);
			return 0;
		}
	return -E2BIG;
}

static void begin_commit_exists_path_delete(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	char p[PATH_MAX + 256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/layers", c->root);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);

	assert_int_equal(layer_exists(&c->ls, c->chain), 0);
	struct layer_tx *tx = NULL;
	int dfd = -1;
	assert_int_equal(layer_begin(&c->ls, c->chain, &tx, &dfd, &err), 0);
	assert_true(dfd >= 0);
	assert_true(fcntl(dfd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(count_prefix(c->root, ".tmp-"), 1);
	assert_int_equal(fstat(dfd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(mkdirat(dfd, "etc", 0755), 0);
	int etc = openat(dfd, "etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(etc >= 0);
	put_file(etc, "hello", "hello world\n");          /* 12 bytes */
	assert_int_equal(linkat(etc, "hello", dfd, "hello-link", 0), 0);  /* counted once */
	put_file(dfd, "top", "1234567");                     /* 7 bytes */
	assert_int_equal(symlinkat("etc/hello", dfd, "sym"), 0);
	close(etc);
	assert_int_equal(layer_commit(tx, &err), 0);

	assert_int_equal(layer_exists(&c->ls, c->chain), 1);
	assert_int_equal(count_prefix(c->root, ".tmp-"), 0);
	assert_int_equal(count_prefix(c->root, ".lock-"), 0);
	char path[PATH_MAX];
	assert_int_equal(layer_path(&c->ls, c->chain, path, sizeof(path)), 0);
	snprintf(p, sizeof(p), "%s/layers/%s", c->root, berth_digest_hex(c->chain));
	assert_string_equal(path, p);
	snprintf(p, sizeof(p), "%s/etc/hello", path);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(layer_path(&c->ls, c->chain, path, 20), -ENAMETOOLONG);
	assert_int_equal(layer_disk_usage(&c->ls, c->chain), 12 + 7);
	assert_int_equal(layer_disk_usage(&c->ls, c->chain2), -ENOENT);

	char seen[4][BERTH_DIGEST_MAX] = { { 0 } };
	assert_int_equal(layer_walk(&c->ls, walk_collect, seen), 0);
	assert_string_equal(seen[0], c->chain);
	assert_int_equal(seen[1][0], 0);

	berth_error_clear(&err);
	assert_int_equal(layer_begin(&c->ls, c->chain, &tx, &dfd, &err), -EEXIST);
	assert_false(berth_error_isset(&err));
	assert_int_equal(count_prefix(c->root, ".tmp-"), 0);

	assert_int_equal(layer_delete(&c->ls, c->chain, &err), 0);
	assert_int_equal(layer_exists(&c->ls, c->chain), 0);
	assert_int_equal(count_prefix(c->root, ""), 0);      /* no .del-, no lock */
	berth_error_clear(&err);
	assert_int_equal(layer_delete(&c->ls, c->chain, &err), -ENOENT);
	assert_non_null(strstr(err.msg, c->chain));

	/* abort removes the temp dir */
	assert_int_equal(layer_begin(&c->ls, c->chain2, &tx, &dfd, &err), 0);
	put_file(dfd, "x", "x");
	layer_abort(tx);
	assert_int_equal(count_prefix(c->root, ""), 0);
	assert_int_equal(layer_exists(&c->ls, c->chain2), 0);
}

static void relative_root_path_rejected(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	struct layer_store ls;
	assert_int_equal(layer_store_open(c->root_fd, "relative/root", &ls, &err), -EINVAL);
	/* trailing slash normalised */
	char root[PATH_MAX + 1];
	snprintf(root, sizeof(root), "%s/", c->root);
	assert_int_equal(layer_store_open(c->root_fd, root, &ls, &err), 0);
	char want[PATH_MAX + 16];
	snprintf(want, sizeof(want), "%s/layers", c->root);
	assert_string_equal(ls.layers_path, want);
	layer_store_close(&ls);
}

/* Poll (bounded: 10 s) until some process is blocked in flock() on inode
 * ino: /proc/locks lists a blocked request as
 * "N: -> FLOCK  ADVISORY  WRITE PID MAJ:MIN:INODE ...". */
static bool wait_flock_waiter(ino_t ino)
{
	for (int i = 0; i < 1000; i++) {
		_cleanup_free_ char *locks = NULL;
		if (berth_read_file("/proc/locks", &locks, NULL) == 0) {
			char *save = NULL;
			for (char *l = strtok_r(locks, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
				const char *arrow = strstr(l, "-> FLOCK");
				unsigned long got;
				if (arrow && sscanf(arrow, "-> FLOCK %*s %*s %*d %*x:%*x:%lu", &got) == 1 && got == ino)
					return true;
			}
		}
		usleep(10 * 1000);
	}
	return false;
}

/* Child: 0 = extracted and committed, 1 = found it present, >1 = failure */
static int race_child(struct ctx *c, int start_fd)
{
	char b;
	if (read(start_fd, &b, 1) != 0)   /* wait for the parent to close the write end */
		return 2;
	struct berth_error err = { 0 };
	struct layer_tx *tx;
	int dfd;
	int r = layer_begin(&c->ls, c->chain, &tx, &dfd, &err);
	if (r == -EEXIST)
		return layer_exists(&c->ls, c->chain) == 1 ? 1 : 3;
	if (r < 0)
		return 4;
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int) getpid());
	int fd = openat(dfd, "owner", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, pid, strlen(pid)) < 0)
		return 5;
	close(fd);
	/* Commit only once the other one waits on our lock: the race is real. */
	char lock[NAME_MAX + 1];
	snprintf(lock, sizeof(lock), ".lock-%s", berth_digest_hex(c->chain));
	struct stat st;
	if (fstatat(c->ls.layers_fd, lock, &st, 0) < 0 || !wait_flock_waiter(st.st_ino))
		return 7;
	return layer_commit(tx, &err) == 0 ? 0 : 6;
}

static void two_processes_race(void **state)
{
	struct ctx *c = *state;
	int start[2];
	assert_int_equal(pipe2(start, O_CLOEXEC), 0);
	pid_t pids[2];
	for (int i = 0; i < 2; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(start[1]);
			_exit(race_child(c, start[0]));
		}
	}
	close(start[0]);
	close(start[1]);
	int codes[2];
	for (int i = 0; i < 2; i++) {
		int status;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		codes[i] = WEXITSTATUS(status);
	}
	assert_true((codes[0] == 0 && codes[1] == 1) || (codes[0] == 1 && codes[1] == 0));
	assert_int_equal(layer_exists(&c->ls, c->chain), 1);
	assert_int_equal(count_prefix(c->root, ".tmp-"), 0);
	assert_int_equal(count_prefix(c->root, ".lock-"), 0);
	/* the winner's content */
	char p[PATH_MAX + 128];
	snprintf(p, sizeof(p), "%s/layers/%s/owner", c->root, berth_digest_hex(c->chain));
	_cleanup_free_ char *owner = NULL;
	assert_int_equal(berth_read_file(p, &owner, NULL), 0);
	assert_int_equal(atoi(owner), codes[0] == 0 ? pids[0] : pids[1]);
}

static void sweep_stale_dirs(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	int lfd = c->ls.layers_fd;
	char name[NAME_MAX + 1];

	/* crash leftovers: a .tmp- with content, a .del- and a lock file */
	snprintf(name, sizeof(name), ".tmp-%s-abc123", berth_digest_hex(c->chain));
	assert_int_equal(mkdirat(lfd, name, 0755), 0);
	int d = openat(lfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(d >= 0);
	assert_int_equal(mkdirat(d, "sub", 0755), 0);
	put_file(d, "f", "data");
	close(d);
	snprintf(name, sizeof(name), ".del-%s-zzz999", berth_digest_hex(c->chain));
	assert_int_equal(mkdirat(lfd, name, 0755), 0);
	snprintf(name, sizeof(name), ".lock-%s", berth_digest_hex(c->chain));
	int lf = openat(lfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(lf >= 0);
	close(lf);

	/* an extraction in progress (its lock is held) must survive */
	struct layer_tx *tx;
	int dfd;
	assert_int_equal(layer_begin(&c->ls, c->chain2, &tx, &dfd, &err), 0);
	put_file(dfd, "busy", "1");

	assert_int_equal(layer_store_sweep(&c->ls), 2);
	assert_int_equal(count_prefix(c->root, ".tmp-"), 1);
	assert_int_equal(count_prefix(c->root, ".del-"), 0);
	assert_int_equal(count_prefix(c->root, ".lock-"), 1);   /* the live one */
	snprintf(name, sizeof(name), ".tmp-%s-", berth_digest_hex(c->chain2));
	assert_int_equal(count_prefix(c->root, name), 1);

	assert_int_equal(layer_commit(tx, &err), 0);
	assert_int_equal(layer_exists(&c->ls, c->chain2), 1);
	assert_int_equal(layer_store_sweep(&c->ls), 0);
	assert_int_equal(layer_exists(&c->ls, c->chain2), 1);
	assert_int_equal(count_prefix(c->root, "."), 0);
}

static void invalid_chain_id_rejected(void **state)
{
	struct ctx *c = *state;
	static const char *const bad[] = { "sha256:../../x", "sha256:..", "../../etc", "" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct berth_error err = { 0 };
		struct layer_tx *tx = NULL;
		int dfd = -1;
		assert_int_equal(layer_begin(&c->ls, bad[i], &tx, &dfd, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "invalid digest"));
		assert_null(tx);
		assert_int_equal(dfd, -1);
		assert_int_equal(layer_exists(&c->ls, bad[i]), -EINVAL);
		char p[PATH_MAX];
		assert_int_equal(layer_path(&c->ls, bad[i], p, sizeof(p)), -EINVAL);
		berth_error_clear(&err);
		assert_int_equal(layer_delete(&c->ls, bad[i], &err), -EINVAL);
		assert_int_equal(layer_disk_usage(&c->ls, bad[i]), -EINVAL);
	}
	assert_int_equal(count_prefix(c->root, ""), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(begin_commit_exists_path_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(relative_root_path_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(two_processes_race, setup, teardown),
		cmocka_unit_test_setup_teardown(sweep_stale_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(invalid_chain_id_rejected, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
