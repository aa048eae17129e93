/* libsqlite3, loaded with dlopen() the first time ferry opens a database
 * (the journal of `ferry batch`, the state of `ferry serve`).
 *
 * Why: linked normally, the 1.4 MB library is mapped and relocated at
 * every start of ferry, `ferry exec` and `ferry version` included, which
 * never open a database (tests/cli/startup-libs.bats).
 *
 * Include this header instead of <sqlite3.h> and call sqlitelib_load()
 * before the first sqlite3_* call (the code calling sqlite3_* is otherwise
 * unchanged): every name below is turned into a call through a pointer
 * filled by dlsym(). A function missing from the list fails to link
 * (an undefined sqlite3_... symbol): add it here. */
#pragma once

#include <sqlite3.h>

#include "base/err.h"

/* Idempotent and thread-safe; fails with a hint naming the package when
 * the library or a symbol is missing. */
int sqlitelib_load(struct ferr *err);

#define SQLITELIB_FUNCS(X)                                                                                    \
	X(sqlite3_bind_double)                                                                                \
	X(sqlite3_bind_int)                                                                                   \
	X(sqlite3_bind_int64)                                                                                 \
	X(sqlite3_bind_null)                                                                                  \
	X(sqlite3_bind_text)                                                                                  \
	X(sqlite3_busy_timeout)                                                                               \
	X(sqlite3_changes)                                                                                    \
	X(sqlite3_close)                                                                                      \
	X(sqlite3_column_double)                                                                              \
	X(sqlite3_column_int)                                                                                 \
	X(sqlite3_column_int64)                                                                               \
	X(sqlite3_column_text)                                                                                \
	X(sqlite3_column_type)                                                                                \
	X(sqlite3_errmsg)                                                                                     \
	X(sqlite3_errstr)                                                                                     \
	X(sqlite3_exec)                                                                                       \
	X(sqlite3_finalize)                                                                                   \
	X(sqlite3_free)                                                                                       \
	X(sqlite3_last_insert_rowid)                                                                          \
	X(sqlite3_open_v2)                                                                                    \
	X(sqlite3_prepare_v2)                                                                                 \
	X(sqlite3_reset)                                                                                      \
	X(sqlite3_step)                                                                                        \
	X(sqlite3_wal_checkpoint_v2)                                                                          \
	X(sqlite3_wal_hook)

#define SQLITELIB_DECLARE(f) extern __typeof__(f) *sqlitelib_##f;
SQLITELIB_FUNCS(SQLITELIB_DECLARE)
#undef SQLITELIB_DECLARE

#ifndef SQLITELIB_IMPL
/* From here on, every use calls through the loaded pointer. */
#undef sqlite3_bind_double
#define sqlite3_bind_double (*sqlitelib_sqlite3_bind_double)
#undef sqlite3_bind_int
#define sqlite3_bind_int (*sqlitelib_sqlite3_bind_int)
#undef sqlite3_bind_int64
#define sqlite3_bind_int64 (*sqlitelib_sqlite3_bind_int64)
#undef sqlite3_bind_null
#define sqlite3_bind_null (*sqlitelib_sqlite3_bind_null)
#undef sqlite3_bind_text
#define sqlite3_bind_text (*sqlitelib_sqlite3_bind_text)
#undef sqlite3_busy_timeout
#define sqlite3_busy_timeout (*sqlitelib_sqlite3_busy_timeout)
#undef sqlite3_changes
#define sqlite3_changes (*sqlitelib_sqlite3_changes)
#undef sqlite3_close
#define sqlite3_close (*sqlitelib_sqlite3_close)
#undef sqlite3_column_double
#define sqlite3_column_double (*sqlitelib_sqlite3_column_double)
#undef sqlite3_column_int
#define sqlite3_column_int (*sqlitelib_sqlite3_column_int)
#undef sqlite3_column_int64
#define sqlite3_column_int64 (*sqlitelib_sqlite3_column_int64)
#undef sqlite3_column_text
#define sqlite3_column_text (*sqlitelib_sqlite3_column_text)
#undef sqlite3_column_type
#define sqlite3_column_type (*sqlitelib_sqlite3_column_type)
#undef sqlite3_errmsg
#define sqlite3_errmsg (*sqlitelib_sqlite3_errmsg)
#undef sqlite3_errstr
#define sqlite3_errstr (*sqlitelib_sqlite3_errstr)
#undef sqlite3_exec
#define sqlite3_exec (*sqlitelib_sqlite3_exec)
#undef sqlite3_finalize
#define sqlite3_finalize (*sqlitelib_sqlite3_finalize)
#undef sqlite3_free
#define sqlite3_free (*sqlitelib_sqlite3_free)
#undef sqlite3_last_insert_rowid
#define sqlite3_last_insert_rowid (*sqlitelib_sqlite3_last_insert_rowid)
#undef sqlite3_open_v2
#define sqlite3_open_v2 (*sqlitelib_sqlite3_open_v2)
#undef sqlite3_prepare_v2
#define sqlite3_prepare_v2 (*sqlitelib_sqlite3_prepare_v2)
#undef sqlite3_reset
#define sqlite3_reset (*sqlitelib_sqlite3_reset)
#undef sqlite3_step
#define sqlite3_step (*sqlitelib_sqlite3_step)
#undef sqlite3_wal_checkpoint_v2
#define sqlite3_wal_checkpoint_v2 (*sqlitelib_sqlite3_wal_checkpoint_v2)
#undef sqlite3_wal_hook
#define sqlite3_wal_hook (*sqlitelib_sqlite3_wal_hook)
#endif
