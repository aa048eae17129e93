/* Descriptors: loading them, Boutiques' JSON schema (draft-04, embedded at
 * build time from src/app/descriptor.schema.json), the conditional
 * expression tokenizer, and validation: the schema, then bosh's Boutiques
 * rules (rules.c) in bosh's order and with bosh's messages. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/rules.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"

static json_t *schema_cache;

const json_t *app_descriptor_schema(void)
{
	if (!schema_cache) {
		json_error_t je;
		schema_cache = json_loads(app_descriptor_schema_text, 0, &je);
		if (!schema_cache)
			abort(); /* the embedded schema is checked by the unit tests */
	}
	return schema_cache;
}

/* A string holding "\u0000" is refused (jansson's default, kept on
 * purpose): a command line, an argument and a path all end at the first
 * NUL, so the value could not reach the tool as given. Say that, rather
 * than jansson's "not allowed without JSON_ALLOW_NUL". */
static json_t *nul_refused(json_t *j, struct ferr *err)
{
	char *what = j ? NULL : strstr(err->msg, "invalid JSON: \\u0000 is not allowed");
	if (what) {
		*what = '\0';
		size_t L = strlen(err->msg);
		snprintf(what, sizeof err->msg - L,
			 "a NUL character (\\u0000) in a string: a value cannot carry one to a tool "
			 "(arguments and paths end at NUL)");
		ferr_hint(err, "remove the \\u0000 from the value");
	}
	return j;
}

json_t *app_load_json(const char *path, struct ferr *err)
{
	/* app_json_parse: integers beyond 64 bits too, as bosh reads them */
	if (!strcmp(path, "-")) {
		struct dstr in = DSTR_INIT;
		char buf[65536];
		size_t n;
		while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
			dstr_appendn(&in, buf, n);
		json_t *j = NULL;
		if (ferror(stdin))
			ferr_set(err, errno ? errno : EIO, "read <stdin>");
		else
			j = app_json_parse(in.buf ? in.buf : "", in.len, "<stdin>", err);
		dstr_free(&in);
		return nul_refused(j, err);
	}
	/* bosh also takes the JSON text itself as the argument */
	if (path[0] == '{')
		return nul_refused(app_json_parse(path, strlen(path), "<argument>", err), err);
	json_t *j = json_load_path(path, err);
	if (!j && err->code == FERR_INVALID && strstr(err->msg, "invalid JSON: too big")) {
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		struct ferr e2 = FERR_INIT;
		if (fs_read_file(path, &text, &len, &e2) == 0) {
			*err = (struct ferr)FERR_INIT;
			j = app_json_parse(text, len, path, err);
		}
	}
	j = nul_refused(j, err);
	if (!j && (str_starts_with(path, "zenodo.") || str_starts_with(path, "10.5281/")) && !fs_exists(path))
		ferr_hint(err, "ferry does not fetch descriptors from Zenodo: download the descriptor and give its file");
	return j;
}

json_t *desc_find(const json_t *desc, const char *section, const char *id)
{
	const json_t *arr = json_object_get(desc, section);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *x = json_array_get(arr, i);
		const char *xid = json_get_str(x, "id");
		if (xid && !strcmp(xid, id))
			return x;
	}
	return NULL;
}

static const char *const py_keywords[] = {
	"False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
	"continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
	"if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
	"try", "while", "with", "yield", NULL,
};

bool py_is_keyword(const char *s)
{
	for (const char *const *k = py_keywords; *k; k++)
		if (!strcmp(*k, s))
			return true;
	return false;
}

char **cond_tokens(const char *expr)
{
	struct dstr d = DSTR_INIT;
	dstr_append(&d, "");
	for (const char *p = expr; *p; p++) {
		if ((*p == '=' || *p == '!' || *p == '<' || *p == '>') && p[1] == '=') {
			dstr_appendc(&d, ' ');
			dstr_appendc(&d, *p);
			dstr_append(&d, "= ");
			p++;
		} else if (*p == '<' || *p == '>' || *p == '(' || *p == ')') {
			dstr_appendc(&d, ' ');
			dstr_appendc(&d, *p);
			dstr_appendc(&d, ' ');
		} else
			dstr_appendc(&d, *p);
	}
	char **v = xcalloc(1, sizeof *v);
	char *save = NULL;
	for (char *t = strtok_r(d.buf, " \t\n\r\f\v", &save); t; t = strtok_r(NULL, " \t\n\r\f\v", &save))
		strv_push(&v, t);
	dstr_free(&d);
	return v;
}

size_t cond_depth(char **tokens)
{
	size_t parens = 0, nots = 0, max = 0;
	for (size_t i = 0; tokens[i]; i++) {
		if (!strcmp(tokens[i], "("))
			parens++;
		else if (!strcmp(tokens[i], ")"))
			parens -= parens > 0;
		if (!strcmp(tokens[i], "not"))
			nots++;
		else if (strcmp(tokens[i], "("))
			nots = 0;
		if (parens + nots > max)
			max = parens + nots;
	}
	return max;
}

size_t app_validate_descriptor(const json_t *desc, struct app_problems *out)
{
	size_t before = out->n;
	if (app_json_schema_validate(app_descriptor_schema(), desc, out))
		return out->n - before;
	desc_rules_check(desc, out);
	return out->n - before;
}
