/* ferry: carry containerised scientific applications anywhere, run them
 * without root. This file only dispatches; the work is in libferry. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/cli.h"

bool cli_json;

static int cmd_help_main(int argc, char **argv);
static int cmd_version_main(int argc, char **argv);

static const struct cli_command cmd_help = {
	"help", "show help for ferry or one command",
	"Usage: ferry help [COMMAND]\n\nShow the list of commands, or the help of COMMAND.\n",
	cmd_help_main,
};
static const struct cli_command cmd_version = {
	"version", "print ferry's version", "Usage: ferry version\n", cmd_version_main,
};

static const struct cli_command *const commands[] = {
	&cmd_pull, &cmd_images, &cmd_inspect, &cmd_rm, &cmd_prune, &cmd_login, &cmd_logout,
	&cmd_run, &cmd_exec, &cmd_shell, &cmd_check,
	&cmd_app,
	&cmd_wrap, &cmd_catalog,
	&cmd_deploy,
	&cmd_serve,
	&cmd_batch,
	&cmd_export, &cmd_import,
	&cmd_apptainer,
	&cmd_help, &cmd_version,
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const char global_usage[] =
	"Usage: ferry [-q|-v|-vv] [--json] COMMAND [ARGS...]\n"
	"       ferry --version | --help\n"
	"\n"
	"Carry containerised scientific applications to any Linux machine and run\n"
	"them without root.\n"
	"\n"
	"Options:\n"
	"  -q, --quiet     print errors only\n"
	"  -v, --verbose   say more (-vv: debug)\n"
	"  --json          machine-readable output (listing and inspect commands)\n"
	"  -h, --help      show this help\n"
	"  --version       print the version\n"
	"\n"
	"Commands:\n";

const struct cli_command *cli_find(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

bool cli_is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ferry: ", stderr);
	if (cmd)
		fprintf(stderr, "%s: ", cmd);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'ferry %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
	return EXIT_USAGE;
}

int cli_fail(const struct ferr *err, int code)
{
	char buf[FERR_MSG_MAX + 600];
	fprintf(stderr, "ferry: %s\n", ferr_str(err, buf, sizeof buf));
	log_reprint_warnings();
	return code;
}

int cli_help(const struct cli_command *cmd)
{
	fputs(cmd->usage, stdout);
	return EXIT_OK;
}

static void print_global_usage(FILE *f)
{
	fputs(global_usage, f);
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fputs("\nRun 'ferry help COMMAND' for a command's options.\n", f);
}

/* Edit distance, for "did you mean" on a mistyped command name. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 32 || lb > 32)
		return (size_t)-1;
	size_t row[33];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static int unknown_command(const char *name)
{
	const struct cli_command *best = NULL;
	size_t best_d = 3; /* suggest only close names */
	for (size_t i = 0; i < N_COMMANDS; i++) {
		size_t d = distance(name, commands[i]->name);
		if (d < best_d) {
			best_d = d;
			best = commands[i];
		}
	}
	if (best)
		return cli_usage_error(NULL, "unknown command '%s' (did you mean '%s'?)", name, best->name);
	return cli_usage_error(NULL, "unknown command '%s'", name);
}

/* Output that could not be written (a full disk, a closed pipe) is an
 * error, not a silent success. */
static int check_stdout(int rc)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return rc;
	if (errno == EPIPE)
		return rc;
	fprintf(stderr, "ferry: write error: %s\n", strerror(errno ? errno : EIO));
	return rc ? rc : EXIT_ERR;
}

static int cmd_help_main(int argc, char **argv)
{
	if (argc < 2) {
		print_global_usage(stdout);
		return EXIT_OK;
	}
	if (argc > 2)
		return cli_usage_error("help", "too many arguments");
	if (cli_is_help(argv[1]))
		return cli_help(&cmd_help);
	const struct cli_command *c = cli_find(argv[1]);
	if (!c)
		return cli_usage_error("help", "unknown command '%s'", argv[1]);
	return cli_help(c);
}

static int cmd_version_main(int argc, char **argv)
{
	if (argc > 1 && cli_is_help(argv[1]))
		return cli_help(&cmd_version);
	printf("ferry %s\n", FERRY_VERSION);
	return EXIT_OK;
}

static int run(int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
			log_level = LOG_QUIET;
		else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
			log_level = log_level < LOG_INFO ? LOG_INFO : LOG_DEBUG;
		else if (!strcmp(a, "-vv"))
			log_level = LOG_DEBUG;
		else if (!strcmp(a, "--json"))
			cli_json = true;
		else if (cli_is_help(a)) {
			print_global_usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "--version"))
			return cmd_version_main(1, argv);
		else
			return cli_usage_error(NULL, "unknown option '%s'", a);
	}
	if (i >= argc) {
		print_global_usage(stderr);
		return EXIT_USAGE;
	}
	const struct cli_command *c = cli_find(argv[i]);
	if (!c)
		return unknown_command(argv[i]);
	/* `ferry CMD --help` works the same for every command. */
	if (argc - i == 2 && cli_is_help(argv[i + 1]))
		return cli_help(c);
	return c->main(argc - i, argv + i);
}

int main(int argc, char **argv)
{
	/* Called by any name but ferry*: a shim of ferry wrap (doc/wrap.md),
	 * except as apptainer or singularity (doc/apptainer.md). */
	const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;
	base = base ? base + 1 : argc > 0 ? argv[0] : "ferry";
	if (!strcmp(base, "apptainer") || !strcmp(base, "singularity"))
		return check_stdout(cli_apptainer_main(argc, argv));
	if (strncmp(base, "ferry", 5))
		return check_stdout(cli_shim_main(argc, argv));
	return check_stdout(run(argc, argv));
}
