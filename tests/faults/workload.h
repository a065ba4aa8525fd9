// tests/faults/workload.h — the clients of a fault run and what they record.
//
// K client threads each hold one connection to a random node (followers
// proxy to the leader) and issue random get / set / incr / del / cas
// (SET NX: compare with "absent") on small numeric keys and get / set /
// append / del / cas on string keys. Keys are renamed every few seconds
// (`e<epoch>:n0`, ...) so no key's history grows too long for the checker.
// Every operation is recorded with its invoke and completion time
// (microseconds on the harness clock) as an Operation<KvModel>.
//
// How a reply is classified, and why it is safe:
//   a reply of the right type      -> ok, the recorded result;
//   -TRYAGAIN / -CLUSTERDOWN / -MOVED -> failed: the server promises the
//                                     command did not run (kept out of the
//                                     history, as a comment line);
//   any other error reply, a timeout or a lost connection
//                                  -> unknown outcome (pending forever);
//   a refused or failed connection -> nothing is invoked at all.
// A failed op is therefore a claim the checker tests indirectly: if a
// "failed" write did happen, a later read shows it and the history is not
// linearizable. The acknowledged-writes client tests the same claim directly.
//
// One more client writes unique keys `ack:<n>` = `v<n>` one after another:
// at the end every acknowledged one must read back, every failed one must be
// absent (lost or phantom writes). Between them it writes keys `ttl:<n>`
// that expire within 0.1-3 s, so expiry runs during the faults (the final
// replica comparison covers them). A quarter of the clients' SETs carry a
// TTL of an hour, which the model can ignore.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/faults/cluster.h"
#include "tests/linearizability/checker.h"
#include "tests/linearizability/models.h"

namespace kvraft::faults {

using KvOp = lincheck::Operation<lincheck::KvModel>;

// Microseconds since the harness started (one monotonic clock for all).
int64_t now_us();

enum class Outcome { kOk, kFailed, kUnknown };

struct ClientStats {
  uint64_t ops = 0, ok = 0, failed = 0, unknown = 0;
  ClientStats& operator+=(const ClientStats& o) {
    ops += o.ops;
    ok += o.ok;
    failed += o.failed;
    unknown += o.unknown;
    return *this;
  }
};

// The node endpoints the clients may use (the cluster is not touched from
// client threads: forks belong to the main thread).
struct Endpoint {
  std::string address;
  int port = 0;
};

class Workload {
 public:
  Workload(std::vector<Endpoint> nodes, int clients, uint64_t seed,
           std::chrono::milliseconds op_timeout);
  ~Workload();  // stops and joins

  void start();
  void stop();  // asks every client to finish its current operation and joins

  // The nodes new connections go to from now on (after a membership change:
  // removed nodes left out, new ones in). Connections already open stay
  // until they fail.
  void set_nodes(std::vector<Endpoint> nodes);

  // After stop(): the whole history (definite failures left out).
  std::vector<KvOp> history() const;
  // Comment lines for the history file: each failed operation and the
  // reason of each unknown outcome.
  std::vector<std::string> notes() const;
  ClientStats stats() const;

  struct AckWrite {
    std::string key, value;
    Outcome outcome;
  };
  std::vector<AckWrite> ack_writes() const;

 private:
  struct Client {
    int id = 0;
    std::thread thread;
    std::vector<KvOp> ops;
    std::vector<std::string> notes;
    std::vector<AckWrite> acks;
    ClientStats stats;
  };
  void run_client(Client& c, uint64_t seed);
  void run_ack_writer(Client& c, uint64_t seed);
  // Connects `conn` to a random node unless it is usable; false (after a
  // short pause) if that node refused.
  bool ensure_connected(Connection& conn, std::mt19937_64& rng);
  // A connection to a random current node (unusable if it refuses).
  Connection connect_random(std::mt19937_64& rng);

  mutable std::mutex nodes_mu_;
  std::vector<Endpoint> nodes_;  // guarded by nodes_mu_; never empty
  std::chrono::milliseconds op_timeout_;
  uint64_t seed_;
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<Client>> clients_;  // the last one writes ack keys
};

}  // namespace kvraft::faults
