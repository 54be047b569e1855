#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "engine/netns.h"

/* The bind mounts happen inside a private mount namespace of a forked
 * child, so the host never sees them; the child reports the first failed
 * check through its exit status. */
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "check failed at line %d: %s (errno %d)\n", __LINE__, #c, errno); return __LINE__ % 250 + 1; } } while (0)

static int in_private_ns(int (*fn)(const char *), const char *dir)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(255);
		_exit(fn(dir));
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static bool path_in_mountinfo(const char *path)
{
	_cleanup_free_ char *mi = NULL;
	if (berth_read_file("/proc/self/mountinfo", &mi, NULL) < 0)
		return true;
	char needle[PATH_MAX + 4];
	snprintf(needle, sizeof(needle), " %s ", path);
	return strstr(mi, needle) != NULL;
}

/* In a child that joins the namespace: lo is up and the only interface. */
static int check_inside(const char *path)
{
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			_exit(2);
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		strcpy(ifr.ifr_name, "lo");
		if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
			_exit(3);
		if (!(ifr.ifr_flags & IFF_UP) || !(ifr.ifr_flags & IFF_RUNNING))
			_exit(4);
		struct if_nameindex *ni = if_nameindex();
		if (!ni)
			_exit(5);
		int n = 0;
		for (struct if_nameindex *p = ni; p->if_index; p++) {
			if (strcmp(p->if_name, "lo") != 0)
				_exit(6);
			n++;
		}
		if_freenameindex(ni);
		_exit(n == 1 ? 0 : 7);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 1;
	return WEXITSTATUS(st);
}

static int create_and_remove(const char *dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/netns/ctr1", dir);     /* parent dir does not exist yet */
	struct berth_error err = { 0 };
	char before[PATH_MAX];
	CHECK(readlink("/proc/self/ns/net", before, sizeof(before)) > 0);
	int r = netns_create(path, &err);
	if (r < 0)
		fprintf(stderr, "netns_create: %s\n", err.msg);
	CHECK(r == 0);
	/* we stay in our own namespace */
	char after[PATH_MAX];
	memset(after, 0, sizeof(after));
	CHECK(readlink("/proc/self/ns/net", after, sizeof(after)) > 0);
	CHECK(strncmp(before, after, sizeof(after)) == 0);
	CHECK(path_in_mountinfo(path));
	CHECK(check_inside(path) == 0);

	/* a second create at the same path is refused and leaves the first alone */
	berth_error_clear(&err);
	CHECK(netns_create(path, &err) == -EEXIST);
	CHECK(strstr(err.msg, path) != NULL);
	CHECK(check_inside(path) == 0);

	CHECK(netns_remove(path, &err) == 0);
	CHECK(!path_in_mountinfo(path));
	struct stat st;
	CHECK(lstat(path, &st) < 0 && errno == ENOENT);
	CHECK(netns_remove(path, &err) == 0);      /* absent: fine */
	return 0;
}

static int two_are_distinct(const char *dir)
{
	char a[PATH_MAX], b[PATH_MAX];
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	struct berth_error err = { 0 };
	CHECK(netns_create(a, &err) == 0);
	CHECK(netns_create(b, &err) == 0);
	struct stat sa, sb;
	CHECK(stat(a, &sa) == 0 && stat(b, &sb) == 0);
	CHECK(sa.st_ino != sb.st_ino);               /* nsfs inode = namespace identity */
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/ns/net");
	struct stat ss;
	CHECK(stat(self, &ss) == 0 && ss.st_ino != sa.st_ino);
	CHECK(netns_remove(a, &err) == 0);
	CHECK(netns_remove(b, &err) == 0);
	CHECK(!path_in_mountinfo(a) && !path_in_mountinfo(b));
	return 0;
}

struct t { char dir[PATH_MAX]; };

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	strcpy(t->dir, "/tmp/berth-netns.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	berth_rm_rf(t->dir);
	free(t);
	return 0;
}

static void test_create_remove(void **state)
{
	struct t *t = *state;
	assert_int_equal(in_private_ns(create_and_remove, t->dir), 0);
}

static void test_distinct(void **state)
{
	struct t *t = *state;
	assert_int_equal(in_private_ns(two_are_distinct, t->dir), 0);
}

static void test_remove_absent(void **state)
{
	struct berth_error err = { 0 };
	assert_int_equal(netns_remove("/nonexistent/berth/netns/x", &err), 0);
	assert_int_equal(netns_create("", &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_distinct, setup, teardown),
		cmocka_unit_test(test_remove_absent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
