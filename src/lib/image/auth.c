/* auth.c — WWW-Authenticate challenges, docker config.json credentials,
 * insecure registry settings. */
#include "image/auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "core/log.h"

#define DOCKER_HUB_KEY "https://index.docker.io/v1/"
#define DEFAULT_REGISTRIES_CONF "/etc/berth/registries.json"

/* Values from the network or from files: printable and bounded in messages. */
static void quote_input(const char *s, char *buf, size_t len)
{
	size_t o = 0;
	for (const char *p = s; *p && o + 4 < len; p++)
		buf[o++] = ((unsigned char) *p >= 0x20 && (unsigned char) *p < 0x7f) ? *p : '?';
	if (s[o] && o + 4 >= len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
}

/* ---------------------------------------------------------------- challenges */

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_tchar(char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token68_char(char c)
{
	return is_alnum(c) || (c != '\0' && strchr("-._~+/", c));
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

struct chall_parser {
	const char *value;
	const char *p;
	struct berth_error *err;
};

static int chall_err(struct chall_parser *cp, const char *reason)
{
	char q[200];
	quote_input(cp->value, q, sizeof(q));
	return berth_err(cp->err, EINVAL, "WWW-Authenticate \"%s\": %s at offset %zu", q, reason,
			 (size_t) (cp->p - cp->value));
}

static void skip_ows(struct chall_parser *cp)
{
	while (is_ows(*cp->p))
		cp->p++;
}

static size_t token_len(const char *p)
{
	size_t n = 0;
	while (is_tchar(p[n]))
		n++;
	return n;
}

/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE, cp->p at the DQUOTE */
static int parse_quoted(struct chall_parser *cp, char **out)
{
	const char *start = ++cp->p;
	_cleanup_free_ char *buf = malloc(strlen(start) + 1);
	if (!buf)
		return -ENOMEM;
	size_t n = 0;
	for (;;) {
		unsigned char c = (unsigned char) *cp->p;
		if (c == '\0')
			return chall_err(cp, "unterminated quoted string");
		if (c == '"') {
			cp->p++;
			break;
		}
		if (c == '\\') {
			cp->p++;
			c = (unsigned char) *cp->p;
			if (c == '\0')
				return chall_err(cp, "unterminated quoted string");
		}
		/* HTAB, SP, VCHAR, obs-text; other controls are not allowed even escaped */
		if (c != '\t' && (c < 0x20 || c == 0x7f))
			return chall_err(cp, "control character in quoted string");
		buf[n++] = (char) c;
		cp->p++;
	}
	buf[n] = '\0';
	*out = steal_ptr(buf);
	return 0;
}

static int set_param(struct chall_parser *cp, struct auth_challenge *c, const char *name, size_t name_len,
		     char *value)
{
	_cleanup_free_ char *v = value;
	char **slot = NULL;
	if (name_len == 5 && strncasecmp(name, "realm", 5) == 0)
		slot = &c->realm;
	else if (name_len == 7 && strncasecmp(name, "service", 7) == 0)
		slot = &c->service;
	else if (name_len == 5 && strncasecmp(name, "scope", 5) == 0)
		slot = &c->scope;
	else if (name_len == 5 && strncasecmp(name, "error", 5) == 0)
		slot = &c->error;
	if (!slot)
		return 0;
	if (*slot && slot == &c->scope) {
		char *joined;
		if (asprintf(&joined, "%s %s", *slot, v) < 0)
			return -ENOMEM;
		free(*slot);
		*slot = joined;
		return 0;
	}
	if (*slot) {
		char msg[64];
		snprintf(msg, sizeof(msg), "duplicate parameter \"%.*s\"", (int) name_len, name);
		return chall_err(cp, msg);
	}
	*slot = steal_ptr(v);
	return 0;
}

/* token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=",
 * standing alone as the whole challenge data; returns its length or 0. */
static size_t token68_len(const char *p)
{
	size_t n = 0;
	while (is_token68_char(p[n]))
		n++;
	if (n == 0)
		return 0;
	while (p[n] == '=')
		n++;
	size_t m = n;
	while (is_ows(p[m]))
		m++;
	return (p[m] == '\0' || p[m] == ',') ? n : 0;
}

/* One challenge starting at cp->p (after leading commas/OWS).  Stops before
 * the next challenge's scheme or at the end. */
static int parse_one(struct chall_parser *cp, struct auth_challenge *c)
{
	size_t n = token_len(cp->p);
	if (n == 0)
		return chall_err(cp, "expected an authentication scheme");
	c->scheme = strndup(cp->p, n);
	if (!c->scheme)
		return -ENOMEM;
	for (char *s = c->scheme; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char) (*s - 'A' + 'a');
	cp->p += n;
	if (*cp->p != '\0' && *cp->p != ',' && !is_ows(*cp->p))
		return chall_err(cp, "invalid character in authentication scheme");
	bool after_space = is_ows(*cp->p), had_token68 = false;
	skip_ows(cp);
	if (after_space) {
		/* opaque challenge data (e.g. Negotiate); nothing we use */
		size_t t68 = token68_len(cp->p);
		cp->p += t68;
		had_token68 = t68 > 0;
	}
	for (;;) {
		/* list separators; empty elements are allowed (RFC 7230 #rule) */
		while (*cp->p == ',' || is_ows(*cp->p))
			cp->p++;
		if (*cp->p == '\0')
			return 0;
		const char *item = cp->p;
		n = token_len(item);
		if (n == 0)
			return chall_err(cp, "expected a parameter name");
		cp->p += n;
		skip_ows(cp);
		if (*cp->p != '=') {
			/* a token not followed by '=' is the next challenge's scheme */
			cp->p = item;
			return 0;
		}
		if (had_token68) {
			cp->p = item;
			return chall_err(cp, "parameter after token68 data");
		}
		cp->p++;
		skip_ows(cp);
		char *value = NULL;
		if (*cp->p == '"') {
			int r = parse_quoted(cp, &value);
			if (r < 0)
				return r;
		} else {
			size_t vn = token_len(cp->p);
			if (vn == 0)
				return chall_err(cp, "expected a token or quoted string");
			value = strndup(cp->p, vn);
			if (!value)
				return -ENOMEM;
			cp->p += vn;
		}
		int r = set_param(cp, c, item, n, value);
		if (r < 0)
			return r;
		skip_ows(cp);
		if (*cp->p != '\0' && *cp->p != ',')
			return chall_err(cp, "expected ',' after parameter");
	}
}

static int scheme_rank(const struct auth_challenge *c)
{
	if (strcmp(c->scheme, "bearer") == 0)
		return 2;
	if (strcmp(c->scheme, "basic") == 0)
		return 1;
	return 0;
}

int auth_challenge_parse(const char *value, struct auth_challenge *out, struct berth_error *err)
{
	struct chall_parser cp = { .value = value ? value : "", .p = value ? value : "", .err = err };
	struct auth_challenge best = { 0 };
	for (;;) {
		while (*cp.p == ',' || is_ows(*cp.p))
			cp.p++;
		if (*cp.p == '\0')
			break;
		struct auth_challenge c = { 0 };
		int r = parse_one(&cp, &c);
		if (r == -ENOMEM)
			berth_err(err, ENOMEM, "WWW-Authenticate: out of memory");
		if (r < 0) {
			auth_challenge_clear(&c);
			auth_challenge_clear(&best);
			return r;
		}
		if (!best.scheme || scheme_rank(&c) > scheme_rank(&best)) {
			auth_challenge_clear(&best);
			best = c;
		} else {
			auth_challenge_clear(&c);
		}
	}
	if (!best.scheme)
		return chall_err(&cp, "no authentication scheme");
	*out = best;
	return 0;
}

void auth_challenge_clear(struct auth_challenge *c)
{
	if (!c)
		return;
	free(c->scheme);
	free(c->realm);
	free(c->service);
	free(c->scope);
	free(c->error);
	*c = (struct auth_challenge) { 0 };
}

void auth_creds_clear(struct auth_creds *c)
{
	if (!c)
		return;
	/* secrets should not linger in freed heap memory */
	if (c->password)
		explicit_bzero(c->password, strlen(c->password));
	if (c->identity_token)
		explicit_bzero(c->identity_token, strlen(c->identity_token));
	free(c->username);
	free(c->password);
	free(c->identity_token);
	*c = (struct auth_creds) { 0 };
}

/* ---------------------------------------------------------------- base64 */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encoding is OpenSSL's (as registry.c's Basic header); decoding stays ours, being laxer than
 * EVP_DecodeBlock in the ways docker's config files need. */
static char *b64_encode(const unsigned char *in, size_t len)
{
	if (len > INT_MAX / 2)
		return NULL;
	unsigned char *out = malloc(4 * ((len + 2) / 3) + 1);
	if (out)
		EVP_EncodeBlock(out, in, (int) len);
	return (char *) out;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64_alphabet, c) : NULL;
	return p ? (int) (p - b64_alphabet) : -1;
}

/* Standard alphabet; padding optional (some tools drop it); line breaks are
 * skipped as Go's decoder does.  -EINVAL on anything else. */
static int b64_decode(const char *in, unsigned char **out, size_t *out_len)
{
	size_t len = strlen(in);
	_cleanup_free_ unsigned char *buf = malloc(len / 4 * 3 + 3);
	if (!buf)
		return -ENOMEM;
	uint32_t acc = 0;
	size_t nbits_chars = 0, o = 0, pad = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			return -EINVAL;   /* data after padding */
		int v = b64_value(c);
		if (v < 0)
			return -EINVAL;
		acc = (acc << 6) | (uint32_t) v;
		if (++nbits_chars == 4) {
			buf[o++] = (unsigned char) (acc >> 16);
			buf[o++] = (unsigned char) (acc >> 8);
			buf[o++] = (unsigned char) acc;
			acc = 0;
			nbits_chars = 0;
		}
	}
	switch (nbits_chars) {
	case 0:
		if (pad)
			return -EINVAL;
		break;
	case 2:
		if (pad != 0 && pad != 2)
			return -EINVAL;
		buf[o++] = (unsigned char) (acc >> 4);
		break;
	case 3:
		if (pad != 0 && pad != 1)
			return -EINVAL;
		buf[o++] = (unsigned char) (acc >> 10);
		buf[o++] = (unsigned char) (acc >> 2);
		break;
	default:
		return -EINVAL;
	}
	*out_len = o;
	*out = steal_ptr(buf);
	return 0;
}

/* ---------------------------------------------------------------- config.json */

int auth_config_path(char *buf, size_t len)
{
	const char *v = getenv("REGISTRY_AUTH_FILE");
	int n;
	if (v && *v) {
		n = snprintf(buf, len, "%s", v);
	} else if ((v = getenv("DOCKER_CONFIG")) && *v) {
		n = snprintf(buf, len, "%s/config.json", v);
	} else {
		const char *home = getenv("HOME");
		char pwbuf[4096];
		struct passwd pw, *res = NULL;
		if (!home || !*home) {
			if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &res) != 0 || !res || !res->pw_dir ||
			    !*res->pw_dir)
				return -ENOENT;
			home = res->pw_dir;
		}
		n = snprintf(buf, len, "%s/.docker/config.json", home);
	}
	if (n < 0 || (size_t) n >= len)
		return -ENAMETOOLONG;
	return 0;
}

static bool is_docker_hub(const char *host)
{
	return strcasecmp(host, "docker.io") == 0 || strcasecmp(host, "index.docker.io") == 0 ||
	       strcasecmp(host, "registry-1.docker.io") == 0;
}

/* docker's ConvertToHostname: "https://host/v1/" -> "host" */
static void key_hostname(const char *key, char *buf, size_t len)
{
	if (strncasecmp(key, "https://", 8) == 0)
		key += 8;
	else if (strncasecmp(key, "http://", 7) == 0)
		key += 7;
	size_t n = strcspn(key, "/");
	if (n >= len)
		n = len - 1;
	memcpy(buf, key, n);
	buf[n] = '\0';
}

static bool key_matches(const char *key, const char *host)
{
	char kh[256];
	key_hostname(key, kh, sizeof(kh));
	if (is_docker_hub(host))
		return is_docker_hub(kh);
	return strcasecmp(kh, host) == 0;
}

/* The key docker login writes for a registry. */
static void store_key(const char *host, char *buf, size_t len)
{
	if (is_docker_hub(host))
		snprintf(buf, len, "%s", DOCKER_HUB_KEY);
	else
		snprintf(buf, len, "%s", host);
}

/* Loads the whole document (so writers can keep unknown keys); a missing or
 * blank file is an empty object. *exists tells which. */
static int load_json_file(const char *path, json_t **out, bool *exists, struct berth_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = berth_read_file(path, &buf, &len);
	if (r == -ENOENT) {
		*exists = false;
		*out = json_object();
		return *out ? 0 : berth_err(err, ENOMEM, "%s: out of memory", path);
	}
	if (r < 0)
		return berth_errno(err, r, "read %s", path);
	*exists = true;
	size_t i = 0;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
		i++;
	if (i == len) {
		*out = json_object();
		return *out ? 0 : berth_err(err, ENOMEM, "%s: out of memory", path);
	}
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, 0, &jerr);
	if (!root)
		return berth_err(err, EINVAL, "%s: invalid JSON at line %d column %d: %s", path, jerr.line,
				 jerr.column, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return berth_err(err, EINVAL, "%s: top-level value is not a JSON object", path);
	}
	*out = root;
	return 0;
}

/* The "auths" object, or NULL when absent; -EINVAL when it is not an object. */
static int get_auths(json_t *root, const char *path, json_t **auths, struct berth_error *err)
{
	json_t *a = json_object_get(root, "auths");
	if (a && !json_is_object(a))
		return berth_err(err, EINVAL, "%s: \"auths\" is not a JSON object", path);
	*auths = a;
	return 0;
}

/* The config document and its "auths" object (NULL when absent); *exists false for a missing file. */
static int load_auths(const char *path, json_t **root, bool *exists, json_t **auths, struct berth_error *err)
{
	int r = load_json_file(path, root, exists, err);
	if (r < 0)
		return r;
	return get_auths(*root, path, auths, err);
}

/* Credential helpers need running external programs berth does not support;
 * say so rather than silently ignoring a user's setup. */
static void warn_helpers(json_t *root, const char *path, const char *host, const char *doing)
{
	json_t *store = json_object_get(root, "credsStore");
	if (json_is_string(store) && *json_string_value(store)) {
		log_warn("%s: credential store \"%s\" (credsStore) is not supported; %s", path,
			 json_string_value(store), doing);
		return;
	}
	json_t *helpers = json_object_get(root, "credHelpers");
	if (!json_is_object(helpers))
		return;
	const char *key;
	json_t *v;
	json_object_foreach(helpers, key, v) {
		if (key_matches(key, host)) {
			log_warn("%s: credential helper \"%s\" (credHelpers) for %s is not supported; %s", path,
				 json_is_string(v) ? json_string_value(v) : "?", host, doing);
			return;
		}
	}
}

static int resolve_path(const char *path, char *buf, size_t len)
{
	if (path) {
		if (snprintf(buf, len, "%s", path) >= (int) len)
			return -ENAMETOOLONG;
		return 0;
	}
	return auth_config_path(buf, len);
}

static int dup_field(json_t *entry, const char *name, const char *path, const char *key, char **out,
		     struct berth_error *err)
{
	json_t *v = json_object_get(entry, name);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return berth_err(err, EINVAL, "%s: auths[\"%s\"].%s is not a string", path, key, name);
	if (!*json_string_value(v))
		return 0;
	*out = strdup(json_string_value(v));
	return *out ? 0 : berth_err(err, ENOMEM, "%s: out of memory", path);
}

static int entry_creds(json_t *entry, const char *path, const char *key, struct auth_creds *out,
		       struct berth_error *err)
{
	if (!json_is_object(entry))
		return berth_err(err, EINVAL, "%s: auths[\"%s\"] is not a JSON object", path, key);
	struct auth_creds c = { 0 };
	_cleanup_free_ char *auth = NULL;
	int r = dup_field(entry, "auth", path, key, &auth, err);
	if (r == 0 && auth) {
		_cleanup_free_ unsigned char *dec = NULL;
		size_t dlen = 0;
		r = b64_decode(auth, &dec, &dlen);
		if (r == -ENOMEM)
			r = berth_err(err, ENOMEM, "%s: out of memory", path);
		if (r == -EINVAL)
			r = berth_err(err, EINVAL, "%s: auths[\"%s\"].auth is not valid base64", path, key);
		if (r == 0) {
			/* docker trims NULs some writers leave at the end */
			while (dlen > 0 && dec[dlen - 1] == '\0')
				dlen--;
			char *colon = memchr(dec, ':', dlen);
			if (memchr(dec, '\0', dlen))
				r = berth_err(err, EINVAL, "%s: auths[\"%s\"].auth holds a NUL byte", path, key);
			else if (!colon)
				r = berth_err(err, EINVAL, "%s: auths[\"%s\"].auth is not base64(\"user:password\")",
					      path, key);
			else {
				c.username = strndup((char *) dec, (size_t) (colon - (char *) dec));
				c.password = strndup(colon + 1, dlen - (size_t) (colon + 1 - (char *) dec));
				if (!c.username || !c.password)
					r = berth_err(err, ENOMEM, "%s: out of memory", path);
			}
			explicit_bzero(dec, dlen);
		}
		explicit_bzero(auth, strlen(auth));
	} else if (r == 0) {
		r = dup_field(entry, "username", path, key, &c.username, err);
		if (r == 0)
			r = dup_field(entry, "password", path, key, &c.password, err);
	}
	if (r == 0)
		r = dup_field(entry, "identitytoken", path, key, &c.identity_token, err);
	if (r < 0) {
		auth_creds_clear(&c);
		return r;
	}
	if (!c.identity_token && !c.username && !c.password) {
		auth_creds_clear(&c);
		return 0;
	}
	*out = c;
	return 1;
}

int auth_config_lookup(const char *path, const char *registry, struct auth_creds *out, struct berth_error *err)
{
	char pbuf[PATH_MAX];
	int r = resolve_path(path, pbuf, sizeof(pbuf));
	if (r < 0)
		return r == -ENOENT ? 0 : berth_errno(err, r, "locate the registry auth file");
	if (!registry || !*registry)
		return berth_err(err, EINVAL, "%s: empty registry name", pbuf);
	char host[256];
	key_hostname(registry, host, sizeof(host));

	json_auto_t *root = NULL;
	json_t *auths = NULL;
	bool exists;
	r = load_auths(pbuf, &root, &exists, &auths, err);
	if (r < 0 || !exists)
		return r;

	/* exact key first (what our own store writes), then docker's hostname match */
	char key[300];
	store_key(host, key, sizeof(key));
	json_t *entry = auths ? json_object_get(auths, key) : NULL;
	const char *entry_key = key;
	if (!entry && auths) {
		const char *k;
		json_t *v;
		json_object_foreach(auths, k, v) {
			if (key_matches(k, host)) {
				entry = v;
				entry_key = k;
				break;
			}
		}
	}
	r = entry ? entry_creds(entry, pbuf, entry_key, out, err) : 0;
	if (r == 0)
		warn_helpers(root, pbuf, host, "looking only at the \"auths\" entries");
	return r;
}

static int write_config(const char *path, json_t *root, struct berth_error *err)
{
	char target[PATH_MAX];
	struct stat st;
	/* keep a symlinked config (dotfile managers) a symlink: replace its target */
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		if (!realpath(path, target))
			return berth_errno(err, errno, "resolve symlink %s", path);
	} else if (snprintf(target, sizeof(target), "%s", path) >= (int) sizeof(target)) {
		return berth_err(err, ENAMETOOLONG, "%s: path too long", path);
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", target);
	char *slash = strrchr(dir, '/');
	const char *base;
	if (!slash) {
		base = target;
		snprintf(dir, sizeof(dir), ".");
	} else {
		*slash = '\0';
		base = target + (slash - dir) + 1;
		if (slash == dir)
			snprintf(dir, sizeof(dir), "/");
	}
	if (!*base)
		return berth_err(err, EINVAL, "%s: not a file name", path);
	int r = berth_mkdir_p(dir, 0700);
	if (r < 0)
		return berth_errno(err, r, "create directory %s", dir);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return berth_errno(err, errno, "open directory %s", dir);

	_cleanup_free_ char *data = json_dumps(root, JSON_INDENT(2));
	if (!data)
		return berth_err(err, ENOMEM, "%s: out of memory", path);
	size_t len = strlen(data);
	_cleanup_free_ char *text = malloc(len + 2);
	if (!text) {
		explicit_bzero(data, len);
		return berth_err(err, ENOMEM, "%s: out of memory", path);
	}
	memcpy(text, data, len);
	text[len] = '\n';
	text[len + 1] = '\0';
	explicit_bzero(data, len);
	r = berth_write_file_atomic(dfd, base, text, len + 1, 0600);
	explicit_bzero(text, len + 1);
	if (r < 0)
		return berth_errno(err, r, "write %s", target);
	/* a stale temp file from an earlier crash could have carried another mode */
	if (fchmodat(dfd, base, 0600, 0) < 0)
		return berth_errno(err, errno, "chmod %s", target);
	return 0;
}

int auth_config_store(const char *path, const char *registry, const char *user, const char *pass,
		      struct berth_error *err)
{
	char pbuf[PATH_MAX];
	int r = resolve_path(path, pbuf, sizeof(pbuf));
	if (r < 0)
		return berth_errno(err, r, "locate the registry auth file");
	if (!registry || !*registry)
		return berth_err(err, EINVAL, "%s: empty registry name", pbuf);
	if (!user || !*user)
		return berth_err(err, EINVAL, "login to %s: empty user name", registry);
	/* Basic auth's user-id can not hold ':' */
	if (strchr(user, ':'))
		return berth_err(err, EINVAL, "login to %s: user name must not contain ':'", registry);
	if (!pass)
		pass = "";
	char host[256];
	key_hostname(registry, host, sizeof(host));
	if (!*host)
		return berth_err(err, EINVAL, "%s: invalid registry name \"%s\"", pbuf, registry);

	json_auto_t *root = NULL;
	json_t *auths = NULL;
	bool exists;
	r = load_auths(pbuf, &root, &exists, &auths, err);
	if (r < 0)
		return r;
	if (!auths) {
		auths = json_object();
		if (!auths || json_object_set_new(root, "auths", auths) < 0)
			return berth_err(err, ENOMEM, "%s: out of memory", pbuf);
	}

	size_t ulen = strlen(user), plen = strlen(pass);
	_cleanup_free_ char *plain = malloc(ulen + 1 + plen + 1);
	if (!plain)
		return berth_err(err, ENOMEM, "%s: out of memory", pbuf);
	memcpy(plain, user, ulen);
	plain[ulen] = ':';
	memcpy(plain + ulen + 1, pass, plen + 1);
	_cleanup_free_ char *encoded = b64_encode((unsigned char *) plain, ulen + 1 + plen);
	explicit_bzero(plain, ulen + 1 + plen);
	if (!encoded)
		return berth_err(err, ENOMEM, "%s: out of memory", pbuf);
	json_t *entry = json_pack("{s:s}", "auth", encoded);
	explicit_bzero(encoded, strlen(encoded));
	if (!entry)
		return berth_err(err, ENOMEM, "%s: out of memory", pbuf);
	char key[300];
	store_key(host, key, sizeof(key));
	if (json_object_set_new(auths, key, entry) < 0)
		return berth_err(err, ENOMEM, "%s: out of memory", pbuf);
	warn_helpers(root, pbuf, host, "the credentials are stored in the file");
	return write_config(pbuf, root, err);
}

int auth_config_erase(const char *path, const char *registry, struct berth_error *err)
{
	char pbuf[PATH_MAX];
	int r = resolve_path(path, pbuf, sizeof(pbuf));
	if (r < 0)
		return berth_errno(err, r, "locate the registry auth file");
	if (!registry || !*registry)
		return berth_err(err, EINVAL, "%s: empty registry name", pbuf);
	char host[256];
	key_hostname(registry, host, sizeof(host));

	json_auto_t *root = NULL;
	json_t *auths = NULL;
	bool exists;
	r = load_auths(pbuf, &root, &exists, &auths, err);
	if (r < 0)
		return r;
	/* like docker logout: every key naming this host goes ("host", "https://host", ...) */
	size_t removed = 0;
	if (auths) {
		const char *k;
		json_t *v;
		void *tmp;
		json_object_foreach_safe(auths, tmp, k, v) {
			if (key_matches(k, host)) {
				json_object_del(auths, k);
				removed++;
			}
		}
	}
	if (removed == 0)
		return berth_err(err, ENOENT, "not logged in to %s (no entry in %s)", host, pbuf);
	return write_config(pbuf, root, err);
}

/* ---------------------------------------------------------------- insecure registries */

struct cidr {
	int family;
	unsigned char addr[16];
	unsigned prefix;
};

static int parse_cidr(const char *s, struct cidr *c)
{
	const char *slash = strchr(s, '/');
	char ip[INET6_ADDRSTRLEN + 1];
	size_t n = (size_t) (slash - s);
	if (n == 0 || n >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, n);
	ip[n] = '\0';
	unsigned max;
	if (inet_pton(AF_INET, ip, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, ip, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	const char *p = slash + 1;
	if (!*p || strlen(p) > 3)
		return -EINVAL;
	unsigned v = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned) (*p - '0');
	}
	if (v > max)
		return -EINVAL;
	c->prefix = v;
	return 0;
}

/* host is "ip", "ip:port", "[ip6]" or "[ip6]:port"; false for names */
static bool host_ip(const char *host, int *family, unsigned char addr[16])
{
	char buf[INET6_ADDRSTRLEN + 1];
	if (host[0] == '[') {
		const char *close = strchr(host, ']');
		size_t n = close ? (size_t) (close - host - 1) : 0;
		if (!close || n == 0 || n >= sizeof(buf))
			return false;
		memcpy(buf, host + 1, n);
		buf[n] = '\0';
		*family = AF_INET6;
		return inet_pton(AF_INET6, buf, addr) == 1;
	}
	size_t n = strcspn(host, ":");
	if (n >= sizeof(buf))
		return false;
	memcpy(buf, host, n);
	buf[n] = '\0';
	*family = AF_INET;
	return inet_pton(AF_INET, buf, addr) == 1;
}

static bool cidr_contains(const struct cidr *c, int family, const unsigned char addr[16])
{
	if (c->family != family)
		return false;
	unsigned full = c->prefix / 8, rest = c->prefix % 8;
	if (memcmp(c->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char) (0xff << (8 - rest));
	return (c->addr[full] & mask) == (addr[full] & mask);
}

int registries_conf_insecure(const char *path, const char *host, struct berth_error *err)
{
	if (!path) {
		path = getenv("BERTH_REGISTRIES_CONF");
		if (!path || !*path)
			path = DEFAULT_REGISTRIES_CONF;
	}
	json_auto_t *root = NULL;
	bool exists;
	int r = load_json_file(path, &root, &exists, err);
	if (r < 0 || !exists)
		return r;
	json_t *list = json_object_get(root, "insecure-registries");
	if (!list || json_is_null(list))
		return 0;
	if (!json_is_array(list))
		return berth_err(err, EINVAL, "%s: \"insecure-registries\" is not a JSON array", path);

	int family = 0;
	unsigned char addr[16] = { 0 };
	bool is_ip = host && host_ip(host, &family, addr);
	bool found = false;
	size_t i;
	json_t *v;
	/* validate every entry, so a typo is reported whichever host is asked about */
	json_array_foreach(list, i, v) {
		if (!json_is_string(v))
			return berth_err(err, EINVAL, "%s: insecure-registries[%zu] is not a string", path, i);
		const char *e = json_string_value(v);
		char q[160];
		quote_input(e, q, sizeof(q));
		if (!*e)
			return berth_err(err, EINVAL, "%s: insecure-registries[%zu] is empty", path, i);
		if (strstr(e, "://"))
			return berth_err(err, EINVAL, "%s: insecure-registries[%zu] \"%s\": must not contain a scheme",
					 path, i, q);
		for (const char *p = e; *p; p++)
			if ((unsigned char) *p <= ' ' || *p == 0x7f)
				return berth_err(err, EINVAL,
						 "%s: insecure-registries[%zu] \"%s\": whitespace or control character",
						 path, i, q);
		if (strchr(e, '/')) {
			struct cidr c;
			if (parse_cidr(e, &c) < 0)
				return berth_err(err, EINVAL, "%s: insecure-registries[%zu] \"%s\": invalid CIDR",
						 path, i, q);
			if (is_ip && cidr_contains(&c, family, addr))
				found = true;
		} else if (host && strcasecmp(e, host) == 0) {
			found = true;
		}
	}
	return found ? 1 : 0;
}
