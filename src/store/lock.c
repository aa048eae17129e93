/* Locks (see internal.h). A pull takes a shared lock on locks/gc.lock for
 * its whole life (prune takes it exclusively, so it never removes a pull's
 * work in tmp/), an exclusive lock on locks/<manifest-hex>.lock while it
 * fetches and unpacks an image (N processes pulling one image: the first
 * does the work, the others wait, find the image in place and succeed), and
 * an exclusive lock per blob it downloads (two different images sharing a
 * layer fetch it once). Locks are flock(2) on lock files that are never
 * deleted; on NFS, Linux turns flock into POSIX byte-range locks served by
 * the NFS lock manager, so they hold across nodes. Where the file system
 * has no locks at all (ENOLCK, or EOPNOTSUPP on some FUSE file systems),
 * ferry warns once and goes on without: the atomic renames still keep every
 * image whole, but concurrent pulls may download twice. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/str.h"
#include "store/internal.h"

static atomic_bool warned_nolock;

int store_lock_take(const char *root, const char *name, int op, const char *waiting_for, const struct pull_events *ev,
	struct ferr *err)
{
	_cleanup_free_ char *p = xasprintf("%s/locks/%s.lock", root, name);
	_cleanup_close_ int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return ferr_set(err, errno, "open lock %s", p);
	bool try_only = op & LOCK_NB;
	op &= ~LOCK_NB;
	int r;
	while ((r = flock(fd, op | LOCK_NB)) < 0 && errno == EINTR)
		;
	if (r < 0 && errno == EWOULDBLOCK) {
		if (try_only)
			return STORE_LOCK_BUSY;
		if (waiting_for)
			pull_events_note(ev, "waiting for another ferry %s", waiting_for);
		while ((r = flock(fd, op)) < 0 && errno == EINTR)
			;
	}
	if (r == 0)
		return steal_fd(&fd);
	if (errno == ENOLCK || errno == EOPNOTSUPP) {
		if (!atomic_exchange(&warned_nolock, true))
			log_warn("the file system of %s has no locks: concurrent pulls may download twice", root);
		return STORE_LOCK_NONE;
	}
	return ferr_set(err, errno, "lock %s", p);
}

void store_lock_release(int fd)
{
	if (fd >= 0)
		close(fd); /* closing drops the flock */
}
