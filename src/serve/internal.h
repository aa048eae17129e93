/* serve/ internals shared by its files (not part of the public face). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "base/err.h"
#include "base/str.h"
#include "serve/dl.h"
#include "serve/serve.h"

/* ---- the stable error-code table (GET /platform publishes it) ---- */
enum serve_code {
	SC_BAD_JSON = 40001,      /* body is not the JSON expected */
	SC_BAD_VALUE = 40002,     /* a field of the wrong type or value */
	SC_BAD_ACTION = 40003,    /* getPath without a known action */
	SC_INIT_FAILED = 40004,   /* inputValues refused: InitializationFailed */
	SC_NO_PARENT = 40405,     /* upload: parent directory missing */
	SC_NOT_DIR = 40006,       /* list on a file */
	SC_IS_DIR = 40007,        /* md5 on a directory, file upload onto a directory */
	SC_BAD_UPLOAD = 40008,    /* carmin+json upload: bad base64 or archive */
	SC_READ_ONLY = 40009,     /* updateExecution of a field that cannot change */
	SC_BAD_PROPERTY = 40010,  /* listPipelines filter on an unsupported property */
	SC_BAD_TIMEOUT = 40011,   /* timeout out of range */
	SC_NOT_TERMINAL = 40012,  /* results asked before the execution ended */
	SC_BAD_KEY = 40101,       /* API key missing or unknown (the VIP client tests this number) */
	SC_BAD_LOGIN = 40102,     /* wrong user name or password */
	SC_ESCAPE = 40301,        /* path resolves outside the caller's tree */
	SC_NO_PATH = 40401,       /* no such path in the caller's tree */
	SC_NO_EXEC = 40402,       /* no such execution (of the caller's) */
	SC_NO_PIPELINE = 40403,   /* no such pipeline */
	SC_NO_ROUTE = 40404,      /* no such operation */
	SC_METHOD = 40501,        /* method not allowed on this path */
	SC_EXISTS = 40901,        /* path exists */
	SC_STATE = 40902,         /* execution not in a state for that */
	SC_TOO_LARGE = 41301,     /* body over --max-upload */
	SC_RATE = 42901,          /* too many failed authentications */
	SC_INTERNAL = 50001,      /* the server failed */
	SC_LAUNCH = 50002,        /* the execution could not be started */
	SC_TIMEOUT_KILL = 50003,  /* Execution.errorCode: killed at its timeout */
	SC_UNAVAILABLE = 50301,   /* executions not available (no batch layer) */
};
/* [{errorCode, errorMessage}] of every code above (new reference). */
json_t *serve_code_table(void);

/* ---- pipelines ---- */
struct pipeline {
	char *id;        /* "<name>/<tool-version>" as VIP names them (contains '/') */
	char *path;      /* descriptor file */
	char *text;      /* descriptor as read (served verbatim) */
	json_t *desc;    /* parsed */
	json_t *carmin;  /* the CARMIN Pipeline */
};
struct pipelines {
	struct pipeline *v;
	size_t n;
	char **warnings; /* descriptors left out, one line each */
	bool host_tools;
};
int pipelines_load(struct pipelines *pl, const char *dir, const char *catalog, bool host_tools, struct ferr *err);
void pipelines_free(struct pipelines *pl);
const struct pipeline *pipelines_find(const struct pipelines *pl, const char *id);
bool pipelines_has_property(const struct pipelines *pl, const char *prop);
json_t *pipelines_properties(const struct pipelines *pl); /* supportedPipelineProperties */

/* ---- the server ---- */
struct ratelimit;
struct execs;

struct srv {
	struct serve_opts o;
	char *state, *data, *runs, *dbpath;
	char *authgen; /* STATE/auth.gen: its stamp tells the key cache to start over */
	struct pipelines pl;
	struct MHD_Daemon *d;
	struct ratelimit *rl;
	struct execs *ex;
	bool tls;
	uint16_t port;
	volatile sig_atomic_t *stop;
};

/* One request. */
struct req {
	struct srv *s;
	struct MHD_Connection *c;
	char method[8];
	char *url;            /* decoded path, "/rest" prefix removed */
	char user[65];        /* authenticated user, "" when none */
	bool admin;
	bool responded;
	bool begun;           /* route_begin ran */
	unsigned status;      /* for the log */
	/* body */
	int body;             /* BODY_NONE, BODY_MEM, BODY_FILE */
	struct dstr mem;
	size_t mem_max;
	uint64_t received;
	bool too_big;
	int up_fd, up_dir;    /* upload: temp file and its directory */
	char *up_leaf, *up_tmpname; /* final name; the fallback temp name when O_TMPFILE is refused */
	char *up_platform;    /* platform path of the upload (Location) */
	bool up_vip;
	int up_errno;
	char *up_buf;         /* raw upload: bytes not written yet (UPLOAD_BUF of them at most) */
	size_t up_len;
	void (*finish)(struct req *r); /* called when the whole body is in */
};
enum { BODY_NONE = 0, BODY_MEM, BODY_FILE };

/* Responses: each queues one on r->c and marks r responded. */
void reply_json(struct req *r, unsigned status, json_t *j); /* steals j */
void reply_text(struct req *r, unsigned status, const char *ctype, const char *text, size_t len);
void reply_empty(struct req *r, unsigned status);
void reply_fd(struct req *r, int fd, uint64_t size, const char *ctype, const char *filename); /* takes fd */
void reply_pipe(struct req *r, int fd, const char *ctype, const char *filename);             /* takes fd */
void reply_error(struct req *r, unsigned status, int code, const char *fmt, ...) FERR_PRINTF(4, 5);
/* The envelope with errorDetails (steals details). */
void reply_error_details(struct req *r, unsigned status, int code, json_t *details, const char *fmt, ...)
	FERR_PRINTF(5, 6);
void reply_add_header(struct req *r, const char *name, const char *value); /* to the next reply */
const char *req_header(struct req *r, const char *name);
const char *req_query(struct req *r, const char *name);
/* "http[s]://host:port" this request reached (for Location). Caller frees. */
char *req_base_url(struct req *r);
/* The body parsed as a JSON object, or NULL after replying 400. */
json_t *req_json_body(struct req *r);

int serve_http_start(struct srv *s, struct ferr *err);

/* ---- state (db.c) ---- */
/* This thread's connection to the server's database (opened on first use). */
sqlite3 *db_get(struct srv *s, struct ferr *err);
int db_open(const char *dbpath, sqlite3 **out, struct ferr *err);
int db_exec(sqlite3 *db, const char *sql, struct ferr *err);
/* A statement of this thread's connection, prepared once (slot: a fixed
 * number per query), reset; do not finalize it. */
sqlite3_stmt *db_cached(sqlite3 *db, int slot, const char *sql);
enum { DB_SLOT_KEY = 0, DB_SLOT_EXEC = 1 };
/* Bumped after each commit of this process (every connection db_open
 * opened): what was read from the database before may have changed. */
uint64_t db_generation(void);

/* ---- accounts (auth.c) ---- */
int auth_check_name(const char *name, struct ferr *err);
/* The user a key belongs to (user: 65 bytes). 1 found, 0 not, <0 error. */
int auth_key_user(sqlite3 *db, const char *key, char *user, bool *admin, struct ferr *err);
/* The same through the server's key cache (see auth.c). */
int auth_key_user_cached(struct srv *s, const char *key, char *user, bool *admin, struct ferr *err);
#define AUTH_GEN_FILE "auth.gen" /* in STATE: rewritten by every account change */
/* POST /authenticate and the key check of every other request. */
void route_authenticate(struct req *r);
int ratelimit_new(struct srv *s);
void ratelimit_free(struct srv *s);
char *auth_new_key(sqlite3 *db, const char *user, struct ferr *err);

/* ---- the path API (paths.c, archive.c) ---- */
void route_path_begin(struct req *r, const char *p); /* PUT: decides how the body is taken */
void route_path(struct req *r, const char *p);       /* GET, DELETE, and PUT once the body is in */
void upload_feed(struct req *r, const char *data, size_t n);
/* The caller's tree (O_PATH|O_DIRECTORY), created on first use. */
int user_tree_fd(struct srv *s, const char *user, struct ferr *err);
/* openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) of rel ("" = root itself). */
int beneath_open(int root, const char *rel, int flags, mode_t mode);
/* Map a platform path ("/alice/x", "/vip/Home/x") to the part below the
 * caller's tree ("x"). 0, or -1 (not the caller's namespace: 404). */
int platform_to_rel(const char *user, const char *p, char **rel, bool *vip);
char *rel_to_platform(const char *user, const char *rel, bool vip);
json_t *path_json(const char *platform, int dirfd, const char *name, const char *exec_id);
/* dir -> .tar.gz written to fd (closed at the end), in a thread. */
int archive_dir_stream(int dirfd, int out_fd, struct ferr *err);
/* Extract a zip or tar(.gz) held in memory into the directory dirfd. */
int archive_extract_mem(int dirfd, const void *data, size_t len, struct ferr *err);

/* ---- executions (exec.c, monitor.c) ---- */
enum batch_state;
bool exec_is_terminal(const char *status);
const char *exec_status_of(enum batch_state s); /* batch's task state as a CARMIN status */
sqlite3_stmt *exec_prep(sqlite3 *db, const char *sql);
const char *exec_col(sqlite3_stmt *st, int i); /* "" for NULL */
char *exec_run_dir(struct srv *s, const char *id);
int exec_set_status(sqlite3 *db, const char *id, const char *status, int code);
int execs_start(struct srv *s, struct ferr *err);
void execs_stop(struct srv *s);
void route_executions(struct req *r, const char *rest);

/* ---- portal (portal.c) ---- */
bool portal_serve(struct req *r, const char *url);
