/* One task: the same launch as `ferry app launch` (app_launch_plan, run,
 * record), in RUN/tasks/<n>/, with the image already staged (no pull), its
 * stdout and stderr in files there, and its provenance record beside them.
 * While it runs, the process holds a lock (flock) on RUN/tasks/<n>/: a driver
 * that finds a row "running" with the lock free knows its process is gone,
 * and one that finds the lock held knows it still runs (its driver was
 * killed, the task was not) and waits for it instead of starting it twice. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/path.h"
#include "base/str.h"
#include "batch/internal.h"

int task_lock(const struct batch_run *r, long index, bool wait)
{
	char p[4096];
	/* the directory itself: no lock file to create (an inode per task) */
	snprintf(p, sizeof p, "%s/tasks/%ld", r->dir, index);
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

bool task_locked(const struct batch_run *r, long index)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/tasks/%ld", r->dir, index);
	_cleanup_close_ int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return false;
	return flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

static int mark_running(struct batch_run *r, long index, struct ferr *err)
{
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(r->db,
			       "UPDATE tasks SET state = 'running', attempt = attempt + 1, start = ?, end = NULL, "
			       "exit_code = NULL, host = ?, pid = ?, reason = NULL, outputs = NULL "
			       "WHERE id = ? AND state NOT IN ('succeeded', 'cancelled')",
			       -1, &s, NULL) != SQLITE_OK)
		return journal_err(r->db, err, "update");
	sqlite3_bind_double(s, 1, batch_now());
	sqlite3_bind_text(s, 2, host, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, getpid());
	sqlite3_bind_int64(s, 4, index);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return journal_err(r->db, err, "update");
	/* 1: cancelled (or done) meanwhile, by `batch cancel`: not started */
	return sqlite3_changes(r->db) ? 0 : 1;
}

static int mark_end(struct batch_run *r, long index, enum batch_state st, int code, const char *reason,
		    const json_t *outputs, struct ferr *err)
{
	sqlite3_stmt *s = NULL;
	/* only a running row: a task cancelled meanwhile (`batch cancel`)
	 * stays cancelled */
	if (sqlite3_prepare_v2(r->db, "UPDATE tasks SET state = ?, exit_code = ?, end = ?, reason = ?, outputs = ? "
				      "WHERE id = ? AND state = 'running'",
			       -1, &s, NULL) != SQLITE_OK)
		return journal_err(r->db, err, "update");
	_cleanup_free_ char *out = outputs ? json_dumps(outputs, JSON_COMPACT) : NULL;
	sqlite3_bind_text(s, 1, batch_state_name(st), -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, code);
	sqlite3_bind_double(s, 3, batch_now());
	if (reason)
		sqlite3_bind_text(s, 4, reason, -1, SQLITE_STATIC);
	if (out)
		sqlite3_bind_text(s, 5, out, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, index);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : journal_err(r->db, err, "update");
}

static bool no_retry(const json_t *opts, int code)
{
	const json_t *nr = json_object_get(opts, "no-retry-codes");
	for (size_t i = 0; i < json_array_size(nr); i++)
		if (json_integer_value(json_array_get(nr, i)) == code)
			return true;
	return false;
}

/* Output paths as absolute paths (the tool ran in the task's directory). */
static json_t *abs_outputs(const json_t *found, const char *dir)
{
	json_t *o = json_object();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)found, k, v) {
		const char *p = json_string_value(v);
		if (!p)
			continue;
		_cleanup_free_ char *j = p[0] == '/' ? xstrdup(p) : path_join(dir, p);
		json_object_set_new(o, k, json_string(j));
	}
	return o;
}

/* One attempt, in dir (already the working directory, stdout and stderr
 * already its files). *code: the tool's status, 125 when ferry failed. */
static enum batch_state attempt(struct batch_run *r, long index, const json_t *inv, const char *dir, int *code,
				char **reason, json_t **outputs)
{
	struct ferr e = FERR_INIT;
	const json_t *o = r->opts;
	const json_t *jb = json_object_get(o, "binds");
	size_t nb = json_array_size(jb);
	struct app_bind *binds = nb ? xcalloc(nb, sizeof *binds) : NULL;
	for (size_t i = 0; i < nb; i++) {
		const json_t *b = json_array_get(jb, i);
		binds[i] = (struct app_bind){ (char *)json_get_str(b, "host"), (char *)json_get_str(b, "cont"),
					      json_is_true(json_object_get(b, "ro")) };
	}
	_cleanup_json_ json_t *prov = json_pack("{s:{s:s,s:I}}", "ferry-batch", "run", r->dir, "task", (json_int_t)index);
	struct app_launch_opts lo = { 0 };
	lo.desc_arg = r->desc_arg;
	lo.binds = binds;
	lo.nbinds = nb;
	lo.no_container = json_is_true(json_object_get(o, "no-container"));
	lo.no_pull = true; /* staged once by the driver: tasks never contact a registry */
	lo.insecure = json_is_true(json_object_get(o, "insecure"));
	lo.provenance = prov;
	lo.quiet = true;
	lo.record_dir = dir;
	struct app_plan pl;
	struct app_result res;
	memset(&res, 0, sizeof res);
	enum batch_state st = BATCH_FAILED;
	*code = 125;
	if (app_launch_plan(r->desc, inv, &lo, &pl, &e) < 0) {
		*reason = xstrdup(e.msg);
		free(binds);
		return st;
	}
	if (app_launch_run(&pl, &res, &e) < 0) {
		*reason = xstrdup(e.msg);
	} else {
		struct ferr we = FERR_INIT;
		if (app_launch_record(&pl, &res, &we) < 0)
			fprintf(stderr, "ferry: %s\n", we.msg);
		*code = res.exit_code;
		*outputs = abs_outputs(res.found_map, dir);
		if (res.exit_code != 0) {
			*reason = xasprintf("exit code %d%s%s", res.exit_code, *res.error_message ? ": " : "",
					    res.error_message);
		} else if (json_array_size(res.missing)) {
			*reason = xasprintf("required output missing: %s",
					    json_string_value(json_array_get(res.missing, 0)));
		} else
			st = BATCH_SUCCEEDED;
	}
	app_result_free(&res);
	app_plan_free(&pl);
	free(binds);
	return st;
}

static int redirect(const char *dir, const char *name, int target)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int r = dup2(fd, target);
	close(fd);
	return r < 0 ? -1 : 0;
}

/* invocation.json, written in place every time: a worker killed while
 * writing it left its task to run again, and the next one writes it
 * again. */
static int write_invocation(const char *ipath, const json_t *inv, struct ferr *err)
{
	_cleanup_free_ char *text = json_dumps(inv, JSON_INDENT(2));
	_cleanup_close_ int fd = open(ipath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || !text || fs_write_all(fd, text, strlen(text)) < 0)
		return ferr_set(err, errno, "%s", ipath);
	return 0;
}

/* The attempts of one task, in its directory. With `journal`, each
 * attempt's start and end go to the journal (run-task, Slurm); without,
 * the caller reports the result (a local worker: result.json, which its
 * driver records; a forked worker must not use SQLite, whose state it
 * inherited from the driver). */
static int task_exec(struct batch_run *r, long index, bool journal, struct task_result *res, struct ferr *err)
{
	memset(res, 0, sizeof *res);
	res->st = BATCH_FAILED;
	res->code = 125;
	_cleanup_free_ char *dir = batch_task_dir(r, index);
	_cleanup_json_ json_t *inv = NULL;
	if (journal) {
		inv = batch_task_invocation(r, index, err);
		if (!inv)
			return -1;
	} else if (r->prepared && r->prepared_index == index) {
		inv = json_incref(r->prepared); /* what the driver wrote, before it forked us */
	} else {
		_cleanup_free_ char *ip = path_join(dir, "invocation.json");
		inv = json_load_path(ip, err);
		if (!inv)
			return -1;
	}
	_cleanup_free_ char *ipath = path_join(dir, "invocation.json");
	/* in place, no fsync (the journal holds the invocation): a temporary
	 * file, two fsyncs and a rename per task cost more than the task */
	if (write_invocation(ipath, inv, err) < 0)
		return -1;
	int out = dup(1), errfd = dup(2);
	_cleanup_close_ int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (out < 0 || errfd < 0 || chdir(dir) < 0) {
		ferr_set(err, errno, "task directory %s", dir);
		if (out >= 0)
			close(out);
		if (errfd >= 0)
			close(errfd);
		return -1;
	}
	long retries = (long)json_integer_value(json_object_get(r->opts, "retries"));
	int rc = 0;
	res->start = batch_now();
	for (long a = 0;; a++) {
		fflush(stdout);
		fflush(stderr);
		if (redirect(dir, "stdout", 1) < 0 || redirect(dir, "stderr", 2) < 0) {
			rc = ferr_set(err, errno, "task %ld: output files in %s", index, dir);
			break;
		}
		int m = journal ? mark_running(r, index, err) : 0;
		if (m != 0) {
			rc = m < 0 ? -1 : 0;
			if (m > 0 && !res->attempts)
				res->st = BATCH_CANCELLED;
			break;
		}
		free(res->reason);
		json_decref(res->outputs);
		res->reason = NULL;
		res->outputs = NULL;
		res->st = attempt(r, index, inv, dir, &res->code, &res->reason, &res->outputs);
		res->attempts++;
		res->end = batch_now();
		fflush(stdout);
		fflush(stderr);
		if (journal && mark_end(r, index, res->st, res->code, res->reason, res->outputs, err) < 0) {
			rc = -1;
			break;
		}
		if (res->st == BATCH_SUCCEEDED || a >= retries || no_retry(r->opts, res->code))
			break;
	}
	dup2(out, 1);
	dup2(errfd, 2);
	close(out);
	close(errfd);
	if (cwd >= 0 && fchdir(cwd) < 0)
		return ferr_set(err, errno, "back to the working directory");
	return rc;
}

void task_result_clear(struct task_result *res)
{
	free(res->reason);
	json_decref(res->outputs);
	memset(res, 0, sizeof *res);
}

int batch_run_task(struct batch_run *r, long index, struct ferr *err)
{
	if (index < 0 || index >= r->ntasks)
		return ferr_setc(err, FERR_USAGE, 0, "run %s has no task %ld (tasks 0 to %ld)", r->dir, index,
				 r->ntasks - 1);
	_cleanup_free_ char *dir = batch_task_dir(r, index);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return ferr_set(err, errno, "task directory %s", dir);
	_cleanup_close_ int lock = task_lock(r, index, false);
	if (lock < 0)
		return ferr_set(err, 0, "task %ld of %s is running already", index, r->dir);
	struct batch_task t;
	if (batch_task_get(r, index, &t, err) < 0)
		return -1;
	bool done = t.state == BATCH_SUCCEEDED;
	batch_task_clear(&t);
	if (done)
		return 0; /* never twice */
	struct task_result res;
	int rc = task_exec(r, index, true, &res, err);
	task_result_clear(&res);
	return rc;
}

/* A result as one line of JSON (what a worker sends its driver, and what
 * result.json holds). malloc'd, or NULL. */
static char *result_text(const struct task_result *res)
{
	_cleanup_json_ json_t *j = json_pack("{s:s,s:i,s:s?,s:O?,s:i,s:f,s:f}", "state", batch_state_name(res->st),
					     "exit-code", res->code, "reason", res->reason, "outputs", res->outputs,
					     "attempts", res->attempts, "start", res->start, "end", res->end);
	return j ? json_dumps(j, JSON_COMPACT) : NULL;
}

int task_result_parse(const char *text, size_t len, struct task_result *res)
{
	struct ferr e = FERR_INIT;
	_cleanup_json_ json_t *j = json_load_buf(text, len, "result", &e);
	if (!j || !json_is_object(j) || !json_get_str(j, "state"))
		return -1;
	memset(res, 0, sizeof *res);
	int st = batch_state_parse(json_get_str(j, "state"));
	res->st = st < 0 ? BATCH_FAILED : (enum batch_state)st;
	res->code = (int)json_integer_value(json_object_get(j, "exit-code"));
	res->reason = json_get_str(j, "reason") ? xstrdup(json_get_str(j, "reason")) : NULL;
	res->outputs = json_incref(json_object_get(j, "outputs"));
	res->attempts = (int)json_integer_value(json_object_get(j, "attempts"));
	res->start = json_real_value(json_object_get(j, "start"));
	res->end = json_real_value(json_object_get(j, "end"));
	return 0;
}

/* result.json: written by a local worker whose driver is gone (temporary
 * file and rename: a reader sees all of it or nothing; no fsync, a machine
 * crash at worst runs the task again). */
int task_result_write(const struct batch_run *r, long index, const struct task_result *res)
{
	char p[4096], tmp[4200];
	snprintf(p, sizeof p, "%s/tasks/%ld/result.json", r->dir, index);
	snprintf(tmp, sizeof tmp, "%s.tmp", p);
	_cleanup_free_ char *text = result_text(res);
	if (!text)
		return -1;
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || fs_write_all(fd, text, strlen(text)) < 0)
		return -1;
	return rename(tmp, p);
}

/* A result from fd, read to its end (a pipe's EOF, a file's end). */
int task_result_read_fd(int fd, struct task_result *res)
{
	size_t cap = 4096, n = 0;
	_cleanup_free_ char *buf = xmalloc(cap);
	for (;;) {
		if (n == cap)
			buf = xrealloc(buf, cap *= 2);
		ssize_t k = read(fd, buf + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	return n ? task_result_parse(buf, n, res) : -1;
}

int task_result_read(const struct batch_run *r, long index, struct task_result *res)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/tasks/%ld/result.json", r->dir, index);
	_cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -1 : task_result_read_fd(fd, res);
}

void task_result_unlink(const struct batch_run *r, long index)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/tasks/%ld/result.json", r->dir, index);
	unlink(p);
}

/* A worker's pipe, closed on exec (the tool never sees it). */
int task_pipe(int fd[2])
{
	return pipe2(fd, O_CLOEXEC);
}

/* The body of a local worker (a fork of the driver): the task, its result
 * handed to `deliver` (local.c: sent to the driver, which records it in
 * the journal and acknowledges); only when that fails (the driver was
 * killed) is the result left in result.json, for the next driver. No
 * journal access. Returns the process's exit status. */
int task_worker(struct batch_run *r, long index, bool (*deliver)(const char *text, void *ud), void *ud)
{
	struct ferr e = FERR_INIT;
	_cleanup_close_ int lock = task_lock(r, index, false);
	if (lock < 0) {
		fprintf(stderr, "ferry: batch: task %ld of %s is running already\n", index, r->dir);
		return 1;
	}
	struct task_result res;
	int rc = task_exec(r, index, false, &res, &e);
	if (rc < 0) {
		free(res.reason);
		res.reason = xstrdup(e.msg);
		res.st = BATCH_FAILED;
		res.code = 125;
	}
	_cleanup_free_ char *text = result_text(&res);
	int w = 0;
	if (!text || !deliver || !deliver(text, ud))
		w = task_result_write(r, index, &res);
	task_result_clear(&res);
	return w < 0 ? 1 : 0;
}

/* Record what result.json says (a worker's end) in the journal. */
int task_result_record(struct batch_run *r, long index, const struct task_result *res, struct ferr *err)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(r->db,
			       "UPDATE tasks SET state = ?, exit_code = ?, start = ?, end = ?, reason = ?, outputs = ?, "
			       "attempt = max(attempt, 1) - 1 + ? WHERE id = ?",
			       -1, &s, NULL) != SQLITE_OK)
		return journal_err(r->db, err, "update");
	_cleanup_free_ char *out = res->outputs ? json_dumps(res->outputs, JSON_COMPACT) : NULL;
	sqlite3_bind_text(s, 1, batch_state_name(res->st), -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, res->code);
	sqlite3_bind_double(s, 3, res->start);
	sqlite3_bind_double(s, 4, res->end);
	if (res->reason)
		sqlite3_bind_text(s, 5, res->reason, -1, SQLITE_STATIC);
	if (out)
		sqlite3_bind_text(s, 6, out, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 7, res->attempts > 0 ? res->attempts : 1);
	sqlite3_bind_int64(s, 8, index);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : journal_err(r->db, err, "update");
}

/* Before a local worker starts: the row running, the directory, no stale
 * result.json; the invocation in memory, for the worker, which writes
 * invocation.json (in parallel with the other workers, not on the
 * driver's serial path). */
int task_prepare(struct batch_run *r, long index, struct ferr *err)
{
	_cleanup_free_ char *dir = batch_task_dir(r, index);
	if (mkdir(dir, 0755) < 0) {
		if (errno != EEXIST)
			return ferr_set(err, errno, "task directory %s", dir);
		task_result_unlink(r, index); /* a new directory has none */
	}
	json_t *inv = batch_task_invocation(r, index, err);
	if (!inv)
		return -1;
	json_decref(r->prepared);
	r->prepared = inv;
	r->prepared_index = index;
	return mark_running(r, index, err);
}
