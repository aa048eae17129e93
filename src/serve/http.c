/* The HTTP side: libmicrohttpd's daemon (its own pool of threads, each on
 * epoll), one handler that routes the 19 CARMIN operations, the error
 * envelope, and the request log. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "serve/internal.h"

/* A header for the next reply of this thread's request (Retry-After,
 * WWW-Authenticate, Location): at most a few. */
static __thread struct {
	char name[32];
	char value[1024];
} pending[4];
static __thread int npending;

void reply_add_header(struct req *r, const char *name, const char *value)
{
	(void)r;
	if (npending < 4) {
		snprintf(pending[npending].name, sizeof pending[npending].name, "%s", name);
		snprintf(pending[npending].value, sizeof pending[npending].value, "%s", value);
		npending++;
	}
}

static void queue(struct req *r, unsigned status, struct MHD_Response *resp)
{
	if (!resp) {
		npending = 0;
		return;
	}
	for (int i = 0; i < npending; i++)
		MHD_add_response_header(resp, pending[i].name, pending[i].value);
	npending = 0;
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_queue_response(r->c, status, resp);
	MHD_destroy_response(resp);
	r->responded = true;
	r->status = status;
}

void reply_text(struct req *r, unsigned status, const char *ctype, const char *text, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
	if (resp && ctype)
		MHD_add_response_header(resp, "Content-Type", ctype);
	queue(r, status, resp);
}

void reply_json(struct req *r, unsigned status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	if (!s)
		s = xstrdup("{\"errorCode\":50001,\"errorMessage\":\"cannot encode the answer\"}");
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
	if (resp)
		MHD_add_response_header(resp, "Content-Type", "application/json");
	else
		free(s);
	queue(r, status, resp);
}

void reply_empty(struct req *r, unsigned status)
{
	queue(r, status, MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT));
}

static void disposition(struct MHD_Response *resp, const char *filename)
{
	if (!filename)
		return;
	struct dstr d = DSTR_INIT;
	dstr_append(&d, "attachment; filename=\"");
	for (const char *p = filename; *p; p++)
		if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
			dstr_appendc(&d, *p);
	dstr_append(&d, "\"");
	MHD_add_response_header(resp, "Content-Disposition", d.buf);
	dstr_free(&d);
}

void reply_fd(struct req *r, int fd, uint64_t size, const char *ctype, const char *filename)
{
	struct MHD_Response *resp = MHD_create_response_from_fd64(size, fd);
	if (!resp) {
		close(fd);
		return reply_error(r, 500, SC_INTERNAL, "cannot stream the file");
	}
	MHD_add_response_header(resp, "Content-Type", ctype ? ctype : "application/octet-stream");
	disposition(resp, filename);
	queue(r, 200, resp);
}

void reply_pipe(struct req *r, int fd, const char *ctype, const char *filename)
{
	struct MHD_Response *resp = MHD_create_response_from_pipe(fd);
	if (!resp) {
		close(fd);
		return reply_error(r, 500, SC_INTERNAL, "cannot stream the archive");
	}
	MHD_add_response_header(resp, "Content-Type", ctype);
	disposition(resp, filename);
	queue(r, 200, resp);
}

static void verror(struct req *r, unsigned status, int code, json_t *details, const char *fmt, va_list ap)
{
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);
	/* errorCode first, errorMessage second, errorDetails only when there
	 * are details: the VIP client knows an error by exactly these two
	 * keys in this order (vip_client.utils.vip.detect_errors). */
	json_t *j = json_object();
	json_object_set_new(j, "errorCode", json_integer(code));
	json_object_set_new(j, "errorMessage", json_string(msg));
	if (details)
		json_object_set_new(j, "errorDetails", details);
	if (status == 401 && npending == 0)
		reply_add_header(r, "WWW-Authenticate", "APIKey header=\"apikey\"");
	reply_json(r, status, j);
}

void reply_error(struct req *r, unsigned status, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(r, status, code, NULL, fmt, ap);
	va_end(ap);
}

void reply_error_details(struct req *r, unsigned status, int code, json_t *details, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(r, status, code, details, fmt, ap);
	va_end(ap);
}

const char *req_header(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, name);
}

const char *req_query(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, name);
}

char *req_base_url(struct req *r)
{
	const char *host = req_header(r, "Host");
	return xasprintf("%s://%s", r->s->tls ? "https" : "http", host && *host ? host : r->s->o.listen);
}

json_t *req_json_body(struct req *r)
{
	if (r->too_big) {
		reply_error(r, 413, SC_TOO_LARGE, "the request body is over %zu bytes", r->mem_max);
		return NULL;
	}
	json_error_t je;
	json_t *j = json_loadb(r->mem.buf ? r->mem.buf : "", r->mem.len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		reply_error(r, 400, SC_BAD_JSON, "the body is not JSON: %s (line %d, column %d)", je.text, je.line,
			    je.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		reply_error(r, 400, SC_BAD_JSON, "the body must be a JSON object");
		return NULL;
	}
	return j;
}

static const struct {
	int code;
	const char *msg;
} codes[] = {
	{ SC_BAD_JSON, "The request body is not the JSON expected" },
	{ SC_BAD_VALUE, "A field has the wrong type or value" },
	{ SC_BAD_ACTION, "getPath needs action=content|exists|properties|list|md5" },
	{ SC_INIT_FAILED, "InitializationFailed: the input values do not fit the pipeline" },
	{ SC_NO_PARENT, "The parent directory does not exist" },
	{ SC_NOT_DIR, "The path is not a directory" },
	{ SC_IS_DIR, "The path is a directory" },
	{ SC_BAD_UPLOAD, "The upload's base64 content or archive is invalid" },
	{ SC_READ_ONLY, "Only the name and the timeout of an execution can be changed" },
	{ SC_BAD_PROPERTY, "The property is not one of supportedPipelineProperties" },
	{ SC_BAD_TIMEOUT, "The timeout is out of range" },
	{ SC_NOT_TERMINAL, "The execution has not ended yet" },
	{ SC_BAD_KEY, "API key missing or invalid" },
	{ SC_BAD_LOGIN, "Wrong user name or password" },
	{ SC_ESCAPE, "The path leads outside your tree" },
	{ SC_NO_PATH, "No such path" },
	{ SC_NO_EXEC, "No such execution" },
	{ SC_NO_PIPELINE, "No such pipeline" },
	{ SC_NO_ROUTE, "No such operation" },
	{ SC_METHOD, "Method not allowed here" },
	{ SC_EXISTS, "The path exists already" },
	{ SC_STATE, "The execution is not in a state that allows this" },
	{ SC_TOO_LARGE, "The body is larger than the server accepts" },
	{ SC_RATE, "Too many failed authentications: retry later" },
	{ SC_INTERNAL, "Internal server error" },
	{ SC_LAUNCH, "The execution could not be started" },
	{ SC_TIMEOUT_KILL, "The execution was killed at its timeout" },
	{ SC_UNAVAILABLE, "Executions are not available on this server" },
};

json_t *serve_code_table(void)
{
	json_t *a = json_array();
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		json_array_append_new(a, json_pack("{s:i, s:s}", "errorCode", codes[i].code, "errorMessage",
						   codes[i].msg));
	return a;
}

static void route_platform(struct req *r)
{
	json_t *p = json_pack("{s:[s,s], s:s, s:s, s:s, s:o, s:i, s:i, s:i, s:i, s:[s], s:b, s:o, s:[s,s]}",
			      "supportedModules", "Processing", "Data", "supportedAPIVersion", "0.3.1",
			      "platformName", "ferry serve", "platformDescription",
			      "A CARMIN server for containerised Boutiques tools (ferry " FERRY_VERSION ")",
			      "APIErrorCodesAndMessages", serve_code_table(), "defaultLimitListExecutions", 500,
			      "minAuthorizedExecutionTimeout", 0, "maxAuthorizedExecutionTimeout", 0,
			      "defaultExecutionTimeout", 0, "unsupportedMethods", "playExecution", "studiesSupport", 0,
			      "supportedPipelineProperties", pipelines_properties(&r->s->pl), "supportedTransferProtocols", "http",
			      "https");
	/* play is accepted (204 on a started execution), but it is not needed:
	 * a valid execution starts at once. unsupportedMethods says so, as
	 * VIP's does, so that clients that honour it skip the call. */
	json_object_set_new(p, "maxSizeDirectTransfer", json_integer((json_int_t)r->s->o.max_upload));
	reply_json(r, 200, p);
}

/* The routes that need no key. */
static bool route_open(struct req *r)
{
	if (!strcmp(r->url, "/platform") && !strcmp(r->method, "GET")) {
		route_platform(r);
		return true;
	}
	return portal_serve(r, r->url);
}

static void authenticate_key(struct req *r)
{
	const char *key = req_header(r, "apikey");
	if (!key) {
		/* The portal and curl users may send "Authorization: Bearer K". */
		const char *a = req_header(r, "Authorization");
		if (a && !strncmp(a, "Bearer ", 7))
			key = a + 7;
	}
	if (!key || !*key)
		return;
	struct ferr err = FERR_INIT;
	if (auth_key_user_cached(r->s, key, r->user, &r->admin, &err) < 0)
		r->user[0] = 0;
}

static void route_pipelines(struct req *r, const char *rest);

/* Everything but the body: who asks, what for, and how the body (if
 * any) is taken. May answer at once (401, 404, 413). */
static void route_begin(struct req *r)
{
	if (route_open(r))
		return;
	if (!strcmp(r->url, "/authenticate")) {
		if (strcmp(r->method, "POST"))
			return reply_error(r, 405, SC_METHOD, "authenticate takes POST");
		r->body = BODY_MEM;
		r->mem_max = 64 << 10;
		r->finish = route_authenticate;
		return;
	}
	authenticate_key(r);
	if (!r->user[0])
		return reply_error(r, 401, SC_BAD_KEY, "%s %s: API key missing or invalid", r->method, r->url);
	/* vip_client.utils.vip.setApiKey checks a key with PUT /plateform
	 * (sic): any answer but the envelope with 40101 means "valid". */
	if (!strcmp(r->url, "/plateform"))
		return route_platform(r);
	if (!strncmp(r->url, "/path/", 6) || !strcmp(r->url, "/path")) {
		const char *p = r->url + 5;
		if (!strcmp(r->method, "PUT"))
			return route_path_begin(r, p);
		return route_path(r, p);
	}
	if (!strncmp(r->url, "/executions", 11) && (!r->url[11] || r->url[11] == '/')) {
		if (!strcmp(r->method, "POST") || !strcmp(r->method, "PUT")) {
			r->body = BODY_MEM;
			r->mem_max = 4 << 20;
			r->finish = NULL; /* route_executions runs when the body is in */
			return;
		}
		return route_executions(r, r->url + 11);
	}
	if (!strncmp(r->url, "/pipelines", 10) && (!r->url[10] || r->url[10] == '/'))
		return route_pipelines(r, r->url + 10);
	reply_error(r, 404, SC_NO_ROUTE, "%s %s: no such operation", r->method, r->url);
}

/* The body is in. */
static void route_end(struct req *r)
{
	if (r->finish)
		return r->finish(r);
	if (!strncmp(r->url, "/executions", 11))
		return route_executions(r, r->url + 11);
	reply_error(r, 500, SC_INTERNAL, "no handler for the body of %s %s", r->method, r->url);
}

static void route_pipelines(struct req *r, const char *rest)
{
	if (strcmp(r->method, "GET"))
		return reply_error(r, 405, SC_METHOD, "pipelines are read-only");
	const struct pipelines *pl = &r->s->pl;
	if (!*rest || !strcmp(rest, "/")) {
		const char *prop = req_query(r, "property"), *val = req_query(r, "propertyValue");
		if (val && !prop)
			return reply_error(r, 400, SC_BAD_PROPERTY, "propertyValue needs property");
		if (prop && !pipelines_has_property(pl, prop))
			return reply_error(r, 400, SC_BAD_PROPERTY,
					   "property '%s' is not one of supportedPipelineProperties (GET /platform)", prop);
		json_t *a = json_array();
		for (size_t i = 0; i < pl->n; i++) {
			json_t *props = json_object_get(pl->v[i].carmin, "properties");
			const char *v = prop ? json_get_str(props, prop) : NULL;
			if (prop && !v)
				continue;
			if (val && strcmp(v, val))
				continue;
			json_array_append(a, pl->v[i].carmin);
		}
		return reply_json(r, 200, a);
	}
	const char *id = rest + 1;
	const struct pipeline *p = pipelines_find(pl, id);
	if (p)
		return reply_json(r, 200, json_incref(p->carmin));
	/* ".../boutiquesdescriptor" of an id (which may itself hold '/') */
	static const char suffix[] = "/boutiquesdescriptor";
	size_t n = strlen(id), sn = sizeof suffix - 1;
	if (n > sn && !strcmp(id + n - sn, suffix)) {
		_cleanup_free_ char *base = xstrndup(id, n - sn);
		if ((p = pipelines_find(pl, base)))
			return reply_text(r, 200, "application/json", p->text, strlen(p->text));
	}
	reply_error(r, 404, SC_NO_PIPELINE, "no pipeline '%s'", id);
}

static void log_request(struct req *r)
{
	if (r->s->o.quiet)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char t[32];
	strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s %s %s %u %s\n", t, r->method, r->url, r->status, r->user[0] ? r->user : "-");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *upload_data, size_t *upload_data_size,
			       void **con_cls)
{
	struct srv *s = cls;
	struct req *r = *con_cls;
	if (!r) {
		r = xcalloc(1, sizeof *r);
		r->s = s;
		r->c = c;
		r->up_fd = r->up_dir = -1;
		snprintf(r->method, sizeof r->method, "%s", method);
		/* VIP's base URL ends in /rest/: accept the prefix so that only
		 * the host part of a client's base URL changes. */
		if (!strncmp(url, "/rest/", 6) || !strcmp(url, "/rest"))
			url += 5;
		r->url = xstrdup(*url ? url : "/");
		*con_cls = r;
		/* A reply queued in this first call makes libmicrohttpd close
		 * the connection (it cannot know the request is complete):
		 * requests that carry no body are answered in the next call,
		 * so keep-alive works; those that do are routed now, to set up
		 * how their body is taken (or refuse it at once). */
		const char *cl = req_header(r, "Content-Length"), *te = req_header(r, "Transfer-Encoding");
		if ((cl && strcmp(cl, "0")) || te) {
			r->begun = true;
			npending = 0;
			route_begin(r);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (r->responded)
			return MHD_YES;
		r->received += n;
		if (r->body == BODY_MEM) {
			if (r->mem.len + n > r->mem_max)
				r->too_big = true;
			else
				dstr_appendn(&r->mem, upload_data, n);
		} else if (r->body == BODY_FILE) {
			upload_feed(r, upload_data, n);
		}
		return MHD_YES;
	}
	if (!r->begun) {
		r->begun = true;
		npending = 0;
		route_begin(r);
		if (r->responded || r->body == BODY_NONE)
			goto done;
	}
	if (!r->responded) {
		npending = 0;
		route_end(r);
		if (!r->responded)
			reply_error(r, 500, SC_INTERNAL, "%s %s: no answer", r->method, r->url);
	}
done:
	if (!r->responded)
		reply_error(r, 500, SC_INTERNAL, "%s %s: no answer", r->method, r->url);
	return MHD_YES;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;
	if (!r)
		return;
	if (r->responded)
		log_request(r);
	if (r->up_fd >= 0)
		close(r->up_fd);
	if (r->up_tmpname && r->up_dir >= 0)
		unlinkat(r->up_dir, r->up_tmpname, 0); /* an upload cut short: nothing of it stays */
	if (r->up_dir >= 0)
		close(r->up_dir);
	free(r->up_buf);
	free(r->up_leaf);
	free(r->up_tmpname);
	free(r->up_platform);
	dstr_free(&r->mem);
	free(r->url);
	free(r);
	*con_cls = NULL;
}

int serve_http_start(struct srv *s, struct ferr *err)
{
	char host[256];
	unsigned port = 8080;
	const char *colon = strrchr(s->o.listen, ':');
	char *end = NULL;
	unsigned long pl = colon ? strtoul(colon + 1, &end, 10) : 0;
	port = (unsigned)pl;
	if (!colon || !colon[1] || *end || pl > 65535 || (size_t)(colon - s->o.listen) >= sizeof host)
		return ferr_setc(err, FERR_USAGE, 0, "--listen %s: expected ADDR:PORT", s->o.listen);
	snprintf(host, sizeof host, "%.*s", (int)(colon - s->o.listen), s->o.listen);
	struct sockaddr_in sin = { 0 };
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return ferr_setc(err, FERR_USAGE, 0, "--listen %s: '%s' is not an IPv4 address", s->o.listen, host);
	_cleanup_free_ char *cert = NULL, *key = NULL;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
	if (s->o.tls_cert || s->o.tls_key) {
		size_t n;
		if (!s->o.tls_cert || !s->o.tls_key)
			return ferr_setc(err, FERR_USAGE, 0, "TLS needs both --tls-cert and --tls-key");
		if (fs_read_file(s->o.tls_cert, &cert, &n, err) < 0 || fs_read_file(s->o.tls_key, &key, &n, err) < 0)
			return ferr_wrap(err, "TLS");
		flags |= MHD_USE_TLS;
		s->tls = true;
	}
	unsigned threads = s->o.threads;
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n < 2 ? 2 : (unsigned)n;
	}
	struct MHD_OptionItem tls_opts[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, key },
		{ MHD_OPTION_END, 0, NULL },
	};
	s->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, &sin,
				MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT,
				s->o.client_timeout ? s->o.client_timeout : 30u,
				/* headers bigger than this are refused with 431; half of it
				 * is an upload's read buffer. libmicrohttpd clears the whole
				 * pool for each request of a connection: at 256 KiB that
				 * memset was 30 % of a poll's CPU time; at 64 KiB an upload
				 * took 1.6x the CPU of one at 256 KiB (smaller reads). 128 KiB:
				 * polls 2.4x, uploads 1.15x the CPU (bench/serve/RESULTS.md) */
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 << 10),
				MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
				MHD_OPTION_ARRAY,
				s->tls ? tls_opts : tls_opts + 2, MHD_OPTION_END);
	if (!s->d)
		return ferr_set(err, errno, "cannot listen on %s", s->o.listen),
		       ferr_hint(err, "is another server there? --listen ADDR:PORT picks another port");
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : (uint16_t)port;
	return 0;
}
