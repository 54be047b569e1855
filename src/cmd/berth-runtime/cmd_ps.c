/* ps: the container's processes as host PIDs; the table comes from the
 * host's ps(1) filtered to those PIDs, as runc does. */
#include "cli.h"
#include "core/cleanup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static bool has_pid(const pid_t *p, size_t n, long pid)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == pid)
			return true;
	return false;
}

int cmd_ps(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "format", required_argument, NULL, 'f' }, { 0 } };
	const char *format = "table";
	int c;
	while ((c = cli_getopt(argc, argv, "+f:", opts, "ps")) != -1) {
		if (c == 'f')
			format = optarg;
		else
			return 1;
	}
	if (strcmp(format, "table") && strcmp(format, "json"))
		return cli_usage_error("ps", "--format %s: must be table or json", format);
	if (optind >= argc)
		return cli_usage_error("ps", "requires the container ID");
	const char *id = argv[optind++];
	struct berth_error err = { 0 };
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	if (rt_pids(&cli->rt, id, &pids, &n, &err) < 0)
		return cli_fail("ps", &err);
	if (!strcmp(format, "json")) {
		if (optind < argc)
			return cli_usage_error("ps", "ps options cannot be used with --format json");
		printf("[");
		for (size_t i = 0; i < n; i++)
			printf("%s%d", i ? "," : "", (int) pids[i]);
		printf("]\n");
		return 0;
	}
	/* Build "ps <args>" (default -ef) and keep the header and our PIDs. */
	char cmd[4096] = "ps";
	size_t len = 2;
	if (optind >= argc) {
		len += (size_t) snprintf(cmd + len, sizeof(cmd) - len, " -ef");
	} else {
		for (int i = optind; i < argc; i++) {
			if (strchr(argv[i], '\''))
				return cli_usage_error("ps", "ps argument %s: quotes not allowed", argv[i]);
			len += (size_t) snprintf(cmd + len, sizeof(cmd) - len, " '%s'", argv[i]);
		}
	}
	FILE *f = popen(cmd, "r");
	if (!f) {
		berth_errno(&err, 0, "run %s", cmd);
		return cli_fail("ps", &err);
	}
	char line[8192];
	int pid_col = -1;
	bool header = true;
	while (fgets(line, sizeof(line), f)) {
		if (header) {
			fputs(line, stdout);
			char copy[8192];
			snprintf(copy, sizeof(copy), "%s", line);
			int col = 0;
			for (char *t = strtok(copy, " \t\n"); t; t = strtok(NULL, " \t\n"), col++)
				if (!strcmp(t, "PID"))
					pid_col = col;
			header = false;
			if (pid_col < 0) {
				pclose(f);
				return cli_usage_error("ps", "ps output has no PID column");
			}
			continue;
		}
		char copy[8192];
		snprintf(copy, sizeof(copy), "%s", line);
		int col = 0;
		for (char *t = strtok(copy, " \t\n"); t; t = strtok(NULL, " \t\n"), col++) {
			if (col == pid_col) {
				if (has_pid(pids, n, strtol(t, NULL, 10)))
					fputs(line, stdout);
				break;
			}
		}
	}
	int st = pclose(f);
	return st == 0 ? 0 : 1;
}
