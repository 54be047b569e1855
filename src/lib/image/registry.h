/* registry.h — OCI distribution client (pull and push) over libcurl.
 *
 * Promises: one struct registry talks to one registry host about one repository.  It picks the
 * scheme like docker (https; loopback hosts and configured insecure registries use https without
 * certificate checks and fall back to plain http on a TLS/connect failure, and so does tls_verify=false;
 * every other host is https with the system CAs only), learns the auth challenge from GET /v2/ once,
 * fetches and caches Bearer tokens per scope (or sends Basic credentials), refreshes a token once
 * on a 401, follows redirects by hand without ever sending Authorization to another host, and
 * retries transient failures (connect errors, timeouts, 5xx, 429 honouring Retry-After) with
 * exponential backoff.  Manifests are size-limited and verified against the digest they were asked
 * by (or Docker-Content-Digest).  Every call is thread-safe: several threads may stream blobs
 * through one struct registry at once; DNS, TLS sessions, tokens and (through a pool of curl handles)
 * connections are shared between them.
 * Errors name the image, the host and, when the registry sent one, its own error text.  Secrets
 * (passwords, tokens) never appear in messages or logs.
 */
#ifndef BERTH_IMAGE_REGISTRY_H
#define BERTH_IMAGE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/digest.h"
#include "core/error.h"
#include "image/reference.h"

/* Manifests larger than this are refused (a manifest is metadata; bigger means hostile). */
#define REGISTRY_MANIFEST_MAX (4 * 1024 * 1024)
/* Blobs up to this size are pushed with one PUT; larger ones in PATCH chunks of this size. */
#define REGISTRY_CHUNK_SIZE (16 * 1024 * 1024)

struct registry_opts {
	bool tls_verify;            /* default true; false = https without verification, then plain http fallback */
	const char *auth_file;      /* NULL = auth_config_path() */
	const char *registries_conf;/* NULL = /etc/berth/registries.json or $BERTH_REGISTRIES_CONF */
	const char *username, *password;  /* explicit creds (login / --creds), override auth file */
	int max_retries;            /* transient failures (connect, 5xx, 429 with Retry-After), default 4, backoff 200ms*2^n;
	                             * 0 = default, negative = no retries */
};

/* Fills the defaults (tls_verify true, max_retries 4, everything else NULL). */
void registry_opts_init(struct registry_opts *opts);

struct registry;                 /* one registry host + one repository; thread-safe for blob calls */

/* opts may be NULL (defaults).  No network traffic happens here; the challenge is learnt on first use. */
int registry_open(const struct image_ref *ref, const struct registry_opts *opts, struct registry **out,
                  struct berth_error *err);
void registry_close(struct registry *r);

/* Sink for streamed bodies; return 0 to continue, negative errno to abort (propagated) */
typedef int (*registry_sink_fn)(void *ctx, const void *buf, size_t len);

/* GET manifest by tag or digest with the 4-type Accept header. Verifies the body against the digest when
 * `reference` is a digest, and against Docker-Content-Digest when fetched by tag. Returns body, Content-Type,
 * and the digest (sha256 of the body). When `reference` is a digest, out_digest uses its algorithm.
 * *body is NUL-terminated (not counted in *len); media_type may be NULL when not wanted, and *media_type
 * is NULL when the registry sent no Content-Type. Mismatch -> -EBADMSG. */
int registry_get_manifest(struct registry *r, const char *reference, char **body, size_t *len,
                          char **media_type, char out_digest[BERTH_DIGEST_MAX], struct berth_error *err);

/* GET blob from `offset` (Range: bytes=offset-) feeding sink. *resumed is set true when the server honoured
 * the range (206), false when it sent the whole blob (200) — the caller must then restart its hashing.
 * Redirects are followed by hand; Authorization is never sent to a different host.
 *
 * *resumed is decided before the first byte reaches the sink, so a sink that can see the flag (through
 * its ctx) may truncate its partial file on its first call when it is false.  A 416 (offset at or past
 * the end, e.g. a complete partial) is answered by fetching the whole blob with *resumed false.
 *
 * A transfer that breaks after bytes reached the sink is retried here with a Range starting after the
 * last delivered byte, so the sink always sees one contiguous stream.  If the server answers such a
 * retry with 200 (whole blob) instead of 206, the bytes cannot be spliced: the call returns -ESPIPE
 * ("... ignored Range on resume; restart from 0") and the caller must restart from offset 0 (truncate
 * its partial file, reset its hasher) and call again.  Nothing else returns -ESPIPE.  resumed may be
 * NULL.  Errors: -ENOENT unknown blob, -EACCES, -EAGAIN (429 after retries), -ECONNREFUSED /
 * -EHOSTUNREACH / -ETIMEDOUT / -ECONNRESET / -EPROTO (TLS) "cannot reach registry", -EIO (5xx), or the
 * sink's own negative errno. */
int registry_get_blob(struct registry *r, const char *digest, int64_t offset, registry_sink_fn sink,
                      void *ctx, bool *resumed, struct berth_error *err);

/* GET a blob from one of a descriptor's `urls` (foreign / non-distributable layers), with the same
 * streaming, Range and retry behaviour as registry_get_blob but no credentials of any kind. */
int registry_get_url(struct registry *r, const char *url, const char *digest, int64_t offset, registry_sink_fn sink,
                     void *ctx, bool *resumed, struct berth_error *err);

/* HEAD blob: 1 present (*size set when non-NULL and the server sent Content-Length, else -1), 0 absent */
int registry_blob_exists(struct registry *r, const char *digest, int64_t *size, struct berth_error *err);

/* Cross-repository mount: 1 mounted, 0 registry wants an upload (the session it opened is cancelled) */
int registry_mount_blob(struct registry *r, const char *digest, const char *from_path, struct berth_error *err);

/* Upload `size` bytes from fd (seekable, read from offset 0): POST, then PUT ?digest= monolithic when size <=
 * chunk_size, else PATCH chunks then PUT. Does not check whether the blob exists first (use
 * registry_blob_exists). */
int registry_push_blob(struct registry *r, const char *digest, int64_t size, int fd, struct berth_error *err);

/* PUT manifest by tag or digest with Content-Type media_type. */
int registry_put_manifest(struct registry *r, const char *reference, const char *media_type,
                          const void *body, size_t len, struct berth_error *err);

/* GET /v2/ with the given creds (login): 0 when accepted, -EACCES with the registry's message otherwise.
 * host is "localhost:5000", "quay.io", ...; "docker.io", "index.docker.io", "https://host/v1/" are
 * accepted as users type them.  opts->username/password are the creds to check (NULL = those of the
 * auth file; none at all -> -EACCES).  A registry that asks for no authentication accepts any creds
 * (0), as with docker login. */
int registry_check_login(const char *host, const struct registry_opts *opts, struct berth_error *err);

const char *registry_host(const struct registry *r);   /* for messages */

#endif
