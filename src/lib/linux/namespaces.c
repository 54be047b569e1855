#include "linux/namespaces.h"
#include "linux/procfs.h"
#include "core/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const struct {
	int type;
	const char *spec;
	const char *proc;
} ns_table[] = {
	{ CLONE_NEWUSER, "user", "user" },
	{ CLONE_NEWPID, "pid", "pid" },
	{ CLONE_NEWNET, "network", "net" },
	{ CLONE_NEWIPC, "ipc", "ipc" },
	{ CLONE_NEWUTS, "uts", "uts" },
	{ CLONE_NEWCGROUP, "cgroup", "cgroup" },
	{ CLONE_NEWTIME, "time", "time" },
	{ CLONE_NEWNS, "mount", "mnt" },
};

int linux_ns_type_from_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(ns_table); i++)
		if (strcmp(ns_table[i].spec, name) == 0)
			return ns_table[i].type;
	return -EINVAL;
}

const char *linux_ns_spec_name(int type)
{
	for (size_t i = 0; i < ARRAY_SIZE(ns_table); i++)
		if (ns_table[i].type == type)
			return ns_table[i].spec;
	return "unknown";
}

const char *linux_ns_proc_name(int type)
{
	for (size_t i = 0; i < ARRAY_SIZE(ns_table); i++)
		if (ns_table[i].type == type)
			return ns_table[i].proc;
	return NULL;
}

int linux_ns_open(const char *path, int type, struct berth_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return berth_errno(err, errno, "linux.namespaces: %s namespace path %s",
				   linux_ns_spec_name(type), path);
	int t = ioctl(fd, NS_GET_NSTYPE);
	if (t < 0 || t != type) {
		close(fd);
		return berth_err(err, EINVAL, "linux.namespaces: %s is not a %s namespace",
				 path, linux_ns_spec_name(type));
	}
	return fd;
}

int linux_ns_join_paths(const struct spec_config *cfg, struct berth_error *err)
{
	if (!cfg->linux_)
		return 0;
	/* Open every path before joining any: once we join a mount namespace
	 * the other paths may no longer resolve. User first, so the rest are
	 * joined with the capabilities that namespace grants; mount last. */
	int fds[ARRAY_SIZE(ns_table)];
	int types[ARRAY_SIZE(ns_table)];
	size_t n = 0;
	int r = 0;
	for (size_t t = 0; t < ARRAY_SIZE(ns_table) && r == 0; t++) {
		const struct spec_namespace *ns = spec_config_namespace(cfg, ns_table[t].type);
		if (!ns || !ns->path)
			continue;
		int fd = linux_ns_open(ns->path, ns->type, err);
		if (fd < 0) {
			r = fd;
			break;
		}
		fds[n] = fd;
		types[n++] = ns->type;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		if (setns(fds[i], types[i]) < 0)
			r = berth_errno(err, errno, "linux.namespaces: join %s namespace",
					linux_ns_spec_name(types[i]));
	}
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	return r;
}

int linux_ns_new_flags(const struct spec_config *cfg)
{
	int flags = 0;
	if (!cfg->linux_)
		return 0;
	for (size_t i = 0; i < cfg->linux_->n_namespaces; i++)
		if (!cfg->linux_->namespaces[i].path)
			flags |= cfg->linux_->namespaces[i].type;
	return flags;
}

static int write_map(int procfd, pid_t pid, const char *file, const struct spec_id_mapping *m,
		     size_t n, struct berth_error *err)
{
	char buf[4096];
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n", m[i].container_id,
				 m[i].host_id, m[i].size);
		if (w < 0 || (size_t) w >= sizeof(buf) - len)
			return berth_err(err, E2BIG, "linux.%sMappings: too many entries", file[0] == 'u' ? "uid" : "gid");
		len += (size_t) w;
	}
	char rel[64];
	snprintf(rel, sizeof(rel), "%d/%s", (int) pid, file);
	int r = linux_procfs_write(procfd, rel, buf, len, err);
	if (r < 0)
		berth_error_prefix(err, "linux.%sMappings", file[0] == 'u' ? "uid" : "gid");
	return r;
}

int linux_ns_write_id_maps(int procfd, pid_t pid, const struct spec_linux *l, struct berth_error *err)
{
	int r = 0;
	if (l->n_uid_mappings)
		r = write_map(procfd, pid, "uid_map", l->uid_mappings, l->n_uid_mappings, err);
	if (r == 0 && l->n_gid_mappings)
		r = write_map(procfd, pid, "gid_map", l->gid_mappings, l->n_gid_mappings, err);
	return r;
}

int linux_ns_write_time_offsets(int procfd, const struct spec_linux *l, struct berth_error *err)
{
	if (!l || l->n_time_offsets == 0)
		return 0;
	char buf[256];
	size_t len = 0;
	for (size_t i = 0; i < l->n_time_offsets; i++) {
		const struct spec_time_offset *o = &l->time_offsets[i];
		int w = snprintf(buf + len, sizeof(buf) - len, "%s %lld %u\n",
				 o->clock == CLOCK_BOOTTIME ? "boottime" : "monotonic",
				 (long long) o->secs, o->nanosecs);
		if (w < 0 || (size_t) w >= sizeof(buf) - len)
			return berth_err(err, E2BIG, "linux.timeOffsets: too many entries");
		len += (size_t) w;
	}
	/* The kernel accepts one offset per write. */
	char *line = buf;
	while (*line) {
		char *nl = strchr(line, '\n');
		char rel[64];
		snprintf(rel, sizeof(rel), "%d/timens_offsets", (int) getpid());
		int r = linux_procfs_write(procfd, rel, line, (size_t) (nl - line + 1), err);
		if (r < 0) {
			berth_error_prefix(err, "linux.timeOffsets");
			return r;
		}
		line = nl + 1;
	}
	return 0;
}
