#include "spec/features.h"
#include "core/json.h"

#include <jansson.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "core/cleanup.h"
#include "spec/caps.h"
#include "spec/config.h"
#include "spec/mountopts.h"

static const char *const namespaces[] = {
	"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
};

static const char *const seccomp_actions[] = {
	"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
	"SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
	"SCMP_ACT_TRAP",
};

static const char *const seccomp_operators[] = {
	"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
	"SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE",
};

/* OCI name -> libseccomp's name; only those the linked libseccomp resolves
 * are reported, since only those can appear in a loadable filter. */
static const struct { const char *oci, *scmp; } seccomp_archs[] = {
	{ "SCMP_ARCH_AARCH64", "aarch64" },
	{ "SCMP_ARCH_ARM", "arm" },
	{ "SCMP_ARCH_LOONGARCH64", "loongarch64" },
	{ "SCMP_ARCH_M68K", "m68k" },
	{ "SCMP_ARCH_MIPS", "mips" },
	{ "SCMP_ARCH_MIPS64", "mips64" },
	{ "SCMP_ARCH_MIPS64N32", "mips64n32" },
	{ "SCMP_ARCH_MIPSEL", "mipsel" },
	{ "SCMP_ARCH_MIPSEL64", "mipsel64" },
	{ "SCMP_ARCH_MIPSEL64N32", "mipsel64n32" },
	{ "SCMP_ARCH_PARISC", "parisc" },
	{ "SCMP_ARCH_PARISC64", "parisc64" },
	{ "SCMP_ARCH_PPC", "ppc" },
	{ "SCMP_ARCH_PPC64", "ppc64" },
	{ "SCMP_ARCH_PPC64LE", "ppc64le" },
	{ "SCMP_ARCH_RISCV64", "riscv64" },
	{ "SCMP_ARCH_S390", "s390" },
	{ "SCMP_ARCH_S390X", "s390x" },
	{ "SCMP_ARCH_SH", "sh" },
	{ "SCMP_ARCH_SHEB", "sheb" },
	{ "SCMP_ARCH_X32", "x32" },
	{ "SCMP_ARCH_X86", "x86" },
	{ "SCMP_ARCH_X86_64", "x86_64" },
};

/* Each flag with the libseccomp API level that can set it (seccomp_api_get(3)). */
static const struct { const char *name; unsigned api; bool built; } seccomp_flags[] = {
	{ "SECCOMP_FILTER_FLAG_TSYNC", 2, true },
	{ "SECCOMP_FILTER_FLAG_SPEC_ALLOW", 4, true },
	{ "SECCOMP_FILTER_FLAG_LOG", 3, true },
	/* Needs SCMP_FLTATR_CTL_WAITKILL, new in libseccomp 2.6. */
	{ "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 7,
	  SCMP_VER_MAJOR > 2 || (SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR >= 6) },
};


static json_t *enabled(bool on)
{
	return json_pack("{s:b}", "enabled", on);
}

static bool resctrl_mounted(void)
{
	struct statfs st;
	return statfs("/sys/fs/resctrl", &st) == 0 && st.f_type == RDTGROUP_SUPER_MAGIC;
}

static json_t *seccomp_json(void)
{
	json_t *archs = json_array(), *known = json_array(), *supported = json_array();
	unsigned api = seccomp_api_get();
	bool ok = archs && known && supported;

	for (size_t i = 0; ok && i < ARRAY_SIZE(seccomp_archs); i++)
		if (seccomp_arch_resolve_name(seccomp_archs[i].scmp) != 0)
			ok = json_array_append_new(archs, json_string(seccomp_archs[i].oci)) == 0;
	for (size_t i = 0; ok && i < ARRAY_SIZE(seccomp_flags); i++) {
		ok = json_array_append_new(known, json_string(seccomp_flags[i].name)) == 0;
		if (ok && seccomp_flags[i].built && api >= seccomp_flags[i].api)
			ok = json_array_append_new(supported, json_string(seccomp_flags[i].name)) == 0;
	}
	if (!ok) {
		json_decref(archs);
		json_decref(known);
		json_decref(supported);
		return NULL;
	}
	return json_pack("{s:b, s:o, s:o, s:o, s:o, s:o}",
			 "enabled", true,
			 "actions", berth_json_strv(seccomp_actions, ARRAY_SIZE(seccomp_actions)),
			 "operators", berth_json_strv(seccomp_operators, ARRAY_SIZE(seccomp_operators)),
			 "archs", archs,
			 "knownFlags", known,
			 "supportedFlags", supported);
}

static json_t *capabilities_json(void)
{
	json_t *a = json_array();
	int last = spec_cap_last_cap();
	for (int cap = 0; a && cap <= last && spec_cap_name(cap); cap++)
		if (json_array_append_new(a, json_string(spec_cap_name(cap))) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

char *spec_features_json(void)
{
	const char *hooks[SPEC_HOOK__MAX];
	for (int k = 0; k < SPEC_HOOK__MAX; k++)
		hooks[k] = spec_hook_kind_name(k);
	size_t n_opts;
	const char *const *opts = spec_mount_option_names(&n_opts);

	char libseccomp_version[32];
	const struct scmp_version *v = seccomp_version();
	snprintf(libseccomp_version, sizeof(libseccomp_version), "%u.%u.%u",
		 v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0);

	/* json_pack's "o" steals references and fails cleanly on a NULL
	 * argument, so an allocation failure anywhere yields NULL overall. */
	json_t *linux_ = json_pack("{s:o, s:o, s:{s:b, s:b, s:b, s:b, s:b}, s:o, s:o, s:o, s:o, s:{s:o}}",
		"namespaces", berth_json_strv(namespaces, ARRAY_SIZE(namespaces)),
		"capabilities", capabilities_json(),
		"cgroup", "v1", true, "v2", true, "systemd", false, "systemdUser", false, "rdma", false,
		"seccomp", seccomp_json(),
		"apparmor", enabled(access("/sys/kernel/security/apparmor", F_OK) == 0),
		"selinux", enabled(access("/sys/fs/selinux/enforce", F_OK) == 0),
		"intelRdt", enabled(resctrl_mounted()),
		"mountExtensions", "idmap", enabled(true));
	json_t *root = json_pack("{s:s, s:s, s:o, s:o, s:o, s:{s:s, s:s, s:s}}",
		"ociVersionMin", "1.0.0",
		"ociVersionMax", "1.2.0",
		"hooks", berth_json_strv(hooks, SPEC_HOOK__MAX),
		"mountOptions", berth_json_strv(opts, n_opts),
		"linux", linux_,
		"annotations",
		"io.github.berth.version", BERTH_VERSION,
		"io.github.seccomp.libseccomp.version", libseccomp_version,
		"org.opencontainers.runc.checkpoint.enabled", "false");
	if (!root)
		return NULL;
	char *out = json_dumps(root, JSON_INDENT(4));
	json_decref(root);
	return out;
}
