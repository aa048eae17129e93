/* Blob downloads: in parallel (curl multi, MAX_PARALLEL connections),
 * each hashed while it streams and resumed with Range after a break (also
 * across runs: the store keeps partial files), retried on transient
 * failures, falling back from a mirror to the registry. Progress goes to
 * pull_opts.events; nothing is printed here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/sha256.h"
#include "base/str.h"
#include "image/registry_int.h"

/* Bytes downloaded by one registry_blobs() call, reported through
 * pull_opts.events at most every 100 ms. */
struct blob_progress {
	const struct pull_events *ev;
	uint64_t done, total;
	long long last_ms;
};

struct xfer {
	struct blob_progress *prog;
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

static void progress_report(struct blob_progress *p, uint64_t add, bool finished)
{
	p->done += add;
	if (!p->ev || !p->ev->progress)
		return;
	long long t = now_ms();
	if (!finished && add && t - p->last_ms < 100)
		return;
	p->last_ms = t;
	p->ev->progress(p->ev->arg, "downloading", p->done, p->total, finished);
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
			sha256_abort(&x->hash);
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
	if (fs_write_all(x->b->fd, p, len) < 0) {
		x->write_errno = errno;
		return 0;
	}
	sha256_update(&x->hash, p, len);
	x->have += (int64_t)len;
	progress_report(x->prog, len, false);
	return len;
}

static size_t blob_header(char *p, size_t sz, size_t n, void *data)
{
	struct xfer *x = data;
	size_t len = sz * n;
	if (len > 12 && !strncasecmp(p, "retry-after:", 12)) {
		_cleanup_free_ char *v = http_trim_dup(p + 12, len - 12);
		snprintf(x->retry_after, sizeof x->retry_after, "%s", v);
	}
	return len;
}

static void xfer_start(struct xfer *x, CURLM *m)
{
	struct registry *r = x->r;
	struct endpoint *ep = &r->eps[x->ep];
	x->h = curl_easy_init();
	http_setup_common(x->h, r);
	http_setup_tls(x->h, ep);
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
	sha256_abort(&x->hash);
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
				x->not_before_ms = now_ms() + http_retry_delay_ms(NULL, x->attempts - 1);
				return;
			}
			return xfer_fail(x, FERR_NETWORK, "short download", NULL);
		}
		char hex[SHA256_HEX_LEN + 1];
		sha256_final_hex(&x->hash, hex);
		x->finished = true;
		if (strcmp(hex, x->b->digest + 7)) {
			/* Nothing of it may be resumed: the store removes the file on
			 * FERR_INTEGRITY; emptying it here too covers a store that cannot. */
			bool emptied = ftruncate(x->b->fd, 0) == 0;
			int e = errno;
			ferr_setc(&x->b->err, FERR_INTEGRITY, 0, "%s %s: blob %s: digest mismatch (got sha256:%s)%s%s", ep->host,
				x->r->repo, x->b->digest, hex, emptied ? "" : "; the partial file could not be emptied: ",
				emptied ? "" : strerror(e));
			x->b->failed = 1;
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
		sha256_abort(&x->hash);
		return;
	}
	if (c == CURLE_WRITE_ERROR && x->error_body > MAX_ERROR_BODY) {
		char st[96];
		snprintf(st, sizeof st, "HTTP %ld with an error body over %d KiB (not read further)", x->status, MAX_ERROR_BODY / 1024);
		return xfer_fail(x, FERR_NETWORK, st, NULL);
	}
	bool transient = c == CURLE_OK ? http_transient_status(x->status) : (http_transient_curl(c) || c == CURLE_WRITE_ERROR);
	if (c == CURLE_WRITE_ERROR && x->write_errno && x->write_errno != EFBIG) {
		char detail[128];
		snprintf(detail, sizeof detail, "%s", strerror(x->write_errno));
		return xfer_fail(x, FERR_GENERIC, "write: ", detail);
	}
	if (x->write_errno == EFBIG)
		return xfer_fail(x, FERR_INTEGRITY, "larger than the manifest says", NULL);
	if (transient && x->attempts < MAX_ATTEMPTS) {
		long ms = http_retry_delay_ms(x->retry_after, x->attempts - 1);
		pull_events_note(x->r->events, "%s: blob %.19s: %s, retrying in %.1f s", ep->host, x->b->digest,
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
	struct blob_progress prog = { .ev = r->events, .total = total };
	progress_report(&prog, 0, false);
	CURLM *m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)MAX_PARALLEL);
	for (size_t i = 0; i < n; i++) {
		xs[i].prog = &prog;
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
			progress_report(&prog, (uint64_t)off, false);
			bool whole = xs[i].have == b[i].size;
			char hex[SHA256_HEX_LEN + 1];
			if (whole)
				sha256_final_hex(&xs[i].hash, hex);
			if (whole && !strcmp(hex, b[i].digest + 7)) {
				/* complete already (an earlier run died before the rename) */
				xs[i].finished = true;
				b[i].done = 1;
				continue;
			}
			if (whole) { /* whole but wrong: start over */
				sha256_init(&xs[i].hash);
				xs[i].have = 0;
			}
			/* drop whatever lies beyond the verified prefix */
			if (ftruncate(b[i].fd, xs[i].have) < 0) {
				ferr_set(&b[i].err, errno, "blob %s: truncate the partial download", b[i].digest);
				b[i].failed = 1;
				xs[i].finished = true;
				sha256_abort(&xs[i].hash);
				continue;
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
	progress_report(&prog, 0, true);
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

