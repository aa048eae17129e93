#include "base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "base/str.h"

int fs_mkdir_p(const char *path, mode_t mode, struct ferr *err)
{
	if (!path[0])
		return ferr_set(err, ENOENT, "mkdir: empty path");
	_cleanup_free_ char *p = xstrdup(path);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	/* The common case is a directory that exists (every start of ferry
	 * opens its store this way): one syscall, not one per component. */
	if (mkdir(p, mode) == 0)
		return 0;
	if (errno == EEXIST) {
		if (!fs_is_dir(p))
			return ferr_set(err, ENOTDIR, "mkdir %s", p);
		return 0;
	}
	if (errno != ENOENT)
		return ferr_set(err, errno, "mkdir %s", p);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return ferr_set(err, errno, "mkdir %s", p);
		*s = '/';
	}
	if (mkdir(p, mode) < 0) {
		if (errno != EEXIST)
			return ferr_set(err, errno, "mkdir %s", p);
		if (!fs_is_dir(p))
			return ferr_set(err, ENOTDIR, "mkdir %s", p);
	}
	return 0;
}

bool fs_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

bool fs_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int fs_fsync_dir(const char *path, struct ferr *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ferr_set(err, errno, "open %s", path);
	/* Some file systems (e.g. NFS, FUSE) refuse fsync on directories. */
	if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS)
		return ferr_set(err, errno, "fsync %s", path);
	return 0;
}

static int write_beside(const char *path, const void *data, size_t len, mode_t mode, bool replace,
	struct ferr *err)
{
	_cleanup_free_ char *dir = path_dirname(path);
	_cleanup_free_ char *base = path_basename(path);
	_cleanup_free_ char *tmp = xasprintf("%s/.%s.XXXXXX", dir, base);
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return ferr_set(err, errno, "create temporary file in %s", dir);
	if (fs_write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		int e = errno;
		unlink(tmp);
		return ferr_set(err, e, "write %s", tmp);
	}
	if (replace ? rename(tmp, path) < 0 : link(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return ferr_set(err, e, "%s %s to %s", replace ? "rename" : "link", tmp, path);
	}
	if (!replace && unlink(tmp) < 0)
		return ferr_set(err, errno, "remove %s", tmp);
	return fs_fsync_dir(dir, err);
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct ferr *err)
{
	return write_beside(path, data, len, mode, true, err);
}

int fs_write_new(const char *path, const void *data, size_t len, mode_t mode, struct ferr *err)
{
	return write_beside(path, data, len, mode, false, err);
}

int fs_read_file(const char *path, char **data, size_t *len, struct ferr *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferr_setc(err, errno == ENOENT ? FERR_NOTFOUND : FERR_GENERIC, errno, "open %s", path);
	struct dstr buf = DSTR_INIT;
	char chunk[65536];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			dstr_free(&buf);
			return ferr_set(err, errno, "read %s", path);
		}
		if (r == 0)
			break;
		dstr_appendn(&buf, chunk, (size_t)r);
	}
	if (len)
		*len = buf.len;
	*data = dstr_steal(&buf);
	return 0;
}

/* Remove everything inside the open directory fd. */
static int rm_children(int fd, const char *path, struct ferr *err);

int fs_rm_rf_at(int dirfd, const char *name, struct ferr *err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return ferr_set(err, errno, "stat %s", name);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return ferr_set(err, errno, "remove %s", name);
		return 0;
	}
	/* Pin the directory first (O_PATH, no symlink followed) and act on
	 * that inode only: a directory swapped for a symlink after the lstat
	 * (a container writing the tree) can never redirect the chmod or the
	 * walk. A directory without u+rwx cannot be listed or emptied: fix
	 * that first. Only our own files can be chmod-ed, which is what we want. */
	_cleanup_close_ int pfd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return ferr_set(err, errno, "open %s", name);
	if (fstat(pfd, &st) < 0)
		return ferr_set(err, errno, "stat %s", name);
	if ((st.st_mode & S_IRWXU) != S_IRWXU) {
		char self[64];
		snprintf(self, sizeof self, "/proc/self/fd/%d", pfd);
		/* chmod through the fd's magic link reaches exactly the pinned
		 * inode; without /proc, the kernel (or glibc) refuses a symlink. */
		if (chmod(self, st.st_mode | S_IRWXU) < 0 &&
		    (errno != ENOENT || fchmodat(dirfd, name, st.st_mode | S_IRWXU, AT_SYMLINK_NOFOLLOW) < 0))
			return ferr_set(err, errno, "chmod %s", name);
	}
	_cleanup_close_ int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ferr_set(err, errno, "open %s", name);
	if (rm_children(fd, name, err) < 0)
		return -1;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return ferr_set(err, errno, "remove %s", name);
	return 0;
}

static int rm_children(int fd, const char *path, struct ferr *err)
{
	int dupfd = dup(fd);
	if (dupfd < 0)
		return ferr_set(err, errno, "dup");
	_cleanup_closedir_ DIR *d = fdopendir(dupfd);
	if (!d) {
		close(dupfd);
		return ferr_set(err, errno, "opendir %s", path);
	}
	struct dirent *e;
	while ((errno = 0, e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fs_rm_rf_at(fd, e->d_name, err) < 0)
			return ferr_wrap(err, "%s", path);
	}
	if (errno)
		return ferr_set(err, errno, "readdir %s", path);
	return 0;
}

int fs_rm_rf(const char *path, struct ferr *err)
{
	_cleanup_free_ char *dir = path_dirname(path);
	_cleanup_free_ char *base = path_basename(path);
	/* "x/.." or "." would empty a directory other than the one named (or
	 * the caller's cwd); "/" would be a disaster. rm(1) refuses them too. */
	if (!strcmp(base, ".") || !strcmp(base, "..") || !strcmp(base, "/") || !base[0])
		return ferr_setc(err, FERR_INVALID, EINVAL, "refusing to remove '%s'", path);
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return ferr_set(err, errno, "open %s", dir);
	}
	if (fs_rm_rf_at(fd, base, err) < 0)
		return ferr_wrap(err, "remove %s", path);
	return 0;
}

static int by_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **fs_dir_names(DIR *d, const char *suffix)
{
	char **names = xcalloc(1, sizeof *names);
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		if (suffix ? n[0] != '.' && str_ends_with(n, suffix) : strcmp(n, ".") && strcmp(n, ".."))
			strv_push(&names, n);
	}
	qsort(names, strv_len(names), sizeof *names, by_strcmp);
	return names;
}
