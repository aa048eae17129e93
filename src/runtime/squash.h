/* Internal to the runtime: single-file images (squash.c, squash_helper.c). */
#pragma once

#include <stdint.h>

/* The library the FUSE helper loads (Debian: libsquashfuse0). */
#define SQUASH_LIB "libsquashfuse_ll.so.0"

struct sqlib;
struct sqlib_status {
	const struct sqlib *lib; /* set once loaded */
	char msg[256];           /* why not, else "" */
};
/* dlopen libsquashfuse_ll (and through it libfuse3); fills st. */
int squash_lib_load(struct sqlib_status *st);

/* The helper process: open the squashfs at offset in imgfd, say "" (ready)
 * or why not on sock, receive the mounted /dev/fuse descriptor on sock and
 * serve it until the kernel ends the connection. cmd_pidfd: the process
 * that becomes the command (killed if the helper dies first). Never returns. */
void squash_helper_main(int sock, int imgfd, uint64_t offset, int cmd_pidfd) __attribute__((noreturn));
