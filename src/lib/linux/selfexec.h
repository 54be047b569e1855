/* selfexec.h — keep the runtime binary out of a container's reach.
 *
 * Promises: after linux_selfexec_sealed() returns 0 in a process, that
 * process runs from a sealed, anonymous memfd copy of the runtime binary, so
 * /proc/<pid>/exe (and a "#!/proc/self/exe" script run by the container's
 * first execve) can only reach an immutable copy, never the host file — the
 * CVE-2019-5736 class.  The copy is made once per invocation; a process that
 * already runs from a sealed memfd returns at once.
 */
#ifndef BERTH_LINUX_SELFEXEC_H
#define BERTH_LINUX_SELFEXEC_H

#include <stdbool.h>
#include "core/error.h"

/* Re-executes the current program from a sealed memfd with the same argv
 * and environment.  Returns only on failure (or when already sealed: 0). */
int linux_selfexec_sealed(char **argv, struct berth_error *err);
/* Whether /proc/self/exe is a sealed memfd. */
bool linux_selfexec_is_sealed(void);

#endif
