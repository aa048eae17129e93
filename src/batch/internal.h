/* Internal to src/batch: the journal (journal.c), the local pool (local.c),
 * Slurm (slurm.c), the task itself (task.c). */
#pragma once

#include <stdint.h>

#include "base/sqlitelib.h" /* <sqlite3.h>, loaded on first use */
#include "batch/batch.h"

struct batch_run {
	char *dir;            /* absolute */
	sqlite3 *db;
	const char *mode;     /* "wal" | "delete" */
	json_t *desc;
	char *desc_arg;
	json_t *opts;         /* the options, as stored in meta */
	long ntasks;
	enum batch_backend backend;
	int driver_lock;      /* fd holding RUN/driver.lock while we drive, else -1 */
	json_t *prepared;     /* local: the invocation of the task about to be forked */
	long prepared_index;
};

/* journal.c */
int journal_create(const char *path, const char *mode, sqlite3 **db, struct ferr *err);
int journal_open(const char *path, sqlite3 **db, const char **mode, struct ferr *err);
int journal_exec(sqlite3 *db, const char *sql, struct ferr *err);
int journal_meta_set(sqlite3 *db, const char *key, const char *value, struct ferr *err);
char *journal_meta_get(sqlite3 *db, const char *key); /* malloc'd or NULL */
int journal_set_state(sqlite3 *db, long id, enum batch_state st, const char *reason, struct ferr *err);
/* 0 ok, <0 on error: "delete" for the network file systems (NFS, SMB,
 * Lustre, GPFS, ...), where WAL's shared memory does not work; else "wal" */
const char *journal_mode_for(const char *dir);
bool journal_fs_is_network(int64_t magic);
int journal_err(sqlite3 *db, struct ferr *err, const char *what);
double batch_now(void);

/* task.c */
struct task_result {
	enum batch_state st;
	int code;
	char *reason;
	json_t *outputs;
	int attempts;
	double start, end;
};
void task_result_clear(struct task_result *res);
int task_result_write(const struct batch_run *r, long index, const struct task_result *res);
int task_result_read(const struct batch_run *r, long index, struct task_result *res);
int task_result_read_fd(int fd, struct task_result *res);
void task_result_unlink(const struct batch_run *r, long index);
int task_result_record(struct batch_run *r, long index, const struct task_result *res, struct ferr *err);
int task_prepare(struct batch_run *r, long index, struct ferr *err);
int task_worker(struct batch_run *r, long index, bool (*deliver)(const char *text, void *ud), void *ud);
int task_pipe(int fd[2]);
int task_result_parse(const char *text, size_t len, struct task_result *res);
int task_lock(const struct batch_run *r, long index, bool wait); /* fd or -1 (held by another) */
bool task_locked(const struct batch_run *r, long index);

/* A task whose tool died of SIGTERM or SIGKILL and that run-task recorded
 * as a plain failure: Slurm's time limit or scancel may have sent it (the
 * runtime passes the signal on to the tool), which scontrol tells (a SQL
 * condition on a row of tasks; slurm.c, and batch_cancel in run.c). */
#define KILLED_ROW "(state = 'failed' AND exit_code IN (137, 143) AND reason LIKE 'exit code%')"

/* local.c / slurm.c */
int local_drive(struct batch_run *r, const struct batch_drive_opts *d, struct ferr *err);
int slurm_drive(struct batch_run *r, const struct batch_drive_opts *d, struct ferr *err);
int slurm_cancel(struct batch_run *r, struct ferr *err);
/* Returns how many tasks recorded as killed by a signal Slurm has not
 * settled yet (their jobs still completing), or -1. */
int slurm_refresh(struct batch_run *r, bool force, struct ferr *err);
/* Before a Slurm run: Slurm answers, and the store and RUN are on file
 * systems the nodes share. */
int slurm_check(struct batch_run *r, struct ferr *err);
int slurm_precheck(const char *run_dir, char **config, struct ferr *err);

/* run.c */
void batch_emit_progress(struct batch_run *r, const struct batch_drive_opts *d, bool force);
