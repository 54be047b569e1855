/* namespaces.h — naming, joining and mapping Linux namespaces.
 *
 * Promises: a namespace joined "by path" is first checked to really be a
 * namespace of the requested type (NS_GET_NSTYPE on the nsfs inode), so a
 * config cannot make the runtime setns() into something else; uid/gid maps
 * and time offsets are written through a verified procfs handle
 * (linux/procfs.h), never through a path a container controls.
 */
#ifndef BERTH_LINUX_NAMESPACES_H
#define BERTH_LINUX_NAMESPACES_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/error.h"
#include "spec/config.h"

/* "pid" / "network" / ... (runtime-spec names) <-> CLONE_NEW* */
int linux_ns_type_from_name(const char *name);
const char *linux_ns_spec_name(int type);
/* The /proc/<pid>/ns/<file> name: "pid", "net", "mnt", "uts", "ipc", "user", "cgroup", "time". */
const char *linux_ns_proc_name(int type);

/* Open a namespace path and verify its type; returns an fd or -errno. */
int linux_ns_open(const char *path, int type, struct berth_error *err);
/* Join every namespace of cfg that has a path, user namespace first. */
int linux_ns_join_paths(const struct spec_config *cfg, struct berth_error *err);
/* CLONE_NEW* flags of the namespaces cfg asks to create (no path). */
int linux_ns_new_flags(const struct spec_config *cfg);

/* Write uid_map, gid_map for pid through procfd (a linux_procfs_open handle). */
int linux_ns_write_id_maps(int procfd, pid_t pid, const struct spec_linux *l, struct berth_error *err);
/* Write /proc/self/timens_offsets for a freshly unshared time namespace. */
int linux_ns_write_time_offsets(int procfd, const struct spec_linux *l, struct berth_error *err);

#endif
