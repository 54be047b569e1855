/* The flags of `berth run` and `berth create`, checked the way docker's CLI
 * checks them, into struct ctr_opts.  Values that the engine would refuse
 * later (a relative volume source, "1x" as a size) are refused here, so that
 * nothing is created for a bad command line. */
#include "runflags.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/signals.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char runflags_help[] =
	"      --cap-add CAP          add a Linux capability (ALL for all)\n"
	"      --cap-drop CAP         drop a Linux capability (ALL for all)\n"
	"  -c, --cpu-shares N         CPU shares (relative weight)\n"
	"      --cpus DECIMAL         number of CPUs (CFS quota over a 100ms period)\n"
	"      --cpuset-cpus LIST     CPUs in which to allow execution (0-3, 0,1)\n"
	"  -d, --detach               run in the background and print the container ID (run only)\n"
	"      --device DEV           add a host device: /dev/x[:/dev/y][:rwm]\n"
	"      --entrypoint CMD       overwrite the image's ENTRYPOINT (\"\" clears it)\n"
	"  -e, --env K[=V]            set an environment variable (K alone: take it from this environment)\n"
	"      --env-file FILE        read environment variables from FILE (one K[=V] a line, # comments)\n"
	"  -h, --hostname NAME        container host name\n"
	"      --init                 run a minimal init as PID 1 that reaps zombies and forwards signals\n"
	"  -i, --interactive          keep STDIN open\n"
	"  -l, --label K[=V]          set a label\n"
	"      --log-opt K=V          json-file log options: max-size=SIZE, max-file=N\n"
	"  -m, --memory SIZE          memory limit (512m, 1g)\n"
	"      --memory-swap SIZE     memory + swap limit (-1: unlimited swap)\n"
	"      --mount SPEC           type=bind|volume|tmpfs,source=,target=,readonly,bind-propagation=,\n"
	"                             volume-nocopy,tmpfs-size=,tmpfs-mode=\n"
	"      --name NAME            assign a name to the container\n"
	"      --network NET          none (default), host or container:NAME|ID\n"
	"      --pids-limit N         process limit (-1: unlimited)\n"
	"      --platform PLATFORM    os/arch[/variant] to pull when the image is missing\n"
	"      --privileged           all capabilities, all devices, no seccomp or masked paths\n"
	"      --pull POLICY          missing (default), always or never\n"
	"      --read-only            mount the container's root file system read-only\n"
	"      --restart POLICY       no (default), on-failure[:N], always, unless-stopped\n"
	"      --rm                   remove the container (and its anonymous volumes) when it exits\n"
	"      --runtime RUNTIME      OCI runtime: a path or a name in $PATH (default berth-runtime)\n"
	"      --security-opt OPT     no-new-privileges, seccomp=unconfined|PROFILE.json, apparmor=, label=\n"
	"      --shm-size SIZE        size of /dev/shm (default 64m)\n"
	"      --stop-signal SIG      signal that stops the container (default the image's, else SIGTERM)\n"
	"      --stop-timeout N       seconds before SIGKILL on stop (default 10)\n"
	"      --sysctl K=V           set a namespaced kernel parameter\n"
	"      --tmpfs PATH[:OPTS]    mount a tmpfs (OPTS: size=64m,mode=1777,ro,rw,noexec,nosuid,nodev)\n"
	"  -t, --tty                  allocate a pseudo-TTY\n"
	"  -u, --user USER[:GROUP]    user name or UID, and group name or GID, in the image\n"
	"      --ulimit NAME=SOFT[:HARD]  set a resource limit (nofile=1024:2048)\n"
	"  -v, --volume SPEC          bind /host:/ctr[:OPTS], named volume NAME:/ctr[:OPTS] or anonymous /ctr\n"
	"                             (OPTS: ro, rw, z, Z, [r]shared, [r]slave, [r]private, nocopy)\n"
	"  -w, --workdir DIR          working directory inside the container\n"
	"      --help                 print this help\n";

enum {
	O_RM = 1000, O_NAME, O_ENV_FILE, O_ENTRYPOINT, O_MOUNT, O_TMPFS, O_READ_ONLY, O_MEMORY_SWAP,
	O_CPUS, O_CPUSET, O_PIDS, O_ULIMIT, O_CAP_ADD, O_CAP_DROP, O_PRIVILEGED, O_SECURITY_OPT,
	O_DEVICE, O_SYSCTL, O_INIT, O_STOP_SIGNAL, O_STOP_TIMEOUT, O_RESTART, O_NETWORK, O_PULL,
	O_RUNTIME, O_LOG_OPT, O_PLATFORM, O_SHM_SIZE, O_HELP, O_DETACH, O_INTERACTIVE, O_TTY,
};

static const struct option run_opts[] = {
	{ "detach", optional_argument, NULL, O_DETACH },
	{ "interactive", optional_argument, NULL, O_INTERACTIVE },
	{ "tty", optional_argument, NULL, O_TTY },
	{ "rm", optional_argument, NULL, O_RM },
	{ "name", required_argument, NULL, O_NAME },
	{ "env", required_argument, NULL, 'e' },
	{ "env-file", required_argument, NULL, O_ENV_FILE },
	{ "workdir", required_argument, NULL, 'w' },
	{ "user", required_argument, NULL, 'u' },
	{ "entrypoint", required_argument, NULL, O_ENTRYPOINT },
	{ "volume", required_argument, NULL, 'v' },
	{ "mount", required_argument, NULL, O_MOUNT },
	{ "tmpfs", required_argument, NULL, O_TMPFS },
	{ "read-only", optional_argument, NULL, O_READ_ONLY },
	{ "hostname", required_argument, NULL, 'h' },
	{ "memory", required_argument, NULL, 'm' },
	{ "memory-swap", required_argument, NULL, O_MEMORY_SWAP },
	{ "cpus", required_argument, NULL, O_CPUS },
	{ "cpu-shares", required_argument, NULL, 'c' },
	{ "cpuset-cpus", required_argument, NULL, O_CPUSET },
	{ "pids-limit", required_argument, NULL, O_PIDS },
	{ "ulimit", required_argument, NULL, O_ULIMIT },
	{ "cap-add", required_argument, NULL, O_CAP_ADD },
	{ "cap-drop", required_argument, NULL, O_CAP_DROP },
	{ "privileged", optional_argument, NULL, O_PRIVILEGED },
	{ "security-opt", required_argument, NULL, O_SECURITY_OPT },
	{ "device", required_argument, NULL, O_DEVICE },
	{ "sysctl", required_argument, NULL, O_SYSCTL },
	{ "init", optional_argument, NULL, O_INIT },
	{ "stop-signal", required_argument, NULL, O_STOP_SIGNAL },
	{ "stop-timeout", required_argument, NULL, O_STOP_TIMEOUT },
	{ "restart", required_argument, NULL, O_RESTART },
	{ "label", required_argument, NULL, 'l' },
	{ "network", required_argument, NULL, O_NETWORK },
	{ "net", required_argument, NULL, O_NETWORK },
	{ "pull", required_argument, NULL, O_PULL },
	{ "runtime", required_argument, NULL, O_RUNTIME },
	{ "log-opt", required_argument, NULL, O_LOG_OPT },
	{ "platform", required_argument, NULL, O_PLATFORM },
	{ "shm-size", required_argument, NULL, O_SHM_SIZE },
	{ "help", no_argument, NULL, O_HELP },
	{ 0 },
};

/* ------------------------------------------------------------------ helpers */

static int strv_push(char ***v, const char *s)
{
	size_t n = 0;
	while (*v && (*v)[n])
		n++;
	char **nv = realloc(*v, (n + 2) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	if (!(nv[n] = strdup(s)))
		return -ENOMEM;
	nv[n + 1] = NULL;
	return 0;
}

static int set_str(char **dst, const char *s)
{
	char *d = strdup(s);
	if (!d)
		return -ENOMEM;
	free(*dst);
	*dst = d;
	return 0;
}

/* docker's pflag wording for a bad value */
static int bad_value(struct cli *cli, const char *flag, const char *value, const char *why)
{
	return cli_usage_error(cli, "invalid argument \"%s\" for \"%s\" flag: %s", value, flag, why);
}

static int oom(void)
{
	return cli_failf("out of memory");
}

int runflags_parse_size(const char *s, int64_t *out)
{
	const char *p = s;
	if (!isdigit((unsigned char) *p))
		return -EINVAL;
	char *end;
	errno = 0;
	double v = strtod(p, &end);
	if (errno || end == p || !isfinite(v))
		return -EINVAL;
	/* strtod also takes exponents and hex: only digits[.digits] belong to a size */
	for (const char *q = p; q < end; q++)
		if (!isdigit((unsigned char) *q) && *q != '.')
			return -EINVAL;
	p = end;
	if (*p == ' ')
		p++;
	double mult = 1;
	static const char units[] = "kmgtp";
	if (*p) {
		const char *u = strchr(units, tolower((unsigned char) *p));
		if (u) {
			for (long i = 0; i <= u - units; i++)
				mult *= 1024;
			p++;
		}
		if (*p == 'i' || *p == 'I') {
			if (mult == 1)
				return -EINVAL;
			p++;
		}
		if (*p == 'b' || *p == 'B')
			p++;
		if (*p)
			return -EINVAL;
	}
	double r = v * mult;
	if (r >= 9.2e18)
		return -ERANGE;
	*out = (int64_t) r;
	return 0;
}

static int size_flag(struct cli *cli, const char *flag, const char *value, int64_t *out)
{
	int64_t v;
	if (runflags_parse_size(value, &v) < 0) {
		char why[300];
		snprintf(why, sizeof(why), "invalid size: '%s'", value);
		return bad_value(cli, flag, value, why);
	}
	*out = v;
	return 0;
}

static int int_flag(struct cli *cli, const char *flag, const char *value, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(value, &end, 10);
	if (errno || end == value || *end || v < min || v > max) {
		char why[300];
		snprintf(why, sizeof(why), "not an integer in [%lld, %lld]", (long long) min, (long long) max);
		return bad_value(cli, flag, value, why);
	}
	*out = v;
	return 0;
}

static int bool_flag(struct cli *cli, const char *flag, bool *out)
{
	return cli_parse_bool(flag, optarg, out, cli) < 0 ? CLI_EXIT_USAGE : 0;
}

/* "1.5" -> 1.5 CPUs as nano CPUs, docker's ParseCPUs (exact decimal, no float rounding) */
static int parse_cpus(const char *s, int64_t *nano)
{
	const char *p = s;
	int64_t whole = 0, frac = 0, scale = 1000000000;
	if (!isdigit((unsigned char) *p) && *p != '.')
		return -EINVAL;
	for (; isdigit((unsigned char) *p); p++) {
		whole = whole * 10 + (*p - '0');
		if (whole > 1000000)
			return -ERANGE;
	}
	if (*p == '.') {
		p++;
		for (; isdigit((unsigned char) *p); p++) {
			scale /= 10;
			if (scale == 0)
				return -EINVAL;  /* finer than a nano CPU */
			frac += (*p - '0') * scale;
		}
	}
	if (*p || p == s)
		return -EINVAL;
	*nano = whole * 1000000000 + frac;
	return 0;
}

static int env_push(struct ctr_opts *o, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (eq)
		return strv_push(&o->env, kv);
	/* "K" alone: docker takes K from the caller's environment and drops it when unset */
	const char *v = getenv(kv);
	if (!v)
		return 0;
	_cleanup_free_ char *s = NULL;
	if (asprintf(&s, "%s=%s", kv, v) < 0)
		return -ENOMEM;
	return strv_push(&o->env, s);
}

static int env_flag(struct cli *cli, const char *flag, const char *kv, struct ctr_opts *o)
{
	size_t klen = strcspn(kv, "=");
	if (klen == 0)
		return bad_value(cli, flag, kv, "invalid environment variable: empty name");
	for (size_t i = 0; i < klen; i++)
		if (isspace((unsigned char) kv[i])) {
			char why[300];
			snprintf(why, sizeof(why), "variable '%.*s' contains whitespaces", (int) klen, kv);
			return bad_value(cli, flag, kv, why);
		}
	return env_push(o, kv) < 0 ? oom() : 0;
}

static int env_file(struct cli *cli, const char *path, struct ctr_opts *o)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return cli_usage_error(cli, "open %s: %s", path, strerror(errno));
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		char *s = line;
		while (isspace((unsigned char) *s))
			s++;
		if (!*s || *s == '#')
			continue;
		if (lineno == 1 && !strncmp(s, "\xef\xbb\xbf", 3))
			s += 3;
		size_t klen = strcspn(s, "=");
		for (size_t i = 0; i < klen; i++)
			if (isspace((unsigned char) s[i]))
				return cli_usage_error(cli, "%s:%u: variable '%.*s' contains whitespaces", path, lineno,
						       (int) klen, s);
		if (klen == 0)
			return cli_usage_error(cli, "%s:%u: no variable name on line '%s'", path, lineno, s);
		if (env_push(o, s) < 0)
			return oom();
	}
	if (ferror(f))
		return cli_usage_error(cli, "reading %s: %s", path, strerror(errno));
	return 0;
}

/* ------------------------------------------------------------------ mounts */

static struct ctr_mount *mount_add(struct ctr_opts *o)
{
	struct ctr_mount *m = realloc(o->mounts, (o->n_mounts + 1) * sizeof(*m));
	if (!m)
		return NULL;
	o->mounts = m;
	m = &o->mounts[o->n_mounts++];
	*m = (struct ctr_mount) { 0 };
	return m;
}

static bool volume_name_ok(const char *s)
{
	if (!isalnum((unsigned char) s[0]) || !s[1])
		return false;
	for (const char *p = s + 1; *p; p++)
		if (!isalnum((unsigned char) *p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

static const char *const propagations[] = { "shared", "rshared", "slave", "rslave", "private", "rprivate" };

static bool is_propagation(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(propagations); i++)
		if (!strcmp(s, propagations[i]))
			return true;
	return false;
}

static bool selinux_enabled(void)
{
	return access("/sys/fs/selinux/enforce", F_OK) == 0;
}

/* Is every comma-separated word of `mode` a -v option? (docker's ValidMountMode) */
static bool valid_mode(const char *mode)
{
	_cleanup_free_ char *dup = strdup(mode);
	if (!dup || !*dup)
		return false;
	int rw = 0, label = 0, prop = 0, copy = 0;
	char *save = NULL;
	for (char *w = strtok_r(dup, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (!strcmp(w, "ro") || !strcmp(w, "rw"))
			rw++;
		else if (!strcmp(w, "z") || !strcmp(w, "Z"))
			label++;
		else if (is_propagation(w))
			prop++;
		else if (!strcmp(w, "nocopy"))
			copy++;
		else
			return false;
	}
	return rw <= 1 && label <= 1 && prop <= 1 && copy <= 1;
}

static int vol_error(struct cli *cli, const char *spec, const char *why)
{
	return cli_usage_error(cli, "invalid volume specification: '%s'%s%s", spec, why ? ": " : "", why ? why : "");
}

static int check_target(struct cli *cli, const char *spec, const char *dst, bool volume_flag)
{
	if (dst[0] != '/') {
		char why[1200];
		snprintf(why, sizeof(why), "invalid mount config for type \"%s\": invalid mount path: '%s' mount path "
			 "must be absolute", volume_flag ? "volume" : "bind", dst);
		return vol_error(cli, spec, why);
	}
	if (!strcmp(dst, "/") || strspn(dst, "/") == strlen(dst))
		return vol_error(cli, spec, "invalid specification: destination can't be '/'");
	return 0;
}

static int volume_flag(struct cli *cli, const char *spec, struct ctr_opts *o)
{
	_cleanup_free_ char *dup = strdup(spec);
	if (!dup)
		return oom();
	char *parts[4];
	size_t n = 0;
	for (char *p = dup, *c; n < 4; p = c + 1) {
		parts[n++] = p;
		if (!(c = strchr(p, ':')))
			break;
		*c = '\0';
	}
	if (n == 4 || (n >= 1 && !*parts[0]))
		return vol_error(cli, spec, NULL);
	const char *src = NULL, *dst, *mode = NULL;
	if (n == 1) {
		dst = parts[0];
	} else if (n == 2) {
		if (valid_mode(parts[1]) && parts[0][0] == '/') {
			dst = parts[0];
			mode = parts[1];
		} else {
			src = parts[0];
			dst = parts[1];
		}
	} else {
		src = parts[0];
		dst = parts[1];
		mode = parts[2];
		if (!valid_mode(mode)) {
			char why[600];
			snprintf(why, sizeof(why), "invalid mode: %s", mode);
			return vol_error(cli, spec, why);
		}
	}
	if (!*dst)
		return vol_error(cli, spec, NULL);
	int r = check_target(cli, spec, dst, true);
	if (r)
		return r;
	bool bind = src && src[0] == '/';
	if (src && !bind && !volume_name_ok(src)) {
		char why[1200];
		snprintf(why, sizeof(why), "\"%s\" includes invalid characters for a local volume name, only "
			 "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use "
			 "absolute path", src);
		return vol_error(cli, spec, why);
	}
	struct ctr_mount m = { .type = bind ? CTR_MOUNT_BIND : CTR_MOUNT_VOLUME };
	_cleanup_free_ char *prop = NULL;
	if (mode) {
		_cleanup_free_ char *md = strdup(mode);
		if (!md)
			return oom();
		char *save = NULL;
		for (char *w = strtok_r(md, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
			if (!strcmp(w, "ro"))
				m.readonly = true;
			else if (!strcmp(w, "z") || !strcmp(w, "Z")) {
				/* relabelling is a no-op without SELinux, as with docker on such hosts */
				if (selinux_enabled())
					return vol_error(cli, spec, "SELinux relabelling (z/Z) is not supported by berth");
			} else if (!strcmp(w, "nocopy")) {
				if (bind)
					return vol_error(cli, spec, "nocopy is only valid for volumes");
				m.no_copy = true;
			} else if (is_propagation(w)) {
				if (!bind)
					return vol_error(cli, spec, "bind propagation is only valid for bind mounts");
				if (!(prop = strdup(w)))
					return oom();
			}
		}
	}
	struct ctr_mount *dstm = mount_add(o);
	if (!dstm)
		return oom();
	*dstm = m;
	dstm->propagation = prop ? steal_ptr(prop) : bind ? strdup("rprivate") : NULL;
	if ((src && !(dstm->source = strdup(src))) || !(dstm->destination = strdup(dst)) ||
	    (bind && !dstm->propagation))
		return oom();
	return 0;
}

static int opt_bool(const char *v, bool *out)
{
	if (!v || !strcasecmp(v, "true") || !strcmp(v, "1")) {
		*out = true;
		return 0;
	}
	if (!strcasecmp(v, "false") || !strcmp(v, "0")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

static int parse_mode(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 8);
	if (errno || end == s || *end || v > 07777)
		return -EINVAL;
	*out = (unsigned) v;
	return 0;
}

static int mount_error(struct cli *cli, const char *spec, const char *fmt, const char *a)
{
	char why[1200];
	snprintf(why, sizeof(why), fmt, a);
	return bad_value(cli, "--mount", spec, why);
}

static int mount_flag(struct cli *cli, const char *spec, struct ctr_opts *o)
{
	_cleanup_free_ char *dup = strdup(spec), *src = NULL, *dst = NULL, *prop = NULL;
	if (!dup)
		return oom();
	const char *type = "volume";
	bool ro = false, nocopy = false, seen_nocopy = false, seen_tmpfs = false;
	int64_t tsize = 0;
	unsigned tmode = 0;
	char *save = NULL;
	for (char *kv = strtok_r(dup, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		const char *val = eq ? eq + 1 : NULL;
		if (eq)
			*eq = '\0';
		const char *key = kv;
		if (!strcmp(key, "readonly") || !strcmp(key, "ro")) {
			if (opt_bool(val, &ro) < 0)
				return mount_error(cli, spec, "invalid value for %s: must be true or false", key);
			continue;
		}
		if (!strcmp(key, "volume-nocopy")) {
			if (opt_bool(val, &nocopy) < 0)
				return mount_error(cli, spec, "invalid value for %s: must be true or false", key);
			seen_nocopy = true;
			continue;
		}
		if (!val)
			return mount_error(cli, spec, "invalid field '%s' must be a key=value pair", key);
		if (!strcmp(key, "type")) {
			if (strcmp(val, "bind") && strcmp(val, "volume") && strcmp(val, "tmpfs"))
				return mount_error(cli, spec, "invalid mount type '%s' (berth supports bind, volume and "
						   "tmpfs)", val);
			type = val;
		} else if (!strcmp(key, "source") || !strcmp(key, "src")) {
			free(src);
			if (!(src = strdup(val)))
				return oom();
		} else if (!strcmp(key, "target") || !strcmp(key, "destination") || !strcmp(key, "dst")) {
			free(dst);
			if (!(dst = strdup(val)))
				return oom();
		} else if (!strcmp(key, "bind-propagation")) {
			if (!is_propagation(val))
				return mount_error(cli, spec, "invalid propagation mode: %s", val);
			free(prop);
			if (!(prop = strdup(val)))
				return oom();
		} else if (!strcmp(key, "tmpfs-size")) {
			if (runflags_parse_size(val, &tsize) < 0)
				return mount_error(cli, spec, "invalid tmpfs-size: %s", val);
			seen_tmpfs = true;
		} else if (!strcmp(key, "tmpfs-mode")) {
			if (parse_mode(val, &tmode) < 0)
				return mount_error(cli, spec, "invalid tmpfs-mode: %s (octal)", val);
			seen_tmpfs = true;
		} else if (!strcmp(key, "consistency")) {
			/* macOS-only in docker; a Linux host has one consistency */
			if (strcmp(val, "default") && strcmp(val, "consistent") && strcmp(val, "cached") &&
			    strcmp(val, "delegated"))
				return mount_error(cli, spec, "invalid consistency: %s", val);
		} else if (!strcmp(key, "volume-driver")) {
			if (strcmp(val, "local"))
				return mount_error(cli, spec, "volume driver '%s' is not supported (only local)", val);
		} else {
			return mount_error(cli, spec, "unexpected key '%s' in mount specification", key);
		}
	}
	if (!dst)
		return mount_error(cli, spec, "target is required%s", "");
	if (dst[0] != '/')
		return mount_error(cli, spec, "invalid mount path: '%s' mount path must be absolute", dst);
	if (strspn(dst, "/") == strlen(dst))
		return mount_error(cli, spec, "invalid specification: destination can't be '%s'", "/");
	struct ctr_mount m = { .destination = dst, .readonly = ro };
	if (!strcmp(type, "bind")) {
		if (!src)
			return mount_error(cli, spec, "invalid mount config for type \"bind\": field Source must not be "
					   "empty%s", "");
		if (src[0] != '/')
			return mount_error(cli, spec, "invalid mount config for type \"bind\": invalid mount path: '%s' "
					   "mount path must be absolute", src);
		if (seen_nocopy || seen_tmpfs)
			return mount_error(cli, spec, "%s options are not valid for a bind mount",
					   seen_nocopy ? "volume" : "tmpfs");
		struct stat st;
		if (stat(src, &st) < 0)
			return mount_error(cli, spec, "invalid mount config for type \"bind\": bind source path does not "
					   "exist: %s", src);
		m.type = CTR_MOUNT_BIND;
		m.propagation = prop ? steal_ptr(prop) : strdup("rprivate");
		if (!m.propagation)
			return oom();
	} else if (!strcmp(type, "volume")) {
		if (prop || seen_tmpfs)
			return mount_error(cli, spec, "%s options are not valid for a volume mount",
					   prop ? "bind" : "tmpfs");
		if (src && !volume_name_ok(src))
			return mount_error(cli, spec, "\"%s\" includes invalid characters for a local volume name, only "
					   "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed", src);
		m.type = CTR_MOUNT_VOLUME;
		m.no_copy = nocopy;
	} else {
		if (src)
			return mount_error(cli, spec, "invalid mount config for type \"tmpfs\": field Source must be "
					   "empty%s", "");
		if (prop || seen_nocopy)
			return mount_error(cli, spec, "%s options are not valid for a tmpfs mount",
					   prop ? "bind" : "volume");
		m.type = CTR_MOUNT_TMPFS;
		m.tmpfs_size = tsize;
		m.tmpfs_mode = tmode;
	}
	struct ctr_mount *d = mount_add(o);
	if (!d) {
		free(m.propagation);
		return oom();
	}
	m.source = steal_ptr(src);
	m.destination = steal_ptr(dst);
	*d = m;
	return 0;
}

static int tmpfs_flag(struct cli *cli, const char *spec, struct ctr_opts *o)
{
	const char *colon = strchr(spec, ':');
	_cleanup_free_ char *dst = colon ? strndup(spec, (size_t) (colon - spec)) : strdup(spec);
	if (!dst)
		return oom();
	if (dst[0] != '/')
		return bad_value(cli, "--tmpfs", spec, "invalid mount path: mount path must be absolute");
	if (strspn(dst, "/") == strlen(dst))
		return bad_value(cli, "--tmpfs", spec, "invalid specification: destination can't be '/'");
	struct ctr_mount m = { .type = CTR_MOUNT_TMPFS };
	if (colon) {
		_cleanup_free_ char *opts = strdup(colon + 1);
		if (!opts)
			return oom();
		char *save = NULL;
		for (char *w = strtok_r(opts, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
			char why[400];
			if (!strncmp(w, "size=", 5)) {
				if (runflags_parse_size(w + 5, &m.tmpfs_size) < 0) {
					snprintf(why, sizeof(why), "invalid tmpfs size: %s", w + 5);
					return bad_value(cli, "--tmpfs", spec, why);
				}
			} else if (!strncmp(w, "mode=", 5)) {
				if (parse_mode(w + 5, &m.tmpfs_mode) < 0) {
					snprintf(why, sizeof(why), "invalid tmpfs mode: %s (octal)", w + 5);
					return bad_value(cli, "--tmpfs", spec, why);
				}
			} else if (!strcmp(w, "ro")) {
				m.readonly = true;
			} else if (!strcmp(w, "rw")) {
				m.readonly = false;
			} else if (strcmp(w, "noexec") && strcmp(w, "nosuid") && strcmp(w, "nodev")) {
				/* noexec,nosuid,nodev are what every berth tmpfs gets */
				snprintf(why, sizeof(why), "unsupported tmpfs option '%s' (berth supports size=, mode=, ro, "
					 "rw, noexec, nosuid, nodev)", w);
				return bad_value(cli, "--tmpfs", spec, why);
			}
		}
	}
	struct ctr_mount *d = mount_add(o);
	if (!d)
		return oom();
	m.destination = steal_ptr(dst);
	*d = m;
	return 0;
}

/* ------------------------------------------------------------------ the rest */

static int ulimit_flag(struct cli *cli, const char *v, struct ctr_opts *o)
{
	static const char *const names[] = { "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue",
					     "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending",
					     "stack" };
	const char *eq = strchr(v, '=');
	char why[400];
	if (!eq) {
		snprintf(why, sizeof(why), "invalid ulimit argument: %s", v);
		return bad_value(cli, "--ulimit", v, why);
	}
	bool known = false;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		known |= strlen(names[i]) == (size_t) (eq - v) && !strncmp(v, names[i], (size_t) (eq - v));
	if (!known) {
		snprintf(why, sizeof(why), "invalid ulimit type: %.*s", (int) (eq - v), v);
		return bad_value(cli, "--ulimit", v, why);
	}
	char *end;
	errno = 0;
	long long soft = strtoll(eq + 1, &end, 10), hard = soft;
	if (errno || end == eq + 1 || (*end && *end != ':'))
		goto bad;
	if (*end == ':') {
		const char *h = end + 1;
		hard = strtoll(h, &end, 10);
		if (errno || end == h || *end)
			goto bad;
	}
	if (soft > hard) {
		snprintf(why, sizeof(why), "ulimit soft limit must be less than or equal to hard limit: %lld > %lld",
			 soft, hard);
		return bad_value(cli, "--ulimit", v, why);
	}
	return strv_push(&o->ulimits, v) < 0 ? oom() : 0;
bad:
	snprintf(why, sizeof(why), "invalid ulimit argument: %s", v);
	return bad_value(cli, "--ulimit", v, why);
}

/* docker accepts "net_admin" and "CAP_NET_ADMIN" alike; store the bare upper-case name */
static int cap_flag(struct cli *cli, const char *flag, const char *v, char ***list)
{
	_cleanup_free_ char *up = strdup(v);
	if (!up)
		return oom();
	for (char *p = up; *p; p++)
		*p = (char) toupper((unsigned char) *p);
	const char *name = strncmp(up, "CAP_", 4) ? up : up + 4;
	if (!*name)
		return bad_value(cli, flag, v, "empty capability name");
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char) *p) && *p != '_')
			return bad_value(cli, flag, v, "invalid capability name");
	return strv_push(list, name) < 0 ? oom() : 0;
}

static int security_opt(struct cli *cli, const char *v, struct ctr_opts *o)
{
	if (!strncmp(v, "no-new-privileges", 17)) {
		const char *rest = v + 17;
		bool b = true;
		if (*rest && ((*rest != '=' && *rest != ':') || opt_bool(rest + 1, &b) < 0))
			return bad_value(cli, "--security-opt", v, "invalid --security-opt: no-new-privileges takes "
					 "true or false");
		o->no_new_privileges = b;
		return 0;
	}
	if (!strncmp(v, "seccomp", 7) && (v[7] == '=' || v[7] == ':')) {
		const char *p = v + 8;
		if (!*p)
			return bad_value(cli, "--security-opt", v, "seccomp: empty profile");
		if (!strcmp(p, "unconfined"))
			return set_str(&o->seccomp, p) < 0 ? oom() : 0;
		/* the profile is read at create time, maybe from another directory: keep an absolute path */
		_cleanup_free_ char *abs = realpath(p, NULL);
		if (!abs) {
			char why[600];
			snprintf(why, sizeof(why), "opening seccomp profile (%s) failed: %s", p, strerror(errno));
			return bad_value(cli, "--security-opt", v, why);
		}
		return set_str(&o->seccomp, abs) < 0 ? oom() : 0;
	}
	if ((!strncmp(v, "apparmor", 8) && (v[8] == '=' || v[8] == ':')) ||
	    (!strncmp(v, "label", 5) && (v[5] == '=' || v[5] == ':')) ||
	    (!strncmp(v, "systempaths", 11) && v[11] == '='))
		return strv_push(&o->security_opts, v) < 0 ? oom() : 0;
	return bad_value(cli, "--security-opt", v, "invalid --security-opt: expected no-new-privileges, seccomp=, "
			 "apparmor= or label=");
}

static int device_flag(struct cli *cli, const char *v, struct ctr_opts *o)
{
	_cleanup_free_ char *dup = strdup(v);
	if (!dup)
		return oom();
	char *parts[4];
	size_t n = 0;
	for (char *p = dup, *c; n < 4; p = c + 1) {
		parts[n++] = p;
		if (!(c = strchr(p, ':')))
			break;
		*c = '\0';
	}
	char why[400];
	snprintf(why, sizeof(why), "bad format for path: %s", v);
	if (n == 4 || parts[0][0] != '/')
		return bad_value(cli, "--device", v, why);
	const char *perm = NULL;
	if (n == 3) {
		if (parts[1][0] != '/')
			return bad_value(cli, "--device", v, why);
		perm = parts[2];
	} else if (n == 2) {
		if (parts[1][0] != '/')
			perm = parts[1];
	}
	if (perm) {
		if (!*perm || strspn(perm, "rwm") != strlen(perm)) {
			snprintf(why, sizeof(why), "invalid device mode: %s", perm);
			return bad_value(cli, "--device", v, why);
		}
	}
	return strv_push(&o->devices, v) < 0 ? oom() : 0;
}

static int restart_flag(struct cli *cli, const char *v, struct ctr_opts *o)
{
	const char *colon = strchr(v, ':');
	size_t nlen = colon ? (size_t) (colon - v) : strlen(v);
	char why[300];
	if (nlen == 10 && !strncmp(v, "on-failure", 10)) {
		if (colon) {
			char *end;
			errno = 0;
			long n = strtol(colon + 1, &end, 10);
			if (errno || end == colon + 1 || *end || n < 0)
				return bad_value(cli, "--restart", v, "invalid restart policy format: maximum retry count "
						 "must be an integer");
		}
		return set_str(&o->restart, v) < 0 ? oom() : 0;
	}
	static const char *const others[] = { "no", "always", "unless-stopped" };
	for (size_t i = 0; i < ARRAY_SIZE(others); i++) {
		if (strlen(others[i]) != nlen || strncmp(v, others[i], nlen))
			continue;
		if (colon) {
			snprintf(why, sizeof(why), "maximum retry count cannot be used with restart policy '%s'", others[i]);
			return bad_value(cli, "--restart", v, why);
		}
		return set_str(&o->restart, v) < 0 ? oom() : 0;
	}
	snprintf(why, sizeof(why), "invalid restart policy '%.*s'", (int) nlen, v);
	return bad_value(cli, "--restart", v, why);
}

static int log_opt(struct cli *cli, const char *v, struct ctr_opts *o)
{
	const char *eq = strchr(v, '=');
	char why[300];
	if (!eq)
		return bad_value(cli, "--log-opt", v, "invalid key value pair format in log options");
	if (!strncmp(v, "max-size=", 9)) {
		int64_t sz;
		if (runflags_parse_size(eq + 1, &sz) < 0 || sz <= 0) {
			snprintf(why, sizeof(why), "invalid max-size: %s", eq + 1);
			return bad_value(cli, "--log-opt", v, why);
		}
		return set_str(&o->log_max_size, eq + 1) < 0 ? oom() : 0;
	}
	if (!strncmp(v, "max-file=", 9)) {
		char *end;
		errno = 0;
		long n = strtol(eq + 1, &end, 10);
		if (errno || end == eq + 1 || *end || n < 1 || n > 1000)
			return bad_value(cli, "--log-opt", v, "max-file cannot be less than 1");
		o->log_max_file = (int) n;
		return 0;
	}
	snprintf(why, sizeof(why), "unknown log opt '%.*s' for json-file log driver (berth supports max-size and "
		 "max-file)", (int) (eq - v), v);
	return bad_value(cli, "--log-opt", v, why);
}

static int network_flag(struct cli *cli, const char *v, struct ctr_opts *o)
{
	if (!strcmp(v, "none") || !strcmp(v, "host") || (!strncmp(v, "container:", 10) && v[10]))
		return set_str(&o->network, v) < 0 ? oom() : 0;
	return bad_value(cli, "--network", v, "berth supports the networks none, host and container:NAME|ID "
			 "(bridge networks are not available yet)");
}

/* -v binds create a missing host directory, as docker does (--mount refuses instead) */
static int create_bind_dirs(const bool *from_v, const struct ctr_opts *o)
{
	for (size_t i = 0; i < o->n_mounts; i++) {
		const struct ctr_mount *m = &o->mounts[i];
		if (!from_v[i] || m->type != CTR_MOUNT_BIND)
			continue;
		struct stat st;
		if (stat(m->source, &st) == 0)
			continue;
		int r = berth_mkdir_p(m->source, 0755);
		if (r < 0)
			return cli_failf("creating the bind source %s: %s", m->source, strerror(-r));
	}
	return 0;
}

int runflags_parse(struct cli *cli, int argc, char **argv, bool is_run, struct ctr_opts *o)
{
	o->stop_timeout = -1;
	o->log_max_file = 1;
	if (set_str(&o->network, "none") < 0 || set_str(&o->pull, "missing") < 0 || set_str(&o->restart, "no") < 0)
		return oom();
	_cleanup_free_ bool *from_v = NULL;
	size_t from_v_cap = 0;
	int64_t nano_cpus = 0, v = 0;
	const char *cpus_arg = NULL;
	opterr = 0;
	int c, r = 0;
	/* '+': the first argument that is not a flag is the image; the rest is its command */
	while ((c = getopt_long(argc, argv, "+:dite:w:u:v:h:m:c:l:", run_opts, NULL)) != -1) {
		size_t mounts_before = o->n_mounts;
		switch (c) {
		case 'd':
		case O_DETACH:
			if (!is_run)
				return cli_usage_error(cli, "unknown %s: %s", c == 'd' ? "shorthand flag: 'd' in" : "flag",
						       c == 'd' ? "-d" : "--detach");
			if (c == 'd')
				o->detach = true;
			else
				r = bool_flag(cli, "--detach", &o->detach);
			break;
		case 'i': o->interactive = true; break;
		case O_INTERACTIVE: r = bool_flag(cli, "--interactive", &o->interactive); break;
		case 't': o->tty = true; break;
		case O_TTY: r = bool_flag(cli, "--tty", &o->tty); break;
		case O_RM: r = bool_flag(cli, "--rm", &o->rm); break;
		case O_READ_ONLY: r = bool_flag(cli, "--read-only", &o->read_only); break;
		case O_PRIVILEGED: r = bool_flag(cli, "--privileged", &o->privileged); break;
		case O_INIT: r = bool_flag(cli, "--init", &o->init); break;
		case O_NAME:
			if (!volume_name_ok(optarg))
				return bad_value(cli, "--name", optarg, "Invalid container name, only "
						 "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
			r = set_str(&o->name, optarg) < 0 ? oom() : 0;
			break;
		case 'e': r = env_flag(cli, "--env", optarg, o); break;
		case O_ENV_FILE: r = env_file(cli, optarg, o); break;
		case 'w':
			if (optarg[0] != '/')
				return bad_value(cli, "--workdir", optarg, "the working directory is invalid, it needs to be "
						 "an absolute path");
			r = set_str(&o->workdir, optarg) < 0 ? oom() : 0;
			break;
		case 'u':
			if (!*optarg)
				return bad_value(cli, "--user", optarg, "empty user");
			r = set_str(&o->user, optarg) < 0 ? oom() : 0;
			break;
		case O_ENTRYPOINT:
			/* docker takes the value as one word; "" clears the image's ENTRYPOINT */
			o->entrypoint_set = true;
			berth_strv_freep(&o->entrypoint);
			o->entrypoint = calloc(2, sizeof(char *));
			if (!o->entrypoint || (*optarg && !(o->entrypoint[0] = strdup(optarg))))
				return oom();
			break;
		case 'v': r = volume_flag(cli, optarg, o); break;
		case O_MOUNT: r = mount_flag(cli, optarg, o); break;
		case O_TMPFS: r = tmpfs_flag(cli, optarg, o); break;
		case 'h':
			r = set_str(&o->hostname, optarg) < 0 ? oom() : 0;
			break;
		case 'm':
			if ((r = size_flag(cli, "--memory", optarg, &o->memory)))
				break;
			if (o->memory > 0 && o->memory < 6 * 1024 * 1024)
				return bad_value(cli, "--memory", optarg, "Minimum memory limit allowed is 6MB");
			break;
		case O_MEMORY_SWAP:
			if (!strcmp(optarg, "-1"))
				o->memory_swap = -1;
			else
				r = size_flag(cli, "--memory-swap", optarg, &o->memory_swap);
			break;
		case O_CPUS:
			if (parse_cpus(optarg, &nano_cpus) < 0)
				return bad_value(cli, "--cpus", optarg, "failed to parse as a rational number");
			cpus_arg = optarg;
			break;
		case 'c':
			if ((r = int_flag(cli, "--cpu-shares", optarg, 0, INT64_MAX, &v)) == 0)
				o->cpu_shares = (uint64_t) v;
			break;
		case O_CPUSET:
			if (!*optarg || strspn(optarg, "0123456789,-") != strlen(optarg))
				return bad_value(cli, "--cpuset-cpus", optarg, "invalid CPU list (e.g. 0-3 or 0,1)");
			r = set_str(&o->cpuset_cpus, optarg) < 0 ? oom() : 0;
			break;
		case O_PIDS: r = int_flag(cli, "--pids-limit", optarg, -1, INT64_MAX, &o->pids_limit); break;
		case O_ULIMIT: r = ulimit_flag(cli, optarg, o); break;
		case O_CAP_ADD: r = cap_flag(cli, "--cap-add", optarg, &o->cap_add); break;
		case O_CAP_DROP: r = cap_flag(cli, "--cap-drop", optarg, &o->cap_drop); break;
		case O_SECURITY_OPT: r = security_opt(cli, optarg, o); break;
		case O_DEVICE: r = device_flag(cli, optarg, o); break;
		case O_SYSCTL: {
			const char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg)
				return bad_value(cli, "--sysctl", optarg, "sysctl must be in the format KEY=VALUE");
			r = strv_push(&o->sysctls, optarg) < 0 ? oom() : 0;
			break;
		}
		case O_STOP_SIGNAL:
			if (berth_signal_parse(optarg) < 0)
				return bad_value(cli, "--stop-signal", optarg, "invalid signal");
			r = set_str(&o->stop_signal, optarg) < 0 ? oom() : 0;
			break;
		case O_STOP_TIMEOUT:
			if ((r = int_flag(cli, "--stop-timeout", optarg, -1, INT_MAX, &v)) == 0)
				o->stop_timeout = (int) v;
			break;
		case O_RESTART: r = restart_flag(cli, optarg, o); break;
		case 'l': {
			_cleanup_free_ char *kv = NULL;
			if (!*optarg || *optarg == '=')
				return bad_value(cli, "--label", optarg, "invalid label: empty name");
			if (asprintf(&kv, strchr(optarg, '=') ? "%s" : "%s=", optarg) < 0)
				return oom();
			r = strv_push(&o->labels, kv) < 0 ? oom() : 0;
			break;
		}
		case O_NETWORK: r = network_flag(cli, optarg, o); break;
		case O_PULL:
			if (strcmp(optarg, "missing") && strcmp(optarg, "always") && strcmp(optarg, "never"))
				return bad_value(cli, "--pull", optarg, "invalid pull option: must be one of \"always\", "
						 "\"missing\" or \"never\"");
			r = set_str(&o->pull, optarg) < 0 ? oom() : 0;
			break;
		case O_RUNTIME:
			if (!*optarg)
				return bad_value(cli, "--runtime", optarg, "empty runtime");
			r = set_str(&o->runtime, optarg) < 0 ? oom() : 0;
			break;
		case O_LOG_OPT: r = log_opt(cli, optarg, o); break;
		case O_PLATFORM: r = set_str(&o->platform, optarg) < 0 ? oom() : 0; break;
		case O_SHM_SIZE:
			if ((r = size_flag(cli, "--shm-size", optarg, &o->shm_size)))
				break;
			if (o->shm_size <= 0)
				return bad_value(cli, "--shm-size", optarg, "shm size must be greater than 0");
			break;
		case O_HELP:
			cli_print_help(cli->cmd, stdout);
			return CLI_OPT_HELP;
		default:
			return cli_opt_error(cli, c, argv);
		}
		if (r)
			return r;
		if (o->n_mounts != mounts_before) {
			if (o->n_mounts > from_v_cap) {
				size_t cap = from_v_cap ? from_v_cap * 2 : 8;
				bool *nv = realloc(from_v, cap * sizeof(*nv));
				if (!nv)
					return oom();
				from_v = nv;
				from_v_cap = cap;
			}
			from_v[o->n_mounts - 1] = c == 'v';
		}
	}
	if (optind >= argc) {
		char path[128];
		return cli_usage_error(cli, "\"%s\" requires at least 1 argument.", cli_cmd_path(cli, path, sizeof(path)));
	}
	if (set_str(&o->image, argv[optind]) < 0)
		return oom();
	if (optind + 1 < argc) {
		for (int i = optind + 1; i < argc; i++)
			if (strv_push(&o->args, argv[i]) < 0)
				return oom();
	}
	if (nano_cpus) {
		o->cpu_period = 100000;
		o->cpu_quota = nano_cpus / 10000;   /* nano CPUs * 100000 / 1e9 */
		if (o->cpu_quota < 1000)
			return bad_value(cli, "--cpus", cpus_arg, "Range of CPUs is from 0.01 to the number of CPUs "
					 "available");
	}
	if (o->memory_swap > 0 && o->memory == 0)
		return cli_usage_error(cli, "You should always set the Memory limit when using Memoryswap limit");
	if (o->memory_swap > 0 && o->memory_swap < o->memory)
		return cli_usage_error(cli, "Minimum memoryswap limit should be larger than memory limit, see usage");
	for (size_t i = 0; i < o->n_mounts; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(o->mounts[i].destination, o->mounts[j].destination))
				return cli_usage_error(cli, "Duplicate mount point: %s", o->mounts[i].destination);
	if (o->n_mounts && (r = create_bind_dirs(from_v, o)))
		return r;
	return 0;
}
