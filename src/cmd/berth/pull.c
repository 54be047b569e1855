/* pull, push, and the per-layer progress they show.
 *
 * The library narrates (pull_progress.message: "Trying to pull ...",
 * "Digest: ...", push's "<id>: Pushed" / "Mounted from ..." / "<tag>: digest:
 * ... size: N"); those lines go to stdout, as docker prints them.  The CLI
 * adds only what the library does not say ("Using default tag", "Status:",
 * the full name).  Per-layer progress goes to stderr: on a terminal, one line
 * per layer redrawn in place (cursor up, at most ~10 times a second, at once
 * on a state change); otherwise one plain line per state change, which is
 * what a log file or CI output wants.  A push's layer outcomes are already in
 * the narrative, so for a push only the uploads in flight are drawn (on a
 * terminal) and nothing is printed per layer otherwise.  The callbacks arrive
 * on the library's worker threads, so the render state sits behind a mutex.
 */
#include "cli.h"
#include "core/cleanup.h"
#include "image/pull.h"
#include "image/reference.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define BAR_WIDTH 30
#define REDRAW_INTERVAL 0.1     /* seconds: ~10 Hz */
#define RATE_WINDOW 0.5         /* seconds between speed samples */

struct layer_line {
	char id[13];                /* first 12 hex digits of the blob digest */
	enum pull_layer_state st;
	bool seen;                  /* a callback arrived for this layer */
	bool printed;               /* plain mode: st has been printed */
	uint64_t done;
	int64_t total;
	double rate;                /* bytes/s, smoothed */
	double sample_t;
	uint64_t sample_done;
};

struct cli_progress {
	pthread_mutex_t lock;
	bool push, tty;
	int width;                  /* terminal columns */
	struct layer_line *layers;
	size_t n;
	size_t drawn;               /* layer lines currently on screen above the cursor */
	bool frozen;                /* the block is final (every layer ended) and stays as drawn */
	double last_draw;
	struct pull_progress cb;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static const char *state_name(const struct cli_progress *p, enum pull_layer_state st)
{
	switch (st) {
	case PULL_WAITING: return "Waiting";
	case PULL_EXISTS: return p->push ? "Layer already exists" : "Already exists";
	case PULL_DOWNLOADING: return p->push ? "Pushing" : "Downloading";
	case PULL_EXTRACTING: return "Extracting";
	case PULL_VERIFYING: return "Verifying";
	case PULL_DONE: return p->push ? "Pushed" : "Pull complete";
	case PULL_FAILED: return "Failed";
	}
	return "?";
}

static void render_layer(const struct cli_progress *p, const struct layer_line *l, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s: %s", l->id, state_name(p, l->st));
	bool moving = l->st == PULL_DOWNLOADING || (l->st == PULL_EXTRACTING && l->done > 0);
	if (!p->tty || !moving || n < 0 || (size_t) n >= len)
		return;
	char done[32], total[32], rate[32];
	cli_human_size((int64_t) l->done, 4, done, sizeof(done));
	if (l->total > 0) {
		char bar[BAR_WIDTH + 1];
		uint64_t filled = l->done >= (uint64_t) l->total ? BAR_WIDTH : l->done * BAR_WIDTH / (uint64_t) l->total;
		for (size_t i = 0; i < BAR_WIDTH; i++)
			bar[i] = i + 1 < filled ? '=' : i + 1 == filled ? '>' : ' ';
		bar[BAR_WIDTH] = '\0';
		cli_human_size(l->total, 4, total, sizeof(total));
		n += snprintf(buf + n, len - (size_t) n, "  [%s]  %s/%s", bar, done, total);
	} else {
		n += snprintf(buf + n, len - (size_t) n, "  %s", done);
	}
	if (l->rate > 0 && (size_t) n < len) {
		cli_human_size((int64_t) l->rate, 3, rate, sizeof(rate));
		snprintf(buf + n, len - (size_t) n, "  %s/s", rate);
	}
}

/* A push's finished layers are reported by the narrative; only uploads in flight are drawn. */
static bool visible(const struct cli_progress *p, const struct layer_line *l)
{
	return l->seen && (!p->push || l->st == PULL_DOWNLOADING);
}

/* Terminal mode: go back over the layer block, print `message` (if any) on
 * stdout where the block started, and draw the block again below it. */
static void redraw(struct cli_progress *p, const char *message)
{
	char line[512];
	size_t cols = p->width > 1 ? (size_t) p->width - 1 : sizeof(line) - 1;
	if (cols >= sizeof(line))
		cols = sizeof(line) - 1;
	if (p->drawn)
		fprintf(stderr, "\033[%zuA", p->drawn);
	size_t used = 0;            /* screen lines written from where the block started */
	if (message) {
		fprintf(stderr, "\r\033[2K");
		fflush(stderr);
		printf("%s\n", message);
		fflush(stdout);
		/* when stdout is not the terminal the block stays where it was */
		if (isatty(STDOUT_FILENO))
			used++;
	}
	size_t drawn = 0;
	for (size_t i = 0; i < p->n && !p->frozen; i++) {
		if (!visible(p, &p->layers[i]))
			continue;
		render_layer(p, &p->layers[i], line, sizeof(line));
		/* a wrapped line would break the cursor-up arithmetic */
		line[cols] = '\0';
		fprintf(stderr, "\r\033[2K%s\n", line);
		drawn++;
	}
	used += drawn;
	/* the block shrank: blank the lines left over below it */
	if (p->drawn > used) {
		for (size_t i = used; i < p->drawn; i++)
			fprintf(stderr, "\r\033[2K\n");
		fprintf(stderr, "\033[%zuA", p->drawn - used);
	}
	fflush(stderr);
	p->drawn = drawn;
	p->last_draw = now_s();
}

/* Every layer reached its end state: the block is final and later lines go below it. */
static bool block_done(const struct cli_progress *p)
{
	for (size_t i = 0; i < p->n; i++) {
		enum pull_layer_state st = p->layers[i].st;
		if (!p->layers[i].seen || (st != PULL_EXISTS && st != PULL_DONE && st != PULL_FAILED))
			return false;
	}
	return true;
}

static void on_message(void *ctx, const char *msg)
{
	struct cli_progress *p = ctx;
	pthread_mutex_lock(&p->lock);
	if (p->tty) {
		redraw(p, msg);
	} else {
		printf("%s\n", msg);
		fflush(stdout);
	}
	pthread_mutex_unlock(&p->lock);
}

static void on_layer(void *ctx, size_t idx, size_t n, const char *digest, enum pull_layer_state st,
		     uint64_t done, int64_t total)
{
	struct cli_progress *p = ctx;
	pthread_mutex_lock(&p->lock);
	if (n != p->n) {
		/* a new set of layers (another manifest): leave the old block on screen */
		struct layer_line *v = calloc(n ? n : 1, sizeof(*v));
		if (!v)
			goto out;
		free(p->layers);
		p->layers = v;
		p->n = n;
		p->drawn = 0;
		p->frozen = false;
	}
	if (idx >= p->n)
		goto out;
	struct layer_line *l = &p->layers[idx];
	if (!l->seen) {
		const char *hex = digest ? strchr(digest, ':') : NULL;
		snprintf(l->id, sizeof(l->id), "%.12s", hex ? hex + 1 : digest ? digest : "");
		l->seen = true;
	}
	bool changed = !l->printed || l->st != st;
	double t = now_s();
	if (l->st != st || done < l->sample_done) {
		l->sample_t = t;
		l->sample_done = done;
		l->rate = 0;
	} else if (t - l->sample_t >= RATE_WINDOW) {
		double inst = (double) (done - l->sample_done) / (t - l->sample_t);
		l->rate = l->rate > 0 ? 0.6 * l->rate + 0.4 * inst : inst;
		l->sample_t = t;
		l->sample_done = done;
	}
	l->st = st;
	l->done = done;
	l->total = total;
	if (p->tty) {
		l->printed = true;
		if (changed || (!p->frozen && t - p->last_draw >= REDRAW_INTERVAL))
			redraw(p, NULL);
		if (block_done(p)) {
			p->drawn = 0;
			p->frozen = true;
		}
	} else if (changed && !p->push) {
		l->printed = true;
		char line[256];
		render_layer(p, l, line, sizeof(line));
		fprintf(stderr, "%s\n", line);
		fflush(stderr);
	}
out:
	pthread_mutex_unlock(&p->lock);
}

int cli_progress_new(bool push, bool tty, struct cli_progress **out)
{
	struct cli_progress *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	p->push = push;
	p->tty = tty;
	struct winsize ws;
	p->width = tty && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 0;
	p->cb = (struct pull_progress) { .ctx = p, .message = on_message, .layer = on_layer };
	*out = p;
	return 0;
}

const struct pull_progress *cli_progress_callbacks(struct cli_progress *p) { return p ? &p->cb : NULL; }

void cli_progress_finish(struct cli_progress *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->tty && p->drawn)
		redraw(p, NULL);
	p->drawn = 0;
	pthread_mutex_unlock(&p->lock);
}

void cli_progress_free(struct cli_progress *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p->layers);
	free(p);
}

static inline void progress_freep(struct cli_progress **p) { cli_progress_free(*p); }

/* Flags pull and push share. */
enum { O_TLS = 1000, O_CREDS, O_PLATFORM };

struct registry_flags {
	bool tls_set, tls_verify;
	const char *creds;
	char *user, *pass;
};

static int registry_flag(struct cli *cli, struct registry_flags *f, int c)
{
	if (c == O_TLS) {
		f->tls_set = true;
		return cli_parse_bool("--tls-verify", optarg, &f->tls_verify, cli) < 0 ? CLI_EXIT_USAGE : 0;
	}
	f->creds = optarg;
	return 0;
}

static int registry_setup(struct cli *cli, struct registry_flags *f, struct registry_opts *o,
			  struct berth_error *err)
{
	registry_opts_init(o);
	o->tls_verify = f->tls_set ? f->tls_verify : cli->tls_verify;
	if (f->creds) {
		int r = cli_creds(f->creds, &f->user, &f->pass, err);
		if (r < 0)
			return r;
		o->username = f->user;
		o->password = f->pass;
	}
	return 0;
}

static void registry_flags_clear(struct registry_flags *f)
{
	free(f->user);
	if (f->pass) {
		explicit_bzero(f->pass, strlen(f->pass));
		free(f->pass);
	}
}

static inline void image_ref_clearp(struct image_ref *r) { image_ref_clear(r); }

int cmd_pull(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "platform", required_argument, NULL, O_PLATFORM },
		{ "quiet", no_argument, NULL, 'q' },
		{ "tls-verify", optional_argument, NULL, O_TLS },
		{ "creds", required_argument, NULL, O_CREDS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_(registry_flags_clear) struct registry_flags rf = { 0 };
	const char *platform = NULL;
	bool quiet = false;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "qh", opts)) != -1) {
		switch (c) {
		case O_PLATFORM: platform = optarg; break;
		case 'q': quiet = true; break;
		case O_TLS:
		case O_CREDS:
			if ((r = registry_flag(cli, &rf, c)))
				return r;
			break;
		default:
			return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_exact(cli, argc, 1)))
		return r;
	const char *name = argv[optind];

	struct berth_error err = { 0 };
	_cleanup_(image_ref_clearp) struct image_ref ref = { 0 };
	if (image_ref_parse(name, &ref, &err) < 0)
		return cli_fail(&err);
	struct pull_opts po = { .platform = platform };
	if (registry_setup(cli, &rf, &po.registry, &err) < 0)
		return cli_fail(&err);
	struct image_store *s;
	if (cli_store(cli, &s, &err) < 0)
		return cli_fail(&err);

	char old_id[BERTH_DIGEST_MAX] = "";
	if (image_store_resolve(s, name, old_id, NULL, NULL) < 0)
		old_id[0] = '\0';

	_cleanup_(progress_freep) struct cli_progress *prog = NULL;
	if (!quiet) {
		if (!cli_ref_explicit(name)) {
			printf("Using default tag: %s\n", ref.tag);
			fflush(stdout);
		}
		if (cli_progress_new(false, isatty(STDERR_FILENO), &prog) < 0)
			return cli_failf("out of memory");
		po.progress = cli_progress_callbacks(prog);
	}
	char id[BERTH_DIGEST_MAX];
	r = image_pull(s, name, &po, id, &err);
	cli_progress_finish(prog);
	if (r < 0)
		return cli_fail(&err);
	if (quiet) {
		printf("%s\n", id);
		return 0;
	}

	_cleanup_free_ char *familiar = image_ref_familiar(&ref), *full = image_ref_string(&ref);
	if (!familiar || !full)
		return cli_failf("out of memory");
	printf("Status: %s for %s\n", strcmp(old_id, id) ? "Downloaded newer image" : "Image is up to date", familiar);
	printf("%s\n", full);
	return 0;
}

int cmd_push(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "tls-verify", optional_argument, NULL, O_TLS },
		{ "creds", required_argument, NULL, O_CREDS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_(registry_flags_clear) struct registry_flags rf = { 0 };
	bool quiet = false;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "qh", opts)) != -1) {
		switch (c) {
		case 'q': quiet = true; break;
		case O_TLS:
		case O_CREDS:
			if ((r = registry_flag(cli, &rf, c)))
				return r;
			break;
		default:
			return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_range(cli, argc, 1, 2)))
		return r;
	const char *src = argv[optind], *dest = optind + 1 < argc ? argv[optind + 1] : NULL;

	struct berth_error err = { 0 };
	struct push_opts po = { 0 };
	if (registry_setup(cli, &rf, &po.registry, &err) < 0)
		return cli_fail(&err);
	struct image_store *s;
	if (cli_store(cli, &s, &err) < 0)
		return cli_fail(&err);
	if (!dest) {
		/* Pushed under its own name: an ID (or ID prefix) names no repository. */
		char id[BERTH_DIGEST_MAX];
		_cleanup_free_ char *name = NULL;
		if (image_store_resolve(s, src, id, &name, &err) < 0)
			return cli_fail(&err);
		if (!name)
			return cli_failf("%s is an image ID, not a name: give the destination (berth push %s REPOSITORY[:TAG])",
					 src, src);
	}

	_cleanup_(progress_freep) struct cli_progress *prog = NULL;
	if (!quiet) {
		if (cli_progress_new(true, isatty(STDERR_FILENO), &prog) < 0)
			return cli_failf("out of memory");
		po.progress = cli_progress_callbacks(prog);
	}
	char digest[BERTH_DIGEST_MAX];
	r = image_push(s, src, dest, &po, digest, &err);
	cli_progress_finish(prog);
	if (r < 0)
		return cli_fail(&err);
	if (quiet)
		printf("%s\n", digest);
	return 0;
}
