// Integration tests of follower reads (src/follower_reads.cc): a follower
// serves linearizable reads from its own keyspace after asking the leader
// for a read index, instead of forwarding them. A write acknowledged by the
// leader is seen by every read that starts after it on any follower — even
// one whose disk is slow, so it applies entries well after the leader and
// the other follower committed them — a follower cut off from the others
// never answers from its stale state, and a connection's pipelined writes
// (forwarded) and reads (local) keep their order.
#include <doctest/doctest.h>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/slow_fsync_shim.h"

using kvraft::test::LocalCluster;
using kvraft::test::RedisConnection;
using kvraft::test::Reply;
using kvraft::test::SlowFsyncShim;

namespace {

uint64_t field_number(LocalCluster& cluster, int node, const std::string& name) {
  std::string v = cluster.raft_field(node, name);
  return v.empty() ? 0 : std::stoull(v);
}

}  // namespace

TEST_CASE("a read on a lagging follower right after a write acknowledged by the leader sees it") {
  SlowFsyncShim shim;
  LocalCluster cluster(3, {"--election-timeout", "300", "--heartbeat-interval", "50"});
  const int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  const int follower = (leader + 1) % 3;
  RedisConnection writer(cluster.port(leader));
  RedisConnection reader(cluster.port(follower));
  REQUIRE(writer.cmd({"SET", "k", "0"}).str == "OK");
  // The follower's log fsyncs now take 30 ms: it applies each write well
  // after the leader and the other follower have committed it.
  { std::ofstream(cluster.dir(follower) + "/slow-fsync-ms") << 30; }
  const uint64_t forwarded_before = field_number(cluster, follower, "proxy_forwarded");
  const uint64_t local_before = field_number(cluster, follower, "follower_local_reads");
  for (int i = 1; i <= 150; ++i) {
    REQUIRE(writer.cmd({"SET", "k", std::to_string(i)}).str == "OK");
    Reply r = reader.cmd({"GET", "k"});
    REQUIRE_MESSAGE(r.str == std::to_string(i), "read " << i << " got " << r.render());
  }
  // The reads were served by the follower, not forwarded to the leader.
  CHECK(field_number(cluster, follower, "proxy_forwarded") == forwarded_before);
  CHECK(field_number(cluster, follower, "follower_local_reads") >= local_before + 150);
}

TEST_CASE("a follower keeps a connection's pipelined writes and reads in order") {
  LocalCluster cluster(3, {"--election-timeout", "300", "--heartbeat-interval", "50"});
  const int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  RedisConnection c(cluster.port((leader + 1) % 3));
  for (int round = 0; round < 50; ++round) {
    std::string a = "a" + std::to_string(round), b = "b" + std::to_string(round);
    // A read before a forwarded write must not see it; one after must.
    c.append({"GET", "p"});
    c.append({"SET", "p", a});
    c.append({"GET", "p"});
    c.append({"SET", "p", b});
    c.append({"GET", "p"});
    c.append({"GET", "p"});
    Reply before = c.read();
    if (round == 0)
      CHECK(before.type == Reply::Type::kNil);
    else
      CHECK(before.str == "b" + std::to_string(round - 1));
    CHECK(c.read().str == "OK");
    CHECK(c.read().str == a);
    CHECK(c.read().str == "OK");
    CHECK(c.read().str == b);
    CHECK(c.read().str == b);
  }
}

TEST_CASE("a follower cut off from the leader never serves a stale read") {
  LocalCluster cluster(3, {"--election-timeout", "300", "--heartbeat-interval", "50"});
  const int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  const int follower = (leader + 1) % 3;
  const int other = (leader + 2) % 3;
  RedisConnection writer(cluster.port(leader));
  REQUIRE(writer.cmd({"SET", "k", "old"}).str == "OK");
  {
    RedisConnection probe(cluster.port(follower));
    REQUIRE(probe.cmd({"GET", "k"}).str == "old");
  }
  // The follower misses a write the other two acknowledge...
  cluster.pause(follower);
  REQUIRE(writer.cmd({"SET", "k", "new"}).str == "OK");
  // ...and when it runs again, nobody else does: it still believes in the
  // leader it knew, holds "old", and must not serve it.
  cluster.pause(leader);
  cluster.pause(other);
  cluster.resume(follower);
  RedisConnection reader(cluster.port(follower));
  int errors = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < until) {
    Reply r = reader.cmd({"GET", "k"});
    REQUIRE_MESSAGE(r.is_error(), "a cut-off follower answered " << r.render());
    ++errors;
  }
  CHECK(errors > 0);
  cluster.resume(leader);
  cluster.resume(other);
  // Back in touch: the follower catches up and serves the write.
  std::string seen;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    Reply r = reader.cmd({"GET", "k"});
    if (!r.is_error()) {
      seen = r.str;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(seen == "new");
}
