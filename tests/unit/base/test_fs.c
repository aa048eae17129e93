/* File helpers: mkdir -p, atomic write, read, rm -rf (mode 000 trees, as an
 * unprivileged user too), du with hardlinks, fsync of a directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <grp.h>
#include <stdbool.h>
#include <sys/wait.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/path.h"
#include "base/str.h"
#include "testutil.h"

static int setup(void **state)
{
	*state = make_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	rm_tmpdir(*state);
	return 0;
}

static void test_mkdir_p(void **state)
{
	const char *t = *state;
	struct ferr err = FERR_INIT;
	_cleanup_free_ char *deep = xasprintf("%s/a/b//c/d/", t);
	assert_int_equal(fs_mkdir_p(deep, 0755, &err), 0);
	assert_true(fs_is_dir(deep));
	/* Existing directories are fine, again and again. */
	assert_int_equal(fs_mkdir_p(deep, 0755, &err), 0);
	assert_int_equal(fs_mkdir_p(t, 0755, &err), 0);
	assert_int_equal(fs_mkdir_p("/", 0755, &err), 0);
	/* A file in the way. */
	_cleanup_free_ char *file = xasprintf("%s/file", t);
	put_file(file, "x");
	assert_true(fs_mkdir_p(file, 0755, &err) < 0);
	assert_int_equal(err.errnum, ENOTDIR);
	assert_non_null(strstr(err.msg, file));
	_cleanup_free_ char *under = xasprintf("%s/file/sub/dir", t);
	assert_true(fs_mkdir_p(under, 0755, &err) < 0);
	assert_int_equal(err.errnum, ENOTDIR);
	/* An empty path is an error, not a read past the string. */
	assert_true(fs_mkdir_p("", 0755, &err) < 0);
	assert_int_equal(err.errnum, ENOENT);
	/* Relative paths work from the current directory. */
	_cleanup_free_ char *cwd = getcwd(NULL, 0);
	assert_int_equal(chdir(t), 0);
	assert_int_equal(fs_mkdir_p("rel/x/y", 0700, &err), 0);
	assert_int_equal(chdir(cwd), 0);
	_cleanup_free_ char *rel = xasprintf("%s/rel/x/y", t);
	assert_true(fs_is_dir(rel));
	struct stat st;
	assert_int_equal(stat(rel, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700 & ~(mode_t)0);
}

/* Names in dir starting with "." other than "." and "..": leftovers. */
static int count_hidden(const char *dir)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	return n;
}

static void test_write_atomic(void **state)
{
	const char *t = *state;
	struct ferr err = FERR_INIT;
	_cleanup_free_ char *p = xasprintf("%s/conf.json", t);
	assert_int_equal(fs_write_atomic(p, "first", 5, 0640, &err), 0);
	struct stat st1;
	assert_int_equal(stat(p, &st1), 0);
	assert_int_equal(st1.st_mode & 07777, 0640);
	assert_int_equal(st1.st_size, 5);
	assert_int_equal(count_hidden(t), 0);

	/* A reader holding the old file keeps seeing the old content: the
	 * new one arrives by rename, not by rewriting in place. */
	_cleanup_close_ int old = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(old >= 0);
	assert_int_equal(fs_write_atomic(p, "second!", 7, 0644, &err), 0);
	assert_string_equal(fd_text(old), "first");
	struct stat st2;
	assert_int_equal(stat(p, &st2), 0);
	assert_int_not_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(st2.st_mode & 07777, 0644);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	assert_int_equal(fs_read_file(p, &data, &len, &err), 0);
	assert_int_equal(len, 7);
	assert_string_equal(data, "second!");
	assert_int_equal(count_hidden(t), 0);

	/* Empty content, binary content. */
	assert_int_equal(fs_write_atomic(p, "", 0, 0600, &err), 0);
	assert_int_equal(stat(p, &st2), 0);
	assert_int_equal(st2.st_size, 0);

	/* A missing directory fails and creates nothing. */
	_cleanup_free_ char *bad = xasprintf("%s/missing/x", t);
	assert_true(fs_write_atomic(bad, "x", 1, 0644, &err) < 0);
	assert_int_equal(err.errnum, ENOENT);
	assert_false(fs_exists(bad));
	/* Renaming over a directory fails and leaves no temporary file. */
	_cleanup_free_ char *dir = xasprintf("%s/adir", t);
	_cleanup_free_ char *inner = xasprintf("%s/adir/keep", t);
	assert_int_equal(fs_mkdir_p(dir, 0755, &err), 0);
	put_file(inner, "k");
	assert_true(fs_write_atomic(dir, "x", 1, 0644, &err) < 0);
	assert_int_equal(count_hidden(t), 0);
	assert_true(fs_is_dir(dir));
	/* A relative name is written in the current directory. */
	_cleanup_free_ char *cwd = getcwd(NULL, 0);
	assert_int_equal(chdir(t), 0);
	assert_int_equal(fs_write_atomic("relative", "r", 1, 0644, &err), 0);
	assert_int_equal(chdir(cwd), 0);
	_cleanup_free_ char *rel = xasprintf("%s/relative", t);
	assert_true(fs_exists(rel));
}

static void test_read_file(void **state)
{
	const char *t = *state;
	struct ferr err = FERR_INIT;
	_cleanup_free_ char *p = xasprintf("%s/big", t);
	/* Bigger than one read chunk, with NUL bytes inside. */
	size_t n = 200000;
	_cleanup_free_ char *buf = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(i % 251);
	assert_int_equal(fs_write_atomic(p, buf, n, 0644, &err), 0);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	assert_int_equal(fs_read_file(p, &data, &len, &err), 0);
	assert_int_equal(len, n);
	assert_memory_equal(data, buf, n);
	assert_int_equal(data[n], '\0');

	_cleanup_free_ char *empty = xasprintf("%s/empty", t);
	put_file(empty, "");
	_cleanup_free_ char *e = NULL;
	assert_int_equal(fs_read_file(empty, &e, NULL, &err), 0);
	assert_string_equal(e, "");

	_cleanup_free_ char *missing = xasprintf("%s/missing", t);
	char *none = NULL;
	assert_true(fs_read_file(missing, &none, &len, &err) < 0);
	assert_null(none);
	assert_int_equal(err.code, FERR_NOTFOUND);
	assert_non_null(strstr(err.msg, missing));
	/* A directory opens but cannot be read. */
	assert_true(fs_read_file(t, &none, &len, &err) < 0);
	assert_int_equal(err.errnum, EISDIR);
	assert_null(none);
}

/* The rm -rf checks also run in a forked child with another uid, where
 * cmocka's assertions cannot be used: they would unwind into the child's
 * copy of the test runner. */
static bool in_child;
#define REQ(c)                                                                                  \
	do {                                                                                    \
		if (!(c)) {                                                                     \
			if (in_child) {                                                         \
				fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #c); \
				_exit(1);                                                       \
			}                                                                       \
			fail_msg("failed: %s", #c);                                             \
		}                                                                               \
	} while (0)

/* A tree the way images ship them: directories without u+w or even
 * without any permission, a symlink pointing outside that must not be
 * followed, a FIFO, hardlinks. Returns the tree's path. */
static char *hostile_tree(const char *t, const char *outside)
{
	char *top = xasprintf("%s/tree", t);
	struct ferr err = FERR_INIT;
	_cleanup_free_ char *d000 = xasprintf("%s/a/locked/deeper", top);
	_cleanup_free_ char *d500 = xasprintf("%s/b/readonly", top);
	REQ(fs_mkdir_p(d000, 0755, &err) == 0);
	REQ(fs_mkdir_p(d500, 0755, &err) == 0);
	_cleanup_free_ char *f1 = xasprintf("%s/a/locked/deeper/f", top);
	_cleanup_free_ char *f2 = xasprintf("%s/b/readonly/g", top);
	_cleanup_free_ char *f3 = xasprintf("%s/b/readonly/g-link", top);
	_cleanup_free_ char *ln = xasprintf("%s/b/readonly/out", top);
	_cleanup_free_ char *fifo = xasprintf("%s/b/fifo", top);
	put_file(f1, "f");
	put_file(f2, "g");
	REQ(link(f2, f3) == 0);
	REQ(symlink(outside, ln) == 0);
	REQ(mkfifo(fifo, 0600) == 0);
	REQ(chmod(f1, 0) == 0);
	_cleanup_free_ char *deeper = xasprintf("%s/a/locked/deeper", top);
	_cleanup_free_ char *locked = xasprintf("%s/a/locked", top);
	REQ(chmod(deeper, 0) == 0);
	REQ(chmod(locked, 0) == 0);
	REQ(chmod(d500, 0500) == 0);
	_cleanup_free_ char *b = xasprintf("%s/b", top);
	REQ(chmod(b, 0500) == 0);
	return top;
}

static void check_rm_rf(const char *t)
{
	struct ferr err = FERR_INIT;
	_cleanup_free_ char *outside = xasprintf("%s/outside", t);
	_cleanup_free_ char *keep = xasprintf("%s/outside/keep", t);
	REQ(fs_mkdir_p(outside, 0755, &err) == 0);
	put_file(keep, "keep");
	_cleanup_free_ char *top = hostile_tree(t, outside);
	if (fs_rm_rf(top, &err) < 0)
		fprintf(stderr, "fs_rm_rf: %s\n", err.msg);
	REQ(!fs_exists(top));
	/* The symlink was removed, not followed. */
	REQ(fs_exists(keep));
	/* A missing path is fine; so is a plain file and a symlink. */
	REQ(fs_rm_rf(top, &err) == 0);
	REQ(fs_rm_rf(keep, &err) == 0);
	REQ(!fs_exists(keep));
	_cleanup_free_ char *sl = xasprintf("%s/sl", t);
	REQ(symlink(outside, sl) == 0);
	REQ(fs_rm_rf(sl, &err) == 0);
	REQ(!fs_exists(sl));
	REQ(fs_is_dir(outside));
	/* Trailing slashes name the same directory. */
	_cleanup_free_ char *slash = xasprintf("%s/outside//", t);
	REQ(fs_rm_rf(slash, &err) == 0);
	REQ(!fs_exists(outside));
	/* "." and ".." would remove more than was named: refused. */
	_cleanup_free_ char *dots = xasprintf("%s/x/..", t);
	REQ(fs_rm_rf(dots, &err) < 0);
	REQ(err.errnum == EINVAL);
	_cleanup_free_ char *dot = xasprintf("%s/.", t);
	REQ(fs_rm_rf(dot, &err) < 0);
	REQ(fs_rm_rf("/", &err) < 0);
	REQ(fs_is_dir(t));
}

static void test_rm_rf(void **state)
{
	check_rm_rf(*state);
}

/* Root ignores permission bits, so run the same removal as an unprivileged
 * uid in a child: that is the case mode-000 handling exists for. */
static void test_rm_rf_unprivileged(void **state)
{
	const char *t = *state;
	if (geteuid() != 0) {
		check_rm_rf(t);
		return;
	}
	_cleanup_free_ char *sub = xasprintf("%s/unpriv", t);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(chown(t, 65534, 65534), 0);
	assert_int_equal(chown(sub, 65534, 65534), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(77);
		/* Prove the privileges are gone before testing with them. */
		if (access("/root", W_OK) == 0 || geteuid() == 0)
			_exit(78);
		in_child = true;
		check_rm_rf(sub);
		_exit(0);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip(); /* uid 65534 is not mapped (e.g. in a user namespace) */
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(chown(t, 0, 0), 0);
}

static void test_exists_is_dir(void **state)
{
	const char *t = *state;
	_cleanup_free_ char *f = xasprintf("%s/f", t);
	_cleanup_free_ char *dangling = xasprintf("%s/dangling", t);
	_cleanup_free_ char *dirlink = xasprintf("%s/dirlink", t);
	put_file(f, "x");
	assert_int_equal(symlink("nowhere", dangling), 0);
	assert_int_equal(symlink(".", dirlink), 0);
	assert_true(fs_exists(f));
	assert_false(fs_is_dir(f));
	assert_true(fs_is_dir(t));
	/* exists() looks at the link, is_dir() at its target. */
	assert_true(fs_exists(dangling));
	assert_false(fs_is_dir(dangling));
	assert_true(fs_is_dir(dirlink));
	assert_false(fs_exists("/nonexistent/ferry"));
}

static void test_fsync_dir(void **state)
{
	const char *t = *state;
	struct ferr err = FERR_INIT;
	assert_int_equal(fs_fsync_dir(t, &err), 0);
	_cleanup_free_ char *missing = xasprintf("%s/missing", t);
	assert_true(fs_fsync_dir(missing, &err) < 0);
	assert_int_equal(err.errnum, ENOENT);
}

static void test_rm_rf_at(void **state)
{
	const char *t = *state;
	struct ferr err = FERR_INIT;
	_cleanup_free_ char *d = xasprintf("%s/x/y/z", t);
	assert_int_equal(fs_mkdir_p(d, 0755, &err), 0);
	_cleanup_close_ int fd = open(t, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fs_rm_rf_at(fd, "x", &err), 0);
	assert_int_equal(fs_rm_rf_at(fd, "x", &err), 0);
	_cleanup_free_ char *x = xasprintf("%s/x", t);
	assert_false(fs_exists(x));
}

static void test_write_new(void **state)
{
	const char *t = *state;
	struct ferr err = FERR_INIT;
	_cleanup_free_ char *p = xasprintf("%s/record.json", t);
	assert_int_equal(fs_write_new(p, "one", 3, 0644, &err), 0);
	assert_int_equal(count_hidden(t), 0);
	/* A second writer of the same name fails with EEXIST, keeps the first
	 * file as it was and leaves no temporary file behind. */
	assert_true(fs_write_new(p, "two!", 4, 0644, &err) < 0);
	assert_int_equal(err.errnum, EEXIST);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	assert_int_equal(fs_read_file(p, &data, &len, &err), 0);
	assert_string_equal(data, "one");
	assert_int_equal(count_hidden(t), 0);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_mode & 07777, 0644);
}

static void test_dir_names(void **state)
{
	const char *t = *state;
	static const char *const files[] = {"b.json", "a.json", "B.json", ".hidden.json", "notes.txt", "x.json.bak"};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", t, files[i]);
		put_file(p, "{}");
	}
	DIR *d = opendir(t);
	assert_non_null(d);
	_cleanup_strv_ char **json = fs_dir_names(d, ".json");
	/* strcmp order (uppercase first), hidden names and other suffixes out */
	assert_int_equal(strv_len(json), 3);
	assert_string_equal(json[0], "B.json");
	assert_string_equal(json[1], "a.json");
	assert_string_equal(json[2], "b.json");
	rewinddir(d);
	_cleanup_strv_ char **all = fs_dir_names(d, NULL);
	/* every entry but . and .., hidden ones included */
	assert_int_equal(strv_len(all), 6);
	assert_string_equal(all[0], ".hidden.json");
	assert_string_equal(all[5], "x.json.bak");
	closedir(d);
	/* an empty directory: an empty vector, not NULL */
	_cleanup_free_ char *e = xasprintf("%s/empty", t);
	assert_int_equal(mkdir(e, 0755), 0);
	d = opendir(e);
	assert_non_null(d);
	_cleanup_strv_ char **none = fs_dir_names(d, ".json");
	assert_non_null(none);
	assert_null(none[0]);
	closedir(d);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_mkdir_p), T(test_write_atomic),       T(test_read_file),
		T(test_rm_rf),   T(test_rm_rf_unprivileged), T(test_exists_is_dir),
		T(test_fsync_dir),          T(test_rm_rf_at), T(test_write_new), T(test_dir_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
