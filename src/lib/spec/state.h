/* state.h — the runtime-spec "state" document as a C struct.
 *
 * Promises: spec_state_to_json() writes what `state` prints and what hooks
 * read on stdin, with runc's key order (ociVersion, id, status, pid, bundle,
 * annotations); pid is left out when not positive and annotations when
 * empty.  spec_state_from_json() reads such a document back (from berth or
 * another runtime) and checks every field's type, naming the field on error.
 */
#ifndef BERTH_SPEC_STATE_H
#define BERTH_SPEC_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/error.h"
#include "spec/config.h"

struct spec_state {
	char *oci_version;
	char *id;
	char *status;   /* creating|created|running|stopped|paused */
	pid_t pid;      /* 0 when absent */
	char *bundle;
	struct spec_kv *annotations;
	size_t n_annotations;
};

/* malloc'd JSON text, or NULL on allocation failure (or missing required
 * strings: oci_version, id, status and bundle must be set). */
char *spec_state_to_json(const struct spec_state *s, bool pretty);
/* Parse a state document into *out (which is overwritten, not freed). */
int spec_state_from_json(const char *json, struct spec_state *out, struct berth_error *err);
/* Free every member and zero the struct. */
void spec_state_clear(struct spec_state *s);

#endif
