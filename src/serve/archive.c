/* Directories as .tar.gz streams (getPath action=content on a directory)
 * and archives uploaded as UploadData type Archive (zip as 0.3.1 says,
 * tar.gz as the develop branch says), extracted beneath a directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/inroot.h"
#include "base/path.h"
#include "serve/internal.h"

struct tar_job {
	int dirfd, out;
};

static void add_tree(struct archive *a, int dirfd, const char *prefix, int depth)
{
	if (depth > 64)
		return;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	char **names = NULL;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			strv_push(&names, e->d_name);
	for (size_t i = 0; names && names[i]; i++) {
		struct stat st;
		if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		_cleanup_free_ char *name = *prefix ? xasprintf("%s/%s", prefix, names[i]) : xstrdup(names[i]);
		/* Symlinks, devices and sockets are left out: only what the
		 * tree holds itself goes into the archive. */
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
			continue;
		int sub = openat(fd, names[i], (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0) | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		struct archive_entry *ent = archive_entry_new();
		archive_entry_set_pathname(ent, name);
		archive_entry_set_filetype(ent, S_ISDIR(st.st_mode) ? AE_IFDIR : AE_IFREG);
		archive_entry_set_perm(ent, st.st_mode & 07777);
		archive_entry_set_mtime(ent, st.st_mtime, 0);
		archive_entry_set_size(ent, S_ISREG(st.st_mode) ? st.st_size : 0);
		if (archive_write_header(a, ent) == ARCHIVE_OK && S_ISREG(st.st_mode)) {
			char buf[1 << 16];
			ssize_t n;
			int64_t left = st.st_size; /* exactly the size the header announced */
			while (left > 0 && (n = read(sub, buf, sizeof buf)) > 0) {
				if (n > left)
					n = (ssize_t)left;
				if (archive_write_data(a, buf, (size_t)n) < 0)
					break;
				left -= n;
			}
		}
		archive_entry_free(ent);
		if (S_ISDIR(st.st_mode))
			add_tree(a, sub, name, depth + 1);
		close(sub);
	}
	strv_free(names);
	closedir(d);
}

static void *tar_thread(void *p)
{
	struct tar_job *j = p;
	struct archive *a = archive_write_new();
	if (a && archive_write_add_filter_gzip(a) == ARCHIVE_OK &&
	    archive_write_set_format_pax_restricted(a) == ARCHIVE_OK && archive_write_open_fd(a, j->out) == ARCHIVE_OK) {
		add_tree(a, j->dirfd, "", 0);
		archive_write_close(a);
	}
	if (a)
		archive_write_free(a);
	close(j->out);
	close(j->dirfd);
	free(j);
	return NULL;
}

int archive_dir_stream(int dirfd, int out_fd, struct ferr *err)
{
	struct tar_job *j = xmalloc(sizeof *j);
	j->dirfd = dirfd;
	j->out = out_fd;
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	int e = pthread_create(&t, &at, tar_thread, j);
	pthread_attr_destroy(&at);
	if (e) {
		close(dirfd);
		close(out_fd);
		free(j);
		return ferr_set(err, e, "cannot start the archive thread");
	}
	return 0;
}

int archive_extract_mem(int dirfd, const void *data, size_t len, struct ferr *err)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_zip(a);
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
		ferr_set(err, 0, "not a zip or tar(.gz) archive: %s", archive_error_string(a));
		archive_read_free(a);
		return -1;
	}
	struct archive_entry *e;
	int rc = 0, r, files = 0;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		_cleanup_free_ char *n = path_normalize(name ? name : "");
		/* no absolute names, no climbing: refused, not rewritten */
		if (!name || name[0] == '/' || !strncmp(n, "..", 2) || !strcmp(n, ".")) {
			if (n && !strcmp(n, "."))
				continue;
			rc = ferr_set(err, 0, "archive member '%s' leads outside the directory", name ? name : "");
			break;
		}
		int type = archive_entry_filetype(e);
		if (type == AE_IFDIR) {
			int d = inroot_mkdir_p(dirfd, n, 0755, err);
			if (d < 0) {
				rc = -1;
				break;
			}
			close(d);
			continue;
		}
		if (type != AE_IFREG)
			continue; /* links, devices: left out */
		_cleanup_free_ char *parent = path_dirname(n);
		int pd = strcmp(parent, ".") ? inroot_mkdir_p(dirfd, parent, 0755, err) : dup(dirfd);
		if (pd < 0) {
			rc = -1;
			break;
		}
		_cleanup_free_ char *leaf = path_basename(n);
		int f = openat(pd, leaf, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
		close(pd);
		if (f < 0) {
			rc = ferr_set(err, errno, "archive member %s", n);
			break;
		}
		char buf[1 << 16];
		la_ssize_t got;
		while ((got = archive_read_data(a, buf, sizeof buf)) > 0)
			if (write(f, buf, (size_t)got) != got) {
				got = -1;
				break;
			}
		close(f);
		if (got < 0) {
			rc = ferr_set(err, 0, "archive member %s: %s", n, archive_error_string(a));
			break;
		}
		files++;
	}
	if (!rc && r != ARCHIVE_EOF)
		rc = ferr_set(err, 0, "archive: %s", archive_error_string(a));
	archive_read_free(a);
	return rc;
}
