/* idmap.h — user namespace id mappings, for root and for rootless runtimes.
 *
 * Promises: linux_idmap_write() gets a container's uid_map/gid_map written
 * whoever runs the runtime.  Root writes them directly through a verified
 * procfs handle.  An unprivileged caller writes directly only what the
 * kernel allows it (exactly its own euid/egid, one id, with setgroups denied
 * first for gid_map) and hands anything else to the setuid newuidmap /
 * newgidmap helpers, which grant only the ranges /etc/subuid and /etc/subgid
 * give the caller; when they refuse, the error carries their own words.
 * linux_idmap_settle_config() decides, before a container is made and its
 * config saved, what an unprivileged caller's config means: a user namespace
 * is required, missing mappings become the caller's own id mapped to 0, and
 * devpts uid=/gid= options naming ids the container's user namespace does
 * not map (the tty group's gid=5 of every default config) are dropped, since
 * the kernel refuses such a mount.
 */
#ifndef BERTH_LINUX_IDMAP_H
#define BERTH_LINUX_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/error.h"
#include "spec/config.h"

/* Write uid_map/gid_map of `pid` for the mappings in l (either may be
 * empty: then that map is left alone).  privileged: the caller holds
 * CAP_SETUID/CAP_SETGID in the parent user namespace (root), so the maps are
 * written directly through procfd (a linux_procfs_open handle).  Otherwise a
 * map of exactly one id, the caller's own euid (egid), is written directly
 * (gid_map after "deny" to setgroups, as the kernel demands); any other map
 * goes through newuidmap/newgidmap (found in PATH or /usr/bin), which check
 * /etc/subuid and /etc/subgid.  `pid` must be dumpable while this runs (its
 * /proc files are root's otherwise, and newuidmap checks their owner).
 * Errors name linux.uidMappings / linux.gidMappings. */
int linux_idmap_write(int procfd, pid_t pid, const struct spec_linux *l, bool privileged,
		      struct berth_error *err);

/* Settle the id mappings of cfg, parsed from *text (*len bytes), before the
 * container is created.  unprivileged: the runtime is not root (euid/egid
 * are its ids).  Then the config must have a user namespace (-EPERM
 * "rootless containers need a user namespace (linux.namespaces)"), and a new
 * user namespace without linux.uidMappings (gidMappings) gets
 * [{containerID 0, hostID euid (egid), size 1}].  Whoever the caller is, a
 * devpts mount in a new user namespace loses the uid=/gid= options whose id
 * that namespace does not map.  Returns 1 when *text was replaced by a
 * rewritten config (malloc'd; the old one is freed; the caller parses it
 * again, and saves it, so the saved config shows what was decided), 0 when
 * nothing changed, or -errno. */
int linux_idmap_settle_config(const struct spec_config *cfg, bool unprivileged, uid_t euid, gid_t egid,
			      char **text, size_t *len, struct berth_error *err);

#endif
