/* defaults.h — the example config.json that `berth-runtime spec` writes.
 *
 * Promises: the same shape as `runc spec`: a read-only "rootfs" root, `sh`
 * on a terminal as root with three capabilities and no_new_privs, the usual
 * proc/dev/devpts/shm/mqueue/sysfs/cgroup mounts, new pid, network, ipc,
 * uts, mount and cgroup namespaces, a deny-all device cgroup, and runc's
 * masked and read-only /proc and /sys paths.  The rootless variant maps only
 * the calling user (euid/egid -> 0, size 1) in a new user namespace, drops
 * the network namespace, the cgroup mount, cgroup resources and devpts'
 * gid= option, and bind-mounts /sys instead of mounting a new sysfs.  The
 * output always parses cleanly with spec_config_parse().
 */
#ifndef BERTH_SPEC_DEFAULTS_H
#define BERTH_SPEC_DEFAULTS_H

#include <stdbool.h>

/* Pretty-printed JSON, malloc'd; NULL on ENOMEM. */
char *spec_default_config_json(bool rootless);

#endif
