#include "linux/selfexec.h"
#include "core/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

extern char **environ;

bool linux_selfexec_is_sealed(void)
{
	_cleanup_close_ int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	int seals = fcntl(fd, F_GET_SEALS);
	return seals >= 0 && (seals & SEALS) == SEALS;
}

int linux_selfexec_sealed(char **argv, struct berth_error *err)
{
	if (linux_selfexec_is_sealed())
		return 0;
	_cleanup_close_ int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return berth_errno(err, errno, "open /proc/self/exe");
	struct stat st;
	if (fstat(src, &st) < 0)
		return berth_errno(err, errno, "stat /proc/self/exe");
	_cleanup_close_ int mfd = memfd_create("berth-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return berth_errno(err, errno, "memfd_create");
	off_t off = 0;
	while (off < st.st_size) {
		ssize_t n = sendfile(mfd, src, &off, (size_t) (st.st_size - off));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berth_errno(err, errno, "copy runtime binary to memfd");
		}
		if (n == 0)
			break;
	}
	if (fcntl(mfd, F_ADD_SEALS, SEALS) < 0)
		return berth_errno(err, errno, "seal runtime memfd");
	/* execveat on a CLOEXEC memfd works for ELF binaries: the kernel has
	 * the file open before the fd table is closed. */
	syscall(SYS_execveat, mfd, "", argv, environ, AT_EMPTY_PATH);
	return berth_errno(err, errno, "re-exec runtime from sealed memfd");
}
