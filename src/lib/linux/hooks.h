/* hooks.h — running OCI lifecycle hooks.
 *
 * Promises: hooks run one after another, each exactly as configured: execve
 * of its absolute path (no PATH search), argv = args (or just the path),
 * env = env (or empty), the container state JSON on stdin, stdout+stderr
 * captured (the last 4 KiB).  A hook that cannot be executed, exits non-zero,
 * dies from a signal or outlives its timeout (then it and its process group
 * get SIGKILL) stops the run with an error naming the hook kind, index and
 * path plus the last line it printed:
 *   "prestart[1] (/usr/bin/hook): exited with status 3: no such network"
 *   "poststop[0] (/bin/sleep): timed out after 5s"
 * The caller's signal mask and dispositions are left as they were; a hook
 * that does not read its stdin never blocks or kills (SIGPIPE) the caller.
 */
#ifndef BERTH_LINUX_HOOKS_H
#define BERTH_LINUX_HOOKS_H

#include <stddef.h>

#include "core/error.h"
#include "spec/config.h"

/* kind is the JSON name ("prestart", "createRuntime", ...).  Stops at the
 * first failure, which becomes err (prestart, createRuntime,
 * createContainer, startContainer: a failure fails the operation). */
int linux_hooks_run(const struct spec_hook *hooks, size_t n, const char *kind, const char *state_json,
		    struct berth_error *err);
/* Runs every hook even after failures, logging each failure as a warning
 * (poststart, poststop: the lifecycle continues).  Returns how many failed. */
int linux_hooks_run_all(const struct spec_hook *hooks, size_t n, const char *kind, const char *state_json);

#endif
