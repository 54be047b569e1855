/* commit.h — `berth commit`: a container's changes become a new image.
 *
 * The new layer is the container's overlay upper directory converted back
 * to image-spec form (whiteout devices -> ".wh.NAME", opaque directories ->
 * ".wh..wh..opq"; the work dir and the engine's bind-mount stubs are left
 * out), tar'd (diff_id), gzip'd (blob digest) into the content store and
 * unpacked as a layer through the same ingest pipeline a pull uses, under
 * the chain id that extends the container's image.  The new config is the
 * image's config with the container's own settings (Cmd, Entrypoint, Env,
 * User, WorkingDir, Labels, StopSignal given at create) merged in as docker
 * does, then the --change instructions applied, a history entry appended
 * and rootfs.diff_ids extended.  Promises: the image is registered (visible
 * in `berth images`) only once its blobs and all its layers are committed;
 * it shares the base image's layers, so removing the base image keeps them;
 * a running container is frozen while its upper dir is read (unless
 * pause=false) and thawed again whatever the outcome; on failure nothing is
 * registered and a sweep removes what was written.
 */
#ifndef BERTH_ENGINE_COMMIT_H
#define BERTH_ENGINE_COMMIT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/digest.h"
#include "core/error.h"
#include "engine/engine.h"

struct commit_opts {
	const char *message;        /* -m: the history entry's comment */
	const char *author;         /* -a */
	const char *const *changes; /* -c: Dockerfile instructions */
	size_t n_changes;
	bool pause;                 /* freeze a running container while its changes are read */
	const char *name;           /* REPO[:TAG] to tag, or NULL (a dangling image) */
};

/* Returns 0 with the new image ID ("sha256:...") in image_id. */
int engine_commit(struct engine *e, const char *id, const struct commit_opts *o, char image_id[BERTH_DIGEST_MAX],
		  struct berth_error *err);

/* Apply one --change instruction to an image config's "config" object:
 * CMD, ENTRYPOINT (JSON or shell form), ENV (K=V ... or "K V"), LABEL K=V ...,
 * EXPOSE PORT[/PROTO] ..., VOLUME (JSON or words), WORKDIR (relative to the
 * current one), USER, STOPSIGNAL.  Quotes and backslashes as a Dockerfile;
 * no $VAR substitution.  *cmd_set is set when CMD was given (ENTRYPOINT
 * without CMD among the changes clears the inherited Cmd, as docker does).
 * -EINVAL naming the instruction for anything else or a malformed value. */
int commit_apply_change(json_t *config, const char *change, bool *cmd_set, bool *entrypoint_set,
			struct berth_error *err);

#endif
