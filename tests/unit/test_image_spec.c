/* Unit tests for spec/image: real-looking OCI and Docker schema2 manifests,
 * indexes (with buildkit attestation entries) and image configs decode field
 * by field; each kind of invalid document is refused with `what` and the JSON
 * path in the message; media types, platform parsing and the index selection
 * rules (variants, defaults, attestation skip) behave as documented. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/cleanup.h"
#include "core/error.h"
#include "spec/image.h"

#define H1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define H3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define H4 "sha256:4444444444444444444444444444444444444444444444444444444444444444"
#define HA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HC "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define HD "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define HE "sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define HF "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define H5 "sha256:5555555555555555555555555555555555555555555555555555555555555555"
#define H6 "sha256:6666666666666666666666666666666666666666666666666666666666666666"
#define H7 "sha256:7777777777777777777777777777777777777777777777777777777777777777"
#define H8 "sha256:8888888888888888888888888888888888888888888888888888888888888888"

static const char oci_manifest[] =
	"{\n"
	"  \"schemaVersion\": 2,\n"
	"  \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n"
	"  \"config\": {\n"
	"    \"mediaType\": \"application/vnd.oci.image.config.v1+json\",\n"
	"    \"digest\": \"" H1 "\",\n"
	"    \"size\": 1470\n"
	"  },\n"
	"  \"layers\": [\n"
	"    { \"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\", \"digest\": \"" H2 "\",\n"
	"      \"size\": 2152262 },\n"
	"    { \"mediaType\": \"application/vnd.oci.image.layer.v1.tar+zstd\", \"digest\": \"" H3 "\",\n"
	"      \"size\": 0 },\n"
	"    { \"mediaType\": \"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip\",\n"
	"      \"digest\": \"" H4 "\", \"size\": 9007199254740993,\n"
	"      \"urls\": [\"https://mcr.microsoft.com/v2/x/blobs/" H4 "\"],\n"
	"      \"annotations\": { \"org.opencontainers.image.title\": \"base\" } }\n"
	"  ],\n"
	"  \"annotations\": { \"org.opencontainers.image.created\": \"2024-01-02T03:04:05Z\" }\n"
	"}\n";

static const char docker_manifest[] =
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":1457,"
	"\"digest\":\"" HA "\"},"
	"\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":772788,"
	"\"digest\":\"" HB "\"},"
	"{\"mediaType\":\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\",\"size\":5,"
	"\"digest\":\"" HC "\",\"urls\":[\"http://example.com/layer\",\"https://mirror.example/l\"]}]}";

/* What `umoci new` writes: no mediaType, no layers yet. */
static const char umoci_manifest[] =
	"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
	"\"digest\":\"sha256:4c3f79ed7aeb98c12b8b8ba36dab94418c69fd8f05b32189b29d45e831474768\",\"size\":134},"
	"\"layers\":[]}";

/* A buildkit multi-arch push: images plus attestation manifests. */
static const char oci_index[] =
	"{\n"
	"  \"schemaVersion\": 2,\n"
	"  \"mediaType\": \"application/vnd.oci.image.index.v1+json\",\n"
	"  \"manifests\": [\n"
	"    { \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"" HA "\",\n"
	"      \"size\": 1234, \"platform\": { \"architecture\": \"amd64\", \"os\": \"linux\" } },\n"
	"    { \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"" HB "\",\n"
	"      \"size\": 1234, \"platform\": { \"architecture\": \"arm\", \"os\": \"linux\", \"variant\": \"v6\" } },\n"
	"    { \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"" HC "\",\n"
	"      \"size\": 1234, \"platform\": { \"architecture\": \"arm\", \"os\": \"linux\", \"variant\": \"v7\" } },\n"
	"    { \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"" HD "\",\n"
	"      \"size\": 1234, \"platform\": { \"architecture\": \"arm64\", \"os\": \"linux\", \"variant\": \"v8\" } },\n"
	"    { \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"" HE "\",\n"
	"      \"size\": 566, \"platform\": { \"architecture\": \"unknown\", \"os\": \"unknown\" },\n"
	"      \"annotations\": { \"vnd.docker.reference.digest\": \"" HA "\",\n"
	"                       \"vnd.docker.reference.type\": \"attestation-manifest\" } },\n"
	"    { \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"" HF "\",\n"
	"      \"size\": 566, \"platform\": { \"architecture\": \"unknown\", \"os\": \"unknown\" } },\n"
	"    { \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"" H1 "\",\n"
	"      \"size\": 99, \"platform\": { \"architecture\": \"amd64\", \"os\": \"windows\",\n"
	"      \"os.version\": \"10.0.17763.5329\", \"os.features\": [\"win32k\"] } }\n"
	"  ],\n"
	"  \"annotations\": { \"org.opencontainers.image.ref.name\": \"1.0\" }\n"
	"}\n";

/* Docker Hub style manifest list, arm entries before amd64 and no variant on arm64. */
static const char docker_list[] =
	"{\"manifests\":["
	"{\"digest\":\"" H1 "\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v5\"},\"size\":527},"
	"{\"digest\":\"" H2 "\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\"},\"size\":527},"
	"{\"digest\":\"" H3 "\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"},\"size\":527},"
	"{\"digest\":\"" H4 "\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\",\"variant\":\"v3\"},\"size\":527},"
	"{\"digest\":\"" H5 "\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"},\"size\":527},"
	"{\"digest\":\"" H6 "\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"platform\":{\"architecture\":\"386\",\"os\":\"linux\"},\"size\":527},"
	"{\"digest\":\"" H7 "\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"platform\":{\"architecture\":\"ppc64le\",\"os\":\"linux\"},\"size\":527},"
	"{\"digest\":\"" H8 "\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"platform\":{\"architecture\":\"s390x\",\"os\":\"linux\",\"features\":[\"sse4\"]},\"size\":527}],"
	"\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\",\"schemaVersion\":2}";

static const char docker_config[] =
	"{\"architecture\":\"amd64\",\"config\":{\"Hostname\":\"\",\"Domainname\":\"\",\"User\":\"1000:1000\","
	"\"AttachStdin\":false,\"ExposedPorts\":{\"80/tcp\":{},\"443/tcp\":{}},\"Tty\":false,"
	"\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"NGINX_VERSION=1.25.3\"],"
	"\"Cmd\":[\"nginx\",\"-g\",\"daemon off;\"],\"Image\":\"" H1 "\",\"Volumes\":{\"/data\":{}},"
	"\"WorkingDir\":\"/srv\",\"Entrypoint\":[\"/docker-entrypoint.sh\"],\"OnBuild\":null,"
	"\"Labels\":{\"maintainer\":\"NGINX Docker Maintainers\"},\"StopSignal\":\"SIGQUIT\"},"
	"\"container\":\"0a5c9d7e\",\"created\":\"2023-11-01T12:34:56.789Z\",\"docker_version\":\"20.10.23\","
	"\"author\":\"someone\","
	"\"history\":[{\"created\":\"2023-11-01T12:34:56Z\",\"created_by\":\"/bin/sh -c #(nop) ADD file:x in / \"}],"
	"\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" H2 "\",\"" H3 "\",\"" H4 "\"]}}";

static const char scratch_config[] =
	"{\"created\":\"2026-11-23T15:22:34.641084928Z\",\"architecture\":\"arm64\",\"variant\":\"v8\","
	"\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";

/* ------------------------------------------------------------------ helpers */

static void expect_err(int r, int code, const struct berth_error *err, const char *substr)
{
	if (r != -code)
		fail_msg("returned %d (expected %d), message \"%s\"", r, -code, err->msg);
	assert_int_equal(err->code, code);
	if (!strstr(err->msg, substr))
		fail_msg("message \"%s\" lacks \"%s\"", err->msg, substr);
}

static void manifest_fails(const char *doc, const char *hint, int code, const char *substr)
{
	struct berth_error err = { 0 };
	struct image_manifest *m = NULL;
	int r = image_manifest_parse(doc, strlen(doc), hint, "manifest localhost:5000/a:b", &m, &err);
	expect_err(r, code, &err, substr);
	assert_null(m);
}

static void index_fails(const char *doc, int code, const char *substr)
{
	struct berth_error err = { 0 };
	struct image_index *x = NULL;
	int r = image_index_parse(doc, strlen(doc), NULL, "index example.com/x:1", &x, &err);
	expect_err(r, code, &err, substr);
	assert_null(x);
}

static void config_fails(const char *doc, int code, const char *substr)
{
	struct berth_error err = { 0 };
	struct image_config *c = NULL;
	int r = image_config_parse(doc, strlen(doc), "config of busybox", &c, &err);
	expect_err(r, code, &err, substr);
	assert_null(c);
}

/* A minimal valid manifest with the given layers array body. */
static char *manifest_with_layers(const char *layers)
{
	char *s = NULL;
	assert_true(asprintf(&s,
			     "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
			     "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"" H1 "\",\"size\":1},"
			     "\"layers\":[%s]}",
			     layers) > 0);
	return s;
}

#define LAYER(d, sz) "{\"mediaType\":\"" MT_OCI_LAYER_GZ "\",\"digest\":\"" d "\",\"size\":" #sz "}"

/* ------------------------------------------------------------------ media types */

static void test_media_types(void **state)
{
	static const struct {
		const char *mt;
		enum image_mt_kind kind;
		enum image_compression comp;
		bool foreign, docker;
	} cases[] = {
		{ MT_OCI_INDEX, MT_KIND_INDEX, IMAGE_COMP_NONE, false, false },
		{ MT_OCI_MANIFEST, MT_KIND_MANIFEST, IMAGE_COMP_NONE, false, false },
		{ MT_OCI_CONFIG, MT_KIND_CONFIG, IMAGE_COMP_NONE, false, false },
		{ MT_OCI_LAYER, MT_KIND_LAYER, IMAGE_COMP_NONE, false, false },
		{ MT_OCI_LAYER_GZ, MT_KIND_LAYER, IMAGE_COMP_GZIP, false, false },
		{ MT_OCI_LAYER_ZST, MT_KIND_LAYER, IMAGE_COMP_ZSTD, false, false },
		{ MT_OCI_LAYER_ND, MT_KIND_LAYER, IMAGE_COMP_NONE, true, false },
		{ MT_OCI_LAYER_ND_GZ, MT_KIND_LAYER, IMAGE_COMP_GZIP, true, false },
		{ MT_OCI_LAYER_ND_ZST, MT_KIND_LAYER, IMAGE_COMP_ZSTD, true, false },
		{ MT_DOCKER_LIST, MT_KIND_INDEX, IMAGE_COMP_NONE, false, true },
		{ MT_DOCKER_MANIFEST, MT_KIND_MANIFEST, IMAGE_COMP_NONE, false, true },
		{ MT_DOCKER_CONFIG, MT_KIND_CONFIG, IMAGE_COMP_NONE, false, true },
		{ MT_DOCKER_LAYER, MT_KIND_LAYER, IMAGE_COMP_GZIP, false, true },
		{ MT_DOCKER_FOREIGN, MT_KIND_LAYER, IMAGE_COMP_GZIP, true, true },
		{ "application/vnd.docker.image.rootfs.diff.tar", MT_KIND_LAYER, IMAGE_COMP_NONE, false, true },
		{ "application/vnd.docker.image.rootfs.foreign.diff.tar", MT_KIND_LAYER, IMAGE_COMP_NONE, true, true },
		/* Content-Type spellings */
		{ "application/vnd.oci.image.manifest.v1+json; charset=utf-8", MT_KIND_MANIFEST, IMAGE_COMP_NONE, false, false },
		{ " Application/VND.Docker.Distribution.Manifest.List.V2+JSON ", MT_KIND_INDEX, IMAGE_COMP_NONE, false, true },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct image_mt_info info = { MT_KIND_UNKNOWN, IMAGE_COMP_NONE, false, false };
		if (image_media_type_info(cases[i].mt, &info) != 0)
			fail_msg("\"%s\" not recognised", cases[i].mt);
		assert_int_equal(info.kind, cases[i].kind);
		assert_int_equal(info.comp, cases[i].comp);
		assert_int_equal(info.foreign, cases[i].foreign);
		assert_int_equal(info.docker, cases[i].docker);
	}
	static const char *const unknown[] = {
		"", "application/json", "application/octet-stream", MT_DOCKER_SCHEMA1, MT_DOCKER_SCHEMA1_SIGNED,
		"application/vnd.oci.image.layer.v1.tar+bzip2", "application/vnd.oci.image.layer.v1.tar+gzipx",
		"application/vnd.oci.image.layer.v1.ta", "application/vnd.oci.empty.v1+json",
	};
	for (size_t i = 0; i < ARRAY_SIZE(unknown); i++) {
		struct image_mt_info info;
		assert_int_equal(image_media_type_info(unknown[i], &info), -ENOTSUP);
	}
	struct image_mt_info info;
	assert_int_equal(image_media_type_info(NULL, &info), -ENOTSUP);

	assert_string_equal(IMAGE_MANIFEST_ACCEPT,
			    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
			    "application/vnd.docker.distribution.manifest.list.v2+json, "
			    "application/vnd.docker.distribution.manifest.v2+json");
}

/* ------------------------------------------------------------------ manifests */

static void test_manifest_oci(void **state)
{
	struct berth_error err = { 0 };
	_cleanup_manifest_ struct image_manifest *m = NULL;
	assert_int_equal(image_manifest_parse(oci_manifest, strlen(oci_manifest), NULL, "manifest x", &m, &err), 0);
	assert_int_equal(m->schema_version, 2);
	assert_string_equal(m->media_type, MT_OCI_MANIFEST);
	assert_string_equal(m->config.media_type, MT_OCI_CONFIG);
	assert_string_equal(m->config.digest, H1);
	assert_int_equal(m->config.size, 1470);
	assert_false(m->config.has_platform);
	assert_null(m->config.annotations);
	assert_int_equal(m->n_layers, 3);
	assert_string_equal(m->layers[0].media_type, MT_OCI_LAYER_GZ);
	assert_string_equal(m->layers[0].digest, H2);
	assert_int_equal(m->layers[0].size, 2152262);
	assert_int_equal(m->layers[0].n_urls, 0);
	assert_string_equal(m->layers[1].media_type, MT_OCI_LAYER_ZST);
	assert_int_equal(m->layers[1].size, 0);
	assert_true(m->layers[2].size == INT64_C(9007199254740993));
	assert_int_equal(m->layers[2].n_urls, 1);
	assert_string_equal(m->layers[2].urls[0], "https://mcr.microsoft.com/v2/x/blobs/" H4);
	assert_null(m->layers[2].urls[1]);
	assert_non_null(m->layers[2].annotations);
	assert_string_equal(json_string_value(json_object_get(m->layers[2].annotations,
							      "org.opencontainers.image.title")), "base");
	assert_non_null(m->annotations);
	assert_string_equal(json_string_value(json_object_get(m->annotations, "org.opencontainers.image.created")),
			    "2024-01-02T03:04:05Z");
	assert_non_null(m->json);
	assert_true(json_is_object(m->json));

	/* The mediaType field wins over a contradicting hint. */
	_cleanup_manifest_ struct image_manifest *m2 = NULL;
	assert_int_equal(image_manifest_parse(oci_manifest, strlen(oci_manifest), MT_DOCKER_MANIFEST, "m", &m2, &err), 0);
	assert_string_equal(m2->media_type, MT_OCI_MANIFEST);
}

static void test_manifest_docker(void **state)
{
	struct berth_error err = { 0 };
	_cleanup_manifest_ struct image_manifest *m = NULL;
	assert_int_equal(image_manifest_parse(docker_manifest, strlen(docker_manifest), MT_DOCKER_MANIFEST,
					      "manifest docker.io/library/busybox:latest", &m, &err), 0);
	assert_string_equal(m->media_type, MT_DOCKER_MANIFEST);
	assert_string_equal(m->config.media_type, MT_DOCKER_CONFIG);
	assert_string_equal(m->config.digest, HA);
	assert_int_equal(m->n_layers, 2);
	assert_string_equal(m->layers[0].media_type, MT_DOCKER_LAYER);
	assert_int_equal(m->layers[0].size, 772788);
	assert_string_equal(m->layers[1].media_type, MT_DOCKER_FOREIGN);
	assert_int_equal(m->layers[1].n_urls, 2);
	assert_string_equal(m->layers[1].urls[0], "http://example.com/layer");
	assert_string_equal(m->layers[1].urls[1], "https://mirror.example/l");
	assert_null(m->annotations);
}

static void test_manifest_no_media_type(void **state)
{
	struct berth_error err = { 0 };
	_cleanup_manifest_ struct image_manifest *a = NULL, *b = NULL, *c = NULL;
	/* No field, no hint: an OCI manifest by shape. */
	assert_int_equal(image_manifest_parse(umoci_manifest, strlen(umoci_manifest), NULL, "m", &a, &err), 0);
	assert_string_equal(a->media_type, MT_OCI_MANIFEST);
	assert_int_equal(a->n_layers, 0);
	assert_null(a->layers);
	assert_int_equal(a->config.size, 134);
	/* The registry's Content-Type (with parameters) is used when the field is absent. */
	assert_int_equal(image_manifest_parse(umoci_manifest, strlen(umoci_manifest),
					      MT_DOCKER_MANIFEST "; charset=utf-8", "m", &b, &err), 0);
	assert_string_equal(b->media_type, MT_DOCKER_MANIFEST);
	/* A generic Content-Type says nothing. */
	assert_int_equal(image_manifest_parse(umoci_manifest, strlen(umoci_manifest), "application/json", "m", &c,
					      &err), 0);
	assert_string_equal(c->media_type, MT_OCI_MANIFEST);
}

static void test_manifest_errors(void **state)
{
	_cleanup_free_ char *bad_digest = manifest_with_layers(LAYER(H2, 1) "," LAYER("sha256:zz", 2));
	manifest_fails(bad_digest, NULL, EINVAL,
		       "manifest localhost:5000/a:b: layers[1].digest: invalid digest \"sha256:zz\": "
		       "not 64 lowercase hex characters");

	_cleanup_free_ char *traversal = manifest_with_layers(LAYER("sha256:../../../etc/passwd", 2));
	manifest_fails(traversal, NULL, EINVAL, "layers[0].digest: invalid digest \"sha256:../../../etc/passwd\"");

	_cleanup_free_ char *neg = manifest_with_layers(LAYER(H2, -1));
	manifest_fails(neg, NULL, EINVAL, "manifest localhost:5000/a:b: layers[0].size: must not be negative (-1)");

	_cleanup_free_ char *str_size = manifest_with_layers(
		"{\"mediaType\":\"" MT_OCI_LAYER "\",\"digest\":\"" H2 "\",\"size\":\"12\"}");
	manifest_fails(str_size, NULL, EINVAL, "layers[0].size: must be an integer, not a string");

	_cleanup_free_ char *real_size = manifest_with_layers(
		"{\"mediaType\":\"" MT_OCI_LAYER "\",\"digest\":\"" H2 "\",\"size\":1.5}");
	manifest_fails(real_size, NULL, EINVAL, "layers[0].size: must be an integer, not a number");

	_cleanup_free_ char *no_size = manifest_with_layers("{\"mediaType\":\"" MT_OCI_LAYER "\",\"digest\":\"" H2 "\"}");
	manifest_fails(no_size, NULL, EINVAL, "layers[0].size: missing");

	_cleanup_free_ char *no_mt = manifest_with_layers("{\"digest\":\"" H2 "\",\"size\":3}");
	manifest_fails(no_mt, NULL, EINVAL, "manifest localhost:5000/a:b: layers[0].mediaType: missing");

	_cleanup_free_ char *no_digest = manifest_with_layers("{\"mediaType\":\"" MT_OCI_LAYER "\",\"size\":3}");
	manifest_fails(no_digest, NULL, EINVAL, "layers[0].digest: missing");

	_cleanup_free_ char *not_obj = manifest_with_layers("\"" H2 "\"");
	manifest_fails(not_obj, NULL, EINVAL, "layers[0]: must be an object, not a string");

	_cleanup_free_ char *bad_url = manifest_with_layers(
		"{\"mediaType\":\"" MT_OCI_LAYER_ND "\",\"digest\":\"" H2 "\",\"size\":3,\"urls\":[\"file:///etc/shadow\"]}");
	manifest_fails(bad_url, NULL, EINVAL, "layers[0].urls[0]: \"file:///etc/shadow\" is not an http:// or https:// URL");

	_cleanup_free_ char *url_num = manifest_with_layers(
		"{\"mediaType\":\"" MT_OCI_LAYER_ND "\",\"digest\":\"" H2 "\",\"size\":3,\"urls\":[7]}");
	manifest_fails(url_num, NULL, EINVAL, "layers[0].urls[0]: must be a string, not an integer");

	_cleanup_free_ char *bad_ann = manifest_with_layers(
		"{\"mediaType\":\"" MT_OCI_LAYER "\",\"digest\":\"" H2 "\",\"size\":3,\"annotations\":{\"k\":1}}");
	manifest_fails(bad_ann, NULL, EINVAL, "layers[0].annotations[\"k\"]: must be a string, not an integer");

	manifest_fails("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"layers\":[]}", NULL, EINVAL,
		       "manifest localhost:5000/a:b: config: missing");
	manifest_fails("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":\""
		       MT_OCI_CONFIG "\",\"digest\":\"" H1 "\",\"size\":1}}", NULL, EINVAL, "layers: missing");
	manifest_fails("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":\""
		       MT_OCI_CONFIG "\",\"digest\":\"" H1 "\",\"size\":1},\"layers\":{}}", NULL, EINVAL,
		       "layers: must be an array, not an object");
	manifest_fails("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":\""
		       MT_OCI_CONFIG "\",\"digest\":\"sha512:12\",\"size\":1},\"layers\":[]}", NULL, EINVAL,
		       "config.digest: invalid digest \"sha512:12\": not 128 lowercase hex characters");

	/* schemaVersion */
	manifest_fails("{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{},\"layers\":[]}", NULL, EINVAL,
		       "manifest localhost:5000/a:b: schemaVersion: missing");
	manifest_fails("{\"schemaVersion\":\"2\",\"mediaType\":\"" MT_OCI_MANIFEST "\"}", NULL, EINVAL,
		       "schemaVersion: must be an integer, not a string");
	manifest_fails("{\"schemaVersion\":3,\"mediaType\":\"" MT_OCI_MANIFEST "\"}", NULL, ENOTSUP,
		       "schemaVersion: unsupported schemaVersion 3 (expected 2)");
	manifest_fails("{\"schemaVersion\":1,\"name\":\"library/busybox\",\"tag\":\"latest\",\"architecture\":\"amd64\","
		       "\"fsLayers\":[{\"blobSum\":\"" H1 "\"}],\"history\":[],\"signatures\":[]}",
		       NULL, ENOTSUP, "unsupported Docker schema1 manifest");
	manifest_fails("{\"schemaVersion\":1,\"fsLayers\":[]}", MT_DOCKER_SCHEMA1_SIGNED, ENOTSUP,
		       "unsupported Docker schema1 manifest");
	manifest_fails("{\"schemaVersion\":1,\"mediaType\":\"" MT_DOCKER_SCHEMA1 "\"}", NULL, ENOTSUP,
		       "mediaType: unsupported Docker schema1 manifest");

	/* media type of the document */
	manifest_fails(oci_index, NULL, EINVAL,
		       "manifest localhost:5000/a:b: mediaType: is an image index (" MT_OCI_INDEX "), not a manifest");
	manifest_fails("{\"schemaVersion\":2,\"manifests\":[]}", MT_DOCKER_LIST, EINVAL, "is an image index");
	manifest_fails("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.artifact.manifest.v1+json\"}", NULL,
		       ENOTSUP, "mediaType: unsupported media type \"application/vnd.oci.artifact.manifest.v1+json\"");
	manifest_fails("{\"schemaVersion\":2,\"mediaType\":7}", NULL, EINVAL, "mediaType: must be a string, not an integer");
	manifest_fails("{\"schemaVersion\":2}", NULL, EINVAL, "not an image manifest or index");

	/* not JSON / not an object / duplicate keys */
	manifest_fails("{\"schemaVersion\":2,", NULL, EINVAL, "manifest localhost:5000/a:b: invalid JSON at line 1");
	manifest_fails("[1,2]", NULL, EINVAL, "manifest localhost:5000/a:b: must be a JSON object, not an array");
	manifest_fails("", NULL, EINVAL, "invalid JSON");
	_cleanup_free_ char *dup = manifest_with_layers(
		"{\"mediaType\":\"" MT_OCI_LAYER "\",\"digest\":\"" H2 "\",\"digest\":\"" H3 "\",\"size\":3}");
	manifest_fails(dup, NULL, EINVAL, "invalid JSON");

	/* Length is honoured: trailing garbage beyond len is not read, truncation is an error. */
	struct berth_error err = { 0 };
	struct image_manifest *m = NULL;
	assert_int_equal(image_manifest_parse(oci_manifest, strlen(oci_manifest) - 5, NULL, "m", &m, &err), -EINVAL);
	assert_null(m);
	assert_int_equal(image_manifest_parse(NULL, 0, NULL, "m", &m, &err), -EINVAL);
}

/* ------------------------------------------------------------------ indexes */

static void test_index_parse(void **state)
{
	struct berth_error err = { 0 };
	_cleanup_index_ struct image_index *x = NULL;
	assert_int_equal(image_index_parse(oci_index, strlen(oci_index), NULL, "index x", &x, &err), 0);
	assert_int_equal(x->schema_version, 2);
	assert_string_equal(x->media_type, MT_OCI_INDEX);
	assert_int_equal(x->n_manifests, 7);
	assert_true(x->manifests[0].has_platform);
	assert_string_equal(x->manifests[0].platform.os, "linux");
	assert_string_equal(x->manifests[0].platform.architecture, "amd64");
	assert_null(x->manifests[0].platform.variant);
	assert_string_equal(x->manifests[2].platform.variant, "v7");
	assert_string_equal(x->manifests[4].platform.os, "unknown");
	assert_string_equal(json_string_value(json_object_get(x->manifests[4].annotations,
							      "vnd.docker.reference.type")), "attestation-manifest");
	assert_string_equal(x->manifests[6].platform.os, "windows");
	assert_string_equal(x->manifests[6].platform.os_version, "10.0.17763.5329");
	assert_string_equal(x->manifests[6].digest, H1);
	assert_int_equal(x->manifests[6].size, 99);
	assert_string_equal(json_string_value(json_object_get(x->annotations, "org.opencontainers.image.ref.name")),
			    "1.0");

	_cleanup_index_ struct image_index *d = NULL;
	assert_int_equal(image_index_parse(docker_list, strlen(docker_list), NULL, "list", &d, &err), 0);
	assert_string_equal(d->media_type, MT_DOCKER_LIST);
	assert_int_equal(d->n_manifests, 8);
	assert_string_equal(d->manifests[7].platform.architecture, "s390x");
	assert_null(d->annotations);

	/* OCI image-layout index.json as umoci writes it: no mediaType, no platform. */
	static const char layout[] =
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" H1 "\","
		"\"size\":192,\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}";
	_cleanup_index_ struct image_index *l = NULL;
	assert_int_equal(image_index_parse(layout, strlen(layout), NULL, "index.json", &l, &err), 0);
	assert_string_equal(l->media_type, MT_OCI_INDEX);
	assert_false(l->manifests[0].has_platform);

	/* Hint used when the field is absent. */
	_cleanup_index_ struct image_index *h = NULL;
	static const char empty[] = "{\"schemaVersion\":2,\"manifests\":[]}";
	assert_int_equal(image_index_parse(empty, strlen(empty), MT_DOCKER_LIST, "i", &h, &err), 0);
	assert_string_equal(h->media_type, MT_DOCKER_LIST);
	assert_int_equal(h->n_manifests, 0);
	assert_int_equal(err.code, 0);
}

static void test_index_errors(void **state)
{
	index_fails("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[{\"mediaType\":\""
		    MT_OCI_MANIFEST "\",\"digest\":\"" H1 "\",\"size\":1,\"platform\":{\"os\":\"linux\"}}]}",
		    EINVAL, "index example.com/x:1: manifests[0].platform.architecture: missing");
	index_fails("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[{\"mediaType\":\""
		    MT_OCI_MANIFEST "\",\"digest\":\"" H1 "\",\"size\":1,\"platform\":{\"os\":\"linux\","
		    "\"architecture\":\"amd64\",\"variant\":3}}]}",
		    EINVAL, "manifests[0].platform.variant: must be a string, not an integer");
	index_fails("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[{\"mediaType\":\""
		    MT_OCI_MANIFEST "\",\"digest\":\"" H1 "\",\"size\":1,\"platform\":{\"os\":\"windows\","
		    "\"architecture\":\"amd64\",\"os.features\":\"win32k\"}}]}",
		    EINVAL, "manifests[0].platform.os.features: must be an array of strings, not a string");
	index_fails("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[{\"mediaType\":\""
		    MT_OCI_MANIFEST "\",\"digest\":\"" H1 "\",\"size\":1,\"platform\":\"linux/amd64\"}]}",
		    EINVAL, "manifests[0].platform: must be an object, not a string");
	index_fails("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[{\"mediaType\":\""
		    MT_OCI_MANIFEST "\",\"digest\":\"" H1 "\",\"size\":1},{\"mediaType\":\"" MT_OCI_MANIFEST
		    "\",\"digest\":\"sha256:" "1111111111111111111111111111111111111111111111111111111111111111/\",\"size\":1}]}",
		    EINVAL, "index example.com/x:1: manifests[1].digest: invalid digest");
	index_fails("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\"}", EINVAL,
		    "index example.com/x:1: manifests: missing");
	index_fails("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[],\"annotations\":[]}", EINVAL,
		    "annotations: must be an object, not an array");
	index_fails(oci_manifest, EINVAL, "mediaType: is an image manifest (" MT_OCI_MANIFEST "), not an index");
	index_fails("{\"schemaVersion\":1,\"mediaType\":\"" MT_DOCKER_LIST "\",\"manifests\":[]}", ENOTSUP,
		    "schemaVersion: unsupported Docker schema1 manifest");
}

/* ------------------------------------------------------------------ kind */

static void kind_is(const char *doc, const char *hint, enum image_mt_kind want, const char *want_mt)
{
	struct berth_error err = { 0 };
	enum image_mt_kind k = MT_KIND_UNKNOWN;
	_cleanup_free_ char *mt = NULL;
	int r = image_manifest_kind(doc, strlen(doc), hint, &k, &mt, &err);
	if (r != 0)
		fail_msg("kind failed: %s", err.msg);
	assert_int_equal(k, want);
	assert_string_equal(mt, want_mt);
}

static void test_manifest_kind(void **state)
{
	kind_is(oci_manifest, NULL, MT_KIND_MANIFEST, MT_OCI_MANIFEST);
	kind_is(docker_manifest, NULL, MT_KIND_MANIFEST, MT_DOCKER_MANIFEST);
	kind_is(oci_index, NULL, MT_KIND_INDEX, MT_OCI_INDEX);
	kind_is(docker_list, MT_OCI_MANIFEST, MT_KIND_INDEX, MT_DOCKER_LIST);   /* field beats hint */
	kind_is(umoci_manifest, NULL, MT_KIND_MANIFEST, MT_OCI_MANIFEST);      /* shape */
	kind_is("{\"schemaVersion\":2,\"manifests\":[]}", NULL, MT_KIND_INDEX, MT_OCI_INDEX);
	kind_is("{\"schemaVersion\":2,\"manifests\":[]}", "application/json", MT_KIND_INDEX, MT_OCI_INDEX);
	/* hint beats shape */
	kind_is("{\"schemaVersion\":2,\"manifests\":[]}", MT_DOCKER_LIST "; charset=utf-8", MT_KIND_INDEX, MT_DOCKER_LIST);
	kind_is("{\"schemaVersion\":2}", MT_DOCKER_MANIFEST, MT_KIND_MANIFEST, MT_DOCKER_MANIFEST);

	struct berth_error err = { 0 };
	enum image_mt_kind k = MT_KIND_UNKNOWN;
	/* media_type may be NULL */
	assert_int_equal(image_manifest_kind(oci_index, strlen(oci_index), NULL, &k, NULL, &err), 0);
	assert_int_equal(k, MT_KIND_INDEX);

	static const struct { const char *doc, *hint; int code; const char *msg; } bad[] = {
		{ "{\"schemaVersion\":1,\"fsLayers\":[]}", NULL, ENOTSUP, "unsupported Docker schema1 manifest" },
		{ "{\"schemaVersion\":2}", MT_DOCKER_SCHEMA1_SIGNED, ENOTSUP, "unsupported Docker schema1 manifest" },
		{ "{\"mediaType\":\"" MT_DOCKER_SCHEMA1 "\"}", NULL, ENOTSUP, "unsupported Docker schema1 manifest" },
		{ "{\"mediaType\":\"" MT_OCI_CONFIG "\"}", NULL, ENOTSUP,
		  "unsupported media type \"" MT_OCI_CONFIG "\" (not an image manifest or index)" },
		{ "{\"schemaVersion\":2}", NULL, EINVAL, "not an image manifest or index" },
		{ "{\"config\":{}}", "text/plain", EINVAL, "not an image manifest or index" },
		{ "nope", NULL, EINVAL, "invalid JSON" },
		{ "\"str\"", NULL, EINVAL, "invalid JSON" },
		{ "42", NULL, EINVAL, "invalid JSON" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct berth_error e = { 0 };
		char *mt = (char *) "untouched";
		int r = image_manifest_kind(bad[i].doc, strlen(bad[i].doc), bad[i].hint, &k, &mt, &e);
		expect_err(r, bad[i].code, &e, bad[i].msg);
		assert_string_equal(mt, "untouched");
	}
}

/* ------------------------------------------------------------------ configs */

static void test_config_docker(void **state)
{
	struct berth_error err = { 0 };
	_cleanup_image_config_ struct image_config *c = NULL;
	assert_int_equal(image_config_parse(docker_config, strlen(docker_config), "config nginx", &c, &err), 0);
	assert_string_equal(c->architecture, "amd64");
	assert_string_equal(c->os, "linux");
	assert_null(c->variant);
	assert_string_equal(c->created, "2023-11-01T12:34:56.789Z");
	assert_string_equal(c->author, "someone");
	assert_string_equal(c->user, "1000:1000");
	assert_string_equal(c->working_dir, "/srv");
	assert_string_equal(c->stop_signal, "SIGQUIT");
	assert_int_equal(c->n_env, 2);
	assert_string_equal(c->env[1], "NGINX_VERSION=1.25.3");
	assert_null(c->env[2]);
	assert_true(c->has_entrypoint);
	assert_int_equal(c->n_entrypoint, 1);
	assert_string_equal(c->entrypoint[0], "/docker-entrypoint.sh");
	assert_true(c->has_cmd);
	assert_int_equal(c->n_cmd, 3);
	assert_string_equal(c->cmd[2], "daemon off;");
	assert_int_equal(c->n_exposed_ports, 2);
	assert_string_equal(c->exposed_ports[0], "80/tcp");
	assert_string_equal(c->exposed_ports[1], "443/tcp");
	assert_int_equal(c->n_volumes, 1);
	assert_string_equal(c->volumes[0], "/data");
	assert_string_equal(json_string_value(json_object_get(c->labels, "maintainer")), "NGINX Docker Maintainers");
	assert_int_equal(c->n_diff_ids, 3);
	assert_string_equal(c->diff_ids[0], H2);
	assert_string_equal(c->diff_ids[2], H4);
	assert_null(c->diff_ids[3]);
	assert_non_null(json_object_get(c->json, "history"));
}

static void test_config_scratch(void **state)
{
	struct berth_error err = { 0 };
	_cleanup_image_config_ struct image_config *c = NULL;
	assert_int_equal(image_config_parse(scratch_config, strlen(scratch_config), "cfg", &c, &err), 0);
	assert_string_equal(c->architecture, "arm64");
	assert_string_equal(c->variant, "v8");
	assert_null(c->user);
	assert_null(c->working_dir);
	assert_int_equal(c->n_env, 0);
	assert_null(c->env);
	assert_false(c->has_cmd);
	assert_false(c->has_entrypoint);
	assert_null(c->labels);
	assert_int_equal(c->n_diff_ids, 0);
	assert_null(c->author);

	/* "config": null with null members, and an explicit empty Cmd */
	static const char nulls[] =
		"{\"os\":\"linux\",\"architecture\":\"amd64\",\"config\":{\"Env\":null,\"Cmd\":[],\"Entrypoint\":null,"
		"\"Labels\":null,\"ExposedPorts\":null,\"Volumes\":null,\"User\":null},"
		"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" H1 "\"]}}";
	_cleanup_image_config_ struct image_config *n = NULL;
	assert_int_equal(image_config_parse(nulls, strlen(nulls), "cfg", &n, &err), 0);
	assert_true(n->has_cmd);
	assert_int_equal(n->n_cmd, 0);
	assert_null(n->cmd[0]);
	assert_false(n->has_entrypoint);
	assert_null(n->labels);
	assert_int_equal(n->n_diff_ids, 1);

	static const char cnull[] = "{\"config\":null,\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
	_cleanup_image_config_ struct image_config *z = NULL;
	assert_int_equal(image_config_parse(cnull, strlen(cnull), "cfg", &z, &err), 0);
	assert_null(z->os);
	assert_int_equal(err.code, 0);
}

static void test_config_errors(void **state)
{
	config_fails("{\"os\":\"linux\"}", EINVAL, "config of busybox: rootfs: missing");
	config_fails("{\"rootfs\":[]}", EINVAL, "config of busybox: rootfs: must be an object, not an array");
	config_fails("{\"rootfs\":{\"diff_ids\":[]}}", EINVAL, "rootfs.type: missing");
	config_fails("{\"rootfs\":{\"type\":\"layered\",\"diff_ids\":[]}}", ENOTSUP,
		     "config of busybox: rootfs.type: unsupported value \"layered\" (expected \"layers\")");
	config_fails("{\"rootfs\":{\"type\":\"layers\"}}", EINVAL, "rootfs.diff_ids: missing");
	config_fails("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":\"" H1 "\"}}", EINVAL,
		     "rootfs.diff_ids: must be an array of strings, not a string");
	config_fails("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" H1 "\",\"sha256:ABC\"]}}", EINVAL,
		     "config of busybox: rootfs.diff_ids[1]: invalid digest \"sha256:ABC\": not 64 lowercase hex characters");
	config_fails("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" H1 "\",5]}}", EINVAL,
		     "rootfs.diff_ids[1]: must be a string, not an integer");
	config_fails("{\"architecture\":64,\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", EINVAL,
		     "config of busybox: architecture: must be a string, not an integer");
	config_fails("{\"config\":[],\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", EINVAL,
		     "config of busybox: config: must be an object, not an array");
	config_fails("{\"config\":{\"Env\":\"PATH=/bin\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", EINVAL,
		     "config.Env: must be an array of strings, not a string");
	config_fails("{\"config\":{\"Env\":[\"A=1\",2]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", EINVAL,
		     "config.Env[1]: must be a string, not an integer");
	config_fails("{\"config\":{\"Cmd\":\"sh\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", EINVAL,
		     "config.Cmd: must be an array of strings");
	config_fails("{\"config\":{\"Entrypoint\":[true]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", EINVAL,
		     "config.Entrypoint[0]: must be a string, not a boolean");
	config_fails("{\"config\":{\"User\":0},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", EINVAL,
		     "config.User: must be a string, not an integer");
	config_fails("{\"config\":{\"Labels\":{\"a\":\"b\",\"c\":null}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		     EINVAL, "config.Labels[\"c\"]: must be a string, not null");
	config_fails("{\"config\":{\"ExposedPorts\":[\"80/tcp\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		     EINVAL, "config.ExposedPorts: must be an object, not an array");
	config_fails("{\"config\":{\"Volumes\":{\"/x\":1}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		     EINVAL, "config.Volumes[\"/x\"]: must be an object, not an integer");
	config_fails("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		     EINVAL, "config of busybox: invalid JSON");
	config_fails("null", EINVAL, "invalid JSON");

	/* default `what` */
	struct berth_error err = { 0 };
	struct image_config *c = NULL;
	assert_int_equal(image_config_parse("{}", 2, NULL, &c, &err), -EINVAL);
	assert_string_equal(err.msg, "image config: rootfs: missing");
}

/* ------------------------------------------------------------------ platforms */

static void platform_is(const char *s, const char *os, const char *arch, const char *variant)
{
	struct berth_error err = { 0 };
	_cleanup_platform_ struct image_platform p = { 0 };
	if (image_platform_parse(s, &p, &err) != 0)
		fail_msg("\"%s\" refused: %s", s, err.msg);
	assert_string_equal(p.os, os);
	assert_string_equal(p.architecture, arch);
	if (variant)
		assert_string_equal(p.variant, variant);
	else
		assert_null(p.variant);
	assert_null(p.os_version);
}

static void test_platform_parse(void **state)
{
	platform_is("linux/arm64/v8", "linux", "arm64", "v8");
	platform_is("linux/amd64", "linux", "amd64", NULL);
	platform_is("linux/arm64", "linux", "arm64", NULL);
	platform_is("linux/aarch64", "linux", "arm64", "v8");
	platform_is("linux/x86_64", "linux", "amd64", NULL);
	platform_is("linux/arm/7", "linux", "arm", "v7");
	platform_is("linux/arm/v6", "linux", "arm", "v6");
	platform_is("linux/armhf", "linux", "arm", "v7");
	platform_is("linux/armel", "linux", "arm", "v6");
	platform_is("linux/i386", "linux", "386", NULL);
	platform_is("Linux/AMD64", "linux", "amd64", NULL);
	platform_is("linux/ppc64le", "linux", "ppc64le", NULL);
	platform_is("linux/s390x", "linux", "s390x", NULL);
	platform_is("linux/riscv64", "linux", "riscv64", NULL);
	platform_is("windows/amd64", "windows", "amd64", NULL);
	platform_is("arm64", "linux", "arm64", NULL);
	platform_is("linux/amd64/v3", "linux", "amd64", "v3");

	/* A lone OS takes the host's architecture. */
	struct utsname u;
	assert_int_equal(uname(&u), 0);
	_cleanup_platform_ struct image_platform host = { 0 };
	assert_int_equal(image_platform_from_machine(u.machine, &host), 0);
	platform_is("linux", "linux", host.architecture, host.variant);

	static const char *const bad[] = { "", "linux/", "/amd64", "linux//v7", "linux/amd64/v8/x", "linux/amd 64",
					   "linux/amd64/v8\n", "bogus", "linux/../amd64" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct berth_error err = { 0 };
		_cleanup_platform_ struct image_platform p = { 0 };
		assert_int_equal(image_platform_parse(bad[i], &p, &err), -EINVAL);
		assert_true(strncmp(err.msg, "platform \"", 10) == 0);
		assert_null(p.os);
	}
	struct berth_error err = { 0 };
	struct image_platform p = { 0 };
	assert_int_equal(image_platform_parse("linux/amd64/v8/x", &p, &err), -EINVAL);
	assert_string_equal(err.msg, "platform \"linux/amd64/v8/x\": too many components (expected os/arch[/variant])");
	berth_error_clear(&err);
	assert_int_equal(image_platform_parse("bogus", &p, &err), -EINVAL);
	assert_true(strstr(err.msg, "unknown operating system or architecture") != NULL);
	berth_error_clear(&err);
	assert_int_equal(image_platform_parse("linux/amd64/v8\n", &p, &err), -EINVAL);
	assert_true(strstr(err.msg, "platform \"linux/amd64/v8\\x0a\": component 3") != NULL);
}

static void test_platform_string(void **state)
{
	struct image_platform p = { .os = (char *) "linux", .architecture = (char *) "arm64", .variant = (char *) "v8" };
	_cleanup_free_ char *a = image_platform_string(&p);
	assert_string_equal(a, "linux/arm64/v8");
	p.variant = NULL;
	_cleanup_free_ char *b = image_platform_string(&p);
	assert_string_equal(b, "linux/arm64");
	p.variant = (char *) "";
	_cleanup_free_ char *c = image_platform_string(&p);
	assert_string_equal(c, "linux/arm64");
	assert_null(image_platform_string(NULL));

	/* parse -> string round trip */
	struct berth_error err = { 0 };
	_cleanup_platform_ struct image_platform q = { 0 };
	assert_int_equal(image_platform_parse("linux/armhf", &q, &err), 0);
	_cleanup_free_ char *d = image_platform_string(&q);
	assert_string_equal(d, "linux/arm/v7");
	image_platform_clear(&q);
	assert_null(q.os);
	image_platform_clear(NULL);
}

static void test_platform_host(void **state)
{
	static const struct { const char *machine, *arch, *variant; } cases[] = {
		{ "x86_64", "amd64", NULL },  { "aarch64", "arm64", "v8" }, { "armv7l", "arm", "v7" },
		{ "armv6l", "arm", "v6" },    { "i686", "386", NULL },      { "i386", "386", NULL },
		{ "ppc64le", "ppc64le", NULL }, { "s390x", "s390x", NULL }, { "riscv64", "riscv64", NULL },
		{ "loongarch64", "loong64", NULL }, { "mips64", "mips64", NULL },
		{ "sparc64", "sparc64", NULL },  /* unknown: passed through */
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_platform_ struct image_platform p = { 0 };
		assert_int_equal(image_platform_from_machine(cases[i].machine, &p), 0);
		assert_string_equal(p.os, "linux");
		assert_string_equal(p.architecture, cases[i].arch);
		if (cases[i].variant)
			assert_string_equal(p.variant, cases[i].variant);
		else
			assert_null(p.variant);
	}

	struct utsname u;
	assert_int_equal(uname(&u), 0);
	_cleanup_platform_ struct image_platform want = { 0 }, host = { 0 };
	assert_int_equal(image_platform_from_machine(u.machine, &want), 0);
	image_platform_host(&host);
	assert_string_equal(host.os, "linux");
	assert_string_equal(host.architecture, want.architecture);
	if (want.variant)
		assert_string_equal(host.variant, want.variant);
	else
		assert_null(host.variant);
	assert_true(image_platform_match(&host, &want));
}

static void test_platform_match(void **state)
{
	struct image_platform arm64 = { .os = (char *) "linux", .architecture = (char *) "arm64" };
	struct image_platform arm64v8 = { .os = (char *) "linux", .architecture = (char *) "arm64", .variant = (char *) "v8" };
	struct image_platform arm = { .os = (char *) "linux", .architecture = (char *) "arm" };
	struct image_platform armv7 = { .os = (char *) "linux", .architecture = (char *) "arm", .variant = (char *) "v7" };
	struct image_platform armv6 = { .os = (char *) "linux", .architecture = (char *) "arm", .variant = (char *) "v6" };
	struct image_platform amd64 = { .os = (char *) "linux", .architecture = (char *) "amd64" };
	struct image_platform win = { .os = (char *) "windows", .architecture = (char *) "amd64" };

	assert_true(image_platform_match(&arm64v8, &arm64));   /* missing variant = v8 */
	assert_true(image_platform_match(&arm64, &arm64v8));
	assert_true(image_platform_match(&armv7, &arm));       /* missing variant = v7 */
	assert_false(image_platform_match(&armv6, &arm));
	assert_false(image_platform_match(&armv7, &armv6));
	assert_true(image_platform_match(&arm, &armv6));       /* no variant wanted: any */
	assert_false(image_platform_match(&amd64, &win));
	assert_false(image_platform_match(&amd64, &arm64));
	assert_false(image_platform_match(NULL, &amd64));
}

/* ------------------------------------------------------------------ selection */

static struct image_index *load_index(const char *doc)
{
	struct berth_error err = { 0 };
	struct image_index *x = NULL;
	if (image_index_parse(doc, strlen(doc), NULL, "index", &x, &err) != 0)
		fail_msg("index: %s", err.msg);
	return x;
}

static const char *select_digest(const struct image_index *x, const char *platform)
{
	struct berth_error err = { 0 };
	_cleanup_platform_ struct image_platform want = { 0 };
	assert_int_equal(image_platform_parse(platform, &want, &err), 0);
	const struct image_descriptor *d = NULL;
	if (image_index_select(x, &want, &d, &err) != 0)
		fail_msg("select %s: %s", platform, err.msg);
	return d->digest;
}

static void test_select(void **state)
{
	_cleanup_index_ struct image_index *oci = load_index(oci_index);
	_cleanup_index_ struct image_index *dl = load_index(docker_list);

	assert_string_equal(select_digest(oci, "linux/amd64"), HA);
	assert_string_equal(select_digest(oci, "linux/arm64"), HD);
	assert_string_equal(select_digest(oci, "linux/arm64/v8"), HD);
	assert_string_equal(select_digest(oci, "linux/aarch64"), HD);
	assert_string_equal(select_digest(oci, "linux/arm/v6"), HB);
	assert_string_equal(select_digest(oci, "linux/arm/v7"), HC);
	/* No variant wanted: the default v7 wins over the earlier v6 entry. */
	assert_string_equal(select_digest(oci, "linux/arm"), HC);
	assert_string_equal(select_digest(oci, "windows/amd64"), H1);

	/* Docker list: arm64 without variant satisfies a v8 request; arm without variant is v7. */
	assert_string_equal(select_digest(dl, "linux/arm64/v8"), H3);
	assert_string_equal(select_digest(dl, "linux/arm/v7"), H2);
	assert_string_equal(select_digest(dl, "linux/arm"), H2);
	assert_string_equal(select_digest(dl, "linux/arm/v5"), H1);
	/* amd64 baseline preferred over the earlier amd64/v3 entry; v3 reachable explicitly. */
	assert_string_equal(select_digest(dl, "linux/amd64"), H5);
	assert_string_equal(select_digest(dl, "linux/amd64/v3"), H4);
	assert_string_equal(select_digest(dl, "linux/386"), H6);
	assert_string_equal(select_digest(dl, "linux/i686"), H6);
	assert_string_equal(select_digest(dl, "linux/ppc64le"), H7);
	assert_string_equal(select_digest(dl, "linux/s390x"), H8);
}

static void test_select_none(void **state)
{
	_cleanup_index_ struct image_index *oci = load_index(oci_index);
	struct berth_error err = { 0 };
	_cleanup_platform_ struct image_platform want = { 0 };
	const struct image_descriptor *d = NULL;

	assert_int_equal(image_platform_parse("linux/riscv64", &want, &err), 0);
	assert_int_equal(image_index_select(oci, &want, &d, &err), -ENOENT);
	assert_null(d);
	assert_int_equal(err.code, ENOENT);
	assert_string_equal(err.msg, "no manifest for platform linux/riscv64 in the image index (available: "
				     "linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8, windows/amd64)");

	/* Attestations are never chosen, not even when asked for literally. */
	image_platform_clear(&want);
	berth_error_clear(&err);
	assert_int_equal(image_platform_parse("unknown/unknown", &want, &err), 0);
	assert_int_equal(image_index_select(oci, &want, &d, &err), -ENOENT);
	assert_null(d);

	/* A variant that no entry has. */
	image_platform_clear(&want);
	berth_error_clear(&err);
	assert_int_equal(image_platform_parse("linux/arm64/v9", &want, &err), 0);
	assert_int_equal(image_index_select(oci, &want, &d, &err), -ENOENT);
	assert_true(strstr(err.msg, "linux/arm64/v9") != NULL);

	/* Index holding only attestations. */
	static const char only_att[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[{\"mediaType\":\""
		MT_OCI_MANIFEST "\",\"digest\":\"" H1 "\",\"size\":5,\"platform\":{\"os\":\"unknown\","
		"\"architecture\":\"unknown\"}}]}";
	_cleanup_index_ struct image_index *att = load_index(only_att);
	image_platform_clear(&want);
	berth_error_clear(&err);
	assert_int_equal(image_platform_parse("linux/amd64", &want, &err), 0);
	assert_int_equal(image_index_select(att, &want, &d, &err), -ENOENT);
	assert_string_equal(err.msg, "no manifest for platform linux/amd64 in the image index (available: none)");
}

static void test_select_unplatformed(void **state)
{
	/* image-layout index.json: an entry without platform is a last resort. */
	static const char doc[] =
		"{\"schemaVersion\":2,\"manifests\":["
		"{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" H1 "\",\"size\":5},"
		"{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" H2 "\",\"size\":5,"
		"\"platform\":{\"os\":\"linux\",\"architecture\":\"s390x\"}}]}";
	_cleanup_index_ struct image_index *x = load_index(doc);
	assert_string_equal(select_digest(x, "linux/s390x"), H2);
	assert_string_equal(select_digest(x, "linux/amd64"), H1);

	/* Attestation annotation without unknown/unknown platform: still skipped. */
	static const char att[] =
		"{\"schemaVersion\":2,\"manifests\":["
		"{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" H1 "\",\"size\":5,"
		"\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"}}]}";
	_cleanup_index_ struct image_index *y = load_index(att);
	struct berth_error err = { 0 };
	_cleanup_platform_ struct image_platform want = { 0 };
	const struct image_descriptor *d = NULL;
	assert_int_equal(image_platform_parse("linux/amd64", &want, &err), 0);
	assert_int_equal(image_index_select(y, &want, &d, &err), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_media_types),
		cmocka_unit_test(test_manifest_oci),
		cmocka_unit_test(test_manifest_docker),
		cmocka_unit_test(test_manifest_no_media_type),
		cmocka_unit_test(test_manifest_errors),
		cmocka_unit_test(test_index_parse),
		cmocka_unit_test(test_index_errors),
		cmocka_unit_test(test_manifest_kind),
		cmocka_unit_test(test_config_docker),
		cmocka_unit_test(test_config_scratch),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_platform_parse),
		cmocka_unit_test(test_platform_string),
		cmocka_unit_test(test_platform_host),
		cmocka_unit_test(test_platform_match),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_select_none),
		cmocka_unit_test(test_select_unplatformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
