/* Fuzz the lexical path helpers. Input: ROOT '\0' PATH. Checks properties,
 * not just crashes: normalising is idempotent, keeps a path absolute or
 * relative, never leaves "//", "." or (for absolute paths) ".."; a path
 * found inside a root starts with the normalised root. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/path.h"
#include "base/str.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_norm(const char *p)
{
	char *n = path_normalize(p);
	char *again = path_normalize(n);
	check(strcmp(n, again) == 0);
	check((p[0] == '/') == (n[0] == '/'));
	check(strstr(n, "//") == NULL);
	check(strcmp(n, "/") == 0 || strcmp(n, ".") == 0 || n[strlen(n) - 1] != '/');
	check(strstr(n, "/./") == NULL && !str_starts_with(n, "./") && !str_ends_with(n, "/."));
	if (n[0] == '/') /* ".." never climbs above "/" */
		check(strstr(n, "/../") == NULL && !str_ends_with(n, "/.."));
	free(again);
	free(n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = xmalloc(size + 2);
	memcpy(buf, data, size);
	buf[size] = '\0';
	buf[size + 1] = '\0';
	const char *root = buf;
	const char *path = buf + strlen(buf) + 1;
	check_norm(root);
	check_norm(path);
	if (path_is_inside(root, path)) {
		char *r = path_normalize(root);
		char *p = path_normalize(path);
		check(strcmp(r, "/") == 0 || strcmp(r, ".") == 0 || str_starts_with(p, r));
		free(r);
		free(p);
	}
	free(path_join(root, path));
	free(path_basename(path));
	free(path_dirname(path));
	free(buf);
	return 0;
}
