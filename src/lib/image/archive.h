/* archive.h — images to and from tar archives: docker-archive, oci-archive, rootfs import.
 *
 * `berth save` / `berth load` exchange images with docker, podman, skopeo and
 * containerd through the two archive formats they all speak, and
 * `berth image import` turns a plain root file system tarball into a
 * single-layer image.  Promises:
 *  - save streams one tar (pax restricted, fixed mtimes and owners) straight
 *    to the output fd; docker-archive layers are the uncompressed tars, each
 *    verified against its diff_id; oci-archive config and layer blobs are the
 *    store's blobs byte for byte.  Either way the image ID (config digest)
 *    survives a round trip through berth, docker, podman or skopeo.
 *  - load accepts either format, plain or gzip/zstd-compressed, with entries in any
 *    order; every byte it keeps is verified (blob paths against their digest,
 *    docker layers are hashed and must match the config's diff_ids), member
 *    names are checked (no absolute, no "..", no link out of the archive),
 *    and an image is registered only after every image in the archive has
 *    all its blobs and unpacked layers: a bad archive registers nothing and
 *    its error names the archive member at fault.
 *  - import gives a reproducible-in-content image: one gzip layer, an OCI
 *    config (host os/architecture, created now, history "berth image import")
 *    and an OCI manifest.
 * All three hold the store's GC lock shared while they work (a concurrent
 * rmi never sweeps what they read or write); load and import sweep the store
 * after a failure so the blobs they wrote do not linger.
 */
#ifndef BERTH_IMAGE_ARCHIVE_H
#define BERTH_IMAGE_ARCHIVE_H

#include <stddef.h>

#include "core/digest.h"
#include "core/error.h"
#include "image/store.h"

enum archive_format { ARCHIVE_DOCKER, ARCHIVE_OCI };

/* "docker-archive" (also "docker") or "oci-archive" (also "oci"); -EINVAL otherwise. */
int archive_format_parse(const char *s, enum archive_format *out, struct berth_error *err);

/* Write the images named by refs (names or IDs) to out_fd as one tar.
 * docker-archive: manifest.json ([{"Config":"<hex>.json","RepoTags":[...],
 * "Layers":["<diffhex>/layer.tar"]}]), repositories, <hex>.json configs,
 * <diffhex>/layer.tar uncompressed layers (checked against the diff_id), plus
 * <diffhex>/VERSION ("1.0") and <diffhex>/json as docker save writes them.
 * RepoTags hold full names ("docker.io/library/busybox:latest") as podman and
 * skopeo write them: docker normalises them on load to the same image name,
 * while podman would read docker's familiar "busybox:latest" as
 * localhost/busybox:latest.  A ref given as an ID contributes no RepoTags
 * (null when an image has none); refs resolving to the same image share one
 * manifest entry.
 * oci-archive: oci-layout, index.json with one manifest descriptor per name,
 * annotated org.opencontainers.image.ref.name = the full name (as podman
 * writes it; `skopeo copy oci-archive:FILE:docker.io/library/busybox:latest`
 * selects it) and io.containerd.image.name = the same (what containerd and
 * docker >= 25 read); an image saved by ID gets one descriptor without names.
 * blobs/sha256/ holds config and layers byte for byte, and the manifest: as
 * stored when it is OCI, rewritten with OCI media types when it is Docker
 * schema2 (skopeo and podman only use index entries that are OCI manifests),
 * so the manifest digest may change but the image ID never does. */
int archive_save(struct image_store *s, const char *const *refs, size_t n, enum archive_format fmt,
		 int out_fd, struct berth_error *err);

/* Read a docker-archive or oci-archive from in_fd (see header).  An archive
 * with both index.json and manifest.json (docker >= 25) is read through
 * manifest.json for names, using the archive's own OCI manifests when their
 * config matches.  Names of OCI index entries come from
 * io.containerd.image.name, else from org.opencontainers.image.ref.name when
 * it is a whole reference ("busybox:1", "quay.io/x/y:z"); a bare tag
 * ("latest") names nothing.  A docker-archive image gets a synthesised Docker
 * schema2 manifest (layers as the archive carried them, uncompressed
 * application/vnd.docker.image.rootfs.diff.tar normally), stored so push and
 * save work.  Metadata members are held in memory up to 16 MiB each and
 * 64 MiB in total; other members stream into the content store.
 * loaded_out (may be NULL) receives a strv of "Loaded image: busybox:latest"
 * lines, or "Loaded image ID: sha256:..." for an image without a name, in
 * archive order.  Returns the number of images. */
int archive_load(struct image_store *s, int in_fd, char ***loaded_out, struct berth_error *err);

/* Root file system tarball (plain, gzip or zstd) from in_fd -> single-layer
 * image; name (may be NULL) is tagged.  id_out receives the image ID. */
int archive_import(struct image_store *s, int in_fd, const char *name, char id_out[BERTH_DIGEST_MAX],
		   struct berth_error *err);

#endif
