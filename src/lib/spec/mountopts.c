#include "spec/mountopts.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "core/cleanup.h"

enum opt_kind {
	OPT_NOOP,       /* "defaults" */
	OPT_FLAG_SET,   /* MS_* to set */
	OPT_FLAG_CLR,   /* MS_* to clear */
	OPT_PROPAGATION,
	OPT_ATTR_SET,   /* MOUNT_ATTR_* to set recursively */
	OPT_ATTR_CLR,   /* MOUNT_ATTR_* to clear recursively */
	OPT_ATIME,      /* one whole MOUNT_ATTR__ATIME mode */
	OPT_BIND,
	OPT_RBIND,
	OPT_IDMAP,
	OPT_RIDMAP,
	OPT_TMPCOPYUP,
};

struct mount_opt {
	const char *name;
	enum opt_kind kind;
	uint64_t value;
};

/* Sorted by name: spec_mount_option_names() hands this order out as is. */
static const struct mount_opt opts_table[] = {
	{ "async",          OPT_FLAG_CLR,    MS_SYNCHRONOUS },
	{ "atime",          OPT_FLAG_CLR,    MS_NOATIME },
	{ "bind",           OPT_BIND,        0 },
	{ "defaults",       OPT_NOOP,        0 },
	{ "dev",            OPT_FLAG_CLR,    MS_NODEV },
	{ "diratime",       OPT_FLAG_CLR,    MS_NODIRATIME },
	{ "dirsync",        OPT_FLAG_SET,    MS_DIRSYNC },
	{ "exec",           OPT_FLAG_CLR,    MS_NOEXEC },
	{ "idmap",          OPT_IDMAP,       0 },
	{ "iversion",       OPT_FLAG_SET,    MS_I_VERSION },
	{ "lazytime",       OPT_FLAG_SET,    MS_LAZYTIME },
	{ "loud",           OPT_FLAG_CLR,    MS_SILENT },
	{ "mand",           OPT_FLAG_SET,    MS_MANDLOCK },
	{ "noatime",        OPT_FLAG_SET,    MS_NOATIME },
	{ "nodev",          OPT_FLAG_SET,    MS_NODEV },
	{ "nodiratime",     OPT_FLAG_SET,    MS_NODIRATIME },
	{ "noexec",         OPT_FLAG_SET,    MS_NOEXEC },
	{ "noiversion",     OPT_FLAG_CLR,    MS_I_VERSION },
	{ "nolazytime",     OPT_FLAG_CLR,    MS_LAZYTIME },
	{ "nomand",         OPT_FLAG_CLR,    MS_MANDLOCK },
	{ "norelatime",     OPT_FLAG_CLR,    MS_RELATIME },
	{ "nostrictatime",  OPT_FLAG_CLR,    MS_STRICTATIME },
	{ "nosuid",         OPT_FLAG_SET,    MS_NOSUID },
	{ "nosymfollow",    OPT_FLAG_SET,    MS_NOSYMFOLLOW },
	{ "private",        OPT_PROPAGATION, MS_PRIVATE },
	{ "ratime",         OPT_ATIME,       MOUNT_ATTR_RELATIME },
	{ "rbind",          OPT_RBIND,       0 },
	{ "rdev",           OPT_ATTR_CLR,    MOUNT_ATTR_NODEV },
	{ "rdiratime",      OPT_ATTR_CLR,    MOUNT_ATTR_NODIRATIME },
	{ "relatime",       OPT_FLAG_SET,    MS_RELATIME },
	{ "remount",        OPT_FLAG_SET,    MS_REMOUNT },
	{ "rexec",          OPT_ATTR_CLR,    MOUNT_ATTR_NOEXEC },
	{ "ridmap",         OPT_RIDMAP,      0 },
	{ "rnoatime",       OPT_ATIME,       MOUNT_ATTR_NOATIME },
	{ "rnodev",         OPT_ATTR_SET,    MOUNT_ATTR_NODEV },
	{ "rnodiratime",    OPT_ATTR_SET,    MOUNT_ATTR_NODIRATIME },
	{ "rnoexec",        OPT_ATTR_SET,    MOUNT_ATTR_NOEXEC },
	{ "rnorelatime",    OPT_ATIME,       MOUNT_ATTR_STRICTATIME },
	{ "rnostrictatime", OPT_ATIME,       MOUNT_ATTR_RELATIME },
	{ "rnosuid",        OPT_ATTR_SET,    MOUNT_ATTR_NOSUID },
	{ "rnosymfollow",   OPT_ATTR_SET,    MOUNT_ATTR_NOSYMFOLLOW },
	{ "ro",             OPT_FLAG_SET,    MS_RDONLY },
	{ "rprivate",       OPT_PROPAGATION, MS_PRIVATE | MS_REC },
	{ "rrelatime",      OPT_ATIME,       MOUNT_ATTR_RELATIME },
	{ "rro",            OPT_ATTR_SET,    MOUNT_ATTR_RDONLY },
	{ "rrw",            OPT_ATTR_CLR,    MOUNT_ATTR_RDONLY },
	{ "rshared",        OPT_PROPAGATION, MS_SHARED | MS_REC },
	{ "rslave",         OPT_PROPAGATION, MS_SLAVE | MS_REC },
	{ "rstrictatime",   OPT_ATIME,       MOUNT_ATTR_STRICTATIME },
	{ "rsuid",          OPT_ATTR_CLR,    MOUNT_ATTR_NOSUID },
	{ "rsymfollow",     OPT_ATTR_CLR,    MOUNT_ATTR_NOSYMFOLLOW },
	{ "runbindable",    OPT_PROPAGATION, MS_UNBINDABLE | MS_REC },
	{ "rw",             OPT_FLAG_CLR,    MS_RDONLY },
	{ "shared",         OPT_PROPAGATION, MS_SHARED },
	{ "silent",         OPT_FLAG_SET,    MS_SILENT },
	{ "slave",          OPT_PROPAGATION, MS_SLAVE },
	{ "strictatime",    OPT_FLAG_SET,    MS_STRICTATIME },
	{ "suid",           OPT_FLAG_CLR,    MS_NOSUID },
	{ "symfollow",      OPT_FLAG_CLR,    MS_NOSYMFOLLOW },
	{ "sync",           OPT_FLAG_SET,    MS_SYNCHRONOUS },
	{ "tmpcopyup",      OPT_TMPCOPYUP,   0 },
	{ "unbindable",     OPT_PROPAGATION, MS_UNBINDABLE },
};

static const char *const option_names[] = {
	"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
	"idmap", "iversion", "lazytime", "loud", "mand", "noatime", "nodev",
	"nodiratime", "noexec", "noiversion", "nolazytime", "nomand", "norelatime",
	"nostrictatime", "nosuid", "nosymfollow", "private", "ratime", "rbind",
	"rdev", "rdiratime", "relatime", "remount", "rexec", "ridmap", "rnoatime",
	"rnodev", "rnodiratime", "rnoexec", "rnorelatime", "rnostrictatime",
	"rnosuid", "rnosymfollow", "ro", "rprivate", "rrelatime", "rro", "rrw",
	"rshared", "rslave", "rstrictatime", "rsuid", "rsymfollow", "runbindable",
	"rw", "shared", "silent", "slave", "strictatime", "suid", "symfollow",
	"sync", "tmpcopyup", "unbindable",
};

_Static_assert(ARRAY_SIZE(option_names) == ARRAY_SIZE(opts_table),
	       "option_names must list every opts_table entry");

static int cmp_opt(const void *key, const void *elem)
{
	return strcmp(key, ((const struct mount_opt *) elem)->name);
}

static const struct mount_opt *lookup(const char *name)
{
	return bsearch(name, opts_table, ARRAY_SIZE(opts_table), sizeof(opts_table[0]), cmp_opt);
}

const char *const *spec_mount_option_names(size_t *n)
{
	if (n)
		*n = ARRAY_SIZE(option_names);
	return option_names;
}

int spec_propagation_parse(const char *s, unsigned long *flags)
{
	const struct mount_opt *o = s ? lookup(s) : NULL;
	if (!o || o->kind != OPT_PROPAGATION)
		return -EINVAL;
	*flags = (unsigned long) o->value;
	return 0;
}

/* Append one filesystem option to the comma-joined data string. */
static int data_append(char **data, size_t *len, const char *opt)
{
	size_t olen = strlen(opt);
	size_t need = *len + (*len ? 1 : 0) + olen + 1;
	char *p = realloc(*data, need);
	if (!p)
		return -ENOMEM;
	if (*len)
		p[(*len)++] = ',';
	memcpy(p + *len, opt, olen + 1);
	*len += olen;
	*data = p;
	return 0;
}

int spec_mount_options_decode(char **opts, size_t n, struct spec_mount *m, const char *path,
			      struct berth_error *err)
{
	unsigned long flags = 0, clear_flags = 0, propagation = 0;
	uint64_t attr_set = 0, attr_clr = 0;
	bool bind = false, rbind = false, idmap = false, ridmap = false, tmpcopyup = false;
	_cleanup_free_ char *data = NULL;
	size_t data_len = 0;

	for (size_t i = 0; i < n; i++) {
		const char *s = opts[i];
		/* mount(8) skips empty items of "a,,b"; an empty string is the same. */
		if (!s || !*s)
			continue;
		const struct mount_opt *o = lookup(s);
		if (!o) {
			if (data_append(&data, &data_len, s) < 0)
				return berth_errno(err, ENOMEM, "%s.options[%zu]", path ? path : "mount", i);
			continue;
		}
		switch (o->kind) {
		case OPT_NOOP:
			break;
		case OPT_FLAG_SET:
			flags |= o->value;
			clear_flags &= ~o->value;
			break;
		case OPT_FLAG_CLR:
			clear_flags |= o->value;
			flags &= ~o->value;
			break;
		case OPT_PROPAGATION:
			propagation = o->value;
			break;
		case OPT_ATTR_SET:
			attr_set |= o->value;
			attr_clr &= ~o->value;
			break;
		case OPT_ATTR_CLR:
			attr_clr |= o->value;
			attr_set &= ~o->value;
			break;
		case OPT_ATIME:
			attr_clr |= MOUNT_ATTR__ATIME;
			attr_set = (attr_set & ~(uint64_t) MOUNT_ATTR__ATIME) | o->value;
			break;
		case OPT_BIND:
			bind = true;
			break;
		case OPT_RBIND:
			bind = true;
			rbind = true;
			break;
		case OPT_IDMAP:
			idmap = true;
			break;
		case OPT_RIDMAP:
			ridmap = true;
			break;
		case OPT_TMPCOPYUP:
			tmpcopyup = true;
			break;
		}
	}

	if (bind)
		flags |= MS_BIND | (rbind ? MS_REC : 0);

	free(m->data);
	m->data = steal_ptr(data);
	m->flags = flags;
	m->clear_flags = clear_flags;
	m->propagation = propagation;
	m->attr_set = attr_set;
	m->attr_clr = attr_clr;
	m->bind = bind;
	m->recursive_bind = rbind;
	m->idmap = idmap;
	m->ridmap = ridmap;
	m->tmpcopyup = tmpcopyup;
	return 0;
}
