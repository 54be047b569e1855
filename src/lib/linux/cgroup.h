/* cgroup.h — the container's control groups, on cgroup v1, v2 and hybrid hosts.
 *
 * Promises: a cgroup_manager names one container cgroup (e.g. "/berth/abc")
 * in every hierarchy the host has mounted, and every operation acts on all of
 * them: create (with parents, cpuset seeding on v1 and subtree_control on v2),
 * enter, resource limits (linux.resources translated field by field to the
 * v1 or v2 files of whichever hierarchy carries each controller, devices as
 * v1 rules or a generated eBPF program on v2), freeze, kill, stats and
 * destroy.  Errors name the JSON path and the cgroup file involved
 * ("linux.resources.memory.limit: writing \"1048576\" to
 * /sys/fs/cgroup/memory/berth/abc/memory.limit_in_bytes: Device or resource
 * busy").  A controller that is not mounted is skipped silently unless the
 * resources ask for it, then it is a clear error.  The manager never touches
 * cgroups outside its own path except to create missing parents and enable
 * controllers in v2 parents' cgroup.subtree_control, and it only ever moves
 * the pids it is given.  It holds no global state; serialize/deserialize let
 * a later CLI invocation act on the same cgroups without probing again.
 */
#ifndef BERTH_LINUX_CGROUP_H
#define BERTH_LINUX_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/error.h"

struct spec_resources;
struct cgroup_manager; /* opaque */

enum cgroup_mode {
	CGROUP_MODE_V1,       /* only v1 hierarchies */
	CGROUP_MODE_HYBRID,   /* v1 controllers + cgroup2 at <fs_root>/unified */
	CGROUP_MODE_V2,       /* cgroup2 at <fs_root> */
};

/* Probe the host: statfs of fs_root and /proc/self/mountinfo (cgroup and
 * cgroup2 mounts under fs_root).  fs_root NULL means "/sys/fs/cgroup".  A
 * fs_root that no cgroup filesystem is mounted on is read as a fake tree (the
 * test seam): "<fs_root>/cgroup.controllers" makes it pure v2; otherwise each
 * sub-directory holding cgroup.procs is a v1 hierarchy whose controllers are
 * its name split at "," ("cpu,cpuacct"), a "unified" sub-directory with
 * cgroup.controllers makes it hybrid.
 * cgroups_path: linux.cgroupsPath; absolute is used as is under each
 * hierarchy, relative goes under "/berth/", NULL means "/berth/<id>".  ".."
 * components and the root itself are refused.  systemd=true always fails
 * with -ENOTSUP and "--systemd-cgroup: systemd cgroup driver is not supported
 * on this host ..." (berth implements only the cgroupfs driver). */
int cgroup_manager_new(const char *fs_root, const char *cgroups_path, const char *id, bool systemd,
		       struct cgroup_manager **out, struct berth_error *err);

/* mkdir the cgroup in every hierarchy (parents too; on v1 cpuset.cpus/mems
 * are copied down into empty new levels so children are usable), enable the
 * needed controllers in subtree_control of v2 parents, then apply r (may be
 * NULL).  On error every directory this call created is removed again. */
int cgroup_create(struct cgroup_manager *m, const struct spec_resources *r, struct berth_error *err);

/* Move pid into the cgroup of every hierarchy.  pid is in the caller's pid
 * namespace.  Call it before the process unshares CLONE_NEWCGROUP, so that
 * its cgroup namespace is rooted at the container's cgroup. */
int cgroup_enter(struct cgroup_manager *m, pid_t pid, struct berth_error *err);

/* Apply r to the existing cgroup (honouring memory.checkBeforeUpdate). */
int cgroup_update(struct cgroup_manager *m, const struct spec_resources *r, struct berth_error *err);

/* Freeze or thaw and wait until the kernel reports the new state (v2
 * cgroup.freeze + cgroup.events, preferred whenever a cgroup2 part exists;
 * else the v1 freezer).  Thawing clears both freezers. */
int cgroup_freeze(struct cgroup_manager *m, bool freeze, struct berth_error *err);
/* *frozen is true when any freezer holds the cgroup frozen. */
int cgroup_is_frozen(struct cgroup_manager *m, bool *frozen);

/* Signal every process in the cgroup (and its sub-cgroups).  SIGKILL goes
 * through cgroup.kill where the kernel has it; other signals are sent pid by
 * pid while the cgroup is frozen, so nothing forks away in between (a cgroup
 * that was already frozen stays frozen). */
int cgroup_kill_all(struct cgroup_manager *m, int sig, struct berth_error *err);

/* The pids in the cgroup and its sub-cgroups (malloc'd array, *n entries). */
int cgroup_pids(struct cgroup_manager *m, pid_t **pids, size_t *n, struct berth_error *err);

/* runc's `events --stats` "data" object as a malloc'd JSON string: cpu,
 * cpuset, memory, pids, blkio, hugetlb.  Missing controllers leave their part
 * empty. */
int cgroup_stats_json(struct cgroup_manager *m, char **json, struct berth_error *err);

/* Number of OOM kills so far (v1 memory.oom_control oom_kill, v2
 * memory.events oom_kill).  -ENOENT when there is no memory controller. */
int cgroup_oom_kills(struct cgroup_manager *m, uint64_t *count);

/* rmdir the cgroup in every hierarchy (sub-cgroups first); retries briefly
 * while the kernel still reports busy after the last process died.  A
 * cgroup that is already gone is success.  Parents (e.g. /berth) stay. */
int cgroup_destroy(struct cgroup_manager *m, struct berth_error *err);

/* JSON (malloc'd) to keep in the container's state dir; NULL on ENOMEM. */
char *cgroup_manager_serialize(const struct cgroup_manager *m);
int cgroup_manager_deserialize(const char *json, struct cgroup_manager **out, struct berth_error *err);

const char *cgroup_manager_path(const struct cgroup_manager *m);   /* e.g. "/berth/abc" */
enum cgroup_mode cgroup_manager_mode(const struct cgroup_manager *m);
/* The container's directory in the hierarchy carrying `controller` ("memory",
 * "cpu", ...; "" or NULL for the cgroup2 part), or NULL when none does. */
const char *cgroup_manager_dir(const struct cgroup_manager *m, const char *controller);
void cgroup_manager_free(struct cgroup_manager *m);

/* Moving a process between cgroups takes the kernel's global
 * cgroup_threadgroup_rwsem for writing, and the first writer after a quiet
 * spell waits for a whole RCU grace period (15-25 ms on this kind of host):
 * most of a container start.  This starts that grace period early, from a
 * throwaway grandchild that "moves" itself into the cgroup it is already in
 * (a no-op for the kernel's accounting), so it elapses while the runtime
 * parses the config and builds namespaces; the real migration later finds
 * it passed or nearly so.  Best effort: failures are silent. */
void cgroup_prewarm_migration(void);

#endif
