/* Enter a container in the calling process: the recipe of DESIGN.md.
 *   verify we are not setuid → prepare on the host (env, passwd, GPU) →
 *   unshare(USER|NS) and map ids → staging tmpfs over the rootfs path →
 *   image under an overlay (or a tmpfs "underlay") → binds → read-only root →
 *   pivot_root → chdir → no_new_privs → find the command → execve.
 * Nothing here forks (except GPU discovery running ldconfig -p), so the
 * command keeps ferry's pid: signals and exit status need no relay. */
#include <dirent.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/inroot.h"
#include "base/log.h"
#include "base/path.h"
#include "base/str.h"
#include "runtime/internal.h"

extern char **environ;

struct ctx {
	const struct run_spec *spec;
	uid_t uid;
	gid_t gid;
	char *rootfs; /* canonical path of the image root; the staging tmpfs goes on top */
	int imgfd;    /* O_PATH of the image root, taken before it is covered */
	int stagefd;  /* the staging tmpfs */
	char *newroot; /* rootfs + "/root" */
	int rootfd;    /* O_PATH of newroot once assembled */
	bool overlay;
	char *cwd;
	char *home;    /* host $HOME */
	char **seen_src, **seen_dst; /* binds placed, to decide if cwd is visible */
	char *passwd, *group;
	struct gpu_plan gpu;
};

static void ctx_free(struct ctx *c)
{
	free(c->rootfs);
	free(c->newroot);
	free(c->cwd);
	free(c->home);
	free(c->passwd);
	free(c->group);
	strv_free(c->seen_src);
	strv_free(c->seen_dst);
	if (c->imgfd >= 0)
		close(c->imgfd);
	if (c->stagefd >= 0)
		close(c->stagefd);
	if (c->rootfd >= 0)
		close(c->rootfd);
	gpu_plan_free(&c->gpu);
}

/* Refuse to run setuid or setgid, as ch-run does: every id equal, so a
 * misinstalled ferry can never act with someone else's rights. */
static int verify_not_setuid(struct ferr *err)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return ferr_set(err, errno, "getresuid");
	if (r != e || e != s || rg != eg || eg != sg)
		return ferr_setc(err, FERR_PERM, 0, "ferry is installed setuid or setgid (uids %u/%u/%u, gids %u/%u/%u)",
				 r, e, s, rg, eg, sg),
		       ferr_hint(err, "ferry needs no privileges: chmod u-s,g-s the binary");
	return 0;
}

static int write_file(const char *path, const char *text, struct ferr *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return ferr_set(err, errno, "open %s", path);
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len)
		return ferr_set(err, errno, "write %s", path);
	return 0;
}

static int enter_namespaces(struct ctx *c, struct ferr *err)
{
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
		int e = errno;
		ferr_setc(err, FERR_PERM, e, "cannot create a user namespace");
		return ferr_hint(err, "run 'ferry check' to see why and how to enable it");
	}
	/* One id each, mapped to itself (or to 0 with --fakeroot): no setuid
	 * helper, and an unprivileged process may write exactly this map.
	 * setgroups must be denied before gid_map can be written. */
	unsigned in_uid = c->spec->fakeroot ? 0 : c->uid, in_gid = c->spec->fakeroot ? 0 : c->gid;
	char map[64];
	snprintf(map, sizeof map, "%u %u 1\n", in_uid, c->uid);
	if (write_file("/proc/self/uid_map", map, err) < 0)
		return -1;
	if (write_file("/proc/self/setgroups", "deny", err) < 0)
		return -1;
	snprintf(map, sizeof map, "%u %u 1\n", in_gid, c->gid);
	return write_file("/proc/self/gid_map", map, err);
}

static char *fdpath(int fd)
{
	return xasprintf("/proc/self/fd/%d", fd);
}

/* Make the mount at fd read-only. mount(2) ignores MS_RDONLY when a bind is
 * created, so this is always a second step. mount_setattr (Linux 5.12) also
 * covers submounts; the old remount must repeat the flags the kernel locked
 * when the mount crossed into our user namespace, or it fails with EPERM. */
static int make_readonly(int fd, bool recursive, const char *what, struct ferr *err)
{
#ifdef SYS_mount_setattr
	/* FERRY_TEST_NO_MOUNT_SETATTR=1 takes the pre-5.12 path (tests). */
	static int use_setattr = -1;
	if (use_setattr < 0) {
		const char *t = getenv("FERRY_TEST_NO_MOUNT_SETATTR");
		use_setattr = !(t && t[0] == '1');
	}
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
	if (use_setattr) {
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
static int mount_staging(struct ctx *c, struct ferr *err)
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
	static const char *const dirs[] = {"root", "upper", "work"};
	for (size_t i = 0; i < 3; i++)
		if (mkdirat(c->stagefd, dirs[i], 0755) < 0)
			return ferr_set(err, errno, "mkdir %s in the staging tmpfs", dirs[i]);
	c->newroot = path_join(c->rootfs, "root");
	return 0;
}

static bool overlay_disabled(void)
{
	const char *v = getenv("FERRY_NO_OVERLAY");
	return v && v[0] && strcmp(v, "0");
}

/* Kernel overlayfs, mountable in a user namespace since Linux 5.11
 * ("userxattr" keeps its metadata in user.* xattrs). Paths go through
 * /proc/self/fd so no ',' or ':' in a user's path can break the options. */
static int mount_overlay(struct ctx *c, struct ferr *err)
{
	_cleanup_close_ int up = -1, wk = -1;
	const struct run_spec *s = c->spec;
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
		wk = openat(c->stagefd, "work", O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (up < 0 || wk < 0)
		return ferr_set(err, errno, "open the overlay's upper directory");
	char opts[160];
	snprintf(opts, sizeof opts, "lowerdir=/proc/self/fd/%d,upperdir=/proc/self/fd/%d,workdir=/proc/self/fd/%d,userxattr",
		 c->imgfd, up, wk);
	if (mount("overlay", c->newroot, "overlay", MS_NOSUID | MS_NODEV, opts) < 0)
		return ferr_set(err, errno, "mount overlay on %s", c->rootfs);
	return 0;
}

/* Without overlay: the new root is a tmpfs in which every top-level entry
 * of the image is bound (directories, files) or copied (symlinks). Bind
 * targets missing at the top level can then be created; deeper ones cannot
 * (they would be written into the image), and are reported. */
static int mount_underlay(struct ctx *c, struct ferr *err)
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

enum {
	BIND_REC = 1,
	BIND_RO = 2,
	BIND_OPTIONAL = 4, /* skip silently if the source is missing */
	BIND_QUIET = 8,    /* a destination that cannot be created is only a debug note */
};

/* Bind host src at dst inside the new root. dst is resolved with
 * inroot_* so an image symlink can never point a mount at the host; missing
 * destinations are created in the overlay or underlay. Returns 0 when
 * placed, 1 when skipped (reported), -1 on error. */
static int place_bind(struct ctx *c, const char *src, const char *dst, int flags, struct ferr *err)
{
	struct stat st;
	if (stat(src, &st) < 0) {
		if (errno == ENOENT && (flags & BIND_OPTIONAL))
			return 1;
		return ferr_set(err, errno, "bind source %s", src);
	}
	struct ferr e2 = FERR_INIT;
	_cleanup_close_ int fd = -1;
	if (S_ISDIR(st.st_mode)) {
		fd = inroot_mkdir_p(c->rootfd, dst, 0755, &e2);
	} else {
		fd = inroot_open(c->rootfd, dst, O_PATH | O_CLOEXEC, 0, &e2);
		if (fd < 0 && e2.errnum == ENOENT) {
			ferr_clear(&e2);
			_cleanup_free_ char *parent = path_dirname(dst);
			_cleanup_close_ int pfd = inroot_mkdir_p(c->rootfd, parent, 0755, &e2);
			if (pfd >= 0)
				fd = inroot_open(c->rootfd, dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644, &e2);
		}
		if (fd >= 0) {
			struct stat dt;
			if (fstat(fd, &dt) == 0 && S_ISDIR(dt.st_mode)) {
				log_warn("bind %s: %s is a directory in the image, %s is not; not bound", src, dst, src);
				return 1;
			}
		}
	}
	if (fd < 0) {
		(flags & BIND_QUIET ? log_debug : log_warn)("bind %s: cannot create %s in the image (%s)%s; not bound", src, dst,
			 e2.errnum ? strerror(e2.errnum) : e2.msg,
			 c->overlay ? "" : ": overlay is unavailable, so only top-level destinations can be created");
		return 1;
	}
	_cleanup_free_ char *target = fdpath(fd);
	if (mount(src, target, NULL, MS_BIND | ((flags & BIND_REC) ? MS_REC : 0), NULL) < 0)
		return ferr_set(err, errno, "bind %s to %s", src, dst);
	if (flags & BIND_RO) {
		_cleanup_close_ int m = inroot_open(c->rootfd, dst, O_PATH | O_CLOEXEC, 0, err);
		if (m < 0 || make_readonly(m, flags & BIND_REC, dst, err) < 0)
			return ferr_wrap(err, "bind %s to %s", src, dst);
	}
	strv_push(&c->seen_src, src);
	strv_push(&c->seen_dst, dst);
	return 0;
}

static int mount_tmpfs_at(struct ctx *c, const char *dst, const char *opts, struct ferr *err)
{
	_cleanup_close_ int fd = inroot_mkdir_p(c->rootfd, dst, 0755, err);
	if (fd < 0)
		return ferr_wrap(err, "tmpfs on %s", dst);
	_cleanup_free_ char *target = fdpath(fd);
	if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return ferr_set(err, errno, "mount a tmpfs on %s", dst);
	return 0;
}

/* Directories whose host copy must not replace the image's: the current
 * directory is not bound when it is one of these or below one. */
static bool is_system_dir(const char *p)
{
	static const char *const sys[] = {"/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32",
					  "/proc", "/run", "/sbin", "/sys", "/usr", "/var/lib", "/var/cache",
					  "/var/log", "/var/run", "/var/spool"};
	if (!strcmp(p, "/") || !strcmp(p, "/var") || !strcmp(p, "/opt") || !strcmp(p, "/home") ||
	    !strcmp(p, "/mnt") || !strcmp(p, "/srv") || !strcmp(p, "/media") || !strcmp(p, "/root"))
		return true;
	for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
		if (path_is_inside(sys[i], p))
			return true;
	return false;
}

/* Is host path p visible at the same path inside (under a bind whose
 * source and destination are the same)? */
static bool visible_inside(struct ctx *c, const char *p)
{
	for (size_t i = 0; c->seen_src && c->seen_src[i]; i++)
		if (!strcmp(c->seen_src[i], c->seen_dst[i]) && path_is_inside(c->seen_src[i], p))
			return true;
	return false;
}

/* Read a small file of the image (e.g. /etc/passwd), or NULL. */
static char *read_image_file(struct ctx *c, const char *path)
{
	struct ferr e = FERR_INIT;
	_cleanup_close_ int fd = inroot_open(c->imgfd, path, O_RDONLY | O_CLOEXEC, 0, &e);
	if (fd < 0)
		return NULL;
	struct dstr s = DSTR_INIT;
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0 && s.len < (1 << 20))
		dstr_appendn(&s, buf, (size_t)n);
	return dstr_steal(&s);
}

/* The image's entries, minus those that clash with ours by name or id,
 * then ours. Fields of ours come from the host's passwd (NSS). */
static char *merge_db(const char *image, const char *ours, const char *name, unsigned id)
{
	struct dstr s = DSTR_INIT;
	if (image) {
		_cleanup_free_ char *copy = xstrdup(image);
		for (char *p = copy, *line; (line = strsep(&p, "\n")) != NULL;) {
			if (!line[0])
				continue;
			char *c1 = strchr(line, ':');
			char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
			if (c1 && (size_t)(c1 - line) == strlen(name) && !strncmp(line, name, strlen(name)))
				continue;
			if (c2 && strtoul(c2 + 1, NULL, 10) == id && c2[1] >= '0' && c2[1] <= '9')
				continue;
			dstr_append(&s, line);
			dstr_appendc(&s, '\n');
		}
	}
	dstr_append(&s, ours);
	return dstr_steal(&s);
}

static void prepare_passwd(struct ctx *c)
{
	unsigned uid = c->spec->fakeroot ? 0 : c->uid, gid = c->spec->fakeroot ? 0 : c->gid;
	const char *name = "root", *gecos = "root", *shell = "/bin/sh", *gname = "root";
	_cleanup_free_ char *home = xstrdup(c->home ? c->home : "/");
	char nbuf[64], gbuf[64];
	if (!c->spec->fakeroot) {
		struct passwd *pw = getpwuid(c->uid);
		struct group *gr = getgrgid(c->gid);
		snprintf(nbuf, sizeof nbuf, "user%u", uid);
		snprintf(gbuf, sizeof gbuf, "group%u", gid);
		name = pw ? pw->pw_name : nbuf;
		gecos = pw ? pw->pw_gecos : "";
		shell = pw && pw->pw_shell[0] ? pw->pw_shell : "/bin/sh";
		gname = gr ? gr->gr_name : gbuf;
	} else {
		free(home);
		home = xstrdup("/root");
	}
	const char *hin = c->spec->home_dst ? c->spec->home_dst : c->spec->home_src;
	if (hin && !c->spec->no_home) {
		free(home);
		home = xstrdup(hin);
	}
	_cleanup_free_ char *img_pw = read_image_file(c, "/etc/passwd");
	_cleanup_free_ char *img_gr = read_image_file(c, "/etc/group");
	_cleanup_free_ char *pw_line = xasprintf("%s:x:%u:%u:%s:%s:%s\n", name, uid, gid, gecos, home, shell);
	_cleanup_free_ char *gr_line = xasprintf("%s:x:%u:\n", gname, gid);
	c->passwd = merge_db(img_pw, pw_line, name, uid);
	c->group = merge_db(img_gr, gr_line, gname, gid);
}

/* Write generated passwd/group into the staging tmpfs and bind them over
 * the image's: the image is never written. */
static int place_db(struct ctx *c, const char *file, const char *text, struct ferr *err)
{
	_cleanup_close_ int fd = openat(c->stagefd, file, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		return ferr_set(err, errno, "write %s in the staging tmpfs", file);
	_cleanup_free_ char *src = path_join(c->rootfs, file);
	_cleanup_free_ char *dst = path_join("/etc", file);
	return place_bind(c, src, dst, 0, err) < 0 ? -1 : 0;
}

/* GPU: libraries and binaries bound one by one into a private directory of
 * the staging tmpfs, which is then bound at GPU_DIR. Device nodes need no
 * work: /dev is the host's. */
static int place_gpu(struct ctx *c, struct ferr *err)
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

/* What goes where, decided before anything is mounted, so that missing
 * destinations can be created in the overlay's upper layer first. */
enum step_kind { STEP_BIND, STEP_TMPFS, STEP_DB, STEP_GPU };
struct step {
	enum step_kind kind;
	const char *src, *dst, *opts;
	int flags;
};

static void add_step(struct step **v, size_t *n, enum step_kind k, const char *src, const char *dst, int flags,
		     const char *opts)
{
	*v = xrealloc(*v, (*n + 1) * sizeof **v);
	(*v)[(*n)++] = (struct step){k, src, dst, opts, flags};
}

static bool planned_visible(const struct step *v, size_t n, const char *p)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].kind == STEP_BIND && !strcmp(v[i].src, v[i].dst) && path_is_inside(v[i].src, p))
			return true;
	return false;
}

static size_t plan(struct ctx *c, struct step **v)
{
	const struct run_spec *s = c->spec;
	size_t n = 0;
	/* /proc and /sys are the host's: there is no PID namespace (a fresh
	 * proc could not be mounted), and MPI and Slurm want the host's. */
	add_step(v, &n, STEP_BIND, "/dev", "/dev", BIND_REC, NULL);
	add_step(v, &n, STEP_BIND, "/proc", "/proc", BIND_REC, NULL);
	add_step(v, &n, STEP_BIND, "/sys", "/sys", BIND_REC, NULL);
	if (s->contain) {
		add_step(v, &n, STEP_TMPFS, NULL, "/tmp", 0, "mode=1777");
		add_step(v, &n, STEP_TMPFS, NULL, "/var/tmp", 0, "mode=1777");
	} else {
		add_step(v, &n, STEP_BIND, "/tmp", "/tmp", BIND_REC, NULL);
		add_step(v, &n, STEP_BIND, "/var/tmp", "/var/tmp", BIND_REC | BIND_OPTIONAL, NULL);
	}
	add_step(v, &n, STEP_BIND, "/etc/resolv.conf", "/etc/resolv.conf", BIND_OPTIONAL | BIND_QUIET, NULL);
	add_step(v, &n, STEP_BIND, "/etc/hosts", "/etc/hosts", BIND_OPTIONAL | BIND_QUIET, NULL);
	if (!s->no_home) {
		const char *src = s->home_src ? s->home_src : c->home;
		const char *dst = s->home_dst ? s->home_dst : src;
		if (s->contain && !s->home_src) {
			if (dst && dst[0] == '/' && strcmp(dst, "/"))
				add_step(v, &n, STEP_TMPFS, NULL, dst, 0, "mode=0700");
		} else if (src && src[0] == '/' && strcmp(src, "/")) {
			add_step(v, &n, STEP_BIND, src, dst, BIND_REC | (s->home_src ? 0 : BIND_OPTIONAL), NULL);
		}
	}
	/* The current directory, unless a system directory or already visible. */
	if (!s->contain && c->cwd && !is_system_dir(c->cwd) && !planned_visible(*v, n, c->cwd) &&
	    !path_is_inside(c->rootfs, c->cwd))
		add_step(v, &n, STEP_BIND, c->cwd, c->cwd, BIND_REC | BIND_OPTIONAL, NULL);
	for (size_t i = 0; i < s->n_binds; i++)
		add_step(v, &n, STEP_BIND, s->binds[i].src, s->binds[i].dst, BIND_REC | (s->binds[i].ro ? BIND_RO : 0), NULL);
	add_step(v, &n, STEP_DB, "passwd", "/etc/passwd", 0, NULL);
	add_step(v, &n, STEP_DB, "group", "/etc/group", 0, NULL);
	if (s->gpu)
		add_step(v, &n, STEP_GPU, NULL, GPU_DIR, 0, NULL);
	return n;
}

/* Create dst's missing components in the overlay's upper layer before the
 * overlay is mounted. Through the merged view this would fail for an
 * unprivileged caller: the image's directories belong to an id that is not
 * mapped in our namespace, so not even "root" inside may write to them.
 * Existing components are looked up in the image with inroot_* (symlinks
 * resolved inside it) and mirrored as directories in the upper layer. */
static void precreate(struct ctx *c, int upfd, const char *dst, bool is_dir)
{
	_cleanup_free_ char *norm = path_normalize(dst);
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
			if (end && !is_dir) {
				int f = openat(upfd, sofar.buf, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
				if (f >= 0)
					close(f);
			} else if (mkdirat(upfd, sofar.buf, 0755) < 0 && errno != EEXIST) {
				break;
			}
		}
		dstr_free(&sofar);
		break;
	}
	dstr_free(&rel);
}

static bool step_is_dir(const struct step *st)
{
	struct stat sb;
	switch (st->kind) {
	case STEP_TMPFS:
	case STEP_GPU: return true;
	case STEP_DB: return false;
	case STEP_BIND: return stat(st->src, &sb) == 0 && S_ISDIR(sb.st_mode);
	}
	return true;
}

static int assemble(struct ctx *c, struct ferr *err)
{
	const struct run_spec *s = c->spec;
	if (mount_staging(c, err) < 0)
		return -1;
	_cleanup_free_ struct step *steps = NULL;
	size_t n = plan(c, &steps);
	c->overlay = false;
	if (!overlay_disabled()) {
		/* Mount points first, in the upper layer (see precreate). */
		_cleanup_close_ int upfd = -1;
		if (s->scratch) {
			_cleanup_close_ int sd = open(s->scratch, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (sd >= 0 && (mkdirat(sd, "upper", 0755) == 0 || errno == EEXIST))
				upfd = openat(sd, "upper", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		} else {
			upfd = openat(c->stagefd, "upper", O_PATH | O_DIRECTORY | O_CLOEXEC);
		}
		for (size_t i = 0; upfd >= 0 && i < n; i++)
			if (steps[i].kind != STEP_BIND || !(steps[i].flags & BIND_OPTIONAL) || access(steps[i].src, F_OK) == 0)
				precreate(c, upfd, steps[i].dst, step_is_dir(&steps[i]));
		struct ferr oe = FERR_INIT;
		if (mount_overlay(c, &oe) == 0)
			c->overlay = true;
		else if (s->scratch)
			return *err = oe, ferr_hint(err, "--scratch needs overlay in a user namespace (Linux >= 5.11) on a file system with user xattrs");
		else
			log_debug("no overlay: %s", oe.msg);
	}
	if (!c->overlay) {
		if (s->writable_tmpfs || s->scratch)
			return ferr_setc(err, FERR_UNSUPPORTED, 0, "%s needs overlay in a user namespace",
					 s->scratch ? "--scratch" : "--writable-tmpfs"),
			       ferr_hint(err, "Linux >= 5.11 allows it; see 'ferry check'");
		if (mount_underlay(c, err) < 0)
			return -1;
	}
	/* Unbindable: when the image lives under a directory bound recursively
	 * (/tmp, $HOME), the copy then skips the container being built. (Not
	 * the staging tmpfs: overlay refuses layers on unbindable mounts.) */
	assert(c->newroot);
	if (mount(NULL, c->newroot, NULL, MS_UNBINDABLE, NULL) < 0)
		return ferr_set(err, errno, "make %s unbindable", c->newroot);
	c->rootfd = open(c->newroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->rootfd < 0)
		return ferr_set(err, errno, "open %s", c->newroot);

	for (size_t i = 0; i < n; i++) {
		const struct step *st = &steps[i];
		int r = 0;
		switch (st->kind) {
		case STEP_BIND: r = place_bind(c, st->src, st->dst, st->flags, err); break;
		case STEP_TMPFS: r = mount_tmpfs_at(c, st->dst, st->opts, err); break;
		case STEP_DB: r = place_db(c, st->src, !strcmp(st->src, "passwd") ? c->passwd : c->group, err); break;
		case STEP_GPU: r = place_gpu(c, err); break;
		}
		if (r < 0)
			return -1;
	}
	/* The image is read-only: the root mount only; binds keep their own. */
	if (!s->writable_tmpfs && !s->scratch && make_readonly(c->rootfd, false, "the image root", err) < 0)
		return -1;
	return 0;
}

/* pivot_root(".", ".") stacks the old root on the new one; detaching it
 * leaves the new root alone (pivot_root(2), crun does the same). When the
 * host root is an initramfs rootfs, pivot_root fails with EINVAL: move the
 * new root over "/" and chroot instead, as ch-run does. */
static int switch_root(struct ctx *c, struct ferr *err)
{
	assert(c->newroot);
	if (chdir(c->newroot) < 0)
		return ferr_set(err, errno, "chdir %s", c->newroot);
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) < 0)
			return ferr_set(err, errno, "detach the old root");
	} else if (errno == EINVAL) {
		if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
			return ferr_set(err, errno, "move the new root over /");
		if (chroot(".") < 0)
			return ferr_set(err, errno, "chroot");
	} else {
		return ferr_set(err, errno, "pivot_root %s", c->newroot);
	}
	if (chdir("/") < 0)
		return ferr_set(err, errno, "chdir /");
	return 0;
}

/* Find the command in the container's PATH, so "not found" (127) and "not
 * executable" (126) are told apart before execve, with one clear line. */
static int find_command(const char *cmd, const char *path, char **out, struct ferr *err)
{
	if (!cmd[0])
		return ferr_setc(err, FERR_NOCMD, ENOENT, "empty command name");
	if (strchr(cmd, '/')) {
		struct stat st;
		if (stat(cmd, &st) < 0)
			return ferr_setc(err, FERR_NOCMD, 0, "%s: not found in the container", cmd);
		if (S_ISDIR(st.st_mode) || access(cmd, X_OK) < 0)
			return ferr_setc(err, FERR_NOEXEC, 0, S_ISDIR(st.st_mode) ? "%s: is a directory, not executable" : "%s: not executable (no execute permission)", cmd);
		*out = xstrdup(cmd);
		return 0;
	}
	_cleanup_free_ char *copy = xstrdup(path ? path : "");
	_cleanup_free_ char *noexec = NULL;
	for (char *s = copy, *dir; (dir = strsep(&s, ":")) != NULL;) {
		_cleanup_free_ char *p = path_join(dir[0] ? dir : ".", cmd);
		struct stat st;
		if (stat(p, &st) < 0 || S_ISDIR(st.st_mode))
			continue;
		if (access(p, X_OK) == 0) {
			*out = steal_ptr(&p);
			return 0;
		}
		if (!noexec)
			noexec = steal_ptr(&p);
	}
	if (noexec)
		return ferr_setc(err, FERR_NOEXEC, 0, "%s: not executable (no execute permission)", noexec);
	return ferr_setc(err, FERR_NOCMD, 0, "%s: command not found in the container's PATH", cmd);
}

static int choose_workdir(struct ctx *c, struct ferr *err)
{
	const struct run_spec *s = c->spec;
	if (s->pwd) {
		if (chdir(s->pwd) < 0)
			return ferr_set(err, errno, "--pwd %s", s->pwd);
		return 0;
	}
	if (c->cwd && visible_inside(c, c->cwd) && chdir(c->cwd) == 0)
		return 0;
	if (s->image && s->image->workdir && chdir(s->image->workdir) == 0)
		return 0;
	if (chdir("/") < 0)
		return ferr_set(err, errno, "chdir /");
	return 0;
}

static int enter_and_exec(struct ctx *c, struct ferr *err)
{
	const struct run_spec *s = c->spec;
	if (verify_not_setuid(err) < 0)
		return -1;
	if (!s->shell && (!s->argv || !s->argv[0]))
		return ferr_setc(err, FERR_USAGE, 0, "no command to run");
	/* Host side: everything that reads host files happens before we cover
	 * anything. */
	c->rootfs = realpath(s->rootfs, NULL);
	if (!c->rootfs)
		return ferr_setc(err, errno == ENOENT ? FERR_NOTFOUND : FERR_GENERIC, errno, "image %s", s->rootfs);
	if (!strcmp(c->rootfs, "/"))
		return ferr_setc(err, FERR_USAGE, 0, "the host root cannot be an image");
	c->imgfd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->imgfd < 0)
		return ferr_set(err, errno, "image %s", s->rootfs);
	c->uid = getuid();
	c->gid = getgid();
	c->cwd = getcwd(NULL, 0); /* NULL if deleted: then no cwd bind */
	const char *h = getenv("HOME");
	if (h && h[0] == '/')
		c->home = path_normalize(h);
	prepare_passwd(c);
	if (s->gpu && gpu_discover(&c->gpu, err) < 0)
		return -1;
	const char *home_inside = s->no_home ? NULL : s->home_dst ? s->home_dst : s->home_src;
	_cleanup_strv_ char **env = NULL;
	if (env_build(s, environ, home_inside, s->gpu ? GPU_DIR "/lib" : NULL, &env, err) < 0)
		return -1;
	if (s->gpu) {
		const char *old = env_get(env, "PATH");
		_cleanup_free_ char *kv = xasprintf("PATH=%s:" GPU_DIR "/bin", old ? old : "");
		for (size_t i = 0; env[i]; i++)
			if (str_starts_with(env[i], "PATH=")) {
				free(env[i]);
				env[i] = steal_ptr(&kv);
				break;
			}
		for (size_t i = 0; c->gpu.env && c->gpu.env[i]; i++)
			strv_push(&env, c->gpu.env[i]);
	}

	/* Mounts of the old namespace cannot be bound or used as overlay
	 * layers: open the image again from inside ours. */
	if (enter_namespaces(c, err) < 0)
		return -1;
	close(c->imgfd);
	c->imgfd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->imgfd < 0)
		return ferr_set(err, errno, "image %s", c->rootfs);
	if (assemble(c, err) < 0 || switch_root(c, err) < 0 ||
	    choose_workdir(c, err) < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return ferr_set(err, errno, "prctl(PR_SET_NO_NEW_PRIVS)");
	_cleanup_free_ char *prog = NULL;
	char *shell_argv[2] = {NULL, NULL};
	char **argv = s->argv;
	if (s->shell) {
		const char *host_shell = getenv("SHELL");
		const char *cands[] = {host_shell && host_shell[0] == '/' ? host_shell : "/bin/bash", "/bin/bash", "/bin/sh"};
		for (size_t i = 0; i < 3 && !shell_argv[0]; i++)
			if (access(cands[i], X_OK) == 0)
				shell_argv[0] = (char *)cands[i];
		if (!shell_argv[0])
			return ferr_setc(err, FERR_NOCMD, ENOENT, "no shell in the image ($SHELL, /bin/bash, /bin/sh)");
		argv = shell_argv;
	}
	if (find_command(argv[0], env_get(env, "PATH"), &prog, err) < 0)
		return -1;
	assert(prog); /* find_command() succeeded */
	execve(prog, argv, env);
	int e = errno;
	if (e == ENOENT) /* e.g. a script whose interpreter is missing */
		return ferr_setc(err, FERR_NOCMD, e, "%s: cannot run (missing interpreter or loader?)", prog);
	return ferr_setc(err, FERR_NOEXEC, e, "%s: cannot execute", prog);
}

int runtime_exec(const struct run_spec *spec, struct ferr *err)
{
	struct ctx c = {.spec = spec, .imgfd = -1, .stagefd = -1, .rootfd = -1};
	int r = enter_and_exec(&c, err);
	ctx_free(&c);
	return r;
}
