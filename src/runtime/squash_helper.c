/* The FUSE helper: the process that serves a single-file image's squashfs
 * to the kernel while the container runs (libsquashfuse_ll's operations on
 * libfuse3's low-level session loop).
 *
 * Both libraries are loaded here, in the helper, with dlopen: a tree image
 * never maps them (libsquashfuse_ll drags in zstd, xz, lzo, lz4 and zlib),
 * and a file image loads them while the container side is still setting up
 * its namespaces.
 *
 * The helper lives outside the container: it was forked (twice, so that it
 * is no child of the command) before the namespaces were made, and the
 * container side hands it the /dev/fuse descriptor once the mount is in
 * place. It keeps no reference to the container's mount namespace, so when
 * the last process of the container ends, the namespace and its mount go,
 * the kernel aborts the connection and the session loop returns: nothing
 * is left. A watcher child kills the command if the helper itself is
 * killed, so a dead helper never leaves a container behind either. */

/* libsquashfuse's headers set their own feature macros (config.h): first. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <squashfuse.h>
#include <ll.h>
#pragma GCC diagnostic pop

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/squash.h"

/* What the helper takes from the libraries, resolved with dlsym. */
#define SQ_OPS(X)                                                                                             \
	X(getattr, sqfs_ll_op_getattr)                                                                        \
	X(opendir, sqfs_ll_op_opendir)                                                                        \
	X(releasedir, sqfs_ll_op_releasedir)                                                                  \
	X(readdir, sqfs_ll_op_readdir)                                                                        \
	X(lookup, sqfs_ll_op_lookup)                                                                          \
	X(open, sqfs_ll_op_open)                                                                              \
	X(create, sqfs_ll_op_create)                                                                          \
	X(release, sqfs_ll_op_release)                                                                        \
	X(read, sqfs_ll_op_read)                                                                              \
	X(readlink, sqfs_ll_op_readlink)                                                                      \
	X(listxattr, sqfs_ll_op_listxattr)                                                                    \
	X(getxattr, sqfs_ll_op_getxattr)                                                                      \
	X(forget, sqfs_ll_op_forget)                                                                          \
	X(statfs, stfs_ll_op_statfs)

struct sqlib {
	__typeof__(sqfs_init) *init;
	__typeof__(sqfs_ll_init) *ll_init;
	__typeof__(fuse_session_new) *session_new;
	__typeof__(fuse_session_mount) *session_mount;
	__typeof__(fuse_session_loop) *session_loop;
	struct fuse_lowlevel_ops ops;
};

static int sym(void *h, const char *name, void *out, char *msg, size_t size)
{
	void *p = dlsym(h, name);
	if (!p) {
		snprintf(msg, size, "symbol %s missing from " SQUASH_LIB, name);
		return -1;
	}
	memcpy(out, &p, sizeof p);
	return 0;
}

/* libsquashfuse_ll.so.0 holds libsquashfuse's reader too and needs
 * libfuse3.so.3: one dlopen, symbols looked up through its handle. */
int squash_lib_load(struct sqlib_status *st)
{
	static struct sqlib lib;
	st->msg[0] = '\0';
	void *h = dlopen(SQUASH_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(st->msg, sizeof st->msg, "cannot load %s", dlerror());
		return -1;
	}
	char *m = st->msg;
	size_t n = sizeof st->msg;
	if (sym(h, "sqfs_init", &lib.init, m, n) < 0 || sym(h, "sqfs_ll_init", &lib.ll_init, m, n) < 0 ||
	    sym(h, "fuse_session_new", &lib.session_new, m, n) < 0 ||
	    sym(h, "fuse_session_mount", &lib.session_mount, m, n) < 0 ||
	    sym(h, "fuse_session_loop", &lib.session_loop, m, n) < 0)
		return -1;
#define SQ_RESOLVE(field, name)                                                                               \
	if (sym(h, #name, &lib.ops.field, m, n) < 0)                                                          \
		return -1;
	SQ_OPS(SQ_RESOLVE)
#undef SQ_RESOLVE
	st->lib = &lib;
	return 0;
}

static const char *sqfs_strerror(sqfs_err e)
{
	switch (e) {
	case SQFS_BADFORMAT: return "not a squashfs, or a corrupt superblock";
	case SQFS_BADVERSION: return "squashfs version not supported (only 4.0)";
	case SQFS_BADCOMP: return "compression not supported by libsquashfuse";
	case SQFS_UNSUP: return "unsupported squashfs feature";
	default: return "corrupt or unreadable squashfs";
	}
}

/* Receive one descriptor (SCM_RIGHTS); -1 on EOF or error. */
static int recv_fd(int sock)
{
	char byte;
	struct iovec iov = {&byte, 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
	ssize_t r;
	while ((r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (r <= 0)
		return -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof fd);
	return fd;
}

/* The watcher: while the command lives, a helper that dies (SIGKILL, a
 * crash) takes the container with it instead of leaving a command whose
 * files have vanished. It waits for EOF on a pipe whose write end only
 * the helper holds, or for the command's end (its pidfd). */
static void watch(int pipe_rd, int cmd_pidfd)
{
	struct pollfd p[2] = {{.fd = cmd_pidfd, .events = POLLIN}, {.fd = pipe_rd, .events = POLLIN}};
	for (;;) {
		int r = poll(p, 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || p[0].revents)
			_exit(0); /* the command ended: nothing to do */
		if (p[1].revents) {
			/* Not a pid: a pidfd cannot reach a recycled pid. */
			syscall(SYS_pidfd_send_signal, cmd_pidfd, SIGKILL, NULL, 0);
			_exit(0);
		}
	}
}

void squash_helper_main(int sock, int imgfd, uint64_t offset, int cmd_pidfd)
{
	static const int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2};
	/* Its own session: the terminal's ^C, ^Z and hangup are the command's;
	 * a SIGTERM to the whole job (scancel) leaves the files readable
	 * while the command shuts down. The helper ends with the mount. */
	setsid();
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++)
		signal(ignored[i], SIG_IGN);
	prctl(PR_SET_NAME, "ferry-sqfs", 0, 0, 0);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0)
		for (int i = 0; i < 3; i++)
			dup2(null, i);

	struct sqlib_status st = {0};
	static sqfs_ll ll; /* lives as long as the process */
	if (squash_lib_load(&st) == 0) {
		const struct sqlib *lib = st.lib;
		sqfs_err e = lib->init(&ll.fs, imgfd, (size_t)offset);
		if (e == SQFS_OK)
			e = lib->ll_init(&ll);
		if (e != SQFS_OK)
			snprintf(st.msg, sizeof st.msg, "%s", sqfs_strerror(e));
	}
	/* "" for ready, else why not; the container side reads it once the
	 * mount is in place. */
	if (send(sock, st.msg, strlen(st.msg) + 1, MSG_NOSIGNAL) < 0 || st.msg[0])
		_exit(1);
	int fuse_fd = recv_fd(sock);
	close(sock);
	if (fuse_fd < 0)
		_exit(0); /* the container side gave up before mounting */

	int wp[2];
	if (pipe2(wp, O_CLOEXEC) == 0) {
		pid_t w = fork();
		if (w == 0) {
			close(wp[1]);
			close(fuse_fd);
			prctl(PR_SET_NAME, "ferry-sqfs-watch", 0, 0, 0);
			watch(wp[0], cmd_pidfd);
		}
		close(wp[0]); /* wp[1] stays open until this process ends */
	}
	close(cmd_pidfd);

	const struct sqlib *lib = st.lib;
	char *argv[] = {"ferry-sqfs", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct fuse_session *se = lib->session_new(&args, &lib->ops, sizeof lib->ops, &ll);
	char dev[32];
	snprintf(dev, sizeof dev, "/dev/fd/%d", fuse_fd); /* libfuse: already mounted, serve this fd */
	if (!se || lib->session_mount(se, dev) != 0)
		_exit(1);
	lib->session_loop(se);
	/* The kernel ended the connection: the mount is gone. No clean-up that
	 * could touch a mount point: _exit. */
	_exit(0);
}
