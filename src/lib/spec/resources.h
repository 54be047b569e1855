/* resources.h — linux.resources of the runtime-spec (1.2) as C structs.
 *
 * Promises: spec_resources_parse() turns the linux.resources object (or the
 * resources.json of `update -r`) into a struct whose every field has been
 * type- and range-checked, or fails with a berth_error naming the JSON path
 * ("linux.resources.memory.swappiness: must be between 0 and 100").  Every
 * field is optional: scalars carry a has_* flag, arrays a count.  Values are
 * kept as the spec states them (e.g. memory.swap is memory+swap, cpu.shares
 * is the v1 scale); translating them to cgroup v1/v2 files is the job of
 * linux/cgroup.  What the parser accepts is what the spec allows; whether the
 * host can honour it (rdma, online CPUs, missing controllers) is decided when
 * the cgroup is set up.  Everything is owned by the struct and released by
 * spec_resources_free().
 */
#ifndef BERTH_SPEC_RESOURCES_H
#define BERTH_SPEC_RESOURCES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* A device-cgroup rule.  major/minor -1 mean "any" (also when absent). */
struct spec_res_device {
	bool allow;
	char type;          /* 'a', 'c' or 'b' ('a' when absent) */
	int64_t major, minor;
	char access[4];     /* non-empty subset of "rwm", in that order ("rwm" when absent) */
};

/* Memory values: -1 means unlimited.  0 is accepted and means "leave as is",
 * like runc, because a 0-byte limit can only ever be a mistake. */
struct spec_res_memory {
	bool has_limit, has_reservation, has_swap, has_kernel, has_kernel_tcp;
	int64_t limit, reservation, swap, kernel, kernel_tcp;
	bool has_swappiness;
	uint64_t swappiness;            /* 0..100 */
	bool has_disable_oom_killer, disable_oom_killer;
	bool has_use_hierarchy, use_hierarchy;
	bool has_check_before_update, check_before_update;
};

struct spec_res_cpu {
	bool has_shares;
	uint64_t shares;                /* v1 scale (2..262144); 0 = leave as is */
	bool has_quota;
	int64_t quota;                  /* µs per period; -1 unlimited; 0 = leave as is */
	bool has_burst;
	uint64_t burst;                 /* µs */
	bool has_period;
	uint64_t period;                /* µs; 0 = leave as is */
	bool has_realtime_runtime;
	int64_t realtime_runtime;       /* µs; -1 unlimited */
	bool has_realtime_period;
	uint64_t realtime_period;       /* µs */
	char *cpus;                     /* "0-3,7" (syntax checked); NULL when absent */
	char *mems;                     /* same syntax */
	bool has_idle;
	int64_t idle;                   /* 0 or 1 */
};

struct spec_res_weight_device {
	int64_t major, minor;
	bool has_weight, has_leaf_weight;
	uint16_t weight, leaf_weight;   /* 10..1000 */
};

struct spec_res_throttle_device {
	int64_t major, minor;
	uint64_t rate;                  /* bytes/s or IO/s; 0 removes the limit */
};

struct spec_res_block_io {
	bool has_weight, has_leaf_weight;
	uint16_t weight, leaf_weight;   /* 10..1000 */
	struct spec_res_weight_device *weight_device;
	size_t n_weight_device;
	struct spec_res_throttle_device *throttle_read_bps, *throttle_write_bps,
		*throttle_read_iops, *throttle_write_iops;
	size_t n_throttle_read_bps, n_throttle_write_bps,
		n_throttle_read_iops, n_throttle_write_iops;
};

struct spec_res_hugepage {
	char *page_size;                /* as written: "2MB", "1GB", "64KB" */
	uint64_t page_bytes;            /* decoded size */
	uint64_t limit;                 /* bytes */
};

struct spec_res_net_priority {
	char *name;                     /* interface name */
	uint32_t priority;
};

struct spec_res_rdma {
	char *device;                   /* key of the linux.resources.rdma object */
	bool has_hca_handles, has_hca_objects;
	uint32_t hca_handles, hca_objects;
};

struct spec_res_unified {
	char *key;                      /* "<controller>.<file>", no "/" and no ".." */
	char *value;
};

struct spec_resources {
	struct spec_res_device *devices;
	size_t n_devices;
	bool has_memory;
	struct spec_res_memory memory;
	bool has_cpu;
	struct spec_res_cpu cpu;
	bool has_pids;
	bool has_pids_limit;
	int64_t pids_limit;             /* <= 0 means unlimited ("max") */
	bool has_block_io;
	struct spec_res_block_io block_io;
	struct spec_res_hugepage *hugepage_limits;
	size_t n_hugepage_limits;
	bool has_network;
	bool has_class_id;
	uint32_t class_id;
	struct spec_res_net_priority *net_priorities;
	size_t n_net_priorities;
	/* rdma is parsed so a config using it gets a precise refusal from the
	 * cgroup layer rather than a silent no-op. */
	struct spec_res_rdma *rdma;
	size_t n_rdma;
	struct spec_res_unified *unified;
	size_t n_unified;
};

/* Parse the linux.resources object `obj` (JSON path `path`, e.g.
 * "linux.resources") into *out.  Errors name the JSON path. */
int spec_resources_parse(json_t *obj, const char *path, struct spec_resources **out,
			 struct berth_error *err);
void spec_resources_free(struct spec_resources *r);

/* Parse a whole JSON document holding one resources object (`update -r
 * resources.json`, or "-" read by the caller from stdin).  Errors read
 * "<origin>: memory.limit: must be an integer". */
int spec_resources_parse_json(const char *json, size_t len, const char *origin,
			      struct spec_resources **out, struct berth_error *err);

/* The resources as a runtime-spec JSON object (new reference), so the
 * runtime can persist what `update` applied. */
json_t *spec_resources_to_json(const struct spec_resources *r);

/* Overlay every field set in `src` onto `dst` (arrays and maps in src
 * replace those of dst as a whole), the way `update` merges new limits into
 * the ones a container already has.  Returns 0 or -ENOMEM. */
int spec_resources_merge(struct spec_resources *dst, const struct spec_resources *src);

/* Check a cpuset list ("0-3,5,7-8").  On success *max_id (when non-NULL) is
 * the highest id named. */
bool spec_resources_cpuset_valid(const char *list, unsigned *max_id);

#endif
