#include "image/decompress.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef BERTH_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif
#include <zlib.h>
#include <zstd.h>

/* Big enough that the sink (a pipe to the tar reader, a hasher) is called
 * rarely, small enough to stay in L2 while it is consumed. */
#define OUT_CHUNK (128 * 1024)

/* Between gzip members: the next byte decides whether another member starts,
 * or the stream is padded with zeros to its end (what `gzip -dc` accepts). */
enum gz_phase { GZ_IN_MEMBER, GZ_BOUNDARY, GZ_ZERO_PAD };

struct decompressor {
	enum image_compression comp;
	int failed;                 /* negative errno once a call failed */
	unsigned long long total_in, total_out;
	unsigned long long members; /* completed gzip members / zstd frames */
	bool any_input;
	enum gz_phase phase;
	uint8_t *out;               /* OUT_CHUNK bytes */
#ifdef BERTH_HAVE_ISAL
	struct inflate_state *isal;
#else
	z_stream zs;
	bool zs_init;
#endif
	ZSTD_DStream *zstd;
	size_t zstd_hint;           /* last ZSTD_decompressStream result: 0 = at a frame boundary */
};

static const char *comp_name(enum image_compression comp)
{
	switch (comp) {
	case IMAGE_COMP_GZIP:
		return "gzip";
	case IMAGE_COMP_ZSTD:
		return "zstd";
	default:
		return "uncompressed";
	}
}

const char *decompressor_backend(const struct decompressor *d)
{
	switch (d->comp) {
	case IMAGE_COMP_GZIP:
#ifdef BERTH_HAVE_ISAL
		return "isa-l";
#else
		return "zlib";
#endif
	case IMAGE_COMP_ZSTD:
		return "zstd";
	default:
		return "none";
	}
}

unsigned long long decompressor_total_in(const struct decompressor *d) { return d->total_in; }
unsigned long long decompressor_total_out(const struct decompressor *d) { return d->total_out; }

int decompressor_new(enum image_compression comp, struct decompressor **out, struct berth_error *err)
{
	*out = NULL;
	if (comp != IMAGE_COMP_NONE && comp != IMAGE_COMP_GZIP && comp != IMAGE_COMP_ZSTD)
		return berth_err(err, EINVAL, "unsupported layer compression %d", (int) comp);
	struct decompressor *d = calloc(1, sizeof(*d));
	if (!d)
		return berth_err(err, ENOMEM, "out of memory for a %s decompressor", comp_name(comp));
	d->comp = comp;
	d->phase = GZ_BOUNDARY;
	if (comp == IMAGE_COMP_NONE) {
		*out = d;
		return 0;
	}
	d->out = malloc(OUT_CHUNK);
	if (!d->out)
		goto nomem;
	if (comp == IMAGE_COMP_GZIP) {
#ifdef BERTH_HAVE_ISAL
		d->isal = malloc(sizeof(*d->isal));
		if (!d->isal)
			goto nomem;
		isal_inflate_init(d->isal);
#else
		/* 15+32: largest window, gzip or zlib header detected automatically. */
		if (inflateInit2(&d->zs, 15 + 32) != Z_OK)
			goto nomem;
		d->zs_init = true;
#endif
	} else {
		d->zstd = ZSTD_createDStream();
		if (!d->zstd)
			goto nomem;
		size_t r = ZSTD_initDStream(d->zstd);
		if (ZSTD_isError(r)) {
			decompressor_free(d);
			return berth_err(err, EIO, "cannot initialise zstd decompressor: %s", ZSTD_getErrorName(r));
		}
	}
	*out = d;
	return 0;
nomem:
	decompressor_free(d);
	return berth_err(err, ENOMEM, "out of memory for a %s decompressor", comp_name(comp));
}

void decompressor_free(struct decompressor *d)
{
	if (!d)
		return;
#ifdef BERTH_HAVE_ISAL
	free(d->isal);
#else
	if (d->zs_init)
		inflateEnd(&d->zs);
#endif
	if (d->zstd)
		ZSTD_freeDStream(d->zstd);
	free(d->out);
	free(d);
}

static int fail(struct decompressor *d, int code)
{
	d->failed = code < 0 ? code : -code;
	return d->failed;
}

/* Corrupt or truncated input: the message names the format and where. */
static int corrupt(struct decompressor *d, struct berth_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int corrupt(struct decompressor *d, struct berth_error *err, const char *fmt, ...)
{
	char msg[BERTH_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	berth_err(err, EBADMSG, "%s", msg);
	return fail(d, -EBADMSG);
}

static int emit(struct decompressor *d, size_t n, decompress_sink_fn sink, void *ctx)
{
	if (n == 0)
		return 0;
	d->total_out += n;
	int r = sink(ctx, d->out, n);
	return r < 0 ? fail(d, r) : 0;
}

/* Called at a member boundary with at least one byte of input: consumes zero
 * padding, rejects garbage, and returns true when a new member starts at *p. */
static int gz_boundary(struct decompressor *d, const uint8_t **p, size_t *len, struct berth_error *err)
{
	if (d->members == 0 || (d->phase == GZ_BOUNDARY && (*p)[0] != 0)) {
		if ((*p)[0] != 0x1f)
			goto garbage;
		d->phase = GZ_IN_MEMBER;
		return 1;
	}
	d->phase = GZ_ZERO_PAD;
	for (size_t i = 0; i < *len; i++)
		if ((*p)[i] != 0)
			goto garbage;
	d->total_in += *len;
	*p += *len;
	*len = 0;
	return 0;
garbage:
	if (d->members == 0)
		return corrupt(d, err, "corrupt gzip stream: not in gzip format (first byte 0x%02x)", (*p)[0]);
	return corrupt(d, err, "corrupt gzip stream: trailing garbage after member %llu (compressed offset %llu)",
			d->members, d->total_in);
}

#ifdef BERTH_HAVE_ISAL
static const char *isal_strerror(int r)
{
	switch (r) {
	case ISAL_INVALID_BLOCK:
		return "invalid deflate block";
	case ISAL_INVALID_SYMBOL:
		return "invalid deflate symbol";
	case ISAL_INVALID_LOOKBACK:
		return "invalid lookback distance";
	case ISAL_INVALID_WRAPPER:
		return "invalid gzip header";
	case ISAL_UNSUPPORTED_METHOD:
		return "unsupported compression method";
	case ISAL_INCORRECT_CHECKSUM:
		return "checksum mismatch";
	case ISAL_NEED_DICT:
		return "stream needs a preset dictionary";
	default:
		return "decompression error";
	}
}

/* One isal_inflate step over what is in state; output goes to the sink.
 * *progress tells the caller whether anything moved. */
static int gz_step(struct decompressor *d, decompress_sink_fn sink, void *ctx, bool *progress,
		   struct berth_error *err)
{
	struct inflate_state *s = d->isal;
	uint32_t in_before = s->avail_in;
	s->next_out = d->out;
	s->avail_out = OUT_CHUNK;
	int r = isal_inflate(s);
	size_t produced = (size_t) (s->next_out - d->out);
	d->total_in += in_before - s->avail_in;
	if (r < 0)
		return corrupt(d, err, "corrupt gzip stream: %s (compressed offset %llu)", isal_strerror(r),
				d->total_in);
	if (r == ISAL_NEED_DICT)
		return corrupt(d, err, "corrupt gzip stream: %s", isal_strerror(r));
	int e = emit(d, produced, sink, ctx);
	if (e < 0)
		return e;
	*progress = produced > 0 || s->avail_in != in_before;
	if (s->block_state == ISAL_BLOCK_FINISH) {
		d->members++;
		d->phase = GZ_BOUNDARY;
		*progress = true;
	}
	return 0;
}

static void gz_begin_member(struct decompressor *d)
{
	struct inflate_state *s = d->isal;
	uint8_t *next_in = s->next_in;
	uint32_t avail_in = s->avail_in;
	isal_inflate_reset(s);
	s->crc_flag = ISAL_GZIP;   /* isal parses the header and verifies CRC32 + size */
	s->next_in = next_in;
	s->avail_in = avail_in;
}

static int gz_feed(struct decompressor *d, const uint8_t *p, size_t len, decompress_sink_fn sink, void *ctx,
		   struct berth_error *err)
{
	struct inflate_state *s = d->isal;
	while (len > 0) {
		bool begin = false;
		if (d->phase != GZ_IN_MEMBER) {
			int b = gz_boundary(d, &p, &len, err);
			if (b <= 0)
				return b;
			begin = true;
		}
		/* avail_in is 32 bits wide */
		uint32_t take = len > UINT32_MAX ? UINT32_MAX : (uint32_t) len;
		s->next_in = (uint8_t *) p;
		s->avail_in = take;
		if (begin)
			gz_begin_member(d);
		for (;;) {
			bool progress = false;
			int r = gz_step(d, sink, ctx, &progress, err);
			if (r < 0)
				return r;
			if (d->phase != GZ_IN_MEMBER)
				break;
			/* Full output buffer: more may be pending even without input. */
			if (s->avail_in == 0 && s->avail_out != 0)
				break;
			if (!progress)
				break;
		}
		size_t used = take - s->avail_in;
		p += used;
		len -= used;
		if (d->phase == GZ_IN_MEMBER && s->avail_in != 0) {
			/* isal stopped without consuming: cannot happen with a healthy
			 * state, but never spin on it. */
			return corrupt(d, err, "corrupt gzip stream: decoder stalled at compressed offset %llu",
					d->total_in);
		}
	}
	return 0;
}

static int gz_finish(struct decompressor *d, decompress_sink_fn sink, void *ctx, struct berth_error *err)
{
	struct inflate_state *s = d->isal;
	while (d->phase == GZ_IN_MEMBER) {
		bool progress = false;
		s->next_in = NULL;
		s->avail_in = 0;
		int r = gz_step(d, sink, ctx, &progress, err);
		if (r < 0)
			return r;
		if (!progress)
			break;
	}
	return 0;
}
#else
static int gz_feed(struct decompressor *d, const uint8_t *p, size_t len, decompress_sink_fn sink, void *ctx,
		   struct berth_error *err)
{
	z_stream *zs = &d->zs;
	while (len > 0) {
		if (d->phase != GZ_IN_MEMBER) {
			int b = gz_boundary(d, &p, &len, err);
			if (b <= 0)
				return b;
			if (d->members > 0 && inflateReset(zs) != Z_OK) {
				berth_err(err, EIO, "cannot reset the gzip decoder");
				return fail(d, -EIO);
			}
		}
		uInt take = len > UINT_MAX ? UINT_MAX : (uInt) len;
		zs->next_in = (Bytef *) p;
		zs->avail_in = take;
		for (;;) {
			zs->next_out = d->out;
			zs->avail_out = OUT_CHUNK;
			uInt in_before = zs->avail_in;
			int r = inflate(zs, Z_NO_FLUSH);
			size_t produced = OUT_CHUNK - zs->avail_out;
			d->total_in += in_before - zs->avail_in;
			if (r == Z_NEED_DICT || r == Z_DATA_ERROR || r == Z_STREAM_ERROR)
				return corrupt(d, err, "corrupt gzip stream: %s (compressed offset %llu)",
						zs->msg ? zs->msg : "invalid data", d->total_in);
			if (r == Z_MEM_ERROR) {
				berth_err(err, ENOMEM, "out of memory decompressing gzip");
				return fail(d, -ENOMEM);
			}
			int e = emit(d, produced, sink, ctx);
			if (e < 0)
				return e;
			if (r == Z_STREAM_END) {
				d->members++;
				d->phase = GZ_BOUNDARY;
				break;
			}
			if (zs->avail_out != 0 || (produced == 0 && zs->avail_in == in_before))
				break;
		}
		size_t used = take - zs->avail_in;
		p += used;
		len -= used;
		if (d->phase == GZ_IN_MEMBER && zs->avail_in != 0)
			return corrupt(d, err, "corrupt gzip stream: decoder stalled at compressed offset %llu",
					d->total_in);
	}
	return 0;
}

static int gz_finish(struct decompressor *d, decompress_sink_fn sink, void *ctx, struct berth_error *err)
{
	/* zlib has already produced everything its input allows. */
	return 0;
}
#endif

static int zstd_feed(struct decompressor *d, const uint8_t *p, size_t len, decompress_sink_fn sink, void *ctx,
		     struct berth_error *err)
{
	ZSTD_inBuffer in = { p, len, 0 };
	for (;;) {
		ZSTD_outBuffer out = { d->out, OUT_CHUNK, 0 };
		size_t in_before = in.pos;
		size_t r = ZSTD_decompressStream(d->zstd, &out, &in);
		d->total_in += in.pos - in_before;
		if (ZSTD_isError(r))
			return corrupt(d, err, "corrupt zstd stream: %s (compressed offset %llu)", ZSTD_getErrorName(r),
					d->total_in);
		/* Asked again with nothing to do, zstd answers with the size of
		 * the next frame header: only a call that moved data tells where
		 * the stream stands. */
		if (in.pos != in_before || out.pos > 0) {
			d->zstd_hint = r;
			if (r == 0)
				d->members++;
		}
		int e = emit(d, out.pos, sink, ctx);
		if (e < 0)
			return e;
		/* A full output buffer may hide more data even with no input left. */
		if (in.pos == in.size && out.pos < out.size)
			break;
		if (out.pos == 0 && in.pos == in_before)
			break;
	}
	return 0;
}

int decompressor_feed(struct decompressor *d, const void *buf, size_t len,
		      int (*sink)(void *ctx, const void *buf, size_t len), void *ctx, struct berth_error *err)
{
	if (d->failed)
		return berth_err(err, -d->failed, "%s decompressor used after an error", comp_name(d->comp));
	if (len == 0)
		return 0;
	d->any_input = true;
	switch (d->comp) {
	case IMAGE_COMP_NONE: {
		d->total_in += len;
		d->total_out += len;
		int r = sink(ctx, buf, len);
		return r < 0 ? fail(d, r) : 0;
	}
	case IMAGE_COMP_GZIP:
		return gz_feed(d, buf, len, sink, ctx, err);
	case IMAGE_COMP_ZSTD:
		return zstd_feed(d, buf, len, sink, ctx, err);
	}
	return berth_err(err, EINVAL, "unsupported layer compression %d", (int) d->comp);
}

int decompressor_finish(struct decompressor *d, int (*sink)(void *, const void *, size_t), void *ctx,
			struct berth_error *err)
{
	if (d->failed)
		return berth_err(err, -d->failed, "%s decompressor used after an error", comp_name(d->comp));
	switch (d->comp) {
	case IMAGE_COMP_NONE:
		return 0;
	case IMAGE_COMP_GZIP: {
		int r = gz_finish(d, sink, ctx, err);
		if (r < 0)
			return r;
		if (!d->any_input)
			return corrupt(d, err, "truncated gzip stream: no data");
		if (d->phase == GZ_IN_MEMBER)
			return corrupt(d, err, "truncated gzip stream: ended inside member %llu after %llu compressed bytes",
					d->members + 1, d->total_in);
		return 0;
	}
	case IMAGE_COMP_ZSTD: {
		/* Flush what the decoder may still hold for the data it has seen. */
		int r = zstd_feed(d, NULL, 0, sink, ctx, err);
		if (r < 0)
			return r;
		if (!d->any_input)
			return corrupt(d, err, "truncated zstd stream: no data");
		if (d->zstd_hint != 0)
			return corrupt(d, err, "truncated zstd stream: ended inside frame %llu after %llu compressed bytes",
					d->members + 1, d->total_in);
		return 0;
	}
	}
	return berth_err(err, EINVAL, "unsupported layer compression %d", (int) d->comp);
}
