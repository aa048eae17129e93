/* Unit tests of invocations against bosh 0.5.33 (issue 13): booleans are no
 * numbers, null is no value, the rules bosh does not enforce are reported
 * apart, integers beyond 64 bits are kept exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "app/app.h"
#include "base/json.h"

static json_t *parse(const char *text)
{
	struct ferr err = FERR_INIT;
	json_t *j = app_json_parse(text, strlen(text), "t", &err);
	if (!j)
		fail_msg("parse %s: %s", text, err.msg);
	return j;
}

/* Problems of INSTANCE against SCHEMA; the first one's message must be
 * WANT when given. */
static size_t check(const char *schema, const char *instance, const char *want)
{
	json_t *s = parse(schema), *i = parse(instance);
	struct app_problems p = { 0 };
	size_t n = app_json_schema_validate(s, i, &p);
	assert_int_equal(n, p.n);
	if (want) {
		if (!n)
			fail_msg("%s against %s: no problem, wanted \"%s\"", instance, schema, want);
		assert_string_equal(p.v[0].msg, want);
	}
	app_problems_free(&p);
	json_decref(s);
	json_decref(i);
	return n;
}

static void test_boolean_is_no_number(void **state)
{
	(void)state;
	/* True == 1 in Python, not in jsonschema (bosh's validator) */
	check("{\"enum\":[1,0]}", "true", "True is not one of [1, 0]");
	check("{\"enum\":[1,0]}", "false", "False is not one of [1, 0]");
	assert_int_equal(check("{\"enum\":[1,0]}", "1.0", NULL), 0);
	assert_int_equal(check("{\"enum\":[true]}", "true", NULL), 0);
	check("{\"enum\":[true]}", "1", "1 is not one of [True]");
	check("{\"enum\":[[1]]}", "[true]", "[True] is not one of [[1]]");
	check("{\"type\":\"number\"}", "true", "True is not of type 'number'");
	check("{\"type\":\"integer\"}", "false", "False is not of type 'integer'");
	/* uniqueItems: 1 and true differ, 1 and 1.0 do not */
	assert_int_equal(check("{\"uniqueItems\":true}", "[1, true]", NULL), 0);
	assert_int_equal(check("{\"uniqueItems\":true}", "[0, false, [0], [false]]", NULL), 0);
	assert_int_equal(check("{\"uniqueItems\":true}", "[true, true]", NULL), 1);
}

static const char desc_text[] =
	"{\"name\":\"t\",\"tool-version\":\"1\",\"schema-version\":\"0.5\",\"description\":\"d\","
	"\"command-line\":\"t [S] [D] [A] [B] [M] [X]\",\"inputs\":["
	"{\"id\":\"s\",\"name\":\"s\",\"type\":\"String\",\"optional\":true,\"value-key\":\"[S]\"},"
	"{\"id\":\"d\",\"name\":\"d\",\"type\":\"String\",\"optional\":true,\"default-value\":\"x\",\"value-key\":\"[D]\"},"
	"{\"id\":\"a\",\"name\":\"a\",\"type\":\"String\",\"optional\":true,\"value-key\":\"[A]\"},"
	"{\"id\":\"b\",\"name\":\"b\",\"type\":\"String\",\"optional\":true,\"value-key\":\"[B]\"},"
	"{\"id\":\"m\",\"name\":\"m\",\"type\":\"String\",\"optional\":true,\"value-key\":\"[M]\","
	"\"value-choices\":[\"p\",\"q\"],\"value-requires\":{\"p\":[\"x\"],\"q\":[]},"
	"\"value-disables\":{\"p\":[],\"q\":[\"a\"]}},"
	"{\"id\":\"x\",\"name\":\"x\",\"type\":\"String\",\"optional\":true,\"value-key\":\"[X]\"}],"
	"\"groups\":[{\"id\":\"g\",\"name\":\"g\",\"members\":[\"a\",\"b\"],\"all-or-none\":true}]}";

/* validate (bosh's rules) and soft (the others) for an invocation */
static void run_rules(const char *inv_text, size_t *validate, size_t *soft, char **first)
{
	json_t *desc = parse(desc_text), *inv = parse(inv_text);
	json_t *full = app_invocation_with_defaults(desc, inv);
	struct app_problems p = { 0 }, q = { 0 };
	*validate = app_validate_invocation(desc, full, &p);
	*soft = app_invocation_soft_rules(desc, full, &q);
	*first = p.n ? strdup(p.v[0].msg) : q.n ? strdup(q.v[0].msg) : NULL;
	app_problems_free(&p);
	app_problems_free(&q);
	json_decref(full);
	json_decref(inv);
	json_decref(desc);
}

static void test_null_and_soft_rules(void **state)
{
	(void)state;
	size_t v, s;
	char *m;
	/* null without a default: refused as bosh's schema does */
	run_rules("{\"s\":null}", &v, &s, &m);
	assert_int_equal(v, 1);
	assert_string_equal(m, "None is not of type 'string'");
	free(m);
	/* null with a default: the default */
	json_t *desc = parse(desc_text), *inv = parse("{\"d\":null}");
	json_t *full = app_invocation_with_defaults(desc, inv);
	assert_string_equal(json_get_str(full, "d"), "x");
	json_decref(full);
	json_decref(inv);
	/* a descriptor's own invocation-schema letting null through: still no value */
	json_object_set_new(desc, "invocation-schema", parse("{\"type\":\"object\"}"));
	inv = parse("{\"s\":null}");
	struct app_problems p = { 0 };
	assert_int_equal(app_validate_invocation(desc, inv, &p), 1);
	assert_string_equal(p.v[0].path, "s");
	app_problems_free(&p);
	json_decref(inv);
	json_decref(desc);

	/* one soft problem per violation, none for bosh's validation */
	run_rules("{\"a\":\"1\",\"m\":\"p\"}", &v, &s, &m);
	assert_int_equal(v, 0);
	assert_int_equal(s, 2);
	assert_string_equal(m, "all-or-none group 'g': 'b' must be given too");
	free(m);
	run_rules("{\"a\":\"1\",\"b\":\"2\",\"m\":\"q\"}", &v, &s, &m);
	assert_int_equal(v, 0);
	assert_int_equal(s, 1);
	assert_string_equal(m, "value 'q' of 'm' disables 'a'");
	free(m);
	run_rules("{\"a\":\"1\",\"b\":\"2\",\"m\":\"p\",\"x\":\"3\"}", &v, &s, &m);
	assert_int_equal(v + s, 0);
	assert_null(m);
	/* what bosh refuses is refused by validation, whatever the soft rules say */
	run_rules("{\"m\":\"r\"}", &v, &s, &m);
	assert_int_equal(v, 1);
	assert_string_equal(m, "'r' is not one of ['p', 'q']");
	free(m);
}

static void test_big_integers(void **state)
{
	(void)state;
	json_t *j = parse("{\"a\": 123456789012345678901234567890, \"b\": [-98765432109876543210987654321, 7],"
			  " \"c\": 9223372036854775807, \"d\": -9223372036854775808, \"e\": 9223372036854775808}");
	const json_t *a = json_object_get(j, "a");
	assert_true(app_json_is_bigint(a));
	assert_string_equal(json_string_value(a), "123456789012345678901234567890");
	char *str = app_py_str(a); /* what the command line gets */
	assert_string_equal(str, "123456789012345678901234567890");
	free(str);
	assert_true(app_json_is_bigint(json_array_get(json_object_get(j, "b"), 0)));
	assert_true(json_is_integer(json_array_get(json_object_get(j, "b"), 1)));
	/* the 64-bit limits stay jansson integers; one beyond is big */
	assert_true(json_is_integer(json_object_get(j, "c")));
	assert_true(json_is_integer(json_object_get(j, "d")));
	assert_true(app_json_is_bigint(json_object_get(j, "e")));
	/* printed back as numbers, exactly */
	char *out = app_json_dumps(j, JSON_COMPACT);
	assert_string_equal(out, "{\"a\":123456789012345678901234567890,\"b\":[-98765432109876543210987654321,7],"
				 "\"c\":9223372036854775807,\"d\":-9223372036854775808,\"e\":9223372036854775808}");
	free(out);
	json_decref(j);

	/* strings are never taken for one, even beside one */
	j = parse("{\"s\": \"123456789012345678901234567890\", \"p\": \"\\u00017x\", \"q\": \"\\\\u0000int\","
		  " \"n\": 123456789012345678901234567890}");
	assert_false(app_json_is_bigint(json_object_get(j, "s")));
	assert_string_equal(json_get_str(j, "p"), "\x01" "7x");
	out = app_json_dumps(j, JSON_COMPACT);
	assert_string_equal(out, "{\"s\":\"123456789012345678901234567890\",\"p\":\"\\u00017x\","
				 "\"q\":\"\\\\u0000int\",\"n\":123456789012345678901234567890}");
	free(out);
	json_decref(j);
	/* a float stays a float */
	j = parse("[123456789012345678901234567890.5, 1e20]");
	assert_true(json_is_real(json_array_get(j, 0)));
	json_decref(j);

	/* a string spelling ferry's placeholder with a big integer present: refused as before */
	struct ferr err = FERR_INIT;
	const char *forged = "[\"\\u00010\", 123456789012345678901234567890]";
	assert_null(app_json_parse(forged, strlen(forged), "f", &err));
	assert_non_null(strstr(err.msg, "too big integer"));
	/* other errors keep their line and column */
	const char *bad = "{\"n\": 123456789012345678901234567890, \"x\" 1}";
	const char *bad2 = "{\"n\": 1234567890123456789012345678.0, \"x\" 1}";
	struct ferr e2 = FERR_INIT;
	err = (struct ferr)FERR_INIT;
	assert_null(app_json_parse(bad, strlen(bad), "f", &err));
	assert_null(app_json_parse(bad2, strlen(bad2), "f", &e2));
	assert_string_equal(err.msg, e2.msg);

	/* validation: a number, an integer, not a string, bounds hold */
	check("{\"type\":\"integer\",\"maximum\":10}", "123456789012345678901234567890",
	      "123456789012345678901234567890 is greater than the maximum of 10");
	assert_int_equal(check("{\"type\":\"number\",\"minimum\":0}", "123456789012345678901234567890", NULL), 0);
	check("{\"type\":\"string\"}", "-123456789012345678901234567890",
	      "-123456789012345678901234567890 is not of type 'string'");
	assert_int_equal(check("{\"enum\":[123456789012345678901234567890]}", "123456789012345678901234567890", NULL),
			 0);
	check("{\"enum\":[\"123456789012345678901234567890\"]}", "123456789012345678901234567890",
	      "123456789012345678901234567890 is not one of ['123456789012345678901234567890']");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boolean_is_no_number),
		cmocka_unit_test(test_null_and_soft_rules),
		cmocka_unit_test(test_big_integers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
