// tests/unit/commands_keyspace_test.cc — the generic keyspace handlers (DEL,
// EXISTS, RENAME, COPY, MOVE, KEYS, SCAN, EXPIRE/TTL families, FLUSH*,
// SWAPDB, OBJECT, KVRAFT.EXPIRE-KEYS) run in-process through the command
// table, comparing exact RESP bytes with Redis 7.0's replies.
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

using kvraft::CommandSpec;
using Harness = kvraft::test::CommandHarness;
using namespace kvraft::test;

// Parses a "*N\r\n$..." array of bulk strings (the replies of KEYS and the
// second element of SCAN).
std::vector<std::string> parse_bulk_array(std::string_view r, size_t* consumed = nullptr) {
  std::vector<std::string> out;
  REQUIRE(r.substr(0, 1) == "*");
  size_t pos = r.find("\r\n");
  long n = std::stol(std::string(r.substr(1, pos - 1)));
  pos += 2;
  for (long i = 0; i < n; ++i) {
    REQUIRE(r[pos] == '$');
    size_t eol = r.find("\r\n", pos);
    size_t len = std::stoul(std::string(r.substr(pos + 1, eol - pos - 1)));
    out.emplace_back(r.substr(eol + 2, len));
    pos = eol + 2 + len + 2;
  }
  if (consumed) *consumed = pos;
  return out;
}

// Splits a SCAN reply into the next cursor and the keys.
std::pair<std::string, std::vector<std::string>> parse_scan(std::string_view r) {
  REQUIRE(r.substr(0, 4) == "*2\r\n");
  r.remove_prefix(4);
  size_t eol = r.find("\r\n");
  size_t len = std::stoul(std::string(r.substr(1, eol - 1)));
  std::string cursor(r.substr(eol + 2, len));
  r.remove_prefix(eol + 2 + len + 2);
  return {cursor, parse_bulk_array(r)};
}

}  // namespace

TEST_CASE("DEL UNLINK EXISTS TOUCH TYPE") {
  Harness h;
  h.run({"MSET", "a", "1", "b", "2", "c", "3"});
  CHECK(h.run({"EXISTS", "a", "a", "nope", "b"}) == integer(3));
  CHECK(h.run({"TOUCH", "a", "nope"}) == integer(1));
  CHECK(h.run({"TYPE", "a"}) == "+string\r\n");
  CHECK(h.run({"TYPE", "nope"}) == "+none\r\n");
  CHECK(h.run({"DEL", "a", "nope", "a"}) == integer(1));
  CHECK(h.dirty == 1);
  CHECK(h.run({"UNLINK", "b", "c"}) == integer(2));
  CHECK(h.dirty == 2);
  CHECK(h.run({"DBSIZE"}) == integer(0));
  // An expired key is not counted as deleted.
  h.run({"SET", "e", "v", "PX", "10"});
  h.now += 10;
  CHECK(h.run({"DEL", "e"}) == integer(0));
  CHECK(h.ks.size(0) == 0);
}

TEST_CASE("RENAME and RENAMENX keep the TTL and overwrite as Redis") {
  Harness h;
  CHECK(h.run({"RENAME", "nope", "x"}) == err("ERR no such key"));
  CHECK(h.run({"RENAMENX", "nope", "x"}) == err("ERR no such key"));
  h.run({"SET", "a", "1", "EX", "100"});
  h.run({"SET", "b", "2"});
  CHECK(h.run({"RENAME", "a", "a"}) == kOk);
  CHECK(h.run({"RENAMENX", "a", "a"}) == integer(0));
  CHECK(h.run({"RENAMENX", "a", "b"}) == integer(0));
  CHECK(h.run({"RENAME", "a", "b"}) == kOk);
  CHECK(h.dirty == 1);
  CHECK(h.run({"GET", "b"}) == bulk("1"));
  CHECK(h.run({"TTL", "b"}) == integer(100));
  CHECK(h.run({"EXISTS", "a"}) == integer(0));
  CHECK(h.run({"RENAMENX", "b", "c"}) == integer(1));
  CHECK(h.run({"TTL", "c"}) == integer(100));
  CHECK(h.ks.expires(0) == 1);
}

TEST_CASE("COPY within and across databases, with REPLACE") {
  Harness h;
  h.run({"SET", "src", "hello", "PX", "5000"});
  CHECK(h.run({"COPY", "src", "src"}) == err("ERR source and destination objects are the same"));
  CHECK(h.run({"COPY", "nope", "dst"}) == integer(0));
  CHECK(h.run({"COPY", "src", "dst"}) == integer(1));
  CHECK(h.run({"GET", "dst"}) == bulk("hello"));
  CHECK(h.run({"PTTL", "dst"}) == integer(5000));
  CHECK(h.run({"COPY", "src", "dst"}) == integer(0));
  h.run({"SET", "src", "world"});
  CHECK(h.run({"COPY", "src", "dst", "REPLACE"}) == integer(1));
  CHECK(h.run({"GET", "dst"}) == bulk("world"));
  CHECK(h.run({"PTTL", "dst"}) == integer(-1));
  CHECK(h.run({"COPY", "src", "src", "DB", "3"}) == integer(1));
  h.db = 3;
  CHECK(h.run({"GET", "src"}) == bulk("world"));
  h.db = 0;
  CHECK(h.run({"COPY", "src", "x", "DB", "16"}) == err("ERR DB index is out of range"));
  CHECK(h.run({"COPY", "src", "x", "DB", "abc"}) == kNotInt);
  CHECK(h.run({"COPY", "src", "x", "DB"}) == kSyntax);
  CHECK(h.run({"COPY", "src", "x", "BOGUS"}) == kSyntax);
}

TEST_CASE("MOVE between databases") {
  Harness h;
  h.run({"SET", "k", "v", "EX", "60"});
  CHECK(h.run({"MOVE", "k", "0"}) == err("ERR source and destination objects are the same"));
  CHECK(h.run({"MOVE", "k", "16"}) == err("ERR DB index is out of range"));
  CHECK(h.run({"MOVE", "k", "x"}) == kNotInt);
  CHECK(h.run({"MOVE", "k", "99999999999"}) ==
        err("ERR value is out of range, value must between -2147483648 and 2147483647"));
  CHECK(h.run({"MOVE", "nope", "1"}) == integer(0));
  CHECK(h.run({"MOVE", "k", "1"}) == integer(1));
  CHECK(h.run({"EXISTS", "k"}) == integer(0));
  h.db = 1;
  CHECK(h.run({"TTL", "k"}) == integer(60));
  h.run({"SET", "j", "in1"});
  h.db = 0;
  h.run({"SET", "j", "in0"});
  CHECK(h.run({"MOVE", "j", "1"}) == integer(0));  // exists in the target
}

TEST_CASE("SWAPDB FLUSHDB FLUSHALL DBSIZE") {
  Harness h;
  h.run({"SET", "a", "1"});
  h.db = 1;
  h.run({"MSET", "b", "2", "c", "3"});
  CHECK(h.run({"SWAPDB", "0", "1"}) == kOk);
  CHECK(h.run({"DBSIZE"}) == integer(1));
  CHECK(h.run({"GET", "a"}) == bulk("1"));
  CHECK(h.run({"SWAPDB", "x", "1"}) == err("ERR invalid first DB index"));
  CHECK(h.run({"SWAPDB", "1", "y"}) == err("ERR invalid second DB index"));
  CHECK(h.run({"SWAPDB", "0", "16"}) == err("ERR DB index is out of range"));
  CHECK(h.run({"SWAPDB", "-1", "0"}) == err("ERR DB index is out of range"));
  CHECK(h.run({"SWAPDB", "99999999999", "0"}) == err("ERR invalid first DB index"));
  CHECK(h.run({"FLUSHDB", "x"}) == kSyntax);
  CHECK(h.run({"FLUSHDB", "ASYNC", "SYNC"}) == kSyntax);
  CHECK(h.run({"FLUSHDB", "sync"}) == kOk);
  CHECK(h.dirty == 1);
  CHECK(h.run({"DBSIZE"}) == integer(0));
  h.db = 0;
  CHECK(h.run({"DBSIZE"}) == integer(2));
  CHECK(h.run({"FLUSHALL", "ASYNC"}) == kOk);
  CHECK(h.dirty == 3);
  CHECK(h.ks.total_keys() == 0);
}

TEST_CASE("EXPIRE family: options, errors, past times delete") {
  Harness h;
  CHECK(h.run({"EXPIRE", "nope", "10"}) == integer(0));
  h.run({"SET", "k", "v"});
  CHECK(h.run({"EXPIRE", "k", "10", "NX", "XX"}) ==
        err("ERR NX and XX, GT or LT options at the same time are not compatible"));
  CHECK(h.run({"EXPIRE", "k", "10", "GT", "LT"}) ==
        err("ERR GT and LT options at the same time are not compatible"));
  CHECK(h.run({"EXPIRE", "k", "10", "FOO"}) == err("ERR Unsupported option FOO"));
  CHECK(h.run({"EXPIRE", "k", "9223372036854775807"}) ==
        err("ERR invalid expire time in 'expire' command"));
  CHECK(h.run({"PEXPIRE", "k", "9223372036854775807"}) ==
        err("ERR invalid expire time in 'pexpire' command"));
  CHECK(h.run({"EXPIRE", "k", "x"}) == kNotInt);
  CHECK(h.run({"EXPIRE", "k", "100", "XX"}) == integer(0));
  CHECK(h.run({"EXPIRE", "k", "100", "GT"}) == integer(0));  // no TTL = infinite
  CHECK(h.run({"EXPIRE", "k", "100", "LT"}) == integer(1));
  CHECK(h.run({"TTL", "k"}) == integer(100));
  CHECK(h.run({"EXPIRE", "k", "50", "NX"}) == integer(0));
  CHECK(h.run({"EXPIRE", "k", "50", "GT"}) == integer(0));
  CHECK(h.run({"EXPIRE", "k", "200", "GT"}) == integer(1));
  CHECK(h.run({"PEXPIRE", "k", "1500", "LT"}) == integer(1));
  CHECK(h.run({"PTTL", "k"}) == integer(1500));
  CHECK(h.run({"TTL", "k"}) == integer(2));  // rounded like Redis
  CHECK(h.run({"EXPIREAT", "k", "1800000000"}) == integer(1));
  CHECK(h.run({"EXPIRETIME", "k"}) == integer(1800000000));
  CHECK(h.run({"PEXPIREAT", "k", "1800000000555"}) == integer(1));
  CHECK(h.run({"PEXPIRETIME", "k"}) == integer(1800000000555));
  CHECK(h.run({"PERSIST", "k"}) == integer(1));
  CHECK(h.run({"PERSIST", "k"}) == integer(0));
  CHECK(h.run({"TTL", "k"}) == integer(-1));
  CHECK(h.run({"EXPIRETIME", "k"}) == integer(-1));
  CHECK(h.run({"TTL", "nope"}) == integer(-2));
  CHECK(h.run({"PEXPIRETIME", "nope"}) == integer(-2));
  CHECK(h.run({"EXPIRE", "k", "-1"}) == integer(1));  // in the past: deleted
  CHECK(h.dirty == 1);
  CHECK(h.ks.size(0) == 0);
  h.run({"SET", "k", "v"});
  CHECK(h.run({"EXPIREAT", "k", "1"}) == integer(1));
  CHECK(h.ks.size(0) == 0);
}

TEST_CASE("KEYS and SCAN skip expired keys and honour MATCH, COUNT and TYPE") {
  Harness h;
  for (int i = 0; i < 300; ++i) {
    std::string k = "user:" + std::to_string(i);
    h.run({"SET", k, "x"});
  }
  h.run({"SET", "other", "y"});
  h.run({"SET", "gone", "z", "PX", "1"});
  h.now += 5;
  auto keys = parse_bulk_array(h.run({"KEYS", "*"}));
  CHECK(keys.size() == 301);
  CHECK(parse_bulk_array(h.run({"KEYS", "user:1?"})).size() == 10);
  CHECK(parse_bulk_array(h.run({"KEYS", "oth[a-f]r"})) == std::vector<std::string>{"other"});
  CHECK(parse_bulk_array(h.run({"KEYS", "gone"})).empty());

  std::set<std::string> seen;
  std::string cursor = "0";
  int calls = 0;
  do {
    auto [next, batch] = parse_scan(h.run({"SCAN", cursor, "MATCH", "user:*", "COUNT", "20"}));
    for (auto& k : batch) {
      CHECK(k.rfind("user:", 0) == 0);
      seen.insert(k);
    }
    cursor = next;
    ++calls;
  } while (cursor != "0");
  CHECK(seen.size() == 300);
  CHECK(calls > 1);

  auto [c2, strings] = parse_scan(h.run({"SCAN", "0", "COUNT", "1000", "TYPE", "string"}));
  CHECK(c2 == "0");
  CHECK(strings.size() == 301);
  auto [c3, lists] = parse_scan(h.run({"SCAN", "0", "COUNT", "1000", "TYPE", "list"}));
  CHECK(lists.empty());

  CHECK(h.run({"SCAN", "x"}) == err("ERR invalid cursor"));
  CHECK(h.run({"SCAN", " 0"}) == err("ERR invalid cursor"));
  CHECK(h.run({"SCAN", "18446744073709551616"}) == err("ERR invalid cursor"));
  CHECK(h.run({"SCAN", "0", "COUNT", "0"}) == kSyntax);
  CHECK(h.run({"SCAN", "0", "COUNT", "x"}) == kNotInt);
  CHECK(h.run({"SCAN", "0", "MATCH"}) == kSyntax);
  CHECK(h.run({"SCAN", "0", "BOGUS", "1"}) == kSyntax);
}

TEST_CASE("RANDOMKEY returns a live key or nil") {
  Harness h;
  CHECK(h.run({"RANDOMKEY"}) == kNil);
  h.run({"SET", "only", "v"});
  CHECK(h.run({"RANDOMKEY"}) == bulk("only"));
  h.run({"PEXPIRE", "only", "1"});
  h.now += 1;
  CHECK(h.run({"RANDOMKEY"}) == kNil);
}

TEST_CASE("OBJECT ENCODING, HELP and unknown subcommands") {
  Harness h;
  h.run({"SET", "i", "123"});
  h.run({"SET", "e", "hello"});
  h.run({"SET", "r", std::string(45, 'x')});
  CHECK(h.run({"OBJECT", "ENCODING", "i"}) == bulk("int"));
  CHECK(h.run({"object", "encoding", "e"}) == bulk("embstr"));
  CHECK(h.run({"OBJECT", "ENCODING", "r"}) == bulk("raw"));
  CHECK(h.run({"OBJECT", "ENCODING", "nope"}) == kNil);
  CHECK(h.run({"OBJECT", "FOO"}) == err("ERR unknown subcommand 'FOO'. Try OBJECT HELP."));
  CHECK(h.run({"OBJECT", "ENCODING"}) ==
        err("ERR wrong number of arguments for 'object|encoding' command"));
  CHECK(h.run({"OBJECT", "HELP"}).rfind("*12\r\n+OBJECT <subcommand>", 0) == 0);
}

TEST_CASE("KVRAFT.EXPIRE-KEYS deletes only keys expired at the record time") {
  Harness h;
  h.run({"SET", "a", "1", "PX", "100"});
  h.run({"SET", "b", "2", "PX", "300"});
  h.run({"SET", "c", "3"});
  h.now += 200;
  std::vector<std::string> expired;
  CHECK(h.ks.sample_expired(0, h.now, 20, &expired) == 2);
  CHECK(expired == std::vector<std::string>{"a"});
  CHECK(h.run({"KVRAFT.EXPIRE-KEYS", "a", "b", "c", "nope"}) == integer(1));
  CHECK(h.dirty == 1);
  CHECK(h.ks.size(0) == 2);
  CHECK(h.ks.stats().expired_keys == 1);
  const CommandSpec* spec = kvraft::command_table().find("kvraft.expire-keys");
  CHECK((spec->flags & kvraft::kCmdInternal) != 0);
  CHECK((spec->flags & kvraft::kCmdWrite) != 0);
}

TEST_CASE("write handlers are deterministic: the same records give the same keyspace") {
  // Two replicas apply the same commands with the same record times.
  Harness a, b;
  std::vector<std::vector<std::string>> log = {
      {"SET", "k", "v", "EX", "10"},
      {"INCR", "n"},
      {"APPEND", "s", "abc"},
      {"SETBIT", "bits", "99", "1"},
      {"RENAME", "k", "k2"},
      {"COPY", "k2", "k3", "DB", "2"},
      {"EXPIRE", "n", "30"},
      {"GETEX", "s", "PX", "77"},
      {"MOVE", "s", "5"},
      {"INCRBYFLOAT", "f", "1.25"},
      {"SWAPDB", "0", "2"},
      {"DEL", "k3"},
  };
  for (auto& cmd : log) {
    std::vector<std::string_view> argv(cmd.begin(), cmd.end());
    CHECK(a.run(argv) == b.run(argv));
    a.now += 7;
    b.now += 7;
  }
  auto dump = [](kvraft::storage::Keyspace& ks) {
    std::set<std::string> out;
    ks.for_each([&](int db, const kvraft::storage::Entry* e) {
      char buf[kvraft::storage::kLongStrSize];
      out.insert(std::to_string(db) + "/" + std::string(e->key()) + "=" +
                 std::string(kvraft::storage::entry_string(e, buf)) + "@" +
                 std::to_string(e->expire_at_ms()));
    });
    return out;
  };
  CHECK(dump(a.ks) == dump(b.ks));
  CHECK(dump(a.ks).size() == 5);  // k2, n, bits, f (now db 2) and s (db 5)
}

TEST_CASE("every keyspace command has complete documentation fields") {
  const std::set<std::string_view> mine = {"del",        "unlink",      "exists",
                                           "touch",      "type",        "rename",
                                           "renamenx",   "copy",        "move",
                                           "keys",       "scan",        "randomkey",
                                           "expire",     "pexpire",     "expireat",
                                           "pexpireat",  "ttl",         "pttl",
                                           "expiretime", "pexpiretime", "persist",
                                           "dbsize",     "flushdb",     "flushall",
                                           "swapdb",     "object",      "kvraft.expire-keys"};
  size_t found = 0;
  for (const auto& spec : kvraft::command_table().all()) {
    if (!mine.count(spec->name)) continue;
    ++found;
    CAPTURE(spec->name);
    CHECK(spec->arity != 0);
    CHECK(static_cast<bool>(spec->handler));
    CHECK(!spec->since.empty());
    CHECK(!spec->summary.empty());
    CHECK(!spec->group.empty());
    bool w = spec->flags & kvraft::kCmdWrite, r = spec->flags & kvraft::kCmdReadonly;
    CHECK(w != r);
  }
  CHECK(found == mine.size());
}
