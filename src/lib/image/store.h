/* store.h — the image store: content store + unpacked layers + metadata.
 *
 * This is the one object the engine and the CLI hold to work with images.
 * It ties storage/content (blobs by digest), storage/layers (one directory
 * per chain ID) and db/ (SQLite: images, names, layers, references) under
 * one root directory, and promises:
 *  - An image is visible (in lookups, `berth images`) only once every blob
 *    and layer it needs is committed on disk: registration is the last step
 *    of a pull/load/import and is one SQLite transaction.
 *  - Removal is mark-and-sweep: rows go in one transaction, then files no
 *    row references are deleted under the store's exclusive GC lock.  Pulls,
 *    loads and imports hold that lock shared from their first blob to their
 *    registration, so a sweep never deletes what an ingest is about to
 *    register.  A sweep that finds the lock busy leaves the files for the
 *    next one instead of waiting on someone's network transfer.
 */
#ifndef BERTH_IMAGE_STORE_H
#define BERTH_IMAGE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/digest.h"
#include "core/error.h"
#include "db/db.h"
#include "image/reference.h"
#include "spec/image.h"
#include "storage/content.h"
#include "storage/layers.h"

#define IMAGE_STORE_DEFAULT_ROOT "/var/lib/berth"

struct image_store {
	char *root;                     /* absolute path */
	int root_fd;
	int gc_lock_fd;                 /* <root>/gc.lock */
	int gc_shared;                  /* nesting count of image_store_ingest_begin */
	struct content_store content;
	struct layer_store layers;
	struct berth_db *db;
};

/* Open (creating when missing, mode 0700) the store at root (NULL = $BERTH_ROOT or the default). */
int image_store_open(const char *root, struct image_store **out, struct berth_error *err);
void image_store_close(struct image_store *s);

/* Hold the GC lock shared for the duration of an ingest (pull, load, import). */
int image_store_ingest_begin(struct image_store *s, struct berth_error *err);
void image_store_ingest_end(struct image_store *s);

/* Resolve what a user typed: a name ("busybox", "busybox:1", "host/x@sha256:..."),
 * a full image ID ("sha256:<hex>") or a unique ID prefix ("3f57d9401f8d").
 * -ENOENT "image not known: busybox:latest". When `name_out` is given and the
 * input was a name, the normalised full name is returned there (for untagging). */
int image_store_resolve(struct image_store *s, const char *ref_or_id, char id[BERTH_DIGEST_MAX],
			char **name_out, struct berth_error *err);

/* Everything known about one image, read from the db and the content store. */
struct image_info {
	struct db_image db;
	char **names;                   /* full names, sorted */
	char **repo_digests;            /* "repo@sha256:..." */
	char *manifest_raw; size_t manifest_len;
	struct image_manifest *manifest;
	char *config_raw; size_t config_len;
	struct image_config *config;
};
int image_store_get(struct image_store *s, const char *id, struct image_info *out, struct berth_error *err);
void image_info_clear(struct image_info *info);

/* What one new image consists of, once its blobs and layers are all committed. */
struct image_register {
	const char *manifest_digest;    /* manifest blob in the content store */
	const char *manifest_media_type;
	const char *index_digest;       /* index blob the manifest was chosen from, or NULL */
	const struct image_config *config;
	const char *config_digest;      /* = image ID */
	const struct image_manifest *manifest;
	char **chain_ids;               /* n = manifest->n_layers */
	const int64_t *layer_sizes;     /* unpacked bytes per layer */
	const char *name;               /* full name to tag, or NULL (dangling / by digest) */
	char *const *more_names;        /* further full names (NULL-terminated), or NULL */
	const char *repo;               /* repository for repo digest, or NULL */
	const char *repo_digest;        /* digest users pull it by (index or manifest), or NULL */
};
int image_store_register(struct image_store *s, const struct image_register *reg, struct berth_error *err);
/* Several images in one transaction: all of them become visible, or none. */
int image_store_register_n(struct image_store *s, const struct image_register *regs, size_t n,
			   struct berth_error *err);

/* Tag: point full name (normalised from `name`) at the image `ref_or_id` resolves to. */
int image_store_tag(struct image_store *s, const char *ref_or_id, const char *name, struct berth_error *err);

/* rmi: a name untags (and deletes the image when it was its last name); an ID deletes
 * the image, refusing when it has several names unless force.  Images whose layers a
 * container holds are refused unless force (then only untagged).  `report` lists
 * "Untagged: x" / "Deleted: sha256:..." lines, as docker prints. */
int image_store_remove(struct image_store *s, const char *ref_or_id, bool force, char ***report,
		       struct berth_error *err);
/* image prune: remove dangling images (all unused ones with `all`), then sweep. */
int image_store_prune(struct image_store *s, bool all, char ***report, int64_t *reclaimed,
		      struct berth_error *err);
/* Delete files (blobs, layers, crash leftovers) no row references.  Returns 0, or
 * -EBUSY without an error message when an ingest holds the store (files stay for the next sweep). */
int image_store_sweep(struct image_store *s, int64_t *reclaimed, struct berth_error *err);

/* Walk images (sorted by `added`, newest first). */
int image_store_walk(struct image_store *s, int (*fn)(void *ctx, const struct db_image *im), void *ctx);

/* docker-compatible `image inspect` object for one image. */
json_t *image_store_inspect(struct image_store *s, const char *id, struct berth_error *err);

/* Where a layer is unpacked (for overlay lowerdir) */
int image_store_layer_path(struct image_store *s, const char *chain_id, char *buf, size_t len);

/* Display helpers: "busybox:latest" from a full name, "<none>" when NULL */
char *image_name_familiar(const char *full_name);

#endif
