/* libsquashfs (squashfs-tools-ng), loaded with dlopen() the first time
 * ferry reads or writes a squashfs (export, import, inspect of a file).
 *
 * Why: linked normally, it and its compressors (liblzma, liblz4, libzstd,
 * libz, libm) are mapped and relocated at every start of ferry, `ferry
 * exec` of a tree included, which never calls it (bench/start,
 * tests/cli/startup-libs.bats).
 *
 * Include this header instead of <sqfs/...> and call sqfslib_load()
 * before the first sqfs_* call: every such name below is turned into a
 * call through a pointer filled by dlsym(), as image/netlibs.h does. */
#pragma once

#include <sqfs/block.h>
#include <sqfs/block_processor.h>
#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir_reader.h>
#include <sqfs/dir_writer.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>

#include "base/err.h"

/* Idempotent and thread-safe; fails with a hint naming the package when
 * the library or a symbol is missing. */
int sqfslib_load(struct ferr *err);

#define SQFSLIB_FUNCS(X) \
	X(sqfs_block_processor_append) \
	X(sqfs_block_processor_begin_file) \
	X(sqfs_block_processor_create_ex) \
	X(sqfs_block_processor_end_file) \
	X(sqfs_block_processor_finish) \
	X(sqfs_block_writer_create) \
	X(sqfs_compressor_config_init) \
	X(sqfs_compressor_create) \
	X(sqfs_data_reader_create) \
	X(sqfs_data_reader_load_fragment_table) \
	X(sqfs_data_reader_read) \
	X(sqfs_dir_reader_create) \
	X(sqfs_dir_reader_find_by_path) \
	X(sqfs_dir_reader_get_full_hierarchy) \
	X(sqfs_dir_tree_destroy) \
	X(sqfs_dir_writer_add_entry) \
	X(sqfs_dir_writer_begin) \
	X(sqfs_dir_writer_create) \
	X(sqfs_dir_writer_create_inode) \
	X(sqfs_dir_writer_end) \
	X(sqfs_frag_table_create) \
	X(sqfs_frag_table_write) \
	X(sqfs_free) \
	X(sqfs_id_table_create) \
	X(sqfs_id_table_id_to_index) \
	X(sqfs_id_table_read) \
	X(sqfs_id_table_write) \
	X(sqfs_inode_get_file_block_start) \
	X(sqfs_inode_get_file_size) \
	X(sqfs_inode_make_extended) \
	X(sqfs_meta_write_write_to_file) \
	X(sqfs_meta_writer_create) \
	X(sqfs_meta_writer_flush) \
	X(sqfs_meta_writer_get_position) \
	X(sqfs_meta_writer_write_inode) \
	X(sqfs_super_init) \
	X(sqfs_super_read) \
	X(sqfs_super_write) \
	X(sqfs_tree_node_get_path)

#define SQFSLIB_DECLARE(f) extern __typeof__(f) *sqfslib_##f;
SQFSLIB_FUNCS(SQFSLIB_DECLARE)
#undef SQFSLIB_DECLARE

#ifndef SQFSLIB_IMPL
/* From here on, every use calls through the loaded pointer. */
#define sqfs_block_processor_append (*sqfslib_sqfs_block_processor_append)
#define sqfs_block_processor_begin_file (*sqfslib_sqfs_block_processor_begin_file)
#define sqfs_block_processor_create_ex (*sqfslib_sqfs_block_processor_create_ex)
#define sqfs_block_processor_end_file (*sqfslib_sqfs_block_processor_end_file)
#define sqfs_block_processor_finish (*sqfslib_sqfs_block_processor_finish)
#define sqfs_block_writer_create (*sqfslib_sqfs_block_writer_create)
#define sqfs_compressor_config_init (*sqfslib_sqfs_compressor_config_init)
#define sqfs_compressor_create (*sqfslib_sqfs_compressor_create)
#define sqfs_data_reader_create (*sqfslib_sqfs_data_reader_create)
#define sqfs_data_reader_load_fragment_table (*sqfslib_sqfs_data_reader_load_fragment_table)
#define sqfs_data_reader_read (*sqfslib_sqfs_data_reader_read)
#define sqfs_dir_reader_create (*sqfslib_sqfs_dir_reader_create)
#define sqfs_dir_reader_find_by_path (*sqfslib_sqfs_dir_reader_find_by_path)
#define sqfs_dir_reader_get_full_hierarchy (*sqfslib_sqfs_dir_reader_get_full_hierarchy)
#define sqfs_dir_tree_destroy (*sqfslib_sqfs_dir_tree_destroy)
#define sqfs_dir_writer_add_entry (*sqfslib_sqfs_dir_writer_add_entry)
#define sqfs_dir_writer_begin (*sqfslib_sqfs_dir_writer_begin)
#define sqfs_dir_writer_create (*sqfslib_sqfs_dir_writer_create)
#define sqfs_dir_writer_create_inode (*sqfslib_sqfs_dir_writer_create_inode)
#define sqfs_dir_writer_end (*sqfslib_sqfs_dir_writer_end)
#define sqfs_frag_table_create (*sqfslib_sqfs_frag_table_create)
#define sqfs_frag_table_write (*sqfslib_sqfs_frag_table_write)
#define sqfs_free (*sqfslib_sqfs_free)
#define sqfs_id_table_create (*sqfslib_sqfs_id_table_create)
#define sqfs_id_table_id_to_index (*sqfslib_sqfs_id_table_id_to_index)
#define sqfs_id_table_read (*sqfslib_sqfs_id_table_read)
#define sqfs_id_table_write (*sqfslib_sqfs_id_table_write)
#define sqfs_inode_get_file_block_start (*sqfslib_sqfs_inode_get_file_block_start)
#define sqfs_inode_get_file_size (*sqfslib_sqfs_inode_get_file_size)
#define sqfs_inode_make_extended (*sqfslib_sqfs_inode_make_extended)
#define sqfs_meta_write_write_to_file (*sqfslib_sqfs_meta_write_write_to_file)
#define sqfs_meta_writer_create (*sqfslib_sqfs_meta_writer_create)
#define sqfs_meta_writer_flush (*sqfslib_sqfs_meta_writer_flush)
#define sqfs_meta_writer_get_position (*sqfslib_sqfs_meta_writer_get_position)
#define sqfs_meta_writer_write_inode (*sqfslib_sqfs_meta_writer_write_inode)
#define sqfs_super_init (*sqfslib_sqfs_super_init)
#define sqfs_super_read (*sqfslib_sqfs_super_read)
#define sqfs_super_write (*sqfslib_sqfs_super_write)
#define sqfs_tree_node_get_path (*sqfslib_sqfs_tree_node_get_path)
#endif
