/* Sizes as users write them: "64G", "512MiB", "1.5T", "1000000" (bytes).
 * K, M, G, T (and KiB ... TiB, KB ... TB: all taken as powers of 1024, as
 * du and ulimit read them). */
#pragma once

#include <stdint.h>

#include "base/err.h"

int size_parse(const char *s, uint64_t *out, struct ferr *err);
