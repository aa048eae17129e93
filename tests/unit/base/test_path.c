#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "base/path.h"

static void check_norm(const char *in, const char *want)
{
	char *got = path_normalize(in);
	assert_string_equal(got, want);
	free(got);
}

static void test_normalize(void **state)
{
	(void)state;
	check_norm("/a//b/", "/a/b");
	check_norm("/../x", "/x");
	check_norm("a/./b/../c", "a/c");
	check_norm("../a/../b", "../b");
	check_norm("", ".");
	check_norm("/", "/");
}

static void test_inside(void **state)
{
	(void)state;
	assert_true(path_is_inside("/a", "/a/b/../c"));
	assert_false(path_is_inside("/a", "/ab"));
	assert_false(path_is_inside("/a/b", "/a"));
	assert_true(path_is_inside("/a/", "/a"));
	assert_false(path_is_inside("/a", "/a/../b"));
	assert_true(path_is_inside("/", "/anything"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_inside),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
