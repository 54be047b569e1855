/* db.c — image metadata in SQLite; see db.h. */
#include "db/db.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"

#define DB_BUSY_TIMEOUT_MS 30000

struct berth_db {
	sqlite3 *h;
	char *path;
};

static void finalizep(sqlite3_stmt **st)
{
	if (*st)
		sqlite3_finalize(*st);
}
#define _cleanup_stmt_ _cleanup_(finalizep)

/* Version 1.  Blobs: `blobs` is every digest the db has heard of, so that
 * after an image and its image_blobs rows are gone we still know which
 * blobs became garbage.  image_layers.chain_id has no foreign key: an image
 * row may be written before or after its layers rows. */
static const char schema_v1[] =
	"CREATE TABLE images ("
	"  id TEXT PRIMARY KEY,"
	"  manifest_digest TEXT NOT NULL,"
	"  manifest_media_type TEXT,"
	"  index_digest TEXT,"
	"  created TEXT,"
	"  os TEXT,"
	"  architecture TEXT,"
	"  variant TEXT,"
	"  size INTEGER NOT NULL DEFAULT 0,"
	"  added INTEGER NOT NULL);"
	"CREATE INDEX images_manifest ON images(manifest_digest);"
	"CREATE TABLE image_layers ("
	"  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  chain_id TEXT NOT NULL,"
	"  PRIMARY KEY (image_id, idx));"
	"CREATE INDEX image_layers_chain ON image_layers(chain_id);"
	"CREATE TABLE names ("
	"  name TEXT PRIMARY KEY,"
	"  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE);"
	"CREATE INDEX names_image ON names(image_id);"
	"CREATE TABLE repo_digests ("
	"  repo TEXT NOT NULL,"
	"  digest TEXT NOT NULL,"
	"  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
	"  PRIMARY KEY (repo, digest));"
	"CREATE INDEX repo_digests_image ON repo_digests(image_id);"
	"CREATE TABLE layers ("
	"  chain_id TEXT PRIMARY KEY,"
	"  diff_id TEXT NOT NULL,"
	"  parent TEXT,"
	"  blob_digest TEXT,"
	"  media_type TEXT,"
	"  blob_size INTEGER NOT NULL DEFAULT -1,"
	"  size INTEGER NOT NULL DEFAULT -1);"
	"CREATE INDEX layers_parent ON layers(parent);"
	"CREATE INDEX layers_blob ON layers(blob_digest);"
	"CREATE TABLE blobs (digest TEXT PRIMARY KEY);"
	"CREATE TABLE image_blobs ("
	"  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
	"  digest TEXT NOT NULL,"
	"  PRIMARY KEY (image_id, digest));"
	"CREATE INDEX image_blobs_digest ON image_blobs(digest);"
	"CREATE TABLE layer_holds ("
	"  chain_id TEXT NOT NULL,"
	"  holder TEXT NOT NULL,"
	"  PRIMARY KEY (chain_id, holder));"
	"CREATE INDEX layer_holds_holder ON layer_holds(holder);"
	"PRAGMA user_version = 1;";

/* Version 2: containers.  No foreign key to images: `rmi -f` may remove an
 * image a container was made from; the container keeps its layers through
 * layer_holds.  IF NOT EXISTS so that a store whose user_version was set
 * back by hand migrates instead of failing. */
static const char migrate_v2[] =
	"CREATE TABLE IF NOT EXISTS containers ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT UNIQUE NOT NULL,"
	"  image_id TEXT NOT NULL,"
	"  image_ref TEXT,"
	"  created INTEGER NOT NULL,"
	"  runtime TEXT,"
	"  record TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS containers_image ON containers(image_id);"
	"CREATE INDEX IF NOT EXISTS containers_created ON containers(created);"
	"PRAGMA user_version = 2;";

/* Layers overlay needs: those images use, those held, and (transitively)
 * their chain parents. */
#define NEEDED_LAYERS_CTE \
	"WITH RECURSIVE needed(chain_id) AS (" \
	"  SELECT chain_id FROM image_layers" \
	"  UNION SELECT chain_id FROM layer_holds" \
	"  UNION SELECT l.parent FROM layers l JOIN needed n ON l.chain_id = n.chain_id" \
	"    WHERE l.parent IS NOT NULL) "

#define BLOB_REFERENCED_EXPR(d) \
	"(EXISTS (SELECT 1 FROM image_blobs ib WHERE ib.digest = " d ")" \
	" OR EXISTS (SELECT 1 FROM images i WHERE i.id = " d " OR i.manifest_digest = " d \
	"            OR i.index_digest = " d "))"

static int rc_errno(struct berth_db *db, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return EBUSY;
	case SQLITE_NOMEM:
		return ENOMEM;
	case SQLITE_READONLY:
		return EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return EACCES;
	case SQLITE_FULL:
		return ENOSPC;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return EUCLEAN;
	case SQLITE_CONSTRAINT:
		return EEXIST;
	case SQLITE_TOOBIG:
		return E2BIG;
	case SQLITE_CANTOPEN:
	case SQLITE_IOERR: {
		int e = db && db->h ? sqlite3_system_errno(db->h) : 0;
		return e > 0 ? e : EIO;
	}
	default:
		return EIO;
	}
}

/* "database <path>: <context>: <sqlite message>" */
static int db_fail(struct berth_db *db, struct berth_error *err, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int db_fail(struct berth_db *db, struct berth_error *err, int rc, const char *fmt, ...)
{
	char ctx[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	int e = rc_errno(db, rc);
	if (e == 0)
		e = EIO;
	return berth_err(err, e, "database %s: %s: %s", db->path, ctx,
	                 db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
}

/* Like db_fail for a failure inside a transaction: the message is taken
 * before the rollback, which resets sqlite's error text to "not an error". */
struct db_why { int rc; char msg[256]; };

static void why_save(struct berth_db *db, struct db_why *w, int rc)
{
	if (rc != SQLITE_OK && w->rc == SQLITE_OK) {
		w->rc = rc;
		snprintf(w->msg, sizeof(w->msg), "%s", db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
	}
}

static int why_fail(struct berth_db *db, struct berth_error *err, const struct db_why *w, int rc,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int why_fail(struct berth_db *db, struct berth_error *err, const struct db_why *w, int rc,
                    const char *fmt, ...)
{
	struct db_why now = { 0 };
	if (w->rc == SQLITE_OK) {
		why_save(db, &now, rc);
		w = &now;
	}
	char ctx[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	int e = rc_errno(db, w->rc);
	return berth_err(err, e ? e : EIO, "database %s: %s: %s", db->path, ctx, w->msg);
}

static int prep(struct berth_db *db, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v2(db->h, sql, -1, st, NULL);
}

static int bind_text(sqlite3_stmt *st, int idx, const char *s)
{
	return s ? sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, idx);
}

/* Prepare `sql`, bind the strings (NULL binds NULL) and run it to
 * completion.  For statements that return no rows. */
static int exec_bound(struct berth_db *db, const char *sql, int n, ...)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc = prep(db, sql, &st);
	if (rc != SQLITE_OK)
		return rc;
	va_list ap;
	va_start(ap, n);
	for (int i = 1; i <= n && rc == SQLITE_OK; i++)
		rc = bind_text(st, i, va_arg(ap, const char *));
	va_end(ap);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Begin a transaction of our own, or a savepoint inside the caller's, so
 * each multi-statement call is atomic either way. */
static int tx_start(struct berth_db *db, bool *own)
{
	*own = sqlite3_get_autocommit(db->h) != 0;
	return sqlite3_exec(db->h, *own ? "BEGIN IMMEDIATE" : "SAVEPOINT berth_op", NULL, NULL, NULL);
}

/* Commit (or release) when rc is SQLITE_OK, else roll back.  On failure the
 * error text is saved in *why (when given) before the rollback resets it. */
static int tx_end(struct berth_db *db, bool own, int rc, struct db_why *why)
{
	if (rc == SQLITE_OK) {
		rc = sqlite3_exec(db->h, own ? "COMMIT" : "RELEASE berth_op", NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return rc;
	}
	if (why)
		why_save(db, why, rc);
	if (own) {
		if (!sqlite3_get_autocommit(db->h))
			sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	} else {
		sqlite3_exec(db->h, "ROLLBACK TO berth_op; RELEASE berth_op", NULL, NULL, NULL);
	}
	return rc;
}

static char *col_strdup(sqlite3_stmt *st, int i, bool *oom)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	const unsigned char *s = sqlite3_column_text(st, i);
	char *r = s ? strdup((const char *) s) : NULL;
	if (!r)
		*oom = true;
	return r;
}

static void col_copy(sqlite3_stmt *st, int i, char out[BERTH_DIGEST_MAX])
{
	const unsigned char *s = sqlite3_column_text(st, i);
	snprintf(out, BERTH_DIGEST_MAX, "%s", s ? (const char *) s : "");
}

/* Run a query whose first column is text, collecting a NULL-terminated strv. */
static int collect_strv(struct berth_db *db, sqlite3_stmt *st, char ***out)
{
	size_t n = 0, cap = 8;
	_cleanup_strv_ char **v = calloc(cap + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			char **nv = realloc(v, (cap * 2 + 1) * sizeof(char *));
			if (!nv)
				return -ENOMEM;
			v = nv;
			cap *= 2;
		}
		const unsigned char *s = sqlite3_column_text(st, 0);
		v[n] = strdup(s ? (const char *) s : "");
		if (!v[n])
			return -ENOMEM;
		v[++n] = NULL;
	}
	if (rc != SQLITE_DONE)
		return -rc_errno(db, rc);
	*out = steal_ptr(v);
	return (int) n;
}

static bool valid_text(const char *s)
{
	return s && *s;
}

int db_open(const char *path, struct berth_db **out, struct berth_error *err)
{
	_cleanup_free_ struct berth_db *db = calloc(1, sizeof(*db));
	if (!db || !(db->path = strdup(path))) {
		if (db)
			free(db->path);
		return berth_err(err, ENOMEM, "database %s: out of memory", path);
	}
	/* sqlite creates files 0644 and gives -wal/-shm the mode of the main
	 * file: create it 0600 first. */
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		free(db->path);
		return berth_errno(err, e, "database %s: opening", path);
	}
	close(fd);

	struct db_why why = { 0 };      /* saved before a ROLLBACK resets the error text */
	int rc = sqlite3_open_v2(path, &db->h,
	                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
	                         SQLITE_OPEN_EXRESCODE, NULL);
	if (rc != SQLITE_OK)
		goto fail_ctx_open;
	sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS);
	sqlite3_db_config(db->h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db->h, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);

	{
		_cleanup_stmt_ sqlite3_stmt *st = NULL;
		rc = prep(db, "PRAGMA journal_mode = WAL", &st);
		/* Switching the journal mode of a new file needs an exclusive lock
		 * and sqlite reports a concurrent opener as BUSY without consulting
		 * the busy handler: wait here as busy_timeout would. */
		for (int waited_ms = 0; rc == SQLITE_OK; waited_ms += 20) {
			rc = sqlite3_step(st);
			if ((rc & 0xff) != SQLITE_BUSY || waited_ms >= DB_BUSY_TIMEOUT_MS)
				break;
			sqlite3_reset(st);
			usleep(20 * 1000);
			rc = SQLITE_OK;
		}
		if (rc != SQLITE_ROW)
			goto fail_ctx_wal;
		const char *mode = (const char *) sqlite3_column_text(st, 0);
		if (!mode || strcmp(mode, "wal") != 0) {
			int r = berth_err(err, ENOTSUP, "database %s: cannot enable WAL journal mode (got %s)", path,
			                  mode ? mode : "nothing");
			sqlite3_finalize(steal_ptr(st));
			sqlite3_close_v2(db->h);
			free(db->path);
			return r;
		}
	}
	/* See db.h: NORMAL is crash-safe in WAL mode; FULL would add an fsync of
	 * the WAL per commit for power-loss durability of the last commit only. */
	rc = sqlite3_exec(db->h, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail_ctx_pragma;

	rc = sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail_ctx_schema;
	{
		_cleanup_stmt_ sqlite3_stmt *st = NULL;
		rc = prep(db, "PRAGMA user_version", &st);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			why_save(db, &why, rc);
			sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
			goto fail_ctx_schema;
		}
		int version = sqlite3_column_int(st, 0);
		sqlite3_finalize(steal_ptr(st));
		rc = SQLITE_OK;
		if (version > BERTH_DB_SCHEMA_VERSION) {
			sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
			int r = berth_err(err, EPROTO, "database %s: schema version %d is newer than this berth "
			                  "supports (%d)", path, version, BERTH_DB_SCHEMA_VERSION);
			sqlite3_close_v2(db->h);
			free(db->path);
			return r;
		}
		/* Each step brings the schema one version forward, inside the
		 * transaction above: a crash mid-migration leaves the old version. */
		if (version < 1)
			rc = sqlite3_exec(db->h, schema_v1, NULL, NULL, NULL);
		if (rc == SQLITE_OK && version < 2)
			rc = sqlite3_exec(db->h, migrate_v2, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			why_save(db, &why, rc);
			sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
			goto fail_ctx_schema;
		}
	}
	*out = steal_ptr(db);
	return 0;

	const char *what;
fail_ctx_open:
	what = "opening";
	goto fail;
fail_ctx_wal:
	what = "enabling WAL";
	goto fail;
fail_ctx_pragma:
	what = "setting pragmas";
	goto fail;
fail_ctx_schema:
	what = "creating the schema";
fail:;
	int r = why_fail(db, err, &why, rc, "%s", what);
	sqlite3_close_v2(db->h);
	free(db->path);
	return r;
}

void db_close(struct berth_db *db)
{
	if (!db)
		return;
	sqlite3_close_v2(db->h);
	free(db->path);
	free(db);
}

int db_begin(struct berth_db *db, struct berth_error *err)
{
	int rc = sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : db_fail(db, err, rc, "beginning a transaction");
}

int db_commit(struct berth_db *db, struct berth_error *err)
{
	int rc = sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		return 0;
	int r = db_fail(db, err, rc, "committing");
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

void db_rollback(struct berth_db *db)
{
	if (db && !sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- images ---- */

void db_image_clear(struct db_image *im)
{
	if (!im)
		return;
	free(im->manifest_media_type);
	free(im->index_digest);
	free(im->created);
	free(im->os);
	free(im->architecture);
	free(im->variant);
	for (size_t i = 0; i < im->n_layers; i++)
		free(im->chain_ids[i]);
	free(im->chain_ids);
	memset(im, 0, sizeof(*im));
}

static int check_image(const struct db_image *im, struct berth_error *err)
{
	int r = berth_digest_check(im->id, "image id", err);
	if (r == 0)
		r = berth_digest_check(im->manifest_digest, "image manifest", err);
	if (r == 0 && im->index_digest)
		r = berth_digest_check(im->index_digest, "image index", err);
	for (size_t i = 0; r == 0 && i < im->n_layers; i++) {
		char what[64];
		snprintf(what, sizeof(what), "image layer %zu", i);
		r = berth_digest_check(im->chain_ids[i], what, err);
	}
	return r;
}

int db_image_put(struct berth_db *db, const struct db_image *im, struct berth_error *err)
{
	int r = check_image(im, err);
	if (r < 0)
		return r;
	bool own;
	int rc = tx_start(db, &own);
	if (rc != SQLITE_OK)
		return db_fail(db, err, rc, "image %s: beginning a transaction", im->id);
	{
		/* An upsert, not INSERT OR REPLACE: replacing would delete the row
		 * and cascade away the image's names and references. */
		_cleanup_stmt_ sqlite3_stmt *st = NULL;
		rc = prep(db,
		          "INSERT INTO images (id, manifest_digest, manifest_media_type, index_digest, created, "
		          "  os, architecture, variant, size, added) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
		          "ON CONFLICT (id) DO UPDATE SET manifest_digest = excluded.manifest_digest, "
		          "  manifest_media_type = excluded.manifest_media_type, index_digest = excluded.index_digest, "
		          "  created = excluded.created, os = excluded.os, architecture = excluded.architecture, "
		          "  variant = excluded.variant, size = excluded.size",
		          &st);
		if (rc == SQLITE_OK) {
			bind_text(st, 1, im->id);
			bind_text(st, 2, im->manifest_digest);
			bind_text(st, 3, im->manifest_media_type);
			bind_text(st, 4, im->index_digest);
			bind_text(st, 5, im->created);
			bind_text(st, 6, im->os);
			bind_text(st, 7, im->architecture);
			bind_text(st, 8, im->variant);
			sqlite3_bind_int64(st, 9, im->size);
			sqlite3_bind_int64(st, 10, im->added > 0 ? im->added : (int64_t) time(NULL));
			rc = sqlite3_step(st);
			rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		}
	}
	if (rc == SQLITE_OK)
		rc = exec_bound(db, "DELETE FROM image_layers WHERE image_id = ?1", 1, im->id);
	if (rc == SQLITE_OK && im->n_layers > 0) {
		_cleanup_stmt_ sqlite3_stmt *st = NULL;
		rc = prep(db, "INSERT INTO image_layers (image_id, idx, chain_id) VALUES (?1, ?2, ?3)", &st);
		for (size_t i = 0; rc == SQLITE_OK && i < im->n_layers; i++) {
			sqlite3_reset(st);
			bind_text(st, 1, im->id);
			sqlite3_bind_int64(st, 2, (int64_t) i);
			bind_text(st, 3, im->chain_ids[i]);
			rc = sqlite3_step(st);
			rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		}
	}
	const char *known[] = { im->id, im->manifest_digest, im->index_digest };
	for (size_t i = 0; rc == SQLITE_OK && i < ARRAY_SIZE(known); i++)
		if (known[i])
			rc = exec_bound(db, "INSERT OR IGNORE INTO blobs (digest) VALUES (?1)", 1, known[i]);
	struct db_why why = { 0 };
	rc = tx_end(db, own, rc, &why);
	return rc == SQLITE_OK ? 0 : why_fail(db, err, &why, rc, "image %s: storing", im->id);
}

#define IMAGE_COLUMNS \
	"id, manifest_digest, manifest_media_type, index_digest, created, os, architecture, variant, size, added"

static int image_from_row(sqlite3_stmt *st, struct db_image *out)
{
	bool oom = false;
	memset(out, 0, sizeof(*out));
	col_copy(st, 0, out->id);
	col_copy(st, 1, out->manifest_digest);
	out->manifest_media_type = col_strdup(st, 2, &oom);
	out->index_digest = col_strdup(st, 3, &oom);
	out->created = col_strdup(st, 4, &oom);
	out->os = col_strdup(st, 5, &oom);
	out->architecture = col_strdup(st, 6, &oom);
	out->variant = col_strdup(st, 7, &oom);
	out->size = sqlite3_column_int64(st, 8);
	out->added = sqlite3_column_int64(st, 9);
	if (oom) {
		db_image_clear(out);
		return -ENOMEM;
	}
	return 0;
}

static int image_load_layers(struct berth_db *db, struct db_image *im)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc = prep(db, "SELECT chain_id FROM image_layers WHERE image_id = ?1 ORDER BY idx", &st);
	if (rc != SQLITE_OK)
		return -rc_errno(db, rc);
	bind_text(st, 1, im->id);
	char **v = NULL;
	int n = collect_strv(db, st, &v);
	if (n < 0)
		return n;
	im->chain_ids = v;
	im->n_layers = (size_t) n;
	return 0;
}

int db_image_get(struct berth_db *db, const char *id, struct db_image *out, struct berth_error *err)
{
	memset(out, 0, sizeof(*out));
	int r = berth_digest_check(id, "image id", err);
	if (r < 0)
		return r;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc = prep(db, "SELECT " IMAGE_COLUMNS " FROM images WHERE id = ?1", &st);
	if (rc != SQLITE_OK)
		return db_fail(db, err, rc, "image %s: reading", id);
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return berth_err(err, ENOENT, "image %s not found", id);
	if (rc != SQLITE_ROW)
		return db_fail(db, err, rc, "image %s: reading", id);
	r = image_from_row(st, out);
	if (r < 0)
		return berth_err(err, -r, "image %s: out of memory", id);
	sqlite3_finalize(steal_ptr(st));
	r = image_load_layers(db, out);
	if (r < 0) {
		db_image_clear(out);
		return berth_errno(err, r, "image %s: reading its layers", id);
	}
	return 0;
}

int db_image_resolve_id(struct berth_db *db, const char *prefix, char out[BERTH_DIGEST_MAX], struct berth_error *err)
{
	if (!prefix)
		return berth_err(err, EINVAL, "empty image id");
	if (berth_digest_valid(prefix)) {
		_cleanup_stmt_ sqlite3_stmt *st = NULL;
		int rc = prep(db, "SELECT 1 FROM images WHERE id = ?1", &st);
		if (rc != SQLITE_OK)
			return db_fail(db, err, rc, "image %s: looking up", prefix);
		bind_text(st, 1, prefix);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			return berth_err(err, ENOENT, "image %s not found", prefix);
		if (rc != SQLITE_ROW)
			return db_fail(db, err, rc, "image %s: looking up", prefix);
		snprintf(out, BERTH_DIGEST_MAX, "%s", prefix);
		return 0;
	}
	const char *algo = "sha256", *hex = prefix;
	size_t max = 64;
	if (!strncmp(prefix, "sha256:", 7)) {
		hex = prefix + 7;
	} else if (!strncmp(prefix, "sha512:", 7)) {
		algo = "sha512";
		hex = prefix + 7;
		max = 128;
	}
	size_t n = strlen(hex);
	if (n < 3)
		return berth_err(err, EINVAL, "image id prefix \"%s\" is too short (at least 3 hex digits)", prefix);
	if (n > max || strspn(hex, "0123456789abcdef") != n)
		return berth_err(err, EINVAL, "\"%s\" is not an image id or id prefix (lowercase hex)", prefix);
	/* Only hex digits reach the pattern: no GLOB metacharacters. */
	char pattern[BERTH_DIGEST_MAX + 2];
	snprintf(pattern, sizeof(pattern), "%s:%s*", algo, hex);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc = prep(db, "SELECT id FROM images WHERE id GLOB ?1 ORDER BY id", &st);
	if (rc != SQLITE_OK)
		return db_fail(db, err, rc, "image %s: looking up", prefix);
	bind_text(st, 1, pattern);
	int count = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count++ == 0)
			col_copy(st, 0, out);
	}
	if (rc != SQLITE_DONE)
		return db_fail(db, err, rc, "image %s: looking up", prefix);
	if (count == 0)
		return berth_err(err, ENOENT, "no image with id %s", prefix);
	if (count > 1) {
		out[0] = '\0';
		return berth_err(err, EEXIST, "image id prefix %s is ambiguous: %d images match", prefix, count);
	}
	return 0;
}

int db_image_delete(struct berth_db *db, const char *id, struct berth_error *err)
{
	int r = berth_digest_check(id, "image id", err);
	if (r < 0)
		return r;
	bool own;
	int rc = tx_start(db, &own);
	if (rc != SQLITE_OK)
		return db_fail(db, err, rc, "image %s: beginning a transaction", id);
	/* Explicit, not only ON DELETE CASCADE: the result must not depend on
	 * the connection's foreign_keys setting. */
	static const char *const deletes[] = {
		"DELETE FROM names WHERE image_id = ?1",
		"DELETE FROM repo_digests WHERE image_id = ?1",
		"DELETE FROM image_layers WHERE image_id = ?1",
		"DELETE FROM image_blobs WHERE image_id = ?1",
		"DELETE FROM images WHERE id = ?1",
	};
	for (size_t i = 0; rc == SQLITE_OK && i < ARRAY_SIZE(deletes); i++)
		rc = exec_bound(db, deletes[i], 1, id);
	bool found = rc == SQLITE_OK && sqlite3_changes(db->h) > 0;
	if (rc == SQLITE_OK && !found) {
		tx_end(db, own, SQLITE_NOTFOUND, NULL);
		return berth_err(err, ENOENT, "image %s not found", id);
	}
	struct db_why why = { 0 };
	rc = tx_end(db, own, rc, &why);
	return rc == SQLITE_OK ? 0 : why_fail(db, err, &why, rc, "image %s: deleting", id);
}

int db_images_walk(struct berth_db *db, int (*fn)(void *ctx, const struct db_image *im), void *ctx)
{
	/* Read everything first, so fn may use the db (even write to it). */
	struct db_image *ims = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	{
		_cleanup_stmt_ sqlite3_stmt *st = NULL;
		int rc = prep(db, "SELECT " IMAGE_COLUMNS " FROM images ORDER BY added DESC, id", &st);
		if (rc != SQLITE_OK)
			return -rc_errno(db, rc);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct db_image *nv = realloc(ims, ncap * sizeof(*nv));
				if (!nv) {
					r = -ENOMEM;
					goto out;
				}
				ims = nv;
				cap = ncap;
			}
			r = image_from_row(st, &ims[n]);
			if (r < 0)
				goto out;
			n++;
		}
		if (rc != SQLITE_DONE) {
			r = -rc_errno(db, rc);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		r = image_load_layers(db, &ims[i]);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		r = fn(ctx, &ims[i]);
		if (r != 0)
			break;
	}
out:
	for (size_t i = 0; i < n; i++)
		db_image_clear(&ims[i]);
	free(ims);
	return r;
}

/* ---- names and repo digests ---- */

/* A foreign-key failure on image_id means the image does not exist. */
static int image_ref_fail(struct berth_db *db, struct berth_error *err, int rc, const char *image_id,
                          const char *what)
{
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return berth_err(err, ENOENT, "%s: image %s not found", what, image_id);
	return db_fail(db, err, rc, "%s", what);
}

int db_name_set(struct berth_db *db, const char *name, const char *image_id, struct berth_error *err)
{
	if (!valid_text(name))
		return berth_err(err, EINVAL, "empty image name");
	int r = berth_digest_check(image_id, "image id", err);
	if (r < 0)
		return r;
	int rc = exec_bound(db,
	                    "INSERT INTO names (name, image_id) VALUES (?1, ?2) "
	                    "ON CONFLICT (name) DO UPDATE SET image_id = excluded.image_id",
	                    2, name, image_id);
	if (rc == SQLITE_OK)
		return 0;
	char what[512];
	snprintf(what, sizeof(what), "name %s", name);
	return image_ref_fail(db, err, rc, image_id, what);
}

int db_name_get(struct berth_db *db, const char *name, char out_id[BERTH_DIGEST_MAX])
{
	if (!valid_text(name))
		return -EINVAL;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc = prep(db, "SELECT image_id FROM names WHERE name = ?1", &st);
	if (rc != SQLITE_OK)
		return -rc_errno(db, rc);
	bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return -rc_errno(db, rc);
	col_copy(st, 0, out_id);
	return 0;
}

int db_name_remove(struct berth_db *db, const char *name, struct berth_error *err)
{
	if (!valid_text(name))
		return berth_err(err, EINVAL, "empty image name");
	int rc = exec_bound(db, "DELETE FROM names WHERE name = ?1", 1, name);
	if (rc != SQLITE_OK)
		return db_fail(db, err, rc, "name %s: removing", name);
	if (sqlite3_changes(db->h) == 0)
		return berth_err(err, ENOENT, "no image named %s", name);
	return 0;
}

static int strv_query(struct berth_db *db, const char *sql, const char *arg, char ***out)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc = prep(db, sql, &st);
	if (rc != SQLITE_OK)
		return -rc_errno(db, rc);
	if (arg)
		bind_text(st, 1, arg);
	return collect_strv(db, st, out);
}

int db_names_of(struct berth_db *db, const char *image_id, char ***names)
{
	if (!image_id || !berth_digest_valid(image_id))
		return -EINVAL;
	return strv_query(db, "SELECT name FROM names WHERE image_id = ?1 ORDER BY name", image_id, names);
}

int db_repo_digest_add(struct berth_db *db, const char *repo, const char *digest, const char *image_id,
                       struct berth_error *err)
{
	if (!valid_text(repo))
		return berth_err(err, EINVAL, "empty repository name");
	int r = berth_digest_check(digest, "repo digest", err);
	if (r == 0)
		r = berth_digest_check(image_id, "image id", err);
	if (r < 0)
		return r;
	int rc = exec_bound(db,
	                    "INSERT INTO repo_digests (repo, digest, image_id) VALUES (?1, ?2, ?3) "
	                    "ON CONFLICT (repo, digest) DO UPDATE SET image_id = excluded.image_id",
	                    3, repo, digest, image_id);
	if (rc == SQLITE_OK)
		return 0;
	char what[512];
	snprintf(what, sizeof(what), "repo digest %s@%s", repo, digest);
	return image_ref_fail(db, err, rc, image_id, what);
}

int db_repo_digest_get(struct berth_db *db, const char *repo, const char *digest, char out_id[BERTH_DIGEST_MAX])
{
	if (!valid_text(repo) || !digest || !berth_digest_valid(digest))
		return -EINVAL;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc = prep(db, "SELECT image_id FROM repo_digests WHERE repo = ?1 AND digest = ?2", &st);
	if (rc != SQLITE_OK)
		return -rc_errno(db, rc);
	bind_text(st, 1, repo);
	bind_text(st, 2, digest);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return -rc_errno(db, rc);
	col_copy(st, 0, out_id);
	return 0;
}

int db_repo_digests_of(struct berth_db *db, const char *image_id, char ***refs)
{
	if (!image_id || !berth_digest_valid(image_id))
		return -EINVAL;
	return strv_query(db, "SELECT repo || '@' || digest AS ref FROM repo_digests WHERE image_id = ?1 ORDER BY ref",
	                  image_id, refs);
}

/* ---- layers and blobs ---- */

int db_layer_put(struct berth_db *db, const struct db_layer *l, struct berth_error *err)
{
	int r = berth_digest_check(l->chain_id, "layer chain id", err);
	if (r == 0)
		r = berth_digest_check(l->diff_id, "layer diff id", err);
	if (r == 0 && l->parent)
		r = berth_digest_check(l->parent, "layer parent", err);
	if (r == 0 && l->blob_digest)
		r = berth_digest_check(l->blob_digest, "layer blob", err);
	if (r < 0)
		return r;
	bool own;
	int rc = tx_start(db, &own);
	if (rc != SQLITE_OK)
		return db_fail(db, err, rc, "layer %s: beginning a transaction", l->chain_id);
	{
		/* Insert or ignore, except that a layer whose blob was forgotten
		 * gets the blob of a later pull (and sizes not known before). */
		_cleanup_stmt_ sqlite3_stmt *st = NULL;
		rc = prep(db,
		          "INSERT INTO layers (chain_id, diff_id, parent, blob_digest, media_type, blob_size, size) "
		          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (chain_id) DO UPDATE SET "
		          "  media_type = CASE WHEN layers.blob_digest IS NULL THEN excluded.media_type ELSE layers.media_type END, "
		          "  blob_size = CASE WHEN layers.blob_digest IS NULL THEN excluded.blob_size ELSE layers.blob_size END, "
		          "  blob_digest = COALESCE(layers.blob_digest, excluded.blob_digest), "
		          "  size = CASE WHEN layers.size < 0 THEN excluded.size ELSE layers.size END",
		          &st);
		if (rc == SQLITE_OK) {
			bind_text(st, 1, l->chain_id);
			bind_text(st, 2, l->diff_id);
			bind_text(st, 3, l->parent);
			bind_text(st, 4, l->blob_digest);
			bind_text(st, 5, l->media_type);
			sqlite3_bind_int64(st, 6, l->blob_size);
			sqlite3_bind_int64(st, 7, l->size);
			rc = sqlite3_step(st);
			rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		}
	}
	if (rc == SQLITE_OK && l->blob_digest)
		rc = exec_bound(db, "INSERT OR IGNORE INTO blobs (digest) VALUES (?1)", 1, l->blob_digest);
	struct db_why why = { 0 };
	rc = tx_end(db, own, rc, &why);
	return rc == SQLITE_OK ? 0 : why_fail(db, err, &why, rc, "layer %s: storing", l->chain_id);
}

void db_layer_clear(struct db_layer *l)
{
	if (!l)
		return;
	free(l->parent);
	free(l->blob_digest);
	free(l->media_type);
	memset(l, 0, sizeof(*l));
}

int db_layer_get(struct berth_db *db, const char *chain_id, struct db_layer *out)
{
	memset(out, 0, sizeof(*out));
	if (!chain_id || !berth_digest_valid(chain_id))
		return -EINVAL;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc = prep(db,
	              "SELECT chain_id, diff_id, parent, blob_digest, media_type, blob_size, size "
	              "FROM layers WHERE chain_id = ?1",
	              &st);
	if (rc != SQLITE_OK)
		return -rc_errno(db, rc);
	bind_text(st, 1, chain_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return -rc_errno(db, rc);
	bool oom = false;
	col_copy(st, 0, out->chain_id);
	col_copy(st, 1, out->diff_id);
	out->parent = col_strdup(st, 2, &oom);
	out->blob_digest = col_strdup(st, 3, &oom);
	out->media_type = col_strdup(st, 4, &oom);
	out->blob_size = sqlite3_column_int64(st, 5);
	out->size = sqlite3_column_int64(st, 6);
	if (oom) {
		db_layer_clear(out);
		return -ENOMEM;
	}
	return 0;
}

int db_image_blob_add(struct berth_db *db, const char *image_id, const char *digest, struct berth_error *err)
{
	int r = berth_digest_check(image_id, "image id", err);
	if (r == 0)
		r = berth_digest_check(digest, "image blob", err);
	if (r < 0)
		return r;
	bool own;
	int rc = tx_start(db, &own);
	if (rc != SQLITE_OK)
		return db_fail(db, err, rc, "image %s: beginning a transaction", image_id);
	rc = exec_bound(db, "INSERT OR IGNORE INTO blobs (digest) VALUES (?1)", 1, digest);
	if (rc == SQLITE_OK)
		rc = exec_bound(db, "INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?1, ?2)", 2,
		                image_id, digest);
	struct db_why why = { 0 };
	rc = tx_end(db, own, rc, &why);
	if (rc == SQLITE_OK)
		return 0;
	if (why.rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return berth_err(err, ENOENT, "image %s: blob %s: image %s not found", image_id, digest, image_id);
	return why_fail(db, err, &why, rc, "image %s: blob %s", image_id, digest);
}

int db_unreferenced_blobs(struct berth_db *db, char ***digests)
{
	return strv_query(db,
	                  "SELECT b.digest FROM blobs b WHERE NOT " BLOB_REFERENCED_EXPR("b.digest")
	                  " ORDER BY b.digest",
	                  NULL, digests);
}

int db_unreferenced_layers(struct berth_db *db, char ***chain_ids)
{
	return strv_query(db,
	                  NEEDED_LAYERS_CTE
	                  "SELECT chain_id FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM needed) "
	                  "ORDER BY chain_id",
	                  NULL, chain_ids);
}

/* 1 / 0 / -errno for a single-row EXISTS query with one bound string. */
static int query_exists(struct berth_db *db, const char *sql, const char *arg)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc = prep(db, sql, &st);
	if (rc != SQLITE_OK)
		return -rc_errno(db, rc);
	bind_text(st, 1, arg);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return -rc_errno(db, rc);
	return sqlite3_column_int(st, 0) ? 1 : 0;
}

int db_blob_referenced(struct berth_db *db, const char *digest)
{
	if (!digest || !berth_digest_valid(digest))
		return -EINVAL;
	return query_exists(db, "SELECT " BLOB_REFERENCED_EXPR("?1"), digest);
}

int db_layer_held(struct berth_db *db, const char *chain_id)
{
	if (!chain_id || !berth_digest_valid(chain_id))
		return -EINVAL;
	return query_exists(db, "SELECT 1 FROM layer_holds WHERE chain_id = ?1", chain_id);
}

int db_blob_forget(struct berth_db *db, const char *digest)
{
	if (!digest || !berth_digest_valid(digest))
		return -EINVAL;
	bool own;
	int rc = tx_start(db, &own);
	if (rc != SQLITE_OK)
		return -rc_errno(db, rc);
	int r = query_exists(db, "SELECT " BLOB_REFERENCED_EXPR("?1"), digest);
	if (r != 0) {
		tx_end(db, own, SQLITE_ABORT, NULL);
		return r > 0 ? -EBUSY : r;
	}
	rc = exec_bound(db, "DELETE FROM blobs WHERE digest = ?1", 1, digest);
	if (rc == SQLITE_OK)
		rc = exec_bound(db, "UPDATE layers SET blob_digest = NULL WHERE blob_digest = ?1", 1, digest);
	rc = tx_end(db, own, rc, NULL);
	return -rc_errno(db, rc);
}

int db_layer_forget(struct berth_db *db, const char *chain_id)
{
	if (!chain_id || !berth_digest_valid(chain_id))
		return -EINVAL;
	bool own;
	int rc = tx_start(db, &own);
	if (rc != SQLITE_OK)
		return -rc_errno(db, rc);
	int r = query_exists(db, NEEDED_LAYERS_CTE "SELECT EXISTS (SELECT 1 FROM needed WHERE chain_id = ?1)",
	                     chain_id);
	if (r != 0) {
		tx_end(db, own, SQLITE_ABORT, NULL);
		return r > 0 ? -EBUSY : r;
	}
	rc = exec_bound(db, "DELETE FROM layers WHERE chain_id = ?1", 1, chain_id);
	rc = tx_end(db, own, rc, NULL);
	return -rc_errno(db, rc);
}

int db_layer_hold(struct berth_db *db, const char *chain_id, const char *holder, struct berth_error *err)
{
	int r = berth_digest_check(chain_id, "held layer", err);
	if (r < 0)
		return r;
	if (!valid_text(holder))
		return berth_err(err, EINVAL, "layer %s: empty holder", chain_id);
	int rc = exec_bound(db, "INSERT OR IGNORE INTO layer_holds (chain_id, holder) VALUES (?1, ?2)", 2,
	                    chain_id, holder);
	return rc == SQLITE_OK ? 0 : db_fail(db, err, rc, "layer %s: hold by %s", chain_id, holder);
}

int db_layer_release(struct berth_db *db, const char *holder, struct berth_error *err)
{
	if (!valid_text(holder))
		return berth_err(err, EINVAL, "empty layer holder");
	int rc = exec_bound(db, "DELETE FROM layer_holds WHERE holder = ?1", 1, holder);
	return rc == SQLITE_OK ? 0 : db_fail(db, err, rc, "releasing the layers held by %s", holder);
}

/* ---- containers ---- */

#define HOLDER_PREFIX "container:"

static bool container_id_valid(const char *id)
{
	return id && strlen(id) == DB_CONTAINER_ID_LEN && strspn(id, "0123456789abcdef") == DB_CONTAINER_ID_LEN;
}

void db_container_clear(struct db_container *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->image_ref);
	free(c->runtime);
	free(c->record);
	memset(c, 0, sizeof(*c));
}

/* The id of the container named `name`: 0 / -ENOENT / -errno. */
static int container_by_name(struct berth_db *db, const char *name, char id[DB_CONTAINER_ID_LEN + 1])
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc = prep(db, "SELECT id FROM containers WHERE name = ?1", &st);
	if (rc != SQLITE_OK)
		return -rc_errno(db, rc);
	bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return -rc_errno(db, rc);
	const unsigned char *s = sqlite3_column_text(st, 0);
	snprintf(id, DB_CONTAINER_ID_LEN + 1, "%s", s ? (const char *) s : "");
	return 0;
}

static int container_exists(struct berth_db *db, const char *id)
{
	return query_exists(db, "SELECT EXISTS (SELECT 1 FROM containers WHERE id = ?1)", id);
}

/* After a UNIQUE failure on the name: docker's conflict text.  Returns 0 when
 * the holder vanished in between (the caller may retry). */
static int name_conflict(struct berth_db *db, struct berth_error *err, const char *name)
{
	char holder[DB_CONTAINER_ID_LEN + 1];
	int r = container_by_name(db, name, holder);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return berth_errno(err, r, "database %s: container name %s: looking up its holder", db->path, name);
	return berth_err(err, EEXIST,
	                 "Conflict. The container name \"/%s\" is already in use by container \"%s\". "
	                 "You have to remove (or rename) that container to be able to reuse that name.",
	                 name, holder);
}

int db_container_insert(struct berth_db *db, const struct db_container *c, char *const *chain_ids,
                        size_t n_layers, struct berth_error *err)
{
	if (!container_id_valid(c->id))
		return berth_err(err, EINVAL, "container id \"%s\" is not 64 lowercase hex digits", c->id);
	if (!valid_text(c->name))
		return berth_err(err, EINVAL, "container %s: empty name", c->id);
	if (!valid_text(c->record))
		return berth_err(err, EINVAL, "container %s: empty record", c->id);
	int r = berth_digest_check(c->image_id, "container image id", err);
	for (size_t i = 0; r == 0 && i < n_layers; i++)
		r = berth_digest_check(chain_ids[i], "container layer", err);
	if (r < 0)
		return r;
	char holder[sizeof(HOLDER_PREFIX) + DB_CONTAINER_ID_LEN];
	snprintf(holder, sizeof(holder), HOLDER_PREFIX "%s", c->id);

	for (int attempt = 0;; attempt++) {
		bool own;
		int rc = tx_start(db, &own);
		if (rc != SQLITE_OK)
			return db_fail(db, err, rc, "container %s: beginning a transaction", c->id);
		{
			_cleanup_stmt_ sqlite3_stmt *st = NULL;
			rc = prep(db,
			          "INSERT INTO containers (id, name, image_id, image_ref, created, runtime, record) "
			          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
			          &st);
			if (rc == SQLITE_OK) {
				bind_text(st, 1, c->id);
				bind_text(st, 2, c->name);
				bind_text(st, 3, c->image_id);
				bind_text(st, 4, c->image_ref);
				sqlite3_bind_int64(st, 5, c->created);
				bind_text(st, 6, c->runtime);
				bind_text(st, 7, c->record);
				rc = sqlite3_step(st);
				rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
			}
		}
		int insert_rc = rc;
		struct db_why why = { 0 };
		why_save(db, &why, rc);
		if (rc == SQLITE_OK && n_layers > 0) {
			_cleanup_stmt_ sqlite3_stmt *st = NULL;
			rc = prep(db, "INSERT OR IGNORE INTO layer_holds (chain_id, holder) VALUES (?1, ?2)", &st);
			for (size_t i = 0; rc == SQLITE_OK && i < n_layers; i++) {
				sqlite3_reset(st);
				bind_text(st, 1, chain_ids[i]);
				bind_text(st, 2, holder);
				rc = sqlite3_step(st);
				rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
			}
		}
		rc = tx_end(db, own, rc, &why);
		if (rc == SQLITE_OK)
			return 0;
		if ((insert_rc & 0xff) != SQLITE_CONSTRAINT)
			return why_fail(db, err, &why, rc, "container %s: storing", c->id);
		/* Which constraint: the id (primary key) or the name (unique). */
		r = container_exists(db, c->id);
		if (r > 0)
			return berth_err(err, EADDRINUSE, "container id %s is already in use", c->id);
		r = name_conflict(db, err, c->name);
		if (r < 0)
			return r;
		if (attempt >= 3)
			return why_fail(db, err, &why, rc, "container %s: storing", c->id);
	}
}

#define CONTAINER_COLUMNS "id, name, image_id, image_ref, created, runtime, record"

static int container_from_row(sqlite3_stmt *st, struct db_container *out)
{
	bool oom = false;
	memset(out, 0, sizeof(*out));
	const unsigned char *id = sqlite3_column_text(st, 0);
	snprintf(out->id, sizeof(out->id), "%s", id ? (const char *) id : "");
	out->name = col_strdup(st, 1, &oom);
	col_copy(st, 2, out->image_id);
	out->image_ref = col_strdup(st, 3, &oom);
	out->created = sqlite3_column_int64(st, 4);
	out->runtime = col_strdup(st, 5, &oom);
	out->record = col_strdup(st, 6, &oom);
	if (oom) {
		db_container_clear(out);
		return -ENOMEM;
	}
	return 0;
}

int db_container_get(struct berth_db *db, const char *id, struct db_container *out, struct berth_error *err)
{
	memset(out, 0, sizeof(*out));
	if (!container_id_valid(id))
		return berth_err(err, ENOENT, "No such container: %s", id ? id : "");
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc = prep(db, "SELECT " CONTAINER_COLUMNS " FROM containers WHERE id = ?1", &st);
	if (rc != SQLITE_OK)
		return db_fail(db, err, rc, "container %s: reading", id);
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return berth_err(err, ENOENT, "No such container: %s", id);
	if (rc != SQLITE_ROW)
		return db_fail(db, err, rc, "container %s: reading", id);
	int r = container_from_row(st, out);
	return r < 0 ? berth_err(err, -r, "container %s: out of memory", id) : 0;
}

int db_container_resolve(struct berth_db *db, const char *s, char id[DB_CONTAINER_ID_LEN + 1],
                         struct berth_error *err)
{
	id[0] = '\0';
	if (!s || !*s)
		return berth_err(err, ENOENT, "No such container: %s", s ? s : "");
	if (container_id_valid(s)) {
		int r = container_exists(db, s);
		if (r < 0)
			return berth_errno(err, r, "database %s: container %s: looking up", db->path, s);
		if (r > 0) {
			snprintf(id, DB_CONTAINER_ID_LEN + 1, "%s", s);
			return 0;
		}
	}
	int r = container_by_name(db, s[0] == '/' ? s + 1 : s, id);
	if (r == 0)
		return 0;
	if (r != -ENOENT)
		return berth_errno(err, r, "database %s: container %s: looking up", db->path, s);
	size_t n = strlen(s);
	if (n > DB_CONTAINER_ID_LEN || strspn(s, "0123456789abcdef") != n)
		return berth_err(err, ENOENT, "No such container: %s", s);
	/* Only hex digits reach the pattern: no GLOB metacharacters. */
	char pattern[DB_CONTAINER_ID_LEN + 2];
	snprintf(pattern, sizeof(pattern), "%s*", s);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc = prep(db, "SELECT id FROM containers WHERE id GLOB ?1 LIMIT 2", &st);
	if (rc != SQLITE_OK)
		return db_fail(db, err, rc, "container %s: looking up", s);
	bind_text(st, 1, pattern);
	int count = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count++ == 0) {
			const unsigned char *t = sqlite3_column_text(st, 0);
			snprintf(id, DB_CONTAINER_ID_LEN + 1, "%s", t ? (const char *) t : "");
		}
	}
	if (rc != SQLITE_DONE)
		return db_fail(db, err, rc, "container %s: looking up", s);
	if (count == 0)
		return berth_err(err, ENOENT, "No such container: %s", s);
	if (count > 1) {
		id[0] = '\0';
		return berth_err(err, EEXIST, "multiple IDs found with provided prefix: %s", s);
	}
	return 0;
}

int db_container_delete(struct berth_db *db, const char *id, struct berth_error *err)
{
	if (!container_id_valid(id))
		return berth_err(err, ENOENT, "No such container: %s", id ? id : "");
	char holder[sizeof(HOLDER_PREFIX) + DB_CONTAINER_ID_LEN];
	snprintf(holder, sizeof(holder), HOLDER_PREFIX "%s", id);
	bool own;
	int rc = tx_start(db, &own);
	if (rc != SQLITE_OK)
		return db_fail(db, err, rc, "container %s: beginning a transaction", id);
	rc = exec_bound(db, "DELETE FROM containers WHERE id = ?1", 1, id);
	if (rc == SQLITE_OK && sqlite3_changes(db->h) == 0) {
		tx_end(db, own, SQLITE_NOTFOUND, NULL);
		return berth_err(err, ENOENT, "No such container: %s", id);
	}
	if (rc == SQLITE_OK)
		rc = exec_bound(db, "DELETE FROM layer_holds WHERE holder = ?1", 1, holder);
	struct db_why why = { 0 };
	rc = tx_end(db, own, rc, &why);
	return rc == SQLITE_OK ? 0 : why_fail(db, err, &why, rc, "container %s: deleting", id);
}

int db_container_rename(struct berth_db *db, const char *id, const char *new_name, struct berth_error *err)
{
	if (!valid_text(new_name))
		return berth_err(err, EINVAL, "container %s: empty name", id ? id : "");
	if (!container_id_valid(id))
		return berth_err(err, ENOENT, "No such container: %s", id ? id : "");
	for (int attempt = 0;; attempt++) {
		int rc = exec_bound(db, "UPDATE containers SET name = ?2 WHERE id = ?1", 2, id, new_name);
		if (rc == SQLITE_OK) {
			if (sqlite3_changes(db->h) == 0)
				return berth_err(err, ENOENT, "No such container: %s", id);
			return 0;
		}
		if ((rc & 0xff) != SQLITE_CONSTRAINT || attempt >= 3)
			return db_fail(db, err, rc, "container %s: renaming to %s", id, new_name);
		int r = name_conflict(db, err, new_name);
		if (r < 0)
			return r;
	}
}

int db_container_set_record(struct berth_db *db, const char *id, const char *record, struct berth_error *err)
{
	if (!container_id_valid(id))
		return berth_err(err, ENOENT, "No such container: %s", id ? id : "");
	int rc = exec_bound(db, "UPDATE containers SET record = ?2 WHERE id = ?1", 2, id, record);
	if (rc != SQLITE_OK)
		return db_fail(db, err, rc, "container %s: updating its record", id);
	if (sqlite3_changes(db->h) == 0)
		return berth_err(err, ENOENT, "No such container: %s", id);
	return 0;
}

int db_containers_walk(struct berth_db *db, int (*fn)(void *ctx, const struct db_container *c), void *ctx)
{
	struct db_container *cs = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	{
		_cleanup_stmt_ sqlite3_stmt *st = NULL;
		int rc = prep(db, "SELECT " CONTAINER_COLUMNS " FROM containers ORDER BY created DESC, rowid DESC",
		              &st);
		if (rc != SQLITE_OK)
			return -rc_errno(db, rc);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct db_container *nv = realloc(cs, ncap * sizeof(*nv));
				if (!nv) {
					r = -ENOMEM;
					goto out;
				}
				cs = nv;
				cap = ncap;
			}
			r = container_from_row(st, &cs[n]);
			if (r < 0)
				goto out;
			n++;
		}
		if (rc != SQLITE_DONE) {
			r = -rc_errno(db, rc);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		r = fn(ctx, &cs[i]);
		if (r != 0)
			break;
	}
out:
	for (size_t i = 0; i < n; i++)
		db_container_clear(&cs[i]);
	free(cs);
	return r;
}

int db_containers_using_image(struct berth_db *db, const char *image_id)
{
	if (!image_id || !berth_digest_valid(image_id))
		return -EINVAL;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc = prep(db, "SELECT count(*) FROM containers WHERE image_id = ?1", &st);
	if (rc != SQLITE_OK)
		return -rc_errno(db, rc);
	bind_text(st, 1, image_id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return -rc_errno(db, rc);
	return sqlite3_column_int(st, 0);
}
