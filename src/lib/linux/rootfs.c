#include "linux/rootfs.h"
#include "linux/devices.h"
#include "linux/procfs.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef ST_NOSYMFOLLOW
#define ST_NOSYMFOLLOW 0x2000
#endif

/* Flags that belong to one mount (mount_setattr can change them). */
#define MS_PER_MOUNT (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | \
		      MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME | MS_NOSYMFOLLOW)
#define MS_ATIME_MODES (MS_NOATIME | MS_RELATIME | MS_STRICTATIME)
/* Superblock flags a new filesystem instance takes as fsconfig flags. */
#define MS_SB_FLAGS (MS_SYNCHRONOUS | MS_DIRSYNC | MS_LAZYTIME | MS_MANDLOCK)
/* Flags only mount(2) can express for a new superblock. */
#define MS_LEGACY_ONLY (MS_I_VERSION | MS_SILENT)
#define MS_PROPAGATION (MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE)

/* "/proc/self/fd/N" as a value, so it can be used inline in a call. */
struct fdpath {
	char s[40];
};

static struct fdpath fdpath(int fd)
{
	struct fdpath p;
	snprintf(p.s, sizeof(p.s), "/proc/self/fd/%d", fd);
	return p;
}

/* fsopen(NULL) faults when the call exists.  mount_setattr is probed too:
 * Linux 5.2-5.11 have fsopen but not it, and the fd-based path needs both.
 * EPERM counts as absent: a seccomp filter that blocks the calls. */
static bool kernel_has_new_mount_api(void)
{
	long r = syscall(SYS_fsopen, NULL, 0);
	if (r >= 0)
		close((int) r);
	else if (errno == ENOSYS || errno == EPERM)
		return false;
	r = syscall(SYS_mount_setattr, -1, NULL, 0, NULL, (size_t) 0);
	return !(r < 0 && (errno == ENOSYS || errno == EPERM));
}

static bool selinux_active(void)
{
	struct statfs sfs;
	return statfs("/sys/fs/selinux", &sfs) == 0 && sfs.f_type == SELINUX_MAGIC;
}

static bool cfg_has_new_ns(const struct spec_config *cfg, int type)
{
	if (!cfg->linux_)
		return false;
	for (size_t i = 0; i < cfg->linux_->n_namespaces; i++)
		if (cfg->linux_->namespaces[i].type == type)
			return true;
	return false;
}

/* a is b or lies below it (both canonical absolute paths). */
static bool path_under(const char *a, const char *b)
{
	size_t n = strlen(b);
	while (n > 1 && b[n - 1] == '/')
		n--;
	if (n == 1 && b[0] == '/')
		return a[0] == '/';
	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

/* Does a mount destination name the single top-level entry `want`
 * ("/dev", "dev/", "/./dev")? */
static bool dest_is(const char *dest, const char *want)
{
	const char *p = dest;
	for (;;) {
		while (*p == '/')
			p++;
		if (p[0] == '.' && (p[1] == '/' || p[1] == '\0')) {
			p++;
			continue;
		}
		break;
	}
	size_t n = strlen(want);
	if (strncmp(p, want, n) != 0)
		return false;
	p += n;
	while (*p == '/')
		p++;
	return *p == '\0';
}

/* ---------------------------------------------------------------- mountinfo */

struct minfo {
	int id, parent;
	char *root, *mnt, *opts, *optional, *fstype, *source, *superopts;
};

struct mtab {
	struct minfo *e;
	size_t n;
	char *buf;
};

static void mtab_free(struct mtab *t)
{
	free(t->e);
	free(t->buf);
	t->e = NULL;
	t->buf = NULL;
	t->n = 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *w = s;
	for (const char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

static char *next_token(char **p)
{
	char *s = *p;
	while (*s == ' ')
		s++;
	if (!*s) {
		*p = s;
		return NULL;
	}
	char *e = strchr(s, ' ');
	if (e) {
		*e = '\0';
		*p = e + 1;
	} else {
		*p = s + strlen(s);
	}
	return s;
}

static int mtab_load(struct mtab *t)
{
	memset(t, 0, sizeof(*t));
	size_t len = 0;
	int r = berth_read_file("/proc/self/mountinfo", &t->buf, &len);
	if (r < 0)
		return r;
	size_t lines = 1;
	for (size_t i = 0; i < len; i++)
		lines += t->buf[i] == '\n';
	t->e = calloc(lines, sizeof(*t->e));
	if (!t->e) {
		mtab_free(t);
		return -ENOMEM;
	}
	char *save = NULL;
	for (char *line = strtok_r(t->buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		char *right = sep + 3;
		struct minfo *m = &t->e[t->n];
		char *p = line;
		char *id = next_token(&p), *parent = next_token(&p), *devno = next_token(&p);
		m->root = next_token(&p);
		m->mnt = next_token(&p);
		m->opts = next_token(&p);
		if (!id || !parent || !devno || !m->root || !m->mnt || !m->opts)
			continue;
		while (*p == ' ')
			p++;
		m->optional = p;
		char *q = right;
		m->fstype = next_token(&q);
		m->source = next_token(&q);
		m->superopts = next_token(&q);
		if (!m->fstype)
			continue;
		if (!m->source)
			m->source = (char *) "";
		if (!m->superopts)
			m->superopts = (char *) "";
		m->id = atoi(id);
		m->parent = atoi(parent);
		unescape_octal(m->root);
		unescape_octal(m->mnt);
		unescape_octal(m->source);
		t->n++;
	}
	return 0;
}

/* Is `word` one of the comma-separated items of `list`? */
static bool list_has(const char *list, const char *word, size_t wlen)
{
	const char *p = list;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t) (e - p) : strlen(p);
		if (n == wlen && strncmp(p, word, n) == 0)
			return true;
		if (!e)
			break;
		p = e + 1;
	}
	return false;
}

/* ------------------------------------------------------------ mount options */

/* The atime mode a set of MS_* options selects.  Clearing one mode alone
 * ("atime", "nostrictatime") means the kernel default, relatime; clearing
 * relatime ("norelatime") means strictatime, as the recursive forms do. */
static bool atime_mode(unsigned long set, unsigned long clr, uint64_t *mode)
{
	if (set & MS_STRICTATIME)
		*mode = MOUNT_ATTR_STRICTATIME;
	else if (set & MS_NOATIME)
		*mode = MOUNT_ATTR_NOATIME;
	else if (set & MS_RELATIME)
		*mode = MOUNT_ATTR_RELATIME;
	else if (clr & MS_RELATIME)
		*mode = MOUNT_ATTR_STRICTATIME;
	else if (clr & (MS_NOATIME | MS_STRICTATIME))
		*mode = MOUNT_ATTR_RELATIME;
	else
		return false;
	return true;
}

static void attrs_from_flags(unsigned long set, unsigned long clr, uint64_t *aset, uint64_t *aclr)
{
	static const struct {
		unsigned long ms;
		uint64_t attr;
	} map[] = {
		{ MS_RDONLY, MOUNT_ATTR_RDONLY },
		{ MS_NOSUID, MOUNT_ATTR_NOSUID },
		{ MS_NODEV, MOUNT_ATTR_NODEV },
		{ MS_NOEXEC, MOUNT_ATTR_NOEXEC },
		{ MS_NODIRATIME, MOUNT_ATTR_NODIRATIME },
		{ MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW },
	};
	*aset = *aclr = 0;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		if (set & map[i].ms)
			*aset |= map[i].attr;
		else if (clr & map[i].ms)
			*aclr |= map[i].attr;
	}
	uint64_t mode;
	if (atime_mode(set, clr, &mode)) {
		*aclr |= MOUNT_ATTR__ATIME;
		*aset |= mode;
	}
}

static int setattr_fd(int fd, unsigned int flags, uint64_t set, uint64_t clr)
{
	if (set & MOUNT_ATTR__ATIME)
		clr |= MOUNT_ATTR__ATIME;
	struct mount_attr a = { .attr_set = set, .attr_clr = clr };
	return mount_setattr(fd, "", AT_EMPTY_PATH | flags, &a, sizeof(a)) < 0 ? -errno : 0;
}

static unsigned long statvfs_to_ms(unsigned long f)
{
	static const struct {
		unsigned long st, ms;
	} map[] = {
		{ ST_RDONLY, MS_RDONLY }, { ST_NOSUID, MS_NOSUID }, { ST_NODEV, MS_NODEV },
		{ ST_NOEXEC, MS_NOEXEC }, { ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME },
		{ ST_RELATIME, MS_RELATIME }, { ST_NOSYMFOLLOW, MS_NOSYMFOLLOW },
	};
	unsigned long ms = 0;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (f & map[i].st)
			ms |= map[i].ms;
	return ms;
}

/* mount(2) bind-remount of the mount at fd (or `path`) with per-mount flags
 * set/cleared and every other flag it has kept: a bind remount replaces
 * them all, and in a user namespace dropping a locked one is refused. */
static int legacy_bind_remount(int fd, const char *path, unsigned long set, unsigned long clr)
{
	set &= MS_PER_MOUNT;
	clr &= MS_PER_MOUNT;
	if (!set && !clr)
		return 0;
	struct statvfs sv;
	if (fstatvfs(fd, &sv) < 0)
		return -errno;
	unsigned long cur = statvfs_to_ms(sv.f_flag);
	unsigned long nf = (cur & ~MS_ATIME_MODES & ~clr) | (set & ~MS_ATIME_MODES);
	uint64_t mode;
	if (atime_mode(set, clr, &mode))
		nf |= mode == MOUNT_ATTR_NOATIME ? MS_NOATIME :
		      mode == MOUNT_ATTR_STRICTATIME ? MS_STRICTATIME : MS_RELATIME;
	else if (cur & (MS_NOATIME | MS_RELATIME))
		nf |= cur & (MS_NOATIME | MS_RELATIME);
	else
		nf |= MS_STRICTATIME;
	if (mount(NULL, path ? path : fdpath(fd).s, NULL, MS_BIND | MS_REMOUNT | nf, NULL) < 0)
		return -errno;
	return 0;
}

static int set_propagation(bool new_api, int fd, unsigned long prop)
{
	if (!(prop & MS_PROPAGATION))
		return 0;
	if (new_api) {
		struct mount_attr a = { .propagation = prop & MS_PROPAGATION };
		unsigned int flags = AT_EMPTY_PATH | ((prop & MS_REC) ? AT_RECURSIVE : 0);
		return mount_setattr(fd, "", flags, &a, sizeof(a)) < 0 ? -errno : 0;
	}
	return mount(NULL, fdpath(fd).s, NULL, prop & (MS_PROPAGATION | MS_REC), NULL) < 0 ? -errno : 0;
}

static const char *propagation_name(unsigned long p)
{
	bool rec = p & MS_REC;
	if (p & MS_SHARED)
		return rec ? "rshared" : "shared";
	if (p & MS_SLAVE)
		return rec ? "rslave" : "slave";
	if (p & MS_PRIVATE)
		return rec ? "rprivate" : "private";
	if (p & MS_UNBINDABLE)
		return rec ? "runbindable" : "unbindable";
	return "none";
}

/* ------------------------------------------------------ filesystem contexts */

/* The messages the kernel left in an fs context ("e tmpfs: Bad value for
 * 'size'"), joined with "; ". */
static void fs_log_read(int fsfd, char *out, size_t outlen)
{
	size_t len = 0;
	out[0] = '\0';
	for (int i = 0; i < 16; i++) {
		char line[512];
		ssize_t n = read(fsfd, line, sizeof(line) - 1);
		if (n <= 0)
			break;
		line[n] = '\0';
		while (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		const char *msg = line;
		if ((msg[0] == 'e' || msg[0] == 'w' || msg[0] == 'i') && msg[1] == ' ')
			msg += 2;
		int w = snprintf(out + len, outlen - len, "%s%s", len ? "; " : "", msg);
		if (w < 0 || (size_t) w >= outlen - len)
			break;
		len += (size_t) w;
	}
}

static int fs_error(struct berth_error *err, int code, int fsfd, const char *type, const char *opt)
{
	char log[512];
	fs_log_read(fsfd, log, sizeof(log));
	if (opt && *log)
		return berth_err(err, code, "mount %s: %s (option %s: %s)", type, strerror(code), opt, log);
	if (opt)
		return berth_err(err, code, "mount %s: %s (option %s)", type, strerror(code), opt);
	if (*log)
		return berth_err(err, code, "mount %s: %s (%s)", type, strerror(code), log);
	return berth_err(err, code, "mount %s: %s", type, strerror(code));
}

/* Hand "a=b,c" to an fs context one option at a time.  Commas inside double
 * quotes do not split (SELinux contexts have them); the quotes go. */
static int fs_set_options(int fsfd, const char *type, const char *data, struct berth_error *err)
{
	if (!data || !*data)
		return 0;
	_cleanup_free_ char *copy = strdup(data);
	if (!copy)
		return berth_err(err, ENOMEM, "mount %s: out of memory", type);
	char *p = copy;
	while (*p) {
		char *start = p;
		bool quoted = false;
		while (*p && (quoted || *p != ',')) {
			if (*p == '"')
				quoted = !quoted;
			p++;
		}
		if (*p)
			*p++ = '\0';
		if (!*start)
			continue;
		char opt[1024];
		snprintf(opt, sizeof(opt), "%s", start);
		char *eq = strchr(start, '=');
		int r;
		if (eq) {
			*eq = '\0';
			char *val = eq + 1;
			size_t vl = strlen(val);
			if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
				val[vl - 1] = '\0';
				val++;
			}
			r = fsconfig(fsfd, FSCONFIG_SET_STRING, start, val, 0);
		} else {
			r = fsconfig(fsfd, FSCONFIG_SET_FLAG, start, NULL, 0);
		}
		if (r < 0)
			return fs_error(err, errno, fsfd, type, opt);
	}
	return 0;
}

/* --------------------------------------------------------------- tmpcopyup */

static int copy_meta(int dirfd, const char *name, const struct stat *st, bool symlink, struct berth_error *err,
		     const char *rel)
{
	if (fchownat(dirfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return berth_errno(err, errno, "tmpcopyup: chown %s", rel);
	if (!symlink && fchmodat(dirfd, name, st->st_mode & 07777, 0) < 0)
		return berth_errno(err, errno, "tmpcopyup: chmod %s", rel);
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return berth_errno(err, errno, "tmpcopyup: set times of %s", rel);
	return 0;
}

static int copy_file_data(int in, int out)
{
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)
			break;
		return -errno;
	}
	char buf[65536];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		int r = berth_write_all(out, buf, (size_t) n);
		if (r < 0)
			return r;
	}
}

/* Copy the entries of directory src into directory dst without following a
 * single symlink: every name is one component opened with O_NOFOLLOW
 * relative to its parent's fd. */
static int copy_dir(int src, int dst, const char *rel, int depth, struct berth_error *err)
{
	if (depth > 128)
		return berth_err(err, ELOOP, "tmpcopyup: %s: directory tree too deep", rel);
	int sfd = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0)
		return berth_errno(err, errno, "tmpcopyup: open %s", rel);
	_cleanup_closedir_ DIR *d = fdopendir(sfd);
	if (!d) {
		close(sfd);
		return berth_errno(err, errno, "tmpcopyup: read %s", rel);
	}
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		char sub[PATH_MAX];
		snprintf(sub, sizeof(sub), "%s/%s", rel, name);
		struct stat st;
		if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return berth_errno(err, errno, "tmpcopyup: stat %s", sub);
		int r = 0;
		if (S_ISDIR(st.st_mode)) {
			if (mkdirat(dst, name, 0700) < 0)
				return berth_errno(err, errno, "tmpcopyup: mkdir %s", sub);
			_cleanup_close_ int s2 = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			_cleanup_close_ int d2 = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s2 < 0 || d2 < 0)
				return berth_errno(err, errno, "tmpcopyup: open %s", sub);
			r = copy_dir(s2, d2, sub, depth + 1, err);
		} else if (S_ISREG(st.st_mode)) {
			_cleanup_close_ int in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (in < 0)
				return berth_errno(err, errno, "tmpcopyup: open %s", sub);
			_cleanup_close_ int out = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (out < 0)
				return berth_errno(err, errno, "tmpcopyup: create %s", sub);
			r = copy_file_data(in, out);
			if (r < 0)
				return berth_errno(err, -r, "tmpcopyup: copy %s", sub);
		} else if (S_ISLNK(st.st_mode)) {
			size_t cap = (size_t) st.st_size + 2;
			_cleanup_free_ char *target = malloc(cap);
			if (!target)
				return berth_err(err, ENOMEM, "tmpcopyup: %s: out of memory", sub);
			ssize_t n = readlinkat(src, name, target, cap - 1);
			if (n < 0)
				return berth_errno(err, errno, "tmpcopyup: readlink %s", sub);
			target[n] = '\0';
			if (symlinkat(target, dst, name) < 0)
				return berth_errno(err, errno, "tmpcopyup: symlink %s", sub);
		} else {
			if (mknodat(dst, name, st.st_mode, st.st_rdev) < 0)
				return berth_errno(err, errno, "tmpcopyup: mknod %s", sub);
		}
		if (r < 0)
			return r;
		r = copy_meta(dst, name, &st, S_ISLNK(st.st_mode), err, sub);
		if (r < 0)
			return r;
	}
	if (errno)
		return berth_errno(err, errno, "tmpcopyup: read %s", rel);
	return 0;
}

/* The new tmpfs root takes the covered directory's owner and mode too. */
static int copy_up(int from, int mnt_root, struct berth_error *err)
{
	_cleanup_close_ int to = openat(mnt_root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (to < 0)
		return berth_errno(err, errno, "tmpcopyup: open the new tmpfs");
	int r = copy_dir(from, to, "", 0, err);
	if (r < 0)
		return r;
	struct stat st;
	if (fstat(from, &st) < 0)
		return berth_errno(err, errno, "tmpcopyup: stat the destination");
	if (fchown(to, st.st_uid, st.st_gid) < 0 || fchmod(to, st.st_mode & 07777) < 0)
		return berth_errno(err, errno, "tmpcopyup: set owner and mode of the new tmpfs");
	return 0;
}

/* ------------------------------------------------------------------ idmaps */

static int write_map(int procfd, pid_t pid, const char *file, const struct spec_id_mapping *m, size_t n,
		     struct berth_error *err)
{
	char buf[4096];
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n", m[i].container_id, m[i].host_id,
				 m[i].size);
		if (w < 0 || (size_t) w >= sizeof(buf) - len)
			return berth_err(err, E2BIG, "idmap: too many %s entries", file);
		len += (size_t) w;
	}
	char rel[64];
	snprintf(rel, sizeof(rel), "%d/%s", (int) pid, file);
	return linux_procfs_write(procfd, rel, buf, len, err);
}

/* A user namespace carrying the given mappings, as an fd for
 * MOUNT_ATTR_IDMAP.  A short-lived child unshares it; we write its maps
 * (host ids are ours, so this must run where the host ids mean something:
 * the runtime's own user namespace) and keep a reference to the namespace. */
static int idmap_userns(const struct spec_id_mapping *u, size_t nu, const struct spec_id_mapping *g, size_t ng,
			struct berth_error *err)
{
	int ready[2], hold[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return berth_errno(err, errno, "idmap: pipe");
	if (pipe2(hold, O_CLOEXEC) < 0) {
		int e = errno;
		close(ready[0]);
		close(ready[1]);
		return berth_errno(err, e, "idmap: pipe");
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(ready[0]);
		close(ready[1]);
		close(hold[0]);
		close(hold[1]);
		return berth_errno(err, e, "idmap: fork");
	}
	if (pid == 0) {
		char c = 0;
		close(ready[0]);
		close(hold[1]);
		if (unshare(CLONE_NEWUSER) < 0)
			_exit(1);
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		/* Stay until the parent has its fd: EOF on hold. */
		while (read(hold[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	int r = 0, nsfd = -1;
	char c;
	ssize_t n;
	do
		n = read(ready[0], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		r = berth_err(err, EPERM, "idmap: cannot create a user namespace for the mapping");
	int procfd = -1;
	if (r == 0) {
		procfd = linux_procfs_open(err);
		r = procfd < 0 ? procfd : 0;
	}
	if (r == 0)
		r = write_map(procfd, pid, "uid_map", u, nu, err);
	if (r == 0)
		r = write_map(procfd, pid, "gid_map", g, ng, err);
	if (r == 0) {
		char rel[64];
		snprintf(rel, sizeof(rel), "%d/ns/user", (int) pid);
		nsfd = openat(procfd, rel, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0)
			r = berth_errno(err, errno, "idmap: open /proc/%s", rel);
		else if (ioctl(nsfd, NS_GET_NSTYPE) != CLONE_NEWUSER)
			r = berth_err(err, EINVAL, "idmap: /proc/%s is not a user namespace", rel);
	}
	if (procfd >= 0)
		close(procfd);
	close(ready[0]);
	close(hold[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (r < 0) {
		if (nsfd >= 0)
			close(nsfd);
		return r;
	}
	return nsfd;
}

static int apply_idmap(int tree, int userns_fd, bool recursive)
{
	struct mount_attr a = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t) userns_fd };
	unsigned int flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
	return mount_setattr(tree, "", flags, &a, sizeof(a)) < 0 ? -errno : 0;
}

/* ------------------------------------------------------------ one mount */

struct mctx {
	const struct spec_config *cfg;
	const char *rootfs;     /* canonical host path of the rootfs */
	int rootfd;             /* O_PATH of the rootfs bind mount */
	bool new_api;
	const char *label;      /* SELinux mount label, when SELinux is active */
	bool cgns;              /* the container has its own cgroup namespace */
	struct cg_layout *cg;   /* loaded on the first cgroup mount */
};

struct mreq {
	const char *type;       /* new filesystem's type; NULL for a bind */
	const char *source;
	bool recursive;         /* rbind */
	const char *data;
	unsigned long flags, clear_flags;     /* MS_*: top mount */
	uint64_t attr_set, attr_clr;          /* MOUNT_ATTR_*: whole tree */
	unsigned long propagation;
	int userns_fd;          /* >= 0: idmap with this user namespace */
	bool idmap_recursive;
	bool tmpcopyup;
	const char *label;      /* context= for the new superblock */
	bool label_xattr;       /* label the root inode instead (mqueue) */
};

#define MREQ_INIT { .userns_fd = -1 }

static int make_dest(int droot, const char *dest, bool file, struct berth_error *err)
{
	int fd = file ? berth_mkfile_p_in_root(droot, dest, 0644) : berth_mkdir_p_in_root(droot, dest, 0755);
	if (fd == -ENOTDIR)
		return berth_errno(err, ENOTDIR, "create mount point (a non-directory is in the way)");
	if (fd == -EISDIR)
		return berth_errno(err, EISDIR, "create mount point (the source is a file, the destination a directory)");
	if (fd < 0)
		return berth_errno(err, -fd, "create mount point");
	return fd;
}

static int reopen_dest(int droot, const char *dest, struct berth_error *err)
{
	int fd = berth_open_in_root(droot, dest, O_PATH, 0);
	if (fd < 0)
		return berth_errno(err, -fd, "reopen the mount point");
	return fd;
}

static int recursive_attrs(const struct mctx *c, int fd, const struct mreq *r, struct berth_error *err)
{
	if (!r->attr_set && !r->attr_clr)
		return 0;
	int e = setattr_fd(fd, AT_RECURSIVE, r->attr_set, r->attr_clr);
	if (e == -ENOSYS)
		return berth_err(err, ENOSYS, "recursive mount options (rro, rnosuid, ...) need mount_setattr(2), Linux 5.12");
	if (e < 0)
		return berth_errno(err, -e, "set recursive mount options");
	return 0;
}

/* Clone `source` (a host path) and attach it at dest inside droot.  *out
 * (optional) receives an fd on the new mount's root. */
static int do_bind(const struct mctx *c, const struct mreq *r, int droot, const char *dest, int *out,
		   struct berth_error *err)
{
	uint64_t aset, aclr;
	attrs_from_flags(r->flags, r->clear_flags, &aset, &aclr);
	if (c->new_api) {
		unsigned int otflags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (r->recursive ? AT_RECURSIVE : 0);
		_cleanup_close_ int tree = open_tree(AT_FDCWD, r->source, otflags);
		if (tree < 0)
			return berth_errno(err, errno, "bind %s", r->source);
		struct stat st;
		if (fstat(tree, &st) < 0)
			return berth_errno(err, errno, "bind %s: stat", r->source);
		_cleanup_close_ int dfd = make_dest(droot, dest, !S_ISDIR(st.st_mode), err);
		if (dfd < 0)
			return dfd;
		int e = (aset || aclr) ? setattr_fd(tree, 0, aset, aclr) : 0;
		if (e < 0)
			return berth_errno(err, -e, "bind %s: set mount options", r->source);
		e = recursive_attrs(c, tree, r, err);
		if (e < 0)
			return e;
		if (r->userns_fd >= 0 && (e = apply_idmap(tree, r->userns_fd, r->idmap_recursive)) < 0)
			return berth_errno(err, -e, "bind %s: make the mount idmapped", r->source);
		if (move_mount(tree, "", dfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
			return berth_errno(err, errno, "bind %s", r->source);
		if ((e = set_propagation(true, tree, r->propagation)) < 0)
			return berth_errno(err, -e, "set propagation %s", propagation_name(r->propagation));
		if (out)
			*out = steal_fd(tree);
		return 0;
	}

	struct stat st;
	if (stat(r->source, &st) < 0)
		return berth_errno(err, errno, "bind %s", r->source);
	_cleanup_close_ int dfd = make_dest(droot, dest, !S_ISDIR(st.st_mode), err);
	if (dfd < 0)
		return dfd;
	if (mount(r->source, fdpath(dfd).s, NULL, MS_BIND | (r->recursive ? MS_REC : 0), NULL) < 0)
		return berth_errno(err, errno, "bind %s", r->source);
	_cleanup_close_ int nfd = reopen_dest(droot, dest, err);
	if (nfd < 0)
		return nfd;
	int e = legacy_bind_remount(nfd, NULL, r->flags, r->clear_flags);
	if (e < 0)
		return berth_errno(err, -e, "bind %s: remount with the mount options", r->source);
	if ((e = recursive_attrs(c, nfd, r, err)) < 0)
		return e;
	if (r->userns_fd >= 0)
		return berth_err(err, EOPNOTSUPP, "bind %s: idmapped mounts need open_tree(2) and mount_setattr(2), Linux 5.12",
				 r->source);
	if ((e = set_propagation(false, nfd, r->propagation)) < 0)
		return berth_errno(err, -e, "set propagation %s", propagation_name(r->propagation));
	if (out)
		*out = steal_fd(nfd);
	return 0;
}

/* A new instance of filesystem r->type at dest inside droot.  Read-only is
 * applied last, at mount level, so copy-up can fill it and so a shared
 * superblock (sysfs, cgroupfs) is never made read-only for everyone. */
static int do_fresh(const struct mctx *c, const struct mreq *r, int droot, const char *dest, int *out,
		    struct berth_error *err)
{
	const char *type = r->type;
	_cleanup_close_ int dfd = make_dest(droot, dest, false, err);
	if (dfd < 0)
		return dfd;
	_cleanup_close_ int from = -1;
	if (r->tmpcopyup) {
		from = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (from < 0)
			return berth_errno(err, errno, "tmpcopyup: open the destination");
	}
	uint64_t aset, aclr;
	attrs_from_flags(r->flags, r->clear_flags, &aset, &aclr);
	bool ro = aset & MOUNT_ATTR_RDONLY;
	aset &= ~(uint64_t) MOUNT_ATTR_RDONLY;
	bool new_api = c->new_api && !(r->flags & MS_LEGACY_ONLY);
	_cleanup_close_ int mfd = -1;
	int e;

	if (new_api) {
		_cleanup_close_ int fsfd = fsopen(type, FSOPEN_CLOEXEC);
		if (fsfd < 0 && errno == ENODEV)
			return berth_err(err, ENODEV, "mount %s: unknown filesystem type", type);
		if (fsfd < 0)
			return berth_errno(err, errno, "mount %s", type);
		if (r->source && fsconfig(fsfd, FSCONFIG_SET_STRING, "source", r->source, 0) < 0) {
			char opt[PATH_MAX + 8];
			snprintf(opt, sizeof(opt), "source=%s", r->source);
			return fs_error(err, errno, fsfd, type, opt);
		}
		static const struct {
			unsigned long ms;
			const char *name;
		} sb[] = { { MS_SYNCHRONOUS, "sync" }, { MS_DIRSYNC, "dirsync" },
			   { MS_LAZYTIME, "lazytime" }, { MS_MANDLOCK, "mand" } };
		for (size_t i = 0; i < ARRAY_SIZE(sb); i++)
			if ((r->flags & sb[i].ms) && fsconfig(fsfd, FSCONFIG_SET_FLAG, sb[i].name, NULL, 0) < 0)
				return fs_error(err, errno, fsfd, type, sb[i].name);
		if ((e = fs_set_options(fsfd, type, r->data, err)) < 0)
			return e;
		if (r->label && !r->label_xattr &&
		    fsconfig(fsfd, FSCONFIG_SET_STRING, "context", r->label, 0) < 0)
			return fs_error(err, errno, fsfd, type, "context");
		if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
			return fs_error(err, errno, fsfd, type, NULL);
		mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, (unsigned int) aset);
		if (mfd < 0)
			return fs_error(err, errno, fsfd, type, NULL);
	} else {
		_cleanup_free_ char *data = NULL;
		if (r->label && !r->label_xattr) {
			if (asprintf(&data, "%s%scontext=\"%s\"", r->data ? r->data : "", r->data ? "," : "",
				     r->label) < 0)
				return berth_err(err, ENOMEM, "mount %s: out of memory", type);
		} else if (r->data && !(data = strdup(r->data))) {
			return berth_err(err, ENOMEM, "mount %s: out of memory", type);
		}
		unsigned long fl = r->flags & (MS_PER_MOUNT | MS_SB_FLAGS | MS_LEGACY_ONLY) & ~MS_RDONLY;
		if (mount(r->source, fdpath(dfd).s, type, fl, data) < 0)
			return berth_errno(err, errno, "mount %s", type);
		mfd = reopen_dest(droot, dest, err);
		if (mfd < 0)
			return mfd;
	}

	if ((e = recursive_attrs(c, mfd, r, err)) < 0)
		return e;
	if (r->label && r->label_xattr) {
		_cleanup_close_ int rootdir = openat(mfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootdir < 0 || fsetxattr(rootdir, "security.selinux", r->label, strlen(r->label) + 1, 0) < 0)
			return berth_errno(err, errno, "mount %s: set the SELinux label", type);
	}
	if (r->userns_fd >= 0) {
		if (!new_api && c->new_api)
			return berth_err(err, EOPNOTSUPP, "mount %s: idmap cannot be combined with iversion or silent "
					 "(those need mount(2), which cannot make an idmapped mount)", type);
		if (!new_api)
			return berth_err(err, EOPNOTSUPP, "mount %s: idmapped mounts need fsmount(2) and mount_setattr(2), Linux 5.12",
					 type);
		if ((e = apply_idmap(mfd, r->userns_fd, r->idmap_recursive)) < 0)
			return berth_errno(err, -e, "mount %s: make the mount idmapped", type);
	}
	if (from >= 0 && (e = copy_up(from, mfd, err)) < 0)
		return e;
	if (ro) {
		e = new_api ? setattr_fd(mfd, 0, MOUNT_ATTR_RDONLY, 0) : legacy_bind_remount(mfd, NULL, MS_RDONLY, 0);
		if (e < 0)
			return berth_errno(err, -e, "mount %s: make it read-only", type);
	}
	if (new_api && move_mount(mfd, "", dfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return berth_errno(err, errno, "mount %s: attach", type);
	if ((e = set_propagation(new_api, mfd, r->propagation)) < 0)
		return berth_errno(err, -e, "set propagation %s", propagation_name(r->propagation));
	if (out)
		*out = steal_fd(mfd);
	return 0;
}

/* ------------------------------------------------------------------ cgroups */

/* One hierarchy this process belongs to, and where the host mounts it. */
struct cg_hier {
	char *ctrls;    /* "cpu,cpuacct", "name=systemd"; "" for cgroup v2 */
	char *own;      /* this process's cgroup in it */
	char *mnt;      /* host mount point; NULL when not mounted */
	char *mroot;    /* root of that mount inside the hierarchy */
	bool fits;      /* own lies below mroot */
};

struct cg_layout {
	struct cg_hier *h;
	size_t n;
};

static void cg_layout_free(struct cg_layout *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->h[i].ctrls);
		free(l->h[i].own);
		free(l->h[i].mnt);
		free(l->h[i].mroot);
	}
	free(l->h);
	free(l);
}

static bool cg_mount_matches(const struct minfo *m, const struct cg_hier *h)
{
	if (strcmp(m->fstype, "cgroup2") == 0)
		return h->ctrls[0] == '\0';
	if (strcmp(m->fstype, "cgroup") != 0 || h->ctrls[0] == '\0')
		return false;
	const char *p = h->ctrls;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t) (e - p) : strlen(p);
		if (!list_has(m->superopts, p, n))
			return false;
		if (!e)
			break;
		p = e + 1;
	}
	return true;
}

/* /proc/self/cgroup says which hierarchies we are in; /proc/self/mountinfo
 * (outside the rootfs being built) says where the host mounts them. */
static int cg_layout_load(const char *rootfs, struct cg_layout **out, struct berth_error *err)
{
	_cleanup_free_ char *text = NULL;
	int r = berth_read_file("/proc/self/cgroup", &text, NULL);
	if (r < 0)
		return berth_errno(err, -r, "read /proc/self/cgroup");
	struct cg_layout *l = calloc(1, sizeof(*l));
	if (!l)
		return berth_err(err, ENOMEM, "cgroup layout: out of memory");
	size_t lines = 1;
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	l->h = calloc(lines, sizeof(*l->h));
	if (!l->h) {
		cg_layout_free(l);
		return berth_err(err, ENOMEM, "cgroup layout: out of memory");
	}
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		struct cg_hier *h = &l->h[l->n];
		h->ctrls = strdup(c1 + 1);
		h->own = strdup(c2 + 1);
		if (!h->ctrls || !h->own) {
			free(h->ctrls);
			free(h->own);
			cg_layout_free(l);
			return berth_err(err, ENOMEM, "cgroup layout: out of memory");
		}
		l->n++;
	}

	struct mtab t;
	if ((r = mtab_load(&t)) < 0) {
		cg_layout_free(l);
		return berth_errno(err, -r, "read /proc/self/mountinfo");
	}
	for (size_t i = 0; i < t.n; i++) {
		const struct minfo *m = &t.e[i];
		if (path_under(m->mnt, rootfs))
			continue;
		for (size_t j = 0; j < l->n; j++) {
			struct cg_hier *h = &l->h[j];
			if (!cg_mount_matches(m, h))
				continue;
			bool fits = path_under(h->own, m->root);
			if (h->mnt && (h->fits || !fits))
				break;
			char *mnt = strdup(m->mnt), *mroot = strdup(m->root);
			if (!mnt || !mroot) {
				free(mnt);
				free(mroot);
				mtab_free(&t);
				cg_layout_free(l);
				return berth_err(err, ENOMEM, "cgroup layout: out of memory");
			}
			free(h->mnt);
			free(h->mroot);
			h->mnt = mnt;
			h->mroot = mroot;
			h->fits = fits;
			break;
		}
	}
	mtab_free(&t);
	*out = l;
	return 0;
}

/* Host path of this process's own cgroup directory in hierarchy h. */
static int cg_own_dir(const struct cg_hier *h, char *buf, size_t len, struct berth_error *err)
{
	const char *name = h->ctrls[0] ? h->ctrls : "cgroup2";
	if (!h->fits)
		return berth_err(err, ENOENT, "cgroup %s: this process's cgroup %s is not below the host's mount %s (root %s)",
				 name, h->own, h->mnt, h->mroot);
	const char *rel = h->own + (strcmp(h->mroot, "/") == 0 ? 0 : strlen(h->mroot));
	if (snprintf(buf, len, "%s%s", h->mnt, rel) >= (int) len)
		return berth_err(err, ENAMETOOLONG, "cgroup %s: path too long", name);
	return 0;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* One hierarchy at dest inside droot: a new instance when the container has
 * its own cgroup namespace (it then shows the namespace's root), else a bind
 * of this process's own cgroup directory, so the container never sees the
 * host's tree above it. */
static int cg_mount_hier(const struct mctx *c, const struct cg_hier *h, const struct spec_mount *m, int droot,
			 const char *dest, bool top, int *out, struct berth_error *err)
{
	struct mreq r = MREQ_INIT;
	r.flags = m->flags & MS_PER_MOUNT;
	r.clear_flags = m->clear_flags & MS_PER_MOUNT;
	if (top) {
		r.attr_set = m->attr_set;
		r.attr_clr = m->attr_clr;
		r.propagation = m->propagation;
	}
	bool v2 = h->ctrls[0] == '\0';
	char own[PATH_MAX];
	if (c->cgns) {
		r.type = v2 ? "cgroup2" : "cgroup";
		r.source = r.type;
		r.data = v2 ? m->data : h->ctrls;
		return do_fresh(c, &r, droot, dest, out, err);
	}
	if (v2 && m->data)
		return berth_err(err, EINVAL, "cgroup2 options \"%s\" need a new cgroup2 instance, which needs a cgroup namespace",
				 m->data);
	int e = cg_own_dir(h, own, sizeof(own), err);
	if (e < 0)
		return e;
	r.source = own;
	return do_bind(c, &r, droot, dest, out, err);
}

static int mount_cgroup(struct mctx *c, const struct spec_mount *m, bool v2_only, struct berth_error *err)
{
	int e;
	if (!c->cg && (e = cg_layout_load(c->rootfs, &c->cg, err)) < 0)
		return e;
	const struct cg_hier *v2 = NULL;
	size_t n_v1 = 0;
	for (size_t i = 0; i < c->cg->n; i++) {
		const struct cg_hier *h = &c->cg->h[i];
		if (h->ctrls[0] == '\0' && (h->mnt || c->cgns))
			v2 = h;
		else if (h->ctrls[0] && h->mnt)
			n_v1++;
	}

	if (v2_only || n_v1 == 0) {
		if (!v2)
			return berth_err(err, ENOENT, "no cgroup2 hierarchy is mounted on the host and the container has no cgroup namespace");
		return cg_mount_hier(c, v2, m, c->rootfd, m->destination, true, NULL, err);
	}

	/* cgroup v1 (or hybrid): a tmpfs holding one directory per hierarchy,
	 * named as on the host, with a symlink per controller of a co-mounted
	 * one ("cpu" and "cpuacct" -> "cpu,cpuacct"). */
	if (m->data)
		return berth_err(err, EINVAL, "filesystem options \"%s\" have no meaning for a cgroup v1 layout", m->data);
	struct mreq t = MREQ_INIT;
	t.type = "tmpfs";
	t.source = "tmpfs";
	t.data = "mode=755";
	t.flags = m->flags & MS_PER_MOUNT & ~MS_RDONLY;
	t.clear_flags = m->clear_flags & MS_PER_MOUNT;
	t.label = c->label;
	_cleanup_close_ int tfd = -1;
	if ((e = do_fresh(c, &t, c->rootfd, m->destination, &tfd, err)) < 0)
		return e;
	for (size_t i = 0; i < c->cg->n; i++) {
		const struct cg_hier *h = &c->cg->h[i];
		if (!h->mnt)
			continue;
		const char *name = base_name(h->mnt);
		if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
			return berth_err(err, EINVAL, "cgroup: cannot name a directory after the host mount %s", h->mnt);
		if ((e = cg_mount_hier(c, h, m, tfd, name, false, NULL, err)) < 0) {
			berth_error_prefix(err, "cgroup %s", name);
			return e;
		}
		if (!strchr(name, ','))
			continue;
		_cleanup_free_ char *copy = strdup(name);
		if (!copy)
			return berth_err(err, ENOMEM, "cgroup: out of memory");
		char *save = NULL;
		for (char *ctl = strtok_r(copy, ",", &save); ctl; ctl = strtok_r(NULL, ",", &save))
			if (symlinkat(name, tfd, ctl) < 0 && errno != EEXIST)
				return berth_errno(err, errno, "cgroup: symlink %s -> %s", ctl, name);
	}
	if (m->flags & MS_RDONLY) {
		e = c->new_api ? setattr_fd(tfd, 0, MOUNT_ATTR_RDONLY, 0) : legacy_bind_remount(tfd, NULL, MS_RDONLY, 0);
		if (e < 0)
			return berth_errno(err, -e, "cgroup: make the tmpfs read-only");
	}
	struct mreq rec = MREQ_INIT;
	rec.attr_set = m->attr_set;
	rec.attr_clr = m->attr_clr;
	if ((e = recursive_attrs(c, tfd, &rec, err)) < 0)
		return e;
	if ((e = set_propagation(c->new_api, tfd, m->propagation)) < 0)
		return berth_errno(err, -e, "set propagation %s", propagation_name(m->propagation));
	return 0;
}

/* ------------------------------------------------------------ cfg mounts */

static const char *label_for(const struct mctx *c, const char *type, const char *data, bool *xattr)
{
	*xattr = false;
	if (!c->label)
		return NULL;
	if (!strcmp(type, "proc") || !strcmp(type, "sysfs") || !strcmp(type, "cgroup") ||
	    !strcmp(type, "cgroup2"))
		return NULL;
	if (data && strstr(data, "context="))
		return NULL;
	*xattr = !strcmp(type, "mqueue");
	return c->label;
}

static int mount_entry(struct mctx *c, size_t idx, const struct spec_mount *m, struct berth_error *err)
{
	const unsigned long known = MS_PER_MOUNT | MS_SB_FLAGS | MS_LEGACY_ONLY | MS_BIND | MS_REC | MS_PROPAGATION;
	if (m->flags & ~known)
		return berth_err(err, EINVAL, "unsupported mount flags 0x%lx%s", m->flags & ~known,
				 (m->flags & MS_REMOUNT) ? " (remount)" : "");
	const char *type = m->type;
	bool type_bind = type && (!strcmp(type, "bind") || !strcmp(type, "rbind"));
	bool bind = m->bind || (m->flags & MS_BIND) || type_bind;
	bool rec = m->recursive_bind || (bind && (m->flags & MS_REC)) || (type && !strcmp(type, "rbind"));

	struct mreq r = MREQ_INIT;
	r.source = m->source;
	r.recursive = rec;
	r.data = m->data;
	r.flags = m->flags & ~(MS_BIND | MS_REC | MS_PROPAGATION);
	r.clear_flags = m->clear_flags;
	r.attr_set = m->attr_set;
	r.attr_clr = m->attr_clr;
	r.propagation = m->propagation ? m->propagation : (m->flags & (MS_PROPAGATION | MS_REC));
	if (!(r.propagation & MS_PROPAGATION))
		r.propagation = 0;
	r.tmpcopyup = m->tmpcopyup;

	_cleanup_close_ int userns = -1;
	if (m->idmap || m->ridmap || m->n_uid_mappings || m->n_gid_mappings) {
		const struct spec_id_mapping *u = m->uid_mappings, *g = m->gid_mappings;
		size_t nu = m->n_uid_mappings, ng = m->n_gid_mappings;
		/* runtime-spec 1.2: no mappings on the mount means the
		 * container's user namespace mappings. */
		if (!nu && !ng && c->cfg->linux_) {
			u = c->cfg->linux_->uid_mappings;
			nu = c->cfg->linux_->n_uid_mappings;
			g = c->cfg->linux_->gid_mappings;
			ng = c->cfg->linux_->n_gid_mappings;
		}
		if (!nu || !ng)
			return berth_err(err, EINVAL, "idmap needs uidMappings and gidMappings on the mount or in linux");
		userns = idmap_userns(u, nu, g, ng, err);
		if (userns < 0)
			return userns;
		r.userns_fd = userns;
		r.idmap_recursive = m->ridmap;
	}

	if (bind) {
		if (!m->source)
			return berth_err(err, EINVAL, "a bind mount needs a source");
		if (m->flags & (MS_SB_FLAGS | MS_I_VERSION))
			return berth_err(err, EINVAL, "sync, dirsync, lazytime, mand and iversion change the source filesystem and cannot be used on a bind mount");
		if (m->tmpcopyup)
			return berth_err(err, EINVAL, "tmpcopyup is only valid for tmpfs");
		/* The kernel ignores filesystem data on a bind mount (so does
		 * runc); say so rather than fail a config that works elsewhere. */
		if (m->data)
			log_warn("mounts[%zu] (%s): filesystem options \"%s\" have no effect on a bind mount",
				 idx, m->destination, m->data);
		return do_bind(c, &r, c->rootfd, m->destination, NULL, err);
	}
	if (!type)
		return berth_err(err, EINVAL, "no type and no bind option");
	if (m->tmpcopyup && strcmp(type, "tmpfs") != 0)
		return berth_err(err, EINVAL, "tmpcopyup is only valid for tmpfs");
	if (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2")) {
		if (userns >= 0)
			return berth_err(err, EINVAL, "idmap is not supported on cgroup mounts");
		return mount_cgroup(c, m, !strcmp(type, "cgroup2"), err);
	}
	r.type = type;
	r.label = label_for(c, type, m->data, &r.label_xattr);
	if (strcmp(type, "sysfs") != 0)
		return do_fresh(c, &r, c->rootfd, m->destination, NULL, err);

	/* A new sysfs instance needs a network namespace owned by our user
	 * namespace; without one the kernel says EPERM and the host's /sys,
	 * rbound with the requested flags on every mount of the tree, is what
	 * the container gets. */
	struct berth_error local = { 0 };
	int e = do_fresh(c, &r, c->rootfd, m->destination, NULL, &local);
	if (e != -EPERM) {
		if (e < 0)
			*err = local;
		return e;
	}
	log_debug("mounts[%zu] (%s): sysfs refused (%s); binding the host's /sys instead", idx, m->destination,
		  local.msg);
	struct mreq b = r;
	uint64_t aset, aclr;
	attrs_from_flags(m->flags & MS_PER_MOUNT, m->clear_flags & MS_PER_MOUNT, &aset, &aclr);
	b.type = NULL;
	b.source = "/sys";
	b.recursive = true;
	b.data = NULL;
	b.label = NULL;
	b.attr_set |= aset;
	b.attr_clr = (b.attr_clr | aclr) & ~(aset & ~(uint64_t) MOUNT_ATTR__ATIME);
	return do_bind(c, &b, c->rootfd, m->destination, NULL, err);
}

static int mount_one(struct mctx *c, size_t i, const struct spec_mount *m, struct berth_error *err)
{
	if (!m->destination || !*m->destination)
		return berth_err(err, EINVAL, "mounts[%zu].destination: missing", i);
	bool bind = m->bind || (m->flags & MS_BIND) ||
		    (m->type && (!strcmp(m->type, "bind") || !strcmp(m->type, "rbind")));
	if (bind && m->source) {
		struct stat st;
		if (stat(m->source, &st) < 0)
			return berth_errno(err, errno, "mounts[%zu].source %s", i, m->source);
	}
	int r = mount_entry(c, i, m, err);
	if (r < 0)
		berth_error_prefix(err, "mounts[%zu] (%s)", i, m->destination);
	return r;
}

static bool mount_binds_dev(const struct spec_config *cfg)
{
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		const struct spec_mount *m = &cfg->mounts[i];
		bool bind = m->bind || (m->flags & MS_BIND) ||
			    (m->type && (!strcmp(m->type, "bind") || !strcmp(m->type, "rbind")));
		if (bind && m->destination && dest_is(m->destination, "dev"))
			return true;
	}
	return false;
}

/* pivot_root and MS_MOVE refuse a mount whose parent is shared; the parent
 * of our rootfs bind is the mount that holds rootfs now. */
static int make_parent_private(const char *rootfs, struct berth_error *err)
{
	struct statx stx;
	if (statx(AT_FDCWD, rootfs, 0, STATX_MNT_ID, &stx) < 0)
		return berth_errno(err, errno, "root.path %s", rootfs);
	struct mtab t;
	int r = mtab_load(&t);
	if (r < 0)
		return berth_errno(err, -r, "read /proc/self/mountinfo");
	const struct minfo *hold = NULL;
	for (size_t i = 0; i < t.n; i++) {
		const struct minfo *m = &t.e[i];
		if ((stx.stx_mask & STATX_MNT_ID) ? (uint64_t) m->id == stx.stx_mnt_id :
		    (path_under(rootfs, m->mnt) && (!hold || strlen(m->mnt) >= strlen(hold->mnt))))
			hold = m;
	}
	if (hold && strstr(hold->optional, "shared:") && mount(NULL, hold->mnt, NULL, MS_PRIVATE, NULL) < 0) {
		r = berth_errno(err, errno, "root.path %s: make its parent mount %s private", rootfs, hold->mnt);
		mtab_free(&t);
		return r;
	}
	mtab_free(&t);
	return 0;
}

int linux_rootfs_prepare_with(const struct spec_config *cfg, const char *rootfs,
			      const struct linux_rootfs_options *opts, struct berth_error *err)
{
	if (!rootfs || rootfs[0] != '/')
		return berth_err(err, EINVAL, "root.path %s: must be an absolute path", rootfs ? rootfs : "(null)");
	struct stat st;
	if (stat(rootfs, &st) < 0)
		return berth_errno(err, errno, "root.path %s", rootfs);
	if (!S_ISDIR(st.st_mode))
		return berth_errno(err, ENOTDIR, "root.path %s", rootfs);
	_cleanup_free_ char *real = realpath(rootfs, NULL);
	if (!real)
		return berth_errno(err, errno, "root.path %s", rootfs);
	/* Everything below changes the mount table: never the host's.  (Before
	 * pivot /proc is the host's, so /proc/1 is the host's init.)  A net for
	 * a caller that forgot to unshare, not a guarantee: when pid 1's
	 * namespace cannot be read, nothing is checked. */
	struct stat self_ns, init_ns;
	if (stat("/proc/self/ns/mnt", &self_ns) == 0 && stat("/proc/1/ns/mnt", &init_ns) == 0 &&
	    self_ns.st_dev == init_ns.st_dev && self_ns.st_ino == init_ns.st_ino)
		return berth_err(err, EINVAL, "root.path %s: refusing to set up mounts in the host's mount namespace "
				 "(linux.namespaces needs a \"mount\" namespace)", rootfs);

	const struct spec_linux *lx = cfg->linux_;
	unsigned long prop = (lx && lx->has_rootfs_propagation) ? lx->rootfs_propagation : MS_SLAVE | MS_REC;
	/* An unbindable tree cannot be bind-mounted onto itself: keep it a
	 * slave until finalize applies the requested propagation to "/". */
	if (prop & MS_UNBINDABLE)
		prop = MS_SLAVE | MS_REC;
	if (mount(NULL, "/", NULL, prop, NULL) < 0)
		return berth_errno(err, errno, "linux.rootfsPropagation: make / %s", propagation_name(prop));
	int r = make_parent_private(real, err);
	if (r < 0)
		return r;
	if (mount(real, real, NULL, MS_BIND | MS_REC, NULL) < 0)
		return berth_errno(err, errno, "root.path %s: bind it onto itself", rootfs);

	struct mctx c = {
		.cfg = cfg,
		.rootfs = real,
		.new_api = !(opts && opts->legacy_mount_api) && kernel_has_new_mount_api(),
		.cgns = cfg_has_new_ns(cfg, CLONE_NEWCGROUP),
	};
	/* Opened after the bind, so mounts land on the bind, not beneath it. */
	_cleanup_close_ int rootfd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return berth_errno(err, errno, "root.path %s", rootfs);
	c.rootfd = rootfd;
	if (lx && lx->mount_label && *lx->mount_label) {
		if (selinux_active())
			c.label = lx->mount_label;
		else
			log_debug("linux.mountLabel %s: SELinux is not active, not labelling mounts", lx->mount_label);
	}

	bool cgroup_ready = !(opts && opts->before_cgroup_mount);
	for (size_t i = 0; i < cfg->n_mounts && r == 0; i++) {
		const char *type = cfg->mounts[i].type;
		if (!cgroup_ready && type && (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2"))) {
			cgroup_ready = true;
			if ((r = opts->before_cgroup_mount(opts->arg, err)) < 0)
				break;
		}
		r = mount_one(&c, i, &cfg->mounts[i], err);
	}
	cg_layout_free(c.cg);
	if (r < 0)
		return r;
	if (mount_binds_dev(cfg)) {
		log_debug("a bind mount covers /dev: not creating devices");
		return 0;
	}
	return linux_devices_create(rootfd, cfg, true, err);
}

int linux_rootfs_prepare(const struct spec_config *cfg, const char *rootfs, struct berth_error *err)
{
	return linux_rootfs_prepare_with(cfg, rootfs, NULL, err);
}

/* ------------------------------------------------------------------ pivot */

/* Before a chroot: drop every mount that is neither above rootfs (those hold
 * it) nor below it (those are the container's), children first. */
static void detach_foreign_mounts(const char *rootfs)
{
	struct mtab t;
	if (mtab_load(&t) < 0)
		return;
	for (size_t i = t.n; i-- > 0;) {
		const char *p = t.e[i].mnt;
		if (path_under(p, rootfs) || path_under(rootfs, p))
			continue;
		if (umount2(p, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
			log_debug("no-pivot: cannot detach %s: %s", p, strerror(errno));
	}
	mtab_free(&t);
}

static int move_root(const char *rootfs, int newroot, struct berth_error *err)
{
	_cleanup_free_ char *real = realpath(rootfs, NULL);
	if (!real)
		return berth_errno(err, errno, "root.path %s", rootfs);
	detach_foreign_mounts(real);
	if (fchdir(newroot) < 0)
		return berth_errno(err, errno, "chdir %s", rootfs);
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		return berth_errno(err, errno, "move %s onto /", rootfs);
	if (chroot(".") < 0)
		return berth_errno(err, errno, "chroot %s", rootfs);
	if (chdir("/") < 0)
		return berth_errno(err, errno, "chdir /");
	return 0;
}

int linux_rootfs_pivot(const char *rootfs, bool no_pivot, struct berth_error *err)
{
	_cleanup_close_ int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (newroot < 0)
		return berth_errno(err, errno, "root.path %s", rootfs);
	if (no_pivot)
		return move_root(rootfs, newroot, err);
	_cleanup_close_ int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (oldroot < 0)
		return berth_errno(err, errno, "open /");
	if (fchdir(newroot) < 0)
		return berth_errno(err, errno, "chdir %s", rootfs);
	/* With put_old == new_root the old root ends up stacked on top of
	 * the new one, so no directory is needed in the container for it. */
	if (syscall(SYS_pivot_root, ".", ".") < 0) {
		int e = errno;
		/* A shared "/" (linux.rootfsPropagation "rshared") is refused
		 * as the current root's parent; it is about to go anyway. */
		if (e != EINVAL || mount(NULL, "/", NULL, MS_PRIVATE, NULL) < 0 ||
		    syscall(SYS_pivot_root, ".", ".") < 0)
			return berth_errno(err, e, "pivot_root into %s", rootfs);
	}
	if (fchdir(oldroot) < 0)
		return berth_errno(err, errno, "chdir to the old root");
	/* Slave first: the unmount must not propagate to the host. */
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return berth_errno(err, errno, "make the old root rslave");
	if (umount2(".", MNT_DETACH) < 0)
		return berth_errno(err, errno, "detach the old root");
	if (chdir("/") < 0)
		return berth_errno(err, errno, "chdir /");
	return 0;
}

/* --------------------------------------------------------------- finalize */

/* The container's /dev/null, refused unless it is the null device: the
 * container could have replaced it with a link or a file by now. */
static int open_dev_null(int rootfd, struct berth_error *err)
{
	_cleanup_close_ int fd = berth_openat2(rootfd, "/dev/null", O_PATH, 0, RESOLVE_NO_SYMLINKS);
	if (fd == -ELOOP)
		return berth_err(err, ELOOP, "/dev/null in the container is a symlink, refusing to use it to mask paths");
	if (fd < 0)
		return berth_errno(err, -fd, "open /dev/null in the container");
	struct stat st;
	if (fstat(fd, &st) < 0)
		return berth_errno(err, errno, "stat /dev/null in the container");
	if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3)
		return berth_err(err, EPERM, "/dev/null in the container is not the null device (char 1:3), refusing to use it to mask paths");
	return steal_fd(fd);
}

static int mask_dir(bool new_api, int fd, const char *label)
{
	if (new_api) {
		_cleanup_close_ int fsfd = fsopen("tmpfs", FSOPEN_CLOEXEC);
		if (fsfd < 0)
			return -errno;
		if (label && fsconfig(fsfd, FSCONFIG_SET_STRING, "context", label, 0) < 0)
			return -errno;
		if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
			return -errno;
		_cleanup_close_ int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
		if (mfd < 0)
			return -errno;
		return move_mount(mfd, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0 ? -errno : 0;
	}
	_cleanup_free_ char *data = NULL;
	if (label && asprintf(&data, "context=\"%s\"", label) < 0)
		return -ENOMEM;
	return mount("tmpfs", fdpath(fd).s, "tmpfs", MS_RDONLY, data) < 0 ? -errno : 0;
}

static int mask_paths(bool new_api, int rootfd, const struct spec_linux *lx, const char *label,
		      struct berth_error *err)
{
	_cleanup_close_ int devnull = -1;
	for (size_t i = 0; i < lx->n_masked_paths; i++) {
		const char *p = lx->masked_paths[i];
		_cleanup_close_ int fd = berth_open_in_root(rootfd, p, O_PATH, 0);
		if (fd == -ENOENT)
			continue;
		if (fd < 0)
			return berth_errno(err, -fd, "linux.maskedPaths[%zu] (%s)", i, p);
		struct stat st;
		if (fstat(fd, &st) < 0)
			return berth_errno(err, errno, "linux.maskedPaths[%zu] (%s)", i, p);
		int r;
		if (S_ISDIR(st.st_mode)) {
			r = mask_dir(new_api, fd, label);
			if (r < 0)
				return berth_errno(err, -r, "linux.maskedPaths[%zu] (%s): mount a read-only tmpfs", i, p);
			continue;
		}
		if (devnull < 0) {
			devnull = open_dev_null(rootfd, err);
			if (devnull < 0) {
				berth_error_prefix(err, "linux.maskedPaths[%zu] (%s)", i, p);
				return devnull;
			}
		}
		r = linux_mount_bind_onto(devnull, NULL, fd, false);
		if (r < 0)
			return berth_errno(err, -r, "linux.maskedPaths[%zu] (%s): bind /dev/null", i, p);
	}
	return 0;
}

static int readonly_paths(bool new_api, int rootfd, const struct spec_linux *lx, struct berth_error *err)
{
	for (size_t i = 0; i < lx->n_readonly_paths; i++) {
		const char *p = lx->readonly_paths[i];
		_cleanup_close_ int fd = berth_open_in_root(rootfd, p, O_PATH, 0);
		if (fd == -ENOENT)
			continue;
		if (fd < 0)
			return berth_errno(err, -fd, "linux.readonlyPaths[%zu] (%s)", i, p);
		int r;
		if (new_api) {
			_cleanup_close_ int tree = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE |
								 AT_EMPTY_PATH);
			if (tree < 0)
				return berth_errno(err, errno, "linux.readonlyPaths[%zu] (%s): bind", i, p);
			if ((r = setattr_fd(tree, AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0)) < 0)
				return berth_errno(err, -r, "linux.readonlyPaths[%zu] (%s): make read-only", i, p);
			if (move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
				return berth_errno(err, errno, "linux.readonlyPaths[%zu] (%s): bind", i, p);
			continue;
		}
		struct fdpath fp = fdpath(fd);
		if (mount(fp.s, fp.s, NULL, MS_BIND | MS_REC, NULL) < 0)
			return berth_errno(err, errno, "linux.readonlyPaths[%zu] (%s): bind", i, p);
		_cleanup_close_ int nfd = berth_open_in_root(rootfd, p, O_PATH, 0);
		if (nfd < 0)
			return berth_errno(err, -nfd, "linux.readonlyPaths[%zu] (%s): reopen", i, p);
		if ((r = legacy_bind_remount(nfd, NULL, MS_RDONLY, 0)) < 0)
			return berth_errno(err, -r, "linux.readonlyPaths[%zu] (%s): remount read-only", i, p);
	}
	return 0;
}

int linux_rootfs_finalize(const struct spec_config *cfg, struct berth_error *err)
{
	const struct spec_linux *lx = cfg->linux_;
	bool new_api = kernel_has_new_mount_api();
	_cleanup_close_ int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return berth_errno(err, errno, "open /");
	int r;
	if (lx) {
		const char *label = NULL;
		if (lx->mount_label && *lx->mount_label && lx->n_masked_paths) {
			if (selinux_active())
				label = lx->mount_label;
			else
				log_debug("linux.mountLabel %s: SELinux is not active, not labelling masks", lx->mount_label);
		}
		if ((r = mask_paths(new_api, rootfd, lx, label, err)) < 0)
			return r;
		if ((r = readonly_paths(new_api, rootfd, lx, err)) < 0)
			return r;
	}
	if (cfg->root_readonly) {
		if (new_api) {
			struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
			r = mount_setattr(AT_FDCWD, "/", 0, &a, sizeof(a)) < 0 ? -errno : 0;
		} else {
			r = legacy_bind_remount(rootfd, "/", MS_RDONLY, 0);
		}
		if (r < 0)
			return berth_errno(err, -r, "root.readonly: remount / read-only");
	}
	if (lx && lx->has_rootfs_propagation &&
	    mount(NULL, "/", NULL, lx->rootfs_propagation, NULL) < 0)
		return berth_errno(err, errno, "linux.rootfsPropagation: make / %s",
				   propagation_name(lx->rootfs_propagation));
	return 0;
}

/* ---------------------------------------------------------------- console */

int linux_mount_bind_onto(int src_dirfd, const char *src_path, int dest_fd, bool recursive)
{
	bool empty = !src_path || !*src_path;
	if (!empty && src_dirfd != AT_FDCWD)
		return -EINVAL;
	unsigned int flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0) |
			     (empty ? AT_EMPTY_PATH : 0);
	int tree = open_tree(src_dirfd, empty ? "" : src_path, flags);
	if (tree >= 0) {
		int r = move_mount(tree, "", dest_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
		int e = errno;
		close(tree);
		return r < 0 ? -e : 0;
	}
	if (errno != ENOSYS)
		return -errno;
	struct fdpath src = fdpath(src_dirfd), dst = fdpath(dest_fd);
	if (mount(empty ? src.s : src_path, dst.s, NULL, MS_BIND | (recursive ? MS_REC : 0), NULL) < 0)
		return -errno;
	return 0;
}

int linux_rootfs_bind_console(int slave_fd, struct berth_error *err)
{
	_cleanup_close_ int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return berth_errno(err, errno, "open /");
	struct stat st;
	if (fstat(slave_fd, &st) < 0)
		return berth_errno(err, errno, "console: stat the terminal");
	if (!S_ISCHR(st.st_mode))
		return berth_err(err, EINVAL, "console: fd %d is not a terminal device", slave_fd);
	_cleanup_close_ int dfd = berth_mkfile_p_in_root(rootfd, "/dev/console", 0666);
	if (dfd < 0)
		return berth_errno(err, -dfd, "console: create /dev/console");
	int r = linux_mount_bind_onto(slave_fd, NULL, dfd, false);
	if (r == -EINVAL)
		return berth_err(err, EINVAL, "console: cannot bind the terminal onto /dev/console: its devpts is not "
				 "mounted in the container (allocate the pty from the container's /dev/ptmx after pivot)");
	if (r < 0)
		return berth_errno(err, -r, "console: bind the terminal onto /dev/console");
	return 0;
}
