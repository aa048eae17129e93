/* Single-file images and the store (doc/export.md):
 *   store_export: IMAGE (a tree, a stored or pullable reference, an OCI
 *     layout) -> image_export's writers;
 *   store_import: a squashfs/SIF/.simg -> a stored tree. The file's tree
 *     is turned into one tar layer of a scratch OCI layout in tmp/, which
 *     the ordinary pull then stores: the same extraction rules (no
 *     devices, no setuid, nothing outside the root), the same verified,
 *     deduplicated tree, the same record, as any pulled image. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/path.h"
#include "base/sha256.h"
#include "base/str.h"
#include "store/internal.h"

static bool looks_like_path(const char *s)
{
	return s[0] == '/' || !strcmp(s, ".") || !strcmp(s, "..") || str_starts_with(s, "./") ||
	       str_starts_with(s, "../");
}

static int export_stored(struct store *st, const char *ref, const char *out, const struct export_opts *o,
	struct ferr *err)
{
	struct image_info *info = NULL;
	if (store_resolve(st, ref, &info, err) < 0)
		return -1;
	_cleanup_free_ char *cpath = path_join(info->dir, "config.json");
	_cleanup_free_ char *cfg = NULL;
	size_t len = 0;
	int rc = fs_read_file(cpath, &cfg, &len, err);
	if (rc == 0) {
		struct export_opts o2 = *o;
		if (!o2.name)
			o2.name = info->name;
		rc = image_export(info->rootfs, cfg, len, out, &o2, err);
	}
	image_info_free(info);
	return rc;
}

int store_export(struct store *st, const char *image, bool no_pull, const struct pull_opts *po, const char *out,
	const struct export_opts *o, struct ferr *err)
{
	_cleanup_free_ char *layout_ref = NULL;
	if (looks_like_path(image)) {
		if (!fs_is_dir(image)) {
			if (!fs_exists(image))
				return ferr_setc(err, FERR_NOTFOUND, 0, "image %s: no such directory", image);
			ferr_setc(err, FERR_UNSUPPORTED, 0, "image %s: a file, not a tree or a stored image", image);
			return ferr_hint(err, "unpack it with 'ferry import %s', then export the stored image", image);
		}
		_cleanup_free_ char *sub = path_join(image, "rootfs");
		_cleanup_free_ char *cpath = path_join(image, "config.json");
		_cleanup_free_ char *marker = path_join(image, "oci-layout");
		if (fs_is_dir(sub) && fs_exists(cpath)) {
			/* A store record, or a copy of one: its tree and config. */
			_cleanup_free_ char *cfg = NULL;
			size_t len = 0;
			if (fs_read_file(cpath, &cfg, &len, err) < 0)
				return -1;
			return image_export(sub, cfg, len, out, o, err);
		}
		if (!fs_exists(marker))
			return image_export(image, NULL, 0, out, o, err);
		_cleanup_free_ char *abs = realpath(image, NULL);
		if (!abs)
			return ferr_set(err, errno, "image %s", image);
		layout_ref = xasprintf("oci:%s", abs);
		image = layout_ref;
	}
	struct image_info *info = NULL;
	if (store_resolve(st, image, &info, err) == 0) {
		image_info_free(info);
		return export_stored(st, image, out, o, err);
	}
	if (err->code != FERR_NOTFOUND)
		return -1;
	if (no_pull)
		return ferr_hint(err, "pull it with 'ferry pull %s', or drop --no-pull", image);
	ferr_clear(err);
	struct pull_opts dflt = { 0 };
	_cleanup_free_ char *digest = NULL;
	if (store_pull(st, image, po ? po : &dflt, &digest, err) < 0)
		return -1;
	return export_stored(st, digest, out, o, err);
}

/* "localhost/<file name without extension>:latest", lower-cased, with
 * anything a repository name cannot hold turned into '-'. */
static char *default_name(const char *file)
{
	_cleanup_free_ char *base = path_basename(file);
	char *dot = strrchr(base, '.');
	if (dot && dot != base)
		*dot = 0;
	for (char *c = base; *c; c++) {
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
		else if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
			*c = '-';
	}
	const char *b = base;
	while (*b == '.' || *b == '-' || *b == '_')
		b++;
	return xasprintf("localhost/%s:latest", *b ? b : "image");
}

static int put_blob(const char *dir, const char *data, size_t len, char digest[72], struct ferr *err)
{
	char hex[SHA256_HEX_LEN + 1];
	sha256_hex(data, len, hex);
	snprintf(digest, 72, "sha256:%s", hex);
	_cleanup_free_ char *p = xasprintf("%s/blobs/sha256/%s", dir, hex);
	return fs_write_atomic(p, data, len, 0644, err);
}

/* The scratch OCI layout at dir: the file's tree as one layer, and its
 * embedded config (or a plain one) describing it. */
static int build_layout(int fd, const char *file, const struct sfile *sf, const char *dir, struct ferr *err)
{
	_cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", dir);
	if (fs_mkdir_p(blobs, 0700, err) < 0)
		return -1;
	_cleanup_free_ char *lpath = xasprintf("%s/layer.tar", blobs);
	{
		_cleanup_close_ int lfd = open(lpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (lfd < 0)
			return ferr_set(err, errno, "create %s", lpath);
		if (sfile_to_tar(fd, file, sf, lfd, err) < 0)
			return -1;
	}
	char lhex[SHA256_HEX_LEN + 1];
	if (sha256_file_hex(lpath, lhex, err) < 0)
		return -1;
	struct stat lst;
	if (stat(lpath, &lst) < 0)
		return ferr_set(err, errno, "stat %s", lpath);
	_cleanup_free_ char *lfinal = xasprintf("%s/%s", blobs, lhex);
	if (rename(lpath, lfinal) < 0)
		return ferr_set(err, errno, "rename %s", lpath);
	char ldigest[72];
	snprintf(ldigest, sizeof ldigest, "sha256:%s", lhex);

	_cleanup_free_ char *raw = NULL;
	size_t rlen = 0;
	_cleanup_json_ json_t *cfg = NULL;
	if (sfile_read_file(fd, file, sf, SFILE_CONFIG_PATH, 4 << 20, &raw, &rlen, err) == 0) {
		if (!(cfg = json_load_buf(raw, rlen, SFILE_CONFIG_PATH, err)) || !json_is_object(cfg))
			return ferr_wrap(err, "%s", file);
	} else if (err->code != FERR_NOTFOUND) {
		return -1;
	} else {
		/* Not written by ferry: Apptainer's runscript, when there is one, is what the image runs. */
		ferr_clear(err);
		struct image_platform p;
		image_platform_host(&p);
		cfg = json_pack("{s:s, s:s, s:{s:[s]}}", "architecture", p.arch, "os", "linux", "config", "Env",
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
		_cleanup_free_ char *rs = NULL;
		size_t n = 0;
		struct ferr e2 = FERR_INIT;
		if (sfile_read_file(fd, file, sf, "/.singularity.d/runscript", 1 << 20, &rs, &n, &e2) == 0)
			json_object_set_new(json_object_get(cfg, "config"), "Cmd", json_pack("[s]", "/.singularity.d/runscript"));
	}
	json_object_set_new(cfg, "rootfs", json_pack("{s:s, s:[s]}", "type", "layers", "diff_ids", ldigest));
	json_object_del(cfg, "history");
	_cleanup_free_ char *ctext = json_dumps(cfg, JSON_SORT_KEYS | JSON_COMPACT);
	char cdigest[72], mdigest[72];
	if (put_blob(dir, ctext, strlen(ctext), cdigest, err) < 0)
		return -1;
	_cleanup_json_ json_t *m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2,
		"mediaType", MT_OCI_MANIFEST, "config", "mediaType", "application/vnd.oci.image.config.v1+json", "digest",
		cdigest, "size", (json_int_t)strlen(ctext), "layers", "mediaType", "application/vnd.oci.image.layer.v1.tar",
		"digest", ldigest, "size", (json_int_t)lst.st_size);
	_cleanup_free_ char *mtext = json_dumps(m, JSON_SORT_KEYS | JSON_COMPACT);
	if (put_blob(dir, mtext, strlen(mtext), mdigest, err) < 0)
		return -1;
	_cleanup_json_ json_t *idx = json_pack("{s:i, s:[{s:s, s:s, s:I, s:{s:s}}]}", "schemaVersion", 2, "manifests",
		"mediaType", MT_OCI_MANIFEST, "digest", mdigest, "size", (json_int_t)strlen(mtext), "annotations",
		"org.opencontainers.image.ref.name", "latest");
	_cleanup_free_ char *itext = json_dumps(idx, JSON_COMPACT);
	_cleanup_free_ char *ipath = path_join(dir, "index.json");
	_cleanup_free_ char *opath = path_join(dir, "oci-layout");
	const char *layout = "{\"imageLayoutVersion\":\"1.0.0\"}";
	if (fs_write_atomic(ipath, itext, strlen(itext), 0644, err) < 0 ||
		fs_write_atomic(opath, layout, strlen(layout), 0644, err) < 0)
		return -1;
	return 0;
}

int store_import(struct store *st, const char *file, const char *name, const struct pull_opts *po,
	char **digest_out, struct ferr *err)
{
	_cleanup_free_ char *dflt_name = name ? NULL : default_name(file);
	if (!name)
		name = dflt_name;
	struct image_ref nref;
	if (image_ref_parse(name, &nref, err) < 0)
		return ferr_wrap(err, "import %s: name", file);
	if (nref.digest) {
		image_ref_free(&nref);
		return ferr_setc(err, FERR_USAGE, 0, "import %s: name %s: a name has a tag, not a digest", file, name);
	}
	_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
	struct sfile sf;
	int rc = fd < 0 ? ferr_setc(err, errno == ENOENT ? FERR_NOTFOUND : FERR_GENERIC, errno, "import %s", file)
			: sfile_probe(fd, file, &sf, err);
	if (rc == 0) {
		rc = ferr_setc(err, FERR_INVALID, 0, "import %s: not a single-file image (squashfs, SIF or .simg)", file);
	} else if (rc > 0) {
		_cleanup_free_ char *tmpl = xasprintf("%s/tmp/import-XXXXXX", store_home(st));
		_cleanup_free_ char *tmpdir = NULL;
		_cleanup_free_ char *tmproot = xasprintf("%s/tmp", store_home(st));
		rc = fs_mkdir_p(tmproot, 0700, err);
		if (rc == 0 && !mkdtemp(tmpl))
			rc = ferr_set(err, errno, "import %s: scratch directory in %s", file, tmproot);
		if (rc == 0) {
			tmpdir = steal_ptr(&tmpl);
			rc = build_layout(fd, file, &sf, tmpdir, err);
			_cleanup_free_ char *digest = NULL;
			_cleanup_free_ char *src = xasprintf("oci:%s:latest", tmpdir);
			struct pull_opts o = po ? *po : (struct pull_opts){ 0 };
			o.keep_layers = false;
			if (rc == 0)
				rc = store_pull(st, src, &o, &digest, err);
			if (rc == 0) {
				/* The pull named the scratch layout: name the image instead. */
				struct image_ref sref;
				struct ferr e2 = FERR_INIT;
				if (image_ref_parse(src, &sref, &e2) == 0) {
					store_ref_remove(st->home, &sref, false, &e2);
					image_ref_free(&sref);
				}
				rc = store_ref_write(st->home, &nref, false, digest, err);
			}
			if (rc == 0 && digest_out)
				*digest_out = steal_ptr(&digest);
			struct ferr e3 = FERR_INIT;
			fs_rm_rf(tmpdir, &e3);
		}
		if (rc < 0 && !str_starts_with(err->msg, file) && !str_starts_with(err->msg, "import "))
			ferr_wrap(err, "import %s", file);
	}
	image_ref_free(&nref);
	return rc < 0 ? -1 : 0;
}
