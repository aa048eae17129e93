/* Finding a stored image by name, digest or id prefix, in the read-only
 * stores first, then the user's. No network. */
#include <dirent.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/path.h"
#include "base/sha256.h"
#include "base/str.h"
#include "store/internal.h"

void image_info_free(struct image_info *info)
{
	if (!info)
		return;
	free(info->name);
	free(info->manifest_digest);
	free(info->dir);
	free(info->rootfs);
	image_config_free(&info->config);
	free(info);
}

static int load_info(const char *root, const char *digest, const char *name, struct image_info **out,
	struct ferr *err)
{
	struct image_info *info = xcalloc(1, sizeof *info);
	info->manifest_digest = xstrdup(digest);
	info->dir = store_image_dir(root, digest);
	info->rootfs = path_join(info->dir, "rootfs");
	info->name = xstrdup(name);
	_cleanup_free_ char *cp = path_join(info->dir, "config.json");
	_cleanup_free_ char *body = NULL;
	size_t len;
	if (fs_read_file(cp, &body, &len, err) < 0 || image_config_parse(body, len, &info->config, err) < 0) {
		image_info_free(info);
		return -1;
	}
	*out = info;
	return 0;
}

int store_resolve(struct store *st, const char *refstr, struct image_info **out, struct ferr *err)
{
	_cleanup_strv_ char **rs = store_roots(st);
	const char *hex = str_starts_with(refstr, "sha256:") ? refstr + 7 : refstr;
	/* A digest or a unique prefix of one (at least 6 hex digits). */
	if (store_is_hex(hex) && strlen(hex) >= 6 && strlen(hex) <= SHA256_HEX_LEN) {
		for (char **r = rs; *r; r++) {
			_cleanup_free_ char *idir = path_join(*r, "images");
			_cleanup_closedir_ DIR *d = opendir(idir);
			struct dirent *e;
			_cleanup_free_ char *match = NULL;
			int n = 0;
			while (d && (e = readdir(d)))
				if (str_starts_with(e->d_name, hex) && strlen(e->d_name) == SHA256_HEX_LEN) {
					n++;
					free(match);
					match = xstrdup(e->d_name);
				}
			if (n > 1)
				return ferr_setc(err, FERR_USAGE, 0, "image id %s is ambiguous", refstr);
			if (n == 1) {
				_cleanup_free_ char *dg = xasprintf("sha256:%s", match);
				if (load_info(*r, dg, dg, out, err) < 0)
					return -1;
				(*out)->readonly_store = *r != rs[strv_len(rs) - 1];
				return 0;
			}
		}
		if (strlen(hex) == SHA256_HEX_LEN || str_starts_with(refstr, "sha256:"))
			return ferr_setc(err, FERR_NOTFOUND, 0, "image %s is not in the store", refstr);
	}
	struct image_ref ref;
	if (image_ref_parse(refstr, &ref, err) < 0)
		return -1;
	_cleanup_free_ char *name = image_ref_str(&ref);
	int rc = -1;
	bool found = false;
	for (char **r = rs; *r; r++) {
		_cleanup_free_ char *rp = store_ref_path(*r, &ref, ref.digest != NULL);
		_cleanup_free_ char *dg = store_ref_read(rp);
		if (!dg && ref.digest && store_image_present(*r, ref.digest))
			dg = xstrdup(ref.digest);
		if (!dg)
			continue;
		/* The tree may live in another store: a pull that found the image
		 * in a read-only store records only the reference in FERRY_HOME. */
		const char *where = NULL;
		for (char **r2 = rs; *r2 && !where; r2++)
			if (store_image_present(*r2, dg))
				where = *r2;
		if (!where)
			continue;
		found = true;
		rc = load_info(where, dg, name, out, err);
		if (rc == 0)
			(*out)->readonly_store = where != rs[strv_len(rs) - 1];
		break;
	}
	if (!found) {
		ferr_setc(err, FERR_NOTFOUND, 0, "image %s is not in the store", name);
		ferr_hint(err, "ferry pull %s", refstr);
	}
	image_ref_free(&ref);
	return rc;
}

