/* Reporting and housekeeping commands: top, stats, rename, port,
 * container prune, system df, system prune, info.
 *
 * Output follows docker's CLI: tables through cli_table, sizes in docker's
 * units (decimal for disk and I/O, binary for memory), prompts on stderr
 * unless -f.  Library work lives in engine/extra.h.
 */
#include "cli.h"
#include "core/cleanup.h"
#include "engine/engine.h"
#include "engine/extra.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline void engine_closep(struct engine **e) { engine_close(*e); }


static int no_flags(struct cli *cli, int argc, char **argv)
{
	int c;
	while ((c = cli_getopt(cli, argc, argv, "h", cli_help_only)) != -1)
		return cli_opt_exit(c);
	return -1;
}

/* docker's units.BytesSize: binary units, 4 significant digits ("1.234MiB"). */
static void bytes_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double) bytes;
	size_t i = 0;
	while (v >= 1024.0 && i + 1 < ARRAY_SIZE(units)) {
		v /= 1024.0;
		i++;
	}
	snprintf(buf, len, "%.4g%s", v, units[i]);
}

/* ------------------------------------------------------------ top */

int cmd_top(struct cli *cli, int argc, char **argv)
{
	/* Flags end at the container: what follows goes to ps(1). */
	int c = cli_getopt_stop(cli, argc, argv, "h", cli_help_only);
	if (c != -1)
		return cli_opt_exit(c);
	int r = cli_args_min(cli, argc, 1);
	if (r)
		return r;
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	char id[CTR_ID_LEN + 1];
	if (engine_open(cli->root, &e, &err) < 0 || engine_resolve(e, argv[optind], id, &err) < 0)
		return cli_fail(&err);
	_cleanup_json_t_ json_t *top = engine_top(e, id, argv + optind + 1, &err);
	if (!top)
		return cli_fail(&err);
	json_t *titles = json_object_get(top, "Titles"), *procs = json_object_get(top, "Processes");
	size_t ncol = json_array_size(titles);
	const char **cells = calloc(ncol ? ncol : 1, sizeof(char *));
	if (!cells)
		return cli_failf("out of memory");
	struct cli_table t;
	for (size_t i = 0; i < ncol; i++)
		cells[i] = json_string_value(json_array_get(titles, i));
	if (cli_table_init(&t, ncol, cells) < 0) {
		free(cells);
		return cli_failf("out of memory");
	}
	size_t i;
	json_t *row;
	json_array_foreach(procs, i, row) {
		for (size_t k = 0; k < ncol; k++) {
			const char *v = json_string_value(json_array_get(row, k));
			cells[k] = v ? v : "";
		}
		cli_table_add(&t, cells);
	}
	cli_table_print(&t, stdout);
	cli_table_clear(&t);
	free(cells);
	return 0;
}

/* ------------------------------------------------------------ stats */

#define STATS_SAMPLE_MS 250

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

struct stats_set {
	char **ids;
	size_t n;
	struct ctr_stats *prev, *cur;
};

static void stats_set_clear(struct stats_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->ids[i]);
	free(s->ids);
	free(s->prev);
	free(s->cur);
	memset(s, 0, sizeof(*s));
}

static int stats_add_id(struct stats_set *s, const char *id)
{
	char **v = realloc(s->ids, (s->n + 1) * sizeof(char *));
	if (!v)
		return -ENOMEM;
	s->ids = v;
	if (!(v[s->n] = strdup(id)))
		return -ENOMEM;
	s->n++;
	return 0;
}

struct running_ctx { struct stats_set *s; bool all; };

static int stats_collect(void *ctx, const struct ctr_summary *sum)
{
	struct running_ctx *rc = ctx;
	return stats_add_id(rc->s, sum->id);
}

static int stats_sample_all(struct engine *e, struct stats_set *s, struct ctr_stats *into)
{
	for (size_t i = 0; i < s->n; i++) {
		struct berth_error err = { 0 };
		if (engine_stats_sample(e, s->ids[i], &into[i], &err) < 0) {
			/* removed meanwhile: a zero row keeps the table stable */
			memset(&into[i], 0, sizeof(into[i]));
			snprintf(into[i].id, sizeof(into[i].id), "%s", s->ids[i]);
		}
	}
	return 0;
}

static void stats_print(struct stats_set *s, bool json, bool clear)
{
	static const char *const hdr[] = { "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O",
					   "BLOCK I/O", "PIDS" };
	struct cli_table t;
	if (!json && cli_table_init(&t, ARRAY_SIZE(hdr), hdr) < 0)
		return;
	for (size_t i = 0; i < s->n; i++) {
		const struct ctr_stats *p = &s->prev[i], *c = &s->cur[i];
		char id[13], cpu[32], mu[32], ml[32], mem[80], memp[32], nrx[32], ntx[32], net[80], br[32], bw[32],
			blk[80], pids[32];
		snprintf(id, sizeof(id), "%.12s", c->id);
		snprintf(cpu, sizeof(cpu), "%.2f%%", engine_stats_cpu_percent(p, c));
		bytes_size(c->mem_usage, mu, sizeof(mu));
		bytes_size(c->mem_limit, ml, sizeof(ml));
		snprintf(mem, sizeof(mem), "%s / %s", mu, ml);
		snprintf(memp, sizeof(memp), "%.2f%%", engine_stats_mem_percent(c));
		cli_human_size((int64_t) c->net_rx, 3, nrx, sizeof(nrx));
		cli_human_size((int64_t) c->net_tx, 3, ntx, sizeof(ntx));
		snprintf(net, sizeof(net), "%s / %s", nrx, ntx);
		cli_human_size((int64_t) c->blk_read, 3, br, sizeof(br));
		cli_human_size((int64_t) c->blk_write, 3, bw, sizeof(bw));
		snprintf(blk, sizeof(blk), "%s / %s", br, bw);
		snprintf(pids, sizeof(pids), "%llu", (unsigned long long) c->pids);
		if (json) {
			json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "BlockIO", blk, "CPUPerc",
					      cpu, "Container", id, "ID", id, "MemPerc", memp, "MemUsage", mem, "Name",
					      c->name, "NetIO", net, "PIDs", pids);
			if (o) {
				char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
				if (text)
					printf("%s\n", text);
				free(text);
				json_decref(o);
			}
		} else {
			const char *row[] = { id, c->name[0] ? c->name : "--", cpu, mem, memp, net, blk, pids };
			cli_table_add(&t, row);
		}
	}
	if (!json) {
		if (clear)
			fputs("\033[2J\033[H", stdout);
		cli_table_print(&t, stdout);
		cli_table_clear(&t);
	}
	fflush(stdout);
}

int cmd_stats(struct cli *cli, int argc, char **argv)
{
	enum { O_NO_STREAM = 1000, O_NO_TRUNC };
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "no-stream", no_argument, NULL, O_NO_STREAM },
		{ "no-trunc", no_argument, NULL, O_NO_TRUNC },
		{ "format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool all = false, no_stream = false, json = false;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "ah", opts)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case O_NO_STREAM: no_stream = true; break;
		case O_NO_TRUNC: break;   /* IDs are shown as docker does; nothing else is truncated */
		case 'F':
			if ((r = cli_parse_format(cli, optarg, &json)))
				return r;
			break;
		default: return cli_opt_exit(c);
		}
	}
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	if (engine_open(cli->root, &e, &err) < 0)
		return cli_fail(&err);
	struct stats_set s = { 0 };
	int ret = 0;
	if (optind < argc) {
		for (int i = optind; i < argc; i++) {
			char id[CTR_ID_LEN + 1];
			berth_error_clear(&err);
			if (engine_resolve(e, argv[i], id, &err) < 0) {
				stats_set_clear(&s);
				return cli_fail(&err);
			}
			if (stats_add_id(&s, id) < 0) {
				stats_set_clear(&s);
				return cli_failf("out of memory");
			}
		}
	} else {
		struct running_ctx rc = { .s = &s, .all = all };
		if (engine_list(e, all, stats_collect, &rc, &err) < 0) {
			stats_set_clear(&s);
			return cli_fail(&err);
		}
	}
	s.prev = calloc(s.n ? s.n : 1, sizeof(*s.prev));
	s.cur = calloc(s.n ? s.n : 1, sizeof(*s.cur));
	if (!s.prev || !s.cur) {
		stats_set_clear(&s);
		return cli_failf("out of memory");
	}
	bool tty = isatty(STDOUT_FILENO);
	/* CPU % needs two samples: one short interval for the first table, one
	 * second between refreshes after that. */
	stats_sample_all(e, &s, s.prev);
	sleep_ms(STATS_SAMPLE_MS);
	for (;;) {
		stats_sample_all(e, &s, s.cur);
		stats_print(&s, json, tty && !no_stream && !json);
		if (no_stream)
			break;
		struct ctr_stats *t = s.prev;
		s.prev = s.cur;
		s.cur = t;
		sleep_ms(1000);
	}
	stats_set_clear(&s);
	return ret;
}

/* ------------------------------------------------------------ rename / port */

int cmd_rename(struct cli *cli, int argc, char **argv)
{
	int r = no_flags(cli, argc, argv);
	if (r >= 0)
		return r;
	if ((r = cli_args_exact(cli, argc, 2)))
		return r;
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	char id[CTR_ID_LEN + 1];
	const char *new_name = argv[optind + 1];
	if (!*new_name)
		return cli_failf("Error when allocating new name: Invalid empty name");
	if (engine_open(cli->root, &e, &err) < 0 || engine_resolve(e, argv[optind], id, &err) < 0 ||
	    engine_rename(e, id, new_name, &err) < 0)
		return cli_fail(&err);
	return 0;
}

int cmd_port(struct cli *cli, int argc, char **argv)
{
	int r = no_flags(cli, argc, argv);
	if (r >= 0)
		return r;
	if ((r = cli_args_range(cli, argc, 1, 2)))
		return r;
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	char id[CTR_ID_LEN + 1];
	if (engine_open(cli->root, &e, &err) < 0 || engine_resolve(e, argv[optind], id, &err) < 0)
		return cli_fail(&err);
	_cleanup_json_t_ json_t *ports = engine_ports(e, id, &err);
	if (!ports)
		return cli_fail(&err);
	const char *want = optind + 1 < argc ? argv[optind + 1] : NULL;
	char wantbuf[64] = "";
	if (want)
		snprintf(wantbuf, sizeof(wantbuf), "%s%s", want, strchr(want, '/') ? "" : "/tcp");
	bool found = false;
	const char *key;
	json_t *binds;
	json_object_foreach(ports, key, binds) {
		if (want && strcmp(key, wantbuf))
			continue;
		size_t i;
		json_t *b;
		json_array_foreach(binds, i, b) {
			const char *ip = json_string_value(json_object_get(b, "HostIp"));
			const char *port = json_string_value(json_object_get(b, "HostPort"));
			if (want)
				printf("%s:%s\n", ip && *ip ? ip : "0.0.0.0", port ? port : "");
			else
				printf("%s -> %s:%s\n", key, ip && *ip ? ip : "0.0.0.0", port ? port : "");
			found = true;
		}
	}
	if (want && !found)
		return cli_failf("No public port '%s' published for %s", wantbuf, argv[optind]);
	return 0;
}

/* ------------------------------------------------------------ prune */

static int parse_force(struct cli *cli, int argc, char **argv, bool *force)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	while ((c = cli_getopt(cli, argc, argv, "fh", opts)) != -1) {
		if (c == 'f')
			*force = true;
		else
			return cli_opt_exit(c);
	}
	return -1;
}

static int confirm_or_refuse(const char *what, const char *warning)
{
	if (!isatty(STDIN_FILENO))
		return cli_failf("%s asks for confirmation, and stdin is not a terminal: use -f/--force to prune "
				 "without asking", what);
	fputs(warning, stderr);
	return cli_confirm("Are you sure you want to continue?") ? 0 : -1;
}

static void print_list(const char *title, char **v)
{
	if (!v || !*v)
		return;
	printf("%s:\n", title);
	for (char **p = v; *p; p++)
		printf("%s\n", *p);
	printf("\n");
}

int cmd_container_prune(struct cli *cli, int argc, char **argv)
{
	bool force = false;
	int r = parse_force(cli, argc, argv, &force);
	if (r >= 0)
		return r;
	if ((r = cli_args_exact(cli, argc, 0)))
		return r;
	if (!force) {
		r = confirm_or_refuse("container prune", "WARNING! This will remove all stopped containers.\n");
		if (r > 0)
			return r;
		if (r < 0)
			return 0;
	}
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	if (engine_open(cli->root, &e, &err) < 0)
		return cli_fail(&err);
	_cleanup_strv_ char **removed = NULL;
	int64_t reclaimed = 0;
	if (engine_container_prune(e, &removed, &reclaimed, &err) < 0)
		return cli_fail(&err);
	print_list("Deleted Containers", removed);
	char sz[32];
	cli_human_size(reclaimed, 4, sz, sizeof(sz));
	printf("Total reclaimed space: %s\n", sz);
	return 0;
}

int cmd_system_prune(struct cli *cli, int argc, char **argv)
{
	enum { O_VOLUMES = 1000 };
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ "volumes", no_argument, NULL, O_VOLUMES },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool all = false, force = false, volumes = false;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "afh", opts)) != -1) {
		if (c == 'a')
			all = true;
		else if (c == 'f')
			force = true;
		else if (c == O_VOLUMES)
			volumes = true;
		else
			return cli_opt_exit(c);
	}
	if ((r = cli_args_exact(cli, argc, 0)))
		return r;
	if (!force) {
		char warning[512];
		snprintf(warning, sizeof(warning),
			 "WARNING! This will remove:\n"
			 "  - all stopped containers\n%s"
			 "  - %s\n\n",
			 volumes ? "  - all anonymous volumes not used by at least one container\n" : "",
			 all ? "all images without at least one container associated to them" : "all dangling images");
		r = confirm_or_refuse("system prune", warning);
		if (r > 0)
			return r;
		if (r < 0)
			return 0;
	}
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	if (engine_open(cli->root, &e, &err) < 0)
		return cli_fail(&err);
	int64_t total = 0, n = 0;
	{
		_cleanup_strv_ char **removed = NULL;
		if (engine_container_prune(e, &removed, &n, &err) < 0)
			return cli_fail(&err);
		total += n;
		print_list("Deleted Containers", removed);
	}
	if (volumes) {
		_cleanup_strv_ char **removed = NULL;
		n = 0;
		if (engine_volume_prune(e, false, &removed, &n, &err) < 0)
			return cli_fail(&err);
		total += n;
		print_list("Deleted Volumes", removed);
	}
	{
		_cleanup_strv_ char **report = NULL;
		n = 0;
		r = image_store_prune(e->images, all, &report, &n, &err);
		print_list("Deleted Images", report);
		if (r < 0)
			return cli_fail(&err);
		total += n;
	}
	char sz[32];
	cli_human_size(total, 4, sz, sizeof(sz));
	printf("Total reclaimed space: %s\n", sz);
	return 0;
}

/* ------------------------------------------------------------ df */

static void df_reclaim(const struct engine_df_row *row, bool percent, char *buf, size_t len)
{
	char sz[32];
	cli_human_size(row->reclaimable, 4, sz, sizeof(sz));
	if (percent && row->size > 0)
		snprintf(buf, len, "%s (%d%%)", sz, (int) (row->reclaimable * 100 / row->size));
	else
		snprintf(buf, len, "%s", sz);
}

int cmd_system_df(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = false;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		if (c == 'F') {
			if ((r = cli_parse_format(cli, optarg, &json)))
				return r;
		} else {
			return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_exact(cli, argc, 0)))
		return r;
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	struct engine_df df;
	if (engine_open(cli->root, &e, &err) < 0 || engine_df(e, &df, &err) < 0)
		return cli_fail(&err);
	static const char *const hdr[] = { "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE" };
	struct { const char *name; const struct engine_df_row *row; bool percent; } rows[] = {
		{ "Images", &df.images, true },
		{ "Containers", &df.containers, true },
		{ "Local Volumes", &df.volumes, true },
		{ "Build Cache", &df.build_cache, false },
	};
	struct cli_table t;
	if (!json && cli_table_init(&t, ARRAY_SIZE(hdr), hdr) < 0)
		return cli_failf("out of memory");
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char total[24], active[24], size[32], recl[48];
		snprintf(total, sizeof(total), "%lld", (long long) rows[i].row->total);
		snprintf(active, sizeof(active), "%lld", (long long) rows[i].row->active);
		cli_human_size(rows[i].row->size, 4, size, sizeof(size));
		df_reclaim(rows[i].row, rows[i].percent, recl, sizeof(recl));
		if (json) {
			json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "Active", active, "Reclaimable", recl, "Size",
					      size, "TotalCount", total, "Type", rows[i].name);
			char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
			if (text)
				printf("%s\n", text);
			free(text);
			json_decref(o);
		} else {
			const char *row[] = { rows[i].name, total, active, size, recl };
			cli_table_add(&t, row);
		}
	}
	if (!json) {
		cli_table_print(&t, stdout);
		cli_table_clear(&t);
	}
	return 0;
}

/* ------------------------------------------------------------ info */

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static long long jint(json_t *o, const char *k)
{
	return (long long) json_integer_value(json_object_get(o, k));
}

int cmd_info(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = false;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "f:h", opts)) != -1) {
		if (c == 'f') {
			if (!strcmp(optarg, "json") || !strcmp(optarg, "{{json .}}"))
				json = true;
			else
				return cli_usage_error(cli, "--format %s: only json is supported", optarg);
		} else {
			return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_exact(cli, argc, 0)))
		return r;
	struct berth_error err = { 0 };
	_cleanup_(engine_closep) struct engine *e = NULL;
	if (engine_open(cli->root, &e, &err) < 0)
		return cli_fail(&err);
	_cleanup_json_t_ json_t *o = engine_info(e, &err);
	if (!o)
		return cli_fail(&err);
	if (json) {
		char *text = json_dumps(o, JSON_COMPACT);
		if (!text)
			return cli_failf("out of memory");
		printf("%s\n", text);
		free(text);
		return 0;
	}
	char mem[32];
	bytes_size((uint64_t) jint(o, "MemTotal"), mem, sizeof(mem));
	printf("Client:\n"
	       " Version:    %s\n"
	       " Context:    default\n"
	       " Debug Mode: false\n"
	       "\n"
	       "Server:\n"
	       " Containers: %lld\n"
	       "  Running: %lld\n"
	       "  Paused: %lld\n"
	       "  Stopped: %lld\n"
	       " Images: %lld\n"
	       " Server Version: %s\n"
	       " Storage Driver: %s\n",
	       BERTH_VERSION, jint(o, "Containers"), jint(o, "ContainersRunning"), jint(o, "ContainersPaused"),
	       jint(o, "ContainersStopped"), jint(o, "Images"), jstr(o, "ServerVersion"), jstr(o, "Driver"));
	size_t i;
	json_t *pair;
	json_array_foreach(json_object_get(o, "DriverStatus"), i, pair)
		printf("  %s: %s\n", json_string_value(json_array_get(pair, 0)), json_string_value(json_array_get(pair, 1)));
	printf(" Logging Driver: %s\n"
	       " Cgroup Driver: %s\n"
	       " Cgroup Version: %s%s\n",
	       jstr(o, "LoggingDriver"), jstr(o, "CgroupDriver"), jstr(o, "CgroupVersion"),
	       !strcmp(jstr(o, "CgroupMode"), "hybrid") ? " (hybrid)" : "");
	printf(" Plugins:\n  Volume: local\n  Network: host null\n  Log: json-file\n");
	printf(" Runtimes:");
	const char *name;
	json_t *v;
	json_object_foreach(json_object_get(o, "Runtimes"), name, v)
		printf(" %s", name);
	printf("\n Default Runtime: %s\n", jstr(o, "DefaultRuntime"));
	printf(" Init Binary: %s\n", *jstr(o, "InitBinary") ? jstr(o, "InitBinary") : "(not installed)");
	printf(" Security Options:\n");
	json_array_foreach(json_object_get(o, "SecurityOptions"), i, v) {
		const char *s = json_string_value(v);
		if (s && !strcmp(s, "name=seccomp,profile=builtin"))
			printf("  seccomp\n   Profile: builtin\n");
		else if (s && !strncmp(s, "name=", 5))
			printf("  %s\n", s + 5);
	}
	printf(" Kernel Version: %s\n"
	       " Operating System: %s\n"
	       " OSType: %s\n"
	       " Architecture: %s\n"
	       " CPUs: %lld\n"
	       " Total Memory: %s\n"
	       " Name: %s\n"
	       " Docker Root Dir: %s\n"
	       " Debug Mode: false\n"
	       " Live Restore Enabled: false\n",
	       jstr(o, "KernelVersion"), jstr(o, "OperatingSystem"), jstr(o, "OSType"), jstr(o, "Architecture"),
	       jint(o, "NCPU"), mem, jstr(o, "Name"), jstr(o, "DockerRootDir"));
	return 0;
}
