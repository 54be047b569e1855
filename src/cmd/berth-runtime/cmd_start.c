#include "cli.h"

int cmd_start(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { 0 } };
	if (cli_getopt(argc, argv, "+", opts, "start") != -1)
		return 1;
	const char *id = cli_one_id(argc, argv, "start");
	if (!id)
		return 1;
	struct berth_error err = { 0 };
	if (rt_start(&cli->rt, id, &err) < 0)
		return cli_fail("start", &err);
	return 0;
}
