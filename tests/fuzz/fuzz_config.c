/* libFuzzer target: config.json, the runtime's main untrusted input
 * (spec_config_parse, including linux.resources and linux.seccomp). */
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "spec/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	berth_log_set_stderr(false);
	struct spec_config *cfg = NULL;
	struct berth_error err = { 0 };
	if (spec_config_parse((const char *) data, size, "fuzz.json", &cfg, &err) == 0)
		spec_config_free(cfg);
	return 0;
}
