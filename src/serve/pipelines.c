/* Pipelines: Boutiques descriptors from --pipelines DIR (and the
 * descriptors a ferry catalog names), each projected to a CARMIN Pipeline
 * as `bosh export carmin` does, but with parameter name = the input's id:
 * the key inputValues, returnedFiles and the Boutiques invocation share. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/path.h"
#include "serve/internal.h"

static const char *param_type(const json_t *in)
{
	const char *t = json_get_str(in, "type");
	if (json_is_true(json_object_get(in, "list")))
		return "List";
	if (!t)
		return "String";
	if (!strcmp(t, "Flag"))
		return "Boolean";
	if (!strcmp(t, "Number"))
		return json_is_true(json_object_get(in, "integer")) ? "Int64" : "Double";
	return t; /* File, String */
}

static json_t *carmin_of(const char *id, const json_t *d)
{
	json_t *params = json_array();
	size_t i;
	json_t *in;
	json_array_foreach(json_object_get(d, "inputs"), i, in)
	{
		json_t *p = json_pack("{s:s, s:s, s:b, s:b}", "name", json_get_str(in, "id"), "type", param_type(in),
				      "isOptional", json_is_true(json_object_get(in, "optional")), "isReturnedValue",
				      0);
		json_t *dv = json_object_get(in, "default-value");
		if (dv)
			json_object_set(p, "defaultValue", dv);
		else if (!json_is_true(json_object_get(in, "optional")))
			/* VIP's "no default" marker: its client reads defaultValue of
			 * every required parameter and compares it with this */
			json_object_set_new(p, "defaultValue", json_string("$input.getDefaultValue()"));
		const char *desc = json_get_str(in, "description");
		json_object_set_new(p, "description", json_string(desc ? desc : json_get_str(in, "name") ?: ""));
		json_array_append_new(params, p);
	}
	json_array_foreach(json_object_get(d, "output-files"), i, in)
	{
		json_t *p = json_pack("{s:s, s:s, s:b, s:b}", "name", json_get_str(in, "id"), "type", "File",
				      "isOptional", json_is_true(json_object_get(in, "optional")), "isReturnedValue",
				      1);
		/* the path the tool writes it to (VIP's client reads every
		 * required parameter's defaultValue) */
		const char *pt = json_get_str(in, "path-template");
		json_object_set_new(p, "defaultValue", json_string(pt ? pt : ""));
		const char *desc = json_get_str(in, "description");
		json_object_set_new(p, "description", json_string(desc ? desc : json_get_str(in, "name") ?: ""));
		json_array_append_new(params, p);
	}
	/* properties: "boutiques": "true" and each tag (as bosh's exporter
	 * copies them), values as strings since CARMIN's properties map
	 * strings to strings: true/false, numbers, lists joined with ','. */
	json_t *props = json_pack("{s:s}", "boutiques", "true");
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(d, "tags"), k, v)
	{
		struct dstr t = DSTR_INIT;
		json_t *items = json_is_array(v) ? v : NULL;
		size_t n = items ? json_array_size(items) : 1;
		for (size_t j = 0; j < n; j++) {
			json_t *x = items ? json_array_get(items, j) : v;
			if (j)
				dstr_appendc(&t, ',');
			if (json_is_string(x))
				dstr_append(&t, json_string_value(x));
			else {
				char *s = json_dumps(x, JSON_ENCODE_ANY);
				dstr_append(&t, s ? s : "");
				free(s);
			}
		}
		json_object_set_new(props, k, json_string(t.buf ? t.buf : ""));
		dstr_free(&t);
	}
	json_t *codes = json_array();
	json_array_foreach(json_object_get(d, "error-codes"), i, v)
	json_array_append_new(codes, json_pack("{s:O, s:s}", "errorCode", json_object_get(v, "code"),
					       "errorMessage", json_get_str(v, "description") ?: ""));
	const char *ver = json_get_str(d, "tool-version");
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:o}", "identifier", id, "name", json_get_str(d, "name"),
			 "version", ver ? ver : "", "description", json_get_str(d, "description") ?: "", "canExecute",
			 1, "parameters", params, "properties", props, "errorCodesAndMessages", codes);
}

static void warn(struct pipelines *pl, const char *fmt, ...) FERR_PRINTF(2, 3);
static void warn(struct pipelines *pl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *w = NULL;
	if (vasprintf(&w, fmt, ap) < 0)
		w = NULL;
	va_end(ap);
	if (!w)
		return;
	strv_push(&pl->warnings, w);
	free(w);
}

static void add_file(struct pipelines *pl, const char *path)
{
	struct ferr err = FERR_INIT;
	_cleanup_free_ char *text = NULL;
	size_t n = 0;
	if (fs_read_file(path, &text, &n, &err) < 0)
		return warn(pl, "%s: %s", path, err.msg);
	json_t *d = app_json_parse(text, n, path, &err);
	if (!d)
		return warn(pl, "%s", err.msg);
	struct app_problems probs = { 0 };
	if (app_validate_descriptor(d, &probs)) {
		warn(pl, "%s: not a valid Boutiques descriptor (%s); `ferry app validate` says more", path,
		     probs.v[0].msg + strspn(probs.v[0].msg, " "));
		app_problems_free(&probs);
		json_decref(d);
		return;
	}
	app_problems_free(&probs);
	if (!json_object_get(d, "container-image") && !pl->host_tools) {
		/* a tool without an image would run on this host as the server's
		 * user, with everything that user can reach */
		warn(pl, "%s: left out: it names no container-image (--allow-host-tools serves it, run on this host)",
		     path);
		json_decref(d);
		return;
	}
	/* VIP's identifiers: "<name>/<version>" */
	const char *name = json_get_str(d, "name"), *ver = json_get_str(d, "tool-version");
	_cleanup_free_ char *id = ver && *ver ? xasprintf("%s/%s", name, ver) : xstrdup(name);
	if (pipelines_find(pl, id)) {
		warn(pl, "%s: pipeline %s is defined twice; the first is kept", path, id);
		json_decref(d);
		return;
	}
	pl->v = xrealloc(pl->v, (pl->n + 1) * sizeof *pl->v);
	struct pipeline *p = &pl->v[pl->n++];
	p->id = xstrdup(id);
	p->path = xstrdup(path);
	p->text = steal_ptr(&text);
	p->desc = d;
	p->carmin = carmin_of(id, d);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_dir(struct pipelines *pl, const char *dir, struct ferr *err)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return ferr_set(err, errno, "--pipelines %s", dir);
	char **names = NULL;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && str_ends_with(e->d_name, ".json"))
			strv_push(&names, e->d_name);
	size_t n = strv_len(names);
	if (names && n)
		qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; names && i < n; i++) {
		_cleanup_free_ char *p = path_join(dir, names[i]);
		add_file(pl, p);
	}
	strv_free(names);
	return 0;
}

/* A catalog (catalog.json of `ferry catalog`): the apps whose sidecar
 * names a Boutiques descriptor ("descriptor": path, relative to the
 * catalog's directory) become pipelines too. */
static int load_catalog(struct pipelines *pl, const char *file, struct ferr *err)
{
	_cleanup_json_ json_t *c = json_load_path(file, err);
	if (!c)
		return ferr_wrap(err, "--catalog");
	_cleanup_free_ char *dir = path_dirname(file);
	size_t i;
	json_t *app;
	json_array_foreach(json_object_get(c, "apps"), i, app)
	{
		const char *d = json_get_str(app, "descriptor");
		if (!d)
			continue;
		_cleanup_free_ char *p = d[0] == '/' ? xstrdup(d) : path_join(dir, d);
		add_file(pl, p);
	}
	return 0;
}

int pipelines_load(struct pipelines *pl, const char *dir, const char *catalog, bool host_tools, struct ferr *err)
{
	memset(pl, 0, sizeof *pl);
	pl->host_tools = host_tools;
	if (dir && load_dir(pl, dir, err) < 0)
		return -1;
	if (catalog && load_catalog(pl, catalog, err) < 0)
		return -1;
	return 0;
}

void pipelines_free(struct pipelines *pl)
{
	for (size_t i = 0; i < pl->n; i++) {
		free(pl->v[i].id);
		free(pl->v[i].path);
		free(pl->v[i].text);
		json_decref(pl->v[i].desc);
		json_decref(pl->v[i].carmin);
	}
	free(pl->v);
	strv_free(pl->warnings);
	memset(pl, 0, sizeof *pl);
}

const struct pipeline *pipelines_find(const struct pipelines *pl, const char *id)
{
	for (size_t i = 0; i < pl->n; i++)
		if (!strcmp(pl->v[i].id, id))
			return &pl->v[i];
	return NULL;
}

bool pipelines_has_property(const struct pipelines *pl, const char *prop)
{
	if (!strcmp(prop, "boutiques"))
		return true;
	for (size_t i = 0; i < pl->n; i++)
		if (json_object_get(json_object_get(pl->v[i].carmin, "properties"), prop))
			return true;
	return false;
}

json_t *pipelines_properties(const struct pipelines *pl)
{
	json_t *seen = json_object();
	json_object_set_new(seen, "boutiques", json_true());
	for (size_t i = 0; i < pl->n; i++) {
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(pl->v[i].carmin, "properties"), k, v)
		json_object_set_new(seen, k, json_true());
	}
	json_t *a = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(seen, k, v) json_array_append_new(a, json_string(k));
	json_decref(seen);
	return a;
}
