/* single-file images: the SIF writer and parser agree, the parser refuses
 * hostile tables, and a squashfs written by ferry is found, with its
 * config, by sfile_probe and sfile_config */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "image/image.h"
#include "image/sfile_int.h"

static int memfile(void)
{
	int fd = memfd_create("sfile-test", MFD_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static int write_sif(const struct sif_out_object *objs, size_t n, uint64_t size)
{
	int fd = memfile();
	unsigned char uuid[16] = { 1, 2, 3 };
	struct ferr err = FERR_INIT;
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	assert_int_equal(sif_write_header(fd, "02", uuid, 1700000000, objs, n, 32176, size - 32176, &err), 0);
	return fd;
}

static void test_sif_round_trip(void **state)
{
	(void)state;
	struct sif_out_object o[2] = {
		{ .type = SIF_DATA_GENERIC_JSON, .id = 1, .group = 1, .offset = 32768, .size = 10 },
		{ .type = SIF_DATA_PARTITION, .id = 2, .group = 1, .offset = 36864, .size = 4096, .fstype = SIF_FS_EXT3,
			.parttype = SIF_PART_PRIMARY_SYSTEM, .arch = "04" },
	};
	int fd = write_sif(o, 2, 40960);
	struct sif_info s;
	struct ferr err = FERR_INIT;
	assert_int_equal(sif_read(fd, "t.sif", &s, &err), 0);
	assert_int_equal(s.n_objects, 2);
	assert_int_equal(s.primary, 1);
	assert_string_equal(s.arch, "02");
	assert_int_equal(s.created, 1700000000);
	assert_int_equal(s.objects[1].fstype, SIF_FS_EXT3);
	assert_int_equal(s.objects[1].group, 1);
	assert_int_equal(s.objects[1].offset, 36864);
	assert_string_equal(s.objects[1].arch, "04");
	assert_string_equal(s.uuid, "01020300-0000-0000-0000-000000000000");
	sif_info_free(&s);
	/* an ext3 primary partition: named, "not supported" */
	struct sfile sf;
	assert_int_equal(sfile_probe(fd, "t.sif", &sf, &err), -1);
	assert_int_equal(err.code, FERR_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "partition id 2 (ext3, primary system): not supported"));
	close(fd);
}

static void expect_bad(const struct sif_out_object *o, size_t n, uint64_t size, const char *text)
{
	int fd = write_sif(o, n, size);
	struct sif_info s;
	struct ferr err = FERR_INIT;
	assert_int_equal(sif_read(fd, "t.sif", &s, &err), -1);
	if (!strstr(err.msg, text))
		fail_msg("expected '%s' in '%s'", text, err.msg);
	assert_null(strchr(err.msg, '\n'));
	close(fd);
}

static void test_sif_hostile(void **state)
{
	(void)state;
	struct sif_out_object past = { .type = SIF_DATA_PARTITION, .id = 1, .offset = 32768, .size = 1 << 20 };
	expect_bad(&past, 1, 40960, "past the end of the file");
	struct sif_out_object wrap = { .type = SIF_DATA_PARTITION, .id = 1, .offset = 32768, .size = UINT64_MAX - 100 };
	expect_bad(&wrap, 1, 40960, "past the end of the file");
	struct sif_out_object ov[2] = { { .type = SIF_DATA_GENERIC, .id = 1, .offset = 32768, .size = 100 },
		{ .type = SIF_DATA_PARTITION, .id = 2, .offset = 32800, .size = 100 } };
	expect_bad(ov, 2, 40960, "overlap");
	struct sif_out_object tbl = { .type = SIF_DATA_GENERIC, .id = 1, .offset = 5000, .size = 10 };
	expect_bad(&tbl, 1, 40960, "descriptor table");

	/* a header claiming absurd counts, or a table beyond the file */
	unsigned char buf[40960] = { 0 };
	int fd = write_sif(&tbl, 0, sizeof buf);
	assert_int_equal(pread(fd, buf, sizeof buf, 0), (ssize_t)sizeof buf);
	close(fd);
	struct sif_info s;
	struct ferr err = FERR_INIT;
	unsigned char b2[sizeof buf];
	memcpy(b2, buf, sizeof buf);
	b2[88 + 3] = 0x10; /* 2^28 descriptors */
	assert_int_equal(sif_parse(b2, sizeof b2, sizeof b2, &s, &err), -1);
	assert_non_null(strstr(err.msg, "absurd"));
	memcpy(b2, buf, sizeof buf);
	b2[96 + 5] = 1; /* table at 2^40 */
	assert_int_equal(sif_parse(b2, sizeof b2, sizeof b2, &s, &err), -1);
	assert_non_null(strstr(err.msg, "past the end"));
	assert_int_equal(sif_parse(buf, 100, sizeof buf, &s, &err), -1); /* truncated header */
	memcpy(b2, buf, sizeof buf);
	b2[42] = '9';
	assert_int_equal(sif_parse(b2, sizeof b2, sizeof b2, &s, &err), -1);
	assert_int_equal(err.code, FERR_UNSUPPORTED);
	/* and the clean one parses: no objects, no primary */
	assert_int_equal(sif_parse(buf, sizeof buf, sizeof buf, &s, &err), 0);
	assert_int_equal(s.n_objects, 0);
	assert_int_equal(s.primary, -1);
	sif_info_free(&s);
}

static void test_squashfs_config(void **state)
{
	(void)state;
	char dir[] = "/tmp/ferry-test-sfile-XXXXXX";
	assert_non_null(mkdtemp(dir));
	_cleanup_free_ char *f = xasprintf("%s/hello", dir);
	struct ferr err = FERR_INIT;
	assert_int_equal(fs_write_atomic(f, "hi\n", 3, 0644, &err), 0);
	const char *cfg = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/true\"],\"Env\":[\"A=1\"]}}";
	struct sqfs_extra x = { SFILE_CONFIG_PATH, cfg, strlen(cfg), 0644 };
	int fd = memfile();
	uint64_t size = 0;
	assert_int_equal(sqfs_write_tree(fd, 4096, dir, &x, 1, 1700000000, EXPORT_ZSTD, 2, &size, &err), 0);
	assert_int_equal(size % 4096, 0);
	/* a launch script in front: an old .simg */
	const char *script = "#!/bin/sh\nexec run \"$0\"\n";
	assert_int_equal(pwrite(fd, script, strlen(script), 0), (ssize_t)strlen(script));
	struct sfile sf;
	/* the squashfs starts at 4096, after zeros: not found right after the line */
	int r = sfile_probe(fd, "t.simg", &sf, &err);
	assert_true(r == 0 || (r == 1 && sf.sqfs_offset == 4096));
	/* moved right behind the script, it is */
	int fd2 = memfile();
	_cleanup_free_ char *img = xmalloc(size);
	assert_int_equal(pread(fd, img, size, 4096), (ssize_t)size);
	assert_int_equal(pwrite(fd2, script, strlen(script), 0), (ssize_t)strlen(script));
	assert_int_equal(pwrite(fd2, img, size, (off_t)strlen(script)), (ssize_t)size);
	assert_int_equal(sfile_probe(fd2, "t.simg", &sf, &err), 1);
	assert_int_equal(sf.kind, SFILE_SIMG);
	assert_int_equal(sf.sqfs_offset, strlen(script));
	assert_int_equal(sf.created, 1700000000);
	struct image_config c;
	bool have = false;
	assert_int_equal(sfile_config(fd2, "t.simg", &sf, &c, &have, &err), 0);
	assert_true(have);
	assert_string_equal(c.cmd[0], "/bin/true");
	assert_string_equal(c.env[0], "A=1");
	image_config_free(&c);
	char *data = NULL;
	size_t len = 0;
	assert_int_equal(sfile_read_file(fd2, "t.simg", &sf, "/hello", 100, &data, &len, &err), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(data, "hi\n", 3);
	free(data);
	assert_int_equal(sfile_read_file(fd2, "t.simg", &sf, "/nope", 100, &data, &len, &err), -1);
	assert_int_equal(err.code, FERR_NOTFOUND);
	close(fd);
	close(fd2);
	assert_int_equal(fs_rm_rf(dir, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sif_round_trip),
		cmocka_unit_test(test_sif_hostile),
		cmocka_unit_test(test_squashfs_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
