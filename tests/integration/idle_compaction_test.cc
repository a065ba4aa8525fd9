// Integration test: a snapshot's log compaction and the removal of the
// older snapshot file happen even when no write follows the snapshot (they
// used to wait for the next Ready batch, so an idle node kept the whole
// covered log on disk).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "tests/support/redis_client.h"
#include "tests/support/test_support.h"

using kvraft::test::info_field;
using kvraft::test::RedisConnection;
using kvraft::test::ServerProcess;

namespace {

size_t count_files(const std::string& dir, const std::string& prefix, const std::string& suffix) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      ++n;
  }
  return n;
}

// Pipelines of 10, so the log gets many small batches (a segment rolls only
// between batches).
void write_keys(RedisConnection& c, int from, int to) {
  for (int a = from; a < to; a += 10) {
    const int b = std::min(to, a + 10);
    for (int i = a; i < b; ++i)
      c.append(
          {"SET", "key:" + std::to_string(i), std::string(100, static_cast<char>('a' + i % 26))});
    for (int i = a; i < b; ++i)
      REQUIRE(c.read().str == "OK");
  }
}

// BGSAVE, then waits (no writes) until the snapshot is installed.
void bgsave_and_wait(RedisConnection& c) {
  const std::string before = info_field(c, "persistence", "raft_snapshot_index");
  REQUIRE(c.cmd({"BGSAVE"}).type == kvraft::test::Reply::Type::kStatus);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (info_field(c, "persistence", "raft_snapshot_index") == before) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(info_field(c, "persistence", "rdb_last_bgsave_status") == "ok");
}

// Waits up to 5 s for `pred`; false if it never held.
template <typename Pred>
bool eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace

TEST_CASE("an idle node compacts its log and drops the older snapshot right after a snapshot") {
  ServerProcess server({"--raft-log-segment-size", "4096", "--snapshot-log-entries", "100000000",
                        "--snapshot-log-bytes", "100gb"});
  RedisConnection c(server.port());
  write_keys(c, 0, 3000);
  const size_t segments_before = count_files(server.dir(), "log-", ".seg");
  REQUIRE(segments_before > 20);

  bgsave_and_wait(c);
  // No write after the snapshot: the covered segments must still go. 1000
  // entries below the snapshot stay (the retained window), ~1/3 of the log.
  CHECK(
      eventually([&] { return count_files(server.dir(), "log-", ".seg") < segments_before / 2; }));
  CHECK(count_files(server.dir(), "snapshot-", ".rdb") == 1);

  write_keys(c, 3000, 3100);
  bgsave_and_wait(c);
  // The first snapshot file goes too, without another write.
  CHECK(eventually([&] { return count_files(server.dir(), "snapshot-", ".rdb") == 1; }));
  CHECK(c.cmd({"GET", "key:2999"}).str == std::string(100, static_cast<char>('a' + 2999 % 26)));
  CHECK(c.cmd({"DBSIZE"}).integer == 3100);
}
