/* berth — the container engine's command line.
 *
 * main() reads the global flags (--root, --log, --log-level, --debug,
 * --tls-verify, --version, --help), sets up logging, and hands the rest of
 * argv to one command, looked up at the top level ("berth pull") or in the
 * "container", "image" or "volume" group ("berth image pull").  Commands share one struct cli, which
 * holds the store once a command opened it; main closes it.
 */
#include "cli.h"
#include "runflags.h"
#include "core/cleanup.h"
#include "core/log.h"
#include "spec/image.h"

#include <archive.h>
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmd_version(struct cli *, int, char **);
static int cmd_help(struct cli *, int, char **);

#define TLS_OPT   "      --tls-verify[=BOOL]  verify the registry's TLS certificate (default: the global --tls-verify)\n"
#define CREDS_OPT "      --creds USER[:PASS]  credentials for the registry (PASS is asked for on a terminal)\n"

#define OPTS_IMAGES \
	"      --digests            show digests\n" \
	"  -f, --filter FILTER      filter output: dangling=true|false, reference=PATTERN (repeatable)\n" \
	"      --format FORMAT      table (default) or json (one object per line)\n" \
	"      --no-trunc           do not truncate image IDs\n" \
	"  -q, --quiet              only show image IDs\n"
#define OPTS_RMI \
	"  -f, --force              remove the image even when it has several names or a container uses it\n"
#define OPTS_PRUNE \
	"  -a, --all                remove all images no container uses, not just dangling ones\n" \
	"  -f, --force              do not prompt for confirmation\n"
#define OPTS_PULL \
	"      --platform PLATFORM  os/arch[/variant] to pick from a multi-platform image (default: the host's)\n" \
	"  -q, --quiet              print only the image ID\n" \
	TLS_OPT CREDS_OPT
#define OPTS_PUSH TLS_OPT CREDS_OPT \
	"  -q, --quiet              print only the pushed manifest digest\n"
#define OPTS_SAVE \
	"  -o, --output FILE        write to FILE instead of stdout\n" \
	"      --format FORMAT      docker-archive (default) or oci-archive\n"
#define OPTS_LOAD \
	"  -i, --input FILE         read from FILE instead of stdin\n" \
	"  -q, --quiet              print only the loaded names (or IDs), without \"Loaded image:\"\n"

#define OPTS_START \
	"  -a, --attach             attach stdout/stderr and wait for the container to exit\n" \
	"  -i, --interactive        attach stdin too\n"
#define OPTS_STOP "  -t, --time N             seconds to wait before killing it (default: its stop timeout, 10)\n"
#define OPTS_KILL "  -s, --signal SIG         signal to send (default KILL)\n"
#define OPTS_RM \
	"  -f, --force              kill and remove a running container\n" \
	"  -v, --volumes            also remove the container's anonymous volumes\n"
#define OPTS_PS \
	"  -a, --all                show all containers (default: running ones)\n" \
	"  -f, --filter FILTER      status=, name=, id=, label=KEY[=VALUE], ancestor=IMAGE (repeatable)\n" \
	"      --format FORMAT      table (default) or json (one object per line)\n" \
	"  -n, --last N             show the N most recently created containers (all states)\n" \
	"  -l, --latest             show the most recently created container (all states)\n" \
	"      --no-trunc           do not truncate IDs and commands\n" \
	"  -q, --quiet              only show container IDs\n"
#define OPTS_LOGS \
	"  -f, --follow             follow the log output\n" \
	"      --since TIME         only entries since TIME: a duration (10m, 1h30m), RFC 3339 or unix seconds\n" \
	"  -n, --tail N             only the last N lines (default all)\n" \
	"  -t, --timestamps         show timestamps\n"
#define OPTS_ATTACH \
	"      --no-stdin           do not attach stdin\n" \
	"      --sig-proxy[=BOOL]   forward received signals to the container (default true)\n"
#define OPTS_INSPECT_C \
	"  -f, --format TEMPLATE    print {{.Field.Sub}} / {{json .Field}} per object instead of JSON\n"
#define OPTS_INSPECT OPTS_INSPECT_C \
	"      --type TYPE          only look up a container or an image\n"
#define OPTS_EXEC \
	"  -d, --detach             run the command in the background\n" \
	"  -e, --env K[=V]          set an environment variable\n" \
	"  -i, --interactive        keep STDIN open\n" \
	"      --privileged         give extended privileges to the command\n" \
	"  -t, --tty                allocate a pseudo-TTY\n" \
	"  -u, --user USER[:GROUP]  user name or UID in the container\n" \
	"  -w, --workdir DIR        working directory inside the container\n"
#define OPTS_VOL_CREATE \
	"  -d, --driver NAME        volume driver (only local)\n" \
	"  -l, --label K[=V]        set a label\n" \
	"      --name NAME          volume name (or give it as the argument)\n"
#define OPTS_VOL_LS \
	"  -f, --filter FILTER      dangling=true|false, name=, label=KEY[=VALUE], driver=\n" \
	"      --format FORMAT      table (default) or json (one object per line)\n" \
	"  -q, --quiet              only show volume names\n"
#define OPTS_VOL_PRUNE \
	"  -a, --all                remove all unused volumes, not just anonymous ones\n" \
	"  -f, --force              do not prompt for confirmation\n"

/* system.c: top, stats, rename, port (in both the top level and the container group) */
#define SYS_CTR_COMMANDS(G) \
	{ G, "top", NULL, cmd_top, "CONTAINER [ps OPTIONS]", "Display the running processes of a container", NULL }, \
	{ G, "stats", NULL, cmd_stats, "[OPTIONS] [CONTAINER...]", \
	  "Display a live stream of container(s) resource usage statistics", \
	  "  -a, --all                show all containers (default: running ones)\n" \
	  "      --format FORMAT      table (default) or json (one object per line)\n" \
	  "      --no-stream          print one table and exit\n" \
	  "      --no-trunc           accepted for docker compatibility\n" }, \
	{ G, "rename", NULL, cmd_rename, "CONTAINER NEW_NAME", "Rename a container", NULL }, \
	{ G, "port", NULL, cmd_port, "CONTAINER [PRIVATE_PORT[/PROTO]]", \
	  "List port mappings or a specific mapping for the container", NULL }
#define OPTS_SYS_PRUNE \
	"  -a, --all                remove all unused images, not just dangling ones\n" \
	"  -f, --force              do not prompt for confirmation\n" \
	"      --volumes            also remove anonymous volumes no container uses\n"

#define CTR_COMMANDS(G) \
	{ G, "cp", NULL, cmd_cp, "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH", \
	  "Copy files/folders between a container and the local filesystem", \
	  "  -a, --archive            archive mode (keep the source's uid/gid)\n" \
	  "  -L, --follow-link        always follow a symbolic link in SRC_PATH\n" }, \
	{ G, "export", NULL, cmd_export, "[OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive", \
	  "  -o, --output FILE        write to FILE instead of stdout\n" }, \
	{ G, "commit", NULL, cmd_commit, "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", \
	  "Create a new image from a container's changes", \
	  "  -a, --author AUTHOR      author (e.g. \"Jane Doe <jane@example.com>\")\n" \
	  "  -c, --change INSTR       apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE,\n" \
	  "                           LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR; repeatable)\n" \
	  "  -m, --message MSG        commit message\n" \
	  "  -p, --pause[=BOOL]       pause the container during the commit (default true)\n" }, \
	{ G, "run", NULL, cmd_run, "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container from an image", \
	  runflags_help }, \
	{ G, "create", NULL, cmd_create, "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container", runflags_help }, \
	{ G, "start", NULL, cmd_start, "[OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers", \
	  OPTS_START }, \
	{ G, "stop", NULL, cmd_stop, "[OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers", \
	  OPTS_STOP }, \
	{ G, "restart", NULL, cmd_restart, "[OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers", \
	  OPTS_STOP }, \
	{ G, "kill", NULL, cmd_kill, "[OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers", \
	  OPTS_KILL }, \
	{ G, "logs", NULL, cmd_logs, "[OPTIONS] CONTAINER", "Fetch the logs of a container", OPTS_LOGS }, \
	{ G, "wait", NULL, cmd_wait, "CONTAINER [CONTAINER...]", \
	  "Block until one or more containers stop, then print their exit codes", NULL }, \
	{ G, "attach", NULL, cmd_attach, "[OPTIONS] CONTAINER", \
	  "Attach local standard input, output, and error streams to a running container", OPTS_ATTACH }, \
	{ G, "pause", NULL, cmd_pause, "CONTAINER [CONTAINER...]", \
	  "Pause all processes within one or more containers", NULL }, \
	{ G, "unpause", NULL, cmd_unpause, "CONTAINER [CONTAINER...]", \
	  "Unpause all processes within one or more containers", NULL }, \
	{ G, "exec", NULL, cmd_exec, "[OPTIONS] CONTAINER COMMAND [ARG...]", \
	  "Execute a command in a running container", OPTS_EXEC }, \
	SYS_CTR_COMMANDS(G)

static const struct cli_command commands[] = {
	CTR_COMMANDS(NULL),
	{ NULL, "ps", NULL, cmd_ps, "[OPTIONS]", "List containers", OPTS_PS },
	{ NULL, "rm", NULL, cmd_rm, "[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers", OPTS_RM },
	{ NULL, "inspect", NULL, cmd_inspect, "[OPTIONS] NAME|ID [NAME|ID...]",
	  "Return low-level information on containers or images (JSON)", OPTS_INSPECT },
	{ NULL, "pull", NULL, cmd_pull, "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry", OPTS_PULL },
	{ NULL, "push", NULL, cmd_push, "[OPTIONS] NAME[:TAG] [DESTINATION]", "Upload an image to a registry", OPTS_PUSH },
	{ NULL, "images", NULL, cmd_images, "[OPTIONS] [REPOSITORY[:TAG]]", "List images", OPTS_IMAGES },
	{ NULL, "tag", NULL, cmd_tag, "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
	  "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", NULL },
	{ NULL, "rmi", NULL, cmd_rmi, "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", OPTS_RMI },
	{ NULL, "save", NULL, cmd_save, "[OPTIONS] IMAGE [IMAGE...]",
	  "Save one or more images to a tar archive (streamed to stdout by default)", OPTS_SAVE },
	{ NULL, "load", NULL, cmd_load, "[OPTIONS]", "Load images from a tar archive or stdin", OPTS_LOAD },
	{ NULL, "import", NULL, cmd_import, "[OPTIONS] FILE|- [REPOSITORY[:TAG]]",
	  "Create an image from a root file system tarball", NULL },
	{ NULL, "login", NULL, cmd_login, "[OPTIONS] [SERVER]",
	  "Log in to a registry (default docker.io)",
	  "  -u, --username USER      user name\n"
	  "  -p, --password PASS      password (visible to other users of this machine: prefer --password-stdin)\n"
	  "      --password-stdin     read the password from stdin\n"
	  TLS_OPT },
	{ NULL, "logout", NULL, cmd_logout, "[SERVER]", "Log out from a registry (default docker.io)", NULL },
	{ NULL, "info", NULL, cmd_info, "[OPTIONS]", "Display system-wide information",
	  "  -f, --format FORMAT      json: the information as one JSON object\n" },
	{ NULL, "version", NULL, cmd_version, "", "Show the berth version information", NULL },
	{ NULL, "help", NULL, cmd_help, "[COMMAND]", "Show help for berth or one of its commands", NULL },

	{ "image", "ls", "list", cmd_images, "[OPTIONS] [REPOSITORY[:TAG]]", "List images", OPTS_IMAGES },
	{ "image", "pull", NULL, cmd_pull, "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry", OPTS_PULL },
	{ "image", "push", NULL, cmd_push, "[OPTIONS] NAME[:TAG] [DESTINATION]", "Upload an image to a registry", OPTS_PUSH },
	{ "image", "tag", NULL, cmd_tag, "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
	  "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", NULL },
	{ "image", "rm", "remove", cmd_rmi, "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", OPTS_RMI },
	{ "image", "inspect", NULL, cmd_image_inspect, "[OPTIONS] IMAGE [IMAGE...]",
	  "Display detailed information on one or more images (JSON)", NULL },
	{ "image", "prune", NULL, cmd_image_prune, "[OPTIONS]", "Remove unused images", OPTS_PRUNE },
	{ "image", "save", NULL, cmd_save, "[OPTIONS] IMAGE [IMAGE...]",
	  "Save one or more images to a tar archive (streamed to stdout by default)", OPTS_SAVE },
	{ "image", "load", NULL, cmd_load, "[OPTIONS]", "Load images from a tar archive or stdin", OPTS_LOAD },
	{ "image", "import", NULL, cmd_import, "[OPTIONS] FILE|- [REPOSITORY[:TAG]]",
	  "Create an image from a root file system tarball", NULL },

	CTR_COMMANDS("container"),
	{ "container", "ls", "list", cmd_ps, "[OPTIONS]", "List containers", OPTS_PS },
	{ "container", "ps", NULL, cmd_ps, "[OPTIONS]", "List containers", OPTS_PS },
	{ "container", "rm", "remove", cmd_rm, "[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers",
	  OPTS_RM },
	{ "container", "inspect", NULL, cmd_container_inspect, "[OPTIONS] CONTAINER [CONTAINER...]",
	  "Display detailed information on one or more containers (JSON)", OPTS_INSPECT_C },
	{ "container", "cleanup", NULL, cmd_container_cleanup, "CONTAINER",
	  "Remove an exited --rm container (run by its monitor)", NULL },
	{ "container", "prune", NULL, cmd_container_prune, "[OPTIONS]", "Remove all stopped containers",
	  "  -f, --force              do not prompt for confirmation\n" },

	{ "system", "df", NULL, cmd_system_df, "[OPTIONS]", "Show berth disk usage",
	  "      --format FORMAT      table (default) or json (one object per line)\n" },
	{ "system", "prune", NULL, cmd_system_prune, "[OPTIONS]", "Remove unused data", OPTS_SYS_PRUNE },
	{ "system", "info", NULL, cmd_info, "[OPTIONS]", "Display system-wide information",
	  "  -f, --format FORMAT      json: the information as one JSON object\n" },

	{ "volume", "create", NULL, cmd_volume_create, "[OPTIONS] [VOLUME]", "Create a volume", OPTS_VOL_CREATE },
	{ "volume", "ls", "list", cmd_volume_ls, "[OPTIONS]", "List volumes", OPTS_VOL_LS },
	{ "volume", "inspect", NULL, cmd_volume_inspect, "VOLUME [VOLUME...]",
	  "Display detailed information on one or more volumes (JSON)", NULL },
	{ "volume", "rm", "remove", cmd_volume_rm, "[OPTIONS] VOLUME [VOLUME...]",
	  "Remove one or more volumes (refused while a container uses one)",
	  "  -f, --force              do not fail when a volume does not exist\n" },
	{ "volume", "prune", NULL, cmd_volume_prune, "[OPTIONS]", "Remove unused local volumes", OPTS_VOL_PRUNE },
};

static const struct cli_command groups[] = {
	{ NULL, "container", NULL, NULL, "COMMAND", "Manage containers", NULL },
	{ NULL, "image", NULL, NULL, "COMMAND", "Manage images", NULL },
	{ NULL, "system", NULL, NULL, "COMMAND", "Manage berth", NULL },
	{ NULL, "volume", NULL, NULL, "COMMAND", "Manage volumes", NULL },
};

static const struct cli_command *find_group(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(groups); i++)
		if (!strcmp(groups[i].name, name))
			return &groups[i];
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "\nUsage:  berth [OPTIONS] COMMAND\n\n"
		   "A container engine: containers, images, volumes and registries.\n\n"
		   "Options:\n"
		   "  -D, --debug              enable debug output\n"
		   "  -h, --help               print this help\n"
		   "      --log FILE           also write log lines to FILE (logrus text format)\n"
		   "  -l, --log-level LEVEL    debug, info (default), warn or error\n"
		   "      --root DIR           image store (default $BERTH_ROOT or " IMAGE_STORE_DEFAULT_ROOT ")\n"
		   "      --tls-verify[=BOOL]  verify registries' TLS certificates (default true)\n"
		   "  -v, --version            print version information and quit\n"
		   "\nManagement Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(groups); i++)
		fprintf(f, "  %-10s %s\n", groups[i].name, groups[i].summary);
	fprintf(f, "\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!commands[i].group)
			fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'berth COMMAND --help' for more information on a command.\n");
}

static void group_usage(const struct cli_command *g, FILE *f)
{
	fprintf(f, "\nUsage:  berth %s COMMAND\n\n%s\n\nCommands:\n", g->name, g->summary);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (commands[i].group && !strcmp(commands[i].group, g->name))
			fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'berth %s COMMAND --help' for more information on a command.\n", g->name);
}

void cli_print_help(const struct cli_command *cmd, FILE *f)
{
	fprintf(f, "\nUsage:  berth %s%s%s%s%s\n\n%s\n", cmd->group ? cmd->group : "", cmd->group ? " " : "",
		cmd->name, *cmd->usage ? " " : "", cmd->usage, cmd->summary);
	/* every name the command answers to, when it has more than one */
	size_t names = 0;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (commands[i].fn == cmd->fn)
			names += commands[i].alias ? 2 : 1;
	for (size_t i = 0, shown = 0; names > 1 && i < ARRAY_SIZE(commands); i++) {
		const struct cli_command *o = &commands[i];
		if (o->fn != cmd->fn)
			continue;
		const char *g = o->group ? o->group : "", *sp = o->group ? " " : "";
		fprintf(f, "%sberth %s%s%s", shown++ ? ", " : "\nAliases:\n  ", g, sp, o->name);
		if (o->alias)
			fprintf(f, ", berth %s%s%s", g, sp, o->alias);
	}
	if (names > 1)
		fputc('\n', f);
	fprintf(f, "\nOptions:\n%s  -h, --help               print this help\n", cmd->options ? cmd->options : "");
}

static const struct cli_command *find(const char *group, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		const struct cli_command *c = &commands[i];
		if ((group == NULL) != (c->group == NULL) || (group && strcmp(group, c->group)))
			continue;
		if (!strcmp(c->name, name) || (c->alias && !strcmp(c->alias, name)))
			return c;
	}
	return NULL;
}

static int cmd_version(struct cli *cli, int argc, char **argv)
{
	int c;
	while ((c = cli_getopt(cli, argc, argv, "h", cli_help_only)) != -1)
		return cli_opt_exit(c);
	int r = cli_args_exact(cli, argc, 0);
	if (r)
		return r;
	struct image_platform host = { 0 };
	image_platform_host(&host);
	char *plat = image_platform_string(&host);
	const char *av = archive_version_string();
	if (!strncmp(av, "libarchive ", 11))
		av += 11;
	printf("berth version %s\n"
	       " OS/Arch:     %s\n"
	       " Store:       %s\n"
	       " libcurl:     %s\n"
	       " libarchive:  %s\n"
	       " SQLite:      %s\n",
	       BERTH_VERSION, plat ? plat : "unknown",
	       cli->root ? cli->root : getenv("BERTH_ROOT") ? getenv("BERTH_ROOT") : IMAGE_STORE_DEFAULT_ROOT,
	       curl_version_info(CURLVERSION_NOW)->version, av,
	       sqlite3_libversion());
	free(plat);
	image_platform_clear(&host);
	return 0;
}

static int cmd_help(struct cli *cli, int argc, char **argv)
{
	int c;
	while ((c = cli_getopt(cli, argc, argv, "h", cli_help_only)) != -1)
		return cli_opt_exit(c);
	if (optind >= argc) {
		usage(stdout);
		return 0;
	}
	int r = cli_args_range(cli, argc, 0, 2);
	if (r)
		return r;
	const char *a = argv[optind], *b = optind + 1 < argc ? argv[optind + 1] : NULL;
	const struct cli_command *g = find_group(a);
	if (g && !b) {
		group_usage(g, stdout);
		return 0;
	}
	const struct cli_command *cmd = g ? find(g->name, b) : b ? NULL : find(NULL, a);
	if (!cmd)
		return cli_usage_error(cli, "unknown help topic: %s%s%s", a, b ? " " : "", b ? b : "");
	cli_print_help(cmd, stdout);
	return 0;
}

static int run_command(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	cli->cmd = cmd;
	optind = 0; /* full reset of getopt for the command's own flags */
	int r = cmd->fn(cli, argc, argv);
	if (fflush(stdout) != 0 && errno != EPIPE && r == 0) {
		fprintf(stderr, "Error: writing to stdout: %s\n", strerror(errno));
		r = CLI_EXIT_FAIL;
	}
	return r;
}

int main(int argc, char **argv)
{
	struct cli cli = { .tls_verify = true };
	const char *log_path = NULL, *log_level = "info";
	bool debug = false;

	/* A reader that goes away (`berth images | head -1`) or a peer closing a
	 * socket under libcurl must give EPIPE, not kill the process. */
	signal(SIGPIPE, SIG_IGN);

	enum { O_ROOT = 1000, O_LOG, O_TLS };
	static const struct option opts[] = {
		{ "root", required_argument, NULL, O_ROOT },
		{ "log", required_argument, NULL, O_LOG },
		{ "log-level", required_argument, NULL, 'l' },
		{ "debug", no_argument, NULL, 'D' },
		{ "tls-verify", optional_argument, NULL, O_TLS },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+:l:Dvh", opts, NULL)) != -1) {
		switch (c) {
		case O_ROOT:
			if (!*optarg)
				return cli_usage_error(&cli, "--root: empty directory name");
			cli.root = optarg;
			break;
		case O_LOG: log_path = optarg; break;
		case 'l': log_level = optarg; break;
		case 'D': debug = true; break;
		case O_TLS:
			if (cli_parse_bool("--tls-verify", optarg, &cli.tls_verify, &cli) < 0)
				return CLI_EXIT_USAGE;
			break;
		case 'v':
			printf("berth version %s\n", BERTH_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_opt_error(&cli, c, argv);
		}
	}
	berth_log_set_program("berth");
	if (!strcmp(log_level, "debug"))
		debug = true;
	else if (!strcmp(log_level, "warn") || !strcmp(log_level, "warning"))
		berth_log_set_min_level(BERTH_LOG_WARN);
	else if (!strcmp(log_level, "error") || !strcmp(log_level, "fatal"))
		berth_log_set_min_level(BERTH_LOG_ERROR);
	else if (strcmp(log_level, "info"))
		return cli_usage_error(&cli, "--log-level %s: must be debug, info, warn or error", log_level);
	int r = berth_log_init(log_path, BERTH_LOG_TEXT, debug);
	if (r < 0) {
		fprintf(stderr, "Error: --log %s: %s\n", log_path, strerror(-r));
		return CLI_EXIT_FAIL;
	}

	if (optind >= argc) {
		usage(stdout);
		return 0;
	}
	const char *name = argv[optind];
	const struct cli_command *g = find_group(name);
	if (g) {
		if (optind + 1 >= argc || !strcmp(argv[optind + 1], "--help") || !strcmp(argv[optind + 1], "-h")) {
			group_usage(g, stdout);
			return 0;
		}
		const char *sub = argv[optind + 1];
		const struct cli_command *cmd = find(g->name, sub);
		if (!cmd) {
			fprintf(stderr, "berth: '%s' is not a berth %s command.\nSee 'berth %s --help'.\n", sub, g->name,
				g->name);
			return CLI_EXIT_USAGE;
		}
		r = run_command(&cli, cmd, argc - optind - 1, argv + optind + 1);
	} else {
		const struct cli_command *cmd = find(NULL, name);
		if (!cmd) {
			fprintf(stderr, "berth: '%s' is not a berth command.\nSee 'berth --help'.\n", name);
			return CLI_EXIT_USAGE;
		}
		r = run_command(&cli, cmd, argc - optind, argv + optind);
	}
	if (cli.store)
		image_store_close(cli.store);
	return r;
}
