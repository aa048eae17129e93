/* The registry client's internals, shared by its parts (not for other
 * layers):
 *   registry_http.c   one HTTP request over libcurl: TLS, retries, limits
 *   registry_auth.c   challenges, bearer tokens (one fetch for pulls and
 *                     login), basic credentials
 *   registry.c        endpoints (mirrors, then the registry), manifests, login
 *   registry_blobs.c  parallel, resumed, verified blob downloads */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "base/str.h"
#include "image/image.h"
#include "image/internal.h"
#include "image/netlibs.h"

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
	const struct pull_events *events; /* progress and notes, or NULL */
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

void resp_free(struct resp *r);
/* One request with retries for transient failures (429, 5xx, broken
 * connections). For insecure endpoints, settle https vs http first. */
int http_get(struct registry *r, struct endpoint *ep, const char *method, const char *url,
	struct curl_slist *hdrs, const char *userpwd, struct resp *out, struct ferr *err);
void http_probe_scheme(struct registry *r, struct endpoint *ep);
void http_setup_common(CURL *h, struct registry *r);
void http_setup_tls(CURL *h, const struct endpoint *ep);
bool http_transient_curl(CURLcode c);
bool http_transient_status(long s);
long http_retry_delay_ms(const char *retry_after, int attempt);
char *http_trim_dup(const char *v, size_t len);

/* GET/HEAD path on an endpoint, answering one auth challenge. */
int ep_request(struct registry *r, struct endpoint *ep, const char *method, const char *path, const char *accept,
	struct resp *out, struct ferr *err);

/* Answer a 401: 0 when the request should be retried with new auth. */
int auth_answer_401(struct registry *r, struct endpoint *ep, const struct resp *resp, struct ferr *err);
/* A bearer token from the challenge's realm into ep->authz. scope: the
 * repository scope to ask for, or NULL for none (login); userpwd "user:pw"
 * or NULL (anonymous). */
int auth_fetch_token(struct registry *r, struct endpoint *ep, const char *challenge, const char *scope,
	const char *userpwd, struct ferr *err);
/* A report of the pull's progress or a note, through pull_opts.events. */
