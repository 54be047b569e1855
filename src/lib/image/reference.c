/* reference.c — docker-compatible image reference parsing and formatting.
 *
 * The grammar (distribution/reference):
 *   reference      := name [ ":" tag ] [ "@" digest ]
 *   name           := [domain "/"] path-component ["/" path-component]*
 *   domain         := host [":" port-number]
 *   host           := domain-name | "[" ipv6-chars "]"
 *   domain-name    := domain-component ["." domain-component]*
 *   domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
 *   port-number    := [0-9]+
 *   path-component := [a-z0-9]+ (separator [a-z0-9]+)*
 *   separator      := [_.] | "__" | "-"+
 *   tag            := [\w][\w.-]{0,127}
 * The split between domain and path is not decided by the grammar but by
 * docker's normalisation (see is_domain_like()), which is what users expect
 * "busybox" vs "localhost/busybox" vs "host:5000/busybox" to mean.
 */
#include "image/reference.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/digest.h"

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define DEFAULT_REGISTRY_HOST "registry-1.docker.io"
#define OFFICIAL_PREFIX "library/"
#define TAG_MAX 128

/* A reference comes from a command line or a file: keep it printable and
 * short in messages. */
static void quote_input(const char *s, char *buf, size_t len)
{
	size_t o = 0;
	for (const char *p = s; *p && o + 4 < len; p++)
		buf[o++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	if (s[o] && o + 4 >= len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
}

static int ref_err(struct berth_error *err, const char *s, const char *reason)
{
	char q[160];
	quote_input(s, q, sizeof(q));
	return berth_err(err, EINVAL, "reference \"%s\": invalid reference format%s%s", q,
			 reason ? ": " : "", reason ? reason : "");
}

static int ref_oom(struct berth_error *err, const char *s)
{
	char q[160];
	quote_input(s, q, sizeof(q));
	return berth_err(err, ENOMEM, "reference \"%s\": out of memory", q);
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
	return is_alnum(c) || c == '_';
}

static bool is_hex_lower(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool has_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			return true;
	return false;
}

/* path-component over s[0..n) */
static bool valid_path_component(const char *s, size_t n)
{
	size_t i = 0;
	if (n == 0 || !is_lower_alnum(s[0]))
		return false;
	while (i < n) {
		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == n)
			return true;
		/* separator, then at least one alnum must follow */
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i == n || !is_lower_alnum(s[i]))
			return false;
	}
	return true;
}

static bool valid_path(const char *s)
{
	const char *p = s;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t) (slash - p) : strlen(p);
		if (!valid_path_component(p, n))
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

static bool valid_domain_component(const char *s, size_t n)
{
	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool valid_domain(const char *s)
{
	const char *p = s;
	if (*p == '[') {
		/* docker's IPv6 form is deliberately loose: hex digits and colons */
		const char *close = strchr(p, ']');
		if (!close || close == p + 1)
			return false;
		for (const char *c = p + 1; c < close; c++)
			if (!is_hex_lower(*c) && !(*c >= 'A' && *c <= 'F') && *c != ':')
				return false;
		p = close + 1;
	} else {
		for (;;) {
			size_t n = strcspn(p, ".:");
			if (!valid_domain_component(p, n))
				return false;
			p += n;
			if (*p != '.')
				break;
			p++;
		}
	}
	if (*p == '\0')
		return true;
	if (*p != ':' || p[1] == '\0')
		return false;
	for (p++; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

bool image_ref_tag_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TAG_MAX || !is_word(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* docker's rule for "is the first component a registry?" */
static bool is_domain_like(const char *s, size_t n)
{
	if (memchr(s, '.', n) || memchr(s, ':', n))
		return true;
	if (n == strlen("localhost") && memcmp(s, "localhost", n) == 0)
		return true;
	return has_upper(s, n);
}

int image_ref_parse(const char *s, struct image_ref *out, struct berth_error *err)
{
	if (!s || !*s)
		return berth_err(err, EINVAL,
				 "invalid reference format: repository name must have at least one component (empty reference)");

	size_t slen = strlen(s);
	if (slen == 64) {
		bool all_hex = true;
		for (size_t i = 0; i < slen && all_hex; i++)
			all_hex = is_hex_lower(s[i]);
		if (all_hex)
			return berth_err(err, EINVAL,
					 "reference \"%s\": invalid repository name, cannot specify 64-byte hexadecimal strings",
					 s);
	}

	_cleanup_free_ char *name = strdup(s);
	if (!name)
		return ref_oom(err, s);

	char *digest = NULL;
	char *at = strchr(name, '@');
	if (at) {
		*at = '\0';
		digest = at + 1;
		if (!*digest)
			return ref_err(err, s, "empty digest");
	}
	if (!*name)
		return ref_err(err, s, "repository name must have at least one component");

	const char *domain = DEFAULT_DOMAIN;
	char *remainder = name;
	char *slash = strchr(name, '/');
	if (slash && is_domain_like(name, (size_t) (slash - name))) {
		*slash = '\0';
		domain = name;
		remainder = slash + 1;
		if (strcmp(domain, LEGACY_DEFAULT_DOMAIN) == 0)
			domain = DEFAULT_DOMAIN;
	}

	/* A path never holds ':', so the first one in the remainder starts the tag. */
	char *tag = NULL;
	char *colon = strchr(remainder, ':');
	if (colon) {
		*colon = '\0';
		tag = colon + 1;
	}
	const char *path = remainder;

	/* docker checks case before the grammar so that "Busybox" gets the helpful reason */
	if (has_upper(path, strlen(path)))
		return ref_err(err, s, "repository name must be lowercase");
	if (domain == name && !valid_domain(domain))
		return ref_err(err, s, "invalid registry domain");
	if (!valid_path(path))
		return ref_err(err, s, NULL);
	if (tag && !image_ref_tag_valid(tag))
		return ref_err(err, s, "invalid tag");

	bool official = strcmp(domain, DEFAULT_DOMAIN) == 0 && !strchr(path, '/');
	size_t name_len = strlen(domain) + 1 + (official ? strlen(OFFICIAL_PREFIX) : 0) + strlen(path);
	if (name_len > IMAGE_REF_NAME_MAX) {
		char q[160];
		quote_input(s, q, sizeof(q));
		return berth_err(err, EINVAL,
				 "reference \"%s\": invalid reference format: repository name too long (%zu characters, at most %d)",
				 q, name_len, IMAGE_REF_NAME_MAX);
	}
	if (digest) {
		char q[160], what[200];
		quote_input(s, q, sizeof(q));
		snprintf(what, sizeof(what), "reference \"%s\"", q);
		int r = berth_digest_check(digest, what, err);
		if (r < 0)
			return r;
	}

	struct image_ref ref = { 0 };
	ref.domain = strdup(domain);
	if (official) {
		if (asprintf(&ref.path, OFFICIAL_PREFIX "%s", path) < 0)
			ref.path = NULL;
	} else {
		ref.path = strdup(path);
	}
	if (tag)
		ref.tag = strdup(tag);
	else if (!digest)
		ref.tag = strdup("latest");
	if (digest)
		ref.digest = strdup(digest);
	if (!ref.domain || !ref.path || (!ref.tag && (tag || !digest)) || (digest && !ref.digest)) {
		image_ref_clear(&ref);
		return ref_oom(err, s);
	}
	*out = ref;
	return 0;
}

void image_ref_clear(struct image_ref *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	*r = (struct image_ref) { 0 };
}

char *image_ref_repo(const struct image_ref *r)
{
	char *s;
	if (asprintf(&s, "%s/%s", r->domain, r->path) < 0)
		return NULL;
	return s;
}

static char *with_tag_digest(const char *name, const struct image_ref *r)
{
	char *s;
	if (asprintf(&s, "%s%s%s%s%s", name, r->tag ? ":" : "", r->tag ? r->tag : "",
		     r->digest ? "@" : "", r->digest ? r->digest : "") < 0)
		return NULL;
	return s;
}

char *image_ref_string(const struct image_ref *r)
{
	_cleanup_free_ char *repo = image_ref_repo(r);
	return repo ? with_tag_digest(repo, r) : NULL;
}

char *image_ref_familiar_repo(const struct image_ref *r)
{
	if (strcmp(r->domain, DEFAULT_DOMAIN) != 0)
		return image_ref_repo(r);
	const char *p = r->path;
	/* "library/x" shortens to "x", but "library/x/y" must keep its prefix or it
	 * would read back as "docker.io/x/y" */
	if (strncmp(p, OFFICIAL_PREFIX, strlen(OFFICIAL_PREFIX)) == 0 &&
	    !strchr(p + strlen(OFFICIAL_PREFIX), '/'))
		p += strlen(OFFICIAL_PREFIX);
	/* "docker.io/x.y/z" can not drop its domain: "x.y/z" would name host x.y
	 * (docker's FamiliarName gets this wrong) */
	const char *slash = strchr(p, '/');
	if (slash && is_domain_like(p, (size_t) (slash - p)))
		return image_ref_repo(r);
	return strdup(p);
}

char *image_ref_familiar(const struct image_ref *r)
{
	_cleanup_free_ char *repo = image_ref_familiar_repo(r);
	return repo ? with_tag_digest(repo, r) : NULL;
}

const char *image_ref_registry_host(const struct image_ref *r)
{
	if (strcmp(r->domain, DEFAULT_DOMAIN) == 0)
		return DEFAULT_REGISTRY_HOST;
	return r->domain;
}

bool image_ref_looks_like_id(const char *s)
{
	if (!s)
		return false;
	if (strncmp(s, "sha256:", 7) == 0) {
		s += 7;
		if (strlen(s) != 64)
			return false;
	}
	size_t n = strlen(s);
	if (n < 3 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_hex_lower(s[i]))
			return false;
	return true;
}
