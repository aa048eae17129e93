/* Invocations: the invocation schema bosh generates from a descriptor
 * (invocationSchemaHandler.py, reproduced key for key, including the JSON
 * objects it shares between several places so later updates show in all of
 * them), defaults, validation, and integers beyond 64 bits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "app/internal.h"
#include "base/cleanup.h"
#include "base/json.h"

/* ---- integers beyond 64 bits ----
 * bosh reads JSON with Python, whose ints have no size limit, and prints
 * them exactly (str(v)). jansson stops at 64 bits ("too big integer"), so
 * such an integer is kept as its literal digits: a jansson string whose
 * bytes are the digits, a NUL, then "int". No string read from JSON holds
 * a NUL (jansson refuses \u0000), so nothing else looks like one, and
 * json_string_value() gives the digits, which is what str() prints. */
static const char bigint_tag[] = "\0int"; /* with its own NUL: 5 bytes, 4 used */
#define BIGINT_TAG_LEN 4

bool app_json_is_bigint(const json_t *v)
{
	if (!json_is_string(v))
		return false;
	const char *s = json_string_value(v);
	size_t d = strlen(s);
	return d > 0 && json_string_length(v) == d + BIGINT_TAG_LEN && !memcmp(s + d, bigint_tag, BIGINT_TAG_LEN);
}

json_t *app_json_bigint(const char *digits, size_t n)
{
	_cleanup_free_ char *b = xmalloc(n + sizeof bigint_tag);
	memcpy(b, digits, n);
	memcpy(b + n, bigint_tag, sizeof bigint_tag); /* the tag and a final NUL */
	return json_stringn(b, n + BIGINT_TAG_LEN);
}

/* An integer literal of [s, e) that jansson refuses (beyond long long). */
static bool too_big(const char *s, const char *e)
{
	char buf[64];
	size_t n = (size_t)(e - s);
	if (n >= sizeof buf)
		return true; /* 63 digits are beyond 64 bits anyway */
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	(void)strtoll(buf, NULL, 10);
	return errno == ERANGE;
}

struct bigint_lit {
	size_t at, len; /* in the text */
	bool seen;      /* its placeholder was found in the tree */
};

/* N for a string "\u0001N" (N decimal digits only), else -1. */
static long placeholder(const json_t *x)
{
	const char *s = json_string_value(x);
	if (!s || s[0] != '\1' || s[1] < '0' || s[1] > '9' || strlen(s) > 12)
		return -1;
	char *end;
	long k = strtol(s + 1, &end, 10);
	return *end ? -1 : k;
}

/* Replace the placeholders ("\u0001N") in the tree by the integers. false:
 * a placeholder that is not ours (a string spelling one: seen twice, or a
 * number we did not replace); the caller then refuses the text as before. */
static bool bigint_restore(json_t *j, const char *text, struct bigint_lit *lits, size_t n)
{
	if (json_is_array(j)) {
		for (size_t i = 0; i < json_array_size(j); i++) {
			json_t *x = json_array_get(j, i);
			long k = placeholder(x);
			if (k >= 0) {
				if ((size_t)k >= n || lits[k].seen)
					return false;
				lits[k].seen = true;
				json_array_set_new(j, i, app_json_bigint(text + lits[k].at, lits[k].len));
			} else if (!bigint_restore(x, text, lits, n))
				return false;
		}
	} else if (json_is_object(j)) {
		const char *key;
		json_t *x;
		json_object_foreach(j, key, x) {
			long k = placeholder(x);
			if (k >= 0) {
				if ((size_t)k >= n || lits[k].seen)
					return false;
				lits[k].seen = true;
				json_object_set_new(j, key, app_json_bigint(text + lits[k].at, lits[k].len));
			} else if (!bigint_restore(x, text, lits, n))
				return false;
		}
	}
	return true;
}

json_t *app_json_parse(const char *text, size_t len, const char *what, struct ferr *err)
{
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &je);
	if (j || !strstr(je.text, "too big")) {
		if (!j)
			ferr_setc(err, FERR_INVALID, 0, "%s:%d:%d: invalid JSON: %s", what, je.line, je.column,
				  je.text);
		return j;
	}
	/* Each integer literal jansson refuses becomes a string placeholder of
	 * the same length ("\u0001N" and spaces: 19 digits at least, so it
	 * fits), which keeps the lines and columns of any other error. */
	_cleanup_free_ char *copy = xmalloc(len + 1);
	memcpy(copy, text, len);
	copy[len] = '\0';
	struct bigint_lit *lits = NULL;
	size_t n = 0;
	for (size_t i = 0; i < len;) {
		char c = text[i];
		if (c == '"') {
			for (i++; i < len && text[i] != '"'; i++)
				if (text[i] == '\\')
					i++;
			i++;
			continue;
		}
		if (c != '-' && (c < '0' || c > '9')) {
			i++;
			continue;
		}
		size_t s = i, e = i + (c == '-');
		while (e < len && text[e] >= '0' && text[e] <= '9')
			e++;
		bool integer = !(e < len && (text[e] == '.' || text[e] == 'e' || text[e] == 'E'));
		if (integer && e > s + (c == '-') && too_big(text + s, text + e)) {
			char ph[32];
			int pl = snprintf(ph, sizeof ph, "\"\\u0001%zu\"", n);
			if (pl < 0 || (size_t)pl > e - s)
				break; /* cannot happen below 10^11 literals */
			memset(copy + s, ' ', e - s);
			memcpy(copy + s, ph, (size_t)pl);
			lits = xrealloc(lits, (n + 1) * sizeof *lits);
			lits[n++] = (struct bigint_lit){ s, e - s, false };
		}
		/* the rest of the number: fraction, exponent */
		while (e < len && text[e] && strchr("0123456789.eE+-", text[e]))
			e++;
		i = e;
	}
	j = json_loadb(copy, len, JSON_DECODE_ANY, &je);
	long root = j ? placeholder(j) : -1;
	if (root == 0 && n == 1) { /* the text is the integer alone */
		json_decref(j);
		j = app_json_bigint(text + lits[0].at, lits[0].len);
		lits[0].seen = true;
	}
	bool ours = j && (root < 0 || (n && lits[0].seen)) && bigint_restore(j, text, lits, n);
	for (size_t k = 0; ours && k < n; k++)
		ours = lits[k].seen;
	free(lits);
	if (!j) {
		ferr_setc(err, FERR_INVALID, 0, "%s:%d:%d: invalid JSON: %s", what, je.line, je.column, je.text);
		return NULL;
	}
	if (!ours) {
		json_decref(j);
		/* the first error jansson saw */
		json_decref(json_loadb(text, len, JSON_DECODE_ANY, &je));
		ferr_setc(err, FERR_INVALID, 0, "%s:%d:%d: invalid JSON: %s", what, je.line, je.column, je.text);
		return NULL;
	}
	return j;
}

char *app_json_dumps(const json_t *j, size_t flags)
{
	static const char tail[] = "\\u0000int\""; /* how jansson writes the tag */
	char *s = json_dumps(j, flags);
	if (!s || !strstr(s, tail))
		return s;
	/* "DIGITS\u0000int" -> DIGITS: a NUL is in no other string */
	char *w = s;
	for (const char *r = s; *r;) {
		if (*r == '"') {
			const char *d = r + 1, *e = d + (*d == '-');
			while (*e >= '0' && *e <= '9')
				e++;
			if (e > d + (*d == '-') && !strncmp(e, tail, strlen(tail))) {
				memmove(w, d, (size_t)(e - d));
				w += e - d;
				r = e + strlen(tail);
				continue;
			}
			/* copy the whole string, escapes included */
			*w++ = *r++;
			while (*r && *r != '"') {
				if (*r == '\\' && r[1])
					*w++ = *r++;
				*w++ = *r++;
			}
			if (*r)
				*w++ = *r++;
			continue;
		}
		*w++ = *r++;
	}
	*w = '\0';
	return s;
}

static bool truthy(const json_t *v)
{
	if (!v || json_is_null(v) || json_is_false(v))
		return false;
	if (json_is_integer(v))
		return json_integer_value(v) != 0;
	if (json_is_real(v))
		return json_real_value(v) != 0;
	if (json_is_string(v))
		return json_string_length(v) > 0;
	if (json_is_array(v))
		return json_array_size(v) > 0;
	if (json_is_object(v))
		return json_object_size(v) > 0;
	return true;
}

static bool is_flag(const json_t *desc, const char *id)
{
	const json_t *in = desc_find(desc, "inputs", id);
	const char *t = json_get_str(in, "type");
	return t && !strcmp(t, "Flag");
}

static json_t *enum_of(json_t *v)
{
	return json_pack("{s:[o]}", "enum", v);
}

static json_t *undertype(const json_t *in)
{
	const char *type = json_get_str(in, "type") ?: "String";
	if (truthy(json_object_get(in, "integer")))
		return json_pack("{s:s}", "type", "integer");
	if (truthy(json_object_get(in, "value-choices")))
		return json_pack("{s:O}", "enum", json_object_get(in, "value-choices"));
	if (!strcmp(type, "File"))
		return json_pack("{s:s}", "type", "string");
	if (!strcmp(type, "Flag"))
		return json_pack("{s:s}", "type", "boolean");
	char low[16];
	size_t n = strlen(type) < sizeof low - 1 ? strlen(type) : sizeof low - 1;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)(type[i] >= 'A' && type[i] <= 'Z' ? type[i] + 32 : type[i]);
	low[n] = '\0';
	return json_pack("{s:s}", "type", low);
}

json_t *app_invocation_schema_generate(const json_t *desc)
{
	const char *name = json_get_str(desc, "name") ?: "";
	_cleanup_free_ char *title = xasprintf("%s.invocationSchema", name);
	_cleanup_free_ char *lname = xstrdup(name);
	for (char *p = lname; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	_cleanup_free_ char *descr = xasprintf("Invocation schema for %s.", lname);
	json_t *schema = json_pack("{s:s,s:s,s:s,s:s,s:b}", "$schema", "http://json-schema.org/draft-04/schema#",
				   "title", title, "description", descr, "type", "object",
				   "additionalProperties", 0);
	const json_t *inputs = json_object_get(desc, "inputs");
	if (!inputs || json_is_null(inputs))
		return schema;
	const json_t *groups = json_object_get(desc, "groups");

	json_t *props = json_object();
	for (size_t i = 0; i < json_array_size(inputs); i++) {
		const json_t *in = json_array_get(inputs, i);
		const char *id = json_get_str(in, "id") ?: "";
		json_t *h, *target;
		if (truthy(json_object_get(in, "list"))) {
			h = json_pack("{s:s,s:o}", "type", "array", "items", undertype(in));
			if (truthy(json_object_get(in, "min-list-entries")))
				json_object_set(h, "minItems", json_object_get(in, "min-list-entries"));
			if (truthy(json_object_get(in, "max-list-entries")))
				json_object_set(h, "maxItems", json_object_get(in, "max-list-entries"));
			target = json_object_get(h, "items");
		} else
			target = h = undertype(in);
		const json_t *x;
		if ((x = json_object_get(in, "minimum")) && !json_is_null(x))
			json_object_set(target, "minimum", (json_t *)x);
		if ((x = json_object_get(in, "maximum")) && !json_is_null(x))
			json_object_set(target, "maximum", (json_t *)x);
		if (truthy(x = json_object_get(in, "exclusive-minimum")))
			json_object_set(target, "exclusiveMinimum", (json_t *)x);
		if (truthy(x = json_object_get(in, "exclusive-maximum")))
			json_object_set(target, "exclusiveMaximum", (json_t *)x);
		json_object_set_new(props, id, h);
	}
	json_object_set_new(schema, "properties", props);

	json_t *req = json_array();
	for (size_t i = 0; i < json_array_size(inputs); i++) {
		const json_t *in = json_array_get(inputs, i);
		if (!truthy(json_object_get(in, "optional")))
			json_array_append_new(req, json_string(json_get_str(in, "id") ?: ""));
	}
	if (json_array_size(req))
		json_object_set_new(schema, "required", req);
	else
		json_decref(req);

	/* one-is-required groups: at least one member present (a Flag: true) */
	json_t *allof = json_array();
	for (size_t g = 0; g < json_array_size(groups); g++) {
		const json_t *grp = json_array_get(groups, g);
		if (!truthy(json_object_get(grp, "one-is-required")))
			continue;
		json_t *any = json_array();
		const json_t *mem = json_object_get(grp, "members");
		for (size_t m = 0; m < json_array_size(mem); m++) {
			const char *mid = json_string_value(json_array_get(mem, m)) ?: "";
			if (is_flag(desc, mid))
				json_array_append_new(any, json_pack("{s:{s:o},s:[s]}", "properties", mid,
								     enum_of(json_true()), "required", mid));
			else
				json_array_append_new(any, json_pack("{s:[s]}", "required", mid));
		}
		json_array_append_new(allof, json_pack("{s:o}", "anyOf", any));
	}
	if (json_array_size(allof))
		json_object_set_new(schema, "allOf", allof);
	else
		json_decref(allof);

	/* requires-inputs, disables-inputs and mutually-exclusive groups */
	json_t *deps = json_object();
	for (size_t i = 0; i < json_array_size(inputs); i++) {
		const json_t *in = json_array_get(inputs, i);
		const char *id = json_get_str(in, "id") ?: "";
		json_t *reqs = json_array();
		const json_t *ri = json_object_get(in, "requires-inputs");
		for (size_t k = 0; k < json_array_size(ri); k++)
			json_array_append(reqs, json_array_get(ri, k));
		json_t *disbs = json_array();
		const json_t *di = json_object_get(in, "disables-inputs");
		for (size_t k = 0; k < json_array_size(di); k++)
			json_array_append(disbs, json_array_get(di, k));
		/* bosh tests the key's presence: "mutually-exclusive": false counts too */
		for (size_t g = 0; g < json_array_size(groups); g++) {
			const json_t *grp = json_array_get(groups, g);
			const json_t *mem = json_object_get(grp, "members");
			bool member = false;
			for (size_t m = 0; m < json_array_size(mem); m++)
				member |= !strcmp(json_string_value(json_array_get(mem, m)) ?: "", id);
			if (!json_object_get(grp, "mutually-exclusive") || !member)
				continue;
			for (size_t m = 0; m < json_array_size(mem); m++)
				if (strcmp(json_string_value(json_array_get(mem, m)) ?: "", id))
					json_array_append(disbs, json_array_get(mem, m));
		}
		json_t *h = NULL;
		if (json_array_size(reqs)) {
			json_t *reqmap = json_object();
			for (size_t k = 0; k < json_array_size(reqs); k++) {
				const char *r = json_string_value(json_array_get(reqs, k)) ?: "";
				if (is_flag(desc, r))
					json_object_set_new(reqmap, r, enum_of(json_true()));
			}
			if (is_flag(desc, id)) {
				h = json_pack("{s:[{s:O,s:O},{s:{s:o}}]}", "anyOf", "properties", reqmap, "required", reqs,
					      "properties", id, enum_of(json_false()));
			} else {
				h = json_object();
				/* a required group: any one of its members */
				json_t *snapshot = json_copy(reqs);
				for (size_t k = 0; k < json_array_size(snapshot); k++) {
					const char *r = json_string_value(json_array_get(snapshot, k)) ?: "";
					const json_t *grp = desc_find(desc, "groups", r);
					if (!grp || desc_find(desc, "inputs", r))
						continue;
					for (size_t q = 0; q < json_array_size(reqs); q++)
						if (!strcmp(json_string_value(json_array_get(reqs, q)) ?: "", r)) {
							json_array_remove(reqs, q);
							break;
						}
					json_t *any = json_array();
					json_object_set_new(h, "anyOf", any);
					const json_t *mem = json_object_get(grp, "members");
					for (size_t m = 0; m < json_array_size(mem); m++) {
						const char *mid = json_string_value(json_array_get(mem, m)) ?: "";
						json_t *ps = json_object_get(props, mid);
						if (ps)
							json_object_set(reqmap, mid, ps);
						json_t *rq = json_copy(reqs);
						json_array_append_new(rq, json_string(mid));
						json_array_append_new(any, json_pack("{s:O,s:o}", "properties", reqmap, "required", rq));
					}
				}
				json_decref(snapshot);
				json_object_set(h, "properties", reqmap);
				if (json_array_size(reqs))
					json_object_set(h, "required", reqs);
			}
			json_decref(reqmap);
		}
		if (json_array_size(disbs)) {
			if (!h)
				h = json_object();
			json_t *dmap = json_object();
			for (size_t k = 0; k < json_array_size(disbs); k++) {
				const char *dd = json_string_value(json_array_get(disbs, k)) ?: "";
				if (is_flag(desc, dd))
					json_object_set_new(dmap, dd, json_pack("{s:[{s:{}},o]}", "oneOf", "not",
										 enum_of(json_false())));
				else
					json_object_set_new(dmap, dd, json_pack("{s:{}}", "not"));
			}
			if (is_flag(desc, id)) {
				json_t *any = json_object_get(h, "anyOf");
				if (!any)
					json_object_set_new(h, "anyOf", json_pack("[{s:O},{s:{s:o}}]", "properties", dmap,
										  "properties", id, enum_of(json_false())));
				else
					json_object_update(json_object_get(json_array_get(any, 0), "properties"), dmap);
			} else {
				if (!json_object_get(h, "properties"))
					json_object_set_new(h, "properties", json_object());
				json_object_update(json_object_get(h, "properties"), dmap);
			}
			json_decref(dmap);
		}
		if (h)
			json_object_set_new(deps, id, h);
		json_decref(reqs);
		json_decref(disbs);
	}
	json_object_set_new(schema, "dependencies", deps);
	return schema;
}

json_t *app_invocation_schema(const json_t *desc)
{
	json_t *own = json_object_get(desc, "invocation-schema");
	if (json_is_object(own))
		return json_incref(own);
	return app_invocation_schema_generate(desc);
}

json_t *app_invocation_with_defaults(const json_t *desc, const json_t *inv)
{
	json_t *out = json_is_object(inv) ? json_deep_copy(inv) : json_object();
	const json_t *inputs = json_object_get(desc, "inputs");
	for (size_t i = 0; i < json_array_size(inputs); i++) {
		const json_t *in = json_array_get(inputs, i);
		const char *id = json_get_str(in, "id");
		const json_t *dv = json_object_get(in, "default-value");
		if (!id || !dv)
			continue;
		const json_t *cur = json_object_get(out, id);
		if (!cur || json_is_null(cur))
			json_object_set(out, id, (json_t *)dv);
	}
	/* A null left (no default) is kept: bosh's invocation schema refuses it
	 * ("None is not of type 'string'"), and so does ferry's. */
	return out;
}

/* Is the input set, in the sense of the group rules (a Flag only when true)? */
static bool present(const json_t *desc, const json_t *inv, const char *id)
{
	const json_t *v = json_object_get(inv, id);
	if (!v)
		return false;
	if (is_flag(desc, id))
		return json_is_true(v);
	return true;
}

size_t app_validate_invocation(const json_t *desc, const json_t *inv, struct app_problems *out)
{
	size_t before = out->n;
	if (!json_is_object(inv)) {
		app_problems_add(out, "", "invocation must be a JSON object");
		return out->n - before;
	}
	_cleanup_json_ json_t *schema = app_invocation_schema(desc);
	app_json_schema_validate(schema, inv, out);
	if (out->n > before)
		return out->n - before;
	/* A descriptor's own invocation-schema may let a null through: it is
	 * no value a command line can hold (bosh fails on it, shlex.quote(None)). */
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)inv, k, v) {
		if (json_is_null(v))
			app_problems_add(out, k, "None is not a value for '%s': give one, or leave the input out", k);
	}
	return out->n - before;
}

size_t app_invocation_soft_rules(const json_t *desc, const json_t *inv, struct app_problems *out)
{
	size_t before = out->n;
	if (!json_is_object(inv))
		return 0;
	/* What bosh leaves to the tool (reference 1.4, 7): all-or-none groups,
	 * value-requires and value-disables. One problem per violation. */
	const json_t *groups = json_object_get(desc, "groups");
	for (size_t g = 0; g < json_array_size(groups); g++) {
		const json_t *grp = json_array_get(groups, g);
		if (!json_is_true(json_object_get(grp, "all-or-none")))
			continue;
		const json_t *mem = json_object_get(grp, "members");
		size_t n = 0;
		for (size_t m = 0; m < json_array_size(mem); m++)
			n += present(desc, inv, json_string_value(json_array_get(mem, m)) ?: "");
		if (n && n < json_array_size(mem)) {
			struct dstr missing = DSTR_INIT;
			for (size_t m = 0; m < json_array_size(mem); m++) {
				const char *mid = json_string_value(json_array_get(mem, m)) ?: "";
				if (!present(desc, inv, mid))
					dstr_printf(&missing, "%s'%s'", missing.len ? ", " : "", mid);
			}
			app_problems_add(out, "", "all-or-none group '%s': %s must be given too",
					 json_get_str(grp, "id") ?: "", missing.buf);
			dstr_free(&missing);
		}
	}
	const json_t *inputs = json_object_get(desc, "inputs");
	for (size_t i = 0; i < json_array_size(inputs); i++) {
		const json_t *in = json_array_get(inputs, i);
		const char *id = json_get_str(in, "id") ?: "";
		const json_t *v = json_object_get(inv, id);
		if (!v || json_is_array(v))
			continue;
		_cleanup_free_ char *choice = app_py_str(v);
		const json_t *rq = json_object_get(json_object_get(in, "value-requires"), choice);
		const json_t *ds = json_object_get(json_object_get(in, "value-disables"), choice);
		for (size_t k = 0; k < json_array_size(rq); k++) {
			const char *r = json_string_value(json_array_get(rq, k)) ?: "";
			if (!present(desc, inv, r))
				app_problems_add(out, id, "value '%s' of '%s' requires '%s'", choice, id, r);
		}
		for (size_t k = 0; k < json_array_size(ds); k++) {
			const char *r = json_string_value(json_array_get(ds, k)) ?: "";
			if (present(desc, inv, r))
				app_problems_add(out, id, "value '%s' of '%s' disables '%s'", choice, id, r);
		}
	}
	return out->n - before;
}
