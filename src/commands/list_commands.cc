// src/commands/list_commands.cc — the list commands (Redis's t_list.c):
// pushes and pops at both ends, LRANGE/LINDEX/LSET/LINSERT/LREM/LTRIM, LPOS,
// LMOVE/RPOPLPUSH.
//
// Same rules as string_commands.cc: Redis 7.0's checks in Redis's order (so
// a bad request gets the same error), write handlers depend only on
// (keyspace, argv, db, now_ms) and count their changes in ctx.dirty. A list
// that becomes empty is deleted: a key never holds an empty list.
//
// The blocking variants (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) and LMPOP
// are not registered: a replicated state machine cannot park a client inside
// an applied record, so they answer "ERR unknown command" rather than
// pretending to block.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/command.h"
#include "src/commands/command_util.h"
#include "storage/keyspace.h"
#include "storage/list_value.h"
#include "storage/strconv.h"

namespace kvraft {

namespace {

using storage::Entry;
using storage::ListValue;
using storage::ValueType;

constexpr std::string_view kErrNotPositive = "ERR value is out of range, must be positive";

// Redis's getPositiveLongFromObjectOrReply: one message for both failures.
bool parse_positive(ExecContext& ctx, std::string_view arg, int64_t* out, std::string_view err) {
  if (storage::string2ll(arg, out) && *out >= 0) return true;
  ctx.reply.error(err);
  return false;
}

// A live list for reading: null if absent (nothing replied), or null with
// WRONGTYPE replied (then *failed is set).
const ListValue* read_list(ExecContext& ctx, std::string_view key, bool* failed) {
  const Entry* e = read_typed(ctx, key, ValueType::kList, failed);
  return e ? static_cast<const ListValue*>(e->object_value()) : nullptr;
}

// The same for writers: lookup_write (deletes an expired key first).
ListValue* write_list(ExecContext& ctx, std::string_view key, bool* failed) {
  Entry* e = write_typed(ctx, key, ValueType::kList, failed);
  return e ? static_cast<ListValue*>(e->object_value()) : nullptr;
}

// Links a new empty list under `key` (which must not exist) and returns it.
ListValue* create_list(ExecContext& ctx, std::string_view key) {
  auto value = std::make_unique<ListValue>();
  ListValue* list = value.get();
  ctx.keyspace.set_entry(
      ctx.db, storage::entry_new_object(key, std::move(value), storage::kNoExpire), false);
  return list;
}

// Deletes `key` if its list became empty.
void drop_if_empty(ExecContext& ctx, std::string_view key, const ListValue* list) {
  if (list->empty()) ctx.keyspace.remove(ctx.db, key);
}

// Turns Redis's possibly negative index into a 0-based one; false if out of
// range.
bool normalize_index(int64_t index, size_t len, size_t* out) {
  if (index < 0) index += static_cast<int64_t>(len);
  if (index < 0 || static_cast<uint64_t>(index) >= len) return false;
  *out = static_cast<size_t>(index);
  return true;
}

// ---------------------------------------------------------------- pushes

// Redis's pushGenericCommand: `xx` only pushes onto an existing list.
void push_generic(ExecContext& ctx, bool head, bool xx) {
  bool failed;
  ListValue* list = write_list(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!list) {
    if (xx) return ctx.reply.integer(0);
    list = create_list(ctx, ctx.argv[1]);
  }
  for (size_t j = 2; j < ctx.argv.size(); ++j) {
    if (head)
      list->push_front(ctx.argv[j]);
    else
      list->push_back(ctx.argv[j]);
  }
  ctx.dirty += static_cast<int64_t>(ctx.argv.size() - 2);
  ctx.reply.integer(static_cast<int64_t>(list->size()));
}

void lpush_command(ExecContext& ctx) {
  push_generic(ctx, true, false);
}
void rpush_command(ExecContext& ctx) {
  push_generic(ctx, false, false);
}
void lpushx_command(ExecContext& ctx) {
  push_generic(ctx, true, true);
}
void rpushx_command(ExecContext& ctx) {
  push_generic(ctx, false, true);
}

void linsert_command(ExecContext& ctx) {
  bool after;
  if (iequals(ctx.argv[2], "after")) {
    after = true;
  } else if (iequals(ctx.argv[2], "before")) {
    after = false;
  } else {
    return ctx.reply.error(kErrSyntax);
  }
  bool failed;
  ListValue* list = write_list(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!list) return ctx.reply.integer(0);
  if (!list->insert_at_pivot(ctx.argv[3], ctx.argv[4], after)) return ctx.reply.integer(-1);
  ctx.dirty++;
  ctx.reply.integer(static_cast<int64_t>(list->size()));
}

// ------------------------------------------------------------------ pops

// Redis's popGenericCommand: without a count one element (or null); with a
// count an array (a null array when the key is missing).
void pop_generic(ExecContext& ctx, bool head) {
  if (ctx.argv.size() > 3) return ctx.reply.error(wrong_arity_error(ctx.argv[0]));
  bool has_count = ctx.argv.size() == 3;
  int64_t count = 1;
  if (has_count && !parse_positive(ctx, ctx.argv[2], &count, kErrNotPositive)) return;
  bool failed;
  ListValue* list = write_list(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!list) return has_count ? ctx.reply.null_array() : ctx.reply.null();
  if (count == 0) return has_count ? ctx.reply.array_header(0) : ctx.reply.null();
  std::string value;
  if (!has_count) {
    if (head)
      list->pop_front(&value);
    else
      list->pop_back(&value);
    ctx.reply.bulk(value);
  } else {
    uint64_t n =
        static_cast<uint64_t>(count) < list->size() ? static_cast<uint64_t>(count) : list->size();
    ctx.reply.array_header(static_cast<int64_t>(n));
    for (uint64_t i = 0; i < n; ++i) {
      if (head)
        list->pop_front(&value);
      else
        list->pop_back(&value);
      ctx.reply.bulk(value);
    }
  }
  drop_if_empty(ctx, ctx.argv[1], list);
  ctx.dirty++;
}

void lpop_command(ExecContext& ctx) {
  pop_generic(ctx, true);
}
void rpop_command(ExecContext& ctx) {
  pop_generic(ctx, false);
}

// --------------------------------------------------------------- reading

void llen_command(ExecContext& ctx) {
  bool failed;
  const ListValue* list = read_list(ctx, ctx.argv[1], &failed);
  if (failed) return;
  ctx.reply.integer(list ? static_cast<int64_t>(list->size()) : 0);
}

void lindex_command(ExecContext& ctx) {
  bool failed;
  const ListValue* list = read_list(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!list) return ctx.reply.null();
  int64_t index;
  if (!parse_ll(ctx, ctx.argv[2], &index)) return;
  size_t i;
  if (!normalize_index(index, list->size(), &i)) return ctx.reply.null();
  ctx.reply.bulk(list->at(i));
}

// Redis's range clamping (LRANGE, LTRIM): [start, end] inclusive after
// negative indices count from the tail; false if the range is empty.
bool clamp_range(int64_t start, int64_t end, size_t len, size_t* from, size_t* to) {
  int64_t l = static_cast<int64_t>(len);
  if (start < 0) start += l;
  if (end < 0) end += l;
  if (start < 0) start = 0;
  if (start > end || start >= l) return false;
  if (end >= l) end = l - 1;
  *from = static_cast<size_t>(start);
  *to = static_cast<size_t>(end);
  return true;
}

void lrange_command(ExecContext& ctx) {
  int64_t start, end;
  if (!parse_ll(ctx, ctx.argv[2], &start) || !parse_ll(ctx, ctx.argv[3], &end)) return;
  bool failed;
  const ListValue* list = read_list(ctx, ctx.argv[1], &failed);
  if (failed) return;
  size_t from, to;
  if (!list || !clamp_range(start, end, list->size(), &from, &to)) return ctx.reply.array_header(0);
  ctx.reply.array_header(static_cast<int64_t>(to - from + 1));
  list->for_range(from, to - from + 1, [&](std::string_view v) { ctx.reply.bulk(v); });
}

void lpos_command(ExecContext& ctx) {
  int64_t rank = 1, count = -1, maxlen = 0;
  for (size_t j = 3; j < ctx.argv.size(); ++j) {
    bool more = j + 1 < ctx.argv.size();
    if (iequals(ctx.argv[j], "rank") && more) {
      if (!parse_ll(ctx, ctx.argv[++j], &rank)) return;
      // Redis 7.2's range check (7.0 let LLONG_MIN overflow when negated).
      if (rank == INT64_MIN)
        return ctx.reply.error(
            "ERR value is out of range, value must between -9223372036854775807 and "
            "9223372036854775807");
      if (rank == 0)
        return ctx.reply.error(
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second "
            "... or use negative to start from the end of the list");
    } else if (iequals(ctx.argv[j], "count") && more) {
      if (!parse_positive(ctx, ctx.argv[++j], &count, "ERR COUNT can't be negative")) return;
    } else if (iequals(ctx.argv[j], "maxlen") && more) {
      if (!parse_positive(ctx, ctx.argv[++j], &maxlen, "ERR MAXLEN can't be negative")) return;
    } else {
      return ctx.reply.error(kErrSyntax);
    }
  }
  bool from_tail = rank < 0;
  if (rank < 0) rank = -rank;
  bool failed;
  const ListValue* list = read_list(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!list) return count != -1 ? ctx.reply.array_header(0) : ctx.reply.null();
  std::vector<int64_t> matches;
  int64_t seen = 0, examined = 0;
  list->scan(from_tail, [&](size_t index, std::string_view v) {
    if (maxlen != 0 && examined >= maxlen) return false;
    examined++;
    if (v != ctx.argv[2]) return true;
    if (++seen < rank) return true;
    matches.push_back(static_cast<int64_t>(index));
    // Without COUNT one match is the answer; COUNT 0 means all.
    if (count == -1) return false;
    return count == 0 || static_cast<int64_t>(matches.size()) < count;
  });
  if (count == -1) {
    if (matches.empty()) return ctx.reply.null();
    return ctx.reply.integer(matches[0]);
  }
  ctx.reply.array_header(static_cast<int64_t>(matches.size()));
  for (int64_t m : matches)
    ctx.reply.integer(m);
}

// --------------------------------------------------------------- writing

void lset_command(ExecContext& ctx) {
  bool failed;
  ListValue* list = write_list(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!list) return ctx.reply.error(kErrNoSuchKey);
  int64_t index;
  if (!parse_ll(ctx, ctx.argv[2], &index)) return;
  size_t i;
  if (!normalize_index(index, list->size(), &i)) return ctx.reply.error("ERR index out of range");
  list->set(i, ctx.argv[3]);
  ctx.dirty++;
  ctx.reply.ok();
}

void ltrim_command(ExecContext& ctx) {
  int64_t start, end;
  if (!parse_ll(ctx, ctx.argv[2], &start) || !parse_ll(ctx, ctx.argv[3], &end)) return;
  bool failed;
  ListValue* list = write_list(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!list) return ctx.reply.ok();
  size_t len = list->size(), from, to, head, tail;
  if (clamp_range(start, end, len, &from, &to)) {
    head = from;
    tail = len - 1 - to;
  } else {
    head = len;  // an empty range empties the list
    tail = 0;
  }
  list->trim(head, tail);
  ctx.dirty += static_cast<int64_t>(head + tail);
  drop_if_empty(ctx, ctx.argv[1], list);
  ctx.reply.ok();
}

void lrem_command(ExecContext& ctx) {
  int64_t count;
  if (!parse_ll(ctx, ctx.argv[2], &count)) return;
  bool failed;
  ListValue* list = write_list(ctx, ctx.argv[1], &failed);
  if (failed) return;
  if (!list) return ctx.reply.integer(0);
  size_t removed = list->remove(ctx.argv[3], count);
  if (removed) {
    ctx.dirty += static_cast<int64_t>(removed);
    drop_if_empty(ctx, ctx.argv[1], list);
  }
  ctx.reply.integer(static_cast<int64_t>(removed));
}

// Parses LEFT/RIGHT; replies a syntax error otherwise.
bool parse_where(ExecContext& ctx, std::string_view arg, bool* left) {
  if (iequals(arg, "left")) {
    *left = true;
  } else if (iequals(arg, "right")) {
    *left = false;
  } else {
    ctx.reply.error(kErrSyntax);
    return false;
  }
  return true;
}

// Redis's lmoveGenericCommand.
void lmove_generic(ExecContext& ctx, bool from_left, bool to_left) {
  std::string_view src = ctx.argv[1], dst = ctx.argv[2];
  bool failed;
  ListValue* from = write_list(ctx, src, &failed);
  if (failed) return;
  if (!from) return ctx.reply.null();
  ListValue* to = write_list(ctx, dst, &failed);
  if (failed) return;
  std::string value;  // a copy: pushing may reallocate the node it lived in
  if (from_left)
    from->pop_front(&value);
  else
    from->pop_back(&value);
  if (!to) to = src == dst ? from : create_list(ctx, dst);
  if (to_left)
    to->push_front(value);
  else
    to->push_back(value);
  // Only a distinct source can have become empty.
  drop_if_empty(ctx, src, from);
  ctx.dirty++;
  ctx.reply.bulk(value);
}

void lmove_command(ExecContext& ctx) {
  bool from_left, to_left;
  if (!parse_where(ctx, ctx.argv[3], &from_left) || !parse_where(ctx, ctx.argv[4], &to_left))
    return;
  lmove_generic(ctx, from_left, to_left);
}

void rpoplpush_command(ExecContext& ctx) {
  lmove_generic(ctx, false, true);
}

}  // namespace

void register_list_commands(CommandTable& t) {
  constexpr uint32_t W = kCmdWrite, R = kCmdReadonly, F = kCmdFast, M = kCmdDenyOom;
  const CommandGroupAdder add{t, "list"};
  add("lpush", -3, W | M | F, 1, 1, 1, lpush_command, "1.0.0",
      "Prepend one or multiple elements to a list", "key element [element ...]");
  add("rpush", -3, W | M | F, 1, 1, 1, rpush_command, "1.0.0",
      "Append one or multiple elements to a list", "key element [element ...]");
  add("lpushx", -3, W | M | F, 1, 1, 1, lpushx_command, "2.2.0",
      "Prepend an element to a list, only if the list exists", "key element [element ...]");
  add("rpushx", -3, W | M | F, 1, 1, 1, rpushx_command, "2.2.0",
      "Append an element to a list, only if the list exists", "key element [element ...]");
  add("linsert", 5, W | M, 1, 1, 1, linsert_command, "2.2.0",
      "Insert an element before or after another element in a list",
      "key BEFORE|AFTER pivot element");
  add("lpop", -2, W | F, 1, 1, 1, lpop_command, "1.0.0",
      "Remove and get the first elements in a list", "key [count]");
  add("rpop", -2, W | F, 1, 1, 1, rpop_command, "1.0.0",
      "Remove and get the last elements in a list", "key [count]");
  add("llen", 2, R | F, 1, 1, 1, llen_command, "1.0.0", "Get the length of a list", "key");
  add("lindex", 3, R, 1, 1, 1, lindex_command, "1.0.0", "Get an element from a list by its index",
      "key index");
  add("lrange", 4, R, 1, 1, 1, lrange_command, "1.0.0", "Get a range of elements from a list",
      "key start stop");
  add("lpos", -3, R, 1, 1, 1, lpos_command, "6.0.6",
      "Return the index of matching elements on a list",
      "key element [RANK rank] [COUNT num-matches] [MAXLEN len]");
  add("lset", 4, W | M, 1, 1, 1, lset_command, "1.0.0",
      "Set the value of an element in a list by its index", "key index element");
  add("ltrim", 4, W, 1, 1, 1, ltrim_command, "1.0.0", "Trim a list to the specified range",
      "key start stop");
  add("lrem", 4, W, 1, 1, 1, lrem_command, "1.0.0", "Remove elements from a list",
      "key count element");
  add("lmove", 5, W | M, 1, 2, 1, lmove_command, "6.2.0",
      "Pop an element from a list, push it to another list and return it",
      "source destination LEFT|RIGHT LEFT|RIGHT");
  add("rpoplpush", 3, W | M, 1, 2, 1, rpoplpush_command, "1.2.0",
      "Remove the last element in a list, prepend it to another list and return it",
      "source destination");
}

}  // namespace kvraft
