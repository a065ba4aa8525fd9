// tests/support/command_harness.h — what the in-process handler tests
// (tests/unit/commands_*_test.cc) share: a Keyspace with a runner that calls
// a command's handler through the command table as the server's dispatcher
// does after its arity check, and builders of the exact RESP bytes the tests
// compare replies with (Redis 7.0's texts). One copy, so the harness and the
// expected error texts cannot drift between the command groups' tests.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply.h"
#include "src/command.h"
#include "storage/keyspace.h"

namespace kvraft::test {

// A keyspace and the ExecContext fields a handler reads. Tests set `db`,
// `now` and `protocol` directly; `dirty` holds the last command's count.
struct CommandHarness {
  storage::Keyspace ks{16};
  int db = 0;
  int64_t now = 1700000000000;  // fixed "record time"
  int64_t dirty = 0;
  int protocol = 2;

  // Runs one command and returns its reply bytes. Fails the test on an
  // unknown command or an arity the dispatcher would have refused, so a
  // test cannot pass by exercising the arity check instead of the handler.
  std::string run(const std::vector<std::string_view>& argv) {
    REQUIRE(!argv.empty());
    const CommandSpec* spec = command_table().find(argv[0]);
    REQUIRE_MESSAGE(spec != nullptr, "unknown command " << argv[0]);
    int argc = static_cast<int>(argv.size());
    REQUIRE_MESSAGE((spec->arity > 0 ? argc == spec->arity : argc >= -spec->arity),
                    "test passes a wrong arity to " << argv[0]);
    resp::ReplyWriter w(protocol);
    ExecContext ctx{ks, db, now, argv, w, spec};
    spec->handler(ctx);
    dirty = ctx.dirty;
    return std::string(w.buffer());
  }
  std::string run(std::initializer_list<std::string_view> args) {
    return run(std::vector<std::string_view>(args));
  }
  // The same, for argument vectors a test builds.
  std::string run_argv(const std::vector<std::string_view>& argv) { return run(argv); }

  // Whether `key` holds a live value in `db`.
  bool exists(std::string_view key) { return ks.peek(db, key, now) != nullptr; }

  // OBJECT ENCODING's name for the value at `key`, which must exist.
  std::string encoding(std::string_view key) {
    const auto* e = ks.peek(db, key, now);
    REQUIRE(e != nullptr);
    return std::string(storage::encoding_name(e));
  }
};

// Checks the fields COMMAND INFO / COMMAND DOCS serve for `spec`: an arity,
// a handler, documentation, and exactly one of write / readonly.
inline void check_documented(const CommandSpec& spec) {
  CAPTURE(spec.name);
  CHECK(spec.arity != 0);
  CHECK(static_cast<bool>(spec.handler));
  CHECK(!spec.since.empty());
  CHECK(!spec.summary.empty());
  CHECK(!spec.syntax.empty());
  CHECK(((spec.flags & kCmdWrite) != 0) != ((spec.flags & kCmdReadonly) != 0));
}

// RESP2 bulk string.
inline std::string bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}
// RESP integer.
inline std::string integer(int64_t v) {
  return ":" + std::to_string(v) + "\r\n";
}
// RESP error; `s` is the text without the leading '-'.
inline std::string err(std::string_view s) {
  return "-" + std::string(s) + "\r\n";
}
// RESP2 array of already encoded elements.
inline std::string arr(std::initializer_list<std::string> items) {
  std::string out = "*" + std::to_string(items.size()) + "\r\n";
  for (const auto& i : items)
    out += i;
  return out;
}
// RESP2 array of bulk strings.
inline std::string bulk_arr(std::initializer_list<std::string_view> items) {
  std::string out = "*" + std::to_string(items.size()) + "\r\n";
  for (std::string_view s : items)
    out += bulk(s);
  return out;
}

inline const std::string kOk = "+OK\r\n";
inline const std::string kNil = "$-1\r\n";
inline const std::string kEmpty = "*0\r\n";
inline const std::string kWrongType =
    "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
inline const std::string kNotInt = "-ERR value is not an integer or out of range\r\n";
inline const std::string kNotFloat = "-ERR value is not a valid float\r\n";
inline const std::string kSyntax = "-ERR syntax error\r\n";
inline const std::string kPositive = "-ERR value is out of range, must be positive\r\n";

}  // namespace kvraft::test
