/* specgen.h — turn what the user asked for (struct ctr_opts) and what the
 * image says (struct image_config) into an OCI runtime config.
 *
 * Promises: specgen_build() returns a complete runtime-spec 1.2 config that
 * spec_config_parse() accepts (bundle-relative root "rootfs"), with docker's
 * defaults: its capability set, its default seccomp profile (our own
 * formulation, see engine/seccomp_default.h), masked and read-only /proc and
 * /sys paths, a private /dev, /dev/shm, /etc/hosts|hostname|resolv.conf bound
 * from the bundle, pid/ipc/uts/mount/cgroup namespaces plus the network one
 * unless the host's is used.  Image and user input is checked here, so a bad
 * flag is reported before anything is created: the error names the flag and
 * the value (docker's wording where docker has one) and carries EINVAL,
 * except "no command specified" (ENOEXEC) and a missing bind source (ENOENT).
 * /etc/passwd and /etc/group are read inside the mounted rootfs with
 * RESOLVE_IN_ROOT only; nothing here writes files or mounts anything.  The
 * caller generates the bundle's hosts/hostname/resolv.conf files, resolves
 * volume host paths (ctr_mount.host_path) and, for --init, names the init
 * binary (specgen_env.init_path); specgen mounts it and wraps argv.
 */
#ifndef BERTH_ENGINE_SPECGEN_H
#define BERTH_ENGINE_SPECGEN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/error.h"
#include "engine/options.h"
#include "spec/image.h"

struct specgen_env {
	const char *id;             /* container id (hostname default: first 12 hex) */
	const char *bundle;         /* <root>/containers/<id> (hosts, hostname, resolv.conf live here) */
	const char *netns_path;     /* NULL = host network (--network host) */
	const char *cgroup_parent;  /* "/berth" -> cgroupsPath "/berth/<id>"; NULL = "/berth" */
	unsigned long nofile_hard;  /* caller's hard RLIMIT_NOFILE: docker's 1048576 default is capped to it
				       (0 = no cap) */
	/* resolved mounts for -v/--mount/--tmpfs/anonymous image volumes: host source paths already
	 * created (named volume _data dirs) by the caller; specgen turns them into OCI mounts.
	 * NULL = use o->mounts (whose host_path the caller filled). */
	const struct ctr_mount *mounts; size_t n_mounts;
	/* --init: the host's berth-init binary, bind-mounted read-only at
	 * SPECGEN_INIT_PATH and put in front of argv ("--" between them).  NULL
	 * with o->init set is an error. */
	const char *init_path;
};
#define SPECGEN_INIT_PATH "/sbin/docker-init"   /* docker's path, so scripts that look for it work */

/* Build the OCI runtime config for a container. rootfs_dirfd: the mounted rootfs (for /etc/passwd,
 * /etc/group lookups of --user, via openat2 RESOLVE_IN_ROOT; -1 = none); cfg: image config (may be
 * NULL for scratch). Returns a new json_t (runtime-spec 1.2) or NULL with err set (e.g. "unable to
 * find user x: no matching entries in passwd file", exit-code class EINVAL). */
json_t *specgen_build(const struct ctr_opts *o, const struct image_config *cfg, int rootfs_dirfd,
		      const struct specgen_env *env, struct berth_error *err);

/* Entrypoint/Cmd rules as docker: argv = (opts entrypoint if set (then image Cmd is ignored unless
 * args given) else image Entrypoint) + (args if given else image Cmd).  --entrypoint "" clears the
 * image's.  *argv is a new NULL-terminated vector.  -ENOEXEC "no command specified". */
int specgen_argv(const struct ctr_opts *o, const struct image_config *cfg, char ***argv,
		 struct berth_error *err);

/* docker-equivalent default seccomp profile (our own allowlist formulation) as runtime-spec
 * linux.seccomp; the capability set o asks for (--cap-add/--cap-drop) widens or narrows the
 * allowlist.  NULL only on allocation failure. */
json_t *specgen_default_seccomp(const struct ctr_opts *o);

/* The capability set o asks for (docker's defaults, --cap-add/--cap-drop with ALL, --privileged:
 * every capability this kernel has) as a bitmask over CAP_* numbers.  -EINVAL "unknown capability". */
int specgen_capabilities(const struct ctr_opts *o, uint64_t *caps, struct berth_error *err);

/* One --ulimit value "name=soft[:hard]" ("unlimited"/-1 = RLIM_INFINITY).  *resource = RLIMIT_*,
 * type = "RLIMIT_NOFILE" (static).  -EINVAL naming the flag. */
int specgen_parse_ulimit(const char *s, int *resource, const char **type, uint64_t *soft,
			 uint64_t *hard, struct berth_error *err);

/* -u for exec: "name|uid[:group|gid]" resolved in the container's /etc/passwd and /etc/group.
 * gids/n_gids (may be NULL) receive the supplementary groups (malloc'd). */
int specgen_resolve_user(int rootfs_dirfd, const char *spec, uint32_t *uid, uint32_t *gid, gid_t **gids,
			 size_t *n_gids, struct berth_error *err);

#endif
