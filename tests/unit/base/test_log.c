/* Log levels (-q, default, -v, -vv) and warnings kept for re-printing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "testutil.h"

static char *emit_all(int level)
{
	struct capture c;
	log_level = level;
	capture_start(&c);
	log_warn("w%d", 1);
	log_info("i%d", 2);
	log_debug("d%d", 3);
	char *out = capture_end(&c);
	log_level = LOG_WARN;
	return out;
}

static void test_levels(void **state)
{
	(void)state;
	_cleanup_free_ char *q = emit_all(LOG_QUIET);
	assert_string_equal(q, "");
	_cleanup_free_ char *w = emit_all(LOG_WARN);
	assert_string_equal(w, "ferry: warning: w1\n");
	_cleanup_free_ char *i = emit_all(LOG_INFO);
	assert_string_equal(i, "ferry: warning: w1\nferry: i2\n");
	_cleanup_free_ char *d = emit_all(LOG_DEBUG);
	assert_string_equal(d, "ferry: warning: w1\nferry: i2\nferry: debug: d3\n");
}

static void test_kept_warnings(void **state)
{
	(void)state;
	size_t before = log_warning_count();
	struct capture c;
	capture_start(&c);
	/* One warning is not worth repeating. */
	log_reprint_warnings();
	char big[1000];
	memset(big, 'y', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	for (int i = 0; i < 30; i++)
		log_warn("layer %d: device node skipped", i);
	log_warn("%s", big);
	_cleanup_free_ char *during = capture_end(&c);
	assert_int_equal(log_warning_count(), before + 31);
	assert_non_null(strstr(during, "ferry: warning: layer 29: device node skipped\n"));

	capture_start(&c);
	log_reprint_warnings();
	_cleanup_free_ char *again = capture_end(&c);
	/* The count says how many there were; the first ones are repeated. */
	char head[64];
	snprintf(head, sizeof head, "ferry: %zu warning(s) were printed:\n", before + 31);
	assert_non_null(strstr(again, head));
	assert_non_null(strstr(again, "ferry: warning: layer 0: device node skipped\n"));
	/* Every repeated line is a bounded, complete line. */
	for (char *l = again; *l;) {
		char *nl = strchr(l, '\n');
		assert_non_null(nl);
		assert_true(nl - l < 300);
		l = nl + 1;
	}
	/* At -q nothing is repeated. */
	log_level = LOG_QUIET;
	capture_start(&c);
	log_reprint_warnings();
	_cleanup_free_ char *quiet = capture_end(&c);
	log_level = LOG_WARN;
	assert_string_equal(quiet, "");
}

static void *warn_many(void *arg)
{
	for (int i = 0; i < 500; i++)
		log_warn("thread %d warning %d", *(int *)arg, i);
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	size_t before = log_warning_count();
	struct capture c;
	capture_start(&c);
	pthread_t th[4];
	int ids[4] = { 0, 1, 2, 3 };
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, warn_many, &ids[i]), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	_cleanup_free_ char *out = capture_end(&c);
	assert_int_equal(log_warning_count(), before + 2000);
	size_t lines = 0;
	for (char *p = out; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_kept_warnings),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
