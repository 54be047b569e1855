/* options.c — struct ctr_opts <-> docker-shaped JSON; see options.h.
 *
 * Layout written (docker's keys where docker has the field):
 *   {"Name": "/x",
 *    "Config": {Hostname, User, AttachStdin/Stdout/Stderr, Tty, OpenStdin, StdinOnce, Env, Cmd, Image,
 *               Entrypoint, WorkingDir, Labels, StopSignal, StopTimeout},
 *    "HostConfig": {NetworkMode, RestartPolicy, AutoRemove, Mounts, CapAdd, CapDrop, Privileged,
 *               ReadonlyRootfs, SecurityOpt, Runtime, ShmSize, Memory, MemorySwap, NanoCpus, CpuQuota,
 *               CpuPeriod, CpuShares, CpusetCpus, PidsLimit, Ulimits, Devices, Sysctls, Init, LogConfig},
 *    "Berth": {Pull, Platform}}
 * Equivalences the round trip does not keep literally: NULL and "" for
 * Hostname/User/WorkingDir/CpusetCpus/Runtime, NULL and an empty list for the
 * vectors other than Cmd/Entrypoint, a label "k" and "k=", the "no" restart
 * policy and none, network NULL and "none", ulimit "n=x" and "n=x:x", device
 * "/dev/x" and "/dev/x:/dev/x:rwm", log max-file 0 and 1.
 */
#include "engine/options.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

void ctr_opts_clear(struct ctr_opts *o)
{
	if (!o)
		return;
	free(o->image);
	strv_free(o->args);
	free(o->name);
	strv_free(o->entrypoint);
	strv_free(o->env);
	free(o->workdir);
	free(o->user);
	free(o->hostname);
	strv_free(o->labels);
	for (size_t i = 0; i < o->n_mounts; i++) {
		free(o->mounts[i].source);
		free(o->mounts[i].destination);
		free(o->mounts[i].propagation);
		free(o->mounts[i].host_path);
	}
	free(o->mounts);
	free(o->cpuset_cpus);
	strv_free(o->ulimits);
	strv_free(o->cap_add);
	strv_free(o->cap_drop);
	free(o->seccomp);
	strv_free(o->security_opts);
	strv_free(o->devices);
	strv_free(o->sysctls);
	free(o->stop_signal);
	free(o->restart);
	free(o->network);
	free(o->pull);
	free(o->runtime);
	free(o->log_max_size);
	free(o->platform);
	memset(o, 0, sizeof(*o));
}

/* ---- to JSON ---- */

/* Building: every setter records a failed allocation in *ok so one check at
 * the end covers the whole tree (json_object_set_new frees v on failure). */
static void put(json_t *obj, const char *key, json_t *v, bool *ok)
{
	if (!v || json_object_set_new(obj, key, v) < 0)
		*ok = false;
}

static json_t *str_or_empty(const char *s)
{
	return json_string(s ? s : "");
}

static json_t *strv_json(char *const *v, bool null_when_absent)
{
	if (!v)
		return null_when_absent ? json_null() : json_array();
	json_t *a = json_array();
	for (size_t i = 0; a && v[i]; i++) {
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static bool parse_i64(const char *s, int64_t *out)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* "name=soft[:hard]" -> {Name, Soft, Hard}; anything else stays a string so
 * nothing the user typed is lost (specgen reports it). */
static json_t *ulimit_json(const char *u)
{
	const char *eq = strchr(u, '=');
	if (!eq || eq == u)
		return json_string(u);
	_cleanup_free_ char *name = strndup(u, (size_t) (eq - u));
	_cleanup_free_ char *vals = strdup(eq + 1);
	if (!name || !vals)
		return NULL;
	char *colon = strchr(vals, ':');
	if (colon)
		*colon = '\0';
	int64_t soft, hard;
	if (!parse_i64(vals, &soft))
		return json_string(u);
	if (!colon)
		hard = soft;
	else if (!parse_i64(colon + 1, &hard))
		return json_string(u);
	return json_pack("{s:s, s:I, s:I}", "Name", name, "Soft", (json_int_t) soft, "Hard", (json_int_t) hard);
}

static bool device_mode_valid(const char *m)
{
	size_t n = strlen(m);
	if (n == 0 || n > 3)
		return false;
	bool seen[3] = { false, false, false };
	for (size_t i = 0; i < n; i++) {
		const char *p = strchr("rwm", m[i]);
		if (!p || seen[p - "rwm"])
			return false;
		seen[p - "rwm"] = true;
	}
	return true;
}

/* docker's "/dev/x[:/dev/y][:rwm]" -> {PathOnHost, PathInContainer, CgroupPermissions} */
static json_t *device_json(const char *d)
{
	_cleanup_free_ char *copy = strdup(d);
	if (!copy)
		return NULL;
	char *parts[4] = { NULL };
	size_t n = 0;
	for (char *save = NULL, *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
		if (n == 3)
			return json_string(d);
		parts[n++] = t;
	}
	const char *host = parts[0], *ctr = parts[0], *mode = "rwm";
	if (n == 0)
		return json_string(d);
	if (n == 2) {
		if (device_mode_valid(parts[1]))
			mode = parts[1];
		else
			ctr = parts[1];
	} else if (n == 3) {
		if (!device_mode_valid(parts[2]))
			return json_string(d);
		ctr = parts[1];
		mode = parts[2];
	}
	return json_pack("{s:s, s:s, s:s}", "PathOnHost", host, "PathInContainer", ctr, "CgroupPermissions", mode);
}

/* "k=v" strings -> {k: v}; a bare "k" maps to `bare` ("" for labels, as
 * docker's --label k; null for sysctls, so the invalid entry survives). */
static json_t *kv_json(char *const *v, bool bare_null)
{
	json_t *o = json_object();
	for (size_t i = 0; o && v && v[i]; i++) {
		const char *eq = strchr(v[i], '=');
		_cleanup_free_ char *k = eq ? strndup(v[i], (size_t) (eq - v[i])) : strdup(v[i]);
		json_t *val = eq ? json_string(eq + 1) : bare_null ? json_null() : json_string("");
		if (!k || !val || json_object_set_new(o, k, val) < 0) {
			if (!k)
				json_decref(val);
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *restart_json(const char *r)
{
	if (!r)
		r = "no";
	const char *colon = strchr(r, ':');
	int64_t n = 0;
	if (colon && parse_i64(colon + 1, &n) && n >= 0) {
		_cleanup_free_ char *name = strndup(r, (size_t) (colon - r));
		if (!name)
			return NULL;
		return json_pack("{s:s, s:I}", "Name", name, "MaximumRetryCount", (json_int_t) n);
	}
	return json_pack("{s:s, s:i}", "Name", r, "MaximumRetryCount", 0);
}

static const char *mount_type_name(enum ctr_mount_type t)
{
	switch (t) {
	case CTR_MOUNT_BIND:
		return "bind";
	case CTR_MOUNT_VOLUME:
		return "volume";
	case CTR_MOUNT_TMPFS:
		return "tmpfs";
	}
	return "bind";
}

static json_t *mount_json(const struct ctr_mount *m)
{
	bool ok = true;
	json_t *j = json_object();
	if (!j)
		return NULL;
	put(j, "Type", json_string(mount_type_name(m->type)), &ok);
	if (m->source)
		put(j, "Source", json_string(m->source), &ok);
	put(j, "Target", json_string(m->destination ? m->destination : ""), &ok);
	if (m->readonly)
		put(j, "ReadOnly", json_true(), &ok);
	if (m->propagation)
		put(j, "BindOptions", json_pack("{s:s}", "Propagation", m->propagation), &ok);
	if (m->no_copy)
		put(j, "VolumeOptions", json_pack("{s:b}", "NoCopy", 1), &ok);
	if (m->tmpfs_size || m->tmpfs_mode) {
		json_t *t = json_object();
		if (t && m->tmpfs_size)
			put(t, "SizeBytes", json_integer(m->tmpfs_size), &ok);
		if (t && m->tmpfs_mode)
			put(t, "Mode", json_integer(m->tmpfs_mode), &ok);
		put(j, "TmpfsOptions", t, &ok);
	}
	if (m->host_path)
		put(j, "HostPath", json_string(m->host_path), &ok);
	if (!ok) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static json_t *config_json(const struct ctr_opts *o, bool *ok)
{
	json_t *c = json_object();
	if (!c)
		return NULL;
	bool attached = !o->detach;
	put(c, "Hostname", str_or_empty(o->hostname), ok);
	put(c, "User", str_or_empty(o->user), ok);
	put(c, "AttachStdin", json_boolean(o->interactive && attached), ok);
	put(c, "AttachStdout", json_boolean(attached), ok);
	put(c, "AttachStderr", json_boolean(attached), ok);
	put(c, "Tty", json_boolean(o->tty), ok);
	put(c, "OpenStdin", json_boolean(o->interactive), ok);
	put(c, "StdinOnce", json_boolean(o->interactive && attached), ok);
	put(c, "Env", strv_json(o->env, false), ok);
	put(c, "Cmd", strv_json(o->args, true), ok);
	put(c, "Image", str_or_empty(o->image), ok);
	put(c, "Entrypoint", o->entrypoint_set ? strv_json(o->entrypoint, false) : json_null(), ok);
	put(c, "WorkingDir", str_or_empty(o->workdir), ok);
	put(c, "Labels", kv_json(o->labels, false), ok);
	if (o->stop_signal)
		put(c, "StopSignal", json_string(o->stop_signal), ok);
	if (o->stop_timeout >= 0)
		put(c, "StopTimeout", json_integer(o->stop_timeout), ok);
	return c;
}

static json_t *host_config_json(const struct ctr_opts *o, bool *ok)
{
	json_t *h = json_object();
	if (!h)
		return NULL;
	put(h, "NetworkMode", json_string(o->network ? o->network : "none"), ok);
	put(h, "RestartPolicy", restart_json(o->restart), ok);
	put(h, "AutoRemove", json_boolean(o->rm), ok);

	json_t *mounts = json_array();
	for (size_t i = 0; mounts && i < o->n_mounts; i++)
		if (json_array_append_new(mounts, mount_json(&o->mounts[i])) < 0)
			*ok = false;
	put(h, "Mounts", mounts, ok);

	put(h, "CapAdd", strv_json(o->cap_add, true), ok);
	put(h, "CapDrop", strv_json(o->cap_drop, true), ok);
	put(h, "Privileged", json_boolean(o->privileged), ok);
	put(h, "ReadonlyRootfs", json_boolean(o->read_only), ok);

	/* docker keeps no-new-privileges and seccomp among the security options */
	json_t *sec = strv_json(o->security_opts, false);
	if (sec && o->no_new_privileges && json_array_append_new(sec, json_string("no-new-privileges")) < 0)
		*ok = false;
	if (sec && o->seccomp) {
		size_t n = strlen(o->seccomp) + sizeof("seccomp=");
		char *s = malloc(n);
		if (!s)
			*ok = false;
		else {
			snprintf(s, n, "seccomp=%s", o->seccomp);
			if (json_array_append_new(sec, json_string(s)) < 0)
				*ok = false;
			free(s);
		}
	}
	if (sec && json_array_size(sec) == 0) {
		json_decref(sec);
		sec = json_null();
	}
	put(h, "SecurityOpt", sec, ok);

	put(h, "Runtime", str_or_empty(o->runtime), ok);
	put(h, "ShmSize", json_integer(o->shm_size), ok);
	put(h, "Memory", json_integer(o->memory), ok);
	put(h, "MemorySwap", json_integer(o->memory_swap), ok);
	int64_t nano = o->cpu_period > 0 ? (int64_t) ((__int128) o->cpu_quota * 1000000000 / o->cpu_period) : 0;
	put(h, "NanoCpus", json_integer(nano), ok);
	put(h, "CpuQuota", json_integer(o->cpu_quota), ok);
	put(h, "CpuPeriod", json_integer(o->cpu_period), ok);
	put(h, "CpuShares", json_integer((json_int_t) o->cpu_shares), ok);
	put(h, "CpusetCpus", str_or_empty(o->cpuset_cpus), ok);
	put(h, "PidsLimit", o->pids_limit ? json_integer(o->pids_limit) : json_null(), ok);

	json_t *ul = o->ulimits ? json_array() : json_null();
	for (size_t i = 0; ul && o->ulimits && o->ulimits[i]; i++)
		if (json_array_append_new(ul, ulimit_json(o->ulimits[i])) < 0)
			*ok = false;
	put(h, "Ulimits", ul, ok);

	json_t *dev = json_array();
	for (size_t i = 0; dev && o->devices && o->devices[i]; i++)
		if (json_array_append_new(dev, device_json(o->devices[i])) < 0)
			*ok = false;
	put(h, "Devices", dev, ok);

	put(h, "Sysctls", kv_json(o->sysctls, true), ok);
	put(h, "Init", o->init ? json_true() : json_null(), ok);

	json_t *lc = json_object();
	if (lc && o->log_max_size)
		put(lc, "max-size", json_string(o->log_max_size), ok);
	if (lc && o->log_max_file > 1) {
		char n[24];
		snprintf(n, sizeof(n), "%d", o->log_max_file);
		put(lc, "max-file", json_string(n), ok);
	}
	put(h, "LogConfig", lc ? json_pack("{s:s, s:o}", "Type", "json-file", "Config", lc) : NULL, ok);
	return h;
}

json_t *ctr_opts_to_json(const struct ctr_opts *o)
{
	bool ok = true;
	json_t *j = json_object();
	if (!j)
		return NULL;
	if (o->name) {
		size_t n = strlen(o->name) + 2;
		char *s = malloc(n);
		if (s) {
			snprintf(s, n, "/%s", o->name[0] == '/' ? o->name + 1 : o->name);
			put(j, "Name", json_string(s), &ok);
			free(s);
		} else {
			ok = false;
		}
	}
	put(j, "Config", config_json(o, &ok), &ok);
	put(j, "HostConfig", host_config_json(o, &ok), &ok);
	json_t *b = json_object();
	if (b && o->pull)
		put(b, "Pull", json_string(o->pull), &ok);
	if (b && o->platform)
		put(b, "Platform", json_string(o->platform), &ok);
	put(j, "Berth", b, &ok);
	if (!ok) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* ---- from JSON ---- */

/* Each reader: a missing key or null leaves the default; a value of the
 * wrong type is -EINVAL. */
static int get_str(json_t *obj, const char *key, bool empty_is_null, char **out)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EINVAL;
	const char *s = json_string_value(v);
	if (empty_is_null && !*s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int get_bool(json_t *obj, const char *key, bool *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return -EINVAL;
	*out = json_is_true(v);
	return 0;
}

static int get_i64(json_t *obj, const char *key, int64_t *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return -EINVAL;
	*out = json_integer_value(v);
	return 0;
}

static char **strv_new(size_t n)
{
	return calloc(n + 1, sizeof(char *));
}

/* keep_empty: [] gives an empty vector (Cmd/Entrypoint: "given, empty"),
 * else NULL. */
static int get_strv(json_t *obj, const char *key, bool keep_empty, char ***out, bool *present)
{
	json_t *v = json_object_get(obj, key);
	if (present)
		*present = v && !json_is_null(v);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return -EINVAL;
	size_t n = json_array_size(v);
	if (n == 0 && !keep_empty)
		return 0;
	char **r = strv_new(n);
	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		if (!json_is_string(e)) {
			strv_free(r);
			return -EINVAL;
		}
		if (!(r[i] = strdup(json_string_value(e)))) {
			strv_free(r);
			return -ENOMEM;
		}
	}
	*out = r;
	return 0;
}

/* {k: v} -> "k=v" (null: bare "k") */
static int get_kv(json_t *obj, const char *key, char ***out)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return -EINVAL;
	size_t n = json_object_size(v);
	if (n == 0)
		return 0;
	char **r = strv_new(n);
	if (!r)
		return -ENOMEM;
	size_t i = 0;
	const char *k;
	json_t *val;
	json_object_foreach(v, k, val) {
		int len;
		if (json_is_null(val))
			len = asprintf(&r[i], "%s", k);
		else if (json_is_string(val))
			len = asprintf(&r[i], "%s=%s", k, json_string_value(val));
		else {
			strv_free(r);
			return -EINVAL;
		}
		if (len < 0) {
			r[i] = NULL;
			strv_free(r);
			return -ENOMEM;
		}
		i++;
	}
	*out = r;
	return 0;
}

/* Arrays of objects rendered back into the CLI's strings by `fmt`; plain
 * strings (entries that did not parse when written) are taken verbatim. */
static int get_obj_strv(json_t *obj, const char *key, int (*fmt)(json_t *e, char **s), char ***out)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return -EINVAL;
	size_t n = json_array_size(v);
	if (n == 0)
		return 0;
	char **r = strv_new(n);
	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		int rc;
		if (json_is_string(e))
			rc = (r[i] = strdup(json_string_value(e))) ? 0 : -ENOMEM;
		else if (json_is_object(e))
			rc = fmt(e, &r[i]);
		else
			rc = -EINVAL;
		if (rc < 0) {
			r[i] = NULL;
			strv_free(r);
			return rc;
		}
	}
	*out = r;
	return 0;
}

static int ulimit_fmt(json_t *e, char **s)
{
	const char *name;
	json_int_t soft, hard;
	if (json_unpack(e, "{s:s, s:I, s:I}", "Name", &name, "Soft", &soft, "Hard", &hard) < 0)
		return -EINVAL;
	return asprintf(s, "%s=%lld:%lld", name, (long long) soft, (long long) hard) < 0 ? -ENOMEM : 0;
}

static int device_fmt(json_t *e, char **s)
{
	const char *host, *ctr = NULL, *mode = NULL;
	if (json_unpack(e, "{s:s, s?s, s?s}", "PathOnHost", &host, "PathInContainer", &ctr, "CgroupPermissions",
	                &mode) < 0)
		return -EINVAL;
	return asprintf(s, "%s:%s:%s", host, ctr && *ctr ? ctr : host, mode && *mode ? mode : "rwm") < 0
	               ? -ENOMEM
	               : 0;
}

static int mount_from_json(json_t *e, struct ctr_mount *m)
{
	if (!json_is_object(e))
		return -EINVAL;
	const char *type = NULL;
	if (json_unpack(e, "{s:s}", "Type", &type) < 0)
		return -EINVAL;
	if (!strcmp(type, "bind"))
		m->type = CTR_MOUNT_BIND;
	else if (!strcmp(type, "volume"))
		m->type = CTR_MOUNT_VOLUME;
	else if (!strcmp(type, "tmpfs"))
		m->type = CTR_MOUNT_TMPFS;
	else
		return -EINVAL;
	int r = get_str(e, "Source", false, &m->source);
	if (r == 0)
		r = get_str(e, "Target", false, &m->destination);
	if (r == 0 && !m->destination)
		r = -EINVAL;
	if (r == 0)
		r = get_bool(e, "ReadOnly", &m->readonly);
	if (r == 0)
		r = get_str(e, "HostPath", false, &m->host_path);
	json_t *sub;
	if (r == 0 && (sub = json_object_get(e, "BindOptions")) && !json_is_null(sub))
		r = json_is_object(sub) ? get_str(sub, "Propagation", true, &m->propagation) : -EINVAL;
	if (r == 0 && (sub = json_object_get(e, "VolumeOptions")) && !json_is_null(sub))
		r = json_is_object(sub) ? get_bool(sub, "NoCopy", &m->no_copy) : -EINVAL;
	if (r == 0 && (sub = json_object_get(e, "TmpfsOptions")) && !json_is_null(sub)) {
		int64_t mode = 0;
		r = json_is_object(sub) ? get_i64(sub, "SizeBytes", &m->tmpfs_size) : -EINVAL;
		if (r == 0)
			r = get_i64(sub, "Mode", &mode);
		if (r == 0 && (mode < 0 || mode > 07777))
			r = -EINVAL;
		m->tmpfs_mode = (unsigned) mode;
	}
	return r;
}

/* docker's SecurityOpt list back into no_new_privileges, seccomp and the
 * rest.  The strings of `all` are moved in place: kept ones are compacted to
 * its front, so the vector itself becomes security_opts. */
static int security_opts_from_json(json_t *h, struct ctr_opts *o)
{
	char **all = NULL;
	int r = get_strv(h, "SecurityOpt", false, &all, NULL);
	if (r < 0 || !all)
		return r;
	size_t k = 0;
	for (size_t i = 0; all[i]; i++) {
		char *s = all[i];
		all[i] = NULL;
		if (!strcmp(s, "no-new-privileges") || !strcmp(s, "no-new-privileges:true") ||
		    !strcmp(s, "no-new-privileges=true")) {
			o->no_new_privileges = true;
			free(s);
		} else if (!strcmp(s, "no-new-privileges:false") || !strcmp(s, "no-new-privileges=false")) {
			o->no_new_privileges = false;
			free(s);
		} else if (!strncmp(s, "seccomp=", 8) || !strncmp(s, "seccomp:", 8)) {
			free(o->seccomp);
			memmove(s, s + 8, strlen(s + 8) + 1);
			o->seccomp = s;
		} else {
			all[k++] = s;
		}
	}
	if (k == 0)
		free(all);
	else
		o->security_opts = all;
	return 0;
}

static int config_from_json(json_t *c, struct ctr_opts *o)
{
	if (!json_is_object(c))
		return -EINVAL;
	bool attach_out = true;
	int64_t stop_timeout = -1;
	int r = get_str(c, "Hostname", true, &o->hostname);
	if (r == 0)
		r = get_str(c, "User", true, &o->user);
	if (r == 0)
		r = get_bool(c, "AttachStdout", &attach_out);
	if (r == 0)
		r = get_bool(c, "Tty", &o->tty);
	if (r == 0)
		r = get_bool(c, "OpenStdin", &o->interactive);
	if (r == 0)
		r = get_strv(c, "Env", false, &o->env, NULL);
	if (r == 0)
		r = get_strv(c, "Cmd", true, &o->args, NULL);
	if (r == 0)
		r = get_str(c, "Image", true, &o->image);
	if (r == 0)
		r = get_strv(c, "Entrypoint", true, &o->entrypoint, &o->entrypoint_set);
	if (r == 0)
		r = get_str(c, "WorkingDir", true, &o->workdir);
	if (r == 0)
		r = get_kv(c, "Labels", &o->labels);
	if (r == 0)
		r = get_str(c, "StopSignal", true, &o->stop_signal);
	if (r == 0)
		r = get_i64(c, "StopTimeout", &stop_timeout);
	if (r == 0 && (stop_timeout < -1 || stop_timeout > INT32_MAX))
		r = -EINVAL;
	o->detach = !attach_out;
	o->stop_timeout = (int) stop_timeout;
	return r;
}

static int host_config_from_json(json_t *h, struct ctr_opts *o)
{
	if (!json_is_object(h))
		return -EINVAL;
	int r = get_str(h, "NetworkMode", true, &o->network);
	json_t *v;
	if (r == 0 && (v = json_object_get(h, "RestartPolicy")) && !json_is_null(v)) {
		const char *name = "";
		json_int_t n = 0;
		if (json_unpack(v, "{s?s, s?I}", "Name", &name, "MaximumRetryCount", &n) < 0 || n < 0)
			r = -EINVAL;
		else if (*name && n > 0) {
			if (asprintf(&o->restart, "%s:%lld", name, (long long) n) < 0) {
				o->restart = NULL;
				r = -ENOMEM;
			}
		} else if (*name)
			r = (o->restart = strdup(name)) ? 0 : -ENOMEM;
	}
	if (r == 0)
		r = get_bool(h, "AutoRemove", &o->rm);
	if (r == 0 && (v = json_object_get(h, "Mounts")) && !json_is_null(v)) {
		if (!json_is_array(v))
			return -EINVAL;
		size_t n = json_array_size(v);
		if (n) {
			o->mounts = calloc(n, sizeof(*o->mounts));
			if (!o->mounts)
				return -ENOMEM;
			for (size_t i = 0; r == 0 && i < n; i++) {
				o->n_mounts = i + 1;
				r = mount_from_json(json_array_get(v, i), &o->mounts[i]);
			}
		}
	}
	if (r == 0)
		r = get_strv(h, "CapAdd", false, &o->cap_add, NULL);
	if (r == 0)
		r = get_strv(h, "CapDrop", false, &o->cap_drop, NULL);
	if (r == 0)
		r = get_bool(h, "Privileged", &o->privileged);
	if (r == 0)
		r = get_bool(h, "ReadonlyRootfs", &o->read_only);
	if (r == 0)
		r = security_opts_from_json(h, o);
	if (r == 0)
		r = get_str(h, "Runtime", true, &o->runtime);
	if (r == 0)
		r = get_i64(h, "ShmSize", &o->shm_size);
	if (r == 0)
		r = get_i64(h, "Memory", &o->memory);
	if (r == 0)
		r = get_i64(h, "MemorySwap", &o->memory_swap);
	int64_t nano = 0, shares = 0;
	if (r == 0)
		r = get_i64(h, "NanoCpus", &nano);
	if (r == 0)
		r = get_i64(h, "CpuQuota", &o->cpu_quota);
	if (r == 0)
		r = get_i64(h, "CpuPeriod", &o->cpu_period);
	/* JSON written by docker may carry only NanoCpus: --cpus as quota/period */
	if (r == 0 && nano > 0 && o->cpu_quota == 0 && o->cpu_period == 0) {
		o->cpu_period = 100000;
		o->cpu_quota = (int64_t) ((__int128) nano * 100000 / 1000000000);
	}
	if (r == 0)
		r = get_i64(h, "CpuShares", &shares);
	if (r == 0 && shares < 0)
		r = -EINVAL;
	o->cpu_shares = (uint64_t) shares;
	if (r == 0)
		r = get_str(h, "CpusetCpus", true, &o->cpuset_cpus);
	if (r == 0)
		r = get_i64(h, "PidsLimit", &o->pids_limit);
	if (r == 0)
		r = get_obj_strv(h, "Ulimits", ulimit_fmt, &o->ulimits);
	if (r == 0)
		r = get_obj_strv(h, "Devices", device_fmt, &o->devices);
	if (r == 0)
		r = get_kv(h, "Sysctls", &o->sysctls);
	if (r == 0)
		r = get_bool(h, "Init", &o->init);
	if (r == 0 && (v = json_object_get(h, "LogConfig")) && !json_is_null(v)) {
		json_t *cfg = json_is_object(v) ? json_object_get(v, "Config") : NULL;
		if (!json_is_object(v))
			r = -EINVAL;
		else if (cfg && !json_is_null(cfg)) {
			_cleanup_free_ char *max_file = NULL;
			r = json_is_object(cfg) ? get_str(cfg, "max-size", true, &o->log_max_size) : -EINVAL;
			if (r == 0)
				r = get_str(cfg, "max-file", true, &max_file);
			int64_t n;
			if (r == 0 && max_file) {
				if (!parse_i64(max_file, &n) || n < 1 || n > INT32_MAX)
					r = -EINVAL;
				else
					o->log_max_file = (int) n;
			}
		}
	}
	return r;
}

int ctr_opts_from_json(json_t *j, struct ctr_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->stop_timeout = -1;
	o->log_max_file = 1;
	if (!json_is_object(j))
		return -EINVAL;
	int r = 0;
	json_t *v = json_object_get(j, "Name");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v))
			r = -EINVAL;
		else {
			const char *s = json_string_value(v);
			if (*s == '/')
				s++;
			if (*s && !(o->name = strdup(s)))
				r = -ENOMEM;
		}
	}
	if (r == 0)
		r = config_from_json(json_object_get(j, "Config"), o);
	if (r == 0)
		r = host_config_from_json(json_object_get(j, "HostConfig"), o);
	if (r == 0 && (v = json_object_get(j, "Berth")) && !json_is_null(v)) {
		r = json_is_object(v) ? get_str(v, "Pull", true, &o->pull) : -EINVAL;
		if (r == 0)
			r = get_str(v, "Platform", true, &o->platform);
	}
	if (r < 0)
		ctr_opts_clear(o);
	return r;
}
