/* Registry authentication: WWW-Authenticate challenges, bearer tokens
 * from the realm (one fetch, for pulls and for ferry login), and basic
 * credentials. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/str.h"
#include "image/registry_int.h"

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
	char *host = at ? at + 1 : hostport;
	if (host[0] == '[') { /* [v6]:port */
		char *end = strchr(host, ']');
		if (end)
			*end = '\0';
		host++;
	} else {
		char *colon = strchr(host, ':');
		if (colon)
			*colon = '\0';
	}
	struct in_addr a4;
	struct in6_addr a6;
	if (!strcmp(host, "localhost"))
		return false;
	if (inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127)
		return false;
	if (inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6))
		return false;
	return true;
}

int auth_fetch_token(struct registry *r, struct endpoint *ep, const char *challenge, const char *scope,
	const char *userpwd, struct ferr *err)
{
	_cleanup_free_ char *realm = challenge_param(challenge, "realm");
	_cleanup_free_ char *service = challenge_param(challenge, "service");
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
		dstr_printf(&url, "service=%s", s);
		curl_free(s);
	}
	if (scope) {
		char *s = curl_easy_escape(r->easy, scope, 0);
		dstr_printf(&url, "%sscope=%s", service ? "&" : "", s);
		curl_free(s);
	}
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

/* The pull's token: the repository scope the challenge names (or pull of
 * ours), with the credentials only for the registry itself, not mirrors. */
static int pull_token(struct registry *r, struct endpoint *ep, const char *challenge, struct ferr *err)
{
	_cleanup_free_ char *scope = challenge_param(challenge, "scope");
	_cleanup_free_ char *want = xasprintf("repository:%s:pull", r->repo);
	_cleanup_free_ char *userpwd = r->user && !ep->is_mirror ? xasprintf("%s:%s", r->user, r->password) : NULL;
	int rc = auth_fetch_token(r, ep, challenge, scope && strstr(scope, r->repo) ? scope : want, userpwd, err);
	if (userpwd)
		explicit_bzero(userpwd, strlen(userpwd));
	return rc;
}

/* Answer a 401: returns 0 when the request should be retried with new auth. */
int auth_answer_401(struct registry *r, struct endpoint *ep, const struct resp *resp, struct ferr *err)
{
	if (ep->auth_tried || !resp->www_auth) {
		ferr_setc(err, FERR_AUTH, 0, "%s: access denied to %s (HTTP 401)", ep->host, r->repo);
		return ferr_hint(err, r->user ? "the stored credentials were refused; run 'ferry login %s'"
					      : "log in with 'ferry login %s' if the repository is private",
			r->name);
	}
	ep->auth_tried = true;
	if (!strncasecmp(resp->www_auth, "bearer", 6))
		return pull_token(r, ep, resp->www_auth, err);
	if (!strncasecmp(resp->www_auth, "basic", 5)) {
		if (!r->user || ep->is_mirror) {
			ferr_setc(err, FERR_AUTH, 0, "%s: the registry wants a user name and password", ep->host);
			return ferr_hint(err, "run 'ferry login %s'", r->name);
		}
		_cleanup_free_ char *b64 = auth_basic_b64(r->user, r->password);
		free(ep->authz);
		ep->authz = xasprintf("Authorization: Basic %s", b64);
		return 0;
	}
	return ferr_setc(err, FERR_AUTH, 0, "%s: unsupported authentication scheme '%.40s'", ep->host, resp->www_auth);
}

