/* Fuzz path resolution inside an image root: whatever the path, what
 * inroot_open() and inroot_open_parent() return must lie inside the root.
 * The root is a small hostile tree (symlinks to /, to /etc, climbing out
 * with "../..", loops) made once in a temporary directory. The first input
 * byte picks openat2 or the userspace walk and the open flags. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/inroot.h"
#include "base/path.h"
#include "base/str.h"

static char root[4096];
static int rootfd = -1;

static void make_tree(void)
{
	const char *t = getenv("TMPDIR");
	snprintf(root, sizeof root, "%s/ferry-fuzz-inroot.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(root))
		abort();
	static const char *const dirs[] = { "etc", "a", "a/b", "a/b/c", "usr/lib" };
	static const char *const links[][2] = {
		{ "/", "a/root" },           { "/etc", "a/b/etc" },     { "../../../../..", "a/b/c/up" },
		{ "loop2", "loop1" },        { "loop1", "loop2" },      { "/tmp", "tmp" },
		{ "../../..", "usr/lib/x" }, { "b/c/up/etc", "a/mix" }, { "/proc/self/root", "proc" },
	};
	struct ferr err = FERR_INIT;
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		char *d = xasprintf("%s/%s", root, dirs[i]);
		if (fs_mkdir_p(d, 0755, &err) < 0)
			abort();
		free(d);
	}
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		char *l = xasprintf("%s/%s", root, links[i][1]);
		if (symlink(links[i][0], l) < 0)
			abort();
		free(l);
	}
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		abort();
}

static void remove_tree(void)
{
	struct ferr err = FERR_INIT;
	fs_rm_rf(root, &err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	make_tree();
	atexit(remove_tree);
	return 0;
}

/* The fd's path, from /proc, must be the root or below it. */
static void check_inside(int fd)
{
	char proc[64], where[4096];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, where, sizeof where - 1);
	if (n < 0)
		return; /* no /proc: nothing to compare with */
	where[n] = '\0';
	if (!path_is_inside(root, where)) {
		fprintf(stderr, "fuzz_inroot: escaped to %s\n", where);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (rootfd < 0)
		LLVMFuzzerInitialize(NULL, NULL);
	if (size < 1)
		return 0;
	char *path = xstrndup((const char *)data + 1, size - 1);
	inroot_force_walk = data[0] & 1;
	int flags = O_PATH | ((data[0] & 2) ? O_NOFOLLOW : 0) | ((data[0] & 4) ? O_DIRECTORY : 0);
	struct ferr err = FERR_INIT;
	int fd = inroot_open(rootfd, path, flags, 0, &err);
	if (fd >= 0) {
		check_inside(fd);
		close(fd);
	}
	char *leaf = NULL;
	fd = inroot_open_parent(rootfd, path, &leaf, &err);
	if (fd >= 0) {
		check_inside(fd);
		if (!leaf || !leaf[0] || strchr(leaf, '/'))
			abort();
		close(fd);
	}
	free(leaf);
	free(path);
	inroot_force_walk = 0;
	return 0;
}
