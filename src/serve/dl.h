/* The libraries only `ferry serve` needs (libmicrohttpd with its GnuTLS,
 * SQLite, libarchive's writer, OpenSSL's PBKDF2), loaded with dlopen()
 * when the server starts, as image/netlibs.c does for pulls: linking them
 * would cost every `ferry exec` the mapping of ~20 shared objects it never
 * uses. A file of serve/ includes this header instead of the libraries'
 * own; each name below then calls through a pointer resolved by
 * serve_dl_load(). Calling any of them before serve_dl_load() succeeded is
 * a bug (the pointer is NULL). */
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#include "base/err.h"
#include "base/sqlitelib.h" /* SQLite: loaded by serve_dl_load() too */

/* X(library, function): library 0 libmicrohttpd, 1 libarchive, 2 libcrypto (SQLite: base/sqlitelib.h) */
#define SERVE_DL_FUNCS(X)                                                                                     \
	X(0, MHD_start_daemon)                                                                                \
	X(0, MHD_stop_daemon)                                                                                 \
	X(0, MHD_quiesce_daemon)                                                                              \
	X(0, MHD_queue_response)                                                                              \
	X(0, MHD_create_response_from_buffer)                                                                 \
	X(0, MHD_create_response_from_fd64)                                                                   \
	X(0, MHD_create_response_from_pipe)                                                                   \
	X(0, MHD_add_response_header)                                                                         \
	X(0, MHD_destroy_response)                                                                            \
	X(0, MHD_lookup_connection_value)                                                                     \
	X(0, MHD_get_connection_info)                                                                         \
	X(0, MHD_get_connection_values)                                                                       \
	X(0, MHD_get_daemon_info)                                                                             \
	X(1, archive_error_string)                                                                            \
	X(1, archive_write_new)                                                                               \
	X(1, archive_write_add_filter_gzip)                                                                   \
	X(1, archive_write_set_format_pax_restricted)                                                         \
	X(1, archive_write_open_fd)                                                                           \
	X(1, archive_write_header)                                                                            \
	X(1, archive_write_data)                                                                              \
	X(1, archive_write_close)                                                                             \
	X(1, archive_write_free)                                                                              \
	X(1, archive_entry_new)                                                                               \
	X(1, archive_entry_free)                                                                              \
	X(1, archive_entry_set_pathname)                                                                      \
	X(1, archive_entry_set_size)                                                                          \
	X(1, archive_entry_set_filetype)                                                                      \
	X(1, archive_entry_set_perm)                                                                          \
	X(1, archive_entry_set_mtime)                                                                         \
	X(1, archive_read_new)                                                                                \
	X(1, archive_read_support_format_zip)                                                                 \
	X(1, archive_read_support_format_tar)                                                                 \
	X(1, archive_read_support_filter_gzip)                                                                \
	X(1, archive_read_open_memory)                                                                        \
	X(1, archive_read_next_header)                                                                        \
	X(1, archive_read_data)                                                                               \
	X(1, archive_read_free)                                                                               \
	X(1, archive_entry_pathname)                                                                          \
	X(1, archive_entry_filetype)                                                                          \
	X(2, PKCS5_PBKDF2_HMAC)                                                                               \
	X(2, EVP_sha256)                                                                                      \
	X(2, EVP_md5)                                                                                         \
	X(2, EVP_MD_CTX_new)                                                                                  \
	X(2, EVP_MD_CTX_free)                                                                                 \
	X(2, EVP_DigestInit_ex)                                                                               \
	X(2, EVP_DigestUpdate)                                                                                \
	X(2, EVP_DigestFinal_ex)                                                                              \
	X(2, EVP_DecodeBlock)                                                                                 \
	X(2, EVP_EncodeBlock)

#define SERVE_DL_DECLARE(lib, f) extern __typeof__(f) *serve_dl_##f;
SERVE_DL_FUNCS(SERVE_DL_DECLARE)
#undef SERVE_DL_DECLARE

/* Load all four once (thread-safe). 0, or -1 with err naming the library
 * and the package that provides it. */
int serve_dl_load(struct ferr *err);

#ifndef SERVE_DL_IMPL
#define MHD_start_daemon (*serve_dl_MHD_start_daemon)
#define MHD_stop_daemon (*serve_dl_MHD_stop_daemon)
#define MHD_quiesce_daemon (*serve_dl_MHD_quiesce_daemon)
#define MHD_queue_response (*serve_dl_MHD_queue_response)
#define MHD_create_response_from_buffer (*serve_dl_MHD_create_response_from_buffer)
#define MHD_create_response_from_fd64 (*serve_dl_MHD_create_response_from_fd64)
#define MHD_create_response_from_pipe (*serve_dl_MHD_create_response_from_pipe)
#define MHD_add_response_header (*serve_dl_MHD_add_response_header)
#define MHD_destroy_response (*serve_dl_MHD_destroy_response)
#define MHD_lookup_connection_value (*serve_dl_MHD_lookup_connection_value)
#define MHD_get_connection_info (*serve_dl_MHD_get_connection_info)
#define MHD_get_connection_values (*serve_dl_MHD_get_connection_values)
#define MHD_get_daemon_info (*serve_dl_MHD_get_daemon_info)
#define archive_error_string (*serve_dl_archive_error_string)
#define archive_write_new (*serve_dl_archive_write_new)
#define archive_write_add_filter_gzip (*serve_dl_archive_write_add_filter_gzip)
#define archive_write_set_format_pax_restricted (*serve_dl_archive_write_set_format_pax_restricted)
#define archive_write_open_fd (*serve_dl_archive_write_open_fd)
#define archive_write_header (*serve_dl_archive_write_header)
#define archive_write_data (*serve_dl_archive_write_data)
#define archive_write_close (*serve_dl_archive_write_close)
#define archive_write_free (*serve_dl_archive_write_free)
#define archive_entry_new (*serve_dl_archive_entry_new)
#define archive_entry_free (*serve_dl_archive_entry_free)
#define archive_entry_set_pathname (*serve_dl_archive_entry_set_pathname)
#define archive_entry_set_size (*serve_dl_archive_entry_set_size)
#define archive_entry_set_filetype (*serve_dl_archive_entry_set_filetype)
#define archive_entry_set_perm (*serve_dl_archive_entry_set_perm)
#define archive_entry_set_mtime (*serve_dl_archive_entry_set_mtime)
#define archive_read_new (*serve_dl_archive_read_new)
#define archive_read_support_format_zip (*serve_dl_archive_read_support_format_zip)
#define archive_read_support_format_tar (*serve_dl_archive_read_support_format_tar)
#define archive_read_support_filter_gzip (*serve_dl_archive_read_support_filter_gzip)
#define archive_read_open_memory (*serve_dl_archive_read_open_memory)
#define archive_read_next_header (*serve_dl_archive_read_next_header)
#define archive_read_data (*serve_dl_archive_read_data)
#define archive_read_free (*serve_dl_archive_read_free)
#define archive_entry_pathname (*serve_dl_archive_entry_pathname)
#define archive_entry_filetype (*serve_dl_archive_entry_filetype)
#define PKCS5_PBKDF2_HMAC (*serve_dl_PKCS5_PBKDF2_HMAC)
#define EVP_sha256 (*serve_dl_EVP_sha256)
#define EVP_md5 (*serve_dl_EVP_md5)
#define EVP_MD_CTX_new (*serve_dl_EVP_MD_CTX_new)
#define EVP_MD_CTX_free (*serve_dl_EVP_MD_CTX_free)
#define EVP_DigestInit_ex (*serve_dl_EVP_DigestInit_ex)
#define EVP_DigestUpdate (*serve_dl_EVP_DigestUpdate)
#define EVP_DigestFinal_ex (*serve_dl_EVP_DigestFinal_ex)
#define EVP_DecodeBlock (*serve_dl_EVP_DecodeBlock)
#define EVP_EncodeBlock (*serve_dl_EVP_EncodeBlock)
#endif
