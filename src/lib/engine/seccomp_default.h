/* seccomp_default.h — berth's default seccomp profile, equivalent to docker's.
 *
 * Promises: seccomp_default_profile() yields a runtime-spec linux.seccomp
 * object that spec_seccomp_parse() accepts and that behaves as docker's
 * default profile for the same capability set: every system call not listed
 * fails with EPERM (defaultAction SCMP_ACT_ERRNO, defaultErrnoRet 1, as
 * classic docker; a syscall the filter does not know therefore also gives
 * EPERM, not ENOSYS), a fixed allowlist of the calls ordinary programs need
 * is allowed, and groups of privileged calls are allowed only when the
 * matching capability is in the set (CAP_SYS_ADMIN: mount, unshare, setns,
 * namespace-creating clone, clone3, ...; CAP_SYS_PTRACE: process_vm_*,
 * kcmp, pidfd_getfd; CAP_SYS_MODULE, CAP_SYS_TIME, CAP_SYS_BOOT, CAP_SYSLOG,
 * CAP_SYS_NICE, CAP_SYS_RAWIO, CAP_SYS_PACCT, CAP_SYS_TTY_CONFIG, CAP_BPF,
 * CAP_PERFMON, CAP_DAC_READ_SEARCH).  Without CAP_SYS_ADMIN clone3 fails
 * with ENOSYS so C libraries fall back to clone, whose flags the filter can
 * inspect; personality() is limited to the harmless personas; socket() of
 * AF_VSOCK is refused.  Architectures: the host's native one plus its
 * compat ABIs (x86_64: x86, x32; aarch64: arm).  The table is ours; only
 * the syscall names and the policy follow docker.
 */
#ifndef BERTH_ENGINE_SECCOMP_DEFAULT_H
#define BERTH_ENGINE_SECCOMP_DEFAULT_H

#include <stdint.h>

#include <jansson.h>

/* caps: bitmask over CAP_* numbers (the container's bounding set).
 * A new reference, NULL only on allocation failure. */
json_t *seccomp_default_profile(uint64_t caps);

#endif
