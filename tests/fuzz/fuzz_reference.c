/* libFuzzer target: image references (command lines, Dockerfiles, archive
 * manifests) and WWW-Authenticate challenges (registry responses).  Beyond
 * "no crash", it checks that every accepted reference prints to a string
 * that parses back to the same reference. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "image/auth.h"
#include "image/reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const char *s)
{
	struct image_ref r = { 0 }, r2 = { 0 };
	struct berth_error err = { 0 };
	if (image_ref_parse(s, &r, &err) != 0)
		return;
	char *full = image_ref_string(&r);
	char *fam = image_ref_familiar(&r);
	char *repo = image_ref_repo(&r);
	char *frepo = image_ref_familiar_repo(&r);
	if (!full || !fam || !repo || !frepo)
		abort();
	(void) image_ref_registry_host(&r);
	if (image_ref_parse(fam, &r2, &err) != 0)
		abort();
	char *full2 = image_ref_string(&r2);
	if (!full2 || strcmp(full, full2) != 0)
		abort();
	free(full2);
	image_ref_clear(&r2);
	if (image_ref_parse(full, &r2, &err) != 0)
		abort();
	full2 = image_ref_string(&r2);
	if (!full2 || strcmp(full, full2) != 0)
		abort();
	free(full2);
	image_ref_clear(&r2);
	free(full);
	free(fam);
	free(repo);
	free(frepo);
	image_ref_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	berth_log_set_stderr(false);
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	roundtrip(s);
	(void) image_ref_looks_like_id(s);

	struct auth_challenge ch = { 0 };
	struct berth_error err = { 0 };
	if (auth_challenge_parse(s, &ch, &err) == 0) {
		if (!ch.scheme)
			abort();
		auth_challenge_clear(&ch);
	}
	free(s);
	return 0;
}
