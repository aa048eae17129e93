/* ferry deploy: a directory of published images (doc/deploy.md).
 *
 * DIR is a ferry store (store_open_at: images/<hex>/{rootfs,manifest.json,
 * config.json}, refs/, files/ for deduplication, blobs/ with the layers
 * kept, tmp/, locks/) marked by DIR/deploy/, which makes two things
 * differ from a user's store:
 *   - DIR is open to everyone (0755): it is meant to be shared;
 *   - every tree follows the sandbox conventions of Apptainer before it is
 *     renamed into images/ (store_deploy_finish, called by tree.c): o+r
 *     everywhere, o+x where u+x, directories 0755, no set-id or sticky
 *     bit, no group or other write bit, no device, FIFO or socket, the
 *     mount points and /etc/passwd, /etc/group present.
 *   Files and directories already get these modes when they are extracted
 *   (layer_stats.sandbox_modes), so that files/ entries are keyed by the
 *   final mode and shared across images; the pass below then changes no
 *   inode that files/ and other trees share, it checks and fills in.
 * Names: DIR/<registry>/<repo>:<tag> is a relative symlink to
 * images/<hex>/rootfs, replaced by rename (never missing, never partial).
 * DIR/deploy/unnamed/<hex> records when an image lost its last name, for
 * the grace period of store_deploy_gc. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/path.h"
#include "base/sha256.h"
#include "base/str.h"
#include "store/internal.h"

#define DEPLOY_MARK "deploy"
#define MAX_DEPTH 4096

bool store_is_deploy(const char *root)
{
	_cleanup_free_ char *m = path_join(root, DEPLOY_MARK);
	struct stat sb;
	return lstat(m, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* ---- the sandbox conventions, on a tree still in tmp/ ---- */

static mode_t norm_mode(mode_t m, bool dir)
{
	if (dir)
		return 0755;
	mode_t r = (m & 0755) | 0444;
	if (m & 0100)
		r |= 0111;
	return r;
}

static int finish_dir(int dfd, const char *path, int depth, struct ferr *err)
{
	if (depth > MAX_DEPTH)
		return ferr_setc(err, FERR_INVALID, 0, "%s: directories nested deeper than %d", path, MAX_DEPTH);
	int d2 = dup(dfd);
	DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
	if (!d) {
		if (d2 >= 0)
			close(d2);
		return ferr_set(err, errno, "list %s", path);
	}
	int rc = 0;
	char **drop = NULL;
	struct dirent *e;
	while (rc == 0 && (errno = 0, e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct stat sb;
		if (fstatat(dfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = ferr_set(err, errno, "stat %s/%s", path, e->d_name);
			break;
		}
		if (S_ISLNK(sb.st_mode))
			continue;
		if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
			strv_push(&drop, e->d_name);
			continue;
		}
		mode_t want = norm_mode(sb.st_mode, S_ISDIR(sb.st_mode));
		if ((sb.st_mode & 07777) != want && fchmodat(dfd, e->d_name, want, 0) < 0) {
			rc = ferr_set(err, errno, "chmod %s/%s", path, e->d_name);
			break;
		}
		if (S_ISDIR(sb.st_mode)) {
			_cleanup_close_ int c = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			_cleanup_free_ char *sub = xasprintf("%s/%s", path, e->d_name);
			if (c < 0)
				rc = ferr_set(err, errno, "open %s", sub);
			else
				rc = finish_dir(c, sub, depth + 1, err);
		}
	}
	if (rc == 0 && errno)
		rc = ferr_set(err, errno, "list %s", path);
	closedir(d);
	for (char **v = drop; rc == 0 && v && *v; v++)
		if (unlinkat(dfd, *v, 0) < 0)
			rc = ferr_set(err, errno, "remove %s/%s", path, *v);
	strv_free(drop);
	return rc;
}

/* A file of /etc the conventions want, created empty-ish when missing;
 * one that is there (even a symlink) is left as the image made it. */
static int ensure_etc_file(int etcfd, const char *name, const char *body, struct ferr *err)
{
	_cleanup_close_ int fd = openat(etcfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == EEXIST ? 0 : ferr_set(err, errno, "create rootfs/etc/%s", name);
	size_t n = strlen(body);
	if (write(fd, body, n) != (ssize_t)n)
		return ferr_set(err, errno, "write rootfs/etc/%s", name);
	return 0;
}

int store_deploy_finish(int rootfd, struct ferr *err)
{
	static const char *const mounts[] = { "proc", "sys", "dev", "tmp", "home", "srv", "cvmfs", "mnt", "etc" };
	for (size_t i = 0; i < sizeof mounts / sizeof *mounts; i++)
		if (mkdirat(rootfd, mounts[i], 0755) < 0 && errno != EEXIST)
			return ferr_set(err, errno, "create rootfs/%s", mounts[i]);
	/* /etc as a symlink (a hostile or odd image): left alone, never followed */
	_cleanup_close_ int etc = openat(rootfd, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (etc >= 0 && (ensure_etc_file(etc, "passwd", "root:x:0:0:root:/root:/bin/sh\n", err) < 0 ||
			    ensure_etc_file(etc, "group", "root:x:0:\n", err) < 0))
		return -1;
	if (fchmod(rootfd, 0755) < 0)
		return ferr_set(err, errno, "chmod rootfs");
	return finish_dir(rootfd, "rootfs", 0, err);
}

/* ---- opening DIR, its lock ---- */

int store_deploy_open(struct store **st, const char *dir, struct ferr *err)
{
	if (!dir || !*dir)
		return ferr_setc(err, FERR_USAGE, 0, "deploy: empty directory name");
	_cleanup_free_ char *mark = path_join(dir, DEPLOY_MARK);
	_cleanup_free_ char *unnamed = path_join(mark, "unnamed");
	struct stat sb;
	if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && !store_is_deploy(dir)) {
		/* an existing directory becomes a deploy tree only when empty */
		_cleanup_closedir_ DIR *d = opendir(dir);
		struct dirent *e;
		while (d && (e = readdir(d)))
			/* another deploy may be making DIR a deploy directory right now */
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !store_is_deploy(dir)) {
				ferr_setc(err, FERR_USAGE, 0, "deploy: %s is neither empty nor a deploy directory", dir);
				return ferr_hint(err, "give --to an empty or new directory");
			}
	}
	if (!store_is_deploy(dir) && (fs_mkdir_p(dir, 0755, err) < 0 || fs_mkdir_p(unnamed, 0755, err) < 0))
		return ferr_wrap(err, "deploy to %s", dir);
	if (store_open_at(st, dir, err) < 0)
		return -1;
	return 0;
}

int store_deploy_lock(struct store *st, bool wait, const struct pull_events *ev, struct ferr *err)
{
	if (!st->writable)
		return ferr_setc(err, FERR_PERM, EROFS, "deploy: %s is not writable", st->home);
	_cleanup_free_ char *what = xasprintf("another deploy into %s", st->home);
	int fd = store_lock_take(st->home, "deploy", LOCK_EX | (wait ? 0 : LOCK_NB), what, ev, err);
	if (fd == STORE_LOCK_BUSY) {
		ferr_setc(err, FERR_GENERIC, EWOULDBLOCK, "deploy: another deploy into %s is running", st->home);
		return ferr_hint(err, "leave out --no-wait to wait for it");
	}
	return fd;
}

void store_deploy_unlock(int fd)
{
	store_lock_release(fd);
}

/* ---- names ---- */

static char *name_path(const char *root, const struct image_ref *ref)
{
	const char *repo = ref->repo[0] == '/' ? ref->repo + 1 : ref->repo;
	if (ref->tag)
		return xasprintf("%s/%s/%s:%s", root, ref->registry, repo, ref->tag);
	return xasprintf("%s/%s/%s@%s", root, ref->registry, repo, ref->digest);
}

static int name_write(const char *root, const struct image_ref *ref, const char *digest, struct ferr *err)
{
	_cleanup_free_ char *p = name_path(root, ref);
	_cleanup_free_ char *dir = path_dirname(p);
	_cleanup_free_ char *leaf = path_basename(p);
	if (fs_mkdir_p(dir, 0755, err) < 0)
		return -1;
	/* depth of the name below root: one "../" per directory */
	const char *rel = p + strlen(root) + 1;
	struct dstr target = DSTR_INIT;
	for (const char *c = rel; *c; c++)
		if (*c == '/')
			dstr_append(&target, "../");
	dstr_printf(&target, "images/%s/rootfs", digest + 7);
	_cleanup_free_ char *tmp = xasprintf("%s/.%s.new", dir, leaf);
	int rc = 0;
	if (unlink(tmp) < 0 && errno != ENOENT)
		rc = ferr_set(err, errno, "remove %s", tmp);
	if (rc == 0 && symlink(target.buf, tmp) < 0)
		rc = ferr_set(err, errno, "symlink %s", tmp);
	if (rc == 0 && rename(tmp, p) < 0) {
		rc = ferr_set(err, errno, "rename %s", p);
		unlink(tmp);
	}
	dstr_free(&target);
	return rc;
}

static char *unnamed_path(const char *root, const char *digest)
{
	return xasprintf("%s/" DEPLOY_MARK "/unnamed/%s", root, digest + 7);
}

/* When did digest lose its last name? Recorded now when not yet. */
static time_t unnamed_since(const char *root, const char *digest)
{
	_cleanup_free_ char *p = unnamed_path(root, digest);
	_cleanup_free_ char *body = NULL;
	size_t len;
	struct ferr e = FERR_INIT;
	if (fs_read_file(p, &body, &len, &e) == 0) {
		char *end;
		long long t = strtoll(body, &end, 10);
		if (end != body && t > 0)
			return (time_t)t;
	}
	time_t now = time(NULL);
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%lld\n", (long long)now);
	ferr_clear(&e);
	(void)fs_write_atomic(p, buf, (size_t)n, 0644, &e);
	return now;
}

/* A name now points to dg (it pointed to old, may be NULL): dg is named,
 * old may have lost its last name. */
static void publish_done(struct store *st, const char *dg, const char *old, bool *changed)
{
	_cleanup_free_ char *up = unnamed_path(st->home, dg);
	unlink(up);
	if (old && strcmp(old, dg) && store_digest_referenced(st->home, old, &(struct ferr)FERR_INIT) == 0)
		(void)unnamed_since(st->home, old);
	if (changed)
		*changed = !old || strcmp(old, dg) != 0;
}

int store_deploy(struct store *st, const char *refstr, const struct pull_opts *o, char **digest_out, bool *changed,
	struct ferr *err)
{
	struct image_ref ref;
	if (image_ref_parse(refstr, &ref, err) < 0)
		return -1;
	int rc = 0;
	static const char *const reserved[] = { "blobs", "files", "images", "refs", "tmp", "locks", DEPLOY_MARK };
	for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
		if (!strcmp(ref.registry, reserved[i]))
			rc = ferr_setc(err, FERR_USAGE, 0, "deploy %s: registry name '%s' is one of DIR's own directories",
				refstr, ref.registry);
	_cleanup_free_ char *old = NULL;
	if (rc == 0 && ref.tag) {
		_cleanup_free_ char *rp = store_ref_path(st->home, &ref, false);
		old = store_ref_read(rp);
	}
	struct pull_opts po = { 0 };
	if (o)
		po = *o;
	po.keep_layers = true; /* a moved tag downloads only its new layers */
	_cleanup_free_ char *dg = NULL;
	if (rc == 0)
		rc = store_pull(st, refstr, &po, &dg, err);
	if (rc == 0 && (rc = name_write(st->home, &ref, dg, err)) < 0)
		ferr_wrap(err, "deploy %s", refstr);
	if (rc == 0)
		publish_done(st, dg, old, changed);
	if (rc == 0 && digest_out)
		*digest_out = steal_ptr(&dg);
	image_ref_free(&ref);
	return rc;
}

/* The manifest digest ref's index picks for platform (or ref's own). */
static int platform_digest(const struct image_ref *ref, const struct pull_opts *o, char **out, struct ferr *err)
{
	struct image_platform plat;
	if (image_platform_parse(o->platform, &plat, err) < 0)
		return -1;
	struct image_source *src = NULL;
	if (image_source_open(ref, o, &src, err) < 0)
		return -1;
	_cleanup_free_ char *top = NULL, *body = NULL, *mt = NULL;
	size_t len;
	struct image_manifest m = { 0 };
	int rc = image_source_resolve(src, &top, err);
	if (rc == 0)
		rc = image_source_manifest(src, top, &body, &len, &mt, err);
	if (rc == 0)
		rc = image_manifest_parse(body, len, mt, &m, err);
	if (rc == 0 && m.is_index) {
		const struct image_desc *d;
		rc = image_index_select(&m, &plat, &d, err);
		if (rc == 0)
			*out = xstrdup(d->digest);
	} else if (rc == 0) {
		*out = steal_ptr(&top);
	}
	image_manifest_free(&m);
	image_source_close(src);
	return rc;
}

int store_deploy_platform(struct store *st, const char *refstr, const struct pull_opts *o, char **digest_out,
	bool *changed, struct ferr *err)
{
	struct image_ref ref;
	if (image_ref_parse(refstr, &ref, err) < 0)
		return -1;
	if (!o || !o->platform || !ref.tag || ref.digest) {
		image_ref_free(&ref);
		return ferr_setc(err, FERR_USAGE, 0, "deploy %s: a platform and a tag (no digest) are needed", refstr);
	}
	struct image_platform plat = { 0 };
	int rc = image_platform_parse(o->platform, &plat, err);
	_cleanup_free_ char *dg = NULL, *old = NULL;
	struct image_ref named = ref;
	_cleanup_free_ char *tag = NULL;
	if (rc == 0) {
		tag = *plat.variant ? xasprintf("%s-%s-%s-%s", ref.tag, plat.os, plat.arch, plat.variant)
				    : xasprintf("%s-%s-%s", ref.tag, plat.os, plat.arch);
		named.tag = tag;
		_cleanup_free_ char *rp = store_ref_path(st->home, &named, false);
		old = store_ref_read(rp);
		rc = platform_digest(&ref, o, &dg, err);
	}
	if (rc == 0) {
		/* pulled by digest, named by the platform's tag alone */
		struct image_ref bydg = ref;
		bydg.tag = NULL;
		bydg.digest = dg;
		_cleanup_free_ char *s = image_ref_str(&bydg);
		struct pull_opts po = *o;
		po.keep_layers = true;
		rc = store_pull(st, s, &po, NULL, err);
		struct ferr ig = FERR_INIT;
		if (rc == 0)
			(void)store_ref_remove(st->home, &bydg, true, &ig);
	}
	if (rc == 0)
		rc = store_ref_write(st->home, &named, false, dg, err);
	if (rc == 0)
		rc = name_write(st->home, &named, dg, err);
	if (rc < 0)
		ferr_wrap(err, "deploy %s for %s", refstr, o->platform);
	if (rc == 0)
		publish_done(st, dg, old, changed);
	if (rc == 0 && digest_out)
		*digest_out = steal_ptr(&dg);
	image_ref_free(&ref);
	return rc;
}

/* ---- gc ---- */

struct grace {
	const char *root;
	time_t keep;
	char **linked; /* hex of every root a name symlink points to */
};

/* The roots the name symlinks under dfd point to. A name can be ahead of
 * refs/ for a moment (killed between the two): it still keeps its root. */
static void scan_names(int dfd, int depth, char ***out)
{
	int d2 = dup(dfd);
	DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
	if (!d) {
		if (d2 >= 0)
			close(d2);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		struct stat sb;
		if (fstatat(dfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISLNK(sb.st_mode)) {
			char t[PATH_MAX];
			ssize_t n = readlinkat(dfd, e->d_name, t, sizeof t - 1);
			if (n <= 0)
				continue;
			t[n] = 0;
			const char *im = strstr(t, "images/");
			if (im && strlen(im) >= 7 + SHA256_HEX_LEN) {
				_cleanup_free_ char *hex = xstrndup(im + 7, SHA256_HEX_LEN);
				strv_push(out, hex);
			}
		} else if (S_ISDIR(sb.st_mode) && depth < 64) {
			static const char *const own[] = { "blobs", "files", "images", "refs", "tmp", "locks", DEPLOY_MARK };
			bool skip = false;
			for (size_t i = 0; depth == 0 && i < sizeof own / sizeof *own; i++)
				skip = skip || !strcmp(e->d_name, own[i]);
			_cleanup_close_ int c = skip ? -1 : openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (c >= 0)
				scan_names(c, depth + 1, out);
		}
	}
	closedir(d);
}

static bool within_grace(const char *digest, void *arg)
{
	const struct grace *g = arg;
	for (char **l = g->linked; l && *l; l++)
		if (!strcmp(*l, digest + 7))
			return true;
	time_t since = unnamed_since(g->root, digest);
	return time(NULL) - since < g->keep;
}

int store_deploy_gc(struct store *st, unsigned keep_days, uint64_t *freed, struct ferr *err)
{
	struct grace g = { st->home, (time_t)keep_days * 86400, NULL };
	_cleanup_close_ int rfd = open(st->home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return ferr_set(err, errno, "deploy --gc: open %s", st->home);
	scan_names(rfd, 0, &g.linked);
	int rc = store_prune_with(st, within_grace, &g, true, freed, err);
	strv_free(g.linked);
	if (rc < 0)
		return ferr_wrap(err, "deploy --gc %s", st->home);
	/* records of images that are gone or named again */
	_cleanup_free_ char *ud = xasprintf("%s/" DEPLOY_MARK "/unnamed", st->home);
	_cleanup_closedir_ DIR *d = opendir(ud);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strlen(e->d_name) != SHA256_HEX_LEN || !store_is_hex(e->d_name))
			continue;
		_cleanup_free_ char *dg = xasprintf("sha256:%s", e->d_name);
		if (!store_image_present(st->home, dg) || store_digest_referenced(st->home, dg, &(struct ferr)FERR_INIT) == 1) {
			_cleanup_free_ char *p = path_join(ud, e->d_name);
			unlink(p);
		}
	}
	return 0;
}
