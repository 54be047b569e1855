/* engine.c — containers on top of the image store and an OCI runtime (see engine.h). */
#include "engine/engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/signals.h"
#include "core/sock.h"
#include "engine/attach.h"
#include "engine/container.h"
#include "engine/logfile.h"
#include "engine/netns.h"
#include "engine/overlay.h"
#include "engine/specgen.h"
#include "engine/volumes.h"

#define DEFAULT_STOP_TIMEOUT 10

static char *path_join(const char *a, const char *b)
{
	char *s = NULL;
	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

static char *sibling_binary(const char *self, const char *name)
{
	_cleanup_free_ char *dir = strdup(self);
	if (!dir)
		return NULL;
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	return path_join(dir, name);
}

int engine_open(const char *root, struct engine **out, struct berth_error *err)
{
	_cleanup_free_ struct engine *e = calloc(1, sizeof(*e));
	if (!e)
		return berth_errno(err, ENOMEM, "engine");
	e->attach_fd = -1;
	registry_opts_init(&e->registry);
	int r = image_store_open(root, &e->images, err);
	if (r < 0)
		return r;
	e->root = strdup(e->images->root);
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		r = berth_errno(err, errno, "readlink /proc/self/exe");
		goto fail;
	}
	self[n] = '\0';
	e->berth_path = strdup(self);
	e->default_runtime = sibling_binary(self, "berth-runtime");
	e->monitor_path = sibling_binary(self, "berth-monitor");
	if (!e->root || !e->berth_path || !e->default_runtime || !e->monitor_path) {
		r = berth_errno(err, ENOMEM, "engine");
		goto fail;
	}
	static const char *const dirs[] = { "containers", "runtime", "netns", "l", "volumes" };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		if (mkdirat(e->images->root_fd, dirs[i], 0700) < 0 && errno != EEXIST) {
			r = berth_errno(err, errno, "%s/%s", e->root, dirs[i]);
			goto fail;
		}
	}
	/* The container's own processes must be able to reach their rootfs. */
	(void) fchmodat(e->images->root_fd, "containers", 0711, 0);
	*out = steal_ptr(e);
	return 0;
fail:
	engine_close(steal_ptr(e));
	return r;
}

void engine_close(struct engine *e)
{
	if (!e)
		return;
	if (e->attach_fd >= 0)
		close(e->attach_fd);
	image_store_close(e->images);
	free(e->root);
	free(e->default_runtime);
	free(e->monitor_path);
	free(e->berth_path);
	free(e);
}

int engine_resolve(struct engine *e, const char *name_or_id, char id[CTR_ID_LEN + 1], struct berth_error *err)
{
	return ctr_resolve(e->images->db, name_or_id, id, err);
}

static void bundle_path(struct engine *e, const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/containers/%s", e->root, id);
}

static void netns_path_of(struct engine *e, const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/netns/%s", e->root, id);
}

static void runtime_root(struct engine *e, char *buf, size_t len)
{
	snprintf(buf, len, "%s/runtime", e->root);
}

/* The runtime a record asks for: a path, a name on $PATH ("runc", "crun"), or ours. */
static const char *record_runtime(struct engine *e, const struct ctr_record *r)
{
	return r->runtime && *r->runtime ? r->runtime : e->default_runtime;
}

/* --- running helper programs --------------------------------------------- */

/* One read of fd appended to a growing buffer, kept to at most limit bytes
 * (NULL *buf: dropped).  false at end of file. */
static bool drain_into(int fd, char **buf, size_t *len, size_t *cap, size_t limit)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	if (!buf || !*buf)
		return true;
	size_t take = (size_t) n;
	if (*len + take > limit)
		take = limit - *len;
	if (*len + take + 1 > *cap) {
		size_t nc = *cap * 2 > *len + take + 1 ? *cap * 2 : *len + take + 1;
		char *nb = realloc(*buf, nc);
		if (!nb) {
			free(*buf);
			*buf = NULL;
			return true;
		}
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, tmp, take);
	*len += take;
	return true;
}

int engine_run(char *const argv[], char **out, char *errbuf, size_t errlen)
{
	int po[2] = { -1, -1 }, pe[2];
	if (out && pipe2(po, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		int r = -errno;
		if (out) {
			close(po[0]);
			close(po[1]);
		}
		return r;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		if (out) {
			close(po[0]);
			close(po[1]);
		}
		close(pe[0]);
		close(pe[1]);
		return r;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
		}
		if (out)
			dup2(po[1], STDOUT_FILENO);
		dup2(pe[1], STDERR_FILENO);
		execvp(argv[0], argv);
		dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (out)
		close(po[1]);
	close(pe[1]);
	size_t ocap = 4096, olen = 0, ecap = errlen ? errlen : 1, elen = 0;
	char *obuf = out ? malloc(ocap) : NULL, *ebuf = errbuf && errlen ? malloc(ecap) : NULL;
	/* Both pipes at once: a child that fills one while we wait on the other must not hang. */
	bool o_open = out != NULL, e_open = true;
	while (o_open || e_open) {
		struct pollfd pf[2] = { { .fd = o_open ? po[0] : -1, .events = POLLIN },
					{ .fd = e_open ? pe[0] : -1, .events = POLLIN } };
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].revents)
			o_open = drain_into(po[0], &obuf, &olen, &ocap, SIZE_MAX - 1);
		if (pf[1].revents)
			e_open = drain_into(pe[0], &ebuf, &elen, &ecap, errlen ? errlen - 1 : 0);
	}
	if (out)
		close(po[0]);
	close(pe[0]);
	if (errbuf && errlen) {
		size_t n = ebuf ? elen : 0;
		if (ebuf)
			memcpy(errbuf, ebuf, n);
		errbuf[n] = '\0';
	}
	free(ebuf);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			int r = -errno;
			free(obuf);
			return r;
		}
	if (out) {
		if (!obuf)
			return -ENOMEM;
		obuf[olen] = '\0';
		*out = obuf;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void engine_last_line(char *text)
{
	size_t n = strlen(text);
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = '\0';
	char *nl = strrchr(text, '\n');
	if (nl)
		memmove(text, nl + 1, strlen(nl + 1) + 1);
}

int engine_runtime_run(struct engine *e, const struct ctr_record *rec, const char *const *args, char **out,
		       char *errbuf, size_t errlen)
{
	char rtroot[PATH_MAX];
	runtime_root(e, rtroot, sizeof(rtroot));
	const char *argv[16];
	size_t n = 0;
	argv[n++] = record_runtime(e, rec);
	argv[n++] = "--root";
	argv[n++] = rtroot;
	for (size_t i = 0; args[i] && n < ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return engine_run((char *const *) argv, out, errbuf, errlen);
}

/* --- files of a container ------------------------------------------------ */

static int write_text(const char *dir, const char *name, const char *text, struct berth_error *err)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return berth_errno(err, errno, "%s", dir);
	int r = berth_write_file_replace(dfd, name, text, strlen(text), 0644);
	return r < 0 ? berth_errno(err, r, "%s/%s", dir, name) : 0;
}

static int write_etc_files(const char *bundle, const char *hostname, bool host_network, struct berth_error *err)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s\n", hostname);
	int r = write_text(bundle, "hostname", buf, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *hosts = NULL;
	size_t len = 0;
	if (host_network && berth_read_file("/etc/hosts", &hosts, &len) == 0) {
		r = write_text(bundle, "hosts", hosts, err);
	} else {
		char h[1024];
		snprintf(h, sizeof(h),
			 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
			 "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
			 "ff02::2\tip6-allrouters\n%s%s\n",
			 host_network ? "" : "127.0.1.1\t", host_network ? "" : hostname);
		r = write_text(bundle, "hosts", h, err);
	}
	if (r < 0)
		return r;
	_cleanup_free_ char *resolv = NULL;
	if (berth_read_file("/etc/resolv.conf", &resolv, &len) < 0) {
		free(resolv);
		resolv = strdup("");
	}
	return write_text(bundle, "resolv.conf", resolv ? resolv : "", err);
}

/* --- create -------------------------------------------------------------- */

static int ensure_image(struct engine *e, struct ctr_opts *o, const struct pull_progress *progress,
			char id[BERTH_DIGEST_MAX], struct berth_error *err)
{
	const char *policy = o->pull ? o->pull : "missing";
	if (strcmp(policy, "missing") && strcmp(policy, "always") && strcmp(policy, "never"))
		return berth_err(err, EINVAL, "--pull %s: must be missing, always or never", policy);
	if (strcmp(policy, "always") != 0) {
		struct berth_error rerr = { 0 };
		int r = image_store_resolve(e->images, o->image, id, NULL, &rerr);
		if (r == 0)
			return 0;
		if (r != -ENOENT || !strcmp(policy, "never")) {
			if (err && !berth_error_isset(err))
				*err = rerr;
			return r;
		}
	}
	struct pull_opts po = { .platform = o->platform, .progress = progress, .registry = e->registry };
	return image_pull(e->images, o->image, &po, id, err);
}

static bool has_mount_at(const struct ctr_opts *o, const char *dst)
{
	for (size_t i = 0; i < o->n_mounts; i++)
		if (o->mounts[i].destination && !strcmp(o->mounts[i].destination, dst))
			return true;
	return false;
}

/* Image VOLUMEs become anonymous volumes unless the user mounted something there. */
static int add_image_volumes(struct ctr_opts *o, const struct image_config *cfg, struct berth_error *err)
{
	json_t *vols = cfg && cfg->json ? json_object_get(json_object_get(cfg->json, "config"), "Volumes") : NULL;
	if (!json_is_object(vols))
		return 0;
	const char *dst;
	json_t *v;
	json_object_foreach(vols, dst, v) {
		if (dst[0] != '/' || has_mount_at(o, dst))
			continue;
		struct ctr_mount *m = realloc(o->mounts, (o->n_mounts + 1) * sizeof(*m));
		if (!m)
			return berth_errno(err, ENOMEM, "volumes");
		o->mounts = m;
		memset(&m[o->n_mounts], 0, sizeof(*m));
		m[o->n_mounts].type = CTR_MOUNT_VOLUME;
		m[o->n_mounts].destination = strdup(dst);
		if (!m[o->n_mounts].destination)
			return berth_errno(err, ENOMEM, "volumes");
		o->n_mounts++;
	}
	return 0;
}

/* Everything a create made, so a failure can take it all back. */
struct undo {
	bool record, mounted, made_netns, dir;
	char id[CTR_ID_LEN + 1];
	char bundle[PATH_MAX];
	char netns[PATH_MAX];
	char rootfs[PATH_MAX];
};

static void undo_create(struct engine *e, struct undo *u, struct volume_store *vs, json_t *anon_volumes)
{
	if (u->mounted)
		(void) overlay_unmount(u->rootfs, NULL);
	if (u->made_netns)
		(void) netns_remove(u->netns, NULL);
	if (vs && u->record) {
		(void) volume_unref(vs, u->id, NULL);
		/* The anonymous volumes this create made belong to nobody else. */
		size_t i;
		json_t *v;
		json_array_foreach(anon_volumes, i, v)
			if (json_is_string(v))
				(void) volume_remove(vs, json_string_value(v), false, NULL);
	}
	if (u->dir)
		(void) berth_rm_rf(u->bundle);
	if (u->record) {
		struct berth_error ignore = { 0 };
		(void) ctr_record_delete(e->images->db, u->id, &ignore);
	}
}

/* The rootfs: the image's shared layers (chain ids, bottom first) under the
 * bundle's private upper dir, mounted at <bundle>/rootfs. */
static int mount_rootfs(struct engine *e, const char *bundle, char *const *chain_ids, size_t n,
			struct berth_error *err)
{
	_cleanup_free_ char **lowers = calloc(n + 1, sizeof(char *));
	_cleanup_free_ char *paths = calloc(n + 1, PATH_MAX);
	_cleanup_free_ char *upper = path_join(bundle, "upper"), *work = path_join(bundle, "work"),
			    *target = path_join(bundle, "rootfs"), *links = path_join(e->root, "l");
	if (!lowers || !paths || !upper || !work || !target || !links)
		return berth_errno(err, ENOMEM, "mounting the rootfs of %s", bundle);
	for (size_t i = 0; i < n; i++) {
		lowers[i] = paths + i * PATH_MAX;
		int r = image_store_layer_path(e->images, chain_ids[i], lowers[i], PATH_MAX);
		if (r < 0)
			return berth_errno(err, r, "layer %s", chain_ids[i]);
	}
	return overlay_mount((const char *const *) lowers, n, upper, work, target, links, err);
}

static json_t *record_json(const struct ctr_opts *o, const char *netns)
{
	json_t *j = ctr_opts_to_json(o);
	if (!j)
		return NULL;
	json_t *anon = json_array(), *mounts = json_array();
	for (size_t i = 0; i < o->n_mounts; i++) {
		const struct ctr_mount *m = &o->mounts[i];
		json_t *mj = json_object();
		const char *type = m->type == CTR_MOUNT_BIND ? "bind" : m->type == CTR_MOUNT_VOLUME ? "volume" : "tmpfs";
		json_object_set_new(mj, "Type", json_string(type));
		if (m->type == CTR_MOUNT_VOLUME && m->source)
			json_object_set_new(mj, "Name", json_string(m->source));
		json_object_set_new(mj, "Source", json_string(m->host_path ? m->host_path : (m->source ? m->source : "")));
		json_object_set_new(mj, "Destination", json_string(m->destination));
		json_object_set_new(mj, "Mode", json_string(""));
		json_object_set_new(mj, "RW", json_boolean(!m->readonly));
		json_object_set_new(mj, "Propagation", json_string(m->propagation ? m->propagation : "rprivate"));
		json_array_append_new(mounts, mj);
	}
	json_object_set_new(j, "Mounts", mounts);
	json_object_set_new(j, "AnonymousVolumes", anon);
	if (netns)
		json_object_set_new(j, "NetNS", json_string(netns));
	return j;
}

int engine_create(struct engine *e, struct ctr_opts *o, const struct pull_progress *progress,
		  char id_out[CTR_ID_LEN + 1], struct berth_error *err)
{
	char image_id[BERTH_DIGEST_MAX];
	struct image_info info = { 0 };
	struct undo u = { 0 };
	struct volume_store *vs = NULL;
	struct ctr_record rec = { 0 };
	json_t *spec = NULL;
	_cleanup_close_ int rootfd = -1;
	int r;

	if (!o->image)
		return berth_err(err, EINVAL, "no image given");
	const char *net = o->network ? o->network : "none";
	if (strcmp(net, "none") && strcmp(net, "host") && strncmp(net, "container:", 10) &&
	    strcmp(net, "default") && strcmp(net, "bridge"))
		return berth_err(err, ENOTSUP,
				 "--network %s: only none, host and container:<name|id> exist until CNI networks land", net);
	if (!strcmp(net, "bridge") || !strcmp(net, "default"))
		return berth_err(err, ENOTSUP, "--network %s: bridge networks need CNI support, which berth does not have yet; "
				 "use --network none or host", net);
	char other_netns[PATH_MAX] = "";
	if (!strncmp(net, "container:", 10)) {
		char other[CTR_ID_LEN + 1];
		r = engine_resolve(e, net + 10, other, err);
		if (r < 0)
			return r;
		netns_path_of(e, other, other_netns, sizeof(other_netns));
		if (access(other_netns, F_OK) < 0)
			return berth_err(err, EINVAL, "--network %s: that container has no network namespace of its own", net);
	}

	r = ensure_image(e, o, progress, image_id, err);
	if (r < 0)
		return r;
	r = image_store_get(e->images, image_id, &info, err);
	if (r < 0)
		return r;

	rec.image_ref = strdup(o->image);
	memcpy(rec.image_id, image_id, sizeof(image_id));
	rec.created = 0;   /* the record layer stamps it (unix ns) */
	rec.runtime = o->runtime ? strdup(o->runtime) : NULL;
	rec.name = o->name ? strdup(o->name) : NULL;
	/* The image's STOPSIGNAL is the default a --stop-signal overrides. */
	if (!o->stop_signal && info.config && info.config->stop_signal && *info.config->stop_signal)
		o->stop_signal = strdup(info.config->stop_signal);
	r = add_image_volumes(o, info.config, err);
	if (r < 0)
		goto out;
	rec.record = record_json(o, NULL);
	if (!rec.record || !rec.image_ref) {
		r = berth_errno(err, ENOMEM, "create");
		goto out;
	}
	r = ctr_record_insert(e->images->db, &rec, info.db.chain_ids, info.db.n_layers, err);
	if (r < 0)
		goto out;
	u.record = true;
	memcpy(u.id, rec.id, sizeof(u.id));
	bundle_path(e, rec.id, u.bundle, sizeof(u.bundle));
	snprintf(u.rootfs, sizeof(u.rootfs), "%s/rootfs", u.bundle);

	if (mkdir(u.bundle, 0711) < 0) {
		r = berth_errno(err, errno, "%s", u.bundle);
		goto out;
	}
	u.dir = true;
	static const char *const sub[] = { "rootfs", "upper", "work" };
	for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
		_cleanup_free_ char *p = path_join(u.bundle, sub[i]);
		if (!p || mkdir(p, 0755) < 0) {
			r = berth_errno(err, p ? errno : ENOMEM, "%s/%s", u.bundle, sub[i]);
			goto out;
		}
	}

	r = mount_rootfs(e, u.bundle, info.db.chain_ids, info.db.n_layers, err);
	if (r < 0)
		goto out;
	u.mounted = true;
	rootfd = open(u.rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		r = berth_errno(err, errno, "%s", u.rootfs);
		goto out;
	}

	/* Volumes: named ones created on first use, anonymous ones made now; both copied up. */
	r = volume_store_open(e->root, e->images->db, &vs, err);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < o->n_mounts; i++) {
		struct ctr_mount *m = &o->mounts[i];
		if (m->type != CTR_MOUNT_VOLUME)
			continue;
		_cleanup_free_ char *name = NULL;
		char vpath[PATH_MAX];
		if (!m->source || volume_path(vs, m->source, vpath, sizeof(vpath)) < 0 || access(vpath, F_OK) < 0) {
			r = volume_create(vs, m->source, NULL, &name, err);
			if (r < 0)
				goto out;
			if (!m->source) {
				json_array_append_new(json_object_get(rec.record, "AnonymousVolumes"), json_string(name));
				m->source = strdup(name);
				if (!m->source) {
					r = berth_errno(err, ENOMEM, "volume %s", name);
					goto out;
				}
			}
		}
		r = volume_path(vs, m->source, vpath, sizeof(vpath));
		if (r < 0) {
			berth_errno(err, r, "volume %s", m->source);
			goto out;
		}
		free(m->host_path);
		m->host_path = strdup(vpath);
		r = volume_ref(vs, m->source, rec.id, err);
		if (r < 0)
			goto out;
		if (!m->no_copy) {
			r = volume_copy_up(vs, m->source, rootfd, m->destination, err);
			if (r < 0)
				goto out;
		}
	}

	/* Network: a private namespace with only lo (none), the host's, or another container's. */
	const char *netns = NULL;
	if (!strcmp(net, "none")) {
		netns_path_of(e, rec.id, u.netns, sizeof(u.netns));
		r = netns_create(u.netns, err);
		if (r < 0)
			goto out;
		u.made_netns = true;
		netns = u.netns;
	} else if (other_netns[0]) {
		netns = other_netns;
	}

	char hostname[CTR_ID_LEN + 1];
	snprintf(hostname, sizeof(hostname), "%.12s", rec.id);
	r = write_etc_files(u.bundle, o->hostname ? o->hostname : hostname, !strcmp(net, "host"), err);
	if (r < 0)
		goto out;

	struct rlimit nofile;
	getrlimit(RLIMIT_NOFILE, &nofile);
	/* --init: berth-init lives next to the berth binary */
	char init_path[PATH_MAX];
	const char *bslash = strrchr(e->berth_path, '/');
	snprintf(init_path, sizeof(init_path), "%.*s/berth-init", bslash ? (int) (bslash - e->berth_path) : 1,
		 bslash ? e->berth_path : ".");
	struct specgen_env env = {
		.id = rec.id,
		.bundle = u.bundle,
		.netns_path = netns,
		.cgroup_parent = "/" CTR_CGROUP_PARENT,
		.nofile_hard = nofile.rlim_max,
		.mounts = o->mounts,
		.n_mounts = o->n_mounts,
		.init_path = o->init ? init_path : NULL,
	};
	spec = specgen_build(o, info.config, rootfd, &env, err);
	if (!spec) {
		r = err && err->code ? -err->code : -EINVAL;
		goto out;
	}
	{
		_cleanup_free_ char *text = json_dumps(spec, JSON_INDENT(2));
		_cleanup_close_ int bfd = open(u.bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (!text || bfd < 0) {
			r = berth_errno(err, text ? errno : ENOMEM, "%s/config.json", u.bundle);
			goto out;
		}
		r = berth_write_file_replace(bfd, "config.json", text, strlen(text), 0600);
		if (r < 0) {
			berth_errno(err, r, "%s/config.json", u.bundle);
			goto out;
		}
	}
	/* The record now knows where its volumes and network namespace are. */
	json_t *full = record_json(o, netns);
	if (full) {
		json_object_set(full, "AnonymousVolumes", json_object_get(rec.record, "AnonymousVolumes"));
		r = ctr_record_update(e->images->db, rec.id, full, err);
		json_decref(full);
		if (r < 0)
			goto out;
	}
	memcpy(id_out, rec.id, CTR_ID_LEN + 1);
	r = 0;
out:
	if (r < 0)
		undo_create(e, &u, vs, json_object_get(rec.record, "AnonymousVolumes"));
	if (vs)
		volume_store_close(vs);
	json_decref(spec);
	ctr_record_clear(&rec);
	image_info_clear(&info);
	return r;
}

/* --- state --------------------------------------------------------------- */

/* The monitor knows running/exited; pause is the engine's own doing, recorded
 * as a marker file next to status.json (the runtime froze the cgroup). */
#define PAUSED_MARKER "paused"

static int read_state(struct engine *e, const char *id, struct ctr_state *st)
{
	char bundle[PATH_MAX];
	bundle_path(e, id, bundle, sizeof(bundle));
	int r = ctr_state_read(bundle, st);
	if (r == 0 && !strcmp(st->state, "running")) {
		char marker[PATH_MAX + 16];
		snprintf(marker, sizeof(marker), "%s/" PAUSED_MARKER, bundle);
		if (access(marker, F_OK) == 0)
			snprintf(st->state, sizeof(st->state), "paused");
	}
	return r;
}

static bool is_mountpoint(const char *path)
{
	struct stat a, b;
	_cleanup_free_ char *parent = path_join(path, "..");
	if (!parent || stat(path, &a) < 0 || stat(parent, &b) < 0)
		return false;
	return a.st_dev != b.st_dev;
}

/* After a reboot the overlay and the netns are gone; bring them back before a start. */
static int ensure_mounted(struct engine *e, const struct ctr_record *rec, struct berth_error *err)
{
	char bundle[PATH_MAX], rootfs[PATH_MAX];
	bundle_path(e, rec->id, bundle, sizeof(bundle));
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", bundle);
	if (!is_mountpoint(rootfs)) {
		struct db_image im = { 0 };
		int r = db_image_get(e->images->db, rec->image_id, &im, err);
		if (r < 0)
			return r;
		r = mount_rootfs(e, bundle, im.chain_ids, im.n_layers, err);
		db_image_clear(&im);
		if (r < 0)
			return r;
	}
	json_t *ns = json_object_get(rec->record, "NetNS");
	if (json_is_string(ns) && access(json_string_value(ns), F_OK) < 0) {
		char own[PATH_MAX];
		netns_path_of(e, rec->id, own, sizeof(own));
		if (!strcmp(own, json_string_value(ns)))
			return netns_create(own, err);
		return berth_err(err, ENOENT, "network namespace %s is gone (its container was removed)",
				 json_string_value(ns));
	}
	return 0;
}

/* Wait (bounded by timeout_ms, -1 = forever) until status.json says exited. */
static int wait_exited(struct engine *e, const char *id, int timeout_ms, struct ctr_state *out)
{
	char bundle[PATH_MAX];
	bundle_path(e, id, bundle, sizeof(bundle));
	_cleanup_close_ int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (in >= 0)
		(void) inotify_add_watch(in, bundle, IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct ctr_state st = { 0 };
		ctr_state_read(bundle, &st);
		if (strcmp(st.state, "running") && strcmp(st.state, "paused")) {
			if (out)
				*out = st;
			else
				ctr_state_clear(&st);
			return 0;
		}
		/* The monitor also watches the pid; a pidfd tells us when it is gone. */
		int pidfd = st.pid > 0 ? (int) syscall(SYS_pidfd_open, st.pid, 0) : -1;
		ctr_state_clear(&st);
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (timeout_ms >= 0 && elapsed >= timeout_ms) {
			if (pidfd >= 0)
				close(pidfd);
			return -ETIMEDOUT;
		}
		struct pollfd pf[2] = { { .fd = in, .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };
		/* Wake at least every 250 ms: a monitor killed with -9 writes no event. */
		long left = timeout_ms < 0 ? 250 : timeout_ms - elapsed;
		(void) poll(pf, 2, (int) (left < 250 ? left : 250));
		if (pidfd >= 0)
			close(pidfd);
		char drain[4096];
		while (in >= 0 && read(in, drain, sizeof(drain)) > 0)
			;
	}
}

static void remove_leftover_cgroups(const char *id);

/* --- start ---------------------------------------------------------------- */

int engine_start(struct engine *e, const char *id, struct berth_error *err)
{
	struct ctr_record rec = { 0 };
	int r = ctr_record_get(e->images->db, id, &rec, err);
	if (r < 0)
		return r;
	struct ctr_state st = { 0 };
	read_state(e, id, &st);
	if (!strcmp(st.state, "running") || !strcmp(st.state, "paused")) {
		ctr_state_clear(&st);
		ctr_record_clear(&rec);
		return 0;   /* docker: starting a running container is a no-op */
	}
	ctr_state_clear(&st);
	char bundle[PATH_MAX], rtroot[PATH_MAX], logpath[PATH_MAX];
	bundle_path(e, id, bundle, sizeof(bundle));
	runtime_root(e, rtroot, sizeof(rtroot));
	snprintf(logpath, sizeof(logpath), "%s/ctr.log", bundle);
	r = ensure_mounted(e, &rec, err);
	if (r < 0)
		goto out;
	/* A restart begins with a fresh status. */
	{
		_cleanup_close_ int bfd = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (bfd >= 0) {
			(void) unlinkat(bfd, "status.json", 0);
			(void) unlinkat(bfd, PAUSED_MARKER, 0);
			(void) unlinkat(bfd, "stopping", 0);
		}
	}

	json_t *cfg = json_object_get(rec.record, "Config");
	json_t *hc = json_object_get(rec.record, "HostConfig");
	bool tty = json_is_true(json_object_get(cfg, "Tty"));
	bool stdin_open = json_is_true(json_object_get(cfg, "OpenStdin"));
	bool autorm = json_is_true(json_object_get(hc, "AutoRemove"));
	json_t *lc = json_object_get(json_object_get(hc, "LogConfig"), "Config");
	const char *max_size = json_string_value(json_object_get(lc, "max-size"));
	const char *max_file = json_string_value(json_object_get(lc, "max-file"));
	char size_buf[32] = "", file_buf[16] = "";
	if (max_size) {
		char *end;
		double v = strtod(max_size, &end);
		double mul = 1;
		if (*end == 'k' || *end == 'K')
			mul = 1024;
		else if (*end == 'm' || *end == 'M')
			mul = 1024 * 1024;
		else if (*end == 'g' || *end == 'G')
			mul = 1024.0 * 1024 * 1024;
		snprintf(size_buf, sizeof(size_buf), "%lld", (long long) (v * mul));
	}
	if (max_file)
		snprintf(file_buf, sizeof(file_buf), "%s", max_file);

	int sync[2];
	if (pipe2(sync, O_CLOEXEC) < 0) {
		r = berth_errno(err, errno, "start %.12s: the monitor's sync pipe", id);
		goto out;
	}
	char syncfd[16];
	snprintf(syncfd, sizeof(syncfd), "%d", sync[1]);
	const char *argv[40];
	size_t n = 0;
	argv[n++] = e->monitor_path;
	argv[n++] = "--id"; argv[n++] = id;
	argv[n++] = "--bundle"; argv[n++] = bundle;
	argv[n++] = "--runtime"; argv[n++] = record_runtime(e, &rec);
	argv[n++] = "--runtime-root"; argv[n++] = rtroot;
	argv[n++] = "--log-path"; argv[n++] = logpath;
	if (size_buf[0]) { argv[n++] = "--log-max-size"; argv[n++] = size_buf; }
	if (file_buf[0]) { argv[n++] = "--log-max-file"; argv[n++] = file_buf; }
	if (tty) argv[n++] = "--tty";
	if (stdin_open) argv[n++] = "--stdin";
	if (e->attach_on_start) argv[n++] = "--attach-wait";
	json_t *rp = json_object_get(hc, "RestartPolicy");
	const char *rname = json_string_value(json_object_get(rp, "Name"));
	json_int_t rmax = json_integer_value(json_object_get(rp, "MaximumRetryCount"));
	char restart_buf[48];
	if (rname && *rname && strcmp(rname, "no")) {
		if (!strcmp(rname, "on-failure") && rmax > 0)
			snprintf(restart_buf, sizeof(restart_buf), "on-failure:%lld", (long long) rmax);
		else
			snprintf(restart_buf, sizeof(restart_buf), "%s", rname);
		argv[n++] = "--restart"; argv[n++] = restart_buf;
	}
	argv[n++] = "--sync-fd"; argv[n++] = syncfd;
	if (autorm) {
		argv[n++] = "--cleanup-arg"; argv[n++] = e->berth_path;
		argv[n++] = "--cleanup-arg"; argv[n++] = "--root";
		argv[n++] = "--cleanup-arg"; argv[n++] = e->root;
		argv[n++] = "--cleanup-arg"; argv[n++] = "container";
		argv[n++] = "--cleanup-arg"; argv[n++] = "cleanup";
		argv[n++] = "--cleanup-arg"; argv[n++] = id;
	}
	argv[n] = NULL;

	pid_t pid = fork();
	if (pid < 0) {
		r = berth_errno(err, errno, "start %.12s: fork for %s", id, e->monitor_path);
		close(sync[0]);
		close(sync[1]);
		goto out;
	}
	if (pid == 0) {
		/* Only the sync fd crosses into the monitor. */
		int fd = fcntl(sync[1], F_DUPFD, 3);
		if (fd < 0)
			_exit(125);
		snprintf(syncfd, sizeof(syncfd), "%d", fd);
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
		}
		execv(argv[0], (char *const *) argv);
		dprintf(2, "berth: exec %s: %s\n", argv[0], strerror(errno));
		_exit(125);
	}
	close(sync[1]);
	int wst;
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	/* The monitor listens once its first process has exited: connect now; with
	 * --attach-wait it starts the container only after this connection. */
	if (e->attach_fd >= 0)
		close(e->attach_fd);
	e->attach_fd = -1;
	if (e->attach_on_start) {
		struct berth_error aerr = { 0 };
		e->attach_fd = attach_connect(bundle, &aerr);
		if (e->attach_fd < 0)
			log_debug("attach before start failed: %s", aerr.msg);
		memcpy(e->attach_id, id, CTR_ID_LEN + 1);
	}
	char msg[4096];
	size_t got = 0;
	for (;;) {
		ssize_t k = read(sync[0], msg + got, sizeof(msg) - 1 - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t) k;
		if (got >= sizeof(msg) - 1 || memchr(msg, '\n', got))
			break;
	}
	msg[got] = '\0';
	close(sync[0]);
	if (!strncmp(msg, "ok", 2)) {
		r = 0;
	} else {
		char *text = msg;
		if (!strncmp(text, "error: ", 7))
			text += 7;
		engine_last_line(text);
		if (!*text)
			text = (char *) "the monitor exited without starting the container";
		/* docker's mapping: cannot find it → 127, found but cannot run it → 126 */
		int code = strstr(text, "not found") || strstr(text, "no such file") ? ENOENT
			 : strstr(text, "permission denied") || strstr(text, "is a directory") ||
			   strstr(text, "exec format error") ? EACCES : EIO;
		r = berth_err(err, code, "%s", text);
		/* The monitor deletes what `runtime create` made (state, cgroup
		 * /berth/<id>) after it reported, or not at all when it died:
		 * make sure none of it outlives this failed start. */
		const char *args[] = { "delete", "--force", id, NULL };
		(void) engine_runtime_run(e, &rec, args, NULL, NULL, 0);
		remove_leftover_cgroups(id);
	}
out:
	ctr_record_clear(&rec);
	return r;
}

/* --- attach ----------------------------------------------------------------- */

static int print_logs_and_status(struct engine *e, const char *id, const struct attach_opts *ao, int *exit_code,
				 struct berth_error *err)
{
	struct logs_opts lo = { .tail = -1, .out_fd = ao->out_fd, .err_fd = ao->err_fd };
	if (ao->logs) {
		int r = engine_logs(e, id, &lo, err);
		if (r < 0)
			return r;
	}
	struct ctr_state st = { 0 };
	int r = wait_exited(e, id, -1, &st);
	if (r == 0 && exit_code)
		*exit_code = st.exit_code;
	ctr_state_clear(&st);
	return r;
}

int engine_attach(struct engine *e, const char *id, const struct attach_opts *ao, int *exit_code,
		  struct berth_error *err)
{
	char bundle[PATH_MAX];
	bundle_path(e, id, bundle, sizeof(bundle));
	struct berth_error cerr = { 0 };
	_cleanup_close_ int fd = -1;
	bool from_start = false;
	if (e->attach_fd >= 0 && !strcmp(e->attach_id, id)) {
		/* Connected before the container ran: every byte comes through it. */
		fd = steal_fd(e->attach_fd);
		from_start = true;
	} else {
		fd = attach_connect(bundle, &cerr);
	}
	if (fd < 0)
		/* The monitor is gone: the container already ran; what it said is in the log. */
		return print_logs_and_status(e, id, ao, exit_code, err);
	if (ao->logs && !from_start) {
		struct logs_opts lo = { .tail = -1, .out_fd = ao->out_fd, .err_fd = ao->err_fd };
		(void) engine_logs(e, id, &lo, NULL);
	}

	sigset_t mask, old;
	sigemptyset(&mask);
	sigaddset(&mask, SIGWINCH);
	if (ao->forward_signals) {
		static const int fwd[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
		for (size_t i = 0; i < ARRAY_SIZE(fwd); i++)
			sigaddset(&mask, fwd[i]);
	}
	sigprocmask(SIG_BLOCK, &mask, &old);
	_cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	if (ao->tty && ao->stdin_fd >= 0) {
		struct winsize ws;
		if (ioctl(ao->stdin_fd, TIOCGWINSZ, &ws) == 0)
			attach_send_resize(fd, ws.ws_row, ws.ws_col);
	}
	int r = 0;
	bool stdin_open = ao->stdin_fd >= 0;
	bool saw_ctrl_p = false;
	for (;;) {
		struct pollfd pf[3] = {
			{ .fd = fd, .events = POLLIN },
			{ .fd = stdin_open ? ao->stdin_fd : -1, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		if (poll(pf, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = berth_errno(err, errno, "attach %.12s: poll", id);
			break;
		}
		if (pf[2].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH) {
					struct winsize ws;
					if (ao->tty && ao->stdin_fd >= 0 && ioctl(ao->stdin_fd, TIOCGWINSZ, &ws) == 0)
						attach_send_resize(fd, ws.ws_row, ws.ws_col);
				} else {
					char sig[16];
					snprintf(sig, sizeof(sig), "%u", si.ssi_signo);
					(void) engine_kill(e, id, sig, NULL);
				}
			}
		}
		if (pf[1].revents & (POLLIN | POLLHUP)) {
			char buf[8192];
			ssize_t k = read(ao->stdin_fd, buf, sizeof(buf));
			if (k <= 0) {
				attach_send_close_stdin(fd);
				stdin_open = false;
			} else {
				/* Detach keys ctrl-p ctrl-q (on a terminal, as docker). */
				if (ao->tty) {
					for (ssize_t i = 0; i < k; i++) {
						if (saw_ctrl_p && buf[i] == 0x11) {
							r = 1;
							goto done;
						}
						saw_ctrl_p = buf[i] == 0x10;
					}
				}
				attach_send_stdin(fd, buf, (size_t) k);
			}
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char buf[65536];
			int type = 0;
			size_t len = 0;
			int k = attach_recv(fd, &type, buf, sizeof(buf), &len);
			if (k == -EAGAIN || k == -EINTR)
				continue;
			if (k < 0) {
				log_debug("attach: %s", strerror(-k));
				/* Monitor went away without an exit frame: read the status it left. */
				struct ctr_state st = { 0 };
				if (wait_exited(e, id, 5000, &st) == 0 && exit_code)
					*exit_code = st.exit_code;
				ctr_state_clear(&st);
				break;
			}
			if (type == ATTACH_STDOUT)
				(void) berth_write_all(ao->out_fd, buf, len);
			else if (type == ATTACH_STDERR)
				(void) berth_write_all(ao->err_fd, buf, len);
			else if (type == ATTACH_EXIT) {
				if (exit_code)
					*exit_code = attach_exit_code(buf, len);
				break;
			}
		}
	}
done:
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}

/* --- stop / kill / remove -------------------------------------------------- */

int engine_kill(struct engine *e, const char *id, const char *signal, struct berth_error *err)
{
	struct ctr_record rec = { 0 };
	int r = ctr_record_get(e->images->db, id, &rec, err);
	if (r < 0)
		return r;
	struct ctr_state st = { 0 };
	read_state(e, id, &st);
	if (strcmp(st.state, "running") && strcmp(st.state, "paused")) {
		r = berth_err(err, EINVAL, "container %.12s is not running", id);
		goto out;
	}
	{
		/* The monitor's restart policy must not bring it back (docker: manually stopped). */
		char bundle[PATH_MAX];
		bundle_path(e, id, bundle, sizeof(bundle));
		(void) write_text(bundle, "stopping", "", NULL);
	}
	char errbuf[2048];
	const char *args[] = { "kill", id, signal ? signal : "KILL", NULL };
	r = engine_runtime_run(e, &rec, args, NULL, errbuf, sizeof(errbuf));
	if (r != 0) {
		engine_last_line(errbuf);
		r = berth_err(err, EIO, "kill %.12s: %s", id, errbuf);
	}
out:
	ctr_state_clear(&st);
	ctr_record_clear(&rec);
	return r;
}

static const char *stop_signal_of(const struct ctr_record *rec)
{
	json_t *cfg = json_object_get(rec->record, "Config");
	const char *s = json_string_value(json_object_get(cfg, "StopSignal"));
	return s && *s ? s : "TERM";
}

int engine_stop(struct engine *e, const char *id, int timeout, struct berth_error *err)
{
	struct ctr_record rec = { 0 };
	int r = ctr_record_get(e->images->db, id, &rec, err);
	if (r < 0)
		return r;
	if (timeout < 0) {
		json_t *t = json_object_get(json_object_get(rec.record, "Config"), "StopTimeout");
		timeout = json_is_integer(t) && json_integer_value(t) >= 0 ? (int) json_integer_value(t)
									    : DEFAULT_STOP_TIMEOUT;
	}
	struct ctr_state st = { 0 };
	read_state(e, id, &st);
	bool running = !strcmp(st.state, "running") || !strcmp(st.state, "paused");
	bool paused = !strcmp(st.state, "paused");
	ctr_state_clear(&st);
	if (!running)
		goto out;
	if (paused)
		(void) engine_pause(e, id, false, NULL);
	(void) engine_kill(e, id, stop_signal_of(&rec), NULL);
	if (wait_exited(e, id, timeout * 1000, NULL) == 0)
		goto out;
	(void) engine_kill(e, id, "KILL", NULL);
	if (wait_exited(e, id, 10000, NULL) < 0)
		r = berth_err(err, ETIMEDOUT, "container %.12s did not exit after SIGKILL", id);
out:
	ctr_record_clear(&rec);
	return r;
}

int engine_wait(struct engine *e, const char *id, int *exit_code, struct berth_error *err)
{
	struct ctr_state st = { 0 };
	int r = wait_exited(e, id, -1, &st);
	if (r < 0)
		return berth_errno(err, r, "wait %.12s", id);
	if (exit_code)
		*exit_code = st.exit_code;
	ctr_state_clear(&st);
	return 0;
}

int engine_pause(struct engine *e, const char *id, bool pause, struct berth_error *err)
{
	struct ctr_record rec = { 0 };
	int r = ctr_record_get(e->images->db, id, &rec, err);
	if (r < 0)
		return r;
	struct ctr_state st = { 0 };
	read_state(e, id, &st);
	bool running = !strcmp(st.state, "running"), paused = !strcmp(st.state, "paused");
	ctr_state_clear(&st);
	if (pause && !running) {
		ctr_record_clear(&rec);
		return berth_err(err, EINVAL, "container %.12s is %s", id, paused ? "already paused" : "not running");
	}
	if (!pause && !paused) {
		ctr_record_clear(&rec);
		return berth_err(err, EINVAL, "container %.12s is not paused", id);
	}
	char errbuf[2048];
	const char *args[] = { pause ? "pause" : "resume", id, NULL };
	r = engine_runtime_run(e, &rec, args, NULL, errbuf, sizeof(errbuf));
	if (r != 0) {
		engine_last_line(errbuf);
		r = berth_err(err, EIO, "%s %.12s: %s", pause ? "pause" : "unpause", id, errbuf);
	} else {
		char bundle[PATH_MAX];
		bundle_path(e, id, bundle, sizeof(bundle));
		r = pause ? write_text(bundle, PAUSED_MARKER, "", err) : 0;
		if (!pause) {
			char marker[PATH_MAX + 16];
			snprintf(marker, sizeof(marker), "%s/" PAUSED_MARKER, bundle);
			(void) unlink(marker);
		}
	}
	ctr_record_clear(&rec);
	return r;
}

/* A runtime killed in the middle of `create` (or a runtime that forgets)
 * leaves /berth/<id> behind, and `delete --force` cannot find what it never
 * recorded.  The engine chose that cgroup path, so it removes what is left
 * of it: empty directories only (rmdir fails on a cgroup with processes). */
static void remove_leftover_cgroups(const char *id)
{
	_cleanup_closedir_ DIR *d = opendir("/sys/fs/cgroup");
	if (!d)
		return;
	char rel[CTR_ID_LEN + sizeof(CTR_CGROUP_PARENT) + 2];
	snprintf(rel, sizeof(rel), CTR_CGROUP_PARENT "/%s", id);
	/* cgroup v2 mounted at /sys/fs/cgroup itself */
	(void) unlinkat(dirfd(d), rel, AT_REMOVEDIR);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || de->d_type != DT_DIR)
			continue;
		_cleanup_close_ int h = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (h >= 0)
			(void) unlinkat(h, rel, AT_REMOVEDIR);
	}
}

static int remove_everything(struct engine *e, struct ctr_record *rec, bool volumes, struct berth_error *err)
{
	char bundle[PATH_MAX], rootfs[PATH_MAX], ns[PATH_MAX];
	bundle_path(e, rec->id, bundle, sizeof(bundle));
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", bundle);
	netns_path_of(e, rec->id, ns, sizeof(ns));
	const char *args[] = { "delete", "--force", rec->id, NULL };
	(void) engine_runtime_run(e, rec, args, NULL, NULL, 0);
	remove_leftover_cgroups(rec->id);
	int r = overlay_unmount(rootfs, err);
	if (r < 0)
		return r;
	r = netns_remove(ns, err);
	if (r < 0)
		return r;
	struct volume_store *vs = NULL;
	if (volume_store_open(e->root, e->images->db, &vs, NULL) == 0) {
		(void) volume_unref(vs, rec->id, NULL);
		json_t *anon = json_object_get(rec->record, "AnonymousVolumes");
		size_t i;
		json_t *v;
		json_array_foreach(anon, i, v) {
			if (volumes && json_is_string(v))
				(void) volume_remove(vs, json_string_value(v), false, NULL);
		}
		volume_store_close(vs);
	}
	r = berth_rm_rf(bundle);
	if (r < 0 && r != -ENOENT)
		return berth_errno(err, r, "removing %s", bundle);
	return ctr_record_delete(e->images->db, rec->id, err);
}

int engine_remove(struct engine *e, const char *id, bool force, bool volumes, struct berth_error *err)
{
	struct ctr_record rec = { 0 };
	int r = ctr_record_get(e->images->db, id, &rec, err);
	if (r < 0)
		return r;
	struct ctr_state st = { 0 };
	read_state(e, id, &st);
	bool running = !strcmp(st.state, "running") || !strcmp(st.state, "paused");
	bool paused = !strcmp(st.state, "paused");
	ctr_state_clear(&st);
	if (running && !force) {
		r = berth_err(err, EBUSY,
			      "cannot remove container %.12s: container is running: stop the container before removing or force remove",
			      id);
		goto out;
	}
	if (running) {
		if (paused)   /* a frozen process cannot act on SIGKILL */
			(void) engine_pause(e, id, false, NULL);
		(void) engine_kill(e, id, "KILL", NULL);
		if (wait_exited(e, id, 10000, NULL) < 0) {
			r = berth_err(err, ETIMEDOUT, "container %.12s did not exit after SIGKILL", id);
			goto out;
		}
	}
	r = remove_everything(e, &rec, volumes, err);
out:
	ctr_record_clear(&rec);
	return r;
}

int engine_claim_cleanup(struct engine *e, const char *id, struct berth_error *err)
{
	char bundle[PATH_MAX], path[PATH_MAX + 32];
	bundle_path(e, id, bundle, sizeof(bundle));
	snprintf(path, sizeof(path), "%s/cleanup.lock", bundle);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return berth_errno(err, errno, "%s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = berth_errno(err, errno, "%s", path);
		close(fd);
		return r;
	}
	return fd;
}

int engine_cleanup(struct engine *e, const char *id, struct berth_error *err)
{
	struct ctr_record rec = { 0 };
	int r = ctr_record_get(e->images->db, id, &rec, err);
	if (r < 0)
		return r == -ENOENT ? 0 : r;     /* `rm -f` got there first */
	r = remove_everything(e, &rec, true, err);
	ctr_record_clear(&rec);
	return r;
}

/* --- list / inspect / logs ------------------------------------------------ */

struct list_ctx {
	struct engine *e;
	bool all;
	int (*fn)(void *ctx, const struct ctr_summary *s);
	void *ctx;
	int64_t now;
};

static char *command_of(const struct ctr_record *r)
{
	json_t *cfg = json_object_get(r->record, "Config");
	json_t *parts[2] = { json_object_get(cfg, "Entrypoint"), json_object_get(cfg, "Cmd") };
	size_t cap = 256, len = 0;
	char *s = calloc(1, cap);
	for (int p = 0; s && p < 2; p++) {
		size_t i;
		json_t *v;
		json_array_foreach(parts[p], i, v) {
			const char *w = json_string_value(v);
			if (!w)
				continue;
			size_t need = len + strlen(w) + 2;
			if (need > cap) {
				while (cap < need)
					cap *= 2;
				char *t = realloc(s, cap);
				if (!t)
					break;
				s = t;
			}
			len += (size_t) sprintf(s + len, "%s%s", len ? " " : "", w);
		}
	}
	return s;
}

static int list_one(void *vctx, const struct ctr_record *r)
{
	struct list_ctx *lc = vctx;
	struct ctr_state st = { 0 };
	read_state(lc->e, r->id, &st);
	bool running = !strcmp(st.state, "running") || !strcmp(st.state, "paused");
	int ret = 0;
	if (lc->all || running) {
		_cleanup_free_ char *status = ctr_state_status(&st, lc->now);
		_cleanup_free_ char *cmd = command_of(r);
		struct ctr_summary s = {
			.name = r->name, .image = r->image_ref, .command = cmd ? cmd : "", .state = st.state,
			.status = status ? status : st.state, .created = r->created / 1000000000, .exit_code = st.exit_code,
		};
		memcpy(s.id, r->id, sizeof(s.id));
		ret = lc->fn(lc->ctx, &s);
	}
	ctr_state_clear(&st);
	return ret;
}

int engine_list(struct engine *e, bool all, int (*fn)(void *ctx, const struct ctr_summary *s), void *ctx,
		struct berth_error *err)
{
	struct list_ctx lc = { .e = e, .all = all, .fn = fn, .ctx = ctx, .now = (int64_t) time(NULL) };
	int r = ctr_records_walk(e->images->db, list_one, &lc);
	return r < 0 ? berth_errno(err, r, "listing containers") : 0;
}

json_t *engine_inspect(struct engine *e, const char *id, struct berth_error *err)
{
	struct ctr_record rec = { 0 };
	if (ctr_record_get(e->images->db, id, &rec, err) < 0)
		return NULL;
	struct ctr_state st = { 0 };
	read_state(e, id, &st);
	char bundle[PATH_MAX], buf[PATH_MAX + 32];
	bundle_path(e, id, bundle, sizeof(bundle));
	json_t *o = json_object();
	json_object_set_new(o, "Id", json_string(rec.id));
	char created[64] = "";
	time_t c = (time_t) (rec.created / 1000000000);
	struct tm tm;
	if (gmtime_r(&c, &tm))
		strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(o, "Created", json_string(created));
	json_t *cfg = json_object_get(rec.record, "Config");
	_cleanup_free_ char *cmd = command_of(&rec);
	json_object_set_new(o, "Path", json_string(""));
	json_object_set_new(o, "Args", json_array());
	json_t *state = json_object();
	json_object_set_new(state, "Status", json_string(st.state));
	json_object_set_new(state, "Running", json_boolean(!strcmp(st.state, "running")));
	json_object_set_new(state, "Paused", json_boolean(!strcmp(st.state, "paused")));
	json_object_set_new(state, "OOMKilled", json_boolean(st.oom_killed));
	json_object_set_new(state, "Dead", json_false());
	json_object_set_new(state, "Pid", json_integer(!strcmp(st.state, "running") ? st.pid : 0));
	json_object_set_new(state, "ExitCode", json_integer(st.exit_code));
	json_object_set_new(state, "Error", json_string(st.error ? st.error : ""));
	json_object_set_new(state, "StartedAt", json_string(st.started_at ? st.started_at : "0001-01-01T00:00:00Z"));
	json_object_set_new(state, "FinishedAt", json_string(st.finished_at ? st.finished_at : "0001-01-01T00:00:00Z"));
	json_object_set_new(o, "State", state);
	json_object_set_new(o, "Image", json_string(rec.image_id));
	snprintf(buf, sizeof(buf), "%s/resolv.conf", bundle);
	json_object_set_new(o, "ResolvConfPath", json_string(buf));
	snprintf(buf, sizeof(buf), "%s/hostname", bundle);
	json_object_set_new(o, "HostnamePath", json_string(buf));
	snprintf(buf, sizeof(buf), "%s/hosts", bundle);
	json_object_set_new(o, "HostsPath", json_string(buf));
	snprintf(buf, sizeof(buf), "%s/ctr.log", bundle);
	json_object_set_new(o, "LogPath", json_string(buf));
	snprintf(buf, sizeof(buf), "/%s", rec.name ? rec.name : "");
	json_object_set_new(o, "Name", json_string(buf));
	json_object_set_new(o, "Driver", json_string("overlay"));
	json_object_set_new(o, "Platform", json_string("linux"));
	json_t *hc = json_object_get(rec.record, "HostConfig");
	json_object_set_new(o, "HostConfig", hc ? json_deep_copy(hc) : json_object());
	json_t *gd = json_object(), *gdd = json_object();
	snprintf(buf, sizeof(buf), "%s/rootfs", bundle);
	json_object_set_new(gdd, "MergedDir", json_string(buf));
	snprintf(buf, sizeof(buf), "%s/upper", bundle);
	json_object_set_new(gdd, "UpperDir", json_string(buf));
	snprintf(buf, sizeof(buf), "%s/work", bundle);
	json_object_set_new(gdd, "WorkDir", json_string(buf));
	json_object_set_new(gd, "Data", gdd);
	json_object_set_new(gd, "Name", json_string("overlay"));
	json_object_set_new(o, "GraphDriver", gd);
	json_t *mounts = json_object_get(rec.record, "Mounts");
	json_object_set_new(o, "Mounts", mounts ? json_deep_copy(mounts) : json_array());
	json_t *config = cfg ? json_deep_copy(cfg) : json_object();
	json_object_set_new(o, "Config", config);
	json_t *ns = json_object_get(rec.record, "NetNS");
	json_t *net = json_object();
	json_object_set_new(net, "SandboxKey", json_string(json_is_string(ns) ? json_string_value(ns) : ""));
	json_object_set_new(o, "NetworkSettings", net);
	(void) cmd;
	ctr_state_clear(&st);
	ctr_record_clear(&rec);
	return o;
}

int engine_logs(struct engine *e, const char *id, const struct logs_opts *lo, struct berth_error *err)
{
	char bundle[PATH_MAX], path[PATH_MAX];
	bundle_path(e, id, bundle, sizeof(bundle));
	snprintf(path, sizeof(path), "%s/ctr.log", bundle);
	struct logfile_read_opts o = {
		.follow = lo->follow, .timestamps = lo->timestamps, .since_ns = lo->since_ns, .tail = lo->tail,
		.out_fd = lo->out_fd, .err_fd = lo->err_fd,
	};
	return logfile_read(path, &o, err);
}

/* --- exec ------------------------------------------------------------------ */

int engine_exec(struct engine *e, const char *id, const struct exec_opts *xo, int *exit_code,
		struct berth_error *err)
{
	struct ctr_record rec = { 0 };
	_cleanup_close_ int lsock = -1;
	_cleanup_free_ char *log = NULL;
	int r = ctr_record_get(e->images->db, id, &rec, err);
	if (r < 0)
		return r;
	struct ctr_state st = { 0 };
	read_state(e, id, &st);
	if (strcmp(st.state, "running") != 0) {
		r = berth_err(err, EINVAL, "container %.12s is not running", id);
		ctr_state_clear(&st);
		goto out;
	}
	ctr_state_clear(&st);
	char bundle[PATH_MAX], rtroot[PATH_MAX], logpath[PATH_MAX];
	bundle_path(e, id, bundle, sizeof(bundle));
	runtime_root(e, rtroot, sizeof(rtroot));
	snprintf(logpath, sizeof(logpath), "%s/exec-%d.log", bundle, (int) getpid());
	(void) unlink(logpath);

	/* The user: a name is resolved in the container's own /etc/passwd. */
	char userbuf[64] = "";
	if (xo->user && *xo->user) {
		char rootfs[PATH_MAX];
		snprintf(rootfs, sizeof(rootfs), "%s/rootfs", bundle);
		_cleanup_close_ int rfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		uint32_t uid = 0, gid = 0;
		r = rfd < 0 ? berth_errno(err, errno, "%s", rootfs)
			    : specgen_resolve_user(rfd, xo->user, &uid, &gid, NULL, NULL, err);
		if (r < 0)
			goto out;
		snprintf(userbuf, sizeof(userbuf), "%u:%u", uid, gid);
	}

	const char *argv[256];
	size_t n = 0;
	argv[n++] = record_runtime(e, &rec);
	argv[n++] = "--root"; argv[n++] = rtroot;
	argv[n++] = "--log"; argv[n++] = logpath;
	argv[n++] = "exec";
	if (xo->detach) argv[n++] = "--detach";
	if (xo->tty) argv[n++] = "--tty";
	if (userbuf[0]) { argv[n++] = "--user"; argv[n++] = userbuf; }
	if (xo->workdir) { argv[n++] = "--cwd"; argv[n++] = xo->workdir; }
	for (size_t i = 0; xo->env && xo->env[i] && n < 200; i++) {
		argv[n++] = "--env";
		argv[n++] = xo->env[i];
	}
	if (xo->tty) {
		/* Hand the runtime a console socket; we relay the pty it sends. */
		argv[n++] = "--console-socket";
	}
	size_t sock_slot = xo->tty ? n++ : 0;
	argv[n++] = id;
	for (size_t i = 0; xo->argv && xo->argv[i] && n < ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = xo->argv[i];
	argv[n] = NULL;

	char sockpath[PATH_MAX] = "";
	if (xo->tty) {
		snprintf(sockpath, sizeof(sockpath), "%s/exec-%d.sock", bundle, (int) getpid());
		(void) unlink(sockpath);
		lsock = berth_unix_listen(sockpath, SOCK_STREAM, 1);
		if (lsock < 0) {
			r = berth_errno(err, lsock, "%s", sockpath);
			goto out;
		}
		argv[sock_slot] = sockpath;
	}
	pid_t pid = fork();
	if (pid < 0) {
		r = berth_errno(err, errno, "exec in %.12s: fork for %s", id, argv[0]);
		goto out;
	}
	if (pid == 0) {
		execvp(argv[0], (char *const *) argv);
		dprintf(2, "berth: exec %s: %s\n", argv[0], strerror(errno));
		_exit(125);
	}
	int ptm = -1;
	if (xo->tty) {
		int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0) {
			size_t got = 0;
			char tmp[256];
			(void) berth_recv_fd(c, &ptm, tmp, sizeof(tmp), &got);
			close(c);
		}
		(void) unlink(sockpath);
	}
	if (ptm >= 0) {
		struct winsize ws;
		if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
			(void) ioctl(ptm, TIOCSWINSZ, &ws);
		/* Relay until the pty closes (the exec'd process and its children are gone). */
		bool in_open = xo->interactive;
		for (;;) {
			struct pollfd pf[2] = { { .fd = ptm, .events = POLLIN }, { .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN } };
			if (poll(pf, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			char buf[8192];
			if (pf[1].revents & (POLLIN | POLLHUP)) {
				ssize_t k = read(STDIN_FILENO, buf, sizeof(buf));
				if (k <= 0)
					in_open = false;
				else
					(void) berth_write_all(ptm, buf, (size_t) k);
			}
			if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t k = read(ptm, buf, sizeof(buf));
				if (k <= 0)
					break;
				(void) berth_write_all(STDOUT_FILENO, buf, (size_t) k);
			}
		}
		close(ptm);
	}
	int wst;
	while (waitpid(pid, &wst, 0) < 0)
		if (errno != EINTR) {
			r = berth_errno(err, errno, "exec in %.12s: waiting for %s", id, argv[0]);
			goto out;
		}
	int code = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
	/* Did the runtime fail to run the command at all?  Its log says. */
	size_t len = 0;
	if (code != 0 && berth_read_file(logpath, &log, &len) == 0 && strstr(log, "level=error")) {
		char *msg = strstr(log, "msg=");
		if (msg) {
			msg += 4;
			if (*msg == '"')
				msg++;
			char *end = strchr(msg, '\n');
			if (end)
				*end = '\0';
			size_t ml = strlen(msg);
			if (ml && msg[ml - 1] == '"')
				msg[ml - 1] = '\0';
		}
		const char *text = msg ? msg : log;
		/* The runtime already told the user why on the shared stderr; docker's
		 * exit codes are what is left to give. */
		code = strstr(text, "not found") || strstr(text, "no such file") ? 127 : 126;
		r = 0;
	} else {
		r = 0;
	}
	if (exit_code)
		*exit_code = code;
	(void) unlink(logpath);
out:
	ctr_record_clear(&rec);
	return r;
}
