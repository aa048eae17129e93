/* Building a run_spec: bind lists, `run` argv. No syscalls
 * that change anything: these are pure helpers, unit-tested. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "base/str.h"
#include "runtime/runtime.h"

int runtime_parse_bind(const char *item, struct run_bind *b, struct ferr *err)
{
	_cleanup_free_ char *copy = xstrdup(item);
	char *parts[4] = {0};
	size_t n = 0;
	for (char *s = copy, *tok; (tok = strsep(&s, ":")) != NULL;) {
		if (n == 3)
			return ferr_setc(err, FERR_USAGE, 0, "bind '%s': too many ':' (SRC[:DST[:ro|rw]])", item);
		parts[n++] = tok;
	}
	if (n == 0 || !parts[0][0])
		return ferr_setc(err, FERR_USAGE, 0, "bind '%s': empty source", item);
	bool ro = false;
	if (n == 3) {
		if (!strcmp(parts[2], "ro"))
			ro = true;
		else if (parts[2][0] && strcmp(parts[2], "rw"))
			return ferr_setc(err, FERR_USAGE, 0, "bind '%s': unknown option '%s' (ro or rw)", item, parts[2]);
	}
	const char *dst = n >= 2 && parts[1][0] ? parts[1] : parts[0];
	if (dst[0] != '/')
		return ferr_setc(err, FERR_USAGE, 0, "bind '%s': destination '%s' must be absolute", item, dst);
	_cleanup_free_ char *src = NULL;
	if (parts[0][0] == '/') {
		src = path_normalize(parts[0]);
	} else {
		_cleanup_free_ char *cwd = getcwd(NULL, 0);
		if (!cwd)
			return ferr_set(err, errno, "bind '%s': getcwd", item);
		_cleanup_free_ char *j = path_join(cwd, parts[0]);
		src = path_normalize(j);
	}
	b->dst = path_normalize(dst);
	b->src = steal_ptr(&src);
	b->ro = ro;
	return 0;
}

int runtime_parse_binds(const char *text, struct run_bind **binds, size_t *n, struct ferr *err)
{
	_cleanup_free_ char *copy = xstrdup(text);
	for (char *s = copy, *item; (item = strsep(&s, ",")) != NULL;) {
		if (!item[0])
			continue;
		struct run_bind b;
		if (runtime_parse_bind(item, &b, err) < 0)
			return -1;
		*binds = xrealloc(*binds, (*n + 1) * sizeof **binds);
		(*binds)[(*n)++] = b;
	}
	return 0;
}

void runtime_binds_free(struct run_bind *binds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(binds[i].src);
		free(binds[i].dst);
	}
	free(binds);
}

int runtime_run_argv(const struct image_config *cfg, const char *entrypoint, char **args,
		     char ***argv, struct ferr *err)
{
	char **v = xcalloc(1, sizeof *v);
	if (entrypoint) {
		/* docker: --entrypoint takes one program; "" resets it; the image's
		 * CMD is not used with an overridden entrypoint. */
		if (entrypoint[0])
			strv_push(&v, entrypoint);
	} else if (cfg && cfg->entrypoint) {
		for (char **s = cfg->entrypoint; *s; s++)
			strv_push(&v, *s);
	}
	if (args && args[0]) {
		for (char **s = args; *s; s++)
			strv_push(&v, *s);
	} else if (!entrypoint && cfg && cfg->cmd) {
		for (char **s = cfg->cmd; *s; s++)
			strv_push(&v, *s);
	}
	if (!v[0]) {
		strv_free(v);
		return ferr_setc(err, FERR_USAGE, 0, "the image has no ENTRYPOINT or CMD and no command was given");
	}
	*argv = v;
	return 0;
}
