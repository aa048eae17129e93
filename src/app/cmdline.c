/* Command lines, output paths and configuration files, built exactly as
 * bosh's LocalExecutor builds them (_replaceKeysInTemplate and friends):
 * the same substitution order, the same quoting (shlex.quote), the same
 * Python str() of numbers, the same removal of unset keys. The quirks that
 * follow from that algorithm are kept on purpose: a command line must be
 * byte-identical to bosh's, or tools validated with bosh break. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/internal.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/path.h"

enum unfound { UNFOUND_REMOVE, UNFOUND_CLEAR, UNFOUND_KEEP };

struct subst {
	const json_t *desc;
	const json_t *in;  /* inputs with values */
	json_t *out;       /* output id -> path */
};

static const char *ptype(const json_t *p)
{
	return json_get_str(p, "type") ?: "";
}

static bool is_str_or_file(const json_t *p)
{
	return !strcmp(ptype(p), "String") || !strcmp(ptype(p), "File");
}

/* os.path.basename: what follows the last '/'. */
static const char *py_basename(const char *s)
{
	const char *sl = strrchr(s, '/');
	return sl ? sl + 1 : s;
}

/* Returns the new template, or NULL when UNFOUND_CLEAR cleared it. */
static char *replace_keys(const struct subst *s, const char *tmpl, bool use_flags, enum unfound unfound,
			  const json_t *stripped, bool is_output, bool escape_special)
{
	char *t = xstrdup(tmpl);
	static const char *const sections[] = { "inputs", "output-files" };
	for (size_t sec = 0; sec < 2; sec++) {
		const json_t *arr = json_object_get(s->desc, sections[sec]);
		for (size_t i = 0; i < json_array_size(arr); i++) {
			const json_t *p = json_array_get(arr, i);
			const char *id = json_get_str(p, "id");
			const char *key = json_get_str(p, "value-key");
			if (!id || !key || !*key)
				continue;
			/* in_out_dict: outputs override inputs of the same id */
			const json_t *val = json_object_get(s->out, id);
			bool is_out_val = val != NULL;
			if (!val)
				val = json_object_get(s->in, id);
			/* bosh looks the parameter up by id (inputs first); ids are unique
			 * in a valid descriptor, so that is p itself */
			const json_t *def = p;
			bool escape = (escape_special && is_str_or_file(def)) || is_out_val;
			if (!val) {
				if (unfound == UNFOUND_REMOVE) {
					_cleanup_free_ char *sp = xasprintf(" %s", key);
					if (strstr(t, sp))
						str_replace_all(&t, sp, "");
					else
						str_replace_all(&t, key, "");
				} else if (unfound == UNFOUND_CLEAR && strstr(t, key)) {
					free(t);
					return NULL;
				}
				continue;
			}
			struct dstr v = DSTR_INIT;
			dstr_append(&v, "");
			bool is_false = json_is_false(val);
			if (json_is_array(val)) {
				const char *sep = json_get_str(def, "list-separator") ?: " ";
				for (size_t k = 0; k < json_array_size(val); k++) {
					if (k)
						dstr_append(&v, sep);
					_cleanup_free_ char *x = app_py_str(json_array_get(val, k));
					if (escape)
						py_shlex_quote(&v, x);
					else
						dstr_append(&v, x);
				}
			} else if (escape && json_is_string(val))
				py_shlex_quote(&v, json_string_value(val));
			else
				py_str(&v, val);
			const char *flag = json_get_str(def, "command-line-flag");
			if (use_flags && flag) {
				if (!strcmp(ptype(def), "Flag")) {
					dstr_clear(&v);
					dstr_append(&v, is_false ? "" : flag);
				} else {
					const char *fsep = json_get_str(def, "command-line-flag-separator") ?: " ";
					char *old = dstr_steal(&v);
					dstr_printf(&v, "%s%s%s", flag, fsep, old);
					free(old);
				}
				is_false = false;
			}
			char *vs = dstr_steal(&v);
			if (is_str_or_file(def)) {
				for (size_t k = 0; k < json_array_size(stripped); k++) {
					const char *ext = json_string_value(json_array_get(stripped, k));
					if (ext && *ext)
						str_replace_all(&vs, ext, "");
				}
				const char *pos = strstr(t, key);
				if (!strcmp(ptype(def), "File") && is_output && pos && pos > t) {
					char *b = xstrdup(py_basename(vs));
					free(vs);
					vs = b;
				}
			}
			/* str(False) is "False": only an empty value removes " KEY" */
			if (*vs || is_false)
				str_replace_all(&t, key, vs);
			else {
				_cleanup_free_ char *sp = xasprintf(" %s", key);
				str_replace_all(&t, sp, "");
			}
			free(vs);
		}
	}
	return t;
}

/* ---- conditional-path-template: a tiny Python expression evaluator ---- */

enum vkind { V_NUM, V_STR, V_BOOL, V_NONE };
struct val {
	enum vkind k;
	double n;
	const char *s;
	size_t slen;
};

struct ev {
	char **tok;
	size_t i;
	const char *errmsg;
};

static bool v_truthy(const struct val *v)
{
	switch (v->k) {
	case V_NUM:
		return v->n != 0;
	case V_STR:
		return v->slen > 0;
	case V_BOOL:
		return v->n != 0;
	default:
		return false;
	}
}

static struct val ev_or(struct ev *e);

static struct val ev_atom(struct ev *e)
{
	struct val v = { V_NONE, 0, NULL, 0 };
	const char *t = e->tok[e->i];
	if (!t) {
		e->errmsg = "unexpected end of expression";
		return v;
	}
	e->i++;
	if (!strcmp(t, "(")) {
		v = ev_or(e);
		if (!e->tok[e->i] || strcmp(e->tok[e->i], ")"))
			e->errmsg = "missing ')'";
		else
			e->i++;
		return v;
	}
	if (!strcmp(t, "True") || !strcmp(t, "False")) {
		v.k = V_BOOL;
		v.n = !strcmp(t, "True");
		return v;
	}
	if (!strcmp(t, "None"))
		return v;
	size_t L = strlen(t);
	if (L >= 2 && (t[0] == '"' || t[0] == '\'') && t[L - 1] == t[0]) {
		v.k = V_STR;
		v.s = t + 1;
		v.slen = L - 2;
		return v;
	}
	char *end;
	errno = 0;
	double d = strtod(t, &end);
	if (end != t && !*end) {
		v.k = V_NUM;
		v.n = d;
		return v;
	}
	e->errmsg = "unknown name in condition";
	return v;
}

/* Python 3 comparison of two values; <0 when the types cannot be ordered. */
static int v_cmp(const struct val *a, const struct val *b, const char *op)
{
	bool numa = a->k == V_NUM || a->k == V_BOOL, numb = b->k == V_NUM || b->k == V_BOOL;
	int c;
	if (numa && numb)
		c = a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
	else if (a->k == V_STR && b->k == V_STR) {
		size_t n = a->slen < b->slen ? a->slen : b->slen;
		c = memcmp(a->s, b->s, n);
		if (!c)
			c = a->slen < b->slen ? -1 : a->slen > b->slen ? 1 : 0;
	} else {
		bool eq = a->k == V_NONE && b->k == V_NONE;
		if (!strcmp(op, "=="))
			return eq;
		if (!strcmp(op, "!="))
			return !eq;
		return -1;
	}
	if (!strcmp(op, "=="))
		return c == 0;
	if (!strcmp(op, "!="))
		return c != 0;
	if (!strcmp(op, "<"))
		return c < 0;
	if (!strcmp(op, ">"))
		return c > 0;
	if (!strcmp(op, "<="))
		return c <= 0;
	return c >= 0;
}

static bool is_cmp_op(const char *t)
{
	return t && (!strcmp(t, "==") || !strcmp(t, "!=") || !strcmp(t, "<") || !strcmp(t, ">") ||
		     !strcmp(t, "<=") || !strcmp(t, ">="));
}

static struct val ev_cmp(struct ev *e)
{
	struct val a = ev_atom(e);
	if (!is_cmp_op(e->tok[e->i]))
		return a;
	bool result = true;
	while (is_cmp_op(e->tok[e->i]) && !e->errmsg) { /* chained: a < b < c */
		const char *op = e->tok[e->i++];
		struct val b = ev_atom(e);
		int r = v_cmp(&a, &b, op);
		if (r < 0) {
			e->errmsg = "comparison of a number with a string";
			r = 0;
		}
		result = result && r;
		a = b;
	}
	struct val v = { V_BOOL, result, NULL, 0 };
	return v;
}

static struct val ev_not(struct ev *e)
{
	if (e->tok[e->i] && !strcmp(e->tok[e->i], "not")) {
		e->i++;
		struct val x = ev_not(e);
		struct val v = { V_BOOL, !v_truthy(&x), NULL, 0 };
		return v;
	}
	return ev_cmp(e);
}

static struct val ev_and(struct ev *e)
{
	struct val a = ev_not(e);
	while (e->tok[e->i] && !strcmp(e->tok[e->i], "and")) {
		e->i++;
		struct val b = ev_not(e);
		if (v_truthy(&a))
			a = b;
	}
	return a;
}

static struct val ev_or(struct ev *e)
{
	struct val a = ev_and(e);
	while (e->tok[e->i] && !strcmp(e->tok[e->i], "or")) {
		e->i++;
		struct val b = ev_and(e);
		if (!v_truthy(&a))
			a = b;
	}
	return a;
}

int cond_eval(char **tokens, struct ferr *err)
{
	struct ev e = { tokens, 0, NULL };
	struct val v = ev_or(&e);
	if (!e.errmsg && tokens[e.i])
		e.errmsg = "unexpected token";
	if (e.errmsg)
		return ferr_setc(err, FERR_INVALID, 0, "%s", e.errmsg);
	return v_truthy(&v);
}

/* _getCondPathTemplateExp: ids replaced by their values (numbers bare,
 * anything else quoted: flags become the always-true strings "True" and
 * "False"), and an id without a value makes the whole condition False. */
static char **cond_substitute(const struct subst *s, const char *key)
{
	_cleanup_strv_ char **tok = cond_tokens(key);
	char **out = xcalloc(1, sizeof *out);
	for (size_t i = 0; tok[i]; i++) {
		const json_t *v = json_object_get(s->out, tok[i]);
		if (!v)
			v = json_object_get(s->in, tok[i]);
		if (v) {
			_cleanup_free_ char *str = app_py_str(v);
			bool digits = false, other = false;
			for (const char *p = str; *p; p++) {
				if (*p == '.' || *p == '-')
					continue;
				if (*p >= '0' && *p <= '9')
					digits = true;
				else
					other = true;
			}
			if (digits && !other)
				strv_push(&out, str);
			else {
				_cleanup_free_ char *q = xasprintf("\"%s\"", str);
				strv_push(&out, q);
			}
		} else if (desc_find(s->desc, "inputs", tok[i]) || desc_find(s->desc, "output-files", tok[i])) {
			strv_free(out);
			out = xcalloc(1, sizeof *out);
			strv_push(&out, "False");
			break;
		} else
			strv_push(&out, tok[i]);
	}
	return out;
}

static int output_names(struct subst *s, struct ferr *err)
{
	const json_t *outputs = json_object_get(s->desc, "output-files");
	for (size_t i = 0; i < json_array_size(outputs); i++) {
		const json_t *o = json_array_get(outputs, i);
		const char *id = json_get_str(o, "id");
		if (!id)
			continue;
		const char *name = NULL;
		if (json_object_get(o, "path-template")) {
			name = json_get_str(s->out, id);
			if (!name)
				name = json_get_str(o, "path-template");
		} else {
			const json_t *cpt = json_object_get(o, "conditional-path-template");
			for (size_t k = 0; k < json_array_size(cpt) && !name; k++) {
				const json_t *obj = json_array_get(cpt, k);
				const char *key = NULL;
				json_t *pv;
				json_object_foreach((json_t *)obj, key, pv) break;
				if (!key)
					continue;
				_cleanup_strv_ char **expr = cond_substitute(s, key);
				if (expr[0] && !strcmp(expr[0], "default") && !expr[1]) {
					name = json_get_str(obj, "default");
					break;
				}
				int r = cond_eval(expr, err);
				if (r < 0)
					return ferr_wrap(err, "output '%s': condition \"%s\"", id, key);
				if (r)
					name = json_string_value(pv);
			}
			/* No condition true and no default: bosh reuses the previous
			 * output's path (a leftover variable); ferry gives this output none. */
			if (!name)
				continue;
		}
		if (!name)
			continue;
		_cleanup_free_ char *copy = xstrdup(name);
		char *p = replace_keys(s, copy, false, UNFOUND_KEEP,
				       json_object_get(o, "path-template-stripped-extensions"), true, false);
		if (json_is_true(json_object_get(o, "uses-absolute-path")) && p[0] != '/') {
			char cwd[4096];
			if (getcwd(cwd, sizeof cwd)) {
				_cleanup_free_ char *j = path_join(cwd, p);
				free(p);
				p = path_normalize(j);
			}
		} else if (json_is_true(json_object_get(o, "uses-absolute-path"))) {
			char *n = path_normalize(p);
			free(p);
			p = n;
		}
		json_object_set_new(s->out, id, json_string(p));
		free(p);
	}
	return 0;
}

static int write_config_files(struct subst *s, struct ferr *err)
{
	const json_t *outputs = json_object_get(s->desc, "output-files");
	for (size_t i = 0; i < json_array_size(outputs); i++) {
		const json_t *o = json_array_get(outputs, i);
		const json_t *ft = json_object_get(o, "file-template");
		const char *id = json_get_str(o, "id");
		const char *path = id ? json_get_str(s->out, id) : NULL;
		if (!ft || !path)
			continue;
		struct dstr text = DSTR_INIT;
		dstr_append(&text, "");
		for (size_t k = 0; k < json_array_size(ft); k++) {
			const char *line = json_string_value(json_array_get(ft, k)) ?: "";
			char *l = replace_keys(s, line, false, UNFOUND_CLEAR,
					       json_object_get(o, "path-template-stripped-extensions"), false, true);
			if (k)
				dstr_appendc(&text, '\n');
			if (l)
				dstr_append(&text, l);
			free(l);
		}
		_cleanup_free_ char *dir = path_dirname(path);
		if (strcmp(dir, ".") && fs_mkdir_p(dir, 0777, err) < 0) {
			dstr_free(&text);
			return ferr_wrap(err, "config file of output '%s'", id);
		}
		/* Plain write, not fsync'ed: the tool reads it right away on this host,
		 * and simulate must stay fast. */
		_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		if (fd < 0 || fs_write_all(fd, text.buf, text.len) < 0) {
			dstr_free(&text);
			return ferr_set(err, errno, "write config file %s of output '%s'", path, id);
		}
		dstr_free(&text);
	}
	return 0;
}

int app_job_build(struct app_job *job, const json_t *desc, const json_t *inv, unsigned flags, struct ferr *err)
{
	memset(job, 0, sizeof *job);
	job->inputs = json_deep_copy(inv);
	job->outputs = json_object();
	struct subst s = { desc, job->inputs, job->outputs };
	/* twice: the second pass lets path templates use other outputs' keys */
	if (output_names(&s, err) < 0 || output_names(&s, err) < 0)
		goto fail;
	if ((flags & APP_WRITE_CONFIG) && write_config_files(&s, err) < 0)
		goto fail;
	job->cmdline = replace_keys(&s, json_get_str(desc, "command-line") ?: "", true, UNFOUND_REMOVE, NULL,
				    false, true);
	return 0;
fail:
	app_job_free(job);
	return -1;
}

void app_job_free(struct app_job *job)
{
	json_decref(job->inputs);
	json_decref(job->outputs);
	free(job->cmdline);
	memset(job, 0, sizeof *job);
}
