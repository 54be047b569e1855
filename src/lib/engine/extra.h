/* extra.h — the engine's reporting and housekeeping commands: top, stats,
 * rename, port, container prune, system df, volume pruning for system prune,
 * and info.
 *
 * These sit beside engine.h (same struct engine, same store) and only read
 * what the engine, the monitor and the OCI runtime already keep: container
 * records, status.json, the runtime's `ps --format json` and `events --stats`
 * (runc's CLI contract, so runc and crun work as well as berth-runtime), and
 * /proc.  Promises: nothing here changes a running container; prune removes
 * only containers that are not running at the moment it removes them (a
 * container started meanwhile is skipped, not killed); sizes are apparent
 * file sizes with hard links counted once, as docker reports them.
 */
#ifndef BERTH_ENGINE_EXTRA_H
#define BERTH_ENGINE_EXTRA_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "core/error.h"
#include "engine/engine.h"

/* The container's processes as host pids (the runtime's `ps --format json`).
 * -EINVAL "container x is not running". */
int engine_top_pids(struct engine *e, const char *id, pid_t **pids, size_t *n, struct berth_error *err);

/* docker's top: {"Titles":[...],"Processes":[[...],...]}.  ps_args NULL or
 * empty: ps -ef's columns (UID PID PPID C STIME TTY TIME CMD) read from /proc;
 * otherwise the host's `ps ps_args...` filtered to the container's pids
 * (-EINVAL when its output has no PID column). */
json_t *engine_top(struct engine *e, const char *id, char *const *ps_args, struct berth_error *err);

/* One sample of a container's resource use.  A container that is not
 * running gives a zero sample with running = false. */
struct ctr_stats {
	char id[CTR_ID_LEN + 1];
	char name[256];
	bool running;
	uint64_t cpu_ns;        /* CPU time the container used so far */
	uint64_t system_ns;     /* CPU time of the whole host (all CPUs) at the same moment */
	unsigned online_cpus;
	uint64_t mem_usage;     /* without the inactive page cache, as docker shows it */
	uint64_t mem_limit;     /* the cgroup's limit, or the host's memory when unlimited */
	uint64_t net_rx, net_tx;
	uint64_t blk_read, blk_write;
	uint64_t pids;
};
int engine_stats_sample(struct engine *e, const char *id, struct ctr_stats *out, struct berth_error *err);
/* docker's CPU %: container CPU delta over host CPU delta times the CPUs. */
double engine_stats_cpu_percent(const struct ctr_stats *prev, const struct ctr_stats *cur);
/* docker's MEM %: usage over limit */
double engine_stats_mem_percent(const struct ctr_stats *s);

/* rename: docker's rules (unique, valid name, not the current one). */
int engine_rename(struct engine *e, const char *id, const char *new_name, struct berth_error *err);

/* The published ports of a container: HostConfig.PortBindings as a new JSON
 * object ({"80/tcp":[{"HostIp":"","HostPort":"8080"}]}); empty until
 * networking publishes ports. */
json_t *engine_ports(struct engine *e, const char *id, struct berth_error *err);

/* Remove every container that is not running (created or exited).
 * *removed: NULL-terminated ids (malloc'd, may be NULL on input to not want
 * them), *reclaimed: bytes of their writable layers.  Returns the number
 * removed or -errno. */
int engine_container_prune(struct engine *e, char ***removed, int64_t *reclaimed, struct berth_error *err);

/* Unused volumes: anonymous ones only, or all with `all` (docker 23+). */
int engine_volume_prune(struct engine *e, bool all, char ***removed, int64_t *reclaimed, struct berth_error *err);

/* system df: one row per kind. */
struct engine_df_row { int64_t total, active, size, reclaimable; };
struct engine_df { struct engine_df_row images, containers, volumes, build_cache; };
int engine_df(struct engine *e, struct engine_df *out, struct berth_error *err);

/* docker-shaped `info` object: Containers*, Images, Driver, DriverStatus,
 * CgroupDriver, CgroupVersion, Runtimes, DefaultRuntime, KernelVersion,
 * OperatingSystem, OSType, Architecture, NCPU, MemTotal, DockerRootDir, ... */
json_t *engine_info(struct engine *e, struct berth_error *err);

/* Apparent size of a tree (regular files and symlinks, hard links once);
 * never follows symlinks or leaves the file system.  0 when missing. */
int64_t engine_tree_size(const char *path);

#endif
