/* images / image ls, tag, rmi / image rm, image inspect, image prune. */
#include "cli.h"
#include "core/cleanup.h"
#include "image/reference.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct listed {
	char id[BERTH_DIGEST_MAX];
	char *created;
	time_t created_t;               /* for sorting; `added` when created is unknown */
	int64_t size;
	size_t order;                   /* position in the store's walk (newest added first) */
};

struct listing {
	struct listed *v;
	size_t n, cap;
};

static int collect(void *ctx, const struct db_image *im)
{
	struct listing *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct listed *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	struct listed *e = &l->v[l->n];
	*e = (struct listed) { .size = im->size, .order = l->n };
	snprintf(e->id, sizeof(e->id), "%s", im->id);
	if (im->created && !(e->created = strdup(im->created)))
		return -ENOMEM;
	if (cli_parse_time(e->created, &e->created_t) < 0)
		e->created_t = (time_t) im->added;
	l->n++;
	return 0;
}

static void listing_clear(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].created);
	free(l->v);
}

/* Newest first, as docker sorts by creation time; the store's order breaks ties. */
static int by_created(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;
	if (x->created_t != y->created_t)
		return x->created_t > y->created_t ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

struct filters {
	int dangling;                   /* -1 any, 0 only tagged, 1 only untagged */
	char **refs;                    /* reference=PATTERN, any may match */
	size_t n_refs;
	/* REPOSITORY[:TAG] argument without glob characters: exact match on the normalised name */
	struct image_ref arg;
	bool has_arg, arg_tag;
};

static bool has_glob(const char *s) { return strpbrk(s, "*?[") != NULL; }

static bool ref_pattern_match(const char *pat, const char *familiar_repo, const char *tag)
{
	char full[1024];
	snprintf(full, sizeof(full), "%s:%s", familiar_repo, tag);
	return fnmatch(pat, full, FNM_PATHNAME) == 0 || fnmatch(pat, familiar_repo, FNM_PATHNAME) == 0;
}

/* full_name: the stored name ("docker.io/library/busybox:latest"), NULL for a <none> row. */
static bool row_matches(const struct filters *f, const char *full_name, const char *repo, const char *tag)
{
	if (f->n_refs) {
		bool any = false;
		for (size_t i = 0; i < f->n_refs && !any && full_name; i++)
			any = ref_pattern_match(f->refs[i], repo, tag);
		if (!any)
			return false;
	}
	if (f->has_arg) {
		if (!full_name)
			return false;
		struct image_ref r = { 0 };
		struct berth_error e = { 0 };
		if (image_ref_parse(full_name, &r, &e) < 0)
			return false;
		bool ok = !strcmp(r.domain, f->arg.domain) && !strcmp(r.path, f->arg.path) &&
			  (!f->arg_tag || (r.tag && f->arg.tag && !strcmp(r.tag, f->arg.tag)));
		image_ref_clear(&r);
		return ok;
	}
	return true;
}

static int parse_filter(struct cli *cli, struct filters *f, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq)
		return cli_usage_error(cli, "bad format of filter \"%s\" (expected name=value)", arg);
	size_t klen = (size_t) (eq - arg);
	const char *val = eq + 1;
	if (klen == 8 && !strncmp(arg, "dangling", 8)) {
		bool b;
		if (cli_parse_bool("--filter dangling", val, &b, cli) < 0)
			return CLI_EXIT_USAGE;
		if (f->dangling >= 0 && f->dangling != (int) b)
			return cli_usage_error(cli, "conflicting filters: dangling=true and dangling=false");
		f->dangling = b;
		return 0;
	}
	if (klen == 9 && !strncmp(arg, "reference", 9)) {
		if (!*val)
			return cli_usage_error(cli, "filter reference=: empty pattern");
		char **refs = realloc(f->refs, (f->n_refs + 1) * sizeof(*refs));
		if (!refs)
			return cli_failf("out of memory");
		f->refs = refs;
		f->refs[f->n_refs++] = (char *) val;
		return 0;
	}
	return cli_usage_error(cli, "invalid filter '%.*s' (supported: dangling, reference)", (int) klen, arg);
}

struct images_out {
	bool quiet, digests, no_trunc, json;
	struct cli_table table;
	char **seen;                    /* -q: IDs printed so far */
	size_t n_seen;
};

static int emit_row(struct images_out *o, const struct listed *im, const char *repo, const char *tag,
		    const char *digest, time_t now)
{
	char id[BERTH_DIGEST_MAX];
	if (o->no_trunc)
		snprintf(id, sizeof(id), "%s", im->id);
	else
		snprintf(id, sizeof(id), "%.12s", berth_digest_hex(im->id));
	if (o->quiet) {
		for (size_t i = 0; i < o->n_seen; i++)
			if (!strcmp(o->seen[i], im->id))
				return 0;
		char **seen = realloc(o->seen, (o->n_seen + 1) * sizeof(*seen));
		if (!seen)
			return -ENOMEM;
		o->seen = seen;
		o->seen[o->n_seen++] = (char *) im->id;
		printf("%s\n", id);
		return 0;
	}
	char size[32], since[64];
	cli_human_size(im->size, 3, size, sizeof(size));
	cli_since(im->created, now, since, sizeof(since));
	if (o->json) {
		char at[80];
		cli_created_at(im->created, at, sizeof(at));
		_cleanup_json_t_ json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
			"Containers", "N/A", "CreatedAt", at, "CreatedSince", since, "Digest", digest ? digest : "<none>",
			"ID", id, "Repository", repo, "SharedSize", "N/A", "Size", size, "Tag", tag,
			"UniqueSize", "N/A", "VirtualSize", size);
		if (!j)
			return -ENOMEM;
		json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		return 0;
	}
	if (o->digests) {
		const char *row[] = { repo, tag, digest ? digest : "<none>", id, since, size };
		return cli_table_add(&o->table, row);
	}
	const char *row[] = { repo, tag, id, since, size };
	return cli_table_add(&o->table, row);
}

/* The manifest digest a repo digest list holds for `full_repo` ("docker.io/library/busybox"). */
static const char *digest_for_repo(char **repo_digests, const char *full_repo)
{
	size_t n = strlen(full_repo);
	for (char **p = repo_digests; p && *p; p++)
		if (!strncmp(*p, full_repo, n) && (*p)[n] == '@')
			return *p + n + 1;
	return NULL;
}

static int list_image(struct image_store *s, struct images_out *o, const struct filters *f,
		      const struct listed *im, time_t now)
{
	_cleanup_strv_ char **names = NULL, **repo_digests = NULL;
	int n = db_names_of(s->db, im->id, &names);
	if (n < 0)
		return n;
	int nd = db_repo_digests_of(s->db, im->id, &repo_digests);
	if (nd < 0)
		return nd;
	bool dangling = n == 0;
	if (f->dangling >= 0 && f->dangling != (int) dangling)
		return 0;
	for (char **p = names; p && *p; p++) {
		_cleanup_free_ char *fam = image_name_familiar(*p), *repo = NULL, *tag = NULL;
		if (!fam || cli_split_name(fam, &repo, &tag) < 0)
			return -ENOMEM;
		if (!row_matches(f, *p, repo, tag))
			continue;
		/* the digest column shows the digest of the name's own repository */
		_cleanup_free_ char *full_repo = NULL;
		struct image_ref r = { 0 };
		if (image_ref_parse(*p, &r, NULL) == 0) {
			full_repo = image_ref_repo(&r);
			image_ref_clear(&r);
		}
		int rr = emit_row(o, im, repo, tag, full_repo ? digest_for_repo(repo_digests, full_repo) : NULL, now);
		if (rr < 0)
			return rr;
	}
	if (!dangling)
		return 0;
	if (f->n_refs || f->has_arg)
		return 0;
	/* Untagged but pulled by digest: docker shows the repository with tag <none>. */
	bool shown = false;
	for (char **p = repo_digests; p && *p; p++) {
		struct image_ref r = { 0 };
		if (image_ref_parse(*p, &r, NULL) < 0)
			continue;
		_cleanup_free_ char *repo = image_ref_familiar_repo(&r);
		int rr = repo ? emit_row(o, im, repo, "<none>", r.digest, now) : -ENOMEM;
		image_ref_clear(&r);
		if (rr < 0)
			return rr;
		shown = true;
	}
	return shown ? 0 : emit_row(o, im, "<none>", "<none>", NULL, now);
}

int cmd_images(struct cli *cli, int argc, char **argv)
{
	enum { O_DIGESTS = 1000, O_FORMAT, O_NO_TRUNC };
	static const struct option opts[] = {
		{ "digests", no_argument, NULL, O_DIGESTS },
		{ "filter", required_argument, NULL, 'f' },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "no-trunc", no_argument, NULL, O_NO_TRUNC },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct images_out o = { 0 };
	struct filters f = { .dangling = -1 };
	const char *format = "table";
	int c, ret = 0;
	while ((c = cli_getopt(cli, argc, argv, "f:qh", opts)) != -1) {
		switch (c) {
		case O_DIGESTS: o.digests = true; break;
		case O_FORMAT: format = optarg; break;
		case O_NO_TRUNC: o.no_trunc = true; break;
		case 'q': o.quiet = true; break;
		case 'f':
			if ((ret = parse_filter(cli, &f, optarg)))
				goto out;
			break;
		default:
			ret = cli_opt_exit(c);
			goto out;
		}
	}
	if (!strcmp(format, "json"))
		o.json = true;
	else if (strcmp(format, "table")) {
		ret = cli_usage_error(cli, "--format %s: must be table or json", format);
		goto out;
	}
	if ((ret = cli_args_range(cli, argc, 0, 1)))
		goto out;
	if (optind < argc) {
		const char *arg = argv[optind];
		if (has_glob(arg)) {
			char **refs = realloc(f.refs, (f.n_refs + 1) * sizeof(*refs));
			if (!refs) {
				ret = cli_failf("out of memory");
				goto out;
			}
			f.refs = refs;
			f.refs[f.n_refs++] = (char *) arg;
		} else {
			struct berth_error err = { 0 };
			if (image_ref_parse(arg, &f.arg, &err) < 0) {
				ret = cli_fail(&err);
				goto out;
			}
			f.has_arg = true;
			f.arg_tag = cli_ref_explicit(arg);
		}
	}

	struct berth_error err = { 0 };
	struct image_store *s;
	if (cli_store(cli, &s, &err) < 0) {
		ret = cli_fail(&err);
		goto out;
	}
	struct listing l = { 0 };
	int r = image_store_walk(s, collect, &l);
	if (r < 0) {
		listing_clear(&l);
		berth_errno(&err, r, "listing images in %s", s->root);
		ret = cli_fail(&err);
		goto out;
	}
	qsort(l.v, l.n, sizeof(*l.v), by_created);

	if (o.digests) {
		const char *hdr[] = { "REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE" };
		r = cli_table_init(&o.table, 6, hdr);
	} else {
		const char *hdr[] = { "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE" };
		r = cli_table_init(&o.table, 5, hdr);
	}
	time_t now = time(NULL);
	for (size_t i = 0; i < l.n && r >= 0; i++) {
		r = list_image(s, &o, &f, &l.v[i], now);
		if (r < 0)
			berth_errno(&err, r, "listing image %s", l.v[i].id);
	}
	if (r < 0)
		ret = cli_fail(&err);
	else if (!o.quiet && !o.json)
		cli_table_print(&o.table, stdout);
	/* o.seen points into l: free l only after the last row */
	listing_clear(&l);
out:
	cli_table_clear(&o.table);
	free(o.seen);
	free(f.refs);
	if (f.has_arg)
		image_ref_clear(&f.arg);
	return ret;
}

int cmd_tag(struct cli *cli, int argc, char **argv)
{
	int c;
	while ((c = cli_getopt(cli, argc, argv, "h", cli_help_only)) != -1)
		return cli_opt_exit(c);
	int r = cli_args_exact(cli, argc, 2);
	if (r)
		return r;
	struct berth_error err = { 0 };
	struct image_store *s;
	if (cli_store(cli, &s, &err) < 0 || image_store_tag(s, argv[optind], argv[optind + 1], &err) < 0)
		return cli_fail(&err);
	return 0;
}

/* "No such image: x" for names and IDs that resolve to nothing, docker's wording. */
static int resolve(struct image_store *s, const char *ref, char id[BERTH_DIGEST_MAX], struct berth_error *err)
{
	struct berth_error e = { 0 };
	int r = image_store_resolve(s, ref, id, NULL, &e);
	if (r == -ENOENT)
		return berth_err(err, ENOENT, "No such image: %s", ref);
	if (r < 0)
		*err = e;
	return r;
}

int cmd_rmi(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool force = false;
	int c;
	while ((c = cli_getopt(cli, argc, argv, "fh", opts)) != -1) {
		if (c == 'f')
			force = true;
		else
			return cli_opt_exit(c);
	}
	int r = cli_args_min(cli, argc, 1);
	if (r)
		return r;
	struct berth_error err = { 0 };
	struct image_store *s;
	if (cli_store(cli, &s, &err) < 0)
		return cli_fail(&err);
	int ret = 0;
	for (int i = optind; i < argc; i++) {
		char id[BERTH_DIGEST_MAX];
		_cleanup_strv_ char **report = NULL;
		berth_error_clear(&err);
		if (resolve(s, argv[i], id, &err) < 0 || image_store_remove(s, argv[i], force, &report, &err) < 0) {
			/* lines for what was done before the failure still describe the store */
			for (char **p = report; p && *p; p++)
				printf("%s\n", *p);
			fflush(stdout);
			ret = cli_fail(&err);
			continue;
		}
		for (char **p = report; p && *p; p++)
			printf("%s\n", *p);
	}
	return ret;
}

int cmd_image_inspect(struct cli *cli, int argc, char **argv)
{
	int c;
	while ((c = cli_getopt(cli, argc, argv, "h", cli_help_only)) != -1)
		return cli_opt_exit(c);
	int r = cli_args_min(cli, argc, 1);
	if (r)
		return r;
	struct berth_error err = { 0 };
	struct image_store *s;
	if (cli_store(cli, &s, &err) < 0)
		return cli_fail(&err);
	_cleanup_json_t_ json_t *arr = json_array();
	if (!arr)
		return cli_failf("out of memory");
	size_t n_errs = 0;
	/* on the heap: each is 1 KiB, and xargs may pass thousands of names */
	_cleanup_free_ struct berth_error *errs = calloc((size_t) (argc - optind), sizeof(*errs));
	if (!errs)
		return cli_failf("out of memory");
	for (int i = optind; i < argc; i++) {
		char id[BERTH_DIGEST_MAX];
		struct berth_error *e = &errs[n_errs];
		berth_error_clear(e);
		if (resolve(s, argv[i], id, e) < 0) {
			n_errs++;
			continue;
		}
		json_t *j = image_store_inspect(s, id, e);
		if (!j) {
			if (!berth_error_isset(e))
				berth_err(e, ENOMEM, "inspecting %s: out of memory", argv[i]);
			n_errs++;
			continue;
		}
		if (json_array_append_new(arr, j) < 0)
			return cli_failf("out of memory");
	}
	/* docker prints what it found, then one error line per name it did not */
	return cli_inspect_done(arr, errs, n_errs);
}

int cmd_image_prune(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool all = false, force = false;
	int c;
	while ((c = cli_getopt(cli, argc, argv, "afh", opts)) != -1) {
		if (c == 'a')
			all = true;
		else if (c == 'f')
			force = true;
		else
			return cli_opt_exit(c);
	}
	int r = cli_args_exact(cli, argc, 0);
	if (r)
		return r;
	if (!force) {
		if (!isatty(STDIN_FILENO))
			return cli_failf("image prune asks for confirmation, and stdin is not a terminal: "
					 "use -f/--force to prune without asking");
		fprintf(stderr, "WARNING! This will remove all %s.\n",
			all ? "images without at least one container associated to them" : "dangling images");
		if (!cli_confirm("Are you sure you want to continue?"))
			return 0;
	}
	struct berth_error err = { 0 };
	struct image_store *s;
	if (cli_store(cli, &s, &err) < 0)
		return cli_fail(&err);
	_cleanup_strv_ char **report = NULL;
	int64_t reclaimed = 0;
	r = image_store_prune(s, all, &report, &reclaimed, &err);
	if (report && *report) {
		printf("Deleted Images:\n");
		for (char **p = report; *p; p++)
			printf("%s\n", *p);
		printf("\n");
	}
	if (r < 0)
		return cli_fail(&err);
	char size[32];
	cli_human_size(reclaimed, 4, size, sizeof(size));
	printf("Total reclaimed space: %s\n", size);
	return 0;
}
