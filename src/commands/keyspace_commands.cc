// src/commands/keyspace_commands.cc — the generic keyspace commands (Redis's
// db.c and expire.c): DEL, EXISTS, TYPE, RENAME, COPY, MOVE, KEYS, SCAN,
// RANDOMKEY, the EXPIRE/TTL families, DBSIZE, FLUSHDB/FLUSHALL, SWAPDB,
// OBJECT, and the internal KVRAFT.EXPIRE-KEYS / KVRAFT.EVICT-KEYS that apply
// active expiry and maxmemory eviction.
//
// Same rules as string_commands.cc: Redis 7.0's checks in Redis's order,
// write handlers depend only on (keyspace, argv, db, now_ms) and count
// their changes in ctx.dirty.
#include <cstdio>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "src/command.h"
#include "src/commands/command_util.h"
#include "storage/glob.h"
#include "storage/keyspace.h"
#include "storage/strconv.h"

namespace kvraft {

namespace {

using storage::Entry;
using storage::kNoExpire;

constexpr std::string_view kErrSameObject = "ERR source and destination objects are the same";

// Redis's getIntFromObjectOrReply: an int64 that fits in an int. With a
// custom message (SWAPDB) that message covers both failures; otherwise an
// out-of-range integer has its own text, as in Redis.
bool parse_int(ExecContext& ctx, std::string_view arg, int* out, std::string_view err = {}) {
  int64_t v;
  if (!storage::string2ll(arg, &v)) {
    ctx.reply.error(err.empty() ? kErrNotInteger : err);
    return false;
  }
  if (v < INT32_MIN || v > INT32_MAX) {
    ctx.reply.error(err.empty()
                        ? "ERR value is out of range, value must between -2147483648 and 2147483647"
                        : err);
    return false;
  }
  *out = static_cast<int>(v);
  return true;
}

std::string command_name(const ExecContext& ctx) {
  return std::string(ctx.spec ? ctx.spec->name : ctx.argv[0]);
}

// ------------------------------------------------------------ existence

void del_generic(ExecContext& ctx) {
  int64_t deleted = 0;
  for (size_t j = 1; j < ctx.argv.size(); ++j) {
    // An expired key is deleted by the lookup and does not count.
    if (ctx.keyspace.lookup_write(ctx.db, ctx.argv[j], ctx.now_ms) &&
        ctx.keyspace.remove(ctx.db, ctx.argv[j]))
      deleted++;
  }
  ctx.dirty += deleted;
  ctx.reply.integer(deleted);
}

void del_command(ExecContext& ctx) {
  del_generic(ctx);
}
void unlink_command(ExecContext& ctx) {
  del_generic(ctx);
}

void exists_command(ExecContext& ctx) {
  int64_t count = 0;
  for (size_t j = 1; j < ctx.argv.size(); ++j)
    if (ctx.keyspace.lookup_read(ctx.db, ctx.argv[j], ctx.now_ms)) count++;
  ctx.reply.integer(count);
}

void touch_command(ExecContext& ctx) {
  // lookup_read refreshes each key's LRU/LFU metadata (storage/access.h).
  int64_t count = 0;
  for (size_t j = 1; j < ctx.argv.size(); ++j)
    if (ctx.keyspace.lookup_read(ctx.db, ctx.argv[j], ctx.now_ms)) count++;
  ctx.reply.integer(count);
}

void type_command(ExecContext& ctx) {
  const Entry* e = ctx.keyspace.lookup_read(ctx.db, ctx.argv[1], ctx.now_ms);
  ctx.reply.simple_string(e ? storage::type_name(e->type()) : "none");
}

// --------------------------------------------------------------- rename

void rename_generic(ExecContext& ctx, bool nx) {
  std::string_view src = ctx.argv[1], dst = ctx.argv[2];
  Entry* e = ctx.keyspace.lookup_write(ctx.db, src, ctx.now_ms);
  if (!e) {
    ctx.reply.error(kErrNoSuchKey);
    return;
  }
  if (src == dst) {
    if (nx)
      ctx.reply.integer(0);
    else
      ctx.reply.ok();
    return;
  }
  if (ctx.keyspace.lookup_write(ctx.db, dst, ctx.now_ms)) {
    if (nx) {
      ctx.reply.integer(0);
      return;
    }
    // Entries never move in memory when other keys are removed, so `e`
    // stays valid.
    ctx.keyspace.remove(ctx.db, dst);
  }
  ctx.keyspace.rename(ctx.db, e, dst);
  ctx.dirty++;
  if (nx)
    ctx.reply.integer(1);
  else
    ctx.reply.ok();
}

void rename_command(ExecContext& ctx) {
  rename_generic(ctx, false);
}
void renamenx_command(ExecContext& ctx) {
  rename_generic(ctx, true);
}

void copy_command(ExecContext& ctx) {
  int dst_db = ctx.db;
  bool replace = false;
  for (size_t j = 3; j < ctx.argv.size(); ++j) {
    size_t additional = ctx.argv.size() - j - 1;
    if (iequals(ctx.argv[j], "replace")) {
      replace = true;
    } else if (iequals(ctx.argv[j], "db") && additional >= 1) {
      if (!parse_int(ctx, ctx.argv[j + 1], &dst_db)) return;
      if (!ctx.keyspace.valid_db(dst_db)) {
        ctx.reply.error(kErrDbIndexOutOfRange);
        return;
      }
      ++j;
    } else {
      ctx.reply.error(kErrSyntax);
      return;
    }
  }
  std::string_view key = ctx.argv[1], newkey = ctx.argv[2];
  if (dst_db == ctx.db && key == newkey) {
    ctx.reply.error(kErrSameObject);
    return;
  }
  const Entry* src = ctx.keyspace.lookup_write(ctx.db, key, ctx.now_ms);
  if (!src) return ctx.reply.integer(0);
  if (ctx.keyspace.lookup_write(dst_db, newkey, ctx.now_ms)) {
    if (!replace) return ctx.reply.integer(0);
    ctx.keyspace.remove(dst_db, newkey);  // `src` stays valid (another key)
  }
  ctx.keyspace.set_entry(dst_db, storage::entry_clone(src, newkey, src->expire_at_ms()), false);
  ctx.dirty++;
  ctx.reply.integer(1);
}

void move_command(ExecContext& ctx) {
  int dst_db;
  if (!parse_int(ctx, ctx.argv[2], &dst_db)) return;
  if (!ctx.keyspace.valid_db(dst_db)) {
    ctx.reply.error(kErrDbIndexOutOfRange);
    return;
  }
  if (dst_db == ctx.db) {
    ctx.reply.error(kErrSameObject);
    return;
  }
  Entry* e = ctx.keyspace.lookup_write(ctx.db, ctx.argv[1], ctx.now_ms);
  if (!e) return ctx.reply.integer(0);
  if (ctx.keyspace.lookup_write(dst_db, ctx.argv[1], ctx.now_ms)) return ctx.reply.integer(0);
  ctx.keyspace.move(ctx.db, e, dst_db);
  ctx.dirty++;
  ctx.reply.integer(1);
}

// ------------------------------------------------------------ iteration

void keys_command(ExecContext& ctx) {
  std::string_view pattern = ctx.argv[1];
  bool all = pattern == "*";
  std::vector<std::string_view> keys;
  uint64_t cursor = 0;
  do {
    cursor = ctx.keyspace.scan(ctx.db, cursor, [&](const Entry* e) {
      if (storage::Keyspace::is_expired(e, ctx.now_ms)) return;
      if (all || storage::glob_match(pattern, e->key())) keys.push_back(e->key());
    });
  } while (cursor != 0);
  ctx.reply.array_header(static_cast<int64_t>(keys.size()));
  for (std::string_view k : keys)
    ctx.reply.bulk(k);
}

void scan_command(ExecContext& ctx) {
  uint64_t cursor;
  if (!parse_scan_cursor_arg(ctx, ctx.argv[1], &cursor)) return;
  ScanOptions opt;
  if (!parse_scan_options(ctx, 2, true, &opt)) return;
  // Redis's loop: stop after `count` keys or count*10 bucket visits.
  std::vector<std::string_view> keys;
  int64_t max_iterations = opt.count * 10;
  do {
    cursor = ctx.keyspace.scan(ctx.db, cursor, [&](const Entry* e) {
      if (storage::Keyspace::is_expired(e, ctx.now_ms)) return;
      if (!opt.matches(e->key())) return;
      if (opt.use_type && !iequals(opt.type, storage::type_name(e->type()))) return;
      keys.push_back(e->key());
    });
  } while (cursor && max_iterations-- && static_cast<int64_t>(keys.size()) < opt.count);
  reply_scan_header(ctx, cursor, keys.size());
  for (std::string_view k : keys)
    ctx.reply.bulk(k);
}

void randomkey_command(ExecContext& ctx) {
  std::string key;
  if (!ctx.keyspace.random_key(ctx.db, ctx.now_ms, &key)) return ctx.reply.null();
  ctx.reply.bulk(key);
}

void dbsize_command(ExecContext& ctx) {
  ctx.reply.integer(static_cast<int64_t>(ctx.keyspace.size(ctx.db)));
}

// --------------------------------------------------------------- expiry

enum : unsigned { kExpNx = 1, kExpXx = 2, kExpGt = 4, kExpLt = 8 };

// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT (Redis's expireGenericCommand).
void expire_generic(ExecContext& ctx, int64_t basetime, bool seconds) {
  unsigned flags = 0;
  for (size_t j = 3; j < ctx.argv.size(); ++j) {
    std::string_view opt = ctx.argv[j];
    if (iequals(opt, "nx")) {
      flags |= kExpNx;
    } else if (iequals(opt, "xx")) {
      flags |= kExpXx;
    } else if (iequals(opt, "gt")) {
      flags |= kExpGt;
    } else if (iequals(opt, "lt")) {
      flags |= kExpLt;
    } else {
      ctx.reply.error("ERR Unsupported option " + std::string(opt));
      return;
    }
  }
  if ((flags & kExpNx) && (flags & (kExpXx | kExpGt | kExpLt))) {
    ctx.reply.error("ERR NX and XX, GT or LT options at the same time are not compatible");
    return;
  }
  if ((flags & kExpGt) && (flags & kExpLt)) {
    ctx.reply.error("ERR GT and LT options at the same time are not compatible");
    return;
  }
  int64_t when;
  if (!parse_ll(ctx, ctx.argv[2], &when)) return;
  std::string invalid = "ERR invalid expire time in '" + command_name(ctx) + "' command";
  if (seconds) {
    if (when > INT64_MAX / 1000 || when < INT64_MIN / 1000) {
      ctx.reply.error(invalid);
      return;
    }
    when *= 1000;
  }
  if (when > INT64_MAX - basetime) {
    ctx.reply.error(invalid);
    return;
  }
  when += basetime;
  Entry* e = ctx.keyspace.lookup_write(ctx.db, ctx.argv[1], ctx.now_ms);
  if (!e) return ctx.reply.integer(0);
  if (flags) {
    int64_t current = e->expire_at_ms();
    if ((flags & kExpNx) && current != kNoExpire) return ctx.reply.integer(0);
    if ((flags & kExpXx) && current == kNoExpire) return ctx.reply.integer(0);
    // No expiry counts as an infinite TTL for GT and LT.
    if ((flags & kExpGt) && (when <= current || current == kNoExpire)) return ctx.reply.integer(0);
    if ((flags & kExpLt) && current != kNoExpire && when >= current) return ctx.reply.integer(0);
  }
  if (when <= ctx.now_ms) {
    // Already in the past: delete now, as Redis does.
    ctx.keyspace.remove(ctx.db, ctx.argv[1]);
  } else {
    ctx.keyspace.set_expire(ctx.db, e, when);
  }
  ctx.dirty++;
  ctx.reply.integer(1);
}

void expire_command(ExecContext& ctx) {
  expire_generic(ctx, ctx.now_ms, true);
}
void pexpire_command(ExecContext& ctx) {
  expire_generic(ctx, ctx.now_ms, false);
}
void expireat_command(ExecContext& ctx) {
  expire_generic(ctx, 0, true);
}
void pexpireat_command(ExecContext& ctx) {
  expire_generic(ctx, 0, false);
}

// TTL/PTTL/EXPIRETIME/PEXPIRETIME (Redis's ttlGenericCommand).
void ttl_generic(ExecContext& ctx, bool output_ms, bool output_abs) {
  const Entry* e = ctx.keyspace.lookup_read(ctx.db, ctx.argv[1], ctx.now_ms);
  if (!e) return ctx.reply.integer(-2);
  int64_t expire = e->expire_at_ms();
  if (expire == kNoExpire) return ctx.reply.integer(-1);
  int64_t ttl = output_abs ? expire : expire - ctx.now_ms;
  if (ttl < 0) ttl = 0;
  ctx.reply.integer(output_ms ? ttl : (ttl + 500) / 1000);
}

void ttl_command(ExecContext& ctx) {
  ttl_generic(ctx, false, false);
}
void pttl_command(ExecContext& ctx) {
  ttl_generic(ctx, true, false);
}
void expiretime_command(ExecContext& ctx) {
  ttl_generic(ctx, false, true);
}
void pexpiretime_command(ExecContext& ctx) {
  ttl_generic(ctx, true, true);
}

void persist_command(ExecContext& ctx) {
  Entry* e = ctx.keyspace.lookup_write(ctx.db, ctx.argv[1], ctx.now_ms);
  if (!e || !e->has_expire()) return ctx.reply.integer(0);
  ctx.keyspace.set_expire(ctx.db, e, kNoExpire);
  ctx.dirty++;
  ctx.reply.integer(1);
}

// KVRAFT.EXPIRE-KEYS key [key ...]: the replicated form of active expiry.
// Deletes each listed key of ctx.db whose expire time is <= ctx.now_ms (a
// key rewritten since it was sampled is left alone) and replies the count.
void expire_keys_command(ExecContext& ctx) {
  int64_t deleted = 0;
  for (size_t j = 1; j < ctx.argv.size(); ++j) {
    // lookup_write deletes exactly the keys that are expired at now_ms.
    size_t before = ctx.keyspace.size(ctx.db);
    ctx.keyspace.lookup_write(ctx.db, ctx.argv[j], ctx.now_ms);
    if (ctx.keyspace.size(ctx.db) < before) deleted++;
  }
  ctx.dirty += deleted;
  ctx.reply.integer(deleted);
}

// KVRAFT.EVICT-KEYS key [key ...]: the replicated form of maxmemory
// eviction. The leader chose the keys (src/eviction.h); every replica
// deletes those of ctx.db that exist, counts them in evicted_keys and
// replies the count.
void evict_keys_command(ExecContext& ctx) {
  int64_t deleted = 0;
  for (size_t j = 1; j < ctx.argv.size(); ++j)
    if (ctx.keyspace.remove(ctx.db, ctx.argv[j])) deleted++;
  ctx.keyspace.stats().evicted_keys += static_cast<uint64_t>(deleted);
  ctx.dirty += deleted;
  ctx.reply.integer(deleted);
}

// ------------------------------------------------------------ databases

// Redis's getFlushCommandFlags: nothing, ASYNC or SYNC (both free memory
// synchronously here).
bool parse_flush_flags(ExecContext& ctx) {
  if (ctx.argv.size() > 2) {
    ctx.reply.error(kErrSyntax);
    return false;
  }
  if (ctx.argv.size() == 2 && !iequals(ctx.argv[1], "sync") && !iequals(ctx.argv[1], "async")) {
    ctx.reply.error(kErrSyntax);
    return false;
  }
  return true;
}

void flushdb_command(ExecContext& ctx) {
  if (!parse_flush_flags(ctx)) return;
  ctx.dirty += static_cast<int64_t>(ctx.keyspace.flush_db(ctx.db));
  ctx.reply.ok();
}

void flushall_command(ExecContext& ctx) {
  if (!parse_flush_flags(ctx)) return;
  // +1 as Redis: FLUSHALL always counts as a change, even on an empty server.
  ctx.dirty += static_cast<int64_t>(ctx.keyspace.flush_all()) + 1;
  ctx.reply.ok();
}

void swapdb_command(ExecContext& ctx) {
  int a, b;
  if (!parse_int(ctx, ctx.argv[1], &a, "ERR invalid first DB index")) return;
  if (!parse_int(ctx, ctx.argv[2], &b, "ERR invalid second DB index")) return;
  if (!ctx.keyspace.valid_db(a) || !ctx.keyspace.valid_db(b)) {
    ctx.reply.error(kErrDbIndexOutOfRange);
    return;
  }
  ctx.keyspace.swap_db(a, b);
  ctx.dirty++;
  ctx.reply.ok();
}

// --------------------------------------------------------------- OBJECT

void object_encoding_command(ExecContext& ctx) {
  const Entry* e = ctx.keyspace.peek(ctx.db, ctx.argv[2], ctx.now_ms);
  if (!e) return ctx.reply.null();
  ctx.reply.bulk(storage::encoding_name(e));
}

// OBJECT FREQ / OBJECT IDLETIME read Entry::access without touching it; each
// answers only under the policy family that maintains it, as in Redis.
constexpr std::string_view kPolicySwitchNote =
    " Please note that when switching between policies at runtime LRU and LFU data will take "
    "some time to adjust.";

void object_freq_command(ExecContext& ctx) {
  const Entry* e = ctx.keyspace.peek(ctx.db, ctx.argv[2], ctx.now_ms);
  if (!e) return ctx.reply.null();
  const storage::AccessPolicy& a = ctx.keyspace.access_policy();
  if (a.mode != storage::AccessMode::kLfu)
    return ctx.reply.error(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked." +
        std::string(kPolicySwitchNote));
  ctx.reply.integer(storage::lfu_decayed_counter(e->access, ctx.now_ms, a.lfu_decay_time));
}

void object_idletime_command(ExecContext& ctx) {
  const Entry* e = ctx.keyspace.peek(ctx.db, ctx.argv[2], ctx.now_ms);
  if (!e) return ctx.reply.null();
  if (ctx.keyspace.access_policy().mode == storage::AccessMode::kLfu)
    return ctx.reply.error("ERR An LFU maxmemory policy is selected, idle time not tracked." +
                           std::string(kPolicySwitchNote));
  ctx.reply.integer(storage::lru_idle_ms(e->access, ctx.now_ms) / 1000);
}

void object_help_command(ExecContext& ctx) {
  static constexpr std::string_view kLines[] = {
      "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "ENCODING <key>",
      "    Return the kind of internal representation used in order to store the value",
      "    associated with a <key>.",
      "FREQ <key>",
      "    Return the access frequency index of the <key>. The returned integer is",
      "    proportional to the logarithm of the recent access frequency of the key.",
      "IDLETIME <key>",
      "    Return the idle time of the <key>, that is the approximated number of",
      "    seconds elapsed since the last access to the key.",
      "HELP",
      "    Prints this help.",
  };
  ctx.reply.array_header(static_cast<int64_t>(std::size(kLines)));
  for (std::string_view l : kLines)
    ctx.reply.simple_string(l);
}

void object_command(ExecContext& ctx) {
  std::string_view sub = ctx.argv[1];
  const CommandSpec* found = nullptr;
  if (ctx.spec) {
    for (const CommandSpec& s : ctx.spec->subcommands) {
      std::string_view name = s.name.substr(s.name.find('|') + 1);
      if (iequals(name, sub)) found = &s;
    }
  }
  if (!found) {
    ctx.reply.error("ERR unknown subcommand '" + std::string(sub.substr(0, 128)) +
                    "'. Try OBJECT HELP.");
    return;
  }
  int argc = static_cast<int>(ctx.argv.size());
  if ((found->arity > 0 && argc != found->arity) || (found->arity < 0 && argc < -found->arity)) {
    ctx.reply.error(wrong_arity_error(found->name));
    return;
  }
  found->handler(ctx);
}

}  // namespace

void register_keyspace_commands(CommandTable& t) {
  constexpr uint32_t W = kCmdWrite, R = kCmdReadonly, F = kCmdFast, M = kCmdDenyOom;
  auto add = [&](auto&&... args) { t.add(make_spec(args...)); };
  add("del", -2, W, 1, -1, 1, del_command, "generic", "1.0.0", "Delete a key", "key [key ...]");
  add("unlink", -2, W | F, 1, -1, 1, unlink_command, "generic", "4.0.0",
      "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non "
      "blocking.",
      "key [key ...]");
  add("exists", -2, R | F, 1, -1, 1, exists_command, "generic", "1.0.0",
      "Determine if a key exists", "key [key ...]");
  add("touch", -2, R | F, 1, -1, 1, touch_command, "generic", "3.2.1",
      "Alters the last access time of a key(s). Returns the number of existing keys specified.",
      "key [key ...]");
  add("type", 2, R | F, 1, 1, 1, type_command, "generic", "1.0.0",
      "Determine the type stored at key", "key");
  add("rename", 3, W, 1, 2, 1, rename_command, "generic", "1.0.0", "Rename a key", "key newkey");
  add("renamenx", 3, W | F, 1, 2, 1, renamenx_command, "generic", "1.0.0",
      "Rename a key, only if the new key does not exist", "key newkey");
  add("copy", -3, W | M, 1, 2, 1, copy_command, "generic", "6.2.0", "Copy a key",
      "source destination [DB destination-db] [REPLACE]");
  add("move", 3, W | F, 1, 1, 1, move_command, "generic", "1.0.0", "Move a key to another database",
      "key db");
  add("keys", 2, R, 0, 0, 0, keys_command, "generic", "1.0.0",
      "Find all keys matching the given pattern", "pattern");
  add("scan", -2, R, 0, 0, 0, scan_command, "generic", "2.8.0",
      "Incrementally iterate the keys space", "cursor [MATCH pattern] [COUNT count] [TYPE type]");
  add("randomkey", 1, R, 0, 0, 0, randomkey_command, "generic", "1.0.0",
      "Return a random key from the keyspace", "");
  add("expire", -3, W | F, 1, 1, 1, expire_command, "generic", "1.0.0",
      "Set a key's time to live in seconds", "key seconds [NX|XX|GT|LT]");
  add("pexpire", -3, W | F, 1, 1, 1, pexpire_command, "generic", "2.6.0",
      "Set a key's time to live in milliseconds", "key milliseconds [NX|XX|GT|LT]");
  add("expireat", -3, W | F, 1, 1, 1, expireat_command, "generic", "1.2.0",
      "Set the expiration for a key as a UNIX timestamp", "key unix-time-seconds [NX|XX|GT|LT]");
  add("pexpireat", -3, W | F, 1, 1, 1, pexpireat_command, "generic", "2.6.0",
      "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
      "key unix-time-milliseconds [NX|XX|GT|LT]");
  add("ttl", 2, R | F, 1, 1, 1, ttl_command, "generic", "1.0.0",
      "Get the time to live for a key in seconds", "key");
  add("pttl", 2, R | F, 1, 1, 1, pttl_command, "generic", "2.6.0",
      "Get the time to live for a key in milliseconds", "key");
  add("expiretime", 2, R | F, 1, 1, 1, expiretime_command, "generic", "7.0.0",
      "Get the expiration Unix timestamp for a key", "key");
  add("pexpiretime", 2, R | F, 1, 1, 1, pexpiretime_command, "generic", "7.0.0",
      "Get the expiration Unix timestamp for a key in milliseconds", "key");
  add("persist", 2, W | F, 1, 1, 1, persist_command, "generic", "2.2.0",
      "Remove the expiration from a key", "key");
  add("dbsize", 1, R | F, 0, 0, 0, dbsize_command, "server", "1.0.0",
      "Return the number of keys in the selected database", "");
  add("flushdb", -1, W, 0, 0, 0, flushdb_command, "server", "1.0.0",
      "Remove all keys from the current database", "[ASYNC|SYNC]");
  add("flushall", -1, W | kCmdAdmin, 0, 0, 0, flushall_command, "server", "1.0.0",
      "Remove all keys from all databases", "[ASYNC|SYNC]");
  add("swapdb", 3, W | F, 0, 0, 0, swapdb_command, "server", "4.0.0", "Swaps two Redis databases",
      "index1 index2");
  add("kvraft.expire-keys", -2, W | kCmdInternal, 1, -1, 1, expire_keys_command, "generic", "0.1.0",
      "Delete the listed keys that have expired (active expiry, replicated)", "key [key ...]");
  add("kvraft.evict-keys", -2, W | kCmdInternal, 1, -1, 1, evict_keys_command, "generic", "0.1.0",
      "Delete the listed keys chosen by maxmemory eviction (replicated)", "key [key ...]");

  CommandSpec object = make_spec("object", -2, R, 0, 0, 0, object_command, "generic", "2.2.3",
                                 "A container for object introspection commands", "");
  object.subcommands.push_back(make_spec("object|encoding", 3, R, 2, 2, 1, object_encoding_command,
                                         "generic", "2.2.3",
                                         "Inspect the internal encoding of a Redis object", "key"));
  object.subcommands.push_back(make_spec("object|freq", 3, R, 2, 2, 1, object_freq_command,
                                         "generic", "4.0.0",
                                         "Get the logarithmic access frequency counter of a Redis "
                                         "object",
                                         "key"));
  object.subcommands.push_back(
      make_spec("object|idletime", 3, R, 2, 2, 1, object_idletime_command, "generic", "2.2.3",
                "Get the time since a Redis object was last accessed", "key"));
  object.subcommands.push_back(make_spec("object|help", 2, kCmdLoading | kCmdStale, 0, 0, 0,
                                         object_help_command, "generic", "6.2.0",
                                         "Show helpful text about the different subcommands", ""));
  t.add(std::move(object));
}

}  // namespace kvraft
