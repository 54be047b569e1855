/* registry.c — OCI distribution client over libcurl easy handles sharing one CURLSH. */
#include "image/registry.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "core/cleanup.h"
#include "core/log.h"
#include "image/auth.h"
#include "spec/image.h"

#define USER_AGENT "berth/" BERTH_VERSION
#define MAX_REDIRECTS 10
#define ERRBODY_MAX (64 * 1024)
#define TOKEN_BODY_MAX (1024 * 1024)
#define RETRY_AFTER_MAX_S 30
#define BACKOFF_BASE_MS 200
#define BACKOFF_MAX_MS 30000
#define DEFAULT_RETRIES 4
#define CONNECT_TIMEOUT_S 30
/* A stalled transfer is cut after LOW_SPEED_TIME seconds below LOW_SPEED_LIMIT bytes/s; a total
 * timeout would kill big layers on slow links. */
#define LOW_SPEED_LIMIT 1024
#define LOW_SPEED_TIME 60
/* Spec minimum for a token's lifetime when the server does not say */
#define TOKEN_DEFAULT_TTL_S 60
#define TOKEN_EXPIRY_MARGIN_S 10
#define DEFAULT_REGISTRIES_CONF "/etc/berth/registries.json"
#define POOL_MAX 16

struct token_entry {
	char *scope;            /* the scope string we asked for (cache key) */
	char *header;           /* "Authorization: Bearer ..." */
	struct timespec expires;  /* CLOCK_MONOTONIC */
	struct token_entry *next;
};

struct registry {
	char *host;             /* host[:port] we connect to */
	char *auth_key;         /* key for the auth file ("docker.io" for Docker Hub) */
	char *path;             /* repository path; NULL for login checks */
	char *repo;             /* "domain/path" (or host) for messages */
	bool tls_verify;
	bool http_fallback;     /* loopback, insecure-registries or tls_verify=false */
	int max_retries;
	struct auth_creds creds;
	char *basic_header;     /* "Authorization: Basic ..." when we have user+password */

	CURLSH *share;          /* DNS cache and TLS sessions */
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	bool global_inited;
	/* Idle easy handles.  curl does not support sharing its connection cache between concurrent
	 * threads, so connections are reused through handles instead: each keeps its live connections
	 * across curl_easy_reset(), and a call borrows one for its whole duration. */
	pthread_mutex_t pool_lock;
	CURL *pool[POOL_MAX];
	size_t n_pool;

	/* Everything below is guarded by lock: the first caller probes /v2/ and fetches tokens while the
	 * others wait, so concurrent blob calls do not stampede the token server. */
	pthread_mutex_t lock;
	bool probed;
	char *base;             /* "https://host" once probed */
	struct auth_challenge chal;   /* chal.scheme NULL: the registry wants no auth */
	struct token_entry *tokens;
};

enum body_kind { BODY_NONE, BODY_MEM, BODY_FD };

struct req {
	const char *method;
	const char *what;        /* names the object in messages ("manifest x:y", "blob x@sha256:..") */
	const char *deny;        /* prefix of an auth refusal ("pull access denied for R on H"); NULL = what */
	const char *scope;       /* registry auth scope; NULL = no registry auth ("" = token without scope) */
	const char *fixed_auth;  /* full Authorization header for non-registry requests (token endpoint) */
	const char *accept;
	const char *content_type;
	const char *content_range;
	enum body_kind body_kind;
	const void *body;
	int fd;
	int64_t body_off, body_len;
	size_t mem_limit;        /* keep a 2xx body in memory up to this size */
	registry_sink_fn sink;   /* or stream a 2xx body here */
	void *sink_ctx;
	int retries;             /* -1: the registry's max_retries */
	/* set by http_do */
	bool gave_up_transient;  /* failed on a condition a later retry might not hit */
	/* blob streaming */
	bool stream;
	int64_t pos;             /* next byte the sink expects; Range start when > 0 */
	bool resuming;           /* an earlier transfer of this call already fed the sink */
	bool range_decided;
	bool *resumed;
};

struct resp {
	long status;
	char *content_type, *location, *docker_digest, *www_auth, *content_range, *retry_after;
	int64_t content_length;
	char *body;
	size_t body_len, body_cap;
	char *final_url;         /* the URL that produced this response (after redirects) */
};

struct xfer {
	struct registry *r;
	struct req *q;
	struct resp *p;
	int64_t delivered;       /* bytes fed to the sink by this perform */
	int64_t rd_pos;          /* upload read position */
	bool body_checked;
	int abort_err;
	bool sink_failed;
	char abort_msg[256];
};

/* ---------------------------------------------------------------- small helpers */

static void resp_clear_headers(struct resp *p)
{
	free(p->content_type);
	free(p->location);
	free(p->docker_digest);
	free(p->www_auth);
	free(p->content_range);
	free(p->retry_after);
	p->content_type = p->location = p->docker_digest = p->www_auth = p->content_range = p->retry_after = NULL;
	p->content_length = -1;
	p->status = 0;
}

static void resp_clear(struct resp *p)
{
	resp_clear_headers(p);
	free(p->body);
	free(p->final_url);
	p->body = NULL;
	p->final_url = NULL;
	p->body_len = p->body_cap = 0;
}

static void resp_freep(struct resp *p) { resp_clear(p); }
#define _cleanup_resp_ _cleanup_(resp_freep)

static void curl_slist_freep(struct curl_slist **l) { if (*l) curl_slist_free_all(*l); }
static void curl_urlp(CURLU **u) { if (*u) curl_url_cleanup(*u); }

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long backoff_ms(int attempt)
{
	long ms = BACKOFF_BASE_MS;
	for (int i = 0; i < attempt && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

/* A string copied from curl's allocator into ours, so every string here is released with free(). */
static char *curl_strdup_free(char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	curl_free(s);
	return d;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/* distribution's repository grammar, loosely: components of [a-z0-9._-] that start and end alphanumeric,
 * which is enough to keep ".." and empty components out of URLs */
static bool path_valid(const char *p)
{
	if (!p || !*p || strlen(p) > 255)
		return false;
	const char *c = p;
	for (;;) {
		size_t n = strcspn(c, "/");
		if (n == 0 || !isalnum((unsigned char) c[0]) || !isalnum((unsigned char) c[n - 1]))
			return false;
		for (size_t i = 0; i < n; i++)
			if (!(islower((unsigned char) c[i]) || isdigit((unsigned char) c[i]) || c[i] == '.' ||
			      c[i] == '_' || c[i] == '-'))
				return false;
		if (c[n] == '\0')
			return true;
		c += n + 1;
	}
}

static bool host_valid(const char *h)
{
	if (!h || !*h || strlen(h) > 255)
		return false;
	for (const char *c = h; *c; c++)
		if (!(isalnum((unsigned char) *c) || *c == '.' || *c == '-' || *c == ':' || *c == '[' || *c == ']' ||
		      *c == '_'))
			return false;
	return true;
}

/* The host part of "host[:port]" / "[v6]:port" without brackets. */
static void host_name_only(const char *host, char *out, size_t len)
{
	const char *s = host, *e;
	if (*s == '[') {
		s++;
		e = strchr(s, ']');
		if (!e)
			e = s + strlen(s);
	} else {
		e = strchr(s, ':');
		/* more than one ':' without brackets: a bare IPv6 address */
		if (e && strchr(e + 1, ':'))
			e = s + strlen(s);
		if (!e)
			e = s + strlen(s);
	}
	size_t n = (size_t) (e - s);
	if (n >= len)
		n = len - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

static bool host_is_loopback(const char *host)
{
	char name[256];
	host_name_only(host, name, sizeof(name));
	if (strcasecmp(name, "localhost") == 0 || strcasecmp(name, "localhost.localdomain") == 0)
		return true;
	struct in_addr a4;
	if (inet_pton(AF_INET, name, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	struct in6_addr a6;
	if (inet_pton(AF_INET6, name, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static char *basic_header_for(const char *user, const char *pass)
{
	_cleanup_free_ char *plain = xasprintf("%s:%s", user, pass);
	if (!plain)
		return NULL;
	size_t n = strlen(plain);
	_cleanup_free_ unsigned char *b64 = malloc(4 * ((n + 2) / 3) + 1);
	if (!b64)
		return NULL;
	EVP_EncodeBlock(b64, (const unsigned char *) plain, (int) n);
	explicit_bzero(plain, n);
	return xasprintf("Authorization: Basic %s", b64);
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* The URL without its query and fragment, for logs: presigned URLs carry credentials there. */
static void url_for_log(const char *url, char *out, size_t len)
{
	size_t n = strcspn(url, "?#");
	if (n >= len)
		n = len - 1;
	memcpy(out, url, n);
	out[n] = '\0';
}

/* Resolve a possibly relative reference against base; NULL when it is not a valid http(s) URL. */
static char *url_resolve(const char *base, const char *ref)
{
	_cleanup_(curl_urlp) CURLU *u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, ref, 0) != CURLUE_OK)
		return NULL;
	char *scheme = NULL;
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		return NULL;
	bool ok = strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0;
	curl_free(scheme);
	if (!ok)
		return NULL;
	char *out = NULL;
	if (curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
		return NULL;
	return curl_strdup_free(out);
}

/* Append "key=value" (value URL-encoded) to the URL's query. */
static char *url_add_query(const char *url, const char *key, const char *value)
{
	_cleanup_(curl_urlp) CURLU *u = curl_url();
	_cleanup_free_ char *kv = xasprintf("%s=%s", key, value);
	if (!u || !kv || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		return NULL;
	if (curl_url_set(u, CURLUPART_QUERY, kv, CURLU_APPENDQUERY | CURLU_URLENCODE) != CURLUE_OK)
		return NULL;
	char *out = NULL;
	if (curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
		return NULL;
	return curl_strdup_free(out);
}

struct origin { char *scheme, *host, *port; };

static int origin_of(const char *url, struct origin *o)
{
	_cleanup_(curl_urlp) CURLU *u = curl_url();
	memset(o, 0, sizeof(*o));
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		return -EINVAL;
	char *s = NULL, *h = NULL, *p = NULL;
	if (curl_url_get(u, CURLUPART_SCHEME, &s, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		curl_free(s);
		curl_free(h);
		curl_free(p);
		return -EINVAL;
	}
	o->scheme = curl_strdup_free(s);
	o->host = curl_strdup_free(h);
	o->port = curl_strdup_free(p);
	return o->scheme && o->host && o->port ? 0 : -ENOMEM;
}

static void origin_clear(struct origin *o)
{
	free(o->scheme);
	free(o->host);
	free(o->port);
}

/* Credentials may only go where they were meant to: same scheme, host and port. */
static bool same_origin(const char *a, const char *b)
{
	struct origin oa, ob;
	if (!a || !b)
		return false;
	if (origin_of(a, &oa) < 0)
		return false;
	if (origin_of(b, &ob) < 0) {
		origin_clear(&oa);
		return false;
	}
	bool same = strcasecmp(oa.scheme, ob.scheme) == 0 && strcasecmp(oa.host, ob.host) == 0 &&
		    strcmp(oa.port, ob.port) == 0;
	origin_clear(&oa);
	origin_clear(&ob);
	return same;
}

static char *url_host(const char *url)
{
	struct origin o;
	if (origin_of(url, &o) < 0)
		return NULL;
	char *h = steal_ptr(o.host);
	origin_clear(&o);
	return h;
}

/* ---------------------------------------------------------------- error text */

static void append_text(char *out, size_t len, const char *s)
{
	size_t used = strlen(out);
	if (used + 1 >= len)
		return;
	if (used > 0) {
		snprintf(out + used, len - used, "; ");
		used = strlen(out);
	}
	for (; *s && used + 1 < len; s++) {
		unsigned char c = (unsigned char) *s;
		out[used++] = (c < 0x20 || c == 0x7f) ? ' ' : (char) c;
	}
	out[used] = '\0';
}

static bool resp_has_error_code(const struct resp *p, const char *code)
{
	if (!p->body || p->body_len == 0)
		return false;
	_cleanup_(json_decrefp) json_t *j = json_loadb(p->body, p->body_len, 0, NULL);
	json_t *errs = j ? json_object_get(j, "errors") : NULL;
	size_t i;
	json_t *e;
	json_array_foreach(errs, i, e) {
		const char *c = json_string_value(json_object_get(e, "code"));
		if (c && strcmp(c, code) == 0)
			return true;
	}
	return false;
}

/* The registry's own words: {"errors":[{"code","message"}]} (distribution), {"details"} (Docker Hub's
 * token server), OAuth's {"error","error_description"}, else the first line of a text body. */
static void resp_error_text(const struct resp *p, char *out, size_t len)
{
	out[0] = '\0';
	if (p->body && p->body_len > 0) {
		_cleanup_(json_decrefp) json_t *j = json_loadb(p->body, p->body_len, 0, NULL);
		if (json_is_object(j)) {
			json_t *errs = json_object_get(j, "errors");
			size_t i;
			json_t *e;
			json_array_foreach(errs, i, e) {
				const char *msg = json_string_value(json_object_get(e, "message"));
				const char *code = json_string_value(json_object_get(e, "code"));
				if (msg && *msg)
					append_text(out, len, msg);
				else if (code && *code) {
					char lc[128];
					size_t k = 0;
					for (; code[k] && k + 1 < sizeof(lc); k++)
						lc[k] = code[k] == '_' ? ' ' : (char) tolower((unsigned char) code[k]);
					lc[k] = '\0';
					append_text(out, len, lc);
				}
			}
			static const char *const keys[] = { "details", "error_description", "message", "error" };
			for (size_t k = 0; !out[0] && k < ARRAY_SIZE(keys); k++) {
				const char *s = json_string_value(json_object_get(j, keys[k]));
				if (s && *s)
					append_text(out, len, s);
			}
		} else if (!j) {
			size_t n = strcspn(p->body, "\r\n");
			if (n > 200)
				n = 200;
			char line[201];
			memcpy(line, p->body, n);
			line[n] = '\0';
			bool printable = n > 0;
			for (size_t k = 0; k < n; k++)
				if ((unsigned char) line[k] < 0x20 && line[k] != '\t')
					printable = false;
			/* HTML error pages say nothing useful in their first line */
			if (printable && line[0] != '<')
				append_text(out, len, trim(line));
		}
	}
	size_t used = strlen(out);
	snprintf(out + used, len - used, "%s(HTTP %ld)", used ? " " : "", p->status);
}

/* ---------------------------------------------------------------- curl callbacks */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userptr)
{
	struct registry *r = userptr;
	if ((int) data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&r->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userptr)
{
	struct registry *r = userptr;
	if ((int) data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&r->share_locks[data]);
}

static void set_header(char **slot, const char *v)
{
	free(*slot);
	*slot = strdup(v);
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	struct resp *p = x->p;
	size_t len = size * n;
	char line[8192];
	if (len >= sizeof(line))
		return len;     /* absurdly long header: none we need is that long */
	memcpy(line, buf, len);
	line[len] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		/* a new response (after 1xx): forget the previous headers */
		resp_clear_headers(p);
		char *sp = strchr(line, ' ');
		p->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return len;
	}
	char *colon = strchr(line, ':');
	if (!colon)
		return len;
	*colon = '\0';
	char *name = trim(line), *value = trim(colon + 1);
	if (strcasecmp(name, "content-type") == 0)
		set_header(&p->content_type, value);
	else if (strcasecmp(name, "location") == 0)
		set_header(&p->location, value);
	else if (strcasecmp(name, "docker-content-digest") == 0)
		set_header(&p->docker_digest, value);
	else if (strcasecmp(name, "content-range") == 0)
		set_header(&p->content_range, value);
	else if (strcasecmp(name, "retry-after") == 0)
		set_header(&p->retry_after, value);
	else if (strcasecmp(name, "content-length") == 0) {
		char *end;
		errno = 0;
		long long v = strtoll(value, &end, 10);
		p->content_length = (errno || *end || v < 0) ? -1 : (int64_t) v;
	} else if (strcasecmp(name, "www-authenticate") == 0) {
		/* Several challenges: prefer Bearer, which carries the token service */
		if (!p->www_auth || (strncasecmp(value, "bearer", 6) == 0 && strncasecmp(p->www_auth, "bearer", 6) != 0))
			set_header(&p->www_auth, value);
	}
	return len;
}

static int abort_with(struct xfer *x, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int abort_with(struct xfer *x, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->abort_msg, sizeof(x->abort_msg), fmt, ap);
	va_end(ap);
	x->abort_err = code;
	return code;
}

/* "bytes START-END/TOTAL" -> START */
static int64_t content_range_start(const char *v)
{
	if (!v || strncasecmp(v, "bytes", 5) != 0)
		return -1;
	v += 5;
	while (*v == ' ' || *v == '=')
		v++;
	char *end;
	errno = 0;
	long long s = strtoll(v, &end, 10);
	if (errno || end == v || *end != '-' || s < 0)
		return -1;
	return s;
}

/* Decide, before the sink sees the first byte of a 2xx body, whether the bytes fit where the sink
 * stands; *resumed is set here so a sink can consult it on its first call. */
static int check_body_start(struct xfer *x)
{
	struct req *q = x->q;
	struct resp *p = x->p;
	x->body_checked = true;
	if (q->mem_limit && p->content_length > (int64_t) q->mem_limit)
		return abort_with(x, -EFBIG, "%s on %s: %" PRId64 " bytes exceed the limit of %zu bytes", q->what,
				  x->r->host, p->content_length, q->mem_limit);
	if (!q->stream)
		return 0;
	if (p->status == 206) {
		int64_t start = content_range_start(p->content_range);
		if (start != q->pos) {
			if (q->resuming)
				return abort_with(x, -ESPIPE, "%s on %s: server resumed at byte %" PRId64
						  " instead of %" PRId64, q->what, x->r->host, start, q->pos);
			return abort_with(x, -EPROTO, "%s on %s: server sent range \"%s\" for a request from byte %"
					  PRId64, q->what, x->r->host, p->content_range ? p->content_range : "", q->pos);
		}
		if (!q->range_decided) {
			q->range_decided = true;
			if (q->resumed)
				*q->resumed = true;
		}
	} else if (p->status == 200) {
		if (q->resuming)
			return abort_with(x, -ESPIPE, "%s on %s: transfer broke at byte %" PRId64
					  " and the server ignored Range on resume; restart from 0", q->what,
					  x->r->host, q->pos);
		if (!q->range_decided) {
			q->range_decided = true;
			q->pos = 0;
			if (q->resumed)
				*q->resumed = false;
		}
	}
	return 0;
}

static size_t on_write(char *buf, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	struct req *q = x->q;
	struct resp *p = x->p;
	size_t len = size * n;
	bool ok = p->status >= 200 && p->status < 300;

	if (ok && !q->sink && !q->mem_limit)
		return len;
	if (ok && !x->body_checked && check_body_start(x) < 0)
		return 0;
	if (ok && q->sink) {
		int k = q->sink(q->sink_ctx, buf, len);
		if (k < 0) {
			x->sink_failed = true;
			x->abort_err = k;
			return 0;
		}
		x->delivered += (int64_t) len;
		q->pos += (int64_t) len;
		return len;
	}
	size_t limit = ok ? q->mem_limit : ERRBODY_MAX;
	if (p->body_len + len > limit) {
		if (!ok) {
			len = limit - p->body_len;   /* keep the start of an error page, drop the rest */
			if (len == 0)
				return size * n;
		} else {
			abort_with(x, -EFBIG, "%s on %s: larger than the limit of %zu bytes", q->what, x->r->host, limit);
			return 0;
		}
	}
	if (p->body_len + len + 1 > p->body_cap) {
		size_t cap = p->body_cap ? p->body_cap : 16384;
		while (cap < p->body_len + len + 1)
			cap *= 2;
		char *nb = realloc(p->body, cap);
		if (!nb) {
			abort_with(x, -ENOMEM, "%s on %s: out of memory", q->what, x->r->host);
			return 0;
		}
		p->body = nb;
		p->body_cap = cap;
	}
	memcpy(p->body + p->body_len, buf, len);
	p->body_len += len;
	p->body[p->body_len] = '\0';
	return size * n;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	struct req *q = x->q;
	size_t want = size * n;
	int64_t left = q->body_len - x->rd_pos;
	if (left <= 0)
		return 0;
	if ((int64_t) want > left)
		want = (size_t) left;
	if (q->body_kind == BODY_MEM) {
		memcpy(buf, (const char *) q->body + x->rd_pos, want);
		x->rd_pos += (int64_t) want;
		return want;
	}
	ssize_t got;
	do
		got = pread(q->fd, buf, want, (off_t) (q->body_off + x->rd_pos));
	while (got < 0 && errno == EINTR);
	if (got < 0) {
		abort_with(x, -errno, "%s: reading the upload source at offset %" PRId64 ": %s", q->what,
			   q->body_off + x->rd_pos, strerror(errno));
		return CURL_READFUNC_ABORT;
	}
	if (got == 0) {
		abort_with(x, -EIO, "%s: the upload source ended at offset %" PRId64 ", before the announced size",
			   q->what, q->body_off + x->rd_pos);
		return CURL_READFUNC_ABORT;
	}
	x->rd_pos += got;
	return (size_t) got;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
	struct xfer *x = ud;
	if (origin != SEEK_SET || off < 0 || off > x->q->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->rd_pos = off;
	return CURL_SEEKFUNC_OK;
}

/* ---------------------------------------------------------------- one HTTP exchange */

static CURLcode perform_once(CURL *h, struct registry *r, struct req *q, const char *method, bool with_body,
			     const char *url, const char *authz, struct xfer *x, char *errbuf)
{
	_cleanup_(curl_slist_freep) struct curl_slist *hdrs = NULL;
	char range[64], line[512];
	struct curl_slist *t;

	curl_easy_reset(h);
	errbuf[0] = '\0';
#define ADD(s) do { if (!(t = curl_slist_append(hdrs, (s)))) return CURLE_OUT_OF_MEMORY; hdrs = t; } while (0)
	if (q->accept) {
		snprintf(line, sizeof(line), "Accept: %s", q->accept);
		ADD(line);
	}
	if (with_body && q->content_type) {
		snprintf(line, sizeof(line), "Content-Type: %s", q->content_type);
		ADD(line);
	}
	if (with_body && q->content_range) {
		snprintf(line, sizeof(line), "Content-Range: %s", q->content_range);
		ADD(line);
	}
	if (q->stream && q->pos > 0) {
		snprintf(range, sizeof(range), "Range: bytes=%" PRId64 "-", q->pos);
		ADD(range);
	}
	if (authz)
		ADD(authz);
	/* Registries answer uploads directly; waiting for 100-continue only adds a round trip */
	ADD("Expect:");
#undef ADD

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_SHARE, r->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long) CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, (long) LOW_SPEED_LIMIT);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long) LOW_SPEED_TIME);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, r->tls_verify ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, r->tls_verify ? 2L : 0L);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") == 0 && !with_body) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (!with_body) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, x);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t) q->body_len);
	}
	CURLcode c = curl_easy_perform(h);
	long code = 0;
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code > 0)
		x->p->status = code;
	return c;
}

static bool curl_transient(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static bool status_transient(long st)
{
	return st == 408 || st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

/* The wait before retry `attempt` after a transient status: the server's Retry-After (in seconds; an
 * HTTP-date is ignored), capped, else exponential backoff. */
static long retry_delay_ms(const struct resp *p, int attempt)
{
	if (p->retry_after) {
		char *end;
		long s = strtol(p->retry_after, &end, 10);
		if (end != p->retry_after && *end == '\0' && s >= 0)
			return (s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s) * 1000L;
	}
	return backoff_ms(attempt);
}

static int curl_error(struct registry *r, CURLcode c, const char *errbuf, const char *url,
		      struct berth_error *err)
{
	int code;
	switch (c) {
	case CURLE_COULDNT_CONNECT:
		code = -ECONNREFUSED;
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		code = -EHOSTUNREACH;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		code = -ETIMEDOUT;
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		code = -EPROTO;
		break;
	case CURLE_OUT_OF_MEMORY:
		code = -ENOMEM;
		break;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		code = -ECONNRESET;
		break;
	default:
		code = -EIO;
		break;
	}
	const char *text = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(c);
	_cleanup_free_ char *other = url ? url_host(url) : NULL;
	char rhost[256];
	host_name_only(r->host, rhost, sizeof(rhost));
	if (other && strcasecmp(other, rhost) != 0)
		return berth_err(err, code, "cannot reach registry %s (redirected to %s): %s", r->host, other, text);
	return berth_err(err, code, "cannot reach registry %s: %s", r->host, text);
}

/* ---------------------------------------------------------------- auth */

static int http_do(struct registry *r, struct req *q, const char *url0, struct resp *p, struct berth_error *err);

static void token_list_free(struct token_entry *t)
{
	while (t) {
		struct token_entry *next = t->next;
		free(t->scope);
		free_secret(t->header);
		free(t);
		t = next;
	}
}

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static struct token_entry *token_find(struct registry *r, const char *scope)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* A pull,push token also serves pull requests on the same repository */
	_cleanup_free_ char *super = NULL;
	size_t n = strlen(scope);
	if (n > 5 && strcmp(scope + n - 5, ":pull") == 0 && !strchr(scope, ' '))
		super = xasprintf("%s,push", scope);
	for (struct token_entry *t = r->tokens; t; t = t->next)
		if ((strcmp(t->scope, scope) == 0 || (super && strcmp(t->scope, super) == 0)) &&
		    ts_before(&now, &t->expires))
			return t;
	return NULL;
}

static void token_drop(struct registry *r, const char *header)
{
	for (struct token_entry **pt = &r->tokens; *pt;) {
		struct token_entry *t = *pt;
		if (strcmp(t->header, header) == 0) {
			*pt = t->next;
			t->next = NULL;
			token_list_free(t);
		} else {
			pt = &t->next;
		}
	}
}

static bool token_chars_ok(const char *t)
{
	if (!*t)
		return false;
	for (; *t; t++)
		if ((unsigned char) *t <= 0x20 || (unsigned char) *t >= 0x7f)
			return false;
	return true;
}

/* Adds every space-separated scope as its own scope= parameter, as token servers expect. */
static char *url_add_scopes(char *url, const char *scopes)
{
	_cleanup_free_ char *copy = strdup(scopes);
	if (!copy) {
		free(url);
		return NULL;
	}
	char *save = NULL;
	for (char *s = strtok_r(copy, " ", &save); s && url; s = strtok_r(NULL, " ", &save)) {
		char *n = url_add_query(url, "scope", s);
		free(url);
		url = n;
	}
	return url;
}

static char *form_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	return curl_strdup_free(e);
}

/* Fetch a Bearer token for `scopes` (space separated) from the challenge's realm. Called with r->lock held. */
static int token_fetch_locked(struct registry *r, const char *scopes, const char *deny, char **header,
			      int *ttl, struct berth_error *err)
{
	const char *realm = r->chal.realm;
	if (!realm || !*realm)
		return berth_err(err, -EPROTO, "registry %s: Bearer challenge without a realm", r->host);
	_cleanup_free_ char *realm_url = url_resolve(r->base, realm);
	if (!realm_url)
		return berth_err(err, -EPROTO, "registry %s: invalid token realm \"%s\"", r->host, realm);
	_cleanup_free_ char *realm_host = url_host(realm_url);
	bool has_creds = r->basic_header || (r->creds.identity_token && *r->creds.identity_token);
	if (has_creds && !r->http_fallback && strncasecmp(realm_url, "https://", 8) != 0)
		return berth_err(err, -EPROTO, "registry %s: token realm %s is plain http; refusing to send "
				 "credentials over it", r->host, realm_host ? realm_host : realm);
	_cleanup_resp_ struct resp p = { .content_length = -1 };
	struct req q = {
		.method = "GET", .what = "token request", .mem_limit = TOKEN_BODY_MAX, .retries = -1, .fd = -1,
		.accept = "application/json",
	};
	char what[512];
	snprintf(what, sizeof(what), "token for %s from %s", r->host, realm_host ? realm_host : realm);
	q.what = what;
	int k;

	if (r->creds.identity_token && *r->creds.identity_token) {
		/* OAuth2 refresh-token grant: what docker does with an identity token from the config */
		_cleanup_free_ char *svc = form_escape(r->chal.service ? r->chal.service : "");
		_cleanup_free_ char *tok = form_escape(r->creds.identity_token);
		_cleanup_free_ char *form = NULL;
		if (!svc || !tok)
			return berth_err(err, -ENOMEM, "%s: out of memory", what);
		form = xasprintf("grant_type=refresh_token&client_id=berth&service=%s&refresh_token=%s", svc, tok);
		_cleanup_free_ char *copy = strdup(scopes);
		char *save = NULL;
		for (char *s = copy ? strtok_r(copy, " ", &save) : NULL; s && form; s = strtok_r(NULL, " ", &save)) {
			_cleanup_free_ char *es = form_escape(s);
			char *nf = es ? xasprintf("%s&scope=%s", form, es) : NULL;
			free_secret(form);
			form = nf;
		}
		if (!form || !copy)
			return berth_err(err, -ENOMEM, "%s: out of memory", what);
		q.method = "POST";
		q.body_kind = BODY_MEM;
		q.body = form;
		q.body_len = (int64_t) strlen(form);
		q.content_type = "application/x-www-form-urlencoded";
		k = http_do(r, &q, realm_url, &p, err);
		explicit_bzero(form, strlen(form));
		if (k < 0)
			return k;
		/* A token server without OAuth support: fall back to GET when we also have a password */
		if ((p.status == 404 || p.status == 405) && r->basic_header) {
			resp_clear(&p);
			q.body_kind = BODY_NONE;
			q.method = "GET";
			q.body = NULL;
			q.body_len = 0;
			q.content_type = NULL;
		} else {
			goto got;
		}
	}
	{
		_cleanup_free_ char *url = strdup(realm_url);
		if (url && r->chal.service && *r->chal.service) {
			char *n = url_add_query(url, "service", r->chal.service);
			free(url);
			url = n;
		}
		if (url && *scopes)
			url = url_add_scopes(steal_ptr(url), scopes);
		if (!url)
			return berth_err(err, -ENOMEM, "%s: building the token URL failed", what);
		q.fixed_auth = r->basic_header;
		k = http_do(r, &q, url, &p, err);
		if (k < 0)
			return k;
	}
got:
	if (p.status == 401 || p.status == 403) {
		char text[512];
		resp_error_text(&p, text, sizeof(text));
		return berth_err(err, -EACCES, "%s: %s refused %s: %s", deny, realm_host ? realm_host : realm,
				 r->creds.username || r->creds.identity_token ? "the credentials" : "anonymous access",
				 text);
	}
	if (p.status == 429) {
		char text[512];
		resp_error_text(&p, text, sizeof(text));
		return berth_err(err, -EAGAIN, "%s: rate limited: %s", what, text);
	}
	if (p.status != 200) {
		char text[512];
		resp_error_text(&p, text, sizeof(text));
		return berth_err(err, p.status >= 500 ? -EIO : -EPROTO, "%s: %s", what, text);
	}
	json_error_t jerr;
	_cleanup_(json_decrefp) json_t *j = json_loadb(p.body ? p.body : "", p.body_len, 0, &jerr);
	if (!json_is_object(j))
		return berth_err(err, -EPROTO, "%s: response is not a JSON object: %s", what, j ? "" : jerr.text);
	const char *tok = json_string_value(json_object_get(j, "token"));
	if (!tok || !*tok)
		tok = json_string_value(json_object_get(j, "access_token"));
	if (!tok || !*tok)
		return berth_err(err, -EPROTO, "%s: response has neither \"token\" nor \"access_token\"", what);
	if (!token_chars_ok(tok))
		return berth_err(err, -EPROTO, "%s: token contains characters not allowed in a header", what);
	json_int_t exp = json_integer_value(json_object_get(j, "expires_in"));
	*ttl = exp < TOKEN_DEFAULT_TTL_S ? TOKEN_DEFAULT_TTL_S : (exp > INT_MAX ? INT_MAX : (int) exp);
	*header = xasprintf("Authorization: Bearer %s", tok);
	if (!*header)
		return berth_err(err, -ENOMEM, "%s: out of memory", what);
	if (p.body)
		explicit_bzero(p.body, p.body_len);
	return 0;
}

/* Learn the scheme and the auth challenge from GET /v2/. Called with r->lock held. */
static int probe_locked(struct registry *r, struct berth_error *err)
{
	static const char *const schemes[] = { "https", "http" };
	size_t n_schemes = r->http_fallback ? 2 : 1;
	int max = r->max_retries;
	struct berth_error first = { 0 };

	for (int attempt = 0;; attempt++) {
		bool transient = false;
		berth_error_clear(&first);
		for (size_t i = 0; i < n_schemes; i++) {
			_cleanup_free_ char *url = xasprintf("%s://%s/v2/", schemes[i], r->host);
			if (!url)
				return berth_err(err, -ENOMEM, "registry %s: out of memory", r->host);
			_cleanup_resp_ struct resp p = { .content_length = -1 };
			struct req q = { .method = "GET", .what = "GET /v2/", .retries = 0, .fd = -1 };
			struct berth_error lerr = { 0 };
			int k = http_do(r, &q, url, &p, &lerr);
			if (k < 0) {
				if (q.gave_up_transient)
					transient = true;
				if (i == 0) {
					first = lerr;
				} else {
					/* both failed: say what each scheme hit */
					char msg[BERTH_ERROR_MSG_MAX];
					snprintf(msg, sizeof(msg), "%s; over plain http: %s", first.msg, lerr.msg);
					memcpy(first.msg, msg, sizeof(first.msg));
				}
				if (k == -ENOMEM)
					return berth_err(err, k, "%s", lerr.msg);
				continue;
			}
			if (status_transient(p.status)) {
				transient = true;
				if (attempt < max) {
					sleep_ms(retry_delay_ms(&p, attempt));
					goto next_attempt;
				}
				char text[512];
				resp_error_text(&p, text, sizeof(text));
				return berth_err(err, p.status == 429 ? -EAGAIN : -EIO, "registry %s: GET /v2/ failed: %s",
						 r->host, text);
			}
			/* Like docker's ping, any other answer settles the scheme; only a 401 carries a challenge.
			 * A registry that guards just some repositories challenges on those requests later. */
			free(r->base);
			r->base = xasprintf("%s://%s", schemes[i], r->host);
			if (!r->base)
				return berth_err(err, -ENOMEM, "registry %s: out of memory", r->host);
			auth_challenge_clear(&r->chal);
			memset(&r->chal, 0, sizeof(r->chal));
			if (p.status == 401) {
				if (!p.www_auth)
					return berth_err(err, -EPROTO, "registry %s: GET /v2/ answered 401 without a "
							 "WWW-Authenticate challenge", r->host);
				int k2 = auth_challenge_parse(p.www_auth, &r->chal, err);
				if (k2 < 0) {
					berth_error_prefix(err, "registry %s", r->host);
					return k2;
				}
			}
			if (i > 0)
				log_debug("registry %s: using plain http", r->host);
			r->probed = true;
			return 0;
		}
		if (!transient || attempt >= max)
			return berth_err(err, first.code ? first.code : EIO, "%s", first.msg);
		sleep_ms(backoff_ms(attempt));
next_attempt:;
	}
}

static int ensure_probed(struct registry *r, char **base, struct berth_error *err)
{
	pthread_mutex_lock(&r->lock);
	int k = r->probed ? 0 : probe_locked(r, err);
	if (k == 0 && base) {
		*base = strdup(r->base);
		if (!*base)
			k = berth_err(err, -ENOMEM, "registry %s: out of memory", r->host);
	}
	pthread_mutex_unlock(&r->lock);
	return k;
}

/* The Authorization header for a registry request with `scope`; NULL when none is needed or possible. */
static int auth_header(struct registry *r, const char *scope, const char *extra_scope, const char *deny,
		       char **out, struct berth_error *err)
{
	*out = NULL;
	pthread_mutex_lock(&r->lock);
	int k = r->probed ? 0 : probe_locked(r, err);
	if (k < 0)
		goto out;
	if (!r->chal.scheme)
		goto out;
	if (strcmp(r->chal.scheme, "basic") == 0) {
		if (r->basic_header && !(*out = strdup(r->basic_header)))
			k = berth_err(err, -ENOMEM, "registry %s: out of memory", r->host);
		goto out;
	}
	if (strcmp(r->chal.scheme, "bearer") != 0) {
		k = berth_err(err, -ENOTSUP, "registry %s: unsupported authentication scheme \"%s\"", r->host,
			      r->chal.scheme);
		goto out;
	}
	struct token_entry *t = token_find(r, scope);
	if (!t) {
		_cleanup_free_ char *scopes = NULL;
		if (extra_scope && *extra_scope && strcmp(extra_scope, scope) != 0)
			scopes = *scope ? xasprintf("%s %s", scope, extra_scope) : strdup(extra_scope);
		else
			scopes = strdup(scope);
		if (!scopes) {
			k = berth_err(err, -ENOMEM, "registry %s: out of memory", r->host);
			goto out;
		}
		char *hdr = NULL;
		int ttl = 0;
		k = token_fetch_locked(r, scopes, deny, &hdr, &ttl, err);
		if (k < 0)
			goto out;
		t = calloc(1, sizeof(*t));
		if (!t || !(t->scope = strdup(scope))) {
			free(t);
			free_secret(hdr);
			k = berth_err(err, -ENOMEM, "registry %s: out of memory", r->host);
			goto out;
		}
		t->header = hdr;
		clock_gettime(CLOCK_MONOTONIC, &t->expires);
		t->expires.tv_sec += ttl > 2 * TOKEN_EXPIRY_MARGIN_S ? ttl - TOKEN_EXPIRY_MARGIN_S : ttl;
		t->next = r->tokens;
		r->tokens = t;
	}
	if (!(*out = strdup(t->header)))
		k = berth_err(err, -ENOMEM, "registry %s: out of memory", r->host);
out:
	pthread_mutex_unlock(&r->lock);
	return k;
}

/* A 401 on a request we authorised: forget the token we sent and take the server's new challenge, so the
 * next auth_header() fetches afresh.  *extra_scope gets the scope the challenge asked for, if any. */
static int auth_refresh(struct registry *r, const char *sent, const char *www_auth, char **extra_scope,
			struct berth_error *err)
{
	*extra_scope = NULL;
	pthread_mutex_lock(&r->lock);
	int k = 0;
	if (sent)
		token_drop(r, sent);
	if (www_auth) {
		struct auth_challenge c = { 0 };
		struct berth_error lerr = { 0 };
		if (auth_challenge_parse(www_auth, &c, &lerr) == 0) {
			bool changed = !r->chal.scheme || strcmp(r->chal.scheme, c.scheme) != 0 ||
				       (c.realm && (!r->chal.realm || strcmp(c.realm, r->chal.realm) != 0));
			if (c.scope && !(*extra_scope = strdup(c.scope)))
				k = berth_err(err, -ENOMEM, "registry %s: out of memory", r->host);
			if (changed) {
				/* new realm or scheme: tokens from the old one are worthless */
				auth_challenge_clear(&r->chal);
				r->chal = c;
				token_list_free(r->tokens);
				r->tokens = NULL;
			} else {
				auth_challenge_clear(&c);
			}
		} else {
			log_debug("registry %s: ignoring unparsable challenge: %s", r->host, lerr.msg);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return k;
}

/* ---------------------------------------------------------------- request engine */

/* Performs q against url0: registry auth (token refresh once on 401), redirects by hand (credentials only
 * to the same origin), retries with backoff on transient failures, and — for streams — resumption with
 * Range after a break.  Returns 0 with p filled for any HTTP status the caller must judge, or a negative
 * errno with err set when no usable response arrived. */
static CURL *pool_get(struct registry *r)
{
	CURL *h = NULL;
	pthread_mutex_lock(&r->pool_lock);
	if (r->n_pool > 0)
		h = r->pool[--r->n_pool];
	pthread_mutex_unlock(&r->pool_lock);
	return h ? h : curl_easy_init();
}

static void pool_put(struct registry *r, CURL *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&r->pool_lock);
	if (r->n_pool < POOL_MAX) {
		r->pool[r->n_pool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&r->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

static int http_do_h(struct registry *r, CURL *h, struct req *q, const char *url0, struct resp *p,
		     struct berth_error *err);

static int http_do(struct registry *r, struct req *q, const char *url0, struct resp *p, struct berth_error *err)
{
	CURL *h = pool_get(r);
	if (!h)
		return berth_err(err, -ENOMEM, "%s on %s: cannot create a curl handle", q->what, r->host);
	int k = http_do_h(r, h, q, url0, p, err);
	pool_put(r, h);
	return k;
}

static int http_do_h(struct registry *r, CURL *h, struct req *q, const char *url0, struct resp *p,
		     struct berth_error *err)
{
	int max = q->retries < 0 ? r->max_retries : q->retries;
	int attempt = 0, redirects = 0;
	bool refreshed = false;
	const char *method = q->method;
	bool with_body = q->body_kind != BODY_NONE;
	_cleanup_free_ char *url = strdup(url0);
	_cleanup_free_ char *extra_scope = NULL;
	char deny[512];
	char errbuf[CURL_ERROR_SIZE];

	if (!url)
		return berth_err(err, -ENOMEM, "%s on %s: out of memory", q->what, r->host);
	if (q->deny)
		snprintf(deny, sizeof(deny), "%s", q->deny);
	else
		snprintf(deny, sizeof(deny), "%s on %s", q->what, r->host);
	q->gave_up_transient = false;

	for (;;) {
		_cleanup_free_ char *authz = NULL;
		if (q->scope && r->base && same_origin(url, r->base)) {
			int k = auth_header(r, q->scope, extra_scope, deny, &authz, err);
			if (k < 0)
				return k;
		} else if (q->fixed_auth && same_origin(url, url0)) {
			if (!(authz = strdup(q->fixed_auth)))
				return berth_err(err, -ENOMEM, "%s on %s: out of memory", q->what, r->host);
		}

		resp_clear(p);
		struct xfer x = { .r = r, .q = q, .p = p };
		CURLcode c = perform_once(h, r, q, method, with_body, url, authz, &x, errbuf);
		char logurl[512];
		url_for_log(url, logurl, sizeof(logurl));
		log_debug("registry: %s %s -> %ld (%s)", method, logurl, p->status, curl_easy_strerror(c));

		if (x.sink_failed)
			return berth_errno(err, x.abort_err, "%s from %s: writing the data failed", q->what, r->host);
		if (x.abort_err)
			return berth_err(err, x.abort_err, "%s", x.abort_msg);
		if (c == CURLE_OK && q->stream && p->status >= 200 && p->status < 300 && !x.body_checked) {
			/* an empty body still decides *resumed */
			if (check_body_start(&x) < 0)
				return berth_err(err, x.abort_err, "%s", x.abort_msg);
		}

		if (c != CURLE_OK) {
			if (x.delivered > 0) {
				/* progress was made: resume after the last byte the sink has, with a fresh budget */
				q->resuming = true;
				attempt = 0;
			}
			/* requests that must not be repeated come with retries = 0 */
			if (curl_transient(c) && attempt < max) {
				sleep_ms(backoff_ms(attempt++));
				goto restart;
			}
			q->gave_up_transient = curl_transient(c);
			return curl_error(r, c, errbuf, url, err);
		}

		long st = p->status;
		if ((st == 301 || st == 302 || st == 303 || st == 307 || st == 308) && p->location) {
			if (++redirects > MAX_REDIRECTS)
				return berth_err(err, -ELOOP, "%s on %s: more than %d redirects", q->what, r->host,
						 MAX_REDIRECTS);
			char *next = url_resolve(url, p->location);
			if (!next)
				return berth_err(err, -EPROTO, "%s on %s: redirect to an invalid or non-http(s) location",
						 q->what, r->host);
			free(url);
			url = next;
			if ((st == 303 && strcmp(method, "HEAD") != 0) ||
			    ((st == 301 || st == 302) && strcmp(method, "POST") == 0)) {
				method = "GET";
				with_body = false;
			}
			continue;
		}
		if (st == 401 && q->scope && !refreshed && r->base && same_origin(url, r->base)) {
			refreshed = true;
			free(extra_scope);
			int k = auth_refresh(r, authz, p->www_auth, &extra_scope, err);
			if (k < 0)
				return k;
			continue;
		}
		if (status_transient(st) && attempt < max) {
			sleep_ms(retry_delay_ms(p, attempt++));
			goto restart;
		}
		q->gave_up_transient = status_transient(st);
		p->final_url = steal_ptr(url);
		return 0;

	restart:
		/* a retry starts over from the first URL and method */
		free(url);
		if (!(url = strdup(url0)))
			return berth_err(err, -ENOMEM, "%s on %s: out of memory", q->what, r->host);
		method = q->method;
		with_body = q->body_kind != BODY_NONE;
		redirects = 0;
	}
}

/* Map an unwanted HTTP status to the errors api.md promises. */
static int status_error(struct registry *r, const struct resp *p, const char *access, const char *kind,
			const char *ident, struct berth_error *err)
{
	char text[600];
	resp_error_text(p, text, sizeof(text));
	switch (p->status) {
	case 401:
	case 403:
		return berth_err(err, -EACCES, "%s access denied for %s on %s: %s", access, r->repo, r->host, text);
	case 404: {
		/* "manifest unknown (HTTP 404)" would only repeat the prefix */
		char plain[64];
		snprintf(plain, sizeof(plain), "%s unknown (HTTP 404)", kind);
		if (strcasecmp(text, plain) == 0 || strncmp(text, "(HTTP", 5) == 0)
			return berth_err(err, -ENOENT, "%s unknown: %s not found on %s", kind, ident, r->host);
		return berth_err(err, -ENOENT, "%s unknown: %s not found on %s: %s", kind, ident, r->host, text);
	}
	case 429:
		return berth_err(err, -EAGAIN, "%s %s on %s: rate limited: %s", kind, ident, r->host, text);
	case 400:
		if (resp_has_error_code(p, "DIGEST_INVALID"))
			return berth_err(err, -EBADMSG, "%s %s on %s: digest mismatch: %s", kind, ident, r->host, text);
		return berth_err(err, -EINVAL, "%s %s on %s: rejected: %s", kind, ident, r->host, text);
	default:
		if (p->status >= 500)
			return berth_err(err, -EIO, "%s %s on %s: registry error: %s", kind, ident, r->host, text);
		return berth_err(err, -EPROTO, "%s %s on %s: unexpected answer: %s", kind, ident, r->host, text);
	}
}

/* ---------------------------------------------------------------- open / close */

void registry_opts_init(struct registry_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->tls_verify = true;
	opts->max_retries = DEFAULT_RETRIES;
}

void registry_close(struct registry *r)
{
	if (!r)
		return;
	/* handles first: they hold references to the share */
	for (size_t i = 0; i < r->n_pool; i++)
		curl_easy_cleanup(r->pool[i]);
	if (r->share)
		curl_share_cleanup(r->share);
	pthread_mutex_destroy(&r->pool_lock);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&r->share_locks[i]);
	pthread_mutex_destroy(&r->lock);
	token_list_free(r->tokens);
	auth_challenge_clear(&r->chal);
	free(r->creds.username);
	free_secret(r->creds.password);
	free_secret(r->creds.identity_token);
	free_secret(r->basic_header);
	free(r->host);
	free(r->auth_key);
	free(r->path);
	free(r->repo);
	free(r->base);
	if (r->global_inited)
		curl_global_cleanup();
	free(r);
}

static void registry_closep(struct registry **r) { registry_close(*r); }
#define _cleanup_registry_ _cleanup_(registry_closep)

static int registry_new(const char *host, const char *auth_key, const char *path, const char *repo,
			const struct registry_opts *opts_in, struct registry **out, struct berth_error *err)
{
	struct registry_opts defaults;
	registry_opts_init(&defaults);
	const struct registry_opts *opts = opts_in ? opts_in : &defaults;

	if (!host_valid(host))
		return berth_err(err, -EINVAL, "invalid registry host \"%s\"", host ? host : "");
	_cleanup_registry_ struct registry *r = calloc(1, sizeof(*r));
	if (!r)
		return berth_err(err, -ENOMEM, "registry %s: out of memory", host);
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->pool_lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&r->share_locks[i], NULL);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return berth_err(err, -ENOMEM, "registry %s: cannot initialise libcurl", host);
	r->global_inited = true;
	r->host = strdup(host);
	r->auth_key = strdup(auth_key);
	r->path = path ? strdup(path) : NULL;
	r->repo = strdup(repo);
	if (!r->host || !r->auth_key || (path && !r->path) || !r->repo)
		return berth_err(err, -ENOMEM, "registry %s: out of memory", host);
	r->tls_verify = opts->tls_verify;
	r->max_retries = opts->max_retries == 0 ? DEFAULT_RETRIES : (opts->max_retries < 0 ? 0 : opts->max_retries);

	/* Credentials: explicit ones win over the auth file */
	if (opts->username) {
		r->creds.username = strdup(opts->username);
		r->creds.password = strdup(opts->password ? opts->password : "");
		if (!r->creds.username || !r->creds.password)
			return berth_err(err, -ENOMEM, "registry %s: out of memory", host);
	} else {
		char pathbuf[4096];
		const char *af = opts->auth_file;
		if (!af && auth_config_path(pathbuf, sizeof(pathbuf)) == 0)
			af = pathbuf;
		if (af) {
			int k = auth_config_lookup(af, auth_key, &r->creds, err);
			if (k < 0)
				return k;
		}
	}
	if (r->creds.username && *r->creds.username && r->creds.password) {
		r->basic_header = basic_header_for(r->creds.username, r->creds.password);
		if (!r->basic_header)
			return berth_err(err, -ENOMEM, "registry %s: out of memory", host);
	}

	/* Scheme policy, as docker: https only, except loopback, configured insecure registries and
	 * tls_verify=false, which may fall back to plain http */
	r->http_fallback = !r->tls_verify || host_is_loopback(host);
	if (host_is_loopback(host))
		r->tls_verify = false;   /* docker treats 127.0.0.0/8 and ::1 as insecure registries too */
	if (!r->http_fallback) {
		const char *conf = opts->registries_conf;
		if (!conf)
			conf = getenv("BERTH_REGISTRIES_CONF");
		if (!conf || !*conf)
			conf = DEFAULT_REGISTRIES_CONF;
		int k = registries_conf_insecure(conf, host, err);
		if (k == 0 && strcmp(auth_key, host) != 0)
			k = registries_conf_insecure(conf, auth_key, err);
		if (k < 0)
			return k;
		r->http_fallback = k > 0;
		/* listed insecure registries are also not verified, as in docker */
		if (k > 0)
			r->tls_verify = false;
	}

	r->share = curl_share_init();
	if (!r->share)
		return berth_err(err, -ENOMEM, "registry %s: cannot create a curl share", host);
	curl_share_setopt(r->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(r->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(r->share, CURLSHOPT_USERDATA, r);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);

	*out = steal_ptr(r);
	return 0;
}

int registry_open(const struct image_ref *ref, const struct registry_opts *opts, struct registry **out,
		  struct berth_error *err)
{
	if (!ref || !ref->domain || !ref->path)
		return berth_err(err, -EINVAL, "registry_open: incomplete image reference");
	if (!path_valid(ref->path))
		return berth_err(err, -EINVAL, "invalid repository path \"%s\"", ref->path);
	_cleanup_free_ char *repo = image_ref_repo(ref);
	if (!repo)
		return berth_err(err, -ENOMEM, "registry %s: out of memory", ref->domain);
	return registry_new(image_ref_registry_host(ref), ref->domain, ref->path, repo, opts, out, err);
}

const char *registry_host(const struct registry *r)
{
	return r->host;
}

/* ---------------------------------------------------------------- repository requests */

#define DENY_MAX 700

/* The prefix of an auth refusal on this repository ("pull access denied for R on H"). */
static void deny_text(const struct registry *r, const char *access, char deny[DENY_MAX])
{
	snprintf(deny, DENY_MAX, "%s access denied for %s on %s", access, r->repo, r->host);
}

/* What every request on an object of this repository starts with: the probe, the URL
 * <base>/v2/<path>/<kind>/<ref> and the auth scope repository:<path>:<actions>. */
static int repo_url(struct registry *r, const char *kind, const char *ref, const char *actions, const char *what,
		    char **url, char **scope, struct berth_error *err)
{
	_cleanup_free_ char *base = NULL;
	int k = ensure_probed(r, &base, err);
	if (k < 0)
		return k;
	_cleanup_free_ char *u = xasprintf("%s/v2/%s/%s/%s", base, r->path, kind, ref);
	_cleanup_free_ char *sc = xasprintf("repository:%s:%s", r->path, actions);
	if (!u || !sc)
		return berth_err(err, -ENOMEM, "%s: out of memory", what);
	*url = steal_ptr(u);
	*scope = steal_ptr(sc);
	return 0;
}

/* A streamed GET from `offset` (registry_get_blob's contract: Range, resumption, *resumed).  A 416 (the
 * offset at or past the end: a complete partial?) is answered by fetching the whole blob instead.  Leaves
 * the final response in p for the caller to judge. */
static int stream_get(struct registry *r, const char *url, const char *what, const char *deny, const char *scope,
		      int64_t offset, registry_sink_fn sink, void *ctx, bool *resumed, struct resp *p,
		      struct berth_error *err)
{
	struct req q = {
		.method = "GET", .what = what, .deny = deny, .scope = scope, .sink = sink, .sink_ctx = ctx, .retries = -1,
		.fd = -1, .stream = true, .pos = offset, .resumed = resumed,
	};
	int k = http_do(r, &q, url, p, err);
	if (k < 0)
		return k;
	if (p->status == 416 && offset > 0 && !q.range_decided && !q.resuming) {
		q.pos = 0;
		k = http_do(r, &q, url, p, err);
	}
	return k;
}

/* ---------------------------------------------------------------- pull */

static bool is_digest_ref(const char *reference)
{
	return strchr(reference, ':') != NULL;
}

int registry_get_manifest(struct registry *r, const char *reference, char **body, size_t *len,
			  char **media_type, char out_digest[BERTH_DIGEST_MAX], struct berth_error *err)
{
	*body = NULL;
	*len = 0;
	if (media_type)
		*media_type = NULL;
	if (!r->path)
		return berth_err(err, -EINVAL, "registry %s: no repository", r->host);
	bool by_digest = is_digest_ref(reference);
	char ident[600], what[640];
	snprintf(ident, sizeof(ident), "%s%s%s", r->repo, by_digest ? "@" : ":", reference);
	snprintf(what, sizeof(what), "manifest %s", ident);
	if (by_digest) {
		int k = berth_digest_check(reference, what, err);
		if (k < 0)
			return k;
	} else if (!image_ref_tag_valid(reference)) {
		return berth_err(err, -EINVAL, "%s: invalid tag \"%s\"", what, reference);
	}

	_cleanup_free_ char *url = NULL, *scope = NULL;
	int k = repo_url(r, "manifests", reference, "pull", what, &url, &scope, err);
	if (k < 0)
		return k;
	_cleanup_resp_ struct resp p = { .content_length = -1 };
	char deny[DENY_MAX];
	deny_text(r, "pull", deny);
	struct req q = {
		.method = "GET", .what = what, .deny = deny, .scope = scope, .accept = IMAGE_MANIFEST_ACCEPT,
		.mem_limit = REGISTRY_MANIFEST_MAX, .retries = -1, .fd = -1,
	};
	k = http_do(r, &q, url, &p, err);
	if (k < 0)
		return k;
	if (p.status != 200)
		return status_error(r, &p, "pull", "manifest", ident, err);

	const char *data = p.body ? p.body : "";
	char computed[BERTH_DIGEST_MAX];
	if (by_digest) {
		if ((k = berth_digest_buf_like(reference, data, p.body_len, computed)) < 0)
			return berth_errno(err, k, "%s: cannot hash", what);
		if (strcmp(computed, reference) != 0)
			return berth_err(err, -EBADMSG, "%s from %s: digest mismatch: the content hashes to %s",
					 what, r->host, computed);
	} else {
		if ((k = berth_digest_buf(data, p.body_len, computed)) < 0)
			return berth_errno(err, k, "%s: cannot hash", what);
		const char *dcd = p.docker_digest;
		if (dcd && *dcd) {
			if (!berth_digest_valid(dcd))
				return berth_err(err, -EBADMSG, "%s from %s: invalid Docker-Content-Digest \"%.140s\"",
						 what, r->host, dcd);
			char check[BERTH_DIGEST_MAX];
			if ((k = berth_digest_buf_like(dcd, data, p.body_len, check)) < 0)
				return berth_errno(err, k, "%s: cannot hash", what);
			if (strcmp(check, dcd) != 0)
				return berth_err(err, -EBADMSG, "%s from %s: digest mismatch: Docker-Content-Digest "
						 "says %s, the content hashes to %s", what, r->host, dcd, check);
		}
	}
	if (media_type && p.content_type) {
		/* drop parameters ("; charset=utf-8") */
		size_t n = strcspn(p.content_type, ";");
		while (n > 0 && (p.content_type[n - 1] == ' ' || p.content_type[n - 1] == '\t'))
			n--;
		if (n > 0 && !(*media_type = strndup(p.content_type, n)))
			return berth_err(err, -ENOMEM, "%s: out of memory", what);
	}
	memcpy(out_digest, computed, BERTH_DIGEST_MAX);
	if (!p.body && !(p.body = calloc(1, 1))) {
		if (media_type) {
			free(*media_type);
			*media_type = NULL;
		}
		return berth_err(err, -ENOMEM, "%s: out of memory", what);
	}
	*len = p.body_len;
	*body = steal_ptr(p.body);
	return 0;
}

int registry_get_blob(struct registry *r, const char *digest, int64_t offset, registry_sink_fn sink,
		      void *ctx, bool *resumed, struct berth_error *err)
{
	if (resumed)
		*resumed = false;
	if (!r->path)
		return berth_err(err, -EINVAL, "registry %s: no repository", r->host);
	char ident[600], what[640];
	snprintf(ident, sizeof(ident), "%s@%s", r->repo, digest);
	snprintf(what, sizeof(what), "blob %s", ident);
	int k = berth_digest_check(digest, what, err);
	if (k < 0)
		return k;
	if (offset < 0)
		return berth_err(err, -EINVAL, "%s: negative offset %" PRId64, what, offset);
	_cleanup_free_ char *url = NULL, *scope = NULL;
	if ((k = repo_url(r, "blobs", digest, "pull", what, &url, &scope, err)) < 0)
		return k;
	_cleanup_resp_ struct resp p = { .content_length = -1 };
	char deny[DENY_MAX];
	deny_text(r, "pull", deny);
	if ((k = stream_get(r, url, what, deny, scope, offset, sink, ctx, resumed, &p, err)) < 0)
		return k;
	if (p.status == 200 || p.status == 206)
		return 0;
	return status_error(r, &p, "pull", "blob", ident, err);
}

int registry_get_url(struct registry *r, const char *url, const char *digest, int64_t offset, registry_sink_fn sink,
		     void *ctx, bool *resumed, struct berth_error *err)
{
	if (resumed)
		*resumed = false;
	/* without query and fragment: presigned URLs carry credentials there */
	char shown[1000], what[1200];
	url_for_log(url, shown, sizeof(shown));
	snprintf(what, sizeof(what), "blob %s from %s", digest, shown);
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return berth_err(err, -EINVAL, "%s: only http and https URLs are fetched", what);
	if (offset < 0)
		return berth_err(err, -EINVAL, "%s: negative offset %" PRId64, what, offset);
	_cleanup_resp_ struct resp p = { .content_length = -1 };
	/* No scope and no fixed header: a foreign URL never sees the registry's credentials. */
	int k = stream_get(r, url, what, what, NULL, offset, sink, ctx, resumed, &p, err);
	if (k < 0)
		return k;
	if (p.status == 200 || p.status == 206)
		return 0;
	return berth_err(err, p.status == 404 ? -ENOENT : -EIO, "%s: HTTP %ld", what, p.status);
}

int registry_blob_exists(struct registry *r, const char *digest, int64_t *size, struct berth_error *err)
{
	if (size)
		*size = -1;
	if (!r->path)
		return berth_err(err, -EINVAL, "registry %s: no repository", r->host);
	char ident[600], what[640];
	snprintf(ident, sizeof(ident), "%s@%s", r->repo, digest);
	snprintf(what, sizeof(what), "blob %s", ident);
	int k = berth_digest_check(digest, what, err);
	if (k < 0)
		return k;
	_cleanup_free_ char *url = NULL, *scope = NULL;
	if ((k = repo_url(r, "blobs", digest, "pull", what, &url, &scope, err)) < 0)
		return k;
	_cleanup_resp_ struct resp p = { .content_length = -1 };
	char deny[DENY_MAX];
	deny_text(r, "pull", deny);
	struct req q = { .method = "HEAD", .what = what, .deny = deny, .scope = scope, .retries = -1, .fd = -1 };
	if ((k = http_do(r, &q, url, &p, err)) < 0)
		return k;
	if (p.status == 200) {
		if (size)
			*size = p.content_length;
		return 1;
	}
	if (p.status == 404)
		return 0;
	return status_error(r, &p, "pull", "blob", ident, err);
}

/* ---------------------------------------------------------------- push */

/* Best effort: an abandoned upload session only costs the registry disk until its own GC runs. */
static void upload_cancel(struct registry *r, const char *scope, const char *url)
{
	_cleanup_resp_ struct resp p = { .content_length = -1 };
	struct req q = { .method = "DELETE", .what = "cancel upload", .scope = scope, .retries = 0, .fd = -1 };
	struct berth_error lerr = { 0 };
	if (http_do(r, &q, url, &p, &lerr) < 0)
		log_debug("registry %s: cancelling an upload failed: %s", r->host, lerr.msg);
}

int registry_mount_blob(struct registry *r, const char *digest, const char *from_path, struct berth_error *err)
{
	if (!r->path)
		return berth_err(err, -EINVAL, "registry %s: no repository", r->host);
	char ident[600], what[900];
	snprintf(ident, sizeof(ident), "%s@%s", r->repo, digest);
	snprintf(what, sizeof(what), "mount of blob %s from %s", ident, from_path ? from_path : "");
	int k = berth_digest_check(digest, what, err);
	if (k < 0)
		return k;
	if (!path_valid(from_path))
		return berth_err(err, -EINVAL, "%s: invalid source repository \"%s\"", what,
				 from_path ? from_path : "");
	_cleanup_free_ char *base = NULL;
	if ((k = ensure_probed(r, &base, err)) < 0)
		return k;
	_cleanup_free_ char *u0 = xasprintf("%s/v2/%s/blobs/uploads/", base, r->path);
	_cleanup_free_ char *u1 = u0 ? url_add_query(u0, "mount", digest) : NULL;
	_cleanup_free_ char *url = u1 ? url_add_query(u1, "from", from_path) : NULL;
	_cleanup_free_ char *scope = xasprintf("repository:%s:pull,push repository:%s:pull", r->path, from_path);
	if (!url || !scope)
		return berth_err(err, -ENOMEM, "%s: out of memory", what);
	_cleanup_resp_ struct resp p = { .content_length = -1 };
	char deny[DENY_MAX];
	deny_text(r, "push", deny);
	struct req q = {
		.method = "POST", .what = what, .deny = deny, .scope = scope, .retries = -1, .fd = -1,
		.body_kind = BODY_MEM, .body = "", .body_len = 0,
	};
	if ((k = http_do(r, &q, url, &p, err)) < 0)
		return k;
	if (p.status == 201)
		return 1;
	if (p.status == 202) {
		/* the registry could not mount and opened an upload session instead: we upload separately */
		if (p.location) {
			_cleanup_free_ char *loc = url_resolve(p.final_url ? p.final_url : url, p.location);
			if (loc)
				upload_cancel(r, scope, loc);
		}
		return 0;
	}
	return status_error(r, &p, "push", "blob", ident, err);
}

static int push_once(struct registry *r, const char *base, const char *scope, const char *digest, int64_t size,
		     int fd, const char *what, const char *ident, bool *transient, struct berth_error *err)
{
	*transient = false;
	char deny[DENY_MAX];
	deny_text(r, "push", deny);
	_cleanup_free_ char *start = xasprintf("%s/v2/%s/blobs/uploads/", base, r->path);
	if (!start)
		return berth_err(err, -ENOMEM, "%s: out of memory", what);
	_cleanup_resp_ struct resp p = { .content_length = -1 };
	struct req q = {
		.method = "POST", .what = what, .deny = deny, .scope = scope, .retries = 0, .fd = -1,
		.body_kind = BODY_MEM, .body = "", .body_len = 0,
	};
	int k = http_do(r, &q, start, &p, err);
	if (k < 0) {
		*transient = q.gave_up_transient;
		return k;
	}
	if (p.status != 202 || !p.location) {
		*transient = q.gave_up_transient;
		if (p.status == 202)
			return berth_err(err, -EPROTO, "%s on %s: upload started without a Location", what, r->host);
		return status_error(r, &p, "push", "blob", ident, err);
	}
	_cleanup_free_ char *loc = url_resolve(p.final_url ? p.final_url : start, p.location);
	if (!loc)
		return berth_err(err, -EPROTO, "%s on %s: invalid upload Location", what, r->host);

	int64_t off = 0;
	if (size > REGISTRY_CHUNK_SIZE) {
		while (off < size) {
			int64_t n = size - off < REGISTRY_CHUNK_SIZE ? size - off : REGISTRY_CHUNK_SIZE;
			char crange[64];
			snprintf(crange, sizeof(crange), "%" PRId64 "-%" PRId64, off, off + n - 1);
			struct req pq = {
				.method = "PATCH", .what = what, .deny = deny, .scope = scope, .retries = 0,
				.content_type = "application/octet-stream", .content_range = crange,
				.body_kind = BODY_FD, .fd = fd, .body_off = off, .body_len = n,
			};
			k = http_do(r, &pq, loc, &p, err);
			if (k < 0) {
				*transient = pq.gave_up_transient;
				goto fail;
			}
			if (p.status != 202 || !p.location) {
				*transient = pq.gave_up_transient;
				k = p.status == 202 ? berth_err(err, -EPROTO, "%s on %s: chunk accepted without a Location",
							       what, r->host)
						    : status_error(r, &p, "push", "blob", ident, err);
				goto fail;
			}
			char *next = url_resolve(p.final_url ? p.final_url : loc, p.location);
			if (!next) {
				k = berth_err(err, -EPROTO, "%s on %s: invalid upload Location", what, r->host);
				goto fail;
			}
			free(loc);
			loc = next;
			off += n;
		}
	}
	{
		_cleanup_free_ char *put = url_add_query(loc, "digest", digest);
		if (!put) {
			k = berth_err(err, -ENOMEM, "%s: out of memory", what);
			goto fail;
		}
		bool mono = off == 0;
		struct req uq = {
			.method = "PUT", .what = what, .deny = deny, .scope = scope, .retries = 0,
			.content_type = "application/octet-stream",
			.body_kind = mono ? BODY_FD : BODY_MEM, .fd = mono ? fd : -1, .body = "",
			.body_off = 0, .body_len = mono ? size : 0,
		};
		k = http_do(r, &uq, put, &p, err);
		if (k < 0) {
			*transient = uq.gave_up_transient;
			goto fail;
		}
		if (p.status != 201 && p.status != 204 && p.status != 200) {
			*transient = uq.gave_up_transient;
			k = status_error(r, &p, "push", "blob", ident, err);
			goto fail;
		}
		if (p.docker_digest && berth_digest_valid(p.docker_digest) && strcmp(p.docker_digest, digest) != 0)
			return berth_err(err, -EBADMSG, "%s on %s: the registry stored it as %s", what, r->host,
					 p.docker_digest);
	}
	return 0;
fail:
	upload_cancel(r, scope, loc);
	return k;
}

int registry_push_blob(struct registry *r, const char *digest, int64_t size, int fd, struct berth_error *err)
{
	if (!r->path)
		return berth_err(err, -EINVAL, "registry %s: no repository", r->host);
	char ident[600], what[640];
	snprintf(ident, sizeof(ident), "%s@%s", r->repo, digest);
	snprintf(what, sizeof(what), "upload of blob %s", ident);
	int k = berth_digest_check(digest, what, err);
	if (k < 0)
		return k;
	if (size < 0 || fd < 0)
		return berth_err(err, -EINVAL, "%s: invalid size or file descriptor", what);
	_cleanup_free_ char *base = NULL;
	if ((k = ensure_probed(r, &base, err)) < 0)
		return k;
	_cleanup_free_ char *scope = xasprintf("repository:%s:pull,push", r->path);
	if (!scope)
		return berth_err(err, -ENOMEM, "%s: out of memory", what);
	/* An upload session is not idempotent: a transient failure restarts the whole upload in a new one */
	for (int attempt = 0;; attempt++) {
		struct berth_error lerr = { 0 };
		bool transient = false;
		k = push_once(r, base, scope, digest, size, fd, what, ident, &transient, &lerr);
		if (k == 0)
			return 0;
		if (!transient || attempt >= r->max_retries) {
			berth_err(err, k, "%s", lerr.msg);
			return k;
		}
		log_debug("registry %s: %s failed (%s), retrying", r->host, what, lerr.msg);
		sleep_ms(backoff_ms(attempt));
	}
}

int registry_put_manifest(struct registry *r, const char *reference, const char *media_type,
			  const void *body, size_t len, struct berth_error *err)
{
	if (!r->path)
		return berth_err(err, -EINVAL, "registry %s: no repository", r->host);
	bool by_digest = is_digest_ref(reference);
	char ident[600], what[640];
	snprintf(ident, sizeof(ident), "%s%s%s", r->repo, by_digest ? "@" : ":", reference);
	snprintf(what, sizeof(what), "manifest %s", ident);
	int k;
	if (by_digest) {
		if ((k = berth_digest_check(reference, what, err)) < 0)
			return k;
		char computed[BERTH_DIGEST_MAX];
		if ((k = berth_digest_buf_like(reference, body, len, computed)) < 0)
			return berth_errno(err, k, "%s: cannot hash", what);
		if (strcmp(computed, reference) != 0)
			return berth_err(err, -EBADMSG, "%s: the document hashes to %s", what, computed);
	} else if (!image_ref_tag_valid(reference)) {
		return berth_err(err, -EINVAL, "%s: invalid tag \"%s\"", what, reference);
	}
	if (!media_type || !*media_type || strpbrk(media_type, "\r\n"))
		return berth_err(err, -EINVAL, "%s: invalid media type", what);
	if (len > REGISTRY_MANIFEST_MAX)
		return berth_err(err, -EFBIG, "%s: %zu bytes exceed the manifest limit of %d bytes", what, len,
				 REGISTRY_MANIFEST_MAX);
	_cleanup_free_ char *url = NULL, *scope = NULL;
	if ((k = repo_url(r, "manifests", reference, "pull,push", what, &url, &scope, err)) < 0)
		return k;
	_cleanup_resp_ struct resp p = { .content_length = -1 };
	char deny[DENY_MAX];
	deny_text(r, "push", deny);
	struct req q = {
		.method = "PUT", .what = what, .deny = deny, .scope = scope, .retries = -1, .fd = -1,
		.content_type = media_type,
		.body_kind = BODY_MEM, .body = body, .body_len = (int64_t) len,
	};
	if ((k = http_do(r, &q, url, &p, err)) < 0)
		return k;
	if (p.status == 201 || p.status == 200 || p.status == 204)
		return 0;
	return status_error(r, &p, "push", "manifest", ident, err);
}

/* ---------------------------------------------------------------- login */

int registry_check_login(const char *host_in, const struct registry_opts *opts, struct berth_error *err)
{
	if (!host_in || !*host_in)
		return berth_err(err, -EINVAL, "login: no registry host given");
	/* accept what users type: "https://host/", "index.docker.io", "docker.io" */
	const char *h = host_in;
	if (strncasecmp(h, "https://", 8) == 0)
		h += 8;
	else if (strncasecmp(h, "http://", 7) == 0)
		h += 7;
	_cleanup_free_ char *host = strndup(h, strcspn(h, "/"));
	if (!host)
		return berth_err(err, -ENOMEM, "login to %s: out of memory", host_in);
	const char *key = host;
	const char *connect = host;
	if (strcasecmp(host, "docker.io") == 0 || strcasecmp(host, "index.docker.io") == 0 ||
	    strcasecmp(host, "registry-1.docker.io") == 0) {
		key = "docker.io";
		connect = "registry-1.docker.io";
	}
	_cleanup_registry_ struct registry *r = NULL;
	int k = registry_new(connect, key, NULL, connect, opts, &r, err);
	if (k < 0)
		return k;
	if (!r->creds.identity_token && !r->basic_header)
		return berth_err(err, -EACCES, "login to %s: no credentials given and none stored", connect);
	_cleanup_free_ char *base = NULL;
	if ((k = ensure_probed(r, &base, err)) < 0)
		return k;
	_cleanup_free_ char *url = xasprintf("%s/v2/", base);
	if (!url)
		return berth_err(err, -ENOMEM, "login to %s: out of memory", connect);
	char what[300];
	snprintf(what, sizeof(what), "login to %s", connect);
	_cleanup_resp_ struct resp p = { .content_length = -1 };
	char deny[300];
	snprintf(deny, sizeof(deny), "login to %s failed", connect);
	struct req q = { .method = "GET", .what = what, .deny = deny, .scope = "", .retries = -1, .fd = -1 };
	k = http_do(r, &q, url, &p, err);
	if (k < 0)
		return k;
	if (p.status == 200)
		return 0;
	char text[600];
	resp_error_text(&p, text, sizeof(text));
	if (p.status == 401 || p.status == 403)
		return berth_err(err, -EACCES, "login to %s failed: %s", connect, text);
	return berth_err(err, p.status >= 500 ? -EIO : -EPROTO, "login to %s: unexpected answer: %s", connect, text);
}
