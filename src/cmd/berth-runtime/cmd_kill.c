#include "cli.h"
#include "core/signals.h"

#include <signal.h>

int cmd_kill(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "all", no_argument, NULL, 'a' }, { 0 } };
	bool all = false;
	int c;
	while ((c = cli_getopt(argc, argv, "+a", opts, "kill")) != -1) {
		if (c == 'a')
			all = true;
		else
			return 1;
	}
	if (optind >= argc)
		return cli_usage_error("kill", "requires the container ID and an optional signal");
	if (argc - optind > 2)
		return cli_usage_error("kill", "too many arguments");
	const char *id = argv[optind];
	int sig = SIGTERM;
	if (argc - optind == 2) {
		sig = berth_signal_parse(argv[optind + 1]);
		if (sig < 0)
			return cli_usage_error("kill", "unknown signal \"%s\"", argv[optind + 1]);
	}
	struct berth_error err = { 0 };
	if (rt_kill(&cli->rt, id, sig, all, &err) < 0)
		return cli_fail("kill", &err);
	return 0;
}
