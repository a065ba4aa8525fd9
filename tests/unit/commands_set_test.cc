// tests/unit/commands_set_test.cc — the SET handlers run in-process through
// the command table against a Keyspace, comparing exact RESP bytes of
// replies and errors with Redis 7's (checked against redis-server), plus
// the replication property of SPOP: identical state and record time pop
// identical members however the sets were built.
#include <doctest/doctest.h>

#include <algorithm>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply.h"
#include "src/command.h"
#include "storage/keyspace.h"
#include "storage/set_value.h"
#include "tests/support/command_harness.h"

namespace {

using Harness = kvraft::test::CommandHarness;
using namespace kvraft::test;

// The bulk strings of a flat array reply, sorted (set order is unspecified).
std::vector<std::string> sorted_bulks(std::string_view r) {
  std::vector<std::string> out;
  size_t eol = r.find("\r\n");
  REQUIRE((r[0] == '*' || r[0] == '~'));
  r.remove_prefix(eol + 2);
  while (!r.empty()) {
    REQUIRE(r[0] == '$');
    eol = r.find("\r\n");
    size_t len = std::stoul(std::string(r.substr(1, eol - 1)));
    out.emplace_back(r.substr(eol + 2, len));
    r.remove_prefix(eol + 2 + len + 2);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS, dirty and deletion when empty") {
  Harness h;
  CHECK(h.run({"SADD", "s", "3", "1", "2", "1"}) == integer(3));
  CHECK(h.dirty == 3);
  CHECK(h.encoding("s") == "intset");
  CHECK(h.run({"SMEMBERS", "s"}) == arr({bulk("1"), bulk("2"), bulk("3")}));
  CHECK(h.run({"SCARD", "s"}) == integer(3));
  CHECK(h.run({"SCARD", "nope"}) == integer(0));
  CHECK(h.run({"SISMEMBER", "s", "2"}) == integer(1));
  CHECK(h.run({"SISMEMBER", "s", "02"}) == integer(0));
  CHECK(h.run({"SISMEMBER", "nope", "2"}) == integer(0));
  CHECK(h.run({"SMISMEMBER", "s", "1", "x", "3"}) == arr({integer(1), integer(0), integer(1)}));
  CHECK(h.run({"SMISMEMBER", "nope", "1"}) == arr({integer(0)}));
  CHECK(h.run({"SMEMBERS", "nope"}) == kEmpty);
  CHECK(h.run({"SREM", "s", "1", "9"}) == integer(1));
  CHECK(h.dirty == 1);
  CHECK(h.run({"SREM", "nope", "1"}) == integer(0));
  CHECK(h.run({"SREM", "s", "2", "3", "4"}) == integer(2));
  CHECK(h.run({"EXISTS", "s"}) == integer(0));
  CHECK(h.run({"TYPE", "s"}) == "+none\r\n");
}

TEST_CASE("RESP3 set replies use the set type") {
  Harness h;
  h.protocol = 3;
  h.run({"SADD", "s", "5"});
  CHECK(h.run({"SMEMBERS", "s"}) == "~1\r\n" + bulk("5"));
  CHECK(h.run({"SMEMBERS", "nope"}) == "~0\r\n");
  CHECK(h.run({"SPOP", "nope", "3"}) == "~0\r\n");
  CHECK(h.run({"SPOP", "nope"}) == "_\r\n");
}

TEST_CASE("encodings convert like Redis 7.2 and OBJECT ENCODING reports them") {
  Harness h;
  h.run({"SADD", "s", "1"});
  CHECK(h.encoding("s") == "intset");
  h.run({"SADD", "s", "abc"});
  CHECK(h.encoding("s") == "listpack");
  CHECK(h.run({"OBJECT", "ENCODING", "s"}) == bulk("listpack"));
  std::string long_member(65, 'x');
  h.run({"SADD", "s", long_member});
  CHECK(h.encoding("s") == "hashtable");
  CHECK(h.run({"TYPE", "s"}) == "+set\r\n");
  // Removing members never converts back down.
  h.run({"SREM", "s", long_member, "abc"});
  CHECK(h.encoding("s") == "hashtable");
  std::vector<std::string> many;
  std::vector<std::string_view> argv{"SADD", "big"};
  for (int i = 0; i < 513; ++i)
    many.push_back(std::to_string(i));
  for (const auto& m : many)
    argv.push_back(m);
  CHECK(h.run(argv) == integer(513));
  CHECK(h.encoding("big") == "hashtable");
}

TEST_CASE("WRONGTYPE from every set command on a string key") {
  Harness h;
  h.run({"SET", "str", "v"});
  h.run({"SADD", "s", "a"});
  for (auto cmd : std::vector<std::vector<std::string_view>>{
           {"SADD", "str", "a"},
           {"SREM", "str", "a"},
           {"SCARD", "str"},
           {"SISMEMBER", "str", "a"},
           {"SMISMEMBER", "str", "a"},
           {"SMEMBERS", "str"},
           {"SPOP", "str"},
           {"SPOP", "str", "2"},
           {"SRANDMEMBER", "str"},
           {"SRANDMEMBER", "str", "2"},
           {"SINTER", "s", "str"},
           {"SINTER", "nope", "str"},
           {"SUNION", "s", "str"},
           {"SDIFF", "s", "str"},
           {"SINTERSTORE", "d", "s", "str"},
           {"SUNIONSTORE", "d", "str"},
           {"SDIFFSTORE", "d", "s", "str"},
           {"SINTERCARD", "2", "s", "str"},
           {"SMOVE", "str", "s", "a"},
           {"SMOVE", "s", "str", "a"},
           {"SSCAN", "str", "0"},
       })
    CHECK_MESSAGE(h.run(cmd) == kWrongType, cmd[0]);
  CHECK(h.run({"EXISTS", "d"}) == integer(0));
}

TEST_CASE("SPOP: errors, counts, deletion when emptied") {
  Harness h;
  CHECK(h.run({"SPOP", "s", "1", "2"}) == kSyntax);
  CHECK(h.run({"SPOP", "s", "-1"}) == kPositive);
  CHECK(h.run({"SPOP", "s", "x"}) == kPositive);
  CHECK(h.run({"SPOP", "nope"}) == kNil);
  CHECK(h.run({"SPOP", "nope", "2"}) == kEmpty);
  h.run({"SADD", "s", "1", "2", "3", "4", "5"});
  CHECK(h.run({"SPOP", "s", "0"}) == kEmpty);
  CHECK(h.dirty == 0);
  std::string one = h.run({"SPOP", "s"});
  CHECK(one.substr(0, 4) == "$1\r\n");
  CHECK(h.dirty == 1);
  CHECK(h.run({"SCARD", "s"}) == integer(4));
  std::string two = h.run({"SPOP", "s", "2"});
  CHECK(sorted_bulks(two).size() == 2);
  CHECK(h.dirty == 2);
  CHECK(h.run({"SCARD", "s"}) == integer(2));
  std::string rest = h.run({"SPOP", "s", "10"});
  CHECK(sorted_bulks(rest).size() == 2);
  CHECK(h.run({"EXISTS", "s"}) == integer(0));
  // Popped members are gone, all of them, exactly once.
  std::vector<std::string> all = sorted_bulks(two);
  for (auto& m : sorted_bulks(rest))
    all.push_back(m);
  all.push_back(one.substr(4, 1));
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<std::string>{"1", "2", "3", "4", "5"});
}

TEST_CASE("SPOP is deterministic: replicas built differently pop the same members") {
  // Two replicas with the same logical set: one inserted in order, the
  // other shuffled after growing and shrinking its table, with an extra
  // set in the keyspace to shift everything else around.
  Harness a, b;
  std::vector<std::string> members;
  for (int i = 0; i < 3000; ++i)
    members.push_back("user:" + std::to_string(i));
  for (const auto& m : members)
    a.run({"SADD", "s", m});
  for (int i = 0; i < 20000; ++i)
    b.run({"SADD", "s", "junk" + std::to_string(i)});
  for (auto it = members.rbegin(); it != members.rend(); ++it)
    b.run({"SADD", "s", *it});
  for (int i = 0; i < 20000; ++i)
    b.run({"SREM", "s", "junk" + std::to_string(i)});
  b.run({"SADD", "other", "x"});
  REQUIRE(a.run({"SCARD", "s"}) == b.run({"SCARD", "s"}));
  for (int round = 0; round < 50; ++round) {
    a.now = b.now = 1700000000000 + round / 3;  // several pops per ms too
    CHECK(a.run({"SPOP", "s"}) == b.run({"SPOP", "s"}));
    CHECK(a.run({"SPOP", "s", "3"}) == b.run({"SPOP", "s", "3"}));
  }
  CHECK(sorted_bulks(a.run({"SMEMBERS", "s"})) == sorted_bulks(b.run({"SMEMBERS", "s"})));
  // Small sets too (listpack vs hashtable encodings of the same members).
  Harness c, d;
  c.run({"SADD", "t", "a", "b", "c", "d", "e", "f"});
  std::string long_member(100, 'L');
  d.run({"SADD", "t", "f", "e", "d", "c", "b", "a", long_member});
  d.run({"SREM", "t", long_member});
  REQUIRE(c.encoding("t") == "listpack");
  REQUIRE(d.encoding("t") == "hashtable");
  CHECK(c.run({"SPOP", "t", "2"}) == d.run({"SPOP", "t", "2"}));
  CHECK(c.run({"SPOP", "t"}) == d.run({"SPOP", "t"}));
}

TEST_CASE("SRANDMEMBER: errors, positive and negative counts") {
  Harness h;
  CHECK(h.run({"SRANDMEMBER", "s", "1", "2"}) == kSyntax);
  CHECK(h.run({"SRANDMEMBER", "s", "x"}) == err("ERR value is not an integer or out of range"));
  CHECK(h.run({"SRANDMEMBER", "s", "-9223372036854775808"}) ==
        err("ERR value is out of range, value must between -9223372036854775807 and "
            "9223372036854775807"));
  CHECK(h.run({"SRANDMEMBER", "nope"}) == kNil);
  CHECK(h.run({"SRANDMEMBER", "nope", "3"}) == kEmpty);
  h.run({"SADD", "s", "a", "b", "c"});
  CHECK(h.run({"SRANDMEMBER", "s", "0"}) == kEmpty);
  CHECK(sorted_bulks(h.run({"SRANDMEMBER", "s", "10"})) == std::vector<std::string>{"a", "b", "c"});
  auto two = sorted_bulks(h.run({"SRANDMEMBER", "s", "2"}));
  CHECK(two.size() == 2);
  CHECK(two[0] != two[1]);
  CHECK(sorted_bulks(h.run({"SRANDMEMBER", "s", "-7"})).size() == 7);
  // Buffering a reply of 10^18 members could only exhaust memory.
  CHECK(h.run({"SRANDMEMBER", "s", "-1000000000000000000"}) ==
        err("ERR value is out of range, count exceeds 10000000 members"));
  std::string one = h.run({"SRANDMEMBER", "s"});
  CHECK(one.size() == 7);
  CHECK(h.run({"SCARD", "s"}) == integer(3));
}

TEST_CASE("SINTER SUNION SDIFF and their STORE forms") {
  Harness h;
  h.run({"SADD", "a", "1", "2", "3", "4"});
  h.run({"SADD", "b", "3", "4", "5"});
  h.run({"SADD", "c", "4", "x"});
  CHECK(h.run({"SINTER", "a", "b"}) == arr({bulk("3"), bulk("4")}));
  CHECK(sorted_bulks(h.run({"SINTER", "a", "b", "c"})) == std::vector<std::string>{"4"});
  CHECK(h.run({"SINTER", "a", "nope"}) == kEmpty);
  CHECK(h.run({"SINTER", "a", "a"}) == h.run({"SMEMBERS", "a"}));
  CHECK(h.run({"SUNION", "a", "b"}) ==
        arr({bulk("1"), bulk("2"), bulk("3"), bulk("4"), bulk("5")}));
  CHECK(h.run({"SUNION", "nope"}) == kEmpty);
  CHECK(h.run({"SDIFF", "a", "b"}) == arr({bulk("1"), bulk("2")}));
  CHECK(h.run({"SDIFF", "a", "a"}) == kEmpty);
  CHECK(h.run({"SDIFF", "nope", "a"}) == kEmpty);
  CHECK(h.run({"SDIFF", "a", "nope"}) == h.run({"SMEMBERS", "a"}));

  h.run({"SET", "d", "string"});
  CHECK(h.run({"SINTERSTORE", "d", "a", "b"}) == integer(2));
  CHECK(h.dirty == 1);
  CHECK(h.run({"TYPE", "d"}) == "+set\r\n");
  CHECK(h.encoding("d") == "intset");
  CHECK(h.run({"SUNIONSTORE", "d", "a", "c"}) == integer(5));
  CHECK(h.encoding("d") == "listpack");
  CHECK(h.run({"SDIFFSTORE", "d", "a", "a"}) == integer(0));
  CHECK(h.dirty == 1);
  CHECK(h.run({"EXISTS", "d"}) == integer(0));
  CHECK(h.run({"SINTERSTORE", "d", "a", "nope"}) == integer(0));
  CHECK(h.dirty == 0);
  // A store drops the destination's TTL, as Redis's setKey does.
  h.run({"SADD", "e", "z"});
  h.run({"PEXPIRE", "e", "10000"});
  CHECK(h.run({"SUNIONSTORE", "e", "a"}) == integer(4));
  CHECK(h.run({"PTTL", "e"}) == integer(-1));
}

TEST_CASE("SINTERCARD: arguments, limit") {
  Harness h;
  h.run({"SADD", "a", "1", "2", "3", "4"});
  h.run({"SADD", "b", "2", "3", "4", "5"});
  CHECK(h.run({"SINTERCARD", "0", "a"}) == err("ERR numkeys should be greater than 0"));
  CHECK(h.run({"SINTERCARD", "x", "a"}) == err("ERR numkeys should be greater than 0"));
  CHECK(h.run({"SINTERCARD", "3", "a", "b"}) ==
        err("ERR Number of keys can't be greater than number of args"));
  CHECK(h.run({"SINTERCARD", "1", "a", "LIMIT", "-1"}) == err("ERR LIMIT can't be negative"));
  CHECK(h.run({"SINTERCARD", "1", "a", "foo"}) == kSyntax);
  CHECK(h.run({"SINTERCARD", "1", "a", "LIMIT"}) == kSyntax);
  CHECK(h.run({"SINTERCARD", "2", "a", "b"}) == integer(3));
  CHECK(h.run({"SINTERCARD", "2", "a", "b", "LIMIT", "2"}) == integer(2));
  CHECK(h.run({"SINTERCARD", "2", "a", "b", "LIMIT", "0"}) == integer(3));
  CHECK(h.run({"SINTERCARD", "2", "a", "nope"}) == integer(0));
}

TEST_CASE("SMOVE") {
  Harness h;
  h.run({"SADD", "a", "1", "2"});
  CHECK(h.run({"SMOVE", "nope", "a", "1"}) == integer(0));
  CHECK(h.run({"SMOVE", "a", "a", "1"}) == integer(1));
  CHECK(h.run({"SMOVE", "a", "a", "9"}) == integer(0));
  CHECK(h.run({"SMOVE", "a", "b", "9"}) == integer(0));
  CHECK(h.run({"SMOVE", "a", "b", "1"}) == integer(1));
  CHECK(h.dirty == 2);
  CHECK(h.run({"SMEMBERS", "b"}) == arr({bulk("1")}));
  h.run({"SADD", "b", "2"});
  CHECK(h.run({"SMOVE", "a", "b", "2"}) == integer(1));
  CHECK(h.dirty == 1);
  CHECK(h.run({"EXISTS", "a"}) == integer(0));
  CHECK(h.run({"SCARD", "b"}) == integer(2));
}

TEST_CASE("SSCAN: arguments, compact sets in one step, full iteration of a big set") {
  Harness h;
  CHECK(h.run({"SSCAN", "nope", "0"}) == "*2\r\n$1\r\n0\r\n*0\r\n");
  CHECK(h.run({"SSCAN", "nope", "x"}) == err("ERR invalid cursor"));
  h.run({"SADD", "s", "1", "2", "10"});
  CHECK(h.run({"SSCAN", "s", "0", "COUNT", "0"}) == kSyntax);
  CHECK(h.run({"SSCAN", "s", "0", "COUNT", "x"}) ==
        err("ERR value is not an integer or out of range"));
  CHECK(h.run({"SSCAN", "s", "0", "TYPE", "set"}) == kSyntax);
  CHECK(h.run({"SSCAN", "s", "0", "MATCH", "1*"}) ==
        "*2\r\n$1\r\n0\r\n" + arr({bulk("1"), bulk("10")}));
  std::vector<std::string> members;
  for (int i = 0; i < 1000; ++i)
    members.push_back("m" + std::to_string(i));
  for (const auto& m : members)
    h.run({"SADD", "big", m});
  std::set<std::string> seen;
  std::string cursor = "0";
  int steps = 0;
  do {
    std::string r = h.run({"SSCAN", "big", cursor, "COUNT", "50"});
    size_t p = r.find("\r\n", 4);  // after "$N"
    size_t len_start = 5;
    size_t len = std::stoul(r.substr(len_start, p - len_start));
    cursor = r.substr(p + 2, len);
    for (auto& m : sorted_bulks(r.substr(p + 2 + len + 2)))
      seen.insert(m);
    ++steps;
  } while (cursor != "0" && steps < 10000);
  CHECK(cursor == "0");
  CHECK(seen.size() == 1000);
}

TEST_CASE("COPY, RENAME and DEL work on sets; the copy is independent") {
  Harness h;
  h.run({"SADD", "s", "a", "b"});
  CHECK(h.run({"COPY", "s", "t"}) == integer(1));
  h.run({"SREM", "t", "a"});
  CHECK(h.run({"SCARD", "s"}) == integer(2));
  CHECK(h.run({"SCARD", "t"}) == integer(1));
  CHECK(h.run({"RENAME", "t", "u"}) == "+OK\r\n");
  CHECK(h.run({"SMEMBERS", "u"}) == arr({bulk("b")}));
  CHECK(h.run({"DEL", "s", "u"}) == integer(2));
}

TEST_CASE("expired sets read as absent and are replaced by writes") {
  Harness h;
  h.run({"SADD", "s", "a"});
  h.run({"PEXPIRE", "s", "10"});
  h.now += 10;
  CHECK(h.run({"SCARD", "s"}) == integer(0));
  CHECK(h.run({"SADD", "s", "b"}) == integer(1));
  CHECK(h.run({"SMEMBERS", "s"}) == arr({bulk("b")}));
}
