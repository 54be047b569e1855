#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* "5s", "500ms", "1m", "2" (seconds) -> milliseconds */
static int parse_duration_ms(const char *s, int *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	double ms;
	if (!*end || !strcmp(end, "s"))
		ms = v * 1000;
	else if (!strcmp(end, "ms"))
		ms = v;
	else if (!strcmp(end, "m"))
		ms = v * 60000;
	else
		return -EINVAL;
	if (ms < 1 || ms > 86400000)
		return -EINVAL;
	*out = (int) ms;
	return 0;
}

int cmd_events(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stats", no_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ 0 },
	};
	bool stats = false;
	int interval = 5000;
	int c;
	while ((c = cli_getopt(argc, argv, "+", opts, "events")) != -1) {
		if (c == 's')
			stats = true;
		else if (c == 'i') {
			if (parse_duration_ms(optarg, &interval) < 0)
				return cli_usage_error("events", "--interval %s: not a duration (e.g. 5s, 500ms)", optarg);
		} else
			return 1;
	}
	const char *id = cli_one_id(argc, argv, "events");
	if (!id)
		return 1;
	struct berth_error err = { 0 };
	if (rt_events(&cli->rt, id, interval, stats, &err) < 0)
		return cli_fail("events", &err);
	return 0;
}
