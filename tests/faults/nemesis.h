// tests/faults/nemesis.h — the faults of a run, on a schedule drawn from
// the run's seed.
//
// One fault at a time: pick a kind, apply it, hold it for a random 1-5 s,
// heal it, rest 0.5-2 s, repeat. Kinds (the counters use these names):
//   kill-leader, kill-random    kill -9, down 0.5-3 s, restart
//   kill-all                    every node at once, then all restart
//   pause-leader, pause-random  SIGSTOP, then SIGCONT
//   partition-isolate           one node (the leader half the time) cut off
//   partition-split             a random minority cut off from the majority
//   partition-oneway            one node stops hearing the others, or they it
//   partition-bridge            two groups that only one bridge node joins
//   replace                     a membership change, one in 12 faults
//                               (`replace_every`) by default: a
//                               voter (the leader half the time) is removed
//                               with RAFT.NODE REMOVE and stopped, and a
//                               brand-new node (next id, own address) joins
//                               with --join until the leader lists it as a
//                               voter; the cluster keeps its size, the
//                               membership listener hears the new endpoints
// Partitions need the firewall; without one they are never chosen. The same
// seed (and replace rate) gives the same sequence of choices (what the
// cluster does in between, such as who leads, is not under the seed's
// control).
//
// Runs on the main thread only: restarting a node forks (see cluster.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/faults/cluster.h"
#include "tests/faults/firewall.h"
#include "tests/faults/workload.h"

namespace kvraft::faults {

class Nemesis {
 public:
  // `firewall` may be null (no partitions). One fault in `replace_every` is
  // a replace (0: never).
  Nemesis(FaultCluster& cluster, Firewall* firewall, uint64_t seed, int replace_every = 12);

  // Injects faults until `until` or until `interrupted` is set; every fault
  // is healed before it returns, except after a failure to restart a node,
  // which it reports through problems().
  void run(std::chrono::steady_clock::time_point until, const std::atomic<bool>& interrupted);

  // Called (on the main thread) with the members' client endpoints whenever
  // the membership changes, so the clients follow it.
  void on_membership_change(std::function<void(std::vector<Endpoint>)> listener) {
    listener_ = std::move(listener);
  }

  // Removes every rule, resumes paused nodes, restarts dead ones.
  void heal_all();

  // Fault kind -> times injected.
  const std::map<std::string, int>& counts() const { return counts_; }
  // Timestamped events (for the history file) and unexpected happenings (a
  // node that died on its own: a crash).
  const std::vector<std::string>& events() const { return events_; }
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  // A member index, drawn from the seed; the leader instead if asked and known.
  int pick_node(bool prefer_leader);
  std::string name(int i) const { return "node " + std::to_string(cluster_.id(i)); }
  // The "replace" fault; see the file comment.
  void replace(bool prefer_leader, const std::atomic<bool>& interrupted);
  // RAFT.NODE REMOVE of node i through another live member, retried while
  // the cluster answers that it cannot now; true once i is no member.
  bool remove_member(int i, const std::atomic<bool>& interrupted);
  void announce_members();
  void event(const std::string& what);
  void cut(const std::vector<int>& from, const std::vector<int>& to);
  // Sleeps up to `d` in small steps; false if interrupted.
  bool hold(std::chrono::milliseconds d, const std::atomic<bool>& interrupted);
  void check_crashes();
  // Starts node i again; a failure is recorded in problems().
  void restart(int i);
  std::chrono::milliseconds between(int lo_ms, int hi_ms);

  FaultCluster& cluster_;
  Firewall* firewall_;
  std::mt19937_64 rng_;
  int replace_every_;
  std::map<std::string, int> counts_;
  std::vector<std::string> events_;
  std::vector<std::string> problems_;
  std::function<void(std::vector<Endpoint>)> listener_;
};

}  // namespace kvraft::faults
