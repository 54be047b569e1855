#include "cli.h"

static int pause_resume(struct cli *cli, int argc, char **argv, bool pause)
{
	const char *cmd = pause ? "pause" : "resume";
	static const struct option opts[] = { { 0 } };
	if (cli_getopt(argc, argv, "+", opts, cmd) != -1)
		return 1;
	const char *id = cli_one_id(argc, argv, cmd);
	if (!id)
		return 1;
	struct berth_error err = { 0 };
	if (rt_pause(&cli->rt, id, pause, &err) < 0)
		return cli_fail(cmd, &err);
	return 0;
}

int cmd_pause(struct cli *cli, int argc, char **argv) { return pause_resume(cli, argc, argv, true); }
int cmd_resume(struct cli *cli, int argc, char **argv) { return pause_resume(cli, argc, argv, false); }
