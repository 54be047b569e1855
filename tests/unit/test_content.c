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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/digest.h"
#include "core/fs.h"
#include "storage/content.h"

struct ctx {
	char root[PATH_MAX];
	int root_fd;
	struct content_store cs;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	strcpy(c->root, "/tmp/berth-content.XXXXXX");
	assert_non_null(mkdtemp(c->root));
	c->root_fd = open(c->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(c->root_fd >= 0);
	struct berth_error err = { 0 };
	assert_int_equal(content_open(c->root_fd, &c->cs, &err), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	content_close(&c->cs);
	close(c->root_fd);
	berth_rm_rf(c->root);
	free(c);
	return 0;
}

/* Number of entries of root/sub (excluding . and ..) */
static int count_entries(const char *root, const char *sub)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", root, sub);
	DIR *d = opendir(p);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static bool path_exists(const char *root, const char *sub)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", root, sub);
	struct stat st;
	return lstat(p, &st) == 0;
}

static void partial_path(const char *digest, char *buf, size_t len)
{
	snprintf(buf, len, "ingest/sha256-%s.partial", berth_digest_hex(digest));
}

static int walk_count(void *ctx, const char *digest, int64_t size)
{
	(*(int *) ctx)++;
	assert_true(berth_digest_valid(digest));
	assert_true(size >= 0);
	return 0;
}

static void write_commit_has_read(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	const char data[] = "hello, content store";
	size_t len = strlen(data);
	char digest[BERTH_DIGEST_MAX];
	assert_int_equal(berth_digest_buf(data, len, digest), 0);

	/* layout */
	_cleanup_free_ char *layout = NULL;
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/oci-layout", c->root);
	assert_int_equal(berth_read_file(p, &layout, NULL), 0);
	assert_string_equal(layout, "{\"imageLayoutVersion\":\"1.0.0\"}");

	assert_int_equal(content_has(&c->cs, digest, NULL), 0);
	struct content_writer *w = NULL;
	int64_t off = -1;
	assert_int_equal(content_writer_begin(&c->cs, digest, (int64_t) len, &w, &off, &err), 0);
	assert_int_equal(off, 0);
	assert_int_equal(content_writer_write(w, data, 5, &err), 0);
	assert_int_equal(content_writer_write(w, data + 5, len - 5, &err), 0);
	assert_int_equal(content_writer_offset(w), (int64_t) len);
	assert_int_equal(content_writer_commit(w, &err), 0);

	int64_t size = -1;
	assert_int_equal(content_has(&c->cs, digest, &size), 1);
	assert_int_equal(size, (int64_t) len);
	_cleanup_free_ char *buf = NULL;
	size_t blen = 0;
	assert_int_equal(content_read_blob(&c->cs, digest, &buf, &blen, &err), 0);
	assert_int_equal(blen, len);
	assert_memory_equal(buf, data, len);
	char sub[256];
	snprintf(sub, sizeof(sub), "blobs/sha256/%s", berth_digest_hex(digest));
	assert_true(path_exists(c->root, sub));
	assert_int_equal(count_entries(c->root, "ingest"), 0);   /* no partial, no lock left */

	/* present: a writer is refused without message */
	berth_error_clear(&err);
	assert_int_equal(content_writer_begin(&c->cs, digest, -1, &w, &off, &err), -EEXIST);
	assert_false(berth_error_isset(&err));

	/* put_buf: computed and verified digests */
	char d2[BERTH_DIGEST_MAX], d3[BERTH_DIGEST_MAX];
	assert_int_equal(content_put_buf(&c->cs, "{\"a\":1}", 7, NULL, d2, &err), 0);
	assert_int_equal(content_has(&c->cs, d2, NULL), 1);
	assert_int_equal(content_put_buf(&c->cs, "{\"a\":1}", 7, d2, d3, &err), 0);   /* already there */
	assert_string_equal(d2, d3);
	berth_error_clear(&err);
	assert_int_equal(content_put_buf(&c->cs, "{\"a\":2}", 7, d2, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "digest mismatch"));
	assert_int_equal(count_entries(c->root, "ingest"), 0);

	int n = 0;
	assert_int_equal(content_walk(&c->cs, walk_count, &n), 0);
	assert_int_equal(n, 2);

	int fd = content_open_blob(&c->cs, digest, &err);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);

	assert_int_equal(content_delete(&c->cs, digest, &err), 0);
	assert_int_equal(content_has(&c->cs, digest, NULL), 0);
	berth_error_clear(&err);
	assert_int_equal(content_delete(&c->cs, digest, &err), -ENOENT);
	berth_error_clear(&err);
	assert_int_equal(content_open_blob(&c->cs, digest, &err), -ENOENT);
	assert_non_null(strstr(err.msg, digest));
}

static void sha512_blobs(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	const char data[] = "sha512 content";
	struct berth_hasher *h;
	assert_int_equal(berth_hasher_new(BERTH_DIGEST_SHA512, &h), 0);
	berth_hasher_update(h, data, strlen(data));
	char digest[BERTH_DIGEST_MAX];
	berth_hasher_final(h, digest);
	berth_hasher_free(h);
	assert_int_equal(content_put_buf(&c->cs, data, strlen(data), digest, NULL, &err), 0);
	char sub[256];
	snprintf(sub, sizeof(sub), "blobs/sha512/%s", berth_digest_hex(digest));
	assert_true(path_exists(c->root, sub));
	assert_int_equal(content_has(&c->cs, digest, NULL), 1);
	assert_int_equal(count_entries(c->root, "blobs/sha256"), 0);
}

static void digest_mismatch_removes_partial(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	char digest[BERTH_DIGEST_MAX], part[256];
	assert_int_equal(berth_digest_buf("abc", 3, digest), 0);
	partial_path(digest, part, sizeof(part));

	struct content_writer *w = NULL;
	int64_t off;
	assert_int_equal(content_writer_begin(&c->cs, digest, 3, &w, &off, &err), 0);
	assert_true(path_exists(c->root, part));
	assert_int_equal(content_writer_write(w, "abd", 3, &err), 0);
	assert_int_equal(content_writer_commit(w, &err), -EBADMSG);
	char want[300];
	snprintf(want, sizeof(want), "blob %s: digest mismatch (got sha256:", digest);
	assert_non_null(strstr(err.msg, want));
	assert_int_equal(content_has(&c->cs, digest, NULL), 0);
	assert_false(path_exists(c->root, part));
	assert_int_equal(count_entries(c->root, "blobs/sha256"), 0);
	assert_int_equal(count_entries(c->root, "ingest"), 0);

	/* size mismatch: too short at commit, too long at write */
	berth_error_clear(&err);
	assert_int_equal(content_writer_begin(&c->cs, digest, 3, &w, &off, &err), 0);
	assert_int_equal(content_writer_write(w, "ab", 2, &err), 0);
	assert_int_equal(content_writer_commit(w, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "size mismatch"));
	assert_false(path_exists(c->root, part));
	berth_error_clear(&err);
	assert_int_equal(content_writer_begin(&c->cs, digest, 3, &w, &off, &err), 0);
	assert_int_equal(content_writer_write(w, "abcd", 4, &err), -EFBIG);
	content_writer_abort(w, false);
	assert_int_equal(count_entries(c->root, "ingest"), 0);
}

static void resume_from_partial(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	char data[100000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char) (i * 7 + i / 300);
	char digest[BERTH_DIGEST_MAX], part[256];
	assert_int_equal(berth_digest_buf(data, sizeof(data), digest), 0);
	partial_path(digest, part, sizeof(part));

	struct content_writer *w = NULL;
	int64_t off = -1;
	assert_int_equal(content_writer_begin(&c->cs, digest, sizeof(data), &w, &off, &err), 0);
	assert_int_equal(off, 0);
	assert_int_equal(content_writer_write(w, data, 40000, &err), 0);
	content_writer_abort(w, true);
	assert_true(path_exists(c->root, part));

	assert_int_equal(content_writer_begin(&c->cs, digest, sizeof(data), &w, &off, &err), 0);
	assert_int_equal(off, 40000);
	assert_int_equal(content_writer_write(w, data + 40000, sizeof(data) - 40000, &err), 0);
	assert_int_equal(content_writer_commit(w, &err), 0);
	assert_int_equal(content_has(&c->cs, digest, NULL), 1);
	assert_false(path_exists(c->root, part));

	/* server ignored the Range header: truncate and send everything */
	assert_int_equal(content_delete(&c->cs, digest, &err), 0);
	assert_int_equal(content_writer_begin(&c->cs, digest, sizeof(data), &w, &off, &err), 0);
	assert_int_equal(content_writer_write(w, data, 1234, &err), 0);
	content_writer_abort(w, true);
	assert_int_equal(content_writer_begin(&c->cs, digest, sizeof(data), &w, &off, &err), 0);
	assert_int_equal(off, 1234);
	assert_int_equal(content_writer_truncate(w, &err), 0);
	assert_int_equal(content_writer_offset(w), 0);
	assert_int_equal(content_writer_write(w, data, sizeof(data), &err), 0);
	assert_int_equal(content_writer_commit(w, &err), 0);
	assert_int_equal(content_has(&c->cs, digest, NULL), 1);

	/* a corrupt partial is hashed as it is, then rejected and removed */
	assert_int_equal(content_delete(&c->cs, digest, &err), 0);
	assert_int_equal(content_writer_begin(&c->cs, digest, sizeof(data), &w, &off, &err), 0);
	assert_int_equal(content_writer_write(w, "garbage", 7, &err), 0);
	content_writer_abort(w, true);
	assert_int_equal(content_writer_begin(&c->cs, digest, sizeof(data), &w, &off, &err), 0);
	assert_int_equal(off, 7);
	assert_int_equal(content_writer_write(w, data + 7, sizeof(data) - 7, &err), 0);
	assert_int_equal(content_writer_commit(w, &err), -EBADMSG);
	assert_false(path_exists(c->root, part));
	assert_int_equal(content_has(&c->cs, digest, NULL), 0);

	/* a partial longer than the expected size is discarded */
	berth_error_clear(&err);
	assert_int_equal(content_writer_begin(&c->cs, digest, -1, &w, &off, &err), 0);
	assert_int_equal(content_writer_write(w, data, sizeof(data), &err), 0);
	assert_int_equal(content_writer_write(w, "x", 1, &err), 0);
	content_writer_abort(w, true);
	assert_int_equal(content_writer_begin(&c->cs, digest, sizeof(data), &w, &off, &err), 0);
	assert_int_equal(off, 0);
	content_writer_abort(w, false);
	assert_int_equal(count_entries(c->root, "ingest"), 0);
}

/* Poll (bounded: 10 s) until pid is blocked in flock(): /proc/locks lists
 * a blocked request as "N: -> FLOCK  ADVISORY  WRITE PID MAJ:MIN:INODE ...". */
static bool wait_flock_waiter(pid_t pid)
{
	for (int i = 0; i < 1000; i++) {
		_cleanup_free_ char *locks = NULL;
		if (berth_read_file("/proc/locks", &locks, NULL) == 0) {
			char *save = NULL;
			for (char *l = strtok_r(locks, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
				const char *arrow = strstr(l, "-> FLOCK");
				int who;
				if (arrow && sscanf(arrow, "-> FLOCK %*s %*s %d", &who) == 1 && who == pid)
					return true;
			}
		}
		usleep(10 * 1000);
	}
	return false;
}

static void concurrent_writers_same_digest(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	const char data[] = "blob fetched by two processes at once";
	size_t len = strlen(data);
	char digest[BERTH_DIGEST_MAX];
	assert_int_equal(berth_digest_buf(data, len, digest), 0);

	int locked[2], go[2];
	assert_int_equal(pipe2(locked, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	pid_t a = fork();
	assert_true(a >= 0);
	if (a == 0) {
		struct content_writer *w;
		int64_t off;
		if (content_writer_begin(&c->cs, digest, (int64_t) len, &w, &off, &err) < 0)
			_exit(10);
		if (content_writer_write(w, data, 10, &err) < 0)
			_exit(11);
		if (write(locked[1], "L", 1) != 1)
			_exit(12);
		char b;
		if (read(go[0], &b, 1) != 1)   /* parent: B is waiting on the lock now */
			_exit(13);
		if (content_writer_write(w, data + 10, len - 10, &err) < 0)
			_exit(14);
		_exit(content_writer_commit(w, &err) == 0 ? 0 : 15);
	}
	char b;
	assert_int_equal(read(locked[0], &b, 1), 1);
	pid_t bpid = fork();
	assert_true(bpid >= 0);
	if (bpid == 0) {
		struct content_writer *w = NULL;
		int64_t off;
		int r = content_writer_begin(&c->cs, digest, (int64_t) len, &w, &off, &err);
		if (r != -EEXIST)
			_exit(20);
		/* it waited for A: when begin returned, the blob was committed */
		_exit(content_has(&c->cs, digest, NULL) == 1 ? 0 : 21);
	}
	/* B must block on A's lock: the kernel lists it as a waiter */
	assert_true(wait_flock_waiter(bpid));
	int status;
	assert_int_equal(waitpid(bpid, &status, WNOHANG), 0);
	assert_int_equal(write(go[1], "G", 1), 1);
	assert_int_equal(waitpid(a, &status, 0), a);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(waitpid(bpid, &status, 0), bpid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(locked[0]);
	close(locked[1]);
	close(go[0]);
	close(go[1]);

	assert_int_equal(count_entries(c->root, "blobs/sha256"), 1);
	assert_int_equal(count_entries(c->root, "ingest"), 0);
	_cleanup_free_ char *buf = NULL;
	size_t blen;
	assert_int_equal(content_read_blob(&c->cs, digest, &buf, &blen, &err), 0);
	assert_int_equal(blen, len);
	assert_memory_equal(buf, data, len);
}

static void invalid_digest_rejected(void **state)
{
	struct ctx *c = *state;
	static const char *const bad[] = {
		"sha256:../../x",
		"sha256:../berth-escape-probe",
		"sha256:../../../../tmp/evil",
		"sha256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"sha256:",
		"",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct berth_error err = { 0 };
		struct content_writer *w = NULL;
		int64_t off = 0;
		assert_int_equal(content_writer_begin(&c->cs, bad[i], 10, &w, &off, &err), -EINVAL);
		assert_null(w);
		assert_true(berth_error_isset(&err));
		assert_non_null(strstr(err.msg, "invalid digest"));
		assert_int_equal(content_has(&c->cs, bad[i], NULL), -EINVAL);
		berth_error_clear(&err);
		assert_int_equal(content_open_blob(&c->cs, bad[i], &err), -EINVAL);
		berth_error_clear(&err);
		assert_int_equal(content_delete(&c->cs, bad[i], &err), -EINVAL);
		berth_error_clear(&err);
		assert_int_equal(content_put_buf(&c->cs, "x", 1, bad[i], NULL, &err), -EINVAL);
	}
	assert_int_equal(count_entries(c->root, "ingest"), 0);
	assert_int_equal(count_entries(c->root, "blobs/sha256"), 0);
	assert_int_equal(count_entries(c->root, "blobs/sha512"), 0);
	assert_int_equal(count_entries(c->root, ""), 3);   /* blobs, ingest, oci-layout */
	assert_int_equal(count_entries(c->root, "blobs"), 2);      /* sha256, sha512 */
}

static void sweep_ingest_leftovers(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	char d1[BERTH_DIGEST_MAX], d2[BERTH_DIGEST_MAX];
	assert_int_equal(berth_digest_buf("one", 3, d1), 0);
	assert_int_equal(berth_digest_buf("two", 3, d2), 0);
	/* an abandoned partial, a crashed put's temp file, a stale lock */
	struct content_writer *w;
	int64_t off;
	assert_int_equal(content_writer_begin(&c->cs, d1, 3, &w, &off, &err), 0);
	assert_int_equal(content_writer_write(w, "on", 2, &err), 0);
	content_writer_abort(w, true);
	int fd = openat(c->cs.ingest_fd, "put-1-0000000000000000.tmp", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	fd = openat(c->cs.ingest_fd, "sha256-deadbeef.lock", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	/* a download in progress */
	assert_int_equal(content_writer_begin(&c->cs, d2, 3, &w, &off, &err), 0);
	assert_int_equal(content_writer_write(w, "tw", 2, &err), 0);

	/* young files stay */
	assert_int_equal(content_sweep(&c->cs, 3600), 0);
	assert_int_equal(count_entries(c->root, "ingest"), 4);   /* d1 partial, tmp, d2 partial + lock */
	/* old ones go, except the one being written */
	assert_int_equal(content_sweep(&c->cs, 0), 2);
	assert_int_equal(count_entries(c->root, "ingest"), 2);
	assert_int_equal(content_writer_write(w, "o", 1, &err), 0);
	assert_int_equal(content_writer_commit(w, &err), 0);
	assert_int_equal(content_has(&c->cs, d2, NULL), 1);
	assert_int_equal(count_entries(c->root, "ingest"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(write_commit_has_read, setup, teardown),
		cmocka_unit_test_setup_teardown(sha512_blobs, setup, teardown),
		cmocka_unit_test_setup_teardown(digest_mismatch_removes_partial, setup, teardown),
		cmocka_unit_test_setup_teardown(resume_from_partial, setup, teardown),
		cmocka_unit_test_setup_teardown(concurrent_writers_same_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(invalid_digest_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(sweep_ingest_leftovers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
