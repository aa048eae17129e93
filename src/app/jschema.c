/* A JSON-schema draft-04 validator over jansson: the subset of keywords
 * Boutiques' descriptor schema and bosh's generated invocation schemas use,
 * plus the rest of draft-04's validation keywords. Messages are worded as
 * Python's jsonschema words them (bosh prints those), with instances shown
 * as Python repr()s. Every error is reported, not only the first. */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "app/internal.h"

/* Compiled patterns of one validation: the same few patterns (the id
 * pattern of every input, ...) are checked many times. Per validation, not
 * process-wide, so that threads (the batch engine, the server) validate at
 * the same time without sharing anything. */
struct rx {
	char *src;
	regex_t re;
	bool ok;
};
struct rx_cache {
	struct rx v[32];
	size_t n;
};

struct jsv {
	const json_t *root;
	struct app_problems *out; /* NULL: only count */
	size_t nerr;
	struct rx_cache *rx;
};

static void validate(struct jsv *v, const json_t *schema, const json_t *inst, struct dstr *path);
static void js_repr(struct dstr *out, const json_t *v);

static void report(struct jsv *v, const struct dstr *path, const char *fmt, const json_t *a,
		   const char *tail)
{
	v->nerr++;
	if (!v->out)
		return;
	struct dstr m = DSTR_INIT;
	if (a)
		js_repr(&m, a);
	dstr_append(&m, fmt);
	if (tail)
		dstr_append(&m, tail);
	app_problems_add(v->out, path->buf ? path->buf : "", "%s", m.buf);
	dstr_free(&m);
}

/* repr() of an instance in a message; an integer beyond 64 bits as its
 * digits, as Python prints an int. */
static void js_repr(struct dstr *out, const json_t *v)
{
	if (app_json_is_bigint(v))
		dstr_append(out, json_string_value(v));
	else
		py_repr(out, v);
}

/* A number's value (an integer beyond 64 bits approximately); false for
 * anything else, booleans included. */
static bool js_number(const json_t *v, double *x)
{
	if (json_is_number(v)) {
		*x = json_number_value(v);
		return true;
	}
	if (app_json_is_bigint(v)) {
		*x = strtod(json_string_value(v), NULL);
		return true;
	}
	return false;
}

/* jsonschema's equal(): Python's == except that a boolean is never equal to
 * a number (True == 1 in Python, not in JSON schema: bosh's generated
 * schemas refuse `true` for a Number input with value-choices [1, 0]). */
static bool js_equal(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	if (json_is_boolean(a) || json_is_boolean(b))
		return json_is_boolean(a) && json_is_boolean(b) && json_is_true(a) == json_is_true(b);
	if (app_json_is_bigint(a) || app_json_is_bigint(b))
		return json_equal((json_t *)a, (json_t *)b); /* the same digits */
	if (json_is_array(a) && json_is_array(b)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!js_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a) && json_is_object(b)) {
		if (json_object_size(a) != json_object_size(b))
			return false;
		const char *k;
		json_t *x;
		json_object_foreach((json_t *)a, k, x) {
			const json_t *y = json_object_get(b, k);
			if (!y || !js_equal(x, y))
				return false;
		}
		return true;
	}
	return py_equal(a, b);
}

static bool is_type(const json_t *inst, const char *t)
{
	if (!strcmp(t, "object"))
		return json_is_object(inst);
	if (!strcmp(t, "array"))
		return json_is_array(inst);
	if (!strcmp(t, "string"))
		return json_is_string(inst) && !app_json_is_bigint(inst);
	if (!strcmp(t, "integer")) /* draft-04: 1.0 is not an integer */
		return json_is_integer(inst) || app_json_is_bigint(inst);
	if (!strcmp(t, "number"))
		return json_is_number(inst) || app_json_is_bigint(inst);
	if (!strcmp(t, "boolean"))
		return json_is_boolean(inst);
	if (!strcmp(t, "null"))
		return json_is_null(inst);
	return true; /* "any" and unknown types accept everything */
}

static bool rx_search(struct rx_cache *c, const char *pattern, const char *s)
{
	struct rx *r = NULL;
	for (size_t i = 0; i < c->n && !r; i++)
		if (!strcmp(c->v[i].src, pattern))
			r = &c->v[i];
	if (!r) {
		if (c->n >= sizeof c->v / sizeof c->v[0]) {
			regex_t tmp;
			if (regcomp(&tmp, pattern, REG_EXTENDED | REG_NOSUB))
				return true;
			bool m = regexec(&tmp, s, 0, NULL, 0) == 0;
			regfree(&tmp);
			return m;
		}
		r = &c->v[c->n++];
		r->src = xstrdup(pattern);
		r->ok = regcomp(&r->re, pattern, REG_EXTENDED | REG_NOSUB) == 0;
	}
	if (!r->ok)
		return true; /* a pattern POSIX cannot compile is not held against the instance */
	return regexec(&r->re, s, 0, NULL, 0) == 0;
}

static void rx_cache_free(struct rx_cache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].ok)
			regfree(&c->v[i].re);
		free(c->v[i].src);
	}
	c->n = 0;
}

static size_t path_push_key(struct dstr *path, const char *key)
{
	size_t old = path->len;
	if (path->len)
		dstr_appendc(path, '.');
	dstr_append(path, key);
	return old;
}

static size_t path_push_index(struct dstr *path, size_t i)
{
	size_t old = path->len;
	dstr_printf(path, "[%zu]", i);
	return old;
}

static void path_pop(struct dstr *path, size_t old)
{
	if (path->buf) {
		path->len = old;
		path->buf[old] = '\0';
	}
}

static size_t count_errors(struct jsv *v, const json_t *schema, const json_t *inst)
{
	struct jsv sub = { v->root, NULL, 0, v->rx };
	struct dstr p = DSTR_INIT;
	validate(&sub, schema, inst, &p);
	dstr_free(&p);
	return sub.nerr;
}

static const json_t *resolve_ref(struct jsv *v, const char *ref)
{
	if (strncmp(ref, "#", 1))
		return NULL;
	const json_t *cur = v->root;
	const char *p = ref + 1;
	while (*p == '/') {
		p++;
		size_t n = strcspn(p, "/");
		char *tok = xstrndup(p, n);
		/* ~1 -> /, ~0 -> ~ */
		str_replace_all(&tok, "~1", "/");
		str_replace_all(&tok, "~0", "~");
		cur = json_is_array(cur) ? json_array_get(cur, (size_t)strtoul(tok, NULL, 10)) : json_object_get(cur, tok);
		free(tok);
		if (!cur)
			return NULL;
		p += n;
	}
	return cur;
}

static void v_type(struct jsv *v, const json_t *t, const json_t *inst, struct dstr *path)
{
	struct dstr names = DSTR_INIT;
	bool ok = false;
	if (json_is_string(t)) {
		ok = is_type(inst, json_string_value(t));
		py_repr(&names, t);
	} else if (json_is_array(t)) {
		for (size_t i = 0; i < json_array_size(t); i++) {
			const json_t *x = json_array_get(t, i);
			if (json_is_string(x) && is_type(inst, json_string_value(x)))
				ok = true;
			if (i)
				dstr_append(&names, ", ");
			py_repr(&names, x);
		}
	} else
		ok = true;
	if (!ok) {
		struct dstr tail = DSTR_INIT;
		dstr_append(&tail, " is not of type ");
		dstr_append(&tail, names.buf);
		report(v, path, tail.buf, inst, NULL);
		dstr_free(&tail);
	}
	dstr_free(&names);
}

static void v_object(struct jsv *v, const json_t *schema, const json_t *inst, struct dstr *path)
{
	const json_t *req = json_object_get(schema, "required");
	for (size_t i = 0; i < json_array_size(req); i++) {
		const json_t *k = json_array_get(req, i);
		if (json_is_string(k) && !json_object_get(inst, json_string_value(k)))
			report(v, path, " is a required property", k, NULL);
	}
	const json_t *props = json_object_get(schema, "properties");
	const json_t *pprops = json_object_get(schema, "patternProperties");
	const json_t *addl = json_object_get(schema, "additionalProperties");
	struct dstr extra = DSTR_INIT;
	size_t nextra = 0;
	const char *k;
	json_t *x;
	json_object_foreach((json_t *)inst, k, x) {
		bool matched = false;
		const json_t *ps = json_object_get(props, k);
		size_t old = path_push_key(path, k);
		if (ps) {
			matched = true;
			validate(v, ps, x, path);
		}
		const char *pat;
		json_t *psch;
		json_object_foreach((json_t *)pprops, pat, psch) {
			if (rx_search(v->rx, pat, k)) {
				matched = true;
				validate(v, psch, x, path);
			}
		}
		if (!matched && json_is_object(addl))
			validate(v, addl, x, path);
		path_pop(path, old);
		if (!matched && json_is_false(addl)) {
			json_t *ks = json_string(k);
			if (nextra++)
				dstr_append(&extra, ", ");
			py_repr(&extra, ks);
			json_decref(ks);
		}
	}
	if (nextra) {
		struct dstr m = DSTR_INIT;
		dstr_printf(&m, "Additional properties are not allowed (%s %s unexpected)", extra.buf,
			    nextra == 1 ? "was" : "were");
		report(v, path, m.buf, NULL, NULL);
		dstr_free(&m);
	}
	dstr_free(&extra);
	const json_t *n = json_object_get(schema, "minProperties");
	if (json_is_integer(n) && (json_int_t)json_object_size(inst) < json_integer_value(n))
		report(v, path, " does not have enough properties", inst, NULL);
	n = json_object_get(schema, "maxProperties");
	if (json_is_integer(n) && (json_int_t)json_object_size(inst) > json_integer_value(n))
		report(v, path, " has too many properties", inst, NULL);
	const json_t *deps = json_object_get(schema, "dependencies");
	json_object_foreach((json_t *)deps, k, x) {
		if (!json_object_get(inst, k))
			continue;
		if (json_is_array(x)) {
			for (size_t i = 0; i < json_array_size(x); i++) {
				const json_t *d = json_array_get(x, i);
				if (json_is_string(d) && !json_object_get(inst, json_string_value(d))) {
					json_t *ks = json_string(k);
					struct dstr m = DSTR_INIT;
					dstr_append(&m, " is a dependency of ");
					py_repr(&m, ks);
					report(v, path, m.buf, d, NULL);
					dstr_free(&m);
					json_decref(ks);
				}
			}
		} else if (json_is_object(x))
			validate(v, x, inst, path);
	}
}

static void v_array(struct jsv *v, const json_t *schema, const json_t *inst, struct dstr *path)
{
	size_t n = json_array_size(inst);
	const json_t *items = json_object_get(schema, "items");
	if (json_is_object(items)) {
		for (size_t i = 0; i < n; i++) {
			size_t old = path_push_index(path, i);
			validate(v, items, json_array_get(inst, i), path);
			path_pop(path, old);
		}
	} else if (json_is_array(items)) {
		const json_t *addl = json_object_get(schema, "additionalItems");
		for (size_t i = 0; i < n; i++) {
			size_t old = path_push_index(path, i);
			if (i < json_array_size(items))
				validate(v, json_array_get(items, i), json_array_get(inst, i), path);
			else if (json_is_object(addl))
				validate(v, addl, json_array_get(inst, i), path);
			path_pop(path, old);
		}
		if (json_is_false(addl) && n > json_array_size(items))
			report(v, path, "Additional items are not allowed", NULL, NULL);
	}
	const json_t *m = json_object_get(schema, "minItems");
	if (json_is_number(m) && (double)n < json_number_value(m))
		report(v, path, " is too short", inst, NULL);
	m = json_object_get(schema, "maxItems");
	if (json_is_number(m) && (double)n > json_number_value(m))
		report(v, path, " is too long", inst, NULL);
	if (json_is_true(json_object_get(schema, "uniqueItems"))) {
		bool dup = false;
		for (size_t i = 0; i < n && !dup; i++)
			for (size_t j = i + 1; j < n && !dup; j++)
				dup = js_equal(json_array_get(inst, i), json_array_get(inst, j));
		if (dup)
			report(v, path, " has non-unique elements", inst, NULL);
	}
}

/* Length in code points, as Python's len(str). */
static size_t utf8_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static void v_string(struct jsv *v, const json_t *schema, const json_t *inst, struct dstr *path)
{
	const char *s = json_string_value(inst);
	const json_t *m = json_object_get(schema, "minLength");
	if (json_is_number(m) && (double)utf8_len(s) < json_number_value(m))
		report(v, path, " is too short", inst, NULL);
	m = json_object_get(schema, "maxLength");
	if (json_is_number(m) && (double)utf8_len(s) > json_number_value(m))
		report(v, path, " is too long", inst, NULL);
	const json_t *pat = json_object_get(schema, "pattern");
	if (json_is_string(pat) && !rx_search(v->rx, json_string_value(pat), s)) {
		struct dstr t = DSTR_INIT;
		dstr_append(&t, " does not match ");
		py_repr(&t, pat);
		report(v, path, t.buf, inst, NULL);
		dstr_free(&t);
	}
}

static void v_number(struct jsv *v, const json_t *schema, const json_t *inst, struct dstr *path)
{
	double x = 0, b;
	js_number(inst, &x);
	const json_t *m = json_object_get(schema, "minimum");
	if (js_number(m, &b)) {
		bool excl = json_is_true(json_object_get(schema, "exclusiveMinimum"));
		if (excl ? x <= b : x < b) {
			struct dstr t = DSTR_INIT;
			dstr_append(&t, excl ? " is less than or equal to the minimum of " : " is less than the minimum of ");
			js_repr(&t, m);
			report(v, path, t.buf, inst, NULL);
			dstr_free(&t);
		}
	}
	m = json_object_get(schema, "maximum");
	if (js_number(m, &b)) {
		bool excl = json_is_true(json_object_get(schema, "exclusiveMaximum"));
		if (excl ? x >= b : x > b) {
			struct dstr t = DSTR_INIT;
			dstr_append(&t, excl ? " is greater than or equal to the maximum of "
					     : " is greater than the maximum of ");
			js_repr(&t, m);
			report(v, path, t.buf, inst, NULL);
			dstr_free(&t);
		}
	}
	m = json_object_get(schema, "multipleOf");
	if (json_is_number(m) && json_number_value(m) > 0) {
		double q = x / json_number_value(m);
		if (q != (double)(long long)q) {
			struct dstr t = DSTR_INIT;
			dstr_append(&t, " is not a multiple of ");
			py_repr(&t, m);
			report(v, path, t.buf, inst, NULL);
			dstr_free(&t);
		}
	}
}

static void validate(struct jsv *v, const json_t *schema, const json_t *inst, struct dstr *path)
{
	if (!json_is_object(schema))
		return;
	const json_t *ref = json_object_get(schema, "$ref");
	if (json_is_string(ref)) {
		const json_t *target = resolve_ref(v, json_string_value(ref));
		if (target)
			validate(v, target, inst, path);
		return; /* draft-04: $ref siblings are ignored */
	}
	const json_t *t = json_object_get(schema, "type");
	if (t)
		v_type(v, t, inst, path);
	const json_t *e = json_object_get(schema, "enum");
	if (json_is_array(e)) {
		bool found = false;
		for (size_t i = 0; i < json_array_size(e) && !found; i++)
			found = js_equal(json_array_get(e, i), inst);
		if (!found) {
			struct dstr tail = DSTR_INIT;
			dstr_append(&tail, " is not one of ");
			py_repr(&tail, e);
			report(v, path, tail.buf, inst, NULL);
			dstr_free(&tail);
		}
	}
	if (json_is_object(inst))
		v_object(v, schema, inst, path);
	else if (json_is_array(inst))
		v_array(v, schema, inst, path);
	else if (json_is_number(inst) || app_json_is_bigint(inst))
		v_number(v, schema, inst, path);
	else if (json_is_string(inst))
		v_string(v, schema, inst, path);

	const json_t *all = json_object_get(schema, "allOf");
	for (size_t i = 0; i < json_array_size(all); i++)
		validate(v, json_array_get(all, i), inst, path);
	const json_t *any = json_object_get(schema, "anyOf");
	if (json_is_array(any)) {
		bool ok = false;
		for (size_t i = 0; i < json_array_size(any) && !ok; i++)
			ok = count_errors(v, json_array_get(any, i), inst) == 0;
		if (!ok)
			report(v, path, " is not valid under any of the given schemas", inst, NULL);
	}
	const json_t *one = json_object_get(schema, "oneOf");
	if (json_is_array(one)) {
		size_t nok = 0;
		for (size_t i = 0; i < json_array_size(one); i++)
			nok += count_errors(v, json_array_get(one, i), inst) == 0;
		if (nok == 0)
			report(v, path, " is not valid under any of the given schemas", inst, NULL);
		else if (nok > 1)
			report(v, path, " is valid under more than one of the given schemas", inst, NULL);
	}
	const json_t *not = json_object_get(schema, "not");
	if (json_is_object(not) && count_errors(v, not, inst) == 0) {
		struct dstr m = DSTR_INIT;
		py_repr(&m, not);
		dstr_append(&m, " is not allowed for ");
		js_repr(&m, inst);
		report(v, path, m.buf, NULL, NULL);
		dstr_free(&m);
	}
}

size_t app_json_schema_validate(const json_t *schema, const json_t *instance, struct app_problems *out)
{
	struct rx_cache rx = { .n = 0 };
	struct jsv v = { schema, out, 0, &rx };
	struct dstr path = DSTR_INIT;
	dstr_append(&path, "");
	validate(&v, schema, instance, &path);
	dstr_free(&path);
	rx_cache_free(&rx);
	return v.nerr;
}
