// Unit tests for the replicated write record encoding.
#include <doctest/doctest.h>

#include "src/write_record.h"

using kvraft::decode_write_record;
using kvraft::encode_write_record;

TEST_CASE("a record round-trips time, db and every argv byte") {
  std::string bin("a\0b\r\n", 5);
  std::string out;
  encode_write_record(1700000000123, 7, {{"SET", "k", bin}, {"INCR", "n"}}, &out);
  auto rec = decode_write_record(out);
  REQUIRE(rec);
  CHECK(rec->time_ms == 1700000000123);
  CHECK(rec->db == 7);
  REQUIRE(rec->commands.size() == 2);
  CHECK(rec->commands[0] == std::vector<std::string_view>{"SET", "k", bin});
  CHECK(rec->commands[1] == std::vector<std::string_view>{"INCR", "n"});
}

TEST_CASE("every truncation and trailing garbage is rejected") {
  std::string out;
  encode_write_record(-5, 0, {{"DEL", "a", "b"}}, &out);
  for (size_t cut = 0; cut < out.size(); ++cut)
    CHECK_FALSE(decode_write_record(std::string_view(out).substr(0, cut)));
  CHECK_FALSE(decode_write_record(out + "x"));
  std::string bad = out;
  bad[0] = 2;  // unknown version
  CHECK_FALSE(decode_write_record(bad));
}

TEST_CASE("huge counts are bounded by the bytes present") {
  std::string out;
  encode_write_record(1, 0, {{"GET", "k"}}, &out);
  std::string bad = out;
  bad[13] = '\xff';  // command count low byte
  bad[14] = '\xff';
  CHECK_FALSE(decode_write_record(bad));
}
