#include "core/digest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/cleanup.h"

struct berth_hasher {
	EVP_MD_CTX *ctx;
	enum berth_digest_algo algo;
	bool failed;
	bool finished;
	char result[BERTH_DIGEST_MAX];
};

struct algo_desc {
	const char *name;
	size_t hex_len;
};

static const struct algo_desc algos[] = {
	[BERTH_DIGEST_SHA256] = { "sha256", 64 },
	[BERTH_DIGEST_SHA512] = { "sha512", 128 },
};

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Algorithm named by the prefix before ':' (length n), or -1. */
static int algo_lookup(const char *s, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(algos); i++)
		if (strlen(algos[i].name) == n && memcmp(algos[i].name, s, n) == 0)
			return (int) i;
	return -1;
}

bool berth_digest_valid(const char *digest)
{
	if (!digest)
		return false;
	const char *colon = strchr(digest, ':');
	if (!colon)
		return false;
	int a = algo_lookup(digest, (size_t) (colon - digest));
	if (a < 0)
		return false;
	const char *hex = colon + 1;
	size_t i;
	for (i = 0; hex[i]; i++)
		if (!is_lower_hex(hex[i]) || i >= algos[a].hex_len)
			return false;
	return i == algos[a].hex_len;
}

/* Printable rendering of untrusted text for an error message: control and
 * non-ASCII bytes become \xNN, quotes and backslashes are escaped, and long
 * input is cut so a hostile value can not flood the one-line message. */
static void quote(const char *s, char *buf, size_t size)
{
	const size_t limit = 150;
	size_t o = 0, i;
	for (i = 0; s[i] && i < limit && o + 5 < size; i++) {
		unsigned char c = (unsigned char) s[i];
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char) c;
		} else if (c < 0x20 || c >= 0x7f) {
			o += (size_t) snprintf(buf + o, size - o, "\\x%02x", c);
		} else {
			buf[o++] = (char) c;
		}
	}
	buf[o] = '\0';
	if (s[i] && o + 4 < size)
		memcpy(buf + o, "...", 4);
}

static void show_char(char c, char buf[8])
{
	unsigned char u = (unsigned char) c;
	if (u < 0x20 || u >= 0x7f || u == '\'' || u == '\\')
		snprintf(buf, 8, "\\x%02x", u);
	else
		snprintf(buf, 8, "%c", c);
}

int berth_digest_check(const char *digest, const char *what, struct berth_error *err)
{
	if (!what)
		what = "digest";
	if (!digest)
		return berth_err(err, EINVAL, "%s: missing digest", what);

	char q[640];
	quote(digest, q, sizeof(q));
	if (!digest[0])
		return berth_err(err, EINVAL, "%s: invalid digest \"\": empty", what);

	const char *colon = strchr(digest, ':');
	if (!colon)
		return berth_err(err, EINVAL,
				 "%s: invalid digest \"%s\": missing algorithm (expected \"sha256:\" or \"sha512:\" prefix)",
				 what, q);
	size_t alen = (size_t) (colon - digest);
	int a = algo_lookup(digest, alen);
	if (a < 0) {
		char aq[640];
		char *alg = strndup(digest, alen);
		if (!alg)
			return berth_err(err, ENOMEM, "%s: out of memory", what);
		quote(alg, aq, sizeof(aq));
		free(alg);
		return berth_err(err, EINVAL,
				 "%s: invalid digest \"%s\": unsupported algorithm \"%s\" (expected sha256 or sha512)",
				 what, q, aq);
	}

	const char *hex = colon + 1;
	size_t want = algos[a].hex_len;
	size_t len = strlen(hex);
	size_t bad = SIZE_MAX, upper = SIZE_MAX;
	for (size_t i = 0; i < len; i++) {
		if (is_lower_hex(hex[i]))
			continue;
		if (hex[i] >= 'A' && hex[i] <= 'F') {
			if (upper == SIZE_MAX)
				upper = i;
		} else if (bad == SIZE_MAX) {
			bad = i;
		}
	}
	if (len == want && bad == SIZE_MAX && upper == SIZE_MAX)
		return 0;

	/* Name every way the hex part is wrong, so the user can fix it in one go. */
	char detail[128] = "";
	size_t o = 0;
	if (len != want)
		o += (size_t) snprintf(detail + o, sizeof(detail) - o, "length %zu", len);
	if (bad != SIZE_MAX) {
		char c[8];
		show_char(hex[bad], c);
		o += (size_t) snprintf(detail + o, sizeof(detail) - o, "%snon-hex character '%s' at offset %zu",
				       o ? ", " : "", c, bad);
	}
	if (upper != SIZE_MAX && o < sizeof(detail))
		snprintf(detail + o, sizeof(detail) - o, "%suppercase '%c' at offset %zu",
			 o ? ", " : "", hex[upper], upper);
	return berth_err(err, EINVAL, "%s: invalid digest \"%s\": not %zu lowercase hex characters (%s)",
			 what, q, want, detail);
}

const char *berth_digest_hex(const char *digest)
{
	const char *colon = strchr(digest, ':');
	return colon ? colon + 1 : digest;
}

int berth_digest_algo_of(const char *digest, enum berth_digest_algo *algo)
{
	if (!berth_digest_valid(digest))
		return -EINVAL;
	const char *colon = strchr(digest, ':');
	*algo = (enum berth_digest_algo) algo_lookup(digest, (size_t) (colon - digest));
	return 0;
}

int berth_hasher_new(enum berth_digest_algo algo, struct berth_hasher **out)
{
	const EVP_MD *md;
	switch (algo) {
	case BERTH_DIGEST_SHA256:
		md = EVP_sha256();
		break;
	case BERTH_DIGEST_SHA512:
		md = EVP_sha512();
		break;
	default:
		return -EINVAL;
	}
	struct berth_hasher *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->algo = algo;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx) {
		free(h);
		return -ENOMEM;
	}
	if (!md || EVP_DigestInit_ex(h->ctx, md, NULL) != 1) {
		berth_hasher_free(h);
		return -EIO;
	}
	*out = h;
	return 0;
}

int berth_hasher_new_like(const char *digest, struct berth_hasher **out)
{
	enum berth_digest_algo algo;
	int r = berth_digest_algo_of(digest, &algo);
	if (r < 0)
		return r;
	return berth_hasher_new(algo, out);
}

void berth_hasher_update(struct berth_hasher *h, const void *buf, size_t len)
{
	if (h->finished || h->failed || len == 0)
		return;
	if (EVP_DigestUpdate(h->ctx, buf, len) != 1)
		h->failed = true;
}

void berth_hasher_final(struct berth_hasher *h, char out[BERTH_DIGEST_MAX])
{
	if (!h->finished) {
		h->finished = true;
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int n = 0;
		h->result[0] = '\0';
		if (!h->failed && EVP_DigestFinal_ex(h->ctx, md, &n) == 1 &&
		    (size_t) n * 2 == algos[h->algo].hex_len) {
			static const char digits[] = "0123456789abcdef";
			size_t o = (size_t) snprintf(h->result, sizeof(h->result), "%s:", algos[h->algo].name);
			for (unsigned int i = 0; i < n; i++) {
				h->result[o++] = digits[md[i] >> 4];
				h->result[o++] = digits[md[i] & 0xf];
			}
			h->result[o] = '\0';
		}
	}
	memcpy(out, h->result, BERTH_DIGEST_MAX);
}

void berth_hasher_free(struct berth_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

static int digest_buf_algo(enum berth_digest_algo algo, const void *buf, size_t len, char out[BERTH_DIGEST_MAX])
{
	_cleanup_hasher_ struct berth_hasher *h = NULL;
	int r = berth_hasher_new(algo, &h);
	if (r < 0)
		return r;
	berth_hasher_update(h, buf, len);
	berth_hasher_final(h, out);
	return out[0] ? 0 : -EIO;
}

int berth_digest_buf(const void *buf, size_t len, char out[BERTH_DIGEST_MAX])
{
	return digest_buf_algo(BERTH_DIGEST_SHA256, buf, len, out);
}

int berth_digest_buf_like(const char *like, const void *buf, size_t len, char out[BERTH_DIGEST_MAX])
{
	enum berth_digest_algo algo;
	int r = berth_digest_algo_of(like, &algo);
	return r < 0 ? r : digest_buf_algo(algo, buf, len, out);
}

int berth_chain_id(const char *parent_chain, const char *diff_id, char out[BERTH_DIGEST_MAX])
{
	if (!berth_digest_valid(diff_id))
		return -EINVAL;
	if (!parent_chain) {
		memcpy(out, diff_id, strlen(diff_id) + 1);
		return 0;
	}
	if (!berth_digest_valid(parent_chain))
		return -EINVAL;
	_cleanup_hasher_ struct berth_hasher *h = NULL;
	int r = berth_hasher_new(BERTH_DIGEST_SHA256, &h);
	if (r < 0)
		return r;
	berth_hasher_update(h, parent_chain, strlen(parent_chain));
	berth_hasher_update(h, " ", 1);
	berth_hasher_update(h, diff_id, strlen(diff_id));
	berth_hasher_final(h, out);
	return out[0] ? 0 : -EIO;
}
