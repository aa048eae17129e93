/* ferry app SUBCOMMAND: Boutiques descriptors (bosh's validate, invocation,
 * exec simulate, example, exec launch, test, exec prepare). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "runtime/runtime.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/str.h"
#include "cli/cli.h"

static const char app_usage[] =
	"Usage: ferry app COMMAND [OPTIONS] DESCRIPTOR ...\n"
	"\n"
	"Boutiques descriptors: validate, simulate and launch tools (bosh, in C).\n"
	"\n"
	"Commands:\n"
	"  validate DESC                 check a descriptor; every problem, one per line\n"
	"  invocation DESC -i INV        check an invocation against the descriptor\n"
	"  simulate DESC [-i INV]        print the command line (writes nothing; see --write-config-files)\n"
	"  example DESC [-c]             print an example invocation (-c: optional inputs too)\n"
	"  launch DESC INV [OPTIONS]     run the tool in its image, check outputs, record provenance\n"
	"  test DESC                     run the descriptor's tests; non-zero exit if one fails\n"
	"  pull DESC                     fetch the descriptor's image into the store\n"
	"\n"
	"Options:\n"
	"  -i, --invocation INV   invocation JSON (invocation, simulate)\n"
	"  -c, --complete         example/simulate without -i: include optional inputs\n"
	"      --seed N           example/simulate without -i: reproducible values\n"
	"      --json             machine-readable output (validate, invocation, simulate, launch)\n"
	"      --print-schema     invocation: print the invocation schema used\n"
	"      --write-config-files  simulate: write the file-template config files, as bosh does\n"
	"      --strict           invocation/simulate/launch/test: refuse invocations that break\n"
	"                         all-or-none groups, value-requires or value-disables (bosh runs\n"
	"                         them; by default ferry warns, once per violation, and goes on)\n"
	"  -v, --volume H:C[:ro]  launch: bind H at C (repeatable)\n"
	"      --no-container     launch/test: run the command on this host\n"
	"      --no-pull          launch: use the stored image only\n"
	"      --insecure         launch/pull: plain HTTP or unverified TLS to the registry\n"
	"      --skip-data-collection  launch: no provenance record\n"
	"      --provenance JSON  launch: object stored as additional-information\n"
	"  -q, --quiet            launch: no summary\n"
	"\n"
	"A DESC or INV of '-' is read from stdin. Exit status: 0 ok, 1 invalid or\n"
	"failed, 2 usage; launch returns the tool's status (125: ferry failed before\n"
	"the tool started; 1: the tool succeeded but a required output is missing).\n";

const struct cli_command cmd_app;

static void print_problems(const char *file, const struct app_problems *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const char *m = p->v[i].msg + strspn(p->v[i].msg, " ");
		if (*p->v[i].path)
			fprintf(stderr, "%s: %s: %s\n", file, p->v[i].path, m);
		else
			fprintf(stderr, "%s: %s\n", file, m);
	}
}

static json_t *problems_json(const struct app_problems *p)
{
	json_t *a = json_array();
	for (size_t i = 0; i < p->n; i++)
		json_array_append_new(a, json_pack("{s:s,s:s}", "path", p->v[i].path, "message", p->v[i].msg));
	return a;
}

static void print_json(const json_t *j)
{
	char *s = app_json_dumps(j, JSON_INDENT(4) | JSON_ENSURE_ASCII); /* big integers as numbers */
	if (s)
		puts(s);
	free(s);
}

struct opts {
	const char *inv;
	bool complete, json, print_schema, no_container, no_pull, skip_data, quiet, insecure, write_config, strict;
	unsigned seed;
	bool seeded;
	const char *provenance;
	struct app_bind *binds;
	size_t nbinds;
	char **args;
	int nargs;
};

static int parse(const char *sub, int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "invocation", required_argument, NULL, 'i' },
		{ "complete", no_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "print-schema", no_argument, NULL, 'P' },
		{ "volume", required_argument, NULL, 'v' },
		{ "no-container", no_argument, NULL, 'N' },
		{ "no-pull", no_argument, NULL, 'n' },
		{ "skip-data-collection", no_argument, NULL, 'S' },
		{ "provenance", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "write-config-files", no_argument, NULL, 'W' },
		{ "strict", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	memset(o, 0, sizeof *o);
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "i:cv:qh", lo, NULL)) != -1) {
		switch (c) {
		case 'i':
			o->inv = optarg;
			break;
		case 'c':
			o->complete = true;
			break;
		case 's': {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg)
				return cli_usage_error("app", "%s: --seed wants a number, not '%s'", sub, optarg);
			o->seed = (unsigned)v;
			o->seeded = true;
			break;
		}
		case 'j':
			o->json = true;
			break;
		case 'P':
			o->print_schema = true;
			break;
		case 'v': {
			/* The runtime's one bind parser (as -B): absolute
			 * destination, source made absolute and normalised. Like
			 * docker -v, the host path must exist. */
			struct run_bind b;
			struct ferr e = FERR_INIT;
			if (runtime_parse_bind(optarg, &b, &e) < 0)
				return cli_usage_error("app", "%s: -v: %s", sub, e.msg);
			if (access(b.src, F_OK) < 0) {
				fprintf(stderr, "ferry: app %s: -v %s: %s\n", sub, b.src, strerror(errno));
				free(b.src);
				free(b.dst);
				return 125;
			}
			o->binds = xrealloc(o->binds, (o->nbinds + 1) * sizeof *o->binds);
			o->binds[o->nbinds++] = (struct app_bind){ b.src, b.dst, b.ro };
			break;
		}
		case 'N':
			o->no_container = true;
			break;
		case 'n':
			o->no_pull = true;
			break;
		case 'S':
			o->skip_data = true;
			break;
		case 'p':
			o->provenance = optarg;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'I':
			o->insecure = true;
			break;
		case 'W':
			o->write_config = true;
			break;
		case 'T':
			o->strict = true;
			break;
		case 'h':
			fputs(app_usage, stdout);
			return -1000;
		default:
			if (optopt)
				return cli_usage_error("app", "%s: option '-%c' is unknown or needs a value", sub, optopt);
			return cli_usage_error("app", "%s: unknown option '%s'", sub, argv[optind - 1]);
		}
	}
	o->args = argv + optind;
	o->nargs = argc - optind;
	return 0;
}

static void opts_free(struct opts *o)
{
	for (size_t i = 0; i < o->nbinds; i++) {
		free(o->binds[i].host);
		free(o->binds[i].cont);
	}
	free(o->binds);
}

/* Load and validate a descriptor; prints problems. Returns NULL on failure
 * with *rc set. */
static json_t *load_valid_desc(const char *path, int *rc, int fail_rc)
{
	struct ferr err = FERR_INIT;
	json_t *d = app_load_json(path, &err);
	if (!d) {
		*rc = cli_fail(&err, fail_rc);
		return NULL;
	}
	struct app_problems p = { 0 };
	if (app_validate_descriptor(d, &p)) {
		print_problems(path, &p);
		fprintf(stderr, "ferry: %s: invalid descriptor (%zu problem%s)\n", path, p.n, p.n == 1 ? "" : "s");
		app_problems_free(&p);
		json_decref(d);
		*rc = fail_rc;
		return NULL;
	}
	return d;
}

/* The rules bosh never enforces (all-or-none, value-requires,
 * value-disables): one warning per violation, or with --strict a refusal.
 * Returns the number of violations that refuse (0 unless strict); adds
 * them to *refuse, or the warnings to *warn when given (--json). */
static size_t soft_rules(const struct opts *o, const json_t *d, const json_t *full, const char *what,
			 struct app_problems *refuse, json_t *warn)
{
	struct app_problems p = { 0 };
	size_t n = app_invocation_soft_rules(d, full, &p);
	for (size_t i = 0; i < p.n; i++) {
		if (o->strict)
			app_problems_add(refuse, p.v[i].path, "%s", p.v[i].msg);
		else if (warn)
			json_array_append_new(warn, json_pack("{s:s,s:s}", "path", p.v[i].path, "message", p.v[i].msg));
		else
			log_warn("%s: %s (bosh runs it; --strict refuses)", what, p.v[i].msg);
	}
	app_problems_free(&p);
	return o->strict ? n : 0;
}

static int sub_validate(struct opts *o)
{
	if (o->nargs != 1)
		return cli_usage_error("app", "validate wants one DESCRIPTOR");
	const char *path = o->args[0];
	struct ferr err = FERR_INIT;
	_cleanup_json_ json_t *d = app_load_json(path, &err);
	if (!d && o->json) {
		char buf[FERR_MSG_MAX + 600];
		_cleanup_json_ json_t *j = json_pack("{s:b,s:[{s:s,s:s}]}", "valid", 0, "problems", "path", "",
						     "message", ferr_str(&err, buf, sizeof buf));
		print_json(j);
	}
	if (!d)
		return cli_fail(&err, EXIT_ERR);
	struct app_problems p = { 0 };
	size_t n = app_validate_descriptor(d, &p);
	if (o->json) {
		_cleanup_json_ json_t *j = json_pack("{s:b,s:o}", "valid", n == 0, "problems", problems_json(&p));
		print_json(j);
	} else if (n)
		print_problems(path, &p);
	else
		puts("OK");
	app_problems_free(&p);
	return n ? EXIT_ERR : EXIT_OK;
}

static int sub_invocation(struct opts *o)
{
	if (o->nargs != 1)
		return cli_usage_error("app", "invocation wants one DESCRIPTOR (and -i INVOCATION)");
	int rc;
	_cleanup_json_ json_t *d = load_valid_desc(o->args[0], &rc, EXIT_ERR);
	if (!d)
		return rc;
	if (o->print_schema) {
		_cleanup_json_ json_t *s = app_invocation_schema(d);
		print_json(s);
		if (!o->inv)
			return EXIT_OK;
	}
	if (!o->inv) {
		if (!o->json)
			puts("OK");
		return EXIT_OK;
	}
	struct ferr err = FERR_INIT;
	_cleanup_json_ json_t *inv = app_load_json(o->inv, &err);
	if (!inv)
		return cli_fail(&err, EXIT_ERR);
	_cleanup_json_ json_t *full = app_invocation_with_defaults(d, inv);
	struct app_problems p = { 0 };
	size_t n = app_validate_invocation(d, full, &p);
	json_t *warn = o->json ? json_array() : NULL;
	if (!n)
		n = soft_rules(o, d, full, o->inv, &p, warn);
	if (o->json) {
		_cleanup_json_ json_t *j = json_pack("{s:b,s:o,s:o}", "valid", n == 0, "problems", problems_json(&p),
						     "warnings", warn);
		print_json(j);
	} else if (n)
		print_problems(o->inv, &p);
	else
		puts("OK");
	app_problems_free(&p);
	return n ? EXIT_ERR : EXIT_OK;
}

static unsigned default_seed(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned)(ts.tv_nsec ^ ts.tv_sec ^ (getpid() << 16));
}

static int sub_example(struct opts *o)
{
	if (o->nargs != 1)
		return cli_usage_error("app", "example wants one DESCRIPTOR");
	int rc;
	_cleanup_json_ json_t *d = load_valid_desc(o->args[0], &rc, EXIT_ERR);
	if (!d)
		return rc;
	struct ferr err = FERR_INIT;
	_cleanup_json_ json_t *ex = app_example(d, o->complete, o->seeded ? o->seed : default_seed(), &err);
	if (!ex)
		return cli_fail(&err, EXIT_ERR);
	print_json(ex);
	return EXIT_OK;
}

static int sub_simulate(struct opts *o)
{
	if (o->nargs != 1)
		return cli_usage_error("app", "simulate wants one DESCRIPTOR (and -i INVOCATION)");
	int rc;
	_cleanup_json_ json_t *d = load_valid_desc(o->args[0], &rc, EXIT_ERR);
	if (!d)
		return rc;
	struct ferr err = FERR_INIT;
	_cleanup_json_ json_t *inv = NULL;
	if (o->inv)
		inv = app_load_json(o->inv, &err);
	else
		inv = app_example(d, o->complete, o->seeded ? o->seed : default_seed(), &err);
	if (!inv)
		return cli_fail(&err, EXIT_ERR);
	_cleanup_json_ json_t *full = app_invocation_with_defaults(d, inv);
	struct app_problems p = { 0 };
	if (app_validate_invocation(d, full, &p) || soft_rules(o, d, full, o->inv ? o->inv : "example", &p, NULL)) {
		print_problems(o->inv ? o->inv : "example", &p);
		fprintf(stderr, "ferry: %s: invalid invocation\n", o->inv ? o->inv : "example");
		app_problems_free(&p);
		return EXIT_ERR;
	}
	struct app_job job;
	/* a dry run: bosh writes the config files here too, ferry only when asked */
	if (app_job_build(&job, d, full, o->write_config ? APP_WRITE_CONFIG : 0, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	if (o->json) {
		/* every input, null when it has no value (as bosh evaluate shows them) */
		json_t *ins = json_object();
		const json_t *inputs = json_object_get(d, "inputs");
		for (size_t i = 0; i < json_array_size(inputs); i++) {
			const char *id = json_get_str(json_array_get(inputs, i), "id");
			if (!id)
				continue;
			json_t *v = json_object_get(job.inputs, id);
			json_object_set(ins, id, v ? v : json_null());
		}
		_cleanup_json_ json_t *j = json_pack("{s:s,s:O,s:o,s:O}", "command-line", job.cmdline, "output-files",
						     job.outputs, "inputs", ins, "invocation", inv);
		print_json(j);
	} else
		puts(job.cmdline);
	app_job_free(&job);
	return EXIT_OK;
}

static void print_summary(const char *cmdline, const struct app_result *r)
{
	fprintf(stderr, "Shell command\n%s\nContainer location\n%s\nExit code\n%d\nError message\n%s\nOutput files\n",
		cmdline ? cmdline : "", r->container_location ? r->container_location : "", r->exit_code,
		r->error_message ? r->error_message : "");
	for (size_t i = 0; i < json_array_size(r->found); i++)
		fprintf(stderr, "\t- %s\n", json_string_value(json_array_get(r->found, i)));
	fputs("Missing files\n", stderr);
	for (size_t i = 0; i < json_array_size(r->missing); i++)
		fprintf(stderr, "\t- %s\n", json_string_value(json_array_get(r->missing, i)));
	if (r->record_path)
		fprintf(stderr, "Provenance record\n%s\n", r->record_path);
}

/* Returns the launch's exit status (ferry's convention). */
static int do_launch(const json_t *d, const char *desc_arg, const json_t *inv, struct opts *o, bool summary,
		     struct app_result *res)
{
	struct ferr err = FERR_INIT;
	memset(res, 0, sizeof *res);
	_cleanup_json_ json_t *prov = NULL;
	if (o->provenance) {
		json_error_t je;
		prov = json_loads(o->provenance, 0, &je);
		if (!json_is_object(prov)) {
			fprintf(stderr, "ferry: app launch: --provenance wants a JSON object\n");
			return EXIT_USAGE;
		}
	}
	struct app_launch_opts lo = {
		desc_arg, o->binds, o->nbinds, o->no_container, o->no_pull, o->insecure, o->skip_data, prov, o->quiet, NULL,
	};
	{
		_cleanup_json_ json_t *full = app_invocation_with_defaults(d, inv);
		struct app_problems p = { 0 };
		if (soft_rules(o, d, full, o->nargs == 2 ? o->args[1] : desc_arg, &p, NULL)) {
			ferr_setc(&err, FERR_INVALID, 0, "invalid invocation (--strict): %s%s%s", p.v[0].path,
				  *p.v[0].path ? ": " : "", p.v[0].msg);
			ferr_hint(&err, "'ferry app invocation --strict' lists every problem");
			app_problems_free(&p);
			return cli_fail(&err, EXIT_PRESTART);
		}
		app_problems_free(&p);
	}
	struct app_plan plan;
	if (app_launch_plan(d, inv, &lo, &plan, &err) < 0)
		return cli_fail(&err, EXIT_PRESTART);
	if (app_launch_run(&plan, res, &err) < 0) {
		app_plan_free(&plan);
		return cli_fail(&err, EXIT_PRESTART);
	}
	if (!o->skip_data) {
		struct ferr werr = FERR_INIT;
		if (app_launch_record(&plan, res, &werr) < 0)
			log_warn("%s", werr.msg);
	}
	fflush(stdout);
	if (summary && !o->quiet && !o->json)
		print_summary(plan.job.cmdline, res);
	app_plan_free(&plan);
	if (o->json && summary) {
		_cleanup_json_ json_t *j = json_pack("{s:i,s:s,s:O,s:O,s:O,s:O,s:s?,s:s?,s:f,s:f,s:I}", "exit-code",
						     res->exit_code, "error-message", res->error_message, "output-files",
						     res->found_map, "missing-files", res->missing_map, "found", res->found,
						     "missing", res->missing, "record", res->record_path, "image-digest",
						     res->image_digest, "wall-time-s", res->wall_s, "cpu-time-s", res->cpu_s,
						     "peak-memory-kib", (json_int_t)res->maxrss_kib);
		print_json(j);
	}
	if (res->exit_code == 0 && json_array_size(res->missing)) {
		if (!o->quiet)
			fprintf(stderr, "ferry: app launch: %zu required output file%s missing\n",
				json_array_size(res->missing), json_array_size(res->missing) == 1 ? "" : "s");
		return EXIT_ERR;
	}
	return res->exit_code;
}

static int sub_launch(struct opts *o)
{
	if (o->nargs != 2)
		return cli_usage_error("app", "launch wants DESCRIPTOR INVOCATION");
	struct ferr err = FERR_INIT;
	_cleanup_json_ json_t *d = app_load_json(o->args[0], &err);
	if (!d)
		return cli_fail(&err, EXIT_PRESTART);
	_cleanup_json_ json_t *inv = app_load_json(o->args[1], &err);
	if (!inv)
		return cli_fail(&err, EXIT_PRESTART);
	struct app_result res;
	int rc = do_launch(d, o->args[0], inv, o, true, &res);
	app_result_free(&res);
	return rc;
}


static int sub_test(struct opts *o)
{
	if (o->nargs != 1)
		return cli_usage_error("app", "test wants one DESCRIPTOR");
	int rc;
	_cleanup_json_ json_t *d = load_valid_desc(o->args[0], &rc, EXIT_ERR);
	if (!d)
		return rc;
	const json_t *tests = json_object_get(d, "tests");
	size_t failed = 0;
	o->skip_data = true;
	o->quiet = true;
	for (size_t i = 0; i < json_array_size(tests); i++) {
		const json_t *t = json_array_get(tests, i);
		const char *name = json_get_str(t, "name") ?: "?";
		const json_t *as = json_object_get(t, "assertions");
		struct app_result res;
		int st = do_launch(d, o->args[0], json_object_get(t, "invocation"), o, false, &res);
		struct dstr why = DSTR_INIT;
		if (!res.started)
			dstr_printf(&why, "did not start");
		const json_t *ec = json_object_get(as, "exit-code");
		if (res.started && json_is_integer(ec) && json_integer_value(ec) != res.exit_code)
			dstr_printf(&why, "%sexit code %d, expected %d", why.len ? "; " : "", res.exit_code,
				    (int)json_integer_value(ec));
		const json_t *of = json_object_get(as, "output-files");
		for (size_t k = 0; res.started && k < json_array_size(of); k++) {
			const json_t *a = json_array_get(of, k);
			const char *oid = json_get_str(a, "id") ?: "";
			const char *path = json_get_str(res.found_map, oid);
			const char *ref = json_get_str(a, "md5-reference");
			char hex[33];
			if (!path)
				dstr_printf(&why, "%soutput '%s' missing", why.len ? "; " : "", oid);
			else if (ref && (app_md5_file(path, hex) < 0 || strcmp(hex, ref)))
				dstr_printf(&why, "%soutput '%s' (%s): md5 differs from %s", why.len ? "; " : "", oid, path, ref);
		}
		(void)st;
		if (why.len) {
			failed++;
			printf("FAIL %s: %s\n", name, why.buf);
		} else
			printf("PASS %s\n", name);
		dstr_free(&why);
		app_result_free(&res);
	}
	printf("%zu passed, %zu failed\n", json_array_size(tests) - failed, failed);
	return failed ? EXIT_ERR : EXIT_OK;
}

static int sub_pull(struct opts *o)
{
	if (o->nargs != 1)
		return cli_usage_error("app", "pull wants one DESCRIPTOR");
	int rc;
	_cleanup_json_ json_t *d = load_valid_desc(o->args[0], &rc, EXIT_ERR);
	if (!d)
		return rc;
	struct ferr err = FERR_INIT;
	_cleanup_free_ char *loc = NULL;
	if (app_pull_image(d, o->insecure, &loc, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	printf("Container location: %s\n", loc ? loc : "");
	return EXIT_OK;
}

static int app_main(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("app", "which command? validate, invocation, simulate, example, launch, test or pull");
	const char *sub = argv[1];
	if (cli_is_help(sub) || !strcmp(sub, "help")) {
		fputs(app_usage, stdout);
		return EXIT_OK;
	}
	static const struct {
		const char *name;
		int (*fn)(struct opts *);
	} subs[] = {
		{ "validate", sub_validate }, { "invocation", sub_invocation }, { "simulate", sub_simulate },
		{ "example", sub_example },   { "launch", sub_launch },         { "test", sub_test },
		{ "pull", sub_pull },         { "prepare", sub_pull },
	};
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		if (strcmp(subs[i].name, sub))
			continue;
		struct opts o;
		int r = parse(sub, argc - 1, argv + 1, &o);
		if (r == -1000)
			return EXIT_OK;
		if (r)
			return r;
		if (o.json)
			cli_json = true;
		r = subs[i].fn(&o);
		opts_free(&o);
		return r;
	}
	return cli_usage_error("app", "unknown command '%s'", sub);
}

const struct cli_command cmd_app = {
	"app", "validate, simulate and launch Boutiques descriptors", app_usage, app_main,
};
