#include "cli.h"

int cli_parse_create_opts(int argc, char **argv, const char *cmd, bool is_run, struct rt_create_opts *o);

int cmd_run(struct cli *cli, int argc, char **argv)
{
	struct rt_create_opts o;
	if (cli_parse_create_opts(argc, argv, "run", true, &o) != 0)
		return 1;
	struct berth_error err = { 0 };
	int code = 0;
	if (rt_run(&cli->rt, &o, &code, &err) < 0)
		return cli_fail("run", &err);
	return code;
}
