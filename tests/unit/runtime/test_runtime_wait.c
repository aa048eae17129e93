/* runtime_run_wait: the same child path as runtime_exec, the caller goes on
 * with the status; failures before execve come back as struct ferr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
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

/* One process, 8 containers at once from 8 threads: runtime_spawn keeps
 * no process-wide state, so each gets its own exit status and output.
 * Half use runtime_spawn + runtime_child_wait, half runtime_run_wait. */
#define N_PAR 8
/* All threads exist before any forks: a fork while another thread is
 * being created can copy a held allocator lock into the child (GCC 12's
 * AddressSanitizer has no fork handler), which would hang the child. */
static pthread_barrier_t par_start;
struct par {
	int n;
	int rc, status;
	struct ferr err;
	char out[64];
};

static void *par_run(void *arg)
{
	struct par *p = arg;
	pthread_barrier_wait(&par_start);
	char path[] = "/tmp/ferry-par-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		p->rc = -2;
		return NULL;
	}
	unlink(path);
	char script[128];
	/* sleep: the eight are alive at the same time. */
	snprintf(script, sizeof script, "echo out-%d; /busybox sleep 0.3; exit %d", p->n, 10 + p->n);
	char *argv[] = {"/busybox", "sh", "-c", script, NULL};
	struct run_spec spec = {.rootfs = root, .argv = argv, .no_home = true, .stdout_fd = fd};
	if (p->n % 2) {
		struct runtime_child c;
		p->rc = runtime_spawn(&spec, &c, &p->err);
		if (p->rc == 0) {
			assert_true(c.pidfd >= 0 || errno == ENOSYS);
			p->rc = runtime_child_wait(&c, &p->status, NULL, &p->err);
		}
	} else {
		p->rc = runtime_run_wait(&spec, &p->status, NULL, &p->err);
	}
	ssize_t k = pread(fd, p->out, sizeof p->out - 1, 0);
	p->out[k > 0 ? k : 0] = '\0';
	close(fd);
	return NULL;
}

static void test_parallel(void **state)
{
	(void)state;
	struct par ps[N_PAR];
	pthread_t th[N_PAR];
	assert_int_equal(pthread_barrier_init(&par_start, NULL, N_PAR), 0);
	for (int i = 0; i < N_PAR; i++) {
		ps[i] = (struct par){.n = i, .err = FERR_INIT};
		assert_int_equal(pthread_create(&th[i], NULL, par_run, &ps[i]), 0);
	}
	for (int i = 0; i < N_PAR; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&par_start);
	if (ps[0].rc < 0 && ps[0].err.code == FERR_PERM)
		skip();
	for (int i = 0; i < N_PAR; i++) {
		char want[32];
		snprintf(want, sizeof want, "out-%d\n", i);
		if (ps[i].rc != 0)
			fail_msg("container %d: %s", i, ps[i].err.msg);
		assert_true(WIFEXITED(ps[i].status));
		assert_int_equal(WEXITSTATUS(ps[i].status), 10 + i);
		assert_string_equal(ps[i].out, want);
	}
}

/* The error channel and the pidfd are the caller's: a failure before
 * execve comes back from runtime_child_wait, and the caller can signal. */
static void test_spawn_owned(void **state)
{
	(void)state;
	char *argv[] = {"/busybox", "sleep", "5", NULL};
	struct run_spec spec = {.rootfs = root, .argv = argv, .no_home = true};
	struct runtime_child c;
	struct ferr err = FERR_INIT;
	int r = runtime_spawn(&spec, &c, &err);
	assert_int_equal(r, 0);
	if (c.pidfd >= 0)
		assert_int_equal(syscall(SYS_pidfd_send_signal, c.pidfd, SIGUSR1, NULL, 0), 0);
	else
		assert_int_equal(kill(c.pid, SIGUSR1), 0);
	int st = -1;
	r = runtime_child_wait(&c, &st, NULL, &err);
	if (r < 0 && err.code == FERR_PERM)
		skip();
	assert_int_equal(r, 0);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGUSR1);

	char *missing[] = {"no-such-command", NULL};
	spec.argv = missing;
	assert_int_equal(runtime_spawn(&spec, &c, &err), 0);
	assert_int_equal(runtime_child_wait(&c, &st, NULL, &err), -1);
	assert_int_equal(err.code, FERR_NOCMD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_stdout_fd),
		cmocka_unit_test(test_forward_sigterm),
		cmocka_unit_test(test_parallel),
		cmocka_unit_test(test_spawn_owned),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
