// Integration tests of slow Raft log fsyncs: a leader whose fsyncs are slow
// keeps its followers from campaigning, because its heartbeats (and appends)
// do not wait in the core for its own disk write (Node::take_early_messages,
// Replication::on_loop_iteration); and a write committed while the leader's
// next batch is on the disk does not wait for that batch either
// (Node::take_committed_entries). The slow disk comes from an LD_PRELOAD
// shim (tests/support/preload/slow_fsync.c) that delays the fsyncs of the
// log segments in a directory holding a "slow-fsync-ms" file.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/cluster.h"
#include "tests/support/slow_fsync_shim.h"

using kvraft::test::LocalCluster;
using kvraft::test::RedisConnection;
using kvraft::test::SlowFsyncShim;

namespace {

// A 3-node cluster whose servers run under the slow-fsync shim, its leader
// found and a first write committed through it, so that what a test times
// starts from a settled cluster. fsync_ms() sets how long a node's log
// fsyncs take (0: as long as the disk's); the delays go when the test ends.
struct SlowDiskCluster {
  explicit SlowDiskCluster(std::vector<std::string> args) : cluster(3, std::move(args)) {
    leader = cluster.wait_for_leader();
    REQUIRE(leader >= 0);
    client = std::make_unique<RedisConnection>(cluster.port(leader));
    REQUIRE(client->cmd({"SET", "warm", "up"}).str == "OK");
  }
  ~SlowDiskCluster() {
    for (int i = 0; i < cluster.size(); ++i)
      fsync_ms(i, 0);
  }
  void fsync_ms(int node, int ms) {
    const std::string path = cluster.dir(node) + "/slow-fsync-ms";
    if (ms > 0)
      std::ofstream(path) << ms;
    else
      ::unlink(path.c_str());
  }
  SlowFsyncShim shim;  // declared first: the servers start under it
  LocalCluster cluster;
  int leader = -1;
  std::unique_ptr<RedisConnection> client;
};

}  // namespace

TEST_CASE("a leader whose fsyncs take longer than the election timeout keeps its leadership") {
  SlowDiskCluster s({"--election-timeout", "300", "--heartbeat-interval", "50"});
  LocalCluster& cluster = s.cluster;
  const int leader = s.leader;
  RedisConnection& c = *s.client;
  const std::string term = cluster.raft_field(leader, "term");

  // From now on each of the leader's log fsyncs takes 1.2 s: four times the
  // election timeout, and more than its longest randomized value (2x).
  s.fsync_ms(leader, 1200);
  for (int i = 0; i < 3; ++i)
    CHECK(c.cmd({"SET", "k" + std::to_string(i), "v"}).str == "OK");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  // Nobody campaigned: the same leader, in the same term, everywhere.
  for (int i = 0; i < cluster.size(); ++i) {
    INFO("node " << cluster.id(i));
    CHECK(cluster.raft_field(i, "term") == term);
    CHECK(cluster.raft_field(i, "leader_id") == std::to_string(cluster.id(leader)));
  }
}

TEST_CASE("a write committed while the leader's next batch is on the disk is answered at once") {
  // The leader's log fsyncs take 500 ms, the followers' 700 ms. SET x goes
  // into the leader's batch at t=0 (durable at 500); SET y, sent at 250,
  // waits for that batch and goes into the next one (on the disk from 500
  // to 1000). The followers acknowledge x at ~700: x is committed while
  // the leader's second batch is on the disk, and x is durable on the
  // leader, so its reply goes out at ~700 (Node::take_committed_entries)
  // rather than after that unrelated fsync, at ~1000.
  SlowDiskCluster s({"--election-timeout", "3000", "--heartbeat-interval", "100"});
  LocalCluster& cluster = s.cluster;
  const int leader = s.leader;
  RedisConnection& a = *s.client;
  RedisConnection b(cluster.port(leader));
  for (int i = 0; i < cluster.size(); ++i)
    s.fsync_ms(i, i == leader ? 500 : 700);

  const auto start = std::chrono::steady_clock::now();
  std::thread second([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    CHECK(b.cmd({"SET", "y", "2"}).str == "OK");
  });
  CHECK(a.cmd({"SET", "x", "1"}).str == "OK");
  const auto x_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  second.join();
  for (int i = 0; i < cluster.size(); ++i)
    s.fsync_ms(i, 0);
  INFO("SET x answered after " << x_ms << " ms");
  CHECK(x_ms >= 650);  // it did wait for a follower's fsync
  CHECK(x_ms < 900);   // ...but not for the leader's second one
  CHECK(std::stoull(cluster.raft_field(leader, "applied_during_fsync")) >= 1);
}

TEST_CASE("a leader with a slow disk answers a write once both followers hold it durably") {
  // The leader's log fsyncs take 1 s, the followers' are as fast as the
  // disk. Two followers' copies commit SET x while the leader's own is
  // still being written; committed is enough to apply and answer it
  // (Node::take_committed_entries), so the reply does not wait for the
  // leader's disk. Before, every write waited for the leader's fsync.
  SlowDiskCluster s({"--election-timeout", "3000", "--heartbeat-interval", "100"});
  const int leader = s.leader;
  RedisConnection& c = *s.client;
  s.fsync_ms(leader, 1000);

  const auto start = std::chrono::steady_clock::now();
  CHECK(c.cmd({"SET", "x", "1"}).str == "OK");
  const auto x_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  INFO("SET x answered after " << x_ms << " ms");
  CHECK(x_ms < 500);
  // The write is visible to a linearizable read on the leader and on a
  // follower, before the leader's fsync of it has finished.
  CHECK(c.cmd({"GET", "x"}).str == "1");
  RedisConnection f(s.cluster.port((leader + 1) % s.cluster.size()));
  CHECK(f.cmd({"GET", "x"}).str == "1");
}

TEST_CASE("a snapshot of state ahead of the leader's durable log is installed once the log is") {
  // With the leader's fsyncs at 1.5 s, SET x is applied (both followers hold
  // it) long before the leader's log holds it durably, and a BGSAVE right
  // then snapshots an applied index beyond the durable log. The storage can
  // only replace a durable prefix, so the snapshot waits for the fsync and
  // is installed after it, instead of failing.
  SlowDiskCluster s({"--election-timeout", "4000", "--heartbeat-interval", "100"});
  LocalCluster& cluster = s.cluster;
  const int leader = s.leader;
  RedisConnection& c = *s.client;
  s.fsync_ms(leader, 1500);
  REQUIRE(c.cmd({"SET", "x", "1"}).str == "OK");
  const std::string applied = cluster.raft_field(leader, "applied_index");
  REQUIRE(c.cmd({"BGSAVE"}).str == "Background saving started");
  s.fsync_ms(leader, 0);
  std::string snapshot_index;
  for (int i = 0; i < 100; ++i) {
    snapshot_index = cluster.raft_field(leader, "snapshot_index");
    if (std::stoull(snapshot_index) >= std::stoull(applied)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(std::stoull(snapshot_index) >= std::stoull(applied));
  std::string info = c.cmd({"INFO", "persistence"}).str;
  CHECK(info.find("rdb_last_bgsave_status:ok") != std::string::npos);
}
