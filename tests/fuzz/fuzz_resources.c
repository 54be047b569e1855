/* libFuzzer target: the resources.json of `update -r`. */
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "spec/resources.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	berth_log_set_stderr(false);
	struct spec_resources *r = NULL;
	struct berth_error err = { 0 };
	if (spec_resources_parse_json((const char *) data, size, "fuzz.json", &r, &err) == 0)
		spec_resources_free(r);
	return 0;
}
