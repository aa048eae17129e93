/* serve_run: set the state directory up, load the pipelines, start the
 * HTTP daemon and the execution monitor, serve until told to stop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/path.h"
#include "serve/internal.h"

char *serve_default_state(void)
{
	const char *x = getenv("XDG_DATA_HOME");
	if (x && *x == '/')
		return xasprintf("%s/ferry/serve", x);
	const char *h = getenv("HOME");
	return xasprintf("%s/.local/share/ferry/serve", h && *h ? h : "/tmp");
}

static void srv_free(struct srv *s)
{
	pipelines_free(&s->pl);
	ratelimit_free(s);
	free(s->state);
	free(s->data);
	free(s->runs);
	free(s->dbpath);
	free(s->authgen);
}

static unsigned connections(struct srv *s)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return di ? di->num_connections : 0;
}

int serve_run(const struct serve_opts *opts, volatile sig_atomic_t *stop, struct ferr *err)
{
	if (serve_dl_load(err) < 0)
		return -1;
	struct srv s;
	memset(&s, 0, sizeof s);
	s.o = *opts;
	s.stop = stop;
	if (!s.o.listen)
		s.o.listen = "127.0.0.1:8080";
	if (!s.o.auth_burst)
		s.o.auth_burst = 10;
	if (!s.o.auth_period)
		s.o.auth_period = 6;
	s.state = opts->state ? xstrdup(opts->state) : serve_default_state();
	s.data = path_join(s.state, "data");
	s.runs = path_join(s.state, "runs");
	s.dbpath = path_join(s.state, "serve.db");
	s.authgen = path_join(s.state, AUTH_GEN_FILE);
	int rc = -1;
	sqlite3 *db = NULL;
	if (fs_mkdir_p(s.state, 0700, err) < 0 || fs_mkdir_p(s.data, 0700, err) < 0 ||
	    fs_mkdir_p(s.runs, 0700, err) < 0 || db_open(s.dbpath, &db, err) < 0) {
		ferr_wrap(err, "state directory %s", s.state);
		goto out;
	}
	sqlite3_close(db);
	if (pipelines_load(&s.pl, opts->pipelines, opts->catalog, opts->allow_host_tools, err) < 0)
		goto out;
	for (char **w = s.pl.warnings; w && *w; w++)
		fprintf(stderr, "ferry: serve: warning: %s\n", *w);
	ratelimit_new(&s);
	if (execs_start(&s, err) < 0)
		goto out;
	if (serve_http_start(&s, err) < 0) {
		execs_stop(&s);
		goto out;
	}
	if (opts->on_listen) {
		char host[256];
		const char *colon = strrchr(s.o.listen, ':');
		snprintf(host, sizeof host, "%.*s", (int)(colon - s.o.listen), s.o.listen);
		_cleanup_free_ char *url = xasprintf("%s://%s:%u", s.tls ? "https" : "http", host, s.port);
		opts->on_listen(opts->on_listen_arg, url);
	}
	while (!*stop) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	/* Drain: accept nothing new, give the requests in flight up to 30 s. */
	MHD_quiesce_daemon(s.d);
	for (int i = 0; i < 300 && connections(&s) > 0; i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(s.d);
	execs_stop(&s);
	rc = 0;
out:
	srv_free(&s);
	return rc;
}
