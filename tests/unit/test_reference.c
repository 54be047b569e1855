#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "image/reference.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D256 "sha256:" HEX64
#define D512 "sha512:" HEX64 HEX64

struct valid_case {
	const char *in;
	const char *domain, *path, *tag, *digest;
	const char *full;       /* image_ref_string */
	const char *familiar;   /* image_ref_familiar */
};

static const struct valid_case valid[] = {
	{ "busybox", "docker.io", "library/busybox", "latest", NULL,
	  "docker.io/library/busybox:latest", "busybox:latest" },
	{ "busybox:1.36.1", "docker.io", "library/busybox", "1.36.1", NULL,
	  "docker.io/library/busybox:1.36.1", "busybox:1.36.1" },
	{ "user/app", "docker.io", "user/app", "latest", NULL,
	  "docker.io/user/app:latest", "user/app:latest" },
	{ "user/app:1", "docker.io", "user/app", "1", NULL, "docker.io/user/app:1", "user/app:1" },
	{ "library/busybox", "docker.io", "library/busybox", "latest", NULL,
	  "docker.io/library/busybox:latest", "busybox:latest" },
	{ "docker.io/busybox", "docker.io", "library/busybox", "latest", NULL,
	  "docker.io/library/busybox:latest", "busybox:latest" },
	{ "docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", NULL,
	  "docker.io/library/busybox:latest", "busybox:latest" },
	{ "index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", NULL,
	  "docker.io/library/busybox:latest", "busybox:latest" },
	{ "index.docker.io/busybox:musl", "docker.io", "library/busybox", "musl", NULL,
	  "docker.io/library/busybox:musl", "busybox:musl" },
	{ "docker.io/library/a/b", "docker.io", "library/a/b", "latest", NULL,
	  "docker.io/library/a/b:latest", "library/a/b:latest" },
	{ "registry-1.docker.io/busybox", "registry-1.docker.io", "busybox", "latest", NULL,
	  "registry-1.docker.io/busybox:latest", "registry-1.docker.io/busybox:latest" },
	{ "host:5000/ns/repo:tag", "host:5000", "ns/repo", "tag", NULL,
	  "host:5000/ns/repo:tag", "host:5000/ns/repo:tag" },
	{ "quay.io/ns/sub/app:v1.2.3-rc_1", "quay.io", "ns/sub/app", "v1.2.3-rc_1", NULL,
	  "quay.io/ns/sub/app:v1.2.3-rc_1", "quay.io/ns/sub/app:v1.2.3-rc_1" },
	{ "busybox@" D256, "docker.io", "library/busybox", NULL, D256,
	  "docker.io/library/busybox@" D256, "busybox@" D256 },
	{ "busybox:1@" D256, "docker.io", "library/busybox", "1", D256,
	  "docker.io/library/busybox:1@" D256, "busybox:1@" D256 },
	{ "localhost:5000/x@" D512, "localhost:5000", "x", NULL, D512,
	  "localhost:5000/x@" D512, "localhost:5000/x@" D512 },
	{ "localhost/x", "localhost", "x", "latest", NULL, "localhost/x:latest", "localhost/x:latest" },
	{ "localhost:5000/x", "localhost:5000", "x", "latest", NULL,
	  "localhost:5000/x:latest", "localhost:5000/x:latest" },
	/* no '/': the first component is a name, so ":5000" is a tag */
	{ "localhost", "docker.io", "library/localhost", "latest", NULL,
	  "docker.io/library/localhost:latest", "localhost:latest" },
	{ "localhost:5000", "docker.io", "library/localhost", "5000", NULL,
	  "docker.io/library/localhost:5000", "localhost:5000" },
	{ "foo.com", "docker.io", "library/foo.com", "latest", NULL,
	  "docker.io/library/foo.com:latest", "foo.com:latest" },
	{ "[::1]:5000/x", "[::1]:5000", "x", "latest", NULL, "[::1]:5000/x:latest", "[::1]:5000/x:latest" },
	{ "[fe80::AB:1]/ns/x:t", "[fe80::AB:1]", "ns/x", "t", NULL, "[fe80::AB:1]/ns/x:t", "[fe80::AB:1]/ns/x:t" },
	{ "127.0.0.1:5000/a/b:c", "127.0.0.1:5000", "a/b", "c", NULL,
	  "127.0.0.1:5000/a/b:c", "127.0.0.1:5000/a/b:c" },
	/* a familiar form must not make the first path component look like a host */
	{ "docker.io/x.y/z", "docker.io", "x.y/z", "latest", NULL,
	  "docker.io/x.y/z:latest", "docker.io/x.y/z:latest" },
	{ "index.docker.io/x.docker.io/vv", "docker.io", "x.docker.io/vv", "latest", NULL,
	  "docker.io/x.docker.io/vv:latest", "docker.io/x.docker.io/vv:latest" },
	{ "docker.io/x.y", "docker.io", "library/x.y", "latest", NULL,
	  "docker.io/library/x.y:latest", "x.y:latest" },
	/* an uppercase first component can only be a host */
	{ "MyRegistry/app", "MyRegistry", "app", "latest", NULL, "MyRegistry/app:latest", "MyRegistry/app:latest" },
	{ "Quay.IO/ns/app:V1", "Quay.IO", "ns/app", "V1", NULL, "Quay.IO/ns/app:V1", "Quay.IO/ns/app:V1" },
	{ "my-host.example.com/a", "my-host.example.com", "a", "latest", NULL,
	  "my-host.example.com/a:latest", "my-host.example.com/a:latest" },
	{ "user/a.b_c__d-e---f9", "docker.io", "user/a.b_c__d-e---f9", "latest", NULL,
	  "docker.io/user/a.b_c__d-e---f9:latest", "user/a.b_c__d-e---f9:latest" },
	{ "x:_Tag.1-A", "docker.io", "library/x", "_Tag.1-A", NULL, "docker.io/library/x:_Tag.1-A", "x:_Tag.1-A" },
	/* looks like an id, but docker reads it as repo "sha256" with a tag */
	{ "sha256:" HEX64, "docker.io", "library/sha256", HEX64, NULL,
	  "docker.io/library/sha256:" HEX64, "sha256:" HEX64 },
};

static void parses_valid_references(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(valid); i++) {
		const struct valid_case *c = &valid[i];
		struct image_ref r = { 0 };
		struct berth_error err = { 0 };
		int ret = image_ref_parse(c->in, &r, &err);
		if (ret != 0)
			print_error("case %zu \"%s\": %s\n", i, c->in, err.msg);
		assert_int_equal(ret, 0);
		assert_string_equal(r.domain, c->domain);
		assert_string_equal(r.path, c->path);
		if (c->tag)
			assert_string_equal(r.tag, c->tag);
		else
			assert_null(r.tag);
		if (c->digest)
			assert_string_equal(r.digest, c->digest);
		else
			assert_null(r.digest);
		_cleanup_free_ char *full = image_ref_string(&r);
		_cleanup_free_ char *fam = image_ref_familiar(&r);
		assert_string_equal(full, c->full);
		assert_string_equal(fam, c->familiar);

		/* both printed forms read back as the same reference */
		struct image_ref r2 = { 0 }, r3 = { 0 };
		assert_int_equal(image_ref_parse(full, &r2, NULL), 0);
		assert_int_equal(image_ref_parse(fam, &r3, NULL), 0);
		_cleanup_free_ char *full2 = image_ref_string(&r2);
		_cleanup_free_ char *full3 = image_ref_string(&r3);
		assert_string_equal(full2, c->full);
		assert_string_equal(full3, c->full);
		image_ref_clear(&r);
		image_ref_clear(&r2);
		image_ref_clear(&r3);
		assert_null(r.domain);
	}
}

struct invalid_case {
	const char *in;
	const char *reason;   /* substring of the message */
};

static const struct invalid_case invalid[] = {
	{ "", "must have at least one component" },
	{ "Busybox", "repository name must be lowercase" },
	{ "user/App", "repository name must be lowercase" },
	{ "quay.io/NS/app:tag", "repository name must be lowercase" },
	{ "busybox:", "invalid tag" },
	{ "busybox:-x", "invalid tag" },
	{ "busybox:a b", "invalid tag" },
	{ "busybox:1:2", "invalid tag" },
	{ "busybox:t!", "invalid tag" },
	{ "busybox@", "invalid reference format" },
	{ "@" D256, "must have at least one component" },
	{ "a//b", "invalid reference format" },
	{ "/a", "invalid reference format" },
	{ "a/", "invalid reference format" },
	{ "-a/b", "invalid reference format" },
	{ "a-/b", "invalid reference format" },
	{ "user/a___b", "invalid reference format" },
	{ "user/a.-b", "invalid reference format" },
	{ "user/a..b", "invalid reference format" },
	{ "user/a_", "invalid reference format" },
	{ " busybox", "invalid reference format" },
	{ "busy box", "invalid reference format" },
	{ "host:/x", "invalid registry domain" },
	{ "host:abc/x", "invalid registry domain" },
	{ "a..b/c", "invalid registry domain" },
	{ "-host.com/x", "invalid registry domain" },
	{ "host-.com/x", "invalid registry domain" },
	{ "a_b.com/x", "invalid registry domain" },
	{ "[::1/x", "invalid registry domain" },
	{ "[]:5000/x", "invalid registry domain" },
	{ "[::g]/x", "invalid registry domain" },
	{ "busybox:a/b", "invalid registry domain" },
	{ "busybox@sha256:abc", "invalid digest" },
	{ "busybox@sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "invalid digest" },
	{ "busybox@md5:0123456789abcdef0123456789abcdef", "invalid digest" },
	{ "busybox@" D256 "@" D256, "invalid digest" },
	{ "busybox:1@bad", "invalid digest" },
	{ HEX64, "cannot specify 64-byte hexadecimal strings" },
};

static void rejects_invalid_references(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++) {
		const struct invalid_case *c = &invalid[i];
		struct image_ref r = { 0 };
		struct berth_error err = { 0 };
		int ret = image_ref_parse(c->in, &r, &err);
		if (ret != -EINVAL || !strstr(err.msg, c->reason))
			print_error("case %zu \"%s\": ret %d msg \"%s\"\n", i, c->in, ret, err.msg);
		assert_int_equal(ret, -EINVAL);
		assert_int_equal(err.code, EINVAL);
		assert_non_null(strstr(err.msg, c->reason));
		assert_null(r.domain);   /* untouched on failure */
		assert_null(r.path);
	}
}

static void error_names_the_input(void **state)
{
	struct image_ref r = { 0 };
	struct berth_error err = { 0 };
	assert_int_equal(image_ref_parse("Busybox:1", &r, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "reference \"Busybox:1\": invalid reference format: repository name must be lowercase");
	berth_error_clear(&err);
	assert_int_equal(image_ref_parse("a//b", &r, &err), -EINVAL);
	assert_string_equal(err.msg, "reference \"a//b\": invalid reference format");
	/* control characters never reach a terminal through the message */
	berth_error_clear(&err);
	assert_int_equal(image_ref_parse("a\x1b[2Jb", &r, &err), -EINVAL);
	assert_null(strchr(err.msg, '\x1b'));
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void name_and_tag_length_limits(void **state)
{
	struct image_ref r = { 0 };
	struct berth_error err = { 0 };
	/* "docker.io/library/" is 18 characters of the 255 */
	_cleanup_free_ char *ok = repeat('a', 255 - 18);
	assert_int_equal(image_ref_parse(ok, &r, &err), 0);
	_cleanup_free_ char *repo = image_ref_repo(&r);
	assert_int_equal(strlen(repo), 255);
	image_ref_clear(&r);

	_cleanup_free_ char *long1 = repeat('a', 255 - 18 + 1);
	assert_int_equal(image_ref_parse(long1, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "repository name too long (256 characters, at most 255)"));

	/* the limit counts the explicit domain too */
	_cleanup_free_ char *path = repeat('b', 255 - strlen("quay.io/"));
	char buf[512];
	snprintf(buf, sizeof(buf), "quay.io/%s:t", path);
	assert_int_equal(image_ref_parse(buf, &r, NULL), 0);
	image_ref_clear(&r);
	snprintf(buf, sizeof(buf), "quay.io/%sb:t", path);
	berth_error_clear(&err);
	assert_int_equal(image_ref_parse(buf, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "repository name too long"));

	_cleanup_free_ char *tag128 = repeat('t', 128);
	snprintf(buf, sizeof(buf), "busybox:%s", tag128);
	assert_int_equal(image_ref_parse(buf, &r, NULL), 0);
	assert_string_equal(r.tag, tag128);
	image_ref_clear(&r);
	snprintf(buf, sizeof(buf), "busybox:%st", tag128);
	berth_error_clear(&err);
	assert_int_equal(image_ref_parse(buf, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "invalid tag"));
}

static void repo_and_familiar_repo(void **state)
{
	static const struct { const char *in, *repo, *familiar_repo, *host; } cases[] = {
		{ "busybox:1", "docker.io/library/busybox", "busybox", "registry-1.docker.io" },
		{ "user/app@" D256, "docker.io/user/app", "user/app", "registry-1.docker.io" },
		{ "index.docker.io/library/a/b", "docker.io/library/a/b", "library/a/b", "registry-1.docker.io" },
		{ "localhost:5000/x:y", "localhost:5000/x", "localhost:5000/x", "localhost:5000" },
		{ "quay.io/library/x", "quay.io/library/x", "quay.io/library/x", "quay.io" },
		{ "[::1]:5000/x", "[::1]:5000/x", "[::1]:5000/x", "[::1]:5000" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct image_ref r = { 0 };
		assert_int_equal(image_ref_parse(cases[i].in, &r, NULL), 0);
		_cleanup_free_ char *repo = image_ref_repo(&r);
		_cleanup_free_ char *fam = image_ref_familiar_repo(&r);
		assert_string_equal(repo, cases[i].repo);
		assert_string_equal(fam, cases[i].familiar_repo);
		assert_string_equal(image_ref_registry_host(&r), cases[i].host);
		image_ref_clear(&r);
	}
}

static void looks_like_id(void **state)
{
	assert_true(image_ref_looks_like_id(HEX64));
	assert_true(image_ref_looks_like_id("sha256:" HEX64));
	assert_true(image_ref_looks_like_id("abc"));
	assert_true(image_ref_looks_like_id("0123456789ab"));
	assert_false(image_ref_looks_like_id("ab"));
	assert_false(image_ref_looks_like_id(""));
	assert_false(image_ref_looks_like_id(NULL));
	assert_false(image_ref_looks_like_id("abg"));
	assert_false(image_ref_looks_like_id("ABC"));
	assert_false(image_ref_looks_like_id(HEX64 "0"));
	assert_false(image_ref_looks_like_id("sha256:abc"));   /* a prefix never carries the algorithm */
	assert_false(image_ref_looks_like_id("sha512:" HEX64 HEX64));
	assert_false(image_ref_looks_like_id("busybox"));
	assert_false(image_ref_looks_like_id("abc/def"));
	assert_false(image_ref_looks_like_id("abc:1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_valid_references),
		cmocka_unit_test(rejects_invalid_references),
		cmocka_unit_test(error_names_the_input),
		cmocka_unit_test(name_and_tag_length_limits),
		cmocka_unit_test(repo_and_familiar_repo),
		cmocka_unit_test(looks_like_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
