#include "spec/image.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "core/cleanup.h"
#include "core/digest.h"

/* ------------------------------------------------------------------ media types */

struct mt_entry {
	const char *name;
	struct image_mt_info info;
};

static const struct mt_entry media_types[] = {
	{ MT_OCI_INDEX,        { MT_KIND_INDEX,    IMAGE_COMP_NONE, false, false } },
	{ MT_OCI_MANIFEST,     { MT_KIND_MANIFEST, IMAGE_COMP_NONE, false, false } },
	{ MT_OCI_CONFIG,       { MT_KIND_CONFIG,   IMAGE_COMP_NONE, false, false } },
	{ MT_OCI_LAYER,        { MT_KIND_LAYER,    IMAGE_COMP_NONE, false, false } },
	{ MT_OCI_LAYER_GZ,     { MT_KIND_LAYER,    IMAGE_COMP_GZIP, false, false } },
	{ MT_OCI_LAYER_ZST,    { MT_KIND_LAYER,    IMAGE_COMP_ZSTD, false, false } },
	{ MT_OCI_LAYER_ND,     { MT_KIND_LAYER,    IMAGE_COMP_NONE, true,  false } },
	{ MT_OCI_LAYER_ND_GZ,  { MT_KIND_LAYER,    IMAGE_COMP_GZIP, true,  false } },
	{ MT_OCI_LAYER_ND_ZST, { MT_KIND_LAYER,    IMAGE_COMP_ZSTD, true,  false } },
	{ MT_DOCKER_LIST,      { MT_KIND_INDEX,    IMAGE_COMP_NONE, false, true } },
	{ MT_DOCKER_MANIFEST,  { MT_KIND_MANIFEST, IMAGE_COMP_NONE, false, true } },
	{ MT_DOCKER_CONFIG,    { MT_KIND_CONFIG,   IMAGE_COMP_NONE, false, true } },
	{ MT_DOCKER_LAYER,     { MT_KIND_LAYER,    IMAGE_COMP_GZIP, false, true } },
	{ MT_DOCKER_FOREIGN,   { MT_KIND_LAYER,    IMAGE_COMP_GZIP, true,  true } },
	/* Uncompressed Docker layers: rare, but some tools (and docker save) emit them. */
	{ "application/vnd.docker.image.rootfs.diff.tar",         { MT_KIND_LAYER, IMAGE_COMP_NONE, false, true } },
	{ "application/vnd.docker.image.rootfs.foreign.diff.tar", { MT_KIND_LAYER, IMAGE_COMP_NONE, true,  true } },
};

/* Length of the media type proper: a Content-Type may carry "; charset=..."
 * and surrounding blanks. */
static size_t mt_base(const char *mt, const char **start)
{
	while (*mt == ' ' || *mt == '\t')
		mt++;
	size_t n = strcspn(mt, ";");
	while (n > 0 && (mt[n - 1] == ' ' || mt[n - 1] == '\t'))
		n--;
	*start = mt;
	return n;
}

static bool mt_equal(const char *mt, const char *name)
{
	const char *s;
	size_t n = mt_base(mt, &s);
	return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

static bool mt_is_schema1(const char *mt)
{
	return mt_equal(mt, MT_DOCKER_SCHEMA1) || mt_equal(mt, MT_DOCKER_SCHEMA1_SIGNED);
}

int image_media_type_info(const char *mt, struct image_mt_info *out)
{
	if (!mt)
		return -ENOTSUP;
	for (size_t i = 0; i < ARRAY_SIZE(media_types); i++) {
		if (mt_equal(mt, media_types[i].name)) {
			*out = media_types[i].info;
			return 0;
		}
	}
	return -ENOTSUP;
}

/* Canonical spelling of a known media type (the table's), or NULL. */
static const char *mt_canonical(const char *mt)
{
	for (size_t i = 0; mt && i < ARRAY_SIZE(media_types); i++)
		if (mt_equal(mt, media_types[i].name))
			return media_types[i].name;
	return NULL;
}

static enum image_mt_kind mt_kind(const char *mt)
{
	struct image_mt_info info;
	return image_media_type_info(mt, &info) == 0 ? info.kind : MT_KIND_UNKNOWN;
}

/* ------------------------------------------------------------------ errors */

struct ctx {
	const char *what;
	struct berth_error *err;
};

static int fail(const struct ctx *c, int code, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(const struct ctx *c, int code, const char *path, const char *fmt, ...)
{
	char msg[BERTH_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (path && path[0])
		return berth_err(c->err, code, "%s: %s: %s", c->what, path, msg);
	return berth_err(c->err, code, "%s: %s", c->what, msg);
}

static int oom(const struct ctx *c, const char *path)
{
	return fail(c, ENOMEM, path, "out of memory");
}

/* Printable, bounded rendering of untrusted text for messages. */
static void quote(const char *s, char *buf, size_t size)
{
	size_t o = 0, i;
	for (i = 0; s[i] && i < 100 && o + 5 < size; i++) {
		unsigned char ch = (unsigned char) s[i];
		if (ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char) ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			o += (size_t) snprintf(buf + o, size - o, "\\x%02x", ch);
		} else {
			buf[o++] = (char) ch;
		}
	}
	buf[o] = '\0';
	if (s[i] && o + 4 < size)
		memcpy(buf + o, "...", 4);
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a value";
}

static void join_path(char *buf, size_t size, const char *base, const char *key)
{
	if (base && base[0])
		snprintf(buf, size, "%s.%s", base, key);
	else
		snprintf(buf, size, "%s", key);
}

/* path["key"], with the key (from the document) quoted */
static void key_path(char *buf, size_t size, const char *path, const char *key)
{
	char q[128];
	quote(key, q, sizeof(q));
	snprintf(buf, size, "%s[\"%s\"]", path, q);
}

#define SCHEMA1_UNSUPPORTED                                                                              \
	"unsupported Docker schema1 manifest (schemaVersion 1); only schemaVersion 2 (OCI or Docker schema2) " \
	"is supported, re-push the image with a current client"

/* ------------------------------------------------------------------ field readers */

static int load_object(const char *buf, size_t len, const struct ctx *c, json_t **out)
{
	json_error_t jerr;
	if (!buf)
		return fail(c, EINVAL, NULL, "no document");
	/* Duplicate keys are refused: two parsers reading different values from
	 * one signed document is a classic confusion attack. */
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(c, EINVAL, NULL, "invalid JSON at line %d column %d: %s", jerr.line,
			    jerr.column, jerr.text);
	if (!json_is_object(root)) {
		const char *t = json_type_name(root);
		json_decref(root);
		return fail(c, EINVAL, NULL, "must be a JSON object, not %s", t);
	}
	*out = root;
	return 0;
}

/* Optional string member: absent or null leaves *out NULL. */
static int get_string(const struct ctx *c, json_t *obj, const char *key, const char *base, bool required,
		      char **out)
{
	char path[256];
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		if (!required)
			return 0;
		join_path(path, sizeof(path), base, key);
		return fail(c, EINVAL, path, "missing");
	}
	if (!json_is_string(v)) {
		join_path(path, sizeof(path), base, key);
		return fail(c, EINVAL, path, "must be a string, not %s", json_type_name(v));
	}
	if (required && json_string_length(v) == 0) {
		join_path(path, sizeof(path), base, key);
		return fail(c, EINVAL, path, "must not be empty");
	}
	*out = strdup(json_string_value(v));
	if (!*out) {
		join_path(path, sizeof(path), base, key);
		return oom(c, path);
	}
	return 0;
}

/* Optional array of strings; absent or null gives n == 0 and *out NULL, and
 * *present tells the two apart from an empty array. */
static int get_strv(const struct ctx *c, json_t *obj, const char *key, const char *base, char ***out,
		    size_t *n, bool *present)
{
	char path[256];
	join_path(path, sizeof(path), base, key);
	json_t *v = json_object_get(obj, key);
	if (present)
		*present = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return fail(c, EINVAL, path, "must be an array of strings, not %s", json_type_name(v));
	size_t cnt = json_array_size(v);
	char **vec = calloc(cnt + 1, sizeof(char *));
	if (!vec)
		return oom(c, path);
	for (size_t i = 0; i < cnt; i++) {
		json_t *e = json_array_get(v, i);
		if (!json_is_string(e)) {
			berth_strv_freep(&vec);
			char sub[300];
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			return fail(c, EINVAL, sub, "must be a string, not %s", json_type_name(e));
		}
		vec[i] = strdup(json_string_value(e));
		if (!vec[i]) {
			berth_strv_freep(&vec);
			return oom(c, path);
		}
	}
	*out = vec;
	*n = cnt;
	if (present)
		*present = true;
	return 0;
}

/* Keys of an optional object ({"80/tcp": {}}), in document order. */
static int get_keys(const struct ctx *c, json_t *obj, const char *key, const char *base, char ***out,
		    size_t *n)
{
	char path[256];
	join_path(path, sizeof(path), base, key);
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return fail(c, EINVAL, path, "must be an object, not %s", json_type_name(v));
	size_t cnt = json_object_size(v), i = 0;
	char **vec = calloc(cnt + 1, sizeof(char *));
	if (!vec)
		return oom(c, path);
	const char *k;
	json_t *val;
	json_object_foreach(v, k, val) {
		if (!json_is_object(val) && !json_is_null(val)) {
			berth_strv_freep(&vec);
			char sub[450];
			key_path(sub, sizeof(sub), path, k);
			return fail(c, EINVAL, sub, "must be an object, not %s", json_type_name(val));
		}
		vec[i] = strdup(k);
		if (!vec[i]) {
			berth_strv_freep(&vec);
			return oom(c, path);
		}
		i++;
	}
	*out = vec;
	*n = cnt;
	return 0;
}

/* Optional object whose values are all strings (annotations, labels); the
 * returned pointer is borrowed from the document. */
static int get_string_map(const struct ctx *c, json_t *obj, const char *key, const char *base, json_t **out)
{
	char path[256];
	join_path(path, sizeof(path), base, key);
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return fail(c, EINVAL, path, "must be an object, not %s", json_type_name(v));
	const char *k;
	json_t *val;
	json_object_foreach(v, k, val) {
		if (!json_is_string(val)) {
			char sub[450];
			key_path(sub, sizeof(sub), path, k);
			return fail(c, EINVAL, sub, "must be a string, not %s", json_type_name(val));
		}
	}
	*out = v;
	return 0;
}

static int get_schema_version(const struct ctx *c, json_t *root, int *out)
{
	json_t *v = json_object_get(root, "schemaVersion");
	if (!v)
		return fail(c, EINVAL, "schemaVersion", "missing");
	if (!json_is_integer(v))
		return fail(c, EINVAL, "schemaVersion", "must be an integer, not %s", json_type_name(v));
	json_int_t sv = json_integer_value(v);
	if (sv == 1)
		return fail(c, ENOTSUP, "schemaVersion", SCHEMA1_UNSUPPORTED);
	if (sv != 2)
		return fail(c, ENOTSUP, "schemaVersion", "unsupported schemaVersion %lld (expected 2)",
			    (long long) sv);
	*out = 2;
	return 0;
}

/* ------------------------------------------------------------------ platforms */

struct arch_alias {
	const char *name;
	const char *arch;
	const char *variant;    /* implied variant, NULL for none */
};

/* uname machine strings and distribution spellings -> GOARCH (+ variant). */
static const struct arch_alias arch_aliases[] = {
	{ "x86_64", "amd64", NULL },  { "x86-64", "amd64", NULL }, { "amd64", "amd64", NULL },
	{ "aarch64", "arm64", "v8" }, { "arm64", "arm64", NULL },  { "armv8l", "arm64", "v8" },
	{ "armhf", "arm", "v7" },     { "armel", "arm", "v6" },    { "arm", "arm", NULL },
	{ "armv7l", "arm", "v7" },    { "armv7", "arm", "v7" },    { "armv7hl", "arm", "v7" },
	{ "armv6l", "arm", "v6" },    { "armv6", "arm", "v6" },    { "armv5tel", "arm", "v5" },
	{ "armv5tejl", "arm", "v5" }, { "armv5l", "arm", "v5" },
	{ "i386", "386", NULL },      { "i486", "386", NULL },     { "i586", "386", NULL },
	{ "i686", "386", NULL },      { "x86", "386", NULL },      { "386", "386", NULL },
	{ "ppc64le", "ppc64le", NULL }, { "ppc64el", "ppc64le", NULL }, { "ppc64", "ppc64", NULL },
	{ "s390x", "s390x", NULL },   { "riscv64", "riscv64", NULL },
	{ "loongarch64", "loong64", NULL }, { "loong64", "loong64", NULL },
	{ "mips64", "mips64", NULL }, { "mips64le", "mips64le", NULL }, { "mips64el", "mips64le", NULL },
	{ "mips", "mips", NULL },     { "mipsle", "mipsle", NULL }, { "mipsel", "mipsle", NULL },
	{ "wasm", "wasm", NULL },
};

static const char *const known_oses[] = {
	"linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "dragonfly", "solaris",
	"illumos", "aix", "android", "ios", "plan9", "js", "wasip1", "zos",
};

static const struct arch_alias *arch_lookup(const char *s)
{
	for (size_t i = 0; s && i < ARRAY_SIZE(arch_aliases); i++)
		if (strcasecmp(arch_aliases[i].name, s) == 0)
			return &arch_aliases[i];
	return NULL;
}

static bool os_known(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(known_oses); i++)
		if (strcasecmp(known_oses[i], s) == 0)
			return true;
	return false;
}

/* The variant an image for `arch` has when it names none. */
static const char *default_variant(const char *arch)
{
	if (!arch)
		return NULL;
	if (strcmp(arch, "arm64") == 0)
		return "v8";
	if (strcmp(arch, "arm") == 0)
		return "v7";
	return NULL;
}

static bool str_eq_ci(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcasecmp(a, b) == 0;
}

/* "8" and "V8" mean "v8". */
static bool variant_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	if (*a == 'v' || *a == 'V')
		a++;
	if (*b == 'v' || *b == 'V')
		b++;
	return strcasecmp(a, b) == 0;
}

static const char *norm_arch(const char *arch)
{
	const struct arch_alias *a = arch_lookup(arch);
	return a ? a->arch : arch;
}

/* The variant `p` effectively has: its own, else the one its architecture
 * spelling implies (aarch64), else the architecture's default. */
static const char *effective_variant(const struct image_platform *p)
{
	if (p->variant && p->variant[0])
		return p->variant;
	const struct arch_alias *a = arch_lookup(p->architecture);
	if (a && a->variant)
		return a->variant;
	return default_variant(norm_arch(p->architecture));
}

void image_platform_clear(struct image_platform *p)
{
	if (!p)
		return;
	free(p->os);
	free(p->architecture);
	free(p->variant);
	free(p->os_version);
	memset(p, 0, sizeof(*p));
}

static int set_platform(struct image_platform *out, const char *os, const char *arch, const char *variant)
{
	struct image_platform p = { 0 };
	p.os = strdup(os);
	p.architecture = strdup(arch);
	p.variant = variant ? strdup(variant) : NULL;
	if (!p.os || !p.architecture || (variant && !p.variant)) {
		image_platform_clear(&p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

int image_platform_from_machine(const char *machine, struct image_platform *out)
{
	const struct arch_alias *a = arch_lookup(machine);
	const char *arch = a ? a->arch : (machine && machine[0] ? machine : "unknown");
	const char *variant = a ? a->variant : NULL;
	if (!variant)
		variant = default_variant(arch);
	return set_platform(out, "linux", arch, variant);
}

void image_platform_host(struct image_platform *out)
{
	struct utsname u;
	memset(out, 0, sizeof(*out));
	if (uname(&u) < 0)
		u.machine[0] = '\0';
	/* Only allocation can fail; the fields then stay NULL and nothing matches. */
	(void) image_platform_from_machine(u.machine, out);
}

char *image_platform_string(const struct image_platform *p)
{
	char *s = NULL;
	int r;
	if (!p)
		return NULL;
	const char *os = p->os ? p->os : "unknown";
	const char *arch = p->architecture ? p->architecture : "unknown";
	if (p->variant && p->variant[0])
		r = asprintf(&s, "%s/%s/%s", os, arch, p->variant);
	else
		r = asprintf(&s, "%s/%s", os, arch);
	return r < 0 ? NULL : s;
}

static bool platform_component_ok(const char *s, size_t n)
{
	/* Starting with a letter or digit keeps "." and ".." out. */
	if (n == 0 || n > 64 || !isalnum((unsigned char) s[0]))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!(isalnum((unsigned char) ch) || ch == '_' || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

static char *lower_dup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	for (char *p = d; p && *p; p++)
		*p = (char) tolower((unsigned char) *p);
	return d;
}

int image_platform_parse(const char *s, struct image_platform *out, struct berth_error *err)
{
	char q[512];
	if (!s)
		return berth_err(err, EINVAL, "platform: missing");
	quote(s, q, sizeof(q));

	const char *parts[4];
	size_t lens[4], n = 0;
	const char *p = s;
	for (;;) {
		size_t l = strcspn(p, "/");
		if (n == 3)
			return berth_err(err, EINVAL, "platform \"%s\": too many components (expected os/arch[/variant])", q);
		if (!platform_component_ok(p, l))
			return berth_err(err, EINVAL,
					 "platform \"%s\": component %zu is empty or has characters other than "
					 "letters, digits, '_', '-', '.' or does not start with a letter or digit "
					 "(expected os/arch[/variant])",
					 q, n + 1);
		parts[n] = p;
		lens[n++] = l;
		if (!p[l])
			break;
		p += l + 1;
	}

	_cleanup_free_ char *a = lower_dup(parts[0], lens[0]);
	_cleanup_free_ char *b = n > 1 ? lower_dup(parts[1], lens[1]) : NULL;
	_cleanup_free_ char *v = n > 2 ? lower_dup(parts[2], lens[2]) : NULL;
	if (!a || (n > 1 && !b) || (n > 2 && !v))
		return berth_err(err, ENOMEM, "platform \"%s\": out of memory", q);

	const char *os, *arch_in;
	_cleanup_(image_platform_clearp) struct image_platform host = { 0 };
	if (n == 1) {
		if (os_known(a)) {
			image_platform_host(&host);
			if (!host.architecture)
				return berth_err(err, ENOMEM, "platform \"%s\": out of memory", q);
			os = a;
			arch_in = host.architecture;
			if (host.variant)
				v = strdup(host.variant);
			if (host.variant && !v)
				return berth_err(err, ENOMEM, "platform \"%s\": out of memory", q);
		} else if (arch_lookup(a)) {
			os = "linux";
			arch_in = a;
		} else {
			return berth_err(err, EINVAL,
					 "platform \"%s\": unknown operating system or architecture "
					 "(expected os/arch[/variant], e.g. linux/arm64)", q);
		}
	} else {
		os = a;
		arch_in = b;
	}

	const struct arch_alias *al = arch_lookup(arch_in);
	const char *arch = al ? al->arch : arch_in;
	const char *variant = v ? v : (al ? al->variant : NULL);
	/* Variants are spelled "v7"/"v8": accept the bare number docker also takes. */
	_cleanup_free_ char *vfix = NULL;
	if (variant && isdigit((unsigned char) variant[0])) {
		if (asprintf(&vfix, "v%s", variant) < 0)
			return berth_err(err, ENOMEM, "platform \"%s\": out of memory", q);
		variant = vfix;
	}
	if (set_platform(out, os, arch, variant) < 0)
		return berth_err(err, ENOMEM, "platform \"%s\": out of memory", q);
	return 0;
}

bool image_platform_match(const struct image_platform *want, const struct image_platform *have)
{
	if (!want || !have || !want->os || !want->architecture || !have->os || !have->architecture)
		return false;
	if (!str_eq_ci(want->os, have->os))
		return false;
	if (!str_eq_ci(norm_arch(want->architecture), norm_arch(have->architecture)))
		return false;
	if (want->os_version && want->os_version[0] && !str_eq_ci(want->os_version, have->os_version))
		return false;
	if (want->variant && want->variant[0]) {
		const char *hv = effective_variant(have);
		if (!hv || !variant_eq(want->variant, hv))
			return false;
	}
	return true;
}

/* buildkit stores provenance/SBOM attestations as index entries with the
 * platform unknown/unknown; they are never runnable images. */
static bool is_attestation(const struct image_descriptor *d)
{
	if (d->has_platform && d->platform.os && d->platform.architecture &&
	    strcmp(d->platform.os, "unknown") == 0 && strcmp(d->platform.architecture, "unknown") == 0)
		return true;
	json_t *t = d->annotations ? json_object_get(d->annotations, "vnd.docker.reference.type") : NULL;
	return t && json_is_string(t) && strcmp(json_string_value(t), "attestation-manifest") == 0;
}

int image_index_select(const struct image_index *idx, const struct image_platform *want,
		       const struct image_descriptor **out, struct berth_error *err)
{
	if (!idx || !want || !want->os || !want->architecture)
		return berth_err(err, EINVAL, "image index selection: no platform given");

	/* Without a variant in `want`, the variant this host would pick for
	 * that architecture is preferred; other variants remain acceptable. */
	const char *preferred = NULL;
	_cleanup_(image_platform_clearp) struct image_platform host = { 0 };
	if (!want->variant || !want->variant[0]) {
		image_platform_host(&host);
		if (host.architecture && str_eq_ci(host.architecture, norm_arch(want->architecture)) &&
		    str_eq_ci(host.os, want->os))
			preferred = host.variant;
		else
			preferred = default_variant(norm_arch(want->architecture));
	}

	const struct image_descriptor *first = NULL, *best = NULL, *unplatformed = NULL;
	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct image_descriptor *d = &idx->manifests[i];
		if (is_attestation(d))
			continue;
		if (!d->has_platform) {
			/* OCI lets an index omit platforms; such an entry is a last
			 * resort, when no entry names a matching platform. */
			if (!unplatformed && mt_kind(d->media_type) == MT_KIND_MANIFEST)
				unplatformed = d;
			continue;
		}
		if (!image_platform_match(want, &d->platform))
			continue;
		if (!first)
			first = d;
		if (!best && (!want->variant || !want->variant[0])) {
			const char *ev = effective_variant(&d->platform);
			if (variant_eq(ev, preferred))
				best = d;
		}
	}
	const struct image_descriptor *pick = best ? best : first ? first : unplatformed;
	if (pick) {
		*out = pick;
		return 0;
	}

	_cleanup_free_ char *wants = image_platform_string(want);
	char avail[640] = "";
	size_t o = 0, shown = 0;
	for (size_t i = 0; i < idx->n_manifests && o < sizeof(avail) - 1; i++) {
		const struct image_descriptor *d = &idx->manifests[i];
		if (!d->has_platform || is_attestation(d))
			continue;
		_cleanup_free_ char *ps = image_platform_string(&d->platform);
		if (!ps)
			continue;
		char pq[256];
		quote(ps, pq, sizeof(pq));
		int r = snprintf(avail + o, sizeof(avail) - o, "%s%s", shown ? ", " : "", pq);
		if (r < 0)
			break;
		o += (size_t) r;
		shown++;
	}
	if (o >= sizeof(avail))
		memcpy(avail + sizeof(avail) - 4, "...", 4);
	return berth_err(err, ENOENT, "no manifest for platform %s in the image index (available: %s)",
			 wants ? wants : "?", shown ? avail : "none");
}

/* ------------------------------------------------------------------ descriptors */

static void descriptor_clear(struct image_descriptor *d)
{
	free(d->media_type);
	free(d->digest);
	berth_strv_freep(&d->urls);
	image_platform_clear(&d->platform);
	memset(d, 0, sizeof(*d));
}

static void descriptors_free(struct image_descriptor *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++)
		descriptor_clear(&d[i]);
	free(d);
}

static int parse_platform(const struct ctx *c, json_t *v, const char *path, struct image_platform *p)
{
	if (!json_is_object(v))
		return fail(c, EINVAL, path, "must be an object, not %s", json_type_name(v));
	int r;
	if ((r = get_string(c, v, "os", path, true, &p->os)) < 0 ||
	    (r = get_string(c, v, "architecture", path, true, &p->architecture)) < 0 ||
	    (r = get_string(c, v, "variant", path, false, &p->variant)) < 0 ||
	    (r = get_string(c, v, "os.version", path, false, &p->os_version)) < 0)
		return r;
	/* os.features is only type-checked: berth runs Linux images, where the
	 * spec defines no features. */
	_cleanup_strv_ char **features = NULL;
	size_t nf = 0;
	return get_strv(c, v, "os.features", path, &features, &nf, NULL);
}

static bool url_ok(const char *u)
{
	if (strncasecmp(u, "https://", 8) != 0 && strncasecmp(u, "http://", 7) != 0)
		return false;
	for (const char *p = u; *p; p++)
		if ((unsigned char) *p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int parse_descriptor(const struct ctx *c, json_t *v, const char *path, struct image_descriptor *d)
{
	char sub[256];
	int r;
	if (!json_is_object(v))
		return fail(c, EINVAL, path, "must be an object, not %s", json_type_name(v));
	if ((r = get_string(c, v, "mediaType", path, true, &d->media_type)) < 0 ||
	    (r = get_string(c, v, "digest", path, true, &d->digest)) < 0)
		return r;

	char dwhat[BERTH_ERROR_MSG_MAX];
	snprintf(dwhat, sizeof(dwhat), "%s: %s.digest", c->what, path);
	if ((r = berth_digest_check(d->digest, dwhat, c->err)) < 0)
		return r;

	json_t *sz = json_object_get(v, "size");
	join_path(sub, sizeof(sub), path, "size");
	if (!sz)
		return fail(c, EINVAL, sub, "missing");
	if (!json_is_integer(sz))
		return fail(c, EINVAL, sub, "must be an integer, not %s", json_type_name(sz));
	if (json_integer_value(sz) < 0)
		return fail(c, EINVAL, sub, "must not be negative (%lld)", (long long) json_integer_value(sz));
	d->size = (int64_t) json_integer_value(sz);

	if ((r = get_strv(c, v, "urls", path, &d->urls, &d->n_urls, NULL)) < 0)
		return r;
	for (size_t i = 0; i < d->n_urls; i++) {
		if (!url_ok(d->urls[i])) {
			char q[256];
			quote(d->urls[i], q, sizeof(q));
			snprintf(sub, sizeof(sub), "%s.urls[%zu]", path, i);
			return fail(c, EINVAL, sub, "\"%s\" is not an http:// or https:// URL", q);
		}
	}

	json_t *pl = json_object_get(v, "platform");
	if (pl && !json_is_null(pl)) {
		join_path(sub, sizeof(sub), path, "platform");
		if ((r = parse_platform(c, pl, sub, &d->platform)) < 0)
			return r;
		d->has_platform = true;
	}
	return get_string_map(c, v, "annotations", path, &d->annotations);
}

static int parse_descriptor_array(const struct ctx *c, json_t *root, const char *key,
				  struct image_descriptor **out, size_t *n)
{
	json_t *arr = json_object_get(root, key);
	if (!arr || json_is_null(arr))
		return fail(c, EINVAL, key, "missing");
	if (!json_is_array(arr))
		return fail(c, EINVAL, key, "must be an array, not %s", json_type_name(arr));
	size_t cnt = json_array_size(arr);
	if (cnt == 0)
		return 0;
	*out = calloc(cnt, sizeof(**out));
	if (!*out)
		return oom(c, key);
	*n = cnt;   /* set first: the free path clears every slot */
	for (size_t i = 0; i < cnt; i++) {
		char path[64];
		snprintf(path, sizeof(path), "%s[%zu]", key, i);
		int r = parse_descriptor(c, json_array_get(arr, i), path, &(*out)[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ------------------------------------------------------------------ document kind */

/* Decide the kind and media type of a manifest-ish document.  `field` is the
 * document's own mediaType (authoritative), then the transport's hint, then
 * the shape of the JSON. */
static int decide_kind(const struct ctx *c, json_t *root, const char *hint, enum image_mt_kind *kind,
		       const char **mt)
{
	json_t *f = json_object_get(root, "mediaType");
	if (f && !json_is_null(f)) {
		if (!json_is_string(f))
			return fail(c, EINVAL, "mediaType", "must be a string, not %s", json_type_name(f));
		const char *s = json_string_value(f);
		char q[256];
		quote(s, q, sizeof(q));
		if (mt_is_schema1(s))
			return fail(c, ENOTSUP, "mediaType",
				    "unsupported Docker schema1 manifest \"%s\"; only OCI and Docker schema2 "
				    "images are supported", q);
		enum image_mt_kind k = mt_kind(s);
		if (k != MT_KIND_INDEX && k != MT_KIND_MANIFEST)
			return fail(c, ENOTSUP, "mediaType", "unsupported media type \"%s\" (not an image manifest or index)", q);
		*kind = k;
		*mt = mt_canonical(s);
		return 0;
	}

	json_t *sv = json_object_get(root, "schemaVersion");
	if (json_is_integer(sv) && json_integer_value(sv) == 1)
		return fail(c, ENOTSUP, "schemaVersion", SCHEMA1_UNSUPPORTED);

	if (hint && hint[0]) {
		if (mt_is_schema1(hint))
			return fail(c, ENOTSUP, NULL,
				    "unsupported Docker schema1 manifest (Content-Type %s); only OCI and Docker "
				    "schema2 images are supported", MT_DOCKER_SCHEMA1);
		enum image_mt_kind k = mt_kind(hint);
		if (k == MT_KIND_INDEX || k == MT_KIND_MANIFEST) {
			*kind = k;
			*mt = mt_canonical(hint);
			return 0;
		}
		/* Anything else (application/json, text/plain from a file server)
		 * says nothing about the document. */
	}

	if (json_object_get(root, "manifests")) {
		*kind = MT_KIND_INDEX;
		*mt = MT_OCI_INDEX;
		return 0;
	}
	if (json_object_get(root, "config") && json_object_get(root, "layers")) {
		*kind = MT_KIND_MANIFEST;
		*mt = MT_OCI_MANIFEST;
		return 0;
	}
	return fail(c, EINVAL, NULL,
		    "not an image manifest or index (no mediaType, and neither \"manifests\" nor "
		    "\"config\" and \"layers\")");
}

int image_manifest_kind(const char *buf, size_t len, const char *media_type_hint, enum image_mt_kind *kind,
			char **media_type, struct berth_error *err)
{
	struct ctx c = { "manifest", err };
	json_t *root = NULL;
	int r = load_object(buf, len, &c, &root);
	if (r < 0)
		return r;
	const char *mt = NULL;
	enum image_mt_kind k = MT_KIND_UNKNOWN;
	r = decide_kind(&c, root, media_type_hint, &k, &mt);
	json_decref(root);
	if (r < 0)
		return r;
	if (media_type) {
		*media_type = strdup(mt);
		if (!*media_type)
			return berth_err(err, ENOMEM, "manifest: out of memory");
	}
	*kind = k;
	return 0;
}

/* ------------------------------------------------------------------ manifest */

void image_manifest_free(struct image_manifest *m)
{
	if (!m)
		return;
	free(m->media_type);
	descriptor_clear(&m->config);
	descriptors_free(m->layers, m->n_layers);
	json_decref(m->json);
	free(m);
}

static int parse_doc_kind(const struct ctx *c, json_t *root, const char *hint, enum image_mt_kind expected,
			  char **media_type)
{
	enum image_mt_kind k;
	const char *mt;
	int r = decide_kind(c, root, hint, &k, &mt);
	if (r < 0)
		return r;
	if (k != expected) {
		if (expected == MT_KIND_MANIFEST)
			return fail(c, EINVAL, "mediaType", "is an image index (%s), not a manifest", mt);
		return fail(c, EINVAL, "mediaType", "is an image manifest (%s), not an index", mt);
	}
	*media_type = strdup(mt);
	return *media_type ? 0 : oom(c, "mediaType");
}

int image_manifest_parse(const char *buf, size_t len, const char *media_type_hint, const char *what,
			 struct image_manifest **out, struct berth_error *err)
{
	struct ctx c = { what ? what : "manifest", err };
	_cleanup_manifest_ struct image_manifest *m = calloc(1, sizeof(*m));
	if (!m)
		return oom(&c, NULL);
	int r = load_object(buf, len, &c, &m->json);
	if (r < 0)
		return r;
	if ((r = parse_doc_kind(&c, m->json, media_type_hint, MT_KIND_MANIFEST, &m->media_type)) < 0 ||
	    (r = get_schema_version(&c, m->json, &m->schema_version)) < 0)
		return r;

	json_t *cfg = json_object_get(m->json, "config");
	if (!cfg || json_is_null(cfg))
		return fail(&c, EINVAL, "config", "missing");
	if ((r = parse_descriptor(&c, cfg, "config", &m->config)) < 0 ||
	    (r = parse_descriptor_array(&c, m->json, "layers", &m->layers, &m->n_layers)) < 0 ||
	    (r = get_string_map(&c, m->json, "annotations", NULL, &m->annotations)) < 0)
		return r;
	*out = steal_ptr(m);
	return 0;
}

/* ------------------------------------------------------------------ index */

void image_index_free(struct image_index *i)
{
	if (!i)
		return;
	free(i->media_type);
	descriptors_free(i->manifests, i->n_manifests);
	json_decref(i->json);
	free(i);
}

int image_index_parse(const char *buf, size_t len, const char *media_type_hint, const char *what,
		      struct image_index **out, struct berth_error *err)
{
	struct ctx c = { what ? what : "index", err };
	_cleanup_index_ struct image_index *x = calloc(1, sizeof(*x));
	if (!x)
		return oom(&c, NULL);
	int r = load_object(buf, len, &c, &x->json);
	if (r < 0)
		return r;
	if ((r = parse_doc_kind(&c, x->json, media_type_hint, MT_KIND_INDEX, &x->media_type)) < 0 ||
	    (r = get_schema_version(&c, x->json, &x->schema_version)) < 0 ||
	    (r = parse_descriptor_array(&c, x->json, "manifests", &x->manifests, &x->n_manifests)) < 0 ||
	    (r = get_string_map(&c, x->json, "annotations", NULL, &x->annotations)) < 0)
		return r;
	*out = steal_ptr(x);
	return 0;
}

/* ------------------------------------------------------------------ config */

void image_config_free(struct image_config *cf)
{
	if (!cf)
		return;
	free(cf->architecture);
	free(cf->os);
	free(cf->variant);
	free(cf->created);
	free(cf->author);
	free(cf->os_version);
	free(cf->user);
	free(cf->working_dir);
	free(cf->stop_signal);
	berth_strv_freep(&cf->env);
	berth_strv_freep(&cf->entrypoint);
	berth_strv_freep(&cf->cmd);
	berth_strv_freep(&cf->exposed_ports);
	berth_strv_freep(&cf->volumes);
	berth_strv_freep(&cf->diff_ids);
	json_decref(cf->json);
	free(cf);
}

static int parse_exec_config(const struct ctx *c, json_t *root, struct image_config *cf)
{
	json_t *ec = json_object_get(root, "config");
	/* Scratch images built from nothing carry no "config" (or null). */
	if (!ec || json_is_null(ec))
		return 0;
	if (!json_is_object(ec))
		return fail(c, EINVAL, "config", "must be an object, not %s", json_type_name(ec));
	int r;
	if ((r = get_string(c, ec, "User", "config", false, &cf->user)) < 0 ||
	    (r = get_string(c, ec, "WorkingDir", "config", false, &cf->working_dir)) < 0 ||
	    (r = get_string(c, ec, "StopSignal", "config", false, &cf->stop_signal)) < 0 ||
	    (r = get_strv(c, ec, "Env", "config", &cf->env, &cf->n_env, NULL)) < 0 ||
	    (r = get_strv(c, ec, "Entrypoint", "config", &cf->entrypoint, &cf->n_entrypoint,
			  &cf->has_entrypoint)) < 0 ||
	    (r = get_strv(c, ec, "Cmd", "config", &cf->cmd, &cf->n_cmd, &cf->has_cmd)) < 0 ||
	    (r = get_keys(c, ec, "ExposedPorts", "config", &cf->exposed_ports, &cf->n_exposed_ports)) < 0 ||
	    (r = get_keys(c, ec, "Volumes", "config", &cf->volumes, &cf->n_volumes)) < 0 ||
	    (r = get_string_map(c, ec, "Labels", "config", &cf->labels)) < 0)
		return r;
	return 0;
}

static int parse_rootfs(const struct ctx *c, json_t *root, struct image_config *cf)
{
	json_t *rf = json_object_get(root, "rootfs");
	if (!rf || json_is_null(rf))
		return fail(c, EINVAL, "rootfs", "missing");
	if (!json_is_object(rf))
		return fail(c, EINVAL, "rootfs", "must be an object, not %s", json_type_name(rf));
	_cleanup_free_ char *type = NULL;
	int r = get_string(c, rf, "type", "rootfs", true, &type);
	if (r < 0)
		return r;
	if (strcmp(type, "layers") != 0) {
		char q[256];
		quote(type, q, sizeof(q));
		return fail(c, ENOTSUP, "rootfs.type", "unsupported value \"%s\" (expected \"layers\")", q);
	}
	json_t *ids = json_object_get(rf, "diff_ids");
	if (!ids || json_is_null(ids))
		return fail(c, EINVAL, "rootfs.diff_ids", "missing");
	if ((r = get_strv(c, rf, "diff_ids", "rootfs", &cf->diff_ids, &cf->n_diff_ids, NULL)) < 0)
		return r;
	for (size_t i = 0; i < cf->n_diff_ids; i++) {
		char dwhat[BERTH_ERROR_MSG_MAX];
		snprintf(dwhat, sizeof(dwhat), "%s: rootfs.diff_ids[%zu]", c->what, i);
		if ((r = berth_digest_check(cf->diff_ids[i], dwhat, c->err)) < 0)
			return r;
	}
	return 0;
}

int image_config_parse(const char *buf, size_t len, const char *what, struct image_config **out,
		       struct berth_error *err)
{
	struct ctx c = { what ? what : "image config", err };
	_cleanup_image_config_ struct image_config *cf = calloc(1, sizeof(*cf));
	if (!cf)
		return oom(&c, NULL);
	int r = load_object(buf, len, &c, &cf->json);
	if (r < 0)
		return r;
	if ((r = get_string(&c, cf->json, "architecture", NULL, false, &cf->architecture)) < 0 ||
	    (r = get_string(&c, cf->json, "os", NULL, false, &cf->os)) < 0 ||
	    (r = get_string(&c, cf->json, "variant", NULL, false, &cf->variant)) < 0 ||
	    (r = get_string(&c, cf->json, "os.version", NULL, false, &cf->os_version)) < 0 ||
	    (r = get_string(&c, cf->json, "created", NULL, false, &cf->created)) < 0 ||
	    (r = get_string(&c, cf->json, "author", NULL, false, &cf->author)) < 0 ||
	    (r = parse_exec_config(&c, cf->json, cf)) < 0 ||
	    (r = parse_rootfs(&c, cf->json, cf)) < 0)
		return r;
	*out = steal_ptr(cf);
	return 0;
}
