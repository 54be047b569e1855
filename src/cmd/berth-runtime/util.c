#include "cli.h"
#include "core/log.h"
#include "linux/selfexec.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char **cli_saved_argv;

int cli_fail(const char *cmd, const struct berth_error *err)
{
	berth_log_set_stderr(false);
	log_error("%s: %s", cmd, err->msg);
	fprintf(stderr, "berth-runtime %s: %s\n", cmd, err->msg);
	return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	berth_log_set_stderr(false);
	log_error("%s: %s", cmd, msg);
	fprintf(stderr, "berth-runtime %s: %s (see 'berth-runtime %s --help')\n", cmd, msg, cmd);
	return 1;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
	       const char *cmd)
{
	opterr = 0;
	int c = getopt_long_only(argc, argv, shortopts, longopts, NULL);
	if (c == '?') {
		const char *bad = argv[optind - 1];
		if (optopt)
			cli_usage_error(cmd, "flag -%c: unknown or missing its value", optopt);
		else
			cli_usage_error(cmd, "flag provided but not defined or missing its value: %s", bad);
		return -2;
	}
	return c;
}

const char *cli_one_id(int argc, char **argv, const char *cmd)
{
	if (optind >= argc) {
		cli_usage_error(cmd, "requires exactly 1 argument: the container ID");
		return NULL;
	}
	if (argc - optind > 1) {
		cli_usage_error(cmd, "requires exactly 1 argument, got %d", argc - optind);
		return NULL;
	}
	return argv[optind];
}

int cli_parse_int(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < INT_MIN || v > INT_MAX)
		return -EINVAL;
	*out = (int) v;
	return 0;
}

int cli_seal_self(char **argv)
{
	struct berth_error err = { 0 };
	if (linux_selfexec_sealed(argv, &err) < 0)
		return cli_fail("init", &err);
	return 0;
}
