/* ferry catalog sync | list: an apps.json made into wraps and modules. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/str.h"
#include "cli/cli.h"
#include "wrap/wrap.h"

int cli_module_format(const char *cmd, const char *arg, int *fmt);
const char *cli_wrap_prefix(const char *given);

static void report(void *arg, const char *app, const struct wrap_result *res, const struct ferr *err)
{
	if (err) {
		char buf[FERR_MSG_MAX + 600];
		fprintf(stderr, "ferry: catalog sync: %s\n", ferr_str(err, buf, sizeof buf));
		return;
	}
	for (size_t i = 0; res->ignored && res->ignored[i]; i++)
		log_warn("%s: %s", app, res->ignored[i]);
	if (log_level < LOG_WARN)
		return;
	printf("%-9s %s (%s):", res->unchanged ? "unchanged" : "synced", app, res->digest);
	for (size_t i = 0; res->commands && res->commands[i]; i++)
		printf(" %s", res->commands[i]);
	putchar('\n');
}

enum { OPT_PREFIX = 256, OPT_TO, OPT_PRUNE, OPT_OFFLINE, OPT_TEMPLATE, OPT_REGISTRY, OPT_FORMAT, OPT_INSECURE,
       OPT_CATEGORY };

static int sync_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"prefix", required_argument, NULL, OPT_PREFIX},     {"to", required_argument, NULL, OPT_TO},
		{"prune", no_argument, NULL, OPT_PRUNE},             {"offline", no_argument, NULL, OPT_OFFLINE},
		{"image-template", required_argument, NULL, OPT_TEMPLATE},
		{"registry", required_argument, NULL, OPT_REGISTRY}, {"module-format", required_argument, NULL, OPT_FORMAT},
		{"insecure", no_argument, NULL, OPT_INSECURE},       {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct catalog_sync_opts o = {0};
	const char *prefix = NULL;
	int c, fmt = 0;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		const bool needs = c == OPT_PREFIX || c == OPT_TO || c == OPT_TEMPLATE || c == OPT_REGISTRY || c == OPT_FORMAT;
		if (needs && !optarg)
			continue;
		switch (c) {
		case OPT_PREFIX: prefix = optarg; break;
		case OPT_TO: o.deploy_dir = optarg; break;
		case OPT_PRUNE: o.prune = true; break;
		case OPT_OFFLINE: o.offline = true; break;
		case OPT_TEMPLATE: o.image_template = optarg; break;
		case OPT_REGISTRY: o.registry = optarg; break;
		case OPT_FORMAT:
			if (cli_module_format("catalog", optarg, &fmt))
				return EXIT_USAGE;
			break;
		case OPT_INSECURE: o.pull.insecure = true; break;
		case 'h': return cli_help(&cmd_catalog);
		default: return cli_usage_error("catalog", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("catalog", "sync: missing CATALOG (an apps.json file)");
	if (optind + 1 < argc)
		return cli_usage_error("catalog", "sync: unexpected argument '%s'", argv[optind + 1]);
	o.catalog = argv[optind];
	o.prefix = cli_wrap_prefix(prefix);
	if (!o.prefix)
		return cli_usage_error("catalog", "sync: missing --prefix DIR (or FERRY_WRAP_PREFIX)");
	o.format = (enum wrap_module_format)fmt;
	o.pull.quiet = true;
	o.report = report;
	struct ferr err = FERR_INIT;
	struct catalog_sync_stats st;
	if (catalog_sync(&o, &st, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	if (log_level >= LOG_WARN)
		printf("catalog: %zu apps: %zu synced, %zu unchanged, %zu failed, %zu pruned\n", st.apps, st.synced,
		       st.unchanged, st.failed, st.pruned);
	return st.failed ? EXIT_ERR : EXIT_OK;
}

static int list_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"prefix", required_argument, NULL, OPT_PREFIX}, {"category", required_argument, NULL, OPT_CATEGORY},
		{"json", no_argument, NULL, 'j'},                {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *prefix = NULL, *category = NULL;
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if ((c == OPT_PREFIX || c == OPT_CATEGORY) && !optarg)
			continue;
		switch (c) {
		case OPT_PREFIX: prefix = optarg; break;
		case OPT_CATEGORY: category = optarg; break;
		case 'j': cli_json = true; break;
		case 'h': return cli_help(&cmd_catalog);
		default: return cli_usage_error("catalog", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind + 1 < argc)
		return cli_usage_error("catalog", "list: unexpected argument '%s'", argv[optind + 1]);
	prefix = cli_wrap_prefix(prefix);
	if (!prefix)
		return cli_usage_error("catalog", "list: missing --prefix DIR (or FERRY_WRAP_PREFIX)");
	struct ferr err = FERR_INIT;
	json_t *apps = NULL;
	if (catalog_list(prefix, category, optind < argc ? argv[optind] : NULL, &apps, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	if (cli_json) {
		char *s = json_dumps(apps, JSON_INDENT(2));
		puts(s);
		free(s);
	} else {
		size_t i;
		json_t *a, *v;
		json_array_foreach(apps, i, a) {
			printf("%-30s", json_string_value(json_object_get(a, "module")));
			size_t k;
			const char *sep = "  ";
			json_array_foreach(json_object_get(a, "commands"), k, v) {
				printf("%s%s", sep, json_string_value(v));
				sep = " ";
			}
			json_t *cats = json_object_get(a, "categories");
			if (json_array_size(cats)) {
				printf("  [");
				json_array_foreach(cats, k, v) printf("%s%s", k ? ", " : "", json_string_value(v));
				printf("]");
			}
			putchar('\n');
		}
	}
	json_decref(apps);
	return EXIT_OK;
}

static int catalog_main(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("catalog", "missing sync or list");
	if (cli_is_help(argv[1]))
		return cli_help(&cmd_catalog);
	if (!strcmp(argv[1], "sync"))
		return sync_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "list"))
		return list_main(argc - 1, argv + 1);
	return cli_usage_error("catalog", "unknown subcommand '%s' (sync or list)", argv[1]);
}

const struct cli_command cmd_catalog = {
	"catalog", "install an app catalog (Neurodesk's apps.json) as wraps and modules",
	"Usage: ferry catalog sync CATALOG --prefix DIR [--prune] [--offline] [--image-template T]\n"
	"                          [--registry R] [--module-format lua|tcl] [--insecure]\n"
	"       ferry catalog list --prefix DIR [--json] [--category C] [TEXT]\n"
	"\n"
	"sync: for each app of CATALOG (tool -> apps {\"NAME VERSION\": {\"version\":\n"
	"BUILDDATE, \"exec\": CMD}}, categories), pull its image (an \"image\" of the\n"
	"app, else an image template such as \"{registry}/{tool}_{version}:{builddate}\"),\n"
	"wrap it (as ferry wrap) and write DIR/modules/TOOL/VERSION.lua and\n"
	"DIR/modules-by-category/CATEGORY/TOOL/VERSION.lua; then DIR/catalog.json.\n"
	"A re-sync of an unchanged catalog asks each registry once per image and\n"
	"writes nothing. Apps that fail are reported one line each; the others still\n"
	"sync, and the exit status is 1.\n"
	"  --prune      remove apps that left the catalog\n"
	"  --offline    no registry request: the images must be stored\n"
	"  --to DIR     deploy each image into DIR (as ferry deploy --to DIR) instead of\n"
	"               pulling it into your store; the shims find it there\n"
	"list: what DIR holds; TEXT searches tool, version, commands, categories.\n"
	"--prefix defaults to $FERRY_WRAP_PREFIX. See doc/wrap.md.\n",
	catalog_main,
};
