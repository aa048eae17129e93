/* Which commands of an image become shims (doc/wrap.md, "Commands").
 * First rule that finds any wins:
 *   1. the image's DEPLOY_PATH (every executable file or symlink directly
 *      in those directories) and DEPLOY_BINS (names), Neurodesk's convention;
 *   2. --path / --bins;
 *   3. Boutiques descriptors in /boutique/<name>.json: the first word of each
 *      command-line;
 *   4. none: the caller refuses with the image's PATH and a count per directory.
 * The image is read on the host, every path resolved inside its root
 * (base/inroot.h): a symlink in the image cannot point the listing at the
 * host. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/inroot.h"
#include "base/json.h"
#include "base/log.h"
#include "base/path.h"
#include "base/str.h"
#include "wrap/internal.h"

#define MAX_DESCRIPTOR (4 << 20)

const char *config_env(const struct image_config *c, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; c->env && c->env[i]; i++)
		if (!strncmp(c->env[i], name, n) && c->env[i][n] == '=')
			return c->env[i] + n + 1;
	return NULL;
}

/* Is the entry `name` of directory dfd (at `dir` inside the image) an
 * executable, following a symlink inside the root? */
static bool is_exec_entry(int rootfd, int dfd, const char *dir, const char *name)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if (S_ISLNK(st.st_mode)) {
		/* follow the link, inside the root only */
		struct ferr e = FERR_INIT;
		_cleanup_free_ char *p = path_join(dir, name);
		_cleanup_close_ int fd = inroot_open(rootfd, p, O_PATH, 0, &e);
		if (fd < 0 || fstat(fd, &st) < 0)
			return false;
	}
	return S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

/* Executables directly in `dir` (inside the image), names sorted. */
static int list_execs(int rootfd, const char *dir, char ***names)
{
	struct ferr e = FERR_INIT;
	int fd = inroot_open(rootfd, dir, O_RDONLY | O_DIRECTORY, 0, &e);
	if (fd < 0)
		return -1;
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (is_exec_entry(rootfd, dirfd(d), dir, de->d_name))
			strv_push(names, de->d_name);
	}
	if (*names)
		qsort(*names, strv_len(*names), sizeof(char *), strv_cmp);
	return 0;
}

int strv_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void cmds_add(struct wrap_cmds *c, const char *name, const char *path)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->name[i], name))
			return; /* first wins */
	c->name = xrealloc(c->name, (c->n + 1) * sizeof *c->name);
	c->path = xrealloc(c->path, (c->n + 1) * sizeof *c->path);
	c->name[c->n] = xstrdup(name);
	c->path[c->n] = xstrdup(path);
	c->n++;
}

void cmds_free(struct wrap_cmds *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->name[i]);
		free(c->path[i]);
	}
	free(c->name);
	free(c->path);
	memset(c, 0, sizeof *c);
}

/* A command name is kept only when it is a valid name and would not be
 * taken for ferry itself (a shim named ferry* runs ferry: cli/main.c). */
static bool usable(const char *name, char ***notes)
{
	if (!wrap_name_valid(name)) {
		_cleanup_free_ char *n = xasprintf("left out '%s': not a valid command file name", name);
		strv_push(notes, n);
		return false;
	}
	if (str_starts_with(name, "ferry")) {
		_cleanup_free_ char *n = xasprintf("left out '%s': a shim named ferry* would run ferry itself", name);
		strv_push(notes, n);
		return false;
	}
	return true;
}

/* Names the host has in its own system directories: a listed directory of
 * the image (DEPLOY_PATH, --path) that holds /bin's tools would shadow the
 * host's ls, cat, sh... Leaving those out is a rule, not a hand-kept list
 * of 392 names; names given one by one (DEPLOY_BINS, --bins, descriptors,
 * catalog exec) are always kept. */
static bool host_has(const char *name)
{
	static const char *const dirs[] = {"/usr/bin", "/bin", "/usr/sbin", "/sbin", NULL};
	for (size_t i = 0; dirs[i]; i++) {
		_cleanup_free_ char *p = path_join(dirs[i], name);
		if (access(p, X_OK) == 0)
			return true;
	}
	return false;
}

static void add_dirs(int rootfd, const char *list, struct wrap_cmds *c, char ***notes)
{
	_cleanup_free_ char *copy = xstrdup(list);
	size_t shadowed = 0;
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (d[0] != '/')
			continue;
		_cleanup_strv_ char **names = NULL;
		if (list_execs(rootfd, d, &names) < 0) {
			_cleanup_free_ char *n = xasprintf("directory %s is not in the image", d);
			strv_push(notes, n);
			continue;
		}
		for (size_t i = 0; names && names[i]; i++) {
			if (!usable(names[i], notes))
				continue;
			if (host_has(names[i])) {
				shadowed++;
				continue;
			}
			_cleanup_free_ char *p = path_join(d, names[i]);
			cmds_add(c, names[i], p);
		}
	}
	if (shadowed) {
		_cleanup_free_ char *n = xasprintf("left out %zu commands the host's /bin or /usr/bin also has "
						   "(name them with --bins to keep them)", shadowed);
		strv_push(notes, n);
	}
}

static void add_bins(const char *list, struct wrap_cmds *c, char ***notes)
{
	_cleanup_free_ char *copy = xstrdup(list);
	char *save = NULL;
	for (char *b = strtok_r(copy, ": \t,", &save); b; b = strtok_r(NULL, ": \t,", &save)) {
		/* a path names a file inside the image; the shim is its base name */
		const char *slash = strrchr(b, '/');
		const char *name = slash ? slash + 1 : b;
		if (usable(name, notes))
			cmds_add(c, name, b);
	}
}

/* /boutique/<name>.json: the first word of each command-line. Sets *help to the
 * first descriptor's description. */
static void add_boutiques(int rootfd, struct wrap_cmds *c, char **help, char ***notes)
{
	struct ferr e = FERR_INIT;
	int fd = inroot_open(rootfd, "/boutique", O_RDONLY | O_DIRECTORY, 0, &e);
	if (fd < 0)
		return;
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	_cleanup_strv_ char **files = NULL;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && str_ends_with(de->d_name, ".json"))
			strv_push(&files, de->d_name);
	if (!files)
		return;
	qsort(files, strv_len(files), sizeof(char *), strv_cmp);
	for (size_t i = 0; files[i]; i++) {
		_cleanup_free_ char *p = path_join("/boutique", files[i]);
		_cleanup_close_ int f = inroot_open(rootfd, p, O_RDONLY, 0, &e);
		struct stat st;
		if (f < 0 || fstat(f, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_DESCRIPTOR)
			continue;
		_cleanup_free_ char *buf = xmalloc((size_t)st.st_size + 1);
		ssize_t n = read(f, buf, (size_t)st.st_size);
		if (n < 0)
			continue;
		buf[n] = 0;
		_cleanup_json_ json_t *j = json_load_buf(buf, (size_t)n, p, &e);
		const char *cl = j ? json_get_str(j, "command-line") : NULL;
		if (!cl) {
			_cleanup_free_ char *note = xasprintf("%s: no command-line, skipped", p);
			strv_push(notes, note);
			continue;
		}
		size_t wl = strcspn(cl + strspn(cl, " \t"), " \t\n");
		_cleanup_free_ char *word = xstrndup(cl + strspn(cl, " \t"), wl);
		if (strpbrk(word, "[]$`;|&<>(){}\"'") || !word[0]) {
			_cleanup_free_ char *note = xasprintf("%s: command-line starts with '%s', not a command", p, word);
			strv_push(notes, note);
			continue;
		}
		const char *slash = strrchr(word, '/');
		const char *name = slash ? slash + 1 : word;
		if (usable(name, notes))
			cmds_add(c, name, word);
		const char *desc = json_get_str(j, "description");
		if (desc) {
			/* the module's help when the image has no README.md: one
			 * "name: description" paragraph per descriptor */
			const char *dn = json_get_str(j, "name");
			char *h = xasprintf("%s%s%s: %s\n", *help ? *help : "", *help ? "\n" : "", dn ? dn : name, desc);
			free(*help);
			*help = h;
		}
	}
}

int wrap_discover(const char *rootfs, const struct image_config *cfg, const struct wrap_opts *o,
	struct wrap_cmds *c, enum wrap_rule *rule, char **help, char ***notes, struct ferr *err)
{
	_cleanup_close_ int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return ferr_set(err, errno, "image root %s", rootfs);
	const char *dp = config_env(cfg, "DEPLOY_PATH"), *db = config_env(cfg, "DEPLOY_BINS");
	if (dp)
		add_dirs(rootfd, dp, c, notes);
	if (db)
		add_bins(db, c, notes);
	bool have_opts = (o->bins && o->bins[0]) || (o->paths && o->paths[0]);
	if (c->n) {
		*rule = WRAP_RULE_DEPLOY;
		if (have_opts)
			strv_push(notes, "the image declares DEPLOY_PATH/DEPLOY_BINS: --bins and --path were not used");
	} else if (have_opts) {
		for (size_t i = 0; o->paths && o->paths[i]; i++)
			add_dirs(rootfd, o->paths[i], c, notes);
		for (size_t i = 0; o->bins && o->bins[i]; i++)
			add_bins(o->bins[i], c, notes);
		*rule = WRAP_RULE_OPTIONS;
	}
	/* The descriptors give the help text even when they are not the rule. */
	struct wrap_cmds bq = {0};
	_cleanup_strv_ char **bq_notes = NULL;
	add_boutiques(rootfd, &bq, help, &bq_notes);
	if (!c->n && bq.n) {
		*c = bq;
		*rule = WRAP_RULE_BOUTIQUES;
		for (size_t i = 0; bq_notes && bq_notes[i]; i++)
			strv_push(notes, bq_notes[i]);
	} else {
		cmds_free(&bq);
	}
	/* catalog "exec" commands: always shimmed; alone, they are the rule */
	if (!c->n && o->execs && o->execs[0])
		*rule = WRAP_RULE_EXEC;
	for (size_t i = 0; o->execs && o->execs[i]; i++) {
		/* an exec may hold arguments ("fsleyes --scene ortho"): the command is its first word */
		const char *e = o->execs[i] + strspn(o->execs[i], " \t");
		_cleanup_free_ char *word = xstrndup(e, strcspn(e, " \t"));
		if (word[0])
			add_bins(word, c, notes);
	}
	if (c->n)
		return 0;
	/* Rule 4: refuse, with what the image's PATH holds. */
	const char *path = config_env(cfg, "PATH");
	if (!path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	struct dstr d = DSTR_INIT;
	_cleanup_free_ char *copy = xstrdup(path);
	char *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		_cleanup_strv_ char **names = NULL;
		bool there = dir[0] == '/' && list_execs(rootfd, dir, &names) == 0;
		dstr_printf(&d, "%s%s (%s)", d.len ? ", " : "", dir, there ? "" : "missing");
		if (there) {
			d.len -= 1; /* replace ")" */
			d.buf[d.len] = 0;
			dstr_printf(&d, "%zu)", strv_len(names));
		}
	}
	ferr_setc(err, FERR_NOTFOUND, 0,
		  "no commands found (no DEPLOY_PATH or DEPLOY_BINS, no --bins/--path, no /boutique/<name>.json); "
		  "the image's PATH: %s", d.buf ? d.buf : "");
	dstr_free(&d);
	return ferr_hint(err, "choose a directory with --path DIR, or commands with --bins a,b");
}
