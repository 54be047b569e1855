/* copy.h — `berth cp` and `berth export`: files in and out of a container.
 *
 * The container side is always reached through a directory fd of the
 * container's mounted root file system (<bundle>/rootfs, the overlay the
 * engine mounted at create) and openat2(RESOLVE_IN_ROOT): a symlink in the
 * container ("/etc -> /", "../../..") resolves inside the container's root,
 * never on the host.  Trees are walked fd by fd without following symlinks
 * below the source path, and extracted with fd-relative calls that resolve
 * every entry inside the destination directory, so neither a hostile
 * container nor a hostile tar stream (`cp - CTR:DIR`) can make berth read or
 * write a host file it was not asked to.  Directory copies follow docker's
 * rules (SRC/. copies the contents; an existing directory DEST receives SRC
 * under its own name; a missing DEST is created).  Promises: created files
 * are owned by the caller (root in the container, the invoking user on the
 * host) unless `archive` keeps the source's uid/gid; modes, mtimes,
 * symlinks, hard links, devices, fifos and the security.capability and
 * user.* xattrs are kept; sockets are skipped.
 */
#ifndef BERTH_ENGINE_COPY_H
#define BERTH_ENGINE_COPY_H

#include <stdbool.h>

#include <archive.h>

#include "core/error.h"
#include "engine/engine.h"

struct copy_opts {
	bool archive;       /* -a: keep uid/gid of the source */
	bool follow_link;   /* -L: a symlink SRC is copied as what it points to */
};

/* An O_RDONLY|O_DIRECTORY fd of the container's mounted root file system.
 * -ENOENT for an unknown container; -ENXIO "... is not mounted" when the
 * overlay is gone (host rebooted since the container was created/stopped). */
int copy_rootfs_open(struct engine *e, const char *id, struct berth_error *err);

/* `berth cp CTR:src dest`.  dest "-" writes a tar stream of src to out_fd. */
int copy_from_container(struct engine *e, const char *id, const char *src, const char *dest, int out_fd,
			const struct copy_opts *o, struct berth_error *err);
/* `berth cp src CTR:dest`.  src "-" reads a tar stream from in_fd (plain or
 * gzip) and extracts it into dest, which must be an existing directory.
 * Refused for a container created with --read-only. */
int copy_to_container(struct engine *e, const char *id, const char *src, const char *dest, int in_fd,
		      const struct copy_opts *o, struct berth_error *err);

/* `berth export`: the merged file system of the container as a pax tar on out_fd. */
int copy_export(struct engine *e, const char *id, int out_fd, struct berth_error *err);

/* The tree below dirfd (entries named relative to it, no entry for dirfd
 * itself) as tar entries on `a`.  overlay_upper: dirfd is an overlay upper
 * dir; its whiteouts (char 0:0) become ".wh.NAME" entries and opaque
 * directories (trusted.overlay.opaque=y) get a ".wh..wh..opq" entry, as
 * the OCI image spec writes them; a redirect or metacopy entry (which a
 * layer tar cannot express) is an error. */
int copy_tree_to_tar(struct archive *a, int dirfd, bool overlay_upper, const char *what,
		     struct berth_error *err);

#endif
