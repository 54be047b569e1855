/* Container commands: run, create, start, stop, kill, restart, rm, ps, logs,
 * wait, attach, inspect, pause, unpause, exec (and `container cleanup`,
 * which a --rm container's monitor runs after the container exited).
 *
 * Exit status follows docker: `run`/`create` exit 125 when berth itself
 * fails (bad flag, pull, create), 126/127 when the container's command
 * cannot be run (permission / not found), else the container's own status
 * for a foreground run.  Commands taking several containers carry on past a
 * failing one, print one "Error: ..." line for it and exit 1 at the end.
 */
#include "cli.h"
#include "runflags.h"
#include "core/cleanup.h"
#include "core/log.h"
#include "core/signals.h"
#include "engine/engine.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static inline void engine_closep(struct engine **e) { engine_close(*e); }
static inline void ctr_opts_clearp(struct ctr_opts *o) { ctr_opts_clear(o); }

static int open_engine(struct cli *cli, struct engine **e, struct berth_error *err)
{
	int r = engine_open(cli->root, e, err);
	if (r == 0)
		(*e)->registry.tls_verify = cli->tls_verify;   /* global --tls-verify reaches run's pull */
	return r;
}

/* ------------------------------------------------------------ terminal */

/* The terminal's cooked settings, for the signal handler below: a fatal
 * signal that the attach loop does not forward must not leave the user's
 * terminal raw.  Signal handlers can reach nothing but statics. */
static struct termios saved_tio;
static volatile sig_atomic_t raw_fd = -1;

static void restore_and_reraise(int sig)
{
	if (raw_fd >= 0)
		tcsetattr(raw_fd, TCSANOW, &saved_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int term_raw(int fd)
{
	struct termios raw;
	if (!isatty(fd) || tcgetattr(fd, &saved_tio) < 0)
		return -ENOTTY;
	raw = saved_tio;
	cfmakeraw(&raw);
	/* keep output post-processing off too: the container's pty already did it */
	if (tcsetattr(fd, TCSANOW, &raw) < 0)
		return -errno;
	raw_fd = fd;
	static const int fatal[] = { SIGABRT, SIGSEGV, SIGBUS, SIGPIPE, SIGALRM, SIGTSTP };
	for (size_t i = 0; i < ARRAY_SIZE(fatal); i++) {
		struct sigaction sa = { .sa_handler = restore_and_reraise, .sa_flags = SA_RESETHAND };
		sigemptyset(&sa.sa_mask);
		sigaction(fatal[i], &sa, NULL);
	}
	return 0;
}

static void term_restore(void)
{
	if (raw_fd < 0)
		return;
	tcsetattr(raw_fd, TCSANOW, &saved_tio);
	raw_fd = -1;
}

/* ------------------------------------------------------------ pull progress (stderr) */

/* `run` keeps stdout for the container: the pull narrative goes to stderr,
 * one line per layer state change. */
struct run_progress {
	struct pull_progress cb;
	enum pull_layer_state *st;
	size_t n;
};

static void rp_message(void *ctx, const char *line)
{
	(void) ctx;
	fprintf(stderr, "%s\n", line);
}

static void rp_layer(void *ctx, size_t idx, size_t n, const char *digest, enum pull_layer_state st, uint64_t done,
		     int64_t total)
{
	(void) done;
	(void) total;
	struct run_progress *p = ctx;
	if (n != p->n) {
		free(p->st);
		p->st = calloc(n ? n : 1, sizeof(*p->st));
		p->n = p->st ? n : 0;
		for (size_t i = 0; i < p->n; i++)
			p->st[i] = (enum pull_layer_state) -1;
	}
	if (idx >= p->n || p->st[idx] == st)
		return;
	p->st[idx] = st;
	static const char *const names[] = {
		[PULL_WAITING] = "Waiting", [PULL_EXISTS] = "Already exists", [PULL_DOWNLOADING] = "Downloading",
		[PULL_EXTRACTING] = "Extracting", [PULL_VERIFYING] = "Verifying Checksum",
		[PULL_DONE] = "Pull complete", [PULL_FAILED] = "Failed",
	};
	const char *hex = digest ? strchr(digest, ':') : NULL;
	fprintf(stderr, "%.12s: %s\n", hex ? hex + 1 : digest ? digest : "", names[st]);
}

/* ------------------------------------------------------------ run / create */

static int start_error_code(const struct berth_error *err)
{
	return err->code == ENOENT ? 127 : err->code == EACCES ? 126 : CLI_EXIT_USAGE;
}

static int create_container(struct cli *cli, struct engine *e, struct ctr_opts *o, char id[CTR_ID_LEN + 1])
{
	struct berth_error err = { 0 };
	char image_id[BERTH_DIGEST_MAX];
	struct run_progress rp = { .cb = { .message = rp_message, .layer = rp_layer } };
	rp.cb.ctx = &rp;
	bool pulls = strcmp(o->pull, "never") != 0, missing = false;
	if (pulls && strcmp(o->pull, "always") &&
	    image_store_resolve(e->images, o->image, image_id, NULL, NULL) == -ENOENT) {
		missing = true;
		fprintf(stderr, "Unable to find image '%s%s' locally\n", o->image,
			cli_ref_explicit(o->image) ? "" : ":latest");
	}
	(void) cli;
	int r = engine_create(e, o, pulls ? &rp.cb : NULL, id, &err);
	free(rp.st);
	if (r < 0) {
		cli_fail(&err);
		return CLI_EXIT_USAGE;
	}
	if (missing)
		fprintf(stderr, "Status: Downloaded newer image for %s%s\n", o->image,
			cli_ref_explicit(o->image) ? "" : ":latest");
	return 0;
}

/* Remove a container whose start failed, so that a bad command leaves nothing. */
static void discard(struct engine *e, const char *id)
{
	struct berth_error err = { 0 };
	if (engine_remove(e, id, true, true, &err) < 0 && err.code != ENOENT)
		log_warn("removing container %.12s after its failed start: %s", id, err.msg);
}

static int run_attached(struct engine *e, const char *id, bool interactive, bool tty, bool logs, int *exit_code,
			struct berth_error *err)
{
	bool raw = tty && interactive && isatty(STDIN_FILENO) && term_raw(STDIN_FILENO) == 0;
	struct attach_opts ao = {
		.stdin_fd = interactive ? STDIN_FILENO : -1, .out_fd = STDOUT_FILENO, .err_fd = STDERR_FILENO,
		.tty = tty, .forward_signals = true, .logs = logs,
	};
	fflush(stdout);
	int r = engine_attach(e, id, &ao, exit_code, err);
	if (raw)
		term_restore();
	return r;
}

static int create_or_run(struct cli *cli, int argc, char **argv, bool is_run)
{
	_cleanup_(ctr_opts_clearp) struct ctr_opts o = { 0 };
	int r = runflags_parse(cli, argc, argv, is_run, &o);
	if (r == CLI_OPT_HELP)
		return 0;
	if (r)
		return r;
	if (is_run && !o.detach && o.tty && o.interactive && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "berth: the input device is not a TTY\n");
		return CLI_EXIT_FAIL;
	}
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	if (open_engine(cli, &e, &err) < 0) {
		cli_fail(&err);
		return CLI_EXIT_USAGE;
	}
	char id[CTR_ID_LEN + 1];
	if ((r = create_container(cli, e, &o, id)))
		return r;
	if (!is_run) {
		printf("%s\n", id);
		return 0;
	}
	e->attach_on_start = !o.detach;
	/* Foreground --rm: this process removes the container when it exits (the
	 * monitor waits on our claim, and takes over only if we die). */
	_cleanup_close_ int claim = !o.detach && o.rm ? engine_claim_cleanup(e, id, NULL) : -1;
	(void) claim;   /* held, not used: released when this function returns */
	if (engine_start(e, id, &err) < 0) {
		cli_fail(&err);
		discard(e, id);
		return start_error_code(&err);
	}
	if (o.detach) {
		printf("%s\n", id);
		return 0;
	}
	int code = 0;
	/* engine_start connected to the monitor before the container ran: no replay of the log */
	r = run_attached(e, id, o.interactive, o.tty, false, &code, &err);
	if (r < 0) {
		cli_fail(&err);
		return CLI_EXIT_USAGE;
	}
	if (r == 1)
		return 0;   /* detached with ctrl-p ctrl-q */
	if (o.rm) {
		/* Gone when we return; the monitor waits on our claim meanwhile. */
		struct berth_error rerr = { 0 };
		if (engine_remove(e, id, false, true, &rerr) < 0 && rerr.code != ENOENT)
			log_debug("--rm of %.12s: %s", id, rerr.msg);
	}
	return code;
}

int cmd_run(struct cli *cli, int argc, char **argv) { return create_or_run(cli, argc, argv, true); }
int cmd_create(struct cli *cli, int argc, char **argv) { return create_or_run(cli, argc, argv, false); }

/* ------------------------------------------------------------ helpers for per-container commands */

/* What a started/attached container was created with (Config.Tty / Config.OpenStdin). */
static void ctr_flags(struct engine *e, const char *id, bool *tty, bool *stdin_open)
{
	*tty = *stdin_open = false;
	json_t *j = engine_inspect(e, id, NULL);
	if (!j)
		return;
	json_t *cfg = json_object_get(j, "Config");
	*tty = json_is_true(json_object_get(cfg, "Tty"));
	*stdin_open = json_is_true(json_object_get(cfg, "OpenStdin"));
	json_decref(j);
}

typedef int (*each_fn)(struct engine *e, const char *id, const char *arg, void *ctx, struct berth_error *err);

/* Run fn for every container argument; docker prints each argument that succeeded. */
static int for_each_ctr(struct cli *cli, int argc, char **argv, each_fn fn, void *ctx, bool print_arg)
{
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	if (open_engine(cli, &e, &err) < 0)
		return cli_fail(&err);
	int ret = 0;
	for (int i = optind; i < argc; i++) {
		berth_error_clear(&err);
		char id[CTR_ID_LEN + 1];
		if (engine_resolve(e, argv[i], id, &err) < 0 || fn(e, id, argv[i], ctx, &err) < 0) {
			cli_fail(&err);
			ret = CLI_EXIT_FAIL;
			continue;
		}
		if (print_arg) {
			printf("%s\n", argv[i]);
			fflush(stdout);
		}
	}
	return ret;
}

static int parse_int_arg(struct cli *cli, const char *flag, const char *v, int min, int *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < min || n > 1000000000)
		return cli_usage_error(cli, "invalid argument \"%s\" for \"%s\" flag: not an integer >= %d", v, flag, min);
	*out = (int) n;
	return 0;
}


/* ------------------------------------------------------------ start */

static int do_start(struct engine *e, const char *id, const char *arg, void *ctx, struct berth_error *err)
{
	(void) arg;
	(void) ctx;
	return engine_start(e, id, err);
}

int cmd_start(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "attach", no_argument, NULL, 'a' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool attach = false, interactive = false;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "aih", opts)) != -1) {
		if (c == 'a')
			attach = true;
		else if (c == 'i')
			interactive = true;
		else
			return cli_opt_exit(c);
	}
	if ((r = cli_args_min(cli, argc, 1)))
		return r;
	if (!attach && !interactive)
		return for_each_ctr(cli, argc, argv, do_start, NULL, true);
	if (argc - optind > 1)
		return cli_usage_error(cli, "you cannot start and attach multiple containers at once");

	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	char id[CTR_ID_LEN + 1];
	if (open_engine(cli, &e, &err) < 0 || engine_resolve(e, argv[optind], id, &err) < 0)
		return cli_fail(&err);
	bool tty, stdin_open;
	ctr_flags(e, id, &tty, &stdin_open);
	interactive = interactive && stdin_open;
	if (tty && interactive && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "berth: the input device is not a TTY\n");
		return CLI_EXIT_FAIL;
	}
	e->attach_on_start = true;
	if (engine_start(e, id, &err) < 0)
		return cli_fail(&err);
	int code = 0;
	r = run_attached(e, id, interactive, tty, false, &code, &err);
	if (r < 0)
		return cli_fail(&err);
	return r == 1 ? 0 : code;
}

/* ------------------------------------------------------------ stop / restart / kill / rm / wait / pause */

static int do_stop(struct engine *e, const char *id, const char *arg, void *ctx, struct berth_error *err)
{
	(void) arg;
	return engine_stop(e, id, *(int *) ctx, err);
}

static int do_restart(struct engine *e, const char *id, const char *arg, void *ctx, struct berth_error *err)
{
	(void) arg;
	int r = engine_stop(e, id, *(int *) ctx, err);
	return r < 0 ? r : engine_start(e, id, err);
}

static int stop_or_restart(struct cli *cli, int argc, char **argv, each_fn fn)
{
	static const struct option opts[] = {
		{ "time", required_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int timeout = -1, c, r;
	while ((c = cli_getopt(cli, argc, argv, "t:h", opts)) != -1) {
		if (c == 't') {
			if ((r = parse_int_arg(cli, "--time", optarg, -1, &timeout)))
				return r;
		} else {
			return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_min(cli, argc, 1)))
		return r;
	return for_each_ctr(cli, argc, argv, fn, &timeout, true);
}

int cmd_stop(struct cli *cli, int argc, char **argv) { return stop_or_restart(cli, argc, argv, do_stop); }
int cmd_restart(struct cli *cli, int argc, char **argv) { return stop_or_restart(cli, argc, argv, do_restart); }

static int do_kill(struct engine *e, const char *id, const char *arg, void *ctx, struct berth_error *err)
{
	(void) arg;
	return engine_kill(e, id, ctx, err);
}

int cmd_kill(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "signal", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *sig = "KILL";
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "s:h", opts)) != -1) {
		if (c == 's')
			sig = optarg;
		else
			return cli_opt_exit(c);
	}
	if ((r = cli_args_min(cli, argc, 1)))
		return r;
	int signo = berth_signal_parse(sig);
	if (signo <= 0)
		return cli_failf("invalid signal: %s", sig);
	/* a number is what every OCI runtime takes */
	char num[16];
	snprintf(num, sizeof(num), "%d", signo);
	return for_each_ctr(cli, argc, argv, do_kill, num, true);
}

struct rm_opts { bool force, volumes; };

static int do_rm(struct engine *e, const char *id, const char *arg, void *ctx, struct berth_error *err)
{
	(void) arg;
	const struct rm_opts *ro = ctx;
	return engine_remove(e, id, ro->force, ro->volumes, err);
}

int cmd_rm(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "volumes", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct rm_opts ro = { 0 };
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "fvh", opts)) != -1) {
		if (c == 'f')
			ro.force = true;
		else if (c == 'v')
			ro.volumes = true;
		else
			return cli_opt_exit(c);
	}
	if ((r = cli_args_min(cli, argc, 1)))
		return r;
	return for_each_ctr(cli, argc, argv, do_rm, &ro, true);
}

static int do_wait(struct engine *e, const char *id, const char *arg, void *ctx, struct berth_error *err)
{
	(void) arg;
	(void) ctx;
	int code = 0;
	int r = engine_wait(e, id, &code, err);
	if (r == 0) {
		printf("%d\n", code);
		fflush(stdout);
	}
	return r;
}

int cmd_wait(struct cli *cli, int argc, char **argv)
{
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "h", cli_help_only)) != -1)
		return cli_opt_exit(c);
	if ((r = cli_args_min(cli, argc, 1)))
		return r;
	return for_each_ctr(cli, argc, argv, do_wait, NULL, false);
}

static int do_pause(struct engine *e, const char *id, const char *arg, void *ctx, struct berth_error *err)
{
	(void) arg;
	return engine_pause(e, id, *(bool *) ctx, err);
}

static int pause_cmd(struct cli *cli, int argc, char **argv, bool pause)
{
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "h", cli_help_only)) != -1)
		return cli_opt_exit(c);
	if ((r = cli_args_min(cli, argc, 1)))
		return r;
	return for_each_ctr(cli, argc, argv, do_pause, &pause, true);
}

int cmd_pause(struct cli *cli, int argc, char **argv) { return pause_cmd(cli, argc, argv, true); }
int cmd_unpause(struct cli *cli, int argc, char **argv) { return pause_cmd(cli, argc, argv, false); }

/* The monitor of a --rm container runs this after the container exited. */
int cmd_container_cleanup(struct cli *cli, int argc, char **argv)
{
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "h", cli_help_only)) != -1)
		return cli_opt_exit(c);
	if ((r = cli_args_exact(cli, argc, 1)))
		return r;
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	if (open_engine(cli, &e, &err) < 0 || engine_cleanup(e, argv[optind], &err) < 0)
		return cli_fail(&err);
	return 0;
}

/* ------------------------------------------------------------ ps */

struct ps_row {
	struct ctr_summary s;   /* strings owned */
};

struct ps_filters {
	char **status, **name, **id, **label, **ancestor;
	size_t n_status, n_name, n_id, n_label, n_ancestor;
	char (*ancestor_ids)[BERTH_DIGEST_MAX];
};

struct ps_list {
	struct ps_row *v;
	size_t n, cap;
};

static char *xstrdup(const char *s) { return strdup(s ? s : ""); }

static int ps_collect(void *ctx, const struct ctr_summary *s)
{
	struct ps_list *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct ps_row *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	struct ctr_summary *d = &l->v[l->n].s;
	*d = *s;
	d->name = xstrdup(s->name);
	d->image = xstrdup(s->image);
	d->command = xstrdup(s->command);
	d->state = xstrdup(s->state);
	d->status = xstrdup(s->status);
	l->n++;
	if (!d->name || !d->image || !d->command || !d->state || !d->status)
		return -ENOMEM;
	return 0;
}

static void ps_list_clear(struct ps_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free((char *) l->v[i].s.name);
		free((char *) l->v[i].s.image);
		free((char *) l->v[i].s.command);
		free((char *) l->v[i].s.state);
		free((char *) l->v[i].s.status);
	}
	free(l->v);
}

static int by_created_desc(const void *a, const void *b)
{
	const struct ps_row *x = a, *y = b;
	return x->s.created > y->s.created ? -1 : x->s.created < y->s.created;
}

static int add_filter(char ***v, size_t *n, const char *val)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[(*n)++] = (char *) val;
	return 0;
}

static int ps_filter_arg(struct cli *cli, struct ps_filters *f, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg)
		return cli_usage_error(cli, "bad format of filter \"%s\" (expected name=value)", arg);
	size_t k = (size_t) (eq - arg);
	const char *v = eq + 1;
	int r;
	if (k == 6 && !strncmp(arg, "status", 6)) {
		static const char *const ok[] = { "created", "restarting", "running", "removing", "paused", "exited",
						  "dead" };
		bool valid = false;
		for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
			valid |= !strcmp(v, ok[i]);
		if (!valid)
			return cli_usage_error(cli, "invalid filter 'status=%s' (created, restarting, running, removing, "
					       "paused, exited or dead)", v);
		r = add_filter(&f->status, &f->n_status, v);
	} else if (k == 4 && !strncmp(arg, "name", 4)) {
		r = add_filter(&f->name, &f->n_name, v);
	} else if (k == 2 && !strncmp(arg, "id", 2)) {
		r = add_filter(&f->id, &f->n_id, v);
	} else if (k == 5 && !strncmp(arg, "label", 5)) {
		r = add_filter(&f->label, &f->n_label, v);
	} else if (k == 8 && !strncmp(arg, "ancestor", 8)) {
		r = add_filter(&f->ancestor, &f->n_ancestor, v);
	} else {
		return cli_usage_error(cli, "invalid filter '%.*s' (supported: status, name, id, label, ancestor)",
				       (int) k, arg);
	}
	return r < 0 ? cli_failf("out of memory") : 0;
}

static bool label_match(json_t *labels, const char *want)
{
	const char *eq = strchr(want, '=');
	size_t klen = eq ? (size_t) (eq - want) : strlen(want);
	const char *key;
	json_t *val;
	json_object_foreach(labels, key, val) {
		if (strlen(key) != klen || strncmp(key, want, klen))
			continue;
		if (!eq)
			return true;
		const char *s = json_string_value(val);
		return s && !strcmp(s, eq + 1);
	}
	return false;
}

/* Needs the container's record: labels, image ID, mounts. */
static bool ps_needs_inspect(const struct ps_filters *f) { return f->n_label || f->n_ancestor; }

static bool ps_match(const struct ps_filters *f, const struct ctr_summary *s, json_t *insp)
{
	if (f->n_status) {
		bool any = false;
		for (size_t i = 0; i < f->n_status && !any; i++)
			any = !strcmp(f->status[i], s->state);
		if (!any)
			return false;
	}
	if (f->n_name) {
		bool any = false;
		for (size_t i = 0; i < f->n_name && !any; i++)
			any = strstr(s->name, f->name[i]) != NULL;
		if (!any)
			return false;
	}
	if (f->n_id) {
		bool any = false;
		for (size_t i = 0; i < f->n_id && !any; i++)
			any = !strncmp(s->id, f->id[i], strlen(f->id[i]));
		if (!any)
			return false;
	}
	json_t *labels = json_object_get(json_object_get(insp, "Config"), "Labels");
	for (size_t i = 0; i < f->n_label; i++)
		if (!label_match(labels, f->label[i]))
			return false;
	if (f->n_ancestor) {
		const char *img = json_string_value(json_object_get(insp, "Image"));
		bool any = false;
		for (size_t i = 0; i < f->n_ancestor && !any; i++)
			any = !strcmp(s->image, f->ancestor[i]) ||
			      (img && f->ancestor_ids[i][0] && !strcmp(img, f->ancestor_ids[i]));
		if (!any)
			return false;
	}
	return true;
}

/* docker's Ellipsis: at most max characters (code points), the last one "…" */
static void ellipsis(const char *s, size_t max, char *buf, size_t len)
{
	size_t chars = 0, i = 0;
	for (const char *p = s; *p; p++)
		chars += ((unsigned char) *p & 0xC0) != 0x80;
	if (chars <= max) {
		snprintf(buf, len, "%s", s);
		return;
	}
	size_t kept = 0;
	for (; s[i] && kept < max - 1; i++) {
		kept += ((unsigned char) s[i] & 0xC0) != 0x80;
		if (kept == max - 1) {
			i++;
			while (s[i] && ((unsigned char) s[i] & 0xC0) == 0x80)
				i++;
			break;
		}
	}
	snprintf(buf, len, "%.*s…", (int) i, s);
}

/* Go's strconv.Quote for the printable text a command is */
static void quote(const char *s, char *buf, size_t len)
{
	size_t o = 0;
	if (len < 3) {
		if (len)
			buf[0] = '\0';
		return;
	}
	buf[o++] = '"';
	for (const char *p = s; *p && o + 4 < len; p++) {
		unsigned char ch = (unsigned char) *p;
		if (ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char) ch;
		} else if (ch == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else if (ch == '\t') {
			buf[o++] = '\\';
			buf[o++] = 't';
		} else if (ch < 0x20 || ch == 0x7f) {
			o += (size_t) snprintf(buf + o, len - o, "\\x%02x", ch);
		} else {
			buf[o++] = (char) ch;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
}

static char *join_labels(json_t *labels)
{
	size_t cap = 64, n = 0;
	char *s = calloc(1, cap);
	const char *key;
	json_t *val;
	json_object_foreach(labels, key, val) {
		const char *v = json_string_value(val);
		size_t need = n + strlen(key) + (v ? strlen(v) : 0) + 3;
		if (!s)
			return NULL;
		if (need > cap) {
			while (cap < need)
				cap *= 2;
			char *t = realloc(s, cap);
			if (!t) {
				free(s);
				return NULL;
			}
			s = t;
		}
		n += (size_t) sprintf(s + n, "%s%s=%s", n ? "," : "", key, v ? v : "");
	}
	return s;
}

static int ps_json(const struct ctr_summary *s, json_t *insp, const char *id, const char *command,
		   const char *running_for)
{
	char at[80] = "";
	time_t c = (time_t) s->created;
	struct tm tm;
	if (localtime_r(&c, &tm))
		strftime(at, sizeof(at), "%Y-%m-%d %H:%M:%S %z %Z", &tm);
	_cleanup_free_ char *labels = join_labels(json_object_get(json_object_get(insp, "Config"), "Labels"));
	size_t cap = 64, n = 0, local = 0;
	_cleanup_free_ char *mounts = calloc(1, cap);
	json_t *m;
	size_t i;
	json_array_foreach(json_object_get(insp, "Mounts"), i, m) {
		const char *type = json_string_value(json_object_get(m, "Type"));
		const char *name = json_string_value(json_object_get(m, "Name"));
		const char *src = json_string_value(json_object_get(m, "Source"));
		const char *shown = type && !strcmp(type, "volume") && name ? name : src ? src : "";
		char trunc[64];
		ellipsis(shown, 15, trunc, sizeof(trunc));
		local += type && !strcmp(type, "volume");
		size_t need = n + strlen(trunc) + 2;
		if (mounts && need > cap) {
			while (cap < need)
				cap *= 2;
			char *t = realloc(mounts, cap);
			if (!t)
				return -ENOMEM;
			mounts = t;
		}
		if (mounts)
			n += (size_t) sprintf(mounts + n, "%s%s", n ? "," : "", trunc);
	}
	const char *net = json_string_value(json_object_get(json_object_get(insp, "HostConfig"), "NetworkMode"));
	char localv[24];
	snprintf(localv, sizeof(localv), "%zu", local);
	_cleanup_json_t_ json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
		"Command", command, "CreatedAt", at, "ID", id, "Image", s->image, "Labels", labels ? labels : "",
		"LocalVolumes", localv, "Mounts", mounts ? mounts : "", "Names", s->name, "Networks", net ? net : "none",
		"Ports", "", "RunningFor", running_for, "Size", "0B", "State", s->state, "Status", s->status);
	if (!j)
		return -ENOMEM;
	json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	return 0;
}

int cmd_ps(struct cli *cli, int argc, char **argv)
{
	enum { O_FORMAT = 1000, O_NO_TRUNC };
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "no-trunc", no_argument, NULL, O_NO_TRUNC },
		{ "filter", required_argument, NULL, 'f' },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "last", required_argument, NULL, 'n' },
		{ "latest", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool all = false, quiet = false, no_trunc = false, json = false;
	int last = -1, c, r;
	struct ps_filters f = { 0 };
	_cleanup_free_ char **f1 = NULL, **f2 = NULL, **f3 = NULL, **f4 = NULL, **f5 = NULL;
	while ((c = cli_getopt(cli, argc, argv, "aqf:n:lh", opts)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case 'q': quiet = true; break;
		case O_NO_TRUNC: no_trunc = true; break;
		case 'f':
			r = ps_filter_arg(cli, &f, optarg);
			f1 = f.status, f2 = f.name, f3 = f.id, f4 = f.label, f5 = f.ancestor;
			if (r)
				return r;
			break;
		case O_FORMAT:
			if ((r = cli_parse_format(cli, optarg, &json)))
				return r;
			break;
		case 'n':
			if ((r = parse_int_arg(cli, "--last", optarg, -1, &last)))
				return r;
			break;
		case 'l': last = 1; break;
		default:
			return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_exact(cli, argc, 0)))
		return r;
	if (f.n_status || last >= 0)
		all = true;
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	if (open_engine(cli, &e, &err) < 0)
		return cli_fail(&err);
	_cleanup_free_ char(*anc)[BERTH_DIGEST_MAX] = calloc(f.n_ancestor + 1, BERTH_DIGEST_MAX);
	if (!anc)
		return cli_failf("out of memory");
	for (size_t i = 0; i < f.n_ancestor; i++)
		if (image_store_resolve(e->images, f.ancestor[i], anc[i], NULL, NULL) < 0)
			anc[i][0] = '\0';
	f.ancestor_ids = anc;

	struct ps_list l = { 0 };
	r = engine_list(e, all, ps_collect, &l, &err);
	if (r < 0) {
		ps_list_clear(&l);
		return cli_fail(&err);
	}
	qsort(l.v, l.n, sizeof(*l.v), by_created_desc);
	struct cli_table t;
	static const char *const hdr[] = { "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES" };
	if (cli_table_init(&t, ARRAY_SIZE(hdr), hdr) < 0) {
		ps_list_clear(&l);
		return cli_failf("out of memory");
	}
	time_t now = time(NULL);
	int shown = 0;
	for (size_t i = 0; i < l.n && (last < 0 || shown < last); i++) {
		const struct ctr_summary *s = &l.v[i].s;
		_cleanup_json_t_ json_t *insp = ps_needs_inspect(&f) || json ? engine_inspect(e, s->id, NULL) : NULL;
		if (!ps_match(&f, s, insp))
			continue;
		shown++;
		char id[CTR_ID_LEN + 1];
		snprintf(id, sizeof(id), no_trunc ? "%s" : "%.12s", s->id);
		if (quiet) {
			printf("%s\n", id);
			continue;
		}
		char cmd[8192], trunc[8192], since[80], dur[64];
		if (no_trunc)
			snprintf(trunc, sizeof(trunc), "%s", s->command);
		else
			ellipsis(s->command, 20, trunc, sizeof(trunc));
		quote(trunc, cmd, sizeof(cmd));
		cli_human_duration((int64_t) (now - s->created), dur, sizeof(dur));
		snprintf(since, sizeof(since), "%s ago", dur);
		if (json) {
			if (ps_json(s, insp, id, cmd, since) < 0)
				return cli_failf("out of memory");
			continue;
		}
		const char *row[] = { id, s->image, cmd, since, s->status, "", s->name };
		if (cli_table_add(&t, row) < 0)
			return cli_failf("out of memory");
	}
	if (!quiet && !json)
		cli_table_print(&t, stdout);
	cli_table_clear(&t);
	ps_list_clear(&l);
	return 0;
}

/* ------------------------------------------------------------ logs */

/* Go's time.ParseDuration subset docker takes for --since: "10m", "1h30m", "1.5h", "30s", "500ms". */
static int parse_duration(const char *s, int64_t *ns)
{
	static const struct { const char *u; double mult; } units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "µs", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 },
	};
	double total = 0;
	const char *p = s;
	if (!*p)
		return -EINVAL;
	while (*p) {
		char *end;
		if (!isdigit((unsigned char) *p) && *p != '.')
			return -EINVAL;
		double v = strtod(p, &end);
		if (end == p)
			return -EINVAL;
		p = end;
		size_t best = 0;
		int found = -1;
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			size_t n = strlen(units[i].u);
			if (!strncmp(p, units[i].u, n) && n > best) {
				best = n;
				found = (int) i;
			}
		}
		if (found < 0)
			return -EINVAL;
		total += v * units[found].mult;
		p += best;
	}
	*ns = (int64_t) total;
	return 0;
}

static int parse_since(const char *s, int64_t *ns)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t now_ns = (int64_t) now.tv_sec * 1000000000 + now.tv_nsec, d;
	if (parse_duration(s, &d) == 0) {
		*ns = now_ns - d;
		return 0;
	}
	/* unix seconds, optionally with a fraction */
	if (isdigit((unsigned char) *s) && strspn(s, "0123456789.") == strlen(s) && strchr(s, '.') == strrchr(s, '.')) {
		char *end;
		long long sec = strtoll(s, &end, 10);
		int64_t frac = 0, scale = 100000000;
		if (*end == '.')
			for (const char *p = end + 1; *p && scale; p++, scale /= 10)
				frac += (*p - '0') * scale;
		*ns = (int64_t) sec * 1000000000 + frac;
		return 0;
	}
	time_t t;
	char buf[64];
	if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
		snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
		s = buf;
	}
	if (cli_parse_time(s, &t) == 0) {
		*ns = (int64_t) t * 1000000000;
		return 0;
	}
	return -EINVAL;
}

int cmd_logs(struct cli *cli, int argc, char **argv)
{
	enum { O_SINCE = 1000, O_TAIL };
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "since", required_argument, NULL, O_SINCE },
		{ "tail", required_argument, NULL, 'n' },
		{ "timestamps", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct logs_opts lo = { .tail = -1, .out_fd = STDOUT_FILENO, .err_fd = STDERR_FILENO };
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "fn:th", opts)) != -1) {
		switch (c) {
		case 'f': lo.follow = true; break;
		case 't': lo.timestamps = true; break;
		case O_SINCE:
			if (parse_since(optarg, &lo.since_ns) < 0)
				return cli_usage_error(cli, "invalid argument \"%s\" for \"--since\" flag: expected a duration "
						       "(10m), an RFC 3339 time or unix seconds", optarg);
			break;
		case 'n':
			if (!strcmp(optarg, "all")) {
				lo.tail = -1;
			} else {
				int n = 0;
				if ((r = parse_int_arg(cli, "--tail", optarg, 0, &n)))
					return r;
				lo.tail = n;
			}
			break;
		default:
			return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_exact(cli, argc, 1)))
		return r;
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	char id[CTR_ID_LEN + 1];
	if (open_engine(cli, &e, &err) < 0 || engine_resolve(e, argv[optind], id, &err) < 0 ||
	    engine_logs(e, id, &lo, &err) < 0)
		return cli_fail(&err);
	return 0;
}

/* ------------------------------------------------------------ attach */

int cmd_attach(struct cli *cli, int argc, char **argv)
{
	enum { O_NO_STDIN = 1000, O_SIG_PROXY };
	static const struct option opts[] = {
		{ "no-stdin", no_argument, NULL, O_NO_STDIN },
		{ "sig-proxy", optional_argument, NULL, O_SIG_PROXY },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool no_stdin = false, sig_proxy = true;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		if (c == O_NO_STDIN)
			no_stdin = true;
		else if (c == O_SIG_PROXY) {
			if (cli_parse_bool("--sig-proxy", optarg, &sig_proxy, cli) < 0)
				return CLI_EXIT_USAGE;
		} else {
			return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_exact(cli, argc, 1)))
		return r;
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	char id[CTR_ID_LEN + 1];
	if (open_engine(cli, &e, &err) < 0 || engine_resolve(e, argv[optind], id, &err) < 0)
		return cli_fail(&err);
	json_t *j = engine_inspect(e, id, &err);
	if (!j)
		return cli_fail(&err);
	json_t *st = json_object_get(j, "State"), *cfg = json_object_get(j, "Config");
	bool running = json_is_true(json_object_get(st, "Running")) || json_is_true(json_object_get(st, "Paused"));
	bool tty = json_is_true(json_object_get(cfg, "Tty"));
	bool interactive = !no_stdin && json_is_true(json_object_get(cfg, "OpenStdin"));
	json_decref(j);
	if (!running)
		return cli_failf("You cannot attach to a stopped container, start it first");
	if (tty && interactive && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "berth: the input device is not a TTY\n");
		return CLI_EXIT_FAIL;
	}
	bool raw = tty && interactive && isatty(STDIN_FILENO) && term_raw(STDIN_FILENO) == 0;
	struct attach_opts ao = {
		.stdin_fd = interactive ? STDIN_FILENO : -1, .out_fd = STDOUT_FILENO, .err_fd = STDERR_FILENO,
		.tty = tty, .forward_signals = sig_proxy, .logs = false,
	};
	int code = 0;
	r = engine_attach(e, id, &ao, &code, &err);
	if (raw)
		term_restore();
	if (r < 0)
		return cli_fail(&err);
	return r == 1 ? 0 : code;
}

/* ------------------------------------------------------------ inspect */

/* A small part of Go's text/template, what scripts use with `inspect -f`:
 * literal text, {{.A.B}} and {{json .A.B}}.  Strings print bare, numbers and
 * booleans as Go prints them, objects and arrays as JSON. */
static int render_template(const char *tpl, json_t *root, FILE *out, struct berth_error *err)
{
	const char *p = tpl;
	while (*p) {
		const char *open = strstr(p, "{{");
		if (!open) {
			fputs(p, out);
			break;
		}
		fwrite(p, 1, (size_t) (open - p), out);
		const char *close = strstr(open, "}}");
		if (!close)
			return berth_err(err, EINVAL, "template: unclosed action in \"%s\"", tpl);
		_cleanup_free_ char *act = strndup(open + 2, (size_t) (close - open - 2));
		if (!act)
			return berth_err(err, ENOMEM, "template");
		char *a = act;
		while (isspace((unsigned char) *a))
			a++;
		char *end = a + strlen(a);
		while (end > a && isspace((unsigned char) end[-1]))
			*--end = '\0';
		bool as_json = false;
		if (!strncmp(a, "json ", 5)) {
			as_json = true;
			a += 5;
			while (isspace((unsigned char) *a))
				a++;
		}
		if (*a != '.')
			return berth_err(err, EINVAL, "template: unsupported action {{%s}} (berth supports {{.Field}} and "
					 "{{json .Field}})", act);
		json_t *v = root;
		if (a[1]) {
			char *save = NULL;
			for (char *f = strtok_r(a + 1, ".", &save); f; f = strtok_r(NULL, ".", &save)) {
				if (!json_is_object(v) || !(v = json_object_get(v, f)))
					return berth_err(err, EINVAL, "template: map has no entry for key \"%s\"", f);
			}
		}
		if (as_json || json_is_object(v) || json_is_array(v)) {
			json_dumpf(v, out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
		} else if (json_is_string(v)) {
			fputs(json_string_value(v), out);
		} else if (json_is_integer(v)) {
			fprintf(out, "%lld", (long long) json_integer_value(v));
		} else if (json_is_real(v)) {
			fprintf(out, "%g", json_real_value(v));
		} else if (json_is_boolean(v)) {
			fputs(json_is_true(v) ? "true" : "false", out);
		} else {
			fputs("<no value>", out);
		}
		p = close + 2;
	}
	fputc('\n', out);
	return 0;
}

static int inspect_cmd(struct cli *cli, int argc, char **argv, bool containers_only)
{
	enum { O_TYPE = 1000 };
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "type", required_argument, NULL, O_TYPE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *format = NULL, *type = containers_only ? "container" : NULL;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, containers_only ? "f:h" : "f:h", opts)) != -1) {
		if (c == 'f')
			format = optarg;
		else if (c == O_TYPE && !containers_only) {
			if (strcmp(optarg, "container") && strcmp(optarg, "image"))
				return cli_usage_error(cli, "\"%s\" is not a valid value for --type (container or image)", optarg);
			type = optarg;
		} else if (c == O_TYPE) {
			return cli_usage_error(cli, "unknown flag: --type");
		} else {
			return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_min(cli, argc, 1)))
		return r;
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	if (open_engine(cli, &e, &err) < 0)
		return cli_fail(&err);
	_cleanup_json_t_ json_t *arr = json_array();
	if (!arr)
		return cli_failf("out of memory");
	size_t n_errs = 0;
	struct berth_error *errs = calloc((size_t) (argc - optind), sizeof(*errs));
	if (!errs)
		return cli_failf("out of memory");
	for (int i = optind; i < argc; i++) {
		struct berth_error *er = &errs[n_errs];
		json_t *j = NULL;
		char id[CTR_ID_LEN + 1];
		if ((!type || !strcmp(type, "container")) && engine_resolve(e, argv[i], id, NULL) == 0)
			j = engine_inspect(e, id, er);
		if (!j && !berth_error_isset(er) && (!type || !strcmp(type, "image"))) {
			char iid[BERTH_DIGEST_MAX];
			if (image_store_resolve(e->images, argv[i], iid, NULL, NULL) == 0)
				j = image_store_inspect(e->images, iid, er);
		}
		if (!j) {
			if (!berth_error_isset(er))
				berth_err(er, ENOENT, "No such %s: %s",
					  !type ? "object" : !strcmp(type, "container") ? "container" : "image", argv[i]);
			n_errs++;
			continue;
		}
		if (format) {
			if (render_template(format, j, stdout, er) < 0)
				n_errs++;
			json_decref(j);
			continue;
		}
		if (json_array_append_new(arr, j) < 0) {
			free(errs);
			return cli_failf("out of memory");
		}
	}
	r = cli_inspect_done(format ? NULL : arr, errs, n_errs);
	free(errs);
	return r;
}

int cmd_inspect(struct cli *cli, int argc, char **argv) { return inspect_cmd(cli, argc, argv, false); }
int cmd_container_inspect(struct cli *cli, int argc, char **argv) { return inspect_cmd(cli, argc, argv, true); }

/* ------------------------------------------------------------ exec */

static int strv_add(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return -ENOMEM;
	nv[++*n] = NULL;
	return 0;
}

int cmd_exec(struct cli *cli, int argc, char **argv)
{
	enum { O_PRIVILEGED = 1000 };
	static const struct option opts[] = {
		{ "detach", no_argument, NULL, 'd' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "env", required_argument, NULL, 'e' },
		{ "user", required_argument, NULL, 'u' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "privileged", no_argument, NULL, O_PRIVILEGED },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct exec_opts xo = { 0 };
	_cleanup_strv_ char **env = NULL;
	size_t n_env = 0;
	int c, r;
	while ((c = cli_getopt_stop(cli, argc, argv, "ite:u:w:dh", opts)) != -1) {
		switch (c) {
		case 'd': xo.detach = true; break;
		case 'i': xo.interactive = true; break;
		case 't': xo.tty = true; break;
		case 'u': xo.user = optarg; break;
		case 'w':
			if (optarg[0] != '/')
				return cli_usage_error(cli, "invalid argument \"%s\" for \"--workdir\" flag: the working "
						       "directory needs to be an absolute path", optarg);
			xo.workdir = optarg;
			break;
		case O_PRIVILEGED: xo.privileged = true; break;
		case 'e': {
			if (!*optarg || *optarg == '=')
				return cli_usage_error(cli, "invalid argument \"%s\" for \"--env\" flag: empty name", optarg);
			if (strchr(optarg, '=')) {
				r = strv_add(&env, &n_env, optarg);
			} else {
				const char *v = getenv(optarg);
				_cleanup_free_ char *kv = NULL;
				r = 0;
				if (v)
					r = asprintf(&kv, "%s=%s", optarg, v) < 0 ? -ENOMEM : strv_add(&env, &n_env, kv);
			}
			if (r < 0)
				return cli_failf("out of memory");
			break;
		}
		default:
			return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_min(cli, argc, 2)))
		return r;
	if (xo.tty && xo.interactive && !xo.detach && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "berth: the input device is not a TTY\n");
		return CLI_EXIT_FAIL;
	}
	xo.env = env;
	xo.argv = argv + optind + 1;
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	char id[CTR_ID_LEN + 1];
	if (open_engine(cli, &e, &err) < 0 || engine_resolve(e, argv[optind], id, &err) < 0)
		return cli_fail(&err);
	bool raw = xo.tty && xo.interactive && !xo.detach && term_raw(STDIN_FILENO) == 0;
	int code = -1;
	fflush(stdout);
	r = engine_exec(e, id, &xo, &code, &err);
	if (raw)
		term_restore();
	if (r < 0) {
		cli_fail(&err);
		return code >= 0 ? code : CLI_EXIT_FAIL;
	}
	return code < 0 ? 0 : code;
}
