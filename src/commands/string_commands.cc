// src/commands/string_commands.cc — the string, counter and bitmap commands
// (Redis's t_string.c and the bitmap half of bitops.c): GET, SET and its
// variants, MGET/MSET, APPEND, ranges, INCR*, LCS, SETBIT/GETBIT/BITCOUNT/
// BITPOS.
//
// Handlers follow Redis 7.0's argument checks in Redis's order, so the same
// bad request gets the same error. Write handlers use only the keyspace,
// argv, ctx.db and ctx.now_ms (see src/command.h) and add what they changed
// to ctx.dirty.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "src/command.h"
#include "src/commands/command_util.h"
#include "storage/keyspace.h"
#include "storage/strconv.h"

namespace kvraft {

namespace {

using storage::Encoding;
using storage::Entry;
using storage::kKeepTtl;
using storage::kLongStrSize;
using storage::kNoExpire;
using storage::ValueType;

// Redis's proto-max-bulk-len default: the largest string a command may build.
constexpr int64_t kMaxStringLen = 512LL * 1024 * 1024;
constexpr std::string_view kErrStringTooLong =
    "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
constexpr std::string_view kErrBitOffset = "ERR bit offset is not an integer or out of range";

std::string invalid_expire_error(const ExecContext& ctx) {
  return "ERR invalid expire time in '" + std::string(ctx.spec ? ctx.spec->name : "set") +
         "' command";
}

// A live string entry for reading: null if absent (nothing replied), or
// null with WRONGTYPE replied (then *failed is set).
const Entry* read_string(ExecContext& ctx, std::string_view key, bool* failed) {
  return read_typed(ctx, key, ValueType::kString, failed);
}

// The same for writers: lookup_write (deletes an expired key first).
Entry* write_string(ExecContext& ctx, std::string_view key, bool* failed) {
  return write_typed(ctx, key, ValueType::kString, failed);
}

void reply_value(ExecContext& ctx, const Entry* e) {
  char buf[kLongStrSize];
  ctx.reply.bulk(storage::entry_string(e, buf));
}

// --------------------------------------------------------------- SET & co

// Option bits of Redis's parseExtendedStringArgumentsOrReply.
enum : unsigned {
  kSetNx = 1u << 0,
  kSetXx = 1u << 1,
  kSetGet = 1u << 2,
  kKeepTtlFlag = 1u << 3,
  kPersist = 1u << 4,
  kEx = 1u << 5,
  kPx = 1u << 6,
  kExat = 1u << 7,
  kPxat = 1u << 8,
};
constexpr unsigned kAnyExpire = kEx | kPx | kExat | kPxat;

enum class ExtendedFor { kSet, kGetex };

// Parses SET's (from argv[3]) or GETEX's (from argv[2]) options exactly as
// Redis does: conflicting options are a syntax error, repeating the same
// expiry option is allowed (the last one wins). *expire_arg is the argument
// after EX/PX/EXAT/PXAT.
bool parse_extended(ExecContext& ctx, ExtendedFor kind, unsigned* flags,
                    std::string_view* expire_arg) {
  size_t j = kind == ExtendedFor::kGetex ? 2 : 3;
  bool is_set = kind == ExtendedFor::kSet;
  for (; j < ctx.argv.size(); ++j) {
    std::string_view opt = ctx.argv[j];
    bool has_next = j + 1 < ctx.argv.size();
    unsigned f = *flags;
    auto expire_option = [&](unsigned bit) {
      // Allowed unless another expiry kind, KEEPTTL or PERSIST is set.
      return !(f & kKeepTtlFlag) && !(f & kPersist) && !(f & (kAnyExpire & ~bit)) && has_next;
    };
    if (iequals(opt, "nx") && !(f & kSetXx) && is_set) {
      *flags |= kSetNx;
    } else if (iequals(opt, "xx") && !(f & kSetNx) && is_set) {
      *flags |= kSetXx;
    } else if (iequals(opt, "get") && is_set) {
      *flags |= kSetGet;
    } else if (iequals(opt, "keepttl") && !(f & kPersist) && !(f & kAnyExpire) && is_set) {
      *flags |= kKeepTtlFlag;
    } else if (iequals(opt, "persist") && !is_set && !(f & kAnyExpire) && !(f & kKeepTtlFlag)) {
      *flags |= kPersist;
    } else if (iequals(opt, "ex") && expire_option(kEx)) {
      *flags |= kEx;
      *expire_arg = ctx.argv[++j];
    } else if (iequals(opt, "px") && expire_option(kPx)) {
      *flags |= kPx;
      *expire_arg = ctx.argv[++j];
    } else if (iequals(opt, "exat") && expire_option(kExat)) {
      *flags |= kExat;
      *expire_arg = ctx.argv[++j];
    } else if (iequals(opt, "pxat") && expire_option(kPxat)) {
      *flags |= kPxat;
      *expire_arg = ctx.argv[++j];
    } else {
      ctx.reply.error(kErrSyntax);
      return false;
    }
  }
  return true;
}

// Redis's getExpireMillisecondsOrReply: the absolute expiry in ms.
bool expire_ms(ExecContext& ctx, std::string_view arg, unsigned flags, int64_t* out) {
  int64_t v;
  if (!parse_ll(ctx, arg, &v)) return false;
  bool seconds = (flags & (kEx | kExat)) != 0;
  if (v <= 0 || (seconds && v > INT64_MAX / 1000)) {
    ctx.reply.error(invalid_expire_error(ctx));
    return false;
  }
  if (seconds) v *= 1000;
  if (flags & (kEx | kPx)) {
    // Relative: add the command's time, refusing overflow (Redis checks
    // for a non-positive sum after the wrap; do it without UB).
    if (v > INT64_MAX - ctx.now_ms) {
      ctx.reply.error(invalid_expire_error(ctx));
      return false;
    }
    v += ctx.now_ms;
  }
  if (v <= 0) {
    ctx.reply.error(invalid_expire_error(ctx));
    return false;
  }
  *out = v;
  return true;
}

// Redis's setGenericCommand. `ok_reply`/`abort_reply` as Redis: SETNX
// answers :1/:0, the others +OK/null.
enum class SetReply { kOkNull, kOneZero };

void set_generic(ExecContext& ctx, unsigned flags, std::string_view key, std::string_view value,
                 std::string_view expire_arg, bool has_expire, SetReply style) {
  int64_t when = 0;
  if (has_expire && !expire_ms(ctx, expire_arg, flags, &when)) return;
  bool failed;
  Entry* existing = nullptr;
  if (flags & kSetGet) {
    existing = write_string(ctx, key, &failed);
    if (failed) return;
    if (existing)
      reply_value(ctx, existing);
    else
      ctx.reply.null();
  } else {
    existing = ctx.keyspace.lookup_write(ctx.db, key, ctx.now_ms);
  }
  bool found = existing != nullptr;
  if (((flags & kSetNx) && found) || ((flags & kSetXx) && !found)) {
    if (!(flags & kSetGet)) {
      if (style == SetReply::kOneZero)
        ctx.reply.integer(0);
      else
        ctx.reply.null();
    }
    return;
  }
  int64_t expire = has_expire ? when : (flags & kKeepTtlFlag) ? kKeepTtl : kNoExpire;
  ctx.keyspace.set_string(ctx.db, key, value, expire);
  ctx.dirty++;
  if (!(flags & kSetGet)) {
    if (style == SetReply::kOneZero)
      ctx.reply.integer(1);
    else
      ctx.reply.ok();
  }
}

void get_command(ExecContext& ctx) {
  bool failed;
  const Entry* e = read_string(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!e) return ctx.reply.null();
  reply_value(ctx, e);
}

void set_command(ExecContext& ctx) {
  unsigned flags = 0;
  std::string_view expire_arg;
  if (!parse_extended(ctx, ExtendedFor::kSet, &flags, &expire_arg)) return;
  set_generic(ctx, flags, ctx.argv[1], ctx.argv[2], expire_arg, (flags & kAnyExpire) != 0,
              SetReply::kOkNull);
}

void setnx_command(ExecContext& ctx) {
  set_generic(ctx, kSetNx, ctx.argv[1], ctx.argv[2], {}, false, SetReply::kOneZero);
}

void setex_command(ExecContext& ctx) {
  set_generic(ctx, kEx, ctx.argv[1], ctx.argv[3], ctx.argv[2], true, SetReply::kOkNull);
}

void psetex_command(ExecContext& ctx) {
  set_generic(ctx, kPx, ctx.argv[1], ctx.argv[3], ctx.argv[2], true, SetReply::kOkNull);
}

void getset_command(ExecContext& ctx) {
  bool failed;
  Entry* e = write_string(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (e)
    reply_value(ctx, e);
  else
    ctx.reply.null();
  ctx.keyspace.set_string(ctx.db, ctx.argv[1], ctx.argv[2], kNoExpire);
  ctx.dirty++;
}

void getdel_command(ExecContext& ctx) {
  bool failed;
  Entry* e = write_string(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!e) return ctx.reply.null();
  reply_value(ctx, e);
  ctx.keyspace.remove(ctx.db, ctx.argv[1]);
  ctx.dirty++;
}

void getex_command(ExecContext& ctx) {
  unsigned flags = 0;
  std::string_view expire_arg;
  if (!parse_extended(ctx, ExtendedFor::kGetex, &flags, &expire_arg)) return;
  bool failed;
  Entry* e = write_string(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!e) return ctx.reply.null();
  int64_t when = 0;
  bool has_expire = (flags & kAnyExpire) != 0;
  if (has_expire && !expire_ms(ctx, expire_arg, flags, &when)) return;
  reply_value(ctx, e);
  if ((flags & (kExat | kPxat)) && when <= ctx.now_ms) {
    // An absolute time already past deletes the key, as Redis does.
    ctx.keyspace.remove(ctx.db, ctx.argv[1]);
    ctx.dirty++;
  } else if (has_expire) {
    ctx.keyspace.set_expire(ctx.db, e, when);
    ctx.dirty++;
  } else if ((flags & kPersist) && e->has_expire()) {
    ctx.keyspace.set_expire(ctx.db, e, kNoExpire);
    ctx.dirty++;
  }
}

void mget_command(ExecContext& ctx) {
  ctx.reply.array_header(static_cast<int64_t>(ctx.argv.size() - 1));
  for (size_t j = 1; j < ctx.argv.size(); ++j) {
    const Entry* e = ctx.keyspace.lookup_read(ctx.db, ctx.argv[j], ctx.now_ms);
    if (!e || e->type() != ValueType::kString)
      ctx.reply.null();
    else
      reply_value(ctx, e);
  }
}

void mset_generic(ExecContext& ctx, bool nx) {
  if (ctx.argv.size() % 2 == 0) {
    ctx.reply.error(wrong_arity_error(ctx.spec ? ctx.spec->name : ctx.argv[0]));
    return;
  }
  if (nx) {
    for (size_t j = 1; j < ctx.argv.size(); j += 2) {
      if (ctx.keyspace.lookup_write(ctx.db, ctx.argv[j], ctx.now_ms)) {
        ctx.reply.integer(0);
        return;
      }
    }
  }
  for (size_t j = 1; j < ctx.argv.size(); j += 2)
    ctx.keyspace.set_string(ctx.db, ctx.argv[j], ctx.argv[j + 1], kNoExpire);
  ctx.dirty += static_cast<int64_t>((ctx.argv.size() - 1) / 2);
  if (nx)
    ctx.reply.integer(1);
  else
    ctx.reply.ok();
}

void mset_command(ExecContext& ctx) {
  mset_generic(ctx, false);
}
void msetnx_command(ExecContext& ctx) {
  mset_generic(ctx, true);
}

void append_command(ExecContext& ctx) {
  bool failed;
  Entry* e = write_string(ctx, ctx.argv[1], &failed);
  if (failed) return;
  std::string_view add = ctx.argv[2];
  size_t total;
  if (!e) {
    e = ctx.keyspace.set_string(ctx.db, ctx.argv[1], add, kNoExpire);
    total = add.size();
  } else {
    size_t len = storage::entry_string_len(e);
    if (static_cast<int64_t>(len + add.size()) > kMaxStringLen) {
      ctx.reply.error(kErrStringTooLong);
      return;
    }
    std::string& s = ctx.keyspace.make_raw(ctx.db, e);
    s.append(add);
    total = s.size();
  }
  ctx.dirty++;
  ctx.reply.integer(static_cast<int64_t>(total));
}

void strlen_command(ExecContext& ctx) {
  bool failed;
  const Entry* e = read_string(ctx, ctx.argv[1], &failed);
  if (failed) return;
  ctx.reply.integer(e ? static_cast<int64_t>(storage::entry_string_len(e)) : 0);
}

void getrange_command(ExecContext& ctx) {
  int64_t start, end;
  if (!parse_ll(ctx, ctx.argv[2], &start) || !parse_ll(ctx, ctx.argv[3], &end)) return;
  bool failed;
  const Entry* e = read_string(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!e) return ctx.reply.bulk("");
  char buf[kLongStrSize];
  std::string_view s = storage::entry_string(e, buf);
  int64_t len = static_cast<int64_t>(s.size());
  if (start < 0 && end < 0 && start > end) return ctx.reply.bulk("");
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len == 0) return ctx.reply.bulk("");
  ctx.reply.bulk(s.substr(static_cast<size_t>(start), static_cast<size_t>(end - start + 1)));
}

void setrange_command(ExecContext& ctx) {
  int64_t offset;
  if (!parse_ll(ctx, ctx.argv[2], &offset)) return;
  if (offset < 0) {
    ctx.reply.error("ERR offset is out of range");
    return;
  }
  std::string_view value = ctx.argv[3];
  bool failed;
  Entry* e = write_string(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!e) {
    if (value.empty()) return ctx.reply.integer(0);
    if (offset + static_cast<int64_t>(value.size()) > kMaxStringLen) {
      ctx.reply.error(kErrStringTooLong);
      return;
    }
    std::string s(static_cast<size_t>(offset), '\0');
    s.append(value);
    ctx.keyspace.set_entry(ctx.db, storage::entry_new_raw(ctx.argv[1], std::move(s), kNoExpire),
                           false);
    ctx.dirty++;
    return ctx.reply.integer(offset + static_cast<int64_t>(value.size()));
  }
  size_t olen = storage::entry_string_len(e);
  if (value.empty()) return ctx.reply.integer(static_cast<int64_t>(olen));
  if (offset + static_cast<int64_t>(value.size()) > kMaxStringLen) {
    ctx.reply.error(kErrStringTooLong);
    return;
  }
  std::string& s = ctx.keyspace.make_raw(ctx.db, e);
  size_t need = static_cast<size_t>(offset) + value.size();
  if (s.size() < need) s.resize(need, '\0');
  std::memcpy(s.data() + offset, value.data(), value.size());
  ctx.dirty++;
  ctx.reply.integer(static_cast<int64_t>(s.size()));
}

// ------------------------------------------------------------- counters

// The integer value of a string entry (Redis's getLongLongFromObject).
bool entry_to_ll(const Entry* e, int64_t* out) {
  if (e->encoding() == Encoding::kInt) {
    *out = e->int_value();
    return true;
  }
  char buf[kLongStrSize];
  return storage::string2ll(storage::entry_string(e, buf), out);
}

void incr_decr(ExecContext& ctx, int64_t incr) {
  bool failed;
  Entry* e = write_string(ctx, ctx.argv[1], &failed);
  if (failed) return;
  int64_t value = 0;
  if (e && !entry_to_ll(e, &value)) {
    ctx.reply.error(kErrNotInteger);
    return;
  }
  if ((incr < 0 && value < 0 && incr < INT64_MIN - value) ||
      (incr > 0 && value > 0 && incr > INT64_MAX - value)) {
    ctx.reply.error(kErrOverflow);
    return;
  }
  value += incr;
  // An int-encoded counter is updated in place, as Redis does for an
  // unshared integer object: no new entry, no second lookup.
  if (e && e->encoding() == Encoding::kInt)
    e->set_int_value(value);
  else
    ctx.keyspace.set_int(ctx.db, ctx.argv[1], value, kKeepTtl);
  ctx.dirty++;
  ctx.reply.integer(value);
}

void incr_command(ExecContext& ctx) {
  incr_decr(ctx, 1);
}
void decr_command(ExecContext& ctx) {
  incr_decr(ctx, -1);
}

void incrby_command(ExecContext& ctx) {
  int64_t incr;
  if (!parse_ll(ctx, ctx.argv[2], &incr)) return;
  incr_decr(ctx, incr);
}

void decrby_command(ExecContext& ctx) {
  int64_t incr;
  if (!parse_ll(ctx, ctx.argv[2], &incr)) return;
  if (incr == INT64_MIN) {
    ctx.reply.error("ERR decrement would overflow");
    return;
  }
  incr_decr(ctx, -incr);
}

void incrbyfloat_command(ExecContext& ctx) {
  bool failed;
  Entry* e = write_string(ctx, ctx.argv[1], &failed);
  if (failed) return;
  long double value = 0, incr = 0;
  if (e) {
    if (e->encoding() == Encoding::kInt) {
      value = static_cast<long double>(e->int_value());
    } else {
      char buf[kLongStrSize];
      if (!storage::string2ld(storage::entry_string(e, buf), &value)) {
        ctx.reply.error(kErrNotFloat);
        return;
      }
    }
  }
  if (!storage::string2ld(ctx.argv[2], &incr)) {
    ctx.reply.error(kErrNotFloat);
    return;
  }
  value += incr;
  if (std::isnan(value) || std::isinf(value)) {
    ctx.reply.error("ERR increment would produce NaN or Infinity");
    return;
  }
  std::string text = storage::ld2string_human(value);
  if (text.empty()) {
    ctx.reply.error(kErrNotFloat);
    return;
  }
  ctx.keyspace.set_string(ctx.db, ctx.argv[1], text, kKeepTtl, storage::StringHint::kNoInt);
  ctx.dirty++;
  ctx.reply.bulk(text);
}

// --------------------------------------------------------------- bitmaps

// Redis's getBitOffsetFromArgument (without the '#' form, which is BITFIELD's).
bool parse_bit_offset(ExecContext& ctx, std::string_view arg, uint64_t* out) {
  int64_t v;
  if (!storage::string2ll(arg, &v) || v < 0 || (v >> 3) >= kMaxStringLen) {
    ctx.reply.error(kErrBitOffset);
    return false;
  }
  *out = static_cast<uint64_t>(v);
  return true;
}

void setbit_command(ExecContext& ctx) {
  constexpr std::string_view kErrBit = "ERR bit is not an integer or out of range";
  uint64_t bitoffset;
  if (!parse_bit_offset(ctx, ctx.argv[2], &bitoffset)) return;
  int64_t on;
  if (!parse_ll(ctx, ctx.argv[3], &on, kErrBit)) return;
  if (on & ~1) {
    ctx.reply.error(kErrBit);
    return;
  }
  bool failed;
  Entry* e = write_string(ctx, ctx.argv[1], &failed);
  if (failed) return;
  size_t byte = static_cast<size_t>(bitoffset >> 3);
  bool changed = false;
  if (!e) {
    e = ctx.keyspace.set_entry(
        ctx.db, storage::entry_new_raw(ctx.argv[1], std::string(byte + 1, '\0'), kNoExpire), false);
    changed = true;
  }
  std::string& s = ctx.keyspace.make_raw(ctx.db, e);
  if (s.size() < byte + 1) {
    s.resize(byte + 1, '\0');
    changed = true;
  }
  unsigned char byteval = static_cast<unsigned char>(s[byte]);
  int bit = 7 - static_cast<int>(bitoffset & 7);
  bool bitval = (byteval >> bit) & 1;
  if (changed || bitval != (on == 1)) {
    byteval =
        static_cast<unsigned char>((byteval & ~(1u << bit)) | (static_cast<unsigned>(on) << bit));
    s[byte] = static_cast<char>(byteval);
    ctx.dirty++;
  }
  ctx.reply.integer(bitval ? 1 : 0);
}

void getbit_command(ExecContext& ctx) {
  uint64_t bitoffset;
  if (!parse_bit_offset(ctx, ctx.argv[2], &bitoffset)) return;
  bool failed;
  const Entry* e = read_string(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!e) return ctx.reply.integer(0);
  char buf[kLongStrSize];
  std::string_view s = storage::entry_string(e, buf);
  size_t byte = static_cast<size_t>(bitoffset >> 3);
  int bit = 7 - static_cast<int>(bitoffset & 7);
  int bitval = byte < s.size() ? (static_cast<unsigned char>(s[byte]) >> bit) & 1 : 0;
  ctx.reply.integer(bitval);
}

int64_t popcount(const unsigned char* p, size_t n) {
  int64_t count = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    count += __builtin_popcountll(w);
  }
  for (; i < n; ++i)
    count += __builtin_popcount(p[i]);
  return count;
}

// Redis's redisBitpos: position of the first bit equal to `bit` in p[0..n),
// -1 if looking for 1 and there is none; n*8 if looking for 0 and all are 1.
int64_t bitpos(const unsigned char* p, size_t n, int bit) {
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = bit ? p[i] : static_cast<unsigned char>(~p[i]);
    if (c) return static_cast<int64_t>(i) * 8 + __builtin_clz(static_cast<unsigned>(c)) - 24;
  }
  return bit ? -1 : static_cast<int64_t>(n) * 8;
}

// Start/end/BYTE|BIT handling shared by BITCOUNT and BITPOS (Redis 7.0):
// converts the range into byte positions plus edge masks.
struct BitRange {
  int64_t start, end;
  unsigned char first_neg_mask = 0, last_neg_mask = 0;
};

void normalize_range(BitRange* r, int64_t totlen, bool isbit) {
  if (isbit) totlen <<= 3;
  if (r->start < 0) r->start = totlen + r->start;
  if (r->end < 0) r->end = totlen + r->end;
  if (r->start < 0) r->start = 0;
  if (r->end < 0) r->end = 0;
  if (r->end >= totlen) r->end = totlen - 1;
  if (isbit && r->start <= r->end) {
    r->first_neg_mask = static_cast<unsigned char>(~((1u << (8 - (r->start & 7))) - 1) & 0xff);
    r->last_neg_mask = static_cast<unsigned char>((1u << (7 - (r->end & 7))) - 1);
    r->start >>= 3;
    r->end >>= 3;
  }
}

bool parse_unit(ExecContext& ctx, std::string_view arg, bool* isbit) {
  if (iequals(arg, "bit")) {
    *isbit = true;
  } else if (iequals(arg, "byte")) {
    *isbit = false;
  } else {
    ctx.reply.error(kErrSyntax);
    return false;
  }
  return true;
}

void bitcount_command(ExecContext& ctx) {
  bool failed;
  const Entry* e = read_string(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!e) return ctx.reply.integer(0);
  char buf[kLongStrSize];
  std::string_view s = storage::entry_string(e, buf);
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  BitRange r{0, static_cast<int64_t>(s.size()) - 1};
  size_t argc = ctx.argv.size();
  if (argc == 4 || argc == 5) {
    if (!parse_ll(ctx, ctx.argv[2], &r.start) || !parse_ll(ctx, ctx.argv[3], &r.end)) return;
    if (r.start < 0 && r.end < 0 && r.start > r.end) return ctx.reply.integer(0);
    bool isbit = false;
    if (argc == 5 && !parse_unit(ctx, ctx.argv[4], &isbit)) return;
    normalize_range(&r, static_cast<int64_t>(s.size()), isbit);
  } else if (argc != 2) {
    ctx.reply.error(kErrSyntax);
    return;
  }
  if (r.start > r.end) return ctx.reply.integer(0);
  int64_t count = popcount(p + r.start, static_cast<size_t>(r.end - r.start + 1));
  if (r.first_neg_mask) count -= __builtin_popcount(p[r.start] & r.first_neg_mask);
  if (r.last_neg_mask) count -= __builtin_popcount(p[r.end] & r.last_neg_mask);
  ctx.reply.integer(count);
}

void bitpos_command(ExecContext& ctx) {
  int64_t bit;
  if (!parse_ll(ctx, ctx.argv[2], &bit)) return;
  if (bit != 0 && bit != 1) {
    ctx.reply.error("ERR The bit argument must be 1 or 0.");
    return;
  }
  bool failed;
  const Entry* e = read_string(ctx, ctx.argv[1], &failed);
  if (failed) return;
  // A missing key is an infinite run of zero bits.
  if (!e) return ctx.reply.integer(bit ? -1 : 0);
  char buf[kLongStrSize];
  std::string_view s = storage::entry_string(e, buf);
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  int64_t totlen = static_cast<int64_t>(s.size());
  BitRange r{0, totlen - 1};
  bool end_given = false;
  size_t argc = ctx.argv.size();
  if (argc >= 4 && argc <= 6) {
    if (!parse_ll(ctx, ctx.argv[3], &r.start)) return;
    bool isbit = false;
    if (argc == 6 && !parse_unit(ctx, ctx.argv[5], &isbit)) return;
    if (argc >= 5) {
      if (!parse_ll(ctx, ctx.argv[4], &r.end)) return;
      end_given = true;
    } else {
      r.end = isbit ? (totlen << 3) + 7 : totlen - 1;
    }
    normalize_range(&r, totlen, isbit);
  } else if (argc != 3) {
    ctx.reply.error(kErrSyntax);
    return;
  }
  if (r.start > r.end) return ctx.reply.integer(-1);
  int b = static_cast<int>(bit);
  int64_t start = r.start;
  int64_t bytes = r.end - r.start + 1;
  int64_t pos;
  // Mirrors Redis's edge handling: the first and last bytes are masked so
  // bits outside a BIT range never match.
  do {
    unsigned char tmp;
    if (r.first_neg_mask) {
      tmp = b ? p[start] & ~r.first_neg_mask : p[start] | r.first_neg_mask;
      if (r.last_neg_mask && bytes == 1) tmp = b ? tmp & ~r.last_neg_mask : tmp | r.last_neg_mask;
      pos = bitpos(&tmp, 1, b);
      if (bytes == 1 || (pos != -1 && pos != 8)) break;
      start++;
      bytes--;
    }
    int64_t curbytes = bytes - (r.last_neg_mask ? 1 : 0);
    if (curbytes > 0) {
      pos = bitpos(p + start, static_cast<size_t>(curbytes), b);
      if (bytes == curbytes || (pos != -1 && pos != curbytes << 3)) break;
      start += curbytes;
      bytes -= curbytes;
    }
    tmp = b ? p[r.end] & ~r.last_neg_mask : p[r.end] | r.last_neg_mask;
    pos = bitpos(&tmp, 1, b);
  } while (false);
  // Looking for a 0 within an explicit range that has none: -1, not the
  // first bit after the range.
  if (end_given && b == 0 && pos == bytes << 3) return ctx.reply.integer(-1);
  if (pos != -1) pos += start << 3;
  ctx.reply.integer(pos);
}

// ------------------------------------------------------------------- LCS

// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN] (Redis 7.0's
// lcsCommand: the classic O(n*m) table, bounded like Redis by
// proto-max-bulk-len bytes of transient memory).
void lcs_command(ExecContext& ctx) {
  const Entry* ea = ctx.keyspace.lookup_read(ctx.db, ctx.argv[1], ctx.now_ms);
  const Entry* eb = ctx.keyspace.lookup_read(ctx.db, ctx.argv[2], ctx.now_ms);
  if ((ea && ea->type() != ValueType::kString) || (eb && eb->type() != ValueType::kString)) {
    ctx.reply.error("ERR The specified keys must contain string values");
    return;
  }
  char abuf[kLongStrSize], bbuf[kLongStrSize];
  std::string_view a = ea ? storage::entry_string(ea, abuf) : std::string_view();
  std::string_view b = eb ? storage::entry_string(eb, bbuf) : std::string_view();
  bool getlen = false, getidx = false, withmatchlen = false;
  int64_t minmatchlen = 0;
  for (size_t j = 3; j < ctx.argv.size(); ++j) {
    std::string_view opt = ctx.argv[j];
    bool moreargs = j + 1 < ctx.argv.size();
    if (iequals(opt, "idx")) {
      getidx = true;
    } else if (iequals(opt, "len")) {
      getlen = true;
    } else if (iequals(opt, "withmatchlen")) {
      withmatchlen = true;
    } else if (iequals(opt, "minmatchlen") && moreargs) {
      if (!parse_ll(ctx, ctx.argv[j + 1], &minmatchlen)) return;
      if (minmatchlen < 0) minmatchlen = 0;
      ++j;
    } else {
      ctx.reply.error(kErrSyntax);
      return;
    }
  }
  if (getidx && getlen) {
    ctx.reply.error("ERR If you want both the length and indexes, please just use IDX.");
    return;
  }
  if (a.size() >= UINT32_MAX - 1 || b.size() >= UINT32_MAX - 1) {
    ctx.reply.error("ERR String too long for LCS");
    return;
  }
  const uint64_t alen = a.size(), blen = b.size();
  const uint64_t cells = (alen + 1) * (blen + 1);
  if (cells * sizeof(uint32_t) > static_cast<uint64_t>(kMaxStringLen)) {
    ctx.reply.error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    return;
  }
  std::vector<uint32_t> table;
  try {
    table.assign(cells, 0);
  } catch (const std::bad_alloc&) {
    ctx.reply.error("ERR Insufficient memory, failed allocating transient memory for LCS");
    return;
  }
  auto at = [&](uint64_t i, uint64_t j) -> uint32_t& { return table[j + i * (blen + 1)]; };
  for (uint64_t i = 1; i <= alen; ++i)
    for (uint64_t j = 1; j <= blen; ++j)
      at(i, j) = a[i - 1] == b[j - 1] ? at(i - 1, j - 1) + 1 : std::max(at(i - 1, j), at(i, j - 1));

  // Walk back from the end, building the string and the matching ranges.
  uint32_t idx = at(alen, blen);
  std::string result(getidx || !getlen ? idx : 0, '\0');
  struct Match {
    uint64_t a_start, a_end, b_start, b_end;
  };
  std::vector<Match> matches;
  uint64_t as = alen, ae = 0, bs = 0, be = 0;  // as == alen: no range open
  uint64_t i = alen, j = blen;
  bool compute = getidx || !getlen;
  while (compute && i > 0 && j > 0) {
    bool emit = false;
    if (a[i - 1] == b[j - 1]) {
      result[idx - 1] = a[i - 1];
      if (as == alen) {
        as = ae = i - 1;
        bs = be = j - 1;
      } else if (as == i && bs == j) {
        as--;
        bs--;
      } else {
        emit = true;
      }
      if (as == 0 || bs == 0) emit = true;
      idx--;
      i--;
      j--;
    } else {
      if (at(i - 1, j) > at(i, j - 1))
        i--;
      else
        j--;
      if (as != alen) emit = true;
    }
    if (emit) {
      uint64_t match_len = ae - as + 1;
      if (minmatchlen == 0 || match_len >= static_cast<uint64_t>(minmatchlen))
        matches.push_back({as, ae, bs, be});
      as = alen;
    }
  }
  if (getidx) {
    ctx.reply.map_header(2);
    ctx.reply.bulk("matches");
    ctx.reply.array_header(static_cast<int64_t>(matches.size()));
    for (const Match& m : matches) {
      ctx.reply.array_header(withmatchlen ? 3 : 2);
      ctx.reply.array_header(2);
      ctx.reply.integer(static_cast<int64_t>(m.a_start));
      ctx.reply.integer(static_cast<int64_t>(m.a_end));
      ctx.reply.array_header(2);
      ctx.reply.integer(static_cast<int64_t>(m.b_start));
      ctx.reply.integer(static_cast<int64_t>(m.b_end));
      if (withmatchlen) ctx.reply.integer(static_cast<int64_t>(m.a_end - m.a_start + 1));
    }
    ctx.reply.bulk("len");
    ctx.reply.integer(at(alen, blen));
  } else if (getlen) {
    ctx.reply.integer(at(alen, blen));
  } else {
    ctx.reply.bulk(result);
  }
}

}  // namespace

void register_string_commands(CommandTable& t) {
  constexpr uint32_t W = kCmdWrite, R = kCmdReadonly, F = kCmdFast, M = kCmdDenyOom;
  auto add = [&](auto&&... args) { t.add(make_spec(args...)); };
  add("get", 2, R | F, 1, 1, 1, get_command, "string", "1.0.0", "Get the value of a key", "key");
  add("set", -3, W | M, 1, 1, 1, set_command, "string", "1.0.0", "Set the string value of a key",
      "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT "
      "unix-time-milliseconds|KEEPTTL]");
  add("setnx", 3, W | M | F, 1, 1, 1, setnx_command, "string", "1.0.0",
      "Set the value of a key, only if the key does not exist", "key value");
  add("setex", 4, W | M, 1, 1, 1, setex_command, "string", "2.0.0",
      "Set the value and expiration of a key", "key seconds value");
  add("psetex", 4, W | M, 1, 1, 1, psetex_command, "string", "2.6.0",
      "Set the value and expiration in milliseconds of a key", "key milliseconds value");
  add("getset", 3, W | M | F, 1, 1, 1, getset_command, "string", "1.0.0",
      "Set the string value of a key and return its old value", "key value");
  add("getdel", 2, W | F, 1, 1, 1, getdel_command, "string", "6.2.0",
      "Get the value of a key and delete the key", "key");
  add("getex", -2, W | F, 1, 1, 1, getex_command, "string", "6.2.0",
      "Get the value of a key and optionally set its expiration",
      "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT "
      "unix-time-milliseconds|PERSIST]");
  add("mget", -2, R | F, 1, -1, 1, mget_command, "string", "1.0.0",
      "Get the values of all the given keys", "key [key ...]");
  add("mset", -3, W | M, 1, -1, 2, mset_command, "string", "1.0.1",
      "Set multiple keys to multiple values", "key value [key value ...]");
  add("msetnx", -3, W | M, 1, -1, 2, msetnx_command, "string", "1.0.1",
      "Set multiple keys to multiple values, only if none of the keys exist",
      "key value [key value ...]");
  add("append", 3, W | M | F, 1, 1, 1, append_command, "string", "2.0.0", "Append a value to a key",
      "key value");
  add("strlen", 2, R | F, 1, 1, 1, strlen_command, "string", "2.2.0",
      "Get the length of the value stored in a key", "key");
  add("getrange", 4, R, 1, 1, 1, getrange_command, "string", "2.4.0",
      "Get a substring of the string stored at a key", "key start end");
  add("substr", 4, R, 1, 1, 1, getrange_command, "string", "1.0.0",
      "Get a substring of the string stored at a key", "key start end");
  add("setrange", 4, W | M, 1, 1, 1, setrange_command, "string", "2.2.0",
      "Overwrite part of a string at key starting at the specified offset", "key offset value");
  add("incr", 2, W | M | F, 1, 1, 1, incr_command, "string", "1.0.0",
      "Increment the integer value of a key by one", "key");
  add("decr", 2, W | M | F, 1, 1, 1, decr_command, "string", "1.0.0",
      "Decrement the integer value of a key by one", "key");
  add("incrby", 3, W | M | F, 1, 1, 1, incrby_command, "string", "1.0.0",
      "Increment the integer value of a key by the given amount", "key increment");
  add("decrby", 3, W | M | F, 1, 1, 1, decrby_command, "string", "1.0.0",
      "Decrement the integer value of a key by the given number", "key decrement");
  add("incrbyfloat", 3, W | M | F, 1, 1, 1, incrbyfloat_command, "string", "2.6.0",
      "Increment the float value of a key by the given amount", "key increment");
  add("lcs", -3, R, 1, 2, 1, lcs_command, "string", "7.0.0", "Find longest common substring",
      "key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]");
  add("setbit", 4, W | M, 1, 1, 1, setbit_command, "bitmap", "2.2.0",
      "Sets or clears the bit at offset in the string value stored at key", "key offset value");
  add("getbit", 3, R | F, 1, 1, 1, getbit_command, "bitmap", "2.2.0",
      "Returns the bit value at offset in the string value stored at key", "key offset");
  add("bitcount", -2, R, 1, 1, 1, bitcount_command, "bitmap", "2.6.0", "Count set bits in a string",
      "key [start end [BYTE|BIT]]");
  add("bitpos", -3, R, 1, 1, 1, bitpos_command, "bitmap", "2.8.7",
      "Find first bit set or clear in a string", "key bit [start [end [BYTE|BIT]]]");
}

}  // namespace kvraft
