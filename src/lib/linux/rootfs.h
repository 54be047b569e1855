/* rootfs.h — the container's root filesystem: mounts, pivot, masks, console.
 *
 * Promises: these functions run in the container's init process, already in
 * its own mount namespace, in this order: linux_rootfs_prepare() (before
 * pivot), linux_rootfs_pivot(), linux_rootfs_finalize(), and
 * linux_rootfs_bind_console() when there is a terminal.  Every mount
 * destination is created or opened inside the rootfs with openat2
 * (RESOLVE_IN_ROOT) and the mount is attached to that fd, never to a joined
 * path string: a symlink in the rootfs ("etc -> /tmp", "x -> ../../..") can
 * never put a mount on the host.  Mounts use the fd-based mount API
 * (open_tree/fsopen/fsmount/mount_setattr/move_mount) when the kernel has it
 * and mount(2) on "/proc/self/fd/N" otherwise.  Per-mount options ("ro",
 * "nosuid", atime...) apply to the top mount of a bind and keep the source's
 * other flags; the recursive ones ("rro", "rnosuid"...) apply to the whole
 * tree.  Nothing here ever remounts a superblock: read-only is always a
 * mount-level attribute, so a shared filesystem (sysfs, cgroupfs) is never
 * changed for the host.  Errors name the input: "root.path /x: No such file
 * or directory", "mounts[3] (/data): mount tmpfs: Invalid argument",
 * "linux.maskedPaths[0] (/proc/kcore): ...".
 */
#ifndef BERTH_LINUX_ROOTFS_H
#define BERTH_LINUX_ROOTFS_H

#include <stdbool.h>

#include "core/error.h"
#include "spec/config.h"

struct linux_rootfs_options {
	/* Use mount(2) even when the new mount API exists (the path older
	 * kernels take).  Recursive attributes and idmapped mounts still need
	 * mount_setattr(2) and fail with a clear error without it. */
	bool legacy_mount_api;
	/* Called once, right before the first cgroup/cgroup2 mount: the
	 * runtime moves the process into its cgroups (and unshares the cgroup
	 * namespace) while the other mounts are made, and must be done by the
	 * time a cgroup mount reads /proc/self/cgroup.  May be NULL. */
	int (*before_cgroup_mount)(void *arg, struct berth_error *err);
	void *arg;
};

/* Before pivot: make "/" MS_SLAVE|MS_REC (or linux.rootfsPropagation when
 * given), make the mount holding rootfs private when it is shared (pivot_root
 * and MS_MOVE refuse a shared parent), bind rootfs onto itself (MS_BIND|MS_REC),
 * perform cfg->mounts in order, then create the devices and /dev symlinks
 * (linux/devices.h) unless a mount binds something onto /dev.  rootfs is an
 * absolute host path; relative bind sources are resolved from the caller's
 * cwd (the runtime runs in the bundle directory).
 *  - "cgroup": on a cgroup v2 host, cgroup2 at the destination; on a v1 or
 *    hybrid host, a tmpfs there with one directory per hierarchy named as on
 *    the host ("cpu,cpuacct" plus "cpu"/"cpuacct" symlinks, "unified" for
 *    the v2 part), the tmpfs made read-only last when "ro" was asked.  Each
 *    hierarchy is a new instance when linux.namespaces has a cgroup
 *    namespace (the caller must already be in it), else a bind of this
 *    process's own cgroup directory (so: join the cgroups first).
 *    "cgroup2" is the v2 part alone.
 *  - "sysfs" falls back to an rbind of /sys, the flags applied to every
 *    mount of it, when the kernel refuses a new instance (EPERM: a user
 *    namespace without its own network namespace).
 *  - idmap/ridmap: the user namespace for the mapping is made by a forked
 *    child of the caller, so host ids are read in the caller's user
 *    namespace; the kernel allows idmapping only to a caller privileged
 *    over the source filesystem (in practice: not inside a user namespace).
 * Needs the host /proc (/proc/self/mountinfo, /proc/self/cgroup, procfs for
 * idmaps, /proc/self/fd for the mount(2) fallback).  Refuses to run when it
 * can tell it is in pid 1's mount namespace (best effort: skipped when
 * /proc/1/ns/mnt cannot be read). */
int linux_rootfs_prepare(const struct spec_config *cfg, const char *rootfs, struct berth_error *err);
int linux_rootfs_prepare_with(const struct spec_config *cfg, const char *rootfs,
			      const struct linux_rootfs_options *opts, struct berth_error *err);

/* pivot_root(".", ".") into rootfs, then the old root (stacked on top) is
 * made MS_SLAVE|MS_REC and lazily unmounted, so the host's mounts are gone
 * from the container's mount table.  With no_pivot: mounts that are neither
 * above nor below rootfs are detached, rootfs is MS_MOVEd onto "/" and
 * chroot(".") follows (runc's --no-pivot; a chroot is weaker than pivot).
 * Ends with cwd "/". */
int linux_rootfs_pivot(const char *rootfs, bool no_pivot, struct berth_error *err);

/* After pivot: linux.maskedPaths (directories get a read-only tmpfs, other
 * files the container's /dev/null, checked to be char 1:3 first),
 * linux.readonlyPaths (recursive read-only bind onto itself), root.readonly
 * (remount "/" read-only keeping its other flags), then
 * linux.rootfsPropagation on "/" when given.  Missing paths are skipped.
 * /proc need not be mounted in the container unless the kernel lacks the new
 * mount API (the mount(2) fallback goes through /proc/self/fd). */
int linux_rootfs_finalize(const struct spec_config *cfg, struct berth_error *err);

/* After pivot: bind the pty slave `slave_fd` onto /dev/console, creating an
 * empty file there when missing. */
int linux_rootfs_bind_console(int slave_fd, struct berth_error *err);

/* Bind the object at (src_dirfd, src_path) onto the file or directory
 * dest_fd refers to (any fd, O_PATH is fine).  src_path NULL or "" binds
 * src_dirfd itself (AT_EMPTY_PATH), so the source is not resolved twice;
 * otherwise src_dirfd must be AT_FDCWD.  Uses open_tree + move_mount, or
 * mount(2) through /proc/self/fd when the kernel lacks them.  Returns 0 or
 * -errno (no message: callers name the object). */
int linux_mount_bind_onto(int src_dirfd, const char *src_path, int dest_fd, bool recursive);

#endif
