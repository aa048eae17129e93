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
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/str.h"
#include "image/registry_int.h"

void pull_events_note(const struct pull_events *ev, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (ev && ev->note)
		ev->note(ev->arg, line);
	else
		log_info("%s", line);
}

/* GET/HEAD path on an endpoint, answering one auth challenge. */
int ep_request(struct registry *r, struct endpoint *ep, const char *method, const char *path,
	const char *accept, struct resp *out, struct ferr *err)
{
	http_probe_scheme(r, ep);
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
		if (round == 1 || auth_answer_401(r, ep, out, err) < 0) {
			if (round == 1)
				auth_answer_401(r, ep, out, err); /* auth_tried: fills the error */
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
		if (i + 1 < r->n_eps) { /* the last endpoint (the registry itself) says why */
			char buf[FERR_MSG_MAX];
			pull_events_note(r->events, "mirror %s: %s; trying the next", ep->host, ferr_str(err, buf, sizeof buf));
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
	if (netlibs_load_curl(err) < 0)
		return ferr_wrap(err, "registry %s", ref->registry);
	struct registry *r = xcalloc(1, sizeof *r);
	r->name = xstrdup(ref->registry);
	r->repo = xstrdup(ref->repo);
	r->events = o && !o->quiet ? o->events : NULL;
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
	http_probe_scheme(r, ep);
	_cleanup_free_ char *url = xasprintf("%s/v2/", ep->base);
	int rc = http_get(r, ep, "GET", url, NULL, NULL, &resp, err);
	if (rc == 0 && resp.status == 401 && resp.www_auth) {
		if (!strncasecmp(resp.www_auth, "bearer", 6)) {
			/* a token for the registry (no repository scope) with the credentials */
			_cleanup_free_ char *up = xasprintf("%s:%s", user, password);
			rc = auth_fetch_token(r, ep, resp.www_auth, NULL, up, err);
			explicit_bzero(up, strlen(up));
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
