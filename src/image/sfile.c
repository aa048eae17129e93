/* Single-file images: which kind a file is and where its squashfs lies
 * (doc/export.md). A plain squashfs starts with its superblock; a SIF
 * holds it as the primary system partition (image/sif.c); an old .simg is
 * a launch script ("#!..." line) followed by a squashfs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "image/image.h"
#include "image/sfile_int.h"

#define SQFS_MAGIC "hsqs"
/* How far into a .simg the squashfs may start (its launch script). */
#define SIMG_SCAN 65536

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Check the superblock at sb (SQFS_SB_SIZE bytes) of a squashfs that may
 * hold at most room bytes; 0 ok, -1 with err saying what is wrong. */
static int check_super(const unsigned char *sb, uint64_t room, const char *name, const char *where, uint64_t *used,
	uint32_t *mkfs, struct ferr *err)
{
	uint32_t block = le32(sb + 12);
	uint16_t log = le16(sb + 22), major = le16(sb + 28), comp = le16(sb + 20);
	uint64_t bytes_used = le64(sb + 40);
	if (major != 4)
		return ferr_setc(err, FERR_UNSUPPORTED, 0, "%s%s: squashfs version %u: not supported (ferry reads version 4)",
			name, where, major);
	if (block < 4096 || block > (1u << 20) || (block & (block - 1)) || log > 20 || (1u << log) != block ||
		comp < 1 || comp > 6 || bytes_used < SQFS_SB_SIZE)
		return ferr_setc(err, FERR_INVALID, 0, "%s%s: corrupt squashfs superblock (block size %u, compressor %u, %llu bytes)",
			name, where, block, comp, (unsigned long long)bytes_used);
	if (bytes_used > room)
		return ferr_setc(err, FERR_INVALID, 0, "%s%s: truncated squashfs (%llu bytes of %llu)", name, where,
			(unsigned long long)room, (unsigned long long)bytes_used);
	*used = bytes_used;
	*mkfs = le32(sb + 8);
	return 0;
}

static int probe_sif(int fd, const char *name, uint64_t size, struct sfile *out, struct ferr *err)
{
	struct sif_info s;
	if (sif_read(fd, name, &s, err) < 0)
		return -1;
	int rc = 0;
	if (s.primary < 0) {
		bool oci = false;
		for (size_t i = 0; i < s.n_objects; i++)
			oci |= s.objects[i].type == SIF_DATA_OCI_ROOT_INDEX;
		if (oci)
			rc = ferr_setc(err, FERR_UNSUPPORTED, 0,
				"%s: an OCI-SIF (an OCI image, no system partition): not supported", name);
		else
			rc = ferr_setc(err, FERR_UNSUPPORTED, 0, "%s: SIF without a primary system partition: not supported",
				name);
		ferr_hint(err, "ferry runs SIF files whose primary system partition is a squashfs");
		sif_info_free(&s);
		return rc;
	}
	const struct sif_object *p = &s.objects[s.primary];
	if (p->fstype != SIF_FS_SQUASHFS) {
		rc = ferr_setc(err, FERR_UNSUPPORTED, 0, "%s: SIF partition id %u (%s, %s): not supported", name, p->id,
			sif_fstype_name(p->fstype), sif_parttype_name(p->parttype));
		ferr_hint(err, "ferry runs SIF files whose primary system partition is a squashfs");
		sif_info_free(&s);
		return rc;
	}
	unsigned char sb[SQFS_SB_SIZE];
	char where[64];
	snprintf(where, sizeof where, ": SIF partition id %u", p->id);
	if (p->size < SQFS_SB_SIZE || pread(fd, sb, sizeof sb, (off_t)p->offset) != (ssize_t)sizeof sb) {
		rc = ferr_setc(err, FERR_INVALID, 0, "%s%s: truncated squashfs superblock", name, where);
	} else if (memcmp(sb, SQFS_MAGIC, 4)) {
		rc = ferr_setc(err, FERR_INVALID, 0, "%s%s: says squashfs but holds no squashfs superblock", name, where);
	} else {
		uint64_t used;
		uint32_t mkfs;
		if (check_super(sb, p->size, name, where, &used, &mkfs, err) < 0)
			rc = -1;
		else
			*out = (struct sfile){ .kind = SFILE_SIF, .sqfs_offset = p->offset, .sqfs_size = p->size,
				.created = s.created ? s.created : p->created ? p->created : (int64_t)mkfs };
	}
	(void)size;
	sif_info_free(&s);
	return rc < 0 ? -1 : 1;
}

/* A launch script, then a squashfs: find the superblock after the first line. */
static int probe_simg(int fd, const char *name, uint64_t size, struct sfile *out, struct ferr *err)
{
	_cleanup_free_ unsigned char *buf = xmalloc(SIMG_SCAN + SQFS_SB_SIZE);
	ssize_t n = pread(fd, buf, SIMG_SCAN + SQFS_SB_SIZE, 0);
	if (n < 0)
		return ferr_set(err, errno, "%s: read", name);
	const unsigned char *nl = memchr(buf, '\n', (size_t)n);
	if (!nl)
		return 0;
	for (size_t off = (size_t)(nl - buf) + 1; off + SQFS_SB_SIZE <= (size_t)n; off++) {
		if (memcmp(buf + off, SQFS_MAGIC, 4))
			continue;
		uint64_t used;
		uint32_t mkfs;
		struct ferr e = FERR_INIT;
		if (check_super(buf + off, size - off, name, "", &used, &mkfs, &e) < 0) {
			if (e.code == FERR_INVALID && strstr(e.msg, "truncated")) {
				*err = e;
				return -1;
			}
			continue; /* the magic inside the script: look further */
		}
		*out = (struct sfile){ .kind = SFILE_SIMG, .sqfs_offset = off, .sqfs_size = used, .created = mkfs };
		return 1;
	}
	return 0;
}

int sfile_probe(int fd, const char *name, struct sfile *out, struct ferr *err)
{
	unsigned char head[SIF_HEADER_SIZE];
	ssize_t n = pread(fd, head, sizeof head, 0);
	if (n < 0)
		return ferr_set(err, errno, "%s: read", name);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ferr_set(err, errno, "%s: stat", name);
	if (!S_ISREG(st.st_mode))
		return 0;
	uint64_t size = (uint64_t)st.st_size;
	if (n >= 4 && !memcmp(head, SQFS_MAGIC, 4)) {
		if (n < SQFS_SB_SIZE)
			return ferr_setc(err, FERR_INVALID, 0, "%s: truncated squashfs superblock", name);
		uint64_t used;
		uint32_t mkfs;
		if (check_super(head, size, name, "", &used, &mkfs, err) < 0)
			return -1;
		*out = (struct sfile){ .kind = SFILE_SQUASHFS, .sqfs_offset = 0, .sqfs_size = used, .created = mkfs };
		return 1;
	}
	if (sif_is_sif(head, (size_t)n))
		return probe_sif(fd, name, size, out, err);
	if (n >= 10 && !memcmp(head + 32, "SIF_MAGIC", 9))
		return ferr_setc(err, FERR_INVALID, 0, "%s: corrupt SIF header", name);
	if (n >= 2 && head[0] == '#' && head[1] == '!')
		return probe_simg(fd, name, size, out, err);
	return 0;
}

int sfile_config(int fd, const char *name, const struct sfile *sf, struct image_config *cfg, bool *have,
	struct ferr *err)
{
	*have = false;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int rc = sfile_read_file(fd, name, sf, SFILE_CONFIG_PATH, 4 << 20, &data, &len, err);
	if (rc < 0) {
		if (err->code == FERR_NOTFOUND) {
			ferr_clear(err);
			return 0;
		}
		return -1;
	}
	if (image_config_parse(data, len, cfg, err) < 0)
		return ferr_wrap(err, "%s: %s", name, SFILE_CONFIG_PATH);
	*have = true;
	return 0;
}
