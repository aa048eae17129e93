/* Pipelines: Boutiques descriptors from --pipelines DIR (and the
 * descriptors a ferry catalog names), each projected to a CARMIN Pipeline
 * as `bosh export carmin` does, but with parameter name = the input's id:
 * the key inputValues, returnedFiles and the Boutiques invocation share. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "base/inroot.h"
#include "store/store.h"
#include "wrap/wrap.h"
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

/* A descriptor (text of n bytes, named path in messages) as a pipeline.
 * image: run it in that image (a catalog app's), whatever it names. */
static void add_text(struct pipelines *pl, const char *path, char *text_in, size_t n, const char *image)
{
	struct ferr err = FERR_INIT;
	_cleanup_free_ char *text = text_in;
	json_t *d = app_json_parse(text, n, path, &err);
	if (!d)
		return warn(pl, "%s", err.msg);
	if (image) {
		/* the descriptor in the image names where it was built (a
		 * Singularity file, a registry tag): it runs in the image the
		 * catalog deployed, and is served as it runs */
		json_t *ci = json_object_get(d, "container-image");
		json_t *nci = json_is_object(ci) ? json_deep_copy(ci) : json_object();
		json_object_set_new(nci, "type", json_string("docker"));
		json_object_set_new(nci, "image", json_string(image));
		json_object_del(nci, "index");
		json_object_set_new(d, "container-image", nci);
		free(text);
		text = json_dumps(d, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (!text) {
			json_decref(d);
			return warn(pl, "%s: cannot encode the descriptor", path);
		}
	}
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

static void add_file(struct pipelines *pl, const char *path)
{
	struct ferr err = FERR_INIT;
	char *text = NULL;
	size_t n = 0;
	if (fs_read_file(path, &text, &n, &err) < 0)
		return warn(pl, "%s: %s", path, err.msg);
	add_text(pl, path, text, n, NULL);
}

static int load_dir(struct pipelines *pl, const char *dir, struct ferr *err)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return ferr_set(err, errno, "--pipelines %s", dir);
	_cleanup_strv_ char **names = fs_dir_names(d, ".json");
	for (size_t i = 0; names[i]; i++) {
		_cleanup_free_ char *p = path_join(dir, names[i]);
		add_file(pl, p);
	}
	return 0;
}

#define MAX_DESCRIPTOR (4 << 20)

/* The Boutiques descriptors a catalog app's image carries: /boutique/<name>.json,
 * where Neurodesk's images keep them (`ferry wrap` reads the same files for
 * its rule 3). catalog.json names the app's image and digest; its sidecar
 * (DIR/<tool>/<version>/wrap.json) the store it was deployed into and the
 * reference pinned by digest. Every file is opened beneath the image's
 * root: a symlink in the image cannot make the server read a host file. */
static void add_from_image(struct pipelines *pl, const char *catalog, const char *dir, json_t *app)
{
	const char *tool = json_get_str(app, "tool"), *version = json_get_str(app, "version");
	const char *digest = json_get_str(app, "digest"), *image = json_get_str(app, "image");
	if (!tool || !version || !digest || !image || !wrap_name_valid(tool) || !wrap_name_valid(version))
		return warn(pl, "%s: an app without a valid tool, version, image and digest: left out", catalog);
	_cleanup_free_ char *sc_path = xasprintf("%s/%s/%s/wrap.json", dir, tool, version);
	struct ferr err = FERR_INIT;
	_cleanup_json_ json_t *sc = fs_exists(sc_path) ? json_load_path(sc_path, &err) : NULL;
	const char *store_dir = json_get_str(sc, "store"), *pinned = json_get_str(sc, "pinned");
	struct store *st = NULL;
	if ((store_dir ? store_deploy_open(&st, store_dir, &err) : store_open(&st, &err)) < 0)
		return warn(pl, "%s: %s/%s: %s", catalog, tool, version, err.msg);
	struct image_info *info = NULL;
	if (store_resolve(st, digest, &info, &err) < 0) {
		store_close(st);
		return warn(pl, "%s: %s/%s: image %s: %s (`ferry catalog sync` deploys it)", catalog, tool, version,
			    image, err.msg);
	}
	_cleanup_close_ int rootfd = open(info->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int bq = rootfd < 0 ? -1 : inroot_open(rootfd, "/boutique", O_RDONLY | O_DIRECTORY, 0, &err);
	_cleanup_closedir_ DIR *d = bq < 0 ? NULL : fdopendir(bq); /* closedir closes bq */
	if (!d && bq >= 0)
		close(bq);
	char **names = d ? fs_dir_names(d, ".json") : xcalloc(1, sizeof *names);
	size_t n = strv_len(names);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *label = xasprintf("%s: %s/%s: /boutique/%s", catalog, tool, version, names[i]);
		_cleanup_free_ char *inpath = xasprintf("/boutique/%s", names[i]);
		struct ferr e2 = FERR_INIT;
		_cleanup_close_ int f = inroot_open(rootfd, inpath, O_RDONLY, 0, &e2);
		struct stat sb;
		if (f < 0 || fstat(f, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > MAX_DESCRIPTOR) {
			warn(pl, "%s: %s", label, f < 0 ? e2.msg : "not a regular file of at most 4 MiB");
			continue;
		}
		char *text = xmalloc((size_t)sb.st_size + 1);
		ssize_t got = read(f, text, (size_t)sb.st_size);
		if (got != sb.st_size) {
			free(text);
			warn(pl, "%s: cannot read it", label);
			continue;
		}
		text[got] = 0;
		add_text(pl, label, text, (size_t)got, pinned ? pinned : image);
	}
	if (!n)
		warn(pl, "%s: %s/%s: its image carries no Boutiques descriptor (/boutique/*.json): not a pipeline",
		     catalog, tool, version);
	strv_free(names);
	image_info_free(info);
	store_close(st);
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
		if (!d) {
			add_from_image(pl, file, dir, app);
			continue;
		}
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
