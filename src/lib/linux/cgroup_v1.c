/* cgroup v1: linux.resources → per-controller files, the v1 freezer, stats. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "core/log.h"
#include "linux/cgroup_internal.h"

/* Kernel-internal ENOTSUPP, which some cgroup files leak to user space. */
#define KERNEL_ENOTSUPP 524

static void fpath(char *buf, size_t len, const char *jp, const char *field)
{
	if (snprintf(buf, len, "%s.%s", jp, field) >= (int) len)
		buf[len - 1] = '\0';
}

static int write_i64(struct cg_hier *h, const char *file, int64_t v, const char *jp, const char *field,
		     struct berth_error *err)
{
	char p[256];
	fpath(p, sizeof(p), jp, field);
	return cg_writef(h, file, p, err, "%" PRId64, v);
}

static int write_u64(struct cg_hier *h, const char *file, uint64_t v, const char *jp, const char *field,
		     struct berth_error *err)
{
	char p[256];
	fpath(p, sizeof(p), jp, field);
	return cg_writef(h, file, p, err, "%" PRIu64, v);
}

/* --- memory --------------------------------------------------------------- */

static int check_usage(struct cg_hier *h, const char *usage_file, int64_t limit, const char *jp,
		       struct berth_error *err)
{
	uint64_t usage;
	int rc = cg_read_u64(h, usage_file, &usage);
	if (rc < 0)
		return berth_errno(err, rc, "%s.limit: checkBeforeUpdate: reading %s/%s", jp, h->dir, usage_file);
	if ((uint64_t) limit < usage)
		return berth_err(err, EBUSY, "%s.limit: %" PRId64 " is below the current usage %" PRIu64,
				 jp, limit, usage);
	return 0;
}

int cg_v1_memory(struct cg_hier *h, const struct spec_res_memory *mem, const char *jp,
		 struct berth_error *err)
{
	int rc;
	char p[256];
	bool set_limit = mem->has_limit && mem->limit != 0;
	bool set_swap = mem->has_swap && mem->swap != 0;

	if (set_limit && mem->limit > 0 && mem->has_check_before_update && mem->check_before_update &&
	    (rc = check_usage(h, "memory.usage_in_bytes", mem->limit, jp, err)) < 0)
		return rc;

	if (set_swap && !cg_has_file(h, "memory.memsw.limit_in_bytes")) {
		if (mem->swap == -1) {
			set_swap = false; /* unlimited is what no swap accounting means */
		} else {
			fpath(p, sizeof(p), jp, "swap");
			return berth_err(err, ENOTSUP, "%s: swap accounting is not enabled on this host "
					 "(no memory.memsw.limit_in_bytes; boot with swapaccount=1)", p);
		}
	}
	if (set_limit && set_swap) {
		/* The kernel keeps limit <= memsw at every step, so raise memsw
		 * first when it grows and lower it last when it shrinks. */
		uint64_t cur = UINT64_MAX;
		cg_read_u64(h, "memory.memsw.limit_in_bytes", &cur);
		uint64_t want = mem->swap == -1 ? UINT64_MAX : (uint64_t) mem->swap;
		if (want > cur) {
			if ((rc = write_i64(h, "memory.memsw.limit_in_bytes", mem->swap, jp, "swap", err)) < 0 ||
			    (rc = write_i64(h, "memory.limit_in_bytes", mem->limit, jp, "limit", err)) < 0)
				return rc;
		} else {
			if ((rc = write_i64(h, "memory.limit_in_bytes", mem->limit, jp, "limit", err)) < 0 ||
			    (rc = write_i64(h, "memory.memsw.limit_in_bytes", mem->swap, jp, "swap", err)) < 0)
				return rc;
		}
	} else if (set_limit) {
		if ((rc = write_i64(h, "memory.limit_in_bytes", mem->limit, jp, "limit", err)) < 0)
			return rc;
	} else if (set_swap) {
		if ((rc = write_i64(h, "memory.memsw.limit_in_bytes", mem->swap, jp, "swap", err)) < 0)
			return rc;
	}
	if (mem->has_reservation && mem->reservation != 0 &&
	    (rc = write_i64(h, "memory.soft_limit_in_bytes", mem->reservation, jp, "reservation", err)) < 0)
		return rc;
	if (mem->has_kernel && mem->kernel > 0) {
		/* Linux 6.x still has the file but no longer enforces the limit
		 * (kernel memory is charged to memory.limit_in_bytes); find out by
		 * reading it back instead of guessing from the version. */
		fpath(p, sizeof(p), jp, "kernel");
		bool ignored = !cg_has_file(h, "memory.kmem.limit_in_bytes");
		if (!ignored) {
			struct berth_error kerr = { 0 };
			rc = cg_writef(h, "memory.kmem.limit_in_bytes", p, &kerr, "%" PRId64, mem->kernel);
			uint64_t back = 0;
			if (rc == -EOPNOTSUPP || rc == -KERNEL_ENOTSUPP ||
			    (rc == 0 && cg_read_u64(h, "memory.kmem.limit_in_bytes", &back) == 0 &&
			     back > (uint64_t) mem->kernel))
				ignored = true;
			else if (rc < 0)
				return berth_err(err, -rc, "%s", kerr.msg);
		}
		if (ignored)
			log_warn("%s: ignored: this kernel does not enforce kernel memory limits "
				 "(removed in Linux 6.x; kernel memory counts against memory.limit)", p);
	}
	if (mem->has_kernel_tcp && mem->kernel_tcp != 0 &&
	    (rc = write_i64(h, "memory.kmem.tcp.limit_in_bytes", mem->kernel_tcp, jp, "kernelTCP", err)) < 0)
		return rc;
	if (mem->has_swappiness &&
	    (rc = write_u64(h, "memory.swappiness", mem->swappiness, jp, "swappiness", err)) < 0)
		return rc;
	if (mem->has_disable_oom_killer &&
	    (rc = write_u64(h, "memory.oom_control", mem->disable_oom_killer ? 1 : 0, jp, "disableOOMKiller", err)) < 0)
		return rc;
	if (mem->has_use_hierarchy) {
		struct berth_error herr = { 0 };
		fpath(p, sizeof(p), jp, "useHierarchy");
		rc = cg_writef(h, "memory.use_hierarchy", p, &herr, "%d", mem->use_hierarchy ? 1 : 0);
		if (rc == -EINVAL && !mem->use_hierarchy)
			return berth_err(err, EINVAL, "%s: this kernel always accounts hierarchically; "
					 "false is not supported", p);
		if (rc < 0)
			return berth_err(err, -rc, "%s", herr.msg);
	}
	return 0;
}

/* --- cpu ------------------------------------------------------------------- */

int cg_v1_cpu(struct cg_hier *h, const struct spec_res_cpu *cpu, const char *jp, struct berth_error *err)
{
	int rc;
	if (cpu->has_shares && cpu->shares &&
	    (rc = write_u64(h, "cpu.shares", cpu->shares, jp, "shares", err)) < 0)
		return rc;
	bool set_period = cpu->has_period && cpu->period;
	bool set_quota = cpu->has_quota && cpu->quota;
	if (set_period) {
		struct berth_error perr = { 0 };
		rc = write_u64(h, "cpu.cfs_period_us", cpu->period, jp, "period", &perr);
		if (rc == -EINVAL && set_quota) {
			/* The new period does not fit the old quota: quota first. */
			if ((rc = write_i64(h, "cpu.cfs_quota_us", cpu->quota, jp, "quota", err)) < 0 ||
			    (rc = write_u64(h, "cpu.cfs_period_us", cpu->period, jp, "period", err)) < 0)
				return rc;
			set_quota = false;
		} else if (rc < 0) {
			return berth_err(err, -rc, "%s", perr.msg);
		}
	}
	if (set_quota && (rc = write_i64(h, "cpu.cfs_quota_us", cpu->quota, jp, "quota", err)) < 0)
		return rc;
	if (cpu->has_burst && (rc = write_u64(h, "cpu.cfs_burst_us", cpu->burst, jp, "burst", err)) < 0)
		return rc;
	if (cpu->has_realtime_period) {
		struct berth_error rerr = { 0 };
		rc = write_u64(h, "cpu.rt_period_us", cpu->realtime_period, jp, "realtimePeriod", &rerr);
		if (rc == -EINVAL && cpu->has_realtime_runtime) {
			if ((rc = write_i64(h, "cpu.rt_runtime_us", cpu->realtime_runtime, jp, "realtimeRuntime", err)) < 0 ||
			    (rc = write_u64(h, "cpu.rt_period_us", cpu->realtime_period, jp, "realtimePeriod", err)) < 0)
				return rc;
		} else if (rc < 0) {
			return berth_err(err, -rc, "%s", rerr.msg);
		} else if (cpu->has_realtime_runtime &&
			   (rc = write_i64(h, "cpu.rt_runtime_us", cpu->realtime_runtime, jp, "realtimeRuntime", err)) < 0) {
			return rc;
		}
	} else if (cpu->has_realtime_runtime &&
		   (rc = write_i64(h, "cpu.rt_runtime_us", cpu->realtime_runtime, jp, "realtimeRuntime", err)) < 0) {
		return rc;
	}
	if (cpu->has_idle && (rc = write_i64(h, "cpu.idle", cpu->idle, jp, "idle", err)) < 0)
		return rc;
	return 0;
}

/* --- cpuset ----------------------------------------------------------------- */

int cg_v1_cpuset(struct cg_hier *h, const struct spec_res_cpu *cpu, const char *jp, struct berth_error *err)
{
	char p[256];
	int rc;
	if (cpu->cpus) {
		fpath(p, sizeof(p), jp, "cpus");
		if ((rc = cg_write(h, "cpuset.cpus", cpu->cpus, p, err)) < 0)
			return rc;
	}
	if (cpu->mems) {
		fpath(p, sizeof(p), jp, "mems");
		if ((rc = cg_write(h, "cpuset.mems", cpu->mems, p, err)) < 0)
			return rc;
	}
	return 0;
}

static bool blank(const char *s)
{
	while (*s && isspace((unsigned char) *s))
		s++;
	return *s == '\0';
}

int cg_v1_cpuset_seed(const char *dir, struct berth_error *err)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	_cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return berth_errno(err, errno, "cgroup: opening %s", dir);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *cur = NULL, *parent = NULL;
		size_t len;
		int rc = berth_read_file_at(dfd, files[i], &cur, &len);
		if (rc < 0)
			return berth_errno(err, rc, "cgroup: reading %s/%s", dir, files[i]);
		if (!blank(cur))
			continue;
		char pfile[PATH_MAX];
		snprintf(pfile, sizeof(pfile), "../%s", files[i]);
		rc = berth_read_file_at(dfd, pfile, &parent, &len);
		if (rc < 0)
			return berth_errno(err, rc, "cgroup: reading the parent's %s of %s", files[i], dir);
		/* An empty cpuset cannot hold tasks: inherit the parent's set. */
		_cleanup_close_ int fd = openat(dfd, files[i], O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0)
			return berth_errno(err, errno, "cgroup: opening %s/%s", dir, files[i]);
		if (len == 0 || blank(parent))
			return berth_err(err, EINVAL, "cgroup: the parent of %s has an empty %s", dir, files[i]);
		if ((rc = berth_write_all(fd, parent, len)) < 0)
			return berth_errno(err, rc, "cgroup: copying %s into %s", files[i], dir);
	}
	return 0;
}

/* --- pids, hugetlb, net ------------------------------------------------------- */

int cg_v1_pids(struct cg_hier *h, int64_t limit, const char *jp, struct berth_error *err)
{
	if (limit > 0)
		return cg_writef(h, "pids.max", jp, err, "%" PRId64, limit);
	return cg_write(h, "pids.max", "max", jp, err);
}

int cg_v1_net_cls(struct cg_hier *h, uint32_t classid, const char *jp, struct berth_error *err)
{
	return cg_writef(h, "net_cls.classid", jp, err, "%" PRIu32, classid);
}

int cg_v1_net_prio(struct cg_hier *h, const struct spec_res_net_priority *p, size_t n, const char *jp,
		   struct berth_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char ip[256];
		if (snprintf(ip, sizeof(ip), "%s[%zu]", jp, i) >= (int) sizeof(ip))
			ip[sizeof(ip) - 1] = '\0';
		int rc = cg_writef(h, "net_prio.ifpriomap", ip, err, "%s %" PRIu32, p[i].name, p[i].priority);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* --- blkio ------------------------------------------------------------------- */

/* CFQ-era kernels have blkio.weight*, BFQ ones blkio.bfq.weight*. */
static const char *pick(struct cg_hier *h, const char *a, const char *b)
{
	if (cg_has_file(h, a))
		return a;
	if (b && cg_has_file(h, b))
		return b;
	return NULL;
}

static int throttle(struct cg_hier *h, const char *file, const struct spec_res_throttle_device *t, size_t n,
		    const char *jp, const char *field, struct berth_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char p[256];
		if (snprintf(p, sizeof(p), "%s.%s[%zu]", jp, field, i) >= (int) sizeof(p))
			p[sizeof(p) - 1] = '\0';
		int rc = cg_writef(h, file, p, err, "%" PRId64 ":%" PRId64 " %" PRIu64, t[i].major, t[i].minor,
				   t[i].rate);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int cg_v1_blkio(struct cg_hier *h, const struct spec_res_block_io *b, const char *jp, struct berth_error *err)
{
	char p[256];
	int rc;
	if (b->has_weight && b->weight) {
		const char *f = pick(h, "blkio.weight", "blkio.bfq.weight");
		fpath(p, sizeof(p), jp, "weight");
		if (!f)
			return berth_err(err, ENOTSUP, "%s: this kernel's blkio controller has no weights "
					 "(no blkio.weight or blkio.bfq.weight; is an I/O scheduler with "
					 "weights in use?)", p);
		if ((rc = cg_writef(h, f, p, err, "%u", b->weight)) < 0)
			return rc;
	}
	if (b->has_leaf_weight && b->leaf_weight) {
		fpath(p, sizeof(p), jp, "leafWeight");
		if (!cg_has_file(h, "blkio.leaf_weight"))
			return berth_err(err, ENOTSUP, "%s: not supported by this kernel (no blkio.leaf_weight)", p);
		if ((rc = cg_writef(h, "blkio.leaf_weight", p, err, "%u", b->leaf_weight)) < 0)
			return rc;
	}
	for (size_t i = 0; i < b->n_weight_device; i++) {
		const struct spec_res_weight_device *w = &b->weight_device[i];
		if (snprintf(p, sizeof(p), "%s.weightDevice[%zu]", jp, i) >= (int) sizeof(p))
			p[sizeof(p) - 1] = '\0';
		if (w->has_weight && w->weight) {
			const char *f = pick(h, "blkio.weight_device", "blkio.bfq.weight_device");
			if (!f)
				return berth_err(err, ENOTSUP, "%s.weight: this kernel's blkio controller has no "
						 "per-device weights", p);
			if ((rc = cg_writef(h, f, p, err, "%" PRId64 ":%" PRId64 " %u", w->major, w->minor, w->weight)) < 0)
				return rc;
		}
		if (w->has_leaf_weight && w->leaf_weight) {
			if (!cg_has_file(h, "blkio.leaf_weight_device"))
				return berth_err(err, ENOTSUP, "%s.leafWeight: not supported by this kernel "
						 "(no blkio.leaf_weight_device)", p);
			if ((rc = cg_writef(h, "blkio.leaf_weight_device", p, err, "%" PRId64 ":%" PRId64 " %u",
					    w->major, w->minor, w->leaf_weight)) < 0)
				return rc;
		}
	}
	if ((rc = throttle(h, "blkio.throttle.read_bps_device", b->throttle_read_bps, b->n_throttle_read_bps,
			   jp, "throttleReadBpsDevice", err)) < 0 ||
	    (rc = throttle(h, "blkio.throttle.write_bps_device", b->throttle_write_bps, b->n_throttle_write_bps,
			   jp, "throttleWriteBpsDevice", err)) < 0 ||
	    (rc = throttle(h, "blkio.throttle.read_iops_device", b->throttle_read_iops, b->n_throttle_read_iops,
			   jp, "throttleReadIOPSDevice", err)) < 0 ||
	    (rc = throttle(h, "blkio.throttle.write_iops_device", b->throttle_write_iops, b->n_throttle_write_iops,
			   jp, "throttleWriteIOPSDevice", err)) < 0)
		return rc;
	return 0;
}

/* --- devices ------------------------------------------------------------------- */

static void devnum(char *buf, size_t len, int64_t v)
{
	if (v < 0)
		snprintf(buf, len, "*");
	else
		snprintf(buf, len, "%" PRId64, v);
}

int cg_v1_devices(struct cg_hier *h, const struct spec_res_device *d, size_t n, const char *jp,
		  struct berth_error *err)
{
	/* Start from nothing so the rules below are the whole policy. */
	int rc = cg_write(h, "devices.deny", "a", jp, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		char p[256], maj[24], min[24];
		if (snprintf(p, sizeof(p), "%s[%zu]", jp, i) >= (int) sizeof(p))
			p[sizeof(p) - 1] = '\0';
		const char *file = d[i].allow ? "devices.allow" : "devices.deny";
		bool everything = d[i].major < 0 && d[i].minor < 0 && !strcmp(d[i].access, "rwm");
		if (d[i].type == 'a' && everything) {
			if ((rc = cg_write(h, file, "a", p, err)) < 0)
				return rc;
			continue;
		}
		devnum(maj, sizeof(maj), d[i].major);
		devnum(min, sizeof(min), d[i].minor);
		/* v1 reads any "a ..." line as all-or-nothing, so a narrower rule
		 * for all types is spelled out for char and block devices. */
		const char *types = d[i].type == 'a' ? "cb" : (d[i].type == 'c' ? "c" : "b");
		for (const char *t = types; *t; t++)
			if ((rc = cg_writef(h, file, p, err, "%c %s:%s %s", *t, maj, min, d[i].access)) < 0)
				return rc;
	}
	return 0;
}

/* --- freezer --------------------------------------------------------------------- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long) ms * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int cg_v1_is_frozen(struct cg_hier *h, bool *frozen)
{
	_cleanup_free_ char *s = NULL;
	int rc = cg_read(h, "freezer.state", &s);
	if (rc < 0)
		return rc;
	*frozen = !strncmp(s, "FROZEN", 6);
	return 0;
}

int cg_v1_freeze(struct cg_hier *h, bool freeze, struct berth_error *err)
{
	const char *want = freeze ? "FROZEN" : "THAWED";
	unsigned delay = 1, waited = 0;
	for (;;) {
		/* Rewriting FROZEN retries tasks the kernel could not freeze on
		 * the previous pass (it stays FREEZING until all are). */
		int rc = cg_write(h, "freezer.state", want, "cgroup freezer", err);
		if (rc < 0)
			return rc;
		_cleanup_free_ char *s = NULL;
		if ((rc = cg_read(h, "freezer.state", &s)) < 0)
			return berth_errno(err, rc, "cgroup freezer: reading %s/freezer.state", h->dir);
		if (!strncmp(s, want, strlen(want)))
			return 0;
		if (waited >= 5000) {
			if (freeze) {
				struct berth_error ignored = { 0 };
				cg_write(h, "freezer.state", "THAWED", "cgroup freezer", &ignored);
			}
			return berth_err(err, ETIMEDOUT, "cgroup freezer: %s did not become %s within 5s",
					 h->dir, want);
		}
		sleep_ms(delay);
		waited += delay;
		delay = delay < 16 ? delay * 2 : 16;
	}
}

/* --- stats ------------------------------------------------------------------------- */

static json_t *u64_list(const char *s)
{
	json_t *a = json_array();
	if (!a)
		return NULL;
	while (s && *s) {
		char *end;
		while (isspace((unsigned char) *s))
			s++;
		if (!*s)
			break;
		unsigned long long v = strtoull(s, &end, 10);
		if (end == s)
			break;
		json_array_append_new(a, json_integer((json_int_t) v));
		s = end;
	}
	return a;
}

int cg_v1_stats_cpu(struct cg_hier *cpu, struct cg_hier *acct, json_t *o)
{
	json_t *usage = json_object(), *thr = json_object();
	if (!usage || !thr || json_object_set_new(o, "usage", usage) < 0 ||
	    json_object_set_new(o, "throttling", thr) < 0) {
		json_decref(thr);
		return -ENOMEM;
	}
	uint64_t v = 0, user = 0, sys = 0;
	if (acct) {
		if (cg_read_u64(acct, "cpuacct.usage", &v) == 0)
			cg_json_u64(usage, "total", v, true);
		static const struct {
			const char *file, *key;
		} lists[] = {
			{ "cpuacct.usage_percpu", "percpu" },
			{ "cpuacct.usage_percpu_sys", "percpu_kernel" },
			{ "cpuacct.usage_percpu_user", "percpu_user" },
		};
		for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
			_cleanup_free_ char *s = NULL;
			if (cg_read(acct, lists[i].file, &s) == 0)
				json_object_set_new(usage, lists[i].key, u64_list(s));
		}
		/* cpuacct.stat counts USER_HZ ticks; runc reports nanoseconds. */
		long hz = sysconf(_SC_CLK_TCK);
		if (hz <= 0)
			hz = 100;
		cg_read_key(acct, "cpuacct.stat", "user", &user);
		cg_read_key(acct, "cpuacct.stat", "system", &sys);
		user = user * (1000000000ULL / (uint64_t) hz);
		sys = sys * (1000000000ULL / (uint64_t) hz);
	}
	cg_json_u64(usage, "kernel", sys, false);
	cg_json_u64(usage, "user", user, false);
	if (cpu) {
		if (cg_read_key(cpu, "cpu.stat", "nr_periods", &v) == 0)
			cg_json_u64(thr, "periods", v, true);
		if (cg_read_key(cpu, "cpu.stat", "nr_throttled", &v) == 0)
			cg_json_u64(thr, "throttledPeriods", v, true);
		if (cg_read_key(cpu, "cpu.stat", "throttled_time", &v) == 0)
			cg_json_u64(thr, "throttledTime", v, true);
	}
	return 0;
}

static int mem_entry(struct cg_hier *h, json_t *o, const char *key, const char *prefix)
{
	static const struct {
		const char *suffix, *key;
		bool omit;
	} f[] = {
		{ "limit_in_bytes", "limit", false },
		{ "usage_in_bytes", "usage", true },
		{ "max_usage_in_bytes", "max", true },
		{ "failcnt", "failcnt", false },
	};
	json_t *e = json_object();
	if (!e || json_object_set_new(o, key, e) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		char file[96];
		uint64_t v = 0;
		snprintf(file, sizeof(file), "%s%s", prefix, f[i].suffix);
		cg_read_u64(h, file, &v);
		if (cg_json_u64(e, f[i].key, v, f[i].omit) < 0)
			return -ENOMEM;
	}
	return 0;
}

int cg_v1_stats_memory(struct cg_hier *h, json_t *o)
{
	json_t *raw = json_object();
	if (!raw)
		return -ENOMEM;
	cg_json_flat_keyed(h, "memory.stat", raw);
	json_t *cache = json_object_get(raw, "cache");
	if (cache && json_integer_value(cache))
		json_object_set(o, "cache", cache);
	if (mem_entry(h, o, "usage", "memory.") < 0 || mem_entry(h, o, "swap", "memory.memsw.") < 0 ||
	    mem_entry(h, o, "kernel", "memory.kmem.") < 0 || mem_entry(h, o, "kernelTCP", "memory.kmem.tcp.") < 0) {
		json_decref(raw);
		return -ENOMEM;
	}
	if (json_object_size(raw))
		json_object_set_new(o, "raw", raw);
	else
		json_decref(raw);
	return 0;
}

/* "8:0 Read 4096" lines (the "Total" line has no device and is skipped). */
static int blkio_entries(struct cg_hier *h, const char *file, json_t *o, const char *key)
{
	_cleanup_free_ char *s = NULL;
	if (cg_read(h, file, &s) < 0)
		return 0;
	json_t *a = json_array();
	if (!a)
		return -ENOMEM;
	char *save = NULL;
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long maj, min, val;
		char op[32];
		if (sscanf(line, "%llu:%llu %31s %llu", &maj, &min, op, &val) != 4)
			continue;
		json_t *e = json_object();
		if (!e || json_array_append_new(a, e) < 0) {
			json_decref(a);
			return -ENOMEM;
		}
		cg_json_u64(e, "major", maj, true);
		cg_json_u64(e, "minor", min, true);
		json_object_set_new(e, "op", json_string(op));
		cg_json_u64(e, "value", val, true);
	}
	if (json_array_size(a))
		return json_object_set_new(o, key, a) == 0 ? 0 : -ENOMEM;
	json_decref(a);
	return 0;
}

int cg_v1_stats_blkio(struct cg_hier *h, json_t *o)
{
	/* The scheduler's own counters when there are any, else the
	 * throttling layer's (which sees every bio). */
	const char *bytes = pick(h, "blkio.io_service_bytes_recursive", "blkio.bfq.io_service_bytes_recursive");
	const char *ios = pick(h, "blkio.io_serviced_recursive", "blkio.bfq.io_serviced_recursive");
	if (!bytes)
		bytes = "blkio.throttle.io_service_bytes_recursive";
	if (!ios)
		ios = "blkio.throttle.io_serviced_recursive";
	int rc = blkio_entries(h, bytes, o, "ioServiceBytesRecursive");
	if (rc == 0)
		rc = blkio_entries(h, ios, o, "ioServicedRecursive");
	if (rc == 0)
		rc = blkio_entries(h, "blkio.io_queued_recursive", o, "ioQueueRecursive");
	if (rc == 0)
		rc = blkio_entries(h, "blkio.io_service_time_recursive", o, "ioServiceTimeRecursive");
	if (rc == 0)
		rc = blkio_entries(h, "blkio.io_wait_time_recursive", o, "ioWaitTimeRecursive");
	if (rc == 0)
		rc = blkio_entries(h, "blkio.io_merged_recursive", o, "ioMergedRecursive");
	if (rc == 0)
		rc = blkio_entries(h, "blkio.time_recursive", o, "ioTimeRecursive");
	if (rc == 0)
		rc = blkio_entries(h, "blkio.sectors_recursive", o, "sectorsRecursive");
	return rc;
}

int cg_stats_hugetlb(struct cg_hier *h, json_t *o)
{
	int dfd = cg_dirfd(h);
	if (dfd < 0)
		return 0;
	int lfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lfd < 0)
		return 0;
	_cleanup_closedir_ DIR *d = fdopendir(lfd);
	if (!d) {
		close(lfd);
		return 0;
	}
	const char *limit_suffix = h->v2 ? ".max" : ".limit_in_bytes";
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (strncmp(n, "hugetlb.", 8))
			continue;
		const char *size = n + 8, *dot = strchr(size, '.');
		if (!dot || strcmp(dot, limit_suffix))
			continue;
		char sz[32], file[96];
		snprintf(sz, sizeof(sz), "%.*s", (int) (dot - size), size);
		json_t *e = json_object();
		if (!e || json_object_set_new(o, sz, e) < 0)
			return -ENOMEM;
		uint64_t usage = 0, max = 0, failcnt = 0;
		if (h->v2) {
			snprintf(file, sizeof(file), "hugetlb.%s.current", sz);
			cg_read_u64(h, file, &usage);
			snprintf(file, sizeof(file), "hugetlb.%s.events", sz);
			cg_read_key(h, file, "max", &failcnt);
		} else {
			snprintf(file, sizeof(file), "hugetlb.%s.usage_in_bytes", sz);
			cg_read_u64(h, file, &usage);
			snprintf(file, sizeof(file), "hugetlb.%s.max_usage_in_bytes", sz);
			cg_read_u64(h, file, &max);
			snprintf(file, sizeof(file), "hugetlb.%s.failcnt", sz);
			cg_read_u64(h, file, &failcnt);
		}
		cg_json_u64(e, "usage", usage, true);
		cg_json_u64(e, "max", max, true);
		cg_json_u64(e, "failcnt", failcnt, false);
	}
	return 0;
}
