#include "linux/cgroup.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/magic.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "core/log.h"
#include "linux/cgroup_internal.h"

#define DEFAULT_FS_ROOT "/sys/fs/cgroup"
#define DEFAULT_PARENT "/berth"
#define JP "linux.resources"

/* --- controllers -------------------------------------------------------- */

static const struct {
	const char *v1, *v2;
} ctrl_names[CG__MAX] = {
	[CG_CPU] = { "cpu", "cpu" },
	[CG_CPUACCT] = { "cpuacct", NULL },
	[CG_CPUSET] = { "cpuset", "cpuset" },
	[CG_MEMORY] = { "memory", "memory" },
	[CG_DEVICES] = { "devices", NULL },
	[CG_FREEZER] = { "freezer", NULL },
	[CG_BLKIO] = { "blkio", "io" },
	[CG_PIDS] = { "pids", "pids" },
	[CG_HUGETLB] = { "hugetlb", "hugetlb" },
	[CG_NET_CLS] = { "net_cls", NULL },
	[CG_NET_PRIO] = { "net_prio", NULL },
	[CG_PERF_EVENT] = { "perf_event", "perf_event" },
	[CG_RDMA] = { "rdma", "rdma" },
	[CG_MISC] = { "misc", "misc" },
};

/* Built into every cgroup2 directory rather than listed in
 * cgroup.controllers: the eBPF device hook, cgroup.freeze, cpu.stat. */
#define CG_V2_BUILTIN (CG_BIT(CG_DEVICES) | CG_BIT(CG_FREEZER) | CG_BIT(CG_CPUACCT))

const char *cg_ctrl_v1_name(enum cg_ctrl c)
{
	return c < CG__MAX ? ctrl_names[c].v1 : NULL;
}

const char *cg_ctrl_v2_name(enum cg_ctrl c)
{
	return c < CG__MAX ? ctrl_names[c].v2 : NULL;
}

int cg_ctrl_from_name(const char *name)
{
	for (int c = 0; c < CG__MAX; c++)
		if (!strcmp(name, ctrl_names[c].v1) || (ctrl_names[c].v2 && !strcmp(name, ctrl_names[c].v2)))
			return c;
	return -1;
}

static int ctrl_from_name_n(const char *name, size_t len)
{
	char buf[32];
	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, name, len);
	buf[len] = '\0';
	return cg_ctrl_from_name(buf);
}

struct cg_hier *cg_v2(struct cgroup_manager *m)
{
	return m->v2_idx >= 0 ? &m->h[m->v2_idx] : NULL;
}

struct cg_hier *cg_ctrl_hier(struct cgroup_manager *m, enum cg_ctrl c)
{
	for (size_t i = 0; i < m->n_h; i++)
		if (!m->h[i].v2 && (m->h[i].ctrls & CG_BIT(c)))
			return &m->h[i];
	struct cg_hier *v2 = cg_v2(m);
	if (v2 && (v2->ctrls & CG_BIT(c)))
		return v2;
	return NULL;
}

/* --- file helpers ------------------------------------------------------- */

int cg_dirfd(struct cg_hier *h)
{
	if (h->dirfd >= 0)
		return h->dirfd;
	int fd = open(h->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	h->dirfd = fd;
	return fd;
}

int cg_path_of(struct cg_hier *h, const char *file, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", h->dir, file);
	return n < 0 || (size_t) n >= len ? -ENAMETOOLONG : 0;
}

int cg_write(struct cg_hier *h, const char *file, const char *value, const char *jpath,
	     struct berth_error *err)
{
	char path[PATH_MAX];
	if (cg_path_of(h, file, path, sizeof(path)) < 0)
		return berth_err(err, ENAMETOOLONG, "%s: cgroup path %s/%s is too long", jpath, h->dir, file);
	int dfd = cg_dirfd(h);
	if (dfd < 0)
		return berth_errno(err, dfd, "%s: opening cgroup %s", jpath, h->dir);
	_cleanup_close_ int fd = openat(dfd, file, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return berth_err(err, ENOENT, "%s: no such cgroup file %s (controller not enabled, "
					 "or not supported by this kernel)", jpath, path);
		return berth_errno(err, e, "%s: opening %s", jpath, path);
	}
	size_t len = strlen(value);
	_cleanup_free_ char *line = malloc(len + 2);
	if (!line)
		return berth_err(err, ENOMEM, "%s: out of memory", jpath);
	memcpy(line, value, len);
	line[len] = '\n';
	ssize_t w;
	do
		w = write(fd, line, len + 1);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return berth_errno(err, errno, "%s: writing \"%s\" to %s", jpath, value, path);
	if ((size_t) w != len + 1)
		return berth_err(err, EIO, "%s: short write of \"%s\" to %s", jpath, value, path);
	return 0;
}

int cg_writef(struct cg_hier *h, const char *file, const char *jpath, struct berth_error *err,
	      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *v = NULL;
	int n = vasprintf(&v, fmt, ap);
	va_end(ap);
	if (n < 0)
		return berth_err(err, ENOMEM, "%s: out of memory", jpath);
	return cg_write(h, file, v, jpath, err);
}

int cg_read(struct cg_hier *h, const char *file, char **out)
{
	int dfd = cg_dirfd(h);
	if (dfd < 0)
		return dfd;
	size_t len;
	return berth_read_file_at(dfd, file, out, &len);
}

static int parse_u64(const char *s, uint64_t *v)
{
	while (isspace((unsigned char) *s))
		s++;
	if (!strncmp(s, "max", 3)) {
		*v = UINT64_MAX;
		return 0;
	}
	if (*s == '-') {
		/* v1 reports "-1" for some unlimited values (rt_runtime_us). */
		*v = UINT64_MAX;
		return 0;
	}
	if (!isdigit((unsigned char) *s))
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, NULL, 10);
	return errno ? -errno : 0;
}

int cg_read_u64(struct cg_hier *h, const char *file, uint64_t *v)
{
	_cleanup_free_ char *s = NULL;
	int r = cg_read(h, file, &s);
	if (r < 0)
		return r;
	return parse_u64(s, v);
}

int cg_read_key(struct cg_hier *h, const char *file, const char *key, uint64_t *v)
{
	_cleanup_free_ char *s = NULL;
	int r = cg_read(h, file, &s);
	if (r < 0)
		return r;
	size_t kl = strlen(key);
	for (char *line = s; line && *line;) {
		char *nl = strchr(line, '\n');
		if (!strncmp(line, key, kl) && line[kl] == ' ')
			return parse_u64(line + kl + 1, v);
		line = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

bool cg_has_file(struct cg_hier *h, const char *file)
{
	int dfd = cg_dirfd(h);
	return dfd >= 0 && faccessat(dfd, file, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* --- small conversions -------------------------------------------------- */

int cg_hugetlb(struct cg_hier *h, const struct spec_res_hugepage *hp, size_t n, const char *jp,
	       struct berth_error *err)
{
	const char *suffix = h->v2 ? "max" : "limit_in_bytes";
	for (size_t i = 0; i < n; i++) {
		char name[32], file[96], rsvd[96], p[256];
		cg_hugetlb_name(hp[i].page_bytes, name, sizeof(name));
		snprintf(file, sizeof(file), "hugetlb.%s.%s", name, suffix);
		snprintf(rsvd, sizeof(rsvd), "hugetlb.%s.rsvd.%s", name, suffix);
		if (snprintf(p, sizeof(p), "%s[%zu].limit", jp, i) >= (int) sizeof(p))
			p[sizeof(p) - 1] = '\0';
		if (!cg_has_file(h, file))
			return berth_err(err, ENOTSUP, "%s[%zu].pageSize: hugepages of %s are not supported by this "
					 "host (no %s/%s)", jp, i, hp[i].page_size, h->dir, file);
		int rc = cg_writef(h, file, p, err, "%" PRIu64, hp[i].limit);
		/* The reservation limit keeps a later fault from being the first
		 * sign of exhaustion; kernels before 5.7 have no such file. */
		if (rc == 0 && cg_has_file(h, rsvd))
			rc = cg_writef(h, rsvd, p, err, "%" PRIu64, hp[i].limit);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void cg_hugetlb_name(uint64_t bytes, char *buf, size_t len)
{
	if (bytes >= (1ULL << 30))
		snprintf(buf, len, "%" PRIu64 "GB", bytes >> 30);
	else if (bytes >= (1ULL << 20))
		snprintf(buf, len, "%" PRIu64 "MB", bytes >> 20);
	else
		snprintf(buf, len, "%" PRIu64 "KB", bytes >> 10);
}

uint64_t cg_shares_to_weight(uint64_t shares)
{
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t cg_blkio_to_io_weight(uint64_t weight)
{
	if (weight < 10)
		weight = 10;
	if (weight > 1000)
		weight = 1000;
	return 1 + ((weight - 10) * 9999) / 990;
}

/* Fill a bitmap from a "0-3,7" list; false on syntax errors. */
static bool parse_id_list(const char *s, uint8_t *bits)
{
	while (*s && *s != '\n') {
		char *end;
		unsigned long a = strtoul(s, &end, 10), b = a;
		if (end == s)
			return false;
		s = end;
		if (*s == '-') {
			b = strtoul(s + 1, &end, 10);
			if (end == s + 1)
				return false;
			s = end;
		}
		for (unsigned long i = a; i <= b && i < CG_MAX_IDS; i++)
			bits[i / 8] |= (uint8_t) (1u << (i % 8));
		if (*s == ',')
			s++;
		else if (*s && *s != '\n')
			return false;
	}
	return true;
}

int cg_cpuset_check(struct cgroup_manager *m, const char *list, bool mems, const char *jpath,
		    struct berth_error *err)
{
	char path[PATH_MAX];
	uint8_t online[CG_MAX_IDS / 8] = { 0 }, want[CG_MAX_IDS / 8] = { 0 };
	snprintf(path, sizeof(path), "%s/devices/system/%s/online", m->sysfs_root, mems ? "node" : "cpu");
	_cleanup_free_ char *s = NULL;
	size_t len;
	int r = berth_read_file(path, &s, &len);
	if (r == -ENOENT && mems) {
		/* Kernels without NUMA have no node directory: node 0 only. */
		online[0] = 1;
	} else if (r < 0) {
		return berth_errno(err, r, "%s: reading %s", jpath, path);
	} else if (!parse_id_list(s, online)) {
		return berth_err(err, EINVAL, "%s: cannot parse %s", jpath, path);
	}
	if (!spec_resources_cpuset_valid(list, NULL) || !parse_id_list(list, want))
		return berth_err(err, EINVAL, "%s: \"%s\" is not a list like \"0-3,5\"", jpath, list);
	for (unsigned i = 0; i < CG_MAX_IDS; i++) {
		bool w = want[i / 8] & (1u << (i % 8)), o = online[i / 8] & (1u << (i % 8));
		if (w && !o)
			return berth_err(err, EINVAL, "%s: %s %u is not online on this host",
					 jpath, mems ? "memory node" : "CPU", i);
	}
	return 0;
}

/* --- path ---------------------------------------------------------------- */

/* Collapse "//" and a trailing "/", refuse "." and ".." components. */
static int normalize_path(const char *in, char **out, struct berth_error *err)
{
	size_t n = strlen(in);
	char *p = malloc(n + 2), *o = p;
	if (!p)
		return berth_err(err, ENOMEM, "linux.cgroupsPath: out of memory");
	const char *s = in;
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		const char *e = strchrnul(s, '/');
		size_t l = (size_t) (e - s);
		if ((l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.')) {
			free(p);
			return berth_err(err, EINVAL, "linux.cgroupsPath: \"%s\" must not contain \".\" or \"..\"", in);
		}
		*o++ = '/';
		memcpy(o, s, l);
		o += l;
		s = e;
	}
	*o = '\0';
	if (o == p) {
		free(p);
		return berth_err(err, EINVAL, "linux.cgroupsPath: \"%s\" names the root cgroup; "
				 "a container needs a cgroup of its own", in);
	}
	*out = p;
	return 0;
}

static int compute_path(const char *cgroups_path, const char *id, char **out, struct berth_error *err)
{
	_cleanup_free_ char *joined = NULL;
	if (!cgroups_path || !*cgroups_path) {
		if (!id || !*id || strchr(id, '/') || !strcmp(id, ".") || !strcmp(id, ".."))
			return berth_err(err, EINVAL, "cgroup: container id \"%s\" cannot name a cgroup", id ? id : "");
		if (asprintf(&joined, DEFAULT_PARENT "/%s", id) < 0)
			return berth_err(err, ENOMEM, "cgroup: out of memory");
	} else if (cgroups_path[0] == '/') {
		joined = strdup(cgroups_path);
	} else if (asprintf(&joined, DEFAULT_PARENT "/%s", cgroups_path) < 0) {
		joined = NULL;
	}
	if (!joined)
		return berth_err(err, ENOMEM, "cgroup: out of memory");
	return normalize_path(joined, out, err);
}

/* --- probing ------------------------------------------------------------- */

static void free_hier(struct cg_hier *h)
{
	free(h->mount);
	free(h->dir);
	free(h->name);
	if (h->dirfd >= 0)
		close(h->dirfd);
}

void cgroup_manager_free(struct cgroup_manager *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_h; i++)
		free_hier(&m->h[i]);
	free(m->h);
	free(m->fs_root);
	free(m->path);
	free(m->sysfs_root);
	free(m);
}

static int add_hier(struct cgroup_manager *m, const char *mount, uint32_t ctrls, const char *name, bool v2)
{
	for (size_t i = 0; i < m->n_h; i++) {
		/* The same hierarchy mounted twice (bind mounts) counts once. */
		if (m->h[i].v2 == v2 && m->h[i].ctrls == ctrls &&
		    ((!name && !m->h[i].name) || (name && m->h[i].name && !strcmp(name, m->h[i].name))))
			return 0;
	}
	struct cg_hier *n = realloc(m->h, (m->n_h + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	m->h = n;
	struct cg_hier *h = &m->h[m->n_h];
	memset(h, 0, sizeof(*h));
	h->dirfd = -1;
	h->v2 = v2;
	h->ctrls = ctrls;
	h->mount = strdup(mount);
	h->name = name ? strdup(name) : NULL;
	if (!h->mount || (name && !h->name) || asprintf(&h->dir, "%s%s", mount, m->path) < 0) {
		free(h->mount);
		free(h->name);
		return -ENOMEM;
	}
	if (v2)
		m->v2_idx = (int) m->n_h;
	m->n_h++;
	return 0;
}

/* The controllers a cgroup2 directory offers (its cgroup.controllers). */
static uint32_t read_v2_controllers(const char *dir)
{
	char path[PATH_MAX];
	_cleanup_free_ char *s = NULL;
	size_t len;
	uint32_t ctrls = CG_V2_BUILTIN;
	snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
	if (berth_read_file(path, &s, &len) < 0)
		return ctrls;
	for (char *tok = strtok(s, " \n"); tok; tok = strtok(NULL, " \n")) {
		int c = cg_ctrl_from_name(tok);
		if (c >= 0)
			ctrls |= CG_BIT(c);
	}
	return ctrls;
}

/* Decode mountinfo's octal escapes ("\040" for a space) in place. */
static void unescape(char *s)
{
	char *o = s;
	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char) (((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

static bool under_root(const char *mp, const char *root)
{
	size_t l = strlen(root);
	return !strncmp(mp, root, l) && (mp[l] == '\0' || mp[l] == '/');
}

/* Read cgroup mounts under fs_root from a mountinfo file.  Sets *found. */
static int probe_mountinfo(struct cgroup_manager *m, const char *mountinfo, bool *found,
			   struct berth_error *err)
{
	_cleanup_fclose_ FILE *f = fopen(mountinfo, "re");
	if (!f)
		return berth_errno(err, errno, "cgroup: reading %s", mountinfo);
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	bool v2_at_root = false;
	char *v2_mount = NULL;
	while (getline(&line, &cap, f) > 0) {
		char *fields[6] = { 0 }, *save = NULL, *tok = strtok_r(line, " \n", &save);
		int nf = 0;
		for (; tok && nf < 6; tok = strtok_r(NULL, " \n", &save))
			fields[nf++] = tok;
		if (nf < 6)
			continue;
		/* Skip optional fields up to the "-" separator. */
		while (tok && strcmp(tok, "-"))
			tok = strtok_r(NULL, " \n", &save);
		char *fstype = tok ? strtok_r(NULL, " \n", &save) : NULL;
		char *source = fstype ? strtok_r(NULL, " \n", &save) : NULL;
		char *super = source ? strtok_r(NULL, " \n", &save) : NULL;
		if (!super)
			continue;
		char *mp = fields[4];
		unescape(mp);
		if (!under_root(mp, m->fs_root))
			continue;
		if (!strcmp(fstype, "cgroup2")) {
			if (!strcmp(mp, m->fs_root))
				v2_at_root = true;
			if (!v2_mount || v2_at_root) {
				free(v2_mount);
				v2_mount = strdup(mp);
				if (!v2_mount)
					return berth_err(err, ENOMEM, "cgroup: out of memory");
			}
			*found = true;
			continue;
		}
		if (strcmp(fstype, "cgroup"))
			continue;
		uint32_t ctrls = 0;
		const char *name = NULL;
		char *s2 = NULL;
		for (char *o = strtok_r(super, ",", &s2); o; o = strtok_r(NULL, ",", &s2)) {
			int c = cg_ctrl_from_name(o);
			if (c >= 0 && cg_ctrl_v1_name(c) && !strcmp(o, cg_ctrl_v1_name(c)))
				ctrls |= CG_BIT(c);
			else if (!strncmp(o, "name=", 5))
				name = o + 5;
		}
		if (!ctrls && !name)
			continue;
		*found = true;
		if (add_hier(m, mp, ctrls, name, false) < 0) {
			free(v2_mount);
			return berth_err(err, ENOMEM, "cgroup: out of memory");
		}
	}
	if (v2_at_root) {
		/* A pure v2 host: anything else listed is not a hierarchy we use. */
		for (size_t i = 0; i < m->n_h; i++)
			free_hier(&m->h[i]);
		m->n_h = 0;
	}
	if (v2_mount) {
		int r = add_hier(m, v2_mount, read_v2_controllers(v2_mount), NULL, true);
		free(v2_mount);
		if (r < 0)
			return berth_err(err, ENOMEM, "cgroup: out of memory");
	}
	return 0;
}

/* A fake tree (tests): see cgroup.h for the layout rules. */
static int probe_tree(struct cgroup_manager *m, struct berth_error *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/cgroup.controllers", m->fs_root);
	if (access(path, F_OK) == 0) {
		if (add_hier(m, m->fs_root, read_v2_controllers(m->fs_root), NULL, true) < 0)
			return berth_err(err, ENOMEM, "cgroup: out of memory");
		return 0;
	}
	struct dirent *de;
	/* Sorted so the hierarchy order (and so error order) is stable. */
	struct dirent **list = NULL;
	int n = scandir(m->fs_root, &list, NULL, alphasort);
	if (n < 0)
		return berth_errno(err, errno, "cgroup: listing %s", m->fs_root);
	int rc = 0;
	for (int i = 0; i < n; i++) {
		de = list[i];
		if (de->d_name[0] == '.' || rc < 0)
			continue;
		char sub[PATH_MAX];
		snprintf(sub, sizeof(sub), "%s/%s", m->fs_root, de->d_name);
		snprintf(path, sizeof(path), "%s/cgroup.controllers", sub);
		if (!strcmp(de->d_name, "unified") && access(path, F_OK) == 0) {
			if (add_hier(m, sub, read_v2_controllers(sub), NULL, true) < 0)
				rc = -ENOMEM;
			continue;
		}
		snprintf(path, sizeof(path), "%s/cgroup.procs", sub);
		if (access(path, F_OK) != 0)
			continue;
		uint32_t ctrls = 0;
		const char *p = de->d_name;
		while (*p) {
			const char *e = strchrnul(p, ',');
			int c = ctrl_from_name_n(p, (size_t) (e - p));
			if (c >= 0)
				ctrls |= CG_BIT(c);
			p = *e ? e + 1 : e;
		}
		if (add_hier(m, sub, ctrls, ctrls ? NULL : de->d_name, false) < 0)
			rc = -ENOMEM;
	}
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	if (rc < 0)
		return berth_err(err, ENOMEM, "cgroup: out of memory");
	if (m->n_h == 0)
		return berth_err(err, ENOENT, "cgroup: no cgroup hierarchy found under %s", m->fs_root);
	return 0;
}

static int systemd_refusal(struct berth_error *err)
{
	if (access("/run/systemd/system", F_OK) != 0)
		return berth_err(err, ENOTSUP,
				 "--systemd-cgroup: systemd cgroup driver is not supported on this host "
				 "(systemd is not running: /run/systemd/system is missing); "
				 "drop --systemd-cgroup to use the cgroupfs driver");
	return berth_err(err, ENOTSUP,
			 "--systemd-cgroup: systemd cgroup driver is not supported on this host: "
			 "berth implements only the cgroupfs driver, not systemd's D-Bus one; "
			 "drop --systemd-cgroup and use a plain cgroupsPath");
}

int cg_manager_new_probe(const char *fs_root, const char *mountinfo, const char *cgroups_path,
			 const char *id, bool systemd, struct cgroup_manager **out,
			 struct berth_error *err)
{
	if (systemd)
		return systemd_refusal(err);
	struct cgroup_manager *m = calloc(1, sizeof(*m));
	if (!m)
		return berth_err(err, ENOMEM, "cgroup: out of memory");
	m->v2_idx = -1;
	int rc = compute_path(cgroups_path, id, &m->path, err);
	if (rc < 0)
		goto fail;
	bool is_default = !fs_root;
	m->fs_root = strdup(fs_root ? fs_root : DEFAULT_FS_ROOT);
	m->sysfs_root = strdup("/sys");
	if (!m->fs_root || !m->sysfs_root) {
		rc = berth_err(err, ENOMEM, "cgroup: out of memory");
		goto fail;
	}
	/* Drop a trailing "/" so prefix matching against mount points works. */
	size_t l = strlen(m->fs_root);
	while (l > 1 && m->fs_root[l - 1] == '/')
		m->fs_root[--l] = '\0';

	struct statfs sfs;
	if (statfs(m->fs_root, &sfs) < 0) {
		rc = berth_errno(err, errno, "cgroup: %s", m->fs_root);
		goto fail;
	}
	bool found = false;
	if ((unsigned long) sfs.f_type == CGROUP2_SUPER_MAGIC) {
		/* Pure v2: nothing else to look for. */
		found = true;
		if (add_hier(m, m->fs_root, read_v2_controllers(m->fs_root), NULL, true) < 0) {
			rc = berth_err(err, ENOMEM, "cgroup: out of memory");
			goto fail;
		}
	} else {
		rc = probe_mountinfo(m, mountinfo ? mountinfo : "/proc/self/mountinfo", &found, err);
		if (rc < 0)
			goto fail;
	}
	if (!found) {
		if (is_default) {
			rc = berth_err(err, ENOENT, "cgroup: no cgroup filesystem is mounted under %s",
				       m->fs_root);
			goto fail;
		}
		if ((rc = probe_tree(m, err)) < 0)
			goto fail;
	}
	bool any_v1 = false;
	for (size_t i = 0; i < m->n_h; i++)
		any_v1 |= !m->h[i].v2;
	if (m->v2_idx >= 0 && !strcmp(m->h[m->v2_idx].mount, m->fs_root))
		m->mode = CGROUP_MODE_V2;
	else if (m->v2_idx >= 0)
		m->mode = CGROUP_MODE_HYBRID;
	else if (any_v1)
		m->mode = CGROUP_MODE_V1;
	else {
		rc = berth_err(err, ENOENT, "cgroup: no cgroup hierarchy found under %s", m->fs_root);
		goto fail;
	}
	*out = m;
	return 0;
fail:
	cgroup_manager_free(m);
	return rc;
}

int cgroup_manager_new(const char *fs_root, const char *cgroups_path, const char *id, bool systemd,
		       struct cgroup_manager **out, struct berth_error *err)
{
	return cg_manager_new_probe(fs_root, NULL, cgroups_path, id, systemd, out, err);
}

int cg_manager_set_sysfs_root(struct cgroup_manager *m, const char *root)
{
	char *s = strdup(root);
	if (!s)
		return -ENOMEM;
	free(m->sysfs_root);
	m->sysfs_root = s;
	return 0;
}

const char *cgroup_manager_path(const struct cgroup_manager *m)
{
	return m->path;
}

enum cgroup_mode cgroup_manager_mode(const struct cgroup_manager *m)
{
	return m->mode;
}

const char *cgroup_manager_dir(const struct cgroup_manager *m, const char *controller)
{
	struct cgroup_manager *mm = (struct cgroup_manager *) m;
	if (!controller || !*controller) {
		struct cg_hier *v2 = cg_v2(mm);
		return v2 ? v2->dir : NULL;
	}
	int c = cg_ctrl_from_name(controller);
	if (c < 0) {
		for (size_t i = 0; i < m->n_h; i++)
			if (m->h[i].name && !strcmp(m->h[i].name, controller))
				return m->h[i].dir;
		return NULL;
	}
	struct cg_hier *h = cg_ctrl_hier(mm, (enum cg_ctrl) c);
	return h ? h->dir : NULL;
}

/* --- what the resources ask for ------------------------------------------ */

static bool wants_memory(const struct spec_resources *r)
{
	const struct spec_res_memory *m = &r->memory;
	return r->has_memory &&
	       ((m->has_limit && m->limit) || (m->has_reservation && m->reservation) ||
		(m->has_swap && m->swap) || (m->has_kernel && m->kernel) ||
		(m->has_kernel_tcp && m->kernel_tcp) || m->has_swappiness ||
		m->has_disable_oom_killer || m->has_use_hierarchy);
}

static bool wants_cpu(const struct spec_resources *r)
{
	const struct spec_res_cpu *c = &r->cpu;
	return r->has_cpu &&
	       ((c->has_shares && c->shares) || (c->has_quota && c->quota) || (c->has_period && c->period) ||
		c->has_burst || c->has_realtime_runtime || c->has_realtime_period || c->has_idle);
}

static bool wants_cpuset(const struct spec_resources *r)
{
	return r->has_cpu && (r->cpu.cpus || r->cpu.mems);
}

static bool wants_blkio(const struct spec_resources *r)
{
	const struct spec_res_block_io *b = &r->block_io;
	return r->has_block_io &&
	       ((b->has_weight && b->weight) || (b->has_leaf_weight && b->leaf_weight) || b->n_weight_device ||
		b->n_throttle_read_bps || b->n_throttle_write_bps || b->n_throttle_read_iops ||
		b->n_throttle_write_iops);
}

/* Controllers the resources need, as CG_BIT()s; unified keys count for the
 * controller their name starts with. */
static uint32_t wanted_ctrls(const struct spec_resources *r)
{
	uint32_t w = 0;
	if (!r)
		return 0;
	if (wants_memory(r))
		w |= CG_BIT(CG_MEMORY);
	if (wants_cpu(r))
		w |= CG_BIT(CG_CPU);
	if (wants_cpuset(r))
		w |= CG_BIT(CG_CPUSET);
	if (r->has_pids && r->has_pids_limit)
		w |= CG_BIT(CG_PIDS);
	if (wants_blkio(r))
		w |= CG_BIT(CG_BLKIO);
	if (r->n_hugepage_limits)
		w |= CG_BIT(CG_HUGETLB);
	if (r->has_network && r->has_class_id)
		w |= CG_BIT(CG_NET_CLS);
	if (r->has_network && r->n_net_priorities)
		w |= CG_BIT(CG_NET_PRIO);
	if (r->n_devices)
		w |= CG_BIT(CG_DEVICES);
	for (size_t i = 0; i < r->n_unified; i++) {
		const char *k = r->unified[i].key;
		int c = ctrl_from_name_n(k, strcspn(k, "."));
		if (c >= 0)
			w |= CG_BIT(c);
	}
	return w;
}

static struct cg_hier *need(struct cgroup_manager *m, enum cg_ctrl c, const char *jpath,
			    struct berth_error *err)
{
	struct cg_hier *h = cg_ctrl_hier(m, c);
	if (!h)
		berth_err(err, ENOTSUP, "%s: the %s cgroup controller is not available on this host",
			  jpath, cg_ctrl_v1_name(c));
	return h;
}

static int apply(struct cgroup_manager *m, const struct spec_resources *r, struct berth_error *err)
{
	struct cg_hier *h;
	int rc;
	if (!r)
		return 0;
	if (r->n_rdma)
		return berth_err(err, ENOTSUP, JP ".rdma: rdma controller not supported");

	/* cpuset before memory and cpu: a cpuset must be usable before
	 * anything can run in it, and the online check is cheap. */
	if (wants_cpuset(r)) {
		if (!(h = need(m, CG_CPUSET, JP ".cpu.cpus", err)))
			return -ENOTSUP;
		if (r->cpu.cpus && (rc = cg_cpuset_check(m, r->cpu.cpus, false, JP ".cpu.cpus", err)) < 0)
			return rc;
		if (r->cpu.mems && (rc = cg_cpuset_check(m, r->cpu.mems, true, JP ".cpu.mems", err)) < 0)
			return rc;
		rc = cg_v1_cpuset(h, &r->cpu, JP ".cpu", err);
		if (rc < 0)
			return rc;
	}
	if (wants_memory(r)) {
		if (!(h = need(m, CG_MEMORY, JP ".memory", err)))
			return -ENOTSUP;
		rc = h->v2 ? cg_v2_memory(h, &r->memory, JP ".memory", err)
			   : cg_v1_memory(h, &r->memory, JP ".memory", err);
		if (rc < 0)
			return rc;
	}
	if (wants_cpu(r)) {
		if (!(h = need(m, CG_CPU, JP ".cpu", err)))
			return -ENOTSUP;
		rc = h->v2 ? cg_v2_cpu(h, &r->cpu, JP ".cpu", err) : cg_v1_cpu(h, &r->cpu, JP ".cpu", err);
		if (rc < 0)
			return rc;
	}
	if (r->has_pids && r->has_pids_limit) {
		if (!(h = need(m, CG_PIDS, JP ".pids.limit", err)))
			return -ENOTSUP;
		rc = h->v2 ? cg_v2_pids(h, r->pids_limit, JP ".pids.limit", err)
			   : cg_v1_pids(h, r->pids_limit, JP ".pids.limit", err);
		if (rc < 0)
			return rc;
	}
	if (wants_blkio(r)) {
		if (!(h = need(m, CG_BLKIO, JP ".blockIO", err)))
			return -ENOTSUP;
		rc = h->v2 ? cg_v2_io(h, &r->block_io, JP ".blockIO", err)
			   : cg_v1_blkio(h, &r->block_io, JP ".blockIO", err);
		if (rc < 0)
			return rc;
	}
	if (r->n_hugepage_limits) {
		if (!(h = need(m, CG_HUGETLB, JP ".hugepageLimits", err)))
			return -ENOTSUP;
		rc = cg_hugetlb(h, r->hugepage_limits, r->n_hugepage_limits, JP ".hugepageLimits", err);
		if (rc < 0)
			return rc;
	}
	if (r->has_network && r->has_class_id) {
		/* net_cls has no cgroup2 counterpart (use eBPF on the socket path). */
		if (!(h = need(m, CG_NET_CLS, JP ".network.classID", err)))
			return -ENOTSUP;
		if ((rc = cg_v1_net_cls(h, r->class_id, JP ".network.classID", err)) < 0)
			return rc;
	}
	if (r->has_network && r->n_net_priorities) {
		if (!(h = need(m, CG_NET_PRIO, JP ".network.priorities", err)))
			return -ENOTSUP;
		if ((rc = cg_v1_net_prio(h, r->net_priorities, r->n_net_priorities, JP ".network.priorities", err)) < 0)
			return rc;
	}
	if (r->n_devices) {
		if (!(h = need(m, CG_DEVICES, JP ".devices", err)))
			return -ENOTSUP;
		rc = h->v2 ? cg_bpf_devices_apply(h->dir, r->devices, r->n_devices, JP ".devices", err)
			   : cg_v1_devices(h, r->devices, r->n_devices, JP ".devices", err);
		if (rc < 0)
			return rc;
	}
	if (r->n_unified) {
		if (!(h = cg_v2(m)))
			return berth_err(err, ENOTSUP, JP ".unified: needs cgroup v2, and this host has only "
					 "cgroup v1 hierarchies");
		if ((rc = cg_v2_unified(h, r->unified, r->n_unified, JP ".unified", err)) < 0)
			return rc;
	}
	return 0;
}

/* --- create / enter / update --------------------------------------------- */

struct created {
	char **dirs;
	size_t n;
};

static void rollback(struct created *c)
{
	for (size_t i = c->n; i-- > 0;) {
		if (rmdir(c->dirs[i]) < 0 && errno != ENOENT)
			log_warn("cgroup: removing %s after a failed create: %s", c->dirs[i], strerror(errno));
		free(c->dirs[i]);
	}
	free(c->dirs);
	c->dirs = NULL;
	c->n = 0;
}

static void forget(struct created *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->dirs[i]);
	free(c->dirs);
	c->dirs = NULL;
	c->n = 0;
}

static int mkdir_hier_once(struct cgroup_manager *m, struct cg_hier *h, struct created *c,
			   struct berth_error *err)
{
	char dir[PATH_MAX];
	size_t ml = strlen(h->mount);
	if (ml + strlen(m->path) >= sizeof(dir))
		return berth_err(err, ENAMETOOLONG, "cgroup: %s%s is too long", h->mount, m->path);
	memcpy(dir, h->mount, ml + 1);
	bool cpuset = !h->v2 && (h->ctrls & CG_BIT(CG_CPUSET));
	const char *s = m->path;
	while (*s) {
		const char *e = strchrnul(s + 1, '/');
		size_t l = (size_t) (e - s);
		memcpy(dir + ml, s, l);
		ml += l;
		dir[ml] = '\0';
		s = e;
		if (mkdir(dir, 0755) == 0) {
			char **n = realloc(c->dirs, (c->n + 1) * sizeof(*n));
			char *d = strdup(dir);
			if (!n || !d) {
				free(d);
				if (n)
					c->dirs = n;
				rmdir(dir);
				return berth_err(err, ENOMEM, "cgroup: out of memory");
			}
			c->dirs = n;
			c->dirs[c->n++] = d;
		} else if (errno == ENOENT) {
			return 1; /* a parent vanished: retry */
		} else if (errno != EEXIST) {
			return berth_errno(err, errno, "cgroup: creating %s", dir);
		}
		if (cpuset) {
			int rc = cg_v1_cpuset_seed(dir, err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int mkdir_hier(struct cgroup_manager *m, struct cg_hier *h, struct created *c, struct berth_error *err)
{
	/* A parent another container's cleanup removed between our mkdir
	 * calls shows up as ENOENT: start over from the top. */
	for (int attempt = 0;; attempt++) {
		int rc = mkdir_hier_once(m, h, c, err);
		if (rc <= 0)
			return rc;
		if (attempt == 3)
			return berth_errno(err, ENOENT, "cgroup: creating %s", h->dir);
	}
}

int cgroup_create(struct cgroup_manager *m, const struct spec_resources *r, struct berth_error *err)
{
	struct created c = { 0 };
	int rc = 0;
	if (r && r->n_rdma)
		return berth_err(err, ENOTSUP, JP ".rdma: rdma controller not supported");
	for (size_t i = 0; i < m->n_h && rc == 0; i++)
		rc = mkdir_hier(m, &m->h[i], &c, err);
	struct cg_hier *v2 = cg_v2(m);
	if (rc == 0 && v2) {
		/* On a pure v2 host enable everything the parent offers, like
		 * other runtimes, so stats and later updates find their files.  On
		 * a hybrid host the cgroup2 part is shared with the system's own
		 * process tracking: enable only what these resources need there. */
		uint32_t want = 0;
		uint32_t wanted = wanted_ctrls(r);
		for (int k = 0; k < CG__MAX; k++)
			if ((wanted & CG_BIT(k)) && cg_ctrl_hier(m, (enum cg_ctrl) k) == v2)
				want |= CG_BIT(k);
		uint32_t best = m->mode == CGROUP_MODE_V2 ? v2->ctrls : 0;
		rc = cg_v2_enable_controllers(v2, m->path, want, best, err);
	}
	if (rc == 0)
		rc = apply(m, r, err);
	if (rc < 0) {
		/* Directory fds would keep nothing alive, but drop them so a
		 * retry does not use a removed directory. */
		for (size_t i = 0; i < m->n_h; i++) {
			if (m->h[i].dirfd >= 0)
				close(m->h[i].dirfd);
			m->h[i].dirfd = -1;
		}
		rollback(&c);
		return rc;
	}
	forget(&c);
	return 0;
}

int cgroup_enter(struct cgroup_manager *m, pid_t pid, struct berth_error *err)
{
	char val[32];
	snprintf(val, sizeof(val), "%d", (int) pid);
	for (size_t i = 0; i < m->n_h; i++) {
		int rc = cg_write(&m->h[i], "cgroup.procs", val, "cgroup", err);
		if (rc < 0) {
			berth_error_prefix(err, "moving pid %d into %s", (int) pid, m->path);
			return rc;
		}
	}
	return 0;
}

int cgroup_update(struct cgroup_manager *m, const struct spec_resources *r, struct berth_error *err)
{
	struct cg_hier *v2 = cg_v2(m);
	if (r && v2) {
		uint32_t want = 0, wanted = wanted_ctrls(r);
		for (int k = 0; k < CG__MAX; k++)
			if ((wanted & CG_BIT(k)) && cg_ctrl_hier(m, (enum cg_ctrl) k) == v2)
				want |= CG_BIT(k);
		int rc = cg_v2_enable_controllers(v2, m->path, want, 0, err);
		if (rc < 0)
			return rc;
	}
	return apply(m, r, err);
}

/* --- freeze / kill / pids ------------------------------------------------ */

static struct cg_hier *v2_freezer(struct cgroup_manager *m)
{
	struct cg_hier *v2 = cg_v2(m);
	return v2 && cg_has_file(v2, "cgroup.freeze") ? v2 : NULL;
}

static struct cg_hier *v1_freezer(struct cgroup_manager *m)
{
	for (size_t i = 0; i < m->n_h; i++)
		if (!m->h[i].v2 && (m->h[i].ctrls & CG_BIT(CG_FREEZER)))
			return &m->h[i];
	return NULL;
}

int cgroup_freeze(struct cgroup_manager *m, bool freeze, struct berth_error *err)
{
	struct cg_hier *v2 = v2_freezer(m), *v1 = v1_freezer(m);
	int rc;
	if (!v2 && !v1)
		return berth_err(err, ENOTSUP, "cgroup %s: no freezer on this host (neither cgroup.freeze "
				 "nor a v1 freezer hierarchy)", m->path);
	if (freeze)
		return v2 ? cg_v2_freeze(v2, true, err) : cg_v1_freeze(v1, true, err);
	/* Thaw whatever holds it: a container paused by an older berth or
	 * another tool may sit in either freezer. */
	if (v2 && (rc = cg_v2_freeze(v2, false, err)) < 0)
		return rc;
	if (v1) {
		bool frozen = true;
		if (!v2 || cg_v1_is_frozen(v1, &frozen) < 0 || frozen)
			if ((rc = cg_v1_freeze(v1, false, err)) < 0)
				return rc;
	}
	return 0;
}

int cgroup_is_frozen(struct cgroup_manager *m, bool *frozen)
{
	struct cg_hier *v2 = v2_freezer(m), *v1 = v1_freezer(m);
	bool f = false;
	int rc = -ENOTSUP;
	if (v2) {
		bool x = false;
		if ((rc = cg_v2_is_frozen(v2, &x)) < 0)
			return rc;
		f |= x;
	}
	if (v1) {
		bool x = false;
		if ((rc = cg_v1_is_frozen(v1, &x)) < 0)
			return rc;
		f |= x;
	}
	if (rc == -ENOTSUP)
		return rc;
	*frozen = f;
	return 0;
}

/* Where the process list is read: the cgroup2 part sees every process on
 * hybrid hosts too; on v1 any hierarchy does, the freezer preferred. */
static struct cg_hier *procs_hier(struct cgroup_manager *m)
{
	struct cg_hier *h = cg_v2(m);
	if (h)
		return h;
	if ((h = v1_freezer(m)))
		return h;
	for (size_t i = 0; i < m->n_h; i++)
		if (!m->h[i].name)
			return &m->h[i];
	return m->n_h ? &m->h[0] : NULL;
}

struct pidvec {
	pid_t *v;
	size_t n, cap;
};

static int pidvec_add(struct pidvec *p, pid_t pid)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i] == pid)
			return 0;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		pid_t *n = realloc(p->v, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		p->v = n;
		p->cap = cap;
	}
	p->v[p->n++] = pid;
	return 0;
}

static int collect_pids(int dfd, const char *path, struct pidvec *p, int depth, struct berth_error *err)
{
	_cleanup_free_ char *s = NULL;
	size_t len;
	int rc = berth_read_file_at(dfd, "cgroup.procs", &s, &len);
	if (rc == -ENOENT || rc == -ENODEV)
		return 0; /* removed under us */
	if (rc < 0)
		return berth_errno(err, rc, "cgroup: reading %s/cgroup.procs", path);
	for (char *t = strtok(s, "\n"); t; t = strtok(NULL, "\n"))
		if ((rc = pidvec_add(p, (pid_t) atoi(t))) < 0)
			return berth_err(err, ENOMEM, "cgroup: out of memory");
	if (depth > 64)
		return 0;
	int lfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lfd < 0)
		return berth_errno(err, errno, "cgroup: opening %s", path);
	_cleanup_closedir_ DIR *d = fdopendir(lfd);
	if (!d) {
		close(lfd);
		return berth_errno(err, errno, "cgroup: listing %s", path);
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		_cleanup_close_ int sub = openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sub < 0)
			continue;
		char subpath[PATH_MAX];
		snprintf(subpath, sizeof(subpath), "%s/%s", path, de->d_name);
		if ((rc = collect_pids(sub, subpath, p, depth + 1, err)) < 0)
			return rc;
	}
	return 0;
}

int cgroup_pids(struct cgroup_manager *m, pid_t **pids, size_t *n, struct berth_error *err)
{
	struct cg_hier *h = procs_hier(m);
	struct pidvec p = { 0 };
	if (!h)
		return berth_err(err, ENOENT, "cgroup %s: no hierarchy", m->path);
	int dfd = cg_dirfd(h);
	if (dfd < 0)
		return berth_errno(err, dfd, "cgroup: opening %s", h->dir);
	int rc = collect_pids(dfd, h->dir, &p, 0, err);
	if (rc < 0) {
		free(p.v);
		return rc;
	}
	*pids = p.v;
	*n = p.n;
	return 0;
}

static int signal_pids(struct cgroup_manager *m, int sig, struct berth_error *err)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	int rc = cgroup_pids(m, &pids, &n, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (pids[i] > 0 && kill(pids[i], sig) < 0 && errno != ESRCH)
			return berth_errno(err, errno, "cgroup %s: sending signal %d to pid %d", m->path, sig,
					   (int) pids[i]);
	return 0;
}

int cgroup_kill_all(struct cgroup_manager *m, int sig, struct berth_error *err)
{
	int rc;
	if (sig == SIGKILL) {
		struct cg_hier *v2 = cg_v2(m);
		if (v2 && cg_has_file(v2, "cgroup.kill"))
			return cg_v2_kill(v2, err);
	}
	bool was_frozen = false, froze = false;
	if (cgroup_is_frozen(m, &was_frozen) == -ENOTSUP) {
		/* No freezer: signal until no process is left that has not
		 * been signalled, a few rounds at most. */
		for (int round = 0; round < 3; round++)
			if ((rc = signal_pids(m, sig, err)) < 0)
				return rc;
		return 0;
	}
	if (!was_frozen) {
		if ((rc = cgroup_freeze(m, true, err)) < 0)
			return rc;
		froze = true;
	}
	rc = signal_pids(m, sig, err);
	/* A killed process in a frozen cgroup only dies once thawed, so a
	 * SIGKILL always thaws; other signals keep a paused container paused. */
	if (froze || sig == SIGKILL) {
		struct berth_error terr = { 0 };
		int trc = cgroup_freeze(m, false, rc < 0 ? &terr : err);
		if (rc == 0)
			rc = trc;
	}
	return rc;
}

/* --- destroy ------------------------------------------------------------- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* rmdir dir after its sub-cgroups, retrying while the kernel says busy:
 * the last task may have exited without its cgroup membership being
 * released yet. */
static int rm_cgroup(const char *dir, int depth, struct berth_error *err)
{
	if (depth < 64) {
		_cleanup_closedir_ DIR *d = opendir(dir);
		if (!d) {
			if (errno == ENOENT)
				return 0;
			return berth_errno(err, errno, "cgroup: opening %s", dir);
		}
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			char sub[PATH_MAX];
			if (snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= (int) sizeof(sub))
				return berth_err(err, ENAMETOOLONG, "cgroup: %s/%s is too long", dir, de->d_name);
			int rc = rm_cgroup(sub, depth + 1, err);
			if (rc < 0)
				return rc;
		}
	}
	unsigned delay = 1, waited = 0;
	for (;;) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY || waited >= 2000)
			return berth_errno(err, errno, "cgroup: removing %s", dir);
		sleep_ms(delay);
		waited += delay;
		delay = delay < 64 ? delay * 2 : 64;
	}
}

int cgroup_destroy(struct cgroup_manager *m, struct berth_error *err)
{
	int first = 0;
	for (size_t i = 0; i < m->n_h; i++) {
		struct cg_hier *h = &m->h[i];
		if (h->dirfd >= 0) {
			close(h->dirfd);
			h->dirfd = -1;
		}
		/* Keep going on errors so one busy hierarchy does not leave the
		 * others behind; report the first. */
		int rc = rm_cgroup(h->dir, 0, err);
		if (rc < 0 && first == 0)
			first = rc;
	}
	return first;
}

/* --- stats ---------------------------------------------------------------- */

int cg_json_u64(json_t *obj, const char *key, uint64_t value, bool omit_zero)
{
	if (omit_zero && value == 0)
		return 0;
	/* JSON integers here are signed 64-bit; "unlimited" saturates. */
	json_int_t v = value > (uint64_t) INT64_MAX ? INT64_MAX : (json_int_t) value;
	return json_object_set_new(obj, key, json_integer(v)) == 0 ? 0 : -ENOMEM;
}

int cg_json_flat_keyed(struct cg_hier *h, const char *file, json_t *obj)
{
	_cleanup_free_ char *s = NULL;
	int rc = cg_read(h, file, &s);
	if (rc < 0)
		return rc;
	char *save = NULL;
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		uint64_t v;
		if (!sp)
			continue;
		*sp = '\0';
		if (parse_u64(sp + 1, &v) < 0)
			continue;
		if (cg_json_u64(obj, line, v, false) < 0)
			return -ENOMEM;
	}
	return 0;
}

static json_t *id_list_json(const char *list)
{
	uint8_t bits[CG_MAX_IDS / 8] = { 0 };
	json_t *a = json_array();
	if (!a || !parse_id_list(list, bits))
		return a;
	for (unsigned i = 0; i < CG_MAX_IDS; i++)
		if (bits[i / 8] & (1u << (i % 8)))
			json_array_append_new(a, json_integer(i));
	return a;
}

static void cpuset_stats(struct cg_hier *h, json_t *o)
{
	static const struct {
		const char *file, *key;
	} flags[] = {
		{ "cpuset.cpu_exclusive", "cpu_exclusive" },
		{ "cpuset.mem_hardwall", "mem_hardwall" },
		{ "cpuset.mem_exclusive", "mem_exclusive" },
		{ "cpuset.memory_migrate", "memory_migrate" },
		{ "cpuset.memory_spread_page", "memory_spread_page" },
		{ "cpuset.memory_spread_slab", "memory_spread_slab" },
		{ "cpuset.memory_pressure", "memory_pressure" },
		{ "cpuset.sched_load_balance", "sched_load_balance" },
	};
	const char *cpus = h->v2 ? "cpuset.cpus.effective" : "cpuset.cpus";
	const char *mems = h->v2 ? "cpuset.mems.effective" : "cpuset.mems";
	_cleanup_free_ char *c = NULL, *mm = NULL;
	if (cg_read(h, cpus, &c) == 0 && c[0] && c[0] != '\n')
		json_object_set_new(o, "cpus", id_list_json(c));
	if (cg_read(h, mems, &mm) == 0 && mm[0] && mm[0] != '\n')
		json_object_set_new(o, "mems", id_list_json(mm));
	for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
		uint64_t v = 0;
		if (!h->v2)
			cg_read_u64(h, flags[i].file, &v);
		cg_json_u64(o, flags[i].key, v, false);
	}
}

int cgroup_stats_json(struct cgroup_manager *m, char **json, struct berth_error *err)
{
	json_t *data = json_object();
	json_t *cpu = json_object(), *cpuset = json_object(), *mem = json_object(), *pids = json_object(),
	       *blkio = json_object(), *huge = json_object();
	if (!data || !cpu || !cpuset || !mem || !pids || !blkio || !huge) {
		json_decref(data);
		json_decref(cpu);
		json_decref(cpuset);
		json_decref(mem);
		json_decref(pids);
		json_decref(blkio);
		json_decref(huge);
		return berth_err(err, ENOMEM, "cgroup stats: out of memory");
	}
	json_object_set_new(data, "cpu", cpu);
	json_object_set_new(data, "cpuset", cpuset);
	json_object_set_new(data, "memory", mem);
	json_object_set_new(data, "pids", pids);
	json_object_set_new(data, "blkio", blkio);
	json_object_set_new(data, "hugetlb", huge);
	int rc = 0;

	struct cg_hier *acct = cg_ctrl_hier(m, CG_CPUACCT), *cpuh = cg_ctrl_hier(m, CG_CPU);
	if (acct && acct->v2)
		rc = cg_v2_stats_cpu(acct, cpu);
	else if (acct || cpuh)
		rc = cg_v1_stats_cpu(cpuh && !cpuh->v2 ? cpuh : NULL, acct, cpu);
	struct cg_hier *h;
	if (rc == 0 && (h = cg_ctrl_hier(m, CG_CPUSET)))
		cpuset_stats(h, cpuset);
	if (rc == 0 && (h = cg_ctrl_hier(m, CG_MEMORY)))
		rc = h->v2 ? cg_v2_stats_memory(h, mem) : cg_v1_stats_memory(h, mem);
	if (rc == 0 && (h = cg_ctrl_hier(m, CG_PIDS))) {
		uint64_t cur = 0, max = 0;
		cg_read_u64(h, "pids.current", &cur);
		if (cg_read_u64(h, "pids.max", &max) < 0 || max == UINT64_MAX)
			max = 0; /* runc reports no limit as 0 */
		if (cg_json_u64(pids, "current", cur, true) < 0 || cg_json_u64(pids, "limit", max, true) < 0)
			rc = -ENOMEM;
	}
	if (rc == 0 && (h = cg_ctrl_hier(m, CG_BLKIO)))
		rc = h->v2 ? cg_v2_stats_io(h, blkio) : cg_v1_stats_blkio(h, blkio);
	if (rc == 0 && (h = cg_ctrl_hier(m, CG_HUGETLB)))
		rc = cg_stats_hugetlb(h, huge);
	if (rc < 0 && rc != -ENOENT) {
		json_decref(data);
		return berth_errno(err, rc, "cgroup %s: reading stats", m->path);
	}
	*json = json_dumps(data, JSON_COMPACT);
	json_decref(data);
	if (!*json)
		return berth_err(err, ENOMEM, "cgroup stats: out of memory");
	return 0;
}

int cgroup_oom_kills(struct cgroup_manager *m, uint64_t *count)
{
	struct cg_hier *h = cg_ctrl_hier(m, CG_MEMORY);
	if (!h)
		return -ENOENT;
	if (h->v2)
		return cg_read_key(h, "memory.events", "oom_kill", count);
	return cg_read_key(h, "memory.oom_control", "oom_kill", count);
}

/* --- persistence ------------------------------------------------------------ */

static const char *mode_name(enum cgroup_mode mode)
{
	return mode == CGROUP_MODE_V2 ? "v2" : mode == CGROUP_MODE_HYBRID ? "hybrid" : "v1";
}

char *cgroup_manager_serialize(const struct cgroup_manager *m)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s}", "version", 1, "mode", mode_name(m->mode),
			      "fs_root", m->fs_root, "path", m->path, "sysfs_root", m->sysfs_root);
	json_t *hs = json_array();
	if (!o || !hs || json_object_set_new(o, "hierarchies", hs) < 0) {
		json_decref(o);
		return NULL;
	}
	for (size_t i = 0; i < m->n_h; i++) {
		const struct cg_hier *h = &m->h[i];
		json_t *ctrls = json_array();
		json_t *jh = json_pack("{s:s, s:b, s:o}", "mount", h->mount, "v2", h->v2, "controllers", ctrls);
		if (!jh || json_array_append_new(hs, jh) < 0) {
			json_decref(o);
			return NULL;
		}
		if (h->name)
			json_object_set_new(jh, "name", json_string(h->name));
		for (int c = 0; c < CG__MAX; c++) {
			if (!(h->ctrls & CG_BIT(c)))
				continue;
			const char *n = h->v2 && cg_ctrl_v2_name(c) ? cg_ctrl_v2_name(c) : cg_ctrl_v1_name(c);
			json_array_append_new(ctrls, json_string(n));
		}
	}
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

int cgroup_manager_deserialize(const char *json, struct cgroup_manager **out, struct berth_error *err)
{
	json_error_t jerr;
	json_t *o = json_loads(json, 0, &jerr);
	if (!o)
		return berth_err(err, EINVAL, "cgroup state: line %d: %s", jerr.line, jerr.text);
	int rc = -EINVAL;
	struct cgroup_manager *m = NULL;
	const char *mode, *fs_root, *path, *sysfs;
	json_t *hs;
	int version;
	if (json_unpack(o, "{s:i, s:s, s:s, s:s, s:s, s:o}", "version", &version, "mode", &mode,
			"fs_root", &fs_root, "path", &path, "sysfs_root", &sysfs, "hierarchies", &hs) < 0 ||
	    version != 1 || !json_is_array(hs)) {
		rc = berth_err(err, EINVAL, "cgroup state: unexpected layout");
		goto out;
	}
	if (!(m = calloc(1, sizeof(*m))))
		goto nomem;
	m->v2_idx = -1;
	m->mode = !strcmp(mode, "v2") ? CGROUP_MODE_V2 : !strcmp(mode, "hybrid") ? CGROUP_MODE_HYBRID
										 : CGROUP_MODE_V1;
	if (!(m->fs_root = strdup(fs_root)) || !(m->sysfs_root = strdup(sysfs)))
		goto nomem;
	if ((rc = normalize_path(path, &m->path, err)) < 0)
		goto out;
	size_t i;
	json_t *jh;
	json_array_foreach(hs, i, jh) {
		const char *mount, *name = NULL;
		int v2 = 0;
		json_t *ctrls;
		if (json_unpack(jh, "{s:s, s:b, s:o, s?:s}", "mount", &mount, "v2", &v2, "controllers", &ctrls,
				"name", &name) < 0 || !json_is_array(ctrls)) {
			rc = berth_err(err, EINVAL, "cgroup state: hierarchies[%zu]: unexpected layout", i);
			goto out;
		}
		uint32_t bits = 0;
		size_t j;
		json_t *c;
		json_array_foreach(ctrls, j, c) {
			int k = json_is_string(c) ? cg_ctrl_from_name(json_string_value(c)) : -1;
			if (k >= 0)
				bits |= CG_BIT(k);
		}
		if (v2)
			bits |= CG_V2_BUILTIN;
		if (add_hier(m, mount, bits, name, v2) < 0)
			goto nomem;
	}
	*out = steal_ptr(m);
	rc = 0;
	goto out;
nomem:
	rc = berth_err(err, ENOMEM, "cgroup state: out of memory");
out:
	cgroup_manager_free(m);
	json_decref(o);
	return rc;
}

/* The procs file of this process's own cgroup in one mounted hierarchy:
 * the v2 one ("0::/path", at /sys/fs/cgroup or /sys/fs/cgroup/unified),
 * else the v1 pids hierarchy. */
static int own_procs_path(char *out, size_t len)
{
	_cleanup_free_ char *buf = NULL;
	if (berth_read_file("/proc/self/cgroup", &buf, NULL) < 0)
		return -1;
	const char *v2 = NULL, *pids = NULL;
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (!strncmp(line, "0::", 3))
			v2 = line + 3;
		else {
			char *c = strchr(line, ':');
			char *p = c ? strchr(c + 1, ':') : NULL;
			if (p && (size_t) (p - c - 1) == 4 && !strncmp(c + 1, "pids", 4))
				pids = p + 1;
		}
		line = nl ? nl + 1 : NULL;
	}
	struct stat st;
	if (v2) {
		if (stat("/sys/fs/cgroup/unified/cgroup.procs", &st) == 0)
			snprintf(out, len, "/sys/fs/cgroup/unified%s/cgroup.procs", v2);
		else
			snprintf(out, len, "/sys/fs/cgroup%s/cgroup.procs", v2);
		if (stat(out, &st) == 0)
			return 0;
	}
	if (pids) {
		snprintf(out, len, "/sys/fs/cgroup/pids%s/cgroup.procs", pids);
		if (stat(out, &st) == 0)
			return 0;
	}
	return -1;
}

void cgroup_prewarm_migration(void)
{
	char path[PATH_MAX];
	if (own_procs_path(path, sizeof(path)) < 0)
		return;
	pid_t child = fork();
	if (child < 0)
		return;
	if (child == 0) {
		/* Double fork: the runtime reaps the child at once and never
		 * waits for the grandchild, which holds none of our fds (so no
		 * pipe of the caller stays open while it sleeps in the kernel). */
		if (fork() != 0)
			_exit(0);
		syscall(SYS_close_range, 0U, ~0U, 0U);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			(void) !write(fd, "0\n", 2);
			close(fd);
		}
		_exit(0);
	}
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
}
