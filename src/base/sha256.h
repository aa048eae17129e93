/* SHA-256 over libcrypto (EVP), for blob digests and file dedup. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define SHA256_HEX_LEN 64

struct sha256 {
	void *ctx; /* EVP_MD_CTX */
};

void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *data, size_t len);
/* Finish into 65 bytes of lower-case hex; frees the context. */
void sha256_final_hex(struct sha256 *h, char hex[SHA256_HEX_LEN + 1]);
/* Free the context without a result (an abandoned hash). */
void sha256_abort(struct sha256 *h);
void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1]);
int sha256_file_hex(const char *path, char hex[SHA256_HEX_LEN + 1], struct ferr *err);
/* Is s "sha256:" followed by 64 lower-case hex digits? */
int sha256_digest_valid(const char *s);
