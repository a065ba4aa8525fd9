// tests/unit/storage_list_value_test.cc — Listpack and ListValue: element
// encoding at varint boundaries, listpack <-> quicklist conversion at the
// limits, huge elements in their own nodes, and a seeded random model check
// of every operation against std::deque.
#include <doctest/doctest.h>

#include <deque>
#include <random>
#include <string>
#include <vector>

#include "storage/list_value.h"
#include "storage/listpack.h"
#include "storage/value.h"

namespace {

using kvraft::storage::Listpack;
using kvraft::storage::ListValue;

std::vector<std::string> contents(const ListValue& l) {
  std::vector<std::string> out;
  l.for_range(0, l.size(), [&](std::string_view v) { out.emplace_back(v); });
  return out;
}

std::vector<std::string> contents(const std::deque<std::string>& d) {
  return {d.begin(), d.end()};
}

}  // namespace

TEST_CASE("listpack walks both ways across varint length boundaries") {
  Listpack lp;
  std::vector<size_t> lens = {0, 1, 127, 128, 16383, 16384, 70000};
  for (size_t n : lens)
    lp.push_back(std::string(n, 'x'));
  CHECK(lp.count() == lens.size());
  // len + twice the LEB128 size of len (1, 1, 1, 2, 2, 3, 3 bytes).
  CHECK(lp.bytes() ==
        (0 + 2) + (1 + 2) + (127 + 2) + (128 + 4) + (16383 + 4) + (16384 + 6) + (70000 + 6));
  size_t i = 0;
  for (size_t p = lp.first(); p != Listpack::npos; p = lp.next(p))
    CHECK(lp.get(p).size() == lens[i++]);
  CHECK(i == lens.size());
  for (size_t p = lp.last(); p != Listpack::npos; p = lp.prev(p))
    CHECK(lp.get(p).size() == lens[--i]);
  CHECK(i == 0);
  CHECK(lp.get(lp.seek(-1)).size() == 70000);
  CHECK(lp.seek(7) == Listpack::npos);
  CHECK(lp.seek(-8) == Listpack::npos);
  lp.replace(lp.seek(1), std::string(200, 'y'));  // grows the length prefix
  CHECK(lp.get(lp.seek(1)) == std::string(200, 'y'));
  CHECK(lp.get(lp.seek(2)).size() == 127);
  lp.erase_range(lp.seek(1), 3);
  CHECK(lp.count() == 4);
  CHECK(lp.get(lp.seek(1)).size() == 16383);
  Listpack tail = lp.split_at(lp.seek(2));
  CHECK(lp.count() == 2);
  CHECK(tail.count() == 2);
  CHECK(tail.get(tail.first()).size() == 16384);
}

TEST_CASE("list stays listpack up to 128 small elements and converts back at half") {
  ListValue l;
  for (int i = 0; i < 128; ++i)
    l.push_back(std::to_string(i));
  CHECK(l.encoding_name() == "listpack");
  l.push_front("x");
  CHECK(l.encoding_name() == "quicklist");
  CHECK(l.size() == 129);
  std::string out;
  while (l.size() > 65)
    CHECK(l.pop_back(&out));
  CHECK(l.encoding_name() == "quicklist");  // hysteresis: not yet half
  CHECK(l.pop_back(&out));
  CHECK(l.size() == 64);
  CHECK(l.encoding_name() == "listpack");
  CHECK(l.at(0) == "x");
  CHECK(l.at(63) == "62");
}

TEST_CASE("an element over 64 bytes converts; 64 bytes does not") {
  ListValue l;
  l.push_back(std::string(64, 'a'));
  CHECK(l.encoding_name() == "listpack");
  l.push_back(std::string(65, 'b'));
  CHECK(l.encoding_name() == "quicklist");
  std::string out;
  l.pop_back(&out);
  CHECK(out == std::string(65, 'b'));
  CHECK(l.encoding_name() == "listpack");
  // LSET and LINSERT with a big value convert too.
  l.set(0, std::string(100, 'c'));
  CHECK(l.encoding_name() == "quicklist");
}

TEST_CASE("quicklist nodes stay near 8 KB; huge elements get their own node") {
  ListValue l;
  for (int i = 0; i < 10000; ++i)
    l.push_back("element:" + std::to_string(i));
  CHECK(l.encoding_name() == "quicklist");
  CHECK(l.node_count() > 10);
  CHECK(l.node_count() < 40);
  CHECK(l.at(0) == "element:0");
  CHECK(l.at(5000) == "element:5000");
  CHECK(l.at(9999) == "element:9999");
  std::string huge(1 << 20, 'h');
  size_t before = l.node_count();
  l.push_front(huge);
  l.push_back(huge);
  CHECK(l.node_count() == before + 2);
  CHECK(l.at(0).size() == huge.size());
  CHECK(l.at(10001).size() == huge.size());
  // Inserting in the middle splits an overfull node instead of growing it.
  for (int i = 0; i < 2000; ++i)
    CHECK(l.insert_at_pivot("element:5000", "in", true));
  CHECK(l.size() == 12002);
  CHECK(l.at(5002) == "in");
  size_t max_node = 0;
  for (size_t i = 0; i < l.node_count(); ++i)
    max_node = i;  // count only
  (void)max_node;
  CHECK(l.memory_usage() > 2 * huge.size());
  CHECK(l.memory_usage() < 2 * huge.size() + 12002 * 20 + 64 * 1024);
}

TEST_CASE("memory per element of a large list is close to the encoded size") {
  ListValue l;
  for (int i = 0; i < 100000; ++i)
    l.push_back(std::to_string(i));
  // Up to 5 digits + 2 bytes of lengths; node overhead is amortized.
  double per = static_cast<double>(l.memory_usage()) / 100000.0;
  CHECK(per < 9.0);
  CHECK(per > 6.0);
}

TEST_CASE("clone is deep") {
  ListValue l;
  for (int i = 0; i < 300; ++i)
    l.push_back(std::to_string(i));
  auto copy = l.clone();
  auto* c = static_cast<ListValue*>(copy.get());
  std::string out;
  l.pop_front(&out);
  CHECK(c->size() == 300);
  CHECK(c->at(0) == "0");
  CHECK(c->encoding_name() == "quicklist");
  CHECK(contents(l).size() == 299);
}

TEST_CASE("random operations match a deque model in both encodings") {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    std::mt19937_64 rng(seed);
    ListValue l;
    std::deque<std::string> m;
    // Small alphabets make LREM/LINSERT/LPOS find matches; some long
    // values force quicklist and node splits.
    auto value = [&]() -> std::string {
      uint64_t r = rng() % 100;
      if (r < 3) return std::string(100 + rng() % 9000, static_cast<char>('a' + rng() % 3));
      return std::string(1 + rng() % 3, static_cast<char>('a' + rng() % 4));
    };
    size_t max_size = seed % 2 ? 150 : 3000;
    for (int step = 0; step < 20000; ++step) {
      uint64_t op = rng() % 10;
      std::string out;
      if (op <= 2 && m.size() < max_size) {
        std::string v = value();
        if (rng() % 2) {
          l.push_front(v);
          m.push_front(v);
        } else {
          l.push_back(v);
          m.push_back(v);
        }
      } else if (op == 3) {
        bool ok = l.pop_front(&out);
        REQUIRE(ok == !m.empty());
        if (ok) {
          CHECK(out == m.front());
          m.pop_front();
        }
      } else if (op == 4) {
        bool ok = l.pop_back(&out);
        REQUIRE(ok == !m.empty());
        if (ok) {
          CHECK(out == m.back());
          m.pop_back();
        }
      } else if (op == 5 && !m.empty()) {
        size_t i = rng() % m.size();
        REQUIRE(l.at(i) == m[i]);
        std::string v = value();
        l.set(i, v);
        m[i] = v;
      } else if (op == 6 && m.size() < max_size) {
        std::string pivot = value(), v = value();
        bool after = rng() % 2;
        auto it = std::find(m.begin(), m.end(), pivot);
        CHECK(l.insert_at_pivot(pivot, v, after) == (it != m.end()));
        if (it != m.end()) m.insert(after ? it + 1 : it, v);
      } else if (op == 7) {
        std::string v = value();
        int64_t count = static_cast<int64_t>(rng() % 5) - 2;
        size_t expect = 0;
        if (count >= 0) {
          for (auto it = m.begin(); it != m.end();) {
            if (*it == v && (count == 0 || expect < static_cast<size_t>(count))) {
              it = m.erase(it);
              expect++;
            } else {
              ++it;
            }
          }
        } else {
          for (size_t i = m.size(); i-- > 0;) {
            if (m[i] == v && expect < static_cast<size_t>(-count)) {
              m.erase(m.begin() + static_cast<long>(i));
              expect++;
            }
          }
        }
        CHECK(l.remove(v, count) == expect);
      } else if (op == 8 && !m.empty() && rng() % 4 == 0) {
        size_t head = rng() % (m.size() + 1);
        size_t tail = rng() % (m.size() - head + 1);
        l.trim(head, tail);
        m.erase(m.begin(), m.begin() + static_cast<long>(head));
        m.erase(m.end() - static_cast<long>(tail), m.end());
      } else if (op == 9 && !m.empty()) {
        size_t start = rng() % m.size();
        size_t n = rng() % (m.size() - start + 1);
        std::vector<std::string> got;
        l.for_range(start, n, [&](std::string_view v) { got.emplace_back(v); });
        CHECK(got == std::vector<std::string>(m.begin() + static_cast<long>(start),
                                              m.begin() + static_cast<long>(start + n)));
        // scan from the tail reports head-based indices
        size_t expect_index = m.size();
        bool ok = true;
        l.scan(true, [&](size_t idx, std::string_view v) {
          ok = ok && idx == --expect_index && v == m[idx];
          return idx + 5 > m.size();
        });
        CHECK(ok);
      }
      REQUIRE(l.size() == m.size());
      if (l.size() > ListValue::kListpackMaxEntries) CHECK(l.is_quicklist());
    }
    CHECK(contents(l) == contents(m));
  }
}
