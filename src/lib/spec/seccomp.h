/* seccomp.h — linux.seccomp of the runtime-spec (1.2) as C structs.
 *
 * Promises: spec_seccomp_parse() either yields a struct whose every enum is
 * decoded and every rule the spec states is already checked (known actions,
 * architectures, operators and flags; args index 0..5; errnoRet only with
 * SCMP_ACT_ERRNO/SCMP_ACT_TRACE and within 0..65535; a listenerPath whenever
 * SCMP_ACT_NOTIFY is used; SCMP_ACT_NOTIFY neither as defaultAction nor on
 * "write", as runc refuses both), or fails with a berth_error naming the
 * JSON path ("linux.seccomp.syscalls[3].action: unknown action
 * \"SCMP_ACT_FOO\"").  Syscall names are kept as written and are not checked:
 * a name this host does not know is skipped when the filter is built, so one
 * profile serves kernels of different ages.  This module knows nothing of
 * libseccomp; linux/seccomp.h turns the struct into a filter.
 */
#ifndef BERTH_SPEC_SECCOMP_H
#define BERTH_SPEC_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include "core/error.h"

enum spec_seccomp_action {
	SPEC_SECCOMP_ACT_KILL,          /* kill the thread (SECCOMP_RET_KILL_THREAD) */
	SPEC_SECCOMP_ACT_KILL_PROCESS,
	SPEC_SECCOMP_ACT_KILL_THREAD,
	SPEC_SECCOMP_ACT_TRAP,
	SPEC_SECCOMP_ACT_ERRNO,
	SPEC_SECCOMP_ACT_TRACE,
	SPEC_SECCOMP_ACT_ALLOW,
	SPEC_SECCOMP_ACT_LOG,
	SPEC_SECCOMP_ACT_NOTIFY,
	SPEC_SECCOMP_ACT__MAX,
};

enum spec_seccomp_op {
	SPEC_SECCOMP_OP_NE,
	SPEC_SECCOMP_OP_LT,
	SPEC_SECCOMP_OP_LE,
	SPEC_SECCOMP_OP_EQ,
	SPEC_SECCOMP_OP_GE,
	SPEC_SECCOMP_OP_GT,
	SPEC_SECCOMP_OP_MASKED_EQ,  /* (arg & value) == valueTwo */
	SPEC_SECCOMP_OP__MAX,
};

/* Bits of spec_seccomp.flags; one per runtime-spec flag name. */
enum spec_seccomp_flag {
	SPEC_SECCOMP_FLAG_TSYNC              = 1u << 0,
	SPEC_SECCOMP_FLAG_LOG                = 1u << 1,
	SPEC_SECCOMP_FLAG_SPEC_ALLOW         = 1u << 2,
	SPEC_SECCOMP_FLAG_WAIT_KILLABLE_RECV = 1u << 3,
};
#define SPEC_SECCOMP_FLAG__COUNT 4

#define SPEC_SECCOMP_MAX_ARGS 6

struct spec_seccomp_arg {
	unsigned index;              /* 0..5 */
	uint64_t value;
	uint64_t value_two;          /* 0 when absent */
	enum spec_seccomp_op op;
};

struct spec_seccomp_syscall {
	char **names;                /* NULL-terminated, n_names >= 1, each non-empty */
	size_t n_names;
	enum spec_seccomp_action action;
	bool has_errno_ret;          /* only ever true for ERRNO / TRACE */
	uint32_t errno_ret;          /* <= 65535 */
	struct spec_seccomp_arg *args;
	size_t n_args;
};

struct spec_seccomp {
	enum spec_seccomp_action default_action;  /* never NOTIFY */
	bool has_default_errno_ret;               /* only ever true for ERRNO / TRACE */
	uint32_t default_errno_ret;               /* <= 65535 */
	char **architectures;        /* NULL-terminated spec names ("SCMP_ARCH_X86_64"), all known */
	size_t n_architectures;
	unsigned flags;              /* SPEC_SECCOMP_FLAG_* */
	char *listener_path;         /* non-NULL whenever some syscall uses NOTIFY; else may be
					NULL, and is unused (the spec says it is then ignored) */
	char *listener_metadata;     /* may be NULL */
	struct spec_seccomp_syscall *syscalls;
	size_t n_syscalls;
};

/* Parse the linux.seccomp object `obj` (JSON path `path`) into *out. */
int spec_seccomp_parse(json_t *obj, const char *path, struct spec_seccomp **out,
		       struct berth_error *err);
void spec_seccomp_free(struct spec_seccomp *s);

/* Spellings as the runtime-spec writes them ("SCMP_ACT_ERRNO",
 * "SCMP_CMP_MASKED_EQ", "SECCOMP_FILTER_FLAG_TSYNC"); NULL when out of range. */
const char *spec_seccomp_action_name(enum spec_seccomp_action a);
const char *spec_seccomp_op_name(enum spec_seccomp_op op);
const char *spec_seccomp_flag_name(enum spec_seccomp_flag f);

/* NULL-terminated lists of every name the parser accepts (for `features`). */
const char *const *spec_seccomp_action_names(void);
const char *const *spec_seccomp_op_names(void);
const char *const *spec_seccomp_flag_names(void);
const char *const *spec_seccomp_arch_names(void);

#endif
