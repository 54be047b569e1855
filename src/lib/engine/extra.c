/* extra.c — top, stats, rename, port, prune, df and info (see extra.h). */
#include "engine/extra.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"
#include "db/db.h"
#include "engine/container.h"
#include "engine/volumes.h"

/* ------------------------------------------------------------ helpers */

static void bundle_of(struct engine *e, const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/containers/%s", e->root, id);
}

static bool state_running(struct engine *e, const char *id)
{
	char bundle[PATH_MAX];
	bundle_of(e, id, bundle, sizeof(bundle));
	struct ctr_state st = { 0 };
	if (ctr_state_read(bundle, &st) < 0)
		return false;
	bool running = !strcmp(st.state, "running") || !strcmp(st.state, "paused");
	ctr_state_clear(&st);
	return running;
}

static int running_pid(struct engine *e, const char *id)
{
	char bundle[PATH_MAX];
	bundle_of(e, id, bundle, sizeof(bundle));
	struct ctr_state st = { 0 };
	if (ctr_state_read(bundle, &st) < 0)
		return 0;
	int pid = (!strcmp(st.state, "running") || !strcmp(st.state, "paused")) ? st.pid : 0;
	ctr_state_clear(&st);
	return pid;
}

static bool in_pids(const pid_t *p, size_t n, long pid)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == pid)
			return true;
	return false;
}

/* ------------------------------------------------------------ top */

int engine_top_pids(struct engine *e, const char *id, pid_t **pids, size_t *n, struct berth_error *err)
{
	struct ctr_record rec = { 0 };
	int r = ctr_record_get(e->images->db, id, &rec, err);
	if (r < 0)
		return r;
	if (!state_running(e, id)) {
		ctr_record_clear(&rec);
		return berth_err(err, EINVAL, "container %.12s is not running", id);
	}
	const char *rt = rec.runtime && *rec.runtime ? rec.runtime : e->default_runtime;
	const char *args[] = { "ps", "--format", "json", id, NULL };
	_cleanup_free_ char *out = NULL;
	char errbuf[2048];
	r = engine_runtime_run(e, &rec, args, &out, errbuf, sizeof(errbuf));
	if (r != 0) {
		if (r < 0)
			berth_errno(err, r, "running %s ps", rt);
		else {
			engine_last_line(errbuf);
			berth_err(err, EIO, "%s ps %.12s: %s", rt, id, errbuf);
		}
		ctr_record_clear(&rec);
		return r < 0 ? r : -EIO;
	}
	json_error_t je;
	json_t *a = json_loads(out, 0, &je);
	if (!json_is_array(a)) {
		json_decref(a);
		/* rt may point into rec: report before clearing it */
		r = berth_err(err, EBADMSG, "%s ps --format json: not a JSON array of pids", rt);
		ctr_record_clear(&rec);
		return r;
	}
	ctr_record_clear(&rec);
	size_t cnt = json_array_size(a);
	pid_t *v = calloc(cnt ? cnt : 1, sizeof(pid_t));
	if (!v) {
		json_decref(a);
		return berth_errno(err, ENOMEM, "top");
	}
	for (size_t i = 0; i < cnt; i++)
		v[i] = (pid_t) json_integer_value(json_array_get(a, i));
	json_decref(a);
	*pids = v;
	*n = cnt;
	return 0;
}

struct proc_info {
	long ppid;
	unsigned long long utime, stime, starttime;
	unsigned long tty_nr;
	unsigned euid;
	char comm[64];
};

static int read_proc(pid_t pid, struct proc_info *pi)
{
	char path[64];
	_cleanup_free_ char *stat = NULL, *status = NULL;
	size_t len;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	if (berth_read_file(path, &stat, &len) < 0)
		return -ESRCH;
	char *lp = strchr(stat, '('), *rp = strrchr(stat, ')');
	if (!lp || !rp)
		return -EBADMSG;
	snprintf(pi->comm, sizeof(pi->comm), "%.*s", (int) (rp - lp - 1), lp + 1);
	/* fields after ")": 3 state, 4 ppid, ... 7 tty_nr, 14 utime, 15 stime, 22 starttime */
	char *save = NULL;
	int field = 3;
	for (char *t = strtok_r(rp + 1, " ", &save); t; t = strtok_r(NULL, " ", &save), field++) {
		if (field == 4)
			pi->ppid = strtol(t, NULL, 10);
		else if (field == 7)
			pi->tty_nr = strtoul(t, NULL, 10);
		else if (field == 14)
			pi->utime = strtoull(t, NULL, 10);
		else if (field == 15)
			pi->stime = strtoull(t, NULL, 10);
		else if (field == 22) {
			pi->starttime = strtoull(t, NULL, 10);
			break;
		}
	}
	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	if (berth_read_file(path, &status, &len) == 0) {
		char *u = strstr(status, "\nUid:");
		unsigned ruid = 0, euid = 0;
		if (u && sscanf(u + 5, "%u %u", &ruid, &euid) == 2)
			pi->euid = euid;
	}
	return 0;
}

static char *proc_cmdline(pid_t pid, const char *comm)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
	char *buf = NULL;
	size_t len = 0;
	if (berth_read_file(path, &buf, &len) < 0 || len == 0) {
		free(buf);
		char *s = NULL;
		return asprintf(&s, "[%s]", comm) < 0 ? NULL : s;
	}
	while (len && buf[len - 1] == '\0')
		len--;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[len] = '\0';
	return buf;
}

static void tty_name(unsigned long tty_nr, char *buf, size_t len)
{
	unsigned major = (unsigned) ((tty_nr >> 8) & 0xfff);
	unsigned minor = (unsigned) ((tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00));
	if (tty_nr == 0)
		snprintf(buf, len, "?");
	else if (major >= 136 && major <= 143)
		snprintf(buf, len, "pts/%u", minor + (major - 136) * 256);
	else if (major == 4 && minor < 64)
		snprintf(buf, len, "tty%u", minor);
	else if (major == 4)
		snprintf(buf, len, "ttyS%u", minor - 64);
	else
		snprintf(buf, len, "?");
}

static double uptime_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static json_t *proc_row(pid_t pid, long hz, double up, time_t now)
{
	struct proc_info pi = { 0 };
	if (read_proc(pid, &pi) < 0)
		return NULL;   /* exited meanwhile */
	char uid[64], pids[24], ppid[24], c[16], stime[24], tty[24], tim[32];
	struct passwd pw, *pwp = NULL;
	char pwbuf[1024];
	if (getpwuid_r(pi.euid, &pw, pwbuf, sizeof(pwbuf), &pwp) == 0 && pwp)
		snprintf(uid, sizeof(uid), "%s", pw.pw_name);
	else
		snprintf(uid, sizeof(uid), "%u", pi.euid);
	snprintf(pids, sizeof(pids), "%d", (int) pid);
	snprintf(ppid, sizeof(ppid), "%ld", pi.ppid);
	double started = (double) pi.starttime / (double) hz;
	double elapsed = up - started;
	unsigned long long cpu = pi.utime + pi.stime;
	long pct = elapsed > 0 ? (long) ((double) cpu / (double) hz * 100.0 / elapsed) : 0;
	snprintf(c, sizeof(c), "%ld", pct);
	time_t start = now - (time_t) (elapsed > 0 ? elapsed : 0);
	struct tm tm_start, tm_now;
	localtime_r(&start, &tm_start);
	localtime_r(&now, &tm_now);
	if (now - start < 24 * 3600)
		strftime(stime, sizeof(stime), "%H:%M", &tm_start);
	else if (tm_start.tm_year == tm_now.tm_year)
		strftime(stime, sizeof(stime), "%b%d", &tm_start);
	else
		strftime(stime, sizeof(stime), "%Y", &tm_start);
	tty_name(pi.tty_nr, tty, sizeof(tty));
	unsigned long long secs = cpu / (unsigned long long) hz;
	if (secs >= 86400)
		snprintf(tim, sizeof(tim), "%llu-%02llu:%02llu:%02llu", secs / 86400, secs % 86400 / 3600,
			 secs % 3600 / 60, secs % 60);
	else
		snprintf(tim, sizeof(tim), "%02llu:%02llu:%02llu", secs / 3600, secs % 3600 / 60, secs % 60);
	_cleanup_free_ char *cmd = proc_cmdline(pid, pi.comm);
	return json_pack("[s,s,s,s,s,s,s,s]", uid, pids, ppid, c, stime, tty, tim, cmd ? cmd : "");
}

/* The host's `ps ARGS` filtered to pids, split as docker does: every column
 * is one word except the last, which takes the rest of the line. */
static json_t *top_with_ps(char *const *ps_args, const pid_t *pids, size_t n, struct berth_error *err)
{
	size_t nargs = 0;
	while (ps_args[nargs])
		nargs++;
	_cleanup_free_ char **argv = calloc(nargs + 2, sizeof(char *));
	if (!argv)
		return berth_errno(err, ENOMEM, "top"), NULL;
	argv[0] = (char *) "ps";
	for (size_t i = 0; i < nargs; i++)
		argv[i + 1] = ps_args[i];
	_cleanup_free_ char *out = NULL;
	char errbuf[1024];
	int r = engine_run(argv, &out, errbuf, sizeof(errbuf));
	if (r != 0) {
		if (r < 0)
			return berth_errno(err, r, "running ps"), NULL;
		engine_last_line(errbuf);
		return berth_err(err, EINVAL, "ps: %s", errbuf), NULL;
	}
	char *save = NULL;
	char *line = strtok_r(out, "\n", &save);
	if (!line)
		return berth_err(err, EINVAL, "ps printed nothing"), NULL;
	json_t *titles = json_array(), *procs = json_array();
	json_t *res = json_pack("{s:o, s:o}", "Titles", titles, "Processes", procs);
	if (!res)
		return berth_errno(err, ENOMEM, "top"), NULL;
	int pid_col = -1;
	{
		_cleanup_free_ char *h = strdup(line);
		char *s2 = NULL;
		int col = 0;
		for (char *t = h ? strtok_r(h, " \t", &s2) : NULL; t; t = strtok_r(NULL, " \t", &s2), col++) {
			json_array_append_new(titles, json_string(t));
			if (!strcmp(t, "PID"))
				pid_col = col;
		}
	}
	if (pid_col < 0) {
		json_decref(res);
		return berth_err(err, EINVAL, "Couldn't find PID field in ps output"), NULL;
	}
	size_t ncol = json_array_size(titles);
	while ((line = strtok_r(NULL, "\n", &save))) {
		json_t *row = json_array();
		char *p = line;
		for (size_t col = 0; row && col < ncol; col++) {
			while (*p == ' ' || *p == '\t')
				p++;
			if (col + 1 == ncol) {
				json_array_append_new(row, json_string(p));
				break;
			}
			char *end = p;
			while (*end && *end != ' ' && *end != '\t')
				end++;
			json_array_append_new(row, json_stringn(p, (size_t) (end - p)));
			p = end;
		}
		const char *pidv = json_string_value(json_array_get(row, (size_t) pid_col));
		char *end = NULL;
		long pid = pidv ? strtol(pidv, &end, 10) : -1;
		if (pidv && end && !*end && in_pids(pids, n, pid))
			json_array_append_new(procs, row);
		else
			json_decref(row);
	}
	return res;
}

json_t *engine_top(struct engine *e, const char *id, char *const *ps_args, struct berth_error *err)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	if (engine_top_pids(e, id, &pids, &n, err) < 0)
		return NULL;
	if (ps_args && ps_args[0])
		return top_with_ps(ps_args, pids, n, err);
	json_t *procs = json_array();
	json_t *res = json_pack("{s:[s,s,s,s,s,s,s,s], s:o}", "Titles", "UID", "PID", "PPID", "C", "STIME", "TTY",
				"TIME", "CMD", "Processes", procs);
	if (!res)
		return berth_errno(err, ENOMEM, "top"), NULL;
	long hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0)
		hz = 100;
	double up = uptime_seconds();
	time_t now = time(NULL);
	for (size_t i = 0; i < n; i++) {
		json_t *row = proc_row(pids[i], hz, up, now);
		if (row)
			json_array_append_new(procs, row);
	}
	return res;
}

/* ------------------------------------------------------------ stats */

/* The directory of pid's cgroup in the hierarchy carrying `ctrl` (NULL: the
 * cgroup2 one), found through /proc/PID/cgroup and our mountinfo. */
static int cgroup_dir(pid_t pid, const char *ctrl, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
	_cleanup_free_ char *cg = NULL, *mi = NULL;
	size_t l;
	if (berth_read_file(path, &cg, &l) < 0 || berth_read_file("/proc/self/mountinfo", &mi, &l) < 0)
		return -ENOENT;
	char cgpath[PATH_MAX] = "";
	bool found = false;
	char *save = NULL;
	for (char *line = strtok_r(cg, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrls = c1 + 1;
		if (!ctrl) {
			if (!strcmp(line, "0") && !*ctrls) {
				snprintf(cgpath, sizeof(cgpath), "%s", c2 + 1);
				found = true;
			}
			continue;
		}
		_cleanup_free_ char *dup = strdup(ctrls);
		char *s2 = NULL;
		for (char *t = dup ? strtok_r(dup, ",", &s2) : NULL; t; t = strtok_r(NULL, ",", &s2))
			if (!strcmp(t, ctrl)) {
				snprintf(cgpath, sizeof(cgpath), "%s", c2 + 1);
				found = true;
				break;
			}
	}
	if (!found)
		return -ENOENT;
	/* mountinfo: id parent maj:min root mountpoint opts ... - fstype source superopts */
	save = NULL;
	for (char *line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *dash = strstr(line, " - ");
		if (!dash)
			continue;
		char fstype[32] = "", root[PATH_MAX], mnt[PATH_MAX], src[256] = "", super[1024] = "";
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
		    sscanf(dash + 3, "%31s %255s %1023s", fstype, src, super) < 2)
			continue;
		bool match = false;
		if (!ctrl)
			match = !strcmp(fstype, "cgroup2");
		else if (!strcmp(fstype, "cgroup")) {
			char *s3 = NULL;
			for (char *t = strtok_r(super, ",", &s3); t; t = strtok_r(NULL, ",", &s3))
				if (!strcmp(t, ctrl))
					match = true;
		}
		if (!match)
			continue;
		/* the cgroup path is relative to the mount's root */
		const char *rel = cgpath;
		size_t rl = strlen(root);
		if (strcmp(root, "/") != 0) {
			if (strncmp(cgpath, root, rl) != 0)
				continue;
			rel = cgpath + rl;
		}
		snprintf(buf, len, "%s%s", mnt, rel);
		return 0;
	}
	return -ENOENT;
}

static bool read_u64_file(const char *dir, const char *name, uint64_t *v)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (berth_read_file(path, &buf, &len) < 0)
		return false;
	if (!strncmp(buf, "max", 3)) {
		*v = UINT64_MAX;
		return true;
	}
	char *end;
	*v = strtoull(buf, &end, 10);
	return end != buf;
}

static bool read_key_file(const char *dir, const char *name, const char *key, uint64_t *v)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	_cleanup_free_ char *buf = NULL;
	size_t len, kl = strlen(key);
	if (berth_read_file(path, &buf, &len) < 0)
		return false;
	for (char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, key, kl) && p[kl] == ' ') {
			*v = strtoull(p + kl + 1, NULL, 10);
			return true;
		}
	}
	return false;
}

static uint64_t host_memory(void)
{
	struct sysinfo si;
	if (sysinfo(&si) < 0)
		return 0;
	return (uint64_t) si.totalram * si.mem_unit;
}

/* All CPUs' time from /proc/stat, in nanoseconds (docker's system usage). */
static uint64_t system_cpu_ns(void)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (berth_read_file("/proc/stat", &buf, &len) < 0 || strncmp(buf, "cpu ", 4))
		return 0;
	long hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0)
		hz = 100;
	uint64_t total = 0;
	char *p = buf + 4;
	for (int i = 0; i < 8; i++) {   /* user nice system idle iowait irq softirq steal */
		char *end;
		unsigned long long v = strtoull(p, &end, 10);
		if (end == p)
			break;
		total += v;
		p = end;
	}
	return total * (1000000000ULL / (uint64_t) hz);
}

static void blkio_v1(const char *dir, uint64_t *rd, uint64_t *wr)
{
	static const char *const files[] = { "blkio.io_service_bytes_recursive",
					     "blkio.throttle.io_service_bytes_recursive" };
	for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
		char path[PATH_MAX + 64];
		snprintf(path, sizeof(path), "%s/%s", dir, files[f]);
		_cleanup_free_ char *buf = NULL;
		size_t len;
		if (berth_read_file(path, &buf, &len) < 0)
			continue;
		uint64_t r = 0, w = 0;
		bool any = false;
		char *save = NULL;
		for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char dev[32], op[16];
			unsigned long long v;
			if (sscanf(line, "%31s %15s %llu", dev, op, &v) != 3)
				continue;
			any = true;
			if (!strcasecmp(op, "read"))
				r += v;
			else if (!strcasecmp(op, "write"))
				w += v;
		}
		if (any || f + 1 == ARRAY_SIZE(files)) {
			*rd = r;
			*wr = w;
			return;
		}
	}
}

static void blkio_v2(const char *dir, uint64_t *rd, uint64_t *wr)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/io.stat", dir);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (berth_read_file(path, &buf, &len) < 0)
		return;
	for (char *p = buf; *p; p++) {
		if (!strncmp(p, "rbytes=", 7))
			*rd += strtoull(p + 7, NULL, 10);
		else if (!strncmp(p, "wbytes=", 7))
			*wr += strtoull(p + 7, NULL, 10);
	}
}

/* Network bytes of the container's own network namespace (not lo); a
 * container on the host's network reports none, as docker does. */
static void net_bytes(pid_t pid, uint64_t *rx, uint64_t *tx)
{
	char path[64];
	struct stat a, b;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) pid);
	if (stat(path, &a) < 0 || stat("/proc/self/ns/net", &b) < 0 || (a.st_ino == b.st_ino && a.st_dev == b.st_dev))
		return;
	snprintf(path, sizeof(path), "/proc/%d/net/dev", (int) pid);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (berth_read_file(path, &buf, &len) < 0)
		return;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		while (*line == ' ')
			line++;
		if (!strcmp(line, "lo"))
			continue;
		unsigned long long v[9];
		if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
			   &v[4], &v[5], &v[6], &v[7], &v[8]) == 9) {
			*rx += v[0];
			*tx += v[8];
		}
	}
}

int engine_stats_sample(struct engine *e, const char *id, struct ctr_stats *out, struct berth_error *err)
{
	memset(out, 0, sizeof(*out));
	struct ctr_record rec = { 0 };
	int r = ctr_record_get(e->images->db, id, &rec, err);
	if (r < 0)
		return r;
	snprintf(out->id, sizeof(out->id), "%s", rec.id);
	snprintf(out->name, sizeof(out->name), "%s", rec.name ? rec.name : "");
	ctr_record_clear(&rec);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	out->online_cpus = ncpu > 0 ? (unsigned) ncpu : 1;
	out->system_ns = system_cpu_ns();
	pid_t pid = running_pid(e, id);
	if (pid <= 0)
		return 0;
	char dir[PATH_MAX];
	bool v2 = false;
	/* v1 controllers first: on a hybrid host the cgroup2 part carries none of these */
	if (cgroup_dir(pid, "memory", dir, sizeof(dir)) == 0) {
		uint64_t inactive = 0;
		read_u64_file(dir, "memory.usage_in_bytes", &out->mem_usage);
		read_u64_file(dir, "memory.limit_in_bytes", &out->mem_limit);
		if (read_key_file(dir, "memory.stat", "total_inactive_file", &inactive) && inactive < out->mem_usage)
			out->mem_usage -= inactive;
	} else if (cgroup_dir(pid, NULL, dir, sizeof(dir)) == 0) {
		v2 = true;
		uint64_t inactive = 0;
		read_u64_file(dir, "memory.current", &out->mem_usage);
		read_u64_file(dir, "memory.max", &out->mem_limit);
		if (read_key_file(dir, "memory.stat", "inactive_file", &inactive) && inactive < out->mem_usage)
			out->mem_usage -= inactive;
	}
	uint64_t host = host_memory();
	if (out->mem_limit == 0 || (host && out->mem_limit > host))
		out->mem_limit = host;
	if (!v2 && cgroup_dir(pid, "cpuacct", dir, sizeof(dir)) == 0) {
		read_u64_file(dir, "cpuacct.usage", &out->cpu_ns);
	} else if (cgroup_dir(pid, NULL, dir, sizeof(dir)) == 0) {
		uint64_t usec = 0;
		if (read_key_file(dir, "cpu.stat", "usage_usec", &usec))
			out->cpu_ns = usec * 1000;
	}
	if (cgroup_dir(pid, "pids", dir, sizeof(dir)) == 0 || cgroup_dir(pid, NULL, dir, sizeof(dir)) == 0)
		read_u64_file(dir, "pids.current", &out->pids);
	if (!v2 && cgroup_dir(pid, "blkio", dir, sizeof(dir)) == 0)
		blkio_v1(dir, &out->blk_read, &out->blk_write);
	else if (cgroup_dir(pid, NULL, dir, sizeof(dir)) == 0)
		blkio_v2(dir, &out->blk_read, &out->blk_write);
	net_bytes(pid, &out->net_rx, &out->net_tx);
	/* The sample is only good if the container still runs now. */
	out->running = kill(pid, 0) == 0 || errno == EPERM;
	if (!out->running) {
		struct ctr_stats z = { .online_cpus = out->online_cpus, .system_ns = out->system_ns };
		memcpy(z.id, out->id, sizeof(z.id));
		memcpy(z.name, out->name, sizeof(z.name));
		*out = z;
	}
	return 0;
}

double engine_stats_cpu_percent(const struct ctr_stats *prev, const struct ctr_stats *cur)
{
	if (!prev->running || !cur->running || cur->cpu_ns < prev->cpu_ns || cur->system_ns <= prev->system_ns)
		return 0.0;
	double cpu = (double) (cur->cpu_ns - prev->cpu_ns), sys = (double) (cur->system_ns - prev->system_ns);
	return cpu / sys * (double) cur->online_cpus * 100.0;
}

double engine_stats_mem_percent(const struct ctr_stats *s)
{
	return s->mem_limit ? (double) s->mem_usage / (double) s->mem_limit * 100.0 : 0.0;
}

/* ------------------------------------------------------------ rename / port */

int engine_rename(struct engine *e, const char *id, const char *new_name, struct berth_error *err)
{
	return ctr_record_rename(e->images->db, id, new_name, err);
}

json_t *engine_ports(struct engine *e, const char *id, struct berth_error *err)
{
	struct ctr_record rec = { 0 };
	if (ctr_record_get(e->images->db, id, &rec, err) < 0)
		return NULL;
	json_t *pb = json_object_get(json_object_get(rec.record, "HostConfig"), "PortBindings");
	json_t *res = json_is_object(pb) ? json_deep_copy(pb) : json_object();
	ctr_record_clear(&rec);
	if (!res)
		berth_errno(err, ENOMEM, "port");
	return res;
}

/* ------------------------------------------------------------ sizes */

struct inode_set {
	struct { dev_t dev; ino_t ino; } *v;
	size_t n, cap;
};

static bool inode_seen(struct inode_set *s, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].dev == dev && s->v[i].ino == ino)
			return true;
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 16;
		void *nv = realloc(s->v, nc * sizeof(*s->v));
		if (!nv)
			return false;
		s->v = nv;
		s->cap = nc;
	}
	s->v[s->n].dev = dev;
	s->v[s->n].ino = ino;
	s->n++;
	return false;
}

static int64_t tree_size_at(int dfd, dev_t dev, struct inode_set *seen, int depth)
{
	if (depth > 256)
		return 0;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	int64_t total = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (st.st_dev != dev)
				continue;
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				total += tree_size_at(sub, dev, seen, depth + 1);
		} else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
			if (st.st_nlink > 1 && inode_seen(seen, st.st_dev, st.st_ino))
				continue;
			total += st.st_size;
		}
	}
	closedir(d);
	return total;
}

int64_t engine_tree_size(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return 0;
	}
	struct inode_set seen = { 0 };
	int64_t n = tree_size_at(fd, st.st_dev, &seen, 0);
	free(seen.v);
	return n;
}

static int64_t upper_size(struct engine *e, const char *id)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/containers/%s/upper", e->root, id);
	return engine_tree_size(path);
}

/* ------------------------------------------------------------ prune */

static int strv_push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(char *));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return -ENOMEM;
	nv[++*n] = NULL;
	return 0;
}

struct id_list { char **ids; size_t n; struct engine *e; bool stopped_only; };

static int collect_ids(void *ctx, const struct ctr_record *r)
{
	struct id_list *l = ctx;
	if (l->stopped_only && state_running(l->e, r->id))
		return 0;
	return strv_push(&l->ids, &l->n, r->id);
}

int engine_container_prune(struct engine *e, char ***removed, int64_t *reclaimed, struct berth_error *err)
{
	struct id_list l = { .e = e, .stopped_only = true };
	int r = ctr_records_walk(e->images->db, collect_ids, &l);
	if (r < 0) {
		berth_strv_freep(&l.ids);
		return berth_errno(err, r, "listing containers");
	}
	char **out = NULL;
	size_t nout = 0;
	int64_t total = 0;
	for (size_t i = 0; i < l.n; i++) {
		int64_t size = upper_size(e, l.ids[i]);
		struct berth_error rerr = { 0 };
		/* Not forced: one started since the walk is refused, and kept. */
		r = engine_remove(e, l.ids[i], false, false, &rerr);
		if (r < 0) {
			if (r == -EBUSY || r == -ENOENT)
				continue;
			berth_strv_freep(&l.ids);
			berth_strv_freep(&out);
			if (err)
				*err = rerr;
			return r;
		}
		total += size;
		if (strv_push(&out, &nout, l.ids[i]) < 0) {
			berth_strv_freep(&l.ids);
			berth_strv_freep(&out);
			return berth_errno(err, ENOMEM, "container prune");
		}
	}
	berth_strv_freep(&l.ids);
	if (reclaimed)
		*reclaimed = total;
	if (removed)
		*removed = out;
	else
		berth_strv_freep(&out);
	return (int) nout;
}

int engine_volume_prune(struct engine *e, bool all, char ***removed, int64_t *reclaimed, struct berth_error *err)
{
	struct volume_store *vs = NULL;
	int r = volume_store_open(e->root, e->images->db, &vs, err);
	if (r < 0)
		return r;
	json_t *list = NULL;
	r = volume_list(vs, &list, err);
	if (r < 0) {
		volume_store_close(vs);
		return r;
	}
	char **out = NULL;
	size_t nout = 0;
	int64_t total = 0;
	size_t i;
	json_t *vol;
	json_array_foreach(list, i, vol) {
		const char *name = json_string_value(json_object_get(vol, "Name"));
		if (!name || volume_in_use(vs, name) != 0)
			continue;
		if (!all && !json_object_get(json_object_get(vol, "Labels"), VOLUME_ANON_LABEL))
			continue;
		char path[PATH_MAX];
		int64_t size = volume_path(vs, name, path, sizeof(path)) == 0 ? engine_tree_size(path) : 0;
		struct berth_error verr = { 0 };
		if (volume_remove(vs, name, false, &verr) < 0)
			continue;   /* taken by a container meanwhile: not unused after all */
		total += size;
		if (strv_push(&out, &nout, name) < 0) {
			r = berth_errno(err, ENOMEM, "volume prune");
			break;
		}
	}
	json_decref(list);
	volume_store_close(vs);
	if (r < 0) {
		berth_strv_freep(&out);
		return r;
	}
	if (reclaimed)
		*reclaimed = total;
	if (removed)
		*removed = out;
	else
		berth_strv_freep(&out);
	return (int) nout;
}

/* ------------------------------------------------------------ df */

struct df_ctx {
	struct engine *e;
	struct engine_df *df;
	char **all_layers, **active_layers;
	size_t n_all, n_active;
	int rc;
};

static bool strv_has(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

static int df_image(void *ctx, const struct db_image *im)
{
	struct df_ctx *c = ctx;
	c->df->images.total++;
	bool active = db_containers_using_image(c->e->images->db, im->id) > 0;
	if (active)
		c->df->images.active++;
	for (size_t i = 0; i < im->n_layers; i++) {
		const char *cid = im->chain_ids[i];
		if (!strv_has(c->all_layers, c->n_all, cid) && strv_push(&c->all_layers, &c->n_all, cid) < 0)
			return -ENOMEM;
		if (active && !strv_has(c->active_layers, c->n_active, cid) &&
		    strv_push(&c->active_layers, &c->n_active, cid) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int64_t layers_size(struct engine *e, char **v, size_t n)
{
	int64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		struct db_layer l = { 0 };
		if (db_layer_get(e->images->db, v[i], &l) == 0)
			total += l.size;
		db_layer_clear(&l);
	}
	return total;
}

static int df_container(void *ctx, const struct ctr_record *r)
{
	struct df_ctx *c = ctx;
	int64_t size = upper_size(c->e, r->id);
	c->df->containers.total++;
	c->df->containers.size += size;
	if (state_running(c->e, r->id))
		c->df->containers.active++;
	else
		c->df->containers.reclaimable += size;
	return 0;
}

int engine_df(struct engine *e, struct engine_df *out, struct berth_error *err)
{
	memset(out, 0, sizeof(*out));
	struct df_ctx c = { .e = e, .df = out };
	int r = db_images_walk(e->images->db, df_image, &c);
	if (r >= 0) {
		out->images.size = layers_size(e, c.all_layers, c.n_all);
		out->images.reclaimable = out->images.size - layers_size(e, c.active_layers, c.n_active);
	}
	berth_strv_freep(&c.all_layers);
	berth_strv_freep(&c.active_layers);
	if (r < 0)
		return berth_errno(err, r, "listing images");
	r = ctr_records_walk(e->images->db, df_container, &c);
	if (r < 0)
		return berth_errno(err, r, "listing containers");
	struct volume_store *vs = NULL;
	r = volume_store_open(e->root, e->images->db, &vs, err);
	if (r < 0)
		return r;
	json_t *list = NULL;
	r = volume_list(vs, &list, err);
	if (r == 0) {
		size_t i;
		json_t *vol;
		json_array_foreach(list, i, vol) {
			const char *name = json_string_value(json_object_get(vol, "Name"));
			char path[PATH_MAX];
			if (!name)
				continue;
			int64_t size = volume_path(vs, name, path, sizeof(path)) == 0 ? engine_tree_size(path) : 0;
			out->volumes.total++;
			out->volumes.size += size;
			if (volume_in_use(vs, name) > 0)
				out->volumes.active++;
			else
				out->volumes.reclaimable += size;
		}
	}
	json_decref(list);
	volume_store_close(vs);
	return r;
}

/* ------------------------------------------------------------ info */

struct count_ctx { struct engine *e; int total, running, paused, stopped; };

static int count_ctr(void *ctx, const struct ctr_record *r)
{
	struct count_ctx *c = ctx;
	char bundle[PATH_MAX];
	bundle_of(c->e, r->id, bundle, sizeof(bundle));
	struct ctr_state st = { 0 };
	c->total++;
	if (ctr_state_read(bundle, &st) < 0) {
		c->stopped++;
		return 0;
	}
	char marker[PATH_MAX + 16];
	snprintf(marker, sizeof(marker), "%s/paused", bundle);
	if (!strcmp(st.state, "running") && access(marker, F_OK) == 0)
		c->paused++;
	else if (!strcmp(st.state, "running"))
		c->running++;
	else
		c->stopped++;
	ctr_state_clear(&st);
	return 0;
}

static int count_image(void *ctx, const struct db_image *im)
{
	(void) im;
	(*(int *) ctx)++;
	return 0;
}

static const char *fs_name(long type)
{
	switch ((unsigned long) type) {
	case 0xEF53: return "extfs";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	case 0x01021994: return "tmpfs";
	case 0x794c7630: return "overlayfs";
	case 0x2fc12fc1: return "zfs";
	case 0xF2F52010: return "f2fs";
	case 0x6969: return "nfs";
	default: return "unknown";
	}
}

#define CGROUP2_MAGIC 0x63677270
#define TMPFS_MAGIC 0x01021994

/* "2" (unified), "1" (v1 only) or "1" with mode "hybrid" (v1 controllers + a cgroup2 at unified/) */
static void cgroup_version(const char **version, const char **mode)
{
	struct statfs sf;
	*version = "1";
	*mode = "v1";
	if (statfs("/sys/fs/cgroup", &sf) < 0)
		return;
	if ((unsigned long) sf.f_type == CGROUP2_MAGIC) {
		*version = "2";
		*mode = "v2";
	} else if (statfs("/sys/fs/cgroup/unified", &sf) == 0 && (unsigned long) sf.f_type == CGROUP2_MAGIC) {
		*mode = "hybrid";
	}
}

static char *find_in_path(const char *name)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	_cleanup_free_ char *dup = strdup(path);
	char *save = NULL;
	for (char *d = dup ? strtok_r(dup, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
		char *p = NULL;
		if (asprintf(&p, "%s/%s", d, name) < 0)
			return NULL;
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

static char *os_pretty_name(void)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (berth_read_file("/etc/os-release", &buf, &len) < 0 && berth_read_file("/usr/lib/os-release", &buf, &len) < 0)
		return strdup("Linux");
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "PRETTY_NAME=", 12))
			continue;
		char *v = line + 12;
		size_t vl = strlen(v);
		if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
			v[vl - 1] = '\0';
			v++;
		}
		return strdup(v);
	}
	return strdup("Linux");
}

json_t *engine_info(struct engine *e, struct berth_error *err)
{
	struct count_ctx cc = { .e = e };
	int r = ctr_records_walk(e->images->db, count_ctr, &cc);
	if (r < 0)
		return berth_errno(err, r, "listing containers"), NULL;
	int images = 0;
	r = db_images_walk(e->images->db, count_image, &images);
	if (r < 0)
		return berth_errno(err, r, "listing images"), NULL;
	struct utsname un;
	uname(&un);
	struct statfs sf;
	const char *backing = statfs(e->root, &sf) == 0 ? fs_name((long) sf.f_type) : "unknown";
	const char *cgv, *cgmode;
	cgroup_version(&cgv, &cgmode);
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	_cleanup_free_ char *os = os_pretty_name();
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	json_t *runtimes = json_object();
	json_object_set_new(runtimes, "berth-runtime", json_pack("{s:s}", "path", e->default_runtime));
	static const char *const others[] = { "runc", "crun" };
	for (size_t i = 0; i < ARRAY_SIZE(others); i++) {
		_cleanup_free_ char *p = find_in_path(others[i]);
		if (p)
			json_object_set_new(runtimes, others[i], json_pack("{s:s}", "path", p));
	}
	char init_path[PATH_MAX];
	snprintf(init_path, sizeof(init_path), "%s", e->default_runtime);
	char *slash = strrchr(init_path, '/');
	if (slash)
		snprintf(slash + 1, sizeof(init_path) - (size_t) (slash + 1 - init_path), "berth-init");
	json_t *sec = json_pack("[s]", "name=seccomp,profile=builtin");
	if (!strcmp(cgv, "2"))
		json_array_append_new(sec, json_string("name=cgroupns"));

	json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:[[s,s],[s,s]], s:s, s:s, s:s, s:s, s:o,"
			      " s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:b, s:o, s:b}",
			      "Containers", cc.total, "ContainersRunning", cc.running, "ContainersPaused", cc.paused,
			      "ContainersStopped", cc.stopped, "Images", images,
			      "ServerVersion", BERTH_VERSION,
			      "Driver", "overlay",
			      "DriverStatus", "Backing Filesystem", backing, "Supports d_type", "true",
			      "LoggingDriver", "json-file",
			      "CgroupDriver", "cgroupfs",
			      "CgroupVersion", cgv,
			      "CgroupMode", cgmode,
			      "Runtimes", runtimes,
			      "DefaultRuntime", "berth-runtime",
			      "InitBinary", access(init_path, X_OK) == 0 ? init_path : "",
			      "KernelVersion", un.release,
			      "OperatingSystem", os ? os : "Linux",
			      "OSType", "linux",
			      "Architecture", un.machine,
			      "NCPU", (json_int_t) (ncpu > 0 ? ncpu : 1),
			      "MemTotal", (json_int_t) host_memory(),
			      "DockerRootDir", e->root,
			      "Name", host,
			      "IndexServerAddress", "https://index.docker.io/v1/",
			      "Debug", false,
			      "SecurityOptions", sec,
			      "LiveRestoreEnabled", false);
	if (!o)
		berth_errno(err, ENOMEM, "info");
	return o;
}
