/* ferry serve: the CARMIN server and web portal (doc/serve.md), and the
 * accounts it knows (ferry serve user ...). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/path.h"
#include "base/size.h"
#include "cli/cli.h"
#include "serve/serve.h"

static const char usage[] =
	"Usage: ferry serve [OPTIONS]\n"
	"       ferry serve --demo [OPTIONS]\n"
	"       ferry serve user add NAME [--admin] [--password-stdin] [--state DIR]\n"
	"       ferry serve user del NAME | user key NAME | user list [--json] [--state DIR]\n"
	"Serve the CARMIN 0.3.1 REST API and a web portal: users with API keys,\n"
	"pipelines from Boutiques descriptors, a file tree per user, executions\n"
	"run by ferry batch (doc/serve.md).\n"
	"  --listen ADDR:PORT   where to listen (default 127.0.0.1:8080; port 0: any free)\n"
	"  --state DIR          users, keys, executions and files (default\n"
	"                       ${XDG_DATA_HOME:-~/.local/share}/ferry/serve)\n"
	"  --pipelines DIR      Boutiques descriptors (*.json) to serve as pipelines\n"
	"  --catalog FILE       a catalog.json whose apps name descriptors\n"
	"  --backend local|slurm  where executions run (default local)\n"
	"  -j N                 local backend: tasks at once per execution\n"
	"  --tls-cert FILE --tls-key FILE  serve HTTPS (PEM)\n"
	"  --max-upload SIZE    largest file accepted (e.g. 10G; default: no limit)\n"
	"  --threads N          request threads (default: one per CPU)\n"
	"  --client-timeout S   cut off a connection silent for S seconds (default 30)\n"
	"  --auth-limit N/S     failed logins per address and per name: N at once,\n"
	"                       one more every S seconds (default 10/6)\n"
	"  --url-file FILE      write the URL served to FILE once listening\n"
	"  --demo               create user demo (password demo-password) and a\n"
	"                       sample pipeline, then serve until Ctrl-C\n"
	"  --allow-host-tools   also serve descriptors without a container-image\n"
	"                       (they run on this host, as the server's user)\n"
	"  -q, --quiet          no request log\n";

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

struct listen_note {
	const char *url_file;
	bool demo;
	const char *key;
};

static void on_listen(void *arg, const char *url)
{
	struct listen_note *n = arg;
	if (n->url_file) {
		struct ferr e = FERR_INIT;
		_cleanup_free_ char *t = xasprintf("%s\n", url);
		if (fs_write_atomic(n->url_file, t, strlen(t), 0644, &e) < 0)
			fprintf(stderr, "ferry: serve: %s\n", e.msg);
	}
	fprintf(stderr, "ferry: serving CARMIN on %s (portal: %s/)\n", url, url);
	if (n->demo)
		fprintf(stderr,
			"ferry: demo: open %s/ in a browser and log in as demo / demo-password\n"
			"ferry: demo: or: curl -H 'apikey: %s' %s/pipelines\n",
			url, n->key ? n->key : "?", url);
}

static int read_password(bool from_stdin, char **out)
{
	char buf[1024];
	struct termios t0, t1;
	bool tty = !from_stdin && isatty(0);
	if (!from_stdin && !tty)
		return -1;
	if (tty) {
		fputs("Password: ", stderr);
		tcgetattr(0, &t0);
		t1 = t0;
		t1.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(0, TCSANOW, &t1);
	}
	char *l = fgets(buf, sizeof buf, stdin);
	if (tty) {
		tcsetattr(0, TCSANOW, &t0);
		fputc('\n', stderr);
	}
	if (!l)
		return -1;
	buf[strcspn(buf, "\r\n")] = 0;
	*out = xstrdup(buf);
	return 0;
}

/* A whole decimal number in [lo, hi], or -1. */
static long parse_num(const char *s, long lo, long hi)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(s, &end, 10);
	return errno || end == s || *end || v < lo || v > hi ? -1 : v;
}

static int user_main(int argc, char **argv, const char *state)
{
	struct ferr err = FERR_INIT;
	bool admin = false, pw_stdin = false;
	const char *name = NULL;
	if (argc < 2)
		return cli_usage_error("serve user", "expected add, del, key or list");
	const char *sub = argv[1];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--admin"))
			admin = true;
		else if (!strcmp(argv[i], "--password-stdin"))
			pw_stdin = true;
		else if (!strcmp(argv[i], "--json"))
			cli_json = true;
		else if (argv[i][0] == '-')
			return cli_usage_error("serve user", "unknown option '%s'", argv[i]);
		else if (!name)
			name = argv[i];
		else
			return cli_usage_error("serve user", "too many arguments");
	}
	if (!strcmp(sub, "list")) {
		json_t *a = NULL;
		if (serve_user_list(state, &a, &err) < 0)
			return cli_fail(&err, EXIT_ERR);
		if (cli_json) {
			char *s = json_dumps(a, JSON_INDENT(2));
			puts(s);
			free(s);
		} else {
			size_t i;
			json_t *u;
			json_array_foreach(a, i, u)
			printf("%s%s  keys: %lld\n", json_get_str(u, "name"),
			       json_is_true(json_object_get(u, "admin")) ? " (admin)" : "",
			       (long long)json_integer_value(json_object_get(u, "keys")));
		}
		json_decref(a);
		return EXIT_OK;
	}
	if (!name)
		return cli_usage_error("serve user", "%s needs a user NAME", sub);
	if (!strcmp(sub, "add")) {
		_cleanup_free_ char *pw = NULL;
		if (read_password(pw_stdin, &pw) < 0)
			return cli_usage_error("serve user", "add %s: give the password on a terminal or with --password-stdin",
					       name);
		if (serve_user_add(state, name, pw, admin, &err) < 0)
			return cli_fail(&err, EXIT_ERR);
		return EXIT_OK;
	}
	if (!strcmp(sub, "del"))
		return serve_user_del(state, name, &err) < 0 ? cli_fail(&err, EXIT_ERR) : EXIT_OK;
	if (!strcmp(sub, "key")) {
		_cleanup_free_ char *key = NULL;
		if (serve_user_key(state, name, &key, &err) < 0)
			return cli_fail(&err, EXIT_ERR);
		puts(key);
		return EXIT_OK;
	}
	return cli_usage_error("serve user", "unknown subcommand '%s' (add, del, key, list)", sub);
}

/* The demo's pipeline: a tool that needs no image (it runs on this host),
 * so that --demo works on a machine without a registry. */
static const char demo_descriptor[] =
	"{\n"
	"  \"name\": \"ferry-demo-wc\",\n"
	"  \"tool-version\": \"1.0\",\n"
	"  \"description\": \"Count the lines, words and bytes of a file (ferry serve --demo)\",\n"
	"  \"schema-version\": \"0.5\",\n"
	"  \"command-line\": \"wc [FLAGS] [INPUT] > [OUT]\",\n"
	"  \"inputs\": [\n"
	"    {\"id\": \"input\", \"name\": \"Input file\", \"type\": \"File\", \"value-key\": \"[INPUT]\"},\n"
	"    {\"id\": \"flags\", \"name\": \"What to count\", \"type\": \"String\", \"value-key\": \"[FLAGS]\",\n"
	"     \"optional\": true, \"value-choices\": [\"-l\", \"-w\", \"-c\"]},\n"
	"    {\"id\": \"out\", \"name\": \"Result name\", \"type\": \"String\", \"value-key\": \"[OUT]\",\n"
	"     \"default-value\": \"counts.txt\"}\n"
	"  ],\n"
	"  \"output-files\": [\n"
	"    {\"id\": \"counts\", \"name\": \"Counts\", \"path-template\": \"[OUT]\"}\n"
	"  ],\n"
	"  \"tags\": {\"domain\": \"demo\"}\n"
	"}\n";

static int serve_main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "user")) {
		/* --state may come after the subcommand's arguments */
		const char *state = NULL;
		char **rest = xcalloc((size_t)argc + 1, sizeof *rest);
		int n = 0;
		for (int i = 1; i < argc; i++) {
			if (!strcmp(argv[i], "--state") && i + 1 < argc)
				state = argv[++i];
			else if (!strncmp(argv[i], "--state=", 8))
				state = argv[i] + 8;
			else
				rest[n++] = argv[i];
		}
		_cleanup_free_ char *def = state ? NULL : serve_default_state();
		int rc = user_main(n, rest, state ? state : def);
		free(rest);
		return rc;
	}
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, 'l' },   { "state", required_argument, NULL, 's' },
		{ "pipelines", required_argument, NULL, 'p' }, { "catalog", required_argument, NULL, 'C' },
		{ "backend", required_argument, NULL, 'b' },  { "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },  { "max-upload", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 't' },  { "client-timeout", required_argument, NULL, 'T' },
		{ "auth-limit", required_argument, NULL, 'a' }, { "url-file", required_argument, NULL, 'u' },
		{ "demo", no_argument, NULL, 'd' },	      { "allow-host-tools", no_argument, NULL, 'H' },	      { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },	      { NULL, 0, NULL, 0 },
	};
	struct serve_opts o = { 0 };
	struct listen_note note = { 0 };
	struct ferr err = FERR_INIT;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "j:qh", lo, NULL)) != -1) {
		switch (c) {
		case 'l': o.listen = optarg; break;
		case 's': o.state = optarg; break;
		case 'p': o.pipelines = optarg; break;
		case 'C': o.catalog = optarg; break;
		case 'b':
			if (strcmp(optarg, "local") && strcmp(optarg, "slurm"))
				return cli_usage_error("serve", "--backend %s: expected local or slurm", optarg);
			o.backend = optarg;
			break;
		case 'j':
			if ((o.jobs = (int)parse_num(optarg, 1, 4096)) < 0)
				return cli_usage_error("serve", "-j %s: expected a number of tasks", optarg);
			break;
		case 'c': o.tls_cert = optarg; break;
		case 'k': o.tls_key = optarg; break;
		case 'm':
			if (size_parse(optarg, &o.max_upload, &err) < 0)
				return cli_usage_error("serve", "--max-upload %s: %s", optarg, err.msg);
			break;
		case 't': {
			long v = parse_num(optarg, 1, 1024);
			if (v < 0)
				return cli_usage_error("serve", "--threads %s: expected 1 to 1024", optarg);
			o.threads = (unsigned)v;
			break;
		}
		case 'T': {
			long v = parse_num(optarg, 1, 86400);
			if (v < 0)
				return cli_usage_error("serve", "--client-timeout %s: expected seconds (1 to 86400)", optarg);
			o.client_timeout = (unsigned)v;
			break;
		}
		case 'a': {
			const char *slash = strchr(optarg, '/');
			_cleanup_free_ char *n = slash ? xstrndup(optarg, (size_t)(slash - optarg)) : NULL;
			long b = n ? parse_num(n, 1, 1000000) : -1, p = slash ? parse_num(slash + 1, 1, 86400) : -1;
			if (b < 0 || p < 0)
				return cli_usage_error("serve", "--auth-limit %s: expected N/SECONDS", optarg);
			o.auth_burst = (unsigned)b;
			o.auth_period = (unsigned)p;
			break;
		}
		case 'u': note.url_file = optarg; break;
		case 'd': note.demo = true; o.allow_host_tools = true; break;
		case 'H': o.allow_host_tools = true; break;
		case 'q': o.quiet = true; break;
		case 'h': return cli_help(&cmd_serve);
		default: return cli_usage_error("serve", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
	_cleanup_free_ char *def = o.state ? NULL : serve_default_state();
	if (!o.state)
		o.state = def;
	_cleanup_free_ char *demo_dir = NULL, *key = NULL;
	if (note.demo) {
		demo_dir = path_join(o.state, "demo-pipelines");
		_cleanup_free_ char *f = path_join(demo_dir, "wc.json");
		if (fs_mkdir_p(demo_dir, 0755, &err) < 0 ||
		    fs_write_atomic(f, demo_descriptor, strlen(demo_descriptor), 0644, &err) < 0)
			return cli_fail(&err, EXIT_ERR);
		if (!o.pipelines)
			o.pipelines = demo_dir;
		struct ferr e2 = FERR_INIT;
		if (serve_user_add(o.state, "demo", "demo-password", false, &e2) < 0 && !strstr(e2.msg, "exists"))
			return cli_fail(&e2, EXIT_ERR);
		if (serve_user_key(o.state, "demo", &key, &err) < 0)
			return cli_fail(&err, EXIT_ERR);
		note.key = key;
	}
	o.on_listen = on_listen;
	o.on_listen_arg = &note;
	struct sigaction sa = { 0 };
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (serve_run(&o, &stop_flag, &err) < 0)
		return cli_fail(&err, err.code == FERR_USAGE ? EXIT_USAGE : EXIT_ERR);
	return EXIT_OK;
}

const struct cli_command cmd_serve = {
	"serve", "serve the CARMIN REST API and a web portal",
	usage, serve_main,
};
