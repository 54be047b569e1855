/* Tests for linux/terminal: a working pty pair from TIOCGPTPEER, the master
 * over a console socket, the controlling terminal, and the stdio proxy. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/sock.h"
#include "linux/terminal.h"

#include "unit_helpers.h"

/* Read from fd until `want` shows up (or 5 s pass); returns what was read. */
static char *read_until(int fd, const char *want)
{
	static char buf[8192];
	size_t len = 0;
	buf[0] = '\0';
	while (len + 1 < sizeof(buf) && !strstr(buf, want)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 5000) <= 0)
			break;
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t) n;
		buf[len] = '\0';
	}
	return buf;
}

static void test_open_pair(void **state)
{
	struct berth_error err = { 0 };
	int m = -1, s = -1;
	assert_int_equal(linux_terminal_open("/dev/ptmx", 40, 100, &m, &s, &err), 0);
	_cleanup_close_ int master = m, slave = s;
	assert_true(isatty(slave));
	assert_true(fcntl(master, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(slave, F_GETFD) & FD_CLOEXEC);

	/* The slave is the peer of this master: same pty number. */
	unsigned ptn;
	assert_int_equal(ioctl(master, TIOCGPTN, &ptn), 0);
	struct stat st;
	assert_int_equal(fstat(slave, &st), 0);
	assert_int_equal(minor(st.st_rdev) + (major(st.st_rdev) - 136) * 256, ptn);

	struct winsize ws;
	assert_int_equal(ioctl(slave, TIOCGWINSZ, &ws), 0);
	assert_int_equal(ws.ws_row, 40);
	assert_int_equal(ws.ws_col, 100);

	assert_int_equal(write(slave, "ping\n", 5), 5);
	assert_non_null(strstr(read_until(master, "ping"), "ping"));

	/* Not a ptmx: refused. */
	int m2 = -1, s2 = -1;
	berth_error_clear(&err);
	assert_true(linux_terminal_open("/dev/null", 0, 0, &m2, &s2, &err) < 0);
	assert_int_equal(m2, -1);
	assert_non_null(strstr(err.msg, "/dev/null"));
}

static void test_send_master(void **state)
{
	struct berth_error err = { 0 };
	int m = -1, s = -1;
	assert_int_equal(linux_terminal_open("/dev/ptmx", 0, 0, &m, &s, &err), 0);
	_cleanup_close_ int master = m, slave = s;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	_cleanup_close_ int a = sv[0], b = sv[1];
	assert_int_equal(linux_terminal_send_master(a, master, &err), 0);

	char name[64] = { 0 };
	size_t got = 0;
	int rfd = -1;
	assert_int_equal(berth_recv_fd(b, &rfd, name, sizeof(name) - 1, &got), 0);
	_cleanup_close_ int received = rfd;
	assert_true(received >= 0);
	assert_string_equal(name, "/dev/ptmx");
	close(steal_fd(master));

	assert_int_equal(write(slave, "over the socket\n", 16), 16);
	assert_non_null(strstr(read_until(received, "socket"), "over the socket"));
}

static void test_make_controlling(void **state)
{
	struct berth_error err = { 0 };
	int m = -1, s = -1;
	assert_int_equal(linux_terminal_open("/dev/ptmx", 0, 0, &m, &s, &err), 0);
	_cleanup_close_ int master = m;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		CHECK(linux_terminal_make_controlling(s, &err) == 0);
		close(s);
		pid_t sid = -1;
		CHECK(ioctl(0, TIOCGSID, &sid) == 0 && sid == getpid());
		CHECK(tcgetpgrp(1) == getpgrp());
		CHECK(isatty(0) && isatty(1) && isatty(2));
		CHECK(write(1, "from-init\n", 10) == 10);
		_exit(0);
	}
	close(s);
	assert_non_null(strstr(read_until(master, "from-init"), "from-init"));
	assert_child_ok(pid);
}

/* run -t without a console socket: the proxy relays a pipe-fed stdin to a
 * shell on the pty and its output back to our stdout, and ends once the
 * shell has exited (pidfd) and the pty hung up. */
static void test_proxy(void **state)
{
	int in[2], out[2];
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	pid_t runner = fork();
	assert_true(runner >= 0);
	if (runner == 0) {
		CHECK(dup2(in[0], 0) == 0 && dup2(out[1], 1) == 1);
		close(in[1]);
		close(out[0]);
		struct berth_error err = { 0 };
		int m = -1, s = -1;
		CHECK(linux_terminal_open("/dev/ptmx", 24, 80, &m, &s, &err) == 0);
		pid_t sh = fork();
		CHECK(sh >= 0);
		if (sh == 0) {
			CHECK(linux_terminal_make_controlling(s, &err) == 0);
			execl("/bin/sh", "sh", "-c", "read x; echo \"got:$x\"; read y || echo eof-seen", (char *) NULL);
			_exit(127);
		}
		close(s);
		int pidfd = (int) syscall(SYS_pidfd_open, sh, 0);
		CHECK(pidfd >= 0);
		int r = linux_terminal_proxy(m, pidfd, &err);
		if (r < 0)
			fprintf(stderr, "proxy: %s\n", err.msg);
		CHECK(r == 0);
		int st;
		CHECK(waitpid(sh, &st, 0) == sh && WIFEXITED(st) && WEXITSTATUS(st) == 0);
		_exit(0);
	}
	close(in[0]);
	close(out[1]);
	assert_int_equal(write(in[1], "hello\n", 6), 6);
	close(in[1]); /* end of input: the shell's second read sees EOF */
	char *got = read_until(out[0], "eof-seen");
	assert_non_null(strstr(got, "got:hello"));
	assert_non_null(strstr(got, "eof-seen"));
	assert_child_ok(runner);
	close(out[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_pair),
		cmocka_unit_test(test_send_master),
		cmocka_unit_test(test_make_controlling),
		cmocka_unit_test(test_proxy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
