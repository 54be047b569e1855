/* ingest.h — one layer's pipeline: compressed bytes in, blob + unpacked layer out.
 *
 * A pull, a load and an import all hand a layer's bytes to the same pipeline,
 * as a stream, with no intermediate tarball on disk:
 *
 *   write() ──► sha256(compressed) ──► content-store writer (blob)
 *                 └──► decompress ──► sha256(uncompressed) ──► pipe ──► unpack thread
 *
 * The caller's thread hashes, stores and decompresses as bytes arrive (so
 * decompression overlaps the download); a second thread extracts the tar into
 * a fresh layer directory.  Promises:
 *  - Nothing becomes visible unless both digests match: the blob is renamed
 *    into the content store only when its digest and size match the
 *    descriptor, the layer directory only when the uncompressed stream
 *    matches the diff_id.
 *  - A blob already present is not written again, a layer already unpacked
 *    is not unpacked again; ingest_plan() tells the caller which of the two
 *    work items remain so a pull can skip the download entirely.
 *  - On a resumed download the bytes of the kept partial blob are replayed
 *    into the decompressor first, so the unpack always sees the whole stream.
 *  - Any failure (digest mismatch, hostile tar entry, I/O) aborts both halves:
 *    the layer's temp dir is removed, and the partial blob is kept only when
 *    the caller says the failure was transient (network).
 * The process must ignore SIGPIPE: an extractor that stops early (hostile
 * entry) closes its end of the pipe, and the writer must see EPIPE, not die.
 */
#ifndef BERTH_IMAGE_INGEST_H
#define BERTH_IMAGE_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "core/digest.h"
#include "core/error.h"
#include "image/store.h"
#include "image/unpack.h"
#include "spec/image.h"

struct ingest_params {
	const char *blob_digest;        /* expected digest of the bytes written */
	int64_t blob_size;              /* expected size, or -1 */
	enum image_compression comp;
	const char *diff_id;            /* expected digest of the uncompressed tar */
	const char *chain_id;           /* layer directory name */
	bool store_blob;                /* keep the compressed bytes in the content store */
	const char *what;               /* for messages: "layer sha256:abcd… of busybox:latest" */
	struct unpack_opts unpack;
};

struct ingest_plan { bool need_blob, need_layer; };
/* Which halves of the work are still to do (blob missing, layer missing). */
int ingest_plan(struct image_store *s, const struct ingest_params *p, struct ingest_plan *plan);

struct ingest;
/* Start the pipeline.  Returns 0 with *out set, and *resume_offset = bytes
 * of a kept partial download the caller may skip (0 when none or when the
 * blob is not being stored).  Returns -EEXIST (no message) when, after
 * waiting on another process's locks, there is nothing left to do. */
int ingest_begin(struct image_store *s, const struct ingest_params *p, struct ingest **out,
		 int64_t *resume_offset, struct berth_error *err);
int ingest_write(struct ingest *in, const void *buf, size_t len, struct berth_error *err);
/* The source restarted from byte 0 (a registry ignored a Range request): drop
 * what was written so far and start both halves again. */
int ingest_restart(struct ingest *in, struct berth_error *err);
/* All bytes written: verify, commit blob and layer.  *size = unpacked bytes. */
int ingest_finish(struct ingest *in, int64_t *unpacked_size, struct berth_error *err);
/* Abort; keep_partial keeps the partial blob for a later resume. */
void ingest_abort(struct ingest *in, bool keep_partial);

/* Bytes written so far, for progress (thread-safe read). */
uint64_t ingest_bytes(const struct ingest *in);

/* Unpack a layer whose blob is already in the content store (load, or a pull
 * that found the blob but not the layer). */
int ingest_from_blob(struct image_store *s, const struct ingest_params *p, int64_t *unpacked_size,
		     struct berth_error *err);

#endif
