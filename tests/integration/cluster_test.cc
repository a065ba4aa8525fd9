// Integration tests of a replicated cluster of real kvraft-server processes:
// election, any node serving clients, failover under load without losing an
// acknowledged write, catch-up by InstallSnapshot, redirect mode.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/client_threads.h"
#include "tests/support/cluster.h"

using kvraft::test::ClientThreads;
using kvraft::test::LocalCluster;
using kvraft::test::RedisConnection;
using kvraft::test::Reply;

namespace {

// Several clients writing unique keys, each remembering which writes were
// acknowledged (+OK) and which were attempted at all. A client whose node
// fails moves on to the next node.
class WriteLoad {
 public:
  WriteLoad(LocalCluster& cluster, int clients)
      : cluster_(cluster), threads_(clients, [this](int t) { run(t); }) {}
  void stop() { threads_.stop(); }
  std::map<std::string, std::string> acked() {
    std::lock_guard<std::mutex> g(mu_);
    return acked_;
  }
  std::set<std::string> attempted() {
    std::lock_guard<std::mutex> g(mu_);
    return attempted_;
  }
  std::chrono::steady_clock::time_point last_ack() {
    std::lock_guard<std::mutex> g(mu_);
    return last_ack_;
  }

 private:
  void run(int t) {
    int node = t % cluster_.size();
    std::unique_ptr<RedisConnection> conn;
    for (int i = 0; !threads_.stopping(); ++i) {
      std::string key = "load:" + std::to_string(t) + ":" + std::to_string(i);
      std::string value = std::to_string(i);
      try {
        if (!conn) conn = std::make_unique<RedisConnection>(cluster_.port(node));
        {
          std::lock_guard<std::mutex> g(mu_);
          attempted_.insert(key);
        }
        Reply r = conn->cmd({"SET", key, value});
        if (r.type == Reply::Type::kStatus && r.str == "OK") {
          std::lock_guard<std::mutex> g(mu_);
          acked_[key] = value;
          last_ack_ = std::chrono::steady_clock::now();
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      } catch (const std::exception&) {
        conn.reset();
        node = (node + 1) % cluster_.size();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }

  LocalCluster& cluster_;
  std::mutex mu_;
  std::map<std::string, std::string> acked_;
  std::set<std::string> attempted_;
  std::chrono::steady_clock::time_point last_ack_;
  ClientThreads threads_;  // last: joined before the state above is destroyed
};

// Every acknowledged write is readable (through `port`, linearizably), and
// every key present was at least attempted.
void check_no_lost_writes(int port, const std::map<std::string, std::string>& acked,
                          const std::set<std::string>& attempted) {
  RedisConnection c(port);
  size_t missing = 0;
  for (const auto& [k, v] : acked)
    c.append({"GET", k});
  for (const auto& [k, v] : acked) {
    Reply r = c.read();
    if (r.str != v) {
      if (++missing <= 5)
        MESSAGE("lost acknowledged write " << k << " = " << v << ", got " << r.render());
    }
  }
  CHECK(missing == 0);
  std::string cursor = "0";
  size_t unexpected = 0, seen = 0;
  do {
    Reply r = c.cmd({"SCAN", cursor, "MATCH", "load:*", "COUNT", "1000"});
    REQUIRE(r.elements.size() == 2);
    cursor = r.elements[0].str;
    for (const auto& k : r.elements[1].elements) {
      ++seen;
      if (!attempted.count(k.str)) ++unexpected;
    }
  } while (cursor != "0");
  CHECK(unexpected == 0);
  CHECK(seen >= acked.size());
}

}  // namespace

TEST_CASE("a 3-node cluster elects a leader and every node serves reads and writes") {
  LocalCluster cluster(3);
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  int f1 = (leader + 1) % 3, f2 = (leader + 2) % 3;
  RedisConnection on_f1(cluster.port(f1));
  RedisConnection on_f2(cluster.port(f2));
  RedisConnection on_leader(cluster.port(leader));
  CHECK(on_f1.run({"SET", "greeting", "hello"}) == "OK");
  CHECK(on_f2.run({"GET", "greeting"}) == "hello");
  CHECK(on_leader.run({"APPEND", "greeting", " world"}) == "(integer) 11");
  CHECK(on_f1.run({"GET", "greeting"}) == "hello world");
  // A pipeline through a follower mixing writes and reads answers in order
  // and every read sees the write before it.
  for (int i = 0; i < 200; ++i) {
    on_f2.append({"SET", "seq", std::to_string(i)});
    on_f2.append({"GET", "seq"});
  }
  for (int i = 0; i < 200; ++i) {
    REQUIRE(on_f2.read().str == "OK");
    REQUIRE(on_f2.read().str == std::to_string(i));
  }
  // SELECT is per connection and travels with forwarded commands.
  CHECK(on_f1.run({"SELECT", "3"}) == "OK");
  CHECK(on_f1.run({"SET", "db3key", "x"}) == "OK");
  CHECK(on_f2.run({"GET", "db3key"}) == "(nil)");
  CHECK(on_f2.run({"SELECT", "3"}) == "OK");
  CHECK(on_f2.run({"GET", "db3key"}) == "x");
  CHECK(cluster.wait_converged());
  std::string info = on_f1.run({"INFO", "replication"});
  CHECK(info.find("role:slave") != std::string::npos);
}

TEST_CASE("kill -9 of the leader under write load loses no acknowledged write") {
  LocalCluster cluster(3);
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  WriteLoad load(cluster, 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto killed_at = std::chrono::steady_clock::now();
  cluster.kill(leader);
  int next = -1;
  auto deadline = killed_at + std::chrono::seconds(15);
  while (next < 0 && std::chrono::steady_clock::now() < deadline)
    next = cluster.wait_for_leader();
  REQUIRE(next >= 0);
  CHECK(next != leader);
  // Failover: from the kill to the first acknowledged write after it.
  while (load.last_ack() < killed_at && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto failover =
      std::chrono::duration_cast<std::chrono::milliseconds>(load.last_ack() - killed_at).count();
  MESSAGE("failover (kill -9 of the leader to the first acknowledged write): " << failover
                                                                               << " ms");
  CHECK(load.last_ack() > killed_at);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  load.stop();
  auto acked = load.acked();
  MESSAGE("acknowledged writes: " << acked.size());
  CHECK(acked.size() > 100);
  check_no_lost_writes(cluster.port(next), acked, load.attempted());
  // The old leader comes back and converges.
  cluster.start(leader);
  CHECK(cluster.wait_converged(std::chrono::seconds(30)));
  check_no_lost_writes(cluster.port(leader), acked, load.attempted());
}

TEST_CASE("a follower that missed compacted entries catches up by InstallSnapshot") {
  LocalCluster cluster(3, {"--snapshot-log-entries", "300"});
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  int follower = (leader + 1) % 3;
  cluster.kill(follower);
  RedisConnection c(cluster.port(leader));
  for (int i = 0; i < 3000; ++i)
    c.append({"SET", "snap:" + std::to_string(i), std::to_string(i)});
  for (int i = 0; i < 3000; ++i)
    REQUIRE(c.read().str == "OK");
  // Wait until the leader's log no longer reaches back to the follower.
  bool compacted = false;
  for (int i = 0; i < 200 && !compacted; ++i) {
    compacted = std::stoull("0" + cluster.raft_field(leader, "log_first_index")) > 1500;
    if (!compacted) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(compacted);
  cluster.start(follower);
  CHECK(cluster.wait_converged(std::chrono::seconds(30)));
  Reply d = cluster.digest(follower);
  REQUIRE(d.elements.size() == 3);
  CHECK(d.elements[1].integer == 3000);
  CHECK(std::stoull("0" + cluster.raft_field(follower, "snapshot_index")) > 0);
}

TEST_CASE("a follower far behind catches up with entries the leader reads back from its log") {
  // No snapshot: the 110k entries (~8 MB of log) stay below the 64 MB
  // minimum. The leader keeps in memory only the last 100k entries behind
  // the follower; the older ones come back from its segment files.
  LocalCluster cluster(3, {"--raft-fsync", "never"});
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  int follower = (leader + 1) % 3;
  cluster.kill(follower);
  RedisConnection c(cluster.port(leader));
  constexpr int kWrites = 110000;
  for (int a = 0; a < kWrites; a += 1000) {
    for (int i = a; i < a + 1000; ++i)
      c.append({"SET", "far:" + std::to_string(i), std::to_string(i)});
    for (int i = a; i < a + 1000; ++i)
      REQUIRE(c.read().str == "OK");
  }
  REQUIRE(cluster.raft_field(leader, "snapshot_index") == "0");
  cluster.start(follower);
  CHECK(cluster.wait_converged(std::chrono::seconds(60)));
  Reply d = cluster.digest(follower);
  REQUIRE(d.elements.size() == 3);
  CHECK(d.elements[1].integer == kWrites);
  CHECK(cluster.raft_field(follower, "snapshot_index") == "0");
}

TEST_CASE("a 5-node cluster keeps serving with two nodes down") {
  LocalCluster cluster(5);
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  cluster.kill(leader);
  cluster.kill((leader + 1) % 5);
  int next = cluster.wait_for_leader();
  REQUIRE(next >= 0);
  int other = (leader + 2) % 5 == next ? (leader + 3) % 5 : (leader + 2) % 5;
  RedisConnection c(cluster.port(other));
  for (int i = 0; i < 100; ++i)
    REQUIRE(c.run({"SET", "five:" + std::to_string(i), "v"}) == "OK");
  CHECK(c.run({"GET", "five:99"}) == "v");
  cluster.start(leader);
  cluster.start((leader + 1) % 5);
  CHECK(cluster.wait_converged(std::chrono::seconds(30)));
}

TEST_CASE("redirect mode answers MOVED to the leader; CLUSTER SLOTS names it") {
  LocalCluster cluster(3, {"--follower-mode", "redirect"});
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  int follower = (leader + 1) % 3;
  RedisConnection f(cluster.port(follower));
  std::string expect = "(error) MOVED 12182 127.0.0.1:" + std::to_string(cluster.port(leader));
  CHECK(f.run({"GET", "foo"}) == expect);  // CLUSTER KEYSLOT foo == 12182 (as in Redis)
  CHECK(f.run({"CLUSTER", "KEYSLOT", "foo"}) == "(integer) 12182");
  Reply slots = f.cmd({"CLUSTER", "SLOTS"});
  REQUIRE(slots.elements.size() == 1);
  CHECK(slots.elements[0].elements[0].integer == 0);
  CHECK(slots.elements[0].elements[1].integer == 16383);
  CHECK(slots.elements[0].elements[2].elements[1].integer == cluster.port(leader));
  RedisConnection l(cluster.port(leader));
  CHECK(l.run({"SET", "foo", "bar"}) == "OK");
}

// CONFIG SET follower-mode / read-consistency used to be accepted and then
// ignored: the modes were read once at startup.
TEST_CASE("CONFIG SET follower-mode and read-consistency take effect on the next command") {
  LocalCluster cluster(3);
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  int follower = (leader + 1) % 3;
  int other = (leader + 2) % 3;
  RedisConnection f(cluster.port(follower));
  CHECK(f.run({"SET", "foo", "bar"}) == "OK");  // proxied to the leader
  CHECK(f.run({"CONFIG", "SET", "follower-mode", "redirect"}) == "OK");
  std::string moved = "(error) MOVED 12182 127.0.0.1:" + std::to_string(cluster.port(leader));
  CHECK(f.run({"GET", "foo"}) == moved);
  CHECK(f.run({"CONFIG", "SET", "follower-mode", "proxy"}) == "OK");
  CHECK(f.run({"GET", "foo"}) == "bar");
  // With both other nodes gone there is no leader: a linearizable read
  // fails, a stale one answers from the follower's own state.
  cluster.kill(leader);
  cluster.kill(other);
  CHECK(f.run({"GET", "foo"}).rfind("(error)", 0) == 0);
  CHECK(f.run({"CONFIG", "SET", "read-consistency", "stale"}) == "OK");
  CHECK(f.run({"GET", "foo"}) == "bar");
}

TEST_CASE("without a quorum, requests get an error within the request, never a hang") {
  LocalCluster cluster(3);
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  int survivor = (leader + 1) % 3;
  cluster.kill(leader);
  cluster.kill((leader + 2) % 3);
  RedisConnection c(cluster.port(survivor));
  auto start = std::chrono::steady_clock::now();
  Reply r = c.cmd({"SET", "k", "v"});
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(r.is_error());
  CHECK((r.str.rfind("CLUSTERDOWN", 0) == 0 || r.str.rfind("TRYAGAIN", 0) == 0 ||
         r.str.find("unknown") != std::string::npos));
  CHECK(took < std::chrono::seconds(10));
  Reply g = c.cmd({"GET", "k"});
  CHECK(g.is_error());
}
