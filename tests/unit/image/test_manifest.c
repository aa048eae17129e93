/* manifests, indexes, configs: what ferry accepts and how it refuses */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "image/image.h"

#define H1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define H3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static int parse(const char *s, const char *ct, struct image_manifest *m, struct ferr *err)
{
	return image_manifest_parse(s, strlen(s), ct, m, err);
}

static void test_oci_manifest(void **state)
{
	(void)state;
	const char *s = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"digest\":\"" H1
			"\",\"size\":10},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
			"\"digest\":\"" H2 "\",\"size\":20},{\"digest\":\"" H3 "\",\"size\":0}]}";
	struct image_manifest m;
	struct ferr err = FERR_INIT;
	assert_int_equal(parse(s, NULL, &m, &err), 0);
	assert_false(m.is_index);
	assert_int_equal(m.n_layers, 2);
	assert_string_equal(m.config.digest, H1);
	assert_int_equal(m.layers[0].size, 20);
	image_manifest_free(&m);
}

static void test_index_select(void **state)
{
	(void)state;
	const char *s = "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_LIST "\",\"manifests\":["
			"{\"digest\":\"" H1 "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}},"
			"{\"digest\":\"" H2 "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
			"{\"digest\":\"" H3 "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}}]}";
	struct image_manifest m;
	struct ferr err = FERR_INIT;
	assert_int_equal(parse(s, NULL, &m, &err), 0);
	assert_true(m.is_index);
	const struct image_desc *d;
	struct image_platform p;
	assert_int_equal(image_platform_parse("linux/arm/v6", &p, &err), 0);
	assert_int_equal(image_index_select(&m, &p, &d, &err), 0);
	assert_string_equal(d->digest, H3);
	assert_int_equal(image_platform_parse("linux/arm64/v8", &p, &err), 0);
	assert_int_equal(image_index_select(&m, &p, &d, &err), 0);
	assert_string_equal(d->digest, H2);
	assert_int_equal(image_platform_parse("linux/amd64", &p, &err), 0);
	assert_true(image_index_select(&m, &p, &d, &err) < 0);
	assert_int_equal(err.code, FERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "linux/arm/v7"));
	image_manifest_free(&m);
}

static void test_refusals(void **state)
{
	(void)state;
	struct image_manifest m;
	struct ferr err = FERR_INIT;
	assert_true(parse("{\"schemaVersion\":1,\"fsLayers\":[]}", NULL, &m, &err) < 0);
	assert_int_equal(err.code, FERR_UNSUPPORTED);
	assert_non_null(strstr(err.hint, "re-push"));
	ferr_clear(&err);
	assert_true(parse("{\"schemaVersion\":2,\"config\":{\"digest\":\"md5:x\",\"size\":1},\"layers\":[]}", NULL, &m, &err) < 0);
	ferr_clear(&err);
	assert_true(parse("{\"schemaVersion\":2,\"config\":{\"digest\":\"" H1 "\",\"size\":-1},\"layers\":[]}", NULL, &m, &err) < 0);
	ferr_clear(&err);
	assert_true(parse("{\"schemaVersion\":2,\"config\":{\"digest\":\"" H1 "\",\"size\":1}}", NULL, &m, &err) < 0);
	ferr_clear(&err);
	assert_true(parse("[1,2]", NULL, &m, &err) < 0);
	ferr_clear(&err);
	assert_true(parse("{\"schemaVersion\":2,\"mediaType\":\"application/x-weird\"}", NULL, &m, &err) < 0);
	assert_int_equal(err.code, FERR_UNSUPPORTED);
	ferr_clear(&err);
	assert_true(parse("{\"schemaVersion\":2,\"config\":{\"digest\":\"" H1 "\",\"size\":1},\"layers\":[{\"mediaType\":"
			  "\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\",\"digest\":\"" H2 "\",\"size\":1}]}",
			  NULL, &m, &err) < 0);
	assert_int_equal(err.code, FERR_UNSUPPORTED);
}

/* A manifest whose layers are an object, or missing, says so (it once
 * failed with an empty message). */
static void test_layers_not_array(void **state)
{
	(void)state;
	struct image_manifest m;
	struct ferr err = FERR_INIT;
	assert_true(parse("{\"schemaVersion\":2,\"config\":{\"digest\":\"" H1 "\",\"size\":1},\"layers\":{\"a\":1}}",
			  NULL, &m, &err) < 0);
	assert_int_equal(err.code, FERR_INVALID);
	assert_non_null(strstr(err.msg, "layers is not an array"));
	ferr_clear(&err);
	assert_true(parse("{\"schemaVersion\":2,\"config\":{\"digest\":\"" H1 "\",\"size\":1}}", NULL, &m, &err) < 0);
	assert_int_equal(err.code, FERR_INVALID);
	assert_non_null(strstr(err.msg, "no layers array"));
}

static void test_config(void **state)
{
	(void)state;
	const char *s = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/bin\",\"A=b\"],"
			"\"Entrypoint\":[\"/e\"],\"Cmd\":null,\"WorkingDir\":\"/w\",\"User\":\"1000:1000\","
			"\"Labels\":{\"k\":\"v\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" H1 "\"]}}";
	struct image_config c;
	struct ferr err = FERR_INIT;
	assert_int_equal(image_config_parse(s, strlen(s), &c, &err), 0);
	assert_string_equal(c.env[1], "A=b");
	assert_null(c.env[2]);
	assert_string_equal(c.entrypoint[0], "/e");
	assert_null(c.cmd);
	assert_string_equal(c.workdir, "/w");
	assert_string_equal(c.user, "1000:1000");
	assert_string_equal(c.labels[0], "k=v");
	assert_string_equal(c.diff_ids[0], H1);
	image_config_free(&c);
	const char *bad = "{\"rootfs\":{\"diff_ids\":[\"nope\"]}}";
	assert_true(image_config_parse(bad, strlen(bad), &c, &err) < 0);
	const char *empty = "{}";
	assert_int_equal(image_config_parse(empty, 2, &c, &err), 0);
	assert_non_null(c.env);
	assert_null(c.env[0]);
	image_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oci_manifest),
		cmocka_unit_test(test_index_select),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_layers_not_array),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
