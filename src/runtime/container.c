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
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
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
#include "store/store.h"

extern char **environ;

static void ctx_free(struct ctx *c)
{
	free(c->rootfs);
	free(c->file);
	if (c->sqsock >= 0)
		close(c->sqsock);
	if (c->sqwatch > 0)
		close(c->sqwatch);
	free(c->newroot);
	free(c->cwd);
	free(c->home);
	free(c->passwd);
	free(c->group);
	strv_free(c->seen_src);
	strv_free(c->seen_dst);
	strv_free(c->mnt_src);
	strv_free(c->mnt_dst);
	strv_free(c->mnt_real);
	strv_free(c->stores);
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

/* --network none: a new network namespace (owned by the container's user
 * namespace, so no privilege is needed) has only a loopback interface,
 * down; bring it up, as Apptainer's --network none does, so
 * that tools talking to themselves on 127.0.0.1 still work. */
static int network_none(struct ferr *err)
{
	if (unshare(CLONE_NEWNET) < 0)
		return ferr_set(err, errno, "--network none: create a network namespace");
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return ferr_set(err, errno, "--network none: read the loopback interface's flags");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return ferr_set(err, errno, "--network none: bring the loopback interface up");
	return 0;
}

/* unshare(CLONE_NEWUSER|CLONE_NEWNS), in_uid mapped to out_uid (an id of
 * the parent namespace) and in_gid to out_gid. */
int userns_enter(unsigned in_uid, unsigned out_uid, unsigned in_gid, unsigned out_gid, struct ferr *err)
{
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
		int e = errno;
		ferr_setc(err, FERR_PERM, e, "cannot create a user namespace");
		return ferr_hint(err, "run 'ferry check' to see why and how to enable it");
	}
	/* One id each, mapped to itself (or to 0 with --fakeroot): no setuid
	 * helper, and an unprivileged process may write exactly this map.
	 * setgroups must be denied before gid_map can be written. */
	char map[64];
	snprintf(map, sizeof map, "%u %u 1\n", in_uid, out_uid);
	if (write_file("/proc/self/uid_map", map, err) < 0)
		return -1;
	if (write_file("/proc/self/setgroups", "deny", err) < 0)
		return -1;
	snprintf(map, sizeof map, "%u %u 1\n", in_gid, out_gid);
	return write_file("/proc/self/gid_map", map, err);
}

static int enter_namespaces(struct ctx *c, struct ferr *err)
{
	unsigned in_uid = c->spec->fakeroot ? 0 : c->uid, in_gid = c->spec->fakeroot ? 0 : c->gid;
	/* A single-file image: its squashfs is mounted between two namespaces. */
	int rc = c->file ? squash_enter(c, in_uid, in_gid, err) : userns_enter(in_uid, c->uid, in_gid, c->gid, err);
	/* --network none: a network namespace of the container's user
	 * namespace, made once the ids are mapped (no privilege needed). */
	if (rc < 0 || !c->spec->no_network)
		return rc;
	return network_none(err);
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
			add_step(v, &n, STEP_BIND, src, dst, BIND_REC | BIND_USER | (s->home_src ? 0 : BIND_OPTIONAL), NULL);
		}
	}
	/* The current directory, unless a system directory or already visible. */
	if (!s->contain && c->cwd && !is_system_dir(c->cwd) && !planned_visible(*v, n, c->cwd) &&
	    !path_is_inside(c->rootfs, c->cwd))
		add_step(v, &n, STEP_BIND, c->cwd, c->cwd, BIND_REC | BIND_OPTIONAL | BIND_USER, NULL);
	for (size_t i = 0; i < s->n_binds; i++)
		add_step(v, &n, STEP_BIND, s->binds[i].src, s->binds[i].dst,
			 BIND_REC | BIND_USER | (s->binds[i].ro ? BIND_RO : 0), NULL);
	add_step(v, &n, STEP_DB, "passwd", "/etc/passwd", 0, NULL);
	add_step(v, &n, STEP_DB, "group", "/etc/group", 0, NULL);
	if (s->gpu)
		add_step(v, &n, STEP_GPU, NULL, GPU_DIR, 0, NULL);
	return n;
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
	if (protect_stores(c, err) < 0)
		return -1;
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

/* The store roots a bind might expose (protect_stores): the caller's list,
 * or else the stores ferry itself would use — FERRY_STORE_PATH and the
 * store of FERRY_HOME, whose default store_open() derives the same way.
 * Only those that exist, as canonical paths; nothing is created. */
static void find_stores(struct ctx *c)
{
	const struct run_spec *s = c->spec;
	_cleanup_strv_ char **cand = NULL;
	if (s->store_dirs) {
		for (char **d = s->store_dirs; *d; d++)
			strv_push(&cand, *d);
	} else {
		const char *sp = getenv("FERRY_STORE_PATH");
		_cleanup_free_ char *copy = xstrdup(sp ? sp : "");
		for (char *t = copy, *e; (e = strsep(&t, ":")) != NULL;)
			if (e[0])
				strv_push(&cand, e);
		struct ferr e = FERR_INIT;
		_cleanup_free_ char *home = store_default_root(&e); /* the one store_open uses */
		if (home)
			strv_push(&cand, home);
	}
	for (size_t i = 0; cand && cand[i]; i++) {
		_cleanup_free_ char *r = realpath(cand[i], NULL);
		if (r)
			strv_push(&c->stores, r);
	}
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
	c->uid = getuid();
	c->gid = getgid();
	struct stat rst;
	if (stat(c->rootfs, &rst) == 0 && S_ISREG(rst.st_mode)) {
		if (squash_start(c, err) < 0) /* c->rootfs becomes the mount directory */
			return -1;
	} else {
		c->imgfd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (c->imgfd < 0)
			return ferr_set(err, errno, "image %s", s->rootfs);
	}
	c->cwd = getcwd(NULL, 0); /* NULL if deleted: then no cwd bind */
	const char *h = getenv("HOME");
	if (h && h[0] == '/')
		c->home = path_normalize(h);
	prepare_passwd(c);
	find_stores(c);
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
	if (c->imgfd >= 0)
		close(c->imgfd);
	c->imgfd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->imgfd < 0)
		return ferr_set(err, errno, "image %s", c->rootfs);
	if (assemble(c, err) < 0 || switch_root(c, err) < 0 || lock_mounts(c, err) < 0 ||
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
	struct ctx c = {.spec = spec, .imgfd = -1, .stagefd = -1, .rootfd = -1, .sqsock = -1};
	int r = enter_and_exec(&c, err);
	ctx_free(&c);
	return r;
}

