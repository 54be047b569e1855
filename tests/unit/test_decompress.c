#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "image/decompress.h"

/* Output collector used as the sink. */
struct buf {
	uint8_t *data;
	size_t len, cap;
	size_t calls, max_chunk;
	int fail_with;      /* when non-zero the sink returns it */
};

static int collect(void *ctx, const void *p, size_t n)
{
	struct buf *b = ctx;
	if (b->fail_with)
		return b->fail_with;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->data = realloc(b->data, b->cap);
		assert_non_null(b->data);
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->calls++;
	if (n > b->max_chunk)
		b->max_chunk = n;
	return 0;
}

/* Deterministic data that compresses, but not to nothing. */
static uint8_t *make_data(size_t n, uint32_t seed)
{
	uint8_t *d = malloc(n);
	assert_non_null(d);
	uint32_t x = seed;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		d[i] = (i % 64 < 40) ? (uint8_t) ('a' + (i / 64) % 26) : (uint8_t) (x >> 24);
	}
	return d;
}

static size_t gzip_compress(const uint8_t *in, size_t n, uint8_t **out)
{
	z_stream zs = { 0 };
	assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&zs, n) + 64;
	*out = malloc(cap);
	zs.next_in = (Bytef *) in;
	zs.avail_in = (uInt) n;
	zs.next_out = *out;
	zs.avail_out = (uInt) cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t len = zs.total_out;
	deflateEnd(&zs);
	return len;
}

/* With the content checksum, as the zstd CLI writes frames. */
static size_t zstd_compress(const uint8_t *in, size_t n, uint8_t **out)
{
	size_t cap = ZSTD_compressBound(n);
	*out = malloc(cap);
	ZSTD_CCtx *c = ZSTD_createCCtx();
	assert_non_null(c);
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)));
	size_t r = ZSTD_compress2(c, *out, cap, in, n);
	assert_false(ZSTD_isError(r));
	ZSTD_freeCCtx(c);
	return r;
}

static uint8_t *concat(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	uint8_t *c = malloc(an + bn + 1);
	if (an)
		memcpy(c, a, an);
	if (bn)
		memcpy(c + an, b, bn);
	return c;
}

/* Decompress `in` fed in pieces of `chunk` bytes; returns the first error. */
static int run(enum image_compression comp, const uint8_t *in, size_t n, size_t chunk, struct buf *out,
	       struct berth_error *err)
{
	struct decompressor *d = NULL;
	int r = decompressor_new(comp, &d, err);
	if (r < 0)
		return r;
	for (size_t off = 0; off < n && r == 0; off += chunk) {
		size_t len = n - off < chunk ? n - off : chunk;
		r = decompressor_feed(d, in + off, len, collect, out, err);
	}
	if (r == 0)
		r = decompressor_finish(d, collect, out, err);
	decompressor_free(d);
	return r;
}

static void check_round_trip(enum image_compression comp, size_t (*compress)(const uint8_t *, size_t, uint8_t **))
{
	size_t n = 3 * 1024 * 1024 + 17;
	uint8_t *data = make_data(n, 1);
	uint8_t *z = NULL;
	size_t zn = compress(data, n, &z);
	size_t chunks[] = { zn, 65536, 4093, 1 };
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		/* byte-at-a-time over 3 MiB is slow: use a smaller prefix stream */
		const uint8_t *src = data;
		size_t sn = n;
		uint8_t *small = NULL;
		size_t zsn = zn;
		const uint8_t *zsrc = z;
		if (chunks[i] == 1) {
			sn = 200000;
			zsn = compress(data, sn, &small);
			zsrc = small;
		}
		struct buf out = { 0 };
		struct berth_error err = { 0 };
		assert_int_equal(run(comp, zsrc, zsn, chunks[i], &out, &err), 0);
		assert_int_equal(out.len, sn);
		assert_memory_equal(out.data, src, sn);
		assert_true(out.max_chunk <= 128 * 1024);
		free(out.data);
		free(small);
	}
	free(z);
	free(data);
}

static void gzip_round_trip(void **state)
{
	check_round_trip(IMAGE_COMP_GZIP, gzip_compress);
}

static void zstd_round_trip(void **state)
{
	check_round_trip(IMAGE_COMP_ZSTD, zstd_compress);
}

/* Two members / frames back to back decode as the concatenation, whatever
 * the chunking around the boundary. */
static void check_two(enum image_compression comp, size_t (*compress)(const uint8_t *, size_t, uint8_t **))
{
	size_t an = 300000, bn = 123457;
	uint8_t *a = make_data(an, 2), *b = make_data(bn, 3);
	uint8_t *za, *zb;
	size_t zan = compress(a, an, &za), zbn = compress(b, bn, &zb);
	uint8_t *z = concat(za, zan, zb, zbn);
	uint8_t *want = concat(a, an, b, bn);
	size_t chunks[] = { zan + zbn, zan, zan - 3, 1000, 1 };
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct buf out = { 0 };
		struct berth_error err = { 0 };
		assert_int_equal(run(comp, z, zan + zbn, chunks[i], &out, &err), 0);
		assert_int_equal(out.len, an + bn);
		assert_memory_equal(out.data, want, an + bn);
		free(out.data);
	}
	free(a), free(b), free(za), free(zb), free(z), free(want);
}

static void gzip_two_members(void **state)
{
	check_two(IMAGE_COMP_GZIP, gzip_compress);
}

static void zstd_two_frames(void **state)
{
	check_two(IMAGE_COMP_ZSTD, zstd_compress);
}

static void check_truncated(enum image_compression comp, size_t (*compress)(const uint8_t *, size_t, uint8_t **),
			    const char *want)
{
	size_t n = 500000;
	uint8_t *data = make_data(n, 4);
	uint8_t *z;
	size_t zn = compress(data, n, &z);
	size_t cuts[] = { zn - 1, zn - 4, zn / 2, 5 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct buf out = { 0 };
		struct berth_error err = { 0 };
		assert_int_equal(run(comp, z, cuts[i], 4096, &out, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, want));
		if (cuts[i] < zn / 2 + 1)
			assert_true(out.len < n);
		free(out.data);
	}
	/* A complete first member followed by a cut second one is truncated too. */
	uint8_t *two = concat(z, zn, z, zn);
	struct buf out = { 0 };
	struct berth_error err = { 0 };
	assert_int_equal(run(comp, two, zn + zn / 3, 4096, &out, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, want));
	free(out.data);
	free(two);
	free(z);
	free(data);
}

static void gzip_truncated(void **state)
{
	check_truncated(IMAGE_COMP_GZIP, gzip_compress, "truncated gzip stream");
}

static void zstd_truncated(void **state)
{
	check_truncated(IMAGE_COMP_ZSTD, zstd_compress, "truncated zstd stream");
}

static void gzip_corrupt(void **state)
{
	size_t n = 400000;
	uint8_t *data = make_data(n, 5);
	uint8_t *z;
	size_t zn = gzip_compress(data, n, &z);
	struct berth_error err = { 0 };
	struct buf out = { 0 };

	/* flipped bits in the deflate data */
	uint8_t *bad = concat(z, zn, NULL, 0);
	for (size_t i = 100; i < 140; i++)
		bad[i] ^= 0x5a;
	assert_int_equal(run(IMAGE_COMP_GZIP, bad, zn, 8192, &out, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "corrupt gzip stream"));
	free(out.data);
	free(bad);

	/* wrong CRC32 in the trailer */
	bad = concat(z, zn, NULL, 0);
	bad[zn - 8] ^= 0xff;
	memset(&out, 0, sizeof(out));
	berth_error_clear(&err);
	assert_int_equal(run(IMAGE_COMP_GZIP, bad, zn, 8192, &out, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "corrupt gzip stream"));
	free(out.data);
	free(bad);

	/* not gzip at all */
	const char *plain = "this is not a gzip stream";
	memset(&out, 0, sizeof(out));
	berth_error_clear(&err);
	assert_int_equal(run(IMAGE_COMP_GZIP, (const uint8_t *) plain, strlen(plain), 64, &out, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "not in gzip format"));
	free(out.data);

	/* garbage after a complete member */
	uint8_t *g = concat(z, zn, (const uint8_t *) "JUNK", 4);
	memset(&out, 0, sizeof(out));
	berth_error_clear(&err);
	assert_int_equal(run(IMAGE_COMP_GZIP, g, zn + 4, 8192, &out, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "trailing garbage"));
	free(out.data);
	free(g);

	/* zero padding after a member is accepted, as gzip -dc does */
	uint8_t zeros[1000] = { 0 };
	g = concat(z, zn, zeros, sizeof(zeros));
	memset(&out, 0, sizeof(out));
	berth_error_clear(&err);
	assert_int_equal(run(IMAGE_COMP_GZIP, g, zn + sizeof(zeros), 777, &out, &err), 0);
	assert_int_equal(out.len, n);
	assert_memory_equal(out.data, data, n);
	free(out.data);
	free(g);

	/* an all-zero stream is not an empty gzip stream */
	memset(&out, 0, sizeof(out));
	berth_error_clear(&err);
	assert_int_equal(run(IMAGE_COMP_GZIP, zeros, sizeof(zeros), 100, &out, &err), -EBADMSG);
	free(out.data);

	/* nothing at all */
	memset(&out, 0, sizeof(out));
	berth_error_clear(&err);
	assert_int_equal(run(IMAGE_COMP_GZIP, NULL, 0, 1, &out, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "truncated gzip stream"));
	free(out.data);

	free(z);
	free(data);
}

static void zstd_corrupt(void **state)
{
	size_t n = 400000;
	uint8_t *data = make_data(n, 6);
	uint8_t *z;
	size_t zn = zstd_compress(data, n, &z);
	uint8_t *bad = concat(z, zn, NULL, 0);
	for (size_t i = 40; i < 80; i++)
		bad[i] ^= 0xa5;
	struct buf out = { 0 };
	struct berth_error err = { 0 };
	assert_int_equal(run(IMAGE_COMP_ZSTD, bad, zn, 8192, &out, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "corrupt zstd stream"));
	free(out.data);
	free(bad);

	const char *plain = "definitely not zstd";
	memset(&out, 0, sizeof(out));
	berth_error_clear(&err);
	assert_int_equal(run(IMAGE_COMP_ZSTD, (const uint8_t *) plain, strlen(plain), 64, &out, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "corrupt zstd stream"));
	free(out.data);
	free(z);
	free(data);
}

static void none_passes_through(void **state)
{
	size_t n = 1000000;
	uint8_t *data = make_data(n, 7);
	struct buf out = { 0 };
	struct berth_error err = { 0 };
	assert_int_equal(run(IMAGE_COMP_NONE, data, n, 333333, &out, &err), 0);
	assert_int_equal(out.len, n);
	assert_memory_equal(out.data, data, n);
	assert_int_equal(out.calls, 4);
	free(out.data);
	free(data);
}

/* A sink error stops decompression and comes back unchanged. */
static void sink_error_propagates(void **state)
{
	size_t n = 200000;
	uint8_t *data = make_data(n, 8);
	uint8_t *z;
	size_t zn = gzip_compress(data, n, &z);
	enum image_compression comps[] = { IMAGE_COMP_GZIP, IMAGE_COMP_NONE };
	for (size_t i = 0; i < 2; i++) {
		struct buf out = { .fail_with = -ENOSPC };
		struct berth_error err = { 0 };
		assert_int_equal(run(comps[i], z, zn, 4096, &out, &err), -ENOSPC);
	}
	free(z);
	free(data);
}

/* Highly compressible input: one small input chunk expands to many output
 * chunks, each at most 128 KiB, and the byte counters add up. */
static void output_is_chunked(void **state)
{
	size_t n = 20 * 1024 * 1024;
	uint8_t *data = calloc(1, n);
	uint8_t *z;
	size_t zn = gzip_compress(data, n, &z);
	assert_true(zn < 100000);
	struct decompressor *d = NULL;
	struct berth_error err = { 0 };
	struct buf out = { 0 };
	assert_int_equal(decompressor_new(IMAGE_COMP_GZIP, &d, &err), 0);
	assert_int_equal(decompressor_feed(d, z, zn, collect, &out, &err), 0);
	assert_int_equal(decompressor_finish(d, collect, &out, &err), 0);
	assert_int_equal(out.len, n);
	assert_true(out.calls >= n / (128 * 1024));
	assert_true(out.max_chunk <= 128 * 1024);
	assert_int_equal(decompressor_total_in(d), zn);
	assert_int_equal(decompressor_total_out(d), n);
	assert_non_null(decompressor_backend(d));
	decompressor_free(d);
	for (size_t i = 0; i < n; i++)
		if (out.data[i])
			fail_msg("byte %zu not zero", i);
	free(out.data);
	free(z);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gzip_round_trip),
		cmocka_unit_test(zstd_round_trip),
		cmocka_unit_test(gzip_two_members),
		cmocka_unit_test(zstd_two_frames),
		cmocka_unit_test(gzip_truncated),
		cmocka_unit_test(zstd_truncated),
		cmocka_unit_test(gzip_corrupt),
		cmocka_unit_test(zstd_corrupt),
		cmocka_unit_test(none_passes_through),
		cmocka_unit_test(sink_error_propagates),
		cmocka_unit_test(output_is_chunked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
