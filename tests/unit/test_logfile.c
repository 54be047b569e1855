#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "engine/logfile.h"

struct t {
	char dir[PATH_MAX];
	char log[PATH_MAX + 16];
	char out[PATH_MAX + 16];
	char errp[PATH_MAX + 16];
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	strcpy(t->dir, "/tmp/berth-logfile.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->log, sizeof(t->log), "%s/ctr.log", t->dir);
	snprintf(t->out, sizeof(t->out), "%s/out", t->dir);
	snprintf(t->errp, sizeof(t->errp), "%s/err", t->dir);
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

static char *slurp(const char *path)
{
	char *s = NULL;
	size_t len;
	if (berth_read_file(path, &s, &len) < 0)
		return strdup("");
	return s;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void escape(const char *in, size_t len, const char *want)
{
	char out[256];
	size_t n = logfile_json_escape(out, in, len);
	assert_int_equal(n, strlen(want));
	assert_string_equal(out, want);
}

static void escapes_like_docker(void **state)
{
	(void) state;
	escape("hi\n", 3, "hi\\n");
	escape("a\"b\\c\t\r", 7, "a\\\"b\\\\c\\t\\r");
	escape("\x01\x1b[0m\x7f", 6, "\\u0001\\u001b[0m\x7f");
	escape("<a&b>", 5, "\\u003ca\\u0026b\\u003e");
	escape("\0x", 2, "\\u0000x");
	/* valid UTF-8 passes through; U+2028/2029 are escaped */
	escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	escape("\xe2\x80\xa8\xe2\x80\xa9", 6, "\\u2028\\u2029");
	/* invalid: lone continuation, overlong, surrogate, truncated, > U+10FFFF */
	escape("a\x80" "b", 3, "a\\ufffdb");
	escape("\xc0\x80", 2, "\\ufffd\\ufffd");
	escape("\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd");
	escape("\xe2\x82", 2, "\\ufffd\\ufffd");
	escape("\xf4\x90\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd");
	escape("\xff", 1, "\\ufffd");
}

static void times_format_and_parse(void **state)
{
	(void) state;
	char buf[48];
	struct timespec ts = { .tv_sec = 1704067200, .tv_nsec = 123456789 };
	logfile_format_time(&ts, false, buf, sizeof(buf));
	assert_string_equal(buf, "2024-01-01T00:00:00.123456789Z");
	ts.tv_nsec = 120000000;
	logfile_format_time(&ts, false, buf, sizeof(buf));
	assert_string_equal(buf, "2024-01-01T00:00:00.12Z");
	logfile_format_time(&ts, true, buf, sizeof(buf));
	assert_string_equal(buf, "2024-01-01T00:00:00.120000000Z");
	ts.tv_nsec = 0;
	logfile_format_time(&ts, false, buf, sizeof(buf));
	assert_string_equal(buf, "2024-01-01T00:00:00Z");

	int64_t ns;
	assert_int_equal(logfile_parse_time("2024-01-01T00:00:00.123456789Z", &ns), 0);
	assert_true(ns == 1704067200LL * 1000000000LL + 123456789);
	assert_int_equal(logfile_parse_time("2024-01-01T01:00:00.5+01:00", &ns), 0);
	assert_true(ns == 1704067200LL * 1000000000LL + 500000000);
	assert_int_equal(logfile_parse_time("2024-01-01T00:00:00Z", &ns), 0);
	assert_true(ns == 1704067200LL * 1000000000LL);
	assert_int_equal(logfile_parse_time("2024-01-01 00:00:00Z", &ns), -EINVAL);
	assert_int_equal(logfile_parse_time("2024-13-01T00:00:00Z", &ns), -EINVAL);
	assert_int_equal(logfile_parse_time("2024-01-01T00:00:00", &ns), -EINVAL);
}

static void writes_docker_json_lines(void **state)
{
	struct t *t = *state;
	struct logfile_writer *w;
	struct berth_error err = { 0 };
	assert_int_equal(logfile_writer_open(t->log, 0, 1, &w, &err), 0);
	assert_int_equal(logfile_writer_feed(w, LOGFILE_STDOUT, "hello\nwor", 9), 0);
	assert_int_equal(logfile_writer_feed(w, LOGFILE_STDERR, "oops\n", 5), 0);
	assert_int_equal(logfile_writer_feed(w, LOGFILE_STDOUT, "ld\n<tag>\ttab\x01\xff", 14), 0);
	logfile_writer_close(w);   /* flushes the partial "<tag>..." line */

	_cleanup_free_ char *s = slurp(t->log);
	assert_int_equal(count_lines(s), 4);
	regex_t re;
	assert_int_equal(regcomp(&re,
		"^\\{\"log\":\"hello\\\\n\",\"stream\":\"stdout\",\"time\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z\"\\}\n"
		"\\{\"log\":\"oops\\\\n\",\"stream\":\"stderr\",\"time\":\"[^\"]+\"\\}\n"
		"\\{\"log\":\"world\\\\n\",\"stream\":\"stdout\",\"time\":\"[^\"]+\"\\}\n"
		"\\{\"log\":\"\\\\u003ctag\\\\u003e\\\\ttab\\\\u0001\\\\ufffd\",\"stream\":\"stdout\",\"time\":\"[^\"]+\"\\}\n$",
		REG_EXTENDED), 0);
	int m = regexec(&re, s, 0, NULL, 0);
	regfree(&re);
	if (m != 0)
		fail_msg("log content:\n%s", s);
}

static void long_lines_split_at_16k(void **state)
{
	struct t *t = *state;
	struct logfile_writer *w;
	struct berth_error err = { 0 };
	size_t n = 20000;
	char *line = malloc(n + 1);
	memset(line, 'x', n);
	line[n] = '\n';
	assert_int_equal(logfile_writer_open(t->log, 0, 1, &w, &err), 0);
	/* fed in odd pieces: the split must not depend on read sizes */
	for (size_t off = 0; off < n + 1; off += 777)
		assert_int_equal(logfile_writer_feed(w, LOGFILE_STDOUT, line + off, off + 777 > n + 1 ? n + 1 - off : 777), 0);
	logfile_writer_close(w);
	free(line);

	_cleanup_close_ int fd = open(t->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct logfile_read_opts o = { .tail = -1, .out_fd = fd, .err_fd = fd };
	assert_int_equal(logfile_read(t->log, &o, &err), 0);
	_cleanup_free_ char *s = slurp(t->log);
	assert_int_equal(count_lines(s), 2);
	/* first record: 16384 x without a newline; second: the rest with it */
	char *nl = strchr(s, '\n');
	*nl = '\0';
	assert_null(strstr(s, "\\n\",\"stream\""));
	assert_int_equal(strspn(s + strlen("{\"log\":\""), "x"), LOGFILE_LINE_MAX);
	assert_non_null(strstr(nl + 1, "\\n\",\"stream\""));
	_cleanup_free_ char *out = slurp(t->out);
	assert_int_equal(strlen(out), n + 1);
	assert_int_equal(strspn(out, "x"), n);
}

static void write_numbered(const char *path, int64_t max, int files, int from, int to)
{
	struct logfile_writer *w;
	struct berth_error err = { 0 };
	assert_int_equal(logfile_writer_open(path, max, files, &w, &err), 0);
	for (int i = from; i < to; i++) {
		char line[32];
		int n = snprintf(line, sizeof(line), "line %04d\n", i);
		assert_int_equal(logfile_writer_feed(w, LOGFILE_STDOUT, line, (size_t) n), 0);
	}
	logfile_writer_close(w);
}

static void rotates_and_reads_in_order(void **state)
{
	struct t *t = *state;
	struct berth_error err = { 0 };
	/* each record is ~80 bytes: 10 records per file */
	write_numbered(t->log, 800, 3, 0, 100);
	char p[PATH_MAX + 32];
	struct stat st;
	snprintf(p, sizeof(p), "%s.1", t->log);
	assert_int_equal(stat(p, &st), 0);
	assert_true(st.st_size >= 800 && st.st_size < 800 + 100);
	snprintf(p, sizeof(p), "%s.2", t->log);
	assert_int_equal(stat(p, &st), 0);
	snprintf(p, sizeof(p), "%s.3", t->log);
	assert_int_equal(stat(p, &st), -1);

	_cleanup_close_ int fd = open(t->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct logfile_read_opts o = { .tail = -1, .out_fd = fd, .err_fd = fd };
	assert_int_equal(logfile_read(t->log, &o, &err), 0);
	_cleanup_free_ char *out = slurp(t->out);
	/* a contiguous run ending with the last line, 21..30 lines long */
	size_t lines = count_lines(out);
	assert_true(lines > 20 && lines <= 30);
	int first;
	assert_int_equal(sscanf(out, "line %d", &first), 1);
	assert_int_equal(first, 100 - (int) lines);
	char want[32];
	for (size_t i = 0; i < lines; i++) {
		snprintf(want, sizeof(want), "line %04d\n", first + (int) i);
		assert_memory_equal(out + i * 10, want, 10);
	}

	/* tail counts across the rotated files too */
	assert_int_equal(ftruncate(fd, 0), 0);
	lseek(fd, 0, SEEK_SET);
	o.tail = 15;
	assert_int_equal(logfile_read(t->log, &o, &err), 0);
	free(out);
	out = slurp(t->out);
	assert_int_equal(count_lines(out), 15);
	assert_memory_equal(out, "line 0085\n", 10);
}

static void max_file_one_truncates(void **state)
{
	struct t *t = *state;
	write_numbered(t->log, 400, 1, 0, 50);
	struct stat st;
	char p[PATH_MAX + 32];
	assert_int_equal(stat(t->log, &st), 0);
	assert_true(st.st_size < 400 + 100);
	snprintf(p, sizeof(p), "%s.1", t->log);
	assert_int_equal(stat(p, &st), -1);
	_cleanup_free_ char *s = slurp(t->log);
	assert_non_null(strstr(s, "line 0049"));
	assert_null(strstr(s, "line 0000"));
}

static void read_filters_streams_and_timestamps(void **state)
{
	struct t *t = *state;
	struct logfile_writer *w;
	struct berth_error err = { 0 };
	assert_int_equal(logfile_writer_open(t->log, 0, 1, &w, &err), 0);
	struct timespec ts = { .tv_sec = 1704067200, .tv_nsec = 5 };
	for (int i = 0; i < 6; i++) {
		char line[32];
		int n = snprintf(line, sizeof(line), "%s %d\n", i % 2 ? "err" : "out", i);
		ts.tv_sec = 1704067200 + i;
		assert_int_equal(logfile_writer_record(w, i % 2 ? LOGFILE_STDERR : LOGFILE_STDOUT, line, (size_t) n, &ts), 0);
	}
	logfile_writer_close(w);

	_cleanup_close_ int ofd = open(t->out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	_cleanup_close_ int efd = open(t->errp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct logfile_read_opts o = { .tail = -1, .out_fd = ofd, .err_fd = efd };
	assert_int_equal(logfile_read(t->log, &o, &err), 0);
	_cleanup_free_ char *out = slurp(t->out);
	_cleanup_free_ char *errs = slurp(t->errp);
	assert_string_equal(out, "out 0\nout 2\nout 4\n");
	assert_string_equal(errs, "err 1\nerr 3\nerr 5\n");

	/* since is inclusive; tail is applied to the whole log first */
	assert_int_equal(ftruncate(ofd, 0), 0);
	assert_int_equal(ftruncate(efd, 0), 0);
	lseek(ofd, 0, SEEK_SET);
	lseek(efd, 0, SEEK_SET);
	o.since_ns = (1704067200LL + 2) * 1000000000LL + 5;
	o.tail = 3;
	o.timestamps = true;
	o.err_fd = ofd;
	assert_int_equal(logfile_read(t->log, &o, &err), 0);
	free(out);
	out = slurp(t->out);
	assert_string_equal(out, "2024-01-01T00:00:03.000000005Z err 3\n"
				 "2024-01-01T00:00:04.000000005Z out 4\n"
				 "2024-01-01T00:00:05.000000005Z err 5\n");

	/* a log that does not exist is empty, not an error */
	char none[PATH_MAX + 16];
	snprintf(none, sizeof(none), "%s/none.log", t->dir);
	o.tail = -1;
	assert_int_equal(logfile_read(none, &o, &err), 0);
}

static void parses_lines(void **state)
{
	(void) state;
	const char *line = "{\"log\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\u003c\\n\",\"stream\":\"stderr\","
			   "\"attrs\":{\"a\":\"}\",\"b\":[1,2]},\"time\":\"2024-01-01T00:00:00.5Z\"}";
	char buf[256];
	struct logfile_record rec;
	assert_int_equal(logfile_parse_line(line, strlen(line), buf, &rec), 0);
	assert_int_equal(rec.stream, LOGFILE_STDERR);
	assert_true(rec.time_ns == 1704067200LL * 1000000000LL + 500000000);
	assert_int_equal(rec.len, strlen("caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" <\n"));
	assert_memory_equal(rec.text, "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" <\n", rec.len);

	const char *bad[] = { "", "{", "{\"log\":1}", "{\"stream\":\"stdout\"}", "{\"log\":\"x\\q\"}",
			      "{\"log\":\"x\",\"time\":\"yesterday\"}", "not json" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(logfile_parse_line(bad[i], strlen(bad[i]), buf, &rec), -EINVAL);

	/* what the writer escapes, the parser gives back byte for byte (valid UTF-8) */
	const char raw[] = "a\tb\x01<>&\xe2\x80\xa8 \xc3\xa9\n";
	char esc[256], rec_line[512];
	logfile_json_escape(esc, raw, sizeof(raw) - 1);
	snprintf(rec_line, sizeof(rec_line), "{\"log\":\"%s\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:00Z\"}", esc);
	assert_int_equal(logfile_parse_line(rec_line, strlen(rec_line), buf, &rec), 0);
	assert_int_equal(rec.len, sizeof(raw) - 1);
	assert_memory_equal(rec.text, raw, rec.len);
}

static void write_status(const char *dir, const char *json)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(berth_write_file_replace(dfd, "status.json", json, strlen(json), 0644), 0);
}

static void follow_until_exited(void **state)
{
	struct t *t = *state;
	struct berth_error err = { 0 };
	char st[64];
	write_numbered(t->log, 0, 1, 0, 2);
	snprintf(st, sizeof(st), "{\"state\":\"running\",\"pid\":%d}", (int) getpid());
	write_status(t->dir, st);

	_cleanup_close_ int fd = open(t->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		/* the "container": once the reader follows (it has written what was
		 * there), more output with a rotation, then it exits */
		for (int i = 0;; i++) {
			_cleanup_free_ char *got = slurp(t->out);
			if (strcmp(got, "line 0000\nline 0001\n") == 0)
				break;
			if (i == 1000)
				_exit(2);
			usleep(10 * 1000);
		}
		write_numbered(t->log, 100, 3, 2, 6);
		write_status(t->dir, "{\"state\":\"exited\",\"exit_code\":0}");
		_exit(0);
	}
	struct logfile_read_opts o = { .follow = true, .tail = -1, .out_fd = fd, .err_fd = fd };
	assert_int_equal(logfile_read(t->log, &o, &err), 0);
	int ws;
	assert_int_equal(waitpid(child, &ws, 0), child);
	assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	_cleanup_free_ char *out = slurp(t->out);
	assert_string_equal(out, "line 0000\nline 0001\nline 0002\nline 0003\nline 0004\nline 0005\n");
}

static void follow_stops_when_pid_is_gone(void **state)
{
	struct t *t = *state;
	struct berth_error err = { 0 };
	write_numbered(t->log, 0, 1, 0, 1);
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	int ws;
	waitpid(dead, &ws, 0);
	char st[64];
	/* a monitor killed with -9 leaves "running" behind */
	snprintf(st, sizeof(st), "{\"state\":\"running\",\"pid\":%d}", (int) dead);
	write_status(t->dir, st);
	_cleanup_close_ int fd = open(t->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct logfile_read_opts o = { .follow = true, .tail = -1, .out_fd = fd, .err_fd = fd };
	assert_int_equal(logfile_read(t->log, &o, &err), 0);
	_cleanup_free_ char *out = slurp(t->out);
	assert_string_equal(out, "line 0000\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escapes_like_docker),
		cmocka_unit_test(times_format_and_parse),
		cmocka_unit_test_setup_teardown(writes_docker_json_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(long_lines_split_at_16k, setup, teardown),
		cmocka_unit_test_setup_teardown(rotates_and_reads_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(max_file_one_truncates, setup, teardown),
		cmocka_unit_test_setup_teardown(read_filters_streams_and_timestamps, setup, teardown),
		cmocka_unit_test(parses_lines),
		cmocka_unit_test_setup_teardown(follow_until_exited, setup, teardown),
		cmocka_unit_test_setup_teardown(follow_stops_when_pid_is_gone, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
