// tests/unit/commands_hash_test.cc — hash handlers run in-process through
// the command table against a Keyspace, comparing the exact RESP bytes of
// replies and errors with Redis 7.0's (RESP2 arrays and RESP3 maps), dirty
// counting, WRONGTYPE, encodings, and deletion of hashes that become empty.
#include <doctest/doctest.h>

#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply.h"
#include "src/command.h"
#include "storage/keyspace.h"
#include "tests/support/command_harness.h"

namespace {

using kvraft::ExecContext;
using Harness = kvraft::test::CommandHarness;
using namespace kvraft::test;

}  // namespace

TEST_CASE("HSET/HMSET/HGET/HMGET basics, arity and dirty") {
  Harness h;
  CHECK(h.run({"HSET", "h", "a", "1", "b", "2"}) == integer(2));
  CHECK(h.dirty == 2);
  CHECK(h.run({"HSET", "h", "a", "10", "c", "3"}) == integer(1));
  CHECK(h.run({"HSET", "h", "a", "1", "b"}) ==
        err("ERR wrong number of arguments for 'hset' command"));
  CHECK(h.run({"HMSET", "h", "d", "4", "e"}) ==
        err("ERR wrong number of arguments for 'hmset' command"));
  CHECK(h.run({"HMSET", "h", "d", "4"}) == kOk);
  CHECK(h.run({"HGET", "h", "a"}) == bulk("10"));
  CHECK(h.run({"HGET", "h", "zz"}) == kNil);
  CHECK(h.run({"HGET", "nokey", "a"}) == kNil);
  CHECK(h.run({"HMGET", "h", "a", "zz", "d"}) == "*3\r\n$2\r\n10\r\n$-1\r\n$1\r\n4\r\n");
  CHECK(h.run({"HMGET", "nokey", "a", "b"}) == "*2\r\n$-1\r\n$-1\r\n");
  CHECK(h.run({"HLEN", "h"}) == integer(4));
  CHECK(h.run({"HLEN", "nokey"}) == integer(0));
  CHECK(h.run({"TYPE", "h"}) == "+hash\r\n");
  CHECK(h.run({"OBJECT", "ENCODING", "h"}) == bulk("listpack"));
}

TEST_CASE("WRONGTYPE from every hash command on a string key") {
  Harness h;
  h.run({"SET", "s", "v"});
  for (auto args : std::vector<std::vector<std::string_view>>{
           {"HSET", "s", "a", "1"},
           {"HMSET", "s", "a", "1"},
           {"HSETNX", "s", "a", "1"},
           {"HGET", "s", "a"},
           {"HMGET", "s", "a"},
           {"HDEL", "s", "a"},
           {"HLEN", "s"},
           {"HEXISTS", "s", "a"},
           {"HSTRLEN", "s", "a"},
           {"HGETALL", "s"},
           {"HKEYS", "s"},
           {"HVALS", "s"},
           {"HINCRBY", "s", "a", "1"},
           {"HINCRBYFLOAT", "s", "a", "1"},
           {"HSCAN", "s", "0"},
           {"HRANDFIELD", "s"},
           {"HRANDFIELD", "s", "2"},
       }) {
    CAPTURE(args[0]);
    CHECK(h.run_argv(args) == kWrongType);
  }
  h.run({"HSET", "h", "a", "1"});
  CHECK(h.run({"LLEN", "h"}) == kWrongType);
}

TEST_CASE("HDEL counts, and deletes the emptied hash") {
  Harness h;
  CHECK(h.run({"HDEL", "h", "a"}) == integer(0));
  h.run({"HSET", "h", "a", "1", "b", "2"});
  CHECK(h.run({"HDEL", "h", "a", "zz", "a"}) == integer(1));
  CHECK(h.dirty == 1);
  CHECK(h.run({"HDEL", "h", "b", "b"}) == integer(1));
  CHECK_FALSE(h.exists("h"));
}

TEST_CASE("HSETNX, HEXISTS and HSTRLEN") {
  Harness h;
  CHECK(h.run({"HSETNX", "h", "a", "hello"}) == integer(1));
  CHECK(h.dirty == 1);
  CHECK(h.run({"HSETNX", "h", "a", "other"}) == integer(0));
  CHECK(h.dirty == 0);
  CHECK(h.run({"HGET", "h", "a"}) == bulk("hello"));
  CHECK(h.run({"HEXISTS", "h", "a"}) == integer(1));
  CHECK(h.run({"HEXISTS", "h", "b"}) == integer(0));
  CHECK(h.run({"HEXISTS", "nokey", "b"}) == integer(0));
  CHECK(h.run({"HSTRLEN", "h", "a"}) == integer(5));
  CHECK(h.run({"HSTRLEN", "h", "b"}) == integer(0));
  CHECK(h.run({"HSTRLEN", "nokey", "b"}) == integer(0));
  // Like Redis, HSETNX converts on a long argument even when it sets nothing.
  CHECK(h.run({"HSETNX", "h", "a", std::string(65, 'x')}) == integer(0));
  CHECK(h.run({"OBJECT", "ENCODING", "h"}) == bulk("hashtable"));
}

TEST_CASE("HINCRBY: creation, parsing and overflow errors") {
  Harness h;
  CHECK(h.run({"HINCRBY", "h", "n", "5"}) == integer(5));
  CHECK(h.dirty == 1);
  CHECK(h.run({"HINCRBY", "h", "n", "-7"}) == integer(-2));
  CHECK(h.run({"HINCRBY", "h", "n", "x"}) == kNotInt);
  CHECK(h.run({"HINCRBY", "nokey", "n", "x"}) == kNotInt);
  CHECK_FALSE(h.exists("nokey"));
  h.run({"HSET", "h", "s", "abc", "big", "9223372036854775807", "sp", " 1"});
  CHECK(h.run({"HINCRBY", "h", "s", "1"}) == err("ERR hash value is not an integer"));
  CHECK(h.run({"HINCRBY", "h", "sp", "1"}) == err("ERR hash value is not an integer"));
  CHECK(h.run({"HINCRBY", "h", "big", "1"}) == err("ERR increment or decrement would overflow"));
  CHECK(h.run({"HINCRBY", "h", "big", "0"}) == integer(INT64_MAX));
  CHECK(h.run({"HSET", "h", "small", "-9223372036854775808"}) == integer(1));
  CHECK(h.run({"HINCRBY", "h", "small", "-1"}) == err("ERR increment or decrement would overflow"));
  CHECK(h.run({"HGET", "h", "n"}) == bulk("-2"));
}

TEST_CASE("HINCRBYFLOAT: formatting and errors") {
  Harness h;
  CHECK(h.run({"HINCRBYFLOAT", "h", "f", "10.5"}) == bulk("10.5"));
  CHECK(h.run({"HINCRBYFLOAT", "h", "f", "0.1"}) == bulk("10.6"));
  CHECK(h.run({"HINCRBYFLOAT", "h", "f", "-5.6"}) == bulk("5"));
  CHECK(h.run({"HINCRBYFLOAT", "h", "f", "5.0e3"}) == bulk("5005"));
  CHECK(h.run({"HINCRBYFLOAT", "h", "f", "x"}) == err("ERR value is not a valid float"));
  CHECK(h.run({"HINCRBYFLOAT", "h", "f", "inf"}) == err("ERR value is NaN or Infinity"));
  h.run({"HSET", "h", "s", "abc"});
  CHECK(h.run({"HINCRBYFLOAT", "h", "s", "1"}) == err("ERR hash value is not a float"));
  CHECK(h.run({"HGET", "h", "f"}) == bulk("5005"));
}

TEST_CASE("HGETALL/HKEYS/HVALS in RESP2 and RESP3") {
  Harness h;
  CHECK(h.run({"HGETALL", "h"}) == kEmpty);
  CHECK(h.run({"HKEYS", "h"}) == kEmpty);
  h.run({"HSET", "h", "a", "1", "b", "2"});
  CHECK(h.run({"HGETALL", "h"}) == bulk_arr({"a", "1", "b", "2"}));  // listpack keeps order
  CHECK(h.run({"HKEYS", "h"}) == bulk_arr({"a", "b"}));
  CHECK(h.run({"HVALS", "h"}) == bulk_arr({"1", "2"}));
  h.protocol = 3;
  CHECK(h.run({"HGETALL", "h"}) == "%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n");
  CHECK(h.run({"HGETALL", "nokey"}) == "%0\r\n");
  CHECK(h.run({"HKEYS", "h"}) == bulk_arr({"a", "b"}));
}

TEST_CASE("hash converts to hashtable after 128 fields and stays there") {
  Harness h;
  for (int i = 0; i < 128; ++i)
    h.run({"HSET", "h", "f" + std::to_string(i), "v"});
  CHECK(h.run({"OBJECT", "ENCODING", "h"}) == bulk("listpack"));
  h.run({"HSET", "h", "f128", "v"});
  CHECK(h.run({"OBJECT", "ENCODING", "h"}) == bulk("hashtable"));
  for (int i = 0; i < 120; ++i)
    h.run({"HDEL", "h", "f" + std::to_string(i)});
  CHECK(h.run({"OBJECT", "ENCODING", "h"}) == bulk("hashtable"));
  CHECK(h.run({"HLEN", "h"}) == integer(9));
  CHECK(h.run({"COPY", "h", "c"}) == integer(1));
  h.run({"HDEL", "h", "f128"});
  CHECK(h.run({"HLEN", "c"}) == integer(9));
  CHECK(h.run({"HGET", "c", "f128"}) == bulk("v"));
}

TEST_CASE("HSCAN: errors, small hashes in one step, large ones by cursor") {
  Harness h;
  CHECK(h.run({"HSCAN", "h", "x"}) == err("ERR invalid cursor"));
  CHECK(h.run({"HSCAN", "h", "0"}) == "*2\r\n$1\r\n0\r\n*0\r\n");
  h.run({"HSET", "h", "a", "1", "b", "2", "ab", "3"});
  CHECK(h.run({"HSCAN", "h", "0", "COUNT", "0"}) == kSyntax);
  CHECK(h.run({"HSCAN", "h", "0", "COUNT", "x"}) == kNotInt);
  CHECK(h.run({"HSCAN", "h", "0", "TYPE", "string"}) == kSyntax);
  CHECK(h.run({"HSCAN", "h", "0", "COUNT", "1"}) ==
        "*2\r\n$1\r\n0\r\n" + bulk_arr({"a", "1", "b", "2", "ab", "3"}));
  CHECK(h.run({"HSCAN", "h", "0", "MATCH", "a*"}) ==
        "*2\r\n$1\r\n0\r\n" + bulk_arr({"a", "1", "ab", "3"}));
  for (int i = 0; i < 1000; ++i)
    h.run({"HSET", "big", "f" + std::to_string(i), std::to_string(i)});
  std::set<std::string> seen;
  std::string cursor = "0";
  int calls = 0;
  do {
    kvraft::resp::ReplyWriter w;
    std::vector<std::string_view> argv = {"HSCAN", "big", cursor, "COUNT", "50"};
    ExecContext ctx{h.ks, 0, h.now, argv, w, kvraft::command_table().find("hscan")};
    ctx.spec->handler(ctx);
    std::string out(w.buffer());
    // *2 $len cursor *N (bulk field, bulk value)...
    size_t p = out.find("\r\n", 4);
    size_t q = out.find("\r\n", p + 2);
    cursor = out.substr(p + 2, q - p - 2);
    size_t pos = out.find('*', q);
    size_t n = std::stoul(out.substr(pos + 1));
    pos = out.find("\r\n", pos) + 2;
    for (size_t i = 0; i < n; ++i) {
      size_t len_end = out.find("\r\n", pos);
      size_t len = std::stoul(out.substr(pos + 1, len_end - pos - 1));
      std::string item = out.substr(len_end + 2, len);
      if (i % 2 == 0) seen.insert(item);
      pos = len_end + 2 + len + 2;
    }
    calls++;
  } while (cursor != "0");
  CHECK(seen.size() == 1000);
  CHECK(calls > 5);
}

TEST_CASE("HRANDFIELD: counts, WITHVALUES, RESP3 pairs and errors") {
  Harness h;
  CHECK(h.run({"HRANDFIELD", "h"}) == kNil);
  CHECK(h.run({"HRANDFIELD", "h", "3"}) == kEmpty);
  h.run({"HSET", "h", "a", "1", "b", "2", "c", "3"});
  std::string one = h.run({"HRANDFIELD", "h"});
  CHECK((one == bulk("a") || one == bulk("b") || one == bulk("c")));
  CHECK(h.run({"HRANDFIELD", "h", "0"}) == kEmpty);
  CHECK(h.run({"HRANDFIELD", "h", "10"}) == bulk_arr({"a", "b", "c"}));
  CHECK(h.run({"HRANDFIELD", "h", "10", "WITHVALUES"}) == bulk_arr({"a", "1", "b", "2", "c", "3"}));
  std::string rep = h.run({"HRANDFIELD", "h", "-5"});
  CHECK(rep.substr(0, 4) == "*5\r\n");
  rep = h.run({"HRANDFIELD", "h", "-2", "withvalues"});
  CHECK(rep.substr(0, 4) == "*4\r\n");
  rep = h.run({"HRANDFIELD", "h", "2"});
  CHECK(rep.substr(0, 4) == "*2\r\n");
  CHECK(rep.substr(4, 7) != rep.substr(11, 7));  // distinct fields
  h.protocol = 3;
  CHECK(
      h.run({"HRANDFIELD", "h", "5", "WITHVALUES"}) ==
      "*3\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n");
  CHECK(h.run({"HRANDFIELD", "h", "-1", "WITHVALUES"}).substr(0, 8) == "*1\r\n*2\r\n");
  h.protocol = 2;
  CHECK(h.run({"HRANDFIELD", "h", "x"}) == kNotInt);
  CHECK(h.run({"HRANDFIELD", "h", "1", "foo"}) == kSyntax);
  CHECK(h.run({"HRANDFIELD", "h", "1", "withvalues", "x"}) == kSyntax);
  CHECK(h.run({"HRANDFIELD", "h", "-9223372036854775808"}) ==
        err("ERR value is out of range, value must between -9223372036854775807 and "
            "9223372036854775807"));
  CHECK(h.run({"HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"}) ==
        err("ERR value is out of range"));
  // A large hash: distinct picks on both sampling paths.
  for (int i = 0; i < 300; ++i)
    h.run({"HSET", "big", "f" + std::to_string(i), "v"});
  for (const char* n : {"5", "200"}) {
    rep = h.run({"HRANDFIELD", "big", n});
    std::set<std::string> fields;
    size_t pos = rep.find("\r\n") + 2;
    while (pos < rep.size()) {
      size_t len_end = rep.find("\r\n", pos);
      size_t len = std::stoul(rep.substr(pos + 1, len_end - pos - 1));
      fields.insert(rep.substr(len_end + 2, len));
      pos = len_end + 2 + len + 2;
    }
    CHECK(fields.size() == std::stoul(n));
  }
}
