/* A small, deterministic tar writer for `ferry export` (flat tarballs and
 * the layers of oci-archive/docker-archive) and `ferry import` (a
 * squashfs tree turned into a layer for layer_extract). POSIX ustar
 * headers, with a pax record ahead of a member whose name, link target or
 * size does not fit. Owner 0:0, one fixed mtime, names in sorted order:
 * the same tree gives the same bytes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/sha256.h"
#include "base/str.h"
#include "image/sfile_int.h"

#define TBUF (256 * 1024)

struct tarw {
	int fd;
	int64_t mtime;
	struct sha256 h;
	bool hashing;
	uint64_t written;
	uint64_t file_left; /* bytes still owed to the current file */
	uint64_t file_size;
	size_t n;
	unsigned char buf[TBUF];
};

struct tarw *tarw_new(int fd, int64_t mtime)
{
	struct tarw *t = xcalloc(1, sizeof *t);
	t->fd = fd;
	t->mtime = mtime < 0 ? 0 : mtime;
	sha256_init(&t->h);
	t->hashing = true;
	return t;
}

void tarw_free(struct tarw *t)
{
	if (!t)
		return;
	if (t->hashing)
		sha256_abort(&t->h);
	free(t);
}

static int flush(struct tarw *t, struct ferr *err)
{
	if (!t->n)
		return 0;
	if (fs_write_all(t->fd, t->buf, t->n) < 0)
		return ferr_set(err, errno, "write tar");
	sha256_update(&t->h, t->buf, t->n);
	t->written += t->n;
	t->n = 0;
	return 0;
}

static int put(struct tarw *t, const void *data, size_t len, struct ferr *err)
{
	const unsigned char *p = data;
	while (len) {
		size_t k = TBUF - t->n < len ? TBUF - t->n : len;
		memcpy(t->buf + t->n, p, k);
		t->n += k;
		p += k;
		len -= k;
		if (t->n == TBUF && flush(t, err) < 0)
			return -1;
	}
	return 0;
}

static int pad(struct tarw *t, uint64_t size, struct ferr *err)
{
	static const unsigned char zero[512];
	size_t r = (size_t)(size % 512);
	return r ? put(t, zero, 512 - r, err) : 0;
}

static void octal(char *field, size_t width, uint64_t v)
{
	snprintf(field, width, "%0*llo", (int)width - 1, (unsigned long long)v);
}

/* One pax record "LEN key=value\n", LEN counting itself. */
static void pax_record(struct dstr *s, const char *key, const char *value)
{
	size_t base = strlen(key) + strlen(value) + 3, len = base;
	for (;;) {
		char tmp[32];
		size_t digits = (size_t)snprintf(tmp, sizeof tmp, "%zu", len);
		if (base + digits == len)
			break;
		len = base + digits;
	}
	dstr_printf(s, "%zu %s=%s\n", len, key, value);
}

static int header(struct tarw *t, const char *path, char type, unsigned mode, uint64_t size, const char *link,
	unsigned maj, unsigned min, struct ferr *err);

static int raw_header(struct tarw *t, const char *name, char type, unsigned mode, uint64_t size, const char *link,
	unsigned maj, unsigned min, struct ferr *err)
{
	unsigned char h[512];
	memset(h, 0, sizeof h);
	strncpy((char *)h, name, 100);
	octal((char *)h + 100, 8, mode & 07777);
	octal((char *)h + 108, 8, 0);
	octal((char *)h + 116, 8, 0);
	octal((char *)h + 124, 12, size);
	octal((char *)h + 136, 12, (uint64_t)t->mtime);
	memset(h + 148, ' ', 8);
	h[156] = (unsigned char)type;
	if (link)
		strncpy((char *)h + 157, link, 100);
	snprintf((char *)h + 257, 6, "ustar"); /* "ustar\0", then version "00" */
	h[263] = h[264] = '0';
	snprintf((char *)h + 265, 32, "root");
	snprintf((char *)h + 297, 32, "root");
	octal((char *)h + 329, 8, maj);
	octal((char *)h + 337, 8, min);
	unsigned sum = 0;
	for (size_t i = 0; i < sizeof h; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	return put(t, h, sizeof h, err);
}

static int header(struct tarw *t, const char *path, char type, unsigned mode, uint64_t size, const char *link,
	unsigned maj, unsigned min, struct ferr *err)
{
	bool long_name = strlen(path) >= 100, long_link = link && strlen(link) >= 100;
	bool big = size >= 077777777777ULL;
	if (long_name || long_link || big || maj > 07777777 || min > 07777777) {
		struct dstr s = DSTR_INIT;
		if (long_name)
			pax_record(&s, "path", path);
		if (long_link)
			pax_record(&s, "linkpath", link);
		if (big) {
			char v[32];
			snprintf(v, sizeof v, "%llu", (unsigned long long)size);
			pax_record(&s, "size", v);
		}
		int rc = raw_header(t, "././@PaxHeader", 'x', 0644, s.len, NULL, 0, 0, err);
		if (rc == 0)
			rc = put(t, s.buf, s.len, err);
		if (rc == 0)
			rc = pad(t, s.len, err);
		dstr_free(&s);
		if (rc < 0)
			return -1;
	}
	return raw_header(t, path, type, mode, big ? 0 : size, link, maj > 07777777 ? 0 : maj,
		min > 07777777 ? 0 : min, err);
}

int tarw_dir(struct tarw *t, const char *path, unsigned mode, struct ferr *err)
{
	_cleanup_free_ char *p = str_ends_with(path, "/") ? xstrdup(path) : xasprintf("%s/", path);
	return header(t, p, '5', mode, 0, NULL, 0, 0, err);
}

int tarw_symlink(struct tarw *t, const char *path, const char *target, struct ferr *err)
{
	return header(t, path, '2', 0777, 0, target, 0, 0, err);
}

int tarw_hardlink(struct tarw *t, const char *path, const char *target, struct ferr *err)
{
	return header(t, path, '1', 0644, 0, target, 0, 0, err);
}

int tarw_device(struct tarw *t, const char *path, char type, unsigned mode, unsigned maj, unsigned min,
	struct ferr *err)
{
	return header(t, path, type, mode, 0, NULL, maj, min, err);
}

int tarw_file(struct tarw *t, const char *path, unsigned mode, uint64_t size, struct ferr *err)
{
	t->file_left = t->file_size = size;
	return header(t, path, '0', mode, size, NULL, 0, 0, err);
}

int tarw_data(struct tarw *t, const void *buf, size_t len, struct ferr *err)
{
	if (len > t->file_left)
		return ferr_set(err, 0, "tar: more data than the member's size");
	t->file_left -= len;
	return put(t, buf, len, err);
}

int tarw_end_file(struct tarw *t, struct ferr *err)
{
	if (t->file_left)
		return ferr_set(err, 0, "tar: member ends %llu bytes short", (unsigned long long)t->file_left);
	return pad(t, t->file_size, err);
}

int tarw_bytes(struct tarw *t, const char *path, unsigned mode, const void *buf, size_t len, struct ferr *err)
{
	if (tarw_file(t, path, mode, len, err) < 0 || tarw_data(t, buf, len, err) < 0)
		return -1;
	return tarw_end_file(t, err);
}

int tarw_finish(struct tarw *t, char *digest, uint64_t *size, struct ferr *err)
{
	static const unsigned char zero[1024];
	if (put(t, zero, sizeof zero, err) < 0 || flush(t, err) < 0)
		return -1;
	char hex[SHA256_HEX_LEN + 1];
	sha256_final_hex(&t->h, hex);
	t->hashing = false;
	if (digest)
		snprintf(digest, 72, "sha256:%s", hex);
	if (size)
		*size = t->written;
	return 0;
}

/* ---- a directory tree ------------------------------------------------------ */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the directory open at dfd, sorted (caller frees). */
char **tree_sorted_names(int dfd, struct ferr *err);
char **tree_sorted_names(int dfd, struct ferr *err)
{
	int d2 = dup(dfd);
	if (d2 < 0)
		return ferr_set(err, errno, "dup"), NULL;
	DIR *d = fdopendir(d2);
	if (!d) {
		close(d2);
		return ferr_set(err, errno, "opendir"), NULL;
	}
	char **v = xcalloc(1, sizeof *v);
	size_t n = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		v = xrealloc(v, (n + 2) * sizeof *v);
		v[n++] = xstrdup(de->d_name);
		v[n] = NULL;
		errno = 0;
	}
	int e = errno;
	closedir(d);
	if (e) {
		strv_free(v);
		return ferr_set(err, e, "readdir"), NULL;
	}
	qsort(v, n, sizeof *v, cmp_names);
	return v;
}

static int tree_walk(struct tarw *t, int dfd, const char *prefix, unsigned char *buf, struct ferr *err)
{
	_cleanup_strv_ char **names = tree_sorted_names(dfd, err);
	if (!names)
		return ferr_wrap(err, "read directory /%s", prefix);
	for (char **nm = names; *nm; nm++) {
		_cleanup_free_ char *path = xasprintf("%s%s", prefix, *nm);
		struct stat st;
		if (fstatat(dfd, *nm, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return ferr_set(err, errno, "stat /%s", path);
		unsigned mode = st.st_mode & 07777;
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub = openat(dfd, *nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				return ferr_set(err, errno, "open /%s", path);
			if (tarw_dir(t, path, mode, err) < 0)
				return -1;
			_cleanup_free_ char *sp = xasprintf("%s/", path);
			if (tree_walk(t, sub, sp, buf, err) < 0)
				return -1;
		} else if (S_ISREG(st.st_mode)) {
			_cleanup_close_ int fd = openat(dfd, *nm, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				return ferr_set(err, errno, "open /%s", path);
			if (tarw_file(t, path, mode, (uint64_t)st.st_size, err) < 0)
				return -1;
			for (uint64_t left = (uint64_t)st.st_size; left;) {
				ssize_t n = read(fd, buf, left < TBUF ? left : TBUF);
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0)
					return ferr_set(err, errno, "read /%s", path);
				if (n == 0)
					return ferr_set(err, 0, "read /%s: the file shrank while it was read", path);
				if (tarw_data(t, buf, (size_t)n, err) < 0)
					return -1;
				left -= (uint64_t)n;
			}
			if (tarw_end_file(t, err) < 0)
				return -1;
		} else if (S_ISLNK(st.st_mode)) {
			char target[4097];
			ssize_t n = readlinkat(dfd, *nm, target, sizeof target - 1);
			if (n < 0)
				return ferr_set(err, errno, "readlink /%s", path);
			target[n] = 0;
			if (tarw_symlink(t, path, target, err) < 0)
				return -1;
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			if (tarw_device(t, path, S_ISCHR(st.st_mode) ? '3' : '4', mode, major(st.st_rdev), minor(st.st_rdev),
				    err) < 0)
				return -1;
		} else if (S_ISFIFO(st.st_mode)) {
			if (tarw_device(t, path, '6', mode, 0, 0, err) < 0)
				return -1;
		} /* sockets: nothing to archive */
	}
	return 0;
}

int tarw_tree(struct tarw *t, const char *rootfs, struct ferr *err)
{
	_cleanup_close_ int fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ferr_set(err, errno, "open %s", rootfs);
	_cleanup_free_ unsigned char *buf = xmalloc(TBUF);
	return tree_walk(t, fd, "", buf, err);
}
