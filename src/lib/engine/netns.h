/* netns.h — persistent network namespaces (network "none").
 *
 * netns_create makes a new network namespace whose only interface is "lo",
 * up, and keeps it alive by bind-mounting its nsfs file at a path (as
 * `ip netns add` does), so a runtime can join it by path.  Promises: the
 * calling process never changes namespace (the work happens in a short-lived
 * child); a failure leaves neither a mount nor a file at path; removal of an
 * absent namespace is not an error.
 */
#ifndef BERTH_ENGINE_NETNS_H
#define BERTH_ENGINE_NETNS_H

#include "core/error.h"

/* path's parent directories are created.  -EEXIST when path exists. */
int netns_create(const char *path, struct berth_error *err);
/* Lazy unmount (MNT_DETACH) then unlink; 0 when path is absent. */
int netns_remove(const char *path, struct berth_error *err);

#endif
