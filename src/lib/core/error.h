/* error.h — the error object threaded through libberth.
 *
 * Promises: a function that can fail returns 0 or a negative errno, and when
 * it is handed a struct berth_error it fills it with that errno and a message
 * that names what failed and where (file, JSON path, container ID).  The
 * first error set wins: callers higher up may add context with
 * berth_error_prefix(), never silently replace the root cause.
 */
#ifndef BERTH_CORE_ERROR_H
#define BERTH_CORE_ERROR_H

#include <stddef.h>

#define BERTH_ERROR_MSG_MAX 1024

struct berth_error {
	int code;                        /* positive errno, 0 when unset */
	char msg[BERTH_ERROR_MSG_MAX];   /* one line, no trailing newline */
};

/* Set err (when non-NULL and not yet set) and return -code.  code may be
 * given positive or negative; it is stored positive. */
int berth_err(struct berth_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like berth_err, with ": strerror(code)" appended. */
int berth_errno(struct berth_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepend "context: " to an already-set message. */
void berth_error_prefix(struct berth_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline void berth_error_clear(struct berth_error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

static inline int berth_error_isset(const struct berth_error *err)
{
	return err && err->code != 0;
}

#endif
