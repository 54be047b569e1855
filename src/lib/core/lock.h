/* lock.h — one flock per object, across processes.
 *
 * Promises: berth_lock_file() returns an fd holding an exclusive flock on
 * dirfd/name (created when missing), and the name still refers to the locked
 * inode when it returns — a holder unlinks the lock file before releasing it
 * (berth_unlock_file), so a waiter that wakes up on an unlinked inode tries
 * again rather than sharing the lock with the next process.
 */
#ifndef BERTH_CORE_LOCK_H
#define BERTH_CORE_LOCK_H

#include <stdbool.h>

/* fd (>= 0) or -errno; -EWOULDBLOCK when !wait and someone holds it. */
int berth_lock_file(int dirfd, const char *name, bool wait);
/* Unlink dirfd/name and close fd (fd < 0: nothing). */
void berth_unlock_file(int dirfd, const char *name, int fd);

#endif
