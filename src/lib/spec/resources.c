#include "spec/resources.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"

/* JSON paths in errors are built into bounded buffers: a config whose path
 * does not fit gets a truncated path in the message, never an overflow. */
#define PATH_MAX_LEN 512

/* A path cut short is marked with "..." so nobody mistakes it for a real one. */
static void mark_truncated(char *buf, int n)
{
	if (n >= PATH_MAX_LEN)
		memcpy(buf + PATH_MAX_LEN - 4, "...", 4);
}

static void join(char *buf, const char *base, const char *field)
{
	int n;
	if (!base || !*base)
		n = snprintf(buf, PATH_MAX_LEN, "%s", field);
	else
		n = snprintf(buf, PATH_MAX_LEN, "%s.%s", base, field);
	mark_truncated(buf, n);
}

static void join_idx(char *buf, const char *base, size_t i)
{
	mark_truncated(buf, snprintf(buf, PATH_MAX_LEN, "%s[%zu]", base, i));
}

static json_t *field(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);
	return json_is_null(v) ? NULL : v;
}

static int get_int64(json_t *o, const char *base, const char *name, bool *has, int64_t *out,
		     struct berth_error *err)
{
	json_t *v = field(o, name);
	if (!v)
		return 0;
	if (!json_is_integer(v)) {
		char p[PATH_MAX_LEN];
		join(p, base, name);
		return berth_err(err, EINVAL, "%s: must be an integer", p);
	}
	*out = json_integer_value(v);
	if (has)
		*has = true;
	return 0;
}

static int get_uint64(json_t *o, const char *base, const char *name, bool *has, uint64_t *out,
		      struct berth_error *err)
{
	json_t *v = field(o, name);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		char p[PATH_MAX_LEN];
		join(p, base, name);
		return berth_err(err, EINVAL, "%s: must be a non-negative integer", p);
	}
	*out = (uint64_t) json_integer_value(v);
	if (has)
		*has = true;
	return 0;
}

static int get_uint_max(json_t *o, const char *base, const char *name, bool *has, uint64_t *out,
			uint64_t max, struct berth_error *err)
{
	bool h = false;
	uint64_t v = 0;
	int r = get_uint64(o, base, name, &h, &v, err);
	if (r < 0)
		return r;
	if (!h)
		return 0;
	if (v > max) {
		char p[PATH_MAX_LEN];
		join(p, base, name);
		return berth_err(err, ERANGE, "%s: must be at most %" PRIu64, p, max);
	}
	*out = v;
	if (has)
		*has = true;
	return 0;
}

static int get_bool(json_t *o, const char *base, const char *name, bool *has, bool *out,
		    struct berth_error *err)
{
	json_t *v = field(o, name);
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		char p[PATH_MAX_LEN];
		join(p, base, name);
		return berth_err(err, EINVAL, "%s: must be a boolean", p);
	}
	*out = json_is_true(v);
	if (has)
		*has = true;
	return 0;
}

static int get_string(json_t *o, const char *base, const char *name, char **out,
		      struct berth_error *err)
{
	json_t *v = field(o, name);
	if (!v)
		return 0;
	char p[PATH_MAX_LEN];
	join(p, base, name);
	if (!json_is_string(v))
		return berth_err(err, EINVAL, "%s: must be a string", p);
	char *s = strdup(json_string_value(v));
	if (!s)
		return berth_err(err, ENOMEM, "%s: out of memory", p);
	free(*out);
	*out = s;
	return 0;
}

/* Look up a sub-object; absent and null are "not there", anything but an
 * object is an error. */
static int get_object(json_t *o, const char *base, const char *name, json_t **out,
		      struct berth_error *err)
{
	*out = NULL;
	json_t *v = field(o, name);
	if (!v)
		return 0;
	if (!json_is_object(v)) {
		char p[PATH_MAX_LEN];
		join(p, base, name);
		return berth_err(err, EINVAL, "%s: must be an object", p);
	}
	*out = v;
	return 0;
}

static int get_array(json_t *o, const char *base, const char *name, json_t **out,
		     struct berth_error *err)
{
	*out = NULL;
	json_t *v = field(o, name);
	if (!v)
		return 0;
	if (!json_is_array(v)) {
		char p[PATH_MAX_LEN];
		join(p, base, name);
		return berth_err(err, EINVAL, "%s: must be an array", p);
	}
	*out = v;
	return 0;
}

static int require_object(json_t *v, const char *p, struct berth_error *err)
{
	if (!json_is_object(v))
		return berth_err(err, EINVAL, "%s: must be an object", p);
	return 0;
}

static int require_present(json_t *o, const char *base, const char *name, struct berth_error *err)
{
	if (field(o, name))
		return 0;
	char p[PATH_MAX_LEN];
	join(p, base, name);
	return berth_err(err, EINVAL, "%s: is required", p);
}

bool spec_resources_cpuset_valid(const char *list, unsigned *max_id)
{
	unsigned max = 0;
	const char *s = list;
	if (!s || !*s)
		return false;
	for (;;) {
		if (!isdigit((unsigned char) *s))
			return false;
		char *end;
		errno = 0;
		unsigned long a = strtoul(s, &end, 10), b = a;
		if (errno || a > 65535)
			return false;
		s = end;
		if (*s == '-') {
			s++;
			if (!isdigit((unsigned char) *s))
				return false;
			b = strtoul(s, &end, 10);
			if (errno || b > 65535 || b < a)
				return false;
			s = end;
		}
		if (b > max)
			max = (unsigned) b;
		if (*s == '\0')
			break;
		if (*s != ',')
			return false;
		s++;
	}
	if (max_id)
		*max_id = max;
	return true;
}

static int parse_devices(json_t *arr, const char *base, struct spec_resources *r,
			 struct berth_error *err)
{
	size_t n = json_array_size(arr);
	if (n == 0)
		return 0;
	r->devices = calloc(n, sizeof(*r->devices));
	if (!r->devices)
		return berth_err(err, ENOMEM, "%s: out of memory", base);
	for (size_t i = 0; i < n; i++) {
		char p[PATH_MAX_LEN], fp[PATH_MAX_LEN];
		json_t *d = json_array_get(arr, i);
		struct spec_res_device *dev = &r->devices[i];
		int rc;
		join_idx(p, base, i);
		if ((rc = require_object(d, p, err)) < 0)
			return rc;
		r->n_devices = i + 1;
		dev->type = 'a';
		dev->major = dev->minor = -1;
		strcpy(dev->access, "rwm");
		if ((rc = require_present(d, p, "allow", err)) < 0 ||
		    (rc = get_bool(d, p, "allow", NULL, &dev->allow, err)) < 0)
			return rc;
		json_t *t = field(d, "type");
		if (t) {
			join(fp, p, "type");
			const char *ts = json_string_value(t);
			if (!ts || strlen(ts) != 1 || !strchr("acb", ts[0]))
				return berth_err(err, EINVAL, "%s: must be \"a\", \"c\" or \"b\"", fp);
			dev->type = ts[0];
		}
		if ((rc = get_int64(d, p, "major", NULL, &dev->major, err)) < 0 ||
		    (rc = get_int64(d, p, "minor", NULL, &dev->minor, err)) < 0)
			return rc;
		if (dev->major < -1) {
			join(fp, p, "major");
			return berth_err(err, EINVAL, "%s: must be -1 (any) or a device number", fp);
		}
		if (dev->minor < -1) {
			join(fp, p, "minor");
			return berth_err(err, EINVAL, "%s: must be -1 (any) or a device number", fp);
		}
		json_t *a = field(d, "access");
		if (a) {
			join(fp, p, "access");
			const char *as = json_string_value(a);
			if (!as || !*as)
				return berth_err(err, EINVAL, "%s: must be a non-empty subset of \"rwm\"", fp);
			bool rd = false, wr = false, mk = false;
			for (const char *c = as; *c; c++) {
				if (*c == 'r')
					rd = true;
				else if (*c == 'w')
					wr = true;
				else if (*c == 'm')
					mk = true;
				else
					return berth_err(err, EINVAL,
							 "%s: \"%s\" is not a subset of \"rwm\"", fp, as);
			}
			snprintf(dev->access, sizeof(dev->access), "%s%s%s",
				 rd ? "r" : "", wr ? "w" : "", mk ? "m" : "");
		}
	}
	return 0;
}

static int parse_memory(json_t *o, const char *p, struct spec_res_memory *m, struct berth_error *err)
{
	static const struct {
		const char *name;
		size_t has_off, val_off;
	} limits[] = {
		{ "limit", offsetof(struct spec_res_memory, has_limit), offsetof(struct spec_res_memory, limit) },
		{ "reservation", offsetof(struct spec_res_memory, has_reservation), offsetof(struct spec_res_memory, reservation) },
		{ "swap", offsetof(struct spec_res_memory, has_swap), offsetof(struct spec_res_memory, swap) },
		{ "kernel", offsetof(struct spec_res_memory, has_kernel), offsetof(struct spec_res_memory, kernel) },
		{ "kernelTCP", offsetof(struct spec_res_memory, has_kernel_tcp), offsetof(struct spec_res_memory, kernel_tcp) },
	};
	int rc;
	for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
		bool *has = (bool *) ((char *) m + limits[i].has_off);
		int64_t *val = (int64_t *) ((char *) m + limits[i].val_off);
		if ((rc = get_int64(o, p, limits[i].name, has, val, err)) < 0)
			return rc;
		if (*has && *val < -1) {
			char fp[PATH_MAX_LEN];
			join(fp, p, limits[i].name);
			return berth_err(err, EINVAL, "%s: must be -1 (unlimited) or a number of bytes", fp);
		}
	}
	json_t *sw = field(o, "swappiness");
	if (sw && (!json_is_integer(sw) || json_integer_value(sw) < 0 || json_integer_value(sw) > 100)) {
		char fp[PATH_MAX_LEN];
		join(fp, p, "swappiness");
		return berth_err(err, ERANGE, "%s: must be between 0 and 100", fp);
	}
	if ((rc = get_uint64(o, p, "swappiness", &m->has_swappiness, &m->swappiness, err)) < 0 ||
	    (rc = get_bool(o, p, "disableOOMKiller", &m->has_disable_oom_killer, &m->disable_oom_killer, err)) < 0 ||
	    (rc = get_bool(o, p, "useHierarchy", &m->has_use_hierarchy, &m->use_hierarchy, err)) < 0 ||
	    (rc = get_bool(o, p, "checkBeforeUpdate", &m->has_check_before_update, &m->check_before_update, err)) < 0)
		return rc;
	if (m->has_limit && m->has_swap && m->limit > 0 && m->swap > 0 && m->swap < m->limit) {
		char fp[PATH_MAX_LEN];
		join(fp, p, "swap");
		return berth_err(err, EINVAL,
				 "%s: %" PRId64 " is below memory.limit %" PRId64
				 " (swap is the memory+swap limit)", fp, m->swap, m->limit);
	}
	return 0;
}

static int parse_cpuset_string(json_t *o, const char *p, const char *name, char **out,
			       struct berth_error *err)
{
	int rc = get_string(o, p, name, out, err);
	if (rc < 0 || !*out)
		return rc;
	if (**out == '\0') {
		/* runc and the CLIs treat "" as "not set". */
		free(*out);
		*out = NULL;
		return 0;
	}
	if (!spec_resources_cpuset_valid(*out, NULL)) {
		char fp[PATH_MAX_LEN];
		join(fp, p, name);
		return berth_err(err, EINVAL, "%s: \"%s\" is not a list like \"0-3,5\"", fp, *out);
	}
	return 0;
}

static int parse_cpu(json_t *o, const char *p, struct spec_res_cpu *c, struct berth_error *err)
{
	int rc;
	char fp[PATH_MAX_LEN];
	if ((rc = get_uint64(o, p, "shares", &c->has_shares, &c->shares, err)) < 0 ||
	    (rc = get_int64(o, p, "quota", &c->has_quota, &c->quota, err)) < 0 ||
	    (rc = get_uint64(o, p, "burst", &c->has_burst, &c->burst, err)) < 0 ||
	    (rc = get_uint64(o, p, "period", &c->has_period, &c->period, err)) < 0 ||
	    (rc = get_int64(o, p, "realtimeRuntime", &c->has_realtime_runtime, &c->realtime_runtime, err)) < 0 ||
	    (rc = get_uint64(o, p, "realtimePeriod", &c->has_realtime_period, &c->realtime_period, err)) < 0 ||
	    (rc = parse_cpuset_string(o, p, "cpus", &c->cpus, err)) < 0 ||
	    (rc = parse_cpuset_string(o, p, "mems", &c->mems, err)) < 0 ||
	    (rc = get_int64(o, p, "idle", &c->has_idle, &c->idle, err)) < 0)
		return rc;
	/* The kernel's CFS bounds: a period of 1ms..1s and a quota of at least
	 * 1ms.  Checking here names the field instead of a bare EINVAL later. */
	if (c->has_quota && c->quota != -1 && c->quota != 0 && c->quota < 1000) {
		join(fp, p, "quota");
		return berth_err(err, ERANGE, "%s: must be -1 (unlimited) or at least 1000 (µs)", fp);
	}
	if (c->has_period && c->period != 0 && (c->period < 1000 || c->period > 1000000)) {
		join(fp, p, "period");
		return berth_err(err, ERANGE, "%s: must be between 1000 and 1000000 (µs)", fp);
	}
	if (c->has_realtime_runtime && c->realtime_runtime < -1) {
		join(fp, p, "realtimeRuntime");
		return berth_err(err, ERANGE, "%s: must be -1 (unlimited) or a number of µs", fp);
	}
	if (c->has_idle && c->idle != 0 && c->idle != 1) {
		join(fp, p, "idle");
		return berth_err(err, ERANGE, "%s: must be 0 or 1", fp);
	}
	return 0;
}

static int check_weight(json_t *o, const char *p, const char *name, bool *has, uint16_t *out,
			struct berth_error *err)
{
	uint64_t v = 0;
	bool h = false;
	int rc = get_uint64(o, p, name, &h, &v, err);
	if (rc < 0)
		return rc;
	if (!h)
		return 0;
	/* 0 is how the CLIs say "leave the weight alone". */
	if (v != 0 && (v < 10 || v > 1000)) {
		char fp[PATH_MAX_LEN];
		join(fp, p, name);
		return berth_err(err, ERANGE, "%s: must be between 10 and 1000", fp);
	}
	*has = true;
	*out = (uint16_t) v;
	return 0;
}

static int parse_dev_numbers(json_t *d, const char *p, int64_t *major, int64_t *minor,
			     struct berth_error *err)
{
	int rc;
	if ((rc = require_present(d, p, "major", err)) < 0 ||
	    (rc = require_present(d, p, "minor", err)) < 0 ||
	    (rc = get_int64(d, p, "major", NULL, major, err)) < 0 ||
	    (rc = get_int64(d, p, "minor", NULL, minor, err)) < 0)
		return rc;
	char fp[PATH_MAX_LEN];
	if (*major < 0) {
		join(fp, p, "major");
		return berth_err(err, EINVAL, "%s: must be a device number", fp);
	}
	if (*minor < 0) {
		join(fp, p, "minor");
		return berth_err(err, EINVAL, "%s: must be a device number", fp);
	}
	return 0;
}

static int parse_throttle(json_t *o, const char *base, const char *name,
			  struct spec_res_throttle_device **out, size_t *n_out, struct berth_error *err)
{
	json_t *arr;
	char p[PATH_MAX_LEN];
	int rc = get_array(o, base, name, &arr, err);
	if (rc < 0 || !arr)
		return rc;
	join(p, base, name);
	size_t n = json_array_size(arr);
	if (n == 0)
		return 0;
	*out = calloc(n, sizeof(**out));
	if (!*out)
		return berth_err(err, ENOMEM, "%s: out of memory", p);
	for (size_t i = 0; i < n; i++) {
		char ip[PATH_MAX_LEN];
		json_t *d = json_array_get(arr, i);
		join_idx(ip, p, i);
		*n_out = i + 1;
		if ((rc = require_object(d, ip, err)) < 0 ||
		    (rc = parse_dev_numbers(d, ip, &(*out)[i].major, &(*out)[i].minor, err)) < 0 ||
		    (rc = require_present(d, ip, "rate", err)) < 0 ||
		    (rc = get_uint64(d, ip, "rate", NULL, &(*out)[i].rate, err)) < 0)
			return rc;
	}
	return 0;
}

static int parse_block_io(json_t *o, const char *p, struct spec_res_block_io *b, struct berth_error *err)
{
	int rc;
	json_t *arr;
	if ((rc = check_weight(o, p, "weight", &b->has_weight, &b->weight, err)) < 0 ||
	    (rc = check_weight(o, p, "leafWeight", &b->has_leaf_weight, &b->leaf_weight, err)) < 0 ||
	    (rc = get_array(o, p, "weightDevice", &arr, err)) < 0)
		return rc;
	if (arr && json_array_size(arr) > 0) {
		char ap[PATH_MAX_LEN];
		join(ap, p, "weightDevice");
		size_t n = json_array_size(arr);
		b->weight_device = calloc(n, sizeof(*b->weight_device));
		if (!b->weight_device)
			return berth_err(err, ENOMEM, "%s: out of memory", ap);
		for (size_t i = 0; i < n; i++) {
			char ip[PATH_MAX_LEN];
			json_t *d = json_array_get(arr, i);
			struct spec_res_weight_device *w = &b->weight_device[i];
			join_idx(ip, ap, i);
			b->n_weight_device = i + 1;
			if ((rc = require_object(d, ip, err)) < 0 ||
			    (rc = parse_dev_numbers(d, ip, &w->major, &w->minor, err)) < 0 ||
			    (rc = check_weight(d, ip, "weight", &w->has_weight, &w->weight, err)) < 0 ||
			    (rc = check_weight(d, ip, "leafWeight", &w->has_leaf_weight, &w->leaf_weight, err)) < 0)
				return rc;
		}
	}
	if ((rc = parse_throttle(o, p, "throttleReadBpsDevice", &b->throttle_read_bps, &b->n_throttle_read_bps, err)) < 0 ||
	    (rc = parse_throttle(o, p, "throttleWriteBpsDevice", &b->throttle_write_bps, &b->n_throttle_write_bps, err)) < 0 ||
	    (rc = parse_throttle(o, p, "throttleReadIOPSDevice", &b->throttle_read_iops, &b->n_throttle_read_iops, err)) < 0 ||
	    (rc = parse_throttle(o, p, "throttleWriteIOPSDevice", &b->throttle_write_iops, &b->n_throttle_write_iops, err)) < 0)
		return rc;
	return 0;
}

/* "2MB" → 2097152.  Units are binary, as in the kernel's hugetlb file
 * names; the size must be a power of two. */
static bool parse_page_size(const char *s, uint64_t *out)
{
	if (!isdigit((unsigned char) *s))
		return false;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || n == 0)
		return false;
	unsigned shift;
	if (!strcasecmp(end, "B"))
		shift = 0;
	else if (!strcasecmp(end, "KB"))
		shift = 10;
	else if (!strcasecmp(end, "MB"))
		shift = 20;
	else if (!strcasecmp(end, "GB"))
		shift = 30;
	else if (!strcasecmp(end, "TB"))
		shift = 40;
	else
		return false;
	if (n > (UINT64_MAX >> shift))
		return false;
	uint64_t v = (uint64_t) n << shift;
	if (v & (v - 1))
		return false;
	*out = v;
	return true;
}

static int parse_hugepages(json_t *arr, const char *p, struct spec_resources *r, struct berth_error *err)
{
	size_t n = json_array_size(arr);
	if (n == 0)
		return 0;
	r->hugepage_limits = calloc(n, sizeof(*r->hugepage_limits));
	if (!r->hugepage_limits)
		return berth_err(err, ENOMEM, "%s: out of memory", p);
	for (size_t i = 0; i < n; i++) {
		char ip[PATH_MAX_LEN], fp[PATH_MAX_LEN];
		json_t *d = json_array_get(arr, i);
		struct spec_res_hugepage *h = &r->hugepage_limits[i];
		int rc;
		join_idx(ip, p, i);
		r->n_hugepage_limits = i + 1;
		if ((rc = require_object(d, ip, err)) < 0 ||
		    (rc = require_present(d, ip, "pageSize", err)) < 0 ||
		    (rc = require_present(d, ip, "limit", err)) < 0 ||
		    (rc = get_string(d, ip, "pageSize", &h->page_size, err)) < 0 ||
		    (rc = get_uint64(d, ip, "limit", NULL, &h->limit, err)) < 0)
			return rc;
		if (!parse_page_size(h->page_size, &h->page_bytes)) {
			join(fp, ip, "pageSize");
			return berth_err(err, EINVAL,
					 "%s: \"%s\" is not a page size like \"2MB\" or \"1GB\"", fp, h->page_size);
		}
	}
	return 0;
}

static int parse_network(json_t *o, const char *p, struct spec_resources *r, struct berth_error *err)
{
	uint64_t v = 0;
	int rc;
	json_t *arr;
	if ((rc = get_uint_max(o, p, "classID", &r->has_class_id, &v, UINT32_MAX, err)) < 0)
		return rc;
	r->class_id = (uint32_t) v;
	if ((rc = get_array(o, p, "priorities", &arr, err)) < 0 || !arr || json_array_size(arr) == 0)
		return rc;
	char ap[PATH_MAX_LEN];
	join(ap, p, "priorities");
	size_t n = json_array_size(arr);
	r->net_priorities = calloc(n, sizeof(*r->net_priorities));
	if (!r->net_priorities)
		return berth_err(err, ENOMEM, "%s: out of memory", ap);
	for (size_t i = 0; i < n; i++) {
		char ip[PATH_MAX_LEN];
		json_t *d = json_array_get(arr, i);
		struct spec_res_net_priority *np = &r->net_priorities[i];
		join_idx(ip, ap, i);
		r->n_net_priorities = i + 1;
		if ((rc = require_object(d, ip, err)) < 0 ||
		    (rc = require_present(d, ip, "name", err)) < 0 ||
		    (rc = require_present(d, ip, "priority", err)) < 0 ||
		    (rc = get_string(d, ip, "name", &np->name, err)) < 0 ||
		    (rc = get_uint_max(d, ip, "priority", NULL, &v, UINT32_MAX, err)) < 0)
			return rc;
		np->priority = (uint32_t) v;
		/* The name goes into "name prio" of net_prio.ifpriomap: a space or
		 * newline in it would smuggle a second entry in. */
		if (!*np->name || strlen(np->name) >= 16 || strpbrk(np->name, " \t\n/")) {
			char fp[PATH_MAX_LEN];
			join(fp, ip, "name");
			return berth_err(err, EINVAL, "%s: \"%s\" is not an interface name", fp, np->name);
		}
	}
	return 0;
}

static int parse_rdma(json_t *o, const char *p, struct spec_resources *r, struct berth_error *err)
{
	size_t n = json_object_size(o);
	if (n == 0)
		return 0;
	r->rdma = calloc(n, sizeof(*r->rdma));
	if (!r->rdma)
		return berth_err(err, ENOMEM, "%s: out of memory", p);
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		char ip[PATH_MAX_LEN];
		struct spec_res_rdma *d = &r->rdma[r->n_rdma];
		uint64_t x = 0;
		int rc;
		join(ip, p, key);
		d->device = strdup(key);
		if (!d->device)
			return berth_err(err, ENOMEM, "%s: out of memory", ip);
		r->n_rdma++;
		if ((rc = require_object(v, ip, err)) < 0 ||
		    (rc = get_uint_max(v, ip, "hcaHandles", &d->has_hca_handles, &x, UINT32_MAX, err)) < 0)
			return rc;
		d->hca_handles = (uint32_t) x;
		if ((rc = get_uint_max(v, ip, "hcaObjects", &d->has_hca_objects, &x, UINT32_MAX, err)) < 0)
			return rc;
		d->hca_objects = (uint32_t) x;
	}
	return 0;
}

static bool unified_key_valid(const char *k)
{
	const char *dot = strchr(k, '.');
	if (!dot || dot == k || dot[1] == '\0')
		return false;
	if (strchr(k, '/') || strstr(k, ".."))
		return false;
	for (const char *c = k; *c; c++)
		if (!isalnum((unsigned char) *c) && *c != '.' && *c != '_' && *c != '-')
			return false;
	return true;
}

static int parse_unified(json_t *o, const char *p, struct spec_resources *r, struct berth_error *err)
{
	size_t n = json_object_size(o);
	if (n == 0)
		return 0;
	r->unified = calloc(n, sizeof(*r->unified));
	if (!r->unified)
		return berth_err(err, ENOMEM, "%s: out of memory", p);
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		char ip[PATH_MAX_LEN];
		join(ip, p, key);
		if (!unified_key_valid(key))
			return berth_err(err, EINVAL,
					 "%s: key must look like \"<controller>.<file>\" (no \"/\" or \"..\")", ip);
		/* Membership and kill are not resources: writing them through
		 * `unified` would move or kill processes behind the runtime's back. */
		if (!strcmp(key, "cgroup.procs") || !strcmp(key, "cgroup.threads") ||
		    !strcmp(key, "cgroup.kill"))
			return berth_err(err, EINVAL, "%s: is not a resource and cannot be set", ip);
		if (!json_is_string(v))
			return berth_err(err, EINVAL, "%s: must be a string", ip);
		struct spec_res_unified *u = &r->unified[r->n_unified];
		u->key = strdup(key);
		u->value = strdup(json_string_value(v));
		r->n_unified++;
		if (!u->key || !u->value)
			return berth_err(err, ENOMEM, "%s: out of memory", ip);
	}
	return 0;
}

int spec_resources_parse(json_t *obj, const char *path, struct spec_resources **out,
			 struct berth_error *err)
{
	const char *base = path ? path : "";
	if (!json_is_object(obj))
		return berth_err(err, EINVAL, "%s: must be an object", *base ? base : "resources");
	struct spec_resources *r = calloc(1, sizeof(*r));
	if (!r)
		return berth_err(err, ENOMEM, "%s: out of memory", base);
	char p[PATH_MAX_LEN];
	json_t *sub;
	int rc;

	if ((rc = get_array(obj, base, "devices", &sub, err)) < 0)
		goto fail;
	join(p, base, "devices");
	if (sub && (rc = parse_devices(sub, p, r, err)) < 0)
		goto fail;

	if ((rc = get_object(obj, base, "memory", &sub, err)) < 0)
		goto fail;
	join(p, base, "memory");
	if (sub) {
		r->has_memory = true;
		if ((rc = parse_memory(sub, p, &r->memory, err)) < 0)
			goto fail;
	}

	if ((rc = get_object(obj, base, "cpu", &sub, err)) < 0)
		goto fail;
	join(p, base, "cpu");
	if (sub) {
		r->has_cpu = true;
		if ((rc = parse_cpu(sub, p, &r->cpu, err)) < 0)
			goto fail;
	}

	if ((rc = get_object(obj, base, "pids", &sub, err)) < 0)
		goto fail;
	join(p, base, "pids");
	if (sub) {
		r->has_pids = true;
		if ((rc = get_int64(sub, p, "limit", &r->has_pids_limit, &r->pids_limit, err)) < 0)
			goto fail;
	}

	if ((rc = get_object(obj, base, "blockIO", &sub, err)) < 0)
		goto fail;
	join(p, base, "blockIO");
	if (sub) {
		r->has_block_io = true;
		if ((rc = parse_block_io(sub, p, &r->block_io, err)) < 0)
			goto fail;
	}

	if ((rc = get_array(obj, base, "hugepageLimits", &sub, err)) < 0)
		goto fail;
	join(p, base, "hugepageLimits");
	if (sub && (rc = parse_hugepages(sub, p, r, err)) < 0)
		goto fail;

	if ((rc = get_object(obj, base, "network", &sub, err)) < 0)
		goto fail;
	join(p, base, "network");
	if (sub) {
		r->has_network = true;
		if ((rc = parse_network(sub, p, r, err)) < 0)
			goto fail;
	}

	if ((rc = get_object(obj, base, "rdma", &sub, err)) < 0)
		goto fail;
	join(p, base, "rdma");
	if (sub && (rc = parse_rdma(sub, p, r, err)) < 0)
		goto fail;

	if ((rc = get_object(obj, base, "unified", &sub, err)) < 0)
		goto fail;
	join(p, base, "unified");
	if (sub && (rc = parse_unified(sub, p, r, err)) < 0)
		goto fail;

	*out = r;
	return 0;
fail:
	spec_resources_free(r);
	return rc;
}

int spec_resources_parse_json(const char *json, size_t len, const char *origin,
			      struct spec_resources **out, struct berth_error *err)
{
	json_error_t jerr;
	const char *o = origin ? origin : "resources";
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return berth_err(err, EINVAL, "%s: line %d column %d: %s", o, jerr.line, jerr.column, jerr.text);
	struct spec_resources *r = NULL;
	int rc = spec_resources_parse(root, "", &r, err);
	json_decref(root);
	if (rc < 0) {
		berth_error_prefix(err, "%s", o);
		return rc;
	}
	*out = r;
	return 0;
}

static void free_content(struct spec_resources *r)
{
	free(r->devices);
	free(r->cpu.cpus);
	free(r->cpu.mems);
	free(r->block_io.weight_device);
	free(r->block_io.throttle_read_bps);
	free(r->block_io.throttle_write_bps);
	free(r->block_io.throttle_read_iops);
	free(r->block_io.throttle_write_iops);
	for (size_t i = 0; i < r->n_hugepage_limits; i++)
		free(r->hugepage_limits[i].page_size);
	free(r->hugepage_limits);
	for (size_t i = 0; i < r->n_net_priorities; i++)
		free(r->net_priorities[i].name);
	free(r->net_priorities);
	for (size_t i = 0; i < r->n_rdma; i++)
		free(r->rdma[i].device);
	free(r->rdma);
	for (size_t i = 0; i < r->n_unified; i++) {
		free(r->unified[i].key);
		free(r->unified[i].value);
	}
	free(r->unified);
}

void spec_resources_free(struct spec_resources *r)
{
	if (!r)
		return;
	free_content(r);
	free(r);
}

/* --- serialisation ------------------------------------------------------ */

static int set_new(json_t *o, const char *k, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_object_set_new(o, k, v) == 0 ? 0 : -ENOMEM;
}

#define SET_INT(o, k, v) do { if (set_new((o), (k), json_integer((json_int_t) (v))) < 0) goto nomem; } while (0)
#define SET_BOOL(o, k, v) do { if (set_new((o), (k), json_boolean(v)) < 0) goto nomem; } while (0)
#define SET_STR(o, k, v) do { if (set_new((o), (k), json_string(v)) < 0) goto nomem; } while (0)

static json_t *throttle_json(const struct spec_res_throttle_device *t, size_t n)
{
	json_t *a = json_array();
	if (!a)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		json_t *d = json_object();
		if (!d || json_array_append_new(a, d) < 0)
			goto nomem;
		SET_INT(d, "major", t[i].major);
		SET_INT(d, "minor", t[i].minor);
		SET_INT(d, "rate", t[i].rate);
	}
	return a;
nomem:
	json_decref(a);
	return NULL;
}

json_t *spec_resources_to_json(const struct spec_resources *r)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	if (r->n_devices) {
		json_t *a = json_array();
		if (set_new(o, "devices", a) < 0)
			goto nomem;
		for (size_t i = 0; i < r->n_devices; i++) {
			const struct spec_res_device *d = &r->devices[i];
			char t[2] = { d->type, 0 };
			json_t *j = json_object();
			if (!j || json_array_append_new(a, j) < 0)
				goto nomem;
			SET_BOOL(j, "allow", d->allow);
			SET_STR(j, "type", t);
			if (d->major >= 0)
				SET_INT(j, "major", d->major);
			if (d->minor >= 0)
				SET_INT(j, "minor", d->minor);
			SET_STR(j, "access", d->access);
		}
	}
	if (r->has_memory) {
		const struct spec_res_memory *m = &r->memory;
		json_t *j = json_object();
		if (set_new(o, "memory", j) < 0)
			goto nomem;
		if (m->has_limit) SET_INT(j, "limit", m->limit);
		if (m->has_reservation) SET_INT(j, "reservation", m->reservation);
		if (m->has_swap) SET_INT(j, "swap", m->swap);
		if (m->has_kernel) SET_INT(j, "kernel", m->kernel);
		if (m->has_kernel_tcp) SET_INT(j, "kernelTCP", m->kernel_tcp);
		if (m->has_swappiness) SET_INT(j, "swappiness", m->swappiness);
		if (m->has_disable_oom_killer) SET_BOOL(j, "disableOOMKiller", m->disable_oom_killer);
		if (m->has_use_hierarchy) SET_BOOL(j, "useHierarchy", m->use_hierarchy);
		if (m->has_check_before_update) SET_BOOL(j, "checkBeforeUpdate", m->check_before_update);
	}
	if (r->has_cpu) {
		const struct spec_res_cpu *c = &r->cpu;
		json_t *j = json_object();
		if (set_new(o, "cpu", j) < 0)
			goto nomem;
		if (c->has_shares) SET_INT(j, "shares", c->shares);
		if (c->has_quota) SET_INT(j, "quota", c->quota);
		if (c->has_burst) SET_INT(j, "burst", c->burst);
		if (c->has_period) SET_INT(j, "period", c->period);
		if (c->has_realtime_runtime) SET_INT(j, "realtimeRuntime", c->realtime_runtime);
		if (c->has_realtime_period) SET_INT(j, "realtimePeriod", c->realtime_period);
		if (c->cpus) SET_STR(j, "cpus", c->cpus);
		if (c->mems) SET_STR(j, "mems", c->mems);
		if (c->has_idle) SET_INT(j, "idle", c->idle);
	}
	if (r->has_pids) {
		json_t *j = json_object();
		if (set_new(o, "pids", j) < 0)
			goto nomem;
		if (r->has_pids_limit) SET_INT(j, "limit", r->pids_limit);
	}
	if (r->has_block_io) {
		const struct spec_res_block_io *b = &r->block_io;
		json_t *j = json_object();
		if (set_new(o, "blockIO", j) < 0)
			goto nomem;
		if (b->has_weight) SET_INT(j, "weight", b->weight);
		if (b->has_leaf_weight) SET_INT(j, "leafWeight", b->leaf_weight);
		if (b->n_weight_device) {
			json_t *a = json_array();
			if (set_new(j, "weightDevice", a) < 0)
				goto nomem;
			for (size_t i = 0; i < b->n_weight_device; i++) {
				const struct spec_res_weight_device *w = &b->weight_device[i];
				json_t *d = json_object();
				if (!d || json_array_append_new(a, d) < 0)
					goto nomem;
				SET_INT(d, "major", w->major);
				SET_INT(d, "minor", w->minor);
				if (w->has_weight) SET_INT(d, "weight", w->weight);
				if (w->has_leaf_weight) SET_INT(d, "leafWeight", w->leaf_weight);
			}
		}
		if (b->n_throttle_read_bps && set_new(j, "throttleReadBpsDevice", throttle_json(b->throttle_read_bps, b->n_throttle_read_bps)) < 0)
			goto nomem;
		if (b->n_throttle_write_bps && set_new(j, "throttleWriteBpsDevice", throttle_json(b->throttle_write_bps, b->n_throttle_write_bps)) < 0)
			goto nomem;
		if (b->n_throttle_read_iops && set_new(j, "throttleReadIOPSDevice", throttle_json(b->throttle_read_iops, b->n_throttle_read_iops)) < 0)
			goto nomem;
		if (b->n_throttle_write_iops && set_new(j, "throttleWriteIOPSDevice", throttle_json(b->throttle_write_iops, b->n_throttle_write_iops)) < 0)
			goto nomem;
	}
	if (r->n_hugepage_limits) {
		json_t *a = json_array();
		if (set_new(o, "hugepageLimits", a) < 0)
			goto nomem;
		for (size_t i = 0; i < r->n_hugepage_limits; i++) {
			json_t *d = json_object();
			if (!d || json_array_append_new(a, d) < 0)
				goto nomem;
			SET_STR(d, "pageSize", r->hugepage_limits[i].page_size);
			SET_INT(d, "limit", r->hugepage_limits[i].limit);
		}
	}
	if (r->has_network) {
		json_t *j = json_object();
		if (set_new(o, "network", j) < 0)
			goto nomem;
		if (r->has_class_id) SET_INT(j, "classID", r->class_id);
		if (r->n_net_priorities) {
			json_t *a = json_array();
			if (set_new(j, "priorities", a) < 0)
				goto nomem;
			for (size_t i = 0; i < r->n_net_priorities; i++) {
				json_t *d = json_object();
				if (!d || json_array_append_new(a, d) < 0)
					goto nomem;
				SET_STR(d, "name", r->net_priorities[i].name);
				SET_INT(d, "priority", r->net_priorities[i].priority);
			}
		}
	}
	if (r->n_rdma) {
		json_t *j = json_object();
		if (set_new(o, "rdma", j) < 0)
			goto nomem;
		for (size_t i = 0; i < r->n_rdma; i++) {
			json_t *d = json_object();
			if (set_new(j, r->rdma[i].device, d) < 0)
				goto nomem;
			if (r->rdma[i].has_hca_handles) SET_INT(d, "hcaHandles", r->rdma[i].hca_handles);
			if (r->rdma[i].has_hca_objects) SET_INT(d, "hcaObjects", r->rdma[i].hca_objects);
		}
	}
	if (r->n_unified) {
		json_t *j = json_object();
		if (set_new(o, "unified", j) < 0)
			goto nomem;
		for (size_t i = 0; i < r->n_unified; i++)
			SET_STR(j, r->unified[i].key, r->unified[i].value);
	}
	return o;
nomem:
	json_decref(o);
	return NULL;
}

/* --- merge -------------------------------------------------------------- */

static void *dup_mem(const void *p, size_t n, size_t size)
{
	if (!n)
		return NULL;
	void *d = malloc(n * size);
	if (d)
		memcpy(d, p, n * size);
	return d;
}

static int replace_str(char **dst, const char *src)
{
	if (!src)
		return 0;
	char *s = strdup(src);
	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* Copy an array of plain structs over dst's, when src has one. */
#define MERGE_PLAIN(dptr, dn, sptr, sn) do {                                   \
	if ((sn) > 0) {                                                        \
		void *_c = dup_mem((sptr), (sn), sizeof(*(sptr)));             \
		if (!_c)                                                       \
			return -ENOMEM;                                        \
		free(dptr);                                                    \
		(dptr) = _c;                                                   \
		(dn) = (sn);                                                   \
	}                                                                      \
} while (0)

#define MERGE_FIELD(d, s, has, f) do { if ((s)->has) { (d)->has = true; (d)->f = (s)->f; } } while (0)

int spec_resources_merge(struct spec_resources *dst, const struct spec_resources *src)
{
	MERGE_PLAIN(dst->devices, dst->n_devices, src->devices, src->n_devices);
	if (src->has_memory) {
		struct spec_res_memory *d = &dst->memory;
		const struct spec_res_memory *s = &src->memory;
		dst->has_memory = true;
		MERGE_FIELD(d, s, has_limit, limit);
		MERGE_FIELD(d, s, has_reservation, reservation);
		MERGE_FIELD(d, s, has_swap, swap);
		MERGE_FIELD(d, s, has_kernel, kernel);
		MERGE_FIELD(d, s, has_kernel_tcp, kernel_tcp);
		MERGE_FIELD(d, s, has_swappiness, swappiness);
		MERGE_FIELD(d, s, has_disable_oom_killer, disable_oom_killer);
		MERGE_FIELD(d, s, has_use_hierarchy, use_hierarchy);
		MERGE_FIELD(d, s, has_check_before_update, check_before_update);
	}
	if (src->has_cpu) {
		struct spec_res_cpu *d = &dst->cpu;
		const struct spec_res_cpu *s = &src->cpu;
		dst->has_cpu = true;
		MERGE_FIELD(d, s, has_shares, shares);
		MERGE_FIELD(d, s, has_quota, quota);
		MERGE_FIELD(d, s, has_burst, burst);
		MERGE_FIELD(d, s, has_period, period);
		MERGE_FIELD(d, s, has_realtime_runtime, realtime_runtime);
		MERGE_FIELD(d, s, has_realtime_period, realtime_period);
		MERGE_FIELD(d, s, has_idle, idle);
		if (replace_str(&d->cpus, s->cpus) < 0 || replace_str(&d->mems, s->mems) < 0)
			return -ENOMEM;
	}
	if (src->has_pids) {
		dst->has_pids = true;
		MERGE_FIELD(dst, src, has_pids_limit, pids_limit);
	}
	if (src->has_block_io) {
		struct spec_res_block_io *d = &dst->block_io;
		const struct spec_res_block_io *s = &src->block_io;
		dst->has_block_io = true;
		MERGE_FIELD(d, s, has_weight, weight);
		MERGE_FIELD(d, s, has_leaf_weight, leaf_weight);
		MERGE_PLAIN(d->weight_device, d->n_weight_device, s->weight_device, s->n_weight_device);
		MERGE_PLAIN(d->throttle_read_bps, d->n_throttle_read_bps, s->throttle_read_bps, s->n_throttle_read_bps);
		MERGE_PLAIN(d->throttle_write_bps, d->n_throttle_write_bps, s->throttle_write_bps, s->n_throttle_write_bps);
		MERGE_PLAIN(d->throttle_read_iops, d->n_throttle_read_iops, s->throttle_read_iops, s->n_throttle_read_iops);
		MERGE_PLAIN(d->throttle_write_iops, d->n_throttle_write_iops, s->throttle_write_iops, s->n_throttle_write_iops);
	}
	if (src->n_hugepage_limits) {
		struct spec_res_hugepage *h = calloc(src->n_hugepage_limits, sizeof(*h));
		if (!h)
			return -ENOMEM;
		for (size_t i = 0; i < src->n_hugepage_limits; i++) {
			h[i] = src->hugepage_limits[i];
			h[i].page_size = strdup(src->hugepage_limits[i].page_size);
			if (!h[i].page_size) {
				for (size_t j = 0; j < i; j++)
					free(h[j].page_size);
				free(h);
				return -ENOMEM;
			}
		}
		for (size_t i = 0; i < dst->n_hugepage_limits; i++)
			free(dst->hugepage_limits[i].page_size);
		free(dst->hugepage_limits);
		dst->hugepage_limits = h;
		dst->n_hugepage_limits = src->n_hugepage_limits;
	}
	if (src->has_network) {
		dst->has_network = true;
		MERGE_FIELD(dst, src, has_class_id, class_id);
		if (src->n_net_priorities) {
			struct spec_res_net_priority *np = calloc(src->n_net_priorities, sizeof(*np));
			if (!np)
				return -ENOMEM;
			for (size_t i = 0; i < src->n_net_priorities; i++) {
				np[i].priority = src->net_priorities[i].priority;
				np[i].name = strdup(src->net_priorities[i].name);
				if (!np[i].name) {
					for (size_t j = 0; j < i; j++)
						free(np[j].name);
					free(np);
					return -ENOMEM;
				}
			}
			for (size_t i = 0; i < dst->n_net_priorities; i++)
				free(dst->net_priorities[i].name);
			free(dst->net_priorities);
			dst->net_priorities = np;
			dst->n_net_priorities = src->n_net_priorities;
		}
	}
	if (src->n_rdma) {
		struct spec_res_rdma *rd = calloc(src->n_rdma, sizeof(*rd));
		if (!rd)
			return -ENOMEM;
		for (size_t i = 0; i < src->n_rdma; i++) {
			rd[i] = src->rdma[i];
			rd[i].device = strdup(src->rdma[i].device);
			if (!rd[i].device) {
				for (size_t j = 0; j < i; j++)
					free(rd[j].device);
				free(rd);
				return -ENOMEM;
			}
		}
		for (size_t i = 0; i < dst->n_rdma; i++)
			free(dst->rdma[i].device);
		free(dst->rdma);
		dst->rdma = rd;
		dst->n_rdma = src->n_rdma;
	}
	/* unified keys merge one by one, like runc's map merge. */
	for (size_t i = 0; i < src->n_unified; i++) {
		const struct spec_res_unified *s = &src->unified[i];
		size_t j;
		for (j = 0; j < dst->n_unified; j++)
			if (!strcmp(dst->unified[j].key, s->key))
				break;
		if (j < dst->n_unified) {
			if (replace_str(&dst->unified[j].value, s->value) < 0)
				return -ENOMEM;
			continue;
		}
		struct spec_res_unified *u = realloc(dst->unified, (dst->n_unified + 1) * sizeof(*u));
		if (!u)
			return -ENOMEM;
		dst->unified = u;
		u[dst->n_unified].key = strdup(s->key);
		u[dst->n_unified].value = strdup(s->value);
		if (!u[dst->n_unified].key || !u[dst->n_unified].value) {
			free(u[dst->n_unified].key);
			free(u[dst->n_unified].value);
			return -ENOMEM;
		}
		dst->n_unified++;
	}
	return 0;
}
