/* cp, export, commit: files and file systems in and out of containers.
 *
 * `cp` takes exactly one side in a container (CONTAINER:PATH); a local path
 * is anything that starts with "/" or "." or holds no ':', as docker splits
 * them.  "-" stands for a tar stream on stdin (source) or stdout
 * (destination).  `export -o FILE` goes through cli_out_open, so a failed
 * export leaves no truncated FILE.
 */
#include "cli.h"
#include "core/cleanup.h"
#include "engine/commit.h"
#include "engine/copy.h"
#include "engine/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline void engine_closep(struct engine **e) { engine_close(*e); }

/* "name:/path" -> container "name", path "/path"; a local path -> *ctr = NULL. */
static int split_cp_arg(char *arg, char **ctr, char **path)
{
	*ctr = NULL;
	*path = arg;
	if (arg[0] == '/' || arg[0] == '.')
		return 0;
	char *colon = strchr(arg, ':');
	if (!colon)
		return 0;
	*colon = '\0';
	*ctr = arg;
	*path = colon + 1;
	return 0;
}

int cmd_cp(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "archive", no_argument, NULL, 'a' },
		{ "follow-link", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct copy_opts co = { 0 };
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "aLh", opts)) != -1) {
		switch (c) {
		case 'a': co.archive = true; break;
		case 'L': co.follow_link = true; break;
		default: return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_exact(cli, argc, 2)))
		return r;
	char *src_ctr, *src, *dst_ctr, *dst;
	split_cp_arg(argv[optind], &src_ctr, &src);
	split_cp_arg(argv[optind + 1], &dst_ctr, &dst);
	if (src_ctr && dst_ctr)
		return cli_usage_error(cli, "copying between containers is not supported");
	if (!src_ctr && !dst_ctr)
		return cli_usage_error(cli, "must specify at least one container source");
	if ((src_ctr && !*src_ctr) || (dst_ctr && !*dst_ctr))
		return cli_usage_error(cli, "empty container name in \"%s\"", src_ctr ? argv[optind] : argv[optind + 1]);
	if (!*src || !*dst)
		return cli_usage_error(cli, "empty path in \"%s\"", !*src ? argv[optind] : argv[optind + 1]);
	if (dst_ctr && !strcmp(dst, "-"))
		return cli_usage_error(cli, "\"-\" (a tar stream) cannot be a path in a container");
	if (src_ctr && !strcmp(dst, "-") && isatty(STDOUT_FILENO))
		return cli_failf("cowardly refusing to write a tar stream to a terminal: redirect stdout");

	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	char id[CTR_ID_LEN + 1];
	if (engine_open(cli->root, &e, &err) < 0 || engine_resolve(e, src_ctr ? src_ctr : dst_ctr, id, &err) < 0)
		return cli_fail(&err);
	r = src_ctr ? copy_from_container(e, id, src, dst, STDOUT_FILENO, &co, &err)
		    : copy_to_container(e, id, src, dst, STDIN_FILENO, &co, &err);
	return r < 0 ? cli_fail(&err) : 0;
}

int cmd_export(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *output = NULL;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "o:h", opts)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		default: return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_exact(cli, argc, 1)))
		return r;
	if (!output && isatty(STDOUT_FILENO))
		return cli_failf("cowardly refusing to save to a terminal. Use the -o flag or redirect");

	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	char id[CTR_ID_LEN + 1];
	if (engine_open(cli->root, &e, &err) < 0 || engine_resolve(e, argv[optind], id, &err) < 0)
		return cli_fail(&err);
	if (!output)
		return copy_export(e, id, STDOUT_FILENO, &err) < 0 ? cli_fail(&err) : 0;

	struct cli_out o;
	if (cli_out_open(&o, output, &err) < 0 || copy_export(e, id, o.fd, &err) < 0 || cli_out_commit(&o, &err) < 0) {
		cli_out_close(&o);
		return cli_fail(&err);
	}
	cli_out_close(&o);
	return 0;
}

int cmd_commit(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "author", required_argument, NULL, 'a' },
		{ "change", required_argument, NULL, 'c' },
		{ "message", required_argument, NULL, 'm' },
		{ "pause", optional_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct commit_opts co = { .pause = true };
	_cleanup_free_ const char **changes = NULL;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "a:c:m:ph", opts)) != -1) {
		switch (c) {
		case 'a': co.author = optarg; break;
		case 'm': co.message = optarg; break;
		case 'c': {
			const char **v = realloc(changes, (co.n_changes + 1) * sizeof(char *));
			if (!v)
				return cli_failf("out of memory");
			changes = v;
			changes[co.n_changes++] = optarg;
			break;
		}
		case 'p':
			if (cli_parse_bool("--pause", optarg, &co.pause, cli) < 0)
				return CLI_EXIT_USAGE;
			break;
		default: return cli_opt_exit(c);
		}
	}
	co.changes = changes;
	if ((r = cli_args_range(cli, argc, 1, 2)))
		return r;
	co.name = optind + 1 < argc ? argv[optind + 1] : NULL;

	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	char id[CTR_ID_LEN + 1], image_id[BERTH_DIGEST_MAX];
	if (engine_open(cli->root, &e, &err) < 0 || engine_resolve(e, argv[optind], id, &err) < 0 ||
	    engine_commit(e, id, &co, image_id, &err) < 0)
		return cli_fail(&err);
	printf("%s\n", image_id);
	return 0;
}
