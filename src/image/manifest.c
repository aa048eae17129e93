/* OCI and Docker schema 2 manifests, indexes and image configs. */
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/sha256.h"
#include "base/str.h"
#include "image/image.h"

static void desc_free(struct image_desc *d)
{
	free(d->media_type);
	free(d->digest);
	memset(d, 0, sizeof *d);
}

void image_manifest_free(struct image_manifest *m)
{
	desc_free(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		desc_free(&m->layers[i]);
	for (size_t i = 0; i < m->n_manifests; i++)
		desc_free(&m->manifests[i]);
	free(m->layers);
	free(m->manifests);
	free(m->media_type);
	memset(m, 0, sizeof *m);
}

static int copy_str(char *dst, size_t size, const char *s)
{
	size_t n = s ? strlen(s) : size;
	if (n >= size)
		return -1;
	memcpy(dst, s, n + 1);
	return 0;
}

static int parse_desc(const json_t *j, const char *what, struct image_desc *d, struct ferr *err)
{
	const char *digest = json_get_str(j, "digest");
	json_t *size = json_object_get(j, "size");
	if (!json_is_object(j) || !digest)
		return ferr_setc(err, FERR_INVALID, 0, "%s: descriptor without digest", what);
	if (!sha256_digest_valid(digest))
		return ferr_setc(err, FERR_UNSUPPORTED, 0, "%s: unsupported digest '%.80s' (ferry supports sha256)", what, digest);
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return ferr_setc(err, FERR_INVALID, 0, "%s %s: descriptor without a valid size", what, digest);
	const char *mt = json_get_str(j, "mediaType");
	d->media_type = xstrdup(mt ? mt : "");
	d->digest = xstrdup(digest);
	d->size = json_integer_value(size);
	json_t *p = json_object_get(j, "platform");
	if (json_is_object(p)) {
		d->has_platform = !copy_str(d->platform.os, sizeof d->platform.os, json_get_str(p, "os")) &&
			!copy_str(d->platform.arch, sizeof d->platform.arch, json_get_str(p, "architecture"));
		copy_str(d->platform.variant, sizeof d->platform.variant, json_get_str(p, "variant"));
	}
	return 0;
}

int image_manifest_parse(const char *buf, size_t len, const char *content_type, struct image_manifest *m,
	struct ferr *err)
{
	memset(m, 0, sizeof *m);
	_cleanup_json_ json_t *j = json_load_buf(buf, len, "manifest", err);
	if (!j)
		return -1;
	if (!json_is_object(j))
		return ferr_setc(err, FERR_INVALID, 0, "manifest: not a JSON object");
	const char *mt = json_get_str(j, "mediaType");
	json_t *sv = json_object_get(j, "schemaVersion");
	if ((json_is_integer(sv) && json_integer_value(sv) == 1) ||
		(content_type && (str_starts_with(content_type, MT_DOCKER_SCHEMA1) ||
					 str_starts_with(content_type, MT_DOCKER_SCHEMA1_SIGNED)))) {
		ferr_setc(err, FERR_UNSUPPORTED, 0, "image uses the Docker schema 1 manifest format, which ferry does not support");
		return ferr_hint(err, "re-push the image with a current docker, podman or skopeo (schema 2 / OCI)");
	}
	if (!json_is_integer(sv) || json_integer_value(sv) != 2)
		return ferr_setc(err, FERR_INVALID, 0, "manifest: schemaVersion is not 2");
	if (!mt && content_type && *content_type && !str_starts_with(content_type, "application/json") &&
		!str_starts_with(content_type, "text/plain"))
		mt = content_type;
	json_t *manifests = json_object_get(j, "manifests");
	json_t *layers = json_object_get(j, "layers");
	bool index = mt ? (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST)) : json_is_array(manifests);
	if (mt && !index && strcmp(mt, MT_OCI_MANIFEST) && strcmp(mt, MT_DOCKER_MANIFEST))
		return ferr_setc(err, FERR_UNSUPPORTED, 0, "unsupported manifest media type '%.100s'", mt);
	m->is_index = index;
	m->media_type = xstrdup(mt ? mt : index ? MT_OCI_INDEX : MT_OCI_MANIFEST);
	if (index) {
		if (!json_is_array(manifests))
			return ferr_setc(err, FERR_INVALID, 0, "index: no manifests array");
		size_t n = json_array_size(manifests);
		m->manifests = xcalloc(n ? n : 1, sizeof *m->manifests);
		for (size_t i = 0; i < n; i++) {
			if (parse_desc(json_array_get(manifests, i), "index entry", &m->manifests[i], err) < 0) {
				m->n_manifests = i + 1;
				image_manifest_free(m);
				return -1;
			}
			m->n_manifests = i + 1;
		}
		return 0;
	}
	if (parse_desc(json_object_get(j, "config"), "manifest config", &m->config, err) < 0 || !json_is_array(layers)) {
		image_manifest_free(m);
		if (err->msg[0]) /* the config descriptor's own error */
			return -1;
		return ferr_setc(err, FERR_INVALID, 0, "manifest: %s", layers ? "layers is not an array" : "no layers array");
	}
	size_t n = json_array_size(layers);
	m->layers = xcalloc(n ? n : 1, sizeof *m->layers);
	for (size_t i = 0; i < n; i++) {
		if (parse_desc(json_array_get(layers, i), "layer", &m->layers[i], err) < 0) {
			m->n_layers = i + 1;
			image_manifest_free(m);
			return -1;
		}
		m->n_layers = i + 1;
		const char *lt = m->layers[i].media_type;
		if (strstr(lt, "nondistributable") || strstr(lt, "foreign")) {
			/* Foreign layers (Windows base images) live elsewhere; ferry runs Linux images. */
			ferr_setc(err, FERR_UNSUPPORTED, 0, "layer %s: foreign layer type %s", m->layers[i].digest, lt);
			image_manifest_free(m);
			return -1;
		}
		if (strstr(lt, "encrypted")) {
			ferr_setc(err, FERR_UNSUPPORTED, 0, "layer %s: encrypted layers are not supported", m->layers[i].digest);
			image_manifest_free(m);
			return -1;
		}
	}
	return 0;
}

int image_index_select(const struct image_manifest *idx, const struct image_platform *p,
	const struct image_desc **out, struct ferr *err)
{
	const struct image_desc *best = NULL;
	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct image_desc *d = &idx->manifests[i];
		if (!d->has_platform || strcmp(d->platform.os, p->os) || strcmp(d->platform.arch, p->arch))
			continue;
		/* Exact variant first; an entry without variant matches any. */
		if (p->variant[0] && d->platform.variant[0] && strcmp(d->platform.variant, p->variant)) {
			/* arm64 "v8" is the default and often omitted either way */
			continue;
		}
		if (!best || (p->variant[0] && !strcmp(d->platform.variant, p->variant)))
			best = d;
	}
	if (!best) {
		struct dstr have = DSTR_INIT;
		for (size_t i = 0; i < idx->n_manifests; i++) {
			const struct image_desc *d = &idx->manifests[i];
			if (!d->has_platform || !strcmp(d->platform.os, "unknown"))
				continue;
			dstr_printf(&have, "%s%s/%s%s%s", have.len ? ", " : "", d->platform.os, d->platform.arch,
				d->platform.variant[0] ? "/" : "", d->platform.variant);
		}
		ferr_setc(err, FERR_NOTFOUND, 0, "no image for platform %s/%s%s%s in the index (it has: %s)", p->os, p->arch,
			p->variant[0] ? "/" : "", p->variant, have.len ? have.buf : "none");
		dstr_free(&have);
		return ferr_hint(err, "choose one with --platform");
	}
	*out = best;
	return 0;
}

/* A JSON array of strings as a strv. Absent or null: NULL when
 * null_if_absent, else an empty strv. Anything else — not an array, an
 * item that is not a string — is an error: a command with an item
 * silently dropped would run something else than the image says. */
static int strv_from_json(const json_t *a, bool null_if_absent, const char *what, char ***out, struct ferr *err)
{
	*out = NULL;
	if (!a || json_is_null(a)) {
		if (!null_if_absent)
			*out = xcalloc(1, sizeof **out);
		return 0;
	}
	if (!json_is_array(a))
		return ferr_setc(err, FERR_INVALID, 0, "image config: %s is not an array", what);
	char **v = xcalloc(json_array_size(a) + 1, sizeof *v);
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *s = json_array_get(a, i);
		if (!json_is_string(s)) {
			strv_free(v);
			return ferr_setc(err, FERR_INVALID, 0, "image config: %s[%zu] is not a string", what, i);
		}
		v[i] = xstrdup(json_string_value(s));
	}
	*out = v;
	return 0;
}

void image_config_free(struct image_config *c)
{
	strv_free(c->env);
	strv_free(c->entrypoint);
	strv_free(c->cmd);
	strv_free(c->labels);
	strv_free(c->diff_ids);
	free(c->workdir);
	free(c->user);
	free(c->os);
	free(c->arch);
	memset(c, 0, sizeof *c);
}

int image_config_parse(const char *buf, size_t len, struct image_config *c, struct ferr *err)
{
	memset(c, 0, sizeof *c);
	_cleanup_json_ json_t *j = json_load_buf(buf, len, "image config", err);
	if (!j)
		return -1;
	if (!json_is_object(j))
		return ferr_setc(err, FERR_INVALID, 0, "image config: not a JSON object");
	/* "config" only: "container_config" is the docker build step's
	 * container (a "#(nop)" command), never how to run the image. Absent
	 * or null: an image with no run config at all, which is valid. */
	json_t *cfg = json_object_get(j, "config");
	if (cfg && !json_is_null(cfg) && !json_is_object(cfg))
		return ferr_setc(err, FERR_INVALID, 0, "image config: \"config\" is not an object");
	if (strv_from_json(json_object_get(cfg, "Env"), false, "Env", &c->env, err) < 0 ||
	    strv_from_json(json_object_get(cfg, "Entrypoint"), true, "Entrypoint", &c->entrypoint, err) < 0 ||
	    strv_from_json(json_object_get(cfg, "Cmd"), true, "Cmd", &c->cmd, err) < 0) {
		image_config_free(c);
		return -1;
	}
	const char *s;
	if ((s = json_get_str(cfg, "WorkingDir")) && *s)
		c->workdir = xstrdup(s);
	if ((s = json_get_str(cfg, "User")) && *s)
		c->user = xstrdup(s);
	c->labels = xcalloc(1, sizeof *c->labels);
	json_t *labels = json_object_get(cfg, "Labels");
	const char *k;
	json_t *v;
	if (json_is_object(labels)) {
		json_object_foreach(labels, k, v) {
			if (!json_is_string(v))
				continue;
			_cleanup_free_ char *kv = xasprintf("%s=%s", k, json_string_value(v));
			strv_push(&c->labels, kv);
		}
	}
	json_t *rootfs = json_object_get(j, "rootfs");
	if (strv_from_json(json_object_get(rootfs, "diff_ids"), false, "rootfs.diff_ids", &c->diff_ids, err) < 0) {
		image_config_free(c);
		return -1;
	}
	for (char **d = c->diff_ids; d && *d; d++)
		if (!sha256_digest_valid(*d)) {
			ferr_setc(err, FERR_INVALID, 0, "image config: invalid diff_id '%.80s'", *d);
			image_config_free(c);
			return -1;
		}
	if ((s = json_get_str(j, "os")))
		c->os = xstrdup(s);
	if ((s = json_get_str(j, "architecture")))
		c->arch = xstrdup(s);
	return 0;
}
