/* sync.h — the message protocol between the runtime and its container child.
 *
 * Promises: messages travel over a SOCK_SEQPACKET socketpair, so each one
 * arrives whole or not at all; a peer that dies shows up as -ECONNRESET on
 * the next receive, never as a hang.  A SYNC_ERROR message carries the
 * child's berth_error text, so the user sees the child's precise reason.
 */
#ifndef BERTH_RUNTIME_SYNC_H
#define BERTH_RUNTIME_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

enum sync_type {
	SYNC_GO = 1,            /* parent -> child: proceed (you are in the cgroup) */
	SYNC_USERNS_READY,      /* child -> parent: unshared a user ns, write my maps */
	SYNC_USERNS_MAPPED,     /* parent -> child: maps written */
	SYNC_CHILD_PID,         /* stage 1 -> parent: value = pid of the container init */
	SYNC_INIT_PID,          /* parent -> init: value = its pid as the host sees it */
	SYNC_RUN_HOOKS,         /* init -> parent: run prestart/createRuntime now */
	SYNC_HOOKS_DONE,        /* parent -> init: text = state JSON for createContainer */
	SYNC_PTY_MASTER,        /* init -> parent: the pty master rides along (run -t) */
	SYNC_READY,             /* init -> parent: created, waiting for start */
	SYNC_ERROR,             /* either way: text = error message, value = errno */
	SYNC_START,             /* start -> init (over the start socket) */
	SYNC_CGROUP_DONE,       /* parent -> init: you are in the container's cgroups */
};

#define SYNC_TEXT_MAX 65536

struct sync_msg {
	uint32_t type;
	int32_t value;
	uint32_t len;           /* bytes of text, without the NUL */
	char text[SYNC_TEXT_MAX];
};

int sync_send(int fd, uint32_t type, int32_t value, const char *text);
int sync_send_fd(int fd, uint32_t type, int passfd);
/* Receive one message; *passfd (may be NULL) gets an fd that came with it. */
int sync_recv(int fd, struct sync_msg *m, int *passfd);
/* Receive and require `type`; a SYNC_ERROR becomes err with its text. */
int sync_expect(int fd, uint32_t type, struct sync_msg *m, struct berth_error *err);
/* Report err to the peer (best effort). */
void sync_send_error(int fd, const struct berth_error *err);

#endif
