// tests/unit/commands_zset_test.cc — the SORTED SET handlers run in-process
// through the command table against a Keyspace, comparing exact RESP bytes
// of replies and errors with Redis 7's (checked against redis-server),
// in RESP2 and, where the shape differs, RESP3.
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

// a=1 b=2 c=3 d=4 e=5
void abcde(Harness& h) {
  h.run({"ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"});
}

}  // namespace

TEST_CASE("ZADD: options and their errors, replies, dirty") {
  Harness h;
  CHECK(h.run({"ZADD", "z", "NX", "1"}) == kSyntax);
  CHECK(h.run({"ZADD", "z", "1", "a", "2"}) == kSyntax);
  CHECK(h.run({"ZADD", "z", "NX", "XX", "1", "a"}) ==
        err("ERR XX and NX options at the same time are not compatible"));
  CHECK(h.run({"ZADD", "z", "NX", "GT", "1", "a"}) ==
        err("ERR GT, LT, and/or NX options at the same time are not compatible"));
  CHECK(h.run({"ZADD", "z", "GT", "LT", "1", "a"}) ==
        err("ERR GT, LT, and/or NX options at the same time are not compatible"));
  CHECK(h.run({"ZADD", "z", "INCR", "1", "a", "2", "b"}) ==
        err("ERR INCR option supports a single increment-element pair"));
  CHECK(h.run({"ZADD", "z", "nan", "a"}) == kNotFloat);
  CHECK(h.run({"ZADD", "z", " 1", "a"}) == kNotFloat);
  CHECK(h.run({"ZADD", "z", "1", "a", "x", "b"}) == kNotFloat);
  CHECK(h.run({"EXISTS", "z"}) == integer(0));
  CHECK(h.run({"ZADD", "z", "XX", "1", "a"}) == integer(0));
  CHECK(h.run({"EXISTS", "z"}) == integer(0));
  CHECK(h.run({"ZADD", "z", "1", "a", "2", "b"}) == integer(2));
  CHECK(h.dirty == 2);
  CHECK(h.run({"ZADD", "z", "CH", "5", "a", "2", "b", "3", "c"}) == integer(2));
  CHECK(h.dirty == 2);
  CHECK(h.run({"ZADD", "z", "GT", "CH", "0", "a", "6", "b"}) == integer(1));
  CHECK(h.run({"ZADD", "z", "LT", "1", "b"}) == integer(0));
  CHECK(h.run({"ZSCORE", "z", "b"}) == bulk("1"));
  CHECK(h.run({"ZADD", "z", "INCR", "GT", "0", "a"}) == kNil);
  CHECK(h.run({"ZADD", "z", "INCR", "NX", "1", "a"}) == kNil);
  CHECK(h.run({"ZADD", "z", "INCR", "1.5", "a"}) == bulk("6.5"));
  CHECK(h.run({"ZADD", "z", "XX", "INCR", "1", "new"}) == kNil);
  CHECK(h.run({"ZADD", "z", "inf", "i"}) == integer(1));
  CHECK(h.run({"ZADD", "z", "INCR", "-inf", "i"}) ==
        err("ERR resulting score is not a number (NaN)"));
  CHECK(h.run({"ZSCORE", "z", "i"}) == bulk("inf"));
}

TEST_CASE("ZINCRBY, ZSCORE, ZMSCORE formatting like Redis (%.17g, RESP3 doubles)") {
  Harness h;
  CHECK(h.run({"ZINCRBY", "z", "x", "a"}) == kNotFloat);
  CHECK(h.run({"ZINCRBY", "z", "1.1", "a"}) == bulk("1.1000000000000001"));
  CHECK(h.run({"ZINCRBY", "z", "-1.1", "a"}) == bulk("0"));
  CHECK(h.run({"ZINCRBY", "z", "1e300", "b"}) == bulk("1.0000000000000001e+300"));
  CHECK(h.run({"ZSCORE", "z", "nope"}) == kNil);
  CHECK(h.run({"ZSCORE", "nope", "a"}) == kNil);
  CHECK(h.run({"ZMSCORE", "z", "a", "x", "b"}) ==
        arr({bulk("0"), kNil, bulk("1.0000000000000001e+300")}));
  CHECK(h.run({"ZMSCORE", "nope", "a", "b"}) == arr({kNil, kNil}));
  h.protocol = 3;
  CHECK(h.run({"ZSCORE", "z", "a"}) == ",0\r\n");
  CHECK(h.run({"ZINCRBY", "z", "-inf", "a"}) == ",-inf\r\n");
  CHECK(h.run({"ZMSCORE", "z", "a", "x"}) == "*2\r\n,-inf\r\n_\r\n");
}

TEST_CASE("ZREM ZCARD, deletion when emptied, WRONGTYPE everywhere") {
  Harness h;
  abcde(h);
  CHECK(h.run({"ZCARD", "z"}) == integer(5));
  CHECK(h.run({"ZCARD", "nope"}) == integer(0));
  CHECK(h.run({"ZREM", "z", "a", "x", "a"}) == integer(1));
  CHECK(h.dirty == 1);
  CHECK(h.run({"ZREM", "nope", "a"}) == integer(0));
  CHECK(h.run({"ZREM", "z", "b", "c", "d", "e"}) == integer(4));
  CHECK(h.run({"EXISTS", "z"}) == integer(0));

  h.run({"SET", "str", "v"});
  for (auto cmd : std::vector<std::vector<std::string_view>>{
           {"ZADD", "str", "1", "a"},
           {"ZINCRBY", "str", "1", "a"},
           {"ZREM", "str", "a"},
           {"ZCARD", "str"},
           {"ZSCORE", "str", "a"},
           {"ZMSCORE", "str", "a"},
           {"ZRANK", "str", "a"},
           {"ZREVRANK", "str", "a"},
           {"ZRANGE", "str", "0", "-1"},
           {"ZRANGESTORE", "d", "str", "0", "-1"},
           {"ZREVRANGE", "str", "0", "-1"},
           {"ZRANGEBYSCORE", "str", "0", "1"},
           {"ZREVRANGEBYSCORE", "str", "1", "0"},
           {"ZRANGEBYLEX", "str", "-", "+"},
           {"ZREVRANGEBYLEX", "str", "+", "-"},
           {"ZCOUNT", "str", "0", "1"},
           {"ZLEXCOUNT", "str", "-", "+"},
           {"ZPOPMIN", "str"},
           {"ZPOPMAX", "str", "2"},
           {"ZREMRANGEBYRANK", "str", "0", "1"},
           {"ZREMRANGEBYSCORE", "str", "0", "1"},
           {"ZREMRANGEBYLEX", "str", "-", "+"},
           {"ZUNIONSTORE", "d", "1", "str"},
           {"ZINTERSTORE", "d", "1", "str"},
           {"ZSCAN", "str", "0"},
       })
    CHECK_MESSAGE(h.run(cmd) == kWrongType, cmd[0]);
}

TEST_CASE("ZRANK ZREVRANK with and without WITHSCORE") {
  Harness h;
  abcde(h);
  CHECK(h.run({"ZRANK", "z", "a"}) == integer(0));
  CHECK(h.run({"ZREVRANK", "z", "a"}) == integer(4));
  CHECK(h.run({"ZRANK", "z", "x"}) == kNil);
  CHECK(h.run({"ZRANK", "nope", "x"}) == kNil);
  CHECK(h.run({"ZRANK", "z", "c", "WITHSCORE"}) == arr({integer(2), bulk("3")}));
  CHECK(h.run({"ZREVRANK", "z", "c", "withscore"}) == arr({integer(2), bulk("3")}));
  CHECK(h.run({"ZRANK", "z", "x", "WITHSCORE"}) == "*-1\r\n");
  CHECK(h.run({"ZRANK", "z", "c", "foo"}) == kSyntax);
  CHECK(h.run({"ZRANK", "z", "c", "WITHSCORE", "x"}) ==
        err("ERR wrong number of arguments for 'zrank' command"));
}

TEST_CASE("ZRANGE by rank: boundaries, REV, WITHSCORES in RESP2 and RESP3") {
  Harness h;
  abcde(h);
  CHECK(h.run({"ZRANGE", "z", "0", "-1"}) ==
        arr({bulk("a"), bulk("b"), bulk("c"), bulk("d"), bulk("e")}));
  CHECK(h.run({"ZRANGE", "z", "-2", "100"}) == arr({bulk("d"), bulk("e")}));
  CHECK(h.run({"ZRANGE", "z", "-100", "0"}) == arr({bulk("a")}));
  CHECK(h.run({"ZRANGE", "z", "3", "2"}) == kEmpty);
  CHECK(h.run({"ZRANGE", "z", "5", "10"}) == kEmpty);
  CHECK(h.run({"ZRANGE", "nope", "0", "-1"}) == kEmpty);
  CHECK(h.run({"ZRANGE", "z", "0", "1", "REV"}) == arr({bulk("e"), bulk("d")}));
  CHECK(h.run({"ZREVRANGE", "z", "0", "1", "WITHSCORES"}) ==
        arr({bulk("e"), bulk("5"), bulk("d"), bulk("4")}));
  CHECK(h.run({"ZRANGE", "z", "x", "1"}) == kNotInt);
  CHECK(h.run({"ZRANGE", "z", "0", "1", "LIMIT", "0", "1"}) ==
        err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or "
            "BYLEX"));
  // Redis only notices a LIMIT whose count is not -1.
  CHECK(h.run({"ZRANGE", "z", "0", "0", "LIMIT", "0", "-1"}) == arr({bulk("a")}));
  CHECK(h.run({"ZRANGE", "z", "0", "1", "FOO"}) == kSyntax);
  CHECK(h.run({"ZREVRANGE", "z", "0", "1", "REV"}) == kSyntax);
  h.protocol = 3;
  CHECK(h.run({"ZRANGE", "z", "0", "1", "WITHSCORES"}) ==
        "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n");
}

TEST_CASE("ZRANGE BYSCORE / ZRANGEBYSCORE / ZREVRANGEBYSCORE with exclusive and infinite bounds") {
  Harness h;
  abcde(h);
  CHECK(h.run({"ZRANGEBYSCORE", "z", "(1", "3"}) == arr({bulk("b"), bulk("c")}));
  CHECK(h.run({"ZRANGEBYSCORE", "z", "-inf", "(2"}) == arr({bulk("a")}));
  CHECK(h.run({"ZRANGEBYSCORE", "z", "(4", "+inf", "WITHSCORES"}) == arr({bulk("e"), bulk("5")}));
  CHECK(h.run({"ZRANGEBYSCORE", "z", "3", "1"}) == kEmpty);
  CHECK(h.run({"ZRANGEBYSCORE", "z", "(3", "(3"}) == kEmpty);
  CHECK(h.run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "2"}) ==
        arr({bulk("b"), bulk("c")}));
  CHECK(h.run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "4", "-1"}) == arr({bulk("e")}));
  CHECK(h.run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "5", "1"}) == kEmpty);
  CHECK(h.run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "-1", "1"}) == kEmpty);
  CHECK(h.run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "0", "0"}) == kEmpty);
  CHECK(h.run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "x", "0"}) == kNotInt);
  CHECK(h.run({"ZRANGEBYSCORE", "z", "a", "1"}) == err("ERR min or max is not a float"));
  CHECK(h.run({"ZRANGEBYSCORE", "z", "1", "nan"}) == err("ERR min or max is not a float"));
  CHECK(h.run({"ZRANGEBYSCORE", "z", "0", "1", "BYSCORE"}) == kSyntax);
  CHECK(h.run({"ZREVRANGEBYSCORE", "z", "4", "(2"}) == arr({bulk("d"), bulk("c")}));
  CHECK(h.run({"ZREVRANGEBYSCORE", "z", "+inf", "-inf", "LIMIT", "1", "1", "WITHSCORES"}) ==
        arr({bulk("d"), bulk("4")}));
  CHECK(h.run({"ZRANGE", "z", "(1", "3", "BYSCORE", "REV"}) == kEmpty);
  CHECK(h.run({"ZRANGE", "z", "3", "(1", "BYSCORE", "REV", "WITHSCORES"}) ==
        arr({bulk("c"), bulk("3"), bulk("b"), bulk("2")}));
  CHECK(h.run({"ZRANGE", "z", "a", "b", "BYSCORE"}) == err("ERR min or max is not a float"));
  CHECK(h.run({"ZRANGEBYSCORE", "nope", "-inf", "+inf"}) == kEmpty);
}

TEST_CASE("ZRANGE BYLEX / ZRANGEBYLEX / ZREVRANGEBYLEX / ZLEXCOUNT") {
  Harness h;
  h.run({"ZADD", "z", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e"});
  CHECK(h.run({"ZRANGEBYLEX", "z", "-", "(c"}) == arr({bulk("a"), bulk("b")}));
  CHECK(h.run({"ZRANGEBYLEX", "z", "[b", "[d", "LIMIT", "1", "5"}) == arr({bulk("c"), bulk("d")}));
  CHECK(h.run({"ZRANGEBYLEX", "z", "+", "-"}) == kEmpty);
  CHECK(h.run({"ZREVRANGEBYLEX", "z", "+", "(c"}) == arr({bulk("e"), bulk("d")}));
  CHECK(h.run({"ZRANGE", "z", "[d", "-", "BYLEX", "REV"}) ==
        arr({bulk("d"), bulk("c"), bulk("b"), bulk("a")}));
  CHECK(h.run({"ZRANGEBYLEX", "z", "a", "+"}) == err("ERR min or max not valid string range item"));
  CHECK(h.run({"ZRANGE", "z", "a", "b", "BYLEX"}) ==
        err("ERR min or max not valid string range item"));
  CHECK(h.run({"ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"}) ==
        err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
  CHECK(h.run({"ZRANGEBYLEX", "z", "-", "+", "WITHSCORES"}) ==
        err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
  CHECK(h.run({"ZLEXCOUNT", "z", "[b", "(e"}) == integer(3));
  CHECK(h.run({"ZLEXCOUNT", "z", "-", "+"}) == integer(5));
  CHECK(h.run({"ZLEXCOUNT", "z", "x", "+"}) == err("ERR min or max not valid string range item"));
  CHECK(h.run({"ZLEXCOUNT", "nope", "-", "+"}) == integer(0));
}

TEST_CASE("ZCOUNT") {
  Harness h;
  abcde(h);
  CHECK(h.run({"ZCOUNT", "z", "-inf", "+inf"}) == integer(5));
  CHECK(h.run({"ZCOUNT", "z", "(1", "(5"}) == integer(3));
  CHECK(h.run({"ZCOUNT", "z", "6", "7"}) == integer(0));
  CHECK(h.run({"ZCOUNT", "z", "x", "7"}) == err("ERR min or max is not a float"));
  CHECK(h.run({"ZCOUNT", "nope", "0", "1"}) == integer(0));
}

TEST_CASE("ZPOPMIN ZPOPMAX: counts, errors, RESP3 nesting, deletion") {
  Harness h;
  CHECK(h.run({"ZPOPMIN", "nope"}) == kEmpty);
  CHECK(h.run({"ZPOPMIN", "nope", "2"}) == kEmpty);
  abcde(h);
  CHECK(h.run({"ZPOPMIN", "z", "-1"}) == err("ERR value is out of range, must be positive"));
  CHECK(h.run({"ZPOPMIN", "z", "x"}) == err("ERR value is out of range, must be positive"));
  CHECK(h.run({"ZPOPMIN", "z", "1", "2"}) == kSyntax);
  CHECK(h.run({"ZPOPMIN", "z", "0"}) == kEmpty);
  CHECK(h.run({"ZPOPMIN", "z"}) == arr({bulk("a"), bulk("1")}));
  CHECK(h.dirty == 1);
  CHECK(h.run({"ZPOPMAX", "z", "2"}) == arr({bulk("e"), bulk("5"), bulk("d"), bulk("4")}));
  CHECK(h.dirty == 2);
  h.protocol = 3;
  CHECK(h.run({"ZPOPMAX", "z"}) == "*2\r\n$1\r\nc\r\n,3\r\n");
  CHECK(h.run({"ZPOPMIN", "z", "5"}) == "*1\r\n*2\r\n$1\r\nb\r\n,2\r\n");
  CHECK(h.run({"EXISTS", "z"}) == integer(0));
}

TEST_CASE("ZREMRANGEBYRANK / BYSCORE / BYLEX") {
  Harness h;
  abcde(h);
  CHECK(h.run({"ZREMRANGEBYRANK", "z", "x", "1"}) == kNotInt);
  CHECK(h.run({"ZREMRANGEBYRANK", "nope", "0", "1"}) == integer(0));
  CHECK(h.run({"ZREMRANGEBYRANK", "z", "3", "2"}) == integer(0));
  CHECK(h.run({"ZREMRANGEBYRANK", "z", "-1", "100"}) == integer(1));
  CHECK(h.dirty == 1);
  CHECK(h.run({"ZREMRANGEBYSCORE", "z", "x", "1"}) == err("ERR min or max is not a float"));
  CHECK(h.run({"ZREMRANGEBYSCORE", "z", "(1", "2"}) == integer(1));
  CHECK(h.run({"ZRANGE", "z", "0", "-1"}) == arr({bulk("a"), bulk("c"), bulk("d")}));
  CHECK(h.run({"ZREMRANGEBYLEX", "z", "x", "+"}) ==
        err("ERR min or max not valid string range item"));
  CHECK(h.run({"ZREMRANGEBYLEX", "z", "-", "+"}) == integer(3));
  CHECK(h.run({"EXISTS", "z"}) == integer(0));
}

TEST_CASE("ZRANGESTORE") {
  Harness h;
  abcde(h);
  h.run({"SET", "dst", "x"});
  CHECK(h.run({"ZRANGESTORE", "dst", "z", "1", "2"}) == integer(2));
  CHECK(h.run({"ZRANGE", "dst", "0", "-1", "WITHSCORES"}) ==
        arr({bulk("b"), bulk("2"), bulk("c"), bulk("3")}));
  CHECK(h.run({"ZRANGESTORE", "dst", "z", "(3", "+inf", "BYSCORE", "LIMIT", "0", "1"}) ==
        integer(1));
  CHECK(h.run({"ZRANGE", "dst", "0", "-1"}) == arr({bulk("d")}));
  CHECK(h.run({"ZRANGESTORE", "dst", "z", "0", "-1", "WITHSCORES"}) == kSyntax);
  CHECK(h.run({"ZRANGESTORE", "dst", "nope", "0", "-1"}) == integer(0));
  CHECK(h.dirty == 1);
  CHECK(h.run({"EXISTS", "dst"}) == integer(0));
  CHECK(h.run({"ZRANGESTORE", "dst", "z", "9", "10"}) == integer(0));
  CHECK(h.dirty == 0);
}

TEST_CASE("ZUNIONSTORE ZINTERSTORE: weights, aggregate, plain sets as inputs") {
  Harness h;
  h.run({"ZADD", "z1", "1", "a", "2", "b"});
  h.run({"ZADD", "z2", "10", "b", "20", "c"});
  h.run({"SADD", "s", "a", "c"});
  CHECK(h.run({"ZUNIONSTORE", "d", "0", "z1"}) ==
        err("ERR at least 1 input key is needed for 'zunionstore' command"));
  CHECK(h.run({"ZUNIONSTORE", "d", "3", "z1"}) == kSyntax);
  CHECK(h.run({"ZUNIONSTORE", "d", "1", "z1", "WEIGHTS", "x"}) ==
        err("ERR weight value is not a float"));
  CHECK(h.run({"ZUNIONSTORE", "d", "1", "z1", "AGGREGATE", "avg"}) == kSyntax);
  CHECK(h.run({"ZUNIONSTORE", "d", "2", "z1", "z2"}) == integer(3));
  CHECK(h.run({"ZRANGE", "d", "0", "-1", "WITHSCORES"}) ==
        arr({bulk("a"), bulk("1"), bulk("b"), bulk("12"), bulk("c"), bulk("20")}));
  CHECK(h.run({"ZINTERSTORE", "d", "2", "z1", "z2", "WEIGHTS", "2", "1", "AGGREGATE", "MAX"}) ==
        integer(1));
  CHECK(h.run({"ZRANGE", "d", "0", "-1", "WITHSCORES"}) == arr({bulk("b"), bulk("10")}));
  CHECK(h.run({"ZINTERSTORE", "d", "2", "z1", "s"}) == integer(1));
  CHECK(h.run({"ZRANGE", "d", "0", "-1", "WITHSCORES"}) == arr({bulk("a"), bulk("2")}));
  CHECK(h.run({"ZINTERSTORE", "d", "2", "z1", "nope"}) == integer(0));
  CHECK(h.run({"EXISTS", "d"}) == integer(0));
}

TEST_CASE("encodings: listpack converts to skiplist and ZRANGESTORE builds small again") {
  Harness h;
  h.run({"ZADD", "z", "1", "a"});
  CHECK(h.encoding("z") == "listpack");
  CHECK(h.run({"OBJECT", "ENCODING", "z"}) == bulk("listpack"));
  std::string long_member(65, 'x');
  h.run({"ZADD", "z", "2", long_member});
  CHECK(h.encoding("z") == "skiplist");
  CHECK(h.run({"TYPE", "z"}) == "+zset\r\n");
  CHECK(h.run({"ZRANGESTORE", "small", "z", "0", "0"}) == integer(1));
  CHECK(h.encoding("small") == "listpack");
  std::vector<std::string> args;
  for (int i = 0; i < 129; ++i) {
    args.push_back(std::to_string(i));
    args.push_back("m" + std::to_string(i));
  }
  std::vector<std::string_view> argv{"ZADD", "big"};
  for (const auto& a : args)
    argv.push_back(a);
  CHECK(h.run(argv) == integer(129));
  CHECK(h.encoding("big") == "skiplist");
  CHECK(h.run({"ZRANK", "big", "m100"}) == integer(100));
  CHECK(h.run({"ZRANGE", "big", "127", "128"}) == arr({bulk("m127"), bulk("m128")}));
  CHECK(h.run({"COPY", "big", "big2"}) == integer(1));
  CHECK(h.run({"ZREM", "big2", "m0"}) == integer(1));
  CHECK(h.run({"ZCARD", "big"}) == integer(129));
  CHECK(h.run({"ZCARD", "big2"}) == integer(128));
}

TEST_CASE("ZSCAN") {
  Harness h;
  CHECK(h.run({"ZSCAN", "nope", "0"}) == "*2\r\n$1\r\n0\r\n*0\r\n");
  CHECK(h.run({"ZSCAN", "nope", "x"}) == err("ERR invalid cursor"));
  h.run({"ZADD", "z", "1", "a", "1.1", "b", "inf", "c"});
  CHECK(h.run({"ZSCAN", "z", "0"}) ==
        "*2\r\n$1\r\n0\r\n" + arr({bulk("a"), bulk("1"), bulk("b"), bulk("1.1000000000000001"),
                                   bulk("c"), bulk("inf")}));
  CHECK(h.run({"ZSCAN", "z", "0", "MATCH", "b"}) ==
        "*2\r\n$1\r\n0\r\n" + arr({bulk("b"), bulk("1.1000000000000001")}));
  CHECK(h.run({"ZSCAN", "z", "0", "COUNT", "0"}) == kSyntax);
  CHECK(h.run({"ZSCAN", "z", "0", "NOVALUES"}) == kSyntax);
}

TEST_CASE("every set and sorted set command is registered with complete documentation") {
  size_t sets = 0, zsets = 0;
  for (const auto& spec : kvraft::command_table().all()) {
    if (spec->group != "set" && spec->group != "sorted-set") continue;
    (spec->group == "set" ? sets : zsets)++;
    check_documented(*spec);
    CAPTURE(spec->name);
    // SINTERCARD's keys follow numkeys (Redis marks it movablekeys).
    CHECK(spec->first_key == (spec->name == "sintercard" ? 0 : 1));
  }
  CHECK(sets == 17);
  CHECK(zsets == 25);
}
