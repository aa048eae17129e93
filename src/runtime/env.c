/* The container's environment. Order (doc/run.md), later wins:
 *   1. the host environment (with --cleanenv: only HOME USER TERM LANG),
 *      minus PATH, LD_LIBRARY_PATH, LD_PRELOAD and FERRYENV_* — host paths
 *      mean nothing inside the image;
 *   2. the image's ENV; PATH is the image's (or a standard default);
 *   3. HOME = where the home directory is inside (--home DST);
 *   4. FERRYENV_NAME=value host variables, as NAME=value;
 *   5. --env-file FILE lines, then -e/--env NAME=value, in the order given;
 *   6. the GPU library directory appended to LD_LIBRARY_PATH (--gpu). */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "runtime/internal.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

bool env_name_valid(const char *name, size_t len)
{
	if (len == 0 || !((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

static size_t name_len(const char *kv)
{
	const char *eq = strchr(kv, '=');
	return eq ? (size_t)(eq - kv) : strlen(kv);
}

static ssize_t env_find(char **env, const char *name, size_t len)
{
	for (size_t i = 0; env && env[i]; i++)
		if (name_len(env[i]) == len && !strncmp(env[i], name, len))
			return (ssize_t)i;
	return -1;
}

const char *env_get(char **env, const char *name)
{
	ssize_t i = env_find(env, name, strlen(name));
	return i < 0 ? NULL : env[i] + strlen(name) + 1;
}

/* Set "NAME=value" (kv must contain '='), replacing an earlier NAME. */
static void env_put(char ***env, const char *kv)
{
	ssize_t i = env_find(*env, kv, name_len(kv));
	if (i >= 0) {
		assert(*env); /* env_find() found it there */
		free((*env)[i]);
		(*env)[i] = xstrdup(kv);
	} else {
		strv_push(env, kv);
	}
}

/* -e / env-file entry: "NAME=value", or "NAME" to take the host's value. */
static int env_apply_item(char ***env, char **host_env, const char *item, const char *where, struct ferr *err)
{
	size_t len = name_len(item);
	if (!env_name_valid(item, len))
		return ferr_setc(err, FERR_USAGE, 0, "%s: '%.*s' is not a valid variable name", where, (int)len, item);
	if (item[len] == '=') {
		env_put(env, item);
	} else {
		ssize_t i = env_find(host_env, item, len);
		if (i >= 0) {
			assert(host_env);
			env_put(env, host_env[i]);
		}
	}
	return 0;
}

/* docker's --env-file format: one NAME=value per line, verbatim (no quotes
 * removed, no expansion); "NAME" alone takes the host's value; blank lines
 * and lines starting with '#' are skipped. */
static int env_apply_file(char ***env, char **host_env, const char *path, struct ferr *err)
{
	_cleanup_free_ char *data = NULL;
	size_t size;
	if (fs_read_file(path, &data, &size, err) < 0)
		return ferr_wrap(err, "--env-file");
	if (strlen(data) != size)
		return ferr_setc(err, FERR_INVALID, 0, "--env-file %s: contains a NUL byte", path);
	int lineno = 0;
	for (char *s = data, *line; (line = strsep(&s, "\n")) != NULL;) {
		lineno++;
		size_t n = strlen(line);
		if (n && line[n - 1] == '\r')
			line[--n] = '\0';
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			continue;
		if (str_starts_with(p, "export "))
			p += 7;
		char where[600];
		snprintf(where, sizeof where, "--env-file %s:%d", path, lineno);
		if (env_apply_item(env, host_env, p, where, err) < 0)
			return -1;
	}
	return 0;
}

static bool host_only(const char *kv)
{
	static const char *const drop[] = {"PATH", "LD_LIBRARY_PATH", "LD_PRELOAD"};
	size_t len = name_len(kv);
	for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
		if (strlen(drop[i]) == len && !strncmp(kv, drop[i], len))
			return true;
	return str_starts_with(kv, "FERRYENV_");
}

int env_build(const struct run_spec *spec, char **host_env, const char *home, const char *extra_ldpath,
	      char ***out, struct ferr *err)
{
	_cleanup_strv_ char **env = xcalloc(1, sizeof *env);
	static const char *const keep[] = {"HOME", "USER", "TERM", "LANG"};

	/* 1. host */
	for (size_t i = 0; host_env && host_env[i]; i++) {
		const char *kv = host_env[i];
		if (!strchr(kv, '=') || host_only(kv))
			continue;
		if (spec->cleanenv) {
			bool k = false;
			for (size_t j = 0; j < sizeof keep / sizeof keep[0]; j++)
				k |= name_len(kv) == strlen(keep[j]) && !strncmp(kv, keep[j], strlen(keep[j]));
			if (!k)
				continue;
		}
		env_put(&env, kv);
	}
	/* 2. image */
	if (spec->image && spec->image->env)
		for (char **s = spec->image->env; *s; s++)
			if (strchr(*s, '=') && name_len(*s) > 0)
				env_put(&env, *s);
	if (!env_get(env, "PATH"))
		env_put(&env, "PATH=" DEFAULT_PATH);
	/* 3. HOME */
	if (home) {
		_cleanup_free_ char *kv = xasprintf("HOME=%s", home);
		env_put(&env, kv);
	}
	/* 4. FERRYENV_ */
	for (size_t i = 0; host_env && host_env[i]; i++) {
		const char *kv = host_env[i];
		if (!str_starts_with(kv, "FERRYENV_") || !strchr(kv, '='))
			continue;
		const char *name = kv + strlen("FERRYENV_");
		if (!env_name_valid(name, name_len(name)))
			continue;
		env_put(&env, name);
	}
	/* 5. --env-file, then -e */
	for (size_t i = 0; spec->env_files && spec->env_files[i]; i++)
		if (env_apply_file(&env, host_env, spec->env_files[i], err) < 0)
			return -1;
	for (size_t i = 0; spec->env && spec->env[i]; i++)
		if (env_apply_item(&env, host_env, spec->env[i], "--env", err) < 0)
			return -1;
	/* 6. GPU */
	if (extra_ldpath) {
		const char *old = env_get(env, "LD_LIBRARY_PATH");
		_cleanup_free_ char *kv = old && old[0] ? xasprintf("LD_LIBRARY_PATH=%s:%s", old, extra_ldpath)
							: xasprintf("LD_LIBRARY_PATH=%s", extra_ldpath);
		env_put(&env, kv);
	}
	*out = steal_ptr(&env);
	return 0;
}
