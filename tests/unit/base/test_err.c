/* struct ferr: set, code, errno text, wrap chains, hints, truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"

static void test_set(void **state)
{
	(void)state;
	struct ferr err = FERR_INIT;
	assert_int_equal(ferr_set(&err, 0, "open %s", "x"), -1);
	assert_string_equal(err.msg, "open x");
	assert_int_equal(err.code, FERR_GENERIC);
	assert_int_equal(err.errnum, 0);
	assert_string_equal(err.hint, "");
}

static void test_set_errno(void **state)
{
	(void)state;
	struct ferr err = FERR_INIT;
	ferr_set(&err, ENOENT, "open %s", "/nope");
	char want[256];
	snprintf(want, sizeof want, "open /nope: %s", strerror(ENOENT));
	assert_string_equal(err.msg, want);
	assert_int_equal(err.errnum, ENOENT);
}

static void test_setc(void **state)
{
	(void)state;
	struct ferr err = FERR_INIT;
	assert_int_equal(ferr_setc(&err, FERR_NOTFOUND, 0, "image %s", "busybox"), -1);
	assert_int_equal(err.code, FERR_NOTFOUND);
	assert_string_equal(err.msg, "image busybox");
}

static void test_wrap_chain(void **state)
{
	(void)state;
	struct ferr err = FERR_INIT;
	ferr_setc(&err, FERR_INTEGRITY, 0, "digest mismatch (got %s)", "sha256:cd");
	ferr_wrap(&err, "layer %s", "sha256:ab");
	ferr_wrap(&err, "pull %s", "x:1");
	assert_string_equal(err.msg, "pull x:1: layer sha256:ab: digest mismatch (got sha256:cd)");
	/* Wrapping keeps the code of the failing call. */
	assert_int_equal(err.code, FERR_INTEGRITY);
}

static void test_wrap_empty(void **state)
{
	(void)state;
	struct ferr err = FERR_INIT;
	assert_int_equal(ferr_wrap(&err, "context"), -1);
	assert_string_equal(err.msg, "context");
	assert_int_equal(err.code, FERR_GENERIC);
}

static void test_hint_and_str(void **state)
{
	(void)state;
	struct ferr err = FERR_INIT;
	char buf[FERR_MSG_MAX + 600];
	assert_string_equal(ferr_str(&err, buf, sizeof buf), "unknown error");
	ferr_set(&err, 0, "user namespaces are disabled");
	assert_int_equal(ferr_hint(&err, "sysctl %s=1", "user.max_user_namespaces"), -1);
	assert_string_equal(ferr_str(&err, buf, sizeof buf),
			    "user namespaces are disabled (sysctl user.max_user_namespaces=1)");
	/* A hint survives wrapping, a new error drops it. */
	ferr_wrap(&err, "run");
	assert_string_equal(err.hint, "sysctl user.max_user_namespaces=1");
	ferr_set(&err, 0, "other");
	assert_string_equal(err.hint, "");
	/* A small buffer is truncated, still terminated. */
	char small[8];
	ferr_str(&err, small, sizeof small);
	assert_string_equal(small, "other");
	ferr_hint(&err, "a long hint that does not fit");
	ferr_str(&err, small, sizeof small);
	assert_int_equal(strlen(small), sizeof small - 1);
}

static void test_truncation(void **state)
{
	(void)state;
	struct ferr err = FERR_INIT;
	char big[3 * FERR_MSG_MAX];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ferr_set(&err, EACCES, "%s", big);
	assert_int_equal(strlen(err.msg), FERR_MSG_MAX - 1);
	ferr_wrap(&err, "%s", big);
	assert_int_equal(strlen(err.msg), FERR_MSG_MAX - 1);
	ferr_wrap(&err, "ctx");
	assert_int_equal(strlen(err.msg), FERR_MSG_MAX - 1);
	assert_memory_equal(err.msg, "ctx: aaa", 8);
	ferr_hint(&err, "%s", big);
	assert_int_equal(strlen(err.hint), sizeof err.hint - 1);
	char buf[FERR_MSG_MAX + 600];
	ferr_str(&err, buf, sizeof buf);
	assert_true(strlen(buf) < sizeof buf);
}

static void test_null_and_clear(void **state)
{
	(void)state;
	/* A caller that does not care passes NULL. */
	assert_int_equal(ferr_set(NULL, EIO, "x"), -1);
	assert_int_equal(ferr_setc(NULL, FERR_AUTH, 0, "x"), -1);
	assert_int_equal(ferr_wrap(NULL, "x"), -1);
	assert_int_equal(ferr_hint(NULL, "x"), -1);
	ferr_clear(NULL);
	struct ferr err = FERR_INIT;
	ferr_set(&err, EIO, "boom");
	ferr_hint(&err, "h");
	ferr_clear(&err);
	assert_int_equal(err.code, FERR_OK);
	assert_int_equal(err.errnum, 0);
	assert_string_equal(err.msg, "");
	assert_string_equal(err.hint, "");
}

static void test_wrap_own_message(void **state)
{
	(void)state;
	/* Arguments may point into the error itself. */
	struct ferr err = FERR_INIT;
	ferr_set(&err, 0, "inner");
	ferr_wrap(&err, "%s", err.msg);
	assert_string_equal(err.msg, "inner: inner");
	ferr_hint(&err, "fix %s", err.msg);
	assert_string_equal(err.hint, "fix inner: inner");
	ferr_set(&err, 0, "again %s", err.msg);
	assert_string_equal(err.msg, "again inner: inner");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_set_errno),
		cmocka_unit_test(test_setc),
		cmocka_unit_test(test_wrap_chain),
		cmocka_unit_test(test_wrap_empty),
		cmocka_unit_test(test_hint_and_str),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_null_and_clear),
		cmocka_unit_test(test_wrap_own_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
