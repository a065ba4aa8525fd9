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

TEST_CASE("the one-command encoder writes exactly what the general one writes") {
  std::string bin("x\0y", 3);
  std::vector<std::string_view> argv{"SET", "key", bin, ""};
  std::string general, single = "prefix";
  encode_write_record(-42, 3, {argv}, &general);
  kvraft::encode_single_command_record(-42, 3, argv, &single);
  CHECK(single == "prefix" + general);  // appends, like the general one
}

TEST_CASE("decoding into a reused record leaves nothing of the previous one") {
  std::string two, one;
  encode_write_record(5, 1, {{"MSET", "a", "1", "b", "2"}, {"INCR", "n"}}, &two);
  encode_write_record(6, 2, {{"DEL", "z"}}, &one);
  kvraft::WriteRecord rec;
  REQUIRE(kvraft::decode_write_record_into(two, &rec));
  REQUIRE(rec.commands.size() == 2);
  REQUIRE(kvraft::decode_write_record_into(one, &rec));
  CHECK(rec.time_ms == 6);
  CHECK(rec.db == 2);
  REQUIRE(rec.commands.size() == 1);
  CHECK(rec.commands[0] == std::vector<std::string_view>{"DEL", "z"});
  CHECK_FALSE(kvraft::decode_write_record_into(std::string_view(one).substr(0, 10), &rec));
}

TEST_CASE("the key hint is the first command's db and first argument, or nothing") {
  std::string out;
  encode_write_record(9, 5, {{"SET", "user:1", "v"}, {"DEL", "other"}}, &out);
  auto hint = kvraft::first_key_of_record(out);
  REQUIRE(hint);
  CHECK(hint->db == 5);
  CHECK(hint->key == "user:1");
  // A command without arguments has no key to hint at.
  std::string flush;
  encode_write_record(9, 0, {{"FLUSHALL"}}, &flush);
  CHECK_FALSE(kvraft::first_key_of_record(flush));
  // Truncated before the end of the key: no hint, and no read past the end.
  for (size_t cut = 0; cut < 1 + 8 + 4 + 4 + 4 + 4 + 3 + 4 + 6; ++cut)
    CHECK_FALSE(kvraft::first_key_of_record(std::string_view(out).substr(0, cut)));
  std::string bad = out;
  bad[0] = 2;  // unknown version
  CHECK_FALSE(kvraft::first_key_of_record(bad));
}
