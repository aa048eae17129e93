/* OCI distribution (registry v2) client over libcurl.
 *
 * Endpoints: the configured mirrors of the registry, in order, then the
 * registry itself (Docker Hub's is registry-1.docker.io). A manifest request
 * walks the list until one answers; blobs come from the endpoint that served
 * the manifest and fall back to the others.
 *
 * Auth: requests go out without credentials; a 401 carries a
 * WWW-Authenticate challenge: Bearer (fetch a token from the realm, with
 * basic credentials from docker's config.json when there are any, else
 * anonymously) or Basic. The Authorization header is set as a custom header,
 * which libcurl (>= 7.83) drops when a redirect leads to another host, port
 * or scheme: registries send 307s to object storage, which must not see the
 * registry's token.
 *
 * Robustness: 429, 5xx and broken connections are retried with exponential
 * backoff, honouring Retry-After; an interrupted blob resumes with a Range
 * request from what it already has; every blob is hashed while it streams. */
#include <errno.h>
#include "base/libcrypto.h"
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/progress.h"
#include "base/sha256.h"
#include "base/str.h"
#include "image/netlibs.h"
#include "image/image.h"
#include "image/internal.h"

#define MAX_MANIFEST (8 * 1024 * 1024)
#define MAX_ATTEMPTS 5
#define MAX_PARALLEL 6
#define MAX_RETRY_AFTER 120
#define MAX_ERROR_BODY (64 * 1024)

struct endpoint {
	char *base;  /* "https://host:port" */
	char *host;  /* "host:port" as used for certs.d and credentials */
	bool insecure;
	bool is_mirror;
	bool http_probed; /* insecure: did we settle between https and http? */
	char *ca, *cert, *key;
	char *authz; /* "Authorization: ..." or NULL */
	bool auth_tried;
};

struct registry {
	char *name; /* registry name in the reference ("docker.io") */
	char *repo;
	char *user, *password;
	struct endpoint *eps;
	size_t n_eps;
	size_t cur; /* endpoint that served the manifest */
	bool quiet;
	struct progress progress;
	CURL *easy;
	CURLSH *share;
};

struct resp {
	long status;
	struct dstr body;
	size_t max_body;
	bool too_big;
	char *content_type;
	char *digest;
	char *www_auth;
	char *retry_after;
	long long content_length;
};

static void resp_free(struct resp *r)
{
	dstr_free(&r->body);
	free(r->content_type);
	free(r->digest);
	free(r->www_auth);
	free(r->retry_after);
	memset(r, 0, sizeof *r);
}

static size_t body_cb(char *p, size_t sz, size_t n, void *data)
{
	struct resp *r = data;
	if (r->body.len + sz * n > r->max_body) {
		r->too_big = true;
		return 0;
	}
	dstr_appendn(&r->body, p, sz * n);
	return sz * n;
}

static char *trim_dup(const char *v, size_t len)
{
	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
		len--;
	return xstrndup(v, len);
}

static void header_set(char **slot, const char *v, size_t len)
{
	free(*slot);
	*slot = trim_dup(v, len);
}

static size_t header_cb(char *p, size_t sz, size_t n, void *data)
{
	struct resp *r = data;
	size_t len = sz * n;
	if (len > 5 && !strncmp(p, "HTTP/", 5)) {
		/* a new response (after a redirect): forget the previous headers */
		free(r->www_auth);
		r->www_auth = NULL;
		free(r->retry_after);
		r->retry_after = NULL;
		return len;
	}
	const char *colon = memchr(p, ':', len);
	if (!colon)
		return len;
	size_t kl = (size_t)(colon - p);
	const char *v = colon + 1;
	size_t vl = len - kl - 1;
	if (kl == 12 && !strncasecmp(p, "content-type", kl))
		header_set(&r->content_type, v, vl);
	else if (kl == 21 && !strncasecmp(p, "docker-content-digest", kl))
		header_set(&r->digest, v, vl);
	else if (kl == 16 && !strncasecmp(p, "www-authenticate", kl))
		header_set(&r->www_auth, v, vl);
	else if (kl == 11 && !strncasecmp(p, "retry-after", kl))
		header_set(&r->retry_after, v, vl);
	return len;
}

static void setup_tls(CURL *h, const struct endpoint *ep)
{
	if (ep->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (ep->ca) {
		/* certs.d/HOST/ca.crt is trusted in addition to the system store */
		curl_easy_setopt(h, CURLOPT_CAINFO, ep->ca);
		if (access("/etc/ssl/certs", R_OK) == 0)
			curl_easy_setopt(h, CURLOPT_CAPATH, "/etc/ssl/certs");
	}
	if (ep->cert) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, ep->cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, ep->key);
	}
}

static void setup_common(CURL *h, struct registry *r)
{
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "ferry/" FERRY_VERSION);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	/* abort a transfer that stalls below 1 KiB/s for 60 s */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SHARE, r->share);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, NULL);
}

static bool transient_curl(CURLcode c)
{
	return c == CURLE_RECV_ERROR || c == CURLE_SEND_ERROR || c == CURLE_PARTIAL_FILE || c == CURLE_GOT_NOTHING ||
		c == CURLE_OPERATION_TIMEDOUT || c == CURLE_HTTP2 || c == CURLE_HTTP2_STREAM;
}

static bool transient_status(long s)
{
	return s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static long retry_delay_ms(const char *retry_after, int attempt)
{
	if (retry_after && *retry_after) {
		char *end;
		long s = strtol(retry_after, &end, 10);
		if (end != retry_after && s >= 0)
			return (s > MAX_RETRY_AFTER ? MAX_RETRY_AFTER : s) * 1000;
		time_t t = curl_getdate(retry_after, NULL);
		if (t > 0) {
			long d = (long)(t - time(NULL));
			return d <= 0 ? 0 : (d > MAX_RETRY_AFTER ? MAX_RETRY_AFTER : d) * 1000;
		}
	}
	return 500L << attempt; /* 0.5 s, 1 s, 2 s, 4 s */
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- challenges and tokens ---------------------------------------------- */

/* Value of key in a challenge: Bearer realm="x",service="y",scope="z". */
static char *challenge_param(const char *ch, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = ch; (p = strcasestr(p, key)); p += kl) {
		if (p != ch && p[-1] != ' ' && p[-1] != ',')
			continue;
		const char *v = p + kl;
		while (*v == ' ')
			v++;
		if (*v != '=')
			continue;
		v++;
		while (*v == ' ')
			v++;
		if (*v == '"') {
			const char *e = strchr(v + 1, '"');
			return e ? xstrndup(v + 1, (size_t)(e - v - 1)) : NULL;
		}
		size_t n = strcspn(v, ", ");
		return xstrndup(v, n);
	}
	return NULL;
}

static int http_get(struct registry *r, struct endpoint *ep, const char *method, const char *url,
	struct curl_slist *hdrs, const char *userpwd, struct resp *out, struct ferr *err);

/* An http:// realm would carry the credentials (and hand out the token) in
 * clear: refused unless the registry is marked insecure, or the realm is on
 * this machine's loopback, which no network sees. */
static bool realm_in_clear_refused(const struct endpoint *ep, const char *realm)
{
	if (!str_starts_with(realm, "http://") || ep->insecure)
		return false;
	const char *h = realm + 7;
	size_t n = strcspn(h, "/?#");
	_cleanup_free_ char *hostport = xstrndup(h, n);
	char *at = strrchr(hostport, '@');
	const char *host = at ? at + 1 : hostport;
	if (str_starts_with(host, "[::1]") || str_starts_with(host, "127.") || !strcmp(host, "localhost") ||
		str_starts_with(host, "localhost:"))
		return false;
	return true;
}

static int fetch_token(struct registry *r, struct endpoint *ep, const char *challenge, struct ferr *err)
{
	_cleanup_free_ char *realm = challenge_param(challenge, "realm");
	_cleanup_free_ char *service = challenge_param(challenge, "service");
	_cleanup_free_ char *scope = challenge_param(challenge, "scope");
	if (!realm)
		return ferr_setc(err, FERR_AUTH, 0, "%s: bearer challenge without realm", ep->host);
	if (!str_starts_with(realm, "https://") && !str_starts_with(realm, "http://"))
		return ferr_setc(err, FERR_AUTH, 0, "%s: token realm '%.200s' is not an http(s) URL", ep->host, realm);
	if (realm_in_clear_refused(ep, realm)) {
		ferr_setc(err, FERR_AUTH, 0, "%s: token realm %.200s is plain http: credentials and tokens would cross the network in clear",
			ep->host, realm);
		return ferr_hint(err, "mark the registry insecure (--insecure, or \"insecure\": true in ferry's config.json) if that is really meant");
	}
	struct dstr url = DSTR_INIT;
	dstr_printf(&url, "%s%s", realm, strchr(realm, '?') ? "&" : "?");
	if (service) {
		char *s = curl_easy_escape(r->easy, service, 0);
		dstr_printf(&url, "service=%s&", s);
		curl_free(s);
	}
	_cleanup_free_ char *want = xasprintf("repository:%s:pull", r->repo);
	char *s = curl_easy_escape(r->easy, scope && strstr(scope, r->repo) ? scope : want, 0);
	dstr_printf(&url, "scope=%s", s);
	curl_free(s);
	_cleanup_free_ char *userpwd = NULL;
	/* Credentials go to the realm only for the registry itself, not mirrors. */
	if (r->user && !ep->is_mirror)
		userpwd = xasprintf("%s:%s", r->user, r->password);
	struct resp resp = { 0 };
	resp.max_body = 1024 * 1024;
	int rc = http_get(r, ep, "GET", url.buf, NULL, userpwd, &resp, err);
	dstr_free(&url);
	if (rc < 0) {
		resp_free(&resp);
		return ferr_wrap(err, "token from %s", realm);
	}
	if (resp.status == 401 || resp.status == 403) {
		resp_free(&resp);
		ferr_setc(err, FERR_AUTH, 0, "%s: token server %s refused %s (HTTP %ld)", ep->host, realm,
			userpwd ? "the credentials" : "anonymous access", resp.status);
		return ferr_hint(err, userpwd ? "check them with 'ferry login %s'" : "log in with 'ferry login %s'", r->name);
	}
	if (resp.status != 200) {
		long st = resp.status;
		resp_free(&resp);
		return ferr_setc(err, FERR_AUTH, 0, "%s: token server %s answered HTTP %ld", ep->host, realm, st);
	}
	_cleanup_json_ json_t *j = json_load_buf(resp.body.buf ? resp.body.buf : "", resp.body.len, "token response", err);
	resp_free(&resp);
	if (!j)
		return -1;
	const char *tok = json_get_str(j, "token");
	if (!tok || !*tok)
		tok = json_get_str(j, "access_token");
	if (!tok || !*tok)
		return ferr_setc(err, FERR_AUTH, 0, "%s: token response without a token", ep->host);
	free(ep->authz);
	ep->authz = xasprintf("Authorization: Bearer %s", tok);
	return 0;
}

/* Answer a 401: returns 0 when the request should be retried with new auth. */
static int handle_401(struct registry *r, struct endpoint *ep, const struct resp *resp, struct ferr *err)
{
	if (ep->auth_tried || !resp->www_auth) {
		ferr_setc(err, FERR_AUTH, 0, "%s: access denied to %s (HTTP 401)", ep->host, r->repo);
		return ferr_hint(err, r->user ? "the stored credentials were refused; run 'ferry login %s'"
					      : "log in with 'ferry login %s' if the repository is private",
			r->name);
	}
	ep->auth_tried = true;
	if (!strncasecmp(resp->www_auth, "bearer", 6))
		return fetch_token(r, ep, resp->www_auth, err);
	if (!strncasecmp(resp->www_auth, "basic", 5)) {
		if (!r->user || ep->is_mirror) {
			ferr_setc(err, FERR_AUTH, 0, "%s: the registry wants a user name and password", ep->host);
			return ferr_hint(err, "run 'ferry login %s'", r->name);
		}
		_cleanup_free_ char *plain = xasprintf("%s:%s", r->user, r->password);
		size_t n = strlen(plain);
		_cleanup_free_ char *b64 = xmalloc(4 * ((n + 2) / 3) + 1);
		EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)plain, (int)n);
		free(ep->authz);
		ep->authz = xasprintf("Authorization: Basic %s", b64);
		return 0;
	}
	return ferr_setc(err, FERR_AUTH, 0, "%s: unsupported authentication scheme '%.40s'", ep->host, resp->www_auth);
}

/* One HTTP request with retries for transient failures. For insecure
 * endpoints the first request settles https (unverified) vs plain http. */
static int http_get(struct registry *r, struct endpoint *ep, const char *method, const char *url,
	struct curl_slist *hdrs, const char *userpwd, struct resp *out, struct ferr *err)
{
	char errbuf[CURL_ERROR_SIZE];
	for (int attempt = 0;; attempt++) {
		size_t max = out->max_body;
		resp_free(out);
		out->max_body = max;
		curl_easy_reset(r->easy);
		setup_common(r->easy, r);
		setup_tls(r->easy, ep);
		curl_easy_setopt(r->easy, CURLOPT_URL, url);
		if (!strcmp(method, "HEAD"))
			curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, hdrs);
		if (userpwd) {
			curl_easy_setopt(r->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(r->easy, CURLOPT_USERPWD, userpwd);
		}
		curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, body_cb);
		curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, out);
		curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, header_cb);
		curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, out);
		curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, errbuf);
		errbuf[0] = '\0';
		CURLcode c = curl_easy_perform(r->easy);
		if (c == CURLE_OK) {
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &out->status);
			if (transient_status(out->status) && attempt + 1 < MAX_ATTEMPTS) {
				long ms = retry_delay_ms(out->retry_after, attempt);
				log_info("%s: HTTP %ld, retrying in %.1f s", ep->host, out->status, (double)ms / 1000);
				sleep_ms(ms);
				continue;
			}
			return 0;
		}
		if (out->too_big)
			return ferr_setc(err, FERR_INVALID, 0, "%s: response too large", url);
		if (transient_curl(c) && attempt + 1 < MAX_ATTEMPTS) {
			long ms = retry_delay_ms(NULL, attempt);
			log_info("%s: %s, retrying in %.1f s", ep->host, errbuf[0] ? errbuf : curl_easy_strerror(c),
				(double)ms / 1000);
			sleep_ms(ms);
			continue;
		}
		ferr_setc(err, FERR_NETWORK, 0, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(c));
		if (c == CURLE_PEER_FAILED_VERIFICATION || c == CURLE_SSL_CACERT_BADFILE || c == CURLE_SSL_CONNECT_ERROR)
			ferr_hint(err, "put the registry's CA in ~/.config/ferry/certs.d/%s/ca.crt, or use --insecure", ep->host);
		return -1;
	}
}

/* Settle the scheme of an insecure endpoint: https without verification
 * if it speaks TLS, else plain http (docker's insecure-registries). */
static void probe_scheme(struct registry *r, struct endpoint *ep)
{
	if (!ep->insecure || ep->http_probed || !str_starts_with(ep->base, "https://"))
		return;
	ep->http_probed = true;
	_cleanup_free_ char *url = xasprintf("%s/v2/", ep->base);
	struct resp resp = { 0 };
	resp.max_body = 65536;
	struct ferr err = FERR_INIT;
	curl_easy_reset(r->easy);
	setup_common(r->easy, r);
	setup_tls(r->easy, ep);
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, &resp);
	CURLcode c = curl_easy_perform(r->easy);
	(void)err;
	resp_free(&resp);
	if (c == CURLE_SSL_CONNECT_ERROR || c == CURLE_GOT_NOTHING || c == CURLE_RECV_ERROR) {
		char *http = xasprintf("http://%s", ep->base + 8);
		free(ep->base);
		ep->base = http;
	}
}

/* GET/HEAD path on an endpoint, answering one auth challenge. */
static int ep_request(struct registry *r, struct endpoint *ep, const char *method, const char *path,
	const char *accept, struct resp *out, struct ferr *err)
{
	probe_scheme(r, ep);
	_cleanup_free_ char *url = xasprintf("%s%s", ep->base, path);
	for (int round = 0; round < 2; round++) {
		struct curl_slist *h = NULL;
		if (accept) {
			_cleanup_free_ char *a = xasprintf("Accept: %s", accept);
			h = curl_slist_append(h, a);
		}
		if (ep->authz)
			h = curl_slist_append(h, ep->authz);
		int rc = http_get(r, ep, method, url, h, NULL, out, err);
		curl_slist_free_all(h);
		if (rc < 0)
			return -1;
		if (out->status != 401)
			return 0;
		if (round == 1 || handle_401(r, ep, out, err) < 0) {
			if (round == 1)
				handle_401(r, ep, out, err); /* auth_tried: fills the error */
			return -1;
		}
	}
	return 0;
}

static const char accept_manifests[] = MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST;

static int status_error(struct registry *r, struct endpoint *ep, const char *what, const struct resp *resp,
	struct ferr *err)
{
	/* Registries explain errors as {"errors":[{"code":..,"message":..}]}. */
	char detail[256] = "";
	if (resp->body.len && resp->body.buf) {
		struct ferr je = FERR_INIT;
		_cleanup_json_ json_t *j = json_load_buf(resp->body.buf, resp->body.len, "error", &je);
		json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
		const char *m = json_get_str(e0, "message");
		const char *c = json_get_str(e0, "code");
		if (m || c)
			snprintf(detail, sizeof detail, ": %s%s%s", c ? c : "", c && m ? " " : "", m ? m : "");
	}
	int code = resp->status == 404 ? FERR_NOTFOUND : resp->status == 403 ? FERR_AUTH : FERR_NETWORK;
	ferr_setc(err, code, 0, "%s %s/%s: HTTP %ld%s", ep->host, r->repo, what, resp->status, detail);
	if (resp->status == 429)
		ferr_hint(err, "the registry rate-limits this address; configure a mirror (see doc/pull.md)");
	return -1;
}

int registry_resolve(struct registry *r, const char *reference, char **digest, struct ferr *err)
{
	_cleanup_free_ char *path = xasprintf("/v2/%s/manifests/%s", r->repo, reference);
	struct ferr first = FERR_INIT;
	for (size_t i = 0; i < r->n_eps; i++) {
		struct endpoint *ep = &r->eps[i];
		struct resp resp = { 0 };
		resp.max_body = MAX_MANIFEST;
		int rc = ep_request(r, ep, "HEAD", path, accept_manifests, &resp, err);
		if (rc == 0 && resp.status == 200 && resp.digest && sha256_digest_valid(resp.digest)) {
			*digest = steal_ptr(&resp.digest);
			r->cur = i;
			resp_free(&resp);
			return 0;
		}
		if (rc == 0 && resp.status == 200) {
			/* No Docker-Content-Digest: GET and hash the body. */
			resp_free(&resp);
			resp.max_body = MAX_MANIFEST;
			rc = ep_request(r, ep, "GET", path, accept_manifests, &resp, err);
			if (rc == 0 && resp.status == 200) {
				char hex[SHA256_HEX_LEN + 1];
				sha256_hex(resp.body.buf ? resp.body.buf : "", resp.body.len, hex);
				*digest = xasprintf("sha256:%s", hex);
				r->cur = i;
				resp_free(&resp);
				return 0;
			}
		}
		if (rc == 0) {
			_cleanup_free_ char *what = xasprintf("manifest %s", reference);
			status_error(r, ep, what, &resp, err);
		}
		resp_free(&resp);
		if (i + 1 < r->n_eps) {
			char buf[FERR_MSG_MAX];
			log_info("mirror %s: %s; trying the next", ep->host, ferr_str(err, buf, sizeof buf));
			if (!first.msg[0])
				first = *err;
			ferr_clear(err);
		}
	}
	return -1;
}

int registry_manifest(struct registry *r, const char *digest, char **body, size_t *len, char **media_type,
	struct ferr *err)
{
	_cleanup_free_ char *path = xasprintf("/v2/%s/manifests/%s", r->repo, digest);
	for (size_t k = 0; k < r->n_eps; k++) {
		size_t i = (r->cur + k) % r->n_eps;
		struct endpoint *ep = &r->eps[i];
		struct resp resp = { 0 };
		resp.max_body = MAX_MANIFEST;
		int rc = ep_request(r, ep, "GET", path, accept_manifests, &resp, err);
		if (rc == 0 && resp.status == 200) {
			char hex[SHA256_HEX_LEN + 1];
			sha256_hex(resp.body.buf ? resp.body.buf : "", resp.body.len, hex);
			if (strcmp(digest + 7, hex)) {
				ferr_setc(err, FERR_INTEGRITY, 0, "%s %s: manifest %s: digest mismatch (got sha256:%s)", ep->host,
					r->repo, digest, hex);
				resp_free(&resp);
				return -1;
			}
			*len = resp.body.len;
			*body = resp.body.buf ? dstr_steal(&resp.body) : xstrdup("");
			*media_type = resp.content_type ? steal_ptr(&resp.content_type) : xstrdup("");
			resp_free(&resp);
			return 0;
		}
		if (rc == 0) {
			_cleanup_free_ char *what = xasprintf("manifest %s", digest);
			status_error(r, ep, what, &resp, err);
		}
		resp_free(&resp);
		if (k + 1 < r->n_eps)
			ferr_clear(err);
	}
	return -1;
}

/* ---- parallel blob downloads ---------------------------------------------- */

struct xfer {
	struct blob_fetch *b;
	struct registry *r;
	size_t ep;
	CURL *h;
	struct curl_slist *hdrs;
	struct sha256 hash;
	int64_t have;    /* verified-prefix bytes in the file (hashed) */
	int64_t start;   /* offset the current request started from */
	bool restart;    /* server ignored Range: rewrite from zero */
	bool checked;    /* status looked at */
	long status;
	int attempts;
	int reauths;
	long long not_before_ms;
	bool active, finished;
	char retry_after[32];
	char errbuf[CURL_ERROR_SIZE];
	int write_errno;
	size_t error_body; /* bytes of an error response's body seen */
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t blob_write(char *p, size_t sz, size_t n, void *data)
{
	struct xfer *x = data;
	size_t len = sz * n;
	if (!x->checked) {
		x->checked = true;
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
		if (x->status == 200 && x->start > 0) {
			/* No Range support: start over. */
			if (ftruncate(x->b->fd, 0) < 0 || lseek(x->b->fd, 0, SEEK_SET) < 0) {
				x->write_errno = errno;
				return 0;
			}
			char hex[SHA256_HEX_LEN + 1];
			sha256_final_hex(&x->hash, hex);
			sha256_init(&x->hash);
			x->have = 0;
		}
	}
	if (x->status != 200 && x->status != 206) {
		/* An error body: ignored, the status tells; but never read without
		 * end (a hostile server could stream one forever). */
		x->error_body += len;
		return x->error_body > MAX_ERROR_BODY ? 0 : len;
	}
	if (x->b->size >= 0 && x->have + (int64_t)len > x->b->size) {
		x->write_errno = EFBIG;
		return 0;
	}
	const char *q = p;
	size_t left = len;
	while (left) {
		ssize_t w = write(x->b->fd, q, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			x->write_errno = errno;
			return 0;
		}
		q += w;
		left -= (size_t)w;
	}
	sha256_update(&x->hash, p, len);
	x->have += (int64_t)len;
	progress_add(&x->r->progress, len);
	return len;
}

static size_t blob_header(char *p, size_t sz, size_t n, void *data)
{
	struct xfer *x = data;
	size_t len = sz * n;
	if (len > 12 && !strncasecmp(p, "retry-after:", 12)) {
		_cleanup_free_ char *v = trim_dup(p + 12, len - 12);
		snprintf(x->retry_after, sizeof x->retry_after, "%s", v);
	}
	return len;
}

static void xfer_start(struct xfer *x, CURLM *m)
{
	struct registry *r = x->r;
	struct endpoint *ep = &r->eps[x->ep];
	x->h = curl_easy_init();
	setup_common(x->h, r);
	setup_tls(x->h, ep);
	_cleanup_free_ char *url = xasprintf("%s/v2/%s/blobs/%s", ep->base, r->repo, x->b->digest);
	curl_easy_setopt(x->h, CURLOPT_URL, url);
	curl_slist_free_all(x->hdrs);
	x->hdrs = ep->authz ? curl_slist_append(NULL, ep->authz) : NULL;
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, blob_write);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, blob_header);
	curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	x->errbuf[0] = x->retry_after[0] = '\0';
	x->start = x->have;
	x->checked = false;
	x->status = 0;
	x->write_errno = 0;
	x->error_body = 0;
	if (x->have > 0) {
		char range[64];
		snprintf(range, sizeof range, "%lld-", (long long)x->have);
		curl_easy_setopt(x->h, CURLOPT_RANGE, range);
	}
	lseek(x->b->fd, x->have, SEEK_SET);
	curl_multi_add_handle(m, x->h);
	x->active = true;
}

static void xfer_fail(struct xfer *x, int code, const char *fmt, const char *detail)
{
	struct endpoint *ep = &x->r->eps[x->ep];
	ferr_setc(&x->b->err, code, 0, "%s %s: blob %s: %s%s", ep->host, x->r->repo, x->b->digest, fmt, detail ? detail : "");
	x->b->failed = 1;
	x->finished = true;
	char hex[SHA256_HEX_LEN + 1];
	sha256_final_hex(&x->hash, hex);
}

/* A transfer ended: done, retry later, or failed. */
static void xfer_done(struct xfer *x, CURLM *m, CURLcode c)
{
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
	curl_multi_remove_handle(m, x->h);
	curl_easy_cleanup(x->h);
	x->h = NULL;
	x->active = false;
	x->attempts++;
	struct endpoint *ep = &x->r->eps[x->ep];
	if (c == CURLE_OK && (x->status == 200 || x->status == 206)) {
		if (x->b->size >= 0 && x->have != x->b->size) {
			if (x->attempts < MAX_ATTEMPTS) { /* short body: resume */
				x->not_before_ms = now_ms() + retry_delay_ms(NULL, x->attempts - 1);
				return;
			}
			return xfer_fail(x, FERR_NETWORK, "short download", NULL);
		}
		char hex[SHA256_HEX_LEN + 1];
		sha256_final_hex(&x->hash, hex);
		x->finished = true;
		if (strcmp(hex, x->b->digest + 7)) {
			ferr_setc(&x->b->err, FERR_INTEGRITY, 0, "%s %s: blob %s: digest mismatch (got sha256:%s)", ep->host,
				x->r->repo, x->b->digest, hex);
			x->b->failed = 1;
			if (ftruncate(x->b->fd, 0) < 0) { /* nothing of it may be resumed */
			}
		}
		x->b->have = x->have;
		x->b->done = !x->b->failed;
		return;
	}
	if (c == CURLE_OK && x->status == 401 && x->reauths < 3) {
		/* Bearer tokens are short-lived (Docker Hub: 5 min) and a queued
		 * blob may start after its token expired: answer the challenge again. */
		x->reauths++;
		ep->auth_tried = false;
		struct resp resp = { 0 };
		resp.max_body = 65536;
		_cleanup_free_ char *path = xasprintf("/v2/%s/blobs/%s", x->r->repo, x->b->digest);
		struct ferr err = FERR_INIT;
		if (ep_request(x->r, ep, "HEAD", path, NULL, &resp, &err) == 0 && resp.status < 400) {
			resp_free(&resp);
			return; /* restart right away with the new token */
		}
		resp_free(&resp);
		x->b->err = err;
		x->b->failed = 1;
		x->finished = true;
		return;
	}
	if (c == CURLE_WRITE_ERROR && x->error_body > MAX_ERROR_BODY) {
		char st[96];
		snprintf(st, sizeof st, "HTTP %ld with an error body over %d KiB (not read further)", x->status, MAX_ERROR_BODY / 1024);
		return xfer_fail(x, FERR_NETWORK, st, NULL);
	}
	bool transient = c == CURLE_OK ? transient_status(x->status) : (transient_curl(c) || c == CURLE_WRITE_ERROR);
	if (c == CURLE_WRITE_ERROR && x->write_errno && x->write_errno != EFBIG) {
		char detail[128];
		snprintf(detail, sizeof detail, "%s", strerror(x->write_errno));
		return xfer_fail(x, FERR_GENERIC, "write: ", detail);
	}
	if (x->write_errno == EFBIG)
		return xfer_fail(x, FERR_INTEGRITY, "larger than the manifest says", NULL);
	if (transient && x->attempts < MAX_ATTEMPTS) {
		long ms = retry_delay_ms(x->retry_after, x->attempts - 1);
		log_info("%s: blob %.19s: %s, retrying in %.1f s", ep->host, x->b->digest,
			c == CURLE_OK ? "server busy" : (x->errbuf[0] ? x->errbuf : curl_easy_strerror(c)), (double)ms / 1000);
		x->not_before_ms = now_ms() + ms;
		return;
	}
	/* Another endpoint (the registry after a mirror) may have it. */
	if (x->ep + 1 < x->r->n_eps && (c != CURLE_OK || x->status == 404 || x->status >= 500)) {
		x->ep++;
		x->attempts = 0;
		return;
	}
	if (c != CURLE_OK)
		return xfer_fail(x, FERR_NETWORK, "", x->errbuf[0] ? x->errbuf : curl_easy_strerror(c));
	char st[64];
	snprintf(st, sizeof st, "HTTP %ld", x->status);
	xfer_fail(x, x->status == 404 ? FERR_NOTFOUND : FERR_NETWORK, st, x->status == 429 ? " (rate limited; configure a mirror)" : NULL);
}

int registry_blobs(struct registry *r, struct blob_fetch *b, size_t n, struct ferr *err)
{
	if (n == 0)
		return 0;
	/* Make sure auth is settled before going parallel: one cheap HEAD. */
	{
		struct resp resp = { 0 };
		resp.max_body = 65536;
		_cleanup_free_ char *path = xasprintf("/v2/%s/blobs/%s", r->repo, b[0].digest);
		struct ferr e = FERR_INIT;
		ep_request(r, &r->eps[r->cur], "HEAD", path, NULL, &resp, &e);
		resp_free(&resp);
	}
	struct xfer *xs = xcalloc(n, sizeof *xs);
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += b[i].size > 0 ? (uint64_t)b[i].size : 0;
	if (r->quiet)
		memset(&r->progress, 0, sizeof r->progress);
	else
		progress_start(&r->progress, "downloading", total);
	CURLM *m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)MAX_PARALLEL);
	for (size_t i = 0; i < n; i++) {
		xs[i].b = &b[i];
		xs[i].r = r;
		xs[i].ep = r->cur;
		sha256_init(&xs[i].hash);
		/* hash what a previous run left (Range resume) */
		if (b[i].have > 0) {
			char buf[65536];
			int64_t off = 0;
			while (off < b[i].have) {
				ssize_t k = pread(b[i].fd, buf, sizeof buf, off);
				if (k <= 0)
					break;
				if (off + k > b[i].have)
					k = (ssize_t)(b[i].have - off);
				sha256_update(&xs[i].hash, buf, (size_t)k);
				off += k;
			}
			xs[i].have = off;
			progress_add(&r->progress, (uint64_t)off);
			if (ftruncate(b[i].fd, off) < 0)
				xs[i].have = 0;
			if (xs[i].have == b[i].size) {
				/* complete already (an earlier run died before the rename) */
				char hex[SHA256_HEX_LEN + 1];
				sha256_final_hex(&xs[i].hash, hex);
				if (!strcmp(hex, b[i].digest + 7)) {
					xs[i].finished = true;
					b[i].done = 1;
					continue;
				}
				sha256_init(&xs[i].hash);
				xs[i].have = 0;
				if (ftruncate(b[i].fd, 0) < 0) {
				}
			}
		}
	}
	for (;;) {
		int running_or_pending = 0;
		long long now = now_ms();
		long long next_wake = -1;
		for (size_t i = 0; i < n; i++) {
			struct xfer *x = &xs[i];
			if (x->finished || x->active)
				continue;
			if (x->not_before_ms > now) {
				long long w = x->not_before_ms - now;
				if (next_wake < 0 || w < next_wake)
					next_wake = w;
				running_or_pending++;
				continue;
			}
			xfer_start(x, m);
		}
		int still = 0;
		curl_multi_perform(m, &still);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE) {
				struct xfer *x;
				curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
				xfer_done(x, m, msg->data.result);
			}
		for (size_t i = 0; i < n; i++)
			if (!xs[i].finished)
				running_or_pending++;
		if (!running_or_pending)
			break;
		int timeout = next_wake >= 0 && next_wake < 1000 ? (int)next_wake : 1000;
		curl_multi_poll(m, NULL, 0, timeout, NULL);
	}
	curl_multi_cleanup(m);
	progress_end(&r->progress);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		curl_slist_free_all(xs[i].hdrs);
		if (b[i].failed && rc == 0) {
			*err = b[i].err;
			rc = -1;
		}
	}
	free(xs);
	return rc;
}

/* ---- setup ------------------------------------------------------------------ */

static void ep_init(struct endpoint *ep, const char *url_or_host, bool insecure, bool mirror)
{
	memset(ep, 0, sizeof *ep);
	const char *hp = url_or_host;
	if (str_starts_with(hp, "https://"))
		hp += 8;
	else if (str_starts_with(hp, "http://")) {
		hp += 7;
		insecure = true; /* an explicit http:// mirror is the admin's choice */
	}
	size_t hl = strcspn(hp, "/");
	ep->host = xstrndup(hp, hl);
	if (str_starts_with(url_or_host, "http://"))
		ep->base = xasprintf("http://%s", ep->host);
	else
		ep->base = xasprintf("https://%s", ep->host);
	if (str_starts_with(url_or_host, "http://"))
		ep->http_probed = true;
	ep->insecure = insecure;
	ep->is_mirror = mirror;
	registry_certs(ep->host, &ep->ca, &ep->cert, &ep->key);
}

int registry_open(struct registry **out, const struct image_ref *ref, const struct pull_opts *o, struct ferr *err)
{
	if (netlibs_load(err) < 0)
		return ferr_wrap(err, "registry %s", ref->registry);
	struct registry *r = xcalloc(1, sizeof *r);
	r->name = xstrdup(ref->registry);
	r->repo = xstrdup(ref->repo);
	r->quiet = o && o->quiet;
	r->easy = curl_easy_init();
	r->share = curl_share_init();
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	struct registry_conf conf;
	registry_conf_get(ref->registry, &conf);
	bool insecure = (o && o->insecure) || conf.insecure;
	size_t nm = strv_len(conf.mirrors);
	r->eps = xcalloc(nm + 1, sizeof *r->eps);
	for (size_t i = 0; i < nm; i++)
		ep_init(&r->eps[r->n_eps++], conf.mirrors[i], insecure, true);
	ep_init(&r->eps[r->n_eps++], !strcmp(ref->registry, "docker.io") ? "registry-1.docker.io" : ref->registry,
		insecure, false);
	registry_conf_free(&conf);
	struct ferr e = FERR_INIT;
	if (docker_config_get_auth(ref->registry, &r->user, &r->password, &e) < 0 && e.code != FERR_NOTFOUND) {
		registry_close(r);
		*err = e;
		return -1;
	}
	*out = r;
	return 0;
}

void registry_close(struct registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_eps; i++) {
		struct endpoint *ep = &r->eps[i];
		free(ep->base);
		free(ep->host);
		free(ep->ca);
		free(ep->cert);
		free(ep->key);
		free(ep->authz);
	}
	free(r->eps);
	if (r->easy)
		curl_easy_cleanup(r->easy);
	if (r->share)
		curl_share_cleanup(r->share);
	free(r->name);
	free(r->repo);
	free(r->user);
	if (r->password)
		explicit_bzero(r->password, strlen(r->password));
	free(r->password);
	free(r);
}

int registry_login_check(const char *host, const char *user, const char *password, bool insecure,
	struct ferr *err)
{
	struct image_ref ref = { .registry = (char *)host, .repo = (char *)"ferry-login-check" };
	struct pull_opts o = { .insecure = insecure };
	struct registry *r = NULL;
	if (registry_open(&r, &ref, &o, err) < 0 || !r)
		return -1;
	free(r->user);
	free(r->password);
	r->user = xstrdup(user);
	r->password = xstrdup(password);
	struct endpoint *ep = &r->eps[r->n_eps - 1];
	struct resp resp = { 0 };
	resp.max_body = 65536;
	probe_scheme(r, ep);
	_cleanup_free_ char *url = xasprintf("%s/v2/", ep->base);
	int rc = http_get(r, ep, "GET", url, NULL, NULL, &resp, err);
	if (rc == 0 && resp.status == 401 && resp.www_auth) {
		if (!strncasecmp(resp.www_auth, "bearer", 6)) {
			/* a token for the registry (no repository scope) with the credentials */
			_cleanup_free_ char *realm = challenge_param(resp.www_auth, "realm");
			_cleanup_free_ char *service = challenge_param(resp.www_auth, "service");
			_cleanup_free_ char *tokurl = NULL;
			if (realm) {
				char *s = service ? curl_easy_escape(r->easy, service, 0) : NULL;
				tokurl = xasprintf("%s%sservice=%s", realm, strchr(realm, '?') ? "&" : "?", s ? s : "");
				curl_free(s);
			}
			_cleanup_free_ char *up = xasprintf("%s:%s", user, password);
			struct resp t = { 0 };
			t.max_body = 1024 * 1024;
			rc = tokurl ? http_get(r, ep, "GET", tokurl, NULL, up, &t, err) : ferr_setc(err, FERR_AUTH, 0, "%s: bearer challenge without realm", host);
			if (rc == 0 && t.status != 200)
				rc = ferr_setc(err, FERR_AUTH, 0, "%s: login refused (HTTP %ld)", host, t.status);
			resp_free(&t);
		} else {
			_cleanup_free_ char *up = xasprintf("%s:%s", user, password);
			rc = http_get(r, ep, "GET", url, NULL, up, &resp, err);
			if (rc == 0 && resp.status != 200)
				rc = ferr_setc(err, FERR_AUTH, 0, "%s: login refused (HTTP %ld)", host, resp.status);
		}
	} else if (rc == 0 && resp.status != 200) {
		rc = ferr_setc(err, FERR_NETWORK, 0, "%s/v2/: HTTP %ld (is it a registry?)", ep->base, resp.status);
	}
	resp_free(&resp);
	registry_close(r);
	return rc;
}
