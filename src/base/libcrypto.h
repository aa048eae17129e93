/* libcrypto (OpenSSL 3), loaded with dlopen() the first time a digest or
 * base64 function is called.
 *
 * Why: linking libcrypto costs every start of ferry ~0.5 ms (mapping,
 * relocating and initialising a 4.7 MB library), a fifth of a whole
 * `ferry exec`, and most commands never hash anything. Include this header
 * instead of <openssl/evp.h>; each EVP_* name below then calls through a
 * pointer resolved on first use. If the library cannot be loaded, ferry
 * stops with one line naming the package to install (like running out of
 * memory, there is no useful way on without it). */
#pragma once

#include <openssl/evp.h>

#define LIBCRYPTO_FUNCS(X)                                                                                    \
	X(EVP_MD_CTX_new)                                                                                     \
	X(EVP_MD_CTX_free)                                                                                    \
	X(EVP_DigestInit_ex)                                                                                  \
	X(EVP_DigestUpdate)                                                                                   \
	X(EVP_DigestFinal_ex)                                                                                 \
	X(EVP_sha256)                                                                                         \
	X(EVP_md5)                                                                                            \
	X(EVP_EncodeBlock)                                                                                    \
	X(EVP_DecodeBlock)

#define LIBCRYPTO_DECLARE(f) extern __typeof__(f) *libcrypto_##f;
LIBCRYPTO_FUNCS(LIBCRYPTO_DECLARE)
#undef LIBCRYPTO_DECLARE

/* Load libcrypto once (thread-safe); aborts with a message on failure. */
void libcrypto_need(void);

#ifndef LIBCRYPTO_IMPL
#define EVP_MD_CTX_new (*(libcrypto_need(), libcrypto_EVP_MD_CTX_new))
#define EVP_MD_CTX_free (*(libcrypto_need(), libcrypto_EVP_MD_CTX_free))
#define EVP_DigestInit_ex (*(libcrypto_need(), libcrypto_EVP_DigestInit_ex))
#define EVP_DigestUpdate (*(libcrypto_need(), libcrypto_EVP_DigestUpdate))
#define EVP_DigestFinal_ex (*(libcrypto_need(), libcrypto_EVP_DigestFinal_ex))
#define EVP_sha256 (*(libcrypto_need(), libcrypto_EVP_sha256))
#define EVP_md5 (*(libcrypto_need(), libcrypto_EVP_md5))
#define EVP_EncodeBlock (*(libcrypto_need(), libcrypto_EVP_EncodeBlock))
#define EVP_DecodeBlock (*(libcrypto_need(), libcrypto_EVP_DecodeBlock))
#endif
