/* log.h — the runtime's diagnostic log.
 *
 * Promises: messages go to stderr and, when a log file was configured (runc's
 * --log), are appended to it in logrus' text or JSON line format, which is
 * what containerd and podman parse to show a runtime's error.  Debug lines
 * appear only with --debug.  One write(2) per line, so concurrent processes
 * appending to one file never interleave inside a line.
 */
#ifndef BERTH_CORE_LOG_H
#define BERTH_CORE_LOG_H

#include <stdbool.h>

enum berth_log_level { BERTH_LOG_DEBUG, BERTH_LOG_INFO, BERTH_LOG_WARN, BERTH_LOG_ERROR };
enum berth_log_format { BERTH_LOG_TEXT, BERTH_LOG_JSON };

/* path may be NULL (stderr only).  Returns 0 or -errno when the log file
 * cannot be opened. */
int berth_log_init(const char *path, enum berth_log_format fmt, bool debug);
/* When quiet, nothing goes to stderr (the log file still gets it). */
void berth_log_set_stderr(bool enabled);
/* The name stderr lines start with (default "berth-runtime"); a static string. */
void berth_log_set_program(const char *name);
/* Drop messages below lvl everywhere (berth --log-level warn|error). */
void berth_log_set_min_level(enum berth_log_level lvl);
void berth_log(enum berth_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
bool berth_log_debug_enabled(void);
/* The log file descriptor (or -1), so a forked child can keep logging. */
int berth_log_fd(void);

#define log_debug(...) do { if (berth_log_debug_enabled()) berth_log(BERTH_LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) berth_log(BERTH_LOG_INFO, __VA_ARGS__)
#define log_warn(...) berth_log(BERTH_LOG_WARN, __VA_ARGS__)
#define log_error(...) berth_log(BERTH_LOG_ERROR, __VA_ARGS__)

#endif
