// src/eviction.cc — see eviction.h.
#include "src/eviction.h"

#include <algorithm>

#include "src/config.h"
#include "src/log.h"
#include "src/replication.h"
#include "src/server.h"
#include "storage/heap_counter.h"
#include "storage/keyspace.h"

namespace kvraft {

namespace {

struct PolicyName {
  EvictionPolicy policy;
  std::string_view name;
};
constexpr PolicyName kPolicies[] = {
    {EvictionPolicy::kVolatileLru, "volatile-lru"},
    {EvictionPolicy::kVolatileLfu, "volatile-lfu"},
    {EvictionPolicy::kVolatileRandom, "volatile-random"},
    {EvictionPolicy::kVolatileTtl, "volatile-ttl"},
    {EvictionPolicy::kAllkeysLru, "allkeys-lru"},
    {EvictionPolicy::kAllkeysLfu, "allkeys-lfu"},
    {EvictionPolicy::kAllkeysRandom, "allkeys-random"},
    {EvictionPolicy::kNoEviction, "noeviction"},
};

EvictionPolicy policy_of(const Config& config) {
  EvictionPolicy p = EvictionPolicy::kNoEviction;
  parse_eviction_policy(config.maxmemory_policy, &p);
  return p;
}

bool is_lfu(EvictionPolicy p) {
  return p == EvictionPolicy::kAllkeysLfu || p == EvictionPolicy::kVolatileLfu;
}
bool is_random(EvictionPolicy p) {
  return p == EvictionPolicy::kAllkeysRandom || p == EvictionPolicy::kVolatileRandom;
}

// The most victims one write may trigger (Redis bounds each performEvictions
// call by time instead): keeps one KVRAFT.EVICT-KEYS record a modest log
// entry and the pause before the write short.
constexpr size_t kMaxVictimsPerWrite = 4096;

}  // namespace

bool parse_eviction_policy(std::string_view name, EvictionPolicy* out) {
  for (const auto& p : kPolicies) {
    if (p.name.size() == name.size() &&
        std::equal(name.begin(), name.end(), p.name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      *out = p.policy;
      return true;
    }
  }
  return false;
}

const std::vector<std::string>& eviction_policy_names() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> v;
    for (const auto& p : kPolicies)
      v.emplace_back(p.name);
    return v;
  }();
  return kNames;
}

bool is_volatile_policy(EvictionPolicy p) {
  return p == EvictionPolicy::kVolatileLru || p == EvictionPolicy::kVolatileLfu ||
         p == EvictionPolicy::kVolatileRandom || p == EvictionPolicy::kVolatileTtl;
}

storage::AccessPolicy access_policy_for(const Config& config) {
  storage::AccessPolicy a;
  a.mode = is_lfu(policy_of(config)) ? storage::AccessMode::kLfu : storage::AccessMode::kLru;
  a.lfu_log_factor = config.lfu_log_factor;
  a.lfu_decay_time = config.lfu_decay_time;
  return a;
}

uint64_t eviction_score(EvictionPolicy policy, const storage::Entry* e,
                        const storage::AccessPolicy& access, int64_t now_ms) {
  switch (policy) {
    case EvictionPolicy::kAllkeysLru:
    case EvictionPolicy::kVolatileLru:
      return static_cast<uint64_t>(storage::lru_idle_ms(e->access, now_ms));
    case EvictionPolicy::kAllkeysLfu:
    case EvictionPolicy::kVolatileLfu:
      return 255 - storage::lfu_decayed_counter(e->access, now_ms, access.lfu_decay_time);
    case EvictionPolicy::kVolatileTtl:
      // Sooner expiry, higher score; keys without one never qualify here.
      return UINT64_MAX - static_cast<uint64_t>(std::max<int64_t>(e->expire_at_ms(), 0));
    default:
      return 0;
  }
}

void EvictionPool::offer(uint64_t score, int db, std::string_view key) {
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].db == db && entries_[i].key == key) {
      if (entries_[i].score == score) return;
      entries_.erase(entries_.begin() + static_cast<ptrdiff_t>(i));  // re-inserted below
      break;
    }
  }
  if (entries_.size() == kSize) {
    if (score <= entries_.front().score) return;  // worse than everything kept
    entries_.erase(entries_.begin());             // drop the weakest candidate
  }
  auto pos = std::upper_bound(entries_.begin(), entries_.end(), score,
                              [](uint64_t s, const Candidate& c) { return s < c.score; });
  entries_.insert(pos, Candidate{score, db, std::string(key)});
}

std::optional<EvictionPool::Candidate> EvictionPool::pop_best() {
  if (entries_.empty()) return std::nullopt;
  Candidate c = std::move(entries_.back());
  entries_.pop_back();
  return c;
}

std::vector<Victim> select_victims(storage::Keyspace& keyspace, EvictionPolicy policy, int samples,
                                   size_t bytes_to_free, size_t max_victims, int64_t now_ms,
                                   EvictionPool& pool,
                                   const std::function<bool(int, std::string_view)>& is_pending) {
  std::vector<Victim> victims;
  if (policy == EvictionPolicy::kNoEviction) return victims;
  const bool volatile_only = is_volatile_policy(policy);
  const storage::AccessPolicy& access = keyspace.access_policy();
  std::vector<const storage::Entry*> sample;
  size_t freed = 0;
  // Victims already chosen in this call are pending too, for the sampler.
  std::unordered_set<std::string> chosen;
  auto taken = [&](int db, std::string_view key) {
    if (is_pending(db, key)) return true;
    std::string k = std::to_string(db) + ':';
    k.append(key);
    return chosen.count(k) > 0;
  };
  auto take = [&](int db, const storage::Entry* e) {
    std::string k = std::to_string(db) + ':';
    k.append(e->key());
    chosen.insert(std::move(k));
    size_t bytes = storage::Keyspace::entry_footprint(e);
    freed += bytes;
    victims.push_back(Victim{db, std::string(e->key()), bytes});
  };
  int next_random_db = 0;
  // A round can come back empty by chance when many sampled keys are
  // already taken; give up only after several in a row.
  constexpr int kMaxEmptyRounds = 16;
  int empty_rounds = 0;
  while (freed < bytes_to_free && victims.size() < max_victims) {
    const size_t before = victims.size();
    if (is_random(policy)) {
      // Redis's random policies: one random key per round, databases in turn.
      for (int n = 0; n < keyspace.databases() && victims.size() == before; ++n) {
        int db = (next_random_db + n) % keyspace.databases();
        sample.clear();
        keyspace.sample_entries(db, volatile_only, 1 + static_cast<size_t>(samples), &sample);
        for (const storage::Entry* e : sample) {
          if (taken(db, e->key())) continue;
          take(db, e);
          next_random_db = db + 1;
          break;
        }
      }
    } else {
      // Redis's evictionPoolPopulate over every database, then the best
      // pooled key that still exists and is not already on its way out.
      for (int db = 0; db < keyspace.databases(); ++db) {
        if ((volatile_only ? keyspace.expires(db) : keyspace.size(db)) == 0) continue;
        sample.clear();
        keyspace.sample_entries(db, volatile_only, static_cast<size_t>(samples), &sample);
        for (const storage::Entry* e : sample)
          if (!taken(db, e->key()))
            pool.offer(eviction_score(policy, e, access, now_ms), db, e->key());
      }
      while (auto c = pool.pop_best()) {
        if (taken(c->db, c->key)) continue;
        const storage::Entry* e = keyspace.peek(c->db, c->key, INT64_MIN);
        if (!e || (volatile_only && !e->has_expire())) continue;  // gone or changed since sampled
        take(c->db, e);
        break;
      }
    }
    if (victims.size() > before)
      empty_rounds = 0;
    else if (++empty_rounds >= kMaxEmptyRounds)
      break;  // nothing (more) evictable
  }
  return victims;
}

size_t write_growth_estimate(const std::vector<std::string_view>& argv) {
  // ~16 bytes per argument covers the chunk headers and rounding of the
  // elements it stores (listpack/dict entries); 64 per write the Entry
  // header, its dict slot and the rounding of the key's block.
  constexpr size_t kPerArgument = 16;
  constexpr size_t kPerWrite = 64;
  size_t n = kPerWrite;
  for (std::string_view a : argv)
    n += a.size() + kPerArgument;
  return n;
}

Evictor::Evictor(Server& server) : server_(server) {}

std::string Evictor::pending_key(int db, std::string_view key) {
  std::string k = std::to_string(db) + ':';
  k.append(key);
  return k;
}

void Evictor::sync_config() {
  storage::Keyspace& ks = server_.keyspace();
  storage::AccessPolicy want = access_policy_for(server_.config());
  const storage::AccessPolicy& have = ks.access_policy();
  if (want.mode != have.mode) pool_.clear();  // scores of the old kind
  ks.set_access_policy(want);
  ks.set_clock(unix_time_ms());
}

size_t Evictor::not_counted() const {
  return static_cast<size_t>(server_.replication().log_memory_bytes());
}

size_t Evictor::used_for_eviction() const {
  size_t used = storage::heap_used_bytes();
  size_t skip = not_counted();
  return used > skip ? used - skip : 0;
}

void Evictor::release_applied() {
  const bool leader = server_.replication().is_leader();
  const uint64_t applied = server_.replication().applied_index();
  while (!batches_.empty() && (!leader || batches_.front().index <= applied)) {
    for (const auto& k : batches_.front().keys)
      pending_keys_.erase(k);
    pending_bytes_ -= batches_.front().bytes;
    batches_.pop_front();
  }
  while (!inflight_.empty() && (!leader || inflight_.front().first <= applied)) {
    inflight_bytes_ -= inflight_.front().second;
    inflight_.pop_front();
  }
}

void Evictor::note_proposed(uint64_t index, size_t bytes) {
  if (server_.config().maxmemory <= 0) return;
  inflight_.emplace_back(index, bytes);
  inflight_bytes_ += bytes;
}

bool Evictor::make_room() {
  const Config& config = server_.config();
  if (config.maxmemory <= 0) return true;
  release_applied();
  const size_t limit = static_cast<size_t>(config.maxmemory);
  size_t used = used_for_eviction();
  // What the keyspace will hold once everything proposed so far is
  // applied: a pipeline of in-flight writes must not carry usage past the
  // limit once the evictions ahead of them took effect.
  size_t projected = used + inflight_bytes_;
  projected = projected > pending_bytes_ ? projected - pending_bytes_ : 0;
  if (projected <= limit) return true;
  EvictionPolicy policy = policy_of(config);
  if (policy == EvictionPolicy::kNoEviction) return false;

  storage::Keyspace& ks = server_.keyspace();
  const int64_t now = unix_time_ms();
  ks.set_clock(now);
  auto is_pending = [this](int db, std::string_view key) {
    return pending_keys_.count(pending_key(db, key)) > 0;
  };
  std::vector<Victim> victims =
      select_victims(ks, policy, config.maxmemory_samples, projected - limit, kMaxVictimsPerWrite,
                     now, pool_, is_pending);
  size_t freed = 0;
  for (const Victim& v : victims)
    freed += v.bytes;
  // One KVRAFT.EVICT-KEYS record per database, in database order.
  std::sort(victims.begin(), victims.end(),
            [](const Victim& a, const Victim& b) { return a.db < b.db; });
  for (size_t i = 0; i < victims.size();) {
    size_t j = i;
    std::vector<std::string_view> argv{"KVRAFT.EVICT-KEYS"};
    Batch batch;
    while (j < victims.size() && victims[j].db == victims[i].db) {
      argv.push_back(victims[j].key);
      batch.keys.push_back(pending_key(victims[j].db, victims[j].key));
      batch.bytes += victims[j].bytes;
      ++j;
    }
    raft::Index index = 0;
    if (!server_.replication().propose_internal(victims[i].db, argv, &index)) return true;
    batch.index = index;
    for (const auto& k : batch.keys)
      pending_keys_.insert(k);
    pending_bytes_ += batch.bytes;
    batches_.push_back(std::move(batch));
    i = j;
  }
  // Refuse when nothing could be freed at all, or when a full round of
  // victims still leaves usage far above the limit, so a writer cannot
  // outrun eviction.
  projected = projected > freed ? projected - freed : 0;
  if (victims.empty()) {
    // Evictions still in flight will free memory: the write may go ahead
    // behind them. With none, nothing is evictable (Redis's EVICT_FAIL).
    if (pending_bytes_ > 0) return true;
    KV_LOG_VERBOSE("maxmemory: nothing to evict under %s; used %zu, limit %zu",
                   config.maxmemory_policy.c_str(), used, limit);
    return false;
  }
  return victims.size() < kMaxVictimsPerWrite || projected <= limit + limit / 4;
}

}  // namespace kvraft
