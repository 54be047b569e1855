/* cgroup v2: linux.resources → unified-hierarchy files, subtree_control,
 * cgroup.freeze / cgroup.kill, stats. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "core/log.h"
#include "linux/cgroup_internal.h"

static void fpath(char *buf, size_t len, const char *jp, const char *field)
{
	if (snprintf(buf, len, "%s.%s", jp, field) >= (int) len)
		buf[len - 1] = '\0';
}

static void limit_str(char *buf, size_t len, int64_t v)
{
	if (v < 0)
		snprintf(buf, len, "max");
	else
		snprintf(buf, len, "%" PRId64, v);
}

/* --- memory --------------------------------------------------------------- */

int cg_v2_memory(struct cg_hier *h, const struct spec_res_memory *mem, const char *jp,
		 struct berth_error *err)
{
	char p[256], v[32];
	int rc;
	bool set_limit = mem->has_limit && mem->limit != 0;
	bool set_swap = mem->has_swap && mem->swap != 0;

	if (set_limit && mem->limit > 0 && mem->has_check_before_update && mem->check_before_update) {
		uint64_t usage;
		if ((rc = cg_read_u64(h, "memory.current", &usage)) < 0)
			return berth_errno(err, rc, "%s.limit: checkBeforeUpdate: reading %s/memory.current", jp, h->dir);
		if ((uint64_t) mem->limit < usage)
			return berth_err(err, EBUSY, "%s.limit: %" PRId64 " is below the current usage %" PRIu64,
					 jp, mem->limit, usage);
	}
	/* The spec's swap is memory+swap (v1's memsw); v2 limits swap alone. */
	int64_t swap_only = -1;
	if (set_swap && mem->swap > 0) {
		fpath(p, sizeof(p), jp, "swap");
		if (!set_limit || mem->limit < 0)
			return berth_err(err, EINVAL, "%s: on cgroup v2 a swap limit needs memory.limit as well "
					 "(swap is the memory+swap total)", p);
		if (mem->swap < mem->limit)
			return berth_err(err, EINVAL, "%s: %" PRId64 " is below memory.limit %" PRId64, p,
					 mem->swap, mem->limit);
		swap_only = mem->swap - mem->limit;
	}
	if (set_limit) {
		fpath(p, sizeof(p), jp, "limit");
		limit_str(v, sizeof(v), mem->limit);
		if ((rc = cg_write(h, "memory.max", v, p, err)) < 0)
			return rc;
	}
	if (set_swap) {
		fpath(p, sizeof(p), jp, "swap");
		if (!cg_has_file(h, "memory.swap.max")) {
			if (swap_only >= 0)
				return berth_err(err, ENOTSUP, "%s: swap accounting is not enabled on this host "
						 "(no memory.swap.max)", p);
		} else {
			limit_str(v, sizeof(v), swap_only);
			if ((rc = cg_write(h, "memory.swap.max", v, p, err)) < 0)
				return rc;
		}
	}
	if (mem->has_reservation && mem->reservation != 0) {
		fpath(p, sizeof(p), jp, "reservation");
		limit_str(v, sizeof(v), mem->reservation);
		if ((rc = cg_write(h, "memory.low", v, p, err)) < 0)
			return rc;
	}
	if (mem->has_kernel && mem->kernel > 0)
		log_warn("%s.kernel: ignored: cgroup v2 has no separate kernel memory limit "
			 "(kernel memory counts against memory.max)", jp);
	if (mem->has_kernel_tcp && mem->kernel_tcp > 0)
		log_warn("%s.kernelTCP: ignored: cgroup v2 has no separate TCP buffer limit "
			 "(socket memory counts against memory.max)", jp);
	if (mem->has_swappiness)
		log_warn("%s.swappiness: ignored: cgroup v2 has no per-cgroup swappiness "
			 "(use memory.swap.max, or vm.swappiness for the host)", jp);
	if (mem->has_disable_oom_killer && mem->disable_oom_killer)
		log_warn("%s.disableOOMKiller: ignored: cgroup v2 cannot disable the OOM killer", jp);
	if (mem->has_use_hierarchy && !mem->use_hierarchy)
		log_warn("%s.useHierarchy: ignored: cgroup v2 always accounts hierarchically", jp);
	return 0;
}

/* --- cpu ------------------------------------------------------------------- */

int cg_v2_cpu(struct cg_hier *h, const struct spec_res_cpu *cpu, const char *jp, struct berth_error *err)
{
	char p[256];
	int rc;
	if (cpu->has_shares && cpu->shares) {
		fpath(p, sizeof(p), jp, "shares");
		if ((rc = cg_writef(h, "cpu.weight", p, err, "%" PRIu64, cg_shares_to_weight(cpu->shares))) < 0)
			return rc;
	}
	bool set_quota = cpu->has_quota && cpu->quota, set_period = cpu->has_period && cpu->period;
	if (set_quota || set_period) {
		/* cpu.max holds both halves: keep the one not being changed. */
		char quota[32] = "max";
		uint64_t period = 100000;
		_cleanup_free_ char *cur = NULL;
		if (cg_read(h, "cpu.max", &cur) == 0) {
			char q[32];
			unsigned long long per;
			if (sscanf(cur, "%31s %llu", q, &per) == 2) {
				snprintf(quota, sizeof(quota), "%s", q);
				period = per;
			}
		}
		if (set_quota)
			limit_str(quota, sizeof(quota), cpu->quota);
		if (set_period)
			period = cpu->period;
		fpath(p, sizeof(p), jp, set_quota ? "quota" : "period");
		if ((rc = cg_writef(h, "cpu.max", p, err, "%s %" PRIu64, quota, period)) < 0)
			return rc;
	}
	if (cpu->has_burst) {
		fpath(p, sizeof(p), jp, "burst");
		if ((rc = cg_writef(h, "cpu.max.burst", p, err, "%" PRIu64, cpu->burst)) < 0)
			return rc;
	}
	if ((cpu->has_realtime_runtime && cpu->realtime_runtime != 0) ||
	    (cpu->has_realtime_period && cpu->realtime_period != 0)) {
		fpath(p, sizeof(p), jp, cpu->has_realtime_runtime ? "realtimeRuntime" : "realtimePeriod");
		return berth_err(err, ENOTSUP, "%s: real-time CPU limits are not available on cgroup v2", p);
	}
	if (cpu->has_idle) {
		fpath(p, sizeof(p), jp, "idle");
		if ((rc = cg_writef(h, "cpu.idle", p, err, "%" PRId64, cpu->idle)) < 0)
			return rc;
	}
	return 0;
}


int cg_v2_pids(struct cg_hier *h, int64_t limit, const char *jp, struct berth_error *err)
{
	if (limit > 0)
		return cg_writef(h, "pids.max", jp, err, "%" PRId64, limit);
	return cg_write(h, "pids.max", "max", jp, err);
}

/* --- io ---------------------------------------------------------------------- */

static int io_max(struct cg_hier *h, const char *key, const struct spec_res_throttle_device *t, size_t n,
		  const char *jp, const char *field, struct berth_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char p[256], v[32];
		if (snprintf(p, sizeof(p), "%s.%s[%zu]", jp, field, i) >= (int) sizeof(p))
			p[sizeof(p) - 1] = '\0';
		if (t[i].rate == 0)
			snprintf(v, sizeof(v), "max");
		else
			snprintf(v, sizeof(v), "%" PRIu64, t[i].rate);
		int rc = cg_writef(h, "io.max", p, err, "%" PRId64 ":%" PRId64 " %s=%s", t[i].major, t[i].minor, key, v);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int cg_v2_io(struct cg_hier *h, const struct spec_res_block_io *b, const char *jp, struct berth_error *err)
{
	char p[256];
	int rc;
	/* BFQ keeps the v1 scale (1..1000) in io.bfq.weight; io.weight is the
	 * 1..10000 scale of the io controller itself. */
	bool bfq = cg_has_file(h, "io.bfq.weight");
	if (b->has_weight && b->weight) {
		fpath(p, sizeof(p), jp, "weight");
		if (bfq)
			rc = cg_writef(h, "io.bfq.weight", p, err, "%u", b->weight);
		else
			rc = cg_writef(h, "io.weight", p, err, "default %" PRIu64, cg_blkio_to_io_weight(b->weight));
		if (rc < 0)
			return rc;
	}
	if (b->has_leaf_weight && b->leaf_weight) {
		fpath(p, sizeof(p), jp, "leafWeight");
		return berth_err(err, ENOTSUP, "%s: leaf weights do not exist on cgroup v2", p);
	}
	for (size_t i = 0; i < b->n_weight_device; i++) {
		const struct spec_res_weight_device *w = &b->weight_device[i];
		if (snprintf(p, sizeof(p), "%s.weightDevice[%zu]", jp, i) >= (int) sizeof(p))
			p[sizeof(p) - 1] = '\0';
		if (w->has_leaf_weight && w->leaf_weight)
			return berth_err(err, ENOTSUP, "%s.leafWeight: leaf weights do not exist on cgroup v2", p);
		if (!w->has_weight || !w->weight)
			continue;
		if (bfq)
			rc = cg_writef(h, "io.bfq.weight", p, err, "%" PRId64 ":%" PRId64 " %u", w->major, w->minor,
				       w->weight);
		else
			rc = cg_writef(h, "io.weight", p, err, "%" PRId64 ":%" PRId64 " %" PRIu64, w->major, w->minor,
				       cg_blkio_to_io_weight(w->weight));
		if (rc < 0)
			return rc;
	}
	if ((rc = io_max(h, "rbps", b->throttle_read_bps, b->n_throttle_read_bps, jp, "throttleReadBpsDevice", err)) < 0 ||
	    (rc = io_max(h, "wbps", b->throttle_write_bps, b->n_throttle_write_bps, jp, "throttleWriteBpsDevice", err)) < 0 ||
	    (rc = io_max(h, "riops", b->throttle_read_iops, b->n_throttle_read_iops, jp, "throttleReadIOPSDevice", err)) < 0 ||
	    (rc = io_max(h, "wiops", b->throttle_write_iops, b->n_throttle_write_iops, jp, "throttleWriteIOPSDevice", err)) < 0)
		return rc;
	return 0;
}

int cg_v2_unified(struct cg_hier *h, const struct spec_res_unified *u, size_t n, const char *jp,
		  struct berth_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char p[256], path[PATH_MAX];
		if (snprintf(p, sizeof(p), "%s.%s", jp, u[i].key) >= (int) sizeof(p))
			p[sizeof(p) - 1] = '\0';
		if (!cg_has_file(h, u[i].key)) {
			cg_path_of(h, u[i].key, path, sizeof(path));
			return berth_err(err, ENOENT, "%s: no such cgroup file (%s; is the controller enabled?)", p, path);
		}
		int rc = cg_write(h, u[i].key, u[i].value, p, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* --- subtree_control ------------------------------------------------------------- */

static bool has_word(const char *list, const char *word)
{
	size_t l = strlen(word);
	for (const char *s = list; (s = strstr(s, word)); s += l) {
		bool start = s == list || s[-1] == ' ' || s[-1] == '\n';
		bool end = s[l] == '\0' || s[l] == ' ' || s[l] == '\n';
		if (start && end)
			return true;
	}
	return false;
}

int cg_v2_enable_controllers(struct cg_hier *h, const char *path, uint32_t want, uint32_t best_effort,
			     struct berth_error *err)
{
	char dir[PATH_MAX];
	size_t ml = strlen(h->mount);
	if (ml + strlen(path) >= sizeof(dir))
		return berth_err(err, ENAMETOOLONG, "cgroup: %s%s is too long", h->mount, path);
	memcpy(dir, h->mount, ml + 1);
	uint32_t all = want | best_effort;
	const char *s = path;
	/* Every ancestor of the container's cgroup, root first; the container
	 * itself is a leaf and keeps its subtree_control empty. */
	for (;;) {
		_cleanup_free_ char *avail = NULL, *enabled = NULL;
		char file[PATH_MAX];
		size_t len;
		snprintf(file, sizeof(file), "%s/cgroup.controllers", dir);
		if (berth_read_file(file, &avail, &len) < 0)
			avail = strdup("");
		snprintf(file, sizeof(file), "%s/cgroup.subtree_control", dir);
		int rc = berth_read_file(file, &enabled, &len);
		if (rc < 0)
			return berth_errno(err, rc, "cgroup: reading %s", file);
		for (int c = 0; c < CG__MAX; c++) {
			const char *name = cg_ctrl_v2_name(c);
			if (!(all & CG_BIT(c)) || !name || has_word(enabled, name))
				continue;
			bool required = want & CG_BIT(c);
			if (!avail || !has_word(avail, name)) {
				if (required)
					return berth_err(err, ENOTSUP, "cgroup: the %s controller is not available "
							 "in %s (not in its cgroup.controllers)", name, dir);
				continue;
			}
			char cmd[40];
			snprintf(cmd, sizeof(cmd), "+%s\n", name);
			_cleanup_close_ int fd = open(file, O_WRONLY | O_APPEND | O_CLOEXEC);
			if (fd < 0)
				return berth_errno(err, errno, "cgroup: opening %s", file);
			if (write(fd, cmd, strlen(cmd)) < 0 && required)
				return berth_errno(err, errno, "cgroup: enabling the %s controller in %s", name, file);
		}
		const char *e = strchr(s + 1, '/');
		if (!e)
			break;
		size_t l = (size_t) (e - s);
		if (ml + l >= sizeof(dir))
			return berth_err(err, ENAMETOOLONG, "cgroup: %s%s is too long", h->mount, path);
		memcpy(dir + ml, s, l);
		ml += l;
		dir[ml] = '\0';
		s = e;
	}
	return 0;
}

/* --- freeze / kill ---------------------------------------------------------------- */

static int events_frozen(int fd, bool *frozen)
{
	char buf[512];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	char *f = strstr(buf, "frozen ");
	if (!f)
		return -EINVAL;
	*frozen = f[7] == '1';
	return 0;
}

int cg_v2_is_frozen(struct cg_hier *h, bool *frozen)
{
	int dfd = cg_dirfd(h);
	if (dfd < 0)
		return dfd;
	_cleanup_close_ int fd = openat(dfd, "cgroup.events", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return events_frozen(fd, frozen);
}

int cg_v2_freeze(struct cg_hier *h, bool freeze, struct berth_error *err)
{
	int dfd = cg_dirfd(h);
	if (dfd < 0)
		return berth_errno(err, dfd, "cgroup: opening %s", h->dir);
	/* Open cgroup.events before writing, so the change notification
	 * cannot slip between the write and the first poll. */
	_cleanup_close_ int fd = openat(dfd, "cgroup.events", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return berth_errno(err, errno, "cgroup: opening %s/cgroup.events", h->dir);
	int rc = cg_write(h, "cgroup.freeze", freeze ? "1" : "0", "cgroup freeze", err);
	if (rc < 0)
		return rc;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	int delay = 1;
	for (;;) {
		bool frozen = false;
		if ((rc = events_frozen(fd, &frozen)) < 0)
			return berth_errno(err, rc, "cgroup: reading %s/cgroup.events", h->dir);
		if (frozen == freeze)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (ms >= 5000) {
			if (freeze) {
				struct berth_error ignored = { 0 };
				cg_write(h, "cgroup.freeze", "0", "cgroup freeze", &ignored);
			}
			return berth_err(err, ETIMEDOUT, "cgroup: %s did not become %s within 5s", h->dir,
					 freeze ? "frozen" : "thawed");
		}
		/* kernfs wakes POLLPRI when cgroup.events changes; the timeout
		 * is only a backstop. */
		struct pollfd pfd = { .fd = fd, .events = POLLPRI };
		int pr = poll(&pfd, 1, delay);
		if (pr > 0) {
			/* Regular files (and a change we already saw) report ready at
			 * once; never spin on them. */
			struct timespec ts = { 0, 500000 };
			nanosleep(&ts, NULL);
		}
		delay = delay < 32 ? delay * 2 : 32;
	}
}

int cg_v2_kill(struct cg_hier *h, struct berth_error *err)
{
	return cg_write(h, "cgroup.kill", "1", "cgroup kill", err);
}

/* --- stats ---------------------------------------------------------------------------- */

int cg_v2_stats_cpu(struct cg_hier *h, json_t *o)
{
	json_t *usage = json_object(), *thr = json_object();
	if (!usage || !thr || json_object_set_new(o, "usage", usage) < 0 ||
	    json_object_set_new(o, "throttling", thr) < 0) {
		json_decref(thr);
		return -ENOMEM;
	}
	uint64_t v = 0, user = 0, sys = 0;
	if (cg_read_key(h, "cpu.stat", "usage_usec", &v) == 0)
		cg_json_u64(usage, "total", v * 1000, true);
	cg_read_key(h, "cpu.stat", "user_usec", &user);
	cg_read_key(h, "cpu.stat", "system_usec", &sys);
	cg_json_u64(usage, "kernel", sys * 1000, false);
	cg_json_u64(usage, "user", user * 1000, false);
	if (cg_read_key(h, "cpu.stat", "nr_periods", &v) == 0)
		cg_json_u64(thr, "periods", v, true);
	if (cg_read_key(h, "cpu.stat", "nr_throttled", &v) == 0)
		cg_json_u64(thr, "throttledPeriods", v, true);
	if (cg_read_key(h, "cpu.stat", "throttled_usec", &v) == 0)
		cg_json_u64(thr, "throttledTime", v * 1000, true);
	return 0;
}

static json_t *mem_entry(uint64_t limit, uint64_t usage, uint64_t max, uint64_t failcnt)
{
	json_t *e = json_object();
	if (!e)
		return NULL;
	cg_json_u64(e, "limit", limit, false);
	cg_json_u64(e, "usage", usage, true);
	cg_json_u64(e, "max", max, true);
	cg_json_u64(e, "failcnt", failcnt, false);
	return e;
}

int cg_v2_stats_memory(struct cg_hier *h, json_t *o)
{
	json_t *raw = json_object();
	if (!raw)
		return -ENOMEM;
	cg_json_flat_keyed(h, "memory.stat", raw);
	json_t *file = json_object_get(raw, "file");
	if (file && json_integer_value(file))
		json_object_set_new(o, "cache", json_integer(json_integer_value(file)));
	uint64_t cur = 0, max = UINT64_MAX, peak = 0, failcnt = 0, scur = 0, smax = UINT64_MAX;
	cg_read_u64(h, "memory.current", &cur);
	cg_read_u64(h, "memory.max", &max);
	cg_read_u64(h, "memory.peak", &peak);
	cg_read_key(h, "memory.events", "max", &failcnt);
	bool swap = cg_read_u64(h, "memory.swap.current", &scur) == 0;
	cg_read_u64(h, "memory.swap.max", &smax);
	/* Reported the v1 way (memory+swap), which is what consumers of
	 * runc's stats expect. */
	uint64_t slimit = (smax == UINT64_MAX || max == UINT64_MAX) ? UINT64_MAX : smax + max;
	json_object_set_new(o, "usage", mem_entry(max, cur, peak, failcnt));
	json_object_set_new(o, "swap", mem_entry(swap ? slimit : 0, swap ? scur + cur : 0, 0, 0));
	json_object_set_new(o, "kernel", mem_entry(0, 0, 0, 0));
	json_object_set_new(o, "kernelTCP", mem_entry(0, 0, 0, 0));
	if (json_object_size(raw))
		json_object_set_new(o, "raw", raw);
	else
		json_decref(raw);
	return 0;
}

static int io_entry(json_t *arr, unsigned long long maj, unsigned long long min, const char *op, uint64_t v)
{
	json_t *e = json_object();
	if (!e || json_array_append_new(arr, e) < 0)
		return -ENOMEM;
	cg_json_u64(e, "major", maj, true);
	cg_json_u64(e, "minor", min, true);
	json_object_set_new(e, "op", json_string(op));
	cg_json_u64(e, "value", v, true);
	return 0;
}

int cg_v2_stats_io(struct cg_hier *h, json_t *o)
{
	_cleanup_free_ char *s = NULL;
	if (cg_read(h, "io.stat", &s) < 0)
		return 0;
	json_t *bytes = json_array(), *ios = json_array();
	if (!bytes || !ios) {
		json_decref(bytes);
		json_decref(ios);
		return -ENOMEM;
	}
	char *save = NULL;
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long maj, min;
		int off = 0;
		if (sscanf(line, "%llu:%llu%n", &maj, &min, &off) != 2)
			continue;
		char *save2 = NULL;
		for (char *kv = strtok_r(line + off, " ", &save2); kv; kv = strtok_r(NULL, " ", &save2)) {
			char *eq = strchr(kv, '=');
			if (!eq)
				continue;
			*eq = '\0';
			uint64_t v = strtoull(eq + 1, NULL, 10);
			if (!strcmp(kv, "rbytes"))
				io_entry(bytes, maj, min, "Read", v);
			else if (!strcmp(kv, "wbytes"))
				io_entry(bytes, maj, min, "Write", v);
			else if (!strcmp(kv, "rios"))
				io_entry(ios, maj, min, "Read", v);
			else if (!strcmp(kv, "wios"))
				io_entry(ios, maj, min, "Write", v);
		}
	}
	if (json_array_size(bytes))
		json_object_set_new(o, "ioServiceBytesRecursive", bytes);
	else
		json_decref(bytes);
	if (json_array_size(ios))
		json_object_set_new(o, "ioServicedRecursive", ios);
	else
		json_decref(ios);
	return 0;
}
