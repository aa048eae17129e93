/* Descriptor validation: Boutiques' JSON schema (draft-04, embedded at
 * build time from src/app/descriptor.schema.json), then bosh's Boutiques
 * rules (validator.py), in bosh's order and with bosh's messages, so every
 * verdict and every message line agrees with `bosh validate`. Where bosh
 * crashes (a KeyError or TypeError in its own code) ferry reports a problem
 * or applies the evident intent instead; doc/app.md lists each case. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/internal.h"
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
		return j;
	}
	/* bosh also takes the JSON text itself as the argument */
	if (path[0] == '{')
		return app_json_parse(path, strlen(path), "<argument>", err);
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
			if (py_is_keyword(e) && strcmp(low, "and") && strcmp(low, "or") && strcmp(low, "false") &&
			    strcmp(low, "true"))
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

static bool str_in_list(const char *s, char **v)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return true;
	return false;
}

static size_t count_in(const char *s, char **v)
{
	size_t n = 0;
	for (; v && *v; v++)
		n += !strcmp(*v, s);
	return n;
}

static bool json_str_in(const json_t *arr, const char *s)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const char *x = json_string_value(json_array_get(arr, i));
		if (x && !strcmp(x, s))
			return true;
	}
	return false;
}

static bool is_optional(const json_t *x)
{
	return x && json_is_true(json_object_get(x, "optional"));
}

/* Python str.format of a JSON number ("{}"): str(). */
static char *num_text(const json_t *v)
{
	return app_py_str(v);
}

#define P(path, ...) app_problems_add(out, path, __VA_ARGS__)

static void check_rules(const json_t *d, struct app_problems *out)
{
	const json_t *inputs = json_object_get(d, "inputs");
	const json_t *outputs = json_object_get(d, "output-files");
	const json_t *groups = json_object_get(d, "groups");
	const char *cmdline = json_get_str(d, "command-line");
	size_t nin = json_array_size(inputs), nout = json_array_size(outputs), ngr = json_array_size(groups);
	char pb[256], pb2[256];

	/* value-keys of inputs then outputs, with their paths */
	_cleanup_strv_ char **keys = xcalloc(1, sizeof(char *));
	_cleanup_strv_ char **keypaths = xcalloc(1, sizeof(char *));
	for (size_t s = 0; s < 2; s++) {
		const json_t *arr = s ? outputs : inputs;
		for (size_t i = 0; i < json_array_size(arr); i++) {
			const char *k = json_get_str(json_array_get(arr, i), "value-key");
			if (!k)
				continue;
			strv_push(&keys, k);
			snprintf(pb, sizeof pb, "%s[%zu].value-key", s ? "output-files" : "inputs", i);
			strv_push(&keypaths, pb);
		}
	}
	size_t nkeys = strv_len(keys);

	/* 1. every key used in the command line, a file template, a path template
	 *    or an environment variable value */
	struct dstr hay = DSTR_INIT;
	dstr_append(&hay, cmdline ? cmdline : "");
	bool first = true;
	for (size_t i = 0; i < nout; i++) {
		const json_t *ft = json_object_get(json_array_get(outputs, i), "file-template");
		for (size_t j = 0; j < json_array_size(ft); j++) {
			if (!first)
				dstr_appendc(&hay, '.');
			first = false;
			dstr_append(&hay, json_string_value(json_array_get(ft, j)) ?: "");
		}
	}
	for (size_t i = 0; i < nout; i++) {
		const char *pt = json_get_str(json_array_get(outputs, i), "path-template");
		if (!pt)
			continue;
		if (!first)
			dstr_appendc(&hay, '.');
		first = false;
		dstr_append(&hay, pt);
	}
	const json_t *envs = json_object_get(d, "environment-variables");
	for (size_t i = 0; i < json_array_size(envs); i++) {
		dstr_append(&hay, "||");
		dstr_append(&hay, json_get_str(json_array_get(envs, i), "value") ?: "");
	}
	for (size_t i = 0; i < nkeys; i++)
		if (!strstr(hay.buf, keys[i]))
			P(keypaths[i], "   KeyError: \"%s\" not in command-line or file template or environment variables",
			  keys[i]);
	dstr_free(&hay);

	/* 2. no key contains another */
	for (size_t i = 0; i < nkeys; i++)
		for (size_t j = 0; j < nkeys; j++)
			if (strstr(keys[i], keys[j]) && strcmp(keys[i], keys[j]))
				P(keypaths[i], "   KeyError: \"%s\" contains \"%s\"", keys[i], keys[j]);

	/* 3. ids unique across inputs, outputs and groups */
	_cleanup_strv_ char **ids = xcalloc(1, sizeof(char *));
	_cleanup_strv_ char **idpaths = xcalloc(1, sizeof(char *));
	_cleanup_strv_ char **in_ids = xcalloc(1, sizeof(char *));
	_cleanup_strv_ char **out_ids = xcalloc(1, sizeof(char *));
	_cleanup_strv_ char **grp_ids = xcalloc(1, sizeof(char *));
	static const char *const sections[] = { "inputs", "output-files", "groups" };
	for (size_t s = 0; s < 3; s++) {
		const json_t *arr = json_object_get(d, sections[s]);
		for (size_t i = 0; i < json_array_size(arr); i++) {
			const char *id = json_get_str(json_array_get(arr, i), "id");
			if (!id)
				continue;
			strv_push(&ids, id);
			snprintf(pb, sizeof pb, "%s[%zu].id", sections[s], i);
			strv_push(&idpaths, pb);
			strv_push(s == 0 ? &in_ids : s == 1 ? &out_ids : &grp_ids, id);
		}
	}
	for (size_t i = 0; ids[i]; i++)
		for (size_t j = i + 1; ids[j]; j++)
			if (!strcmp(ids[i], ids[j]))
				P(idpaths[j], "    IdError: \"%s\" is non-unique", ids[i]);

	/* 4. a value-key shared by several inputs needs a mutually-exclusive
	 *    group made of exactly those inputs. bosh crashes when the
	 *    descriptor has no groups at all; ferry reports the problem. */
	for (size_t i = 0; i < nkeys; i++)
		for (size_t j = i + 1; j < nkeys; j++) {
			if (strcmp(keys[i], keys[j]))
				continue;
			_cleanup_strv_ char **mids = xcalloc(1, sizeof(char *));
			for (size_t k = 0; k < nin; k++) {
				const json_t *in = json_array_get(inputs, k);
				const char *vk = json_get_str(in, "value-key");
				if (vk && !strcmp(vk, keys[i]) && json_get_str(in, "id"))
					strv_push(&mids, json_get_str(in, "id"));
			}
			if (!ngr)
				P(keypaths[j], " MutExError: \"%s\" belongs to 2+ non exclusive IDs", keys[i]);
			for (size_t g = 0; g < ngr; g++) {
				const json_t *grp = json_array_get(groups, g);
				const json_t *mem = json_object_get(grp, "members");
				bool same = true;
				for (size_t m = 0; m < json_array_size(mem); m++)
					same &= str_in_list(json_string_value(json_array_get(mem, m)) ?: "", mids);
				for (size_t m = 0; mids[m]; m++)
					same &= json_str_in(mem, mids[m]);
				const json_t *mutex = json_object_get(grp, "mutually-exclusive");
				if (same && !json_is_true(mutex))
					P(keypaths[j], " MutExError: \"%s\" belongs to 2+ non exclusive IDs", keys[i]);
			}
		}

	/* 5. unique path-templates (each pair reported in both orders) */
	for (size_t i = 0; i < nout; i++) {
		const json_t *o1 = json_array_get(outputs, i);
		const char *p1 = json_get_str(o1, "path-template");
		for (size_t j = 0; j < nout && p1; j++) {
			const json_t *o2 = json_array_get(outputs, j);
			const char *p2 = json_get_str(o2, "path-template");
			if (p2 && i != j && !strcmp(p1, p2)) {
				snprintf(pb, sizeof pb, "output-files[%zu].path-template", i);
				P(pb, "OutputError: \"%s\" and \"%s\" have the same path-template",
				  json_get_str(o1, "id") ?: "", json_get_str(o2, "id") ?: "");
			}
		}
	}

	/* 6. conditional-path-templates of required outputs */
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
				json_object_foreach(json_array_get(cpt, k), key, x) {
					ndef += !strcmp(key, "default");
					break;
				}
			}
			if (!ndef)
				P(pb, "OutputError: \"%s\". Non-optional output-file with conditional-path-template must contain \"default\" path-template.",
				  oid);
			if (ndef > 1)
				P(pb, "OutputError: \"%s\". Only one \"default\" condition is permitted in a conditional-path-template.",
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
					snprintf(pb, sizeof pb, "output-files[%zu].conditional-path-template[%zu]", i, k);
					_cleanup_strv_ char **tok = cond_tokens(key);
					if (tok[0] && !strcmp(tok[0], "default") && !tok[1])
						continue;
					if (pass == 0) {
						for (size_t t = 0; tok[t]; t++)
							if (!py_is_keyword(tok[t]) && is_alnum(tok[t]) && !is_digits(tok[t]) &&
							    !str_in_list(tok[t], in_ids) && !str_in_list(tok[t], out_ids))
								P(pb, "OutputError: \"%s\" contains non-python keyword and non-ID string: \"%s\"",
								  json_get_str(o, "id") ?: "", tok[t]);
						continue;
					}
					struct dstr joined = DSTR_INIT;
					dstr_append(&joined, "");
					for (size_t t = 0; tok[t]; t++) {
						const char *w = tok[t];
						if (!py_is_keyword(w) && is_alnum(w) && !is_digits(w) && str_in_list(w, in_ids)) {
							const char *ty = json_get_str(desc_find(d, "inputs", w), "type");
							if (ty)
								w = ty;
						}
						if (t)
							dstr_appendc(&joined, ' ');
						dstr_append(&joined, w);
					}
					if (!cond_valid(joined.buf))
						P(pb, "OutputError: Conditional output \"%s\" contains invalid conditional expression. Verify arguments' type and allowed keywords in expression.",
						  key);
					dstr_free(&joined);
				}
			}
		}
	}

	/* 7. inputs */
	for (size_t i = 0; i < nin; i++) {
		const json_t *in = json_array_get(inputs, i);
		const char *id = json_get_str(in, "id") ?: "";
		const char *type = json_get_str(in, "type") ?: "";
		bool opt = is_optional(in);
		snprintf(pb, sizeof pb, "inputs[%zu]", i);
		if (!strcmp(type, "Flag")) {
			if (!json_object_get(in, "command-line-flag"))
				P(pb, " InputError: \"%s\" must have a command-line flag", id);
			if (!opt)
				P(pb, " InputError: \"%s\" is of type Flag, it has to be optional", id);
		} else if (!strcmp(type, "Number")) {
			const json_t *mn = json_object_get(in, "minimum"), *mx = json_object_get(in, "maximum");
			if (mn && mx && json_number_value(mn) > json_number_value(mx)) {
				_cleanup_free_ char *a = num_text(mn);
				_cleanup_free_ char *b = num_text(mx);
				P(pb, " InputError: \"%s\" cannot have greater min (%s) than max (%s)", id, a, b);
			}
		} else if (json_object_get(in, "value-choices")) {
			const json_t *ch = json_object_get(in, "value-choices");
			if (json_array_size(ch) < 1)
				P(pb, " InputError: \"%s\" must have at least one value choice", id);
			const json_t *dv = json_object_get(in, "default-value");
			if (dv) {
				size_t n = json_is_array(dv) ? json_array_size(dv) : 1;
				for (size_t k = 0; k < n; k++) {
					const json_t *x = json_is_array(dv) ? json_array_get(dv, k) : dv;
					bool found = false;
					for (size_t c = 0; c < json_array_size(ch) && !found; c++)
						found = py_equal(x, json_array_get(ch, c));
					if (!found)
						P(pb, " InputError: \"%s\" cannot have default value outside its choices", id);
				}
			}
		}
		if (json_object_get(in, "list")) {
			const json_t *mn = json_object_get(in, "min-list-entries");
			const json_t *mx = json_object_get(in, "max-list-entries");
			double vmin = json_is_number(mn) ? json_number_value(mn) : 0;
			/* Python truthiness: 0 means unset */
			double vmax = json_is_number(mx) && json_number_value(mx) != 0 ? json_number_value(mx) : INFINITY;
			_cleanup_free_ char *smin = vmin != 0 ? num_text(mn) : xstrdup("0");
			_cleanup_free_ char *smax = isinf(vmax) ? xstrdup("inf") : num_text(mx);
			if (vmin > vmax)
				P(pb, " InputError: \"%s\" cannot have greater min entries (%s) than max entries (%s)", id,
				  smin, smax);
			if (vmin < 0)
				P(pb, " InputError: \"%s\" cannot have negative min entries (%s)", id, smin);
			if (vmax <= 0)
				P(pb, " InputError: \"%s\" cannot have non-positive max entries (%s)", id, smax);
		}
		const json_t *req = json_object_get(in, "requires-inputs");
		const json_t *dis = json_object_get(in, "disables-inputs");
		for (size_t k = 0; k < json_array_size(req); k++) {
			const char *r = json_string_value(json_array_get(req, k)) ?: "";
			if (!str_in_list(r, in_ids) && !str_in_list(r, grp_ids)) {
				snprintf(pb2, sizeof pb2, "inputs[%zu].requires-inputs[%zu]", i, k);
				P(pb2, " InputError: \"%s\" required id \"%s\" not found", id, r);
			}
		}
		for (size_t k = 0; k < json_array_size(dis); k++) {
			const char *r = json_string_value(json_array_get(dis, k)) ?: "";
			if (!str_in_list(r, in_ids)) {
				snprintf(pb2, sizeof pb2, "inputs[%zu].disables-inputs[%zu]", i, k);
				P(pb2, " InputError: \"%s\" disables id \"%s\" not found", id, r);
			}
		}
		if (req && dis)
			for (size_t a = 0; a < json_array_size(req); a++)
				for (size_t b = 0; b < json_array_size(dis); b++) {
					const char *x = json_string_value(json_array_get(req, a)) ?: "";
					const char *y = json_string_value(json_array_get(dis, b)) ?: "";
					if (!strcmp(x, y))
						P(pb, " InputError: \"%s\" requires and disables \"%s\"", id, x);
				}
		for (size_t k = 0; k < json_array_size(dis); k++) {
			const char *r = json_string_value(json_array_get(dis, k)) ?: "";
			if (str_in_list(r, in_ids) && !is_optional(desc_find(d, "inputs", r))) {
				snprintf(pb2, sizeof pb2, "inputs[%zu].disables-inputs[%zu]", i, k);
				P(pb2, " InputError: \"%s\" disables required id \"%s\"", id, r);
			}
		}
		if ((req || dis) && !opt)
			P(pb, " InputError: \"%s\" cannot require or disable other inputs", id);

		const json_t *ch = json_object_get(in, "value-choices");
		const json_t *vreq = json_object_get(in, "value-requires");
		const json_t *vdis = json_object_get(in, "value-disables");
		if ((vreq || vdis) && !ch)
			P(pb, " InputError: \"%s\" cannot have have value-opts without value-choices defined.", id);
		if (!ch)
			continue;
		if (vreq && vdis)
			for (size_t c = 0; c < json_array_size(ch); c++) {
				_cleanup_free_ char *choice = app_py_str(json_array_get(ch, c));
				const json_t *dl = json_object_get(vdis, choice);
				const json_t *rl = json_object_get(vreq, choice);
				for (size_t k = 0; k < json_array_size(dl); k++) {
					const char *x = json_string_value(json_array_get(dl, k)) ?: "";
					if (json_str_in(rl, x))
						P(pb, " InputError: \"%s\" choice \"%s\" requires and disables \"%s\"", id, choice, x);
				}
			}
		static const char *const params[] = { "value-requires", "value-disables" };
		for (size_t q = 0; q < 2; q++) {
			const json_t *pm = json_object_get(in, params[q]);
			if (!pm)
				continue;
			snprintf(pb2, sizeof pb2, "inputs[%zu].%s", i, params[q]);
			bool same = true;
			const char *k;
			json_t *x;
			json_object_foreach((json_t *)pm, k, x) {
				bool f = false;
				for (size_t c = 0; c < json_array_size(ch) && !f; c++) {
					const json_t *cv = json_array_get(ch, c);
					f = json_is_string(cv) && !strcmp(json_string_value(cv), k);
				}
				same &= f;
			}
			for (size_t c = 0; c < json_array_size(ch); c++) {
				const json_t *cv = json_array_get(ch, c);
				same &= json_is_string(cv) && json_object_get(pm, json_string_value(cv)) != NULL;
			}
			if (!same)
				P(pb2, " InputError: \"%s\" %s list is not the same as the value-choices", id, params[q]);
			/* bosh prints the whole list in this message; ferry names the id */
			json_object_foreach((json_t *)pm, k, x) {
				for (size_t m = 0; m < json_array_size(x); m++) {
					const char *item = json_string_value(json_array_get(x, m)) ?: "";
					if (!str_in_list(item, in_ids))
						P(pb2, " InputError: \"%s\" %s id \"%s\" not found", id, params[q], item);
				}
			}
			json_object_foreach((json_t *)pm, k, x) {
				for (size_t m = 0; m < json_array_size(x); m++) {
					const char *item = json_string_value(json_array_get(x, m)) ?: "";
					if (!is_optional(desc_find(d, "inputs", item)))
						P(pb2, " InputError: \"%s\" %s cannot be used with required input \"%s\"", id,
						  params[q], item);
				}
			}
		}
	}

	/* 8. groups */
	for (size_t g = 0; g < ngr; g++) {
		const json_t *grp = json_array_get(groups, g);
		const char *gid = json_get_str(grp, "id") ?: "";
		const json_t *mem = json_object_get(grp, "members");
		snprintf(pb, sizeof pb, "groups[%zu]", g);
		_cleanup_strv_ char **ms = xcalloc(1, sizeof(char *));   /* as listed */
		_cleanup_strv_ char **uniq = xcalloc(1, sizeof(char *)); /* Python set(): first occurrences */
		for (size_t m = 0; m < json_array_size(mem); m++) {
			const char *x = json_string_value(json_array_get(mem, m)) ?: "";
			strv_push(&ms, x);
			if (!str_in_list(x, uniq))
				strv_push(&uniq, x);
		}
		for (size_t m = 0; ms[m]; m++)
			if (!str_in_list(ms[m], in_ids)) {
				snprintf(pb2, sizeof pb2, "groups[%zu].members[%zu]", g, m);
				P(pb2, " GroupError: \"%s\" member \"%s\" does not exist", gid, ms[m]);
			}
		for (size_t m = 0; uniq[m]; m++)
			if (count_in(uniq[m], ms) > 1)
				P(pb, " GroupError: \"%s\" member \"%s\" appears twice", gid, uniq[m]);
		if (json_is_true(json_object_get(grp, "mutually-exclusive"))) {
			for (size_t m = 0; uniq[m]; m++) {
				const json_t *in = desc_find(d, "inputs", uniq[m]);
				if (in && !is_optional(in))
					P(pb, " GroupError: \"%s\" is mutually-exclusive and cannot have required members, such as \"%s\"",
					  gid, uniq[m]);
			}
			for (size_t m = 0; uniq[m]; m++) {
				const json_t *req = json_object_get(desc_find(d, "inputs", uniq[m]), "requires-inputs");
				for (size_t k = 0; k < json_array_size(req); k++) {
					const char *r = json_string_value(json_array_get(req, k)) ?: "";
					if (str_in_list(r, uniq))
						P(pb, " GroupError: \"%s\" is mutually-exclusive and cannot have members require one another, such as \"%s\" and \"%s\"",
						  gid, uniq[m], r);
				}
			}
			for (size_t h = 0; h < ngr; h++) {
				const json_t *g2 = json_array_get(groups, h);
				if (!json_is_true(json_object_get(g2, "all-or-none")) || h == g)
					continue;
				const json_t *m2 = json_object_get(g2, "members");
				for (size_t a = 0; ms[a]; a++)
					for (size_t b = 0; ms[b]; b++)
						if (strcmp(ms[a], ms[b]) && json_str_in(m2, ms[a]) && json_str_in(m2, ms[b]))
							P(pb, " GroupError: mutually-exclusive group \"%s\" and all-or-none group \"%s\" cannot both contain input pairs \"%s\" and \"%s\"",
							  gid, json_get_str(g2, "id") ?: "", ms[a], ms[b]);
			}
		}
		if (json_is_true(json_object_get(grp, "one-is-required"))) {
			for (size_t m = 0; uniq[m]; m++)
				if (str_in_list(uniq[m], in_ids) && !is_optional(desc_find(d, "inputs", uniq[m])))
					P(pb, " GroupError: \"%s\" is a one-is-required group and contains a required member, \"%s\"",
					  gid, uniq[m]);
			for (size_t h = 0; h < ngr; h++) {
				const json_t *g2 = json_array_get(groups, h);
				if (!json_is_true(json_object_get(g2, "all-or-none")) || h == g)
					continue;
				bool subset = true;
				for (size_t m = 0; ms[m]; m++)
					subset &= json_str_in(json_object_get(g2, "members"), ms[m]);
				if (subset)
					P(pb, " GroupError: \"%s\" is one-is-required and cannot be a subset of the all-or-none group \"%s\"",
					  gid, json_get_str(g2, "id") ?: "");
			}
		}
		if (json_is_true(json_object_get(grp, "all-or-none"))) {
			if (json_is_true(json_object_get(grp, "one-is-required")) ||
			    json_is_true(json_object_get(grp, "mutually-exclusive")))
				P(pb, " GroupError: \"%s\" is an all-or-none group and cannot be paired with one-is-required or mutually-exclusive groups",
				  gid);
			for (size_t m = 0; uniq[m]; m++)
				if (str_in_list(uniq[m], in_ids) && !is_optional(desc_find(d, "inputs", uniq[m])))
					P(pb, " GroupError: \"%s\" is an all-or-none group and contains a required member, \"%s\"",
					  gid, uniq[m]);
		}
	}

	/* 9. tests */
	const json_t *tests = json_object_get(d, "tests");
	if (tests) {
		_cleanup_strv_ char **names = xcalloc(1, sizeof(char *));
		for (size_t t = 0; t < json_array_size(tests); t++) {
			const json_t *test = json_array_get(tests, t);
			const char *tname = json_get_str(test, "name") ?: "";
			strv_push(&names, tname);
			const json_t *of = json_object_get(json_object_get(test, "assertions"), "output-files");
			if (!of)
				continue;
			snprintf(pb, sizeof pb, "tests[%zu].assertions.output-files", t);
			_cleanup_strv_ char **oids = xcalloc(1, sizeof(char *));
			for (size_t k = 0; k < json_array_size(of); k++) {
				const char *oid = json_get_str(json_array_get(of, k), "id");
				if (oid)
					strv_push(&oids, oid);
			}
			for (size_t k = 0; oids[k]; k++)
				if (!str_in_list(oids[k], out_ids))
					P(pb, "TestError: \"%s\" output id not found, in test \"%s\"", oids[k], tname);
			for (size_t k = 0; oids[k]; k++) {
				bool seen = false;
				for (size_t j = 0; j < k; j++)
					seen |= !strcmp(oids[j], oids[k]);
				if (!seen && count_in(oids[k], oids) > 1)
					P(pb, "TestError: \"%s\" output id cannot appear more than once within same test, in test \"%s\"",
					  oids[k], tname);
			}
		}
		for (size_t k = 0; names[k]; k++) {
			bool seen = false;
			for (size_t j = 0; j < k; j++)
				seen |= !strcmp(names[j], names[k]);
			if (!seen && count_in(names[k], names) > 1)
				P("tests", "TestError: \"%s\" test name is non-unique", names[k]);
		}
	}

	/* 10. an index prefixed to the image must match `index`. (bosh crashes on
	 *     "rootfs" images, which have no `image`.) */
	const json_t *ci = json_object_get(d, "container-image");
	const char *image = json_get_str(ci, "image");
	const char *index = json_get_str(ci, "index");
	if (image && index) {
		const char *p = image;
		while (isalnum((unsigned char)*p))
			p++;
		if (p > image && !strncmp(p, "://", 3)) {
			size_t n = (size_t)(p - image) + 3;
			if (strlen(index) != n || strncmp(index, image, n))
				P("container-image.index",
				  "ContainerError: container image \"%s\" is prepended by index that doesn't match container index value \"%s\"",
				  image, index);
		}
	}
}

size_t app_validate_descriptor(const json_t *desc, struct app_problems *out)
{
	size_t before = out->n;
	if (app_json_schema_validate(app_descriptor_schema(), desc, out))
		return out->n - before;
	check_rules(desc, out);
	return out->n - before;
}
