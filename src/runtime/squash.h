/* Internal to the runtime: single-file images (squash.c, squash_helper.c). */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* The library the FUSE helper loads (Debian: libsquashfuse0). */
#define SQUASH_LIB "libsquashfuse_ll.so.0"

struct sqlib;
struct sqlib_status {
	const struct sqlib *lib; /* set once loaded */
	char msg[256];           /* why not, else "" */
};
/* dlopen libsquashfuse_ll (and through it libfuse3); fills st. */
int squash_lib_load(struct sqlib_status *st);

/* In the container's process, before the helper is forked: load the
 * libraries and open the squashfs at offset in imgfd (the helper inherits
 * it). -1 with msg filled when it cannot be read. */
int squash_open(int imgfd, uint64_t offset, char *msg, size_t size);
/* Once open, the same file again is nothing more (the image's config is
 * read through the reader the helper then serves). The descriptor the
 * reader uses (a duplicate of imgfd, close-on-exec), or -1 before. */
int squash_fd(void);
/* A regular file of the open squashfs, whole, NUL-terminated (malloc'd):
 * 1, 0 when PATH is no regular file there, -1 when it cannot be read or
 * is larger than max (the caller then asks libsquashfs, which says why). */
int squash_read_file(const char *path, size_t max, char **data, size_t *len);
/* The helper process: receive the mounted /dev/fuse descriptor on sock
 * and serve the squashfs squash_open opened until the kernel ends the
 * connection. Never returns. */
void squash_helper_main(int sock, int watch_wr, pid_t command) __attribute__((noreturn));
/* watch_wr: the write end of the pipe that kills the command when the
 * helper dies (held open, never written; -1: none). command: the pid of
 * the process that becomes the command (the helper's parent); a mount
 * namespace sent with /dev/fuse is held until it has ended. */
