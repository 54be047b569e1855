/* commit.c — a container's upper dir as a new image layer (see commit.h). */
#include "engine/commit.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <zlib.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "core/log.h"
#include "engine/container.h"
#include "engine/copy.h"
#include "image/ingest.h"
#include "image/reference.h"

#define COPY_BUF (1u << 20)

static void json_decrefp_(json_t **j) { if (*j) json_decref(*j); }
#define _cleanup_json_ _cleanup_(json_decrefp_)
static void archive_writep(struct archive **a) { if (*a) archive_write_free(*a); }

/* ------------------------------------------------------------------ --change */

/* Dockerfile words: whitespace-separated, "..." with backslash escapes, '...' literal. */
static int split_words(const char *s, char ***out, size_t *n_out)
{
	_cleanup_strv_ char **v = NULL;
	size_t n = 0;
	_cleanup_free_ char *buf = malloc(strlen(s) + 1);
	if (!buf)
		return -ENOMEM;
	const char *p = s;
	for (;;) {
		while (isspace((unsigned char) *p))
			p++;
		if (!*p)
			break;
		size_t len = 0;
		while (*p && !isspace((unsigned char) *p)) {
			if (*p == '"') {
				for (p++; *p && *p != '"'; p++) {
					if (*p == '\\' && p[1])
						p++;
					buf[len++] = *p;
				}
				if (!*p)
					return -EINVAL;
				p++;
			} else if (*p == '\'') {
				for (p++; *p && *p != '\''; p++)
					buf[len++] = *p;
				if (!*p)
					return -EINVAL;
				p++;
			} else {
				if (*p == '\\' && p[1])
					p++;
				buf[len++] = *p++;
			}
		}
		char **nv = realloc(v, (n + 2) * sizeof(char *));
		if (!nv)
			return -ENOMEM;
		v = nv;
		v[n] = strndup(buf, len);
		v[n + 1] = NULL;
		if (!v[n++])
			return -ENOMEM;
	}
	*out = steal_ptr(v);
	*n_out = n;
	return 0;
}

/* JSON form ["a","b"] or shell form (wrapped in /bin/sh -c). */
static json_t *exec_form(const char *rest, bool shell_wrap)
{
	if (rest[0] == '[') {
		json_t *a = json_loads(rest, 0, NULL);
		size_t i;
		json_t *v;
		if (!json_is_array(a))
			goto bad;
		json_array_foreach(a, i, v)
			if (!json_is_string(v))
				goto bad;
		return a;
bad:
		json_decref(a);
		return NULL;
	}
	if (!shell_wrap)
		return NULL;
	return json_pack("[s,s,s]", "/bin/sh", "-c", rest);
}

static json_t *obj_of(json_t *config, const char *key)
{
	json_t *o = json_object_get(config, key);
	if (!json_is_object(o)) {
		o = json_object();
		if (!o || json_object_set_new(config, key, o) < 0)
			return NULL;
	}
	return o;
}

static int env_set(json_t *config, const char *key, const char *value)
{
	json_t *env = json_object_get(config, "Env");
	if (!json_is_array(env)) {
		env = json_array();
		if (!env || json_object_set_new(config, "Env", env) < 0)
			return -ENOMEM;
	}
	_cleanup_free_ char *kv = NULL;
	if (asprintf(&kv, "%s=%s", key, value) < 0)
		return -ENOMEM;
	size_t klen = strlen(key), i;
	json_t *v;
	json_array_foreach(env, i, v) {
		const char *s = json_string_value(v);
		if (s && !strncmp(s, key, klen) && (s[klen] == '=' || !s[klen]))
			return json_array_set_new(env, i, json_string(kv));
	}
	return json_array_append_new(env, json_string(kv));
}

int commit_apply_change(json_t *config, const char *change, bool *cmd_set, bool *entrypoint_set,
			struct berth_error *err)
{
	while (isspace((unsigned char) *change))
		change++;
	size_t kl = 0;
	while (change[kl] && !isspace((unsigned char) change[kl]))
		kl++;
	char kw[16] = "";
	if (kl == 0 || kl >= sizeof(kw))
		return berth_err(err, EINVAL, "--change \"%s\": not a Dockerfile instruction", change);
	for (size_t i = 0; i < kl; i++)
		kw[i] = (char) toupper((unsigned char) change[i]);
	const char *rest = change + kl;
	while (isspace((unsigned char) *rest))
		rest++;
	_cleanup_free_ char *val = strdup(rest);
	if (!val)
		return berth_errno(err, ENOMEM, "--change");
	for (size_t n = strlen(val); n && isspace((unsigned char) val[n - 1]);)
		val[--n] = '\0';
	if (!*val)
		return berth_err(err, EINVAL, "--change \"%s\": %s needs an argument", change, kw);

	if (!strcmp(kw, "CMD") || !strcmp(kw, "ENTRYPOINT")) {
		json_t *a = exec_form(val, true);
		if (!a)
			return berth_err(err, EINVAL, "--change \"%s\": %s: not a JSON array of strings", change, kw);
		bool cmd = kw[0] == 'C';
		json_object_set_new(config, cmd ? "Cmd" : "Entrypoint", a);
		*(cmd ? cmd_set : entrypoint_set) = true;
		return 0;
	}
	if (!strcmp(kw, "WORKDIR")) {
		const char *cur = json_string_value(json_object_get(config, "WorkingDir"));
		_cleanup_free_ char *wd = NULL;
		if (val[0] != '/' && asprintf(&wd, "%s/%s", cur && *cur ? cur : "", val) < 0)
			return berth_errno(err, ENOMEM, "--change");
		return json_object_set_new(config, "WorkingDir", json_string(wd ? wd : val)) < 0
			       ? berth_errno(err, ENOMEM, "--change") : 0;
	}
	if (!strcmp(kw, "USER") || !strcmp(kw, "STOPSIGNAL"))
		return json_object_set_new(config, kw[0] == 'U' ? "User" : "StopSignal", json_string(val)) < 0
			       ? berth_errno(err, ENOMEM, "--change") : 0;

	_cleanup_strv_ char **words = NULL;
	size_t n = 0;
	if (!strcmp(kw, "VOLUME") && val[0] == '[') {
		_cleanup_json_ json_t *a = exec_form(val, false);
		if (!a)
			return berth_err(err, EINVAL, "--change \"%s\": VOLUME: not a JSON array of strings", change);
		json_t *vols = obj_of(config, "Volumes");
		size_t i;
		json_t *v;
		json_array_foreach(a, i, v)
			if (!vols || json_object_set_new(vols, json_string_value(v), json_object()) < 0)
				return berth_errno(err, ENOMEM, "--change");
		return 0;
	}
	int r = split_words(val, &words, &n);
	if (r < 0)
		return r == -EINVAL ? berth_err(err, EINVAL, "--change \"%s\": unterminated quote", change)
				    : berth_errno(err, r, "--change");
	if (!strcmp(kw, "ENV") || !strcmp(kw, "LABEL")) {
		bool env = kw[0] == 'E';
		/* ENV's legacy form "ENV KEY value with spaces" */
		if (env && !strchr(words[0], '=')) {
			if (n < 2)
				return berth_err(err, EINVAL, "--change \"%s\": ENV needs KEY VALUE or KEY=VALUE", change);
			const char *v = val + strlen(words[0]);
			while (isspace((unsigned char) *v))
				v++;
			return env_set(config, words[0], v) < 0 ? berth_errno(err, ENOMEM, "--change") : 0;
		}
		json_t *labels = env ? NULL : obj_of(config, "Labels");
		for (size_t i = 0; i < n; i++) {
			char *eq = strchr(words[i], '=');
			if (!eq || eq == words[i])
				return berth_err(err, EINVAL, "--change \"%s\": %s: \"%s\" is not KEY=VALUE", change, kw,
						 words[i]);
			*eq = '\0';
			r = env ? env_set(config, words[i], eq + 1)
				: labels ? json_object_set_new(labels, words[i], json_string(eq + 1)) : -ENOMEM;
			if (r < 0)
				return berth_errno(err, ENOMEM, "--change");
		}
		return 0;
	}
	if (!strcmp(kw, "EXPOSE") || !strcmp(kw, "VOLUME")) {
		bool expose = kw[0] == 'E';
		json_t *o = obj_of(config, expose ? "ExposedPorts" : "Volumes");
		for (size_t i = 0; i < n; i++) {
			_cleanup_free_ char *key = NULL;
			if (expose) {
				char *end;
				unsigned long port = strtoul(words[i], &end, 10);
				if (end == words[i] || port == 0 || port > 65535 ||
				    (*end && strcmp(end, "/tcp") && strcmp(end, "/udp") && strcmp(end, "/sctp")))
					return berth_err(err, EINVAL, "--change \"%s\": EXPOSE: invalid port \"%s\"", change,
							 words[i]);
				if (asprintf(&key, "%lu%s", port, *end ? end : "/tcp") < 0)
					key = NULL;
			} else {
				key = strdup(words[i]);
			}
			if (!o || !key || json_object_set_new(o, key, json_object()) < 0)
				return berth_errno(err, ENOMEM, "--change");
		}
		return 0;
	}
	return berth_err(err, EINVAL,
			 "--change \"%s\": %s is not supported (use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, "
			 "USER, VOLUME or WORKDIR)", change, kw);
}

/* ------------------------------------------------------------------ config */

static bool nonempty_array(json_t *a) { return json_is_array(a) && json_array_size(a) > 0; }

/* What the container was created with on top of its image, as docker's commit merges it. */
static int merge_container_config(json_t *config, json_t *ctr)
{
	json_t *v;
	if (!json_is_object(ctr))
		return 0;
	json_t *ep = json_object_get(ctr, "Entrypoint");
	json_t *cmd = json_object_get(ctr, "Cmd");
	if (json_is_array(ep)) {
		json_object_set_new(config, "Entrypoint", json_array_size(ep) ? json_deep_copy(ep) : json_null());
		if (!nonempty_array(cmd))
			json_object_set_new(config, "Cmd", json_null());
	}
	if (nonempty_array(cmd))
		json_object_set_new(config, "Cmd", json_deep_copy(cmd));
	size_t i;
	json_array_foreach(json_object_get(ctr, "Env"), i, v) {
		const char *s = json_string_value(v);
		const char *eq = s ? strchr(s, '=') : NULL;
		if (!eq)
			continue;
		_cleanup_free_ char *k = strndup(s, (size_t) (eq - s));
		if (!k || env_set(config, k, eq + 1) < 0)
			return -ENOMEM;
	}
	static const char *const strs[] = { "User", "WorkingDir", "StopSignal" };
	for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
		const char *s = json_string_value(json_object_get(ctr, strs[k]));
		if (s && *s)
			json_object_set_new(config, strs[k], json_string(s));
	}
	json_t *labels = json_object_get(ctr, "Labels");
	if (json_is_object(labels) && json_object_size(labels)) {
		json_t *l = obj_of(config, "Labels");
		if (!l || json_object_update(l, labels) < 0)
			return -ENOMEM;
	}
	return 0;
}

static char *command_line(json_t *config)
{
	size_t cap = 64, len = 0;
	char *s = calloc(1, cap);
	const char *keys[] = { "Entrypoint", "Cmd" };
	for (int k = 0; s && k < 2; k++) {
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(config, keys[k]), i, v) {
			const char *w = json_string_value(v);
			size_t need = len + (w ? strlen(w) : 0) + 2;
			if (!w)
				continue;
			if (need > cap) {
				while (cap < need)
					cap *= 2;
				char *t = realloc(s, cap);
				if (!t) {
					free(s);
					return NULL;
				}
				s = t;
			}
			len += (size_t) sprintf(s + len, "%s%s", len ? " " : "", w);
		}
	}
	return s;
}

static char *now_rfc3339(void)
{
	struct timespec ts;
	struct tm tm;
	char buf[64], *s;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	if (asprintf(&s, "%s.%09ldZ", buf, ts.tv_nsec) < 0)
		return NULL;
	return s;
}

/* ------------------------------------------------------------------ layer */

struct layer_out {
	z_stream zs;
	bool zs_init;
	int tmp_fd;
	struct berth_hasher *diff_h, *blob_h;
	int64_t blob_bytes;
	unsigned char *out;
	int error;
};

static int deflate_out(struct layer_out *c, int flush)
{
	int zr;
	do {
		c->zs.next_out = c->out;
		c->zs.avail_out = COPY_BUF;
		zr = deflate(&c->zs, flush);
		if (zr == Z_STREAM_ERROR)
			return -EIO;
		size_t have = COPY_BUF - c->zs.avail_out;
		if (have) {
			berth_hasher_update(c->blob_h, c->out, have);
			int r = berth_write_all(c->tmp_fd, c->out, have);
			if (r < 0)
				return r;
			c->blob_bytes += (int64_t) have;
		}
	} while (c->zs.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}

static la_ssize_t layer_write(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct layer_out *c = ctx;
	berth_hasher_update(c->diff_h, buf, len);
	c->zs.next_in = (Bytef *) buf;
	c->zs.avail_in = (uInt) len;
	int r = deflate_out(c, Z_NO_FLUSH);
	if (r < 0) {
		c->error = r;
		archive_set_error(a, -r, "writing the layer: %s", strerror(-r));
		return -1;
	}
	return (la_ssize_t) len;
}

/* An anonymous temp file in the content store's ingest dir (same file system as the blobs). */
static int tmpfile_in(int dirfd, struct berth_error *err)
{
	int fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	char name[64];
	snprintf(name, sizeof(name), ".commit-%d.tmp", (int) getpid());
	fd = openat(dirfd, name, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return berth_errno(err, errno, "creating a temporary file in the store's ingest directory");
	unlinkat(dirfd, name, 0);
	return fd;
}

static int put_tmpfile(struct content_store *cs, int fd, const char *digest, int64_t size, struct berth_error *err)
{
	struct content_writer *w = NULL;
	_cleanup_free_ char *buf = NULL;
	int64_t resume = 0;
	int r = content_writer_begin(cs, digest, size, &w, &resume, err);
	if (r == -EEXIST)
		return 0;
	if (r < 0)
		return r;
	if (resume > 0 && (r = content_writer_truncate(w, err)) < 0)
		goto fail;
	buf = malloc(COPY_BUF);
	if (!buf) {
		r = berth_errno(err, ENOMEM, "commit");
		goto fail;
	}
	for (off_t off = 0;;) {
		ssize_t n = pread(fd, buf, COPY_BUF, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = berth_errno(err, errno, "commit: reading the layer back");
			goto fail;
		}
		if (n == 0)
			break;
		if ((r = content_writer_write(w, buf, (size_t) n, err)) < 0)
			goto fail;
		off += n;
	}
	return content_writer_commit(w, err);
fail:
	content_writer_abort(w, false);
	return r;
}

/* The upper dir as a gzip'd layer blob in the store; its diff_id and blob digest. */
static int write_layer(struct image_store *s, int upper_fd, const char *what, char diff_id[BERTH_DIGEST_MAX],
		       char blob[BERTH_DIGEST_MAX], int64_t *blob_size, struct berth_error *err)
{
	_cleanup_hasher_ struct berth_hasher *dh = NULL, *bh = NULL;
	_cleanup_close_ int tmp = -1;
	_cleanup_free_ unsigned char *out = malloc(COPY_BUF);
	_cleanup_(archive_writep) struct archive *a = NULL;
	struct layer_out c = { 0 };
	int r;
	if (!out)
		return berth_errno(err, ENOMEM, "commit");
	if (berth_hasher_new(BERTH_DIGEST_SHA256, &dh) < 0 || berth_hasher_new(BERTH_DIGEST_SHA256, &bh) < 0)
		return berth_err(err, EIO, "commit: cannot initialise sha256");
	tmp = tmpfile_in(s->content.ingest_fd, err);
	if (tmp < 0)
		return tmp;
	c.tmp_fd = tmp;
	c.diff_h = dh;
	c.blob_h = bh;
	c.out = out;
	if (deflateInit2(&c.zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return berth_err(err, ENOMEM, "commit: cannot initialise gzip");
	c.zs_init = true;
	a = archive_write_new();
	if (!a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open2(a, &c, NULL, layer_write, NULL, NULL) != ARCHIVE_OK) {
		r = berth_err(err, EIO, "commit: %s", a ? archive_error_string(a) : "out of memory");
		goto out;
	}
	r = copy_tree_to_tar(a, upper_fd, true, what, err);
	if (r < 0)
		goto out;
	if (archive_write_close(a) != ARCHIVE_OK) {
		r = berth_err(err, c.error ? -c.error : EIO, "commit: %s", archive_error_string(a));
		goto out;
	}
	c.zs.next_in = NULL;
	c.zs.avail_in = 0;
	r = deflate_out(&c, Z_FINISH);
	if (r < 0) {
		berth_errno(err, r, "commit: writing the layer");
		goto out;
	}
	berth_hasher_final(dh, diff_id);
	berth_hasher_final(bh, blob);
	*blob_size = c.blob_bytes;
	r = put_tmpfile(&s->content, tmp, blob, c.blob_bytes, err);
out:
	if (c.zs_init)
		deflateEnd(&c.zs);
	return r;
}

static int64_t layer_size(struct image_store *s, const char *chain_id)
{
	struct db_layer l = { 0 };
	if (db_layer_get(s->db, chain_id, &l) == 0) {
		int64_t size = l.size;
		db_layer_clear(&l);
		if (size >= 0)
			return size;
	}
	int64_t size = layer_disk_usage(&s->layers, chain_id);
	return size < 0 ? 0 : size;
}

/* OCI media type for one of the base image's layers (it may come from a Docker schema2 manifest). */
static const char *oci_layer_type(const struct image_descriptor *l)
{
	struct image_mt_info info;
	if (image_media_type_info(l->media_type, &info) < 0 || info.kind != MT_KIND_LAYER)
		return NULL;
	switch (info.comp) {
	case IMAGE_COMP_GZIP: return info.foreign ? MT_OCI_LAYER_ND_GZ : MT_OCI_LAYER_GZ;
	case IMAGE_COMP_ZSTD: return info.foreign ? MT_OCI_LAYER_ND_ZST : MT_OCI_LAYER_ZST;
	default: return info.foreign ? MT_OCI_LAYER_ND : MT_OCI_LAYER;
	}
}

/* ------------------------------------------------------------------ commit */

struct commit_state {
	struct ctr_record rec;
	struct image_info info;
	char **chains;
	int64_t *sizes;
	char *full_name, *created, *craw, *mraw;
	json_t *cfg_doc, *man_doc;
	struct image_config *cfg;
	struct image_manifest *man;
};

static void commit_state_clear(struct commit_state *c)
{
	ctr_record_clear(&c->rec);
	image_info_clear(&c->info);
	if (c->chains)
		for (size_t i = 0; c->chains[i]; i++)
			free(c->chains[i]);
	free(c->chains);
	free(c->sizes);
	free(c->full_name);
	free(c->created);
	free(c->craw);
	free(c->mraw);
	json_decref(c->cfg_doc);
	json_decref(c->man_doc);
	if (c->cfg)
		image_config_free(c->cfg);
	if (c->man)
		image_manifest_free(c->man);
}

static int build_config(struct commit_state *c, const struct commit_opts *o, const char *diff_id,
			struct berth_error *err)
{
	c->cfg_doc = c->info.config && c->info.config->json ? json_deep_copy(c->info.config->json) : json_object();
	if (!c->cfg_doc)
		return berth_errno(err, ENOMEM, "commit");
	json_t *doc = c->cfg_doc;
	json_t *config = obj_of(doc, "config");
	if (!config || merge_container_config(config, json_object_get(c->rec.record, "Config")) < 0)
		return berth_errno(err, ENOMEM, "commit");
	_cleanup_free_ char *created_by = command_line(config);
	bool cmd_set = false, ep_set = false;
	for (size_t i = 0; i < o->n_changes; i++) {
		int r = commit_apply_change(config, o->changes[i], &cmd_set, &ep_set, err);
		if (r < 0)
			return r;
	}
	if (ep_set && !cmd_set)
		json_object_set_new(config, "Cmd", json_null());
	/* docker keeps no record of the container the image came from in OCI form */
	json_object_del(doc, "container");
	json_object_del(doc, "container_config");
	json_object_set_new(doc, "created", json_string(c->created));
	if (o->author && *o->author)
		json_object_set_new(doc, "author", json_string(o->author));
	json_t *rootfs = obj_of(doc, "rootfs");
	if (!rootfs)
		return berth_errno(err, ENOMEM, "commit");
	json_object_set_new(rootfs, "type", json_string("layers"));
	json_t *ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_array(ids)) {
		ids = json_array();
		json_object_set_new(rootfs, "diff_ids", ids);
	}
	json_array_append_new(ids, json_string(diff_id));
	json_t *hist = json_object_get(doc, "history");
	if (!json_is_array(hist)) {
		hist = json_array();
		json_object_set_new(doc, "history", hist);
	}
	json_t *h = json_pack("{s:s, s:s}", "created", c->created, "created_by", created_by ? created_by : "");
	if (!h)
		return berth_errno(err, ENOMEM, "commit");
	if (o->author && *o->author)
		json_object_set_new(h, "author", json_string(o->author));
	if (o->message && *o->message)
		json_object_set_new(h, "comment", json_string(o->message));
	json_array_append_new(hist, h);
	return 0;
}

static int build_manifest(struct commit_state *c, const char *cdigest, const char *blob, int64_t blob_size,
			  struct berth_error *err)
{
	const struct image_manifest *base = c->info.manifest;
	json_t *layers = json_array();
	c->man_doc = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST,
			       "config", "mediaType", MT_OCI_CONFIG, "digest", cdigest, "size",
			       (json_int_t) strlen(c->craw), "layers", layers);
	if (!c->man_doc)
		return berth_errno(err, ENOMEM, "commit");
	for (size_t i = 0; base && i < base->n_layers; i++) {
		const char *mt = oci_layer_type(&base->layers[i]);
		if (!mt)
			return berth_err(err, ENOTSUP, "commit: image %s: layers[%zu]: unsupported media type \"%s\"",
					 c->rec.image_id, i, base->layers[i].media_type);
		json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest",
							base->layers[i].digest, "size", (json_int_t) base->layers[i].size));
	}
	json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType", MT_OCI_LAYER_GZ, "digest", blob, "size",
						(json_int_t) blob_size));
	return 0;
}

static bool is_paused(struct engine *e, const char *id)
{
	char marker[PATH_MAX];
	snprintf(marker, sizeof(marker), "%s/containers/%s/paused", e->root, id);
	return access(marker, F_OK) == 0;
}

int engine_commit(struct engine *e, const char *id, const struct commit_opts *o, char image_id[BERTH_DIGEST_MAX],
		  struct berth_error *err)
{
	struct image_store *s = e->images;
	struct commit_state c = { 0 };
	char bundle[PATH_MAX], upper[PATH_MAX + 8], what[64];
	char diff_id[BERTH_DIGEST_MAX], blob[BERTH_DIGEST_MAX], chain[BERTH_DIGEST_MAX];
	char cdigest[BERTH_DIGEST_MAX], mdigest[BERTH_DIGEST_MAX];
	int64_t blob_size = 0;
	bool froze = false, ingesting = false;
	_cleanup_close_ int upper_fd = -1;
	int r;

	snprintf(what, sizeof(what), "commit of container %.12s", id);
	snprintf(bundle, sizeof(bundle), "%s/containers/%s", e->root, id);
	snprintf(upper, sizeof(upper), "%s/upper", bundle);
	if (o->name) {
		struct image_ref ref = { 0 };
		r = image_ref_parse(o->name, &ref, err);
		if (r < 0)
			return r;
		if (ref.digest) {
			image_ref_clear(&ref);
			return berth_err(err, EINVAL, "commit: name \"%s\" must not contain a digest", o->name);
		}
		c.full_name = image_ref_string(&ref);
		image_ref_clear(&ref);
		if (!c.full_name)
			return berth_errno(err, ENOMEM, "commit");
	}
	r = ctr_record_get(s->db, id, &c.rec, err);
	if (r < 0)
		goto out;
	r = image_store_get(s, c.rec.image_id, &c.info, err);
	if (r < 0) {
		berth_error_prefix(err, "commit: the container's image");
		goto out;
	}
	upper_fd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (upper_fd < 0) {
		r = berth_errno(err, errno, "%s", upper);
		goto out;
	}

	if (o->pause) {
		struct ctr_state st = { 0 };
		if (ctr_state_read(bundle, &st) == 0 && !strcmp(st.state, "running") && !is_paused(e, id)) {
			r = engine_pause(e, id, true, err);
			if (r < 0) {
				ctr_state_clear(&st);
				goto out;
			}
			froze = true;
		}
		ctr_state_clear(&st);
	}
	r = image_store_ingest_begin(s, err);
	if (r < 0)
		goto out;
	ingesting = true;
	r = write_layer(s, upper_fd, what, diff_id, blob, &blob_size, err);
	if (froze) {
		struct berth_error uerr = { 0 };
		if (engine_pause(e, id, false, &uerr) < 0)
			log_warn("commit: unpausing container %.12s: %s", id, uerr.msg);
		froze = false;
	}
	if (r < 0)
		goto out;

	/* The new layer sits on the image's top layer. */
	size_t n = c.info.db.n_layers;
	r = berth_chain_id(n ? c.info.db.chain_ids[n - 1] : NULL, diff_id, chain);
	if (r < 0) {
		berth_errno(err, r, "commit: chain id");
		goto out;
	}
	c.chains = calloc(n + 2, sizeof(char *));
	c.sizes = calloc(n + 1, sizeof(int64_t));
	if (!c.chains || !c.sizes) {
		r = berth_errno(err, ENOMEM, "commit");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		c.chains[i] = strdup(c.info.db.chain_ids[i]);
		if (!c.chains[i]) {
			r = berth_errno(err, ENOMEM, "commit");
			goto out;
		}
		c.sizes[i] = layer_size(s, c.chains[i]);
	}
	c.chains[n] = strdup(chain);
	if (!c.chains[n]) {
		r = berth_errno(err, ENOMEM, "commit");
		goto out;
	}
	r = layer_exists(&s->layers, chain);
	if (r < 0) {
		berth_errno(err, r, "commit: checking layer %s", chain);
		goto out;
	}
	c.sizes[n] = -1;
	if (r == 0) {
		struct ingest_params p = {
			.blob_digest = blob, .blob_size = blob_size, .comp = IMAGE_COMP_GZIP, .diff_id = diff_id,
			.chain_id = chain, .store_blob = true, .what = what,
			.unpack = { .refuse_devices = geteuid() != 0, .no_chown = geteuid() != 0 },
		};
		r = ingest_from_blob(s, &p, &c.sizes[n], err);
		if (r < 0 && r != -EEXIST)
			goto out;
	}
	if (c.sizes[n] < 0)
		c.sizes[n] = layer_size(s, chain);

	c.created = now_rfc3339();
	if (!c.created) {
		r = berth_errno(err, ENOMEM, "commit");
		goto out;
	}
	r = build_config(&c, o, diff_id, err);
	if (r < 0)
		goto out;
	c.craw = json_dumps(c.cfg_doc, JSON_COMPACT);
	if (!c.craw) {
		r = berth_errno(err, ENOMEM, "commit");
		goto out;
	}
	r = content_put_buf(&s->content, c.craw, strlen(c.craw), NULL, cdigest, err);
	if (r < 0)
		goto out;
	r = image_config_parse(c.craw, strlen(c.craw), "committed image config", &c.cfg, err);
	if (r < 0)
		goto out;
	r = build_manifest(&c, cdigest, blob, blob_size, err);
	if (r < 0)
		goto out;
	c.mraw = json_dumps(c.man_doc, JSON_COMPACT);
	if (!c.mraw) {
		r = berth_errno(err, ENOMEM, "commit");
		goto out;
	}
	r = content_put_buf(&s->content, c.mraw, strlen(c.mraw), NULL, mdigest, err);
	if (r < 0)
		goto out;
	r = image_manifest_parse(c.mraw, strlen(c.mraw), MT_OCI_MANIFEST, "committed image manifest", &c.man, err);
	if (r < 0)
		goto out;
	{
		struct image_register reg = {
			.manifest_digest = mdigest,
			.manifest_media_type = MT_OCI_MANIFEST,
			.config = c.cfg,
			.config_digest = cdigest,
			.manifest = c.man,
			.chain_ids = c.chains,
			.layer_sizes = c.sizes,
			.name = c.full_name,
		};
		r = image_store_register(s, &reg, err);
		if (r < 0)
			goto out;
	}
	snprintf(image_id, BERTH_DIGEST_MAX, "%s", cdigest);
	r = 0;
out:
	if (froze)
		(void) engine_pause(e, id, false, NULL);
	if (ingesting) {
		image_store_ingest_end(s);
		if (r < 0) {
			struct berth_error ignored = { 0 };
			(void) image_store_sweep(s, NULL, &ignored);
		}
	}
	commit_state_clear(&c);
	return r;
}
