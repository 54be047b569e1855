/* procfs.h — a procfs handle that a container cannot redirect.
 *
 * Promises: linux_procfs_open() returns an fd to the root of a real procfs
 * instance (a private, never-attached one when the kernel lets us make it,
 * else the /proc we see, checked to be procfs and its root).  Every file the
 * runtime writes through it (sysctls, oom_score_adj, LSM exec attributes) is
 * resolved beneath that root with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) and checked to be on procfs before
 * the single write(2): a config that mounts a tmpfs or a symlink over /proc,
 * or a relative path with "..", can never make the runtime write elsewhere.
 * "self" and "thread-self" are looked up in the handle's own instance, so the
 * handle stays right after the caller changes pid namespace.
 */
#ifndef BERTH_LINUX_PROCFS_H
#define BERTH_LINUX_PROCFS_H

#include <stddef.h>

#include "core/error.h"

/* The root of a procfs instance of the caller's current pid namespace, as an
 * O_CLOEXEC fd (O_PATH for a private instance).  Returns fd or -errno. */
int linux_procfs_open(struct berth_error *err);

/* Check that fd is the root directory of a procfs.  0 or -EXDEV/-errno. */
int linux_procfs_verify_root(int fd, struct berth_error *err);

/* Open `rel` (e.g. "self/oom_score_adj", "1234/uid_map",
 * "sys/net/ipv4/ip_forward") beneath procfd with `flags` (O_CLOEXEC and
 * O_NOCTTY added), and check the result is on procfs.  A leading "self/" or
 * "thread-self/" becomes the numeric id as that procfs instance sees it.
 * Returns fd or -errno (message names /proc/<rel>). */
int linux_procfs_openat(int procfd, const char *rel, int flags, struct berth_error *err);

/* One write(2) of data to rel; a short write is -EIO. */
int linux_procfs_write(int procfd, const char *rel, const char *data, size_t len,
		       struct berth_error *err);
/* Whole file into a NUL-terminated malloc'd *out. */
int linux_procfs_read(int procfd, const char *rel, char **out, struct berth_error *err);

/* self/oom_score_adj.  Lowering it below the process' current minimum needs
 * CAP_SYS_RESOURCE, so call this before capabilities are dropped. */
int linux_set_oom_score_adj(int procfd, int score, struct berth_error *err);

#endif
