/* devices.h — device nodes and the standard /dev symlinks of a container.
 *
 * Promises: nodes are created inside the rootfs through an fd resolved with
 * openat2(RESOLVE_IN_ROOT), so a symlinked /dev in the image cannot make the
 * runtime mknod on the host.  When mknod is refused (EPERM: a user namespace)
 * the host's node of the same path is bind-mounted onto an empty file, after
 * checking it really is the requested device type and major:minor.  A node
 * that is already a mount point (a device bound there earlier) is never
 * chmod'ed or chown'ed, so the host's device keeps its permissions.
 */
#ifndef BERTH_LINUX_DEVICES_H
#define BERTH_LINUX_DEVICES_H

#include <stdbool.h>

#include "core/error.h"
#include "spec/config.h"

/* Runs before pivot with rootfd an O_PATH fd of the (bind-mounted) rootfs.
 * default_set: /dev/null zero full random urandom tty (char 1:3, 1:5, 1:7,
 * 1:8, 1:9, 5:0, mode 0666, owned by the caller).  Then cfg->linux_->devices
 * (fileMode default 0666; uid/gid only when given; 'u' is 'c').  An existing
 * node of the right type is kept (its mode/owner fixed), anything else at
 * the path is replaced.  Then the symlinks /dev/fd -> /proc/self/fd,
 * /dev/stdin|stdout|stderr -> /proc/self/fd/0|1|2, /dev/core -> /proc/kcore
 * (when the host has /proc/kcore), and /dev/ptmx -> pts/ptmx when a devpts is
 * mounted at /dev/pts (an existing /dev/ptmx node is replaced); other
 * existing entries of those names are left alone. */
int linux_devices_create(int rootfd, const struct spec_config *cfg, bool default_set, struct berth_error *err);

#endif
