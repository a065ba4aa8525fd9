// tests/unit/resp_parser_test.cc — RequestParser against redis-server 7's
// behaviour: multibulk and inline requests, quoting, every limit and error
// text, requests split at every byte boundary, resumable progress (large
// commands fed in tiny pieces stay linear) and garbage that must not crash.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "resp/parser.h"

using kvraft::resp::Argv;
using kvraft::resp::ParserLimits;
using kvraft::resp::ParseStatus;
using kvraft::resp::RequestParser;

namespace {

using Command = std::vector<std::string>;

// What a connection would see: the commands it runs and the error, if any.
struct Outcome {
  std::vector<Command> commands;
  std::string error;
  size_t pending = 0;  // bytes left unconsumed at the end (0 after an error)

  bool operator==(const Outcome&) const = default;
};

// Feeds `input` to a parser in pieces of the given sizes (the remainder in
// one last piece), the way a connection does: append, parse until
// incomplete, drop consumed bytes. Empty commands are kept (as {}), so a
// skipped blank line is still observable.
Outcome feed(std::string_view input, const std::vector<size_t>& pieces, ParserLimits limits = {}) {
  RequestParser parser(limits);
  Outcome out;
  std::string buffer;
  size_t at = 0;
  size_t piece = 0;
  while (true) {
    size_t n = piece < pieces.size() ? pieces[piece++] : input.size() - at;
    n = std::min(n, input.size() - at);
    buffer.append(input.substr(at, n));
    at += n;
    while (true) {
      size_t consumed = 123;
      Argv argv{"stale"};
      ParseStatus st = parser.parse(buffer, &consumed, &argv);
      if (st == ParseStatus::kComplete) {
        REQUIRE(consumed > 0);
        REQUIRE(consumed <= buffer.size());
        out.commands.emplace_back(argv.begin(), argv.end());
        buffer.erase(0, consumed);
        continue;
      }
      REQUIRE(consumed == 0);
      REQUIRE(argv.empty());
      if (st == ParseStatus::kError) {
        out.error = parser.error();
        REQUIRE(!out.error.empty());
        // How much had arrived when the error was found depends on the
        // pieces; the commands before it and the error text must not.
        return out;
      }
      break;
    }
    if (at == input.size()) break;
  }
  out.pending = buffer.size();
  return out;
}

Outcome feed_all(std::string_view input, ParserLimits limits = {}) {
  return feed(input, {}, limits);
}

Outcome feed_bytewise(std::string_view input, ParserLimits limits = {}) {
  return feed(input, std::vector<size_t>(input.size(), 1), limits);
}

std::string multibulk(const Command& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args)
    out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

// The one command `input` holds (and nothing else).
Command parse_one(std::string_view input) {
  Outcome o = feed_all(input);
  REQUIRE_MESSAGE(o.error.empty(), o.error);
  REQUIRE(o.commands.size() == 1);
  CHECK(o.pending == 0);
  return o.commands[0];
}

std::string parse_error(std::string_view input, ParserLimits limits = {}) {
  Outcome o = feed_all(input, limits);
  // The error does not depend on how the bytes arrived.
  CHECK(feed_bytewise(input, limits) == o);
  return o.error;
}

}  // namespace

TEST_CASE("a multibulk GET parses into its arguments") {
  RequestParser p;
  std::string buf = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
  size_t consumed = 0;
  Argv argv;
  REQUIRE(p.parse(buf, &consumed, &argv) == ParseStatus::kComplete);
  CHECK(consumed == buf.size());
  REQUIRE(argv.size() == 2);
  CHECK(argv[0] == "GET");
  CHECK(argv[1] == "k");
  // Views point into the caller's buffer, no copies.
  CHECK(argv[0].data() == buf.data() + 8);
  CHECK(argv[1].data() == buf.data() + 17);
}

TEST_CASE("an inline command parses into its words") {
  CHECK(parse_one("GET k\r\n") == Command{"GET", "k"});
  CHECK(parse_one("SET  key   value\n") == Command{"SET", "key", "value"});
  CHECK(parse_one("  PING\t\r\n") == Command{"PING"});
}

TEST_CASE("many pipelined commands in one buffer come out in order") {
  std::string input;
  std::vector<Command> expected;
  for (int i = 0; i < 2000; ++i) {
    Command c{"SET", "key:" + std::to_string(i), std::string(i % 50, 'v')};
    expected.push_back(c);
    if (i % 3 == 0) {
      input += "SET key:" + std::to_string(i) + (c[2].empty() ? " \"\"" : " " + c[2]) + "\r\n";
    } else {
      input += multibulk(c);
    }
  }
  Outcome o = feed_all(input);
  CHECK(o.error.empty());
  CHECK(o.pending == 0);
  CHECK(o.commands == expected);
}

TEST_CASE("empty commands: *0, *-1, negative counts and blank inline lines") {
  Outcome o = feed_all("*0\r\n*-1\r\n*-10\r\n\r\n\n   \r\n\t\nPING\r\n");
  CHECK(o.error.empty());
  CHECK(o.pending == 0);
  CHECK(o.commands == std::vector<Command>{{}, {}, {}, {}, {}, {}, {}, {"PING"}});
  RequestParser p;
  size_t consumed = 0;
  Argv argv;
  REQUIRE(p.parse("*0\r\nrest", &consumed, &argv) == ParseStatus::kComplete);
  CHECK(consumed == 4);
  CHECK(argv.empty());
}

TEST_CASE("bulks are binary safe: NUL, CR and LF inside arguments") {
  std::string value("a\0b\r\nc\r\n\0", 9);
  Command c{"SET", std::string("k\0\n", 3), value, ""};
  CHECK(parse_one(multibulk(c)) == c);
  std::string all;
  for (int b = 0; b < 256; ++b)
    all.push_back(static_cast<char>(b));
  CHECK(parse_one(multibulk({all, all})) == Command{all, all});
}

TEST_CASE("like Redis, the two bytes after a header CR and after a bulk are skipped unchecked") {
  // Redis's processMultibulkBuffer steps over "\r?" and the bulk's trailing
  // two bytes without looking at them; a stricter parser would reject
  // input redis-server accepts.
  CHECK(parse_one("*1\rX$1\rYaZZ") == Command{"a"});
}

TEST_CASE("inline quoting follows sdssplitargs") {
  CHECK(parse_one("SET \"a b\" 'c d'\r\n") == Command{"SET", "a b", "c d"});
  CHECK(parse_one("ECHO \"\\x41\\x7a\\n\\r\\t\\b\\a\\\\\\\"\"\r\n") ==
        Command{"ECHO", "Az\n\r\t\b\a\\\""});
  // \x with fewer than two hex digits is an ordinary escape of 'x'.
  CHECK(parse_one("ECHO \"\\xZ1\" \"\\x4\"\n") == Command{"ECHO", "xZ1", "x4"});
  // Unknown escapes keep the character; escaped NUL-free bytes pass through.
  CHECK(parse_one("ECHO \"\\q\\'\"\n") == Command{"ECHO", "q'"});
  CHECK(parse_one("ECHO 'it\\'s' 'a\\b'\n") == Command{"ECHO", "it's", "a\\b"});
  CHECK(parse_one("ECHO \"\" ''\n") == Command{"ECHO", "", ""});
  // A quote may start in the middle of a word.
  CHECK(parse_one("ECHO foo\"bar baz\"\n") == Command{"ECHO", "foobar baz"});
  // Quotes inside quotes of the other kind are literal.
  CHECK(parse_one("ECHO \"it's\" 'say \"hi\"'\n") == Command{"ECHO", "it's", "say \"hi\""});
  // A closing quote followed by a tab or the end of the line is fine.
  CHECK(parse_one("ECHO \"a\"\tb \"c\"\r\n") == Command{"ECHO", "a", "b", "c"});
  // \v and \f are blanks between words but not word terminators.
  CHECK(parse_one("\v\fECHO a\vb\n") == Command{"ECHO", "a\vb"});
  // A NUL ends the line, as in Redis's C-string splitter.
  CHECK(parse_one(std::string("ECHO a\0 b c\r\n", 13)) == Command{"ECHO", "a"});
  // A bare CR inside the line separates words.
  CHECK(parse_one("ECHO a\rb\r\n") == Command{"ECHO", "a", "b"});
}

TEST_CASE("unquoted inline words point into the caller's buffer") {
  RequestParser p;
  std::string buf = "SET k \"v w\"\r\n";
  size_t consumed = 0;
  Argv argv;
  REQUIRE(p.parse(buf, &consumed, &argv) == ParseStatus::kComplete);
  REQUIRE(argv.size() == 3);
  CHECK(argv[0].data() == buf.data());
  CHECK(argv[1].data() == buf.data() + 4);
  CHECK(argv[2] == "v w");
}

TEST_CASE("unbalanced quotes in an inline request") {
  const std::string kErr = "ERR Protocol error: unbalanced quotes in request";
  CHECK(parse_error("SET \"foo\r\n") == kErr);
  CHECK(parse_error("SET 'foo\n") == kErr);
  CHECK(parse_error("SET \"foo\"bar\r\n") == kErr);
  CHECK(parse_error("SET 'foo'bar\r\n") == kErr);
  CHECK(parse_error("SET \"foo\\\"\n") == kErr);
  CHECK(parse_error(std::string("SET \"a\0\"\n", 9)) == kErr);
  // The commands before the bad line still run.
  Outcome o = feed_all("PING\r\nSET \"x\r\nPING\r\n");
  CHECK(o.commands == std::vector<Command>{{"PING"}});
  CHECK(o.error == kErr);
}

TEST_CASE("invalid multibulk length: not a number or above the limit") {
  const std::string kErr = "ERR Protocol error: invalid multibulk length";
  CHECK(parse_error("*abc\r\n") == kErr);
  CHECK(parse_error("*\r\n") == kErr);
  CHECK(parse_error("*+1\r\n") == kErr);
  CHECK(parse_error("*01\r\n") == kErr);
  CHECK(parse_error("*-0\r\n") == kErr);
  CHECK(parse_error("* 1\r\n") == kErr);
  CHECK(parse_error("*1 \r\n") == kErr);
  CHECK(parse_error("*99999999999999999999\r\n") == kErr);
  CHECK(parse_error("*1048577\r\n") == kErr);
  CHECK(parse_error("*3000000000\r\n") == kErr);
  // Exactly the limit is accepted (and then waits for its arguments).
  Outcome at_limit = feed_all("*1048576\r\n$1\r\na\r\n");
  CHECK(at_limit.error.empty());
  CHECK(at_limit.commands.empty());
  ParserLimits small;
  small.max_multibulk_length = 3;
  CHECK(parse_error("*4\r\n", small) == kErr);
  CHECK(feed_all(multibulk({"a", "b", "c"}), small).commands ==
        std::vector<Command>{{"a", "b", "c"}});
}

TEST_CASE("too big mbulk count string: no CR within 64 KiB of the header") {
  const std::string kErr = "ERR Protocol error: too big mbulk count string";
  CHECK(parse_error("*" + std::string(64 * 1024, '1')) == kErr);
  // 64 KiB exactly is still allowed to wait for its CR.
  Outcome waiting = feed_all("*" + std::string(64 * 1024 - 1, '1'));
  CHECK(waiting.error.empty());
  // A far CR in one read is judged the same as the same bytes trickling in.
  CHECK(parse_error("*" + std::string(70000, '1') + "\r\n") == kErr);
  ParserLimits small;
  small.max_inline_length = 8;
  CHECK(parse_error("*123456789", small) == kErr);
  CHECK(parse_error("*12345678\r\n", small) == kErr);
  CHECK(parse_error("*1234567\r\n", small) == "ERR Protocol error: invalid multibulk length");
}

TEST_CASE("too big bulk count string: no CR within 64 KiB of a bulk header") {
  const std::string kErr = "ERR Protocol error: too big bulk count string";
  CHECK(parse_error("*1\r\n$" + std::string(64 * 1024, '1')) == kErr);
  CHECK(parse_error("*2\r\n$1\r\na\r\n" + std::string(70000, 'x') + "\r\n") == kErr);
  Outcome waiting = feed_all("*1\r\n$" + std::string(64 * 1024 - 1, '1'));
  CHECK(waiting.error.empty());
}

TEST_CASE("expected '$': anything else where a bulk header belongs") {
  CHECK(parse_error("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n") ==
        "ERR Protocol error: expected '$', got 'f'");
  CHECK(parse_error("*1\r\n:1\r\n") == "ERR Protocol error: expected '$', got ':'");
  // CR/LF in the message would break the reply; Redis shows a space.
  CHECK(parse_error("*1\r\n\r\n") == "ERR Protocol error: expected '$', got ' '");
  // Nothing is decided before the header's CR arrives.
  Outcome waiting = feed_all("*1\r\nfoo");
  CHECK(waiting.error.empty());
}

TEST_CASE("invalid bulk length: negative, not a number or above the limit") {
  const std::string kErr = "ERR Protocol error: invalid bulk length";
  CHECK(parse_error("*1\r\n$-1\r\n") == kErr);
  CHECK(parse_error("*1\r\n$abc\r\n") == kErr);
  CHECK(parse_error("*1\r\n$\r\n") == kErr);
  CHECK(parse_error("*1\r\n$01\r\n") == kErr);
  CHECK(parse_error("*1\r\n$536870913\r\n") == kErr);
  CHECK(parse_error("*1\r\n$99999999999999999999999\r\n") == kErr);
  // 512 MB exactly is allowed; the parser then waits without allocating.
  RequestParser p;
  size_t consumed = 0;
  Argv argv;
  std::string buf = "*1\r\n$536870912\r\nabc";
  CHECK(p.parse(buf, &consumed, &argv) == ParseStatus::kIncomplete);
  CHECK(p.bytes_wanted() == 536870912u + 2 - 3);
  ParserLimits small;
  small.max_bulk_length = 10;
  CHECK(parse_error("*1\r\n$11\r\n", small) == kErr);
  CHECK(parse_one("*1\r\n$10\r\n0123456789\r\n") == Command{"0123456789"});
  CHECK(feed_all("*1\r\n$10\r\n0123456789\r\n", small).commands ==
        std::vector<Command>{{"0123456789"}});
}

TEST_CASE("too big inline request: no LF within 64 KiB") {
  const std::string kErr = "ERR Protocol error: too big inline request";
  CHECK(parse_error(std::string(64 * 1024 + 1, 'a')) == kErr);
  CHECK(parse_error("SET k " + std::string(70000, 'v') + "\r\n") == kErr);
  // A line of exactly 64 KiB before its LF is accepted.
  std::string line = "ECHO " + std::string(64 * 1024 - 5, 'v');
  CHECK(parse_one(line + "\n") == Command{"ECHO", std::string(64 * 1024 - 5, 'v')});
  CHECK(feed_bytewise(line + "\n").commands ==
        std::vector<Command>{{"ECHO", std::string(64 * 1024 - 5, 'v')}});
}

TEST_CASE("after an error the parser stays failed until reset") {
  RequestParser p;
  size_t consumed = 0;
  Argv argv;
  std::string bad = "*x\r\n";
  REQUIRE(p.parse(bad, &consumed, &argv) == ParseStatus::kError);
  CHECK(p.error() == "ERR Protocol error: invalid multibulk length");
  CHECK(p.parse("PING\r\n", &consumed, &argv) == ParseStatus::kError);
  CHECK(consumed == 0);
  p.reset();
  CHECK(p.error().empty());
  REQUIRE(p.parse("PING\r\n", &consumed, &argv) == ParseStatus::kComplete);
  CHECK(argv == Argv{"PING"});
}

TEST_CASE("reset forgets a half-parsed command") {
  RequestParser p;
  size_t consumed = 0;
  Argv argv;
  CHECK(p.parse("*2\r\n$3\r\nGET\r\n$1", &consumed, &argv) == ParseStatus::kIncomplete);
  p.reset();
  REQUIRE(p.parse("PING\n", &consumed, &argv) == ParseStatus::kComplete);
  CHECK(argv == Argv{"PING"});
}

TEST_CASE("splitting a stream at every byte boundary gives the same commands") {
  std::string input;
  input += multibulk({"SET", "key", std::string("v\0\r\nv", 5)});
  input += "PING\r\n";
  input += "\r\n";
  input += "*0\r\n";
  input += "ECHO \"a b\\x41\" 'c\\'d'\n";
  input += "*-1\r\n";
  input += multibulk({"MSET", "a", "", "b", std::string(300, 'z')});
  input += "  \t \n";
  input += multibulk({"GET", "a"});
  input += "*1\rX$1\rYaZZ";
  input += "GET x\r\n";
  Outcome whole = feed_all(input);
  REQUIRE(whole.error.empty());
  REQUIRE(whole.pending == 0);
  REQUIRE(whole.commands.size() == 11);
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    CAPTURE(cut);
    REQUIRE(feed(input, {cut}) == whole);
    // Three pieces: the second boundary sweeps too.
    for (size_t cut2 = cut; cut2 <= input.size(); cut2 += 37) {
      REQUIRE(feed(input, {cut, cut2 - cut}) == whole);
    }
  }
  CHECK(feed_bytewise(input) == whole);
  // The same for a stream that ends in an error.
  std::string bad = input + multibulk({"GET", "b"}) + "*2\r\n$1\r\nx\r\n!\r\n";
  Outcome bad_whole = feed_all(bad);
  CHECK(bad_whole.error == "ERR Protocol error: expected '$', got '!'");
  CHECK(bad_whole.commands.size() == 12);
  for (size_t cut = 0; cut <= bad.size(); ++cut) {
    CAPTURE(cut);
    REQUIRE(feed(bad, {cut}) == bad_whole);
  }
}

TEST_CASE("the caller may move its buffer between calls") {
  RequestParser p;
  std::string input = multibulk({"SET", "key", "value"});
  std::string pending;
  size_t consumed = 0;
  Argv argv;
  for (size_t i = 0; i + 1 < input.size(); ++i) {
    pending.push_back(input[i]);
    std::string moved = pending;  // a fresh allocation every time
    REQUIRE(p.parse(moved, &consumed, &argv) == ParseStatus::kIncomplete);
  }
  pending.push_back(input.back());
  REQUIRE(p.parse(pending, &consumed, &argv) == ParseStatus::kComplete);
  CHECK(consumed == input.size());
  CHECK(argv == Argv{"SET", "key", "value"});
}

TEST_CASE("bytes_wanted reports what a partial bulk still needs") {
  RequestParser p;
  size_t consumed = 0;
  Argv argv;
  CHECK(p.bytes_wanted() == 0);
  std::string buf = "*2\r\n$3\r\nGET\r\n$1000\r\n0123456789";
  CHECK(p.parse(buf, &consumed, &argv) == ParseStatus::kIncomplete);
  CHECK(p.bytes_wanted() == 1000 + 2 - 10);
  buf += std::string(990, 'x');
  CHECK(p.parse(buf, &consumed, &argv) == ParseStatus::kIncomplete);
  CHECK(p.bytes_wanted() == 2);
  buf += "\r\n";
  CHECK(p.parse(buf, &consumed, &argv) == ParseStatus::kComplete);
  CHECK(p.bytes_wanted() == 0);
}

TEST_CASE("a 100k-argument command fed in small pieces is parsed in linear time") {
  Command args;
  args.reserve(100000);
  args.push_back("MSET");
  for (int i = 1; i < 100000; ++i)
    args.push_back(std::to_string(i));
  std::string input = multibulk(args);  // ~1 MB
  auto started = std::chrono::steady_clock::now();
  Outcome o = feed(input, std::vector<size_t>(input.size() / 7 + 1, 7));
  auto elapsed = std::chrono::steady_clock::now() - started;
  REQUIRE(o.error.empty());
  REQUIRE(o.commands.size() == 1);
  CHECK(o.commands[0] == args);
  // Re-parsing from the start on every piece would take ~10^11 steps.
  CHECK(elapsed < std::chrono::seconds(10));
}

TEST_CASE("a large bulk and a long inline line fed one byte at a time stay linear") {
  std::string value(1 << 20, 'v');
  std::string input = multibulk({"SET", "k", value});
  std::string line = "ECHO " + std::string(60000, 'w') + "\r\n";
  auto started = std::chrono::steady_clock::now();
  Outcome o = feed_bytewise(input + line);
  auto elapsed = std::chrono::steady_clock::now() - started;
  REQUIRE(o.error.empty());
  REQUIRE(o.commands.size() == 2);
  CHECK(o.commands[0][2] == value);
  CHECK(o.commands[1][1].size() == 60000);
  CHECK(elapsed < std::chrono::seconds(20));
}

TEST_CASE("random garbage never crashes and does not depend on how it was split") {
  std::mt19937_64 rng(20261126);
  const std::string alphabet = "*$\r\n0123456789-+ \"'\\xaAz\t";
  for (int round = 0; round < 3000; ++round) {
    std::string input;
    size_t len = rng() % 200;
    for (size_t i = 0; i < len; ++i) {
      // Mostly protocol-looking bytes, sometimes any byte.
      input.push_back(rng() % 4 == 0 ? static_cast<char>(rng() % 256)
                                     : alphabet[rng() % alphabet.size()]);
    }
    ParserLimits limits;
    limits.max_inline_length = 1 + rng() % 64;
    limits.max_bulk_length = static_cast<int64_t>(rng() % 100);
    limits.max_multibulk_length = static_cast<int64_t>(rng() % 20);
    Outcome whole = feed_all(input, limits);
    std::vector<size_t> pieces;
    for (size_t used = 0; used < input.size();) {
      pieces.push_back(1 + rng() % 9);
      used += pieces.back();
    }
    CAPTURE(input);
    REQUIRE(feed(input, pieces, limits) == whole);
  }
}
