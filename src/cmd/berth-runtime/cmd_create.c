/* create / run flags are the same set (runc's), parsed here once. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { O_BUNDLE = 'b', O_CONSOLE = 1000, O_PIDFILE, O_NOPIVOT, O_NOKEYRING, O_PRESERVE, O_DETACH = 'd', O_KEEP };

int cli_parse_create_opts(int argc, char **argv, const char *cmd, bool is_run, struct rt_create_opts *o);

int cli_parse_create_opts(int argc, char **argv, const char *cmd, bool is_run, struct rt_create_opts *o)
{
	static const struct option create_opts[] = {
		{ "bundle", required_argument, NULL, O_BUNDLE },
		{ "console-socket", required_argument, NULL, O_CONSOLE },
		{ "pid-file", required_argument, NULL, O_PIDFILE },
		{ "no-pivot", no_argument, NULL, O_NOPIVOT },
		{ "no-new-keyring", no_argument, NULL, O_NOKEYRING },
		{ "preserve-fds", required_argument, NULL, O_PRESERVE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const struct option run_opts[] = {
		{ "bundle", required_argument, NULL, O_BUNDLE },
		{ "console-socket", required_argument, NULL, O_CONSOLE },
		{ "pid-file", required_argument, NULL, O_PIDFILE },
		{ "no-pivot", no_argument, NULL, O_NOPIVOT },
		{ "no-new-keyring", no_argument, NULL, O_NOKEYRING },
		{ "preserve-fds", required_argument, NULL, O_PRESERVE },
		{ "detach", no_argument, NULL, O_DETACH },
		{ "keep", no_argument, NULL, O_KEEP },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	memset(o, 0, sizeof(*o));
	while ((c = cli_getopt(argc, argv, is_run ? "+b:dh" : "+b:h", is_run ? run_opts : create_opts, cmd)) != -1) {
		switch (c) {
		case O_BUNDLE: o->bundle = optarg; break;
		case O_CONSOLE: o->console_socket = optarg; break;
		case O_PIDFILE: o->pid_file = optarg; break;
		case O_NOPIVOT: o->no_pivot = true; break;
		case O_NOKEYRING: o->no_new_keyring = true; break;
		case O_PRESERVE:
			if (cli_parse_int(optarg, &o->preserve_fds) < 0 || o->preserve_fds < 0)
				return cli_usage_error(cmd, "--preserve-fds %s: must be a non-negative number", optarg);
			break;
		case O_DETACH: o->detach = true; break;
		case O_KEEP: o->keep = true; break;
		case 'h':
			printf("usage: berth-runtime %s [--bundle DIR] [--console-socket PATH] [--pid-file FILE]\n"
			       "       [--no-pivot] [--no-new-keyring] [--preserve-fds N]%s ID\n",
			       cmd, is_run ? " [--detach] [--keep]" : "");
			exit(0);
		default:
			return 1;
		}
	}
	o->id = cli_one_id(argc, argv, cmd);
	return o->id ? 0 : 1;
}

int cmd_create(struct cli *cli, int argc, char **argv)
{
	struct rt_create_opts o;
	if (cli_parse_create_opts(argc, argv, "create", false, &o) != 0)
		return 1;
	struct berth_error err = { 0 };
	if (rt_create(&cli->rt, &o, &err) < 0)
		return cli_fail("create", &err);
	return 0;
}
