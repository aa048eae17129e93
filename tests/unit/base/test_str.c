/* Dynamic strings, x* allocators, prefix/suffix, string vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/str.h"

static void test_dstr_append_growth(void **state)
{
	(void)state;
	struct dstr s = DSTR_INIT;
	/* Grow well past the first allocation, one byte at a time. */
	for (int i = 0; i < 10000; i++)
		dstr_appendc(&s, (char)('a' + i % 26));
	assert_int_equal(s.len, 10000);
	assert_true(s.cap > s.len);
	assert_int_equal(strlen(s.buf), 10000);
	assert_int_equal(s.buf[26], 'a');
	dstr_clear(&s);
	assert_int_equal(s.len, 0);
	assert_string_equal(s.buf, "");
	dstr_append(&s, "abc");
	dstr_appendn(&s, "defXXX", 3);
	dstr_appendn(&s, "", 0);
	assert_string_equal(s.buf, "abcdef");
	/* Embedded NUL bytes are kept. */
	dstr_appendn(&s, "g\0h", 3);
	assert_int_equal(s.len, 9);
	assert_memory_equal(s.buf, "abcdefg\0h", 10);
	dstr_free(&s);
	assert_null(s.buf);
	assert_int_equal(s.len, 0);
	dstr_free(&s); /* twice is fine */
}

static void test_dstr_printf(void **state)
{
	(void)state;
	struct dstr s = DSTR_INIT;
	dstr_printf(&s, "%s=%d", "n", 42);
	dstr_printf(&s, ",%05.1f", 3.14159);
	assert_string_equal(s.buf, "n=42,003.1");
	/* A long formatted piece forces a reallocation mid-printf. */
	char big[5000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	dstr_printf(&s, "[%s]", big);
	assert_int_equal(s.len, 10 + 2 + sizeof big - 1);
	assert_int_equal(s.buf[s.len - 1], ']');
	assert_int_equal(s.buf[s.len], '\0');
	dstr_printf(&s, "%s", "");
	assert_int_equal(s.len, 10 + 2 + sizeof big - 1);
	dstr_free(&s);
}

static void test_dstr_shquoted(void **state)
{
	(void)state;
	struct dstr s = DSTR_INIT;
	dstr_append_shquoted(&s, "plain");
	dstr_appendc(&s, ' ');
	dstr_append_shquoted(&s, "it's $HOME `x`");
	dstr_appendc(&s, ' ');
	dstr_append_shquoted(&s, "");
	assert_string_equal(s.buf, "'plain' 'it'\\''s $HOME `x`' ''");
	dstr_free(&s);
}

static void test_dstr_steal(void **state)
{
	(void)state;
	struct dstr s = DSTR_INIT;
	char *e = dstr_steal(&s);
	assert_string_equal(e, "");
	free(e);
	dstr_append(&s, "hello");
	char *h = dstr_steal(&s);
	assert_string_equal(h, "hello");
	assert_null(s.buf);
	assert_int_equal(s.len, 0);
	assert_int_equal(s.cap, 0);
	free(h);
	/* s is reusable after a steal. */
	dstr_append(&s, "again");
	assert_string_equal(s.buf, "again");
	dstr_free(&s);
}

static void test_x_alloc(void **state)
{
	(void)state;
	_cleanup_free_ char *a = xstrdup("abc");
	_cleanup_free_ char *b = xstrndup("abcdef", 2);
	_cleanup_free_ char *c = xasprintf("%s-%03d", "v", 7);
	_cleanup_free_ int *z = xcalloc(16, sizeof *z);
	assert_string_equal(a, "abc");
	assert_string_equal(b, "ab");
	assert_string_equal(c, "v-007");
	for (int i = 0; i < 16; i++)
		assert_int_equal(z[i], 0);
	/* Zero-size requests still give a pointer that can be freed. */
	void *m = xmalloc(0);
	assert_non_null(m);
	m = xrealloc(m, 0);
	assert_non_null(m);
	free(m);
	void *c0 = xcalloc(0, 0);
	assert_non_null(c0);
	free(c0);
	_cleanup_free_ char *r = xmalloc(4);
	memcpy(r, "abc", 4);
	r = xrealloc(r, 4096);
	assert_string_equal(r, "abc");
}

static void test_starts_ends(void **state)
{
	(void)state;
	assert_true(str_starts_with("docker://x", "docker://"));
	assert_true(str_starts_with("abc", ""));
	assert_false(str_starts_with("ab", "abc"));
	assert_true(str_ends_with("layer.tar.gz", ".gz"));
	assert_true(str_ends_with("x", ""));
	assert_true(str_ends_with("gz", "gz"));
	assert_false(str_ends_with("z", "gz"));
	assert_false(str_ends_with("", "a"));
}

static void test_strv(void **state)
{
	(void)state;
	char **v = NULL;
	assert_int_equal(strv_len(v), 0);
	strv_free(NULL);
	const char *words[] = { "a", "bb", "", "ccc" };
	for (size_t i = 0; i < 4; i++) {
		strv_push(&v, words[i]);
		assert_int_equal(strv_len(v), i + 1);
		assert_null(v[i + 1]);
	}
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(v[i], words[i]);
	/* Entries are copies. */
	assert_ptr_not_equal(v[0], words[0]);
	strv_free(v);

	/* The cleanup attribute frees a vector at scope exit. */
	{
		_cleanup_strv_ char **w = NULL;
		for (int i = 0; i < 100; i++)
			strv_push(&w, "x");
		assert_int_equal(strv_len(w), 100);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dstr_append_growth), cmocka_unit_test(test_dstr_printf),
		cmocka_unit_test(test_dstr_steal), cmocka_unit_test(test_dstr_shquoted),         cmocka_unit_test(test_x_alloc),
		cmocka_unit_test(test_starts_ends),        cmocka_unit_test(test_strv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
