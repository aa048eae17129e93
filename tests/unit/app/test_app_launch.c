/* Unit tests of src/app's launch in three steps (plan, run, record): eight
 * invocations planned in one process and run at once from threads, each
 * with its own exit status, output and record; and the one-pass
 * substitution that keeps a value's value-keys literal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "app/app.h"
#include "app/internal.h"
#include "base/fs.h"

#define N 8

static json_t *load(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("bad test JSON: %s", je.text);
	return j;
}

/* a tool that prints its argument on stdout and on stderr, then exits with it */
static json_t *tool(int i)
{
	char text[1024];
	snprintf(text, sizeof text,
		 "{\"name\": \"tool %d\", \"tool-version\": \"1\", \"schema-version\": \"0.5\", "
		 "\"description\": \"d\","
		 " \"command-line\": \"echo out-[N]; echo err-[N] >&2; exit [N]\","
		 " \"inputs\": [{\"id\": \"n\", \"name\": \"n\", \"type\": \"Number\", \"integer\": true, "
		 "\"value-key\": \"[N]\"}],"
		 " \"error-codes\": [{\"code\": 3, \"description\": \"three\"}]}",
		 i);
	return load(text);
}

struct job {
	struct app_plan plan;
	struct app_result res;
	int rc;
	struct ferr err;
};

static void *run_one(void *arg)
{
	struct job *j = arg;
	j->rc = app_launch_run(&j->plan, &j->res, &j->err);
	return NULL;
}

static char *scratch(void)
{
	char tmpl[] = "/tmp/ferry-test-app-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

static void test_eight_at_once(void **state)
{
	(void)state;
	char *dir = scratch();
	assert_int_equal(chdir(dir), 0);
	setenv("HOME", dir, 1);
	json_t *desc[N], *inv[N];
	struct job jobs[N];
	memset(jobs, 0, sizeof jobs);
	for (int i = 0; i < N; i++) {
		desc[i] = tool(i);
		char text[64];
		snprintf(text, sizeof text, "{\"n\": %d}", i);
		inv[i] = load(text);
		struct app_launch_opts o = { .desc_arg = "tool.json", .no_container = true, .quiet = true };
		jobs[i].err = (struct ferr)FERR_INIT;
		assert_int_equal(app_launch_plan(desc[i], inv[i], &o, &jobs[i].plan, &jobs[i].err), 0);
		assert_false(jobs[i].plan.container);
		assert_string_equal(jobs[i].plan.argv[0], "/bin/sh");
		assert_string_equal(jobs[i].plan.argv[1], "-c");
		char want[128];
		snprintf(want, sizeof want, "echo out-%d; echo err-%d >&2; exit %d", i, i, i);
		assert_string_equal(jobs[i].plan.job.cmdline, want);
		assert_null(jobs[i].plan.argv[3]);
	}
	/* the tools' output is passed through to ours: keep it off the TAP stream */
	fflush(stdout);
	int saved_out = dup(1), saved_err = dup(2), null = open("/dev/null", O_WRONLY);
	assert_true(saved_out >= 0 && saved_err >= 0 && null >= 0);
	dup2(null, 1);
	dup2(null, 2);
	pthread_t th[N];
	for (int i = 0; i < N; i++)
		assert_int_equal(pthread_create(&th[i], NULL, run_one, &jobs[i]), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	close(null);
	for (int i = 0; i < N; i++) {
		struct job *j = &jobs[i];
		assert_int_equal(j->rc, 0);
		assert_true(j->res.started);
		assert_int_equal(j->res.exit_code, i);
		char want[32];
		snprintf(want, sizeof want, "out-%d\n", i);
		assert_string_equal(j->res.out_text, want);
		snprintf(want, sizeof want, "err-%d\n", i);
		assert_string_equal(j->res.err_text, want);
		assert_string_equal(j->res.error_message, i == 3 ? "three" : "");
		assert_int_equal(app_launch_record(&j->plan, &j->res, &j->err), 0);
		assert_non_null(j->res.record_path);
		json_error_t je;
		json_t *rec = json_load_file(j->res.record_path, 0, &je);
		assert_non_null(rec);
		json_t *po = json_object_get(rec, "public-output");
		assert_int_equal(json_integer_value(json_object_get(po, "exit-code")), i);
		snprintf(want, sizeof want, "out-%d\n", i);
		assert_string_equal(json_string_value(json_object_get(po, "stdout")), want);
		json_decref(rec);
		app_result_free(&j->res);
		app_plan_free(&j->plan);
		json_decref(desc[i]);
		json_decref(inv[i]);
	}
	assert_int_equal(chdir("/"), 0);
	struct ferr err = FERR_INIT;
	assert_int_equal(fs_rm_rf(dir, &err), 0);
	free(dir);
}

/* A failing plan leaves nothing to free and says why. */
static void test_plan_refuses(void **state)
{
	(void)state;
	json_t *d = tool(0);
	json_t *inv = load("{\"n\": \"x\"}");
	struct app_launch_opts o = { .no_container = true };
	struct app_plan pl;
	struct ferr err = FERR_INIT;
	assert_int_equal(app_launch_plan(d, inv, &o, &pl, &err), -1);
	assert_non_null(strstr(err.msg, "invalid invocation"));
	assert_null(pl.argv);
	json_decref(inv);
	json_decref(d);
}

/* Value-keys are replaced in one pass: a value holding another input's key
 * stays literal (bosh 0.5.33 expands it: shell injection). */
static void test_one_pass(void **state)
{
	(void)state;
	json_t *d = load(
		"{\"name\": \"t\", \"tool-version\": \"1\", \"schema-version\": \"0.5\", \"description\": "
		"\"d\","
		" \"command-line\": \"echo [A] [B] [O]\","
		" \"inputs\": [{\"id\": \"a\", \"name\": \"a\", \"type\": \"String\", \"value-key\": "
		"\"[A]\"},"
		"            {\"id\": \"b\", \"name\": \"b\", \"type\": \"String\", \"value-key\": \"[B]\"}],"
		" \"output-files\": [{\"id\": \"o\", \"name\": \"o\", \"path-template\": \"o_[A].txt\", "
		"\"value-key\": \"[O]\"}]}");
	json_t *inv = load("{\"a\": \"[B][O]\", \"b\": \"; touch /tmp/x ;\"}");
	struct app_job job;
	struct ferr err = FERR_INIT;
	assert_int_equal(app_job_build(&job, d, inv, 0, &err), 0);
	assert_string_equal(job.cmdline, "echo '[B][O]' '; touch /tmp/x ;' 'o_[B][O].txt'");
	assert_string_equal(json_string_value(json_object_get(job.outputs, "o")), "o_[B][O].txt");
	app_job_free(&job);
	json_decref(inv);
	json_decref(d);
}

static void check_ref(const char *image, const char *index, const char *want)
{
	char *got = app_image_ref(image, index);
	assert_string_equal(got, want);
	free(got);
}

/* The descriptor's image and index as a store reference: the index applies
 * to an image on Docker Hub, unless the index is Docker Hub itself (any of
 * its names: image_ref_parse knows them). */
static void test_image_ref(void **state)
{
	(void)state;
	check_ref("busybox", NULL, "busybox");
	check_ref("docker://busybox:1.36", "", "busybox:1.36");
	check_ref("test/busybox:latest", "http://127.0.0.1:5000", "127.0.0.1:5000/test/busybox:latest");
	check_ref("test/busybox", "docker://127.0.0.1:5000/", "127.0.0.1:5000/test/busybox");
	check_ref("tool", "localhost", "localhost/tool");
	for (const char *const *hub =
		     (const char *const[]){ "docker.io", "index.docker.io", "registry-1.docker.io",
					    "registry.hub.docker.com", "docker://index.docker.io/", NULL };
	     *hub; hub++)
		check_ref("boutiques/example1:test", *hub, "boutiques/example1:test");
	/* an image naming its own registry keeps it */
	check_ref("quay.io/x/y:1", "http://127.0.0.1:5000", "quay.io/x/y:1");
	check_ref("localhost:5000/y", "http://127.0.0.1:5000", "localhost:5000/y");
	check_ref("oci:/some/layout:tag", "http://127.0.0.1:5000", "oci:/some/layout:tag");
	check_ref("shub://x/y", "shub://", "x/y");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eight_at_once),
		cmocka_unit_test(test_plan_refuses),
		cmocka_unit_test(test_one_pass),
		cmocka_unit_test(test_image_ref),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
