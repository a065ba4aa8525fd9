// Integration tests of leadership transfer with real kvraft-server
// processes: RAFT.TRANSFER-LEADER to a given voter, to the best voter, from
// a follower, its error cases; transfers and a leader's SHUTDOWN under a
// continuous write load from clients that retry on -TRYAGAIN/-CLUSTERDOWN
// and connection errors, with no failed and no lost acknowledged write; and
// a measurement of how long clients wait for the new leader.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "tests/support/client_threads.h"
#include "tests/support/cluster.h"

using kvraft::test::ClientThreads;
using kvraft::test::LocalCluster;
using kvraft::test::RedisConnection;
using kvraft::test::Reply;
using Clock = std::chrono::steady_clock;

namespace {

// Milliseconds since `t0`.
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Errors a client may retry a write on: nothing was applied, or no leader
// is known right now.
bool retryable(const Reply& r) {
  return r.is_error() && (r.str.rfind("TRYAGAIN", 0) == 0 || r.str.rfind("CLUSTERDOWN", 0) == 0);
}

// Clients writing unique keys through every node, retrying each write until
// it is acknowledged: on a retryable error the same node again, on a
// connection error the next node. Every other reply is a failure.
class RetryingWriters {
 public:
  RetryingWriters(LocalCluster& cluster, int clients)
      : cluster_(cluster), threads_(clients, [this](int t) { run(t); }) {}
  void stop() { threads_.stop(); }
  std::map<std::string, std::string> acked() {
    std::lock_guard<std::mutex> g(mu_);
    return acked_;
  }
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> g(mu_);
    return failures_;
  }
  size_t retries() const { return retries_; }
  size_t acked_count() {
    std::lock_guard<std::mutex> g(mu_);
    return acked_.size();
  }

 private:
  void run(int t) {
    int node = t % cluster_.size();
    std::unique_ptr<RedisConnection> conn;
    int i = 0;
    while (!threads_.stopping()) {
      std::string key = "xfer:" + std::to_string(t) + ":" + std::to_string(i);
      std::string value = "v" + std::to_string(i);
      try {
        if (!conn) conn = std::make_unique<RedisConnection>(cluster_.port(node));
        Reply r = conn->cmd({"SET", key, value});
        if (r.type == Reply::Type::kStatus && r.str == "OK") {
          std::lock_guard<std::mutex> g(mu_);
          acked_[key] = value;
          ++i;
        } else if (retryable(r)) {
          ++retries_;
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        } else {
          std::lock_guard<std::mutex> g(mu_);
          failures_.push_back(key + ": " + r.render());
          ++i;
        }
      } catch (const std::exception&) {
        ++retries_;
        conn.reset();
        node = (node + 1) % cluster_.size();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }

  LocalCluster& cluster_;
  std::atomic<size_t> retries_{0};
  std::mutex mu_;
  std::map<std::string, std::string> acked_;
  std::vector<std::string> failures_;
  ClientThreads threads_;  // last: joined before the state above is destroyed
};

// Waits until every running node names node index `leader` as the leader
// in RAFT.INFO.
bool all_agree_on_leader(LocalCluster& cluster, int leader,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = Clock::now() + timeout;
  std::string id = std::to_string(leader + 1);
  while (Clock::now() < deadline) {
    bool all = true;
    for (int i = 0; i < cluster.size() && all; ++i)
      if (cluster.running(i) && cluster.raft_field(i, "leader_id") != id) all = false;
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The leader, once every running node names it and every running node's
// outbound Raft connection to every other running node is up (a transfer
// target must be reachable); -1 after the timeout.
int settled_leader(LocalCluster& cluster,
                   std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    int leader = cluster.wait_for_leader(timeout);
    if (leader < 0) return -1;
    bool settled = true;
    for (int i = 0; i < cluster.size() && settled; ++i) {
      if (!cluster.running(i)) continue;
      if (cluster.raft_field(i, "leader_id") != std::to_string(leader + 1)) settled = false;
      for (int j = 0; j < cluster.size() && settled; ++j)
        if (j != i && cluster.running(j) &&
            cluster.raft_field(i, "link" + std::to_string(j + 1)).rfind("connected=yes", 0) != 0)
          settled = false;
    }
    if (settled) return leader;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

// Every acknowledged write holds its value through `port`, and all running
// replicas hold identical data.
void check_acked_everywhere(LocalCluster& cluster, int port,
                            const std::map<std::string, std::string>& acked) {
  REQUIRE(cluster.wait_converged());
  RedisConnection c(port);
  for (const auto& [k, v] : acked)
    c.append({"GET", k});
  size_t missing = 0;
  for (const auto& [k, v] : acked) {
    Reply r = c.read();
    if (r.str != v && ++missing <= 5) MESSAGE("lost acknowledged write " << k << " = " << v);
  }
  CHECK(missing == 0);
}

// Waits up to 10 s for node i to exit by itself (SHUTDOWN); true if it did.
bool exited(LocalCluster& cluster, int i) {
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (cluster.running(i) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return !cluster.running(i);
}

void check_no_failures(RetryingWriters& load) {
  auto failures = load.failures();
  for (size_t i = 0; i < failures.size() && i < 5; ++i)
    MESSAGE("failed write " << failures[i]);
  CHECK(failures.empty());
}

}  // namespace

TEST_CASE("RAFT.TRANSFER-LEADER moves leadership to the given voter and every node sees it") {
  LocalCluster cluster(3);
  int leader = settled_leader(cluster);
  REQUIRE(leader >= 0);
  int target = (leader + 1) % 3;
  RedisConnection c(cluster.port(leader));
  CHECK(c.run({"SET", "before", "1"}) == "OK");
  CHECK(c.run({"RAFT.TRANSFER-LEADER", std::to_string(target + 1)}) == "OK");
  // The old leader answers only once it sees the new one.
  CHECK(cluster.raft_field(leader, "role") == "follower");
  CHECK(cluster.raft_field(leader, "leader_id") == std::to_string(target + 1));
  CHECK(all_agree_on_leader(cluster, target));
  for (int i = 0; i < 3; ++i) {
    RedisConnection n(cluster.port(i));
    CHECK(n.cmd({"INFO", "raft"}).str.find("leader_id:" + std::to_string(target + 1) + "\r\n") !=
          std::string::npos);
    CHECK(n.run({"GET", "before"}) == "1");
  }
  RedisConnection t(cluster.port(target));
  CHECK(t.run({"SET", "after", "2"}) == "OK");
  CHECK(cluster.raft_field(target, "role") == "leader");
  CHECK(cluster.log(leader).find("leadership handed over to node " + std::to_string(target + 1)) !=
        std::string::npos);
}

TEST_CASE("RAFT.TRANSFER-LEADER without an id picks another voter, and works from a follower") {
  LocalCluster cluster(3);
  int leader = settled_leader(cluster);
  REQUIRE(leader >= 0);
  {
    RedisConnection c(cluster.port(leader));
    CHECK(c.run({"RAFT.TRANSFER-LEADER"}) == "OK");
  }
  int second = cluster.wait_for_leader();
  REQUIRE(second >= 0);
  CHECK(second != leader);
  REQUIRE(all_agree_on_leader(cluster, second));

  // From a follower: forwarded to the leader, +OK once that one saw the
  // transfer complete.
  int follower = (second + 1) % 3;
  int target = (second + 2) % 3;
  {
    RedisConnection c(cluster.port(follower));
    CHECK(c.run({"RAFT.TRANSFER-LEADER", std::to_string(target + 1)}) == "OK");
  }
  CHECK(all_agree_on_leader(cluster, target));
  // Asking a follower to make itself the leader.
  {
    RedisConnection c(cluster.port(follower));
    CHECK(c.run({"RAFT.TRANSFER-LEADER", std::to_string(follower + 1)}) == "OK");
  }
  CHECK(all_agree_on_leader(cluster, follower));
}

TEST_CASE("RAFT.TRANSFER-LEADER refuses what cannot work with a clear error") {
  // A long election timeout keeps the failing transfer below open long
  // enough to see a write refused during it on a loaded machine.
  LocalCluster cluster(3, {"--election-timeout", "1000"});
  int leader = settled_leader(cluster);
  REQUIRE(leader >= 0);
  std::string self = std::to_string(leader + 1);
  RedisConnection c(cluster.port(leader));
  CHECK(c.run({"RAFT.TRANSFER-LEADER", self}) ==
        "(error) ERR node " + self + " is already the leader");
  CHECK(c.run({"RAFT.TRANSFER-LEADER", "9"}) == "(error) ERR unknown node id 9");
  CHECK(c.run({"RAFT.TRANSFER-LEADER", "abc"}) == "(error) ERR invalid node id 'abc'");
  CHECK(c.run({"RAFT.TRANSFER-LEADER", "0"}) == "(error) ERR invalid node id '0'");
  CHECK(c.run({"RAFT.TRANSFER-LEADER", "1", "2"}) ==
        "(error) ERR wrong number of arguments for 'raft.transfer-leader' command");
  // A follower forwards the request: the leader's answer comes back.
  RedisConnection f(cluster.port((leader + 1) % 3));
  CHECK(f.run({"RAFT.TRANSFER-LEADER", self}) ==
        "(error) ERR node " + self + " is already the leader");
  CHECK(cluster.raft_field(leader, "role") == "leader");

  // A target that does not answer (stopped, its connections still open):
  // the transfer times out, and the leader takes writes again.
  int stopped = (leader + 1) % 3;
  cluster.pause(stopped);
  auto t0 = Clock::now();
  std::string transfer_reply;
  std::thread transfer([&] {
    transfer_reply = c.run({"RAFT.TRANSFER-LEADER", std::to_string(stopped + 1)});
  });
  // Meanwhile the leader refuses writes with a retryable error.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    RedisConnection w(cluster.port(leader));
    CHECK(w.run({"SET", "during", "x"}) ==
          "(error) TRYAGAIN leadership transfer in progress; retry");
  }
  transfer.join();
  CHECK(transfer_reply ==
        "(error) ERR leadership transfer to " + std::to_string(stopped + 1) + " timed out");
  CHECK(ms_since(t0) < 5000);
  CHECK(c.run({"GET", "during"}) == "(nil)");
  CHECK(c.run({"SET", "k", "v"}) == "OK");
  cluster.resume(stopped);

  // A dead target is refused at once once its connection is gone.
  int dead = (leader + 2) % 3;
  cluster.kill(dead);
  std::string reply;
  auto deadline = Clock::now() + std::chrono::seconds(10);
  std::string expected = "(error) ERR node " + std::to_string(dead + 1) + " is not reachable";
  while (Clock::now() < deadline) {
    reply = c.run({"RAFT.TRANSFER-LEADER", std::to_string(dead + 1)});
    if (reply == expected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(reply == expected);
  // The stopped node may have acted on its stale TimeoutNow once resumed;
  // either way a leader remains.
  CHECK(cluster.wait_for_leader() >= 0);
}

TEST_CASE("a one-node cluster has nobody to transfer to; SHUTDOWN ABORT without a shutdown") {
  LocalCluster cluster(1);
  REQUIRE(cluster.wait_for_leader() == 0);
  RedisConnection c(cluster.port(0));
  CHECK(c.run({"RAFT.TRANSFER-LEADER"}) == "(error) ERR no other voter to transfer leadership to");
  CHECK(c.run({"SHUTDOWN", "ABORT"}) == "(error) ERR No shutdown in progress.");
  CHECK(c.run({"SHUTDOWN", "ABORT", "NOW"}) == "(error) ERR syntax error");
  CHECK(c.run({"SHUTDOWN", "SAVE", "NOSAVE"}) == "(error) ERR syntax error");
  CHECK(c.run({"SHUTDOWN", "LATER"}) == "(error) ERR syntax error");
  CHECK_THROWS(c.cmd({"SHUTDOWN"}));  // the connection closes, no reply
  CHECK(exited(cluster, 0));
}

TEST_CASE("transfers under a continuous write load fail no write and lose none") {
  LocalCluster cluster(3);
  int leader = settled_leader(cluster);
  REQUIRE(leader >= 0);
  RetryingWriters load(cluster, 6);
  for (int round = 0; round < 6; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    leader = cluster.wait_for_leader();
    REQUIRE(leader >= 0);
    std::vector<std::string> argv = {"RAFT.TRANSFER-LEADER"};
    if (round % 2 == 0) argv.push_back(std::to_string((leader + 1) % 3 + 1));
    RedisConnection c(cluster.port(leader));
    Reply r = c.cmd(argv);
    INFO("round " << round << ": " << r.render());
    CHECK(r.render() == "OK");
    CHECK(cluster.raft_field(leader, "role") != "leader");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  load.stop();
  MESSAGE(load.acked_count() << " acknowledged writes, " << load.retries() << " retries");
  CHECK(load.acked_count() > 100);
  check_no_failures(load);
  leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  check_acked_everywhere(cluster, cluster.port(leader), load.acked());
}

TEST_CASE("SHUTDOWN of the leader under load hands over first: a new leader at once, no loss") {
  LocalCluster cluster(3);
  int leader = settled_leader(cluster);
  REQUIRE(leader >= 0);
  RetryingWriters load(cluster, 6);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  size_t before = load.acked_count();
  auto t0 = Clock::now();
  {
    RedisConnection c(cluster.port(leader));
    CHECK_THROWS(c.cmd({"SHUTDOWN"}));  // closes without a reply once done
  }
  // A new leader, elected without waiting for an election timeout.
  int next = -1;
  while (ms_since(t0) < 5000 && next < 0) {
    for (int i = 0; i < 3; ++i)
      if (i != leader && cluster.raft_field(i, "role") == "leader") next = i;
    if (next < 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  double elected_ms = ms_since(t0);
  MESSAGE("new leader " << next + 1 << " seen " << elected_ms << " ms after SHUTDOWN");
  REQUIRE(next >= 0);
  CHECK(elected_ms < 1000);
  CHECK(exited(cluster, leader));
  std::string log = cluster.log(leader);
  CHECK(log.find("SHUTDOWN: handing leadership to node") != std::string::npos);
  CHECK(log.find("leadership handed over to node " + std::to_string(next + 1)) !=
        std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  load.stop();
  MESSAGE(load.acked_count() << " acknowledged writes, " << load.retries() << " retries");
  CHECK(load.acked_count() > before);
  check_no_failures(load);
  check_acked_everywhere(cluster, cluster.port(next), load.acked());
  // The node restarts as a follower and catches up.
  cluster.start(leader);
  CHECK(cluster.wait_converged());
}

TEST_CASE("SHUTDOWN ABORT cancels a leader's shutdown that waits for the handover") {
  LocalCluster cluster(3);
  int leader = settled_leader(cluster);
  REQUIRE(leader >= 0);
  // Both followers stopped: their connections stay up, so the handover
  // starts but cannot complete.
  int a = (leader + 1) % 3, b = (leader + 2) % 3;
  cluster.pause(a);
  cluster.pause(b);
  RedisConnection waiting(cluster.port(leader));
  std::string shutdown_reply;
  std::thread shutdown([&] {
    try {
      shutdown_reply = waiting.run({"SHUTDOWN"});
    } catch (const std::exception& e) {
      shutdown_reply = e.what();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    RedisConnection c(cluster.port(leader));
    CHECK(c.run({"SHUTDOWN", "ABORT"}) == "OK");
  }
  shutdown.join();
  CHECK(shutdown_reply == "(error) ERR Errors trying to SHUTDOWN. Check logs.");
  cluster.resume(a);
  cluster.resume(b);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  CHECK(cluster.running(leader));
  CHECK(waiting.run({"PING"}) == "PONG");
  CHECK(cluster.log(leader).find("SHUTDOWN ABORT") != std::string::npos);
}

TEST_CASE("SHUTDOWN of a follower just stops it; SHUTDOWN NOW on a leader skips the handover") {
  LocalCluster cluster(3);
  int leader = settled_leader(cluster);
  REQUIRE(leader >= 0);
  int follower = (leader + 1) % 3;
  {
    RedisConnection c(cluster.port(follower));
    CHECK_THROWS(c.cmd({"SHUTDOWN", "NOSAVE"}));
  }
  CHECK(exited(cluster, follower));
  CHECK(cluster.raft_field(leader, "role") == "leader");
  CHECK(cluster.log(follower).find("handing leadership") == std::string::npos);
  cluster.start(follower);
  {
    RedisConnection c(cluster.port(leader));
    CHECK_THROWS(c.cmd({"SHUTDOWN", "NOW"}));
  }
  CHECK(exited(cluster, leader));
  CHECK(cluster.log(leader).find("handing leadership") == std::string::npos);
}

TEST_CASE("measure: RAFT.TRANSFER-LEADER to the first write acknowledged by the new leader") {
  LocalCluster cluster(3);
  int leader = settled_leader(cluster);
  REQUIRE(leader >= 0);
  std::vector<double> to_ok, to_write;
  for (int trial = 0; trial < 10; ++trial) {
    leader = settled_leader(cluster);
    REQUIRE(leader >= 0);
    int target = (leader + 1) % 3;
    RedisConnection c(cluster.port(leader));
    RedisConnection t(cluster.port(target));
    auto t0 = Clock::now();
    REQUIRE(c.run({"RAFT.TRANSFER-LEADER", std::to_string(target + 1)}) == "OK");
    to_ok.push_back(ms_since(t0));
    // Writes straight to the target: before it leads it forwards them to
    // the old leader, which answers -TRYAGAIN during the transfer.
    while (true) {
      Reply r = t.cmd({"SET", "measure", std::to_string(trial)});
      if (r.type == Reply::Type::kStatus) break;
      REQUIRE(retryable(r));
    }
    to_write.push_back(ms_since(t0));
    CHECK(cluster.raft_field(target, "role") == "leader");
  }
  auto report = [](const std::string& what, std::vector<double> v) {
    std::sort(v.begin(), v.end());
    MESSAGE(what << ": median " << (v[4] + v[5]) / 2 << " ms, max " << v.back() << " ms");
  };
  report("RAFT.TRANSFER-LEADER reply", to_ok);
  report("RAFT.TRANSFER-LEADER to the first write acknowledged by the new leader", to_write);
  std::sort(to_write.begin(), to_write.end());
  CHECK(to_write.back() < 3000);  // generous: the machine is shared
}
