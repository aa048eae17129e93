/* Step 1 of the runtime: IMAGE -> root file system + image config. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/path.h"
#include "base/str.h"
#include "runtime/runtime.h"
#include "store/store.h"

static bool looks_like_path(const char *s)
{
	return s[0] == '/' || !strcmp(s, ".") || !strcmp(s, "..") || str_starts_with(s, "./") ||
	       str_starts_with(s, "../");
}

/* A directory holding rootfs/ and config.json (a store record images/<hex>/,
 * or a copy of one) carries its config; any other directory is a plain root. */
static int resolve_dir(const char *dir, struct run_image *r, struct ferr *err)
{
	_cleanup_free_ char *sub = path_join(dir, "rootfs");
	_cleanup_free_ char *cfg = path_join(dir, "config.json");
	if (fs_is_dir(sub) && fs_exists(cfg)) {
		/* The store's own parser: a directory copied from the store runs
		 * exactly as the stored image does. */
		_cleanup_free_ char *body = NULL;
		size_t len = 0;
		if (fs_read_file(cfg, &body, &len, err) < 0 || image_config_parse(body, len, &r->config, err) < 0)
			return ferr_wrap(err, "%s", cfg);
		r->have_config = true;
		r->rootfs = steal_ptr(&sub);
	} else {
		r->rootfs = xstrdup(dir);
	}
	return 0;
}

static bool is_oci_layout(const char *dir)
{
	_cleanup_free_ char *marker = path_join(dir, "oci-layout");
	_cleanup_free_ char *index = path_join(dir, "index.json");
	_cleanup_free_ char *sub = path_join(dir, "rootfs");
	return fs_exists(marker) && fs_exists(index) && !fs_is_dir(sub);
}

/* A bare name is never taken as a directory of the current directory: in
 * a shared directory another user could plant alpine/ and have their root
 * file system run by whoever types `ferry exec alpine` (Apptainer, too,
 * wants a path). When such a directory exists, the error says how to
 * name it. */
static int dir_hint(const char *image, struct ferr *err)
{
	if (fs_is_dir(image))
		ferr_hint(err, "a directory is written as a path: ./%s", image);
	return -1;
}

/* IMAGE → root file system + image config, in this order:
 *   a path (starts with / ./ ../) → that directory (an OCI image layout
 *     directory is taken as oci:DIR, pulled into the store);
 *   a reference stored in FERRY_STORE_PATH or FERRY_HOME → its tree;
 *   otherwise pull it (unless --no-pull) and use the stored tree. */
int runtime_resolve_image(const char *image, bool no_pull, const struct pull_events *events, struct run_image *r,
			  struct ferr *err)
{
	memset(r, 0, sizeof *r);
	_cleanup_free_ char *layout_ref = NULL;
	if (looks_like_path(image)) {
		if (!fs_is_dir(image))
			return ferr_setc(err, FERR_NOTFOUND, 0, "image %s: no such directory", image);
		if (!is_oci_layout(image))
			return resolve_dir(image, r, err);
		/* An OCI image layout (skopeo copy ... oci:DIR, umoci), not a
		 * root file system: take it as the reference oci:DIR. */
		_cleanup_free_ char *abs = realpath(image, NULL);
		if (!abs)
			return ferr_setc(err, FERR_NOTFOUND, errno, "image %s", image);
		layout_ref = xasprintf("oci:%s", abs);
		image = layout_ref;
	}
	struct store *st = NULL;
	if (store_open(&st, err) < 0)
		return ferr_wrap(err, "image %s", image), dir_hint(image, err);
	struct image_info *info = NULL;
	int rc = store_resolve(st, image, &info, err);
	if (rc < 0 && err->code == FERR_NOTFOUND && !no_pull) {
		ferr_clear(err);
		struct pull_opts o = { .events = events };
		_cleanup_free_ char *digest = NULL;
		rc = store_pull(st, image, &o, &digest, err);
		if (rc == 0)
			rc = store_resolve(st, digest, &info, err);
	} else if (rc < 0 && err->code == FERR_NOTFOUND) {
		ferr_hint(err, "pull it with 'ferry pull %s', or drop --no-pull", image);
	}
	if (rc < 0) {
		store_close(st);
		return layout_ref ? -1 : dir_hint(image, err); /* the store's messages name the image */
	}
	r->rootfs = xstrdup(info->rootfs);
	r->config = info->config; /* taken over: info no longer owns it */
	memset(&info->config, 0, sizeof info->config);
	r->have_config = true;
	image_info_free(info);
	store_close(st);
	return 0;
}

void runtime_image_free(struct run_image *r)
{
	free(r->rootfs);
	image_config_free(&r->config);
	memset(r, 0, sizeof *r);
}

