/* `ferry check`: what this machine allows, each with its fix (the job of
 * Charliecloud's ch-checkns). Every probe that changes namespaces runs in a
 * forked child, so the caller is left as it was. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/path.h"
#include "base/str.h"
#include "runtime/runtime.h"
#include "runtime/squash.h"

/* Run fn in a child; returns 0 or the errno it exited with. */
static int in_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0)
		_exit(fn(arg) & 0xff);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : EINTR;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	ssize_t n = write(fd, s, strlen(s));
	int e = n == (ssize_t)strlen(s) ? 0 : errno ? errno : EIO;
	close(fd);
	return e;
}

static int userns_probe(void *arg)
{
	(void)arg;
	uid_t uid = getuid();
	gid_t gid = getgid();
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return errno;
	char map[64];
	snprintf(map, sizeof map, "%u %u 1\n", uid, uid);
	int e = write_str("/proc/self/uid_map", map);
	if (!e)
		e = write_str("/proc/self/setgroups", "deny");
	snprintf(map, sizeof map, "%u %u 1\n", gid, gid);
	if (!e)
		e = write_str("/proc/self/gid_map", map);
	/* AppArmor's restriction lets unshare succeed and then withholds every
	 * capability in the namespace: only a mount tells. */
	if (!e && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		e = errno;
	return e;
}

static int overlay_probe(void *arg)
{
	const char *dir = arg;
	int e = userns_probe(NULL);
	if (e)
		return e;
	if (mount("ferry-check", dir, "tmpfs", 0, NULL) < 0)
		return errno;
	static const char *const sub[] = {"l", "u", "w", "m"};
	for (size_t i = 0; i < 4; i++) {
		_cleanup_free_ char *p = path_join(dir, sub[i]);
		if (mkdir(p, 0755) < 0)
			return errno;
	}
	_cleanup_free_ char *opts = xasprintf("lowerdir=%s/l,upperdir=%s/u,workdir=%s/w,userxattr", dir, dir, dir);
	_cleanup_free_ char *m = path_join(dir, "m");
	if (mount("overlay", m, "overlay", 0, opts) < 0)
		return errno;
	return 0;
}

#define FUSE_MOUNT_FAILED 128

/* In a child: a user namespace, /dev/fuse, a FUSE mount (no server: the
 * kernel only queues its first request), gone with the child. */
static int fuse_probe(void *arg)
{
	const char *dir = arg;
	int e = userns_probe(NULL);
	if (e)
		return e;
	const char *dev = getenv("FERRY_TEST_FUSE_DEV");
	int fd = open(dev && dev[0] ? dev : "/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno;
	char opts[96];
	snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=%u,group_id=%u", fd, getuid(), getgid());
	if (mount("ferry-check", dir, "fuse.squashfuse", MS_NOSUID | MS_NODEV | MS_RDONLY, opts) < 0)
		return FUSE_MOUNT_FAILED + (errno < 100 ? errno : 99);
	umount2(dir, MNT_DETACH);
	return 0;
}

static int lib_probe(void *arg)
{
	return squash_lib_load(arg) < 0 ? 1 : 0;
}

static long read_long(const char *path, long dflt)
{
	_cleanup_free_ char *text = NULL;
	if (fs_read_file(path, &text, NULL, NULL) < 0)
		return dflt;
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text)
		return dflt;
	return v;
}

static void set(struct runtime_check *c, const char *name, bool required, bool ok, const char *detail,
		const char *fix)
{
	c->name = name;
	c->required = required;
	c->ok = ok;
	snprintf(c->detail, sizeof c->detail, "%s", detail);
	snprintf(c->fix, sizeof c->fix, "%s", ok ? "" : fix);
}

size_t runtime_check_all(struct runtime_check *items, size_t max, const char *store_dir)
{
	size_t n = 0;
	char d[512];

	if (n < max) {
		uid_t r, e, s;
		gid_t rg, eg, sg;
		getresuid(&r, &e, &s);
		getresgid(&rg, &eg, &sg);
		bool ok = r == e && e == s && rg == eg && eg == sg;
		set(&items[n++], "not setuid", true, ok, ok ? "ferry runs with the caller's ids" : "ferry is installed setuid or setgid",
		    "chmod u-s,g-s the ferry binary: it needs no privileges");
	}

	int uerr = in_child(userns_probe, NULL);
	if (n < max) {
		long max_ns = read_long("/proc/sys/user/max_user_namespaces", -1);
		long clone = read_long("/proc/sys/kernel/unprivileged_userns_clone", -1);
		long aa = read_long("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", -1);
		const char *fix = "ask the administrator to enable unprivileged user namespaces";
		if (uerr == 0)
			snprintf(d, sizeof d, "unprivileged user namespaces work (user.max_user_namespaces=%ld)", max_ns);
		else if (max_ns == 0) {
			snprintf(d, sizeof d, "user.max_user_namespaces=0 (%s)", strerror(uerr));
			fix = "as root: sysctl -w user.max_user_namespaces=15000 (and in /etc/sysctl.d/ to keep it)";
		} else if (clone == 0) {
			snprintf(d, sizeof d, "kernel.unprivileged_userns_clone=0 (%s)", strerror(uerr));
			fix = "as root: sysctl -w kernel.unprivileged_userns_clone=1 (and in /etc/sysctl.d/ to keep it)";
		} else if (aa == 1) {
			snprintf(d, sizeof d, "AppArmor restricts unprivileged user namespaces "
					      "(kernel.apparmor_restrict_unprivileged_userns=1: %s)", strerror(uerr));
			fix = "as root: add an AppArmor profile for ferry with the 'userns,' rule "
			      "(see /etc/apparmor.d/ on Ubuntu >= 23.10), or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0";
		} else {
			snprintf(d, sizeof d, "cannot create a user namespace: %s (seccomp or a container runtime may forbid unshare)",
				 strerror(uerr));
		}
		set(&items[n++], "user namespaces", true, uerr == 0, d, fix);
	}

	if (n < max) {
		const char *tmp = getenv("TMPDIR");
		_cleanup_free_ char *dir = xasprintf("%s/ferry-check.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
		int oerr = uerr ? uerr : mkdtemp(dir) ? in_child(overlay_probe, dir) : errno;
		if (!uerr)
			rmdir(dir);
		snprintf(d, sizeof d, oerr == 0 ? "kernel overlayfs mounts in a user namespace: bind mount points "
						  "are created freely; --writable-tmpfs and --scratch work"
						: "no overlay in a user namespace (%s): ferry uses a tmpfs underlay; binds "
						  "to paths missing below the image's top level are skipped; "
						  "--writable-tmpfs and --scratch are unavailable",
			 strerror(oerr));
		set(&items[n++], "overlay in a user namespace", false, oerr == 0, d,
		    "Linux >= 5.11 allows it (RHEL/Rocky >= 9, Debian >= 12, Ubuntu >= 22.04)");
	}

	if (n < max) {
		/* What `ferry exec FILE.sqfs` does: /dev/fuse opened and a FUSE
		 * file system mounted in a user namespace, and the library the
		 * FUSE helper loads. */
		const char *tmp = getenv("TMPDIR");
		_cleanup_free_ char *dir = xasprintf("%s/ferry-check.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
		const char *dev = getenv("FERRY_TEST_FUSE_DEV");
		dev = dev && dev[0] ? dev : "/dev/fuse";
		int ferr_ = uerr ? uerr : mkdtemp(dir) ? in_child(fuse_probe, dir) : errno;
		if (!uerr)
			rmdir(dir);
		struct sqlib_status ls = {0};
		int lerr = ferr_ ? 0 : in_child(lib_probe, &ls);
		const char *fix = "only needed to run .sqfs/.sif files in place: chmod 0666 /dev/fuse or load the fuse module; "
				  "else 'ferry import FILE' unpacks a file into the store";
		if (uerr)
			snprintf(d, sizeof d, "no user namespace, so no FUSE mount in one (%s)", strerror(uerr));
		else if (ferr_ && ferr_ < FUSE_MOUNT_FAILED)
			snprintf(d, sizeof d, "%s cannot be opened in a user namespace (%s)", dev, strerror(ferr_));
		else if (ferr_)
			snprintf(d, sizeof d, "the kernel refuses a FUSE mount in a user namespace (%s; Linux >= 4.18 allows it)",
				 strerror(ferr_ - FUSE_MOUNT_FAILED));
		else if (lerr) {
			snprintf(d, sizeof d, "FUSE mounts work, but " SQUASH_LIB " does not load");
			fix = "install libsquashfuse0 and libfuse3-3 (Debian); or 'ferry import FILE' unpacks a file into the store";
		} else
			snprintf(d, sizeof d, "squashfs and SIF files mount through FUSE in a user namespace (%s opens; " SQUASH_LIB " loads)", dev);
		set(&items[n++], "squashfs mounts", false, !ferr_ && !lerr, d, fix);
	}

	if (n < max) {
		int e = 0;
#ifdef SYS_openat2
		struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
		long fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how);
		if (fd < 0)
			e = errno;
		else
			close((int)fd);
#else
		e = ENOSYS;
#endif
		snprintf(d, sizeof d, e ? "openat2 unavailable (%s): paths inside images are resolved by a slower userspace walk"
					: "openat2(RESOLVE_IN_ROOT) resolves paths inside images",
			 strerror(e));
		set(&items[n++], "openat2", false, e == 0, d, "Linux >= 5.6 has it; nothing to do, ferry falls back");
	}

	if (n < max && store_dir) {
		/* The store or its nearest existing parent must be writable. */
		_cleanup_free_ char *p = xstrdup(store_dir);
		while (access(p, F_OK) < 0 && strcmp(p, "/") && strcmp(p, ".")) {
			char *parent = path_dirname(p);
			free(p);
			p = parent;
		}
		struct stat st;
		bool ok = stat(p, &st) == 0 && S_ISDIR(st.st_mode) && access(p, W_OK) == 0;
		if (ok)
			snprintf(d, sizeof d, "%s is writable", store_dir);
		else
			snprintf(d, sizeof d, "%s is not writable (%s is not a writable directory)", store_dir, p);
		set(&items[n++], "store writable", false, ok, d,
		    "set FERRY_HOME to a writable directory (pulls need it; running a stored image does not)");
	}
	return n;
}
