/* Paths inside an image root against hostile trees: "../" escapes,
 * absolute and relative symlinks pointing outside, symlink loops, a symlink
 * to /etc. Nothing may resolve outside the root. Every test runs twice: with
 * openat2(RESOLVE_IN_ROOT) and with the userspace walk (inroot_force_walk). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <linux/openat2.h>
#include <sys/syscall.h>

#include "base/cleanup.h"
#include "base/inroot.h"
#include "testutil.h"

struct tree {
	char *tmp;     /* holds root/ and outside/ */
	char *root;    /* the image root */
	char *outside; /* a host directory beside it, with a secret */
	int rootfd;
};

static bool have_openat2(void)
{
#ifdef SYS_openat2
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	long fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how);
	if (fd >= 0) {
		close((int)fd);
		return true;
	}
#endif
	return false;
}

static void mk(struct tree *t, const char *rel)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", t->root, rel);
	struct ferr err = FERR_INIT;
	assert_int_equal(fs_mkdir_p(p, 0755, &err), 0);
}

static void ln(struct tree *t, const char *target, const char *rel)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", t->root, rel);
	assert_int_equal(symlink(target, p), 0);
}

static void put(struct tree *t, const char *rel, const char *text)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", t->root, rel);
	put_file(p, text);
}

static bool in_root_exists(struct tree *t, const char *rel)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", t->root, rel);
	return fs_exists(p);
}

static int setup(void **state, int force_walk)
{
	if (!force_walk && !have_openat2()) {
		print_message("# openat2 is not available on this kernel: only the walk is tested\n");
		force_walk = 1;
	}
	inroot_force_walk = force_walk;
	struct tree *t = xcalloc(1, sizeof *t);
	t->tmp = make_tmpdir();
	t->root = xasprintf("%s/root", t->tmp);
	t->outside = xasprintf("%s/outside", t->tmp);
	struct ferr err = FERR_INIT;
	assert_int_equal(fs_mkdir_p(t->root, 0755, &err), 0);
	assert_int_equal(fs_mkdir_p(t->outside, 0755, &err), 0);
	_cleanup_free_ char *secret = xasprintf("%s/secret", t->outside);
	put_file(secret, "host secret");
	/* The image's own files. */
	mk(t, "etc");
	put(t, "etc/passwd", "image passwd");
	mk(t, "outside");
	put(t, "outside/secret", "image copy");
	mk(t, "a/b");
	mk(t, "c");
	/* Hostile links. */
	ln(t, "/etc", "abs");                          /* absolute: means root/etc */
	ln(t, "/etc", "hostetc");                      /* the classic */
	ln(t, "../../../../../../outside", "a/b/rel"); /* climbs far above the root */
	ln(t, t->outside, "hostpath");                 /* the host path of outside/ */
	ln(t, "loop2", "loop1");
	ln(t, "loop1", "loop2");
	ln(t, "self", "self");
	ln(t, "../c", "a/to-c");
	ln(t, "/etc", "c/d"); /* a chain: a/to-c/d -> /etc */
	ln(t, "/new-file", "dangling-abs");
	ln(t, "../../../new-rel", "a/b/dangling-rel");
	ln(t, "..", "a/up");
	ln(t, "/", "slash");
	t->rootfd = open(t->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(t->rootfd >= 0);
	*state = t;
	return 0;
}

static int setup_openat2(void **state)
{
	return setup(state, 0);
}

static int setup_walk(void **state)
{
	return setup(state, 1);
}

static int teardown(void **state)
{
	struct tree *t = *state;
	close(t->rootfd);
	rm_tmpdir(t->tmp);
	free(t->root);
	free(t->outside);
	free(t);
	inroot_force_walk = 0;
	return 0;
}

/* Open rel for reading inside the root and return its content. */
static const char *read_in(struct tree *t, const char *rel)
{
	struct ferr err = FERR_INIT;
	int fd = inroot_open(t->rootfd, rel, O_RDONLY, 0, &err);
	if (fd < 0)
		fail_msg("inroot_open(%s): %s", rel, err.msg);
	const char *s = fd_text(fd);
	close(fd);
	return s;
}

/* Expect rel to fail with errno e. */
static void open_fails(struct tree *t, const char *rel, int flags, int e)
{
	struct ferr err = FERR_INIT;
	int fd = inroot_open(t->rootfd, rel, flags, 0644, &err);
	if (fd >= 0) {
		close(fd);
		fail_msg("inroot_open(%s) succeeded", rel);
	}
	if (err.errnum != e)
		fail_msg("inroot_open(%s): errno %d (%s), want %d", rel, err.errnum, err.msg, e);
	assert_non_null(strstr(err.msg, rel));
}

static void test_plain(void **state)
{
	struct tree *t = *state;
	assert_string_equal(read_in(t, "etc/passwd"), "image passwd");
	assert_string_equal(read_in(t, "/etc/passwd"), "image passwd");
	assert_string_equal(read_in(t, "//etc//./passwd"), "image passwd");
	struct ferr err = FERR_INIT;
	int fd = inroot_open(t->rootfd, "", O_RDONLY | O_DIRECTORY, 0, &err);
	assert_true(fd >= 0);
	struct stat a, b;
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat(t->root, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	close(fd);
	open_fails(t, "etc/missing", O_RDONLY, ENOENT);
	open_fails(t, "etc/passwd/x", O_RDONLY, ENOTDIR);
	/* A mode with O_DIRECTORY but no O_CREAT is ignored, not EINVAL. */
	fd = inroot_open(t->rootfd, "etc", O_RDONLY | O_DIRECTORY, 0755, &err);
	if (fd < 0)
		fail_msg("%s", err.msg);
	close(fd);
}

static void test_dotdot(void **state)
{
	struct tree *t = *state;
	/* ".." at the root stays at the root, as in a chroot. */
	assert_string_equal(read_in(t, "../../../../etc/passwd"), "image passwd");
	assert_string_equal(read_in(t, "/../outside/secret"), "image copy");
	assert_string_equal(read_in(t, "a/b/../../../../outside/secret"), "image copy");
	assert_string_equal(read_in(t, "a/up/a/up/../etc/passwd"), "image passwd");
}

static void test_symlinks(void **state)
{
	struct tree *t = *state;
	assert_string_equal(read_in(t, "abs/passwd"), "image passwd");
	assert_string_equal(read_in(t, "hostetc/passwd"), "image passwd");
	assert_string_equal(read_in(t, "a/b/rel/secret"), "image copy");
	assert_string_equal(read_in(t, "a/to-c/d/passwd"), "image passwd");
	assert_string_equal(read_in(t, "slash/slash/etc/passwd"), "image passwd");
	/* The host path of a directory beside the root means nothing inside. */
	open_fails(t, "hostpath/secret", O_RDONLY, ENOENT);
	/* Loops end with ELOOP. */
	open_fails(t, "loop1", O_RDONLY, ELOOP);
	open_fails(t, "loop2/x", O_RDONLY, ELOOP);
	open_fails(t, "self", O_RDONLY, ELOOP);
	/* O_NOFOLLOW: the last component is not followed. */
	open_fails(t, "abs", O_RDONLY | O_NOFOLLOW, ELOOP);
	struct ferr err = FERR_INIT;
	int fd = inroot_open(t->rootfd, "a/b/rel", O_PATH | O_NOFOLLOW, 0, &err);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstatat(fd, "", &st, AT_EMPTY_PATH), 0);
	assert_true(S_ISLNK(st.st_mode));
	close(fd);
}

static void test_create_through_links(void **state)
{
	struct tree *t = *state;
	struct ferr err = FERR_INIT;
	/* Creating through a symlink to /etc lands in the image's /etc. */
	int fd = inroot_open(t->rootfd, "hostetc/ferry-unit-marker", O_WRONLY | O_CREAT | O_EXCL, 0644, &err);
	if (fd < 0)
		fail_msg("%s", err.msg);
	close(fd);
	assert_true(in_root_exists(t, "etc/ferry-unit-marker"));
	bool leaked = fs_exists("/etc/ferry-unit-marker");
	if (leaked)
		unlink("/etc/ferry-unit-marker");
	assert_false(leaked);
	/* Dangling links are created inside the root. */
	fd = inroot_open(t->rootfd, "dangling-abs", O_WRONLY | O_CREAT, 0644, &err);
	if (fd < 0)
		fail_msg("%s", err.msg);
	close(fd);
	assert_true(in_root_exists(t, "new-file"));
	fd = inroot_open(t->rootfd, "a/b/dangling-rel", O_WRONLY | O_CREAT, 0644, &err);
	if (fd < 0)
		fail_msg("%s", err.msg);
	close(fd);
	assert_true(in_root_exists(t, "new-rel"));
	_cleanup_free_ char *tmpnew = xasprintf("%s/new-rel", t->tmp);
	assert_false(fs_exists(tmpnew));
	/* Through a relative escape: root/outside, not the host's. */
	fd = inroot_open(t->rootfd, "a/b/rel/planted", O_WRONLY | O_CREAT, 0644, &err);
	assert_true(fd >= 0);
	close(fd);
	assert_true(in_root_exists(t, "outside/planted"));
	_cleanup_free_ char *host = xasprintf("%s/planted", t->outside);
	assert_false(fs_exists(host));
	/* O_CREAT|O_EXCL on an existing symlink fails and follows nothing. */
	open_fails(t, "abs", O_WRONLY | O_CREAT | O_EXCL, EEXIST);
	ln(t, "/never-created", "dangling-excl");
	open_fails(t, "dangling-excl", O_WRONLY | O_CREAT | O_EXCL, EEXIST);
	assert_false(in_root_exists(t, "never-created"));
	_cleanup_free_ char *dangling = xasprintf("%s/dangling-excl", t->root);
	struct stat st;
	assert_int_equal(lstat(dangling, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

static void same_inode(int fd, const char *path)
{
	struct stat a, b;
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat(path, &b), 0);
	assert_int_equal(a.st_dev, b.st_dev);
	assert_int_equal(a.st_ino, b.st_ino);
}

static void test_open_parent(void **state)
{
	struct tree *t = *state;
	struct ferr err = FERR_INIT;
	char *leaf = NULL;
	int fd = inroot_open_parent(t->rootfd, "abs/passwd", &leaf, &err);
	assert_true(fd >= 0);
	assert_string_equal(leaf, "passwd");
	_cleanup_free_ char *etc = xasprintf("%s/etc", t->root);
	same_inode(fd, etc);
	close(fd);
	free(leaf);
	leaf = NULL;
	fd = inroot_open_parent(t->rootfd, "a/b/rel/whatever/", &leaf, &err);
	assert_true(fd >= 0);
	assert_string_equal(leaf, "whatever");
	_cleanup_free_ char *out = xasprintf("%s/outside", t->root);
	same_inode(fd, out);
	close(fd);
	free(leaf);
	leaf = NULL;
	/* The last component is not resolved: a link stays a link. */
	fd = inroot_open_parent(t->rootfd, "/hostetc", &leaf, &err);
	assert_true(fd >= 0);
	assert_string_equal(leaf, "hostetc");
	same_inode(fd, t->root);
	close(fd);
	free(leaf);
	leaf = NULL;
	/* Paths naming the root or with no last name are refused. */
	const char *bad[] = { "/", "", ".", "..", "a/..", "a/b/.", "//" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fd = inroot_open_parent(t->rootfd, bad[i], &leaf, &err);
		if (fd >= 0)
			fail_msg("inroot_open_parent(\"%s\") succeeded", bad[i]);
		assert_int_equal(err.errnum, EINVAL);
		assert_null(leaf);
	}
	fd = inroot_open_parent(t->rootfd, "loop1/x", &leaf, &err);
	assert_true(fd < 0);
	assert_int_equal(err.errnum, ELOOP);
	fd = inroot_open_parent(t->rootfd, "missing/x", &leaf, &err);
	assert_true(fd < 0);
	assert_int_equal(err.code, FERR_NOTFOUND);
}

static void test_mkdir_p(void **state)
{
	struct tree *t = *state;
	struct ferr err = FERR_INIT;
	int fd = inroot_mkdir_p(t->rootfd, "hostetc/new/deep", 0755, &err);
	if (fd < 0)
		fail_msg("%s", err.msg);
	_cleanup_free_ char *deep = xasprintf("%s/etc/new/deep", t->root);
	same_inode(fd, deep);
	close(fd);
	assert_false(fs_exists("/etc/new/deep"));
	fd = inroot_mkdir_p(t->rootfd, "a/b/rel/made/x", 0755, &err);
	assert_true(fd >= 0);
	close(fd);
	assert_true(in_root_exists(t, "outside/made/x"));
	_cleanup_free_ char *host = xasprintf("%s/made", t->outside);
	assert_false(fs_exists(host));
	fd = inroot_mkdir_p(t->rootfd, "../../x/../y/./z/", 0755, &err);
	assert_true(fd >= 0);
	close(fd);
	assert_true(in_root_exists(t, "y/z"));
	/* Existing directories and the root itself are fine. */
	fd = inroot_mkdir_p(t->rootfd, "/", 0755, &err);
	assert_true(fd >= 0);
	same_inode(fd, t->root);
	close(fd);
	fd = inroot_mkdir_p(t->rootfd, "etc", 0755, &err);
	assert_true(fd >= 0);
	close(fd);
	/* Loops and files in the way fail. */
	assert_true(inroot_mkdir_p(t->rootfd, "loop1/x", 0755, &err) < 0);
	assert_true(inroot_mkdir_p(t->rootfd, "etc/passwd/x", 0755, &err) < 0);
	/* The host path of outside/ is created inside the root. */
	fd = inroot_mkdir_p(t->rootfd, "hostpath/sub", 0755, &err);
	if (fd >= 0) {
		close(fd);
		_cleanup_free_ char *inside = xasprintf("%s%s/sub", t->root, t->outside);
		assert_true(fs_is_dir(inside));
	}
	_cleanup_free_ char *hsub = xasprintf("%s/sub", t->outside);
	assert_false(fs_exists(hsub));
}

static void test_long_chains(void **state)
{
	struct tree *t = *state;
	/* 30 links in a chain resolve, 60 are too many (ELOOP). */
	for (int i = 0; i < 60; i++) {
		char name[32], target[32];
		snprintf(name, sizeof name, "chain%d", i);
		if (i == 0)
			snprintf(target, sizeof target, "/etc");
		else
			snprintf(target, sizeof target, "chain%d", i - 1);
		ln(t, target, name);
	}
	assert_string_equal(read_in(t, "chain30/passwd"), "image passwd");
	open_fails(t, "chain59/passwd", O_RDONLY, ELOOP);
	/* A name longer than NAME_MAX. */
	char longname[400];
	memset(longname, 'x', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	open_fails(t, longname, O_RDONLY, ENAMETOOLONG);
}

/* clang-format off */
#define BOTH(f) \
	{ #f "/openat2", f, setup_openat2, teardown, NULL }, \
	{ #f "/walk", f, setup_walk, teardown, NULL }
/* clang-format on */

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_plain),       BOTH(test_dotdot),
		BOTH(test_symlinks),    BOTH(test_create_through_links),
		BOTH(test_open_parent), BOTH(test_mkdir_p),
		BOTH(test_long_chains),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
