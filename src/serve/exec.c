/* Executions: each one is a `ferry batch` run of one task, in
 * STATE/runs/<id>/, driven by a detached `ferry batch resume` so that it
 * outlives the server. A monitor thread follows the runs: it enforces
 * timeouts, and when a run ends it moves the task's output files into the
 * caller's tree (<results>/<id>/...) and records returnedFiles. The
 * container sees the task's working directory and the File inputs it was
 * given (the launch binds exactly those), never another tree or STATE. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/inroot.h"
#include "base/json.h"
#include "base/path.h"
#include "batch/batch.h"
#include "serve/internal.h"

static const char *const terminal[] = { "Finished", "ExecutionFailed", "InitializationFailed", "Killed", "Unknown",
					NULL };

bool exec_is_terminal(const char *st)
{
	return strv_contains((char *const *)terminal, st);
}

const char *exec_status_of(enum batch_state s)
{
	switch (s) {
	case BATCH_PENDING:
	case BATCH_QUEUED: return "Ready";
	case BATCH_RUNNING: return "Running";
	case BATCH_SUCCEEDED: return "Finished";
	case BATCH_FAILED: return "ExecutionFailed";
	case BATCH_CANCELLED: return "Killed";
	default: return "Unknown";
	}
}

sqlite3_stmt *exec_prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	return st;
}

const char *exec_col(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return t ? t : "";
}

/* ---- rows as CARMIN Executions ---- */

#define EXEC_COLS "id, name, pipeline, inputs, status, timeout, submitted, started, ended, error_code, returned, study, vip"

/* VIP's clients (vip_client: VipLauncher._get_exec_infos, monitor_workflows)
 * read an execution the way VIP writes it: startDate always there,
 * returnedFiles always there ({} until the end) with every output under
 * "output_file", and "Running" from the start (they stop polling on any
 * other status). An execution created in VIP's namespace (results under
 * /vip/Home) is answered that way; any other the CARMIN way. */
static json_t *exec_json(sqlite3_stmt *st)
{
	json_error_t je;
	json_t *inputs = json_loads(exec_col(st, 3), 0, &je);
	json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:s, s:I}", "identifier", exec_col(st, 0), "name", exec_col(st, 1),
			      "pipelineIdentifier", exec_col(st, 2), "inputValues", inputs ? inputs : json_object(),
			      "status", exec_col(st, 4), "timeout", (json_int_t)sqlite3_column_int64(st, 5));
	json_object_set_new(j, "submissionDate", json_integer(sqlite3_column_int64(st, 6)));
	if (sqlite3_column_int64(st, 7))
		json_object_set_new(j, "startDate", json_integer(sqlite3_column_int64(st, 7)));
	if (sqlite3_column_int64(st, 8))
		json_object_set_new(j, "endDate", json_integer(sqlite3_column_int64(st, 8)));
	if (sqlite3_column_int64(st, 9))
		json_object_set_new(j, "errorCode", json_integer(sqlite3_column_int64(st, 9)));
	/* returnedFiles only once the execution is terminal */
	bool vip = sqlite3_column_int64(st, 12) != 0;
	json_t *rf = NULL;
	if (exec_is_terminal(exec_col(st, 4)) && sqlite3_column_type(st, 10) != SQLITE_NULL)
		rf = json_loads(exec_col(st, 10), 0, &je);
	if (vip) {
		if (!rf)
			rf = json_object();
		if (!json_object_get(rf, "output_file")) {
			json_t *all = json_array();
			const char *k;
			json_t *v;
			json_object_foreach(rf, k, v) json_array_extend(all, v);
			json_object_set_new(rf, "output_file", all);
		}
		if (!strcmp(exec_col(st, 4), "Ready") || !strcmp(exec_col(st, 4), "Initializing"))
			json_object_set_new(j, "status", json_string("Running"));
		if (!json_object_get(j, "startDate"))
			json_object_set_new(j, "startDate", json_integer(sqlite3_column_int64(st, 6)));
	}
	if (rf)
		json_object_set_new(j, "returnedFiles", rf);
	if (*exec_col(st, 11))
		json_object_set_new(j, "studyIdentifier", json_string(exec_col(st, 11)));
	return j;
}

/* The caller's execution id, or 404 (another user's is the same 404). */
static sqlite3_stmt *find_exec(struct req *r, sqlite3 *db, const char *id, const char *cols)
{
	_cleanup_free_ char *sql = xasprintf("SELECT %s FROM executions WHERE id = ? AND user = ?", cols);
	sqlite3_stmt *st = exec_prep(db, sql);
	if (!st) {
		reply_error(r, 500, SC_INTERNAL, "database: %s", sqlite3_errmsg(db));
		return NULL;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, r->user, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		reply_error(r, 404, SC_NO_EXEC, "no execution '%s'", id);
		return NULL;
	}
	return st;
}

char *exec_run_dir(struct srv *s, const char *id)
{
	return path_join(s->runs, id);
}

/* ---- POST /executions ---- */

static void add_problem(json_t *probs, const char *input, const char *msg)
{
	json_array_append_new(probs, json_pack("{s:s, s:s}", "input", input, "message", msg));
}

/* A File value: a platform path of the caller's (or a URL of one, as
 * CARMIN-server's clients send), resolved beneath the caller's tree to
 * the real host path it names now. */
static json_t *map_file(struct req *r, int root, const char *id, json_t *v, json_t *probs)
{
	if (json_is_array(v)) {
		json_t *a = json_array();
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x)
		{
			json_t *m = map_file(r, root, id, x, probs);
			if (m)
				json_array_append_new(a, m);
		}
		return a;
	}
	if (!json_is_string(v)) {
		add_problem(probs, id, "a File value must be a path (string)");
		return NULL;
	}
	const char *p = json_string_value(v);
	if (!strncmp(p, "http://", 7) || !strncmp(p, "https://", 8)) {
		const char *q = strstr(p + 8, "/path/");
		p = q ? q + 5 : p;
	}
	_cleanup_free_ char *rel = NULL;
	bool vip;
	if (platform_to_rel(r->user, p, &rel, &vip) < 0) {
		_cleanup_free_ char *m = xasprintf("%s: no such file in your tree", p);
		add_problem(probs, id, m);
		return NULL;
	}
	int fd = beneath_open(root, rel, O_PATH, 0);
	if (fd < 0) {
		_cleanup_free_ char *m = xasprintf("%s: %s", p,
						   errno == EXDEV || errno == ELOOP ? "leads outside your tree"
										    : "no such file in your tree");
		add_problem(probs, id, m);
		return NULL;
	}
	char proc[64], real[PATH_MAX];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, real, sizeof real - 1);
	close(fd);
	if (n <= 0) {
		add_problem(probs, id, "cannot resolve the path");
		return NULL;
	}
	real[n] = 0;
	return json_string(real);
}

static const json_t *find_input(const json_t *desc, const char *id)
{
	size_t i;
	json_t *in;
	json_array_foreach(json_object_get(desc, "inputs"), i, in) if (!strcmp(json_get_str(in, "id") ?: "", id)) return in;
	return NULL;
}

/* VIP's clients send every value as a string ("3", "true", a list as
 * "[1, 2]" or items): a string given for a Number, Flag or list input is
 * read as that type when it parses as one; anything else is left for the
 * invocation's validation to refuse. New reference. */
static json_t *coerce(const json_t *in, json_t *v)
{
	const char *t = json_get_str(in, "type") ?: "";
	bool list = json_is_true(json_object_get(in, "list"));
	if (list && json_is_string(v)) {
		json_error_t je;
		json_t *a = json_loads(json_string_value(v), JSON_DECODE_ANY, &je);
		if (json_is_array(a))
			return a;
		json_decref(a);
		json_t *one = json_array();
		json_array_append(one, v);
		return one;
	}
	if (list && json_is_array(v)) {
		json_t *a = json_array();
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x)
		{
			json_t *tmp = json_pack("{s:s}", "type", t);
			json_array_append_new(a, coerce(tmp, x));
			json_decref(tmp);
		}
		return a;
	}
	if (!json_is_string(v))
		return json_incref(v);
	const char *s = json_string_value(v);
	if (!strcmp(t, "Flag")) {
		if (!strcmp(s, "true") || !strcmp(s, "True"))
			return json_true();
		if (!strcmp(s, "false") || !strcmp(s, "False"))
			return json_false();
	}
	if (!strcmp(t, "Number") && *s) {
		char *end = NULL;
		errno = 0;
		long long i = strtoll(s, &end, 10);
		if (!*end && !errno)
			return json_integer(i);
		double d = strtod(s, &end);
		if (!*end)
			return json_real(d);
	}
	return json_incref(v);
}

static void new_id(char out[24])
{
	unsigned char b[8] = { 0 };
	if (getrandom(b, sizeof b, 0) != sizeof b) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		memcpy(b, &ts.tv_nsec, 4);
		memcpy(b + 4, &ts.tv_sec, 4);
	}
	snprintf(out, 24, "exec-%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
}

static void init_failed(struct req *r, json_t *probs, const char *what)
{
	const char *first = json_get_str(json_array_get(probs, 0), "message");
	const char *in = json_get_str(json_array_get(probs, 0), "input");
	reply_error_details(r, 400, SC_INIT_FAILED,
			    json_pack("{s:s, s:o}", "status", "InitializationFailed", "problems", probs),
			    "InitializationFailed: %s%s%s%s", what, in ? in : "", in ? ": " : "", first ? first : "");
}

static void create_exec(struct req *r)
{
	_cleanup_json_ json_t *j = req_json_body(r);
	if (!j)
		return;
	const char *name = json_get_str(j, "name"), *pid = json_get_str(j, "pipelineIdentifier");
	json_t *iv = json_object_get(j, "inputValues");
	if (!name || !pid || !json_is_object(iv))
		return reply_error(r, 400, SC_BAD_VALUE,
				   "an Execution needs name (string), pipelineIdentifier (string) and inputValues (object)");
	json_t *to = json_object_get(j, "timeout");
	if (to && !json_is_null(to) && (!json_is_integer(to) || json_integer_value(to) < 0))
		return reply_error(r, 400, SC_BAD_TIMEOUT, "timeout must be a number of seconds (0: none)");
	const struct pipeline *p = pipelines_find(&r->s->pl, pid);
	if (!p)
		return reply_error(r, 400, SC_NO_PIPELINE, "no pipeline '%s' (GET /pipelines lists them)", pid);
	/* Where results go: VIP's resultsLocation, or the results-directory
	 * input VIP adds, or /<user>/executions. */
	const char *loc = json_get_str(j, "resultsLocation");
	bool rd_input = find_input(p->desc, "results-directory") != NULL;
	if (!loc && !rd_input)
		loc = json_get_str(iv, "results-directory");
	_cleanup_free_ char *deflt = xasprintf("/%s/executions", r->user);
	_cleanup_free_ char *rrel = NULL;
	bool vip = false;
	if (platform_to_rel(r->user, loc ? loc : deflt, &rrel, &vip) < 0)
		return reply_error(r, 400, SC_BAD_VALUE, "results location %s is not in your tree", loc);
	struct ferr err = FERR_INIT;
	_cleanup_close_ int root = user_tree_fd(r->s, r->user, &err);
	if (root < 0)
		return reply_error(r, 500, SC_INTERNAL, "%s", err.msg);
	json_t *probs = json_array();
	_cleanup_json_ json_t *inv = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(iv, k, v)
	{
		const json_t *in = find_input(p->desc, k);
		if (!in) {
			if (!strcmp(k, "results-directory"))
				continue;
			add_problem(probs, k, "no such input in the pipeline");
			continue;
		}
		_cleanup_json_ json_t *cv = coerce(in, v);
		v = cv;
		if (!strcmp(json_get_str(in, "type") ?: "", "File")) {
			json_t *m = map_file(r, root, k, v, probs);
			if (m)
				json_object_set_new(inv, k, m);
		} else
			json_object_set(inv, k, v);
	}
	if (json_array_size(probs))
		return init_failed(r, probs, "");
	_cleanup_json_ json_t *full = app_invocation_with_defaults(p->desc, inv);
	struct app_problems ap = { 0 };
	if (app_validate_invocation(p->desc, full, &ap)) {
		for (size_t i = 0; i < ap.n; i++)
			add_problem(probs, ap.v[i].path, ap.v[i].msg + strspn(ap.v[i].msg, " "));
		app_problems_free(&ap);
		return init_failed(r, probs, "");
	}
	app_problems_free(&ap);
	/* The results directory, made beneath the tree. */
	int rfd = *rrel ? inroot_mkdir_p(root, rrel, 0755, &err) : beneath_open(root, "", O_RDONLY | O_DIRECTORY, 0);
	if (rfd < 0) {
		json_decref(probs);
		return reply_error(r, 400, SC_BAD_VALUE, "results location %s: %s", loc ? loc : deflt, err.msg);
	}
	close(rfd);
	char id[24];
	new_id(id);
	_cleanup_free_ char *rdir = exec_run_dir(r->s, id);
	struct batch_inputs bi = { 0 };
	_cleanup_free_ char *src = xasprintf("execution %s", id);
	batch_inputs_add(&bi, inv, src);
	struct batch_opts bo = { 0 };
	bo.backend = r->s->o.backend && !strcmp(r->s->o.backend, "slurm") ? BATCH_SLURM : BATCH_LOCAL;
	bo.jobs = r->s->o.jobs > 0 ? (unsigned)r->s->o.jobs : 1;
	bo.no_container = !json_object_get(p->desc, "container-image") && r->s->o.allow_host_tools;
	struct batch_run *run = NULL;
	if (batch_create(rdir, p->path, p->desc, &bi, &bo, &ap, &run, &err) < 0) {
		batch_inputs_free(&bi);
		for (size_t i = 0; i < ap.n; i++)
			add_problem(probs, ap.v[i].path, ap.v[i].msg + strspn(ap.v[i].msg, " "));
		app_problems_free(&ap);
		if (!json_array_size(probs))
			add_problem(probs, "", err.msg);
		return init_failed(r, probs, "");
	}
	batch_inputs_free(&bi);
	batch_close(run);
	json_decref(probs);
	sqlite3 *db = db_get(r->s, &err);
	sqlite3_stmt *st = db ? exec_prep(db, "INSERT INTO executions (id, user, name, pipeline, inputs, status, timeout,"
					 " submitted, results, vip, study) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
			      : NULL;
	if (!st)
		return reply_error(r, 500, SC_INTERNAL, "database: %s", db ? sqlite3_errmsg(db) : err.msg);
	char *ivs = json_dumps(iv, JSON_COMPACT);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, r->user, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, pid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, ivs, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, "Ready", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, to ? json_integer_value(to) : 0);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 9, rrel, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 10, vip);
	if (json_get_str(j, "studyIdentifier"))
		sqlite3_bind_text(st, 11, json_get_str(j, "studyIdentifier"), -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 11);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	free(ivs);
	if (rc != SQLITE_DONE)
		return reply_error(r, 500, SC_INTERNAL, "database: %s", sqlite3_errmsg(db));
	pid_t drv;
	if (batch_spawn_driver(rdir, NULL, &drv, &err) < 0)
		return reply_error(r, 500, SC_LAUNCH, "execution %s: %s", id, err.msg);
	st = find_exec(r, db, id, EXEC_COLS);
	if (!st)
		return;
	reply_json(r, 200, exec_json(st));
	sqlite3_finalize(st);
}

/* ---- the other operations ---- */

static void list_execs(struct req *r, sqlite3 *db)
{
	const char *off = req_query(r, "offset"), *lim = req_query(r, "limit");
	char *end = NULL;
	long long o = off ? strtoll(off, &end, 10) : 0;
	if (off && (*end || o < 0))
		return reply_error(r, 400, SC_BAD_VALUE, "offset must be a number >= 0");
	long long l = lim ? strtoll(lim, &end, 10) : 500;
	if (lim && (*end || l < 0))
		return reply_error(r, 400, SC_BAD_VALUE, "limit must be a number >= 0");
	const char *study = req_query(r, "studyIdentifier");
	sqlite3_stmt *st = exec_prep(db, study ? "SELECT " EXEC_COLS " FROM executions WHERE user = ? AND study = ?"
					    " ORDER BY seq DESC LIMIT ? OFFSET ?"
					  : "SELECT " EXEC_COLS " FROM executions WHERE user = ? AND ?2 IS NULL"
					    " ORDER BY seq DESC LIMIT ? OFFSET ?");
	if (!st)
		return reply_error(r, 500, SC_INTERNAL, "database: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, r->user, -1, SQLITE_TRANSIENT);
	if (study)
		sqlite3_bind_text(st, 2, study, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, l);
	sqlite3_bind_int64(st, 4, o);
	json_t *a = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, exec_json(st));
	sqlite3_finalize(st);
	reply_json(r, 200, a);
}

static void count_execs(struct req *r, sqlite3 *db)
{
	const char *study = req_query(r, "studyIdentifier");
	sqlite3_stmt *st = exec_prep(db, study ? "SELECT count(*) FROM executions WHERE user = ? AND study = ?"
					  : "SELECT count(*) FROM executions WHERE user = ?");
	if (!st)
		return reply_error(r, 500, SC_INTERNAL, "database: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, r->user, -1, SQLITE_TRANSIENT);
	if (study)
		sqlite3_bind_text(st, 2, study, -1, SQLITE_TRANSIENT);
	long long n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	char buf[32];
	snprintf(buf, sizeof buf, "%lld", n);
	reply_text(r, 200, "text/plain", buf, strlen(buf));
}

int exec_set_status(sqlite3 *db, const char *id, const char *status, int code)
{
	sqlite3_stmt *st = exec_prep(db, "UPDATE executions SET status = ?, error_code = ?,"
				    " ended = CASE WHEN ended = 0 THEN strftime('%s','now') ELSE ended END WHERE id = ?");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, status, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, code);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	return rc;
}

static void cancel_run(struct srv *s, const char *id)
{
	_cleanup_free_ char *rd = exec_run_dir(s, id);
	struct batch_run *run = NULL;
	struct ferr err = FERR_INIT;
	if (batch_open(rd, &run, &err) == 0) {
		batch_cancel(run, &err);
		batch_close(run);
	}
}

static void kill_exec(struct req *r, sqlite3 *db, const char *id)
{
	sqlite3_stmt *st = find_exec(r, db, id, "status");
	if (!st)
		return;
	bool term = exec_is_terminal(exec_col(st, 0));
	sqlite3_finalize(st);
	if (term)
		return reply_error(r, 409, SC_STATE, "execution %s has ended already", id);
	cancel_run(r->s, id);
	exec_set_status(db, id, "Killed", 0);
	reply_empty(r, 204);
}

static void delete_exec(struct req *r, sqlite3 *db, const char *id)
{
	sqlite3_stmt *st = find_exec(r, db, id, "status, results");
	if (!st)
		return;
	bool term = exec_is_terminal(exec_col(st, 0));
	_cleanup_free_ char *results = xstrdup(exec_col(st, 1));
	sqlite3_finalize(st);
	if (!term)
		cancel_run(r->s, id);
	const char *df = req_query(r, "deleteFiles");
	struct ferr err = FERR_INIT;
	if (df && (!strcmp(df, "true") || !strcmp(df, "1"))) {
		_cleanup_close_ int root = user_tree_fd(r->s, r->user, &err);
		_cleanup_close_ int rd = root >= 0 ? beneath_open(root, results, O_RDONLY | O_DIRECTORY, 0) : -1;
		if (rd >= 0)
			fs_rm_rf_at(rd, id, &err);
	}
	_cleanup_free_ char *rdir = exec_run_dir(r->s, id);
	/* the run goes once its driver is gone; the monitor finishes that */
	st = exec_prep(db, "DELETE FROM executions WHERE id = ? AND user = ?");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, r->user, -1, SQLITE_TRANSIENT);
	sqlite3_step(st);
	sqlite3_finalize(st);
	if (term)
		fs_rm_rf(rdir, &err);
	reply_empty(r, 204);
}

static void update_exec(struct req *r, sqlite3 *db, const char *id)
{
	_cleanup_json_ json_t *j = req_json_body(r);
	if (!j)
		return;
	sqlite3_stmt *st = find_exec(r, db, id, "status");
	if (!st)
		return;
	_cleanup_free_ char *status = xstrdup(exec_col(st, 0));
	sqlite3_finalize(st);
	const char *nid = json_get_str(j, "identifier"), *nst = json_get_str(j, "status");
	if ((nid && strcmp(nid, id)) || (nst && strcmp(nst, status)))
		return reply_error(r, 400, SC_READ_ONLY, "updateExecution: identifier and status cannot be changed");
	json_t *name = json_object_get(j, "name"), *to = json_object_get(j, "timeout");
	if (name && !json_is_string(name))
		return reply_error(r, 400, SC_BAD_VALUE, "name must be a string");
	if (to && (!json_is_integer(to) || json_integer_value(to) < 0))
		return reply_error(r, 400, SC_BAD_TIMEOUT, "timeout must be a number of seconds (0: none)");
	/* other fields are ignored, as the spec says */
	st = exec_prep(db, "UPDATE executions SET name = coalesce(?, name), timeout = coalesce(?, timeout) WHERE id = ?");
	if (name)
		sqlite3_bind_text(st, 1, json_string_value(name), -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 1);
	if (to)
		sqlite3_bind_int64(st, 2, json_integer_value(to));
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_TRANSIENT);
	sqlite3_step(st);
	sqlite3_finalize(st);
	reply_empty(r, 204);
}

static void stream_exec(struct req *r, sqlite3 *db, const char *id, const char *which)
{
	sqlite3_stmt *st = find_exec(r, db, id, "id");
	if (!st)
		return;
	sqlite3_finalize(st);
	_cleanup_free_ char *p = xasprintf("%s/%s/tasks/0/%s", r->s->runs, id, which);
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0) {
		if (fd >= 0)
			close(fd);
		return reply_text(r, 200, "text/plain; charset=utf-8", "", 0);
	}
	reply_fd(r, fd, (uint64_t)sb.st_size, "text/plain; charset=utf-8", NULL);
}

static void results_exec(struct req *r, sqlite3 *db, const char *id)
{
	sqlite3_stmt *st = find_exec(r, db, id, "status, returned");
	if (!st)
		return;
	json_error_t je;
	json_t *rf = exec_is_terminal(exec_col(st, 0)) ? json_loads(exec_col(st, 1), 0, &je) : NULL;
	sqlite3_finalize(st);
	json_t *a = json_array();
	struct ferr err = FERR_INIT;
	_cleanup_close_ int root = user_tree_fd(r->s, r->user, &err);
	const char *k;
	json_t *v;
	json_object_foreach(rf, k, v)
	{
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x)
		{
			_cleanup_free_ char *rel = NULL;
			bool vip;
			if (platform_to_rel(r->user, json_string_value(x), &rel, &vip) < 0)
				continue;
			_cleanup_close_ int fd = beneath_open(root, rel, O_PATH, 0);
			json_t *pj = fd >= 0 ? path_json(json_string_value(x), fd, "", id) : NULL;
			if (pj)
				json_array_append_new(a, pj);
		}
	}
	json_decref(rf);
	reply_json(r, 200, a);
}

/* The pollers' call. Each pool thread keeps the encoded answers it gave
 * (by execution and user) with the database generation they were read
 * at: while nothing was committed since, the same bytes are sent again
 * without a look-up or an encoding. The generation is read before the
 * row, so a commit during the read makes the entry stale at once. */
#define EC_SLOTS 64
static __thread struct {
	char id[64];
	char user[65];
	uint64_t gen;
	char *json;
	size_t len;
} ec[EC_SLOTS];

static pthread_key_t ec_key;
static pthread_once_t ec_once = PTHREAD_ONCE_INIT;

static void ec_free(void *p)
{
	(void)p;
	for (int i = 0; i < EC_SLOTS; i++) {
		free(ec[i].json);
		ec[i].json = NULL;
	}
}

static void ec_init(void)
{
	pthread_key_create(&ec_key, ec_free);
}

static void get_exec(struct req *r, sqlite3 *db, const char *id)
{
	pthread_once(&ec_once, ec_init);
	if (!pthread_getspecific(ec_key))
		pthread_setspecific(ec_key, ec); /* so that ec_free runs when the thread ends */
	uint64_t gen = db_generation();
	size_t idlen = strlen(id);
	uint32_t h = 2166136261u;
	for (const char *p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	unsigned i = h % EC_SLOTS;
	bool cacheable = idlen < sizeof ec[i].id;
	if (cacheable && ec[i].json && ec[i].gen == gen && !strcmp(ec[i].id, id) && !strcmp(ec[i].user, r->user))
		return reply_text(r, 200, "application/json", ec[i].json, ec[i].len);
	/* a statement prepared once per thread */
	sqlite3_stmt *st =
		db_cached(db, DB_SLOT_EXEC, "SELECT " EXEC_COLS " FROM executions WHERE id = ? AND user = ?");
	if (!st)
		return reply_error(r, 500, SC_INTERNAL, "database: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, r->user, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return reply_error(r, 404, SC_NO_EXEC, "no execution '%s'", id);
	}
	json_t *j = exec_json(st);
	sqlite3_reset(st);
	char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	if (!text)
		return reply_error(r, 500, SC_INTERNAL, "cannot encode execution '%s'", id);
	size_t len = strlen(text);
	reply_text(r, 200, "application/json", text, len);
	if (!cacheable) {
		free(text);
		return;
	}
	free(ec[i].json);
	memcpy(ec[i].id, id, idlen + 1);
	memcpy(ec[i].user, r->user, sizeof ec[i].user);
	ec[i].gen = gen;
	ec[i].json = text;
	ec[i].len = len;
}

void route_executions(struct req *r, const char *rest)
{
	struct ferr err = FERR_INIT;
	sqlite3 *db = db_get(r->s, &err);
	if (!db)
		return reply_error(r, 500, SC_INTERNAL, "%s", err.msg);
	const char *m = r->method;
	if (!*rest || !strcmp(rest, "/")) {
		if (!strcmp(m, "GET"))
			return list_execs(r, db);
		if (!strcmp(m, "POST"))
			return create_exec(r);
		return reply_error(r, 405, SC_METHOD, "%s /executions: use GET or POST", m);
	}
	if (!strcmp(rest, "/count"))
		return !strcmp(m, "GET") ? count_execs(r, db) : reply_error(r, 405, SC_METHOD, "count takes GET");
	_cleanup_free_ char *id = xstrdup(rest + 1);
	char *op = strchr(id, '/');
	if (op)
		*op++ = 0;
	if (!op) {
		if (!strcmp(m, "GET"))
			return get_exec(r, db, id);
		if (!strcmp(m, "PUT"))
			return update_exec(r, db, id);
		if (!strcmp(m, "DELETE"))
			return delete_exec(r, db, id);
		return reply_error(r, 405, SC_METHOD, "%s on an execution", m);
	}
	if (!strcmp(op, "results") && !strcmp(m, "GET"))
		return results_exec(r, db, id);
	if ((!strcmp(op, "stdout") || !strcmp(op, "stderr")) && !strcmp(m, "GET"))
		return stream_exec(r, db, id, op);
	if (!strcmp(op, "kill") && !strcmp(m, "PUT"))
		return kill_exec(r, db, id);
	if (!strcmp(op, "play") && !strcmp(m, "PUT")) {
		/* started at creation already: play is accepted and does nothing */
		sqlite3_stmt *st = find_exec(r, db, id, "id");
		if (st) {
			sqlite3_finalize(st);
			reply_empty(r, 204);
		}
		return;
	}
	reply_error(r, 404, SC_NO_ROUTE, "%s /executions/%s/%s: no such operation", m, id, op);
}

