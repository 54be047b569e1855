/* options.h — a container as the user asked for it (docker's run/create flags).
 *
 * The CLI fills this from its flags; engine/specgen turns it (with the image
 * config) into an OCI runtime config, and engine/container stores it so that
 * `inspect` can show it and `start` can run the container again.  Strings are
 * owned by the struct (ctr_opts_clear frees them); vectors end with NULL.
 */
#ifndef BERTH_ENGINE_OPTIONS_H
#define BERTH_ENGINE_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

enum ctr_mount_type { CTR_MOUNT_BIND, CTR_MOUNT_VOLUME, CTR_MOUNT_TMPFS };

struct ctr_mount {
	enum ctr_mount_type type;
	char *source;          /* bind: absolute host path; volume: name (NULL = anonymous); tmpfs: NULL */
	char *destination;     /* absolute path in the container */
	bool readonly;
	char *propagation;     /* "rprivate" (default), "rshared", "rslave", ... */
	int64_t tmpfs_size;    /* bytes, 0 = kernel default */
	unsigned tmpfs_mode;   /* 0 = 1777 */
	bool no_copy;          /* volume-nocopy */
	char *host_path;       /* filled by the engine: resolved host source (volume _data dir) */
};

struct ctr_opts {
	char *image;           /* as typed */
	char **args;           /* CMD... after the image (NULL = image Cmd) */
	char *name;            /* --name, NULL = generated */
	bool detach, interactive, tty, rm, init, privileged, read_only, no_new_privileges;
	bool entrypoint_set;   /* --entrypoint given ("" clears the image's) */
	char **entrypoint;     /* --entrypoint split: docker takes one word */
	char **env;            /* -e / --env-file in order, "K=V" or "K" (taken from our environment) */
	char *workdir, *user, *hostname;
	char **labels;         /* "k=v" */
	struct ctr_mount *mounts; size_t n_mounts;    /* -v, --mount, --tmpfs in order */
	int64_t memory, memory_swap, shm_size;        /* bytes, 0 = unset; memory_swap -1 = unlimited */
	int64_t cpu_quota, cpu_period;                /* from --cpus */
	uint64_t cpu_shares;
	char *cpuset_cpus;
	int64_t pids_limit;                           /* 0 = unset */
	char **ulimits;        /* "nofile=1024:2048" */
	char **cap_add, **cap_drop;
	char *seccomp;         /* NULL = default profile, "unconfined", or a file path */
	char **security_opts;  /* the rest (apparmor=, label=), verbatim */
	char **devices;        /* "/dev/x[:/dev/y][:rwm]" */
	char **sysctls;        /* "k=v" */
	char *stop_signal;     /* NULL = image StopSignal or SIGTERM */
	int stop_timeout;      /* seconds, -1 = default 10 */
	char *restart;         /* "no", "on-failure[:N]", "always", "unless-stopped" */
	char *network;         /* "none" (default until CNI bridges exist), "host", "container:ID" */
	char *pull;            /* "missing" (default), "always", "never" */
	char *runtime;         /* path or name; NULL = berth-runtime next to berth */
	char *log_max_size;    /* --log-opt max-size=10m */
	int log_max_file;      /* --log-opt max-file=N, default 1 */
	char *platform;
};

void ctr_opts_clear(struct ctr_opts *o);
/* The options as docker-shaped JSON (Config + HostConfig parts), for the container record / inspect */
json_t *ctr_opts_to_json(const struct ctr_opts *o);
int ctr_opts_from_json(json_t *j, struct ctr_opts *o);

#endif
