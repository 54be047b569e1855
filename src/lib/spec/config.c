#include "spec/config.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <time.h>
#include <linux/ioprio.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "core/log.h"
#include "spec/caps.h"
#include "spec/mountopts.h"
#include "spec/resources.h"
#include "spec/seccomp.h"

/* sched_setattr(2) flag values are kernel ABI; glibc does not export them
 * and <linux/sched.h> clashes with <sched.h>. */
#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK  0x01
#define SCHED_FLAG_RECLAIM        0x02
#define SCHED_FLAG_DL_OVERRUN     0x04
#define SCHED_FLAG_KEEP_POLICY    0x08
#define SCHED_FLAG_KEEP_PARAMS    0x10
#define SCHED_FLAG_UTIL_CLAMP_MIN 0x20
#define SCHED_FLAG_UTIL_CLAMP_MAX 0x40
#endif
#ifndef SCHED_ISO
#define SCHED_ISO 4
#endif

#define JPATH_MAX 512

/* Per-parse context: the error sink and the host facts read once per parse. */
struct ctx {
	struct berth_error *err;
	int cap_last;
};

struct name_value {
	const char *name;
	long value;
};

static const struct name_value rlimit_names[] = {
	{ "RLIMIT_AS", RLIMIT_AS },
	{ "RLIMIT_CORE", RLIMIT_CORE },
	{ "RLIMIT_CPU", RLIMIT_CPU },
	{ "RLIMIT_DATA", RLIMIT_DATA },
	{ "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "RLIMIT_LOCKS", RLIMIT_LOCKS },
	{ "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
	{ "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
	{ "RLIMIT_NICE", RLIMIT_NICE },
	{ "RLIMIT_NOFILE", RLIMIT_NOFILE },
	{ "RLIMIT_NPROC", RLIMIT_NPROC },
	{ "RLIMIT_RSS", RLIMIT_RSS },
	{ "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
	{ "RLIMIT_RTTIME", RLIMIT_RTTIME },
	{ "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "RLIMIT_STACK", RLIMIT_STACK },
};

static const struct name_value namespace_names[] = {
	{ "pid", CLONE_NEWPID },
	{ "network", CLONE_NEWNET },
	{ "mount", CLONE_NEWNS },
	{ "ipc", CLONE_NEWIPC },
	{ "uts", CLONE_NEWUTS },
	{ "user", CLONE_NEWUSER },
	{ "cgroup", CLONE_NEWCGROUP },
	{ "time", CLONE_NEWTIME },
};

static const struct name_value sched_policy_names[] = {
	{ "SCHED_OTHER", SCHED_OTHER },
	{ "SCHED_FIFO", SCHED_FIFO },
	{ "SCHED_RR", SCHED_RR },
	{ "SCHED_BATCH", SCHED_BATCH },
	{ "SCHED_ISO", SCHED_ISO },
	{ "SCHED_IDLE", SCHED_IDLE },
	{ "SCHED_DEADLINE", SCHED_DEADLINE },
};

static const struct name_value sched_flag_names[] = {
	{ "SCHED_FLAG_RESET_ON_FORK", SCHED_FLAG_RESET_ON_FORK },
	{ "SCHED_FLAG_RECLAIM", SCHED_FLAG_RECLAIM },
	{ "SCHED_FLAG_DL_OVERRUN", SCHED_FLAG_DL_OVERRUN },
	{ "SCHED_FLAG_KEEP_POLICY", SCHED_FLAG_KEEP_POLICY },
	{ "SCHED_FLAG_KEEP_PARAMS", SCHED_FLAG_KEEP_PARAMS },
	{ "SCHED_FLAG_UTIL_CLAMP_MIN", SCHED_FLAG_UTIL_CLAMP_MIN },
	{ "SCHED_FLAG_UTIL_CLAMP_MAX", SCHED_FLAG_UTIL_CLAMP_MAX },
};

static const struct name_value ioprio_class_names[] = {
	{ "IOPRIO_CLASS_RT", IOPRIO_CLASS_RT },
	{ "IOPRIO_CLASS_BE", IOPRIO_CLASS_BE },
	{ "IOPRIO_CLASS_IDLE", IOPRIO_CLASS_IDLE },
};

static const struct name_value time_clock_names[] = {
	{ "monotonic", CLOCK_MONOTONIC },
	{ "boottime", CLOCK_BOOTTIME },
};

static const struct name_value personality_names[] = {
	{ "LINUX", PER_LINUX },
	{ "LINUX32", PER_LINUX32 },
};

static const char *const hook_names[SPEC_HOOK__MAX] = {
	[SPEC_HOOK_PRESTART] = "prestart",
	[SPEC_HOOK_CREATE_RUNTIME] = "createRuntime",
	[SPEC_HOOK_CREATE_CONTAINER] = "createContainer",
	[SPEC_HOOK_START_CONTAINER] = "startContainer",
	[SPEC_HOOK_POSTSTART] = "poststart",
	[SPEC_HOOK_POSTSTOP] = "poststop",
};

static const struct name_value *lookup(const struct name_value *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	return NULL;
}
#define LOOKUP(table, name) lookup(table, ARRAY_SIZE(table), name)

const char *spec_hook_kind_name(enum spec_hook_kind k)
{
	if ((int) k < 0 || k >= SPEC_HOOK__MAX)
		return NULL;
	return hook_names[k];
}

/* ---- JSON paths and typed accessors ------------------------------------ */

/* "parent.child" or "parent[3]"; just the child at the top of process.json,
 * whose JSON path prefix is empty. */
__attribute__((format(printf, 3, 4)))
static const char *jp(char *buf, const char *parent, const char *fmt, ...)
{
	char child[JPATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(child, sizeof(child), fmt, ap);
	va_end(ap);
	int n;
	if (!parent || !*parent)
		n = snprintf(buf, JPATH_MAX, "%s", child);
	else
		n = snprintf(buf, JPATH_MAX, "%s%s%s", parent, child[0] == '[' ? "" : ".", child);
	/* Only absurd keys get here; mark the cut rather than fail the parse. */
	if (n >= JPATH_MAX)
		memcpy(buf + JPATH_MAX - 4, "...", 4);
	return buf;
}

static int bad(struct ctx *c, const char *path, const char *what)
{
	return berth_err(c->err, EINVAL, "%s: %s", path, what);
}

static int oom(struct ctx *c, const char *path)
{
	return berth_errno(c->err, ENOMEM, "%s", path);
}

/* A member, with JSON null read as absent (Go-written configs use null for
 * unset optional fields). */
static json_t *member(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_null(v) ? NULL : v;
}

static int dup_str(struct ctx *c, const char *path, const char *s, char **out)
{
	*out = strdup(s);
	return *out ? 0 : oom(c, path);
}

static int str_value(struct ctx *c, json_t *v, const char *path, char **out)
{
	if (!json_is_string(v))
		return bad(c, path, "must be a string");
	return dup_str(c, path, json_string_value(v), out);
}

/* 1 when present, 0 when absent, <0 on error. */
static int get_str(struct ctx *c, json_t *obj, const char *parent, const char *key,
		   bool required, char **out)
{
	char path[JPATH_MAX];
	json_t *v = member(obj, key);
	jp(path, parent, "%s", key);
	if (!v)
		return required ? bad(c, path, "is required") : 0;
	int r = str_value(c, v, path, out);
	return r < 0 ? r : 1;
}

static int get_bool(struct ctx *c, json_t *obj, const char *parent, const char *key, bool *out)
{
	char path[JPATH_MAX];
	json_t *v = member(obj, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return bad(c, jp(path, parent, "%s", key), "must be a boolean");
	*out = json_is_true(v);
	return 1;
}

static int int_value(struct ctx *c, json_t *v, const char *path, int64_t min, int64_t max,
		     int64_t *out)
{
	if (!json_is_number(v))
		return bad(c, path, "must be a number");
	if (!json_is_integer(v))
		return bad(c, path, "must be an integer");
	json_int_t x = json_integer_value(v);
	if (x < min || x > max)
		return berth_err(c->err, EINVAL, "%s: must be between %" PRId64 " and %" PRId64
				 " (got %" PRId64 ")", path, min, max, (int64_t) x);
	*out = x;
	return 0;
}

/* Values above INT64_MAX reach jansson as reals (see widen_big_integers()). */
static int u64_value(struct ctx *c, json_t *v, const char *path, uint64_t *out)
{
	if (!json_is_number(v))
		return bad(c, path, "must be a number");
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		if (x < 0)
			return bad(c, path, "must not be negative");
		*out = (uint64_t) x;
		return 0;
	}
	/* Every double at or above 2^63 is a whole number; below that, a real
	 * is a fraction or a float the user wrote for an integer field. */
	double d = json_real_value(v);
	if (!(d >= 9223372036854775808.0))
		return bad(c, path, "must be an integer");
	*out = d >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t) d;
	return 0;
}

static int get_int(struct ctx *c, json_t *obj, const char *parent, const char *key,
		   bool required, int64_t min, int64_t max, int64_t *out)
{
	char path[JPATH_MAX];
	json_t *v = member(obj, key);
	jp(path, parent, "%s", key);
	if (!v)
		return required ? bad(c, path, "is required") : 0;
	int r = int_value(c, v, path, min, max, out);
	return r < 0 ? r : 1;
}

static int get_u32(struct ctx *c, json_t *obj, const char *parent, const char *key,
		   bool required, uint32_t *out)
{
	int64_t x = 0;
	int r = get_int(c, obj, parent, key, required, 0, UINT32_MAX, &x);
	if (r > 0)
		*out = (uint32_t) x;
	return r;
}

static int get_u64(struct ctx *c, json_t *obj, const char *parent, const char *key,
		   bool required, uint64_t *out)
{
	char path[JPATH_MAX];
	json_t *v = member(obj, key);
	jp(path, parent, "%s", key);
	if (!v)
		return required ? bad(c, path, "is required") : 0;
	int r = u64_value(c, v, path, out);
	return r < 0 ? r : 1;
}

static json_t *get_typed(struct ctx *c, json_t *obj, const char *parent, const char *key,
			 bool (*is)(const json_t *), const char *what, int *r)
{
	char path[JPATH_MAX];
	json_t *v = member(obj, key);
	*r = 0;
	if (v && !is(v)) {
		*r = bad(c, jp(path, parent, "%s", key), what);
		return NULL;
	}
	return v;
}

static bool is_object(const json_t *v) { return json_is_object(v); }
static bool is_array(const json_t *v) { return json_is_array(v); }

#define get_object(c, obj, parent, key, r) get_typed(c, obj, parent, key, is_object, "must be an object", r)
#define get_array(c, obj, parent, key, r) get_typed(c, obj, parent, key, is_array, "must be an array", r)

/* An array of strings as a NULL-terminated vector.  1/0/<0 as above. */
static int get_strv(struct ctx *c, json_t *obj, const char *parent, const char *key,
		    char ***out, size_t *n)
{
	char path[JPATH_MAX], ipath[JPATH_MAX];
	int r;
	json_t *a = get_array(c, obj, parent, key, &r);
	if (!a)
		return r;
	jp(path, parent, "%s", key);
	size_t len = json_array_size(a);
	char **v = calloc(len + 1, sizeof(char *));
	if (!v)
		return oom(c, path);
	*out = v;
	*n = len;
	size_t i;
	json_t *e;
	json_array_foreach(a, i, e) {
		r = str_value(c, e, jp(ipath, path, "[%zu]", i), &v[i]);
		if (r < 0)
			return r;
	}
	return 1;
}

static bool is_abs(const char *p)
{
	return p && p[0] == '/';
}

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* ---- jansson front end --------------------------------------------------- */

/* jansson rejects integers above INT64_MAX, but uint64 fields (rlimits with
 * RLIM_INFINITY = 18446744073709551615 above all) legitimately carry them.
 * Such literals are rewritten as reals ("…15.0") before parsing; u64_value()
 * maps them back (reals at or above 2^64 - 2048 become UINT64_MAX, the only
 * value in that range anyone writes).  Returns NULL with *out_len = 0 when
 * nothing needed rewriting, NULL with *out_len = SIZE_MAX on ENOMEM. */
static bool big_uint_literal(const char *s, size_t n)
{
	static const char i64max[] = "9223372036854775807";
	static const char u64max[] = "18446744073709551615";
	if (n < 19 || n > 20 || s[0] == '0')
		return false;
	if (n == 19 && memcmp(s, i64max, 19) <= 0)
		return false;
	if (n == 20 && memcmp(s, u64max, 20) > 0)
		return false;
	return true;
}

static char *widen_big_integers(const char *json, size_t len, size_t *out_len)
{
	size_t extra = 0;
	char *out = NULL;
	size_t o = 0;

	*out_len = 0;
	for (int pass = 0; pass < 2; pass++) {
		bool in_str = false;
		for (size_t i = 0; i < len;) {
			char ch = json[i];
			if (in_str) {
				if (ch == '\\' && i + 1 < len) {
					if (out) {
						out[o++] = json[i];
						out[o++] = json[i + 1];
					}
					i += 2;
					continue;
				}
				if (ch == '"')
					in_str = false;
			} else if (ch == '"') {
				in_str = true;
			} else if (ch >= '0' && ch <= '9' &&
				   (i == 0 || !strchr("0123456789.eE+-", json[i - 1]))) {
				size_t j = i;
				while (j < len && json[j] >= '0' && json[j] <= '9')
					j++;
				bool real = j < len && (json[j] == '.' || json[j] == 'e' || json[j] == 'E');
				bool widen = !real && big_uint_literal(json + i, j - i);
				if (out) {
					memcpy(out + o, json + i, j - i);
					o += j - i;
					if (widen) {
						out[o++] = '.';
						out[o++] = '0';
					}
				} else if (widen) {
					extra += 2;
				}
				i = j;
				continue;
			}
			if (out)
				out[o++] = ch;
			i++;
		}
		if (pass == 0) {
			if (extra == 0)
				return NULL;
			out = malloc(len + extra + 1);
			if (!out) {
				*out_len = SIZE_MAX;
				return NULL;
			}
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

/* Load JSON text that must be an object; errors are "<origin>: ...". */
static int load_object(const char *json, size_t len, const char *origin, json_t **out,
		       struct berth_error *err)
{
	size_t wide_len;
	_cleanup_free_ char *wide = widen_big_integers(json, len, &wide_len);
	if (!wide && wide_len == SIZE_MAX)
		return berth_errno(err, ENOMEM, "%s", origin);
	json_error_t jerr;
	/* Duplicate keys are accepted (last wins), as runc does. */
	json_t *root = wide ? json_loadb(wide, wide_len, 0, &jerr) : json_loadb(json, len, 0, &jerr);
	if (!root)
		return berth_err(err, EINVAL, "%s: line %d column %d: %s", origin, jerr.line,
				 jerr.column, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return berth_err(err, EINVAL, "%s: must be a JSON object", origin);
	}
	*out = root;
	return 0;
}

/* ---- process ------------------------------------------------------------- */

void spec_process_free(struct spec_process *p)
{
	if (!p)
		return;
	free(p->user.additional_gids);
	free(p->user.username);
	strv_free(p->args);
	strv_free(p->env);
	free(p->cwd);
	if (p->rlimits)
		for (size_t i = 0; i < p->n_rlimits; i++)
			free(p->rlimits[i].type);
	free(p->rlimits);
	free(p->apparmor_profile);
	free(p->selinux_label);
	free(p->exec_cpu_affinity_initial);
	free(p->exec_cpu_affinity_final);
	free(p);
}

static int parse_user(struct ctx *c, json_t *proc, const char *parent, struct spec_user *u)
{
	char path[JPATH_MAX], ipath[JPATH_MAX];
	int r;
	json_t *o = get_object(c, proc, parent, "user", &r);
	if (!o)
		return r;
	jp(path, parent, "user");

	uint32_t v = 0;
	if ((r = get_u32(c, o, path, "uid", false, &v)) < 0)
		return r;
	u->uid = r ? v : 0;
	if ((r = get_u32(c, o, path, "gid", false, &v)) < 0)
		return r;
	u->gid = r ? v : 0;

	int64_t umask_v = 0;
	if ((r = get_int(c, o, path, "umask", false, 0, 0777, &umask_v)) < 0)
		return r;
	if (r) {
		u->has_umask = true;
		u->umask = (mode_t) umask_v;
	}

	json_t *gids = get_array(c, o, path, "additionalGids", &r);
	if (r < 0)
		return r;
	if (gids) {
		size_t n = json_array_size(gids), i;
		json_t *e;
		u->additional_gids = calloc(n ? n : 1, sizeof(gid_t));
		if (!u->additional_gids)
			return oom(c, path);
		u->n_additional_gids = n;
		json_array_foreach(gids, i, e) {
			int64_t g = 0;
			r = int_value(c, e, jp(ipath, path, "additionalGids[%zu]", i), 0, UINT32_MAX, &g);
			if (r < 0)
				return r;
			u->additional_gids[i] = (gid_t) g;
		}
	}
	r = get_str(c, o, path, "username", false, &u->username);
	return r < 0 ? r : 0;
}

static int parse_capabilities(struct ctx *c, json_t *proc, const char *parent, struct spec_process *p)
{
	static const char *const sets[] = { "bounding", "effective", "inheritable", "permitted", "ambient" };
	char path[JPATH_MAX], spath[JPATH_MAX], ipath[JPATH_MAX];
	int r;
	json_t *o = get_object(c, proc, parent, "capabilities", &r);
	if (!o)
		return r;
	jp(path, parent, "capabilities");
	p->has_capabilities = true;

	uint64_t *masks[] = { &p->caps.bounding, &p->caps.effective, &p->caps.inheritable,
			      &p->caps.permitted, &p->caps.ambient };
	for (size_t s = 0; s < ARRAY_SIZE(sets); s++) {
		json_t *a = get_array(c, o, path, sets[s], &r);
		if (r < 0)
			return r;
		if (!a)
			continue;
		jp(spath, path, "%s", sets[s]);
		size_t i;
		json_t *e;
		json_array_foreach(a, i, e) {
			jp(ipath, spath, "[%zu]", i);
			if (!json_is_string(e))
				return bad(c, ipath, "must be a string");
			const char *name = json_string_value(e);
			int cap = spec_cap_from_name(name);
			/* The spec asks runtimes to warn, not fail, on capabilities
			 * they cannot grant, so configs written for newer kernels
			 * still run. */
			if (cap < 0) {
				log_warn("%s: unknown capability \"%s\", ignoring it", ipath, name);
				continue;
			}
			if (cap > c->cap_last) {
				log_warn("%s: capability \"%s\" is not supported by the running kernel, ignoring it",
					 ipath, name);
				continue;
			}
			*masks[s] |= UINT64_C(1) << cap;
		}
	}
	return 0;
}

static int parse_rlimits(struct ctx *c, json_t *proc, const char *parent, struct spec_process *p)
{
	char path[JPATH_MAX], ipath[JPATH_MAX], tpath[JPATH_MAX];
	int r;
	json_t *a = get_array(c, proc, parent, "rlimits", &r);
	if (!a)
		return r;
	jp(path, parent, "rlimits");
	size_t n = json_array_size(a), i;
	json_t *e;
	p->rlimits = calloc(n ? n : 1, sizeof(*p->rlimits));
	if (!p->rlimits)
		return oom(c, path);
	p->n_rlimits = n;
	json_array_foreach(a, i, e) {
		struct spec_rlimit *rl = &p->rlimits[i];
		jp(ipath, path, "[%zu]", i);
		if (!json_is_object(e))
			return bad(c, ipath, "must be an object");
		if ((r = get_str(c, e, ipath, "type", true, &rl->type)) < 0)
			return r;
		jp(tpath, ipath, "type");
		const struct name_value *nv = LOOKUP(rlimit_names, rl->type);
		if (!nv)
			return berth_err(c->err, EINVAL, "%s: unknown rlimit \"%s\"", tpath, rl->type);
		rl->resource = (int) nv->value;
		for (size_t j = 0; j < i; j++)
			if (p->rlimits[j].resource == rl->resource)
				return berth_err(c->err, EINVAL, "%s: duplicate rlimit \"%s\" (also in %s[%zu])",
						 tpath, rl->type, path, j);
		if ((r = get_u64(c, e, ipath, "soft", true, &rl->soft)) < 0)
			return r;
		if ((r = get_u64(c, e, ipath, "hard", true, &rl->hard)) < 0)
			return r;
		if (rl->soft > rl->hard)
			return berth_err(c->err, EINVAL, "%s: soft limit %" PRIu64 " exceeds hard limit %" PRIu64,
					 ipath, rl->soft, rl->hard);
	}
	return 0;
}

static int parse_scheduler(struct ctx *c, json_t *proc, const char *parent, struct spec_process *p)
{
	char path[JPATH_MAX], ipath[JPATH_MAX];
	int r;
	json_t *o = get_object(c, proc, parent, "scheduler", &r);
	if (!o)
		return r;
	jp(path, parent, "scheduler");
	p->has_scheduler = true;

	_cleanup_free_ char *policy = NULL;
	if ((r = get_str(c, o, path, "policy", true, &policy)) < 0)
		return r;
	const struct name_value *nv = LOOKUP(sched_policy_names, policy);
	if (!nv)
		return berth_err(c->err, EINVAL, "%s: unknown scheduling policy \"%s\"",
				 jp(ipath, path, "policy"), policy);
	p->scheduler.policy = (int) nv->value;

	int64_t v = 0;
	if ((r = get_int(c, o, path, "nice", false, -20, 19, &v)) < 0)
		return r;
	p->scheduler.nice = r ? (int) v : 0;
	if ((r = get_int(c, o, path, "priority", false, INT32_MIN, INT32_MAX, &v)) < 0)
		return r;
	p->scheduler.priority = r ? (int) v : 0;

	json_t *flags = get_array(c, o, path, "flags", &r);
	if (r < 0)
		return r;
	if (flags) {
		size_t i;
		json_t *e;
		json_array_foreach(flags, i, e) {
			jp(ipath, path, "flags[%zu]", i);
			if (!json_is_string(e))
				return bad(c, ipath, "must be a string");
			const struct name_value *f = LOOKUP(sched_flag_names, json_string_value(e));
			if (!f)
				return berth_err(c->err, EINVAL, "%s: unknown scheduler flag \"%s\"", ipath,
						 json_string_value(e));
			p->scheduler.flags |= (uint64_t) f->value;
		}
	}
	if ((r = get_u64(c, o, path, "runtime", false, &p->scheduler.runtime)) < 0 ||
	    (r = get_u64(c, o, path, "deadline", false, &p->scheduler.deadline)) < 0 ||
	    (r = get_u64(c, o, path, "period", false, &p->scheduler.period)) < 0)
		return r;

	int pol = p->scheduler.policy;
	if (pol == SCHED_FIFO || pol == SCHED_RR) {
		if (p->scheduler.priority < 1 || p->scheduler.priority > 99)
			return berth_err(c->err, EINVAL, "%s: must be between 1 and 99 for %s",
					 jp(ipath, path, "priority"), policy);
	} else if (p->scheduler.priority != 0) {
		return berth_err(c->err, EINVAL, "%s: only SCHED_FIFO and SCHED_RR take a priority",
				 jp(ipath, path, "priority"));
	}
	if (pol != SCHED_DEADLINE &&
	    (p->scheduler.runtime || p->scheduler.deadline || p->scheduler.period))
		return bad(c, path, "runtime, deadline and period apply to SCHED_DEADLINE only");
	return 0;
}

static int parse_io_priority(struct ctx *c, json_t *proc, const char *parent, struct spec_process *p)
{
	char path[JPATH_MAX], ipath[JPATH_MAX];
	int r;
	json_t *o = get_object(c, proc, parent, "ioPriority", &r);
	if (!o)
		return r;
	jp(path, parent, "ioPriority");
	_cleanup_free_ char *cls = NULL;
	if ((r = get_str(c, o, path, "class", true, &cls)) < 0)
		return r;
	const struct name_value *nv = LOOKUP(ioprio_class_names, cls);
	if (!nv)
		return berth_err(c->err, EINVAL, "%s: unknown I/O priority class \"%s\"",
				 jp(ipath, path, "class"), cls);
	int64_t prio = 0;
	if ((r = get_int(c, o, path, "priority", true, 0, 7, &prio)) < 0)
		return r;
	p->has_io_priority = true;
	p->io_priority_class = (int) nv->value;
	p->io_priority = (int) prio;
	return 0;
}

/* "0-3,7": comma-separated CPU numbers and ascending ranges. */
static bool valid_cpu_list(const char *s)
{
	for (;;) {
		char *end;
		if (*s < '0' || *s > '9')
			return false;
		errno = 0;
		unsigned long a = strtoul(s, &end, 10);
		if (errno)
			return false;
		s = end;
		if (*s == '-') {
			s++;
			if (*s < '0' || *s > '9')
				return false;
			unsigned long b = strtoul(s, &end, 10);
			if (errno || b < a)
				return false;
			s = end;
		}
		if (*s == '\0')
			return true;
		if (*s != ',')
			return false;
		s++;
	}
}

static int parse_cpu_affinity(struct ctx *c, json_t *proc, const char *parent, struct spec_process *p)
{
	char path[JPATH_MAX], ipath[JPATH_MAX];
	int r;
	json_t *o = get_object(c, proc, parent, "execCPUAffinity", &r);
	if (!o)
		return r;
	jp(path, parent, "execCPUAffinity");
	static const char *const keys[] = { "initial", "final" };
	char **dst[] = { &p->exec_cpu_affinity_initial, &p->exec_cpu_affinity_final };
	for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
		if ((r = get_str(c, o, path, keys[k], false, dst[k])) < 0)
			return r;
		if (!*dst[k])
			continue;
		/* Empty means "leave the affinity alone": store as absent. */
		if (!**dst[k]) {
			free(*dst[k]);
			*dst[k] = NULL;
			continue;
		}
		if (!valid_cpu_list(*dst[k]))
			return berth_err(c->err, EINVAL, "%s: invalid CPU list \"%s\"",
					 jp(ipath, path, "%s", keys[k]), *dst[k]);
	}
	return 0;
}

static int parse_process_obj(struct ctx *c, json_t *o, const char *path, struct spec_process **out)
{
	char ipath[JPATH_MAX], kpath[JPATH_MAX];
	int r;
	struct spec_process *p = calloc(1, sizeof(*p));
	if (!p)
		return oom(c, path);

	if ((r = get_bool(c, o, path, "terminal", &p->terminal)) < 0)
		goto fail;

	json_t *cs = get_object(c, o, path, "consoleSize", &r);
	if (r < 0)
		goto fail;
	if (cs) {
		uint32_t h = 0, w = 0;
		jp(kpath, path, "consoleSize");
		if ((r = get_u32(c, cs, kpath, "height", true, &h)) < 0 ||
		    (r = get_u32(c, cs, kpath, "width", true, &w)) < 0)
			goto fail;
		p->has_console_size = true;
		p->console_height = h;
		p->console_width = w;
	}

	if ((r = parse_user(c, o, path, &p->user)) < 0)
		goto fail;

	json_t *args = member(o, "args");
	if (!json_is_array(args) || json_array_size(args) == 0) {
		r = bad(c, jp(kpath, path, "args"), "must be a non-empty array");
		goto fail;
	}
	if ((r = get_strv(c, o, path, "args", &p->args, &p->n_args)) < 0)
		goto fail;

	if ((r = get_strv(c, o, path, "env", &p->env, &p->n_env)) < 0)
		goto fail;
	if (!p->env) {
		p->env = calloc(1, sizeof(char *));
		if (!p->env) {
			r = oom(c, path);
			goto fail;
		}
	}
	for (size_t i = 0; i < p->n_env; i++) {
		const char *eq = strchr(p->env[i], '=');
		if (!eq || eq == p->env[i]) {
			r = berth_err(c->err, EINVAL, "%s: \"%s\" is not of the form KEY=VALUE",
				      jp(ipath, path, "env[%zu]", i), p->env[i]);
			goto fail;
		}
	}

	if ((r = get_str(c, o, path, "cwd", true, &p->cwd)) < 0)
		goto fail;
	if (!is_abs(p->cwd)) {
		r = bad(c, jp(kpath, path, "cwd"), "must be an absolute path");
		goto fail;
	}

	if ((r = parse_capabilities(c, o, path, p)) < 0 ||
	    (r = parse_rlimits(c, o, path, p)) < 0)
		goto fail;
	if ((r = get_bool(c, o, path, "noNewPrivileges", &p->no_new_privileges)) < 0 ||
	    (r = get_str(c, o, path, "apparmorProfile", false, &p->apparmor_profile)) < 0 ||
	    (r = get_str(c, o, path, "selinuxLabel", false, &p->selinux_label)) < 0)
		goto fail;

	int64_t oom_adj = 0;
	if ((r = get_int(c, o, path, "oomScoreAdj", false, -1000, 1000, &oom_adj)) < 0)
		goto fail;
	if (r) {
		p->has_oom_score_adj = true;
		p->oom_score_adj = (int) oom_adj;
	}

	if ((r = parse_scheduler(c, o, path, p)) < 0 ||
	    (r = parse_io_priority(c, o, path, p)) < 0 ||
	    (r = parse_cpu_affinity(c, o, path, p)) < 0)
		goto fail;

	*out = p;
	return 0;
fail:
	spec_process_free(p);
	return r;
}

static struct ctx ctx_init(struct berth_error *err)
{
	return (struct ctx) { .err = err, .cap_last = spec_cap_last_cap() };
}

int spec_process_parse_json(const char *json, size_t len, const char *origin,
			    struct spec_process **out, struct berth_error *err)
{
	if (!origin)
		origin = "process.json";
	json_t *root;
	int r = load_object(json, len, origin, &root, err);
	if (r < 0)
		return r;
	struct ctx c = ctx_init(err);
	r = parse_process_obj(&c, root, "", out);
	json_decref(root);
	if (r < 0)
		berth_error_prefix(err, "%s", origin);
	return r;
}

/* ---- mounts, hooks, annotations -------------------------------------------- */

static int parse_id_mappings(struct ctx *c, json_t *obj, const char *parent, const char *key,
			     struct spec_id_mapping **out, size_t *n_out)
{
	char path[JPATH_MAX], ipath[JPATH_MAX];
	int r;
	json_t *a = get_array(c, obj, parent, key, &r);
	if (!a)
		return r;
	jp(path, parent, "%s", key);
	size_t n = json_array_size(a), i;
	json_t *e;
	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out)
		return oom(c, path);
	*n_out = n;
	json_array_foreach(a, i, e) {
		struct spec_id_mapping *m = &(*out)[i];
		jp(ipath, path, "[%zu]", i);
		if (!json_is_object(e))
			return bad(c, ipath, "must be an object");
		if ((r = get_u32(c, e, ipath, "containerID", true, &m->container_id)) < 0 ||
		    (r = get_u32(c, e, ipath, "hostID", true, &m->host_id)) < 0 ||
		    (r = get_u32(c, e, ipath, "size", true, &m->size)) < 0)
			return r;
		if (m->size == 0)
			return bad(c, jp(ipath, path, "[%zu].size", i), "must be greater than 0");
		if ((uint64_t) m->container_id + m->size - 1 > UINT32_MAX ||
		    (uint64_t) m->host_id + m->size - 1 > UINT32_MAX)
			return bad(c, ipath, "range exceeds the 32-bit ID space");
	}
	return 1;
}

static void mount_clear(struct spec_mount *m)
{
	free(m->destination);
	free(m->type);
	free(m->source);
	strv_free(m->options);
	free(m->data);
	free(m->uid_mappings);
	free(m->gid_mappings);
}

static int parse_mounts(struct ctx *c, json_t *root, struct spec_config *cfg)
{
	char ipath[JPATH_MAX], kpath[JPATH_MAX];
	int r;
	json_t *a = get_array(c, root, "", "mounts", &r);
	if (!a)
		return r;
	size_t n = json_array_size(a), i;
	json_t *e;
	cfg->mounts = calloc(n ? n : 1, sizeof(*cfg->mounts));
	if (!cfg->mounts)
		return oom(c, "mounts");
	cfg->n_mounts = n;
	json_array_foreach(a, i, e) {
		struct spec_mount *m = &cfg->mounts[i];
		jp(ipath, "mounts", "[%zu]", i);
		if (!json_is_object(e))
			return bad(c, ipath, "must be an object");
		if ((r = get_str(c, e, ipath, "destination", true, &m->destination)) < 0)
			return r;
		if (!is_abs(m->destination))
			return bad(c, jp(kpath, ipath, "destination"), "must be absolute");
		if ((r = get_str(c, e, ipath, "type", false, &m->type)) < 0 ||
		    (r = get_str(c, e, ipath, "source", false, &m->source)) < 0 ||
		    (r = get_strv(c, e, ipath, "options", &m->options, &m->n_options)) < 0)
			return r;
		if ((r = spec_mount_options_decode(m->options, m->n_options, m, ipath, c->err)) < 0)
			return r;
		int ru, rg;
		if ((ru = parse_id_mappings(c, e, ipath, "uidMappings", &m->uid_mappings, &m->n_uid_mappings)) < 0)
			return ru;
		if ((rg = parse_id_mappings(c, e, ipath, "gidMappings", &m->gid_mappings, &m->n_gid_mappings)) < 0)
			return rg;
		if (ru != rg)
			return bad(c, ipath, "uidMappings and gidMappings must be given together");
		/* Mappings without "idmap"/"ridmap" still ask for an idmapped
		 * mount; the options only exist so old runtimes fail loudly. */
		if (ru && !m->idmap && !m->ridmap)
			m->idmap = true;
	}
	return 0;
}

static void hook_clear(struct spec_hook *h)
{
	free(h->path);
	strv_free(h->args);
	strv_free(h->env);
}

static int parse_hooks(struct ctx *c, json_t *root, struct spec_config *cfg)
{
	char path[JPATH_MAX], ipath[JPATH_MAX], kpath[JPATH_MAX];
	int r;
	json_t *hooks = get_object(c, root, "", "hooks", &r);
	if (!hooks)
		return r;
	for (int k = 0; k < SPEC_HOOK__MAX; k++) {
		json_t *a = get_array(c, hooks, "hooks", hook_names[k], &r);
		if (r < 0)
			return r;
		if (!a)
			continue;
		jp(path, "hooks", "%s", hook_names[k]);
		size_t n = json_array_size(a), i;
		json_t *e;
		cfg->hooks[k] = calloc(n ? n : 1, sizeof(struct spec_hook));
		if (!cfg->hooks[k])
			return oom(c, path);
		cfg->n_hooks[k] = n;
		json_array_foreach(a, i, e) {
			struct spec_hook *h = &cfg->hooks[k][i];
			jp(ipath, path, "[%zu]", i);
			if (!json_is_object(e))
				return bad(c, ipath, "must be an object");
			if ((r = get_str(c, e, ipath, "path", true, &h->path)) < 0)
				return r;
			if (!is_abs(h->path))
				return bad(c, jp(kpath, ipath, "path"), "must be an absolute path");
			if ((r = get_strv(c, e, ipath, "args", &h->args, &h->n_args)) < 0 ||
			    (r = get_strv(c, e, ipath, "env", &h->env, &h->n_env)) < 0)
				return r;
			int64_t t = 0;
			if ((r = get_int(c, e, ipath, "timeout", false, INT_MIN, INT_MAX, &t)) < 0)
				return r;
			if (r) {
				if (t <= 0)
					return bad(c, jp(kpath, ipath, "timeout"), "must be greater than 0");
				h->has_timeout = true;
				h->timeout = (int) t;
			}
		}
	}
	return 0;
}

static void kv_free(struct spec_kv *kv, size_t n)
{
	if (!kv)
		return;
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

/* A string -> string object, in document order. */
static int parse_string_map(struct ctx *c, json_t *obj, const char *parent, const char *key,
			    struct spec_kv **out, size_t *n_out)
{
	char path[JPATH_MAX], ipath[JPATH_MAX];
	int r;
	json_t *o = get_object(c, obj, parent, key, &r);
	if (!o)
		return r;
	jp(path, parent, "%s", key);
	size_t n = json_object_size(o), i = 0;
	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out)
		return oom(c, path);
	*n_out = n;
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		jp(ipath, path, "%s", k);
		if (!json_is_string(v))
			return bad(c, ipath, "must be a string");
		if ((r = dup_str(c, ipath, k, &(*out)[i].key)) < 0 ||
		    (r = dup_str(c, ipath, json_string_value(v), &(*out)[i].value)) < 0)
			return r;
		i++;
	}
	return 1;
}

/* ---- linux ------------------------------------------------------------------ */

static void linux_free(struct spec_linux *l)
{
	if (!l)
		return;
	if (l->namespaces)
		for (size_t i = 0; i < l->n_namespaces; i++)
			free(l->namespaces[i].path);
	free(l->namespaces);
	free(l->uid_mappings);
	free(l->gid_mappings);
	free(l->time_offsets);
	if (l->devices)
		for (size_t i = 0; i < l->n_devices; i++)
			free(l->devices[i].path);
	free(l->devices);
	free(l->cgroups_path);
	if (l->resources)
		spec_resources_free(l->resources);
	if (l->seccomp)
		spec_seccomp_free(l->seccomp);
	strv_free(l->masked_paths);
	strv_free(l->readonly_paths);
	free(l->mount_label);
	kv_free(l->sysctl, l->n_sysctl);
	free(l->intel_rdt_clos_id);
	free(l->intel_rdt_l3_cache_schema);
	free(l->intel_rdt_mem_bw_schema);
	free(l);
}

static int parse_namespaces(struct ctx *c, json_t *lo, struct spec_linux *l)
{
	char ipath[JPATH_MAX], kpath[JPATH_MAX];
	int r;
	json_t *a = get_array(c, lo, "linux", "namespaces", &r);
	if (!a)
		return r;
	size_t n = json_array_size(a), i;
	json_t *e;
	l->namespaces = calloc(n ? n : 1, sizeof(*l->namespaces));
	if (!l->namespaces)
		return oom(c, "linux.namespaces");
	l->n_namespaces = n;
	json_array_foreach(a, i, e) {
		struct spec_namespace *ns = &l->namespaces[i];
		jp(ipath, "linux.namespaces", "[%zu]", i);
		if (!json_is_object(e))
			return bad(c, ipath, "must be an object");
		_cleanup_free_ char *type = NULL;
		if ((r = get_str(c, e, ipath, "type", true, &type)) < 0)
			return r;
		jp(kpath, ipath, "type");
		const struct name_value *nv = LOOKUP(namespace_names, type);
		if (!nv)
			return berth_err(c->err, EINVAL, "%s: unknown namespace \"%s\"", kpath, type);
		ns->type = (int) nv->value;
		for (size_t j = 0; j < i; j++)
			if (l->namespaces[j].type == ns->type)
				return berth_err(c->err, EINVAL, "%s: duplicate namespace \"%s\"", kpath, type);
		if ((r = get_str(c, e, ipath, "path", false, &ns->path)) < 0)
			return r;
		/* An empty path means "create one", as Go's omitempty would have it. */
		if (ns->path && !*ns->path) {
			free(ns->path);
			ns->path = NULL;
		}
		if (ns->path && !is_abs(ns->path))
			return bad(c, jp(kpath, ipath, "path"), "must be an absolute path");
	}
	return 0;
}

static int parse_time_offsets(struct ctx *c, json_t *lo, struct spec_linux *l)
{
	char ipath[JPATH_MAX];
	int r;
	json_t *o = get_object(c, lo, "linux", "timeOffsets", &r);
	if (!o)
		return r;
	size_t n = json_object_size(o), i = 0;
	l->time_offsets = calloc(n ? n : 1, sizeof(*l->time_offsets));
	if (!l->time_offsets)
		return oom(c, "linux.timeOffsets");
	l->n_time_offsets = n;
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		struct spec_time_offset *t = &l->time_offsets[i++];
		jp(ipath, "linux.timeOffsets", "%s", k);
		const struct name_value *nv = LOOKUP(time_clock_names, k);
		if (!nv)
			return berth_err(c->err, EINVAL, "%s: unknown clock \"%s\" (expected monotonic or boottime)",
					 ipath, k);
		if (!json_is_object(v))
			return bad(c, ipath, "must be an object");
		t->clock = (int) nv->value;
		int64_t secs = 0, nsecs = 0;
		if ((r = get_int(c, v, ipath, "secs", false, INT64_MIN, INT64_MAX, &secs)) < 0 ||
		    (r = get_int(c, v, ipath, "nanosecs", false, 0, 999999999, &nsecs)) < 0)
			return r;
		t->secs = secs;
		t->nanosecs = (uint32_t) nsecs;
	}
	return 0;
}

static int parse_devices(struct ctx *c, json_t *lo, struct spec_linux *l)
{
	char ipath[JPATH_MAX], kpath[JPATH_MAX];
	int r;
	json_t *a = get_array(c, lo, "linux", "devices", &r);
	if (!a)
		return r;
	size_t n = json_array_size(a), i;
	json_t *e;
	l->devices = calloc(n ? n : 1, sizeof(*l->devices));
	if (!l->devices)
		return oom(c, "linux.devices");
	l->n_devices = n;
	json_array_foreach(a, i, e) {
		struct spec_device *d = &l->devices[i];
		jp(ipath, "linux.devices", "[%zu]", i);
		if (!json_is_object(e))
			return bad(c, ipath, "must be an object");
		_cleanup_free_ char *type = NULL;
		if ((r = get_str(c, e, ipath, "type", true, &type)) < 0)
			return r;
		if (strlen(type) != 1 || !strchr("cbup", type[0]))
			return berth_err(c->err, EINVAL, "%s: unknown device type \"%s\" (expected c, b, u or p)",
					 jp(kpath, ipath, "type"), type);
		/* 'u' (unbuffered character device) is 'c' to mknod(2). */
		d->type = type[0] == 'u' ? 'c' : type[0];
		if ((r = get_str(c, e, ipath, "path", true, &d->path)) < 0)
			return r;
		if (!is_abs(d->path))
			return bad(c, jp(kpath, ipath, "path"), "must be an absolute path");
		bool need_nums = d->type != 'p';
		int64_t v = 0;
		if ((r = get_int(c, e, ipath, "major", need_nums, 0, INT64_MAX, &v)) < 0)
			return r;
		d->major = r ? v : 0;
		if ((r = get_int(c, e, ipath, "minor", need_nums, 0, INT64_MAX, &v)) < 0)
			return r;
		d->minor = r ? v : 0;
		uint32_t u = 0;
		if ((r = get_u32(c, e, ipath, "fileMode", false, &u)) < 0)
			return r;
		if (r) {
			d->has_file_mode = true;
			/* Only permission bits: the type comes from `type`. */
			d->file_mode = (mode_t) (u & 07777);
		}
		if ((r = get_u32(c, e, ipath, "uid", false, &u)) < 0)
			return r;
		if (r) {
			d->has_uid = true;
			d->uid = u;
		}
		if ((r = get_u32(c, e, ipath, "gid", false, &u)) < 0)
			return r;
		if (r) {
			d->has_gid = true;
			d->gid = u;
		}
	}
	return 0;
}

static int parse_abs_paths(struct ctx *c, json_t *lo, const char *key, char ***out, size_t *n)
{
	char path[JPATH_MAX], ipath[JPATH_MAX];
	int r = get_strv(c, lo, "linux", key, out, n);
	if (r <= 0)
		return r;
	jp(path, "linux", "%s", key);
	for (size_t i = 0; i < *n; i++)
		if (!is_abs((*out)[i]))
			return bad(c, jp(ipath, path, "[%zu]", i), "must be an absolute path");
	return 0;
}

static int parse_personality(struct ctx *c, json_t *lo, struct spec_linux *l)
{
	char ipath[JPATH_MAX];
	int r;
	json_t *o = get_object(c, lo, "linux", "personality", &r);
	if (!o)
		return r;
	_cleanup_free_ char *domain = NULL;
	if ((r = get_str(c, o, "linux.personality", "domain", true, &domain)) < 0)
		return r;
	const struct name_value *nv = LOOKUP(personality_names, domain);
	if (!nv)
		return berth_err(c->err, EINVAL, "%s: unknown personality domain \"%s\" (expected LINUX or LINUX32)",
				 "linux.personality.domain", domain);
	json_t *flags = get_array(c, o, "linux.personality", "flags", &r);
	if (r < 0)
		return r;
	/* The spec defines no flags yet; refusing any is better than
	 * silently running with a personality the user did not get. */
	if (flags && json_array_size(flags) > 0) {
		json_t *f = json_array_get(flags, 0);
		jp(ipath, "linux.personality", "flags[0]");
		if (!json_is_string(f))
			return bad(c, ipath, "must be a string");
		return berth_err(c->err, EINVAL, "%s: unsupported personality flag \"%s\"", ipath,
				 json_string_value(f));
	}
	l->has_personality = true;
	l->personality = (unsigned long) nv->value;
	return 0;
}

static int parse_intel_rdt(struct ctx *c, json_t *lo, struct spec_linux *l)
{
	const char *P = "linux.intelRdt";
	int r;
	json_t *o = get_object(c, lo, "linux", "intelRdt", &r);
	if (!o)
		return r;
	l->has_intel_rdt = true;
	if ((r = get_str(c, o, P, "closID", false, &l->intel_rdt_clos_id)) < 0 ||
	    (r = get_str(c, o, P, "l3CacheSchema", false, &l->intel_rdt_l3_cache_schema)) < 0 ||
	    (r = get_str(c, o, P, "memBwSchema", false, &l->intel_rdt_mem_bw_schema)) < 0 ||
	    (r = get_bool(c, o, P, "enableCMT", &l->intel_rdt_enable_cmt)) < 0 ||
	    (r = get_bool(c, o, P, "enableMBM", &l->intel_rdt_enable_mbm)) < 0)
		return r;
	/* closID names a directory under /sys/fs/resctrl. */
	const char *id = l->intel_rdt_clos_id;
	if (id && (!*id || strchr(id, '/') || strcmp(id, ".") == 0 || strcmp(id, "..") == 0 ||
		   strchr(id, '\n')))
		return bad(c, "linux.intelRdt.closID", "must be a single path component");
	const char *mb = l->intel_rdt_mem_bw_schema;
	if (mb && (strncmp(mb, "MB:", 3) != 0 || strchr(mb, '\n')))
		return bad(c, "linux.intelRdt.memBwSchema", "must start with \"MB:\" and be one line");
	return 0;
}

static int parse_linux(struct ctx *c, json_t *root, struct spec_config *cfg)
{
	int r;
	json_t *lo = get_object(c, root, "", "linux", &r);
	if (!lo)
		return r;
	struct spec_linux *l = calloc(1, sizeof(*l));
	if (!l)
		return oom(c, "linux");
	cfg->linux_ = l;

	if ((r = parse_namespaces(c, lo, l)) < 0)
		return r;
	if ((r = parse_id_mappings(c, lo, "linux", "uidMappings", &l->uid_mappings, &l->n_uid_mappings)) < 0 ||
	    (r = parse_id_mappings(c, lo, "linux", "gidMappings", &l->gid_mappings, &l->n_gid_mappings)) < 0)
		return r;
	if ((r = parse_time_offsets(c, lo, l)) < 0 ||
	    (r = parse_devices(c, lo, l)) < 0)
		return r;
	if ((r = get_str(c, lo, "linux", "cgroupsPath", false, &l->cgroups_path)) < 0)
		return r;

	json_t *res = get_object(c, lo, "linux", "resources", &r);
	if (r < 0)
		return r;
	if (res && (r = spec_resources_parse(res, "linux.resources", &l->resources, c->err)) < 0)
		return r;
	json_t *sc = get_object(c, lo, "linux", "seccomp", &r);
	if (r < 0)
		return r;
	if (sc && (r = spec_seccomp_parse(sc, "linux.seccomp", &l->seccomp, c->err)) < 0)
		return r;

	_cleanup_free_ char *prop = NULL;
	if ((r = get_str(c, lo, "linux", "rootfsPropagation", false, &prop)) < 0)
		return r;
	if (prop && *prop) {
		if (spec_propagation_parse(prop, &l->rootfs_propagation) < 0)
			return berth_err(c->err, EINVAL, "linux.rootfsPropagation: unknown propagation \"%s\"", prop);
		l->has_rootfs_propagation = true;
	}

	if ((r = parse_abs_paths(c, lo, "maskedPaths", &l->masked_paths, &l->n_masked_paths)) < 0 ||
	    (r = parse_abs_paths(c, lo, "readonlyPaths", &l->readonly_paths, &l->n_readonly_paths)) < 0)
		return r;
	if ((r = get_str(c, lo, "linux", "mountLabel", false, &l->mount_label)) < 0 ||
	    (r = parse_string_map(c, lo, "linux", "sysctl", &l->sysctl, &l->n_sysctl)) < 0)
		return r;
	if ((r = parse_personality(c, lo, l)) < 0 ||
	    (r = parse_intel_rdt(c, lo, l)) < 0)
		return r;
	return 0;
}

/* ---- config ------------------------------------------------------------------ */

void spec_config_free(struct spec_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->oci_version);
	free(cfg->root_path);
	spec_process_free(cfg->process);
	free(cfg->hostname);
	free(cfg->domainname);
	if (cfg->mounts)
		for (size_t i = 0; i < cfg->n_mounts; i++)
			mount_clear(&cfg->mounts[i]);
	free(cfg->mounts);
	for (int k = 0; k < SPEC_HOOK__MAX; k++) {
		if (cfg->hooks[k])
			for (size_t i = 0; i < cfg->n_hooks[k]; i++)
				hook_clear(&cfg->hooks[k][i]);
		free(cfg->hooks[k]);
	}
	kv_free(cfg->annotations, cfg->n_annotations);
	linux_free(cfg->linux_);
	free(cfg);
}

static int parse_config(struct ctx *c, json_t *root, struct spec_config *cfg)
{
	int r;
	if ((r = get_str(c, root, "", "ociVersion", true, &cfg->oci_version)) < 0)
		return r;

	json_t *ro = get_object(c, root, "", "root", &r);
	if (r < 0)
		return r;
	if (!ro)
		return bad(c, "root", "is required");
	if ((r = get_str(c, ro, "root", "path", true, &cfg->root_path)) < 0)
		return r;
	if (!*cfg->root_path)
		return bad(c, "root.path", "must not be empty");
	if ((r = get_bool(c, ro, "root", "readonly", &cfg->root_readonly)) < 0)
		return r;

	json_t *po = get_object(c, root, "", "process", &r);
	if (r < 0)
		return r;
	if (po && (r = parse_process_obj(c, po, "process", &cfg->process)) < 0)
		return r;

	if ((r = get_str(c, root, "", "hostname", false, &cfg->hostname)) < 0 ||
	    (r = get_str(c, root, "", "domainname", false, &cfg->domainname)) < 0)
		return r;
	if ((r = parse_mounts(c, root, cfg)) < 0 ||
	    (r = parse_hooks(c, root, cfg)) < 0)
		return r;
	if ((r = parse_string_map(c, root, "", "annotations", &cfg->annotations, &cfg->n_annotations)) < 0)
		return r;
	return parse_linux(c, root, cfg);
}

int spec_config_parse(const char *json, size_t len, const char *origin,
		      struct spec_config **out, struct berth_error *err)
{
	if (!origin)
		origin = "config.json";
	json_t *root;
	int r = load_object(json, len, origin, &root, err);
	if (r < 0)
		return r;

	struct ctx c = ctx_init(err);
	struct spec_config *cfg = calloc(1, sizeof(*cfg));
	r = cfg ? parse_config(&c, root, cfg) : berth_errno(err, ENOMEM, "%s", origin);
	json_decref(root);
	if (r < 0) {
		spec_config_free(cfg);
		berth_error_prefix(err, "%s", origin);
		return r;
	}
	*out = cfg;
	return 0;
}

int spec_config_load(const char *bundle_dir, struct spec_config **out, struct berth_error *err)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/config.json", bundle_dir) < 0)
		return berth_errno(err, ENOMEM, "%s/config.json", bundle_dir);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = berth_read_file(path, &buf, &len);
	if (r < 0)
		return berth_errno(err, r, "%s", path);
	return spec_config_parse(buf, len, path, out, err);
}

const struct spec_namespace *spec_config_namespace(const struct spec_config *cfg, int type)
{
	if (!cfg || !cfg->linux_)
		return NULL;
	for (size_t i = 0; i < cfg->linux_->n_namespaces; i++)
		if (cfg->linux_->namespaces[i].type == type)
			return &cfg->linux_->namespaces[i];
	return NULL;
}
