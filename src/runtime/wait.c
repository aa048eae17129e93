/* runtime_run_wait: for callers that must go on after the command (app
 * launch checks outputs and writes provenance). The child takes exactly
 * runtime_exec()'s path; a failure before execve travels back to the parent
 * through a close-on-exec pipe (EOF means the command started). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/runtime.h"

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define N_FWD (sizeof forwarded / sizeof forwarded[0])

int runtime_run_wait(const struct run_spec *spec, int *status, struct rusage *ru, struct ferr *err)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return ferr_set(err, errno, "pipe");
	struct sigaction sa = {.sa_handler = forward}, old[N_FWD];
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	/* Install before fork so no signal is lost in between; the child
	 * restores the old dispositions before it execs. */
	for (size_t i = 0; i < N_FWD; i++)
		sigaction(forwarded[i], &sa, &old[i]);
	child_pid = 0;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		for (size_t i = 0; i < N_FWD; i++)
			sigaction(forwarded[i], &old[i], NULL);
		close(pfd[0]);
		close(pfd[1]);
		return ferr_set(err, e, "fork");
	}
	if (pid == 0) {
		close(pfd[0]);
		for (size_t i = 0; i < N_FWD; i++)
			sigaction(forwarded[i], &old[i], NULL);
		struct ferr cerr = FERR_INIT;
		if ((spec->stdout_fd > 0 && spec->stdout_fd != 1 && dup2(spec->stdout_fd, 1) < 0) ||
		    (spec->stderr_fd > 0 && spec->stderr_fd != 2 && dup2(spec->stderr_fd, 2) < 0))
			ferr_set(&cerr, errno, "redirect the command's output");
		else
			runtime_exec(spec, &cerr);
		ssize_t w = write(pfd[1], &cerr, sizeof cerr);
		(void)w;
		_exit(cerr.code == FERR_NOCMD ? 127 : cerr.code == FERR_NOEXEC ? 126 : 125);
	}
	child_pid = pid;
	close(pfd[1]);
	if (spec->while_running)
		spec->while_running(spec->while_running_arg);
	struct ferr cerr;
	ssize_t got, total = 0;
	while (total < (ssize_t)sizeof cerr &&
	       ((got = read(pfd[0], (char *)&cerr + total, sizeof cerr - (size_t)total)) > 0 ||
		(got < 0 && errno == EINTR)))
		if (got > 0)
			total += got;
	close(pfd[0]);
	int st = 0;
	struct rusage r;
	pid_t w;
	while ((w = wait4(pid, &st, 0, &r)) < 0 && errno == EINTR)
		;
	int e = errno;
	child_pid = 0;
	for (size_t i = 0; i < N_FWD; i++)
		sigaction(forwarded[i], &old[i], NULL);
	if (w < 0)
		return ferr_set(err, e, "wait for the container");
	if (total == (ssize_t)sizeof cerr) {
		cerr.msg[sizeof cerr.msg - 1] = '\0';
		cerr.hint[sizeof cerr.hint - 1] = '\0';
		*err = cerr;
		return -1;
	}
	*status = st;
	if (ru)
		*ru = r;
	return 0;
}
