/* Layer extraction: a tar stream (decompressed by decomp.c) applied onto a
 * rootfs tree with OCI whiteout semantics.
 *
 * Safety: no member may touch anything outside the root. Every member path
 * is normalised lexically ("/", "..", "." cannot climb above the root) and
 * its parent directory is then opened through base/inroot.h, which resolves
 * symlinks *inside* the root (openat2 RESOLVE_IN_ROOT): an image symlink
 * "etc -> /etc" leads to ROOT/etc, never to the host's /etc. The last
 * component is only ever used with *at() calls that do not follow it
 * (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, linkat without AT_SYMLINK_FOLLOW,
 * unlinkat). Hardlink targets go through the same resolution.
 *
 * Permissions: files belong to whoever pulls; setuid/setgid bits are
 * stripped; directories get u+rwx and files u+rw so the store can always
 * remove them (as Charliecloud does). Devices, FIFOs and sockets cannot be
 * created without privilege and are useless in an image: skipped, with one
 * warning per layer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/inroot.h"
#include "base/log.h"
#include "base/path.h"
#include "base/sha256.h"
#include "base/str.h"
#include "image/netlibs.h"
#include "image/decomp.h"
#include "image/image.h"

/* Files up to this size are read into memory and hashed before anything is
 * written, so a file already in files/ costs one link and no write. */
#define SMALL_FILE (1024 * 1024)

/* ---- a set of paths added by the current layer (for opaque whiteouts) --- */

struct pathset {
	char **slot;
	size_t cap, n;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void pathset_add(struct pathset *ps, const char *p);

static void pathset_grow(struct pathset *ps)
{
	struct pathset old = *ps;
	ps->cap = old.cap ? old.cap * 2 : 1024;
	ps->slot = xcalloc(ps->cap, sizeof *ps->slot);
	ps->n = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slot[i]) {
			size_t j = hash_str(old.slot[i]) & (ps->cap - 1);
			while (ps->slot[j])
				j = (j + 1) & (ps->cap - 1);
			ps->slot[j] = old.slot[i];
			ps->n++;
		}
	free(old.slot);
}

static bool pathset_has(const struct pathset *ps, const char *p)
{
	if (!ps->cap)
		return false;
	for (size_t j = hash_str(p) & (ps->cap - 1); ps->slot[j]; j = (j + 1) & (ps->cap - 1))
		if (!strcmp(ps->slot[j], p))
			return true;
	return false;
}

static void pathset_add(struct pathset *ps, const char *p)
{
	if (pathset_has(ps, p))
		return;
	if ((ps->n + 1) * 2 > ps->cap)
		pathset_grow(ps);
	size_t j = hash_str(p) & (ps->cap - 1);
	while (ps->slot[j])
		j = (j + 1) & (ps->cap - 1);
	ps->slot[j] = xstrdup(p);
	ps->n++;
}

static void pathset_free(struct pathset *ps)
{
	for (size_t i = 0; i < ps->cap; i++)
		free(ps->slot[i]);
	free(ps->slot);
	memset(ps, 0, sizeof *ps);
}

/* ---- extraction state ---------------------------------------------------- */

struct extract {
	struct archive *a;
	struct decomp *dc;
	struct ferr *err; /* decomp errors surface through libarchive's callback */
	struct ferr read_err;
	bool read_failed;
	int rootfd;
	int filesfd;
	uid_t files_owner; /* owner of files/: the only one whose copies are reused */
	mode_t umask;      /* the process's, read once (never toggled: threads) */
	uint64_t max_apparent;
	bool sandbox_modes;
	struct pathset added;
	/* the parent directory of the previous member, reused when the next
	 * one lives in the same directory (most do) */
	char *cached_dir;
	int cached_fd;
	bool warned_special;
	struct layer_stats *stats;
	unsigned char *buf;
};

static la_ssize_t read_cb(struct archive *a, void *data, const void **buf)
{
	struct extract *x = data;
	ssize_t n = decomp_read(x->dc, buf, &x->read_err);
	if (n < 0) {
		x->read_failed = true;
		archive_set_error(a, EINVAL, "%s", x->read_err.msg);
		return -1;
	}
	return n;
}

static void drop_cache(struct extract *x)
{
	if (x->cached_fd >= 0)
		close(x->cached_fd);
	x->cached_fd = -1;
	free(x->cached_dir);
	x->cached_dir = NULL;
}

/* Open (creating as needed) the directory `dir` (normalised, absolute) inside the root. */
static int parent_fd(struct extract *x, const char *dir, struct ferr *err)
{
	if (x->cached_dir && !strcmp(x->cached_dir, dir))
		return x->cached_fd;
	drop_cache(x);
	int fd = inroot_mkdir_p(x->rootfd, dir, 0755, err);
	if (fd < 0)
		return -1;
	x->cached_fd = fd;
	x->cached_dir = xstrdup(dir);
	return fd;
}

/* Remove whatever is at pfd/leaf (file, link, or whole tree). */
static int remove_existing(struct extract *x, int pfd, const char *leaf, const struct stat *st, struct ferr *err)
{
	/* The cached fd is pfd itself (the parent), which stays. */
	if (S_ISDIR(st->st_mode))
		return fs_rm_rf_at(pfd, leaf, err);
	if (unlinkat(pfd, leaf, 0) < 0 && errno != ENOENT)
		return ferr_set(err, errno, "remove %s", leaf);
	return 0;
}

/* Is files/KEY a copy this store may reuse: a regular file of the store's
 * owner with exactly the mode its name says? Anything else (planted by
 * another user while the store was open, a symlink, a changed mode) is
 * removed so that the caller stores its own copy: never reused. */
static bool stored_copy_trusted(struct extract *x, const char *key, mode_t mode)
{
	struct stat sb;
	if (fstatat(x->filesfd, key, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if (S_ISREG(sb.st_mode) && sb.st_uid == x->files_owner && (sb.st_mode & 07777) == (mode & 07777))
		return true;
	if (unlinkat(x->filesfd, key, 0) < 0)
		log_warn("layer: files/sha256/%s is not the store's own copy and cannot be removed: %s", key, strerror(errno));
	return false;
}

/* Link the finished file pfd/leaf (content hash hex, mode) with files/:
 * reuse the stored copy when there is one, else store this one. Failure
 * to deduplicate is never an error: the tree is right either way. */
static void dedup_file(struct extract *x, int pfd, const char *leaf, const char *hex, mode_t mode)
{
	char key[SHA256_HEX_LEN + 8];
	snprintf(key, sizeof key, "%s-%04o", hex, (unsigned)(mode & 07777));
	if (linkat(pfd, leaf, x->filesfd, key, 0) == 0)
		return; /* first copy: now in files/ */
	if (errno != EEXIST)
		return;
	if (!stored_copy_trusted(x, key, mode)) {
		if (linkat(pfd, leaf, x->filesfd, key, 0) < 0 && errno != EEXIST)
			return;
		return; /* ours is the copy now (or another pull's, checked next time) */
	}
	/* Replace ours by the stored copy through a temporary name, so the
	 * tree never lacks the file. */
	char tmp[NAME_MAX + 1];
	snprintf(tmp, sizeof tmp, ".ferry-dedup-%d", (int)getpid());
	if (linkat(x->filesfd, key, pfd, tmp, 0) < 0)
		return; /* EMLINK and friends: keep our own copy */
	if (renameat(pfd, tmp, pfd, leaf) < 0) {
		unlinkat(pfd, tmp, 0);
		return;
	}
	x->stats->deduped++;
}

static int extract_file(struct extract *x, struct archive_entry *e, int pfd, const char *leaf, const char *path,
	struct ferr *err)
{
	mode_t mode = (archive_entry_perm(e) & 0777) | 0600; /* no setuid/setgid/sticky on files */
	if (x->sandbox_modes)
		mode = (mode & 0711) | 0644 | (mode & 0100 ? 0111 : 0);
	int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
	char hex[SHA256_HEX_LEN + 1];
	struct sha256 h;

	/* The apparent size the image's files add up to is capped: a sparse
	 * member of a few bytes can claim terabytes. */
	if (size > 0) {
		x->stats->apparent += (uint64_t)size;
		if (x->max_apparent && x->stats->apparent > x->max_apparent) {
			ferr_setc(err, FERR_INVALID, 0, "%s: the image's files add up to more than %llu bytes", path,
				(unsigned long long)x->max_apparent);
			return ferr_hint(err, "if the image is genuine, raise the limit with --max-image-size or FERRY_MAX_IMAGE_SIZE");
		}
	}

	if (size >= 0 && size <= SMALL_FILE) {
		/* Read, hash, and link the stored copy if there is one. */
		size_t got = 0;
		while (got < (size_t)size) {
			la_ssize_t n = archive_read_data(x->a, x->buf + got, (size_t)size - got);
			if (n < 0)
				return ferr_setc(err, FERR_INVALID, 0, "%s: %s", path, archive_error_string(x->a));
			if (n == 0)
				break;
			got += (size_t)n;
		}
		if (got != (size_t)size)
			return ferr_setc(err, FERR_INVALID, 0, "%s: truncated member", path);
		if (x->filesfd >= 0 && size > 0) {
			sha256_hex(x->buf, got, hex);
			char key[SHA256_HEX_LEN + 8];
			snprintf(key, sizeof key, "%s-%04o", hex, (unsigned)mode);
			if (stored_copy_trusted(x, key, mode) && linkat(x->filesfd, key, pfd, leaf, 0) == 0) {
				x->stats->deduped++;
				x->stats->files++;
				return 0;
			}
		}
		_cleanup_close_ int fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return ferr_set(err, errno, "create %s", path);
		if (fs_write_all(fd, x->buf, got) < 0)
			return ferr_set(err, errno, "write %s", path);
		if (fchmod(fd, mode) < 0)
			return ferr_set(err, errno, "chmod %s", path);
		struct timespec ts[2] = { { 0, UTIME_OMIT }, { archive_entry_mtime(e), archive_entry_mtime_nsec(e) } };
		futimens(fd, ts);
		x->stats->files++;
		x->stats->bytes += got;
		if (x->filesfd >= 0 && size > 0)
			dedup_file(x, pfd, leaf, hex, mode);
		return 0;
	}

	_cleanup_close_ int fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ferr_set(err, errno, "create %s", path);
	sha256_init(&h);
	bool hashing = true; /* until a hole: sparse files are not deduplicated */
	int64_t written = 0; /* the file's length so far, holes included */
	uint64_t data = 0;   /* bytes actually written */
	for (;;) {
		const void *block;
		size_t len;
		la_int64_t off;
		int r = archive_read_data_block(x->a, &block, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			if (hashing)
				sha256_abort(&h);
			return ferr_setc(err, FERR_INVALID, 0, "%s: %s", path, archive_error_string(x->a));
		}
		if (off < written) {
			if (hashing)
				sha256_abort(&h);
			return ferr_setc(err, FERR_INVALID, 0, "%s: sparse map goes backwards", path);
		}
		if (off > written) {
			/* A hole (GNU or pax sparse member): seek over it, never write
			 * zeros, so the file keeps its holes on disk. */
			if (hashing)
				sha256_abort(&h);
			hashing = false;
			if (lseek(fd, off, SEEK_SET) < 0)
				return ferr_set(err, errno, "seek %s", path);
			written = off;
		}
		if (len == 0)
			continue;
		if (fs_write_all(fd, block, len) < 0) {
			if (hashing)
				sha256_abort(&h);
			return ferr_set(err, errno, "write %s", path);
		}
		if (hashing)
			sha256_update(&h, block, len);
		written += (int64_t)len;
		data += len;
	}
	if (size > written) { /* a trailing hole */
		if (hashing)
			sha256_abort(&h);
		hashing = false;
		if (ftruncate(fd, size) < 0)
			return ferr_set(err, errno, "truncate %s", path);
		written = size;
	}
	if (hashing)
		sha256_final_hex(&h, hex);
	if (fchmod(fd, mode) < 0)
		return ferr_set(err, errno, "chmod %s", path);
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { archive_entry_mtime(e), archive_entry_mtime_nsec(e) } };
	futimens(fd, ts);
	x->stats->files++;
	x->stats->bytes += data;
	if (x->filesfd >= 0 && written > 0 && hashing)
		dedup_file(x, pfd, leaf, hex, mode);
	return 0;
}

/* ".wh..wh..opq" in dir: remove everything in dir that this layer did not add. */
static int opaque(struct extract *x, const char *dir, struct ferr *err)
{
	_cleanup_close_ int fd = inroot_open(x->rootfd, dir, O_RDONLY | O_DIRECTORY, 0, err);
	if (fd < 0) {
		if (err->code == FERR_NOTFOUND) {
			ferr_clear(err);
			return 0;
		}
		return -1;
	}
	int dfd = dup(fd);
	if (dfd < 0)
		return ferr_set(err, errno, "dup");
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return ferr_set(err, errno, "opendir %s", dir);
	}
	char **victims = NULL;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		_cleanup_free_ char *p = path_join(dir, de->d_name);
		if (!pathset_has(&x->added, p))
			strv_push(&victims, de->d_name);
	}
	if (victims)
		drop_cache(x);
	for (char **v = victims; v && *v; v++)
		if (fs_rm_rf_at(fd, *v, err) < 0) {
			strv_free(victims);
			return ferr_wrap(err, "opaque whiteout in %s", dir);
		}
	strv_free(victims);
	return 0;
}

static int extract_entry(struct extract *x, struct archive_entry *e, struct ferr *err)
{
	const char *raw = archive_entry_pathname(e);
	if (!raw || !*raw)
		return 0;
	_cleanup_free_ char *abs = xasprintf("/%s", raw);
	_cleanup_free_ char *path = path_normalize(abs);
	if (!strcmp(path, "/"))
		return 0; /* the root itself: its mode is ours to choose */
	_cleanup_free_ char *dir = path_dirname(path);
	_cleanup_free_ char *leaf = path_basename(path);

	/* Whiteouts. */
	if (str_starts_with(leaf, ".wh.")) {
		if (!strcmp(leaf, ".wh..wh..opq"))
			return opaque(x, dir, err);
		const char *victim = leaf + 4;
		if (!*victim || !strcmp(victim, ".") || !strcmp(victim, "..") || str_starts_with(victim, ".wh."))
			return 0; /* meaningless; ignored */
		_cleanup_close_ int fd = inroot_open(x->rootfd, dir, O_PATH | O_DIRECTORY, 0, err);
		if (fd < 0) {
			if (err->code == FERR_NOTFOUND || err->errnum == ENOTDIR) {
				ferr_clear(err);
				return 0;
			}
			return -1;
		}
		drop_cache(x);
		if (fs_rm_rf_at(fd, victim, err) < 0)
			return ferr_wrap(err, "whiteout %s", path);
		return 0;
	}

	mode_t type = archive_entry_filetype(e);
	const char *hardlink = archive_entry_hardlink(e);
	if (!hardlink && (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO || type == AE_IFSOCK)) {
		if (!x->warned_special)
			log_warn("layer: skipping device, FIFO or socket %s (and any others in this layer)", path);
		x->warned_special = true;
		x->stats->skipped++;
		return 0;
	}

	int pfd = parent_fd(x, dir, err);
	if (pfd < 0)
		return ferr_wrap(err, "%s", path);
	struct stat st;
	bool exists = fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!exists && errno != ENOENT)
		return ferr_set(err, errno, "stat %s", path);
	pathset_add(&x->added, path);

	if (hardlink) {
		_cleanup_free_ char *tabs = xasprintf("/%s", hardlink);
		_cleanup_free_ char *target = path_normalize(tabs);
		if (!strcmp(target, path))
			return 0;
		_cleanup_free_ char *tleaf = NULL;
		if (!strcmp(target, "/"))
			return ferr_setc(err, FERR_INVALID, 0, "%s: hardlink to the root directory", path);
		_cleanup_close_ int tfd = inroot_open_parent(x->rootfd, target, &tleaf, err);
		if (tfd < 0)
			return ferr_wrap(err, "hardlink %s", path);
		struct stat tst;
		if (fstatat(tfd, tleaf, &tst, AT_SYMLINK_NOFOLLOW) < 0)
			return ferr_setc(err, FERR_INVALID, errno, "hardlink %s: target %s", path, target);
		if (S_ISDIR(tst.st_mode))
			return ferr_setc(err, FERR_INVALID, 0, "hardlink %s: target %s is a directory", path, target);
		if (exists) {
			if (st.st_ino == tst.st_ino && st.st_dev == tst.st_dev)
				return 0;
			if (remove_existing(x, pfd, leaf, &st, err) < 0)
				return -1;
			pfd = parent_fd(x, dir, err);
			if (pfd < 0)
				return -1;
		}
		if (linkat(tfd, tleaf, pfd, leaf, 0) < 0)
			return ferr_set(err, errno, "hardlink %s to %s", path, target);
		x->stats->links++;
		return 0;
	}

	switch (type) {
	case AE_IFDIR: {
		mode_t mode = x->sandbox_modes ? 0755 : (archive_entry_perm(e) & 01777) | 0700; /* keep sticky, drop setgid */
		if (exists && S_ISDIR(st.st_mode)) {
			if ((st.st_mode & 07777) != mode && fchmodat(pfd, leaf, mode, 0) < 0)
				return ferr_set(err, errno, "chmod %s", path);
			return 0;
		}
		if (exists && remove_existing(x, pfd, leaf, &st, err) < 0)
			return -1;
		if (exists && (pfd = parent_fd(x, dir, err)) < 0)
			return -1;
		if (mkdirat(pfd, leaf, mode) < 0)
			return ferr_set(err, errno, "mkdir %s", path);
		if ((mode & x->umask) && fchmodat(pfd, leaf, mode, 0) < 0)
			return ferr_set(err, errno, "chmod %s", path);
		x->stats->dirs++;
		return 0;
	}
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);
		if (!target)
			return ferr_setc(err, FERR_INVALID, 0, "%s: symlink without target", path);
		if (exists && remove_existing(x, pfd, leaf, &st, err) < 0)
			return -1;
		if (exists && (pfd = parent_fd(x, dir, err)) < 0)
			return -1;
		/* The target is stored as is: inside the image it is resolved by the
		 * container's root; ferry itself never follows it on the host. */
		if (symlinkat(target, pfd, leaf) < 0)
			return ferr_set(err, errno, "symlink %s", path);
		x->stats->links++;
		return 0;
	}
	case AE_IFREG:
	case 0: /* old tars: a regular file */
		if (exists && remove_existing(x, pfd, leaf, &st, err) < 0)
			return -1;
		if (exists && (pfd = parent_fd(x, dir, err)) < 0)
			return -1;
		return extract_file(x, e, pfd, leaf, path, err);
	default:
		return ferr_setc(err, FERR_INVALID, 0, "%s: unknown member type 0%o", path, (unsigned)type);
	}
}

/* The umask, read without changing it (umask(2) can only set it, and
 * setting it, even back, races other threads creating files). Where
 * /proc does not say, assume the worst: every mode is then re-applied. */
static mode_t process_umask(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return 0777;
	char line[256];
	mode_t m = 0777;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "Umask:", 6)) {
			m = (mode_t)strtoul(line + 6, NULL, 8) & 0777;
			break;
		}
	fclose(f);
	return m;
}

int layer_extract(int blobfd, const char *diff_id, int rootfd, int filesfd, struct layer_stats *stats,
	struct ferr *err)
{
	if (netlibs_load_archive(err) < 0)
		return ferr_wrap(err, "extract layer %s", diff_id ? diff_id : "");
	struct layer_stats dummy = { 0 };
	struct extract x = { .rootfd = rootfd, .filesfd = filesfd, .cached_fd = -1, .stats = stats ? stats : &dummy };
	x.max_apparent = x.stats->max_apparent;
	x.sandbox_modes = x.stats->sandbox_modes;
	uint64_t before = x.stats->apparent_before;
	memset(x.stats, 0, sizeof *x.stats);
	x.stats->max_apparent = x.max_apparent;
	x.stats->sandbox_modes = x.sandbox_modes;
	x.stats->apparent_before = before;
	x.stats->apparent = before;
	x.umask = process_umask();
	if (filesfd >= 0) {
		struct stat sb;
		if (fstat(filesfd, &sb) < 0)
			return ferr_set(err, errno, "stat the store's files/");
		x.files_owner = sb.st_uid;
	}
	if (decomp_open(&x.dc, blobfd, err) < 0)
		return -1;
	x.a = archive_read_new();
	archive_read_support_format_tar(x.a);
	archive_read_support_format_gnutar(x.a);
	x.buf = xmalloc(SMALL_FILE);
	int rc = 0;
	if (archive_read_open(x.a, &x, NULL, read_cb, NULL) != ARCHIVE_OK) {
		rc = x.read_failed ? ferr_setc(err, FERR_INVALID, 0, "%s", x.read_err.msg)
				   : ferr_setc(err, FERR_INVALID, 0, "not a tar archive: %s", archive_error_string(x.a));
		goto out;
	}
	for (;;) {
		struct archive_entry *e;
		int r = archive_read_next_header(x.a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rc = x.read_failed ? ferr_setc(err, FERR_INVALID, 0, "%s", x.read_err.msg)
					   : ferr_setc(err, FERR_INVALID, 0, "bad tar: %s", archive_error_string(x.a));
			goto out;
		}
		if (extract_entry(&x, e, err) < 0) {
			if (x.read_failed)
				ferr_setc(err, FERR_INVALID, 0, "%s", x.read_err.msg);
			rc = -1;
			goto out;
		}
	}
	char got[7 + SHA256_HEX_LEN + 1];
	if (decomp_finish(x.dc, got, err) < 0) {
		rc = -1;
		goto out;
	}
	if (diff_id && strcmp(got, diff_id)) {
		rc = ferr_setc(err, FERR_INTEGRITY, 0, "diff_id mismatch: config says %s, layer content is %s", diff_id, got);
		goto out;
	}
out:
	drop_cache(&x);
	pathset_free(&x.added);
	archive_read_free(x.a);
	decomp_close(x.dc);
	free(x.buf);
	return rc;
}
