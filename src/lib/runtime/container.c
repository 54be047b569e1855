#include "runtime/container.h"
#include "runtime/init.h"
#include "runtime/state.h"
#include "runtime/sync.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/sock.h"
#include "linux/cgroup.h"
#include "linux/hooks.h"
#include "linux/idmap.h"
#include "linux/namespaces.h"
#include "linux/procfs.h"
#include "linux/seccomp.h"
#include "linux/sysctl.h"
#include "linux/terminal.h"
#include "spec/config.h"
#include "spec/resources.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OCI_VERSION "1.2.0"


/* Compiled seccomp programs, shared by every container of this state root.
 * The name holds '@', which no container ID may, and starts with '.', which
 * list skips.  -1 (no cache) when it cannot be made: compiling still works. */
static int seccomp_cache_dir(const struct rt_context *ctx)
{
	_cleanup_close_ int rootfd = open(ctx->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -1;
	if (mkdirat(rootfd, ".seccomp@cache", 0700) < 0 && errno != EEXIST)
		return -1;
	return openat(rootfd, ".seccomp@cache", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

static int pidfd_open_(pid_t pid) { return (int) syscall(SYS_pidfd_open, pid, 0); }
static int pidfd_signal_(int fd, int sig) { return (int) syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0); }

static void config_free_p(struct spec_config **c) { if (*c) spec_config_free(*c); }
static void cgroup_free_p(struct cgroup_manager **m) { if (*m) cgroup_manager_free(*m); }
#define _cleanup_config_ _cleanup_(config_free_p)
#define _cleanup_cgroup_ _cleanup_(cgroup_free_p)

/* ---------- state JSON shown to users and hooks ---------- */

static json_t *state_object(const struct rt_state *s, const char *status)
{
	json_t *o = json_object();
	bool live = strcmp(status, "stopped") != 0;
	json_object_set_new(o, "ociVersion", json_string(OCI_VERSION));
	json_object_set_new(o, "id", json_string(s->id));
	json_object_set_new(o, "pid", json_integer(live ? s->pid : 0));
	json_object_set_new(o, "status", json_string(status));
	json_object_set_new(o, "bundle", json_string(s->bundle ? s->bundle : ""));
	json_object_set_new(o, "rootfs", json_string(s->rootfs ? s->rootfs : ""));
	json_object_set_new(o, "created", json_string(s->created ? s->created : ""));
	json_object_set_new(o, "owner", json_string(""));
	if (s->annotations && json_object_size(s->annotations))
		json_object_set(o, "annotations", s->annotations);
	return o;
}

/* The spec's state for hooks: pid stays set even for poststop, so hooks can
 * find what the container was. */
static char *hook_state_json(const struct rt_state *s, const char *status)
{
	json_t *o = json_object();
	json_object_set_new(o, "ociVersion", json_string(OCI_VERSION));
	json_object_set_new(o, "id", json_string(s->id));
	json_object_set_new(o, "status", json_string(status));
	if (s->pid > 0)
		json_object_set_new(o, "pid", json_integer(s->pid));
	json_object_set_new(o, "bundle", json_string(s->bundle ? s->bundle : ""));
	if (s->annotations && json_object_size(s->annotations))
		json_object_set(o, "annotations", s->annotations);
	char *t = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return t;
}

static json_t *annotations_json(const struct spec_config *cfg)
{
	if (!cfg->n_annotations)
		return NULL;
	json_t *o = json_object();
	for (size_t i = 0; i < cfg->n_annotations; i++)
		json_object_set_new(o, cfg->annotations[i].key, json_string(cfg->annotations[i].value));
	return o;
}

/* ---------- opening a container ---------- */

struct handle {
	int rootfd;
	int dirfd;
	struct rt_state st;
	struct cgroup_manager *cg;
};

static void handle_close(struct handle *h)
{
	if (h->cg)
		cgroup_manager_free(h->cg);
	rt_state_clear(&h->st);
	if (h->dirfd >= 0)
		close(h->dirfd);
	if (h->rootfd >= 0)
		close(h->rootfd);
}
#define _cleanup_handle_ _cleanup_(handle_close)

static int handle_open(const struct rt_context *ctx, const char *id, bool lock, struct handle *h,
		       struct berth_error *err)
{
	int r;
	memset(h, 0, sizeof(*h));
	h->rootfd = h->dirfd = -1;
	if ((r = rt_id_validate(id, err)) < 0)
		return r;
	h->rootfd = open(ctx->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (h->rootfd < 0) {
		if (errno == ENOENT)
			return berth_err(err, ENOENT, "container %s does not exist", id);
		return berth_errno(err, errno, "state root %s", ctx->root);
	}
	if ((h->dirfd = rt_state_dir_open(h->rootfd, id, err)) < 0)
		return h->dirfd;
	if (lock && (r = rt_state_lock(h->dirfd, err)) < 0)
		return r;
	if ((r = rt_state_read(h->dirfd, id, &h->st, err)) < 0)
		return r;
	if (h->st.cgroup && (r = cgroup_manager_deserialize(h->st.cgroup, &h->cg, err)) < 0)
		return r;
	return 0;
}

static const char *live_status(struct handle *h)
{
	struct rt_state *s = &h->st;
	if (!strcmp(s->status, "stopped"))
		return "stopped";
	if (!strcmp(s->status, "creating"))
		return s->pid > 0 && rt_state_process_alive(s) ? "creating" : "stopped";
	if (!rt_state_process_alive(s))
		return "stopped";
	if (!strcmp(s->status, "created"))
		return "created";
	bool frozen = false;
	if (h->cg && cgroup_is_frozen(h->cg, &frozen) == 0 && frozen)
		return "paused";
	return "running";
}

static int load_saved_config(int dirfd, const char *id, struct spec_config **out, struct berth_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = berth_read_file_at(dirfd, RT_CONFIG_FILE, &text, &len);
	if (r < 0)
		return berth_errno(err, -r, "read saved config of container %s", id);
	return spec_config_parse(text, len, "config.json", out, err);
}

static char *state_path(const struct rt_context *ctx, const char *id, const char *file)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s/%s", ctx->root, id, file) < 0)
		return NULL;
	return p;
}

/* ---------- create ---------- */

struct created {
	pid_t pid;            /* container init */
	int pty_master;       /* run -t without console socket */
};

static int check_config(const struct spec_config *cfg, const struct rt_create_opts *o, bool for_run,
			struct berth_error *err)
{
	if (!cfg->process)
		return berth_err(err, EINVAL, "process: missing: the container has nothing to run");
	if (!cfg->linux_)
		return berth_err(err, EINVAL, "linux: missing: berth-runtime runs Linux containers only");
	if ((cfg->hostname && *cfg->hostname) || (cfg->domainname && *cfg->domainname)) {
		if (!spec_config_namespace(cfg, CLONE_NEWUTS))
			return berth_err(err, EINVAL, "%s: cannot be set without a private UTS namespace",
					 cfg->hostname ? "hostname" : "domainname");
	}
	const struct spec_namespace *user = spec_config_namespace(cfg, CLONE_NEWUSER);
	if (user && !user->path && (!cfg->linux_->n_uid_mappings || !cfg->linux_->n_gid_mappings))
		return berth_err(err, EINVAL, "linux.uidMappings/gidMappings: required with a new user namespace");
	if (!user && (cfg->linux_->n_uid_mappings || cfg->linux_->n_gid_mappings))
		return berth_err(err, EINVAL, "linux.uidMappings: given without a user namespace");
	if (cfg->linux_->n_time_offsets) {
		const struct spec_namespace *t = spec_config_namespace(cfg, 0x80);
		if (!t || t->path)
			return berth_err(err, EINVAL, "linux.timeOffsets: need a new time namespace");
	}
	if (cfg->linux_->has_intel_rdt)
		return berth_err(err, ENOTSUP, "linux.intelRdt: Intel RDT (resctrl) is not supported by berth-runtime");
	bool detached = !for_run || o->detach;
	if (cfg->process->terminal && !o->console_socket && detached)
		return berth_err(err, EINVAL,
				 "process.terminal is true: --console-socket is required when the runtime detaches");
	if (!cfg->process->terminal && o->console_socket)
		return berth_err(err, EINVAL, "--console-socket given but process.terminal is false");
	if (o->preserve_fds < 0)
		return berth_err(err, EINVAL, "--preserve-fds: must not be negative");
	return linux_sysctl_validate(cfg, err);
}

/* The device cgroup is an allow-list: after the config's own rules, let the
 * container use the devices it is given (linux.devices) and the standard
 * set every container has (null, zero, full, random, urandom, tty, pts,
 * ptmx, tun) and mknod of anything, as runc does. */
static int add_default_device_rules(struct spec_config *cfg)
{
	static const struct spec_res_device defaults[] = {
		{ true, 'c', -1, -1, "m" }, { true, 'b', -1, -1, "m" },
		{ true, 'c', 1, 3, "rwm" }, { true, 'c', 1, 5, "rwm" }, { true, 'c', 1, 7, "rwm" },
		{ true, 'c', 1, 8, "rwm" }, { true, 'c', 1, 9, "rwm" }, { true, 'c', 5, 0, "rwm" },
		{ true, 'c', 5, 1, "rwm" }, { true, 'c', 136, -1, "rwm" }, { true, 'c', 5, 2, "rwm" },
		{ true, 'c', 10, 200, "rwm" },
	};
	struct spec_linux *l = cfg->linux_;
	if (!l->resources) {
		l->resources = calloc(1, sizeof(*l->resources));
		if (!l->resources)
			return -ENOMEM;
	}
	struct spec_resources *r = l->resources;
	size_t extra = l->n_devices + ARRAY_SIZE(defaults);
	struct spec_res_device *d = realloc(r->devices, (r->n_devices + extra) * sizeof(*d));
	if (!d)
		return -ENOMEM;
	r->devices = d;
	for (size_t i = 0; i < l->n_devices; i++) {
		const struct spec_device *dev = &l->devices[i];
		if (dev->type == 'p')
			continue;
		struct spec_res_device *n = &d[r->n_devices++];
		memset(n, 0, sizeof(*n));
		n->allow = true;
		n->type = dev->type == 'b' ? 'b' : 'c';
		n->major = dev->major;
		n->minor = dev->minor;
		strcpy(n->access, "rwm");
	}
	for (size_t i = 0; i < ARRAY_SIZE(defaults); i++)
		d[r->n_devices++] = defaults[i];
	return 0;
}

static int write_pid_file(const char *path, pid_t pid, struct berth_error *err)
{
	if (!path)
		return 0;
	char abs[PATH_MAX], buf[32];
	if (path[0] != '/') {
		if (!getcwd(abs, sizeof(abs)))
			return berth_errno(err, errno, "--pid-file %s", path);
		size_t l = strlen(abs);
		snprintf(abs + l, sizeof(abs) - l, "/%s", path);
	} else {
		snprintf(abs, sizeof(abs), "%s", path);
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", abs);
	char *slash = strrchr(dir, '/');
	*slash = '\0';
	_cleanup_close_ int dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return berth_errno(err, errno, "--pid-file %s", path);
	int n = snprintf(buf, sizeof(buf), "%d", (int) pid);
	int r = berth_write_file_replace(dfd, slash + 1, buf, (size_t) n, 0644);
	if (r < 0)
		return berth_errno(err, -r, "--pid-file %s", path);
	return 0;
}

static void kill_and_reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static int run_hooks_host(const struct spec_config *cfg, enum spec_hook_kind k, const char *state,
			  struct berth_error *err)
{
	return linux_hooks_run(cfg->hooks[k], cfg->n_hooks[k], spec_hook_kind_name(k), state, err);
}

static int do_create(const struct rt_context *ctx, const struct rt_create_opts *o, bool for_run,
		     struct created *out, struct berth_error *err)
{
	_cleanup_config_ struct spec_config *cfg = NULL;
	_cleanup_cgroup_ struct cgroup_manager *cg = NULL;
	_cleanup_close_ int rootfd = -1, dirfd = -1, procfd = -1;
	_cleanup_close_ int console_fd = -1, listener_fd = -1, start_fd = -1, pty_master = -1;
	_cleanup_free_ char *config_text = NULL, *start_path = NULL, *cg_json = NULL;
	struct linux_seccomp *seccomp = NULL;
	struct rt_state st = { 0 };
	char bundle[PATH_MAX], rootfs[PATH_MAX];
	size_t config_len = 0;
	pid_t stage1 = -1, init_pid = -1;
	int sv[2] = { -1, -1 };
	bool dir_made = false, cg_made = false;
	struct sync_msg *m = NULL;
	int r;

	if ((r = rt_id_validate(o->id, err)) < 0)
		return r;
	if (!realpath(o->bundle ? o->bundle : ".", bundle))
		return berth_errno(err, errno, "bundle %s", o->bundle ? o->bundle : ".");
	{
		char cpath[PATH_MAX + 16];
		snprintf(cpath, sizeof(cpath), "%s/config.json", bundle);
		r = berth_read_file(cpath, &config_text, &config_len);
		if (r < 0)
			return berth_errno(err, -r, "%s", cpath);
	}
	if ((r = spec_config_parse(config_text, config_len, "config.json", &cfg, err)) < 0)
		return r;
	/* Rootless decisions (user namespace, default mappings) land in the
	 * config text itself, so the saved config shows them. */
	if ((r = linux_idmap_settle_config(cfg, geteuid() != 0, geteuid(), getegid(), &config_text, &config_len,
					   err)) < 0)
		return r;
	if (r > 0) {
		spec_config_free(steal_ptr(cfg));
		if ((r = spec_config_parse(config_text, config_len, "config.json", &cfg, err)) < 0)
			return r;
	}
	{
		char joined[PATH_MAX * 2];
		if (cfg->root_path[0] == '/')
			snprintf(joined, sizeof(joined), "%s", cfg->root_path);
		else
			snprintf(joined, sizeof(joined), "%s/%s", bundle, cfg->root_path);
		if (!realpath(joined, rootfs))
			return berth_errno(err, errno, "root.path %s", joined);
		struct stat sb;
		if (stat(rootfs, &sb) < 0 || !S_ISDIR(sb.st_mode))
			return berth_err(err, ENOTDIR, "root.path %s: not a directory", rootfs);
	}
	if ((r = check_config(cfg, o, for_run, err)) < 0)
		return r;
	log_debug("create %s: config parsed and checked", o->id);

	if ((rootfd = rt_root_open(ctx->root, true, err)) < 0)
		return rootfd;
	if ((dirfd = rt_state_dir_create(rootfd, o->id, err)) < 0)
		return dirfd;
	dir_made = true;
	if ((r = rt_state_lock(dirfd, err)) < 0)
		goto fail;

	st.id = (char *) o->id;
	st.status = (char *) "creating";
	st.bundle = bundle;
	st.rootfs = rootfs;
	st.owner = geteuid();
	st.created = rt_now_rfc3339();
	st.annotations = annotations_json(cfg);
	st.no_pivot = o->no_pivot;
	if ((r = rt_state_write(dirfd, &st, err)) < 0)
		goto fail;
	if ((r = berth_write_file_replace(dirfd, RT_CONFIG_FILE, config_text, config_len, 0600)) < 0) {
		r = berth_errno(err, -r, "save config of container %s", o->id);
		goto fail;
	}

	if ((r = add_default_device_rules(cfg)) < 0) {
		r = berth_err(err, -r, "out of memory");
		goto fail;
	}
	r = cgroup_manager_new(NULL, cfg->linux_->cgroups_path, o->id, ctx->systemd_cgroup, &cg, err);
	if (r < 0)
		goto fail;
	if ((r = cgroup_create(cg, cfg->linux_->resources, err)) < 0) {
		if (!(ctx->rootless && (r == -EACCES || r == -EPERM || r == -EROFS)))
			goto fail;
		log_warn("%s (continuing without cgroup limits: --rootless)", err->msg);
		berth_error_clear(err);
		cgroup_manager_free(cg);
		cg = NULL;
	} else {
		cg_made = true;
		cg_json = cgroup_manager_serialize(cg);
		st.cgroup = cg_json;
	}

	if (cfg->linux_->seccomp) {
		_cleanup_close_ int cache = seccomp_cache_dir(ctx);
		if ((r = linux_seccomp_build_cached(cfg->linux_->seccomp, cache, &seccomp, err)) < 0)
			goto fail;
		if (linux_seccomp_uses_notify(cfg->linux_->seccomp)) {
			const char *lp = linux_seccomp_listener_path(cfg->linux_->seccomp);
			listener_fd = berth_unix_connect(lp, SOCK_STREAM);
			if (listener_fd < 0) {
				r = berth_errno(err, -listener_fd, "linux.seccomp.listenerPath %s", lp);
				goto fail;
			}
		}
	}
	if (o->console_socket) {
		console_fd = berth_unix_connect(o->console_socket, SOCK_STREAM);
		if (console_fd < 0) {
			r = berth_errno(err, -console_fd, "--console-socket %s", o->console_socket);
			goto fail;
		}
	}
	start_path = state_path(ctx, o->id, RT_START_SOCK);
	start_fd = berth_unix_listen(start_path, SOCK_SEQPACKET, 4);
	if (start_fd < 0) {
		r = berth_errno(err, -start_fd, "start socket %s", start_path);
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = berth_errno(err, errno, "socketpair");
		goto fail;
	}
	log_debug("create %s: state, cgroups and sockets ready; forking", o->id);

	struct rt_launch l = {
		.cfg = cfg,
		.process = cfg->process,
		.id = o->id,
		.rootfs = rootfs,
		.sync_fd = sv[1],
		.start_listen_fd = start_fd,
		.console_fd = console_fd,
		.seccomp_listener_fd = listener_fd,
		.pty_to_parent = cfg->process->terminal && !o->console_socket,
		.preserve_fds = o->preserve_fds,
		.no_pivot = o->no_pivot,
		.no_new_keyring = o->no_new_keyring,
		.seccomp = seccomp,
		.seccomp_spec = cfg->linux_->seccomp,
		.target_pidfd = -1,
	};
	stage1 = fork();
	if (stage1 < 0) {
		r = berth_errno(err, errno, "fork");
		goto fail;
	}
	if (stage1 == 0) {
		close(sv[0]);
		_exit(rt_init_stage1(&l));
	}
	close(sv[1]);
	sv[1] = -1;

	if ((r = sync_send(sv[0], SYNC_GO, 0, NULL)) < 0) {
		r = berth_errno(err, -r, "container setup");
		goto fail;
	}
	m = malloc(sizeof(*m));
	if (!m) {
		r = berth_err(err, ENOMEM, "out of memory");
		goto fail;
	}
	for (;;) {
		int pfd = -1;
		r = sync_recv(sv[0], m, &pfd);
		if (r < 0) {
			int status = 0;
			pid_t w = init_pid > 0 ? init_pid : stage1;
			if (waitpid(w, &status, 0) == w) {
				if (w == init_pid)
					init_pid = -1;
				else
					stage1 = -1;
			}
			if (WIFSIGNALED(status))
				r = berth_err(err, EIO, "container init was killed by signal %d before it was ready",
					      WTERMSIG(status));
			else
				r = berth_err(err, EIO, "container init exited (status %d) before it was ready",
					      WEXITSTATUS(status));
			goto fail;
		}
		if (m->type == SYNC_ERROR) {
			r = berth_err(err, m->value ? m->value : EIO, "%s", m->text);
			goto fail;
		}
		if (m->type == SYNC_USERNS_READY) {
			if (procfd < 0 && (procfd = linux_procfs_open(err)) < 0) {
				r = procfd;
				goto fail;
			}
			if ((r = linux_idmap_write(procfd, stage1, cfg->linux_, geteuid() == 0, err)) < 0)
				goto fail;
			sync_send(sv[0], SYNC_USERNS_MAPPED, 0, NULL);
		} else if (m->type == SYNC_CHILD_PID) {
			init_pid = m->value;
			int status;
			while (waitpid(stage1, &status, 0) < 0 && errno == EINTR)
				;
			stage1 = -1;
			st.pid = init_pid;
			st.pid_start = rt_pid_start_time(init_pid, NULL);
			sync_send(sv[0], SYNC_INIT_PID, init_pid, NULL);
			/* The init builds its rootfs meanwhile (see init.c). */
			log_debug("create %s: init is pid %d; moving it into its cgroups", o->id, (int) init_pid);
			if (cg && (r = cgroup_enter(cg, init_pid, err)) < 0)
				goto fail;
			log_debug("create %s: init is in its cgroups", o->id);
			sync_send(sv[0], SYNC_CGROUP_DONE, 0, NULL);
		} else if (m->type == SYNC_RUN_HOOKS) {
			_cleanup_free_ char *hs = hook_state_json(&st, "creating");
			if ((r = run_hooks_host(cfg, SPEC_HOOK_PRESTART, hs, err)) < 0 ||
			    (r = run_hooks_host(cfg, SPEC_HOOK_CREATE_RUNTIME, hs, err)) < 0)
				goto fail;
			sync_send(sv[0], SYNC_HOOKS_DONE, 0, hs);
		} else if (m->type == SYNC_PTY_MASTER) {
			if (pty_master >= 0)
				close(pty_master);
			pty_master = pfd;
			pfd = -1;
		} else if (m->type == SYNC_READY) {
			break;
		}
		if (pfd >= 0)
			close(pfd);
	}
	free(m);
	m = NULL;

	log_debug("create %s: init ready", o->id);
	st.status = (char *) "created";
	if ((r = rt_state_write(dirfd, &st, err)) < 0)
		goto fail;
	if ((r = write_pid_file(o->pid_file, init_pid, err)) < 0)
		goto fail;
	out->pid = init_pid;
	out->pty_master = steal_fd(pty_master);
	close(sv[0]);
	if (seccomp)
		linux_seccomp_free(seccomp);
	if (st.annotations)
		json_decref(st.annotations);
	free(st.created);
	return 0;

fail:
	free(m);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	kill_and_reap(stage1);
	kill_and_reap(init_pid);
	if (cg && cg_made) {
		struct berth_error e2 = { 0 };
		cgroup_kill_all(cg, SIGKILL, &e2);
		cgroup_destroy(cg, &e2);
	}
	if (dir_made)
		rt_state_dir_remove(rootfd, o->id);
	if (seccomp)
		linux_seccomp_free(seccomp);
	if (st.annotations)
		json_decref(st.annotations);
	free(st.created);
	return r;
}

int rt_create(const struct rt_context *ctx, const struct rt_create_opts *o, struct berth_error *err)
{
	struct created c = { -1, -1 };
	int r = do_create(ctx, o, false, &c, err);
	if (c.pty_master >= 0)
		close(c.pty_master);
	return r;
}

/* ---------- start ---------- */

static int start_locked(const struct rt_context *ctx, struct handle *h, struct berth_error *err)
{
	const char *status = live_status(h);
	if (strcmp(status, "created") != 0) {
		if (!strcmp(status, "stopped"))
			return berth_err(err, EINVAL, "cannot start container %s: it has stopped", h->st.id);
		return berth_err(err, EINVAL, "cannot start container %s: it is %s, not created", h->st.id, status);
	}
	_cleanup_free_ char *sock = state_path(ctx, h->st.id, RT_START_SOCK);
	_cleanup_close_ int fd = berth_unix_connect(sock, SOCK_SEQPACKET);
	if (fd < 0)
		return berth_errno(err, -fd, "cannot start container %s: connect to its init", h->st.id);
	_cleanup_free_ char *hs = hook_state_json(&h->st, "created");
	int r = sync_send(fd, SYNC_START, 0, hs);
	if (r < 0)
		return berth_errno(err, -r, "cannot start container %s", h->st.id);
	struct sync_msg *m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	r = sync_recv(fd, m, NULL);
	if (r == 0 && m->type == SYNC_ERROR) {
		r = berth_err(err, m->value ? m->value : EIO, "%s", m->text);
		free(m);
		/* The init gave up: the container is now stopped. */
		free(h->st.status);
		h->st.status = strdup("stopped");
		rt_state_write(h->dirfd, &h->st, NULL);
		return r;
	}
	free(m);
	log_debug("start %s: the process runs", h->st.id);
	unlinkat(h->dirfd, RT_START_SOCK, 0);
	free(h->st.status);
	h->st.status = strdup("running");
	if ((r = rt_state_write(h->dirfd, &h->st, err)) < 0)
		return r;

	_cleanup_config_ struct spec_config *cfg = NULL;
	struct berth_error herr = { 0 };
	if (load_saved_config(h->dirfd, h->st.id, &cfg, &herr) == 0) {
		_cleanup_free_ char *rs = hook_state_json(&h->st, "running");
		linux_hooks_run_all(cfg->hooks[SPEC_HOOK_POSTSTART], cfg->n_hooks[SPEC_HOOK_POSTSTART], "poststart", rs);
	} else {
		log_warn("%s", herr.msg);
	}
	return 0;
}

int rt_start(const struct rt_context *ctx, const char *id, struct berth_error *err)
{
	_cleanup_handle_ struct handle h;
	int r = handle_open(ctx, id, true, &h, err);
	if (r < 0)
		return r;
	return start_locked(ctx, &h, err);
}

/* ---------- delete ---------- */

static void wait_pid_gone(pid_t pid, unsigned long long start, int timeout_ms)
{
	int fd = pidfd_open_(pid);
	if (fd < 0)
		return;
	/* The pid may have been reused by now: only wait for our process. */
	if (rt_pid_start_time(pid, NULL) != start) {
		close(fd);
		return;
	}
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR)
		;
	close(fd);
}

static int destroy_locked(struct handle *h, struct berth_error *err)
{
	int r;
	if (h->cg) {
		struct berth_error kerr = { 0 };
		cgroup_kill_all(h->cg, SIGKILL, &kerr);
	}
	if (rt_state_process_alive(&h->st)) {
		int fd = pidfd_open_(h->st.pid);
		if (fd >= 0) {
			if (rt_pid_start_time(h->st.pid, NULL) == h->st.pid_start)
				pidfd_signal_(fd, SIGKILL);
			close(fd);
		}
	}
	wait_pid_gone(h->st.pid, h->st.pid_start, 10000);
	if (h->cg) {
		/* Processes of a shared pid namespace outlive the init: wait until
		 * the cgroup is empty (bounded). */
		for (int i = 0; i < 200; i++) {
			_cleanup_free_ pid_t *pids = NULL;
			size_t n = 0;
			struct berth_error perr = { 0 };
			if (cgroup_pids(h->cg, &pids, &n, &perr) < 0 || n == 0)
				break;
			for (size_t k = 0; k < n; k++)
				kill(pids[k], SIGKILL);
			struct timespec ts = { 0, 5 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	_cleanup_config_ struct spec_config *cfg = NULL;
	struct berth_error herr = { 0 };
	if (load_saved_config(h->dirfd, h->st.id, &cfg, &herr) == 0) {
		_cleanup_free_ char *hs = hook_state_json(&h->st, "stopped");
		linux_hooks_run_all(cfg->hooks[SPEC_HOOK_POSTSTOP], cfg->n_hooks[SPEC_HOOK_POSTSTOP], "poststop", hs);
	}
	if (h->cg && (r = cgroup_destroy(h->cg, err)) < 0)
		return r;
	r = rt_state_dir_remove(h->rootfd, h->st.id);
	if (r < 0)
		return berth_errno(err, -r, "remove state of container %s", h->st.id);
	return 0;
}

int rt_delete(const struct rt_context *ctx, const char *id, bool force, struct berth_error *err)
{
	_cleanup_handle_ struct handle h;
	int r = handle_open(ctx, id, true, &h, err);
	if (r == -EINVAL && h.dirfd >= 0 && force) {
		/* A corrupt or half-written record: --force still clears it. */
		berth_error_clear(err);
		return rt_state_dir_remove(h.rootfd, id) < 0 ? berth_err(err, EIO, "remove %s", id) : 0;
	}
	if (r < 0)
		return r;
	const char *status = live_status(&h);
	if (!force && (!strcmp(status, "running") || !strcmp(status, "paused")))
		return berth_err(err, EBUSY, "cannot delete container %s that is not stopped: %s (use --force)",
				 id, status);
	return destroy_locked(&h, err);
}

/* ---------- kill ---------- */

int rt_kill(const struct rt_context *ctx, const char *id, int sig, bool all, struct berth_error *err)
{
	_cleanup_handle_ struct handle h;
	int r = handle_open(ctx, id, true, &h, err);
	if (r < 0)
		return r;
	const char *status = live_status(&h);
	if (!strcmp(status, "stopped"))
		return berth_err(err, ESRCH, "container %s is not running", id);
	if (all && h.cg)
		return cgroup_kill_all(h.cg, sig, err);
	_cleanup_close_ int fd = pidfd_open_(h.st.pid);
	if (fd < 0 || rt_pid_start_time(h.st.pid, NULL) != h.st.pid_start)
		return berth_err(err, ESRCH, "container %s is not running", id);
	if (pidfd_signal_(fd, sig) < 0)
		return berth_errno(err, errno, "kill container %s", id);
	return 0;
}

/* ---------- state / list ---------- */

int rt_state(const struct rt_context *ctx, const char *id, json_t **out, struct berth_error *err)
{
	_cleanup_handle_ struct handle h;
	int r = handle_open(ctx, id, false, &h, err);
	if (r < 0)
		return r;
	*out = state_object(&h.st, live_status(&h));
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

int rt_list(const struct rt_context *ctx, json_t **out, struct berth_error *err)
{
	*out = json_array();
	_cleanup_closedir_ DIR *d = opendir(ctx->root);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return berth_errno(err, errno, "state root %s", ctx->root);
	}
	char **ids = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || de->d_type != DT_DIR)
			continue;
		char **ni = realloc(ids, (n + 1) * sizeof(*ids));
		if (!ni)
			break;
		ids = ni;
		ids[n++] = strdup(de->d_name);
	}
	if (n)
		qsort(ids, n, sizeof(*ids), cmp_str);
	for (size_t i = 0; i < n; i++) {
		json_t *o = NULL;
		struct berth_error e = { 0 };
		if (rt_state(ctx, ids[i], &o, &e) == 0)
			json_array_append_new(*out, o);
		free(ids[i]);
	}
	free(ids);
	return 0;
}

/* ---------- run ---------- */

static int wait_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

/* Forward every signal a user may send to the runtime to the container's
 * process, until it exits; returns its wait status. */
static int forward_and_wait(pid_t pid, int pty_master)
{
	sigset_t all, old;
	sigfillset(&all);
	sigdelset(&all, SIGCHLD);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGFPE);
	sigprocmask(SIG_BLOCK, &all, &old);
	int sfd = signalfd(-1, &all, SFD_CLOEXEC);
	int pfd = pidfd_open_(pid);
	int status = 0;
	if (pty_master >= 0) {
		struct berth_error e = { 0 };
		if (linux_terminal_proxy(pty_master, pfd, &e) < 0)
			log_warn("%s", e.msg);
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = pfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGWINCH)
				pidfd_signal_(pfd, (int) si.ssi_signo);
		}
		if (p[0].revents)
			break;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	close(sfd);
	close(pfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return status;
}

int rt_run(const struct rt_context *ctx, const struct rt_create_opts *o, int *exit_code,
	   struct berth_error *err)
{
	struct created c = { -1, -1 };
	*exit_code = 0;
	int r = do_create(ctx, o, true, &c, err);
	if (r < 0)
		return r;
	{
		_cleanup_handle_ struct handle h;
		r = handle_open(ctx, o->id, true, &h, err);
		if (r == 0)
			r = start_locked(ctx, &h, err);
		if (r < 0) {
			struct berth_error e2 = { 0 };
			if (h.dirfd >= 0 && h.st.id)
				destroy_locked(&h, &e2);
			if (c.pty_master >= 0)
				close(c.pty_master);
			return r;
		}
	}
	if (o->detach) {
		if (c.pty_master >= 0)
			close(c.pty_master);
		return 0;
	}
	int status = forward_and_wait(c.pid, c.pty_master);
	if (c.pty_master >= 0)
		close(c.pty_master);
	*exit_code = wait_exit_code(status);
	log_debug("run %s: the process exited (%d)", o->id, *exit_code);
	if (o->keep)
		return 0;
	return rt_delete(ctx, o->id, true, err);
}

/* ---------- exec ---------- */

int rt_saved_config(const struct rt_context *ctx, const char *id, json_t **out, struct berth_error *err)
{
	_cleanup_handle_ struct handle h;
	int r = handle_open(ctx, id, false, &h, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	r = berth_read_file_at(h.dirfd, RT_CONFIG_FILE, &text, &len);
	if (r < 0)
		return berth_errno(err, -r, "read saved config of container %s", id);
	json_error_t je;
	*out = json_loadb(text, len, 0, &je);
	if (!*out)
		return berth_err(err, EINVAL, "saved config of container %s: %s", id, je.text);
	return 0;
}

int rt_exec(const struct rt_context *ctx, const struct rt_exec_opts *o, int *exit_code,
	    struct berth_error *err)
{
	_cleanup_config_ struct spec_config *cfg = NULL;
	_cleanup_close_ int console_fd = -1, listener_fd = -1, pidfd = -1, pty_master = -1;
	struct linux_seccomp *seccomp = NULL;
	pid_t stage1 = -1, pid = -1;
	int sv[2] = { -1, -1 };
	int r;
	*exit_code = 0;

	_cleanup_handle_ struct handle h;
	if ((r = handle_open(ctx, o->id, false, &h, err)) < 0)
		return r;
	const char *status = live_status(&h);
	if (strcmp(status, "running") != 0 && strcmp(status, "created") != 0)
		return berth_err(err, EINVAL, "cannot exec in container %s: it is %s", o->id, status);
	if ((r = load_saved_config(h.dirfd, o->id, &cfg, err)) < 0)
		return r;
	bool detached = o->detach;
	if (o->process->terminal && !o->console_socket && detached)
		return berth_err(err, EINVAL, "exec --tty with --detach needs --console-socket");
	if (!o->process->terminal && o->console_socket)
		return berth_err(err, EINVAL, "--console-socket given but the process has no terminal");
	pidfd = pidfd_open_(h.st.pid);
	if (pidfd < 0 || rt_pid_start_time(h.st.pid, NULL) != h.st.pid_start)
		return berth_err(err, ESRCH, "container %s is not running", o->id);

	int join = 0;
	static const int types[] = { CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC,
				     CLONE_NEWUTS, CLONE_NEWCGROUP, 0x80, CLONE_NEWNS };
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (spec_config_namespace(cfg, types[i]))
			join |= types[i];

	if (cfg->linux_->seccomp) {
		_cleanup_close_ int cache = seccomp_cache_dir(ctx);
		if ((r = linux_seccomp_build_cached(cfg->linux_->seccomp, cache, &seccomp, err)) < 0)
			return r;
		if (linux_seccomp_uses_notify(cfg->linux_->seccomp)) {
			const char *lp = linux_seccomp_listener_path(cfg->linux_->seccomp);
			listener_fd = berth_unix_connect(lp, SOCK_STREAM);
			if (listener_fd < 0) {
				r = berth_errno(err, -listener_fd, "linux.seccomp.listenerPath %s", lp);
				goto out;
			}
		}
	}
	if (o->console_socket) {
		console_fd = berth_unix_connect(o->console_socket, SOCK_STREAM);
		if (console_fd < 0) {
			r = berth_errno(err, -console_fd, "--console-socket %s", o->console_socket);
			goto out;
		}
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = berth_errno(err, errno, "socketpair");
		goto out;
	}
	struct rt_launch l = {
		.cfg = cfg,
		.process = o->process,
		.id = o->id,
		.rootfs = h.st.rootfs,
		.sync_fd = sv[1],
		.start_listen_fd = -1,
		.console_fd = console_fd,
		.seccomp_listener_fd = listener_fd,
		.pty_to_parent = o->process->terminal && !o->console_socket,
		.preserve_fds = o->preserve_fds,
		.seccomp = seccomp,
		.seccomp_spec = cfg->linux_->seccomp,
		.is_exec = true,
		.target_pidfd = pidfd,
		.join_ns_flags = join,
	};
	stage1 = fork();
	if (stage1 < 0) {
		r = berth_errno(err, errno, "fork");
		goto out;
	}
	if (stage1 == 0) {
		close(sv[0]);
		_exit(rt_init_stage1(&l));
	}
	close(sv[1]);
	sv[1] = -1;
	sync_send(sv[0], SYNC_GO, 0, NULL);
	struct sync_msg *m = malloc(sizeof(*m));
	if (!m) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		int pfd = -1;
		r = sync_recv(sv[0], m, &pfd);
		if (r < 0) {
			if (pid > 0)
				break; /* exec'd: the socket closed on execve */
			r = berth_err(err, EIO, "exec setup died before it was ready");
			break;
		}
		if (m->type == SYNC_ERROR) {
			r = berth_err(err, m->value ? m->value : EIO, "%s", m->text);
			break;
		}
		if (m->type == SYNC_CHILD_PID) {
			pid = m->value;
			while (waitpid(stage1, NULL, 0) < 0 && errno == EINTR)
				;
			stage1 = -1;
			_cleanup_free_ char *hs = hook_state_json(&h.st, status);
			sync_send(sv[0], SYNC_INIT_PID, pid, hs);
			if (h.cg && (r = cgroup_enter(h.cg, pid, err)) < 0)
				break;
			sync_send(sv[0], SYNC_CGROUP_DONE, 0, NULL);
		} else if (m->type == SYNC_PTY_MASTER) {
			pty_master = pfd;
			pfd = -1;
		}
		if (pfd >= 0)
			close(pfd);
	}
	free(m);
	if (r < 0 && pid > 0 && !berth_error_isset(err))
		r = 0;
	if (r < 0)
		goto out;
	if ((r = write_pid_file(o->pid_file, pid, err)) < 0)
		goto out;
	if (detached) {
		pid = -1;
		r = 0;
		goto out;
	}
	*exit_code = wait_exit_code(forward_and_wait(pid, pty_master));
	pid = -1;
	r = 0;
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	kill_and_reap(stage1);
	if (r < 0)
		kill_and_reap(pid);
	if (seccomp)
		linux_seccomp_free(seccomp);
	return r;
}

/* ---------- pause / ps / update / events ---------- */

int rt_pause(const struct rt_context *ctx, const char *id, bool pause, struct berth_error *err)
{
	_cleanup_handle_ struct handle h;
	int r = handle_open(ctx, id, true, &h, err);
	if (r < 0)
		return r;
	const char *status = live_status(&h);
	if (pause && strcmp(status, "running") != 0)
		return berth_err(err, EINVAL, "cannot pause container %s: it is %s", id, status);
	if (!pause && strcmp(status, "paused") != 0)
		return berth_err(err, EINVAL, "cannot resume container %s: it is %s, not paused", id, status);
	if (!h.cg)
		return berth_err(err, ENOTSUP, "container %s has no cgroup to freeze", id);
	return cgroup_freeze(h.cg, pause, err);
}

int rt_pids(const struct rt_context *ctx, const char *id, pid_t **pids, size_t *n, struct berth_error *err)
{
	_cleanup_handle_ struct handle h;
	int r = handle_open(ctx, id, false, &h, err);
	if (r < 0)
		return r;
	if (!strcmp(live_status(&h), "stopped"))
		return berth_err(err, ESRCH, "container %s is not running", id);
	if (!h.cg) {
		*pids = malloc(sizeof(pid_t));
		(*pids)[0] = h.st.pid;
		*n = 1;
		return 0;
	}
	return cgroup_pids(h.cg, pids, n, err);
}

int rt_update(const struct rt_context *ctx, const char *id, const struct spec_resources *res,
	      struct berth_error *err)
{
	_cleanup_handle_ struct handle h;
	int r = handle_open(ctx, id, true, &h, err);
	if (r < 0)
		return r;
	if (!strcmp(live_status(&h), "stopped"))
		return berth_err(err, ESRCH, "container %s is not running", id);
	if (!h.cg)
		return berth_err(err, ENOTSUP, "container %s has no cgroup to update", id);
	return cgroup_update(h.cg, res, err);
}

int rt_stats(const struct rt_context *ctx, const char *id, json_t **out, struct berth_error *err)
{
	_cleanup_handle_ struct handle h;
	int r = handle_open(ctx, id, false, &h, err);
	if (r < 0)
		return r;
	if (!strcmp(live_status(&h), "stopped"))
		return berth_err(err, ESRCH, "container %s is not running", id);
	if (!h.cg)
		return berth_err(err, ENOTSUP, "container %s has no cgroup", id);
	_cleanup_free_ char *data = NULL;
	if ((r = cgroup_stats_json(h.cg, &data, err)) < 0)
		return r;
	json_error_t je;
	json_t *d = json_loads(data, 0, &je);
	if (!d)
		return berth_err(err, EINVAL, "internal: stats JSON: %s", je.text);
	json_t *o = json_object();
	json_object_set_new(o, "type", json_string("stats"));
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "data", d);
	*out = o;
	return 0;
}

int rt_events(const struct rt_context *ctx, const char *id, int interval_ms, bool stats_once,
	      struct berth_error *err)
{
	json_t *o = NULL;
	int r = rt_stats(ctx, id, &o, err);
	if (r < 0)
		return r;
	if (stats_once) {
		json_dumpf(o, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(o);
		return 0;
	}
	json_decref(o);
	uint64_t ooms = 0;
	{
		_cleanup_handle_ struct handle h;
		if (handle_open(ctx, id, false, &h, err) == 0 && h.cg)
			cgroup_oom_kills(h.cg, &ooms);
	}
	for (;;) {
		_cleanup_handle_ struct handle h;
		if (handle_open(ctx, id, false, &h, err) < 0)
			return 0; /* deleted: the stream ends */
		if (!strcmp(live_status(&h), "stopped"))
			return 0;
		uint64_t now = ooms;
		if (h.cg && cgroup_oom_kills(h.cg, &now) == 0 && now > ooms) {
			printf("{\"type\":\"oom\",\"id\":\"%s\"}\n", id);
			ooms = now;
		}
		json_t *s = NULL;
		struct berth_error e = { 0 };
		if (rt_stats(ctx, id, &s, &e) == 0) {
			json_dumpf(s, stdout, JSON_COMPACT);
			fputc('\n', stdout);
			json_decref(s);
		}
		fflush(stdout);
		struct timespec ts = { interval_ms / 1000, (long) (interval_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
}
