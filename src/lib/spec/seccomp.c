#include "spec/seccomp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"

/* Indexed by enum spec_seccomp_action / spec_seccomp_op; NULL-terminated so
 * they double as the `features` lists. */
static const char *const action_names[SPEC_SECCOMP_ACT__MAX + 1] = {
	[SPEC_SECCOMP_ACT_KILL] = "SCMP_ACT_KILL",
	[SPEC_SECCOMP_ACT_KILL_PROCESS] = "SCMP_ACT_KILL_PROCESS",
	[SPEC_SECCOMP_ACT_KILL_THREAD] = "SCMP_ACT_KILL_THREAD",
	[SPEC_SECCOMP_ACT_TRAP] = "SCMP_ACT_TRAP",
	[SPEC_SECCOMP_ACT_ERRNO] = "SCMP_ACT_ERRNO",
	[SPEC_SECCOMP_ACT_TRACE] = "SCMP_ACT_TRACE",
	[SPEC_SECCOMP_ACT_ALLOW] = "SCMP_ACT_ALLOW",
	[SPEC_SECCOMP_ACT_LOG] = "SCMP_ACT_LOG",
	[SPEC_SECCOMP_ACT_NOTIFY] = "SCMP_ACT_NOTIFY",
	[SPEC_SECCOMP_ACT__MAX] = NULL,
};

static const char *const op_names[SPEC_SECCOMP_OP__MAX + 1] = {
	[SPEC_SECCOMP_OP_NE] = "SCMP_CMP_NE",
	[SPEC_SECCOMP_OP_LT] = "SCMP_CMP_LT",
	[SPEC_SECCOMP_OP_LE] = "SCMP_CMP_LE",
	[SPEC_SECCOMP_OP_EQ] = "SCMP_CMP_EQ",
	[SPEC_SECCOMP_OP_GE] = "SCMP_CMP_GE",
	[SPEC_SECCOMP_OP_GT] = "SCMP_CMP_GT",
	[SPEC_SECCOMP_OP_MASKED_EQ] = "SCMP_CMP_MASKED_EQ",
	[SPEC_SECCOMP_OP__MAX] = NULL,
};

/* Position i names flag bit (1 << i). */
static const char *const flag_names[SPEC_SECCOMP_FLAG__COUNT + 1] = {
	"SECCOMP_FILTER_FLAG_TSYNC",
	"SECCOMP_FILTER_FLAG_LOG",
	"SECCOMP_FILTER_FLAG_SPEC_ALLOW",
	"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
	NULL,
};

/* The runtime-spec's list plus the ones libseccomp added since; whether the
 * running libseccomp knows one is decided when the filter is built. */
static const char *const arch_names[] = {
	"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32",
	"SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
	"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
	"SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
	"SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE",
	"SCMP_ARCH_S390", "SCMP_ARCH_S390X",
	"SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64",
	"SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K",
	"SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
	NULL,
};

const char *spec_seccomp_action_name(enum spec_seccomp_action a)
{
	return (unsigned) a < SPEC_SECCOMP_ACT__MAX ? action_names[a] : NULL;
}

const char *spec_seccomp_op_name(enum spec_seccomp_op op)
{
	return (unsigned) op < SPEC_SECCOMP_OP__MAX ? op_names[op] : NULL;
}

const char *spec_seccomp_flag_name(enum spec_seccomp_flag f)
{
	for (unsigned i = 0; i < SPEC_SECCOMP_FLAG__COUNT; i++)
		if ((unsigned) f == (1u << i))
			return flag_names[i];
	return NULL;
}

const char *const *spec_seccomp_action_names(void) { return action_names; }
const char *const *spec_seccomp_op_names(void) { return op_names; }
const char *const *spec_seccomp_flag_names(void) { return flag_names; }
const char *const *spec_seccomp_arch_names(void) { return arch_names; }

static int lookup(const char *const *table, const char *name)
{
	for (int i = 0; table[i]; i++)
		if (strcmp(table[i], name) == 0)
			return i;
	return -1;
}

/* JSON null counts as absent, as Go-based runtimes decode it. */
static json_t *member(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_null(v) ? NULL : v;
}

static int get_string(json_t *obj, const char *key, const char *path, bool required,
		      char **out, struct berth_error *err)
{
	json_t *v = member(obj, key);
	if (!v) {
		if (required)
			return berth_err(err, EINVAL, "%s.%s: required", path, key);
		return 0;
	}
	if (!json_is_string(v))
		return berth_err(err, EINVAL, "%s.%s: must be a string", path, key);
	char *s = strdup(json_string_value(v));
	if (!s)
		return berth_errno(err, ENOMEM, "%s.%s", path, key);
	*out = s;
	return 0;
}

static int get_u64(json_t *v, const char *path, const char *key, uint64_t max, uint64_t *out,
		   struct berth_error *err)
{
	if (!json_is_integer(v))
		return berth_err(err, EINVAL, "%s.%s: must be an unsigned integer", path, key);
	json_int_t n = json_integer_value(v);
	if (n < 0 || (uint64_t) n > max)
		return berth_err(err, ERANGE, "%s.%s: %lld is out of range 0..%llu", path, key,
				 (long long) n, (unsigned long long) max);
	*out = (uint64_t) n;
	return 0;
}

static int get_action(json_t *obj, const char *key, const char *path,
		      enum spec_seccomp_action *out, struct berth_error *err)
{
	json_t *v = member(obj, key);
	if (!v)
		return berth_err(err, EINVAL, "%s.%s: required", path, key);
	if (!json_is_string(v))
		return berth_err(err, EINVAL, "%s.%s: must be a string", path, key);
	int a = lookup(action_names, json_string_value(v));
	if (a < 0)
		return berth_err(err, EINVAL, "%s.%s: unknown action \"%s\"", path, key,
				 json_string_value(v));
	*out = (enum spec_seccomp_action) a;
	return 0;
}

/* errnoRet belongs to the action that can carry a return value; on any other
 * action the spec says the runtime must fail rather than drop it. */
static int get_errno_ret(json_t *obj, const char *key, const char *path,
			 enum spec_seccomp_action action, bool *has, uint32_t *out,
			 struct berth_error *err)
{
	json_t *v = member(obj, key);
	if (!v)
		return 0;
	uint64_t n = 0;
	int r = get_u64(v, path, key, 0xffff, &n, err);
	if (r < 0)
		return r;
	if (action != SPEC_SECCOMP_ACT_ERRNO && action != SPEC_SECCOMP_ACT_TRACE)
		return berth_err(err, EINVAL,
				 "%s.%s: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not %s",
				 path, key, action_names[action]);
	*has = true;
	*out = (uint32_t) n;
	return 0;
}

static int parse_arg(json_t *obj, const char *path, struct spec_seccomp_arg *a,
		     struct berth_error *err)
{
	if (!json_is_object(obj))
		return berth_err(err, EINVAL, "%s: must be an object", path);

	json_t *v = member(obj, "index");
	if (!v)
		return berth_err(err, EINVAL, "%s.index: required", path);
	uint64_t n = 0;
	int r = get_u64(v, path, "index", SPEC_SECCOMP_MAX_ARGS - 1, &n, err);
	if (r < 0)
		return r;
	a->index = (unsigned) n;

	v = member(obj, "value");
	if (!v)
		return berth_err(err, EINVAL, "%s.value: required", path);
	r = get_u64(v, path, "value", UINT64_MAX, &a->value, err);
	if (r < 0)
		return r;

	v = member(obj, "valueTwo");
	a->value_two = 0;
	if (v) {
		r = get_u64(v, path, "valueTwo", UINT64_MAX, &a->value_two, err);
		if (r < 0)
			return r;
	}

	v = member(obj, "op");
	if (!v)
		return berth_err(err, EINVAL, "%s.op: required", path);
	if (!json_is_string(v))
		return berth_err(err, EINVAL, "%s.op: must be a string", path);
	int op = lookup(op_names, json_string_value(v));
	if (op < 0)
		return berth_err(err, EINVAL, "%s.op: unknown operator \"%s\"", path,
				 json_string_value(v));
	a->op = (enum spec_seccomp_op) op;
	return 0;
}

static void syscall_clear(struct spec_seccomp_syscall *sc)
{
	if (sc->names)
		for (size_t i = 0; i < sc->n_names; i++)
			free(sc->names[i]);
	free(sc->names);
	free(sc->args);
}

static int parse_syscall(json_t *obj, const char *path, struct spec_seccomp_syscall *sc,
			 struct berth_error *err)
{
	if (!json_is_object(obj))
		return berth_err(err, EINVAL, "%s: must be an object", path);

	json_t *names = member(obj, "names");
	if (!names)
		return berth_err(err, EINVAL, "%s.names: required", path);
	if (!json_is_array(names) || json_array_size(names) == 0)
		return berth_err(err, EINVAL, "%s.names: must be a non-empty array of strings", path);
	size_t n = json_array_size(names);
	sc->names = calloc(n + 1, sizeof(char *));
	if (!sc->names)
		return berth_errno(err, ENOMEM, "%s.names", path);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(names, i);
		if (!json_is_string(e) || json_string_length(e) == 0)
			return berth_err(err, EINVAL, "%s.names[%zu]: must be a non-empty string",
					 path, i);
		sc->names[i] = strdup(json_string_value(e));
		if (!sc->names[i])
			return berth_errno(err, ENOMEM, "%s.names[%zu]", path, i);
		sc->n_names = i + 1;
	}

	int r = get_action(obj, "action", path, &sc->action, err);
	if (r < 0)
		return r;
	r = get_errno_ret(obj, "errnoRet", path, sc->action, &sc->has_errno_ret, &sc->errno_ret, err);
	if (r < 0)
		return r;

	json_t *args = member(obj, "args");
	if (args) {
		if (!json_is_array(args))
			return berth_err(err, EINVAL, "%s.args: must be an array", path);
		size_t na = json_array_size(args);
		if (na > 0) {
			sc->args = calloc(na, sizeof(*sc->args));
			if (!sc->args)
				return berth_errno(err, ENOMEM, "%s.args", path);
		}
		for (size_t i = 0; i < na; i++) {
			_cleanup_free_ char *apath = NULL;
			if (asprintf(&apath, "%s.args[%zu]", path, i) < 0)
				return berth_errno(err, ENOMEM, "%s.args", path);
			r = parse_arg(json_array_get(args, i), apath, &sc->args[i], err);
			if (r < 0)
				return r;
			sc->n_args = i + 1;
		}
	}

	/* runc refuses this too: the runtime itself writes after the filter is
	 * loaded, and a write waiting on an agent it has not told yet never
	 * returns. */
	if (sc->action == SPEC_SECCOMP_ACT_NOTIFY)
		for (size_t i = 0; i < sc->n_names; i++)
			if (strcmp(sc->names[i], "write") == 0)
				return berth_err(err, EINVAL,
						 "%s.names[%zu]: SCMP_ACT_NOTIFY cannot be used for the write syscall",
						 path, i);
	return 0;
}

static int parse_architectures(json_t *v, const char *path, struct spec_seccomp *s,
			       struct berth_error *err)
{
	if (!json_is_array(v))
		return berth_err(err, EINVAL, "%s.architectures: must be an array of strings", path);
	size_t n = json_array_size(v);
	s->architectures = calloc(n + 1, sizeof(char *));
	if (!s->architectures)
		return berth_errno(err, ENOMEM, "%s.architectures", path);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		if (!json_is_string(e))
			return berth_err(err, EINVAL, "%s.architectures[%zu]: must be a string", path, i);
		if (lookup(arch_names, json_string_value(e)) < 0)
			return berth_err(err, EINVAL, "%s.architectures[%zu]: unknown architecture \"%s\"",
					 path, i, json_string_value(e));
		s->architectures[i] = strdup(json_string_value(e));
		if (!s->architectures[i])
			return berth_errno(err, ENOMEM, "%s.architectures[%zu]", path, i);
		s->n_architectures = i + 1;
	}
	return 0;
}

static int parse_flags(json_t *v, const char *path, unsigned *flags, struct berth_error *err)
{
	if (!json_is_array(v))
		return berth_err(err, EINVAL, "%s.flags: must be an array of strings", path);
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *e = json_array_get(v, i);
		if (!json_is_string(e))
			return berth_err(err, EINVAL, "%s.flags[%zu]: must be a string", path, i);
		int f = lookup(flag_names, json_string_value(e));
		if (f < 0)
			return berth_err(err, EINVAL, "%s.flags[%zu]: unknown flag \"%s\"", path, i,
					 json_string_value(e));
		*flags |= 1u << f;
	}
	return 0;
}

int spec_seccomp_parse(json_t *obj, const char *path, struct spec_seccomp **out,
		       struct berth_error *err)
{
	if (!path)
		path = "linux.seccomp";
	if (!json_is_object(obj))
		return berth_err(err, EINVAL, "%s: must be an object", path);

	struct spec_seccomp *s = calloc(1, sizeof(*s));
	if (!s)
		return berth_errno(err, ENOMEM, "%s", path);
	int r;

	r = get_action(obj, "defaultAction", path, &s->default_action, err);
	if (r < 0)
		goto fail;
	/* runc refuses this: the runtime's own syscalls after loading would wait
	 * on an agent that has not been handed the fd yet. */
	if (s->default_action == SPEC_SECCOMP_ACT_NOTIFY) {
		r = berth_err(err, EINVAL, "%s.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action",
			      path);
		goto fail;
	}
	r = get_errno_ret(obj, "defaultErrnoRet", path, s->default_action,
			  &s->has_default_errno_ret, &s->default_errno_ret, err);
	if (r < 0)
		goto fail;

	json_t *v = member(obj, "architectures");
	if (v && (r = parse_architectures(v, path, s, err)) < 0)
		goto fail;
	v = member(obj, "flags");
	if (v && (r = parse_flags(v, path, &s->flags, err)) < 0)
		goto fail;
	r = get_string(obj, "listenerPath", path, false, &s->listener_path, err);
	if (r < 0)
		goto fail;
	if (s->listener_path && s->listener_path[0] == '\0') {
		free(steal_ptr(s->listener_path));
	}
	r = get_string(obj, "listenerMetadata", path, false, &s->listener_metadata, err);
	if (r < 0)
		goto fail;

	v = member(obj, "syscalls");
	if (v) {
		if (!json_is_array(v)) {
			r = berth_err(err, EINVAL, "%s.syscalls: must be an array", path);
			goto fail;
		}
		size_t n = json_array_size(v);
		if (n > 0) {
			s->syscalls = calloc(n, sizeof(*s->syscalls));
			if (!s->syscalls) {
				r = berth_errno(err, ENOMEM, "%s.syscalls", path);
				goto fail;
			}
		}
		for (size_t i = 0; i < n; i++) {
			_cleanup_free_ char *spath = NULL;
			if (asprintf(&spath, "%s.syscalls[%zu]", path, i) < 0) {
				r = berth_errno(err, ENOMEM, "%s.syscalls", path);
				goto fail;
			}
			/* Counted before parsing so a half-filled entry is freed too. */
			s->n_syscalls = i + 1;
			r = parse_syscall(json_array_get(v, i), spath, &s->syscalls[i], err);
			if (r < 0)
				goto fail;
			if (s->syscalls[i].action == SPEC_SECCOMP_ACT_NOTIFY && !s->listener_path) {
				r = berth_err(err, EINVAL,
					      "%s.listenerPath: required because %s.action is SCMP_ACT_NOTIFY",
					      path, spath);
				goto fail;
			}
		}
	}

	*out = s;
	return 0;
fail:
	spec_seccomp_free(s);
	return r;
}

void spec_seccomp_free(struct spec_seccomp *s)
{
	if (!s)
		return;
	if (s->architectures)
		for (size_t i = 0; i < s->n_architectures; i++)
			free(s->architectures[i]);
	free(s->architectures);
	free(s->listener_path);
	free(s->listener_metadata);
	for (size_t i = 0; i < s->n_syscalls; i++)
		syscall_clear(&s->syscalls[i]);
	free(s->syscalls);
	free(s);
}
