/* Internal to the runtime layer: the steps runtime_exec() strings together. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "base/err.h"
#include "runtime/runtime.h"

/* env.c: the container's environment, in the documented order. home is the
 * value HOME gets inside (NULL: leave it as the layers put it); extra_ldpath
 * is appended to LD_LIBRARY_PATH (GPU libraries) when non-NULL. */
int env_build(const struct run_spec *spec, char **host_env, const char *home, const char *extra_ldpath,
	      char ***out, struct ferr *err);
/* The value of NAME in a strv environment, or NULL. */
const char *env_get(char **env, const char *name);
/* Is NAME a valid variable name ([A-Za-z_][A-Za-z0-9_]*)? */
bool env_name_valid(const char *name, size_t len);

/* gpu.c: the host driver's pieces to bind. */
struct gpu_file {
	char *host; /* host path (symlinks resolved) */
	char *name; /* for libs: the name in the private lib dir (SONAME);
		       for binaries: the basename; for devices: the path inside */
};
struct gpu_plan {
	struct gpu_file *devs, *libs, *bins;
	size_t n_devs, n_libs, n_bins;
	char **env; /* extra NAME=value from a CDI spec */
	const char *source; /* "CDI spec PATH" or "ldconfig cache" */
	char *source_buf;
};
/* Discover the driver (CDI spec under /etc/cdi or /var/run/cdi preferred,
 * else the linker cache); roots prefixed by $FERRY_GPU_ROOT when set. */
int gpu_discover(struct gpu_plan *plan, struct ferr *err);
void gpu_plan_free(struct gpu_plan *plan);
/* The ELF DT_SONAME of a shared library, or NULL. */
char *elf_soname(const char *path);

/* Directory inside the container where GPU libs and binaries go. */
#define GPU_DIR "/.ferry/gpu"

/* ---- container.c, mount.c, etcdb.c: one container being set up ---------- */

struct ctx {
	const struct run_spec *spec;
	uid_t uid;
	gid_t gid;
	char *rootfs;  /* canonical path of the image root; the staging tmpfs goes on top */
	int imgfd;     /* O_PATH of the image root, taken before it is covered */
	int stagefd;   /* the staging tmpfs */
	char *newroot; /* rootfs + "/root" */
	int rootfd;    /* O_PATH of newroot once assembled */
	bool overlay;
	char *cwd;
	char *home;                  /* host $HOME */
	char **seen_src, **seen_dst; /* binds placed, to decide if cwd is visible */
	/* Every mount placed in the new root, in order: the destination as
	 * asked (normalised) and where it resolved inside the root. */
	char **mnt_dst, **mnt_real;
	char **mnt_src; /* host source, "" for a tmpfs */
	char **stores;  /* store roots to keep read-only (canonical host paths) */
	char *passwd, *group;
	struct gpu_plan gpu;
	char *file; /* a single-file image (squash.c): its path; rootfs is then its mount directory */
	int sqsock; /* squash.c: the socket to the FUSE helper until the mount is served */
	int sqwatch; /* squash.c: read end of the helper's pipe until armed (0: none) */
};

/* container.c: unshare(USER|NS), in_uid -> out_uid, in_gid -> out_gid. */
int userns_enter(unsigned in_uid, unsigned out_uid, unsigned in_gid, unsigned out_gid, struct ferr *err);

/* squash.c: a single-file image (c->rootfs names the file). Before the
 * namespaces: check the file, start the FUSE helper, c->rootfs becomes
 * the mount directory. Then instead of a plain userns_enter: the two
 * namespaces with the squashfs mounted on c->rootfs between them. */
int squash_start(struct ctx *c, struct ferr *err);
int squash_enter(struct ctx *c, unsigned in_uid, unsigned in_gid, struct ferr *err);
/* squash_env.c: the plain NAME=value assignments of an Apptainer env
 * script (text, len bytes), expanded and added to *env in order. */
void squash_parse_env_script(const char *text, size_t len, char ***env);

enum {
	BIND_REC = 1,
	BIND_RO = 2,
	BIND_OPTIONAL = 4, /* skip silently if the source is missing */
	BIND_QUIET = 8,    /* a destination that cannot be created is only a debug note */
	BIND_USER = 16,    /* asked for by the user (-B, --home): may create its mount point in a host directory */
};

/* mount.c */
char *fdpath(int fd);
int write_file(const char *path, const char *text, struct ferr *err);
int make_readonly(int fd, bool recursive, const char *what, struct ferr *err);
int mount_staging(struct ctx *c, struct ferr *err);
bool overlay_disabled(void);
int mount_overlay(struct ctx *c, struct ferr *err);
int mount_underlay(struct ctx *c, struct ferr *err);
/* Bind host src at dst inside the new root (BIND_* flags). Returns 0 when
 * placed, 1 when skipped (reported), -1 on error. */
int place_bind(struct ctx *c, const char *src, const char *dst, int flags, struct ferr *err);
int mount_tmpfs_at(struct ctx *c, const char *dst, const char *opts, struct ferr *err);
int place_gpu(struct ctx *c, struct ferr *err);
void precreate(struct ctx *c, int upfd, const char *dst, bool is_dir);
/* Bind every store root (c->stores) that a bind exposes read-only over
 * itself, wherever it appears inside. */
int protect_stores(struct ctx *c, struct ferr *err);
/* After pivot_root: a nested user and mount namespace, so the kernel locks
 * every mount's flags (read-only, nosuid...) against the capabilities the
 * command holds (--fakeroot, or root). */
int lock_mounts(struct ctx *c, struct ferr *err);

/* etcdb.c */
void prepare_passwd(struct ctx *c);
int place_db(struct ctx *c, const char *file, const char *text, struct ferr *err);
