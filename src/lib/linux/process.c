#include "linux/process.h"
#include "linux/procfs.h"
#include "core/cleanup.h"
#include "core/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/ioprio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The sched_setattr(2) ABI (linux/sched/types.h clashes with <sched.h>). */
struct sched_attr_abi {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;
	uint64_t sched_deadline;
	uint64_t sched_period;
	uint32_t sched_util_min;
	uint32_t sched_util_max;
};

static bool has_effective_cap(int cap)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2] = { 0 };
	if (syscall(SYS_capget, &hdr, d) < 0)
		return false;
	return d[cap / 32].effective & (1U << (cap % 32));
}

static const char *fmt_limit(uint64_t v, char *buf, size_t len)
{
	if (v == (uint64_t) RLIM_INFINITY)
		return "unlimited";
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

int linux_process_set_rlimits(const struct spec_process *p, struct berth_error *err)
{
	for (size_t i = 0; i < p->n_rlimits; i++) {
		const struct spec_rlimit *rl = &p->rlimits[i];
		char name[32], b1[24], b2[24];
		const char *type = rl->type;
		if (!type) {
			snprintf(name, sizeof(name), "resource %d", rl->resource);
			type = name;
		}
		if (rl->soft > rl->hard)
			return berth_err(err, EINVAL, "process.rlimits[%zu] (%s): soft limit %s is above the hard limit %s",
					 i, type, fmt_limit(rl->soft, b1, sizeof(b1)), fmt_limit(rl->hard, b2, sizeof(b2)));
		struct rlimit cur;
		if (getrlimit(rl->resource, &cur) < 0)
			return berth_errno(err, errno, "process.rlimits[%zu] (%s)", i, type);
		if (rl->hard > (uint64_t) cur.rlim_max && !has_effective_cap(CAP_SYS_RESOURCE))
			return berth_err(err, EPERM,
					 "process.rlimits[%zu] (%s): hard limit %s is above this host's limit %s and raising it needs CAP_SYS_RESOURCE",
					 i, type, fmt_limit(rl->hard, b1, sizeof(b1)),
					 fmt_limit((uint64_t) cur.rlim_max, b2, sizeof(b2)));
		struct rlimit want = { .rlim_cur = (rlim_t) rl->soft, .rlim_max = (rlim_t) rl->hard };
		if (setrlimit(rl->resource, &want) < 0) {
			int e = errno;
			if (e == EPERM && rl->resource == RLIMIT_NOFILE)
				return berth_err(err, e, "process.rlimits[%zu] (%s): hard limit %s is above fs.nr_open",
						 i, type, fmt_limit(rl->hard, b1, sizeof(b1)));
			return berth_errno(err, e, "process.rlimits[%zu] (%s): setting soft %s hard %s", i, type,
					   fmt_limit(rl->soft, b1, sizeof(b1)), fmt_limit(rl->hard, b2, sizeof(b2)));
		}
	}
	return 0;
}

/* Only consulted after setgroups failed, so a fake /proc in the rootfs can
 * change the wording of an error, never whether groups get set. */
static bool setgroups_denied(void)
{
	_cleanup_free_ char *s = NULL;
	if (berth_read_file("/proc/self/setgroups", &s, NULL) < 0)
		return false;
	return strncmp(s, "deny", 4) == 0;
}

int linux_process_set_user(const struct spec_process *p, struct berth_error *err)
{
	const struct spec_user *u = &p->user;
	if (setgroups(u->n_additional_gids, u->n_additional_gids ? u->additional_gids : NULL) < 0) {
		int e = errno;
		bool denied = e == EPERM && setgroups_denied();
		if (denied && u->n_additional_gids > 0)
			return berth_err(err, e,
					 "process.user.additionalGids: setgroups is denied in this user namespace (/proc/self/setgroups is \"deny\"), so the %zu additional group(s) cannot be set",
					 u->n_additional_gids);
		if (!denied) {
			if (e == EINVAL)
				return berth_err(err, e,
						 "process.user.additionalGids: a group is not mapped in the container's user namespace");
			return berth_errno(err, e, "process.user.additionalGids: setgroups");
		}
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return berth_errno(err, errno, "process.user: prctl(PR_SET_KEEPCAPS)");
	if (setresgid(u->gid, u->gid, u->gid) < 0) {
		int e = errno;
		if (e == EINVAL)
			return berth_err(err, e, "process.user.gid %u: not mapped in the container's user namespace",
					 (unsigned) u->gid);
		return berth_errno(err, e, "process.user.gid %u: setresgid", (unsigned) u->gid);
	}
	if (setresuid(u->uid, u->uid, u->uid) < 0) {
		int e = errno;
		if (e == EINVAL)
			return berth_err(err, e, "process.user.uid %u: not mapped in the container's user namespace",
					 (unsigned) u->uid);
		return berth_errno(err, e, "process.user.uid %u: setresuid", (unsigned) u->uid);
	}
	/* The uid change is done: the permitted set survived it, and a later
	 * uid change by the container must not keep capabilities by accident. */
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return berth_errno(err, errno, "process.user: prctl(PR_SET_KEEPCAPS, 0)");
	umask(u->has_umask ? (u->umask & 07777) : 0022);
	return 0;
}

int linux_cpu_list_parse(const char *list, const char *field, cpu_set_t **set, size_t *size,
			 struct berth_error *err)
{
	/* Keeps a typo like "0-4000000000" from allocating gigabytes. */
	const unsigned long max_cpu = 1UL << 16;
	unsigned long highest = 0;
	bool any = false;
	for (int pass = 0; pass < 2; pass++) {
		const char *s = list;
		while (*s) {
			char *end;
			if (*s < '0' || *s > '9')
				goto bad;
			unsigned long lo = strtoul(s, &end, 10), hi = lo;
			s = end;
			if (*s == '-') {
				s++;
				if (*s < '0' || *s > '9')
					goto bad;
				hi = strtoul(s, &end, 10);
				s = end;
			}
			if (hi < lo || hi >= max_cpu)
				goto bad;
			if (*s == ',') {
				s++;
				if (!*s)
					goto bad;
			} else if (*s) {
				goto bad;
			}
			if (pass == 0) {
				if (hi > highest)
					highest = hi;
				any = true;
			} else {
				for (unsigned long c = lo; c <= hi; c++)
					CPU_SET_S(c, *size, *set);
			}
		}
		if (!any)
			goto bad;
		if (pass == 0) {
			*set = CPU_ALLOC(highest + 1);
			if (!*set)
				return berth_err(err, ENOMEM, "%s: out of memory", field);
			*size = CPU_ALLOC_SIZE(highest + 1);
			CPU_ZERO_S(*size, *set);
		}
	}
	return 0;
bad:
	return berth_err(err, EINVAL, "%s: \"%s\" is not a cpu list like \"0-3,5\"", field, list);
}

int linux_process_set_cpu_affinity(pid_t pid, const char *list, const char *field,
				   struct berth_error *err)
{
	cpu_set_t *set = NULL;
	size_t size = 0;
	int r = linux_cpu_list_parse(list, field, &set, &size, err);
	if (r < 0)
		return r;
	r = sched_setaffinity(pid, size, set) < 0 ? -errno : 0;
	CPU_FREE(set);
	if (r == -EINVAL)
		return berth_err(err, r, "%s: none of the cpus \"%s\" is online and allowed here", field, list);
	if (r < 0)
		return berth_errno(err, r, "%s: sched_setaffinity(\"%s\")", field, list);
	return 0;
}

int linux_process_set_scheduling(const struct spec_process *p, const struct spec_linux *l,
				 struct berth_error *err)
{
	if (l && l->has_personality && personality(l->personality) < 0)
		return berth_errno(err, errno, "linux.personality: personality(0x%lx)", l->personality);
	if (p->has_scheduler) {
		struct sched_attr_abi attr = {
			.size = sizeof(attr),
			.sched_policy = (uint32_t) p->scheduler.policy,
			.sched_flags = p->scheduler.flags,
			.sched_nice = p->scheduler.nice,
			.sched_priority = (uint32_t) p->scheduler.priority,
			.sched_runtime = p->scheduler.runtime,
			.sched_deadline = p->scheduler.deadline,
			.sched_period = p->scheduler.period,
		};
		if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0) {
			int e = errno;
			return berth_errno(err, e, "process.scheduler: sched_setattr(policy %d, nice %d, priority %d)%s",
					   p->scheduler.policy, p->scheduler.nice, p->scheduler.priority,
					   e == EPERM ? " (realtime policies and negative nice values need CAP_SYS_NICE)" : "");
		}
	}
	if (p->has_io_priority) {
		if (p->io_priority < 0 || p->io_priority >= IOPRIO_NR_LEVELS)
			return berth_err(err, EINVAL, "process.ioPriority.priority: %d is outside [0, 7]", p->io_priority);
		int v = IOPRIO_PRIO_VALUE(p->io_priority_class, p->io_priority);
		if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, v) < 0) {
			int e = errno;
			return berth_errno(err, e, "process.ioPriority: ioprio_set(class %d, priority %d)%s",
					   p->io_priority_class, p->io_priority,
					   e == EPERM ? " (the realtime class needs CAP_SYS_ADMIN)" : "");
		}
	}
	if (p->exec_cpu_affinity_initial)
		return linux_process_set_cpu_affinity(0, p->exec_cpu_affinity_initial,
						      "process.execCPUAffinity.initial", err);
	return 0;
}

int linux_process_set_no_new_privs(struct berth_error *err)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return berth_errno(err, errno, "process.noNewPrivileges: prctl(PR_SET_NO_NEW_PRIVS)");
	return 0;
}

/* AppArmor's own attr directory answers only when AppArmor is an active
 * LSM (EINVAL otherwise, ENOENT when not built in). */
static bool apparmor_enabled(int procfd)
{
	_cleanup_free_ char *s = NULL;
	return linux_procfs_read(procfd, "thread-self/attr/apparmor/current", &s, NULL) == 0;
}

/* selinuxfs is registered only when SELinux was enabled at boot. */
static bool selinux_enabled(int procfd)
{
	_cleanup_free_ char *s = NULL;
	if (linux_procfs_read(procfd, "filesystems", &s, NULL) < 0)
		return false;
	for (char *line = s; line && *line; ) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		const char *name = strrchr(line, '\t');
		name = name ? name + 1 : line;
		if (strcmp(name, "selinuxfs") == 0)
			return true;
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

int linux_process_set_lsm_labels(int procfd, const struct spec_process *p, struct berth_error *err)
{
	if (p->apparmor_profile && *p->apparmor_profile) {
		if (!apparmor_enabled(procfd))
			return berth_err(err, EOPNOTSUPP, "process.apparmorProfile: AppArmor is not enabled on this host");
		_cleanup_free_ char *cmd = NULL;
		if (asprintf(&cmd, "exec %s", p->apparmor_profile) < 0)
			return berth_err(err, ENOMEM, "process.apparmorProfile: out of memory");
		int r = linux_procfs_write(procfd, "thread-self/attr/apparmor/exec", cmd, strlen(cmd), err);
		if (r < 0) {
			berth_error_prefix(err, "process.apparmorProfile \"%s\"", p->apparmor_profile);
			return r;
		}
	}
	if (p->selinux_label && *p->selinux_label) {
		if (!selinux_enabled(procfd))
			return berth_err(err, EOPNOTSUPP, "process.selinuxLabel: SELinux is not enabled on this host");
		int r = linux_procfs_write(procfd, "thread-self/attr/exec", p->selinux_label,
					   strlen(p->selinux_label), err);
		if (r < 0) {
			berth_error_prefix(err, "process.selinuxLabel \"%s\"", p->selinux_label);
			return r;
		}
	}
	return 0;
}

/* Without close_range (before 5.11) walk every fd number we could hold;
 * /proc/self/fd is not trusted here, it may belong to the container. */
static int cloexec_range(unsigned lo, unsigned hi)
{
	if (lo > hi)
		return 0;
	if (close_range(lo, hi, CLOSE_RANGE_CLOEXEC) == 0)
		return 0;
	/* ENOSYS/EINVAL: old kernel; EPERM: a seccomp filter without
	 * close_range.  fcntl does the same job one fd at a time. */
	if (errno != ENOSYS && errno != EINVAL && errno != EPERM)
		return -errno;
	struct rlimit rl;
	unsigned long top = 1UL << 20;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < top)
		top = rl.rlim_max;
	if (hi > top)
		hi = (unsigned) top;
	for (unsigned long fd = lo; fd <= hi; fd++) {
		int fl = fcntl((int) fd, F_GETFD);
		if (fl >= 0 && !(fl & FD_CLOEXEC))
			fcntl((int) fd, F_SETFD, fl | FD_CLOEXEC);
	}
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *) a, y = *(const int *) b;
	return (x > y) - (x < y);
}

int linux_process_cloexec_fds(int preserve_fds, const int *keep, size_t n_keep)
{
	if (preserve_fds < 0)
		return -EINVAL;
	_cleanup_free_ int *sorted = NULL;
	if (n_keep) {
		sorted = malloc(n_keep * sizeof(int));
		if (!sorted)
			return -ENOMEM;
		memcpy(sorted, keep, n_keep * sizeof(int));
		qsort(sorted, n_keep, sizeof(int), cmp_int);
	}
	unsigned cursor = 3 + (unsigned) preserve_fds;
	for (size_t i = 0; i < n_keep; i++) {
		if (sorted[i] < 0 || (unsigned) sorted[i] < cursor)
			continue;
		if ((unsigned) sorted[i] > cursor) {
			int r = cloexec_range(cursor, (unsigned) sorted[i] - 1);
			if (r < 0)
				return r;
		}
		cursor = (unsigned) sorted[i] + 1;
	}
	return cloexec_range(cursor, ~0U);
}

int linux_process_chdir_checked(const char *cwd, struct berth_error *err)
{
	if (!cwd || !*cwd)
		return berth_err(err, EINVAL, "process.cwd: must be set");
	if (chdir(cwd) < 0)
		return berth_errno(err, errno, "process.cwd %s", cwd);
	/* The raw syscall: glibc may turn "(unreachable)" into ENOENT or not,
	 * depending on its version; we want to see both. */
	char buf[PATH_MAX + 1];
	long n = syscall(SYS_getcwd, buf, sizeof(buf));
	if (n < 0) {
		if (errno == ENOENT)
			return berth_err(err, ENOENT,
					 "process.cwd %s: the working directory is not reachable from the container's root", cwd);
		return berth_errno(err, errno, "process.cwd %s: getcwd", cwd);
	}
	if (buf[0] != '/')
		return berth_err(err, EPERM,
				 "process.cwd %s: the working directory is outside the container's root", cwd);
	return 0;
}
