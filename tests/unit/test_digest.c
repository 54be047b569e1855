/* Unit tests for core/digest: known SHA-256/SHA-512 vectors through the
 * one-shot and streaming interfaces, chain IDs of a three-layer image
 * (expected values computed independently with sha256sum), and the exact
 * validity rules — including strings that would be path tricks if a digest's
 * hex part were used as a file name. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/digest.h"
#include "core/error.h"

#define SHA256_ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_448 "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define SHA256_MILLION_A "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define SHA512_ABC                                                                                   \
	"sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c" \
	"23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

/* printf layer-one | sha256sum, etc.; C2/C3 from printf '%s %s' parent diff | sha256sum */
#define D1 "sha256:0139c1c77468f75e6763a4612262743bd47a36b26cb2863d662756b3377bb029"
#define D2 "sha256:4381142a944dccfafc4428f3b1d4469713054b918f3c97f2e7f1cac2c25e0cc4"
#define D3 "sha256:6c743db43f0448c007a51265ac822887f39ea7e6600820511cc46f9f63690fd5"
#define C2 "sha256:aff998a96a2f925843dfb74108505e06ba8a26c9ff277ee74ede14a9bd9090b0"
#define C3 "sha256:0c591124fb48bc3416c43b04465bf075a13e4949d16e3c58b274b18a00494da7"

static void test_buf_vectors(void **state)
{
	char out[BERTH_DIGEST_MAX];
	assert_int_equal(berth_digest_buf("abc", 3, out), 0);
	assert_string_equal(out, SHA256_ABC);
	assert_int_equal(berth_digest_buf("", 0, out), 0);
	assert_string_equal(out, SHA256_EMPTY);
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	assert_int_equal(berth_digest_buf(m, strlen(m), out), 0);
	assert_string_equal(out, SHA256_448);
	assert_true(berth_digest_valid(out));
}

static void test_hasher_streaming(void **state)
{
	struct berth_hasher *h = NULL;
	char out[BERTH_DIGEST_MAX];
	char chunk[997];
	memset(chunk, 'a', sizeof(chunk));

	assert_int_equal(berth_hasher_new(BERTH_DIGEST_SHA256, &h), 0);
	/* Odd-sized pieces so block boundaries fall everywhere. */
	size_t left = 1000000;
	while (left > 0) {
		size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
		berth_hasher_update(h, chunk, n);
		left -= n;
	}
	berth_hasher_final(h, out);
	assert_string_equal(out, SHA256_MILLION_A);
	/* Updates after final are ignored and a second final repeats the value. */
	berth_hasher_update(h, "x", 1);
	char again[BERTH_DIGEST_MAX];
	berth_hasher_final(h, again);
	assert_string_equal(again, SHA256_MILLION_A);
	berth_hasher_free(h);

	h = NULL;
	assert_int_equal(berth_hasher_new(BERTH_DIGEST_SHA512, &h), 0);
	berth_hasher_update(h, "a", 1);
	berth_hasher_update(h, "", 0);
	berth_hasher_update(h, "bc", 2);
	berth_hasher_final(h, out);
	assert_string_equal(out, SHA512_ABC);
	assert_int_equal(strlen(out), 7 + 128);
	assert_true(berth_digest_valid(out));
	berth_hasher_free(h);

	assert_int_equal(berth_hasher_new((enum berth_digest_algo) 42, &h), -EINVAL);
}

static void test_hasher_new_like(void **state)
{
	_cleanup_hasher_ struct berth_hasher *h256 = NULL;
	_cleanup_hasher_ struct berth_hasher *h512 = NULL;
	struct berth_hasher *bad = NULL;
	char out[BERTH_DIGEST_MAX];

	assert_int_equal(berth_hasher_new_like(SHA512_ABC, &h512), 0);
	berth_hasher_update(h512, "abc", 3);
	berth_hasher_final(h512, out);
	assert_string_equal(out, SHA512_ABC);

	assert_int_equal(berth_hasher_new_like(SHA256_EMPTY, &h256), 0);
	berth_hasher_final(h256, out);
	assert_string_equal(out, SHA256_EMPTY);

	assert_int_equal(berth_hasher_new_like("md5:900150983cd24fb0d6963f7d28e17f72", &bad), -EINVAL);
	assert_null(bad);
	assert_int_equal(berth_hasher_new_like("sha256:abc", &bad), -EINVAL);
	assert_null(bad);

	enum berth_digest_algo a;
	assert_int_equal(berth_digest_algo_of(SHA512_ABC, &a), 0);
	assert_int_equal(a, BERTH_DIGEST_SHA512);
	assert_int_equal(berth_digest_algo_of(SHA256_ABC, &a), 0);
	assert_int_equal(a, BERTH_DIGEST_SHA256);
	assert_int_equal(berth_digest_algo_of("sha256:", &a), -EINVAL);
}

static void test_chain_id(void **state)
{
	char c1[BERTH_DIGEST_MAX], c2[BERTH_DIGEST_MAX], c3[BERTH_DIGEST_MAX];
	assert_int_equal(berth_chain_id(NULL, D1, c1), 0);
	assert_string_equal(c1, D1);
	assert_int_equal(berth_chain_id(c1, D2, c2), 0);
	assert_string_equal(c2, C2);
	assert_int_equal(berth_chain_id(c2, D3, c3), 0);
	assert_string_equal(c3, C3);

	/* Order matters: swapping layers gives another chain. */
	char swapped[BERTH_DIGEST_MAX];
	assert_int_equal(berth_chain_id(D2, D1, swapped), 0);
	assert_string_not_equal(swapped, C2);

	char out[BERTH_DIGEST_MAX];
	assert_int_equal(berth_chain_id(NULL, "sha256:../../etc", out), -EINVAL);
	assert_int_equal(berth_chain_id("bogus", D1, out), -EINVAL);
	assert_int_equal(berth_chain_id(D1, NULL, out), -EINVAL);
}

static void test_hex(void **state)
{
	assert_string_equal(berth_digest_hex(SHA256_ABC),
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(strlen(berth_digest_hex(SHA512_ABC)), 128);
}

static void test_valid(void **state)
{
	char buf[300];
	assert_true(berth_digest_valid(SHA256_ABC));
	assert_true(berth_digest_valid(SHA512_ABC));
	assert_true(berth_digest_valid("sha256:0000000000000000000000000000000000000000000000000000000000000000"));

	static const char *const bad[] = {
		"",
		"sha256",
		"sha256:",
		":ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad ",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n",
		" sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha256:../../../../../../../../../../../../../../../../../../../../../etc",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f200/5ad",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2001..d",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad:x",
		"sha384:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha256+b64:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"../sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha256:" "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c"
		"23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (berth_digest_valid(bad[i]))
			fail_msg("accepted invalid digest \"%s\"", bad[i]);
		struct berth_error err = { 0 };
		assert_int_equal(berth_digest_check(bad[i], "thing", &err), -EINVAL);
		assert_int_equal(err.code, EINVAL);
		assert_true(strncmp(err.msg, "thing: invalid digest \"", 23) == 0);
	}
	assert_false(berth_digest_valid(NULL));

	/* A well-formed hex part with one non-hex letter in every position. */
	for (size_t pos = 0; pos < 64; pos++) {
		snprintf(buf, sizeof(buf), "%s", SHA256_ABC);
		buf[7 + pos] = 'g';
		assert_false(berth_digest_valid(buf));
	}
}

static void check_msg(const char *digest, const char *expect)
{
	struct berth_error err = { 0 };
	assert_int_equal(berth_digest_check(digest, "layer 3", &err), -EINVAL);
	if (!strstr(err.msg, expect))
		fail_msg("message for \"%s\" is \"%s\", expected to contain \"%s\"", digest, err.msg, expect);
}

static void test_check_messages(void **state)
{
	struct berth_error err = { 0 };
	assert_int_equal(berth_digest_check(SHA256_ABC, "x", &err), 0);
	assert_int_equal(err.code, 0);
	assert_int_equal(berth_digest_check(SHA512_ABC, "x", &err), 0);

	check_msg("", "layer 3: invalid digest \"\": empty");
	check_msg("abc", "layer 3: invalid digest \"abc\": missing algorithm");
	check_msg("md5:900150983cd24fb0d6963f7d28e17f72",
		  "unsupported algorithm \"md5\" (expected sha256 or sha512)");
	check_msg("SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		  "unsupported algorithm \"SHA256\"");
	check_msg("sha256:zz", "layer 3: invalid digest \"sha256:zz\": not 64 lowercase hex characters "
			       "(length 2, non-hex character 'z' at offset 0)");
	check_msg("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
		  "not 64 lowercase hex characters (length 63)");
	check_msg("sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		  "not 128 lowercase hex characters (length 64)");
	check_msg("sha256:BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		  "not 64 lowercase hex characters (uppercase 'B' at offset 0)");
	check_msg("sha256:../../etc/passwd",
		  "(length 16, non-hex character '.' at offset 0)");
	check_msg("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2001/ad",
		  "non-hex character '/' at offset 61");
	/* Control characters are shown escaped, never raw in a one-line message. */
	check_msg("sha256:\x1b[31m", "invalid digest \"sha256:\\x1b[31m\"");
	check_msg("sha256:a\"b", "invalid digest \"sha256:a\\\"b\"");

	struct berth_error e2 = { 0 };
	assert_int_equal(berth_digest_check(NULL, "config", &e2), -EINVAL);
	assert_string_equal(e2.msg, "config: missing digest");

	/* A hostile, very long value is cut so it can not flood the message. */
	char longd[4096];
	memcpy(longd, "sha256:", 7);
	memset(longd + 7, 'a', sizeof(longd) - 8);
	longd[sizeof(longd) - 1] = '\0';
	struct berth_error e3 = { 0 };
	assert_int_equal(berth_digest_check(longd, "blob", &e3), -EINVAL);
	assert_true(strstr(e3.msg, "...\"") != NULL);
	assert_true(strstr(e3.msg, "(length 4088)") != NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_vectors),
		cmocka_unit_test(test_hasher_streaming),
		cmocka_unit_test(test_hasher_new_like),
		cmocka_unit_test(test_chain_id),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_check_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
