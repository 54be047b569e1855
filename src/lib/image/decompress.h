/* decompress.h — streaming decompression of image layer blobs.
 *
 * A layer blob arrives in pieces (from the network or a file) and must reach
 * the tar reader as a plain byte stream without ever being held whole in
 * memory.  A decompressor takes compressed bytes in any chunking and pushes
 * the decompressed bytes, in chunks of up to 128 KiB, to a caller's sink.
 * Promises:
 *  - gzip (ISA-L igzip when built with it, zlib otherwise) and zstd, both
 *    accepting several concatenated members/frames as `gzip -dc` and
 *    `zstd -dc` do; IMAGE_COMP_NONE passes bytes straight through.
 *  - corrupt data is -EBADMSG with the library's reason; a stream that ends
 *    inside a member/frame is -EBADMSG "truncated ... stream" at finish.
 *  - a negative value returned by the sink aborts and is returned unchanged
 *    (the sink fills err itself if it wants a message).
 */
#ifndef BERTH_IMAGE_DECOMPRESS_H
#define BERTH_IMAGE_DECOMPRESS_H

#include <stddef.h>

#include "core/error.h"
#include "spec/image.h"

/* Same shape as registry_sink_fn: 0 to continue, negative errno to abort. */
typedef int (*decompress_sink_fn)(void *ctx, const void *buf, size_t len);

struct decompressor;

int decompressor_new(enum image_compression comp, struct decompressor **out, struct berth_error *err);
/* Push compressed bytes; decompressed bytes go to sink (same signature as registry_sink_fn) */
int decompressor_feed(struct decompressor *d, const void *buf, size_t len,
                      int (*sink)(void *ctx, const void *buf, size_t len), void *ctx, struct berth_error *err);
/* Input complete: flushes; -EBADMSG when the stream was truncated */
int decompressor_finish(struct decompressor *d, int (*sink)(void *, const void *, size_t), void *ctx,
                        struct berth_error *err);
void decompressor_free(struct decompressor *d);

/* Bytes of compressed input consumed / decompressed output produced so far. */
unsigned long long decompressor_total_in(const struct decompressor *d);
unsigned long long decompressor_total_out(const struct decompressor *d);

/* Name of the backend in use ("isa-l", "zlib", "zstd", "none"), for logs and benchmarks. */
const char *decompressor_backend(const struct decompressor *d);

#endif
