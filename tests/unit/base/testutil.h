/* Small helpers shared by the base/ unit tests (header-only, static). */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/str.h"

/* A fresh directory under $TMPDIR (or /tmp); caller frees, rm_tmpdir() removes. */
static inline char *make_tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	char *d = xasprintf("%s/ferry-unit.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(d)) {
		fprintf(stderr, "mkdtemp %s: %s\n", d, strerror(errno));
		abort();
	}
	return d;
}

static inline void rm_tmpdir(char *d)
{
	struct ferr err = FERR_INIT;
	if (d && fs_rm_rf(d, &err) < 0)
		fprintf(stderr, "cleanup %s: %s\n", d, err.msg);
	free(d);
}

/* Write a small file (not atomically: the tests build trees with it). */
static inline void put_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0) {
		fprintf(stderr, "write %s: %s\n", path, strerror(errno));
		abort();
	}
}

/* Read what an fd holds from offset 0 into a NUL-terminated static buffer. */
static inline const char *fd_text(int fd)
{
	static char buf[4096];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Redirect stderr to a temporary file for the duration of a check. */
struct capture {
	int saved;
	FILE *f;
};

static inline void capture_start(struct capture *c)
{
	fflush(stderr);
	c->f = tmpfile();
	c->saved = dup(STDERR_FILENO);
	if (!c->f || c->saved < 0 || dup2(fileno(c->f), STDERR_FILENO) < 0)
		abort();
}

/* Stop capturing; returns what was written (caller frees). */
static inline char *capture_end(struct capture *c)
{
	fflush(stderr);
	if (dup2(c->saved, STDERR_FILENO) < 0)
		abort();
	close(c->saved);
	struct stat st;
	if (fstat(fileno(c->f), &st) < 0)
		abort();
	char *buf = xmalloc((size_t)st.st_size + 1);
	ssize_t r = pread(fileno(c->f), buf, (size_t)st.st_size, 0);
	buf[r > 0 ? r : 0] = '\0';
	fclose(c->f);
	return buf;
}
