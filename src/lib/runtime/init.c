#include "runtime/init.h"
#include "runtime/sync.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/log.h"
#include "linux/caps.h"
#include "linux/hooks.h"
#include "linux/namespaces.h"
#include "linux/procfs.h"
#include "linux/process.h"
#include "linux/rootfs.h"
#include "linux/seccomp.h"
#include "linux/sysctl.h"
#include "linux/terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#define KEYCTL_JOIN_SESSION_KEYRING 1

static const char *env_get(const struct spec_process *p, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < p->n_env; i++)
		if (strncmp(p->env[i], name, nl) == 0 && p->env[i][nl] == '=')
			return p->env[i] + nl + 1;
	return NULL;
}

static bool is_executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Resolve args[0] with the container's PATH (not ours), after the user and
 * cwd are set so permission checks are the process's own. */
static int resolve_executable(const struct spec_process *p, char *out, size_t len, struct berth_error *err)
{
	const char *arg0 = p->args[0];
	if (strchr(arg0, '/')) {
		struct stat st;
		if (stat(arg0, &st) < 0)
			return berth_err(err, ENOENT, "exec: \"%s\": stat %s: no such file or directory", arg0, arg0);
		if (S_ISDIR(st.st_mode))
			return berth_err(err, EACCES, "exec: \"%s\": is a directory", arg0);
		if (access(arg0, X_OK) < 0)
			return berth_err(err, EACCES, "exec: \"%s\": permission denied", arg0);
		snprintf(out, len, "%s", arg0);
		return 0;
	}
	const char *path = env_get(p, "PATH");
	if (!path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	_cleanup_free_ char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	char *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", *dir ? dir : ".", arg0);
		if (is_executable(out))
			return 0;
	}
	return berth_err(err, ENOENT, "exec: \"%s\": executable file not found in $PATH", arg0);
}

static int send_notify_fd(struct rt_launch *l, int notify_fd, pid_t pid, const char *state_json,
			  struct berth_error *err)
{
	if (notify_fd < 0)
		return 0;
	int r = 0;
	if (l->seccomp_listener_fd >= 0)
		r = linux_seccomp_send_notify_fd(l->seccomp_listener_fd, notify_fd, l->seccomp_spec, pid,
						  state_json, err);
	close(notify_fd);
	if (l->seccomp_listener_fd >= 0) {
		close(l->seccomp_listener_fd);
		l->seccomp_listener_fd = -1;
	}
	return r;
}

/* Everything about the process that is the same for the container's init
 * and for an exec'd process, up to (not including) the start wait. */
static int setup_process(struct rt_launch *l, int procfd, pid_t host_pid, const char *state_json,
			 char *exe, size_t exe_len, struct berth_error *err)
{
	const struct spec_process *p = l->process;
	int r;

	if (p->terminal) {
		_cleanup_close_ int master = -1, slave = -1;
		r = linux_terminal_open("/dev/ptmx", p->has_console_size ? p->console_height : 0,
					p->has_console_size ? p->console_width : 0, &master, &slave, err);
		if (r < 0)
			return r;
		if (l->console_fd >= 0) {
			r = linux_terminal_send_master(l->console_fd, master, err);
			close(l->console_fd);
			l->console_fd = -1;
		} else if (l->pty_to_parent) {
			r = sync_send_fd(l->sync_fd, SYNC_PTY_MASTER, master);
			if (r < 0)
				berth_errno(err, -r, "send pty master to the runtime");
		}
		if (r < 0)
			return r;
		if (!l->is_exec && spec_config_namespace(l->cfg, CLONE_NEWNS) &&
		    (r = linux_rootfs_bind_console(slave, err)) < 0)
			return r;
		if ((r = linux_terminal_make_controlling(slave, err)) < 0)
			return r;
	}
	if ((r = linux_process_set_rlimits(p, err)) < 0)
		return r;
	if ((r = linux_process_set_scheduling(p, l->cfg->linux_, err)) < 0)
		return r;
	/* execCPUAffinity.final applies once the process is in the container's
	 * cgroup, which it is by now (the runtime moved stage 1 there). */
	if (p->exec_cpu_affinity_final &&
	    (r = linux_process_set_cpu_affinity(0, p->exec_cpu_affinity_final, "process.execCPUAffinity.final",
						err)) < 0)
		return r;
	if ((r = linux_process_set_lsm_labels(procfd, p, err)) < 0)
		return r;
	/* The cwd check (CVE-2024-21626: the cwd must be inside the root) runs
	 * before a seccomp profile can deny getcwd; after the user switch the
	 * process enters the cwd again, so the kernel checks its permissions,
	 * and we make sure it is the same directory we checked. */
	if ((r = linux_process_chdir_checked(p->cwd, err)) < 0)
		return r;
	struct stat cwd_st;
	if (stat(".", &cwd_st) < 0)
		return berth_errno(err, errno, "process.cwd %s", p->cwd);
	/* Every fd the container must not inherit gets close-on-exec now, before
	 * a seccomp profile (which may not allow close_range) is loaded.  Our
	 * own fds are all O_CLOEXEC already and stay usable until execve. */
	if ((r = linux_process_cloexec_fds(l->preserve_fds, NULL, 0)) < 0)
		return berth_errno(err, -r, "mark inherited file descriptors close-on-exec");
	/* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: do it
	 * while we still hold it. */
	if (l->seccomp && !p->no_new_privileges) {
		int nfd = -1;
		if ((r = linux_seccomp_load(l->seccomp, &nfd, err)) < 0)
			return r;
		if ((r = send_notify_fd(l, nfd, host_pid, state_json, err)) < 0)
			return r;
	}
	if ((r = linux_caps_drop_bounding(&p->caps, p->has_capabilities, err)) < 0)
		return r;
	if ((r = linux_process_set_user(p, err)) < 0)
		return r;
	if ((r = linux_caps_apply(&p->caps, p->has_capabilities, err)) < 0)
		return r;
	struct stat again;
	if (chdir(p->cwd) < 0)
		return berth_errno(err, errno, "process.cwd %s", p->cwd);
	if (stat(".", &again) < 0)
		return berth_errno(err, errno, "process.cwd %s", p->cwd);
	if (again.st_dev != cwd_st.st_dev || again.st_ino != cwd_st.st_ino)
		return berth_err(err, EPERM, "process.cwd %s changed while the container was being set up", p->cwd);
	return resolve_executable(p, exe, exe_len, err);
}

static _Noreturn void exec_process(struct rt_launch *l, int report_fd, const char *exe,
				   pid_t host_pid, const char *state_json)
{
	struct berth_error err = { 0 };
	const struct spec_process *p = l->process;
	int r = 0;
	if (p->no_new_privileges)
		r = linux_process_set_no_new_privs(&err);
	if (r == 0 && l->seccomp && p->no_new_privileges) {
		int nfd = -1;
		r = linux_seccomp_load(l->seccomp, &nfd, &err);
		if (r == 0)
			r = send_notify_fd(l, nfd, host_pid, state_json, &err);
	}
	if (r == 0) {
		execve(exe, p->args, p->env ? p->env : (char *[]){ NULL });
		berth_errno(&err, errno, "exec %s", exe);
	}
	if (report_fd >= 0)
		sync_send_error(report_fd, &err);
	_exit(127);
}

static int join_session_keyring(const char *id, struct berth_error *err)
{
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, id) < 0) {
		/* No keyring support, or a user namespace without key quota:
		 * the container then shares the caller's session keyring. */
		if (errno == ENOSYS || errno == EPERM || errno == EACCES || errno == EDQUOT)
			return 0;
		return berth_errno(err, errno, "join a new session keyring");
	}
	return 0;
}

struct cgroup_wait {
	struct rt_launch *l;
	bool done;
};

/* The runtime moves the init into the container's cgroups while the init
 * builds its root filesystem (the move waits for an RCU grace period in the
 * kernel); this waits for that to be done, then enters a new cgroup
 * namespace rooted at the container's cgroup when the config asks for one. */
static int wait_for_cgroup(void *arg, struct berth_error *err)
{
	struct cgroup_wait *w = arg;
	if (w->done)
		return 0;
	w->done = true;
	struct sync_msg *m = malloc(sizeof(*m));
	if (!m)
		return berth_err(err, ENOMEM, "out of memory");
	int r = sync_expect(w->l->sync_fd, SYNC_CGROUP_DONE, m, err);
	free(m);
	if (r < 0)
		return r;
	const struct spec_namespace *cgns = spec_config_namespace(w->l->cfg, CLONE_NEWCGROUP);
	if (!w->l->is_exec && cgns && !cgns->path && unshare(CLONE_NEWCGROUP) < 0)
		return berth_errno(err, errno, "create cgroup namespace");
	return 0;
}

/* The container's init: returns only by exec'ing the user's program. */
static _Noreturn void init_container(struct rt_launch *l)
{
	struct berth_error err = { 0 };
	const struct spec_config *cfg = l->cfg;
	struct sync_msg *m = malloc(sizeof(*m));
	_cleanup_free_ char *state_json = NULL;
	char exe[4096];
	int procfd = -1;
	int r;
	pid_t host_pid;

	if (!m)
		_exit(1);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if ((r = sync_expect(l->sync_fd, SYNC_INIT_PID, m, &err)) < 0)
		goto fail;
	host_pid = m->value;

	/* runtime-spec: a namespace type left out is inherited from the
	 * runtime.  Without a mount namespace of its own the container must not
	 * mount anything (it would land on the host), so it only gets root.path
	 * as its root directory. */
	bool own_mount_ns = spec_config_namespace(cfg, CLONE_NEWNS) != NULL;
	if (!own_mount_ns && (cfg->n_mounts || (cfg->linux_ && (cfg->linux_->n_masked_paths ||
								   cfg->linux_->n_readonly_paths))))
		log_warn("linux.namespaces has no mount namespace: the container shares the runtime's, so "
			 "its mounts, masked and read-only paths are not applied");
	struct cgroup_wait cw = { l, false };
	struct linux_rootfs_options ropts = { .before_cgroup_mount = wait_for_cgroup, .arg = &cw };
	if (own_mount_ns && (r = linux_rootfs_prepare_with(cfg, l->rootfs, &ropts, &err)) < 0)
		goto fail;
	if ((r = wait_for_cgroup(&cw, &err)) < 0)
		goto fail;
	log_debug("init: root filesystem mounted");
	if ((r = sync_send(l->sync_fd, SYNC_RUN_HOOKS, 0, NULL)) < 0 ||
	    (r = sync_expect(l->sync_fd, SYNC_HOOKS_DONE, m, &err)) < 0)
		goto fail;
	state_json = strdup(m->text);
	if ((r = linux_hooks_run(cfg->hooks[SPEC_HOOK_CREATE_CONTAINER], cfg->n_hooks[SPEC_HOOK_CREATE_CONTAINER],
				 "createContainer", state_json, &err)) < 0)
		goto fail;
	if (own_mount_ns) {
		if ((r = linux_rootfs_pivot(l->rootfs, l->no_pivot, &err)) < 0)
			goto fail;
	} else if (chroot(l->rootfs) < 0 || chdir("/") < 0) {
		r = berth_errno(&err, errno, "root.path %s: chroot", l->rootfs);
		goto fail;
	}
	{
		_cleanup_close_ int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0) {
			r = berth_errno(&err, errno, "open new root");
			goto fail;
		}
		int cfd = berth_mkdir_p_in_root(rootfd, l->process->cwd, 0755);
		if (cfd < 0) {
			r = berth_errno(&err, -cfd, "process.cwd %s", l->process->cwd);
			goto fail;
		}
		close(cfd);
	}
	if (own_mount_ns && (r = linux_rootfs_finalize(cfg, &err)) < 0)
		goto fail;
	log_debug("init: pivoted, masked and read-only paths done");
	if (cfg->hostname && sethostname(cfg->hostname, strlen(cfg->hostname)) < 0) {
		r = berth_errno(&err, errno, "hostname %s", cfg->hostname);
		goto fail;
	}
	if (cfg->domainname && setdomainname(cfg->domainname, strlen(cfg->domainname)) < 0) {
		r = berth_errno(&err, errno, "domainname %s", cfg->domainname);
		goto fail;
	}
	if ((procfd = linux_procfs_open(&err)) < 0) {
		r = procfd;
		goto fail;
	}
	if ((r = linux_sysctl_apply(procfd, cfg, &err)) < 0)
		goto fail;
	if (l->process->has_oom_score_adj &&
	    (r = linux_set_oom_score_adj(procfd, l->process->oom_score_adj, &err)) < 0)
		goto fail;
	if (!l->no_new_keyring && (r = join_session_keyring(l->id, &err)) < 0)
		goto fail;
	if ((r = setup_process(l, procfd, host_pid, state_json, exe, sizeof(exe), &err)) < 0)
		goto fail;
	close(procfd);
	procfd = -1;

	log_debug("init: process set up; waiting for start");
	/* From here the runtime that created us may exit at any time. */
	prctl(PR_SET_PDEATHSIG, 0);
	if ((r = sync_send(l->sync_fd, SYNC_READY, 0, NULL)) < 0)
		_exit(1);
	close(l->sync_fd);
	l->sync_fd = -1;

	int conn;
	for (;;) {
		conn = accept4(l->start_listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn >= 0 || errno != EINTR)
			break;
	}
	if (conn < 0)
		_exit(1);
	close(l->start_listen_fd);
	r = sync_expect(conn, SYNC_START, m, &err);
	if (r < 0) {
		sync_send_error(conn, &err);
		_exit(1);
	}
	free(state_json);
	state_json = strdup(m->text);
	free(m);
	m = NULL;
	if (linux_hooks_run(cfg->hooks[SPEC_HOOK_START_CONTAINER], cfg->n_hooks[SPEC_HOOK_START_CONTAINER],
			    "startContainer", state_json, &err) < 0) {
		sync_send_error(conn, &err);
		_exit(1);
	}
	exec_process(l, conn, exe, host_pid, state_json);

fail:
	if (berth_error_isset(&err) == 0)
		berth_errno(&err, r, "container init");
	sync_send_error(l->sync_fd, &err);
	_exit(1);
}

/* exec'd process, already in every namespace of the container. */
static _Noreturn void init_exec(struct rt_launch *l)
{
	struct berth_error err = { 0 };
	char exe[4096];
	struct sync_msg *m = malloc(sizeof(*m));
	int procfd = -1, r;
	pid_t host_pid;

	if (!m)
		_exit(1);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if ((r = sync_expect(l->sync_fd, SYNC_INIT_PID, m, &err)) < 0)
		goto fail;
	host_pid = m->value;
	if ((procfd = linux_procfs_open(&err)) < 0) {
		r = procfd;
		goto fail;
	}
	if (l->process->has_oom_score_adj &&
	    (r = linux_set_oom_score_adj(procfd, l->process->oom_score_adj, &err)) < 0)
		goto fail;
	struct cgroup_wait cw = { l, false };
	if ((r = wait_for_cgroup(&cw, &err)) < 0)
		goto fail;
	if ((r = setup_process(l, procfd, host_pid, m->text, exe, sizeof(exe), &err)) < 0)
		goto fail;
	close(procfd);
	prctl(PR_SET_PDEATHSIG, 0);
	/* The sync socket doubles as the exec report: it closes on success. */
	if ((r = sync_send(l->sync_fd, SYNC_READY, 0, NULL)) < 0)
		_exit(1);
	exec_process(l, l->sync_fd, exe, host_pid, m->text);
fail:
	if (!berth_error_isset(&err))
		berth_errno(&err, r, "exec setup");
	sync_send_error(l->sync_fd, &err);
	_exit(1);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *) a - *(const int *) b;
}

/* Close every fd this child inherited from the runtime except stdio, the
 * caller's preserved fds and the ones it was handed on purpose: the state
 * directory (which carries the container's flock) and the cgroup dirs must
 * never reach the container, not even while it waits.  The --log file stays
 * (O_CLOEXEC) so setup warnings are still recorded. */
static void close_inherited_fds(struct rt_launch *l)
{
	int keep[8];
	size_t n = 0;
	int candidates[] = { l->sync_fd, l->start_listen_fd, l->console_fd, l->seccomp_listener_fd,
			     l->target_pidfd, berth_log_fd() };
	for (size_t i = 0; i < ARRAY_SIZE(candidates); i++)
		if (candidates[i] >= 3 + l->preserve_fds)
			keep[n++] = candidates[i];
	qsort(keep, n, sizeof(int), cmp_int);
	unsigned int from = 3 + (unsigned int) l->preserve_fds;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned int) keep[i] > from)
			syscall(SYS_close_range, from, (unsigned int) keep[i] - 1, 0);
		from = (unsigned int) keep[i] + 1;
	}
	syscall(SYS_close_range, from, ~0U, 0);
}

static pid_t clone_parent(void)
{
	/* fork() that makes the child our sibling: the runtime, not stage 1,
	 * is the parent of the container's init and can wait for it. */
	return (pid_t) syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
}

int rt_init_stage1(struct rt_launch *l)
{
	struct berth_error err = { 0 };
	struct sync_msg *m = malloc(sizeof(*m));
	int r;

	if (!m)
		return 1;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close_inherited_fds(l);
	if ((r = sync_expect(l->sync_fd, SYNC_GO, m, &err)) < 0)
		goto fail;
	/* Nothing in the container's namespaces may open /proc/<pid>/exe of a
	 * runtime process or ptrace it. */
	prctl(PR_SET_DUMPABLE, 0);

	int flags;
	if (l->is_exec) {
		r = setns(l->target_pidfd, l->join_ns_flags);
		if (r < 0) {
			r = berth_errno(&err, errno, "join the namespaces of container %s", l->id);
			goto fail;
		}
		flags = 0;
	} else {
		if ((r = linux_ns_join_paths(l->cfg, &err)) < 0)
			goto fail;
		/* The cgroup namespace is created by the init itself once it is in
		 * the container's cgroups (see wait_for_cgroup). */
		flags = linux_ns_new_flags(l->cfg) & ~CLONE_NEWCGROUP;
	}
	if (flags & CLONE_NEWUSER) {
		/* A non-dumpable process's /proc files are root's: an unprivileged
		 * runtime could not write our maps, nor would newuidmap (which
		 * checks the owner) agree to.  Dumpable only while being mapped. */
		bool unprivileged = geteuid() != 0;
		if (unshare(CLONE_NEWUSER) < 0) {
			r = berth_errno(&err, errno, "create user namespace");
			goto fail;
		}
		if (unprivileged)
			prctl(PR_SET_DUMPABLE, 1);
		if ((r = sync_send(l->sync_fd, SYNC_USERNS_READY, 0, NULL)) < 0 ||
		    (r = sync_expect(l->sync_fd, SYNC_USERNS_MAPPED, m, &err)) < 0)
			goto fail;
		if (unprivileged)
			prctl(PR_SET_DUMPABLE, 0);
		/* Become the namespace's root where it is mapped; if it is not,
		 * the process user set later decides. */
		if (setresgid(0, 0, 0) < 0 && errno != EINVAL) {
			r = berth_errno(&err, errno, "setresgid in user namespace");
			goto fail;
		}
		if (setresuid(0, 0, 0) < 0 && errno != EINVAL) {
			r = berth_errno(&err, errno, "setresuid in user namespace");
			goto fail;
		}
		flags &= ~CLONE_NEWUSER;
	}
	if (flags && unshare(flags) < 0) {
		r = berth_errno(&err, errno, "create namespaces (%s%s%s%s%s%s%s)",
				flags & CLONE_NEWPID ? "pid " : "", flags & CLONE_NEWNS ? "mount " : "",
				flags & CLONE_NEWNET ? "network " : "", flags & CLONE_NEWUTS ? "uts " : "",
				flags & CLONE_NEWIPC ? "ipc " : "", flags & CLONE_NEWCGROUP ? "cgroup " : "",
				flags & CLONE_NEWTIME ? "time" : "");
		goto fail;
	}
	if (flags & CLONE_NEWTIME) {
		int procfd = linux_procfs_open(&err);
		if (procfd < 0) {
			r = procfd;
			goto fail;
		}
		r = linux_ns_write_time_offsets(procfd, l->cfg->linux_, &err);
		close(procfd);
		if (r < 0)
			goto fail;
	}
	pid_t pid = clone_parent();
	if (pid < 0) {
		r = berth_errno(&err, errno, "fork container init");
		goto fail;
	}
	if (pid == 0) {
		free(m);
		if (l->is_exec)
			init_exec(l);
		init_container(l);
	}
	free(m);
	sync_send(l->sync_fd, SYNC_CHILD_PID, pid, NULL);
	return 0;
fail:
	if (!berth_error_isset(&err))
		berth_errno(&err, r, "container setup");
	sync_send_error(l->sync_fd, &err);
	free(m);
	return 1;
}
