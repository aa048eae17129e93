/* Internal interfaces of image/ (not for other layers). */
#pragma once
#include <stdbool.h>

#include "base/err.h"
#include "image/image.h"

struct registry;

/* A registry client for one repository, with mirrors from ferry's config
 * tried in order before the registry itself. */
int registry_open(struct registry **r, const struct image_ref *ref, const struct pull_opts *o, struct ferr *err);
void registry_close(struct registry *r);
/* HEAD the manifest for tag (or digest): the digest it points to. */
int registry_resolve(struct registry *r, const char *reference, char **digest, struct ferr *err);
int registry_manifest(struct registry *r, const char *digest, char **body, size_t *len, char **media_type,
	struct ferr *err);
int registry_blobs(struct registry *r, struct blob_fetch *b, size_t n, struct ferr *err);

/* Per-registry settings: ferry's config.json ("registries": {HOST: {"mirrors":
 * [...], "insecure": bool}}) and certs.d. */
struct registry_conf {
	char **mirrors; /* URLs ("https://mirror.example[:port]") or host[:port] */
	bool insecure;
};
void registry_conf_get(const char *host, struct registry_conf *c);
void registry_conf_free(struct registry_conf *c);
/* base64("user:password"): docker's config.json "auth" and HTTP Basic (caller frees). */
char *auth_basic_b64(const char *user, const char *password);
/* certs.d/HOST/{ca.crt,client.cert,client.key} (each NULL when absent) */
void registry_certs(const char *hostport, char **ca, char **cert, char **key);
