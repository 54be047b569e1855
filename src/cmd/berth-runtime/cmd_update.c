/* update: flags and/or -r FILE become one linux.resources JSON object, which
 * goes through the same validating parser as config.json. */
#include "cli.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "spec/resources.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	O_BLKIO = 1000, O_CPU_PERIOD, O_CPU_QUOTA, O_CPU_BURST, O_CPU_SHARES, O_RT_PERIOD, O_RT_RUNTIME,
	O_CPUS, O_MEMS, O_KMEM, O_KMEM_TCP, O_MEM, O_MEM_RES, O_SWAP, O_PIDS, O_L3, O_MEMBW,
};

/* "512m", "1g", "100000", "-1" -> bytes (binary units, like docker). */
static int parse_bytes(const char *s, long long *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s)
		return -EINVAL;
	long long mul = 1;
	if (*end) {
		switch (tolower((unsigned char) *end)) {
		case 'b': mul = 1; break;
		case 'k': mul = 1024LL; break;
		case 'm': mul = 1024LL * 1024; break;
		case 'g': mul = 1024LL * 1024 * 1024; break;
		case 't': mul = 1024LL * 1024 * 1024 * 1024; break;
		default: return -EINVAL;
		}
		end++;
		if (*end && tolower((unsigned char) *end) == 'i')
			end++;
		if (*end && tolower((unsigned char) *end) == 'b')
			end++;
		if (*end)
			return -EINVAL;
	}
	*out = (long long) (v * (double) mul);
	return 0;
}

static int parse_ll(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static json_t *sub(json_t *o, const char *k)
{
	json_t *c = json_object_get(o, k);
	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(o, k, c);
	}
	return c;
}

int cmd_update(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "resources", required_argument, NULL, 'r' },
		{ "blkio-weight", required_argument, NULL, O_BLKIO },
		{ "cpu-period", required_argument, NULL, O_CPU_PERIOD },
		{ "cpu-quota", required_argument, NULL, O_CPU_QUOTA },
		{ "cpu-burst", required_argument, NULL, O_CPU_BURST },
		{ "cpu-share", required_argument, NULL, O_CPU_SHARES },
		{ "cpu-shares", required_argument, NULL, O_CPU_SHARES },
		{ "cpu-rt-period", required_argument, NULL, O_RT_PERIOD },
		{ "cpu-rt-runtime", required_argument, NULL, O_RT_RUNTIME },
		{ "cpuset-cpus", required_argument, NULL, O_CPUS },
		{ "cpuset-mems", required_argument, NULL, O_MEMS },
		{ "kernel-memory", required_argument, NULL, O_KMEM },
		{ "kernel-memory-tcp", required_argument, NULL, O_KMEM_TCP },
		{ "memory", required_argument, NULL, O_MEM },
		{ "memory-reservation", required_argument, NULL, O_MEM_RES },
		{ "memory-swap", required_argument, NULL, O_SWAP },
		{ "pids-limit", required_argument, NULL, O_PIDS },
		{ "l3-cache-schema", required_argument, NULL, O_L3 },
		{ "mem-bw-schema", required_argument, NULL, O_MEMBW },
		{ 0 },
	};
	const char *file = NULL;
	_cleanup_json_t_ json_t *flags = json_object();
	int c;
	while ((c = cli_getopt(argc, argv, "+r:", opts, "update")) != -1) {
		long long v = 0;
		const char *name = NULL;
		json_t *target = NULL;
		const char *key = NULL;
		bool bytes = false, string = false;
		switch (c) {
		case 'r': file = optarg; continue;
		case O_BLKIO: name = "blkio-weight"; target = sub(flags, "blockIO"); key = "weight"; break;
		case O_CPU_PERIOD: name = "cpu-period"; target = sub(flags, "cpu"); key = "period"; break;
		case O_CPU_QUOTA: name = "cpu-quota"; target = sub(flags, "cpu"); key = "quota"; break;
		case O_CPU_BURST: name = "cpu-burst"; target = sub(flags, "cpu"); key = "burst"; break;
		case O_CPU_SHARES: name = "cpu-shares"; target = sub(flags, "cpu"); key = "shares"; break;
		case O_RT_PERIOD: name = "cpu-rt-period"; target = sub(flags, "cpu"); key = "realtimePeriod"; break;
		case O_RT_RUNTIME: name = "cpu-rt-runtime"; target = sub(flags, "cpu"); key = "realtimeRuntime"; break;
		case O_CPUS: target = sub(flags, "cpu"); key = "cpus"; string = true; break;
		case O_MEMS: target = sub(flags, "cpu"); key = "mems"; string = true; break;
		case O_KMEM: name = "kernel-memory"; target = sub(flags, "memory"); key = "kernel"; bytes = true; break;
		case O_KMEM_TCP: name = "kernel-memory-tcp"; target = sub(flags, "memory"); key = "kernelTCP"; bytes = true; break;
		case O_MEM: name = "memory"; target = sub(flags, "memory"); key = "limit"; bytes = true; break;
		case O_MEM_RES: name = "memory-reservation"; target = sub(flags, "memory"); key = "reservation"; bytes = true; break;
		case O_SWAP: name = "memory-swap"; target = sub(flags, "memory"); key = "swap"; bytes = true; break;
		case O_PIDS: name = "pids-limit"; target = sub(flags, "pids"); key = "limit"; break;
		case O_L3:
		case O_MEMBW:
			return cli_usage_error("update", "Intel RDT (resctrl) is not supported by berth-runtime");
		default:
			return 1;
		}
		if (string) {
			json_object_set_new(target, key, json_string(optarg));
			continue;
		}
		if ((bytes ? parse_bytes(optarg, &v) : parse_ll(optarg, &v)) < 0)
			return cli_usage_error("update", "--%s %s: not a valid %s", name, optarg,
					       bytes ? "size" : "number");
		json_object_set_new(target, key, json_integer(v));
	}
	const char *id = cli_one_id(argc, argv, "update");
	if (!id)
		return 1;
	struct berth_error err = { 0 };
	_cleanup_json_t_ json_t *res = NULL;
	if (file) {
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		int r = !strcmp(file, "-") ? berth_read_file("/dev/stdin", &text, &len) : berth_read_file(file, &text, &len);
		if (r < 0) {
			berth_errno(&err, -r, "--resources %s", file);
			return cli_fail("update", &err);
		}
		json_error_t je;
		res = json_loadb(text, len, 0, &je);
		if (!json_is_object(res)) {
			berth_err(&err, EINVAL, "--resources %s: line %d: %s", file, je.line,
				  res ? "must be a JSON object" : je.text);
			return cli_fail("update", &err);
		}
	} else {
		res = json_object();
	}
	/* Flags win over the file, field by field. */
	const char *k;
	json_t *v;
	json_object_foreach(flags, k, v) {
		json_t *dst = json_object_get(res, k);
		if (json_is_object(dst))
			json_object_update(dst, v);
		else
			json_object_set(res, k, v);
	}
	_cleanup_free_ char *text = json_dumps(res, JSON_COMPACT);
	struct spec_resources *parsed = NULL;
	if (spec_resources_parse_json(text, strlen(text), file ? file : "update flags", &parsed, &err) < 0)
		return cli_fail("update", &err);
	int r = rt_update(&cli->rt, id, parsed, &err);
	spec_resources_free(parsed);
	if (r < 0)
		return cli_fail("update", &err);
	return 0;
}
