/* state.h — a container's persistent record under the runtime's --root.
 *
 * Promises: each container owns <root>/<id>/, created exclusively (two
 * creates of one ID cannot both succeed), holding state.json (written
 * atomically: temp file, fsync, rename), a copy of the bundle's config.json
 * taken at create time, and the start socket while the container waits for
 * `start`.  Every command that changes a container holds an exclusive flock
 * on its directory.  IDs are validated before they touch the file system, so
 * "../x" or "a/b" can never name a path outside the root.
 */
#ifndef BERTH_RUNTIME_STATE_H
#define BERTH_RUNTIME_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "core/error.h"

#define RT_STATE_FILE "state.json"
#define RT_CONFIG_FILE "config.json"
#define RT_START_SOCK "start.sock"

struct rt_state {
	char *id;
	char *status;            /* as last recorded: creating|created|running|stopped */
	pid_t pid;               /* container init, host pid; 0 when none */
	unsigned long long pid_start; /* /proc/<pid>/stat starttime, guards pid reuse */
	char *bundle;            /* absolute */
	char *rootfs;            /* absolute */
	char *created;           /* RFC 3339 with nanoseconds, UTC */
	uid_t owner;
	char *cgroup;            /* serialized cgroup manager (JSON text), may be NULL */
	json_t *annotations;     /* object, may be NULL */
	bool no_pivot;
};

int rt_id_validate(const char *id, struct berth_error *err);
/* Open (creating with mode 0700 when `create`) the state root; returns fd. */
int rt_root_open(const char *root, bool create, struct berth_error *err);
/* Exclusive create of <root>/<id>; returns an fd of the new directory. */
int rt_state_dir_create(int rootfd, const char *id, struct berth_error *err);
/* Open <root>/<id>; -ENOENT becomes "container <id> does not exist". */
int rt_state_dir_open(int rootfd, const char *id, struct berth_error *err);
/* Block until we hold the container's lock (released when dirfd closes). */
int rt_state_lock(int dirfd, struct berth_error *err);
int rt_state_write(int dirfd, const struct rt_state *s, struct berth_error *err);
int rt_state_read(int dirfd, const char *id, struct rt_state *s, struct berth_error *err);
void rt_state_clear(struct rt_state *s);
/* Remove <root>/<id> and everything in it. */
int rt_state_dir_remove(int rootfd, const char *id);

/* starttime (clock ticks since boot) of pid from /proc/<pid>/stat; 0 when
 * the process does not exist.  *zombie (may be NULL) tells state 'Z'/'X'. */
unsigned long long rt_pid_start_time(pid_t pid, bool *zombie);
/* Whether the recorded process is still alive (same pid, same start time,
 * not a zombie). */
bool rt_state_process_alive(const struct rt_state *s);
/* Current time as RFC 3339 with nanoseconds (malloc'd). */
char *rt_now_rfc3339(void);

#endif
