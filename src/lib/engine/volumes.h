/* volumes.h — named and anonymous volumes (docker's "local" driver).
 *
 * A volume is a directory <root>/volumes/<name>/ holding _data (what is
 * mounted into containers), meta.json (creation time, labels, copy-up
 * marker) and refs (the IDs of the containers that use it, one per line).
 * Promises: every change to a volume happens under an flock of its
 * directory, so concurrent berth processes never see a half-created volume,
 * never remove a volume another process has just referenced, and never lose
 * a reference.  A volume with references is never removed (-EBUSY).  Names
 * follow docker's rule [a-zA-Z0-9][a-zA-Z0-9_.-]+; anonymous volumes get 64
 * random hex digits and the label "com.docker.volume.anonymous".  Copy-up
 * reads the container's rootfs only through openat2(RESOLVE_IN_ROOT) and
 * never follows a symlink, so an image cannot make the host copy its own
 * files into a volume.  JSON output has docker's shape.
 */
#ifndef BERTH_ENGINE_VOLUMES_H
#define BERTH_ENGINE_VOLUMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/error.h"

struct berth_db;
struct volume_store;

#define VOLUME_ANON_LABEL "com.docker.volume.anonymous"

/* root: the store root (volumes live in <root>/volumes, created when
 * missing).  db may be NULL: references are kept in each volume's refs file
 * (see volume_ref), the db is only kept for the caller's convenience. */
int volume_store_open(const char *root, struct berth_db *db, struct volume_store **out, struct berth_error *err);
void volume_store_close(struct volume_store *vs);

/* Create a volume (name NULL = anonymous).  An existing volume of that name
 * is returned as is (docker's behaviour).  labels: a JSON object of strings
 * or NULL (borrowed).  *name_out (may be NULL) receives the name. */
int volume_create(struct volume_store *vs, const char *name, json_t *labels, char **name_out,
		  struct berth_error *err);

/* <root>/volumes/<name>/_data into buf; -ENOENT when no such volume,
 * -EINVAL for an invalid name, -ENAMETOOLONG when buf is too small. */
int volume_path(struct volume_store *vs, const char *name, char *buf, size_t len);

/* The first time a volume is used (and only when its _data is empty), copy
 * the tree at dst inside the mounted rootfs (files, dirs, symlinks as links,
 * devices/fifos, hard links, modes, owners, times, xattrs best effort) into
 * it, and give _data dst's owner and mode.  Marks the volume so later calls
 * do nothing.  A dst missing from the image copies nothing. */
int volume_copy_up(struct volume_store *vs, const char *name, int rootfs_dirfd, const char *dst,
		   struct berth_error *err);

/* Record that container ctr_id uses volume name (idempotent); -ENOENT when
 * the volume does not exist.  The engine calls it at create. */
int volume_ref(struct volume_store *vs, const char *name, const char *ctr_id, struct berth_error *err);
/* Drop ctr_id from every volume's references (idempotent); at rm. */
int volume_unref(struct volume_store *vs, const char *ctr_id, struct berth_error *err);
/* Whether a volume has references: 1 in use, 0 not, -ENOENT no such volume. */
int volume_in_use(struct volume_store *vs, const char *name);

/* -EBUSY "remove x: volume is in use - [ids]"; -ENOENT "no such volume: x"
 * (0 with force, as docker's -f). */
int volume_remove(struct volume_store *vs, const char *name, bool force, struct berth_error *err);

/* A JSON array of docker-shaped volume objects, sorted by name. */
int volume_list(struct volume_store *vs, json_t **out, struct berth_error *err);
/* {"CreatedAt","Driver":"local","Labels","Mountpoint","Name","Options":null,"Scope":"local"} */
json_t *volume_inspect(struct volume_store *vs, const char *name, struct berth_error *err);

/* Remove every volume without references.  *removed: NULL-terminated names
 * (may be NULL on input to not want them), *reclaimed: bytes freed.
 * Returns the number removed or -errno. */
int volume_prune(struct volume_store *vs, char ***removed, int64_t *reclaimed, struct berth_error *err);

#endif
