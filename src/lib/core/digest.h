/* digest.h — content digests ("sha256:<hex>") and streaming hashers.
 *
 * Promises: a string accepted by berth_digest_valid()/berth_digest_check() is
 * exactly "sha256:" + 64 lowercase hex or "sha512:" + 128 lowercase hex, so
 * its hex part can be used as a file name under a content store without any
 * further checks (no '/', "..", NUL, uppercase or other path tricks).  The
 * hashers wrap OpenSSL's EVP API; their output uses the same canonical form.
 * Chain IDs follow the OCI image-spec definition.
 */
#ifndef BERTH_CORE_DIGEST_H
#define BERTH_CORE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

#define BERTH_DIGEST_MAX 136            /* "sha512:" + 128 hex + NUL */

enum berth_digest_algo { BERTH_DIGEST_SHA256, BERTH_DIGEST_SHA512 };

/* true for "sha256:"+64 lowercase hex or "sha512:"+128 lowercase hex, nothing else */
bool berth_digest_valid(const char *digest);

/* same, as an error: "<what>: invalid digest \"...\": <reason>" (-EINVAL) */
int berth_digest_check(const char *digest, const char *what, struct berth_error *err);

/* part after ':' (digest must be valid) */
const char *berth_digest_hex(const char *digest);

/* Algorithm of a valid digest; -EINVAL when the digest is not valid. */
int berth_digest_algo_of(const char *digest, enum berth_digest_algo *algo);

/* OpenSSL EVP wrapper */
struct berth_hasher;

/* -ENOMEM on allocation failure, -EINVAL for an unknown algo, -EIO when
 * OpenSSL refuses to initialise the digest (e.g. FIPS restrictions). */
int berth_hasher_new(enum berth_digest_algo algo, struct berth_hasher **out);

/* algo of a valid digest; -EINVAL when `digest` is not valid */
int berth_hasher_new_like(const char *digest, struct berth_hasher **out);

void berth_hasher_update(struct berth_hasher *h, const void *buf, size_t len);

/* writes "sha256:<hex>"; the hasher can not be updated afterwards (later
 * updates are ignored, a second final writes the same digest).  Should
 * OpenSSL fail internally, out is "" — never equal to a valid digest, so a
 * verification against an expected digest fails rather than passes. */
void berth_hasher_final(struct berth_hasher *h, char out[BERTH_DIGEST_MAX]);

void berth_hasher_free(struct berth_hasher *h);

static inline void berth_hasher_freep(struct berth_hasher **h)
{
	if (*h)
		berth_hasher_free(*h);
}
#define _cleanup_hasher_ __attribute__((cleanup(berth_hasher_freep)))

/* sha256 of a buffer */
int berth_digest_buf(const void *buf, size_t len, char out[BERTH_DIGEST_MAX]);
/* digest of a buffer with the algorithm of `like` (to verify content against it);
 * -EINVAL when `like` is not a valid digest */
int berth_digest_buf_like(const char *like, const void *buf, size_t len, char out[BERTH_DIGEST_MAX]);

/* chain ID per image-spec: chain(L0)=diff(L0); chain(Ln)=sha256(chain(Ln-1)+" "+diff(Ln));
 * parent may be NULL.  -EINVAL when parent_chain or diff_id is not a valid digest. */
int berth_chain_id(const char *parent_chain, const char *diff_id, char out[BERTH_DIGEST_MAX]);

#endif
