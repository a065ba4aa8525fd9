// src/commands/zset_commands.cc — the SORTED SET commands (Redis's
// t_zset.c): ZADD, ZINCRBY, ZREM, ZCARD, ZSCORE, ZMSCORE, Z[REV]RANK, the
// ZRANGE family (rank, BYSCORE, BYLEX, REV, LIMIT, WITHSCORES, ZRANGESTORE
// and the legacy Z[REV]RANGEBY* forms), ZCOUNT, ZLEXCOUNT, ZPOPMIN/MAX,
// ZREMRANGEBY*, ZUNIONSTORE/ZINTERSTORE and ZSCAN.
//
// Argument checks follow Redis 7's order (options, then ranges, then the
// key lookup) so the same bad request gets the same error. Everything here
// is deterministic (ties in score are ordered by member bytes), so write
// handlers give identical results on every replica. Emptied sorted sets
// are deleted.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/command.h"
#include "src/commands/command_util.h"
#include "storage/glob.h"
#include "storage/keyspace.h"
#include "storage/set_value.h"
#include "storage/strconv.h"
#include "storage/zset_value.h"

namespace kvraft {

namespace {

using storage::Entry;
using storage::kNoExpire;
using storage::ValueType;
using storage::ZLexRange;
using storage::ZScoreRange;
using storage::ZsetValue;

constexpr std::string_view kErrNan = "ERR resulting score is not a number (NaN)";
constexpr std::string_view kErrMinMaxFloat = "ERR min or max is not a float";
constexpr std::string_view kErrMinMaxLex = "ERR min or max not valid string range item";
constexpr std::string_view kErrPositive = "ERR value is out of range, must be positive";

ZsetValue* as_zset(const Entry* e) {
  return static_cast<ZsetValue*>(e->object_value());
}

// The sorted set at `key`: null if absent; null with WRONGTYPE replied (and
// *failed set) for another type. `write` uses lookup_write.
ZsetValue* lookup_zset(ExecContext& ctx, std::string_view key, bool write, bool* failed) {
  const Entry* e = write ? write_typed(ctx, key, ValueType::kZset, failed)
                         : read_typed(ctx, key, ValueType::kZset, failed);
  return e ? as_zset(e) : nullptr;
}

ZsetValue* store_zset(ExecContext& ctx, std::string_view key, std::unique_ptr<ZsetValue> z) {
  ZsetValue* raw = z.get();
  ctx.keyspace.set_entry(ctx.db, storage::entry_new_object(key, std::move(z), kNoExpire), false);
  return raw;
}

// Deletes `key` if its sorted set became empty.
void drop_if_empty(ExecContext& ctx, std::string_view key, const ZsetValue* z) {
  if (z->size() == 0) ctx.keyspace.remove(ctx.db, key);
}

// A score as ZSCAN prints it (Redis's d2string: %.17g, inf/-inf).
std::string score_text(double d) {
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%.17g", d);
  return std::string(buf, static_cast<size_t>(n));
}

// --------------------------------------------------------------- ZADD

// Redis's zaddGenericCommand; `incr_only` is ZINCRBY.
void zadd_generic(ExecContext& ctx, int flags) {
  size_t idx = 2;
  bool ch = false;
  if (!(flags & ZsetValue::kAddIncr)) {
    for (; idx < ctx.argv.size(); ++idx) {
      std::string_view o = ctx.argv[idx];
      if (iequals(o, "nx"))
        flags |= ZsetValue::kAddNx;
      else if (iequals(o, "xx"))
        flags |= ZsetValue::kAddXx;
      else if (iequals(o, "gt"))
        flags |= ZsetValue::kAddGt;
      else if (iequals(o, "lt"))
        flags |= ZsetValue::kAddLt;
      else if (iequals(o, "ch"))
        ch = true;
      else if (iequals(o, "incr"))
        flags |= ZsetValue::kAddIncr;
      else
        break;
    }
  }
  bool incr = flags & ZsetValue::kAddIncr, nx = flags & ZsetValue::kAddNx,
       xx = flags & ZsetValue::kAddXx, gt = flags & ZsetValue::kAddGt,
       lt = flags & ZsetValue::kAddLt;
  size_t elements = ctx.argv.size() - idx;
  if (elements % 2 || elements == 0) return ctx.reply.error(kErrSyntax);
  elements /= 2;
  if (nx && xx) return ctx.reply.error("ERR XX and NX options at the same time are not compatible");
  if ((gt && nx) || (lt && nx) || (gt && lt))
    return ctx.reply.error("ERR GT, LT, and/or NX options at the same time are not compatible");
  if (incr && elements > 1)
    return ctx.reply.error("ERR INCR option supports a single increment-element pair");
  std::vector<double> scores(elements);
  size_t max_len = 0;
  for (size_t j = 0; j < elements; ++j) {
    if (!storage::string2d(ctx.argv[idx + j * 2], &scores[j])) return ctx.reply.error(kErrNotFloat);
    max_len = std::max(max_len, ctx.argv[idx + j * 2 + 1].size());
  }
  bool failed;
  ZsetValue* z = lookup_zset(ctx, ctx.argv[1], true, &failed);
  if (failed) return;
  int64_t added = 0, updated = 0, processed = 0;
  double score = 0;
  if (!z) {
    if (xx) goto reply;
    z = store_zset(ctx, ctx.argv[1], ZsetValue::create(elements, max_len));
  }
  for (size_t j = 0; j < elements; ++j) {
    int out;
    double new_score = scores[j];
    if (!z->add(scores[j], ctx.argv[idx + j * 2 + 1], flags, &out, &new_score)) {
      ctx.dirty += added + updated;
      return ctx.reply.error(kErrNan);
    }
    if (out & ZsetValue::kOutAdded) ++added;
    if (out & ZsetValue::kOutUpdated) ++updated;
    if (!(out & ZsetValue::kOutNop)) ++processed;
    score = new_score;
  }
  ctx.dirty += added + updated;
reply:
  if (incr) {
    if (processed)
      ctx.reply.double_value(score);
    else
      ctx.reply.null();
  } else {
    ctx.reply.integer(ch ? added + updated : added);
  }
}

void zadd_command(ExecContext& ctx) {
  zadd_generic(ctx, 0);
}

void zincrby_command(ExecContext& ctx) {
  zadd_generic(ctx, ZsetValue::kAddIncr);
}

// ------------------------------------------------------- simple accessors

void zrem_command(ExecContext& ctx) {
  bool failed;
  ZsetValue* z = lookup_zset(ctx, ctx.argv[1], true, &failed);
  if (failed) return;
  int64_t removed = 0;
  if (z) {
    for (size_t j = 2; j < ctx.argv.size(); ++j) {
      if (z->remove(ctx.argv[j])) ++removed;
      if (z->size() == 0) {
        ctx.keyspace.remove(ctx.db, ctx.argv[1]);
        break;
      }
    }
  }
  ctx.dirty += removed;
  ctx.reply.integer(removed);
}

void zcard_command(ExecContext& ctx) {
  bool failed;
  ZsetValue* z = lookup_zset(ctx, ctx.argv[1], false, &failed);
  if (failed) return;
  ctx.reply.integer(z ? static_cast<int64_t>(z->size()) : 0);
}

void zscore_command(ExecContext& ctx) {
  bool failed;
  ZsetValue* z = lookup_zset(ctx, ctx.argv[1], false, &failed);
  if (failed) return;
  double s;
  if (!z || !z->score(ctx.argv[2], &s)) return ctx.reply.null();
  ctx.reply.double_value(s);
}

void zmscore_command(ExecContext& ctx) {
  bool failed;
  ZsetValue* z = lookup_zset(ctx, ctx.argv[1], false, &failed);
  if (failed) return;
  ctx.reply.array_header(static_cast<int64_t>(ctx.argv.size() - 2));
  for (size_t j = 2; j < ctx.argv.size(); ++j) {
    double s;
    if (z && z->score(ctx.argv[j], &s))
      ctx.reply.double_value(s);
    else
      ctx.reply.null();
  }
}

void zrank_generic(ExecContext& ctx, bool reverse) {
  if (ctx.argv.size() > 4) return ctx.reply.error(wrong_arity_error(ctx.argv[0]));
  bool withscore = false;
  if (ctx.argv.size() == 4) {
    if (!iequals(ctx.argv[3], "withscore")) return ctx.reply.error(kErrSyntax);
    withscore = true;
  }
  bool failed;
  ZsetValue* z = lookup_zset(ctx, ctx.argv[1], false, &failed);
  if (failed) return;
  size_t rank;
  double score;
  if (!z || !z->rank(ctx.argv[2], reverse, &rank, &score))
    return withscore ? ctx.reply.null_array() : ctx.reply.null();
  if (!withscore) return ctx.reply.integer(static_cast<int64_t>(rank));
  ctx.reply.array_header(2);
  ctx.reply.integer(static_cast<int64_t>(rank));
  ctx.reply.double_value(score);
}

void zrank_command(ExecContext& ctx) {
  zrank_generic(ctx, false);
}
void zrevrank_command(ExecContext& ctx) {
  zrank_generic(ctx, true);
}

// --------------------------------------------------------- ZRANGE family

enum class RangeType { kAuto, kRank, kScore, kLex };
enum class Direction { kAuto, kForward, kReverse };

// Where a range's results go: the client (with or without scores) or a new
// sorted set (ZRANGESTORE).
struct RangeSink {
  ExecContext& ctx;
  bool withscores = false;
  std::unique_ptr<ZsetValue> dst;  // set for ZRANGESTORE

  void begin(size_t n) {
    if (dst) return;
    bool nested = withscores && ctx.reply.protocol() == 3;
    ctx.reply.array_header(static_cast<int64_t>(withscores && !nested ? n * 2 : n));
  }
  void emit(std::string_view member, double score) {
    if (dst) {
      int out;
      double ns;
      dst->add(score, member, 0, &out, &ns);
      return;
    }
    if (withscores && ctx.reply.protocol() == 3) ctx.reply.array_header(2);
    ctx.reply.bulk(member);
    if (withscores) ctx.reply.double_value(score);
  }
};

// Emits ascending ranks [first, last] (or descending from `last` when
// reversed), skipping `offset` and stopping after `limit` (< 0: no limit).
void emit_ranks(const ZsetValue& z, size_t first, size_t last, bool reverse, int64_t offset,
                int64_t limit, RangeSink& sink) {
  size_t total = last - first + 1;
  if (offset < 0 || static_cast<uint64_t>(offset) >= total) {
    sink.begin(0);
    return;
  }
  size_t n = total - static_cast<size_t>(offset);
  if (limit >= 0) n = std::min(n, static_cast<size_t>(limit));
  sink.begin(n);
  if (n == 0) return;
  size_t start = reverse ? last - static_cast<size_t>(offset) : first + static_cast<size_t>(offset);
  ZsetValue::Iter it = z.at_rank(start);
  for (size_t i = 0; i < n && it.valid(); ++i) {
    sink.emit(it.member(), it.score());
    if (reverse)
      it.prev();
    else
      it.next();
  }
}

// Redis's zrangeGenericCommand. `argc_start` is the index of the source key.
void zrange_generic(ExecContext& ctx, size_t argc_start, bool store, RangeType type,
                    Direction dir) {
  std::string_view key = ctx.argv[argc_start];
  size_t minidx = argc_start + 1, maxidx = argc_start + 2;
  bool withscores = false;
  int64_t offset = 0, limit = -1;
  for (size_t j = argc_start + 3; j < ctx.argv.size(); ++j) {
    size_t left = ctx.argv.size() - j - 1;
    std::string_view o = ctx.argv[j];
    if (!store && iequals(o, "withscores")) {
      withscores = true;
    } else if (iequals(o, "limit") && left >= 2) {
      if (!parse_ll(ctx, ctx.argv[j + 1], &offset) || !parse_ll(ctx, ctx.argv[j + 2], &limit))
        return;
      j += 2;
    } else if (dir == Direction::kAuto && iequals(o, "rev")) {
      dir = Direction::kReverse;
    } else if (type == RangeType::kAuto && iequals(o, "bylex")) {
      type = RangeType::kLex;
    } else if (type == RangeType::kAuto && iequals(o, "byscore")) {
      type = RangeType::kScore;
    } else {
      return ctx.reply.error(kErrSyntax);
    }
  }
  if (dir == Direction::kAuto) dir = Direction::kForward;
  if (type == RangeType::kAuto) type = RangeType::kRank;
  // Redis tests `limit != -1`, so "LIMIT 0 -1" passes with a rank range.
  if (limit != -1 && type == RangeType::kRank)
    return ctx.reply.error(
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
  if (withscores && type == RangeType::kLex)
    return ctx.reply.error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
  bool reverse = dir == Direction::kReverse;
  if (reverse && type != RangeType::kRank) std::swap(minidx, maxidx);

  int64_t start = 0, end = 0;
  ZScoreRange srange;
  ZLexRange lrange;
  switch (type) {
    case RangeType::kAuto:
    case RangeType::kRank:
      if (!parse_ll(ctx, ctx.argv[minidx], &start) || !parse_ll(ctx, ctx.argv[maxidx], &end))
        return;
      break;
    case RangeType::kScore:
      if (!storage::parse_score_range(ctx.argv[minidx], ctx.argv[maxidx], &srange))
        return ctx.reply.error(kErrMinMaxFloat);
      break;
    case RangeType::kLex:
      if (!storage::parse_lex_range(ctx.argv[minidx], ctx.argv[maxidx], &lrange))
        return ctx.reply.error(kErrMinMaxLex);
      break;
  }

  RangeSink sink{ctx, withscores, nullptr};
  bool failed;
  const ZsetValue* z = lookup_zset(ctx, key, store, &failed);
  if (failed) return;
  size_t first = 0, last = 0;
  bool any = false;
  if (z) {
    if (type == RangeType::kRank) {
      int64_t llen = static_cast<int64_t>(z->size());
      if (start < 0) start += llen;
      if (end < 0) end += llen;
      if (start < 0) start = 0;
      if (!(start > end || start >= llen)) {
        if (end >= llen) end = llen - 1;
        any = true;
        // Ranks counted from the top when reversed.
        first = static_cast<size_t>(reverse ? llen - 1 - end : start);
        last = static_cast<size_t>(reverse ? llen - 1 - start : end);
      }
    } else if (type == RangeType::kScore) {
      any = z->score_range_ranks(srange, &first, &last);
    } else {
      any = z->lex_range_ranks(lrange, &first, &last, reverse);
    }
  }
  if (store) sink.dst = ZsetValue::create(any ? last - first + 1 : 0, 0);
  if (any)
    emit_ranks(*z, first, last, reverse, offset, limit, sink);
  else if (!store)
    sink.begin(0);
  if (!store) return;
  std::string_view dst_key = ctx.argv[1];
  int64_t n = static_cast<int64_t>(sink.dst->size());
  if (n > 0) {
    store_zset(ctx, dst_key, std::move(sink.dst));
    ctx.dirty++;
  } else if (ctx.keyspace.remove(ctx.db, dst_key)) {
    ctx.dirty++;
  }
  ctx.reply.integer(n);
}

void zrange_command(ExecContext& ctx) {
  zrange_generic(ctx, 1, false, RangeType::kAuto, Direction::kAuto);
}
void zrangestore_command(ExecContext& ctx) {
  zrange_generic(ctx, 2, true, RangeType::kAuto, Direction::kAuto);
}
void zrevrange_command(ExecContext& ctx) {
  zrange_generic(ctx, 1, false, RangeType::kRank, Direction::kReverse);
}
void zrangebyscore_command(ExecContext& ctx) {
  zrange_generic(ctx, 1, false, RangeType::kScore, Direction::kForward);
}
void zrevrangebyscore_command(ExecContext& ctx) {
  zrange_generic(ctx, 1, false, RangeType::kScore, Direction::kReverse);
}
void zrangebylex_command(ExecContext& ctx) {
  zrange_generic(ctx, 1, false, RangeType::kLex, Direction::kForward);
}
void zrevrangebylex_command(ExecContext& ctx) {
  zrange_generic(ctx, 1, false, RangeType::kLex, Direction::kReverse);
}

void zcount_command(ExecContext& ctx) {
  ZScoreRange r;
  if (!storage::parse_score_range(ctx.argv[2], ctx.argv[3], &r))
    return ctx.reply.error(kErrMinMaxFloat);
  bool failed;
  const ZsetValue* z = lookup_zset(ctx, ctx.argv[1], false, &failed);
  if (failed) return;
  size_t first, last;
  ctx.reply.integer(
      z && z->score_range_ranks(r, &first, &last) ? static_cast<int64_t>(last - first + 1) : 0);
}

void zlexcount_command(ExecContext& ctx) {
  ZLexRange r;
  if (!storage::parse_lex_range(ctx.argv[2], ctx.argv[3], &r))
    return ctx.reply.error(kErrMinMaxLex);
  bool failed;
  const ZsetValue* z = lookup_zset(ctx, ctx.argv[1], false, &failed);
  if (failed) return;
  size_t first, last;
  ctx.reply.integer(
      z && z->lex_range_ranks(r, &first, &last) ? static_cast<int64_t>(last - first + 1) : 0);
}

// ------------------------------------------------------------ removals

enum class RemoveBy { kRank, kScore, kLex };

void zremrange_generic(ExecContext& ctx, RemoveBy by) {
  int64_t start = 0, end = 0;
  ZScoreRange srange;
  ZLexRange lrange;
  if (by == RemoveBy::kRank) {
    if (!parse_ll(ctx, ctx.argv[2], &start) || !parse_ll(ctx, ctx.argv[3], &end)) return;
  } else if (by == RemoveBy::kScore) {
    if (!storage::parse_score_range(ctx.argv[2], ctx.argv[3], &srange))
      return ctx.reply.error(kErrMinMaxFloat);
  } else if (!storage::parse_lex_range(ctx.argv[2], ctx.argv[3], &lrange)) {
    return ctx.reply.error(kErrMinMaxLex);
  }
  bool failed;
  ZsetValue* z = lookup_zset(ctx, ctx.argv[1], true, &failed);
  if (failed) return;
  if (!z) return ctx.reply.integer(0);
  size_t first = 0, last = 0;
  bool any;
  if (by == RemoveBy::kRank) {
    int64_t llen = static_cast<int64_t>(z->size());
    if (start < 0) start += llen;
    if (end < 0) end += llen;
    if (start < 0) start = 0;
    any = !(start > end || start >= llen);
    if (end >= llen) end = llen - 1;
    first = static_cast<size_t>(start);
    last = static_cast<size_t>(std::max<int64_t>(end, 0));
  } else if (by == RemoveBy::kScore) {
    any = z->score_range_ranks(srange, &first, &last);
  } else {
    any = z->lex_range_ranks(lrange, &first, &last);
  }
  if (!any) return ctx.reply.integer(0);
  int64_t removed = static_cast<int64_t>(z->remove_rank_range(first, last));
  drop_if_empty(ctx, ctx.argv[1], z);
  ctx.dirty += removed;
  ctx.reply.integer(removed);
}

void zremrangebyrank_command(ExecContext& ctx) {
  zremrange_generic(ctx, RemoveBy::kRank);
}
void zremrangebyscore_command(ExecContext& ctx) {
  zremrange_generic(ctx, RemoveBy::kScore);
}
void zremrangebylex_command(ExecContext& ctx) {
  zremrange_generic(ctx, RemoveBy::kLex);
}

// Redis's genericZpopCommand for one key.
void zpop_generic(ExecContext& ctx, bool max) {
  if (ctx.argv.size() > 3) return ctx.reply.error(kErrSyntax);
  bool with_count = ctx.argv.size() == 3;
  int64_t count = 1;
  if (with_count) {
    // Redis's getPositiveLongFromObjectOrReply: one message for both cases.
    if (!storage::string2ll(ctx.argv[2], &count) || count < 0) return ctx.reply.error(kErrPositive);
  }
  bool failed;
  ZsetValue* z = lookup_zset(ctx, ctx.argv[1], true, &failed);
  if (failed) return;
  if (!z || count == 0) return ctx.reply.array_header(0);
  size_t n = std::min(static_cast<size_t>(count), z->size());
  bool nested = with_count && ctx.reply.protocol() == 3;
  ctx.reply.array_header(static_cast<int64_t>(nested ? n : n * 2));
  for (size_t i = 0; i < n; ++i) {
    size_t rank = max ? z->size() - 1 : 0;
    ZsetValue::Iter it = z->at_rank(rank);
    if (nested) ctx.reply.array_header(2);
    ctx.reply.bulk(it.member());
    ctx.reply.double_value(it.score());
    z->remove_rank_range(rank, rank);
  }
  ctx.dirty += static_cast<int64_t>(n);
  drop_if_empty(ctx, ctx.argv[1], z);
}

void zpopmin_command(ExecContext& ctx) {
  zpop_generic(ctx, false);
}
void zpopmax_command(ExecContext& ctx) {
  zpop_generic(ctx, true);
}

// ------------------------------------------------- ZUNIONSTORE/ZINTERSTORE

enum class Aggregate { kSum, kMin, kMax };

// Redis's zunionInterAggregate (inf + -inf sums to 0, not NaN).
double aggregate(Aggregate a, double acc, double v) {
  switch (a) {
    case Aggregate::kSum: {
      double r = acc + v;
      return std::isnan(r) ? 0.0 : r;
    }
    case Aggregate::kMin:
      return std::min(acc, v);
    case Aggregate::kMax:
      break;
  }
  return std::max(acc, v);
}

// One input of ZUNIONSTORE/ZINTERSTORE: a sorted set, or a plain set whose
// members all score 1 (as in Redis), or nothing (a missing key).
struct OpInput {
  const ZsetValue* z = nullptr;
  const storage::SetValue* s = nullptr;
  bool missing() const { return !z && !s; }
  size_t size() const { return z ? z->size() : s ? s->size() : 0; }
  bool score(std::string_view m, double* out) const {
    if (z) return z->score(m, out);
    *out = 1.0;
    return s && s->contains(m);
  }
  template <typename Fn>
  void for_each(Fn&& fn) const {
    if (z)
      z->for_each(fn);
    else if (s)
      s->for_each([&](std::string_view m) { fn(m, 1.0); });
  }
};

// Redis's zunionInterDiffGenericCommand for the STORE forms: key types are
// checked before the options are parsed, as in Redis.
void zsetop_store(ExecContext& ctx, bool inter) {
  std::string_view dst = ctx.argv[1];
  int64_t numkeys;
  if (!parse_ll(ctx, ctx.argv[2], &numkeys)) return;
  if (numkeys < 1)
    return ctx.reply.error(std::string("ERR at least 1 input key is needed for '") +
                           (inter ? "zinterstore" : "zunionstore") + "' command");
  if (static_cast<uint64_t>(numkeys) > ctx.argv.size() - 3) return ctx.reply.error(kErrSyntax);
  size_t nk = static_cast<size_t>(numkeys);
  std::vector<OpInput> sets(nk);
  for (size_t i = 0; i < nk; ++i) {
    const Entry* e = ctx.keyspace.lookup_write(ctx.db, ctx.argv[3 + i], ctx.now_ms);
    if (!e) continue;
    if (e->type() == ValueType::kZset)
      sets[i].z = as_zset(e);
    else if (e->type() == ValueType::kSet)
      sets[i].s = static_cast<const storage::SetValue*>(e->object_value());
    else
      return ctx.reply.error(kErrWrongType);
  }
  std::vector<double> weights(nk, 1.0);
  Aggregate agg = Aggregate::kSum;
  for (size_t j = 3 + nk; j < ctx.argv.size(); ++j) {
    size_t remaining = ctx.argv.size() - j - 1;
    if (iequals(ctx.argv[j], "weights") && remaining >= nk) {
      for (size_t i = 0; i < nk; ++i)
        if (!storage::string2d(ctx.argv[j + 1 + i], &weights[i]))
          return ctx.reply.error("ERR weight value is not a float");
      j += nk;
    } else if (iequals(ctx.argv[j], "aggregate") && remaining >= 1) {
      std::string_view a = ctx.argv[j + 1];
      if (iequals(a, "sum"))
        agg = Aggregate::kSum;
      else if (iequals(a, "min"))
        agg = Aggregate::kMin;
      else if (iequals(a, "max"))
        agg = Aggregate::kMax;
      else
        return ctx.reply.error(kErrSyntax);
      ++j;
    } else {
      return ctx.reply.error(kErrSyntax);
    }
  }
  // Accumulate by member; std::map keeps the work independent of hash order.
  std::map<std::string, double, std::less<>> acc;
  if (inter) {
    bool empty = false;
    for (const OpInput& in : sets)
      if (in.missing()) empty = true;
    if (!empty) {
      size_t small = 0;
      for (size_t i = 1; i < nk; ++i)
        if (sets[i].size() < sets[small].size()) small = i;
      sets[small].for_each([&](std::string_view m, double s) {
        double v = s * weights[small];
        if (std::isnan(v)) v = 0;
        for (size_t i = 0; i < nk; ++i) {
          if (i == small) continue;
          double o;
          if (!sets[i].score(m, &o)) return;
          double w = o * weights[i];
          if (std::isnan(w)) w = 0;
          v = aggregate(agg, v, w);
        }
        acc.emplace(std::string(m), v);
      });
    }
  } else {
    for (size_t i = 0; i < nk; ++i) {
      sets[i].for_each([&](std::string_view m, double s) {
        double v = s * weights[i];
        if (std::isnan(v)) v = 0;
        auto it = acc.find(m);
        if (it == acc.end())
          acc.emplace(std::string(m), v);
        else
          it->second = aggregate(agg, it->second, v);
      });
    }
  }
  size_t max_len = 0;
  for (const auto& [m, s] : acc)
    max_len = std::max(max_len, m.size());
  auto result = ZsetValue::create(acc.size(), max_len);
  for (const auto& [m, s] : acc) {
    int out;
    double ns;
    result->add(s, m, 0, &out, &ns);
  }
  int64_t n = static_cast<int64_t>(result->size());
  if (n > 0) {
    store_zset(ctx, dst, std::move(result));
    ctx.dirty++;
  } else if (ctx.keyspace.remove(ctx.db, dst)) {
    ctx.dirty++;
  }
  ctx.reply.integer(n);
}

void zunionstore_command(ExecContext& ctx) {
  zsetop_store(ctx, false);
}
void zinterstore_command(ExecContext& ctx) {
  zsetop_store(ctx, true);
}

// --------------------------------------------------------------- ZSCAN

void zscan_command(ExecContext& ctx) {
  uint64_t cursor;
  if (!parse_scan_cursor_arg(ctx, ctx.argv[2], &cursor)) return;
  bool failed;
  const ZsetValue* z = lookup_zset(ctx, ctx.argv[1], false, &failed);
  if (failed) return;
  if (!z) return reply_scan_header(ctx, 0, 0);
  ScanOptions opt;
  if (!parse_scan_options(ctx, 3, false, &opt)) return;
  std::vector<std::string> out;
  cursor = z->scan(cursor, static_cast<size_t>(opt.count), [&](std::string_view m, double s) {
    if (!opt.matches(m)) return;
    out.emplace_back(m);
    out.push_back(score_text(s));
  });
  reply_scan_header(ctx, cursor, out.size());
  for (const std::string& s : out)
    ctx.reply.bulk(s);
}

}  // namespace

void register_zset_commands(CommandTable& t) {
  constexpr uint32_t W = kCmdWrite, R = kCmdReadonly, F = kCmdFast, M = kCmdDenyOom;
  const CommandGroupAdder add{t, "sorted-set"};
  add("zadd", -4, W | M | F, 1, 1, 1, zadd_command, "1.2.0",
      "Add one or more members to a sorted set, or update its score if it already exists",
      "key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]");
  add("zincrby", 4, W | M | F, 1, 1, 1, zincrby_command, "1.2.0",
      "Increment the score of a member in a sorted set", "key increment member");
  add("zrem", -3, W | F, 1, 1, 1, zrem_command, "1.2.0",
      "Remove one or more members from a sorted set", "key member [member ...]");
  add("zcard", 2, R | F, 1, 1, 1, zcard_command, "1.2.0",
      "Get the number of members in a sorted set", "key");
  add("zscore", 3, R | F, 1, 1, 1, zscore_command, "1.2.0",
      "Get the score associated with the given member in a sorted set", "key member");
  add("zmscore", -3, R | F, 1, 1, 1, zmscore_command, "6.2.0",
      "Get the score associated with the given members in a sorted set", "key member [member ...]");
  add("zrank", -3, R | F, 1, 1, 1, zrank_command, "2.0.0",
      "Determine the index of a member in a sorted set", "key member [WITHSCORE]");
  add("zrevrank", -3, R | F, 1, 1, 1, zrevrank_command, "2.0.0",
      "Determine the index of a member in a sorted set, with scores ordered from high to low",
      "key member [WITHSCORE]");
  add("zrange", -4, R, 1, 1, 1, zrange_command, "1.2.0",
      "Return a range of members in a sorted set",
      "key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]");
  add("zrangestore", -5, W | M, 1, 2, 1, zrangestore_command, "6.2.0",
      "Store a range of members from sorted set into another key",
      "dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]");
  add("zrevrange", -4, R, 1, 1, 1, zrevrange_command, "1.2.0",
      "Return a range of members in a sorted set, by index, with scores ordered from high to low",
      "key start stop [WITHSCORES]");
  add("zrangebyscore", -4, R, 1, 1, 1, zrangebyscore_command, "1.0.5",
      "Return a range of members in a sorted set, by score",
      "key min max [WITHSCORES] [LIMIT offset count]");
  add("zrevrangebyscore", -4, R, 1, 1, 1, zrevrangebyscore_command, "2.2.0",
      "Return a range of members in a sorted set, by score, with scores ordered from high to low",
      "key max min [WITHSCORES] [LIMIT offset count]");
  add("zrangebylex", -4, R, 1, 1, 1, zrangebylex_command, "2.8.9",
      "Return a range of members in a sorted set, by lexicographical range",
      "key min max [LIMIT offset count]");
  add("zrevrangebylex", -4, R, 1, 1, 1, zrevrangebylex_command, "2.8.9",
      "Return a range of members in a sorted set, by lexicographical range, ordered from higher "
      "to lower strings",
      "key max min [LIMIT offset count]");
  add("zcount", 4, R | F, 1, 1, 1, zcount_command, "2.0.0",
      "Count the members in a sorted set with scores within the given values", "key min max");
  add("zlexcount", 4, R | F, 1, 1, 1, zlexcount_command, "2.8.9",
      "Count the number of members in a sorted set between a given lexicographical range",
      "key min max");
  add("zpopmin", -2, W | F, 1, 1, 1, zpopmin_command, "5.0.0",
      "Remove and return members with the lowest scores in a sorted set", "key [count]");
  add("zpopmax", -2, W | F, 1, 1, 1, zpopmax_command, "5.0.0",
      "Remove and return members with the highest scores in a sorted set", "key [count]");
  add("zremrangebyrank", 4, W, 1, 1, 1, zremrangebyrank_command, "2.0.0",
      "Remove all members in a sorted set within the given indexes", "key start stop");
  add("zremrangebyscore", 4, W, 1, 1, 1, zremrangebyscore_command, "1.2.0",
      "Remove all members in a sorted set within the given scores", "key min max");
  add("zremrangebylex", 4, W, 1, 1, 1, zremrangebylex_command, "2.8.9",
      "Remove all members in a sorted set between the given lexicographical range", "key min max");
  add("zunionstore", -4, W | M, 1, 1, 1, zunionstore_command, "2.0.0",
      "Add multiple sorted sets and store the resulting sorted set in a new key",
      "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] "
      "[AGGREGATE SUM|MIN|MAX]");
  add("zinterstore", -4, W | M, 1, 1, 1, zinterstore_command, "2.0.0",
      "Intersect multiple sorted sets and store the resulting sorted set in a new key",
      "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] "
      "[AGGREGATE SUM|MIN|MAX]");
  add("zscan", -3, R, 1, 1, 1, zscan_command, "2.0.0",
      "Incrementally iterate sorted sets elements and associated scores",
      "key cursor [MATCH pattern] [COUNT count]");
}

}  // namespace kvraft
