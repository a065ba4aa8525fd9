// tests/faults/nemesis.cc — see nemesis.h.
#include "tests/faults/nemesis.h"

#include <algorithm>
#include <thread>

#include "tests/faults/workload.h"

namespace kvraft::faults {

Nemesis::Nemesis(FaultCluster& cluster, Firewall* firewall, uint64_t seed)
    : cluster_(cluster), firewall_(firewall), rng_(seed) {}

std::chrono::milliseconds Nemesis::between(int lo_ms, int hi_ms) {
  return std::chrono::milliseconds(
      lo_ms + static_cast<int>(rng_() % static_cast<uint64_t>(hi_ms - lo_ms + 1)));
}

void Nemesis::event(const std::string& what) {
  events_.push_back("# nemesis @" + std::to_string(now_us()) + ": " + what);
}

int Nemesis::pick_node(bool prefer_leader) {
  // The random draw is made either way, so the seed's sequence does not
  // depend on whether a leader was found.
  const int random = static_cast<int>(rng_() % static_cast<uint64_t>(cluster_.size()));
  if (!prefer_leader) return random;
  const int leader = cluster_.leader();
  return leader >= 0 ? leader : random;
}

void Nemesis::cut(const std::vector<int>& from, const std::vector<int>& to) {
  std::string what;
  for (int a : from)
    for (int b : to) {
      firewall_->drop(cluster_.address(a), cluster_.address(b));
      what += " " + std::to_string(a + 1) + "->" + std::to_string(b + 1);
    }
  event("drop" + what);
}

bool Nemesis::hold(std::chrono::milliseconds d, const std::atomic<bool>& interrupted) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (interrupted) return false;
    check_crashes();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return !interrupted;
}

void Nemesis::check_crashes() {
  for (int i = 0; i < cluster_.size(); ++i) {
    std::string how;
    if (cluster_.reap_exited(i, &how)) {
      problems_.push_back("node " + std::to_string(i + 1) + " " + how + " (see " +
                          cluster_.log_path(i) + ")");
      event("node " + std::to_string(i + 1) + " " + how);
    }
  }
}

void Nemesis::run(std::chrono::steady_clock::time_point until,
                  const std::atomic<bool>& interrupted) {
  std::vector<std::string> kinds = {"kill-leader", "kill-random", "kill-all", "pause-leader",
                                    "pause-random"};
  if (firewall_) {
    for (const char* k :
         {"partition-isolate", "partition-split", "partition-oneway", "partition-bridge"})
      kinds.push_back(k);
  }
  const int n = cluster_.size();
  while (std::chrono::steady_clock::now() < until && !interrupted) {
    if (!hold(between(500, 2000), interrupted)) break;
    if (std::chrono::steady_clock::now() >= until) break;
    const std::string kind = kinds[rng_() % kinds.size()];
    // A fault ends by the deadline at the latest (the run's length is a budget).
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    const auto duration =
        std::min(left, kind.starts_with("kill") ? between(500, 3000) : between(1000, 5000));
    counts_[kind]++;
    std::vector<int> order(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
      order[static_cast<size_t>(i)] = i;
    std::shuffle(order.begin(), order.end(), rng_);
    if (kind == "kill-all") {
      // Every node crashes at once: recovery from disk alone.
      event("kill -9 every node");
      for (int i = 0; i < n; ++i)
        cluster_.kill(i);
      hold(duration, interrupted);
      event("restart every node");
      for (int i = 0; i < n; ++i)
        restart(i);
    } else if (kind.starts_with("kill")) {
      const int victim = pick_node(kind == "kill-leader");
      event("kill -9 node " + std::to_string(victim + 1));
      cluster_.kill(victim);
      hold(duration, interrupted);
      event("restart node " + std::to_string(victim + 1));
      restart(victim);
    } else if (kind.starts_with("pause")) {
      const int victim = pick_node(kind == "pause-leader");
      event("SIGSTOP node " + std::to_string(victim + 1));
      cluster_.pause(victim);
      hold(duration, interrupted);
      event("SIGCONT node " + std::to_string(victim + 1));
      cluster_.resume(victim);
    } else {
      const bool leader_first = rng_() % 2 == 0;
      const int chosen = pick_node(leader_first);
      // `order` with the chosen node first.
      std::iter_swap(order.begin(), std::find(order.begin(), order.end(), chosen));
      std::vector<int> one = {order[0]};
      std::vector<int> rest(order.begin() + 1, order.end());
      if (kind == "partition-isolate") {
        cut(one, rest);
        cut(rest, one);
      } else if (kind == "partition-split") {
        const auto minority = static_cast<size_t>(n / 2);
        std::vector<int> a(order.begin(), order.begin() + static_cast<long>(minority));
        std::vector<int> b(order.begin() + static_cast<long>(minority), order.end());
        cut(a, b);
        cut(b, a);
      } else if (kind == "partition-oneway") {
        if (rng_() % 2 == 0)
          cut(rest, one);  // the node hears nobody, everybody hears it
        else
          cut(one, rest);
      } else {  // bridge: order[0] talks to both halves, which cannot talk
        std::vector<int> a, b;
        for (size_t i = 1; i < order.size(); ++i)
          (i % 2 ? a : b).push_back(order[i]);
        cut(a, b);
        cut(b, a);
      }
      hold(duration, interrupted);
      firewall_->heal();
      event("heal partition");
    }
  }
}

void Nemesis::restart(int i) {
  try {
    cluster_.start(i);
  } catch (const std::exception& e) {
    problems_.push_back(std::string("restart failed: ") + e.what());
  }
}

void Nemesis::heal_all() {
  if (firewall_ && firewall_->active() > 0) {
    firewall_->heal();
    event("heal partition");
  }
  check_crashes();
  for (int i = 0; i < cluster_.size(); ++i) {
    if (cluster_.paused(i)) {
      event("SIGCONT node " + std::to_string(i + 1));
      cluster_.resume(i);
    }
    if (!cluster_.running(i)) {
      event("restart node " + std::to_string(i + 1));
      restart(i);
    }
  }
}

}  // namespace kvraft::faults
