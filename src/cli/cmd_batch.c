/* ferry batch: many invocations of one descriptor on a local pool or as
 * Slurm arrays (doc/batch.md). The library (src/batch) does the work. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/str.h"
#include "batch/batch.h"
#include "cli/cli.h"

static const char usage[] =
	"Usage: ferry batch submit DESC INPUTS... [OPTIONS]\n"
	"       ferry batch status RUN [--json]\n"
	"       ferry batch wait RUN\n"
	"       ferry batch outputs RUN [--json]\n"
	"       ferry batch resume RUN [--detach]\n"
	"       ferry batch cancel RUN\n"
	"       ferry batch run-task RUN INDEX     (what each Slurm array task runs)\n"
	"Run many invocations of a Boutiques descriptor: the image is staged once,\n"
	"every task is the launch `ferry app launch` does, and RUN/batch.db (SQLite)\n"
	"records each task's state (doc/batch.md).\n"
	"INPUTS: invocation JSON files, directories of them, JSON arrays, JSON Lines,\n"
	"CSV/TSV tables (.csv/.tsv: the header names input ids, one task a row).\n"
	"  --expand INV          one invocation whose list values are iterated as VIP\n"
	"                        does (cartesian; pairwise for custom.\"vip:dot\" ids)\n"
	"  --list-sep S          CSV/TSV: separator of a list input's items (default ;)\n"
	"  --run-dir RUN         default ./ferry-batch-<timestamp>; must not exist\n"
	"  --backend local|slurm (default local)\n"
	"  -j, --jobs N          local: N tasks at a time (default: the cores)\n"
	"  --retries N           re-run a failed task up to N times\n"
	"  --no-retry-codes L    exit codes (comma-separated) never retried\n"
	"  --detach              local: drive the run in the background (follow it\n"
	"                        with status/wait)\n"
	"  --hold                create the run (validated, journal written), start\n"
	"                        nothing: 'ferry batch resume RUN' starts it\n"
	"  --wait                slurm: wait until every task ended (default: return\n"
	"                        once submitted)\n"
	"  --max-running M       slurm: at most M array tasks at once (--array=...%M)\n"
	"  --partition P, --account A, --slurm-opt ARG (repeatable): passed to sbatch\n"
	"  --cpus N, --mem M, --time T   slurm: instead of suggested-resources\n"
	"  -v, --volume H:C[:ro] bind H at C in every task\n"
	"  --no-container        local: run the command on this host\n"
	"  --insecure            plain HTTP / unverified TLS for the image's registry\n"
	"  -q, --quiet           no progress, no summary\n"
	"  --json                status/outputs: machine-readable\n"
	"Exit status: submit (local), resume and wait: 0 when every task succeeded,\n"
	"1 otherwise; 2 usage.\n";

static volatile int stop_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void catch_stop(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop; /* no SA_RESTART: waits return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

struct bopts {
	const char *run_dir, *list_sep, *backend;
	char **expand;
	char **slurm_opts;
	struct app_bind *binds;
	size_t nbinds;
	int *no_retry;
	size_t n_no_retry;
	struct batch_opts o;
	bool detach, wait, quiet, json, hold;
	char **args;
	int nargs;
};

static bool is_tty;

static void bar(const struct batch_progress *p, void *ud)
{
	(void)ud;
	if (!is_tty || p->total <= 0)
		return;
	int w = 30, fill = (int)((double)p->done / (double)p->total * w);
	char b[64];
	for (int i = 0; i < w; i++)
		b[i] = i < fill ? '#' : '.';
	b[w] = '\0';
	fprintf(stderr, "\r[%s] %ld/%ld done, %ld running, %ld failed, %ld cancelled ", b, p->done, p->total,
		p->running, p->failed, p->cancelled);
	if (p->done == p->total)
		fputc('\n', stderr);
	fflush(stderr);
}

static int parse_codes(const char *s, struct bopts *b)
{
	_cleanup_free_ char *c = xstrdup(s);
	char *save = NULL;
	for (char *t = strtok_r(c, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *end;
		long v = strtol(t, &end, 10);
		if (*end || end == t)
			return -1;
		b->no_retry = xrealloc(b->no_retry, (b->n_no_retry + 1) * sizeof *b->no_retry);
		b->no_retry[b->n_no_retry++] = (int)v;
	}
	return 0;
}

static int parse_bind(const char *s, struct bopts *b)
{
	_cleanup_free_ char *c = xstrdup(s);
	char *colon = strchr(c, ':');
	if (!colon || colon == c || !colon[1])
		return -1;
	*colon = '\0';
	char *cont = colon + 1, *ro = strchr(cont, ':');
	bool isro = false;
	if (ro) {
		*ro = '\0';
		if (strcmp(ro + 1, "ro") && strcmp(ro + 1, "rw"))
			return -1;
		isro = !strcmp(ro + 1, "ro");
	}
	b->binds = xrealloc(b->binds, (b->nbinds + 1) * sizeof *b->binds);
	b->binds[b->nbinds++] = (struct app_bind){ xstrdup(c), xstrdup(cont), isro };
	return 0;
}

static bool parse_count(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end || errno || v < 0 || v > 1000000)
		return false;
	*out = (unsigned)v;
	return true;
}

static int parse(int argc, char **argv, struct bopts *b)
{
	enum { O_EXPAND = 256, O_LISTSEP, O_RUNDIR, O_BACKEND, O_RETRIES, O_NORETRY, O_DETACH, O_WAIT, O_MAXRUN,
	       O_PART, O_ACCT, O_SOPT, O_CPUS, O_MEM, O_TIME, O_NOCONT, O_INSECURE, O_JSON, O_HOLD };
	static const struct option lo[] = {
		{ "expand", required_argument, NULL, O_EXPAND },
		{ "list-sep", required_argument, NULL, O_LISTSEP },
		{ "run-dir", required_argument, NULL, O_RUNDIR },
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "jobs", required_argument, NULL, 'j' },
		{ "retries", required_argument, NULL, O_RETRIES },
		{ "no-retry-codes", required_argument, NULL, O_NORETRY },
		{ "detach", no_argument, NULL, O_DETACH },
		{ "hold", no_argument, NULL, O_HOLD },
		{ "wait", no_argument, NULL, O_WAIT },
		{ "max-running", required_argument, NULL, O_MAXRUN },
		{ "partition", required_argument, NULL, O_PART },
		{ "account", required_argument, NULL, O_ACCT },
		{ "slurm-opt", required_argument, NULL, O_SOPT },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "mem", required_argument, NULL, O_MEM },
		{ "time", required_argument, NULL, O_TIME },
		{ "volume", required_argument, NULL, 'v' },
		{ "no-container", no_argument, NULL, O_NOCONT },
		{ "insecure", no_argument, NULL, O_INSECURE },
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	b->expand = xcalloc(1, sizeof *b->expand);
	b->slurm_opts = xcalloc(1, sizeof *b->slurm_opts);
	b->json = cli_json;
	optind = 1;
	opterr = 0;
	int c;
	const char *sub = argc > 1 ? argv[1] : "";
	while ((c = getopt_long(argc - 1, argv + 1, "j:v:qh", lo, NULL)) != -1) {
		switch (c) {
		case O_EXPAND: strv_push(&b->expand, optarg); break;
		case O_LISTSEP: b->list_sep = optarg; break;
		case O_RUNDIR: b->run_dir = optarg; break;
		case O_BACKEND:
			if (batch_backend_parse(optarg) < 0)
				return cli_usage_error("batch", "--backend is local or slurm, not '%s'", optarg);
			b->o.backend = (enum batch_backend)batch_backend_parse(optarg);
			break;
		case 'j':
			if (!parse_count(optarg, &b->o.jobs) || !b->o.jobs)
				return cli_usage_error("batch", "-j wants a number of tasks, not '%s'", optarg);
			break;
		case O_RETRIES:
			if (!parse_count(optarg, &b->o.retries))
				return cli_usage_error("batch", "--retries wants a number, not '%s'", optarg);
			break;
		case O_NORETRY:
			if (parse_codes(optarg, b) < 0)
				return cli_usage_error("batch", "--no-retry-codes wants exit codes such as 2,3, not '%s'",
						       optarg);
			break;
		case O_DETACH: b->detach = true; break;
		case O_HOLD: b->hold = true; break;
		case O_WAIT: b->wait = true; break;
		case O_MAXRUN:
			if (!parse_count(optarg, &b->o.max_running))
				return cli_usage_error("batch", "--max-running wants a number, not '%s'", optarg);
			break;
		case O_PART: b->o.partition = optarg; break;
		case O_ACCT: b->o.account = optarg; break;
		case O_SOPT: strv_push(&b->slurm_opts, optarg); break;
		case O_CPUS: b->o.cpus = optarg; break;
		case O_MEM: b->o.mem = optarg; break;
		case O_TIME: b->o.time = optarg; break;
		case 'v':
			if (parse_bind(optarg, b) < 0)
				return cli_usage_error("batch", "-v wants HOST:CONTAINER[:ro], not '%s'", optarg);
			break;
		case O_NOCONT: b->o.no_container = true; break;
		case O_INSECURE: b->o.insecure = true; break;
		case 'q': b->quiet = true; break;
		case O_JSON: b->json = true; break;
		case 'h': return -2;
		default:
			return cli_usage_error("batch", "%s: unknown option '%s'", sub, argv[optind]);
		}
	}
	/* argv + 1: the subcommand is argv[1]; operands follow */
	b->args = argv + 1 + optind;
	b->nargs = argc - 1 - optind;
	b->o.no_retry_codes = b->no_retry;
	b->o.n_no_retry = b->n_no_retry;
	b->o.binds = b->binds;
	b->o.nbinds = b->nbinds;
	b->o.slurm_opts = (const char *const *)b->slurm_opts;
	return 0;
}

static void print_counts(struct batch_run *r)
{
	struct batch_counts c;
	struct ferr e = FERR_INIT;
	if (batch_counts(r, &c, &e) < 0)
		return;
	fprintf(stderr, "ferry: batch: %s: %ld task%s:", batch_run_dir(r), c.total, c.total == 1 ? "" : "s");
	for (int i = 0; i < BATCH_NSTATES; i++)
		if (c.n[i])
			fprintf(stderr, " %ld %s", c.n[i], batch_state_name((enum batch_state)i));
	fputc('\n', stderr);
}

static int all_succeeded(struct batch_run *r)
{
	struct batch_counts c;
	struct ferr e = FERR_INIT;
	if (batch_counts(r, &c, &e) < 0)
		return cli_fail(&e, EXIT_ERR);
	return c.n[BATCH_SUCCEEDED] == c.total ? EXIT_OK : EXIT_ERR;
}

static int drive(struct batch_run *r, struct bopts *b, bool submit_only)
{
	if (b->detach) {
		pid_t pid;
		struct ferr e = FERR_INIT;
		if (batch_spawn_driver(batch_run_dir(r), NULL, &pid, &e) < 0)
			return cli_fail(&e, EXIT_ERR);
		if (!b->quiet)
			fprintf(stderr, "ferry: batch: %s: driver pid %ld; follow it with 'ferry batch wait %s'\n",
				batch_run_dir(r), (long)pid, batch_run_dir(r));
		return EXIT_OK;
	}
	is_tty = !b->quiet && isatty(2);
	catch_stop();
	struct batch_drive_opts d = { &stop_flag, bar, NULL, submit_only, b->quiet };
	struct ferr e = FERR_INIT;
	if (batch_drive(r, &d, &e) < 0)
		return cli_fail(&e, EXIT_ERR);
	if (submit_only) {
		if (!b->quiet)
			fprintf(stderr, "ferry: batch: %s: submitted; follow it with 'ferry batch wait %s'\n",
				batch_run_dir(r), batch_run_dir(r));
		return EXIT_OK;
	}
	if (!b->quiet)
		print_counts(r);
	if (stop_flag)
		return 128 + SIGINT;
	return all_succeeded(r);
}

static int sub_submit(struct bopts *b)
{
	if (b->nargs < 1 || (b->nargs < 2 && !b->expand[0]))
		return cli_usage_error("batch", "submit wants DESCRIPTOR and INPUTS (files, directories, --expand INV)");
	struct ferr e = FERR_INIT;
	_cleanup_json_ json_t *desc = app_load_json(b->args[0], &e);
	if (!desc)
		return cli_fail(&e, EXIT_ERR);
	struct batch_inputs in = { 0 };
	struct app_problems probs = { 0 };
	struct batch_input_opts io = { b->list_sep };
	int rc = EXIT_OK;
	for (int i = 1; i < b->nargs && rc == EXIT_OK; i++)
		if (batch_inputs_add_path(&in, desc, b->args[i], &io, &probs, &e) < 0)
			rc = EXIT_ERR;
	for (char **x = b->expand; *x && rc == EXIT_OK; x++) {
		_cleanup_json_ json_t *inv = app_load_json(*x, &e);
		if (!inv || batch_inputs_expand(&in, desc, inv, *x, &e) < 0)
			rc = EXIT_ERR;
	}
	struct batch_run *r = NULL;
	if (rc == EXIT_OK && !probs.n) {
		_cleanup_free_ char *dflt = b->run_dir ? NULL : batch_default_run_dir();
		if (batch_create(b->run_dir ? b->run_dir : dflt, b->args[0], desc, &in, &b->o, &probs, &r, &e) < 0)
			rc = EXIT_ERR;
	} else if (rc == EXIT_OK) {
		/* the inputs' own problems, then the invocations' */
		batch_validate(desc, &in, &probs);
		ferr_setc(&e, FERR_INVALID, 0, "%zu problem%s in the inputs: nothing was submitted", probs.n,
			  probs.n == 1 ? "" : "s");
		rc = EXIT_ERR;
	}
	for (size_t i = 0; i < probs.n; i++)
		fprintf(stderr, "ferry: batch submit: %s: %s\n", probs.v[i].path, probs.v[i].msg);
	if (rc != EXIT_OK && e.msg[0])
		cli_fail(&e, EXIT_ERR);
	app_problems_free(&probs);
	batch_inputs_free(&in);
	if (rc != EXIT_OK)
		return rc;
	if (!b->quiet)
		fprintf(stderr, "ferry: batch: %s: %ld task%s, %s backend, journal %s\n", batch_run_dir(r),
			batch_task_count(r), batch_task_count(r) == 1 ? "" : "s",
			batch_backend_name(batch_run_backend(r)), batch_journal_mode(r));
	rc = b->hold ? EXIT_OK : drive(r, b, batch_run_backend(r) == BATCH_SLURM && !b->wait);
	batch_close(r);
	return rc;
}

static int open_run(struct bopts *b, const char *what, struct batch_run **r)
{
	if (b->nargs != 1)
		return cli_usage_error("batch", "%s wants RUN (a run directory)", what);
	struct ferr e = FERR_INIT;
	if (batch_open(b->args[0], r, &e) < 0)
		return cli_fail(&e, EXIT_ERR);
	return EXIT_OK;
}

static int sub_resume(struct bopts *b)
{
	struct batch_run *r = NULL;
	int rc = open_run(b, "resume", &r);
	if (rc)
		return rc;
	rc = drive(r, b, batch_run_backend(r) == BATCH_SLURM && !b->wait);
	batch_close(r);
	return rc;
}

static void print_status(struct batch_run *r, const json_t *j)
{
	printf("run %s: %lld tasks, %s backend, journal %s\n", batch_run_dir(r),
	       (long long)json_integer_value(json_object_get(j, "tasks")), json_get_str(j, "backend"),
	       json_get_str(j, "journal-mode"));
	const json_t *c = json_object_get(j, "counts");
	for (int i = 0; i < BATCH_NSTATES; i++) {
		const char *n = batch_state_name((enum batch_state)i);
		printf("  %-10s %lld\n", n, (long long)json_integer_value(json_object_get(c, n)));
	}
	const json_t *d = json_object_get(j, "durations");
	printf("durations: median %.3f s, p95 %.3f s\n", json_real_value(json_object_get(d, "median-s")),
	       json_real_value(json_object_get(d, "p95-s")));
	const json_t *f = json_object_get(j, "failed");
	if (json_array_size(f))
		printf("failed tasks (%lld):\n", (long long)json_integer_value(json_object_get(j, "failed-total")));
	for (size_t i = 0; i < json_array_size(f); i++) {
		const json_t *t = json_array_get(f, i);
		const char *err = json_get_str(t, "error");
		const char *why = json_get_str(t, "reason") ?: "";
		/* "exit code N: description" says again what the line says */
		bool plain = !*why || str_starts_with(why, "exit code ");
		printf("  task %lld: exit %lld%s%s%s%s%s [%s]\n", (long long)json_integer_value(json_object_get(t, "task")),
		       (long long)json_integer_value(json_object_get(t, "exit-code")), err ? " (" : "", err ? err : "",
		       err ? ")" : "", plain ? "" : ": ", plain ? "" : why, json_get_str(t, "source") ?: "");
	}
	if (json_is_true(json_object_get(j, "driver-alive")))
		printf("driver: pid %lld\n", (long long)json_integer_value(json_object_get(j, "driver-pid")));
}

static int sub_status(struct bopts *b)
{
	struct batch_run *r = NULL;
	int rc = open_run(b, "status", &r);
	if (rc)
		return rc;
	struct ferr e = FERR_INIT;
	if (batch_refresh(r, &e) < 0)
		log_warn("%s", e.msg);
	_cleanup_json_ json_t *j = batch_status_json(r, b->json ? 0 : 20, &e);
	if (!j) {
		batch_close(r);
		return cli_fail(&e, EXIT_ERR);
	}
	if (b->json) {
		char *t = json_dumps(j, JSON_INDENT(2));
		puts(t);
		free(t);
	} else
		print_status(r, j);
	batch_close(r);
	return EXIT_OK;
}

static int sub_wait(struct bopts *b)
{
	struct batch_run *r = NULL;
	int rc = open_run(b, "wait", &r);
	if (rc)
		return rc;
	is_tty = !b->quiet && isatty(2);
	catch_stop();
	struct ferr e = FERR_INIT;
	for (;;) {
		if (batch_refresh(r, &e) < 0) {
			rc = cli_fail(&e, EXIT_ERR);
			break;
		}
		struct batch_counts c;
		if (batch_counts(r, &c, &e) < 0) {
			rc = cli_fail(&e, EXIT_ERR);
			break;
		}
		struct batch_progress p = { c.total, c.n[BATCH_SUCCEEDED] + c.n[BATCH_FAILED] + c.n[BATCH_CANCELLED],
					    c.n[BATCH_SUCCEEDED], c.n[BATCH_FAILED], c.n[BATCH_CANCELLED],
					    c.n[BATCH_RUNNING] };
		bar(&p, NULL);
		bool active = c.n[BATCH_PENDING] || c.n[BATCH_QUEUED] || c.n[BATCH_RUNNING];
		if (!active) {
			if (batch_refresh_now(r, &e) < 0)
				log_warn("%s", e.msg);
			if (!b->quiet)
				print_counts(r);
			rc = all_succeeded(r);
			break;
		}
		bool slurm_owns = batch_run_backend(r) == BATCH_SLURM && !c.n[BATCH_PENDING];
		if (!slurm_owns && !batch_driver_alive(r, NULL)) {
			/* one more look: the driver may have ended just now */
			if (batch_counts(r, &c, &e) == 0 && (c.n[BATCH_PENDING] || c.n[BATCH_QUEUED] || c.n[BATCH_RUNNING])) {
				if (is_tty)
					fputc('\n', stderr);
				ferr_set(&e, 0, "%s: %ld task%s not finished and no driver runs it", batch_run_dir(r),
					 c.n[BATCH_PENDING] + c.n[BATCH_QUEUED] + c.n[BATCH_RUNNING],
					 c.n[BATCH_PENDING] + c.n[BATCH_QUEUED] + c.n[BATCH_RUNNING] == 1 ? " is" : "s are");
				ferr_hint(&e, "'ferry batch resume %s' runs them", batch_run_dir(r));
				rc = cli_fail(&e, EXIT_ERR);
				break;
			}
			continue;
		}
		if (stop_flag) {
			rc = 128 + SIGINT;
			break;
		}
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	batch_close(r);
	return rc;
}

struct out_ctx {
	struct batch_run *r;
	json_t *all;
	bool json;
};

static int one_output(const struct batch_task *t, void *ud)
{
	struct out_ctx *o = ud;
	struct ferr e = FERR_INIT;
	json_t *outs = batch_task_outputs(o->r, t->index, &e);
	if (!outs)
		outs = json_object();
	if (o->json) {
		json_array_append_new(o->all, json_pack("{s:I,s:s,s:o}", "task", (json_int_t)t->index, "state",
							batch_state_name(t->state), "outputs", outs));
		return 0;
	}
	const char *k;
	json_t *v;
	json_object_foreach(outs, k, v)
		printf("%ld\t%s\t%s\n", t->index, k, json_string_value(v));
	json_decref(outs);
	return 0;
}

static int sub_outputs(struct bopts *b)
{
	struct batch_run *r = NULL;
	int rc = open_run(b, "outputs", &r);
	if (rc)
		return rc;
	struct out_ctx o = { r, json_array(), b->json };
	struct ferr e = FERR_INIT;
	if (batch_task_foreach(r, -1, one_output, &o, &e) < 0)
		rc = cli_fail(&e, EXIT_ERR);
	else if (b->json) {
		char *t = json_dumps(o.all, JSON_INDENT(2));
		puts(t);
		free(t);
	}
	json_decref(o.all);
	batch_close(r);
	return rc;
}

static int sub_cancel(struct bopts *b)
{
	struct batch_run *r = NULL;
	int rc = open_run(b, "cancel", &r);
	if (rc)
		return rc;
	struct ferr e = FERR_INIT;
	if (batch_cancel(r, &e) < 0) {
		batch_close(r);
		return cli_fail(&e, EXIT_ERR);
	}
	/* the driver records its stopped tasks: wait for it (15 s at most) */
	for (int i = 0; i < 150 && batch_driver_alive(r, NULL); i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (!b->quiet)
		print_counts(r);
	batch_close(r);
	return EXIT_OK;
}

static int sub_run_task(struct bopts *b)
{
	if (b->nargs != 2)
		return cli_usage_error("batch", "run-task wants RUN INDEX");
	char *end;
	long idx = strtol(b->args[1], &end, 10);
	if (*end || end == b->args[1] || idx < 0)
		return cli_usage_error("batch", "run-task: INDEX is a task number, not '%s'", b->args[1]);
	struct batch_run *r = NULL;
	struct ferr e = FERR_INIT;
	if (batch_open(b->args[0], &r, &e) < 0)
		return cli_fail(&e, EXIT_ERR);
	int rc = EXIT_OK;
	if (batch_run_task(r, idx, &e) < 0)
		rc = cli_fail(&e, EXIT_ERR);
	else {
		struct batch_task t;
		if (batch_task_get(r, idx, &t, &e) == 0) {
			/* the task's status, so that Slurm's accounting shows it too */
			rc = t.state == BATCH_SUCCEEDED ? 0 : t.exit_code > 0 ? t.exit_code : 1;
			batch_task_clear(&t);
		}
	}
	batch_close(r);
	return rc;
}

static int batch_main(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("batch", "which command? submit, status, wait, outputs, resume, cancel");
	if (cli_is_help(argv[1]))
		return cli_help(&cmd_batch);
	struct bopts b;
	memset(&b, 0, sizeof b);
	int rc = parse(argc, argv, &b);
	if (rc == -2)
		rc = cli_help(&cmd_batch);
	else if (rc == 0) {
		const char *s = argv[1];
		if (!strcmp(s, "submit"))
			rc = sub_submit(&b);
		else if (!strcmp(s, "resume"))
			rc = sub_resume(&b);
		else if (!strcmp(s, "status"))
			rc = sub_status(&b);
		else if (!strcmp(s, "wait"))
			rc = sub_wait(&b);
		else if (!strcmp(s, "outputs"))
			rc = sub_outputs(&b);
		else if (!strcmp(s, "cancel"))
			rc = sub_cancel(&b);
		else if (!strcmp(s, "run-task"))
			rc = sub_run_task(&b);
		else
			rc = cli_usage_error("batch", "unknown command '%s': submit, status, wait, outputs, resume, cancel",
					     s);
	}
	strv_free(b.expand);
	strv_free(b.slurm_opts);
	for (size_t i = 0; i < b.nbinds; i++) {
		free(b.binds[i].host);
		free(b.binds[i].cont);
	}
	free(b.binds);
	free(b.no_retry);
	return rc;
}

const struct cli_command cmd_batch = {
	"batch", "many invocations: a local pool or Slurm arrays, with a journal", usage, batch_main,
};
