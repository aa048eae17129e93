/* batch/'s pieces that need no container: the journal's file-system rule,
 * inputs (CSV/TSV typing, hostile tables, JSON Lines), VIP's expansion,
 * and a run created, read and counted through the public API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/fs.h"
#include "base/str.h"
#include "batch/batch.h"
#include "batch/internal.h"

static const char desc_text[] =
	"{\"name\": \"t\", \"tool-version\": \"1\", \"schema-version\": \"0.5\", \"description\": \"d\","
	" \"command-line\": \"echo [N] [S] [L]\", \"container-image\": {\"type\": \"docker\", \"image\": \"x/y:1\"},"
	" \"custom\": {\"vip:dot\": [\"s\", \"n\"]},"
	" \"inputs\": [{\"id\": \"n\", \"name\": \"n\", \"type\": \"Number\", \"integer\": true, \"value-key\": \"[N]\"},"
	"  {\"id\": \"s\", \"name\": \"s\", \"type\": \"String\", \"value-key\": \"[S]\", \"optional\": true},"
	"  {\"id\": \"f\", \"name\": \"f\", \"type\": \"Flag\", \"command-line-flag\": \"-f\", \"optional\": true},"
	"  {\"id\": \"l\", \"name\": \"l\", \"type\": \"Number\", \"list\": true, \"value-key\": \"[L]\", \"optional\": true}]}";

static json_t *desc(void)
{
	json_t *d = json_loads(desc_text, 0, NULL);
	assert_non_null(d);
	return d;
}

static char *tmpfile_with(const char *name, const char *text)
{
	char *dir = xstrdup("/tmp/ferry-unit-batch.XXXXXX");
	assert_non_null(mkdtemp(dir));
	char *p = xasprintf("%s/%s", dir, name);
	struct ferr e = FERR_INIT;
	assert_int_equal(fs_write_atomic(p, text, strlen(text), 0644, &e), 0);
	free(dir);
	return p;
}

static void test_fs_magic(void **state)
{
	(void)state;
	assert_true(journal_fs_is_network(0x6969));     /* NFS */
	assert_true(journal_fs_is_network(0xFF534D42)); /* CIFS */
	assert_true(journal_fs_is_network(0x0BD00BD0)); /* Lustre */
	assert_true(journal_fs_is_network(0x47504653)); /* GPFS */
	assert_false(journal_fs_is_network(0xEF53));    /* ext4 */
	assert_false(journal_fs_is_network(0x01021994)); /* tmpfs */
	assert_false(journal_fs_is_network(0x58465342)); /* xfs */
	assert_string_equal(journal_mode_for("/tmp"), "wal");
}

static void test_csv(void **state)
{
	(void)state;
	json_t *d = desc();
	char *p = tmpfile_with("t.csv", "n,s,f,l\r\n1,\"a,\"\"b\"\"\",yes,1.5;2\n\n2,,0,\nx,s,true,\n3,s,maybe,\n4,\"multi\nline\",1,\n5\n");
	struct batch_inputs in = { 0 };
	struct app_problems pr = { 0 };
	struct ferr e = FERR_INIT;
	assert_int_equal(batch_inputs_add_path(&in, d, p, NULL, &pr, &e), 0);
	assert_int_equal(in.n, 3);
	char *j = json_dumps(in.v[0].inv, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(j, "{\"f\":true,\"l\":[1.5,2],\"n\":1,\"s\":\"a,\\\"b\\\"\"}");
	free(j);
	j = json_dumps(in.v[1].inv, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(j, "{\"f\":false,\"n\":2}"); /* empty cells: absent */
	free(j);
	assert_string_equal(json_string_value(json_object_get(in.v[2].inv, "s")), "multi\nline");
	assert_int_equal(pr.n, 3);
	assert_true(strstr(pr.v[0].path, "t.csv:5") != NULL);
	assert_true(strstr(pr.v[0].msg, "'x' is not an integer") != NULL);
	assert_true(strstr(pr.v[1].msg, "'maybe' is not a flag") != NULL);
	assert_true(strstr(pr.v[2].path, "t.csv:9") != NULL);
	app_problems_free(&pr);
	batch_inputs_free(&in);
	free(p);
	/* an unterminated quote ends the table without reading past it */
	p = tmpfile_with("u.csv", "n,s\n1,\"never closed\n");
	assert_int_equal(batch_inputs_add_path(&in, d, p, NULL, &pr, &e), 0);
	assert_int_equal(in.n, 0);
	assert_int_equal(pr.n, 1);
	app_problems_free(&pr);
	batch_inputs_free(&in);
	free(p);
	json_decref(d);
}

static void test_jsonl_and_array(void **state)
{
	(void)state;
	json_t *d = desc();
	char *p = tmpfile_with("t.jsonl", "{\"n\": 1}\n\n{\"n\": 2}\nnot json\n[1]\n");
	struct batch_inputs in = { 0 };
	struct app_problems pr = { 0 };
	struct ferr e = FERR_INIT;
	assert_int_equal(batch_inputs_add_path(&in, d, p, NULL, &pr, &e), 0);
	assert_int_equal(in.n, 2);
	assert_int_equal(pr.n, 2);
	assert_true(str_ends_with(in.v[1].source, "t.jsonl:3"));
	app_problems_free(&pr);
	batch_inputs_free(&in);
	free(p);
	p = tmpfile_with("a.json", "[{\"n\": 1}, 7, {\"n\": 3}]");
	assert_int_equal(batch_inputs_add_path(&in, d, p, NULL, &pr, &e), 0);
	assert_int_equal(in.n, 2);
	assert_true(str_ends_with(in.v[1].source, "a.json[2]"));
	assert_int_equal(pr.n, 1);
	app_problems_free(&pr);
	batch_inputs_free(&in);
	free(p);
	p = tmpfile_with("bad.json", "{\"n\": ");
	assert_true(batch_inputs_add_path(&in, d, p, NULL, &pr, &e) < 0);
	free(p);
	json_decref(d);
}

static void test_expand(void **state)
{
	(void)state;
	json_t *d = desc();
	struct batch_inputs in = { 0 };
	struct ferr e = FERR_INIT;
	/* s and n pairwise (vip:dot), l's list of lists crossed with them */
	json_t *inv = json_loads("{\"n\": [1, 2], \"s\": [\"a\", \"b\"], \"l\": [[1], [2, 3], [4]], \"f\": true}", 0, NULL);
	assert_int_equal(batch_inputs_expand(&in, d, inv, "x", &e), 0);
	assert_int_equal(in.n, 6);
	char *j = json_dumps(in.v[4].inv, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(j, "{\"f\":true,\"l\":[2,3],\"n\":2,\"s\":\"b\"}");
	free(j);
	json_decref(inv);
	batch_inputs_free(&in);
	/* a plain list for a list input is a value, not iterated */
	inv = json_loads("{\"n\": 1, \"l\": [1, 2]}", 0, NULL);
	assert_int_equal(batch_inputs_expand(&in, d, inv, "x", &e), 0);
	assert_int_equal(in.n, 1);
	json_decref(inv);
	batch_inputs_free(&in);
	inv = json_loads("{\"n\": [1, 2, 3], \"s\": [\"a\", \"b\"]}", 0, NULL);
	assert_true(batch_inputs_expand(&in, d, inv, "x", &e) < 0);
	assert_true(strstr(e.msg, "must have equal lengths") != NULL);
	json_decref(inv);
	json_decref(d);
}

static void test_run(void **state)
{
	(void)state;
	json_t *d = desc();
	char dir[] = "/tmp/ferry-unit-run.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *run = xasprintf("%s/R", dir);
	struct batch_inputs in = { 0 };
	for (int i = 0; i < 1000; i++) {
		json_t *inv = json_pack("{s:i}", "n", i);
		batch_inputs_add(&in, inv, "u");
		json_decref(inv);
	}
	struct batch_opts o = { 0 };
	struct app_problems pr = { 0 };
	struct batch_run *r = NULL;
	struct ferr e = FERR_INIT;
	assert_int_equal(batch_create(run, "d.json", d, &in, &o, &pr, &r, &e), 0);
	assert_int_equal(batch_task_count(r), 1000);
	batch_close(r);
	/* a second create of the same RUN fails and leaves it as it was */
	assert_true(batch_create(run, "d.json", d, &in, &o, &pr, &r, &e) < 0);
	assert_true(strstr(e.hint, "ferry batch resume") != NULL);
	assert_int_equal(batch_open(run, &r, &e), 0);
	struct batch_counts c;
	assert_int_equal(batch_counts(r, &c, &e), 0);
	assert_int_equal(c.total, 1000);
	assert_int_equal(c.n[BATCH_PENDING], 1000);
	struct batch_task t;
	assert_int_equal(batch_task_get(r, 999, &t, &e), 0);
	assert_int_equal(t.state, BATCH_PENDING);
	assert_int_equal(t.exit_code, -1);
	batch_task_clear(&t);
	assert_true(batch_task_get(r, 1000, &t, &e) < 0);
	json_t *inv = batch_task_invocation(r, 7, &e);
	assert_int_equal(json_integer_value(json_object_get(inv, "n")), 7);
	json_decref(inv);
	json_t *st = batch_status_json(r, 0, &e);
	assert_non_null(st);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "counts"), "pending")), 1000);
	json_decref(st);
	batch_close(r);
	/* invalid tasks: all reported, nothing created */
	json_t *bad = json_pack("{s:s}", "n", "one");
	batch_inputs_add(&in, bad, "bad-1");
	batch_inputs_add(&in, bad, "bad-2");
	json_decref(bad);
	char *run2 = xasprintf("%s/R2", dir);
	assert_true(batch_create(run2, "d.json", d, &in, &o, &pr, &r, &e) < 0);
	assert_int_equal(e.code, FERR_INVALID);
	assert_int_equal(pr.n, 2);
	assert_string_equal(pr.v[1].path, "bad-2");
	assert_false(fs_exists(run2));
	app_problems_free(&pr);
	batch_inputs_free(&in);
	fs_rm_rf(dir, &e);
	free(run);
	free(run2);
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fs_magic),   cmocka_unit_test(test_csv),    cmocka_unit_test(test_jsonl_and_array),
		cmocka_unit_test(test_expand),     cmocka_unit_test(test_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
