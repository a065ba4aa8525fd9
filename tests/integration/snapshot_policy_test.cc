// Integration test: the automatic snapshot policy (Config::snapshot_log_*).
// A snapshot waits until the log written since the last one is both at
// least snapshot-log-bytes and at least snapshot-log-percentage % of the
// last snapshot's size, as Redis's automatic AOF rewrite does, so its cost
// (proportional to the keyspace) is spread over a growing number of writes;
// snapshot-log-entries, when set, still forces one after that many entries.
// In a cluster the replicas' first snapshots are staggered by node rank, so
// they do not all fork at the same index.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/cluster.h"
#include "tests/support/redis_client.h"
#include "tests/support/test_support.h"

using kvraft::test::info_field;
using kvraft::test::LocalCluster;
using kvraft::test::RedisConnection;
using kvraft::test::ServerProcess;

namespace {

std::string snapshot_index(RedisConnection& c) {
  return info_field(c, "persistence", "raft_snapshot_index");
}

// Waits up to 20 s for a snapshot index other than `before`.
std::string wait_snapshot_after(RedisConnection& c, const std::string& before) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::string now;
  while ((now = snapshot_index(c)) == before) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return now;
}

// A `size`-byte value that LZF cannot shrink (the snapshot keeps its size).
std::string incompressible(size_t size, uint64_t seed) {
  std::string v(size, ' ');
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (char& ch : v) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ch = static_cast<char>('!' + x % 90);
  }
  return v;
}

// `n` SETs of `size`-byte values, pipelined by 10.
void write_values(RedisConnection& c, int n, size_t size, const std::string& prefix) {
  for (int a = 0; a < n; a += 10) {
    const int b = std::min(n, a + 10);
    for (int i = a; i < b; ++i)
      c.append({"SET", prefix + std::to_string(i), incompressible(size, static_cast<uint64_t>(i))});
    for (int i = a; i < b; ++i)
      REQUIRE(c.read().str == "OK");
  }
}

}  // namespace

TEST_CASE("a snapshot waits until the log has grown by the percentage of the last snapshot") {
  ServerProcess server(
      {"--snapshot-log-bytes", "4kb", "--snapshot-log-percentage", "100", "--raft-fsync", "never"});
  RedisConnection c(server.port());
  // 40 x 10 KB: past the 4 KB minimum with no snapshot yet, so snapshots
  // start; a BGSAVE then covers everything (~400 KB), leaving no log behind.
  write_values(c, 40, 10000, "big:");
  wait_snapshot_after(c, "0");
  for (int attempt = 0;; ++attempt) {
    REQUIRE(attempt < 200);
    const std::string before = snapshot_index(c);
    auto r = c.cmd({"BGSAVE"});
    if (r.type == kvraft::test::Reply::Type::kStatus) {
      wait_snapshot_after(c, before);
      break;
    }
    if (r.str.find("nothing new") != std::string::npos) break;   // covered already
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // one is running
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::string settled = snapshot_index(c);
  // ~30 KB of small records: above the minimum, below 100 % of the
  // snapshot: no new snapshot (the old policy took one after 4 KB).
  write_values(c, 400, 20, "small:");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(snapshot_index(c) == settled);
  // Past the snapshot's size (~400 KB of values written again), it comes.
  write_values(c, 60, 10000, "big:");
  wait_snapshot_after(c, settled);
}

TEST_CASE("snapshot-log-entries still forces a snapshot after that many entries") {
  ServerProcess server({"--snapshot-log-entries", "50", "--raft-fsync", "never"});
  RedisConnection c(server.port());
  write_values(c, 60, 10, "k:");
  wait_snapshot_after(c, "0");
}

// Every replica applies the same entries; with one threshold all three
// would fork at the same index and stall a quorum at once. Node i of n
// (by id) waits for an extra i/n of the threshold before its first one.
TEST_CASE("replicas take their first automatic snapshot at points staggered by node rank") {
  LocalCluster cluster(3, {"--snapshot-log-bytes", "64kb", "--snapshot-log-percentage", "0",
                           "--raft-fsync", "never"});
  const int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  std::vector<std::unique_ptr<RedisConnection>> nodes;
  for (int i = 0; i < 3; ++i)
    nodes.push_back(std::make_unique<RedisConnection>(cluster.port(i)));
  // Waits until node i has applied everything the leader has committed.
  auto wait_applied = [&](int i) {
    const std::string commit = cluster.raft_field(leader, "commit_index");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::stoull(cluster.raft_field(i, "applied_index")) < std::stoull(commit)) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  RedisConnection c(cluster.port(leader));
  // ~80 KB of records: past node 1's threshold (64 KB), short of node 3's
  // (64 KB + 2/3).
  write_values(c, 8, 10000, "a:");
  const std::string first = wait_snapshot_after(*nodes[0], "0");
  wait_applied(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(info_field(*nodes[2], "persistence", "rdb_bgsave_in_progress") == "0");
  CHECK(snapshot_index(*nodes[2]) == "0");
  // ~60 KB more: past node 3's threshold too; its snapshot covers more.
  write_values(c, 6, 10000, "b:");
  const std::string third = wait_snapshot_after(*nodes[2], "0");
  CHECK(std::stoull(third) > std::stoull(first));
}
