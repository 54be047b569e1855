#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int set(struct berth_error *err, int code, int with_errno,
	       const char *fmt, va_list ap)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		code = EINVAL;
	if (err && err->code == 0) {
		int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		if (with_errno && n >= 0 && (size_t) n < sizeof(err->msg))
			snprintf(err->msg + n, sizeof(err->msg) - (size_t) n, ": %s",
				 strerror(code));
		err->code = code;
	}
	return -code;
}

int berth_err(struct berth_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = set(err, code, 0, fmt, ap);
	va_end(ap);
	return r;
}

int berth_errno(struct berth_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = set(err, code, 1, fmt, ap);
	va_end(ap);
	return r;
}

void berth_error_prefix(struct berth_error *err, const char *fmt, ...)
{
	if (!err || err->code == 0)
		return;
	char prefix[BERTH_ERROR_MSG_MAX], old[BERTH_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	size_t pl = strnlen(prefix, sizeof(err->msg) - 3);
	memcpy(err->msg, prefix, pl);
	memcpy(err->msg + pl, ": ", 2);
	size_t room = sizeof(err->msg) - pl - 3;
	size_t ol = strnlen(old, room);
	memcpy(err->msg + pl + 2, old, ol);
	err->msg[pl + 2 + ol] = '\0';
}
