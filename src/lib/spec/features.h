/* features.h — the runtime-spec "features" document.
 *
 * Promises: spec_features_json() describes what this build of berth-runtime
 * understands (runtime-spec features.md / features-linux.md), so engines can
 * probe it before writing a config.  "Recognized" lists (hooks, mount
 * options, namespaces, seccomp actions/operators/archs) are what the parser
 * accepts; host-dependent entries (capabilities, supported seccomp flags,
 * apparmor, selinux, intelRdt) are probed on the running host each call.
 */
#ifndef BERTH_SPEC_FEATURES_H
#define BERTH_SPEC_FEATURES_H

/* Pretty-printed JSON (4-space indent, like runc), malloc'd; NULL on ENOMEM. */
char *spec_features_json(void);

#endif
