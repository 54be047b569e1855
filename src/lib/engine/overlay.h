/* overlay.h — a container's root filesystem as an overlay mount.
 *
 * Mounts an image's layer directories (given bottom first, as the image
 * manifest orders them) under a per-container upper/work pair at a target
 * directory.  Promises: any number of layers the kernel's overlay accepts
 * (up to 500) can be mounted — the new mount API with one fsconfig
 * "lowerdir+" per layer where the kernel has it (Linux >= 6.8), otherwise
 * mount(2) with a lowerdir string of short symlinks (<shortlink_dir>/<6
 * chars> -> layer dir, created idempotently and shared between containers)
 * given relative to shortlink_dir, so 128 layers fit easily in the one page
 * mount(2) copies.  A failed mount leaves no mount behind; errors name the
 * target and carry the kernel's own overlay message when it gave one.
 * Unmounting a path that is not a mount point is not an error.
 */
#ifndef BERTH_ENGINE_OVERLAY_H
#define BERTH_ENGINE_OVERLAY_H

#include <stddef.h>

#include "core/error.h"

/* Overlay's own limit on lower layers. */
#define OVERLAY_MAX_LAYERS 500

/* lowers_bottom_first: absolute layer directories, n may be 0 (a scratch
 * image: an empty directory <shortlink_dir>/_empty is the lower layer).
 * shortlink_dir is created when missing; it is needed for n == 0 and for the
 * mount(2) fallback.  When not running as root of the initial user
 * namespace the mount uses "userxattr". */
int overlay_mount(const char *const *lowers_bottom_first, size_t n, const char *upper, const char *work,
		  const char *target, const char *shortlink_dir, struct berth_error *err);

/* Flags for overlay_mount_ex. */
#define OVERLAY_FORCE_LEGACY 0x1u   /* skip the new mount API: mount(2) + short links (tests, old kernels) */

int overlay_mount_ex(const char *const *lowers_bottom_first, size_t n, const char *upper, const char *work,
		     const char *target, const char *shortlink_dir, unsigned flags, struct berth_error *err);

/* Unmount target (lazily with MNT_DETACH when it is busy).  Returns 0 when
 * target is not a mount point or does not exist. */
int overlay_unmount(const char *target, struct berth_error *err);

#endif
