/* runflags.h — docker's run/create flags, parsed into struct ctr_opts.
 *
 * Promises: every flag `berth run` documents is parsed and checked here as
 * docker's CLI checks it (sizes with binary units, --cpus as a rational
 * number, -v/--mount/--tmpfs forms, --restart and --log-opt syntax), so that
 * a bad value is a usage error (exit 125, one line naming the flag and the
 * value) before anything is created.  Parsing stops at the first argument
 * that is not a flag (the image); what follows is the container's command.
 * Side effect: like docker, a missing host directory of a `-v /host:/ctr`
 * bind is created (only once every flag parsed fine).
 */
#ifndef BERTH_CLI_RUNFLAGS_H
#define BERTH_CLI_RUNFLAGS_H

#include "cli.h"
#include "engine/options.h"

/* Parse argv (argv[0] = the command name) into *o (zeroed by the caller).
 * Returns 0 with o->image and o->args set; CLI_OPT_HELP after printing the
 * help; CLI_EXIT_USAGE after printing the problem.  `create` refuses -d. */
int runflags_parse(struct cli *cli, int argc, char **argv, bool is_run, struct ctr_opts *o);

/* docker's RAMInBytes: "512m", "1g", "1.5GiB", "100k", "4096" (binary units). -EINVAL */
int runflags_parse_size(const char *s, int64_t *out);

/* The options block shared by run's and create's help. */
extern const char runflags_help[];

#endif
