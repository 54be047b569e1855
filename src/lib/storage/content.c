/* content.c — content-addressed blob store; see content.h. */
#include "storage/content.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/lock.h"
#include "core/fs.h"

#define OCI_LAYOUT "{\"imageLayoutVersion\":\"1.0.0\"}"
#define DIR_MODE 0700
#define BLOB_MODE 0644
#define HASH_CHUNK (1 << 20)

struct content_writer {
	struct content_store *cs;
	char digest[BERTH_DIGEST_MAX];
	char partial[NAME_MAX + 1];
	char lock[NAME_MAX + 1];
	int lock_fd;
	int fd;
	int64_t expected;
	int64_t offset;
	struct berth_hasher *h;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int open_dir_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int ensure_dir(int dirfd, const char *name, const char *what, struct berth_error *err)
{
	if (mkdirat(dirfd, name, DIR_MODE) < 0 && errno != EEXIST)
		return berth_errno(err, errno, "content store: creating %s", what);
	int fd = open_dir_at(dirfd, name);
	if (fd < 0)
		return berth_errno(err, -fd, "content store: opening %s", what);
	return fd;
}

/* The directory a digest's blob lives in (blobs/sha256 or blobs/sha512). */
static int algo_fd(struct content_store *cs, const char *digest)
{
	return strncmp(digest, "sha512:", 7) == 0 ? cs->blobs_sha512_fd : cs->blobs_fd;
}

/* "<algo>-<hex>" + suffix, the ingest name of a (valid) digest. */
static void ingest_name(const char *digest, const char *suffix, char *buf, size_t len)
{
	size_t algo_len = (size_t) (strchr(digest, ':') - digest);
	snprintf(buf, len, "%.*s-%s%s", (int) algo_len, digest, berth_digest_hex(digest), suffix);
}

int content_open(int store_root_fd, struct content_store *cs, struct berth_error *err)
{
	cs->root_fd = cs->blobs_fd = cs->blobs_sha512_fd = cs->ingest_fd = -1;
	_cleanup_close_ int root = fcntl(store_root_fd, F_DUPFD_CLOEXEC, 3);
	if (root < 0)
		return berth_errno(err, errno, "content store: duplicating the store root fd");
	_cleanup_close_ int blobs = ensure_dir(root, "blobs", "blobs/", err);
	if (blobs < 0)
		return blobs;
	_cleanup_close_ int s256 = ensure_dir(blobs, "sha256", "blobs/sha256/", err);
	if (s256 < 0)
		return s256;
	_cleanup_close_ int s512 = ensure_dir(blobs, "sha512", "blobs/sha512/", err);
	if (s512 < 0)
		return s512;
	_cleanup_close_ int ingest = ensure_dir(root, "ingest", "ingest/", err);
	if (ingest < 0)
		return ingest;
	struct stat st;
	if (fstatat(root, "oci-layout", &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return berth_errno(err, errno, "content store: oci-layout");
		int r = berth_write_file_atomic(root, "oci-layout", OCI_LAYOUT, strlen(OCI_LAYOUT), BLOB_MODE);
		if (r < 0)
			return berth_errno(err, r, "content store: writing oci-layout");
	}
	cs->root_fd = steal_fd(root);
	cs->blobs_fd = steal_fd(s256);
	cs->blobs_sha512_fd = steal_fd(s512);
	cs->ingest_fd = steal_fd(ingest);
	return 0;
}

void content_close(struct content_store *cs)
{
	if (!cs)
		return;
	close_fd(&cs->root_fd);
	close_fd(&cs->blobs_fd);
	close_fd(&cs->blobs_sha512_fd);
	close_fd(&cs->ingest_fd);
}

int content_has(struct content_store *cs, const char *digest, int64_t *size)
{
	if (!digest || !berth_digest_valid(digest))
		return -EINVAL;
	struct stat st;
	if (fstatat(algo_fd(cs, digest), berth_digest_hex(digest), &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISREG(st.st_mode))
		return -EUCLEAN;
	if (size)
		*size = st.st_size;
	return 1;
}

int content_open_blob(struct content_store *cs, const char *digest, struct berth_error *err)
{
	int r = berth_digest_check(digest, "blob", err);
	if (r < 0)
		return r;
	int fd = openat(algo_fd(cs, digest), berth_digest_hex(digest), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return berth_err(err, ENOENT, "blob %s not found in the content store", digest);
		return berth_errno(err, errno, "blob %s: opening", digest);
	}
	return fd;
}

int content_read_blob(struct content_store *cs, const char *digest, char **buf, size_t *len,
                      struct berth_error *err)
{
	_cleanup_close_ int fd = content_open_blob(cs, digest, err);
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return berth_errno(err, errno, "blob %s: stat", digest);
	if (!S_ISREG(st.st_mode))
		return berth_err(err, EUCLEAN, "blob %s: not a regular file", digest);
	size_t size = (size_t) st.st_size;
	_cleanup_free_ char *data = malloc(size + 1);
	if (!data)
		return berth_err(err, ENOMEM, "blob %s: out of memory reading %zu bytes", digest, size);
	ssize_t n = berth_read_all(fd, data, size);
	if (n < 0)
		return berth_errno(err, (int) -n, "blob %s: reading", digest);
	if ((size_t) n != size)
		return berth_err(err, EIO, "blob %s: short read (%zd of %zu bytes)", digest, n, size);
	data[size] = '\0';
	*buf = steal_ptr(data);
	if (len)
		*len = size;
	return 0;
}


static void writer_free(struct content_writer *w, bool remove_partial)
{
	if (remove_partial)
		unlinkat(w->cs->ingest_fd, w->partial, 0);
	close_fd(&w->fd);
	berth_unlock_file(w->cs->ingest_fd, w->lock, w->lock_fd);
	if (w->h)
		berth_hasher_free(w->h);
	free(w);
}

static void writer_freep(struct content_writer **w)
{
	if (*w)
		writer_free(*w, false);
}

/* Feed the bytes already in the partial file to the hasher. */
static int rehash_partial(struct content_writer *w, int64_t size)
{
	_cleanup_free_ char *buf = malloc(HASH_CHUNK);
	if (!buf)
		return -ENOMEM;
	int64_t off = 0;
	while (off < size) {
		size_t want = (size_t) (size - off < HASH_CHUNK ? size - off : HASH_CHUNK);
		ssize_t n = pread(w->fd, buf, want, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		berth_hasher_update(w->h, buf, (size_t) n);
		off += n;
	}
	return 0;
}

static int writer_reset(struct content_writer *w)
{
	if (ftruncate(w->fd, 0) < 0)
		return -errno;
	struct berth_hasher *h;
	int r = berth_hasher_new_like(w->digest, &h);
	if (r < 0)
		return r;
	berth_hasher_free(w->h);
	w->h = h;
	w->offset = 0;
	return 0;
}

int content_writer_begin(struct content_store *cs, const char *digest, int64_t expected_size,
                         struct content_writer **out, int64_t *resume_offset, struct berth_error *err)
{
	int r = berth_digest_check(digest, "blob", err);
	if (r < 0)
		return r;
	r = content_has(cs, digest, NULL);
	if (r == 1)
		return -EEXIST;
	if (r < 0)
		return berth_errno(err, r, "blob %s: checking the content store", digest);

	_cleanup_(writer_freep) struct content_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return berth_err(err, ENOMEM, "blob %s: out of memory", digest);
	w->cs = cs;
	w->fd = w->lock_fd = -1;
	w->expected = expected_size < 0 ? -1 : expected_size;
	snprintf(w->digest, sizeof(w->digest), "%s", digest);
	ingest_name(digest, ".partial", w->partial, sizeof(w->partial));
	ingest_name(digest, ".lock", w->lock, sizeof(w->lock));

	w->lock_fd = berth_lock_file(cs->ingest_fd, w->lock, true);
	if (w->lock_fd < 0)
		return berth_errno(err, w->lock_fd, "blob %s: locking ingest/%s", digest, w->lock);
	/* Whoever held the lock before us may have just committed the blob. */
	r = content_has(cs, digest, NULL);
	if (r == 1) {
		unlinkat(cs->ingest_fd, w->partial, 0);   /* a leftover, useless now */
		return -EEXIST;
	}
	if (r < 0)
		return berth_errno(err, r, "blob %s: checking the content store", digest);

	w->fd = openat(cs->ingest_fd, w->partial, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, BLOB_MODE);
	if (w->fd < 0)
		return berth_errno(err, errno, "blob %s: opening ingest/%s", digest, w->partial);
	struct stat st;
	if (fstat(w->fd, &st) < 0)
		return berth_errno(err, errno, "blob %s: stat ingest/%s", digest, w->partial);
	if (!S_ISREG(st.st_mode))
		return berth_err(err, EUCLEAN, "blob %s: ingest/%s is not a regular file", digest, w->partial);
	r = berth_hasher_new_like(digest, &w->h);
	if (r < 0)
		return berth_errno(err, r, "blob %s: creating a hasher", digest);

	int64_t have = st.st_size;
	if (w->expected >= 0 && have > w->expected)
		have = 0;       /* cannot be a prefix of this blob: start over */
	if (have > 0 && rehash_partial(w, have) < 0)
		have = 0;       /* unreadable partial: start over rather than fail the pull */
	if (have == 0 || have != st.st_size) {
		r = writer_reset(w);
		if (r < 0)
			return berth_errno(err, r, "blob %s: truncating ingest/%s", digest, w->partial);
	} else {
		w->offset = have;
	}
	if (resume_offset)
		*resume_offset = w->offset;
	*out = steal_ptr(w);
	return 0;
}

int content_writer_write(struct content_writer *w, const void *buf, size_t len, struct berth_error *err)
{
	if (w->offset < 0)
		return berth_err(err, EIO, "blob %s: an earlier write failed", w->digest);
	if (w->expected >= 0 && (uint64_t) w->offset + len > (uint64_t) w->expected)
		return berth_err(err, EFBIG, "blob %s: more data than the expected %" PRId64 " bytes",
		                 w->digest, w->expected);
	const char *p = buf;
	size_t left = len;
	int64_t off = w->offset;
	while (left > 0) {
		ssize_t n = pwrite(w->fd, p, left, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			/* Keep the partial consistent with the hash state. */
			if (ftruncate(w->fd, w->offset) < 0)
				w->offset = -1;
			return berth_errno(err, e, "blob %s: writing ingest/%s", w->digest, w->partial);
		}
		p += n;
		left -= (size_t) n;
		off += n;
	}
	berth_hasher_update(w->h, buf, len);
	w->offset = off;
	return 0;
}

int content_writer_truncate(struct content_writer *w, struct berth_error *err)
{
	int r = writer_reset(w);
	if (r < 0)
		return berth_errno(err, r, "blob %s: truncating ingest/%s", w->digest, w->partial);
	return 0;
}

int64_t content_writer_offset(const struct content_writer *w)
{
	return w->offset;
}

int content_writer_commit(struct content_writer *w, struct berth_error *err)
{
	struct content_store *cs = w->cs;
	char got[BERTH_DIGEST_MAX];
	int r;

	if (w->offset < 0) {
		r = berth_err(err, EIO, "blob %s: an earlier write failed", w->digest);
		goto fail;
	}
	if (w->expected >= 0 && w->offset != w->expected) {
		r = berth_err(err, EBADMSG, "blob %s: size mismatch (got %" PRId64 " bytes, expected %" PRId64 ")",
		              w->digest, w->offset, w->expected);
		goto fail;
	}
	berth_hasher_final(w->h, got);
	if (strcmp(got, w->digest) != 0) {
		r = berth_err(err, EBADMSG, "blob %s: digest mismatch (got %s)", w->digest, got[0] ? got : "nothing");
		goto fail;
	}
	if (fsync(w->fd) < 0) {
		r = berth_errno(err, errno, "blob %s: fsync ingest/%s", w->digest, w->partial);
		goto fail;
	}
	if (renameat(cs->ingest_fd, w->partial, algo_fd(cs, w->digest), berth_digest_hex(w->digest)) < 0) {
		r = berth_errno(err, errno, "blob %s: moving ingest/%s into blobs/", w->digest, w->partial);
		goto fail;
	}
	if (fsync(algo_fd(cs, w->digest)) < 0) {
		/* The blob is in place and verified; only its durability is unknown. */
		r = berth_errno(err, errno, "blob %s: fsync of the blobs directory", w->digest);
		writer_free(w, false);
		return r;
	}
	writer_free(w, false);
	return 0;
fail:
	writer_free(w, true);
	return r;
}

void content_writer_abort(struct content_writer *w, bool keep_partial)
{
	if (!w)
		return;
	/* A kept partial must hold what its size claims after a crash, or the
	 * resumed download would hash garbage (and then fail verification). */
	if (keep_partial && w->offset >= 0)
		fdatasync(w->fd);
	writer_free(w, !keep_partial || w->offset < 0);
}

/* Temp files of content_put_buf: unique across processes (pid + random). */
static int open_tmp(int dirfd, char *name, size_t len)
{
	for (int i = 0; i < 100; i++) {
		uint64_t rnd;
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint64_t) rand() ^ ((uint64_t) i << 32);
		snprintf(name, len, "put-%d-%016" PRIx64 ".tmp", (int) getpid(), rnd);
		int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, BLOB_MODE);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int content_put_buf(struct content_store *cs, const void *buf, size_t len, const char *expected_digest,
                    char out_digest[BERTH_DIGEST_MAX], struct berth_error *err)
{
	char digest[BERTH_DIGEST_MAX];
	int r;
	if (expected_digest) {
		r = berth_digest_check(expected_digest, "blob", err);
		if (r < 0)
			return r;
		struct berth_hasher *h;
		r = berth_hasher_new_like(expected_digest, &h);
		if (r < 0)
			return berth_errno(err, r, "blob %s: creating a hasher", expected_digest);
		berth_hasher_update(h, buf, len);
		berth_hasher_final(h, digest);
		berth_hasher_free(h);
		if (strcmp(digest, expected_digest) != 0)
			return berth_err(err, EBADMSG, "blob %s: digest mismatch (got %s)", expected_digest,
			                 digest[0] ? digest : "nothing");
	} else {
		r = berth_digest_buf(buf, len, digest);
		if (r < 0)
			return berth_errno(err, r, "content store: hashing a %zu byte blob", len);
	}
	if (out_digest)
		memcpy(out_digest, digest, sizeof(digest));

	r = content_has(cs, digest, NULL);
	if (r == 1)
		return 0;
	if (r < 0)
		return berth_errno(err, r, "blob %s: checking the content store", digest);

	char tmp[NAME_MAX + 1];
	_cleanup_close_ int fd = open_tmp(cs->ingest_fd, tmp, sizeof(tmp));
	if (fd < 0)
		return berth_errno(err, fd, "blob %s: creating a temp file in ingest/", digest);
	r = berth_write_all(fd, buf, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(cs->ingest_fd, tmp, algo_fd(cs, digest), berth_digest_hex(digest)) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(cs->ingest_fd, tmp, 0);
		return berth_errno(err, r, "blob %s: writing", digest);
	}
	if (fsync(algo_fd(cs, digest)) < 0)
		return berth_errno(err, errno, "blob %s: fsync of the blobs directory", digest);
	return 0;
}

int content_delete(struct content_store *cs, const char *digest, struct berth_error *err)
{
	int r = berth_digest_check(digest, "blob", err);
	if (r < 0)
		return r;
	if (unlinkat(algo_fd(cs, digest), berth_digest_hex(digest), 0) < 0) {
		if (errno == ENOENT)
			return berth_err(err, ENOENT, "blob %s not found in the content store", digest);
		return berth_errno(err, errno, "blob %s: removing", digest);
	}
	return 0;
}

static int walk_dir(int dfd, const char *algo, int (*fn)(void *ctx, const char *digest, int64_t size), void *ctx)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de)
			return errno ? -errno : 0;
		char digest[BERTH_DIGEST_MAX];
		if (snprintf(digest, sizeof(digest), "%s:%s", algo, de->d_name) >= (int) sizeof(digest))
			continue;
		if (!berth_digest_valid(digest))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		int r = fn(ctx, digest, st.st_size);
		if (r != 0)
			return r;
	}
}

int content_walk(struct content_store *cs, int (*fn)(void *ctx, const char *digest, int64_t size), void *ctx)
{
	int r = walk_dir(cs->blobs_fd, "sha256", fn, ctx);
	if (r != 0)
		return r;
	return walk_dir(cs->blobs_sha512_fd, "sha512", fn, ctx);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && strcmp(s + n - m, suffix) == 0;
}

/* Names of ingest/'s entries, read before anything is removed. */
static int list_ingest(struct content_store *cs, char ***out)
{
	int fd = openat(cs->ingest_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	size_t n = 0;
	_cleanup_strv_ char **v = calloc(1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				return -errno;
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		char **nv = realloc(v, (n + 2) * sizeof(char *));
		if (!nv)
			return -ENOMEM;
		v = nv;
		if (!(v[n] = strdup(de->d_name)))
			return -ENOMEM;
		v[++n] = NULL;
	}
	*out = steal_ptr(v);
	return 0;
}

int content_sweep(struct content_store *cs, int64_t max_age)
{
	_cleanup_strv_ char **names = NULL;
	int r = list_ingest(cs, &names);
	if (r < 0)
		return r;
	time_t now = time(NULL);
	int removed = 0;
	for (char **p = names; *p; p++) {
		const char *name = *p;
		struct stat st;
		if (fstatat(cs->ingest_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		bool old = (int64_t) (now - st.st_mtime) >= max_age;
		if (!strncmp(name, "put-", 4) && has_suffix(name, ".tmp")) {
			if (old && unlinkat(cs->ingest_fd, name, 0) == 0)
				removed++;
		} else if (has_suffix(name, ".partial")) {
			if (!old)
				continue;
			char lock[NAME_MAX + 1];
			snprintf(lock, sizeof(lock), "%.*s.lock", (int) (strlen(name) - strlen(".partial")), name);
			int fd = berth_lock_file(cs->ingest_fd, lock, false);
			if (fd < 0)
				continue;   /* a download is running */
			if (unlinkat(cs->ingest_fd, name, 0) == 0)
				removed++;
			berth_unlock_file(cs->ingest_fd, lock, fd);
		} else if (has_suffix(name, ".lock")) {
			/* Live holders unlink their own lock; this one may be a crash's. */
			int fd = berth_lock_file(cs->ingest_fd, name, false);
			if (fd >= 0)
				berth_unlock_file(cs->ingest_fd, name, fd);
		}
	}
	return removed;
}
