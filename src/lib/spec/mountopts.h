/* mountopts.h — decoding of OCI mount option strings.
 *
 * Promises: every option of the runtime-spec's Linux mount option table is
 * decoded into what the kernel interfaces take: MS_* flags to set or clear
 * for mount(2), a propagation change, MOUNT_ATTR_* bits to set or clear
 * recursively with mount_setattr(2), and the bind/idmap/tmpcopyup switches.
 * When options contradict each other the later one wins, as with mount(8).
 * Anything not in the table is filesystem data and is passed on verbatim,
 * comma-joined, in the order given.
 */
#ifndef BERTH_SPEC_MOUNTOPTS_H
#define BERTH_SPEC_MOUNTOPTS_H

#include <stddef.h>

#include "core/error.h"
#include "spec/config.h"

/* Decode opts[0..n) into m's flags, clear_flags, propagation, attr_set,
 * attr_clr, bind, recursive_bind, idmap, ridmap, tmpcopyup and data (any
 * previous decoded values are replaced).  `path` is the mount's JSON path
 * ("mounts[3]") for error messages.
 *
 * Atime options for mount_setattr ("rrelatime", "rnoatime", "rstrictatime",
 * "ratime", "rnorelatime", "rnostrictatime") always select one whole atime
 * mode, because MOUNT_ATTR_*ATIME is an enum inside MOUNT_ATTR__ATIME: they
 * put MOUNT_ATTR__ATIME in attr_clr and the mode in attr_set.  "ratime" and
 * "rnostrictatime" select relatime (the kernel default), "rnorelatime"
 * selects strictatime.  "defaults" changes nothing, as in mount(8).
 * Returns 0 or -ENOMEM. */
int spec_mount_options_decode(char **opts, size_t n, struct spec_mount *m, const char *path,
			      struct berth_error *err);

/* Decode a propagation name ("private", "rshared", ...) into MS_PRIVATE,
 * MS_SHARED, MS_SLAVE or MS_UNBINDABLE, with MS_REC for the "r" forms.
 * Returns 0 or -EINVAL for an unknown name. */
int spec_propagation_parse(const char *s, unsigned long *flags);

/* Every option name spec_mount_options_decode() recognizes (for the
 * `features` command), sorted; *n receives the count. */
const char *const *spec_mount_option_names(size_t *n);

#endif
