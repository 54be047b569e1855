/* sock.h — unix-socket plumbing: passing fds and framed messages.
 *
 * Promises: berth_send_fd()/berth_recv_fd() move one file descriptor (plus an
 * optional payload) over an AF_UNIX socket with SCM_RIGHTS; received fds are
 * always O_CLOEXEC.  berth_unix_connect() reaches socket paths longer than
 * sun_path by connecting through an O_PATH fd of the parent directory.
 */
#ifndef BERTH_CORE_SOCK_H
#define BERTH_CORE_SOCK_H

#include <stddef.h>
#include <sys/types.h>

int berth_send_fd(int sock, int fd, const void *data, size_t len);
/* Returns the received fd (or -1 in *fd when none came) and fills data up to
 * cap; *got receives the payload length.  Returns 0 or -errno. */
int berth_recv_fd(int sock, int *fd, void *data, size_t cap, size_t *got);

/* Connect a SOCK_STREAM (type) socket to path; returns fd or -errno. */
int berth_unix_connect(const char *path, int type);
/* Bind+listen on path (unlinking a stale socket first); returns fd or -errno. */
int berth_unix_listen(const char *path, int type, int backlog);

#endif
