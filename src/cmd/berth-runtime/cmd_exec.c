/* exec starts from the container's own process object (as runc does) and
 * overrides what the flags say; the result goes through the same validating
 * parser as config.json. */
#include "cli.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "spec/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { O_CONSOLE = 1000, O_CWD, O_PIDFILE, O_LABEL, O_APPARMOR, O_NNP, O_PRESERVE, O_IGNORE_PAUSED };

static int parse_user(const char *s, json_t *user)
{
	char *end;
	errno = 0;
	unsigned long uid = strtoul(s, &end, 10);
	if (errno || end == s || (*end && *end != ':'))
		return -EINVAL;
	json_object_set_new(user, "uid", json_integer((json_int_t) uid));
	if (*end == ':') {
		const char *g = end + 1;
		unsigned long gid = strtoul(g, &end, 10);
		if (errno || end == g || *end)
			return -EINVAL;
		json_object_set_new(user, "gid", json_integer((json_int_t) gid));
	}
	return 0;
}

int cmd_exec(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "console-socket", required_argument, NULL, O_CONSOLE },
		{ "cwd", required_argument, NULL, O_CWD },
		{ "env", required_argument, NULL, 'e' },
		{ "tty", no_argument, NULL, 't' },
		{ "user", required_argument, NULL, 'u' },
		{ "additional-gids", required_argument, NULL, 'g' },
		{ "process", required_argument, NULL, 'p' },
		{ "detach", no_argument, NULL, 'd' },
		{ "pid-file", required_argument, NULL, O_PIDFILE },
		{ "process-label", required_argument, NULL, O_LABEL },
		{ "apparmor", required_argument, NULL, O_APPARMOR },
		{ "no-new-privs", no_argument, NULL, O_NNP },
		{ "cap", required_argument, NULL, 'c' },
		{ "preserve-fds", required_argument, NULL, O_PRESERVE },
		{ "ignore-paused", no_argument, NULL, O_IGNORE_PAUSED },
		{ 0 },
	};
	struct rt_exec_opts o = { 0 };
	const char *process_file = NULL, *cwd = NULL, *user = NULL, *label = NULL, *apparmor = NULL;
	bool tty = false, nnp = false;
	_cleanup_json_t_ json_t *envs = json_array(), *caps = json_array(), *gids = json_array();
	int c;
	while ((c = cli_getopt(argc, argv, "+e:tu:g:p:dc:", opts, "exec")) != -1) {
		switch (c) {
		case O_CONSOLE: o.console_socket = optarg; break;
		case O_CWD: cwd = optarg; break;
		case 'e': json_array_append_new(envs, json_string(optarg)); break;
		case 't': tty = true; break;
		case 'u': user = optarg; break;
		case 'g': {
			int g;
			if (cli_parse_int(optarg, &g) < 0 || g < 0)
				return cli_usage_error("exec", "--additional-gids %s: must be a number", optarg);
			json_array_append_new(gids, json_integer(g));
			break;
		}
		case 'p': process_file = optarg; break;
		case 'd': o.detach = true; break;
		case O_PIDFILE: o.pid_file = optarg; break;
		case O_LABEL: label = optarg; break;
		case O_APPARMOR: apparmor = optarg; break;
		case O_NNP: nnp = true; break;
		case 'c': json_array_append_new(caps, json_string(optarg)); break;
		case O_PRESERVE:
			if (cli_parse_int(optarg, &o.preserve_fds) < 0 || o.preserve_fds < 0)
				return cli_usage_error("exec", "--preserve-fds %s: must be a non-negative number", optarg);
			break;
		case O_IGNORE_PAUSED:
			return cli_usage_error("exec", "--ignore-paused: exec into a paused container is refused");
		default:
			return 1;
		}
	}
	if (optind >= argc)
		return cli_usage_error("exec", "requires the container ID");
	o.id = argv[optind++];
	struct berth_error err = { 0 };
	struct spec_process *proc = NULL;
	int r;

	if (process_file) {
		if (optind < argc)
			return cli_usage_error("exec", "--process and a command line are exclusive");
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		if ((r = berth_read_file(process_file, &text, &len)) < 0) {
			berth_errno(&err, -r, "--process %s", process_file);
			return cli_fail("exec", &err);
		}
		if (spec_process_parse_json(text, len, process_file, &proc, &err) < 0)
			return cli_fail("exec", &err);
	} else {
		if (optind >= argc)
			return cli_usage_error("exec", "requires a command to run (or --process FILE)");
		_cleanup_json_t_ json_t *cfg = NULL;
		if (rt_saved_config(&cli->rt, o.id, &cfg, &err) < 0)
			return cli_fail("exec", &err);
		json_t *p = json_deep_copy(json_object_get(cfg, "process"));
		if (!p)
			p = json_object();
		json_t *args = json_array();
		for (int i = optind; i < argc; i++)
			json_array_append_new(args, json_string(argv[i]));
		json_object_set_new(p, "args", args);
		json_object_set_new(p, "terminal", json_boolean(tty));
		json_object_del(p, "consoleSize");
		if (cwd)
			json_object_set_new(p, "cwd", json_string(cwd));
		json_t *env = json_object_get(p, "env");
		if (!json_is_array(env)) {
			env = json_array();
			json_object_set_new(p, "env", env);
		}
		json_array_extend(env, envs);
		json_t *u = json_object_get(p, "user");
		if (!json_is_object(u)) {
			u = json_object();
			json_object_set_new(p, "user", u);
		}
		if (user && parse_user(user, u) < 0)
			return cli_usage_error("exec", "--user %s: must be UID[:GID]", user);
		if (json_array_size(gids))
			json_object_set(u, "additionalGids", gids);
		if (nnp)
			json_object_set_new(p, "noNewPrivileges", json_true());
		if (label)
			json_object_set_new(p, "selinuxLabel", json_string(label));
		if (apparmor)
			json_object_set_new(p, "apparmorProfile", json_string(apparmor));
		if (json_array_size(caps)) {
			json_t *cs = json_object_get(p, "capabilities");
			if (!json_is_object(cs)) {
				cs = json_object();
				json_object_set_new(p, "capabilities", cs);
			}
			static const char *const sets[] = { "bounding", "effective", "permitted", "ambient" };
			for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
				json_t *a = json_object_get(cs, sets[i]);
				if (!json_is_array(a)) {
					a = json_array();
					json_object_set_new(cs, sets[i], a);
				}
				json_array_extend(a, caps);
			}
		}
		_cleanup_free_ char *text = json_dumps(p, JSON_COMPACT);
		json_decref(p);
		if (spec_process_parse_json(text, strlen(text), "exec process", &proc, &err) < 0)
			return cli_fail("exec", &err);
	}
	o.process = proc;
	int code = 0;
	r = rt_exec(&cli->rt, &o, &code, &err);
	spec_process_free(proc);
	if (r < 0)
		return cli_fail("exec", &err);
	return code;
}
