/* seccomp.h — turn linux.seccomp into a kernel filter, load it, hand the
 * notify fd to the seccomp agent.
 *
 * Promises: linux_seccomp_build() does all the work that can fail for a
 * reason the user must fix (unknown architecture for this libseccomp, an
 * action or flag this kernel lacks, a rule libseccomp refuses, a filter too
 * long for the kernel) and names the JSON path in its error; it runs in the
 * runtime before any namespace is entered.  The result is a finished BPF
 * program plus seccomp(2) flags, so linux_seccomp_load() is a single system
 * call: no allocation, no libseccomp, safe in a freshly cloned child right
 * before execve.  Semantics follow runc: ERRNO/TRACE default to EPERM, a
 * rule whose action equals the default is dropped, syscall names this host
 * does not know are skipped (log_debug), several conditions on one syscall
 * are ANDed in one rule unless two name the same argument index, in which
 * case each condition becomes its own rule (ORed).  The spec's flags become
 * seccomp(2) filter flags (TSYNC, LOG, SPEC_ALLOW, WAIT_KILLABLE_RECV; the
 * last only matters, and is only passed, when the profile notifies); each is
 * probed at build time and a missing one is an error naming it.  Loading
 * never sets no_new_privs by itself: the caller decides.
 */
/* src/lib is on the include path, so this file shadows the kernel's
 * <linux/seccomp.h> for every <linux/seccomp.h> include, <seccomp.h>'s
 * included; chain to the real one so both keep working. */
#include_next <linux/seccomp.h>

#ifndef BERTH_LINUX_SECCOMP_H
#define BERTH_LINUX_SECCOMP_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/error.h"
#include "spec/seccomp.h"

struct linux_seccomp; /* a compiled filter, built before it is loaded */

/* Build the filter for s (see header).  *out is owned by the caller and
 * released with linux_seccomp_free(). */
int linux_seccomp_build(const struct spec_seccomp *s, struct linux_seccomp **out,
			struct berth_error *err);

/* The same, through a cache of compiled programs in cache_dirfd (-1: no
 * cache), keyed by a hash of the profile, libseccomp's version and the
 * machine.  Compiling a docker-sized profile costs ~15 ms; loading a cached
 * program is one read.  A damaged or foreign cache entry is ignored and
 * rewritten. */
int linux_seccomp_build_cached(const struct spec_seccomp *s, int cache_dirfd, struct linux_seccomp **out,
			       struct berth_error *err);

/* Load into the calling thread (all threads with SECCOMP_FILTER_FLAG_TSYNC).
 * When the profile uses SCMP_ACT_NOTIFY, *notify_fd receives the listener fd
 * (O_CLOEXEC); otherwise -1.  notify_fd may be NULL when the profile does not
 * notify.  The caller must hold CAP_SYS_ADMIN in its user namespace or have
 * set no_new_privs (else -EACCES).  Does not allocate; err may be NULL. */
int linux_seccomp_load(struct linux_seccomp *f, int *notify_fd, struct berth_error *err);

/* Whether some rule of s is SCMP_ACT_NOTIFY (then a listener fd is made and
 * must be sent to linux_seccomp_listener_path(s)). */
bool linux_seccomp_uses_notify(const struct spec_seccomp *s);
/* listenerPath, or NULL when none was given. */
const char *linux_seccomp_listener_path(const struct spec_seccomp *s);

/* Send the notify fd to the seccomp agent over `sock` (an AF_UNIX
 * SOCK_STREAM socket already connected to listenerPath) as the
 * runtime-spec's container process state: {"ociVersion":"1.2.0",
 * "fds":["seccompFd"],"pid":pid,"metadata":"<listenerMetadata>",
 * "state":<state_json>}, the fd riding as SCM_RIGHTS on the first sendmsg.
 * state_json is the runtime-spec state object's text.  The caller closes
 * sock afterwards (one state per connection). */
int linux_seccomp_send_notify_fd(int sock, int notify_fd, const struct spec_seccomp *s, pid_t pid,
				 const char *state_json, struct berth_error *err);

void linux_seccomp_free(struct linux_seccomp *f);

/* For `features`: NULL-terminated lists of the names the parser accepts. */
const char *const *linux_seccomp_known_actions(void);
const char *const *linux_seccomp_known_architectures(void);
const char *const *linux_seccomp_known_operators(void);
const char *const *linux_seccomp_known_flags(void);
/* Whether this kernel accepts the flag (features' "supportedFlags"). */
bool linux_seccomp_flag_supported(enum spec_seccomp_flag flag);
/* Whether this kernel has seccomp filter mode at all. */
bool linux_seccomp_kernel_supported(void);

#endif
