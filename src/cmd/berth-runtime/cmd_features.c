#include "cli.h"
#include "spec/features.h"

#include <stdio.h>
#include <stdlib.h>

int cmd_features(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { 0 } };
	if (cli_getopt(argc, argv, "+", opts, "features") != -1)
		return 1;
	if (optind < argc)
		return cli_usage_error("features", "takes no arguments");
	char *j = spec_features_json();
	if (!j)
		return 1;
	printf("%s\n", j);
	free(j);
	return 0;
}
