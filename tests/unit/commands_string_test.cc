// tests/unit/commands_string_test.cc — string, counter and bitmap handlers
// run in-process through the command table against a Keyspace, comparing
// the exact RESP bytes of replies and errors with Redis 7.0's.
#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply.h"
#include "src/command.h"
#include "storage/keyspace.h"
#include "tests/support/command_harness.h"

namespace {

using Harness = kvraft::test::CommandHarness;
using namespace kvraft::test;

// A non-string value, to provoke WRONGTYPE until real lists exist.
class FakeList : public kvraft::storage::CompositeValue {
 public:
  kvraft::storage::ValueType type() const override { return kvraft::storage::ValueType::kList; }
  std::string_view encoding_name() const override { return "quicklist"; }
  std::unique_ptr<CompositeValue> clone() const override { return std::make_unique<FakeList>(); }
  size_t memory_usage() const override { return sizeof(*this); }
};

void add_list(Harness& h, std::string_view key) {
  h.ks.set_entry(h.db,
                 kvraft::storage::entry_new_object(key, std::make_unique<FakeList>(),
                                                   kvraft::storage::kNoExpire),
                 false);
}

}  // namespace

TEST_CASE("GET and SET basics, dirty counting and WRONGTYPE") {
  Harness h;
  CHECK(h.run({"GET", "k"}) == kNil);
  CHECK(h.run({"SET", "k", "hello"}) == kOk);
  CHECK(h.dirty == 1);
  CHECK(h.run({"GET", "k"}) == bulk("hello"));
  CHECK(h.run({"get", "k"}) == bulk("hello"));
  add_list(h, "l");
  CHECK(h.run({"GET", "l"}) == kWrongType);
  // SET overwrites any type; SET ... GET on the wrong type is an error.
  CHECK(h.run({"SET", "l", "x", "GET"}) == kWrongType);
  CHECK(h.run({"SET", "l", "x"}) == kOk);
  CHECK(h.run({"GET", "l"}) == bulk("x"));
  CHECK(h.run({"SET", "empty", ""}) == kOk);
  CHECK(h.run({"GET", "empty"}) == bulk(""));
}

TEST_CASE("SET NX XX GET KEEPTTL combinations") {
  Harness h;
  CHECK(h.run({"SET", "k", "1", "XX"}) == kNil);
  CHECK(h.dirty == 0);
  CHECK(h.run({"SET", "k", "1", "NX"}) == kOk);
  CHECK(h.run({"SET", "k", "2", "NX"}) == kNil);
  CHECK(h.run({"SET", "k", "2", "XX"}) == kOk);
  CHECK(h.run({"SET", "k", "3", "GET"}) == bulk("2"));
  CHECK(h.run({"SET", "new", "v", "GET"}) == kNil);
  CHECK(h.run({"GET", "new"}) == bulk("v"));
  // NX + GET (allowed since 7.0): returns the old value and does not set.
  CHECK(h.run({"SET", "k", "4", "NX", "GET"}) == bulk("3"));
  CHECK(h.run({"GET", "k"}) == bulk("3"));
  CHECK(h.run({"SET", "k", "v", "NX", "XX"}) == kSyntax);
  CHECK(h.run({"SET", "k", "v", "XX", "NX"}) == kSyntax);
  CHECK(h.run({"SET", "k", "v", "EX", "10", "PX", "100"}) == kSyntax);
  CHECK(h.run({"SET", "k", "v", "EX", "10", "KEEPTTL"}) == kSyntax);
  CHECK(h.run({"SET", "k", "v", "KEEPTTL", "EXAT", "10"}) == kSyntax);
  CHECK(h.run({"SET", "k", "v", "EX"}) == kSyntax);
  CHECK(h.run({"SET", "k", "v", "PERSIST"}) == kSyntax);
  CHECK(h.run({"SET", "k", "v", "BOGUS"}) == kSyntax);
  // The same expiry option twice is accepted; the last one wins.
  CHECK(h.run({"SET", "k", "v", "EX", "10", "EX", "20"}) == kOk);
  CHECK(h.run({"TTL", "k"}) == integer(20));
  CHECK(h.run({"SET", "k", "w", "KEEPTTL"}) == kOk);
  CHECK(h.run({"TTL", "k"}) == integer(20));
  CHECK(h.run({"SET", "k", "w"}) == kOk);
  CHECK(h.run({"TTL", "k"}) == integer(-1));
}

TEST_CASE("SET expiry options compute absolute times from the record time") {
  Harness h;
  CHECK(h.run({"SET", "a", "v", "EX", "100"}) == kOk);
  CHECK(h.run({"PEXPIRETIME", "a"}) == integer(h.now + 100000));
  CHECK(h.run({"SET", "b", "v", "px", "1500"}) == kOk);
  CHECK(h.run({"PTTL", "b"}) == integer(1500));
  CHECK(h.run({"SET", "c", "v", "EXAT", "1800000000"}) == kOk);
  CHECK(h.run({"EXPIRETIME", "c"}) == integer(1800000000));
  CHECK(h.run({"SET", "d", "v", "PXAT", "1800000000123"}) == kOk);
  CHECK(h.run({"PEXPIRETIME", "d"}) == integer(1800000000123));
  const std::string invalid = err("ERR invalid expire time in 'set' command");
  CHECK(h.run({"SET", "k", "v", "EX", "0"}) == invalid);
  CHECK(h.run({"SET", "k", "v", "EX", "-5"}) == invalid);
  CHECK(h.run({"SET", "k", "v", "PX", "0"}) == invalid);
  CHECK(h.run({"SET", "k", "v", "EX", "9223372036854775807"}) == invalid);
  CHECK(h.run({"SET", "k", "v", "PX", "9223372036854775807"}) == invalid);
  CHECK(h.run({"SET", "k", "v", "EX", "1.5"}) == kNotInt);
  CHECK(h.run({"SET", "k", "v", "EX", "abc"}) == kNotInt);
  CHECK(h.run({"EXISTS", "k"}) == integer(0));
  // A PXAT in the past stores a key that reads as absent.
  CHECK(h.run({"SET", "past", "v", "PXAT", "1"}) == kOk);
  CHECK(h.run({"GET", "past"}) == kNil);
}

TEST_CASE("an expired key reads as absent and is replaced by writes") {
  Harness h;
  CHECK(h.run({"SET", "k", "v", "PX", "100"}) == kOk);
  h.now += 100;
  CHECK(h.run({"GET", "k"}) == kNil);
  CHECK(h.ks.size(0) == 1);  // reads never delete
  CHECK(h.run({"SET", "k", "new", "NX"}) == kOk);
  CHECK(h.run({"TTL", "k"}) == integer(-1));
  CHECK(h.ks.stats().expired_keys == 1);
}

TEST_CASE("SETNX SETEX PSETEX GETSET GETDEL") {
  Harness h;
  CHECK(h.run({"SETNX", "k", "a"}) == integer(1));
  CHECK(h.run({"SETNX", "k", "b"}) == integer(0));
  CHECK(h.run({"SETEX", "k", "10", "c"}) == kOk);
  CHECK(h.run({"TTL", "k"}) == integer(10));
  CHECK(h.run({"SETEX", "k", "0", "c"}) == err("ERR invalid expire time in 'setex' command"));
  CHECK(h.run({"SETEX", "k", "x", "c"}) == kNotInt);
  CHECK(h.run({"PSETEX", "k", "2500", "d"}) == kOk);
  CHECK(h.run({"PTTL", "k"}) == integer(2500));
  CHECK(h.run({"PSETEX", "k", "-1", "d"}) == err("ERR invalid expire time in 'psetex' command"));
  CHECK(h.run({"GETSET", "k", "e"}) == bulk("d"));
  CHECK(h.run({"TTL", "k"}) == integer(-1));  // GETSET clears the TTL
  CHECK(h.run({"GETSET", "none", "x"}) == kNil);
  CHECK(h.run({"GETDEL", "k"}) == bulk("e"));
  CHECK(h.dirty == 1);
  CHECK(h.run({"GETDEL", "k"}) == kNil);
  CHECK(h.dirty == 0);
  add_list(h, "l");
  CHECK(h.run({"GETSET", "l", "x"}) == kWrongType);
  CHECK(h.run({"GETDEL", "l"}) == kWrongType);
}

TEST_CASE("GETEX sets, changes and removes expiry") {
  Harness h;
  CHECK(h.run({"GETEX", "none"}) == kNil);
  CHECK(h.run({"SET", "k", "v"}) == kOk);
  CHECK(h.run({"GETEX", "k"}) == bulk("v"));
  CHECK(h.dirty == 0);
  CHECK(h.run({"GETEX", "k", "EX", "50"}) == bulk("v"));
  CHECK(h.run({"TTL", "k"}) == integer(50));
  CHECK(h.run({"GETEX", "k", "PX", "700"}) == bulk("v"));
  CHECK(h.run({"PTTL", "k"}) == integer(700));
  CHECK(h.run({"GETEX", "k", "PERSIST"}) == bulk("v"));
  CHECK(h.dirty == 1);
  CHECK(h.run({"TTL", "k"}) == integer(-1));
  CHECK(h.run({"GETEX", "k", "PERSIST"}) == bulk("v"));
  CHECK(h.dirty == 0);
  CHECK(h.run({"GETEX", "k", "EX", "0"}) == err("ERR invalid expire time in 'getex' command"));
  CHECK(h.run({"GETEX", "k", "EX", "10", "PERSIST"}) == kSyntax);
  CHECK(h.run({"GETEX", "k", "KEEPTTL"}) == kSyntax);
  CHECK(h.run({"GETEX", "k", "NX"}) == kSyntax);
  CHECK(h.run({"GETEX", "k", "PXAT", "1"}) == bulk("v"));  // past: deleted
  CHECK(h.run({"EXISTS", "k"}) == integer(0));
  CHECK(h.ks.size(0) == 0);
  add_list(h, "l");
  CHECK(h.run({"GETEX", "l"}) == kWrongType);
}

TEST_CASE("MGET MSET MSETNX") {
  Harness h;
  CHECK(h.run({"MSET", "a", "1", "b", "2"}) == kOk);
  CHECK(h.dirty == 2);
  add_list(h, "l");
  CHECK(h.run({"MGET", "a", "l", "nope", "b"}) == "*4\r\n" + bulk("1") + kNil + kNil + bulk("2"));
  CHECK(h.run({"MSET", "a", "1", "b"}) == err("ERR wrong number of arguments for 'mset' command"));
  CHECK(h.run({"MSETNX", "c", "3", "a", "x"}) == integer(0));
  CHECK(h.run({"GET", "c"}) == kNil);
  CHECK(h.run({"MSETNX", "c", "3", "d", "4"}) == integer(1));
  CHECK(h.run({"MGET", "c", "d"}) == "*2\r\n" + bulk("3") + bulk("4"));
}

TEST_CASE("APPEND STRLEN GETRANGE SUBSTR SETRANGE") {
  Harness h;
  CHECK(h.run({"APPEND", "k", "Hello"}) == integer(5));
  CHECK(h.run({"APPEND", "k", " World"}) == integer(11));
  CHECK(h.run({"STRLEN", "k"}) == integer(11));
  CHECK(h.run({"STRLEN", "none"}) == integer(0));
  CHECK(h.run({"OBJECT", "ENCODING", "k"}) == bulk("raw"));
  CHECK(h.run({"GETRANGE", "k", "0", "4"}) == bulk("Hello"));
  CHECK(h.run({"GETRANGE", "k", "-5", "-1"}) == bulk("World"));
  CHECK(h.run({"GETRANGE", "k", "-1", "-5"}) == bulk(""));
  CHECK(h.run({"GETRANGE", "k", "5", "1"}) == bulk(""));
  CHECK(h.run({"GETRANGE", "k", "0", "1000"}) == bulk("Hello World"));
  CHECK(h.run({"GETRANGE", "k", "-100", "2"}) == bulk("Hel"));
  CHECK(h.run({"SUBSTR", "k", "6", "-1"}) == bulk("World"));
  CHECK(h.run({"GETRANGE", "none", "0", "-1"}) == bulk(""));
  CHECK(h.run({"GETRANGE", "k", "a", "1"}) == kNotInt);
  CHECK(h.run({"SET", "n", "12345"}) == kOk);
  CHECK(h.run({"GETRANGE", "n", "1", "2"}) == bulk("23"));
  CHECK(h.run({"STRLEN", "n"}) == integer(5));
  CHECK(h.run({"APPEND", "n", "6"}) == integer(6));
  CHECK(h.run({"GET", "n"}) == bulk("123456"));

  CHECK(h.run({"SETRANGE", "k", "6", "Redis"}) == integer(11));
  CHECK(h.run({"GET", "k"}) == bulk("Hello Redis"));
  CHECK(h.run({"SETRANGE", "pad", "3", "x"}) == integer(4));
  CHECK(h.run({"GET", "pad"}) == bulk(std::string("\0\0\0x", 4)));
  CHECK(h.run({"SETRANGE", "none", "5", ""}) == integer(0));
  CHECK(h.run({"EXISTS", "none"}) == integer(0));
  CHECK(h.run({"SETRANGE", "k", "100", ""}) == integer(11));
  CHECK(h.run({"SETRANGE", "k", "-1", "x"}) == err("ERR offset is out of range"));
  CHECK(h.run({"SETRANGE", "k", "536870911", "xy"}) ==
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"));
  CHECK(h.run({"SETRANGE", "big", "536870912", "x"}) ==
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"));
  add_list(h, "l");
  CHECK(h.run({"APPEND", "l", "x"}) == kWrongType);
  CHECK(h.run({"STRLEN", "l"}) == kWrongType);
  CHECK(h.run({"GETRANGE", "l", "0", "1"}) == kWrongType);
  CHECK(h.run({"SETRANGE", "l", "0", "x"}) == kWrongType);
}

TEST_CASE("INCR family: values, overflow and errors") {
  Harness h;
  CHECK(h.run({"INCR", "c"}) == integer(1));
  CHECK(h.run({"INCRBY", "c", "10"}) == integer(11));
  CHECK(h.run({"DECR", "c"}) == integer(10));
  CHECK(h.run({"DECRBY", "c", "-5"}) == integer(15));
  CHECK(h.run({"OBJECT", "ENCODING", "c"}) == bulk("int"));
  CHECK(h.run({"SET", "c", "9223372036854775806"}) == kOk);
  CHECK(h.run({"INCR", "c"}) == integer(INT64_MAX));
  CHECK(h.run({"INCR", "c"}) == err("ERR increment or decrement would overflow"));
  CHECK(h.run({"SET", "m", "-9223372036854775808"}) == kOk);
  CHECK(h.run({"DECR", "m"}) == err("ERR increment or decrement would overflow"));
  CHECK(h.run({"DECRBY", "c", "-9223372036854775808"}) == err("ERR decrement would overflow"));
  CHECK(h.run({"INCRBY", "c", "1x"}) == kNotInt);
  CHECK(h.run({"INCRBY", "c", "+1"}) == kNotInt);
  CHECK(h.run({"SET", "s", "abc"}) == kOk);
  CHECK(h.run({"INCR", "s"}) == kNotInt);
  CHECK(h.run({"SET", "s", " 1"}) == kOk);
  CHECK(h.run({"INCR", "s"}) == kNotInt);
  CHECK(h.run({"SET", "s", "007"}) == kOk);
  CHECK(h.run({"INCR", "s"}) == kNotInt);
  CHECK(h.run({"SET", "t", "5", "EX", "100"}) == kOk);
  CHECK(h.run({"INCR", "t"}) == integer(6));
  CHECK(h.run({"TTL", "t"}) == integer(100));  // counters keep the TTL
  add_list(h, "l");
  CHECK(h.run({"INCR", "l"}) == kWrongType);
}

TEST_CASE("INCRBYFLOAT formats like Redis and rejects bad input") {
  Harness h;
  CHECK(h.run({"INCRBYFLOAT", "f", "10.5"}) == bulk("10.5"));
  CHECK(h.run({"INCRBYFLOAT", "f", "0.1"}) == bulk("10.6"));
  CHECK(h.run({"INCRBYFLOAT", "f", "-5"}) == bulk("5.6"));
  CHECK(h.run({"INCRBYFLOAT", "g", "3"}) == bulk("3"));
  CHECK(h.run({"OBJECT", "ENCODING", "g"}) == bulk("embstr"));
  CHECK(h.run({"SET", "e", "5.0e3"}) == kOk);
  CHECK(h.run({"INCRBYFLOAT", "e", "2.0e2"}) == bulk("5200"));
  CHECK(h.run({"SET", "i", "10"}) == kOk);
  CHECK(h.run({"INCRBYFLOAT", "i", "-10"}) == bulk("0"));
  CHECK(h.run({"INCRBYFLOAT", "i", "abc"}) == err("ERR value is not a valid float"));
  CHECK(h.run({"INCRBYFLOAT", "i", " 1"}) == err("ERR value is not a valid float"));
  CHECK(h.run({"INCRBYFLOAT", "i", "nan"}) == err("ERR value is not a valid float"));
  CHECK(h.run({"INCRBYFLOAT", "i", "inf"}) == err("ERR increment would produce NaN or Infinity"));
  CHECK(h.run({"SET", "s", "hello"}) == kOk);
  CHECK(h.run({"INCRBYFLOAT", "s", "1"}) == err("ERR value is not a valid float"));
  add_list(h, "l");
  CHECK(h.run({"INCRBYFLOAT", "l", "1"}) == kWrongType);
}

TEST_CASE("SETBIT and GETBIT") {
  Harness h;
  CHECK(h.run({"SETBIT", "b", "7", "1"}) == integer(0));
  CHECK(h.run({"GET", "b"}) == bulk("\x01"));
  CHECK(h.run({"SETBIT", "b", "7", "1"}) == integer(1));
  CHECK(h.dirty == 0);
  CHECK(h.run({"SETBIT", "b", "7", "0"}) == integer(1));
  CHECK(h.dirty == 1);
  CHECK(h.run({"SETBIT", "b", "17", "1"}) == integer(0));
  CHECK(h.run({"STRLEN", "b"}) == integer(3));
  CHECK(h.run({"GETBIT", "b", "17"}) == integer(1));
  CHECK(h.run({"GETBIT", "b", "16"}) == integer(0));
  CHECK(h.run({"GETBIT", "b", "10000"}) == integer(0));
  CHECK(h.run({"GETBIT", "none", "0"}) == integer(0));
  const std::string bad_offset = err("ERR bit offset is not an integer or out of range");
  CHECK(h.run({"SETBIT", "b", "-1", "1"}) == bad_offset);
  CHECK(h.run({"SETBIT", "b", "4294967296", "1"}) == bad_offset);
  CHECK(h.run({"GETBIT", "b", "x"}) == bad_offset);
  const std::string bad_bit = err("ERR bit is not an integer or out of range");
  CHECK(h.run({"SETBIT", "b", "1", "2"}) == bad_bit);
  CHECK(h.run({"SETBIT", "b", "1", "x"}) == bad_bit);
  // Bits of an int-encoded value are those of its decimal text.
  CHECK(h.run({"SET", "n", "1"}) == kOk);  // '1' = 0x31 = 00110001
  CHECK(h.run({"GETBIT", "n", "2"}) == integer(1));
  CHECK(h.run({"GETBIT", "n", "7"}) == integer(1));
  CHECK(h.run({"GETBIT", "n", "1"}) == integer(0));
  add_list(h, "l");
  CHECK(h.run({"SETBIT", "l", "1", "1"}) == kWrongType);
  CHECK(h.run({"GETBIT", "l", "1"}) == kWrongType);
}

TEST_CASE("BITCOUNT with BYTE and BIT ranges") {
  Harness h;
  CHECK(h.run({"SET", "k", "foobar"}) == kOk);
  CHECK(h.run({"BITCOUNT", "k"}) == integer(26));
  CHECK(h.run({"BITCOUNT", "k", "0", "0"}) == integer(4));
  CHECK(h.run({"BITCOUNT", "k", "1", "1"}) == integer(6));
  CHECK(h.run({"BITCOUNT", "k", "1", "1", "BYTE"}) == integer(6));
  CHECK(h.run({"BITCOUNT", "k", "5", "30", "BIT"}) == integer(17));
  CHECK(h.run({"BITCOUNT", "k", "-2", "-1"}) == integer(7));
  CHECK(h.run({"BITCOUNT", "k", "-1", "-2"}) == integer(0));
  CHECK(h.run({"BITCOUNT", "k", "2", "1"}) == integer(0));
  CHECK(h.run({"BITCOUNT", "k", "0", "100"}) == integer(26));
  CHECK(h.run({"BITCOUNT", "none"}) == integer(0));
  CHECK(h.run({"BITCOUNT", "k", "0"}) == kSyntax);
  CHECK(h.run({"BITCOUNT", "k", "0", "1", "WORD"}) == kSyntax);
  CHECK(h.run({"BITCOUNT", "k", "a", "1"}) == kNotInt);
  add_list(h, "l");
  CHECK(h.run({"BITCOUNT", "l"}) == kWrongType);
}

TEST_CASE("BITPOS finds set and clear bits within ranges") {
  Harness h;
  CHECK(h.run({"SET", "k", std::string("\xff\xf0\x00", 3)}) == kOk);
  CHECK(h.run({"BITPOS", "k", "0"}) == integer(12));
  CHECK(h.run({"SET", "k", std::string("\x00\xff\xf0", 3)}) == kOk);
  CHECK(h.run({"BITPOS", "k", "1", "0"}) == integer(8));
  CHECK(h.run({"BITPOS", "k", "1", "2"}) == integer(16));
  CHECK(h.run({"BITPOS", "k", "1", "2", "-1", "BYTE"}) == integer(16));
  CHECK(h.run({"BITPOS", "k", "1", "7", "15", "BIT"}) == integer(8));
  CHECK(h.run({"BITPOS", "k", "1", "7", "-3", "BIT"}) == integer(8));
  CHECK(h.run({"SET", "z", std::string("\x00\x00\x00", 3)}) == kOk);
  CHECK(h.run({"BITPOS", "z", "1"}) == integer(-1));
  CHECK(h.run({"SET", "ones", std::string("\xff\xff", 2)}) == kOk);
  CHECK(h.run({"BITPOS", "ones", "0"}) == integer(16));             // past the end: zero padding
  CHECK(h.run({"BITPOS", "ones", "0", "0", "-1"}) == integer(-1));  // explicit end
  CHECK(h.run({"BITPOS", "ones", "0", "0"}) == integer(16));
  CHECK(h.run({"BITPOS", "none", "0"}) == integer(0));
  CHECK(h.run({"BITPOS", "none", "1"}) == integer(-1));
  CHECK(h.run({"BITPOS", "k", "2"}) == err("ERR The bit argument must be 1 or 0."));
  CHECK(h.run({"BITPOS", "k", "1", "0", "1", "BOTH"}) == kSyntax);
  CHECK(h.run({"BITPOS", "k", "1", "2", "1"}) == integer(-1));
  add_list(h, "l");
  CHECK(h.run({"BITPOS", "l", "1"}) == kWrongType);
}

TEST_CASE("LCS string, LEN, IDX with MINMATCHLEN and WITHMATCHLEN") {
  Harness h;
  h.run({"MSET", "key1", "ohmytext", "key2", "mynewtext"});
  CHECK(h.run({"LCS", "key1", "key2"}) == bulk("mytext"));
  CHECK(h.run({"LCS", "key1", "key2", "LEN"}) == integer(6));
  CHECK(h.run({"LCS", "key1", "key2", "IDX"}) ==
        "*4\r\n" + bulk("matches") + "*2\r\n" + "*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n" +
            "*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n" + bulk("len") + integer(6));
  CHECK(h.run({"LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"}) ==
        "*4\r\n" + bulk("matches") + "*1\r\n" + "*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n" +
            bulk("len") + integer(6));
  CHECK(h.run({"LCS", "key1", "nope"}) == bulk(""));
  CHECK(h.run({"LCS", "key1", "key2", "LEN", "IDX"}) ==
        err("ERR If you want both the length and indexes, please just use IDX."));
  CHECK(h.run({"LCS", "key1", "key2", "MINMATCHLEN"}) == kSyntax);
  CHECK(h.run({"LCS", "key1", "key2", "MINMATCHLEN", "x"}) == kNotInt);
  add_list(h, "l");
  CHECK(h.run({"LCS", "l", "key1"}) == err("ERR The specified keys must contain string values"));
  // The transient table is bounded like Redis's (proto-max-bulk-len).
  h.run({"SET", "big1", std::string(20000, 'a')});
  h.run({"SET", "big2", std::string(20000, 'b')});
  CHECK(h.run({"LCS", "big1", "big2", "LEN"}) ==
        err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"));
}

TEST_CASE("every string command has complete documentation fields") {
  for (const auto& spec : kvraft::command_table().all()) {
    if (spec->group != "string" && spec->group != "bitmap") continue;
    check_documented(*spec);
    CAPTURE(spec->name);
    CHECK(spec->first_key == 1);
  }
}

TEST_CASE("command names are looked up ignoring ASCII case only") {
  const auto& table = kvraft::command_table();
  const kvraft::CommandSpec* set = table.find("set");
  REQUIRE(set != nullptr);
  CHECK(table.find("SET") == set);
  CHECK(table.find("sEt") == set);
  CHECK(table.find("") == nullptr);
  CHECK(table.find("se") == nullptr);
  CHECK(table.find("set ") == nullptr);
  CHECK(table.find("s\xc3\x89t") == nullptr);  // no locale-dependent folding
  CHECK(table.find(std::string(200, 's')) == nullptr);
}

TEST_CASE("INCR updates an int-encoded counter in place, keeping its TTL") {
  Harness h;
  CHECK(h.run({"SET", "n", "41", "PX", "5000"}) == kOk);
  const auto* before = h.ks.peek(h.db, "n", h.now);
  REQUIRE(before != nullptr);
  CHECK(h.run({"INCR", "n"}) == integer(42));
  CHECK(h.ks.peek(h.db, "n", h.now) == before);  // the same entry, not a new one
  CHECK(h.run({"DECRBY", "n", "50"}) == integer(-8));
  CHECK(h.ks.peek(h.db, "n", h.now) == before);
  CHECK(h.run({"GET", "n"}) == bulk("-8"));
  CHECK(h.run({"PTTL", "n"}) == integer(5000));
  CHECK(h.run({"OBJECT", "ENCODING", "n"}) == bulk("int"));
}
