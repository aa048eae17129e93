/* Opening a store and the paths inside it (DESIGN.md "Store").
 *
 * Atomicity: blobs are written to tmp/ and renamed into blobs/ once their
 * digest checks; an image is assembled in tmp/ and renamed into images/
 * once every layer is extracted and verified; refs are written with
 * write+rename. Whatever kills a pull, images/ holds only whole images, and
 * a partial blob in tmp/ is resumed (Range) by the next pull. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/home.h"
#include "base/log.h"
#include "base/path.h"
#include "base/sha256.h"
#include "base/str.h"
#include "store/internal.h"

const char *store_home(const struct store *st)
{
	return st->home;
}

char *store_default_root(struct ferr *err)
{
	const char *h = getenv("FERRY_HOME");
	if (h && *h)
		return xstrdup(h);
	const char *x = getenv("XDG_DATA_HOME");
	if (x && *x)
		return xasprintf("%s/ferry", x);
	_cleanup_free_ char *home = home_dir(err);
	if (!home)
		return NULL;
	return xasprintf("%s/.local/share/ferry", home);
}

/* The store is private (issue: another local user could otherwise rewrite
 * files hardlinked into every image): its root is 0700, so nobody else can
 * reach anything below it, and no directory in it is group or other
 * writable. A root that is open to others is made private (with a warning
 * when it already held a store, or others could write to it); a root that
 * belongs to someone else is refused: we could not make it private, and its
 * owner could change our images under us. Inside, trees keep the modes
 * their layers gave them (a 0777 file stays 0777 in the container): the
 * root's 0700 is what keeps other users out. */
static int secure_root(const char *home, bool *readonly, struct ferr *err)
{
	_cleanup_close_ int fd = open(home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		_cleanup_free_ char *parent = path_dirname(home);
		if (fs_mkdir_p(parent, 0755, err) < 0)
			return -1;
		if (mkdir(home, 0700) < 0 && errno != EEXIST)
			return ferr_set(err, errno, "mkdir %s", home);
		fd = open(home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return ferr_set(err, errno, "open %s", home);
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return ferr_set(err, errno, "stat %s", home);
	if (sb.st_uid != geteuid()) {
		ferr_setc(err, FERR_PERM, 0, "store %s belongs to uid %u, not to you (uid %u)", home, (unsigned)sb.st_uid,
			(unsigned)geteuid());
		return ferr_hint(err, "set FERRY_HOME to a directory of your own; list another user's store in FERRY_STORE_PATH");
	}
	/* a deploy directory is meant for everyone: 0755 (doc/deploy.md) */
	mode_t want = store_is_deploy(home) ? 0755 : 0700;
	if ((sb.st_mode & 07777) != want) {
		struct stat probe;
		bool had_store = fstatat(fd, "blobs", &probe, AT_SYMLINK_NOFOLLOW) == 0;
		if (fchmod(fd, want) < 0) {
			if (errno == EROFS) {
				*readonly = true;
				return 0;
			}
			return ferr_set(err, errno, "chmod 0700 %s", home);
		}
		if (want == 0700 && (had_store || (sb.st_mode & 022)))
			log_warn("store %s was open to other users (mode %04o): made it private (0700)", home,
				(unsigned)(sb.st_mode & 07777));
	}
	return 0;
}

/* Create a store directory, or check an existing one: ours, and writable by
 * nobody else (a group or other write bit is dropped). */
static int secure_subdir(const char *home, const char *sub, struct ferr *err)
{
	_cleanup_free_ char *d = path_join(home, sub);
	struct stat sb;
	/* every start of ferry opens its store: one lstat when all is in place */
	if (lstat(d, &sb) < 0) {
		if (errno != ENOENT)
			return ferr_set(err, errno, "stat %s", d);
		if (fs_mkdir_p(d, 0755, err) < 0)
			return -1;
		if (lstat(d, &sb) < 0)
			return ferr_set(err, errno, "stat %s", d);
	}
	if (!S_ISDIR(sb.st_mode))
		return ferr_setc(err, FERR_INVALID, ENOTDIR, "store %s", d);
	if (sb.st_uid != geteuid())
		return ferr_setc(err, FERR_PERM, 0, "store directory %s belongs to uid %u, not to you", d,
			(unsigned)sb.st_uid);
	if ((sb.st_mode & 022) && chmod(d, sb.st_mode & 07755) < 0)
		return ferr_set(err, errno, "chmod go-w %s", d);
	return 0;
}

/* Open (creating) the writable store at ROOT; ro: FERRY_STORE_PATH entries
 * (may be NULL), which make an unwritable ROOT no error. */
static int open_store(struct store **out, char *root, char **ro, struct ferr *err)
{
	struct store *st = xcalloc(1, sizeof *st);
	st->gc_fd = -1;
	st->home = root;
	st->ro = ro;
	static const char *const subdirs[] = { "blobs/sha256", "files/sha256", "images", "refs", "tmp", "locks",
		"blobs", "files" };
	st->writable = true;
	struct ferr e = FERR_INIT;
	bool readonly = false;
	int rc = secure_root(st->home, &readonly, &e);
	if (rc == 0 && !readonly)
		for (size_t i = 0; i < sizeof subdirs / sizeof *subdirs && rc == 0; i++)
			rc = secure_subdir(st->home, subdirs[i], &e);
	if (rc < 0 && e.code == FERR_PERM && e.errnum == 0) {
		/* another user's store: never used, even read-only */
		*err = e;
		ferr_wrap(err, "open store");
		store_close(st);
		return -1;
	}
	if (rc < 0 || readonly) {
		if (!st->ro) {
			if (readonly)
				ferr_setc(&e, FERR_PERM, EROFS, "store %s", st->home);
			*err = e;
			ferr_wrap(err, "open store %s", st->home);
			ferr_hint(err, "set FERRY_HOME to a writable directory");
			store_close(st);
			return -1;
		}
		st->writable = false; /* read-only stores may still serve */
	}
	*out = st;
	return 0;
}

int store_open_at(struct store **out, const char *root, struct ferr *err)
{
	if (!root || !*root)
		return ferr_setc(err, FERR_USAGE, 0, "open store: empty path");
	return open_store(out, xstrdup(root), NULL, err);
}

int store_open(struct store **out, struct ferr *err)
{
	char *home = store_default_root(err);
	if (!home)
		return ferr_wrap(err, "open store");
	char **ro = NULL;
	const char *sp = getenv("FERRY_STORE_PATH");
	if (sp && *sp) {
		_cleanup_free_ char *copy = xstrdup(sp);
		char *save = NULL;
		for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save))
			if (*t)
				strv_push(&ro, t);
	}
	return open_store(out, home, ro, err);
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->gc_fd >= 0)
		close(st->gc_fd);
	free(st->home);
	strv_free(st->ro);
	free(st);
}

bool store_keep_layers(const struct pull_opts *o)
{
	if (o && o->keep_layers)
		return true;
	const char *e = getenv("FERRY_KEEP_LAYERS");
	return e && (!strcmp(e, "1") || !strcasecmp(e, "yes") || !strcasecmp(e, "true"));
}

/* ---- paths ---- */

char *store_blob_path(const char *root, const char *digest)
{
	return xasprintf("%s/blobs/sha256/%s", root, digest + 7);
}

char *store_image_dir(const char *root, const char *digest)
{
	return xasprintf("%s/images/%s", root, digest + 7);
}

char *store_ref_path(const char *root, const struct image_ref *ref, bool by_digest)
{
	const char *repo = ref->repo[0] == '/' ? ref->repo + 1 : ref->repo;
	if (by_digest || !ref->tag)
		return xasprintf("%s/refs/%s/%s/@%s", root, ref->registry, repo, ref->digest);
	return xasprintf("%s/refs/%s/%s/%s", root, ref->registry, repo, ref->tag);
}

bool store_is_hex(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

bool store_image_present(const char *root, const char *digest)
{
	_cleanup_free_ char *d = store_image_dir(root, digest);
	return fs_is_dir(d);
}

char **store_roots(const struct store *st)
{
	char **v = NULL;
	for (char **r = st->ro; r && *r; r++)
		strv_push(&v, *r);
	strv_push(&v, st->home);
	return v;
}
