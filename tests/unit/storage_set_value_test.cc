// tests/unit/storage_set_value_test.cc — SetValue's encodings and their
// conversions, the hash-ordered probe table (lookup, deletion, scan across
// resizes) and the deterministic pop order SPOP replicates by.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "storage/set_value.h"

using kvraft::storage::SetValue;
using Enc = kvraft::storage::SetValue::Enc;

namespace {
std::set<std::string> members(const SetValue& s) {
  std::set<std::string> out;
  s.for_each([&](std::string_view m) { out.emplace(m); });
  return out;
}
}  // namespace

TEST_CASE("create picks intset, listpack or hashtable like setTypeCreate") {
  CHECK(SetValue::create("12", 1)->encoding() == Enc::kIntset);
  CHECK(SetValue::create("12", 513)->encoding() == Enc::kHashtable);
  CHECK(SetValue::create("12", 128)->encoding() == Enc::kIntset);
  CHECK(SetValue::create("a", 128)->encoding() == Enc::kListpack);
  CHECK(SetValue::create("a", 129)->encoding() == Enc::kHashtable);
  CHECK(SetValue::create(std::string(64, 'x'), 1)->encoding() == Enc::kListpack);
  CHECK(SetValue::create(std::string(65, 'x'), 1)->encoding() == Enc::kHashtable);
  // Non-canonical integers are strings to Redis.
  CHECK(SetValue::create("012", 1)->encoding() == Enc::kListpack);
  CHECK(SetValue::create("-0", 1)->encoding() == Enc::kListpack);
}

TEST_CASE("intset stays sorted, converts to hashtable past 512 entries") {
  SetValue s(Enc::kIntset);
  for (int i = 512; i >= 1; --i)
    CHECK(s.add(std::to_string(i)));
  CHECK_FALSE(s.add("7"));
  CHECK(s.encoding() == Enc::kIntset);
  CHECK(s.encoding_name() == "intset");
  std::vector<std::string> order;
  s.for_each([&](std::string_view m) { order.emplace_back(m); });
  CHECK(order.front() == "1");
  CHECK(order.back() == "512");
  CHECK(s.add("513"));
  CHECK(s.encoding() == Enc::kHashtable);
  CHECK(s.size() == 513);
  CHECK(s.contains("1"));
  CHECK(s.contains("513"));
  CHECK_FALSE(s.contains("514"));
}

TEST_CASE("intset gets a string: listpack if small, hashtable if not") {
  SetValue a(Enc::kIntset);
  a.add("1");
  a.add("-9223372036854775808");
  CHECK(a.add("x"));
  CHECK(a.encoding() == Enc::kListpack);
  CHECK(members(a) == std::set<std::string>{"1", "-9223372036854775808", "x"});

  SetValue b(Enc::kIntset);
  for (int i = 0; i < 128; ++i)
    b.add(std::to_string(i));
  CHECK(b.add("x"));  // 129 members: too many for a listpack
  CHECK(b.encoding() == Enc::kHashtable);
  CHECK(b.size() == 129);

  SetValue c(Enc::kIntset);
  c.add("1");
  CHECK(c.add(std::string(65, 'y')));  // too long for a listpack
  CHECK(c.encoding() == Enc::kHashtable);
}

TEST_CASE("listpack converts to hashtable on the 129th member or a long one") {
  SetValue s(Enc::kListpack);
  for (int i = 0; i < 128; ++i)
    CHECK(s.add("m" + std::to_string(i)));
  CHECK(s.encoding() == Enc::kListpack);
  CHECK_FALSE(s.add("m5"));
  CHECK(s.remove("m5"));
  CHECK_FALSE(s.remove("m5"));
  CHECK(s.add("m5"));
  CHECK(s.add("m128"));
  CHECK(s.encoding() == Enc::kHashtable);
  CHECK(s.encoding_name() == "hashtable");
  CHECK(s.size() == 129);

  SetValue t(Enc::kListpack);
  t.add("a");
  t.add(std::string(65, 'z'));
  CHECK(t.encoding() == Enc::kHashtable);
  CHECK(members(t) == std::set<std::string>{"a", std::string(65, 'z')});
}

TEST_CASE("hashtable holds huge and binary members, removes them all, shrinks") {
  SetValue s(Enc::kHashtable);
  std::string huge(1 << 20, 'h');
  std::string bin("a\0b\r\n", 5);
  CHECK(s.add(huge));
  CHECK(s.add(bin));
  CHECK(s.add(""));
  CHECK(s.contains(huge));
  CHECK(s.contains(bin));
  CHECK(s.contains(""));
  CHECK_FALSE(s.contains(std::string("a\0c\r\n", 5)));
  for (int i = 0; i < 5000; ++i)
    s.add(std::to_string(i) + "x");
  CHECK(s.size() == 5003);
  for (int i = 0; i < 5000; ++i)
    CHECK(s.remove(std::to_string(i) + "x"));
  CHECK(s.size() == 3);
  CHECK(s.contains(huge));
  CHECK(s.remove(huge));
  CHECK(s.memory_usage() < 4096);
}

TEST_CASE("random operations agree with std::set in every encoding") {
  std::mt19937 rng(7);
  for (int round = 0; round < 3; ++round) {
    SetValue s(Enc::kIntset);
    std::set<std::string> model;
    int range = round == 0 ? 300 : 2000;
    for (int i = 0; i < 20000; ++i) {
      int v = static_cast<int>(rng() % range);
      std::string m = (round == 2 && v % 3 == 0) ? "s" + std::to_string(v) : std::to_string(v);
      if (rng() % 3 == 0) {
        CHECK(s.remove(m) == (model.erase(m) == 1));
      } else {
        CHECK(s.add(m) == model.insert(m).second);
      }
    }
    CHECK(s.size() == model.size());
    CHECK(members(s) == model);
    auto copy = s.clone();
    CHECK(members(static_cast<const SetValue&>(*copy)) == model);
  }
}

TEST_CASE("scan returns every member present throughout, across growth and shrink") {
  SetValue s(Enc::kHashtable);
  for (int i = 0; i < 3000; ++i)
    s.add("k" + std::to_string(i));
  std::set<std::string> seen;
  uint64_t cursor = 0;
  int steps = 0;
  do {
    cursor = s.scan(cursor, 10, [&](std::string_view m) { seen.emplace(m); });
    ++steps;
    // Grow and shrink the table mid-scan; the original members stay.
    if (steps == 20)
      for (int i = 0; i < 20000; ++i)
        s.add("g" + std::to_string(i));
    if (steps == 60)
      for (int i = 0; i < 20000; ++i)
        s.remove("g" + std::to_string(i));
  } while (cursor != 0 && steps < 100000);
  CHECK(cursor == 0);
  for (int i = 0; i < 3000; ++i)
    CHECK(seen.count("k" + std::to_string(i)) == 1);
}

TEST_CASE("compact encodings scan in one call") {
  SetValue s(Enc::kIntset);
  s.add("3");
  s.add("1");
  std::vector<std::string> got;
  CHECK(s.scan(0, 1, [&](std::string_view m) { got.emplace_back(m); }) == 0);
  CHECK(got == std::vector<std::string>{"1", "3"});
}

TEST_CASE("pop_hash_order: same members from differently built sets, any encoding") {
  std::vector<std::string> base;
  for (int i = 0; i < 5000; ++i)
    base.push_back("member:" + std::to_string(i));
  // A: inserted in order. B: shuffled, after growing far larger and
  // shrinking back (different table size and layout history).
  SetValue a(Enc::kHashtable), b(Enc::kHashtable);
  for (const auto& m : base)
    a.add(m);
  std::vector<std::string> shuffled = base;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(3));
  for (int i = 0; i < 100000; ++i)
    b.add("tmp" + std::to_string(i));
  for (const auto& m : shuffled)
    b.add(m);
  for (int i = 0; i < 100000; ++i)
    b.remove("tmp" + std::to_string(i));
  REQUIRE(a.size() == b.size());
  for (uint64_t t : {0ULL, 1ULL, 0x8000000000000000ULL, ~0ULL, 0x123456789abcdefULL}) {
    auto pa = a.pop_hash_order(t, 7);
    auto pb = b.pop_hash_order(t, 7);
    CHECK(pa == pb);
    CHECK(pa.size() == 7);
    for (const auto& m : pa)
      CHECK_FALSE(a.contains(m));
  }
  CHECK(members(a) == members(b));
}

TEST_CASE("pop_hash_order: compact and hashtable encodings pick identically") {
  for (int n : {1, 5, 100, 400}) {
    SetValue compact(n <= 128 ? Enc::kListpack : Enc::kIntset);
    SetValue table(Enc::kHashtable);
    for (int i = 0; i < n; ++i) {
      std::string m = n <= 128 ? "v" + std::to_string(i) : std::to_string(i * 7);
      compact.add(m);
      table.add(m);
    }
    REQUIRE(compact.encoding() != Enc::kHashtable);
    for (uint64_t t = 1; t < 50; ++t) {
      uint64_t target = t * 0x9E3779B97F4A7C15ULL;
      size_t k = static_cast<size_t>(1 + t % 3);
      CHECK(compact.pop_hash_order(target, k) == table.pop_hash_order(target, k));
      if (compact.size() == 0) break;
    }
    CHECK(members(compact) == members(table));
  }
}

TEST_CASE("pop_hash_order equals a brute-force minimum of (hash - t, member)") {
  SetValue s(Enc::kHashtable);
  std::vector<std::string> all;
  for (int i = 0; i < 2000; ++i) {
    all.push_back("e" + std::to_string(i * 31));
    s.add(all.back());
  }
  std::mt19937_64 rng(11);
  for (int round = 0; round < 200; ++round) {
    uint64_t t = rng();
    auto best = std::min_element(all.begin(), all.end(), [&](const auto& x, const auto& y) {
      uint64_t dx = kvraft::storage::member_hash(x) - t, dy = kvraft::storage::member_hash(y) - t;
      return dx != dy ? dx < dy : x < y;
    });
    auto got = s.pop_hash_order(t, 1);
    REQUIRE(got.size() == 1);
    CHECK(got[0] == *best);
    all.erase(best);
  }
  CHECK(s.size() == all.size());
}

TEST_CASE("memory per member of a large hashtable set stays below Redis's") {
  SetValue s(Enc::kHashtable);
  const int n = 200000;
  for (int i = 0; i < n; ++i)
    s.add("member:" + std::to_string(i));
  double per = static_cast<double>(s.memory_usage()) / n;
  MESSAGE("bytes per member: " << per);
  // Redis 7: dictEntry 24 + sds ~24 + bucket slot 8 = ~56 bytes.
  CHECK(per < 56);
}
