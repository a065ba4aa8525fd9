// tests/unit/storage_hash_value_test.cc — HashValue: listpack limits (128
// fields, 64-byte fields and values), one-way conversion to hashtable,
// growth and shrink of the table, HSCAN cursors that survive resizes,
// memory accounting, and a seeded random model check against std::map.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <set>
#include <string>

#include "storage/hash_value.h"

namespace {

using kvraft::storage::HashValue;

std::map<std::string, std::string> contents(const HashValue& h) {
  std::map<std::string, std::string> out;
  h.for_each([&](std::string_view f, std::string_view v) {
    CHECK(out.emplace(std::string(f), std::string(v)).second);
  });
  return out;
}

}  // namespace

TEST_CASE("hash stays listpack up to 128 fields and converts on the 129th, never back") {
  HashValue h;
  for (int i = 0; i < 128; ++i)
    CHECK(h.set("f" + std::to_string(i), "v"));
  CHECK(h.encoding_name() == "listpack");
  CHECK_FALSE(h.set("f0", "again"));
  CHECK(h.encoding_name() == "listpack");
  CHECK(h.set("f128", "v"));
  CHECK(h.encoding_name() == "hashtable");
  CHECK(h.size() == 129);
  std::string_view v;
  CHECK(h.get("f0", &v));
  CHECK(v == "again");
  for (int i = 0; i < 128; ++i)
    CHECK(h.remove("f" + std::to_string(i)));
  CHECK(h.size() == 1);
  CHECK(h.encoding_name() == "hashtable");
  CHECK(h.bucket_count() == 4);  // shrunk below 10% fill
  CHECK_FALSE(h.remove("f0"));
  CHECK(h.remove("f128"));
  CHECK(h.empty());
}

TEST_CASE("a field or value over 64 bytes converts; 64 bytes does not") {
  HashValue a;
  a.set(std::string(64, 'f'), std::string(64, 'v'));
  CHECK(a.encoding_name() == "listpack");
  a.set("x", std::string(65, 'v'));
  CHECK(a.encoding_name() == "hashtable");
  HashValue b;
  b.set(std::string(65, 'f'), "v");
  CHECK(b.encoding_name() == "hashtable");
  HashValue c;
  c.set("a", "b");
  c.prepare_for(65);  // HSETNX's conversion on argument length alone
  CHECK(c.encoding_name() == "hashtable");
  std::string_view v;
  CHECK(c.get("a", &v));
  CHECK(v == "b");
}

TEST_CASE("huge values, empty fields and values, value resizing in place") {
  HashValue h;
  std::string big(5 << 20, 'z');
  h.set("", "");
  h.set("big", big);
  std::string_view v;
  CHECK(h.get("", &v));
  CHECK(v.empty());
  CHECK(h.get("big", &v));
  CHECK(v.size() == big.size());
  size_t mem = h.memory_usage();
  CHECK(mem > big.size());
  h.set("big", "small");
  CHECK(h.memory_usage() < mem - big.size() + 64);
  CHECK(h.get("big", &v));
  CHECK(v == "small");
  h.set("big", "SMALL");  // same length: rewritten in place
  CHECK(h.get("big", &v));
  CHECK(v == "SMALL");
}

TEST_CASE("scan visits every field present for the whole scan despite resizes") {
  HashValue h;
  for (int i = 0; i < 1000; ++i)
    h.set("k" + std::to_string(i), "v");
  std::set<std::string> seen;
  uint64_t cursor = 0;
  int steps = 0;
  do {
    cursor = h.scan(cursor, [&](std::string_view f, std::string_view) { seen.emplace(f); });
    // Grow and then shrink the table in the middle of the scan.
    if (steps == 100)
      for (int i = 1000; i < 5000; ++i)
        h.set("k" + std::to_string(i), "v");
    if (steps == 300)
      for (int i = 1000; i < 5000; ++i)
        h.remove("k" + std::to_string(i));
    steps++;
  } while (cursor != 0);
  for (int i = 0; i < 1000; ++i)
    CHECK(seen.count("k" + std::to_string(i)) == 1);
  // A listpack hash answers everything at once.
  HashValue small;
  small.set("a", "1");
  int n = 0;
  CHECK(small.scan(0, [&](std::string_view, std::string_view) { n++; }) == 0);
  CHECK(n == 1);
}

TEST_CASE("memory per field of a large hash and O(1) accounting") {
  HashValue h;
  for (int i = 0; i < 100000; ++i)
    h.set("field:" + std::to_string(i), std::to_string(i));
  double per = static_cast<double>(h.memory_usage()) / 100000.0;
  // One 48-byte block per field plus 8-16 bytes of bucket array.
  CHECK(per < 64.0);
  CHECK(per > 40.0);
  auto copy = h.clone();
  CHECK(copy->memory_usage() == h.memory_usage());
  CHECK(contents(*static_cast<HashValue*>(copy.get())) == contents(h));
}

TEST_CASE("random_entry returns existing fields and covers all of a small hash") {
  std::mt19937_64 rng(7);
  for (int n : {3, 300}) {
    HashValue h;
    for (int i = 0; i < n; ++i)
      h.set("f" + std::to_string(i), "v" + std::to_string(i));
    std::set<std::string> seen;
    for (int i = 0; i < 100 * n; ++i) {
      auto [f, v] = h.random_entry(rng);
      CHECK(v == "v" + std::string(f.substr(1)));
      seen.emplace(f);
    }
    CHECK(seen.size() == static_cast<size_t>(n));
  }
}

TEST_CASE("random operations match a map model") {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    std::mt19937_64 rng(seed);
    HashValue h;
    std::map<std::string, std::string> m;
    size_t keyspace = seed % 2 ? 100 : 3000;
    for (int step = 0; step < 30000; ++step) {
      std::string f = "f" + std::to_string(rng() % keyspace);
      uint64_t op = rng() % 4;
      if (op <= 1) {
        std::string v(rng() % (seed == 3 ? 80 : 20), 'v');
        bool created = m.find(f) == m.end();
        m[f] = v;
        CHECK(h.set(f, v) == created);
      } else if (op == 2) {
        CHECK(h.remove(f) == (m.erase(f) == 1));
      } else {
        std::string_view v;
        auto it = m.find(f);
        REQUIRE(h.get(f, &v) == (it != m.end()));
        if (it != m.end()) CHECK(v == it->second);
      }
      REQUIRE(h.size() == m.size());
    }
    CHECK(contents(h) == m);
  }
}
