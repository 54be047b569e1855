/* container.h — container records (SQLite) and their live state (status.json).
 *
 * A container is a row in the store's database (db_container_*) holding its
 * id, unique name, image, runtime and a docker-shaped JSON record; the live
 * state is what its monitor last wrote to <bundle>/status.json, reconciled
 * with the kernel's process table.  Promises: ids are 64 random hex digits
 * never reused while the record exists; names match docker's rule and are
 * unique across concurrent berth processes (the database's UNIQUE
 * constraint decides races, the loser gets -EEXIST with docker's text);
 * a record and its layer holds ("container:<id>") are written and removed in
 * one transaction, so a layer is never garbage while a record uses it and no
 * hold outlives its record; a state read never reports "running" for a
 * process that no longer exists.
 */
#ifndef BERTH_ENGINE_CONTAINER_H
#define BERTH_ENGINE_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/digest.h"
#include "core/error.h"
#include "db/db.h"

struct ctr_record {
	char id[65];
	char *name;                      /* without the leading "/" */
	char image_id[BERTH_DIGEST_MAX];
	char *image_ref;                 /* the image as the user named it (NULL allowed) */
	int64_t created;                 /* unix time in nanoseconds; 0 on insert = now */
	char *runtime;                   /* runtime path or name (NULL allowed) */
	json_t *record;                  /* {"Config":...,"HostConfig":...,"Mounts":[...],"Volumes":[...]} */
};
void ctr_record_clear(struct ctr_record *r);

/* Docker's name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (one leading "/" allowed and
 * ignored).  -EINVAL "Invalid container name (x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed". */
int ctr_name_check(const char *name, struct berth_error *err);

/* Stores r with a new random id (written to r->id) and r->name (NULL: a
 * generated, unused "adjective_surname", returned in r->name; a leading "/"
 * is stripped), and holds every chain id for "container:<id>", all in one
 * transaction.  A taken name -> -EEXIST with docker's "Conflict. The container
 * name \"/x\" is already in use by container \"<id>\". ..." text; nothing is
 * stored then.  r->record must be set (the row's JSON). */
int ctr_record_insert(struct berth_db *db, struct ctr_record *r, char **chain_ids, size_t n_layers,
                      struct berth_error *err);
/* -ENOENT "No such container: <id>".  out->record["Name"] is set to "/<name>". */
int ctr_record_get(struct berth_db *db, const char *id, struct ctr_record *out, struct berth_error *err);
/* full id, name, "/name", or unique id prefix (any length) -> id, in docker's
 * order (exact id, then name, then prefix).  -ENOENT "No such container: x";
 * -EEXIST "multiple IDs found with provided prefix: x". */
int ctr_resolve(struct berth_db *db, const char *s, char id[65], struct berth_error *err);
/* the row and its layer holds, in one transaction; -ENOENT when unknown */
/* replace the record JSON (after create learnt volume names and the netns) */
int ctr_record_update(struct berth_db *db, const char *id, json_t *record, struct berth_error *err);
int ctr_record_delete(struct berth_db *db, const char *id, struct berth_error *err);
/* -EEXIST (docker's conflict text) when taken, -EINVAL for a bad name or the
 * current name ("Renaming a container with the same name as its current name"),
 * -ENOENT when the container is unknown */
int ctr_record_rename(struct berth_db *db, const char *id, const char *new_name, struct berth_error *err);
/* Newest first.  The rows are read before fn runs, so fn may use the db; a
 * non-zero return from fn stops the walk and is returned.  A row whose
 * record is not valid JSON is passed with record = NULL. */
int ctr_records_walk(struct berth_db *db, int (*fn)(void *ctx, const struct ctr_record *r), void *ctx);

/* The live state from <bundle>/status.json (written by the monitor; its
 * optional "pid_start" = field 22 of /proc/<pid>/stat guards against pid
 * reuse), reconciled: a "running" or "paused" status whose pid is gone (or
 * now belongs to another process) reads as "exited" with exit code 255 and
 * error "monitor lost"; no status.json = "created".  -ENOENT when bundle_dir
 * does not exist, -EBADMSG when status.json is not the expected JSON. */
struct ctr_state {
	char state[16];                  /* created | running | paused | exited */
	int pid;
	int exit_code;
	char *started_at, *finished_at;  /* RFC 3339 (nano), NULL when unknown */
	char *error;
	bool oom_killed;
};
int ctr_state_read(const char *bundle_dir, struct ctr_state *out);
void ctr_state_clear(struct ctr_state *s);
/* docker ps's STATUS column: "Up 3 minutes", "Up 2 hours (Paused)",
 * "Exited (0) 2 seconds ago", "Created".  now: unix seconds.  NULL on ENOMEM. */
char *ctr_state_status(const struct ctr_state *s, int64_t now);
/* RFC 3339 (nano) -> unix nanoseconds; 0 for NULL, "" and Go's zero time
 * "0001-01-01T00:00:00Z"; -EINVAL when malformed. */
int ctr_time_parse(const char *s, int64_t *ns_out);

#endif
