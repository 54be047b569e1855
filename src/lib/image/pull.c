/* pull.c — registry → image store, and back (see pull.h). */
#include "image/pull.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/log.h"
#include "image/ingest.h"
#include "image/reference.h"

#define PULL_DEFAULT_JOBS 3
#define CONFIG_MAX (32 * 1024 * 1024)
#define PULL_RESTARTS 3

/* Serialises progress callbacks from the worker threads. */
struct reporter {
	const struct pull_progress *cb;
	pthread_mutex_t lock;
};

static void say(struct reporter *rp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct reporter *rp, const char *fmt, ...)
{
	if (!rp->cb || !rp->cb->message)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&rp->lock);
	rp->cb->message(rp->cb->ctx, line);
	pthread_mutex_unlock(&rp->lock);
}

static void layer_state(struct reporter *rp, size_t idx, size_t n, const char *digest,
			enum pull_layer_state st, uint64_t done, int64_t total)
{
	if (!rp->cb || !rp->cb->layer)
		return;
	pthread_mutex_lock(&rp->lock);
	rp->cb->layer(rp->cb->ctx, idx, n, digest, st, done, total);
	pthread_mutex_unlock(&rp->lock);
}

/* --- small blobs (config) into memory ------------------------------------ */

struct membuf {
	char *data;
	size_t len, cap, max;
};

static int membuf_sink(void *ctx, const void *buf, size_t len)
{
	struct membuf *m = ctx;
	if (m->len + len > m->max)
		return -EFBIG;
	if (m->len + len + 1 > m->cap) {
		size_t cap = m->cap ? m->cap : 16384;
		while (cap < m->len + len + 1)
			cap *= 2;
		char *d = realloc(m->data, cap);
		if (!d)
			return -ENOMEM;
		m->data = d;
		m->cap = cap;
	}
	memcpy(m->data + m->len, buf, len);
	m->len += len;
	m->data[m->len] = '\0';
	return 0;
}

/* Fetch a small blob (config) and check it against its descriptor. */
static int fetch_small_blob(struct registry *reg, const struct image_descriptor *d, const char *what,
			    char **out, size_t *len, struct berth_error *err)
{
	for (int attempt = 0;; attempt++) {
		struct membuf m = { .max = CONFIG_MAX };
		int r = registry_get_blob(reg, d->digest, 0, membuf_sink, &m, NULL, err);
		if (r == -ESPIPE && attempt < PULL_RESTARTS) {
			free(m.data);
			berth_error_clear(err);
			continue;
		}
		if (r == -EFBIG)
			r = berth_err(err, EFBIG, "%s %s: larger than %d bytes", what, d->digest, CONFIG_MAX);
		if (r < 0) {
			free(m.data);
			return r;
		}
		if (!m.data && membuf_sink(&m, "", 0) < 0)
			return berth_errno(err, ENOMEM, "%s", what);
		char got[BERTH_DIGEST_MAX];
		struct berth_hasher *h = NULL;
		r = berth_hasher_new_like(d->digest, &h);
		if (r < 0) {
			free(m.data);
			return berth_errno(err, r, "%s", what);
		}
		berth_hasher_update(h, m.data, m.len);
		berth_hasher_final(h, got);
		berth_hasher_free(h);
		if (strcmp(got, d->digest) != 0 || (d->size >= 0 && (int64_t) m.len != d->size)) {
			free(m.data);
			return berth_err(err, EBADMSG, "%s %s: digest mismatch (got %s, %zu bytes)", what, d->digest,
					 got, m.len);
		}
		*out = m.data;
		*len = m.len;
		return 0;
	}
}

/* --- layer workers ------------------------------------------------------- */

struct pull_job {
	struct image_store *s;
	struct registry *reg;
	struct reporter *rp;
	const struct image_manifest *m;
	const struct image_config *cfg;
	char **chain_ids;
	int64_t *sizes;
	const char *image_name;
	_Atomic size_t next;
	_Atomic bool failed;
	pthread_mutex_t err_lock;
	int rc;
	struct berth_error err;
};

struct blob_sink_ctx {
	struct pull_job *job;
	struct ingest *in;
	size_t idx;
	int64_t offset;                 /* resume offset we asked the registry for */
	bool resumed;                   /* set by registry_get_blob before the first byte */
	bool started;
	int ingest_rc;                  /* set when the failure came from our side, not the network */
	struct berth_error ingest_err;
	uint64_t last_report;
};

static int blob_sink(void *ctx, const void *buf, size_t len)
{
	struct blob_sink_ctx *b = ctx;
	if (atomic_load(&b->job->failed))
		return -ECANCELED;
	if (!b->started) {
		b->started = true;
		if (b->offset > 0 && !b->resumed) {
			/* We asked for a range and got the whole blob: drop the replayed partial. */
			int rr = ingest_restart(b->in, &b->ingest_err);
			if (rr < 0) {
				b->ingest_rc = rr;
				return rr;
			}
		}
	}
	int r = ingest_write(b->in, buf, len, &b->ingest_err);
	if (r < 0) {
		b->ingest_rc = r;
		return r;
	}
	uint64_t done = ingest_bytes(b->in);
	/* Report every 256 KiB; the renderer throttles further. */
	if (done - b->last_report >= (256u << 10)) {
		b->last_report = done;
		const struct image_descriptor *d = &b->job->m->layers[b->idx];
		layer_state(b->job->rp, b->idx, b->job->m->n_layers, d->digest, PULL_DOWNLOADING, done, d->size);
	}
	return 0;
}

static void job_fail(struct pull_job *job, int rc, const struct berth_error *e)
{
	pthread_mutex_lock(&job->err_lock);
	if (!atomic_load(&job->failed) || job->rc == -ECANCELED) {
		job->rc = rc;
		job->err = *e;
	}
	atomic_store(&job->failed, true);
	pthread_mutex_unlock(&job->err_lock);
}

static bool transient(int rc)
{
	switch (-rc) {
	case ECONNRESET: case ECONNREFUSED: case ETIMEDOUT: case EHOSTUNREACH: case ENETUNREACH:
	case EAGAIN: case EIO: case ECONNABORTED: case EPIPE: case ECANCELED:
		return true;
	default:
		return false;
	}
}

static int pull_one_layer(struct pull_job *job, size_t i, struct berth_error *err)
{
	const struct image_descriptor *d = &job->m->layers[i];
	size_t n = job->m->n_layers;
	struct image_mt_info mt;
	if (image_media_type_info(d->media_type, &mt) < 0 || mt.kind != MT_KIND_LAYER)
		return berth_err(err, ENOTSUP, "%s: layer %zu has unsupported media type \"%s\"", job->image_name, i,
				 d->media_type);
	char what[512];
	snprintf(what, sizeof(what), "layer %.19s of %s", d->digest, job->image_name);
	struct ingest_params p = {
		.blob_digest = d->digest,
		.blob_size = d->size,
		.comp = mt.comp,
		.diff_id = job->cfg->diff_ids[i],
		.chain_id = job->chain_ids[i],
		.store_blob = true,
		.what = what,
		.unpack = { .refuse_devices = geteuid() != 0, .no_chown = geteuid() != 0 },
	};

	bool retried_partial = false;
	for (int attempt = 0; attempt < 8; attempt++) {
		if (atomic_load(&job->failed))
			return -ECANCELED;
		struct ingest_plan plan;
		int r = ingest_plan(job->s, &p, &plan);
		if (r < 0)
			return berth_errno(err, r, "%s: checking the image store", what);
		if (!plan.need_blob && !plan.need_layer) {
			struct db_layer l = { 0 };
			if (db_layer_get(job->s->db, job->chain_ids[i], &l) == 0) {
				job->sizes[i] = l.size;
				db_layer_clear(&l);
			} else {
				job->sizes[i] = layer_disk_usage(&job->s->layers, job->chain_ids[i]);
			}
			layer_state(job->rp, i, n, d->digest, PULL_EXISTS, 0, d->size);
			return 0;
		}
		if (!plan.need_blob) {
			layer_state(job->rp, i, n, d->digest, PULL_EXTRACTING, 0, d->size);
			int64_t size = -1;
			r = ingest_from_blob(job->s, &p, &size, err);
			if (r < 0)
				return r;
			if (size >= 0)
				job->sizes[i] = size;
			else
				continue;    /* someone else unpacked it: re-plan for its size */
			layer_state(job->rp, i, n, d->digest, PULL_DONE, (uint64_t) d->size, d->size);
			return 0;
		}

		struct blob_sink_ctx b = { .job = job, .idx = i };
		int64_t offset = 0;
		r = ingest_begin(job->s, &p, &b.in, &offset, err);
		if (r == -EEXIST)
			continue;
		if (r < 0)
			return r;
		if (offset > 0)
			log_debug("%s: resuming download at byte %lld", what, (long long) offset);
		layer_state(job->rp, i, n, d->digest, PULL_DOWNLOADING, (uint64_t) offset, d->size);
		b.offset = offset;
		struct berth_error nerr = { 0 };
		r = registry_get_blob(job->reg, d->digest, offset, blob_sink, &b, &b.resumed, &nerr);
		/* image-spec: a layer with urls MAY be fetched from them; registries often
		 * refuse to serve foreign (non-distributable) layers themselves. */
		for (size_t u = 0; r == -ENOENT && b.ingest_rc == 0 && !b.started && u < d->n_urls; u++) {
			struct berth_error uerr = { 0 };
			log_debug("%s: not on the registry; trying %s", what, d->urls[u]);
			r = registry_get_url(job->reg, d->urls[u], d->digest, offset, blob_sink, &b, &b.resumed, &uerr);
			if (r < 0 && r != -ENOENT)
				nerr = uerr;
		}
		if (r == -ESPIPE) {
			ingest_abort(b.in, false);
			log_debug("%s: registry ignored the Range request; downloading from the start", what);
			continue;
		}
		if (r < 0) {
			if (b.ingest_rc < 0) {
				ingest_abort(b.in, false);
				if (err && !berth_error_isset(err))
					*err = b.ingest_err;
				return b.ingest_rc;
			}
			ingest_abort(b.in, transient(r));
			if (err && !berth_error_isset(err))
				*err = nerr;
			return r;
		}
		layer_state(job->rp, i, n, d->digest, PULL_VERIFYING, ingest_bytes(b.in), d->size);
		int64_t size = -1;
		struct berth_error ferr = { 0 };
		r = ingest_finish(b.in, &size, &ferr);
		if (r == -EBADMSG && offset > 0 && !retried_partial) {
			/* A kept partial from an earlier run did not add up (disk trouble,
			 * a changed blob): it is gone now, download the whole blob once more. */
			log_warn("%s: resumed download failed verification (%s); downloading again", what, ferr.msg);
			retried_partial = true;
			continue;
		}
		if (r < 0) {
			if (err && !berth_error_isset(err))
				*err = ferr;
			return r;
		}
		if (size < 0)
			continue;        /* blob only (layer already there): re-plan for its size */
		job->sizes[i] = size;
		layer_state(job->rp, i, n, d->digest, PULL_DONE, (uint64_t) d->size, d->size);
		return 0;
	}
	return berth_err(err, EAGAIN, "%s: gave up after repeated restarts", what);
}

static void *pull_worker(void *arg)
{
	struct pull_job *job = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&job->next, 1);
		if (i >= job->m->n_layers || atomic_load(&job->failed))
			break;
		struct berth_error e = { 0 };
		int r = pull_one_layer(job, i, &e);
		if (r < 0 && r != -ECANCELED && !berth_error_isset(&e))
			berth_errno(&e, r, "%s: layer %zu (%s)", job->image_name, i, job->m->layers[i].digest);
		if (r < 0) {
			layer_state(job->rp, i, job->m->n_layers, job->m->layers[i].digest, PULL_FAILED, 0,
				    job->m->layers[i].size);
			if (r != -ECANCELED)
				job_fail(job, r, &e);
			break;
		}
	}
	return NULL;
}

static int pull_layers(struct pull_job *job, unsigned jobs, struct berth_error *err)
{
	size_t n = job->m->n_layers;
	for (size_t i = 0; i < n; i++)
		layer_state(job->rp, i, n, job->m->layers[i].digest, PULL_WAITING, 0, job->m->layers[i].size);
	if (jobs == 0)
		jobs = PULL_DEFAULT_JOBS;
	if (jobs > n)
		jobs = (unsigned) n;
	pthread_t th[16];
	if (jobs > ARRAY_SIZE(th))
		jobs = ARRAY_SIZE(th);
	unsigned started = 0;
	for (; started < jobs; started++)
		if (pthread_create(&th[started], NULL, pull_worker, job) != 0)
			break;
	if (started == 0 && n > 0)
		pull_worker(job);
	for (unsigned k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	if (atomic_load(&job->failed)) {
		if (err && !berth_error_isset(err))
			*err = job->err;
		return job->rc ? job->rc : -EIO;
	}
	return 0;
}

/* --- pull ---------------------------------------------------------------- */

struct pulled {
	char *index_raw; size_t index_len; char index_digest[BERTH_DIGEST_MAX];
	char *manifest_raw; size_t manifest_len; char *manifest_mt; char manifest_digest[BERTH_DIGEST_MAX];
	char *config_raw; size_t config_len;
	struct image_manifest *m;
	struct image_config *cfg;
	char **chain_ids;
	int64_t *sizes;
};

static void pulled_clear(struct pulled *p)
{
	free(p->index_raw);
	free(p->manifest_raw);
	free(p->manifest_mt);
	free(p->config_raw);
	if (p->m) {
		for (size_t i = 0; p->chain_ids && i < p->m->n_layers; i++)
			free(p->chain_ids[i]);
		image_manifest_free(p->m);
	}
	free(p->chain_ids);
	free(p->sizes);
	if (p->cfg)
		image_config_free(p->cfg);
}

/* Resolve the reference to one platform's manifest. */
static int fetch_manifest(struct registry *reg, const struct image_ref *ref, const char *name,
			  const struct image_platform *want, struct pulled *p, struct berth_error *err)
{
	const char *reference = ref->digest ? ref->digest : ref->tag;
	_cleanup_free_ char *body = NULL, *mt = NULL;
	size_t len = 0;
	char digest[BERTH_DIGEST_MAX];
	int r = registry_get_manifest(reg, reference, &body, &len, &mt, digest, err);
	if (r < 0)
		return r;
	enum image_mt_kind kind;
	_cleanup_free_ char *doc_mt = NULL;
	char what[600];
	snprintf(what, sizeof(what), "manifest %s", name);
	r = image_manifest_kind(body, len, mt, &kind, &doc_mt, err);
	if (r < 0)
		return r;
	if (kind == MT_KIND_INDEX) {
		struct image_index *idx = NULL;
		r = image_index_parse(body, len, mt, what, &idx, err);
		if (r < 0)
			return r;
		const struct image_descriptor *d = NULL;
		r = image_index_select(idx, want, &d, err);
		if (r < 0) {
			berth_error_prefix(err, "%s", name);
			image_index_free(idx);
			return r;
		}
		_cleanup_free_ char *sel = strdup(d->digest);
		image_index_free(idx);
		if (!sel)
			return berth_errno(err, ENOMEM, "%s", name);
		p->index_raw = steal_ptr(body);
		p->index_len = len;
		memcpy(p->index_digest, digest, sizeof(digest));
		free(mt);
		mt = NULL;
		free(doc_mt);
		doc_mt = NULL;
		/* By digest: the registry client verifies the body against it. */
		r = registry_get_manifest(reg, sel, &body, &len, &mt, digest, err);
		if (r < 0)
			return r;
		r = image_manifest_kind(body, len, mt, &kind, &doc_mt, err);
		if (r < 0)
			return r;
		if (kind != MT_KIND_MANIFEST)
			return berth_err(err, EPROTO, "%s: index entry %s is not an image manifest", name, sel);
	} else if (kind != MT_KIND_MANIFEST) {
		return berth_err(err, EPROTO, "%s: not an image manifest or index", name);
	}
	r = image_manifest_parse(body, len, mt, what, &p->m, err);
	if (r < 0)
		return r;
	p->manifest_raw = steal_ptr(body);
	p->manifest_len = len;
	p->manifest_mt = strdup(p->m->media_type ? p->m->media_type : (doc_mt ? doc_mt : MT_OCI_MANIFEST));
	memcpy(p->manifest_digest, digest, sizeof(digest));
	return p->manifest_mt ? 0 : berth_errno(err, ENOMEM, "%s", name);
}

int image_pull(struct image_store *s, const char *ref_s, const struct pull_opts *opts,
	       char id_out[BERTH_DIGEST_MAX], struct berth_error *err)
{
	struct reporter rp = { .cb = opts ? opts->progress : NULL };
	pthread_mutex_init(&rp.lock, NULL);
	struct image_ref ref = { 0 };
	struct image_platform want = { 0 };
	struct registry *reg = NULL;
	struct pulled p = { 0 };
	_cleanup_free_ char *name = NULL, *repo = NULL;
	bool ingesting = false;
	int r;

	r = image_ref_parse(ref_s, &ref, err);
	if (r < 0)
		goto out;
	name = image_ref_string(&ref);
	repo = image_ref_repo(&ref);
	if (!name || !repo) {
		r = berth_errno(err, ENOMEM, "%s", ref_s);
		goto out;
	}
	if (opts && opts->platform) {
		r = image_platform_parse(opts->platform, &want, err);
		if (r < 0)
			goto out;
	} else {
		image_platform_host(&want);
		/* The host's variant is a preference, not a requirement (arm64 images often omit v8). */
		free(want.variant);
		want.variant = NULL;
	}
	struct registry_opts ro;
	registry_opts_init(&ro);
	if (opts)
		ro = opts->registry;
	r = registry_open(&ref, &ro, &reg, err);
	if (r < 0)
		goto out;

	say(&rp, "Trying to pull %s...", name);
	r = fetch_manifest(reg, &ref, name, &want, &p, err);
	if (r < 0)
		goto out;

	/* The config names the diff_ids every layer must hash to. */
	struct image_mt_info cmt;
	if (image_media_type_info(p.m->config.media_type, &cmt) < 0 || cmt.kind != MT_KIND_CONFIG) {
		r = berth_err(err, ENOTSUP, "%s: config media type \"%s\" is not an image config (artifact?)", name,
			      p.m->config.media_type);
		goto out;
	}
	/* A config already in the store (a re-pull, a shared base) is not fetched again;
	 * it is re-verified, as anything read back from disk for a new image is. */
	if (content_has(&s->content, p.m->config.digest, NULL) == 1 &&
	    content_read_blob(&s->content, p.m->config.digest, &p.config_raw, &p.config_len, NULL) == 0) {
		char got[BERTH_DIGEST_MAX] = "";
		struct berth_hasher *h = NULL;
		if (berth_hasher_new_like(p.m->config.digest, &h) == 0) {
			berth_hasher_update(h, p.config_raw, p.config_len);
			berth_hasher_final(h, got);
			berth_hasher_free(h);
		}
		if (strcmp(got, p.m->config.digest) != 0) {
			free(p.config_raw);
			p.config_raw = NULL;
		}
	}
	r = p.config_raw ? 0 : fetch_small_blob(reg, &p.m->config, "config", &p.config_raw, &p.config_len, err);
	if (r < 0) {
		berth_error_prefix(err, "%s", name);
		goto out;
	}
	char what[600];
	snprintf(what, sizeof(what), "config of %s", name);
	r = image_config_parse(p.config_raw, p.config_len, what, &p.cfg, err);
	if (r < 0)
		goto out;
	if (p.cfg->n_diff_ids != p.m->n_layers) {
		r = berth_err(err, EBADMSG, "%s: manifest has %zu layers but config lists %zu diff_ids", name,
			      p.m->n_layers, p.cfg->n_diff_ids);
		goto out;
	}
	if (p.cfg->os && want.os && strcmp(p.cfg->os, want.os) != 0)
		log_warn("%s: image is for %s, not %s", name, p.cfg->os, want.os);
	else if (p.cfg->architecture && want.architecture && strcmp(p.cfg->architecture, want.architecture) != 0)
		log_warn("%s: image platform (%s/%s) does not match the requested one (%s/%s)", name, p.cfg->os,
			 p.cfg->architecture, want.os, want.architecture);

	size_t n = p.m->n_layers;
	p.chain_ids = calloc(n + 1, sizeof(char *));
	p.sizes = calloc(n + 1, sizeof(int64_t));
	if (!p.chain_ids || !p.sizes) {
		r = berth_errno(err, ENOMEM, "%s", name);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char chain[BERTH_DIGEST_MAX];
		r = berth_chain_id(i ? p.chain_ids[i - 1] : NULL, p.cfg->diff_ids[i], chain);
		if (r < 0 || !(p.chain_ids[i] = strdup(chain))) {
			r = berth_errno(err, r < 0 ? r : ENOMEM, "%s: chain id of layer %zu", name, i);
			goto out;
		}
	}

	r = image_store_ingest_begin(s, err);
	if (r < 0)
		goto out;
	ingesting = true;
	/* Small documents first: they are what makes the store an OCI layout. */
	if (p.index_raw) {
		r = content_put_buf(&s->content, p.index_raw, p.index_len, p.index_digest, NULL, err);
		if (r < 0)
			goto out;
	}
	r = content_put_buf(&s->content, p.manifest_raw, p.manifest_len, p.manifest_digest, NULL, err);
	if (r >= 0)
		r = content_put_buf(&s->content, p.config_raw, p.config_len, p.m->config.digest, NULL, err);
	if (r < 0)
		goto out;

	struct pull_job job = {
		.s = s, .reg = reg, .rp = &rp, .m = p.m, .cfg = p.cfg,
		.chain_ids = p.chain_ids, .sizes = p.sizes, .image_name = name,
	};
	pthread_mutex_init(&job.err_lock, NULL);
	r = pull_layers(&job, opts ? opts->jobs : 0, err);
	pthread_mutex_destroy(&job.err_lock);
	if (r < 0)
		goto out;

	say(&rp, "Writing manifest to image destination");
	struct image_register regi = {
		.manifest_digest = p.manifest_digest,
		.manifest_media_type = p.manifest_mt,
		.index_digest = p.index_raw ? p.index_digest : NULL,
		.config = p.cfg,
		.config_digest = p.m->config.digest,
		.manifest = p.m,
		.chain_ids = p.chain_ids,
		.layer_sizes = p.sizes,
		.name = ref.tag && !ref.digest ? name : NULL,
		.repo = repo,
		.repo_digest = p.index_raw ? p.index_digest : p.manifest_digest,
	};
	r = image_store_register(s, &regi, err);
	if (r < 0)
		goto out;
	if (ref.tag && ref.digest) {
		/* name:tag@digest — the digest was pulled; docker does not tag it. */
	}
	say(&rp, "Digest: %s", p.index_raw ? p.index_digest : p.manifest_digest);
	snprintf(id_out, BERTH_DIGEST_MAX, "%s", p.m->config.digest);
	r = 0;
out:
	if (ingesting)
		image_store_ingest_end(s);
	pulled_clear(&p);
	registry_close(reg);
	image_platform_clear(&want);
	image_ref_clear(&ref);
	pthread_mutex_destroy(&rp.lock);
	return r;
}

/* --- push ---------------------------------------------------------------- */

/* Another repository of the same registry this image's blobs came from. */
static char *mount_source(const struct image_info *info, const struct image_ref *dest)
{
	for (char **p = info->repo_digests; p && *p; p++) {
		struct image_ref r = { 0 };
		if (image_ref_parse(*p, &r, NULL) < 0)
			continue;
		char *path = NULL;
		if (strcmp(r.domain, dest->domain) == 0 && strcmp(r.path, dest->path) != 0)
			path = strdup(r.path);
		image_ref_clear(&r);
		if (path)
			return path;
	}
	return NULL;
}

static int push_blob(struct image_store *s, struct registry *reg, struct reporter *rp, size_t idx, size_t n,
		     const struct image_descriptor *d, const char *mount_from, struct berth_error *err)
{
	struct image_mt_info mt;
	if (image_media_type_info(d->media_type, &mt) == 0 && mt.foreign) {
		/* image-spec: non-distributable layers are not uploaded. */
		say(rp, "%.12s: Skipped foreign layer", berth_digest_hex(d->digest));
		layer_state(rp, idx, n, d->digest, PULL_EXISTS, 0, d->size);
		return 0;
	}
	int r = registry_blob_exists(reg, d->digest, NULL, err);
	if (r < 0)
		return r;
	if (r == 1) {
		say(rp, "%.12s: Layer already exists", berth_digest_hex(d->digest));
		layer_state(rp, idx, n, d->digest, PULL_EXISTS, 0, d->size);
		return 0;
	}
	if (mount_from) {
		r = registry_mount_blob(reg, d->digest, mount_from, err);
		if (r < 0)
			return r;
		if (r == 1) {
			say(rp, "%.12s: Mounted from %s", berth_digest_hex(d->digest), mount_from);
			layer_state(rp, idx, n, d->digest, PULL_DONE, (uint64_t) d->size, d->size);
			return 0;
		}
	}
	_cleanup_close_ int fd = content_open_blob(&s->content, d->digest, err);
	if (fd < 0)
		return fd;
	layer_state(rp, idx, n, d->digest, PULL_DOWNLOADING, 0, d->size);
	r = registry_push_blob(reg, d->digest, d->size, fd, err);
	if (r < 0)
		return r;
	say(rp, "%.12s: Pushed", berth_digest_hex(d->digest));
	layer_state(rp, idx, n, d->digest, PULL_DONE, (uint64_t) d->size, d->size);
	return 0;
}

int image_push(struct image_store *s, const char *src, const char *dest, const struct push_opts *opts,
	       char digest_out[BERTH_DIGEST_MAX], struct berth_error *err)
{
	struct reporter rp = { .cb = opts ? opts->progress : NULL };
	pthread_mutex_init(&rp.lock, NULL);
	char id[BERTH_DIGEST_MAX];
	struct image_info info = { 0 };
	struct image_ref ref = { 0 };
	struct registry *reg = NULL;
	_cleanup_free_ char *mount_from = NULL, *name = NULL, *dest_repo = NULL;
	int r = image_store_resolve(s, src, id, NULL, err);
	if (r < 0)
		goto out;
	if (!dest) {
		if (image_ref_looks_like_id(src) && image_ref_parse(src, &ref, NULL) < 0) {
			r = berth_err(err, EINVAL, "push %s: an image ID needs a destination name", src);
			goto out;
		}
		image_ref_clear(&ref);
		dest = src;
	}
	r = image_ref_parse(dest, &ref, err);
	if (r < 0)
		goto out;
	name = image_ref_string(&ref);
	r = image_store_get(s, id, &info, err);
	if (r < 0)
		goto out;
	struct registry_opts ro;
	registry_opts_init(&ro);
	if (opts)
		ro = opts->registry;
	r = registry_open(&ref, &ro, &reg, err);
	if (r < 0)
		goto out;
	dest_repo = image_ref_repo(&ref);
	say(&rp, "The push refers to repository [%s]", dest_repo ? dest_repo : dest);
	mount_from = mount_source(&info, &ref);
	size_t n = info.manifest->n_layers;
	for (size_t i = 0; i < n; i++) {
		r = push_blob(s, reg, &rp, i, n, &info.manifest->layers[i], mount_from, err);
		if (r < 0)
			goto out;
	}
	r = push_blob(s, reg, &rp, n, n, &info.manifest->config, mount_from, err);
	if (r < 0)
		goto out;
	const char *reference = ref.digest ? ref.digest : (ref.tag ? ref.tag : "latest");
	r = registry_put_manifest(reg, reference, info.db.manifest_media_type, info.manifest_raw, info.manifest_len,
				  err);
	if (r < 0)
		goto out;
	r = berth_digest_buf(info.manifest_raw, info.manifest_len, digest_out);
	if (r < 0) {
		berth_errno(err, r, "push %s", dest);
		goto out;
	}
	say(&rp, "%s: digest: %s size: %zu", ref.tag ? ref.tag : reference, digest_out, info.manifest_len);
	/* As docker does, the pushed digest becomes one of the image's repo digests. */
	char *repo = image_ref_repo(&ref);
	if (repo && db_begin(s->db, NULL) == 0) {
		if (db_repo_digest_add(s->db, repo, digest_out, id, NULL) == 0)
			(void) db_commit(s->db, NULL);
		else
			db_rollback(s->db);
	}
	free(repo);
out:
	registry_close(reg);
	image_ref_clear(&ref);
	image_info_clear(&info);
	pthread_mutex_destroy(&rp.lock);
	return r;
}
