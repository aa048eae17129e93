/* Open paths inside an image root so that nothing an image contains (a
 * "../" member, an absolute or relative symlink) can lead outside it: every
 * path is resolved as if the root were "/" — openat2(RESOLVE_IN_ROOT) where
 * the kernel has it (Linux >= 5.6), a component-by-component walk otherwise.
 * Everything in ferry that touches a path inside an image goes through here. */
#pragma once

#include <sys/types.h>

#include "base/err.h"

/* Open PATH (absolute or relative: both are taken from the root) inside
 * rootfd. flags as openat(2); O_NOFOLLOW applies to the last component. */
int inroot_open(int rootfd, const char *path, int flags, mode_t mode, struct ferr *err);
/* Open the directory that holds PATH's last component, resolved inside the
 * root, and return its name in *leaf (caller frees). The last component is
 * not resolved: use the *at() calls on the returned fd with *leaf.
 * A PATH that names the root itself fails with EINVAL. */
int inroot_open_parent(int rootfd, const char *path, char **leaf, struct ferr *err);
/* mkdir -p inside the root; returns an O_DIRECTORY fd of the last directory. */
int inroot_mkdir_p(int rootfd, const char *path, mode_t mode, struct ferr *err);
/* For tests: force the userspace walk even where openat2 exists. */
extern int inroot_force_walk;
