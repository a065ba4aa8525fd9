// Integration tests of online membership changes with real kvraft-server
// processes: RAFT.NODE ADD / REMOVE and RAFT.NODES, --join of a fresh node,
// automatic promotion, removal of a voter, a learner and the leader, the
// refusals (a removed id, a second change while one is pending, a join to
// another cluster id), and that a continuous write load loses no
// acknowledged write while the membership changes under it.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/membership.h"

using kvraft::test::admin;
using kvraft::test::check_acked_present;
using kvraft::test::LocalCluster;
using kvraft::test::RedisConnection;
using kvraft::test::Reply;
using kvraft::test::roles;
using kvraft::test::wait_roles;

namespace {

using namespace std::chrono_literals;

// One client writing unique keys through the nodes in `nodes` (moving to the
// next one on a connection error), remembering every acknowledged write.
// -TRYAGAIN / -CLUSTERDOWN and other errors are retried with the same key.
class Writer {
 public:
  Writer(LocalCluster& cluster, std::vector<int> nodes)
      : cluster_(cluster), nodes_(std::move(nodes)), thread_([this] { run(); }) {}
  ~Writer() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::map<std::string, std::string> acked() {
    std::lock_guard<std::mutex> g(mu_);
    return acked_;
  }
  size_t acked_count() {
    std::lock_guard<std::mutex> g(mu_);
    return acked_.size();
  }
  size_t errors() const { return errors_; }

 private:
  void run() {
    size_t at = 0;
    std::unique_ptr<RedisConnection> conn;
    for (int i = 0; !stop_;) {
      std::string key = "mw:" + std::to_string(i);
      try {
        if (!conn) conn = std::make_unique<RedisConnection>(cluster_.port(nodes_[at]));
        Reply r = conn->cmd({"SET", key, std::to_string(i)});
        if (r.type == Reply::Type::kStatus && r.str == "OK") {
          std::lock_guard<std::mutex> g(mu_);
          acked_[key] = std::to_string(i);
          ++i;
        } else {
          // -TRYAGAIN, -CLUSTERDOWN, a removed node's refusal, ...: retry
          // the same key, through the next node.
          ++errors_;
          conn.reset();
          at = (at + 1) % nodes_.size();
          std::this_thread::sleep_for(5ms);
        }
      } catch (const std::exception&) {
        ++errors_;
        conn.reset();
        at = (at + 1) % nodes_.size();
        std::this_thread::sleep_for(10ms);
      }
    }
  }

  LocalCluster& cluster_;
  std::vector<int> nodes_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> errors_{0};
  std::mutex mu_;
  std::map<std::string, std::string> acked_;
  std::thread thread_;
};

// RAFT.NODES of node i without the volatile columns (match index, leader).
std::string members(LocalCluster& c, int i) {
  RedisConnection conn(c.port(i));
  Reply r = conn.cmd({"RAFT.NODES"});
  std::string out;
  for (const auto& n : r.elements)
    out += std::to_string(n.elements[0].integer) + "@" + n.elements[1].str + "/" +
           std::to_string(n.elements[2].integer) + "/" + n.elements[3].str + " ";
  return out;
}

}  // namespace

TEST_CASE("grow 3 -> 5 by --join and shrink back under write load without losing a write") {
  LocalCluster c(3);
  REQUIRE(c.wait_for_leader() >= 0);
  Writer w(c, {0, 1, 2});
  std::this_thread::sleep_for(300ms);

  int n4 = c.add_joining_node(4, 0);
  CHECK(wait_roles(c, 0, "1:voter 2:voter 3:voter 4:voter"));
  int n5 = c.add_joining_node(5, 1);
  CHECK(wait_roles(c, 0, "1:voter 2:voter 3:voter 4:voter 5:voter"));
  CHECK(wait_roles(c, n5, "1:voter 2:voter 3:voter 4:voter 5:voter"));
  // The joined nodes serve clients too (their proxy knows the leader).
  {
    RedisConnection conn(c.port(n4));
    CHECK(conn.cmd({"SET", "via4", "x"}).str == "OK");
    CHECK(conn.cmd({"GET", "via4"}).str == "x");
  }

  CHECK(admin(c, 0, {"RAFT.NODE", "REMOVE", "4"}).str == "OK");
  CHECK(admin(c, 1, {"RAFT.NODE", "REMOVE", "5"}).str == "OK");
  CHECK(wait_roles(c, 0, "1:voter 2:voter 3:voter"));
  size_t before = w.acked_count();
  std::this_thread::sleep_for(500ms);
  CHECK(w.acked_count() > before);  // writes kept flowing
  w.stop();
  MESSAGE("acknowledged writes: " << w.acked_count() << ", retried errors: " << w.errors());

  // The removed nodes know it: INFO says so and writes are refused.
  for (int i : {n4, n5}) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (c.raft_field(i, "raft_removed") != "1" && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(50ms);
    CHECK(c.raft_field(i, "raft_removed") == "1");
    RedisConnection conn(c.port(i));
    Reply r = conn.cmd({"SET", "k", "v"});
    CHECK(r.type == Reply::Type::kError);
    CHECK(r.str.find("removed") != std::string::npos);
    c.kill(i);
  }
  check_acked_present(c, 0, w.acked());
  CHECK(c.wait_converged());
}

TEST_CASE("replace a node; refusals; restart keeps the membership; remove the leader") {
  // A longer election timeout: the leader must keep leading (CheckQuorum)
  // while its followers are stopped for a moment below.
  // Frequent snapshots: node 4 joins by InstallSnapshot, and its restart
  // finds the other members' addresses only in its snapshot's aux field.
  LocalCluster c(3, {"--election-timeout", "1500", "--snapshot-log-entries", "100"});
  int leader = c.wait_for_leader();
  REQUIRE(leader >= 0);
  Writer w(c, {0, 1, 2});

  // Replace node 3 by node 4.
  CHECK(admin(c, 0, {"RAFT.NODE", "REMOVE", "3"}).str == "OK");
  CHECK(wait_roles(c, 0, "1:voter 2:voter"));
  {
    // The removed node refuses writes for good; a command a follower's proxy
    // forwarded to it (it was the leader the follower knew) must get a
    // retryable error, since the follower's client can succeed elsewhere.
    RedisConnection plain(c.port(2));
    std::string refusal;
    for (int k = 0; k < 100 && refusal.find("removed") == std::string::npos; ++k) {
      refusal = plain.cmd({"SET", "after-removal", "x"}).str;
      if (refusal.find("removed") == std::string::npos) std::this_thread::sleep_for(50ms);
    }
    CHECK(refusal.rfind("ERR this node was removed", 0) == 0);
    RedisConnection proxied(c.port(2));
    CHECK(proxied.cmd({"CLIENT", "SETNAME", "kvraft-proxy"}).str == "OK");
    CHECK(proxied.cmd({"SET", "after-removal", "x"}).str.rfind("TRYAGAIN", 0) == 0);
  }
  c.kill(2);
  Reply again = admin(c, 0, {"RAFT.NODE", "ADD", "3", "127.0.0.1:1", "2"});
  CHECK(again.type == Reply::Type::kError);
  CHECK(again.str.find("removed") != std::string::npos);
  Reply unknown = admin(c, 0, {"RAFT.NODE", "REMOVE", "42"});
  CHECK(unknown.type == Reply::Type::kError);
  CHECK(unknown.str.find("not a member") != std::string::npos);
  Reply dup = admin(c, 0, {"RAFT.NODE", "ADD", "2", "127.0.0.1:1", "2"});
  CHECK(dup.str.find("already a member") != std::string::npos);
  {
    // More than the 1000 entries kept below a snapshot, so the new node
    // cannot be sent the log from its start.
    RedisConnection conn(c.port(0));
    for (int i = 0; i < 3000; ++i)
      conn.append({"SET", "pre:" + std::to_string(i), "v"});
    int ok = 0;
    for (int i = 0; i < 3000; ++i)
      ok += conn.read().str == "OK";
    CHECK(ok == 3000);
  }
  int n4 = c.add_joining_node(4, 1);
  CHECK(wait_roles(c, 0, "1:voter 2:voter 4:voter"));

  // A second change while one is pending is refused: with both followers
  // stopped the first one cannot commit.
  leader = c.wait_for_leader();
  REQUIRE(leader >= 0);
  std::vector<int> followers;
  for (int i : {0, 1, n4})
    if (i != leader) followers.push_back(i);
  // The promotion of 4 is committed, not only in the leader's log (the
  // membership in force is the newest in the log, so wait_roles above can
  // pass before it commits; its log_last_index, the storage's, can lag the
  // core's log and was no proof either).
  auto number = [&](const char* field) { return std::stoull(c.raft_field(leader, field)); };
  for (int k = 0; k < 500 && number("commit_index") < number("last_conf_index"); ++k)
    std::this_thread::sleep_for(20ms);
  REQUIRE(number("commit_index") >= number("last_conf_index"));
  for (int f : followers)
    c.pause(f);
  Reply first;
  std::thread first_client([&] {
    try {
      first = RedisConnection(c.port(leader))
                  .cmd({"RAFT.NODE", "ADD", "6", "127.0.0.1:1", "2", "LEARNER"});
    } catch (const std::exception& e) {
      first.str = e.what();
    }
  });
  std::this_thread::sleep_for(200ms);
  Reply second = RedisConnection(c.port(leader)).cmd({"RAFT.NODE", "ADD", "7", "127.0.0.1:3", "4"});
  CHECK(second.type == Reply::Type::kError);
  CHECK(second.str.find("already in progress") != std::string::npos);
  for (int f : followers)
    c.resume(f);
  first_client.join();
  CHECK(first.str == "OK");
  CHECK(wait_roles(c, 0, "1:voter 2:voter 4:voter 6:learner"));
  // A LEARNER stays one; removing a learner is one change.
  std::this_thread::sleep_for(500ms);
  CHECK(roles(c, 0) == "1:voter 2:voter 4:voter 6:learner");
  CHECK(admin(c, 0, {"RAFT.NODE", "REMOVE", "6"}).str == "OK");
  CHECK(wait_roles(c, 0, "1:voter 2:voter 4:voter"));

  // Restarts (the joined node too, which must not join again) keep RAFT.NODES.
  for (int i : {1, n4}) {
    std::string before = members(c, i);
    c.kill(i);
    c.start(i);
    CHECK(wait_roles(c, i, "1:voter 2:voter 4:voter"));
    CHECK(members(c, i) == before);
  }
  CHECK(c.log(n4).find("Join: the cluster") != std::string::npos);
  CHECK(c.log(n4).find("Installed snapshot from the leader") != std::string::npos);
  CHECK(c.raft_field(n4, "raft_removed") == "0");

  // Remove the leader: it steps down once the change commits.
  leader = c.wait_for_leader();
  REQUIRE(leader >= 0);
  std::string lid = std::to_string(c.id(leader));
  CHECK(admin(c, leader, {"RAFT.NODE", "REMOVE", lid}).str == "OK");
  std::vector<int> rest;
  for (int i : {0, 1, n4})
    if (i != leader) rest.push_back(i);
  std::string want;
  for (int i : rest)
    want += (want.empty() ? "" : " ") + std::to_string(c.id(i)) + ":voter";
  CHECK(wait_roles(c, rest[0], want));
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (c.raft_field(leader, "raft_removed") != "1" && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  CHECK(c.raft_field(leader, "raft_removed") == "1");
  CHECK(c.raft_field(leader, "role") != "leader");
  std::this_thread::sleep_for(1s);  // the writer moves on to a remaining node
  w.stop();
  c.kill(leader);
  REQUIRE(c.wait_for_leader() >= 0);
  check_acked_present(c, rest[0], w.acked());
  CHECK(c.wait_converged());
}

TEST_CASE("a node refuses to join a cluster with another cluster id") {
  LocalCluster c(1);
  REQUIRE(c.wait_for_leader() >= 0);
  std::string error;
  try {
    c.add_joining_node(2, 0, {"--cluster-id", "another"});
  } catch (const std::exception& e) {
    error = e.what();
  }
  CHECK(error.find("refusing to join a different cluster") != std::string::npos);
  CHECK(error.find("'kvraft'") != std::string::npos);
  CHECK(roles(c, 0) == "1:voter");
}
