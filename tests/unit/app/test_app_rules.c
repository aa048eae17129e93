/* Unit tests of bosh's Boutiques rules (src/app/rules.c): each rule alone,
 * on a descriptor that breaks it and on one that does not, with bosh's
 * exact message and ferry's JSON path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "app/rules.h"

/* A valid descriptor with `patch` merged over it (top-level keys). */
static json_t *desc(const char *patch)
{
	json_error_t je;
	json_t *d = json_loads("{\"name\": \"t\", \"tool-version\": \"1\", \"schema-version\": \"0.5\","
			       " \"description\": \"d\", \"command-line\": \"tool [A]\","
			       " \"inputs\": [{\"id\": \"a\", \"name\": \"a\", \"type\": \"String\", "
			       "\"value-key\": \"[A]\"}]}",
			       0, &je);
	json_t *p = json_loads(patch, 0, &je);
	if (!d || !p)
		fail_msg("bad test JSON: %s", je.text);
	json_object_update(d, p);
	json_decref(p);
	return d;
}

/* Run one rule on the patched descriptor; expect n problems, the first
 * (when given) at path with message msg, verbatim. */
static void expect(desc_rule_fn *fn, const char *patch, size_t n, const char *path, const char *msg)
{
	json_t *d = desc(patch);
	struct rule_ctx rc;
	rule_ctx_init(&rc, d);
	struct app_problems p = { 0 };
	fn(&rc, &p);
	if (p.n != n) {
		for (size_t i = 0; i < p.n; i++)
			print_message("# got %s: %s\n", p.v[i].path, p.v[i].msg);
		fail_msg("%s: %zu problems, want %zu", patch, p.n, n);
	}
	if (path) {
		assert_string_equal(p.v[0].path, path);
		assert_string_equal(p.v[0].msg, msg);
	}
	app_problems_free(&p);
	rule_ctx_free(&rc);
	json_decref(d);
}

static void test_order(void **state)
{
	(void)state;
	static const char *const want[] = { "keys-used",
					    "keys-distinct",
					    "ids-unique",
					    "shared-keys",
					    "path-templates-unique",
					    "conditional-paths",
					    "condition-depth",
					    "inputs",
					    "groups",
					    "tests",
					    "container-index",
					    NULL };
	size_t i = 0;
	for (; desc_rules[i].name; i++) {
		assert_non_null(want[i]);
		assert_string_equal(desc_rules[i].name, want[i]);
	}
	assert_null(want[i]);
}

static void test_keys_used(void **state)
{
	(void)state;
	const char *two = "{\"inputs\": [{\"id\": \"a\", \"name\": \"a\", \"type\": \"String\", "
			  "\"value-key\": \"[A]\"},"
			  " {\"id\": \"b\", \"name\": \"b\", \"type\": \"String\", \"value-key\": \"[B]\"}]";
	char patch[1024];
	snprintf(patch, sizeof patch, "%s}", two);
	expect(rule_keys_used, patch, 1, "inputs[1].value-key",
	       "   KeyError: \"[B]\" not in command-line or file template or environment variables");
	snprintf(patch, sizeof patch,
		 "%s, \"environment-variables\": [{\"name\": \"B\", \"value\": \"[B]\"}]}", two);
	expect(rule_keys_used, patch, 0, NULL, NULL);
	snprintf(patch, sizeof patch,
		 "%s, \"output-files\": [{\"id\": \"o\", \"name\": \"o\", \"path-template\": \"x\","
		 " \"file-template\": [\"b=[B]\"]}]}",
		 two);
	expect(rule_keys_used, patch, 0, NULL, NULL);
}

static void test_keys_distinct(void **state)
{
	(void)state;
	expect(rule_keys_distinct,
	       "{\"command-line\": \"tool [A] [A]x\", \"inputs\": ["
	       "{\"id\": \"a\", \"name\": \"a\", \"type\": \"String\", \"value-key\": \"[A]\"},"
	       "{\"id\": \"b\", \"name\": \"b\", \"type\": \"String\", \"value-key\": \"[A]x\"}]}",
	       1, "inputs[1].value-key", "   KeyError: \"[A]x\" contains \"[A]\"");
	expect(rule_keys_distinct, "{}", 0, NULL, NULL);
}

static void test_ids_unique(void **state)
{
	(void)state;
	expect(rule_ids_unique,
	       "{\"inputs\": [{\"id\": \"a\", \"name\": \"a\", \"type\": \"String\", \"value-key\": "
	       "\"[A]\"}],"
	       " \"output-files\": [{\"id\": \"a\", \"name\": \"o\", \"path-template\": \"x\"}]}",
	       1, "output-files[0].id", "    IdError: \"a\" is non-unique");
	expect(rule_ids_unique, "{}", 0, NULL, NULL);
}

static void test_shared_keys(void **state)
{
	(void)state;
	const char *ins =
		"\"inputs\": [{\"id\": \"a\", \"name\": \"a\", \"type\": \"String\", \"optional\": true,"
		" \"value-key\": \"[A]\"}, {\"id\": \"b\", \"name\": \"b\", \"type\": \"String\","
		" \"optional\": true, \"value-key\": \"[A]\"}]";
	char patch[1024];
	/* bosh crashes without groups; ferry reports what bosh means */
	snprintf(patch, sizeof patch, "{%s}", ins);
	expect(rule_shared_keys, patch, 1, "inputs[1].value-key",
	       " MutExError: \"[A]\" belongs to 2+ non exclusive IDs");
	snprintf(patch, sizeof patch,
		 "{%s, \"groups\": [{\"id\": \"g\", \"name\": \"g\", \"members\": [\"a\", \"b\"]}]}", ins);
	expect(rule_shared_keys, patch, 1, "inputs[1].value-key",
	       " MutExError: \"[A]\" belongs to 2+ non exclusive IDs");
	snprintf(patch, sizeof patch,
		 "{%s, \"groups\": [{\"id\": \"g\", \"name\": \"g\", \"members\": [\"a\", \"b\"],"
		 " \"mutually-exclusive\": true}]}",
		 ins);
	expect(rule_shared_keys, patch, 0, NULL, NULL);
}

static void test_path_templates_unique(void **state)
{
	(void)state;
	const char *p = "{\"output-files\": [{\"id\": \"o1\", \"name\": \"o\", \"path-template\": \"x\"},"
			" {\"id\": \"o2\", \"name\": \"o\", \"path-template\": \"x\"}]}";
	expect(rule_path_templates_unique, p, 2, "output-files[0].path-template",
	       "OutputError: \"o1\" and \"o2\" have the same path-template");
	expect(rule_path_templates_unique,
	       "{\"output-files\": [{\"id\": \"o1\", \"name\": \"o\", \"path-template\": \"x\"},"
	       " {\"id\": \"o2\", \"name\": \"o\", \"path-template\": \"y\"}]}",
	       0, NULL, NULL);
}

static void test_conditional_paths(void **state)
{
	(void)state;
	expect(rule_conditional_paths,
	       "{\"output-files\": [{\"id\": \"o\", \"name\": \"o\", \"conditional-path-template\": [{\"a == "
	       "'x'\": \"x\"}]}]}",
	       1, "output-files[0].conditional-path-template",
	       "OutputError: \"o\". Non-optional output-file with conditional-path-template must contain "
	       "\"default\" path-template.");
	expect(rule_conditional_paths,
	       "{\"output-files\": [{\"id\": \"o\", \"name\": \"o\", \"conditional-path-template\":"
	       " [{\"zz == 1\": \"x\"}, {\"default\": \"y\"}]}]}",
	       /* and so is its comparison */ 2, "output-files[0].conditional-path-template[0]",
	       "OutputError: \"o\" contains non-python keyword and non-ID string: \"zz\"");
	/* bosh's type check: a String compared with a number */
	expect(rule_conditional_paths,
	       "{\"output-files\": [{\"id\": \"o\", \"name\": \"o\", \"conditional-path-template\":"
	       " [{\"a == 1\": \"x\"}, {\"default\": \"y\"}]}]}",
	       1, "output-files[0].conditional-path-template[0]",
	       "OutputError: Conditional output \"a == 1\" contains invalid conditional expression. Verify "
	       "arguments' type and allowed keywords in expression.");
	/* optional outputs are not checked (bosh's rule) */
	expect(rule_conditional_paths,
	       "{\"output-files\": [{\"id\": \"o\", \"name\": \"o\", \"optional\": true, "
	       "\"conditional-path-template\":"
	       " [{\"zz == 1\": \"x\"}]}]}",
	       0, NULL, NULL);
	expect(rule_conditional_paths,
	       "{\"output-files\": [{\"id\": \"o\", \"name\": \"o\", \"conditional-path-template\":"
	       " [{\"a == 'x'\": \"x\"}, {\"default\": \"y\"}]}]}",
	       0, NULL, NULL);
}

static void test_condition_depth(void **state)
{
	(void)state;
	for (int depth = COND_MAX_DEPTH; depth <= COND_MAX_DEPTH + 1; depth++) {
		char cond[1024] = "", patch[2048];
		for (int i = 0; i < depth; i++)
			strcat(cond, "(");
		strcat(cond, "a == 'x'");
		for (int i = 0; i < depth; i++)
			strcat(cond, ")");
		snprintf(patch, sizeof patch,
			 "{\"output-files\": [{\"id\": \"o\", \"name\": \"o\", \"optional\": true,"
			 " \"conditional-path-template\": [{\"%s\": \"x\"}]}]}",
			 cond);
		if (depth <= COND_MAX_DEPTH)
			expect(rule_condition_depth, patch, 0, NULL, NULL);
		else
			expect(rule_condition_depth, patch, 1, "output-files[0].conditional-path-template[0]",
			       "OutputError: \"o\" has a condition nested deeper than 100 levels");
	}
}

static void test_inputs(void **state)
{
	(void)state;
	/* 7a: types */
	expect(rule_inputs,
	       "{\"inputs\": [{\"id\": \"f\", \"name\": \"f\", \"type\": \"Flag\", \"value-key\": \"[A]\"}]}",
	       2, "inputs[0]", " InputError: \"f\" must have a command-line flag");
	expect(rule_inputs,
	       "{\"inputs\": [{\"id\": \"n\", \"name\": \"n\", \"type\": \"Number\", \"minimum\": 5, "
	       "\"maximum\": 1.5,"
	       " \"value-key\": \"[A]\"}]}",
	       1, "inputs[0]", " InputError: \"n\" cannot have greater min (5) than max (1.5)");
	expect(rule_inputs,
	       "{\"inputs\": [{\"id\": \"s\", \"name\": \"s\", \"type\": \"String\", \"value-choices\": "
	       "[\"x\"],"
	       " \"default-value\": \"y\", \"value-key\": \"[A]\"}]}",
	       1, "inputs[0]", " InputError: \"s\" cannot have default value outside its choices");
	/* 7b: lists */
	expect(rule_inputs,
	       "{\"inputs\": [{\"id\": \"l\", \"name\": \"l\", \"type\": \"String\", \"list\": true,"
	       " \"min-list-entries\": 3, \"max-list-entries\": 2, \"value-key\": \"[A]\"}]}",
	       1, "inputs[0]", " InputError: \"l\" cannot have greater min entries (3) than max entries (2)");
	/* 7c: requires/disables */
	expect(rule_inputs,
	       "{\"inputs\": [{\"id\": \"a\", \"name\": \"a\", \"type\": \"String\", \"optional\": true,"
	       " \"requires-inputs\": [\"zz\"], \"value-key\": \"[A]\"}]}",
	       1, "inputs[0].requires-inputs[0]", " InputError: \"a\" required id \"zz\" not found");
	expect(rule_inputs,
	       "{\"inputs\": [{\"id\": \"a\", \"name\": \"a\", \"type\": \"String\", \"disables-inputs\": "
	       "[\"b\"],"
	       " \"value-key\": \"[A]\"}, {\"id\": \"b\", \"name\": \"b\", \"type\": \"String\", "
	       "\"value-key\": \"[B]\"}]}",
	       2, "inputs[0].disables-inputs[0]", " InputError: \"a\" disables required id \"b\"");
	/* 7d: value-requires/disables */
	expect(rule_inputs,
	       "{\"inputs\": [{\"id\": \"a\", \"name\": \"a\", \"type\": \"String\", \"value-requires\": {},"
	       " \"value-key\": \"[A]\"}]}",
	       1, "inputs[0]",
	       " InputError: \"a\" cannot have have value-opts without value-choices defined.");
	expect(rule_inputs,
	       "{\"inputs\": [{\"id\": \"a\", \"name\": \"a\", \"type\": \"String\", \"value-choices\": "
	       "[\"x\", \"y\"],"
	       " \"value-requires\": {\"x\": []}, \"value-key\": \"[A]\"}]}",
	       1, "inputs[0].value-requires",
	       " InputError: \"a\" value-requires list is not the same as the value-choices");
	expect(rule_inputs, "{}", 0, NULL, NULL);
}

static void test_groups(void **state)
{
	(void)state;
	const char *ins =
		"\"inputs\": [{\"id\": \"a\", \"name\": \"a\", \"type\": \"String\", \"value-key\": \"[A]\"},"
		" {\"id\": \"b\", \"name\": \"b\", \"type\": \"String\", \"optional\": true, \"value-key\": "
		"\"[B]\"}]";
	char patch[1024];
	/* 8a */
	snprintf(patch, sizeof patch,
		 "{%s, \"groups\": [{\"id\": \"g\", \"name\": \"g\", \"members\": [\"zz\", \"b\", \"b\"]}]}",
		 ins);
	expect(rule_groups, patch, 2, "groups[0].members[0]",
	       " GroupError: \"g\" member \"zz\" does not exist");
	/* 8b */
	snprintf(patch, sizeof patch,
		 "{%s, \"groups\": [{\"id\": \"g\", \"name\": \"g\", \"members\": [\"a\", \"b\"], "
		 "\"mutually-exclusive\": true}]}",
		 ins);
	expect(rule_groups, patch, 1, "groups[0]",
	       " GroupError: \"g\" is mutually-exclusive and cannot have required members, such as \"a\"");
	/* 8c */
	snprintf(patch, sizeof patch,
		 "{%s, \"groups\": [{\"id\": \"g\", \"name\": \"g\", \"members\": [\"a\", \"b\"], "
		 "\"one-is-required\": true}]}",
		 ins);
	expect(rule_groups, patch, 1, "groups[0]",
	       " GroupError: \"g\" is a one-is-required group and contains a required member, \"a\"");
	/* 8d */
	snprintf(patch, sizeof patch,
		 "{%s, \"groups\": [{\"id\": \"g\", \"name\": \"g\", \"members\": [\"b\"], \"all-or-none\": "
		 "true,"
		 " \"one-is-required\": true}]}",
		 ins);
	expect(rule_groups, patch, 1, "groups[0]",
	       " GroupError: \"g\" is an all-or-none group and cannot be paired with one-is-required or "
	       "mutually-exclusive groups");
	snprintf(patch, sizeof patch,
		 "{%s, \"groups\": [{\"id\": \"g\", \"name\": \"g\", \"members\": [\"b\"], "
		 "\"mutually-exclusive\": true}]}",
		 ins);
	expect(rule_groups, patch, 0, NULL, NULL);
}

static void test_tests(void **state)
{
	(void)state;
	const char *outs = "\"output-files\": [{\"id\": \"o\", \"name\": \"o\", \"path-template\": \"x\"}]";
	char patch[1024];
	snprintf(patch, sizeof patch,
		 "{%s, \"tests\": [{\"name\": \"t1\", \"invocation\": {}, \"assertions\": {\"output-files\": "
		 "[{\"id\": \"zz\"}]}}]}",
		 outs);
	expect(rule_tests, patch, 1, "tests[0].assertions.output-files",
	       "TestError: \"zz\" output id not found, in test \"t1\"");
	snprintf(
		patch, sizeof patch,
		"{%s, \"tests\": [{\"name\": \"t1\", \"invocation\": {}, \"assertions\": {\"exit-code\": 0}},"
		" {\"name\": \"t1\", \"invocation\": {}, \"assertions\": {\"exit-code\": 0}}]}",
		outs);
	expect(rule_tests, patch, 1, "tests", "TestError: \"t1\" test name is non-unique");
	snprintf(patch, sizeof patch,
		 "{%s, \"tests\": [{\"name\": \"t1\", \"invocation\": {}, \"assertions\": {\"output-files\": "
		 "[{\"id\": \"o\"}]}}]}",
		 outs);
	expect(rule_tests, patch, 0, NULL, NULL);
}

static void test_container_index(void **state)
{
	(void)state;
	expect(rule_container_index,
	       "{\"container-image\": {\"type\": \"singularity\", \"image\": \"docker://x\", \"index\": "
	       "\"shub://\"}}",
	       1, "container-image.index",
	       "ContainerError: container image \"docker://x\" is prepended by index that doesn't match "
	       "container index value \"shub://\"");
	expect(rule_container_index,
	       "{\"container-image\": {\"type\": \"singularity\", \"image\": \"docker://x\", \"index\": "
	       "\"docker://\"}}",
	       0, NULL, NULL);
	/* bosh crashes on rootfs images (no `image`) */
	expect(rule_container_index, "{\"container-image\": {\"type\": \"rootfs\", \"url\": \"x\"}}", 0, NULL,
	       NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_keys_used),
		cmocka_unit_test(test_keys_distinct),
		cmocka_unit_test(test_ids_unique),
		cmocka_unit_test(test_shared_keys),
		cmocka_unit_test(test_path_templates_unique),
		cmocka_unit_test(test_conditional_paths),
		cmocka_unit_test(test_condition_depth),
		cmocka_unit_test(test_inputs),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_tests),
		cmocka_unit_test(test_container_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
