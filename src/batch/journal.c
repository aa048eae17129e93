/* The journal: RUN/batch.db, one row per task. Every state change is one
 * committed transaction, so a driver or worker killed at any moment leaves
 * each row in the last state it reached; a row left "running" by a dead
 * process is found by its task lock being free (task.c) and run again.
 *
 * Journal mode: WAL where the file system is local (readers never block
 * the workers' writes), the rollback journal ("delete") on network file
 * systems: WAL keeps its index in a shared-memory file (-shm) mmap'd by
 * every connection, which is only coherent between processes of one host,
 * so on NFS (or with tasks on several nodes) WAL would corrupt the
 * database (sqlite.org/wal.html, "WAL does not work over a network
 * filesystem"). The file system is recognised by statfs's f_type. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/path.h"

#include "base/str.h"
#include "batch/internal.h"

static const char schema[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
	"CREATE TABLE tasks("
	" id INTEGER PRIMARY KEY,"
	" state TEXT NOT NULL DEFAULT 'pending',"
	" attempt INTEGER NOT NULL DEFAULT 0,"
	" exit_code INTEGER,"
	" start REAL, end REAL,"
	" host TEXT, pid INTEGER,"
	" slurm_job TEXT, slurm_index INTEGER,"
	" reason TEXT,"
	" source TEXT,"
	" outputs TEXT,"
	" invocation TEXT NOT NULL);"
	"CREATE INDEX tasks_state ON tasks(state);";

double batch_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int journal_err(sqlite3 *db, struct ferr *err, const char *what)
{
	return ferr_set(err, 0, "journal: %s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

bool journal_fs_is_network(int64_t magic)
{
	static const int64_t net[] = {
		0x6969,     /* NFS */
		0xFF534D42, /* CIFS */
		0xFE534D42, /* SMB2 */
		0x517B,     /* SMB */
		0x0BD00BD0, /* Lustre */
		0x47504653, /* GPFS */
		0x19830326, /* BeeGFS */
		0x00C36400, /* Ceph */
		0x01021997, /* 9p */
		0x65735546, /* FUSE (sshfs, glusterfs, CVMFS ...: cannot tell) */
		0x013111A8, /* IBRIX */
		0xAAD7AAEA, /* PanFS */
		0x6B414653, /* AFS (kAFS) */
		0x5346414F, /* OpenAFS */
	};
	for (size_t i = 0; i < sizeof net / sizeof net[0]; i++)
		if (magic == net[i])
			return true;
	return false;
}

const char *journal_mode_for(const char *dir)
{
	const char *force = getenv("FERRY_BATCH_JOURNAL_MODE"); /* "wal" | "delete" (doc/batch.md) */
	if (force && (!strcmp(force, "wal") || !strcmp(force, "delete")))
		return !strcmp(force, "wal") ? "wal" : "delete";
	struct statfs sf;
	if (statfs(dir, &sf) < 0)
		return "delete"; /* the safe one */
	return journal_fs_is_network((int64_t)(uint32_t)sf.f_type) ? "delete" : "wal";
}

int journal_exec(sqlite3 *db, const char *sql, struct ferr *err)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		ferr_set(err, 0, "journal: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int setup(sqlite3 *db, const char *mode, struct ferr *err)
{
	/* a worker waits for another's commit rather than failing */
	sqlite3_busy_timeout(db, 60000);
	/* WAL with synchronous=NORMAL survives any process crash (a commit is
	 * in the WAL file before the call returns); only a power loss may lose
	 * the last commits. The rollback journal needs FULL for the same. */
	char sql[128];
	snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s; PRAGMA synchronous=%s;", mode,
		 !strcmp(mode, "wal") ? "NORMAL" : "FULL");
	return journal_exec(db, sql, err);
}

int journal_create(const char *path, const char *mode, sqlite3 **out, struct ferr *err)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE,
			    NULL) != SQLITE_OK) {
		journal_err(db, err, path);
		sqlite3_close(db);
		return -1;
	}
	if (setup(db, mode, err) < 0 || journal_exec(db, schema, err) < 0) {
		sqlite3_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

int journal_open(const char *path, sqlite3 **out, const char **mode, struct ferr *err)
{
	sqlite3 *db = NULL;
	/* every command writes (a reader of a WAL journal too: its -shm), so
	 * another user's run fails here with a line that says so, not with
	 * SQLite's "unable to open database file" */
	_cleanup_free_ char *dir = path_dirname(path);
	if (access(path, R_OK | W_OK) < 0 || access(dir, W_OK | X_OK) < 0)
		return ferr_setc(err, FERR_PERM, errno, "journal %s: you cannot write it", path),
		       ferr_hint(err, "a run is driven and read by the user who submitted it");
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		ferr_setc(err, FERR_NOTFOUND, 0, "journal %s: %s", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 60000);
	char *m = journal_meta_get(db, "journal_mode");
	if (!m) {
		ferr_setc(err, FERR_INVALID, 0, "journal %s: not a ferry batch journal", path);
		sqlite3_close(db);
		return -1;
	}
	*mode = !strcmp(m, "wal") ? "wal" : "delete";
	free(m);
	if (setup(db, *mode, err) < 0) {
		sqlite3_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

int journal_meta_set(sqlite3 *db, const char *key, const char *value, struct ferr *err)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", -1, &s, NULL) !=
	    SQLITE_OK)
		return journal_err(db, err, "meta");
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : journal_err(db, err, key);
}

char *journal_meta_get(sqlite3 *db, const char *key)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &s, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	char *v = NULL;
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		v = xstrdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return v;
}

int journal_set_state(sqlite3 *db, long id, enum batch_state st, const char *reason, struct ferr *err)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(db, "UPDATE tasks SET state = ?, reason = coalesce(?, reason) WHERE id = ?", -1, &s,
			       NULL) != SQLITE_OK)
		return journal_err(db, err, "update");
	sqlite3_bind_text(s, 1, batch_state_name(st), -1, SQLITE_STATIC);
	if (reason)
		sqlite3_bind_text(s, 2, reason, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, id);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : journal_err(db, err, "update");
}
