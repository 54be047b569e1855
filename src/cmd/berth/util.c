/* Shared helpers of the berth CLI: error reporting, flag parsing, prompts,
 * and the docker-compatible formatting of sizes, ages and tables. */
#include "cli.h"
#include "core/cleanup.h"
#include "core/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

const char *cli_cmd_path(const struct cli *cli, char *buf, size_t len)
{
	if (!cli || !cli->cmd)
		snprintf(buf, len, "berth");
	else
		snprintf(buf, len, "berth %s%s%s", cli->cmd->group ? cli->cmd->group : "",
			 cli->cmd->group ? " " : "", cli->cmd->name);
	return buf;
}

int cli_fail(const struct berth_error *err)
{
	const char *msg = err && err->msg[0] ? err->msg : "unknown error";
	/* The log file keeps the failure; stderr gets exactly one line. */
	berth_log_set_stderr(false);
	log_error("%s", msg);
	berth_log_set_stderr(true);
	fprintf(stderr, "Error: %s\n", msg);
	return CLI_EXIT_FAIL;
}

int cli_failf(const char *fmt, ...)
{
	struct berth_error err = { .code = EINVAL };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	return cli_fail(&err);
}

int cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
	char msg[1024], path[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "berth: %s\nSee '%s --help'.\n", msg, cli_cmd_path(cli, path, sizeof(path)));
	return CLI_EXIT_USAGE;
}

static int args_error(const struct cli *cli, const char *what)
{
	char path[128];
	return cli_usage_error(cli, "\"%s\" %s.", cli_cmd_path(cli, path, sizeof(path)), what);
}

int cli_args_exact(const struct cli *cli, int argc, int n)
{
	if (argc - optind == n)
		return 0;
	char what[64];
	if (n == 0)
		snprintf(what, sizeof(what), "accepts no arguments");
	else
		snprintf(what, sizeof(what), "requires exactly %d argument%s", n, n == 1 ? "" : "s");
	return args_error(cli, what);
}

int cli_args_min(const struct cli *cli, int argc, int n)
{
	if (argc - optind >= n)
		return 0;
	char what[64];
	snprintf(what, sizeof(what), "requires at least %d argument%s", n, n == 1 ? "" : "s");
	return args_error(cli, what);
}

int cli_args_range(const struct cli *cli, int argc, int min, int max)
{
	int n = argc - optind;
	if (n >= min && n <= max)
		return 0;
	char what[80];
	if (min == 0)
		snprintf(what, sizeof(what), "requires at most %d argument%s", max, max == 1 ? "" : "s");
	else
		snprintf(what, sizeof(what), "requires at least %d and at most %d arguments", min, max);
	return args_error(cli, what);
}

int cli_opt_error(const struct cli *cli, int c, char **argv)
{
	const char *bad = argv[optind - 1];
	if (c == ':') {
		if (optopt && optopt < 256 && bad[0] == '-' && bad[1] != '-')
			return cli_usage_error(cli, "flag needs an argument: '%c' in -%c", optopt, optopt);
		return cli_usage_error(cli, "flag needs an argument: %s", bad);
	}
	if (optopt && optopt < 256)
		return cli_usage_error(cli, "unknown shorthand flag: '%c' in -%c", optopt, optopt);
	/* "--x=1" is reported as docker does: by its name only */
	size_t n = strcspn(bad, "=");
	return cli_usage_error(cli, "unknown flag: %.*s", (int) n, bad);
}

const struct option cli_help_only[] = { { "help", no_argument, NULL, 'h' }, { 0 } };

static int getopt_with(struct cli *cli, int argc, char **argv, const char *prefix, const char *shortopts,
		       const struct option *longopts)
{
	char so[64];
	/* leading ':' makes getopt tell a missing value (':') from an unknown flag ('?') */
	snprintf(so, sizeof(so), "%s:%s", prefix, shortopts);
	opterr = 0;
	int c = getopt_long(argc, argv, so, longopts, NULL);
	if (c == 'h') {
		cli_print_help(cli->cmd, stdout);
		return CLI_OPT_HELP;
	}
	if (c == '?' || c == ':') {
		cli_opt_error(cli, c, argv);
		return CLI_OPT_ERROR;
	}
	return c;
}

int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts, const struct option *longopts)
{
	return getopt_with(cli, argc, argv, "", shortopts, longopts);
}

int cli_getopt_stop(struct cli *cli, int argc, char **argv, const char *shortopts, const struct option *longopts)
{
	return getopt_with(cli, argc, argv, "+", shortopts, longopts);
}

int cli_parse_format(const struct cli *cli, const char *value, bool *json)
{
	if (!strcmp(value, "json") || !strcmp(value, "{{json .}}"))
		*json = true;
	else if (!strcmp(value, "table") || !*value)
		*json = false;
	else
		return cli_usage_error(cli, "--format %s: berth supports table and json", value);
	return 0;
}

int cli_inspect_done(json_t *arr, const struct berth_error *errs, size_t n_errs)
{
	if (arr) {
		json_dumpf(arr, stdout, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	}
	fflush(stdout);
	for (size_t i = 0; i < n_errs; i++)
		cli_fail(&errs[i]);
	return n_errs ? CLI_EXIT_FAIL : 0;
}

/* An unnamed O_TMPFILE that gets a name only once complete and synced: no
 * stray temp file even on a crash; a named temp file where O_TMPFILE is
 * not supported, removed on failure. */
int cli_out_open(struct cli_out *o, const char *path, struct berth_error *err)
{
	*o = (struct cli_out) { .path = path, .fd = -1 };
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
	snprintf(o->tmp, sizeof(o->tmp), "%s/.%s.berth-tmp-XXXXXX", o->dir, basename(copy));
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

int cli_out_commit(struct cli_out *o, struct berth_error *err)
{
	if (fsync(o->fd) < 0)
		return berth_errno(err, errno, "--output %s: fsync", o->path);
	if (!o->named) {
		char proc[64], copy[PATH_MAX];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->fd);
		snprintf(copy, sizeof(copy), "%s", o->path);
		const char *base = basename(copy);
		for (int attempt = 0;; attempt++) {
			snprintf(o->tmp, sizeof(o->tmp), "%s/.%s.berth-tmp-%d-%d", o->dir, base, (int) getpid(), attempt);
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

void cli_out_close(struct cli_out *o)
{
	if (o->named)
		unlink(o->tmp);
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
}

int cli_parse_bool(const char *flag, const char *value, bool *out, const struct cli *cli)
{
	if (!value) {
		*out = true;
		return 0;
	}
	static const char *const yes[] = { "1", "t", "true" }, *const no[] = { "0", "f", "false" };
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(value, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(value, no[i])) {
			*out = false;
			return 0;
		}
	}
	cli_usage_error(cli, "invalid argument \"%s\" for \"%s\" flag: must be true or false", value, flag);
	return -EINVAL;
}

int cli_store(struct cli *cli, struct image_store **out, struct berth_error *err)
{
	if (!cli->store) {
		int r = image_store_open(cli->root, &cli->store, err);
		if (r < 0)
			return r;
	}
	*out = cli->store;
	return 0;
}

int cli_creds(const char *creds, char **user, char **pass, struct berth_error *err)
{
	const char *colon = strchr(creds, ':');
	size_t ulen = colon ? (size_t) (colon - creds) : strlen(creds);
	if (ulen == 0)
		return berth_err(err, EINVAL, "--creds \"%s\": the user name is empty (USER[:PASS])",
				 colon ? ":..." : "");
	_cleanup_free_ char *u = strndup(creds, ulen);
	if (!u)
		return berth_err(err, ENOMEM, "--creds: out of memory");
	_cleanup_free_ char *p = NULL;
	if (colon) {
		p = strdup(colon + 1);
		if (!p)
			return berth_err(err, ENOMEM, "--creds: out of memory");
	} else {
		char prompt[300];
		snprintf(prompt, sizeof(prompt), "Password for %s: ", u);
		int r = cli_prompt_secret(prompt, &p);
		if (r == -ENOTTY)
			return berth_err(err, EINVAL, "--creds %s: no password given and stdin is not a terminal "
					 "(use --creds USER:PASS)", u);
		if (r < 0)
			return berth_errno(err, r, "--creds %s: reading the password", u);
	}
	*user = steal_ptr(u);
	*pass = steal_ptr(p);
	return 0;
}

void cli_human_size(int64_t bytes, int precision, char *buf, size_t len)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB" };
	double v = (double) bytes;
	size_t i = 0;
	while (v >= 1000.0 && i + 1 < ARRAY_SIZE(units)) {
		v /= 1000.0;
		i++;
	}
	snprintf(buf, len, "%.*g%s", precision, v, units[i]);
}

void cli_human_duration(int64_t s, char *buf, size_t len)
{
	if (s < 1) {
		snprintf(buf, len, "Less than a second");
		return;
	}
	if (s == 1) {
		snprintf(buf, len, "1 second");
		return;
	}
	if (s < 60) {
		snprintf(buf, len, "%lld seconds", (long long) s);
		return;
	}
	int64_t minutes = s / 60;
	if (minutes == 1) {
		snprintf(buf, len, "About a minute");
		return;
	}
	if (minutes < 60) {
		snprintf(buf, len, "%lld minutes", (long long) minutes);
		return;
	}
	int64_t hours = (s + 1800) / 3600;      /* rounded to the nearest hour, as docker does */
	if (hours == 1)
		snprintf(buf, len, "About an hour");
	else if (hours < 48)
		snprintf(buf, len, "%lld hours", (long long) hours);
	else if (hours < 24 * 7 * 2)
		snprintf(buf, len, "%lld days", (long long) (hours / 24));
	else if (hours < 24 * 30 * 2)
		snprintf(buf, len, "%lld weeks", (long long) (hours / 24 / 7));
	else if (hours < 24 * 365 * 2)
		snprintf(buf, len, "%lld months", (long long) (hours / 24 / 30));
	else
		snprintf(buf, len, "%lld years", (long long) (s / 3600 / 24 / 365));
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char) (*p)[i]))
			return -EINVAL;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int cli_parse_time(const char *s, time_t *out)
{
	if (!s)
		return -EINVAL;
	const char *p = s;
	int y, mo, d, h, mi, se;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
		return -EINVAL;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -EINVAL;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &se))
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char) *p))
			return -EINVAL;
		while (isdigit((unsigned char) *p))
			p++;
	}
	long off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
			return -EINVAL;
		off = sign * (oh * 3600L + om * 60L);
	} else {
		return -EINVAL;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return -EINVAL;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi,
			 .tm_sec = se };
	*out = timegm(&tm) - off;
	return 0;
}

/* Go's zero time (year 1) stands for "not recorded" in image configs. */
static bool created_known(const char *created, time_t *t)
{
	return cli_parse_time(created, t) == 0 && strncmp(created, "0001-", 5) != 0;
}

void cli_since(const char *created, time_t now, char *buf, size_t len)
{
	time_t t;
	if (!created_known(created, &t)) {
		snprintf(buf, len, "N/A");
		return;
	}
	char d[64];
	cli_human_duration((int64_t) (now - t), d, sizeof(d));
	snprintf(buf, len, "%s ago", d);
}

void cli_created_at(const char *created, char *buf, size_t len)
{
	time_t t;
	struct tm tm;
	if (!created_known(created, &t) || !localtime_r(&t, &tm) ||
	    !strftime(buf, len, "%Y-%m-%d %H:%M:%S %z %Z", &tm))
		snprintf(buf, len, "N/A");
}

int cli_table_init(struct cli_table *t, size_t ncols, const char *const *header)
{
	*t = (struct cli_table) { .ncols = ncols };
	return cli_table_add(t, header);
}

int cli_table_add(struct cli_table *t, const char *const *row)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **cells = realloc(t->cells, cap * t->ncols * sizeof(*cells));
		if (!cells)
			return -ENOMEM;
		t->cells = cells;
		t->cap = cap;
	}
	char **dst = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		dst[i] = strdup(row[i] ? row[i] : "");
		if (!dst[i]) {
			while (i-- > 0)
				free(dst[i]);
			return -ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

void cli_table_print(const struct cli_table *t, FILE *f)
{
	size_t width[t->ncols];
	for (size_t c = 0; c < t->ncols; c++) {
		width[c] = 10;
		for (size_t r = 0; r < t->nrows; r++) {
			size_t w = strlen(t->cells[r * t->ncols + c]) + 3;
			if (w > width[c])
				width[c] = w;
		}
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			if (c + 1 < t->ncols)
				fprintf(f, "%-*s", (int) width[c], cell);
			else
				fprintf(f, "%s\n", cell);
		}
	}
}

void cli_table_clear(struct cli_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	*t = (struct cli_table) { 0 };
}

int cli_split_name(const char *familiar, char **repo, char **tag)
{
	const char *slash = strrchr(familiar, '/');
	const char *base = slash ? slash + 1 : familiar;
	const char *at = strchr(base, '@');
	const char *colon = strchr(base, ':');
	if (at && (!colon || colon > at))
		colon = NULL;
	size_t rlen = colon ? (size_t) (colon - familiar) : at ? (size_t) (at - familiar) : strlen(familiar);
	*repo = strndup(familiar, rlen);
	*tag = colon ? strndup(colon + 1, at ? (size_t) (at - colon - 1) : strlen(colon + 1)) : strdup("<none>");
	if (!*repo || !*tag) {
		free(*repo);
		free(*tag);
		*repo = *tag = NULL;
		return -ENOMEM;
	}
	return 0;
}

bool cli_ref_explicit(const char *ref)
{
	const char *slash = strrchr(ref, '/');
	return strchr(ref, '@') || strchr(slash ? slash + 1 : ref, ':');
}

static int read_line(char **out)
{
	char *line = NULL;
	size_t cap = 0;
	errno = 0;
	ssize_t n = getline(&line, &cap, stdin);
	if (n < 0) {
		int e = errno == EINTR ? EINTR : EIO;
		free(line);
		clearerr(stdin);
		return -e;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	*out = line;
	return 0;
}

int cli_prompt_line(const char *prompt, char **out)
{
	if (!isatty(STDIN_FILENO))
		return -ENOTTY;
	fputs(prompt, stderr);
	fflush(stderr);
	return read_line(out);
}

static void interrupt_read(int sig) { (void) sig; }

int cli_prompt_secret(const char *prompt, char **out)
{
	struct termios old, quiet;
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &old) < 0)
		return -ENOTTY;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t) ECHO;
	quiet.c_lflag |= ECHONL;
	/* Ctrl-C must not leave the terminal without echo: the read is interrupted
	 * (no SA_RESTART), the terminal restored, and then the signal delivered. */
	struct sigaction sa = { .sa_handler = interrupt_read }, old_int;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	fputs(prompt, stderr);
	fflush(stderr);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	int r = read_line(out);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	sigaction(SIGINT, &old_int, NULL);
	if (r == -EINTR) {
		fputc('\n', stderr);
		raise(SIGINT);
	}
	return r;
}

bool cli_confirm(const char *question)
{
	_cleanup_free_ char *answer = NULL;
	char prompt[512];
	snprintf(prompt, sizeof(prompt), "%s [y/N] ", question);
	if (cli_prompt_line(prompt, &answer) < 0)
		return false;
	return !strcasecmp(answer, "y") || !strcasecmp(answer, "yes");
}
