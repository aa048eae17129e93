/* Writing a tree as a squashfs, in-process, with libsquashfs
 * (squashfs-tools-ng): no mksquashfs fork. The steps are those of any
 * squashfs writer:
 *   1. read the tree into memory (names sorted bytewise, as squashfs
 *      directories must be), adding ferry's extra files;
 *   2. feed every regular file, in tree order, to the block processor,
 *      which compresses blocks on N worker threads, deduplicates blocks
 *      and whole files, packs tails into fragments and writes the blocks
 *      in submission order (so the output does not depend on the threads);
 *   3. number the inodes (children before their directory, the root last,
 *      as mksquashfs does), write the inode and directory tables, then
 *      the fragment and id tables, and finally the superblock.
 * Every inode is owned by 0:0 and carries one mtime: the output is a
 * function of the tree's names, modes and contents alone. Hard links are
 * not kept (the store's trees share inodes across images through files/;
 * what counts is content, which the block writer deduplicates anyway). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "image/sqfslib.h" /* <sqfs/...>, loaded on first use */

#include "base/cleanup.h"
#include "base/inroot.h"
#include "base/str.h"
#include "image/sfile_int.h"

#define BLOCK_SIZE (128 * 1024) /* mksquashfs's default */
#define CHUNK (1024 * 1024)

const char *sqfs_strerror_ferry(int e);
char **tree_sorted_names(int dfd, struct ferr *err);

struct node {
	char *name;
	mode_t mode; /* type and permission bits */
	uint64_t size;
	char *target;     /* symlinks */
	dev_t rdev;       /* devices */
	char *path;       /* "/a/b", to reopen regular files */
	const struct sqfs_extra *extra; /* data from memory instead of the tree */
	struct node *kids, *next; /* children, sorted by name; the next sibling */
	struct node *last;        /* the last child (the scan adds in order) */
	uint32_t ino;
	sqfs_u64 ref;
	sqfs_inode_generic_t *inode; /* regular files: the block processor's */
};

static void node_free(struct node *n)
{
	if (!n)
		return;
	for (struct node *k = n->kids, *nx; k; k = nx) {
		nx = k->next;
		node_free(k);
	}
	free(n->name);
	free(n->target);
	free(n->path);
	sqfs_free(n->inode);
	free(n);
}

/* A new child of dir, in its place in name order. */
static struct node *node_add(struct node *dir, const char *name)
{
	struct node *n = xcalloc(1, sizeof *n);
	n->name = xstrdup(name);
	n->path = !strcmp(dir->path, "/") ? xasprintf("/%s", name) : xasprintf("%s/%s", dir->path, name);
	struct node **at = &dir->kids;
	if (dir->last && strcmp(dir->last->name, name) < 0)
		at = &dir->last->next;
	while (*at && strcmp((*at)->name, name) < 0)
		at = &(*at)->next;
	n->next = *at;
	*at = n;
	if (!n->next)
		dir->last = n;
	return n;
}

static int scan(int dfd, struct node *dir, struct ferr *err)
{
	_cleanup_strv_ char **names = tree_sorted_names(dfd, err);
	if (!names)
		return ferr_wrap(err, "read directory %s", dir->path);
	for (char **nm = names; *nm; nm++) {
		struct stat st;
		if (fstatat(dfd, *nm, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return ferr_set(err, errno, "stat %s/%s", dir->path, *nm);
		if (S_ISSOCK(st.st_mode))
			continue;
		struct node *n = node_add(dir, *nm);
		n->mode = st.st_mode & (S_IFMT | 07777);
		if (S_ISREG(st.st_mode)) {
			n->size = (uint64_t)st.st_size;
		} else if (S_ISLNK(st.st_mode)) {
			char t[4097];
			ssize_t k = readlinkat(dfd, *nm, t, sizeof t - 1);
			if (k < 0)
				return ferr_set(err, errno, "readlink %s", n->path);
			n->target = xstrndup(t, (size_t)k);
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			n->rdev = st.st_rdev;
		} else if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub = openat(dfd, *nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				return ferr_set(err, errno, "open %s", n->path);
			if (scan(sub, n, err) < 0)
				return -1;
		}
	}
	return 0;
}

/* Put an extra file at its path, creating directories 0755 and replacing
 * whatever the tree had there. */
static int add_extra(struct node *root, const struct sqfs_extra *x, struct ferr *err)
{
	_cleanup_free_ char *p = xstrdup(x->path);
	struct node *dir = root;
	char *save = NULL;
	char *part = strtok_r(p, "/", &save);
	while (part) {
		char *next = strtok_r(NULL, "/", &save);
		struct node *found = NULL;
		for (struct node *k = dir->kids; k && !found; k = k->next)
			if (!strcmp(k->name, part))
				found = k;
		if (!found)
			found = node_add(dir, part);
		if (next) {
			if (!S_ISDIR(found->mode))
				found->mode = S_IFDIR | 0755; /* a file or link there: it has no children */
		} else {
			if (S_ISDIR(found->mode) && found->kids)
				return ferr_set(err, 0, "%s: a directory in the image", x->path);
			found->mode = S_IFREG | (x->mode & 07777);
			found->size = x->len;
			found->extra = x;
		}
		dir = found;
		part = next;
	}
	return 0;
}

/* ---- the output file: a window of fd starting at offset --------------------- */

struct outfile {
	sqfs_file_t file;
	int fd;
	uint64_t off, size;
};

static int out_read_at(sqfs_file_t *f, sqfs_u64 offset, void *buf, size_t size)
{
	struct outfile *o = (struct outfile *)f;
	if (offset > o->size || size > o->size - offset)
		return SQFS_ERROR_OUT_OF_BOUNDS;
	for (size_t done = 0; done < size;) {
		ssize_t n = pread(o->fd, (char *)buf + done, size - done, (off_t)(o->off + offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return SQFS_ERROR_IO;
		done += (size_t)n;
	}
	return 0;
}

static int out_write_at(sqfs_file_t *f, sqfs_u64 offset, const void *buf, size_t size)
{
	struct outfile *o = (struct outfile *)f;
	for (size_t done = 0; done < size;) {
		ssize_t n = pwrite(o->fd, (const char *)buf + done, size - done, (off_t)(o->off + offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return SQFS_ERROR_IO;
		done += (size_t)n;
	}
	if (offset + size > o->size)
		o->size = offset + size;
	return 0;
}

static sqfs_u64 out_get_size(const sqfs_file_t *f)
{
	return ((const struct outfile *)f)->size;
}

static int out_truncate(sqfs_file_t *f, sqfs_u64 size)
{
	struct outfile *o = (struct outfile *)f;
	if (ftruncate(o->fd, (off_t)(o->off + size)) < 0)
		return SQFS_ERROR_IO;
	o->size = size;
	return 0;
}

static void out_destroy(sqfs_object_t *obj)
{
	(void)obj;
}

/* ---- writing ------------------------------------------------------------------ */

struct writer {
	struct outfile out;
	sqfs_super_t super;
	sqfs_compressor_t *cmp, *uncmp;
	sqfs_block_writer_t *bw;
	sqfs_frag_table_t *frags;
	sqfs_block_processor_t *proc;
	sqfs_id_table_t *ids;
	sqfs_meta_writer_t *im, *dm;
	sqfs_dir_writer_t *dw;
	int rootfd;
	uint32_t mtime;
	sqfs_u16 id0;
	uint32_t next_ino;
	bool finished; /* the block processor's finish() ran */
	unsigned char *buf;
};

static int fail(struct ferr *err, int e, const char *what)
{
	return ferr_set(err, e == SQFS_ERROR_IO ? errno : 0, "write squashfs: %s%s%s", what,
		e == SQFS_ERROR_IO ? "" : ": ", e == SQFS_ERROR_IO ? "" : sqfs_strerror_ferry(e));
}

static int feed_one(struct writer *w, int fd, struct node *n, struct ferr *err)
{
	for (uint64_t left = n->size; left;) {
		ssize_t k = read(fd, w->buf, left < CHUNK ? left : CHUNK);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return ferr_set(err, errno, "read %s", n->path);
		if (k == 0)
			return ferr_set(err, 0, "read %s: the file shrank while it was read", n->path);
		int e = sqfs_block_processor_append(w->proc, w->buf, (size_t)k);
		if (e)
			return fail(err, e, n->path);
		left -= (uint64_t)k;
	}
	return 0;
}

static int feed_files(struct writer *w, struct node *dir, struct ferr *err)
{
	for (struct node *n = dir->kids; n; n = n->next) {
		if (S_ISDIR(n->mode)) {
			if (feed_files(w, n, err) < 0)
				return -1;
			continue;
		}
		if (!S_ISREG(n->mode))
			continue;
		/* Open before the processor starts the file, and end a file
		 * begun: libsquashfs 1.2 frees only what it finished. */
		_cleanup_close_ int fd = -1;
		if (!n->extra && (fd = inroot_open(w->rootfd, n->path, O_RDONLY | O_NOFOLLOW, 0, err)) < 0)
			return -1; /* "open PATH in image: ..." */
		int e = sqfs_block_processor_begin_file(w->proc, &n->inode, NULL, 0);
		if (e)
			return fail(err, e, n->path);
		if (n->extra) {
			if (n->extra->len && (e = sqfs_block_processor_append(w->proc, n->extra->data, n->extra->len)))
				return fail(err, e, n->path);
		} else if (feed_one(w, fd, n, err) < 0) {
			sqfs_block_processor_end_file(w->proc); /* ends it, so that it is freed */
			return -1;
		}
		if ((e = sqfs_block_processor_end_file(w->proc)))
			return fail(err, e, n->path);
	}
	return 0;
}

/* Children first, then the directory: the root ends up last. */
static void number(struct writer *w, struct node *dir)
{
	for (struct node *k = dir->kids; k; k = k->next)
		if (S_ISDIR(k->mode))
			number(w, k);
	for (struct node *k = dir->kids; k; k = k->next)
		if (!S_ISDIR(k->mode))
			k->ino = w->next_ino++;
	dir->ino = w->next_ino++;
}

static int put_inode(struct writer *w, struct node *n, sqfs_inode_generic_t *ino, struct ferr *err)
{
	ino->base.mode = (sqfs_u16)(n->mode & 07777);
	switch (n->mode & S_IFMT) {
	case S_IFDIR: ino->base.mode |= SQFS_INODE_MODE_DIR; break;
	case S_IFREG: ino->base.mode |= SQFS_INODE_MODE_REG; break;
	case S_IFLNK: ino->base.mode |= SQFS_INODE_MODE_LNK; break;
	case S_IFCHR: ino->base.mode |= SQFS_INODE_MODE_CHR; break;
	case S_IFBLK: ino->base.mode |= SQFS_INODE_MODE_BLK; break;
	case S_IFIFO: ino->base.mode |= SQFS_INODE_MODE_FIFO; break;
	default: break;
	}
	ino->base.uid_idx = w->id0;
	ino->base.gid_idx = w->id0;
	ino->base.mod_time = w->mtime;
	ino->base.inode_number = n->ino;
	sqfs_u64 block;
	sqfs_u32 off;
	sqfs_meta_writer_get_position(w->im, &block, &off);
	n->ref = (block << 16) | off;
	int e = sqfs_meta_writer_write_inode(w->im, ino);
	return e ? fail(err, e, n->path) : 0;
}

static int write_leaf(struct writer *w, struct node *n, struct ferr *err)
{
	if (S_ISREG(n->mode)) {
		sqfs_u64 size = 0, start = 0;
		sqfs_inode_get_file_size(n->inode, &size);
		sqfs_inode_get_file_block_start(n->inode, &start);
		if (n->inode->base.type == SQFS_INODE_FILE && (size > UINT32_MAX || start > UINT32_MAX))
			sqfs_inode_make_extended(n->inode);
		return put_inode(w, n, n->inode, err);
	}
	size_t tlen = n->target ? strlen(n->target) : 0;
	_cleanup_free_ sqfs_inode_generic_t *ino = xcalloc(1, sizeof *ino + tlen + 1);
	if (S_ISLNK(n->mode)) {
		ino->base.type = SQFS_INODE_SLINK;
		ino->data.slink.nlink = 1;
		ino->data.slink.target_size = (sqfs_u32)tlen;
		if (tlen)
			memcpy(ino->extra, n->target, tlen);
		ino->payload_bytes_available = ino->payload_bytes_used = (sqfs_u32)tlen;
	} else if (S_ISCHR(n->mode) || S_ISBLK(n->mode)) {
		ino->base.type = S_ISCHR(n->mode) ? SQFS_INODE_CDEV : SQFS_INODE_BDEV;
		ino->data.dev.nlink = 1;
		unsigned maj = major(n->rdev), min = minor(n->rdev);
		ino->data.dev.devno = ((maj & 0xfff) << 8) | (min & 0xff) | ((min & ~0xffu) << 12);
	} else { /* FIFO */
		ino->base.type = SQFS_INODE_FIFO;
		ino->data.ipc.nlink = 1;
	}
	return put_inode(w, n, ino, err);
}

static int write_dir(struct writer *w, struct node *dir, uint32_t parent_ino, struct ferr *err)
{
	size_t subdirs = 0;
	for (struct node *k = dir->kids; k; k = k->next)
		if (S_ISDIR(k->mode)) {
			subdirs++;
			if (write_dir(w, k, dir->ino, err) < 0)
				return -1;
		}
	for (struct node *k = dir->kids; k; k = k->next)
		if (!S_ISDIR(k->mode) && write_leaf(w, k, err) < 0)
			return -1;
	int e = sqfs_dir_writer_begin(w->dw, 0);
	for (struct node *k = dir->kids; !e && k; k = k->next) {
		sqfs_u16 m = (sqfs_u16)(k->mode & 07777);
		switch (k->mode & S_IFMT) {
		case S_IFDIR: m |= SQFS_INODE_MODE_DIR; break;
		case S_IFREG: m |= SQFS_INODE_MODE_REG; break;
		case S_IFLNK: m |= SQFS_INODE_MODE_LNK; break;
		case S_IFCHR: m |= SQFS_INODE_MODE_CHR; break;
		case S_IFBLK: m |= SQFS_INODE_MODE_BLK; break;
		default: m |= SQFS_INODE_MODE_FIFO; break;
		}
		e = sqfs_dir_writer_add_entry(w->dw, k->name, k->ino, k->ref, m);
	}
	if (!e)
		e = sqfs_dir_writer_end(w->dw);
	if (e)
		return fail(err, e, dir->path);
	sqfs_inode_generic_t *ino = sqfs_dir_writer_create_inode(w->dw, 2 + subdirs, 0xFFFFFFFF, parent_ino);
	if (!ino)
		return ferr_set(err, ENOMEM, "write squashfs: %s", dir->path);
	int rc = put_inode(w, dir, ino, err);
	sqfs_free(ino);
	return rc;
}

static void writer_free(struct writer *w)
{
	/* libsquashfs 1.2 frees its pending fragment block only in finish():
	 * run it on the way out of a failed write too (the output goes). */
	if (w->proc && !w->finished)
		sqfs_block_processor_finish(w->proc);
	sqfs_destroy(w->dw);
	sqfs_destroy(w->dm);
	sqfs_destroy(w->im);
	sqfs_destroy(w->proc);
	sqfs_destroy(w->ids);
	sqfs_destroy(w->frags);
	sqfs_destroy(w->bw);
	sqfs_destroy(w->uncmp);
	sqfs_destroy(w->cmp);
	free(w->buf);
}

static int write_fs(struct writer *w, struct node *root, enum export_compress comp, unsigned threads,
	uint64_t *size, struct ferr *err)
{
	static const SQFS_COMPRESSOR ids[] = { SQFS_COMP_ZSTD, SQFS_COMP_GZIP, SQFS_COMP_XZ, SQFS_COMP_LZ4 };
	SQFS_COMPRESSOR id = ids[comp];
	sqfs_compressor_config_t cfg;
	int e = sqfs_compressor_config_init(&cfg, id, BLOCK_SIZE, 0);
	if (!e)
		e = sqfs_compressor_create(&cfg, &w->cmp);
	if (e)
		return ferr_setc(err, FERR_UNSUPPORTED, 0, "write squashfs: this libsquashfs has no %s compressor",
			comp == EXPORT_ZSTD ? "zstd" : comp == EXPORT_GZIP ? "gzip" : comp == EXPORT_XZ ? "xz" : "lz4");
	sqfs_compressor_config_init(&cfg, id, BLOCK_SIZE, SQFS_COMP_FLAG_UNCOMPRESS);
	if (sqfs_compressor_create(&cfg, &w->uncmp))
		return ferr_set(err, ENOMEM, "write squashfs: decompressor");
	if ((e = sqfs_super_init(&w->super, BLOCK_SIZE, w->mtime, id)))
		return fail(err, e, "superblock");
	w->super.flags |= SQFS_FLAG_NO_XATTRS;
	if ((e = sqfs_super_write(&w->super, &w->out.file)))
		return fail(err, e, "superblock");
	e = w->cmp->write_options(w->cmp, &w->out.file);
	if (e < 0)
		return fail(err, e, "compressor options");
	if (e > 0)
		w->super.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;

	w->bw = sqfs_block_writer_create(&w->out.file, 4096, 0);
	w->frags = sqfs_frag_table_create(0);
	w->ids = sqfs_id_table_create(0);
	if (!w->bw || !w->frags || !w->ids)
		return ferr_set(err, ENOMEM, "write squashfs");
	if ((e = sqfs_id_table_id_to_index(w->ids, 0, &w->id0)))
		return fail(err, e, "id table");
	sqfs_block_processor_desc_t desc = { .size = sizeof desc, .max_block_size = BLOCK_SIZE,
		.num_workers = threads, .max_backlog = 10 * threads, .cmp = w->cmp, .wr = w->bw, .tbl = w->frags,
		.file = &w->out.file, .uncmp = w->uncmp };
	if ((e = sqfs_block_processor_create_ex(&desc, &w->proc)))
		return fail(err, e, "block processor");
	w->buf = xmalloc(CHUNK);
	if (feed_files(w, root, err) < 0)
		return -1;
	w->finished = true;
	if ((e = sqfs_block_processor_finish(w->proc)))
		return fail(err, e, "data blocks");

	w->im = sqfs_meta_writer_create(&w->out.file, w->cmp, 0);
	w->dm = sqfs_meta_writer_create(&w->out.file, w->cmp, SQFS_META_WRITER_KEEP_IN_MEMORY);
	if (!w->im || !w->dm || !(w->dw = sqfs_dir_writer_create(w->dm, 0)))
		return ferr_set(err, ENOMEM, "write squashfs");
	w->next_ino = 1;
	number(w, root);
	w->super.inode_count = w->next_ino - 1;
	w->super.inode_table_start = w->out.file.get_size(&w->out.file);
	if (write_dir(w, root, w->super.inode_count + 1, err) < 0)
		return -1;
	w->super.root_inode_ref = root->ref;
	if ((e = sqfs_meta_writer_flush(w->im)) || (e = sqfs_meta_writer_flush(w->dm)))
		return fail(err, e, "inode table");
	w->super.directory_table_start = w->out.file.get_size(&w->out.file);
	if ((e = sqfs_meta_write_write_to_file(w->dm)))
		return fail(err, e, "directory table");
	if ((e = sqfs_frag_table_write(w->frags, &w->out.file, &w->super, w->cmp)))
		return fail(err, e, "fragment table");
	if ((e = sqfs_id_table_write(w->ids, &w->out.file, &w->super, w->cmp)))
		return fail(err, e, "id table");
	w->super.bytes_used = w->out.file.get_size(&w->out.file);
	/* Pad to 4 KiB, as mksquashfs does: loop devices want whole blocks. */
	uint64_t padded = (w->super.bytes_used + 4095) & ~4095ULL;
	if (padded > w->super.bytes_used) {
		static const unsigned char zero[4096];
		if ((e = out_write_at(&w->out.file, w->super.bytes_used, zero, (size_t)(padded - w->super.bytes_used))))
			return fail(err, e, "padding");
	}
	if ((e = sqfs_super_write(&w->super, &w->out.file)))
		return fail(err, e, "superblock");
	*size = padded;
	return 0;
}

int sqfs_write_tree(int fd, uint64_t offset, const char *rootfs, const struct sqfs_extra *extra, size_t n_extra,
	uint32_t mtime, enum export_compress comp, unsigned threads, uint64_t *size, struct ferr *err)
{
	if (sqfslib_load(err) < 0)
		return -1;
	struct writer w = { .rootfd = -1, .mtime = mtime };
	w.out = (struct outfile){ .fd = fd, .off = offset };
	w.out.file.base.destroy = out_destroy;
	w.out.file.read_at = out_read_at;
	w.out.file.write_at = out_write_at;
	w.out.file.get_size = out_get_size;
	w.out.file.truncate = out_truncate;
	struct node *root = xcalloc(1, sizeof *root);
	root->name = xstrdup("");
	root->path = xstrdup("/");
	int rc = -1;
	w.rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	if (w.rootfd < 0 || fstat(w.rootfd, &st) < 0) {
		ferr_set(err, errno, "open %s", rootfs);
		goto out;
	}
	root->mode = S_IFDIR | (st.st_mode & 07777);
	if (scan(w.rootfd, root, err) < 0)
		goto out;
	for (size_t i = 0; i < n_extra; i++)
		if (add_extra(root, &extra[i], err) < 0)
			goto out;
	rc = write_fs(&w, root, comp, threads ? threads : 1, size, err);
out:
	writer_free(&w);
	node_free(root);
	if (w.rootfd >= 0)
		close(w.rootfd);
	return rc;
}
