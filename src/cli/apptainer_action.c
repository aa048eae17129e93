/* `apptainer exec|run|shell [OPTIONS] IMAGE ...` as `ferry exec|run|shell`:
 * Apptainer's options (and its APPTAINER_ and SINGULARITY_ variables) are
 * rewritten into ferry's argument vector and handed to ferry's own
 * command, so that each behaves exactly as the ferry option it maps to
 * (tests/cli/apptainer-options.bats compares them). doc/apptainer.md has
 * the table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/path.h"
#include "base/str.h"
#include "cli/apptainer.h"
#include "cli/cli.h"
#include "runtime/runtime.h"

extern char **environ;

enum {
	A_BIND = 1, A_MOUNT, A_CLEANENV, A_ENV, A_ENV_FILE, A_PWD, A_WORKDIR, A_HOME, A_NO_HOME, A_CONTAIN,
	A_CONTAINALL, A_WRITABLE_TMPFS, A_FAKEROOT, A_NV, A_OVERLAY, A_NET, A_NETWORK, A_NOHTTPS, A_NO_MOUNT,
	A_COMPAT, A_QUIET, A_DEBUG, A_VERBOSE, A_NOEFFECT,
};

/* Every option Apptainer's exec/run/shell take that ferry honours. Any
 * other (--app, --scratch, --writable, --bind with an image source,
 * --security, --hostname, ...) is refused by name. */
static const struct ap_opt action_opts[] = {
	{ "bind", 'B', true, A_BIND },
	{ "mount", 0, true, A_MOUNT },
	{ "cleanenv", 'e', false, A_CLEANENV },
	{ "env", 0, true, A_ENV },
	{ "env-file", 0, true, A_ENV_FILE },
	{ "pwd", 0, true, A_PWD },
	{ "workdir", 'W', true, A_WORKDIR },
	{ "home", 'H', true, A_HOME },
	{ "no-home", 0, false, A_NO_HOME },
	{ "contain", 'c', false, A_CONTAIN },
	{ "containall", 'C', false, A_CONTAINALL },
	{ "writable-tmpfs", 0, false, A_WRITABLE_TMPFS },
	{ "fakeroot", 'f', false, A_FAKEROOT },
	{ "nv", 0, false, A_NV },
	{ "overlay", 'o', true, A_OVERLAY },
	{ "net", 'n', false, A_NET },
	{ "network", 0, true, A_NETWORK },
	{ "nohttps", 0, false, A_NOHTTPS },
	{ "no-https", 0, false, A_NOHTTPS },
	{ "no-mount", 0, true, A_NO_MOUNT },
	{ "compat", 0, false, A_COMPAT },
	/* Namespaces ferry always has (user, mount) or never makes (PID,
	 * IPC: the host's, as MPI wants), and output levels. */
	{ "userns", 'u', false, A_NOEFFECT },
	{ "ipc", 'i', false, A_NOEFFECT },
	{ "pid", 'p', false, A_NOEFFECT },
	{ "no-init", 0, false, A_NOEFFECT },
	{ "silent", 's', false, A_QUIET },
	{ "quiet", 'q', false, A_QUIET },
	{ "debug", 'd', false, A_DEBUG },
	{ "verbose", 'v', false, A_VERBOSE },
	{ "nocolor", 0, false, A_NOEFFECT },
	{ NULL, 0, false, 0 },
};

struct xlat {
	char **argv;      /* ferry's: "exec" OPTIONS -- IMAGE ARGS */
	bool contain, nohttps;
	const char *workdir;
};

static void push2(struct xlat *x, const char *opt, const char *val)
{
	strv_push(&x->argv, opt);
	if (val)
		strv_push(&x->argv, val);
}

/* --mount type=bind,source=SRC,destination=DST[,readonly] (docker's
 * --mount syntax, as Apptainer takes it) → -B SRC:DST[:ro]. */
static int mount_to_bind(struct xlat *x, const char *spec)
{
	_cleanup_free_ char *copy = xstrdup(spec);
	const char *src = NULL, *dst = NULL;
	bool ro = false, bind = false;
	char *save = NULL;
	for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		if (!strcmp(f, "type=bind"))
			bind = true;
		else if (str_starts_with(f, "source=") || str_starts_with(f, "src="))
			src = strchr(f, '=') + 1;
		else if (str_starts_with(f, "destination=") || str_starts_with(f, "dst=") || str_starts_with(f, "target="))
			dst = strchr(f, '=') + 1;
		else if (!strcmp(f, "readonly") || !strcmp(f, "ro") || !strcmp(f, "readonly=true"))
			ro = true;
		else
			return apptainer_fatal("--mount %s: '%s' is not supported by ferry's apptainer compatibility "
					       "(type=bind,source=SRC,destination=DST[,readonly])", spec, f);
	}
	if (!bind || !src || !dst || strchr(src, ':') || strchr(dst, ':'))
		return apptainer_fatal("--mount %s: want type=bind,source=SRC,destination=DST[,readonly]", spec);
	_cleanup_free_ char *b = xasprintf("%s:%s%s", src, dst, ro ? ":ro" : "");
	push2(x, "-B", b);
	return 0;
}

/* --env A=1,B=2 (a comma starts a new pair only where NAME= follows, so
 * a value may hold commas, as Apptainer's parser allows). */
static void env_pairs(struct xlat *x, const char *list)
{
	const char *start = list;
	for (const char *c = list;; c++) {
		bool next = false;
		if (*c == ',') {
			const char *n = c + 1;
			while ((*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z') || (*n >= '0' && *n <= '9') || *n == '_')
				n++;
			next = n > c + 1 && *n == '=';
		}
		if (*c == '\0' || next) {
			_cleanup_free_ char *one = xstrndup(start, (size_t)(c - start));
			if (one[0])
				push2(x, "-e", one);
			if (!*c)
				return;
			start = c + 1;
		}
	}
}

/* SINGULARITYENV_NAME, then APPTAINERENV_NAME (which wins, as in
 * Apptainer), as -e NAME=value. */
static void env_prefixed(struct xlat *x, const char *prefix)
{
	size_t pl = strlen(prefix);
	for (char **e = environ; *e; e++)
		if (!strncmp(*e, prefix, pl) && (*e)[pl] && (*e)[pl] != '=')
			push2(x, "-e", *e + pl);
}

static int workdir_binds(struct xlat *x)
{
	/* -W with --contain: /tmp and /var/tmp come from DIR/tmp and
	 * DIR/var_tmp (Apptainer's addTmpMount); without --contain the host's
	 * /tmp is shared and -W changes nothing (bosh passes it that way). */
	if (!x->workdir || !x->contain)
		return 0;
	_cleanup_free_ char *cwd = getcwd(NULL, 0);
	_cleanup_free_ char *abs = x->workdir[0] == '/' ? xstrdup(x->workdir) : path_join(cwd ? cwd : "/", x->workdir);
	static const char *const sub[][2] = { { "tmp", "/tmp" }, { "var_tmp", "/var/tmp" } };
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *d = path_join(abs, sub[i][0]);
		if (mkdir(d, 01777) < 0 && errno != EEXIST)
			return apptainer_fatal("--workdir %s: cannot create %s: %s", x->workdir, d, strerror(errno));
		_cleanup_free_ char *b = xasprintf("%s:%s", d, sub[i][1]);
		push2(x, "-B", b);
	}
	return 0;
}

/* Does IMAGE say what `run` runs (an ENTRYPOINT or a CMD)? An image that
 * cannot be read says yes: ferry run then reports why. */
static bool image_has_run(const char *image)
{
	struct ferr err = FERR_INIT;
	struct run_image r;
	if (runtime_resolve_image(image, true, NULL, &r, &err) < 0)
		return true;
	bool has = r.have_config && ((r.config.entrypoint && r.config.entrypoint[0]) || (r.config.cmd && r.config.cmd[0]));
	runtime_image_free(&r);
	return has;
}

int apptainer_action_main(const char *cmd, int argc, char **argv)
{
	struct xlat x = { 0 };
	strv_push(&x.argv, cmd);
	/* Variables first, so that options on the command line come later
	 * and win (ferry: later -e and -B entries win). */
	static const char *const bind_vars[] = { "SINGULARITY_BINDPATH", "SINGULARITY_BIND", "APPTAINER_BINDPATH",
						 "APPTAINER_BIND" };
	for (size_t i = 0; i < sizeof bind_vars / sizeof bind_vars[0]; i++) {
		const char *v = getenv(bind_vars[i]);
		if (v && v[0])
			push2(&x, "-B", v);
	}
	env_prefixed(&x, "SINGULARITYENV_");
	env_prefixed(&x, "APPTAINERENV_");
	x.nohttps = apptainer_env_nohttps();
	bool net = false;
	const char *network = NULL;
	struct ap_parser p;
	ap_init(&p, argc, argv, 1);
	int r, rc = 0;
	while (rc == 0 && (r = ap_next(&p, action_opts)) != 0) {
		switch (r) {
		case A_BIND: push2(&x, "-B", p.val); break;
		case A_MOUNT: rc = mount_to_bind(&x, p.val); break;
		case A_CLEANENV: push2(&x, "--cleanenv", NULL); break;
		case A_ENV: env_pairs(&x, p.val); break;
		case A_ENV_FILE: push2(&x, "--env-file", p.val); break;
		case A_PWD: push2(&x, "--pwd", p.val); break;
		case A_WORKDIR: x.workdir = p.val; break;
		case A_HOME: push2(&x, "--home", p.val); break;
		case A_NO_HOME: push2(&x, "--no-home", NULL); break;
		case A_CONTAIN: x.contain = true; break;
		case A_CONTAINALL:
			x.contain = true;
			push2(&x, "--cleanenv", NULL);
			break;
		case A_COMPAT:
			/* Apptainer: --containall --writable-tmpfs (+ --no-init,
			 * --no-umask, --no-eval, which ferry does anyway). */
			x.contain = true;
			push2(&x, "--cleanenv", NULL);
			push2(&x, "--writable-tmpfs", NULL);
			break;
		case A_WRITABLE_TMPFS: push2(&x, "--writable-tmpfs", NULL); break;
		case A_FAKEROOT: push2(&x, "--fakeroot", NULL); break;
		case A_NV: push2(&x, "--nv", NULL); break;
		case A_OVERLAY: {
			/* --overlay DIR: its upper layer on disk, i.e. ferry's
			 * --scratch. An overlay image file or DIR:ro has no
			 * equivalent. */
			struct stat sb;
			if (strchr(p.val, ':') || stat(p.val, &sb) < 0 || !S_ISDIR(sb.st_mode))
				rc = apptainer_fatal("--overlay %s: overlay image files and :ro are not supported by "
						     "ferry's apptainer compatibility (give a writable directory)",
						     p.val);
			else
				push2(&x, "--scratch", p.val);
			break;
		}
		case A_NET: net = true; break;
		case A_NETWORK: network = p.val; break;
		case A_NOHTTPS: x.nohttps = true; break;
		case A_NO_MOUNT: {
			/* Only "home" changes anything ferry mounts on request;
			 * the rest (proc, sys, dev, devpts, tmp, hostfs, cwd,
			 * bind-paths) are accepted as they are (doc/apptainer.md). */
			_cleanup_free_ char *l = xstrdup(p.val);
			char *save = NULL;
			for (char *t = strtok_r(l, ",", &save); t; t = strtok_r(NULL, ",", &save))
				if (!strcmp(t, "home"))
					push2(&x, "--no-home", NULL);
			break;
		}
		/* ferry's log levels are global: set them here. */
		case A_QUIET:
			/* shell's -s is Apptainer's --shell PATH, not --silent */
			if (!strcmp(cmd, "shell") && !strcmp(p.name, "-s")) {
				rc = apptainer_unsupported("-s/--shell");
				break;
			}
			log_level = LOG_QUIET;
			break;
		case A_DEBUG: log_level = LOG_DEBUG; break;
		case A_VERBOSE: log_level = log_level < LOG_INFO ? LOG_INFO : log_level; break;
		case A_NOEFFECT: break;
		default: rc = apptainer_bad_option(&p, r); break;
		}
	}
	if (rc == 0 && (net || network)) {
		/* Unprivileged Apptainer allows only --net --network none. */
		if (!net || !network || strcmp(network, "none"))
			rc = apptainer_fatal("--net --network %s: only --net --network none is supported by ferry's "
					     "apptainer compatibility", network ? network : "(none given)");
		else
			push2(&x, "--network", "none");
	}
	if (rc == 0 && x.contain)
		push2(&x, "--contain", NULL);
	if (rc == 0)
		rc = workdir_binds(&x);
	if (rc == 0 && p.i >= argc)
		rc = apptainer_fatal("%s: missing IMAGE", cmd);
	if (rc == 0 && !strcmp(cmd, "exec") && p.i + 1 >= argc)
		rc = apptainer_fatal("exec: missing COMMAND after %s", argv[p.i]);
	bool remote = false;
	_cleanup_free_ char *image = rc == 0 ? apptainer_image(argv[p.i], &remote, &rc) : NULL;
	if (!image) {
		strv_free(x.argv);
		return rc ? rc : APPTAINER_EXIT_FATAL;
	}
	/* A plain-HTTP registry: pull it here (ferry exec's own pull is
	 * TLS only); a stored image costs one manifest request. */
	if (remote && x.nohttps && (rc = apptainer_store_pull(image, true)) != 0) {
		strv_free(x.argv);
		return rc;
	}
	const struct cli_command *c = cli_find(cmd);
	if (!remote && !strcmp(cmd, "run") && !image_has_run(image)) {
		/* An image Apptainer built (no OCI config, or one without
		 * ENTRYPOINT and CMD): its runscript, as Apptainer's run. */
		free(x.argv[0]);
		x.argv[0] = xstrdup("exec");
		c = cli_find("exec");
		strv_push(&x.argv, "--");
		strv_push(&x.argv, image);
		strv_push(&x.argv, "/.singularity.d/runscript");
	} else {
		strv_push(&x.argv, "--");
		strv_push(&x.argv, image);
	}
	for (int i = p.i + 1; i < argc; i++)
		strv_push(&x.argv, argv[i]);
	rc = c->main((int)strv_len(x.argv), x.argv);
	strv_free(x.argv);
	/* Only ferry's own failures return (the command replaced ferry):
	 * Apptainer reports those, usage errors included, as 255. */
	return rc == EXIT_OK ? rc : APPTAINER_EXIT_FATAL;
}
