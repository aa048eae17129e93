#include "base/path.h"

#include <stdlib.h>
#include <string.h>

#include "base/str.h"

char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	if (la == 0)
		return xstrdup(b);
	if (*b == '\0')
		return xstrndup(a, la);
	if (la == 1 && a[0] == '/')
		return xasprintf("/%s", b);
	return xasprintf("%.*s/%s", (int)la, a, b);
}

char *path_normalize(const char *p)
{
	bool abs = p[0] == '/';
	size_t n = strlen(p);
	/* Components are kept as (start, length) pairs into p. */
	const char **start = xcalloc(n / 2 + 2, sizeof *start);
	size_t *len = xcalloc(n / 2 + 2, sizeof *len);
	size_t depth = 0;
	const char *s = p;
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		const char *e = strchr(s, '/');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		if (l == 1 && s[0] == '.') {
			/* skip */
		} else if (l == 2 && s[0] == '.' && s[1] == '.') {
			if (depth > 0 && !(len[depth - 1] == 2 && !strncmp(start[depth - 1], "..", 2)))
				depth--;
			else if (!abs) {
				start[depth] = s;
				len[depth++] = l;
			}
		} else {
			start[depth] = s;
			len[depth++] = l;
		}
		s += l;
	}
	struct dstr out = DSTR_INIT;
	if (abs)
		dstr_appendc(&out, '/');
	for (size_t i = 0; i < depth; i++) {
		if (i)
			dstr_appendc(&out, '/');
		dstr_appendn(&out, start[i], len[i]);
	}
	if (out.len == 0)
		dstr_appendc(&out, '.');
	free(start);
	free(len);
	return dstr_steal(&out);
}

bool path_is_inside(const char *root, const char *path)
{
	char *r = path_normalize(root);
	char *p = path_normalize(path);
	bool inside;
	size_t lr = strlen(r);
	if ((r[0] == '/') != (p[0] == '/'))
		inside = false;
	else if (strcmp(r, "/") == 0)
		inside = true;
	else if (strcmp(r, ".") == 0)
		inside = strcmp(p, "..") != 0 && !str_starts_with(p, "../");
	else
		/* A relative root made of ".." only ("..", "../..") is a prefix
		 * of paths that climb further ("../../x"): those are outside. */
		inside = strncmp(r, p, lr) == 0 && (p[lr] == '\0' || p[lr] == '/') &&
			 !(p[lr] == '/' && strncmp(p + lr + 1, "..", 2) == 0 &&
			   (p[lr + 3] == '/' || p[lr + 3] == '\0'));
	free(r);
	free(p);
	return inside;
}

char *path_basename(const char *p)
{
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		n--;
	if (n == 1 && p[0] == '/')
		return xstrdup("/");
	size_t i = n;
	while (i > 0 && p[i - 1] != '/')
		i--;
	return xstrndup(p + i, n - i);
}

char *path_dirname(const char *p)
{
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		n--;
	while (n > 0 && p[n - 1] != '/')
		n--;
	if (n == 0)
		return xstrdup(".");
	while (n > 1 && p[n - 1] == '/')
		n--;
	return xstrndup(p, n);
}
