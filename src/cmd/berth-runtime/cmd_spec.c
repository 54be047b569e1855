#include "cli.h"
#include "core/fs.h"
#include "spec/defaults.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_spec(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bundle", required_argument, NULL, 'b' },
		{ "rootless", no_argument, NULL, 'r' },
		{ 0 },
	};
	const char *bundle = ".";
	bool rootless = false;
	int c;
	while ((c = cli_getopt(argc, argv, "+b:", opts, "spec")) != -1) {
		if (c == 'b')
			bundle = optarg;
		else if (c == 'r')
			rootless = true;
		else
			return 1;
	}
	if (optind < argc)
		return cli_usage_error("spec", "takes no arguments");
	int dfd = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		struct berth_error err = { 0 };
		berth_errno(&err, errno, "--bundle %s", bundle);
		return cli_fail("spec", &err);
	}
	if (faccessat(dfd, "config.json", F_OK, 0) == 0) {
		close(dfd);
		return cli_usage_error("spec", "%s/config.json already exists: remove it first", bundle);
	}
	char *j = NULL;
	char *body = spec_default_config_json(rootless);
	if (!body || asprintf(&j, "%s\n", body) < 0) {
		free(body);
		close(dfd);
		return 1;
	}
	free(body);
	int r = berth_write_file_atomic(dfd, "config.json", j, strlen(j), 0644);
	free(j);
	close(dfd);
	if (r < 0) {
		struct berth_error err = { 0 };
		berth_errno(&err, -r, "write %s/config.json", bundle);
		return cli_fail("spec", &err);
	}
	return 0;
}
