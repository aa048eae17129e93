/* Unit tests of src/app: Python's formatting rules, the JSON-schema
 * validator, conditional expressions, invocation schemas and command lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "app/app.h"
#include "app/internal.h"

static void check_quote(const char *in, const char *want)
{
	char *got = app_shlex_quote(in);
	assert_string_equal(got, want);
	free(got);
}

static void test_shlex_quote(void **state)
{
	(void)state;
	check_quote("", "''");
	check_quote("abc-_@%+=:,./09", "abc-_@%+=:,./09");
	check_quote("a b", "'a b'");
	check_quote("fo '; echo FAIL", "'fo '\"'\"'; echo FAIL'");
	check_quote("x; touch /tmp/pwned", "'x; touch /tmp/pwned'");
	check_quote("$(id)", "'$(id)'");
	check_quote("`id`", "'`id`'");
	check_quote("caf\xc3\xa9", "'caf\xc3\xa9'");
	check_quote("a\tb\nc", "'a\tb\nc'");
	check_quote("'", "''\"'\"''");
	check_quote("~user", "'~user'");
	check_quote("*", "'*'");
}

static void check_float(double x, const char *want)
{
	char *got = app_py_float_repr(x);
	assert_string_equal(got, want);
	free(got);
}

static void test_float_repr(void **state)
{
	(void)state;
	check_float(3.0, "3.0");
	check_float(1e5, "100000.0");
	check_float(1.5e-7, "1.5e-07");
	check_float(0.0001, "0.0001");
	check_float(1e16, "1e+16");
	check_float(-0.0, "-0.0");
	check_float(2.5, "2.5");
	check_float(3.141592653589793, "3.141592653589793");
	check_float(0.1, "0.1");
	check_float(1e15, "1000000000000000.0");
	check_float(123456789012345678.0, "1.2345678901234568e+17");
	check_float(-1.25e-5, "-1.25e-05");
	check_float(1.0 / 3, "0.3333333333333333");
}

static void check_repr(const char *json, const char *want)
{
	json_error_t je;
	json_t *j = json_loads(json, JSON_DECODE_ANY, &je);
	assert_non_null(j);
	char *got = app_py_repr(j);
	assert_string_equal(got, want);
	free(got);
	json_decref(j);
}

static void test_py_repr(void **state)
{
	(void)state;
	check_repr("\"a\"", "'a'");
	check_repr("\"it's\"", "\"it's\"");
	check_repr("\"both ' and \\\"\"", "'both \\' and \"'");
	check_repr("[\"fo ; echo FAIL\", \"bar\"]", "['fo ; echo FAIL', 'bar']");
	check_repr("{\"ship\": \"ship\"}", "OrderedDict([('ship', 'ship')])");
	check_repr("[true, false, null, 1, 2.0]", "[True, False, None, 1, 2.0]");
	check_repr("{}", "OrderedDict()");
	check_repr("\"a\\nb\\u0001\"", "'a\\nb\\x01'");
}

static size_t nproblems(const char *schema, const char *inst, const char *first)
{
	json_error_t je;
	json_t *s = json_loads(schema, 0, &je), *i = json_loads(inst, JSON_DECODE_ANY, &je);
	assert_non_null(s);
	assert_non_null(i);
	struct app_problems p = { 0 };
	size_t n = app_json_schema_validate(s, i, &p);
	if (first) {
		assert_true(n > 0);
		assert_string_equal(p.v[0].msg, first);
	}
	app_problems_free(&p);
	json_decref(s);
	json_decref(i);
	return n;
}

static void test_json_schema(void **state)
{
	(void)state;
	assert_int_equal(nproblems("{\"type\":\"integer\"}", "1", NULL), 0);
	/* draft-04: 1.0 is not an integer */
	nproblems("{\"type\":\"integer\"}", "1.0", "1.0 is not of type 'integer'");
	nproblems("{\"required\":[\"a\"]}", "{}", "'a' is a required property");
	nproblems("{\"additionalProperties\":false,\"properties\":{\"a\":{}}}", "{\"a\":1,\"b\":2,\"c\":3}",
		  "Additional properties are not allowed ('b', 'c' were unexpected)");
	nproblems("{\"minItems\":1}", "[]", "[] is too short");
	nproblems("{\"enum\":[\"a\",\"b\"]}", "\"c\"", "'c' is not one of ['a', 'b']");
	nproblems("{\"minimum\":1,\"exclusiveMinimum\":true}", "1", "1 is less than or equal to the minimum of 1");
	nproblems("{\"maximum\":2}", "2.5", "2.5 is greater than the maximum of 2");
	nproblems("{\"pattern\":\"^[a-z]+$\"}", "\"A\"", "'A' does not match '^[a-z]+$'");
	nproblems("{\"dependencies\":{\"b\":[\"a\"]}}", "{\"b\":1}", "'a' is a dependency of 'b'");
	nproblems("{\"not\":{}}", "1", "OrderedDict() is not allowed for 1");
	nproblems("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"boolean\"}]}", "1",
		  "1 is not valid under any of the given schemas");
	assert_int_equal(nproblems("{\"oneOf\":[{\"type\":\"number\"},{\"type\":\"integer\"}]}", "1", NULL), 1);
	assert_int_equal(nproblems("{\"definitions\":{\"x\":{\"type\":\"string\"}},\"$ref\":\"#/definitions/x\"}",
				   "\"s\"", NULL), 0);
	assert_int_equal(nproblems("{\"uniqueItems\":true}", "[1, 1.0]", NULL), 1);
	/* the embedded descriptor schema loads */
	assert_non_null(app_descriptor_schema());
}

static int eval(const char *expr)
{
	char **t = cond_tokens(expr);
	struct ferr err = FERR_INIT;
	int r = cond_eval(t, &err);
	strv_free(t);
	return r;
}

static void test_conditions(void **state)
{
	(void)state;
	assert_int_equal(eval("\"True\" and (11 > 10.00)"), 1);
	assert_int_equal(eval("\"False\""), 1); /* flags become non-empty strings */
	assert_int_equal(eval("False"), 0);
	assert_int_equal(eval("5>10"), 0);
	assert_int_equal(eval("1 < 2 < 3"), 1);
	assert_int_equal(eval("not (1 == 1) or 2 != 2"), 0);
	assert_int_equal(eval("\"a\" == \"a\""), 1);
	assert_true(eval("\"a\" < 1") < 0);
	assert_true(eval("(1 == 1") < 0);
	char **t = cond_tokens("a>=1 and(b<2)");
	const char *want[] = { "a", ">=", "1", "and", "(", "b", "<", "2", ")" };
	for (size_t i = 0; i < 9; i++)
		assert_string_equal(t[i], want[i]);
	assert_null(t[9]);
	strv_free(t);
}

static json_t *load(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("%s", je.text);
	return j;
}

static const char desc_text[] =
	"{\"name\":\"t\",\"tool-version\":\"1\",\"schema-version\":\"0.5\",\"description\":\"d\","
	"\"command-line\":\"[A] tool [B] [N] [F] [L] [O] [G]\","
	"\"inputs\":["
	"{\"id\":\"a\",\"name\":\"a\",\"type\":\"Flag\",\"optional\":true,\"command-line-flag\":\"-a\",\"value-key\":\"[A]\"},"
	"{\"id\":\"b\",\"name\":\"b\",\"type\":\"String\",\"optional\":true,\"value-key\":\"[B]\",\"command-line-flag\":\"--b\",\"command-line-flag-separator\":\"=\"},"
	"{\"id\":\"n\",\"name\":\"n\",\"type\":\"Number\",\"optional\":true,\"value-key\":\"[N]\"},"
	"{\"id\":\"f\",\"name\":\"f\",\"type\":\"File\",\"value-key\":\"[F]\"},"
	"{\"id\":\"l\",\"name\":\"l\",\"type\":\"String\",\"list\":true,\"optional\":true,\"list-separator\":\",\",\"value-key\":\"[L]\"},"
	"{\"id\":\"g\",\"name\":\"g\",\"type\":\"Flag\",\"optional\":true,\"command-line-flag\":\"-g\",\"value-key\":\"[G]\"}],"
	"\"output-files\":[{\"id\":\"o\",\"name\":\"o\",\"path-template\":\"out/[F].bak\",\"value-key\":\"[O]\","
	"\"path-template-stripped-extensions\":[\".nii\",\".nii.gz\"]}]}";

static char *cmdline_for(json_t *desc, const char *inv_text, json_t **outputs)
{
	json_t *inv = load(inv_text);
	json_t *full = app_invocation_with_defaults(desc, inv);
	struct app_problems p = { 0 };
	assert_int_equal(app_validate_invocation(desc, full, &p), 0);
	struct app_job job;
	struct ferr err = FERR_INIT;
	assert_int_equal(app_job_build(&job, desc, full, 0, &err), 0);
	char *c = xstrdup(job.cmdline);
	if (outputs)
		*outputs = json_incref(job.outputs);
	app_job_free(&job);
	json_decref(full);
	json_decref(inv);
	return c;
}

static void test_cmdline(void **state)
{
	(void)state;
	json_t *d = load(desc_text);
	struct app_problems p = { 0 };
	assert_int_equal(app_validate_descriptor(d, &p), 0);
	json_t *outs = NULL;
	char *c = cmdline_for(d, "{\"f\":\"dir/a.nii.gz\",\"b\":\"x y\",\"n\":1e5,\"l\":[\"p\",\"q r\"],\"a\":false,\"g\":true}",
			      &outs);
	/* a false flag at position 0 leaves its key; stripped in list order */
	assert_string_equal(c, "[A] tool --b='x y' 100000.0 dir/a.nii.gz p,'q r' out/a.gz.bak -g");
	assert_string_equal(json_string_value(json_object_get(outs, "o")), "out/a.gz.bak");
	json_decref(outs);
	free(c);
	c = cmdline_for(d, "{\"f\":\"x; touch /tmp/pwned\"}", NULL);
	assert_string_equal(c, " tool 'x; touch /tmp/pwned' out/pwned.bak");
	free(c);
	json_decref(d);
}

/* Every generated invocation schema of the conformance corpus, when it is
 * beside the source tree (CI keeps shared/ next to the clone). */
static void test_schema_generation_corpus(void **state)
{
	(void)state;
	char corpus[4096], srcroot[4096];
	if (getenv("FERRY_SRC"))
		snprintf(srcroot, sizeof srcroot, "%s", getenv("FERRY_SRC"));
	else {
		/* __FILE__ is relative to the build directory, an ancestor of this binary */
		char exe[4096] = "", tmp[8192];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		exe[n > 0 ? n : 0] = '\0';
		char *r = NULL;
		while (!r && strrchr(exe, '/')) {
			*strrchr(exe, '/') = '\0';
			if (__FILE__[0] == '/')
				snprintf(tmp, sizeof tmp, "%s", __FILE__);
			else
				snprintf(tmp, sizeof tmp, "%s/%s", exe, __FILE__);
			r = realpath(tmp, NULL);
		}
		if (!r)
			skip();
		for (int k = 0; k < 4 && strrchr(r, '/'); k++)
			*strrchr(r, '/') = '\0';
		snprintf(srcroot, sizeof srcroot, "%s", r);
		free(r);
	}
	snprintf(corpus, sizeof corpus, "%s/../shared/conformance/boutiques/cases.json", srcroot);
	json_error_t je;
	json_t *cases = json_load_file(corpus, 0, &je);
	if (!cases)
		skip();
	size_t checked = 0;
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", corpus);
	*strrchr(dir, '/') = '\0';
	for (size_t i = 0; i < json_array_size(cases); i++) {
		json_t *e = json_object_get(json_array_get(cases, i), "expect");
		const char *src_kind = json_string_value(json_object_get(e, "invocation_schema_source"));
		if (!src_kind || strcmp(src_kind, "generated"))
			continue;
		char dp[8192], sp[8192];
		snprintf(dp, sizeof dp, "%s/%s", dir,
			 json_string_value(json_object_get(json_array_get(cases, i), "descriptor")));
		snprintf(sp, sizeof sp, "%s/%s", dir, json_string_value(json_object_get(e, "invocation_schema")));
		json_t *desc = json_load_file(dp, 0, &je), *want = json_load_file(sp, 0, &je);
		assert_non_null(desc);
		assert_non_null(want);
		json_t *got = app_invocation_schema_generate(desc);
		if (!json_equal(got, want)) {
			char *g = json_dumps(got, JSON_SORT_KEYS);
			fail_msg("%s: generated schema differs: %s", dp, g);
		}
		checked++;
		json_decref(got);
		json_decref(want);
		json_decref(desc);
	}
	assert_true(checked > 30);
	json_decref(cases);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shlex_quote),	 cmocka_unit_test(test_float_repr),
		cmocka_unit_test(test_py_repr),		 cmocka_unit_test(test_json_schema),
		cmocka_unit_test(test_conditions),	 cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_schema_generation_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
