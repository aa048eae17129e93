/* serve/'s path namespace and its containment beneath a user's tree, the
 * account names, and the stable error-code table. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/fs.h"
#include "base/str.h"
#include "serve/internal.h"

static void test_platform_paths(void **state)
{
	(void)state;
	char *rel = NULL;
	bool vip = false;
	assert_int_equal(platform_to_rel("alice", "/alice/in//x.txt/", &rel, &vip), 0);
	assert_string_equal(rel, "in/x.txt");
	assert_false(vip);
	free(rel);
	assert_int_equal(platform_to_rel("alice", "/vip/Home/a", &rel, &vip), 0);
	assert_string_equal(rel, "a");
	assert_true(vip);
	free(rel);
	assert_int_equal(platform_to_rel("alice", "/alice", &rel, &vip), 0);
	assert_string_equal(rel, "");
	free(rel);
	/* others' trees and look-alike names are not the caller's namespace */
	const char *other[] = { "/bob/x", "/alicex/y", "/", "", "/vip/Homes/x", "/vip/x", "/etc/passwd", NULL };
	for (size_t i = 0; other[i]; i++)
		assert_int_equal(platform_to_rel("alice", other[i], &rel, &vip), -1);
	char *p = rel_to_platform("alice", "in/x", false);
	assert_string_equal(p, "/alice/in/x");
	free(p);
	p = rel_to_platform("alice", "", true);
	assert_string_equal(p, "/vip/Home");
	free(p);
}

static void test_beneath(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/ferry-serve-unit.XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	char *tree = xasprintf("%s/alice", tmpl), *other = xasprintf("%s/bob", tmpl);
	assert_int_equal(mkdir(tree, 0700), 0);
	assert_int_equal(mkdir(other, 0700), 0);
	char *f = xasprintf("%s/secret", other);
	struct ferr err = FERR_INIT;
	assert_int_equal(fs_write_atomic(f, "s", 1, 0600, &err), 0);
	char *l1 = xasprintf("%s/up", tree), *l2 = xasprintf("%s/abs", tree), *d = xasprintf("%s/d", tree);
	assert_int_equal(symlink("../bob", l1), 0);
	assert_int_equal(symlink("/etc", l2), 0);
	assert_int_equal(mkdir(d, 0700), 0);
	int root = open(tree, O_PATH | O_DIRECTORY);
	assert_true(root >= 0);
	const char *escape[] = { "../bob/secret", "up/secret", "abs/passwd", "d/../../bob/secret", "/etc/passwd", NULL };
	for (size_t i = 0; escape[i]; i++) {
		int fd = beneath_open(root, escape[i], O_RDONLY, 0);
		assert_true(fd < 0);
		assert_true(errno == EXDEV || errno == ELOOP || errno == ENOENT);
	}
	int fd = beneath_open(root, "d/../d", O_PATH, 0);
	assert_true(fd >= 0);
	close(fd);
	fd = beneath_open(root, "", O_PATH, 0);
	assert_true(fd >= 0);
	close(fd);
	close(root);
	assert_int_equal(fs_rm_rf(tmpl, &err), 0);
	free(tree), free(other), free(f), free(l1), free(l2), free(d);
}

static void test_names(void **state)
{
	(void)state;
	struct ferr err = FERR_INIT;
	const char *good[] = { "alice", "a.b_c-d", "0day", NULL };
	const char *bad[] = { "", "Alice", "../x", "a/b", ".x", "vip", "rest", "a b", NULL };
	for (size_t i = 0; good[i]; i++)
		assert_int_equal(auth_check_name(good[i], &err), 0);
	for (size_t i = 0; bad[i]; i++)
		assert_int_equal(auth_check_name(bad[i], &err), -1);
}

static void test_codes(void **state)
{
	(void)state;
	json_t *t = serve_code_table();
	size_t i;
	json_t *c;
	bool has40101 = false;
	json_array_foreach(t, i, c)
	{
		json_int_t code = json_integer_value(json_object_get(c, "errorCode"));
		has40101 |= code == 40101;
		/* unique */
		for (size_t j = i + 1; j < json_array_size(t); j++)
			assert_int_not_equal(code, json_integer_value(json_object_get(json_array_get(t, j), "errorCode")));
		assert_true(json_string_length(json_object_get(c, "errorMessage")) > 0);
	}
	assert_true(has40101);
	json_decref(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_platform_paths),
		cmocka_unit_test(test_beneath),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
