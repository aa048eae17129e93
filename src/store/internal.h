/* Internal interfaces of store/ (not for other layers). Every helper takes
 * the root of the store it works on, so the same code serves the user's
 * store, a read-only one of FERRY_STORE_PATH, and any directory given to
 * store_open_at() (a deployed tree, a site's shared store).
 *
 *   layout.c  opening a store, its paths          lock.c   flock on locks/
 *   refs.c    names -> manifest digests           blobs.c  fetching, reading blobs
 *   tree.c    a tree from a manifest, in a root   pull.c   the pull itself
 *   resolve.c a stored image by name or digest    usage.c  listing and sizes
 *   gc.c      rm and prune */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "image/image.h"
#include "store/store.h"

struct store {
	char *home;    /* root of the writable store */
	bool writable;
	char **ro;     /* FERRY_STORE_PATH entries, searched first */
	int gc_fd;     /* shared gc lock while pulling */
};

/* ---- layout.c ---- */
char *store_blob_path(const char *root, const char *digest);
char *store_image_dir(const char *root, const char *digest);
/* refs/<registry>/<repo>/<tag> or .../@sha256:<hex> */
char *store_ref_path(const char *root, const struct image_ref *ref, bool by_digest);
bool store_is_hex(const char *s);
bool store_image_present(const char *root, const char *digest);
/* Roots to search: FERRY_STORE_PATH first, then the store's own (last). */
char **store_roots(const struct store *st);

/* Keep layer blobs after their tree is in place? pull_opts (may be NULL),
 * else FERRY_KEEP_LAYERS (1/yes/true). By default they go: the tree holds
 * their content, and the store would otherwise hold every image twice. */
bool store_keep_layers(const struct pull_opts *o);
/* A note for the user (waiting for another pull, unpacking): to ev's note
 * callback when there is one, else the log (-v). */

/* ---- lock.c ---- */
#define STORE_LOCK_NONE (-2) /* the file system has no locks: go on without */
#define STORE_LOCK_BUSY (-3) /* LOCK_NB was asked and someone holds it */
/* flock locks/<name>.lock (op: LOCK_EX or LOCK_SH, | LOCK_NB to try).
 * Returns the held fd, STORE_LOCK_NONE, STORE_LOCK_BUSY, or -1 with err. */
int store_lock_take(const char *root, const char *name, int op, const char *waiting_for, const struct pull_events *ev,
	struct ferr *err);
void store_lock_release(int fd);

/* ---- refs.c ---- */
/* The digest a ref file holds, or NULL (missing, unreadable, malformed). */
char *store_ref_read(const char *path);
int store_ref_write(const char *root, const struct image_ref *ref, bool by_digest, const char *digest,
	struct ferr *err);
/* Remove one ref file; a missing one is fine. */
int store_ref_remove(const char *root, const struct image_ref *ref, bool by_digest, struct ferr *err);
struct store_name {
	char *name;   /* "registry/repo:tag", "registry/repo@sha256:..", "oci:/abs:tag" */
	char *digest; /* manifest digest */
};
/* Every name under ROOT/refs (a missing refs/ is an empty list). */
int store_refs_scan(const char *root, struct store_name **out, size_t *n, struct ferr *err);
void store_names_free(struct store_name *v, size_t n);

/* ---- blobs.c ---- */
/* Make sure every blob of LIST is in ROOT/blobs: fetch what is missing,
 * once for all processes (one lock per blob). */
int store_blobs_ensure(const char *root, struct image_source *src, const struct image_desc *list, size_t n,
	const struct pull_events *ev, struct ferr *err);
int store_blob_read(const char *root, const char *digest, char **data, size_t *len, struct ferr *err);
/* Store bytes already verified against digest (no-op when present). */
int store_blob_put(const char *root, const char *digest, const char *data, size_t len, struct ferr *err);

/* ---- tree.c ---- */
struct store_tree {
	const char *name;     /* recorded in info.json */
	const char *mdigest;  /* manifest digest: the tree goes to ROOT/images/<hex> */
	const char *mbody;    /* manifest and config as stored */
	size_t mlen;
	const struct image_manifest *m;
	const char *cbody;
	size_t clen;
	const struct image_config *cfg;
	uint64_t max_size;    /* cap on the files' apparent size (0: none) */
	const char *blobs;    /* root whose blobs/ holds the layers (usually ROOT) */
	const struct pull_events *events; /* notes go there (or to the log) */
	/* A streamed build (stream.c): layer i is read from open_layer's fd
	 * instead of blobs/, and ready must succeed (every blob downloaded and
	 * verified) before the tree is renamed in. NULL for the plain build. */
	int (*open_layer)(void *arg, size_t i, struct ferr *err);
	int (*ready)(void *arg, struct ferr *err);
	void *arg;
};
/* Build the image's tree from its layer blobs in ROOT/tmp and rename it to
 * ROOT/images/<hex>; files are deduplicated through ROOT/files. 0 also
 * when another process put the same image in place first. */
int store_tree_build(const char *root, const struct store_tree *t, struct ferr *err);

/* ---- stream.c ---- */
/* Is a streamed build worth it: a layer blob still to download (and
 * FERRY_NO_STREAM unset)? */
bool store_tree_streamable(const char *root, const struct image_manifest *m);
/* Download t's missing layers and build its tree from them at the same
 * time. 0 done; -1 error (the download's, if it failed); 1 the download
 * succeeded but the streamed build did not: build again the plain way. */
int store_tree_build_streamed(const char *root, struct image_source *src, const struct store_tree *t,
	struct ferr *err);
/* Remove the files/ entries no tree links (left by a failed build). */
void store_files_sweep(const char *root);

/* ---- usage.c ---- */
/* Record what the tree in DIR (images/<hex> or its staging copy) uses, in
 * DIR/usage, for listing without a walk. */
int store_usage_record(const char *dir, struct ferr *err);
/* The images of one root, one row per name (or "<none>"), appended to *out. */
int store_list_root(const char *root, bool ro, struct store_image **out, size_t *n, struct ferr *err);

/* ---- gc.c ---- */
/* store_prune, except that an unnamed image for which keep_unnamed (may
 * be NULL) says true stays, and layers stay when keep_layers. */
int store_prune_with(struct store *st, bool (*keep_unnamed)(const char *digest, void *arg), void *arg,
	bool keep_layers, uint64_t *freed, struct ferr *err);

/* ---- deploy.c ---- */
/* Is ROOT a deploy directory (ROOT/deploy/)? Its root is 0755, not 0700,
 * and its trees are finished by store_deploy_finish before publication. */
bool store_is_deploy(const char *root);
/* The sandbox conventions (doc/deploy.md) on a tree not yet published. */
int store_deploy_finish(int rootfd, struct ferr *err);

/* gc.c: 1 when a name in ROOT's refs/ points at digest, 0 when none does,
 * -1 with err when the names cannot be read. */
int store_digest_referenced(const char *root, const char *digest, struct ferr *err);
