#include "base/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"

json_t *json_load_path(const char *path, struct ferr *err)
{
	/* Open the file here rather than in json_load_file() so that a missing
	 * or unreadable file is told apart from bad content, with its errno. */
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f) {
		ferr_setc(err, errno == ENOENT ? FERR_NOTFOUND : FERR_GENERIC, errno, "open %s", path);
		return NULL;
	}
	json_error_t je;
	errno = 0;
	json_t *j = json_loadf(f, JSON_DECODE_ANY, &je);
	if (!j) {
		if (ferror(f))
			ferr_set(err, errno ? errno : EIO, "read %s", path);
		else
			ferr_setc(err, FERR_INVALID, 0, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
	}
	return j;
}

json_t *json_load_buf(const char *buf, size_t len, const char *what, struct ferr *err)
{
	json_error_t je;
	json_t *j = json_loadb(buf, len, JSON_DECODE_ANY, &je);
	if (!j)
		ferr_setc(err, FERR_INVALID, 0, "%s:%d:%d: invalid JSON: %s", what, je.line, je.column, je.text);
	return j;
}

const char *json_get_str(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int json_write_atomic(const char *path, const json_t *j, int indent, struct ferr *err)
{
	size_t flags = JSON_ENCODE_ANY | (indent ? JSON_INDENT(indent) : JSON_COMPACT);
	char *s = json_dumps(j, flags);
	if (!s)
		return ferr_set(err, 0, "encode JSON for %s", path);
	int r = fs_write_atomic(path, s, strlen(s), 0644, err);
	free(s);
	return r;
}
