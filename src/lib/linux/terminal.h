/* terminal.h — the container's pseudo-terminal.
 *
 * Promises: the pty is allocated from the container's own ptmx and its slave
 * is obtained from the master with TIOCGPTPEER, never by opening a
 * /dev/pts path the container could have replaced.  The master reaches the
 * caller of --console-socket exactly as runc sends it (SCM_RIGHTS, payload
 * "/dev/ptmx"), or is proxied to our own stdio for `run -t`, with raw mode and
 * window-size changes forwarded and the terminal restored on every path.
 */
#ifndef BERTH_LINUX_TERMINAL_H
#define BERTH_LINUX_TERMINAL_H

#include "core/error.h"

/* Both fds are O_CLOEXEC.  rows/cols: the window size is set when either is
 * non-zero.  Call after pivot_root, in the container's mount namespace, so
 * the pty lives in the container's devpts. */
int linux_terminal_open(const char *ptmx_path, unsigned rows, unsigned cols, int *master, int *slave,
			struct berth_error *err);

int linux_terminal_send_master(int console_sock, int master, struct berth_error *err);

/* setsid (the caller must not be a process-group leader), make slave the
 * controlling terminal and dup it onto 0, 1 and 2.  The slave fd itself
 * stays open and O_CLOEXEC: the caller closes it. */
int linux_terminal_make_controlling(int slave, struct berth_error *err);

/* Relay stdin -> master and master -> stdout until the master hangs up and
 * stop_fd (a pidfd of the container process; -1 for none) is readable.
 * stdin goes to raw mode while it is a tty; SIGWINCH is blocked and read
 * through a signalfd for the duration, then the old mask is restored.
 * Returns 0 or -errno. */
int linux_terminal_proxy(int master, int stop_fd, struct berth_error *err);

#endif
