/* The tasks' invocations, from whatever a user has: invocation files, a
 * directory of them, a JSON array, JSON Lines, a CSV/TSV table typed from
 * the descriptor, or one invocation expanded as VIP's MoteurLite expands
 * list inputs (cartesian product, pairwise for custom."vip:dot"). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/path.h"
#include "base/str.h"
#include "batch/internal.h"

void batch_inputs_add(struct batch_inputs *in, json_t *inv, const char *source)
{
	if (in->n == in->cap) {
		in->cap = in->cap ? 2 * in->cap : 64;
		in->v = xrealloc(in->v, in->cap * sizeof *in->v);
	}
	in->v[in->n++] = (struct batch_task_input){ json_incref(inv), xstrdup(source) };
}

void batch_inputs_free(struct batch_inputs *in)
{
	for (size_t i = 0; i < in->n; i++) {
		json_decref(in->v[i].inv);
		free(in->v[i].source);
	}
	free(in->v);
	memset(in, 0, sizeof *in);
}

static const json_t *desc_input(const json_t *desc, const char *id)
{
	const json_t *inputs = json_object_get(desc, "inputs");
	for (size_t i = 0; i < json_array_size(inputs); i++) {
		const json_t *x = json_array_get(inputs, i);
		const char *xid = json_get_str(x, "id");
		if (xid && !strcmp(xid, id))
			return x;
	}
	return NULL;
}

/* ---- tables ---- */

/* One CSV record (RFC 4180: quotes, "" inside quotes, newlines inside
 * quotes) or TSV line (no quoting) from *p; cells appended to *cells.
 * Returns false at the end of the text. */
static bool table_record(const char **p, char sep, bool quoting, char ***cells, size_t *line)
{
	const char *s = *p;
	if (!*s)
		return false;
	*cells = xcalloc(1, sizeof **cells);
	struct dstr cell = { 0 };
	dstr_append(&cell, "");
	bool inq = false;
	for (;;) {
		char c = *s;
		if (inq) {
			if (!c)
				break;
			if (c == '"' && s[1] == '"') {
				dstr_appendc(&cell, '"');
				s += 2;
				continue;
			}
			if (c == '"') {
				inq = false;
				s++;
				continue;
			}
			if (c == '\n')
				(*line)++;
			dstr_appendc(&cell, c);
			s++;
			continue;
		}
		if (c == '"' && quoting) {
			inq = true;
			s++;
			continue;
		}
		if (c == sep || c == '\n' || c == '\0' || (c == '\r' && s[1] == '\n')) {
			strv_push(cells, cell.buf ? cell.buf : "");
			dstr_clear(&cell);
			dstr_append(&cell, "");
			if (c == sep) {
				s++;
				continue;
			}
			if (c == '\r')
				s++;
			if (*s == '\n') {
				s++;
				(*line)++;
			}
			break;
		}
		dstr_appendc(&cell, c);
		s++;
	}
	dstr_free(&cell);
	*p = s;
	return true;
}

/* A cell's text as the JSON value the descriptor's type asks for. */
static json_t *typed(const json_t *din, const char *text, char *why, size_t whylen)
{
	const char *type = json_get_str(din, "type") ?: "String";
	if (!strcmp(type, "Number")) {
		char *end = NULL;
		errno = 0;
		bool integer = json_is_true(json_object_get(din, "integer"));
		if (integer || !strpbrk(text, ".eE")) {
			long long v = strtoll(text, &end, 10);
			if (*text && end && !*end && !errno)
				return json_integer(v);
			if (integer) {
				snprintf(why, whylen, "'%s' is not an integer", text);
				return NULL;
			}
		}
		double d = strtod(text, &end);
		if (*text && end && !*end && !errno)
			return json_real(d);
		snprintf(why, whylen, "'%s' is not a number", text);
		return NULL;
	}
	if (!strcmp(type, "Flag")) {
		if (!strcasecmp(text, "true") || !strcmp(text, "1") || !strcasecmp(text, "yes"))
			return json_true();
		if (!strcasecmp(text, "false") || !strcmp(text, "0") || !strcasecmp(text, "no"))
			return json_false();
		snprintf(why, whylen, "'%s' is not a flag (true or false)", text);
		return NULL;
	}
	return json_string(text);
}

static int add_table(struct batch_inputs *in, const json_t *desc, const char *path, const char *text, char sep,
		     const struct batch_input_opts *o, struct app_problems *probs, struct ferr *err)
{
	const char *lsep = o && o->list_sep && *o->list_sep ? o->list_sep : ";";
	const char *p = text;
	size_t line = 1;
	_cleanup_strv_ char **head = NULL;
	if (!table_record(&p, sep, sep == ',', &head, &line))
		return ferr_setc(err, FERR_INVALID, 0, "%s: empty table (the first row names the inputs)", path);
	size_t ncol = strv_len(head);
	for (size_t c = 0; c < ncol; c++)
		if (!desc_input(desc, head[c]))
			return ferr_setc(err, FERR_INVALID, 0, "%s:1: column '%s' is no input id of the descriptor",
					 path, head[c]);
	for (;;) {
		size_t row_line = line;
		char **cells = NULL;
		if (!table_record(&p, sep, sep == ',', &cells, &line))
			break;
		_cleanup_strv_ char **cl = cells;
		char src[4096];
		snprintf(src, sizeof src, "%s:%zu", path, row_line);
		size_t n = strv_len(cl);
		if (n == 1 && !*cl[0])
			continue; /* a blank line */
		if (n != ncol) {
			app_problems_add(probs, src, "%zu cells where the header has %zu", n, ncol);
			continue;
		}
		_cleanup_json_ json_t *inv = json_object();
		bool ok = true;
		for (size_t c = 0; c < ncol && ok; c++) {
			if (!*cl[c])
				continue; /* empty: the input is absent */
			const json_t *din = desc_input(desc, head[c]);
			char why[512] = "";
			json_t *v = NULL;
			if (json_is_true(json_object_get(din, "list"))) {
				v = json_array();
				_cleanup_free_ char *copy = xstrdup(cl[c]);
				char *save = NULL, *it = copy;
				/* split on the whole separator string */
				while (it) {
					char *next = strstr(it, lsep);
					if (next) {
						*next = '\0';
						next += strlen(lsep);
					}
					json_t *x = typed(din, it, why, sizeof why);
					if (!x) {
						json_decref(v);
						v = NULL;
						break;
					}
					json_array_append_new(v, x);
					it = next;
				}
				(void)save;
			} else
				v = typed(din, cl[c], why, sizeof why);
			if (!v) {
				app_problems_add(probs, src, "input '%s': %s", head[c], why);
				ok = false;
				continue;
			}
			json_object_set_new(inv, head[c], v);
		}
		if (ok)
			batch_inputs_add(in, inv, src);
	}
	return 0;
}

/* ---- JSON ---- */

static void add_value(struct batch_inputs *in, json_t *v, const char *src, struct app_problems *probs)
{
	if (json_is_object(v))
		batch_inputs_add(in, v, src);
	else
		app_problems_add(probs, src, "an invocation is a JSON object, not %s",
				 json_is_array(v) ? "an array" : "a scalar");
}

static int add_json_text(struct batch_inputs *in, const char *path, const char *text, size_t len,
			 struct app_problems *probs, struct ferr *err)
{
	struct ferr whole = FERR_INIT;
	json_t *j = app_json_parse(text, len, path, &whole);
	if (j) {
		if (json_is_array(j)) {
			for (size_t i = 0; i < json_array_size(j); i++) {
				char src[4096];
				snprintf(src, sizeof src, "%s[%zu]", path, i);
				add_value(in, json_array_get(j, i), src, probs);
			}
		} else
			add_value(in, j, path, probs);
		json_decref(j);
		return 0;
	}
	/* JSON Lines: one value per non-blank line */
	const char *p = text, *end = text + len;
	size_t line = 0, got = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t L = nl ? (size_t)(nl - p) : (size_t)(end - p);
		line++;
		char src[4096];
		snprintf(src, sizeof src, "%s:%zu", path, line);
		if (L && strspn(p, " \t\r") < L) {
			struct ferr le = FERR_INIT;
			json_t *v = app_json_parse(p, L, src, &le);
			if (!v) {
				if (!got && line == 1) {
					*err = whole;
					return -1;
				}
				app_problems_add(probs, src, "%s", le.msg);
			} else {
				add_value(in, v, src, probs);
				json_decref(v);
			}
			got++;
		}
		p += L + (nl ? 1 : 0);
	}
	if (!got) {
		*err = whole;
		return -1;
	}
	return 0;
}

int batch_inputs_add_path(struct batch_inputs *in, const json_t *desc, const char *path,
			  const struct batch_input_opts *o, struct app_problems *probs, struct ferr *err)
{
	if (fs_is_dir(path)) {
		_cleanup_closedir_ DIR *d = opendir(path);
		if (!d)
			return ferr_set(err, errno, "inputs %s", path);
		_cleanup_strv_ char **names = fs_dir_names(d, ".json");
		size_t n = strv_len(names);
		if (!n)
			return ferr_setc(err, FERR_NOTFOUND, 0, "inputs %s: no *.json invocation in the directory",
					 path);
		for (size_t i = 0; i < n; i++) {
			_cleanup_free_ char *p = path_join(path, names[i]);
			if (batch_inputs_add_path(in, desc, p, o, probs, err) < 0)
				return -1;
		}
		return 0;
	}
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (fs_read_file(path, &text, &len, err) < 0)
		return ferr_wrap(err, "inputs");
	if (str_ends_with(path, ".csv") || str_ends_with(path, ".tsv"))
		return add_table(in, desc, path, text, str_ends_with(path, ".csv") ? ',' : '\t', o, probs, err);
	return add_json_text(in, path, text, len, probs, err);
}

/* ---- VIP's iteration ---- */

static bool in_dot(const json_t *desc, const char *id)
{
	const json_t *dot = json_object_get(json_object_get(desc, "custom"), "vip:dot");
	for (size_t i = 0; i < json_array_size(dot); i++)
		if (json_is_string(json_array_get(dot, i)) && !strcmp(json_string_value(json_array_get(dot, i)), id))
			return true;
	return false;
}

int batch_inputs_expand(struct batch_inputs *in, const json_t *desc, const json_t *inv, const char *source,
			struct ferr *err)
{
	if (!json_is_object(inv))
		return ferr_setc(err, FERR_INVALID, 0, "%s: an invocation is a JSON object", source);
	/* the iterated inputs, in the invocation's order */
	const char *ids[256];
	size_t nit = 0, ndot = 0, dotlen = 0;
	const char *dot_first = NULL;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)inv, k, v) {
		const json_t *din = desc_input(desc, k);
		if (!din || !json_is_array(v))
			continue;
		bool list = json_is_true(json_object_get(din, "list"));
		if (list) {
			/* a list input is iterated when it is given a list of lists */
			bool lol = json_array_size(v) > 0;
			for (size_t i = 0; i < json_array_size(v); i++)
				lol &= json_is_array(json_array_get(v, i));
			if (!lol)
				continue;
		}
		if (nit == sizeof ids / sizeof ids[0])
			return ferr_setc(err, FERR_INVALID, 0, "%s: too many iterated inputs", source);
		ids[nit++] = k;
		if (in_dot(desc, k)) {
			if (!ndot) {
				dotlen = json_array_size(v);
				dot_first = k;
			} else if (json_array_size(v) != dotlen)
				return ferr_setc(err, FERR_INVALID, 0,
						 "%s: vip:dot inputs '%s' (%zu values) and '%s' (%zu values) must have "
						 "equal lengths",
						 source, dot_first, dotlen, k, json_array_size(v));
			ndot++;
		}
	}
	/* dimensions: the dot group (one), then each crossed input */
	size_t dims[257], nd = 0, total = 1;
	if (ndot)
		dims[nd++] = dotlen;
	for (size_t i = 0; i < nit; i++)
		if (!in_dot(desc, ids[i]))
			dims[nd++] = json_array_size(json_object_get(inv, ids[i]));
	for (size_t d = 0; d < nd; d++) {
		if (dims[d] && total > (size_t)100000000 / dims[d])
			return ferr_setc(err, FERR_INVALID, 0, "%s: the expansion makes over 100,000,000 tasks", source);
		total *= dims[d];
	}
	for (size_t t = 0; t < total; t++) {
		_cleanup_json_ json_t *one = json_deep_copy(inv);
		/* t in mixed radix, the first dimension outermost */
		size_t rem = t, idx[257] = { 0 };
		for (size_t d = nd; d-- > 0;) {
			idx[d] = rem % dims[d];
			rem /= dims[d];
		}
		size_t d = ndot ? 1 : 0;
		for (size_t i = 0; i < nit; i++) {
			const json_t *vals = json_object_get(inv, ids[i]);
			size_t at = in_dot(desc, ids[i]) ? idx[0] : idx[d++];
			json_object_set(one, ids[i], json_array_get(vals, at));
		}
		char src[4096];
		snprintf(src, sizeof src, "%s[%zu]", source, t);
		batch_inputs_add(in, one, src);
	}
	return 0;
}
