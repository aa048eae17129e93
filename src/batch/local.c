/* The local backend: -j N worker processes, each a fork of the driver (no
 * exec: the descriptor is parsed once, and a task costs a fork, a journal
 * connection and the launch itself). A worker runs in its own process
 * group, so that Ctrl-C reaches the driver only, which then stops every
 * worker's group and records its task cancelled; a worker outlives a
 * driver killed with SIGKILL, finishes its task and records it, and the
 * next driver (`resume`) waits for it through its task lock.
 *
 * A worker sends its result to the driver over a pipe and waits for the
 * driver's ack, which comes once the result is committed: no result file
 * to create per task, and a driver killed between the two leaves the
 * worker to write result.json for the next driver (task.c).
 *
 * Memory and open files: the pending tasks are read from the journal 256
 * at a time, and the driver holds two pipes per running worker. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/str.h"
#include "batch/internal.h"

/* A worker and its two pipes: its result comes on `res` (the driver's
 * read end), the driver's ack, once the result is committed, goes on
 * `ack` (the driver's write end). The end of the result (EOF) is also how
 * the driver learns that a worker is gone: no pidfd, no SIGCHLD. */
struct worker {
	pid_t pid;
	int res;
	int ack;
	long task;
};

struct deliver_ctx {
	int res; /* the worker's write end */
	int ack; /* the worker's read end */
};

/* In the worker: the result to the driver, then wait for its ack. False
 * when the driver is gone (EPIPE, EOF): the worker writes result.json. */
static bool deliver(const char *text, void *ud)
{
	struct deliver_ctx *c = ud;
	signal(SIGPIPE, SIG_IGN);
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t k = write(c->res, text + off, len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		off += (size_t)k;
	}
	close(c->res);
	c->res = -1;
	char ack = 0;
	ssize_t k;
	while ((k = read(c->ack, &ack, 1)) < 0 && errno == EINTR)
		;
	return k == 1 && ack == 'k';
}

static long ncores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}

/* The next batch of pending task ids after `after`. */
static size_t next_pending(struct batch_run *r, long after, long *ids, size_t max)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(r->db, "SELECT id FROM tasks WHERE state = 'pending' AND id > ? ORDER BY id LIMIT ?", -1,
			       &s, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	size_t n = 0;
	while (n < max && sqlite3_step(s) == SQLITE_ROW)
		ids[n++] = (long)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

static bool settle(struct batch_run *r, long task, struct task_result *got, enum batch_state none_state,
		   const char *none_why);

/* Before running: what an earlier driver left. Rows "running" or
 * "queued" whose task lock is free lost their process: pending again;
 * those whose lock is held still run (orphans, waited for). Failed and
 * cancelled tasks are pending again (resume runs what has not succeeded). */
static int reconcile(struct batch_run *r, long **orphans, size_t *norph, struct ferr *err)
{
	*orphans = NULL;
	*norph = 0;
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(r->db, "SELECT id FROM tasks WHERE state IN ('running', 'queued')", -1, &s, NULL) !=
	    SQLITE_OK)
		return journal_err(r->db, err, "read");
	size_t cap = 0, n = 0;
	long *lost = NULL;
	while (sqlite3_step(s) == SQLITE_ROW) {
		long id = (long)sqlite3_column_int64(s, 0);
		if (task_locked(r, id)) {
			*orphans = xrealloc(*orphans, (*norph + 1) * sizeof **orphans);
			(*orphans)[(*norph)++] = id;
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			lost = xrealloc(lost, cap * sizeof *lost);
		}
		lost[n++] = id;
	}
	sqlite3_finalize(s);
	/* a worker that finished after its driver died left its result */
	size_t keep = 0;
	for (size_t i = 0; i < n; i++)
		if (!settle(r, lost[i], NULL, BATCH_PENDING, NULL))
			lost[keep++] = lost[i];
	n = keep;
	int rc = journal_exec(r->db, "BEGIN", err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = journal_set_state(r->db, lost[i], BATCH_PENDING, NULL, err);
	free(lost);
	if (rc == 0)
		rc = journal_exec(r->db,
				  "UPDATE tasks SET state = 'pending' WHERE state IN ('failed', 'cancelled');"
				  "COMMIT",
				  err);
	return rc;
}

/* In the worker: default signals, no journal (SQLite's state, inherited
 * from the driver, must not be used after fork()), none of the other
 * workers' pipes (a driver killed must look gone to every worker), the
 * task, its result to the driver. */
static void worker_main(struct batch_run *r, long task, const struct worker *w, size_t nw, int res, int ack)
{
	setpgid(0, 0);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* the driver's lock is the driver's: a worker that outlives it must
	 * not keep the run looking driven (flock belongs to the open file,
	 * which fork() shares) */
	if (r->driver_lock >= 0)
		close(r->driver_lock);
	r->driver_lock = -1;
	for (size_t i = 0; i < nw; i++) {
		close(w[i].res);
		close(w[i].ack);
	}
	struct deliver_ctx c = { res, ack };
	_exit(task_worker(r, task, deliver, &c));
}

/* A task's process is gone (or has sent its result, `got`): record that
 * result, or what its result.json says, or, with neither, that it ended
 * without one. Returns true when a result was found. */
static bool settle(struct batch_run *r, long task, struct task_result *got, enum batch_state none_state,
		   const char *none_why)
{
	struct task_result res;
	struct ferr e = FERR_INIT;
	if (got || task_result_read(r, task, &res) == 0) {
		if (got) {
			res = *got;
			memset(got, 0, sizeof *got);
		}
		/* a tool stopped by the driver's SIGTERM: cancelled, not failed */
		if (none_state == BATCH_CANCELLED && none_why && res.st != BATCH_SUCCEEDED) {
			res.st = BATCH_CANCELLED;
			free(res.reason);
			res.reason = xstrdup(none_why);
		}
		task_result_record(r, task, &res, &e);
		task_result_clear(&res);
		return true;
	}
	if (none_why)
		journal_set_state(r->db, task, none_state, none_why, &e);
	return false;
}

/* What a worker sent, up to its EOF: 0 with a result in *res, else -1. */
static int collect(struct worker *w, struct task_result *res)
{
	return task_result_read_fd(w->res, res);
}

/* Workers whose result is committed and acknowledged, about to exit:
 * reaped when they have (WNOHANG), not waited for, so that the next task
 * starts at once. */
struct leaving {
	pid_t *pid;
	size_t n, cap;
};

static void leaving_reap(struct leaving *l, bool block)
{
	size_t keep = 0;
	for (size_t i = 0; i < l->n; i++) {
		pid_t got;
		while ((got = waitpid(l->pid[i], NULL, block ? 0 : WNOHANG)) < 0 && errno == EINTR)
			;
		if (got == 0)
			l->pid[keep++] = l->pid[i];
	}
	l->n = keep;
}

static void reap(struct batch_run *r, struct worker *w, bool stopping, struct leaving *l)
{
	struct task_result got;
	bool have = collect(w, &got) == 0;
	bool recorded = false;
	if (have && !stopping) {
		/* committed, then acknowledged: a SIGKILL of the driver in
		 * between leaves the worker to write result.json */
		struct ferr e = FERR_INIT;
		if (task_result_record(r, w->task, &got, &e) == 0) {
			recorded = true;
			/* a worker gone meanwhile (EPIPE) is reaped below */
			while (write(w->ack, "k", 1) < 0 && errno == EINTR)
				;
		}
	}
	close(w->ack);
	close(w->res);
	if (recorded && l) {
		task_result_clear(&got);
		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 16;
			l->pid = xrealloc(l->pid, l->cap * sizeof *l->pid);
		}
		l->pid[l->n++] = w->pid;
		return;
	}
	int status = 0;
	while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (recorded) {
		task_result_clear(&got);
		return;
	}
	char why[512];
	if (stopping)
		snprintf(why, sizeof why, "cancelled (the driver was stopped)");
	else if (WIFSIGNALED(status))
		snprintf(why, sizeof why, "the worker was killed by signal %d", WTERMSIG(status));
	else
		snprintf(why, sizeof why, "the worker exited %d without a result (see %s/tasks/%ld/stderr)",
			 WEXITSTATUS(status), r->dir, w->task);
	settle(r, w->task, have ? &got : NULL, stopping ? BATCH_CANCELLED : BATCH_FAILED, why);
	if (have)
		task_result_clear(&got);
}

static void stop_all(struct batch_run *r, struct worker *w, size_t nw)
{
	for (size_t i = 0; i < nw; i++)
		kill(-w[i].pid, SIGTERM);
	/* a grace period, then SIGKILL */
	for (int tick = 0; tick < 50; tick++) {
		bool any = false;
		for (size_t i = 0; i < nw; i++)
			if (kill(w[i].pid, 0) == 0) {
				int st;
				if (waitpid(w[i].pid, &st, WNOHANG) == 0)
					any = true;
			}
		if (!any)
			break;
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	for (size_t i = 0; i < nw; i++)
		kill(-w[i].pid, SIGKILL);
	for (size_t i = 0; i < nw; i++)
		reap(r, &w[i], true, NULL);
}

int local_drive(struct batch_run *r, const struct batch_drive_opts *d, struct ferr *err)
{
	long *orph = NULL;
	size_t norph = 0;
	if (reconcile(r, &orph, &norph, err) < 0)
		return -1;
	long jobs = (long)json_integer_value(json_object_get(r->opts, "jobs"));
	if (jobs <= 0)
		jobs = ncores();
	struct worker *w = xcalloc((size_t)jobs, sizeof *w);
	struct pollfd *pf = xcalloc((size_t)jobs, sizeof *pf);
	size_t nw = 0;
	long ids[256], cursor = -1;
	size_t nids = 0, at = 0;
	bool exhausted = false;
	int rc = 0;
	/* an ack to a worker that died meanwhile: EPIPE, not the driver's death */
	void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
	struct leaving lv = { 0 };
	batch_emit_progress(r, d, true);
	for (;;) {
		if (d->stop && *d->stop) {
			stop_all(r, w, nw);
			break;
		}
		/* fill the pool */
		while ((long)nw < jobs && !exhausted) {
			if (at == nids) {
				nids = next_pending(r, cursor, ids, 256);
				at = 0;
				if (!nids) {
					exhausted = true;
					break;
				}
			}
			long task = ids[at++];
			cursor = task;
			int prep = task_prepare(r, task, err);
			if (prep < 0) {
				rc = -1;
				break;
			}
			if (prep > 0)
				continue; /* cancelled meanwhile */
			int rp[2], ap[2];
			if (task_pipe(rp) < 0) {
				rc = ferr_set(err, errno, "pipe");
				break;
			}
			if (task_pipe(ap) < 0) {
				rc = ferr_set(err, errno, "pipe");
				close(rp[0]);
				close(rp[1]);
				break;
			}
			fflush(stdout);
			fflush(stderr);
			pid_t pid = fork();
			if (pid < 0) {
				rc = ferr_set(err, errno, "fork");
				close(rp[0]);
				close(rp[1]);
				close(ap[0]);
				close(ap[1]);
				break;
			}
			if (pid == 0) {
				close(rp[0]);
				close(ap[1]);
				worker_main(r, task, w, nw, rp[1], ap[0]);
			}
			setpgid(pid, pid); /* as the worker does: no race with kill(-pid) */
			close(rp[1]);
			close(ap[0]);
			w[nw++] = (struct worker){ pid, rp[0], ap[1], task };
		}
		if (rc < 0) {
			stop_all(r, w, nw);
			break;
		}
		if (!nw) {
			/* orphans of a killed driver: wait for their locks */
			bool waiting = false;
			for (size_t i = 0; i < norph; i++)
				if (orph[i] >= 0 && task_locked(r, orph[i]))
					waiting = true;
				else if (orph[i] >= 0) {
					if (!settle(r, orph[i], NULL, BATCH_PENDING, "")) {
						/* it died without a result: run it again */
						exhausted = false;
						cursor = -1;
						nids = at = 0;
					}
					orph[i] = -1;
				}
			if (!waiting && exhausted)
				break;
			if (waiting && exhausted) {
				struct timespec ts = { 0, 200 * 1000 * 1000 };
				nanosleep(&ts, NULL);
			}
			continue;
		}
		for (size_t i = 0; i < nw; i++)
			pf[i] = (struct pollfd){ w[i].res, POLLIN, 0 };
		int n = poll(pf, nw, 500);
		if (n < 0 && errno != EINTR) {
			rc = ferr_set(err, errno, "poll");
			stop_all(r, w, nw);
			break;
		}
		bool changed = false;
		for (size_t i = 0; n > 0 && i < nw;) {
			if (pf[i].revents) {
				reap(r, &w[i], false, &lv);
				w[i] = w[nw - 1];
				pf[i] = pf[nw - 1];
				nw--;
				changed = true;
			} else
				i++;
		}
		leaving_reap(&lv, false);
		if (changed)
			batch_emit_progress(r, d, false);
	}
	batch_emit_progress(r, d, true);
	leaving_reap(&lv, true);
	free(lv.pid);
	signal(SIGPIPE, old_pipe);
	free(orph);
	free(w);
	free(pf);
	return rc;
}
