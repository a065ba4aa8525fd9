// src/commands/set_commands.cc — the SET commands (Redis's t_set.c): SADD,
// SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SPOP, SRANDMEMBER, SINTER,
// SUNION, SDIFF and their *STORE forms, SINTERCARD, SMOVE, SSCAN.
//
// Argument checks follow Redis 7's order so the same bad request gets the
// same error. Write handlers use only the keyspace, argv, ctx.db and
// ctx.now_ms (src/command.h); in particular SPOP chooses its members from
// the set's contents and the record's time alone (SetValue::pop_hash_order),
// so every replica pops the same members. SRANDMEMBER is a read and may use
// a real PRNG. A set that becomes empty is deleted, as in Redis.
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "src/command.h"
#include "src/commands/command_util.h"
#include "storage/glob.h"
#include "storage/keyspace.h"
#include "storage/set_value.h"
#include "storage/strconv.h"

namespace kvraft {

namespace {

using storage::Entry;
using storage::kNoExpire;
using storage::SetValue;
using storage::ValueType;

SetValue* as_set(const Entry* e) {
  return static_cast<SetValue*>(e->object_value());
}

// The set at `key` for reading: null if absent; null with WRONGTYPE replied
// (and *failed set) if it holds another type.
SetValue* read_set(ExecContext& ctx, std::string_view key, bool* failed) {
  const Entry* e = read_typed(ctx, key, ValueType::kSet, failed);
  return e ? as_set(e) : nullptr;
}

// The same for writers (lookup_write deletes an expired key first).
SetValue* write_set(ExecContext& ctx, std::string_view key, bool* failed) {
  Entry* e = write_typed(ctx, key, ValueType::kSet, failed);
  return e ? as_set(e) : nullptr;
}

// Links `value` under `key`, replacing any value and dropping its expiry
// (Redis's setKey / dbAdd).
SetValue* store_set(ExecContext& ctx, std::string_view key, std::unique_ptr<SetValue> value) {
  SetValue* raw = value.get();
  ctx.keyspace.set_entry(ctx.db, storage::entry_new_object(key, std::move(value), kNoExpire),
                         false);
  return raw;
}

void reply_members(ExecContext& ctx, const SetValue& s) {
  ctx.reply.set_header(static_cast<int64_t>(s.size()));
  s.for_each([&](std::string_view m) { ctx.reply.bulk(m); });
}

// --------------------------------------------------------------- basics

void sadd_command(ExecContext& ctx) {
  bool failed;
  SetValue* s = write_set(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!s) s = store_set(ctx, ctx.argv[1], SetValue::create(ctx.argv[2], ctx.argv.size() - 2));
  int64_t added = 0;
  for (size_t j = 2; j < ctx.argv.size(); ++j)
    if (s->add(ctx.argv[j])) ++added;
  ctx.dirty += added;
  ctx.reply.integer(added);
}

void srem_command(ExecContext& ctx) {
  bool failed;
  SetValue* s = write_set(ctx, ctx.argv[1], &failed);
  if (failed) return;
  int64_t removed = 0;
  if (s) {
    for (size_t j = 2; j < ctx.argv.size(); ++j) {
      if (s->remove(ctx.argv[j])) ++removed;
      if (s->size() == 0) {
        ctx.keyspace.remove(ctx.db, ctx.argv[1]);
        break;
      }
    }
  }
  ctx.dirty += removed;
  ctx.reply.integer(removed);
}

void smove_command(ExecContext& ctx) {
  std::string_view src_key = ctx.argv[1], dst_key = ctx.argv[2], member = ctx.argv[3];
  Entry* src_e = ctx.keyspace.lookup_write(ctx.db, src_key, ctx.now_ms);
  Entry* dst_e = ctx.keyspace.lookup_write(ctx.db, dst_key, ctx.now_ms);
  if (!src_e) return ctx.reply.integer(0);
  if (src_e->type() != ValueType::kSet || (dst_e && dst_e->type() != ValueType::kSet))
    return ctx.reply.error(kErrWrongType);
  // Values are heap objects owned by their entries: these stay valid when
  // the other key is deleted below.
  SetValue* src = as_set(src_e);
  SetValue* dst = dst_e ? as_set(dst_e) : nullptr;
  if (src == dst) return ctx.reply.integer(src->contains(member) ? 1 : 0);
  if (!src->remove(member)) return ctx.reply.integer(0);
  if (src->size() == 0) ctx.keyspace.remove(ctx.db, src_key);
  if (!dst) dst = store_set(ctx, dst_key, SetValue::create(member, 1));
  ctx.dirty++;
  if (dst->add(member)) ctx.dirty++;
  ctx.reply.integer(1);
}

void sismember_command(ExecContext& ctx) {
  bool failed;
  SetValue* s = read_set(ctx, ctx.argv[1], &failed);
  if (failed) return;
  ctx.reply.integer(s && s->contains(ctx.argv[2]) ? 1 : 0);
}

void smismember_command(ExecContext& ctx) {
  bool failed;
  SetValue* s = read_set(ctx, ctx.argv[1], &failed);
  if (failed) return;
  ctx.reply.array_header(static_cast<int64_t>(ctx.argv.size() - 2));
  for (size_t j = 2; j < ctx.argv.size(); ++j)
    ctx.reply.integer(s && s->contains(ctx.argv[j]) ? 1 : 0);
}

void scard_command(ExecContext& ctx) {
  bool failed;
  SetValue* s = read_set(ctx, ctx.argv[1], &failed);
  if (failed) return;
  ctx.reply.integer(s ? static_cast<int64_t>(s->size()) : 0);
}

void smembers_command(ExecContext& ctx) {
  bool failed;
  SetValue* s = read_set(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!s) return ctx.reply.set_header(0);
  reply_members(ctx, *s);
}

// --------------------------------------------------------------- SPOP

// The hash-circle target SPOP pops from: a function of the record's time,
// the key and the set's size only, so every replica applying the record
// computes the same one; the size makes repeated pops within one
// millisecond start from different points.
uint64_t spop_target(std::string_view key, int64_t now_ms, size_t size) {
  uint64_t seed = static_cast<uint64_t>(now_ms) * 0x9E3779B97F4A7C15ULL ^ size;
  return XXH3_64bits_withSeed(key.data(), key.size(), seed);
}

void spop_command(ExecContext& ctx) {
  if (ctx.argv.size() > 3) return ctx.reply.error(kErrSyntax);
  std::string_view key = ctx.argv[1];
  bool with_count = ctx.argv.size() == 3;
  int64_t count = 1;
  if (with_count) {
    // Redis's getPositiveLongFromObjectOrReply: one message for both cases.
    if (!storage::string2ll(ctx.argv[2], &count) || count < 0)
      return ctx.reply.error("ERR value is out of range, must be positive");
  }
  bool failed;
  SetValue* s = write_set(ctx, key, &failed);
  if (failed) return;
  if (!s) return with_count ? ctx.reply.set_header(0) : ctx.reply.null();
  if (count == 0) return ctx.reply.set_header(0);
  size_t size = s->size();
  if (static_cast<uint64_t>(count) >= size) {
    // Everything goes: reply the members and delete the key.
    if (with_count)
      reply_members(ctx, *s);
    else
      s->for_each([&](std::string_view m) { ctx.reply.bulk(m); });
    ctx.keyspace.remove(ctx.db, key);
    ctx.dirty += static_cast<int64_t>(size);
    return;
  }
  std::vector<std::string> popped =
      s->pop_hash_order(spop_target(key, ctx.now_ms, size), static_cast<size_t>(count));
  ctx.dirty += count;
  if (!with_count) return ctx.reply.bulk(popped[0]);
  ctx.reply.set_header(count);
  for (const std::string& m : popped)
    ctx.reply.bulk(m);
}

// The largest SRANDMEMBER reply with repetitions (a negative count).
constexpr uint64_t kMaxRandomDraws = 10'000'000;

// SRANDMEMBER is a read; its randomness never reaches the keyspace.
std::mt19937_64& read_rng() {
  static std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

void srandmember_command(ExecContext& ctx) {
  if (ctx.argv.size() > 3) return ctx.reply.error(kErrSyntax);
  bool with_count = ctx.argv.size() == 3;
  int64_t l = 1;
  if (with_count) {
    if (!storage::string2ll(ctx.argv[2], &l)) return ctx.reply.error(kErrNotInteger);
    if (l == INT64_MIN)
      return ctx.reply.error(
          "ERR value is out of range, value must between -9223372036854775807 and "
          "9223372036854775807");
  }
  bool failed;
  SetValue* s = read_set(ctx, ctx.argv[1], &failed);
  if (failed) return;
  auto& rng = read_rng();
  auto r = [&] { return rng(); };
  if (!with_count) {
    if (!s) return ctx.reply.null();
    return ctx.reply.bulk(s->random_member(r));
  }
  if (!s || l == 0) return ctx.reply.array_header(0);
  size_t size = s->size();
  if (l < 0) {
    // Repetitions allowed: -l independent draws. Redis would try to build
    // any size; the whole reply is buffered here, so a request that could
    // only exhaust memory is refused instead.
    uint64_t n = static_cast<uint64_t>(-l);
    if (n > kMaxRandomDraws)
      return ctx.reply.error("ERR value is out of range, count exceeds " +
                             std::to_string(kMaxRandomDraws) + " members");
    ctx.reply.array_header(static_cast<int64_t>(n));
    for (uint64_t i = 0; i < n; ++i)
      ctx.reply.bulk(s->random_member(r));
    return;
  }
  uint64_t count = static_cast<uint64_t>(l);
  if (count >= size) {
    ctx.reply.array_header(static_cast<int64_t>(size));
    s->for_each([&](std::string_view m) { ctx.reply.bulk(m); });
    return;
  }
  // Distinct members: a partial Fisher-Yates over the member list when the
  // sample is a large share of the set, rejection sampling otherwise.
  std::vector<std::string> picked;
  picked.reserve(count);
  if (count * 3 > size) {
    std::vector<std::string> all;
    all.reserve(size);
    s->for_each([&](std::string_view m) { all.emplace_back(m); });
    for (uint64_t i = 0; i < count; ++i) {
      size_t j = i + static_cast<size_t>(rng() % (size - i));
      std::swap(all[i], all[j]);
      picked.push_back(std::move(all[i]));
    }
  } else {
    std::unordered_set<std::string> seen;
    while (picked.size() < count) {
      std::string m = s->random_member(r);
      if (seen.insert(m).second) picked.push_back(std::move(m));
    }
  }
  ctx.reply.array_header(static_cast<int64_t>(picked.size()));
  for (const std::string& m : picked)
    ctx.reply.bulk(m);
}

// ------------------------------------------------------ algebra commands

enum class SetOp { kUnion, kDiff, kInter };

// Looks up `keys` (all type-checked first, as Redis 7 does). Missing keys
// are null entries. False if WRONGTYPE was replied.
bool lookup_sets(ExecContext& ctx, std::span<const std::string_view> keys, bool for_write,
                 std::vector<const SetValue*>* out) {
  out->clear();
  for (std::string_view k : keys) {
    const Entry* e = for_write ? ctx.keyspace.lookup_write(ctx.db, k, ctx.now_ms)
                               : ctx.keyspace.lookup_read(ctx.db, k, ctx.now_ms);
    if (e && e->type() != ValueType::kSet) {
      ctx.reply.error(kErrWrongType);
      return false;
    }
    out->push_back(e ? as_set(e) : nullptr);
  }
  return true;
}

// Redis's sinterGenericCommand / sunionDiffGenericCommand result, computed
// into a fresh set (which starts as an intset and converts up as members
// arrive, like Redis's createIntsetObject + setTypeAdd). `limit` bounds an
// intersection (SINTERCARD); 0 means none.
std::unique_ptr<SetValue> compute(SetOp op, std::vector<const SetValue*> sets, size_t limit = 0) {
  auto result = std::make_unique<SetValue>(SetValue::Enc::kIntset);
  if (op == SetOp::kInter) {
    for (const SetValue* s : sets)
      if (!s) return result;
    // Iterate the smallest set, probe the others (Redis's qsort by size).
    std::stable_sort(sets.begin(), sets.end(),
                     [](const SetValue* a, const SetValue* b) { return a->size() < b->size(); });
    bool stop = false;
    sets[0]->for_each([&](std::string_view m) {
      if (stop) return;
      for (size_t j = 1; j < sets.size(); ++j)
        if (sets[j] != sets[0] && !sets[j]->contains(m)) return;
      result->add(m);
      if (limit && result->size() >= limit) stop = true;
    });
    return result;
  }
  if (op == SetOp::kUnion) {
    for (const SetValue* s : sets)
      if (s) s->for_each([&](std::string_view m) { result->add(m); });
    return result;
  }
  if (!sets[0]) return result;
  sets[0]->for_each([&](std::string_view m) {
    for (size_t j = 1; j < sets.size(); ++j)
      if (sets[j] == sets[0] || (sets[j] && sets[j]->contains(m))) return;
    result->add(m);
  });
  return result;
}

void algebra_generic(ExecContext& ctx, SetOp op, size_t first_key, bool store) {
  std::span<const std::string_view> keys = ctx.argv.subspan(first_key);
  std::vector<const SetValue*> sets;
  if (!lookup_sets(ctx, keys, store, &sets)) return;
  std::unique_ptr<SetValue> result = compute(op, std::move(sets));
  if (!store) return reply_members(ctx, *result);
  std::string_view dst = ctx.argv[1];
  int64_t n = static_cast<int64_t>(result->size());
  if (n > 0) {
    store_set(ctx, dst, std::move(result));
    ctx.dirty++;
  } else if (ctx.keyspace.remove(ctx.db, dst)) {
    ctx.dirty++;
  }
  ctx.reply.integer(n);
}

void sinter_command(ExecContext& ctx) {
  algebra_generic(ctx, SetOp::kInter, 1, false);
}
void sunion_command(ExecContext& ctx) {
  algebra_generic(ctx, SetOp::kUnion, 1, false);
}
void sdiff_command(ExecContext& ctx) {
  algebra_generic(ctx, SetOp::kDiff, 1, false);
}
void sinterstore_command(ExecContext& ctx) {
  algebra_generic(ctx, SetOp::kInter, 2, true);
}
void sunionstore_command(ExecContext& ctx) {
  algebra_generic(ctx, SetOp::kUnion, 2, true);
}
void sdiffstore_command(ExecContext& ctx) {
  algebra_generic(ctx, SetOp::kDiff, 2, true);
}

void sintercard_command(ExecContext& ctx) {
  int64_t numkeys;
  if (!storage::string2ll(ctx.argv[1], &numkeys) || numkeys < 1)
    return ctx.reply.error("ERR numkeys should be greater than 0");
  if (static_cast<uint64_t>(numkeys) > ctx.argv.size() - 2)
    return ctx.reply.error("ERR Number of keys can't be greater than number of args");
  int64_t limit = 0;
  for (size_t j = 2 + static_cast<size_t>(numkeys); j < ctx.argv.size(); ++j) {
    if (iequals(ctx.argv[j], "limit") && j + 1 < ctx.argv.size()) {
      if (!storage::string2ll(ctx.argv[j + 1], &limit) || limit < 0)
        return ctx.reply.error("ERR LIMIT can't be negative");
      ++j;
    } else {
      return ctx.reply.error(kErrSyntax);
    }
  }
  std::vector<const SetValue*> sets;
  if (!lookup_sets(ctx, ctx.argv.subspan(2, static_cast<size_t>(numkeys)), false, &sets)) return;
  std::unique_ptr<SetValue> result =
      compute(SetOp::kInter, std::move(sets), static_cast<size_t>(limit));
  ctx.reply.integer(static_cast<int64_t>(result->size()));
}

// --------------------------------------------------------------- SSCAN

void sscan_command(ExecContext& ctx) {
  uint64_t cursor;
  if (!parse_scan_cursor_arg(ctx, ctx.argv[2], &cursor)) return;
  bool failed;
  SetValue* s = read_set(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!s) return reply_scan_header(ctx, 0, 0);
  ScanOptions opt;
  if (!parse_scan_options(ctx, 3, false, &opt)) return;
  std::vector<std::string> out;
  cursor = s->scan(cursor, static_cast<size_t>(opt.count), [&](std::string_view m) {
    if (opt.matches(m)) out.emplace_back(m);
  });
  reply_scan_header(ctx, cursor, out.size());
  for (const std::string& m : out)
    ctx.reply.bulk(m);
}

}  // namespace

void register_set_commands(CommandTable& t) {
  constexpr uint32_t W = kCmdWrite, R = kCmdReadonly, F = kCmdFast, M = kCmdDenyOom;
  const CommandGroupAdder add{t, "set"};
  add("sadd", -3, W | M | F, 1, 1, 1, sadd_command, "1.0.0", "Add one or more members to a set",
      "key member [member ...]");
  add("srem", -3, W | F, 1, 1, 1, srem_command, "1.0.0", "Remove one or more members from a set",
      "key member [member ...]");
  add("smove", 4, W | F, 1, 2, 1, smove_command, "1.0.0", "Move a member from one set to another",
      "source destination member");
  add("sismember", 3, R | F, 1, 1, 1, sismember_command, "1.0.0",
      "Determine if a given value is a member of a set", "key member");
  add("smismember", -3, R | F, 1, 1, 1, smismember_command, "6.2.0",
      "Returns the membership associated with the given elements for a set",
      "key member [member ...]");
  add("scard", 2, R | F, 1, 1, 1, scard_command, "1.0.0", "Get the number of members in a set",
      "key");
  add("smembers", 2, R, 1, 1, 1, smembers_command, "1.0.0", "Get all the members in a set", "key");
  add("spop", -2, W | F, 1, 1, 1, spop_command, "1.0.0",
      "Remove and return one or multiple random members from a set", "key [count]");
  add("srandmember", -2, R, 1, 1, 1, srandmember_command, "1.0.0",
      "Get one or multiple random members from a set", "key [count]");
  add("sinter", -2, R, 1, -1, 1, sinter_command, "1.0.0", "Intersect multiple sets",
      "key [key ...]");
  add("sintercard", -3, R, 0, 0, 0, sintercard_command, "7.0.0",
      "Intersect multiple sets and return the cardinality of the result",
      "numkeys key [key ...] [LIMIT limit]");
  add("sinterstore", -3, W | M, 1, -1, 1, sinterstore_command, "1.0.0",
      "Intersect multiple sets and store the resulting set in a key", "destination key [key ...]");
  add("sunion", -2, R, 1, -1, 1, sunion_command, "1.0.0", "Add multiple sets", "key [key ...]");
  add("sunionstore", -3, W | M, 1, -1, 1, sunionstore_command, "1.0.0",
      "Add multiple sets and store the resulting set in a key", "destination key [key ...]");
  add("sdiff", -2, R, 1, -1, 1, sdiff_command, "1.0.0", "Subtract multiple sets", "key [key ...]");
  add("sdiffstore", -3, W | M, 1, -1, 1, sdiffstore_command, "1.0.0",
      "Subtract multiple sets and store the resulting set in a key", "destination key [key ...]");
  add("sscan", -3, R, 1, 1, 1, sscan_command, "2.0.0", "Incrementally iterate Set elements",
      "key cursor [MATCH pattern] [COUNT count]");
}

}  // namespace kvraft
