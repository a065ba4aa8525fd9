// tests/faults/cluster.h — the real kvraft-server processes of a fault run.
//
// Node i (0-based index) has a Raft id (i+1 for the initial members; a node
// added later by a membership change gets the next id, and ids are never
// reused) and listens for clients and peers on its own loopback address
// <prefix>.(10+id) (127.0.0.11, 127.0.0.12, ... by default), so the
// firewall can cut the link between two nodes by address. Its data lives in
// <run dir>/n<id>, its log in <run dir>/n<id>.log (appended across
// restarts). A removed node keeps its index (and log) but is no member:
// members() lists the indices the cluster is made of now. Servers die with the harness
// (PR_SET_PDEATHSIG), so a crashed harness leaves no process behind; for that reason every fork
// happens on the harness's main thread (the death signal follows the forking thread).
//
// Also here: a small blocking hiredis connection with timeouts, shared by
// the workload, the nemesis and the final checks.
#pragma once

#include <hiredis/hiredis.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kvraft::faults {

// One hiredis connection; nullptr context when not connected. Commands time
// out after the given time (the connection is then unusable: reconnect).
class Connection {
 public:
  Connection() = default;
  Connection(const std::string& host, int port, std::chrono::milliseconds timeout);
  ~Connection();
  Connection(Connection&& other) noexcept : ctx_(other.ctx_) { other.ctx_ = nullptr; }
  Connection& operator=(Connection&& other) noexcept;
  bool ok() const { return ctx_ != nullptr && ctx_->err == 0; }
  std::string error() const;
  // The reply, or nullptr (I/O error or timeout: the connection is closed).
  std::unique_ptr<redisReply, void (*)(void*)> command(const std::vector<std::string>& argv);
  void close();

 private:
  redisContext* ctx_ = nullptr;
};

struct NodeInfo {
  bool answered = false;
  std::string role;  // "leader", "follower", ...
  uint64_t term = 0;
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
};

class FaultCluster {
 public:
  // Chooses addresses <prefix>.11 .. and free ports; starts nothing yet.
  // `extra_args` go to every server.
  FaultCluster(int nodes, std::string address_prefix, std::string run_dir, std::string server,
               std::vector<std::string> extra_args);
  ~FaultCluster();  // kills every node (SIGCONT first for paused ones)
  FaultCluster(const FaultCluster&) = delete;
  FaultCluster& operator=(const FaultCluster&) = delete;

  // Every node ever started, removed ones included; see members().
  int size() const { return static_cast<int>(nodes_.size()); }
  // The indices of the current members (not removed), ascending.
  std::vector<int> members() const;
  int id(int i) const { return nodes_[idx(i)].id; }
  bool removed(int i) const { return nodes_[idx(i)].removed; }
  const std::string& address(int i) const { return nodes_[idx(i)].address; }
  int client_port(int i) const { return nodes_[idx(i)].client_port; }

  // A new node with the next unused id, its own address and free ports,
  // which starts with --join (to a running member) instead of
  // --cluster-peers; not started yet. Returns its index. Throws when the
  // /24 has no address left for it.
  int add_joining_node();
  // Stops node i for good after the cluster removed it.
  void retire(int i);
  // RAFT.NODES of node i: id -> "voter" / "learner"; nullopt if it did not
  // answer.
  std::optional<std::map<uint64_t, std::string>> roles(int i) const;

  // Starts node i (again) and waits until its client port answers PING.
  // Throws std::runtime_error naming the log when it does not.
  void start(int i, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  void kill(int i);    // SIGKILL and reap
  void pause(int i);   // SIGSTOP
  void resume(int i);  // SIGCONT
  bool running(int i) const { return nodes_[idx(i)].pid > 0; }
  bool paused(int i) const { return nodes_[idx(i)].paused; }
  // Reaps a node that exited on its own; returns true if one did (a crash).
  bool reap_exited(int i, std::string* how);

  NodeInfo info(int i, std::chrono::milliseconds timeout = std::chrono::milliseconds(500)) const;
  // The member that says it leads with the highest term, or -1.
  int leader() const;
  // RAFT.DIGEST of node i: [applied index, keys, digest], or nullopt.
  std::optional<std::vector<std::string>> digest(int i) const;
  std::string log_path(int i) const;

 private:
  struct Node {
    int id = 0;
    std::string address;
    int client_port = 0;
    int raft_port = 0;
    std::string dir;
    pid_t pid = -1;
    bool paused = false;
    bool joiner = false;   // added online: starts with --join, not --cluster-peers
    bool removed = false;  // no longer a member; never started again
  };
  // Opens a fresh node's data directory and ports for `id`.
  Node make_node(int id) const;
  static size_t idx(int i) { return static_cast<size_t>(i); }
  std::vector<Node> nodes_;
  std::string address_prefix_;
  std::string run_dir_;
  std::string server_;
  std::vector<std::string> extra_args_;
  std::string peers_;
};

// A TCP port nothing listens on at `address` right now.
int free_port_on(const std::string& address);

}  // namespace kvraft::faults
