/* pull.h — fetch an image from a registry into the image store; push one back.
 *
 * Promises: a pull verifies every byte it keeps (manifest against the digest
 * it was asked for or the registry announced, config and layer blobs against
 * their descriptors, uncompressed layers against the config's diff_ids),
 * downloads each blob at most once across concurrent processes, runs several
 * layer pipelines at once, and makes the image visible only when all of it is
 * on disk.  A killed pull leaves partial downloads that the next pull resumes
 * with a Range request, and nothing that looks complete.  A push uploads only
 * the blobs the registry lacks (mounting from another repository of the same
 * registry when the image came from there), then the manifest.
 */
#ifndef BERTH_IMAGE_PULL_H
#define BERTH_IMAGE_PULL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/digest.h"
#include "core/error.h"
#include "image/registry.h"
#include "image/store.h"

enum pull_layer_state {
	PULL_WAITING,        /* queued */
	PULL_EXISTS,         /* blob and layer already present */
	PULL_DOWNLOADING,    /* bytes arriving (and being unpacked as they arrive) */
	PULL_EXTRACTING,     /* blob present, unpacking from it */
	PULL_VERIFYING,      /* all bytes in, checking digests and committing */
	PULL_DONE,
	PULL_FAILED,
};

/* Progress callbacks; called from worker threads, serialised by the puller. */
struct pull_progress {
	void *ctx;
	/* A line of narrative: "Trying to pull docker.io/library/busybox:latest...",
	 * "Writing manifest to image destination", ... */
	void (*message)(void *ctx, const char *line);
	/* Layer idx of n changed state or advanced; total = -1 when unknown. */
	void (*layer)(void *ctx, size_t idx, size_t n, const char *digest, enum pull_layer_state st,
		      uint64_t done, int64_t total);
};

struct pull_opts {
	const char *platform;           /* "os/arch[/variant]" or NULL for the host's */
	struct registry_opts registry;
	unsigned jobs;                  /* layers at once, 0 = default (3) */
	const struct pull_progress *progress;   /* may be NULL */
};

/* Pull ref (as typed: "busybox", "host:5000/x:y", "x@sha256:...") and return the image ID. */
int image_pull(struct image_store *s, const char *ref, const struct pull_opts *opts,
	       char id_out[BERTH_DIGEST_MAX], struct berth_error *err);

struct push_opts {
	struct registry_opts registry;
	const struct pull_progress *progress;   /* same callbacks; states DOWNLOADING = uploading */
};
/* Push the image `src` resolves to, under `dest` (NULL = src, which must then be a name).
 * Writes the pushed manifest digest to digest_out. */
int image_push(struct image_store *s, const char *src, const char *dest, const struct push_opts *opts,
	       char digest_out[BERTH_DIGEST_MAX], struct berth_error *err);

#endif
