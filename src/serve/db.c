/* The server's state: one SQLite database in WAL mode (readers never wait
 * for the writer; a process killed mid-write loses no committed row), one
 * connection per thread of libmicrohttpd's pool. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/fs.h"
#include "serve/internal.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, admin INTEGER NOT NULL DEFAULT 0,"
	" pw TEXT NOT NULL, created INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS keys (hash TEXT PRIMARY KEY, user TEXT NOT NULL, created INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS keys_user ON keys(user);"
	"CREATE TABLE IF NOT EXISTS executions (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,"
	" user TEXT NOT NULL, name TEXT NOT NULL, pipeline TEXT NOT NULL, inputs TEXT NOT NULL,"
	" status TEXT NOT NULL, timeout INTEGER NOT NULL DEFAULT 0, submitted INTEGER NOT NULL,"
	" started INTEGER NOT NULL DEFAULT 0, ended INTEGER NOT NULL DEFAULT 0, results TEXT NOT NULL,"
	" vip INTEGER NOT NULL DEFAULT 0, error_code INTEGER NOT NULL DEFAULT 0, returned TEXT,"
	" study TEXT);"
	"CREATE INDEX IF NOT EXISTS executions_user ON executions(user, seq);";

int db_exec(sqlite3 *db, const char *sql, struct ferr *err)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		ferr_set(err, 0, "database: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static _Atomic uint64_t generation;

uint64_t db_generation(void)
{
	return generation;
}

/* Called by SQLite after each commit (WAL mode): the generation moves on,
 * then the WAL is checkpointed as SQLite's own hook would (it is replaced). */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	(void)arg;
	generation++;
	if (frames >= 1000)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

int db_open(const char *dbpath, sqlite3 **out, struct ferr *err)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		ferr_set(err, 0, "open %s: %s", dbpath, db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 10000);
	/* synchronous=NORMAL in WAL mode: a killed process loses nothing
	 * committed; only a power cut may lose the last transactions. */
	if (db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", err) < 0 ||
	    db_exec(db, schema, err) < 0) {
		sqlite3_close(db);
		return ferr_wrap(err, "%s", dbpath);
	}
	sqlite3_wal_hook(db, wal_hook, NULL);
	*out = db;
	return 0;
}

/* One connection per pool thread, closed when the thread ends. */
static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;

static __thread sqlite3_stmt *tl_stmt[8];
static __thread sqlite3 *tl_stmt_db;

static void tl_close(void *p)
{
	if (tl_stmt_db == p)
		for (int i = 0; i < 8; i++)
			sqlite3_finalize(tl_stmt[i]);
	tl_stmt_db = NULL;
	sqlite3_close(p);
}

static void tl_init(void)
{
	pthread_key_create(&tl_key, tl_close);
}

sqlite3 *db_get(struct srv *s, struct ferr *err)
{
	pthread_once(&tl_once, tl_init);
	sqlite3 *db = pthread_getspecific(tl_key);
	if (db)
		return db;
	if (db_open(s->dbpath, &db, err) < 0)
		return NULL;
	pthread_setspecific(tl_key, db);
	return db;
}

/* Prepared statements of this thread's connection, kept for the hot
 * paths (every request checks a key; pollers read one execution): a
 * statement is prepared once per thread, then reset and rebound. */
#define DB_SLOTS 8

sqlite3_stmt *db_cached(sqlite3 *db, int slot, const char *sql)
{
	if (slot < 0 || slot >= DB_SLOTS)
		return NULL;
	if (tl_stmt_db != db) {
		/* another connection (a new server in this thread): start over
		 * (the old statements belong to a closed connection) */
		memset(tl_stmt, 0, sizeof tl_stmt);
		tl_stmt_db = db;
	}
	if (!tl_stmt[slot] && sqlite3_prepare_v2(db, sql, -1, &tl_stmt[slot], NULL) != SQLITE_OK)
		return NULL;
	sqlite3_reset(tl_stmt[slot]);
	return tl_stmt[slot];
}
