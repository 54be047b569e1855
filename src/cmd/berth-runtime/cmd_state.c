#include "cli.h"

#include <stdio.h>

int cmd_state(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { 0 } };
	if (cli_getopt(argc, argv, "+", opts, "state") != -1)
		return 1;
	const char *id = cli_one_id(argc, argv, "state");
	if (!id)
		return 1;
	struct berth_error err = { 0 };
	json_t *o = NULL;
	if (rt_state(&cli->rt, id, &o, &err) < 0)
		return cli_fail("state", &err);
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(o);
	return 0;
}
