#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The CLI's logging configuration: set once in main() before any work, read
 * everywhere.  This is the one piece of process-wide state libberth keeps,
 * because every module must be able to report without threading a logger. */
static struct {
	int fd;
	enum berth_log_format fmt;
	bool debug;
	bool to_stderr;
	enum berth_log_level min;
	const char *program;
} g_log = { -1, BERTH_LOG_TEXT, false, true, BERTH_LOG_DEBUG, "berth-runtime" };

static const char *level_name(enum berth_log_level l)
{
	switch (l) {
	case BERTH_LOG_DEBUG: return "debug";
	case BERTH_LOG_INFO: return "info";
	case BERTH_LOG_WARN: return "warning";
	default: return "error";
	}
}

int berth_log_init(const char *path, enum berth_log_format fmt, bool debug)
{
	g_log.fmt = fmt;
	g_log.debug = debug;
	if (path && *path) {
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		if (g_log.fd >= 0)
			close(g_log.fd);
		g_log.fd = fd;
	}
	return 0;
}

void berth_log_set_stderr(bool enabled) { g_log.to_stderr = enabled; }
void berth_log_set_program(const char *name) { g_log.program = name; }
void berth_log_set_min_level(enum berth_log_level lvl) { g_log.min = lvl; }
bool berth_log_debug_enabled(void) { return g_log.debug; }
int berth_log_fd(void) { return g_log.fd; }

static size_t json_escape(char *out, size_t cap, const char *in)
{
	size_t o = 0;
	for (; *in && o + 7 < cap; in++) {
		unsigned char c = (unsigned char) *in;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char) c;
		} else if (c < 0x20) {
			o += (size_t) snprintf(out + o, cap - o, "\\u%04x", c);
		} else {
			out[o++] = (char) c;
		}
	}
	out[o] = '\0';
	return o;
}

void berth_log(enum berth_log_level lvl, const char *fmt, ...)
{
	if ((lvl == BERTH_LOG_DEBUG && !g_log.debug) || lvl < g_log.min)
		return;
	int saved = errno;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (g_log.to_stderr && (lvl >= BERTH_LOG_WARN || g_log.debug)) {
		char line[2200];
		int n = snprintf(line, sizeof(line), "%s: %s%s\n", g_log.program,
				 lvl == BERTH_LOG_WARN ? "warning: " : "", msg);
		if (n > 0)
			(void) !write(STDERR_FILENO, line, (size_t) n < sizeof(line) ? (size_t) n : sizeof(line) - 1);
	}
	if (g_log.fd >= 0) {
		char ts[64];
		struct timespec now;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(ts + tl, sizeof(ts) - tl, ".%09ldZ", now.tv_nsec);
		char line[4600];
		int n;
		if (g_log.fmt == BERTH_LOG_JSON) {
			char esc[4200];
			json_escape(esc, sizeof(esc), msg);
			n = snprintf(line, sizeof(line), "{\"level\":\"%s\",\"msg\":\"%s\",\"time\":\"%s\"}\n",
				     level_name(lvl), esc, ts);
		} else {
			char esc[4200];
			json_escape(esc, sizeof(esc), msg);
			n = snprintf(line, sizeof(line), "time=\"%s\" level=%s msg=\"%s\"\n", ts,
				     level_name(lvl), esc);
		}
		if (n > 0)
			(void) !write(g_log.fd, line, (size_t) n < sizeof(line) ? (size_t) n : sizeof(line) - 1);
	}
	errno = saved;
}
