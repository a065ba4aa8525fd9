// tests/unit/storage_strconv_test.cc — Redis's exact accept/reject rules for
// integers, long doubles and SCAN cursors, and its number formatting.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "storage/strconv.h"

using namespace kvraft::storage;

TEST_CASE("string2ll accepts only canonical int64 decimals") {
  int64_t v = 0;
  CHECK(string2ll("0", &v));
  CHECK(v == 0);
  CHECK(string2ll("-1", &v));
  CHECK(v == -1);
  CHECK(string2ll("9223372036854775807", &v));
  CHECK(v == INT64_MAX);
  CHECK(string2ll("-9223372036854775808", &v));
  CHECK(v == INT64_MIN);
  CHECK(string2ll("123456789", &v));
  CHECK(v == 123456789);
  for (const char* bad :
       {"", "-", "+1", " 1", "1 ", "01", "-0", "00", "1a", "0x10", "1.0", "9223372036854775808",
        "-9223372036854775809", "99999999999999999999", "\t1", "1\n"}) {
    CAPTURE(bad);
    CHECK_FALSE(string2ll(bad, &v));
  }
  // 21 or more bytes are rejected before parsing (LONG_STR_SIZE).
  CHECK_FALSE(string2ll("-00000000000000000001", &v));
  CHECK_FALSE(string2ll(std::string(21, '1'), &v));
  CHECK(string2ll("-999999999999999999", &v));  // 19 digits + sign
}

TEST_CASE("ll2string renders every int64") {
  CHECK(ll2string(0) == "0");
  CHECK(ll2string(-7) == "-7");
  CHECK(ll2string(INT64_MAX) == "9223372036854775807");
  CHECK(ll2string(INT64_MIN) == "-9223372036854775808");
  for (int64_t v : {int64_t{1}, int64_t{10}, int64_t{-100}, int64_t{123456789012345}}) {
    int64_t back;
    REQUIRE(string2ll(ll2string(v), &back));
    CHECK(back == v);
  }
}

TEST_CASE("string2ld follows Redis's rules") {
  long double v;
  CHECK(string2ld("1.5", &v));
  CHECK(v == 1.5L);
  CHECK(string2ld("-3e2", &v));
  CHECK(v == -300.0L);
  CHECK(string2ld("+2", &v));  // strtold accepts a sign
  CHECK(v == 2.0L);
  CHECK(string2ld("inf", &v));
  CHECK(std::isinf(v));
  CHECK(string2ld("0x10", &v));  // hex floats, as strtold
  CHECK(v == 16.0L);
  for (const char* bad : {"", " 1", "1 ", "abc", "nan", "1.5x", "1e999999", "1e-999999"}) {
    CAPTURE(bad);
    CHECK_FALSE(string2ld(bad, &v));
  }
  CHECK_FALSE(string2ld(std::string(kMaxLongDoubleChars, '1'), &v));
}

TEST_CASE("ld2string_human prints like INCRBYFLOAT") {
  CHECK(ld2string_human(10.5L) == "10.5");
  CHECK(ld2string_human(3.0L) == "3");
  CHECK(ld2string_human(-0.0L) == "0");
  CHECK(ld2string_human(10.5L + 0.1L) == "10.6");
  CHECK(ld2string_human(5200.0L) == "5200");
  CHECK(ld2string_human(-1.25L) == "-1.25");
  CHECK(ld2string_human(1e20L) == "100000000000000000000");
  CHECK(ld2string_human(HUGE_VALL) == "inf");
  CHECK(ld2string_human(-HUGE_VALL) == "-inf");
}

TEST_CASE("string2d rejects what Redis rejects") {
  double d;
  CHECK(string2d("2.5", &d));
  CHECK(d == 2.5);
  CHECK_FALSE(string2d("", &d));
  CHECK_FALSE(string2d(" 1", &d));
  CHECK_FALSE(string2d("nan", &d));
  CHECK_FALSE(string2d("1x", &d));
}

TEST_CASE("parse_scan_cursor has strtoul's rules as Redis uses them") {
  uint64_t c;
  CHECK(parse_scan_cursor("0", &c));
  CHECK(c == 0);
  CHECK(parse_scan_cursor("", &c));  // strtoul("") == 0 with the end at '\0'
  CHECK(c == 0);
  CHECK(parse_scan_cursor("+5", &c));
  CHECK(c == 5);
  CHECK(parse_scan_cursor("-1", &c));
  CHECK(c == UINT64_MAX);
  CHECK(parse_scan_cursor("18446744073709551615", &c));
  CHECK(c == UINT64_MAX);
  CHECK(parse_scan_cursor("007", &c));
  CHECK(c == 7);
  for (const char* bad : {" 0", "x", "1x", "18446744073709551616", "+", "-", "1 "}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_scan_cursor(bad, &c));
  }
}
