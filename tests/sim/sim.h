// tests/sim/sim.h — the deterministic Raft cluster simulator.
//
// One run = one seed: a cluster of Nodes (raft/node.h) over MemoryStorage
// "disks", a simulated clock, and a network that drops, delays, duplicates
// and reorders messages and partitions any subset of links (symmetric or one
// way). Nodes crash (losing everything not yet persisted, possibly in the
// middle of processing a Ready or of receiving a snapshot) and restart from
// their disks; clients write to a register and read it with ReadIndex or
// leases; membership changes, leadership transfers and snapshots happen at
// random points. Every choice comes from one seeded PRNG, so a seed replays
// exactly. After every event the safety invariants are checked; at the end
// the faults heal and the run checks that the cluster makes progress again.
#pragma once

#include <cstdint>
#include <string>

#include "raft/node.h"

namespace kvraft::sim {

struct SimOptions {
  int nodes = 3;  // initial voters (ids 1..nodes); 3 more ids are spares
  uint64_t seed = 1;
  int steps = 2000;    // one step = one tick interval of simulated time
  bool trace = false;  // print every event to stdout
  raft::TestMutations mutations;
};

struct SimResult {
  bool ok = true;
  std::string violation;  // first broken invariant, with the values
  int step = 0;           // step at which it broke
  uint64_t events = 0;    // events processed (messages delivered + ticks)
};

SimResult run_simulation(const SimOptions& options);

}  // namespace kvraft::sim
