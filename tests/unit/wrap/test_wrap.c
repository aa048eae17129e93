/* wrap/'s small parsers: names, FERRY_WRAP_OPTS, Lua/Tcl literals, the
 * module text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/str.h"
#include "wrap/wrap.h"

static void test_names(void **state)
{
	(void)state;
	const char *good[] = {"fsl", "6.0.3", "fsl_6.0.3", "c3d", "ANTs", "x+y", "2.1-rc1", "a.b_c-d", NULL};
	const char *bad[] = {"", ".", "..", ".hidden", "-x", "a/b", "a b", "a\nb", "a$b", "é", "a;b", NULL};
	for (size_t i = 0; good[i]; i++)
		assert_true(wrap_name_valid(good[i]));
	for (size_t i = 0; bad[i]; i++)
		assert_false(wrap_name_valid(bad[i]));
	char long_name[200];
	memset(long_name, 'a', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = 0;
	assert_false(wrap_name_valid(long_name));

	char *t = NULL, *v = NULL;
	struct ferr err = FERR_INIT;
	assert_int_equal(wrap_parse_name("fsl_x/6.0.3_20200820", &t, &v, &err), 0);
	assert_string_equal(t, "fsl_x"); /* never split on '_' */
	assert_string_equal(v, "6.0.3_20200820");
	free(t);
	free(v);
	assert_true(wrap_parse_name("fsl", &t, &v, &err) < 0);
	assert_true(wrap_parse_name("a/b/c", &t, &v, &err) < 0);
	assert_non_null(strstr(err.msg, "'b/c' is not a valid file name"));
	assert_true(wrap_parse_name("../x", &t, &v, &err) < 0);
	assert_true(wrap_parse_name("x/", &t, &v, &err) < 0);
}

static void test_split_opts(void **state)
{
	(void)state;
	char **w = NULL;
	struct ferr err = FERR_INIT;
	assert_int_equal(wrap_split_opts(NULL, &w, &err), 0);
	assert_null(w);
	assert_int_equal(wrap_split_opts("  --gpu   -B /data -e 'MSG=two words' -e \"Q=a\\\"b\" --pwd=/x ", &w, &err), 0);
	assert_int_equal(strv_len(w), 8);
	assert_string_equal(w[0], "--gpu");
	assert_string_equal(w[2], "/data");
	assert_string_equal(w[4], "MSG=two words");
	assert_string_equal(w[6], "Q=a\"b");
	assert_string_equal(w[7], "--pwd=/x");
	strv_free(w);
	w = NULL;
	/* a stray word would be taken for the image by ferry exec */
	assert_true(wrap_split_opts("--gpu stray", &w, &err) < 0);
	assert_non_null(strstr(err.msg, "'stray' is not an option"));
	assert_true(wrap_split_opts("-B", &w, &err) < 0);
	assert_non_null(strstr(err.msg, "-B needs an argument"));
	assert_true(wrap_split_opts("-e 'open", &w, &err) < 0);
	assert_true(wrap_split_opts("--", &w, &err) < 0);
	assert_null(w);
}

static void test_quotes(void **state)
{
	(void)state;
	char *q = wrap_lua_quote("a\"b\\c\nd\x01]]");
	assert_string_equal(q, "\"a\\\"b\\\\c\\010d\\001]]\"");
	free(q);
	q = wrap_tcl_quote("a\"b$c[d]\\e{f}\n");
	assert_string_equal(q, "\"a\\\"b\\$c\\[d\\]\\\\e\\{f\\}\\012\"");
	free(q);
}

static void test_module_text(void **state)
{
	(void)state;
	char *cats[] = {"functional imaging", NULL};
	char *env[] = {"FSLDIR=/store/rootfs/opt/fsl", NULL};
	struct wrap_module_info m = {"fsl", "6.0.3", "sha256:ab", "r/fsl:1", cats, "text with ]] and ]=] inside", env, 2};
	char *t = wrap_module_text(&m, WRAP_MODULE_LUA);
	/* a long bracket level that the text does not close early */
	assert_non_null(strstr(t, "help([==[\ntext with ]] and ]=] inside\n]==])"));
	assert_non_null(strstr(t, "whatis(\"Categories: functional imaging\")"));
	assert_non_null(strstr(t, "for _ = 1, 3 do"));
	assert_non_null(strstr(t, "prepend_path(\"PATH\", pathJoin(dir, \"fsl\", \"6.0.3\", \"bin\"))"));
	assert_non_null(strstr(t, "setenv(\"FSLDIR\", \"/store/rootfs/opt/fsl\")"));
	free(t);
	m.depth = 3;
	t = wrap_module_text(&m, WRAP_MODULE_TCL);
	assert_true(str_starts_with(t, "#%Module1.0\n"));
	assert_non_null(strstr(t, "{$i < 4}"));
	assert_non_null(strstr(t, "prepend-path PATH [file join $dir \"fsl\" \"6.0.3\" bin]"));
	assert_non_null(strstr(t, "setenv FSLDIR \"/store/rootfs/opt/fsl\""));
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_split_opts),
		cmocka_unit_test(test_quotes),
		cmocka_unit_test(test_module_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
