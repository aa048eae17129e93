/* The environment of a SIF built by Apptainer (or Singularity), read
 * without running a shell: its /.singularity.d/env scripts. Apptainer
 * sources them before every action; a file that ferry did not export has
 * no image config, and its PATH (Neurodesk's tools, a conda prefix) lives
 * there: 10-docker2singularity.sh holds the Docker image's ENV as
 *   export PATH="/opt/x/bin:/usr/bin"
 *   export LANG="${LANG:-"C.UTF-8"}"
 * and 90-environment.sh the definition file's %environment. Only those
 * plain assignments are taken (values in double or single quotes or bare,
 * with $NAME, ${NAME} and ${NAME:-WORD} expanded from what came before);
 * a line with anything else (command substitution, a condition) is left
 * out: `ferry run FILE` still sources the scripts themselves. */
#include <string.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "runtime/internal.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *lookup(char **env, const char *name, size_t n)
{
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], name, n) && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

static bool name_char(char c, bool first)
{
	return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (!first && c >= '0' && c <= '9');
}

/* Expand one value (quotes removed) into out; false if it holds a shell
 * construct this reader does not take. */
static bool expand(char **env, const char *s, const char *end, struct dstr *out)
{
	char quote = 0;
	while (s < end) {
		char c = *s;
		if (quote != '\'' && (c == '`' || (c == '$' && s + 1 < end && s[1] == '(')))
			return false;
		if ((c == '"' || c == '\'') && (!quote || quote == c)) {
			quote = quote ? 0 : c;
			s++;
			continue;
		}
		if (!quote && (c == ' ' || c == '\t' || c == ';' || c == '&' || c == '|' || c == '<' || c == '>'))
			return false;
		if (c == '\\' && quote != '\'' && s + 1 < end) {
			dstr_appendc(out, s[1]);
			s += 2;
			continue;
		}
		if (c != '$' || quote == '\'') {
			dstr_appendc(out, c);
			s++;
			continue;
		}
		s++;
		bool brace = s < end && *s == '{';
		if (brace)
			s++;
		const char *n0 = s;
		while (s < end && name_char(*s, s == n0))
			s++;
		size_t nl = (size_t)(s - n0);
		if (!nl)
			return false;
		const char *v = lookup(env, n0, nl);
		if (brace) {
			if (s + 1 < end && s[0] == ':' && s[1] == '-') {
				/* ${NAME:-WORD}: WORD up to the matching brace, quotes removed. */
				const char *w = s + 2, *close = w;
				char q = 0;
				while (close < end && (q || *close != '}')) {
					if (*close == '"' || *close == '\'')
						q = q == *close ? 0 : q ? q : *close;
					close++;
				}
				if (close >= end)
					return false;
				if (v && v[0])
					dstr_append(out, v);
				else if (!expand(env, w, close, out))
					return false;
				s = close + 1;
				continue;
			}
			if (s >= end || *s != '}')
				return false;
			s++;
		}
		if (v)
			dstr_append(out, v);
	}
	return !quote;
}

static void set_var(char ***env, const char *name, size_t n, const char *value)
{
	_cleanup_free_ char *kv = xasprintf("%.*s=%s", (int)n, name, value);
	for (size_t i = 0; *env && (*env)[i]; i++)
		if (!strncmp((*env)[i], name, n) && (*env)[i][n] == '=') {
			free((*env)[i]);
			(*env)[i] = steal_ptr(&kv);
			return;
		}
	strv_push(env, kv);
}

void squash_parse_env_script(const char *text, size_t len, char ***env)
{
	/* $PATH in a script means the default one, as in Apptainer. */
	_cleanup_strv_ char **scope = NULL;
	strv_push(&scope, "PATH=" DEFAULT_PATH);
	for (size_t i = 0; *env && (*env)[i]; i++)
		strv_push(&scope, (*env)[i]);
	const char *p = text, *stop = text + len;
	while (p < stop) {
		const char *eol = memchr(p, '\n', (size_t)(stop - p));
		if (!eol)
			eol = stop;
		const char *s = p;
		p = eol + 1;
		while (s < eol && (*s == ' ' || *s == '\t'))
			s++;
		if (eol - s > 7 && !strncmp(s, "export ", 7))
			s += 7;
		const char *n0 = s;
		while (s < eol && name_char(*s, s == n0))
			s++;
		if (s == n0 || s >= eol || *s != '=')
			continue;
		size_t nl = (size_t)(s - n0);
		const char *vend = eol;
		while (vend > s + 1 && (vend[-1] == ' ' || vend[-1] == '\t' || vend[-1] == '\r'))
			vend--;
		struct dstr v = DSTR_INIT;
		dstr_append(&v, "");
		if (expand(scope, s + 1, vend, &v)) {
			set_var(env, n0, nl, v.buf);
			set_var(&scope, n0, nl, v.buf);
		}
		dstr_free(&v);
	}
}
