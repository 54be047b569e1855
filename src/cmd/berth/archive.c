/* save, load, image import: images to and from tar archives (image/archive.h).
 *
 * save writes -o FILE through an unnamed O_TMPFILE in FILE's directory that
 * gets a name only once the archive is complete and synced, so a failed or
 * interrupted save never leaves a truncated archive under FILE (nor a stray
 * temp file); file systems without O_TMPFILE get a named temp file instead,
 * removed on failure.
 */
#include "cli.h"
#include "core/cleanup.h"
#include "image/archive.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct out_file {
	const char *path;
	char dir[PATH_MAX];
	char tmp[PATH_MAX];        /* named temp file (linked O_TMPFILE or mkostemp) */
	bool named;
	int fd;
};

static int out_open(struct out_file *o, const char *path, struct berth_error *err)
{
	*o = (struct out_file) { .path = path, .fd = -1 };
	char copy[PATH_MAX];
	if (snprintf(copy, sizeof(copy), "%s", path) >= (int) sizeof(copy))
		return berth_err(err, ENAMETOOLONG, "--output %s: path too long", path);
	snprintf(o->dir, sizeof(o->dir), "%s", dirname(copy));
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return berth_err(err, EISDIR, "--output %s: is a directory", path);
	o->fd = open(o->dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
	if (o->fd >= 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return berth_errno(err, errno, "--output %s: creating a file in %s", path, o->dir);
	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(o->tmp, sizeof(o->tmp), "%s/.%s.berth-save-XXXXXX", o->dir, basename(copy));
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd < 0)
		return berth_errno(err, errno, "--output %s: creating a temporary file in %s", path, o->dir);
	o->named = true;
	/* mkostemp makes 0600; an archive is an ordinary file (0666 less the umask) */
	mode_t um = umask(0);
	umask(um);
	if (fchmod(o->fd, 0666 & ~um) < 0)
		return berth_errno(err, errno, "--output %s: chmod %s", path, o->tmp);
	return 0;
}

static int out_commit(struct out_file *o, struct berth_error *err)
{
	if (fsync(o->fd) < 0)
		return berth_errno(err, errno, "--output %s: fsync", o->path);
	if (!o->named) {
		char proc[64], copy[PATH_MAX];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->fd);
		snprintf(copy, sizeof(copy), "%s", o->path);
		const char *base = basename(copy);
		for (int attempt = 0;; attempt++) {
			snprintf(o->tmp, sizeof(o->tmp), "%s/.%s.berth-save-%d-%d", o->dir, base, (int) getpid(), attempt);
			if (linkat(AT_FDCWD, proc, AT_FDCWD, o->tmp, AT_SYMLINK_FOLLOW) == 0)
				break;
			if (errno != EEXIST || attempt > 100)
				return berth_errno(err, errno, "--output %s: linking the archive into %s", o->path, o->dir);
		}
		o->named = true;
	}
	if (rename(o->tmp, o->path) < 0)
		return berth_errno(err, errno, "--output %s: rename", o->path);
	o->named = false;
	_cleanup_close_ int dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		return berth_errno(err, errno, "--output %s: fsync of %s", o->path, o->dir);
	return 0;
}

static void out_close(struct out_file *o)
{
	if (o->named)
		unlink(o->tmp);
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
}

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
	struct out_file o;
	if (out_open(&o, output, &err) < 0 || archive_save(s, refs, n, fmt, o.fd, &err) < 0 ||
	    out_commit(&o, &err) < 0) {
		out_close(&o);
		return cli_fail(&err);
	}
	out_close(&o);
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
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "h", opts)) != -1)
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
