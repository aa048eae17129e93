/* A repository's tags (/v2/<name>/tags/list), page by page (?n=&last=,
 * as the distribution spec says), for `ferry deploy --list` wildcards. */
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/str.h"
#include "image/registry_int.h"

#define TAGS_PAGE 100
#define MAX_TAGS 100000

int image_tags_list(const struct image_ref *ref, const struct pull_opts *o, char ***tags, struct ferr *err)
{
	*tags = NULL;
	if (ref->transport != TRANSPORT_DOCKER)
		return ferr_setc(err, FERR_USAGE, 0, "tags of %s: only a registry lists tags", ref->repo);
	struct registry *r;
	if (registry_open(&r, ref, o, err) < 0)
		return -1;
	/* the registry itself: a mirror may hold only some tags */
	struct endpoint *ep = &r->eps[r->n_eps - 1];
	_cleanup_free_ char *last = NULL;
	int rc = 0;
	size_t total = 0;
	for (;;) {
		_cleanup_free_ char *path = last ? xasprintf("/v2/%s/tags/list?n=%d&last=%s", r->repo, TAGS_PAGE, last)
						 : xasprintf("/v2/%s/tags/list?n=%d", r->repo, TAGS_PAGE);
		struct resp resp = { 0 };
		resp.max_body = MAX_MANIFEST;
		rc = ep_request(r, ep, "GET", path, "application/json", &resp, err);
		if (rc == 0 && resp.status != 200) {
			rc = ferr_setc(err, resp.status == 404 ? FERR_NOTFOUND : FERR_NETWORK, 0, "%s/%s: tag list: HTTP %ld",
				ep->host, r->repo, resp.status);
		}
		json_t *j = NULL;
		if (rc == 0 && !(j = json_load_buf(resp.body.buf ? resp.body.buf : "", resp.body.len, "tag list", err)))
			rc = -1;
		resp_free(&resp);
		if (rc < 0)
			break;
		json_t *a = json_object_get(j, "tags");
		size_t n = json_is_array(a) ? json_array_size(a) : 0, added = 0;
		for (size_t i = 0; i < n; i++) {
			const char *t = json_string_value(json_array_get(a, i));
			if (!t || (last && strcmp(t, last) <= 0 && i == 0 && !strcmp(t, last)))
				continue;
			strv_push(tags, t);
			added++;
			free(last);
			last = xstrdup(t);
		}
		json_decref(j);
		total += added;
		if (n < TAGS_PAGE || !added || total > MAX_TAGS)
			break;
	}
	registry_close(r);
	if (rc < 0) {
		strv_free(*tags);
		*tags = NULL;
	}
	return rc;
}
