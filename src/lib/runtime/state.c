#include "runtime/state.h"
#include "core/cleanup.h"
#include "core/fs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int rt_id_validate(const char *id, struct berth_error *err)
{
	if (!id || !*id)
		return berth_err(err, EINVAL, "container ID must not be empty");
	if (strlen(id) > 1024)
		return berth_err(err, EINVAL, "container ID %.32s...: too long (max 1024)", id);
	if (!strcmp(id, ".") || !strcmp(id, ".."))
		return berth_err(err, EINVAL, "invalid container ID %s", id);
	for (const char *p = id; *p; p++) {
		unsigned char c = (unsigned char) *p;
		if (!(isalnum(c) || c == '_' || c == '-' || c == '.' || c == '+'))
			return berth_err(err, EINVAL,
					 "invalid container ID \"%s\": only [A-Za-z0-9_+.-] are allowed", id);
	}
	return 0;
}

int rt_root_open(const char *root, bool create, struct berth_error *err)
{
	if (create) {
		int r = berth_mkdir_p(root, 0700);
		if (r < 0)
			return berth_errno(err, -r, "state root %s", root);
	}
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return berth_errno(err, errno, "state root %s", root);
	return fd;
}

int rt_state_dir_create(int rootfd, const char *id, struct berth_error *err)
{
	if (mkdirat(rootfd, id, 0711) < 0) {
		if (errno == EEXIST)
			return berth_err(err, EEXIST, "container with ID %s already exists", id);
		return berth_errno(err, errno, "create state directory for %s", id);
	}
	int fd = openat(rootfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return berth_errno(err, errno, "open state directory for %s", id);
	return fd;
}

int rt_state_dir_open(int rootfd, const char *id, struct berth_error *err)
{
	int fd = openat(rootfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return berth_err(err, ENOENT, "container %s does not exist", id);
		return berth_errno(err, errno, "open state of container %s", id);
	}
	return fd;
}

int rt_state_lock(int dirfd, struct berth_error *err)
{
	while (flock(dirfd, LOCK_EX) < 0) {
		if (errno != EINTR)
			return berth_errno(err, errno, "lock container state");
	}
	return 0;
}

static void set_str(json_t *o, const char *k, const char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
}

int rt_state_write(int dirfd, const struct rt_state *s, struct berth_error *err)
{
	json_t *o = json_object();
	set_str(o, "id", s->id);
	set_str(o, "status", s->status);
	json_object_set_new(o, "pid", json_integer(s->pid));
	json_object_set_new(o, "pidStart", json_integer((json_int_t) s->pid_start));
	set_str(o, "bundle", s->bundle);
	set_str(o, "rootfs", s->rootfs);
	set_str(o, "created", s->created);
	json_object_set_new(o, "owner", json_integer(s->owner));
	set_str(o, "cgroup", s->cgroup);
	if (s->annotations)
		json_object_set(o, "annotations", s->annotations);
	json_object_set_new(o, "noPivot", json_boolean(s->no_pivot));
	_cleanup_free_ char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		return berth_err(err, ENOMEM, "serialize state");
	int r = berth_write_file_replace(dirfd, RT_STATE_FILE, text, strlen(text), 0600);
	if (r < 0)
		return berth_errno(err, -r, "write state of container %s", s->id);
	return 0;
}

static char *dup_str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? strdup(v) : NULL;
}

int rt_state_read(int dirfd, const char *id, struct rt_state *s, struct berth_error *err)
{
	_cleanup_free_ char *text = NULL;
	int r = berth_read_file_at(dirfd, RT_STATE_FILE, &text, NULL);
	if (r == -ENOENT)
		return berth_err(err, ENOENT, "container %s does not exist (no state recorded)", id);
	if (r < 0)
		return berth_errno(err, -r, "read state of container %s", id);
	json_error_t je;
	json_t *o = json_loads(text, 0, &je);
	if (!o)
		return berth_err(err, EINVAL, "state of container %s is corrupt: %s", id, je.text);
	memset(s, 0, sizeof(*s));
	s->id = dup_str(o, "id");
	s->status = dup_str(o, "status");
	s->pid = (pid_t) json_integer_value(json_object_get(o, "pid"));
	s->pid_start = (unsigned long long) json_integer_value(json_object_get(o, "pidStart"));
	s->bundle = dup_str(o, "bundle");
	s->rootfs = dup_str(o, "rootfs");
	s->created = dup_str(o, "created");
	s->owner = (uid_t) json_integer_value(json_object_get(o, "owner"));
	s->cgroup = dup_str(o, "cgroup");
	json_t *a = json_object_get(o, "annotations");
	if (json_is_object(a))
		s->annotations = json_incref(a);
	s->no_pivot = json_is_true(json_object_get(o, "noPivot"));
	json_decref(o);
	if (!s->id || !s->status) {
		rt_state_clear(s);
		return berth_err(err, EINVAL, "state of container %s is corrupt: missing id/status", id);
	}
	return 0;
}

void rt_state_clear(struct rt_state *s)
{
	free(s->id);
	free(s->status);
	free(s->bundle);
	free(s->rootfs);
	free(s->created);
	free(s->cgroup);
	if (s->annotations)
		json_decref(s->annotations);
	memset(s, 0, sizeof(*s));
}

int rt_state_dir_remove(int rootfd, const char *id)
{
	return berth_rm_rf_at(rootfd, id);
}

unsigned long long rt_pid_start_time(pid_t pid, bool *zombie)
{
	if (zombie)
		*zombie = false;
	if (pid <= 0)
		return 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	_cleanup_free_ char *buf = NULL;
	if (berth_read_file(path, &buf, NULL) < 0)
		return 0;
	/* comm may hold spaces and parentheses: fields resume after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p += 2; /* field 3: state */
	if (zombie)
		*zombie = (*p == 'Z' || *p == 'X');
	int field = 3;
	while (*p && field < 22) {
		if (*p == ' ')
			field++;
		p++;
	}
	return strtoull(p, NULL, 10);
}

bool rt_state_process_alive(const struct rt_state *s)
{
	bool zombie;
	if (s->pid <= 0)
		return false;
	unsigned long long st = rt_pid_start_time(s->pid, &zombie);
	return st != 0 && st == s->pid_start && !zombie;
}

char *rt_now_rfc3339(void)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char buf[64];
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%09ldZ", ts.tv_nsec);
	return strdup(buf);
}
