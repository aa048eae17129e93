/* libcurl and libarchive, loaded with dlopen() the first time ferry needs
 * the network or a tar archive.
 *
 * Why: linked normally, the two pull in ~40 shared libraries (gnutls, krb5,
 * ldap, ICU, libxml2 ...) that the dynamic loader maps and relocates at every
 * start of ferry — about 5 ms, twice what a whole `ferry exec` costs
 * otherwise (bench/start). Only `pull` and friends need them.
 *
 * Include this header instead of <curl/curl.h> / <archive.h> in image/ and
 * call netlibs_load() before the first curl_* or archive_* call: every such
 * name below is turned into a call through a pointer filled by dlsym(). */
#pragma once

#define CURL_DISABLE_TYPECHECK 1
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>

#include "base/err.h"

/* Idempotent and thread-safe; fails with a hint naming the package when a
 * library or a symbol is missing. Also runs curl_global_init() once. */
int netlibs_load(struct ferr *err);
/* Each library alone: libcurl (and curl_global_init), or libarchive. */
int netlibs_load_curl(struct ferr *err);
int netlibs_load_archive(struct ferr *err);

#define NETLIBS_FUNCS(X)                                                                                      \
	X(curl_global_init)                                                                                   \
	X(curl_easy_init)                                                                                     \
	X(curl_easy_cleanup)                                                                                  \
	X(curl_easy_reset)                                                                                    \
	X(curl_easy_setopt)                                                                                   \
	X(curl_easy_getinfo)                                                                                  \
	X(curl_easy_perform)                                                                                  \
	X(curl_easy_strerror)                                                                                 \
	X(curl_easy_escape)                                                                                   \
	X(curl_free)                                                                                          \
	X(curl_getdate)                                                                                       \
	X(curl_slist_append)                                                                                  \
	X(curl_slist_free_all)                                                                                \
	X(curl_share_init)                                                                                    \
	X(curl_share_setopt)                                                                                  \
	X(curl_share_cleanup)                                                                                 \
	X(curl_multi_init)                                                                                    \
	X(curl_multi_setopt)                                                                                  \
	X(curl_multi_add_handle)                                                                              \
	X(curl_multi_remove_handle)                                                                           \
	X(curl_multi_perform)                                                                                 \
	X(curl_multi_poll)                                                                                    \
	X(curl_multi_info_read)                                                                               \
	X(curl_multi_cleanup)                                                                                 \
	X(archive_error_string)                                                                               \
	X(archive_set_error)                                                                                  \
	X(archive_read_new)                                                                                   \
	X(archive_read_free)                                                                                  \
	X(archive_read_support_format_tar)                                                                    \
	X(archive_read_support_format_gnutar)                                                                 \
	X(archive_read_open)                                                                                  \
	X(archive_read_next_header)                                                                           \
	X(archive_read_data)                                                                                  \
	X(archive_read_data_block)                                                                            \
	X(archive_entry_pathname)                                                                             \
	X(archive_entry_hardlink)                                                                             \
	X(archive_entry_symlink)                                                                              \
	X(archive_entry_filetype)                                                                             \
	X(archive_entry_perm)                                                                                 \
	X(archive_entry_size)                                                                                 \
	X(archive_entry_size_is_set)                                                                          \
	X(archive_entry_mtime)                                                                                \
	X(archive_entry_mtime_nsec)

#define NETLIBS_DECLARE(f) extern __typeof__(f) *netlibs_##f;
NETLIBS_FUNCS(NETLIBS_DECLARE)
#undef NETLIBS_DECLARE

#ifndef NETLIBS_IMPL
/* From here on, every use calls through the loaded pointer. */
#undef curl_global_init
#define curl_global_init (*netlibs_curl_global_init)
#undef curl_easy_init
#define curl_easy_init (*netlibs_curl_easy_init)
#undef curl_easy_cleanup
#define curl_easy_cleanup (*netlibs_curl_easy_cleanup)
#undef curl_easy_reset
#define curl_easy_reset (*netlibs_curl_easy_reset)
#undef curl_easy_setopt
#define curl_easy_setopt (*netlibs_curl_easy_setopt)
#undef curl_easy_getinfo
#define curl_easy_getinfo (*netlibs_curl_easy_getinfo)
#undef curl_easy_perform
#define curl_easy_perform (*netlibs_curl_easy_perform)
#undef curl_easy_strerror
#define curl_easy_strerror (*netlibs_curl_easy_strerror)
#undef curl_easy_escape
#define curl_easy_escape (*netlibs_curl_easy_escape)
#undef curl_free
#define curl_free (*netlibs_curl_free)
#undef curl_getdate
#define curl_getdate (*netlibs_curl_getdate)
#undef curl_slist_append
#define curl_slist_append (*netlibs_curl_slist_append)
#undef curl_slist_free_all
#define curl_slist_free_all (*netlibs_curl_slist_free_all)
#undef curl_share_init
#define curl_share_init (*netlibs_curl_share_init)
#undef curl_share_setopt
#define curl_share_setopt (*netlibs_curl_share_setopt)
#undef curl_share_cleanup
#define curl_share_cleanup (*netlibs_curl_share_cleanup)
#undef curl_multi_init
#define curl_multi_init (*netlibs_curl_multi_init)
#undef curl_multi_setopt
#define curl_multi_setopt (*netlibs_curl_multi_setopt)
#undef curl_multi_add_handle
#define curl_multi_add_handle (*netlibs_curl_multi_add_handle)
#undef curl_multi_remove_handle
#define curl_multi_remove_handle (*netlibs_curl_multi_remove_handle)
#undef curl_multi_perform
#define curl_multi_perform (*netlibs_curl_multi_perform)
#undef curl_multi_poll
#define curl_multi_poll (*netlibs_curl_multi_poll)
#undef curl_multi_info_read
#define curl_multi_info_read (*netlibs_curl_multi_info_read)
#undef curl_multi_cleanup
#define curl_multi_cleanup (*netlibs_curl_multi_cleanup)
#undef archive_error_string
#define archive_error_string (*netlibs_archive_error_string)
#undef archive_set_error
#define archive_set_error (*netlibs_archive_set_error)
#undef archive_read_new
#define archive_read_new (*netlibs_archive_read_new)
#undef archive_read_free
#define archive_read_free (*netlibs_archive_read_free)
#undef archive_read_support_format_tar
#define archive_read_support_format_tar (*netlibs_archive_read_support_format_tar)
#undef archive_read_support_format_gnutar
#define archive_read_support_format_gnutar (*netlibs_archive_read_support_format_gnutar)
#undef archive_read_open
#define archive_read_open (*netlibs_archive_read_open)
#undef archive_read_next_header
#define archive_read_next_header (*netlibs_archive_read_next_header)
#undef archive_read_data
#define archive_read_data (*netlibs_archive_read_data)
#undef archive_read_data_block
#define archive_read_data_block (*netlibs_archive_read_data_block)
#undef archive_entry_pathname
#define archive_entry_pathname (*netlibs_archive_entry_pathname)
#undef archive_entry_hardlink
#define archive_entry_hardlink (*netlibs_archive_entry_hardlink)
#undef archive_entry_symlink
#define archive_entry_symlink (*netlibs_archive_entry_symlink)
#undef archive_entry_filetype
#define archive_entry_filetype (*netlibs_archive_entry_filetype)
#undef archive_entry_perm
#define archive_entry_perm (*netlibs_archive_entry_perm)
#undef archive_entry_size
#define archive_entry_size (*netlibs_archive_entry_size)
#undef archive_entry_size_is_set
#define archive_entry_size_is_set (*netlibs_archive_entry_size_is_set)
#undef archive_entry_mtime
#define archive_entry_mtime (*netlibs_archive_entry_mtime)
#undef archive_entry_mtime_nsec
#define archive_entry_mtime_nsec (*netlibs_archive_entry_mtime_nsec)
#endif
