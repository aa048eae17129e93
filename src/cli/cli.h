/* The command-line layer: parse options, call libferry, print, exit code.
 * Each subcommand lives in its own cmd_*.c and exports a struct cli_command. */
#pragma once

#include <stdbool.h>

#include "base/err.h"
#include "base/progress.h"
#include "image/image.h"

/* Exit codes (DESIGN.md): the command's own status for run/exec/app launch;
 * 125 when ferry fails before the command starts. */
enum {
	EXIT_OK = 0,
	EXIT_ERR = 1,
	EXIT_USAGE = 2,
	EXIT_PRESTART = 125,
	EXIT_NOEXEC = 126,
	EXIT_NOTFOUND = 127,
};

struct cli_command {
	const char *name;
	const char *summary; /* one line for `ferry help` */
	const char *usage;   /* full text for `ferry help CMD` / `ferry CMD --help` */
	int (*main)(int argc, char **argv); /* argv[0] is the command name */
};

/* Print "ferry: CMD: message" and "Try 'ferry CMD --help'." on stderr; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) FERR_PRINTF(2, 3);
/* Print the error as one line "ferry: message (hint)"; returns `code`. */
int cli_fail(const struct ferr *err, int code);
/* Print a command's usage text to stdout; returns 0. */
int cli_help(const struct cli_command *cmd);
/* Look a command up by name. */
const struct cli_command *cli_find(const char *name);
/* True if arg is -h or --help. */
bool cli_is_help(const char *arg);
/* The progress bar and notes of a pull (cmd_pull.c): `ferry pull` and the
 * pull `ferry exec` makes of an image not yet stored draw the same. */
struct cli_pull_bar {
	struct progress p;
	bool drawing;
	uint64_t shown;
	struct pull_events events; /* hand &events to the library */
};
void cli_pull_bar_init(struct cli_pull_bar *b);
/* "1.2 MB" (powers of 1000), as the listings print sizes. */
void cli_human_size(uint64_t bytes, char *buf, size_t n);

/* Shared --json flag state for listing and inspect commands. */
extern bool cli_json;

extern const struct cli_command cmd_pull, cmd_images, cmd_inspect, cmd_rm, cmd_prune, cmd_login,
	cmd_logout;
extern const struct cli_command cmd_run, cmd_exec, cmd_shell, cmd_check;
extern const struct cli_command cmd_app;
extern const struct cli_command cmd_wrap, cmd_catalog;
extern const struct cli_command cmd_deploy;
extern const struct cli_command cmd_serve;
extern const struct cli_command cmd_batch;
extern const struct cli_command cmd_export, cmd_import; /* cmd_export.c */
/* `ferry inspect FILE` (cmd_export.c): is arg a file, and show it. */
bool cli_inspect_is_file(const char *arg);
int cli_inspect_file(const char *file, bool json);
/* ferry as apptainer/singularity (cmd_apptainer.c, doc/apptainer.md). */
extern const struct cli_command cmd_apptainer;
int cli_apptainer_main(int argc, char **argv);
/* A shim (ferry run under another name, cmd_wrap.c). */
int cli_shim_main(int argc, char **argv);
