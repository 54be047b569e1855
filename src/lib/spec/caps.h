/* caps.h — Linux capability names <-> numbers.
 *
 * Promises: one table of every capability the runtime-spec can name
 * (CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40), looked up both ways with
 * exact, upper-case "CAP_*" spelling.  spec_cap_last_cap() says which of them
 * the running kernel knows, so callers can tell "unknown name" (a typo) from
 * "known name this kernel lacks" (warn and carry on, as the spec asks).
 */
#ifndef BERTH_SPEC_CAPS_H
#define BERTH_SPEC_CAPS_H

#include <stddef.h>

/* The capability number of "CAP_X", or -EINVAL when the name is unknown. */
int spec_cap_from_name(const char *name);
/* "CAP_X" for a number, or NULL when the table has no such capability. */
const char *spec_cap_name(int cap);
/* The highest capability the running kernel supports
 * (/proc/sys/kernel/cap_last_cap); the table's last when that is unreadable. */
int spec_cap_last_cap(void);
/* Number of entries in the table (the highest known number + 1). */
size_t spec_cap_count(void);

#endif
