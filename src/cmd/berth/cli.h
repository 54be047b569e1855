/* cli.h — shared pieces of the berth engine command line.
 *
 * Promises: every command parses its flags the way docker's CLI does (short
 * flags after one dash, long flags after two, --flag=value or --flag value,
 * flags and arguments in any order, "--" ends the flags), answers --help with
 * its usage, and returns the process exit status: 0 on success, 1 when the
 * operation failed (one "Error: <message>" line on stderr), 125 when the
 * command line itself was wrong (one line naming the problem and a hint
 * pointing at the command's --help).  Output meant for scripts (IDs, JSON)
 * goes to stdout, everything else to stderr.
 */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "core/error.h"
#include "image/pull.h"
#include "image/registry.h"
#include "image/store.h"

#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 125

static inline void cli_json_decrefp(json_t **j) { if (*j) json_decref(*j); }
#define _cleanup_json_t_ __attribute__((cleanup(cli_json_decrefp)))

struct cli;
typedef int (*cli_cmd_fn)(struct cli *cli, int argc, char **argv);

struct cli_command {
	const char *group;        /* NULL for top-level commands, "image" for `berth image ...` */
	const char *name;
	const char *alias;        /* second accepted name ("list" for "ls"), or NULL */
	cli_cmd_fn fn;
	const char *usage;        /* after "berth <name> " */
	const char *summary;      /* one line */
	const char *options;      /* the Options: block, lines ending in '\n', or NULL */
};

struct cli {
	const char *root;         /* --root, or NULL for $BERTH_ROOT / the default */
	bool tls_verify;          /* global default for registry operations */
	const struct cli_command *cmd;   /* the command being run (for help and hints) */
	struct image_store *store;       /* opened on first use by cli_store() */
};

/* Commands (one file per group). */
int cmd_images(struct cli *, int, char **);
int cmd_tag(struct cli *, int, char **);
int cmd_rmi(struct cli *, int, char **);
int cmd_image_inspect(struct cli *, int, char **);
int cmd_image_prune(struct cli *, int, char **);
int cmd_pull(struct cli *, int, char **);
int cmd_push(struct cli *, int, char **);
int cmd_login(struct cli *, int, char **);
int cmd_logout(struct cli *, int, char **);
int cmd_save(struct cli *, int, char **);
int cmd_load(struct cli *, int, char **);
int cmd_import(struct cli *, int, char **);
/* container.c */
int cmd_run(struct cli *, int, char **);
int cmd_create(struct cli *, int, char **);
int cmd_start(struct cli *, int, char **);
int cmd_stop(struct cli *, int, char **);
int cmd_restart(struct cli *, int, char **);
int cmd_kill(struct cli *, int, char **);
int cmd_rm(struct cli *, int, char **);
int cmd_ps(struct cli *, int, char **);
int cmd_logs(struct cli *, int, char **);
int cmd_wait(struct cli *, int, char **);
int cmd_attach(struct cli *, int, char **);
int cmd_inspect(struct cli *, int, char **);
int cmd_container_inspect(struct cli *, int, char **);
int cmd_pause(struct cli *, int, char **);
int cmd_unpause(struct cli *, int, char **);
int cmd_exec(struct cli *, int, char **);
int cmd_container_cleanup(struct cli *, int, char **);
/* transfer.c */
int cmd_cp(struct cli *, int, char **);
int cmd_export(struct cli *, int, char **);
int cmd_commit(struct cli *, int, char **);
/* system.c */
int cmd_top(struct cli *, int, char **);
int cmd_stats(struct cli *, int, char **);
int cmd_rename(struct cli *, int, char **);
int cmd_port(struct cli *, int, char **);
int cmd_container_prune(struct cli *, int, char **);
int cmd_system_df(struct cli *, int, char **);
int cmd_system_prune(struct cli *, int, char **);
int cmd_info(struct cli *, int, char **);
/* volume.c */
int cmd_volume_create(struct cli *, int, char **);
int cmd_volume_ls(struct cli *, int, char **);
int cmd_volume_inspect(struct cli *, int, char **);
int cmd_volume_rm(struct cli *, int, char **);
int cmd_volume_prune(struct cli *, int, char **);

/* "berth image ls" / "berth pull": the command as a user types it. */
const char *cli_cmd_path(const struct cli *cli, char *buf, size_t len);
/* Print the command's help (usage, summary, options) to f. */
void cli_print_help(const struct cli_command *cmd, FILE *f);

/* "Error: <msg>" on stderr (and the log); returns CLI_EXIT_FAIL. */
int cli_fail(const struct berth_error *err);
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "berth: <msg>" + "See 'berth <cmd> --help'." on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Exactly / at least / at most n positional arguments after optind, as docker words it. */
int cli_args_exact(const struct cli *cli, int argc, int n);
int cli_args_min(const struct cli *cli, int argc, int n);
int cli_args_range(const struct cli *cli, int argc, int min, int max);

/* getopt_long over the command's flags.  -h/--help is handled here (add
 * { "help", no_argument, NULL, 'h' } and 'h' to shortopts): help is
 * printed and CLI_OPT_HELP returned.  An unknown flag or a missing value is
 * reported and CLI_OPT_ERROR returned.  cli_opt_exit() maps both to the exit
 * status the command must return. */
#define CLI_OPT_HELP (-100)
#define CLI_OPT_ERROR (-101)
int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts, const struct option *longopts);
/* The same for commands whose flags stop at the first argument (exec CTR CMD...,
 * top CTR PS-ARGS...): what follows belongs to the command being run. */
int cli_getopt_stop(struct cli *cli, int argc, char **argv, const char *shortopts, const struct option *longopts);
/* Long options of a command that takes only --help (shortopts "h"). */
extern const struct option cli_help_only[];
static inline int cli_opt_exit(int c) { return c == CLI_OPT_HELP ? 0 : CLI_EXIT_USAGE; }
/* Report what getopt_long (with a leading ':' in shortopts) returned for a bad
 * flag, c = '?' or ':'; returns CLI_EXIT_USAGE. */
int cli_opt_error(const struct cli *cli, int c, char **argv);
/* Value of a boolean flag as pflag takes it: no value = true; 1/0, t/f, true/false (any case). */
int cli_parse_bool(const char *flag, const char *value, bool *out, const struct cli *cli);

/* --format VALUE of a listing: "table" or "" -> *json = false, "json" or "{{json .}}" ->
 * *json = true; anything else is reported and CLI_EXIT_USAGE returned. */
int cli_parse_format(const struct cli *cli, const char *value, bool *json);

/* The end of an inspect command, as docker does it: arr (if not NULL) printed as an
 * indented JSON array, then one error line per name not found; returns the exit status. */
int cli_inspect_done(json_t *arr, const struct berth_error *errs, size_t n_errs);

/* --output FILE written whole or not at all: cli_out_open makes a temp file in
 * FILE's directory (fd), cli_out_commit syncs it and renames it to FILE (and syncs
 * the directory), cli_out_close closes it and removes what was not committed. */
struct cli_out {
	const char *path;
	char dir[PATH_MAX];
	char tmp[PATH_MAX];        /* named temp file (linked O_TMPFILE or mkostemp) */
	bool named;
	int fd;
};
int cli_out_open(struct cli_out *o, const char *path, struct berth_error *err);
int cli_out_commit(struct cli_out *o, struct berth_error *err);
void cli_out_close(struct cli_out *o);

/* The image store, opened on first use (closed by main). */
int cli_store(struct cli *cli, struct image_store **out, struct berth_error *err);

/* --creds USER[:PASS] split into *user and *pass (malloc'd, the caller frees); a missing
 * PASS is prompted for on a terminal. */
int cli_creds(const char *creds, char **user, char **pass, struct berth_error *err);

/* Sizes as docker prints them: decimal units, `precision` significant digits
 * ("4.26MB" with 3, "12.35MB" with 4). */
void cli_human_size(int64_t bytes, int precision, char *buf, size_t len);
/* docker's HumanDuration: "Less than a second", "About a minute", "3 weeks" */
void cli_human_duration(int64_t seconds, char *buf, size_t len);
/* RFC 3339 ("2023-05-19T20:19:24.123456789+02:00") -> unix time; -EINVAL */
int cli_parse_time(const char *s, time_t *out);
/* "3 weeks ago", or "N/A" when created is unknown */
void cli_since(const char *created, time_t now, char *buf, size_t len);
/* "2023-05-19 22:19:24 +0200 CEST" (local time, Go's time.String), or "N/A" */
void cli_created_at(const char *created, char *buf, size_t len);

/* A table printed as docker's tabwriter does: columns padded to the widest
 * cell plus 3 spaces (at least 10 wide), the last column unpadded. */
struct cli_table {
	size_t ncols, nrows, cap;
	char **cells;             /* nrows * ncols, row-major; row 0 is the header */
};
int cli_table_init(struct cli_table *t, size_t ncols, const char *const *header);
/* Copies the ncols strings. */
int cli_table_add(struct cli_table *t, const char *const *row);
void cli_table_print(const struct cli_table *t, FILE *f);
void cli_table_clear(struct cli_table *t);

/* Split a familiar name "host:5000/app:1" into repo "host:5000/app" and tag "1"
 * (tag "<none>" when absent).  Returns 0 or -ENOMEM. */
int cli_split_name(const char *familiar, char **repo, char **tag);

/* true when the reference as typed names a tag or digest ("busybox:1", "x@sha256:..",
 * "host:5000/x:y"); false when docker would add the default tag ("host:5000/x"). */
bool cli_ref_explicit(const char *ref);

/* Terminal prompts (on stderr, reading stdin).  cli_prompt_line trims the newline;
 * cli_prompt_secret turns echo off.  -ENOTTY when stdin is not a terminal, -EIO on EOF. */
int cli_prompt_line(const char *prompt, char **out);
int cli_prompt_secret(const char *prompt, char **out);
/* "[y/N]" question; true only on y/yes. */
bool cli_confirm(const char *question);

/* Progress rendering for pull and push (pull.c) */
struct cli_progress;
int cli_progress_new(bool push, bool tty, struct cli_progress **out);
const struct pull_progress *cli_progress_callbacks(struct cli_progress *p);
/* Final redraw; leaves the cursor below the last line. */
void cli_progress_finish(struct cli_progress *p);
void cli_progress_free(struct cli_progress *p);

#endif
