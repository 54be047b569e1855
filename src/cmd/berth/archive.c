/* save, load, image import: images to and from tar archives (image/archive.h).
 *
 * save writes -o FILE through cli_out_open (util.c), so a failed or
 * interrupted save never leaves a truncated archive under FILE.
 */
#include "cli.h"
#include "core/cleanup.h"
#include "image/archive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cmd_save(struct cli *cli, int argc, char **argv)
{
	enum { O_FORMAT = 1000 };
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *output = NULL, *format = "docker-archive";
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "o:h", opts)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case O_FORMAT: format = optarg; break;
		default: return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_min(cli, argc, 1)))
		return r;
	struct berth_error err = { 0 };
	enum archive_format fmt;
	if (archive_format_parse(format, &fmt, &err) < 0)
		return cli_usage_error(cli, "--format: %s", err.msg);
	if (!output && isatty(STDOUT_FILENO))
		return cli_failf("cowardly refusing to save to a terminal. Use the -o flag or redirect");
	if (output && !*output)
		return cli_usage_error(cli, "--output: empty file name");
	struct image_store *s;
	if (cli_store(cli, &s, &err) < 0)
		return cli_fail(&err);

	const char *const *refs = (const char *const *) argv + optind;
	size_t n = (size_t) (argc - optind);
	if (!output) {
		fflush(stdout);
		if (archive_save(s, refs, n, fmt, STDOUT_FILENO, &err) < 0)
			return cli_fail(&err);
		return 0;
	}
	struct cli_out o;
	if (cli_out_open(&o, output, &err) < 0 || archive_save(s, refs, n, fmt, o.fd, &err) < 0 ||
	    cli_out_commit(&o, &err) < 0) {
		cli_out_close(&o);
		return cli_fail(&err);
	}
	cli_out_close(&o);
	return 0;
}

static int open_input(struct cli *cli, const char *path, const char *what, int *fd)
{
	if (!path || !strcmp(path, "-")) {
		if (isatty(STDIN_FILENO))
			return cli_failf("requested %s from stdin, but stdin is a terminal: give a file or redirect stdin",
					 what);
		*fd = STDIN_FILENO;
		return 0;
	}
	if (strstr(path, "://"))
		return cli_failf("%s from a URL (%s) is not supported: download it first", what, path);
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return cli_failf("%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(*fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(*fd);
		*fd = -1;
		return cli_failf("%s: is a directory", path);
	}
	return 0;
}

int cmd_load(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *input = NULL;
	bool quiet = false;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "i:qh", opts)) != -1) {
		switch (c) {
		case 'i': input = optarg; break;
		case 'q': quiet = true; break;
		default: return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_exact(cli, argc, 0)))
		return r;
	int fd = -1;
	if ((r = open_input(cli, input, "load", &fd)))
		return r;
	struct berth_error err = { 0 };
	struct image_store *s;
	_cleanup_strv_ char **loaded = NULL;
	r = cli_store(cli, &s, &err);
	if (r >= 0)
		r = archive_load(s, fd, &loaded, &err);
	if (fd != STDIN_FILENO)
		close(fd);
	if (r < 0) {
		berth_error_prefix(&err, "load %s", input && strcmp(input, "-") ? input : "from stdin");
		return cli_fail(&err);
	}
	static const char *const prefixes[] = { "Loaded image ID: ", "Loaded image: " };
	for (char **p = loaded; p && *p; p++) {
		const char *line = *p;
		for (size_t i = 0; quiet && i < ARRAY_SIZE(prefixes); i++) {
			size_t n = strlen(prefixes[i]);
			if (!strncmp(line, prefixes[i], n)) {
				line += n;
				break;
			}
		}
		printf("%s\n", line);
	}
	return 0;
}

int cmd_import(struct cli *cli, int argc, char **argv)
{
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "h", cli_help_only)) != -1)
		return cli_opt_exit(c);
	if ((r = cli_args_range(cli, argc, 1, 2)))
		return r;
	const char *name = optind + 1 < argc ? argv[optind + 1] : NULL;
	int fd = -1;
	if ((r = open_input(cli, argv[optind], "import", &fd)))
		return r;
	struct berth_error err = { 0 };
	struct image_store *s;
	char id[BERTH_DIGEST_MAX];
	r = cli_store(cli, &s, &err);
	if (r >= 0)
		r = archive_import(s, fd, name, id, &err);
	if (fd != STDIN_FILENO)
		close(fd);
	if (r < 0) {
		berth_error_prefix(&err, "import %s", strcmp(argv[optind], "-") ? argv[optind] : "from stdin");
		return cli_fail(&err);
	}
	printf("%s\n", id);
	return 0;
}
