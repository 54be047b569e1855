/* init.h — what runs on the container's side of the fork.
 *
 * Promises: stage 1 joins the namespaces named by path, creates the new
 * ones (user first, its maps written by the runtime), and forks the
 * container init as a sibling (CLONE_PARENT) so the runtime stays its
 * parent.  The init builds the root filesystem, runs the createContainer
 * hooks, pivots, applies every process setting of the spec, reports READY
 * and then blocks until `start`; only then does it run startContainer hooks,
 * set no_new_privs, load seccomp as late as possible and execve.  Every
 * failure is reported to the runtime over the sync socket with its precise
 * reason, never silently.  The same process-setup path serves `exec`.
 */
#ifndef BERTH_RUNTIME_INIT_H
#define BERTH_RUNTIME_INIT_H

#include <stdbool.h>
#include <sys/types.h>

#include "spec/config.h"

struct linux_seccomp;

struct rt_launch {
	const struct spec_config *cfg;
	const struct spec_process *process; /* cfg->process, or the exec'd one */
	const char *id;
	const char *rootfs;          /* absolute host path */
	int sync_fd;                 /* child's end of the sync socketpair */
	int start_listen_fd;         /* listening start socket (create), else -1 */
	int console_fd;              /* connected --console-socket, else -1 */
	int seccomp_listener_fd;     /* connected seccomp agent socket, else -1 */
	bool pty_to_parent;          /* send the pty master to the runtime (run/exec -t) */
	int preserve_fds;
	bool no_pivot;
	bool no_new_keyring;
	struct linux_seccomp *seccomp;  /* built filter, or NULL */
	const struct spec_seccomp *seccomp_spec;
	/* exec */
	bool is_exec;
	int target_pidfd;            /* pidfd of the container init to join (exec) */
	int join_ns_flags;           /* namespaces to join from target_pidfd */
};

/* Stage 1, run in a fresh child of the runtime; returns the exit code. */
int rt_init_stage1(struct rt_launch *l);

#endif
