/* Single-file images: which kind a file is and where its squashfs lies.
 * (First cut: a plain squashfs only; SIF and .simg come with `ferry export`.) */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "image/image.h"

#define SQFS_MAGIC "hsqs"

int sfile_probe(int fd, const char *name, struct sfile *out, struct ferr *err)
{
	unsigned char sb[96];
	ssize_t n = pread(fd, sb, sizeof sb, 0);
	if (n < 0)
		return ferr_set(err, errno, "%s: read", name);
	if (n < 4 || memcmp(sb, SQFS_MAGIC, 4) != 0)
		return 0;
	if (n < (ssize_t)sizeof sb)
		return ferr_set(err, 0, "%s: truncated squashfs superblock", name);
	uint64_t bytes_used = 0;
	uint32_t mkfs_time = 0;
	memcpy(&bytes_used, sb + 40, sizeof bytes_used); /* little-endian on every target ferry builds for */
	memcpy(&mkfs_time, sb + 8, sizeof mkfs_time);
	off_t end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		return ferr_set(err, errno, "%s: seek", name);
	if (bytes_used > (uint64_t)end)
		return ferr_set(err, 0, "%s: truncated squashfs (%llu bytes of %llu)", name,
			(unsigned long long)end, (unsigned long long)bytes_used);
	*out = (struct sfile){.kind = SFILE_SQUASHFS, .sqfs_offset = 0, .sqfs_size = bytes_used,
		.created = mkfs_time};
	return 1;
}

int sfile_config(int fd, const char *name, const struct sfile *sf, struct image_config *cfg, bool *have,
	struct ferr *err)
{
	(void)fd, (void)name, (void)sf, (void)cfg, (void)err;
	*have = false;
	return 0;
}
