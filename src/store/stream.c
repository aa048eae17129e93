/* A streamed build: the image's tree is extracted while its layer blobs
 * download, instead of after (issue 13 item 6). One thread downloads every
 * missing blob as before (store_blobs_ensure: into tmp/blob-<hex>.partial,
 * verified, renamed into blobs/); for each layer, a tail thread follows
 * that file as it grows and splices its bytes through a pipe to
 * layer_extract. What keeps this as safe as extracting a verified blob:
 *   - the tree is built in tmp/ and renamed into images/ only after the
 *     download thread reports every blob complete and verified (size and
 *     digest): an unverified tree is never visible;
 *   - layer_extract checks the uncompressed stream against the config's
 *     diff_id (the config is verified by its digest), so a tree built from
 *     bytes other than the layer's own (a download that restarted, a stale
 *     partial file) fails and is thrown away;
 *   - files/ entries are named by the hash of their own content, so none
 *     can lie; those a failed build leaves unlinked are removed
 *     (store_files_sweep).
 * When the streamed build fails although the download succeeded, the
 * caller builds again from the verified blobs: the plain path decides. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "store/internal.h"

#define TAIL_BUF (256 * 1024)   /* read/write fallback */
#define TAIL_CHUNK (1024 * 1024) /* the pipe's size, one splice at most */

struct stream;

struct tail {
	struct stream *s;
	size_t i;
	int out; /* the pipe's write end */
	pthread_t th;
	bool running;
};

struct stream {
	const char *root;
	struct image_source *src;
	const struct image_manifest *m;
	const struct pull_events *ev;
	pthread_t dl;
	bool dl_running;
	atomic_bool dl_done;
	int dl_rc;
	struct ferr dl_err;
	struct tail *tails;
};

static void *download(void *arg)
{
	struct stream *s = arg;
	s->dl_rc = store_blobs_ensure(s->root, s->src, s->m->layers, s->m->n_layers, s->ev, &s->dl_err);
	atomic_store(&s->dl_done, true);
	return NULL;
}

/* Wait for the download to write more: 0.2 ms, doubling up to 5 ms while
 * nothing comes (a slow first byte costs no busy loop); *us is reset by
 * the caller when bytes arrive. */
static void nap(long *us)
{
	if (*us < 200)
		*us = 200;
	struct timespec ts = { 0, *us * 1000 };
	nanosleep(&ts, NULL);
	*us = *us * 2 > 5000 ? 5000 : *us * 2;
}

/* The blob's partial file once the download thread made it, or the blob
 * itself when it is already complete; -1 when the download ended without
 * either. */
static int open_growing(struct stream *s, const char *digest)
{
	_cleanup_free_ char *partial = xasprintf("%s/tmp/blob-%s.partial", s->root, digest + 7);
	_cleanup_free_ char *blob = store_blob_path(s->root, digest);
	long us = 0;
	for (;;) {
		bool done = atomic_load(&s->dl_done);
		int fd = open(partial, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fd = open(blob, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 || done)
			return fd;
		nap(&us);
	}
}

/* Bytes of fd from *pos to out: spliced (page references, no copy) where
 * the kernel can, else read and written. 0 at the end of what fd holds
 * now, <0 when out is closed (the extraction stopped reading) or on error. */
static ssize_t pass_on(int fd, int64_t *pos, size_t want, int out, char **buf)
{
	if (!*buf) {
		loff_t off = *pos;
		ssize_t n = splice(fd, &off, out, NULL, want, SPLICE_F_MOVE);
		if (n >= 0) {
			*pos = off;
			return n;
		}
		if (errno != EINVAL && errno != ENOSYS)
			return errno == EINTR ? 0 : -1;
		*buf = xmalloc(TAIL_BUF); /* no splice from this file system */
	}
	ssize_t n = pread(fd, *buf, want < TAIL_BUF ? want : TAIL_BUF, *pos);
	if (n <= 0)
		return n < 0 && errno != EINTR ? -1 : 0;
	if (fs_write_all(out, *buf, (size_t)n) < 0)
		return -1;
	*pos += n;
	return n;
}

static void *tail_run(void *arg)
{
	struct tail *t = arg;
	struct stream *s = t->s;
	/* a closed reader gives EPIPE here, not a process-wide SIGPIPE (a
	 * signal pending on this thread goes with it) */
	sigset_t pipe_sig;
	sigemptyset(&pipe_sig);
	sigaddset(&pipe_sig, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
	const struct image_desc *d = &s->m->layers[t->i];
	int fd = open_growing(s, d->digest);
	char *buf = NULL;
	int64_t have = 0;
	long us = 0;
	while (fd >= 0 && have < d->size) {
		bool done = atomic_load(&s->dl_done);
		size_t want = d->size - have < TAIL_CHUNK ? (size_t)(d->size - have) : TAIL_CHUNK;
		ssize_t n = pass_on(fd, &have, want, t->out, &buf);
		if (n < 0)
			break;
		if (n == 0) {
			if (done) /* the file is final and short: the extraction fails */
				break;
			nap(&us);
		} else {
			us = 0;
		}
	}
	free(buf);
	if (fd >= 0)
		close(fd);
	close(t->out); /* the reader sees the end */
	t->out = -1;
	return NULL;
}

static int open_layer(void *arg, size_t i, struct ferr *err)
{
	struct stream *s = arg;
	struct tail *t = &s->tails[i];
	_cleanup_free_ char *bp = store_blob_path(s->root, s->m->layers[i].digest);
	int fd = open(bp, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd; /* already here, verified */
	int sv[2];
	if (pipe2(sv, O_CLOEXEC) < 0)
		return ferr_set(err, errno, "pipe for layer %zu", i + 1);
	(void)fcntl(sv[1], F_SETPIPE_SZ, TAIL_CHUNK); /* fewer wake-ups; the default 64 KiB works too */
	t->s = s;
	t->i = i;
	t->out = sv[1];
	if (pthread_create(&t->th, NULL, tail_run, t) != 0) {
		close(sv[0]);
		close(sv[1]);
		t->out = -1;
		return ferr_setc(err, FERR_GENERIC, 0, "cannot start a thread to read layer %zu", i + 1);
	}
	t->running = true;
	return sv[0];
}

static void join_all(struct stream *s)
{
	if (s->dl_running)
		pthread_join(s->dl, NULL);
	s->dl_running = false;
	for (size_t i = 0; i < s->m->n_layers; i++) {
		struct tail *t = &s->tails[i];
		if (t->running)
			pthread_join(t->th, NULL);
		t->running = false;
		if (t->out >= 0)
			close(t->out);
		t->out = -1;
	}
}

/* Called by store_tree_build before the tree goes in: every blob must be
 * downloaded and verified. */
static int blobs_ready(void *arg, struct ferr *err)
{
	struct stream *s = arg;
	join_all(s);
	if (s->dl_rc < 0) {
		*err = s->dl_err;
		return -1;
	}
	return 0;
}

bool store_tree_streamable(const char *root, const struct image_manifest *m)
{
	const char *e = getenv("FERRY_NO_STREAM");
	if (e && *e && *e != '0')
		return false;
	bool missing = false;
	for (size_t i = 0; i < m->n_layers; i++) {
		if (m->layers[i].size <= 0)
			return false;
		_cleanup_free_ char *p = store_blob_path(root, m->layers[i].digest);
		missing = missing || access(p, F_OK) != 0;
	}
	return missing;
}

int store_tree_build_streamed(const char *root, struct image_source *src, const struct store_tree *t,
	struct ferr *err)
{
	struct stream s = { .root = root, .src = src, .m = t->m, .ev = t->events, .dl_err = FERR_INIT };
	s.tails = xcalloc(t->m->n_layers ? t->m->n_layers : 1, sizeof *s.tails);
	for (size_t i = 0; i < t->m->n_layers; i++)
		s.tails[i].out = -1;
	atomic_init(&s.dl_done, false);
	if (pthread_create(&s.dl, NULL, download, &s) != 0) {
		free(s.tails);
		return 1; /* no thread: the plain path */
	}
	s.dl_running = true;
	struct store_tree t2 = *t;
	t2.open_layer = open_layer;
	t2.ready = blobs_ready;
	t2.arg = &s;
	struct ferr e = FERR_INIT;
	int rc = store_tree_build(root, &t2, &e);
	join_all(&s);
	free(s.tails);
	if (rc == 0)
		return 0;
	store_files_sweep(root);
	if (s.dl_rc < 0) { /* the download's error is the one to report */
		*err = s.dl_err;
		return -1;
	}
	char buf[FERR_MSG_MAX];
	log_debug("streamed build failed (%s): building again from the verified blobs", ferr_str(&e, buf, sizeof buf));
	return 1;
}

void store_files_sweep(const char *root)
{
	_cleanup_free_ char *dir = xasprintf("%s/files/sha256", root);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat sb;
		if (de->d_name[0] == '.' || fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(sb.st_mode) && sb.st_nlink == 1)
			unlinkat(dfd, de->d_name, 0);
	}
	closedir(d);
}
