// src/commands/hash_commands.cc — the hash commands (Redis's t_hash.c):
// HSET/HMSET/HSETNX, HGET/HMGET/HGETALL/HKEYS/HVALS, HDEL, HLEN, HEXISTS,
// HSTRLEN, HINCRBY/HINCRBYFLOAT, HSCAN and HRANDFIELD.
//
// Same rules as string_commands.cc: Redis 7.0's checks in Redis's order,
// write handlers depend only on (keyspace, argv, db, now_ms) and count their
// changes in ctx.dirty; a hash that becomes empty is deleted. HRANDFIELD and
// HSCAN are reads, so their randomness and bucket order are allowed.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "src/command.h"
#include "src/commands/command_util.h"
#include "storage/glob.h"
#include "storage/hash_value.h"
#include "storage/keyspace.h"
#include "storage/strconv.h"

namespace kvraft {

namespace {

using storage::Entry;
using storage::HashValue;
using storage::ValueType;

// A live hash for reading: null if absent (nothing replied), or null with
// WRONGTYPE replied (then *failed is set).
const HashValue* read_hash(ExecContext& ctx, std::string_view key, bool* failed) {
  const Entry* e = read_typed(ctx, key, ValueType::kHash, failed);
  return e ? static_cast<const HashValue*>(e->object_value()) : nullptr;
}

// The same for writers: lookup_write (deletes an expired key first).
HashValue* write_hash(ExecContext& ctx, std::string_view key, bool* failed) {
  Entry* e = write_typed(ctx, key, ValueType::kHash, failed);
  return e ? static_cast<HashValue*>(e->object_value()) : nullptr;
}

// Redis's hashTypeLookupWriteOrCreate: the hash at `key`, created (and
// linked) if absent; null with WRONGTYPE replied.
HashValue* write_or_create_hash(ExecContext& ctx, std::string_view key) {
  bool failed;
  HashValue* hash = write_hash(ctx, key, &failed);
  if (failed || hash) return hash;
  auto value = std::make_unique<HashValue>();
  hash = value.get();
  ctx.keyspace.set_entry(
      ctx.db, storage::entry_new_object(key, std::move(value), storage::kNoExpire), false);
  return hash;
}

// ---------------------------------------------------------------- setting

// HSET and HMSET: field value pairs from argv[2].
bool hset_generic(ExecContext& ctx, int64_t* created) {
  if (ctx.argv.size() % 2 == 1) {
    ctx.reply.error(wrong_arity_error(ctx.argv[0]));
    return false;
  }
  HashValue* hash = write_or_create_hash(ctx, ctx.argv[1]);
  if (!hash) return false;
  for (size_t j = 2; j < ctx.argv.size(); ++j)
    hash->prepare_for(ctx.argv[j].size());
  *created = 0;
  for (size_t j = 2; j < ctx.argv.size(); j += 2)
    if (hash->set(ctx.argv[j], ctx.argv[j + 1])) (*created)++;
  ctx.dirty += static_cast<int64_t>((ctx.argv.size() - 2) / 2);
  return true;
}

void hset_command(ExecContext& ctx) {
  int64_t created;
  if (hset_generic(ctx, &created)) ctx.reply.integer(created);
}

void hmset_command(ExecContext& ctx) {
  int64_t created;
  if (hset_generic(ctx, &created)) ctx.reply.ok();
}

void hsetnx_command(ExecContext& ctx) {
  HashValue* hash = write_or_create_hash(ctx, ctx.argv[1]);
  if (!hash) return;
  // Redis converts on the argument lengths even when nothing is set.
  hash->prepare_for(ctx.argv[2].size());
  hash->prepare_for(ctx.argv[3].size());
  if (hash->contains(ctx.argv[2])) return ctx.reply.integer(0);
  hash->set(ctx.argv[2], ctx.argv[3]);
  ctx.dirty++;
  ctx.reply.integer(1);
}

void hincrby_command(ExecContext& ctx) {
  int64_t incr;
  if (!parse_ll(ctx, ctx.argv[3], &incr)) return;
  bool failed;
  HashValue* hash = write_hash(ctx, ctx.argv[1], &failed);
  if (failed) return;
  int64_t value = 0;
  std::string_view current;
  if (hash && hash->get(ctx.argv[2], &current) && !storage::string2ll(current, &value))
    return ctx.reply.error("ERR hash value is not an integer");
  if ((incr < 0 && value < 0 && incr < INT64_MIN - value) ||
      (incr > 0 && value > 0 && incr > INT64_MAX - value))
    return ctx.reply.error(kErrOverflow);
  value += incr;
  if (!hash) hash = write_or_create_hash(ctx, ctx.argv[1]);
  hash->set(ctx.argv[2], storage::ll2string(value));
  ctx.dirty++;
  ctx.reply.integer(value);
}

void hincrbyfloat_command(ExecContext& ctx) {
  long double incr;
  if (!storage::string2ld(ctx.argv[3], &incr)) return ctx.reply.error(kErrNotFloat);
  if (std::isnan(incr) || std::isinf(incr)) return ctx.reply.error("ERR value is NaN or Infinity");
  bool failed;
  HashValue* hash = write_hash(ctx, ctx.argv[1], &failed);
  if (failed) return;
  long double value = 0;
  std::string_view current;
  if (hash && hash->get(ctx.argv[2], &current) && !storage::string2ld(current, &value))
    return ctx.reply.error("ERR hash value is not a float");
  value += incr;
  if (std::isnan(value) || std::isinf(value))
    return ctx.reply.error("ERR increment would produce NaN or Infinity");
  std::string text = storage::ld2string_human(value);
  if (text.empty()) return ctx.reply.error(kErrNotFloat);
  if (!hash) hash = write_or_create_hash(ctx, ctx.argv[1]);
  hash->set(ctx.argv[2], text);
  ctx.dirty++;
  ctx.reply.bulk(text);
}

void hdel_command(ExecContext& ctx) {
  bool failed;
  HashValue* hash = write_hash(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!hash) return ctx.reply.integer(0);
  int64_t deleted = 0;
  for (size_t j = 2; j < ctx.argv.size(); ++j) {
    if (hash->remove(ctx.argv[j])) deleted++;
    if (hash->empty()) {
      ctx.keyspace.remove(ctx.db, ctx.argv[1]);
      break;
    }
  }
  ctx.dirty += deleted;
  ctx.reply.integer(deleted);
}

// ---------------------------------------------------------------- reading

void hget_command(ExecContext& ctx) {
  bool failed;
  const HashValue* hash = read_hash(ctx, ctx.argv[1], &failed);
  if (failed) return;
  std::string_view value;
  if (!hash || !hash->get(ctx.argv[2], &value)) return ctx.reply.null();
  ctx.reply.bulk(value);
}

void hmget_command(ExecContext& ctx) {
  bool failed;
  const HashValue* hash = read_hash(ctx, ctx.argv[1], &failed);
  if (failed) return;
  ctx.reply.array_header(static_cast<int64_t>(ctx.argv.size() - 2));
  for (size_t j = 2; j < ctx.argv.size(); ++j) {
    std::string_view value;
    if (hash && hash->get(ctx.argv[j], &value))
      ctx.reply.bulk(value);
    else
      ctx.reply.null();
  }
}

void hlen_command(ExecContext& ctx) {
  bool failed;
  const HashValue* hash = read_hash(ctx, ctx.argv[1], &failed);
  if (failed) return;
  ctx.reply.integer(hash ? static_cast<int64_t>(hash->size()) : 0);
}

void hexists_command(ExecContext& ctx) {
  bool failed;
  const HashValue* hash = read_hash(ctx, ctx.argv[1], &failed);
  if (failed) return;
  ctx.reply.integer(hash && hash->contains(ctx.argv[2]) ? 1 : 0);
}

void hstrlen_command(ExecContext& ctx) {
  bool failed;
  const HashValue* hash = read_hash(ctx, ctx.argv[1], &failed);
  if (failed) return;
  std::string_view value;
  ctx.reply.integer(hash && hash->get(ctx.argv[2], &value) ? static_cast<int64_t>(value.size())
                                                           : 0);
}

enum class GetAll { kKeys, kValues, kBoth };

void getall_generic(ExecContext& ctx, GetAll what) {
  bool failed;
  const HashValue* hash = read_hash(ctx, ctx.argv[1], &failed);
  if (failed) return;
  int64_t n = hash ? static_cast<int64_t>(hash->size()) : 0;
  if (what == GetAll::kBoth)
    ctx.reply.map_header(n);
  else
    ctx.reply.array_header(n);
  if (!hash) return;
  hash->for_each([&](std::string_view f, std::string_view v) {
    if (what != GetAll::kValues) ctx.reply.bulk(f);
    if (what != GetAll::kKeys) ctx.reply.bulk(v);
  });
}

void hgetall_command(ExecContext& ctx) {
  getall_generic(ctx, GetAll::kBoth);
}
void hkeys_command(ExecContext& ctx) {
  getall_generic(ctx, GetAll::kKeys);
}
void hvals_command(ExecContext& ctx) {
  getall_generic(ctx, GetAll::kValues);
}

void hscan_command(ExecContext& ctx) {
  uint64_t cursor;
  if (!parse_scan_cursor_arg(ctx, ctx.argv[2], &cursor)) return;
  bool failed;
  const HashValue* hash = read_hash(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!hash) return reply_scan_header(ctx, 0, 0);
  ScanOptions opt;
  if (!parse_scan_options(ctx, 3, false, &opt)) return;
  // Redis's loop: stop after `count` fields or count*10 bucket visits.
  std::vector<std::pair<std::string_view, std::string_view>> found;
  int64_t max_iterations = opt.count * 10;
  do {
    cursor = hash->scan(cursor, [&](std::string_view f, std::string_view v) {
      if (opt.matches(f)) found.emplace_back(f, v);
    });
  } while (cursor && max_iterations-- && static_cast<int64_t>(found.size()) < opt.count);
  reply_scan_header(ctx, cursor, found.size() * 2);
  for (const auto& [f, v] : found) {
    ctx.reply.bulk(f);
    ctx.reply.bulk(v);
  }
}

// HRANDFIELD reads only, so a process-local generator is allowed here.
std::mt19937_64& rng() {
  static std::mt19937_64 gen{std::random_device{}()};
  return gen;
}

// One field (and value) of HRANDFIELD's array reply; in RESP3 WITHVALUES
// answers each pair as a two-element array (`nested`), as Redis does.
void reply_field(ExecContext& ctx, std::string_view f, std::string_view v, bool with_values,
                 bool nested) {
  if (with_values && nested) ctx.reply.array_header(2);
  ctx.reply.bulk(f);
  if (with_values) ctx.reply.bulk(v);
}

void hrandfield_command(ExecContext& ctx) {
  if (ctx.argv.size() == 2) {
    bool failed;
    const HashValue* hash = read_hash(ctx, ctx.argv[1], &failed);
    if (failed) return;
    if (!hash) return ctx.reply.null();
    ctx.reply.bulk(hash->random_entry(rng()).first);
    return;
  }
  int64_t l;
  if (!parse_ll(ctx, ctx.argv[2], &l)) return;
  if (l == INT64_MIN)
    return ctx.reply.error(
        "ERR value is out of range, value must between -9223372036854775807 and "
        "9223372036854775807");
  bool with_values = false;
  if (ctx.argv.size() == 4 && iequals(ctx.argv[3], "withvalues")) {
    with_values = true;
  } else if (ctx.argv.size() >= 4) {
    return ctx.reply.error(kErrSyntax);
  }
  if (with_values && l < -INT64_MAX / 2) return ctx.reply.error("ERR value is out of range");
  bool failed;
  const HashValue* hash = read_hash(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!hash || l == 0) return ctx.reply.array_header(0);
  bool resp3 = ctx.reply.protocol() == 3;
  size_t size = hash->size();
  if (l < 0) {
    // Repeats allowed: -l independent picks.
    uint64_t count = static_cast<uint64_t>(-l);
    ctx.reply.array_header(static_cast<int64_t>(with_values && !resp3 ? count * 2 : count));
    for (uint64_t i = 0; i < count; ++i) {
      auto [f, v] = hash->random_entry(rng());
      reply_field(ctx, f, v, with_values, resp3);
    }
    return;
  }
  uint64_t count = static_cast<uint64_t>(l);
  auto header = [&](uint64_t n) {
    ctx.reply.array_header(static_cast<int64_t>(with_values && !resp3 ? n * 2 : n));
  };
  if (count >= size) {
    // The whole hash, in its iteration order.
    header(size);
    hash->for_each([&](std::string_view f, std::string_view v) {
      reply_field(ctx, f, v, with_values, resp3);
    });
    return;
  }
  std::vector<std::pair<std::string_view, std::string_view>> picked;
  if (count * 3 > size) {
    // Many of them: copy all, keep a random subset (partial Fisher-Yates).
    hash->for_each([&](std::string_view f, std::string_view v) { picked.emplace_back(f, v); });
    for (uint64_t i = 0; i < count; ++i) {
      size_t j = std::uniform_int_distribution<size_t>(i, picked.size() - 1)(rng());
      std::swap(picked[i], picked[j]);
    }
    picked.resize(count);
  } else {
    // Few of them: sample until `count` distinct fields were seen.
    std::unordered_set<const char*> seen;
    while (picked.size() < count) {
      auto e = hash->random_entry(rng());
      if (seen.insert(e.first.data()).second) picked.push_back(e);
    }
  }
  header(count);
  for (const auto& [f, v] : picked)
    reply_field(ctx, f, v, with_values, resp3);
}

}  // namespace

void register_hash_commands(CommandTable& t) {
  constexpr uint32_t W = kCmdWrite, R = kCmdReadonly, F = kCmdFast, M = kCmdDenyOom;
  auto add = [&](std::string_view name, int arity, uint32_t flags, CommandHandler h,
                 std::string_view since, std::string_view summary, std::string_view syntax) {
    t.add(make_spec(name, arity, flags, 1, 1, 1, h, "hash", since, summary, syntax));
  };
  add("hset", -4, W | M | F, hset_command, "2.0.0", "Set the string value of a hash field",
      "key field value [field value ...]");
  add("hmset", -4, W | M | F, hmset_command, "2.0.0", "Set multiple hash fields to multiple values",
      "key field value [field value ...]");
  add("hsetnx", 4, W | M | F, hsetnx_command, "2.0.0",
      "Set the value of a hash field, only if the field does not exist", "key field value");
  add("hget", 3, R | F, hget_command, "2.0.0", "Get the value of a hash field", "key field");
  add("hmget", -3, R | F, hmget_command, "2.0.0", "Get the values of all the given hash fields",
      "key field [field ...]");
  add("hdel", -3, W | F, hdel_command, "2.0.0", "Delete one or more hash fields",
      "key field [field ...]");
  add("hlen", 2, R | F, hlen_command, "2.0.0", "Get the number of fields in a hash", "key");
  add("hexists", 3, R | F, hexists_command, "2.0.0", "Determine if a hash field exists",
      "key field");
  add("hstrlen", 3, R | F, hstrlen_command, "3.2.0", "Get the length of the value of a hash field",
      "key field");
  add("hgetall", 2, R, hgetall_command, "2.0.0", "Get all the fields and values in a hash", "key");
  add("hkeys", 2, R, hkeys_command, "2.0.0", "Get all the fields in a hash", "key");
  add("hvals", 2, R, hvals_command, "2.0.0", "Get all the values in a hash", "key");
  add("hincrby", 4, W | M | F, hincrby_command, "2.0.0",
      "Increment the integer value of a hash field by the given number", "key field increment");
  add("hincrbyfloat", 4, W | M | F, hincrbyfloat_command, "2.6.0",
      "Increment the float value of a hash field by the given amount", "key field increment");
  add("hscan", -3, R, hscan_command, "2.8.0",
      "Incrementally iterate hash fields and associated values",
      "key cursor [MATCH pattern] [COUNT count]");
  add("hrandfield", -2, R, hrandfield_command, "6.2.0",
      "Get one or multiple random fields from a hash", "key [count [WITHVALUES]]");
}

}  // namespace kvraft
