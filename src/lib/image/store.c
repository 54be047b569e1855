/* store.c — the image store (see store.h). */
#include "image/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "core/log.h"

/* How long a sweep keeps an interrupted download resumable. */
#define INGEST_MAX_AGE (24 * 3600)

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* Append a formatted line to a NULL-terminated strv report. */
static int report_add(char ***report, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int report_add(char ***report, const char *fmt, ...)
{
	if (!report)
		return 0;
	size_t n = 0;
	while (*report && (*report)[n])
		n++;
	char **v = realloc(*report, (n + 2) * sizeof(char *));
	if (!v)
		return -ENOMEM;
	*report = v;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&v[n], fmt, ap);
	va_end(ap);
	if (r < 0) {
		v[n] = NULL;
		return -ENOMEM;
	}
	v[n + 1] = NULL;
	return 0;
}

int image_store_open(const char *root, struct image_store **out, struct berth_error *err)
{
	if (!root || !*root)
		root = getenv("BERTH_ROOT");
	if (!root || !*root)
		root = IMAGE_STORE_DEFAULT_ROOT;

	_cleanup_free_ struct image_store *s = calloc(1, sizeof(*s));
	if (!s)
		return berth_err(err, ENOMEM, "image store %s: out of memory", root);
	s->root_fd = s->gc_lock_fd = -1;
	s->content.root_fd = s->content.blobs_fd = s->content.blobs_sha512_fd = s->content.ingest_fd = -1;
	s->layers.root_fd = s->layers.layers_fd = -1;

	int r = berth_mkdir_p(root, 0700);
	if (r < 0)
		return berth_errno(err, r, "image store %s: creating it", root);
	s->root = realpath(root, NULL);
	if (!s->root)
		return berth_errno(err, errno, "image store %s", root);
	s->root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0) {
		r = berth_errno(err, errno, "image store %s", s->root);
		goto fail;
	}
	s->gc_lock_fd = openat(s->root_fd, "gc.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->gc_lock_fd < 0) {
		r = berth_errno(err, errno, "image store %s: gc.lock", s->root);
		goto fail;
	}
	r = content_open(s->root_fd, &s->content, err);
	if (r < 0)
		goto fail;
	r = layer_store_open(s->root_fd, s->root, &s->layers, err);
	if (r < 0)
		goto fail;
	char dbpath[PATH_MAX];
	snprintf(dbpath, sizeof(dbpath), "%s/berth.db", s->root);
	r = db_open(dbpath, &s->db, err);
	if (r < 0)
		goto fail;
	*out = steal_ptr(s);
	return 0;
fail:
	image_store_close(steal_ptr(s));
	return r;
}

void image_store_close(struct image_store *s)
{
	if (!s)
		return;
	if (s->db)
		db_close(s->db);
	if (s->layers.root_fd >= 0 || s->layers.layers_fd >= 0)
		layer_store_close(&s->layers);
	if (s->content.root_fd >= 0 || s->content.blobs_fd >= 0)
		content_close(&s->content);
	if (s->gc_lock_fd >= 0)
		close(s->gc_lock_fd);
	if (s->root_fd >= 0)
		close(s->root_fd);
	free(s->root);
	free(s);
}

int image_store_ingest_begin(struct image_store *s, struct berth_error *err)
{
	if (s->gc_shared++ > 0)
		return 0;
	while (flock(s->gc_lock_fd, LOCK_SH) < 0) {
		if (errno != EINTR) {
			s->gc_shared--;
			return berth_errno(err, errno, "image store %s: gc.lock", s->root);
		}
	}
	return 0;
}

void image_store_ingest_end(struct image_store *s)
{
	if (s->gc_shared > 0 && --s->gc_shared == 0)
		(void) flock(s->gc_lock_fd, LOCK_UN);
}

int image_store_resolve(struct image_store *s, const char *ref_or_id, char id[BERTH_DIGEST_MAX],
			char **name_out, struct berth_error *err)
{
	struct image_ref ref = { 0 };
	struct berth_error perr = { 0 };
	if (name_out)
		*name_out = NULL;
	/* A name wins over an ID prefix, as in docker ("abc" may be both). */
	if (image_ref_parse(ref_or_id, &ref, &perr) == 0) {
		int r;
		if (ref.digest) {
			_cleanup_free_ char *repo = image_ref_repo(&ref);
			r = repo ? db_repo_digest_get(s->db, repo, ref.digest, id) : -ENOMEM;
			if (r == 0 && ref.tag) {
				/* name:tag@digest: the digest decides; the tag only has to exist for it. */
			}
		} else {
			_cleanup_free_ char *full = image_ref_string(&ref);
			r = full ? db_name_get(s->db, full, id) : -ENOMEM;
			if (r == 0 && name_out)
				*name_out = steal_ptr(full);
		}
		image_ref_clear(&ref);
		if (r == 0)
			return 0;
		if (r != -ENOENT)
			return berth_errno(err, r, "looking up image %s", ref_or_id);
	}
	if (image_ref_looks_like_id(ref_or_id)) {
		struct berth_error ierr = { 0 };
		int r = db_image_resolve_id(s->db, ref_or_id, id, &ierr);
		if (r == 0)
			return 0;
		if (r != -ENOENT) {
			if (err && !berth_error_isset(err))
				*err = ierr;
			return r;
		}
	} else if (berth_error_isset(&perr)) {
		if (err && !berth_error_isset(err))
			*err = perr;
		return -EINVAL;
	}
	return berth_err(err, ENOENT, "No such image: %s", ref_or_id);
}

void image_info_clear(struct image_info *info)
{
	db_image_clear(&info->db);
	strv_free(info->names);
	strv_free(info->repo_digests);
	free(info->manifest_raw);
	free(info->config_raw);
	if (info->manifest)
		image_manifest_free(info->manifest);
	if (info->config)
		image_config_free(info->config);
	memset(info, 0, sizeof(*info));
}

int image_store_get(struct image_store *s, const char *id, struct image_info *out, struct berth_error *err)
{
	memset(out, 0, sizeof(*out));
	int r = db_image_get(s->db, id, &out->db, err);
	if (r < 0)
		return r;
	r = db_names_of(s->db, id, &out->names);
	if (r < 0)
		goto fail_errno;
	r = db_repo_digests_of(s->db, id, &out->repo_digests);
	if (r < 0)
		goto fail_errno;
	r = content_read_blob(&s->content, out->db.manifest_digest, &out->manifest_raw, &out->manifest_len, err);
	if (r < 0)
		goto fail;
	char what[BERTH_DIGEST_MAX + 16];
	snprintf(what, sizeof(what), "manifest %s", out->db.manifest_digest);
	r = image_manifest_parse(out->manifest_raw, out->manifest_len, out->db.manifest_media_type, what,
				 &out->manifest, err);
	if (r < 0)
		goto fail;
	r = content_read_blob(&s->content, id, &out->config_raw, &out->config_len, err);
	if (r < 0)
		goto fail;
	snprintf(what, sizeof(what), "config %s", id);
	r = image_config_parse(out->config_raw, out->config_len, what, &out->config, err);
	if (r < 0)
		goto fail;
	return 0;
fail_errno:
	berth_errno(err, r, "image %s: reading its names", id);
fail:
	image_info_clear(out);
	return r;
}

/* The rows of one image, inside the caller's transaction. */
static int register_rows(struct image_store *s, const struct image_register *reg, struct berth_error *err)
{
	const struct image_manifest *m = reg->manifest;
	struct db_image im = { 0 };
	snprintf(im.id, sizeof(im.id), "%s", reg->config_digest);
	snprintf(im.manifest_digest, sizeof(im.manifest_digest), "%s", reg->manifest_digest);
	im.manifest_media_type = (char *) reg->manifest_media_type;
	im.index_digest = (char *) reg->index_digest;
	im.created = reg->config->created;
	im.os = reg->config->os;
	im.architecture = reg->config->architecture;
	im.variant = reg->config->variant;
	im.added = (int64_t) time(NULL);
	im.chain_ids = reg->chain_ids;
	im.n_layers = m->n_layers;
	for (size_t i = 0; i < m->n_layers; i++)
		im.size += reg->layer_sizes[i] > 0 ? reg->layer_sizes[i] : 0;

	int r = 0;
	for (size_t i = 0; i < m->n_layers; i++) {
		struct db_layer l = { 0 };
		snprintf(l.chain_id, sizeof(l.chain_id), "%s", reg->chain_ids[i]);
		snprintf(l.diff_id, sizeof(l.diff_id), "%s", reg->config->diff_ids[i]);
		l.parent = i > 0 ? reg->chain_ids[i - 1] : NULL;
		l.blob_digest = m->layers[i].digest;
		l.media_type = m->layers[i].media_type;
		l.blob_size = m->layers[i].size;
		l.size = reg->layer_sizes[i];
		r = db_layer_put(s->db, &l, err);
		if (r < 0)
			return r;
	}
	r = db_image_put(s->db, &im, err);
	if (r < 0)
		return r;
	r = db_image_blob_add(s->db, im.id, reg->manifest_digest, err);
	if (r >= 0)
		r = db_image_blob_add(s->db, im.id, reg->config_digest, err);
	if (r >= 0 && reg->index_digest)
		r = db_image_blob_add(s->db, im.id, reg->index_digest, err);
	for (size_t i = 0; r >= 0 && i < m->n_layers; i++)
		r = db_image_blob_add(s->db, im.id, m->layers[i].digest, err);
	if (r >= 0 && reg->name)
		r = db_name_set(s->db, reg->name, im.id, err);
	for (char *const *n = reg->more_names; r >= 0 && n && *n; n++)
		r = db_name_set(s->db, *n, im.id, err);
	if (r >= 0 && reg->repo && reg->repo_digest)
		r = db_repo_digest_add(s->db, reg->repo, reg->repo_digest, im.id, err);
	return r < 0 ? r : 0;
}

int image_store_register_n(struct image_store *s, const struct image_register *regs, size_t n,
			   struct berth_error *err)
{
	int r = db_begin(s->db, err);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = register_rows(s, &regs[i], err);
	if (r >= 0)
		r = db_commit(s->db, err);
	if (r < 0)
		db_rollback(s->db);
	return r < 0 ? r : 0;
}

int image_store_register(struct image_store *s, const struct image_register *reg, struct berth_error *err)
{
	return image_store_register_n(s, reg, 1, err);
}

/* Normalise what a user typed as a new name: "busybox" -> "docker.io/library/busybox:latest". */
static int normalise_name(const char *name, char **full, struct berth_error *err)
{
	struct image_ref ref = { 0 };
	int r = image_ref_parse(name, &ref, err);
	if (r < 0)
		return r;
	if (ref.digest) {
		image_ref_clear(&ref);
		return berth_err(err, EINVAL, "%s: a tag name cannot contain a digest", name);
	}
	*full = image_ref_string(&ref);
	image_ref_clear(&ref);
	return *full ? 0 : berth_errno(err, ENOMEM, "%s", name);
}

int image_store_tag(struct image_store *s, const char *ref_or_id, const char *name, struct berth_error *err)
{
	char id[BERTH_DIGEST_MAX];
	int r = image_store_resolve(s, ref_or_id, id, NULL, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *full = NULL;
	r = normalise_name(name, &full, err);
	if (r < 0)
		return r;
	r = db_begin(s->db, err);
	if (r < 0)
		return r;
	r = db_name_set(s->db, full, id, err);
	if (r < 0) {
		db_rollback(s->db);
		return r;
	}
	return db_commit(s->db, err);
}

/* Drop the unreferenced rows an image removal left behind, in the caller's transaction. */
static int forget_unreferenced(struct image_store *s)
{
	char **layers = NULL, **blobs = NULL;
	/* Layers first: forgetting a layer can orphan its parent, so repeat until stable. */
	for (int round = 0; round < 1024; round++) {
		int n = db_unreferenced_layers(s->db, &layers);
		if (n < 0)
			return n;
		int forgot = 0;
		for (int i = 0; i < n; i++)
			if (db_layer_forget(s->db, layers[i]) == 0)
				forgot++;
		strv_free(layers);
		layers = NULL;
		if (forgot == 0)
			break;
	}
	int n = db_unreferenced_blobs(s->db, &blobs);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		(void) db_blob_forget(s->db, blobs[i]);
	strv_free(blobs);
	return 0;
}

static bool image_in_use(struct image_store *s, const char *id)
{
	/* A container holds every layer of its image (db_layer_hold); the top
	 * one is enough to tell. */
	struct db_image im = { 0 };
	if (db_image_get(s->db, id, &im, NULL) < 0)
		return false;
	bool used = im.n_layers > 0 && db_layer_held(s->db, im.chain_ids[im.n_layers - 1]) > 0;
	db_image_clear(&im);
	return used;
}

int image_store_remove(struct image_store *s, const char *ref_or_id, bool force, char ***report,
		       struct berth_error *err)
{
	char id[BERTH_DIGEST_MAX];
	_cleanup_free_ char *name = NULL;
	int r = image_store_resolve(s, ref_or_id, id, &name, err);
	if (r < 0)
		return r;
	_cleanup_strv_ char **names = NULL;
	int n_names = db_names_of(s->db, id, &names);
	if (n_names < 0)
		return berth_errno(err, n_names, "image %s: reading its names", ref_or_id);
	bool in_use = image_in_use(s, id);

	r = db_begin(s->db, err);
	if (r < 0)
		return r;
	if (name && (n_names > 1 || (in_use && force))) {
		/* Untag only: other names (or a container) keep the image. */
		if (in_use && n_names == 1 && !force) {
			db_rollback(s->db);
			return berth_err(err, EBUSY, "unable to remove %s: image is in use by a container", ref_or_id);
		}
		r = db_name_remove(s->db, name, err);
		if (r < 0)
			goto fail;
		r = db_commit(s->db, err);
		if (r < 0)
			goto fail;
		_cleanup_free_ char *fam = image_name_familiar(name);
		report_add(report, "Untagged: %s", fam ? fam : name);
		return 0;
	}
	if (in_use) {
		db_rollback(s->db);
		return berth_err(err, EBUSY, "unable to delete %.19s (cannot be forced) - image is being used by a container",
				 berth_digest_hex(id));
	}
	if (!name && n_names > 1 && !force) {
		db_rollback(s->db);
		return berth_err(err, EBUSY,
				 "unable to delete %.12s (must be forced) - image is referenced in multiple repositories",
				 berth_digest_hex(id));
	}
	r = db_image_delete(s->db, id, err);
	if (r < 0)
		goto fail;
	r = forget_unreferenced(s);
	if (r < 0) {
		berth_errno(err, r, "image %s: collecting unreferenced layers", id);
		goto fail;
	}
	r = db_commit(s->db, err);
	if (r < 0)
		goto fail;
	for (int i = 0; i < n_names; i++) {
		_cleanup_free_ char *fam = image_name_familiar(names[i]);
		report_add(report, "Untagged: %s", fam ? fam : names[i]);
	}
	report_add(report, "Deleted: %s", id);
	(void) image_store_sweep(s, NULL, NULL);
	return 0;
fail:
	db_rollback(s->db);
	return r;
}

struct prune_ctx {
	struct image_store *s;
	bool all;
	char **ids;
	size_t n;
};

static int prune_collect(void *ctx, const struct db_image *im)
{
	struct prune_ctx *pc = ctx;
	_cleanup_strv_ char **names = NULL;
	int n = db_names_of(pc->s->db, im->id, &names);
	if (n < 0)
		return n;
	if (n > 0 && !pc->all)
		return 0;
	if (image_in_use(pc->s, im->id))
		return 0;
	char **v = realloc(pc->ids, (pc->n + 2) * sizeof(char *));
	if (!v)
		return -ENOMEM;
	pc->ids = v;
	v[pc->n] = strdup(im->id);
	if (!v[pc->n])
		return -ENOMEM;
	v[++pc->n] = NULL;
	return 0;
}

int image_store_prune(struct image_store *s, bool all, char ***report, int64_t *reclaimed,
		      struct berth_error *err)
{
	struct prune_ctx pc = { .s = s, .all = all };
	int r = db_images_walk(s->db, prune_collect, &pc);
	if (r < 0) {
		strv_free(pc.ids);
		return berth_errno(err, r, "image store %s: listing images", s->root);
	}
	for (size_t i = 0; i < pc.n; i++) {
		_cleanup_strv_ char **names = NULL;
		int n = db_names_of(s->db, pc.ids[i], &names);
		r = db_begin(s->db, err);
		if (r < 0)
			break;
		r = db_image_delete(s->db, pc.ids[i], err);
		if (r >= 0)
			r = forget_unreferenced(s);
		if (r >= 0)
			r = db_commit(s->db, err);
		if (r < 0) {
			db_rollback(s->db);
			berth_errno(err, r, "image %s: removing it", pc.ids[i]);
			break;
		}
		for (int k = 0; k < n; k++) {
			_cleanup_free_ char *fam = image_name_familiar(names[k]);
			report_add(report, "untagged: %s", fam ? fam : names[k]);
		}
		report_add(report, "deleted: %s", pc.ids[i]);
	}
	strv_free(pc.ids);
	if (r < 0)
		return r;
	int sr = image_store_sweep(s, reclaimed, err);
	if (sr == -EBUSY) {
		report_add(report, "note: a pull or load is running; unreferenced files are left for the next prune");
		return 0;
	}
	return sr;
}

struct sweep_ctx {
	struct image_store *s;
	int64_t reclaimed;
	int failures;
};

static int sweep_blob(void *ctx, const char *digest, int64_t size)
{
	struct sweep_ctx *sc = ctx;
	if (db_blob_referenced(sc->s->db, digest) != 0)
		return 0;
	if (content_delete(&sc->s->content, digest, NULL) == 0)
		sc->reclaimed += size;
	else
		sc->failures++;
	return 0;
}

static int sweep_layer(void *ctx, const char *chain_id)
{
	struct sweep_ctx *sc = ctx;
	struct db_layer l = { 0 };
	int r = db_layer_get(sc->s->db, chain_id, &l);
	db_layer_clear(&l);
	/* Only a layer the db surely does not know is garbage: a db error
	 * (busy, I/O) must not delete a layer images still use. */
	if (r != -ENOENT)
		return 0;
	int64_t size = layer_disk_usage(&sc->s->layers, chain_id);
	if (layer_delete(&sc->s->layers, chain_id, NULL) == 0)
		sc->reclaimed += size > 0 ? size : 0;
	else
		sc->failures++;
	return 0;
}

int image_store_sweep(struct image_store *s, int64_t *reclaimed, struct berth_error *err)
{
	if (reclaimed)
		*reclaimed = 0;
	if (s->gc_shared > 0)
		return -EBUSY;
	if (flock(s->gc_lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return -EBUSY;
		return berth_errno(err, errno, "image store %s: gc.lock", s->root);
	}
	struct sweep_ctx sc = { .s = s };
	int r = layer_walk(&s->layers, sweep_layer, &sc);
	if (r >= 0)
		r = content_walk(&s->content, sweep_blob, &sc);
	(void) layer_store_sweep(&s->layers);
	/* Crash leftovers in ingest/ and abandoned partial downloads. */
	(void) content_sweep(&s->content, INGEST_MAX_AGE);
	(void) flock(s->gc_lock_fd, LOCK_UN);
	if (r < 0)
		return berth_errno(err, r, "image store %s: sweeping", s->root);
	if (sc.failures > 0)
		log_warn("image store %s: %d unreferenced files could not be removed", s->root, sc.failures);
	if (reclaimed)
		*reclaimed = sc.reclaimed;
	return 0;
}

int image_store_walk(struct image_store *s, int (*fn)(void *ctx, const struct db_image *im), void *ctx)
{
	return db_images_walk(s->db, fn, ctx);
}

int image_store_layer_path(struct image_store *s, const char *chain_id, char *buf, size_t len)
{
	return layer_path(&s->layers, chain_id, buf, len);
}

char *image_name_familiar(const char *full_name)
{
	if (!full_name)
		return strdup("<none>");
	struct image_ref ref = { 0 };
	if (image_ref_parse(full_name, &ref, NULL) < 0)
		return strdup(full_name);
	char *f = image_ref_familiar(&ref);
	image_ref_clear(&ref);
	return f;
}

/* --- inspect ------------------------------------------------------------- */

static json_t *json_str_or_empty(const char *s)
{
	return json_string(s ? s : "");
}

json_t *image_store_inspect(struct image_store *s, const char *id, struct berth_error *err)
{
	struct image_info info;
	if (image_store_get(s, id, &info, err) < 0)
		return NULL;
	json_t *o = json_object();
	json_t *tags = json_array(), *digests = json_array();
	for (char **p = info.names; p && *p; p++) {
		char *f = image_name_familiar(*p);
		if (f)
			json_array_append_new(tags, json_string(f));
		free(f);
	}
	for (char **p = info.repo_digests; p && *p; p++) {
		char *f = image_name_familiar(*p);
		json_array_append_new(digests, json_string(f ? f : *p));
		free(f);
	}
	json_t *cfg = info.config->json;
	json_object_set_new(o, "Id", json_string(id));
	json_object_set_new(o, "RepoTags", tags);
	json_object_set_new(o, "RepoDigests", digests);
	json_object_set_new(o, "Parent", json_string(""));
	json_t *comment = json_object_get(cfg, "comment");
	json_object_set_new(o, "Comment", json_string(json_is_string(comment) ? json_string_value(comment) : ""));
	json_object_set_new(o, "Created", json_str_or_empty(info.config->created));
	json_t *dv = json_object_get(cfg, "docker_version");
	json_object_set_new(o, "DockerVersion", json_string(json_is_string(dv) ? json_string_value(dv) : ""));
	json_object_set_new(o, "Author", json_str_or_empty(info.config->author));
	json_t *config = json_object_get(cfg, "config");
	json_object_set_new(o, "Config", config ? json_deep_copy(config) : json_null());
	json_object_set_new(o, "Architecture", json_str_or_empty(info.config->architecture));
	if (info.config->variant)
		json_object_set_new(o, "Variant", json_string(info.config->variant));
	json_object_set_new(o, "Os", json_str_or_empty(info.config->os));
	json_object_set_new(o, "Size", json_integer(info.db.size));

	json_t *gd = json_object(), *gdd = json_object();
	if (info.db.n_layers > 0) {
		char path[PATH_MAX];
		/* overlay stacks lowerdirs top first */
		size_t cap = info.db.n_layers * (PATH_MAX + 1);
		_cleanup_free_ char *lower = calloc(1, cap);
		for (size_t i = info.db.n_layers; lower && i-- > 0;) {
			if (layer_path(&s->layers, info.db.chain_ids[i], path, sizeof(path)) < 0)
				continue;
			if (*lower)
				strcat(lower, ":");
			strcat(lower, path);
		}
		if (lower)
			json_object_set_new(gdd, "LowerDir", json_string(lower));
	}
	json_object_set_new(gd, "Data", gdd);
	json_object_set_new(gd, "Name", json_string("overlay"));
	json_object_set_new(o, "GraphDriver", gd);

	json_t *rootfs = json_object(), *layers = json_array();
	for (size_t i = 0; i < info.config->n_diff_ids; i++)
		json_array_append_new(layers, json_string(info.config->diff_ids[i]));
	json_object_set_new(rootfs, "Type", json_string("layers"));
	json_object_set_new(rootfs, "Layers", layers);
	json_object_set_new(o, "RootFS", rootfs);

	json_t *meta = json_object();
	char when[64] = "";
	time_t added = (time_t) info.db.added;
	struct tm tm;
	if (gmtime_r(&added, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(meta, "LastTagTime", json_string(when));
	json_object_set_new(o, "Metadata", meta);
	json_object_set_new(o, "ManifestDigest", json_string(info.db.manifest_digest));
	json_object_set_new(o, "ManifestMediaType", json_str_or_empty(info.db.manifest_media_type));
	image_info_clear(&info);
	return o;
}
