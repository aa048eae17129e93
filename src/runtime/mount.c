/* The runtime's mounts: the staging tmpfs, the image under an overlay or a
 * tmpfs "underlay", binds and tmpfs mounts at destinations resolved inside
 * the new root, read-only flags set on the mount's own fd, the stores made
 * read-only wherever a bind exposes them. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/inroot.h"
#include "base/log.h"
#include "base/path.h"
#include "base/str.h"
#include "runtime/internal.h"

int write_file(const char *path, const char *text, struct ferr *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return ferr_set(err, errno, "open %s", path);
	if (fs_write_all(fd, text, strlen(text)) < 0)
		return ferr_set(err, errno, "write %s", path);
	return 0;
}

char *fdpath(int fd)
{
	return xasprintf("/proc/self/fd/%d", fd);
}

/* FERRY_TEST_NO_MOUNT_SETATTR=1 takes the pre-5.12 path (tests). */
static bool use_setattr(void)
{
	const char *t = getenv("FERRY_TEST_NO_MOUNT_SETATTR");
	return !(t && t[0] == '1');
}

/* Make the mount at fd read-only. mount(2) ignores MS_RDONLY when a bind is
 * created, so this is always a second step. mount_setattr (Linux 5.12) also
 * covers submounts; the old remount must repeat the flags the kernel locked
 * when the mount crossed into our user namespace, or it fails with EPERM. */
int make_readonly(int fd, bool recursive, const char *what, struct ferr *err)
{
#ifdef SYS_mount_setattr
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
	if (use_setattr()) {
		if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr,
			    sizeof attr) == 0)
			return 0;
		if (errno != ENOSYS && errno != EINVAL)
			return ferr_set(err, errno, "make %s read-only", what);
	}
#endif
	struct statvfs sv;
	if (fstatvfs(fd, &sv) < 0)
		return ferr_set(err, errno, "statvfs %s", what);
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
	static const struct {
		unsigned long st, ms;
	} tr[] = {{ST_NOSUID, MS_NOSUID}, {ST_NODEV, MS_NODEV},       {ST_NOEXEC, MS_NOEXEC},
		  {ST_NOATIME, MS_NOATIME}, {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME}};
	for (size_t i = 0; i < sizeof tr / sizeof tr[0]; i++)
		if (sv.f_flag & tr[i].st)
			flags |= tr[i].ms;
	_cleanup_free_ char *p = fdpath(fd);
	if (mount(NULL, p, NULL, flags, NULL) < 0)
		return ferr_set(err, errno, "make %s read-only", what);
	return 0;
}

/* The staging tmpfs goes over the image's own path: it always exists, it is
 * ours, and covering it hides nothing the container needs (we hold imgfd).
 * Everything ferry generates lives there: the overlay's upper and work
 * directories, the new root's mount point, passwd/group, GPU links. */
int mount_staging(struct ctx *c, struct ferr *err)
{
	const struct run_spec *s = c->spec;
	char opts[64] = "mode=0755";
	if (s->writable_tmpfs && s->tmpfs_size)
		snprintf(opts, sizeof opts, "mode=0755,size=%llu", s->tmpfs_size);
	if (mount("ferry", c->rootfs, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return ferr_set(err, errno, "mount a tmpfs on %s", c->rootfs),
		       ferr_hint(err, "the user namespace grants no mount rights here; run 'ferry check'");
	c->stagefd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->stagefd < 0)
		return ferr_set(err, errno, "open %s", c->rootfs);
	/* work: only a writable overlay has one (mount_overlay) */
	static const char *const dirs[] = {"root", "upper", "work"};
	for (size_t i = 0; i < (s->writable_tmpfs && !s->scratch ? 3 : 2); i++)
		if (mkdirat(c->stagefd, dirs[i], 0755) < 0)
			return ferr_set(err, errno, "mkdir %s in the staging tmpfs", dirs[i]);
	c->newroot = path_join(c->rootfs, "root");
	return 0;
}

bool overlay_disabled(void)
{
	const char *v = getenv("FERRY_NO_OVERLAY");
	return v && v[0] && strcmp(v, "0");
}

/* Kernel overlayfs, mountable in a user namespace since Linux 5.11
 * ("userxattr" keeps its metadata in user.* xattrs). Paths go through
 * /proc/self/fd so no ',' or ':' in a user's path can break the options. */
int mount_overlay(struct ctx *c, struct ferr *err)
{
	_cleanup_close_ int up = -1, wk = -1;
	const struct run_spec *s = c->spec;
	bool writable = s->writable_tmpfs || s->scratch;
	if (s->scratch) {
		_cleanup_close_ int sd = open(s->scratch, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (sd < 0)
			return ferr_set(err, errno, "--scratch %s", s->scratch);
		for (int i = 0; i < 2; i++)
			if (mkdirat(sd, i ? "work" : "upper", 0755) < 0 && errno != EEXIST)
				return ferr_set(err, errno, "--scratch %s: mkdir", s->scratch);
		up = openat(sd, "upper", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		wk = openat(sd, "work", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	} else {
		up = openat(c->stagefd, "upper", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (writable)
			wk = openat(c->stagefd, "work", O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (up < 0 || (writable && wk < 0))
		return ferr_set(err, errno, "open the overlay's upper directory");
	char opts[160];
	if (writable)
		snprintf(opts, sizeof opts,
			 "lowerdir=/proc/self/fd/%d,upperdir=/proc/self/fd/%d,workdir=/proc/self/fd/%d,userxattr", c->imgfd, up,
			 wk);
	else
		/* Read-only: what precreate made sits on the image as a second
		 * lower layer, and there is no upper one. The kernel then skips
		 * what a writable overlay costs at every start: the work
		 * directory and its probes (O_TMPFILE, whiteouts, xattrs) at
		 * the mount, their teardown at the exit. */
		snprintf(opts, sizeof opts, "lowerdir=/proc/self/fd/%d:/proc/self/fd/%d,userxattr", up, c->imgfd);
	if (mount("overlay", c->newroot, "overlay", MS_NOSUID | MS_NODEV, opts) < 0)
		return ferr_set(err, errno, "mount overlay on %s", c->rootfs);
	return 0;
}

/* Without overlay: the new root is a tmpfs in which every top-level entry
 * of the image is bound (directories, files) or copied (symlinks). Bind
 * targets missing at the top level can then be created; deeper ones cannot
 * (they would be written into the image), and are reported. */
int mount_underlay(struct ctx *c, struct ferr *err)
{
	assert(c->newroot); /* set by the staging step, which runs first */
	if (mount(c->newroot, c->newroot, NULL, MS_BIND, NULL) < 0)
		return ferr_set(err, errno, "bind %s", c->newroot);
	_cleanup_close_ int nr = open(c->newroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int dfd = openat(c->imgfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (nr < 0 || dfd < 0) {
		if (dfd >= 0)
			close(dfd);
		return ferr_set(err, errno, "open %s", c->rootfs);
	}
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (!d)
		return ferr_set(err, errno, "read %s", c->rootfs);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return ferr_set(err, errno, "stat %s/%s", c->rootfs, e->d_name);
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlinkat(dfd, e->d_name, target, sizeof target - 1);
			if (n < 0)
				return ferr_set(err, errno, "readlink %s/%s", c->rootfs, e->d_name);
			target[n] = '\0';
			if (symlinkat(target, nr, e->d_name) < 0)
				return ferr_set(err, errno, "symlink %s", e->d_name);
			continue;
		}
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
			continue;
		int r = S_ISDIR(st.st_mode) ? mkdirat(nr, e->d_name, 0755)
					    : mknodat(nr, e->d_name, S_IFREG | 0644, 0);
		if (r < 0)
			return ferr_set(err, errno, "create %s in the underlay", e->d_name);
		_cleanup_close_ int src = openat(dfd, e->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		_cleanup_close_ int dst = openat(nr, e->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (src < 0 || dst < 0)
			return ferr_set(err, errno, "open %s", e->d_name);
		_cleanup_free_ char *sp = fdpath(src), *dp = fdpath(dst);
		if (mount(sp, dp, NULL, MS_BIND | MS_REC, NULL) < 0)
			return ferr_set(err, errno, "bind %s/%s", c->rootfs, e->d_name);
		/* Read-only at once: later mkdirs must never reach the image. */
		_cleanup_close_ int m = openat(nr, e->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (m < 0 || make_readonly(m, true, e->d_name, err) < 0)
			return m < 0 ? ferr_set(err, errno, "open %s", e->d_name) : -1;
	}
	return 0;
}

/* Where fd lies inside the new root ("/etc/passwd"), from the kernel's
 * name for it; NULL when it is not under the new root at all. */
static char *real_inside(struct ctx *c, int fd)
{
	char buf[PATH_MAX];
	_cleanup_free_ char *self = fdpath(fd);
	ssize_t k = readlink(self, buf, sizeof buf - 1);
	if (k <= 0)
		return NULL;
	buf[k] = '\0';
	size_t nl = strlen(c->newroot);
	if (strncmp(buf, c->newroot, nl) || (buf[nl] && buf[nl] != '/'))
		return NULL;
	return xstrdup(buf[nl] ? buf + nl : "/");
}

/* May a mount go to dst, which resolved (inside the root) to real? Not
 * when an image symlink sends it somewhere a bind of the host already
 * covers: there it would land on (or create) host files, e.g. an image's
 * etc/passwd -> /home/USER/.bash_profile under the $HOME bind, or
 * etc/hosts -> /tmp/x under /tmp. A destination is allowed into a mount
 * only when it names a path under that mount's own destination. Nor may
 * anything but "/" resolve to the root itself (an image's /tmp -> /).
 * (whole: real is where all of dst resolved, not an ancestor of it.)
 * Returns the index of the innermost mount holding real, -1 for none, or
 * -2 (reported) when refused. */
static int dest_check(struct ctx *c, const char *what, const char *dst, const char *real, bool whole)
{
	if (!real || (whole && !strcmp(real, "/") && strcmp(dst, "/"))) {
		log_warn("%s: %s resolves to the container's root through an image symlink; not bound", what, dst);
		return -2;
	}
	int in = -1;
	for (size_t i = 0; c->mnt_real && c->mnt_real[i]; i++)
		if (path_is_inside(c->mnt_real[i], real))
			in = (int)i; /* later mounts cover earlier ones */
	if (in >= 0 && !path_is_inside(c->mnt_dst[in], dst)) {
		log_warn("%s: %s resolves to %s through an image symlink, inside %s (%s); not bound", what, dst, real,
			 c->mnt_dst[in], c->mnt_src[in][0] ? c->mnt_src[in] : "tmpfs");
		return -2;
	}
	return in;
}

/* Open dst inside the new root as a mount point (a directory when is_dir),
 * creating what is missing. Before anything is created the deepest part of
 * dst that exists is resolved and checked (dest_check), so a refused
 * destination creates nothing, anywhere. A missing mount point inside a
 * host bind is created only for a user's own bind (BIND_USER). Returns the
 * O_PATH fd, -1 with *skip_err filled (not placed), or -2 (refused, reported). */
static int dest_open(struct ctx *c, const char *what, const char *dst, bool is_dir, int flags, struct ferr *e2,
		     char **real_out)
{
	_cleanup_free_ char *norm = path_normalize(dst);
	_cleanup_close_ int fd = inroot_open(c->rootfd, norm, O_PATH | O_CLOEXEC, 0, e2);
	bool exists = fd >= 0;
	if (!exists) {
		if (e2->errnum != ENOENT)
			return -1;
		/* The deepest ancestor that exists. */
		_cleanup_free_ char *anc = path_dirname(norm);
		while ((fd = inroot_open(c->rootfd, anc, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, e2)) < 0 &&
		       e2->errnum == ENOENT && strcmp(anc, "/")) {
			char *up = path_dirname(anc);
			free(anc);
			anc = up;
		}
		if (fd < 0)
			return -1;
		ferr_clear(e2);
	}
	_cleanup_free_ char *real = real_inside(c, fd);
	int in = dest_check(c, what, norm, real, exists);
	if (in == -2)
		return -2;
	if (exists) {
		*real_out = steal_ptr(&real);
		return steal_fd(&fd);
	}
	if (in >= 0 && c->mnt_src[in][0] && !(flags & BIND_USER)) {
		ferr_setc(e2, FERR_GENERIC, ENOENT, "it would be created in the host's %s", c->mnt_src[in]);
		return -1;
	}
	close(steal_fd(&fd));
	if (is_dir) {
		fd = inroot_mkdir_p(c->rootfd, norm, 0755, e2);
	} else {
		_cleanup_free_ char *parent = path_dirname(norm);
		_cleanup_close_ int pfd = inroot_mkdir_p(c->rootfd, parent, 0755, e2);
		if (pfd >= 0)
			fd = inroot_open(c->rootfd, norm, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644, e2);
	}
	if (fd < 0)
		return -1;
	free(real);
	real = real_inside(c, fd);
	if (dest_check(c, what, norm, real, true) == -2)
		return -2;
	*real_out = steal_ptr(&real);
	return steal_fd(&fd);
}

static void mount_record(struct ctx *c, const char *src, const char *dst, const char *real)
{
	_cleanup_free_ char *norm = path_normalize(dst);
	strv_push(&c->mnt_src, src ? src : "");
	strv_push(&c->mnt_dst, norm);
	strv_push(&c->mnt_real, real);
}

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

/* A read-only bind of (dfd, path) onto the mount point target, the flag set
 * on the new mount's own fd before it is attached (open_tree,
 * mount_setattr, move_mount): no path is looked up again after the mount,
 * so nothing swapped in meanwhile can make another mount read-only.
 * Returns 1 where the kernel lacks these calls (Linux < 5.12): the caller
 * then takes the old mount + remount path. */
static int bind_readonly_fd(int dfd, const char *path, int target, bool rec, const char *what, struct ferr *err)
{
#if defined(SYS_open_tree) && defined(SYS_move_mount) && defined(SYS_mount_setattr)
	if (!use_setattr())
		return 1;
	unsigned at = rec ? AT_RECURSIVE : 0;
	_cleanup_close_ int m = (int)syscall(SYS_open_tree, dfd, path,
					     OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | at | (path[0] ? 0 : AT_EMPTY_PATH));
	if (m < 0)
		return errno == ENOSYS ? 1 : ferr_set(err, errno, "bind %s", what);
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
	if (syscall(SYS_mount_setattr, m, "", AT_EMPTY_PATH | at, &attr, sizeof attr) < 0)
		return errno == ENOSYS ? 1 : ferr_set(err, errno, "make %s read-only", what);
	if (syscall(SYS_move_mount, m, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return ferr_set(err, errno, "bind %s", what);
	return 0;
#else
	(void)dfd, (void)path, (void)target, (void)rec, (void)what, (void)err;
	return 1;
#endif
}

/* Bind host src at dst inside the new root. dst is resolved with inroot_*
 * so an image symlink can never point a mount at the host, and checked
 * against the mounts already placed (dest_open); missing destinations are
 * created in the overlay or underlay. Returns 0 when placed, 1 when skipped
 * (reported), -1 on error. */
int place_bind(struct ctx *c, const char *src, const char *dst, int flags, struct ferr *err)
{
	struct stat st;
	if (stat(src, &st) < 0) {
		if (errno == ENOENT && (flags & BIND_OPTIONAL))
			return 1;
		return ferr_set(err, errno, "bind source %s", src);
	}
	struct ferr e2 = FERR_INIT;
	_cleanup_free_ char *what = xasprintf("bind %s", src);
	_cleanup_free_ char *real = NULL;
	int got = dest_open(c, what, dst, S_ISDIR(st.st_mode), flags, &e2, &real);
	if (got == -2)
		return 1;
	_cleanup_close_ int fd = got;
	if (fd >= 0 && !S_ISDIR(st.st_mode)) {
		struct stat dt;
		if (fstat(fd, &dt) == 0 && S_ISDIR(dt.st_mode)) {
			log_warn("bind %s: %s is a directory in the image, %s is not; not bound", src, dst, src);
			return 1;
		}
	}
	if (fd < 0) {
		(flags & BIND_QUIET ? log_debug : log_warn)("bind %s: cannot create %s in the image (%s)%s; not bound", src, dst,
			 e2.errnum && !e2.msg[0] ? strerror(e2.errnum) : e2.msg,
			 c->overlay ? "" : ": overlay is unavailable, so only top-level destinations can be created");
		return 1;
	}
	bool rec = flags & BIND_REC;
	int r = 1;
	if (flags & BIND_RO) {
		r = bind_readonly_fd(AT_FDCWD, src, fd, rec, dst, err);
		if (r < 0)
			return ferr_wrap(err, "bind %s to %s", src, dst);
	}
	if (r == 1) {
		_cleanup_free_ char *target = fdpath(fd);
		if (mount(src, target, NULL, MS_BIND | (rec ? MS_REC : 0), NULL) < 0)
			return ferr_set(err, errno, "bind %s to %s", src, dst);
		if (flags & BIND_RO) {
			/* Pre-5.12: the new mount is found again by its resolved
			 * path, with no symlink followed (nothing inside runs yet). */
			_cleanup_close_ int m = -1;
			struct ferr e3 = FERR_INIT;
			m = inroot_open(c->rootfd, real, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, &e3);
			if (m < 0)
				return *err = e3, ferr_wrap(err, "bind %s to %s", src, dst);
			if (make_readonly(m, rec, dst, err) < 0)
				return ferr_wrap(err, "bind %s to %s", src, dst);
		}
	}
	mount_record(c, src, dst, real);
	strv_push(&c->seen_src, src);
	strv_push(&c->seen_dst, dst);
	return 0;
}

int mount_tmpfs_at(struct ctx *c, const char *dst, const char *opts, struct ferr *err)
{
	struct ferr e2 = FERR_INIT;
	_cleanup_free_ char *what = xasprintf("tmpfs on %s", dst);
	_cleanup_free_ char *real = NULL;
	int got = dest_open(c, what, dst, true, BIND_USER, &e2, &real);
	if (got == -2)
		return 1;
	_cleanup_close_ int fd = got;
	if (fd < 0)
		return *err = e2, ferr_wrap(err, "tmpfs on %s", dst);
	_cleanup_free_ char *target = fdpath(fd);
	if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return ferr_set(err, errno, "mount a tmpfs on %s", dst);
	mount_record(c, NULL, dst, real);
	return 0;
}

/* GPU: libraries and binaries bound one by one into a private directory of
 * the staging tmpfs, which is then bound at GPU_DIR. Device nodes need no
 * work: /dev is the host's. */
int place_gpu(struct ctx *c, struct ferr *err)
{
	static const char *const sub[] = {"gpu", "gpu/lib", "gpu/bin"};
	for (size_t i = 0; i < 3; i++)
		if (mkdirat(c->stagefd, sub[i], 0755) < 0)
			return ferr_set(err, errno, "mkdir %s", sub[i]);
	for (int kind = 0; kind < 2; kind++) {
		struct gpu_file *f = kind ? c->gpu.bins : c->gpu.libs;
		size_t n = kind ? c->gpu.n_bins : c->gpu.n_libs;
		for (size_t i = 0; i < n; i++) {
			_cleanup_free_ char *rel = xasprintf("gpu/%s/%s", kind ? "bin" : "lib", f[i].name);
			_cleanup_close_ int fd = openat(c->stagefd, rel, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0755);
			if (fd < 0) {
				if (errno == EEXIST)
					continue; /* two files with one SONAME: the first wins */
				return ferr_set(err, errno, "create %s", rel);
			}
			_cleanup_free_ char *t = fdpath(fd);
			if (mount(f[i].host, t, NULL, MS_BIND, NULL) < 0)
				return ferr_set(err, errno, "bind %s", f[i].host);
		}
	}
	_cleanup_free_ char *src = path_join(c->rootfs, "gpu");
	int r = place_bind(c, src, GPU_DIR, BIND_REC | BIND_RO, err);
	if (r < 0)
		return -1;
	if (r > 0)
		return ferr_set(err, 0, "--gpu: cannot place the driver at %s", GPU_DIR);
	return 0;
}

/* Create dst's missing components in the overlay's upper layer before the
 * overlay is mounted. Through the merged view this would fail for an
 * unprivileged caller: the image's directories belong to an id that is not
 * mapped in our namespace, so not even "root" inside may write to them.
 * Existing components are looked up in the image with inroot_* (symlinks
 * resolved inside it) and mirrored as directories in the upper layer. */
void precreate(struct ctx *c, int upfd, const char *dst, bool is_dir)
{
	_cleanup_free_ char *norm = path_normalize(dst);
	/* Most destinations (/dev, /proc, /tmp, /etc/passwd...) exist in the
	 * image: one lookup settles them. */
	struct ferr fe = FERR_INIT;
	int whole = inroot_open(c->imgfd, norm, O_PATH | O_CLOEXEC, 0, &fe);
	if (whole >= 0) {
		close(whole);
		return;
	}
	/* The kernel's name for the image root: resolved paths start with it. */
	const char *imgpath = c->rootfs;
	struct dstr rel = DSTR_INIT; /* resolved path so far, relative to the root */
	_cleanup_free_ char *copy = xstrdup(norm);
	char *save = NULL;
	for (char *comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		bool last = save == NULL || *save == '\0';
		_cleanup_free_ char *cand = xasprintf("%s/%s", rel.buf ? rel.buf : "", comp);
		struct ferr e = FERR_INIT;
		_cleanup_close_ int fd = inroot_open(c->imgfd, cand, O_PATH | O_CLOEXEC, 0, &e);
		if (fd >= 0) {
			struct stat st;
			if (fstat(fd, &st) < 0 || (!last && !S_ISDIR(st.st_mode)))
				break;
			char buf[PATH_MAX];
			_cleanup_free_ char *self = fdpath(fd);
			ssize_t k = readlink(self, buf, sizeof buf - 1);
			if (k <= 0)
				break;
			buf[k] = '\0';
			size_t il = strlen(imgpath);
			if (strncmp(buf, imgpath, il) || (buf[il] && buf[il] != '/'))
				break; /* cannot happen with inroot; be safe */
			dstr_clear(&rel);
			dstr_append(&rel, buf + il);
			continue;
		}
		if (e.errnum != ENOENT)
			break;
		/* Missing from here on: mirror rel in upper, then create the rest. */
		_cleanup_free_ char *up = xasprintf("%s/%s", rel.buf && rel.buf[0] ? rel.buf + 1 : ".", comp);
		_cleanup_free_ char *rest = xasprintf("%s%s%s", up, save && *save ? "/" : "", save ? save : "");
		_cleanup_free_ char *walk = xstrdup(rest);
		char *s2 = NULL;
		struct dstr sofar = DSTR_INIT;
		for (char *p = strtok_r(walk, "/", &s2); p; p = strtok_r(NULL, "/", &s2)) {
			if (!strcmp(p, "."))
				continue;
			if (sofar.len)
				dstr_appendc(&sofar, '/');
			dstr_append(&sofar, p);
			bool end = s2 == NULL || *s2 == '\0';
			/* Resolved inside the upper layer as its own root: a
			 * --scratch upper keeps what earlier runs left in it,
			 * symlinks to host paths included, and those must lead
			 * nowhere but into the layer itself. */
			struct ferr ue = FERR_INIT;
			int f = end && !is_dir
					? inroot_open(upfd, sofar.buf, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644, &ue)
					: inroot_mkdir_p(upfd, sofar.buf, 0755, &ue);
			if (f < 0)
				break;
			close(f);
		}
		dstr_free(&sofar);
		break;
	}
	dstr_free(&rel);
}


/* Where host path p (canonical) appears through the bind src -> dst:
 * dst + the part of p below src; dst itself when the bind's source lies
 * inside p (all of it is store); NULL when the bind does not expose p. */
static char *exposed_at(const char *p, const char *src_real, const char *dst)
{
	if (path_is_inside(src_real, p))
		return path_join(dst, p + strlen(src_real));
	if (path_is_inside(p, src_real))
		return xstrdup(dst);
	return NULL;
}

/* The store is the user's images: a container that could write it would
 * change every image that shares a file with the one it runs (hardlinks),
 * and every later run. $HOME, the working directory and -B binds may
 * expose it (FERRY_HOME under $HOME by default, FERRY_STORE_PATH entries
 * anywhere): wherever one does, the store is bound read-only over itself.
 * The place inside is checked to be the store's own directory (same inode)
 * before anything is mounted, so no symlink can move the protection. */
int protect_stores(struct ctx *c, struct ferr *err)
{
	_cleanup_strv_ char **done = NULL; /* places inside already protected */
	for (size_t s = 0; c->stores && c->stores[s]; s++) {
		const char *p = c->stores[s];
		for (size_t b = 0; c->mnt_src && c->mnt_src[b]; b++) {
			const char *src = c->mnt_src[b];
			/* A tmpfs, ferry's own staging files, the kernel's trees. */
			if (!src[0] || path_is_inside(c->rootfs, src) || !strcmp(src, "/dev") || !strcmp(src, "/proc") ||
			    !strcmp(src, "/sys"))
				continue;
			_cleanup_free_ char *src_real = realpath(c->mnt_src[b], NULL);
			if (!src_real)
				continue;
			_cleanup_free_ char *q = exposed_at(p, src_real, c->mnt_dst[b]);
			if (!q || strv_contains(done, q))
				continue;
			strv_push(&done, q);
			const char *host = path_is_inside(src_real, p) ? p : src_real;
			struct stat hs, qs;
			struct ferr e = FERR_INIT;
			_cleanup_close_ int qfd = inroot_open(c->rootfd, q, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, &e);
			if (qfd < 0 && e.errnum != ENOENT)
				return *err = e, ferr_wrap(err, "find the store %s at %s inside", p, q);
			if (stat(host, &hs) < 0)
				return ferr_set(err, errno, "stat the store %s", host);
			/* Missing, or something else there (a later bind covers
			 * it): the store does not show at q. */
			if (qfd < 0 || fstat(qfd, &qs) < 0 || hs.st_dev != qs.st_dev || hs.st_ino != qs.st_ino)
				continue;
			_cleanup_free_ char *what = xasprintf("the store at %s", q);
			int r = bind_readonly_fd(qfd, "", qfd, true, what, err);
			if (r < 0)
				return -1;
			if (r == 1) {
				_cleanup_free_ char *t = fdpath(qfd);
				if (mount(t, t, NULL, MS_BIND | MS_REC, NULL) < 0)
					return ferr_set(err, errno, "bind %s", what);
				_cleanup_free_ char *real = real_inside(c, qfd);
				_cleanup_close_ int m = real ? inroot_open(c->rootfd, real, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, err) : -1;
				if (m < 0 || make_readonly(m, true, what, err) < 0)
					return m < 0 && !real ? ferr_set(err, 0, "find %s", what) : -1;
			}
		}
	}
	return 0;
}

/* The command may hold every capability of the container's user namespace
 * (--fakeroot, or root calling ferry), and in the namespace that created
 * the mounts those include remounting them: "mount -o remount,rw /data"
 * would lift a :ro bind, and in underlay mode the image's own binds. A
 * mount namespace created by a less privileged user namespace gets every
 * inherited mount locked (MNT_LOCK_READONLY, MNT_LOCK_NOSUID, ... and
 * MNT_LOCKED against unmounting what covers it; mount_namespaces(7),
 * user_namespaces(7)), so enter one: a nested user namespace mapping the
 * ids to themselves, and its own mount namespace. Done after pivot_root,
 * when the mount table is only the container's (cheap to copy).
 * Needed only when the command runs as uid 0 inside: any other uid loses
 * every capability at execve (capabilities(7): its inheritable and
 * ambient sets are empty after unshare, and PR_SET_NO_NEW_PRIVS stops file
 * capabilities and setuid), and a user namespace it creates itself gets
 * locked copies. That keeps the common unprivileged start free of it. */
int lock_mounts(struct ctx *c, struct ferr *err)
{
	unsigned in_uid = c->spec->fakeroot ? 0 : c->uid, in_gid = c->spec->fakeroot ? 0 : c->gid;
	if (in_uid != 0)
		return 0;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return ferr_set(err, errno, "lock the container's mounts (nested user namespace)"),
		       ferr_hint(err, "user.max_user_namespaces may be too low; run 'ferry check'");
	char map[64];
	snprintf(map, sizeof map, "%u %u 1\n", in_uid, in_uid);
	if (write_file("/proc/self/uid_map", map, err) < 0 || write_file("/proc/self/setgroups", "deny", err) < 0)
		return -1;
	snprintf(map, sizeof map, "%u %u 1\n", in_gid, in_gid);
	return write_file("/proc/self/gid_map", map, err);
}
