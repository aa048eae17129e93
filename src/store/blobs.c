/* Blobs: fetched into tmp/blob-<hex>.partial (resumed from there), renamed
 * into blobs/sha256/<hex> once the source verified size and digest. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "store/internal.h"

struct want {
	const char *digest;
	int64_t size;
	int lock;
	int fd;
	char *partial;
	struct blob_fetch *bf;
};

static int fetch_set(const char *root, struct image_source *src, struct want *w, size_t n, struct ferr *err)
{
	struct blob_fetch *bf = xcalloc(n ? n : 1, sizeof *bf);
	size_t k = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		w[i].partial = xasprintf("%s/tmp/blob-%s.partial", root, w[i].digest + 7);
		w[i].fd = open(w[i].partial, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (w[i].fd < 0) {
			rc = ferr_set(err, errno, "open %s", w[i].partial);
			break;
		}
		struct stat sb;
		if (fstat(w[i].fd, &sb) < 0) {
			rc = ferr_set(err, errno, "stat %s", w[i].partial);
			break;
		}
		bf[k] = (struct blob_fetch){ .digest = w[i].digest, .size = w[i].size, .fd = w[i].fd,
			.have = sb.st_size <= w[i].size ? sb.st_size : 0 };
		w[i].bf = &bf[k++];
	}
	if (rc == 0)
		rc = image_source_blobs(src, bf, k, err);
	for (size_t i = 0; i < n; i++) {
		/* Whatever is complete and verified goes in, even if another blob failed. */
		if (w[i].fd >= 0 && w[i].bf && w[i].bf->done) {
			_cleanup_free_ char *dst = store_blob_path(root, w[i].digest);
			if (rename(w[i].partial, dst) < 0 && rc == 0)
				rc = ferr_set(err, errno, "rename %s", dst);
		} else if (w[i].bf && w[i].bf->failed && w[i].bf->err.code == FERR_INTEGRITY) {
			/* wrong bytes are never resumed */
			if (unlink(w[i].partial) < 0 && errno != ENOENT && rc == 0)
				rc = ferr_set(err, errno, "remove %s", w[i].partial);
		}
		if (w[i].fd >= 0)
			close(w[i].fd);
		w[i].fd = -1;
		free(w[i].partial);
		w[i].partial = NULL;
	}
	free(bf);
	return rc;
}

int store_blobs_ensure(const char *root, struct image_source *src, const struct image_desc *list, size_t n,
	const struct pull_events *ev, struct ferr *err)
{
	struct want *mine = xcalloc(n ? n : 1, sizeof *mine);
	const char **theirs = xcalloc(n ? n : 1, sizeof *theirs);
	int64_t *theirs_size = xcalloc(n ? n : 1, sizeof *theirs_size);
	size_t nm = 0, nt = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= !strcmp(list[j].digest, list[i].digest);
		_cleanup_free_ char *p = store_blob_path(root, list[i].digest);
		if (dup || fs_exists(p))
			continue;
		int fd = store_lock_take(root, list[i].digest + 7, LOCK_EX | LOCK_NB, NULL, NULL, err);
		if (fd == -1) {
			rc = -1;
			break;
		}
		if (fd == STORE_LOCK_BUSY) {
			theirs_size[nt] = list[i].size;
			theirs[nt++] = list[i].digest;
			continue;
		}
		if (fs_exists(p)) { /* finished by someone while we looked */
			store_lock_release(fd);
			continue;
		}
		mine[nm++] = (struct want){ .digest = list[i].digest, .size = list[i].size, .lock = fd, .fd = -1 };
	}
	if (rc == 0 && nm)
		rc = fetch_set(root, src, mine, nm, err);
	for (size_t i = 0; i < nm; i++)
		store_lock_release(mine[i].lock);
	/* Blobs another process was fetching: wait for it, then take over if it died. */
	for (size_t i = 0; i < nt && rc == 0; i++) {
		_cleanup_free_ char *what = xasprintf("downloading %.19s", theirs[i]);
		int fd = store_lock_take(root, theirs[i] + 7, LOCK_EX, what, ev, err);
		if (fd == -1) {
			rc = -1;
			break;
		}
		_cleanup_free_ char *p = store_blob_path(root, theirs[i]);
		if (!fs_exists(p)) {
			struct want w = { .digest = theirs[i], .size = theirs_size[i], .lock = fd, .fd = -1 };
			rc = fetch_set(root, src, &w, 1, err);
		}
		store_lock_release(fd);
	}
	free(mine);
	free(theirs);
	free(theirs_size);
	return rc;
}

int store_blob_read(const char *root, const char *digest, char **data, size_t *len, struct ferr *err)
{
	_cleanup_free_ char *p = store_blob_path(root, digest);
	return fs_read_file(p, data, len, err);
}

int store_blob_put(const char *root, const char *digest, const char *data, size_t len, struct ferr *err)
{
	_cleanup_free_ char *p = store_blob_path(root, digest);
	if (fs_exists(p))
		return 0;
	return fs_write_atomic(p, data, len, 0600, err); /* blobs are private */
}
