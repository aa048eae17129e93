/* The runtime: run a command in an image root without privileges.
 *
 * How `ferry exec IMAGE CMD` becomes a process (DESIGN.md, Runtime):
 *   unshare(CLONE_NEWUSER|CLONE_NEWNS), map the caller's ids, assemble the
 *   new root (the image read-only under a tmpfs overlay, default and user
 *   binds, generated /etc/passwd and /etc/group), pivot_root, chdir, set the
 *   environment, PR_SET_NO_NEW_PRIVS, execve.
 *
 * Callers describe the container with a struct run_spec and never see
 * namespaces. runtime_exec() replaces the calling process; runtime_spawn()
 * runs the same path in a child the caller owns (a pidfd and an error
 * channel), and runtime_run_wait() spawns, forwards signals and waits (for
 * `ferry app launch`). Nothing here keeps process-wide state. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "base/err.h"
#include "image/image.h"

struct run_bind {
	char *src; /* host path */
	char *dst; /* path inside the container */
	bool ro;
};

struct run_spec {
	const char *rootfs;                    /* image root directory (never written) */
	const struct image_config *image;      /* how to run it (image/image.h); NULL for a plain directory */
	char **argv;                           /* command and arguments; argv[0] searched in the container's PATH */
	bool shell;                            /* ignore argv: $SHELL if the image has it, else /bin/bash, else /bin/sh */

	/* Environment (order documented in doc/run.md). */
	bool cleanenv;    /* start from the image's ENV + HOME USER TERM LANG */
	char **env;       /* -e NAME=value (or NAME: take the host's value) */
	char **env_files; /* --env-file FILE, read on the host */

	/* File system. */
	struct run_bind *binds; /* -B, FERRY_BIND (already parsed) */
	size_t n_binds;
	bool no_home;         /* do not bind $HOME */
	const char *home_src; /* --home SRC[:DST]; NULL: $HOME at the same path */
	const char *home_dst;
	bool contain;         /* private /tmp and /var/tmp, empty home, no cwd bind */
	const char *pwd;      /* --pwd DIR; NULL: host cwd if visible, else WorkingDir, else / */
	bool writable_tmpfs;  /* root writable, changes discarded at exit */
	unsigned long long tmpfs_size; /* bytes; 0: the kernel's default (half of RAM) */
	const char *scratch;  /* --scratch DIR: writable layer on disk */
	bool fakeroot;        /* map the caller to uid/gid 0 inside */
	bool gpu;             /* --gpu/--nv: host NVIDIA driver */
	bool no_network;      /* --network none: own network namespace, loopback only */
	/* Store roots kept read-only inside wherever a bind ($HOME, the
	 * working directory, -B) exposes them. NULL: FERRY_STORE_PATH and the
	 * store of FERRY_HOME (as store_open finds them). */
	char **store_dirs;

	/* runtime_spawn/runtime_run_wait only: fds the child puts on its stdout/stderr
	 * (dup2 before entering); 0 means inherit the caller's. */
	int stdout_fd;
	int stderr_fd;
	/* runtime_spawn/runtime_run_wait only, optional: called in the parent right after
	 * the fork, while the command runs, to do work the caller needs
	 * afterwards (e.g. start a thread). After the fork, so no lock a
	 * thread of it takes (the loader's, malloc's) can be inherited by the
	 * child. It must return quickly. */
	void (*while_running)(void *arg);
	void *while_running_arg;
};

/* Parse "SRC[:DST[:ro|rw]][,SRC...]" (as -B and FERRY_BIND) and append to
 * *binds. A missing DST means SRC. Relative SRC is made absolute against the
 * current directory; DST must be absolute. */
int runtime_parse_binds(const char *text, struct run_bind **binds, size_t *n, struct ferr *err);
/* One "SRC[:DST[:ro|rw]]", no comma splitting (app launch -v, as docker
 * -v): the rules of runtime_parse_binds. Fills *b (caller frees src, dst). */
int runtime_parse_bind(const char *spec, struct run_bind *b, struct ferr *err);
void runtime_binds_free(struct run_bind *binds, size_t n);

/* An image ready to run: its root and, when known, its config. */
struct run_image {
	char *rootfs;
	struct image_config config; /* as image_config_parse() reads it */
	bool have_config; /* false for a plain directory */
};
/* IMAGE -> root file system + config, in this order (doc/run.md):
 *   a path (starts with / ./ ../): that directory — a root file system, or a
 *     directory holding rootfs/ and an OCI image config.json;
 *   a reference stored in FERRY_STORE_PATH or FERRY_HOME;
 *   otherwise pulled into the store (FERR_NOTFOUND with a hint if no_pull).
 * A bare name is never a directory of the current directory (the hint
 * says "./NAME" when one exists). */
struct pull_events;
/* events (may be NULL): progress and notes of a pull it makes. */
int runtime_resolve_image(const char *image, bool no_pull, const struct pull_events *events, struct run_image *out,
			  struct ferr *err);
void runtime_image_free(struct run_image *img);

/* `run` semantics (OCI/docker): ENTRYPOINT (or `entrypoint` when non-NULL;
 * "" clears it) followed by args if any, else by CMD (CMD is dropped when
 * entrypoint is overridden, as docker does). Fills *argv (caller frees with
 * strv_free); fails with FERR_USAGE when the result is empty. */
int runtime_run_argv(const struct image_config *cfg, const char *entrypoint, char **args,
		     char ***argv, struct ferr *err);

/* Run spec->argv in the container, replacing the calling process. Returns
 * only on failure: err->code FERR_NOCMD (exit 127), FERR_NOEXEC (126), any
 * other code: ferry failed before the command (125). */
int runtime_exec(const struct run_spec *spec, struct ferr *err);

/* A container started in a child process, owned by the caller. */
struct runtime_child {
	pid_t pid;
	int pidfd; /* readable once the child exits; for pidfd_send_signal; -1 before Linux 5.3 */
	int errfd; /* the error channel: EOF once the command started, else a struct ferr */
};
/* Fork and take runtime_exec()'s path in the child (spec->stdout_fd and
 * stderr_fd apply, while_running is called after the fork). Nothing
 * process-wide is touched: no handler, no static state; threads may spawn
 * at once. The caller waits (runtime_child_wait) and forwards signals. */
int runtime_spawn(const struct run_spec *spec, struct runtime_child *child, struct ferr *err);
/* Read the error channel and reap the child; closes its fds. Returns 0
 * with *status (as waitpid) and *ru (may be NULL) once the command ran;
 * -1 with err filled (code as runtime_exec) when it could not start. */
int runtime_child_wait(struct runtime_child *child, int *status, struct rusage *ru, struct ferr *err);

/* runtime_spawn() + runtime_child_wait(); meanwhile the calling thread
 * forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the
 * command (blocked in its own signal mask and read from a signalfd while
 * it waits; the mask is restored on return). Returns as
 * runtime_child_wait(). */
int runtime_run_wait(const struct run_spec *spec, int *status, struct rusage *ru, struct ferr *err);

/* `ferry check`: what this machine allows. */
struct runtime_check {
	const char *name; /* "user namespaces", "overlay in a user namespace", ... */
	bool ok;
	char detail[512]; /* what was found */
	char fix[512];    /* how to fix it when !ok, or "" */
	bool required;    /* ferry cannot run containers without it */
};
/* Fill up to max items; returns the count. store_dir may be NULL. */
size_t runtime_check_all(struct runtime_check *items, size_t max, const char *store_dir);
