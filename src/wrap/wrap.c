/* ferry wrap: an image's commands as shims, its module file, DIR's index.
 *
 * Layout under DIR (wrap.h). Every piece is written under a temporary name
 * and renamed into place: the tool directory is staged in DIR/.ferry/tmp/
 * and swapped in with renameat2(RENAME_EXCHANGE), module files go through
 * fs_write_atomic(). A failure leaves the earlier state, and DIR's lock
 * (DIR/.ferry/lock) keeps two writers apart. Nothing written holds an
 * absolute path of DIR. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/inroot.h"
#include "base/json.h"
#include "base/path.h"
#include "base/str.h"
#include "store/store.h"
#include "wrap/internal.h"

#define MAX_README (1 << 20)

void wrap_result_free(struct wrap_result *r)
{
	free(r->tool);
	free(r->version);
	free(r->digest);
	strv_free(r->commands);
	strv_free(r->ignored);
	memset(r, 0, sizeof *r);
}

int wrap_lock(const char *prefix, struct ferr *err)
{
	_cleanup_free_ char *dir = path_join(prefix, ".ferry");
	if (fs_mkdir_p(dir, 0755, err) < 0) {
		int e = err->errnum;
		ferr_clear(err);
		return ferr_setc(err, FERR_PERM, e, "prefix %s: cannot write there", prefix);
	}
	if (access(prefix, W_OK) < 0)
		return ferr_setc(err, FERR_PERM, errno, "prefix %s: cannot write there", prefix);
	_cleanup_free_ char *lock = path_join(dir, "lock");
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return ferr_setc(err, FERR_PERM, errno, "prefix %s: lock %s", prefix, lock);
	if (flock(fd, LOCK_EX) < 0) {
		int e = errno;
		close(fd);
		return ferr_set(err, e, "prefix %s: lock %s", prefix, lock);
	}
	return fd;
}

/* The same bytes already there? */
static bool same_file(const char *path, const char *data, size_t len)
{
	struct ferr e = FERR_INIT;
	_cleanup_free_ char *old = NULL;
	size_t n = 0;
	return fs_read_file(path, &old, &n, &e) == 0 && n == len && !memcmp(old, data, len);
}

static int write_if_changed(const char *path, const char *text, bool *changed, struct ferr *err)
{
	size_t len = strlen(text);
	if (same_file(path, text, len))
		return 0;
	_cleanup_free_ char *dir = path_dirname(path);
	if (fs_mkdir_p(dir, 0755, err) < 0 || fs_write_atomic(path, text, len, 0644, err) < 0)
		return -1;
	*changed = true;
	return 0;
}

/* DIR/.ferry/ferry: a copy of the running ferry, the target of every shim.
 * A copy (not a link to where ferry is installed) so that DIR holds all it
 * needs: it can move or be published on CVMFS. Re-wrapping refreshes it. */
static int install_ferry(const char *prefix, bool *changed, struct ferr *err)
{
	_cleanup_free_ char *self = NULL;
	size_t len = 0;
	if (fs_read_file("/proc/self/exe", &self, &len, err) < 0)
		return ferr_wrap(err, "copy ferry into %s", prefix);
	_cleanup_free_ char *dst = path_join(prefix, ".ferry/ferry");
	if (same_file(dst, self, len))
		return 0;
	if (fs_write_atomic(dst, self, len, 0755, err) < 0)
		return ferr_wrap(err, "copy ferry into %s", prefix);
	*changed = true;
	return 0;
}

static char *read_readme(const char *rootfs)
{
	_cleanup_close_ int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct ferr e = FERR_INIT;
	_cleanup_close_ int fd = rootfd < 0 ? -1 : inroot_open(rootfd, "/README.md", O_RDONLY, 0, &e);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return NULL;
	size_t want = st.st_size > MAX_README ? MAX_README : (size_t)st.st_size;
	char *buf = xmalloc(want + 1);
	ssize_t n = read(fd, buf, want);
	if (n < 0)
		n = 0;
	buf[n] = 0;
	return buf;
}

/* DEPLOY_ENV_NAME=value -> NAME=value with BASEPATH the image's root. */
static char **deploy_env(const struct image_config *cfg, const char *rootfs, char ***notes)
{
	char **out = NULL;
	for (size_t i = 0; cfg->env && cfg->env[i]; i++) {
		if (!str_starts_with(cfg->env[i], "DEPLOY_ENV_"))
			continue;
		const char *kv = cfg->env[i] + strlen("DEPLOY_ENV_");
		const char *eq = strchr(kv, '=');
		_cleanup_free_ char *name = eq ? xstrndup(kv, (size_t)(eq - kv)) : NULL;
		bool ok = name && name[0] && !(name[0] >= '0' && name[0] <= '9');
		for (const char *p = name; ok && *p; p++)
			ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
		if (!ok) {
			_cleanup_free_ char *n = xasprintf("left out %.*s: not a variable name", (int)strcspn(cfg->env[i], "="),
							   cfg->env[i]);
			strv_push(notes, n);
			continue;
		}
		struct dstr v = DSTR_INIT;
		dstr_printf(&v, "%s=", name);
		for (const char *p = eq + 1; *p;) {
			if (str_starts_with(p, "BASEPATH")) {
				dstr_append(&v, rootfs);
				p += strlen("BASEPATH");
			} else {
				dstr_appendc(&v, *p++);
			}
		}
		strv_push(&out, v.buf);
		dstr_free(&v);
	}
	return out;
}

static json_t *strv_json(char **v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* Category directory name: Neurodesk's, spaces as '_'. NULL if unusable. */
static char *category_dir(const char *c)
{
	char *d = xstrdup(c);
	for (char *p = d; *p; p++)
		if (*p == ' ')
			*p = '_';
	if (!wrap_name_valid(d)) {
		free(d);
		return NULL;
	}
	return d;
}

static const char *module_ext(enum wrap_module_format f)
{
	return f == WRAP_MODULE_TCL ? "" : ".lua";
}

/* Remove DIR/<top>/<a>/<b> and the directories it leaves empty (up to DIR/<top>). */
static void remove_and_prune(const char *prefix, const char *top, const char *a, const char *b)
{
	struct ferr e = FERR_INIT;
	_cleanup_free_ char *p = xasprintf("%s/%s/%s/%s", prefix, top, a, b);
	fs_rm_rf(p, &e);
	_cleanup_free_ char *d = xasprintf("%s/%s/%s", prefix, top, a);
	rmdir(d);
}

/* Module files of tool/version in the category trees that are not in cats. */
static void remove_stale_categories(const char *prefix, const char *tool, const char *version, char **cats,
	enum wrap_module_format keep_fmt)
{
	_cleanup_free_ char *top = path_join(prefix, "modules-by-category");
	_cleanup_closedir_ DIR *d = opendir(top);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		bool want = false;
		for (size_t i = 0; cats && cats[i] && !want; i++) {
			_cleanup_free_ char *cd = category_dir(cats[i]);
			want = cd && !strcmp(cd, de->d_name);
		}
		for (int f = 0; f < 2; f++) {
			if (want && f == (int)keep_fmt)
				continue;
			_cleanup_free_ char *leaf = xasprintf("%s%s", version, module_ext((enum wrap_module_format)f));
			_cleanup_free_ char *sub = xasprintf("modules-by-category/%s", de->d_name);
			remove_and_prune(prefix, sub, tool, leaf);
		}
		_cleanup_free_ char *cdir = path_join(top, de->d_name);
		rmdir(cdir);
	}
}

int wrap_remove(const char *prefix, const char *tool, const char *version, struct ferr *err)
{
	_cleanup_free_ char *t = path_join(prefix, tool);
	_cleanup_free_ char *v = path_join(t, version);
	if (fs_rm_rf(v, err) < 0)
		return ferr_wrap(err, "remove %s/%s", tool, version);
	rmdir(t);
	for (int f = 0; f < 2; f++) {
		_cleanup_free_ char *leaf = xasprintf("%s%s", version, module_ext((enum wrap_module_format)f));
		remove_and_prune(prefix, "modules", tool, leaf);
	}
	remove_stale_categories(prefix, tool, version, NULL, WRAP_MODULE_LUA);
	return 0;
}

/* Stage DIR/<tool>/<version>/ (bin/ of symlinks, the sidecar) and swap it in. */
static int install_tool_dir(const char *prefix, const char *tool, const char *version, const struct wrap_cmds *c,
	const char *sidecar, struct ferr *err)
{
	_cleanup_free_ char *tmpdir = path_join(prefix, ".ferry/tmp");
	if (fs_mkdir_p(tmpdir, 0755, err) < 0)
		return -1;
	_cleanup_free_ char *stage = xasprintf("%s/wrap.XXXXXX", tmpdir);
	if (!mkdtemp(stage))
		return ferr_set(err, errno, "mkdtemp in %s", tmpdir);
	chmod(stage, 0755);
	int rc = 0;
	_cleanup_free_ char *bin = path_join(stage, "bin");
	if (mkdir(bin, 0755) < 0)
		rc = ferr_set(err, errno, "mkdir %s", bin);
	for (size_t i = 0; rc == 0 && i < c->n; i++) {
		_cleanup_free_ char *l = path_join(bin, c->name[i]);
		if (symlink(WRAP_FERRY_LINK, l) < 0)
			rc = ferr_set(err, errno, "symlink %s", l);
	}
	_cleanup_free_ char *sc = path_join(stage, WRAP_SIDECAR);
	if (rc == 0)
		rc = fs_write_atomic(sc, sidecar, strlen(sidecar), 0644, err);
	_cleanup_free_ char *tdir = path_join(prefix, tool);
	_cleanup_free_ char *final = path_join(tdir, version);
	if (rc == 0)
		rc = fs_mkdir_p(tdir, 0755, err);
	if (rc == 0) {
		if (renameat2(AT_FDCWD, stage, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
			/* stage now holds the old directory */
		} else if (errno == ENOENT) {
			if (rename(stage, final) < 0)
				rc = ferr_set(err, errno, "rename %s to %s", stage, final);
		} else {
			rc = ferr_set(err, errno, "replace %s", final);
		}
	}
	struct ferr e = FERR_INIT;
	fs_rm_rf(stage, &e);
	return rc;
}

static int pick_name(const struct wrap_opts *o, const struct image_info *info, char **tool, char **version,
	struct ferr *err)
{
	if (o->tool && o->version) {
		if (!wrap_name_valid(o->tool) || !wrap_name_valid(o->version))
			return ferr_setc(err, FERR_USAGE, 0, "name %s/%s: '%s' is not a valid file name", o->tool,
					 o->version, wrap_name_valid(o->tool) ? o->version : o->tool);
		*tool = xstrdup(o->tool);
		*version = xstrdup(o->version);
		return 0;
	}
	if (o->name)
		return wrap_parse_name(o->name, tool, version, err);
	const char *title = NULL, *ver = NULL;
	for (size_t i = 0; info->config.labels && info->config.labels[i]; i++) {
		const char *l = info->config.labels[i];
		if (str_starts_with(l, "org.opencontainers.image.title="))
			title = strchr(l, '=') + 1;
		else if (str_starts_with(l, "org.opencontainers.image.version="))
			ver = strchr(l, '=') + 1;
	}
	struct image_ref ref = {0};
	_cleanup_free_ char *repo_last = NULL, *tag = NULL;
	if (image_ref_parse(info->name, &ref, err) == 0) {
		const char *slash = strrchr(ref.repo, '/');
		repo_last = xstrdup(slash ? slash + 1 : ref.repo);
		if (ref.tag)
			tag = xstrdup(ref.tag);
		image_ref_free(&ref);
	}
	ferr_clear(err);
	if (!tag)
		tag = xasprintf("%.12s", info->manifest_digest + strlen("sha256:"));
	const char *t = title ? title : repo_last, *v = ver ? ver : tag;
	if (!t || !wrap_name_valid(t) || !wrap_name_valid(v)) {
		const char *bad = !t ? "" : !wrap_name_valid(t) ? t : v;
		const char *from = (!t || !wrap_name_valid(t)) ? (title ? "label org.opencontainers.image.title" : "the reference")
							       : (ver ? "label org.opencontainers.image.version" : "the tag");
		ferr_setc(err, FERR_USAGE, 0, "name '%s' (from %s) is not a valid file name", bad, from);
		return ferr_hint(err, "give --name TOOL/VERSION");
	}
	*tool = xstrdup(t);
	*version = xstrdup(v);
	return 0;
}

static bool reserved(const char *tool)
{
	return !tool || !strcmp(tool, "modules") || !strcmp(tool, "modules-by-category") || !strcmp(tool, "catalog.json");
}

/* --to DIR: the image is deployed there (one manifest request when it is
 * already), under DIR's deploy lock, and read back from DIR. */
static int get_deployed(const struct wrap_opts *o, struct image_info **info, struct ferr *err)
{
	struct store *st = NULL;
	if (store_deploy_open(&st, o->deploy_dir, err) < 0)
		return -1;
	int rc = 0;
	_cleanup_free_ char *digest = NULL;
	if (o->offline) {
		rc = store_resolve(st, o->image, info, err);
	} else {
		int lock = store_deploy_lock(st, true, o->pull.events, err);
		bool changed = false;
		rc = lock < 0 ? -1 : store_deploy(st, o->image, &o->pull, &digest, &changed, err);
		if (lock >= 0)
			store_deploy_unlock(lock);
		if (rc == 0)
			rc = store_resolve(st, digest, info, err);
	}
	store_close(st);
	if (rc < 0)
		return ferr_wrap(err, "deploy into %s", o->deploy_dir);
	free((*info)->name);
	(*info)->name = xstrdup(o->image);
	return 0;
}

static int get_image(struct store *st, const struct wrap_opts *o, struct image_info **info, struct ferr *err)
{
	if (o->deploy_dir)
		return get_deployed(o, info, err);
	if (o->offline) {
		if (store_resolve(st, o->image, info, err) < 0)
			return err->code == FERR_NOTFOUND ? ferr_hint(err, "offline: pull it first (ferry pull %s)", o->image)
							  : -1;
		return 0;
	}
	_cleanup_free_ char *digest = NULL;
	if (store_pull(st, o->image, &o->pull, &digest, err) < 0 || store_resolve(st, digest, info, err) < 0)
		return -1;
	/* resolved by digest: keep the name it was asked by */
	free((*info)->name);
	(*info)->name = xstrdup(o->image);
	return 0;
}

static char *sidecar_text(const struct wrap_opts *o, const struct image_info *info, const char *tool,
	const char *version, const struct wrap_cmds *c, enum wrap_rule rule)
{
	json_t *cmds = json_object();
	for (size_t i = 0; i < c->n; i++)
		json_object_set_new(cmds, c->name[i], json_string(c->path[i]));
	/* The reference the shim falls back to when the digest is not in the
	 * caller's stores: pinned, so every caller runs the same image. */
	char *pinned = NULL;
	struct image_ref ref = {0};
	struct ferr e = FERR_INIT;
	if (image_ref_parse(info->name, &ref, &e) == 0 && ref.transport == TRANSPORT_DOCKER) {
		free(ref.tag);
		ref.tag = NULL;
		free(ref.digest);
		ref.digest = xstrdup(info->manifest_digest);
		pinned = image_ref_str(&ref);
	}
	image_ref_free(&ref);
	/* A deployed image is found in its DIR first (an absolute path: the
	 * deployed tree is published where jobs see it, and does not move with
	 * the wraps). */
	_cleanup_free_ char *store_dir = o->deploy_dir ? realpath(o->deploy_dir, NULL) : NULL;
	json_t *j = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:o, s:o, s:o, s:s?, s:b, s:s}", "ferry-wrap", 1,
			      "tool", tool, "version", version, "image", o->image, "digest", info->manifest_digest,
			      "store", store_dir, "pinned", pinned, "rule", wrap_rule_name(rule), "commands", cmds, "categories",
			      strv_json(o->categories), "exec", strv_json(o->execs), "builddate", o->builddate,
			      "catalog", o->from_catalog, "module-format", o->format == WRAP_MODULE_TCL ? "tcl" : "lua");
	free(pinned);
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	char *out = xasprintf("%s\n", s);
	free(s);
	return out;
}

int wrap_image(const struct wrap_opts *o, struct wrap_result *res, struct ferr *err)
{
	memset(res, 0, sizeof *res);
	_cleanup_close_ int lock = wrap_lock(o->prefix, err);
	if (lock < 0)
		return -1;
	return wrap_image_locked(o, res, err);
}

int wrap_image_locked(const struct wrap_opts *o, struct wrap_result *res, struct ferr *err)
{
	memset(res, 0, sizeof *res);
	struct store *st = NULL;
	if (store_open(&st, err) < 0)
		return -1;
	struct image_info *info = NULL;
	int rc = get_image(st, o, &info, err);
	store_close(st);
	if (rc < 0)
		return -1;
	_cleanup_free_ char *tool = NULL, *version = NULL, *help = NULL;
	struct wrap_cmds c = {0};
	_cleanup_strv_ char **env = NULL;
	enum wrap_rule rule = 0;
	rc = pick_name(o, info, &tool, &version, err);
	if (rc == 0 && reserved(tool))
		rc = ferr_setc(err, FERR_USAGE, 0, "name %s/%s: '%s' is a name ferry uses in DIR", tool, version, tool);
	if (rc == 0)
		rc = wrap_discover(info->rootfs, &info->config, o, &c, &rule, &help, &res->ignored, err);
	if (rc < 0) {
		image_info_free(info);
		cmds_free(&c);
		return -1;
	}
	_cleanup_free_ char *readme = read_readme(info->rootfs);
	env = deploy_env(&info->config, info->rootfs, &res->ignored);
	_cleanup_free_ char *sidecar = sidecar_text(o, info, tool, version, &c, rule);

	bool changed = false;
	rc = install_ferry(o->prefix, &changed, err);
	_cleanup_free_ char *tdir = xasprintf("%s/%s/%s", o->prefix, tool, version);
	_cleanup_free_ char *sc = path_join(tdir, WRAP_SIDECAR);
	if (rc == 0 && !same_file(sc, sidecar, strlen(sidecar))) {
		rc = install_tool_dir(o->prefix, tool, version, &c, sidecar, err);
		changed = true;
	}
	struct wrap_module_info m = {tool, version, info->manifest_digest, o->image, o->categories,
				     readme ? readme : help, env, 2};
	_cleanup_free_ char *mod = wrap_module_text(&m, o->format);
	_cleanup_free_ char *mpath = xasprintf("%s/modules/%s/%s%s", o->prefix, tool, version, module_ext(o->format));
	if (rc == 0)
		rc = write_if_changed(mpath, mod, &changed, err);
	if (rc == 0) {
		/* the other format's file would be a second module of the same name */
		_cleanup_free_ char *other = xasprintf("%s/modules/%s/%s%s", o->prefix, tool, version,
						       module_ext(o->format == WRAP_MODULE_TCL ? WRAP_MODULE_LUA : WRAP_MODULE_TCL));
		if (unlink(other) == 0)
			changed = true;
	}
	m.depth = 3;
	_cleanup_free_ char *cmod = wrap_module_text(&m, o->format);
	for (size_t i = 0; rc == 0 && o->categories && o->categories[i]; i++) {
		_cleanup_free_ char *cd = category_dir(o->categories[i]);
		if (!cd) {
			_cleanup_free_ char *n = xasprintf("category '%s': not usable as a directory name", o->categories[i]);
			strv_push(&res->ignored, n);
			continue;
		}
		_cleanup_free_ char *p = xasprintf("%s/modules-by-category/%s/%s/%s%s", o->prefix, cd, tool, version,
						   module_ext(o->format));
		rc = write_if_changed(p, cmod, &changed, err);
	}
	if (rc == 0)
		remove_stale_categories(o->prefix, tool, version, o->categories, o->format);
	if (rc == 0 && changed && !o->defer_index)
		rc = catalog_write_index(o->prefix, err);
	if (rc == 0) {
		res->tool = steal_ptr(&tool);
		res->version = steal_ptr(&version);
		res->digest = xstrdup(info->manifest_digest);
		for (size_t i = 0; i < c.n; i++)
			strv_push(&res->commands, c.name[i]);
		if (res->commands)
			qsort(res->commands, strv_len(res->commands), sizeof(char *), strv_cmp);
		res->rule = rule;
		res->unchanged = !changed;
	} else {
		ferr_wrap(err, "wrap %s", o->image);
	}
	image_info_free(info);
	cmds_free(&c);
	return rc;
}
