/* Internal to image/: the pieces of single-file images that export.c,
 * sfile.c and sqfs_*.c share (image.h is the layer's public face). */
#pragma once
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "image/image.h"

/* SIF layout constants (doc/export.md). */
#define SIF_HEADER_SIZE 128
#define SIF_DESC_SIZE 585
#define SIF_DESC_DEFAULT 48
#define SIF_DESC_OFFSET 4096
#define SIF_ALIGN 4096
#define SIF_GROUP_FLAG 0xf0000000u

/* One object for sif_write_header(). */
struct sif_out_object {
	int32_t type;
	uint32_t id, group; /* group: a number (the flag is added) */
	uint64_t offset, size, size_padded;
	int64_t created;
	int32_t fstype, parttype;
	const char *arch;
};
/* The 128-byte header and the descriptor table of a SIF with these
 * objects (at most SIF_DESC_DEFAULT), written at offset 0 of fd. */
int sif_write_header(int fd, const char *arch, const unsigned char uuid[16], int64_t created,
	const struct sif_out_object *objs, size_t n, uint64_t data_offset, uint64_t data_size, struct ferr *err);

/* Write the tree at rootfs as a squashfs into fd at offset (a SIF puts it
 * after its header), plus extra files (path -> bytes) added to the tree.
 * *size is the squashfs's length (bytes_used, padded to 4 KiB). */
struct sqfs_extra {
	const char *path; /* absolute, e.g. "/.ferry/config.json" */
	const char *data;
	size_t len;
	unsigned mode; /* 0755 for scripts, 0644 for data */
};
int sqfs_write_tree(int fd, uint64_t offset, const char *rootfs, const struct sqfs_extra *extra, size_t n_extra,
	uint32_t mtime, enum export_compress comp, unsigned threads, uint64_t *size, struct ferr *err);

/* Minimal tar writer (tarw.c): pax records for long names and big sizes,
 * everything 0:0, a fixed mtime. The writer hashes what it writes. */
struct tarw;
struct tarw *tarw_new(int fd, int64_t mtime);
int tarw_dir(struct tarw *t, const char *path, unsigned mode, struct ferr *err);
int tarw_symlink(struct tarw *t, const char *path, const char *target, struct ferr *err);
int tarw_hardlink(struct tarw *t, const char *path, const char *target, struct ferr *err);
int tarw_device(struct tarw *t, const char *path, char type, unsigned mode, unsigned maj, unsigned min,
	struct ferr *err);
/* A regular file: a header, then tarw_data() calls adding up to size, then tarw_end_file(). */
int tarw_file(struct tarw *t, const char *path, unsigned mode, uint64_t size, struct ferr *err);
int tarw_data(struct tarw *t, const void *buf, size_t len, struct ferr *err);
int tarw_end_file(struct tarw *t, struct ferr *err);
/* A whole file from memory. */
int tarw_bytes(struct tarw *t, const char *path, unsigned mode, const void *buf, size_t len, struct ferr *err);
/* The end-of-archive blocks; digest ("sha256:...", 72 bytes) and size written (may be NULL). */
int tarw_finish(struct tarw *t, char *digest, uint64_t *size, struct ferr *err);
void tarw_free(struct tarw *t);
/* A tree as tar members (sorted, no hardlinks, devices kept), under prefix "" or "dir/". */
int tarw_tree(struct tarw *t, const char *rootfs, struct ferr *err);

/* The squashfs superblock fields sfile.c checks (little-endian on disk). */
#define SQFS_SB_SIZE 96
