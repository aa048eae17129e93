/* The content-addressed store (see store.h and DESIGN.md "Store").
 *
 * Concurrency: a pull takes a shared lock on locks/gc.lock for its whole
 * life (prune takes it exclusively, so it never removes a pull's work in
 * tmp/), an exclusive lock on locks/<manifest-hex>.lock while it fetches and
 * unpacks an image (N processes pulling one image: the first does the work,
 * the others wait, find the image in place and succeed), and an exclusive
 * lock per blob it downloads (two different images sharing a layer fetch it
 * once). Locks are flock(2) on lock files that are never deleted; on NFS,
 * Linux turns flock into POSIX byte-range locks served by the NFS lock
 * manager, so they hold across nodes. Where the file system has no locks
 * at all (ENOLCK), ferry warns once and goes on without: the atomic renames
 * still keep every image whole, but concurrent pulls may download twice.
 *
 * Atomicity: blobs are written to tmp/ and renamed into blobs/ once their
 * digest checks; an image is assembled in tmp/ and renamed into images/
 * once every layer is extracted and verified; refs are written with
 * write+rename. Whatever kills a pull, images/ holds only whole images, and
 * a partial blob in tmp/ is resumed (Range) by the next pull. */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/home.h"
#include "base/json.h"
#include "base/log.h"
#include "base/path.h"
#include "base/sha256.h"
#include "base/size.h"
#include "base/str.h"

struct store {
	char *home;
	bool writable;
	char **ro; /* FERRY_STORE_PATH entries */
	int gc_fd; /* shared gc lock while pulling */
};

const char *store_home(const struct store *st)
{
	return st->home;
}

static char *default_home(struct ferr *err)
{
	const char *h = getenv("FERRY_HOME");
	if (h && *h)
		return xstrdup(h);
	const char *x = getenv("XDG_DATA_HOME");
	if (x && *x)
		return xasprintf("%s/ferry", x);
	_cleanup_free_ char *home = home_dir(err);
	if (!home)
		return NULL;
	return xasprintf("%s/.local/share/ferry", home);
}

/* The store is private (issue: another local user could otherwise rewrite
 * files hardlinked into every image): its root is 0700, so nobody else can
 * reach anything below it, and no directory in it is group or other
 * writable. A root that is open to others is made private (with a warning
 * when it already held a store, or others could write to it); a root that
 * belongs to someone else is refused: we could not make it private, and its
 * owner could change our images under us. Inside, trees keep the modes
 * their layers gave them (a 0777 file stays 0777 in the container): the
 * root's 0700 is what keeps other users out. */
static int secure_root(const char *home, bool *readonly, struct ferr *err)
{
	_cleanup_free_ char *parent = path_dirname(home);
	if (fs_mkdir_p(parent, 0755, err) < 0)
		return -1;
	bool created = mkdir(home, 0700) == 0;
	if (!created && errno != EEXIST)
		return ferr_set(err, errno, "mkdir %s", home);
	_cleanup_close_ int fd = open(home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ferr_set(err, errno, "open %s", home);
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return ferr_set(err, errno, "stat %s", home);
	if (sb.st_uid != geteuid()) {
		ferr_setc(err, FERR_PERM, 0, "store %s belongs to uid %u, not to you (uid %u)", home, (unsigned)sb.st_uid,
			(unsigned)geteuid());
		return ferr_hint(err, "set FERRY_HOME to a directory of your own; list another user's store in FERRY_STORE_PATH");
	}
	if ((sb.st_mode & 07777) != 0700) {
		struct stat probe;
		bool had_store = fstatat(fd, "blobs", &probe, AT_SYMLINK_NOFOLLOW) == 0;
		if (fchmod(fd, 0700) < 0) {
			if (errno == EROFS) {
				*readonly = true;
				return 0;
			}
			return ferr_set(err, errno, "chmod 0700 %s", home);
		}
		if (had_store || (sb.st_mode & 022))
			log_warn("store %s was open to other users (mode %04o): made it private (0700)", home,
				(unsigned)(sb.st_mode & 07777));
	}
	return 0;
}

/* Create a store directory, or check an existing one: ours, and writable by
 * nobody else (a group or other write bit is dropped). */
static int secure_subdir(const char *home, const char *sub, struct ferr *err)
{
	_cleanup_free_ char *d = path_join(home, sub);
	if (fs_mkdir_p(d, 0755, err) < 0)
		return -1;
	struct stat sb;
	if (lstat(d, &sb) < 0)
		return ferr_set(err, errno, "stat %s", d);
	if (!S_ISDIR(sb.st_mode))
		return ferr_setc(err, FERR_INVALID, ENOTDIR, "store %s", d);
	if (sb.st_uid != geteuid())
		return ferr_setc(err, FERR_PERM, 0, "store directory %s belongs to uid %u, not to you", d,
			(unsigned)sb.st_uid);
	if ((sb.st_mode & 022) && chmod(d, sb.st_mode & 07755) < 0)
		return ferr_set(err, errno, "chmod go-w %s", d);
	return 0;
}

int store_open(struct store **out, struct ferr *err)
{
	struct store *st = xcalloc(1, sizeof *st);
	st->gc_fd = -1;
	st->home = default_home(err);
	if (!st->home) {
		free(st);
		return ferr_wrap(err, "open store");
	}
	const char *sp = getenv("FERRY_STORE_PATH");
	if (sp && *sp) {
		_cleanup_free_ char *copy = xstrdup(sp);
		char *save = NULL;
		for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save))
			if (*t)
				strv_push(&st->ro, t);
	}
	static const char *const subdirs[] = { "blobs/sha256", "files/sha256", "images", "refs", "tmp", "locks",
		"blobs", "files" };
	st->writable = true;
	struct ferr e = FERR_INIT;
	bool ro = false;
	int rc = secure_root(st->home, &ro, &e);
	if (rc == 0 && e.code == 0 && !ro)
		for (size_t i = 0; i < sizeof subdirs / sizeof *subdirs && rc == 0; i++)
			rc = secure_subdir(st->home, subdirs[i], &e);
	if (rc < 0 && e.code == FERR_PERM && e.errnum == 0) {
		/* another user's store: never used, even read-only */
		*err = e;
		ferr_wrap(err, "open store");
		store_close(st);
		return -1;
	}
	if (rc < 0 || ro) {
		if (!st->ro) {
			if (ro)
				ferr_setc(&e, FERR_PERM, EROFS, "store %s", st->home);
			*err = e;
			ferr_wrap(err, "open store %s", st->home);
			ferr_hint(err, "set FERRY_HOME to a writable directory");
			store_close(st);
			return -1;
		}
		st->writable = false; /* read-only stores may still serve */
	}
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->gc_fd >= 0)
		close(st->gc_fd);
	free(st->home);
	strv_free(st->ro);
	free(st);
}

/* ---- locks ------------------------------------------------------------------- */

static bool warned_nolock;

/* Lock locks/<name>.lock; op LOCK_EX or LOCK_SH. Returns the fd (or a
 * placeholder -2 where the file system has no locks). */
static int lock_take(struct store *st, const char *name, int op, const char *waiting_for, struct ferr *err)
{
	_cleanup_free_ char *p = xasprintf("%s/locks/%s.lock", st->home, name);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return ferr_set(err, errno, "open lock %s", p);
	if (flock(fd, op | LOCK_NB) == 0)
		return fd;
	if (errno == EWOULDBLOCK) {
		if (waiting_for)
			log_info("waiting for another ferry %s", waiting_for);
		while (flock(fd, op) < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return ferr_set(err, e, "lock %s", p);
		}
		return fd;
	}
	if (errno == ENOLCK || errno == EOPNOTSUPP) {
		if (!warned_nolock)
			log_warn("the file system of %s has no locks: concurrent pulls may download twice", st->home);
		warned_nolock = true;
		close(fd);
		return -2;
	}
	int e = errno;
	close(fd);
	return ferr_set(err, e, "lock %s", p);
}

static void lock_release(int fd)
{
	if (fd >= 0)
		close(fd); /* closing drops the flock */
}

/* ---- paths --------------------------------------------------------------------- */

static char *blob_path(const char *root, const char *digest)
{
	return xasprintf("%s/blobs/sha256/%s", root, digest + 7);
}

static char *image_dir(const char *root, const char *digest)
{
	return xasprintf("%s/images/%s", root, digest + 7);
}

/* refs/<registry>/<repo>/<tag> or .../@sha256:<hex> */
static char *ref_path(const char *root, const struct image_ref *ref, bool by_digest)
{
	const char *repo = ref->repo[0] == '/' ? ref->repo + 1 : ref->repo;
	if (by_digest || !ref->tag)
		return xasprintf("%s/refs/%s/%s/@%s", root, ref->registry, repo, ref->digest);
	return xasprintf("%s/refs/%s/%s/%s", root, ref->registry, repo, ref->tag);
}

static char *read_ref(const char *path)
{
	char *data = NULL;
	size_t len;
	struct ferr e = FERR_INIT;
	if (fs_read_file(path, &data, &len, &e) < 0)
		return NULL;
	while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
		data[--len] = '\0';
	if (!sha256_digest_valid(data)) {
		free(data);
		return NULL;
	}
	return data;
}

static int write_ref(struct store *st, const struct image_ref *ref, bool by_digest, const char *digest,
	struct ferr *err)
{
	_cleanup_free_ char *p = ref_path(st->home, ref, by_digest);
	_cleanup_free_ char *dir = path_dirname(p);
	if (fs_mkdir_p(dir, 0755, err) < 0)
		return -1;
	_cleanup_free_ char *line = xasprintf("%s\n", digest);
	return fs_write_atomic(p, line, strlen(line), 0644, err);
}

/* ---- blobs ------------------------------------------------------------------- */

struct want {
	const char *digest;
	int64_t size;
	int lock;
	int fd;
	char *partial;
	struct blob_fetch *bf;
};

static int fetch_set(struct store *st, struct image_source *src, struct want *w, size_t n, struct ferr *err)
{
	struct blob_fetch *bf = xcalloc(n ? n : 1, sizeof *bf);
	size_t k = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		w[i].partial = xasprintf("%s/tmp/blob-%s.partial", st->home, w[i].digest + 7);
		w[i].fd = open(w[i].partial, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (w[i].fd < 0) {
			rc = ferr_set(err, errno, "open %s", w[i].partial);
			break;
		}
		struct stat sb;
		fstat(w[i].fd, &sb);
		bf[k] = (struct blob_fetch){ .digest = w[i].digest, .size = w[i].size, .fd = w[i].fd,
			.have = sb.st_size <= w[i].size ? sb.st_size : 0 };
		w[i].bf = &bf[k++];
	}
	if (rc == 0)
		rc = image_source_blobs(src, bf, k, err);
	for (size_t i = 0; i < n; i++) {
		/* Whatever is complete and verified goes in, even if another blob failed. */
		if (w[i].fd >= 0 && w[i].bf && w[i].bf->done) {
			_cleanup_free_ char *dst = blob_path(st->home, w[i].digest);
			if (rename(w[i].partial, dst) < 0 && rc == 0)
				rc = ferr_set(err, errno, "rename %s", dst);
		} else if (w[i].bf && w[i].bf->failed && w[i].bf->err.code == FERR_INTEGRITY) {
			unlink(w[i].partial); /* wrong bytes are never resumed */
		}
		if (w[i].fd >= 0)
			close(w[i].fd);
		w[i].fd = -1;
		free(w[i].partial);
		w[i].partial = NULL;
	}
	free(bf);
	return rc;
}

/* Make sure every blob in list is in blobs/: fetch what is missing, once. */
static int ensure_blobs(struct store *st, struct image_source *src, const struct image_desc *list, size_t n,
	struct ferr *err)
{
	struct want *mine = xcalloc(n ? n : 1, sizeof *mine), *theirs = xcalloc(n ? n : 1, sizeof *theirs);
	size_t nm = 0, nt = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= !strcmp(list[j].digest, list[i].digest);
		_cleanup_free_ char *p = blob_path(st->home, list[i].digest);
		if (dup || fs_exists(p))
			continue;
		_cleanup_free_ char *name = xstrdup(list[i].digest + 7);
		_cleanup_free_ char *lp = xasprintf("%s/locks/%s.lock", st->home, name);
		int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = ferr_set(err, errno, "open lock %s", lp);
			break;
		}
		struct want w = { .digest = list[i].digest, .size = list[i].size, .lock = fd, .fd = -1 };
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 || errno == ENOLCK) {
			if (fs_exists(p)) { /* finished by someone while we looked */
				close(fd);
				continue;
			}
			mine[nm++] = w;
		} else {
			theirs[nt++] = w;
		}
	}
	if (rc == 0 && nm)
		rc = fetch_set(st, src, mine, nm, err);
	for (size_t i = 0; i < nm; i++)
		lock_release(mine[i].lock);
	/* Blobs another process was fetching: wait for it, then take over if it died. */
	for (size_t i = 0; i < nt; i++) {
		if (rc == 0) {
			log_info("waiting for another ferry downloading %.19s", theirs[i].digest);
			while (flock(theirs[i].lock, LOCK_EX) < 0 && errno == EINTR)
				;
			_cleanup_free_ char *p = blob_path(st->home, theirs[i].digest);
			if (!fs_exists(p))
				rc = fetch_set(st, src, &theirs[i], 1, err);
		}
		lock_release(theirs[i].lock);
	}
	free(mine);
	free(theirs);
	return rc;
}

static int read_blob(struct store *st, const char *digest, char **data, size_t *len, struct ferr *err)
{
	_cleanup_free_ char *p = blob_path(st->home, digest);
	return fs_read_file(p, data, len, err);
}

static int store_blob_bytes(struct store *st, const char *digest, const char *data, size_t len, struct ferr *err)
{
	_cleanup_free_ char *p = blob_path(st->home, digest);
	if (fs_exists(p))
		return 0;
	return fs_write_atomic(p, data, len, 0600, err); /* blobs: private */
}

/* ---- unpack ------------------------------------------------------------------- */

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

static int unpack_image(struct store *st, const char *name, const char *mdigest, const char *mbody, size_t mlen,
	const struct image_manifest *m, const char *cbody, size_t clen, const struct image_config *cfg,
	uint64_t max_size, struct ferr *err)
{
	_cleanup_free_ char *tmpl = xasprintf("%s/tmp/image-%.12s-XXXXXX", st->home, mdigest + 7);
	if (!mkdtemp(tmpl))
		return ferr_set(err, errno, "mkdtemp %s", tmpl);
	_cleanup_free_ char *rootfs = path_join(tmpl, "rootfs");
	_cleanup_free_ char *files = xasprintf("%s/files/sha256", st->home);
	int rc = 0;
	_cleanup_close_ int rootfd = -1, filesfd = -1;
	struct layer_stats ls = { .max_apparent = max_size };
	if (mkdir(rootfs, 0755) < 0 || (rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		rc = ferr_set(err, errno, "create %s", rootfs);
	if (rc == 0 && (filesfd = open(files, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		rc = ferr_set(err, errno, "open %s", files);
	for (size_t i = 0; rc == 0 && i < m->n_layers; i++) {
		_cleanup_free_ char *bp = blob_path(st->home, m->layers[i].digest);
		_cleanup_close_ int fd = open(bp, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = ferr_set(err, errno, "open %s", bp);
			break;
		}
		log_info("unpacking layer %zu/%zu %.19s", i + 1, m->n_layers, m->layers[i].digest);
		ls.apparent_before = ls.apparent;
		if (layer_extract(fd, cfg->diff_ids[i], rootfd, filesfd, &ls, err) < 0)
			rc = ferr_wrap(err, "layer %s", m->layers[i].digest);
	}
	if (rc == 0) {
		_cleanup_free_ char *mp = path_join(tmpl, "manifest.json");
		_cleanup_free_ char *cp = path_join(tmpl, "config.json");
		_cleanup_free_ char *ip = path_join(tmpl, "info.json");
		_cleanup_json_ json_t *info = json_pack("{s:s, s:I}", "name", name, "pulled", (json_int_t)time(NULL));
		if (fs_write_atomic(mp, mbody, mlen, 0644, err) < 0 || fs_write_atomic(cp, cbody, clen, 0644, err) < 0 ||
			json_write_atomic(ip, info, 0, err) < 0)
			rc = -1;
	}
	if (rc == 0) {
		_cleanup_free_ char *dst = image_dir(st->home, mdigest);
		if (rename(tmpl, dst) < 0) {
			if (errno == EEXIST || errno == ENOTEMPTY) /* someone without locks won the race */
				rc = 1;
			else
				rc = ferr_set(err, errno, "rename into %s", dst);
		}
	}
	if (rc != 0) {
		struct ferr e = FERR_INIT;
		fs_rm_rf(tmpl, &e);
	}
	return rc < 0 ? -1 : 0;
}

/* ---- pull ----------------------------------------------------------------------- */

/* An index stored earlier: which manifest it picks for the platform. */
static char *indexed_manifest(struct store *st, const char *digest, const struct image_platform *plat)
{
	_cleanup_free_ char *body = NULL;
	size_t len;
	struct ferr e = FERR_INIT;
	if (read_blob(st, digest, &body, &len, &e) < 0)
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

static bool image_present(const char *root, const char *digest)
{
	_cleanup_free_ char *d = image_dir(root, digest);
	return fs_is_dir(d);
}

/* In FERRY_HOME or any read-only store. */
static bool image_anywhere(struct store *st, const char *digest)
{
	for (char **r = st->ro; r && *r; r++)
		if (image_present(*r, digest))
			return true;
	return image_present(st->home, digest);
}

static int pull(struct store *st, const struct image_ref *ref, const struct pull_opts *o, char **out,
	struct ferr *err)
{
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
				rc = store_blob_bytes(st, top, body, len, err);
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
	lock = lock_take(st, mdigest + 7, LOCK_EX, "pulling this image", err);
	if (lock == -1) {
		rc = -1;
		goto done;
	}
	if (image_present(st->home, mdigest))
		goto refs;
	rc = ensure_blobs(st, src, &m.config, 1, err);
	if (rc == 0)
		rc = read_blob(st, m.config.digest, &cbody, &clen, err);
	if (rc == 0)
		rc = image_config_parse(cbody, clen, &cfg, err);
	if (rc == 0 && strv_len(cfg.diff_ids) != m.n_layers)
		rc = ferr_setc(err, FERR_INVALID, 0, "config lists %zu diff_ids for %zu layers", strv_len(cfg.diff_ids),
			m.n_layers);
	if (rc == 0)
		rc = ensure_blobs(st, src, m.layers, m.n_layers, err);
	if (rc == 0)
		rc = store_blob_bytes(st, mdigest, mbody, mlen, err);
	uint64_t max_size = 0;
	if (rc == 0)
		rc = max_image_size(o, &max_size, err);
	if (rc == 0)
		rc = unpack_image(st, name, mdigest, mbody, mlen, &m, cbody, clen, &cfg, max_size, err);
	if (rc < 0)
		goto done;
refs:
	if (ref->tag && (rc = write_ref(st, ref, false, mdigest, err)) < 0)
		goto done;
	if (ref->digest && (rc = write_ref(st, ref, true, mdigest, err)) < 0)
		goto done;
	if (!ref->tag && !ref->digest) {
		struct image_ref r2 = *ref;
		r2.digest = mdigest;
		if ((rc = write_ref(st, &r2, true, mdigest, err)) < 0)
			goto done;
	}
	if (out)
		*out = steal_ptr(&mdigest);
	rc = 0;
done:
	lock_release(lock);
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
		int fd = lock_take(st, "gc", LOCK_SH, "prune to finish", err);
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

/* ---- resolve ----------------------------------------------------------------- */

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

static bool is_hex(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* Roots to search: FERRY_STORE_PATH first, then FERRY_HOME. */
static char **roots(struct store *st)
{
	char **v = NULL;
	for (char **r = st->ro; r && *r; r++)
		strv_push(&v, *r);
	strv_push(&v, st->home);
	return v;
}

static int load_info(const char *root, const char *digest, const char *name, struct image_info **out,
	struct ferr *err)
{
	struct image_info *info = xcalloc(1, sizeof *info);
	info->manifest_digest = xstrdup(digest);
	info->dir = image_dir(root, digest);
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
	_cleanup_strv_ char **rs = roots(st);
	const char *hex = str_starts_with(refstr, "sha256:") ? refstr + 7 : refstr;
	/* A digest or a unique prefix of one (at least 6 hex digits). */
	if (is_hex(hex) && strlen(hex) >= 6 && strlen(hex) <= SHA256_HEX_LEN) {
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
		_cleanup_free_ char *rp = ref_path(*r, &ref, ref.digest != NULL);
		_cleanup_free_ char *dg = read_ref(rp);
		if (!dg && ref.digest && image_present(*r, ref.digest))
			dg = xstrdup(ref.digest);
		if (!dg)
			continue;
		/* The tree may live in another store: a pull that found the image
		 * in a read-only store records only the reference in FERRY_HOME. */
		const char *where = NULL;
		for (char **r2 = rs; *r2 && !where; r2++)
			if (image_present(*r2, dg))
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

/* ---- list ---------------------------------------------------------------------- */

/* Inodes met in one image's tree: how many of its links are in the tree,
 * and, for regular files, their link count and size. Open addressing. */
struct ino_set {
	struct ino_entry {
		ino_t ino;      /* 0: free slot */
		uint32_t links; /* links met in this tree */
		nlink_t nlink;  /* st_nlink: links anywhere */
		uint64_t bytes; /* regular files only, else 0 */
	} *v;
	size_t n, cap;
};

static struct ino_entry *ino_slot(struct ino_set *s, ino_t ino)
{
	if ((s->n + 1) * 2 > s->cap) {
		struct ino_set old = *s;
		s->cap = old.cap ? old.cap * 2 : 4096;
		s->v = xcalloc(s->cap, sizeof *s->v);
		s->n = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (old.v[i].ino)
				*ino_slot(s, old.v[i].ino) = old.v[i];
		free(old.v);
	}
	size_t j = (size_t)(ino * 0x9E3779B97F4A7C15ULL) & (s->cap - 1);
	for (; s->v[j].ino; j = (j + 1) & (s->cap - 1))
		if (s->v[j].ino == ino)
			return &s->v[j];
	s->v[j].ino = ino;
	s->n++;
	return &s->v[j];
}

/* Bytes of a tree, each inode once; inodes recorded in *seen so the caller
 * can tell which are shared (tree_shared). */
static void tree_usage(int dfd, struct ino_set *seen, uint64_t *size)
{
	int fd2 = dup(dfd);
	if (fd2 < 0)
		return;
	DIR *d = fdopendir(fd2);
	if (!d) {
		close(fd2);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct stat sb;
		if (fstatat(dfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			*size += (uint64_t)sb.st_blocks * 512;
			int c = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (c >= 0) {
				tree_usage(c, seen, size);
				close(c);
			}
			continue;
		}
		struct ino_entry *ie = ino_slot(seen, sb.st_ino);
		if (ie->links++ > 0)
			continue;
		*size += (uint64_t)sb.st_blocks * 512;
		if (S_ISREG(sb.st_mode)) {
			ie->nlink = sb.st_nlink;
			ie->bytes = (uint64_t)sb.st_blocks * 512;
		}
	}
	closedir(d);
}

/* The part of a tree other images link too: a file's links beyond this
 * tree's own and its one in files/ belong to other trees. (Identical files
 * inside one image share an inode too, but are not "shared with other
 * images".) */
static uint64_t tree_shared(const struct ino_set *seen)
{
	uint64_t shared = 0;
	for (size_t i = 0; i < seen->cap; i++) {
		const struct ino_entry *ie = &seen->v[i];
		if (ie->ino && ie->bytes && ie->nlink > (nlink_t)ie->links + 1)
			shared += ie->bytes;
	}
	return shared;
}

static void list_root(const char *root, bool ro, struct store_image **out, size_t *n)
{
	/* names: walk refs/ */
	struct name_digest {
		char *name, *digest;
	} *names = NULL;
	size_t nn = 0;
	_cleanup_free_ char *refs = path_join(root, "refs");
	char **stack = NULL;
	strv_push(&stack, "");
	while (strv_len(stack)) {
		size_t top = strv_len(stack) - 1;
		char *rel = stack[top];
		stack[top] = NULL;
		_cleanup_free_ char *abs = path_join(refs, rel);
		DIR *d = opendir(abs);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			_cleanup_free_ char *r2 = rel[0] ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
			_cleanup_free_ char *a2 = path_join(refs, r2);
			struct stat sb;
			if (lstat(a2, &sb) < 0)
				continue;
			if (S_ISDIR(sb.st_mode)) {
				strv_push(&stack, r2);
				continue;
			}
			char *dg = read_ref(a2);
			if (!dg)
				continue;
			/* "reg/repo/tag" -> "reg/repo:tag"; "reg/repo/@sha256:x" -> "reg/repo@sha256:x" */
			char *slash = strrchr(r2, '/');
			if (!slash) {
				free(dg);
				continue;
			}
			*slash = slash[1] == '@' ? '\0' : ':';
			names = xrealloc(names, (nn + 1) * sizeof *names);
			char *nm = slash[1] == '@' ? xasprintf("%s%s", r2, slash + 1) : xstrdup(r2);
			/* local sources: "oci/abs/path:tag" -> "oci:/abs/path:tag" */
			static const char *const local[] = { "oci/", "oci-archive/", "docker-archive/" };
			for (size_t k = 0; k < 3; k++)
				if (str_starts_with(nm, local[k])) {
					nm[strlen(local[k]) - 1] = '\0';
					char *fixed = xasprintf("%s:/%s", nm, nm + strlen(local[k]));
					free(nm);
					nm = fixed;
					break;
				}
			names[nn].name = nm;
			names[nn++].digest = dg;
		}
		if (d)
			closedir(d);
		free(rel);
	}
	free(stack);

	_cleanup_free_ char *idir = path_join(root, "images");
	DIR *d = opendir(idir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strlen(e->d_name) != SHA256_HEX_LEN || !is_hex(e->d_name))
			continue;
		_cleanup_free_ char *digest = xasprintf("sha256:%s", e->d_name);
		_cleanup_free_ char *dir = path_join(idir, e->d_name);
		struct store_image row = { 0 };
		row.digest = xstrdup(digest);
		row.readonly_store = ro;
		_cleanup_free_ char *ip = path_join(dir, "info.json");
		struct ferr fe = FERR_INIT;
		_cleanup_json_ json_t *info = json_load_path(ip, &fe);
		json_t *pt = json_object_get(info, "pulled");
		row.pulled = json_is_integer(pt) ? (time_t)json_integer_value(pt) : 0;
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			struct ino_set seen = { 0 };
			tree_usage(dfd, &seen, &row.size);
			row.shared = tree_shared(&seen);
			free(seen.v);
			close(dfd);
		}
		/* the layer blobs this image keeps in blobs/ */
		_cleanup_free_ char *mp = path_join(dir, "manifest.json");
		_cleanup_free_ char *mb = NULL;
		size_t ml;
		struct image_manifest m;
		if (fs_read_file(mp, &mb, &ml, &fe) == 0 && image_manifest_parse(mb, ml, NULL, &m, &fe) == 0) {
			for (size_t i = 0; i < m.n_layers; i++) {
				_cleanup_free_ char *bp = blob_path(root, m.layers[i].digest);
				struct stat sb;
				if (stat(bp, &sb) == 0)
					row.size += (uint64_t)sb.st_blocks * 512;
			}
			image_manifest_free(&m);
		}
		bool any = false;
		for (size_t i = 0; i < nn; i++)
			if (!strcmp(names[i].digest, digest)) {
				struct store_image r2 = row;
				r2.name = xstrdup(names[i].name);
				r2.digest = xstrdup(row.digest);
				*out = xrealloc(*out, (*n + 1) * sizeof **out);
				(*out)[(*n)++] = r2;
				any = true;
			}
		if (!any) {
			row.name = xstrdup("<none>");
			*out = xrealloc(*out, (*n + 1) * sizeof **out);
			(*out)[(*n)++] = row;
		} else {
			free(row.digest);
		}
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < nn; i++) {
		free(names[i].name);
		free(names[i].digest);
	}
	free(names);
}

int store_list(struct store *st, struct store_image **out, size_t *n, struct ferr *err)
{
	*out = NULL;
	*n = 0;
	for (char **r = st->ro; r && *r; r++)
		list_root(*r, true, out, n);
	list_root(st->home, false, out, n);
	return 0;
}

/* The images of the user's own store only: what rm and prune may change
 * and what keeps an image there. Read-only stores are not listed. */
static void list_own(struct store *st, struct store_image **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	list_root(st->home, false, out, n);
}

void store_list_free(struct store_image *imgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(imgs[i].name);
		free(imgs[i].digest);
	}
	free(imgs);
}

/* ---- rm and prune ----------------------------------------------------------- */

/* rm -rf that adds up the bytes it frees (inodes whose last link goes). */
static void rm_counting(int dfd, const char *name, uint64_t *freed)
{
	struct stat sb;
	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (S_ISDIR(sb.st_mode)) {
		if ((sb.st_mode & S_IRWXU) != S_IRWXU)
			fchmodat(dfd, name, sb.st_mode | S_IRWXU, 0);
		int c = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (c >= 0) {
			int c2 = dup(c);
			DIR *d = c2 >= 0 ? fdopendir(c2) : NULL;
			struct dirent *e;
			char **names = NULL;
			while (d && (e = readdir(d)))
				if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
					strv_push(&names, e->d_name);
			if (d)
				closedir(d);
			for (char **p = names; p && *p; p++)
				rm_counting(c, *p, freed);
			strv_free(names);
			close(c);
		}
		if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 && freed)
			*freed += (uint64_t)sb.st_blocks * 512;
		return;
	}
	if (unlinkat(dfd, name, 0) == 0 && freed && sb.st_nlink == 1)
		*freed += (uint64_t)sb.st_blocks * 512;
}

/* Move images/<hex> out of sight first, so no reader sees it half removed. */
static int remove_image(struct store *st, const char *digest, uint64_t *freed, struct ferr *err)
{
	_cleanup_free_ char *dir = image_dir(st->home, digest);
	_cleanup_free_ char *tmp = xasprintf("%s/tmp/rm-%.12s-%d", st->home, digest + 7, (int)getpid());
	if (rename(dir, tmp) < 0) {
		if (errno == ENOENT)
			return 0;
		return ferr_set(err, errno, "remove %s", dir);
	}
	_cleanup_free_ char *tdir = path_join(st->home, "tmp");
	_cleanup_free_ char *base = path_basename(tmp);
	int tfd = open(tdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0)
		return ferr_set(err, errno, "open %s", tdir);
	rm_counting(tfd, base, freed);
	close(tfd);
	return 0;
}

static bool digest_referenced(struct store *st, const char *digest)
{
	struct store_image *imgs;
	size_t n;
	bool found = false;
	list_own(st, &imgs, &n); /* only our own refs count */
	for (size_t i = 0; i < n; i++)
		if (!strcmp(imgs[i].digest, digest) && strcmp(imgs[i].name, "<none>"))
			found = true;
	store_list_free(imgs, n);
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
	/* The reference given, or every reference to the digest given. */
	const char *hex = str_starts_with(refstr, "sha256:") ? refstr + 7 : refstr;
	bool by_id = is_hex(hex) && strlen(hex) >= 6 && !strchr(refstr, '/') && str_starts_with(info->manifest_digest + 7, hex);
	struct store_image *imgs;
	size_t n;
	list_own(st, &imgs, &n);
	struct image_ref ref = { 0 };
	if (!by_id && image_ref_parse(refstr, &ref, err) < 0) {
		store_list_free(imgs, n);
		image_info_free(info);
		return -1;
	}
	if (by_id) {
		for (size_t i = 0; i < n; i++) {
			if (strcmp(imgs[i].digest, info->manifest_digest) || !strcmp(imgs[i].name, "<none>"))
				continue;
			struct image_ref r2;
			struct ferr e = FERR_INIT;
			if (image_ref_parse(imgs[i].name, &r2, &e) == 0) {
				_cleanup_free_ char *p = ref_path(st->home, &r2, r2.digest != NULL && !r2.tag);
				unlink(p);
				image_ref_free(&r2);
			}
		}
	} else {
		_cleanup_free_ char *p = ref_path(st->home, &ref, ref.digest != NULL);
		unlink(p);
		if (ref.digest && ref.tag) {
			_cleanup_free_ char *p2 = ref_path(st->home, &ref, false);
			unlink(p2);
		}
	}
	store_list_free(imgs, n);
	image_ref_free(&ref);
	rc = 0;
	if (!digest_referenced(st, info->manifest_digest)) {
		struct ferr e = FERR_INIT;
		int lock = lock_take(st, info->manifest_digest + 7, LOCK_EX, "pulling this image", &e);
		if (!digest_referenced(st, info->manifest_digest))
			rc = remove_image(st, info->manifest_digest, NULL, err);
		lock_release(lock);
	}
	image_info_free(info);
	return rc;
}

static void collect_digests(const char *dir, char ***keep)
{
	_cleanup_free_ char *mp = path_join(dir, "manifest.json");
	_cleanup_free_ char *mb = NULL;
	size_t ml;
	struct ferr e = FERR_INIT;
	struct image_manifest m;
	if (fs_read_file(mp, &mb, &ml, &e) < 0 || image_manifest_parse(mb, ml, NULL, &m, &e) < 0)
		return;
	strv_push(keep, m.config.digest + 7);
	for (size_t i = 0; i < m.n_layers; i++)
		strv_push(keep, m.layers[i].digest + 7);
	image_manifest_free(&m);
}

/* Remove from the store's directory SUB every entry that keep() does not
 * claim, adding the bytes freed to *freed. Names are collected first so
 * removing does not disturb the listing. A missing SUB is fine. */
static void prune_dir(struct store *st, const char *sub, bool (*keep)(int dfd, const char *name, void *arg),
		      void *arg, uint64_t *freed)
{
	_cleanup_free_ char *dir = path_join(st->home, sub);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	int d2 = dup(dfd);
	DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
	if (!d) {
		if (d2 >= 0)
			close(d2);
		return;
	}
	char **victims = NULL;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !keep(dfd, e->d_name, arg))
			strv_push(&victims, e->d_name);
	closedir(d);
	for (char **v = victims; v && *v; v++)
		rm_counting(dfd, *v, freed);
	strv_free(victims);
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
	*freed = 0;
	if (!st->writable)
		return ferr_setc(err, FERR_PERM, 0, "prune: store %s is not writable", st->home);
	int gc = lock_take(st, "gc", LOCK_EX, "pull to finish before pruning", err);
	if (gc == -1)
		return -1;
	/* 1. leftovers of interrupted work (no pull runs: we hold the gc lock) */
	prune_dir(st, "tmp", keep_nothing, NULL, freed);
	/* 2. images no reference names */
	struct store_image *imgs;
	size_t n;
	list_own(st, &imgs, &n);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(imgs[i].name, "<none>")) {
			struct ferr e = FERR_INIT;
			remove_image(st, imgs[i].digest, freed, &e);
		}
	store_list_free(imgs, n);
	/* 3. blobs no image uses (manifests, configs, layers; indexes too: they only save a request) */
	char **keep = NULL;
	_cleanup_free_ char *idir = path_join(st->home, "images");
	DIR *d = opendir(idir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strlen(e->d_name) == SHA256_HEX_LEN) {
			strv_push(&keep, e->d_name);
			_cleanup_free_ char *dir = path_join(idir, e->d_name);
			collect_digests(dir, &keep);
		}
	if (d)
		closedir(d);
	prune_dir(st, "blobs/sha256", keep_used_blob, keep, freed);
	strv_free(keep);
	/* 4. file contents no tree links any more */
	prune_dir(st, "files/sha256", keep_linked_file, NULL, freed);
	lock_release(gc);
	return 0;
}
