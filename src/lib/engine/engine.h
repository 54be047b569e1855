/* engine.h — containers: create, start, stop, remove, exec, logs, inspect.
 *
 * The engine is daemonless: every `berth` command opens the store, does its
 * work and exits.  What must outlive a command lives in a per-container
 * monitor process (berth-monitor: stdio, logs, exit status, --rm cleanup)
 * and in the OCI runtime's state.  Promises:
 *  - A container that failed to create leaves nothing: no record, no overlay
 *    mount, no netns, no runtime state, no monitor.
 *  - Names and IDs are unique across concurrent berth processes (SQLite).
 *  - Every image layer a container uses is held (db_layer_hold) until `rm`.
 */
#ifndef BERTH_ENGINE_ENGINE_H
#define BERTH_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "core/error.h"
#include "engine/options.h"
#include "image/pull.h"
#include "image/store.h"

#define CTR_ID_LEN 64
/* Containers' cgroups are /berth/<id> in every hierarchy. */
#define CTR_CGROUP_PARENT "berth"

struct engine {
	struct image_store *images;     /* owns the db */
	char *root;
	char *default_runtime;          /* absolute path of berth-runtime (next to the berth binary) */
	char *monitor_path;             /* absolute path of berth-monitor */
	char *berth_path;               /* /proc/self/exe resolved: the monitor runs "berth container cleanup" */
	/* engine_start connects to the new monitor's attach socket before the
	 * container runs, so a following engine_attach misses no output. */
	int attach_fd;
	char attach_id[CTR_ID_LEN + 1];
	/* Set by the caller before engine_start when an engine_attach follows
	 * (foreground run, start -a): the monitor then waits for that attach
	 * before the container runs. */
	bool attach_on_start;
	/* How engine_create pulls a missing image (TLS verification, credentials). */
	struct registry_opts registry;
};

int engine_open(const char *root, struct engine **out, struct berth_error *err);
void engine_close(struct engine *e);

/* Resolve a name, full ID or unique ID prefix -> full id.  -ENOENT "No such container: x". */
int engine_resolve(struct engine *e, const char *name_or_id, char id[CTR_ID_LEN + 1], struct berth_error *err);

/* create: pull per o->pull (progress may be NULL), mount rootfs, generate config, record. */
int engine_create(struct engine *e, struct ctr_opts *o, const struct pull_progress *progress,
		  char id_out[CTR_ID_LEN + 1], struct berth_error *err);
/* start: spawn the monitor, which runs `runtime create` + `start`; returns once the process runs
 * (or with the runtime's error text). */
int engine_start(struct engine *e, const char *id, struct berth_error *err);

/* Attach the caller's stdio to a running container through its monitor: copies stdin (when
 * `stdin_fd >= 0`), output to out_fd/err_fd, forwards terminal size (tty), detach keys ctrl-p ctrl-q.
 * Returns 0 with *exit_code when the container exited, or 1 when detached. */
struct attach_opts { int stdin_fd, out_fd, err_fd; bool tty; bool forward_signals; bool logs; };
int engine_attach(struct engine *e, const char *id, const struct attach_opts *ao, int *exit_code,
		  struct berth_error *err);

/* stop: stop signal, then SIGKILL after timeout seconds (-1 = the container's); waits for exit. */
int engine_stop(struct engine *e, const char *id, int timeout, struct berth_error *err);
int engine_kill(struct engine *e, const char *id, const char *signal, struct berth_error *err);
/* rm: refuses a running container unless force (then kills it); volumes: also anonymous volumes. */
int engine_remove(struct engine *e, const char *id, bool force, bool volumes, struct berth_error *err);
/* wait for exit, return its code */
int engine_wait(struct engine *e, const char *id, int *exit_code, struct berth_error *err);
int engine_pause(struct engine *e, const char *id, bool pause, struct berth_error *err);

struct ctr_summary {
	char id[CTR_ID_LEN + 1];
	const char *name, *image, *command, *state /* created|running|paused|exited */, *status /* "Up 2 minutes" */;
	int64_t created;       /* unix seconds */
	int exit_code;
};
int engine_list(struct engine *e, bool all, int (*fn)(void *ctx, const struct ctr_summary *s), void *ctx,
		struct berth_error *err);
json_t *engine_inspect(struct engine *e, const char *id, struct berth_error *err);

struct logs_opts { bool follow, timestamps; int64_t since_ns; long tail /* -1 = all */; int out_fd, err_fd; };
int engine_logs(struct engine *e, const char *id, const struct logs_opts *lo, struct berth_error *err);

struct exec_opts {
	char **argv; char **env; const char *user, *workdir;
	bool detach, interactive, tty, privileged;
};
/* Returns the process's exit code through *exit_code (126/127 as docker when it cannot run). */
int engine_exec(struct engine *e, const char *id, const struct exec_opts *xo, int *exit_code,
		struct berth_error *err);

/* A foreground `run --rm` removes its container itself, right after the exit:
 * claim that job before engine_start (returns a lock fd to keep open until the
 * removal is done; the monitor waits on it and cleans up only if we die). */
int engine_claim_cleanup(struct engine *e, const char *id, struct berth_error *err);

/* Called by the monitor (through `berth container cleanup ID`) after a --rm container exits. */
int engine_cleanup(struct engine *e, const char *id, struct berth_error *err);

/* --- for the engine's own modules (extra.c, commit.c): helper programs --- */

struct ctr_record;
/* Run argv ($PATH searched), stdin from /dev/null, wait.  out non-NULL: stdout
 * into *out (NUL-terminated, the caller frees; NULL: discarded); stderr into
 * errbuf (may be NULL).  Returns the exit status (>= 0) or -errno. */
int engine_run(char *const argv[], char **out, char *errbuf, size_t errlen);
/* `<record's runtime> --root <store>/runtime args...` through engine_run. */
int engine_runtime_run(struct engine *e, const struct ctr_record *rec, const char *const *args, char **out,
		       char *errbuf, size_t errlen);
/* Reduce a program's stderr text to its last non-empty line, in place. */
void engine_last_line(char *text);

#endif
