/* container.h — the OCI lifecycle as runc's CLI exposes it.
 *
 * Promises: every operation takes the container's lock, reads its recorded
 * state, and reports the live status (a recorded pid whose process died, or
 * was replaced by another with the same number, reads as "stopped").  The
 * transitions are exactly the runtime-spec's: creating -> created ->
 * running -> stopped, with "paused" while the cgroup is frozen.  A create
 * that fails at any step removes what it made (child processes, cgroups,
 * state directory) before it returns the error.
 */
#ifndef BERTH_RUNTIME_CONTAINER_H
#define BERTH_RUNTIME_CONTAINER_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "core/error.h"

struct spec_resources;
struct spec_process;

struct rt_context {
	const char *root;        /* absolute state root */
	bool systemd_cgroup;
	bool rootless;           /* cgroup permission errors become warnings */
};

struct rt_create_opts {
	const char *id;
	const char *bundle;          /* default: cwd */
	const char *pid_file;
	const char *console_socket;
	int preserve_fds;
	bool no_pivot;
	bool no_new_keyring;
	/* run */
	bool detach;
	bool keep;                   /* run: do not delete after the process exits */
};

int rt_create(const struct rt_context *ctx, const struct rt_create_opts *o, struct berth_error *err);
int rt_start(const struct rt_context *ctx, const char *id, struct berth_error *err);
/* create + start, then (unless detached) wait, forwarding signals and the
 * terminal; *exit_code is the process's exit code (128+signal if killed). */
int rt_run(const struct rt_context *ctx, const struct rt_create_opts *o, int *exit_code,
	   struct berth_error *err);
int rt_kill(const struct rt_context *ctx, const char *id, int sig, bool all, struct berth_error *err);
int rt_delete(const struct rt_context *ctx, const char *id, bool force, struct berth_error *err);
/* runc-shaped state object (ociVersion, id, pid, status, bundle, rootfs,
 * created, owner, annotations). */
int rt_state(const struct rt_context *ctx, const char *id, json_t **out, struct berth_error *err);
/* Array of state objects of every container under the root, by ID. */
int rt_list(const struct rt_context *ctx, json_t **out, struct berth_error *err);

struct rt_exec_opts {
	const char *id;
	struct spec_process *process;  /* fully formed process to run */
	const char *console_socket;
	const char *pid_file;
	int preserve_fds;
	bool detach;
};
int rt_exec(const struct rt_context *ctx, const struct rt_exec_opts *o, int *exit_code,
	    struct berth_error *err);
/* The container's config.json as saved at create time (exec starts from
 * its process object, as runc's does). */
int rt_saved_config(const struct rt_context *ctx, const char *id, json_t **out, struct berth_error *err);

int rt_pause(const struct rt_context *ctx, const char *id, bool pause, struct berth_error *err);
int rt_pids(const struct rt_context *ctx, const char *id, pid_t **pids, size_t *n, struct berth_error *err);
int rt_update(const struct rt_context *ctx, const char *id, const struct spec_resources *r,
	      struct berth_error *err);
/* events: one stats object ({"type":"stats","id":...,"data":{...}}) */
int rt_stats(const struct rt_context *ctx, const char *id, json_t **out, struct berth_error *err);
/* Stream events to stdout every interval_ms until the container stops. */
int rt_events(const struct rt_context *ctx, const char *id, int interval_ms, bool stats_once,
	      struct berth_error *err);

#endif
