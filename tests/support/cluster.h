// tests/support/cluster.h — a local kvraft cluster of real processes for
// integration tests: N nodes on 127.0.0.1 with free client and raft ports,
// private data directories, kill -9 / restart / SIGSTOP of any node, and
// helpers to find the leader and compare replicas. Header-only because it
// speaks to the nodes with hiredis (integration tests link it).
#pragma once

#include <signal.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/redis_client.h"
#include "tests/support/test_support.h"

namespace kvraft::test {

class LocalCluster {
 public:
  // Starts `n` nodes (ids 1..n) with `extra_args` for every node.
  explicit LocalCluster(int n, std::vector<std::string> extra_args = {})
      : dir_("kvraft-cluster"), extra_args_(std::move(extra_args)) {
    for (int i = 0; i < n; ++i) {
      Node node;
      node.id = i + 1;
      node.client_port = free_port();
      node.raft_port = free_port();
      node.dir = dir_.file("n" + std::to_string(i + 1));
      nodes_.push_back(std::move(node));
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      peers_ += (i ? "," : "") + std::to_string(nodes_[i].id) +
                "@127.0.0.1:" + std::to_string(nodes_[i].raft_port) + ":" +
                std::to_string(nodes_[i].client_port);
    }
    for (size_t i = 0; i < nodes_.size(); ++i)
      start(static_cast<int>(i));
  }

  int size() const { return static_cast<int>(nodes_.size()); }
  int id(int i) const { return nodes_[static_cast<size_t>(i)].id; }
  int raft_port(int i) const { return nodes_[static_cast<size_t>(i)].raft_port; }

  // Adds node `id` that starts with `--join 127.0.0.1:<client port of node
  // join_via>` (and `extra_args` after the cluster's) instead of
  // cluster-peers, starts it and returns its index. Throws (with its log)
  // if it exits during startup, e.g. because the join was refused.
  int add_joining_node(int id, int join_via, std::vector<std::string> extra_args = {}) {
    Node node;
    node.id = id;
    node.client_port = free_port();
    node.raft_port = free_port();
    node.dir = dir_.file("n" + std::to_string(id));
    node.join = "127.0.0.1:" + std::to_string(port(join_via));
    node.args = std::move(extra_args);
    nodes_.push_back(std::move(node));
    start(size() - 1);
    return size() - 1;
  }
  int port(int i) const { return nodes_[static_cast<size_t>(i)].client_port; }
  bool running(int i) {
    return nodes_[static_cast<size_t>(i)].process &&
           nodes_[static_cast<size_t>(i)].process->running();
  }
  std::string log(int i) const { return read_file(nodes_[static_cast<size_t>(i)].dir + ".log"); }
  const std::string& dir(int i) const { return nodes_[static_cast<size_t>(i)].dir; }

  // Starts (or restarts) node i and waits until its client port answers.
  void start(int i, std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    Node& n = nodes_[static_cast<size_t>(i)];
    std::vector<std::string> argv = {server_binary(),
                                     "--port",
                                     std::to_string(n.client_port),
                                     "--dir",
                                     n.dir,
                                     "--node-id",
                                     std::to_string(n.id),
                                     "--raft-port",
                                     std::to_string(n.raft_port),
                                     n.join.empty() ? "--cluster-peers" : "--join",
                                     n.join.empty() ? peers_ : n.join};
    argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
    argv.insert(argv.end(), n.args.begin(), n.args.end());
    n.process = std::make_unique<ChildProcess>(argv, n.dir + ".log");
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!port_open(n.client_port)) {
      if (!n.process->running())
        throw std::runtime_error("node " + std::to_string(n.id) + " exited; log:\n" + log(i));
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("node " + std::to_string(n.id) + " did not start");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void kill(int i) {
    Node& n = nodes_[static_cast<size_t>(i)];
    if (!n.process) return;
    n.process->signal(SIGKILL);
    n.process->wait(std::chrono::seconds(10));
    n.process.reset();
    wait_port_closed(n.client_port);
    wait_port_closed(n.raft_port);
  }
  void pause(int i) { nodes_[static_cast<size_t>(i)].process->signal(SIGSTOP); }
  void resume(int i) { nodes_[static_cast<size_t>(i)].process->signal(SIGCONT); }

  // RAFT.INFO field of node i ("" if the node does not answer).
  std::string raft_field(int i, const std::string& name) {
    try {
      RedisConnection c(port(i));
      Reply r = c.cmd({"RAFT.INFO"});
      for (size_t k = 0; k + 1 < r.elements.size(); k += 2)
        if (r.elements[k].str == name) return r.elements[k + 1].str;
    } catch (const std::exception&) {
    }
    return {};
  }

  // Index of the node every running node agrees is the leader, once the
  // leader itself says so; -1 after the timeout.
  int wait_for_leader(std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      for (int i = 0; i < size(); ++i) {
        if (!running(i)) continue;
        if (raft_field(i, "role") == "leader") return i;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

  // [applied index, keys, digest] of node i, read locally.
  Reply digest(int i) {
    RedisConnection c(port(i));
    return c.cmd({"RAFT.DIGEST"});
  }

  // Waits until every running node holds the same data as node `reference`
  // (same key count and digest, applied index at least the reference's).
  bool wait_converged(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      bool same = true;
      std::string first;
      long long first_keys = -1;
      for (int i = 0; i < size() && same; ++i) {
        if (!running(i)) continue;
        try {
          Reply d = digest(i);
          if (d.type != Reply::Type::kArray || d.elements.size() != 3) {
            same = false;
            break;
          }
          if (first_keys < 0) {
            first = d.elements[2].str;
            first_keys = d.elements[1].integer;
          } else if (d.elements[2].str != first || d.elements[1].integer != first_keys) {
            same = false;
          }
        } catch (const std::exception&) {
          same = false;
        }
      }
      if (same) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

 private:
  struct Node {
    int id = 0;
    int client_port = 0;
    int raft_port = 0;
    std::string dir;
    std::string join;               // set: started with --join instead of cluster-peers
    std::vector<std::string> args;  // this node's own extra arguments
    std::unique_ptr<ChildProcess> process;
  };
  TempDir dir_;
  std::vector<std::string> extra_args_;
  std::vector<Node> nodes_;
  std::string peers_;
};

}  // namespace kvraft::test
