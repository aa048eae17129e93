/* squash_parse_env_script: the plain assignments of an Apptainer env
 * script, expanded in order; anything a shell would have to run is left out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/str.h"
#include "runtime/internal.h"

static const char *get(char **env, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], name, n) && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

static char **parse(const char *text)
{
	char **env = NULL;
	squash_parse_env_script(text, strlen(text), &env);
	return env;
}

static void test_docker2singularity(void **state)
{
	(void)state;
	char **env = parse("#!/bin/sh\n"
			   "export PATH=\"/opt/conda/bin:$PATH\"\n"
			   "export LANG=\"${LANG:-\"C.UTF-8\"}\"\n"
			   "  export TZ=UTC  \n"
			   "FSLDIR='/opt/fsl'\n"
			   "export FSLDIR\n"
			   "export BOTH=\"${FSLDIR}/bin:$TZ\"\n");
	assert_string_equal(get(env, "PATH"), "/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	assert_string_equal(get(env, "LANG"), "C.UTF-8");
	assert_string_equal(get(env, "TZ"), "UTC");
	assert_string_equal(get(env, "FSLDIR"), "/opt/fsl");
	assert_string_equal(get(env, "BOTH"), "/opt/fsl/bin:UTC");
	strv_free(env);
}

static void test_left_out(void **state)
{
	(void)state;
	char **env = parse("export A=\"$(id -u)\"\n"
			   "export B=`hostname`\n"
			   "if true; then export C=1; fi\n"
			   "export D=two words\n"
			   "export E=\"unterminated\n"
			   "export F=${G\n"
			   "export 1BAD=x\n"
			   "export OK='$(kept literally)'\n"
			   "export LAST=x; rm -rf /\n");
	assert_null(get(env, "A"));
	assert_null(get(env, "B"));
	assert_null(get(env, "C"));
	assert_null(get(env, "D"));
	assert_null(get(env, "E"));
	assert_null(get(env, "F"));
	assert_null(get(env, "1BAD"));
	assert_null(get(env, "LAST"));
	assert_string_equal(get(env, "OK"), "$(kept literally)");
	strv_free(env);
}

static void test_override_in_order(void **state)
{
	(void)state;
	char **env = NULL;
	strv_push(&env, "X=from-config");
	const char *s = "export X=\"$X-more\"\nexport X=again-$X\n";
	squash_parse_env_script(s, strlen(s), &env);
	assert_string_equal(get(env, "X"), "again-from-config-more");
	size_t n = 0;
	while (env[n])
		n++;
	assert_int_equal(n, 1);
	strv_free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_docker2singularity),
		cmocka_unit_test(test_left_out),
		cmocka_unit_test(test_override_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
