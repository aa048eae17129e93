/* bosh's rules on conditional-path-templates (rule 6 of validator.py: a
 * default for required outputs, only one, known identifiers, well-typed
 * comparisons), and ferry's bound on their depth. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/rules.h"
#include "base/cleanup.h"
#include "base/json.h"

/* Python str.isalnum() / isdigit() on ASCII (non-empty). */
static bool is_alnum(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !((unsigned char)*s & 0x80))
			return false;
	return true;
}

static bool is_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static const char *const input_types[] = { "String", "File", "Flag", "Number", NULL };

static bool is_input_type(const char *s)
{
	for (const char *const *t = input_types; *t; t++)
		if (!strcmp(*t, s))
			return true;
	return false;
}

static const char *substring_type(const char *s)
{
	if (is_input_type(s))
		return strcmp(s, "File") ? s : "String";
	/* ^[0-9]*\.?[0-9]+$: digits with at most one dot, ending in a digit */
	size_t dots = 0, n = strlen(s);
	bool num = n > 0 && isdigit((unsigned char)s[n - 1]);
	for (const char *p = s; *p && num; p++) {
		if (*p == '.')
			dots++;
		else if (!isdigit((unsigned char)*p))
			num = false;
	}
	if (num && dots <= 1)
		return "Number";
	if (!strcmp(s, "True") || !strcmp(s, "False") || !strcmp(s, "true") || !strcmp(s, "false"))
		return "Flag";
	return "String";
}

static bool is_type_or_bool(const char *s)
{
	return is_input_type(s) || !strcmp(s, "True") || !strcmp(s, "False");
}

/* validator.py's isValidConditionalExp: parenthesised sub-expressions are
 * checked recursively and replaced by "True"; what remains must compare
 * operands of the same type, use no keyword but and/or/true/false, and put
 * only type names or True/False around and/or. */
static bool cond_valid(const char *exp)
{
	int brackets = 0;
	size_t start = 0, len = strlen(exp);
	struct dstr rebuilt = DSTR_INIT;
	dstr_append(&rebuilt, "");
	for (size_t i = 0; i < len; i++) {
		char c = exp[i];
		if (c == '(') {
			brackets++;
			start = i + 1;
		} else if (c == ')') {
			brackets--;
			if (brackets == 0) {
				char *sub = xstrndup(exp + start, i >= start ? i - start : 0);
				bool ok = cond_valid(sub);
				free(sub);
				if (!ok) {
					dstr_free(&rebuilt);
					return false;
				}
				dstr_append(&rebuilt, "True");
			}
		} else if (brackets == 0)
			dstr_appendc(&rebuilt, c);
	}
	bool ok = true;
	if (!strchr(rebuilt.buf, '(') && !strchr(rebuilt.buf, ')')) {
		char **el = xcalloc(1, sizeof *el);
		char *save = NULL;
		for (char *t = strtok_r(rebuilt.buf, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save))
			strv_push(&el, t);
		size_t n = strv_len(el);
		static const char *const cmp[] = { "==", "!=", "<", ">", "<=", ">=", NULL };
		for (size_t i = 0; i < n && ok; i++) {
			const char *e = el[i];
			/* Python's el[i-1] wraps to the last element; el[i+1] past the end raises
			 * (bosh crashes): ferry calls that expression invalid. */
			const char *prev = el[i ? i - 1 : n - 1];
			const char *next = i + 1 < n ? el[i + 1] : NULL;
			bool is_cmp = false;
			for (const char *const *c = cmp; *c; c++)
				is_cmp |= !strcmp(*c, e);
			if (is_cmp && (!next || strcmp(substring_type(prev), substring_type(next))))
				ok = false;
			char low[16] = "";
			if (strlen(e) < sizeof low) {
				for (size_t k = 0; e[k]; k++)
					low[k] = (char)tolower((unsigned char)e[k]);
				low[strlen(e)] = '\0';
			}
			if (py_is_keyword(e) && strcmp(low, "and") && strcmp(low, "or") &&
			    strcmp(low, "false") && strcmp(low, "true"))
				ok = false;
			if ((!strcmp(low, "and") || !strcmp(low, "or")) &&
			    (!next || !is_type_or_bool(prev) || !is_type_or_bool(next)))
				ok = false;
		}
		strv_free(el);
	}
	dstr_free(&rebuilt);
	return ok;
}

/* 6. conditional-path-templates of required outputs: a default, only one,
 *    known identifiers, well-typed comparisons */
void rule_conditional_paths(const struct rule_ctx *rc, struct app_problems *out)
{
	const json_t *outputs = rc->outputs;
	size_t nout = rc->nout;
	char **in_ids = rc->in_ids;
	char **out_ids = rc->out_ids;
	const json_t *d = rc->d;
	char pb[256];
	if (outputs) {
		for (size_t i = 0; i < nout; i++) {
			const json_t *o = json_array_get(outputs, i);
			const json_t *cpt = json_object_get(o, "conditional-path-template");
			/* bosh reads o["optional"] and crashes when it is absent: absent means
			 * required, as everywhere else in Boutiques. */
			if (!cpt || is_optional(o))
				continue;
			const char *oid = json_get_str(o, "id") ?: "";
			snprintf(pb, sizeof pb, "output-files[%zu].conditional-path-template", i);
			size_t ndef = 0;
			for (size_t k = 0; k < json_array_size(cpt); k++) {
				const char *key = NULL;
				json_t *x;
				json_object_foreach(json_array_get(cpt, k), key, x)
				{
					ndef += !strcmp(key, "default");
					break;
				}
			}
			if (!ndef)
				P(pb,
				  "OutputError: \"%s\". Non-optional output-file with "
				  "conditional-path-template must contain \"default\" path-template.",
				  oid);
			if (ndef > 1)
				P(pb,
				  "OutputError: \"%s\". Only one \"default\" condition is permitted in a "
				  "conditional-path-template.",
				  oid);
		}
		/* identifiers in conditions must be ids, keywords or numbers; bosh names
		 * the last conditional output in every message, ferry the right one */
		for (int pass = 0; pass < 2; pass++) {
			for (size_t i = 0; i < nout; i++) {
				const json_t *o = json_array_get(outputs, i);
				const json_t *cpt = json_object_get(o, "conditional-path-template");
				if (!cpt || is_optional(o))
					continue;
				for (size_t k = 0; k < json_array_size(cpt); k++) {
					const char *key = NULL;
					json_t *x;
					json_object_foreach(json_array_get(cpt, k), key, x) break;
					if (!key)
						continue;
					snprintf(pb, sizeof pb,
						 "output-files[%zu].conditional-path-template[%zu]", i, k);
					_cleanup_strv_ char **tok = cond_tokens(key);
					if (tok[0] && !strcmp(tok[0], "default") && !tok[1])
						continue;
					if (pass == 0) {
						for (size_t t = 0; tok[t]; t++)
							if (!py_is_keyword(tok[t]) && is_alnum(tok[t]) &&
							    !is_digits(tok[t]) &&
							    !str_in_list(tok[t], in_ids) &&
							    !str_in_list(tok[t], out_ids))
								P(pb,
								  "OutputError: \"%s\" contains non-python "
								  "keyword and non-ID string: \"%s\"",
								  json_get_str(o, "id") ?: "", tok[t]);
						continue;
					}
					if (cond_depth(tok) > COND_MAX_DEPTH)
						continue; /* reported below */
					struct dstr joined = DSTR_INIT;
					dstr_append(&joined, "");
					for (size_t t = 0; tok[t]; t++) {
						const char *w = tok[t];
						if (!py_is_keyword(w) && is_alnum(w) && !is_digits(w) &&
						    str_in_list(w, in_ids)) {
							const char *ty = json_get_str(
								desc_find(d, "inputs", w), "type");
							if (ty)
								w = ty;
						}
						if (t)
							dstr_appendc(&joined, ' ');
						dstr_append(&joined, w);
					}
					if (!cond_valid(joined.buf))
						P(pb,
						  "OutputError: Conditional output \"%s\" contains invalid "
						  "conditional expression. Verify arguments' type and "
						  "allowed keywords in expression.",
						  key);
					dstr_free(&joined);
				}
			}
		}
	}
}

/* ferry's own: every condition (optional outputs' too: simulate
 * evaluates them all) nested at most COND_MAX_DEPTH levels */
void rule_condition_depth(const struct rule_ctx *rc, struct app_problems *out)
{
	const json_t *outputs = rc->outputs;
	size_t nout = rc->nout;
	char pb[256];
	for (size_t i = 0; i < nout; i++) {
		const json_t *o = json_array_get(outputs, i);
		const json_t *cpt = json_object_get(o, "conditional-path-template");
		for (size_t k = 0; k < json_array_size(cpt); k++) {
			const char *key = NULL;
			json_t *x;
			json_object_foreach(json_array_get(cpt, k), key, x) break;
			if (!key)
				continue;
			_cleanup_strv_ char **tok = cond_tokens(key);
			if (cond_depth(tok) <= COND_MAX_DEPTH)
				continue;
			snprintf(pb, sizeof pb, "output-files[%zu].conditional-path-template[%zu]", i, k);
			P(pb, "OutputError: \"%s\" has a condition nested deeper than %d levels",
			  json_get_str(o, "id") ?: "", COND_MAX_DEPTH);
		}
	}
}
