/* rm and prune. Nothing is removed without saying so when it fails: a
 * reference rm could not remove, an image prune could not remove, are
 * errors, never a "removed" that is not true. Removal goes through
 * base/fs.c's checked rm -rf; the bytes it frees are counted before. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/path.h"
#include "base/sha256.h"
#include "base/str.h"
#include "store/internal.h"

/* The bytes removing dfd/name would free now: directories, and inodes
 * whose every link is inside it (counted once). Best effort: an entry
 * that cannot be looked at counts nothing (the removal itself reports). */
struct seen_links {
	struct seen_link {
		ino_t ino;
		nlink_t met;
	} *v;
	size_t n;
};

static void count_freed(int dfd, const char *name, struct seen_links *sl, uint64_t *freed)
{
	struct stat sb;
	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		if (sb.st_nlink <= 1) {
			*freed += (uint64_t)sb.st_blocks * 512;
			return;
		}
		for (size_t i = 0; i < sl->n; i++)
			if (sl->v[i].ino == sb.st_ino) {
				if (++sl->v[i].met == sb.st_nlink)
					*freed += (uint64_t)sb.st_blocks * 512;
				return;
			}
		sl->v = xrealloc(sl->v, (sl->n + 1) * sizeof *sl->v);
		sl->v[sl->n++] = (struct seen_link){ sb.st_ino, 1 };
		return;
	}
	*freed += (uint64_t)sb.st_blocks * 512;
	int c = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (c < 0)
		return;
	DIR *d = fdopendir(c);
	if (!d) {
		close(c);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			count_freed(dirfd(d), e->d_name, sl, freed);
	closedir(d);
}

/* rm -rf dfd/name (checked), adding what it frees to *freed (may be NULL). */
static int remove_counting(int dfd, const char *name, uint64_t *freed, struct ferr *err)
{
	uint64_t f = 0;
	if (freed) {
		struct seen_links sl = { 0 };
		count_freed(dfd, name, &sl, &f);
		free(sl.v);
	}
	if (fs_rm_rf_at(dfd, name, err) < 0)
		return -1;
	if (freed)
		*freed += f;
	return 0;
}

/* Move images/<hex> out of sight first, so no reader sees it half removed. */
static int remove_image(const char *root, const char *digest, uint64_t *freed, struct ferr *err)
{
	_cleanup_free_ char *dir = store_image_dir(root, digest);
	_cleanup_free_ char *tmp = xasprintf("%s/tmp/rm-%.12s-%d", root, digest + 7, (int)getpid());
	if (rename(dir, tmp) < 0) {
		if (errno == ENOENT)
			return 0;
		return ferr_set(err, errno, "remove %s", dir);
	}
	_cleanup_free_ char *tdir = path_join(root, "tmp");
	_cleanup_free_ char *base = path_basename(tmp);
	_cleanup_close_ int tfd = open(tdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0)
		return ferr_set(err, errno, "open %s", tdir);
	if (remove_counting(tfd, base, freed, err) < 0)
		return ferr_wrap(err, "remove image %.19s (what is left is in %s; ferry prune retries)", digest, tmp);
	return 0;
}

/* The images of the user's own store only: what rm and prune may change
 * and what keeps an image there. Read-only stores are not listed. */
static int list_own(struct store *st, struct store_image **out, size_t *n, struct ferr *err)
{
	*out = NULL;
	*n = 0;
	return store_list_root(st->home, false, out, n, err);
}

/* Does a name of our own store point at digest? -1 when the names cannot be read. */
int store_digest_referenced(const char *root, const char *digest, struct ferr *err)
{
	struct store_name *names;
	size_t n;
	if (store_refs_scan(root, &names, &n, err) < 0)
		return -1;
	int found = 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i].digest, digest))
			found = 1;
	store_names_free(names, n);
	return found;
}

int store_rm(struct store *st, const char *refstr, struct ferr *err)
{
	struct image_info *info = NULL;
	char **saved = st->ro;
	st->ro = NULL; /* read-only stores are not ours to change */
	int rc = store_resolve(st, refstr, &info, err);
	st->ro = saved;
	if (rc < 0 || !info)
		return ferr_wrap(err, "rm %s", refstr);
	if (!st->writable) {
		image_info_free(info);
		return ferr_setc(err, FERR_PERM, 0, "rm %s: store %s is not writable", refstr, st->home);
	}
	/* The reference given, or every reference to the digest given. */
	const char *hex = str_starts_with(refstr, "sha256:") ? refstr + 7 : refstr;
	bool by_id = store_is_hex(hex) && strlen(hex) >= 6 && !strchr(refstr, '/') &&
		str_starts_with(info->manifest_digest + 7, hex);
	if (by_id) {
		struct store_name *names = NULL;
		size_t n = 0;
		rc = store_refs_scan(st->home, &names, &n, err);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			if (strcmp(names[i].digest, info->manifest_digest))
				continue;
			struct image_ref r2;
			struct ferr e = FERR_INIT;
			if (image_ref_parse(names[i].name, &r2, &e) == 0) {
				rc = store_ref_remove(st->home, &r2, r2.digest != NULL && !r2.tag, err);
				image_ref_free(&r2);
			}
		}
		store_names_free(names, n);
	} else {
		struct image_ref ref = { 0 };
		rc = image_ref_parse(refstr, &ref, err);
		if (rc == 0)
			rc = store_ref_remove(st->home, &ref, ref.digest != NULL, err);
		if (rc == 0 && ref.digest && ref.tag)
			rc = store_ref_remove(st->home, &ref, false, err);
		image_ref_free(&ref);
	}
	int refd = rc == 0 ? store_digest_referenced(st->home, info->manifest_digest, err) : -1;
	if (refd == 0) {
		/* Under the image's lock: a pull of it finishes first, and a pull
		 * that re-adds a name between our look and the removal is seen. */
		int lock = store_lock_take(st->home, info->manifest_digest + 7, LOCK_EX, "pulling this image", NULL, err);
		refd = lock == -1 ? -1 : store_digest_referenced(st->home, info->manifest_digest, err);
		if (refd == 0 && remove_image(st->home, info->manifest_digest, NULL, err) < 0)
			refd = -1;
		store_lock_release(lock);
	}
	image_info_free(info);
	return refd < 0 ? ferr_wrap(err, "rm %s", refstr) : 0;
}

/* The blobs an image keeps: its config, and its layers when layers are
 * kept (store_keep_layers); its manifest is named by its directory. */
static void collect_digests(const char *dir, char ***keep, bool layers)
{
	_cleanup_free_ char *mp = path_join(dir, "manifest.json");
	_cleanup_free_ char *mb = NULL;
	size_t ml;
	struct ferr e = FERR_INIT;
	struct image_manifest m;
	if (fs_read_file(mp, &mb, &ml, &e) < 0 || image_manifest_parse(mb, ml, NULL, &m, &e) < 0)
		return;
	strv_push(keep, m.config.digest + 7);
	for (size_t i = 0; layers && i < m.n_layers; i++)
		strv_push(keep, m.layers[i].digest + 7);
	image_manifest_free(&m);
}

/* Remove from the store's directory SUB every entry that keep() does not
 * claim, adding the bytes freed to *freed. Names are collected first so
 * removing does not disturb the listing. A missing SUB is fine; the first
 * removal that fails is the error, after the others were tried. */
static int prune_dir(const char *root, const char *sub, bool (*keep)(int dfd, const char *name, void *arg),
	void *arg, uint64_t *freed, struct ferr *err)
{
	_cleanup_free_ char *dir = path_join(root, sub);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : ferr_set(err, errno, "open %s", dir);
	int d2 = dup(dfd);
	DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
	if (!d) {
		int e = errno;
		if (d2 >= 0)
			close(d2);
		return ferr_set(err, e, "list %s", dir);
	}
	char **victims = NULL;
	struct dirent *e;
	while ((errno = 0, e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !keep(dfd, e->d_name, arg))
			strv_push(&victims, e->d_name);
	int rc = errno ? ferr_set(err, errno, "list %s", dir) : 0;
	closedir(d);
	for (char **v = victims; v && *v; v++) {
		struct ferr e2 = FERR_INIT;
		if (remove_counting(dfd, *v, freed, &e2) < 0 && rc == 0) {
			*err = e2;
			rc = ferr_wrap(err, "%s", dir);
		}
	}
	strv_free(victims);
	return rc;
}

static bool keep_nothing(int dfd, const char *name, void *arg)
{
	(void)dfd, (void)name, (void)arg;
	return false;
}

/* A blob some image uses (arg: the digests' hex, NULL-terminated). */
static bool keep_used_blob(int dfd, const char *name, void *arg)
{
	(void)dfd;
	if (name[0] == '.')
		return true;
	for (char **k = arg; k && *k; k++)
		if (!strcmp(*k, name))
			return true;
	return false;
}

/* A file content some tree still links (its only link is files/'s own). */
static bool keep_linked_file(int dfd, const char *name, void *arg)
{
	(void)arg;
	struct stat sb;
	return name[0] == '.' || fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || sb.st_nlink != 1;
}

int store_prune(struct store *st, uint64_t *freed, struct ferr *err)
{
	return store_prune_with(st, NULL, NULL, store_keep_layers(NULL), freed, err);
}

int store_prune_with(struct store *st, bool (*keep_unnamed)(const char *digest, void *arg), void *arg,
	bool keep_layers, uint64_t *freed, struct ferr *err)
{
	*freed = 0;
	if (!st->writable)
		return ferr_setc(err, FERR_PERM, 0, "prune: store %s is not writable", st->home);
	/* Our own pulls through st are over (calls on one store are not
	 * concurrent): drop their shared hold, or we would wait for ourselves. */
	if (st->gc_fd >= 0)
		store_lock_release(st->gc_fd);
	st->gc_fd = -1;
	int gc = store_lock_take(st->home, "gc", LOCK_EX, "pull to finish before pruning", NULL, err);
	if (gc == -1)
		return ferr_wrap(err, "prune");
	int rc = 0;
	struct ferr e = FERR_INIT;
#define KEEP_FIRST(call)                   \
	do {                                   \
		if ((call) < 0 && rc == 0) {       \
			*err = e;                  \
			rc = -1;                   \
		}                                  \
		ferr_clear(&e);                    \
	} while (0)
	/* 1. leftovers of interrupted work (no pull runs: we hold the gc lock) */
	KEEP_FIRST(prune_dir(st->home, "tmp", keep_nothing, NULL, freed, &e));
	/* 2. images no reference names */
	struct store_image *imgs;
	size_t n;
	if (list_own(st, &imgs, &n, err) < 0) {
		store_lock_release(gc);
		return ferr_wrap(err, "prune");
	}
	for (size_t i = 0; i < n; i++)
		if (!strcmp(imgs[i].name, "<none>") && !(keep_unnamed && keep_unnamed(imgs[i].digest, arg)))
			KEEP_FIRST(remove_image(st->home, imgs[i].digest, freed, &e));
	store_list_free(imgs, n);
	/* 3. blobs no image uses (manifests, configs, layers; indexes too: they
	 * only save a request), and layers whose trees are in place unless
	 * layers are kept (FERRY_KEEP_LAYERS) */
	char **keep = NULL;
	_cleanup_free_ char *idir = path_join(st->home, "images");
	DIR *d = opendir(idir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strlen(de->d_name) == SHA256_HEX_LEN) {
			strv_push(&keep, de->d_name);
			_cleanup_free_ char *dir = path_join(idir, de->d_name);
			collect_digests(dir, &keep, keep_layers);
		}
	if (d)
		closedir(d);
	else if (rc == 0)
		rc = ferr_set(err, errno, "list %s", idir);
	/* without the list of what images use, no blob may go */
	if (d)
		KEEP_FIRST(prune_dir(st->home, "blobs/sha256", keep_used_blob, keep, freed, &e));
	strv_free(keep);
	/* 4. file contents no tree links any more */
	KEEP_FIRST(prune_dir(st->home, "files/sha256", keep_linked_file, NULL, freed, &e));
#undef KEEP_FIRST
	store_lock_release(gc);
	return rc < 0 ? ferr_wrap(err, "prune") : 0;
}
