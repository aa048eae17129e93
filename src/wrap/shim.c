/* The shim side: a command NAME that is a symlink to DIR/.ferry/ferry.
 *
 * The kernel hands ferry the path it was executed by (AT_EXECFN, e.g.
 * "/opt/apps/fsl/6.0.3/bin/bet" after the shell's PATH search), so no
 * absolute path needs to be written at wrap time: the sidecar is
 * bin/../wrap.json beside that path. A link to the shim made elsewhere
 * (~/bin/bet -> /opt/apps/fsl/6.0.3/bin/bet) is followed one step at a
 * time until a bin/ with a sidecar is met. The image is named by digest:
 * found in the caller's stores (FERRY_STORE_PATH, FERRY_HOME), else pulled
 * by the pinned reference. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/path.h"
#include "base/str.h"
#include "store/store.h"
#include "wrap/wrap.h"

void wrap_shim_free(struct wrap_shim *s)
{
	free(s->sidecar);
	free(s->name);
	free(s->command);
	free(s->image);
	memset(s, 0, sizeof *s);
}

/* bin/NAME -> bin/../wrap.json, if bin/ is called bin and the file exists. */
static char *sidecar_for(const char *shim)
{
	_cleanup_free_ char *bin = path_dirname(shim);
	_cleanup_free_ char *b = path_basename(bin);
	if (strcmp(b, "bin"))
		return NULL;
	_cleanup_free_ char *top = path_dirname(bin);
	char *sc = path_join(top, WRAP_SIDECAR);
	if (fs_exists(sc))
		return sc;
	free(sc);
	return NULL;
}

int wrap_shim_find(const char *execfn, struct wrap_shim *s, struct ferr *err)
{
	memset(s, 0, sizeof *s);
	_cleanup_free_ char *p = xstrdup(execfn);
	_cleanup_free_ char *sc = NULL;
	for (int hop = 0; hop < 16 && !(sc = sidecar_for(p)); hop++) {
		char target[PATH_MAX];
		ssize_t n = readlink(p, target, sizeof target - 1);
		if (n <= 0)
			break;
		target[n] = 0;
		if (!strcmp(target, WRAP_FERRY_LINK))
			break; /* the shim itself, in a directory without its sidecar */
		_cleanup_free_ char *dir = path_dirname(p);
		free(p);
		p = target[0] == '/' ? xstrdup(target) : path_join(dir, target);
	}
	_cleanup_free_ char *name = path_basename(p);
	if (!sc) {
		ferr_setc(err, FERR_NOTFOUND, 0, "%s: a ferry shim without its %s (looked beside %s's bin/)", name,
			  WRAP_SIDECAR, execfn);
		return ferr_hint(err, "wrap the image again: ferry wrap IMAGE --prefix DIR");
	}
	_cleanup_json_ json_t *j = json_load_path(sc, err);
	if (!j)
		return ferr_wrap(err, "shim %s", name);
	json_t *cmds = json_object_get(j, "commands");
	const char *cmd = json_get_str(cmds, name);
	const char *digest = json_get_str(j, "digest");
	if (!cmd || !digest)
		return ferr_setc(err, FERR_NOTFOUND, 0, "shim %s: %s has no command %s", name, sc, name);
	/* Wrapped from a deployed DIR: search it first, read-only, like a
	 * FERRY_STORE_PATH entry (the caller's own entries follow). */
	const char *deployed = json_get_str(j, "store");
	if (deployed) {
		const char *sp = getenv("FERRY_STORE_PATH");
		_cleanup_free_ char *v = sp && *sp ? xasprintf("%s:%s", deployed, sp) : xstrdup(deployed);
		setenv("FERRY_STORE_PATH", v, 1);
	}
	struct store *st = NULL;
	if (store_open(&st, err) < 0)
		return ferr_wrap(err, "shim %s", name);
	struct image_info *info = NULL;
	if (store_resolve(st, digest, &info, err) == 0) {
		s->image = xstrdup(info->dir);
		image_info_free(info);
	} else if (err->code == FERR_NOTFOUND && json_get_str(j, "pinned")) {
		ferr_clear(err);
		s->image = xstrdup(json_get_str(j, "pinned"));
	} else if (err->code == FERR_NOTFOUND) {
		ferr_clear(err);
		ferr_setc(err, FERR_NOTFOUND, 0, "shim %s: image %s (%s) is not in your stores", name,
			  json_get_str(j, "image") ? json_get_str(j, "image") : "?", digest);
		ferr_hint(err, "pull it (ferry pull %s), or add its store to FERRY_STORE_PATH",
			  json_get_str(j, "image") ? json_get_str(j, "image") : digest);
	}
	store_close(st);
	if (!s->image)
		return -1;
	s->sidecar = steal_ptr(&sc);
	s->name = steal_ptr(&name);
	s->command = xstrdup(cmd);
	return 0;
}
