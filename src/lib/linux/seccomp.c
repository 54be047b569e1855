#include "linux/seccomp.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/log.h"

/* Older uapi headers lack the newer flags; the numbers are kernel ABI. */
#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#ifndef SECCOMP_FILTER_FLAG_TSYNC_ESRCH
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH (1UL << 4)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef SECCOMP_GET_ACTION_AVAIL
#define SECCOMP_GET_ACTION_AVAIL 2
#endif

struct linux_seccomp {
	struct sock_filter *insns;
	unsigned short n_insns;
	unsigned long flags;   /* SECCOMP_FILTER_FLAG_* for seccomp(2) */
	bool notify;
};

static void ctx_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

static long sys_seccomp(unsigned op, unsigned long flags, void *args)
{
	return syscall(SYS_seccomp, op, flags, args);
}

/* The kernel checks flags before it reads the program, so a NULL program
 * answers EFAULT exactly when the flag combination is known. */
static bool kernel_flags_ok(unsigned long flags)
{
	return sys_seccomp(SECCOMP_SET_MODE_FILTER, flags, NULL) < 0 && errno == EFAULT;
}

bool linux_seccomp_kernel_supported(void)
{
	return kernel_flags_ok(0);
}

static unsigned long kernel_flag(enum spec_seccomp_flag f)
{
	switch (f) {
	case SPEC_SECCOMP_FLAG_TSYNC: return SECCOMP_FILTER_FLAG_TSYNC;
	case SPEC_SECCOMP_FLAG_LOG: return SECCOMP_FILTER_FLAG_LOG;
	case SPEC_SECCOMP_FLAG_SPEC_ALLOW: return SECCOMP_FILTER_FLAG_SPEC_ALLOW;
	case SPEC_SECCOMP_FLAG_WAIT_KILLABLE_RECV: return SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
	default: return 0;
	}
}

bool linux_seccomp_flag_supported(enum spec_seccomp_flag flag)
{
	unsigned long k = kernel_flag(flag);
	if (!k)
		return false;
	/* The kernel accepts WAIT_KILLABLE_RECV only next to a listener. */
	if (k == SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
		k |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
	return kernel_flags_ok(k);
}

static uint32_t scmp_action(enum spec_seccomp_action a, bool has_ret, uint32_t ret)
{
	uint32_t data = has_ret ? ret : EPERM;
	switch (a) {
	case SPEC_SECCOMP_ACT_KILL:
	case SPEC_SECCOMP_ACT_KILL_THREAD: return SCMP_ACT_KILL_THREAD;
	case SPEC_SECCOMP_ACT_KILL_PROCESS: return SCMP_ACT_KILL_PROCESS;
	case SPEC_SECCOMP_ACT_TRAP: return SCMP_ACT_TRAP;
	case SPEC_SECCOMP_ACT_ERRNO: return SCMP_ACT_ERRNO(data);
	case SPEC_SECCOMP_ACT_TRACE: return SCMP_ACT_TRACE(data);
	case SPEC_SECCOMP_ACT_ALLOW: return SCMP_ACT_ALLOW;
	case SPEC_SECCOMP_ACT_LOG: return SCMP_ACT_LOG;
	case SPEC_SECCOMP_ACT_NOTIFY: return SCMP_ACT_NOTIFY;
	case SPEC_SECCOMP_ACT__MAX: break;
	}
	return SCMP_ACT_KILL_THREAD;
}

/* Actions newer than the original seccomp filter mode (4.14: KILL_PROCESS,
 * LOG; 5.0: USER_NOTIF) are asked of the kernel, so an old host fails here
 * with a name rather than at load time with EINVAL. */
static int check_action(enum spec_seccomp_action a, const char *path, struct berth_error *err)
{
	uint32_t ret;
	switch (a) {
	case SPEC_SECCOMP_ACT_KILL_PROCESS: ret = SECCOMP_RET_KILL_PROCESS; break;
	case SPEC_SECCOMP_ACT_LOG: ret = SECCOMP_RET_LOG; break;
	case SPEC_SECCOMP_ACT_NOTIFY: ret = SECCOMP_RET_USER_NOTIF; break;
	default: return 0;
	}
	if (sys_seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &ret) < 0)
		return berth_err(err, EOPNOTSUPP, "%s: %s is not supported by this kernel", path,
				 spec_seccomp_action_name(a));
	return 0;
}

static enum scmp_compare scmp_op(enum spec_seccomp_op op)
{
	switch (op) {
	case SPEC_SECCOMP_OP_NE: return SCMP_CMP_NE;
	case SPEC_SECCOMP_OP_LT: return SCMP_CMP_LT;
	case SPEC_SECCOMP_OP_LE: return SCMP_CMP_LE;
	case SPEC_SECCOMP_OP_EQ: return SCMP_CMP_EQ;
	case SPEC_SECCOMP_OP_GE: return SCMP_CMP_GE;
	case SPEC_SECCOMP_OP_GT: return SCMP_CMP_GT;
	case SPEC_SECCOMP_OP_MASKED_EQ: return SCMP_CMP_MASKED_EQ;
	case SPEC_SECCOMP_OP__MAX: break;
	}
	return _SCMP_CMP_MIN;
}

static int add_architectures(scmp_filter_ctx ctx, const struct spec_seccomp *s,
			     struct berth_error *err)
{
	for (size_t i = 0; i < s->n_architectures; i++) {
		const char *name = s->architectures[i];
		/* libseccomp spells "SCMP_ARCH_X86_64" as "x86_64". */
		char lower[64];
		const char *suffix = name + strlen("SCMP_ARCH_");
		size_t n = strlen(suffix);
		if (strncmp(name, "SCMP_ARCH_", 10) != 0 || n >= sizeof(lower))
			return berth_err(err, EINVAL, "linux.seccomp.architectures[%zu]: unknown architecture \"%s\"",
					 i, name);
		for (size_t j = 0; j <= n; j++)
			lower[j] = (char) tolower((unsigned char) suffix[j]);
		uint32_t token = seccomp_arch_resolve_name(lower);
		if (token == 0)
			return berth_err(err, EOPNOTSUPP,
					 "linux.seccomp.architectures[%zu]: %s is not supported by this libseccomp",
					 i, name);
		int r = seccomp_arch_add(ctx, token);
		if (r < 0 && r != -EEXIST)
			return berth_errno(err, r, "linux.seccomp.architectures[%zu]: adding %s", i, name);
	}
	return 0;
}

static int add_syscall_rules(scmp_filter_ctx ctx, const struct spec_seccomp *s, uint32_t def_act,
			     size_t idx, struct berth_error *err)
{
	const struct spec_seccomp_syscall *sc = &s->syscalls[idx];
	uint32_t act = scmp_action(sc->action, sc->has_errno_ret, sc->errno_ret);

	/* libseccomp refuses a rule that repeats the default action; it would
	 * change nothing anyway. */
	if (act == def_act)
		return 0;

	char path[64];
	snprintf(path, sizeof(path), "linux.seccomp.syscalls[%zu].action", idx);
	int r = check_action(sc->action, path, err);
	if (r < 0)
		return r;

	_cleanup_free_ struct scmp_arg_cmp *conds = NULL;
	unsigned per_index[SPEC_SECCOMP_MAX_ARGS] = { 0 };
	bool same_index = false;
	if (sc->n_args > 0) {
		conds = calloc(sc->n_args, sizeof(*conds));
		if (!conds)
			return berth_errno(err, ENOMEM, "linux.seccomp.syscalls[%zu].args", idx);
	}
	for (size_t i = 0; i < sc->n_args; i++) {
		const struct spec_seccomp_arg *a = &sc->args[i];
		/* MASKED_EQ: libseccomp's datum_a is the mask, datum_b the value,
		 * which is the order of the spec's value / valueTwo. */
		conds[i] = (struct scmp_arg_cmp) {
			.arg = a->index,
			.op = scmp_op(a->op),
			.datum_a = a->value,
			.datum_b = a->value_two,
		};
		if (++per_index[a->index] > 1)
			same_index = true;
	}

	for (size_t n = 0; n < sc->n_names; n++) {
		const char *name = sc->names[n];
		int nr = seccomp_syscall_resolve_name(name);
		if (nr == __NR_SCMP_ERROR) {
			log_debug("seccomp: unknown syscall \"%s\" ignored (linux.seccomp.syscalls[%zu].names[%zu])",
				  name, idx, n);
			continue;
		}
		if (sc->n_args == 0) {
			r = seccomp_rule_add_array(ctx, act, nr, 0, NULL);
		} else if (!same_index) {
			r = seccomp_rule_add_array(ctx, act, nr, (unsigned) sc->n_args, conds);
		} else {
			/* One argument compared twice cannot be ANDed in libseccomp's
			 * rule model; each condition matches on its own instead. */
			r = 0;
			for (size_t i = 0; i < sc->n_args && r >= 0; i++)
				r = seccomp_rule_add_array(ctx, act, nr, 1, &conds[i]);
		}
		if (r < 0)
			return berth_errno(err, r, "linux.seccomp.syscalls[%zu]: adding the rule for \"%s\"",
					   idx, name);
	}
	return 0;
}

/* seccomp_export_bpf() only writes to an fd; a memfd holds the program
 * without touching the file system. */
static int export_program(scmp_filter_ctx ctx, struct linux_seccomp *f, struct berth_error *err)
{
	_cleanup_close_ int fd = memfd_create("berth-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return berth_errno(err, errno, "linux.seccomp: memfd_create");
	int r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return berth_errno(err, r, "linux.seccomp: compiling the filter");
	struct stat st;
	if (fstat(fd, &st) < 0)
		return berth_errno(err, errno, "linux.seccomp: fstat of the compiled filter");
	size_t size = (size_t) st.st_size;
	if (size == 0 || size % sizeof(struct sock_filter) != 0)
		return berth_err(err, EIO, "linux.seccomp: compiled filter has an odd size (%zu bytes)", size);
	size_t n = size / sizeof(struct sock_filter);
	if (n > BPF_MAXINSNS)
		return berth_err(err, E2BIG,
				 "linux.seccomp: the compiled filter has %zu instructions, the kernel accepts at most %d",
				 n, BPF_MAXINSNS);
	f->insns = malloc(size);
	if (!f->insns)
		return berth_errno(err, ENOMEM, "linux.seccomp");
	size_t got = 0;
	while (got < size) {
		ssize_t k = pread(fd, (char *) f->insns + got, size - got, (off_t) got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return berth_errno(err, k < 0 ? errno : EIO, "linux.seccomp: reading the compiled filter");
		got += (size_t) k;
	}
	f->n_insns = (unsigned short) n;
	return 0;
}

static int build_flags(const struct spec_seccomp *s, struct linux_seccomp *f, struct berth_error *err)
{
	for (unsigned i = 0; i < SPEC_SECCOMP_FLAG__COUNT; i++) {
		enum spec_seccomp_flag flag = (enum spec_seccomp_flag) (1u << i);
		if (!(s->flags & flag))
			continue;
		if (!linux_seccomp_flag_supported(flag))
			return berth_err(err, EOPNOTSUPP, "linux.seccomp.flags: %s is not supported by this kernel",
					 spec_seccomp_flag_name(flag));
		if (flag == SPEC_SECCOMP_FLAG_WAIT_KILLABLE_RECV && !f->notify) {
			/* It governs how a notifying syscall waits for its agent;
			 * with no listener there is nothing for it to change, and the
			 * kernel refuses it alone. */
			log_debug("seccomp: %s has no effect without SCMP_ACT_NOTIFY",
				  spec_seccomp_flag_name(flag));
			continue;
		}
		f->flags |= kernel_flag(flag);
	}
	if (f->notify) {
		f->flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
		/* With TSYNC the kernel would return a thread id where the listener
		 * fd belongs; TSYNC_ESRCH makes a sync failure an error instead. */
		if (f->flags & SECCOMP_FILTER_FLAG_TSYNC) {
			f->flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
			if (!kernel_flags_ok(f->flags))
				return berth_err(err, EOPNOTSUPP,
						 "linux.seccomp.flags: SECCOMP_FILTER_FLAG_TSYNC together with SCMP_ACT_NOTIFY is not supported by this kernel");
		}
	}
	if (!kernel_flags_ok(f->flags))
		return berth_err(err, EOPNOTSUPP, "linux.seccomp: this kernel refuses the filter flags 0x%lx",
				 f->flags);
	return 0;
}

int linux_seccomp_build(const struct spec_seccomp *s, struct linux_seccomp **out,
			struct berth_error *err)
{
	if (!linux_seccomp_kernel_supported())
		return berth_err(err, EOPNOTSUPP, "linux.seccomp: this kernel has no seccomp filter support");

	int r = check_action(s->default_action, "linux.seccomp.defaultAction", err);
	if (r < 0)
		return r;
	uint32_t def_act = scmp_action(s->default_action, s->has_default_errno_ret,
				       s->default_errno_ret);

	_cleanup_(ctx_releasep) scmp_filter_ctx ctx = seccomp_init(def_act);
	if (!ctx)
		return berth_err(err, EINVAL, "linux.seccomp.defaultAction: libseccomp refused %s",
				 spec_seccomp_action_name(s->default_action));

	r = add_architectures(ctx, s, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s->n_syscalls; i++) {
		r = add_syscall_rules(ctx, s, def_act, i, err);
		if (r < 0)
			return r;
	}

	_cleanup_free_ struct linux_seccomp *f = calloc(1, sizeof(*f));
	if (!f)
		return berth_errno(err, ENOMEM, "linux.seccomp");
	f->notify = linux_seccomp_uses_notify(s);
	r = build_flags(s, f, err);
	if (r < 0)
		return r;
	r = export_program(ctx, f, err);
	if (r < 0) {
		free(f->insns);
		return r;
	}
	*out = steal_ptr(f);
	return 0;
}

int linux_seccomp_load(struct linux_seccomp *f, int *notify_fd, struct berth_error *err)
{
	if (notify_fd)
		*notify_fd = -1;
	if (f->notify && !notify_fd)
		return berth_err(err, EINVAL, "linux.seccomp: the filter notifies but no fd slot was given");

	struct sock_fprog prog = { .len = f->n_insns, .filter = f->insns };
	long r = sys_seccomp(SECCOMP_SET_MODE_FILTER, f->flags, &prog);
	if (r < 0) {
		int e = errno;
		if (e == EACCES)
			return berth_errno(err, e,
					   "loading the seccomp filter (needs no_new_privs or CAP_SYS_ADMIN)");
		if (e == ESRCH)
			return berth_errno(err, e,
					   "loading the seccomp filter: another thread could not be synchronized (SECCOMP_FILTER_FLAG_TSYNC)");
		return berth_errno(err, e, "loading the seccomp filter");
	}
	if (f->notify) {
		*notify_fd = (int) r;
	} else if (r > 0) {
		/* TSYNC without a listener reports the thread that blocked the
		 * sync by returning its id. */
		return berth_err(err, ESRCH,
				 "loading the seccomp filter: thread %ld could not be synchronized (SECCOMP_FILTER_FLAG_TSYNC)",
				 r);
	}
	return 0;
}

bool linux_seccomp_uses_notify(const struct spec_seccomp *s)
{
	if (!s)
		return false;
	if (s->default_action == SPEC_SECCOMP_ACT_NOTIFY)
		return true;
	for (size_t i = 0; i < s->n_syscalls; i++)
		if (s->syscalls[i].action == SPEC_SECCOMP_ACT_NOTIFY)
			return true;
	return false;
}

const char *linux_seccomp_listener_path(const struct spec_seccomp *s)
{
	return s ? s->listener_path : NULL;
}

int linux_seccomp_send_notify_fd(int sock, int notify_fd, const struct spec_seccomp *s, pid_t pid,
				 const char *state_json, struct berth_error *err)
{
	if (notify_fd < 0)
		return berth_err(err, EBADF, "seccomp agent: no notify fd to send");
	if (!state_json)
		return berth_err(err, EINVAL, "seccomp agent: no container state to send");

	json_error_t jerr;
	json_auto_t *root = json_object();
	if (!root)
		return berth_errno(err, ENOMEM, "seccomp agent: building the container process state");
	/* set_new takes the reference whether or not it succeeds. */
	json_t *state = json_loads(state_json, 0, &jerr);
	if (!state)
		return berth_err(err, EINVAL, "seccomp agent: container state is not JSON: %s (line %d)",
				 jerr.text, jerr.line);
	if (json_object_set_new(root, "state", state) < 0 ||
	    json_object_set_new(root, "ociVersion", json_string("1.2.0")) < 0 ||
	    json_object_set_new(root, "fds", json_pack("[s]", "seccompFd")) < 0 ||
	    json_object_set_new(root, "pid", json_integer(pid)) < 0 ||
	    json_object_set_new(root, "metadata",
				json_string(s && s->listener_metadata ? s->listener_metadata : "")) < 0)
		return berth_errno(err, ENOMEM, "seccomp agent: building the container process state");
	_cleanup_free_ char *text = json_dumps(root, JSON_COMPACT);
	if (!text)
		return berth_errno(err, ENOMEM, "seccomp agent: encoding the container process state");
	size_t len = strlen(text);

	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct iovec iov = { .iov_base = text, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &notify_fd, sizeof(int));

	size_t sent = 0;
	while (sent < len) {
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berth_errno(err, errno, "seccomp agent: sending the notify fd");
		sent += (size_t) n;
		/* The fd went with the first chunk; a stream socket may take the
		 * text in several. */
		iov.iov_base = text + sent;
		iov.iov_len = len - sent;
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
	}
	return 0;
}

void linux_seccomp_free(struct linux_seccomp *f)
{
	if (!f)
		return;
	free(f->insns);
	free(f);
}

const char *const *linux_seccomp_known_actions(void) { return spec_seccomp_action_names(); }
const char *const *linux_seccomp_known_architectures(void) { return spec_seccomp_arch_names(); }
const char *const *linux_seccomp_known_operators(void) { return spec_seccomp_op_names(); }
const char *const *linux_seccomp_known_flags(void) { return spec_seccomp_flag_names(); }

/* --- compiled-filter cache ----------------------------------------------- */

#define CACHE_MAGIC 0x62736363u   /* "bscc" */

struct cache_header {
	uint32_t magic;
	uint32_t n_insns;
	uint64_t flags;
	uint32_t notify;
	uint32_t pad;
};

static void hash_u64(struct berth_hasher *h, uint64_t v)
{
	berth_hasher_update(h, &v, sizeof(v));
}

static void hash_str(struct berth_hasher *h, const char *str)
{
	uint64_t n = str ? strlen(str) : UINT64_MAX;
	hash_u64(h, n);
	if (str)
		berth_hasher_update(h, str, strlen(str));
}

/* Everything the compiled program depends on: the profile, libseccomp's
 * version (its code generation changes), and the machine. */
static int cache_key(const struct spec_seccomp *s, char out[BERTH_DIGEST_MAX])
{
	struct berth_hasher *h = NULL;
	int r = berth_hasher_new(BERTH_DIGEST_SHA256, &h);
	if (r < 0)
		return r;
	const struct scmp_version *v = seccomp_version();
	struct utsname u;
	uname(&u);
	hash_str(h, "berth-seccomp-cache-1");
	hash_u64(h, v ? ((uint64_t) v->major << 32) | (v->minor << 16) | v->micro : 0);
	hash_str(h, u.machine);
	hash_u64(h, s->default_action);
	hash_u64(h, s->has_default_errno_ret);
	hash_u64(h, s->default_errno_ret);
	for (size_t i = 0; i < s->n_architectures; i++)
		hash_str(h, s->architectures[i]);
	hash_u64(h, s->n_architectures);
	hash_u64(h, s->flags);
	for (size_t i = 0; i < s->n_syscalls; i++) {
		const struct spec_seccomp_syscall *sc = &s->syscalls[i];
		for (size_t k = 0; k < sc->n_names; k++)
			hash_str(h, sc->names[k]);
		hash_u64(h, sc->n_names);
		hash_u64(h, sc->action);
		hash_u64(h, sc->has_errno_ret);
		hash_u64(h, sc->errno_ret);
		for (size_t k = 0; k < sc->n_args; k++) {
			hash_u64(h, sc->args[k].index);
			hash_u64(h, sc->args[k].value);
			hash_u64(h, sc->args[k].value_two);
			hash_u64(h, sc->args[k].op);
		}
		hash_u64(h, sc->n_args);
	}
	hash_u64(h, s->n_syscalls);
	berth_hasher_final(h, out);
	berth_hasher_free(h);
	return out[0] ? 0 : -EIO;
}

static int cache_read(int dirfd, const char *name, struct linux_seccomp **out)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	struct stat st;
	struct cache_header hd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    berth_read_all(fd, &hd, sizeof(hd)) != (ssize_t) sizeof(hd) || hd.magic != CACHE_MAGIC ||
	    hd.n_insns == 0 || hd.n_insns > BPF_MAXINSNS ||
	    (size_t) st.st_size != sizeof(hd) + hd.n_insns * sizeof(struct sock_filter))
		return -EBADMSG;
	_cleanup_free_ struct linux_seccomp *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	size_t size = hd.n_insns * sizeof(struct sock_filter);
	f->insns = malloc(size);
	if (!f->insns || berth_read_all(fd, f->insns, size) != (ssize_t) size) {
		free(f->insns);
		return -EBADMSG;
	}
	f->n_insns = (unsigned short) hd.n_insns;
	f->flags = (unsigned long) hd.flags;
	f->notify = hd.notify != 0;
	*out = steal_ptr(f);
	return 0;
}

static void cache_write(int dirfd, const char *name, const struct linux_seccomp *f)
{
	size_t size = sizeof(struct cache_header) + f->n_insns * sizeof(struct sock_filter);
	_cleanup_free_ char *buf = malloc(size);
	if (!buf)
		return;
	struct cache_header hd = { .magic = CACHE_MAGIC, .n_insns = f->n_insns, .flags = f->flags,
				   .notify = f->notify };
	memcpy(buf, &hd, sizeof(hd));
	memcpy(buf + sizeof(hd), f->insns, f->n_insns * sizeof(struct sock_filter));
	/* Replaced atomically: readers see a whole program or none. */
	(void) berth_write_file_replace(dirfd, name, buf, size, 0600);
}

int linux_seccomp_build_cached(const struct spec_seccomp *s, int cache_dirfd, struct linux_seccomp **out,
			       struct berth_error *err)
{
	char key[BERTH_DIGEST_MAX];
	if (cache_dirfd < 0 || cache_key(s, key) < 0)
		return linux_seccomp_build(s, out, err);
	char name[80];
	snprintf(name, sizeof(name), "%.64s.bpf", berth_digest_hex(key));
	if (cache_read(cache_dirfd, name, out) == 0) {
		/* The kernel may have changed under a cached program's flags. */
		if (kernel_flags_ok((*out)->flags))
			return 0;
		linux_seccomp_free(*out);
		*out = NULL;
	}
	int r = linux_seccomp_build(s, out, err);
	if (r == 0)
		cache_write(cache_dirfd, name, *out);
	return r;
}
