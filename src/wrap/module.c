/* Lmod (.lua) and environment-modules (Tcl) module files.
 *
 * A module never names DIR: it finds the shims from its own location
 * (Lmod's myFileName(), Tcl's $ModulesCurrentModulefile, which Lmod's Tcl
 * reader sets too), `depth` directories up, so DIR can move or be
 * published elsewhere (CVMFS) and `module load` still puts the right bin/
 * on PATH. */
#include <string.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "wrap/wrap.h"

/* A Lua long bracket [==[ ... ]==] whose level does not occur in text. */
static void lua_long_string(struct dstr *d, const char *text)
{
	int level = 0;
	for (;;) {
		char close[40];
		snprintf(close, sizeof close, "]%.*s]", level, "==================================");
		if (!strstr(text, close) || level >= 32)
			break;
		level++;
	}
	dstr_printf(d, "[%.*s[\n%s%s]%.*s]", level, "==================================", text,
		    text[0] && text[strlen(text) - 1] != '\n' ? "\n" : "", level, "==================================");
}

static char *joined(char **v, const char *sep)
{
	struct dstr d = DSTR_INIT;
	dstr_append(&d, "");
	for (size_t i = 0; v && v[i]; i++) {
		if (i)
			dstr_append(&d, sep);
		dstr_append(&d, v[i]);
	}
	return dstr_steal(&d);
}

static void lua_text(struct dstr *d, const struct wrap_module_info *m)
{
	dstr_append(d, "-- -*- lua -*-\n-- Written by ferry wrap (doc/wrap.md). The shims are found from this\n"
		       "-- file's own location: DIR may move.\n");
	if (m->help && m->help[0]) {
		dstr_append(d, "help(");
		lua_long_string(d, m->help);
		dstr_append(d, ")\n");
	}
	_cleanup_free_ char *cats = joined(m->categories, ", ");
	const char *lines[][2] = {{"Name", m->tool}, {"Version", m->version}, {"Image", m->image},
				  {"Digest", m->digest}, {"Categories", cats}};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		if (!lines[i][1] || !lines[i][1][0])
			continue;
		_cleanup_free_ char *w = xasprintf("%s: %s", lines[i][0], lines[i][1]);
		_cleanup_free_ char *q = wrap_lua_quote(w);
		dstr_printf(d, "whatis(%s)\n", q);
	}
	dstr_append(d, "local dir = myFileName()\n");
	dstr_printf(d, "for _ = 1, %d do dir = dir:match(\"^(.*)/[^/]*$\") or \".\" end\n", m->depth + 1);
	_cleanup_free_ char *t = wrap_lua_quote(m->tool), *v = wrap_lua_quote(m->version);
	dstr_printf(d, "prepend_path(\"PATH\", pathJoin(dir, %s, %s, \"bin\"))\n", t, v);
	for (size_t i = 0; m->env && m->env[i]; i++) {
		const char *eq = strchr(m->env[i], '=');
		if (!eq)
			continue;
		_cleanup_free_ char *name = xstrndup(m->env[i], (size_t)(eq - m->env[i]));
		_cleanup_free_ char *qn = wrap_lua_quote(name), *qv = wrap_lua_quote(eq + 1);
		dstr_printf(d, "setenv(%s, %s)\n", qn, qv);
	}
}

static void tcl_text(struct dstr *d, const struct wrap_module_info *m)
{
	dstr_append(d, "#%Module1.0\n# Written by ferry wrap (doc/wrap.md). The shims are found from this\n"
		       "# file's own location: DIR may move.\n");
	if (m->help && m->help[0]) {
		dstr_append(d, "proc ModulesHelp { } {\n");
		const char *p = m->help;
		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			_cleanup_free_ char *line = xstrndup(p, n);
			_cleanup_free_ char *q = wrap_tcl_quote(line);
			dstr_printf(d, "\tputs stderr %s\n", q);
			p += n + (nl ? 1 : 0);
		}
		dstr_append(d, "}\n");
	}
	_cleanup_free_ char *cats = joined(m->categories, ", ");
	_cleanup_free_ char *w = xasprintf("%s %s (image %s %s)%s%s", m->tool, m->version, m->image ? m->image : "",
					   m->digest ? m->digest : "", cats[0] ? "; categories: " : "", cats);
	_cleanup_free_ char *qw = wrap_tcl_quote(w);
	dstr_printf(d, "module-whatis %s\n", qw);
	dstr_append(d, "set dir $ModulesCurrentModulefile\n");
	dstr_printf(d, "for {set i 0} {$i < %d} {incr i} { set dir [file dirname $dir] }\n", m->depth + 1);
	_cleanup_free_ char *t = wrap_tcl_quote(m->tool), *v = wrap_tcl_quote(m->version);
	dstr_printf(d, "prepend-path PATH [file join $dir %s %s bin]\n", t, v);
	for (size_t i = 0; m->env && m->env[i]; i++) {
		const char *eq = strchr(m->env[i], '=');
		if (!eq)
			continue;
		_cleanup_free_ char *name = xstrndup(m->env[i], (size_t)(eq - m->env[i]));
		_cleanup_free_ char *qv = wrap_tcl_quote(eq + 1);
		dstr_printf(d, "setenv %s %s\n", name, qv);
	}
}

char *wrap_module_text(const struct wrap_module_info *m, enum wrap_module_format f)
{
	struct dstr d = DSTR_INIT;
	if (f == WRAP_MODULE_TCL)
		tcl_text(&d, m);
	else
		lua_text(&d, m);
	return dstr_steal(&d);
}
