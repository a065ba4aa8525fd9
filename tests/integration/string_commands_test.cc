// tests/integration/string_commands_test.cc — string and keyspace commands
// against a real kvraft-server over TCP with hiredis: replies as clients see
// them, expiry in real time (lazy and active), a 10,000-command pipeline, and
// a larger keyspace that goes through incremental rehashes while scanned.
#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_support.h"

namespace {

using ReplyPtr = std::unique_ptr<redisReply, void (*)(void*)>;

struct Conn {
  redisContext* c;
  explicit Conn(int port) : c(redisConnect("127.0.0.1", port)) {
    REQUIRE(c != nullptr);
    REQUIRE_MESSAGE(c->err == 0, c->errstr);
  }
  ~Conn() { redisFree(c); }
  ReplyPtr cmd(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
    REQUIRE_MESSAGE(r != nullptr, "connection error: " << c->errstr);
    return ReplyPtr(r, freeReplyObject);
  }
  std::string str(const std::vector<std::string>& args) {
    auto r = cmd(args);
    REQUIRE_MESSAGE((r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS),
                    "unexpected reply type " << r->type);
    return std::string(r->str, r->len);
  }
  long long integer(const std::vector<std::string>& args) {
    auto r = cmd(args);
    REQUIRE_MESSAGE(r->type == REDIS_REPLY_INTEGER, "unexpected reply type " << r->type);
    return r->integer;
  }
  std::string error(const std::vector<std::string>& args) {
    auto r = cmd(args);
    REQUIRE_MESSAGE(r->type == REDIS_REPLY_ERROR, "expected an error, got type " << r->type);
    return std::string(r->str, r->len);
  }
  bool is_nil(const std::vector<std::string>& args) { return cmd(args)->type == REDIS_REPLY_NIL; }
};

}  // namespace

TEST_CASE("string commands over the wire") {
  kvraft::test::ServerProcess server;
  Conn c(server.port());
  CHECK(c.str({"SET", "greeting", "hello"}) == "OK");
  CHECK(c.str({"GET", "greeting"}) == "hello");
  CHECK(c.integer({"APPEND", "greeting", " world"}) == 11);
  CHECK(c.str({"GETRANGE", "greeting", "-5", "-1"}) == "world");
  CHECK(c.integer({"INCRBY", "counter", "41"}) == 41);
  CHECK(c.integer({"INCR", "counter"}) == 42);
  CHECK(c.str({"INCRBYFLOAT", "counter", "0.5"}) == "42.5");
  CHECK(c.error({"INCR", "counter"}) == "ERR value is not an integer or out of range");
  CHECK(c.str({"MSET", "a", "1", "b", "2"}) == "OK");
  auto r = c.cmd({"MGET", "a", "missing", "b"});
  REQUIRE(r->type == REDIS_REPLY_ARRAY);
  REQUIRE(r->elements == 3);
  CHECK(std::string(r->element[0]->str) == "1");
  CHECK(r->element[1]->type == REDIS_REPLY_NIL);
  CHECK(std::string(r->element[2]->str) == "2");
  CHECK(c.integer({"SETBIT", "bits", "9", "1"}) == 0);
  CHECK(c.integer({"BITCOUNT", "bits"}) == 1);
  CHECK(c.integer({"BITPOS", "bits", "1"}) == 9);
  CHECK(c.str({"OBJECT", "ENCODING", "a"}) == "int");
  CHECK(c.str({"TYPE", "a"}) == "string");
  CHECK(c.error({"SET", "k", "v", "EX", "0"}) == "ERR invalid expire time in 'set' command");
  // Binary-safe values survive the round trip.
  std::string binary("a\0b\r\nc", 6);
  CHECK(c.str({"SET", "bin", binary}) == "OK");
  CHECK(c.str({"GET", "bin"}) == binary);
  CHECK(c.integer({"DEL", "a", "b", "missing"}) == 2);
  CHECK(c.is_nil({"GET", "a"}));
}

TEST_CASE("keys expire in real time, lazily and by the active cycle") {
  kvraft::test::ServerProcess server;
  Conn c(server.port());
  CHECK(c.str({"SET", "short", "v", "PX", "100"}) == "OK");
  CHECK(c.integer({"PTTL", "short"}) > 0);
  for (int i = 0; i < 50; ++i)
    c.str({"SET", "vol:" + std::to_string(i), "v", "PX", "50"});
  c.str({"SET", "forever", "v"});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(c.is_nil({"GET", "short"}));
  CHECK(c.integer({"TTL", "short"}) == -2);
  // The server's active expiry deletes the volatile keys without any access.
  long long size = -1;
  for (int i = 0; i < 50; ++i) {
    size = c.integer({"DBSIZE"});
    if (size == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(size == 1);
  CHECK(c.str({"GET", "forever"}) == "v");
}

TEST_CASE("a pipeline of 10,000 commands is answered in order") {
  kvraft::test::ServerProcess server;
  Conn c(server.port());
  constexpr int kCommands = 10000;
  for (int i = 0; i < kCommands; ++i) {
    std::string key = "p:" + std::to_string((i / 2) % 100);  // SET k, then GET k
    if (i % 2 == 0) {
      std::string value = std::to_string(i);
      const char* argv[] = {"SET", key.c_str(), value.c_str()};
      size_t lens[] = {3, key.size(), value.size()};
      REQUIRE(redisAppendCommandArgv(c.c, 3, argv, lens) == REDIS_OK);
    } else {
      const char* argv[] = {"GET", key.c_str()};
      size_t lens[] = {3, key.size()};
      REQUIRE(redisAppendCommandArgv(c.c, 2, argv, lens) == REDIS_OK);
    }
  }
  for (int i = 0; i < kCommands; ++i) {
    void* raw = nullptr;
    REQUIRE(redisGetReply(c.c, &raw) == REDIS_OK);
    ReplyPtr r(static_cast<redisReply*>(raw), freeReplyObject);
    if (i % 2 == 0) {
      REQUIRE(r->type == REDIS_REPLY_STATUS);
      CHECK(std::string(r->str) == "OK");
    } else {
      // The GET right after SET of the same key sees that SET's value.
      REQUIRE(r->type == REDIS_REPLY_STRING);
      CHECK(std::string(r->str, r->len) == std::to_string(i - 1));
    }
  }
  CHECK(c.integer({"DBSIZE"}) == 100);
}

TEST_CASE("SCAN over a growing keyspace returns every key present throughout") {
  kvraft::test::ServerProcess server;
  Conn c(server.port());
  constexpr int kKeys = 5000;
  for (int i = 0; i < kKeys; i += 500) {
    for (int j = i; j < i + 500; ++j) {
      std::string k = "s:" + std::to_string(j);
      const char* argv[] = {"SET", k.c_str(), "x"};
      size_t lens[] = {3, k.size(), 1};
      REQUIRE(redisAppendCommandArgv(c.c, 3, argv, lens) == REDIS_OK);
    }
    for (int j = 0; j < 500; ++j) {
      void* raw = nullptr;
      REQUIRE(redisGetReply(c.c, &raw) == REDIS_OK);
      freeReplyObject(raw);
    }
  }
  std::set<std::string> seen;
  std::string cursor = "0";
  int extra = 0;
  do {
    auto r = c.cmd({"SCAN", cursor, "MATCH", "s:*", "COUNT", "50"});
    REQUIRE(r->type == REDIS_REPLY_ARRAY);
    REQUIRE(r->elements == 2);
    cursor.assign(r->element[0]->str, r->element[0]->len);
    for (size_t i = 0; i < r->element[1]->elements; ++i)
      seen.emplace(r->element[1]->element[i]->str, r->element[1]->element[i]->len);
    // Keep growing the table while the scan runs.
    if (extra < 20000)
      for (int k = 0; k < 200; ++k)
        c.str({"SET", "grow:" + std::to_string(extra++), "y"});
  } while (cursor != "0");
  for (int i = 0; i < kKeys; ++i)
    REQUIRE(seen.count("s:" + std::to_string(i)) == 1);
  CHECK(c.integer({"DBSIZE"}) == kKeys + extra);
  auto keys = c.cmd({"KEYS", "s:1?"});
  CHECK(keys->elements == 10);
}

TEST_CASE("databases: SELECT, MOVE, SWAPDB, FLUSHDB") {
  kvraft::test::ServerProcess server;
  Conn c(server.port());
  CHECK(c.str({"SET", "k", "v", "EX", "100"}) == "OK");
  CHECK(c.integer({"MOVE", "k", "3"}) == 1);
  CHECK(c.str({"SELECT", "3"}) == "OK");
  CHECK(c.str({"GET", "k"}) == "v");
  CHECK(c.integer({"TTL", "k"}) > 90);
  CHECK(c.str({"SWAPDB", "3", "0"}) == "OK");
  CHECK(c.integer({"DBSIZE"}) == 0);
  CHECK(c.str({"SELECT", "0"}) == "OK");
  CHECK(c.integer({"DBSIZE"}) == 1);
  CHECK(c.str({"FLUSHDB"}) == "OK");
  CHECK(c.integer({"DBSIZE"}) == 0);
  CHECK(c.error({"MOVE", "k", "16"}) == "ERR DB index is out of range");
}
