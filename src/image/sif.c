/* SIF, the Singularity Image Format, read and written (doc/export.md).
 *
 * On disk, all little-endian, packed:
 *   0    launch script, 32 bytes ("#!/usr/bin/env run-singularity\n" or zeros)
 *   32   magic "SIF_MAGIC\0" (10), version "01\0" (3), arch "02\0" (3), uuid (16)
 *   64   created, modified (int64 each, seconds since the epoch)
 *   80   descriptors free, total, table offset, table length,
 *        data offset, data length (int64 each)
 *   then, at the table offset, `total` descriptors of 585 bytes:
 *   0    data type (int32), used (1 byte), id, group, link (uint32 each;
 *        a group is 0xf0000000 | n), offset, size, size with padding,
 *        created, modified, uid, gid (int64 each), name (128), extra (384)
 *        a partition's extra: fs type, partition type (int32), arch (3)
 *
 * Nothing read from the file is trusted: every offset and size is checked
 * against the file's size before it is used, objects may not overlap one
 * another or the table, and the table itself is bounded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "image/image.h"
#include "image/sfile_int.h"

#define SIF_MAGIC "SIF_MAGIC"
/* More descriptors than any tool writes (48 by default); keeps a hostile
 * header from making ferry read megabytes of table. */
#define SIF_DESC_MAX 4096

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* n bytes of s (a fixed-width field, no NUL needed) into p. */
static void put_bytes(unsigned char *p, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)s[i];
}

bool sif_is_sif(const unsigned char *buf, size_t len)
{
	return len >= 42 && !memcmp(buf + 32, SIF_MAGIC, 10); /* the NUL included */
}

/* Go's zero time (year 1) is what deterministic writers store: no date. */
static int64_t sane_time(int64_t t)
{
	return t > 0 ? t : 0;
}

static void copy_code(char out[3], const unsigned char *in)
{
	out[0] = (char)in[0];
	out[1] = (char)in[1];
	out[2] = 0;
	if (!((out[0] >= '0' && out[0] <= '9') && (out[1] >= '0' && out[1] <= '9')))
		out[0] = out[1] = '?';
}

/* An object's bytes, for the overlap check. */
struct span {
	uint64_t start, end;
	uint32_t id;
};

static int cmp_spans(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

int sif_parse(const unsigned char *buf, size_t len, uint64_t file_size, struct sif_info *out, struct ferr *err)
{
	memset(out, 0, sizeof *out);
	out->primary = -1;
	if (len < SIF_HEADER_SIZE || !sif_is_sif(buf, len))
		return ferr_setc(err, FERR_INVALID, 0, "not a SIF file (no SIF_MAGIC at byte 32)");
	if (memcmp(buf + 42, "01", 3))
		return ferr_setc(err, FERR_UNSUPPORTED, 0, "SIF version '%.2s': not supported (ferry reads version 01)",
			(const char *)buf + 42);
	copy_code(out->arch, buf + 45);
	const unsigned char *u = buf + 48;
	snprintf(out->uuid, sizeof out->uuid, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	out->created = sane_time((int64_t)le64(buf + 64));
	out->modified = sane_time((int64_t)le64(buf + 72));
	uint64_t total = le64(buf + 88), table = le64(buf + 96), table_len = le64(buf + 104);
	uint64_t data_off = le64(buf + 112), data_len = le64(buf + 120);
	if (total > SIF_DESC_MAX)
		return ferr_setc(err, FERR_INVALID, 0, "SIF header: %llu descriptors (absurd; at most %d)",
			(unsigned long long)total, SIF_DESC_MAX);
	if (table < SIF_HEADER_SIZE || table > file_size || total * SIF_DESC_SIZE > file_size - table)
		return ferr_setc(err, FERR_INVALID, 0,
			"SIF header: descriptor table (%llu descriptors at byte %llu) lies past the end of the file (%llu bytes): truncated?",
			(unsigned long long)total, (unsigned long long)table, (unsigned long long)file_size);
	if (table_len > total * SIF_DESC_SIZE)
		return ferr_setc(err, FERR_INVALID, 0, "SIF header: descriptor table length %llu is more than %llu descriptors hold",
			(unsigned long long)table_len, (unsigned long long)total);
	if (data_off > file_size || data_len > file_size - data_off)
		return ferr_setc(err, FERR_INVALID, 0,
			"SIF header: data (%llu bytes at byte %llu) lies past the end of the file (%llu bytes): truncated?",
			(unsigned long long)data_len, (unsigned long long)data_off, (unsigned long long)file_size);
	out->descriptors_total = total;
	if (table + total * SIF_DESC_SIZE > len)
		return ferr_setc(err, FERR_INVALID, 0, "SIF descriptor table: only %zu bytes read", len);

	uint64_t table_end = table + total * SIF_DESC_SIZE;
	out->objects = xcalloc(total ? total : 1, sizeof *out->objects);
	for (uint64_t i = 0; i < total; i++) {
		const unsigned char *d = buf + table + i * SIF_DESC_SIZE;
		if (!d[4])
			continue; /* unused slot */
		struct sif_object *o = &out->objects[out->n_objects];
		memset(o, 0, sizeof *o);
		o->type = (int32_t)le32(d);
		o->id = le32(d + 5);
		uint32_t g = le32(d + 9);
		o->group = (g & SIF_GROUP_FLAG) == SIF_GROUP_FLAG ? g & ~SIF_GROUP_FLAG : 0;
		o->link = le32(d + 13);
		o->offset = le64(d + 17);
		o->size = le64(d + 25);
		o->created = sane_time((int64_t)le64(d + 41));
		memcpy(o->name, d + 73, SIF_NAME_LEN);
		o->name[SIF_NAME_LEN] = 0;
		for (char *c = o->name; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
				*c = '?'; /* a name is printed: no terminal escapes */
		if (o->type == SIF_DATA_PARTITION) {
			const unsigned char *x = d + 201;
			o->fstype = (int32_t)le32(x);
			o->parttype = (int32_t)le32(x + 4);
			copy_code(o->arch, x + 8);
		}
		if (o->offset > file_size || o->size > file_size - o->offset)
			return ferr_setc(err, FERR_INVALID, 0,
				"SIF descriptor %llu (id %u, %s): %llu bytes at byte %llu lie past the end of the file (%llu bytes): truncated or corrupt",
				(unsigned long long)i, o->id, sif_type_name(o->type), (unsigned long long)o->size,
				(unsigned long long)o->offset, (unsigned long long)file_size);
		if (o->size && o->offset < table_end)
			return ferr_setc(err, FERR_INVALID, 0,
				"SIF descriptor %llu (id %u, %s): data at byte %llu overlaps the header or the descriptor table",
				(unsigned long long)i, o->id, sif_type_name(o->type), (unsigned long long)o->offset);
		if (o->type == SIF_DATA_PARTITION && o->parttype == SIF_PART_PRIMARY_SYSTEM && out->primary < 0)
			out->primary = (int)out->n_objects;
		out->n_objects++;
	}
	/* No two objects may share bytes: sort by offset, compare neighbours. */
	_cleanup_free_ struct span *sp = xcalloc(out->n_objects ? out->n_objects : 1, sizeof *sp);
	size_t m = 0;
	for (size_t i = 0; i < out->n_objects; i++)
		if (out->objects[i].size)
			sp[m++] = (struct span){ out->objects[i].offset, out->objects[i].offset + out->objects[i].size,
				out->objects[i].id };
	qsort(sp, m, sizeof *sp, cmp_spans);
	for (size_t i = 1; i < m; i++)
		if (sp[i - 1].end > sp[i].start)
			return ferr_setc(err, FERR_INVALID, 0, "SIF descriptors id %u and id %u: their data overlap (bytes %llu-%llu and %llu-%llu)",
				sp[i - 1].id, sp[i].id, (unsigned long long)sp[i - 1].start, (unsigned long long)sp[i - 1].end,
				(unsigned long long)sp[i].start, (unsigned long long)sp[i].end);
	return 0;
}

int sif_read(int fd, const char *name, struct sif_info *out, struct ferr *err)
{
	memset(out, 0, sizeof *out);
	out->primary = -1;
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return ferr_set(err, errno, "%s: stat", name);
	unsigned char hdr[SIF_HEADER_SIZE];
	ssize_t n = pread(fd, hdr, sizeof hdr, 0);
	if (n < 0)
		return ferr_set(err, errno, "%s: read", name);
	if (n < (ssize_t)sizeof hdr)
		return ferr_setc(err, FERR_INVALID, 0, "%s: truncated SIF header (%zd bytes)", name, n);
	uint64_t total = le64(hdr + 88), table = le64(hdr + 96);
	uint64_t need = SIF_HEADER_SIZE;
	/* Read the table only when its place is plausible; sif_parse says why not. */
	if (total <= SIF_DESC_MAX && table >= SIF_HEADER_SIZE && table <= (uint64_t)sb.st_size &&
		total * SIF_DESC_SIZE <= (uint64_t)sb.st_size - table)
		need = table + total * SIF_DESC_SIZE;
	_cleanup_free_ unsigned char *buf = xmalloc(need);
	n = pread(fd, buf, need, 0);
	if (n < 0)
		return ferr_set(err, errno, "%s: read", name);
	if (sif_parse(buf, (size_t)n, (uint64_t)sb.st_size, out, err) < 0) {
		sif_info_free(out);
		return ferr_wrap(err, "%s", name);
	}
	return 0;
}

void sif_info_free(struct sif_info *s)
{
	free(s->objects);
	s->objects = NULL;
	s->n_objects = 0;
}

const char *sif_type_name(int32_t type)
{
	static const char *const names[] = { "definition file", "environment", "labels", "partition", "signature",
		"generic JSON", "generic data", "cryptographic message", "SBOM", "OCI root index", "OCI blob" };
	if (type >= SIF_DATA_DEFFILE && type <= SIF_DATA_OCI_BLOB)
		return names[type - SIF_DATA_DEFFILE];
	return "unknown object";
}

const char *sif_fstype_name(int32_t fstype)
{
	static const char *const names[] = { "squashfs", "ext3", "archive", "raw", "encrypted squashfs" };
	if (fstype >= SIF_FS_SQUASHFS && fstype <= SIF_FS_ENCRYPTED_SQUASHFS)
		return names[fstype - 1];
	return "unknown file system";
}

const char *sif_parttype_name(int32_t parttype)
{
	static const char *const names[] = { "system", "primary system", "data", "overlay" };
	if (parttype >= SIF_PART_SYSTEM && parttype <= SIF_PART_OVERLAY)
		return names[parttype - 1];
	return "unknown partition type";
}

const char *sif_arch_code(const char *a)
{
	static const char *const map[][2] = { { "386", "01" }, { "amd64", "02" }, { "arm", "03" }, { "arm64", "04" },
		{ "ppc64", "05" }, { "ppc64le", "06" }, { "mips", "07" }, { "mipsle", "08" }, { "mips64", "09" },
		{ "mips64le", "10" }, { "s390x", "11" }, { "riscv64", "12" } };
	for (size_t i = 0; a && i < sizeof map / sizeof *map; i++)
		if (!strcmp(a, map[i][0]))
			return map[i][1];
	return "00";
}

int sif_write_header(int fd, const char *arch, const unsigned char uuid[16], int64_t created,
	const struct sif_out_object *objs, size_t n, uint64_t data_offset, uint64_t data_size, struct ferr *err)
{
	if (n > SIF_DESC_DEFAULT)
		return ferr_set(err, 0, "SIF: %zu objects (at most %d)", n, SIF_DESC_DEFAULT);
	size_t len = SIF_DESC_OFFSET + SIF_DESC_DEFAULT * SIF_DESC_SIZE;
	_cleanup_free_ unsigned char *b = xcalloc(1, len);
	put_bytes(b, "#!/usr/bin/env run-singularity\n", 31);
	put_bytes(b + 32, SIF_MAGIC, 10); /* with its NUL */
	put_bytes(b + 42, "01", 3);
	put_bytes(b + 45, arch ? arch : "00", 2);
	memcpy(b + 48, uuid, 16);
	put64(b + 64, (uint64_t)created);
	put64(b + 72, (uint64_t)created);
	put64(b + 80, SIF_DESC_DEFAULT - n);
	put64(b + 88, SIF_DESC_DEFAULT);
	put64(b + 96, SIF_DESC_OFFSET);
	put64(b + 104, (uint64_t)SIF_DESC_DEFAULT * SIF_DESC_SIZE);
	put64(b + 112, data_offset);
	put64(b + 120, data_size);
	for (size_t i = 0; i < n; i++) {
		unsigned char *d = b + SIF_DESC_OFFSET + i * SIF_DESC_SIZE;
		const struct sif_out_object *o = &objs[i];
		put32(d, (uint32_t)o->type);
		d[4] = 1;
		put32(d + 5, o->id);
		put32(d + 9, o->group ? (o->group | SIF_GROUP_FLAG) : SIF_GROUP_FLAG);
		put64(d + 17, o->offset);
		put64(d + 25, o->size);
		put64(d + 33, o->size_padded);
		put64(d + 41, (uint64_t)o->created);
		put64(d + 49, (uint64_t)o->created);
		if (o->type == SIF_DATA_PARTITION) {
			put32(d + 201, (uint32_t)o->fstype);
			put32(d + 205, (uint32_t)o->parttype);
			put_bytes(d + 209, o->arch ? o->arch : "00", 2);
		}
	}
	for (size_t done = 0; done < len;) {
		ssize_t w = pwrite(fd, b + done, len - done, (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ferr_set(err, w < 0 ? errno : EIO, "write the SIF header");
		done += (size_t)w;
	}
	return 0;
}
