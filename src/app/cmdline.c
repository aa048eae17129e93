/* Command lines, output paths and configuration files, built as bosh's
 * LocalExecutor builds them (_replaceKeysInTemplate and friends): the same
 * quoting (shlex.quote), the same Python str() of numbers, the same removal
 * of unset keys. The quirks that follow from that algorithm are kept on
 * purpose: a command line must be byte-identical to bosh's, or tools
 * validated with bosh break. One is not: bosh substitutes keys one after
 * another into text already substituted (shell injection through a value
 * holding another key); ferry substitutes in one pass (replace_keys).
 * Config files stay beneath the working directory (config_files). */
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
	json_t *tmpl;      /* output id -> the template its path was built from */
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

/* How one parameter's value-key is treated in a template. */
enum rule_kind {
	RULE_VALUE,       /* every KEY becomes the value */
	RULE_DROP,        /* every KEY is removed */
	RULE_DROP_SPACED, /* every " KEY" is removed; a KEY without a space before it stays */
	RULE_KEEP,        /* KEY stays as it is */
};

struct rule {
	const char *key;
	size_t klen;
	enum rule_kind kind;
	char *val; /* RULE_VALUE */
};

/* The value text bosh would insert for parameter p (value val): lists
 * joined, shell-quoted when `escape`, flag and separator prepended,
 * extensions stripped, File outputs' values basenamed when the key is not
 * at position 0 of the template. *is_false: str(False), which is inserted
 * although it looks empty to nothing else. */
static char *param_text(const json_t *p, const json_t *val, bool escape, bool use_flags, const json_t *stripped,
			bool is_output, const char *tmpl, const char *key, bool *is_false)
{
	*is_false = json_is_false(val);
	if (!val)
		return xstrdup("");
	struct dstr v = DSTR_INIT;
	dstr_append(&v, "");
	if (json_is_array(val)) {
		const char *sep = json_get_str(p, "list-separator") ?: " ";
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
	const char *flag = json_get_str(p, "command-line-flag");
	if (use_flags && flag) {
		if (!strcmp(ptype(p), "Flag")) {
			dstr_clear(&v);
			dstr_append(&v, *is_false ? "" : flag);
		} else {
			const char *fsep = json_get_str(p, "command-line-flag-separator") ?: " ";
			char *old = dstr_steal(&v);
			dstr_printf(&v, "%s%s%s", flag, fsep, old);
			free(old);
		}
		*is_false = false;
	}
	char *vs = dstr_steal(&v);
	if (is_str_or_file(p)) {
		for (size_t k = 0; k < json_array_size(stripped); k++) {
			const char *ext = json_string_value(json_array_get(stripped, k));
			if (ext && *ext)
				str_replace_all(&vs, ext, "");
		}
		const char *pos = strstr(tmpl, key);
		if (!strcmp(ptype(p), "File") && is_output && pos && pos > tmpl) {
			char *b = xstrdup(py_basename(vs));
			free(vs);
			vs = b;
		}
	}
	return vs;
}

/* The first rule (in descriptor order) whose key starts at t and acts on
 * it: bosh replaces parameter by parameter, so for a key shared by several
 * parameters (mutually exclusive inputs) the first one that changes the
 * text decides. `spaced`: t follows a space, and " KEY" removal counts. */
static const struct rule *rule_at(const struct rule *r, size_t n, const char *t, bool spaced)
{
	for (size_t i = 0; i < n; i++) {
		if (strncmp(t, r[i].key, r[i].klen))
			continue;
		if (r[i].kind == RULE_VALUE || r[i].kind == RULE_DROP || (spaced && r[i].kind == RULE_DROP_SPACED))
			return &r[i];
	}
	return NULL;
}

/* One pass over the template: every value-key is replaced where the
 * template has it, and inserted text is never scanned again. bosh 0.5.33
 * replaces one key after another in the text already substituted, so a
 * value holding another input's key received that input's (quoted) value
 * inside its own quotes: shell injection (doc/app.md, security). Apart
 * from that, the result is bosh's: the same values, quoting, flags, and
 * removal of unset keys. Returns the new text, or NULL when UNFOUND_CLEAR
 * cleared it. */
static char *replace_keys(const struct subst *s, const char *tmpl, bool use_flags, enum unfound unfound,
			  const json_t *stripped, bool is_output, bool escape_special)
{
	struct rule *rules = NULL;
	size_t n = 0;
	char *result = NULL;
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
			struct rule r = { key, strlen(key), RULE_KEEP, NULL };
			_cleanup_free_ char *sp = xasprintf(" %s", key);
			if (!val) {
				if (unfound == UNFOUND_REMOVE)
					r.kind = strstr(tmpl, sp) ? RULE_DROP_SPACED : RULE_DROP;
				else if (unfound == UNFOUND_CLEAR && strstr(tmpl, key) && !rule_at(rules, n, key, false))
					goto out; /* result NULL: the line is cleared */
			} else {
				bool escape = (escape_special && is_str_or_file(p)) || is_out_val;
				bool is_false;
				r.val = param_text(p, val, escape, use_flags, stripped, is_output, tmpl, key, &is_false);
				/* str(False) is "False": only an empty value removes " KEY" */
				r.kind = *r.val || is_false ? RULE_VALUE : RULE_DROP_SPACED;
			}
			rules = xrealloc(rules, (n + 1) * sizeof *rules);
			rules[n++] = r;
		}
	}
	struct dstr d = DSTR_INIT;
	dstr_append(&d, "");
	for (const char *t = tmpl; *t;) {
		const struct rule *r;
		if (*t == ' ' && (r = rule_at(rules, n, t + 1, true)) && r->kind == RULE_DROP_SPACED) {
			t += 1 + r->klen;
			continue;
		}
		if ((r = rule_at(rules, n, t, false))) {
			if (r->kind == RULE_VALUE)
				dstr_append(&d, r->val);
			t += r->klen;
			continue;
		}
		/* a key that stays: copied whole, so no other key is seen inside it */
		size_t skip = 1;
		for (size_t i = 0; i < n; i++)
			if (!strncmp(t, rules[i].key, rules[i].klen) && rules[i].klen > skip)
				skip = rules[i].klen;
		dstr_appendn(&d, t, skip);
		t += skip;
	}
	result = dstr_steal(&d);
out:
	for (size_t i = 0; i < n; i++)
		free(rules[i].val);
	free(rules);
	return result;
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
	if (cond_depth(tokens) > COND_MAX_DEPTH)
		return ferr_setc(err, FERR_INVALID, 0, "nested deeper than %d levels", COND_MAX_DEPTH);
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
static char **cond_substitute(const struct subst *s, const json_t *outs, const char *key)
{
	_cleanup_strv_ char **tok = cond_tokens(key);
	char **out = xcalloc(1, sizeof *out);
	for (size_t i = 0; tok[i]; i++) {
		const json_t *v = json_object_get(outs, tok[i]);
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

/* One pass of _generateOutputFileNames: each output's path from its
 * template, with s->out the outputs' paths substituted, results into dest
 * (conditions see dest, as bosh's loop sees the paths it has set so far).
 * bosh's second pass substitutes the first pass's paths again, so an input
 * value holding a value-key was expanded there too; ferry's second pass
 * starts from the templates again, with the first pass's paths as s->out. */
static int output_names(struct subst *s, json_t *dest, struct ferr *err)
{
	const json_t *outputs = json_object_get(s->desc, "output-files");
	for (size_t i = 0; i < json_array_size(outputs); i++) {
		const json_t *o = json_array_get(outputs, i);
		const char *id = json_get_str(o, "id");
		if (!id)
			continue;
		const char *name = NULL;
		if (json_object_get(o, "path-template")) {
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
				_cleanup_strv_ char **expr = cond_substitute(s, dest, key);
				if (expr[0] && !strcmp(expr[0], "default") && !expr[1]) {
					name = json_get_str(obj, "default");
					break;
				}
				int r = cond_eval(expr, err);
				if (r < 0)
					return ferr_wrap(err, "output '%s': condition \"%.60s%s\"", id, key,
							 strlen(key) > 60 ? "..." : "");
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
		json_object_set_new(s->tmpl, id, json_string(name));
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
		json_object_set_new(dest, id, json_string(p));
		free(p);
	}
	return 0;
}

/* The directory a config file must stay in. For a relative template, the
 * working directory: an invocation value such as "x/../../../tmp/evil" must
 * not climb out of it. For an absolute template (the descriptor's author
 * chose the place), the directory the template names before its first
 * value-key. */
static char *config_root(const struct subst *s, const char *tmpl)
{
	if (tmpl[0] != '/')
		return NULL;
	size_t fixed = strlen(tmpl);
	static const char *const sections[] = { "inputs", "output-files" };
	for (size_t sec = 0; sec < 2; sec++) {
		const json_t *arr = json_object_get(s->desc, sections[sec]);
		for (size_t i = 0; i < json_array_size(arr); i++) {
			const char *key = json_get_str(json_array_get(arr, i), "value-key");
			const char *at = key && *key ? strstr(tmpl, key) : NULL;
			if (at && (size_t)(at - tmpl) < fixed)
				fixed = (size_t)(at - tmpl);
		}
	}
	size_t slash = fixed;
	while (slash > 0 && tmpl[slash - 1] != '/')
		slash--;
	return slash > 1 ? xstrndup(tmpl, slash - 1) : xstrdup("/");
}

/* Create the directories of rel (relative, never climbing above its start:
 * checked by the caller) beneath dirfd, as os.makedirs would, and open the
 * file for writing, never following a symbolic link: a link planted in the
 * working directory (by an earlier tool, say) cannot take the file
 * elsewhere. ".." goes back to the directory the walk came from, so
 * "a/../b.conf" creates a/ and writes b.conf, as bosh does. */
static int open_beneath(int dirfd, const char *rel, struct ferr *err)
{
	_cleanup_strv_ char **comp = xcalloc(1, sizeof *comp);
	for (const char *p = rel;;) {
		size_t len = strcspn(p, "/");
		_cleanup_free_ char *c = xstrndup(p, len);
		strv_push(&comp, c);
		if (!p[len])
			break;
		p += len + 1;
	}
	size_t n = strv_len(comp), depth = 0;
	int *stack = xcalloc(n + 1, sizeof *stack);
	int fd = -1;
	stack[0] = dirfd;
	for (size_t i = 0; i + 1 < n; i++) {
		const char *c = comp[i];
		if (!*c || !strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			if (depth == 0) {
				ferr_setc(err, FERR_INVALID, 0, "%s climbs out of its directory", rel);
				goto out;
			}
			close(stack[depth--]);
			continue;
		}
		if (mkdirat(stack[depth], c, 0777) < 0 && errno != EEXIST) {
			ferr_set(err, errno, "create directory %s in %s", c, rel);
			goto out;
		}
		int next = openat(stack[depth], c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			ferr_set(err, errno, "%s in %s%s", c, rel, errno == ENOTDIR ? " (a symbolic link?)" : "");
			goto out;
		}
		stack[++depth] = next;
	}
	const char *last = n ? comp[n - 1] : "";
	if (!*last || !strcmp(last, ".") || !strcmp(last, ".."))
		ferr_setc(err, FERR_INVALID, 0, "%s: not a file name", rel);
	else if ((fd = openat(stack[depth], last, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666)) < 0)
		ferr_set(err, errno, "%s%s", rel, errno == ELOOP ? " (a symbolic link)" : "");
out:
	while (depth > 0)
		close(stack[depth--]);
	free(stack);
	return fd;
}

/* Config files (file-template): every path is checked; the files are
 * written only with `write` (launch, and simulate --write-config-files). */
static int config_files(struct subst *s, bool write, struct ferr *err)
{
	const json_t *outputs = json_object_get(s->desc, "output-files");
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd))
		return ferr_set(err, errno, "config files: the working directory");
	for (size_t i = 0; i < json_array_size(outputs); i++) {
		const json_t *o = json_array_get(outputs, i);
		const json_t *ft = json_object_get(o, "file-template");
		const char *id = json_get_str(o, "id");
		const char *path = id ? json_get_str(s->out, id) : NULL;
		if (!ft || !path)
			continue;
		_cleanup_free_ char *root = config_root(s, json_get_str(s->tmpl, id) ?: "");
		_cleanup_free_ char *norm = path_normalize(path);
		const char *rel = NULL;
		if (root) {
			if (!path_is_inside(root, norm))
				return ferr_setc(err, FERR_INVALID, 0,
						 "output '%s': config file %s is not in %s, where the template puts it", id,
						 path, root),
				       ferr_hint(err, "an invocation value cannot take a path out of its directory");
		} else {
			/* relative: walked as written; absolute (uses-absolute-path):
			 * normalised, then taken relative to the working directory */
			if (norm[0] == '/' && path_is_inside(cwd, norm))
				rel = norm + strlen(cwd) + (strcmp(cwd, "/") ? 1 : 0);
			else if (norm[0] != '/' && strcmp(norm, "..") && !str_starts_with(norm, "../"))
				rel = path;
			if (!rel || !*rel || !strcmp(rel, "."))
				return ferr_setc(err, FERR_INVALID, 0,
						 "output '%s': config file %s is not beneath the working directory", id, path),
				       ferr_hint(err, "an invocation value cannot take a path out of the working directory");
		}
		if (!write)
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
		int fd, r = 0;
		if (rel) {
			_cleanup_close_ int here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
			fd = here < 0 ? ferr_set(err, errno, "open the working directory") : open_beneath(here, rel, err);
		} else {
			_cleanup_free_ char *dir = path_dirname(norm);
			fd = fs_mkdir_p(dir, 0777, err);
			if (fd == 0 && (fd = open(norm, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0)
				ferr_set(err, errno, "%s", norm);
		}
		/* Plain write, not fsync'ed: the tool reads it right away on this host. */
		if (fd >= 0) {
			if (fs_write_all(fd, text.buf, text.len) < 0)
				r = ferr_set(err, errno, "write %s", path);
			close(fd);
		}
		dstr_free(&text);
		if (fd < 0 || r < 0)
			return ferr_wrap(err, "config file of output '%s'", id);
	}
	return 0;
}

int app_job_build(struct app_job *job, const json_t *desc, const json_t *inv, unsigned flags, struct ferr *err)
{
	memset(job, 0, sizeof *job);
	job->inputs = json_deep_copy(inv);
	job->outputs = json_object();
	_cleanup_json_ json_t *tmpl = json_object();
	struct subst s = { desc, job->inputs, job->outputs, tmpl };
	/* twice: the second pass lets path templates use other outputs' keys */
	if (output_names(&s, job->outputs, err) < 0)
		goto fail;
	json_t *first = json_deep_copy(job->outputs);
	s.out = first;
	int r = output_names(&s, job->outputs, err);
	s.out = job->outputs;
	json_decref(first);
	if (r < 0)
		goto fail;
	if (config_files(&s, flags & APP_WRITE_CONFIG, err) < 0)
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
