// tests/unit/server_eviction_test.cc — the pieces of maxmemory eviction that
// need no server: the LRU clock and LFU counter (storage/access.h), the
// eviction pool, and victim selection per policy over a real Keyspace
// (src/eviction.h).
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "src/config.h"
#include "src/eviction.h"
#include "storage/keyspace.h"

using namespace kvraft;
using storage::AccessMode;
using storage::AccessPolicy;
using storage::Keyspace;

namespace {

// A fixed unix time in ms, later than any real clock a Keyspace starts
// with (its access clock never goes backwards).
constexpr int64_t kT0 = 4'000'000'000'000;

std::string key(int i) {
  return "key:" + std::to_string(i);
}

bool never_pending(int, std::string_view) {
  return false;
}

std::set<std::string> victim_keys(const std::vector<Victim>& v) {
  std::set<std::string> out;
  for (const auto& x : v)
    out.insert(x.key);
  return out;
}

}  // namespace

TEST_CASE("lru idle time counts seconds and survives the 16-bit clock wrap") {
  uint16_t a = storage::lru_clock(kT0);
  CHECK(storage::lru_idle_ms(a, kT0) == 0);
  CHECK(storage::lru_idle_ms(a, kT0 + 90'500) == 90'000);
  // Just before the clock's value wraps around to the recorded value again.
  int64_t wrap_ms = int64_t{65536} * 1000;
  CHECK(storage::lru_idle_ms(a, kT0 + wrap_ms - 1000) == wrap_ms - 1000);
  CHECK(storage::lru_idle_ms(a, kT0 + wrap_ms) == 0);  // modulo the wrap, as documented
}

TEST_CASE("lfu counter increments logarithmically and saturates at 255") {
  // r below 1/((c-5)*factor+1) increments; at or above it does not.
  CHECK(storage::lfu_log_incr(0, 10, 0.99) == 1);  // below the initial value: always
  CHECK(storage::lfu_log_incr(5, 10, 0.99) == 6);
  CHECK(storage::lfu_log_incr(6, 10, 0.0) == 7);
  CHECK(storage::lfu_log_incr(6, 10, 1.0 / 11 + 1e-9) == 6);
  CHECK(storage::lfu_log_incr(6, 10, 1.0 / 11 - 1e-9) == 7);
  CHECK(storage::lfu_log_incr(255, 10, 0.0) == 255);
  CHECK(storage::lfu_log_incr(20, 0, 0.999) == 21);  // factor 0: linear

  // Many hits with a uniform r make a counter grow roughly logarithmically:
  // 1000 hits at factor 10 land well below 255 and well above the start.
  uint8_t c = storage::kLfuInitVal;
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 1000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = storage::lfu_log_incr(c, 10, static_cast<double>(x % 1'000'000) / 1e6);
  }
  CHECK(c > 10);
  CHECK(c < 40);
}

TEST_CASE("lfu counter decays by one per decay period and never below zero") {
  uint16_t a = storage::lfu_pack(kT0, 10);
  CHECK(storage::lfu_decayed_counter(a, kT0, 1) == 10);
  CHECK(storage::lfu_decayed_counter(a, kT0 + 3 * 60'000, 1) == 7);
  CHECK(storage::lfu_decayed_counter(a, kT0 + 3 * 60'000, 2) == 9);
  CHECK(storage::lfu_decayed_counter(a, kT0 + 30 * 60'000, 1) == 0);
  CHECK(storage::lfu_decayed_counter(a, kT0 + 30 * 60'000, 0) == 10);  // 0: no decay
  // A touch decays first, then increments and restamps the time.
  AccessPolicy lfu{AccessMode::kLfu, 10, 1};
  uint16_t t = storage::access_touch(a, lfu, kT0 + 3 * 60'000, 0.0);
  CHECK(storage::lfu_counter(t) == 8);
  CHECK(storage::lfu_decayed_counter(t, kT0 + 3 * 60'000, 1) == 8);
}

TEST_CASE("eviction pool keeps the best sixteen candidates and pops the best first") {
  EvictionPool pool;
  for (int i = 0; i < 40; ++i)
    pool.offer(static_cast<uint64_t>((i * 7) % 40), 0, key(i));
  CHECK(pool.size() == EvictionPool::kSize);
  // Re-offering a kept key updates it instead of duplicating it.
  pool.offer(1000, 0, key(0));
  CHECK(pool.size() == EvictionPool::kSize);
  // A score worse than everything kept is refused when full.
  pool.offer(0, 0, "weak");
  std::vector<uint64_t> scores;
  std::set<std::string> keys;
  while (auto c = pool.pop_best()) {
    scores.push_back(c->score);
    keys.insert(c->key);
  }
  REQUIRE(scores.size() == EvictionPool::kSize);
  CHECK(scores.front() == 1000);
  for (size_t i = 1; i < scores.size(); ++i)
    CHECK(scores[i] < scores[i - 1]);
  CHECK(scores.back() >= 40 - EvictionPool::kSize);  // the 15 best of 0..39 plus key 0
  CHECK(keys.count("weak") == 0);
  CHECK(keys.size() == EvictionPool::kSize);
}

TEST_CASE("allkeys-lru selects idle keys and spares recently read ones") {
  Keyspace ks(1);
  ks.set_access_policy({AccessMode::kLru, 10, 1});
  ks.set_clock(kT0);
  for (int i = 0; i < 2000; ++i)
    ks.set_string(0, key(i), std::string(100, 'v'), storage::kNoExpire);
  for (int i = 0; i < 100; ++i)  // the hot set, read 50 s later
    CHECK(ks.lookup_read(0, key(i), kT0 + 50'000) != nullptr);
  EvictionPool pool;
  auto v = select_victims(ks, EvictionPolicy::kAllkeysLru, 5, SIZE_MAX, 500, kT0 + 60'000, pool,
                          never_pending);
  REQUIRE(v.size() == 500);
  auto chosen = victim_keys(v);
  CHECK(chosen.size() == 500);  // never the same key twice
  for (int i = 0; i < 100; ++i)
    CHECK(chosen.count(key(i)) == 0);
  for (const auto& x : v)
    CHECK(x.bytes >= 100);
}

TEST_CASE("allkeys-lfu selects rarely read keys and spares frequently read ones") {
  Keyspace ks(1);
  ks.set_access_policy({AccessMode::kLfu, 10, 1});
  ks.set_clock(kT0);
  for (int i = 0; i < 2000; ++i)
    ks.set_string(0, key(i), "x", storage::kNoExpire);
  for (int round = 0; round < 200; ++round)
    for (int i = 0; i < 100; ++i)
      ks.lookup_read(0, key(i), kT0 + 1000);
  EvictionPool pool;
  auto v = select_victims(ks, EvictionPolicy::kAllkeysLfu, 5, SIZE_MAX, 500, kT0 + 2000, pool,
                          never_pending);
  REQUIRE(v.size() == 500);
  auto chosen = victim_keys(v);
  for (int i = 0; i < 100; ++i)
    CHECK(chosen.count(key(i)) == 0);
}

TEST_CASE("volatile policies only select keys with an expiry; volatile-ttl the soonest") {
  Keyspace ks(2);
  ks.set_clock(kT0);
  for (int i = 0; i < 1000; ++i)
    ks.set_string(0, key(i), "v", i % 2 ? kT0 + 1'000'000 + i * 1000 : storage::kNoExpire);
  for (EvictionPolicy p : {EvictionPolicy::kVolatileLru, EvictionPolicy::kVolatileLfu,
                           EvictionPolicy::kVolatileRandom, EvictionPolicy::kVolatileTtl}) {
    EvictionPool pool;
    auto v = select_victims(ks, p, 5, SIZE_MAX, 400, kT0, pool, never_pending);
    CHECK(v.size() == 400);
    for (const auto& x : v)
      CHECK(ks.peek(x.db, x.key, kT0)->has_expire());
  }
  // volatile-ttl: the 100 victims are nearly all among the 200 soonest TTLs
  // (odd keys below 400); sampling makes it approximate, as in Redis.
  EvictionPool pool;
  auto v =
      select_victims(ks, EvictionPolicy::kVolatileTtl, 10, SIZE_MAX, 100, kT0, pool, never_pending);
  int soon = 0;
  for (const auto& x : v)
    if (std::stoi(x.key.substr(4)) < 400) soon++;
  CHECK(soon >= 80);
  // Asking for more than the volatile keys there are ends (nearly all of
  // them chosen, each once) instead of looping.
  EvictionPool pool2;
  auto all = select_victims(ks, EvictionPolicy::kVolatileRandom, 5, SIZE_MAX, 100000, kT0, pool2,
                            never_pending);
  CHECK(all.size() <= 500);
  CHECK(all.size() >= 450);
  CHECK(victim_keys(all).size() == all.size());
}

TEST_CASE(
    "selection stops at the requested bytes, skips pending keys, and finds nothing to evict "
    "under noeviction or without volatile keys") {
  Keyspace ks(1);
  for (int i = 0; i < 100; ++i)
    ks.set_string(0, key(i), std::string(200, 'v'), storage::kNoExpire);
  EvictionPool pool;
  auto v =
      select_victims(ks, EvictionPolicy::kAllkeysRandom, 5, 1000, 1000, kT0, pool, never_pending);
  size_t bytes = 0;
  for (const auto& x : v)
    bytes += x.bytes;
  CHECK(bytes >= 1000);
  CHECK(bytes - v.back().bytes < 1000);
  auto odd_pending = [](int, std::string_view k) { return (k.back() - '0') % 2 == 1; };
  auto w = select_victims(ks, EvictionPolicy::kAllkeysLru, 5, SIZE_MAX, 30, kT0, pool, odd_pending);
  CHECK(w.size() == 30);
  for (const auto& x : w)
    CHECK((x.key.back() - '0') % 2 == 0);
  CHECK(select_victims(ks, EvictionPolicy::kNoEviction, 5, SIZE_MAX, 10, kT0, pool, never_pending)
            .empty());
  CHECK(select_victims(ks, EvictionPolicy::kVolatileLru, 5, SIZE_MAX, 10, kT0, pool, never_pending)
            .empty());
}

TEST_CASE("maxmemory-policy names parse both ways and pick the access encoding") {
  for (const auto& name : eviction_policy_names()) {
    EvictionPolicy p;
    REQUIRE(parse_eviction_policy(name, &p));
    CHECK(is_volatile_policy(p) == (name.rfind("volatile-", 0) == 0));
  }
  EvictionPolicy p;
  CHECK(parse_eviction_policy("ALLKEYS-LFU", &p));
  CHECK(p == EvictionPolicy::kAllkeysLfu);
  CHECK_FALSE(parse_eviction_policy("lru", &p));
  Config c;
  c.maxmemory_policy = "volatile-lfu";
  CHECK(access_policy_for(c).mode == AccessMode::kLfu);
  c.maxmemory_policy = "allkeys-lru";
  CHECK(access_policy_for(c).mode == AccessMode::kLru);
}

TEST_CASE("the growth estimate of a SET is close to what the stored key costs") {
  // The leader counts in-flight writes by this estimate before they are
  // applied; too low and the replicas overshoot maxmemory by the pipeline.
  Keyspace ks(1);
  for (size_t len : {10, 100, 4000, 100000}) {
    const std::string value(len, 'v');
    const std::string k = "key:" + std::to_string(len);
    ks.set_string(0, k, value, storage::kNoExpire);
    const storage::Entry* e = ks.peek(0, k, INT64_MIN);
    REQUIRE(e != nullptr);
    const size_t stored = Keyspace::entry_footprint(e);
    const size_t estimate = write_growth_estimate({"SET", k, value});
    CHECK(estimate >= stored);
    CHECK(estimate <= stored + stored / 10 + 128);  // small values: a little high
  }
}
