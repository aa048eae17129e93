#include "base/inroot.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "base/str.h"

int inroot_force_walk;
static int have_openat2 = -1; /* unknown */

#define MAX_LINKS 40
#define MAX_DEPTH 256

static long sys_openat2(int dirfd, const char *path, struct open_how *how)
{
#ifdef SYS_openat2
	return syscall(SYS_openat2, dirfd, path, how, sizeof *how);
#else
	errno = ENOSYS;
	return -1;
#endif
}

/* Walk PATH from the root without the kernel's help. Keeps a stack of
 * directory fds so ".." pops (never above the root) and symlinks restart
 * from the root (absolute) or the current directory (relative). */
static int walk(int rootfd, const char *path, int flags, mode_t mode)
{
	int stack[MAX_DEPTH];
	int depth = 0;
	int links = 0;
	int result = -1;
	struct dstr rest = DSTR_INIT;
	dstr_append(&rest, path);

	stack[0] = rootfd;
	for (;;) {
		char *s = rest.buf;
		while (*s == '/')
			s++;
		if (*s == '\0') {
			/* The path named a directory on the stack. */
			result = openat(stack[depth], ".", flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW), mode);
			break;
		}
		char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		char name[NAME_MAX + 1];
		if (len > NAME_MAX) {
			errno = ENAMETOOLONG;
			break;
		}
		memcpy(name, s, len);
		name[len] = '\0';
		const char *after = s + len;
		while (*after == '/')
			after++;
		bool last = *after == '\0';
		_cleanup_free_ char *tail = xstrdup(after);

		if (!strcmp(name, ".")) {
			dstr_clear(&rest);
			dstr_append(&rest, tail);
			continue;
		}
		if (!strcmp(name, "..")) {
			if (depth > 0)
				close(stack[depth--]);
			dstr_clear(&rest);
			dstr_append(&rest, tail);
			continue;
		}
		struct stat st;
		int have = fstatat(stack[depth], name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (!have && errno != ENOENT)
			break;
		/* O_CREAT|O_EXCL never follows a final symlink, even a dangling
		 * one: open(2) fails with EEXIST, and so does the walk. */
		bool nofollow = (flags & O_NOFOLLOW) || ((flags & O_CREAT) && (flags & O_EXCL));
		if (have && S_ISLNK(st.st_mode) && !(last && nofollow)) {
			if (++links > MAX_LINKS) {
				errno = ELOOP;
				break;
			}
			char target[4096];
			ssize_t n = readlinkat(stack[depth], name, target, sizeof target - 1);
			if (n < 0)
				break;
			target[n] = '\0';
			if (target[0] == '/')
				while (depth > 0)
					close(stack[depth--]);
			dstr_clear(&rest);
			dstr_append(&rest, target);
			dstr_appendc(&rest, '/');
			dstr_append(&rest, tail);
			if (last && tail[0] == '\0' && rest.len > 0 && rest.buf[rest.len - 1] == '/')
				rest.buf[--rest.len] = '\0'; /* keep "last" semantics */
			continue;
		}
		if (last) {
			result = openat(stack[depth], name, flags | O_NOFOLLOW, mode);
			break;
		}
		if (!have) {
			errno = ENOENT;
			break;
		}
		if (depth + 1 >= MAX_DEPTH) {
			errno = ENAMETOOLONG;
			break;
		}
		int fd = openat(stack[depth], name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			break;
		stack[++depth] = fd;
		dstr_clear(&rest);
		dstr_append(&rest, tail);
	}
	int saved = errno;
	while (depth > 0)
		close(stack[depth--]);
	dstr_free(&rest);
	errno = saved;
	return result;
}

/* Does openat2(RESOLVE_IN_ROOT) work here? Asked once with a harmless
 * call: ENOSYS on kernels before 5.6, EPERM or ENOSYS under seccomp filters
 * that do not know it. Deciding from a real call's errno would be wrong:
 * EPERM is also what open() says for an immutable file. */
static bool openat2_works(void)
{
	/* Threads may race to probe: each gets the same answer. */
	int have = __atomic_load_n(&have_openat2, __ATOMIC_RELAXED);
	if (have < 0) {
		struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
		long fd = sys_openat2(AT_FDCWD, "/", &how);
		have = fd >= 0;
		if (fd >= 0)
			close((int)fd);
		__atomic_store_n(&have_openat2, have, __ATOMIC_RELAXED);
	}
	return have > 0;
}

static int open_raw(int rootfd, const char *path, int flags, mode_t mode)
{
	if (inroot_force_walk || !openat2_works())
		return walk(rootfd, path, flags | O_CLOEXEC, mode);
	/* openat2 wants mode 0 unless a file is created (EINVAL otherwise);
	 * O_TMPFILE contains O_DIRECTORY's bit, so test it whole. */
	bool creates = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC),
		.mode = creates ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	/* EAGAIN: a concurrent rename raced the lookup; the kernel asks us to
	 * retry. Bounded, in case something renames in a loop. */
	for (int tries = 0;; tries++) {
		long fd = sys_openat2(rootfd, path[0] ? path : ".", &how);
		if (fd >= 0)
			return (int)fd;
		if (errno != EAGAIN || tries >= 64)
			return -1;
	}
}

int inroot_open(int rootfd, const char *path, int flags, mode_t mode, struct ferr *err)
{
	int fd = open_raw(rootfd, path, flags, mode);
	if (fd < 0)
		return ferr_setc(err, errno == ENOENT ? FERR_NOTFOUND : FERR_GENERIC, errno, "open %s in image", path);
	return fd;
}

int inroot_open_parent(int rootfd, const char *path, char **leaf, struct ferr *err)
{
	_cleanup_free_ char *norm = path_normalize(path[0] == '/' ? path + 1 : path);
	/* Lexically "a/../b" == "b" only if "a" is no symlink; the kernel
	 * resolves it correctly, so normalise only to find the last name. */
	_cleanup_free_ char *base = path_basename(path);
	if (!strcmp(norm, ".") || !strcmp(base, "..") || !strcmp(base, ".") || !strcmp(base, "/"))
		return ferr_setc(err, FERR_INVALID, EINVAL, "%s: no file name in path", path);
	_cleanup_free_ char *dir = path_dirname(path);
	int fd = open_raw(rootfd, dir, O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		return ferr_setc(err, errno == ENOENT ? FERR_NOTFOUND : FERR_GENERIC, errno, "open %s in image", dir);
	*leaf = steal_ptr(&base);
	return fd;
}

int inroot_mkdir_p(int rootfd, const char *path, mode_t mode, struct ferr *err)
{
	int fd = open_raw(rootfd, path, O_PATH | O_DIRECTORY, 0);
	if (fd >= 0)
		return fd;
	if (errno != ENOENT)
		return ferr_set(err, errno, "open %s in image", path);
	_cleanup_free_ char *leaf = NULL;
	_cleanup_free_ char *dir = path_dirname(path);
	_cleanup_close_ int pfd = -1;
	if (strcmp(dir, ".") != 0 && strcmp(dir, "/") != 0) {
		pfd = inroot_mkdir_p(rootfd, dir, mode, err);
		if (pfd < 0)
			return -1;
	} else {
		pfd = dup(rootfd);
		if (pfd < 0)
			return ferr_set(err, errno, "dup");
	}
	leaf = path_basename(path);
	if (mkdirat(pfd, leaf, mode) < 0 && errno != EEXIST)
		return ferr_set(err, errno, "mkdir %s in image", path);
	fd = open_raw(rootfd, path, O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		return ferr_set(err, errno, "open %s in image", path);
	return fd;
}
