// tests/unit/server_write_waiters_test.cc — the queue of clients waiting
// for their proposed entries: resolved in log order, and a leader that won
// leadership back hands over (rather than overwrites) the waiters of its
// old term whose entries its new log replaced.
#include <doctest/doctest.h>

#include "src/write_waiters.h"

using kvraft::WriteWaiter;
using kvraft::WriteWaiters;

namespace {
WriteWaiter waiter(uint64_t client, uint64_t term) {
  WriteWaiter w;
  w.client_id = client;
  w.term = term;
  return w;
}
}  // namespace

TEST_CASE("waiters are taken in log order, and only for their own index") {
  WriteWaiters q;
  CHECK(q.add(5, waiter(1, 2)).empty());
  CHECK(q.add(7, waiter(2, 2)).empty());  // 6 is someone else's entry (a no-op)
  CHECK_FALSE(q.take(4));
  auto w = q.take(5);
  REQUIRE(w);
  CHECK(w->client_id == 1);
  CHECK_FALSE(q.take(6));
  CHECK(q.size() == 1);
  CHECK(q.take(7)->client_id == 2);
  CHECK(q.empty());
}

TEST_CASE("a re-elected leader's proposal hands back the old term's waiters it replaced") {
  WriteWaiters q;
  q.add(10, waiter(1, 2));
  q.add(11, waiter(2, 2));
  q.add(12, waiter(3, 2));
  // Leader again in term 4 with a log ending at 10: its next entry is 11.
  auto replaced = q.add(11, waiter(4, 4));
  REQUIRE(replaced.size() == 2);
  CHECK(replaced[0].second.client_id == 3);
  CHECK(replaced[1].second.client_id == 2);
  CHECK(q.size() == 2);
  CHECK(q.take(10)->client_id == 1);
  auto w = q.take(11);
  REQUIRE(w);
  CHECK(w->client_id == 4);
  CHECK(w->term == 4);
}

TEST_CASE("waiters passed by the apply position, filtered, or all, come out") {
  WriteWaiters q;
  for (uint64_t i = 1; i <= 6; ++i) {
    WriteWaiter w = waiter(i, 1);
    w.proposed_ms = static_cast<int64_t>(i * 100);
    q.add(i * 10, w);
  }
  auto below = q.take_below(25);  // a snapshot moved the apply position past 20
  REQUIRE(below.size() == 2);
  CHECK(below[0].first == 10);
  CHECK(below[1].first == 20);
  auto late =
      q.take_if([](kvraft::raft::Index, const WriteWaiter& w) { return w.proposed_ms <= 400; });
  REQUIRE(late.size() == 2);
  CHECK(late[0].first == 30);
  CHECK(late[1].first == 40);
  CHECK(q.take(50)->client_id == 5);
  auto rest = q.take_all();
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].first == 60);
  CHECK(q.empty());
}
