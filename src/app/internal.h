/* Internal to src/app: shared helpers between the app modules. */
#pragma once

#include <stdbool.h>
#include <jansson.h>

#include "app/app.h"
#include "base/str.h"

/* pyfmt.c */
void py_shlex_quote(struct dstr *out, const char *s);
void py_float(struct dstr *out, double x);
void py_str(struct dstr *out, const json_t *v);
void py_repr(struct dstr *out, const json_t *v);
bool py_equal(const json_t *a, const json_t *b);
void str_replace_all(char **s, const char *from, const char *to);

/* descriptor.c */
extern const char app_descriptor_schema_text[];
const json_t *app_descriptor_schema(void);
/* The input (or output, or group) object with this id, or NULL. */
json_t *desc_find(const json_t *desc, const char *section, const char *id);
/* Split a conditional-path-template key as bosh's conditionalExpFormat:
 * spaces around ( ) == != <= >= < >, then split on white space. */
char **cond_tokens(const char *expr);
/* How deep the tokens nest: parentheses open at once plus the `not`s in
 * front of one operand. Conditions deeper than COND_MAX_DEPTH are refused
 * (validate, simulate, launch): the evaluator recurses per level, and
 * Python itself gives up at 200 nested parentheses. */
#define COND_MAX_DEPTH 100
size_t cond_depth(char **tokens);
bool py_is_keyword(const char *s);

/* cmdline.c: evaluate a conditional expression (Python eval of the
 * substituted tokens). Returns 1 true, 0 false, <0 error. */
int cond_eval(char **tokens, struct ferr *err);

/* container.c: the seam to ferry's runtime and store. */
struct app_container_req {
	const char *type;  /* "docker" | "singularity" */
	const char *image; /* reference as in the descriptor */
	const char *index;
	bool no_pull;
	bool insecure;
	char **argv;       /* shell, [-l], -c, command */
	char **env;        /* NAME=VALUE to add */
	const char *cwd;
	struct app_bind *binds;
	size_t nbinds;
	int out_fd, err_fd; /* where the tool's stdout/stderr go */
	bool warm_crypto;   /* a provenance record follows: load libcrypto meanwhile */
	void (*forked)(void *arg); /* optional: called in the parent right after the fork */
	void *forked_arg;
};
int app_container_run(const struct app_container_req *req, int *status, struct rusage *ru,
		      char **digest, char **location, struct ferr *err);
/* The store reference for a container-image (type docker, or singularity
 * with a docker:// index): image and index as bosh reads them. */
char *app_image_ref(const char *image, const char *index);
int app_container_pull(const char *type, const char *image, const char *index, bool insecure, char **digest,
		       char **location, struct ferr *err);
