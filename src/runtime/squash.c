/* Single-file images (squashfs, SIF, old .simg): the container side.
 *
 * The image file's squashfs is mounted with FUSE, by ferry itself, inside
 * the container's own namespaces; nothing setuid (fusermount3) and no
 * squashfuse binary take part, and the mount is never visible outside.
 * The order, as in ch-run (ch_fuse.c), with the roles of the processes
 * turned round so that the command still replaces ferry:
 *
 *   host      open the file, check what it is (sfile_probe), fork the FUSE
 *             helper (squash_helper.c) — twice, so it is nobody's child in
 *             the container — with the file and a socket.
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

/* Close every descriptor but keep[0..n) (sorted ascending, all > 2). */
static void close_others(const int *keep, size_t n)
{
	unsigned lo = 3;
	for (size_t i = 0; i <= n; i++) {
		unsigned hi = i < n ? (unsigned)keep[i] : ~0U;
		if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0) < 0)
			for (unsigned fd = lo; fd < hi && fd < 65536; fd++)
				close((int)fd);
		lo = hi + 1;
	}
}

static void sort3(int *v)
{
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2 - i; j++)
			if (v[j] > v[j + 1]) {
				int t = v[j];
				v[j] = v[j + 1];
				v[j + 1] = t;
			}
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
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return ferr_set(err, errno, "socketpair");
	/* The command is this process: the helper's watcher kills it by this
	 * pidfd if the helper dies first (Linux >= 5.3; without, no watcher). */
	int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
	pid_t mid = fork();
	if (mid == 0) {
		/* In between: fork the helper and go, so that it is reparented
		 * to the session's reaper at once. Nothing here mallocs. */
		pid_t h = fork();
		if (h == 0) {
			int keep[3] = {sv[1], fd, self >= 0 ? self : sv[1]};
			sort3(keep);
			close_others(keep, keep[1] == keep[2] ? 2 : 3);
			squash_helper_main(sv[1], fd, sf.sqfs_offset, self);
		}
		_exit(h < 0 ? 1 : 0);
	}
	int e = errno;
	close(sv[1]);
	if (self >= 0)
		close(self);
	if (mid < 0) {
		close(sv[0]);
		return ferr_set(err, e, "fork the squashfs helper");
	}
	int st = 0;
	while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
		;
	c->sqsock = sv[0];
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return ferr_set(err, 0, "fork the squashfs helper");
	return 0;
}

static int send_fd(int sock, int fd)
{
	char byte = 0;
	struct iovec iov = {&byte, 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
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
	/* The helper's word: "" once the squashfs opened, else why not. Read
	 * before the descriptor goes: a helper that exits with it unread
	 * would turn its message into ECONNRESET here. */
	char msg[256];
	ssize_t n;
	while ((n = recv(c->sqsock, msg, sizeof msg - 1, 0)) < 0 && errno == EINTR)
		;
	if (n <= 0)
		return ferr_set(err, n < 0 ? errno : 0, "image %s: the squashfs helper ended before serving it", c->file);
	msg[n] = '\0';
	if (msg[0])
		return ferr_setc(err, FERR_INVALID, 0, "image %s: %s", c->file, msg);
	if (send_fd(c->sqsock, fuse) < 0)
		return ferr_set(err, errno, "image %s: pass /dev/fuse to the squashfs helper", c->file);
	close(c->sqsock);
	c->sqsock = -1;
	return 0;
}

int squash_enter(struct ctx *c, unsigned in_uid, unsigned in_gid, struct ferr *err)
{
	if (userns_enter(0, c->uid, 0, c->gid, err) < 0 || mount_fuse(c, err) < 0)
		return -1;
	return userns_enter(in_uid, 0, in_gid, 0, err);
}
