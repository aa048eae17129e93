/* store/: the content-addressed image store (DESIGN.md "Store"):
 *   $FERRY_HOME/blobs/sha256/<hex>   verified blobs
 *   $FERRY_HOME/files/sha256/<hex>-<mode>  deduplicated file contents
 *   $FERRY_HOME/images/<hex>/        manifest.json, config.json, info.json, rootfs/
 *   $FERRY_HOME/refs/<registry>/<repo>/<tag|sha256:hex>  manifest digest
 *   $FERRY_HOME/tmp/, locks/
 * plus read-only stores listed in FERRY_STORE_PATH, searched first.
 * Writers stage in tmp/ and rename; one flock per digest; readers never lock. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"
#include "image/image.h"

struct store;

/* Open (creating if needed) $FERRY_HOME, default ${XDG_DATA_HOME:-~/.local/share}/ferry,
 * and the read-only stores of FERRY_STORE_PATH. */
int store_open(struct store **st, struct ferr *err);
/* The root store_open uses: FERRY_HOME, else $XDG_DATA_HOME/ferry, else
 * ~/.local/share/ferry (home from base/home.c: never /tmp). */
char *store_default_root(struct ferr *err);
/* Open (creating if needed) the store at ROOT alone: no FERRY_STORE_PATH.
 * The same private layout, locks and verified, deduplicated trees. */
int store_open_at(struct store **st, const char *root, struct ferr *err);
void store_close(struct store *st);
const char *store_home(const struct store *st);

/* Pull ref (any transport of image_ref_parse) into the store; a no-op
 * beyond one manifest HEAD when the image is already there. On success
 * *manifest_digest_out (may be NULL) is the image manifest digest. */
int store_pull(struct store *st, const char *ref, const struct pull_opts *o, char **manifest_digest_out,
	struct ferr *err);

/* Drop the layer blobs of a stored image whose tree is in place (what a
 * pull does at its end unless layers are kept): for a caller that pulled
 * several images with keep_layers, so that images sharing a base fetch
 * it once, and then lets them go. Layers another pull holds stay (prune
 * takes them later); FERRY_KEEP_LAYERS=1 keeps them all. */
int store_drop_layers(struct store *st, const char *manifest_digest, struct ferr *err);

struct image_info {
	char *name;            /* "registry/repo:tag" as resolved */
	char *manifest_digest; /* "sha256:..." */
	char *dir;             /* images/<hex> */
	char *rootfs;          /* images/<hex>/rootfs: treat as read-only */
	bool readonly_store;   /* found in a FERRY_STORE_PATH store */
	struct image_config config;
};

/* Resolve a stored image by reference ("busybox", "host/repo:tag",
 * "repo@sha256:...", "sha256:<hex>" or a unique hex prefix). No network.
 * Fails with code FERR_NOTFOUND when the image is not stored. */
int store_resolve(struct store *st, const char *ref, struct image_info **out, struct ferr *err);
void image_info_free(struct image_info *info);

/* One row of `ferry images`. */
struct store_image {
	char *name;   /* "registry/repo:tag", or "<none>" */
	char *digest; /* manifest digest */
	uint64_t size;   /* bytes on disk of the tree and its blobs, shared files included */
	uint64_t shared; /* part of size shared with other images */
	time_t pulled;
	bool readonly_store;
};
int store_list(struct store *st, struct store_image **out, size_t *n, struct ferr *err);
void store_list_free(struct store_image *imgs, size_t n);

/* Remove a reference; the image goes when no reference is left. */
int store_rm(struct store *st, const char *ref, struct ferr *err);
/* Remove unreferenced images, blobs and files, and leftovers in tmp/. */
int store_prune(struct store *st, uint64_t *freed, struct ferr *err);

/* ---- deploy (deploy.c, doc/deploy.md): DIR as published, shared trees ---- */
/* Open (creating) DIR as a deploy directory: a store open to everyone. */
int store_deploy_open(struct store **st, const char *dir, struct ferr *err);
/* The lock one deploy into DIR holds; wait false: fail when it is held.
 * Returns the fd (or STORE_LOCK_NONE's negative value, fine) or -1. */
int store_deploy_lock(struct store *st, bool wait, const struct pull_events *ev, struct ferr *err);
void store_deploy_unlock(int fd);
/* Deploy one image and point its name DIR/<registry>/<repo>:<tag> at it.
 * *changed (may be NULL): the name points somewhere new. */
int store_deploy(struct store *st, const char *ref, const struct pull_opts *o, char **digest_out, bool *changed,
	struct ferr *err);
/* Deploy ref's image for o->platform alone (one of several), named with
 * the tag <tag>-<os>-<arch>[-<variant>] (refs/ and the name symlink). */
int store_deploy_platform(struct store *st, const char *ref, const struct pull_opts *o, char **digest_out,
	bool *changed, struct ferr *err);
/* Remove images without a name for keep_days or more, then contents and
 * blobs nothing uses. */
int store_deploy_gc(struct store *st, unsigned keep_days, uint64_t *freed, struct ferr *err);

/* ---- single-file images (export.c, doc/export.md) ------------------------ */

/* Export IMAGE to the file out (image_export): IMAGE is what `ferry exec`
 * takes: a path to a directory (a tree, a tree with rootfs/ and
 * config.json beside it, or an OCI image layout), or a reference stored
 * in the store, pulled first unless no_pull. po (may be NULL) are the
 * options of that pull. */
int store_export(struct store *st, const char *image, bool no_pull, const struct pull_opts *po, const char *out,
	const struct export_opts *o, struct ferr *err);

/* Unpack a single-file image (squashfs, SIF, .simg: sfile_probe) into the
 * store as a tree, with the rules of layer extraction, and name it name
 * (a reference; NULL: localhost/<file name without extension>:latest).
 * *digest_out (may be NULL) is the new image's manifest digest. */
int store_import(struct store *st, const char *file, const char *name, const struct pull_opts *po,
	char **digest_out, struct ferr *err);
