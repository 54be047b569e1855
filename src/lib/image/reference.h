/* reference.h — image references ("busybox", "quay.io/ns/app:1.2@sha256:...").
 *
 * Promises: image_ref_parse() accepts exactly the references docker accepts
 * (the distribution/reference grammar) and normalises them the same way: a
 * first component counts as a registry domain only when it contains '.' or
 * ':', is "localhost", or has an uppercase letter; otherwise the domain is
 * "docker.io" and single-component docker.io names gain "library/";
 * "index.docker.io" becomes "docker.io"; a reference with neither tag nor
 * digest gets the tag "latest".  Rejections carry docker's reasons
 * ("invalid reference format: repository name must be lowercase").  The
 * strings produced by the formatting functions parse back to the same
 * reference.
 */
#ifndef BERTH_IMAGE_REFERENCE_H
#define BERTH_IMAGE_REFERENCE_H

#include <stdbool.h>

#include "core/error.h"

/* docker's limit on domain + "/" + path */
#define IMAGE_REF_NAME_MAX 255

struct image_ref {
	char *domain;   /* "docker.io", "localhost:5000", "quay.io" */
	char *path;     /* "library/busybox", "ns/repo" */
	char *tag;      /* NULL when only a digest was given; "latest" when neither */
	char *digest;   /* NULL or validated "sha256:..." */
};

/* docker's normalisation rules exactly; -EINVAL with the reason
 * ("invalid reference format: repository name must be lowercase").
 * -ENOMEM on allocation failure.  *out is untouched on failure. */
int image_ref_parse(const char *s, struct image_ref *out, struct berth_error *err);
void image_ref_clear(struct image_ref *r);
/* All formatters return malloc'd strings (NULL only when out of memory). */
char *image_ref_repo(const struct image_ref *r);          /* "docker.io/library/busybox" */
char *image_ref_string(const struct image_ref *r);        /* "docker.io/library/busybox:latest[@sha256:..]" */
char *image_ref_familiar(const struct image_ref *r);      /* "busybox:latest" / "user/app:1" / "host:5000/x:y" */
char *image_ref_familiar_repo(const struct image_ref *r); /* "busybox" */
/* The host to talk to: "docker.io" -> "registry-1.docker.io"; else the domain. */
const char *image_ref_registry_host(const struct image_ref *r);
/* "sha256:<64 lowercase hex>", or a bare lowercase hex string of 3..64 chars
 * (full id or prefix) -> a candidate image id rather than a name. */
bool image_ref_looks_like_id(const char *s);
/* A tag as the grammar allows it: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
bool image_ref_tag_valid(const char *tag);

#endif
