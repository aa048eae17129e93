/* Streaming decompression of layer blobs (internal to image/). The codec is
 * sniffed from the first bytes: gzip (isa-l's igzip when built with it,
 * zlib otherwise), zstd, or none. The uncompressed bytes are hashed as
 * they pass, so the caller can check the layer's diff_id. */
#pragma once
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"
#include "base/sha256.h"

struct decomp;

int decomp_open(struct decomp **d, int fd, struct ferr *err);
/* Next chunk of uncompressed data: >0 bytes in *buf, 0 at the end, <0 error. */
ssize_t decomp_read(struct decomp *d, const void **buf, struct ferr *err);
/* Read to the end (tar padding), then the sha256 of all output as "sha256:<hex>". */
int decomp_finish(struct decomp *d, char digest[7 + SHA256_HEX_LEN + 1], struct ferr *err);
void decomp_close(struct decomp *d);
const char *decomp_name(const struct decomp *d);
