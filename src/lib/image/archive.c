/* archive.c — docker-archive / oci-archive save and load, rootfs import (see archive.h). */
#include "image/archive.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <zlib.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "core/log.h"
#include "image/decompress.h"
#include "image/ingest.h"
#include "image/reference.h"

/* Docker's media type for an uncompressed layer (what docker save's layer.tar files are). */
#define MT_DOCKER_LAYER_TAR "application/vnd.docker.image.rootfs.diff.tar"
#define ANNOT_REF_NAME "org.opencontainers.image.ref.name"
#define ANNOT_CONTAINERD_NAME "io.containerd.image.name"

/* Metadata members (manifest.json, configs, index.json) are held in memory:
 * bound what a hostile archive can make us allocate. */
#define META_MAX_ONE (16u << 20)
#define META_MAX_TOTAL (64u << 20)
#define COPY_BUF (1u << 20)
#define LINK_HOPS_MAX 16
/* Real archives hold a few members per layer; lookups are linear, so a cap
 * keeps a hostile archive of tiny members from costing quadratic time. */
#define MEMBERS_MAX 16384

static void archive_readp(struct archive **a) { if (*a) archive_read_free(*a); }
static void archive_writep(struct archive **a) { if (*a) archive_write_free(*a); }
static void decompressor_freep(struct decompressor **d) { if (*d) decompressor_free(*d); }
static void image_refp(struct image_ref *r) { image_ref_clear(r); }
#define _cleanup_archive_read_ _cleanup_(archive_readp)
#define _cleanup_archive_write_ _cleanup_(archive_writep)
/* jansson.h provides json_decrefp */
#define _cleanup_json_ _cleanup_(json_decrefp)
#define _cleanup_decompressor_ _cleanup_(decompressor_freep)
#define _cleanup_ref_ _cleanup_(image_refp)

/* ------------------------------------------------------------------ helpers */

static int strv_push(char ***v, size_t *n, char *s)
{
	char **nv;

	if (!s)
		return -ENOMEM;
	nv = realloc(*v, (*n + 2) * sizeof(char *));
	if (!nv) {
		free(s);
		return -ENOMEM;
	}
	nv[(*n)++] = s;
	nv[*n] = NULL;
	*v = nv;
	return 0;
}

static bool strv_has(char **v, const char *s)
{
	for (; v && *v; v++)
		if (strcmp(*v, s) == 0)
			return true;
	return false;
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

static void strv_freen(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* An anonymous file next to the content store's partial downloads: same file
 * system as the blobs, and gone by itself whatever happens to this process. */
static int tmpfile_in(int dirfd, struct berth_error *err)
{
	char name[64];
	int fd;

	fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return berth_errno(err, errno, "creating a temporary file in the store's ingest directory");
	for (int tries = 0; tries < 100; tries++) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		snprintf(name, sizeof(name), ".archive-%d-%ld-%d.tmp", getpid(), ts.tv_nsec, tries);
		fd = openat(dirfd, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0) {
			unlinkat(dirfd, name, 0);
			return fd;
		}
		if (errno != EEXIST)
			break;
	}
	return berth_errno(err, errno, "creating a temporary file in the store's ingest directory");
}

static enum image_compression sniff_compression(const unsigned char *p, size_t n)
{
	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return IMAGE_COMP_GZIP;
	if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
		return IMAGE_COMP_ZSTD;
	return IMAGE_COMP_NONE;
}

static const char *comp_name(enum image_compression c)
{
	return c == IMAGE_COMP_GZIP ? "gzip" : c == IMAGE_COMP_ZSTD ? "zstd" : "none";
}

/* Normalise an archive member name: drop "./" and empty components; refuse
 * absolute names and ".." (an archive that needs them is hostile).  "" for the
 * archive's root directory entry. */
static int member_name_norm(const char *raw, char **out, struct berth_error *err)
{
	_cleanup_free_ char *res = NULL;
	size_t n, len = 0;
	const char *p;

	if (!raw || !*raw)
		return berth_err(err, EINVAL, "archive member with an empty name");
	if (raw[0] == '/')
		return berth_err(err, EPERM, "archive member \"%s\": absolute path", raw);
	n = strlen(raw);
	res = malloc(n + 1);
	if (!res)
		return -ENOMEM;
	for (p = raw; *p;) {
		const char *end = strchrnul(p, '/');
		size_t cl = (size_t) (end - p);

		if (cl == 2 && p[0] == '.' && p[1] == '.')
			return berth_err(err, EPERM, "archive member \"%s\": \"..\" in path", raw);
		if (cl > 0 && !(cl == 1 && p[0] == '.')) {
			if (len)
				res[len++] = '/';
			memcpy(res + len, p, cl);
			len += cl;
		}
		p = *end ? end + 1 : end;
	}
	res[len] = '\0';
	*out = steal_ptr(res);
	return 0;
}

/* Resolve a symlink target found at member `name` to a member name, staying
 * inside the archive. */
static int link_target_resolve(const char *name, const char *target, char **out, struct berth_error *err)
{
	_cleanup_free_ char *buf = NULL;
	const char *slash;
	size_t len = 0;
	char *p;

	if (!target || !*target)
		return berth_err(err, EINVAL, "archive member \"%s\": empty link target", name);
	if (target[0] == '/')
		return berth_err(err, EPERM, "archive member \"%s\": link to absolute path \"%s\"", name, target);
	slash = strrchr(name, '/');
	if (asprintf(&buf, "%.*s/%s", slash ? (int) (slash - name) : 0, name, target) < 0) {
		buf = NULL;
		return -ENOMEM;
	}
	/* In place: components are appended to res[0..len), ".." pops one. */
	_cleanup_free_ char *res = malloc(strlen(buf) + 1);
	if (!res)
		return -ENOMEM;
	for (p = buf; *p;) {
		char *end = strchrnul(p, '/');
		size_t cl = (size_t) (end - p);

		if (cl == 2 && p[0] == '.' && p[1] == '.') {
			char *ls;

			if (len == 0)
				return berth_err(err, EPERM, "archive member \"%s\": link \"%s\" leaves the archive",
						 name, target);
			res[len] = '\0';
			ls = strrchr(res, '/');
			len = ls ? (size_t) (ls - res) : 0;
		} else if (cl > 0 && !(cl == 1 && p[0] == '.')) {
			if (len)
				res[len++] = '/';
			memcpy(res + len, p, cl);
			len += cl;
		}
		p = *end ? end + 1 : end;
	}
	res[len] = '\0';
	*out = steal_ptr(res);
	return 0;
}

/* "blobs/<algo>/<hex>" with a valid digest -> digest */
static bool blob_path_digest(const char *name, char digest[BERTH_DIGEST_MAX])
{
	const char *algo, *hex;

	if (strncmp(name, "blobs/", 6) != 0)
		return false;
	algo = name + 6;
	hex = strchr(algo, '/');
	if (!hex || strchr(hex + 1, '/') || (size_t) (hex - algo) > 16)
		return false;
	snprintf(digest, BERTH_DIGEST_MAX, "%.*s:%s", (int) (hex - algo), algo, hex + 1);
	return berth_digest_valid(digest);
}

static bool is_meta_name(const char *name)
{
	size_t n = strlen(name);

	return strcmp(name, "oci-layout") == 0 || strcmp(name, "repositories") == 0 ||
	       (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

/* Members docker save writes that nothing reads any more. */
static bool is_ignored_name(const char *name)
{
	const char *base = strrchr(name, '/');

	base = base ? base + 1 : name;
	return strcmp(base, "VERSION") == 0 || strcmp(base, "json") == 0;
}

static char *blob_member_name(const char *digest)
{
	char *s;
	const char *colon = strchr(digest, ':');

	if (!colon)
		return NULL;
	if (asprintf(&s, "blobs/%.*s/%s", (int) (colon - digest), digest, colon + 1) < 0)
		return NULL;
	return s;
}

/* Copy the whole of fd (from offset 0) into a content-store writer. */
static int copy_fd_to_writer(int fd, struct content_writer *w, struct berth_error *err)
{
	_cleanup_free_ char *buf = malloc(COPY_BUF);
	off_t off = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = pread(fd, buf, COPY_BUF, off);
		int r;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berth_errno(err, errno, "reading temporary file");
		}
		if (n == 0)
			return 0;
		r = content_writer_write(w, buf, (size_t) n, err);
		if (r < 0)
			return r;
		off += n;
	}
}

/* Put the bytes of tmp_fd (whose digest and size are known) into the store. */
static int content_put_tmpfile(struct content_store *cs, int tmp_fd, const char *digest, int64_t size,
			       struct berth_error *err)
{
	struct content_writer *w = NULL;
	int64_t resume = 0;
	int r;

	r = content_writer_begin(cs, digest, size, &w, &resume, err);
	if (r == -EEXIST)
		return 0;
	if (r < 0)
		return r;
	if (resume > 0) {
		r = content_writer_truncate(w, err);
		if (r < 0)
			goto fail;
	}
	r = copy_fd_to_writer(tmp_fd, w, err);
	if (r < 0)
		goto fail;
	return content_writer_commit(w, err);
fail:
	content_writer_abort(w, false);
	return r;
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

/* Size of the unpacked layer: from the db when it knows the layer, else du. */
static int64_t known_layer_size(struct image_store *s, const char *chain_id)
{
	struct db_layer l = {0};
	int64_t size;

	if (db_layer_get(s->db, chain_id, &l) == 0) {
		size = l.size;
		db_layer_clear(&l);
		if (size >= 0)
			return size;
	}
	size = layer_disk_usage(&s->layers, chain_id);
	return size < 0 ? 0 : size;
}

/* Make sure the layer `chain_id` is unpacked from its (present) blob. */
static int ensure_layer(struct image_store *s, const char *blob_digest, int64_t blob_size,
			enum image_compression comp, const char *diff_id, const char *chain_id, const char *what,
			int64_t *size, struct berth_error *err)
{
	struct ingest_params p = {
		.blob_digest = blob_digest,
		.blob_size = blob_size,
		.comp = comp,
		.diff_id = diff_id,
		.chain_id = chain_id,
		.store_blob = true,
		.what = what,
		.unpack = { .refuse_devices = geteuid() != 0, .no_chown = geteuid() != 0 },
	};
	int r;

	r = layer_exists(&s->layers, chain_id);
	if (r < 0)
		return berth_errno(err, r, "%s: checking layer %s", what, chain_id);
	*size = -1;
	if (r == 0) {
		r = ingest_from_blob(s, &p, size, err);
		if (r < 0 && r != -EEXIST)
			return r;
	}
	/* Someone else unpacked it (before us or while we waited on its lock). */
	if (*size < 0)
		*size = known_layer_size(s, chain_id);
	return 0;
}

/* ------------------------------------------------------------------ load */

enum arc_kind { ARC_META, ARC_BLOB, ARC_LINK };

struct arc_file {
	char *name;                          /* normalised member name */
	enum arc_kind kind;
	char *data; size_t len;              /* ARC_META */
	char digest[BERTH_DIGEST_MAX];       /* ARC_BLOB: in the content store */
	int64_t size;
	enum image_compression comp;         /* ARC_BLOB: sniffed from its first bytes */
	char *target;                        /* ARC_LINK: normalised member name */
};

struct load_image {
	char id[BERTH_DIGEST_MAX];
	char manifest_digest[BERTH_DIGEST_MAX];
	struct image_manifest *manifest;
	struct image_config *config;
	char **chain_ids;
	int64_t *sizes;
	char **names;                        /* full names */
	size_t n_names;
};

struct load_ctx {
	struct image_store *s;
	struct arc_file *files;
	size_t n_files, cap_files;
	size_t meta_total;
	struct load_image *imgs;
	size_t n_imgs;
	/* OCI manifests of the archive by config digest (docker >= 25 archives
	 * carry both formats; their real manifests beat synthesised ones). */
	struct oci_man {
		char config[BERTH_DIGEST_MAX];
		char manifest[BERTH_DIGEST_MAX];
		char *media_type;
	} *oci;
	size_t n_oci;
};

static void load_image_clear(struct load_image *im)
{
	image_manifest_free(im->manifest);
	image_config_free(im->config);
	strv_free(im->chain_ids);
	free(im->sizes);
	strv_freen(im->names, im->n_names);
}

static void load_ctx_clear(struct load_ctx *c)
{
	for (size_t i = 0; i < c->n_files; i++) {
		free(c->files[i].name);
		free(c->files[i].data);
		free(c->files[i].target);
	}
	free(c->files);
	for (size_t i = 0; i < c->n_imgs; i++)
		load_image_clear(&c->imgs[i]);
	free(c->imgs);
	for (size_t i = 0; i < c->n_oci; i++)
		free(c->oci[i].media_type);
	free(c->oci);
}

/* A later member of the same name replaces an earlier one, as when extracting a tar. */
static int arc_add(struct load_ctx *c, const char *name, struct arc_file **out, struct berth_error *err)
{
	struct arc_file *f;

	for (size_t i = 0; i < c->n_files; i++) {
		f = &c->files[i];
		if (strcmp(f->name, name) == 0) {
			if (f->kind == ARC_META)
				c->meta_total -= f->len;
			free(f->data);
			free(f->target);
			f->data = f->target = NULL;
			f->len = 0;
			*out = f;
			return 0;
		}
	}
	if (c->n_files >= MEMBERS_MAX)
		return berth_err(err, E2BIG, "archive member \"%s\": more than %d members", name, MEMBERS_MAX);
	if (c->n_files == c->cap_files) {
		size_t nc = c->cap_files ? c->cap_files * 2 : 32;
		struct arc_file *nf = realloc(c->files, nc * sizeof(*nf));

		if (!nf)
			return -ENOMEM;
		c->files = nf;
		c->cap_files = nc;
	}
	f = &c->files[c->n_files];
	memset(f, 0, sizeof(*f));
	f->name = strdup(name);
	if (!f->name)
		return -ENOMEM;
	c->n_files++;
	*out = f;
	return 0;
}

/* Member `name` after following links; NULL with an error when absent. */
static const struct arc_file *arc_lookup(struct load_ctx *c, const char *name, const char *referrer,
					 struct berth_error *err)
{
	const char *cur = name;

	for (int hops = 0; hops <= LINK_HOPS_MAX; hops++) {
		const struct arc_file *f = NULL;

		for (size_t i = 0; i < c->n_files; i++)
			if (strcmp(c->files[i].name, cur) == 0) {
				f = &c->files[i];
				break;
			}
		if (!f) {
			berth_err(err, ENOENT, "%s: archive member \"%s\" is not in the archive", referrer, cur);
			return NULL;
		}
		if (f->kind != ARC_LINK)
			return f;
		cur = f->target;
	}
	berth_err(err, ELOOP, "%s: archive member \"%s\": too many levels of links", referrer, name);
	return NULL;
}

static int arc_meta_json(struct load_ctx *c, const char *name, json_t **out, bool required,
			 struct berth_error *err)
{
	const struct arc_file *f = NULL;
	json_error_t je;

	for (size_t i = 0; i < c->n_files; i++)
		if (strcmp(c->files[i].name, name) == 0)
			f = &c->files[i];
	if (f && f->kind == ARC_LINK)
		f = arc_lookup(c, name, name, err);
	if (!f) {
		*out = NULL;
		return required ? berth_err(err, ENOENT, "archive member \"%s\" is missing", name) : 0;
	}
	if (f->kind != ARC_META)
		return berth_err(err, EINVAL, "archive member \"%s\": not a metadata file", name);
	*out = json_loadb(f->data, f->len, JSON_REJECT_DUPLICATES, &je);
	if (!*out)
		return berth_err(err, EINVAL, "archive member \"%s\": invalid JSON: %s (line %d)", name, je.text,
				 je.line);
	return 0;
}

/* Bytes of a member (metadata in memory or a blob in the store). */
static int arc_read(struct load_ctx *c, const struct arc_file *f, char **buf, size_t *len,
		    struct berth_error *err)
{
	if (f->kind == ARC_META) {
		*buf = malloc(f->len + 1);
		if (!*buf)
			return -ENOMEM;
		memcpy(*buf, f->data, f->len);
		(*buf)[f->len] = '\0';
		*len = f->len;
		return 0;
	}
	if (f->size > (int64_t) META_MAX_ONE)
		return berth_err(err, EFBIG, "archive member \"%s\": %" PRId64 " bytes is too large for a JSON document",
				 f->name, f->size);
	return content_read_blob(&c->s->content, f->digest, buf, len, err);
}

struct blob_sink {
	struct content_writer *w;
	int tmp_fd;
	struct berth_hasher *h;
	int64_t written;
	unsigned char head[4];
	size_t n_head;
};

static int sink_write(struct blob_sink *b, const void *buf, size_t len, struct berth_error *err)
{
	if (b->n_head < sizeof(b->head)) {
		size_t k = sizeof(b->head) - b->n_head;

		if (k > len)
			k = len;
		memcpy(b->head + b->n_head, buf, k);
		b->n_head += k;
	}
	b->written += (int64_t) len;
	if (b->w)
		return content_writer_write(b->w, buf, len, err);
	berth_hasher_update(b->h, buf, len);
	if (berth_write_all(b->tmp_fd, buf, len) < 0)
		return berth_errno(err, errno, "writing temporary file");
	return 0;
}

/* Feed the data of the current entry to sink (sink NULL = discard). */
static int read_member_data(struct archive *a, const char *name, struct blob_sink *sink, struct berth_error *err)
{
	int64_t expect = 0;

	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t offset;
		int r = archive_read_data_block(a, &buf, &size, &offset);

		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return berth_err(err, EIO, "archive member \"%s\": %s", name, archive_error_string(a));
		if (offset != expect)
			return berth_err(err, ENOTSUP, "archive member \"%s\": sparse members are not supported", name);
		expect += (int64_t) size;
		if (sink && size) {
			r = sink_write(sink, buf, size, err);
			if (r < 0) {
				berth_error_prefix(err, "archive member \"%s\"", name);
				return r;
			}
		}
	}
}

/* blobs/<algo>/<hex>: straight into the content store, verified there. */
static int load_blob_member(struct load_ctx *c, struct archive *a, const char *name, const char *digest,
			    int64_t size, struct arc_file *f, struct berth_error *err)
{
	struct blob_sink sink = { .tmp_fd = -1 };
	int64_t resume = 0;
	int64_t have = 0;
	int r;

	r = content_writer_begin(&c->s->content, digest, size, &sink.w, &resume, err);
	if (r == -EEXIST) {
		/* Present already: only sniff the compression, skip the rest. */
		_cleanup_close_ int fd = content_open_blob(&c->s->content, digest, err);
		unsigned char head[4];
		ssize_t n;

		if (fd < 0)
			return fd;
		n = pread(fd, head, sizeof(head), 0);
		f->comp = sniff_compression(head, n > 0 ? (size_t) n : 0);
		if (content_has(&c->s->content, digest, &have) == 1 && have != size)
			return berth_err(err, EBADMSG, "archive member \"%s\": size %" PRId64 " but the stored blob has %" PRId64,
					 name, size, have);
		r = read_member_data(a, name, NULL, err);
		if (r < 0)
			return r;
		goto done;
	}
	if (r < 0) {
		berth_error_prefix(err, "archive member \"%s\"", name);
		return r;
	}
	if (resume > 0) {
		r = content_writer_truncate(sink.w, err);
		if (r < 0)
			goto fail;
	}
	r = read_member_data(a, name, &sink, err);
	if (r < 0)
		goto fail;
	f->comp = sniff_compression(sink.head, sink.n_head);
	r = content_writer_commit(sink.w, err);
	if (r < 0) {
		berth_error_prefix(err, "archive member \"%s\"", name);
		return r;
	}
done:
	f->kind = ARC_BLOB;
	snprintf(f->digest, sizeof(f->digest), "%s", digest);
	f->size = size;
	return 0;
fail:
	content_writer_abort(sink.w, false);
	return r;
}

/* Any other file (docker's layer.tar, skopeo's <hex>.tar): hash it while
 * spooling to a temp file, then store it under the digest it turned out to have. */
static int load_hashed_member(struct load_ctx *c, struct archive *a, const char *name, struct arc_file *f,
			      struct berth_error *err)
{
	_cleanup_hasher_ struct berth_hasher *h = NULL;
	_cleanup_close_ int fd = -1;
	struct blob_sink sink = { .tmp_fd = -1 };
	int r;

	r = berth_hasher_new(BERTH_DIGEST_SHA256, &h);
	if (r < 0)
		return berth_errno(err, r, "archive member \"%s\": hasher", name);
	fd = tmpfile_in(c->s->content.ingest_fd, err);
	if (fd < 0)
		return fd;
	sink.tmp_fd = fd;
	sink.h = h;
	r = read_member_data(a, name, &sink, err);
	if (r < 0)
		return r;
	berth_hasher_final(h, f->digest);
	r = content_put_tmpfile(&c->s->content, fd, f->digest, sink.written, err);
	if (r < 0) {
		berth_error_prefix(err, "archive member \"%s\"", name);
		return r;
	}
	f->kind = ARC_BLOB;
	f->size = sink.written;
	f->comp = sniff_compression(sink.head, sink.n_head);
	return 0;
}

static int load_meta_member(struct load_ctx *c, struct archive *a, const char *name, int64_t size,
			    struct arc_file *f, struct berth_error *err)
{
	ssize_t n;

	if (size < 0 || (uint64_t) size > META_MAX_ONE)
		return berth_err(err, EFBIG, "archive member \"%s\": %" PRId64 " bytes is too large for a metadata file",
				 name, size);
	if (c->meta_total + (size_t) size > META_MAX_TOTAL)
		return berth_err(err, EFBIG, "archive member \"%s\": metadata files exceed %u MiB in total", name,
				 META_MAX_TOTAL >> 20);
	f->data = malloc((size_t) size + 1);
	if (!f->data)
		return -ENOMEM;
	n = archive_read_data(a, f->data, (size_t) size);
	if (n < 0)
		return berth_err(err, EIO, "archive member \"%s\": %s", name, archive_error_string(a));
	if (n != size)
		return berth_err(err, EIO, "archive member \"%s\": truncated (%zd of %" PRId64 " bytes)", name, n, size);
	f->data[size] = '\0';
	f->len = (size_t) size;
	f->kind = ARC_META;
	c->meta_total += (size_t) size;
	return 0;
}

static int load_read_archive(struct load_ctx *c, int in_fd, struct berth_error *err)
{
	_cleanup_archive_read_ struct archive *a = archive_read_new();
	_cleanup_free_ char *last = NULL;
	int r;

	if (!a)
		return -ENOMEM;
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, in_fd, 128 * 1024) != ARCHIVE_OK)
		return berth_err(err, EINVAL, "not a tar archive: %s", archive_error_string(a));
	for (;;) {
		struct archive_entry *e;
		_cleanup_free_ char *name = NULL;
		struct arc_file *f;
		char digest[BERTH_DIGEST_MAX];
		const char *hl;

		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			if (last)
				return berth_err(err, EBADMSG, "archive truncated or corrupt after member \"%s\": %s",
						 last, archive_error_string(a));
			return berth_err(err, EBADMSG, "not a tar archive: %s", archive_error_string(a));
		}
		r = member_name_norm(archive_entry_pathname(e), &name, err);
		if (r < 0)
			return r;
		free(last);
		last = strdup(name);
		if (!last)
			return -ENOMEM;

		hl = archive_entry_hardlink(e);
		if (hl) {
			char *target = NULL;

			r = member_name_norm(hl, &target, err);
			if (r < 0) {
				berth_error_prefix(err, "archive member \"%s\": hard link", name);
				return r;
			}
			r = arc_add(c, name, &f, err);
			if (r < 0) {
				free(target);
				return r;
			}
			f->kind = ARC_LINK;
			f->target = target;
			continue;
		}
		if (archive_entry_filetype(e) == AE_IFDIR)
			continue;
		if (!*name)
			return berth_err(err, EINVAL, "archive member \"%s\": not a directory",
					 archive_entry_pathname(e));
		switch (archive_entry_filetype(e)) {
		case AE_IFLNK: {
			char *target = NULL;

			r = link_target_resolve(name, archive_entry_symlink(e), &target, err);
			if (r < 0)
				return r;
			r = arc_add(c, name, &f, err);
			if (r < 0) {
				free(target);
				return r;
			}
			f->kind = ARC_LINK;
			f->target = target;
			continue;
		}
		case AE_IFREG:
			break;
		default:
			return berth_err(err, EINVAL, "archive member \"%s\": not a regular file, directory or link",
					 name);
		}
		if (!archive_entry_size_is_set(e))
			return berth_err(err, EINVAL, "archive member \"%s\": no size", name);
		if (is_ignored_name(name)) {
			r = read_member_data(a, name, NULL, err);
			if (r < 0)
				return r;
			continue;
		}
		r = arc_add(c, name, &f, err);
		if (r < 0)
			return r;
		if (blob_path_digest(name, digest))
			r = load_blob_member(c, a, name, digest, archive_entry_size(e), f, err);
		else if (is_meta_name(name))
			r = load_meta_member(c, a, name, archive_entry_size(e), f, err);
		else
			r = load_hashed_member(c, a, name, f, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static struct load_image *load_image_find(struct load_ctx *c, const char *id)
{
	for (size_t i = 0; i < c->n_imgs; i++)
		if (strcmp(c->imgs[i].id, id) == 0)
			return &c->imgs[i];
	return NULL;
}

static int load_image_add_name(struct load_image *im, const char *name)
{
	if (!name || strv_has(im->names, name))
		return 0;
	return strv_push(&im->names, &im->n_names, strdup(name));
}

/* The archive member that carried layer i (for messages). */
static char *layer_member(const char *const *layer_members, size_t i, const char *digest)
{
	if (layer_members && layer_members[i])
		return strdup(layer_members[i]);
	return blob_member_name(digest);
}

/* One image from a manifest already in the content store: check every blob
 * is there, unpack its layers, remember it for registration under names. */
static int load_prepare_manifest(struct load_ctx *c, const char *manifest_digest, const char *mt_hint,
				 const char *what, const char *const *layer_members, char **names, size_t n_names,
				 struct berth_error *err)
{
	struct image_store *s = c->s;
	_cleanup_manifest_ struct image_manifest *m = NULL;
	_cleanup_image_config_ struct image_config *cfg = NULL;
	_cleanup_free_ char *mbuf = NULL, *cbuf = NULL, *mmember = NULL, *cmember = NULL;
	size_t mlen, clen;
	int64_t have;
	struct load_image im = {0}, *existing;
	int r;

	mmember = blob_member_name(manifest_digest);
	if (!mmember)
		return -ENOMEM;
	r = content_has(&s->content, manifest_digest, &have);
	if (r < 0)
		return berth_errno(err, r, "%s: manifest %s", what, manifest_digest);
	if (r == 0)
		return berth_err(err, ENOENT, "%s: archive member \"%s\" (its manifest) is not in the archive", what,
				 mmember);
	r = content_read_blob(&s->content, manifest_digest, &mbuf, &mlen, err);
	if (r < 0)
		return r;
	r = image_manifest_parse(mbuf, mlen, mt_hint, mmember, &m, err);
	if (r < 0)
		return r;

	cmember = blob_member_name(m->config.digest);
	if (!cmember)
		return -ENOMEM;
	r = content_has(&s->content, m->config.digest, &have);
	if (r < 0)
		return berth_errno(err, r, "%s: config %s", what, m->config.digest);
	if (r == 0)
		return berth_err(err, ENOENT, "%s: archive member \"%s\" (config of %s) is not in the archive", what,
				 cmember, mmember);
	if (have != m->config.size)
		return berth_err(err, EBADMSG, "%s: archive member \"%s\" has %" PRId64 " bytes, manifest %s says %" PRId64,
				 what, cmember, have, mmember, m->config.size);
	r = content_read_blob(&s->content, m->config.digest, &cbuf, &clen, err);
	if (r < 0)
		return r;
	r = image_config_parse(cbuf, clen, cmember, &cfg, err);
	if (r < 0)
		return r;
	if (cfg->n_diff_ids != m->n_layers)
		return berth_err(err, EINVAL, "%s: manifest %s lists %zu layers but config %s has %zu diff_ids", what,
				 mmember, m->n_layers, cmember, cfg->n_diff_ids);

	im.chain_ids = calloc(m->n_layers + 1, sizeof(char *));
	im.sizes = calloc(m->n_layers + 1, sizeof(int64_t));
	if (!im.chain_ids || !im.sizes) {
		free(im.chain_ids);
		free(im.sizes);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->n_layers; i++) {
		const struct image_descriptor *l = &m->layers[i];
		struct image_mt_info info;
		char chain[BERTH_DIGEST_MAX];
		_cleanup_free_ char *lmember = layer_member(layer_members, i, l->digest), *lwhat = NULL;

		if (!lmember || asprintf(&lwhat, "archive member %s", lmember) < 0) {
			lwhat = NULL;
			r = -ENOMEM;
			goto fail;
		}
		if (image_media_type_info(l->media_type, &info) < 0 || info.kind != MT_KIND_LAYER) {
			r = berth_err(err, ENOTSUP, "%s: manifest %s: layers[%zu]: unsupported media type \"%s\"", what,
				      mmember, i, l->media_type);
			goto fail;
		}
		r = content_has(&s->content, l->digest, &have);
		if (r < 0) {
			r = berth_errno(err, r, "%s", lwhat);
			goto fail;
		}
		if (r == 0) {
			r = berth_err(err, ENOENT, "%s: archive member \"%s\" (layer %zu) is not in the archive%s", what, lmember, i,
				      info.foreign ? " (foreign layers are not supported)" : "");
			goto fail;
		}
		if (have != l->size) {
			r = berth_err(err, EBADMSG, "%s: archive member \"%s\" has %" PRId64 " bytes, manifest says %" PRId64, what, lmember,
				      have, l->size);
			goto fail;
		}
		r = berth_chain_id(i ? im.chain_ids[i - 1] : NULL, cfg->diff_ids[i], chain);
		if (r < 0) {
			r = berth_errno(err, r, "%s: chain id of layer %zu", what, i);
			goto fail;
		}
		im.chain_ids[i] = strdup(chain);
		if (!im.chain_ids[i]) {
			r = -ENOMEM;
			goto fail;
		}
		r = ensure_layer(s, l->digest, l->size, info.comp, cfg->diff_ids[i], chain, lwhat, &im.sizes[i], err);
		if (r < 0)
			goto fail;
	}

	existing = load_image_find(c, m->config.digest);
	if (existing) {
		/* The same image again (several names in index.json): keep the first manifest. */
		for (size_t i = 0; i < n_names; i++) {
			r = load_image_add_name(existing, names[i]);
			if (r < 0)
				goto fail;
		}
		strv_free(im.chain_ids);
		free(im.sizes);
		return 0;
	}
	for (size_t i = 0; i < n_names; i++) {
		r = load_image_add_name(&im, names[i]);
		if (r < 0)
			goto fail;
	}
	{
		struct load_image *ni = realloc(c->imgs, (c->n_imgs + 1) * sizeof(*ni));

		if (!ni) {
			r = -ENOMEM;
			goto fail;
		}
		c->imgs = ni;
	}
	snprintf(im.id, sizeof(im.id), "%s", m->config.digest);
	snprintf(im.manifest_digest, sizeof(im.manifest_digest), "%s", manifest_digest);
	im.manifest = steal_ptr(m);
	im.config = steal_ptr(cfg);
	c->imgs[c->n_imgs++] = im;
	return 0;
fail:
	strv_free(im.chain_ids);
	free(im.sizes);
	strv_freen(im.names, im.n_names);
	return r;
}

/* Name of an OCI index entry: containerd's full-name annotation, else
 * ref.name when it is a whole reference ("docker.io/library/busybox:latest",
 * "busybox:1").  A bare ref.name ("latest") is a tag without a repository:
 * the image stays unnamed rather than inventing one. */
static int oci_entry_name(const struct image_descriptor *d, size_t idx, char **out, struct berth_error *err)
{
	const char *v = NULL, *key = NULL;
	_cleanup_ref_ struct image_ref ref = {0};
	int r;

	*out = NULL;
	if (!d->annotations)
		return 0;
	v = json_string_value(json_object_get(d->annotations, ANNOT_CONTAINERD_NAME));
	key = ANNOT_CONTAINERD_NAME;
	if (!v || !*v) {
		v = json_string_value(json_object_get(d->annotations, ANNOT_REF_NAME));
		key = ANNOT_REF_NAME;
		if (!v || (!strchr(v, '/') && !strchr(v, ':')))
			return 0;
	}
	r = image_ref_parse(v, &ref, err);
	if (r < 0) {
		berth_error_prefix(err, "index.json: manifests[%zu].annotations[\"%s\"]", idx, key);
		return r;
	}
	if (!ref.tag)
		return 0;     /* a by-digest name says nothing a tag could hold */
	*out = image_ref_string(&ref);
	return *out ? 0 : -ENOMEM;
}

/* Descriptor of index entry -> image manifest (nested indexes: the host's platform). */
static int oci_resolve_manifest(struct load_ctx *c, const struct image_descriptor *d, const char *what,
				char digest[BERTH_DIGEST_MAX], char **mt, struct berth_error *err)
{
	struct image_mt_info info;
	int64_t have;
	int r;

	r = image_media_type_info(d->media_type, &info);
	if (r < 0 || (info.kind != MT_KIND_MANIFEST && info.kind != MT_KIND_INDEX))
		return berth_err(err, ENOTSUP, "%s: unsupported media type \"%s\"", what, d->media_type);
	if (info.kind == MT_KIND_INDEX) {
		_cleanup_index_ struct image_index *idx = NULL;
		_cleanup_free_ char *buf = NULL, *member = blob_member_name(d->digest);
		_cleanup_platform_ struct image_platform host = {0};
		const struct image_descriptor *sel;
		size_t len;

		if (!member)
			return -ENOMEM;
		r = content_has(&c->s->content, d->digest, &have);
		if (r <= 0)
			return r < 0 ? berth_errno(err, r, "%s", member)
				     : berth_err(err, ENOENT, "%s: archive member \"%s\" is not in the archive", what,
						 member);
		r = content_read_blob(&c->s->content, d->digest, &buf, &len, err);
		if (r < 0)
			return r;
		r = image_index_parse(buf, len, d->media_type, member, &idx, err);
		if (r < 0)
			return r;
		image_platform_host(&host);
		r = image_index_select(idx, &host, &sel, err);
		if (r < 0) {
			berth_error_prefix(err, "%s", what);
			return r;
		}
		return oci_resolve_manifest(c, sel, member, digest, mt, err);
	}
	snprintf(digest, BERTH_DIGEST_MAX, "%s", d->digest);
	*mt = strdup(d->media_type);
	return *mt ? 0 : -ENOMEM;
}

static int load_oci_layout_check(struct load_ctx *c, struct berth_error *err)
{
	_cleanup_json_ json_t *lay = NULL;
	const char *v;
	int r;

	r = arc_meta_json(c, "oci-layout", &lay, true, err);
	if (r < 0)
		return r;
	v = json_string_value(json_object_get(lay, "imageLayoutVersion"));
	if (!v)
		return berth_err(err, EINVAL, "archive member \"oci-layout\": no imageLayoutVersion");
	if (strncmp(v, "1.", 2) != 0)
		return berth_err(err, ENOTSUP, "archive member \"oci-layout\": unsupported imageLayoutVersion \"%s\"", v);
	return 0;
}

static int load_oci_index(struct load_ctx *c, struct image_index **out, struct berth_error *err)
{
	const struct arc_file *f = arc_lookup(c, "index.json", "oci-archive", err);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	if (!f)
		return -ENOENT;
	r = arc_read(c, f, &buf, &len, err);
	if (r < 0)
		return r;
	return image_index_parse(buf, len, MT_OCI_INDEX, "index.json", out, err);
}

static int load_oci(struct load_ctx *c, struct berth_error *err)
{
	_cleanup_index_ struct image_index *idx = NULL;
	int r;

	r = load_oci_layout_check(c, err);
	if (r < 0)
		return r;
	r = load_oci_index(c, &idx, err);
	if (r < 0)
		return r;
	if (idx->n_manifests == 0)
		return berth_err(err, ENOENT, "index.json: no manifests");
	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct image_descriptor *d = &idx->manifests[i];
		_cleanup_free_ char *name = NULL, *mt = NULL, *what = NULL;
		char mdigest[BERTH_DIGEST_MAX];
		char *names[1];

		if (asprintf(&what, "index.json: manifests[%zu]", i) < 0) {
			what = NULL;
			return -ENOMEM;
		}
		r = oci_entry_name(d, i, &name, err);
		if (r < 0)
			return r;
		r = oci_resolve_manifest(c, d, what, mdigest, &mt, err);
		if (r < 0)
			return r;
		names[0] = name;
		r = load_prepare_manifest(c, mdigest, mt, what, NULL, names, name ? 1 : 0, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* For docker >= 25 archives: config digest -> manifest digest from index.json. */
static int load_collect_oci_manifests(struct load_ctx *c)
{
	_cleanup_index_ struct image_index *idx = NULL;
	struct berth_error ignored = {0};

	if (load_oci_layout_check(c, &ignored) < 0 || load_oci_index(c, &idx, &ignored) < 0)
		return 0;
	for (size_t i = 0; i < idx->n_manifests; i++) {
		_cleanup_manifest_ struct image_manifest *m = NULL;
		_cleanup_free_ char *mt = NULL, *buf = NULL;
		char mdigest[BERTH_DIGEST_MAX];
		struct oci_man *no;
		size_t len;

		berth_error_clear(&ignored);
		if (oci_resolve_manifest(c, &idx->manifests[i], "index.json", mdigest, &mt, &ignored) < 0)
			continue;
		if (content_read_blob(&c->s->content, mdigest, &buf, &len, &ignored) < 0)
			continue;
		if (image_manifest_parse(buf, len, mt, "index.json", &m, &ignored) < 0)
			continue;
		no = realloc(c->oci, (c->n_oci + 1) * sizeof(*no));
		if (!no)
			return -ENOMEM;
		c->oci = no;
		no = &c->oci[c->n_oci++];
		snprintf(no->config, sizeof(no->config), "%s", m->config.digest);
		snprintf(no->manifest, sizeof(no->manifest), "%s", mdigest);
		no->media_type = steal_ptr(mt);
	}
	return 0;
}

/* The synthesised manifest of a docker-archive image: Docker schema2, each
 * layer as the archive carried it (uncompressed unless the archive held it
 * compressed).  Deterministic, so loading the same archive twice gives the
 * same manifest digest. */
static int docker_synth_manifest(const char *config_digest, size_t config_len, const struct arc_file *const *layers,
				 size_t n, char **out, const char **media_type, struct berth_error *err)
{
	_cleanup_json_ json_t *m = json_object(), *ls = json_array();
	bool oci = false;

	if (!m || !ls)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (layers[i]->comp == IMAGE_COMP_ZSTD)
			oci = true;   /* Docker schema2 has no zstd layer type */
	for (size_t i = 0; i < n; i++) {
		const char *mt;

		switch (layers[i]->comp) {
		case IMAGE_COMP_GZIP: mt = oci ? MT_OCI_LAYER_GZ : MT_DOCKER_LAYER; break;
		case IMAGE_COMP_ZSTD: mt = MT_OCI_LAYER_ZST; break;
		default: mt = oci ? MT_OCI_LAYER : MT_DOCKER_LAYER_TAR; break;
		}
		if (json_array_append_new(ls, json_pack("{s:s, s:I, s:s}", "mediaType", mt, "size",
							(json_int_t) layers[i]->size, "digest", layers[i]->digest)) < 0)
			return -ENOMEM;
	}
	if (json_object_set_new(m, "schemaVersion", json_integer(2)) < 0 ||
	    json_object_set_new(m, "mediaType", json_string(oci ? MT_OCI_MANIFEST : MT_DOCKER_MANIFEST)) < 0 ||
	    json_object_set_new(m, "config",
				json_pack("{s:s, s:I, s:s}", "mediaType", oci ? MT_OCI_CONFIG : MT_DOCKER_CONFIG,
					  "size", (json_int_t) config_len, "digest", config_digest)) < 0 ||
	    json_object_set(m, "layers", ls) < 0)
		return -ENOMEM;
	*out = json_dumps(m, JSON_COMPACT);
	*media_type = oci ? MT_OCI_MANIFEST : MT_DOCKER_MANIFEST;
	return *out ? 0 : berth_err(err, ENOMEM, "serialising manifest");
}

static int load_docker_entry(struct load_ctx *c, json_t *entry, size_t idx, struct berth_error *err)
{
	struct image_store *s = c->s;
	json_t *jcfg = json_object_get(entry, "Config"), *jtags = json_object_get(entry, "RepoTags");
	json_t *jlayers = json_object_get(entry, "Layers");
	_cleanup_free_ char *cfgname = NULL, *cbuf = NULL, *what = NULL, *mjson = NULL;
	_cleanup_free_ const struct arc_file **layers = NULL;
	char **members = NULL;
	_cleanup_image_config_ struct image_config *cfg = NULL;
	char **names = NULL;
	size_t n_names = 0, clen, n_layers;
	char cdigest[BERTH_DIGEST_MAX], mdigest[BERTH_DIGEST_MAX];
	const struct arc_file *cf;
	const char *mt_hint = NULL;
	int r;

	if (asprintf(&what, "manifest.json[%zu]", idx) < 0) {
		what = NULL;
		return -ENOMEM;
	}
	if (!json_is_object(entry))
		return berth_err(err, EINVAL, "%s: not an object", what);
	if (!json_is_string(jcfg))
		return berth_err(err, EINVAL, "%s.Config: missing or not a string", what);
	if (!json_is_array(jlayers))
		return berth_err(err, EINVAL, "%s.Layers: missing or not an array", what);
	if (jtags && !json_is_null(jtags) && !json_is_array(jtags))
		return berth_err(err, EINVAL, "%s.RepoTags: not an array", what);

	/* Names first: a bad one must fail before anything is unpacked. */
	for (size_t i = 0; json_is_array(jtags) && i < json_array_size(jtags); i++) {
		const char *t = json_string_value(json_array_get(jtags, i));
		_cleanup_ref_ struct image_ref ref = {0};

		if (!t) {
			r = berth_err(err, EINVAL, "%s.RepoTags[%zu]: not a string", what, i);
			goto out;
		}
		r = image_ref_parse(t, &ref, err);
		if (r < 0) {
			berth_error_prefix(err, "%s.RepoTags[%zu]", what, i);
			goto out;
		}
		if (!ref.tag || ref.digest) {
			r = berth_err(err, EINVAL, "%s.RepoTags[%zu]: \"%s\" is not a name:tag", what, i, t);
			goto out;
		}
		r = strv_push(&names, &n_names, image_ref_string(&ref));
		if (r < 0)
			goto out;
	}

	r = member_name_norm(json_string_value(jcfg), &cfgname, err);
	if (r < 0) {
		berth_error_prefix(err, "%s.Config", what);
		goto out;
	}
	cf = arc_lookup(c, cfgname, what, err);
	if (!cf) {
		r = -ENOENT;
		goto out;
	}
	r = arc_read(c, cf, &cbuf, &clen, err);
	if (r < 0)
		goto out;
	r = content_put_buf(&s->content, cbuf, clen, NULL, cdigest, err);
	if (r < 0) {
		berth_error_prefix(err, "archive member \"%s\"", cfgname);
		goto out;
	}
	r = image_config_parse(cbuf, clen, cfgname, &cfg, err);
	if (r < 0)
		goto out;

	/* A docker >= 25 archive also has the real OCI manifest of this image. */
	for (size_t i = 0; i < c->n_oci; i++)
		if (strcmp(c->oci[i].config, cdigest) == 0) {
			r = load_prepare_manifest(c, c->oci[i].manifest, c->oci[i].media_type, what, NULL, names,
						  n_names, err);
			goto out;
		}

	n_layers = json_array_size(jlayers);
	if (n_layers != cfg->n_diff_ids) {
		r = berth_err(err, EINVAL, "%s: %zu Layers but config %s has %zu rootfs.diff_ids", what, n_layers,
			      cfgname, cfg->n_diff_ids);
		goto out;
	}
	layers = calloc(n_layers + 1, sizeof(*layers));
	members = calloc(n_layers + 1, sizeof(*members));
	if (!layers || !members) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_layers; i++) {
		const char *ln = json_string_value(json_array_get(jlayers, i));
		_cleanup_free_ char *lname = NULL;
		char ref[64];

		if (!ln) {
			r = berth_err(err, EINVAL, "%s.Layers[%zu]: not a string", what, i);
			goto out;
		}
		r = member_name_norm(ln, &lname, err);
		if (r < 0) {
			berth_error_prefix(err, "%s.Layers[%zu]", what, i);
			goto out;
		}
		snprintf(ref, sizeof(ref), "%s.Layers[%zu]", what, i);
		layers[i] = arc_lookup(c, lname, ref, err);
		if (!layers[i]) {
			r = -ENOENT;
			goto out;
		}
		if (layers[i]->kind != ARC_BLOB) {
			r = berth_err(err, EINVAL, "%s: archive member \"%s\" is not a layer tar", ref, lname);
			goto out;
		}
		members[i] = steal_ptr(lname);
		if (layers[i]->comp == IMAGE_COMP_NONE && strcmp(layers[i]->digest, cfg->diff_ids[i]) != 0) {
			r = berth_err(err, EBADMSG, "archive member \"%s\": content is %s but config %s says rootfs.diff_ids[%zu] = %s",
				      layers[i]->name, layers[i]->digest, cfgname, i, cfg->diff_ids[i]);
			goto out;
		}
	}
	r = docker_synth_manifest(cdigest, clen, layers, n_layers, &mjson, &mt_hint, err);
	if (r < 0)
		goto out;
	r = content_put_buf(&s->content, mjson, strlen(mjson), NULL, mdigest, err);
	if (r < 0)
		goto out;
	r = load_prepare_manifest(c, mdigest, mt_hint, what, (const char *const *) members, names, n_names, err);
out:
	strv_freen(names, n_names);
	strv_free(members);
	return r;
}

static int load_docker(struct load_ctx *c, struct berth_error *err)
{
	_cleanup_json_ json_t *man = NULL;
	int r;

	r = arc_meta_json(c, "manifest.json", &man, true, err);
	if (r < 0)
		return r;
	if (!json_is_array(man))
		return berth_err(err, EINVAL, "archive member \"manifest.json\": not an array");
	if (json_array_size(man) == 0)
		return berth_err(err, ENOENT, "archive member \"manifest.json\": no images");
	r = load_collect_oci_manifests(c);
	if (r < 0)
		return r;
	for (size_t i = 0; i < json_array_size(man); i++) {
		r = load_docker_entry(c, json_array_get(man, i), i, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool arc_has(struct load_ctx *c, const char *name)
{
	for (size_t i = 0; i < c->n_files; i++)
		if (strcmp(c->files[i].name, name) == 0)
			return true;
	return false;
}

/* Every image of the archive in one transaction: a failure registers none
 * (the report lines are built first, so running out of memory for them
 * cannot leave images registered behind a failed load). */
static int load_register(struct load_ctx *c, char ***loaded, size_t *n_loaded, struct berth_error *err)
{
	_cleanup_free_ struct image_register *regs = calloc(c->n_imgs ? c->n_imgs : 1, sizeof(*regs));
	int r;

	if (!regs)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_imgs; i++) {
		struct load_image *im = &c->imgs[i];

		regs[i] = (struct image_register){
			.manifest_digest = im->manifest_digest,
			.manifest_media_type = im->manifest->media_type,
			.config = im->config,
			.config_digest = im->id,
			.manifest = im->manifest,
			.chain_ids = im->chain_ids,
			.layer_sizes = im->sizes,
			.name = im->n_names ? im->names[0] : NULL,
			.more_names = im->n_names > 1 ? im->names + 1 : NULL,
		};
		if (im->n_names == 0) {
			char *line;

			if (asprintf(&line, "Loaded image ID: %s", im->id) < 0)
				return -ENOMEM;
			r = strv_push(loaded, n_loaded, line);
			if (r < 0)
				return r;
		}
		for (size_t k = 0; k < im->n_names; k++) {
			_cleanup_free_ char *fam = image_name_familiar(im->names[k]);
			char *line;

			if (!fam || asprintf(&line, "Loaded image: %s", fam) < 0)
				return -ENOMEM;
			r = strv_push(loaded, n_loaded, line);
			if (r < 0)
				return r;
		}
	}
	return image_store_register_n(c->s, regs, c->n_imgs, err);
}

static void sweep_after_failure(struct image_store *s)
{
	struct berth_error ignored = {0};
	int r = image_store_sweep(s, NULL, &ignored);

	if (r < 0 && r != -EBUSY)
		log_debug("sweep after a failed archive operation: %s", ignored.msg);
}

int archive_load(struct image_store *s, int in_fd, char ***loaded_out, struct berth_error *err)
{
	struct load_ctx c = { .s = s };
	char **loaded = NULL;
	size_t n_loaded = 0;
	int r;

	r = image_store_ingest_begin(s, err);
	if (r < 0)
		return r;
	r = load_read_archive(&c, in_fd, err);
	if (r < 0)
		goto fail;
	if (arc_has(&c, "manifest.json"))
		r = load_docker(&c, err);
	else if (arc_has(&c, "index.json"))
		r = load_oci(&c, err);
	else
		r = berth_err(err, EINVAL, "not a docker-archive or oci-archive: no manifest.json or index.json member");
	if (r < 0)
		goto fail;
	r = load_register(&c, &loaded, &n_loaded, err);
	if (r < 0)
		goto fail;
	image_store_ingest_end(s);
	r = (int) c.n_imgs;
	load_ctx_clear(&c);
	if (loaded_out)
		*loaded_out = loaded;
	else
		strv_freen(loaded, n_loaded);
	return r;
fail:
	if (r == -ENOMEM && !berth_error_isset(err))
		berth_err(err, ENOMEM, "loading archive: out of memory");
	image_store_ingest_end(s);
	load_ctx_clear(&c);
	strv_freen(loaded, n_loaded);
	sweep_after_failure(s);
	return r;
}

/* ------------------------------------------------------------------ save */

struct tar_out {
	struct archive *a;
	char **written;                      /* member names already in the tar */
	size_t n_written;
	unsigned char *buf;
};

static bool tar_written(struct tar_out *t, const char *name)
{
	return strv_has(t->written, name);
}

static int tar_header(struct tar_out *t, const char *name, mode_t type, int64_t size, struct berth_error *err)
{
	struct archive_entry *e = archive_entry_new();
	int r;

	if (!e)
		return -ENOMEM;
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_size(e, type == AE_IFDIR ? 0 : size);
	archive_entry_set_mtime(e, 0, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	r = archive_write_header(t->a, e);
	archive_entry_free(e);
	if (r < ARCHIVE_WARN)
		return berth_err(err, EIO, "writing archive member \"%s\": %s", name, archive_error_string(t->a));
	return strv_push(&t->written, &t->n_written, strdup(name));
}

static int tar_data(struct tar_out *t, const char *name, const void *buf, size_t len, struct berth_error *err)
{
	const char *p = buf;

	while (len > 0) {
		la_ssize_t n = archive_write_data(t->a, p, len);

		if (n <= 0)
			return berth_err(err, EIO, "writing archive member \"%s\": %s", name,
					 archive_error_string(t->a) ?: "short write");
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

static int tar_dir(struct tar_out *t, const char *name, struct berth_error *err)
{
	if (tar_written(t, name))
		return 0;
	return tar_header(t, name, AE_IFDIR, 0, err);
}

static int tar_buf(struct tar_out *t, const char *name, const void *buf, size_t len, struct berth_error *err)
{
	int r = tar_header(t, name, AE_IFREG, (int64_t) len, err);

	return r < 0 ? r : tar_data(t, name, buf, len, err);
}

/* Copy size bytes of fd into the member `name`, hashing them into h (may be NULL). */
static int tar_fd(struct tar_out *t, const char *name, int fd, int64_t size, struct berth_hasher *h,
		  struct berth_error *err)
{
	int64_t off = 0;
	int r;

	r = tar_header(t, name, AE_IFREG, size, err);
	if (r < 0)
		return r;
	while (off < size) {
		size_t want = size - off > (int64_t) COPY_BUF ? COPY_BUF : (size_t) (size - off);
		ssize_t n = pread(fd, t->buf, want, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berth_errno(err, errno, "reading data of archive member \"%s\"", name);
		}
		if (n == 0)
			return berth_err(err, EIO, "archive member \"%s\": source shrank to %" PRId64 " bytes", name, off);
		if (h)
			berth_hasher_update(h, t->buf, (size_t) n);
		r = tar_data(t, name, t->buf, (size_t) n, err);
		if (r < 0)
			return r;
		off += n;
	}
	return 0;
}

/* One image to save and the names it was asked for under. */
struct save_image {
	char id[BERTH_DIGEST_MAX];
	char **names;            /* full names (tagged ones) */
	size_t n_names;
	struct image_info info;
	/* the manifest as written to an oci-archive (converted from Docker schema2 when needed) */
	char oci_digest[BERTH_DIGEST_MAX];
	int64_t oci_size;
};

static void save_images_free(struct save_image *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		strv_freen(v[i].names, v[i].n_names);
		image_info_clear(&v[i].info);
	}
	free(v);
}

static int save_collect(struct image_store *s, const char *const *refs, size_t n, struct save_image **out,
			size_t *n_out, struct berth_error *err)
{
	struct save_image *v = calloc(n ? n : 1, sizeof(*v));
	size_t nv = 0;
	int r;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *name = NULL;
		char id[BERTH_DIGEST_MAX];
		struct save_image *si = NULL;

		r = image_store_resolve(s, refs[i], id, &name, err);
		if (r < 0)
			goto fail;
		for (size_t k = 0; k < nv; k++)
			if (strcmp(v[k].id, id) == 0)
				si = &v[k];
		if (!si) {
			si = &v[nv];
			snprintf(si->id, sizeof(si->id), "%s", id);
			r = image_store_get(s, id, &si->info, err);
			if (r < 0)
				goto fail;
			nv++;
		}
		/* An ID or a by-digest name adds no tag: such an image is saved unnamed
		 * unless another ref named it. */
		if (name && !strchr(name, '@') && !strv_has(si->names, name)) {
			r = strv_push(&si->names, &si->n_names, steal_ptr(name));
			if (r < 0)
				goto fail;
		}
	}
	*out = v;
	*n_out = nv;
	return 0;
fail:
	save_images_free(v, nv);
	return r;
}

struct decomp_to_file {
	int fd;
	struct berth_hasher *h;
	int64_t n;
};

static int decomp_sink(void *ctx, const void *buf, size_t len)
{
	struct decomp_to_file *d = ctx;

	berth_hasher_update(d->h, buf, len);
	d->n += (int64_t) len;
	return berth_write_all(d->fd, buf, len);
}

/* Uncompressed layer tar for docker-archive: the stored blob, decompressed
 * into a temp file first (a tar header needs the size up front) and checked
 * against the diff_id before a byte of it reaches the output. */
static int save_docker_layer(struct image_store *s, struct tar_out *t, const struct image_descriptor *l,
			     const char *diff_id, const char *member, struct berth_error *err)
{
	_cleanup_close_ int bfd = -1, tfd = -1;
	_cleanup_hasher_ struct berth_hasher *h = NULL;
	_cleanup_decompressor_ struct decompressor *d = NULL;
	struct image_mt_info info;
	char got[BERTH_DIGEST_MAX];
	struct stat st;
	int r;

	if (image_media_type_info(l->media_type, &info) < 0 || info.kind != MT_KIND_LAYER)
		return berth_err(err, ENOTSUP, "layer %s: unsupported media type \"%s\"", l->digest, l->media_type);
	bfd = content_open_blob(&s->content, l->digest, err);
	if (bfd < 0)
		return bfd;
	if (fstat(bfd, &st) < 0)
		return berth_errno(err, errno, "blob %s", l->digest);
	r = berth_hasher_new_like(diff_id, &h);
	if (r < 0)
		return berth_errno(err, r, "hasher for %s", diff_id);

	if (info.comp == IMAGE_COMP_NONE) {
		r = tar_fd(t, member, bfd, st.st_size, h, err);
		if (r < 0)
			return r;
	} else {
		struct decomp_to_file df;
		off_t off = 0;

		tfd = tmpfile_in(s->content.ingest_fd, err);
		if (tfd < 0)
			return tfd;
		df = (struct decomp_to_file){ .fd = tfd, .h = h };
		r = decompressor_new(info.comp, &d, err);
		if (r < 0)
			return r;
		for (;;) {
			ssize_t n = pread(bfd, t->buf, COPY_BUF, off);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				return berth_errno(err, errno, "reading blob %s", l->digest);
			}
			if (n == 0)
				break;
			off += n;
			r = decompressor_feed(d, t->buf, (size_t) n, decomp_sink, &df, err);
			if (r < 0)
				goto decomp_fail;
		}
		r = decompressor_finish(d, decomp_sink, &df, err);
		if (r < 0)
			goto decomp_fail;
		berth_hasher_final(h, got);
		if (strcmp(got, diff_id) != 0)
			return berth_err(err, EBADMSG, "layer %s: uncompressed content is %s, expected diff_id %s",
					 l->digest, got, diff_id);
		return tar_fd(t, member, tfd, df.n, NULL, err);
decomp_fail:
		if (!berth_error_isset(err))
			berth_errno(err, r, "writing decompressed layer");
		berth_error_prefix(err, "layer %s (%s)", l->digest, comp_name(info.comp));
		return r;
	}
	berth_hasher_final(h, got);
	if (strcmp(got, diff_id) != 0)
		return berth_err(err, EBADMSG, "layer %s: content is %s, expected diff_id %s", l->digest, got, diff_id);
	return 0;
}

/* The legacy v1 "json" docker save writes next to each layer.tar. */
static char *docker_v1_json(const struct image_config *cfg, const char *id_hex, const char *parent_hex, bool top)
{
	_cleanup_json_ json_t *j = json_object();
	json_t *cc = json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:n, s:n, s:s, s:n, s:s, s:n, s:n, s:n}",
			       "Hostname", "", "Domainname", "", "User", "", "AttachStdin", 0, "AttachStdout", 0,
			       "AttachStderr", 0, "Tty", 0, "OpenStdin", 0, "StdinOnce", 0, "Env", "Cmd",
			       "Image", "", "Volumes", "WorkingDir", "", "Entrypoint", "OnBuild", "Labels");
	json_t *c;

	if (!j || !cc) {
		json_decref(cc);
		return NULL;
	}
	json_object_set_new(j, "id", json_string(id_hex));
	if (parent_hex)
		json_object_set_new(j, "parent", json_string(parent_hex));
	json_object_set_new(j, "created", json_string(top && cfg->created ? cfg->created : "1970-01-01T00:00:00Z"));
	json_object_set_new(j, "container_config", cc);
	if (top) {
		c = json_object_get(cfg->json, "config");
		if (c)
			json_object_set(j, "config", c);
		if (cfg->architecture)
			json_object_set_new(j, "architecture", json_string(cfg->architecture));
		if (cfg->os)
			json_object_set_new(j, "os", json_string(cfg->os));
	}
	return json_dumps(j, JSON_COMPACT);
}

static int save_docker(struct image_store *s, struct tar_out *t, struct save_image *v, size_t nv,
		       struct berth_error *err)
{
	_cleanup_json_ json_t *manifest = json_array(), *repos = json_object();
	_cleanup_free_ char *mj = NULL, *rj = NULL;
	int r;

	if (!manifest || !repos)
		return -ENOMEM;
	for (size_t i = 0; i < nv; i++) {
		struct image_info *info = &v[i].info;
		const struct image_manifest *m = info->manifest;
		const struct image_config *cfg = info->config;
		json_t *layers = json_array(), *tags = v[i].n_names ? json_array() : json_null();
		const char *top_hex = NULL;
		_cleanup_free_ char *cfgname = NULL;

		if (asprintf(&cfgname, "%s.json", berth_digest_hex(v[i].id)) < 0) {
			cfgname = NULL;
			json_decref(layers);
			json_decref(tags);
			return -ENOMEM;
		}
		/* "o" hands both references to the entry; they stay reachable through it. */
		if (!layers || !tags || json_array_append_new(manifest, json_pack("{s:s, s:o, s:o}", "Config", cfgname,
									      "RepoTags", tags, "Layers", layers)) < 0)
			return -ENOMEM;
		if (m->n_layers != cfg->n_diff_ids)
			return berth_err(err, EINVAL, "image %s: manifest has %zu layers, config %zu diff_ids", v[i].id,
					 m->n_layers, cfg->n_diff_ids);
		for (size_t k = 0; k < m->n_layers; k++) {
			const char *hex = berth_digest_hex(cfg->diff_ids[k]);
			_cleanup_free_ char *dir = NULL, *member = NULL, *ver = NULL, *jname = NULL, *js = NULL;

			if (asprintf(&dir, "%s", hex) < 0 || asprintf(&member, "%s/layer.tar", hex) < 0 ||
			    asprintf(&ver, "%s/VERSION", hex) < 0 || asprintf(&jname, "%s/json", hex) < 0)
				return -ENOMEM;
			if (json_array_append_new(layers, json_string(member)) < 0)
				return -ENOMEM;
			if (!tar_written(t, member)) {
				r = tar_dir(t, dir, err);
				if (r < 0)
					return r;
				r = tar_buf(t, ver, "1.0", 3, err);
				if (r < 0)
					return r;
				js = docker_v1_json(cfg, hex, top_hex, k + 1 == m->n_layers);
				if (!js)
					return -ENOMEM;
				r = tar_buf(t, jname, js, strlen(js), err);
				if (r < 0)
					return r;
				r = save_docker_layer(s, t, &m->layers[k], cfg->diff_ids[k], member, err);
				if (r < 0)
					return r;
			}
			top_hex = hex;
		}
		if (!tar_written(t, cfgname)) {
			r = tar_buf(t, cfgname, info->config_raw, info->config_len, err);
			if (r < 0)
				return r;
		}
		for (size_t k = 0; k < v[i].n_names; k++) {
			_cleanup_ref_ struct image_ref ref = {0};
			_cleanup_free_ char *frepo = NULL;
			json_t *rt;

			r = image_ref_parse(v[i].names[k], &ref, err);
			if (r < 0)
				return r;
			frepo = image_ref_familiar_repo(&ref);
			if (!frepo)
				return -ENOMEM;
			/* Full names, as podman and skopeo write them: docker normalises
			 * them on load the same way, while podman would read a familiar
			 * "busybox:latest" as localhost/busybox:latest. */
			json_array_append_new(tags, json_string(v[i].names[k]));
			rt = json_object_get(repos, frepo);
			if (!rt) {
				rt = json_object();
				if (!rt || json_object_set_new(repos, frepo, rt) < 0)
					return -ENOMEM;
			}
			if (top_hex)
				json_object_set_new(rt, ref.tag, json_string(top_hex));
		}
	}
	mj = json_dumps(manifest, JSON_COMPACT);
	if (!mj)
		return -ENOMEM;
	r = tar_buf(t, "manifest.json", mj, strlen(mj), err);
	if (r < 0)
		return r;
	if (json_object_size(repos) > 0) {
		rj = json_dumps(repos, JSON_COMPACT);
		if (!rj)
			return -ENOMEM;
		r = tar_buf(t, "repositories", rj, strlen(rj), err);
	}
	return r;
}

/* A store blob, byte for byte, at blobs/<algo>/<hex>; re-hashed on the way
 * so a corrupted store never exports silently. */
static int save_oci_blob(struct image_store *s, struct tar_out *t, const char *digest, struct berth_error *err)
{
	_cleanup_free_ char *member = blob_member_name(digest);
	_cleanup_close_ int fd = -1;
	_cleanup_hasher_ struct berth_hasher *h = NULL;
	char got[BERTH_DIGEST_MAX];
	struct stat st;
	int r;

	if (!member)
		return -ENOMEM;
	if (tar_written(t, member))
		return 0;
	{
		_cleanup_free_ char *algo_dir = strndup(member, strrchr(member, '/') - member);

		if (!algo_dir)
			return -ENOMEM;
		r = tar_dir(t, algo_dir, err);
		if (r < 0)
			return r;
	}
	fd = content_open_blob(&s->content, digest, err);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return berth_errno(err, errno, "blob %s", digest);
	r = berth_hasher_new_like(digest, &h);
	if (r < 0)
		return berth_errno(err, r, "hasher for %s", digest);
	r = tar_fd(t, member, fd, st.st_size, h, err);
	if (r < 0)
		return r;
	berth_hasher_final(h, got);
	if (strcmp(got, digest) != 0)
		return berth_err(err, EBADMSG, "blob %s in the store is corrupt (content is %s)", digest, got);
	return 0;
}

static json_t *oci_descriptor(const struct save_image *si, const char *name)
{
	json_t *d = json_pack("{s:s, s:s, s:I}", "mediaType", MT_OCI_MANIFEST, "digest", si->oci_digest, "size",
			      (json_int_t) si->oci_size);

	if (d && name) {
		json_t *a = json_pack("{s:s, s:s}", ANNOT_CONTAINERD_NAME, name, ANNOT_REF_NAME, name);

		if (!a || json_object_set_new(d, "annotations", a) < 0) {
			json_decref(d);
			return NULL;
		}
	}
	return d;
}

/* OCI media type for a layer of a Docker schema2 manifest. */
static const char *oci_layer_media_type(const struct image_descriptor *l)
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

/* The image's manifest for an oci-archive.  An OCI manifest is written as
 * stored.  A Docker schema2 manifest (a pull from Docker Hub, a docker-archive
 * load) is rewritten with OCI media types: containers/image (skopeo, podman)
 * only looks up index entries whose manifests are OCI.  Config and layer blobs
 * are unchanged, so the image ID is the same. */
static int save_oci_manifest(struct tar_out *t, struct save_image *si, struct berth_error *err)
{
	const struct image_manifest *m = si->info.manifest;
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *raw = NULL, *member = NULL;
	const char *buf = si->info.manifest_raw;
	size_t len = si->info.manifest_len;
	json_t *layers;
	int r;

	if (strcmp(m->media_type, MT_OCI_MANIFEST) != 0) {
		layers = json_array();
		doc = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST,
				"config", "mediaType", MT_OCI_CONFIG, "digest", m->config.digest, "size",
				(json_int_t) m->config.size, "layers", layers);
		if (!doc || !layers)
			return -ENOMEM;
		for (size_t i = 0; i < m->n_layers; i++) {
			const struct image_descriptor *l = &m->layers[i];
			const char *mt = oci_layer_media_type(l);
			json_t *d;

			if (!mt)
				return berth_err(err, ENOTSUP, "image %s: layers[%zu]: unsupported media type \"%s\"",
						 si->id, i, l->media_type);
			d = json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", l->digest, "size",
				      (json_int_t) l->size);
			if (!d || json_array_append_new(layers, d) < 0)
				return -ENOMEM;
			if (l->n_urls > 0) {
				json_t *urls = json_array();

				if (!urls || json_object_set_new(d, "urls", urls) < 0)
					return -ENOMEM;
				for (size_t k = 0; k < l->n_urls; k++)
					if (json_array_append_new(urls, json_string(l->urls[k])) < 0)
						return -ENOMEM;
			}
		}
		raw = json_dumps(doc, JSON_COMPACT);
		if (!raw)
			return -ENOMEM;
		buf = raw;
		len = strlen(raw);
	}
	r = berth_digest_buf(buf, len, si->oci_digest);
	if (r < 0)
		return berth_errno(err, r, "image %s: manifest digest", si->id);
	si->oci_size = (int64_t) len;
	member = blob_member_name(si->oci_digest);
	if (!member)
		return -ENOMEM;
	if (tar_written(t, member))
		return 0;
	return tar_buf(t, member, buf, len, err);
}

static int save_oci(struct image_store *s, struct tar_out *t, struct save_image *v, size_t nv,
		    struct berth_error *err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	_cleanup_json_ json_t *manifests = json_array();
	_cleanup_json_ json_t *index = NULL;
	_cleanup_free_ char *ij = NULL;
	int r;

	if (!manifests)
		return -ENOMEM;
	r = tar_buf(t, "oci-layout", layout, strlen(layout), err);
	if (r < 0)
		return r;
	r = tar_dir(t, "blobs", err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < nv; i++) {
		const struct image_manifest *m = v[i].info.manifest;

		for (size_t k = 0; k < m->n_layers; k++) {
			r = save_oci_blob(s, t, m->layers[k].digest, err);
			if (r < 0)
				return r;
		}
		r = save_oci_blob(s, t, m->config.digest, err);
		if (r < 0)
			return r;
		r = save_oci_manifest(t, &v[i], err);
		if (r < 0)
			return r;
		for (size_t k = 0; k < v[i].n_names; k++)
			if (json_array_append_new(manifests, oci_descriptor(&v[i], v[i].names[k])) < 0)
				return -ENOMEM;
		if (v[i].n_names == 0 && json_array_append_new(manifests, oci_descriptor(&v[i], NULL)) < 0)
			return -ENOMEM;
	}
	index = json_pack("{s:i, s:s, s:O}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX, "manifests", manifests);
	if (!index)
		return -ENOMEM;
	ij = json_dumps(index, JSON_COMPACT);
	if (!ij)
		return -ENOMEM;
	return tar_buf(t, "index.json", ij, strlen(ij), err);
}

int archive_format_parse(const char *s, enum archive_format *out, struct berth_error *err)
{
	if (s && (strcmp(s, "docker-archive") == 0 || strcmp(s, "docker") == 0)) {
		*out = ARCHIVE_DOCKER;
		return 0;
	}
	if (s && (strcmp(s, "oci-archive") == 0 || strcmp(s, "oci") == 0)) {
		*out = ARCHIVE_OCI;
		return 0;
	}
	return berth_err(err, EINVAL, "unknown archive format \"%s\" (use docker-archive or oci-archive)", s ?: "");
}

int archive_save(struct image_store *s, const char *const *refs, size_t n, enum archive_format fmt,
		 int out_fd, struct berth_error *err)
{
	_cleanup_archive_write_ struct archive *a = NULL;
	struct tar_out t = {0};
	struct save_image *v = NULL;
	size_t nv = 0;
	int r;

	if (n == 0)
		return berth_err(err, EINVAL, "save: no image given");
	r = image_store_ingest_begin(s, err);
	if (r < 0)
		return r;
	r = save_collect(s, refs, n, &v, &nv, err);
	if (r < 0)
		goto out;
	a = archive_write_new();
	t.buf = malloc(COPY_BUF);
	if (!a || !t.buf) {
		r = berth_err(err, ENOMEM, "save: out of memory");
		goto out;
	}
	t.a = a;
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(a) != ARCHIVE_OK || archive_write_open_fd(a, out_fd) != ARCHIVE_OK) {
		r = berth_err(err, EIO, "save: %s", archive_error_string(a));
		goto out;
	}
	r = fmt == ARCHIVE_OCI ? save_oci(s, &t, v, nv, err) : save_docker(s, &t, v, nv, err);
	if (r < 0)
		goto out;
	if (archive_write_close(a) != ARCHIVE_OK)
		r = berth_err(err, EIO, "save: finishing archive: %s", archive_error_string(a));
out:
	if (r == -ENOMEM && !berth_error_isset(err))
		berth_err(err, ENOMEM, "save: out of memory");
	image_store_ingest_end(s);
	save_images_free(v, nv);
	strv_freen(t.written, t.n_written);
	free(t.buf);
	return r;
}

/* ------------------------------------------------------------------ import */

struct import_ctx {
	z_stream zs;
	bool zs_init;
	int tmp_fd;
	struct berth_hasher *diff_h, *blob_h;
	int64_t raw_bytes, blob_bytes;
	unsigned char *out;
	struct berth_error *err;
};

static int import_emit(struct import_ctx *c, int flush)
{
	do {
		int zr;
		size_t have;

		c->zs.next_out = c->out;
		c->zs.avail_out = COPY_BUF;
		zr = deflate(&c->zs, flush);
		if (zr == Z_STREAM_ERROR)
			return berth_err(c->err, EIO, "import: gzip compression failed");
		have = COPY_BUF - c->zs.avail_out;
		if (have) {
			berth_hasher_update(c->blob_h, c->out, have);
			if (berth_write_all(c->tmp_fd, c->out, have) < 0)
				return berth_errno(c->err, errno, "import: writing temporary file");
			c->blob_bytes += (int64_t) have;
		}
		if (flush == Z_FINISH && zr == Z_STREAM_END)
			return 0;
	} while (c->zs.avail_out == 0 || (flush == Z_FINISH));
	return 0;
}

static int import_sink(void *ctx, const void *buf, size_t len)
{
	struct import_ctx *c = ctx;

	berth_hasher_update(c->diff_h, buf, len);
	c->raw_bytes += (int64_t) len;
	c->zs.next_in = (Bytef *) buf;
	c->zs.avail_in = (uInt) len;
	return import_emit(c, Z_NO_FLUSH);
}

/* Stream in_fd through decompression (if any) into a gzip blob in a temp
 * file, computing the diff_id and the blob digest on the way. */
static int import_compress(int in_fd, struct import_ctx *c, char diff_id[BERTH_DIGEST_MAX],
			   char blob_digest[BERTH_DIGEST_MAX], struct berth_error *err)
{
	_cleanup_decompressor_ struct decompressor *d = NULL;
	_cleanup_free_ unsigned char *in = malloc(COPY_BUF);
	bool first = true;
	int r;

	if (!in)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(in_fd, in, COPY_BUF);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berth_errno(err, errno, "import: reading input");
		}
		if (first) {
			enum image_compression comp;

			if (n == 0)
				return berth_err(err, EINVAL, "import: input is empty");
			if (n >= 6 && memcmp(in, "\xfd" "7zXZ\0", 6) == 0)
				return berth_err(err, ENOTSUP, "import: xz-compressed input is not supported (use plain, gzip or zstd)");
			if (n >= 3 && memcmp(in, "BZh", 3) == 0)
				return berth_err(err, ENOTSUP, "import: bzip2-compressed input is not supported (use plain, gzip or zstd)");
			comp = sniff_compression(in, (size_t) n);
			r = decompressor_new(comp, &d, err);
			if (r < 0)
				return r;
			first = false;
		}
		if (n == 0)
			break;
		r = decompressor_feed(d, in, (size_t) n, import_sink, c, err);
		if (r < 0)
			goto fail;
	}
	r = decompressor_finish(d, import_sink, c, err);
	if (r < 0)
		goto fail;
	if (c->raw_bytes == 0)
		return berth_err(err, EINVAL, "import: input decompresses to nothing");
	c->zs.next_in = NULL;
	c->zs.avail_in = 0;
	r = import_emit(c, Z_FINISH);
	if (r < 0)
		return r;
	berth_hasher_final(c->diff_h, diff_id);
	berth_hasher_final(c->blob_h, blob_digest);
	return 0;
fail:
	if (!berth_error_isset(err))
		berth_errno(err, r, "import");
	else
		berth_error_prefix(err, "import");
	return r;
}

static int import_put_json(struct image_store *s, json_t *doc, char **raw, char digest[BERTH_DIGEST_MAX],
			   struct berth_error *err)
{
	*raw = json_dumps(doc, JSON_COMPACT);
	if (!*raw)
		return -ENOMEM;
	return content_put_buf(&s->content, *raw, strlen(*raw), NULL, digest, err);
}

int archive_import(struct image_store *s, int in_fd, const char *name, char id_out[BERTH_DIGEST_MAX],
		   struct berth_error *err)
{
	_cleanup_free_ char *full = NULL, *created = NULL, *craw = NULL, *mraw = NULL, *out_buf = NULL;
	_cleanup_hasher_ struct berth_hasher *diff_h = NULL, *blob_h = NULL;
	_cleanup_close_ int tmp = -1;
	_cleanup_platform_ struct image_platform host = {0};
	_cleanup_json_ json_t *cfg_doc = NULL, *man_doc = NULL;
	_cleanup_image_config_ struct image_config *cfg = NULL;
	_cleanup_manifest_ struct image_manifest *man = NULL;
	struct import_ctx c = {0};
	char diff_id[BERTH_DIGEST_MAX], blob[BERTH_DIGEST_MAX], cdigest[BERTH_DIGEST_MAX], mdigest[BERTH_DIGEST_MAX];
	char *chain_ids[2] = { diff_id, NULL };
	int64_t size = 0;
	int r;

	if (name) {
		_cleanup_ref_ struct image_ref ref = {0};

		r = image_ref_parse(name, &ref, err);
		if (r < 0)
			return r;
		if (ref.digest)
			return berth_err(err, EINVAL, "import: name \"%s\" must not contain a digest", name);
		full = image_ref_string(&ref);
		if (!full)
			return -ENOMEM;
	}
	if (berth_hasher_new(BERTH_DIGEST_SHA256, &diff_h) < 0 || berth_hasher_new(BERTH_DIGEST_SHA256, &blob_h) < 0)
		return berth_err(err, EIO, "import: cannot initialise sha256");
	out_buf = malloc(COPY_BUF);
	if (!out_buf)
		return berth_err(err, ENOMEM, "import: out of memory");

	r = image_store_ingest_begin(s, err);
	if (r < 0)
		return r;
	tmp = tmpfile_in(s->content.ingest_fd, err);
	if (tmp < 0) {
		r = tmp;
		goto fail;
	}
	c.tmp_fd = tmp;
	c.diff_h = diff_h;
	c.blob_h = blob_h;
	c.out = (unsigned char *) out_buf;
	c.err = err;
	if (deflateInit2(&c.zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		r = berth_err(err, ENOMEM, "import: cannot initialise gzip");
		goto fail;
	}
	c.zs_init = true;
	r = import_compress(in_fd, &c, diff_id, blob, err);
	if (r < 0)
		goto fail;
	r = content_put_tmpfile(&s->content, tmp, blob, c.blob_bytes, err);
	if (r < 0)
		goto fail;
	r = ensure_layer(s, blob, c.blob_bytes, IMAGE_COMP_GZIP, diff_id, diff_id, "imported tarball", &size, err);
	if (r < 0)
		goto fail;

	image_platform_host(&host);
	created = now_rfc3339();
	if (!created) {
		r = -ENOMEM;
		goto fail;
	}
	cfg_doc = json_pack("{s:s, s:s, s:s, s:{}, s:{s:s, s:[s]}, s:[{s:s, s:s}]}", "created", created,
			    "architecture", host.architecture ?: "amd64", "os", host.os ?: "linux", "config",
			    "rootfs", "type", "layers", "diff_ids", diff_id, "history", "created", created,
			    "created_by", "berth image import");
	if (!cfg_doc) {
		r = -ENOMEM;
		goto fail;
	}
	if (host.variant)
		json_object_set_new(cfg_doc, "variant", json_string(host.variant));
	r = import_put_json(s, cfg_doc, &craw, cdigest, err);
	if (r < 0)
		goto fail;
	r = image_config_parse(craw, strlen(craw), "imported config", &cfg, err);
	if (r < 0)
		goto fail;
	man_doc = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2, "mediaType",
			    MT_OCI_MANIFEST, "config", "mediaType", MT_OCI_CONFIG, "digest", cdigest, "size",
			    (json_int_t) strlen(craw), "layers", "mediaType", MT_OCI_LAYER_GZ, "digest", blob, "size",
			    (json_int_t) c.blob_bytes);
	if (!man_doc) {
		r = -ENOMEM;
		goto fail;
	}
	r = import_put_json(s, man_doc, &mraw, mdigest, err);
	if (r < 0)
		goto fail;
	r = image_manifest_parse(mraw, strlen(mraw), MT_OCI_MANIFEST, "imported manifest", &man, err);
	if (r < 0)
		goto fail;
	{
		struct image_register reg = {
			.manifest_digest = mdigest,
			.manifest_media_type = MT_OCI_MANIFEST,
			.config = cfg,
			.config_digest = cdigest,
			.manifest = man,
			.chain_ids = chain_ids,
			.layer_sizes = &size,
			.name = full,
		};

		r = image_store_register(s, &reg, err);
		if (r < 0)
			goto fail;
	}
	deflateEnd(&c.zs);
	image_store_ingest_end(s);
	snprintf(id_out, BERTH_DIGEST_MAX, "%s", cdigest);
	return 0;
fail:
	if (r == -ENOMEM && !berth_error_isset(err))
		berth_err(err, ENOMEM, "import: out of memory");
	if (c.zs_init)
		deflateEnd(&c.zs);
	image_store_ingest_end(s);
	sweep_after_failure(s);
	return r;
}
