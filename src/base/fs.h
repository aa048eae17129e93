/* File helpers. Each returns 0 or a negative value with err filled in. */
#pragma once

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

/* mkdir -p; existing directories are fine. */
int fs_mkdir_p(const char *path, mode_t mode, struct ferr *err);
/* Write data to path atomically: a temporary file beside it, fsync, rename.
 * A reader sees the old content or the new, never a mix. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct ferr *err);
/* The same, but never replaces a file: the new one appears whole at path
 * (link(2) of a complete temporary file), or the call fails with EEXIST and
 * leaves nothing behind. */
int fs_write_new(const char *path, const void *data, size_t len, mode_t mode, struct ferr *err);
/* write(2) until all of data is written, retrying on EINTR and short
 * writes. 0, or -1 with errno set. */
int fs_write_all(int fd, const void *data, size_t len);
/* Read a whole file (NUL-terminated for convenience). Caller frees *data. */
int fs_read_file(const char *path, char **data, size_t *len, struct ferr *err);
/* rm -rf that copes with directories of mode 000 or without u+w (as images
 * often have): it adds u+rwx before descending. A missing path is fine.
 * Symlinks are removed, never followed. A path whose last component is
 * ".", ".." or "/" is refused (EINVAL). */
int fs_rm_rf(const char *path, struct ferr *err);
/* rm -rf of the entry `name` under the open directory dirfd. */
int fs_rm_rf_at(int dirfd, const char *name, struct ferr *err);
bool fs_exists(const char *path);
bool fs_is_dir(const char *path);
/* The names in the open directory d, sorted by strcmp (the same order in
 * every locale): with suffix, those that end in it and do not start with
 * '.'; without, all but "." and "..". Never NULL: an empty vector when there
 * are none (strv_free it). */
char **fs_dir_names(DIR *d, const char *suffix);
/* fsync a directory so a rename inside it is durable. */
int fs_fsync_dir(const char *path, struct ferr *err);
