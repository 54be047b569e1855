#include "linux/idmap.h"
#include "linux/namespaces.h"
#include "linux/procfs.h"
#include "core/cleanup.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the kernel lets an unprivileged writer map itself: one line of one
 * id, which is the writer's own effective id. */
static bool own_single_id(const struct spec_id_mapping *m, size_t n, uint32_t own)
{
	return n == 1 && m[0].size == 1 && m[0].host_id == own;
}

static int format_map(const struct spec_id_mapping *m, size_t n, const char *field, char *buf, size_t size,
		      size_t *len, struct berth_error *err)
{
	*len = 0;
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(buf + *len, size - *len, "%u %u %u\n", m[i].container_id, m[i].host_id, m[i].size);
		if (w < 0 || (size_t) w >= size - *len)
			return berth_err(err, E2BIG, "%s: too many entries", field);
		*len += (size_t) w;
	}
	return 0;
}

static int write_direct(int procfd, pid_t pid, const char *file, const char *field,
			const struct spec_id_mapping *m, size_t n, struct berth_error *err)
{
	char buf[4096], rel[64];
	size_t len;
	int r = format_map(m, n, field, buf, sizeof(buf), &len, err);
	if (r < 0)
		return r;
	snprintf(rel, sizeof(rel), "%d/%s", (int) pid, file);
	r = linux_procfs_write(procfd, rel, buf, len, err);
	if (r < 0)
		berth_error_prefix(err, "%s", field);
	return r;
}

/* The helper's full path: PATH first (a distribution may install it
 * elsewhere), then /usr/bin where Debian's uidmap puts it. */
static int find_tool(const char *tool, char *out, size_t size)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = path ? strdup(path) : NULL;
	char *save = NULL;
	for (char *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir; dir = strtok_r(NULL, ":", &save)) {
		struct stat st;
		if (dir[0] != '/')
			continue; /* a relative PATH entry would depend on our cwd */
		snprintf(out, size, "%s/%s", dir, tool);
		if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
			return 0;
	}
	struct stat st;
	snprintf(out, size, "/usr/bin/%s", tool);
	if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
		return 0;
	return -ENOENT;
}

/* The helper's output as one line: line breaks become "; ", the end is
 * trimmed. */
static void one_line(const char *in, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = in; *p && o + 3 < size; p++) {
		if (*p == '\r')
			continue;
		if (*p == '\n') {
			if (p[1] && p[1] != '\n' && o) {
				out[o++] = ';';
				out[o++] = ' ';
			}
			continue;
		}
		out[o++] = *p;
	}
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

static void user_name(uid_t uid, char *out, size_t size)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		snprintf(out, size, "%s", res->pw_name);
	else
		snprintf(out, size, "uid %u", (unsigned) uid);
}

/* newuidmap PID ID LOWER COUNT ... (newgidmap alike).  Our stderr is not
 * theirs: what they say goes into the error, so a caller that logs JSON
 * still gets it. */
static int run_helper(const char *tool, const char *subfile, const char *field, pid_t pid,
		      const struct spec_id_mapping *m, size_t n, uint32_t own, struct berth_error *err)
{
	char exe[4096];
	if (find_tool(tool, exe, sizeof(exe)) < 0)
		return berth_err(err, ENOENT,
				 "%s: an unprivileged user can map only its own id (%u, one id) without %s, "
				 "which is not installed (PATH, /usr/bin; Debian package uidmap)",
				 field, own, tool);

	/* Everything the child needs is made before fork. */
	size_t argc = 2 + 3 * n;
	_cleanup_free_ char **argv = calloc(argc + 1, sizeof(char *));
	_cleanup_free_ char *nums = malloc((3 * n + 1) * 12);
	if (!argv || !nums)
		return berth_err(err, ENOMEM, "%s: out of memory", field);
	/* 12 bytes per number: 10 digits of a u32, a sign, the NUL. */
	char *p = nums;
	argv[0] = (char *) tool;
	argv[1] = p;
	p += snprintf(p, 12, "%d", (int) pid) + 1;
	for (size_t i = 0; i < n; i++) {
		uint32_t v[3] = { m[i].container_id, m[i].host_id, m[i].size };
		for (int k = 0; k < 3; k++) {
			argv[2 + 3 * i + (size_t) k] = p;
			p += snprintf(p, 12, "%u", v[k]) + 1;
		}
	}
	_cleanup_close_ int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return berth_errno(err, errno, "%s: %s: pipe", field, tool);
	_cleanup_close_ int rd = pipefd[0];
	_cleanup_close_ int wr = pipefd[1];

	pid_t child = fork();
	if (child < 0)
		return berth_errno(err, errno, "%s: %s: fork", field, tool);
	if (child == 0) {
		/* A setuid helper gets stdio and nothing else of ours. */
		if ((devnull >= 0 ? dup2(devnull, 0) : 0) < 0 || dup2(wr, 1) < 0 || dup2(wr, 2) < 0)
			_exit(126);
		syscall(SYS_close_range, 3U, ~0U, 0U);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(exe, argv);
		static const char msg[] = "cannot execute the helper\n";
		if (write(2, msg, sizeof(msg) - 1) < 0)
			_exit(127);
		_exit(127);
	}
	close(steal_fd(wr));

	char out[1024];
	size_t used = 0;
	for (;;) {
		char chunk[512];
		ssize_t k = read(rd, chunk, sizeof(chunk));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		/* Keep the beginning (the reason) and drain the rest. */
		size_t take = (size_t) k < sizeof(out) - 1 - used ? (size_t) k : sizeof(out) - 1 - used;
		memcpy(out + used, chunk, take);
		used += take;
	}
	out[used] = '\0';
	int status = 0;
	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR)
			return berth_errno(err, errno, "%s: %s: wait", field, tool);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;

	char said[2048], who[256], how[64];
	one_line(out, said, sizeof(said));
	user_name(getuid(), who, sizeof(who));
	if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
	size_t tl = strlen(tool);
	bool named = strncmp(said, tool, tl) == 0 && said[tl] == ':';
	return berth_err(err, EPERM, "%s: %s%s%s (%s; the ranges must be granted to %s in %s)", field,
			 named ? "" : tool, named ? "" : ": ", said[0] ? said : "failed", how, who, subfile);
}

static int write_one(int procfd, pid_t pid, bool uid, const struct spec_id_mapping *m, size_t n,
		     struct berth_error *err)
{
	const char *field = uid ? "linux.uidMappings" : "linux.gidMappings";
	uint32_t own = uid ? (uint32_t) geteuid() : (uint32_t) getegid();
	if (!own_single_id(m, n, own))
		return run_helper(uid ? "newuidmap" : "newgidmap", uid ? "/etc/subuid" : "/etc/subgid", field, pid,
				  m, n, own, err);
	if (!uid) {
		/* Without privilege the kernel takes a gid_map only once
		 * setgroups is denied: otherwise dropping a group could grant
		 * access that a negative group permission was meant to refuse. */
		char rel[64];
		snprintf(rel, sizeof(rel), "%d/setgroups", (int) pid);
		int r = linux_procfs_write(procfd, rel, "deny", 4, err);
		if (r < 0) {
			berth_error_prefix(err, "%s: deny setgroups before mapping the own gid", field);
			return r;
		}
	}
	return write_direct(procfd, pid, uid ? "uid_map" : "gid_map", field, m, n, err);
}

int linux_idmap_write(int procfd, pid_t pid, const struct spec_linux *l, bool privileged,
		      struct berth_error *err)
{
	if (privileged)
		return linux_ns_write_id_maps(procfd, pid, l, err);
	int r = 0;
	if (l->n_uid_mappings)
		r = write_one(procfd, pid, true, l->uid_mappings, l->n_uid_mappings, err);
	if (r == 0 && l->n_gid_mappings)
		r = write_one(procfd, pid, false, l->gid_mappings, l->n_gid_mappings, err);
	return r;
}

/* ------------------------------------------------------------ config */

/* A minimal scanner over JSON text that jansson has already accepted: it
 * finds where a member or element lies, so the config can be edited in
 * place.  Re-serialising through jansson instead would turn integers beyond
 * int64 (rlimits of 2^64-1) into lossy reals. */

static size_t skip_ws(const char *s, size_t i, size_t n)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* Index just past the value starting at i, or 0 when malformed. */
static size_t skip_value(const char *s, size_t i, size_t n)
{
	if (i >= n)
		return 0;
	if (s[i] == '"') {
		for (i++; i < n; i++) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				return i + 1;
		}
		return 0;
	}
	if (s[i] == '{' || s[i] == '[') {
		size_t depth = 0;
		while (i < n) {
			if (s[i] == '"') {
				i = skip_value(s, i, n);
				if (!i)
					return 0;
				continue;
			}
			if (s[i] == '{' || s[i] == '[')
				depth++;
			else if (s[i] == '}' || s[i] == ']') {
				if (--depth == 0)
					return i + 1;
			}
			i++;
		}
		return 0;
	}
	size_t start = i;
	while (i < n && !strchr(",}] \t\r\n", s[i]))
		i++;
	return i > start ? i : 0;
}

/* Does the string token s[a, b) (quotes included) decode to want? */
static bool token_is(const char *s, size_t a, size_t b, const char *want)
{
	if (!memchr(s + a, '\\', b - a))
		return b - a - 2 == strlen(want) && memcmp(s + a + 1, want, b - a - 2) == 0;
	json_error_t je;
	json_t *v = json_loadb(s + a, b - a, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	bool eq = v && json_is_string(v) && json_string_length(v) == strlen(want) &&
		  memcmp(json_string_value(v), want, strlen(want)) == 0;
	json_decref(v);
	return eq;
}

/* The value of the last member named key (the one jansson kept) of the
 * object at obj; false when absent or malformed. */
static bool member(const char *s, size_t n, size_t obj, const char *key, size_t *vstart, size_t *vend)
{
	bool found = false;
	if (obj >= n || s[obj] != '{')
		return false;
	size_t i = skip_ws(s, obj + 1, n);
	while (i < n && s[i] == '"') {
		size_t kend = skip_value(s, i, n);
		if (!kend)
			return false;
		size_t c = skip_ws(s, kend, n);
		if (c >= n || s[c] != ':')
			return false;
		size_t v = skip_ws(s, c + 1, n);
		size_t vend_ = skip_value(s, v, n);
		if (!vend_)
			return false;
		if (token_is(s, i, kend, key)) {
			*vstart = v;
			*vend = vend_;
			found = true;
		}
		i = skip_ws(s, vend_, n);
		if (i < n && s[i] == ',')
			i = skip_ws(s, i + 1, n);
	}
	return found;
}

/* Element k of the array at arr: its span, and the span to cut to remove it
 * with its separating comma. */
static bool element(const char *s, size_t n, size_t arr, size_t k, size_t *estart, size_t *eend,
		    size_t *cut_from, size_t *cut_to)
{
	if (arr >= n || s[arr] != '[')
		return false;
	size_t i = skip_ws(s, arr + 1, n), prev_end = 0;
	for (size_t idx = 0; i < n && s[i] != ']'; idx++) {
		size_t e = skip_value(s, i, n);
		if (!e)
			return false;
		size_t next = skip_ws(s, e, n);
		bool more = next < n && s[next] == ',';
		if (idx == k) {
			*estart = i;
			*eend = e;
			if (more) {
				*cut_from = i;
				*cut_to = skip_ws(s, next + 1, n);
			} else {
				*cut_from = idx ? prev_end : i;
				*cut_to = e;
			}
			return true;
		}
		prev_end = e;
		i = more ? skip_ws(s, next + 1, n) : next;
	}
	return false;
}

static int splice_text(char **text, size_t *len, size_t from, size_t to, const char *ins)
{
	size_t il = strlen(ins);
	size_t nl = *len - (to - from) + il;
	char *out = malloc(nl + 1);
	if (!out)
		return -ENOMEM;
	memcpy(out, *text, from);
	memcpy(out + from, ins, il);
	memcpy(out + from + il, *text + to, *len - to);
	out[nl] = '\0';
	free(*text);
	*text = out;
	*len = nl;
	return 0;
}

/* Remove mounts[i].options[k] from the text, after checking it is the
 * option the parsed config has there. */
static int remove_option(char **text, size_t *len, size_t i, size_t k, const char *opt, struct berth_error *err)
{
	const char *s = *text;
	size_t n = *len, top = skip_ws(s, 0, n), a, b, ea, eb, oa, ob, ca, cb, from, to;
	if (!member(s, n, top, "mounts", &a, &b) || !element(s, n, a, i, &ea, &eb, &ca, &cb) ||
	    !member(s, n, ea, "options", &oa, &ob) || !element(s, n, oa, k, &ea, &eb, &from, &to) ||
	    s[ea] != '"' || !token_is(s, ea, eb, opt))
		return berth_err(err, EINVAL, "mounts[%zu].options[%zu]: cannot locate \"%s\" in config.json to drop it",
				 i, k, opt);
	if (splice_text(text, len, from, to, "") < 0)
		return berth_err(err, ENOMEM, "config.json: out of memory");
	return 0;
}

/* Append members (",\"k\": v" pieces, leading comma included) at the end
 * of the last top-level "linux" object, so they win over any same-named
 * empty member before them. */
static int append_to_linux(char **text, size_t *len, const char *members, struct berth_error *err)
{
	const char *s = *text;
	size_t n = *len, top = skip_ws(s, 0, n), a, b;
	if (!member(s, n, top, "linux", &a, &b) || s[a] != '{')
		return berth_err(err, EINVAL, "linux: cannot locate the object in config.json to add the id mappings");
	size_t close = b - 1;
	bool empty = skip_ws(s, a + 1, n) == close;
	if (splice_text(text, len, close, close, empty ? members + 1 : members) < 0)
		return berth_err(err, ENOMEM, "config.json: out of memory");
	return 0;
}

static bool id_mapped(const struct spec_id_mapping *m, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (id >= m[i].container_id && (uint64_t) id < (uint64_t) m[i].container_id + m[i].size)
			return true;
	return false;
}

/* A devpts "uid=N"/"gid=N" option whose id the namespace does not map. */
static bool devpts_id_unmapped(const char *opt, const struct spec_id_mapping *um, size_t nu,
			       const struct spec_id_mapping *gm, size_t ng)
{
	bool uid = strncmp(opt, "uid=", 4) == 0;
	if (!uid && strncmp(opt, "gid=", 4) != 0)
		return false;
	const char *v = opt + 4;
	if (*v < '0' || *v > '9')
		return false; /* malformed: the kernel says so, not us */
	char *end;
	errno = 0;
	unsigned long id = strtoul(v, &end, 10);
	if (*end || errno || id > UINT32_MAX)
		return false;
	return uid ? !id_mapped(um, nu, (uint32_t) id) : !id_mapped(gm, ng, (uint32_t) id);
}

int linux_idmap_settle_config(const struct spec_config *cfg, bool unprivileged, uid_t euid, gid_t egid,
			      char **text, size_t *len, struct berth_error *err)
{
	if (!cfg->linux_)
		return 0; /* the config check reports a missing linux object */
	const struct spec_linux *l = cfg->linux_;
	const struct spec_namespace *user = spec_config_namespace(cfg, CLONE_NEWUSER);
	if (unprivileged && !user)
		return berth_err(err, EPERM,
				 "rootless containers need a user namespace (linux.namespaces): add {\"type\": \"user\"} "
				 "(see `berth-runtime spec --rootless`)");
	if (!user || user->path)
		return 0; /* a joined namespace comes with its own mappings */

	struct spec_id_mapping own_u = { 0, (uint32_t) euid, 1 }, own_g = { 0, (uint32_t) egid, 1 };
	bool add_uid = unprivileged && !l->n_uid_mappings;
	bool add_gid = unprivileged && !l->n_gid_mappings;
	const struct spec_id_mapping *um = add_uid ? &own_u : l->uid_mappings;
	const struct spec_id_mapping *gm = add_gid ? &own_g : l->gid_mappings;
	size_t nu = add_uid ? 1 : l->n_uid_mappings, ng = add_gid ? 1 : l->n_gid_mappings;

	_cleanup_free_ char *buf = malloc(*len + 1);
	size_t blen = *len;
	if (!buf)
		return berth_err(err, ENOMEM, "config.json: out of memory");
	memcpy(buf, *text, *len);
	buf[blen] = '\0';
	bool changed = false;
	int r;

	/* Last to first, so the indexes of what is still to drop hold. */
	for (size_t i = cfg->n_mounts; i-- > 0;) {
		const struct spec_mount *m = &cfg->mounts[i];
		if (!m->type || strcmp(m->type, "devpts") != 0)
			continue;
		for (size_t k = m->n_options; k-- > 0;) {
			if (!devpts_id_unmapped(m->options[k], um, nu, gm, ng))
				continue;
			if ((r = remove_option(&buf, &blen, i, k, m->options[k], err)) < 0)
				return r;
			log_debug("mounts[%zu] (%s): dropping \"%s\": the container's user namespace does not map that id",
				  i, m->destination, m->options[k]);
			changed = true;
		}
	}
	if (add_uid || add_gid) {
		char members[256];
		int w = 0;
		if (add_uid)
			w += snprintf(members + w, sizeof(members) - (size_t) w,
				      ",\n\t\t\"uidMappings\": [{\"containerID\": 0, \"hostID\": %u, \"size\": 1}]",
				      (unsigned) euid);
		if (add_gid)
			snprintf(members + w, sizeof(members) - (size_t) w,
				 ",\n\t\t\"gidMappings\": [{\"containerID\": 0, \"hostID\": %u, \"size\": 1}]",
				 (unsigned) egid);
		if ((r = append_to_linux(&buf, &blen, members, err)) < 0)
			return r;
		log_debug("linux.uidMappings/gidMappings: none given; mapping container 0 to %u:%u (rootless)",
			  (unsigned) euid, (unsigned) egid);
		changed = true;
	}
	if (!changed)
		return 0;
	free(*text);
	*text = steal_ptr(buf);
	*len = blen;
	return 1;
}
