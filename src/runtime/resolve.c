/* Step 1 of the runtime: IMAGE -> root file system + image config. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/path.h"
#include "base/str.h"
#include "runtime/internal.h"
#include "runtime/runtime.h"
#include "runtime/squash.h"
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

static bool has_file_suffix(const char *s)
{
	return str_ends_with(s, ".sqfs") || str_ends_with(s, ".squashfs") || str_ends_with(s, ".sif") ||
	       str_ends_with(s, ".simg");
}

/* A file inside a single-file image, whole: through the reader that the
 * FUSE helper will serve when that opened (one library and one open of
 * the squashfs for the whole start), else through libsquashfs, which also
 * says what is wrong with a file it cannot read. FERR_NOTFOUND when PATH
 * is not there. */
static int image_file(int fd, const char *image, const struct sfile *sf, bool fuse, const char *path, size_t max,
		      char **data, size_t *len, struct ferr *err)
{
	int k = fuse ? squash_read_file(path, max, data, len) : -1;
	if (k > 0)
		return 0;
	if (k == 0)
		return ferr_setc(err, FERR_NOTFOUND, 0, "%s: no %s", image, path);
	return sfile_read_file(fd, image, sf, path, max, data, len, err);
}

/* A single-file image (squashfs, SIF, .simg): a path to a regular file, or
 * a bare name ending in .sqfs .squashfs .sif .simg that is one (as
 * `apptainer exec img.sif`; no registry reference is taken for it then).
 * Its config is the one `ferry export` embedded; without one, `ferry run`
 * does what Apptainer's run action does: the image's
 * /.singularity.d/env/ scripts, then its runscript, else a shell.
 * Returns 1 when IMAGE is such a file, 0 when not, -1 on error. */
static int resolve_file(const char *image, struct run_image *r, struct ferr *err)
{
	struct stat st;
	if ((!looks_like_path(image) && !has_file_suffix(image)) || stat(image, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	_cleanup_close_ int fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferr_setc(err, errno == ENOENT ? FERR_NOTFOUND : FERR_GENERIC, errno, "image %s", image);
	struct sfile sf;
	int k = sfile_probe(fd, image, &sf, err);
	if (k < 0)
		return -1;
	if (k == 0) {
		if (!looks_like_path(image))
			return 0; /* a bare name: perhaps a reference after all */
		return ferr_setc(err, FERR_INVALID, 0, "image %s: not a directory, a squashfs or a SIF file", image);
	}
	/* What the container will mount, opened now (the helper inherits it);
	 * when it cannot be (no libsquashfuse), the mount says so later. */
	char msg[256];
	bool fuse = squash_open(fd, sf.sqfs_offset, msg, sizeof msg) == 0;
	_cleanup_free_ char *cfg = NULL;
	size_t cfg_len = 0;
	bool have = image_file(fd, image, &sf, fuse, SFILE_CONFIG_PATH, 4 << 20, &cfg, &cfg_len, err) == 0;
	if (!have) {
		if (err->code != FERR_NOTFOUND)
			return -1;
		ferr_clear(err);
	} else if (image_config_parse(cfg, cfg_len, &r->config, err) < 0) {
		return ferr_wrap(err, "%s: %s", image, SFILE_CONFIG_PATH);
	}
	if (!have) {
		/* Apptainer's /.singularity.d/actions/run, in the container. */
		static const char script[] =
			"for f in /.singularity.d/env/*.sh; do if [ -f \"$f\" ]; then . \"$f\"; fi; done; "
			"if [ -x /.singularity.d/runscript ]; then exec /.singularity.d/runscript \"$@\"; fi; "
			"exec /bin/sh \"$@\"";
		const char *const run[] = {"/bin/sh", "-c", script, "/.singularity.d/runscript", NULL};
		image_config_free(&r->config);
		memset(&r->config, 0, sizeof r->config);
		r->config.env = xcalloc(1, sizeof *r->config.env);
		for (size_t i = 0; run[i]; i++)
			strv_push(&r->config.entrypoint, run[i]);
		/* For exec and shell too: the plain assignments of its env scripts. */
		static const char *const scripts[] = {"/.singularity.d/env/10-docker2singularity.sh",
						      "/.singularity.d/env/90-environment.sh"};
		for (size_t i = 0; i < sizeof scripts / sizeof *scripts; i++) {
			_cleanup_free_ char *text = NULL;
			size_t len = 0;
			struct ferr e2 = FERR_INIT;
			if (image_file(fd, image, &sf, fuse, scripts[i], 1 << 20, &text, &len, &e2) == 0)
				squash_parse_env_script(text, len, &r->config.env);
		}
	}
	r->have_config = true;
	r->rootfs = realpath(image, NULL);
	if (!r->rootfs)
		return ferr_set(err, errno, "image %s", image);
	return 1;
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
	int fr = resolve_file(image, r, err);
	if (fr != 0)
		return fr < 0 ? -1 : 0;
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

