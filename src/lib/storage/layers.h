/* layers.h — the store of unpacked layers (overlay lower directories).
 *
 * Promises: <root>/layers/<chainhex>/ exists only once its content is
 * complete and durable: extraction happens in .tmp-<chainhex>-<random>/, is
 * synced, then renamed into place.  A per-layer flock (.lock-<chainhex>)
 * serialises extractors and deleters across processes, so two pulls of the
 * same layer extract it once.  Deletion first renames the layer away
 * (.del-<chainhex>-<random>), so a crash never leaves a half-deleted layer
 * under its real name; layer_store_sweep() removes such leftovers.  The layers
 * directory is mode 0700: setuid binaries inside layers are not reachable by
 * unprivileged host users.  Every chain id is validated before it becomes
 * part of a path.
 */
#ifndef BERTH_STORAGE_LAYERS_H
#define BERTH_STORAGE_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "core/digest.h"
#include "core/error.h"

struct layer_store {
	int root_fd;        /* store root (owned: a dup of the caller's fd) */
	int layers_fd;      /* layers/ */
	char *layers_path;  /* absolute "<root>/layers", for overlay options */
};

/* Creates layers/ (0700) when missing.  store_root_path must be the absolute
 * path of store_root_fd (used only to build layer_path() strings). */
int layer_store_open(int store_root_fd, const char *store_root_path, struct layer_store *ls,
                     struct berth_error *err);
void layer_store_close(struct layer_store *ls);
int layer_exists(struct layer_store *ls, const char *chain_id);   /* 1 / 0 / -errno */

struct layer_tx;
/* flock .lock-<hex> (waits on another extractor); -EEXIST (no message) if the
 * layer is present; else makes .tmp-<hex>-XXXXXX (0755) and returns its
 * O_DIRECTORY dirfd (owned by tx) for image_unpack */
int layer_begin(struct layer_store *ls, const char *chain_id, struct layer_tx **out, int *dirfd,
                struct berth_error *err);
/* syncfs, rename to <hex>, fsync layers dir.  Always frees tx and unlocks;
 * on failure the tmp dir is removed.  Do not call abort afterwards. */
int layer_commit(struct layer_tx *tx, struct berth_error *err);
void layer_abort(struct layer_tx *tx);                             /* rm -rf tmp, unlock; NULL ok */
/* absolute path "<root>/layers/<hex>", for overlay lowerdir; -ENAMETOOLONG / -EINVAL */
int layer_path(struct layer_store *ls, const char *chain_id, char *buf, size_t len);
/* -ENOENT when absent.  Takes the layer lock (waits on an extractor). */
int layer_delete(struct layer_store *ls, const char *chain_id, struct berth_error *err);
/* remove .tmp-* / .del-* dirs whose lock is not held (crash leftovers) and
 * lock files of absent layers; returns the number of directories removed */
int layer_store_sweep(struct layer_store *ls);
/* fn for every committed layer; a non-zero return stops the walk and is returned */
int layer_walk(struct layer_store *ls, int (*fn)(void *ctx, const char *chain_id), void *ctx);
/* Sum of st_size of the regular files in the layer (hard links counted
 * once); -ENOENT / -errno */
int64_t layer_disk_usage(struct layer_store *ls, const char *chain_id);

#endif
