/* Scope-bound cleanup and explicit hand-over of ownership. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/cleanup.h"
#include "testutil.h"

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int open_devnull(void)
{
	_cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return steal_fd(&fd);
}

static void test_fds(void **state)
{
	(void)state;
	int seen;
	{
		_cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		seen = fd;
	}
	assert_false(fd_open(seen));
	int kept = open_devnull();
	assert_true(fd_open(kept));
	close(kept);
	{
		_cleanup_close_ int none = -1; /* nothing to close */
		(void)none;
	}
	int fd = 7;
	assert_int_equal(steal_fd(&fd), 7);
	assert_int_equal(fd, -1);
}

static void test_ptrs(void **state)
{
	(void)state;
	char *out;
	{
		_cleanup_free_ char *p = xstrdup("owned");
		out = steal_ptr(&p);
		assert_null(p);
	}
	assert_string_equal(out, "owned");
	free(out);
	{
		_cleanup_free_ char *nothing = NULL;
		(void)nothing;
	}
}

static void test_files_dirs(void **state)
{
	(void)state;
	int fd;
	{
		_cleanup_fclose_ FILE *f = fopen("/dev/null", "re");
		assert_non_null(f);
		fd = fileno(f);
	}
	assert_false(fd_open(fd));
	{
		_cleanup_closedir_ DIR *d = opendir("/");
		assert_non_null(d);
		fd = dirfd(d);
	}
	assert_false(fd_open(fd));
	{
		_cleanup_fclose_ FILE *f = NULL;
		_cleanup_closedir_ DIR *d = NULL;
		(void)f;
		(void)d;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fds),
		cmocka_unit_test(test_ptrs),
		cmocka_unit_test(test_files_dirs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
