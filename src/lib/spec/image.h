/* image.h — OCI image-spec and Docker schema2 documents as C structs.
 *
 * Promises: the parsers turn an untrusted manifest, index (manifest list) or
 * image config into a fully validated struct, or fail with a berth_error
 * naming `what` and the JSON path ("manifest host/a:b: layers[1].digest:
 * invalid digest ...").  Every digest in a parsed struct passed
 * berth_digest_check(), every size is >= 0, required strings are non-NULL.
 * Only schemaVersion 2 documents are accepted; Docker schema1 is refused as
 * unsupported (-ENOTSUP).  String vectors are NULL-terminated and also carry
 * a count.  Everything is owned by the struct (json_t members are references
 * the struct holds) and released by the matching *_free().
 */
#ifndef BERTH_SPEC_IMAGE_H
#define BERTH_SPEC_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/error.h"

#define MT_OCI_INDEX        "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST     "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG       "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER        "application/vnd.oci.image.layer.v1.tar"
#define MT_OCI_LAYER_GZ     "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_LAYER_ZST    "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_OCI_LAYER_ND     "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define MT_OCI_LAYER_ND_GZ  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
#define MT_OCI_LAYER_ND_ZST "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
#define MT_DOCKER_LIST      "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST  "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG    "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER     "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MT_DOCKER_FOREIGN   "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
/* Docker schema1: recognised only to refuse it with a clear message */
#define MT_DOCKER_SCHEMA1        "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* Accept header value listing all four manifest types */
#define IMAGE_MANIFEST_ACCEPT \
	MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST

enum image_mt_kind { MT_KIND_UNKNOWN, MT_KIND_INDEX, MT_KIND_MANIFEST, MT_KIND_CONFIG, MT_KIND_LAYER };
enum image_compression { IMAGE_COMP_NONE, IMAGE_COMP_GZIP, IMAGE_COMP_ZSTD };

struct image_mt_info {
	enum image_mt_kind kind;
	enum image_compression comp;
	bool foreign;                /* nondistributable/foreign */
	bool docker;                 /* a Docker (not OCI) media type */
};

/* -ENOTSUP for unknown.  Parameters after ';' ("...; charset=utf-8") are ignored. */
int image_media_type_info(const char *mt, struct image_mt_info *out);

struct image_platform { char *os, *architecture, *variant, *os_version; };

/* "linux/arm64/v8", "linux/amd64"; a lone OS ("linux") takes the host's
 * architecture, a lone architecture ("arm64") means linux.  Architecture
 * aliases are normalised to GOARCH names (x86_64 -> amd64, aarch64 -> arm64,
 * armhf -> arm/v7, armel -> arm/v6, i386/i686 -> 386). -EINVAL on bad input. */
int image_platform_parse(const char *s, struct image_platform *out, struct berth_error *err);

/* linux/amd64 etc. from uname, GOARCH names (arm64 gets variant v8, armv7l
 * arm/v7).  Fields stay NULL only if allocation fails. */
void image_platform_host(struct image_platform *out);

/* Same mapping for a given uname machine string ("x86_64", "aarch64",
 * "armv7l", "i686", "ppc64le", "s390x", "riscv64", ...); unknown machines
 * are passed through unchanged.  -ENOMEM only. */
int image_platform_from_machine(const char *machine, struct image_platform *out);

/* "linux/arm64/v8"; NULL on allocation failure */
char *image_platform_string(const struct image_platform *p);

/* true when `have` satisfies `want` under image_index_select()'s rules
 * (os + architecture equal; variant equal when want has one, where a missing
 * variant means v8 for arm64 and v7 for arm). */
bool image_platform_match(const struct image_platform *want, const struct image_platform *have);

void image_platform_clear(struct image_platform *p);

struct image_descriptor {
	char *media_type;
	char *digest;
	int64_t size;
	char **urls;                 /* NULL-terminated, may be NULL when n_urls == 0 */
	size_t n_urls;
	bool has_platform;
	struct image_platform platform;
	json_t *annotations;         /* borrowed ref kept alive by the owning struct, may be NULL */
};

struct image_manifest {          /* OCI manifest or Docker schema2 manifest */
	int schema_version;
	char *media_type;            /* media_type of the document (from field or caller); never NULL */
	struct image_descriptor config;
	struct image_descriptor *layers;
	size_t n_layers;
	json_t *annotations;         /* borrowed from json, may be NULL */
	json_t *json;                /* parsed document */
};

struct image_index {             /* OCI index or Docker manifest list */
	int schema_version;
	char *media_type;            /* never NULL */
	struct image_descriptor *manifests;
	size_t n_manifests;
	json_t *annotations;         /* borrowed from json, may be NULL */
	json_t *json;
};

struct image_config {
	char *architecture, *os, *variant, *created, *author;
	char *os_version;
	/* "config" object (User, Env, Entrypoint, Cmd, WorkingDir, Labels, StopSignal, ExposedPorts, Volumes).
	 * Absent fields stay NULL / empty (scratch images have no "config" at all). */
	char *user, *working_dir, *stop_signal;
	char **env; size_t n_env;
	char **entrypoint; size_t n_entrypoint;
	char **cmd; size_t n_cmd;
	bool has_entrypoint, has_cmd;          /* present (possibly empty) vs absent */
	char **exposed_ports; size_t n_exposed_ports;  /* keys of ExposedPorts, "80/tcp" */
	char **volumes; size_t n_volumes;              /* keys of Volumes */
	json_t *labels;                        /* borrowed object of strings, may be NULL */
	char **diff_ids; size_t n_diff_ids;    /* rootfs.diff_ids, each validated */
	json_t *json;                          /* the whole document, for inspect */
};

/* Parsers validate every digest (berth_digest_check), sizes >= 0, required fields; errors name
 * `what` (e.g. "manifest docker.io/library/busybox:latest") and the JSON path ("layers[2].digest").
 * media_type_hint: Content-Type from the registry, used when the document has no mediaType. */
int image_manifest_parse(const char *buf, size_t len, const char *media_type_hint, const char *what,
                         struct image_manifest **out, struct berth_error *err);
int image_index_parse(const char *buf, size_t len, const char *media_type_hint, const char *what,
                      struct image_index **out, struct berth_error *err);
int image_config_parse(const char *buf, size_t len, const char *what, struct image_config **out,
                       struct berth_error *err);

/* What a manifest document is: MT_KIND_INDEX or MT_KIND_MANIFEST (from mediaType field, then hint,
 * then shape).  *media_type (may be NULL) receives the document's media type, newly allocated.
 * -ENOTSUP for schema1 or a non-manifest media type, -EINVAL for bad JSON. */
int image_manifest_kind(const char *buf, size_t len, const char *media_type_hint, enum image_mt_kind *kind,
                        char **media_type, struct berth_error *err);

/* Pick the manifest for `want` (os+arch must match; variant matches if set in want, arm64 defaults v8,
 * arm v7; without a variant in want, prefer the host's default variant, else the first match).
 * Attestation entries ("unknown/unknown") are never chosen.  Entries without a platform (OCI
 * image-layout index.json) are a last resort when no entry names a matching platform: the caller
 * should then check the config's os/architecture.  For a pull without --platform, pass the host
 * platform with variant NULL: the host's variant is then preferred, not required.
 * -ENOENT + error listing available platforms when none. */
int image_index_select(const struct image_index *idx, const struct image_platform *want,
                       const struct image_descriptor **out, struct berth_error *err);

void image_manifest_free(struct image_manifest *m);
void image_index_free(struct image_index *i);
void image_config_free(struct image_config *c);

static inline void image_manifest_freep(struct image_manifest **m) { if (*m) image_manifest_free(*m); }
static inline void image_index_freep(struct image_index **i) { if (*i) image_index_free(*i); }
static inline void image_config_freep(struct image_config **c) { if (*c) image_config_free(*c); }
static inline void image_platform_clearp(struct image_platform *p) { image_platform_clear(p); }
#define _cleanup_manifest_ __attribute__((cleanup(image_manifest_freep)))
#define _cleanup_index_ __attribute__((cleanup(image_index_freep)))
#define _cleanup_image_config_ __attribute__((cleanup(image_config_freep)))
#define _cleanup_platform_ __attribute__((cleanup(image_platform_clearp)))

#endif
