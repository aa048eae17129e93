/* The FUSE helper: the process that serves a single-file image's squashfs
 * to the kernel while the container runs (libsquashfuse_ll's operations on
 * libfuse3's low-level session loop).
 *
 * Both libraries are loaded here, in the helper, with dlopen: a tree image
 * never maps them (libsquashfuse_ll drags in zstd, xz, lzo, lz4 and zlib),
 * and a file image loads them while the container side is still setting up
 * its namespaces.
 *
 * The helper lives outside the container: it was forked (a clone child of
 * the process that becomes the command, squash.c) before the namespaces
 * were made, and the container side hands it the /dev/fuse descriptor once
 * the mount is in place, with a reference to the outer mount namespace
 * that holds it. The helper lets that reference go as soon as the command
 * has ended (the parent-death signal), so the kernel's teardown of that namespace and of
 * the FUSE superblock runs here, not on the command's path; it keeps none
 * to the container's own namespace, so when the last process of the
 * container ends, the namespace and its mount go, the kernel aborts the
 * connection and the loop returns: nothing is left. If the helper itself
 * is killed, the kernel kills the command (squash.c arms a pipe whose
 * write end only the helper holds), so a dead helper never leaves a
 * container behind either. */

/* libsquashfuse's headers set their own feature macros (config.h): first. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <squashfuse.h>
#include <ll.h>
#pragma GCC diagnostic pop
#include <zstd.h>
#ifdef HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include <dlfcn.h>
#include <errno.h>
#include <float.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/squash.h"

/* Decompressed blocks kept (each up to the block size, 128 KiB by default). */
#define SQUASH_DATA_BLOCKS 8
#define SQUASH_FRAG_BLOCKS 8
#define SQUASH_MD_BLOCKS 64 /* metadata blocks, 8 KiB each */

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
	X(forget, sqfs_ll_op_forget)                                                                          \
	X(statfs, stfs_ll_op_statfs)

/* Not in the installed headers (squashfuse's stat.h), exported by the library. */
sqfs_err sqfs_stat(sqfs *fs, sqfs_inode *inode, struct stat *st);

struct sqlib {
	__typeof__(sqfs_init) *init;
	__typeof__(sqfs_ll_iget) *ll_iget;
	__typeof__(sqfs_dentry_init) *dentry_init;
	__typeof__(sqfs_dentry_inode) *dentry_inode;
	__typeof__(sqfs_dir_lookup) *dir_lookup;
	__typeof__(sqfs_inode_get) *inode_get;
	__typeof__(sqfs_stat) *stat;
	__typeof__(fuse_reply_entry) *reply_entry;
	__typeof__(fuse_reply_err) *reply_err;
	__typeof__(fuse_reply_buf) *reply_buf;
	__typeof__(sqfs_read_range) *read_range;
	__typeof__(sqfs_lookup_path) *lookup_path;
	__typeof__(sqfs_inode_root) *inode_root;
	__typeof__(sqfs_ll_op_open) *sq_open;
	__typeof__(sqfs_ll_op_read) *sq_read;
	__typeof__(sqfs_ll_init) *ll_init;
	__typeof__(sqfs_cache_destroy) *cache_destroy;
	__typeof__(sqfs_block_cache_init) *block_cache_init;
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
static struct sqlib lib;

/* libsquashfuse decompresses a zstd block with ZSTD_decompress(), which
 * makes and frees a decompression context (some 160 KiB) each time: an
 * 8 KiB metadata block then took 35 to 80 µs, and a /bin/true start spent
 * 3.9 ms in zstd. One context, kept: the helper serves one request at a
 * time (and the container side, which reads the config first, is its own
 * process after the fork). libzstd is libsquashfuse's own dependency. */
static struct {
	ZSTD_DCtx *dctx;
	__typeof__(ZSTD_decompressDCtx) *decompress;
	__typeof__(ZSTD_isError) *is_error;
} zs;

static sqfs_err zstd_block(void *in, size_t insz, void *out, size_t *outsz)
{
	size_t n = zs.decompress(zs.dctx, out, *outsz, in, insz);
	if (zs.is_error(n))
		return SQFS_ERR;
	*outsz = n;
	return SQFS_OK;
}

#ifdef HAVE_ISAL
/* gzip, mksquashfs's and Apptainer's default: libsquashfuse inflates each
 * block with zlib's uncompress(), 520 to 580 µs for a 128 KiB block of
 * libc on this VM; ISA-L's inflate takes 260 µs for the same bytes (a
 * stand-alone loop, both outputs compared). Used when libisal is there,
 * as for pulls (image/decomp.c); else zlib, as before. */
static struct {
	__typeof__(isal_inflate_init) *init;
	__typeof__(isal_inflate_stateless) *inflate;
	struct inflate_state st;
} isal;

static sqfs_err zlib_block(void *in, size_t insz, void *out, size_t *outsz)
{
	isal.init(&isal.st);
	isal.st.crc_flag = ISAL_ZLIB; /* squashfs's gzip blocks are zlib streams */
	isal.st.next_in = in;
	isal.st.avail_in = (uint32_t)insz;
	isal.st.next_out = out;
	isal.st.avail_out = (uint32_t)*outsz;
	if (isal.inflate(&isal.st) != ISAL_DECOMP_OK)
		return SQFS_ERR;
	*outsz = isal.st.total_out;
	return SQFS_OK;
}

static bool isal_load(void)
{
	if (isal.init)
		return true;
	void *h = dlopen("libisal.so.2", RTLD_LAZY | RTLD_LOCAL);
	if (!h)
		return false;
	char m[128]; /* unused: without ISA-L, zlib */
	__typeof__(isal_inflate_init) *init = NULL;
	if (sym(h, "isal_inflate_stateless", &isal.inflate, m, sizeof m) < 0 ||
	    sym(h, "isal_inflate_init", &init, m, sizeof m) < 0) {
		dlclose(h);
		return false;
	}
	isal.init = init; /* last: it says the rest is there */
	return true;
}
#endif

static void zstd_keep_context(void *h)
{
	char m[128]; /* unused: without them, libsquashfuse's own way */
	__typeof__(ZSTD_createDCtx) *create = NULL;
	if (sym(h, "ZSTD_createDCtx", &create, m, sizeof m) == 0 &&
	    sym(h, "ZSTD_decompressDCtx", &zs.decompress, m, sizeof m) == 0 &&
	    sym(h, "ZSTD_isError", &zs.is_error, m, sizeof m) == 0)
		zs.dctx = create();
}

/* libsquashfuse's lookup, but a name that is not there is answered with
 * a negative entry (ino 0) that the kernel may keep for ever, as it keeps
 * the positive ones: the image never changes. Python's imports, a
 * shell's PATH search, the dynamic loader's library search try many
 * names that do not exist, and each would otherwise be a round trip to
 * this process (and, under the overlay, one more per layer check). */
static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	sqfs_ll_i lli;
	if (lib.ll_iget(req, &lli, parent)) /* it replied */
		return;
	if (!S_ISDIR(lli.inode.base.mode)) {
		lib.reply_err(req, ENOTDIR);
		return;
	}
	sqfs_name namebuf;
	sqfs_dir_entry entry;
	bool found = false;
	lib.dentry_init(&entry, namebuf);
	if (lib.dir_lookup(&lli.ll->fs, &lli.inode, name, strlen(name), &entry, &found) != SQFS_OK) {
		lib.reply_err(req, EIO);
		return;
	}
	struct fuse_entry_param fe;
	memset(&fe, 0, sizeof fe);
	fe.attr_timeout = fe.entry_timeout = DBL_MAX;
	if (!found) {
		lib.reply_entry(req, &fe);
		return;
	}
	sqfs_inode inode;
	if (lib.inode_get(&lli.ll->fs, &inode, lib.dentry_inode(&entry)) != SQFS_OK) {
		lib.reply_err(req, ENOENT);
		return;
	}
	if (lib.stat(&lli.ll->fs, &inode, &fe.attr) != SQFS_OK) {
		lib.reply_err(req, EIO);
		return;
	}
	fe.ino = lli.ll->ino_register(lli.ll, &entry);
	fe.attr.st_ino = fe.ino;
	lib.reply_entry(req, &fe);
}

/* Each request is a round trip to this process, and on a VM one costs
 * some 60 µs (two cross-CPU wake-ups): a /bin/true start made 80. The
 * image never changes, so the kernel may keep what it learnt:
 *   - a symlink's target (FUSE_CAP_CACHE_SYMLINKS): /bin, /lib and /lib64
 *     are links in a merged-/usr image, and every path through them was
 *     one more READLINK;
 *   - no OPEN and RELEASE at all (FUSE_CAP_NO_OPEN_SUPPORT, and open
 *     answering ENOSYS once): the kernel then keeps each file's page cache
 *     across opens, as FOPEN_KEEP_CACHE did, and READ names the inode. */
static bool no_open;

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) {
		conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
		no_open = true;
	}
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (no_open) {
		lib.reply_err(req, ENOSYS);
		return;
	}
	fi->keep_cache = 1; /* see op_init */
	lib.sq_open(req, ino, fi);
}

/* libsquashfuse's read takes the inode that its open left in fi->fh;
 * without OPEN it comes from the inode number (the last one kept: a
 * program's pages come in runs of READs of one file). */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	static fuse_ino_t last;
	static sqfs_ll_i lli;
	if (!no_open) {
		lib.sq_read(req, ino, size, off, fi);
		return;
	}
	if (ino != last) {
		last = 0;
		if (lib.ll_iget(req, &lli, ino)) /* it replied */
			return;
		last = ino;
	}
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		lib.reply_err(req, ENOMEM);
		return;
	}
	sqfs_off_t n = (sqfs_off_t)size;
	if (lib.read_range(&lli.ll->fs, &lli.inode, off, &n, buf) != SQFS_OK)
		lib.reply_err(req, EIO);
	else
		lib.reply_buf(req, buf, (size_t)n);
	free(buf);
}

int squash_lib_load(struct sqlib_status *st)
{
	st->msg[0] = '\0';
	/* Lazy: of the libraries' thousand-odd symbols the helper calls a
	 * few dozen; binding them all first is start-up time the container
	 * waits for. */
	void *h = dlopen(SQUASH_LIB, RTLD_LAZY | RTLD_LOCAL);
	if (!h) {
		snprintf(st->msg, sizeof st->msg, "cannot load %s", dlerror());
		return -1;
	}
	char *m = st->msg;
	size_t n = sizeof st->msg;
	if (sym(h, "sqfs_init", &lib.init, m, n) < 0 || sym(h, "sqfs_ll_init", &lib.ll_init, m, n) < 0 ||
	    sym(h, "sqfs_cache_destroy", &lib.cache_destroy, m, n) < 0 ||
	    sym(h, "sqfs_block_cache_init", &lib.block_cache_init, m, n) < 0 ||
	    sym(h, "fuse_session_new", &lib.session_new, m, n) < 0 ||
	    sym(h, "fuse_session_mount", &lib.session_mount, m, n) < 0 ||
	    sym(h, "fuse_session_loop", &lib.session_loop, m, n) < 0 || sym(h, "sqfs_ll_iget", &lib.ll_iget, m, n) < 0 ||
	    sym(h, "sqfs_dentry_init", &lib.dentry_init, m, n) < 0 ||
	    sym(h, "sqfs_dentry_inode", &lib.dentry_inode, m, n) < 0 ||
	    sym(h, "sqfs_dir_lookup", &lib.dir_lookup, m, n) < 0 || sym(h, "sqfs_inode_get", &lib.inode_get, m, n) < 0 ||
	    sym(h, "sqfs_stat", &lib.stat, m, n) < 0 || sym(h, "fuse_reply_entry", &lib.reply_entry, m, n) < 0 ||
	    sym(h, "fuse_reply_err", &lib.reply_err, m, n) < 0 || sym(h, "fuse_reply_buf", &lib.reply_buf, m, n) < 0 ||
	    sym(h, "sqfs_read_range", &lib.read_range, m, n) < 0 ||
	    sym(h, "sqfs_lookup_path", &lib.lookup_path, m, n) < 0 ||
	    sym(h, "sqfs_inode_root", &lib.inode_root, m, n) < 0)
		return -1;
#define SQ_RESOLVE(field, name)                                                                               \
	if (sym(h, #name, &lib.ops.field, m, n) < 0)                                                          \
		return -1;
	SQ_OPS(SQ_RESOLVE)
#undef SQ_RESOLVE
	lib.ops.lookup = op_lookup;
	lib.sq_open = lib.ops.open;
	lib.ops.open = op_open;
	lib.sq_read = lib.ops.read;
	lib.ops.read = op_read;
	lib.ops.init = op_init;
	/* No getxattr, no listxattr: the kernel then remembers that there are
	 * none (ENOSYS) and answers the overlay's checks for user.overlay.*
	 * (several on every lookup) itself, instead of asking this process
	 * each time: a python start made 200 such round trips. What the image's
	 * extended attributes could carry is moot in the container anyway:
	 * file capabilities need a suid mount, SELinux labels a policy. */
	lib.ops.getxattr = NULL;
	lib.ops.listxattr = NULL;
	zstd_keep_context(h); /* if not, libsquashfuse's own way */
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

/* Receive one message with up to two descriptors (SCM_RIGHTS) into fds;
 * how many came, or -1 on EOF or error. */
static int recv_fds(int sock, int fds[2])
{
	char byte;
	struct iovec iov = {&byte, 1};
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
	ssize_t r;
	while ((r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (r <= 0 || (mh.msg_flags & MSG_CTRUNC))
		return -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len < CMSG_LEN(sizeof(int)))
		return -1;
	size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	if (n > 2)
		return -1;
	memcpy(fds, CMSG_DATA(cm), n * sizeof(int));
	return (int)n;
}

/* Its own session: the terminal's ^C, ^Z and hangup are the command's; a
 * SIGTERM to the whole job (scancel) leaves the files readable while the
 * command shuts down. stdin, stdout and stderr go to /dev/null: a pipe the
 * command writes to sees its EOF when the command ends. */
static void detach(const char *name)
{
	static const int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2};
	setsid();
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++)
		signal(ignored[i], SIG_IGN);
	prctl(PR_SET_NAME, name, 0, 0, 0);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0)
		for (int i = 0; i < 3; i++)
			dup2(null, i);
	if (null > 2)
		close(null);
}

static sqfs_ll ll; /* the open squashfs; the helper inherits it */
static int ll_fd = -1; /* what ll reads: a descriptor of its own */
static dev_t ll_dev;
static ino_t ll_ino;
static uint64_t ll_off;

static int open_ll(int imgfd, uint64_t offset, char *msg, size_t size);

int squash_fd(void)
{
	return ll_fd;
}

int squash_open(int imgfd, uint64_t offset, char *msg, size_t size)
{
	struct stat sb;
	if (fstat(imgfd, &sb) < 0) {
		snprintf(msg, size, "%s", strerror(errno));
		return -1;
	}
	if (ll_fd >= 0) {
		if (sb.st_dev == ll_dev && sb.st_ino == ll_ino && offset == ll_off)
			return 0; /* open already (the image's config was read through it) */
		snprintf(msg, size, "another squashfs is open already");
		return -1;
	}
	int fd = fcntl(imgfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0) {
		snprintf(msg, size, "%s", strerror(errno));
		return -1;
	}
	if (open_ll(fd, offset, msg, size) < 0) {
		close(fd);
		return -1;
	}
	ll_fd = fd;
	ll_dev = sb.st_dev;
	ll_ino = sb.st_ino;
	ll_off = offset;
	return 0;
}

int squash_read_file(const char *path, size_t max, char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	if (ll_fd < 0)
		return -1;
	sqfs_inode inode;
	bool found = false;
	if (lib.inode_get(&ll.fs, &inode, lib.inode_root(&ll.fs)) != SQFS_OK ||
	    lib.lookup_path(&ll.fs, &inode, path, &found) != SQFS_OK)
		return -1;
	if (!found || !S_ISREG(inode.base.mode))
		return 0;
	if (inode.xtra.reg.file_size > max)
		return -1;
	size_t n = (size_t)inode.xtra.reg.file_size;
	char *buf = malloc(n + 1);
	if (!buf)
		return -1;
	sqfs_off_t got = (sqfs_off_t)n;
	if (n && (lib.read_range(&ll.fs, &inode, 0, &got, buf) != SQFS_OK || (size_t)got != n)) {
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 1;
}

static int open_ll(int imgfd, uint64_t offset, char *msg, size_t size)
{
	struct sqlib_status st = {0};
	if (squash_lib_load(&st) < 0) {
		snprintf(msg, size, "%s", st.msg);
		return -1;
	}
	sqfs_err e = lib.init(&ll.fs, imgfd, (size_t)offset);
	/* libsquashfuse keeps 1 data block and 3 fragment blocks
	 * decompressed: a program's pages, faulted in 4 KiB and 128 KiB
	 * reads that straddle blocks, would decompress each block again and
	 * again, and python's imports spread over many fragments. And 8
	 * metadata blocks (inodes, directories): a /bin/true start then
	 * decompressed 9 of its 35 blocks twice; 64 (at most 512 KiB) keep
	 * every one a start needs. */
	if (e == SQFS_OK) {
		lib.cache_destroy(&ll.fs.md_cache);
		lib.cache_destroy(&ll.fs.data_cache);
		lib.cache_destroy(&ll.fs.frag_cache);
		e = lib.block_cache_init(&ll.fs.md_cache, SQUASH_MD_BLOCKS);
		if (e == SQFS_OK)
			e = lib.block_cache_init(&ll.fs.data_cache, SQUASH_DATA_BLOCKS);
		if (e == SQFS_OK)
			e = lib.block_cache_init(&ll.fs.frag_cache, SQUASH_FRAG_BLOCKS);
	}
	if (e == SQFS_OK && ll.fs.sb.compression == ZSTD_COMPRESSION && zs.dctx)
		ll.fs.decompressor = zstd_block;
#ifdef HAVE_ISAL
	if (e == SQFS_OK && ll.fs.sb.compression == ZLIB_COMPRESSION && isal_load())
		ll.fs.decompressor = zlib_block;
#endif
	if (e == SQFS_OK)
		e = lib.ll_init(&ll);
	if (e != SQFS_OK) {
		snprintf(msg, size, "%s", sqfs_strerror(e));
		return -1;
	}
	return 0;
}

/* The container's outer mount namespace (see mount_fuse in squash.c),
 * held until the command ends: its teardown (an RCU grace period, and the
 * FUSE superblock's, whose last mount is there) then happens here, off the
 * command's path. The command is this process's parent, and the kernel
 * signals its end (PR_SET_PDEATHSIG): the handler lets the namespace go.
 * Letting it go early (the signal sent by someone else, the parent thread
 * gone before the other threads) only puts the teardown back on the
 * command's path; the container's own namespace keeps its mount. */
#define SQUASH_RELEASE_SIG SIGUSR2
static volatile sig_atomic_t held_ns = -1;

static void release_ns(int sig)
{
	(void)sig;
	int fd = held_ns;
	held_ns = -1;
	if (fd >= 0)
		close(fd); /* async-signal-safe */
}

void squash_helper_main(int sock, int watch_wr, pid_t command)
{
	detach("ferry-sqfs");
	struct sigaction sa = {.sa_handler = release_ns, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	bool watched = sigaction(SQUASH_RELEASE_SIG, &sa, NULL) == 0 &&
		       prctl(PR_SET_PDEATHSIG, SQUASH_RELEASE_SIG, 0, 0, 0) == 0;
	/* Before the descriptor comes: the container is still making its
	 * namespaces, and the kernel's INIT then finds the session ready. */
	char *argv[] = {"ferry-sqfs", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct fuse_session *se = lib.session_new(&args, &lib.ops, sizeof lib.ops, &ll);
	int fds[2] = {-1, -1};
	int n = recv_fds(sock, fds);
	close(sock);
	if (n < 1)
		_exit(0); /* the container side gave up before mounting */
	int fuse_fd = fds[0];
	if (n > 1) {
		held_ns = fds[1];
		/* Ended already (then getppid() names another process), or no
		 * signal will tell: let it go now. */
		if (!watched || getppid() != command)
			release_ns(0);
	}
	char dev[32];
	snprintf(dev, sizeof dev, "/dev/fd/%d", fuse_fd); /* libfuse: already mounted, serve this fd */
	if (!se || lib.session_mount(se, dev) != 0)
		_exit(1);
	(void)watch_wr; /* held, never written: its close tells the command (squash.c) */
	/* Until the kernel ends the connection: the last mount of it is gone. */
	lib.session_loop(se);
	/* No clean-up that could touch a mount point: _exit. */
	_exit(0);
}
