/* pull, images, inspect, rm, prune, login, logout: the store's commands. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/progress.h"
#include "base/size.h"
#include "base/str.h"
#include "cli/cli.h"
#include "image/image.h"
#include "store/store.h"

void cli_human_size(uint64_t b, char *buf, size_t n)
{
	const char *u[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)b;
	int i = 0;
	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

/* getopt_long from argv[0] = command name */
static void opt_reset(void)
{
	optind = 1;
	opterr = 0;
}

/* The library reports; the CLI draws (on a terminal, unless -q). */
static void pull_progress(void *arg, const char *what, uint64_t done, uint64_t total, bool finished)
{
	struct cli_pull_bar *b = arg;
	if (!b->drawing) {
		progress_start(&b->p, what, total);
		b->drawing = true;
		b->shown = 0;
	}
	if (done > b->shown)
		progress_add(&b->p, done - b->shown);
	b->shown = done;
	if (finished) {
		progress_end(&b->p);
		b->drawing = false;
	}
}

static void pull_note(void *arg, const char *msg)
{
	(void)arg;
	log_info("%s", msg);
}

void cli_pull_bar_init(struct cli_pull_bar *b)
{
	memset(b, 0, sizeof *b);
	b->events = (struct pull_events){ .progress = pull_progress, .note = pull_note, .arg = b };
}

static int pull_main(int argc, char **argv)
{
	static const struct option lo[] = { { "platform", required_argument, 0, 'p' },
		{ "insecure", no_argument, 0, 'k' }, { "quiet", no_argument, 0, 'q' },
		{ "max-image-size", required_argument, 0, 'M' }, { "keep-layers", no_argument, 0, 'K' }, { 0, 0, 0, 0 } };
	struct cli_pull_bar bar;
	cli_pull_bar_init(&bar);
	struct pull_opts o = { .events = &bar.events };
	opt_reset();
	int c;
	while ((c = getopt_long(argc, argv, "+q", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.platform = optarg;
			break;
		case 'k':
			o.insecure = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'K':
			o.keep_layers = true;
			break;
		case 'M': {
			struct ferr e = FERR_INIT;
			if (size_parse(optarg, &o.max_image_size, &e) < 0 || o.max_image_size == 0)
				return cli_usage_error("pull", "--max-image-size: '%s' is not a size (say e.g. 64G)", optarg);
			break;
		}
		default:
			return cli_usage_error("pull", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("pull", "expected one image reference");
	struct ferr err = FERR_INIT;
	struct store *st;
	if (store_open(&st, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	_cleanup_free_ char *digest = NULL;
	int rc = store_pull(st, argv[optind], &o, &digest, &err);
	store_close(st);
	if (rc < 0)
		return cli_fail(&err, EXIT_ERR);
	printf("%s\n", digest);
	return EXIT_OK;
}

static bool want_json(int argc, char **argv, int *first_arg)
{
	bool j = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++)
		if (!strcmp(argv[i], "--json"))
			j = true;
		else
			break;
	*first_arg = i;
	return j;
}

static int images_main(int argc, char **argv)
{
	int first;
	bool json = want_json(argc, argv, &first) || cli_json;
	if (first < argc)
		return cli_usage_error("images", "unexpected argument '%s'", argv[first]);
	struct ferr err = FERR_INIT;
	struct store *st;
	if (store_open(&st, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	struct store_image *imgs;
	size_t n;
	int rc = store_list(st, &imgs, &n, &err);
	store_close(st);
	if (rc < 0)
		return cli_fail(&err, EXIT_ERR);
	if (json) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:I, s:I, s:b}", "name", imgs[i].name, "digest",
							 imgs[i].digest, "size", (json_int_t)imgs[i].size, "shared",
							 (json_int_t)imgs[i].shared, "pulled", (json_int_t)imgs[i].pulled,
							 "readonly", imgs[i].readonly_store));
		char *s = json_dumps(a, JSON_INDENT(2));
		puts(s);
		free(s);
		json_decref(a);
	} else {
		printf("%-48s %-19s %10s %10s  %s\n", "NAME", "DIGEST", "SIZE", "SHARED", "PULLED");
		for (size_t i = 0; i < n; i++) {
			char sz[32], sh[32], when[32] = "-";
			cli_human_size(imgs[i].size, sz, sizeof sz);
			cli_human_size(imgs[i].shared, sh, sizeof sh);
			struct tm tm;
			if (imgs[i].pulled && localtime_r(&imgs[i].pulled, &tm))
				strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
			printf("%-48s %-19.19s %10s %10s  %s%s\n", imgs[i].name, imgs[i].digest, sz, sh, when,
				imgs[i].readonly_store ? " (read-only store)" : "");
		}
	}
	store_list_free(imgs, n);
	return EXIT_OK;
}

static void print_strv(const char *label, char **v)
{
	printf("%-12s", label);
	if (!v) {
		printf(" -\n");
		return;
	}
	for (char **s = v; *s; s++)
		printf(" %s", *s);
	printf("\n");
}

static int inspect_main(int argc, char **argv)
{
	int first;
	bool json = want_json(argc, argv, &first) || cli_json;
	if (first != argc - 1)
		return cli_usage_error("inspect", "expected one image reference");
	if (cli_inspect_is_file(argv[first]))
		return cli_inspect_file(argv[first], json);
	struct ferr err = FERR_INIT;
	struct store *st;
	if (store_open(&st, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	struct image_info *info;
	int rc = store_resolve(st, argv[first], &info, &err);
	store_close(st);
	if (rc < 0)
		return cli_fail(&err, EXIT_ERR);
	_cleanup_free_ char *mp = xasprintf("%s/manifest.json", info->dir);
	_cleanup_free_ char *cp = xasprintf("%s/config.json", info->dir);
	_cleanup_json_ json_t *mj = json_load_path(mp, &err);
	_cleanup_json_ json_t *cj = mj ? json_load_path(cp, &err) : NULL;
	if (!mj || !cj) {
		image_info_free(info);
		return cli_fail(&err, EXIT_ERR);
	}
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:O, s:O}", "name", info->name, "digest", info->manifest_digest,
			"rootfs", info->rootfs, "manifest", mj, "config", cj);
		char *s = json_dumps(o, JSON_INDENT(2));
		puts(s);
		free(s);
		json_decref(o);
	} else {
		const struct image_config *c = &info->config;
		printf("%-12s %s\n%-12s %s\n%-12s %s\n", "Name", info->name, "Digest", info->manifest_digest, "Rootfs",
			info->rootfs);
		printf("%-12s %s/%s\n", "Platform", c->os ? c->os : "?", c->arch ? c->arch : "?");
		print_strv("Entrypoint", c->entrypoint);
		print_strv("Cmd", c->cmd);
		printf("%-12s %s\n%-12s %s\n", "WorkingDir", c->workdir ? c->workdir : "-", "User", c->user ? c->user : "-");
		printf("Env\n");
		for (char **e = c->env; *e; e++)
			printf("  %s\n", *e);
		printf("Labels\n");
		for (char **e = c->labels; *e; e++)
			printf("  %s\n", *e);
		printf("Layers\n");
		json_t *layers = json_object_get(mj, "layers"), *l;
		size_t i;
		json_array_foreach(layers, i, l)
		{
			char sz[32];
			cli_human_size((uint64_t)json_integer_value(json_object_get(l, "size")), sz, sizeof sz);
			printf("  %s  %s\n", json_get_str(l, "digest"), sz);
		}
	}
	image_info_free(info);
	return EXIT_OK;
}

static int rm_main(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("rm", "expected at least one image reference");
	struct ferr err = FERR_INIT;
	struct store *st;
	if (store_open(&st, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	int rc = EXIT_OK;
	for (int i = 1; i < argc; i++) {
		ferr_clear(&err);
		if (store_rm(st, argv[i], &err) < 0)
			rc = cli_fail(&err, EXIT_ERR);
		else
			printf("removed %s\n", argv[i]);
	}
	store_close(st);
	return rc;
}

static int prune_main(int argc, char **argv)
{
	if (argc > 1)
		return cli_usage_error("prune", "unexpected argument '%s'", argv[1]);
	struct ferr err = FERR_INIT;
	struct store *st;
	if (store_open(&st, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	uint64_t freed = 0;
	int rc = store_prune(st, &freed, &err);
	store_close(st);
	if (rc < 0)
		return cli_fail(&err, EXIT_ERR);
	char sz[32];
	cli_human_size(freed, sz, sizeof sz);
	printf("freed %s\n", sz);
	return EXIT_OK;
}

static char *read_line(FILE *f, bool echo)
{
	struct termios old, t;
	bool tty = !echo && isatty(fileno(f)) && tcgetattr(fileno(f), &old) == 0;
	if (tty) {
		t = old;
		t.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(f), TCSANOW, &t);
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);
	if (tty) {
		tcsetattr(fileno(f), TCSANOW, &old);
		fputc('\n', stderr);
	}
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static const char *login_host(const char *arg)
{
	if (str_starts_with(arg, "https://"))
		arg += 8;
	else if (str_starts_with(arg, "http://"))
		arg += 7;
	if (!strcmp(arg, "index.docker.io") || !strcmp(arg, "registry-1.docker.io") ||
		str_starts_with(arg, "index.docker.io/"))
		return "docker.io";
	return arg;
}

static int login_main(int argc, char **argv)
{
	static const struct option lo[] = { { "username", required_argument, 0, 'u' },
		{ "password", required_argument, 0, 'p' }, { "password-stdin", no_argument, 0, 's' },
		{ "insecure", no_argument, 0, 'k' }, { 0, 0, 0, 0 } };
	const char *user = NULL, *pass = NULL;
	bool from_stdin = false, insecure = false;
	opt_reset();
	int c;
	while ((c = getopt_long(argc, argv, "+u:p:", lo, NULL)) != -1) {
		switch (c) {
		case 'u':
			user = optarg;
			break;
		case 'p':
			pass = optarg;
			break;
		case 's':
			from_stdin = true;
			break;
		case 'k':
			insecure = true;
			break;
		default:
			return cli_usage_error("login", "unknown option or missing value '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("login", "expected one registry host");
	_cleanup_free_ char *host = xstrdup(login_host(argv[optind]));
	char *slash = strchr(host, '/');
	if (slash)
		*slash = '\0';
	_cleanup_free_ char *u = NULL, *p = NULL;
	if (!user) {
		fprintf(stderr, "Username: ");
		u = read_line(stdin, true);
		user = u;
	}
	if (from_stdin) {
		p = read_line(stdin, true);
		pass = p;
	} else if (!pass) {
		fprintf(stderr, "Password: ");
		p = read_line(stdin, false);
		pass = p;
	}
	if (!user || !*user || !pass)
		return cli_usage_error("login", "user name and password needed");
	struct ferr err = FERR_INIT;
	if (registry_login_check(host, user, pass, insecure, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	if (docker_config_set_auth(host, user, pass, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	_cleanup_free_ char *path = docker_config_path();
	printf("Login succeeded (credentials in %s)\n", path);
	return EXIT_OK;
}

static int logout_main(int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_error("logout", "expected one registry host");
	struct ferr err = FERR_INIT;
	if (docker_config_remove_auth(login_host(argv[1]), &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	printf("Removed credentials for %s\n", login_host(argv[1]));
	return EXIT_OK;
}

const struct cli_command cmd_pull = {
	"pull", "fetch an image from a registry or archive into the store",
	"Usage: ferry pull [--platform OS/ARCH[/VARIANT]] [--insecure] [--max-image-size SIZE] [--keep-layers] [-q] REF\n"
	"\n"
	"Fetch an image into the store and print its manifest digest. REF is\n"
	"  docker://HOST[:PORT]/REPO[:TAG|@sha256:...]   a registry (v2 / OCI distribution)\n"
	"  REPO[:TAG]                  Docker Hub (busybox = docker.io/library/busybox:latest)\n"
	"  oci:DIR[:TAG]               an OCI image layout\n"
	"  oci-archive:FILE.tar[:TAG]  an OCI image layout in a tar file\n"
	"  docker-archive:FILE.tar     the output of `docker save`\n"
	"\n"
	"Options:\n"
	"  --platform P   pick P from a multi-platform image (default: this host's)\n"
	"  --insecure     allow plain HTTP or unverified TLS for this registry\n"
	"  --max-image-size SIZE  refuse an image whose files add up to more than\n"
	"                 SIZE (e.g. 200G; default 64G, or FERRY_MAX_IMAGE_SIZE)\n"
	"  --keep-layers  keep the layer blobs once the tree is in place (default:\n"
	"                 dropped; FERRY_KEEP_LAYERS=1 keeps them for every pull)\n"
	"  -q, --quiet    print only the digest\n"
	"\n"
	"An image already in the store costs one manifest request. Many processes\n"
	"pulling the same image download and unpack it once. Credentials come from\n"
	"docker's config.json (ferry login); mirrors and insecure registries from\n"
	"~/.config/ferry/config.json and /etc/ferry/config.json.\n",
	pull_main,
};

const struct cli_command cmd_images = {
	"images", "list stored images",
	"Usage: ferry images [--json]\n"
	"\n"
	"List stored images: name, digest, size on disk, the part of it shared\n"
	"with other images (deduplicated files), and when it was pulled.\n",
	images_main,
};

const struct cli_command cmd_inspect = {
	"inspect", "show an image's manifest and config",
	"Usage: ferry inspect [--json] REF\n"
	"       ferry inspect [--json] FILE\n"
	"\n"
	"Show a stored image: digest, rootfs, entrypoint, cmd, env, working dir,\n"
	"labels and layers. --json prints the manifest and config documents.\n"
	"A FILE (squashfs, SIF, .simg): its SIF objects or squashfs superblock,\n"
	"embedded config and creation time; signatures are not verified.\n",
	inspect_main,
};

const struct cli_command cmd_rm = {
	"rm", "remove images from the store",
	"Usage: ferry rm REF|DIGEST...\n"
	"\n"
	"Remove references; an image goes when no reference names it any more.\n"
	"Disk space shared with other images is released by `ferry prune`.\n",
	rm_main,
};

const struct cli_command cmd_prune = {
	"prune", "free unreferenced blobs, files and leftovers",
	"Usage: ferry prune\n"
	"\n"
	"Remove unreferenced images, blobs and deduplicated files, and what\n"
	"interrupted pulls left in tmp/. Waits for running pulls to finish.\n",
	prune_main,
};

const struct cli_command cmd_login = {
	"login", "store credentials for a registry",
	"Usage: ferry login [-u USER] [-p PASSWORD | --password-stdin] [--insecure] HOST\n"
	"\n"
	"Check the credentials against HOST and store them in docker's config.json\n"
	"($DOCKER_CONFIG/config.json or ~/.docker/config.json), where docker and\n"
	"podman find them too. Asks for what is not given.\n",
	login_main,
};

const struct cli_command cmd_logout = {
	"logout", "remove stored credentials for a registry",
	"Usage: ferry logout HOST\n"
	"\n"
	"Remove HOST's credentials from docker's config.json.\n",
	logout_main,
};
