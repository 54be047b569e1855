/* content.h — the content-addressed blob store (manifests, configs, layer tarballs).
 *
 * Promises: a blob appears under <root>/blobs/<algo>/<hex> only after its
 * bytes were verified against the digest and made durable (fsync of the file,
 * atomic rename, fsync of the directory), so a reader never sees a partial or
 * wrong blob, whatever crash happens when.  The layout is OCI image-layout
 * compatible (an `oci-layout` file sits at the store root).  Every digest
 * handed in is validated before it becomes part of a path.  Downloads in
 * progress live in <root>/ingest/<algo>-<hex>.partial guarded by a flock on
 * <algo>-<hex>.lock: two processes fetching the same blob never write the same
 * file; the second one waits and then finds the blob present (-EEXIST).
 * A kept .partial lets an interrupted download resume where it stopped.
 */
#ifndef BERTH_STORAGE_CONTENT_H
#define BERTH_STORAGE_CONTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/digest.h"
#include "core/error.h"

struct content_store {
	int root_fd;    /* the store root (owned: a dup of the caller's fd) */
	int blobs_fd;   /* blobs/sha256 */
	int blobs_sha512_fd; /* blobs/sha512 (added) */
	int ingest_fd;  /* ingest/ */
};

/* Creates blobs/sha256, blobs/sha512, ingest/ and oci-layout below
 * store_root_fd when missing (mode 0700).  store_root_fd stays the caller's. */
int content_open(int store_root_fd, struct content_store *cs, struct berth_error *err);
void content_close(struct content_store *cs);

/* 1 (and *size, when non-NULL) when the blob is committed, 0 when not, -errno
 * (-EINVAL for an invalid digest). */
int content_has(struct content_store *cs, const char *digest, int64_t *size);
/* O_RDONLY|O_CLOEXEC fd of a committed blob; -ENOENT "blob <digest> not found". */
int content_open_blob(struct content_store *cs, const char *digest, struct berth_error *err);
/* Whole blob into a NUL-terminated malloc'd buffer (not re-verified). */
int content_read_blob(struct content_store *cs, const char *digest, char **buf, size_t *len,
                      struct berth_error *err);

struct content_writer;
/* Takes the blob's ingest flock (waits while another process downloads it).
 * Returns -EEXIST (no error message) if the blob is present (possibly
 * committed by that other process meanwhile).  An existing .partial is kept:
 * *resume_offset is its size and its bytes are re-hashed.  expected_size < 0
 * means unknown; a partial longer than a known size is discarded.
 * Never hold a writer while waiting on something another writer of the same
 * blob needs (the lock is exclusive per digest). */
int content_writer_begin(struct content_store *cs, const char *digest, int64_t expected_size,
                         struct content_writer **out, int64_t *resume_offset, struct berth_error *err);
/* Appends; -EFBIG when more than a known expected_size would be written. */
int content_writer_write(struct content_writer *w, const void *buf, size_t len, struct berth_error *err);
/* server ignored Range: restart at 0 (truncates the partial, resets the hash) */
int content_writer_truncate(struct content_writer *w, struct berth_error *err);
/* Bytes received so far (resume offset included). */
int64_t content_writer_offset(const struct content_writer *w);
/* verify size + digest, fsync, rename into blobs/, fsync dir; -EBADMSG
 * "blob <digest>: digest mismatch (got sha256:...)" or "... size mismatch"
 * (partial removed).  Always frees the writer and releases the lock, whatever
 * the outcome: do not call abort afterwards. */
int content_writer_commit(struct content_writer *w, struct berth_error *err);
/* keep_partial: true after a transient network error (resume later); false
 * removes the partial.  Releases the lock and frees w (NULL is a no-op). */
void content_writer_abort(struct content_writer *w, bool keep_partial);

/* Durable write of a small blob held in memory (manifests, configs, index);
 * verifies digest if given (-EBADMSG on mismatch), else computes sha256.
 * out_digest may be NULL.  A blob already present is success. */
int content_put_buf(struct content_store *cs, const void *buf, size_t len, const char *expected_digest,
                    char out_digest[BERTH_DIGEST_MAX], struct berth_error *err);
/* -ENOENT when absent. */
int content_delete(struct content_store *cs, const char *digest, struct berth_error *err);
/* Crash leftovers in ingest/ (added): removes temp files of content_put_buf
 * and .partial files whose lock is free, when not modified for max_age
 * seconds (kept partials stay resumable until then), and lock files nobody
 * holds.  Returns the number of files removed or -errno. */
int content_sweep(struct content_store *cs, int64_t max_age);
/* callback for every committed blob (for GC sweeps); a non-zero return from
 * fn stops the walk and is returned.  Files whose names are not valid
 * digests are skipped. */
int content_walk(struct content_store *cs, int (*fn)(void *ctx, const char *digest, int64_t size), void *ctx);

#endif
