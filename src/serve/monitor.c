/* The execution monitor: follows every execution not yet collected, every
 * 300 ms. It enforces timeouts, resumes a run whose driver died, and when a
 * run ends moves the task's outputs into the caller's tree and records
 * returnedFiles. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/inroot.h"
#include "base/json.h"
#include "base/path.h"
#include "batch/batch.h"
#include "serve/internal.h"

struct execs {
	pthread_t mon;
	bool running;
	volatile int stop;
};

/* ---- the monitor ---- */

/* Move the task's outputs into <results>/<id>/ beneath the user's tree;
 * returnedFiles {output-id: [platform path]}. */
static json_t *collect(struct srv *s, const char *user, const char *id, const char *results, bool vip,
		       struct batch_run *run)
{
	json_t *rf = json_object();
	struct ferr err = FERR_INIT;
	_cleanup_json_ json_t *outs = batch_task_outputs(run, 0, &err);
	_cleanup_free_ char *tdir = batch_task_dir(run, 0);
	_cleanup_close_ int root = user_tree_fd(s, user, &err);
	if (root < 0)
		return rf;
	_cleanup_free_ char *dest_rel = *results ? xasprintf("%s/%s", results, id) : xstrdup(id);
	_cleanup_close_ int dest = inroot_mkdir_p(root, dest_rel, 0755, &err);
	if (dest < 0)
		return rf;
	const char *k;
	json_t *v;
	json_object_foreach(outs, k, v)
	{
		json_t *list = json_array();
		json_t *paths = json_is_array(v) ? v : NULL;
		size_t n = paths ? json_array_size(paths) : 1;
		for (size_t i = 0; i < n; i++) {
			const char *hp = json_string_value(paths ? json_array_get(paths, i) : v);
			if (!hp || !path_is_inside(tdir, hp))
				continue; /* only what the task wrote in its own directory */
			_cleanup_free_ char *norm_t = path_normalize(tdir), *norm_h = path_normalize(hp);
			const char *sub = norm_h + strlen(norm_t);
			while (*sub == '/')
				sub++;
			if (!*sub)
				continue;
			_cleanup_free_ char *parent = path_dirname(sub), *leaf = path_basename(sub);
			int pd = strcmp(parent, ".") ? inroot_mkdir_p(dest, parent, 0755, &err) : dup(dest);
			if (pd < 0)
				continue;
			/* rename, not copy: the same file system; a symlink the tool
			 * left is moved as a symlink and the path API never follows
			 * it out of the tree */
			int rr = renameat(AT_FDCWD, norm_h, pd, leaf);
			close(pd);
			if (rr < 0)
				continue;
			_cleanup_free_ char *rel = xasprintf("%s/%s", dest_rel, sub);
			_cleanup_free_ char *pp = rel_to_platform(user, rel, vip);
			json_array_append_new(list, json_string(pp));
		}
		json_object_set_new(rf, k, list);
	}
	return rf;
}

static void monitor_one(struct srv *s, sqlite3 *db, sqlite3_stmt *row)
{
	const char *id = exec_col(row, 0), *user = exec_col(row, 1), *results = exec_col(row, 2);
	long long timeout = sqlite3_column_int64(row, 3), started = sqlite3_column_int64(row, 4);
	bool vip = sqlite3_column_int64(row, 5) != 0;
	const char *status = exec_col(row, 6);
	_cleanup_free_ char *rd = exec_run_dir(s, id);
	struct batch_run *run = NULL;
	struct ferr err = FERR_INIT;
	if (batch_open(rd, &run, &err) < 0) {
		exec_set_status(db, id, "Unknown", SC_INTERNAL);
		return;
	}
	struct batch_task t = { 0 };
	if (batch_task_get(run, 0, &t, &err) < 0) {
		batch_close(run);
		return;
	}
	const char *now_status = exec_status_of(t.state);
	long long now = (long long)time(NULL);
	bool killed = !strcmp(status, "Killed"); /* by kill, delete or its timeout: only collect */
	if (killed) {
		if (!exec_is_terminal(now_status) && batch_driver_alive(run, NULL))
			goto out;
		now_status = "Killed";
	} else if (t.start > 0 && !started) {
		sqlite3_stmt *st = exec_prep(db, "UPDATE executions SET started = ?, status = ? WHERE id = ?");
		sqlite3_bind_int64(st, 1, (sqlite3_int64)t.start);
		sqlite3_bind_text(st, 2, exec_is_terminal(now_status) ? "Running" : now_status, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, id, -1, SQLITE_TRANSIENT);
		sqlite3_step(st);
		sqlite3_finalize(st);
		started = (long long)t.start;
	} else if (!exec_is_terminal(now_status) && strcmp(now_status, status)) {
		sqlite3_stmt *st = exec_prep(db, "UPDATE executions SET status = ? WHERE id = ?");
		sqlite3_bind_text(st, 1, now_status, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	if (killed) {
		/* fall through to the collection */
	} else if (!exec_is_terminal(now_status) && timeout > 0 && now - (started ? started : now) >= timeout) {
		batch_cancel(run, &err);
		exec_set_status(db, id, "Killed", SC_TIMEOUT_KILL);
		now_status = "Killed";
	} else if (!exec_is_terminal(now_status) && now - sqlite3_column_int64(row, 7) > 10 &&
		   !batch_driver_alive(run, NULL)) {
		/* its driver is gone (the machine rebooted, it was killed):
		 * start another, which runs the task again (not in its first
		 * seconds: the driver spawned at creation takes its lock then) */
		pid_t pid;
		batch_spawn_driver(rd, NULL, &pid, &err);
	}
	if (exec_is_terminal(now_status) && !batch_driver_alive(run, NULL)) {
		json_t *rf = collect(s, user, id, results, vip, run);
		char *rfs = json_dumps(rf, JSON_COMPACT);
		json_decref(rf);
		sqlite3_stmt *st = exec_prep(db, "UPDATE executions SET status = ?, returned = ?, error_code = CASE WHEN"
					    " error_code = 0 THEN ? ELSE error_code END, ended = ?,"
					    " started = CASE WHEN started = 0 THEN ? ELSE started END WHERE id = ?");
		sqlite3_bind_text(st, 1, !strcmp(status, "Killed") ? "Killed" : now_status, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, rfs, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, t.state == BATCH_FAILED && t.exit_code > 0 ? t.exit_code : 0);
		sqlite3_bind_int64(st, 4, t.end > 0 ? (sqlite3_int64)t.end : now);
		sqlite3_bind_int64(st, 5, t.start > 0 ? (sqlite3_int64)t.start : now);
		sqlite3_bind_text(st, 6, id, -1, SQLITE_TRANSIENT);
		sqlite3_step(st);
		sqlite3_finalize(st);
		free(rfs);
	}
out:
	batch_task_clear(&t);
	batch_close(run);
}

static void *monitor(void *arg)
{
	struct srv *s = arg;
	struct ferr err = FERR_INIT;
	sqlite3 *db = NULL;
	if (db_open(s->dbpath, &db, &err) < 0)
		return NULL;
	while (!s->ex->stop) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			; /* the drivers started here */
		/* executions not yet collected: non-terminal, or Killed/ended
		 * without returnedFiles */
		sqlite3_stmt *st = exec_prep(db, "SELECT id, user, results, timeout, started, vip, status, submitted FROM executions"
					    " WHERE returned IS NULL AND status != 'InitializationFailed'");
		while (st && sqlite3_step(st) == SQLITE_ROW && !s->ex->stop)
			monitor_one(s, db, st);
		sqlite3_finalize(st);
		struct timespec ts = { 0, 300 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	sqlite3_close(db);
	return NULL;
}

int execs_start(struct srv *s, struct ferr *err)
{
	s->ex = xcalloc(1, sizeof *s->ex);
	int e = pthread_create(&s->ex->mon, NULL, monitor, s);
	if (e)
		return ferr_set(err, e, "cannot start the execution monitor");
	s->ex->running = true;
	return 0;
}

void execs_stop(struct srv *s)
{
	if (!s->ex)
		return;
	s->ex->stop = 1;
	if (s->ex->running)
		pthread_join(s->ex->mon, NULL);
	free(s->ex);
	s->ex = NULL;
}
