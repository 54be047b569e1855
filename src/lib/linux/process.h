/* process.h — the container process' own attributes, set just before execve.
 *
 * Promises: each function applies one part of the config's `process` (and
 * the few process-wide bits of `linux`) to the calling process, exactly as
 * written, or fails with an error naming the JSON field and what the host
 * lacks ("process.rlimits[0] (RLIMIT_NOFILE): hard limit 1048576 is above
 * this host's limit 20000 and raising it needs CAP_SYS_RESOURCE").  Nothing
 * here follows a path the container controls except the container's own cwd,
 * and linux_process_chdir_checked() refuses a cwd that is not inside the
 * root (a leaked host directory fd, CVE-2024-21626).
 *
 * Ordering (privileges shrink as the init goes):
 *   rlimits, scheduling, lsm labels   — may need CAP_SYS_RESOURCE / CAP_SYS_NICE
 *   linux_caps_drop_bounding          — needs CAP_SETPCAP
 *   linux_process_set_user            — needs CAP_SETUID/CAP_SETGID
 *   linux_caps_apply                  — after set_user
 *   chdir_checked, cloexec_fds, no_new_privs, seccomp, execve
 */
#ifndef BERTH_LINUX_PROCESS_H
#define BERTH_LINUX_PROCESS_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/error.h"
#include "spec/config.h"

int linux_process_set_rlimits(const struct spec_process *p, struct berth_error *err);

/* setgroups, setresgid, setresuid keeping the permitted capabilities (for
 * linux_caps_apply), then the umask (0022 unless user.umask is given).
 * Without additionalGids the supplementary groups are cleared, except in a
 * user namespace whose setgroups is "deny" (there is nothing to clear). */
int linux_process_set_user(const struct spec_process *p, struct berth_error *err);

/* process.scheduler, process.ioPriority, linux.personality and
 * process.execCPUAffinity.initial, each only when given.  l may be NULL.
 * A realtime policy, a negative nice or the RT io class need CAP_SYS_NICE /
 * CAP_SYS_ADMIN: call before capabilities are dropped. */
int linux_process_set_scheduling(const struct spec_process *p, const struct spec_linux *l,
				 struct berth_error *err);

/* Parse a cpu list ("0-3,5") into a CPU_ALLOC'd set; *size is its byte size
 * for sched_setaffinity.  `field` names the input in errors. */
int linux_cpu_list_parse(const char *list, const char *field, cpu_set_t **set, size_t *size,
			 struct berth_error *err);
/* sched_setaffinity(pid, list): for execCPUAffinity.final, which the caller
 * applies once the process is in the container's cgroup. */
int linux_process_set_cpu_affinity(pid_t pid, const char *list, const char *field,
				   struct berth_error *err);

int linux_process_set_no_new_privs(struct berth_error *err);

/* process.apparmorProfile / process.selinuxLabel: the exec attribute of the
 * calling thread, written through the procfs handle so it takes effect at
 * execve.  A label for an LSM this host has not enabled is an error. */
int linux_process_set_lsm_labels(int procfd, const struct spec_process *p, struct berth_error *err);

/* Mark every fd >= 3 close-on-exec except [3, 3 + preserve_fds) and the keep
 * fds, whose flags are left as they are (preserved fds come from our caller
 * without FD_CLOEXEC; the runtime's own fds in that range must not exist).
 * Returns 0 or -errno. */
int linux_process_cloexec_fds(int preserve_fds, const int *keep, size_t n_keep);

/* chdir(cwd) inside the already-pivoted root, then prove with getcwd(2) that
 * the result is reachable from the root. */
int linux_process_chdir_checked(const char *cwd, struct berth_error *err);

#endif
