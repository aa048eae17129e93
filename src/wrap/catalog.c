/* ferry catalog: Neurodesk's apps.json (plus ferry's `image` and
 * `image-template`) made into wraps and modules under DIR, and DIR's index.
 *
 *   { "<tool>": { "apps": { "<name> <version>": {"version": "<builddate>", "exec": "..."} },
 *                 "categories": [...] }, ... }
 *
 * The whole catalog is checked before anything is written: a malformed one
 * fails with the JSON path of the problem. Entries that fail later (a bad
 * reference, no commands) fail alone; the others still sync. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/path.h"
#include "base/str.h"
#include "store/store.h"
#include "wrap/internal.h"

struct cat_app {
	char *where; /* JSON path of the (first) entry */
	char *tool, *version, *builddate, *image;
	char **execs, **categories;
	char *problem; /* why it cannot sync, or NULL */
};

struct catalog {
	struct cat_app *apps;
	size_t n;
};

static void catalog_free(struct catalog *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct cat_app *a = &c->apps[i];
		free(a->where);
		free(a->tool);
		free(a->version);
		free(a->builddate);
		free(a->image);
		free(a->problem);
		strv_free(a->execs);
		strv_free(a->categories);
	}
	free(c->apps);
	memset(c, 0, sizeof *c);
}

/* $.key or $["key with spaces"] */
static char *jpath(const char *parent, const char *key)
{
	bool plain = key[0] && !(key[0] >= '0' && key[0] <= '9');
	for (const char *p = key; plain && *p; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_';
	if (plain)
		return xasprintf("%s.%s", parent, key);
	struct dstr d = DSTR_INIT;
	dstr_printf(&d, "%s[\"", parent);
	for (const char *p = key; *p; p++) {
		if (*p == '"' || *p == '\\')
			dstr_appendc(&d, '\\');
		dstr_appendc(&d, *p);
	}
	dstr_append(&d, "\"]");
	return dstr_steal(&d);
}

static int bad(struct ferr *err, const char *file, const char *where, const char *what)
{
	return ferr_setc(err, FERR_INVALID, 0, "catalog %s: %s: %s", file, where, what);
}

/* {registry} {tool} {name} {version} {builddate} */
static int expand(const char *tmpl, const char *registry, const struct cat_app *a, const char *name, char **out,
	char **problem)
{
	struct dstr d = DSTR_INIT;
	dstr_append(&d, "");
	for (const char *p = tmpl; *p;) {
		if (*p != '{') {
			dstr_appendc(&d, *p++);
			continue;
		}
		const char *end = strchr(p, '}');
		_cleanup_free_ char *key = end ? xstrndup(p + 1, (size_t)(end - p - 1)) : xstrdup(p);
		const char *v = !end ? NULL
			: !strcmp(key, "registry") ? registry
			: !strcmp(key, "tool") ? a->tool
			: !strcmp(key, "name") ? name
			: !strcmp(key, "version") ? a->version
			: !strcmp(key, "builddate") ? a->builddate : NULL;
		if (!v) {
			*problem = !end ? xasprintf("image-template '%s': unclosed '{'", tmpl)
				 : (!strcmp(key, "registry") || !strcmp(key, "builddate"))
				 ? xasprintf("image-template '%s': no value for {%s} (give %s)", tmpl, key,
					     !strcmp(key, "registry") ? "--registry or \"registry\"" : "the app's \"version\"")
				 : xasprintf("image-template '%s': unknown {%s}", tmpl, key);
			dstr_free(&d);
			return -1;
		}
		dstr_append(&d, v);
		p = end + 1;
	}
	*out = dstr_steal(&d);
	return 0;
}

static int parse_catalog(const char *file, const struct catalog_sync_opts *o, struct catalog *cat, struct ferr *err)
{
	_cleanup_json_ json_t *root = json_load_path(file, err);
	if (!root)
		return ferr_wrap(err, "catalog");
	if (!json_is_object(root))
		return bad(err, file, "$", "want an object of tools");
	const char *top_tmpl = json_get_str(root, "image-template");
	const char *registry = o->registry ? o->registry : json_get_str(root, "registry");
	const char *tk;
	json_t *tv;
	json_object_foreach(root, tk, tv) {
		_cleanup_free_ char *tw = jpath("$", tk);
		if (!strcmp(tk, "image-template") || !strcmp(tk, "registry")) {
			if (!json_is_string(tv))
				return bad(err, file, tw, "want a string");
			continue;
		}
		if (!json_is_object(tv))
			return bad(err, file, tw, "want an object with \"apps\"");
		json_t *apps = json_object_get(tv, "apps"), *cats = json_object_get(tv, "categories");
		json_t *ttmpl = json_object_get(tv, "image-template");
		_cleanup_free_ char *aw = jpath(tw, "apps");
		if (!json_is_object(apps))
			return bad(err, file, aw, "want an object of \"NAME VERSION\" entries");
		_cleanup_free_ char *cw = jpath(tw, "categories");
		if (cats && !json_is_array(cats))
			return bad(err, file, cw, "want an array of strings");
		size_t ci;
		json_t *cv;
		json_array_foreach(cats, ci, cv) {
			if (!json_is_string(cv)) {
				_cleanup_free_ char *w = xasprintf("%s[%zu]", cw, ci);
				return bad(err, file, w, "want a string");
			}
		}
		_cleanup_free_ char *tt = jpath(tw, "image-template");
		if (ttmpl && !json_is_string(ttmpl))
			return bad(err, file, tt, "want a string");
		const char *ak;
		json_t *av;
		json_object_foreach(apps, ak, av) {
			_cleanup_free_ char *w = jpath(aw, ak);
			if (!json_is_object(av))
				return bad(err, file, w, "want an object (\"version\", \"exec\")");
			static const char *const str_keys[] = {"version", "exec", "image", NULL};
			for (size_t k = 0; str_keys[k]; k++) {
				json_t *x = json_object_get(av, str_keys[k]);
				if (x && !json_is_string(x)) {
					_cleanup_free_ char *kw = jpath(w, str_keys[k]);
					return bad(err, file, kw, "want a string");
				}
			}
			const char *sp = strrchr(ak, ' ');
			if (!sp || sp == ak || !sp[1])
				return bad(err, file, w, "the key must be \"NAME VERSION\"");
			_cleanup_free_ char *name = xstrndup(ak, (size_t)(sp - ak));
			const char *version = sp + 1;
			/* "<gui>-<tool> <version>" is a GUI entry of the tool's image
			 * (Neurodesk): matched against the tool's key, never split on
			 * '-' or '_' */
			_cleanup_free_ char *gui = xasprintf("-%s", tk);
			const char *cname = !strcmp(name, tk) || str_ends_with(name, gui) ? tk : name;
			const char *builddate = json_get_str(av, "version");
			const char *exec = json_get_str(av, "exec");
			const char *image = json_get_str(av, "image");
			struct cat_app *a = NULL;
			for (size_t i = 0; i < cat->n && !a; i++)
				if (!strcmp(cat->apps[i].tool, cname) && !strcmp(cat->apps[i].version, version))
					a = &cat->apps[i];
			if (a) {
				if (exec && exec[0])
					strv_push(&a->execs, exec);
				continue;
			}
			cat->apps = xrealloc(cat->apps, (cat->n + 1) * sizeof *cat->apps);
			a = &cat->apps[cat->n++];
			memset(a, 0, sizeof *a);
			a->where = xstrdup(w);
			a->tool = xstrdup(cname);
			a->version = xstrdup(version);
			a->builddate = builddate ? xstrdup(builddate) : NULL;
			if (exec && exec[0])
				strv_push(&a->execs, exec);
			json_array_foreach(cats, ci, cv) strv_push(&a->categories, json_string_value(cv));
			if (!wrap_name_valid(a->tool) || !wrap_name_valid(a->version)) {
				a->problem = xasprintf("'%s' is not a valid file name",
						       wrap_name_valid(a->tool) ? a->version : a->tool);
				continue;
			}
			const char *tmpl = json_is_string(ttmpl) ? json_string_value(ttmpl)
					   : o->image_template ? o->image_template : top_tmpl;
			if (image)
				a->image = xstrdup(image);
			else if (!tmpl)
				a->problem = xstrdup("no image: give \"image\", or an image template (--image-template)");
			else
				expand(tmpl, registry, a, name, &a->image, &a->problem);
		}
	}
	return 0;
}

static bool in_catalog(const struct catalog *c, const char *tool, const char *version)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->apps[i].tool, tool) && !strcmp(c->apps[i].version, version))
			return true;
	return false;
}

/* Call fn for each DIR/<tool>/<version>/wrap.json, in name order. */
static void each_sidecar(const char *prefix, void (*fn)(void *arg, const char *tool, const char *version, json_t *j),
	void *arg)
{
	struct dirent **tools = NULL;
	int nt = scandir(prefix, &tools, NULL, alphasort);
	for (int i = 0; i < nt; i++) {
		const char *t = tools[i]->d_name;
		if (t[0] != '.' && strcmp(t, "modules") && strcmp(t, "modules-by-category")) {
			_cleanup_free_ char *td = path_join(prefix, t);
			struct dirent **vers = NULL;
			int nv = scandir(td, &vers, NULL, alphasort);
			for (int k = 0; k < nv; k++) {
				const char *v = vers[k]->d_name;
				_cleanup_free_ char *sc = xasprintf("%s/%s/%s", td, v, WRAP_SIDECAR);
				struct ferr e = FERR_INIT;
				_cleanup_json_ json_t *j = v[0] != '.' && fs_exists(sc) ? json_load_path(sc, &e) : NULL;
				if (j)
					fn(arg, t, v, j);
				free(vers[k]);
			}
			free(vers);
		}
		free(tools[i]);
	}
	free(tools);
}

static void index_one(void *arg, const char *tool, const char *version, json_t *j)
{
	json_t *cmds = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(j, "commands"), k, v) json_array_append_new(cmds, json_string(k));
	json_t *cats = json_object_get(j, "categories");
	json_t *exec = json_object_get(j, "exec");
	json_array_append_new((json_t *)arg,
		json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:o, s:o, s:o, s:b, s:s}", "tool", tool, "version",
			  version, "module", "", "image", json_get_str(j, "image"), "digest", json_get_str(j, "digest"),
			  "builddate", json_get_str(j, "builddate"), "commands", cmds, "categories",
			  json_is_array(cats) ? json_incref(cats) : json_array(), "exec",
			  json_is_array(exec) ? json_incref(exec) : json_array(), "catalog",
			  json_is_true(json_object_get(j, "catalog")), "rule", json_get_str(j, "rule") ? json_get_str(j, "rule") : ""));
	json_t *last = json_array_get((json_t *)arg, json_array_size((json_t *)arg) - 1);
	_cleanup_free_ char *mod = xasprintf("%s/%s", tool, version);
	json_object_set_new(last, "module", json_string(mod));
}

int catalog_write_index(const char *prefix, struct ferr *err)
{
	json_t *apps = json_array();
	each_sidecar(prefix, index_one, apps);
	json_t *j = json_pack("{s:i, s:o}", "ferry-catalog", 1, "apps", apps);
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	_cleanup_free_ char *text = xasprintf("%s\n", s);
	free(s);
	_cleanup_free_ char *path = path_join(prefix, "catalog.json");
	_cleanup_free_ char *old = NULL;
	size_t n = 0;
	struct ferr e = FERR_INIT;
	if (fs_read_file(path, &old, &n, &e) == 0 && n == strlen(text) && !memcmp(old, text, n))
		return 0;
	return fs_write_atomic(path, text, strlen(text), 0644, err);
}

struct prune_ctx {
	const struct catalog *cat;
	char **doomed; /* "tool/version" */
};

static void prune_one(void *arg, const char *tool, const char *version, json_t *j)
{
	struct prune_ctx *p = arg;
	if (json_is_true(json_object_get(j, "catalog")) && !in_catalog(p->cat, tool, version)) {
		_cleanup_free_ char *tv = xasprintf("%s/%s", tool, version);
		strv_push(&p->doomed, tv);
	}
}

int catalog_sync(const struct catalog_sync_opts *o, struct catalog_sync_stats *stats, struct ferr *err)
{
	memset(stats, 0, sizeof *stats);
	struct catalog cat = {0};
	if (parse_catalog(o->catalog, o, &cat, err) < 0) {
		catalog_free(&cat);
		return -1;
	}
	_cleanup_close_ int lock = wrap_lock(o->prefix, err);
	if (lock < 0) {
		catalog_free(&cat);
		return -1;
	}
	stats->apps = cat.n;
	/* Every image's layers stay until the whole catalog is in: apps on one
	 * base then download it once. They are dropped at the end (below). */
	struct pull_opts pull = o->pull;
	bool drop = !pull.keep_layers && !o->deploy_dir; /* a deploy DIR keeps its layers */
	pull.keep_layers = true;
	char **pulled = NULL;
	for (size_t i = 0; i < cat.n; i++) {
		struct cat_app *a = &cat.apps[i];
		_cleanup_free_ char *label = xasprintf("%s/%s", a->tool, a->version);
		struct ferr e = FERR_INIT;
		struct wrap_result res = {0};
		int rc;
		if (a->problem) {
			rc = ferr_setc(&e, FERR_INVALID, 0, "%s", a->problem);
		} else {
			struct wrap_opts w = {
				.image = a->image, .prefix = o->prefix, .format = o->format, .offline = o->offline,
				.pull = pull, .deploy_dir = o->deploy_dir, .categories = a->categories, .execs = a->execs,
				.builddate = a->builddate, .tool = a->tool, .version = a->version, .from_catalog = true,
				.defer_index = true,
			};
			rc = wrap_image_locked(&w, &res, &e);
		}
		if (rc < 0) {
			ferr_wrap(&e, "%s (%s)", label, a->where);
			stats->failed++;
		} else if (res.unchanged) {
			stats->unchanged++;
		} else {
			stats->synced++;
		}
		if (rc == 0 && res.digest && !strv_contains(pulled, res.digest))
			strv_push(&pulled, res.digest);
		if (o->report)
			o->report(o->report_arg, label, rc < 0 ? NULL : &res, rc < 0 ? &e : NULL);
		wrap_result_free(&res);
	}
	if (drop && pulled && !o->offline) {
		struct store *st = NULL;
		struct ferr e = FERR_INIT;
		if (store_open(&st, &e) == 0) {
			for (size_t i = 0; pulled[i]; i++)
				if (store_drop_layers(st, pulled[i], &e) < 0)
					log_debug("%s", e.msg); /* prune drops what is left */
			store_close(st);
		}
	}
	strv_free(pulled);
	int rc = 0;
	if (o->prune) {
		struct prune_ctx p = {&cat, NULL};
		each_sidecar(o->prefix, prune_one, &p);
		for (size_t i = 0; rc == 0 && p.doomed && p.doomed[i]; i++) {
			char *slash = strchr(p.doomed[i], '/');
			*slash = 0;
			rc = wrap_remove(o->prefix, p.doomed[i], slash + 1, err);
			stats->pruned++;
		}
		strv_free(p.doomed);
	}
	if (rc == 0)
		rc = catalog_write_index(o->prefix, err);
	catalog_free(&cat);
	return rc;
}

static bool icontains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (const char *p = hay; *p; p++)
		if (!strncasecmp(p, needle, n))
			return true;
	return !n;
}

static bool matches(json_t *app, const char *category, const char *text)
{
	json_t *cats = json_object_get(app, "categories"), *cmds = json_object_get(app, "commands"), *v;
	size_t i;
	if (category) {
		bool hit = false;
		json_array_foreach(cats, i, v) hit |= !strcasecmp(json_string_value(v), category);
		if (!hit)
			return false;
	}
	if (!text)
		return true;
	if (icontains(json_get_str(app, "tool"), text) || icontains(json_get_str(app, "version"), text))
		return true;
	json_array_foreach(cats, i, v) if (icontains(json_string_value(v), text)) return true;
	json_array_foreach(cmds, i, v) if (icontains(json_string_value(v), text)) return true;
	return false;
}

int catalog_list(const char *prefix, const char *category, const char *text, json_t **apps, struct ferr *err)
{
	_cleanup_free_ char *path = path_join(prefix, "catalog.json");
	if (!fs_exists(path)) {
		ferr_setc(err, FERR_NOTFOUND, 0, "%s: nothing wrapped there (no catalog.json)", prefix);
		return ferr_hint(err, "ferry wrap IMAGE --prefix %s, or ferry catalog sync CATALOG --prefix %s", prefix,
				 prefix);
	}
	_cleanup_json_ json_t *j = json_load_path(path, err);
	if (!j)
		return -1;
	json_t *out = json_array(), *a;
	size_t i;
	json_array_foreach(json_object_get(j, "apps"), i, a) if (json_is_object(a) && matches(a, category, text))
		json_array_append(out, a);
	*apps = out;
	return 0;
}
