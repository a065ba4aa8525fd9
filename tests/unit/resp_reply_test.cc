// tests/unit/resp_reply_test.cc — ReplyWriter: the exact bytes of every
// reply kind in RESP2 and RESP3 (compared with what redis-server 7 sends),
// number formatting edge cases, and the output buffer's consume/compact
// behaviour.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "resp/reply.h"

using kvraft::resp::ReplyWriter;

namespace {

std::string encode2(void (*fn)(ReplyWriter&)) {
  ReplyWriter w(2);
  fn(w);
  return std::string(w.buffer());
}

std::string encode3(void (*fn)(ReplyWriter&)) {
  ReplyWriter w(3);
  fn(w);
  return std::string(w.buffer());
}

}  // namespace

TEST_CASE("simple strings, ok and errors are the same in RESP2 and RESP3") {
  for (int proto : {2, 3}) {
    ReplyWriter w(proto);
    w.ok();
    w.simple_string("PONG");
    w.simple_string("");
    w.error("ERR wrong number of arguments for 'get' command");
    w.error("WRONGTYPE Operation against a key holding the wrong kind of value");
    CHECK(w.buffer() ==
          "+OK\r\n+PONG\r\n+\r\n-ERR wrong number of arguments for 'get' command\r\n"
          "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  }
}

TEST_CASE("error replaces CR and LF inside the message with spaces") {
  ReplyWriter w;
  w.error("ERR bad\r\nthing\nhere\r");
  CHECK(w.buffer() == "-ERR bad  thing here \r\n");
}

TEST_CASE("integers cover zero, signs and the int64 extremes") {
  ReplyWriter w;
  w.integer(0);
  w.integer(7);
  w.integer(-1);
  w.integer(1234567890123LL);
  w.integer(std::numeric_limits<int64_t>::max());
  w.integer(std::numeric_limits<int64_t>::min());
  CHECK(w.buffer() ==
        ":0\r\n:7\r\n:-1\r\n:1234567890123\r\n:9223372036854775807\r\n"
        ":-9223372036854775808\r\n");
}

TEST_CASE("integers match snprintf over a wide range of values") {
  ReplyWriter w;
  std::string expected;
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < 5000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    // Mix magnitudes: shift away a random number of bits, random sign.
    int64_t v = static_cast<int64_t>(x >> (x % 64));
    if (x & 1) v = -v;
    w.integer(v);
    expected += ":" + std::to_string(v) + "\r\n";
  }
  CHECK(w.buffer() == expected);
}

TEST_CASE("bulk strings are length-prefixed and binary safe") {
  ReplyWriter w;
  w.bulk("foo");
  w.bulk("");
  w.bulk(std::string_view("a\0b\r\nc", 6));
  CHECK(w.buffer() == std::string("$3\r\nfoo\r\n$0\r\n\r\n$6\r\na\0b\r\nc\r\n", 27));
  std::string big(100000, 'x');
  ReplyWriter w2;
  w2.bulk(big);
  CHECK(w2.buffer() == "$100000\r\n" + big + "\r\n");
}

TEST_CASE("null and null array differ by protocol") {
  CHECK(encode2([](ReplyWriter& w) { w.null(); }) == "$-1\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.null(); }) == "_\r\n");
  CHECK(encode2([](ReplyWriter& w) { w.null_array(); }) == "*-1\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.null_array(); }) == "_\r\n");
}

TEST_CASE("aggregate headers: array, map, set, push") {
  CHECK(encode2([](ReplyWriter& w) { w.array_header(3); }) == "*3\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.array_header(3); }) == "*3\r\n");
  CHECK(encode2([](ReplyWriter& w) { w.array_header(0); }) == "*0\r\n");
  // A map of N pairs is a flat array of 2N elements in RESP2.
  CHECK(encode2([](ReplyWriter& w) { w.map_header(2); }) == "*4\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.map_header(2); }) == "%2\r\n");
  CHECK(encode2([](ReplyWriter& w) { w.set_header(5); }) == "*5\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.set_header(5); }) == "~5\r\n");
  CHECK(encode2([](ReplyWriter& w) { w.push_header(3); }) == "*3\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.push_header(3); }) == ">3\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.map_header(123456789012LL); }) == "%123456789012\r\n");
}

TEST_CASE("doubles: %.17g like Redis 7, bulk in RESP2, ',' type in RESP3") {
  CHECK(encode2([](ReplyWriter& w) { w.double_value(1.5); }) == "$3\r\n1.5\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.double_value(1.5); }) == ",1.5\r\n");
  CHECK(encode2([](ReplyWriter& w) { w.double_value(3.0); }) == "$1\r\n3\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.double_value(3.0); }) == ",3\r\n");
  CHECK(encode2([](ReplyWriter& w) { w.double_value(0.1); }) == "$19\r\n0.10000000000000001\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.double_value(1.1); }) == ",1.1000000000000001\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.double_value(-2.5e-300); }) == ",-2.5e-300\r\n");
  CHECK(encode2([](ReplyWriter& w) { w.double_value(1e100); }) == "$6\r\n1e+100\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.double_value(0.0); }) == ",0\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.double_value(-0.0); }) == ",-0\r\n");
  CHECK(encode2([](ReplyWriter& w) { w.double_value(INFINITY); }) == "$3\r\ninf\r\n");
  CHECK(encode2([](ReplyWriter& w) { w.double_value(-INFINITY); }) == "$4\r\n-inf\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.double_value(INFINITY); }) == ",inf\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.double_value(-INFINITY); }) == ",-inf\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.double_value(NAN); }) == ",nan\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.double_value(-NAN); }) == ",nan\r\n");
  CHECK(encode2([](ReplyWriter& w) { w.double_value(NAN); }) == "$3\r\nnan\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.double_value(std::numeric_limits<double>::max()); }) ==
        ",1.7976931348623157e+308\r\n");
}

TEST_CASE("booleans: #t/#f in RESP3, :1/:0 in RESP2") {
  CHECK(encode2([](ReplyWriter& w) {
          w.boolean(true);
          w.boolean(false);
        }) == ":1\r\n:0\r\n");
  CHECK(encode3([](ReplyWriter& w) {
          w.boolean(true);
          w.boolean(false);
        }) == "#t\r\n#f\r\n");
}

TEST_CASE("verbatim strings carry their format in RESP3 and are plain bulks in RESP2") {
  CHECK(encode3([](ReplyWriter& w) { w.verbatim("txt", "Some string"); }) ==
        "=15\r\ntxt:Some string\r\n");
  CHECK(encode3([](ReplyWriter& w) { w.verbatim("mkd", ""); }) == "=4\r\nmkd:\r\n");
  CHECK(encode2([](ReplyWriter& w) { w.verbatim("txt", "Some string"); }) ==
        "$11\r\nSome string\r\n");
}

TEST_CASE("raw bytes are appended unchanged") {
  ReplyWriter w(3);
  w.raw("+OK\r\n");
  w.raw("");
  w.raw(":5\r\n");
  CHECK(w.buffer() == "+OK\r\n:5\r\n");
}

TEST_CASE("set_protocol switches the encoding mid-stream (HELLO 3 then HELLO 2)") {
  ReplyWriter w;
  CHECK(w.protocol() == 2);
  w.null();
  w.set_protocol(3);
  CHECK(w.protocol() == 3);
  w.null();
  w.map_header(1);
  w.set_protocol(2);
  w.map_header(1);
  CHECK(w.buffer() == "$-1\r\n_\r\n%1\r\n*2\r\n");
}

TEST_CASE("a nested RESP3 reply encodes element by element") {
  ReplyWriter w(3);
  w.map_header(2);
  w.bulk("server");
  w.bulk("kvraft");
  w.bulk("modules");
  w.array_header(0);
  CHECK(w.buffer() == "%2\r\n$6\r\nserver\r\n$6\r\nkvraft\r\n$7\r\nmodules\r\n*0\r\n");
}

TEST_CASE("consume drops bytes from the front; size, empty and clear follow") {
  ReplyWriter w;
  CHECK(w.empty());
  w.simple_string("OK");
  w.integer(42);
  CHECK(w.size() == 10);
  w.consume(3);
  CHECK(w.buffer() == "\r\n:42\r\n");
  w.consume(2);
  CHECK(w.buffer() == ":42\r\n");
  w.bulk("x");
  CHECK(w.buffer() == ":42\r\n$1\r\nx\r\n");
  w.consume(w.size());
  CHECK(w.empty());
  CHECK(w.buffer().empty());
  w.integer(1);
  CHECK(w.buffer() == ":1\r\n");
  w.clear();
  CHECK(w.empty());
  w.consume(0);
  CHECK(w.empty());
}

TEST_CASE("draining a large buffer in small pieces keeps order and stays linear") {
  ReplyWriter w;
  std::string expected;
  for (int i = 0; i < 300000; ++i) {
    w.integer(i);
    expected += ":" + std::to_string(i) + "\r\n";
  }
  REQUIRE(w.size() == expected.size());  // ~2.7 MB
  auto started = std::chrono::steady_clock::now();
  std::string drained;
  drained.reserve(expected.size());
  size_t step = 0;
  while (!w.empty()) {
    // Vary the piece size (1..16 bytes) and keep writing while draining,
    // as a connection does when replies arrive during a slow flush.
    size_t n = std::min<size_t>(1 + step % 16, w.size());
    drained.append(w.buffer().substr(0, n));
    w.consume(n);
    if (step % 100000 == 0 && step < 300000) {
      w.integer(-1);
      expected += ":-1\r\n";
    }
    ++step;
  }
  auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(drained == expected);
  // A quadratic compaction would move ~2.7 MB per piece: hours, not seconds.
  CHECK(elapsed < std::chrono::seconds(5));
}
