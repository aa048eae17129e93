/* Names, FERRY_WRAP_OPTS and string literals for module files: the small
 * parsers of wrap/, each unit-tested (tests/unit/wrap). */
#include <string.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "wrap/wrap.h"

const char *wrap_rule_name(enum wrap_rule r)
{
	switch (r) {
	case WRAP_RULE_DEPLOY: return "DEPLOY_PATH/DEPLOY_BINS";
	case WRAP_RULE_OPTIONS: return "--bins/--path";
	case WRAP_RULE_BOUTIQUES: return "/boutique/*.json";
	case WRAP_RULE_EXEC: return "the catalog's exec";
	}
	return "?";
}

/* Names become file names, module names (Lmod splits on '/', hides names
 * starting with '.') and words of generated Lua/Tcl: a small alphabet
 * keeps all of them safe. '_' is an ordinary character: names are never
 * split on it (Neurodesk's `cut -d_` is the weak spot we avoid). */
bool wrap_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '+' || c == '-'))
			return false;
	}
	return true;
}

int wrap_parse_name(const char *s, char **tool, char **version, struct ferr *err)
{
	const char *slash = strchr(s, '/');
	if (!slash)
		return ferr_setc(err, FERR_USAGE, 0, "--name %s: want TOOL/VERSION", s);
	_cleanup_free_ char *t = xstrndup(s, (size_t)(slash - s));
	const char *v = slash + 1;
	if (!wrap_name_valid(t) || !wrap_name_valid(v)) {
		ferr_setc(err, FERR_USAGE, 0, "--name %s: '%s' is not a valid file name", s,
			  wrap_name_valid(t) ? v : t);
		return ferr_hint(err, "use letters, digits and . _ + - (not first: . or -)");
	}
	*tool = steal_ptr(&t);
	*version = xstrdup(v);
	return 0;
}

/* Options of ferry exec that take the next word as their argument. */
static bool takes_arg(const char *w)
{
	static const char *const with_arg[] = {"-B", "--bind", "-e", "--env", "--env-file", "--home", "--pwd",
					       "--scratch", NULL};
	for (size_t i = 0; with_arg[i]; i++)
		if (!strcmp(w, with_arg[i]))
			return true;
	return false;
}

int wrap_split_opts(const char *text, char ***words, struct ferr *err)
{
	_cleanup_strv_ char **v = NULL;
	const char *p = text ? text : "";
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		struct dstr w = DSTR_INIT;
		char quote = 0;
		dstr_append(&w, "");
		for (; *p; p++) {
			if (quote == '\'') {
				if (*p == '\'')
					quote = 0;
				else
					dstr_appendc(&w, *p);
			} else if (*p == '\\' && quote != '\'' && p[1]) {
				dstr_appendc(&w, *++p);
			} else if (quote == '"') {
				if (*p == '"')
					quote = 0;
				else
					dstr_appendc(&w, *p);
			} else if (*p == '\'' || *p == '"') {
				quote = *p;
			} else if (*p == ' ' || *p == '\t' || *p == '\n') {
				break;
			} else {
				dstr_appendc(&w, *p);
			}
		}
		if (quote) {
			dstr_free(&w);
			return ferr_setc(err, FERR_USAGE, 0, "FERRY_WRAP_OPTS: unterminated %c quote", quote);
		}
		strv_push(&v, w.buf);
		dstr_free(&w);
	}
	for (size_t i = 0; v && v[i]; i++) {
		if (v[i][0] != '-' || !strcmp(v[i], "-") || !strcmp(v[i], "--")) {
			ferr_setc(err, FERR_USAGE, 0, "FERRY_WRAP_OPTS: '%s' is not an option of ferry exec", v[i]);
			return ferr_hint(err, "it holds options such as --gpu -B /data");
		}
		if (takes_arg(v[i]) && !v[++i])
			return ferr_setc(err, FERR_USAGE, 0, "FERRY_WRAP_OPTS: %s needs an argument", v[i - 1]);
	}
	*words = steal_ptr(&v);
	return 0;
}

char *wrap_lua_quote(const char *s)
{
	struct dstr d = DSTR_INIT;
	dstr_appendc(&d, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			dstr_printf(&d, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			dstr_printf(&d, "\\%03u", *p); /* decimal escapes: Lua's \ddd */
		else
			dstr_appendc(&d, (char)*p);
	}
	dstr_appendc(&d, '"');
	return dstr_steal(&d);
}

/* A Tcl word in double quotes where nothing is substituted: $ [ ] \ "
 * escaped, control bytes as octal. */
char *wrap_tcl_quote(const char *s)
{
	struct dstr d = DSTR_INIT;
	dstr_appendc(&d, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (strchr("\"\\$[]{}", *p))
			dstr_printf(&d, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			dstr_printf(&d, "\\%03o", *p);
		else
			dstr_appendc(&d, (char)*p);
	}
	dstr_appendc(&d, '"');
	return dstr_steal(&d);
}
