/* The JSON-schema validator from several threads at once (issue 15 item 4):
 * the batch engine and the server validate many invocations in one
 * process. Each thread validates with patterns of its own and shared ones,
 * more patterns in all than a cache holds, and must get its own, right,
 * answers every time. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "app/app.h"

#define NTHREADS 8
#define ROUNDS 300
#define NPAT 6 /* per thread: 48 own patterns, beyond a 32-entry cache */

struct job {
	int t;
	json_t *schema;
	json_t *good, *bad;
	size_t wrong; /* rounds with an unexpected answer */
};

static json_t *load(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("%s: %s", text, je.text);
	return j;
}

/* schema: every property named t<T>_<k>_... must be a string matching
 * ^v<T><k>[a-z]*$; "id" must match the shared id pattern. */
static void make(struct job *j, int t)
{
	j->t = t;
	j->wrong = 0;
	j->schema = load("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\",\"pattern\":\"^[0-9,_,a-z,A-Z]*$\"}},"
			 "\"patternProperties\":{}}");
	json_t *pp = json_object_get(j->schema, "patternProperties");
	j->good = json_object();
	j->bad = json_object();
	json_object_set_new(j->good, "id", json_string("ok_1"));
	json_object_set_new(j->bad, "id", json_string("not ok!"));
	for (int k = 0; k < NPAT; k++) {
		char key[64], pat[64], val[64];
		snprintf(key, sizeof key, "^t%d_%d_", t, k);
		snprintf(pat, sizeof pat, "^v%d%d[a-z]*$", t, k);
		json_object_set_new(pp, key, json_pack("{s:s,s:s}", "type", "string", "pattern", pat));
		snprintf(key, sizeof key, "t%d_%d_x", t, k);
		snprintf(val, sizeof val, "v%d%dabc", t, k);
		json_object_set_new(j->good, key, json_string(val));
		snprintf(val, sizeof val, "w%d%dabc", t, k);
		json_object_set_new(j->bad, key, json_string(val));
	}
}

static void *worker(void *arg)
{
	struct job *j = arg;
	for (int r = 0; r < ROUNDS; r++) {
		struct app_problems p = { 0 };
		size_t good = app_json_schema_validate(j->schema, j->good, &p);
		app_problems_free(&p);
		size_t bad = app_json_schema_validate(j->schema, j->bad, &p);
		/* the id, and each of this thread's properties */
		bool ok = good == 0 && bad == NPAT + 1 && p.n == bad && strstr(p.v[0].msg, "does not match");
		app_problems_free(&p);
		j->wrong += !ok;
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	struct job jobs[NTHREADS];
	pthread_t th[NTHREADS];
	for (int t = 0; t < NTHREADS; t++)
		make(&jobs[t], t);
	for (int t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, worker, &jobs[t]), 0);
	for (int t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	for (int t = 0; t < NTHREADS; t++) {
		if (jobs[t].wrong)
			fail_msg("thread %d: %zu of %d rounds answered wrong", t, jobs[t].wrong, ROUNDS);
		json_decref(jobs[t].schema);
		json_decref(jobs[t].good);
		json_decref(jobs[t].bad);
	}
}

/* The same again in fresh processes, the threads released together: a
 * cache shared by the process would be filled by all of them at once (its
 * race is there, at the start). Each child answers with its exit status. */
static pthread_barrier_t go;

static void *racer(void *arg)
{
	struct job *j = arg;
	pthread_barrier_wait(&go);
	for (int r = 0; r < 3; r++) {
		size_t good = app_json_schema_validate(j->schema, j->good, NULL);
		size_t bad = app_json_schema_validate(j->schema, j->bad, NULL);
		j->wrong += good != 0 || bad != NPAT + 1;
	}
	return NULL;
}

static int race_once(void)
{
	struct job jobs[NTHREADS];
	pthread_t th[NTHREADS];
	/* all threads use the same patterns (thread 0's): they meet in a cache */
	for (int t = 0; t < NTHREADS; t++)
		make(&jobs[t], 0);
	pthread_barrier_init(&go, NULL, NTHREADS);
	for (int t = 0; t < NTHREADS; t++)
		if (pthread_create(&th[t], NULL, racer, &jobs[t]))
			return 2;
	size_t wrong = 0;
	for (int t = 0; t < NTHREADS; t++) {
		pthread_join(th[t], NULL);
		wrong += jobs[t].wrong;
	}
	return wrong ? 1 : 0;
}

static void test_threads_fresh_processes(void **state)
{
	(void)state;
	int failed = 0;
	for (int i = 0; i < 100; i++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(race_once());
		int st;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		failed += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	if (failed)
		fail_msg("%d of 100 processes validated wrongly or crashed", failed);
}

/* A validation leaves nothing behind: the same pattern compiled by one
 * call is not reused, wrongly, by the next with another meaning. */
static void test_no_state_between_calls(void **state)
{
	(void)state;
	json_t *s1 = load("{\"pattern\":\"^a+$\"}"), *s2 = load("{\"pattern\":\"^b+$\"}");
	json_t *a = json_string("aaa"), *b = json_string("bbb");
	for (int i = 0; i < 50; i++) {
		assert_int_equal(app_json_schema_validate(s1, a, NULL), 0);
		assert_int_equal(app_json_schema_validate(s2, a, NULL), 1);
		assert_int_equal(app_json_schema_validate(s2, b, NULL), 0);
		assert_int_equal(app_json_schema_validate(s1, b, NULL), 1);
	}
	json_decref(s1);
	json_decref(s2);
	json_decref(a);
	json_decref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_fresh_processes),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_no_state_between_calls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
