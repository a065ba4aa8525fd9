// tests/unit/storage_dict_test.cc — the keyspace hash table: lookups and
// deletes during incremental rehash, grow and shrink, and SCAN's guarantee
// that every entry present for a whole scan is returned.
#include <doctest/doctest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "storage/dict.h"

using kvraft::storage::Dict;
using kvraft::storage::Entry;
using kvraft::storage::entry_free;
using kvraft::storage::entry_new_string;
using kvraft::storage::kNoExpire;

namespace {

std::string key_of(int i) {
  return "key:" + std::to_string(i);
}

void add(Dict& d, const std::string& k) {
  d.insert(entry_new_string(k, "v", kNoExpire));
}

bool remove(Dict& d, const std::string& k) {
  Entry* e = d.unlink(k);
  entry_free(e);
  return e != nullptr;
}

// Runs a full scan, calling `between` after every step (to mutate the dict).
template <typename Fn>
std::set<std::string> full_scan(Dict& d, Fn&& between) {
  std::set<std::string> seen;
  uint64_t cursor = 0;
  int steps = 0;
  do {
    cursor = d.scan(cursor, [&](Entry* e) { seen.insert(std::string(e->key())); });
    between(steps++);
  } while (cursor != 0);
  return seen;
}

}  // namespace

TEST_CASE("empty dict finds nothing and scans to cursor 0") {
  Dict d;
  CHECK(d.find("x") == nullptr);
  CHECK(d.unlink("x") == nullptr);
  CHECK(d.scan(0, [](Entry*) { FAIL("no entries"); }) == 0);
  CHECK(d.random_entry([] { return uint64_t{7}; }) == nullptr);
}

TEST_CASE("dict finds every key while a grow is rehashing incrementally") {
  Dict d;
  bool saw_rehashing = false;
  for (int i = 0; i < 5000; ++i) {
    add(d, key_of(i));
    if (d.is_rehashing()) {
      saw_rehashing = true;
      // Every key inserted so far is visible mid-rehash.
      if (i % 97 == 0)
        for (int j = 0; j <= i; ++j)
          REQUIRE(d.find(key_of(j)) != nullptr);
    }
  }
  CHECK(saw_rehashing);
  CHECK(d.size() == 5000);
  CHECK(d.find("key:5000") == nullptr);
  for (int i = 0; i < 5000; ++i)
    CHECK(d.find(key_of(i))->key() == key_of(i));
  while (d.rehash_step(100)) {
  }
  CHECK(d.bucket_count() == 8192);  // power of two >= used, load factor <= 1
}

TEST_CASE("dict deletes during rehash and shrinks when sparse") {
  Dict d;
  for (int i = 0; i < 4096; ++i)
    add(d, key_of(i));
  while (d.rehash_step(100)) {
  }
  size_t big = d.bucket_count();
  for (int i = 0; i < 4096; ++i) {
    if (i % 16 == 0) continue;
    REQUIRE(remove(d, key_of(i)));
    CHECK_FALSE(remove(d, key_of(i)));
  }
  while (d.rehash_step(100)) {
  }
  CHECK(d.size() == 256);
  CHECK(d.bucket_count() < big);
  CHECK(d.bucket_count() >= 256);
  for (int i = 0; i < 4096; ++i)
    CHECK((d.find(key_of(i)) != nullptr) == (i % 16 == 0));
}

TEST_CASE("replace swaps the entry in place, keeping chain neighbours") {
  Dict d;
  for (int i = 0; i < 100; ++i)
    add(d, key_of(i));
  Entry* old = d.find("key:42");
  Entry* repl = entry_new_string("key:42", "new value", kNoExpire);
  d.replace(old, repl);
  entry_free(old);
  CHECK(d.find("key:42") == repl);
  CHECK(d.size() == 100);
  for (int i = 0; i < 100; ++i)
    CHECK(d.find(key_of(i)) != nullptr);
}

TEST_CASE("scan returns every key exactly once on a stable table") {
  Dict d;
  for (int i = 0; i < 1000; ++i)
    add(d, key_of(i));
  while (d.rehash_step(100)) {
  }
  std::vector<std::string> all;
  uint64_t cursor = 0;
  do {
    cursor = d.scan(cursor, [&](Entry* e) { all.emplace_back(e->key()); });
  } while (cursor);
  CHECK(all.size() == 1000);
  CHECK(std::set<std::string>(all.begin(), all.end()).size() == 1000);
}

TEST_CASE("scan returns keys present throughout while the table grows") {
  Dict d;
  for (int i = 0; i < 300; ++i)
    add(d, key_of(i));
  int next = 300;
  // Adding must stop at some point or the scan chases a growing table forever.
  auto seen = full_scan(d, [&](int) {
    for (int k = 0; k < 20 && next < 5000; ++k)
      add(d, key_of(next++));  // several grows
  });
  CHECK(next == 5000);
  for (int i = 0; i < 300; ++i)
    CHECK(seen.count(key_of(i)) == 1);
}

TEST_CASE("scan returns keys present throughout while the table shrinks") {
  Dict d;
  for (int i = 0; i < 8192; ++i)
    add(d, key_of(i));
  while (d.rehash_step(100)) {
  }
  // Keys 0..99 stay; the others are deleted while the scan runs, which
  // shrinks the table (and rehashes it) several times mid-scan.
  int next_delete = 100;
  size_t start_buckets = d.bucket_count();
  auto seen = full_scan(d, [&](int) {
    for (int k = 0; k < 200 && next_delete < 8192; ++k)
      remove(d, key_of(next_delete++));
    d.rehash_step(1);
  });
  CHECK(d.bucket_count() < start_buckets);
  for (int i = 0; i < 100; ++i)
    CHECK(seen.count(key_of(i)) == 1);
}

TEST_CASE("scan stays complete when started in the middle of a rehash") {
  std::mt19937_64 rng(12345);
  for (int round = 0; round < 20; ++round) {
    Dict d;
    int n = 50 + static_cast<int>(rng() % 3000);
    for (int i = 0; i < n; ++i)
      add(d, key_of(i));
    int extra = 0;
    auto seen = full_scan(d, [&](int) {
      if (rng() % 2 && extra < n) add(d, "extra:" + std::to_string(extra++));
      if (rng() % 3 == 0) d.rehash_step(1);
    });
    for (int i = 0; i < n; ++i)
      REQUIRE(seen.count(key_of(i)) == 1);
  }
}

TEST_CASE("random_entry returns only present entries and eventually each of them") {
  Dict d;
  for (int i = 0; i < 16; ++i)
    add(d, key_of(i));
  std::mt19937_64 rng(1);
  std::set<std::string> got;
  for (int i = 0; i < 2000; ++i) {
    Entry* e = d.random_entry([&] { return rng(); });
    REQUIRE(e != nullptr);
    got.emplace(e->key());
  }
  CHECK(got.size() == 16);
}

TEST_CASE("clear frees everything and the dict is reusable") {
  Dict d;
  for (int i = 0; i < 1000; ++i)
    add(d, key_of(i));
  d.clear();
  CHECK(d.size() == 0);
  CHECK(d.bucket_count() == 0);
  add(d, "a");
  CHECK(d.find("a") != nullptr);
  Dict moved(std::move(d));
  CHECK(moved.find("a") != nullptr);
  CHECK(d.size() == 0);
}

TEST_CASE("prefetch is only a hint: it changes nothing, mid-rehash or empty") {
  Dict d;
  d.prefetch("x", 1);
  d.prefetch("x", 2);
  CHECK(d.bucket_count() == 0);
  int i = 0;
  while (!d.is_rehashing())
    add(d, key_of(i++));
  const size_t buckets = d.bucket_count();
  for (int j = 0; j < i + 10; ++j) {
    d.prefetch(key_of(j), 1);
    d.prefetch(key_of(j), 2);
  }
  CHECK(d.is_rehashing());  // a lookup hint does not move the rehash on
  CHECK(d.bucket_count() == buckets);
  CHECK(d.size() == static_cast<size_t>(i));
}
