/* Reading a run: tasks, counts and durations straight from the journal
 * (indexed by state, so `status` on 100,000 tasks reads counts, not rows). */
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/num.h"
#include "base/str.h"
#include "batch/internal.h"

void batch_task_clear(struct batch_task *t)
{
	free(t->host);
	free(t->slurm_job);
	free(t->reason);
	free(t->source);
	memset(t, 0, sizeof *t);
}

static char *col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? xstrdup((const char *)t) : NULL;
}

#define TASK_COLS "id, state, attempt, exit_code, start, end, host, slurm_job, slurm_index, reason, source"

static void row_task(sqlite3_stmt *s, struct batch_task *t)
{
	memset(t, 0, sizeof *t);
	t->index = (long)sqlite3_column_int64(s, 0);
	int st = batch_state_parse((const char *)sqlite3_column_text(s, 1));
	t->state = st < 0 ? BATCH_PENDING : (enum batch_state)st;
	t->attempt = sqlite3_column_int(s, 2);
	t->exit_code = sqlite3_column_type(s, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 3);
	t->start = sqlite3_column_double(s, 4);
	t->end = sqlite3_column_double(s, 5);
	t->host = col_text(s, 6);
	t->slurm_job = col_text(s, 7);
	t->slurm_index = sqlite3_column_type(s, 8) == SQLITE_NULL ? -1 : (long)sqlite3_column_int64(s, 8);
	t->reason = col_text(s, 9);
	t->source = col_text(s, 10);
}

int batch_task_get(struct batch_run *r, long index, struct batch_task *t, struct ferr *err)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(r->db, "SELECT " TASK_COLS " FROM tasks WHERE id = ?", -1, &s, NULL) != SQLITE_OK)
		return journal_err(r->db, err, "read");
	sqlite3_bind_int64(s, 1, index);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		row_task(s, t);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return ferr_setc(err, FERR_NOTFOUND, 0, "run %s has no task %ld (tasks 0 to %ld)", r->dir, index,
				 r->ntasks - 1);
	return 0;
}

int batch_task_foreach(struct batch_run *r, int state, int (*cb)(const struct batch_task *t, void *ud), void *ud,
		       struct ferr *err)
{
	sqlite3_stmt *s = NULL;
	const char *sql = state < 0 ? "SELECT " TASK_COLS " FROM tasks ORDER BY id"
				    : "SELECT " TASK_COLS " FROM tasks WHERE state = ? ORDER BY id";
	if (sqlite3_prepare_v2(r->db, sql, -1, &s, NULL) != SQLITE_OK)
		return journal_err(r->db, err, "read");
	if (state >= 0)
		sqlite3_bind_text(s, 1, batch_state_name((enum batch_state)state), -1, SQLITE_STATIC);
	int rc = 0, step;
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		struct batch_task t;
		row_task(s, &t);
		rc = cb(&t, ud);
		batch_task_clear(&t);
		if (rc)
			break;
	}
	if (!rc && step != SQLITE_DONE)
		rc = journal_err(r->db, err, "read");
	sqlite3_finalize(s);
	return rc;
}

static json_t *task_json_col(struct batch_run *r, long index, const char *col, struct ferr *err)
{
	char sql[96];
	snprintf(sql, sizeof sql, "SELECT %s FROM tasks WHERE id = ?", col);
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(r->db, sql, -1, &s, NULL) != SQLITE_OK) {
		journal_err(r->db, err, "read");
		return NULL;
	}
	sqlite3_bind_int64(s, 1, index);
	json_t *j = NULL;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s, 0);
		j = t ? app_json_parse(t, strlen(t), col, err) : json_object();
	} else
		ferr_setc(err, FERR_NOTFOUND, 0, "run %s has no task %ld", r->dir, index);
	sqlite3_finalize(s);
	return j;
}

json_t *batch_task_invocation(struct batch_run *r, long index, struct ferr *err)
{
	return task_json_col(r, index, "invocation", err);
}

json_t *batch_task_outputs(struct batch_run *r, long index, struct ferr *err)
{
	return task_json_col(r, index, "outputs", err);
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int batch_counts(struct batch_run *r, struct batch_counts *c, struct ferr *err)
{
	memset(c, 0, sizeof *c);
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(r->db, "SELECT state, count(*) FROM tasks GROUP BY state", -1, &s, NULL) != SQLITE_OK)
		return journal_err(r->db, err, "read");
	while (sqlite3_step(s) == SQLITE_ROW) {
		int st = batch_state_parse((const char *)sqlite3_column_text(s, 0));
		long n = (long)sqlite3_column_int64(s, 1);
		if (st >= 0)
			c->n[st] += n;
		c->total += n;
	}
	sqlite3_finalize(s);
	/* durations: the finished tasks' end - start, sorted in memory (8
	 * bytes a task: 800 kB for 100,000) */
	if (sqlite3_prepare_v2(r->db,
			       /* most rows match: a plain scan beats the state index's
				* lookups (2x on 100,000 tasks) */
			       "SELECT end - start FROM tasks NOT INDEXED WHERE state IN ('succeeded', 'failed') AND "
			       "end > 0 AND start > 0",
			       -1, &s, NULL) != SQLITE_OK)
		return journal_err(r->db, err, "read");
	size_t n = 0, cap = 0;
	double *d = NULL;
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			d = xrealloc(d, cap * sizeof *d);
		}
		d[n++] = sqlite3_column_double(s, 0);
	}
	sqlite3_finalize(s);
	if (n) {
		qsort(d, n, sizeof *d, dcmp);
		c->median_s = n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2;
		size_t k = (size_t)num_ceil(0.95 * (double)n);
		c->p95_s = d[k ? k - 1 : 0];
	}
	free(d);
	return 0;
}

struct failed_ctx {
	struct batch_run *r;
	json_t *list;
	size_t max, n;
};

static int add_failed(const struct batch_task *t, void *ud)
{
	struct failed_ctx *f = ud;
	f->n++;
	if (f->max && json_array_size(f->list) >= f->max)
		return 1; /* enough: the total comes from the counts */
	json_t *j = json_pack("{s:I,s:i,s:s?,s:s?,s:s?,s:i}", "task", (json_int_t)t->index, "exit-code", t->exit_code,
			      "error", app_error_description(f->r->desc, t->exit_code), "reason", t->reason, "source",
			      t->source, "attempts", t->attempt);
	json_array_append_new(f->list, j);
	return 0;
}

json_t *batch_status_json(struct batch_run *r, size_t max_failed, struct ferr *err)
{
	struct batch_counts c;
	if (batch_counts(r, &c, err) < 0)
		return NULL;
	json_t *counts = json_object();
	for (int i = 0; i < BATCH_NSTATES; i++)
		json_object_set_new(counts, batch_state_name((enum batch_state)i), json_integer(c.n[i]));
	struct failed_ctx f = { r, json_array(), max_failed, 0 };
	if (batch_task_foreach(r, BATCH_FAILED, add_failed, &f, err) < 0) {
		json_decref(f.list);
		json_decref(counts);
		return NULL;
	}
	pid_t pid = 0;
	bool alive = batch_driver_alive(r, &pid);
	long fin = c.n[BATCH_SUCCEEDED] + c.n[BATCH_FAILED] + c.n[BATCH_CANCELLED];
	return json_pack("{s:s,s:s,s:I,s:o,s:b,s:o,s:I,s:{s:f,s:f},s:b,s:I,s:s}", "run", r->dir, "backend",
			 batch_backend_name(r->backend), "tasks", (json_int_t)c.total, "counts", counts, "done",
			 fin == c.total, "failed", f.list, "failed-total", (json_int_t)c.n[BATCH_FAILED], "durations", "median-s",
			 c.median_s, "p95-s", c.p95_s, "driver-alive", alive, "driver-pid", (json_int_t)(alive ? pid : 0),
			 "journal-mode", r->mode);
}
