// Integration test: a node that joins with --join advertises the address it
// is bound to (--bind), not 127.0.0.1. Found by the fault harness's
// "replace" fault (tests/faults): every node there has its own loopback
// address, and a joined node advertised 127.0.0.1:<port>, where nothing
// listens, so once it led, followers could not proxy to it (-TRYAGAIN "the
// Raft leader is unreachable") and RAFT.NODE REMOVE through them never
// succeeded; its proxy and Raft connections left from 127.0.0.1, out of
// reach of the harness's per-address partitions.
#include <doctest/doctest.h>

#include <thread>

#include "tests/support/redis_client.h"
#include "tests/support/test_support.h"

using kvraft::test::ChildProcess;
using kvraft::test::free_port;
using kvraft::test::port_open;
using kvraft::test::RedisConnection;
using kvraft::test::Reply;
using kvraft::test::server_binary;
using kvraft::test::TempDir;

namespace {

using namespace std::chrono_literals;

struct BoundNode {
  std::string host;
  int client_port = 0;
  int raft_port = 0;
  std::unique_ptr<ChildProcess> process;
};

// Starts a node bound to `host` only (on free ports unless chosen), with the
// given membership arguments, and waits until it answers there.
void start(BoundNode& n, int id, const std::string& dir, const std::vector<std::string>& extra) {
  if (!n.client_port) n.client_port = free_port();
  if (!n.raft_port) n.raft_port = free_port();
  std::vector<std::string> argv = {server_binary(),
                                   "--bind",
                                   n.host,
                                   "--port",
                                   std::to_string(n.client_port),
                                   "--raft-port",
                                   std::to_string(n.raft_port),
                                   "--node-id",
                                   std::to_string(id),
                                   "--dir",
                                   dir};
  argv.insert(argv.end(), extra.begin(), extra.end());
  n.process = std::make_unique<ChildProcess>(argv, dir + ".log");
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!port_open(n.client_port, n.host)) {
    REQUIRE_MESSAGE(n.process->running(), "node " << id << " exited: " << dir << ".log");
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(20ms);
  }
}

// "id@host:raft-port/role" for each member in RAFT.NODES of `n`.
std::string members(const BoundNode& n) {
  RedisConnection c(n.client_port, n.host);
  Reply r = c.cmd({"RAFT.NODES"});
  std::string out;
  for (const auto& m : r.elements)
    out += (out.empty() ? "" : " ") + std::to_string(m.elements[0].integer) + "@" +
           m.elements[1].str + "/" + m.elements[3].str;
  return out;
}

}  // namespace

TEST_CASE("a node joining with --bind advertises its bound address") {
  TempDir dir("kvraft-membership-bind");
  BoundNode a{"127.0.0.41"}, b{"127.0.0.42"};
  a.client_port = free_port();
  a.raft_port = free_port();
  start(a, 1, dir.file("n1"),
        {"--cluster-peers",
         "1@127.0.0.41:" + std::to_string(a.raft_port) + ":" + std::to_string(a.client_port)});
  start(b, 2, dir.file("n2"), {"--join", a.host + ":" + std::to_string(a.client_port)});
  const std::string want = "1@127.0.0.41:" + std::to_string(a.raft_port) +
                           "/voter 2@127.0.0.42:" + std::to_string(b.raft_port) + "/voter";
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    got = members(a);
    if (got == want && members(b) == want) break;
    std::this_thread::sleep_for(50ms);
  }
  CHECK(got == want);
  CHECK(members(b) == want);

  // A write sent to the follower is proxied to the leader from the
  // follower's own address.
  int leader_id = 0;
  const auto leader_deadline = std::chrono::steady_clock::now() + 30s;
  while (leader_id == 0 && std::chrono::steady_clock::now() < leader_deadline) {
    RedisConnection c(a.client_port, a.host);
    for (const auto& m : c.cmd({"RAFT.NODES"}).elements)
      if (m.elements.size() > 5 && m.elements[5].integer == 1)
        leader_id = static_cast<int>(m.elements[0].integer);
    if (leader_id == 0) std::this_thread::sleep_for(50ms);
  }
  REQUIRE(leader_id != 0);
  BoundNode& leader = leader_id == 1 ? a : b;
  BoundNode& follower = leader_id == 1 ? b : a;
  RedisConnection via(follower.client_port, follower.host);
  CHECK(via.cmd({"SET", "k", "v"}).str == "OK");
  RedisConnection at_leader(leader.client_port, leader.host);
  const std::string clients = at_leader.cmd({"CLIENT", "LIST"}).str;
  CHECK_MESSAGE(clients.find("addr=" + follower.host + ":") != std::string::npos, clients);
}
