/* ingest.c — one layer's pipeline (see ingest.h). */
#include "image/ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "core/log.h"
#include "image/decompress.h"
#include "image/unpack.h"

#define INGEST_PIPE_SIZE (1 << 20)
#define INGEST_READ_CHUNK (1 << 20)

struct ingest {
	struct image_store *s;
	struct ingest_params p;
	char *blob_digest, *diff_id, *chain_id, *what;

	struct content_writer *w;       /* NULL when the blob is not being stored */
	struct berth_hasher *hc;        /* compressed bytes, when w does not verify them */
	int64_t compressed_len;

	bool do_layer;
	struct layer_tx *tx;
	int layer_dirfd;                /* owned by tx */
	struct decompressor *dec;
	struct berth_hasher *hu;
	int64_t uncompressed_len;
	int pipe_w;
	pthread_t thread;
	bool thread_running;
	int unpack_rc;
	struct berth_error unpack_err;
	struct unpack_stats stats;
	int pipe_r;                     /* handed to the thread */

	_Atomic uint64_t written;
};

int ingest_plan(struct image_store *s, const struct ingest_params *p, struct ingest_plan *plan)
{
	int r = content_has(&s->content, p->blob_digest, NULL);
	if (r < 0)
		return r;
	plan->need_blob = p->store_blob && r == 0;
	r = layer_exists(&s->layers, p->chain_id);
	if (r < 0)
		return r;
	plan->need_layer = r == 0;
	return 0;
}

static void *unpack_thread(void *arg)
{
	struct ingest *in = arg;
	in->unpack_rc = image_unpack(in->pipe_r, in->layer_dirfd, &in->p.unpack, in->what, &in->stats,
				     &in->unpack_err);
	close(in->pipe_r);
	in->pipe_r = -1;
	return NULL;
}

/* Start the decompress → hash → pipe → unpack half. */
static int layer_half_start(struct ingest *in, struct berth_error *err)
{
	int r = layer_begin(&in->s->layers, in->chain_id, &in->tx, &in->layer_dirfd, err);
	if (r < 0)
		return r;
	r = decompressor_new(in->p.comp, &in->dec, err);
	if (r < 0)
		return r;
	r = berth_hasher_new_like(in->diff_id, &in->hu);
	if (r < 0)
		return berth_errno(err, r, "%s: hasher", in->what);
	/* The unpack thread hashes what it reads: the diff_id check is then
	 * off the thread that receives, verifies and decompresses. */
	in->p.unpack.hash = in->hu;
	in->uncompressed_len = 0;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return berth_errno(err, errno, "%s: pipe", in->what);
	/* A bigger pipe lets the downloader run ahead of the extractor. */
	(void) fcntl(fds[1], F_SETPIPE_SZ, INGEST_PIPE_SIZE);
	in->pipe_r = fds[0];
	in->pipe_w = fds[1];
	berth_error_clear(&in->unpack_err);
	in->unpack_rc = 0;
	r = pthread_create(&in->thread, NULL, unpack_thread, in);
	if (r != 0) {
		close(in->pipe_r);
		in->pipe_r = -1;
		return berth_errno(err, r, "%s: starting the unpack thread", in->what);
	}
	in->thread_running = true;
	return 0;
}

/* Close the pipe, wait for the extractor, return its result. */
static int layer_half_join(struct ingest *in, struct berth_error *err)
{
	if (in->pipe_w >= 0) {
		close(in->pipe_w);
		in->pipe_w = -1;
	}
	if (!in->thread_running)
		return 0;
	pthread_join(in->thread, NULL);
	in->thread_running = false;
	if (in->unpack_rc < 0) {
		if (err && !berth_error_isset(err))
			*err = in->unpack_err;
		return in->unpack_rc;
	}
	return 0;
}

static void layer_half_stop(struct ingest *in)
{
	(void) layer_half_join(in, NULL);
	decompressor_free(in->dec);
	in->dec = NULL;
	berth_hasher_free(in->hu);
	in->hu = NULL;
	layer_abort(in->tx);
	in->tx = NULL;
	in->layer_dirfd = -1;
}

static int to_pipe(void *ctx, const void *buf, size_t len)
{
	struct ingest *in = ctx;
	in->uncompressed_len += (int64_t) len;
	return berth_write_all(in->pipe_w, buf, len);
}

/* Feed compressed bytes to the layer half; a broken pipe means the extractor
 * stopped, and its error is the one worth reporting. */
static int layer_half_feed(struct ingest *in, const void *buf, size_t len, struct berth_error *err)
{
	struct berth_error derr = { 0 };
	int r = decompressor_feed(in->dec, buf, len, to_pipe, in, &derr);
	if (r < 0) {
		if (r == -EPIPE) {
			int ur = layer_half_join(in, err);
			if (ur < 0)
				return ur;
		}
		if (berth_error_isset(&derr)) {
			if (err && !berth_error_isset(err))
				*err = derr;
			berth_error_prefix(err, "%s", in->what);
			return r;
		}
		return berth_errno(err, r, "%s: writing to the unpacker", in->what);
	}
	return 0;
}

static void ingest_free(struct ingest *in)
{
	if (!in)
		return;
	free(in->blob_digest);
	free(in->diff_id);
	free(in->chain_id);
	free(in->what);
	berth_hasher_free(in->hc);
	free(in);
}

/* Replay the bytes of a kept partial download into the layer half. */
static int replay_partial(struct ingest *in, int64_t upto, struct berth_error *err)
{
	char name[BERTH_DIGEST_MAX + 16];
	const char *hex = berth_digest_hex(in->blob_digest);
	size_t algo_len = (size_t) (hex - 1 - in->blob_digest);
	snprintf(name, sizeof(name), "%.*s-%s.partial", (int) algo_len, in->blob_digest, hex);
	_cleanup_close_ int fd = openat(in->s->content.ingest_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return berth_errno(err, errno, "%s: reopening partial download %s", in->what, name);
	_cleanup_free_ char *buf = malloc(INGEST_READ_CHUNK);
	if (!buf)
		return berth_errno(err, ENOMEM, "%s", in->what);
	int64_t done = 0;
	while (done < upto) {
		size_t want = (size_t) ((upto - done) < INGEST_READ_CHUNK ? (upto - done) : INGEST_READ_CHUNK);
		ssize_t n = berth_read_all(fd, buf, want);
		if (n < 0)
			return berth_errno(err, (int) -n, "%s: reading partial download", in->what);
		if (n == 0)
			return berth_err(err, EIO, "%s: partial download shorter than recorded", in->what);
		int r = layer_half_feed(in, buf, (size_t) n, err);
		if (r < 0)
			return r;
		done += n;
	}
	return 0;
}

static int ingest_setup(struct image_store *s, const struct ingest_params *p, bool store_blob,
			struct ingest **out, int64_t *resume_offset, struct berth_error *err)
{
	struct ingest *in = calloc(1, sizeof(*in));
	if (!in)
		return berth_err(err, ENOMEM, "%s: out of memory", p->what ? p->what : p->blob_digest);
	in->s = s;
	in->p = *p;
	in->pipe_w = in->pipe_r = in->layer_dirfd = -1;
	in->blob_digest = strdup(p->blob_digest);
	in->diff_id = strdup(p->diff_id);
	in->chain_id = strdup(p->chain_id);
	in->what = strdup(p->what ? p->what : p->blob_digest);
	if (!in->blob_digest || !in->diff_id || !in->chain_id || !in->what) {
		ingest_free(in);
		return berth_err(err, ENOMEM, "%s: out of memory", p->what ? p->what : p->blob_digest);
	}
	int r = berth_digest_check(in->blob_digest, in->what, err);
	if (r >= 0)
		r = berth_digest_check(in->diff_id, in->what, err);
	if (r >= 0)
		r = berth_digest_check(in->chain_id, in->what, err);
	if (r < 0) {
		ingest_free(in);
		return r;
	}

	int64_t resume = 0;
	bool have_blob = true;
	if (store_blob) {
		/* Blob lock first, then the layer lock: every path takes them in this order. */
		r = content_writer_begin(&s->content, in->blob_digest, p->blob_size, &in->w, &resume, err);
		if (r == -EEXIST) {
			ingest_free(in);
			return -EEXIST;       /* the caller re-plans: unpack from the stored blob */
		}
		if (r < 0) {
			ingest_free(in);
			return r;
		}
		have_blob = false;
	} else {
		r = berth_hasher_new_like(in->blob_digest, &in->hc);
		if (r < 0) {
			berth_errno(err, r, "%s: hasher", in->what);
			ingest_free(in);
			return r;
		}
	}

	r = layer_exists(&s->layers, in->chain_id);
	if (r < 0) {
		berth_errno(err, r, "%s: layer store", in->what);
		goto fail;
	}
	if (r == 0) {
		struct berth_error lerr = { 0 };
		r = layer_half_start(in, &lerr);
		if (r == -EEXIST) {
			in->do_layer = false;
		} else if (r < 0) {
			if (err && !berth_error_isset(err))
				*err = lerr;
			goto fail;
		} else {
			in->do_layer = true;
		}
	}
	if (!in->do_layer && (have_blob || !in->w)) {
		ingest_abort(in, true);
		return -EEXIST;
	}
	if (in->do_layer && resume > 0) {
		struct berth_error rerr = { 0 };
		r = replay_partial(in, resume, &rerr);
		if (r < 0) {
			/* The kept bytes do not even decompress: they are not worth
			 * resuming from.  Start the blob over. */
			log_warn("%s: discarding partial download (%s)", in->what, rerr.msg);
			r = ingest_restart(in, err);
			if (r < 0)
				goto fail;
			resume = 0;
		}
	}
	in->compressed_len = resume;
	atomic_store(&in->written, (uint64_t) resume);
	if (resume_offset)
		*resume_offset = resume;
	*out = in;
	return 0;
fail:
	ingest_abort(in, true);
	return r;
}

int ingest_begin(struct image_store *s, const struct ingest_params *p, struct ingest **out,
		 int64_t *resume_offset, struct berth_error *err)
{
	return ingest_setup(s, p, p->store_blob, out, resume_offset, err);
}

int ingest_write(struct ingest *in, const void *buf, size_t len, struct berth_error *err)
{
	int r;
	if (in->w) {
		r = content_writer_write(in->w, buf, len, err);
		if (r < 0) {
			berth_error_prefix(err, "%s", in->what);
			return r;
		}
	} else {
		berth_hasher_update(in->hc, buf, len);
		if (in->p.blob_size >= 0 && in->compressed_len + (int64_t) len > in->p.blob_size)
			return berth_err(err, EFBIG, "%s: more data than the descriptor's size %lld", in->what,
					 (long long) in->p.blob_size);
	}
	in->compressed_len += (int64_t) len;
	if (in->do_layer) {
		r = layer_half_feed(in, buf, len, err);
		if (r < 0)
			return r;
	}
	atomic_fetch_add(&in->written, len);
	return 0;
}

int ingest_restart(struct ingest *in, struct berth_error *err)
{
	int r;
	if (in->w) {
		r = content_writer_truncate(in->w, err);
		if (r < 0)
			return r;
	} else {
		berth_hasher_free(in->hc);
		in->hc = NULL;
		r = berth_hasher_new_like(in->blob_digest, &in->hc);
		if (r < 0)
			return berth_errno(err, r, "%s: hasher", in->what);
	}
	in->compressed_len = 0;
	atomic_store(&in->written, 0);
	if (in->do_layer) {
		layer_half_stop(in);
		r = layer_half_start(in, err);
		if (r == -EEXIST) {
			in->do_layer = false;    /* someone else unpacked it meanwhile */
			return 0;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int ingest_finish(struct ingest *in, int64_t *unpacked_size, struct berth_error *err)
{
	int r = 0;
	char got[BERTH_DIGEST_MAX];

	if (in->do_layer) {
		struct berth_error derr = { 0 };
		r = decompressor_finish(in->dec, to_pipe, in, &derr);
		int ur = layer_half_join(in, err);
		if (ur < 0) {
			r = ur;
			goto fail;
		}
		if (r < 0) {
			if (err && !berth_error_isset(err))
				*err = derr;
			berth_error_prefix(err, "%s", in->what);
			goto fail;
		}
		berth_hasher_final(in->hu, got);
		if (strcmp(got, in->diff_id) != 0) {
			r = berth_err(err, EBADMSG, "%s: uncompressed content is %s, the image config says diff_id %s",
				      in->what, got, in->diff_id);
			goto fail;
		}
	}

	if (in->w) {
		struct content_writer *w = steal_ptr(in->w);
		r = content_writer_commit(w, err);     /* verifies size and digest */
		if (r < 0) {
			berth_error_prefix(err, "%s", in->what);
			goto fail;
		}
	} else {
		berth_hasher_final(in->hc, got);
		if (strcmp(got, in->blob_digest) != 0) {
			r = berth_err(err, EBADMSG, "%s: digest mismatch (got %s)", in->what, got);
			goto fail;
		}
		if (in->p.blob_size >= 0 && in->compressed_len != in->p.blob_size) {
			r = berth_err(err, EBADMSG, "%s: size mismatch (%lld bytes, descriptor says %lld)", in->what,
				      (long long) in->compressed_len, (long long) in->p.blob_size);
			goto fail;
		}
	}

	if (in->do_layer) {
		struct layer_tx *tx = steal_ptr(in->tx);
		in->layer_dirfd = -1;
		r = layer_commit(tx, err);
		if (r < 0)
			goto fail;
		decompressor_free(in->dec);
		in->dec = NULL;
		berth_hasher_free(in->hu);
		in->hu = NULL;
	}
	if (unpacked_size)
		*unpacked_size = in->do_layer ? in->uncompressed_len : -1;
	ingest_free(in);
	return 0;
fail:
	ingest_abort(in, false);
	return r;
}

void ingest_abort(struct ingest *in, bool keep_partial)
{
	if (!in)
		return;
	if (in->do_layer || in->tx)
		layer_half_stop(in);
	if (in->w)
		content_writer_abort(steal_ptr(in->w), keep_partial);
	ingest_free(in);
}

uint64_t ingest_bytes(const struct ingest *in)
{
	return atomic_load(&((struct ingest *) in)->written);
}

int ingest_from_blob(struct image_store *s, const struct ingest_params *p, int64_t *unpacked_size,
		     struct berth_error *err)
{
	struct ingest *in = NULL;
	int r = ingest_setup(s, p, false, &in, NULL, err);
	if (r == -EEXIST) {
		if (unpacked_size)
			*unpacked_size = -1;
		return 0;
	}
	if (r < 0)
		return r;
	_cleanup_close_ int fd = content_open_blob(&s->content, p->blob_digest, err);
	if (fd < 0) {
		ingest_abort(in, true);
		return fd;
	}
	_cleanup_free_ char *buf = malloc(INGEST_READ_CHUNK);
	if (!buf) {
		ingest_abort(in, true);
		return berth_errno(err, ENOMEM, "%s", p->what);
	}
	for (;;) {
		ssize_t n = read(fd, buf, INGEST_READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = berth_errno(err, errno, "%s: reading blob %s", in->what, in->blob_digest);
			ingest_abort(in, true);
			return r;
		}
		if (n == 0)
			break;
		r = ingest_write(in, buf, (size_t) n, err);
		if (r < 0) {
			ingest_abort(in, true);
			return r;
		}
	}
	return ingest_finish(in, unpacked_size, err);
}
