#include "cli.h"

#include <errno.h>

int cmd_delete(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "force", no_argument, NULL, 'f' }, { 0 } };
	bool force = false;
	int c;
	while ((c = cli_getopt(argc, argv, "+f", opts, "delete")) != -1) {
		if (c == 'f')
			force = true;
		else
			return 1;
	}
	const char *id = cli_one_id(argc, argv, "delete");
	if (!id)
		return 1;
	struct berth_error err = { 0 };
	int r = rt_delete(&cli->rt, id, force, &err);
	/* runc: deleting an unknown container with --force is not an error. */
	if (r == -ENOENT && force)
		return 0;
	if (r < 0)
		return cli_fail("delete", &err);
	return 0;
}
