/* A run directory: created from a descriptor and validated tasks (nothing
 * is created when any task is invalid), opened again by every later
 * command (status, wait, resume, cancel, run-task), and driven by one
 * driver at a time (RUN/driver.lock). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/path.h"
#include "base/str.h"
#include "batch/internal.h"

extern char **environ;

static const char *const state_names[BATCH_NSTATES] = { "pending",   "queued", "running",
							"succeeded", "failed", "cancelled" };

const char *batch_state_name(enum batch_state s)
{
	return s < BATCH_NSTATES ? state_names[s] : "?";
}

int batch_state_parse(const char *name)
{
	for (int i = 0; i < BATCH_NSTATES; i++)
		if (name && !strcmp(name, state_names[i]))
			return i;
	return -1;
}

const char *batch_backend_name(enum batch_backend b)
{
	return b == BATCH_SLURM ? "slurm" : "local";
}

int batch_backend_parse(const char *name)
{
	return !name ? -1 : !strcmp(name, "local") ? BATCH_LOCAL : !strcmp(name, "slurm") ? BATCH_SLURM : -1;
}

char *batch_default_run_dir(void)
{
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	char buf[64];
	strftime(buf, sizeof buf, "ferry-batch-%Y%m%d-%H%M%S", &tm);
	return xstrdup(buf);
}

static bool is_file_input(const json_t *desc, const char *id)
{
	const json_t *inputs = json_object_get(desc, "inputs");
	for (size_t i = 0; i < json_array_size(inputs); i++) {
		const json_t *x = json_array_get(inputs, i);
		const char *xid = json_get_str(x, "id");
		if (xid && !strcmp(xid, id))
			return !strcmp(json_get_str(x, "type") ?: "", "File");
	}
	return false;
}

/* Tasks run in RUN/tasks/<n>/: File inputs given as relative paths are
 * made absolute against the directory the run was submitted from, which
 * is where the user meant them. Returns a new invocation. */
static json_t *absolute_files(const json_t *desc, const json_t *inv, const char *cwd)
{
	json_t *out = json_deep_copy(inv);
	const char *k;
	json_t *v;
	json_object_foreach(out, k, v) {
		if (!is_file_input(desc, k))
			continue;
		size_t n = json_is_array(v) ? json_array_size(v) : 1;
		for (size_t i = 0; i < n; i++) {
			json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
			const char *p = json_string_value(x);
			if (!p || p[0] == '/')
				continue;
			_cleanup_free_ char *j = path_join(cwd, p);
			_cleanup_free_ char *abs = path_normalize(j);
			json_string_set(x, abs);
		}
	}
	return out;
}

size_t batch_validate(const json_t *desc, const struct batch_inputs *in, struct app_problems *out)
{
	size_t bad = 0;
	for (size_t i = 0; i < in->n; i++) {
		struct app_problems p = { 0 };
		_cleanup_json_ json_t *full = app_invocation_with_defaults(desc, in->v[i].inv);
		if (app_validate_invocation(desc, full, &p)) {
			const char *m = p.v[0].msg + strspn(p.v[0].msg, " ");
			app_problems_add(out, in->v[i].source, "%s%s%s", p.v[0].path, *p.v[0].path ? ": " : "", m);
			app_problems_free(&p);
			bad++;
			continue;
		}
		app_problems_free(&p);
		/* File inputs must exist (as `app launch` checks before it runs) */
		const char *k;
		json_t *v;
		bool ok = true;
		json_object_foreach(full, k, v) {
			if (!ok || !is_file_input(desc, k))
				continue;
			size_t n = json_is_array(v) ? json_array_size(v) : 1;
			for (size_t j = 0; j < n && ok; j++) {
				const char *pth = json_string_value(json_is_array(v) ? json_array_get(v, j) : v);
				struct stat st;
				if (pth && stat(pth, &st) < 0) {
					app_problems_add(out, in->v[i].source, "input '%s': %s: %s", k, pth,
							 strerror(errno));
					ok = false;
				}
			}
		}
		bad += !ok;
	}
	return bad;
}

static json_t *opts_json(const struct batch_opts *o)
{
	json_t *nr = json_array(), *binds = json_array(), *so = json_array();
	for (size_t i = 0; i < o->n_no_retry; i++)
		json_array_append_new(nr, json_integer(o->no_retry_codes[i]));
	for (size_t i = 0; i < o->nbinds; i++)
		json_array_append_new(binds, json_pack("{s:s,s:s,s:b}", "host", o->binds[i].host, "cont",
						       o->binds[i].cont, "ro", o->binds[i].ro));
	for (size_t i = 0; o->slurm_opts && o->slurm_opts[i]; i++)
		json_array_append_new(so, json_string(o->slurm_opts[i]));
	json_t *j = json_pack("{s:s,s:I,s:I,s:o,s:b,s:b,s:o,s:I,s:o}", "backend", batch_backend_name(o->backend),
			      "jobs", (json_int_t)o->jobs, "retries", (json_int_t)o->retries, "no-retry-codes", nr,
			      "insecure", o->insecure, "no-container", o->no_container, "binds", binds,
			      "max-running", (json_int_t)o->max_running, "slurm-opts", so);
	const char *keys[] = { "partition", "account", "cpus", "mem", "time", "ferry-exe" };
	const char *vals[] = { o->partition, o->account, o->cpus, o->mem, o->time, o->ferry_exe };
	for (size_t i = 0; i < 6; i++)
		if (vals[i])
			json_object_set_new(j, keys[i], json_string(vals[i]));
	return j;
}

static void run_free(struct batch_run *r)
{
	if (!r)
		return;
	if (r->db)
		sqlite3_close(r->db);
	if (r->driver_lock >= 0)
		close(r->driver_lock);
	free(r->dir);
	json_decref(r->desc);
	free(r->desc_arg);
	json_decref(r->opts);
	json_decref(r->prepared);
	free(r);
}

void batch_close(struct batch_run *r)
{
	run_free(r);
}

static int insert_tasks(struct batch_run *r, const struct batch_inputs *in, const char *cwd, struct ferr *err)
{
	if (journal_exec(r->db, "BEGIN", err) < 0)
		return -1;
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(r->db, "INSERT INTO tasks(id, source, invocation) VALUES(?, ?, ?)", -1, &s, NULL) !=
	    SQLITE_OK)
		return journal_err(r->db, err, "insert");
	for (size_t i = 0; i < in->n; i++) {
		_cleanup_json_ json_t *inv = absolute_files(r->desc, in->v[i].inv, cwd);
		_cleanup_free_ char *text = app_json_dumps(inv, JSON_COMPACT);
		sqlite3_bind_int64(s, 1, (sqlite3_int64)i);
		sqlite3_bind_text(s, 2, in->v[i].source, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, text ? text : "{}", -1, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_DONE) {
			sqlite3_finalize(s);
			return journal_err(r->db, err, "insert");
		}
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	return journal_exec(r->db, "COMMIT", err);
}

int batch_create(const char *run_dir, const char *desc_arg, const json_t *desc, const struct batch_inputs *in,
		 const struct batch_opts *opts, struct app_problems *problems, struct batch_run **out,
		 struct ferr *err)
{
	*out = NULL;
	struct app_problems dp = { 0 };
	if (app_validate_descriptor(desc, &dp)) {
		ferr_setc(err, FERR_INVALID, 0, "invalid descriptor: %s%s%s", dp.v[0].path, *dp.v[0].path ? ": " : "",
			  dp.v[0].msg + strspn(dp.v[0].msg, " "));
		app_problems_free(&dp);
		return ferr_hint(err, "'ferry app validate' lists every problem");
	}
	if (!opts->no_container && !json_object_get(desc, "container-image"))
		return ferr_setc(err, FERR_INVALID, 0, "the descriptor names no container-image to run the tasks in"),
		       ferr_hint(err, "add one, or run the tool on this host with --no-container");
	if (opts->backend == BATCH_SLURM && opts->no_container)
		return ferr_setc(err, FERR_USAGE, 0, "--no-container is for the local backend only");
	if (!in->n)
		return ferr_setc(err, FERR_USAGE, 0, "no tasks: the inputs hold no invocation");
	size_t bad = batch_validate(desc, in, problems);
	if (bad)
		return ferr_setc(err, FERR_INVALID, 0, "%zu of %zu task%s invalid: nothing was submitted", bad, in->n,
				 in->n == 1 ? " is" : "s are");
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd))
		return ferr_set(err, errno, "the working directory");
	/* Slurm answers and sees the store: checked before anything exists */
	if (opts->backend == BATCH_SLURM && slurm_precheck(run_dir, NULL, err) < 0)
		return -1;
	if (mkdir(run_dir, 0755) < 0) {
		if (errno == EEXIST)
			return ferr_setc(err, FERR_USAGE, EEXIST, "run directory %s", run_dir),
			       ferr_hint(err, "'ferry batch resume %s' continues it; or choose another --run-dir",
					 run_dir);
		return ferr_set(err, errno, "run directory %s", run_dir);
	}
	struct batch_run *r = xcalloc(1, sizeof *r);
	r->driver_lock = -1;
	r->dir = realpath(run_dir, NULL);
	if (!r->dir)
		r->dir = xstrdup(run_dir);
	r->desc = json_deep_copy(desc);
	r->desc_arg = xstrdup(desc_arg ? desc_arg : "");
	r->opts = opts_json(opts);
	r->backend = opts->backend;
	r->ntasks = (long)in->n;
	r->mode = journal_mode_for(r->dir);
	_cleanup_free_ char *tasks = path_join(r->dir, "tasks");
	_cleanup_free_ char *dpath = path_join(r->dir, "descriptor.json");
	_cleanup_free_ char *db = path_join(r->dir, "batch.db");
	_cleanup_free_ char *dtext = json_dumps(desc, JSON_INDENT(2));
	_cleanup_free_ char *otext = json_dumps(r->opts, JSON_COMPACT);
	char n[32];
	snprintf(n, sizeof n, "%ld", r->ntasks);
	if (mkdir(tasks, 0755) < 0 ? ferr_set(err, errno, "%s", tasks)
	    : json_write_atomic(dpath, desc, 2, err) < 0 || journal_create(db, r->mode, &r->db, err) < 0 ||
			    journal_meta_set(r->db, "journal_mode", r->mode, err) < 0 ||
			    journal_meta_set(r->db, "descriptor", dtext, err) < 0 ||
			    journal_meta_set(r->db, "descriptor_arg", r->desc_arg, err) < 0 ||
			    journal_meta_set(r->db, "options", otext, err) < 0 ||
			    journal_meta_set(r->db, "submitted_from", cwd, err) < 0 ||
			    journal_meta_set(r->db, "ntasks", n, err) < 0 || insert_tasks(r, in, cwd, err) < 0) {
		struct ferr e2 = FERR_INIT;
		if (r->db)
			sqlite3_close(r->db);
		r->db = NULL;
		fs_rm_rf(r->dir, &e2); /* nothing half-created */
		run_free(r);
		return ferr_wrap(err, "creating run %s", run_dir);
	}
	*out = r;
	return 0;
}

int batch_open(const char *run_dir, struct batch_run **out, struct ferr *err)
{
	*out = NULL;
	_cleanup_free_ char *db = path_join(run_dir, "batch.db");
	if (!fs_exists(db))
		return ferr_setc(err, FERR_NOTFOUND, 0, "%s is no ferry batch run (no batch.db there)", run_dir);
	struct batch_run *r = xcalloc(1, sizeof *r);
	r->driver_lock = -1;
	r->dir = realpath(run_dir, NULL);
	if (!r->dir)
		r->dir = xstrdup(run_dir);
	if (journal_open(db, &r->db, &r->mode, err) < 0) {
		run_free(r);
		return -1;
	}
	_cleanup_free_ char *d = journal_meta_get(r->db, "descriptor");
	_cleanup_free_ char *o = journal_meta_get(r->db, "options");
	_cleanup_free_ char *n = journal_meta_get(r->db, "ntasks");
	r->desc_arg = journal_meta_get(r->db, "descriptor_arg");
	r->desc = d ? app_json_parse(d, strlen(d), "descriptor", err) : NULL;
	r->opts = o ? json_loads(o, 0, NULL) : NULL;
	if (!r->desc || !r->opts || !n) {
		if (!err->msg[0])
			ferr_setc(err, FERR_INVALID, 0, "journal %s: descriptor or options missing", db);
		run_free(r);
		return -1;
	}
	r->ntasks = strtol(n, NULL, 10);
	r->backend = batch_backend_parse(json_get_str(r->opts, "backend")) == BATCH_SLURM ? BATCH_SLURM : BATCH_LOCAL;
	*out = r;
	return 0;
}

const char *batch_run_dir(const struct batch_run *r)
{
	return r->dir;
}
enum batch_backend batch_run_backend(const struct batch_run *r)
{
	return r->backend;
}
long batch_task_count(const struct batch_run *r)
{
	return r->ntasks;
}
const json_t *batch_run_descriptor(const struct batch_run *r)
{
	return r->desc;
}
const char *batch_journal_mode(const struct batch_run *r)
{
	return r->mode;
}

char *batch_task_dir(const struct batch_run *r, long index)
{
	return xasprintf("%s/tasks/%ld", r->dir, index);
}

/* ---- the driver ---- */

bool batch_driver_alive(struct batch_run *r, pid_t *pid)
{
	_cleanup_free_ char *p = path_join(r->dir, "driver.lock");
	_cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0)
		return false;
	if (pid) {
		char buf[32] = "";
		ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
		*pid = n > 0 ? (pid_t)strtol(buf, NULL, 10) : 0;
	}
	return true;
}

static int take_driver_lock(struct batch_run *r, struct ferr *err)
{
	_cleanup_free_ char *p = path_join(r->dir, "driver.lock");
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return ferr_set(err, errno, "%s", p);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char buf[32] = "";
		ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
		close(fd);
		return ferr_set(err, 0, "run %s is being driven by pid %s", r->dir, n > 0 ? buf : "?"),
		       ferr_hint(err, "'ferry batch wait %s' follows it", r->dir);
	}
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		close(fd);
		return ferr_set(err, errno, "%s", p);
	}
	r->driver_lock = fd;
	return 0;
}

void batch_emit_progress(struct batch_run *r, const struct batch_drive_opts *d, bool force)
{
	if (!d || !d->progress)
		return;
	/* counting reads the journal: at most 5 times a second */
	static double last;
	double now = batch_now();
	if (!force && now - last < 0.2)
		return;
	last = now;
	struct batch_counts c;
	struct ferr e = FERR_INIT;
	if (batch_counts(r, &c, &e) < 0)
		return;
	struct batch_progress p = { c.total,
				    c.n[BATCH_SUCCEEDED] + c.n[BATCH_FAILED] + c.n[BATCH_CANCELLED],
				    c.n[BATCH_SUCCEEDED],
				    c.n[BATCH_FAILED],
				    c.n[BATCH_CANCELLED],
				    c.n[BATCH_RUNNING] };
	d->progress(&p, d->ud);
}

static int stage_image(struct batch_run *r, struct ferr *err)
{
	if (json_is_true(json_object_get(r->opts, "no-container")) ||
	    !json_object_get(r->desc, "container-image"))
		return 0;
	_cleanup_free_ char *digest = NULL, *loc = NULL;
	if (app_stage_image(r->desc, json_is_true(json_object_get(r->opts, "insecure")), &digest, &loc, err) < 0)
		return ferr_wrap(err, "staging the image");
	return journal_meta_set(r->db, "image_digest", digest ? digest : "", err);
}

int batch_drive(struct batch_run *r, const struct batch_drive_opts *d, struct ferr *err)
{
	struct batch_drive_opts none = { 0 };
	if (!d)
		d = &none;
	if (take_driver_lock(r, err) < 0)
		return -1;
	if (r->backend == BATCH_SLURM && slurm_check(r, err) < 0)
		return -1;
	if (stage_image(r, err) < 0)
		return -1;
	int rc = r->backend == BATCH_SLURM ? slurm_drive(r, d, err) : local_drive(r, d, err);
	close(r->driver_lock);
	r->driver_lock = -1;
	return rc;
}

int batch_spawn_driver(const char *run_dir, const char *ferry_exe, pid_t *pid, struct ferr *err)
{
	_cleanup_free_ char *exe = ferry_exe ? xstrdup(ferry_exe) : realpath("/proc/self/exe", NULL);
	if (!exe)
		return ferr_set(err, errno, "/proc/self/exe");
	_cleanup_free_ char *log = path_join(run_dir, "driver.log");
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawnattr_init(&at);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	sigset_t def;
	sigemptyset(&def);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGCHLD);
	sigaddset(&def, SIGPIPE);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	char *argv[] = { "ferry", "batch", "resume", "--quiet", "--wait", (char *)run_dir, NULL };
	int e = posix_spawn(pid, exe, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (e)
		return ferr_set(err, e, "starting the driver of %s (%s)", run_dir, exe);
	return 0;
}

int batch_cancel(struct batch_run *r, struct ferr *err)
{
	pid_t pid = 0;
	if (batch_driver_alive(r, &pid) && pid > 0 && pid != getpid())
		kill(pid, SIGTERM);
	if (r->backend != BATCH_SLURM)
		/* what no one runs is cancelled now; running local tasks are
		 * the driver's to stop and record */
		return journal_exec(r->db,
				    "UPDATE tasks SET state = 'cancelled', reason = 'cancelled (ferry batch cancel)' "
				    "WHERE state IN ('pending', 'queued')",
				    err);
	char since[64];
	snprintf(since, sizeof since, "%.3f", batch_now());
	if (slurm_cancel(r, err) < 0)
		return -1;
	/* and on Slurm whatever scancel stopped, including the tasks whose
	 * run-task recorded their tool's SIGTERM as "exit code 143" before
	 * this line */
	_cleanup_free_ char *sql = xasprintf(
		"UPDATE tasks SET state = 'cancelled', reason = 'cancelled (ferry batch cancel)', "
		"end = coalesce(end, strftime('%%s','now')) "
		"WHERE state IN ('pending', 'queued', 'running') OR (%s AND end >= %s)",
		KILLED_ROW, since);
	return journal_exec(r->db, sql, err);
}
