/* ferry as `apptainer` / `singularity` (doc/apptainer.md): called by one
 * of those names (a symlink in $PREFIX/libexec/ferry/compat/) or as
 * `ferry apptainer ARGS`. Global options, the command table, version,
 * inspect and cache live here; exec/run/shell in apptainer_action.c,
 * pull/build in apptainer_pull.c. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
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
#include "store/store.h"

const char *apptainer_prog = "apptainer";

/* ---- options, pflag style ------------------------------------------------ */

void ap_init(struct ap_parser *p, int argc, char **argv, int first)
{
	memset(p, 0, sizeof *p);
	p->argc = argc;
	p->argv = argv;
	p->i = first;
}

static const struct ap_opt *find_long(const struct ap_opt *tab, const char *name, size_t len)
{
	for (; tab->lng || tab->shrt; tab++)
		if (tab->lng && strlen(tab->lng) == len && !strncmp(tab->lng, name, len))
			return tab;
	return NULL;
}

static const struct ap_opt *find_short(const struct ap_opt *tab, char c)
{
	for (; tab->lng || tab->shrt; tab++)
		if (tab->shrt == c)
			return tab;
	return NULL;
}

int ap_next(struct ap_parser *p, const struct ap_opt *tab)
{
	p->val = NULL;
	if (p->sub == 0) {
		if (p->i >= p->argc)
			return 0;
		const char *a = p->argv[p->i];
		if (a[0] != '-' || !a[1])
			return 0;
		if (!strcmp(a, "--")) {
			p->i++;
			return 0;
		}
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
			snprintf(p->name, sizeof p->name, "--%.*s", (int)(len < 60 ? len : 60), a + 2);
			const struct ap_opt *o = find_long(tab, a + 2, len);
			p->i++;
			if (!o)
				return -1;
			if (o->arg) {
				if (eq)
					p->val = eq + 1;
				else if (p->i < p->argc)
					p->val = p->argv[p->i++];
				else
					return -2;
			} else if (eq) {
				/* --flag=true|false, as pflag allows for booleans */
				if (!strcmp(eq + 1, "false"))
					return ap_next(p, tab);
				if (strcmp(eq + 1, "true"))
					return -2;
			}
			return o->id;
		}
		p->sub = 1;
	}
	const char *a = p->argv[p->i];
	char c = a[p->sub];
	snprintf(p->name, sizeof p->name, "-%c", c);
	const struct ap_opt *o = find_short(tab, c);
	p->sub++;
	bool last = !a[p->sub];
	if (!o) {
		p->sub = 0;
		p->i++;
		return -1;
	}
	if (o->arg) {
		p->i++;
		if (!last)
			p->val = a + p->sub;
		else if (p->i < p->argc)
			p->val = p->argv[p->i++];
		p->sub = 0;
		return p->val ? o->id : -2;
	}
	if (last) {
		p->sub = 0;
		p->i++;
	}
	return o->id;
}

/* ---- messages --------------------------------------------------------------- */

int apptainer_unsupported(const char *opt)
{
	fprintf(stderr, "ferry: option %s is not supported by ferry's apptainer compatibility (doc/apptainer.md)\n", opt);
	return APPTAINER_EXIT_FATAL;
}

int apptainer_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ferry: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return APPTAINER_EXIT_FATAL;
}

int apptainer_fail(const struct ferr *err)
{
	return cli_fail(err, APPTAINER_EXIT_FATAL);
}

int apptainer_bad_option(const struct ap_parser *p, int r)
{
	if (r == -2)
		return apptainer_fatal("option %s: missing or bad value", p->name);
	return apptainer_unsupported(p->name);
}

/* ---- images ----------------------------------------------------------------- */

static bool env_true(const char *name)
{
	const char *v = getenv(name);
	return v && v[0] && strcmp(v, "0") && strcasecmp(v, "false") && strcasecmp(v, "no");
}

bool apptainer_env_nohttps(void)
{
	return env_true("APPTAINER_NOHTTPS") || env_true("SINGULARITY_NOHTTPS") ||
	       env_true("APPTAINER_NO_HTTPS") || env_true("SINGULARITY_NO_HTTPS");
}

char *apptainer_image(const char *arg, bool *remote, int *rc)
{
	*remote = false;
	if (str_starts_with(arg, "docker://")) {
		if (!arg[9]) {
			*rc = apptainer_fatal("%s: no image reference after docker://", arg);
			return NULL;
		}
		*remote = true;
		/* "docker:///repo:tag" (bosh's empty index) is docker://repo:tag */
		const char *r = arg + 9;
		while (*r == '/')
			r++;
		return xstrdup(r);
	}
	if (str_starts_with(arg, "oci:") || str_starts_with(arg, "oci-archive:") ||
	    str_starts_with(arg, "docker-archive:")) {
		*remote = true; /* pulled into the store like a registry image */
		return xstrdup(arg);
	}
	const char *sep = strstr(arg, "://");
	if (sep || str_starts_with(arg, "instance:")) {
		*rc = apptainer_fatal("%s: the %.*s transport is not supported by ferry's apptainer compatibility "
				      "(use docker://, oci:, a SIF or squashfs file or a sandbox directory)",
				      arg, sep ? (int)(sep - arg) : 8, arg);
		return NULL;
	}
	struct stat sb;
	if (stat(arg, &sb) < 0) {
		*rc = apptainer_fatal("could not open image %s: %s", arg, strerror(errno));
		return NULL;
	}
	if (arg[0] == '/')
		return path_normalize(arg);
	_cleanup_free_ char *cwd = getcwd(NULL, 0);
	if (!cwd) {
		*rc = apptainer_fatal("image %s: cannot read the current directory: %s", arg, strerror(errno));
		return NULL;
	}
	_cleanup_free_ char *abs = path_join(cwd, arg);
	return path_normalize(abs);
}

int apptainer_store_pull(const char *ref, bool insecure)
{
	struct ferr err = FERR_INIT;
	struct store *st;
	if (store_open(&st, &err) < 0)
		return apptainer_fail(&err);
	struct cli_pull_bar bar;
	cli_pull_bar_init(&bar);
	struct pull_opts o = { .insecure = insecure, .events = &bar.events, .quiet = log_level <= LOG_QUIET };
	int rc = store_pull(st, ref, &o, NULL, &err);
	store_close(st);
	if (rc < 0) {
		if (!insecure)
			ferr_hint(&err, "a registry without TLS needs --nohttps or APPTAINER_NOHTTPS=1");
		return apptainer_fail(&err);
	}
	return 0;
}

/* ---- version, help ---------------------------------------------------------- */

static int print_version(bool bare)
{
	/* "apptainer version X" is what cwltool (regex "(.+) version ([0-9.]+)"),
	 * Snakemake ("apptainer" prefix, then the last word >= 1.0.0) and bosh
	 * (exit status) read; ferry's own version rides in the semver build
	 * metadata, which version comparisons ignore. */
	if (bare)
		printf("%s+ferry.%s\n", APPTAINER_COMPAT_VERSION, FERRY_VERSION);
	else
		printf("apptainer version %s+ferry.%s\n", APPTAINER_COMPAT_VERSION, FERRY_VERSION);
	return EXIT_OK;
}

static int usage(FILE *f, int rc)
{
	fprintf(f,
		"Usage: %s [global options] COMMAND [options] ...\n"
		"\n"
		"ferry %s answering as Apptainer %s (doc/apptainer.md).\n"
		"\n"
		"Commands:\n"
		"  exec      run a command in an image\n"
		"  run       run an image's runscript (ENTRYPOINT and CMD)\n"
		"  shell     a shell in an image\n"
		"  pull      pull docker://REF into ferry's store and write --name FILE\n"
		"  build     FILE.sif from docker://REF or a sandbox directory\n"
		"  inspect   an image's labels, environment, runscript\n"
		"  cache     list | clean ferry's store\n"
		"  version   print the version\n"
		"\n"
		"Global options: -d/--debug, -q/--quiet, -s/--silent, -v/--verbose, --nocolor,\n"
		"--version, -h/--help.\n",
		apptainer_prog, FERRY_VERSION, APPTAINER_COMPAT_VERSION);
	return rc;
}

/* ---- inspect ---------------------------------------------------------------- */

enum { I_JSON = 1, I_LABELS, I_ENV, I_RUNSCRIPT, I_NOEFFECT };
static const struct ap_opt inspect_opts[] = {
	{ "json", 'j', false, I_JSON },       { "labels", 'l', false, I_LABELS },
	{ "environment", 'e', false, I_ENV }, { "runscript", 'r', false, I_RUNSCRIPT },
	{ "all", 0, false, I_NOEFFECT },      { NULL, 0, false, 0 },
};

static void put_shell_word(const char *w)
{
	putchar('\'');
	for (; *w; w++)
		if (*w == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*w);
	putchar('\'');
}

static int inspect_main(int argc, char **argv)
{
	struct ap_parser p;
	ap_init(&p, argc, argv, 1);
	int r, what = I_LABELS;
	bool json = false;
	while ((r = ap_next(&p, inspect_opts)) != 0) {
		if (r < 0)
			return apptainer_bad_option(&p, r);
		if (r == I_JSON)
			json = true;
		else if (r != I_NOEFFECT)
			what = r;
	}
	if (p.i != argc - 1)
		return apptainer_fatal("inspect: want one IMAGE (a SIF file or a sandbox directory)");
	bool remote;
	int rc = APPTAINER_EXIT_FATAL;
	_cleanup_free_ char *image = apptainer_image(argv[p.i], &remote, &rc);
	if (!image)
		return rc;
	if (remote)
		return apptainer_fatal("inspect %s: not a local image (pull it first)", argv[p.i]);
	struct ferr err = FERR_INIT;
	struct run_image img;
	if (runtime_resolve_image(image, true, NULL, &img, &err) < 0)
		return apptainer_fail(&err);
	char *const *kv = img.have_config ? (what == I_ENV ? img.config.env : img.config.labels) : NULL;
	if (json) {
		json_t *obj = json_object();
		for (size_t i = 0; kv && kv[i]; i++) {
			const char *eq = strchr(kv[i], '=');
			_cleanup_free_ char *k = eq ? xstrndup(kv[i], (size_t)(eq - kv[i])) : xstrdup(kv[i]);
			json_object_set_new(obj, k, json_string(eq ? eq + 1 : ""));
		}
		const char *key = what == I_ENV ? "environment" : what == I_RUNSCRIPT ? "runscript" : "labels";
		json_t *root = json_pack("{s:{s:{s:o}}, s:s}", "data", "attributes", key, obj, "type", "container");
		char *s = json_dumps(root, JSON_INDENT(4));
		puts(s);
		free(s);
		json_decref(root);
	} else if (what == I_RUNSCRIPT) {
		/* What `run` does (ENTRYPOINT, then CMD unless arguments replace it). */
		char **ep = img.have_config ? img.config.entrypoint : NULL, **cmd = img.have_config ? img.config.cmd : NULL;
		fputs("#!/bin/sh\n", stdout);
		if (!ep && !cmd) {
			fputs("exec /bin/sh \"$@\"\n", stdout);
		} else {
			fputs("if [ $# -gt 0 ]; then set -- ", stdout);
			for (size_t i = 0; ep && ep[i]; i++)
				put_shell_word(ep[i]), putchar(' ');
			fputs("\"$@\"; else set --", stdout);
			for (size_t i = 0; ep && ep[i]; i++)
				putchar(' '), put_shell_word(ep[i]);
			for (size_t i = 0; cmd && cmd[i]; i++)
				putchar(' '), put_shell_word(cmd[i]);
			fputs("; fi\nexec \"$@\"\n", stdout);
		}
	} else {
		for (size_t i = 0; kv && kv[i]; i++) {
			const char *eq = strchr(kv[i], '=');
			int klen = eq ? (int)(eq - kv[i]) : (int)strlen(kv[i]);
			if (what == I_ENV) {
				printf("export %.*s=", klen, kv[i]);
				put_shell_word(eq ? eq + 1 : "");
				putchar('\n');
			} else {
				printf("%.*s: %s\n", klen, kv[i], eq ? eq + 1 : "");
			}
		}
	}
	runtime_image_free(&img);
	return EXIT_OK;
}

/* ---- cache -------------------------------------------------------------------- */

enum { C_FORCE = 1, C_DRY, C_TYPE, C_VERBOSE, C_DAYS };
static const struct ap_opt cache_opts[] = {
	{ "force", 'f', false, C_FORCE }, { "dry-run", 'n', false, C_DRY }, { "type", 'T', true, C_TYPE },
	{ "verbose", 'v', false, C_VERBOSE }, { "days", 'D', true, C_DAYS }, { NULL, 0, false, 0 },
};

static int cache_main(int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "list") && strcmp(argv[1], "clean")))
		return apptainer_fatal("cache: want 'cache list' or 'cache clean'");
	bool clean = !strcmp(argv[1], "clean");
	struct ap_parser p;
	ap_init(&p, argc, argv, 2);
	int r;
	bool force = false, dry = false, verbose = false;
	while ((r = ap_next(&p, cache_opts)) != 0) {
		if (r < 0)
			return apptainer_bad_option(&p, r);
		if (r == C_FORCE && clean)
			force = true;
		else if (r == C_DRY && clean)
			dry = true;
		else if (r == C_VERBOSE && !clean)
			verbose = true;
		else if (r == C_TYPE && (!strcmp(p.val, "all") || !strcmp(p.val, "blob")))
			;
		else
			return apptainer_unsupported(p.name);
	}
	if (p.i != argc)
		return apptainer_fatal("cache %s: unexpected argument '%s'", argv[1], argv[p.i]);
	struct ferr err = FERR_INIT;
	struct store *st;
	if (store_open(&st, &err) < 0)
		return apptainer_fail(&err);
	struct store_image *imgs = NULL;
	size_t n = 0;
	if (store_list(st, &imgs, &n, &err) < 0) {
		store_close(st);
		return apptainer_fail(&err);
	}
	int rc = EXIT_OK;
	if (!clean) {
		uint64_t total = 0;
		size_t own = 0;
		for (size_t i = 0; i < n; i++) {
			if (imgs[i].readonly_store)
				continue;
			own++;
			total += imgs[i].size - imgs[i].shared;
			if (verbose) {
				char sz[32];
				cli_human_size(imgs[i].size, sz, sizeof sz);
				printf("%-50s %-20.19s %10s\n", imgs[i].name, imgs[i].digest, sz);
			}
		}
		char sz[32];
		cli_human_size(total, sz, sizeof sz);
		printf("There are %zu container image(s) in ferry's store %s using %s of space\n", own, store_home(st), sz);
		printf("Total space used: %s\n", sz);
	} else if (!force && !dry && !isatty(STDIN_FILENO)) {
		rc = apptainer_fatal("cache clean removes every image of ferry's store %s: add --force (or --dry-run to list them)",
				     store_home(st));
	} else {
		bool go = force || dry;
		if (!go) {
			printf("This deletes every image of ferry's store %s. Continue? [y/N] ", store_home(st));
			fflush(stdout);
			char line[16];
			go = fgets(line, sizeof line, stdin) && (line[0] == 'y' || line[0] == 'Y');
		}
		for (size_t i = 0; go && i < n; i++) {
			if (imgs[i].readonly_store)
				continue;
			const char *ref = strcmp(imgs[i].name, "<none>") ? imgs[i].name : imgs[i].digest;
			if (dry) {
				printf("would remove %s\n", ref);
				continue;
			}
			if (store_rm(st, ref, &err) < 0) {
				rc = apptainer_fail(&err);
				go = false;
			}
		}
		uint64_t freed = 0;
		if (go && !dry && store_prune(st, &freed, &err) < 0)
			rc = apptainer_fail(&err);
	}
	store_list_free(imgs, n);
	store_close(st);
	return rc;
}

/* ---- dispatch ----------------------------------------------------------------- */

enum { G_DEBUG = 1, G_QUIET, G_SILENT, G_VERBOSE, G_NOCOLOR, G_VERSION, G_HELP, G_CONFIG };
static const struct ap_opt global_opts[] = {
	{ "debug", 'd', false, G_DEBUG },     { "quiet", 'q', false, G_QUIET },     { "silent", 's', false, G_SILENT },
	{ "verbose", 'v', false, G_VERBOSE }, { "nocolor", 0, false, G_NOCOLOR }, { "version", 0, false, G_VERSION },
	{ "help", 'h', false, G_HELP },       { "config", 'c', true, G_CONFIG },   { NULL, 0, false, 0 },
};

int cli_apptainer_main(int argc, char **argv)
{
	const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;
	base = base ? base + 1 : argc > 0 ? argv[0] : "apptainer";
	apptainer_prog = !strcmp(base, "singularity") ? "singularity" : "apptainer";
	struct ap_parser p;
	ap_init(&p, argc, argv, 1);
	int r;
	while ((r = ap_next(&p, global_opts)) != 0) {
		switch (r) {
		case G_DEBUG: log_level = LOG_DEBUG; break;
		case G_VERBOSE: log_level = log_level < LOG_INFO ? LOG_INFO : log_level; break;
		case G_QUIET:
		case G_SILENT: log_level = LOG_QUIET; break;
		case G_NOCOLOR: break;
		case G_VERSION: return print_version(false);
		case G_HELP: return usage(stdout, EXIT_OK);
		default: return apptainer_bad_option(&p, r);
		}
	}
	if (p.i >= argc)
		return usage(stderr, APPTAINER_EXIT_FATAL);
	const char *cmd = argv[p.i];
	int sub_argc = argc - p.i;
	char **sub_argv = argv + p.i;
	if (sub_argc == 2 && cli_is_help(sub_argv[1]))
		return usage(stdout, EXIT_OK);
	if (!strcmp(cmd, "exec") || !strcmp(cmd, "run") || !strcmp(cmd, "shell"))
		return apptainer_action_main(cmd, sub_argc, sub_argv);
	if (!strcmp(cmd, "pull"))
		return apptainer_pull_main(sub_argc, sub_argv);
	if (!strcmp(cmd, "build"))
		return apptainer_build_main(sub_argc, sub_argv);
	if (!strcmp(cmd, "inspect"))
		return inspect_main(sub_argc, sub_argv);
	if (!strcmp(cmd, "cache"))
		return cache_main(sub_argc, sub_argv);
	if (!strcmp(cmd, "version"))
		return print_version(true);
	if (!strcmp(cmd, "help"))
		return usage(stdout, EXIT_OK);
	return apptainer_fatal("%s: command '%s' is not supported by ferry's apptainer compatibility "
			       "(exec, run, shell, pull, build, inspect, cache, version)",
			       apptainer_prog, cmd);
}

static int apptainer_cmd_main(int argc, char **argv)
{
	return cli_apptainer_main(argc, argv);
}

const struct cli_command cmd_apptainer = {
	"apptainer", "answer as Apptainer/Singularity (exec, run, shell, pull, build...)",
	"Usage: ferry apptainer [GLOBAL OPTIONS] COMMAND [OPTIONS] ...\n"
	"\n"
	"What ferry does when called as 'apptainer' or 'singularity' (the symlinks\n"
	"in $PREFIX/libexec/ferry/compat/): Apptainer's exec, run, shell, pull,\n"
	"build, inspect, version and cache list|clean, with their options translated\n"
	"onto ferry's. An option ferry has no equivalent for is refused (exit 255).\n"
	"See doc/apptainer.md.\n",
	apptainer_cmd_main,
};
