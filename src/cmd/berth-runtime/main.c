/* berth-runtime — an OCI runtime with runc's command line.
 *
 * main() reads the global flags (--root, --log, --log-format, --debug,
 * --systemd-cgroup, --rootless), sets up logging, and hands the rest of argv
 * to one command.  Commands that start processes inside a container re-exec
 * from a sealed memfd copy first (linux/selfexec.h).
 */
#include "cli.h"
#include "core/log.h"
#include "core/fs.h"
#include "linux/cgroup.h"
#include "linux/selfexec.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
	const char *name;
	cli_cmd_fn fn;
	bool seal;
	const char *help;
	const char *usage;
} commands[] = {
	{ "create", cmd_create, true, "create a container",
	  "[--bundle DIR] [--console-socket PATH] [--pid-file FILE] [--no-pivot] [--no-new-keyring] [--preserve-fds N] ID" },
	{ "start", cmd_start, false, "start a created container", "ID" },
	{ "run", cmd_run, true, "create and start a container, wait for it",
	  "[--bundle DIR] [--console-socket PATH] [--pid-file FILE] [--no-pivot] [--no-new-keyring] [--preserve-fds N] [--detach] [--keep] ID" },
	{ "state", cmd_state, false, "output the state of a container", "ID" },
	{ "kill", cmd_kill, false, "send a signal to the container's init process",
	  "[--all] ID [SIGNAL]   (SIGNAL: KILL, SIGKILL, 9, RTMIN+3 ...; default TERM)" },
	{ "delete", cmd_delete, false, "delete a container and what it holds", "[--force] ID" },
	{ "list", cmd_list, false, "list containers", "[--format table|json] [--quiet]" },
	{ "exec", cmd_exec, true, "run a new process inside a container",
	  "[--tty] [--console-socket PATH] [--cwd DIR] [--env K=V]... [--user UID[:GID]] [--additional-gids GID]... "
	  "[--cap CAP]... [--no-new-privs] [--apparmor P] [--process-label L] [--detach] [--pid-file FILE] "
	  "[--preserve-fds N] ID COMMAND [ARG...] | --process FILE ID" },
	{ "ps", cmd_ps, false, "list the processes of a container", "[--format table|json] ID [PS-ARGS...]" },
	{ "pause", cmd_pause, false, "freeze every process of a container", "ID" },
	{ "resume", cmd_resume, false, "thaw a paused container", "ID" },
	{ "update", cmd_update, false, "update a container's resource limits",
	  "[-r FILE|-] [--memory SIZE] [--memory-reservation SIZE] [--memory-swap SIZE] [--cpu-shares N] "
	  "[--cpu-quota N] [--cpu-period N] [--cpu-burst N] [--cpu-rt-period N] [--cpu-rt-runtime N] "
	  "[--cpuset-cpus LIST] [--cpuset-mems LIST] [--pids-limit N] [--blkio-weight N] ID" },
	{ "events", cmd_events, false, "stream a container's events and stats", "[--stats] [--interval DURATION] ID" },
	{ "spec", cmd_spec, false, "write a default config.json", "[--bundle DIR] [--rootless]" },
	{ "features", cmd_features, false, "show what this runtime supports (JSON)", "" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: berth-runtime [global options] COMMAND [options] [ARGS]\n\n"
		   "An OCI runtime (runtime-spec 1.2) with runc's command line.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nGlobal options:\n"
		   "  --root DIR            state directory (default /run/berth-runtime)\n"
		   "  --log FILE            also log to FILE\n"
		   "  --log-format FMT      text or json (default text)\n"
		   "  --debug               debug logging\n"
		   "  --systemd-cgroup      use the systemd cgroup driver (not supported: refused)\n"
		   "  --rootless BOOL       true|false|auto: tolerate cgroup permission errors\n"
		   "  -v, --version         print the version\n");
}

int main(int argc, char **argv)
{
	struct cli cli = { .argv0 = argv[0] };
	const char *root = NULL, *log_path = NULL, *log_format = "text", *rootless = "auto";
	bool debug = false;
	cli_saved_argv = argv;

	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "log", required_argument, NULL, 'l' },
		{ "log-format", required_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "systemd-cgroup", no_argument, NULL, 's' },
		{ "rootless", required_argument, NULL, 'R' },
		{ "criu", required_argument, NULL, 'c' },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	opterr = 0;
	int c;
	while ((c = getopt_long_only(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (c) {
		case 'r': root = optarg; break;
		case 'l': log_path = optarg; break;
		case 'f': log_format = optarg; break;
		case 'd': debug = true; break;
		case 's': cli.rt.systemd_cgroup = true; break;
		case 'R': rootless = optarg; break;
		case 'c':
			fprintf(stderr, "berth-runtime: --criu: checkpoint/restore is not supported\n");
			return 1;
		case 'v':
			printf("berth-runtime version %s\nspec: 1.2.0\n", BERTH_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "berth-runtime: unknown global flag %s\n", argv[optind - 1]);
			usage(stderr);
			return 1;
		}
	}
	if (strcmp(log_format, "text") && strcmp(log_format, "json")) {
		fprintf(stderr, "berth-runtime: --log-format %s: must be text or json\n", log_format);
		return 1;
	}
	int r = berth_log_init(log_path, strcmp(log_format, "json") ? BERTH_LOG_TEXT : BERTH_LOG_JSON, debug);
	if (r < 0) {
		fprintf(stderr, "berth-runtime: --log %s: %s\n", log_path, strerror(-r));
		return 1;
	}
	if (!strcmp(rootless, "true"))
		cli.rt.rootless = true;
	else if (!strcmp(rootless, "auto"))
		cli.rt.rootless = geteuid() != 0;
	else if (strcmp(rootless, "false")) {
		fprintf(stderr, "berth-runtime: --rootless %s: must be true, false or auto\n", rootless);
		return 1;
	}

	char root_abs[PATH_MAX];
	if (!root)
		root = geteuid() == 0 ? "/run/berth-runtime" : NULL;
	if (!root) {
		const char *xdg = getenv("XDG_RUNTIME_DIR");
		if (!xdg) {
			fprintf(stderr, "berth-runtime: --root is required when not root and XDG_RUNTIME_DIR is unset\n");
			return 1;
		}
		snprintf(root_abs, sizeof(root_abs), "%s/berth-runtime", xdg);
	} else if (root[0] != '/') {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd))) {
			fprintf(stderr, "berth-runtime: --root %s: %s\n", root, strerror(errno));
			return 1;
		}
		snprintf(root_abs, sizeof(root_abs), "%s/%s", cwd, root);
	} else {
		snprintf(root_abs, sizeof(root_abs), "%s", root);
	}
	cli.rt.root = root_abs;

	if (optind >= argc) {
		usage(stderr);
		return 1;
	}
	const char *name = argv[optind];
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, name) != 0)
			continue;
		if (optind + 1 < argc && (!strcmp(argv[optind + 1], "--help") || !strcmp(argv[optind + 1], "-h"))) {
			printf("usage: berth-runtime %s %s\n\n%s\n", commands[i].name, commands[i].usage,
			       commands[i].help);
			return 0;
		}
		if (commands[i].seal) {
			/* Start the cgroup-migration grace period before anything else
			 * (it runs in a grandchild, so the re-exec below does not wait
			 * for it); the sealed copy must not start a second one. */
			if (!linux_selfexec_is_sealed())
				cgroup_prewarm_migration();
			if (cli_seal_self(argv) != 0)
				return 1;
		}
		int sub_argc = argc - optind;
		char **sub_argv = argv + optind;
		optind = 0; /* full reset of getopt for the command's own flags */
		return commands[i].fn(&cli, sub_argc, sub_argv);
	}
	if (!strcmp(name, "help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "berth-runtime: no such command \"%s\"\n", name);
	usage(stderr);
	return 1;
}
