/* config.h — the OCI runtime-spec (1.2) configuration as C structs.
 *
 * Promises: spec_config_load() turns a bundle's config.json into a fully
 * validated struct spec_config, or fails with a berth_error naming the JSON
 * path and the problem ("process.args: must be a non-empty array",
 * "mounts[3].destination: must be absolute").  Nothing downstream needs to
 * re-validate shapes: strings are non-NULL where the spec makes them
 * required, enums are decoded to kernel constants, capability names to bit
 * numbers, mount options to flags.  Optional scalars carry a has_* flag.
 * Everything is owned by the struct and released by spec_config_free().
 */
#ifndef BERTH_SPEC_CONFIG_H
#define BERTH_SPEC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/error.h"

struct spec_resources;  /* spec/resources.h (linux.resources) */
struct spec_seccomp;    /* spec/seccomp.h (linux.seccomp) */

struct spec_user {
	uid_t uid;
	gid_t gid;
	bool has_umask;
	mode_t umask;
	gid_t *additional_gids;
	size_t n_additional_gids;
	char *username; /* windows only; kept for round-trip */
};

struct spec_rlimit {
	int resource;     /* RLIMIT_* */
	char *type;       /* "RLIMIT_NOFILE" */
	uint64_t hard, soft;
};

/* Capability sets as bitmasks over CAP_* numbers.  has_capabilities false
 * means the config had no process.capabilities: every set is empty. */
struct spec_capabilities {
	uint64_t bounding, effective, inheritable, permitted, ambient;
};

struct spec_process {
	bool terminal;
	bool has_console_size;
	unsigned console_height, console_width;
	struct spec_user user;
	char **args;   /* NULL-terminated, n_args >= 1 */
	size_t n_args;
	char **env;    /* NULL-terminated, may be empty */
	size_t n_env;
	char *cwd;     /* absolute */
	bool has_capabilities;
	struct spec_capabilities caps;
	struct spec_rlimit *rlimits;
	size_t n_rlimits;
	bool no_new_privileges;
	char *apparmor_profile;
	char *selinux_label;
	bool has_oom_score_adj;
	int oom_score_adj;
	/* process.scheduler (sched_setattr) */
	bool has_scheduler;
	struct {
		int policy;          /* SCHED_* */
		int nice;
		int priority;
		uint64_t flags;      /* SCHED_FLAG_* */
		uint64_t runtime, deadline, period;
	} scheduler;
	/* process.ioPriority */
	bool has_io_priority;
	int io_priority_class;   /* IOPRIO_CLASS_* */
	int io_priority;
	/* process.execCPUAffinity */
	char *exec_cpu_affinity_initial;
	char *exec_cpu_affinity_final;
};

struct spec_id_mapping {
	uint32_t container_id, host_id, size;
};

/* A mount with its options decoded.  `options` keeps the raw strings. */
struct spec_mount {
	char *destination;  /* absolute (a relative destination is a parse error) */
	char *type;         /* may be NULL: then "bind" when bind options given */
	char *source;       /* may be NULL for tmpfs/proc etc. */
	char **options;
	size_t n_options;
	/* decoded (see spec/mountopts.h) */
	unsigned long flags;        /* MS_* to set */
	unsigned long clear_flags;  /* MS_* explicitly cleared (e.g. "rw", "suid") */
	unsigned long propagation;  /* MS_SHARED|MS_SLAVE|MS_PRIVATE|MS_UNBINDABLE [|MS_REC] */
	uint64_t attr_set, attr_clr; /* MOUNT_ATTR_* for recursive options ("rro", "rnosuid"...) */
	bool bind;                   /* bind or rbind */
	bool recursive_bind;         /* rbind */
	bool idmap, ridmap;          /* "idmap"/"ridmap" options */
	bool tmpcopyup;              /* "tmpcopyup": copy the destination's content into the new tmpfs */
	char *data;                  /* comma-joined fs-specific options, or NULL */
	struct spec_id_mapping *uid_mappings, *gid_mappings; /* idmapped mounts */
	size_t n_uid_mappings, n_gid_mappings;
};

struct spec_hook {
	char *path;     /* absolute */
	char **args;    /* NULL-terminated; may be NULL (then argv = {path}) */
	size_t n_args;
	char **env;     /* NULL-terminated; may be NULL */
	size_t n_env;
	bool has_timeout;
	int timeout;    /* seconds, > 0 */
};

enum spec_hook_kind {
	SPEC_HOOK_PRESTART,
	SPEC_HOOK_CREATE_RUNTIME,
	SPEC_HOOK_CREATE_CONTAINER,
	SPEC_HOOK_START_CONTAINER,
	SPEC_HOOK_POSTSTART,
	SPEC_HOOK_POSTSTOP,
	SPEC_HOOK__MAX,
};

struct spec_namespace {
	int type;   /* CLONE_NEWPID, CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWUTS,
		       CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWCGROUP, CLONE_NEWTIME */
	char *path; /* NULL: create a new one */
};

struct spec_device {
	char type;        /* 'c', 'b' or 'p'; a config's 'u' is stored as 'c' */
	char *path;       /* absolute */
	int64_t major, minor;
	bool has_file_mode;
	mode_t file_mode;
	bool has_uid, has_gid;
	uid_t uid;
	gid_t gid;
};

struct spec_time_offset {
	int clock;        /* CLOCK_MONOTONIC or CLOCK_BOOTTIME */
	int64_t secs;
	uint32_t nanosecs;
};

struct spec_kv {
	char *key;
	char *value;
};

struct spec_linux {
	struct spec_namespace *namespaces;
	size_t n_namespaces;
	struct spec_id_mapping *uid_mappings, *gid_mappings;
	size_t n_uid_mappings, n_gid_mappings;
	struct spec_time_offset *time_offsets;
	size_t n_time_offsets;
	struct spec_device *devices;
	size_t n_devices;
	char *cgroups_path;                 /* may be NULL */
	struct spec_resources *resources;   /* may be NULL */
	struct spec_seccomp *seccomp;       /* may be NULL */
	bool has_rootfs_propagation;
	unsigned long rootfs_propagation;   /* MS_SHARED|MS_SLAVE|MS_PRIVATE|MS_UNBINDABLE, with MS_REC */
	char **masked_paths;
	size_t n_masked_paths;
	char **readonly_paths;
	size_t n_readonly_paths;
	char *mount_label;
	struct spec_kv *sysctl;
	size_t n_sysctl;
	bool has_personality;
	unsigned long personality;          /* PER_LINUX or PER_LINUX32 */
	char *intel_rdt_clos_id;            /* may be NULL (then the container ID) */
	/* linux.intelRdt: parsed as given; the runtime fails when resctrl is absent */
	bool has_intel_rdt;
	char *intel_rdt_l3_cache_schema;    /* may be NULL */
	char *intel_rdt_mem_bw_schema;      /* may be NULL; starts with "MB:" */
	bool intel_rdt_enable_cmt, intel_rdt_enable_mbm;
};

struct spec_config {
	char *oci_version;
	char *root_path;      /* as written in config.json */
	bool root_readonly;
	struct spec_process *process;  /* NULL when absent */
	char *hostname;
	char *domainname;
	struct spec_mount *mounts;
	size_t n_mounts;
	struct spec_hook *hooks[SPEC_HOOK__MAX];
	size_t n_hooks[SPEC_HOOK__MAX];
	struct spec_kv *annotations;
	size_t n_annotations;
	struct spec_linux *linux_; /* NULL when absent */
};

/* Parse and validate config.json text.  `origin` names the source in errors
 * ("config.json").  On failure returns -errno and *out is untouched. */
int spec_config_parse(const char *json, size_t len, const char *origin,
		      struct spec_config **out, struct berth_error *err);
/* Load <bundle_dir>/config.json. */
int spec_config_load(const char *bundle_dir, struct spec_config **out, struct berth_error *err);
void spec_config_free(struct spec_config *cfg);

/* Parse one process object (the process.json of `exec --process`, or
 * process in config.json).  `path` is its JSON path prefix for errors. */
int spec_process_parse_json(const char *json, size_t len, const char *origin,
			    struct spec_process **out, struct berth_error *err);
void spec_process_free(struct spec_process *p);

/* Lookups used by the runtime. */
const struct spec_namespace *spec_config_namespace(const struct spec_config *cfg, int type);
const char *spec_hook_kind_name(enum spec_hook_kind k); /* "prestart", "createRuntime", ... */

#endif
