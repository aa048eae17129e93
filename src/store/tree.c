/* A tree from a manifest: every layer extracted in order (image/layer.c:
 * whiteouts, paths resolved inside the tree, files deduplicated through
 * ROOT/files) into ROOT/tmp, then renamed into ROOT/images/<hex> with the
 * manifest, the config and info.json. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/path.h"
#include "base/str.h"
#include "store/internal.h"

int store_tree_build(const char *root, const struct store_tree *t, struct ferr *err)
{
	const char *blobs = t->blobs ? t->blobs : root;
	_cleanup_free_ char *tmpl = xasprintf("%s/tmp/image-%.12s-XXXXXX", root, t->mdigest + 7);
	if (!mkdtemp(tmpl))
		return ferr_set(err, errno, "mkdtemp %s", tmpl);
	/* mkdtemp makes it 0700; the store's root is what keeps others out, and
	 * a store its owner opens to others (FERRY_STORE_PATH) needs no more */
	if (chmod(tmpl, 0755) < 0) {
		int e = errno;
		struct ferr ig = FERR_INIT;
		fs_rm_rf(tmpl, &ig);
		return ferr_set(err, e, "chmod %s", tmpl);
	}
	_cleanup_free_ char *rootfs = path_join(tmpl, "rootfs");
	_cleanup_free_ char *files = xasprintf("%s/files/sha256", root);
	int rc = 0;
	_cleanup_close_ int rootfd = -1, filesfd = -1;
	bool deploy = store_is_deploy(root);
	struct layer_stats ls = { .max_apparent = t->max_size, .sandbox_modes = deploy };
	if (mkdir(rootfs, 0755) < 0 || (rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		rc = ferr_set(err, errno, "create %s", rootfs);
	if (rc == 0 && (filesfd = open(files, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		rc = ferr_set(err, errno, "open %s", files);
	const struct image_manifest *m = t->m;
	for (size_t i = 0; rc == 0 && i < m->n_layers; i++) {
		_cleanup_free_ char *bp = store_blob_path(blobs, m->layers[i].digest);
		_cleanup_close_ int fd = t->open_layer ? t->open_layer(t->arg, i, err) : open(bp, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = t->open_layer ? -1 : ferr_set(err, errno, "open %s", bp);
			break;
		}
		pull_events_note(t->events, "unpacking layer %zu/%zu %.19s", i + 1, m->n_layers, m->layers[i].digest);
		ls.apparent_before = ls.apparent;
		if (layer_extract(fd, t->cfg->diff_ids[i], rootfd, filesfd, &ls, err) < 0)
			rc = ferr_wrap(err, "layer %s", m->layers[i].digest);
	}
	if (rc == 0 && deploy && store_deploy_finish(rootfd, err) < 0)
		rc = -1;
	if (rc == 0 && t->ready && t->ready(t->arg, err) < 0)
		rc = -1; /* a blob failed its download or verification: the tree goes */
	if (rc == 0) {
		_cleanup_free_ char *mp = path_join(tmpl, "manifest.json");
		_cleanup_free_ char *cp = path_join(tmpl, "config.json");
		_cleanup_free_ char *ip = path_join(tmpl, "info.json");
		_cleanup_json_ json_t *info = json_pack("{s:s, s:I}", "name", t->name, "pulled", (json_int_t)time(NULL));
		if (fs_write_atomic(mp, t->mbody, t->mlen, 0644, err) < 0 ||
			fs_write_atomic(cp, t->cbody, t->clen, 0644, err) < 0 || json_write_atomic(ip, info, 0, err) < 0 ||
			store_usage_record(tmpl, err) < 0)
			rc = -1;
	}
	if (rc == 0) {
		_cleanup_free_ char *dst = store_image_dir(root, t->mdigest);
		if (rename(tmpl, dst) < 0) {
			if (errno == EEXIST || errno == ENOTEMPTY) /* someone without locks won the race */
				rc = 1;
			else
				rc = ferr_set(err, errno, "rename into %s", dst);
		}
	}
	if (rc != 0) {
		struct ferr e = FERR_INIT;
		if (fs_rm_rf(tmpl, &e) < 0) {
			char buf[FERR_MSG_MAX];
			log_warn("could not clean up %s (ferry prune will): %s", tmpl, ferr_str(&e, buf, sizeof buf));
		}
	}
	return rc < 0 ? -1 : 0;
}
