/* layers.c — store of unpacked layers; see layers.h. */
#include "storage/layers.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/lock.h"
#include "core/fs.h"
#include "core/log.h"

#define LAYERS_MODE 0700
#define LAYER_ROOT_MODE 0755
#define HEX_MAX 128

struct layer_tx {
	struct layer_store *ls;
	char chain_id[BERTH_DIGEST_MAX];
	char lock[NAME_MAX + 1];
	char tmp[NAME_MAX + 1];
	int lock_fd;
	int dirfd;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}


static void lock_name(const char *hex, char *buf, size_t len)
{
	snprintf(buf, len, ".lock-%s", hex);
}

/* Filesystems without RENAME_NOREPLACE: callers hold the layer lock and
 * checked the target is absent, so a plain rename is equivalent there. */
static int rename_noreplace(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	struct stat st;
	if (fstatat(dirfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(dirfd, from, dirfd, to);
}

/* Create dirfd/<prefix><hex>-XXXXXX with mkdir (mkdtemp semantics, unique
 * across processes), or rename `from` to such a name when from != NULL. */
static int make_unique(int dirfd, const char *prefix, const char *hex, const char *from, char *name, size_t len)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	for (int attempt = 0; attempt < 100; attempt++) {
		unsigned char rnd[6];
		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			for (size_t i = 0; i < sizeof(rnd); i++)
				rnd[i] = (unsigned char) (rand() ^ getpid() ^ attempt);
		char suffix[sizeof(rnd) + 1];
		for (size_t i = 0; i < sizeof(rnd); i++)
			suffix[i] = chars[rnd[i] % (sizeof(chars) - 1)];
		suffix[sizeof(rnd)] = '\0';
		snprintf(name, len, "%s%s-%s", prefix, hex, suffix);
		int r = from ? rename_noreplace(dirfd, from, name)
		             : mkdirat(dirfd, name, LAYER_ROOT_MODE);
		if (r == 0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int layer_store_open(int store_root_fd, const char *store_root_path, struct layer_store *ls,
                     struct berth_error *err)
{
	ls->root_fd = ls->layers_fd = -1;
	ls->layers_path = NULL;
	if (!store_root_path || store_root_path[0] != '/')
		return berth_err(err, EINVAL, "layer store: store root \"%s\" is not an absolute path",
		                 store_root_path ? store_root_path : "");
	_cleanup_close_ int root = fcntl(store_root_fd, F_DUPFD_CLOEXEC, 3);
	if (root < 0)
		return berth_errno(err, errno, "layer store: duplicating the store root fd");
	if (mkdirat(root, "layers", LAYERS_MODE) < 0 && errno != EEXIST)
		return berth_errno(err, errno, "layer store: creating %s/layers", store_root_path);
	_cleanup_close_ int fd = openat(root, "layers", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return berth_errno(err, errno, "layer store: opening %s/layers", store_root_path);
	/* Enforce the mode on an existing directory too (umask, older trees):
	 * this is what keeps setuid files in layers away from host users. */
	struct stat st;
	if (fstat(fd, &st) < 0)
		return berth_errno(err, errno, "layer store: stat %s/layers", store_root_path);
	if ((st.st_mode & 07777) != LAYERS_MODE && fchmod(fd, LAYERS_MODE) < 0)
		return berth_errno(err, errno, "layer store: chmod 0700 %s/layers", store_root_path);
	size_t n = strlen(store_root_path);
	while (n > 1 && store_root_path[n - 1] == '/')
		n--;
	if (asprintf(&ls->layers_path, "%.*s/layers", (int) n, n == 1 ? "" : store_root_path) < 0) {
		ls->layers_path = NULL;
		return berth_err(err, ENOMEM, "layer store: out of memory");
	}
	ls->root_fd = steal_fd(root);
	ls->layers_fd = steal_fd(fd);
	return 0;
}

void layer_store_close(struct layer_store *ls)
{
	if (!ls)
		return;
	close_fd(&ls->root_fd);
	close_fd(&ls->layers_fd);
	free(ls->layers_path);
	ls->layers_path = NULL;
}

static int exists_hex(struct layer_store *ls, const char *hex)
{
	struct stat st;
	if (fstatat(ls->layers_fd, hex, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	return S_ISDIR(st.st_mode) ? 1 : -ENOTDIR;
}

int layer_exists(struct layer_store *ls, const char *chain_id)
{
	if (!chain_id || !berth_digest_valid(chain_id))
		return -EINVAL;
	return exists_hex(ls, berth_digest_hex(chain_id));
}

static void tx_free(struct layer_tx *tx)
{
	close_fd(&tx->dirfd);
	if (tx->tmp[0]) {
		int r = berth_rm_rf_at(tx->ls->layers_fd, tx->tmp);
		if (r < 0)
			log_warn("layer %s: removing %s/%s: %s", tx->chain_id, tx->ls->layers_path, tx->tmp,
			         strerror(-r));
	}
	berth_unlock_file(tx->ls->layers_fd, tx->lock, tx->lock_fd);
	free(tx);
}

static void tx_freep(struct layer_tx **tx)
{
	if (*tx)
		tx_free(*tx);
}

int layer_begin(struct layer_store *ls, const char *chain_id, struct layer_tx **out, int *dirfd,
                struct berth_error *err)
{
	int r = berth_digest_check(chain_id, "layer", err);
	if (r < 0)
		return r;
	const char *hex = berth_digest_hex(chain_id);
	_cleanup_(tx_freep) struct layer_tx *tx = calloc(1, sizeof(*tx));
	if (!tx)
		return berth_err(err, ENOMEM, "layer %s: out of memory", chain_id);
	tx->ls = ls;
	tx->lock_fd = tx->dirfd = -1;
	snprintf(tx->chain_id, sizeof(tx->chain_id), "%s", chain_id);
	lock_name(hex, tx->lock, sizeof(tx->lock));

	tx->lock_fd = berth_lock_file(ls->layers_fd, tx->lock, true);
	if (tx->lock_fd < 0)
		return berth_errno(err, tx->lock_fd, "layer %s: locking %s/%s", chain_id, ls->layers_path, tx->lock);
	r = exists_hex(ls, hex);
	if (r == 1)
		return -EEXIST;
	if (r < 0)
		return berth_errno(err, r, "layer %s: checking %s/%s", chain_id, ls->layers_path, hex);

	char tmp[NAME_MAX + 1];
	r = make_unique(ls->layers_fd, ".tmp-", hex, NULL, tmp, sizeof(tmp));
	if (r < 0)
		return berth_errno(err, r, "layer %s: creating a temp directory in %s", chain_id, ls->layers_path);
	memcpy(tx->tmp, tmp, sizeof(tmp));
	tx->dirfd = openat(ls->layers_fd, tx->tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tx->dirfd < 0)
		return berth_errno(err, errno, "layer %s: opening %s/%s", chain_id, ls->layers_path, tx->tmp);
	/* mkdir honours the umask; the layer root's mode is part of the layer. */
	if (fchmod(tx->dirfd, LAYER_ROOT_MODE) < 0)
		return berth_errno(err, errno, "layer %s: chmod %s/%s", chain_id, ls->layers_path, tx->tmp);
	*dirfd = tx->dirfd;
	*out = steal_ptr(tx);
	return 0;
}

int layer_commit(struct layer_tx *tx, struct berth_error *err)
{
	struct layer_store *ls = tx->ls;
	const char *hex = berth_digest_hex(tx->chain_id);
	int r = 0;
	/* One syncfs instead of an fsync per extracted file: the layer's data
	 * and metadata must be on disk before its name says it is complete. */
	if (syncfs(tx->dirfd) < 0)
		r = berth_errno(err, errno, "layer %s: syncfs", tx->chain_id);
	else if (rename_noreplace(ls->layers_fd, tx->tmp, hex) < 0)
		r = berth_errno(err, errno, "layer %s: renaming %s/%s to %s", tx->chain_id, ls->layers_path,
		                tx->tmp, hex);
	if (r < 0) {
		tx_free(tx);
		return r;
	}
	tx->tmp[0] = '\0';
	if (fsync(ls->layers_fd) < 0)
		r = berth_errno(err, errno, "layer %s: fsync %s", tx->chain_id, ls->layers_path);
	tx_free(tx);
	return r;
}

void layer_abort(struct layer_tx *tx)
{
	if (tx)
		tx_free(tx);
}

int layer_path(struct layer_store *ls, const char *chain_id, char *buf, size_t len)
{
	if (!chain_id || !berth_digest_valid(chain_id))
		return -EINVAL;
	int n = snprintf(buf, len, "%s/%s", ls->layers_path, berth_digest_hex(chain_id));
	if (n < 0 || (size_t) n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int layer_delete(struct layer_store *ls, const char *chain_id, struct berth_error *err)
{
	int r = berth_digest_check(chain_id, "layer", err);
	if (r < 0)
		return r;
	const char *hex = berth_digest_hex(chain_id);
	char lock[NAME_MAX + 1], del[NAME_MAX + 1];
	lock_name(hex, lock, sizeof(lock));
	int lock_fd = berth_lock_file(ls->layers_fd, lock, true);
	if (lock_fd < 0)
		return berth_errno(err, lock_fd, "layer %s: locking %s/%s", chain_id, ls->layers_path, lock);
	r = exists_hex(ls, hex);
	if (r == 0)
		r = berth_err(err, ENOENT, "layer %s not found in %s", chain_id, ls->layers_path);
	else if (r < 0)
		r = berth_errno(err, r, "layer %s: checking %s/%s", chain_id, ls->layers_path, hex);
	if (r < 0)
		goto out;
	/* Take the name away first, durably: from here on a crash leaves a
	 * .del- directory for the sweep, never a half-emptied layer. */
	r = make_unique(ls->layers_fd, ".del-", hex, hex, del, sizeof(del));
	if (r < 0) {
		r = berth_errno(err, r, "layer %s: renaming %s/%s away", chain_id, ls->layers_path, hex);
		goto out;
	}
	fsync(ls->layers_fd);
	r = berth_rm_rf_at(ls->layers_fd, del);
	if (r < 0)
		log_warn("layer %s: removing %s/%s: %s (left for the next sweep)", chain_id, ls->layers_path, del,
		         strerror(-r));
	r = 0;
out:
	berth_unlock_file(ls->layers_fd, lock, lock_fd);
	return r;
}

static bool is_hex(const char *s, size_t n)
{
	if (n != 64 && n != 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0' || s[n] == '-';
}

/* Names of dirfd's entries (NULL-terminated strv). */
static int list_dir(int dirfd_, char ***out)
{
	int fd = openat(dirfd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	_cleanup_strv_ char **v = calloc(1, sizeof(char *));
	size_t n = 0;
	if (!v)
		return -ENOMEM;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				return -errno;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char **nv = realloc(v, (n + 2) * sizeof(char *));
		if (!nv)
			return -ENOMEM;
		v = nv;
		v[n] = strdup(de->d_name);
		if (!v[n])
			return -ENOMEM;
		v[++n] = NULL;
	}
	*out = steal_ptr(v);
	return (int) n;
}

int layer_store_sweep(struct layer_store *ls)
{
	_cleanup_strv_ char **names = NULL;
	int r = list_dir(ls->layers_fd, &names);
	if (r < 0)
		return r;
	int removed = 0;
	/* Leftover directories first: their lock tells whether someone is at work. */
	for (char **p = names; *p; p++) {
		const char *name = *p;
		if (strncmp(name, ".tmp-", 5) != 0 && strncmp(name, ".del-", 5) != 0)
			continue;
		const char *hex = name + 5;
		if (!is_hex(hex, strcspn(hex, "-")) || hex[strcspn(hex, "-")] != '-')
			continue;
		char hexbuf[HEX_MAX + 1], lock[NAME_MAX + 1];
		snprintf(hexbuf, sizeof(hexbuf), "%.*s", (int) strcspn(hex, "-"), hex);
		lock_name(hexbuf, lock, sizeof(lock));
		int fd = berth_lock_file(ls->layers_fd, lock, false);
		if (fd < 0)
			continue;   /* EWOULDBLOCK: an extraction or deletion is running */
		int rr = berth_rm_rf_at(ls->layers_fd, name);
		if (rr < 0)
			log_warn("layer store: removing %s/%s: %s", ls->layers_path, name, strerror(-rr));
		else
			removed++;
		berth_unlock_file(ls->layers_fd, lock, fd);
	}
	/* Lock files left by crashed processes (live holders unlink their own). */
	for (char **p = names; *p; p++) {
		if (strncmp(*p, ".lock-", 6) != 0 || !is_hex(*p + 6, strlen(*p + 6)))
			continue;
		int fd = berth_lock_file(ls->layers_fd, *p, false);
		if (fd >= 0)
			berth_unlock_file(ls->layers_fd, *p, fd);
	}
	return removed;
}

int layer_walk(struct layer_store *ls, int (*fn)(void *ctx, const char *chain_id), void *ctx)
{
	_cleanup_strv_ char **names = NULL;
	int r = list_dir(ls->layers_fd, &names);
	if (r < 0)
		return r;
	for (char **p = names; *p; p++) {
		size_t n = strlen(*p);
		if (!is_hex(*p, n))
			continue;
		struct stat st;
		if (fstatat(ls->layers_fd, *p, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		char chain_id[BERTH_DIGEST_MAX];
		snprintf(chain_id, sizeof(chain_id), "%s:%s", n == 64 ? "sha256" : "sha512", *p);
		r = fn(ctx, chain_id);
		if (r != 0)
			return r;
	}
	return 0;
}

/* Inodes with more than one link already counted (open addressing). */
struct ino_set {
	struct { dev_t dev; ino_t ino; bool used; } *slots;
	size_t cap, n;
};

static size_t ino_hash(dev_t dev, ino_t ino, size_t cap)
{
	uint64_t h = (uint64_t) ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t) dev;
	return (size_t) (h ^ (h >> 29)) & (cap - 1);
}

/* 1 when newly added, 0 when already present, -ENOMEM */
static int ino_set_add(struct ino_set *s, dev_t dev, ino_t ino)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		__typeof__(s->slots) ns = calloc(ncap, sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->slots[i].used)
				continue;
			size_t j = ino_hash(s->slots[i].dev, s->slots[i].ino, ncap);
			while (ns[j].used)
				j = (j + 1) & (ncap - 1);
			ns[j] = s->slots[i];
		}
		free(s->slots);
		s->slots = ns;
		s->cap = ncap;
	}
	size_t j = ino_hash(dev, ino, s->cap);
	while (s->slots[j].used) {
		if (s->slots[j].dev == dev && s->slots[j].ino == ino)
			return 0;
		j = (j + 1) & (s->cap - 1);
	}
	s->slots[j].dev = dev;
	s->slots[j].ino = ino;
	s->slots[j].used = true;
	s->n++;
	return 1;
}

static int usage_dir(int dfd, struct ino_set *seen, int64_t *total)
{
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de)
			return errno ? -errno : 0;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		if (S_ISREG(st.st_mode)) {
			if (st.st_nlink > 1) {
				int r = ino_set_add(seen, st.st_dev, st.st_ino);
				if (r < 0)
					return r;
				if (r == 0)
					continue;
			}
			*total += st.st_size;
		} else if (S_ISDIR(st.st_mode)) {
			int cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0)
				return -errno;
			int r = usage_dir(cfd, seen, total);
			if (r < 0)
				return r;
		}
	}
}

int64_t layer_disk_usage(struct layer_store *ls, const char *chain_id)
{
	if (!chain_id || !berth_digest_valid(chain_id))
		return -EINVAL;
	int fd = openat(ls->layers_fd, berth_digest_hex(chain_id), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct ino_set seen = { 0 };
	int64_t total = 0;
	int r = usage_dir(fd, &seen, &total);
	free(seen.slots);
	return r < 0 ? r : total;
}
