// tests/integration/set_zset_commands_test.cc — SET and SORTED SET commands
// against a real kvraft-server over TCP with hiredis: replies as clients see
// them, generic commands on the new types (TYPE, OBJECT ENCODING, SCAN
// TYPE, COPY, RENAME), large pipelined collections that convert encodings
// and are scanned to the end, and a seeded random differential run against
// a stock redis-server 7 (set replies compared as multisets, since member
// order of a set is unspecified).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/redis_baseline.h"
#include "tests/support/redis_client.h"
#include "tests/support/test_support.h"

namespace {

using kvraft::test::RedisConnection;
using kvraft::test::Reply;

std::vector<std::string> sorted_strings(const Reply& r) {
  std::vector<std::string> out;
  for (const auto& e : r.elements)
    out.push_back(e.str);
  std::sort(out.begin(), out.end());
  return out;
}

// Follows an [S|Z]SCAN to the end; returns every element seen.
std::multiset<std::string> scan_all(RedisConnection& c, const std::string& cmd,
                                    const std::string& key) {
  std::multiset<std::string> seen;
  std::string cursor = "0";
  int steps = 0;
  do {
    Reply r = c.cmd({cmd, key, cursor, "COUNT", "100"});
    REQUIRE(r.elements.size() == 2);
    cursor = r.elements[0].str;
    for (const auto& e : r.elements[1].elements)
      seen.insert(e.str);
  } while (cursor != "0" && ++steps < 1000000);
  return seen;
}

}  // namespace

TEST_CASE("set commands over the wire") {
  kvraft::test::ServerProcess server;
  RedisConnection c(server.port());
  CHECK(c.run({"SADD", "s", "1", "2", "3"}) == "(integer) 3");
  CHECK(c.run({"SMEMBERS", "s"}) == "[1, 2, 3]");
  CHECK(c.run({"OBJECT", "ENCODING", "s"}) == "intset");
  CHECK(c.run({"SADD", "s", "x"}) == "(integer) 1");
  CHECK(c.run({"OBJECT", "ENCODING", "s"}) == "listpack");
  CHECK(c.run({"TYPE", "s"}) == "set");
  CHECK(c.run({"SISMEMBER", "s", "x"}) == "(integer) 1");
  CHECK(c.run({"SINTERCARD", "1", "s"}) == "(integer) 4");
  CHECK(c.run({"SET", "str", "v"}) == "OK");
  CHECK(c.run({"SADD", "str", "a"}) ==
        "(error) WRONGTYPE Operation against a key holding the wrong kind of value");
  CHECK(c.run({"SPOP", "s", "-1"}) == "(error) ERR value is out of range, must be positive");
  Reply popped = c.cmd({"SPOP", "s", "4"});
  CHECK(sorted_strings(popped) == std::vector<std::string>{"1", "2", "3", "x"});
  CHECK(c.run({"EXISTS", "s"}) == "(integer) 0");
  CHECK(c.run({"SADD", "s", "a", "b"}) == "(integer) 2");
  CHECK(c.run({"COPY", "s", "t"}) == "(integer) 1");
  CHECK(c.run({"RENAME", "t", "u"}) == "OK");
  CHECK(c.run({"SMOVE", "u", "s", "a"}) == "(integer) 1");
  CHECK(c.run({"SCARD", "u"}) == "(integer) 1");
  Reply scan = c.cmd({"SCAN", "0", "TYPE", "set", "COUNT", "100"});
  REQUIRE(scan.elements.size() == 2);
  CHECK(sorted_strings(scan.elements[1]) == std::vector<std::string>{"s", "u"});
}

TEST_CASE("a 100,000-member set: pipelined, hashtable-encoded, scanned and popped empty") {
  kvraft::test::ServerProcess server;
  RedisConnection c(server.port());
  const int n = 100000;
  long long added = 0;
  for (int base = 0; base < n; base += 5000) {
    for (int i = base; i < base + 5000; ++i)
      c.append({"SADD", "big", "member:" + std::to_string(i)});
    for (int i = base; i < base + 5000; ++i)
      added += c.read().integer;
  }
  CHECK(added == n);
  CHECK(c.run({"OBJECT", "ENCODING", "big"}) == "hashtable");
  CHECK(c.run({"SCARD", "big"}) == "(integer) 100000");
  auto seen = scan_all(c, "SSCAN", "big");
  std::set<std::string> distinct(seen.begin(), seen.end());
  CHECK(distinct.size() == static_cast<size_t>(n));
  std::set<std::string> popped;
  while (popped.size() < static_cast<size_t>(n)) {
    Reply r = c.cmd({"SPOP", "big", "7000"});
    REQUIRE(!r.elements.empty());
    for (const auto& e : r.elements)
      CHECK(popped.insert(e.str).second);
  }
  CHECK(popped == distinct);
  CHECK(c.run({"EXISTS", "big"}) == "(integer) 0");
}

TEST_CASE("sorted set commands over the wire and a large skiplist") {
  kvraft::test::ServerProcess server;
  RedisConnection c(server.port());
  CHECK(c.run({"ZADD", "z", "1", "a", "2", "b", "3", "c"}) == "(integer) 3");
  CHECK(c.run({"OBJECT", "ENCODING", "z"}) == "listpack");
  CHECK(c.run({"ZRANGE", "z", "0", "-1", "WITHSCORES"}) == "[a, 1, b, 2, c, 3]");
  CHECK(c.run({"ZINCRBY", "z", "0.1", "a"}) == "1.1000000000000001");
  CHECK(c.run({"ZRANK", "z", "b", "WITHSCORE"}) == "[(integer) 1, 2]");
  CHECK(c.run({"ZPOPMAX", "z"}) == "[c, 3]");
  CHECK(c.run({"TYPE", "z"}) == "zset");
  CHECK(c.run({"ZADD", "z", "NX", "XX", "1", "a"}) ==
        "(error) ERR XX and NX options at the same time are not compatible");
  const int n = 50000;
  for (int base = 0; base < n; base += 5000) {
    for (int i = base; i < base + 5000; ++i)
      c.append({"ZADD", "big", std::to_string(i % 1000), "m" + std::to_string(i)});
    for (int i = base; i < base + 5000; ++i)
      c.read();
  }
  CHECK(c.run({"OBJECT", "ENCODING", "big"}) == "skiplist");
  CHECK(c.run({"ZCARD", "big"}) == "(integer) 50000");
  // Score 0 holds m0, m1000, m10000, ... ordered by member bytes; the last
  // of score 999 is m9999 ("m999" < "m9999").
  CHECK(c.run({"ZRANGE", "big", "0", "2"}) == "[m0, m1000, m10000]");
  CHECK(c.run({"ZRANK", "big", "m9999"}) == "(integer) 49999");
  CHECK(c.run({"ZRANK", "big", "m999"}) == "(integer) 49998");
  CHECK(c.run({"ZCOUNT", "big", "(10", "20"}) == "(integer) 500");
  CHECK(c.run({"ZRANGEBYSCORE", "big", "999", "+inf", "LIMIT", "49", "5"}) == "[m9999]");
  auto seen = scan_all(c, "ZSCAN", "big");
  CHECK(seen.size() >= static_cast<size_t>(2 * n));
  CHECK(c.run({"ZREMRANGEBYSCORE", "big", "-inf", "(999"}) == "(integer) 49950");
  CHECK(c.run({"ZCARD", "big"}) == "(integer) 50");
  CHECK(c.run({"ZPOPMIN", "big", "100"}).size() > 0);
  CHECK(c.run({"EXISTS", "big"}) == "(integer) 0");
}

TEST_CASE("random set and sorted set commands answer as redis-server 7") {
  if (!kvraft::test::redis_server_available()) {
    MESSAGE("redis-server not installed; differential test skipped");
    return;
  }
  kvraft::test::ServerProcess server;
  kvraft::test::RedisBaseline redis;
  RedisConnection ours(server.port());
  RedisConnection theirs(redis.port());

  std::mt19937 rng(20261126);
  auto pick = [&](const auto& v) { return v[rng() % v.size()]; };
  const std::vector<std::string> keys = {"s1", "s2", "z1", "z2", "str"};
  const std::vector<std::string> members = {"1", "2", "3",  "10", "-5", "a",
                                            "b", "c", "ab", "",   "07", std::string(70, 'L')};
  const std::vector<std::string> scores = {"0",   "1",  "-1",   "2.5", "inf", "-inf",
                                           "1e3", "(1", "(2.5", "x",   "nan", "3"};
  const std::vector<std::string> lex = {"-", "+", "[a", "(a", "[b", "(c", "a", "[", "(1"};
  const std::vector<std::string> ints = {"0", "1", "-1", "2", "-2", "5", "100", "x"};
  // Lex ranges run on "lex", whose members all score 0: with mixed scores
  // Redis's skiplist answers depend on its random levels.
  // Commands whose array replies are sets (order unspecified).
  const std::set<std::string> unordered = {"SMEMBERS", "SINTER", "SUNION", "SDIFF"};
  const std::vector<std::vector<std::string>> shapes = {
      {"SADD", "K", "M", "M"},
      {"SREM", "K", "M"},
      {"SCARD", "K"},
      {"SISMEMBER", "K", "M"},
      {"SMISMEMBER", "K", "M", "M"},
      {"SMEMBERS", "K"},
      {"SINTER", "K", "K"},
      {"SUNION", "K", "K"},
      {"SDIFF", "K", "K"},
      {"SINTERSTORE", "K", "K", "K"},
      {"SUNIONSTORE", "K", "K", "K"},
      {"SDIFFSTORE", "K", "K", "K"},
      {"SINTERCARD", "2", "K", "K", "LIMIT", "I"},
      {"SMOVE", "K", "K", "M"},
      {"ZADD", "K", "S", "M", "S", "M"},
      {"ZADD", "K", "GT", "CH", "S", "M"},
      {"ZADD", "K", "XX", "INCR", "S", "M"},
      {"ZADD", "K", "NX", "S", "M"},
      {"ZINCRBY", "K", "S", "M"},
      {"ZREM", "K", "M", "M"},
      {"ZCARD", "K"},
      {"ZSCORE", "K", "M"},
      {"ZMSCORE", "K", "M", "M"},
      {"ZRANK", "K", "M"},
      {"ZREVRANK", "K", "M"},
      {"ZRANGE", "K", "I", "I"},
      {"ZRANGE", "K", "I", "I", "REV", "WITHSCORES"},
      {"ZRANGE", "K", "S", "S", "BYSCORE", "LIMIT", "I", "I"},
      {"ZRANGE", "K", "S", "S", "BYSCORE", "REV", "WITHSCORES"},
      {"ZRANGE", "lex", "L", "L", "BYLEX"},
      {"ZRANGE", "lex", "L", "L", "BYLEX", "REV", "LIMIT", "I", "I"},
      {"ZRANGEBYSCORE", "K", "S", "S", "WITHSCORES"},
      {"ZREVRANGEBYSCORE", "K", "S", "S"},
      {"ZRANGEBYLEX", "lex", "L", "L", "LIMIT", "I", "I"},
      {"ZREVRANGEBYLEX", "lex", "L", "L"},
      {"ZCOUNT", "K", "S", "S"},
      {"ZLEXCOUNT", "lex", "L", "L"},
      {"ZADD", "lex", "0", "M", "0", "M"},
      {"ZREM", "lex", "M"},
      {"ZPOPMIN", "K"},
      {"ZPOPMAX", "K", "I"},
      {"ZRANGESTORE", "K", "K", "I", "I"},
      {"ZREMRANGEBYRANK", "K", "I", "I"},
      {"ZREMRANGEBYSCORE", "K", "S", "S"},
      {"ZREMRANGEBYLEX", "lex", "L", "L"},
      {"ZUNIONSTORE", "K", "2", "K", "K", "WEIGHTS", "S", "S"},
      {"ZINTERSTORE", "K", "2", "K", "K", "AGGREGATE", "MAX"},
      {"TYPE", "K"},
      {"SET", "str", "v"},
  };
  int mismatches = 0;
  for (int i = 0; i < 6000 && mismatches < 10; ++i) {
    std::vector<std::string> cmd = pick(shapes);
    for (auto& a : cmd) {
      if (a == "K")
        a = pick(keys);
      else if (a == "M")
        a = pick(members);
      else if (a == "S")
        a = pick(scores);
      else if (a == "L")
        a = pick(lex);
      else if (a == "I")
        a = pick(ints);
    }
    Reply a = ours.cmd(cmd);
    Reply b = theirs.cmd(cmd);
    bool same;
    if (unordered.count(cmd[0]) && a.type == Reply::Type::kArray && b.type == Reply::Type::kArray)
      same = sorted_strings(a) == sorted_strings(b);
    else
      same = a.render() == b.render();
    if (!same) {
      ++mismatches;
      std::string line;
      for (const auto& x : cmd)
        line += x + " ";
      FAIL_CHECK("command " << i << ": " << line << "\n ours:   " << a.render()
                            << "\n redis:  " << b.render());
    }
  }
  CHECK(mismatches == 0);
}
