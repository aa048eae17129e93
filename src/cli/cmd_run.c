/* ferry run / exec / shell / check: parse options into a struct run_spec
 * and hand it to the runtime. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/home.h"
#include "base/path.h"
#include "base/str.h"
#include "cli/cli.h"
#include "runtime/runtime.h"

#define COMMON_OPTIONS \
	"  -B, --bind SRC[:DST[:ro|rw]]  bind a host path (repeatable, comma-separated;\n" \
	"                        also $FERRY_BIND); DST defaults to SRC\n" \
	"  -e, --env NAME=VALUE  set a variable (NAME alone: the host's value)\n" \
	"      --env-file FILE   variables from FILE, one NAME=VALUE per line\n" \
	"      --cleanenv        do not pass the host environment (keeps HOME USER TERM LANG)\n" \
	"      --no-home         do not bind $HOME\n" \
	"      --home SRC[:DST]  bind SRC as the home directory (at DST) instead of $HOME\n" \
	"  -c, --contain         private /tmp and /var/tmp, empty home, no current directory\n" \
	"      --pwd DIR         working directory inside\n" \
	"  -w, --writable-tmpfs[=SIZE]  make the root writable; changes vanish at exit\n" \
	"                        (SIZE like 512M or 4G; default: half of the RAM)\n" \
	"      --scratch DIR     keep the root's writable layer in DIR\n" \
	"      --fakeroot        be uid 0 inside (still your own user outside)\n" \
	"      --gpu, --nv       make the host's NVIDIA driver and GPUs usable\n" \
	"      --no-pull         fail if IMAGE is not in the store\n" \
	"      --network none    no network but a loopback interface (default: the host's)\n" \
	"\n" \
	"IMAGE is an image in the store or a directory: a root file system, or a\n" \
	"directory holding rootfs/ and an OCI image config.json. The image is\n" \
	"read-only. Exit status: the command's; 125 if ferry fails before it starts,\n" \
	"126 if it is not executable, 127 if it is not found. See doc/run.md.\n"

enum { OPT_ENV_FILE = 256, OPT_CLEANENV, OPT_NO_HOME, OPT_HOME, OPT_PWD, OPT_SCRATCH, OPT_FAKEROOT, OPT_GPU,
       OPT_NO_PULL, OPT_ENTRYPOINT, OPT_NETWORK };

static const struct option long_opts[] = {
	{"bind", required_argument, NULL, 'B'},
	{"env", required_argument, NULL, 'e'},
	{"env-file", required_argument, NULL, OPT_ENV_FILE},
	{"cleanenv", no_argument, NULL, OPT_CLEANENV},
	{"no-home", no_argument, NULL, OPT_NO_HOME},
	{"home", required_argument, NULL, OPT_HOME},
	{"contain", no_argument, NULL, 'c'},
	{"pwd", required_argument, NULL, OPT_PWD},
	{"writable-tmpfs", optional_argument, NULL, 'w'},
	{"scratch", required_argument, NULL, OPT_SCRATCH},
	{"fakeroot", no_argument, NULL, OPT_FAKEROOT},
	{"gpu", no_argument, NULL, OPT_GPU},
	{"nv", no_argument, NULL, OPT_GPU},
	{"no-pull", no_argument, NULL, OPT_NO_PULL},
	{"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
	{"network", required_argument, NULL, OPT_NETWORK},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct opts {
	struct run_spec spec;
	char **env, **env_files;
	struct run_bind *binds;
	size_t n_binds;
	char *home_src, *home_dst;
	bool no_pull;
	const char *entrypoint; /* run only */
};

static void opts_free(struct opts *o)
{
	strv_free(o->env);
	strv_free(o->env_files);
	runtime_binds_free(o->binds, o->n_binds);
	free(o->home_src);
	free(o->home_dst);
}

/* "512M", "4G", "1048576" → bytes (binary units). */
static int parse_size(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	unsigned shift = 0;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	default: return -1;
	}
	if (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B"))
		return -1;
	if (v == 0 || (shift && v > (~0ULL >> shift)))
		return -1;
	*out = v << shift;
	return 0;
}

/* Parse the options shared by run/exec/shell; returns the index of IMAGE
 * in argv, or -1 after printing a usage error (exit 2 in *rc). */
static int parse_common(const char *cmd, int argc, char **argv, struct opts *o, int *rc)
{
	struct ferr err = FERR_INIT;
	const char *fb = getenv("FERRY_BIND");
	if (fb && fb[0] && runtime_parse_binds(fb, &o->binds, &o->n_binds, &err) < 0) {
		*rc = cli_usage_error(cmd, "FERRY_BIND: %s", err.msg);
		return -1;
	}
	optind = 0; /* reset getopt; "+" stops at IMAGE */
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+B:e:cw::h", long_opts, NULL)) != -1) {
		/* getopt sets optarg for every option that requires one; the
		 * analyzer cannot know which those are. */
		const bool needs_arg = c == OPT_HOME || c == OPT_PWD || c == OPT_NETWORK;
		if (needs_arg && !optarg)
			continue;
		switch (c) {
		case 'B':
			if (runtime_parse_binds(optarg, &o->binds, &o->n_binds, &err) < 0) {
				*rc = cli_usage_error(cmd, "%s", err.msg);
				return -1;
			}
			break;
		case 'e': strv_push(&o->env, optarg); break;
		case OPT_ENV_FILE: strv_push(&o->env_files, optarg); break;
		case OPT_CLEANENV: o->spec.cleanenv = true; break;
		case OPT_NO_HOME: o->spec.no_home = true; break;
		case OPT_HOME: {
			const char *colon = strchr(optarg, ':');
			_cleanup_free_ char *src = colon ? xstrndup(optarg, (size_t)(colon - optarg)) : xstrdup(optarg);
			const char *dst = colon ? colon + 1 : src;
			if (!src[0] || !dst[0] || dst[0] != '/') {
				*rc = cli_usage_error(cmd, "--home %s: want SRC[:DST] with an absolute DST", optarg);
				return -1;
			}
			_cleanup_free_ char *abs = NULL;
			if (src[0] != '/') {
				_cleanup_free_ char *cwd = getcwd(NULL, 0);
				abs = path_join(cwd ? cwd : "/", src);
			}
			free(o->home_src);
			free(o->home_dst);
			o->home_src = path_normalize(abs ? abs : src);
			o->home_dst = path_normalize(colon ? dst : o->home_src);
			break;
		}
		case 'c': o->spec.contain = true; break;
		case OPT_PWD:
			if (optarg[0] != '/') {
				*rc = cli_usage_error(cmd, "--pwd %s: must be an absolute path", optarg);
				return -1;
			}
			o->spec.pwd = optarg;
			break;
		case 'w':
			o->spec.writable_tmpfs = true;
			if (optarg && parse_size(optarg, &o->spec.tmpfs_size) < 0) {
				*rc = cli_usage_error(cmd, "--writable-tmpfs=%s: not a size (like 512M or 4G)", optarg);
				return -1;
			}
			break;
		case OPT_SCRATCH: o->spec.scratch = optarg; break;
		case OPT_FAKEROOT: o->spec.fakeroot = true; break;
		case OPT_GPU: o->spec.gpu = true; break;
		case OPT_NO_PULL: o->no_pull = true; break;
		case OPT_NETWORK:
			if (strcmp(optarg, "none") && strcmp(optarg, "host")) {
				*rc = cli_usage_error(cmd, "--network %s: want none or host", optarg);
				return -1;
			}
			o->spec.no_network = !strcmp(optarg, "none");
			break;
		case OPT_ENTRYPOINT:
			if (strcmp(cmd, "run")) {
				*rc = cli_usage_error(cmd, "--entrypoint is an option of 'ferry run'");
				return -1;
			}
			o->entrypoint = optarg;
			break;
		case 'h': *rc = cli_help(cli_find(cmd)); return -1;
		default:
			*rc = cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
			return -1;
		}
	}
	if (optind >= argc) {
		*rc = cli_usage_error(cmd, "missing IMAGE");
		return -1;
	}
	o->spec.env = o->env;
	o->spec.env_files = o->env_files;
	o->spec.binds = o->binds;
	o->spec.n_binds = o->n_binds;
	o->spec.home_src = o->home_src;
	o->spec.home_dst = o->home_dst;
	return optind;
}

static int exit_for(const struct ferr *err)
{
	return err->code == FERR_NOCMD ? EXIT_NOTFOUND : err->code == FERR_NOEXEC ? EXIT_NOEXEC : EXIT_PRESTART;
}

enum mode { MODE_EXEC, MODE_RUN, MODE_SHELL };

static int run_main(enum mode mode, const char *cmd, int argc, char **argv)
{
	struct opts o = {0};
	int rc = EXIT_USAGE;
	int i = parse_common(cmd, argc, argv, &o, &rc);
	if (i < 0) {
		opts_free(&o);
		return rc;
	}
	const char *image = argv[i++];
	char **rest = argv + i;
	if (mode == MODE_EXEC && !rest[0]) {
		opts_free(&o);
		return cli_usage_error(cmd, "missing COMMAND");
	}
	if (mode == MODE_SHELL && rest[0]) {
		opts_free(&o);
		return cli_usage_error(cmd, "unexpected argument '%s' (use 'ferry exec' to run a command)", rest[0]);
	}
	struct ferr err = FERR_INIT;
	struct run_image r;
	struct cli_pull_bar bar;
	cli_pull_bar_init(&bar);
	if (runtime_resolve_image(image, o.no_pull, &bar.events, &r, &err) < 0) {
		opts_free(&o);
		return cli_fail(&err, EXIT_PRESTART);
	}
	o.spec.rootfs = r.rootfs;
	o.spec.image = r.have_config ? &r.config : NULL;
	_cleanup_strv_ char **run_argv = NULL;
	if (mode == MODE_RUN) {
		if (runtime_run_argv(o.spec.image, o.entrypoint, rest, &run_argv, &err) < 0) {
			runtime_image_free(&r);
			opts_free(&o);
			return cli_fail(&err, EXIT_PRESTART);
		}
		o.spec.argv = run_argv;
	} else if (mode == MODE_SHELL) {
		o.spec.shell = true;
	} else {
		o.spec.argv = rest;
	}
	runtime_exec(&o.spec, &err);
	rc = cli_fail(&err, exit_for(&err));
	runtime_image_free(&r);
	opts_free(&o);
	return rc;
}

static int exec_main(int argc, char **argv)
{
	return run_main(MODE_EXEC, "exec", argc, argv);
}
static int run_cmd_main(int argc, char **argv)
{
	return run_main(MODE_RUN, "run", argc, argv);
}
static int shell_main(int argc, char **argv)
{
	return run_main(MODE_SHELL, "shell", argc, argv);
}

static int check_main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i]))
			return cli_help(&cmd_check);
		if (!strcmp(argv[i], "--json"))
			cli_json = true;
		else
			return cli_usage_error("check", "unexpected argument '%s'", argv[i]);
	}
	const char *home = getenv("FERRY_HOME");
	_cleanup_free_ char *store = NULL;
	if (home && home[0]) {
		store = xstrdup(home);
	} else {
		const char *xdg = getenv("XDG_DATA_HOME");
		struct ferr he = FERR_INIT;
		_cleanup_free_ char *h = xdg && xdg[0] ? NULL : home_dir(&he);
		store = xdg && xdg[0] ? path_join(xdg, "ferry") : xasprintf("%s/.local/share/ferry", h ? h : "");
	}
	struct runtime_check items[16];
	size_t n = runtime_check_all(items, 16, store);
	bool ok = true;
	for (size_t i = 0; i < n; i++)
		ok &= items[i].ok || !items[i].required;
	if (cli_json) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, json_pack("{s:s, s:b, s:b, s:s, s:s}", "name", items[i].name, "ok",
							   items[i].ok, "required", items[i].required, "detail",
							   items[i].detail, "fix", items[i].fix));
		json_t *root = json_pack("{s:b, s:o}", "ok", ok, "checks", a);
		char *s = json_dumps(root, JSON_INDENT(2));
		puts(s);
		free(s);
		json_decref(root);
	} else {
		for (size_t i = 0; i < n; i++) {
			printf("%-4s %s: %s\n", items[i].ok ? "ok" : items[i].required ? "FAIL" : "no", items[i].name,
			       items[i].detail);
			if (!items[i].ok && items[i].fix[0])
				printf("     fix: %s\n", items[i].fix);
		}
		printf(ok ? "ferry can run containers here.\n" : "ferry cannot run containers here.\n");
	}
	return ok ? EXIT_OK : EXIT_ERR;
}

const struct cli_command cmd_run = {
	"run", "run an image's entrypoint without root",
	"Usage: ferry run [OPTIONS] IMAGE [ARG...]\n"
	"\n"
	"Run the image's ENTRYPOINT and CMD (docker semantics: ARGs replace CMD).\n"
	"\n"
	"Options:\n"
	"      --entrypoint CMD  run CMD instead of the image's ENTRYPOINT (\"\": none)\n" COMMON_OPTIONS,
	run_cmd_main,
};

const struct cli_command cmd_exec = {
	"exec", "run a command in an image without root",
	"Usage: ferry exec [OPTIONS] IMAGE COMMAND [ARG...]\n"
	"\n"
	"Run COMMAND in IMAGE as yourself, with your files, in place of ferry.\n"
	"\n"
	"Options:\n" COMMON_OPTIONS,
	exec_main,
};

const struct cli_command cmd_shell = {
	"shell", "start an interactive shell in an image",
	"Usage: ferry shell [OPTIONS] IMAGE\n"
	"\n"
	"Start $SHELL if the image has it, else /bin/bash, else /bin/sh.\n"
	"\n"
	"Options:\n" COMMON_OPTIONS,
	shell_main,
};

const struct cli_command cmd_check = {
	"check", "say what this machine allows (user namespaces, overlay, FUSE)",
	"Usage: ferry check [--json]\n"
	"\n"
	"Probe what this machine allows: unprivileged user namespaces (and why not),\n"
	"overlay in a user namespace, FUSE, openat2, a writable store. Each missing\n"
	"feature comes with its fix. Exit status 0 when containers can run.\n",
	check_main,
};
