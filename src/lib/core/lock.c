/* lock.c — one flock per object (see lock.h). */
#include "core/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"

int berth_lock_file(int dirfd, const char *name, bool wait)
{
	for (;;) {
		_cleanup_close_ int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		int r;
		do
			r = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return -errno;
		struct stat a, b;
		if (fstat(fd, &a) < 0)
			return -errno;
		if (fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;   /* the holder unlinked it while we waited */
			return -errno;
		}
		if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return steal_fd(fd);
	}
}

void berth_unlock_file(int dirfd, const char *name, int fd)
{
	if (fd < 0)
		return;
	unlinkat(dirfd, name, 0);
	close(fd);
}
