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

static void push_row(struct store_image **out, size_t *n, const struct store_image *row)
{
	*out = xrealloc(*out, (*n + 1) * sizeof **out);
	(*out)[(*n)++] = *row;
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
	struct dirent *e;
	while ((errno = 0, e = readdir(d))) {
		if (strlen(e->d_name) != SHA256_HEX_LEN || !store_is_hex(e->d_name))
			continue;
		_cleanup_free_ char *digest = xasprintf("sha256:%s", e->d_name);
		_cleanup_free_ char *dir = path_join(idir, e->d_name);
		struct store_image row = { .readonly_store = ro };
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
				_cleanup_free_ char *bp = store_blob_path(root, m.layers[i].digest);
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
				r2.digest = xstrdup(digest);
				push_row(out, n, &r2);
				any = true;
			}
		if (!any) {
			row.name = xstrdup("<none>");
			row.digest = xstrdup(digest);
			push_row(out, n, &row);
		}
	}
	int rc = errno ? ferr_set(err, errno, "list %s", idir) : 0;
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
