/* SHA-256: FIPS 180-2 vectors, streaming = one-shot, files, digest syntax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/cleanup.h"
#include "base/sha256.h"
#include "testutil.h"

static void test_vectors(void **state)
{
	(void)state;
	char hex[SHA256_HEX_LEN + 1];
	sha256_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	sha256_hex(two, strlen(two), hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_streaming(void **state)
{
	(void)state;
	/* One million 'a', fed in uneven pieces. */
	char chunk[997];
	memset(chunk, 'a', sizeof chunk);
	struct sha256 h;
	sha256_init(&h);
	size_t left = 1000000;
	while (left > 0) {
		size_t n = left < sizeof chunk ? left : sizeof chunk;
		sha256_update(&h, chunk, n);
		left -= n;
	}
	sha256_update(&h, chunk, 0);
	char hex[SHA256_HEX_LEN + 1];
	sha256_final_hex(&h, hex);
	assert_null(h.ctx);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_file(void **state)
{
	(void)state;
	char *t = make_tmpdir();
	struct ferr err = FERR_INIT;
	/* Larger than the read buffer, not a multiple of it. */
	size_t n = 3 * 65536 + 123;
	_cleanup_free_ unsigned char *data = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 7 + 3);
	_cleanup_free_ char *p = xasprintf("%s/blob", t);
	assert_int_equal(fs_write_atomic(p, data, n, 0644, &err), 0);
	char want[SHA256_HEX_LEN + 1], got[SHA256_HEX_LEN + 1];
	sha256_hex(data, n, want);
	assert_int_equal(sha256_file_hex(p, got, &err), 0);
	assert_string_equal(got, want);
	_cleanup_free_ char *empty = xasprintf("%s/empty", t);
	put_file(empty, "");
	assert_int_equal(sha256_file_hex(empty, got, &err), 0);
	assert_string_equal(got, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	_cleanup_free_ char *missing = xasprintf("%s/missing", t);
	assert_true(sha256_file_hex(missing, got, &err) < 0);
	assert_int_equal(err.errnum, ENOENT);
	assert_non_null(strstr(err.msg, missing));
	/* A directory opens but cannot be read: an error, no leak. */
	assert_true(sha256_file_hex(t, got, &err) < 0);
	assert_int_equal(err.errnum, EISDIR);
	rm_tmpdir(t);
}

static void test_digest_valid(void **state)
{
	(void)state;
	const char *good = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	assert_true(sha256_digest_valid(good));
	assert_false(sha256_digest_valid(""));
	assert_false(sha256_digest_valid("sha256:"));
	assert_false(sha256_digest_valid(good + 7));
	assert_false(sha256_digest_valid(
		"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
	assert_false(sha256_digest_valid(
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"));
	assert_false(sha256_digest_valid(
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555"));
	assert_false(sha256_digest_valid(
		"sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	assert_false(sha256_digest_valid(
		"sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	assert_false(sha256_digest_valid(
		"SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	assert_false(
		sha256_digest_valid("sha256:../../../../../../../../../../../../../../../../etc/passwd/aa"));
	assert_false(sha256_digest_valid(
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85/"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_streaming),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_digest_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
