/* runtime_run_wait: the same child path as runtime_exec, the caller goes on
 * with the status; failures before execve come back as struct ferr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/fs.h"
#include "base/str.h"
#include "runtime/runtime.h"

static char root[] = "/tmp/ferry-wait-XXXXXX";

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(root))
		return -1;
	char *cmd = xasprintf("cp /bin/busybox %s/busybox", root);
	int r = system(cmd);
	free(cmd);
	return r == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	struct ferr err = FERR_INIT;
	return fs_rm_rf(root, &err);
}

static int run(char **argv, int *status, struct ferr *err)
{
	struct run_spec spec = {.rootfs = root, .argv = argv, .no_home = true};
	struct rusage ru;
	return runtime_run_wait(&spec, status, &ru, err);
}

static void test_status(void **state)
{
	(void)state;
	char *argv[] = {"/busybox", "sh", "-c", "exit 3", NULL};
	int st = -1;
	struct ferr err = FERR_INIT;
	int r = run(argv, &st, &err);
	if (r < 0 && err.code == FERR_PERM)
		skip(); /* no user namespaces on this machine */
	assert_int_equal(r, 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 3);

	char *kill_argv[] = {"/busybox", "sh", "-c", "kill -TERM $$", NULL};
	assert_int_equal(run(kill_argv, &st, &err), 0);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), 15);
}

static void test_errors(void **state)
{
	(void)state;
	char *argv[] = {"no-such-command", NULL};
	int st = -1;
	struct ferr err = FERR_INIT;
	int r = run(argv, &st, &err);
	if (r < 0 && err.code == FERR_PERM)
		skip();
	assert_int_equal(r, -1);
	assert_int_equal(err.code, FERR_NOCMD);
	assert_non_null(strstr(err.msg, "no-such-command"));

	char *noexec[] = {"/", NULL};
	ferr_clear(&err);
	assert_int_equal(run(noexec, &st, &err), -1);
	assert_int_equal(err.code, FERR_NOEXEC);

	struct run_spec spec = {.rootfs = "/nonexistent/rootfs", .argv = argv};
	ferr_clear(&err);
	assert_int_equal(runtime_run_wait(&spec, &st, NULL, &err), -1);
	assert_int_equal(err.code, FERR_NOTFOUND);
}

static void test_stdout_fd(void **state)
{
	(void)state;
	char path[] = "/tmp/ferry-wait-out-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	char *argv[] = {"/busybox", "echo", "captured", NULL};
	struct run_spec spec = {.rootfs = root, .argv = argv, .no_home = true, .stdout_fd = fd};
	int st = -1;
	struct ferr err = FERR_INIT;
	int r = runtime_run_wait(&spec, &st, NULL, &err);
	if (r < 0 && err.code == FERR_PERM)
		skip();
	assert_int_equal(r, 0);
	assert_int_equal(WEXITSTATUS(st), 0);
	char buf[64] = "";
	assert_int_equal(pread(fd, buf, sizeof buf - 1, 0), 9);
	assert_string_equal(buf, "captured\n");
	close(fd);
	unlink(path);
}

static void test_forward_sigterm(void **state)
{
	(void)state;
	/* A helper process signals us while we wait: the command must get it. */
	pid_t me = getpid();
	pid_t killer = fork();
	assert_true(killer >= 0);
	if (killer == 0) {
		/* Wait until run_wait has forked (its handlers are installed
		 * before the fork), then signal. Our own pid is a child too. */
		char path[64], buf[256];
		snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)me, (int)me);
		for (int i = 0; i < 2000; i++) {
			FILE *f = fopen(path, "r");
			size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
			if (f)
				fclose(f);
			buf[n] = '\0';
			if (!f || strchr(buf, ' ') != strrchr(buf, ' ') || (n && strtol(buf, NULL, 10) != getpid()))
				break;
			usleep(10 * 1000);
		}
		usleep(100 * 1000); /* let the child reach execve: either way it gets the signal */
		kill(me, SIGTERM);
		_exit(0);
	}
	char *argv[] = {"/busybox", "sleep", "5", NULL};
	struct run_spec spec = {.rootfs = root, .argv = argv, .no_home = true};
	int st = -1;
	struct ferr err = FERR_INIT;
	int r = runtime_run_wait(&spec, &st, NULL, &err);
	waitpid(killer, NULL, 0);
	if (r < 0 && err.code == FERR_PERM)
		skip();
	assert_int_equal(r, 0);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGTERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_stdout_fd),
		cmocka_unit_test(test_forward_sigterm),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
