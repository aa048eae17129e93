/* Lexical path helpers. They never touch the file system: containment of
 * paths inside an image on disk is the job of inroot_open() (base/inroot.h). */
#pragma once

#include <stdbool.h>

#include "base/str.h"

/* "a" + "b" -> "a/b", with exactly one slash between. Caller frees. */
char *path_join(const char *a, const char *b) FERRY_NONNULL_RESULT;
/* Collapse "//", "." and ".." lexically; drop a trailing slash. An absolute
 * path never climbs above "/" ("/../x" -> "/x"); a relative one keeps the
 * leading ".." it cannot resolve ("../a/../b" -> "../b"); "" -> ".".
 * Caller frees. */
char *path_normalize(const char *p) FERRY_NONNULL_RESULT;
/* Is path equal to root or below it? Both are normalised first, so
 * "/a/b/../c" is inside "/a" and "/ab" is not inside "/a". */
bool path_is_inside(const char *root, const char *path);
/* Last component ("/a/b/" -> "b", "/" -> "/"). Caller frees. */
char *path_basename(const char *p) FERRY_NONNULL_RESULT;
/* All but the last component ("/a/b" -> "/a", "a" -> ".", "/a" -> "/"). Caller frees. */
char *path_dirname(const char *p) FERRY_NONNULL_RESULT;
