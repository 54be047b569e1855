/* unit_helpers.h — the scaffolding berth's cmocka unit tests share.
 *
 * Offers: CHECK()/CHECK_OK() for code running in a forked child (cmocka's
 * asserts would longjmp into the child's copy of the runner, so these print
 * file:line and _exit(1) instead); run_in_child() and assert_child_ok() to
 * fork a child and assert that it exited 0; private_mounts() and
 * enter_userns() to put a child in a mount namespace of its own (with "/"
 * rprivate, so nothing it mounts reaches the host); pathf(), write_text()
 * and read_text() for small files; and struct tmproot, a throw-away rootfs
 * directory under /tmp that also remembers the host's mount table so that
 * its teardown can assert no mount leaked.  Header-only (static inline):
 * each test program gets its own copy and links nothing extra.
 */
#ifndef BERTH_TESTS_UNIT_HELPERS_H
#define BERTH_TESTS_UNIT_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/error.h"
#include "core/fs.h"

#define CHECK(c)                                                                                  \
	do {                                                                                      \
		if (!(c)) {                                                                       \
			fprintf(stderr, "%s:%d: CHECK failed: %s (errno: %s)\n", __FILE__, __LINE__, \
				#c, strerror(errno));                                             \
			_exit(1);                                                                 \
		}                                                                                 \
	} while (0)

/* call must not fail (return < 0); errp is the error it fills, reported when
 * it does.  A fresh `e_` is in scope for callers without an error of their
 * own: CHECK_OK(f(&e_), &e_). */
#define CHECK_OK(call, errp)                                                                      \
	do {                                                                                      \
		struct berth_error e_ __attribute__((unused)) = { 0 };                            \
		int r_ = (call);                                                                  \
		if (r_ < 0) {                                                                     \
			fprintf(stderr, "%s:%d: %s = %d: %s\n", __FILE__, __LINE__, #call, r_,    \
				(errp)->msg);                                                     \
			_exit(1);                                                                 \
		}                                                                                 \
	} while (0)

/* In the parent: the child pid exited, with status 0. */
static inline void assert_child_ok(pid_t pid)
{
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* Run fn in a forked child (which exits 0 when fn returns) and assert that
 * it exited 0.  Buffered output is flushed first so the child cannot print
 * it a second time. */
static inline void run_in_child(void (*fn)(void))
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	assert_child_ok(pid);
}

/* In a child: a mount namespace of its own (plus extra_unshare flags), with
 * "/" rprivate so no mount made from here on propagates to the host. */
static inline void private_mounts(int extra_unshare)
{
	CHECK(unshare(CLONE_NEWNS | extra_unshare) == 0);
	CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
}

/* In a child: become root of a fresh user namespace mapping only ourselves
 * (0 -> 0), with a new mount namespace owned by it: mknod and new sysfs
 * instances are then refused, as for a rootless or userns container. */
static inline void enter_userns(void)
{
	CHECK(unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0);
	CHECK(berth_write_file("/proc/self/setgroups", "deny", 4) == 0);
	CHECK(berth_write_file("/proc/self/uid_map", "0 0 1", 5) == 0);
	CHECK(berth_write_file("/proc/self/gid_map", "0 0 1", 5) == 0);
	CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
}

/* printf into a PATH_MAX buffer. */
static inline void pathf(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void pathf(char *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
}

/* Create or truncate path (0644) holding text. */
static inline void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	CHECK(berth_write_all(fd, text, strlen(text)) == 0);
	close(fd);
}

/* The whole file, NUL-terminated and malloc'd; NULL when it cannot be read. */
static inline char *read_text(const char *path)
{
	char *s = NULL;
	if (berth_read_file(path, &s, NULL) < 0)
		return NULL;
	return s;
}

/* A throw-away container root: base is /tmp/berth-<name>-test.XXXXXX, root
 * is base/root with the listed top-level directories and an /etc/passwd
 * line for root (dirs must name "etc"). */
struct tmproot {
	char base[PATH_MAX];
	char root[PATH_MAX];
	char *mountinfo_before;
};

static inline struct tmproot *tmproot_new(const char *name, const char *const *dirs, size_t n_dirs,
					  const char *passwd)
{
	struct tmproot *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->base, sizeof(f->base), "/tmp/berth-%s-test.XXXXXX", name);
	assert_non_null(mkdtemp(f->base));
	snprintf(f->root, sizeof(f->root), "%s/root", f->base);
	char p[PATH_MAX];
	assert_int_equal(mkdir(f->root, 0755), 0);
	for (size_t i = 0; i < n_dirs; i++) {
		pathf(p, "%s/%s", f->root, dirs[i]);
		assert_int_equal(mkdir(p, 0755), 0);
	}
	pathf(p, "%s/etc/passwd", f->root);
	write_text(p, passwd);
	f->mountinfo_before = read_text("/proc/self/mountinfo");
	assert_non_null(f->mountinfo_before);
	return f;
}

typedef void (*tmproot_child_fn)(struct tmproot *f);

/* Run fn(f) in a forked child that has private_mounts(extra_unshare), and
 * assert that it exited 0. */
static inline void tmproot_run_child(struct tmproot *f, tmproot_child_fn fn, int extra_unshare)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		private_mounts(extra_unshare);
		fn(f);
		_exit(0);
	}
	assert_child_ok(pid);
}

/* Removes the directory after asserting that the host's mount table is as
 * it was: nothing a child did may be visible there. */
static inline void tmproot_free(struct tmproot *f)
{
	_cleanup_free_ char *after = read_text("/proc/self/mountinfo");
	assert_non_null(after);
	assert_string_equal(f->mountinfo_before, after);
	assert_null(strstr(after, f->base));
	berth_rm_rf(f->base);
	free(f->mountinfo_before);
	free(f);
}

#endif
