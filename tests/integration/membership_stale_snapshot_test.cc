// Integration test of a join whose snapshot predates the leader's own
// membership (issue #7): node 4 joins by InstallSnapshot, so its newest
// snapshot is one taken before it was added; it becomes the leader, node 1
// is removed, and node 5 joins from node 4. Node 5 loads that snapshot,
// whose membership (nodes 1, 2, 3) lacks its own leader; it must still
// accept the leader's connections, catch up, be promoted and hold every
// acknowledged write.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <string>

#include "tests/support/cluster.h"
#include "tests/support/membership.h"

using kvraft::test::admin;
using kvraft::test::check_acked_present;
using kvraft::test::LocalCluster;
using kvraft::test::RedisConnection;
using kvraft::test::Reply;
using kvraft::test::wait_roles;

namespace {

using namespace std::chrono_literals;

// Writes `n` keys prefix<i> = v<i> through node i in one pipeline and adds
// the acknowledged ones to *acked; returns how many were acknowledged.
int write_keys(LocalCluster& c, int i, const std::string& prefix, int n,
               std::map<std::string, std::string>* acked) {
  RedisConnection conn(c.port(i));
  for (int k = 0; k < n; ++k)
    conn.append({"SET", prefix + std::to_string(k), "v" + std::to_string(k)});
  int ok = 0;
  for (int k = 0; k < n; ++k) {
    if (conn.read().str != "OK") continue;
    (*acked)[prefix + std::to_string(k)] = "v" + std::to_string(k);
    ++ok;
  }
  return ok;
}

uint64_t raft_number(LocalCluster& c, int i, const std::string& field) {
  std::string v = c.raft_field(i, field);
  return v.empty() ? 0 : std::stoull(v);
}

// Makes node i the leader with RAFT.TRANSFER-LEADER, asking again (a loaded
// machine may time a transfer out) until node i says it leads or 30 s pass.
bool transfer_to(LocalCluster& c, int i) {
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (c.raft_field(i, "role") == "leader") return true;
    int leader = c.wait_for_leader();
    if (leader >= 0 && leader != i) {
      Reply r = admin(c, leader, {"RAFT.TRANSFER-LEADER", std::to_string(c.id(i))});
      if (r.str != "OK") MESSAGE("RAFT.TRANSFER-LEADER: " << r.render());
    }
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

}  // namespace

TEST_CASE("a node joining from a leader whose snapshot predates that leader catches up") {
  // No automatic snapshots: the one snapshot is taken by SAVE below, before
  // node 4 is added, and stays the newest on every node.
  LocalCluster c(3, {"--snapshot-log-entries", "1000000000"});
  int leader = c.wait_for_leader();
  REQUIRE(leader >= 0);
  std::map<std::string, std::string> acked;
  // More than the 1000 entries kept below a snapshot, so a new node cannot
  // be sent the log from its start and gets the snapshot.
  CHECK(write_keys(c, leader, "pre:", 3000, &acked) == 3000);
  for (int i = 0; i < 3; ++i)
    CHECK(admin(c, i, {"SAVE"}).str == "OK");
  const uint64_t before_add = raft_number(c, leader, "log_last_index");

  int n4 = c.add_joining_node(4, leader);
  CHECK(wait_roles(c, leader, "1:voter 2:voter 3:voter 4:voter"));
  CHECK(c.log(n4).find("Installed snapshot from the leader") != std::string::npos);
  // Node 4's newest snapshot is from before its own addition.
  const uint64_t snap4 = raft_number(c, n4, "snapshot_index");
  CHECK(snap4 > 0);
  CHECK(snap4 <= before_add);

  // Node 4 leads and node 1 leaves: the snapshot's membership (1, 2, 3)
  // now names a removed node and lacks the leader.
  REQUIRE(transfer_to(c, n4));
  CHECK(admin(c, n4, {"RAFT.NODE", "REMOVE", "1"}).str == "OK");
  CHECK(wait_roles(c, n4, "2:voter 3:voter 4:voter"));
  c.kill(0);
  CHECK(write_keys(c, n4, "post:", 50, &acked) == 50);
  CHECK(raft_number(c, n4, "snapshot_index") == snap4);  // still the stale one

  // Node 5 serves reads from its own state, so what it returns is what it holds.
  int n5 = c.add_joining_node(5, n4, {"--read-consistency", "stale"});
  CHECK(wait_roles(c, n4, "2:voter 3:voter 4:voter 5:voter"));
  CHECK(wait_roles(c, n5, "2:voter 3:voter 4:voter 5:voter"));
  CHECK(c.log(n5).find("Installed snapshot from the leader") != std::string::npos);
  CHECK(c.log(n5).find("unknown node id") == std::string::npos);

  const uint64_t commit = raft_number(c, n4, "commit_index");
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (raft_number(c, n5, "applied_index") < commit &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  CHECK(raft_number(c, n5, "applied_index") >= commit);
  check_acked_present(c, n5, acked);
  CHECK(c.wait_converged());

  // Node 5 restarts holding nothing but that snapshot, as if it had crashed
  // right after installing it, before any entry after it arrived: its
  // snapshot and its (empty) log name neither its leader nor itself. (Its
  // log is cut here after the fact, so the leader is changed and back for a
  // fresh view of node 5's log, as it would have had in that crash.)
  // Restarted with its --join address, it finds the members there again.
  c.kill(n5);
  for (const auto& e : std::filesystem::directory_iterator(c.dir(n5))) {
    std::string name = e.path().filename().string();
    if (name.rfind("snapshot-", 0) != 0) std::filesystem::remove_all(e.path());
  }
  REQUIRE(transfer_to(c, 1));
  REQUIRE(transfer_to(c, n4));
  c.start(n5);
  CHECK(write_keys(c, n4, "after:", 50, &acked) == 50);
  CHECK(wait_roles(c, n5, "2:voter 3:voter 4:voter 5:voter"));
  CHECK(c.log(n5).find("Join: refreshed the members") != std::string::npos);
  CHECK(c.wait_converged());
}
