/* Reading the squashfs inside a single-file image with libsquashfs
 * (squashfs-tools-ng), without mounting it: one file (the embedded
 * config), the superblock, or the whole tree as a tar stream for
 * layer_extract. The squashfs may start anywhere in the file (SIF,
 * .simg): a small sqfs_file_t reads the window [offset, offset+size). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/sqfslib.h" /* <sqfs/...>, loaded on first use */

#include "base/cleanup.h"
#include "base/str.h"
#include "image/image.h"
#include "image/sfile_int.h"

struct window {
	sqfs_file_t file;
	int fd;
	uint64_t off, size;
};

static int win_read_at(sqfs_file_t *f, sqfs_u64 offset, void *buf, size_t size)
{
	struct window *w = (struct window *)f;
	if (offset > w->size || size > w->size - offset)
		return SQFS_ERROR_OUT_OF_BOUNDS;
	for (size_t done = 0; done < size;) {
		ssize_t n = pread(w->fd, (char *)buf + done, size - done, (off_t)(w->off + offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return SQFS_ERROR_IO;
		if (n == 0)
			return SQFS_ERROR_OUT_OF_BOUNDS;
		done += (size_t)n;
	}
	return 0;
}

static int win_write_at(sqfs_file_t *f, sqfs_u64 offset, const void *buf, size_t size)
{
	(void)f, (void)offset, (void)buf, (void)size;
	return SQFS_ERROR_IO;
}

static sqfs_u64 win_get_size(const sqfs_file_t *f)
{
	return ((const struct window *)f)->size;
}

static int win_truncate(sqfs_file_t *f, sqfs_u64 size)
{
	(void)f, (void)size;
	return SQFS_ERROR_IO;
}

static void win_destroy(sqfs_object_t *o)
{
	(void)o; /* lives in struct sqr */
}

const char *sqfs_strerror_ferry(int e);
const char *sqfs_strerror_ferry(int e)
{
	switch (e) {
	case SQFS_ERROR_ALLOC: return "out of memory";
	case SQFS_ERROR_IO: return "read error";
	case SQFS_ERROR_COMPRESSOR: return "corrupt compressed block";
	case SQFS_ERROR_CORRUPTED: return "corrupt squashfs";
	case SQFS_ERROR_UNSUPPORTED: return "corrupt squashfs, or a feature libsquashfs does not support";
	case SQFS_ERROR_OVERFLOW: return "corrupt squashfs (a size overflows)";
	case SQFS_ERROR_OUT_OF_BOUNDS: return "corrupt or truncated squashfs (a pointer leads outside it)";
	case SQFS_ERROR_SUPER_BLOCK_SIZE: return "corrupt superblock (bad block size)";
	case SQFS_ERROR_NOT_DIR: return "not a directory";
	case SQFS_ERROR_NO_ENTRY: return "no such file";
	case SQFS_ERROR_LINK_LOOP: return "corrupt squashfs (a directory loop)";
	case SQFS_ERROR_NOT_FILE: return "not a regular file";
	default: return "squashfs error";
	}
}

struct sqr {
	struct window w;
	sqfs_super_t super;
	sqfs_compressor_t *cmp;
	sqfs_id_table_t *ids;
	sqfs_dir_reader_t *dr;
	sqfs_data_reader_t *data;
};

static void sqr_close(struct sqr *r)
{
	sqfs_destroy(r->data);
	sqfs_destroy(r->dr);
	sqfs_destroy(r->ids);
	sqfs_destroy(r->cmp);
	memset(r, 0, sizeof *r);
}

static int sqfs_fail(struct ferr *err, int e, const char *name, const char *what)
{
	return ferr_setc(err, e == SQFS_ERROR_NO_ENTRY ? FERR_NOTFOUND : FERR_INVALID, 0, "%s: %s: %s", name, what,
		sqfs_strerror_ferry(e));
}

static int sqr_open(int fd, const char *name, const struct sfile *sf, struct sqr *r, struct ferr *err)
{
	memset(r, 0, sizeof *r);
	if (sqfslib_load(err) < 0)
		return -1;
	r->w = (struct window){ .fd = fd, .off = sf->sqfs_offset, .size = sf->sqfs_size };
	r->w.file.base.destroy = win_destroy;
	r->w.file.read_at = win_read_at;
	r->w.file.write_at = win_write_at;
	r->w.file.get_size = win_get_size;
	r->w.file.truncate = win_truncate;
	int e = sqfs_super_read(&r->super, &r->w.file);
	if (e)
		return sqfs_fail(err, e, name, "superblock");
	sqfs_compressor_config_t cfg;
	e = sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)r->super.compression_id, r->super.block_size,
		SQFS_COMP_FLAG_UNCOMPRESS);
	if (!e)
		e = sqfs_compressor_create(&cfg, &r->cmp);
	if (e)
		return ferr_setc(err, FERR_UNSUPPORTED, 0, "%s: squashfs compressor %u: not supported by libsquashfs", name,
			r->super.compression_id);
	if ((r->super.flags & SQFS_FLAG_COMPRESSOR_OPTIONS) && (e = r->cmp->read_options(r->cmp, &r->w.file)) < 0) {
		sqr_close(r);
		return sqfs_fail(err, e, name, "compressor options");
	}
	r->ids = sqfs_id_table_create(0);
	r->dr = sqfs_dir_reader_create(&r->super, r->cmp, &r->w.file, 0);
	r->data = sqfs_data_reader_create(&r->w.file, r->super.block_size, r->cmp, 0);
	if (!r->ids || !r->dr || !r->data) {
		sqr_close(r);
		return ferr_set(err, ENOMEM, "%s: squashfs reader", name);
	}
	if ((e = sqfs_id_table_read(r->ids, &r->w.file, &r->super, r->cmp)) ||
		(e = sqfs_data_reader_load_fragment_table(r->data, &r->super))) {
		sqr_close(r);
		return sqfs_fail(err, e, name, "tables");
	}
	return 0;
}

int sfile_read_file(int fd, const char *name, const struct sfile *sf, const char *path, size_t max, char **data,
	size_t *len, struct ferr *err)
{
	struct sqr r;
	if (sqr_open(fd, name, sf, &r, err) < 0)
		return -1;
	sqfs_inode_generic_t *ino = NULL;
	while (*path == '/')
		path++;
	int e = sqfs_dir_reader_find_by_path(r.dr, NULL, path, &ino);
	int rc = 0;
	sqfs_u64 size = 0;
	if (e) {
		rc = sqfs_fail(err, e, name, path);
	} else if (ino->base.type != SQFS_INODE_FILE && ino->base.type != SQFS_INODE_EXT_FILE) {
		rc = ferr_setc(err, FERR_INVALID, 0, "%s: %s: not a regular file", name, path);
	} else if (sqfs_inode_get_file_size(ino, &size), size > max) {
		rc = ferr_setc(err, FERR_INVALID, 0, "%s: %s: %llu bytes (at most %zu)", name, path,
			(unsigned long long)size, max);
	} else {
		char *buf = xmalloc((size_t)size + 1);
		sqfs_s32 n = size ? sqfs_data_reader_read(r.data, ino, 0, buf, (sqfs_u32)size) : 0;
		if (n < 0 || (sqfs_u64)n != size) {
			free(buf);
			rc = sqfs_fail(err, n < 0 ? n : SQFS_ERROR_CORRUPTED, name, path);
		} else {
			buf[size] = 0;
			*data = buf;
			*len = (size_t)size;
		}
	}
	sqfs_free(ino);
	sqr_close(&r);
	return rc;
}

int sfile_super(int fd, const char *name, const struct sfile *sf, struct sfile_super *out, struct ferr *err)
{
	static const char *const comp[] = { "?", "gzip", "lzma", "lzo", "xz", "lz4", "zstd" };
	struct sqr r;
	if (sqr_open(fd, name, sf, &r, err) < 0)
		return -1;
	*out = (struct sfile_super){ .inodes = r.super.inode_count, .block_size = r.super.block_size,
		.mkfs_time = r.super.modification_time, .bytes_used = r.super.bytes_used,
		.compression = r.super.compression_id <= 6 ? comp[r.super.compression_id] : "?" };
	sqr_close(&r);
	return 0;
}

/* ---- the tree as a tar stream ------------------------------------------- */

struct walk {
	struct sqr *r;
	struct tarw *t;
	const char *name;
	unsigned char *buf;
	/* inode number -> first path, for hard links (nlink > 1) */
	struct link { uint32_t ino; char *path; } *links;
	size_t n_links;
};

static const char *linked(struct walk *w, uint32_t ino)
{
	for (size_t i = 0; i < w->n_links; i++)
		if (w->links[i].ino == ino)
			return w->links[i].path;
	return NULL;
}

static uint32_t nlink_of(const sqfs_inode_generic_t *n)
{
	switch (n->base.type) {
	case SQFS_INODE_EXT_FILE: return n->data.file_ext.nlink;
	case SQFS_INODE_SLINK: return n->data.slink.nlink;
	case SQFS_INODE_EXT_SLINK: return n->data.slink_ext.nlink;
	case SQFS_INODE_BDEV: case SQFS_INODE_CDEV: return n->data.dev.nlink;
	case SQFS_INODE_EXT_BDEV: case SQFS_INODE_EXT_CDEV: return n->data.dev_ext.nlink;
	default: return 1;
	}
}

static int emit(struct walk *w, const sqfs_tree_node_t *node, struct ferr *err);

static int emit_children(struct walk *w, const sqfs_tree_node_t *node, bool top, struct ferr *err)
{
	for (const sqfs_tree_node_t *c = node->children; c; c = c->next) {
		if (top && !strcmp((const char *)c->name, SFILE_CONFIG_DIR))
			continue; /* ferry's own config, not part of the tree */
		if (emit(w, c, err) < 0)
			return -1;
	}
	return 0;
}

static int emit(struct walk *w, const sqfs_tree_node_t *node, struct ferr *err)
{
	char *p = NULL;
	int e = sqfs_tree_node_get_path(node, &p);
	if (e)
		return e == SQFS_ERROR_CORRUPTED
			       ? ferr_setc(err, FERR_INVALID, 0, "%s: corrupt squashfs: a name in the tree is empty, '.', '..' or holds '/'", w->name)
			       : sqfs_fail(err, e, w->name, "a name in the tree");
	_cleanup_free_ char *path = xstrdup(p + 1); /* no leading '/' in the tar */
	sqfs_free(p);
	const sqfs_inode_generic_t *n = node->inode;
	unsigned mode = n->base.mode & 07777;
	int rc = 0;
	const char *first = NULL;
	if (n->base.type != SQFS_INODE_DIR && n->base.type != SQFS_INODE_EXT_DIR && nlink_of(n) > 1) {
		if ((first = linked(w, n->base.inode_number)))
			return tarw_hardlink(w->t, path, first, err);
		w->links = xrealloc(w->links, (w->n_links + 1) * sizeof *w->links);
		w->links[w->n_links++] = (struct link){ n->base.inode_number, xstrdup(path) };
	}
	switch (n->base.type) {
	case SQFS_INODE_DIR:
	case SQFS_INODE_EXT_DIR:
		if (tarw_dir(w->t, path, mode, err) < 0)
			return -1;
		return emit_children(w, node, false, err);
	case SQFS_INODE_FILE:
	case SQFS_INODE_EXT_FILE: {
		sqfs_u64 size = 0;
		sqfs_inode_get_file_size(n, &size);
		if (tarw_file(w->t, path, mode, size, err) < 0)
			return -1;
		for (sqfs_u64 off = 0; off < size;) {
			sqfs_u32 want = size - off > (1u << 20) ? (1u << 20) : (sqfs_u32)(size - off);
			sqfs_s32 got = sqfs_data_reader_read(w->r->data, n, off, w->buf, want);
			if (got <= 0)
				return sqfs_fail(err, got < 0 ? got : SQFS_ERROR_CORRUPTED, w->name, path);
			if (tarw_data(w->t, w->buf, (size_t)got, err) < 0)
				return -1;
			off += (sqfs_u64)got;
		}
		return tarw_end_file(w->t, err);
	}
	case SQFS_INODE_SLINK:
	case SQFS_INODE_EXT_SLINK: {
		uint32_t tlen = n->base.type == SQFS_INODE_SLINK ? n->data.slink.target_size : n->data.slink_ext.target_size;
		if (tlen > n->payload_bytes_used)
			return ferr_setc(err, FERR_INVALID, 0, "%s: %s: corrupt symlink", w->name, path);
		_cleanup_free_ char *target = xstrndup((const char *)n->extra, tlen);
		if (strlen(target) != tlen || !*target)
			return ferr_setc(err, FERR_INVALID, 0, "%s: %s: corrupt symlink target", w->name, path);
		return tarw_symlink(w->t, path, target, err);
	}
	case SQFS_INODE_BDEV:
	case SQFS_INODE_CDEV:
	case SQFS_INODE_EXT_BDEV:
	case SQFS_INODE_EXT_CDEV: {
		uint32_t dev = (n->base.type == SQFS_INODE_BDEV || n->base.type == SQFS_INODE_CDEV) ? n->data.dev.devno
												    : n->data.dev_ext.devno;
		char type = (n->base.type == SQFS_INODE_BDEV || n->base.type == SQFS_INODE_EXT_BDEV) ? '4' : '3';
		/* squashfs's devno is the kernel's old_encode_dev */
		return tarw_device(w->t, path, type, mode, (dev >> 8) & 0xfff, (dev & 0xff) | ((dev >> 12) & 0xfff00), err);
	}
	case SQFS_INODE_FIFO:
	case SQFS_INODE_EXT_FIFO:
		return tarw_device(w->t, path, '6', mode, 0, 0, err);
	default:
		return rc; /* sockets: nothing to unpack */
	}
}

int sfile_to_tar(int fd, const char *name, const struct sfile *sf, int outfd, struct ferr *err)
{
	struct sqr r;
	if (sqr_open(fd, name, sf, &r, err) < 0)
		return -1;
	sqfs_tree_node_t *root = NULL;
	int e = sqfs_dir_reader_get_full_hierarchy(r.dr, r.ids, NULL, 0, &root);
	if (e) {
		sqr_close(&r);
		return sqfs_fail(err, e, name, "directory tree");
	}
	struct walk w = { .r = &r, .t = tarw_new(outfd, (int64_t)r.super.modification_time), .name = name,
		.buf = xmalloc(1u << 20) };
	int rc = emit_children(&w, root, true, err);
	if (rc == 0)
		rc = tarw_finish(w.t, NULL, NULL, err);
	tarw_free(w.t);
	for (size_t i = 0; i < w.n_links; i++)
		free(w.links[i].path);
	free(w.links);
	free(w.buf);
	sqfs_dir_tree_destroy(root);
	sqr_close(&r);
	return rc;
}
