// tests/unit/commands_list_test.cc — list handlers run in-process through
// the command table against a Keyspace, comparing the exact RESP bytes of
// replies and errors with Redis 7.0's (RESP2 and RESP3 nulls), dirty
// counting, WRONGTYPE, and deletion of lists that become empty.
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

}  // namespace

TEST_CASE("LPUSH/RPUSH build the list in Redis's order and count dirty") {
  Harness h;
  CHECK(h.run({"RPUSH", "l", "a", "b"}) == integer(2));
  CHECK(h.dirty == 2);
  CHECK(h.run({"LPUSH", "l", "x", "y"}) == integer(4));
  CHECK(h.run({"LRANGE", "l", "0", "-1"}) == bulk_arr({"y", "x", "a", "b"}));
  CHECK(h.run({"LLEN", "l"}) == integer(4));
  CHECK(h.run({"LLEN", "nokey"}) == integer(0));
  CHECK(h.run({"TYPE", "l"}) == "+list\r\n");
  CHECK(h.run({"OBJECT", "ENCODING", "l"}) == bulk("listpack"));
}

TEST_CASE("LPUSHX/RPUSHX only push onto existing lists") {
  Harness h;
  CHECK(h.run({"LPUSHX", "l", "a"}) == integer(0));
  CHECK(h.dirty == 0);
  CHECK_FALSE(h.exists("l"));
  h.run({"RPUSH", "l", "a"});
  CHECK(h.run({"RPUSHX", "l", "b", "c"}) == integer(3));
  CHECK(h.run({"LPUSHX", "l", "z"}) == integer(4));
  CHECK(h.run({"LRANGE", "l", "0", "-1"}) == bulk_arr({"z", "a", "b", "c"}));
}

TEST_CASE("WRONGTYPE from every list command on a string key") {
  Harness h;
  h.run({"SET", "s", "v"});
  for (auto args : std::vector<std::vector<std::string_view>>{
           {"LPUSH", "s", "a"},
           {"RPUSH", "s", "a"},
           {"LPUSHX", "s", "a"},
           {"RPUSHX", "s", "a"},
           {"LPOP", "s"},
           {"RPOP", "s", "2"},
           {"LLEN", "s"},
           {"LRANGE", "s", "0", "-1"},
           {"LINDEX", "s", "0"},
           {"LSET", "s", "0", "x"},
           {"LREM", "s", "0", "x"},
           {"LTRIM", "s", "0", "1"},
           {"LINSERT", "s", "BEFORE", "a", "b"},
           {"LPOS", "s", "a"},
           {"LMOVE", "s", "d", "LEFT", "RIGHT"},
           {"RPOPLPUSH", "s", "d"},
       }) {
    CAPTURE(args[0]);
    CHECK(h.run_argv(args) == kWrongType);
  }
  h.run({"RPUSH", "l", "a"});
  CHECK(h.run({"LMOVE", "l", "s", "LEFT", "RIGHT"}) == kWrongType);
  CHECK(h.run({"LLEN", "l"}) == integer(1));  // nothing popped
  CHECK(h.run({"GET", "l"}) == kWrongType);
}

TEST_CASE("LPOP/RPOP with and without count, RESP2 and RESP3 nulls") {
  Harness h;
  CHECK(h.run({"LPOP", "l"}) == kNil);
  CHECK(h.run({"LPOP", "l", "2"}) == "*-1\r\n");
  h.protocol = 3;
  CHECK(h.run({"LPOP", "l"}) == "_\r\n");
  CHECK(h.run({"RPOP", "l", "2"}) == "_\r\n");
  h.protocol = 2;
  h.run({"RPUSH", "l", "a", "b", "c", "d"});
  CHECK(h.run({"LPOP", "l"}) == bulk("a"));
  CHECK(h.dirty == 1);
  CHECK(h.run({"RPOP", "l"}) == bulk("d"));
  CHECK(h.run({"LPOP", "l", "0"}) == kEmpty);
  CHECK(h.dirty == 0);
  CHECK(h.run({"LPOP", "l", "-1"}) == err("ERR value is out of range, must be positive"));
  CHECK(h.run({"LPOP", "l", "x"}) == err("ERR value is out of range, must be positive"));
  CHECK(h.run({"LPOP", "l", "1", "2"}) == err("ERR wrong number of arguments for 'lpop' command"));
  CHECK(h.run({"RPOP", "l", "10"}) == bulk_arr({"c", "b"}));
  CHECK_FALSE(h.exists("l"));
  h.run({"RPUSH", "l", "a"});
  CHECK(h.run({"RPOP", "l"}) == bulk("a"));
  CHECK_FALSE(h.exists("l"));
}

TEST_CASE("LRANGE and LINDEX index rules") {
  Harness h;
  h.run({"RPUSH", "l", "a", "b", "c", "d", "e"});
  CHECK(h.run({"LRANGE", "l", "1", "2"}) == bulk_arr({"b", "c"}));
  CHECK(h.run({"LRANGE", "l", "-2", "100"}) == bulk_arr({"d", "e"}));
  CHECK(h.run({"LRANGE", "l", "-100", "0"}) == bulk_arr({"a"}));
  CHECK(h.run({"LRANGE", "l", "3", "1"}) == kEmpty);
  CHECK(h.run({"LRANGE", "l", "5", "10"}) == kEmpty);
  CHECK(h.run({"LRANGE", "nokey", "0", "-1"}) == kEmpty);
  CHECK(h.run({"LRANGE", "l", "x", "1"}) == kNotInt);
  CHECK(h.run({"LRANGE", "nokey", "0", "x"}) == kNotInt);
  CHECK(h.run({"LINDEX", "l", "0"}) == bulk("a"));
  CHECK(h.run({"LINDEX", "l", "-1"}) == bulk("e"));
  CHECK(h.run({"LINDEX", "l", "5"}) == kNil);
  CHECK(h.run({"LINDEX", "l", "-6"}) == kNil);
  CHECK(h.run({"LINDEX", "l", "x"}) == kNotInt);
  CHECK(h.run({"LINDEX", "nokey", "x"}) == kNil);  // key checked first, as Redis
}

TEST_CASE("LSET errors and replacement") {
  Harness h;
  CHECK(h.run({"LSET", "l", "0", "x"}) == err("ERR no such key"));
  h.run({"RPUSH", "l", "a", "b"});
  CHECK(h.run({"LSET", "l", "x", "v"}) == kNotInt);
  CHECK(h.run({"LSET", "l", "2", "v"}) == err("ERR index out of range"));
  CHECK(h.run({"LSET", "l", "-3", "v"}) == err("ERR index out of range"));
  CHECK(h.run({"LSET", "l", "-1", "z"}) == kOk);
  CHECK(h.dirty == 1);
  CHECK(h.run({"LRANGE", "l", "0", "-1"}) == bulk_arr({"a", "z"}));
  std::string big(100, 'q');
  CHECK(h.run({"LSET", "l", "0", big}) == kOk);
  CHECK(h.run({"OBJECT", "ENCODING", "l"}) == bulk("quicklist"));
}

TEST_CASE("LINSERT before/after, missing pivot and key") {
  Harness h;
  CHECK(h.run({"LINSERT", "l", "BEFORE", "a", "x"}) == integer(0));
  CHECK(h.run({"LINSERT", "l", "middle", "a", "x"}) == kSyntax);
  h.run({"RPUSH", "l", "a", "b"});
  CHECK(h.run({"LINSERT", "l", "before", "b", "x"}) == integer(3));
  CHECK(h.dirty == 1);
  CHECK(h.run({"LINSERT", "l", "AFTER", "b", "y"}) == integer(4));
  CHECK(h.run({"LINSERT", "l", "AFTER", "nope", "y"}) == integer(-1));
  CHECK(h.dirty == 0);
  CHECK(h.run({"LRANGE", "l", "0", "-1"}) == bulk_arr({"a", "x", "b", "y"}));
}

TEST_CASE("LREM from head, tail and all; deletes the emptied list") {
  Harness h;
  h.run({"RPUSH", "l", "a", "b", "a", "c", "a"});
  CHECK(h.run({"LREM", "l", "x", "a"}) == kNotInt);
  CHECK(h.run({"LREM", "l", "1", "a"}) == integer(1));
  CHECK(h.run({"LRANGE", "l", "0", "-1"}) == bulk_arr({"b", "a", "c", "a"}));
  CHECK(h.run({"LREM", "l", "-1", "a"}) == integer(1));
  CHECK(h.run({"LRANGE", "l", "0", "-1"}) == bulk_arr({"b", "a", "c"}));
  CHECK(h.run({"LREM", "l", "0", "zz"}) == integer(0));
  CHECK(h.run({"LREM", "nokey", "0", "a"}) == integer(0));
  h.run({"RPUSH", "l", "a"});
  CHECK(h.run({"LREM", "l", "0", "a"}) == integer(2));
  CHECK(h.dirty == 2);
  CHECK(h.run({"LREM", "l", "0", "b"}) == integer(1));
  CHECK(h.run({"LREM", "l", "0", "c"}) == integer(1));
  CHECK_FALSE(h.exists("l"));
}

TEST_CASE("LTRIM keeps a range, empties and deletes on an empty range") {
  Harness h;
  CHECK(h.run({"LTRIM", "l", "0", "1"}) == kOk);
  CHECK(h.run({"LTRIM", "l", "x", "1"}) == kNotInt);
  h.run({"RPUSH", "l", "a", "b", "c", "d", "e"});
  CHECK(h.run({"LTRIM", "l", "1", "-2"}) == kOk);
  CHECK(h.dirty == 2);
  CHECK(h.run({"LRANGE", "l", "0", "-1"}) == bulk_arr({"b", "c", "d"}));
  CHECK(h.run({"LTRIM", "l", "5", "10"}) == kOk);
  CHECK_FALSE(h.exists("l"));
}

TEST_CASE("LPOS with RANK, COUNT, MAXLEN and its errors") {
  Harness h;
  CHECK(h.run({"LPOS", "l", "a"}) == kNil);
  CHECK(h.run({"LPOS", "l", "a", "COUNT", "0"}) == kEmpty);
  h.run({"RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"});
  CHECK(h.run({"LPOS", "l", "c"}) == integer(2));
  CHECK(h.run({"LPOS", "l", "c", "RANK", "2"}) == integer(6));
  CHECK(h.run({"LPOS", "l", "c", "RANK", "-1"}) == integer(7));
  CHECK(h.run({"LPOS", "l", "c", "COUNT", "0"}) == "*3\r\n:2\r\n:6\r\n:7\r\n");
  CHECK(h.run({"LPOS", "l", "c", "COUNT", "2", "RANK", "-1"}) == "*2\r\n:7\r\n:6\r\n");
  CHECK(h.run({"LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"}) == "*2\r\n:2\r\n:6\r\n");
  CHECK(h.run({"LPOS", "l", "x", "COUNT", "1"}) == kEmpty);
  CHECK(h.run({"LPOS", "l", "x"}) == kNil);
  CHECK(h.run({"LPOS", "l", "c", "RANK", "0"}) ==
        err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second "
            "... or use negative to start from the end of the list"));
  CHECK(h.run({"LPOS", "l", "c", "RANK", "x"}) == kNotInt);
  CHECK(h.run({"LPOS", "l", "c", "RANK", "-9223372036854775808"}) ==
        err("ERR value is out of range, value must between -9223372036854775807 and "
            "9223372036854775807"));
  CHECK(h.run({"LPOS", "l", "c", "COUNT", "-1"}) == err("ERR COUNT can't be negative"));
  CHECK(h.run({"LPOS", "l", "c", "MAXLEN", "-1"}) == err("ERR MAXLEN can't be negative"));
  CHECK(h.run({"LPOS", "l", "c", "RANK"}) == kSyntax);
  CHECK(h.run({"LPOS", "l", "c", "FOO", "1"}) == kSyntax);
}

TEST_CASE("LMOVE and RPOPLPUSH between lists and onto themselves") {
  Harness h;
  CHECK(h.run({"LMOVE", "a", "b", "LEFT", "UP"}) == kSyntax);
  CHECK(h.run({"LMOVE", "a", "b", "LEFT", "RIGHT"}) == kNil);
  CHECK(h.dirty == 0);
  h.run({"RPUSH", "a", "1", "2", "3"});
  CHECK(h.run({"LMOVE", "a", "b", "LEFT", "RIGHT"}) == bulk("1"));
  CHECK(h.dirty == 1);
  CHECK(h.run({"RPOPLPUSH", "a", "b"}) == bulk("3"));
  CHECK(h.run({"LRANGE", "b", "0", "-1"}) == bulk_arr({"3", "1"}));
  CHECK(h.run({"LMOVE", "a", "a", "LEFT", "RIGHT"}) == bulk("2"));  // single element rotates
  CHECK(h.run({"LRANGE", "a", "0", "-1"}) == bulk_arr({"2"}));
  CHECK(h.run({"LMOVE", "b", "b", "RIGHT", "LEFT"}) == bulk("1"));
  CHECK(h.run({"LRANGE", "b", "0", "-1"}) == bulk_arr({"1", "3"}));
  CHECK(h.run({"RPOPLPUSH", "a", "b"}) == bulk("2"));
  CHECK_FALSE(h.exists("a"));
  CHECK(h.run({"LRANGE", "b", "0", "-1"}) == bulk_arr({"2", "1", "3"}));
}

TEST_CASE("generic commands work on lists: COPY is deep, RENAME, DEL, expiry") {
  Harness h;
  for (int i = 0; i < 200; ++i)
    h.run({"RPUSH", "l", std::to_string(i)});
  CHECK(h.run({"OBJECT", "ENCODING", "l"}) == bulk("quicklist"));
  CHECK(h.run({"COPY", "l", "c"}) == integer(1));
  CHECK(h.run({"LPOP", "l", "150"}).substr(0, 6) == "*150\r\n");
  CHECK(h.run({"LLEN", "c"}) == integer(200));
  CHECK(h.run({"OBJECT", "ENCODING", "l"}) == bulk("listpack"));  // 50 left: converted back
  CHECK(h.run({"RENAME", "c", "d"}) == kOk);
  CHECK(h.run({"LINDEX", "d", "199"}) == bulk("199"));
  CHECK(h.run({"PEXPIRE", "d", "10"}) == integer(1));
  h.now += 10;
  CHECK(h.run({"LLEN", "d"}) == integer(0));
  CHECK(h.run({"RPUSH", "d", "x"}) == integer(1));  // the expired list is gone
  CHECK(h.run({"DEL", "l", "d"}) == integer(2));
}
