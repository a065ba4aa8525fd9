// src/eviction.h — maxmemory: Redis's eviction policies on a replicated
// keyspace.
//
// Only the leader evicts. Before it proposes a write flagged kCmdDenyOom
// (Replication::write calls Evictor::make_room), it compares the memory in
// use with `maxmemory`; when over, it picks victims the way Redis's
// performEvictions does (sampling `maxmemory-samples` keys per database into
// a pool of the 16 best candidates, src/evict.c) and proposes their deletion
// as one internal KVRAFT.EVICT-KEYS record per database. Every replica
// applies that record (counting evicted_keys), so replicas stay identical
// and a follower never evicts on its own. With noeviction, or nothing to
// evict under a volatile-* policy, the write is refused with Redis's -OOM.
//
// Deletions take effect only when their record is applied, so the bytes of
// keys already proposed for eviction are remembered (pending) and
// subtracted from the usage until the record with their index is applied;
// those keys are not picked again meanwhile. That keeps the leader from
// evicting the same bytes twice under a fast write load. Symmetrically, the
// deny-oom writes proposed but not yet applied (a client's pipeline, a disk
// batch) are counted at their estimated size until applied: otherwise they
// would all pass the check against a keyspace that does not hold them yet,
// and every replica would overshoot by the whole pipeline once they apply.
// Followers apply the same records in the same order, so their keyspace
// tracks the leader's at each index.
//
// What counts: the heap in use (storage/heap_counter.h) minus the memory of
// Raft log data (Replication::log_memory_bytes: the in-memory log and the
// log writer's buffer, the core's unstable entries and pending messages, the
// Ready in hand, the peer connections' buffers). Redis likewise leaves its
// AOF and replica output buffers out (freeMemoryGetNotCountedMemory): that
// memory is bounded by the snapshot and flow-control settings, it moves in
// bursts as entries are replicated, and evicting keys would not give it
// back. INFO memory shows it as mem_not_counted_for_evict and by part.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "storage/access.h"

namespace kvraft {

namespace storage {
class Keyspace;
struct Entry;
}  // namespace storage
class Server;
struct Config;

enum class EvictionPolicy {
  kNoEviction,
  kAllkeysLru,
  kAllkeysLfu,
  kAllkeysRandom,
  kVolatileLru,
  kVolatileLfu,
  kVolatileRandom,
  kVolatileTtl,
};

// "allkeys-lru" -> kAllkeysLru ...; false for an unknown name.
bool parse_eviction_policy(std::string_view name, EvictionPolicy* out);
// Every policy name, in Redis's order (the maxmemory-policy directive's values).
const std::vector<std::string>& eviction_policy_names();
// Whether the policy only considers keys with an expiry.
bool is_volatile_policy(EvictionPolicy p);
// The Entry::access encoding `config`'s policy needs (LFU for *-lfu).
storage::AccessPolicy access_policy_for(const Config& config);

// How many bytes applying a write with these arguments may add to the
// keyspace: its argument bytes plus a per-argument allowance for the entry
// and table overhead of what it stores.
size_t write_growth_estimate(const std::vector<std::string_view>& argv);

// The error a deny-oom write gets above maxmemory (Redis's shared.oomerr).
inline constexpr std::string_view kErrOom =
    "OOM command not allowed when used memory > 'maxmemory'.";

// How strongly a key should be evicted under `policy` (Redis's "idle"
// score in evictionPoolPopulate): LRU idle ms, 255 - LFU counter, or
// UINT64_MAX - expire time for volatile-ttl. Higher goes first.
uint64_t eviction_score(EvictionPolicy policy, const storage::Entry* e,
                        const storage::AccessPolicy& access, int64_t now_ms);

// Redis's EVPOOL: the best candidates seen so far, kept across calls.
class EvictionPool {
 public:
  static constexpr size_t kSize = 16;  // Redis's EVPOOL_SIZE
  struct Candidate {
    uint64_t score = 0;
    int db = 0;
    std::string key;
  };
  // Keeps (db, key) if the pool has room or `score` beats the worst kept
  // score; a key already in the pool has its score updated.
  void offer(uint64_t score, int db, std::string_view key);
  // Removes and returns the highest-scoring candidate, if any.
  std::optional<Candidate> pop_best();
  size_t size() const { return entries_.size(); }
  void clear() { entries_.clear(); }

 private:
  // Invariant: ascending by score, size() <= kSize, no (db, key) twice.
  std::vector<Candidate> entries_;
};

// One key chosen for eviction and the heap bytes its deletion frees.
struct Victim {
  int db = 0;
  std::string key;
  size_t bytes = 0;
};

// Picks victims under `policy` (not kNoEviction) until their bytes reach
// `bytes_to_free` or `max_victims` are chosen, sampling `samples` keys per
// database per round into `pool`. Keys for which `is_pending(db, key)` is
// true are skipped. Returns fewer (possibly none) when nothing more is
// evictable. Reads the keyspace only (uses its sampling PRNG).
std::vector<Victim> select_victims(storage::Keyspace& keyspace, EvictionPolicy policy, int samples,
                                   size_t bytes_to_free, size_t max_victims, int64_t now_ms,
                                   EvictionPool& pool,
                                   const std::function<bool(int, std::string_view)>& is_pending);

// The leader-side state: configuration, the pool, the pending evictions.
class Evictor {
 public:
  explicit Evictor(Server& server);

  // Called before the leader proposes a deny-oom write. Counts the
  // deny-oom writes proposed but not yet applied as if already in the
  // keyspace (note_proposed); proposes evictions as needed; returns false if
  // the write must be refused with kErrOom. Like Redis, the check is made
  // before the write: usage may pass the limit by that one write.
  bool make_room();
  // The leader proposed a deny-oom write at `index` that may add `bytes`
  // (write_growth_estimate): they count against the limit until the entry
  // is applied (or leadership is lost).
  void note_proposed(uint64_t index, size_t bytes);

  // Re-reads the configuration into the keyspace's access encoding and
  // advances its clock (startup, CONFIG SET, cron).
  void sync_config();

  // Memory in use that counts against maxmemory (see the header comment),
  // and the part of the heap left out of it.
  size_t used_for_eviction() const;
  size_t not_counted() const;
  // Bytes of keys proposed for eviction whose record is not applied yet.
  size_t pending_bytes() {
    release_applied();
    return pending_bytes_;
  }
  // Estimated bytes of the deny-oom writes proposed but not applied yet.
  size_t inflight_write_bytes() {
    release_applied();
    return inflight_bytes_;
  }

 private:
  struct Batch {
    uint64_t index = 0;             // log index of the KVRAFT.EVICT-KEYS record
    std::vector<std::string> keys;  // pending_key() forms
    size_t bytes = 0;
  };
  static std::string pending_key(int db, std::string_view key);
  // Forgets batches whose record is applied (or that died with leadership).
  void release_applied();

  Server& server_;
  EvictionPool pool_;
  // Invariant: pending_keys_ holds exactly the keys of batches_, and
  // pending_bytes_ is the sum of their bytes.
  std::deque<Batch> batches_;
  std::unordered_set<std::string> pending_keys_;
  size_t pending_bytes_ = 0;
  // Writes proposed by this leader, (index, estimated bytes), in index
  // order. Invariant: inflight_bytes_ is the sum of their bytes.
  std::deque<std::pair<uint64_t, size_t>> inflight_;
  size_t inflight_bytes_ = 0;
};

}  // namespace kvraft
