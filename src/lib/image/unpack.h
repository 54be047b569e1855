/* unpack.h — extraction of one image layer tar into an overlay "diff" dir.
 *
 * A layer tar comes from a registry nobody vouches for, so extraction is
 * where an image could try to write outside its layer.  image_unpack reads an
 * uncompressed tar (ustar, pax, GNU) from an fd and recreates it inside an
 * empty directory using only fd-relative operations resolved with
 * openat2(RESOLVE_IN_ROOT): no host path is ever built from an entry name and
 * no symlink from the image is ever followed out of the layer.
 * Promises:
 *  - absolute names, ".." components, over-long names and hardlinks to
 *    anything but a regular file already extracted in this layer fail with
 *    -EPERM / -EINVAL / -ENAMETOOLONG naming `what` and the entry.
 *  - OCI whiteouts become overlayfs whiteouts: ".wh.NAME" a char 0:0 device
 *    NAME, ".wh..wh..opq" the xattr trusted.overlay.opaque="y" on its
 *    directory (never deleting this layer's own entries of that directory).
 *  - ownership (unless no_chown), modes incl. setuid/setgid/sticky, mtimes
 *    (directories last), and security.capability / user.* / trusted.* xattrs
 *    are kept.
 *  - in_fd is read to EOF on success so a writer on a pipe never gets SIGPIPE.
 */
#ifndef BERTH_IMAGE_UNPACK_H
#define BERTH_IMAGE_UNPACK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/digest.h"
#include "core/error.h"

struct unpack_opts {
	bool refuse_devices;        /* unprivileged: device nodes are an error (default false as root) */
	bool no_chown;              /* keep caller's uid/gid (rootless) */
	struct berth_hasher *hash;  /* when set, every byte read from in_fd is fed to it,
	                             * trailing padding included (the caller finalizes) */
};

struct unpack_stats {
	uint64_t entries;           /* tar entries processed (whiteouts included) */
	uint64_t bytes;             /* bytes of regular file data written */
	uint64_t stream_bytes;      /* bytes read from in_fd */
};

/* Read an uncompressed tar stream from in_fd (pipe or file) with libarchive and create it inside
 * layer_dirfd (an empty directory) with openat2(RESOLVE_IN_ROOT) only.  Whiteouts become overlay whiteouts
 * (char 0:0 / trusted.overlay.opaque=y). Hostile entries (absolute, "..", escape via link, hardlink outside
 * the layer) -> -EPERM/-EINVAL naming `what` and the entry. Reads in_fd to EOF even on success.
 * opts and stats may be NULL. */
int image_unpack(int in_fd, int layer_dirfd, const struct unpack_opts *opts, const char *what,
                 struct unpack_stats *stats, struct berth_error *err);

#endif
