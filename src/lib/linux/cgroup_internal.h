/* cgroup_internal.h — shared insides of linux/cgroup*.c (not a public API).
 *
 * Promises: one struct cg_hier per mounted hierarchy, each knowing its mount
 * point, its controllers and the container's directory in it; small file
 * helpers whose errors name the JSON path and the file; and the per-version
 * halves (cgroup_v1.c, cgroup_v2.c, cgroup_bpf.c) that cgroup.c dispatches
 * to, controller by controller.  Unit tests include this header to reach the
 * seams (sysfs root, single freezers, the eBPF program builder).
 */
#ifndef BERTH_LINUX_CGROUP_INTERNAL_H
#define BERTH_LINUX_CGROUP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <linux/bpf.h>

#include "core/error.h"
#include "linux/cgroup.h"
#include "spec/resources.h"

enum cg_ctrl {
	CG_CPU,
	CG_CPUACCT,
	CG_CPUSET,
	CG_MEMORY,
	CG_DEVICES,
	CG_FREEZER,
	CG_BLKIO,     /* "io" on v2 */
	CG_PIDS,
	CG_HUGETLB,
	CG_NET_CLS,
	CG_NET_PRIO,
	CG_PERF_EVENT,
	CG_RDMA,
	CG_MISC,
	CG__MAX,
};

#define CG_BIT(c) (1u << (c))

/* v1 name of a controller ("blkio"), v2 name ("io"; NULL when v2 has none). */
const char *cg_ctrl_v1_name(enum cg_ctrl c);
const char *cg_ctrl_v2_name(enum cg_ctrl c);
int cg_ctrl_from_name(const char *name); /* v1 or v2 name → enum, or -1 */

struct cg_hier {
	char *mount;      /* mount point of the hierarchy */
	char *dir;        /* mount + container path */
	uint32_t ctrls;   /* CG_BIT()s (v2: the root's cgroup.controllers) */
	char *name;       /* named v1 hierarchy ("systemd"), else NULL */
	bool v2;
	int dirfd;        /* O_PATH fd of dir, opened on first use; -1 */
};

struct cgroup_manager {
	enum cgroup_mode mode;
	char *fs_root;
	char *path;       /* "/berth/abc" */
	char *sysfs_root; /* "/sys": where online CPUs and memory nodes are read */
	struct cg_hier *h;
	size_t n_h;
	int v2_idx;       /* index of the cgroup2 hierarchy, or -1 */
};

/* Probe with an explicit mountinfo file (tests describe layouts this way). */
int cg_manager_new_probe(const char *fs_root, const char *mountinfo, const char *cgroups_path,
			 const char *id, bool systemd, struct cgroup_manager **out,
			 struct berth_error *err);
/* Where online CPUs/nodes are read ("<root>/devices/system/cpu/online"). */
int cg_manager_set_sysfs_root(struct cgroup_manager *m, const char *root);

/* The hierarchy that carries c, or NULL.  A controller mounted on v1 wins
 * over the same one in the cgroup2 part; devices and freezer are built into
 * every cgroup2. */
struct cg_hier *cg_ctrl_hier(struct cgroup_manager *m, enum cg_ctrl c);
struct cg_hier *cg_v2(struct cgroup_manager *m);

/* --- file helpers (all relative to h->dir) --- */
int cg_dirfd(struct cg_hier *h);
/* Write value + "\n" in one write(2).  Opened O_APPEND: cgroupfs ignores
 * the offset, and a fake tree in the tests then records every write in
 * order.  jpath names the input in errors. */
int cg_write(struct cg_hier *h, const char *file, const char *value, const char *jpath,
	     struct berth_error *err);
int cg_writef(struct cg_hier *h, const char *file, const char *jpath, struct berth_error *err,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int cg_read(struct cg_hier *h, const char *file, char **out);
/* First number in the file; "max" reads as UINT64_MAX. */
int cg_read_u64(struct cg_hier *h, const char *file, uint64_t *v);
/* "key value" line of a flat-keyed file (memory.stat, cpu.stat, ...). */
int cg_read_key(struct cg_hier *h, const char *file, const char *key, uint64_t *v);
bool cg_has_file(struct cg_hier *h, const char *file);
int cg_path_of(struct cg_hier *h, const char *file, char *buf, size_t len);

/* Online ids of "<sysfs>/devices/system/{cpu,node}/online" as a bitmap over
 * 0..CG_MAX_IDS-1. */
#define CG_MAX_IDS 4096
int cg_cpuset_check(struct cgroup_manager *m, const char *list, bool mems, const char *jpath,
		    struct berth_error *err);

/* Kernel hugetlb size name ("2MB", "1GB", "64KB") for a page size. */
void cg_hugetlb_name(uint64_t bytes, char *buf, size_t len);

/* Shares (v1, 2..262144) → cpu.weight (1..10000); blkio weight (10..1000)
 * → io.weight (1..10000). */
uint64_t cg_shares_to_weight(uint64_t shares);
uint64_t cg_blkio_to_io_weight(uint64_t weight);

/* --- v1 (cgroup_v1.c) --- */
int cg_v1_memory(struct cg_hier *h, const struct spec_res_memory *mem, const char *jp,
		 struct berth_error *err);
int cg_v1_cpu(struct cg_hier *h, const struct spec_res_cpu *cpu, const char *jp, struct berth_error *err);
/* cpuset.cpus / cpuset.mems: the same files on v1 and v2. */
int cg_v1_cpuset(struct cg_hier *h, const struct spec_res_cpu *cpu, const char *jp, struct berth_error *err);
/* Copy cpuset.cpus/mems from the parent into an empty cpuset at dir. */
int cg_v1_cpuset_seed(const char *dir, struct berth_error *err);
int cg_v1_pids(struct cg_hier *h, int64_t limit, const char *jp, struct berth_error *err);
int cg_v1_blkio(struct cg_hier *h, const struct spec_res_block_io *b, const char *jp, struct berth_error *err);
int cg_v1_net_cls(struct cg_hier *h, uint32_t classid, const char *jp, struct berth_error *err);
int cg_v1_net_prio(struct cg_hier *h, const struct spec_res_net_priority *p, size_t n, const char *jp,
		   struct berth_error *err);
int cg_v1_devices(struct cg_hier *h, const struct spec_res_device *d, size_t n, const char *jp,
		  struct berth_error *err);
int cg_v1_freeze(struct cg_hier *h, bool freeze, struct berth_error *err);
int cg_v1_is_frozen(struct cg_hier *h, bool *frozen);

/* --- v2 (cgroup_v2.c) --- */
int cg_v2_memory(struct cg_hier *h, const struct spec_res_memory *mem, const char *jp,
		 struct berth_error *err);
int cg_v2_cpu(struct cg_hier *h, const struct spec_res_cpu *cpu, const char *jp, struct berth_error *err);
int cg_v2_pids(struct cg_hier *h, int64_t limit, const char *jp, struct berth_error *err);
int cg_v2_io(struct cg_hier *h, const struct spec_res_block_io *b, const char *jp, struct berth_error *err);
/* hugetlb.<size>.limit_in_bytes on v1, hugetlb.<size>.max on v2 (and the
 * rsvd.* reservation limits where the kernel has them). */
int cg_hugetlb(struct cg_hier *h, const struct spec_res_hugepage *hp, size_t n, const char *jp,
	       struct berth_error *err);
int cg_v2_unified(struct cg_hier *h, const struct spec_res_unified *u, size_t n, const char *jp,
		  struct berth_error *err);
/* Enable the controllers in `want` in subtree_control from the hierarchy
 * root down to the container's parent; those in `best_effort` too when the
 * kernel lets us. */
int cg_v2_enable_controllers(struct cg_hier *h, const char *path, uint32_t want, uint32_t best_effort,
			     struct berth_error *err);
int cg_v2_freeze(struct cg_hier *h, bool freeze, struct berth_error *err);
int cg_v2_is_frozen(struct cg_hier *h, bool *frozen);
/* Write cgroup.kill; -ENOENT when the kernel has none. */
int cg_v2_kill(struct cg_hier *h, struct berth_error *err);

/* --- eBPF device filter (cgroup_bpf.c) --- */
/* Build the BPF_PROG_TYPE_CGROUP_DEVICE program for rules (default deny; for
 * each requested access bit the last matching rule decides). */
int cg_bpf_devices_build(const struct spec_res_device *rules, size_t n, struct bpf_insn **insns,
			 size_t *n_insns);
/* Load the program and attach it to the cgroup at dir (BPF_F_ALLOW_MULTI),
 * then detach the device programs that were attached there before. */
int cg_bpf_devices_apply(const char *dir, const struct spec_res_device *rules, size_t n,
			 const char *jp, struct berth_error *err);

/* --- stats: each fills its part of runc's stats "data" object --- */
int cg_v1_stats_cpu(struct cg_hier *cpu, struct cg_hier *cpuacct, json_t *cpu_obj);
int cg_v2_stats_cpu(struct cg_hier *h, json_t *cpu_obj);
int cg_v1_stats_memory(struct cg_hier *h, json_t *mem_obj);
int cg_v2_stats_memory(struct cg_hier *h, json_t *mem_obj);
int cg_v1_stats_blkio(struct cg_hier *h, json_t *blkio_obj);
int cg_v2_stats_io(struct cg_hier *h, json_t *blkio_obj);
int cg_stats_hugetlb(struct cg_hier *h, json_t *hugetlb_obj);
/* Add "key": value to obj unless value is 0 (runc's omitempty). */
int cg_json_u64(json_t *obj, const char *key, uint64_t value, bool omit_zero);
/* Every "key value" line of a flat-keyed file into obj. */
int cg_json_flat_keyed(struct cg_hier *h, const char *file, json_t *obj);

#endif
