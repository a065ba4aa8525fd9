// tests/unit/storage_zset_value_test.cc — ZsetValue's listpack and skiplist
// encodings: conversions both ways, zsetAdd flag semantics, rank and range
// boundaries, and the skiplist's invariants under random operations
// (compared against a std::set model).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "storage/zset_value.h"

using kvraft::storage::ZLexRange;
using kvraft::storage::ZScoreRange;
using kvraft::storage::ZsetValue;
using Enc = kvraft::storage::ZsetValue::Enc;

namespace {
int add(ZsetValue& z, double score, std::string_view m, int flags = 0, double* ns = nullptr) {
  int out;
  double tmp;
  z.add(score, m, flags, &out, ns ? ns : &tmp);
  return out;
}

std::vector<std::pair<std::string, double>> dump(const ZsetValue& z) {
  std::vector<std::pair<std::string, double>> v;
  z.for_each([&](std::string_view m, double s) { v.emplace_back(std::string(m), s); });
  return v;
}
}  // namespace

TEST_CASE("create and add convert listpack to skiplist like Redis") {
  CHECK(ZsetValue::create(128, 64)->encoding() == Enc::kListpack);
  CHECK(ZsetValue::create(129, 1)->encoding() == Enc::kSkiplist);
  CHECK(ZsetValue::create(1, 65)->encoding() == Enc::kSkiplist);

  ZsetValue z(Enc::kListpack);
  for (int i = 0; i < 128; ++i)
    add(z, i, "m" + std::to_string(i));
  CHECK(z.encoding_name() == "listpack");
  add(z, 1000, "m128");
  CHECK(z.encoding_name() == "skiplist");
  CHECK(z.size() == 129);
  CHECK(z.check_invariants() == "");

  ZsetValue y(Enc::kListpack);
  add(y, 1, "a");
  add(y, 2, std::string(65, 'b'));
  CHECK(y.encoding() == Enc::kSkiplist);
  CHECK(y.check_invariants() == "");
}

TEST_CASE("shrink_if_small converts a small skiplist back to listpack") {
  ZsetValue z(Enc::kSkiplist);
  for (int i = 0; i < 10; ++i)
    add(z, -i, "m" + std::to_string(i));
  auto before = dump(z);
  z.shrink_if_small();
  CHECK(z.encoding() == Enc::kListpack);
  CHECK(dump(z) == before);
  CHECK(z.check_invariants() == "");

  ZsetValue big(Enc::kSkiplist);
  add(big, 1, std::string(65, 'q'));
  big.shrink_if_small();
  CHECK(big.encoding() == Enc::kSkiplist);
}

TEST_CASE("add flags: NX XX GT LT INCR and NaN, in both encodings") {
  for (Enc enc : {Enc::kListpack, Enc::kSkiplist}) {
    ZsetValue z(enc);
    double ns = 0;
    CHECK(add(z, 1, "a") == ZsetValue::kOutAdded);
    CHECK(add(z, 1, "a") == 0);  // same score: nothing changes
    CHECK(add(z, 2, "a") == ZsetValue::kOutUpdated);
    CHECK(add(z, 5, "a", ZsetValue::kAddNx) == ZsetValue::kOutNop);
    CHECK(add(z, 5, "b", ZsetValue::kAddXx) == ZsetValue::kOutNop);
    CHECK(add(z, 1, "a", ZsetValue::kAddGt) == ZsetValue::kOutNop);
    CHECK(add(z, 3, "a", ZsetValue::kAddGt) == ZsetValue::kOutUpdated);
    CHECK(add(z, 4, "a", ZsetValue::kAddLt) == ZsetValue::kOutNop);
    CHECK(add(z, 10, "a", ZsetValue::kAddIncr, &ns) == ZsetValue::kOutUpdated);
    CHECK(ns == 13);
    CHECK(add(z, std::numeric_limits<double>::infinity(), "i") == ZsetValue::kOutAdded);
    int out;
    CHECK_FALSE(
        z.add(-std::numeric_limits<double>::infinity(), "i", ZsetValue::kAddIncr, &out, &ns));
    CHECK(out == ZsetValue::kOutNan);
    CHECK_FALSE(z.add(std::nan(""), "n", 0, &out, &ns));
    double s;
    CHECK(z.score("a", &s));
    CHECK(s == 13);
    CHECK_FALSE(z.score("n", &s));
    CHECK(z.check_invariants() == "");
  }
}

TEST_CASE("ties order by member bytes; ranks both ways") {
  for (Enc enc : {Enc::kListpack, Enc::kSkiplist}) {
    ZsetValue z(enc);
    add(z, 1, "b");
    add(z, 1, "a");
    add(z, 0, "z");
    add(z, 1, std::string("a\0", 2));
    auto d = dump(z);
    REQUIRE(d.size() == 4);
    CHECK(d[0].first == "z");
    CHECK(d[1].first == "a");
    CHECK(d[2].first == std::string("a\0", 2));
    CHECK(d[3].first == "b");
    size_t r;
    double s;
    CHECK(z.rank("b", false, &r, &s));
    CHECK(r == 3);
    CHECK(z.rank("b", true, &r, &s));
    CHECK(r == 0);
    CHECK(z.rank("z", true, &r, &s));
    CHECK(r == 3);
    CHECK_FALSE(z.rank("nope", false, &r, &s));
  }
}

TEST_CASE("score and lex range ranks at the boundaries") {
  for (Enc enc : {Enc::kListpack, Enc::kSkiplist}) {
    ZsetValue z(enc);
    for (int i = 1; i <= 5; ++i)
      add(z, i, std::string(1, static_cast<char>('a' + i - 1)));
    size_t f, l;
    ZScoreRange r;
    REQUIRE(kvraft::storage::parse_score_range("(1", "5", &r));
    CHECK(z.score_range_ranks(r, &f, &l));
    CHECK(f == 1);
    CHECK(l == 4);
    REQUIRE(kvraft::storage::parse_score_range("-inf", "+inf", &r));
    CHECK(z.score_range_ranks(r, &f, &l));
    CHECK(f == 0);
    CHECK(l == 4);
    REQUIRE(kvraft::storage::parse_score_range("(2", "(3", &r));
    CHECK_FALSE(z.score_range_ranks(r, &f, &l));
    REQUIRE(kvraft::storage::parse_score_range("3", "3", &r));
    CHECK(z.score_range_ranks(r, &f, &l));
    CHECK((f == 2 && l == 2));
    REQUIRE(kvraft::storage::parse_score_range("6", "+inf", &r));
    CHECK_FALSE(z.score_range_ranks(r, &f, &l));
    REQUIRE(kvraft::storage::parse_score_range("4", "2", &r));
    CHECK_FALSE(z.score_range_ranks(r, &f, &l));

    ZsetValue lex(enc);
    for (char c = 'a'; c <= 'e'; ++c)
      add(lex, 0, std::string(1, c));
    ZLexRange lr;
    REQUIRE(kvraft::storage::parse_lex_range("[b", "(d", &lr));
    CHECK(lex.lex_range_ranks(lr, &f, &l));
    CHECK((f == 1 && l == 2));
    REQUIRE(kvraft::storage::parse_lex_range("-", "+", &lr));
    CHECK(lex.lex_range_ranks(lr, &f, &l));
    CHECK((f == 0 && l == 4));
    REQUIRE(kvraft::storage::parse_lex_range("+", "-", &lr));
    CHECK_FALSE(lex.lex_range_ranks(lr, &f, &l));
    REQUIRE(kvraft::storage::parse_lex_range("(e", "+", &lr));
    CHECK_FALSE(lex.lex_range_ranks(lr, &f, &l));
  }
}

TEST_CASE("range parsers accept and refuse what Redis does") {
  ZScoreRange r;
  CHECK(kvraft::storage::parse_score_range("", "(", &r));  // strtod("") is 0
  CHECK_FALSE(kvraft::storage::parse_score_range("nan", "1", &r));
  CHECK_FALSE(kvraft::storage::parse_score_range("1x", "1", &r));
  CHECK_FALSE(kvraft::storage::parse_score_range("1", "((1", &r));
  CHECK(kvraft::storage::parse_score_range("-inf", "(+inf", &r));
  CHECK(r.maxex);
  ZLexRange l;
  CHECK_FALSE(kvraft::storage::parse_lex_range("a", "+", &l));
  CHECK_FALSE(kvraft::storage::parse_lex_range("", "+", &l));
  CHECK_FALSE(kvraft::storage::parse_lex_range("-", "++", &l));
  CHECK(kvraft::storage::parse_lex_range("[", "(", &l));
}

TEST_CASE("iterators walk both ways from any rank; rank range removal") {
  for (Enc enc : {Enc::kListpack, Enc::kSkiplist}) {
    ZsetValue z(enc);
    for (int i = 0; i < 100; ++i)
      add(z, i, "m" + std::to_string(i));
    auto it = z.at_rank(50);
    REQUIRE(it.valid());
    CHECK(it.member() == "m50");
    it.prev();
    CHECK(it.member() == "m49");
    it.next();
    it.next();
    CHECK(it.score() == 51);
    CHECK_FALSE(z.at_rank(100).valid());
    auto first = z.at_rank(0);
    first.prev();
    CHECK_FALSE(first.valid());
    CHECK(z.remove_rank_range(10, 19) == 10);
    CHECK(z.size() == 90);
    CHECK(z.at_rank(10).member() == "m20");
    CHECK(z.remove_rank_range(0, 89) == 90);
    CHECK(z.size() == 0);
    CHECK(z.check_invariants() == "");
  }
}

TEST_CASE("skiplist invariants hold under random operations (model check)") {
  std::mt19937 rng(42);
  ZsetValue z(Enc::kSkiplist);
  std::map<std::string, double> model;
  for (int i = 0; i < 20000; ++i) {
    std::string m = "k" + std::to_string(rng() % 3000);
    int op = static_cast<int>(rng() % 10);
    if (op < 6) {
      double s = static_cast<double>(rng() % 100);
      add(z, s, m);
      model[m] = s;
    } else if (op < 9) {
      CHECK(z.remove(m) == (model.erase(m) == 1));
    } else if (!model.empty()) {
      size_t r = rng() % model.size();
      z.remove_rank_range(r, r);
      std::set<std::pair<double, std::string>> ordered;
      for (auto& [k, v] : model)
        ordered.emplace(v, k);
      auto at = std::next(ordered.begin(), static_cast<long>(r));
      model.erase(at->second);
    }
    if (i % 2000 == 0) REQUIRE(z.check_invariants() == "");
  }
  CHECK(z.check_invariants() == "");
  std::set<std::pair<double, std::string>> ordered;
  for (auto& [k, v] : model)
    ordered.emplace(v, k);
  size_t r = 0;
  for (auto& [s, m] : ordered) {
    size_t got;
    double sc;
    REQUIRE(z.rank(m, false, &got, &sc));
    CHECK(got == r);
    CHECK(z.at_rank(r).member() == m);
    ++r;
  }
  auto copy = z.clone();
  CHECK(dump(static_cast<const ZsetValue&>(*copy)) == dump(z));
}

TEST_CASE("zscan over a skiplist visits every member") {
  ZsetValue z(Enc::kSkiplist);
  for (int i = 0; i < 1000; ++i)
    add(z, i, "m" + std::to_string(i));
  std::set<std::string> seen;
  uint64_t c = 0;
  do {
    c = z.scan(c, 10, [&](std::string_view m, double) { seen.emplace(m); });
  } while (c);
  CHECK(seen.size() == 1000);
}

TEST_CASE("memory per member of a large skiplist stays below Redis's") {
  ZsetValue z(Enc::kSkiplist);
  const int n = 200000;
  for (int i = 0; i < n; ++i)
    add(z, i, "member:" + std::to_string(i));
  double per = static_cast<double>(z.memory_usage()) / n;
  MESSAGE("bytes per member: " << per);
  // Redis 7: skiplist node ~48-64 + dictEntry 24 + bucket 8 + sds 24.
  CHECK(per < 100);
}
