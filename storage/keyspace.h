// storage/keyspace.h — the databases of a node: keys, values and expiry
// times, plus the bookkeeping INFO and the active expire cycle need.
//
// Reads and writes see expiry differently, because in kvraft only the leader
// may delete an expired key (through a replicated KVRAFT.EXPIRE-KEYS record):
//   - lookup_read() treats a key whose expire time is <= now as absent and
//     leaves it in place (followers and read commands never mutate);
//   - lookup_write() runs inside write handlers, with the deterministic time
//     of the log record, and deletes such a key before answering, so every
//     replica applying the record makes the same change.
//
// Each database is a Dict of Entry blocks (value.h) plus an index of the
// entries that carry an expiry (a vector; each such entry stores its slot),
// which sample_expired() walks with a cursor the way Redis's active expire
// cycle samples its expires dict.
//
// Entry pointers returned by lookups are valid until the next mutating call
// on the same database; mutators that may re-create an entry (set_expire,
// persist, make_raw, rename...) return the new pointer.
//
// Not thread-safe: one thread (the server loop) owns it. A fork()ed child may
// call the const iteration functions on its copy.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "storage/access.h"
#include "storage/dict.h"
#include "storage/value.h"

namespace kvraft::storage {

// The expire argument of set_*: keep the current key's expiry (KEEPTTL,
// INCR). kNoExpire clears it; values >= 0 are absolute unix ms.
inline constexpr int64_t kKeepTtl = -2;

// Counters for INFO stats. Not replicated; lookups on followers count too.
struct KeyspaceStats {
  uint64_t keyspace_hits = 0;
  uint64_t keyspace_misses = 0;
  uint64_t expired_keys = 0;  // keys deleted because their time had passed
  uint64_t evicted_keys = 0;  // keys deleted by maxmemory eviction (KVRAFT.EVICT-KEYS)
};

class Keyspace {
 public:
  // `databases` >= 1 (Redis's `databases` setting); throws
  // std::invalid_argument otherwise.
  explicit Keyspace(int databases = 16);
  ~Keyspace();
  Keyspace(const Keyspace&) = delete;
  Keyspace& operator=(const Keyspace&) = delete;

  int databases() const { return static_cast<int>(dbs_.size()); }
  bool valid_db(int db) const { return db >= 0 && db < databases(); }

  // ---------------------------------------------------------------- reads
  // All functions taking `db` require valid_db(db).

  // The live entry for `key`, or null if absent or expired at `now_ms`.
  // Counts a keyspace hit or miss. Never deletes.
  const Entry* lookup_read(int db, std::string_view key, int64_t now_ms);
  // Same without touching the stats (EXISTS-like internal checks, tests).
  const Entry* peek(int db, std::string_view key, int64_t now_ms) const;
  // True if `e` has an expiry at or before `now_ms`.
  static bool is_expired(const Entry* e, int64_t now_ms) {
    return e->has_expire() && e->expire_at_ms() <= now_ms;
  }

  // Keys in `db`, including expired ones not yet deleted (as Redis's DBSIZE).
  size_t size(int db) const { return dbs_[db].dict.size(); }
  // Keys in `db` that carry an expiry.
  size_t expires(int db) const { return dbs_[db].expiring.size(); }
  // Redis's avg_ttl estimate for INFO keyspace (ms), maintained by
  // sample_expired(); 0 when unknown.
  int64_t avg_ttl(int db) const { return dbs_[db].avg_ttl; }
  // Total keys over all databases.
  size_t total_keys() const;

  // Stores a random live key of `db` in *out for RANDOMKEY and returns true,
  // or returns false if the db has no live key. Uses an internal PRNG, so
  // only read commands may call it.
  bool random_key(int db, int64_t now_ms, std::string* out);

  // One SCAN step over `db` (see Dict::scan): fn(const Entry*) for each
  // entry (expired ones included; the caller filters). Returns the next cursor.
  template <typename Fn>
  uint64_t scan(int db, uint64_t cursor, Fn&& fn) const {
    return dbs_[db].dict.scan(cursor, [&](Entry* e) { fn(static_cast<const Entry*>(e)); });
  }

  // Calls fn(int db, const Entry* e) for every entry of every database, in
  // database order (expired entries included; e->expire_at_ms() tells). For
  // snapshots: only reads, allocates nothing, so a fork()ed child can use it.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (int db = 0; db < databases(); ++db)
      dbs_[db].dict.for_each([&](Entry* e) { fn(db, static_cast<const Entry*>(e)); });
  }

  // Active expiry: examines up to `count` keys with an expiry in `db`
  // (continuing where the previous call stopped) and appends those whose
  // time is <= now_ms to *expired. Deletes nothing. Returns how many keys
  // were examined (0 when the db has no key with an expiry).
  size_t sample_expired(int db, int64_t now_ms, size_t count, std::vector<std::string>* expired);

  const KeyspaceStats& stats() const { return stats_; }
  KeyspaceStats& stats() { return stats_; }

  // Approximate heap bytes of all entries and tables (glibc chunk sizes).
  size_t memory_estimate() const;
  // The heap bytes deleting `e` gives back (its chunks and its value's).
  static size_t entry_footprint(const Entry* e);

  // ------------------------------------------------------ access metadata
  // Entry::access (storage/access.h) is refreshed by lookup_read(),
  // lookup_write() and on every store; peek() leaves it alone (OBJECT).

  // Switches the encoding of Entry::access (maxmemory-policy). Existing keys
  // keep their bits and are read in the new encoding, as in Redis.
  void set_access_policy(const AccessPolicy& policy) { access_policy_ = policy; }
  const AccessPolicy& access_policy() const { return access_policy_; }
  // The time stamped on stores that have no lookup time of their own; the
  // server advances it from its clock, lookups advance it to their now_ms.
  void set_clock(int64_t now_ms) { clock_ms_ = std::max(clock_ms_, now_ms); }
  int64_t clock_ms() const { return clock_ms_; }

  // Appends up to `count` randomly chosen entries of `db` to *out: any key,
  // or with `volatile_only` only keys with an expiry (Redis's eviction
  // sampling over the main or the expires dict). Duplicates are possible.
  void sample_entries(int db, bool volatile_only, size_t count, std::vector<const Entry*>* out);

  // --------------------------------------------------------------- writes

  // The entry for `key`, deleting it first if it is expired at `now_ms`
  // (counted in stats().expired_keys). For write handlers.
  Entry* lookup_write(int db, std::string_view key, int64_t now_ms);
  // Starts loading what a lookup of this key will touch (Dict::prefetch);
  // an invalid db is ignored.
  void prefetch(int db, std::string_view key, int stage) const {
    if (db >= 0 && db < databases()) dbs_[db].dict.prefetch(key, stage);
  }

  // Stores a string under `key`, replacing any value. `expire_at_ms`:
  // kKeepTtl, kNoExpire or an absolute time.
  Entry* set_string(int db, std::string_view key, std::string_view value, int64_t expire_at_ms,
                    StringHint hint = StringHint::kTryInt);
  // Stores an int-encoded string (INCR family).
  Entry* set_int(int db, std::string_view key, int64_t value, int64_t expire_at_ms);
  // Links a new entry (from entry_new_*), replacing and freeing any entry
  // with the same key. With keep_ttl, the replaced entry's expiry carries
  // over (the entry is rebuilt if needed). Takes ownership; returns the
  // entry as linked.
  Entry* set_entry(int db, Entry* fresh, bool keep_ttl);

  // Deletes `key` if present (expired or not). Returns whether it existed.
  bool remove(int db, std::string_view key);

  // Sets or clears (kNoExpire) the expiry of the linked entry `e`; returns
  // its possibly new address.
  Entry* set_expire(int db, Entry* e, int64_t expire_at_ms);

  // Makes `e`'s string value raw-encoded (Redis's dbUnshareStringValue) and
  // returns it for in-place modification. `e` may be re-created: the
  // updated pointer is stored back. Requires a kString entry.
  std::string& make_raw(int db, Entry*& e);

  // Gives the linked entry `e` the key `new_key` in the same db (keeping
  // its expiry). No entry named `new_key` may exist (remove it first).
  Entry* rename(int db, Entry* e, std::string_view new_key);

  // Moves the linked entry `e` of `src_db` into `dst_db` (same key, same
  // expiry). The key must not exist in `dst_db`.
  Entry* move(int src_db, Entry* e, int dst_db);

  // Empties one database / all of them; returns the number of keys removed.
  size_t flush_db(int db);
  size_t flush_all();

  // Exchanges the contents of two databases (SWAPDB).
  void swap_db(int a, int b);

  // Spends up to about `budget_us` microseconds moving buckets of ongoing
  // rehashes (called from the server's timer). Returns true if any rehash
  // is still in progress.
  bool rehash_step(int64_t budget_us);

 private:
  struct Db {
    Dict dict;
    // Entries with has_expire(); invariant: expiring[e->expire_slot()] == e.
    std::vector<Entry*> expiring;
    size_t expire_cursor = 0;  // where sample_expired continues
    int64_t avg_ttl = 0;
  };

  void index_add(Db& d, Entry* e);
  void index_remove(Db& d, Entry* e);
  void unlink_and_free(Db& d, Entry* e);
  // Records an access to `e` at `now_ms` (Entry::access).
  void touch(Entry* e, int64_t now_ms);
  // Unlinks `e`, re-creates it with the given key/expiry, links the result.
  Entry* rebuild(Db& d, Entry* e, std::string_view key, int64_t expire_at_ms);

  std::vector<Db> dbs_;
  KeyspaceStats stats_;
  std::mt19937_64 rng_;
  AccessPolicy access_policy_;
  int64_t clock_ms_ = 0;  // never decreases
};

}  // namespace kvraft::storage
