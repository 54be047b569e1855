#include "engine/specgen.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "engine/seccomp_default.h"
#include "spec/caps.h"
#include "spec/resources.h"
#include "spec/seccomp.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define DEFAULT_NOFILE 1048576UL
#define DEFAULT_SHM_SIZE (64LL << 20)
#define MIN_MEMORY (6LL << 20)
#define MAX_ID 2147483647UL

/* ---------- small growable string vector ---------- */

struct strv {
	char **v;
	size_t n, cap;
};

static void strv_clear(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	*s = (struct strv) { 0 };
}

/* Takes ownership of `owned` (freed on failure). */
static int strv_push(struct strv *s, char *owned)
{
	if (!owned)
		return -ENOMEM;
	if (s->n + 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **v = realloc(s->v, cap * sizeof(*v));
		if (!v) {
			free(owned);
			return -ENOMEM;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = owned;
	s->v[s->n] = NULL;
	return 0;
}

static int strv_push_dup(struct strv *s, const char *str)
{
	return strv_push(s, strdup(str));
}

static size_t key_len(const char *kv)
{
	const char *eq = strchr(kv, '=');
	return eq ? (size_t) (eq - kv) : strlen(kv);
}

/* Replace the entry with the same KEY, or append: later wins, first position kept. */
static int env_set(struct strv *env, const char *kv)
{
	size_t kl = key_len(kv);
	for (size_t i = 0; i < env->n; i++)
		if (key_len(env->v[i]) == kl && strncmp(env->v[i], kv, kl) == 0) {
			char *d = strdup(kv);
			if (!d)
				return -ENOMEM;
			free(env->v[i]);
			env->v[i] = d;
			return 0;
		}
	return strv_push_dup(env, kv);
}

static bool env_has(const struct strv *env, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < env->n; i++)
		if (key_len(env->v[i]) == kl && strncmp(env->v[i], key, kl) == 0)
			return true;
	return false;
}

static size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static int oom(struct berth_error *err)
{
	return berth_err(err, ENOMEM, "generating the container config: out of memory");
}

/* Decimal without sign or junk, up to max. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	if (!s || !*s || !isdigit((unsigned char) *s))
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* ---------- argv ---------- */

int specgen_argv(const struct ctr_opts *o, const struct image_config *cfg, char ***argv,
		 struct berth_error *err)
{
	struct strv out = { 0 };
	bool have_args = o->args && o->args[0];
	int r = 0;

	if (o->entrypoint_set) {
		/* --entrypoint "" means "no entrypoint", not an empty argv[0]. */
		size_t n = strv_len(o->entrypoint);
		if (!(n == 1 && o->entrypoint[0][0] == '\0'))
			for (size_t i = 0; r == 0 && i < n; i++)
				r = strv_push_dup(&out, o->entrypoint[i]);
	} else if (cfg) {
		for (size_t i = 0; r == 0 && i < cfg->n_entrypoint; i++)
			r = strv_push_dup(&out, cfg->entrypoint[i]);
	}
	if (have_args) {
		for (size_t i = 0; r == 0 && o->args[i]; i++)
			r = strv_push_dup(&out, o->args[i]);
	} else if (!o->entrypoint_set && cfg) {
		for (size_t i = 0; r == 0 && i < cfg->n_cmd; i++)
			r = strv_push_dup(&out, cfg->cmd[i]);
	}
	if (r < 0) {
		strv_clear(&out);
		return oom(err);
	}
	if (out.n == 0) {
		strv_clear(&out);
		return berth_err(err, ENOEXEC, "no command specified");
	}
	*argv = out.v;
	return 0;
}

/* ---------- user resolution (/etc/passwd, /etc/group in the rootfs) ---------- */

struct resolved_user {
	uid_t uid;
	gid_t gid;
	char *home;
	gid_t *gids;
	size_t n_gids;
};

static void resolved_user_clear(struct resolved_user *u)
{
	free(u->home);
	free(u->gids);
	*u = (struct resolved_user) { 0 };
}

/* Open a file of the image read-only, resolved inside the rootfs.  NULL with
 * errno ENOENT when the image has none. */
static FILE *open_in_rootfs(int rootfd, const char *path)
{
	if (rootfd < 0) {
		errno = ENOENT;
		return NULL;
	}
	int fd = berth_open_in_root(rootfd, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	FILE *f = fdopen(fd, "re");
	if (!f) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return f;
}

/* Split a colon-separated line into at most max fields (in place). */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	line[strcspn(line, "\n")] = '\0';
	while (n < max) {
		f[n++] = line;
		char *c = strchr(line, ':');
		if (!c)
			break;
		*c = '\0';
		line = c + 1;
	}
	return n;
}

struct pw_entry {
	bool found;
	char name[256];
	uint64_t uid, gid;
	char home[PATH_MAX];
};

/* A missing /etc/passwd is not an error: the caller decides whether the
 * user had to be found there. */
static int find_passwd(int rootfd, const char *user, struct pw_entry *pw, struct berth_error *err)
{
	_cleanup_fclose_ FILE *f = open_in_rootfs(rootfd, "/etc/passwd");
	*pw = (struct pw_entry) { 0 };
	if (!f) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return berth_errno(err, errno, "reading /etc/passwd of the image");
	}
	uint64_t want_uid = 0;
	bool numeric = parse_u64(user, MAX_ID, &want_uid);
	struct pw_entry by_uid = { 0 };
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		char *fl[7];
		if (line[0] == '#' || split_fields(line, fl, 7) < 7)
			continue;
		uint64_t uid, gid;
		if (!parse_u64(fl[2], MAX_ID, &uid) || !parse_u64(fl[3], MAX_ID, &gid))
			continue;
		bool by_name = strcmp(fl[0], user) == 0;
		if (!by_name && !(numeric && uid == want_uid && !by_uid.found))
			continue;
		struct pw_entry *e = by_name ? pw : &by_uid;
		e->found = true;
		snprintf(e->name, sizeof(e->name), "%s", fl[0]);
		e->uid = uid;
		e->gid = gid;
		snprintf(e->home, sizeof(e->home), "%s", fl[5]);
		if (by_name)
			return 0;
	}
	/* A name match wins over a uid match, as a user may be named "1000". */
	if (by_uid.found)
		*pw = by_uid;
	return 0;
}

/* Look up group `group` (name or number) and, when member is non-NULL, every
 * group listing `member`. */
static int scan_groups(int rootfd, const char *group, bool *found, uint64_t *gid, const char *member,
		       gid_t **gids, size_t *n_gids, struct berth_error *err)
{
	_cleanup_fclose_ FILE *f = open_in_rootfs(rootfd, "/etc/group");
	if (!f) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return berth_errno(err, errno, "reading /etc/group of the image");
	}
	uint64_t want = 0;
	bool numeric = group && parse_u64(group, MAX_ID, &want);
	bool by_num = false;
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		char *fl[4];
		if (line[0] == '#' || split_fields(line, fl, 4) < 4)
			continue;
		uint64_t g;
		if (!parse_u64(fl[2], MAX_ID, &g))
			continue;
		if (group && !(*found && !by_num)) {
			if (strcmp(fl[0], group) == 0) {
				*found = true;
				by_num = false;
				*gid = g;
			} else if (numeric && g == want && !*found) {
				*found = true;
				by_num = true;
				*gid = g;
			}
		}
		if (!member)
			continue;
		for (char *save = NULL, *m = strtok_r(fl[3], ",", &save); m; m = strtok_r(NULL, ",", &save)) {
			if (strcmp(m, member) != 0)
				continue;
			bool dup = false;
			for (size_t i = 0; i < *n_gids; i++)
				dup |= (*gids)[i] == (gid_t) g;
			if (dup)
				break;
			gid_t *n = realloc(*gids, (*n_gids + 1) * sizeof(**gids));
			if (!n)
				return oom(err);
			*gids = n;
			(*gids)[(*n_gids)++] = (gid_t) g;
			break;
		}
	}
	return 0;
}

static int resolve_user(const char *spec, int rootfd, struct resolved_user *u, struct berth_error *err)
{
	_cleanup_free_ char *copy = strdup(spec && *spec ? spec : "0");
	if (!copy)
		return oom(err);
	char *group = strchr(copy, ':');
	if (group)
		*group++ = '\0';
	const char *user = *copy ? copy : "0";
	if (group && !*group)
		group = NULL;

	struct pw_entry pw;
	int r = find_passwd(rootfd, user, &pw, err);
	if (r < 0)
		return r;
	uint64_t num;
	bool numeric = parse_u64(user, UINT64_MAX, &num);
	if (numeric && num > MAX_ID)
		return berth_err(err, EINVAL, "invalid user \"%s\": uids and gids must be in range 0-%lu",
				 spec, MAX_ID);
	if (pw.found) {
		u->uid = (uid_t) pw.uid;
		u->gid = (gid_t) pw.gid;
		u->home = strdup(pw.home[0] ? pw.home : "/");
	} else if (numeric) {
		u->uid = (uid_t) num;
		u->gid = 0;
		u->home = strdup("/");
	} else {
		return berth_err(err, EINVAL, "unable to find user %s: no matching entries in passwd file", user);
	}
	if (!u->home)
		return oom(err);

	/* An explicit group replaces the supplementary groups, as docker does;
	 * otherwise the user's memberships in /etc/group are added. */
	bool gfound = false;
	uint64_t gid = 0;
	r = scan_groups(rootfd, group, &gfound, &gid, group || !pw.found ? NULL : pw.name,
			&u->gids, &u->n_gids, err);
	if (r < 0)
		return r;
	if (group) {
		uint64_t gnum;
		bool gnumeric = parse_u64(group, UINT64_MAX, &gnum);
		if (gnumeric && gnum > MAX_ID)
			return berth_err(err, EINVAL, "invalid group \"%s\": uids and gids must be in range 0-%lu",
					 group, MAX_ID);
		if (gfound)
			u->gid = (gid_t) gid;
		else if (gnumeric)
			u->gid = (gid_t) gnum;
		else
			return berth_err(err, EINVAL, "unable to find group %s: no matching entries in group file",
					 group);
	}
	return 0;
}

/* ---------- capabilities ---------- */

static const char *const docker_default_caps[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
};

static uint64_t all_caps(void)
{
	int last = spec_cap_last_cap();
	if (last >= 63)
		return UINT64_MAX;
	return (1ULL << (last + 1)) - 1;
}

static bool is_all(const char *s)
{
	return strcasecmp(s, "ALL") == 0 || strcasecmp(s, "CAP_ALL") == 0;
}

static int cap_lookup(const char *flag, const char *s, int *cap, struct berth_error *err)
{
	char name[64];
	bool prefixed = strncasecmp(s, "CAP_", 4) == 0;
	if (strlen(s) + 5 > sizeof(name))
		return berth_err(err, EINVAL, "%s: unknown capability: \"%s\"", flag, s);
	snprintf(name, sizeof(name), "%s%s", prefixed ? "" : "CAP_", s);
	for (char *p = name; *p; p++)
		*p = (char) toupper((unsigned char) *p);
	int c = spec_cap_from_name(name);
	if (c < 0 || c > 63)
		return berth_err(err, EINVAL, "%s: unknown capability: \"%s\"", flag, name);
	*cap = c;
	return 0;
}

static bool strv_has_all(char *const *v)
{
	for (size_t i = 0; v && v[i]; i++)
		if (is_all(v[i]))
			return true;
	return false;
}

int specgen_capabilities(const struct ctr_opts *o, uint64_t *caps, struct berth_error *err)
{
	uint64_t set = 0;
	int c, r;
	/* Names are checked even when --privileged makes them moot, so a typo
	 * is reported rather than silently ignored. */
	for (size_t i = 0; o->cap_add && o->cap_add[i]; i++)
		if (!is_all(o->cap_add[i]) && (r = cap_lookup("--cap-add", o->cap_add[i], &c, err)) < 0)
			return r;
	for (size_t i = 0; o->cap_drop && o->cap_drop[i]; i++)
		if (!is_all(o->cap_drop[i]) && (r = cap_lookup("--cap-drop", o->cap_drop[i], &c, err)) < 0)
			return r;
	if (o->privileged) {
		*caps = all_caps();
		return 0;
	}

	if (strv_has_all(o->cap_add)) {
		/* --cap-add ALL: everything, minus what is named in --cap-drop */
		set = all_caps();
		for (size_t i = 0; o->cap_drop && o->cap_drop[i]; i++)
			if (!is_all(o->cap_drop[i]) && cap_lookup("--cap-drop", o->cap_drop[i], &c, err) == 0)
				set &= ~(1ULL << c);
		*caps = set;
		return 0;
	}
	if (!strv_has_all(o->cap_drop))
		for (size_t i = 0; i < ARRAY_SIZE(docker_default_caps); i++) {
			int d = spec_cap_from_name(docker_default_caps[i]);
			if (d >= 0)
				set |= 1ULL << d;
		}
	for (size_t i = 0; o->cap_drop && o->cap_drop[i]; i++)
		if (!is_all(o->cap_drop[i]) && cap_lookup("--cap-drop", o->cap_drop[i], &c, err) == 0)
			set &= ~(1ULL << c);
	/* An added capability wins over the same one dropped (docker >= 20.10). */
	for (size_t i = 0; o->cap_add && o->cap_add[i]; i++)
		if (cap_lookup("--cap-add", o->cap_add[i], &c, err) == 0)
			set |= 1ULL << c;
	*caps = set;
	return 0;
}

static json_t *caps_json(uint64_t set)
{
	json_t *a = json_array();
	for (int c = 0; a && c < 64; c++) {
		if (!(set & (1ULL << c)))
			continue;
		const char *n = spec_cap_name(c);
		if (n && json_array_append_new(a, json_string(n)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *specgen_default_seccomp(const struct ctr_opts *o)
{
	uint64_t caps = 0;
	struct berth_error e = { 0 };
	if (specgen_capabilities(o, &caps, &e) < 0) {
		/* Unknown names are reported by specgen_build; the profile of the
		 * valid part of the request is still the right answer here. */
		struct ctr_opts plain = *o;
		plain.cap_add = plain.cap_drop = NULL;
		specgen_capabilities(&plain, &caps, NULL);
	}
	return seccomp_default_profile(caps);
}

/* ---------- ulimits ---------- */

static const struct {
	const char *name, *type;
	int resource;
} ulimit_names[] = {
	{ "as", "RLIMIT_AS", RLIMIT_AS },
	{ "core", "RLIMIT_CORE", RLIMIT_CORE },
	{ "cpu", "RLIMIT_CPU", RLIMIT_CPU },
	{ "data", "RLIMIT_DATA", RLIMIT_DATA },
	{ "fsize", "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "locks", "RLIMIT_LOCKS", RLIMIT_LOCKS },
	{ "memlock", "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
	{ "msgqueue", "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
	{ "nice", "RLIMIT_NICE", RLIMIT_NICE },
	{ "nofile", "RLIMIT_NOFILE", RLIMIT_NOFILE },
	{ "nproc", "RLIMIT_NPROC", RLIMIT_NPROC },
	{ "rss", "RLIMIT_RSS", RLIMIT_RSS },
	{ "rtprio", "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
	{ "rttime", "RLIMIT_RTTIME", RLIMIT_RTTIME },
	{ "sigpending", "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "stack", "RLIMIT_STACK", RLIMIT_STACK },
};

static bool parse_limit(const char *s, uint64_t *v)
{
	if (strcmp(s, "unlimited") == 0 || strcmp(s, "-1") == 0) {
		*v = UINT64_MAX;  /* RLIM_INFINITY */
		return true;
	}
	return parse_u64(s, UINT64_MAX - 1, v);
}

int specgen_parse_ulimit(const char *s, int *resource, const char **type, uint64_t *soft,
			 uint64_t *hard, struct berth_error *err)
{
	const char *eq = strchr(s, '=');
	if (!eq)
		return berth_err(err, EINVAL, "invalid argument \"%s\" for \"--ulimit\" flag: "
				 "expected name=soft[:hard]", s);
	size_t nl = (size_t) (eq - s);
	size_t i;
	for (i = 0; i < ARRAY_SIZE(ulimit_names); i++)
		if (strlen(ulimit_names[i].name) == nl && strncmp(s, ulimit_names[i].name, nl) == 0)
			break;
	if (i == ARRAY_SIZE(ulimit_names))
		return berth_err(err, EINVAL, "invalid argument \"%s\" for \"--ulimit\" flag: "
				 "invalid ulimit type: %.*s", s, (int) nl, s);
	char buf[64];
	if (strlen(eq + 1) >= sizeof(buf))
		return berth_err(err, EINVAL, "invalid argument \"%s\" for \"--ulimit\" flag: "
				 "invalid ulimit value", s);
	strcpy(buf, eq + 1);
	char *colon = strchr(buf, ':');
	if (colon)
		*colon = '\0';
	uint64_t sv, hv;
	if (!parse_limit(buf, &sv) || (colon && !parse_limit(colon + 1, &hv)))
		return berth_err(err, EINVAL, "invalid argument \"%s\" for \"--ulimit\" flag: "
				 "invalid ulimit value \"%s\" (expected a number, \"unlimited\" or -1)", s, eq + 1);
	if (!colon)
		hv = sv;
	if (sv > hv)
		return berth_err(err, EINVAL, "invalid argument \"%s\" for \"--ulimit\" flag: "
				 "ulimit soft limit must be less than or equal to hard limit", s);
	*resource = ulimit_names[i].resource;
	*type = ulimit_names[i].type;
	*soft = sv;
	*hard = hv;
	return 0;
}

static json_t *limit_json(uint64_t v)
{
	/* jansson integers are signed, so RLIM_INFINITY (2^64-1) cannot be
	 * written as an integer; INT64_MAX is the largest limit every runtime's
	 * JSON reader takes as an integer, and is unlimited in practice. */
	return json_integer(v > (uint64_t) INT64_MAX ? INT64_MAX : (json_int_t) v);
}

static json_t *build_rlimits(const struct ctr_opts *o, const struct specgen_env *env, struct berth_error *err)
{
	struct lim { const char *type; uint64_t soft, hard; } lims[ARRAY_SIZE(ulimit_names)];
	size_t n = 0;
	bool have_nofile = false;
	for (size_t i = 0; o->ulimits && o->ulimits[i]; i++) {
		int res;
		const char *type;
		uint64_t s, h;
		int r = specgen_parse_ulimit(o->ulimits[i], &res, &type, &s, &h, err);
		if (r < 0)
			return NULL;
		have_nofile |= res == RLIMIT_NOFILE;
		size_t j;
		for (j = 0; j < n && strcmp(lims[j].type, type) != 0; j++)
			;
		lims[j] = (struct lim) { type, s, h };  /* later --ulimit of the same name wins */
		if (j == n)
			n++;
	}
	if (!have_nofile) {
		uint64_t v = DEFAULT_NOFILE;
		if (env && env->nofile_hard && env->nofile_hard < v)
			v = env->nofile_hard;
		lims[n++] = (struct lim) { "RLIMIT_NOFILE", v, v };
	}
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_pack("{s:s, s:o, s:o}", "type", lims[i].type,
						       "soft", limit_json(lims[i].soft),
						       "hard", limit_json(lims[i].hard))) < 0) {
			json_decref(a);
			a = NULL;
		}
	if (!a)
		oom(err);
	return a;
}

/* ---------- sysctls ---------- */

static bool sysctl_is_net(const char *k)
{
	return strncmp(k, "net.", 4) == 0;
}

/* The sysctls a container's own namespaces isolate (docker's list). */
static bool sysctl_namespaced(const char *k)
{
	static const char *const ipc[] = {
		"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
		"kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
	};
	for (size_t i = 0; i < ARRAY_SIZE(ipc); i++)
		if (strcmp(k, ipc[i]) == 0)
			return true;
	return strncmp(k, "fs.mqueue.", 10) == 0 || sysctl_is_net(k);
}

static json_t *build_sysctl(const struct ctr_opts *o, bool host_net, struct berth_error *err)
{
	json_t *obj = json_object();
	if (!obj) {
		oom(err);
		return NULL;
	}
	for (size_t i = 0; o->sysctls && o->sysctls[i]; i++) {
		const char *s = o->sysctls[i];
		const char *eq = strchr(s, '=');
		if (!eq || eq == s) {
			berth_err(err, EINVAL, "invalid argument \"%s\" for \"--sysctl\" flag: "
				  "sysctl must be in the format KEY=VALUE", s);
			goto fail;
		}
		_cleanup_free_ char *key = strndup(s, (size_t) (eq - s));
		if (!key) {
			oom(err);
			goto fail;
		}
		/* kernel.* may be written with slashes as in /proc/sys */
		for (char *p = key; *p; p++)
			if (*p == '/')
				*p = '.';
		if (!sysctl_namespaced(key)) {
			berth_err(err, EINVAL, "invalid argument \"%s\" for \"--sysctl\" flag: sysctl '%s' "
				  "is not allowed: it is not namespaced (only IPC, fs.mqueue.* and net.* are)", s, key);
			goto fail;
		}
		if (host_net && sysctl_is_net(key)) {
			berth_err(err, EINVAL, "invalid argument \"%s\" for \"--sysctl\" flag: sysctl '%s' "
				  "not allowed in host network namespace", s, key);
			goto fail;
		}
		if (json_object_set_new(obj, key, json_string(eq + 1)) < 0) {
			oom(err);
			goto fail;
		}
	}
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

/* ---------- devices ---------- */

static bool valid_perms(const char *p)
{
	if (!*p || strlen(p) > 3)
		return false;
	for (; *p; p++)
		if (!strchr("rwm", *p))
			return false;
	return true;
}

struct devctx {
	json_t *devices, *rules;
	const char *perms;   /* NULL: no per-device rule (privileged allows all) */
};

static int add_device(struct devctx *dc, const struct stat *st, const char *ctr_path)
{
	const char *type = S_ISBLK(st->st_mode) ? "b" : "c";
	int r = json_array_append_new(dc->devices, json_pack("{s:s, s:s, s:I, s:I, s:i, s:I, s:I}",
		"path", ctr_path, "type", type,
		"major", (json_int_t) major(st->st_rdev), "minor", (json_int_t) minor(st->st_rdev),
		"fileMode", (int) (st->st_mode & 07777),
		"uid", (json_int_t) st->st_uid, "gid", (json_int_t) st->st_gid));
	if (r == 0 && dc->perms)
		r = json_array_append_new(dc->rules, json_pack("{s:b, s:s, s:I, s:I, s:s}",
			"allow", true, "type", type,
			"major", (json_int_t) major(st->st_rdev), "minor", (json_int_t) minor(st->st_rdev),
			"access", dc->perms));
	return r < 0 ? -ENOMEM : 0;
}

/* The devices under host directory dirfd/..., as ctr_prefix/... in the container.
 * top_skip: names skipped at the top level (the runtime's own /dev content). */
static int add_device_dir(struct devctx *dc, int dfd, const char *host_prefix, const char *ctr_prefix,
			  const char *const *top_skip, int depth, struct berth_error *err)
{
	if (depth > 8)
		return 0;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return berth_errno(err, errno, "--device %s: opening the directory", host_prefix);
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return berth_errno(err, errno, "--device %s: reading the directory", host_prefix);
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		bool skip = false;
		for (size_t i = 0; top_skip && top_skip[i]; i++)
			skip |= strcmp(de->d_name, top_skip[i]) == 0;
		if (skip)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;  /* vanished (hotplug) */
		char host[PATH_MAX], ctr[PATH_MAX];
		if (snprintf(host, sizeof(host), "%s/%s", host_prefix, de->d_name) >= (int) sizeof(host) ||
		    snprintf(ctr, sizeof(ctr), "%s/%s", ctr_prefix, de->d_name) >= (int) sizeof(ctr))
			continue;
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub = openat(dirfd(d), de->d_name,
							 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				continue;
			int r = add_device_dir(dc, sub, host, ctr, NULL, depth + 1, err);
			if (r < 0)
				return r;
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			if (add_device(dc, &st, ctr) < 0)
				return oom(err);
		}
	}
	return 0;
}

static int parse_device(struct devctx *dc, const char *spec, struct berth_error *err)
{
	_cleanup_free_ char *copy = strdup(spec);
	if (!copy)
		return oom(err);
	char *parts[3] = { copy, NULL, NULL };
	size_t n = 1;
	for (char *p = copy; *p && n <= 3; p++)
		if (*p == ':') {
			*p = '\0';
			if (n == 3)
				return berth_err(err, EINVAL, "invalid argument \"%s\" for \"--device\" flag: "
						 "expected HOST[:CONTAINER][:PERMISSIONS]", spec);
			parts[n++] = p + 1;
		}
	const char *host = parts[0], *ctr = host, *perms = "rwm";
	if (n == 2) {
		if (valid_perms(parts[1]))
			perms = parts[1];
		else
			ctr = parts[1];
	} else if (n == 3) {
		ctr = parts[1];
		perms = parts[2];
	}
	if (!valid_perms(perms))
		return berth_err(err, EINVAL, "invalid argument \"%s\" for \"--device\" flag: "
				 "invalid permissions \"%s\" (a combination of r, w and m)", spec, perms);
	if (host[0] != '/' || ctr[0] != '/')
		return berth_err(err, EINVAL, "invalid argument \"%s\" for \"--device\" flag: "
				 "device paths must be absolute", spec);
	struct stat st;
	if (stat(host, &st) < 0)
		return berth_errno(err, errno, "error gathering device information while adding "
				   "custom device \"%s\"", host);
	dc->perms = perms;
	if (S_ISDIR(st.st_mode)) {
		_cleanup_close_ int fd = open(host, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return berth_errno(err, errno, "--device %s", host);
		return add_device_dir(dc, fd, host, ctr, NULL, 0, err);
	}
	if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
		return berth_err(err, EINVAL, "--device %s: not a device node", host);
	return add_device(dc, &st, ctr) < 0 ? oom(err) : 0;
}

/* docker's default device cgroup: nothing but the devices every container
 * has (null, zero, full, random, urandom, tty, console, ptmx, pts, tun), and
 * mknod of any node (it is harmless without read/write access). */
static json_t *default_device_rules(void)
{
	return json_pack("[{s:b, s:s},"
			 " {s:b, s:s, s:s}, {s:b, s:s, s:s},"
			 " {s:b, s:s, s:i, s:i, s:s}, {s:b, s:s, s:i, s:i, s:s}, {s:b, s:s, s:i, s:i, s:s},"
			 " {s:b, s:s, s:i, s:i, s:s}, {s:b, s:s, s:i, s:i, s:s},"
			 " {s:b, s:s, s:i, s:i, s:s}, {s:b, s:s, s:i, s:i, s:s}, {s:b, s:s, s:i, s:i, s:s},"
			 " {s:b, s:s, s:i, s:s}, {s:b, s:s, s:i, s:i, s:s}]",
			 "allow", false, "access", "rwm",
			 "allow", true, "type", "c", "access", "m",
			 "allow", true, "type", "b", "access", "m",
			 "allow", true, "type", "c", "major", 1, "minor", 3, "access", "rwm",
			 "allow", true, "type", "c", "major", 1, "minor", 5, "access", "rwm",
			 "allow", true, "type", "c", "major", 1, "minor", 7, "access", "rwm",
			 "allow", true, "type", "c", "major", 1, "minor", 8, "access", "rwm",
			 "allow", true, "type", "c", "major", 1, "minor", 9, "access", "rwm",
			 "allow", true, "type", "c", "major", 5, "minor", 0, "access", "rwm",
			 "allow", true, "type", "c", "major", 5, "minor", 1, "access", "rwm",
			 "allow", true, "type", "c", "major", 5, "minor", 2, "access", "rwm",
			 "allow", true, "type", "c", "major", 136, "access", "rwm",
			 "allow", true, "type", "c", "major", 10, "minor", 200, "access", "rwm");
}

/* ---------- resources ---------- */

static int build_resources(const struct ctr_opts *o, json_t *res, struct berth_error *err)
{
	if (o->memory < 0)
		return berth_err(err, EINVAL, "invalid --memory %" PRId64 ": must be positive", o->memory);
	if (o->memory > 0 && o->memory < MIN_MEMORY)
		return berth_err(err, EINVAL, "--memory: minimum memory limit allowed is 6MB");
	if (o->memory_swap != 0 && o->memory == 0)
		return berth_err(err, EINVAL, "--memory-swap: you should always set the memory limit "
				 "when using memoryswap limit, see usage");
	if (o->memory_swap > 0 && o->memory_swap < o->memory)
		return berth_err(err, EINVAL, "--memory-swap: minimum memoryswap limit should be larger "
				 "than memory limit, see usage");
	if (o->memory_swap < -1)
		return berth_err(err, EINVAL, "invalid --memory-swap %" PRId64, o->memory_swap);
	int r = 0;
	if (o->memory > 0) {
		/* swap is memory+swap; docker's default lets a container swap as
		 * much as its memory limit */
		int64_t swap = o->memory_swap ? o->memory_swap : 2 * o->memory;
		r |= json_object_set_new(res, "memory", json_pack("{s:I, s:I}", "limit", (json_int_t) o->memory,
								  "swap", (json_int_t) swap));
	}
	json_t *cpu = json_object();
	if (!cpu)
		return oom(err);
	if (o->cpu_shares) {
		if (o->cpu_shares < 2 || o->cpu_shares > 262144) {
			json_decref(cpu);
			return berth_err(err, EINVAL, "--cpu-shares %" PRIu64 ": must be between 2 and 262144",
					 o->cpu_shares);
		}
		r |= json_object_set_new(cpu, "shares", json_integer((json_int_t) o->cpu_shares));
	}
	if (o->cpu_quota) {
		if (o->cpu_quota < 1000 || o->cpu_period < 0 || (o->cpu_period && o->cpu_period < 1000)) {
			json_decref(cpu);
			return berth_err(err, EINVAL, "--cpus: the resulting CPU quota (%" PRId64 "us per %" PRId64
					 "us) is below the kernel's 1ms minimum", o->cpu_quota,
					 o->cpu_period ? o->cpu_period : 100000);
		}
		r |= json_object_set_new(cpu, "quota", json_integer(o->cpu_quota));
		r |= json_object_set_new(cpu, "period", json_integer(o->cpu_period ? o->cpu_period : 100000));
	}
	if (o->cpuset_cpus) {
		if (!spec_resources_cpuset_valid(o->cpuset_cpus, NULL)) {
			json_decref(cpu);
			return berth_err(err, EINVAL, "invalid argument \"%s\" for \"--cpuset-cpus\" flag: "
					 "invalid CPU list", o->cpuset_cpus);
		}
		r |= json_object_set_new(cpu, "cpus", json_string(o->cpuset_cpus));
	}
	if (json_object_size(cpu))
		r |= json_object_set_new(res, "cpu", cpu);
	else
		json_decref(cpu);
	if (o->pids_limit)
		r |= json_object_set_new(res, "pids", json_pack("{s:I}", "limit",
			(json_int_t) (o->pids_limit < 0 ? -1 : o->pids_limit)));
	return r ? oom(err) : 0;
}

/* ---------- mounts ---------- */

static json_t *mount_json(const char *dest, const char *type, const char *src, const char *const *opts)
{
	json_t *a = json_array();
	for (size_t i = 0; a && opts[i]; i++)
		if (json_array_append_new(a, json_string(opts[i])) < 0) {
			json_decref(a);
			a = NULL;
		}
	if (!a)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type", type, "source", src,
			 "options", a);
}
#define OPTS(...) ((const char *const[]) { __VA_ARGS__, NULL })

static bool path_under(const char *path, const char *parent)
{
	size_t n = strlen(parent);
	while (n > 1 && parent[n - 1] == '/')
		n--;
	if (n == 1 && parent[0] == '/')
		return true;
	return strncmp(path, parent, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static size_t path_depth(const char *p)
{
	size_t d = 0;
	for (; *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			d++;
	return d;
}

static bool valid_propagation(const char *p)
{
	static const char *const ok[] = { "private", "rprivate", "shared", "rshared", "slave", "rslave" };
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		if (strcmp(p, ok[i]) == 0)
			return true;
	return false;
}

static json_t *user_mount(const struct ctr_mount *m, struct berth_error *err)
{
	const char *dest = m->destination;
	if (!dest || dest[0] != '/')
		return berth_err(err, EINVAL, "invalid mount config: mount destination \"%s\" must be an "
				 "absolute path", dest ? dest : ""), NULL;
	if (path_depth(dest) == 0)
		return berth_err(err, EINVAL, "invalid mount config: destination can't be '/'"), NULL;
	const char *prop = m->propagation && *m->propagation ? m->propagation : "rprivate";
	if (!valid_propagation(prop))
		return berth_err(err, EINVAL, "invalid mount config for %s: invalid propagation mode \"%s\"",
				 dest, prop), NULL;
	const char *ro = m->readonly ? "ro" : "rw";

	switch (m->type) {
	case CTR_MOUNT_BIND: {
		if (!m->source || m->source[0] != '/')
			return berth_err(err, EINVAL, "invalid mount config for type \"bind\": invalid mount path: "
					 "'%s' mount path must be absolute", m->source ? m->source : ""), NULL;
		struct stat st;
		if (stat(m->source, &st) < 0) {
			if (errno == ENOENT)
				return berth_err(err, ENOENT, "invalid mount config for type \"bind\": bind source "
						 "path does not exist: %s", m->source), NULL;
			return berth_errno(err, errno, "invalid mount config for type \"bind\": %s",
					   m->source), NULL;
		}
		return mount_json(dest, "bind", m->source, OPTS("rbind", prop, ro));
	}
	case CTR_MOUNT_VOLUME:
		if (!m->host_path)
			return berth_err(err, EINVAL, "volume %s for %s: no host path resolved",
					 m->source ? m->source : "(anonymous)", dest), NULL;
		return mount_json(dest, "bind", m->host_path, OPTS("rbind", prop, ro));
	case CTR_MOUNT_TMPFS: {
		char size[48] = "", mode[32];
		if (m->tmpfs_size < 0)
			return berth_err(err, EINVAL, "invalid tmpfs size for %s", dest), NULL;
		if (m->tmpfs_mode > 07777)
			return berth_err(err, EINVAL, "invalid tmpfs mode %o for %s", m->tmpfs_mode, dest), NULL;
		snprintf(mode, sizeof(mode), "mode=%o", m->tmpfs_mode ? m->tmpfs_mode : 01777);
		if (m->tmpfs_size > 0)
			snprintf(size, sizeof(size), "size=%" PRId64, m->tmpfs_size);
		if (size[0])
			return mount_json(dest, "tmpfs", "tmpfs", OPTS("nosuid", "nodev", "noexec", mode, size, ro));
		return mount_json(dest, "tmpfs", "tmpfs", OPTS("nosuid", "nodev", "noexec", mode, ro));
	}
	}
	return berth_err(err, EINVAL, "mount for %s: unknown mount type %d", dest, (int) m->type), NULL;
}

static json_t *build_mounts(const struct ctr_opts *o, const struct specgen_env *env, bool privileged,
			    const char **rootfs_propagation, struct berth_error *err)
{
	const struct ctr_mount *ms = env->mounts ? env->mounts : o->mounts;
	size_t n = env->mounts ? env->n_mounts : o->n_mounts;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (ms[i].destination && ms[j].destination &&
			    strcmp(ms[i].destination, ms[j].destination) == 0)
				return berth_err(err, EINVAL, "Duplicate mount point: %s", ms[i].destination), NULL;

	char shm[48];
	int64_t shm_size = o->shm_size > 0 ? o->shm_size : DEFAULT_SHM_SIZE;
	if (shm_size % 1024 == 0)
		snprintf(shm, sizeof(shm), "size=%" PRId64 "k", shm_size / 1024);
	else
		snprintf(shm, sizeof(shm), "size=%" PRId64, shm_size);
	char hosts[PATH_MAX], hostname[PATH_MAX], resolv[PATH_MAX];
	if (!env->bundle)
		return berth_err(err, EINVAL, "generating the container config: no bundle directory"), NULL;
	if (snprintf(hosts, sizeof(hosts), "%s/hosts", env->bundle) >= (int) sizeof(hosts) ||
	    snprintf(hostname, sizeof(hostname), "%s/hostname", env->bundle) >= (int) sizeof(hostname) ||
	    snprintf(resolv, sizeof(resolv), "%s/resolv.conf", env->bundle) >= (int) sizeof(resolv))
		return berth_err(err, ENAMETOOLONG, "bundle path too long: %s", env->bundle), NULL;
	const char *etc_mode = o->read_only ? "ro" : "rw";
	const char *sys_mode = privileged ? "rw" : "ro";

	json_t *std[] = {
		mount_json("/proc", "proc", "proc", OPTS("nosuid", "noexec", "nodev")),
		mount_json("/dev", "tmpfs", "tmpfs", OPTS("nosuid", "strictatime", "mode=755", "size=65536k")),
		mount_json("/dev/pts", "devpts", "devpts",
			   OPTS("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")),
		mount_json("/sys", "sysfs", "sysfs", OPTS("nosuid", "noexec", "nodev", sys_mode)),
		mount_json("/sys/fs/cgroup", "cgroup", "cgroup",
			   OPTS("nosuid", "noexec", "nodev", "relatime", sys_mode)),
		mount_json("/dev/mqueue", "mqueue", "mqueue", OPTS("nosuid", "noexec", "nodev")),
		mount_json("/dev/shm", "tmpfs", "shm", OPTS("nosuid", "noexec", "nodev", "mode=1777", shm)),
		mount_json("/etc/resolv.conf", "bind", resolv, OPTS("rbind", "rprivate", etc_mode)),
		mount_json("/etc/hostname", "bind", hostname, OPTS("rbind", "rprivate", etc_mode)),
		mount_json("/etc/hosts", "bind", hosts, OPTS("rbind", "rprivate", etc_mode)),
	};
	json_t *out = json_array();
	bool failed = !out;
	for (size_t i = 0; i < ARRAY_SIZE(std); i++) {
		if (!std[i]) {
			failed = true;
			continue;
		}
		/* A user mount at or above a default one replaces it (-v /x:/dev/shm, --tmpfs /dev). */
		const char *dest = json_string_value(json_object_get(std[i], "destination"));
		bool shadowed = false;
		for (size_t j = 0; j < n; j++)
			shadowed |= ms[j].destination && path_under(dest, ms[j].destination);
		if (shadowed || failed)
			json_decref(std[i]);
		else if (json_array_append_new(out, std[i]) < 0)
			failed = true;
	}
	if (failed) {
		json_decref(out);
		return oom(err), NULL;
	}

	/* Parents before children, whatever order the flags came in. */
	size_t *order = calloc(n ? n : 1, sizeof(*order));
	if (!order) {
		json_decref(out);
		return oom(err), NULL;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && path_depth(ms[order[j - 1]].destination ? ms[order[j - 1]].destination : "") >
					      path_depth(ms[order[j]].destination ? ms[order[j]].destination : ""); j--) {
			size_t t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	*rootfs_propagation = NULL;
	for (size_t k = 0; k < n; k++) {
		const struct ctr_mount *m = &ms[order[k]];
		json_t *j = user_mount(m, err);
		if (!j || json_array_append_new(out, j) < 0) {
			if (!berth_error_isset(err))
				oom(err);
			free(order);
			json_decref(out);
			return NULL;
		}
		/* Propagation out of the container needs the rootfs itself to
		 * propagate; otherwise the runtime's default (private) is right. */
		const char *p = m->propagation ? m->propagation : "";
		if (strstr(p, "shared"))
			*rootfs_propagation = "rshared";
		else if (strstr(p, "slave") && !*rootfs_propagation)
			*rootfs_propagation = "rslave";
	}
	free(order);
	return out;
}

/* ---------- security options ---------- */

static bool lsm_apparmor_enabled(void)
{
	_cleanup_free_ char *s = NULL;
	size_t len;
	return berth_read_file("/sys/module/apparmor/parameters/enabled", &s, &len) == 0 && s[0] == 'Y';
}

static bool lsm_selinux_enabled(void)
{
	return access("/sys/fs/selinux/enforce", F_OK) == 0;
}

static bool parse_bool_word(const char *s, bool *v)
{
	if (!strcmp(s, "true") || !strcmp(s, "1")) {
		*v = true;
		return true;
	}
	if (!strcmp(s, "false") || !strcmp(s, "0")) {
		*v = false;
		return true;
	}
	return false;
}

struct secopts {
	bool nnp;
	const char *seccomp;     /* o->seccomp or a security-opt seccomp= */
	const char *apparmor;    /* profile to set, NULL = none */
	bool system_paths_unconfined;
};

static int parse_security_opts(const struct ctr_opts *o, struct secopts *so, struct berth_error *err)
{
	so->nnp = o->no_new_privileges;
	so->seccomp = o->seccomp;
	for (size_t i = 0; o->security_opts && o->security_opts[i]; i++) {
		const char *s = o->security_opts[i];
		/* docker accepts the old "key:value" spelling too */
		size_t kl = strcspn(s, "=:");
		const char *val = s[kl] ? s + kl + 1 : NULL;
		char key[32];
		if (kl >= sizeof(key))
			goto invalid;
		memcpy(key, s, kl);
		key[kl] = '\0';
		if (!strcmp(key, "no-new-privileges")) {
			bool v = true;
			if (val && !parse_bool_word(val, &v))
				goto invalid;
			so->nnp = v;
		} else if (!strcmp(key, "seccomp") && val && *val) {
			so->seccomp = val;
		} else if (!strcmp(key, "systempaths") && val && !strcmp(val, "unconfined")) {
			so->system_paths_unconfined = true;
		} else if (!strcmp(key, "apparmor") && val && *val) {
			if (!strcmp(val, "unconfined")) {
				so->apparmor = NULL;
				continue;
			}
			if (!lsm_apparmor_enabled())
				return berth_err(err, EINVAL, "invalid --security-opt \"%s\": AppArmor is not "
						 "enabled: no LSM is active on this host", s);
			so->apparmor = val;
		} else if (!strcmp(key, "label") && val && *val) {
			if (!strcmp(val, "disable"))
				continue;
			if (!lsm_selinux_enabled())
				return berth_err(err, EINVAL, "invalid --security-opt \"%s\": SELinux is not "
						 "enabled: no LSM is active on this host", s);
			return berth_err(err, EOPNOTSUPP, "--security-opt \"%s\": SELinux labels are not "
					 "supported by berth", s);
		} else {
			goto invalid;
		}
		continue;
invalid:
		return berth_err(err, EINVAL, "invalid --security-opt: \"%s\"", s);
	}
	return 0;
}

/* ---------- seccomp profile files (OCI or docker format) ---------- */

#if defined(__x86_64__)
#define NATIVE_SCMP "SCMP_ARCH_X86_64"
#define NATIVE_GOARCH "amd64"
#elif defined(__i386__)
#define NATIVE_SCMP "SCMP_ARCH_X86"
#define NATIVE_GOARCH "386"
#elif defined(__aarch64__)
#define NATIVE_SCMP "SCMP_ARCH_AARCH64"
#define NATIVE_GOARCH "arm64"
#elif defined(__arm__)
#define NATIVE_SCMP "SCMP_ARCH_ARM"
#define NATIVE_GOARCH "arm"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_SCMP "SCMP_ARCH_PPC64LE"
#define NATIVE_GOARCH "ppc64le"
#elif defined(__s390x__)
#define NATIVE_SCMP "SCMP_ARCH_S390X"
#define NATIVE_GOARCH "s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_SCMP "SCMP_ARCH_RISCV64"
#define NATIVE_GOARCH "riscv64"
#else
#error "specgen: unknown host architecture"
#endif

static bool json_strv_has(json_t *a, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return true;
	return false;
}

static bool kernel_at_least(const char *min)
{
	struct utsname u;
	unsigned a = 0, b = 0, x = 0, y = 0;
	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &x, &y) < 1 || sscanf(min, "%u.%u", &a, &b) < 1)
		return true;
	return x > a || (x == a && y >= b);
}

/* Does docker's includes/excludes block let this rule apply here? */
static bool docker_rule_applies(json_t *sc, uint64_t caps)
{
	json_t *inc = json_object_get(sc, "includes"), *exc = json_object_get(sc, "excludes");
	size_t i;
	json_t *v;
	if (json_is_object(inc)) {
		json_array_foreach(json_object_get(inc, "caps"), i, v) {
			int c = json_is_string(v) ? spec_cap_from_name(json_string_value(v)) : -1;
			if (c < 0 || c > 63 || !(caps & (1ULL << c)))
				return false;
		}
		json_t *arches = json_object_get(inc, "arches");
		if (json_array_size(arches) && !json_strv_has(arches, NATIVE_GOARCH))
			return false;
		const char *mk = json_string_value(json_object_get(inc, "minKernel"));
		if (mk && !kernel_at_least(mk))
			return false;
	}
	if (json_is_object(exc)) {
		json_array_foreach(json_object_get(exc, "caps"), i, v) {
			int c = json_is_string(v) ? spec_cap_from_name(json_string_value(v)) : -1;
			if (c >= 0 && c < 64 && (caps & (1ULL << c)))
				return false;
		}
		if (json_strv_has(json_object_get(exc, "arches"), NATIVE_GOARCH))
			return false;
		const char *mk = json_string_value(json_object_get(exc, "minKernel"));
		if (mk && kernel_at_least(mk))
			return false;
	}
	return true;
}

/* A profile file as docker accepts it (its own format with archMap and
 * includes/excludes, or plain runtime-spec linux.seccomp) -> linux.seccomp. */
static json_t *load_seccomp_file(const char *path, uint64_t caps, struct berth_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = berth_read_file(path, &text, &len);
	if (r < 0)
		return berth_errno(err, r, "--security-opt seccomp=%s: reading the profile", path), NULL;
	json_error_t jerr;
	json_t *in = json_loadb(text, len, 0, &jerr);
	if (!in)
		return berth_err(err, EINVAL, "--security-opt seccomp=%s: line %d column %d: %s", path,
				 jerr.line, jerr.column, jerr.text), NULL;
	json_t *out = json_object();
	json_t *syscalls = json_array();
	if (!json_is_object(in) || !out || !syscalls) {
		if (!json_is_object(in))
			berth_err(err, EINVAL, "--security-opt seccomp=%s: must be a JSON object", path);
		else
			oom(err);
		goto fail;
	}
	const char *key;
	json_t *v;
	json_object_foreach(in, key, v) {
		if (!strcmp(key, "archMap") || !strcmp(key, "syscalls"))
			continue;
		if (json_object_set(out, key, v) < 0)
			goto nomem;
	}
	json_t *am = json_object_get(in, "archMap");
	if (json_is_array(am) && !json_object_get(in, "architectures")) {
		json_t *arches = json_array();
		if (!arches || json_object_set_new(out, "architectures", arches) < 0)
			goto nomem;
		size_t i;
		json_array_foreach(am, i, v) {
			if (strcmp(json_string_value(json_object_get(v, "architecture")) ?: "", NATIVE_SCMP))
				continue;
			if (json_array_append_new(arches, json_string(NATIVE_SCMP)) < 0)
				goto nomem;
			size_t k;
			json_t *sub;
			json_array_foreach(json_object_get(v, "subArchitectures"), k, sub)
				if (json_array_append(arches, sub) < 0)
					goto nomem;
		}
	}
	size_t i;
	json_array_foreach(json_object_get(in, "syscalls"), i, v) {
		if (!json_is_object(v) || !docker_rule_applies(v, caps))
			continue;
		json_t *rule = json_object();
		if (!rule || json_array_append_new(syscalls, rule) < 0)
			goto nomem;
		json_t *names = json_object_get(v, "names");
		json_t *name = json_object_get(v, "name");   /* docker's older single-name spelling */
		if (!names && name)
			r = json_object_set_new(rule, "names", json_pack("[O]", name));
		else
			r = json_object_set(rule, "names", names ? names : json_null());
		const char *field;
		json_t *fv;
		json_object_foreach(v, field, fv)
			if (strcmp(field, "names") && strcmp(field, "name") && strcmp(field, "includes") &&
			    strcmp(field, "excludes") && strcmp(field, "comment"))
				r |= json_object_set(rule, field, fv);
		if (r < 0)
			goto nomem;
	}
	if (json_object_set(out, "syscalls", syscalls) < 0)
		goto nomem;
	json_decref(syscalls);
	json_decref(in);

	/* Check it now, so a broken profile is a create-time error naming the file. */
	char what[PATH_MAX + 32];
	snprintf(what, sizeof(what), "--security-opt seccomp=%s", path);
	struct spec_seccomp *parsed = NULL;
	if (spec_seccomp_parse(out, what, &parsed, err) < 0) {
		json_decref(out);
		return NULL;
	}
	spec_seccomp_free(parsed);
	return out;
nomem:
	oom(err);
fail:
	json_decref(syscalls);
	json_decref(out);
	json_decref(in);
	return NULL;
}

/* ---------- the whole config ---------- */

static const char *const masked_paths[] = {
	"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
};

static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static int build_env(const struct ctr_opts *o, const struct image_config *cfg, const char *hostname,
		     const char *home, struct strv *env, struct berth_error *err)
{
	_cleanup_free_ char *h = NULL;
	if (asprintf(&h, "HOSTNAME=%s", hostname) < 0)
		return oom(err);
	int r = strv_push_dup(env, DEFAULT_PATH);
	r = r ?: strv_push_dup(env, h);
	if (r == 0 && o->tty)
		r = strv_push_dup(env, "TERM=xterm");
	for (size_t i = 0; r == 0 && cfg && i < cfg->n_env; i++)
		if (strchr(cfg->env[i], '=') && cfg->env[i][0] != '=')
			r = env_set(env, cfg->env[i]);
	for (size_t i = 0; r == 0 && o->env && o->env[i]; i++) {
		const char *e = o->env[i];
		if (e[0] == '=' || e[0] == '\0')
			return berth_err(err, EINVAL, "invalid environment variable: %s", e);
		if (strchr(e, '=')) {
			r = env_set(env, e);
			continue;
		}
		/* "-e K": the value comes from our own environment, or K is left out */
		const char *v = getenv(e);
		if (!v)
			continue;
		_cleanup_free_ char *kv = NULL;
		if (asprintf(&kv, "%s=%s", e, v) < 0)
			return oom(err);
		r = env_set(env, kv);
	}
	if (r == 0 && !env_has(env, "HOME")) {
		_cleanup_free_ char *kv = NULL;
		if (asprintf(&kv, "HOME=%s", home) < 0)
			return oom(err);
		r = env_set(env, kv);
	}
	return r < 0 ? oom(err) : 0;
}

static json_t *build_namespaces(const struct specgen_env *env, bool uts)
{
	json_t *a = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}]", "type", "pid", "type", "ipc",
			      "type", "mount", "type", "cgroup");
	if (a && uts && json_array_append_new(a, json_pack("{s:s}", "type", "uts")) < 0)
		goto fail;
	if (a && env->netns_path &&
	    json_array_append_new(a, json_pack("{s:s, s:s}", "type", "network", "path", env->netns_path)) < 0)
		goto fail;
	return a;
fail:
	json_decref(a);
	return NULL;
}

json_t *specgen_build(const struct ctr_opts *o, const struct image_config *cfg, int rootfs_dirfd,
		      const struct specgen_env *env, struct berth_error *err)
{
	if (!env || !env->id || strlen(env->id) < 12)
		return berth_err(err, EINVAL, "generating the container config: invalid container id"), NULL;
	bool host_net = env->netns_path == NULL;

	struct secopts so = { 0 };
	if (parse_security_opts(o, &so, err) < 0)
		return NULL;
	uint64_t caps;
	if (specgen_capabilities(o, &caps, err) < 0)
		return NULL;

	_cleanup_strv_ char **argv = NULL;
	if (specgen_argv(o, cfg, &argv, err) < 0)
		return NULL;
	/* --init (helper P2): the init runs the command as its child. */
	if (o->init) {
		if (!env->init_path || !*env->init_path)
			return berth_err(err, ENOENT, "--init: the init binary (berth-init, installed next to berth) "
					 "was not found"), NULL;
		size_t n = strv_len(argv);
		char **wrapped = calloc(n + 3, sizeof(char *));
		if (!wrapped)
			return oom(err), NULL;
		wrapped[0] = strdup(SPECGEN_INIT_PATH);
		wrapped[1] = strdup("--");
		memcpy(wrapped + 2, argv, n * sizeof(char *));
		free(argv);
		argv = wrapped;
		if (!wrapped[0] || !wrapped[1])
			return oom(err), NULL;
	}
	/* end --init */

	const char *cwd = o->workdir && *o->workdir ? o->workdir
			: cfg && cfg->working_dir && *cfg->working_dir ? cfg->working_dir : "/";
	if (cwd[0] != '/')
		return berth_err(err, EINVAL, "the working directory '%s' is invalid, it needs to be an "
				 "absolute path", cwd), NULL;

	/* Hostname: with the host's network and no --hostname the container
	 * keeps the host's UTS namespace, as docker does. */
	bool uts = !host_net || (o->hostname && *o->hostname);
	char hostname[256];
	if (o->hostname && *o->hostname) {
		if (strlen(o->hostname) > 64)
			return berth_err(err, EINVAL, "invalid hostname \"%s\": longer than 64 characters",
					 o->hostname), NULL;
		snprintf(hostname, sizeof(hostname), "%s", o->hostname);
	} else if (host_net) {
		if (gethostname(hostname, sizeof(hostname)) < 0)
			return berth_errno(err, errno, "gethostname"), NULL;
		hostname[sizeof(hostname) - 1] = '\0';
	} else {
		snprintf(hostname, sizeof(hostname), "%.12s", env->id);
	}

	struct resolved_user user = { 0 };
	const char *user_spec = o->user && *o->user ? o->user : cfg ? cfg->user : NULL;
	if (resolve_user(user_spec, rootfs_dirfd, &user, err) < 0) {
		resolved_user_clear(&user);
		return NULL;
	}

	struct strv envv = { 0 };
	json_t *root = NULL, *process = NULL, *linux_ = NULL, *res = NULL, *devices = NULL;
	if (build_env(o, cfg, hostname, user.home, &envv, err) < 0)
		goto fail;

	json_t *rlimits = build_rlimits(o, env, err);
	if (!rlimits)
		goto fail;
	json_t *gids = json_array();
	for (size_t i = 0; gids && i < user.n_gids; i++)
		if (json_array_append_new(gids, json_integer(user.gids[i])) < 0) {
			json_decref(gids);
			gids = NULL;
		}
	if (user.n_gids && !gids) {
		json_decref(rlimits);
		goto nomem;
	}
	json_t *userj = json_pack("{s:I, s:I, s:o*}", "uid", (json_int_t) user.uid, "gid", (json_int_t) user.gid,
				  "additionalGids", user.n_gids ? gids : NULL);
	if (!user.n_gids)
		json_decref(gids);
	json_t *capj = json_pack("{s:o, s:o, s:o}", "bounding", caps_json(caps), "effective", caps_json(caps),
				 "permitted", caps_json(caps));
	process = json_pack("{s:b, s:o, s:o, s:o, s:s, s:o, s:o, s:b}",
			    "terminal", o->tty, "user", userj,
			    "args", strv_json(argv, strv_len(argv)),
			    "env", strv_json(envv.v, envv.n),
			    "cwd", cwd, "capabilities", capj, "rlimits", rlimits,
			    "noNewPrivileges", so.nnp);
	if (!process)
		goto nomem;
	if (so.apparmor && json_object_set_new(process, "apparmorProfile", json_string(so.apparmor)) < 0)
		goto nomem;

	/* linux section */
	linux_ = json_object();
	res = json_object();
	devices = json_array();
	if (!linux_ || !res || !devices)
		goto nomem;
	json_t *rules = o->privileged ? json_pack("[{s:b, s:s}]", "allow", true, "access", "rwm")
				      : default_device_rules();
	if (!rules || json_object_set_new(res, "devices", rules) < 0)
		goto nomem;
	struct devctx dc = { .devices = devices, .rules = rules };
	if (o->privileged) {
		static const char *const own_dev[] = {
			/* what the runtime makes itself, and the non-device trees */
			"pts", "shm", "mqueue", "fd", "null", "zero", "full", "random", "urandom", "tty",
			"console", "ptmx", NULL,
		};
		_cleanup_close_ int devfd = open("/dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (devfd < 0) {
			berth_errno(err, errno, "--privileged: opening /dev");
			goto fail;
		}
		dc.perms = NULL;
		if (add_device_dir(&dc, devfd, "/dev", "/dev", own_dev, 0, err) < 0)
			goto fail;
	}
	for (size_t i = 0; o->devices && o->devices[i]; i++)
		if (parse_device(&dc, o->devices[i], err) < 0)
			goto fail;
	if (build_resources(o, res, err) < 0)
		goto fail;

	json_t *sysctl = build_sysctl(o, host_net, err);
	if (!sysctl)
		goto fail;
	char cgpath[PATH_MAX];
	const char *parent = env->cgroup_parent && *env->cgroup_parent ? env->cgroup_parent : "/berth";
	size_t pl = strlen(parent);
	while (pl > 1 && parent[pl - 1] == '/')
		pl--;
	snprintf(cgpath, sizeof(cgpath), "%.*s/%s", (int) (pl == 1 ? 0 : pl), parent, env->id);
	int r = json_object_set_new(linux_, "sysctl", sysctl);
	r |= json_object_set_new(linux_, "namespaces", build_namespaces(env, uts));
	r |= json_object_set_new(linux_, "cgroupsPath", json_string(cgpath));
	r |= json_object_set(linux_, "resources", res);
	if (json_array_size(devices))
		r |= json_object_set(linux_, "devices", devices);
	if (!o->privileged && !so.system_paths_unconfined) {
		r |= json_object_set_new(linux_, "maskedPaths", strv_json((char *const *) masked_paths,
									  ARRAY_SIZE(masked_paths)));
		r |= json_object_set_new(linux_, "readonlyPaths", strv_json((char *const *) readonly_paths,
									    ARRAY_SIZE(readonly_paths)));
	}
	if (r)
		goto nomem;
	if (so.seccomp && strcmp(so.seccomp, "unconfined") != 0) {
		json_t *sc = load_seccomp_file(so.seccomp, caps, err);
		if (!sc || json_object_set_new(linux_, "seccomp", sc) < 0)
			goto fail;
	} else if (!so.seccomp && !o->privileged) {
		if (json_object_set_new(linux_, "seccomp", seccomp_default_profile(caps)) < 0)
			goto nomem;
	}

	const char *rootfs_prop = NULL;
	json_t *mounts = build_mounts(o, env, o->privileged, &rootfs_prop, err);
	if (!mounts)
		goto fail;
	/* --init (helper P2): the host's init binary, read-only. */
	if (o->init &&
	    json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:[s,s,s,s]}", "destination", SPECGEN_INIT_PATH,
						    "type", "bind", "source", env->init_path, "options", "bind",
						    "ro", "nosuid", "nodev")) < 0) {
		json_decref(mounts);
		goto nomem;
	}
	/* end --init */
	if (rootfs_prop && json_object_set_new(linux_, "rootfsPropagation", json_string(rootfs_prop)) < 0) {
		json_decref(mounts);
		goto nomem;
	}

	json_t *ann = json_object();
	if (!ann) {
		json_decref(mounts);
		goto nomem;
	}
	if (cfg && json_is_object(cfg->labels)) {
		const char *k;
		json_t *v;
		json_object_foreach(cfg->labels, k, v)
			if (json_is_string(v))
				json_object_set(ann, k, v);
	}
	for (size_t i = 0; o->labels && o->labels[i]; i++) {
		const char *l = o->labels[i];
		size_t kl = key_len(l);
		if (kl == 0) {
			json_decref(ann);
			json_decref(mounts);
			berth_err(err, EINVAL, "invalid label \"%s\": empty key", l);
			goto fail;
		}
		_cleanup_free_ char *k = strndup(l, kl);
		if (!k || json_object_set_new(ann, k, json_string(l[kl] ? l + kl + 1 : "")) < 0) {
			json_decref(ann);
			json_decref(mounts);
			goto nomem;
		}
	}

	/* 1.1.0: nothing here needs 1.2, and crun 1.8 refuses versions it does not know. */
	root = json_pack("{s:s, s:o, s:{s:s, s:b}, s:o, s:o, s:o}",
			 "ociVersion", "1.1.0",
			 "process", process,
			 "root", "path", "rootfs", "readonly", o->read_only,
			 "mounts", mounts,
			 "annotations", ann,
			 "linux", linux_);
	process = linux_ = NULL;  /* consumed by json_pack, also on failure */
	if (!root)
		goto nomem;
	if (uts && json_object_set_new(root, "hostname", json_string(hostname)) < 0)
		goto nomem;
	json_decref(res);
	json_decref(devices);
	strv_clear(&envv);
	resolved_user_clear(&user);
	return root;

nomem:
	oom(err);
fail:
	json_decref(root);
	json_decref(process);
	json_decref(linux_);
	json_decref(res);
	json_decref(devices);
	strv_clear(&envv);
	resolved_user_clear(&user);
	return NULL;
}

int specgen_resolve_user(int rootfs_dirfd, const char *spec, uint32_t *uid, uint32_t *gid, gid_t **gids,
			 size_t *n_gids, struct berth_error *err)
{
	struct resolved_user u = { 0 };
	int r = resolve_user(spec, rootfs_dirfd, &u, err);
	if (r < 0) {
		resolved_user_clear(&u);
		return r;
	}
	*uid = u.uid;
	*gid = u.gid;
	if (gids) {
		*gids = steal_ptr(u.gids);
		*n_gids = u.n_gids;
	}
	resolved_user_clear(&u);
	return 0;
}
