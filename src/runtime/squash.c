/* Single-file images (squashfs, SIF, old .simg): the container side.
 *
 * The image file's squashfs is mounted with FUSE, by ferry itself, inside
 * the container's own namespaces; nothing setuid (fusermount3) and no
 * squashfuse binary take part, and the mount is never visible outside.
 * The order, as in ch-run (ch_fuse.c), with the roles of the processes
 * turned round so that the command still replaces ferry:
 *
 *   host      open the file, check what it is (sfile_probe), open the
 *             squashfs (squash_open), fork the FUSE helper
 *             (squash_helper.c, a child that no wait() sees) with it and
 *             a socket.
 *   outer     unshare(USER|NS), the caller mapped to 0: the squashfs's
 *             files, owned by 0:0 as Apptainer and Charliecloud write
 *             them, then belong to the caller, as a tree's do. Open
 *             /dev/fuse, mount it nosuid,nodev,ro on the mount directory,
 *             pass the descriptor to the helper (SCM_RIGHTS).
 *   inner     unshare(USER|NS) again, 0 mapped to the caller's uid (or to
 *             0 with --fakeroot): the ids a tree gets. The mount crossed
 *             into a less privileged namespace, so its flags are locked.
 *
 * From here the mount directory is the image root of a tree (container.c):
 * the staging tmpfs covers it, the overlay takes it as its lower layer. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "base/str.h"
#include "image/image.h"
#include "runtime/internal.h"
#include "runtime/squash.h"

#define WAY_OUT "unpack it into the store with 'ferry import %s' and run that instead"

/* FERRY_TEST_FUSE_DEV names another device to open (tests: an unreadable
 * node stands for a machine without /dev/fuse). */
static const char *fuse_dev(void)
{
	const char *t = getenv("FERRY_TEST_FUSE_DEV");
	return t && t[0] ? t : "/dev/fuse";
}

/* Where the squashfs is mounted, inside the container's mount namespace
 * only: a directory of the caller's, made once ($TMPDIR/ferry-UID.mnt,
 * mode 0700), as ch-run uses /var/tmp/$USER.ch/mnt. It must be the
 * caller's own real directory, so no one else can swap it. */
static int mount_dir(uid_t uid, char **out, struct ferr *err)
{
	const char *t = getenv("TMPDIR");
	_cleanup_free_ char *dir = xasprintf("%s/ferry-%u.mnt", t && t[0] == '/' ? t : "/tmp", (unsigned)uid);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return ferr_set(err, errno, "create the mount directory %s", dir),
		       ferr_hint(err, "set TMPDIR to a writable directory");
	struct stat st;
	if (lstat(dir, &st) < 0)
		return ferr_set(err, errno, "%s", dir);
	if (!S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & 022))
		return ferr_setc(err, FERR_PERM, 0, "the mount directory %s is not a directory of yours (mode 0700)", dir),
		       ferr_hint(err, "remove it, or set TMPDIR to a directory of your own");
	*out = realpath(dir, NULL);
	if (!*out)
		return ferr_set(err, errno, "%s", dir);
	return 0;
}

/* Close every descriptor above 2 but those in keep[0..n) (any order;
 * negative entries ignored). Nothing here allocates. */
static void close_others(int *keep, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	unsigned lo = 3;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && keep[i] < (int)lo)
			continue;
		unsigned hi = i < n ? (unsigned)keep[i] : ~0U;
		if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0) < 0)
			for (unsigned fd = lo; fd < hi && fd < 65536; fd++)
				close((int)fd);
		lo = hi + 1;
	}
}

/* The helper: a child of this process (the command to be) that sends it
 * no SIGCHLD when it ends (exit signal 0, a "clone child", clone(2)):
 * wait() and waitpid(-1) without __WALL do not see it, so a command that
 * waits for all its children, a shell's `wait`, an init, is never held
 * up by the helper, which ends only after the container. One fork, no
 * intermediate process: on a busy node every new process is a wait for
 * a CPU before the first lookup. fork()'s own bookkeeping is not needed:
 * this process has one thread, so no lock can be held (no malloc arena,
 * no stdio). When the command ends, the helper is reparented, with
 * SIGCHLD again, to the session's reaper. */
static pid_t helper_clone(void)
{
	return (pid_t)syscall(SYS_clone, 0UL, NULL, NULL, NULL, 0UL);
}

int squash_start(struct ctx *c, struct ferr *err)
{
	c->file = steal_ptr(&c->rootfs);
	_cleanup_close_ int fd = open(c->file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferr_setc(err, errno == ENOENT ? FERR_NOTFOUND : FERR_GENERIC, errno, "image %s", c->file);
	struct sfile sf;
	int r = sfile_probe(fd, c->file, &sf, err);
	if (r < 0)
		return ferr_setc(err, FERR_INVALID, err->errnum, "%s", err->msg);
	if (r == 0)
		return ferr_setc(err, FERR_INVALID, 0, "image %s: not a squashfs or SIF file", c->file);
	if (mount_dir(c->uid, &c->rootfs, err) < 0)
		return -1;
	/* Here, not in the helper: the container would only wait for it (a
	 * process more to schedule on a busy node before the first lookup). */
	char msg[256];
	if (squash_open(fd, sf.sqfs_offset, msg, sizeof msg) < 0) {
		ferr_setc(err, FERR_INVALID, 0, "image %s: %s", c->file, msg);
		if (str_starts_with(msg, "cannot load"))
			ferr_hint(err, "install libsquashfuse0 and libfuse3-3; or " WAY_OUT, c->file);
		return -1;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return ferr_set(err, errno, "socketpair");
	/* The write end goes to the helper only: when it closes (the helper
	 * died), the kernel kills the command (arm_watch). */
	int wp[2];
	if (pipe2(wp, O_CLOEXEC) < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return ferr_set(err, e, "pipe");
	}
	pid_t me = getpid();
	pid_t h = helper_clone();
	if (h == 0) {
		int keep[] = {sv[1], squash_fd(), wp[1]};
		close_others(keep, 3);
		squash_helper_main(sv[1], wp[1], me);
	}
	int e = errno;
	close(sv[1]);
	close(wp[1]);
	if (h < 0) {
		close(sv[0]);
		close(wp[0]);
		return ferr_set(err, e, "fork the squashfs helper");
	}
	c->sqwatch = wp[0];
	c->sqsock = sv[0];
	return 0;
}

/* One message, n (1 or 2) descriptors (SCM_RIGHTS). */
static int send_fds(int sock, const int *fds, size_t n)
{
	char byte = 0;
	struct iovec iov = {&byte, 1};
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = CMSG_SPACE(n * sizeof(int))};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

static int mount_fuse(struct ctx *c, struct ferr *err)
{
	const char *dev = fuse_dev();
	_cleanup_close_ int fuse = open(dev, O_RDWR | O_CLOEXEC);
	if (fuse < 0) {
		int e = errno;
		ferr_setc(err, FERR_UNSUPPORTED, e, "image %s: FUSE is unavailable here: cannot open %s", c->file, dev);
		return ferr_hint(err, WAY_OUT, c->file);
	}
	_cleanup_close_ int dfd = open(c->rootfs, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return ferr_set(err, errno, "open %s", c->rootfs);
	/* 0:0 is the caller here (outer namespace). default_permissions: the
	 * kernel checks modes, as on a tree. */
	char opts[128];
	snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=0,group_id=0,default_permissions", fuse);
	_cleanup_free_ char *target = fdpath(dfd);
	if (mount(c->file, target, "fuse.squashfuse", MS_NOSUID | MS_NODEV | MS_RDONLY, opts) < 0) {
		int e = errno;
		ferr_setc(err, FERR_UNSUPPORTED, e, "image %s: the kernel refuses a FUSE mount in a user namespace", c->file);
		return ferr_hint(err, "Linux >= 4.18 allows it; or " WAY_OUT, c->file);
	}
	/* The helper also takes a reference to this (outer) mount namespace
	 * and drops it when the command has ended: the container then does
	 * not wait, at its second unshare, for the kernel to tear this
	 * namespace down (an RCU grace period), and the command's exit does
	 * not wait for the FUSE superblock's (the last mount of it is then
	 * here): both happen in the helper, after the command's exit has been
	 * reported. Without the reference, as before. */
	_cleanup_close_ int ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	int fds[2] = {fuse, ns};
	if (send_fds(c->sqsock, fds, ns >= 0 ? 2 : 1) < 0)
		return ferr_set(err, errno, "image %s: pass /dev/fuse to the squashfs helper", c->file);
	close(c->sqsock);
	c->sqsock = -1;
	return 0;
}

/* If the helper dies while the command runs, the command must not live on
 * with its files gone (every read ENOTCONN): the read end of a pipe whose
 * only write end the helper holds stays open in the command, set to raise
 * SIGKILL at its owner, the command, when that end closes (F_SETSIG with
 * O_ASYNC; fcntl(2)). The kernel does it: no watcher process. It sits
 * high (fd >= 512), out of the way of a script's `exec 3>FILE`; a
 * program that closes every descriptor gives the protection up. */
static int arm_watch(struct ctx *c, struct ferr *err)
{
	int fd = fcntl(c->sqwatch, F_DUPFD, 512);
	if (fd < 0)
		fd = fcntl(c->sqwatch, F_DUPFD, 3);
	if (fd < 0)
		return ferr_set(err, errno, "image %s: the helper's pipe", c->file);
	close(c->sqwatch);
	c->sqwatch = fd; /* not close-on-exec: the command keeps it */
	if (fcntl(fd, F_SETOWN, getpid()) < 0 || fcntl(fd, F_SETSIG, SIGKILL) < 0 ||
	    fcntl(fd, F_SETFL, O_ASYNC | O_NONBLOCK) < 0)
		return ferr_set(err, errno, "image %s: arm the helper's pipe", c->file);
	/* Died already (before the arming)? Then nothing would fire. */
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)))
		return ferr_set(err, 0, "image %s: the squashfs helper ended", c->file);
	c->sqwatch = -1; /* stays open into the command */
	return 0;
}

int squash_enter(struct ctx *c, unsigned in_uid, unsigned in_gid, struct ferr *err)
{
	if (userns_enter(0, c->uid, 0, c->gid, err) < 0 || mount_fuse(c, err) < 0 ||
	    userns_enter(in_uid, 0, in_gid, 0, err) < 0)
		return -1;
	return arm_watch(c, err);
}
