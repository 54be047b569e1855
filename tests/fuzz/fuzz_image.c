/* libFuzzer target: registry documents — manifests, indexes (manifest lists)
 * and image configs — come from the network and are the image side's main
 * untrusted input.  Every parser of spec/image sees each input; a parsed
 * index is also run through platform selection, and the bytes as a string
 * through the platform and digest validators. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/log.h"
#include "spec/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	berth_log_set_stderr(false);
	const char *buf = (const char *) data;
	struct berth_error err = { 0 };

	enum image_mt_kind kind;
	char *mt = NULL;
	if (image_manifest_kind(buf, size, NULL, &kind, &mt, &err) == 0)
		free(mt);

	struct image_manifest *m = NULL;
	berth_error_clear(&err);
	if (image_manifest_parse(buf, size, MT_DOCKER_MANIFEST, "fuzz", &m, &err) == 0) {
		if (!berth_digest_valid(m->config.digest) || m->config.size < 0)
			abort();
		for (size_t i = 0; i < m->n_layers; i++)
			if (!berth_digest_valid(m->layers[i].digest) || m->layers[i].size < 0)
				abort();
		image_manifest_free(m);
	}

	struct image_index *idx = NULL;
	berth_error_clear(&err);
	if (image_index_parse(buf, size, NULL, "fuzz", &idx, &err) == 0) {
		static const char *const wants[] = { "linux/amd64", "linux/arm", "linux/arm64/v8", "linux/arm/v6" };
		for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
			struct image_platform p = { 0 };
			const struct image_descriptor *d = NULL;
			berth_error_clear(&err);
			if (image_platform_parse(wants[i], &p, &err) == 0) {
				if (image_index_select(idx, &p, &d, &err) == 0 && !berth_digest_valid(d->digest))
					abort();
				image_platform_clear(&p);
			}
		}
		image_index_free(idx);
	}

	struct image_config *c = NULL;
	berth_error_clear(&err);
	if (image_config_parse(buf, size, "fuzz", &c, &err) == 0) {
		for (size_t i = 0; i < c->n_diff_ids; i++)
			if (!berth_digest_valid(c->diff_ids[i]))
				abort();
		image_config_free(c);
	}

	/* The raw bytes as a string: platform and digest validators. */
	if (size < 4096) {
		char *s = malloc(size + 1);
		if (!s)
			return 0;
		memcpy(s, data, size);
		s[size] = '\0';
		struct image_platform p = { 0 };
		berth_error_clear(&err);
		if (image_platform_parse(s, &p, &err) == 0) {
			char *ps = image_platform_string(&p);
			free(ps);
			image_platform_clear(&p);
		}
		berth_error_clear(&err);
		bool ok = berth_digest_check(s, "fuzz", &err) == 0;
		if (ok != berth_digest_valid(s))
			abort();
		if (ok && strpbrk(berth_digest_hex(s), "/.") != NULL)
			abort();
		struct image_mt_info info;
		(void) image_media_type_info(s, &info);
		free(s);
	}
	return 0;
}
