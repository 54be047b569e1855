#include "spec/defaults.h"
#include "core/json.h"

#include <jansson.h>
#include <stdint.h>
#include <unistd.h>

#include "core/cleanup.h"

static const char *const default_caps[] = {
	"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE",
};

static const char *const masked_paths[] = {
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
	"/sys/devices/virtual/powercap", "/proc/scsi",
};

static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

#define STRV(a) berth_json_strv(a, ARRAY_SIZE(a))

static json_t *mount(const char *dest, const char *type, const char *src,
		     const char *const *opts, size_t n_opts)
{
	json_t *m = json_pack("{s:s, s:s, s:s}", "destination", dest, "type", type, "source", src);
	if (m && n_opts && json_object_set_new(m, "options", berth_json_strv(opts, n_opts)) < 0) {
		json_decref(m);
		return NULL;
	}
	return m;
}
#define MOUNT(dest, type, src, ...) ({ \
	static const char *const _o[] = { __VA_ARGS__ }; \
	mount(dest, type, src, _o, ARRAY_SIZE(_o)); })

/* json_array_append_new() consumes m even on failure, and a NULL m (a failed
 * allocation) makes it fail: one check per mount covers both. */
static json_t *mounts(bool rootless)
{
	json_t *a = json_array();
	if (!a)
		return NULL;
	int r = json_array_append_new(a, mount("/proc", "proc", "proc", NULL, 0));
	r |= json_array_append_new(a, MOUNT("/dev", "tmpfs", "tmpfs",
		"nosuid", "strictatime", "mode=755", "size=65536k"));
	/* gid=5 names the tty group, which a rootless user cannot map. */
	if (rootless)
		r |= json_array_append_new(a, MOUNT("/dev/pts", "devpts", "devpts",
			"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"));
	else
		r |= json_array_append_new(a, MOUNT("/dev/pts", "devpts", "devpts",
			"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"));
	r |= json_array_append_new(a, MOUNT("/dev/shm", "tmpfs", "shm",
		"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"));
	r |= json_array_append_new(a, MOUNT("/dev/mqueue", "mqueue", "mqueue",
		"nosuid", "noexec", "nodev"));
	if (rootless) {
		/* A new sysfs needs a network namespace owned by the container's
		 * user namespace; rootless keeps the host's, so bind /sys.  No
		 * cgroup mount: an unprivileged user cannot mount cgroup v1
		 * hierarchies, and v2 delegation is not a given. */
		r |= json_array_append_new(a, MOUNT("/sys", "none", "/sys",
			"rbind", "nosuid", "noexec", "nodev", "ro"));
	} else {
		r |= json_array_append_new(a, MOUNT("/sys", "sysfs", "sysfs",
			"nosuid", "noexec", "nodev", "ro"));
		r |= json_array_append_new(a, MOUNT("/sys/fs/cgroup", "cgroup", "cgroup",
			"nosuid", "noexec", "nodev", "relatime", "ro"));
	}
	if (r) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *namespaces(bool rootless)
{
	static const char *const rootful[] = { "pid", "network", "ipc", "uts", "mount", "cgroup" };
	static const char *const rootless_ns[] = { "pid", "ipc", "uts", "mount", "cgroup", "user" };
	const char *const *v = rootless ? rootless_ns : rootful;
	size_t n = rootless ? ARRAY_SIZE(rootless_ns) : ARRAY_SIZE(rootful);
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_pack("{s:s}", "type", v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *linux_section(bool rootless)
{
	json_t *l = json_object();
	if (!l)
		return NULL;
	int r = 0;
	if (rootless) {
		r |= json_object_set_new(l, "uidMappings",
			json_pack("[{s:i, s:I, s:i}]", "containerID", 0,
				  "hostID", (json_int_t) geteuid(), "size", 1));
		r |= json_object_set_new(l, "gidMappings",
			json_pack("[{s:i, s:I, s:i}]", "containerID", 0,
				  "hostID", (json_int_t) getegid(), "size", 1));
	} else {
		r |= json_object_set_new(l, "resources",
			json_pack("{s:[{s:b, s:s}]}", "devices", "allow", false, "access", "rwm"));
	}
	r |= json_object_set_new(l, "namespaces", namespaces(rootless));
	r |= json_object_set_new(l, "maskedPaths", STRV(masked_paths));
	r |= json_object_set_new(l, "readonlyPaths", STRV(readonly_paths));
	if (r) {
		json_decref(l);
		return NULL;
	}
	return l;
}

char *spec_default_config_json(bool rootless)
{
	json_t *root = json_pack(
		"{s:s,"
		" s:{s:b, s:{s:i, s:i}, s:[s], s:[s, s], s:s,"
		"    s:{s:o, s:o, s:o}, s:[{s:s, s:i, s:i}], s:b},"
		" s:{s:s, s:b},"
		" s:s, s:o, s:o}",
		"ociVersion", "1.2.0",
		"process",
			"terminal", true,
			"user", "uid", 0, "gid", 0,
			"args", "sh",
			"env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			       "TERM=xterm",
			"cwd", "/",
			"capabilities",
				"bounding", STRV(default_caps),
				"effective", STRV(default_caps),
				"permitted", STRV(default_caps),
			"rlimits", "type", "RLIMIT_NOFILE", "hard", 1024, "soft", 1024,
			"noNewPrivileges", true,
		"root", "path", "rootfs", "readonly", true,
		"hostname", "berth",
		"mounts", mounts(rootless),
		"linux", linux_section(rootless));
	if (!root)
		return NULL;
	char *out = json_dumps(root, JSON_INDENT(4));
	json_decref(root);
	return out;
}
