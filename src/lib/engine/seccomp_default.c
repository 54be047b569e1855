#include "engine/seccomp_default.h"

#include <linux/capability.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>

#include "core/cleanup.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define ALWAYS (-1)

/* One row per system call: the capability whose presence allows it, or
 * ALWAYS.  A name may appear under several capabilities (any one suffices).
 * Names the host's libseccomp or kernel lacks are skipped when the filter is
 * built, so 32-bit-only and newer calls can be listed for every host. */
struct sc_rule {
	const char *name;
	int cap;
};

static const struct sc_rule common_rules[] = {
	/* files and descriptors */
	{ "access", ALWAYS }, { "chdir", ALWAYS }, { "chmod", ALWAYS }, { "chown", ALWAYS },
	{ "chown32", ALWAYS }, { "close", ALWAYS }, { "close_range", ALWAYS },
	{ "copy_file_range", ALWAYS }, { "creat", ALWAYS }, { "dup", ALWAYS }, { "dup2", ALWAYS },
	{ "dup3", ALWAYS }, { "faccessat", ALWAYS }, { "faccessat2", ALWAYS },
	{ "fadvise64", ALWAYS }, { "fadvise64_64", ALWAYS }, { "fallocate", ALWAYS },
	{ "fanotify_mark", ALWAYS }, { "fchdir", ALWAYS }, { "fchmod", ALWAYS },
	{ "fchmodat", ALWAYS }, { "fchmodat2", ALWAYS }, { "fchown", ALWAYS },
	{ "fchown32", ALWAYS }, { "fchownat", ALWAYS }, { "fcntl", ALWAYS }, { "fcntl64", ALWAYS },
	{ "fdatasync", ALWAYS }, { "fgetxattr", ALWAYS }, { "flistxattr", ALWAYS },
	{ "flock", ALWAYS }, { "fremovexattr", ALWAYS }, { "fsetxattr", ALWAYS },
	{ "fstat", ALWAYS }, { "fstat64", ALWAYS }, { "fstatat64", ALWAYS }, { "fstatfs", ALWAYS },
	{ "fstatfs64", ALWAYS }, { "fsync", ALWAYS }, { "ftruncate", ALWAYS },
	{ "ftruncate64", ALWAYS }, { "futimesat", ALWAYS }, { "getcwd", ALWAYS },
	{ "getdents", ALWAYS }, { "getdents64", ALWAYS }, { "getxattr", ALWAYS },
	{ "getxattrat", ALWAYS }, { "inotify_add_watch", ALWAYS }, { "inotify_init", ALWAYS },
	{ "inotify_init1", ALWAYS }, { "inotify_rm_watch", ALWAYS }, { "ioctl", ALWAYS },
	{ "lchown", ALWAYS }, { "lchown32", ALWAYS }, { "lgetxattr", ALWAYS }, { "link", ALWAYS },
	{ "linkat", ALWAYS }, { "listxattr", ALWAYS }, { "listxattrat", ALWAYS },
	{ "llistxattr", ALWAYS }, { "_llseek", ALWAYS }, { "lremovexattr", ALWAYS },
	{ "lseek", ALWAYS }, { "lsetxattr", ALWAYS }, { "lstat", ALWAYS }, { "lstat64", ALWAYS },
	{ "mkdir", ALWAYS }, { "mkdirat", ALWAYS }, { "mknod", ALWAYS }, { "mknodat", ALWAYS },
	{ "name_to_handle_at", ALWAYS }, { "newfstatat", ALWAYS }, { "open", ALWAYS },
	{ "openat", ALWAYS }, { "openat2", ALWAYS }, { "pipe", ALWAYS }, { "pipe2", ALWAYS },
	{ "pread64", ALWAYS }, { "preadv", ALWAYS }, { "preadv2", ALWAYS }, { "pwrite64", ALWAYS },
	{ "pwritev", ALWAYS }, { "pwritev2", ALWAYS }, { "read", ALWAYS }, { "readahead", ALWAYS },
	{ "readlink", ALWAYS }, { "readlinkat", ALWAYS }, { "readv", ALWAYS },
	{ "removexattr", ALWAYS }, { "removexattrat", ALWAYS }, { "rename", ALWAYS },
	{ "renameat", ALWAYS }, { "renameat2", ALWAYS }, { "rmdir", ALWAYS },
	{ "sendfile", ALWAYS }, { "sendfile64", ALWAYS }, { "setxattr", ALWAYS },
	{ "setxattrat", ALWAYS }, { "splice", ALWAYS }, { "stat", ALWAYS }, { "stat64", ALWAYS },
	{ "statfs", ALWAYS }, { "statfs64", ALWAYS }, { "statx", ALWAYS }, { "symlink", ALWAYS },
	{ "symlinkat", ALWAYS }, { "sync", ALWAYS }, { "sync_file_range", ALWAYS },
	{ "syncfs", ALWAYS }, { "tee", ALWAYS }, { "truncate", ALWAYS }, { "truncate64", ALWAYS },
	{ "umask", ALWAYS }, { "unlink", ALWAYS }, { "unlinkat", ALWAYS }, { "utime", ALWAYS },
	{ "utimensat", ALWAYS }, { "utimensat_time64", ALWAYS }, { "utimes", ALWAYS },
	{ "vmsplice", ALWAYS }, { "write", ALWAYS }, { "writev", ALWAYS },
	/* polling, events, timers, time */
	{ "adjtimex", ALWAYS }, { "alarm", ALWAYS }, { "cachestat", ALWAYS },
	{ "clock_adjtime", ALWAYS }, { "clock_adjtime64", ALWAYS }, { "clock_getres", ALWAYS },
	{ "clock_getres_time64", ALWAYS }, { "clock_gettime", ALWAYS },
	{ "clock_gettime64", ALWAYS }, { "clock_nanosleep", ALWAYS },
	{ "clock_nanosleep_time64", ALWAYS }, { "epoll_create", ALWAYS },
	{ "epoll_create1", ALWAYS }, { "epoll_ctl", ALWAYS }, { "epoll_ctl_old", ALWAYS },
	{ "epoll_pwait", ALWAYS }, { "epoll_pwait2", ALWAYS }, { "epoll_wait", ALWAYS },
	{ "epoll_wait_old", ALWAYS }, { "eventfd", ALWAYS }, { "eventfd2", ALWAYS },
	{ "getitimer", ALWAYS }, { "gettimeofday", ALWAYS }, { "io_cancel", ALWAYS },
	{ "io_destroy", ALWAYS }, { "io_getevents", ALWAYS }, { "io_pgetevents", ALWAYS },
	{ "io_pgetevents_time64", ALWAYS }, { "io_setup", ALWAYS }, { "io_submit", ALWAYS },
	{ "nanosleep", ALWAYS }, { "_newselect", ALWAYS }, { "pause", ALWAYS }, { "poll", ALWAYS },
	{ "ppoll", ALWAYS }, { "ppoll_time64", ALWAYS }, { "pselect6", ALWAYS },
	{ "pselect6_time64", ALWAYS }, { "select", ALWAYS }, { "setitimer", ALWAYS },
	{ "signalfd", ALWAYS }, { "signalfd4", ALWAYS }, { "time", ALWAYS },
	{ "timer_create", ALWAYS }, { "timer_delete", ALWAYS }, { "timer_getoverrun", ALWAYS },
	{ "timer_gettime", ALWAYS }, { "timer_gettime64", ALWAYS }, { "timer_settime", ALWAYS },
	{ "timer_settime64", ALWAYS }, { "timerfd_create", ALWAYS }, { "timerfd_gettime", ALWAYS },
	{ "timerfd_gettime64", ALWAYS }, { "timerfd_settime", ALWAYS },
	{ "timerfd_settime64", ALWAYS }, { "times", ALWAYS },
	/* memory */
	{ "brk", ALWAYS }, { "madvise", ALWAYS }, { "map_shadow_stack", ALWAYS },
	{ "membarrier", ALWAYS }, { "memfd_create", ALWAYS }, { "memfd_secret", ALWAYS },
	{ "mincore", ALWAYS }, { "mlock", ALWAYS }, { "mlock2", ALWAYS }, { "mlockall", ALWAYS },
	{ "mmap", ALWAYS }, { "mmap2", ALWAYS }, { "mprotect", ALWAYS }, { "mremap", ALWAYS },
	{ "msync", ALWAYS }, { "munlock", ALWAYS }, { "munlockall", ALWAYS }, { "munmap", ALWAYS },
	{ "pkey_alloc", ALWAYS }, { "pkey_free", ALWAYS }, { "pkey_mprotect", ALWAYS },
	{ "remap_file_pages", ALWAYS },
	/* processes, signals, credentials, scheduling */
	{ "capget", ALWAYS }, { "capset", ALWAYS }, { "execve", ALWAYS }, { "execveat", ALWAYS },
	{ "exit", ALWAYS }, { "exit_group", ALWAYS }, { "fork", ALWAYS }, { "futex", ALWAYS },
	{ "futex_requeue", ALWAYS }, { "futex_time64", ALWAYS }, { "futex_wait", ALWAYS },
	{ "futex_waitv", ALWAYS }, { "futex_wake", ALWAYS }, { "get_robust_list", ALWAYS },
	{ "get_thread_area", ALWAYS }, { "getcpu", ALWAYS }, { "getegid", ALWAYS },
	{ "getegid32", ALWAYS }, { "geteuid", ALWAYS }, { "geteuid32", ALWAYS },
	{ "getgid", ALWAYS }, { "getgid32", ALWAYS }, { "getgroups", ALWAYS },
	{ "getgroups32", ALWAYS }, { "getpgid", ALWAYS }, { "getpgrp", ALWAYS },
	{ "getpid", ALWAYS }, { "getppid", ALWAYS }, { "getpriority", ALWAYS },
	{ "getrandom", ALWAYS }, { "getresgid", ALWAYS }, { "getresgid32", ALWAYS },
	{ "getresuid", ALWAYS }, { "getresuid32", ALWAYS }, { "getrlimit", ALWAYS },
	{ "getrusage", ALWAYS }, { "getsid", ALWAYS }, { "gettid", ALWAYS }, { "getuid", ALWAYS },
	{ "getuid32", ALWAYS }, { "ioprio_get", ALWAYS }, { "ioprio_set", ALWAYS },
	{ "kill", ALWAYS }, { "landlock_add_rule", ALWAYS }, { "landlock_create_ruleset", ALWAYS },
	{ "landlock_restrict_self", ALWAYS }, { "pidfd_open", ALWAYS },
	{ "pidfd_send_signal", ALWAYS }, { "prctl", ALWAYS }, { "prlimit64", ALWAYS },
	{ "process_mrelease", ALWAYS }, { "restart_syscall", ALWAYS }, { "rseq", ALWAYS },
	{ "rt_sigaction", ALWAYS }, { "rt_sigpending", ALWAYS }, { "rt_sigprocmask", ALWAYS },
	{ "rt_sigqueueinfo", ALWAYS }, { "rt_sigreturn", ALWAYS }, { "rt_sigsuspend", ALWAYS },
	{ "rt_sigtimedwait", ALWAYS }, { "rt_sigtimedwait_time64", ALWAYS },
	{ "rt_tgsigqueueinfo", ALWAYS }, { "sched_get_priority_max", ALWAYS },
	{ "sched_get_priority_min", ALWAYS }, { "sched_getaffinity", ALWAYS },
	{ "sched_getattr", ALWAYS }, { "sched_getparam", ALWAYS },
	{ "sched_getscheduler", ALWAYS }, { "sched_rr_get_interval", ALWAYS },
	{ "sched_rr_get_interval_time64", ALWAYS }, { "sched_setaffinity", ALWAYS },
	{ "sched_setattr", ALWAYS }, { "sched_setparam", ALWAYS },
	{ "sched_setscheduler", ALWAYS }, { "sched_yield", ALWAYS }, { "seccomp", ALWAYS },
	{ "set_robust_list", ALWAYS }, { "set_thread_area", ALWAYS },
	{ "set_tid_address", ALWAYS }, { "setfsgid", ALWAYS }, { "setfsgid32", ALWAYS },
	{ "setfsuid", ALWAYS }, { "setfsuid32", ALWAYS }, { "setgid", ALWAYS },
	{ "setgid32", ALWAYS }, { "setgroups", ALWAYS }, { "setgroups32", ALWAYS },
	{ "setpgid", ALWAYS }, { "setpriority", ALWAYS }, { "setregid", ALWAYS },
	{ "setregid32", ALWAYS }, { "setresgid", ALWAYS }, { "setresgid32", ALWAYS },
	{ "setresuid", ALWAYS }, { "setresuid32", ALWAYS }, { "setreuid", ALWAYS },
	{ "setreuid32", ALWAYS }, { "setrlimit", ALWAYS }, { "setsid", ALWAYS },
	{ "setuid", ALWAYS }, { "setuid32", ALWAYS }, { "sigaltstack", ALWAYS },
	{ "sigprocmask", ALWAYS }, { "sigreturn", ALWAYS }, { "sysinfo", ALWAYS },
	{ "tgkill", ALWAYS }, { "tkill", ALWAYS }, { "ugetrlimit", ALWAYS }, { "uname", ALWAYS },
	{ "vfork", ALWAYS }, { "wait4", ALWAYS }, { "waitid", ALWAYS }, { "waitpid", ALWAYS },
	/* since Linux 4.8 ptrace can no longer be used to escape a seccomp filter */
	{ "ptrace", ALWAYS },
	/* SysV and POSIX IPC (the container has its own IPC namespace) */
	{ "ipc", ALWAYS }, { "mq_getsetattr", ALWAYS }, { "mq_notify", ALWAYS },
	{ "mq_open", ALWAYS }, { "mq_timedreceive", ALWAYS }, { "mq_timedreceive_time64", ALWAYS },
	{ "mq_timedsend", ALWAYS }, { "mq_timedsend_time64", ALWAYS }, { "mq_unlink", ALWAYS },
	{ "msgctl", ALWAYS }, { "msgget", ALWAYS }, { "msgrcv", ALWAYS }, { "msgsnd", ALWAYS },
	{ "semctl", ALWAYS }, { "semget", ALWAYS }, { "semop", ALWAYS }, { "semtimedop", ALWAYS },
	{ "semtimedop_time64", ALWAYS }, { "shmat", ALWAYS }, { "shmctl", ALWAYS },
	{ "shmdt", ALWAYS }, { "shmget", ALWAYS },
	/* sockets (socket() itself is argument-checked below) */
	{ "accept", ALWAYS }, { "accept4", ALWAYS }, { "bind", ALWAYS }, { "connect", ALWAYS },
	{ "getpeername", ALWAYS }, { "getsockname", ALWAYS }, { "getsockopt", ALWAYS },
	{ "listen", ALWAYS }, { "recv", ALWAYS }, { "recvfrom", ALWAYS }, { "recvmmsg", ALWAYS },
	{ "recvmmsg_time64", ALWAYS }, { "recvmsg", ALWAYS }, { "send", ALWAYS },
	{ "sendmmsg", ALWAYS }, { "sendmsg", ALWAYS }, { "sendto", ALWAYS },
	{ "setsockopt", ALWAYS }, { "shutdown", ALWAYS }, { "socketcall", ALWAYS },
	{ "socketpair", ALWAYS },

	/* privileged groups: the capability decides */
	{ "bpf", CAP_SYS_ADMIN }, { "clone", CAP_SYS_ADMIN }, { "clone3", CAP_SYS_ADMIN },
	{ "fanotify_init", CAP_SYS_ADMIN }, { "fsconfig", CAP_SYS_ADMIN },
	{ "fsmount", CAP_SYS_ADMIN }, { "fsopen", CAP_SYS_ADMIN }, { "fspick", CAP_SYS_ADMIN },
	{ "lookup_dcookie", CAP_SYS_ADMIN }, { "mount", CAP_SYS_ADMIN },
	{ "mount_setattr", CAP_SYS_ADMIN }, { "move_mount", CAP_SYS_ADMIN },
	{ "open_tree", CAP_SYS_ADMIN }, { "perf_event_open", CAP_SYS_ADMIN },
	{ "quotactl", CAP_SYS_ADMIN }, { "quotactl_fd", CAP_SYS_ADMIN },
	{ "setdomainname", CAP_SYS_ADMIN }, { "sethostname", CAP_SYS_ADMIN },
	{ "setns", CAP_SYS_ADMIN }, { "syslog", CAP_SYS_ADMIN }, { "umount", CAP_SYS_ADMIN },
	{ "umount2", CAP_SYS_ADMIN }, { "unshare", CAP_SYS_ADMIN },
	{ "reboot", CAP_SYS_BOOT },
	{ "chroot", CAP_SYS_CHROOT },
	{ "delete_module", CAP_SYS_MODULE }, { "init_module", CAP_SYS_MODULE },
	{ "finit_module", CAP_SYS_MODULE },
	{ "acct", CAP_SYS_PACCT },
	{ "kcmp", CAP_SYS_PTRACE }, { "pidfd_getfd", CAP_SYS_PTRACE },
	{ "process_madvise", CAP_SYS_PTRACE }, { "process_vm_readv", CAP_SYS_PTRACE },
	{ "process_vm_writev", CAP_SYS_PTRACE },
	{ "iopl", CAP_SYS_RAWIO }, { "ioperm", CAP_SYS_RAWIO },
	{ "settimeofday", CAP_SYS_TIME }, { "stime", CAP_SYS_TIME },
	{ "clock_settime", CAP_SYS_TIME }, { "clock_settime64", CAP_SYS_TIME },
	{ "vhangup", CAP_SYS_TTY_CONFIG },
	{ "get_mempolicy", CAP_SYS_NICE }, { "mbind", CAP_SYS_NICE },
	{ "set_mempolicy", CAP_SYS_NICE }, { "set_mempolicy_home_node", CAP_SYS_NICE },
	{ "syslog", CAP_SYSLOG },
	{ "bpf", CAP_BPF },
	{ "perf_event_open", CAP_PERFMON },
	{ "open_by_handle_at", CAP_DAC_READ_SEARCH },
};

#if defined(__x86_64__) || defined(__i386__)
static const struct sc_rule arch_rules[] = {
	{ "arch_prctl", ALWAYS }, { "modify_ldt", ALWAYS },
};
static const char *const arches[] = { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32" };
#elif defined(__aarch64__) || defined(__arm__)
static const struct sc_rule arch_rules[] = {
	{ "arm_fadvise64_64", ALWAYS }, { "arm_sync_file_range", ALWAYS },
	{ "sync_file_range2", ALWAYS }, { "breakpoint", ALWAYS }, { "cacheflush", ALWAYS },
	{ "set_tls", ALWAYS },
};
static const char *const arches[] = { "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM" };
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static const struct sc_rule arch_rules[] = { { "sync_file_range2", ALWAYS } };
static const char *const arches[] = { "SCMP_ARCH_PPC64LE" };
#elif defined(__s390x__)
static const struct sc_rule arch_rules[] = {
	{ "s390_pci_mmio_read", ALWAYS }, { "s390_pci_mmio_write", ALWAYS },
	{ "s390_runtime_instr", ALWAYS },
};
static const char *const arches[] = { "SCMP_ARCH_S390X", "SCMP_ARCH_S390" };
#elif defined(__riscv) && __riscv_xlen == 64
static const struct sc_rule arch_rules[] = { { "riscv_flush_icache", ALWAYS } };
static const char *const arches[] = { "SCMP_ARCH_RISCV64" };
#else
#error "seccomp_default: no default profile architecture list for this host"
#endif

/* personality(2) personas a container may switch to: PER_LINUX, UNAME26,
 * PER_LINUX32, PER_LINUX32|UNAME26 and the 0xffffffff query. */
static const uint64_t personas[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };

#define AF_VSOCK_NUM 40
/* clone flags that create namespaces: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
 * NEWUSER, NEWPID, NEWNET (CLONE_NEWTIME lives in clone3 only). */
#define CLONE_NS_MASK 0x7E020000ULL

static bool has_cap(uint64_t caps, int cap)
{
	return cap == ALWAYS || (cap >= 0 && cap < 64 && (caps & (1ULL << cap)));
}

/* Append every allowed name from rules to names, once. */
static int collect(const struct sc_rule *rules, size_t n, uint64_t caps, json_t *seen, json_t *names)
{
	for (size_t i = 0; i < n; i++) {
		if (!has_cap(caps, rules[i].cap) || json_object_get(seen, rules[i].name))
			continue;
		if (json_object_set_new(seen, rules[i].name, json_true()) < 0 ||
		    json_array_append_new(names, json_string(rules[i].name)) < 0)
			return -1;
	}
	return 0;
}

static int add_rule(json_t *syscalls, json_t *rule)
{
	return json_array_append_new(syscalls, rule);
}

json_t *seccomp_default_profile(uint64_t caps)
{
	json_t *prof = json_object();
	json_t *archs = json_array();
	json_t *syscalls = json_array();
	json_t *names = json_array();
	json_t *seen = json_object();
	if (!prof || !archs || !syscalls || !names || !seen)
		goto fail;
	for (size_t i = 0; i < ARRAY_SIZE(arches); i++)
		if (json_array_append_new(archs, json_string(arches[i])) < 0)
			goto fail;

	bool sys_admin = has_cap(caps, CAP_SYS_ADMIN);
	/* Without CAP_SYS_ADMIN clone and clone3 get their own argument-aware
	 * rules below; mark them so the plain allowlist skips them. */
	if (!sys_admin && (json_object_set_new(seen, "clone", json_true()) < 0 ||
			   json_object_set_new(seen, "clone3", json_true()) < 0))
		goto fail;
	if (collect(common_rules, ARRAY_SIZE(common_rules), caps, seen, names) < 0 ||
	    collect(arch_rules, ARRAY_SIZE(arch_rules), caps, seen, names) < 0)
		goto fail;

	int r = add_rule(syscalls, json_pack("{s:O, s:s}", "names", names, "action", "SCMP_ACT_ALLOW"));
	for (size_t i = 0; i < ARRAY_SIZE(personas); i++)
		r |= add_rule(syscalls, json_pack("{s:[s], s:s, s:[{s:i, s:I, s:s}]}",
			"names", "personality", "action", "SCMP_ACT_ALLOW",
			"args", "index", 0, "value", (json_int_t) personas[i], "op", "SCMP_CMP_EQ"));
	r |= add_rule(syscalls, json_pack("{s:[s], s:s, s:[{s:i, s:i, s:s}]}",
		"names", "socket", "action", "SCMP_ACT_ALLOW",
		"args", "index", 0, "value", AF_VSOCK_NUM, "op", "SCMP_CMP_NE"));
	if (!sys_admin) {
		r |= add_rule(syscalls, json_pack("{s:[s], s:s, s:[{s:i, s:I, s:i, s:s}]}",
			"names", "clone", "action", "SCMP_ACT_ALLOW",
			"args", "index", 0, "value", (json_int_t) CLONE_NS_MASK, "valueTwo", 0,
			"op", "SCMP_CMP_MASKED_EQ"));
		/* ENOSYS, not EPERM: glibc and musl then fall back to clone(2),
		 * whose flags the rule above can check (clone3 passes them in
		 * memory, out of seccomp's reach). */
		r |= add_rule(syscalls, json_pack("{s:[s], s:s, s:i}",
			"names", "clone3", "action", "SCMP_ACT_ERRNO", "errnoRet", 38));
	}
	if (r)
		goto fail;
	if (json_object_set_new(prof, "defaultAction", json_string("SCMP_ACT_ERRNO")) < 0 ||
	    json_object_set_new(prof, "defaultErrnoRet", json_integer(1)) < 0 ||
	    json_object_set(prof, "architectures", archs) < 0 ||
	    json_object_set(prof, "syscalls", syscalls) < 0)
		goto fail;
	json_decref(archs);
	json_decref(syscalls);
	json_decref(names);
	json_decref(seen);
	return prof;
fail:
	json_decref(prof);
	json_decref(archs);
	json_decref(syscalls);
	json_decref(names);
	json_decref(seen);
	return NULL;
}
