/* The Slurm backend: the pending tasks go out as `sbatch --array`s of
 * RUN/slurm/array.sh (readable, and re-submittable by hand), each array
 * task running `ferry batch run-task RUN INDEX`, which records its own
 * start and end in the journal. An array's indexes must stay below the
 * cluster's MaxArraySize (`scontrol show config`), so tasks go out in
 * chunks of MaxArraySize, the script adding the chunk's offset.
 *
 * What Slurm ends without the task recording it (time limit, out of
 * memory, scancel, a node failure) is found by squeue (at most once every
 * few seconds, whoever asks: the last time is in the journal) and
 * explained by `scontrol show job`, which keeps a finished job for
 * MinJobAge seconds. sacct is not used: without slurmdbd it prints
 * "accounting storage is disabled" and exits 0. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/num.h"
#include "base/path.h"
#include "base/str.h"
#include "batch/internal.h"
#include "store/store.h"

#define SQUEUE_EVERY_S 5.0
/* the longest the end of a run waits for Slurm to finish completing jobs
 * whose tools it killed (KillWait is 30 s by default) */
#define SETTLE_WAIT_S 60

/* Run argv (no shell); *out gets stdout and stderr together. Returns the
 * exit status, or -1 when it could not be started (errno). */
static int run_cmd(char *const argv[], char **out)
{
	int p[2];
	*out = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	struct dstr s = { 0 };
	dstr_append(&s, "");
	char buf[65536];
	ssize_t n;
	while ((n = read(p[0], buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		dstr_appendn(&s, buf, (size_t)n);
	}
	close(p[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*out = dstr_steal(&s);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *first_line(const char *s)
{
	const char *e = strchr(s, '\n');
	char *l = xstrndup(s, e ? (size_t)(e - s) : strlen(s));
	return l;
}

/* "Key = value" of `scontrol show config` */
static long config_long(const char *cfg, const char *key, long dflt)
{
	const char *p = cfg;
	if (!cfg)
		return dflt;
	size_t L = strlen(key);
	while ((p = strstr(p, key))) {
		if ((p == cfg || p[-1] == '\n') && (p[L] == ' ' || p[L] == '=')) {
			const char *v = strchr(p, '=');
			return v ? strtol(v + 1, NULL, 10) : dflt;
		}
		p += L;
	}
	return dflt;
}

static bool fs_local(const char *path)
{
	struct statfs sf;
	if (statfs(path, &sf) < 0)
		return true;
	return !journal_fs_is_network((int64_t)(uint32_t)sf.f_type);
}

/* Does the cluster have nodes other than this host? (Then the store and
 * RUN must be on a file system they share.) */
static bool other_nodes(void)
{
	const char *force = getenv("FERRY_BATCH_CHECK_SHARED");
	if (force && !strcmp(force, "always"))
		return true;
	if (force && !strcmp(force, "never"))
		return false;
	char *argv[] = { "sinfo", "-h", "-N", "-o", "%N", NULL };
	_cleanup_free_ char *out = NULL;
	if (run_cmd(argv, &out) != 0)
		return false;
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	char *dot = strchr(host, '.');
	if (dot)
		*dot = '\0';
	for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (*l && strcmp(l, host) && strcmp(l, "localhost"))
			return true;
	return false;
}

/* Slurm answers (*config: `scontrol show config`), and the store and the
 * run directory are where the cluster's other nodes see them. */
int slurm_precheck(const char *run_dir, char **config, struct ferr *err)
{
	char *argv[] = { "scontrol", "show", "config", NULL };
	_cleanup_free_ char *out = NULL;
	int st = run_cmd(argv, &out);
	if (st < 0 || st == 127)
		return ferr_setc(err, FERR_NOTFOUND, 0, "Slurm: scontrol not found"),
		       ferr_hint(err, "run on a Slurm login node, or use --backend local");
	if (st != 0) {
		_cleanup_free_ char *l = first_line(out);
		return ferr_setc(err, FERR_NETWORK, 0, "Slurm unreachable: scontrol show config: %s", l),
		       ferr_hint(err, "is slurmctld running (scontrol ping)? or use --backend local");
	}
	if (other_nodes()) {
		struct ferr e = FERR_INIT;
		_cleanup_free_ char *root = store_default_root(&e);
		if (root && fs_local(root))
			return ferr_setc(err, FERR_INVALID, 0,
					 "Slurm: the store %s is on a file system local to this node, which the "
					 "cluster's other nodes do not see",
					 root),
			       ferr_hint(err, "set FERRY_HOME to a directory on a shared file system (home, "
					      "/project, /scratch)");
		_cleanup_free_ char *abs = realpath(run_dir, NULL);
		_cleanup_free_ char *parent = abs ? NULL : path_dirname(run_dir);
		if (fs_local(abs ? abs : parent))
			return ferr_setc(err, FERR_INVALID, 0,
					 "Slurm: run directory %s is on a file system local to this node, which the "
					 "cluster's other nodes do not see",
					 run_dir),
			       ferr_hint(err, "choose a --run-dir on a shared file system");
	}
	if (config)
		*config = steal_ptr(&out);
	return 0;
}

int slurm_check(struct batch_run *r, struct ferr *err)
{
	_cleanup_free_ char *cfg = NULL;
	if (slurm_precheck(r->dir, &cfg, err) < 0)
		return -1;
	long max = config_long(cfg, "MaxArraySize", 1001);
	char buf[32];
	snprintf(buf, sizeof buf, "%ld", max > 1 ? max : 1001);
	return journal_meta_set(r->db, "slurm_max_array_size", buf, err);
}

/* sbatch's resource options: overrides, else suggested-resources. */
static void resources(const struct batch_run *r, char ***args)
{
	const json_t *sr = json_object_get(r->desc, "suggested-resources");
	const char *cpus = json_get_str(r->opts, "cpus"), *mem = json_get_str(r->opts, "mem"),
		   *tim = json_get_str(r->opts, "time");
	char buf[128];
	const json_t *v;
	if (cpus) {
		snprintf(buf, sizeof buf, "--cpus-per-task=%s", cpus);
		strv_push(args, buf);
	} else if (json_is_integer(v = json_object_get(sr, "cpu-cores")) && json_integer_value(v) > 0) {
		snprintf(buf, sizeof buf, "--cpus-per-task=%lld", (long long)json_integer_value(v));
		strv_push(args, buf);
	}
	if (mem) {
		snprintf(buf, sizeof buf, "--mem=%s", mem);
		strv_push(args, buf);
	} else if (json_is_number(v = json_object_get(sr, "ram")) && json_number_value(v) > 0) {
		/* Boutiques' ram is in GB */
		snprintf(buf, sizeof buf, "--mem=%lldM", (long long)num_ceil(json_number_value(v) * 1024));
		strv_push(args, buf);
	}
	if (tim) {
		snprintf(buf, sizeof buf, "--time=%s", tim);
		strv_push(args, buf);
	} else if (json_is_number(v = json_object_get(sr, "walltime-estimate")) && json_number_value(v) > 0) {
		/* seconds; Slurm counts minutes */
		snprintf(buf, sizeof buf, "--time=%lld", (long long)num_ceil(json_number_value(v) / 60));
		strv_push(args, buf);
	}
	const char *part = json_get_str(r->opts, "partition"), *acct = json_get_str(r->opts, "account");
	if (part) {
		snprintf(buf, sizeof buf, "--partition=%s", part);
		strv_push(args, buf);
	}
	if (acct) {
		snprintf(buf, sizeof buf, "--account=%s", acct);
		strv_push(args, buf);
	}
	const json_t *so = json_object_get(r->opts, "slurm-opts");
	for (size_t i = 0; i < json_array_size(so); i++)
		strv_push(args, json_string_value(json_array_get(so, i)));
}

/* The environment tasks get, explicitly (the script is submitted with
 * --export=NONE: the submitter's whole environment, with PATH entries
 * only it can read, does not leak into jobs). */
static const char *const exported[] = { "PATH",	     "HOME",	       "USER",		"LANG",
					"LC_ALL",    "TZ",	       "FERRY_HOME",	"FERRY_STORE_PATH",
					"XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "TMPDIR",
					"FERRY_BATCH_JOURNAL_MODE" };

static int write_script(struct batch_run *r, char **args, long max, char **path, struct ferr *err)
{
	_cleanup_free_ char *dir = path_join(r->dir, "slurm");
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return ferr_set(err, errno, "%s", dir);
	const char *exe_opt = json_get_str(r->opts, "ferry-exe");
	_cleanup_free_ char *exe = exe_opt ? xstrdup(exe_opt) : realpath("/proc/self/exe", NULL);
	if (!exe)
		return ferr_set(err, errno, "/proc/self/exe");
	struct dstr s = { 0 };
	dstr_printf(&s,
		    "#!/bin/sh\n"
		    "# ferry batch: the Slurm array job of run %s (%ld tasks).\n"
		    "# Each array task runs one task of the run: task = OFFSET + SLURM_ARRAY_TASK_ID,\n"
		    "# OFFSET being this script's argument (0 unless the run needed several arrays).\n"
		    "# To submit all of it by hand (arrays of at most MaxArraySize=%ld):\n",
		    r->dir, r->ntasks, max);
	for (long off = 0; off < r->ntasks; off += max)
		dstr_printf(&s, "#   sbatch --array=0-%ld %s/array.sh %ld\n",
			    (r->ntasks - off < max ? r->ntasks - off : max) - 1, dir, off);
	dstr_append(&s, "#SBATCH --job-name=ferry-batch\n"
			"#SBATCH --export=NONE\n");
	if (!strpbrk(dir, " \t'\""))
		dstr_printf(&s, "#SBATCH --output=%s/%%A_%%a.out\n", dir);
	for (char **a = args; a && *a; a++)
		if (!strpbrk(*a, " \t'\""))
			dstr_printf(&s, "#SBATCH %s\n", *a);
	for (size_t i = 0; i < sizeof exported / sizeof exported[0]; i++) {
		const char *v = getenv(exported[i]);
		if (!v && !strcmp(exported[i], "FERRY_HOME")) {
			/* the store this submission staged the image in */
			struct ferr e = FERR_INIT;
			_cleanup_free_ char *root = store_default_root(&e);
			if (root) {
				dstr_append(&s, "FERRY_HOME=");
				dstr_append_shquoted(&s, root);
				dstr_append(&s, "; export FERRY_HOME\n");
			}
			continue;
		}
		if (!v)
			continue;
		dstr_printf(&s, "%s=", exported[i]);
		dstr_append_shquoted(&s, v);
		dstr_printf(&s, "; export %s\n", exported[i]);
	}
	dstr_append(&s, "exec ");
	dstr_append_shquoted(&s, exe);
	dstr_append(&s, " batch run-task ");
	dstr_append_shquoted(&s, r->dir);
	dstr_append(&s, " \"$(( ${1:-0} + SLURM_ARRAY_TASK_ID ))\"\n");
	*path = path_join(dir, "array.sh");
	int rc = fs_write_atomic(*path, s.buf, strlen(s.buf), 0755, err);
	dstr_free(&s);
	return rc;
}

static int add_job(struct batch_run *r, const char *job, struct ferr *err)
{
	_cleanup_free_ char *cur = journal_meta_get(r->db, "slurm_jobs");
	_cleanup_json_ json_t *a = cur ? json_loads(cur, 0, NULL) : NULL;
	if (!json_is_array(a)) {
		json_decref(a);
		a = json_array();
	}
	json_array_append_new(a, json_string(job));
	_cleanup_free_ char *t = json_dumps(a, JSON_COMPACT);
	return journal_meta_set(r->db, "slurm_jobs", t, err);
}

/* One array: tasks ids[0..n) (ascending, all within one chunk). */
static int submit_chunk(struct batch_run *r, const char *script, char **res, long offset, const long *ids,
			size_t n, struct ferr *err)
{
	struct dstr spec = { 0 };
	dstr_append(&spec, "--array=");
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && ids[j + 1] == ids[j] + 1)
			j++;
		if (i)
			dstr_appendc(&spec, ',');
		if (j > i)
			dstr_printf(&spec, "%ld-%ld", ids[i] - offset, ids[j] - offset);
		else
			dstr_printf(&spec, "%ld", ids[i] - offset);
		i = j + 1;
	}
	long m = (long)json_integer_value(json_object_get(r->opts, "max-running"));
	if (m > 0)
		dstr_printf(&spec, "%%%ld", m);
	_cleanup_free_ char *outp = xasprintf("--output=%s/slurm/%%A_%%a.out", r->dir);
	_cleanup_free_ char *off = xasprintf("%ld", offset);
	_cleanup_strv_ char **argv = xcalloc(1, sizeof *argv);
	strv_push(&argv, "sbatch");
	strv_push(&argv, "--parsable");
	strv_push(&argv, spec.buf);
	strv_push(&argv, outp);
	for (char **a = res; a && *a; a++)
		strv_push(&argv, *a);
	strv_push(&argv, script);
	strv_push(&argv, off);
	dstr_free(&spec);
	_cleanup_free_ char *out = NULL;
	int st = run_cmd(argv, &out);
	if (st != 0) {
		_cleanup_free_ char *l = first_line(out ? out : "");
		return ferr_setc(err, st == 127 ? FERR_NOTFOUND : FERR_NETWORK, 0, "Slurm: sbatch: %s",
				 st == 127 ? "not found" : l),
		       ferr_hint(err, "is slurmctld running (scontrol ping)? or use --backend local");
	}
	long job = strtol(out, NULL, 10);
	if (job <= 0)
		return ferr_set(err, 0, "Slurm: sbatch printed no job id: %s", out);
	char jid[32];
	snprintf(jid, sizeof jid, "%ld", job);
	if (add_job(r, jid, err) < 0 || journal_exec(r->db, "BEGIN", err) < 0)
		return -1;
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(r->db,
			       "UPDATE tasks SET state = 'queued', slurm_job = ?, slurm_index = ?, reason = NULL "
			       "WHERE id = ? AND state = 'pending'",
			       -1, &s, NULL) != SQLITE_OK)
		return journal_err(r->db, err, "update");
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_text(s, 1, jid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, ids[i] - offset);
		sqlite3_bind_int64(s, 3, ids[i]);
		sqlite3_step(s);
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	return journal_exec(r->db, "COMMIT", err);
}

static int submit_pending(struct batch_run *r, struct ferr *err)
{
	_cleanup_free_ char *mx = journal_meta_get(r->db, "slurm_max_array_size");
	long max = mx ? strtol(mx, NULL, 10) : 1001;
	if (max < 2)
		max = 1001;
	_cleanup_strv_ char **res = xcalloc(1, sizeof *res);
	resources(r, &res);
	_cleanup_free_ char *script = NULL;
	if (write_script(r, res, max, &script, err) < 0)
		return -1;
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(r->db, "SELECT id FROM tasks WHERE state = 'pending' ORDER BY id", -1, &s, NULL) !=
	    SQLITE_OK)
		return journal_err(r->db, err, "read");
	size_t n = 0, cap = 0;
	long *ids = NULL;
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			ids = xrealloc(ids, cap * sizeof *ids);
		}
		ids[n++] = (long)sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n;) {
		long chunk = ids[i] / max, offset = chunk * max;
		size_t j = i;
		while (j < n && ids[j] / max == chunk)
			j++;
		rc = submit_chunk(r, script, res, offset, ids + i, j - i, err);
		i = j;
	}
	free(ids);
	return rc;
}

static json_t *jobs_of(struct batch_run *r)
{
	_cleanup_free_ char *cur = journal_meta_get(r->db, "slurm_jobs");
	json_t *a = cur ? json_loads(cur, 0, NULL) : NULL;
	if (!json_is_array(a)) {
		json_decref(a);
		a = json_array();
	}
	return a;
}

static const char *field(const char *line, const char *key, char *buf, size_t size)
{
	size_t L = strlen(key);
	for (const char *p = line; (p = strstr(p, key)); p += L)
		if ((p == line || p[-1] == ' ') && p[L] == '=') {
			const char *v = p + L + 1;
			size_t n = strcspn(v, " \n");
			snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), v);
			return buf;
		}
	return NULL;
}

/* The end Slurm gave task (job, index), from `scontrol show job J -o`.
 * False when Slurm has not settled it yet (still running or completing). */
static bool explain(struct batch_run *r, const char *job, const char *scontrol, long id, long index)
{
	char st[64] = "", why[256] = "", ec[32] = "", tl[64] = "", idx[32];
	snprintf(idx, sizeof idx, "%ld", index);
	const char *line = NULL;
	for (const char *p = scontrol; p && *p;) {
		const char *e = strchr(p, '\n');
		_cleanup_free_ char *l = xstrndup(p, e ? (size_t)(e - p) : strlen(p));
		char t[32];
		if (field(l, "ArrayTaskId", t, sizeof t) && !strcmp(t, idx)) {
			field(l, "JobState", st, sizeof st);
			field(l, "Reason", why, sizeof why);
			field(l, "ExitCode", ec, sizeof ec);
			field(l, "TimeLimit", tl, sizeof tl);
			line = p;
			break;
		}
		p = e ? e + 1 : NULL;
	}
	enum batch_state to = BATCH_FAILED;
	int code = -1;
	if (*ec) {
		int a = (int)strtol(ec, NULL, 10);
		const char *colon = strchr(ec, ':');
		int sig = colon ? (int)strtol(colon + 1, NULL, 10) : 0;
		code = sig ? 128 + sig : a;
	}
	_cleanup_free_ char *reason = NULL;
	if (!line)
		reason = xasprintf("Slurm no longer knows job %s_%ld (older than MinJobAge?)", job, index);
	else if (!strcmp(st, "CANCELLED")) {
		to = BATCH_CANCELLED;
		reason = xasprintf("cancelled by Slurm (scancel of job %s_%ld)", job, index);
	} else if (!strcmp(st, "TIMEOUT"))
		reason = xasprintf("timeout: Slurm killed job %s_%ld at its time limit (TimeLimit=%s)", job, index, tl);
	else if (!strcmp(st, "OUT_OF_MEMORY"))
		reason = xasprintf("out of memory: Slurm killed job %s_%ld", job, index);
	else if (!strcmp(st, "PENDING") || !strcmp(st, "RUNNING") || !strcmp(st, "CONFIGURING") ||
		 !strcmp(st, "COMPLETING"))
		return false; /* squeue and scontrol disagree for a moment: next time */
	else
		reason = xasprintf("Slurm ended job %s_%ld: JobState=%s Reason=%s ExitCode=%s (see %s/slurm/%s_%ld.out)",
				   job, index, st, why, ec, r->dir, job, index);
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(r->db,
			       "UPDATE tasks SET state = ?, reason = ?, exit_code = coalesce(?, exit_code), end = ? "
			       "WHERE id = ? AND (state IN ('queued', 'running') OR " KILLED_ROW ")",
			       -1, &s, NULL) != SQLITE_OK)
		return true;
	sqlite3_bind_text(s, 1, batch_state_name(to), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, reason, -1, SQLITE_STATIC);
	if (code >= 0)
		sqlite3_bind_int(s, 3, code);
	sqlite3_bind_double(s, 4, batch_now());
	sqlite3_bind_int64(s, 5, id);
	sqlite3_step(s);
	sqlite3_finalize(s);
	return true;
}

int slurm_refresh(struct batch_run *r, bool force, struct ferr *err)
{
	if (r->backend != BATCH_SLURM)
		return 0;
	/* at most once every SQUEUE_EVERY_S seconds, across processes */
	double now = batch_now();
	char t[64];
	snprintf(t, sizeof t, "%.3f", now);
	/* a read first: the driver asks 4 times a second, and a write
	 * transaction each time would take the journal's write lock from the
	 * array tasks recording their ends */
	if (!force) {
		_cleanup_free_ char *at = journal_meta_get(r->db, "squeue_at");
		if (at && strtod(at, NULL) > now - SQUEUE_EVERY_S)
			return 0;
	}
	journal_exec(r->db, "INSERT OR IGNORE INTO meta(key, value) VALUES('squeue_at', '0')", err);
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(r->db,
			       force ? "UPDATE meta SET value = ?1 WHERE key = 'squeue_at'"
				     : "UPDATE meta SET value = ?1 WHERE key = 'squeue_at' AND CAST(value AS REAL) <= ?2",
			       -1, &s, NULL) != SQLITE_OK)
		return journal_err(r->db, err, "meta");
	sqlite3_bind_text(s, 1, t, -1, SQLITE_STATIC);
	if (!force)
		sqlite3_bind_double(s, 2, now - SQUEUE_EVERY_S);
	sqlite3_step(s);
	sqlite3_finalize(s);
	if (sqlite3_changes(r->db) == 0)
		return 0;
	_cleanup_json_ json_t *jobs = jobs_of(r);
	if (!json_array_size(jobs))
		return 0;
	struct dstr list = { 0 };
	for (size_t i = 0; i < json_array_size(jobs); i++)
		dstr_printf(&list, "%s%s", i ? "," : "", json_string_value(json_array_get(jobs, i)));
	char *argv[] = { "squeue", "-h", "-r", "-j", list.buf, "-o", "%i %T", NULL };
	_cleanup_free_ char *q = NULL;
	int st = run_cmd(argv, &q);
	dstr_free(&list);
	/* squeue -j of jobs that all ended: "Invalid job id specified", exit 1 */
	if (st != 0 && !(q && strstr(q, "Invalid job id")))
		return 0; /* unreachable for now: the journal stands */
	/* rows Slurm no longer runs, array job by array job */
	sqlite3_stmt *rows = NULL;
	if (sqlite3_prepare_v2(r->db,
			       "SELECT id, slurm_job, slurm_index, state = 'failed' FROM tasks WHERE slurm_job IS NOT NULL AND "
			       "(state IN ('queued', 'running') OR " KILLED_ROW ") ORDER BY slurm_job",
			       -1, &rows, NULL) != SQLITE_OK)
		return journal_err(r->db, err, "read");
	_cleanup_free_ char *shown_job = NULL;
	_cleanup_free_ char *shown = NULL;
	int unsettled = 0;
	while (sqlite3_step(rows) == SQLITE_ROW) {
		long id = (long)sqlite3_column_int64(rows, 0);
		const char *job = (const char *)sqlite3_column_text(rows, 1);
		long index = (long)sqlite3_column_int64(rows, 2);
		bool killed = sqlite3_column_int(rows, 3);
		char key[96];
		snprintf(key, sizeof key, "%s_%ld ", job, index);
		bool active = false;
		for (const char *p = q; p && (p = strstr(p, key)); p++)
			if (p == q || p[-1] == '\n') {
				active = true;
				break;
			}
		if (active) {
			unsettled += killed;
			continue;
		}
		if (!shown_job || strcmp(shown_job, job)) {
			free(shown_job);
			free(shown);
			shown_job = xstrdup(job);
			char *sargv[] = { "scontrol", "show", "job", "-o", shown_job, NULL };
			if (run_cmd(sargv, &shown) != 0) {
				free(shown);
				shown = xstrdup("");
			}
		}
		if (!explain(r, job, shown, id, index))
			unsettled += killed;
	}
	sqlite3_finalize(rows);
	return unsettled;
}

int batch_refresh(struct batch_run *r, struct ferr *err)
{
	return slurm_refresh(r, false, err) < 0 ? -1 : 0;
}

int batch_refresh_now(struct batch_run *r, struct ferr *err)
{
	/* A tool killed at the time limit ends before its job does: run-task
	 * records "exit code 143" while Slurm is still completing the job,
	 * and only then says TIMEOUT. Wait for that, a bounded while. */
	for (int i = 0;; i++) {
		int n = slurm_refresh(r, true, err);
		if (n <= 0 || i == SETTLE_WAIT_S)
			return n < 0 ? -1 : 0;
		sleep(1);
	}
}

int slurm_cancel(struct batch_run *r, struct ferr *err)
{
	_cleanup_json_ json_t *jobs = jobs_of(r);
	if (!json_array_size(jobs))
		return 0;
	_cleanup_strv_ char **argv = xcalloc(1, sizeof *argv);
	strv_push(&argv, "scancel");
	for (size_t i = 0; i < json_array_size(jobs); i++)
		strv_push(&argv, json_string_value(json_array_get(jobs, i)));
	_cleanup_free_ char *out = NULL;
	int st = run_cmd(argv, &out);
	if (st == 127 || st < 0)
		return ferr_setc(err, FERR_NOTFOUND, 0, "Slurm: scancel not found");
	/* "already completed" for arrays that ended is fine */
	return 0;
}

int slurm_drive(struct batch_run *r, const struct batch_drive_opts *d, struct ferr *err)
{
	/* what an earlier submission left: let Slurm say what ended, then
	 * resubmit what has not succeeded and is not queued or running */
	if (slurm_refresh(r, true, err) < 0)
		return -1;
	if (journal_exec(r->db, "UPDATE tasks SET state = 'pending' WHERE state IN ('failed', 'cancelled')", err) < 0)
		return -1;
	if (submit_pending(r, err) < 0)
		return -1;
	batch_emit_progress(r, d, true);
	if (d->submit_only)
		return 0;
	for (;;) {
		if (d->stop && *d->stop) {
			if (batch_cancel(r, err) < 0)
				return -1;
			break;
		}
		struct batch_counts c;
		if (batch_counts(r, &c, err) < 0)
			return -1;
		if (!c.n[BATCH_PENDING] && !c.n[BATCH_QUEUED] && !c.n[BATCH_RUNNING]) {
			if (batch_refresh_now(r, err) < 0)
				return -1;
			break;
		}
		struct timespec ts = { 0, 250 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (slurm_refresh(r, false, err) < 0)
			return -1;
		batch_emit_progress(r, d, false);
	}
	batch_emit_progress(r, d, true);
	return 0;
}
