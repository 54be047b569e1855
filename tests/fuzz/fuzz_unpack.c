/* libFuzzer target: layer tar streams (image_unpack), the bytes an image
 * registry hands us.  Besides crashes it aborts when anything appears next
 * to the layer directory, i.e. when an entry escaped it. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/log.h"
#include "image/unpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_only_layer(const char *parent)
{
	DIR *d = opendir(parent);
	if (!d)
		abort();
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "layer"))
			abort();
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	berth_log_set_stderr(false);
	char parent[] = "/tmp/berth-fuzz-unpack.XXXXXX";
	if (!mkdtemp(parent))
		return 0;
	char layer[PATH_MAX];
	snprintf(layer, sizeof(layer), "%s/layer", parent);
	int in = memfd_create("layer.tar", MFD_CLOEXEC);
	if (mkdir(layer, 0755) == 0 && in >= 0 && berth_write_all(in, data, size) == 0 &&
	    lseek(in, 0, SEEK_SET) == 0) {
		int dfd = open(layer, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			struct unpack_opts opts = { .refuse_devices = true, .no_chown = size > 0 && (data[0] & 1) };
			struct unpack_stats st;
			struct berth_error err = { 0 };
			image_unpack(in, dfd, &opts, "fuzz", &st, &err);
			close(dfd);
		}
	}
	if (in >= 0)
		close(in);
	check_only_layer(parent);
	berth_rm_rf(parent);
	return 0;
}
