#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "core/log.h"
#include "image/auth.h"

/* ---------------------------------------------------------------- challenges */

struct chall_case {
	const char *in;
	const char *scheme, *realm, *service, *scope, *error;
};

static const struct chall_case challenges[] = {
	{ "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
	  "scope=\"repository:library/busybox:pull\"",
	  "bearer", "https://auth.docker.io/token", "registry.docker.io", "repository:library/busybox:pull", NULL },
	/* commas inside quotes, any order */
	{ "Bearer scope=\"repository:a/b:pull,push\",realm=\"https://r/token\",service=\"svc\"",
	  "bearer", "https://r/token", "svc", "repository:a/b:pull,push", NULL },
	{ "BASIC realm=\"Registry Realm\"", "basic", "Registry Realm", NULL, NULL, NULL },
	/* BWS around '=', token values, spaces after commas */
	{ "Bearer realm = \"x\" ,  service=tok", "bearer", "x", "tok", NULL, NULL },
	/* quoted-pair escapes */
	{ "Bearer realm=\"a\\\"b\\\\c\\d\"", "bearer", "a\"b\\cd", NULL, NULL, NULL },
	{ "Bearer realm=\"x\",error=\"insufficient_scope\",scope=\"repository:a:pull\"",
	  "bearer", "x", NULL, "repository:a:pull", "insufficient_scope" },
	/* several challenges: Bearer wins, wherever it is */
	{ "Basic realm=\"b\", Bearer realm=\"t\",service=\"s\"", "bearer", "t", "s", NULL, NULL },
	{ "Negotiate abc==, Basic realm=\"r\"", "basic", "r", NULL, NULL, NULL },
	{ "Negotiate, NTLM", "negotiate", NULL, NULL, NULL, NULL },
	/* repeated scope joined as token servers take it */
	{ "Bearer realm=\"r\",scope=\"repository:a:pull\",scope=\"repository:b:pull\"",
	  "bearer", "r", NULL, "repository:a:pull repository:b:pull", NULL },
	/* unknown params skipped, even with commas in their quoted values */
	{ "Bearer realm=\"r\",foo=\"bar,baz\",x=y,service=\"s\"", "bearer", "r", "s", NULL, NULL },
	/* parameter names are case-insensitive */
	{ "bearer Realm=\"r\" , SERVICE=\"s\"", "bearer", "r", "s", NULL, NULL },
	/* empty list elements are allowed */
	{ "Bearer ,,realm=\"x\",,", "bearer", "x", NULL, NULL, NULL },
	{ "  Bearer\trealm=\"x\"", "bearer", "x", NULL, NULL, NULL },
	{ "Bearer realm=\"\"", "bearer", "", NULL, NULL, NULL },
	{ "Bearer", "bearer", NULL, NULL, NULL, NULL },
	{ "Bearer realm=\"caf\xc3\xa9\"", "bearer", "caf\xc3\xa9", NULL, NULL, NULL },
};

static void check_str(const char *got, const char *want)
{
	if (want)
		assert_string_equal(got, want);
	else
		assert_null(got);
}

static void parses_challenges(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(challenges); i++) {
		const struct chall_case *c = &challenges[i];
		struct auth_challenge ch = { 0 };
		struct berth_error err = { 0 };
		int r = auth_challenge_parse(c->in, &ch, &err);
		if (r != 0)
			print_error("case %zu: %s\n", i, err.msg);
		assert_int_equal(r, 0);
		check_str(ch.scheme, c->scheme);
		check_str(ch.realm, c->realm);
		check_str(ch.service, c->service);
		check_str(ch.scope, c->scope);
		check_str(ch.error, c->error);
		auth_challenge_clear(&ch);
		assert_null(ch.scheme);
	}
}

static void rejects_bad_challenges(void **state)
{
	static const struct { const char *in, *reason; } cases[] = {
		{ "", "no authentication scheme" },
		{ "  , ", "no authentication scheme" },
		{ "Bearer realm=\"unterminated", "unterminated quoted string" },
		{ "Bearer realm=\"unterminated\\", "unterminated quoted string" },
		{ "Bearer realm=\"a\" service=\"b\"", "expected ','" },
		{ "Bearer realm=\"a\",realm=\"b\"", "duplicate parameter \"realm\"" },
		{ "Bearer realm=\"a\x01\"", "control character" },
		{ "Bearer realm=\"a\\\x01\"", "control character" },
		{ "=foo", "expected an authentication scheme" },
		{ "Bea\"rer realm=x", "invalid character in authentication scheme" },
		{ "Bearer realm=,service=x", "parameter after token68 data" },
		{ "Bearer realm=\"x\",service=,a=b", "expected a token or quoted string" },
		{ "Bearer realm=\"x\",=y", "expected a parameter name" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct auth_challenge ch = { 0 };
		struct berth_error err = { 0 };
		int r = auth_challenge_parse(cases[i].in, &ch, &err);
		if (r != -EINVAL || !strstr(err.msg, cases[i].reason))
			print_error("case %zu: r=%d %s\n", i, r, err.msg);
		assert_int_equal(r, -EINVAL);
		assert_non_null(strstr(err.msg, cases[i].reason));
		assert_non_null(strstr(err.msg, "WWW-Authenticate"));
		assert_null(ch.scheme);
	}
	struct auth_challenge ch = { 0 };
	assert_int_equal(auth_challenge_parse(NULL, &ch, NULL), -EINVAL);
}

/* ---------------------------------------------------------------- config.json */

struct tmp {
	char dir[PATH_MAX];
	char cfg[PATH_MAX + 64];
};

static int setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));
	strcpy(t->dir, "/tmp/berth-auth.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->cfg, sizeof(t->cfg), "%s/config.json", t->dir);
	berth_log_set_stderr(false);   /* the helper warnings are expected */
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tmp *t = *state;
	berth_rm_rf(t->dir);
	free(t);
	return 0;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static json_t *load(const char *path)
{
	json_error_t jerr;
	json_t *j = json_load_file(path, 0, &jerr);
	if (!j)
		print_error("%s: %s\n", path, jerr.text);
	assert_non_null(j);
	return j;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void lookup_expect(const char *path, const char *registry, const char *user, const char *pass,
			  const char *token)
{
	struct auth_creds c = { 0 };
	struct berth_error err = { 0 };
	int r = auth_config_lookup(path, registry, &c, &err);
	if (r < 0)
		print_error("lookup %s: %s\n", registry, err.msg);
	assert_int_equal(r, 1);
	check_str(c.username, user);
	check_str(c.password, pass);
	check_str(c.identity_token, token);
	auth_creds_clear(&c);
	assert_null(c.username);
}

static void lookup_none(const char *path, const char *registry)
{
	struct auth_creds c = { 0 };
	struct berth_error err = { 0 };
	assert_int_equal(auth_config_lookup(path, registry, &c, &err), 0);
	assert_null(c.username);
	assert_int_equal(err.code, 0);
}

static void lookup_reads_docker_keys(void **state)
{
	struct tmp *t = *state;
	write_text(t->cfg,
		   "{\"auths\": {\n"
		   "  \"https://index.docker.io/v1/\": {\"auth\": \"dXNlcjpwYXNz\"},\n"       /* user:pass */
		   "  \"localhost:5000\": {\"auth\": \"dXM6cDphOnNz\"},\n"                     /* us:p:a:ss */
		   "  \"https://myreg.example.com\": {\"auth\": \"YTpiYw\"},\n"                /* a:bc, unpadded */
		   "  \"http://plain:5000/v2/\": {\"username\": \"u2\", \"password\": \"p2\"},\n"
		   "  \"tok.example.com\": {\"identitytoken\": \"tkn\", \"auth\": \"dTo=\"},\n" /* u: */
		   "  \"helper.example.com\": {},\n"
		   "  \"MixedCase.Example.com\": {\"auth\": \"bTpu\"}\n"                       /* m:n */
		   "}, \"psFormat\": \"x\"}\n");
	lookup_expect(t->cfg, "docker.io", "user", "pass", NULL);
	lookup_expect(t->cfg, "registry-1.docker.io", "user", "pass", NULL);
	lookup_expect(t->cfg, "index.docker.io", "user", "pass", NULL);
	lookup_expect(t->cfg, "https://index.docker.io/v1/", "user", "pass", NULL);
	lookup_expect(t->cfg, "localhost:5000", "us", "p:a:ss", NULL);
	lookup_expect(t->cfg, "myreg.example.com", "a", "bc", NULL);
	lookup_expect(t->cfg, "plain:5000", "u2", "p2", NULL);
	lookup_expect(t->cfg, "tok.example.com", "u", "", "tkn");
	lookup_expect(t->cfg, "mixedcase.example.com", "m", "n", NULL);
	lookup_none(t->cfg, "localhost");        /* a port is part of the key */
	lookup_none(t->cfg, "plain");
	lookup_none(t->cfg, "other.example.com");
	lookup_none(t->cfg, "helper.example.com");   /* entry kept by a credential helper */
}

static void lookup_missing_or_empty_file(void **state)
{
	struct tmp *t = *state;
	lookup_none(t->cfg, "docker.io");
	write_text(t->cfg, " \n");
	lookup_none(t->cfg, "docker.io");
	write_text(t->cfg, "{\"credsStore\": \"desktop\"}");
	lookup_none(t->cfg, "docker.io");
}

static void lookup_errors_name_the_file(void **state)
{
	struct tmp *t = *state;
	static const struct { const char *text, *reason; } cases[] = {
		{ "{\"auths\": ", "invalid JSON" },
		{ "[]", "not a JSON object" },
		{ "{\"auths\": []}", "\"auths\" is not a JSON object" },
		{ "{\"auths\": {\"docker.io\": 1}}", "auths[\"docker.io\"] is not a JSON object" },
		{ "{\"auths\": {\"docker.io\": {\"auth\": \"!!!!\"}}}", "auths[\"docker.io\"].auth is not valid base64" },
		{ "{\"auths\": {\"docker.io\": {\"auth\": \"YWJj\"}}}", "is not base64(\"user:password\")" },
		{ "{\"auths\": {\"docker.io\": {\"auth\": \"YQ=Jj\"}}}", "not valid base64" },
		{ "{\"auths\": {\"docker.io\": {\"auth\": \"YWJjZ\"}}}", "not valid base64" },
		{ "{\"auths\": {\"docker.io\": {\"auth\": 5}}}", "auths[\"docker.io\"].auth is not a string" },
		{ "{\"auths\": {\"docker.io\": {\"username\": [], \"password\": \"x\"}}}", ".username is not a string" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		write_text(t->cfg, cases[i].text);
		struct auth_creds c = { 0 };
		struct berth_error err = { 0 };
		int r = auth_config_lookup(t->cfg, "docker.io", &c, &err);
		if (r != -EINVAL || !strstr(err.msg, cases[i].reason))
			print_error("case %zu: r=%d %s\n", i, r, err.msg);
		assert_int_equal(r, -EINVAL);
		assert_non_null(strstr(err.msg, t->cfg));
		assert_non_null(strstr(err.msg, cases[i].reason));
		assert_null(c.username);
	}
}

static void store_creates_private_file(void **state)
{
	struct tmp *t = *state;
	char path[PATH_MAX + 64], dir1[PATH_MAX + 64], dir2[PATH_MAX + 64];
	snprintf(dir1, sizeof(dir1), "%s/home", t->dir);
	snprintf(dir2, sizeof(dir2), "%s/home/.docker", t->dir);
	snprintf(path, sizeof(path), "%s/home/.docker/config.json", t->dir);
	struct berth_error err = { 0 };
	assert_int_equal(auth_config_store(path, "localhost:5000", "user", "pass", &err), 0);
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(mode_of(dir1), 0700);
	assert_int_equal(mode_of(dir2), 0700);
	lookup_expect(path, "localhost:5000", "user", "pass", NULL);

	json_t *j = load(path);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(j, "auths"), "localhost:5000"), "auth")),
			    "dXNlcjpwYXNz");
	json_decref(j);

	/* docker.io goes under docker's legacy key; odd bytes survive base64 */
	assert_int_equal(auth_config_store(path, "registry-1.docker.io", "me", "p@ss:w\xc3\xb6rd \"x\"", &err), 0);
	j = load(path);
	json_t *hub = json_object_get(json_object_get(j, "auths"), "https://index.docker.io/v1/");
	assert_non_null(hub);
	json_decref(j);
	lookup_expect(path, "docker.io", "me", "p@ss:w\xc3\xb6rd \"x\"", NULL);
	lookup_expect(path, "localhost:5000", "user", "pass", NULL);

	/* a second login replaces the entry (and drops a stale token) */
	write_text(path, "{\"auths\": {\"localhost:5000\": {\"auth\": \"dTpw\", \"identitytoken\": \"old\"}}}");
	assert_int_equal(auth_config_store(path, "localhost:5000", "new", "pw", &err), 0);
	lookup_expect(path, "localhost:5000", "new", "pw", NULL);

	/* sizes of every base64 tail */
	static const char *pw[] = { "", "a", "ab", "abc", "abcd" };
	for (size_t i = 0; i < ARRAY_SIZE(pw); i++) {
		assert_int_equal(auth_config_store(path, "q.example.com", "u", pw[i], &err), 0);
		lookup_expect(path, "q.example.com", "u", pw[i], NULL);
	}
}

static void store_keeps_other_keys(void **state)
{
	struct tmp *t = *state;
	write_text(t->cfg,
		   "{\"psFormat\": \"table {{.ID}}\", \"proxies\": {\"default\": {\"httpProxy\": \"http://p:3128\"}},"
		   " \"auths\": {\"other.io\": {\"auth\": \"bzpw\", \"email\": \"e@x\"}},"
		   " \"credHelpers\": {\"gcr.io\": \"gcloud\"}, \"n\": [1, 2.5, true, null]}");
	chmod(t->cfg, 0644);
	struct berth_error err = { 0 };
	assert_int_equal(auth_config_store(t->cfg, "gcr.io", "u", "p", &err), 0);
	assert_int_equal(mode_of(t->cfg), 0600);
	json_t *j = load(t->cfg);
	assert_string_equal(json_string_value(json_object_get(j, "psFormat")), "table {{.ID}}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(j, "proxies"), "default"),
							      "httpProxy")),
			    "http://p:3128");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "credHelpers"), "gcr.io")), "gcloud");
	json_t *other = json_object_get(json_object_get(j, "auths"), "other.io");
	assert_string_equal(json_string_value(json_object_get(other, "email")), "e@x");
	json_t *n = json_object_get(j, "n");
	assert_int_equal(json_array_size(n), 4);
	assert_int_equal(json_integer_value(json_array_get(n, 0)), 1);
	assert_true(json_is_true(json_array_get(n, 2)));
	json_decref(j);
	lookup_expect(t->cfg, "gcr.io", "u", "p", NULL);
	lookup_expect(t->cfg, "other.io", "o", "p", NULL);

	/* a malformed file is reported, never overwritten */
	write_text(t->cfg, "{\"auths\": {");
	assert_int_equal(auth_config_store(t->cfg, "gcr.io", "u", "p", &err), -EINVAL);
	assert_non_null(strstr(err.msg, t->cfg));
	_cleanup_free_ char *text = NULL;
	assert_int_equal(berth_read_file(t->cfg, &text, NULL), 0);
	assert_string_equal(text, "{\"auths\": {");
}

static void store_rejects_bad_input(void **state)
{
	struct tmp *t = *state;
	struct berth_error err = { 0 };
	assert_int_equal(auth_config_store(t->cfg, "r.io", "a:b", "p", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "must not contain ':'"));
	berth_error_clear(&err);
	assert_int_equal(auth_config_store(t->cfg, "r.io", "", "p", &err), -EINVAL);
	berth_error_clear(&err);
	assert_int_equal(auth_config_store(t->cfg, "", "u", "p", &err), -EINVAL);
	assert_int_equal(access(t->cfg, F_OK), -1);   /* nothing written */
}

static void store_through_symlink(void **state)
{
	struct tmp *t = *state;
	char real[PATH_MAX + 64];
	snprintf(real, sizeof(real), "%s/real.json", t->dir);
	write_text(real, "{\"x\": 1}");
	assert_int_equal(symlink("real.json", t->cfg), 0);
	struct berth_error err = { 0 };
	assert_int_equal(auth_config_store(t->cfg, "r.io", "u", "p", &err), 0);
	struct stat st;
	assert_int_equal(lstat(t->cfg, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(mode_of(real), 0600);
	lookup_expect(real, "r.io", "u", "p", NULL);
	json_t *j = load(real);
	assert_int_equal(json_integer_value(json_object_get(j, "x")), 1);
	json_decref(j);
}

static void erase_removes_every_form_of_the_host(void **state)
{
	struct tmp *t = *state;
	write_text(t->cfg,
		   "{\"auths\": {\"localhost:5000\": {\"auth\": \"dTpw\"}, \"https://localhost:5000\": {\"auth\": \"dTpw\"},"
		   " \"http://localhost:5000/v2/\": {}, \"localhost\": {\"auth\": \"dTpw\"},"
		   " \"https://index.docker.io/v1/\": {\"auth\": \"dTpw\"}}, \"keep\": true}");
	struct berth_error err = { 0 };
	assert_int_equal(auth_config_erase(t->cfg, "localhost:5000", &err), 0);
	json_t *j = load(t->cfg);
	json_t *auths = json_object_get(j, "auths");
	assert_int_equal(json_object_size(auths), 2);
	assert_non_null(json_object_get(auths, "localhost"));
	assert_non_null(json_object_get(auths, "https://index.docker.io/v1/"));
	assert_true(json_is_true(json_object_get(j, "keep")));
	json_decref(j);
	assert_int_equal(mode_of(t->cfg), 0600);
	lookup_none(t->cfg, "localhost:5000");

	assert_int_equal(auth_config_erase(t->cfg, "localhost:5000", &err), -ENOENT);
	assert_non_null(strstr(err.msg, "not logged in to localhost:5000"));

	assert_int_equal(auth_config_erase(t->cfg, "docker.io", NULL), 0);
	lookup_none(t->cfg, "docker.io");
	lookup_expect(t->cfg, "localhost", "u", "p", NULL);

	char missing[PATH_MAX + 64];
	snprintf(missing, sizeof(missing), "%s/nope/config.json", t->dir);
	assert_int_equal(auth_config_erase(missing, "docker.io", NULL), -ENOENT);
	assert_int_equal(access(missing, F_OK), -1);
}

static void config_path_precedence(void **state)
{
	char buf[PATH_MAX];
	setenv("REGISTRY_AUTH_FILE", "/a/auth.json", 1);
	setenv("DOCKER_CONFIG", "/b", 1);
	setenv("HOME", "/c", 1);
	assert_int_equal(auth_config_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/a/auth.json");
	unsetenv("REGISTRY_AUTH_FILE");
	assert_int_equal(auth_config_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/b/config.json");
	setenv("DOCKER_CONFIG", "", 1);
	assert_int_equal(auth_config_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/c/.docker/config.json");
	char small[8];
	assert_int_equal(auth_config_path(small, sizeof(small)), -ENAMETOOLONG);
	unsetenv("DOCKER_CONFIG");

	/* path NULL means the resolved path */
	struct tmp *t = *state;
	setenv("REGISTRY_AUTH_FILE", t->cfg, 1);
	assert_int_equal(auth_config_store(NULL, "z.io", "u", "p", NULL), 0);
	lookup_expect(t->cfg, "z.io", "u", "p", NULL);
	lookup_expect(NULL, "z.io", "u", "p", NULL);
	assert_int_equal(auth_config_erase(NULL, "z.io", NULL), 0);
	unsetenv("REGISTRY_AUTH_FILE");
}

/* ---------------------------------------------------------------- insecure registries */

static void insecure_registries(void **state)
{
	struct tmp *t = *state;
	char conf[PATH_MAX + 64];
	snprintf(conf, sizeof(conf), "%s/registries.json", t->dir);
	struct berth_error err = { 0 };
	assert_int_equal(registries_conf_insecure(conf, "myreg:5000", &err), 0);   /* missing file */

	write_text(conf, "{\"debug\": true, \"insecure-registries\": [\"myreg:5000\", \"other\", \"10.0.0.0/8\","
			 " \"fd00::/8\", \"192.168.1.7:5000\", \"172.16.0.0/12\"]}");
	static const struct { const char *host; int want; } cases[] = {
		{ "myreg:5000", 1 }, { "MyReg:5000", 1 }, { "myreg", 0 }, { "myreg:5001", 0 },
		{ "other", 1 }, { "other:5000", 0 }, { "10.1.2.3:5000", 1 }, { "10.1.2.3", 1 },
		{ "11.0.0.1", 0 }, { "[fd00::1]:5000", 1 }, { "[fd00::1]", 1 }, { "[fe80::1]:5000", 0 },
		{ "192.168.1.7:5000", 1 }, { "192.168.1.7", 0 }, { "172.31.255.255:1", 1 },
		{ "172.32.0.0:1", 0 }, { "docker.io", 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int r = registries_conf_insecure(conf, cases[i].host, &err);
		if (r != cases[i].want)
			print_error("host %s: %d (%s)\n", cases[i].host, r, err.msg);
		assert_int_equal(r, cases[i].want);
	}

	write_text(conf, "{}");
	assert_int_equal(registries_conf_insecure(conf, "myreg:5000", &err), 0);

	setenv("BERTH_REGISTRIES_CONF", conf, 1);
	write_text(conf, "{\"insecure-registries\": [\"envreg\"]}");
	assert_int_equal(registries_conf_insecure(NULL, "envreg", &err), 1);
	unsetenv("BERTH_REGISTRIES_CONF");
}

static void insecure_registries_malformed(void **state)
{
	struct tmp *t = *state;
	char conf[PATH_MAX + 64];
	snprintf(conf, sizeof(conf), "%s/registries.json", t->dir);
	static const struct { const char *text, *reason; } cases[] = {
		{ "{\"insecure-registries\": [", "invalid JSON" },
		{ "[\"x\"]", "not a JSON object" },
		{ "{\"insecure-registries\": \"a\"}", "\"insecure-registries\" is not a JSON array" },
		{ "{\"insecure-registries\": [\"a\", 5]}", "insecure-registries[1] is not a string" },
		{ "{\"insecure-registries\": [\"\"]}", "insecure-registries[0] is empty" },
		{ "{\"insecure-registries\": [\"http://a\"]}", "must not contain a scheme" },
		{ "{\"insecure-registries\": [\"a b\"]}", "whitespace" },
		{ "{\"insecure-registries\": [\"10.0.0.0/33\"]}", "invalid CIDR" },
		{ "{\"insecure-registries\": [\"host/8\"]}", "invalid CIDR" },
		{ "{\"insecure-registries\": [\"10.0.0.0/\"]}", "invalid CIDR" },
		/* a bad entry is reported even after a match */
		{ "{\"insecure-registries\": [\"r\", \"::/129\"]}", "insecure-registries[1] \"::/129\": invalid CIDR" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		write_text(conf, cases[i].text);
		struct berth_error err = { 0 };
		int r = registries_conf_insecure(conf, "r", &err);
		if (r != -EINVAL || !strstr(err.msg, cases[i].reason))
			print_error("case %zu: r=%d %s\n", i, r, err.msg);
		assert_int_equal(r, -EINVAL);
		assert_non_null(strstr(err.msg, conf));
		assert_non_null(strstr(err.msg, cases[i].reason));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_challenges),
		cmocka_unit_test(rejects_bad_challenges),
		cmocka_unit_test_setup_teardown(lookup_reads_docker_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(lookup_missing_or_empty_file, setup, teardown),
		cmocka_unit_test_setup_teardown(lookup_errors_name_the_file, setup, teardown),
		cmocka_unit_test_setup_teardown(store_creates_private_file, setup, teardown),
		cmocka_unit_test_setup_teardown(store_keeps_other_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(store_rejects_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(store_through_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(erase_removes_every_form_of_the_host, setup, teardown),
		cmocka_unit_test_setup_teardown(config_path_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(insecure_registries, setup, teardown),
		cmocka_unit_test_setup_teardown(insecure_registries_malformed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
