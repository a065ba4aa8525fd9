// storage/keyspace.cc — see keyspace.h.
#include "storage/keyspace.h"

#include <cassert>
#include <chrono>
#include <stdexcept>
#include <utility>

namespace kvraft::storage {

namespace {

// glibc's chunk size for a malloc of n bytes (8 bytes of header, 16-byte
// granularity, 32 bytes minimum), for memory_estimate().
size_t chunk(size_t n) {
  size_t c = (n + 8 + 15) & ~size_t{15};
  return c < 32 ? 32 : c;
}

}  // namespace

Keyspace::Keyspace(int databases)
    : rng_(std::random_device{}()),
      // Keys loaded before the server's clock first advances it (a snapshot
      // at startup) count as accessed now.
      clock_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count()) {
  if (databases < 1) throw std::invalid_argument("keyspace: databases must be >= 1");
  dbs_.resize(static_cast<size_t>(databases));
}

Keyspace::~Keyspace() = default;

size_t Keyspace::total_keys() const {
  size_t n = 0;
  for (const Db& d : dbs_)
    n += d.dict.size();
  return n;
}

const Entry* Keyspace::peek(int db, std::string_view key, int64_t now_ms) const {
  const Entry* e = dbs_[db].dict.find(key);
  if (e && is_expired(e, now_ms)) return nullptr;
  return e;
}

const Entry* Keyspace::lookup_read(int db, std::string_view key, int64_t now_ms) {
  Entry* e = dbs_[db].dict.find(key);
  if (e && is_expired(e, now_ms)) e = nullptr;
  if (e) {
    stats_.keyspace_hits++;
    touch(e, now_ms);
  } else {
    stats_.keyspace_misses++;
  }
  return e;
}

void Keyspace::touch(Entry* e, int64_t now_ms) {
  set_clock(now_ms);
  double r = access_policy_.mode == AccessMode::kLfu
                 ? std::uniform_real_distribution<double>(0.0, 1.0)(rng_)
                 : 0.0;
  e->access = access_touch(e->access, access_policy_, clock_ms_, r);
}

Entry* Keyspace::lookup_write(int db, std::string_view key, int64_t now_ms) {
  Db& d = dbs_[db];
  Entry* e = d.dict.find(key);
  if (e && is_expired(e, now_ms)) {
    unlink_and_free(d, e);
    stats_.expired_keys++;
    return nullptr;
  }
  if (e) touch(e, now_ms);
  return e;
}

void Keyspace::index_add(Db& d, Entry* e) {
  assert(e->has_expire());
  if (d.expiring.size() >= UINT32_MAX) throw std::length_error("too many keys with an expiry");
  e->set_expire_slot(static_cast<uint32_t>(d.expiring.size()));
  d.expiring.push_back(e);
}

void Keyspace::index_remove(Db& d, Entry* e) {
  assert(e->has_expire());
  uint32_t slot = e->expire_slot();
  assert(slot < d.expiring.size() && d.expiring[slot] == e);
  Entry* last = d.expiring.back();
  d.expiring[slot] = last;
  last->set_expire_slot(slot);
  d.expiring.pop_back();
  // Give memory back after mass expiry; amortized O(1) since it happens only
  // after three quarters of the capacity went unused.
  if (d.expiring.capacity() > 1024 && d.expiring.size() < d.expiring.capacity() / 4)
    d.expiring.shrink_to_fit();
}

void Keyspace::unlink_and_free(Db& d, Entry* e) {
  Entry* unlinked = d.dict.unlink(e->key());
  assert(unlinked == e);
  (void)unlinked;
  if (e->has_expire()) index_remove(d, e);
  entry_free(e);
}

Entry* Keyspace::rebuild(Db& d, Entry* e, std::string_view key, int64_t expire_at_ms) {
  Entry* unlinked = d.dict.unlink(e->key());
  assert(unlinked == e);
  (void)unlinked;
  if (e->has_expire()) index_remove(d, e);
  Entry* fresh = entry_rebuild(e, key, expire_at_ms != kNoExpire, expire_at_ms);
  d.dict.insert(fresh);
  if (fresh->has_expire()) index_add(d, fresh);
  return fresh;
}

Entry* Keyspace::set_entry(int db, Entry* fresh, bool keep_ttl) {
  Db& d = dbs_[db];
  Entry* old = d.dict.find(fresh->key());
  if (keep_ttl) {
    int64_t when = old ? old->expire_at_ms() : kNoExpire;
    if (when != fresh->expire_at_ms())
      fresh = entry_rebuild(fresh, fresh->key(), when != kNoExpire, when);
  }
  // A new key starts fresh; an overwritten one keeps its LFU history, as in
  // Redis's dbSetValue (its LRU clock is simply now).
  bool keep_lfu = old && access_policy_.mode == AccessMode::kLfu;
  fresh->access = keep_lfu ? old->access : access_init(access_policy_, clock_ms_);
  if (old) {
    d.dict.replace(old, fresh);
    if (old->has_expire()) index_remove(d, old);
    entry_free(old);
  } else {
    d.dict.insert(fresh);
  }
  if (fresh->has_expire()) index_add(d, fresh);
  return fresh;
}

Entry* Keyspace::set_string(int db, std::string_view key, std::string_view value,
                            int64_t expire_at_ms, StringHint hint) {
  bool keep = expire_at_ms == kKeepTtl;
  return set_entry(db, entry_new_string(key, value, keep ? kNoExpire : expire_at_ms, hint), keep);
}

Entry* Keyspace::set_int(int db, std::string_view key, int64_t value, int64_t expire_at_ms) {
  bool keep = expire_at_ms == kKeepTtl;
  return set_entry(db, entry_new_int(key, value, keep ? kNoExpire : expire_at_ms), keep);
}

bool Keyspace::remove(int db, std::string_view key) {
  Db& d = dbs_[db];
  Entry* e = d.dict.find(key);
  if (!e) return false;
  unlink_and_free(d, e);
  return true;
}

Entry* Keyspace::set_expire(int db, Entry* e, int64_t expire_at_ms) {
  Db& d = dbs_[db];
  if (expire_at_ms != kNoExpire && e->has_expire()) {
    e->set_expire_at_ms(expire_at_ms);  // same layout: update in place
    return e;
  }
  if (expire_at_ms == kNoExpire && !e->has_expire()) return e;
  return rebuild(d, e, e->key(), expire_at_ms);
}

std::string& Keyspace::make_raw(int db, Entry*& e) {
  assert(e->type() == ValueType::kString);
  if (e->encoding() != Encoding::kRaw) {
    char buf[kLongStrSize];
    std::string value(entry_string(e, buf));
    Entry* fresh = entry_new_raw(e->key(), std::move(value), e->expire_at_ms());
    e = set_entry(db, fresh, false);
  }
  return *e->raw_value();
}

Entry* Keyspace::rename(int db, Entry* e, std::string_view new_key) {
  assert(!dbs_[db].dict.find(new_key));
  // new_key may point into an argv buffer, never into `e` (callers pass
  // argv), but rebuild copies it before freeing the old block anyway.
  return rebuild(dbs_[db], e, new_key, e->expire_at_ms());
}

Entry* Keyspace::move(int src_db, Entry* e, int dst_db) {
  Db& s = dbs_[src_db];
  Db& t = dbs_[dst_db];
  assert(!t.dict.find(e->key()));
  Entry* unlinked = s.dict.unlink(e->key());
  assert(unlinked == e);
  (void)unlinked;
  if (e->has_expire()) index_remove(s, e);
  t.dict.insert(e);
  if (e->has_expire()) index_add(t, e);
  return e;
}

size_t Keyspace::flush_db(int db) {
  Db& d = dbs_[db];
  size_t n = d.dict.size();
  d.dict.clear();
  d.expiring.clear();
  d.expiring.shrink_to_fit();
  d.expire_cursor = 0;
  d.avg_ttl = 0;
  return n;
}

size_t Keyspace::flush_all() {
  size_t n = 0;
  for (int db = 0; db < databases(); ++db)
    n += flush_db(db);
  return n;
}

void Keyspace::swap_db(int a, int b) {
  if (a == b) return;
  std::swap(dbs_[a], dbs_[b]);
}

bool Keyspace::random_key(int db, int64_t now_ms, std::string* out) {
  const Db& d = dbs_[db];
  auto rand = [this] { return rng_(); };
  // Like Redis's dbRandomKey: retry when the pick is expired; if a long run
  // of picks are all expired, fall back to a linear search so a db with few
  // live keys among many expired ones still answers correctly.
  for (int tries = 0; tries < 100; ++tries) {
    const Entry* e = d.dict.random_entry(rand);
    if (!e) return false;
    if (!is_expired(e, now_ms)) {
      out->assign(e->key());
      return true;
    }
  }
  bool found = false;
  d.dict.for_each([&](Entry* e) {
    if (!found && !is_expired(e, now_ms)) {
      out->assign(e->key());
      found = true;
    }
  });
  return found;
}

size_t Keyspace::sample_expired(int db, int64_t now_ms, size_t count,
                                std::vector<std::string>* expired) {
  Db& d = dbs_[db];
  size_t n = d.expiring.size();
  if (n == 0 || count == 0) return 0;
  if (count > n) count = n;
  int64_t ttl_sum = 0;
  int64_t ttl_samples = 0;
  for (size_t i = 0; i < count; ++i) {
    if (d.expire_cursor >= n) d.expire_cursor = 0;
    const Entry* e = d.expiring[d.expire_cursor++];
    int64_t ttl = e->expire_at_ms() - now_ms;
    if (ttl <= 0) {
      expired->emplace_back(e->key());
    } else {
      ttl_sum += ttl;
      ttl_samples++;
    }
  }
  if (ttl_samples) {
    // Redis's running estimate (activeExpireCycle).
    int64_t avg = ttl_sum / ttl_samples;
    d.avg_ttl = d.avg_ttl == 0 ? avg : (d.avg_ttl / 50) * 49 + (avg / 50);
  }
  return count;
}

size_t Keyspace::memory_estimate() const {
  size_t n = 0;
  for (const Db& d : dbs_) {
    n += d.dict.table_bytes() + d.expiring.capacity() * sizeof(Entry*);
    d.dict.for_each([&](Entry* e) { n += entry_footprint(e); });
  }
  return n;
}

size_t Keyspace::entry_footprint(const Entry* e) {
  size_t n = chunk(e->block_len());
  if (e->encoding() == Encoding::kRaw) n += chunk(entry_memory(e) - e->block_len());
  if (e->encoding() == Encoding::kObject) n += e->object_value()->memory_usage();
  return n;
}

void Keyspace::sample_entries(int db, bool volatile_only, size_t count,
                              std::vector<const Entry*>* out) {
  const Db& d = dbs_[db];
  if (volatile_only) {
    if (d.expiring.empty()) return;
    for (size_t i = 0; i < count; ++i)
      out->push_back(d.expiring[rng_() % d.expiring.size()]);
    return;
  }
  auto rand = [this] { return rng_(); };
  for (size_t i = 0; i < count; ++i) {
    const Entry* e = d.dict.random_entry(rand);
    if (!e) return;
    out->push_back(e);
  }
}

bool Keyspace::rehash_step(int64_t budget_us) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::microseconds(budget_us);
  bool pending = false;
  for (Db& d : dbs_) {
    // Also gives sparse tables their chance to shrink when idle.
    while (d.dict.rehash_step(100)) {
      if (Clock::now() >= deadline) return true;
    }
    pending = pending || d.dict.is_rehashing();
  }
  return pending;
}

}  // namespace kvraft::storage
