#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/digest.h"
#include "core/fs.h"
#include "db/db.h"

struct ctx {
	char dir[PATH_MAX];
	char path[PATH_MAX + 16];
	struct berth_db *db;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	strcpy(c->dir, "/tmp/berth-db.XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->path, sizeof(c->path), "%s/berth.db", c->dir);
	struct berth_error err = { 0 };
	assert_int_equal(db_open(c->path, &c->db, &err), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	db_close(c->db);
	berth_rm_rf(c->dir);
	free(c);
	return 0;
}

/* "sha256:" + hex repeated from `prefix` and padded with `fill` */
static void mkid(char out[BERTH_DIGEST_MAX], const char *prefix, char fill)
{
	char hex[65];
	size_t n = strlen(prefix);
	memcpy(hex, prefix, n);
	memset(hex + n, fill, 64 - n);
	hex[64] = '\0';
	snprintf(out, BERTH_DIGEST_MAX, "sha256:%s", hex);
	assert_true(berth_digest_valid(out));
}

static void dig(char out[BERTH_DIGEST_MAX], const char *s)
{
	assert_int_equal(berth_digest_buf(s, strlen(s), out), 0);
}

static void fill_image(struct db_image *im, const char *id, const char *manifest, char **chains, size_t n)
{
	memset(im, 0, sizeof(*im));
	snprintf(im->id, sizeof(im->id), "%s", id);
	snprintf(im->manifest_digest, sizeof(im->manifest_digest), "%s", manifest);
	im->manifest_media_type = (char *) "application/vnd.oci.image.manifest.v1+json";
	im->created = (char *) "2024-01-02T03:04:05Z";
	im->os = (char *) "linux";
	im->architecture = (char *) "amd64";
	im->size = 4096;
	im->chain_ids = chains;
	im->n_layers = n;
}

static int walk_collect(void *ctx, const struct db_image *im)
{
	char **ids = ctx;
	for (int i = 0; i < 8; i++)
		if (!ids[i]) {
			ids[i] = strdup(im->id);
			assert_true(im->n_layers > 0);
			return 0;
		}
	return -E2BIG;
}

static void image_put_get_walk(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	char id[BERTH_DIGEST_MAX], man[BERTH_DIGEST_MAX], idx[BERTH_DIGEST_MAX], l0[BERTH_DIGEST_MAX],
		l1[BERTH_DIGEST_MAX];
	dig(id, "config A");
	dig(man, "manifest A");
	dig(idx, "index A");
	dig(l0, "layer 0");
	dig(l1, "layer 1");
	char *chains[] = { l0, l1 };
	struct db_image im;
	fill_image(&im, id, man, chains, 2);
	im.index_digest = idx;
	im.variant = (char *) "v8";
	im.added = 1700000000;
	assert_int_equal(db_image_put(c->db, &im, &err), 0);

	struct db_image got;
	assert_int_equal(db_image_get(c->db, id, &got, &err), 0);
	assert_string_equal(got.id, id);
	assert_string_equal(got.manifest_digest, man);
	assert_string_equal(got.manifest_media_type, im.manifest_media_type);
	assert_string_equal(got.index_digest, idx);
	assert_string_equal(got.created, im.created);
	assert_string_equal(got.os, "linux");
	assert_string_equal(got.architecture, "amd64");
	assert_string_equal(got.variant, "v8");
	assert_int_equal(got.size, 4096);
	assert_int_equal(got.added, 1700000000);
	assert_int_equal(got.n_layers, 2);
	assert_string_equal(got.chain_ids[0], l0);
	assert_string_equal(got.chain_ids[1], l1);
	db_image_clear(&got);

	/* upsert: new layers replace the old list, added is kept, NULLs stay NULL */
	char *one[] = { l1 };
	fill_image(&im, id, man, one, 1);
	im.size = 10;
	assert_int_equal(db_image_put(c->db, &im, &err), 0);
	assert_int_equal(db_image_get(c->db, id, &got, &err), 0);
	assert_int_equal(got.n_layers, 1);
	assert_string_equal(got.chain_ids[0], l1);
	assert_int_equal(got.size, 10);
	assert_int_equal(got.added, 1700000000);
	assert_null(got.index_digest);
	assert_null(got.variant);
	db_image_clear(&got);

	char id2[BERTH_DIGEST_MAX];
	dig(id2, "config B");
	fill_image(&im, id2, man, chains, 2);
	assert_int_equal(db_image_put(c->db, &im, &err), 0);   /* added = now: newest first */
	char *ids[9] = { 0 };
	assert_int_equal(db_images_walk(c->db, walk_collect, ids), 0);
	assert_string_equal(ids[0], id2);
	assert_string_equal(ids[1], id);
	assert_null(ids[2]);
	for (int i = 0; ids[i]; i++)
		free(ids[i]);

	berth_error_clear(&err);
	char missing[BERTH_DIGEST_MAX];
	dig(missing, "nope");
	assert_int_equal(db_image_get(c->db, missing, &got, &err), -ENOENT);
	assert_non_null(strstr(err.msg, missing));

	/* invalid digests never reach the db */
	berth_error_clear(&err);
	char *badchains[] = { (char *) "sha256:../x" };
	fill_image(&im, id, man, badchains, 1);
	assert_int_equal(db_image_put(c->db, &im, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "image layer 0"));
}

static void put_simple(struct berth_db *db, const char *id)
{
	struct berth_error err = { 0 };
	char man[BERTH_DIGEST_MAX], l0[BERTH_DIGEST_MAX];
	char seed[BERTH_DIGEST_MAX + 8];
	snprintf(seed, sizeof(seed), "m%s", id);
	dig(man, seed);
	dig(l0, "base");
	char *chains[] = { l0 };
	struct db_image im;
	fill_image(&im, id, man, chains, 1);
	assert_int_equal(db_image_put(db, &im, &err), 0);
}

static void names_move_between_images(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	char a[BERTH_DIGEST_MAX], b[BERTH_DIGEST_MAX], got[BERTH_DIGEST_MAX];
	dig(a, "A");
	dig(b, "B");
	put_simple(c->db, a);
	put_simple(c->db, b);
	const char *name = "docker.io/library/busybox:latest";
	assert_int_equal(db_name_set(c->db, name, a, &err), 0);
	assert_int_equal(db_name_set(c->db, "docker.io/library/busybox:1.36", a, &err), 0);
	assert_int_equal(db_name_get(c->db, name, got), 0);
	assert_string_equal(got, a);
	assert_int_equal(db_name_set(c->db, name, b, &err), 0);
	assert_int_equal(db_name_get(c->db, name, got), 0);
	assert_string_equal(got, b);

	_cleanup_strv_ char **na = NULL;
	_cleanup_strv_ char **nb = NULL;
	assert_int_equal(db_names_of(c->db, a, &na), 1);
	assert_string_equal(na[0], "docker.io/library/busybox:1.36");
	assert_null(na[1]);
	assert_int_equal(db_names_of(c->db, b, &nb), 1);
	assert_string_equal(nb[0], name);

	assert_int_equal(db_name_remove(c->db, name, &err), 0);
	assert_int_equal(db_name_get(c->db, name, got), -ENOENT);
	berth_error_clear(&err);
	assert_int_equal(db_name_remove(c->db, name, &err), -ENOENT);
	assert_non_null(strstr(err.msg, name));

	char missing[BERTH_DIGEST_MAX];
	dig(missing, "missing");
	berth_error_clear(&err);
	assert_int_equal(db_name_set(c->db, "x:y", missing, &err), -ENOENT);
	assert_non_null(strstr(err.msg, missing));

	/* repo digests */
	char md[BERTH_DIGEST_MAX];
	dig(md, "manifest");
	assert_int_equal(db_repo_digest_add(c->db, "docker.io/library/busybox", md, a, &err), 0);
	assert_int_equal(db_repo_digest_add(c->db, "quay.io/x/busybox", md, a, &err), 0);
	assert_int_equal(db_repo_digest_get(c->db, "docker.io/library/busybox", md, got), 0);
	assert_string_equal(got, a);
	_cleanup_strv_ char **refs = NULL;
	assert_int_equal(db_repo_digests_of(c->db, a, &refs), 2);
	char want[300];
	snprintf(want, sizeof(want), "docker.io/library/busybox@%s", md);
	assert_string_equal(refs[0], want);
	assert_int_equal(db_repo_digest_add(c->db, "quay.io/x/busybox", md, b, &err), 0);   /* moves */
	assert_int_equal(db_repo_digest_get(c->db, "quay.io/x/busybox", md, got), 0);
	assert_string_equal(got, b);
	assert_int_equal(db_repo_digest_get(c->db, "nope", md, got), -ENOENT);
}

static void prefix_resolve(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	char a[BERTH_DIGEST_MAX], b[BERTH_DIGEST_MAX], out[BERTH_DIGEST_MAX];
	mkid(a, "abc1", '0');
	mkid(b, "abc2", '0');
	put_simple(c->db, a);
	put_simple(c->db, b);

	assert_int_equal(db_image_resolve_id(c->db, "abc1", out, &err), 0);
	assert_string_equal(out, a);
	assert_int_equal(db_image_resolve_id(c->db, "sha256:abc2", out, &err), 0);
	assert_string_equal(out, b);
	assert_int_equal(db_image_resolve_id(c->db, a, out, &err), 0);
	assert_string_equal(out, a);
	assert_int_equal(db_image_resolve_id(c->db, a + 7, out, &err), 0);   /* full hex, no algo */
	assert_string_equal(out, a);

	berth_error_clear(&err);
	assert_int_equal(db_image_resolve_id(c->db, "abc", out, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "ambiguous"));
	assert_non_null(strstr(err.msg, "2 images"));
	berth_error_clear(&err);
	assert_int_equal(db_image_resolve_id(c->db, "ab", out, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "too short"));
	berth_error_clear(&err);
	assert_int_equal(db_image_resolve_id(c->db, "sha256:ab", out, &err), -EINVAL);
	berth_error_clear(&err);
	assert_int_equal(db_image_resolve_id(c->db, "fff", out, &err), -ENOENT);
	berth_error_clear(&err);
	assert_int_equal(db_image_resolve_id(c->db, "ab*", out, &err), -EINVAL);   /* no GLOB injection */
	berth_error_clear(&err);
	assert_int_equal(db_image_resolve_id(c->db, "ABC1", out, &err), -EINVAL);
	char gone[BERTH_DIGEST_MAX];
	mkid(gone, "abc3", '0');
	berth_error_clear(&err);
	assert_int_equal(db_image_resolve_id(c->db, gone, out, &err), -ENOENT);
}

static int64_t count_rows(const char *path, const char *sql)
{
	sqlite3 *h;
	assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

static void delete_cascades(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	char a[BERTH_DIGEST_MAX], b[BERTH_DIGEST_MAX], md[BERTH_DIGEST_MAX], got[BERTH_DIGEST_MAX];
	dig(a, "A");
	dig(b, "B");
	dig(md, "manifest");
	put_simple(c->db, a);
	put_simple(c->db, b);
	assert_int_equal(db_name_set(c->db, "a:1", a, &err), 0);
	assert_int_equal(db_name_set(c->db, "a:2", a, &err), 0);
	assert_int_equal(db_name_set(c->db, "b:1", b, &err), 0);
	assert_int_equal(db_repo_digest_add(c->db, "a", md, a, &err), 0);
	assert_int_equal(db_image_blob_add(c->db, a, md, &err), 0);
	assert_int_equal(db_image_blob_add(c->db, a, a, &err), 0);
	assert_int_equal(db_image_blob_add(c->db, a, a, &err), 0);   /* idempotent */

	assert_int_equal(db_image_delete(c->db, a, &err), 0);
	assert_int_equal(db_image_get(c->db, a, &(struct db_image){ 0 }, &err), -ENOENT);
	assert_int_equal(db_name_get(c->db, "a:1", got), -ENOENT);
	assert_int_equal(db_name_get(c->db, "b:1", got), 0);
	assert_int_equal(db_repo_digest_get(c->db, "a", md, got), -ENOENT);
	char q[256];
	snprintf(q, sizeof(q), "SELECT count(*) FROM image_layers WHERE image_id = '%s'", a);
	assert_int_equal(count_rows(c->path, q), 0);
	snprintf(q, sizeof(q), "SELECT count(*) FROM image_blobs WHERE image_id = '%s'", a);
	assert_int_equal(count_rows(c->path, q), 0);
	assert_int_equal(count_rows(c->path, "SELECT count(*) FROM names"), 1);
	assert_int_equal(count_rows(c->path, "SELECT count(*) FROM image_layers"), 1);

	berth_error_clear(&err);
	assert_int_equal(db_image_delete(c->db, a, &err), -ENOENT);
	berth_error_clear(&err);
	assert_int_equal(db_image_blob_add(c->db, a, md, &err), -ENOENT);

	/* a rolled back transaction leaves nothing */
	char t[BERTH_DIGEST_MAX];
	dig(t, "T");
	assert_int_equal(db_begin(c->db, &err), 0);
	put_simple(c->db, t);
	assert_int_equal(db_name_set(c->db, "t:1", t, &err), 0);
	db_rollback(c->db);
	assert_int_equal(db_name_get(c->db, "t:1", got), -ENOENT);
	assert_int_equal(db_image_get(c->db, t, &(struct db_image){ 0 }, &err), -ENOENT);
	assert_int_equal(db_begin(c->db, &err), 0);
	put_simple(c->db, t);
	assert_int_equal(db_commit(c->db, &err), 0);
	struct db_image im;
	assert_int_equal(db_image_get(c->db, t, &im, &err), 0);
	db_image_clear(&im);
}

static bool strv_eq(char **v, char **want)
{
	size_t i = 0;
	for (; v[i] && want[i]; i++)
		if (strcmp(v[i], want[i]))
			return false;
	return !v[i] && !want[i];
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static void put_layer(struct berth_db *db, const char *chain, const char *parent, const char *blob)
{
	struct berth_error err = { 0 };
	struct db_layer l = { 0 };
	snprintf(l.chain_id, sizeof(l.chain_id), "%s", chain);
	snprintf(l.diff_id, sizeof(l.diff_id), "%s", chain);
	l.parent = (char *) parent;
	l.blob_digest = (char *) blob;
	l.media_type = (char *) "application/vnd.oci.image.layer.v1.tar+gzip";
	l.blob_size = 100;
	l.size = 200;
	assert_int_equal(db_layer_put(db, &l, &err), 0);
}

static void unreferenced_blobs_and_layers(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	/* A = L1 L2, B = L1 L3 (L1 shared), each with manifest, config, layer blobs */
	char A[BERTH_DIGEST_MAX], B[BERTH_DIGEST_MAX], mA[BERTH_DIGEST_MAX], mB[BERTH_DIGEST_MAX];
	char L1[BERTH_DIGEST_MAX], L2[BERTH_DIGEST_MAX], L3[BERTH_DIGEST_MAX];
	char b1[BERTH_DIGEST_MAX], b2[BERTH_DIGEST_MAX], b3[BERTH_DIGEST_MAX];
	dig(A, "cfgA"); dig(B, "cfgB"); dig(mA, "manA"); dig(mB, "manB");
	dig(b1, "blob1"); dig(b2, "blob2"); dig(b3, "blob3");
	char d1[BERTH_DIGEST_MAX], d2[BERTH_DIGEST_MAX], d3[BERTH_DIGEST_MAX];
	dig(d1, "diff1"); dig(d2, "diff2"); dig(d3, "diff3");
	assert_int_equal(berth_chain_id(NULL, d1, L1), 0);
	assert_int_equal(berth_chain_id(L1, d2, L2), 0);
	assert_int_equal(berth_chain_id(L1, d3, L3), 0);
	put_layer(c->db, L1, NULL, b1);
	put_layer(c->db, L2, L1, b2);
	put_layer(c->db, L3, L1, b3);
	put_layer(c->db, L3, L1, b2);   /* insert or ignore: keeps b3 */
	struct db_layer got;
	assert_int_equal(db_layer_get(c->db, L3, &got), 0);
	assert_string_equal(got.blob_digest, b3);
	assert_string_equal(got.parent, L1);
	assert_int_equal(got.size, 200);
	db_layer_clear(&got);
	assert_int_equal(db_layer_get(c->db, A, &got), -ENOENT);

	char *ca[] = { L1, L2 }, *cb[] = { L1, L3 };
	struct db_image im;
	fill_image(&im, A, mA, ca, 2);
	assert_int_equal(db_image_put(c->db, &im, &err), 0);
	fill_image(&im, B, mB, cb, 2);
	assert_int_equal(db_image_put(c->db, &im, &err), 0);
	const char *blobsA[] = { A, mA, b1, b2 }, *blobsB[] = { B, mB, b1, b3 };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(db_image_blob_add(c->db, A, blobsA[i], &err), 0);
		assert_int_equal(db_image_blob_add(c->db, B, blobsB[i], &err), 0);
	}

	_cleanup_strv_ char **ub = NULL;
	_cleanup_strv_ char **ul = NULL;
	assert_int_equal(db_unreferenced_blobs(c->db, &ub), 0);
	assert_null(ub[0]);
	assert_int_equal(db_unreferenced_layers(c->db, &ul), 0);
	assert_int_equal(db_blob_referenced(c->db, b1), 1);
	assert_int_equal(db_blob_forget(c->db, b1), -EBUSY);
	assert_int_equal(db_layer_forget(c->db, L1), -EBUSY);

	assert_int_equal(db_image_delete(c->db, A, &err), 0);
	berth_strv_freep(&ub);
	ub = NULL;
	assert_int_equal(db_unreferenced_blobs(c->db, &ub), 3);
	char *want_b[] = { A, mA, b2, NULL };
	qsort(want_b, 3, sizeof(char *), cmpstr);
	assert_true(strv_eq(ub, want_b));
	assert_int_equal(db_blob_referenced(c->db, b2), 0);
	assert_int_equal(db_blob_referenced(c->db, b1), 1);
	berth_strv_freep(&ul);
	ul = NULL;
	assert_int_equal(db_unreferenced_layers(c->db, &ul), 1);
	assert_string_equal(ul[0], L2);

	/* a container holds L3; B goes away: L3 and its parent L1 stay needed */
	assert_int_equal(db_layer_hold(c->db, L3, "ctr1", &err), 0);
	assert_int_equal(db_layer_hold(c->db, L3, "ctr1", &err), 0);
	assert_int_equal(db_image_delete(c->db, B, &err), 0);
	berth_strv_freep(&ul);
	ul = NULL;
	assert_int_equal(db_unreferenced_layers(c->db, &ul), 1);
	assert_string_equal(ul[0], L2);
	assert_int_equal(db_layer_forget(c->db, L3), -EBUSY);
	assert_int_equal(db_layer_forget(c->db, L1), -EBUSY);
	assert_int_equal(db_layer_forget(c->db, L2), 0);
	assert_int_equal(db_layer_get(c->db, L2, &got), -ENOENT);

	assert_int_equal(db_layer_release(c->db, "ctr1", &err), 0);
	assert_int_equal(db_layer_release(c->db, "nobody", &err), 0);
	berth_strv_freep(&ul);
	ul = NULL;
	assert_int_equal(db_unreferenced_layers(c->db, &ul), 2);
	char *want_l[] = { L1, L3, NULL };
	qsort(want_l, 2, sizeof(char *), cmpstr);
	assert_true(strv_eq(ul, want_l));

	/* every blob is garbage now; forgetting one clears the layer's pointer */
	berth_strv_freep(&ub);
	ub = NULL;
	assert_int_equal(db_unreferenced_blobs(c->db, &ub), 7);   /* A mA B mB b1 b2 b3 */
	assert_int_equal(db_blob_forget(c->db, b3), 0);
	assert_int_equal(db_layer_get(c->db, L3, &got), 0);
	assert_null(got.blob_digest);
	db_layer_clear(&got);
	berth_strv_freep(&ub);
	ub = NULL;
	assert_int_equal(db_unreferenced_blobs(c->db, &ub), 6);
	/* a later pull brings the blob back for the layer */
	put_layer(c->db, L3, L1, b3);
	assert_int_equal(db_layer_get(c->db, L3, &got), 0);
	assert_string_equal(got.blob_digest, b3);
	db_layer_clear(&got);
}

static void reopen_persists_wal(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	char a[BERTH_DIGEST_MAX], got[BERTH_DIGEST_MAX];
	dig(a, "persist");
	put_simple(c->db, a);
	assert_int_equal(db_name_set(c->db, "p:1", a, &err), 0);
	db_close(c->db);
	c->db = NULL;
	if (db_open(c->path, &c->db, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(db_name_get(c->db, "p:1", got), 0);
	assert_string_equal(got, a);

	struct stat st;
	assert_int_equal(stat(c->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* sqlite's own fds (db, -wal, -shm) are close-on-exec too */
	int seen = 0;
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		char link[64], target[PATH_MAX];
		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, c->path, strlen(c->path)) != 0)
			continue;
		seen++;
		assert_true(fcntl(atoi(de->d_name), F_GETFD) & FD_CLOEXEC);
	}
	closedir(d);
	assert_true(seen >= 1);

	sqlite3 *h;
	assert_int_equal(sqlite3_open_v2(c->path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *) sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), BERTH_DB_SCHEMA_VERSION);
	sqlite3_finalize(s);
	sqlite3_close(h);

	/* a database from a newer berth is refused, not misread */
	db_close(c->db);
	c->db = NULL;
	assert_int_equal(sqlite3_open(c->path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	berth_error_clear(&err);
	struct berth_db *db = NULL;
	assert_int_equal(db_open(c->path, &db, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "99"));
	assert_int_equal(sqlite3_open(c->path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(db_open(c->path, &c->db, &err), 0);
}

/* Processes creating a new database and writing at once: busy_timeout makes
 * them queue, none fails. */
static void concurrent_writers(void **state)
{
	struct ctx *c = *state;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/fresh.db", c->dir);
	pid_t pids[3];
	for (int p = 0; p < 3; p++) {
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			struct berth_error err = { 0 };
			struct berth_db *db;
			if (db_open(path, &db, &err) < 0) {
				fprintf(stderr, "child: %s\n", err.msg);
				_exit(2);
			}
			for (int i = 0; i < 40; i++) {
				char seed[32], id[BERTH_DIGEST_MAX], man[BERTH_DIGEST_MAX], name[32];
				snprintf(seed, sizeof(seed), "img-%d-%d", p, i);
				dig(id, seed);
				dig(man, "man");
				snprintf(name, sizeof(name), "n%d:%d", p, i);
				struct db_image im;
				fill_image(&im, id, man, NULL, 0);
				if (db_begin(db, &err) < 0 || db_image_put(db, &im, &err) < 0 ||
				    db_name_set(db, name, id, &err) < 0 || db_commit(db, &err) < 0) {
					fprintf(stderr, "%s\n", err.msg);
					_exit(3);
				}
			}
			db_close(db);
			_exit(0);
		}
	}
	for (int p = 0; p < 3; p++) {
		int status;
		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(count_rows(path, "SELECT count(*) FROM images"), 120);
	assert_int_equal(count_rows(path, "SELECT count(*) FROM names"), 120);
}

/* A store written by a berth with schema version 1 (no containers table)
 * opens with its images intact and is migrated to version 2, once, even
 * when several processes open it at the same moment. */
static void migrate_v1_to_v2(void **state)
{
	struct ctx *c = *state;
	struct berth_error err = { 0 };
	char a[BERTH_DIGEST_MAX], layer[BERTH_DIGEST_MAX], got[BERTH_DIGEST_MAX];
	dig(a, "v1-image");
	dig(layer, "v1-layer");
	put_simple(c->db, a);
	assert_int_equal(db_name_set(c->db, "old:1", a, &err), 0);
	assert_int_equal(db_layer_hold(c->db, layer, "someone", &err), 0);
	db_close(c->db);
	c->db = NULL;

	sqlite3 *h;
	assert_int_equal(sqlite3_open(c->path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "DROP TABLE containers; PRAGMA user_version = 1", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(count_rows(c->path, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'containers%'"), 0);
	assert_int_equal(count_rows(c->path, "PRAGMA user_version"), 1);

	pid_t pids[3];
	for (int p = 0; p < 3; p++) {
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			struct berth_db *db;
			if (db_open(c->path, &db, &err) < 0) {
				fprintf(stderr, "child: %s\n", err.msg);
				_exit(2);
			}
			struct db_container ct = { .created = 1 + p, .record = (char *) "{}" };
			memset(ct.id, "abc"[p], 64);
			char name[16];
			snprintf(name, sizeof(name), "c%d", p);
			ct.name = name;
			snprintf(ct.image_id, sizeof(ct.image_id), "%s", a);
			char *chains[] = { layer };
			if (db_container_insert(db, &ct, chains, 1, &err) < 0) {
				fprintf(stderr, "child: %s\n", err.msg);
				_exit(3);
			}
			db_close(db);
			_exit(0);
		}
	}
	for (int p = 0; p < 3; p++) {
		int status;
		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(count_rows(c->path, "PRAGMA user_version"), BERTH_DB_SCHEMA_VERSION);
	assert_int_equal(BERTH_DB_SCHEMA_VERSION, 2);
	assert_int_equal(count_rows(c->path, "SELECT count(*) FROM containers"), 3);

	if (db_open(c->path, &c->db, &err) < 0)
		fail_msg("%s", err.msg);
	struct db_image im;
	assert_int_equal(db_image_get(c->db, a, &im, &err), 0);
	assert_string_equal(im.id, a);
	db_image_clear(&im);
	assert_int_equal(db_name_get(c->db, "old:1", got), 0);
	assert_string_equal(got, a);
	assert_int_equal(db_layer_held(c->db, layer), 1);
	assert_int_equal(db_containers_using_image(c->db, a), 3);

	/* the image being "in use" does not stop rmi -f, and the layer stays held */
	char ids[3][DB_CONTAINER_ID_LEN + 1];
	for (int p = 0; p < 3; p++) {
		memset(ids[p], "abc"[p], 64);
		ids[p][64] = '\0';
	}
	assert_int_equal(db_image_delete(c->db, a, &err), 0);
	assert_int_equal(db_containers_using_image(c->db, a), 3);
	struct db_container got_c;
	assert_int_equal(db_container_get(c->db, ids[1], &got_c, &err), 0);
	assert_string_equal(got_c.name, "c1");
	assert_string_equal(got_c.image_id, a);
	assert_int_equal(got_c.created, 2);
	db_container_clear(&got_c);
	for (int p = 0; p < 3; p++)
		assert_int_equal(db_container_delete(c->db, ids[p], &err), 0);
	assert_int_equal(db_layer_held(c->db, layer), 1);     /* "someone" still holds it */
	assert_int_equal(db_layer_release(c->db, "someone", &err), 0);
	assert_int_equal(db_layer_held(c->db, layer), 0);

	/* a failing insert reports sqlite's reason (taken before the rollback) and leaves nothing */
	assert_int_equal(sqlite3_open(c->path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TRIGGER no_ctr BEFORE INSERT ON containers "
	                                 "BEGIN SELECT RAISE(ABORT, 'containers are frozen'); END",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(h);
	struct db_container ct = { .name = (char *) "frozen", .created = 1, .record = (char *) "{}" };
	memset(ct.id, 'd', 64);
	snprintf(ct.image_id, sizeof(ct.image_id), "%s", a);
	char *chains[] = { layer };
	berth_error_clear(&err);
	assert_true(db_container_insert(c->db, &ct, chains, 1, &err) < 0);
	assert_non_null(strstr(err.msg, "containers are frozen"));
	assert_int_equal(db_layer_held(c->db, layer), 0);
	assert_int_equal(count_rows(c->path, "SELECT count(*) FROM containers"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(image_put_get_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(names_move_between_images, setup, teardown),
		cmocka_unit_test_setup_teardown(prefix_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(delete_cascades, setup, teardown),
		cmocka_unit_test_setup_teardown(unreferenced_blobs_and_layers, setup, teardown),
		cmocka_unit_test_setup_teardown(reopen_persists_wal, setup, teardown),
		cmocka_unit_test_setup_teardown(concurrent_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(migrate_v1_to_v2, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
