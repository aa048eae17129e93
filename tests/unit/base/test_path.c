/* Lexical path helpers: join, normalise, "is inside", basename, dirname. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include <string.h>

#include "base/path.h"

static void check_norm(const char *in, const char *want)
{
	char *got = path_normalize(in);
	if (strcmp(got, want))
		fail_msg("path_normalize(\"%s\") = \"%s\", want \"%s\"", in, got, want);
	free(got);
}

static void test_normalize(void **state)
{
	(void)state;
	check_norm("/a//b/", "/a/b");
	check_norm("/../x", "/x");
	check_norm("/..", "/");
	check_norm("/../../..", "/");
	check_norm("a/./b/../c", "a/c");
	check_norm("../a/../b", "../b");
	check_norm("../../a", "../../a");
	check_norm("a/../..", "..");
	check_norm("a/..", ".");
	check_norm("", ".");
	check_norm(".", ".");
	check_norm("./", ".");
	check_norm("/", "/");
	check_norm("//", "/");
	check_norm("///a///b///", "/a/b");
	check_norm("a/b/", "a/b");
	check_norm("/a/b/c/../../d", "/a/d");
	check_norm("...", "...");
	check_norm("/a/.../..b/.c", "/a/.../..b/.c");
	check_norm("/a/b/./././", "/a/b");
	check_norm("a", "a");
	check_norm("/./.", "/");
}

static void test_inside(void **state)
{
	(void)state;
	assert_true(path_is_inside("/a", "/a/b/../c"));
	assert_true(path_is_inside("/a", "/a"));
	assert_true(path_is_inside("/a", "/a/"));
	assert_true(path_is_inside("/a/", "/a"));
	assert_true(path_is_inside("/a//", "//a//b"));
	assert_false(path_is_inside("/a", "/ab"));
	assert_false(path_is_inside("/a", "/"));
	/* A path shorter than the root. */
	assert_false(path_is_inside("/a/b", "/a"));
	assert_false(path_is_inside("/a/b/c", "/a/b"));
	assert_false(path_is_inside("/a", "/a/../b"));
	assert_false(path_is_inside("/a", "/a/.."));
	assert_true(path_is_inside("/a", "/a/b/.."));
	/* ".." above "/" stays at "/": this is inside. */
	assert_true(path_is_inside("/a", "/../a/x"));
	assert_true(path_is_inside("/", "/anything"));
	assert_true(path_is_inside("/", "/"));
	assert_true(path_is_inside("//", "/x/../../.."));
	/* Relative against absolute never matches. */
	assert_false(path_is_inside("/a", "a/b"));
	assert_false(path_is_inside("a", "/a/b"));
	/* Relative paths. */
	assert_true(path_is_inside("a", "a/b"));
	assert_true(path_is_inside("a/", "./a/b/"));
	assert_false(path_is_inside("a", "b"));
	assert_false(path_is_inside("a", "a/../b"));
	assert_true(path_is_inside(".", "x/y"));
	assert_true(path_is_inside(".", "."));
	assert_false(path_is_inside(".", ".."));
	assert_false(path_is_inside(".", "../x"));
	assert_false(path_is_inside(".", "x/../../y"));
	assert_true(path_is_inside("..", "../x"));
	assert_false(path_is_inside("..", "../../x"));
	assert_false(path_is_inside("../a", "../../a"));
	assert_true(path_is_inside("../a", "../a/b"));
}

static void check_join(const char *a, const char *b, const char *want)
{
	char *got = path_join(a, b);
	if (strcmp(got, want))
		fail_msg("path_join(\"%s\", \"%s\") = \"%s\", want \"%s\"", a, b, got, want);
	free(got);
}

static void test_join(void **state)
{
	(void)state;
	check_join("a", "b", "a/b");
	check_join("a/", "b", "a/b");
	check_join("a//", "//b", "a/b");
	check_join("/", "b", "/b");
	check_join("/", "/b/", "/b/");
	check_join("//", "b", "/b");
	check_join("", "b", "b");
	check_join("a", "", "a");
	check_join("/", "", "/");
	check_join("", "", "");
	check_join("/a/b", "c/d", "/a/b/c/d");
}

static void check_base(const char *in, const char *want)
{
	char *got = path_basename(in);
	if (strcmp(got, want))
		fail_msg("path_basename(\"%s\") = \"%s\", want \"%s\"", in, got, want);
	free(got);
}

static void check_dir(const char *in, const char *want)
{
	char *got = path_dirname(in);
	if (strcmp(got, want))
		fail_msg("path_dirname(\"%s\") = \"%s\", want \"%s\"", in, got, want);
	free(got);
}

static void test_base_dir(void **state)
{
	(void)state;
	check_base("/a/b/", "b");
	check_base("/a/b", "b");
	check_base("b", "b");
	check_base("/", "/");
	check_base("//", "/");
	check_base("a//", "a");
	check_base("", "");
	check_dir("/a/b", "/a");
	check_dir("/a/b/", "/a");
	check_dir("/a//b", "/a");
	check_dir("a", ".");
	check_dir("a/", ".");
	check_dir("/a", "/");
	check_dir("//a", "/");
	check_dir("/", "/");
	check_dir("", ".");
	check_dir("a/b", "a");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_inside),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_base_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
