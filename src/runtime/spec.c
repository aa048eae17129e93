/* Building a run_spec: bind lists, image config, `run` argv. No syscalls
 * that change anything: these are pure helpers, unit-tested. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/path.h"
#include "base/str.h"
#include "runtime/runtime.h"

static int parse_one_bind(const char *item, struct run_bind *b, struct ferr *err)
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
		if (parse_one_bind(item, &b, err) < 0)
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

/* A JSON array of strings as a strv; NULL when absent or null. */
static int strv_from_json(const json_t *a, const char *what, char ***out, struct ferr *err)
{
	*out = NULL;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return ferr_setc(err, FERR_INVALID, 0, "image config: %s is not an array", what);
	char **v = xcalloc(1, sizeof *v);
	size_t i;
	json_t *x;
	json_array_foreach (a, i, x) {
		if (!json_is_string(x)) {
			strv_free(v);
			return ferr_setc(err, FERR_INVALID, 0, "image config: %s[%zu] is not a string", what, i);
		}
		strv_push(&v, json_string_value(x));
	}
	*out = v;
	return 0;
}

int runtime_image_config_load(const char *path, struct run_image_config *cfg, struct ferr *err)
{
	memset(cfg, 0, sizeof *cfg);
	_cleanup_json_ json_t *root = json_load_path(path, err);
	if (!root)
		return -1;
	const json_t *c = json_object_get(root, "config");
	if (!c || json_is_null(c))
		return 0; /* an image with no run config at all is valid */
	if (!json_is_object(c))
		return ferr_setc(err, FERR_INVALID, 0, "%s: \"config\" is not an object", path);
	if (strv_from_json(json_object_get(c, "Env"), "Env", &cfg->env, err) < 0 ||
	    strv_from_json(json_object_get(c, "Entrypoint"), "Entrypoint", &cfg->entrypoint, err) < 0 ||
	    strv_from_json(json_object_get(c, "Cmd"), "Cmd", &cfg->cmd, err) < 0) {
		runtime_image_config_free(cfg);
		return ferr_wrap(err, "%s", path);
	}
	const char *wd = json_get_str(c, "WorkingDir");
	cfg->workdir = wd && wd[0] ? xstrdup(wd) : NULL;
	return 0;
}

void runtime_image_config_free(struct run_image_config *cfg)
{
	strv_free(cfg->env);
	strv_free(cfg->entrypoint);
	strv_free(cfg->cmd);
	free(cfg->workdir);
	memset(cfg, 0, sizeof *cfg);
}

int runtime_run_argv(const struct run_image_config *cfg, const char *entrypoint, char **args,
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
