#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "core/sock.h"
#include "engine/attach.h"

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	/* room for a few big frames at once */
	int sz = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

static void stdin_is_split_into_frames(void **state)
{
	(void) state;
	int sv[2];
	pair(sv);
	size_t n = 40000;
	char *data = malloc(n);
	for (size_t i = 0; i < n; i++)
		data[i] = (char) (i * 7);
	assert_int_equal(attach_send_stdin(sv[0], data, n), 0);
	char *buf = malloc(ATTACH_DATA_MAX);
	size_t got = 0, len;
	int type, frames = 0;
	while (got < n) {
		assert_int_equal(attach_recv(sv[1], &type, buf, ATTACH_DATA_MAX, &len), 0);
		assert_int_equal(type, ATTACH_STDIN);
		assert_true(len > 0 && len <= ATTACH_DATA_MAX);
		assert_memory_equal(buf, data + got, len);
		got += len;
		frames++;
	}
	assert_int_equal(got, n);
	assert_int_equal(frames, 3);
	free(buf);
	free(data);
	close(sv[0]);
	close(sv[1]);
}

static void control_frames_round_trip(void **state)
{
	(void) state;
	int sv[2];
	pair(sv);
	uint8_t buf[64];
	size_t len;
	int type;

	assert_int_equal(attach_send_resize(sv[0], 40, 132), 0);
	assert_int_equal(attach_recv(sv[1], &type, buf, sizeof(buf), &len), 0);
	assert_int_equal(type, ATTACH_RESIZE);
	unsigned short rows, cols;
	assert_int_equal(attach_decode_resize(buf, len, &rows, &cols), 0);
	assert_int_equal(rows, 40);
	assert_int_equal(cols, 132);
	assert_int_equal(attach_decode_resize(buf, 3, &rows, &cols), -EBADMSG);

	assert_int_equal(attach_send_close_stdin(sv[0]), 0);
	assert_int_equal(attach_recv(sv[1], &type, buf, sizeof(buf), &len), 0);
	assert_int_equal(type, ATTACH_CLOSE_STDIN);
	assert_int_equal(len, 0);

	/* monitor -> client: output and exit frames as the monitor encodes them */
	uint8_t frame[ATTACH_FRAME_MAX];
	size_t fl = attach_encode(frame, ATTACH_STDERR, "boom\n", 5);
	assert_int_equal(fl, 6);
	assert_int_equal(send(sv[1], frame, fl, 0), (ssize_t) fl);
	fl = attach_encode_exit(frame, 137);
	assert_int_equal(fl, 5);
	assert_int_equal(send(sv[1], frame, fl, 0), (ssize_t) fl);

	assert_int_equal(attach_recv(sv[0], &type, buf, sizeof(buf), &len), 0);
	assert_int_equal(type, ATTACH_STDERR);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "boom\n", 5);
	assert_int_equal(attach_recv(sv[0], &type, buf, sizeof(buf), &len), 0);
	assert_int_equal(type, ATTACH_EXIT);
	assert_int_equal(attach_exit_code(buf, len), 137);
	assert_int_equal(attach_exit_code(buf, 3), -1);

	/* a frame larger than the caller's buffer is reported, not cut silently */
	fl = attach_encode(frame, ATTACH_STDOUT, "0123456789", 10);
	assert_int_equal(send(sv[1], frame, fl, 0), (ssize_t) fl);
	assert_int_equal(attach_recv(sv[0], &type, buf, 4, &len), -EBADMSG);

	/* the monitor going away */
	close(sv[1]);
	assert_int_equal(attach_recv(sv[0], &type, buf, sizeof(buf), &len), -ECONNRESET);
	assert_int_equal(attach_send_stdin(sv[0], "x", 1), -EPIPE);
	close(sv[0]);
}

static void connect_finds_the_socket(void **state)
{
	(void) state;
	char dir[] = "/tmp/berth-attach.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct berth_error err = { 0 };
	int fd = attach_connect(dir, &err);
	assert_int_equal(fd, -ENOENT);
	assert_non_null(strstr(err.msg, "attach.sock"));

	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, ATTACH_SOCKET_NAME);
	_cleanup_close_ int l = berth_unix_listen(path, SOCK_SEQPACKET, 4);
	assert_true(l >= 0);
	berth_error_clear(&err);
	_cleanup_close_ int c = attach_connect(dir, &err);
	assert_true(c >= 0);
	_cleanup_close_ int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	assert_int_equal(attach_send_stdin(c, "hi", 2), 0);
	uint8_t buf[16];
	assert_int_equal(recv(a, buf, sizeof(buf), 0), 3);
	assert_int_equal(buf[0], ATTACH_STDIN);
	assert_memory_equal(buf + 1, "hi", 2);
	berth_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stdin_is_split_into_frames),
		cmocka_unit_test(control_frames_round_trip),
		cmocka_unit_test(connect_finds_the_socket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
