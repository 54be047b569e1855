/* caps.h — the container process' capability sets.
 *
 * Promises: after linux_caps_drop_bounding() the bounding set holds exactly
 * process.capabilities.bounding (nothing when the config has no
 * capabilities); after linux_caps_apply() the effective, permitted and
 * inheritable sets are exactly the configured masks and the ambient set
 * holds exactly the configured ambient caps.  Capabilities this kernel does
 * not know (above cap_last_cap) are skipped with a warning, as the
 * runtime-spec asks; anything the kernel refuses is an error naming the set
 * and the capability.  The probe for cap_last_cap uses prctl, not /proc, so
 * it is right after pivot_root too.
 */
#ifndef BERTH_LINUX_CAPS_H
#define BERTH_LINUX_CAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "spec/config.h"

/* The highest capability number the running kernel knows. */
int linux_caps_last_cap(void);

/* Needs CAP_SETPCAP in the effective set: call before linux_process_set_user(). */
int linux_caps_drop_bounding(const struct spec_capabilities *c, bool has, struct berth_error *err);

/* Call after linux_process_set_user() (which keeps the permitted set across
 * the uid change).  Everything needing privilege must be done before. */
int linux_caps_apply(const struct spec_capabilities *c, bool has, struct berth_error *err);

#endif
