/* image references and platforms, parsed as docker parses them */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "image/image.h"

static void check(const char *in, const char *reg, const char *repo, const char *tag, const char *digest)
{
	struct image_ref r;
	struct ferr err = FERR_INIT;
	assert_int_equal(image_ref_parse(in, &r, &err), 0);
	assert_int_equal(r.transport, TRANSPORT_DOCKER);
	assert_string_equal(r.registry, reg);
	assert_string_equal(r.repo, repo);
	if (tag)
		assert_string_equal(r.tag, tag);
	else
		assert_null(r.tag);
	if (digest)
		assert_string_equal(r.digest, digest);
	else
		assert_null(r.digest);
	image_ref_free(&r);
}

static void bad(const char *in)
{
	struct image_ref r;
	struct ferr err = FERR_INIT;
	assert_true(image_ref_parse(in, &r, &err) < 0);
	assert_int_equal(err.code, FERR_USAGE);
	assert_true(err.msg[0] != '\0');
}

#define D "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_docker_refs(void **state)
{
	(void)state;
	check("busybox", "docker.io", "library/busybox", "latest", NULL);
	check("busybox:1.36", "docker.io", "library/busybox", "1.36", NULL);
	check("user/app", "docker.io", "user/app", "latest", NULL);
	check("docker://busybox", "docker.io", "library/busybox", "latest", NULL);
	check("index.docker.io/library/x", "docker.io", "library/x", "latest", NULL);
	check("localhost/x", "localhost", "x", "latest", NULL);
	check("127.0.0.1:5000/a/b/c:t_1.2-x", "127.0.0.1:5000", "a/b/c", "t_1.2-x", NULL);
	check("ghcr.io/o/r@" D, "ghcr.io", "o/r", NULL, D);
	check("ghcr.io/o/r:v1@" D, "ghcr.io", "o/r", "v1", D);
	check("host:5000/r", "host:5000", "r", "latest", NULL);
}

static void test_bad_refs(void **state)
{
	(void)state;
	bad("");
	bad("UPPER");
	bad("a//b");
	bad("a/");
	bad("x:bad tag");
	bad("x@sha256:short");
	bad("x@md5:0123");
	bad("-leading");
	bad("x:.tag");
	bad("../x");
	bad(".x/y");
	bad("a..b/c");
	char longtag[300];
	memset(longtag, 'a', sizeof longtag);
	longtag[0] = 'x';
	longtag[1] = ':';
	longtag[sizeof longtag - 1] = '\0';
	bad(longtag);
}

static void test_local_refs(void **state)
{
	(void)state;
	struct image_ref r;
	struct ferr err = FERR_INIT;
	assert_int_equal(image_ref_parse("oci:/a/b/../c:v2", &r, &err), 0);
	assert_int_equal(r.transport, TRANSPORT_OCI);
	assert_string_equal(r.repo, "/a/c");
	assert_string_equal(r.tag, "v2");
	char *s = image_ref_str(&r);
	assert_string_equal(s, "oci:/a/c:v2");
	free(s);
	image_ref_free(&r);
	assert_int_equal(image_ref_parse("docker-archive:/x/y.tar", &r, &err), 0);
	assert_int_equal(r.transport, TRANSPORT_DOCKER_ARCHIVE);
	assert_string_equal(r.repo, "/x/y.tar");
	image_ref_free(&r);
	assert_int_equal(image_ref_parse("oci-archive:/x/y.tar", &r, &err), 0);
	assert_int_equal(r.transport, TRANSPORT_OCI_ARCHIVE);
	assert_string_equal(r.tag, "latest");
	image_ref_free(&r);
	assert_true(image_ref_parse("oci:", &r, &err) < 0);
}

static void test_platform(void **state)
{
	(void)state;
	struct image_platform p;
	struct ferr err = FERR_INIT;
	assert_int_equal(image_platform_parse("linux/arm64/v8", &p, &err), 0);
	assert_string_equal(p.os, "linux");
	assert_string_equal(p.arch, "arm64");
	assert_string_equal(p.variant, "v8");
	assert_true(image_platform_parse("linux", &p, &err) < 0);
	assert_true(image_platform_parse("a/b/c/d", &p, &err) < 0);
	image_platform_host(&p);
	assert_string_equal(p.os, "linux");
	assert_true(p.arch[0] != '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_docker_refs),
		cmocka_unit_test(test_bad_refs),
		cmocka_unit_test(test_local_refs),
		cmocka_unit_test(test_platform),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
