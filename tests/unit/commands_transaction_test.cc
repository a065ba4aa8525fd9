// tests/unit/commands_transaction_test.cc — KVRAFT.EXEC and
// KVRAFT.FINGERPRINT, the replicated forms of EXEC and WATCH, run in-process
// through the command table against a Keyspace: the WATCH check at apply
// time, SELECT inside a transaction, runtime errors as array elements,
// refusal of malformed records; and the storage fingerprint they rely on.
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "resp/reply.h"
#include "src/command.h"
#include "storage/fingerprint.h"
#include "storage/keyspace.h"

namespace {

using kvraft::CommandSpec;
using kvraft::ExecContext;

struct Harness {
  kvraft::storage::Keyspace ks{16};
  int64_t now = 1700000000000;
  int64_t dirty = 0;

  std::string run(std::vector<std::string> args, int db = 0) {
    std::vector<std::string_view> argv(args.begin(), args.end());
    const CommandSpec* spec = kvraft::command_table().find(argv[0]);
    REQUIRE(spec != nullptr);
    kvraft::resp::ReplyWriter w;
    ExecContext ctx{ks, db, now, argv, w, spec};
    spec->handler(ctx);
    dirty = ctx.dirty;
    return std::string(w.buffer());
  }
  std::string fingerprint(const std::string& key, int db = 0) {
    return kvraft::storage::key_fingerprint(ks, db, key, now);
  }
};

// KVRAFT.EXEC's arguments for `commands` in db 0 with `watches` (db 0).
std::vector<std::string> exec_argv(const std::vector<std::pair<std::string, std::string>>& watches,
                                   const std::vector<std::vector<std::string>>& commands) {
  std::vector<std::string> a = {"KVRAFT.EXEC", "0", std::to_string(watches.size())};
  for (const auto& [key, fp] : watches) {
    a.push_back("0");
    a.push_back(key);
    a.push_back(fp);
  }
  a.push_back(std::to_string(commands.size()));
  for (const auto& c : commands) {
    a.push_back(std::to_string(c.size()));
    a.insert(a.end(), c.begin(), c.end());
  }
  return a;
}

}  // namespace

TEST_CASE("KVRAFT.EXEC runs every command and replies their array") {
  Harness h;
  CHECK(h.run(exec_argv({}, {{"INCR", "n"}, {"INCR", "n"}, {"GET", "n"}})) ==
        "*3\r\n:1\r\n:2\r\n$1\r\n2\r\n");
  CHECK(h.dirty == 2);
}

TEST_CASE("runtime errors are elements and do not stop the transaction") {
  Harness h;
  h.run({"SET", "s", "text"});
  CHECK(h.run(exec_argv({}, {{"INCR", "s"}, {"SET", "t", "1"}, {"LPUSH", "s", "x"}})) ==
        "*3\r\n-ERR value is not an integer or out of range\r\n+OK\r\n-WRONGTYPE Operation "
        "against a key holding the wrong kind of value\r\n");
  CHECK(h.run({"GET", "t"}) == "$1\r\n1\r\n");
}

TEST_CASE("SELECT inside a transaction switches the database of the commands after it") {
  Harness h;
  CHECK(h.run(exec_argv({}, {{"SELECT", "x"},
                             {"SELECT", "16"},
                             {"SELECT", "2"},
                             {"SET", "k", "v"},
                             {"PING"},
                             {"ECHO", "e"},
                             {"UNWATCH"}})) ==
        "*7\r\n-ERR value is not an integer or out of range\r\n-ERR DB index is out of "
        "range\r\n+OK\r\n+OK\r\n+PONG\r\n$1\r\ne\r\n+OK\r\n");
  CHECK(h.run({"EXISTS", "k"}, 0) == ":0\r\n");
  CHECK(h.run({"EXISTS", "k"}, 2) == ":1\r\n");
}

TEST_CASE("a watched key whose state changed aborts the transaction unapplied") {
  Harness h;
  h.run({"SET", "w", "1"});
  std::string fp = h.fingerprint("w");
  CHECK(fp.size() == 32);
  h.run({"SET", "w", "2"});
  CHECK(h.run(exec_argv({{"w", fp}}, {{"SET", "other", "x"}})) == "*-1\r\n");
  CHECK(h.run({"EXISTS", "other"}) == ":0\r\n");
  // The state it has now lets the transaction through.
  CHECK(h.run(exec_argv({{"w", h.fingerprint("w")}}, {{"SET", "other", "x"}})) == "*1\r\n+OK\r\n");
  // An absent key is fingerprinted as "", and creating it is a change.
  CHECK(h.fingerprint("absent").empty());
  h.run({"SET", "absent", "now"});
  CHECK(h.run(exec_argv({{"absent", ""}}, {{"PING"}})) == "*-1\r\n");
}

TEST_CASE("a watched key that expires before the transaction is applied aborts it") {
  Harness h;
  h.run({"SET", "e", "v", "PX", "100"});
  std::string fp = h.fingerprint("e");
  CHECK_FALSE(fp.empty());
  h.now += 200;  // the record's time is past the expiry: the key reads as absent
  CHECK(h.fingerprint("e").empty());
  CHECK(h.run(exec_argv({{"e", fp}}, {{"PING"}})) == "*-1\r\n");
  // Watching it once already expired, nothing changed.
  CHECK(h.run(exec_argv({{"e", ""}}, {{"PING"}})) == "*1\r\n+PONG\r\n");
}

TEST_CASE("KVRAFT.EXEC refuses malformed arguments and commands not allowed in transactions") {
  Harness h;
  const std::string bad = "-ERR malformed KVRAFT.EXEC\r\n";
  CHECK(h.run({"KVRAFT.EXEC", "0", "0", "1"}) == bad);                        // missing command
  CHECK(h.run({"KVRAFT.EXEC", "0", "0", "1", "5", "GET", "k"}) == bad);       // argc too large
  CHECK(h.run({"KVRAFT.EXEC", "0", "9", "1", "1", "PING"}) == bad);           // watch count
  CHECK(h.run({"KVRAFT.EXEC", "99", "0", "1", "1", "PING"}) == bad);          // bad db
  CHECK(h.run({"KVRAFT.EXEC", "0", "0", "1", "1", "PING", "extra"}) == bad);  // trailing
  CHECK(h.run({"KVRAFT.EXEC", "0", "0", "1", "0"}) == bad);                   // empty command
  CHECK(h.run(exec_argv({}, {{"SAVE"}, {"KVRAFT.EXEC", "0", "0", "0"}, {"GET"}, {"NOPE"}})) ==
        "*4\r\n-ERR Command not allowed inside a transaction\r\n-ERR Command not allowed "
        "inside a transaction\r\n-ERR wrong number of arguments for 'get' command\r\n-ERR "
        "Command not allowed inside a transaction\r\n");
}

TEST_CASE("KVRAFT.FINGERPRINT replies one fingerprint per key") {
  Harness h;
  h.run({"SET", "a", "1"});
  std::string fp = h.fingerprint("a");
  CHECK(h.run({"KVRAFT.FINGERPRINT", "a", "missing"}) == "*2\r\n$32\r\n" + fp + "\r\n$0\r\n\r\n");
}

TEST_CASE("fingerprints follow type, value and expiry, not layout or insertion order") {
  Harness h;
  // The same set or hash built in different orders and encodings.
  h.run({"SADD", "s1", "a", "b", "c"});
  h.run({"SADD", "s2", "c", "b", "a"});
  CHECK(h.fingerprint("s1") == h.fingerprint("s2"));
  std::vector<std::string> big1 = {"SADD", "big1"}, big2 = {"SADD", "big2"};
  for (int i = 0; i < 300; ++i) {
    big1.push_back("m" + std::to_string(i));
    big2.push_back("m" + std::to_string(299 - i));
  }
  h.run(big1);
  h.run(big2);
  CHECK(h.fingerprint("big1") == h.fingerprint("big2"));
  h.run({"SADD", "ints", "3", "1", "2"});
  h.run({"SADD", "ints2", "1", "2", "3"});
  CHECK(h.fingerprint("ints") == h.fingerprint("ints2"));
  h.run({"HSET", "h1", "f", "v", "g", "w"});
  h.run({"HSET", "h2", "g", "w", "f", "v"});
  CHECK(h.fingerprint("h1") == h.fingerprint("h2"));
  h.run({"HSET", "h3", "f", "w", "g", "v"});  // same fields and values, paired differently
  CHECK(h.fingerprint("h1") != h.fingerprint("h3"));
  // Lists are ordered; types differ; the expiry counts.
  h.run({"RPUSH", "l1", "a", "b"});
  h.run({"RPUSH", "l2", "b", "a"});
  CHECK(h.fingerprint("l1") != h.fingerprint("l2"));
  h.run({"SET", "str", "a"});
  h.run({"SADD", "set", "a"});
  CHECK(h.fingerprint("str") != h.fingerprint("set"));
  std::string before = h.fingerprint("str");
  h.run({"PEXPIRE", "str", "100000"});
  CHECK(h.fingerprint("str") != before);
  h.run({"PERSIST", "str"});
  CHECK(h.fingerprint("str") == before);
  h.run({"ZADD", "z", "1", "a", "2", "b"});
  std::string z = h.fingerprint("z");
  h.run({"ZADD", "z", "3", "a"});
  CHECK(h.fingerprint("z") != z);
  // An integer-encoded string and the same digits as text are the same value.
  h.run({"SET", "i1", "12345"});
  h.run({"APPEND", "i2", "12345"});
  CHECK(h.fingerprint("i1") == h.fingerprint("i2"));
}
