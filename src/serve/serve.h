/* ferry serve: a CARMIN 0.3.1 REST server and web portal (doc/serve.md).
 * One process: libmicrohttpd's thread pool answers requests, SQLite (WAL)
 * under the state directory keeps users, keys and executions, each user's
 * files live in STATE/data/<user>/, and executions run as `ferry batch`
 * runs. This header is the layer's public face; cli/cmd_serve.c is its
 * only user. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "base/err.h"

struct serve_opts {
	const char *listen;        /* ADDR:PORT, default 127.0.0.1:8080 */
	const char *state;         /* state directory (serve_default_state()) */
	const char *pipelines;     /* directory of Boutiques descriptors, or NULL */
	const char *catalog;       /* catalog.json of `ferry catalog`, or NULL */
	const char *backend;       /* "local" (default) or "slurm" */
	int jobs;                  /* -j N for the local backend (0: batch's default) */
	const char *tls_cert, *tls_key; /* PEM files: HTTPS */
	uint64_t max_upload;       /* bytes per uploaded file (0: no limit) */
	unsigned threads;          /* libmicrohttpd's pool (0: one per CPU, at least 2) */
	unsigned client_timeout;   /* seconds a connection may stay silent (headers included) */
	unsigned auth_burst;       /* failed /authenticate per address or name before 429 */
	unsigned auth_period;      /* seconds for one more attempt to be allowed again */
	bool quiet;                /* no request log on stderr */
	bool allow_host_tools;     /* serve descriptors without container-image (they run on this host) */
	/* Told where the server listens once it does (the port when 0 was asked). */
	void (*on_listen)(void *arg, const char *url);
	void *on_listen_arg;
};

/* ${XDG_DATA_HOME:-~/.local/share}/ferry/serve. Caller frees. */
char *serve_default_state(void);

/* Serve until *stop becomes non-zero (SIGTERM/SIGINT in cli/): then stop
 * accepting, let the requests in flight finish, and return 0. Executions
 * keep running under batch; the next start picks them up again. */
int serve_run(const struct serve_opts *opts, volatile sig_atomic_t *stop, struct ferr *err);

/* Accounts (`ferry serve user ...`). Names: [a-z0-9][a-z0-9._-]{0,63}, not
 * "vip" or "rest" (the path namespace uses them). */
int serve_user_add(const char *state, const char *name, const char *password, bool admin, struct ferr *err);
int serve_user_del(const char *state, const char *name, struct ferr *err);
/* A new 256-bit API key for NAME, as 64 hex digits (caller frees *key). Only
 * its SHA-256 is stored. */
int serve_user_key(const char *state, const char *name, char **key, struct ferr *err);
/* [{"name", "admin", "created", "keys"}], by name. */
int serve_user_list(const char *state, json_t **out, struct ferr *err);
