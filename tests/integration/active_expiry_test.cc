// Integration tests of active expiry through the Raft log: the leader
// proposes KVRAFT.EXPIRE-KEYS for keys it finds expired, and must propose
// each key once while that deletion is on its way, not again on every
// sampling pass until it is applied (found by the fault harness,
// tests/faults: a partitioned or slow leader flooded its log with hundreds
// of thousands of identical expiry records).
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/redis_client.h"
#include "tests/support/test_support.h"

using kvraft::test::LocalCluster;
using kvraft::test::RedisConnection;
using kvraft::test::Reply;
using kvraft::test::ServerProcess;

namespace {

// A RAFT.INFO field of the node on `port`.
long long raft_number(int port, const std::string& name) {
  RedisConnection c(port);
  Reply r = c.cmd({"RAFT.INFO"});
  for (size_t k = 0; k + 1 < r.elements.size(); k += 2)
    if (r.elements[k].str == name) return std::stoll(r.elements[k + 1].str);
  FAIL("RAFT.INFO has no " << name);
  return -1;
}

}  // namespace

TEST_CASE("each expired key is proposed for deletion once, not once per sampling pass") {
  ServerProcess server;
  RedisConnection c(server.port());
  for (int i = 0; i < 5; ++i)
    REQUIRE(c.cmd({"SET", "k" + std::to_string(i), "v", "PX", "50"}).render() == "OK");
  const long long before = raft_number(server.port(), "commit_index");
  // Several cron passes (hz 10) after the keys expired.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(c.cmd({"DBSIZE"}).integer == 0);
  const long long after = raft_number(server.port(), "commit_index");
  // One KVRAFT.EXPIRE-KEYS record for all five would do; allow a few more
  // (a slow machine may split them over passes), never hundreds.
  CHECK(after - before <= 10);
}

TEST_CASE("a leader that cannot commit does not flood its log with expiry records") {
  // The leader alone, its followers paused: expiry records cannot commit,
  // and the keys stay until they do.
  LocalCluster cluster(3);
  const int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  RedisConnection c(cluster.port(leader));
  for (int i = 0; i < 5; ++i)
    REQUIRE(c.cmd({"SET", "k" + std::to_string(i), "v", "PX", "300"}).render() == "OK");
  for (int i = 0; i < cluster.size(); ++i)
    if (i != leader) cluster.pause(i);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const long long last = raft_number(cluster.port(leader), "log_last_index");
  const long long commit = raft_number(cluster.port(leader), "commit_index");
  for (int i = 0; i < cluster.size(); ++i)
    if (i != leader) cluster.resume(i);
  CHECK(last - commit <= 10);
  REQUIRE(cluster.wait_converged());
}
