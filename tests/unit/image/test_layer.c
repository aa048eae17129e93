/* layer_extract on tars made here with libarchive's writer: whiteouts,
 * links, modes, dedup, and members that try to leave the root. Each case
 * runs with openat2 and with the userspace walk (inroot_force_walk). */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/fs.h"
#include "base/inroot.h"
#include "base/sha256.h"
#include "base/str.h"
#include "image/image.h"

struct member {
	const char *name;
	char type; /* f file, d dir, l symlink, h hardlink, c chr device */
	const char *data; /* file data or link target */
	int mode;
};

static char tmp[256];

/* Write members as a (gzip-compressed if gz) tar; returns an fd at 0. */
static int make_tar(const struct member *m, bool gz, char diff_id[80])
{
	char path[300];
	snprintf(path, sizeof path, "%s/layer.tar", tmp);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (gz)
		archive_write_add_filter_gzip(a);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (; m->name; m++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m->name);
		archive_entry_set_perm(e, m->mode ? (mode_t)m->mode : 0644);
		size_t len = 0;
		switch (m->type) {
		case 'd': archive_entry_set_filetype(e, AE_IFDIR); break;
		case 'l': archive_entry_set_filetype(e, AE_IFLNK); archive_entry_set_symlink(e, m->data); break;
		case 'h': archive_entry_set_filetype(e, AE_IFREG); archive_entry_set_hardlink(e, m->data); break;
		case 'c': archive_entry_set_filetype(e, AE_IFCHR); archive_entry_set_rdev(e, makedev(1, 3)); break;
		default:
			archive_entry_set_filetype(e, AE_IFREG);
			len = m->data ? strlen(m->data) : 0;
			archive_entry_set_size(e, (la_int64_t)len);
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (len)
			archive_write_data(a, m->data, len);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	if (diff_id && !gz) {
		char hex[65];
		struct ferr err = FERR_INIT;
		assert_int_equal(sha256_file_hex(path, hex, &err), 0);
		snprintf(diff_id, 80, "sha256:%s", hex);
	}
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	return fd;
}

static int root_fd(const char *name)
{
	char p[300];
	snprintf(p, sizeof p, "%s/%s", tmp, name);
	mkdir(p, 0755);
	int fd = open(p, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	return fd;
}

static int extract(const struct member *m, int root, int files, struct ferr *err)
{
	char diff[80];
	int fd = make_tar(m, false, diff);
	int r = layer_extract(fd, diff, root, files, NULL, err);
	close(fd);
	return r;
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof tmp, "%s/ferry-test-layer-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmp));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	struct ferr err = FERR_INIT;
	fs_rm_rf(tmp, &err);
	inroot_force_walk = 0;
	return 0;
}

static bool exists_at(int fd, const char *p)
{
	struct stat st;
	return fstatat(fd, p, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void test_escapes(void **state)
{
	(void)state;
	for (int walk = 0; walk < 2; walk++) {
		inroot_force_walk = walk;
		char outside[300];
		snprintf(outside, sizeof outside, "%s/outside%d", tmp, walk);
		mkdir(outside, 0755);
		char rootname[32];
		snprintf(rootname, sizeof rootname, "root%d", walk);
		int root = root_fd(rootname);
		char abs[400], rel[400];
		snprintf(abs, sizeof abs, "%s/abs", outside);
		snprintf(rel, sizeof rel, "../../../../../../../../../..%s/rel", outside);
		char dirlink_target[300];
		snprintf(dirlink_target, sizeof dirlink_target, "%s", outside);
		const struct member m[] = {
			{ abs + 1, 'd', NULL, 0755 }, /* the same path inside, so links resolve */
			{ abs, 'f', "x", 0 },
			{ rel, 'f', "x", 0 },
			{ "link", 'l', dirlink_target, 0 },
			{ "link/through", 'f', "x", 0 },
			{ "hl", 'h', "/../../../../etc/hostname", 0 },
			{ NULL, 0, NULL, 0 },
		};
		struct ferr err = FERR_INIT;
		/* "hl" has no target inside: an error, after the rest went inside */
		assert_true(extract(m, root, -1, &err) < 0);
		assert_non_null(strstr(err.msg, "hardlink"));
		assert_false(exists_at(AT_FDCWD, abs + 0) && !fs_is_dir(abs));
		char probe[500];
		snprintf(probe, sizeof probe, "%s/rel", outside);
		assert_false(exists_at(AT_FDCWD, probe));
		snprintf(probe, sizeof probe, "%s/through", outside);
		assert_false(exists_at(AT_FDCWD, probe));
		assert_true(exists_at(root, outside + 1)); /* ROOT/<outside> */
		close(root);
	}
}

static void test_whiteouts_and_types(void **state)
{
	(void)state;
	int root = root_fd("r");
	struct ferr err = FERR_INIT;
	const struct member l1[] = {
		{ "a", 'd', NULL, 0755 }, { "a/x", 'f', "1", 0 }, { "a/y", 'f', "2", 0 },
		{ "o", 'd', NULL, 0755 }, { "o/old", 'f', "3", 0 }, { "gone", 'f', "4", 0 },
		{ "d2f", 'd', NULL, 0755 }, { "d2f/in", 'f', "5", 0 }, { "f2d", 'f', "6", 0 },
		{ NULL, 0, NULL, 0 },
	};
	const struct member l2[] = {
		{ "a/.wh.x", 'f', NULL, 0 }, { ".wh.gone", 'f', NULL, 0 }, { "o/new", 'f', "7", 0 },
		{ "o/.wh..wh..opq", 'f', NULL, 0 }, { "d2f", 'f', "file", 0 }, { "f2d", 'd', NULL, 0755 },
		{ "f2d/c", 'f', "8", 0 }, { "suid", 'f', "s", 06755 }, { "closed", 'd', NULL, 0500 },
		{ "dev/null", 'c', NULL, 0 }, { "hl", 'h', "a/y", 0 },
		{ NULL, 0, NULL, 0 },
	};
	assert_int_equal(extract(l1, root, -1, &err), 0);
	assert_int_equal(extract(l2, root, -1, &err), 0);
	assert_false(exists_at(root, "a/x"));
	assert_true(exists_at(root, "a/y"));
	assert_false(exists_at(root, "gone"));
	assert_false(exists_at(root, "o/old"));
	assert_true(exists_at(root, "o/new"));
	assert_false(exists_at(root, "dev/null"));
	struct stat st, st2;
	assert_int_equal(fstatat(root, "d2f", &st, 0), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(fstatat(root, "f2d/c", &st, 0), 0);
	assert_int_equal(fstatat(root, "suid", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(fstatat(root, "closed", &st, 0), 0);
	assert_int_equal(st.st_mode & 0700, 0700);
	assert_int_equal(fstatat(root, "hl", &st, 0), 0);
	assert_int_equal(fstatat(root, "a/y", &st2, 0), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	close(root);
}

static void test_dedup_and_checks(void **state)
{
	(void)state;
	char files[300];
	snprintf(files, sizeof files, "%s/files", tmp);
	mkdir(files, 0755);
	int ffd = open(files, O_PATH | O_DIRECTORY);
	int r1 = root_fd("d1"), r2 = root_fd("d2");
	const struct member m[] = { { "same", 'f', "shared content", 0644 }, { "x", 'f', "shared content", 0600 },
		{ NULL, 0, NULL, 0 } };
	struct ferr err = FERR_INIT;
	assert_int_equal(extract(m, r1, ffd, &err), 0);
	assert_int_equal(extract(m, r2, ffd, &err), 0);
	struct stat a, b, c;
	assert_int_equal(fstatat(r1, "same", &a, 0), 0);
	assert_int_equal(fstatat(r2, "same", &b, 0), 0);
	assert_int_equal(fstatat(r1, "x", &c, 0), 0);
	assert_int_equal(a.st_ino, b.st_ino); /* same content, same mode: one inode */
	assert_int_not_equal(a.st_ino, c.st_ino); /* another mode: another copy */
	assert_int_equal(a.st_nlink, 3);

	/* gzip, with a wrong diff_id, then a truncated stream */
	int fd = make_tar(m, true, NULL);
	int r3 = root_fd("d3");
	assert_true(layer_extract(fd, "sha256:0000000000000000000000000000000000000000000000000000000000000000", r3, -1,
			    NULL, &err) < 0);
	assert_int_equal(err.code, FERR_INTEGRITY);
	struct stat st;
	fstat(fd, &st);
	char path[300];
	snprintf(path, sizeof path, "%s/layer.tar", tmp);
	assert_int_equal(truncate(path, st.st_size / 2), 0);
	lseek(fd, 0, SEEK_SET);
	int r4 = root_fd("d4");
	ferr_clear(&err);
	assert_true(layer_extract(fd, NULL, r4, -1, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "truncated"));
	close(fd);
	close(r1);
	close(r2);
	close(r3);
	close(r4);
	close(ffd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whiteouts_and_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup_and_checks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
