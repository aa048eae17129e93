/* ferry wrap, and the shim entry point: ferry run under another name (a
 * symlink DIR/<tool>/<version>/bin/NAME -> ../../../.ferry/ferry) becomes
 * `ferry exec --cleanenv -e DISPLAY $FERRY_WRAP_OPTS IMAGE COMMAND ARGS...`. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/str.h"
#include "cli/cli.h"
#include "wrap/wrap.h"

int cli_shim_main(int argc, char **argv)
{
	/* AT_EXECFN: the path execve() was given, i.e. the shim's own path
	 * (argv[0] may be a bare name, and /proc/self/exe is ferry's). */
	const char *execfn = (const char *)getauxval(AT_EXECFN);
	if (!execfn || !execfn[0])
		execfn = argv[0];
	struct ferr err = FERR_INIT;
	struct wrap_shim s;
	if (wrap_shim_find(execfn, &s, &err) < 0)
		return cli_fail(&err, EXIT_PRESTART);
	_cleanup_strv_ char **opts = NULL;
	if (wrap_split_opts(getenv("FERRY_WRAP_OPTS"), &opts, &err) < 0) {
		wrap_shim_free(&s);
		return cli_fail(&err, EXIT_PRESTART);
	}
	/* Neurodesk's wrappers: singularity exec --cleanenv --env DISPLAY=$DISPLAY
	 * $neurodesk_singularity_opts --pwd $PWD IMAGE CMD "$@". The current
	 * directory is bound and used by ferry exec's default. */
	size_t n = 0, max = 6 + strv_len(opts) + (size_t)argc;
	char **v = xcalloc(max + 1, sizeof *v);
	v[n++] = "exec";
	v[n++] = "--cleanenv";
	v[n++] = "-e";
	v[n++] = "DISPLAY";
	for (size_t i = 0; opts && opts[i]; i++)
		v[n++] = opts[i];
	v[n++] = s.image;
	v[n++] = s.command;
	for (int i = 1; i < argc; i++)
		v[n++] = argv[i];
	v[n] = NULL;
	int rc = cmd_exec.main((int)n, v); /* returns only when the command could not start */
	free(v);
	wrap_shim_free(&s);
	return rc;
}

static void split_list(char ***out, const char *arg)
{
	_cleanup_free_ char *copy = xstrdup(arg);
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (t[0])
			strv_push(out, t);
}

int cli_module_format(const char *cmd, const char *arg, int *fmt)
{
	if (!strcmp(arg, "lua"))
		*fmt = WRAP_MODULE_LUA;
	else if (!strcmp(arg, "tcl"))
		*fmt = WRAP_MODULE_TCL;
	else
		return cli_usage_error(cmd, "--module-format %s: want lua or tcl", arg);
	return 0;
}

const char *cli_wrap_prefix(const char *given)
{
	if (given)
		return given;
	const char *e = getenv("FERRY_WRAP_PREFIX");
	return e && e[0] ? e : NULL;
}

enum { OPT_PREFIX = 256, OPT_NAME, OPT_BINS, OPT_PATH, OPT_FORMAT, OPT_OFFLINE, OPT_INSECURE, OPT_PLATFORM };

static int wrap_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"prefix", required_argument, NULL, OPT_PREFIX}, {"name", required_argument, NULL, OPT_NAME},
		{"bins", required_argument, NULL, OPT_BINS},     {"path", required_argument, NULL, OPT_PATH},
		{"module-format", required_argument, NULL, OPT_FORMAT},
		{"offline", no_argument, NULL, OPT_OFFLINE},     {"insecure", no_argument, NULL, OPT_INSECURE},
		{"platform", required_argument, NULL, OPT_PLATFORM}, {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},                {NULL, 0, NULL, 0},
	};
	struct wrap_opts o = {0};
	_cleanup_strv_ char **bins = NULL, **paths = NULL;
	const char *prefix = NULL;
	int c, fmt = 0;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c != 'h' && c != 'j' && c != OPT_OFFLINE && c != OPT_INSECURE && c != '?' && !optarg)
			continue;
		switch (c) {
		case OPT_PREFIX: prefix = optarg; break;
		case OPT_NAME: o.name = optarg; break;
		case OPT_BINS: split_list(&bins, optarg); break;
		case OPT_PATH: strv_push(&paths, optarg); break;
		case OPT_FORMAT:
			if (cli_module_format("wrap", optarg, &fmt))
				return EXIT_USAGE;
			break;
		case OPT_OFFLINE: o.offline = true; break;
		case OPT_INSECURE: o.pull.insecure = true; break;
		case OPT_PLATFORM: o.pull.platform = optarg; break;
		case 'j': cli_json = true; break;
		case 'h': return cli_help(&cmd_wrap);
		default: return cli_usage_error("wrap", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("wrap", "missing IMAGE");
	if (optind + 1 < argc)
		return cli_usage_error("wrap", "unexpected argument '%s'", argv[optind + 1]);
	o.prefix = cli_wrap_prefix(prefix);
	if (!o.prefix)
		return cli_usage_error("wrap", "missing --prefix DIR (or FERRY_WRAP_PREFIX)");
	o.image = argv[optind];
	o.bins = bins;
	o.paths = paths;
	o.format = (enum wrap_module_format)fmt;
	o.pull.quiet = log_level < LOG_INFO;
	struct ferr err = FERR_INIT;
	struct wrap_result r;
	if (wrap_image(&o, &r, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	for (size_t i = 0; r.ignored && r.ignored[i]; i++)
		log_warn("wrap %s: %s", o.image, r.ignored[i]);
	if (cli_json) {
		json_t *cmds = json_array();
		for (size_t i = 0; r.commands && r.commands[i]; i++)
			json_array_append_new(cmds, json_string(r.commands[i]));
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:o, s:b}", "tool", r.tool, "version", r.version, "digest",
				      r.digest, "rule", wrap_rule_name(r.rule), "commands", cmds, "unchanged", r.unchanged);
		char *s = json_dumps(j, JSON_INDENT(2));
		puts(s);
		free(s);
		json_decref(j);
	} else {
		printf("%s %s/%s (%s): %zu command%s from %s:", r.unchanged ? "unchanged" : "wrapped", r.tool,
		       r.version, r.digest, strv_len(r.commands), strv_len(r.commands) == 1 ? "" : "s",
		       wrap_rule_name(r.rule));
		for (size_t i = 0; r.commands && r.commands[i]; i++)
			printf(" %s", r.commands[i]);
		printf("\nuse: module use %s/modules && module load %s/%s   (or PATH=%s/%s/%s/bin:$PATH)\n", o.prefix,
		       r.tool, r.version, o.prefix, r.tool, r.version);
	}
	wrap_result_free(&r);
	return EXIT_OK;
}

const struct cli_command cmd_wrap = {
	"wrap", "make an image's commands look native (shims, Lmod modules)",
	"Usage: ferry wrap IMAGE --prefix DIR [--name TOOL/VERSION] [--bins A,B...] [--path DIR]\n"
	"                  [--module-format lua|tcl] [--offline] [--insecure] [--platform P] [--json]\n"
	"\n"
	"Write one shim per command of IMAGE in DIR/TOOL/VERSION/bin/ and a module\n"
	"file DIR/modules/TOOL/VERSION.lua. Running a shim NAME ARGS... is\n"
	"`ferry exec --cleanenv IMAGE NAME ARGS...` in the current directory, keeping\n"
	"DISPLAY TERM LANG HOME USER, with the options of $FERRY_WRAP_OPTS (read at\n"
	"each call, e.g. \"--gpu -B /data\"). DIR can move: nothing in it holds an\n"
	"absolute path.\n"
	"\n"
	"Commands, first rule that finds any: the image's DEPLOY_PATH (executables\n"
	"in those directories) and DEPLOY_BINS (names); --path / --bins; the first\n"
	"word of each /boutique/*.json command-line. Otherwise ferry refuses and\n"
	"lists the image's PATH directories.\n"
	"TOOL/VERSION: --name, else the labels org.opencontainers.image.title and\n"
	"version, else the reference (repository and tag).\n"
	"\n"
	"Options:\n"
	"  --prefix DIR          where to write (default $FERRY_WRAP_PREFIX)\n"
	"  --name TOOL/VERSION   the module's name\n"
	"  --bins A,B            commands by name (or path inside the image)\n"
	"  --path DIR            every executable of DIR inside the image (repeatable)\n"
	"  --module-format F     lua (Lmod, default) or tcl (environment-modules)\n"
	"  --offline             use the stored image: no registry request\n"
	"  --insecure, --platform P   as ferry pull\n"
	"See doc/wrap.md.\n",
	wrap_main,
};
