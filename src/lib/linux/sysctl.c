#include "linux/sysctl.h"
#include "linux/procfs.h"
#include "core/cleanup.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The key as a path under /proc/sys, or NULL (errno) when it has an empty,
 * "." or ".." component: such a key names no sysctl and could only be an
 * attempt to walk somewhere else. */
static char *key_to_path(const char *key)
{
	char *p = strdup(key);
	if (!p)
		return NULL;
	if (!strchr(p, '/'))
		for (char *c = p; *c; c++)
			if (*c == '.')
				*c = '/';
	const char *comp = p;
	for (;;) {
		const char *end = strchrnul(comp, '/');
		size_t n = (size_t) (end - comp);
		if (n == 0 || (n == 1 && comp[0] == '.') || (n == 2 && comp[0] == '.' && comp[1] == '.')) {
			free(p);
			errno = EINVAL;
			return NULL;
		}
		if (!*end)
			break;
		comp = end + 1;
	}
	return p;
}

enum ns_need { NEED_NONE, NEED_IPC, NEED_NET, NEED_UTS };

static enum ns_need classify(const char *path)
{
	static const char *const ipc_keys[] = {
		"kernel/msgmax", "kernel/msgmnb", "kernel/msgmni", "kernel/sem",
		"kernel/shmall", "kernel/shmmax", "kernel/shmmni", "kernel/shm_rmid_forced",
	};
	for (size_t i = 0; i < ARRAY_SIZE(ipc_keys); i++)
		if (strcmp(path, ipc_keys[i]) == 0)
			return NEED_IPC;
	if (strncmp(path, "fs/mqueue/", 10) == 0)
		return NEED_IPC;
	if (strncmp(path, "net/", 4) == 0)
		return NEED_NET;
	if (strcmp(path, "kernel/hostname") == 0 || strcmp(path, "kernel/domainname") == 0)
		return NEED_UTS;
	return NEED_NONE;
}

static const struct spec_namespace *find_ns(const struct spec_linux *l, int type)
{
	for (size_t i = 0; i < l->n_namespaces; i++)
		if (l->namespaces[i].type == type)
			return &l->namespaces[i];
	return NULL;
}

/* 1 when `path` is the namespace this (host-side) process is in, 0 when not. */
static int is_host_ns(const char *path, const char *proc_name, struct berth_error *err, const char *key)
{
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/ns/%s", proc_name);
	struct stat a, b;
	if (stat(self, &a) < 0)
		return berth_errno(err, errno, "linux.sysctl.%s: %s", key, self);
	if (stat(path, &b) < 0)
		return berth_errno(err, errno, "linux.sysctl.%s: %s namespace %s", key, proc_name, path);
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int linux_sysctl_validate(const struct spec_config *cfg, struct berth_error *err)
{
	const struct spec_linux *l = cfg->linux_;
	if (!l)
		return 0;
	for (size_t i = 0; i < l->n_sysctl; i++) {
		const char *key = l->sysctl[i].key;
		if (!key || !l->sysctl[i].value)
			return berth_err(err, EINVAL, "linux.sysctl[%zu]: key and value are required", i);
		_cleanup_free_ char *path = key_to_path(key);
		if (!path)
			return berth_err(err, errno == ENOMEM ? ENOMEM : EINVAL,
					 "linux.sysctl.%s: not a valid sysctl name", key);
		int type;
		const char *what, *proc_name;
		switch (classify(path)) {
		case NEED_IPC:
			type = CLONE_NEWIPC, what = "ipc", proc_name = "ipc";
			break;
		case NEED_NET:
			type = CLONE_NEWNET, what = "network", proc_name = "net";
			break;
		case NEED_UTS:
			type = CLONE_NEWUTS, what = "uts", proc_name = "uts";
			break;
		default:
			return berth_err(err, EPERM, "linux.sysctl.%s: sysctl is not in a separate kernel namespace", key);
		}
		const struct spec_namespace *ns = find_ns(l, type);
		if (!ns)
			return berth_err(err, EPERM,
					 "linux.sysctl.%s: needs its own %s namespace, and the container shares the host's",
					 key, what);
		if (ns->path) {
			int r = is_host_ns(ns->path, proc_name, err, key);
			if (r < 0)
				return r;
			if (r)
				return berth_err(err, EPERM,
						 "linux.sysctl.%s: not allowed in the host's %s namespace (%s)",
						 key, what, ns->path);
		}
	}
	return 0;
}

int linux_sysctl_apply(int procfd, const struct spec_config *cfg, struct berth_error *err)
{
	const struct spec_linux *l = cfg->linux_;
	if (!l)
		return 0;
	for (size_t i = 0; i < l->n_sysctl; i++) {
		const char *key = l->sysctl[i].key, *value = l->sysctl[i].value;
		if (!key || !value)
			return berth_err(err, EINVAL, "linux.sysctl[%zu]: key and value are required", i);
		_cleanup_free_ char *path = key_to_path(key);
		if (!path)
			return berth_err(err, errno == ENOMEM ? ENOMEM : EINVAL,
					 "linux.sysctl.%s: not a valid sysctl name", key);
		_cleanup_free_ char *rel = NULL;
		if (asprintf(&rel, "sys/%s", path) < 0)
			return berth_err(err, ENOMEM, "linux.sysctl.%s: out of memory", key);
		int r = linux_procfs_write(procfd, rel, value, strlen(value), err);
		if (r < 0) {
			berth_error_prefix(err, "linux.sysctl.%s", key);
			return r;
		}
	}
	return 0;
}
