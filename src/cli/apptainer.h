/* ferry answering as `apptainer` / `singularity` (doc/apptainer.md): what
 * cmd_apptainer.c (dispatch, version, inspect, cache) and apptainer_*.c
 * (exec/run/shell, pull/build) share. Apptainer's options are translated
 * onto ferry's own commands and library; nothing of the runtime is
 * repeated here. */
#pragma once

#include <stdbool.h>

#include "base/err.h"

/* Apptainer's exit status for its own failures (a FATAL message, a
 * command-line error): 255. */
#define APPTAINER_EXIT_FATAL 255

/* The Apptainer release whose CLI this follows, as `--version` reports it
 * (clients compare it: Snakemake wants apptainer >= 1.0.0, cwltool >= 1.0
 * for SIF names and --home SRC:DST). ferry's own version follows a '+'. */
#define APPTAINER_COMPAT_VERSION "1.3.0"

/* The name ferry was called by ("apptainer" or "singularity"), for messages. */
extern const char *apptainer_prog;

/* Options in Go's pflag style: --long, --long=VALUE, --long VALUE, -s,
 * -sVALUE, -s VALUE, bundled boolean shorts (-ec); "--" ends them, and
 * so does the first argument that is not an option. */
struct ap_opt {
	const char *lng;
	char shrt;
	bool arg;
	int id;
};
struct ap_parser {
	int argc;
	char **argv;
	int i;            /* next argument; after the end: the first operand */
	int sub;          /* position in a bundle of short options */
	char name[80];    /* the option just read, as written ("--foo", "-x") */
	const char *val;  /* its value */
};
void ap_init(struct ap_parser *p, int argc, char **argv, int first);
/* The next option's id (> 0), 0 at the end of the options, -1 for an
 * option not in tab and -2 for one missing its value (p->name says which). */
int ap_next(struct ap_parser *p, const struct ap_opt *tab);

/* "ferry: option X is not supported by ferry's apptainer compatibility";
 * returns 255. */
int apptainer_unsupported(const char *opt);
/* Print one "ferry: ..." line; returns 255. */
int apptainer_fatal(const char *fmt, ...) FERR_PRINTF(1, 2);
/* The same from an error of the library. */
int apptainer_fail(const struct ferr *err);
/* A parser result < 0 as Apptainer reports it (255). */
int apptainer_bad_option(const struct ap_parser *p, int r);

/* An Apptainer image argument as ferry names it: docker://REF → REF (a
 * registry pull), oci:/oci-archive:/docker-archive: as they are, a path
 * that exists (SIF/squashfs file or sandbox directory) → its absolute
 * path. Other schemes (library://, shub://, oras://, instance://, http)
 * and missing paths fail with a one-line message (returns 255 in *rc). */
char *apptainer_image(const char *arg, bool *remote, int *rc);
/* APPTAINER_NOHTTPS / SINGULARITY_NOHTTPS (or --nohttps): plain HTTP and
 * unverified TLS for the registry. */
bool apptainer_env_nohttps(void);
/* Pull a remote image into ferry's store (insecure: plain HTTP allowed);
 * 0, or 255 after printing the error. */
int apptainer_store_pull(const char *ref, bool insecure);

int apptainer_action_main(const char *cmd, int argc, char **argv);
int apptainer_pull_main(int argc, char **argv);
int apptainer_build_main(int argc, char **argv);
