/* Names: refs/<registry>/<repo>/<tag> (or .../@sha256:<hex> for a pull by
 * digest) holds the manifest digest the name was pulled as. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/path.h"
#include "base/sha256.h"
#include "base/str.h"
#include "store/internal.h"

char *store_ref_read(const char *path)
{
	char *data = NULL;
	size_t len;
	struct ferr e = FERR_INIT;
	if (fs_read_file(path, &data, &len, &e) < 0)
		return NULL;
	while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
		data[--len] = '\0';
	if (!sha256_digest_valid(data)) {
		free(data);
		return NULL;
	}
	return data;
}

int store_ref_write(const char *root, const struct image_ref *ref, bool by_digest, const char *digest,
	struct ferr *err)
{
	_cleanup_free_ char *p = store_ref_path(root, ref, by_digest);
	_cleanup_free_ char *dir = path_dirname(p);
	if (fs_mkdir_p(dir, 0755, err) < 0)
		return -1;
	_cleanup_free_ char *line = xasprintf("%s\n", digest);
	return fs_write_atomic(p, line, strlen(line), 0644, err);
}

int store_ref_remove(const char *root, const struct image_ref *ref, bool by_digest, struct ferr *err)
{
	_cleanup_free_ char *p = store_ref_path(root, ref, by_digest);
	if (unlink(p) < 0 && errno != ENOENT)
		return ferr_set(err, errno, "remove %s", p);
	return 0;
}

void store_names_free(struct store_name *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].digest);
	}
	free(v);
}

/* "reg/repo/tag" -> "reg/repo:tag"; "reg/repo/@sha256:x" -> "reg/repo@sha256:x";
 * local sources: "oci/abs/path:tag" -> "oci:/abs/path:tag". rel is changed. */
static char *name_of(char *rel)
{
	char *slash = strrchr(rel, '/');
	if (!slash)
		return NULL;
	bool at = slash[1] == '@';
	*slash = at ? '\0' : ':';
	char *nm = at ? xasprintf("%s%s", rel, slash + 1) : xstrdup(rel);
	static const char *const local[] = { "oci/", "oci-archive/", "docker-archive/" };
	for (size_t k = 0; k < 3; k++)
		if (str_starts_with(nm, local[k])) {
			nm[strlen(local[k]) - 1] = '\0';
			char *fixed = xasprintf("%s:/%s", nm, nm + strlen(local[k]));
			free(nm);
			return fixed;
		}
	return nm;
}

int store_refs_scan(const char *root, struct store_name **out, size_t *n, struct ferr *err)
{
	*out = NULL;
	*n = 0;
	_cleanup_free_ char *refs = path_join(root, "refs");
	char **stack = NULL;
	strv_push(&stack, "");
	int rc = 0;
	while (strv_len(stack)) {
		size_t top = strv_len(stack) - 1;
		_cleanup_free_ char *rel = stack[top];
		stack[top] = NULL;
		if (rc < 0)
			continue; /* drain the stack */
		_cleanup_free_ char *abs = path_join(refs, rel);
		_cleanup_closedir_ DIR *d = opendir(abs);
		if (!d) {
			if (errno != ENOENT)
				rc = ferr_set(err, errno, "list %s", abs);
			continue;
		}
		struct dirent *e;
		while ((errno = 0, e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			_cleanup_free_ char *r2 = rel[0] ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
			_cleanup_free_ char *a2 = path_join(refs, r2);
			struct stat sb;
			if (lstat(a2, &sb) < 0)
				continue; /* removed meanwhile */
			if (S_ISDIR(sb.st_mode)) {
				strv_push(&stack, r2);
				continue;
			}
			char *dg = store_ref_read(a2);
			char *nm = dg ? name_of(r2) : NULL;
			if (!nm) {
				free(dg);
				continue;
			}
			*out = xrealloc(*out, (*n + 1) * sizeof **out);
			(*out)[(*n)++] = (struct store_name){ nm, dg };
		}
		if (errno && rc == 0)
			rc = ferr_set(err, errno, "list %s", abs);
	}
	free(stack);
	if (rc < 0) {
		store_names_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}
