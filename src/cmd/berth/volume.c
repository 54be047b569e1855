/* volume create / ls / inspect / rm / prune: docker's local volumes, kept
 * under the store root by engine/volumes. */
#include "cli.h"
#include "core/cleanup.h"
#include "engine/engine.h"
#include "engine/volumes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct vol_ctx {
	struct engine *e;
	struct volume_store *vs;
};

static void vol_ctx_clear(struct vol_ctx *v)
{
	if (v->vs)
		volume_store_close(v->vs);
	if (v->e)
		engine_close(v->e);
}

static int vol_open(struct cli *cli, struct vol_ctx *v, struct berth_error *err)
{
	/* the engine opens the store (and creates <root>/volumes); volumes share its db */
	int r = engine_open(cli->root, &v->e, err);
	if (r < 0)
		return r;
	return volume_store_open(v->e->root, v->e->images->db, &v->vs, err);
}


int cmd_volume_create(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "driver", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_json_t_ json_t *labels = json_object();
	if (!labels)
		return cli_failf("out of memory");
	const char *name = NULL;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "l:d:h", opts)) != -1) {
		switch (c) {
		case 'l': {
			const char *eq = strchr(optarg, '=');
			if (!*optarg || eq == optarg)
				return cli_usage_error(cli, "invalid argument \"%s\" for \"--label\" flag: empty name", optarg);
			_cleanup_free_ char *k = eq ? strndup(optarg, (size_t) (eq - optarg)) : strdup(optarg);
			if (!k || json_object_set_new(labels, k, json_string(eq ? eq + 1 : "")) < 0)
				return cli_failf("out of memory");
			break;
		}
		case 'd':
			if (strcmp(optarg, "local"))
				return cli_failf("volume driver %s is not supported: berth has the local driver only", optarg);
			break;
		case 'n': name = optarg; break;
		default:
			return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_range(cli, argc, 0, 1)))
		return r;
	if (optind < argc) {
		if (name && strcmp(name, argv[optind]))
			return cli_usage_error(cli, "conflicting options: either specify --name or provide positional arg, "
					       "not both");
		name = argv[optind];
	}
	struct berth_error err = { 0 };
	_cleanup_(vol_ctx_clear) struct vol_ctx v = { 0 };
	_cleanup_free_ char *out = NULL;
	if (vol_open(cli, &v, &err) < 0 ||
	    volume_create(v.vs, name, json_object_size(labels) ? labels : NULL, &out, &err) < 0)
		return cli_fail(&err);
	printf("%s\n", out ? out : name);
	return 0;
}

static bool vol_label_match(json_t *labels, const char *want)
{
	const char *eq = strchr(want, '=');
	size_t klen = eq ? (size_t) (eq - want) : strlen(want);
	const char *key;
	json_t *val;
	json_object_foreach(labels, key, val) {
		if (strlen(key) != klen || strncmp(key, want, klen))
			continue;
		const char *s = json_string_value(val);
		return !eq || (s && !strcmp(s, eq + 1));
	}
	return false;
}

int cmd_volume_ls(struct cli *cli, int argc, char **argv)
{
	enum { O_FORMAT = 1000 };
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "filter", required_argument, NULL, 'f' },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool quiet = false, json = false;
	int dangling = -1;
	const char *names[16], *labels[16];
	size_t n_names = 0, n_labels = 0;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "qf:h", opts)) != -1) {
		switch (c) {
		case 'q': quiet = true; break;
		case O_FORMAT:
			if ((r = cli_parse_format(cli, optarg, &json)))
				return r;
			break;
		case 'f': {
			const char *eq = strchr(optarg, '=');
			if (!eq)
				return cli_usage_error(cli, "bad format of filter \"%s\" (expected name=value)", optarg);
			if (!strncmp(optarg, "dangling=", 9)) {
				bool b;
				if (cli_parse_bool("--filter dangling", eq + 1, &b, cli) < 0)
					return CLI_EXIT_USAGE;
				dangling = b;
			} else if (!strncmp(optarg, "name=", 5) && n_names < ARRAY_SIZE(names)) {
				names[n_names++] = eq + 1;
			} else if (!strncmp(optarg, "label=", 6) && n_labels < ARRAY_SIZE(labels)) {
				labels[n_labels++] = eq + 1;
			} else if (!strncmp(optarg, "driver=", 7)) {
				if (strcmp(eq + 1, "local"))
					dangling = 2;   /* matches nothing: every volume is local */
			} else {
				return cli_usage_error(cli, "invalid filter '%.*s' (supported: dangling, name, label, driver)",
						       (int) (eq - optarg), optarg);
			}
			break;
		}
		default:
			return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_exact(cli, argc, 0)))
		return r;
	struct berth_error err = { 0 };
	_cleanup_(vol_ctx_clear) struct vol_ctx v = { 0 };
	_cleanup_json_t_ json_t *list = NULL;
	if (vol_open(cli, &v, &err) < 0 || volume_list(v.vs, &list, &err) < 0)
		return cli_fail(&err);
	struct cli_table t;
	static const char *const hdr[] = { "DRIVER", "VOLUME NAME" };
	if (cli_table_init(&t, 2, hdr) < 0)
		return cli_failf("out of memory");
	size_t i;
	json_t *vol;
	json_array_foreach(list, i, vol) {
		const char *name = json_string_value(json_object_get(vol, "Name"));
		const char *driver = json_string_value(json_object_get(vol, "Driver"));
		if (!name)
			continue;
		if (dangling == 2)
			continue;
		if (dangling >= 0 && (volume_in_use(v.vs, name) == 1) == (dangling == 1))
			continue;
		bool ok = n_names == 0;
		for (size_t k = 0; k < n_names && !ok; k++)
			ok = strstr(name, names[k]) != NULL;
		for (size_t k = 0; k < n_labels && ok; k++)
			ok = vol_label_match(json_object_get(vol, "Labels"), labels[k]);
		if (!ok)
			continue;
		if (quiet) {
			printf("%s\n", name);
		} else if (json) {
			json_dumpf(vol, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
			fputc('\n', stdout);
		} else {
			const char *row[] = { driver ? driver : "local", name };
			if (cli_table_add(&t, row) < 0) {
				cli_table_clear(&t);
				return cli_failf("out of memory");
			}
		}
	}
	if (!quiet && !json)
		cli_table_print(&t, stdout);
	cli_table_clear(&t);
	return 0;
}

int cmd_volume_inspect(struct cli *cli, int argc, char **argv)
{
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "h", cli_help_only)) != -1)
		return cli_opt_exit(c);
	if ((r = cli_args_min(cli, argc, 1)))
		return r;
	struct berth_error err = { 0 };
	_cleanup_(vol_ctx_clear) struct vol_ctx v = { 0 };
	if (vol_open(cli, &v, &err) < 0)
		return cli_fail(&err);
	_cleanup_json_t_ json_t *arr = json_array();
	struct berth_error *errs = calloc((size_t) (argc - optind), sizeof(*errs));
	if (!arr || !errs) {
		free(errs);
		return cli_failf("out of memory");
	}
	size_t n_errs = 0;
	for (int i = optind; i < argc; i++) {
		json_t *j = volume_inspect(v.vs, argv[i], &errs[n_errs]);
		if (!j) {
			if (!berth_error_isset(&errs[n_errs]))
				berth_err(&errs[n_errs], ENOENT, "No such volume: %s", argv[i]);
			n_errs++;
			continue;
		}
		json_array_append_new(arr, j);
	}
	r = cli_inspect_done(arr, errs, n_errs);
	free(errs);
	return r;
}

int cmd_volume_rm(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool force = false;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "fh", opts)) != -1) {
		if (c == 'f')
			force = true;
		else
			return cli_opt_exit(c);
	}
	if ((r = cli_args_min(cli, argc, 1)))
		return r;
	struct berth_error err = { 0 };
	_cleanup_(vol_ctx_clear) struct vol_ctx v = { 0 };
	if (vol_open(cli, &v, &err) < 0)
		return cli_fail(&err);
	int ret = 0;
	for (int i = optind; i < argc; i++) {
		berth_error_clear(&err);
		if (volume_remove(v.vs, argv[i], force, &err) < 0) {
			cli_fail(&err);
			ret = CLI_EXIT_FAIL;
			continue;
		}
		printf("%s\n", argv[i]);
		fflush(stdout);
	}
	return ret;
}

/* Bytes in regular files and symlinks below dirfd (not crossing into other mounts). */
static int64_t du_at(int fd, dev_t dev, int depth)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	int64_t total = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
			continue;
		if (S_ISDIR(st.st_mode) && depth < 256) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				total += du_at(sub, dev, depth + 1);
		} else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
			total += st.st_size;
		}
	}
	closedir(d);
	return total;
}

static int64_t dir_size(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return 0;
	}
	return du_at(fd, st.st_dev, 0);
}

int cmd_volume_prune(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool all = false, force = false;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "afh", opts)) != -1) {
		if (c == 'a')
			all = true;
		else if (c == 'f')
			force = true;
		else
			return cli_opt_exit(c);
	}
	if ((r = cli_args_exact(cli, argc, 0)))
		return r;
	if (!force && !cli_confirm(all ? "WARNING! This will remove all local volumes not used by at least one "
					 "container.\nAre you sure you want to continue?"
				       : "WARNING! This will remove anonymous local volumes not used by at least one "
					 "container.\nAre you sure you want to continue?"))
		return 0;
	struct berth_error err = { 0 };
	_cleanup_(vol_ctx_clear) struct vol_ctx v = { 0 };
	if (vol_open(cli, &v, &err) < 0)
		return cli_fail(&err);
	int64_t reclaimed = 0;
	_cleanup_strv_ char **removed = NULL;
	size_t n_removed = 0;
	if (all) {
		if (volume_prune(v.vs, &removed, &reclaimed, &err) < 0)
			return cli_fail(&err);
		while (removed && removed[n_removed])
			n_removed++;
	} else {
		/* docker's default: only anonymous volumes */
		_cleanup_json_t_ json_t *list = NULL;
		if (volume_list(v.vs, &list, &err) < 0)
			return cli_fail(&err);
		size_t i;
		json_t *vol;
		json_array_foreach(list, i, vol) {
			const char *name = json_string_value(json_object_get(vol, "Name"));
			if (!name || !json_object_get(json_object_get(vol, "Labels"), VOLUME_ANON_LABEL) ||
			    volume_in_use(v.vs, name) != 0)
				continue;
			char path[4096];
			int64_t size = volume_path(v.vs, name, path, sizeof(path)) == 0 ? dir_size(path) : 0;
			berth_error_clear(&err);
			if (volume_remove(v.vs, name, false, &err) < 0) {
				if (err.code != EBUSY)   /* taken by a container meanwhile: not unused after all */
					cli_fail(&err);
				continue;
			}
			char **nv = realloc(removed, (n_removed + 2) * sizeof(*nv));
			if (!nv)
				return cli_failf("out of memory");
			removed = nv;
			removed[n_removed] = strdup(name);
			removed[++n_removed] = NULL;
			reclaimed += size;
		}
	}
	if (n_removed) {
		printf("Deleted Volumes:\n");
		for (size_t i = 0; i < n_removed; i++)
			printf("%s\n", removed[i] ? removed[i] : "");
		printf("\n");
	}
	char sz[32];
	cli_human_size(reclaimed, 3, sz, sizeof(sz));
	printf("Total reclaimed space: %s\n", sz);
	return 0;
}
