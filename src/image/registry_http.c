/* One HTTP request to a registry endpoint over libcurl: TLS settings
 * (certs.d, --insecure, trust anchors), retries of transient failures with
 * exponential backoff honouring Retry-After, and bounded bodies. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "image/registry_int.h"

void resp_free(struct resp *r)
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

char *http_trim_dup(const char *v, size_t len)
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
	*slot = http_trim_dup(v, len);
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

/* The system's trust anchors as a hashed certificate directory (c_rehash
 * links "<subject-hash>.N"): OpenSSL then reads only the certificates a
 * chain needs, when it needs them, where the bundle file (CAINFO, libcurl's
 * default) is parsed whole at every start: ~140 certificates, most of a
 * warm pull's CPU time. SSL_CERT_DIR (OpenSSL's own variable) wins over
 * /etc/ssl/certs; NULL when neither holds hash links (RHEL ships a bundle
 * only), and then libcurl's default bundle is used as before. */
static const char *ca_dir;
static pthread_once_t ca_dir_once = PTHREAD_ONCE_INIT;

static bool has_hash_links(const char *dir)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n >= 10 && e->d_name[8] == '.' && strspn(e->d_name, "0123456789abcdef") == 8 &&
			strspn(e->d_name + 9, "0123456789") == n - 9)
			return true;
	}
	return false;
}

static void find_ca_dir(void)
{
	static char env_dir[4096];
	const char *env = getenv("SSL_CERT_DIR");
	if (env && *env) {
		snprintf(env_dir, sizeof env_dir, "%.*s", (int)strcspn(env, ":"), env);
		if (has_hash_links(env_dir)) {
			ca_dir = env_dir;
			return;
		}
	}
	if (has_hash_links("/etc/ssl/certs"))
		ca_dir = "/etc/ssl/certs";
}

void http_setup_tls(CURL *h, const struct endpoint *ep)
{
	pthread_once(&ca_dir_once, find_ca_dir);
	if (ep->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (ep->ca) {
		/* certs.d/HOST/ca.crt is trusted in addition to the system store */
		curl_easy_setopt(h, CURLOPT_CAINFO, ep->ca);
		if (ca_dir)
			curl_easy_setopt(h, CURLOPT_CAPATH, ca_dir);
	} else if (ca_dir) {
		curl_easy_setopt(h, CURLOPT_CAINFO, (char *)NULL); /* not the bundle: the directory, lazily */
		curl_easy_setopt(h, CURLOPT_CAPATH, ca_dir);
	}
	if (ep->cert) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, ep->cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, ep->key);
	}
}

void http_setup_common(CURL *h, struct registry *r)
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

bool http_transient_curl(CURLcode c)
{
	return c == CURLE_RECV_ERROR || c == CURLE_SEND_ERROR || c == CURLE_PARTIAL_FILE || c == CURLE_GOT_NOTHING ||
		c == CURLE_OPERATION_TIMEDOUT || c == CURLE_HTTP2 || c == CURLE_HTTP2_STREAM;
}

bool http_transient_status(long s)
{
	return s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

long http_retry_delay_ms(const char *retry_after, int attempt)
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

/* One HTTP request with retries for transient failures. For insecure
 * endpoints the first request settles https (unverified) vs plain http. */
int http_get(struct registry *r, struct endpoint *ep, const char *method, const char *url,
	struct curl_slist *hdrs, const char *userpwd, struct resp *out, struct ferr *err)
{
	char errbuf[CURL_ERROR_SIZE];
	for (int attempt = 0;; attempt++) {
		size_t max = out->max_body;
		resp_free(out);
		out->max_body = max;
		curl_easy_reset(r->easy);
		http_setup_common(r->easy, r);
		http_setup_tls(r->easy, ep);
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
			if (http_transient_status(out->status) && attempt + 1 < MAX_ATTEMPTS) {
				long ms = http_retry_delay_ms(out->retry_after, attempt);
				pull_events_note(r->events, "%s: HTTP %ld, retrying in %.1f s", ep->host, out->status, (double)ms / 1000);
				sleep_ms(ms);
				continue;
			}
			return 0;
		}
		if (out->too_big)
			return ferr_setc(err, FERR_INVALID, 0, "%s: response too large", url);
		if (http_transient_curl(c) && attempt + 1 < MAX_ATTEMPTS) {
			long ms = http_retry_delay_ms(NULL, attempt);
			pull_events_note(r->events, "%s: %s, retrying in %.1f s", ep->host, errbuf[0] ? errbuf : curl_easy_strerror(c),
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
void http_probe_scheme(struct registry *r, struct endpoint *ep)
{
	if (!ep->insecure || ep->http_probed || !str_starts_with(ep->base, "https://"))
		return;
	ep->http_probed = true;
	_cleanup_free_ char *url = xasprintf("%s/v2/", ep->base);
	struct resp resp = { 0 };
	resp.max_body = 65536;
	curl_easy_reset(r->easy);
	http_setup_common(r->easy, r);
	http_setup_tls(r->easy, ep);
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, &resp);
	CURLcode c = curl_easy_perform(r->easy);
	resp_free(&resp);
	if (c == CURLE_SSL_CONNECT_ERROR || c == CURLE_GOT_NOTHING || c == CURLE_RECV_ERROR) {
		char *http = xasprintf("http://%s", ep->base + 8);
		free(ep->base);
		ep->base = http;
	}
}

