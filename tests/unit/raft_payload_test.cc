// tests/unit/raft_payload_test.cc — entry payloads: a copy shares the bytes
// (no allocation, no memcpy), contents compare like strings, the empty
// payload allocates nothing, and the process-wide count of payload bytes
// follows the last owner of each payload, whatever thread drops it.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "raft/types.h"

using kvraft::raft::Entry;
using kvraft::raft::EntryType;
using kvraft::raft::Payload;

TEST_CASE("a copied entry shares its payload's bytes") {
  Entry a{1, 1, EntryType::kNormal, std::string(200, 'z')};
  Entry b = a;
  CHECK(b.data.shares_with(a.data));
  CHECK(b.data.data() == a.data.data());
  CHECK(b == a);
  Entry c{1, 1, EntryType::kNormal, std::string(200, 'z')};
  CHECK_FALSE(c.data.shares_with(a.data));
  CHECK(c == a);  // equal contents are equal, shared or not
}

TEST_CASE("payloads compare and convert like the bytes they hold") {
  std::string bin("a\0b", 3);
  Payload p(bin);
  CHECK(p.size() == 3);
  CHECK(p == bin);
  CHECK(p == std::string_view(bin));
  CHECK_FALSE(p == "a");
  CHECK(p.str() == bin);
  std::string_view v = p;
  CHECK(v == bin);
  Payload empty;
  CHECK(empty.empty());
  CHECK(empty == "");
  CHECK(empty.data() != nullptr);
  CHECK(Payload("").empty());
  CHECK(Payload::footprint(0) == 0);
}

TEST_CASE("live bytes count each payload once, until its last copy is gone") {
  const uint64_t base = Payload::live_bytes();
  {
    Payload p(std::string(1000, 'x'));
    const uint64_t one = Payload::footprint(1000);
    CHECK(one >= 1000);
    CHECK(Payload::live_bytes() == base + one);
    std::vector<Payload> copies(50, p);
    CHECK(Payload::live_bytes() == base + one);  // shared, not copied
    Payload moved = std::move(p);
    copies.clear();
    CHECK(Payload::live_bytes() == base + one);  // `moved` still holds it
    Payload other("y");
    CHECK(Payload::live_bytes() == base + one + Payload::footprint(1));
    other = moved;  // drops "y", shares the big one
    CHECK(Payload::live_bytes() == base + one);
  }
  CHECK(Payload::live_bytes() == base);
}

TEST_CASE("copies may be dropped by several threads at once") {
  const uint64_t base = Payload::live_bytes();
  {
    std::vector<Payload> shared;
    for (int i = 0; i < 100; ++i)
      shared.emplace_back(std::string(64 + static_cast<size_t>(i), 'q'));
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([copy = shared] {
        std::vector<Payload> more;
        for (int round = 0; round < 100; ++round)
          for (const Payload& p : copy)
            more.push_back(p);
      });
    }
    for (auto& t : threads)
      t.join();
  }
  CHECK(Payload::live_bytes() == base);
}
