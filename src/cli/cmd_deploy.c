/* ferry deploy: publish images into a shared directory (doc/deploy.md). */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/str.h"
#include "cli/cli.h"
#include "image/image.h"
#include "store/store.h"

static const char usage[] =
	"Usage: ferry deploy --to DIR [OPTIONS] REF...\n"
	"       ferry deploy --to DIR --list FILE [--max-tags N] [OPTIONS]\n"
	"       ferry deploy --to DIR --images [--json]\n"
	"       ferry deploy --to DIR --gc [--keep-days N]\n"
	"Publish images into DIR, one read-only root per image, deduplicated,\n"
	"named DIR/<registry>/<repo>:<tag>; DIR serves as a read-only store in\n"
	"FERRY_STORE_PATH and each name as a sandbox directory (doc/deploy.md).\n"
	"  --to DIR          the deploy directory (created when missing)\n"
	"  --list FILE       references, one a line, # comments; repo:* and repo:1.*\n"
	"                    expand through the registry's tag list\n"
	"  --max-tags N      at most N tags per wildcard: the N highest versions\n"
	"  --platform P      os/arch[/variant], as for pull; given several times, one\n"
	"                    root each, named <tag>-<os>-<arch>[-<variant>]\n"
	"  --insecure        plain HTTP / unverified TLS\n"
	"  --begin CMD       run before any change (sh -c CMD)\n"
	"  --publish CMD     run after the deploy succeeded\n"
	"  --abort CMD       run instead of --publish when an image failed\n"
	"  --no-wait         fail at once when another deploy holds DIR\n"
	"  --images [--json] list the deployed images\n"
	"  --gc              remove images no name points to since --keep-days N\n"
	"                    days (default 7), and contents nothing uses\n"
	"  -q, --quiet       no progress\n";

struct dopts {
	const char *to, *list, *begin, *publish, *abort_cmd;
	long max_tags;
	long keep_days;
	bool images, gc, no_wait;
	char **platforms; /* --platform, repeatable */
	struct pull_opts pull;
};

/* sh -c CMD with FERRY_DEPLOY_DIR set; true when it exited 0. */
static bool run_hook(const char *what, const char *cmd, const char *dir)
{
	if (!cmd)
		return true;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "ferry: deploy: --%s hook: fork: %s\n", what, strerror(errno));
		return false;
	}
	if (pid == 0) {
		setenv("FERRY_DEPLOY_DIR", dir, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return false;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	if (WIFEXITED(status))
		fprintf(stderr, "ferry: deploy: --%s hook '%s' exited with %d\n", what, cmd, WEXITSTATUS(status));
	else
		fprintf(stderr, "ferry: deploy: --%s hook '%s' was killed by signal %d\n", what, cmd, WTERMSIG(status));
	return false;
}

static bool is_wildcard(const char *tag)
{
	return tag && strpbrk(tag, "*?[") != NULL;
}

/* Tags in version order (1.9 before 1.10): --max-tags keeps the highest. */
static int by_version(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

/* One line of the wish list (or argument) into refs; false with one line
 * said when it is broken. */
static bool expand(const char *line, const struct dopts *o, char ***refs)
{
	struct image_ref ref;
	struct ferr err = FERR_INIT;
	/* a wildcard is no valid tag: parse the reference without it */
	const char *slash = strrchr(line, '/');
	const char *colon = strrchr(slash ? slash : line, ':');
	_cleanup_free_ char *pattern = colon && is_wildcard(colon + 1) ? xstrdup(colon + 1) : NULL;
	_cleanup_free_ char *base = pattern ? xstrndup(line, (size_t)(colon - line)) : xstrdup(line);
	if (image_ref_parse(base, &ref, &err) < 0) {
		ferr_wrap(&err, "deploy %s", line);
		cli_fail(&err, EXIT_ERR);
		return false;
	}
	if (!pattern) {
		strv_push(refs, line);
		image_ref_free(&ref);
		return true;
	}
	char **tags = NULL;
	bool ok = image_tags_list(&ref, &o->pull, &tags, &err) == 0;
	if (!ok) {
		ferr_wrap(&err, "deploy %s", line);
		cli_fail(&err, EXIT_ERR);
	}
	char **match = NULL;
	for (char **t = tags; t && *t; t++)
		if (fnmatch(pattern, *t, 0) == 0)
			strv_push(&match, *t);
	size_t n = strv_len(match);
	if (match && n > 1)
		qsort(match, n, sizeof *match, by_version);
	size_t from = o->max_tags > 0 && n > (size_t)o->max_tags ? n - (size_t)o->max_tags : 0;
	for (size_t i = from; match && i < n; i++) {
		_cleanup_free_ char *r = xasprintf("%s/%s:%s", ref.registry, ref.repo, match[i]);
		strv_push(refs, r);
	}
	if (ok && n == 0) {
		fprintf(stderr, "ferry: deploy %s: no tag matches\n", line);
		ok = false;
	}
	strv_free(match);
	strv_free(tags);
	image_ref_free(&ref);
	return ok;
}

static bool read_list(const char *file, const struct dopts *o, char ***refs)
{
	_cleanup_free_ char *body = NULL;
	size_t len;
	struct ferr err = FERR_INIT;
	if (fs_read_file(file, &body, &len, &err) < 0) {
		ferr_wrap(&err, "deploy --list");
		cli_fail(&err, EXIT_ERR);
		return false;
	}
	bool ok = true;
	char *save = NULL;
	for (char *l = strtok_r(body, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *h = strchr(l, '#');
		if (h)
			*h = 0;
		while (*l == ' ' || *l == '\t')
			l++;
		size_t n = strlen(l);
		while (n && (l[n - 1] == ' ' || l[n - 1] == '\t' || l[n - 1] == '\r'))
			l[--n] = 0;
		if (*l && !expand(l, o, refs))
			ok = false;
	}
	return ok;
}

static int list_images(struct store *st)
{
	struct store_image *imgs;
	size_t n;
	struct ferr err = FERR_INIT;
	if (store_list(st, &imgs, &n, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	if (cli_json) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:I, s:I}", "name", imgs[i].name, "digest",
							 imgs[i].digest, "size", (json_int_t)imgs[i].size, "shared",
							 (json_int_t)imgs[i].shared, "deployed", (json_int_t)imgs[i].pulled));
		char *s = json_dumps(a, JSON_INDENT(2));
		puts(s);
		free(s);
		json_decref(a);
	} else {
		printf("%-48s %-19s %10s  %s\n", "NAME", "DIGEST", "SIZE", "DEPLOYED");
		for (size_t i = 0; i < n; i++) {
			char sz[32], when[32] = "-";
			cli_human_size(imgs[i].size, sz, sizeof sz);
			struct tm tm;
			if (imgs[i].pulled && localtime_r(&imgs[i].pulled, &tm))
				strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
			printf("%-48s %-19.19s %10s  %s\n", imgs[i].name, imgs[i].digest, sz, when);
		}
	}
	store_list_free(imgs, n);
	return EXIT_OK;
}

static int parse(int argc, char **argv, struct dopts *o)
{
	static const struct option lo[] = { { "to", required_argument, 0, 't' }, { "list", required_argument, 0, 'l' },
		{ "max-tags", required_argument, 0, 'm' }, { "platform", required_argument, 0, 'p' },
		{ "insecure", no_argument, 0, 'k' }, { "quiet", no_argument, 0, 'q' }, { "begin", required_argument, 0, 'B' },
		{ "publish", required_argument, 0, 'P' }, { "abort", required_argument, 0, 'A' },
		{ "no-wait", no_argument, 0, 'W' }, { "images", no_argument, 0, 'I' }, { "json", no_argument, 0, 'J' },
		{ "gc", no_argument, 0, 'G' }, { "keep-days", required_argument, 0, 'K' }, { 0, 0, 0, 0 } };
	optind = 1;
	opterr = 0;
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "+q", lo, NULL)) != -1) {
		switch (c) {
		case 't': o->to = optarg; break;
		case 'l': o->list = optarg; break;
		case 'm':
			o->max_tags = strtol(optarg, &end, 10);
			if (*end || end == optarg || o->max_tags <= 0)
				return cli_usage_error("deploy", "--max-tags: '%s' is not a positive number", optarg);
			break;
		case 'K':
			o->keep_days = strtol(optarg, &end, 10);
			if (*end || end == optarg || o->keep_days < 0 || o->keep_days > 100000)
				return cli_usage_error("deploy", "--keep-days: '%s' is not a number of days", optarg);
			break;
		case 'p': strv_push(&o->platforms, optarg); break;
		case 'k': o->pull.insecure = true; break;
		case 'q': o->pull.quiet = true; break;
		case 'B': o->begin = optarg; break;
		case 'P': o->publish = optarg; break;
		case 'A': o->abort_cmd = optarg; break;
		case 'W': o->no_wait = true; break;
		case 'I': o->images = true; break;
		case 'J': cli_json = true; break;
		case 'G': o->gc = true; break;
		default: return cli_usage_error("deploy", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (!o->to)
		return cli_usage_error("deploy", "--to DIR is required");
	if ((o->images || o->gc) && (o->list || optind < argc))
		return cli_usage_error("deploy", "--images and --gc take no references");
	if (!o->images && !o->gc && !o->list && optind == argc)
		return cli_usage_error("deploy", "expected image references or --list FILE");
	return 0;
}

static int deploy_main(int argc, char **argv)
{
	struct cli_pull_bar bar;
	cli_pull_bar_init(&bar);
	struct dopts o = { .keep_days = 7, .pull = { .events = &bar.events } };
	int prc = parse(argc, argv, &o);
	_cleanup_strv_ char **platforms = o.platforms;
	if (prc)
		return prc;
	size_t nplat = strv_len(platforms);
	if (platforms && nplat == 1)
		o.pull.platform = platforms[0];
	struct ferr err = FERR_INIT;
	struct store *st;
	if (o.images) {
		if (store_open_at(&st, o.to, &err) < 0)
			return cli_fail(&err, EXIT_ERR);
		int rc = list_images(st);
		store_close(st);
		return rc;
	}
	if (store_deploy_open(&st, o.to, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	int lock = store_deploy_lock(st, !o.no_wait, &bar.events, &err);
	if (lock == -1) {
		store_close(st);
		return cli_fail(&err, EXIT_ERR);
	}
	int rc = EXIT_OK;
	if (o.gc) {
		uint64_t freed = 0;
		if (!run_hook("begin", o.begin, o.to))
			rc = EXIT_ERR;
		else if (store_deploy_gc(st, (unsigned)o.keep_days, &freed, &err) < 0) {
			cli_fail(&err, EXIT_ERR);
			rc = EXIT_ERR;
		} else {
			char f[32];
			cli_human_size(freed, f, sizeof f);
			printf("freed %s\n", f);
		}
		if (rc == EXIT_OK ? !run_hook("publish", o.publish, o.to) : (o.begin && !run_hook("abort", o.abort_cmd, o.to)))
			rc = EXIT_ERR;
		store_deploy_unlock(lock);
		store_close(st);
		return rc;
	}
	char **refs = NULL;
	bool ok = true;
	if (o.list && !read_list(o.list, &o, &refs))
		ok = false;
	for (int i = optind; i < argc; i++)
		if (!expand(argv[i], &o, &refs))
			ok = false;
	if (!run_hook("begin", o.begin, o.to)) {
		strv_free(refs);
		store_deploy_unlock(lock);
		store_close(st);
		return EXIT_ERR;
	}
	for (char **r = refs; r && *r; r++)
		for (size_t p = 0; p < (nplat > 1 ? nplat : 1); p++) {
			_cleanup_free_ char *dg = NULL;
			bool changed = false;
			ferr_clear(&err);
			int drc;
			if (platforms && nplat > 1) {
				struct pull_opts po = o.pull;
				po.platform = platforms[p];
				drc = store_deploy_platform(st, *r, &po, &dg, &changed, &err);
			} else {
				drc = store_deploy(st, *r, &o.pull, &dg, &changed, &err);
			}
			if (drc < 0) {
				cli_fail(&err, EXIT_ERR);
				ok = false;
				continue;
			}
			const char *plat = platforms && nplat > 1 ? platforms[p] : NULL;
			printf("%s%s%s %s%s\n", *r, plat ? " " : "", plat ? plat : "", dg,
				changed ? "" : " (unchanged)");
		}
	strv_free(refs);
	if (ok && !run_hook("publish", o.publish, o.to))
		ok = false;
	else if (!ok)
		run_hook("abort", o.abort_cmd, o.to);
	store_deploy_unlock(lock);
	store_close(st);
	return ok ? EXIT_OK : EXIT_ERR;
}

const struct cli_command cmd_deploy = { "deploy", "publish images into a shared directory (CVMFS, NFS)", usage,
	deploy_main };
