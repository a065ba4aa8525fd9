// tests/support/membership.h — helpers for integration tests that change a
// LocalCluster's membership: RAFT.NODES as "id:role" words, waiting for a
// membership, admin commands retried while the cluster has no leader, and
// the check that acknowledged writes read back.
// Header-only like cluster.h (integration tests link hiredis).
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/cluster.h"

namespace kvraft::test {

// RAFT.NODES of node i as "id:role" words, e.g. "1:voter 2:voter 4:learner";
// "" if the node does not answer.
inline std::string roles(LocalCluster& c, int i) {
  try {
    RedisConnection conn(c.port(i));
    Reply r = conn.cmd({"RAFT.NODES"});
    std::string out;
    for (const auto& n : r.elements)
      out += (out.empty() ? "" : " ") + std::to_string(n.elements[0].integer) + ":" +
             n.elements[3].str;
    return out;
  } catch (const std::exception&) {
    return {};
  }
}

// Waits until roles(c, i) is `want`; false (with a message saying what node
// i has) after the timeout.
inline bool wait_roles(LocalCluster& c, int i, const std::string& want,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (roles(c, i) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  MESSAGE("node index " << i << " has members '" << roles(c, i) << "', want '" << want << "'");
  return false;
}

// Sends a command to node i, retrying while the cluster has no leader
// (-TRYAGAIN, -CLUSTERDOWN) or the previous membership change is not yet
// committed, for about 10 s.
inline Reply admin(LocalCluster& c, int i, const std::vector<std::string>& argv) {
  Reply r;
  for (int attempt = 0; attempt < 100; ++attempt) {
    RedisConnection conn(c.port(i));
    r = conn.cmd(argv);
    // Also retried: a change refused because the previous one is not yet
    // committed, which a leader elected a moment ago reports until the
    // no-op of its term commits (the error says to retry).
    const bool pending_change =
        r.str.find("membership change is already in progress") != std::string::npos;
    if (r.type != Reply::Type::kError ||
        (r.str.rfind("TRYAGAIN", 0) != 0 && r.str.rfind("CLUSTERDOWN", 0) != 0 && !pending_change))
      return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return r;
}

// Checks that every write in `acked` (key -> value) reads back through node
// `via`, naming the first few that do not.
inline void check_acked_present(LocalCluster& c, int via,
                                const std::map<std::string, std::string>& acked) {
  RedisConnection conn(c.port(via));
  for (const auto& [k, v] : acked)
    conn.append({"GET", k});
  size_t missing = 0;
  for (const auto& [k, v] : acked) {
    Reply r = conn.read();
    if (r.str != v && ++missing <= 5)
      MESSAGE("lost acknowledged write " << k << ": " << r.render());
  }
  CHECK(missing == 0);
}

}  // namespace kvraft::test
