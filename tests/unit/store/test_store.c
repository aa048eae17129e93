/* The store's contract with runtime/ and app/: an image that is not there
 * is FERR_NOTFOUND (so callers pull, then retry), and a fresh store is empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/fs.h"
#include "store/store.h"

static char home[256];

static void test_empty_store(void **state)
{
	(void)state;
	snprintf(home, sizeof home, "%s/ferry-test-store-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(home));
	setenv("FERRY_HOME", home, 1);
	unsetenv("FERRY_STORE_PATH");
	struct store *st;
	struct ferr err = FERR_INIT;
	assert_int_equal(store_open(&st, &err), 0);
	struct image_info *info = NULL;
	assert_true(store_resolve(st, "busybox", &info, &err) < 0);
	assert_int_equal(err.code, FERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "docker.io/library/busybox:latest"));
	ferr_clear(&err);
	assert_true(store_resolve(st, "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", &info, &err) < 0);
	assert_int_equal(err.code, FERR_NOTFOUND);
	ferr_clear(&err);
	assert_true(store_resolve(st, "Not A Ref", &info, &err) < 0);
	assert_int_equal(err.code, FERR_USAGE);
	struct store_image *imgs;
	size_t n;
	assert_int_equal(store_list(st, &imgs, &n, &err), 0);
	assert_int_equal(n, 0);
	store_list_free(imgs, n);
	uint64_t freed = 1;
	assert_int_equal(store_prune(st, &freed, &err), 0);
	assert_int_equal(freed, 0);
	store_close(st);
	/* a read-only store path that does not exist is no error */
	setenv("FERRY_STORE_PATH", "/nonexistent/ferry-store", 1);
	assert_int_equal(store_open(&st, &err), 0);
	assert_true(store_resolve(st, "busybox", &info, &err) < 0);
	assert_int_equal(err.code, FERR_NOTFOUND);
	store_close(st);
	fs_rm_rf(home, &err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
