/* The pull: resolve the reference, find the image already stored (one
 * request) or fetch its manifest, config and layers and build its tree,
 * then record the name. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/size.h"
#include "base/str.h"
#include "store/internal.h"

/* The most an image's files may add up to (apparent size, holes included). */
#define DEFAULT_MAX_IMAGE_SIZE (64ULL << 30)

static int max_image_size(const struct pull_opts *o, uint64_t *max, struct ferr *err)
{
	*max = DEFAULT_MAX_IMAGE_SIZE;
	if (o && o->max_image_size) {
		*max = o->max_image_size;
		return 0;
	}
	const char *e = getenv("FERRY_MAX_IMAGE_SIZE");
	if (e && *e && size_parse(e, max, err) < 0)
		return ferr_wrap(err, "FERRY_MAX_IMAGE_SIZE");
	return 0;
}

/* An index stored earlier: which manifest it picks for the platform. */
static char *indexed_manifest(struct store *st, const char *digest, const struct image_platform *plat)
{
	_cleanup_free_ char *body = NULL;
	size_t len;
	struct ferr e = FERR_INIT;
	if (store_blob_read(st->home, digest, &body, &len, &e) < 0)
		return NULL;
	struct image_manifest idx;
	if (image_manifest_parse(body, len, NULL, &idx, &e) < 0)
		return NULL;
	char *r = NULL;
	const struct image_desc *d;
	if (idx.is_index && image_index_select(&idx, plat, &d, &e) == 0)
		r = xstrdup(d->digest);
	image_manifest_free(&idx);
	return r;
}

/* In FERRY_HOME or any read-only store. */
static bool image_anywhere(struct store *st, const char *digest)
{
	for (char **r = st->ro; r && *r; r++)
		if (store_image_present(*r, digest))
			return true;
	return store_image_present(st->home, digest);
}

/* Shared holds on the layer blobs of m while a tree is built from them, so
 * that another pull dropping its layers (drop_layers) leaves them alone.
 * 0 with every layer present and held; 1 when one went missing between
 * fetching and holding (fetch again); -1 on error. */
static int hold_layers(const char *root, const struct image_manifest *m, int *held, struct ferr *err)
{
	for (size_t i = 0; i < m->n_layers; i++)
		held[i] = -1;
	for (size_t i = 0; i < m->n_layers; i++) {
		held[i] = store_lock_take(root, m->layers[i].digest + 7, LOCK_SH, NULL, NULL, err);
		if (held[i] == -1)
			return -1;
		_cleanup_free_ char *p = store_blob_path(root, m->layers[i].digest);
		if (!fs_exists(p))
			return 1;
	}
	return 0;
}

static void release_layers(const struct image_manifest *m, int *held)
{
	for (size_t i = 0; i < m->n_layers; i++)
		store_lock_release(held[i]);
}

/* Fetch the layers, hold them, build the tree: streamed (stream.c, the
 * tree extracted while the blobs download) when a blob is missing, else
 * or when that fails, from the blobs. A layer dropped by a concurrent
 * pull of an image that shares it is fetched again. */
static int build_from_layers(const char *root, struct image_source *src, const struct store_tree *t, struct ferr *err)
{
	int rc = 1;
	if (store_tree_streamable(root, t->m))
		rc = store_tree_build_streamed(root, src, t, err);
	if (rc <= 0)
		return rc;
	int *held = xcalloc(t->m->n_layers ? t->m->n_layers : 1, sizeof *held);
	for (int attempt = 0; rc == 1 && attempt < 3; attempt++) {
		rc = store_blobs_ensure(root, src, t->m->layers, t->m->n_layers, t->events, err);
		if (rc == 0)
			rc = hold_layers(root, t->m, held, err);
		if (rc == 0)
			rc = store_tree_build(root, t, err);
		release_layers(t->m, held);
	}
	if (rc == 1)
		rc = ferr_setc(err, FERR_GENERIC, 0, "layers of %s keep disappearing (another ferry dropping them?)", t->mdigest);
	if (rc < 0)
		store_files_sweep(root); /* what the failed build stored in files/ */
	free(held);
	return rc;
}

/* The tree is in place and verified: its layer blobs are not needed any
 * more. One that another pull holds (it is building a tree from it) is
 * left; prune drops it later. Failing to drop one is no error. */
static void drop_layers(const char *root, const struct image_manifest *m)
{
	for (size_t i = 0; i < m->n_layers; i++) {
		struct ferr e = FERR_INIT;
		int fd = store_lock_take(root, m->layers[i].digest + 7, LOCK_EX | LOCK_NB, NULL, NULL, &e);
		if (fd == -1 || fd == STORE_LOCK_BUSY)
			continue;
		_cleanup_free_ char *p = store_blob_path(root, m->layers[i].digest);
		if (unlink(p) < 0 && errno != ENOENT)
			log_debug("keeping layer %s: %s", p, strerror(errno));
		store_lock_release(fd);
	}
}

int store_drop_layers(struct store *st, const char *manifest_digest, struct ferr *err)
{
	if (store_keep_layers(NULL))
		return 0;
	_cleanup_free_ char *body = NULL;
	size_t len = 0;
	struct image_manifest m;
	if (store_blob_read(st->home, manifest_digest, &body, &len, err) < 0 ||
	    image_manifest_parse(body, len, NULL, &m, err) < 0)
		return ferr_wrap(err, "drop the layers of %.19s", manifest_digest);
	drop_layers(st->home, &m);
	image_manifest_free(&m);
	return 0;
}

static int pull(struct store *st, const struct image_ref *ref, const struct pull_opts *o, char **out,
	struct ferr *err)
{
	const struct pull_events *ev = o && !o->quiet ? o->events : NULL;
	struct image_platform plat;
	if (o && o->platform) {
		if (image_platform_parse(o->platform, &plat, err) < 0)
			return -1;
	} else {
		image_platform_host(&plat);
	}
	struct image_source *src = NULL;
	if (image_source_open(ref, o, &src, err) < 0)
		return -1;
	_cleanup_free_ char *top = NULL;
	_cleanup_free_ char *mdigest = NULL;
	_cleanup_free_ char *mbody = NULL, *cbody = NULL;
	size_t mlen = 0, clen = 0;
	struct image_manifest m = { 0 };
	struct image_config cfg = { 0 };
	_cleanup_free_ char *name = image_ref_str(ref);
	int lock = -1;
	int rc = image_source_resolve(src, &top, err);

	/* Warm path: the digest (or the index entry it picks) is already here. */
	if (rc == 0) {
		_cleanup_free_ char *viaidx = indexed_manifest(st, top, &plat);
		const char *cand = viaidx ? viaidx : top;
		if (image_anywhere(st, cand)) {
			mdigest = xstrdup(cand);
			goto refs;
		}
	}
	if (rc == 0) {
		_cleanup_free_ char *body = NULL, *mt = NULL;
		size_t len;
		rc = image_source_manifest(src, top, &body, &len, &mt, err);
		if (rc == 0)
			rc = image_manifest_parse(body, len, mt, &m, err);
		if (rc == 0 && m.is_index) {
			const struct image_desc *d;
			rc = image_index_select(&m, &plat, &d, err);
			if (rc == 0) {
				mdigest = xstrdup(d->digest);
				rc = store_blob_put(st->home, top, body, len, err);
			}
			image_manifest_free(&m);
			if (rc == 0 && image_anywhere(st, mdigest))
				goto refs;
			_cleanup_free_ char *mt2 = NULL;
			if (rc == 0)
				rc = image_source_manifest(src, mdigest, &mbody, &mlen, &mt2, err);
			if (rc == 0)
				rc = image_manifest_parse(mbody, mlen, mt2, &m, err);
			if (rc == 0 && m.is_index)
				rc = ferr_setc(err, FERR_UNSUPPORTED, 0, "index %s points to another index", top);
		} else if (rc == 0) {
			mdigest = xstrdup(top);
			mbody = steal_ptr(&body);
			mlen = len;
		}
	}
	if (rc < 0)
		goto done;

	/* One process per image does the work; the others wait here. */
	lock = store_lock_take(st->home, mdigest + 7, LOCK_EX, "pulling this image", ev, err);
	if (lock == -1) {
		rc = -1;
		goto done;
	}
	if (store_image_present(st->home, mdigest))
		goto refs;
	rc = store_blobs_ensure(st->home, src, &m.config, 1, ev, err);
	if (rc == 0)
		rc = store_blob_read(st->home, m.config.digest, &cbody, &clen, err);
	if (rc == 0)
		rc = image_config_parse(cbody, clen, &cfg, err);
	if (rc == 0 && strv_len(cfg.diff_ids) != m.n_layers)
		rc = ferr_setc(err, FERR_INVALID, 0, "config lists %zu diff_ids for %zu layers", strv_len(cfg.diff_ids),
			m.n_layers);
	if (rc == 0)
		rc = store_blob_put(st->home, mdigest, mbody, mlen, err);
	uint64_t max_size = 0;
	if (rc == 0)
		rc = max_image_size(o, &max_size, err);
	if (rc == 0) {
		struct store_tree t = { .name = name, .mdigest = mdigest, .mbody = mbody, .mlen = mlen, .m = &m,
			.cbody = cbody, .clen = clen, .cfg = &cfg, .max_size = max_size, .events = ev };
		rc = build_from_layers(st->home, src, &t, err);
	}
	if (rc == 0 && !store_keep_layers(o))
		drop_layers(st->home, &m);
	if (rc < 0)
		goto done;
refs:
	if (ref->tag && (rc = store_ref_write(st->home, ref, false, mdigest, err)) < 0)
		goto done;
	if (ref->digest && (rc = store_ref_write(st->home, ref, true, mdigest, err)) < 0)
		goto done;
	if (!ref->tag && !ref->digest) {
		struct image_ref r2 = *ref;
		r2.digest = mdigest;
		if ((rc = store_ref_write(st->home, &r2, true, mdigest, err)) < 0)
			goto done;
	}
	if (out)
		*out = steal_ptr(&mdigest);
	rc = 0;
done:
	store_lock_release(lock);
	image_manifest_free(&m);
	image_config_free(&cfg);
	image_source_close(src);
	return rc;
}

int store_pull(struct store *st, const char *refstr, const struct pull_opts *o, char **manifest_digest_out,
	struct ferr *err)
{
	if (!st->writable)
		return ferr_setc(err, FERR_PERM, 0, "pull %s: store %s is not writable", refstr, st->home);
	struct image_ref ref;
	if (image_ref_parse(refstr, &ref, err) < 0)
		return -1;
	if (st->gc_fd == -1) {
		int fd = store_lock_take(st->home, "gc", LOCK_SH, "prune to finish", o && !o->quiet ? o->events : NULL, err);
		if (fd == -1) {
			image_ref_free(&ref);
			return -1;
		}
		st->gc_fd = fd;
	}
	int rc = pull(st, &ref, o, manifest_digest_out, err);
	if (rc < 0) {
		_cleanup_free_ char *s = image_ref_str(&ref);
		ferr_wrap(err, "pull %s", s);
	}
	image_ref_free(&ref);
	return rc;
}

