/* db.h — image and container metadata in SQLite (<root>/berth.db).
 *
 * Promises: images, their names and repo digests, layers, containers and the
 * blob and layer references used by garbage collection are kept in one SQLite
 * database shared by concurrent CLI processes.  Every statement is prepared
 * with bound parameters (no value is ever formatted into SQL).  The database
 * runs in WAL mode with busy_timeout 30 s (writers queue instead of failing)
 * and foreign_keys on; multi-step changes go inside db_begin()/db_commit()
 * (BEGIN IMMEDIATE, so two writers never deadlock upgrading read locks).
 * Durability: synchronous=NORMAL.  In WAL mode that is safe against a crash
 * of any process at any point (a committed transaction is in the WAL before
 * COMMIT returns); only a power loss / kernel crash may lose the most recent
 * commits, and it never corrupts the database.  Everything referenced from
 * here (blobs, layer dirs) is written durably before its row is inserted, so
 * a lost commit leaves unreferenced data for GC, never a dangling row.  The
 * schema is created in one transaction and versioned by PRAGMA user_version;
 * an older store is migrated forward in the same transaction when opened
 * (version 1 -> 2 adds the containers table), so a store keeps working
 * across upgrades and an older berth refuses a newer store (-EPROTO).
 * One struct berth_db = one connection, to be used by one thread at a time.
 */
#ifndef BERTH_DB_DB_H
#define BERTH_DB_DB_H

#include <stddef.h>
#include <stdint.h>

#include "core/digest.h"
#include "core/error.h"

#define BERTH_DB_SCHEMA_VERSION 2

struct berth_db;                   /* sqlite3 handle; WAL; busy_timeout 30000; foreign_keys on */
/* creates the file (0600) and the schema (user_version); -EPROTO when the
 * database was written by a newer berth (higher user_version) */
int db_open(const char *path, struct berth_db **out, struct berth_error *err);
void db_close(struct berth_db *db);
int db_begin(struct berth_db *db, struct berth_error *err);     /* BEGIN IMMEDIATE */
int db_commit(struct berth_db *db, struct berth_error *err);
void db_rollback(struct berth_db *db);

struct db_image {
	char id[BERTH_DIGEST_MAX];              /* config digest */
	char manifest_digest[BERTH_DIGEST_MAX]; /* manifest stored in content store */
	char *manifest_media_type;
	char *index_digest;                     /* NULL unless pulled through an index */
	char *created;                          /* config "created" (RFC 3339) */
	char *os, *architecture, *variant;
	int64_t size;                           /* sum of unpacked layer sizes */
	int64_t added;                          /* unix time stored */
	char **chain_ids; size_t n_layers;      /* bottom to top */
};
void db_image_clear(struct db_image *im);
/* upsert + image_layers rows (replaced); validates id, manifest digest and
 * chain ids (-EINVAL).  Layers need not be in the layers table. */
int db_image_put(struct berth_db *db, const struct db_image *im, struct berth_error *err);
int db_image_get(struct berth_db *db, const char *id, struct db_image *out, struct berth_error *err); /* -ENOENT */
/* full id, or unique hex prefix (>=3, with or without "sha256:") -> id;
 * -ENOENT / -EEXIST (ambiguous, with the count) / -EINVAL (too short, not hex) */
int db_image_resolve_id(struct berth_db *db, const char *prefix, char out[BERTH_DIGEST_MAX], struct berth_error *err);
/* removes the image and its names, repo digests, image_layers and
 * image_blobs rows (-ENOENT) */
int db_image_delete(struct berth_db *db, const char *id, struct berth_error *err);
/* ordered by added (newest first) then id; a non-zero return from fn stops
 * the walk and is returned */
int db_images_walk(struct berth_db *db, int (*fn)(void *ctx, const struct db_image *im), void *ctx);

/* names: "docker.io/library/busybox:latest" -> image id. Setting a name moves it from any other image.
 * The image must exist (-ENOENT). */
int db_name_set(struct berth_db *db, const char *name, const char *image_id, struct berth_error *err);
int db_name_get(struct berth_db *db, const char *name, char out_id[BERTH_DIGEST_MAX]);   /* 0 / -ENOENT */
int db_name_remove(struct berth_db *db, const char *name, struct berth_error *err);       /* -ENOENT */
int db_names_of(struct berth_db *db, const char *image_id, char ***names);  /* strv, sorted; returns count */
/* repo digests: ("docker.io/library/busybox", "sha256:manifest") -> image id (moves like names) */
int db_repo_digest_add(struct berth_db *db, const char *repo, const char *digest, const char *image_id, struct berth_error *err);
int db_repo_digest_get(struct berth_db *db, const char *repo, const char *digest, char out_id[BERTH_DIGEST_MAX]); /* 0 / -ENOENT */
int db_repo_digests_of(struct berth_db *db, const char *image_id, char ***refs);  /* "repo@sha256:...", sorted; returns count */

struct db_layer { char chain_id[BERTH_DIGEST_MAX]; char diff_id[BERTH_DIGEST_MAX]; char *parent; /* chain id or NULL */
                  char *blob_digest; char *media_type; int64_t blob_size; int64_t size; /* unpacked bytes */ };
int db_layer_put(struct berth_db *db, const struct db_layer *l, struct berth_error *err);   /* insert or ignore */
int db_layer_get(struct berth_db *db, const char *chain_id, struct db_layer *out);         /* 0 / -ENOENT */
void db_layer_clear(struct db_layer *l);
/* blob references of an image: manifest, config, index, layer blobs (idempotent) */
int db_image_blob_add(struct berth_db *db, const char *image_id, const char *digest, struct berth_error *err);
/* Garbage: blobs and layers no image references (and, for layers, no container — table containers(image_id)
 * comes in #6; keep a `layer_holds(chain_id, holder)` table others can use). Returned strv are owned by caller.
 * Blobs: every digest the db has seen (db_image_blob_add, layers.blob_digest,
 * images' id/manifest/index digests) that no image_blobs row and no image's
 * id/manifest_digest/index_digest references any more — e.g. what an
 * db_image_delete() left behind.  The store may no longer hold some of them.
 * Layers: rows not in image_layers, not held, and not a chain parent of a
 * layer that is (overlay needs the whole chain).
 * Both return the count (sorted strv, never NULL on success).  Run the
 * list + forget + delete sequence inside db_begin()/db_commit() so a
 * concurrent pull cannot add a reference in between. */
int db_unreferenced_blobs(struct berth_db *db, char ***digests);
int db_unreferenced_layers(struct berth_db *db, char ***chain_ids);
/* 1 when an image references the blob (see above), 0 when not: for sweeping
 * store blobs the db never heard of (interrupted pulls). */
int db_blob_referenced(struct berth_db *db, const char *digest);
/* drop the row(s): the digest leaves the known set and layers.blob_digest
 * pointing at it is cleared (the layer stays, its blob is gone).
 * -EBUSY when still referenced; 0 also when unknown. */
int db_blob_forget(struct berth_db *db, const char *digest);
/* layers row; -EBUSY when referenced, held or a needed parent; 0 when unknown */
int db_layer_forget(struct berth_db *db, const char *chain_id);
/* 1 when some holder (a container) holds the layer, 0 when not */
int db_layer_held(struct berth_db *db, const char *chain_id);
/* holder: e.g. a container id.  Idempotent. */
int db_layer_hold(struct berth_db *db, const char *chain_id, const char *holder, struct berth_error *err);
/* drops every hold of holder (0 also when it held nothing) */
int db_layer_release(struct berth_db *db, const char *holder, struct berth_error *err);

/* ---- containers (schema version 2) ---- */
#define DB_CONTAINER_ID_LEN 64
struct db_container {
	char id[DB_CONTAINER_ID_LEN + 1];       /* 64 lowercase hex */
	char *name;                             /* unique, without "/" */
	char image_id[BERTH_DIGEST_MAX];
	char *image_ref;                        /* NULL allowed */
	int64_t created;                        /* unix nanoseconds */
	char *runtime;                          /* NULL allowed */
	char *record;                           /* JSON text */
};
void db_container_clear(struct db_container *c);
/* Inserts the row and a layer hold by "container:<id>" for each chain id, in
 * one transaction (a savepoint inside the caller's).  A taken name ->
 * -EEXIST with docker's conflict text naming the holder; a taken id ->
 * -EADDRINUSE (the caller draws a new one); -EINVAL for a malformed id,
 * image id or chain id, or an empty name or record. */
int db_container_insert(struct berth_db *db, const struct db_container *c, char *const *chain_ids,
                        size_t n_layers, struct berth_error *err);
int db_container_get(struct berth_db *db, const char *id, struct db_container *out,
                     struct berth_error *err);   /* -ENOENT "No such container: id" */
/* exact id, exact name ("/" stripped), then unique id prefix (hex, any
 * length): -ENOENT "No such container: s", -EEXIST "multiple IDs found with
 * provided prefix: s" */
int db_container_resolve(struct berth_db *db, const char *s, char id[DB_CONTAINER_ID_LEN + 1],
                         struct berth_error *err);
/* row + the holds of "container:<id>", one transaction; -ENOENT */
int db_container_delete(struct berth_db *db, const char *id, struct berth_error *err);
/* -ENOENT, -EEXIST (docker's conflict text) */
int db_container_rename(struct berth_db *db, const char *id, const char *new_name, struct berth_error *err);
/* newest first (created, then insertion order); rows are read before fn runs */
/* replace the record JSON text of a container */
int db_container_set_record(struct berth_db *db, const char *id, const char *record, struct berth_error *err);
int db_containers_walk(struct berth_db *db, int (*fn)(void *ctx, const struct db_container *c), void *ctx);
/* number of containers created from image_id (>= 0) or -errno: `rmi` refuses
 * an image in use without -f */
int db_containers_using_image(struct berth_db *db, const char *image_id);

#endif
