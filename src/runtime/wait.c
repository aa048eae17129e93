/* runtime_spawn: a container in a child process that the caller owns — a
 * pidfd to wait on and signal, and the error channel through which a
 * failure before execve comes back (a close-on-exec pipe: EOF means the
 * command started). Nothing here is process-wide: no static state, no
 * signal handlers, so one process (a batch engine, a server) may run many
 * containers at once from many threads.
 *
 * runtime_run_wait is the thin wrapper for callers that run one container
 * and go on afterwards (app launch): it forwards SIGINT, SIGTERM, SIGHUP,
 * SIGQUIT, SIGUSR1 and SIGUSR2 to the command through a signalfd of the
 * calling thread (its signal mask only, restored on return). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fs.h"
#include "runtime/runtime.h"

static int sys_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

static int child_signal(const struct runtime_child *c, int sig)
{
#ifdef SYS_pidfd_send_signal
	if (c->pidfd >= 0)
		return (int)syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0);
#endif
	return kill(c->pid, sig);
}

/* In the child: the command's stdout/stderr, then runtime_exec's path; a
 * failure goes back through the channel. Never returns. */
static void child_run(const struct run_spec *spec, int wfd, const sigset_t *mask)
{
	struct ferr cerr = FERR_INIT;
	if (mask)
		pthread_sigmask(SIG_SETMASK, mask, NULL);
	if ((spec->stdout_fd > 0 && spec->stdout_fd != 1 && dup2(spec->stdout_fd, 1) < 0) ||
	    (spec->stderr_fd > 0 && spec->stderr_fd != 2 && dup2(spec->stderr_fd, 2) < 0))
		ferr_set(&cerr, errno, "redirect the command's output");
	else
		runtime_exec(spec, &cerr);
	/* A pipe write of less than PIPE_BUF bytes is atomic: all or nothing. */
	if (fs_write_all(wfd, &cerr, sizeof cerr) < 0)
		_exit(125);
	_exit(cerr.code == FERR_NOCMD ? 127 : cerr.code == FERR_NOEXEC ? 126 : 125);
}

static int spawn(const struct run_spec *spec, const sigset_t *child_mask, struct runtime_child *c, struct ferr *err)
{
	c->pid = -1;
	c->pidfd = c->errfd = -1;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return ferr_set(err, errno, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return ferr_set(err, e, "fork");
	}
	if (pid == 0) {
		close(pfd[0]);
		child_run(spec, pfd[1], child_mask);
	}
	close(pfd[1]);
	c->pid = pid;
	c->errfd = pfd[0];
	/* Race-free: the child is ours and unreaped, its pid cannot be reused. */
	c->pidfd = sys_pidfd_open(pid);
	if (c->pidfd < 0 && errno != ENOSYS) {
		int e = errno;
		kill(pid, SIGKILL);
		runtime_child_wait(c, &(int){0}, NULL, &(struct ferr)FERR_INIT);
		return ferr_set(err, e, "pidfd_open");
	}
	if (spec->while_running)
		spec->while_running(spec->while_running_arg);
	return 0;
}

int runtime_spawn(const struct run_spec *spec, struct runtime_child *child, struct ferr *err)
{
	return spawn(spec, NULL, child, err);
}

int runtime_child_wait(struct runtime_child *c, int *status, struct rusage *ru, struct ferr *err)
{
	struct ferr cerr;
	ssize_t got = 0, total = 0;
	while (c->errfd >= 0 && total < (ssize_t)sizeof cerr &&
	       ((got = read(c->errfd, (char *)&cerr + total, sizeof cerr - (size_t)total)) > 0 ||
		(got < 0 && errno == EINTR)))
		if (got > 0)
			total += got;
	if (c->errfd >= 0)
		close(c->errfd);
	c->errfd = -1;
	int st = 0;
	struct rusage r;
	pid_t w;
	while ((w = wait4(c->pid, &st, 0, &r)) < 0 && errno == EINTR)
		;
	int e = errno;
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->pidfd = -1;
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

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

int runtime_run_wait(const struct run_spec *spec, int *status, struct rusage *ru, struct ferr *err)
{
	/* Block the forwarded signals in this thread before the fork, so none
	 * is lost in between; the child restores the old mask before it runs
	 * anything. They are then read from a signalfd and passed on. */
	sigset_t fwd, old;
	sigemptyset(&fwd);
	for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
		sigaddset(&fwd, forwarded[i]);
	int e = pthread_sigmask(SIG_BLOCK, &fwd, &old);
	if (e)
		return ferr_set(err, e, "block signals");
	int sfd = signalfd(-1, &fwd, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		e = errno;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return ferr_set(err, e, "signalfd");
	}
	struct runtime_child c;
	int r = spawn(spec, &old, &c, err);
	if (r == 0) {
		/* Until the child exits: its pidfd becomes readable (without
		 * pidfds, Linux < 5.3, look every 50 ms). */
		struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = c.pidfd, .events = POLLIN}};
		for (;;) {
			int n = poll(p, c.pidfd >= 0 ? 2 : 1, c.pidfd >= 0 ? -1 : 50);
			if (n < 0 && errno != EINTR)
				break;
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
				child_signal(&c, (int)si.ssi_signo);
			siginfo_t info = {0};
			if (c.pidfd >= 0 ? (n > 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
					 : (waitid(P_PID, (id_t)c.pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0 || info.si_pid))
				break;
		}
	}
	if (r == 0)
		r = runtime_child_wait(&c, status, ru, err);
	/* Forward what came in at the end, then let go of the mask: signals
	 * still pending are the command's, already passed on. */
	struct signalfd_siginfo si;
	while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
		;
	close(sfd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}
