/* libFuzzer target: the process.json of `exec --process`. */
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "spec/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	berth_log_set_stderr(false);
	struct spec_process *p = NULL;
	struct berth_error err = { 0 };
	if (spec_process_parse_json((const char *) data, size, "fuzz.json", &p, &err) == 0)
		spec_process_free(p);
	return 0;
}
