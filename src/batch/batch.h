/* batch: many invocations of one Boutiques descriptor, run on a local pool
 * of workers or as Slurm job arrays, with the image staged once and every
 * task's state kept in a durable journal (SQLite) in the run directory.
 * doc/batch.md describes the run directory, the journal and its rules.
 *
 *   RUN/batch.db              the journal: one row per task (the truth)
 *   RUN/descriptor.json       the descriptor, as given
 *   RUN/tasks/<n>/            task n's working directory: invocation.json,
 *                             stdout, stderr, provenance.json, its outputs
 *   RUN/slurm/array.sh        the generated Slurm job script (slurm backend)
 *   RUN/driver.log            what a detached driver printed
 *
 * Tasks are numbered 0..N-1 in the order the inputs gave them.
 *
 * Callers (cli/, serve/) use this header only. The API only grows: new
 * fields go at the end of the option structs (zero them with = { 0 }), new
 * functions are added, none changes meaning. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#include "app/app.h"
#include "base/err.h"

enum batch_state {
	BATCH_PENDING = 0, /* not started (or to be started again) */
	BATCH_QUEUED,      /* submitted to Slurm, not started */
	BATCH_RUNNING,
	BATCH_SUCCEEDED,   /* the tool exited 0 and every required output exists */
	BATCH_FAILED,      /* non-zero exit, missing outputs, killed by Slurm (reason says why) */
	BATCH_CANCELLED,   /* stopped by Ctrl-C/SIGTERM, `batch cancel` or scancel */
	BATCH_NSTATES
};
const char *batch_state_name(enum batch_state s); /* "pending", ... */
int batch_state_parse(const char *name);          /* -1 when unknown */

enum batch_backend { BATCH_LOCAL = 0, BATCH_SLURM };
const char *batch_backend_name(enum batch_backend b);
int batch_backend_parse(const char *name); /* -1 when unknown */

/* ---- inputs: the tasks' invocations ---- */

struct batch_task_input {
	json_t *inv;  /* the invocation object (owned) */
	char *source; /* where it came from: "a.json", "rows.csv:4", "list.json[2]", "--expand[3]" */
};

struct batch_inputs {
	struct batch_task_input *v;
	size_t n, cap;
};

struct batch_input_opts {
	const char *list_sep; /* CSV/TSV: separator of a list input's items (default ";") */
};

/* Add the tasks that PATH holds: an invocation JSON file (an object), a
 * directory of *.json invocations (sorted by name), a JSON array of
 * objects, a JSON Lines file, or a CSV/TSV table (by extension .csv/.tsv:
 * the header row names input ids, each row is one task, values typed from
 * the descriptor). Problems with a given task (a bad row, a value of the
 * wrong type) go to probs with the task's source as path, and the task is
 * left out; <0 with err only when PATH itself cannot be read or parsed. */
int batch_inputs_add_path(struct batch_inputs *in, const json_t *desc, const char *path,
			  const struct batch_input_opts *o, struct app_problems *probs, struct ferr *err);
/* Add one invocation (a new reference is taken) with its source. */
void batch_inputs_add(struct batch_inputs *in, json_t *inv, const char *source);
/* VIP's iteration (MoteurLite): the list-valued values of inputs that are
 * not lists in the descriptor are iterated; the ids in the descriptor's
 * custom."vip:dot" pairwise (equal lengths, else an error), all others as
 * a cartesian product with them. A list input (list: true) is iterated
 * when its value is a list of lists. One task per combination. */
int batch_inputs_expand(struct batch_inputs *in, const json_t *desc, const json_t *inv, const char *source,
			struct ferr *err);
void batch_inputs_free(struct batch_inputs *in);

/* Validate every task as `ferry app launch` would before it runs (the
 * invocation against the descriptor, File inputs present). One problem per
 * invalid task: path = its source, msg = the reason. Returns the count. */
size_t batch_validate(const json_t *desc, const struct batch_inputs *in, struct app_problems *out);

/* ---- options, fixed when the run is created and kept in the journal ---- */

struct batch_opts {
	enum batch_backend backend;
	unsigned jobs;            /* local: workers (0: the number of cores) */
	unsigned retries;         /* re-runs of a failed task */
	const int *no_retry_codes; /* exit codes never retried */
	size_t n_no_retry;
	bool insecure;            /* the image's registry over plain HTTP / unverified TLS */
	bool no_container;        /* run on the host (as `app launch --no-container`) */
	const struct app_bind *binds; /* -v HOST:CONT[:ro] for every task */
	size_t nbinds;
	/* slurm */
	unsigned max_running;     /* --array=...%M (0: no limit) */
	const char *partition, *account;
	const char *const *slurm_opts; /* extra sbatch arguments, NULL-terminated, or NULL */
	const char *cpus, *mem, *time; /* override suggested-resources (NULL: the descriptor's) */
	const char *ferry_exe;    /* the ferry that array tasks run (NULL: this executable) */
};

/* ---- a run ---- */

struct batch_run; /* an open run directory and its journal */

/* Create RUN (which must not exist; its parent must be writable) from a
 * descriptor and inputs: every task is validated first, and when any is
 * invalid nothing is created, problems lists them all and the return is
 * <0 with err FERR_INVALID. desc_arg is the descriptor as named on the
 * command line (provenance records show it). */
int batch_create(const char *run_dir, const char *desc_arg, const json_t *desc,
		 const struct batch_inputs *in, const struct batch_opts *opts, struct app_problems *problems,
		 struct batch_run **out, struct ferr *err);
int batch_open(const char *run_dir, struct batch_run **out, struct ferr *err);
void batch_close(struct batch_run *r);
const char *batch_run_dir(const struct batch_run *r);
enum batch_backend batch_run_backend(const struct batch_run *r);
long batch_task_count(const struct batch_run *r);
const json_t *batch_run_descriptor(const struct batch_run *r);
/* The journal mode chosen for the file system RUN is on ("wal" or
 * "delete": WAL needs shared memory, which NFS and other network file
 * systems do not give; see doc/batch.md). */
const char *batch_journal_mode(const struct batch_run *r);

/* The default run directory: ./ferry-batch-YYYYmmdd-HHMMSS (malloc'd). */
char *batch_default_run_dir(void);

/* ---- driving it ---- */

struct batch_progress {
	long total, done, succeeded, failed, cancelled, running;
};

struct batch_drive_opts {
	/* set (from a signal handler, another thread) to stop: running tasks
	 * are stopped and recorded cancelled */
	volatile int *stop;
	/* called after each change (may be NULL) */
	void (*progress)(const struct batch_progress *p, void *ud);
	void *ud;
	bool submit_only; /* slurm: return once submitted, without waiting */
	bool quiet;       /* no lines from the driver on stderr (a server's) */
};

/* Stage the image (pull it once into the store, or find it stored or in
 * FERRY_STORE_PATH), then run every task that has not succeeded: local,
 * -j workers, each task the same launch as `ferry app launch` with its
 * record in tasks/<n>/; slurm, one or more `sbatch --array`s of `ferry
 * batch run-task`. Blocks until every task is finished (or, slurm with
 * submit_only, submitted). A task that was running when an earlier driver
 * was killed is run again; one that succeeded never is. Only one driver
 * runs a run at a time (a lock in RUN): a second gets FERR_GENERIC "is
 * being driven by pid N". Returns 0 when it ran to the end (whatever the
 * tasks' states), <0 with err when it could not. */
int batch_drive(struct batch_run *r, const struct batch_drive_opts *d, struct ferr *err);

/* A multithreaded caller (a server) should not call batch_drive() in a
 * thread: the local backend forks its workers from the calling process,
 * and a fork of a multithreaded process may only exec. It should start a
 * driver process instead: */
/* Non-blocking start, for a server: a detached driver process (a new
 * session; `ferry batch resume RUN` of ferry_exe, NULL: this executable)
 * that outlives the caller, its output in RUN/driver.log. *pid is its
 * pid (the caller should reap it with waitpid or ignore SIGCHLD). */
int batch_spawn_driver(const char *run_dir, const char *ferry_exe, pid_t *pid, struct ferr *err);

/* Run task `index` now, in this process: the body of a local worker and of
 * a Slurm array task (`ferry batch run-task RUN INDEX`). Marks it running
 * in the journal, runs it (up to 1 + retries attempts), records the end. */
int batch_run_task(struct batch_run *r, long index, struct ferr *err);

/* Stop a run: signal its driver (which stops the running tasks and records
 * them cancelled), scancel its Slurm arrays, mark the tasks not started as
 * cancelled. A later drive (`resume`) runs them again. */
int batch_cancel(struct batch_run *r, struct ferr *err);

/* Is a driver running this run now? (*pid: its pid, when one is) */
bool batch_driver_alive(struct batch_run *r, pid_t *pid);

/* Slurm: bring the journal up to date with the cluster for tasks that
 * Slurm ended without them recording it (time limit, out of memory,
 * scancel), with the reason from scontrol. squeue runs at most once every
 * few seconds, whoever asks (the time of the last call is in the journal). */
int batch_refresh(struct batch_run *r, struct ferr *err);
/* The same now, whenever the last one was (once, when a run has ended, so
 * that its last tasks' reasons are Slurm's); waits, at most a minute, for
 * the jobs of tasks killed by a signal to finish completing. */
int batch_refresh_now(struct batch_run *r, struct ferr *err);

/* ---- reading it ---- */

struct batch_task {
	long index;
	enum batch_state state;
	int attempt;       /* attempts started (0: none yet) */
	int exit_code;     /* -1: none */
	double start, end; /* Unix times, 0: not yet */
	char *host;        /* where it ran, or NULL */
	char *slurm_job;   /* array job id, or NULL */
	long slurm_index;  /* array index, -1: none */
	char *reason;      /* why it failed or was cancelled, or NULL */
	char *source;      /* where its invocation came from */
};
void batch_task_clear(struct batch_task *t);

int batch_task_get(struct batch_run *r, long index, struct batch_task *t, struct ferr *err);
/* Every task (state < 0) or those in one state, by index. cb returning
 * non-zero stops the walk (and is returned). */
int batch_task_foreach(struct batch_run *r, int state, int (*cb)(const struct batch_task *t, void *ud),
		       void *ud, struct ferr *err);
/* task n's directory, RUN/tasks/<n> (malloc'd) */
char *batch_task_dir(const struct batch_run *r, long index);
/* The task's invocation (new reference). */
json_t *batch_task_invocation(struct batch_run *r, long index, struct ferr *err);
/* The task's output files found after its last run: { id: absolute path }
 * (new reference; an empty object when it has not run). */
json_t *batch_task_outputs(struct batch_run *r, long index, struct ferr *err);

struct batch_counts {
	long n[BATCH_NSTATES];
	long total;
	double median_s, p95_s; /* durations of the finished tasks (0: none) */
};
int batch_counts(struct batch_run *r, struct batch_counts *c, struct ferr *err);
/* Everything `ferry batch status --json` prints: counts by state, the
 * failed tasks (index, exit code, the descriptor's error-codes description,
 * reason), durations (new reference). max_failed bounds the list (0: all). */
json_t *batch_status_json(struct batch_run *r, size_t max_failed, struct ferr *err);
