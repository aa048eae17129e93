/* jansson helpers: load with one-line errors, typed getters. */
#pragma once

#include <jansson.h>

#include "base/err.h"

static inline void cleanup_jsonp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define _cleanup_json_ __attribute__((cleanup(cleanup_jsonp)))

/* Parse a file; on error the message names file, line and column. */
json_t *json_load_path(const char *path, struct ferr *err);
json_t *json_load_buf(const char *buf, size_t len, const char *what, struct ferr *err);
/* String member or NULL (not a string, or absent). */
const char *json_get_str(const json_t *obj, const char *key);
/* Write compact or indented JSON atomically to path. */
int json_write_atomic(const char *path, const json_t *j, int indent, struct ferr *err);
