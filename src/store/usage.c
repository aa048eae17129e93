/* Listing: one row per name (or "<none>") with the image's size on disk
 * and the part of it shared with other images. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* What one image uses: the bytes of its tree (each inode once, directories
 * and symlinks included), and the regular files it may share with other
 * images (an inode with links outside the tree: its files/ entry, other
 * trees), by inode. Recorded in images/<hex>/usage when the tree is built,
 * so that listing reads small files instead of walking every tree. */
struct usage {
	uint64_t size;
	struct usage_ino {
		uint64_t ino, bytes;
	} *v;
	size_t n;
};

static void tree_walk(int dfd, struct ino_set *seen, uint64_t *size)
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
				tree_walk(c, seen, size);
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

static void usage_walk(int dfd, struct usage *u)
{
	struct ino_set seen = { 0 };
	memset(u, 0, sizeof *u);
	tree_walk(dfd, &seen, &u->size);
	/* the record itself is not part of what the image uses: a walk and
	 * the record it wrote give the same size */
	struct stat rec;
	if (fstatat(dfd, "usage", &rec, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(rec.st_mode) &&
		u->size >= (uint64_t)rec.st_blocks * 512)
		u->size -= (uint64_t)rec.st_blocks * 512;
	for (size_t i = 0; i < seen.cap; i++) {
		const struct ino_entry *ie = &seen.v[i];
		if (ie->ino && ie->bytes && ie->nlink > (nlink_t)ie->links) {
			u->v = xrealloc(u->v, (u->n + 1) * sizeof *u->v);
			u->v[u->n++] = (struct usage_ino){ (uint64_t)ie->ino, ie->bytes };
		}
	}
	free(seen.v);
}

/* The record: magic, size, count, the inode of rootfs/, then (ino, bytes)
 * pairs; native endian (a store is read on the machine kind that wrote it;
 * a wrong record is only ignored: the tree is walked instead). Inode
 * numbers mean something only where they were taken: a tree copied
 * elsewhere (cp -a, rsync) has a rootfs/ of another inode, and its record
 * is then ignored too. */
static const char usage_magic[8] = "FERRYU2";

static uint64_t rootfs_ino(int dfd)
{
	struct stat sb;
	return fstatat(dfd, "rootfs", &sb, AT_SYMLINK_NOFOLLOW) == 0 ? (uint64_t)sb.st_ino : 0;
}

int store_usage_record(const char *dir, struct ferr *err)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return ferr_set(err, errno, "open %s", dir);
	struct usage u;
	usage_walk(dfd, &u);
	uint64_t hdr[3] = { u.size, u.n, rootfs_ino(dfd) };
	size_t len = sizeof usage_magic + sizeof hdr + u.n * sizeof *u.v;
	_cleanup_free_ char *buf = xmalloc(len);
	memcpy(buf, usage_magic, sizeof usage_magic);
	memcpy(buf + sizeof usage_magic, hdr, sizeof hdr);
	if (u.n)
		memcpy(buf + sizeof usage_magic + sizeof hdr, u.v, u.n * sizeof *u.v);
	free(u.v);
	_cleanup_free_ char *p = path_join(dir, "usage");
	return fs_write_atomic(p, buf, len, 0644, err);
}

static int usage_read(const char *dir, int dfd, struct usage *u)
{
	memset(u, 0, sizeof *u);
	_cleanup_free_ char *p = path_join(dir, "usage");
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	struct ferr e = FERR_INIT;
	if (fs_read_file(p, &buf, &len, &e) < 0)
		return -1;
	uint64_t hdr[3];
	if (len < sizeof usage_magic + sizeof hdr || memcmp(buf, usage_magic, sizeof usage_magic))
		return -1;
	memcpy(hdr, buf + sizeof usage_magic, sizeof hdr);
	if (hdr[1] != (len - sizeof usage_magic - sizeof hdr) / sizeof *u->v ||
		(len - sizeof usage_magic - sizeof hdr) % sizeof *u->v || hdr[2] != rootfs_ino(dfd))
		return -1;
	u->size = hdr[0];
	u->n = (size_t)hdr[1];
	u->v = xmalloc((u->n ? u->n : 1) * sizeof *u->v);
	memcpy(u->v, buf + sizeof usage_magic + sizeof hdr, u->n * sizeof *u->v);
	return 0;
}

static void push_row(struct store_image **out, size_t *n, const struct store_image *row)
{
	*out = xrealloc(*out, (*n + 1) * sizeof **out);
	(*out)[(*n)++] = *row;
}

/* The blobs an image still has in blobs/ (its layers may have been dropped
 * once its tree was in place): part of what it uses on disk. */
static uint64_t blob_bytes(const char *root, const char *dir)
{
	_cleanup_free_ char *mp = path_join(dir, "manifest.json");
	_cleanup_free_ char *mb = NULL;
	size_t ml;
	struct ferr fe = FERR_INIT;
	struct image_manifest m;
	uint64_t bytes = 0;
	if (fs_read_file(mp, &mb, &ml, &fe) < 0 || image_manifest_parse(mb, ml, NULL, &m, &fe) < 0)
		return 0;
	for (size_t i = 0; i < m.n_layers; i++) {
		_cleanup_free_ char *bp = store_blob_path(root, m.layers[i].digest);
		struct stat sb;
		if (stat(bp, &sb) == 0)
			bytes += (uint64_t)sb.st_blocks * 512;
	}
	image_manifest_free(&m);
	return bytes;
}

int store_list_root(const char *root, bool ro, struct store_image **out, size_t *n, struct ferr *err)
{
	struct store_name *names = NULL;
	size_t nn = 0;
	if (store_refs_scan(root, &names, &nn, err) < 0)
		return -1;
	_cleanup_free_ char *idir = path_join(root, "images");
	_cleanup_closedir_ DIR *d = opendir(idir);
	if (!d) {
		store_names_free(names, nn);
		if (errno == ENOENT)
			return 0;
		return ferr_set(err, errno, "list %s", idir);
	}
	/* 1. each image: its record (or a walk of its tree, for trees built
	 * before records existed), its pull time, its blobs */
	struct img {
		char *hex;
		struct usage u;
		time_t pulled;
		uint64_t blobs;
	} *imgs = NULL;
	size_t ni = 0;
	struct dirent *e;
	while ((errno = 0, e = readdir(d))) {
		if (strlen(e->d_name) != SHA256_HEX_LEN || !store_is_hex(e->d_name))
			continue;
		_cleanup_free_ char *dir = path_join(idir, e->d_name);
		struct img im = { .hex = xstrdup(e->d_name) };
		_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0 && usage_read(dir, dfd, &im.u) < 0)
			usage_walk(dfd, &im.u);
		_cleanup_free_ char *ip = path_join(dir, "info.json");
		struct ferr fe = FERR_INIT;
		_cleanup_json_ json_t *info = json_load_path(ip, &fe);
		json_t *pt = json_object_get(info, "pulled");
		im.pulled = json_is_integer(pt) ? (time_t)json_integer_value(pt) : 0;
		im.blobs = blob_bytes(root, dir);
		imgs = xrealloc(imgs, (ni + 1) * sizeof *imgs);
		imgs[ni++] = im;
	}
	int rc = errno ? ferr_set(err, errno, "list %s", idir) : 0;
	/* 2. an inode in two images or more is shared */
	struct ino_set count = { 0 };
	for (size_t i = 0; i < ni; i++)
		for (size_t k = 0; k < imgs[i].u.n; k++)
			ino_slot(&count, (ino_t)imgs[i].u.v[k].ino)->links++;
	/* 3. one row per name, or "<none>" */
	for (size_t i = 0; i < ni; i++) {
		_cleanup_free_ char *digest = xasprintf("sha256:%s", imgs[i].hex);
		struct store_image row = { .readonly_store = ro, .pulled = imgs[i].pulled,
			.size = imgs[i].u.size + imgs[i].blobs };
		for (size_t k = 0; k < imgs[i].u.n; k++)
			if (ino_slot(&count, (ino_t)imgs[i].u.v[k].ino)->links > 1)
				row.shared += imgs[i].u.v[k].bytes;
		bool any = false;
		for (size_t j = 0; j < nn; j++)
			if (!strcmp(names[j].digest, digest)) {
				struct store_image r2 = row;
				r2.name = xstrdup(names[j].name);
				r2.digest = xstrdup(digest);
				push_row(out, n, &r2);
				any = true;
			}
		if (!any) {
			row.name = xstrdup("<none>");
			row.digest = xstrdup(digest);
			push_row(out, n, &row);
		}
		free(imgs[i].hex);
		free(imgs[i].u.v);
	}
	free(count.v);
	free(imgs);
	store_names_free(names, nn);
	return rc;
}

int store_list(struct store *st, struct store_image **out, size_t *n, struct ferr *err)
{
	*out = NULL;
	*n = 0;
	for (char **r = st->ro; r && *r; r++)
		if (store_list_root(*r, true, out, n, err) < 0)
			goto fail;
	if (store_list_root(st->home, false, out, n, err) < 0)
		goto fail;
	return 0;
fail:
	store_list_free(*out, *n);
	*out = NULL;
	*n = 0;
	return -1;
}

void store_list_free(struct store_image *imgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(imgs[i].name);
		free(imgs[i].digest);
	}
	free(imgs);
}
