// Unit tests for scan_reply: reply boundaries in RESP2 and RESP3 streams.
#include <doctest/doctest.h>

#include "resp/reply.h"
#include "resp/reply_scanner.h"

using kvraft::resp::scan_reply;
using kvraft::resp::ScanStatus;

TEST_CASE("simple replies end after their line") {
  for (std::string r : {"+OK\r\n", "-ERR x\r\n", ":42\r\n", "_\r\n", ",1.5\r\n", "#t\r\n",
                        "(12\r\n", "$-1\r\n", "*-1\r\n", "$0\r\n\r\n", "$3\r\nfoo\r\n", "*0\r\n"}) {
    auto s = scan_reply(r + "+NEXT\r\n");
    CHECK(s.status == ScanStatus::kComplete);
    CHECK(s.length == r.size());
  }
}

TEST_CASE("aggregates nest and every prefix is incomplete") {
  kvraft::resp::ReplyWriter w(3);
  w.map_header(2);
  w.bulk("a");
  w.array_header(2);
  w.integer(1);
  w.set_header(1);
  w.bulk("x\r\ny");
  w.bulk("b");
  w.null();
  std::string r(w.buffer());
  auto s = scan_reply(r + "*1\r\n");
  CHECK(s.status == ScanStatus::kComplete);
  CHECK(s.length == r.size());
  for (size_t cut = 0; cut < r.size(); ++cut)
    CHECK(scan_reply(std::string_view(r).substr(0, cut)).status == ScanStatus::kIncomplete);
}

TEST_CASE("attributes precede the value they annotate") {
  std::string r = "|1\r\n+key\r\n+val\r\n:7\r\n";
  auto s = scan_reply(r);
  CHECK(s.status == ScanStatus::kComplete);
  CHECK(s.length == r.size());
}

TEST_CASE("malformed replies are errors, not hangs") {
  CHECK(scan_reply("?\r\n").status == ScanStatus::kError);
  CHECK(scan_reply("$abc\r\n").status == ScanStatus::kError);
  CHECK(scan_reply("$3\r\nfooXY").status == ScanStatus::kError);
  CHECK(scan_reply("*-2\r\n").status == ScanStatus::kError);
  CHECK(scan_reply("+OK\rX").status == ScanStatus::kError);
  std::string deep;
  for (int i = 0; i < 100; ++i)
    deep += "*1\r\n";
  CHECK(scan_reply(deep + ":1\r\n").status == ScanStatus::kError);
  CHECK(scan_reply(std::string(70000, 'a').insert(0, "+")).status == ScanStatus::kError);
}
