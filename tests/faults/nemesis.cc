// tests/faults/nemesis.cc — see nemesis.h.
#include "tests/faults/nemesis.h"

#include <algorithm>
#include <thread>

namespace kvraft::faults {

Nemesis::Nemesis(FaultCluster& cluster, Firewall* firewall, uint64_t seed, int replace_every)
    : cluster_(cluster), firewall_(firewall), rng_(seed), replace_every_(replace_every) {}

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
  const std::vector<int> members = cluster_.members();
  const int random = members[rng_() % members.size()];
  if (!prefer_leader) return random;
  const int leader = cluster_.leader();
  return leader >= 0 ? leader : random;
}

void Nemesis::cut(const std::vector<int>& from, const std::vector<int>& to) {
  std::string what;
  for (int a : from)
    for (int b : to) {
      firewall_->drop(cluster_.address(a), cluster_.address(b));
      what += " " + std::to_string(cluster_.id(a)) + "->" + std::to_string(cluster_.id(b));
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
      problems_.push_back(name(i) + " " + how + " (see " + cluster_.log_path(i) + ")");
      event(name(i) + " " + how);
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
  while (std::chrono::steady_clock::now() < until && !interrupted) {
    if (!hold(between(500, 2000), interrupted)) break;
    if (std::chrono::steady_clock::now() >= until) break;
    // A membership change is slower and rarer than the other faults (one in
    // 12 by default), so every other kind keeps most of its share. Both
    // draws are made either way.
    const uint64_t draw = rng_();
    const uint64_t kind_draw = rng_();
    const bool membership = replace_every_ > 0 && draw % static_cast<uint64_t>(replace_every_) == 0;
    const std::string kind = membership ? "replace" : kinds[kind_draw % kinds.size()];
    // A fault ends by the deadline at the latest (the run's length is a budget).
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    const auto duration =
        std::min(left, kind.starts_with("kill") ? between(500, 3000) : between(1000, 5000));
    counts_[kind]++;
    std::vector<int> order = cluster_.members();
    const int n = static_cast<int>(order.size());
    std::shuffle(order.begin(), order.end(), rng_);
    if (kind == "replace") {
      replace(rng_() % 2 == 0, interrupted);
    } else if (kind == "kill-all") {
      // Every node crashes at once: recovery from disk alone.
      event("kill -9 every node");
      for (int i : cluster_.members())
        cluster_.kill(i);
      hold(duration, interrupted);
      event("restart every node");
      for (int i : cluster_.members())
        restart(i);
    } else if (kind.starts_with("kill")) {
      const int victim = pick_node(kind == "kill-leader");
      event("kill -9 " + name(victim));
      cluster_.kill(victim);
      hold(duration, interrupted);
      event("restart " + name(victim));
      restart(victim);
    } else if (kind.starts_with("pause")) {
      const int victim = pick_node(kind == "pause-leader");
      event("SIGSTOP " + name(victim));
      cluster_.pause(victim);
      hold(duration, interrupted);
      event("SIGCONT " + name(victim));
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
  for (int i : cluster_.members()) {
    if (cluster_.paused(i)) {
      event("SIGCONT " + name(i));
      cluster_.resume(i);
    }
    if (!cluster_.running(i)) {
      event("restart " + name(i));
      restart(i);
    }
  }
}

void Nemesis::announce_members() {
  if (!listener_) return;
  std::vector<Endpoint> endpoints;
  for (int i : cluster_.members())
    endpoints.push_back({cluster_.address(i), cluster_.client_port(i)});
  listener_(std::move(endpoints));
}

bool Nemesis::remove_member(int victim, const std::atomic<bool>& interrupted) {
  const std::string id = std::to_string(cluster_.id(victim));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::string last = "no member answered";
  // The members are tried in turn, not drawn from rng_: how many attempts
  // it takes is up to the cluster, and must not shift the seed's schedule.
  size_t attempt = 0;
  while (std::chrono::steady_clock::now() < deadline && !interrupted) {
    check_crashes();
    // Through any other live member (followers forward it to the leader).
    std::vector<int> via;
    for (int i : cluster_.members())
      if (i != victim && cluster_.running(i) && !cluster_.paused(i)) via.push_back(i);
    if (via.empty()) break;
    const int target = via[attempt++ % via.size()];
    Connection c(cluster_.address(target), cluster_.client_port(target),
                 std::chrono::milliseconds(10000));
    auto r = c.command({"RAFT.NODE", "REMOVE", id});
    if (r && r->type == REDIS_REPLY_STATUS) return true;
    if (r && r->type == REDIS_REPLY_ERROR) {
      const std::string err(r->str, r->len);
      last = err;
      // An earlier attempt whose reply was lost may have done it.
      if (err.find("is not a member") != std::string::npos) return true;
      const bool retry = err.starts_with("TRYAGAIN") || err.starts_with("CLUSTERDOWN") ||
                         err.find("already in progress") != std::string::npos;
      if (!retry) {
        problems_.push_back("RAFT.NODE REMOVE " + id + " refused: " + err);
        return false;
      }
    } else {
      last = r ? "unexpected reply type " + std::to_string(r->type) : "no reply: " + c.error();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (interrupted) return false;
  // Maybe the last attempt did it after all: ask the leader.
  const int leader = cluster_.leader();
  if (leader >= 0 && leader != victim) {
    auto roles = cluster_.roles(leader);
    if (roles && !roles->contains(static_cast<uint64_t>(cluster_.id(victim)))) return true;
  }
  problems_.push_back("RAFT.NODE REMOVE " + id + " did not complete within 30 s: " + last);
  return false;
}

void Nemesis::replace(bool prefer_leader, const std::atomic<bool>& interrupted) {
  const int victim = pick_node(prefer_leader);
  const bool was_leader = victim == cluster_.leader();
  event("RAFT.NODE REMOVE " + std::to_string(cluster_.id(victim)) +
        (was_leader ? " (the leader)" : ""));
  if (!remove_member(victim, interrupted)) {
    event("remove of " + name(victim) + " failed");
    return;
  }
  event(name(victim) + " removed; stop it");
  cluster_.retire(victim);
  announce_members();
  int fresh = -1;
  try {
    fresh = cluster_.add_joining_node();
    event("start " + name(fresh) + " at " + cluster_.address(fresh) + " with --join");
    // Joining retries RAFT.NODE ADD for up to 60 s before the node listens.
    cluster_.start(fresh, std::chrono::seconds(90));
  } catch (const std::exception& e) {
    problems_.push_back(std::string("replace: new node did not start: ") + e.what());
    if (fresh >= 0) announce_members();  // a member now, running or not
    return;
  }
  announce_members();
  const auto fresh_id = static_cast<uint64_t>(cluster_.id(fresh));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!interrupted) {
    check_crashes();
    const int leader = cluster_.leader();
    if (leader >= 0) {
      auto roles = cluster_.roles(leader);
      if (roles && roles->contains(fresh_id) && roles->at(fresh_id) == "voter") {
        event(name(fresh) + " is a voter");
        return;
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      problems_.push_back("replace: " + name(fresh) +
                          " was not promoted to voter within 60 s (see " +
                          cluster_.log_path(fresh) + ")");
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace kvraft::faults
