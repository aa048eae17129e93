/* Python's text formatting, as bosh's output depends on it: shlex.quote for
 * every String/File value in a command line, str() for numbers and
 * booleans (3.0, 1e+16, True), repr() in jsonschema's messages. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/internal.h"
#include "base/str.h"

/* shlex.quote: safe characters are ASCII [A-Za-z0-9_@%+=:,./-]; anything
 * else (including every non-ASCII byte) makes the whole value single-quoted,
 * with each ' written as '"'"'. Empty -> ''. */
static bool shlex_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("_@%+=:,./-", c) != NULL;
}

void py_shlex_quote(struct dstr *out, const char *s)
{
	if (!*s) {
		dstr_append(out, "''");
		return;
	}
	const char *p = s;
	while (*p && shlex_safe((unsigned char)*p))
		p++;
	if (!*p) {
		dstr_append(out, s);
		return;
	}
	dstr_appendc(out, '\'');
	for (p = s; *p; p++) {
		if (*p == '\'')
			dstr_append(out, "'\"'\"'");
		else
			dstr_appendc(out, *p);
	}
	dstr_appendc(out, '\'');
}

char *app_shlex_quote(const char *s)
{
	struct dstr d = DSTR_INIT;
	py_shlex_quote(&d, s);
	return dstr_steal(&d);
}

/* repr(float): the shortest digit string that reads back to the same
 * double, in fixed notation when -4 <= exponent < 16, else scientific with a
 * two-digit exponent; integral values keep ".0". */
void py_float(struct dstr *out, double x)
{
	if (isnan(x)) {
		dstr_append(out, "nan");
		return;
	}
	if (isinf(x)) {
		dstr_append(out, x < 0 ? "-inf" : "inf");
		return;
	}
	char buf[64];
	int prec;
	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*e", prec - 1, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	/* buf: [-]d[.ddd]e[+-]XX */
	char digits[32];
	size_t nd = 0;
	const char *p = buf;
	bool neg = false;
	if (*p == '-') {
		neg = true;
		p++;
	}
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			digits[nd++] = *p;
	digits[nd] = '\0';
	int exp = (int)strtol(p + 1, NULL, 10);
	while (nd > 1 && digits[nd - 1] == '0')
		digits[--nd] = '\0';
	if (neg)
		dstr_appendc(out, '-');
	if (exp >= -4 && exp < 16) {
		int decpt = exp + 1;
		if (decpt <= 0) {
			dstr_append(out, "0.");
			for (int i = 0; i < -decpt; i++)
				dstr_appendc(out, '0');
			dstr_append(out, digits);
		} else if ((size_t)decpt >= nd) {
			dstr_append(out, digits);
			for (size_t i = nd; i < (size_t)decpt; i++)
				dstr_appendc(out, '0');
			dstr_append(out, ".0");
		} else {
			dstr_appendn(out, digits, (size_t)decpt);
			dstr_appendc(out, '.');
			dstr_append(out, digits + decpt);
		}
	} else {
		dstr_appendc(out, digits[0]);
		if (nd > 1) {
			dstr_appendc(out, '.');
			dstr_append(out, digits + 1);
		}
		dstr_printf(out, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
	}
}

char *app_py_float_repr(double x)
{
	struct dstr d = DSTR_INIT;
	py_float(&d, x);
	return dstr_steal(&d);
}

/* repr(str): single quotes unless the text has ' and no ". */
static void py_repr_str(struct dstr *out, const char *s)
{
	char q = (strchr(s, '\'') && !strchr(s, '"')) ? '"' : '\'';
	dstr_appendc(out, q);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if (c == '\\')
			dstr_append(out, "\\\\");
		else if (c == (unsigned char)q)
			dstr_printf(out, "\\%c", q);
		else if (c == '\n')
			dstr_append(out, "\\n");
		else if (c == '\r')
			dstr_append(out, "\\r");
		else if (c == '\t')
			dstr_append(out, "\\t");
		else if (c < 0x20 || c == 0x7f)
			dstr_printf(out, "\\x%02x", c);
		else if (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0xa0) {
			/* C1 controls and NBSP are not printable in Python */
			dstr_printf(out, "\\x%02x", p[1]);
			p++;
		} else
			dstr_appendc(out, (char)c);
	}
	dstr_appendc(out, q);
}

void py_repr(struct dstr *out, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		py_repr_str(out, json_string_value(v));
		break;
	case JSON_OBJECT: {
		if (json_object_size(v) == 0) {
			dstr_append(out, "OrderedDict()");
			break;
		}
		dstr_append(out, "OrderedDict([");
		const char *k;
		json_t *x;
		bool first = true;
		json_object_foreach((json_t *)v, k, x) {
			if (!first)
				dstr_append(out, ", ");
			first = false;
			dstr_appendc(out, '(');
			py_repr_str(out, k);
			dstr_append(out, ", ");
			py_repr(out, x);
			dstr_appendc(out, ')');
		}
		dstr_append(out, "])");
		break;
	}
	case JSON_ARRAY: {
		dstr_appendc(out, '[');
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				dstr_append(out, ", ");
			py_repr(out, json_array_get(v, i));
		}
		dstr_appendc(out, ']');
		break;
	}
	default:
		py_str(out, v);
	}
}

void py_str(struct dstr *out, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		dstr_append(out, json_string_value(v));
		break;
	case JSON_INTEGER:
		dstr_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		py_float(out, json_real_value(v));
		break;
	case JSON_TRUE:
		dstr_append(out, "True");
		break;
	case JSON_FALSE:
		dstr_append(out, "False");
		break;
	case JSON_NULL:
		dstr_append(out, "None");
		break;
	default:
		py_repr(out, v);
	}
}

char *app_py_str(const json_t *v)
{
	struct dstr d = DSTR_INIT;
	py_str(&d, v);
	return dstr_steal(&d);
}

char *app_py_repr(const json_t *v)
{
	struct dstr d = DSTR_INIT;
	py_repr(&d, v);
	return dstr_steal(&d);
}

/* Python's == on JSON values: 1 == 1.0, True == 1 (bool is an int),
 * lists and objects element-wise. */
bool py_equal(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	if (json_is_number(a) || json_is_boolean(a)) {
		if (!(json_is_number(b) || json_is_boolean(b)))
			return false;
		double x = json_is_boolean(a) ? json_is_true(a) : json_number_value(a);
		double y = json_is_boolean(b) ? json_is_true(b) : json_number_value(b);
		return x == y;
	}
	if (json_typeof(a) != json_typeof(b))
		return false;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!py_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a)) {
		if (json_object_size(a) != json_object_size(b))
			return false;
		const char *k;
		json_t *x;
		json_object_foreach((json_t *)a, k, x) {
			json_t *y = json_object_get(b, k);
			if (!y || !py_equal(x, y))
				return false;
		}
		return true;
	}
	return json_equal((json_t *)a, (json_t *)b);
}

/* Replace every non-overlapping occurrence of `from` (non-empty) in *s. */
void str_replace_all(char **s, const char *from, const char *to)
{
	size_t fl = strlen(from);
	if (!fl || !strstr(*s, from))
		return;
	struct dstr d = DSTR_INIT;
	const char *p = *s, *q;
	while ((q = strstr(p, from))) {
		dstr_appendn(&d, p, (size_t)(q - p));
		dstr_append(&d, to);
		p = q + fl;
	}
	dstr_append(&d, p);
	free(*s);
	*s = dstr_steal(&d);
}

void app_problems_add(struct app_problems *p, const char *path, const char *fmt, ...)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 16;
		p->v = xrealloc(p->v, p->cap * sizeof *p->v);
	}
	va_list ap;
	va_start(ap, fmt);
	char *m = NULL;
	if (vasprintf(&m, fmt, ap) < 0)
		abort();
	va_end(ap);
	p->v[p->n].path = xstrdup(path ? path : "");
	p->v[p->n].msg = m;
	p->n++;
}

void app_problems_free(struct app_problems *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].path);
		free(p->v[i].msg);
	}
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
}
