/* features: spec/features.c describes what the parser accepts; what this
 * kernel lets the seccomp loader use is only known to linux/seccomp, so the
 * "supportedFlags" list is filled in here. */
#include "cli.h"
#include "linux/seccomp.h"
#include "spec/features.h"
#include "spec/seccomp.h"

#include <stdio.h>
#include <stdlib.h>

static void fill_seccomp_support(json_t *root)
{
	json_t *sc = json_object_get(json_object_get(root, "linux"), "seccomp");
	if (!json_is_object(sc))
		return;
	json_object_set_new(sc, "enabled", json_boolean(linux_seccomp_kernel_supported()));
	json_t *supported = json_array();
	static const enum spec_seccomp_flag flags[] = {
		SPEC_SECCOMP_FLAG_TSYNC, SPEC_SECCOMP_FLAG_LOG, SPEC_SECCOMP_FLAG_SPEC_ALLOW,
		SPEC_SECCOMP_FLAG_WAIT_KILLABLE_RECV,
	};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (linux_seccomp_flag_supported(flags[i]))
			json_array_append_new(supported, json_string(spec_seccomp_flag_name(flags[i])));
	json_object_set_new(sc, "supportedFlags", supported);
}

int cmd_features(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { 0 } };
	if (cli_getopt(argc, argv, "+", opts, "features") != -1)
		return 1;
	if (optind < argc)
		return cli_usage_error("features", "takes no arguments");
	char *text = spec_features_json();
	if (!text)
		return 1;
	json_error_t je;
	json_t *root = json_loads(text, JSON_PRESERVE_ORDER, &je);
	free(text);
	if (!root)
		return 1;
	fill_seccomp_support(root);
	json_dumpf(root, stdout, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(root);
	return 0;
}
