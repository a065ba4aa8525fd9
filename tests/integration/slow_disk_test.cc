// Integration test: a leader whose Raft log fsyncs are slow keeps its
// followers from campaigning, because its heartbeats (and appends) do not
// wait in the core for its own disk write (Node::take_early_messages,
// Replication::on_loop_iteration). The slow disk comes from an LD_PRELOAD
// shim (tests/support/preload/slow_fsync.c) that delays the fsyncs of the
// log segments in a directory holding a "slow-fsync-ms" file.
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/slow_fsync_shim.h"

using kvraft::test::LocalCluster;
using kvraft::test::RedisConnection;
using kvraft::test::SlowFsyncShim;

TEST_CASE("a leader whose fsyncs take longer than the election timeout keeps its leadership") {
  SlowFsyncShim shim;
  LocalCluster cluster(3, {"--election-timeout", "300", "--heartbeat-interval", "50"});
  const int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  RedisConnection c(cluster.port(leader));
  REQUIRE(c.cmd({"SET", "warm", "up"}).str == "OK");
  const std::string term = cluster.raft_field(leader, "term");

  // From now on each of the leader's log fsyncs takes 1.2 s: four times the
  // election timeout, and more than its longest randomized value (2x).
  { std::ofstream(cluster.dir(leader) + "/slow-fsync-ms") << 1200; }
  for (int i = 0; i < 3; ++i)
    CHECK(c.cmd({"SET", "k" + std::to_string(i), "v"}).str == "OK");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  // Nobody campaigned: the same leader, in the same term, everywhere.
  for (int i = 0; i < cluster.size(); ++i) {
    INFO("node " << cluster.id(i));
    CHECK(cluster.raft_field(i, "term") == term);
    CHECK(cluster.raft_field(i, "leader_id") == std::to_string(cluster.id(leader)));
  }
  ::unlink((cluster.dir(leader) + "/slow-fsync-ms").c_str());
}
