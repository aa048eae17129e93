/* The seam between `ferry app launch` and ferry's own store and runtime:
 * turn the descriptor's container-image into a reference, find the image in
 * the store (pulling it when absent), then run argv in it with the binds,
 * environment and working directory bosh would give a container. Kept in
 * one file so the rest of src/app does not depend on those interfaces. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "app/internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/libcrypto.h"
#include "base/sha256.h"
#include "image/image.h"
#include "runtime/runtime.h"
#include "store/store.h"

/* Strip a leading "scheme://" (bosh treats it as the index). */
static const char *strip_scheme(const char *s)
{
	const char *p = s;
	while (isalnum((unsigned char)*p))
		p++;
	return p > s && !strncmp(p, "://", 3) ? p + 3 : s;
}

/* Does this reference, as image_ref_parse reads it, live on Docker Hub?
 * (Its rules decide what names a registry and which names are Hub's.) */
static bool on_docker_hub(const char *ref)
{
	struct image_ref r;
	struct ferr err = FERR_INIT;
	if (image_ref_parse(ref, &r, &err) < 0)
		return false;
	bool hub = r.transport == TRANSPORT_DOCKER && !strcmp(r.registry, "docker.io");
	image_ref_free(&r);
	return hub;
}

char *app_image_ref(const char *image, const char *index)
{
	const char *img = strip_scheme(image);
	_cleanup_free_ char *idx = xstrdup(strip_scheme(index ? index : ""));
	size_t L = strlen(idx);
	while (L && idx[L - 1] == '/')
		idx[--L] = '\0';
	/* the index applies to an image on Docker Hub (no registry of its
	 * own), unless the index is Docker Hub itself */
	_cleanup_free_ char *probe = xasprintf("%s/x", idx);
	if (!*idx || on_docker_hub(probe) || !on_docker_hub(img))
		return xstrdup(img);
	return xasprintf("%s/%s", idx, img);
}

/* launch: the stored image if there is one, else pull it (bosh pulls on
 * every launch; ferry's store makes that unnecessary: `ferry app pull`
 * refreshes a tag). */
static int find_or_pull(struct store *st, const char *ref, bool no_pull, bool insecure, bool always,
			struct image_info **info, char **location, struct ferr *err)
{
	if (!always && store_resolve(st, ref, info, err) == 0) {
		*location = xstrdup("Local copy");
		return 0;
	}
	if (!always && (err->code != FERR_NOTFOUND || no_pull))
		return ferr_wrap(err, "image %s", ref);
	ferr_clear(err);
	struct pull_opts po = { .insecure = insecure };
	if (store_pull(st, ref, &po, NULL, err) < 0)
		return ferr_wrap(err, "pulling %s", ref);
	if (store_resolve(st, ref, info, err) < 0)
		return ferr_wrap(err, "image %s", ref);
	*location = xasprintf("Pulled from %s", ref);
	return 0;
}

int app_container_pull(const char *type, const char *image, const char *index, bool insecure, char **digest,
		       char **location, struct ferr *err)
{
	(void)type;
	_cleanup_free_ char *ref = app_image_ref(image, index);
	struct store *st = NULL;
	if (store_open(&st, err) < 0)
		return -1;
	struct image_info *info = NULL;
	int r = find_or_pull(st, ref, false, insecure, true, &info, location, err);
	if (r == 0 && info) {
		*digest = xstrdup(info->manifest_digest);
		image_info_free(info);
	}
	store_close(st);
	return r;
}

int app_stage_image(const json_t *desc, bool insecure, char **digest, char **location, struct ferr *err)
{
	const json_t *ci = json_object_get(desc, "container-image");
	*digest = NULL;
	*location = NULL;
	if (!ci)
		return ferr_setc(err, FERR_INVALID, 0, "the descriptor names no container-image");
	_cleanup_free_ char *ref = app_image_ref(json_get_str(ci, "image") ?: "", json_get_str(ci, "index"));
	struct store *st = NULL;
	if (store_open(&st, err) < 0)
		return -1;
	struct image_info *info = NULL;
	int r = find_or_pull(st, ref, false, insecure, false, &info, location, err);
	if (r == 0 && info) {
		*digest = xstrdup(info->manifest_digest);
		image_info_free(info);
	}
	store_close(st);
	return r;
}

/* The provenance record hashes (md5 of files, the descriptor's digest)
 * with libcrypto, whose loading and first use cost ~1 ms. The parent only
 * waits while the tool runs: load it then, in a thread started after the
 * fork (runtime_run_wait's while_running), so no loader lock is inherited
 * by the child. */
struct warm {
	const struct app_container_req *req;
	pthread_t thread;
	bool started;
};

static void *warm_crypto(void *arg)
{
	(void)arg;
	char hex[SHA256_HEX_LEN + 1];
	sha256_hex("", 0, hex);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (c) {
		EVP_DigestInit_ex(c, EVP_md5(), NULL);
		EVP_MD_CTX_free(c);
	}
	return NULL;
}

/* runtime_run_wait's while_running: the caller's own hook, then libcrypto. */
static void after_fork(void *arg)
{
	struct warm *w = arg;
	if (w->req->forked)
		w->req->forked(w->req->forked_arg);
	if (w->req->warm_crypto)
		w->started = pthread_create(&w->thread, NULL, warm_crypto, NULL) == 0;
}

int app_container_run(const struct app_container_req *req, int *status, struct rusage *ru, char **digest,
		      char **location, struct ferr *err)
{
	_cleanup_free_ char *ref = app_image_ref(req->image, req->index);
	struct store *st = NULL;
	if (store_open(&st, err) < 0)
		return -1;
	struct image_info *info = NULL;
	if (find_or_pull(st, ref, req->no_pull, req->insecure, false, &info, location, err) < 0) {
		store_close(st);
		return -1;
	}
	if (!info) {
		store_close(st);
		return ferr_set(err, 0, "image %s: not found", ref);
	}
	*digest = xstrdup(info->manifest_digest);
	struct run_bind *binds = xcalloc(req->nbinds + 1, sizeof *binds);
	for (size_t i = 0; i < req->nbinds; i++)
		binds[i] = (struct run_bind){ req->binds[i].host, req->binds[i].cont, req->binds[i].ro };
	struct run_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.rootfs = info->rootfs;
	spec.image = &info->config; /* the image's own settings, from the store's record */
	spec.argv = req->argv;
	/* Like `docker run` (bosh's default) and bosh's `singularity exec
	 * --cleanenv`: the host's environment does not leak into the tool. */
	spec.cleanenv = true;
	spec.env = req->env;
	/* Like bosh's docker and singularity runs, the tool sees the image plus
	 * what the launch binds (the working directory, File inputs, -v), not
	 * the host's $HOME and /tmp: an empty private home and /tmp, so it can
	 * reach neither ferry's store nor the provenance records. */
	spec.contain = true;
	spec.binds = binds;
	spec.n_binds = req->nbinds;
	spec.pwd = req->cwd;
	spec.stdout_fd = req->out_fd;
	spec.stderr_fd = req->err_fd;
	struct warm warm = { .req = req, .started = false };
	if (req->warm_crypto || req->forked) {
		spec.while_running = after_fork;
		spec.while_running_arg = &warm;
	}
	int r = runtime_run_wait(&spec, status, ru, err);
	if (warm.started)
		pthread_join(warm.thread, NULL);
	free(binds);
	image_info_free(info);
	store_close(st);
	if (r < 0)
		return ferr_wrap(err, "running in %s", ref);
	return 0;
}
