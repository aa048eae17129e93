/* wrap/ internals shared by its files. */
#pragma once

#include "wrap/wrap.h"

/* Commands found in an image: shim name -> what to run inside. */
struct wrap_cmds {
	char **name;
	char **path;
	size_t n;
};
void cmds_add(struct wrap_cmds *c, const char *name, const char *path);
void cmds_free(struct wrap_cmds *c);
int strv_cmp(const void *a, const void *b);
const char *config_env(const struct image_config *c, const char *name);

int wrap_discover(const char *rootfs, const struct image_config *cfg, const struct wrap_opts *o,
	struct wrap_cmds *c, enum wrap_rule *rule, char **help, char ***notes, struct ferr *err);

/* DIR/.ferry/lock, held while DIR is written (flock; -1 on failure). */
int wrap_lock(const char *prefix, struct ferr *err);
/* wrap_image() with DIR's lock already held by the caller. */
int wrap_image_locked(const struct wrap_opts *o, struct wrap_result *res, struct ferr *err);
/* Remove DIR/<tool>/<version>, its module files, and the directories left empty. */
int wrap_remove(const char *prefix, const char *tool, const char *version, struct ferr *err);
