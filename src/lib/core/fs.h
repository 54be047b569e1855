/* fs.h — file-system helpers that are safe by construction.
 *
 * Promises:
 *  - Paths under a container root or an image are resolved with
 *    openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) relative to a directory
 *    fd: a symlink (absolute or "..") inside the root can never lead the host
 *    outside it.
 *  - berth_write_file_atomic() makes a durable replacement: temp file in the
 *    same directory, fsync, rename, fsync of the directory.  Readers see the
 *    old or the new content, never a mix.
 *  - Every function returns 0 (or an fd) or a negative errno.
 */
#ifndef BERTH_CORE_FS_H
#define BERTH_CORE_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/error.h"

/* openat2 with RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS (plus `resolve` extra
 * flags).  Returns an fd or -errno. */
int berth_openat2(int dirfd, const char *path, int flags, mode_t mode, unsigned long long resolve);
int berth_open_in_root(int rootfd, const char *path, int flags, mode_t mode);

/* Create every missing directory of `path` inside rootfd (components resolved
 * in root, never following a link out of it) and return an O_PATH|O_DIRECTORY
 * fd to the last one.  Existing non-directories are an error (-ENOTDIR). */
int berth_mkdir_p_in_root(int rootfd, const char *path, mode_t mode);

/* Make sure `path` inside rootfd exists as an (empty) regular file, creating
 * parents as directories; returns an O_PATH fd to it. */
int berth_mkfile_p_in_root(int rootfd, const char *path, mode_t mode);

/* Host-side mkdir -p of an absolute or relative path. */
int berth_mkdir_p(const char *path, mode_t mode);

/* Remove a directory tree (no following of symlinks; stays on one device). */
int berth_rm_rf_at(int dirfd, const char *name);
int berth_rm_rf(const char *path);

/* Read a whole file into a NUL-terminated malloc'd buffer. */
int berth_read_file_at(int dirfd, const char *path, char **out, size_t *len);
int berth_read_file(const char *path, char **out, size_t *len);

/* Write data to an existing file (O_WRONLY|O_TRUNC not implied: used for
 * proc and cgroup files where one write(2) is the whole operation). */
int berth_write_file_at(int dirfd, const char *path, const char *data, size_t len);
int berth_write_file(const char *path, const char *data, size_t len);

/* Durable atomic replace of dirfd/name with data (see header). */
int berth_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode);
/* Atomic but not durable: temp file + rename, no fsync.  For records of
 * live processes (runtime state, pid files), which mean nothing after a
 * power loss, where readers must still never see half a file. */
int berth_write_file_replace(int dirfd, const char *name, const void *data, size_t len, mode_t mode);

/* Write the whole buffer, retrying on EINTR and short writes. */
int berth_write_all(int fd, const void *data, size_t len);
/* Read up to len bytes, retrying on EINTR; returns bytes read or -errno. */
ssize_t berth_read_all(int fd, void *buf, size_t len);

/* The path an fd refers to (readlink of /proc/self/fd/N) into buf. */
int berth_fd_path(int fd, char *buf, size_t len);

#endif
