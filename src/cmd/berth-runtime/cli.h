/* cli.h — shared pieces of the berth-runtime command line.
 *
 * Promises: every command parses its flags the way runc's does (long flags
 * with one or two dashes, --flag=value or --flag value), prints one clear
 * line on error, and returns the process exit status.
 */
#ifndef BERTH_RUNTIME_CLI_H
#define BERTH_RUNTIME_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "core/error.h"
#include "runtime/container.h"

static inline void cli_json_decrefp(json_t **j) { if (*j) json_decref(*j); }
#define _cleanup_json_t_ __attribute__((cleanup(cli_json_decrefp)))

struct cli {
	struct rt_context rt;
	const char *argv0;
};

typedef int (*cli_cmd_fn)(struct cli *cli, int argc, char **argv);

int cmd_spec(struct cli *, int, char **);
int cmd_create(struct cli *, int, char **);
int cmd_start(struct cli *, int, char **);
int cmd_run(struct cli *, int, char **);
int cmd_state(struct cli *, int, char **);
int cmd_kill(struct cli *, int, char **);
int cmd_delete(struct cli *, int, char **);
int cmd_list(struct cli *, int, char **);
int cmd_features(struct cli *, int, char **);
int cmd_exec(struct cli *, int, char **);
int cmd_ps(struct cli *, int, char **);
int cmd_pause(struct cli *, int, char **);
int cmd_resume(struct cli *, int, char **);
int cmd_update(struct cli *, int, char **);
int cmd_events(struct cli *, int, char **);

/* Print "berth-runtime <cmd>: <msg>" (and log it), return 1. */
int cli_fail(const char *cmd, const struct berth_error *err);
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse flags with getopt_long_only; on an unknown flag prints usage line. */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
	       const char *cmd);
/* Require exactly one positional ID at argv[optind]. */
const char *cli_one_id(int argc, char **argv, const char *cmd);
int cli_parse_int(const char *s, int *out);
/* Make a process-spawning command run from a sealed copy of the binary. */
int cli_seal_self(char **argv);
extern char **cli_saved_argv;

#endif
