// Unit tests for COMMAND DOCS argument trees built from syntax strings.
#include <doctest/doctest.h>

#include "resp/reply.h"
#include "src/command_docs.h"

namespace {
std::string docs_of(std::string_view syntax) {
  kvraft::resp::ReplyWriter w(3);
  kvraft::write_syntax_arguments(w, syntax);
  return std::string(w.buffer());
}
}  // namespace

TEST_CASE("plain arguments get types from their names") {
  std::string out = docs_of("key value");
  CHECK(out ==
        "*2\r\n"
        "%2\r\n$4\r\nname\r\n$3\r\nkey\r\n$4\r\ntype\r\n$3\r\nkey\r\n"
        "%2\r\n$4\r\nname\r\n$5\r\nvalue\r\n$4\r\ntype\r\n$6\r\nstring\r\n");
}

TEST_CASE("repetition marks the argument multiple") {
  std::string out = docs_of("key [key ...]");
  CHECK(out.rfind("*1\r\n%3\r\n", 0) == 0);
  CHECK(out.find("~1\r\n+multiple\r\n") != std::string::npos);
}

TEST_CASE("multi-word repetition becomes a multiple block") {
  std::string out = docs_of("key value [key value ...]");
  CHECK(out.rfind("*1\r\n", 0) == 0);
  CHECK(out.find("$5\r\nblock\r\n") != std::string::npos);
  CHECK(out.find("+multiple") != std::string::npos);
}

TEST_CASE("optional alternatives with tokens become oneof with tokens") {
  std::string out = docs_of("[EX seconds|PX milliseconds|KEEPTTL]");
  CHECK(out.find("$5\r\noneof\r\n") != std::string::npos);
  CHECK(out.find("$5\r\ntoken\r\n$2\r\nEX\r\n") != std::string::npos);
  CHECK(out.find("$7\r\nseconds\r\n$4\r\ntype\r\n$7\r\ninteger\r\n") != std::string::npos);
  CHECK(out.find("$10\r\npure-token\r\n") != std::string::npos);
  CHECK(out.find("+optional") != std::string::npos);
}
