/* jansson helpers: errors name file:line:col, typed getters, atomic write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/cleanup.h"
#include "base/json.h"
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

static void test_load_ok(void **state)
{
	const char *t = *state;
	struct ferr err = FERR_INIT;
	_cleanup_free_ char *p = xasprintf("%s/ok.json", t);
	put_file(p, "{\"name\": \"busybox\", \"n\": 3, \"list\": [1, 2]}\n");
	_cleanup_json_ json_t *j = json_load_path(p, &err);
	assert_non_null(j);
	assert_string_equal(json_get_str(j, "name"), "busybox");
	assert_null(json_get_str(j, "n"));    /* not a string */
	assert_null(json_get_str(j, "list")); /* not a string */
	assert_null(json_get_str(j, "missing"));
	assert_null(json_get_str(json_object_get(j, "list"), "x")); /* not an object */
	assert_null(json_get_str(NULL, "x"));
	/* Any JSON value is accepted at the top, not only objects. */
	_cleanup_free_ char *s = xasprintf("%s/str.json", t);
	put_file(s, "\"just a string\"");
	_cleanup_json_ json_t *js = json_load_path(s, &err);
	assert_true(json_is_string(js));
}

static void test_load_errors(void **state)
{
	const char *t = *state;
	struct ferr err = FERR_INIT;
	_cleanup_free_ char *p = xasprintf("%s/bad.json", t);
	put_file(p, "{\n  \"a\": 1,\n  \"b\": ]\n}\n");
	assert_null(json_load_path(p, &err));
	assert_int_equal(err.code, FERR_INVALID);
	_cleanup_free_ char *want = xasprintf("%s:3:8: invalid JSON: ", p);
	if (!str_starts_with(err.msg, want))
		fail_msg("got \"%s\", want a message starting with \"%s\"", err.msg, want);

	_cleanup_free_ char *e = xasprintf("%s/empty.json", t);
	put_file(e, "");
	assert_null(json_load_path(e, &err));
	assert_int_equal(err.code, FERR_INVALID);
	assert_true(str_starts_with(err.msg, e));

	_cleanup_free_ char *m = xasprintf("%s/missing.json", t);
	assert_null(json_load_path(m, &err));
	assert_int_equal(err.code, FERR_NOTFOUND);
	assert_int_equal(err.errnum, ENOENT);
	assert_non_null(strstr(err.msg, m));

	/* A directory is no JSON file and no "not found" either. */
	assert_null(json_load_path(t, &err));
	assert_int_not_equal(err.code, FERR_NOTFOUND);
	assert_non_null(strstr(err.msg, t));
}

static void test_load_buf(void **state)
{
	(void)state;
	struct ferr err = FERR_INIT;
	const char *good = "[1,2,3]";
	_cleanup_json_ json_t *j = json_load_buf(good, strlen(good), "manifest", &err);
	assert_int_equal(json_array_size(j), 3);
	const char *bad = "{\"a\":\n\n   tru}";
	assert_null(json_load_buf(bad, strlen(bad), "manifest sha256:ab", &err));
	assert_int_equal(err.code, FERR_INVALID);
	assert_true(str_starts_with(err.msg, "manifest sha256:ab:3:"));
	/* Only len bytes are parsed: no NUL terminator needed. */
	const char *prefix = "{}garbage";
	_cleanup_json_ json_t *p = json_load_buf(prefix, 2, "x", &err);
	assert_true(json_is_object(p));
	/* NUL bytes inside strings are refused, not truncated. */
	const char nul[] = "\"a\\u0000b\"";
	assert_null(json_load_buf(nul, sizeof nul - 1, "x", &err));
}

static void test_write_atomic(void **state)
{
	const char *t = *state;
	struct ferr err = FERR_INIT;
	_cleanup_free_ char *p = xasprintf("%s/out.json", t);
	_cleanup_json_ json_t *j = json_pack("{s:s, s:[i,i]}", "name", "x", "v", 1, 2);
	assert_int_equal(json_write_atomic(p, j, 0, &err), 0);
	_cleanup_free_ char *compact = NULL;
	assert_int_equal(fs_read_file(p, &compact, NULL, &err), 0);
	assert_null(strchr(compact, '\n'));
	assert_int_equal(json_write_atomic(p, j, 2, &err), 0);
	_cleanup_free_ char *indented = NULL;
	assert_int_equal(fs_read_file(p, &indented, NULL, &err), 0);
	assert_non_null(strstr(indented, "\n  \""));
	_cleanup_json_ json_t *back = json_load_path(p, &err);
	assert_true(json_equal(j, back));
	_cleanup_free_ char *bad = xasprintf("%s/missing/out.json", t);
	assert_true(json_write_atomic(bad, j, 0, &err) < 0);
	assert_non_null(strstr(err.msg, "missing"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_load_ok),
		T(test_load_errors),
		T(test_load_buf),
		T(test_write_atomic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
