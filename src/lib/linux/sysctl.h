/* sysctl.h — linux.sysctl: checked against the container's namespaces, then
 * written through a verified procfs handle.
 *
 * Promises: linux_sysctl_validate() accepts a key only when the kernel scopes
 * it to a namespace the container does not share with the host (the ipc
 * sysctls and fs.mqueue.* need an ipc namespace, net.* a network namespace
 * that is not the host's, kernel.hostname/kernel.domainname a uts
 * namespace); anything else would change the host and is refused with an
 * error naming the key.  linux_sysctl_apply() writes each value with one
 * write(2) under <procfs>/sys, never through a path the container controls.
 * Keys use dots as separators ("net.ipv4.ip_forward"), or slashes when they
 * contain one ("net/ipv4/conf/eth0.100/forwarding", dots then literal), as
 * sysctl(8) does.
 */
#ifndef BERTH_LINUX_SYSCTL_H
#define BERTH_LINUX_SYSCTL_H

#include "core/error.h"
#include "spec/config.h"

int linux_sysctl_validate(const struct spec_config *cfg, struct berth_error *err);

/* Call in the container's namespaces (the ipc and net sysctls are those of
 * the writing task's namespaces, whichever pid namespace procfd belongs to). */
int linux_sysctl_apply(int procfd, const struct spec_config *cfg, struct berth_error *err);

#endif
