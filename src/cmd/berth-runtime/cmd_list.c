#include "cli.h"

#include <stdio.h>
#include <string.h>

int cmd_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ 0 },
	};
	const char *format = "table";
	bool quiet = false;
	int c;
	while ((c = cli_getopt(argc, argv, "+f:q", opts, "list")) != -1) {
		if (c == 'f')
			format = optarg;
		else if (c == 'q')
			quiet = true;
		else
			return 1;
	}
	if (strcmp(format, "table") && strcmp(format, "json"))
		return cli_usage_error("list", "--format %s: must be table or json", format);
	if (optind < argc)
		return cli_usage_error("list", "takes no arguments");
	struct berth_error err = { 0 };
	json_t *arr = NULL;
	if (rt_list(&cli->rt, &arr, &err) < 0)
		return cli_fail("list", &err);
	size_t i;
	json_t *o;
	if (quiet) {
		json_array_foreach(arr, i, o)
			printf("%s\n", json_string_value(json_object_get(o, "id")));
	} else if (!strcmp(format, "json")) {
		json_dumpf(arr, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else {
		printf("%-12s %-10s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
		json_array_foreach(arr, i, o) {
			printf("%-12s %-10lld %-10s %-40s %-30s %s\n",
			       json_string_value(json_object_get(o, "id")),
			       (long long) json_integer_value(json_object_get(o, "pid")),
			       json_string_value(json_object_get(o, "status")),
			       json_string_value(json_object_get(o, "bundle")),
			       json_string_value(json_object_get(o, "created")),
			       "root");
		}
	}
	json_decref(arr);
	return 0;
}
