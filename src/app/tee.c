/* The tool's process for `ferry app launch`: its stdout and stderr copied
 * to ours and kept for the provenance record (the tee), and the command run
 * on this host (--no-container). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/launch-int.h"
#include "base/cleanup.h"

#define CAPTURE_MAX (4u << 20) /* kept per stream for the provenance record */

/* ---- tee: the tool's output goes to ours and into the record ----
 * A thread copies the tool's stdout and stderr to ours and keeps a copy for
 * the record in two memfds. The pipes are made before the fork, the thread
 * only after it (tee_forked): a thread running at fork time can hold a lock
 * the child then waits for forever (AddressSanitizer's allocator did, while
 * the thread was being created), and the child still has the runtime's
 * whole setup to do before its execve. The pipes hold what the tool writes
 * until the thread reads it. */

static void *tee_main(void *arg)
{
	const struct tee *t = arg;
	struct pollfd pf[2] = { { t->rd[0], POLLIN, 0 }, { t->rd[1], POLLIN, 0 } };
	const int *cap = t->cap;
	size_t kept[2] = { 0, 0 };
	int open_n = 2;
	char chunk[65536];
	while (open_n > 0) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(pf[i].fd, chunk, sizeof chunk);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				pf[i].fd = -1;
				open_n--;
				continue;
			}
			for (ssize_t off = 0; off < n;) {
				ssize_t w = write(i + 1, chunk + off, (size_t)(n - off));
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					break; /* our own stdout is gone: keep draining the tool */
				off += w;
			}
			size_t k = (size_t)n < CAPTURE_MAX - kept[i] ? (size_t)n : CAPTURE_MAX - kept[i];
			if (k && write(cap[i], chunk, k) == (ssize_t)k)
				kept[i] += k;
		}
	}
	return NULL;
}

int tee_open(struct tee *t, struct ferr *err)
{
	int po[2], pe[2];
	t->cap[0] = memfd_create("ferry-stdout", MFD_CLOEXEC);
	t->cap[1] = memfd_create("ferry-stderr", MFD_CLOEXEC);
	if (t->cap[0] < 0 || t->cap[1] < 0)
		return ferr_set(err, errno, "memfd_create");
	if (pipe2(po, O_CLOEXEC) < 0)
		return ferr_set(err, errno, "pipe");
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return ferr_set(err, errno, "pipe");
	}
	t->rd[0] = po[0];
	t->rd[1] = pe[0];
	t->wr[0] = po[1];
	t->wr[1] = pe[1];
	/* the tool may close our stdout: a write error, not a SIGPIPE for ferry */
	signal(SIGPIPE, SIG_IGN);
	t->open = true;
	return 0;
}

/* In the parent, right after the fork: the child holds its own copies of
 * the write ends, so ours go (the thread then sees EOF when the tool and
 * everything it started are done), and the copy starts. Should no thread
 * be had, the copy runs here, until the tool closes its output. */
void tee_forked(void *arg)
{
	struct tee *t = arg;
	if (!t->open || t->running)
		return;
	close(t->wr[0]);
	close(t->wr[1]);
	t->wr[0] = t->wr[1] = -1;
	if (pthread_create(&t->th, NULL, tee_main, t) == 0)
		t->running = true;
	else
		tee_main(t);
}

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	if (p[0] < 0x80)
		return 1;
	size_t len = (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
	if (!len || len > n || (len == 2 && p[0] < 0xc2))
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	unsigned cp = p[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++)
		cp = (cp << 6) | (p[i] & 0x3f);
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* What the tool printed, as text for the JSON record: invalid UTF-8 bytes
 * become \xNN, as bosh's decode(errors="backslashreplace") writes them;
 * NUL bytes become \x00. */
static void append_utf8_text(struct dstr *d, const char *buf, size_t n)
{
	const unsigned char *p = (const unsigned char *)buf;
	for (size_t i = 0; i < n;) {
		size_t k = p[i] ? utf8_seq(p + i, n - i) : 0;
		if (k) {
			dstr_appendn(d, buf + i, k);
			i += k;
		} else {
			dstr_printf(d, "\\x%02x", p[i]);
			i++;
		}
	}
}

static char *read_capture(int fd)
{
	struct dstr d = DSTR_INIT;
	dstr_append(&d, "");
	char buf[65536];
	ssize_t n;
	off_t off = 0;
	struct dstr raw = DSTR_INIT;
	while ((n = pread(fd, buf, sizeof buf, off)) > 0) {
		dstr_appendn(&raw, buf, (size_t)n);
		off += n;
	}
	if (raw.len)
		append_utf8_text(&d, raw.buf, raw.len);
	dstr_free(&raw);
	return dstr_steal(&d);
}

/* Close the tool's ends, wait for the copy to finish, collect the capture. */
void tee_finish(struct tee *t, char **out, char **errs)
{
	if (!t->open) { /* no tee: the tool used our own stdout and stderr */
		*out = xstrdup("");
		*errs = xstrdup("");
		return;
	}
	for (int i = 0; i < 2; i++)
		if (t->wr[i] >= 0)
			close(t->wr[i]); /* the tool never started */
	if (t->running)
		pthread_join(t->th, NULL);
	close(t->rd[0]);
	close(t->rd[1]);
	t->running = t->open = false;
	*out = read_capture(t->cap[0]);
	*errs = read_capture(t->cap[1]);
	close(t->cap[0]);
	close(t->cap[1]);
}

/* The environment for the tool: ours plus the descriptor's variables
 * (which win), built before fork so the child only calls execve. */
static char **merged_env(char **add)
{
	char **env = xcalloc(1, sizeof *env);
	for (char **e = environ; *e; e++) {
		size_t n = strcspn(*e, "=");
		bool overridden = false;
		for (char **a = add; *a && !overridden; a++)
			overridden = !strncmp(*a, *e, n) && (*a)[n] == '=';
		if (!overridden)
			strv_push(&env, *e);
	}
	for (char **a = add; *a; a++)
		strv_push(&env, *a);
	return env;
}

int run_host(char **argv, char **add_env, struct tee *t, int *status, struct rusage *ru,
	     struct ferr *err)
{
	_cleanup_strv_ char **envp = merged_env(add_env);
	pid_t pid = fork();
	if (pid < 0)
		return ferr_set(err, errno, "fork");
	if (pid == 0) {
		if (dup2(t->wr[0], 1) < 0 || dup2(t->wr[1], 2) < 0)
			_exit(125);
		signal(SIGPIPE, SIG_DFL);
		execve(argv[0], argv, envp);
		int e = errno;
		static const char pre[] = "ferry: app launch: cannot run the shell ";
		(void)!write(2, pre, sizeof pre - 1);
		(void)!write(2, argv[0], strlen(argv[0]));
		(void)!write(2, "\n", 1);
		_exit(e == ENOENT ? 127 : 126);
	}
	tee_forked(t);
	while (wait4(pid, status, 0, ru) < 0)
		if (errno != EINTR)
			return ferr_set(err, errno, "wait for the tool");
	return 0;
}

/* ---- helpers ---- */
