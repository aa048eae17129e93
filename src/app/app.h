/* Boutiques: descriptors validated, invocations checked, command lines built
 * exactly as bosh 0.5.33 builds them, tools launched, provenance recorded.
 * doc/app.md says where ferry follows bosh and where it deliberately does
 * not; reference/boutiques.md (shared) describes bosh itself.
 *
 * Descriptors and invocations are jansson objects: the format is JSON and
 * bosh's semantics are defined on the JSON values (Python's str() of them),
 * so ferry keeps them as they are instead of copying them into structs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <jansson.h>

#include "base/err.h"

/* One validation problem: where (a JSON path such as "inputs[3].value-key",
 * "" for the top level) and what. `msg` is bosh's message verbatim, alignment
 * padding included ("   KeyError: ..."), so scripts written against bosh's
 * output keep matching; cli/ trims the padding when it prints. */
struct app_problem {
	char *path;
	char *msg;
};

struct app_problems {
	struct app_problem *v;
	size_t n, cap;
};

void app_problems_add(struct app_problems *p, const char *path, const char *fmt, ...)
	FERR_PRINTF(3, 4);
void app_problems_free(struct app_problems *p);

/* Load a descriptor or invocation: a file path, "-" for stdin, or (as bosh
 * allows) the JSON object itself when the argument starts with "{". */
json_t *app_load_json(const char *path, struct ferr *err);

/* Validate a descriptor: JSON-schema (draft-04) against Boutiques' schema
 * 0.5, then, when that passes, every Boutiques rule bosh checks, in bosh's
 * order. Returns the number of problems (0: valid). */
size_t app_validate_descriptor(const json_t *desc, struct app_problems *out);

/* The invocation schema: the descriptor's own `invocation-schema` if it has
 * one, else the one bosh generates (generateInvocationSchema). New ref. */
json_t *app_invocation_schema(const json_t *desc);
json_t *app_invocation_schema_generate(const json_t *desc);

/* A copy of the invocation with `default-value`s filled in for absent or
 * null inputs (bosh's addDefaultValues). A null without a default stays
 * (validation refuses it, as bosh's schema does). */
json_t *app_invocation_with_defaults(const json_t *desc, const json_t *inv);

/* Validate an invocation (defaults already added) as bosh does: against
 * the invocation schema (a boolean is no Number, a null no value). Returns
 * the number of problems; 0: bosh would run it. */
size_t app_validate_invocation(const json_t *desc, const json_t *inv, struct app_problems *out);

/* The rules bosh declares but never enforces on invocations: all-or-none
 * groups, value-requires, value-disables. One problem per violation,
 * naming the group or the input. bosh runs such invocations (platforms
 * rely on it): callers warn, and refuse only when asked to be strict. */
size_t app_invocation_soft_rules(const json_t *desc, const json_t *inv, struct app_problems *out);

/* JSON with integers beyond 64 bits, which bosh (Python) reads and prints
 * exactly and jansson refuses: app_json_parse keeps each as its digits
 * (app_json_is_bigint; json_string_value() gives the digits), and
 * app_json_dumps prints it back as the number. Errors name `what`, the
 * line and the column, like json_load_buf(). */
json_t *app_json_parse(const char *text, size_t len, const char *what, struct ferr *err);
char *app_json_dumps(const json_t *j, size_t flags);
bool app_json_is_bigint(const json_t *v);
json_t *app_json_bigint(const char *digits, size_t n);

/* Draft-04 JSON-schema validation of any instance (used for both the
 * descriptor and invocations; exposed for tests and fuzzing). */
size_t app_json_schema_validate(const json_t *schema, const json_t *instance,
				struct app_problems *out);

/* A job: the command line bosh would build and the output paths. */
struct app_job {
	json_t *inputs;  /* id -> value, defaults filled, nulls dropped */
	json_t *outputs; /* id -> path (string), as `bosh evaluate output-files/` */
	char *cmdline;
};

enum {
	APP_WRITE_CONFIG = 1, /* write file-template config files (launch; simulate only when asked) */
};

/* Build the job for a valid descriptor and a validated invocation (defaults
 * already added). Config files are written relative to the current
 * directory when APP_WRITE_CONFIG is set. */
int app_job_build(struct app_job *job, const json_t *desc, const json_t *inv, unsigned flags,
		  struct ferr *err);
void app_job_free(struct app_job *job);

/* An example invocation: required inputs (and with `complete`, optional
 * ones too), valid against the invocation schema. `seed` makes it
 * reproducible. New ref, or NULL with err when none could be made. */
json_t *app_example(const json_t *desc, bool complete, unsigned seed, struct ferr *err);

/* Python's formatting rules that bosh's output depends on. Exposed for
 * tests. Each appends to / returns malloc'd text. */
char *app_shlex_quote(const char *s);
char *app_py_float_repr(double x);
char *app_py_str(const json_t *v);  /* str(v) */
char *app_py_repr(const json_t *v); /* repr(v), objects as OrderedDict([...]) */

/* ---- launch ---- */

struct app_bind {
	char *host;
	char *cont;
	bool ro;
};

struct app_launch_opts {
	const char *desc_arg;        /* as given on the command line (provenance) */
	struct app_bind *binds;      /* -v HOST:CONT[:ro] */
	size_t nbinds;
	bool no_container;
	bool no_pull;
	bool insecure;                /* plain HTTP / unverified TLS for the image's registry */
	bool skip_data_collection;
	const json_t *provenance;    /* --provenance object, or NULL */
	bool quiet;                  /* no summary */
	const char *record_dir;      /* where the provenance record goes (NULL: app_data_dir()) */
};

struct app_result {
	int exit_code;        /* the tool's status (128+N for a signal) */
	bool started;         /* false: ferry failed before the tool ran */
	char *error_message;  /* error-codes description, "" if none */
	json_t *found;        /* [ "path (id, Required)" ] */
	json_t *missing;      /* [ "path (id, Required)" ] */
	json_t *found_map;    /* id -> path */
	json_t *missing_map;  /* id -> path */
	char *record_path;    /* provenance record written, or NULL */
	char *container_location;
	char *image_digest;   /* manifest digest of the image run, or NULL */
	double wall_s, cpu_s;
	long maxrss_kib;
	struct timeval start, end; /* of the tool's run */
	char *out_text, *err_text; /* what it printed (first 4 MiB each, as text), when the plan records */
};

/* A launch in three steps, so that one process (a batch engine) can plan
 * many invocations, run them and record each; app_launch() is the three in
 * a row.
 *   plan:   validate the descriptor and the invocation, check that File
 *           inputs exist, choose host or image, write the config files,
 *           build the command line, argv, environment and binds. Nothing
 *           runs. Relative paths are taken against the working directory
 *           of this moment, which the plan keeps (cwd).
 *   run:    run the tool; fill res: status, times, resources, outputs
 *           found and missing, and (when the plan records) what it printed.
 *   record: write the provenance record (res->record_path).
 * The plan borrows desc and the pointers in opts until app_plan_free(). */
struct app_plan {
	const json_t *desc;
	json_t *invocation;           /* as given (the record shows it) */
	json_t *full;                 /* with defaults */
	struct app_launch_opts opts;
	struct app_job job;           /* command line and output paths */
	bool container;               /* false: on this host */
	char *cwd;
	char **argv;                  /* shell [-l] -c command-line */
	char **env;                   /* the descriptor's environment-variables, NAME=VALUE */
	struct app_bind *binds;       /* container only: -v, the working directory, File inputs */
	size_t nbinds;
	char **owned;                 /* strings the binds point to */
};

int app_launch_plan(const json_t *desc, const json_t *inv, const struct app_launch_opts *opts,
		    struct app_plan *plan, struct ferr *err);
/* Returns 0 when the tool ran (its status in res->exit_code), <0 with err
 * when ferry failed before (res->started false). */
int app_launch_run(const struct app_plan *plan, struct app_result *res, struct ferr *err);
int app_launch_record(const struct app_plan *plan, struct app_result *res, struct ferr *err);
void app_plan_free(struct app_plan *plan);

/* Launch: validate, build, check File inputs exist, run the command line
 * with the descriptor's shell (in the descriptor's image, or on the host
 * with no_container or when the descriptor names no image), check outputs,
 * write the provenance record. The tool's stdout and stderr are passed
 * through (and kept for the record). Returns 0 when the tool ran (its
 * status in res->exit_code), <0 with err when ferry failed before. */
int app_launch(const json_t *desc, const json_t *inv, const struct app_launch_opts *opts,
	       struct app_result *res, struct ferr *err);
void app_result_free(struct app_result *res);

/* Fetch the descriptor's image into the store (bosh's `exec prepare`).
 * *location describes where it came from. */
int app_pull_image(const json_t *desc, bool insecure, char **location, struct ferr *err);

/* The descriptor's image in the store: found there (or in FERRY_STORE_PATH)
 * without contacting its registry, else pulled once (`ferry batch` stages
 * it so before its tasks run with no_pull). *digest: its manifest digest. */
int app_stage_image(const json_t *desc, bool insecure, char **digest, char **location, struct ferr *err);

/* The description the descriptor's "error-codes" give exit code code, or
 * NULL when it lists none. */
const char *app_error_description(const json_t *desc, int code);

/* Where provenance records go: $HOME/.cache/boutiques/data (bosh's). */
char *app_data_dir(void);
/* md5 of a file's content as 32 hex digits (provenance records and test
 * assertions use bosh's md5sums); -1 with errno when it cannot be read. */
int app_md5_file(const char *path, char hex[33]);
