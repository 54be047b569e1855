#include "linux/caps.h"
#include "core/log.h"
#include "spec/caps.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int linux_caps_last_cap(void)
{
	int cap = 0;
	/* PR_CAPBSET_READ says EINVAL exactly for numbers the kernel lacks. */
	while (cap < 63 && prctl(PR_CAPBSET_READ, (unsigned long) cap + 1, 0, 0, 0) >= 0)
		cap++;
	return cap;
}

static uint64_t known_mask(int last)
{
	return last >= 63 ? UINT64_MAX : ((uint64_t) 1 << (last + 1)) - 1;
}

static const char *cap_label(int cap, char *buf, size_t len)
{
	const char *name = spec_cap_name(cap);
	if (name)
		return name;
	snprintf(buf, len, "capability %d", cap);
	return buf;
}

static uint64_t usable(uint64_t mask, const char *set, int last)
{
	uint64_t unknown = mask & ~known_mask(last);
	for (int cap = 0; cap < 64; cap++) {
		if (!(unknown & ((uint64_t) 1 << cap)))
			continue;
		char buf[32];
		log_warn("process.capabilities.%s: %s is not supported by this kernel (cap_last_cap %d); skipped",
			 set, cap_label(cap, buf, sizeof(buf)), last);
	}
	return mask & known_mask(last);
}

int linux_caps_drop_bounding(const struct spec_capabilities *c, bool has, struct berth_error *err)
{
	int last = linux_caps_last_cap();
	uint64_t keep = has ? usable(c->bounding, "bounding", last) : 0;
	for (int cap = 0; cap <= last; cap++) {
		if (keep & ((uint64_t) 1 << cap))
			continue;
		int in = prctl(PR_CAPBSET_READ, (unsigned long) cap, 0, 0, 0);
		if (in == 0)
			continue;
		if (prctl(PR_CAPBSET_DROP, (unsigned long) cap, 0, 0, 0) < 0) {
			char buf[32];
			int e = errno;
			return berth_errno(err, e, "process.capabilities.bounding: dropping %s%s",
					   cap_label(cap, buf, sizeof(buf)),
					   e == EPERM ? " (needs CAP_SETPCAP)" : "");
		}
	}
	return 0;
}

static int cap_get(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2] = { 0 };
	if (syscall(SYS_capget, &hdr, d) < 0)
		return -errno;
	*eff = d[0].effective | (uint64_t) d[1].effective << 32;
	*prm = d[0].permitted | (uint64_t) d[1].permitted << 32;
	*inh = d[0].inheritable | (uint64_t) d[1].inheritable << 32;
	return 0;
}

static int first_bit(uint64_t m)
{
	return m ? __builtin_ctzll(m) : -1;
}

int linux_caps_apply(const struct spec_capabilities *c, bool has, struct berth_error *err)
{
	int last = linux_caps_last_cap();
	uint64_t eff = 0, prm = 0, inh = 0, amb = 0;
	if (has) {
		eff = usable(c->effective, "effective", last);
		prm = usable(c->permitted, "permitted", last);
		inh = usable(c->inheritable, "inheritable", last);
		amb = usable(c->ambient, "ambient", last);
	}
	char buf[32];
	/* Tell the user which capability is the problem rather than pass on a
	 * bare EPERM from capset. */
	uint64_t cur_eff = 0, cur_prm = 0, cur_inh = 0;
	if (cap_get(&cur_eff, &cur_prm, &cur_inh) < 0)
		return berth_errno(err, errno, "process.capabilities: capget");
	/* runtime-spec: capabilities that cannot be granted (the runtime runs
	 * without them, e.g. no CAP_SYS_RESOURCE here) MUST be logged as a
	 * warning and SHOULD NOT fail the container. */
	uint64_t missing = (prm | eff | amb) & ~cur_prm;
	for (int cap = first_bit(missing); cap >= 0; cap = first_bit(missing)) {
		log_warn("process.capabilities: %s is not held by the runtime on this host; the container "
			 "runs without it", cap_label(cap, buf, sizeof(buf)));
		missing &= ~((uint64_t) 1 << cap);
	}
	prm &= cur_prm;
	eff &= cur_prm;
	amb &= cur_prm;
	/* The kernel cannot grant these combinations either; the runtime-spec
	 * asks for a warning, not a failure (runc drops them silently). */
	uint64_t bnd = 0;
	for (int cap = 0; cap <= last; cap++)
		if (prctl(PR_CAPBSET_READ, (unsigned long) cap, 0, 0, 0) == 1)
			bnd |= (uint64_t) 1 << cap;
	struct {
		uint64_t *set;
		const char *what;
	} rules[] = {
		{ &eff, "process.capabilities.effective: %s is not in permitted; not granted" },
		{ &inh, "process.capabilities.inheritable: %s is not in the bounding set; not granted" },
		{ &amb, "process.capabilities.ambient: %s is not both permitted and inheritable; not raised" },
	};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		/* in order: ambient depends on the trimmed inheritable set */
		uint64_t allowed = i == 0 ? prm : i == 1 ? (cur_inh | bnd) : (prm & inh);
		uint64_t bad = *rules[i].set & ~allowed;
		for (int cap = first_bit(bad); cap >= 0; cap = first_bit(bad)) {
			log_warn(rules[i].what, cap_label(cap, buf, sizeof(buf)));
			bad &= ~((uint64_t) 1 << cap);
		}
		*rules[i].set &= allowed;
	}

	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2] = {
		{ .effective = (uint32_t) eff, .permitted = (uint32_t) prm, .inheritable = (uint32_t) inh },
		{ .effective = (uint32_t) (eff >> 32), .permitted = (uint32_t) (prm >> 32),
		  .inheritable = (uint32_t) (inh >> 32) },
	};
	if (syscall(SYS_capset, &hdr, d) < 0)
		return berth_errno(err, errno,
				   "process.capabilities: capset(effective 0x%" PRIx64 ", permitted 0x%" PRIx64
				   ", inheritable 0x%" PRIx64 ")", eff, prm, inh);

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
		/* Kernels before 4.3 have no ambient set: fine unless some were asked for. */
		if (errno != EINVAL || amb)
			return berth_errno(err, errno, "process.capabilities.ambient: clearing the ambient set");
	}
	for (int cap = 0; cap <= last; cap++) {
		if (!(amb & ((uint64_t) 1 << cap)))
			continue;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long) cap, 0, 0) < 0)
			return berth_errno(err, errno, "process.capabilities.ambient: raising %s",
					   cap_label(cap, buf, sizeof(buf)));
	}
	return 0;
}
